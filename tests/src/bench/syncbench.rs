//! Benchmarks of the file plane: propagation of a small file among real
//! SyncThing daemons on loopback (joined by the helper's live exchange), and
//! `geowp_sync_group`'s apply for 3, 10 and 30 members with 50 ms added to
//! every Kubernetes API request (wall time and request count, medians of 3).

use std::path::Path;
use std::time::{Duration, Instant};

use fakeapi::Options;
use geowp_helper::sync::{exchange_live, status_live, LiveSpec};
use geowp_tests::regions::Regions;
use geowp_tests::syncthing::{standalone, wait_api, Daemon};
use geowp_tests::{MirroredProvider, Tf};

const RUNS: usize = 20;
/// Sync group applies per size; the table shows medians.
const REPEATS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Time for a small file written in one member to be in all others, with
/// its content: median and max of 20, after the group is connected.
pub fn propagation(_root: &Path) -> String {
    eprintln!("[bench] sync: three real SyncThing daemons, joined live over REST");
    let tmp = tempfile::Builder::new()
        .prefix("geowp-bench-sync-")
        .tempdir()
        .expect("tmp");
    let mut daemons: Vec<Daemon> = Vec::new();
    let mut specs = Vec::new();
    for n in ["a", "b", "c"] {
        let (mut d, url, key) = standalone(tmp.path(), n, "wp-content");
        d.start();
        assert!(wait_api(&url, Duration::from_secs(30)), "{n}: no REST API");
        daemons.push(d);
        specs.push((url, key, n));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mk = || {
        specs
            .iter()
            .map(|(u, k, n)| LiveSpec {
                url: u.clone(),
                key: k.clone(),
                name: Some(n.to_string()),
                address: None,
            })
            .collect::<Vec<_>>()
    };
    let t = Instant::now();
    rt.block_on(exchange_live(mk(), "wp-content", Duration::from_secs(30)))
        .expect("exchange");
    rt.block_on(status_live(
        mk(),
        "wp-content",
        Duration::from_secs(10),
        Some(Duration::from_secs(180)),
    ))
    .expect("the group did not connect");
    let connect = t.elapsed();
    eprintln!(
        "[bench] sync: connected in {:.1} s; {RUNS} files from a to b and c",
        connect.as_secs_f64()
    );
    let mut times = Vec::new();
    for i in 0..RUNS {
        let name = format!("upload-{i}.txt");
        let content = format!("file {i}\n");
        // let the previous round settle, so each file is measured alone
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        std::fs::write(daemons[0].data.join(&name), &content).expect("write");
        let mut done = [false, false];
        while !(done[0] && done[1]) {
            for (j, d) in daemons[1..].iter().enumerate() {
                if !done[j] {
                    done[j] =
                        std::fs::read_to_string(d.data.join(&name)).is_ok_and(|s| s == content);
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "{name} did not arrive"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        times.push(t.elapsed().as_secs_f64());
    }
    drop(daemons);
    let max = times.iter().cloned().fold(0.0, f64::max);
    let min = times.iter().cloned().fold(f64::INFINITY, f64::min);
    format!(
        "| real SyncThing {}, loopback, 3 members, watcher delay 1 s | value |\n|---|---|\n| small file from one member to both others: median of {RUNS} (s) | {:.2} |\n| max of {RUNS} (s) | {:.2} |\n| min of {RUNS} (s) | {:.2} |\n| live exchange until every member is connected to both peers (s, once) | {:.1} |\n",
        syncthing_version(),
        median(times),
        max,
        min,
        connect.as_secs_f64()
    )
}

fn syncthing_version() -> String {
    std::process::Command::new("syncthing")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .nth(1)
                .map(String::from)
        })
        .unwrap_or_else(|| "?".into())
}

/// `terraform apply` of the sync group alone (stacks applied before, not
/// counted) for 3, 10 and 30 members, 50 ms per request.
pub fn group_apply(_root: &Path) -> String {
    let lat = Duration::from_millis(50);
    let mut rows = String::new();
    for n in [3usize, 10, 30] {
        eprintln!("[bench] sync: geowp_sync_group apply, {n} members, 50 ms per request");
        let names: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let r = Regions::start(
            &refs,
            Options {
                ready_delay: Duration::ZERO,
                ..Default::default()
            },
        );
        let tf = Tf::new(&[MirroredProvider::geowp()]);
        tf.write("main.tf", &r.module_config("bench", ""));
        tf.ok(&["init"]);
        let par = format!("-parallelism={}", n.max(10));
        tf.ok(&[
            "apply",
            "-auto-approve",
            &par,
            "-target=module.site.geowp_cluster_stack.region",
        ]);
        let (mut walls, mut idles) = (Vec::new(), Vec::new());
        let (mut req, mut max_per) = (0, 0);
        for _ in 0..REPEATS {
            for i in 0..n {
                r.handle(i).set_latency(lat);
                r.handle(i).reset_counts();
            }
            let t = Instant::now();
            // -refresh=false: only the group's own work is timed and counted
            tf.ok(&["apply", "-auto-approve", "-refresh=false", &par]);
            walls.push(t.elapsed().as_secs_f64());
            req = (0..n).map(|i| r.handle(i).request_count()).sum::<u64>();
            max_per = (0..n)
                .map(|i| r.handle(i).request_count())
                .max()
                .unwrap_or(0);
            // Terraform's own cost at this size: the same command with nothing to do
            let t = Instant::now();
            tf.ok(&["apply", "-auto-approve", "-refresh=false", &par]);
            idles.push(t.elapsed().as_secs_f64());
            for i in 0..n {
                r.handle(i).set_latency(Duration::ZERO);
            }
            tf.ok(&[
                "destroy",
                "-auto-approve",
                "-target=module.site.geowp_sync_group.files",
            ]);
        }
        let (wall, idle) = (median(walls), median(idles));
        rows.push_str(&format!(
            "| {n} | {wall:.2} | {idle:.2} | {:.2} | {req} | {:.1} | {max_per} |\n",
            wall - idle,
            req as f64 / n as f64
        ));
        tf.ok(&["destroy", "-auto-approve", &par]);
    }
    format!(
        "| members (50 ms per request) | `terraform apply` creating the sync group (s) | the same command with nothing to do (s) | the group's own work (s) | requests, all clusters | requests per member | most requests to one cluster |\n|---|---|---|---|---|---|---|\n{rows}"
    )
}
