//! PD's peer layer on real etcd (Debian's etcd-server, `scripts/tools.sh
//! etcd`): PD embeds etcd, and etcd's TLS peer listener refuses a peer whose
//! client certificate does not name the connection's source address
//! (etcd-io/etcd@v3.4.23 pkg/transport/listener_tls.go:192 `checkCertSAN`,
//! the same code as v3.5.15 client/pkg/transport/listener_tls.go:192 that
//! PD v8.5.7 embeds).
//!
//! Three members get the certificates geowp issues for PD (the site CA from
//! `pki::new_ca`, each region's names from `tls::names`, its advertised
//! addresses included). Each member's advertised peer address is a "load
//! balancer": a user-space TCP proxy that forwards to the member's pod
//! address from a source address no certificate names (127.0.0.99), as a
//! cross-region path through a node, NAT or load balancer does.
//!
//! - As rendered before the fix (PD's peer listener on the pod address),
//!   every member rejects every peer with etcd's message, and none has a
//!   leader.
//! - As rendered now (PD on loopback behind the PD pod's relay: real HAProxy
//!   with the rendered `haproxy.cfg`), they elect a leader, keep quorum while
//!   one member is down, and the restarted member catches up.
//!
//! Every member of one machine shares one loopback, so the rendered ports
//! (2380 for the relay, 2381 for PD) are moved to free ones per member; the
//! addresses and the relay's text are otherwise the rendered ones.
//! Name lookups etcd makes for the certificates' DNS names go to a resolver
//! on 127.0.0.1 in a mount namespace of the member's own (unshare), never
//! to the machine's resolver.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use geowp_stack::pki;
use geowp_stack::render::{self, example, Member};
use geowp_stack::tls;
use geowp_tests::KillOnDrop;
use serde_json::Value;

/// The address every forwarded peer connection comes from.
const NAT: &str = "127.0.0.99";
const NAMES: [&str; 3] = ["ap-south", "eu-west", "us-east"];

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind(format!("{ip}:0"))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// One member's addresses.
#[derive(Clone)]
struct Addr {
    name: &'static str,
    /// What other members dial (the load balancer), as advertised.
    lb: SocketAddr,
    /// The pod's address and the port the load balancer sends to.
    pod: SocketAddr,
    /// PD's own peer listener behind the relay (fixed layout only).
    inner: u16,
    /// The client port, on loopback.
    client: u16,
}

fn addresses() -> Vec<Addr> {
    NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let lb_ip = format!("127.0.0.{}", 11 + i);
            let pod_ip = format!("127.0.0.{}", 31 + i);
            Addr {
                name,
                lb: format!("{lb_ip}:{}", free_port(&lb_ip)).parse().unwrap(),
                pod: format!("{pod_ip}:{}", free_port(&pod_ip)).parse().unwrap(),
                inner: free_port("127.0.0.1"),
                client: free_port("127.0.0.1"),
            }
        })
        .collect()
}

fn members(addrs: &[Addr]) -> BTreeMap<String, Member> {
    addrs
        .iter()
        .map(|a| {
            (
                a.name.to_string(),
                Member {
                    pd_client_url: format!("https://{}:2379", a.lb.ip()),
                    pd_peer_url: format!("https://{}", a.lb),
                    tikv_address: format!("{}:20160", a.lb.ip()),
                    syncthing_address: format!("tcp://{}:22000", a.lb.ip()),
                },
            )
        })
        .collect()
}

/// A TCP "load balancer" on `listen` forwarding to `to`, each connection
/// leaving from [`NAT`]. Runs until the runtime stops.
async fn load_balancer(listen: SocketAddr, to: SocketAddr) {
    let l = tokio::net::TcpListener::bind(listen)
        .await
        .expect("bind the load balancer");
    loop {
        let Ok((mut inbound, _)) = l.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let sock = tokio::net::TcpSocket::new_v4().expect("socket");
            sock.bind(format!("{NAT}:0").parse().unwrap())
                .expect("bind");
            if let Ok(mut out) = sock.connect(to).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
            }
        });
    }
}

struct Files {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// The site CA and each member's certificate, as geowp issues them.
fn certificates(dir: &Path, addrs: &[Addr]) -> BTreeMap<&'static str, Files> {
    let ca = pki::new_ca("blog").expect("CA");
    let ca_path = dir.join("ca.crt");
    std::fs::write(&ca_path, &ca.cert_pem).unwrap();
    addrs
        .iter()
        .map(|a| {
            let spec = example::spec(a.name, members(addrs));
            let names = tls::names(&spec);
            assert!(
                names.ips.iter().any(|ip| *ip == a.lb.ip()),
                "the certificate names the advertised address"
            );
            assert!(
                !names.sorted().iter().any(|n| n == NAT),
                "nothing names the NAT address"
            );
            let pair = pki::issue(&ca, &names).expect("certificate");
            let cert = dir.join(format!("{}.crt", a.name));
            let key = dir.join(format!("{}.key", a.name));
            std::fs::write(&cert, &pair.cert_pem).unwrap();
            std::fs::write(&key, &pair.key_pem).unwrap();
            (
                a.name,
                Files {
                    ca: ca_path.clone(),
                    cert,
                    key,
                },
            )
        })
        .collect()
}

/// The rendered PD StatefulSet args and relay config of `member`.
fn rendered(addrs: &[Addr], member: &str) -> (Vec<String>, String) {
    let spec = example::spec(member, members(addrs));
    let mut inputs = render::Inputs::placeholder();
    inputs.pd = Some(spec.new_topology());
    let objs = render::render(&spec, &inputs);
    let find = |kind: &str, name: &str| {
        objs.iter()
            .find(|o| o.id.kind == kind && o.id.name == name)
            .map(|o| o.body.clone())
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    };
    let sts = find("StatefulSet", "pd");
    let args = sts["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let relay = find("ConfigMap", "pd-peer-relay")["data"]["haproxy.cfg"]
        .as_str()
        .unwrap()
        .to_string();
    (args, relay)
}

fn arg<'a>(args: &'a [String], name: &str) -> &'a str {
    args.iter()
        .find_map(|a| a.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in {args:?}"))
}

struct Member3 {
    addr: Addr,
    data: PathBuf,
    log: PathBuf,
    args: Vec<String>,
    proc: Option<KillOnDrop>,
}

impl Member3 {
    fn start(&mut self, resolv: &Path) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new("unshare")
            .args(["--mount", "--", "sh", "-c"])
            .arg("mount --bind \"$1\" /etc/resolv.conf && shift && exec \"$@\"")
            .arg("sh")
            .arg(resolv)
            .arg("etcd")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start etcd");
        self.proc = Some(KillOnDrop(child));
    }

    fn stop(&mut self) {
        drop(self.proc.take());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// etcd's arguments for a member whose peer listener is `listen`, with the
/// PD settings that matter here (tikv/pd@v8.5.7 server/config/config.go:
/// peer and client TLS with client certificates, AllowedCNs).
fn etcd_args(a: &Addr, listen: &str, f: &Files, cluster: &str, data: &Path) -> Vec<String> {
    let cn = pki::common_name("blog");
    let (tick, election, _) = render::tidb::pd_timings(0);
    let s = |p: &Path| p.display().to_string();
    vec![
        format!("--name={}", a.name),
        format!("--data-dir={}", data.display()),
        format!("--listen-peer-urls={listen}"),
        format!("--initial-advertise-peer-urls=https://{}", a.lb),
        format!("--listen-client-urls=https://127.0.0.1:{}", a.client),
        format!("--advertise-client-urls=https://127.0.0.1:{}", a.client),
        format!("--initial-cluster={cluster}"),
        "--initial-cluster-state=new".into(),
        "--initial-cluster-token=geowp-test".into(),
        "--peer-client-cert-auth".into(),
        format!("--peer-trusted-ca-file={}", s(&f.ca)),
        format!("--peer-cert-file={}", s(&f.cert)),
        format!("--peer-key-file={}", s(&f.key)),
        format!("--peer-cert-allowed-cn={cn}"),
        "--client-cert-auth".into(),
        format!("--trusted-ca-file={}", s(&f.ca)),
        format!("--cert-file={}", s(&f.cert)),
        format!("--key-file={}", s(&f.key)),
        format!("--heartbeat-interval={tick}"),
        format!("--election-timeout={election}"),
        "--logger=zap".into(),
        "--log-outputs=stderr".into(),
    ]
}

/// (leader id, errors) as `etcdctl endpoint status` reports for a member.
fn status(a: &Addr, f: &Files) -> Result<u64, String> {
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            &format!("--endpoints=https://127.0.0.1:{}", a.client),
            &format!("--cacert={}", f.ca.display()),
            &format!("--cert={}", f.cert.display()),
            &format!("--key={}", f.key.display()),
            "--command-timeout=3s",
            "endpoint",
            "status",
            "-w",
            "json",
        ])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let v: Value = serde_json::from_str(&text)
        .map_err(|_| format!("{text}{}", String::from_utf8_lossy(&out.stderr)))?;
    Ok(v[0]["Status"]["leader"].as_u64().unwrap_or(0))
}

fn etcdctl(a: &Addr, f: &Files, words: &[&str]) -> (bool, String) {
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            &format!("--endpoints=https://127.0.0.1:{}", a.client),
            &format!("--cacert={}", f.ca.display()),
            &format!("--cert={}", f.cert.display()),
            &format!("--key={}", f.key.display()),
            "--command-timeout=5s",
        ])
        .args(words)
        .output()
        .expect("etcdctl");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Polls `cond` until it holds or `limit` passes.
fn until(limit: Duration, what: &str, mut cond: impl FnMut() -> Option<String>) -> String {
    let start = Instant::now();
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

enum Layout {
    /// PD's peer listener on the pod address, as rendered before the fix.
    Direct,
    /// PD on loopback behind the rendered relay.
    Relayed,
}

struct Site {
    _dir: tempfile::TempDir,
    members: Vec<Member3>,
    files: BTreeMap<&'static str, Files>,
    relays: Vec<KillOnDrop>,
    resolv: PathBuf,
    _rt: tokio::runtime::Runtime,
}

fn site(layout: Layout) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let addrs = addresses();
    let files = certificates(dir.path(), &addrs);
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.1\noptions attempts:1 timeout:1\n",
    )
    .unwrap();
    let cluster = addrs
        .iter()
        .map(|a| format!("{}=https://{}", a.name, a.lb))
        .collect::<Vec<_>>()
        .join(",");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut relays = Vec::new();
    let mut members = Vec::new();
    for a in &addrs {
        let (args, relay_cfg) = rendered(&addrs, a.name);
        assert_eq!(
            arg(&args, "--advertise-peer-urls="),
            format!("https://{}", a.lb)
        );
        let listen = match layout {
            Layout::Direct => format!("https://{}", a.pod),
            Layout::Relayed => {
                let rendered_listen = arg(&args, "--peer-urls=");
                assert_eq!(
                    rendered_listen,
                    format!("https://127.0.0.1:{}", render::tidb::PD_PEER_INNER_PORT),
                    "PD's peer listener is on loopback"
                );
                // the rendered relay, with this member's ports
                let cfg = relay_cfg
                    .replace(
                        &format!("bind :{}", render::tidb::PD_PEER_PORT),
                        &format!("bind {}", a.pod),
                    )
                    .replace(
                        &format!("127.0.0.1:{}", render::tidb::PD_PEER_INNER_PORT),
                        &format!("127.0.0.1:{}", a.inner),
                    );
                assert_ne!(cfg, relay_cfg);
                let path = dir.path().join(format!("{}-haproxy.cfg", a.name));
                std::fs::write(&path, cfg).unwrap();
                let check = Command::new("haproxy")
                    .args(["-c", "-f"])
                    .arg(&path)
                    .output()
                    .unwrap();
                assert!(
                    check.status.success(),
                    "HAProxy accepts the rendered relay: {}",
                    String::from_utf8_lossy(&check.stderr)
                );
                let log = std::fs::File::create(dir.path().join(format!("{}-haproxy.log", a.name)))
                    .unwrap();
                relays.push(KillOnDrop(
                    Command::new("haproxy")
                        .args(["-db", "-f"])
                        .arg(&path)
                        .stdin(Stdio::null())
                        .stdout(log.try_clone().unwrap())
                        .stderr(log)
                        .spawn()
                        .expect("haproxy"),
                ));
                format!("https://127.0.0.1:{}", a.inner)
            }
        };
        rt.spawn(load_balancer(a.lb, a.pod));
        let data = dir.path().join(format!("{}.etcd", a.name));
        members.push(Member3 {
            args: etcd_args(a, &listen, &files[a.name], &cluster, &data),
            addr: a.clone(),
            data,
            log: dir.path().join(format!("{}.log", a.name)),
            proc: None,
        });
    }
    Site {
        _dir: dir,
        members,
        files,
        relays,
        resolv,
        _rt: rt,
    }
}

impl Site {
    fn start_all(&mut self) {
        for m in &mut self.members {
            m.start(&self.resolv);
        }
    }
    fn leaders(&self, which: &[usize]) -> Vec<Result<u64, String>> {
        which
            .iter()
            .map(|&i| {
                status(
                    &self.members[i].addr,
                    &self.files[self.members[i].addr.name],
                )
            })
            .collect()
    }
    /// The leader every member in `which` agrees on, once they do.
    fn agreed_leader(&self, which: &[usize]) -> Option<u64> {
        let l = self.leaders(which);
        let first = l[0].clone().ok().filter(|id| *id != 0)?;
        l.iter()
            .all(|x| x.as_ref().ok() == Some(&first))
            .then_some(first)
    }
    fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("--- {}\n{}", m.addr.name, m.log()))
            .collect()
    }
}

fn skip_without_tools() -> bool {
    for t in ["etcd", "etcdctl", "haproxy", "unshare"] {
        if !have(t) {
            assert!(
                std::env::var_os("CI").is_none(),
                "{t} is missing: scripts/tools.sh etcd installs it"
            );
            eprintln!("skipped: {t} is missing (scripts/tools.sh etcd)");
            return true;
        }
    }
    false
}

#[test]
fn pd_peers_behind_nat_reject_each_other_when_pd_listens_on_the_pod_address() {
    if skip_without_tools() {
        return;
    }
    let mut s = site(Layout::Direct);
    s.start_all();
    // each member refuses its peers for the source address, in etcd's words
    let needle = format!("tls: \\\"{NAT}\\\" does not match any of DNSNames");
    until(
        Duration::from_secs(90),
        "every member refusing its peers",
        || {
            s.members
                .iter()
                .all(|m| m.log().matches(&needle).count() >= 3)
                .then_some(String::new())
        },
    );
    // and so no member has a leader
    for (m, l) in s.members.iter().zip(s.leaders(&[0, 1, 2])) {
        assert!(
            !matches!(l, Ok(id) if id != 0),
            "{} has a leader though every peer connection is refused: {l:?}\n{}",
            m.addr.name,
            s.logs()
        );
    }
    assert!(s.relays.is_empty());
}

#[test]
fn pd_peers_behind_the_relay_form_a_quorum_and_survive_a_restart() {
    if skip_without_tools() {
        return;
    }
    let mut s = site(Layout::Relayed);
    s.start_all();
    let limit = Duration::from_secs(90);
    let leader = until(limit, "a leader all three agree on", || {
        s.agreed_leader(&[0, 1, 2]).map(|l| l.to_string())
    });
    assert!(
        !s.logs().contains("does not match any of DNSNames"),
        "no peer is refused: {}",
        s.logs()
    );
    let first = s.members[0].addr.clone();
    let (ok, out) = etcdctl(&first, &s.files[first.name], &["put", "geowp/probe", "one"]);
    assert!(ok, "a write with quorum: {out}");

    // a member down: the other two keep (or elect) a leader and take writes
    s.members[1].stop();
    until(limit, "a leader of the remaining two", || {
        s.agreed_leader(&[0, 2]).map(|l| l.to_string())
    });
    // a write may time out while the two settle (etcdctl gives up after
    // 5 s); with two of three one goes through before the limit
    until(limit, "a write with two of three", || {
        let (ok, _) = etcdctl(&first, &s.files[first.name], &["put", "geowp/probe", "two"]);
        ok.then(String::new)
    });

    // back: it rejoins through the relay and catches up
    let resolv = s.resolv.clone();
    s.members[1].start(&resolv);
    until(limit, "the restarted member following the leader", || {
        s.agreed_leader(&[0, 1, 2]).map(|l| l.to_string())
    });
    let back = s.members[1].addr.clone();
    until(
        limit,
        "the restarted member holding the latest write",
        || {
            let (ok, out) = etcdctl(
                &back,
                &s.files[back.name],
                &["get", "geowp/probe", "--print-value-only"],
            );
            (ok && out.trim() == "two").then_some(out)
        },
    );
    assert!(!leader.is_empty());
    let _ = std::io::stderr().flush();
    assert!(s.members[1].data.exists());
}
