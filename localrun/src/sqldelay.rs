//! The TiDB stand-in's SQL port with the distance to the data: a proxy to
//! the MariaDB server every region shares that holds each statement for the
//! round trips it would pay in TiDB from this region, when the data's
//! leaders (and PD's) are `rtt` away (`GEOWP_DEMO_RTT`, read by `make demo`
//! and `make bench`; the kernel here has no netem, so the delay is added in
//! user space).
//!
//! The model (a lower bound, not a measurement of TiDB; BENCHMARKS.md and
//! docs/guides/page-cache.md say where it comes from):
//!
//! - a statement that reads or writes a table pays two round trips: its
//!   timestamp from PD's leader, then the read (or the one-phase commit) at
//!   the Raft leader (a follower read still asks the leader for its read
//!   index, so `closest-replicas` does not save it);
//! - a SELECT on a connection that has stale reads on (geowp's db.php
//!   drop-in sends `SET @geowp_stale_reads = N`, with N > 0, beside TiDB's
//!   `tidb_read_staleness`) pays none: it is served by the region's own
//!   replica at a timestamp TiDB computes without asking PD
//!   (pingcap/tidb@v8.5.3 `pkg/sessiontxn/staleread/util.go:69-90`; its
//!   test `pkg/executor/stale_txn_test.go:1298-1302` checks that no
//!   timestamp is requested), unless it locks (`FOR UPDATE`, `FOR SHARE`,
//!   `LOCK IN SHARE MODE`);
//! - SET, SHOW, a SELECT of no table, and every command that is not a query
//!   (connect, ping, change database) pay none: TiDB answers them itself.
//!
//! MySQL's protocol frames every packet with a 3-byte length and a sequence
//! number; a command is the packet a client sends with sequence 0, and its
//! first byte says which (0x03: a query, its text after it).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const COM_QUERY: u8 = 0x03;

/// Round trips to the leaders' region a statement pays, and whether the
/// connection reads stale after it.
pub fn round_trips(query: &str, stale: bool) -> (u32, bool) {
    let q = strip_comments(query);
    let q = q.trim_start();
    let upper = q
        .chars()
        .take(4096)
        .collect::<String>()
        .to_ascii_uppercase();
    let word = upper
        .split(|c: char| !c.is_ascii_alphabetic() && c != '_')
        .find(|w| !w.is_empty())
        .unwrap_or("");
    if let Some(rest) = upper.trim_start().strip_prefix("SET @GEOWP_STALE_READS") {
        let n: i64 = rest
            .trim_start()
            .trim_start_matches('=')
            .trim_start()
            .split(|c: char| !c.is_ascii_digit() && c != '-')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        return (0, n > 0);
    }
    let locks = upper.contains(" FOR UPDATE")
        || upper.contains(" FOR SHARE")
        || upper.contains("LOCK IN SHARE MODE");
    let trips = match word {
        "SET" | "SHOW" | "USE" | "BEGIN" | "START" => 0,
        "SELECT" if !has_word(&upper, "FROM") => 0,
        "SELECT" if stale && !locks => 0,
        _ => 2,
    };
    (trips, stale)
}

fn has_word(s: &str, w: &str) -> bool {
    s.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .any(|x| x == w)
}

/// The query without its comments (`/* */`, and TiDB's `/*T! */`, which
/// MariaDB ignores too).
fn strip_comments(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    let mut rest = q;
    while let Some(at) = rest.find("/*") {
        out.push_str(&rest[..at]);
        match rest[at + 2..].find("*/") {
            Some(end) => rest = &rest[at + 2 + end + 2..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Serves `listen`, forwarding to `upstream` with `rtt` per round trip.
pub async fn serve(
    listen: SocketAddr,
    upstream: SocketAddr,
    rtt: Duration,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let l = tokio::net::TcpListener::bind(listen).await?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((inbound, _)) = l.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let Ok(Ok(out)) = tokio::time::timeout(
                    Duration::from_secs(2),
                    tokio::net::TcpStream::connect(upstream),
                )
                .await
                else {
                    return;
                };
                // each packet is written whole and at once: with Nagle on,
                // a second small write waits for the peer's delayed ACK
                // (40 ms on Linux), once per statement
                let _ = inbound.set_nodelay(true);
                let _ = out.set_nodelay(true);
                let (mut cr, mut cw) = inbound.into_split();
                let (mut sr, mut sw) = out.into_split();
                let back = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    let _ = cw.shutdown().await;
                });
                let _ = forward(&mut cr, &mut sw, rtt).await;
                let _ = sw.shutdown().await;
                let _ = back.await;
            });
        }
    }))
}

/// Client to server, packet by packet, each command held for its round trips.
async fn forward(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    rtt: Duration,
) -> std::io::Result<()> {
    let mut stale = false;
    loop {
        let mut header = [0u8; 4];
        if from.read_exact(&mut header).await.is_err() {
            return Ok(());
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
        let mut payload = vec![0u8; len];
        from.read_exact(&mut payload).await?;
        if header[3] == 0 && payload.first() == Some(&COM_QUERY) {
            let text = String::from_utf8_lossy(&payload[1..]);
            let (trips, now_stale) = round_trips(&text, stale);
            stale = now_stale;
            if trips > 0 && !rtt.is_zero() {
                tokio::time::sleep(rtt * trips).await;
            }
        }
        let mut packet = Vec::with_capacity(4 + payload.len());
        packet.extend_from_slice(&header);
        packet.extend_from_slice(&payload);
        to.write_all(&packet).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_pay_the_round_trips_tidb_would() {
        // fresh reads and writes: timestamp, then the leader
        assert_eq!(
            round_trips(
                "SELECT option_value FROM wp_options WHERE option_name = 'x'",
                false
            ),
            (2, false)
        );
        assert_eq!(
            round_trips(
                "INSERT INTO `wp_options` (`option_name`) VALUES ('a')",
                false
            ),
            (2, false)
        );
        assert_eq!(
            round_trips("UPDATE wp_posts SET post_title = 'x'", true),
            (2, true)
        );
        // TiDB answers these itself
        assert_eq!(round_trips("SET NAMES utf8mb4", false), (0, false));
        assert_eq!(round_trips("SELECT @@SESSION.sql_mode", false), (0, false));
        assert_eq!(round_trips("SHOW TABLES", false), (0, false));
        // stale reads: on, local, off again
        let on = "SET @geowp_stale_reads = 5 /*T! , SESSION tidb_read_staleness = -5, SESSION tidb_replica_read = 'closest-replicas' */";
        assert_eq!(round_trips(on, false), (0, true));
        assert_eq!(
            round_trips("SELECT * FROM wp_posts WHERE ID = 1", true),
            (0, true)
        );
        assert_eq!(
            round_trips("  /* x */ select ID from wp_posts", true),
            (0, true)
        );
        assert_eq!(
            round_trips("SELECT * FROM wp_posts WHERE ID = 1 FOR UPDATE", true),
            (2, true)
        );
        let off = "SET @geowp_stale_reads = 0 /*T! , SESSION tidb_read_staleness = '' */";
        assert_eq!(round_trips(off, true), (0, false));
        assert_eq!(
            round_trips("SELECT * FROM wp_posts WHERE ID = 1", false),
            (2, false)
        );
        // a column named like a keyword is not FROM
        assert_eq!(round_trips("SELECT from_date_x", false), (0, false));
    }
}
