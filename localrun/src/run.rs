//! The runtime of one simulated region: a kubelet, the workload
//! controllers and kube-proxy in one loop. Every half second it reads the
//! region's workloads, starts and stops the pods they want as processes,
//! runs their probes, writes the workloads' status from what it saw, and
//! keeps a TCP proxy on every Service address in front of the ready pods.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use geowp_kube::{Cluster, ObjRef};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::pods::{self, Adapter, Mounts, Want};
use crate::wordpress;

/// What a region's runtime needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The region (for messages).
    pub name: String,
    /// Pods' directories and volumes live here.
    pub dir: PathBuf,
    /// `127.N`: pods get `127.N.3.M` (the fake API server gives Services
    /// `127.N.1.M` and load balancers `127.N.2.M`).
    pub prefix: String,
    /// The MariaDB server standing in for TiDB's SQL layer.
    pub db: SocketAddr,
    /// Round trip from this region to the data's leaders: each statement
    /// waits as it would in TiDB ([`crate::sqldelay`]).
    pub db_rtt: Duration,
    /// The open-files limit (soft, hard) containers get, as a container
    /// runtime sets it ([`crate::strict::RUNTIME_NOFILE`] unless told).
    pub container_nofile: (u64, u64),
}

const TICK: Duration = Duration::from_millis(400);
const MANAGER: &str = "geowp-localrun";

/// The annotation the fake API server serves as a pod's log
/// (`fakeapi::server::POD_LOG`).
const POD_LOG: &str = "fake.geowp.dev/log";

fn log(cfg: &Config, msg: &str) {
    eprintln!("{} [{}] {msg}", now(), cfg.name);
}

/// One container's process.
struct Ctr {
    name: String,
    adapter: Adapter,
    spec: Value,
    mounts: Mounts,
    env: Vec<(String, String)>,
    /// Varnish: its VCL with the backends' Service names made addresses here.
    vcl: Option<PathBuf>,
    child: Option<Child>,
    ready: bool,
    ready_fails: u32,
    live_fails: u32,
    next_ready: Instant,
    next_live: Instant,
    started: Instant,
    restarts: u32,
    next_start: Instant,
    exited: Option<i32>,
    /// A TiDB-tier program's stand-in (`strict`): the program it stands
    /// for, whether its command line and config passed, and the refusal
    /// it last exited with.
    program: Option<crate::strict::Program>,
    checked: bool,
    refused: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Init(usize),
    Running,
    Succeeded,
    Failed(String),
}

struct Pod {
    want: Want,
    ip: Ipv4Addr,
    dir: PathBuf,
    init: Vec<Ctr>,
    main: Vec<Ctr>,
    phase: Phase,
    job_failures: u32,
    started_at: String,
    finished_at: Option<String>,
    /// TiDB stand-in listeners (the pod's SQL port to MariaDB).
    stand_ins: Vec<tokio::task::JoinHandle<()>>,
    /// The last status written for the Pod object.
    written: Value,
    /// The Pod object as applied (a finished Job's pod is applied again
    /// with its log).
    object: Value,
    /// A finished Job pod's log is in its Pod object.
    log_published: bool,
}

impl Pod {
    fn ready(&self) -> bool {
        self.phase == Phase::Running && self.main.iter().all(|c| c.ready)
    }
    /// A pod whose containers run no process of ours.
    fn simulated(&self) -> bool {
        self.main
            .iter()
            .all(|c| matches!(c.adapter, Adapter::Simulated(_)))
    }
    fn describe(&self) -> String {
        self.main
            .iter()
            .map(|c| match &c.adapter {
                Adapter::WordPress => format!("{}: Debian's WordPress under php -S {}:80", c.name, self.ip),
                Adapter::SyncThing => format!("{}: Debian's syncthing", c.name),
                Adapter::Varnish => format!("{}: Debian's varnishd", c.name),
                Adapter::Shell => format!("{}: its command, with this machine's sh and mariadb-client", c.name),
                Adapter::TidbStandIn => format!("{}: TiDB cannot run here; its SQL port leads to the MariaDB server every region shares", c.name),
                Adapter::Simulated(why) => format!("{}: {why}", c.name),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// What the loop read from the API server.
#[derive(Default)]
struct Snapshot {
    deployments: Vec<Value>,
    statefulsets: Vec<Value>,
    jobs: Vec<Value>,
    services: Vec<Value>,
    configmaps: Vec<Value>,
    secrets: Vec<Value>,
    claims: Vec<Value>,
    classes: Vec<Value>,
}

async fn snapshot(c: &Cluster) -> Result<Snapshot, geowp_kube::ClusterError> {
    let (d, s, j, svc, cm, sec, pvc, sc) = futures_util::try_join!(
        c.list("apps/v1", "Deployment", "", ""),
        c.list("apps/v1", "StatefulSet", "", ""),
        c.list("batch/v1", "Job", "", ""),
        c.list("v1", "Service", "", ""),
        c.list("v1", "ConfigMap", "", ""),
        c.list("v1", "Secret", "", ""),
        c.list("v1", "PersistentVolumeClaim", "", ""),
        c.list("storage.k8s.io/v1", "StorageClass", "", ""),
    )?;
    Ok(Snapshot {
        deployments: d,
        statefulsets: s,
        jobs: j,
        services: svc,
        configmaps: cm,
        secrets: sec,
        claims: pvc,
        classes: sc,
    })
}

fn find<'a>(list: &'a [Value], ns: &str, name: &str) -> Option<&'a Value> {
    list.iter()
        .find(|o| o["metadata"]["namespace"] == ns && o["metadata"]["name"] == name)
}

fn now() -> String {
    geowp_common::time::rfc3339(geowp_common::time::unix_now())
}

fn b64d(s: &str) -> Vec<u8> {
    geowp_common::b64::decode(s).unwrap_or_default()
}

/// Writes a ConfigMap's or Secret's keys as files into `dir`.
fn write_files(dir: &Path, data: &[(String, Vec<u8>)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (k, v) in data {
        std::fs::write(dir.join(k), v)?;
    }
    Ok(())
}

fn keys_of(obj: Option<&Value>, secret: bool, items: &Value) -> Vec<(String, Vec<u8>)> {
    let Some(o) = obj else { return vec![] };
    let mut all: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(m) = o["data"].as_object() {
        for (k, v) in m {
            let bytes = if secret {
                b64d(v.as_str().unwrap_or(""))
            } else {
                v.as_str().unwrap_or("").as_bytes().to_vec()
            };
            all.push((k.clone(), bytes));
        }
    }
    match items.as_array() {
        Some(list) if !list.is_empty() => list
            .iter()
            .filter_map(|it| {
                let key = it["key"].as_str()?;
                let path = it["path"].as_str().unwrap_or(key);
                all.iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| (path.to_string(), v.clone()))
            })
            .collect(),
        _ => all,
    }
}

/// The directory each of the pod's volumes is on this machine.
fn volumes(
    cfg: &Config,
    w: &Want,
    dir: &Path,
    snap: &Snapshot,
) -> std::io::Result<BTreeMap<String, PathBuf>> {
    let ns = &w.namespace;
    let mut out = BTreeMap::new();
    for v in w.spec["volumes"].as_array().into_iter().flatten() {
        let name = v["name"].as_str().unwrap_or("").to_string();
        let vdir = dir.join("volumes").join(&name);
        if let Some(cm) = v.get("configMap").filter(|x| x.is_object()) {
            let o = find(&snap.configmaps, ns, cm["name"].as_str().unwrap_or(""));
            write_files(&vdir, &keys_of(o, false, &cm["items"]))?;
        } else if let Some(s) = v.get("secret").filter(|x| x.is_object()) {
            let o = find(&snap.secrets, ns, s["secretName"].as_str().unwrap_or(""));
            write_files(&vdir, &keys_of(o, true, &s["items"]))?;
        } else if let Some(p) = v.get("projected").filter(|x| x.is_object()) {
            std::fs::create_dir_all(&vdir)?;
            for src in p["sources"].as_array().into_iter().flatten() {
                if let Some(s) = src.get("secret").filter(|x| x.is_object()) {
                    let o = find(&snap.secrets, ns, s["name"].as_str().unwrap_or(""));
                    write_files(&vdir, &keys_of(o, true, &s["items"]))?;
                }
                if let Some(c) = src.get("configMap").filter(|x| x.is_object()) {
                    let o = find(&snap.configmaps, ns, c["name"].as_str().unwrap_or(""));
                    write_files(&vdir, &keys_of(o, false, &c["items"]))?;
                }
            }
        } else if let Some(c) = v.get("persistentVolumeClaim").filter(|x| x.is_object()) {
            let claim = c["claimName"].as_str().unwrap_or("");
            if let Some(why) =
                pods::claim_pending(ns, claim, &snap.claims, &snap.classes, &snap.statefulsets)
            {
                return Err(std::io::Error::other(why));
            }
            let d = pods::claim_dir(
                &cfg.dir,
                ns,
                claim,
                &snap.claims,
                &snap.classes,
                &snap.statefulsets,
            );
            std::fs::create_dir_all(&d)?;
            out.insert(name, d);
            continue;
        } else {
            // emptyDir and anything else: a directory of the pod's own
            std::fs::create_dir_all(&vdir)?;
        }
        out.insert(name, vdir);
    }
    if let (Some(ord), Some(sts)) = (
        w.ordinal,
        find(&snap.statefulsets, ns, &w.owner).filter(|_| w.owner_kind == "StatefulSet"),
    ) {
        for t in sts["spec"]["volumeClaimTemplates"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let tname = t["metadata"]["name"].as_str().unwrap_or("");
            let claim = pods::template_claim(tname, &w.owner, ord);
            let d = pods::claim_dir(
                &cfg.dir,
                ns,
                &claim,
                &snap.claims,
                &snap.classes,
                &snap.statefulsets,
            );
            std::fs::create_dir_all(&d)?;
            out.insert(tname.to_string(), d);
        }
    }
    Ok(out)
}

fn mounts_of(c: &Value, vols: &BTreeMap<String, PathBuf>) -> Mounts {
    Mounts(
        c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let base = vols.get(m["name"].as_str()?)?;
                let host = match m["subPath"].as_str() {
                    Some(sp) if !sp.is_empty() => {
                        let h = base.join(sp);
                        // a subPath that is not there yet is made a
                        // directory, as the kubelet makes it
                        if !h.exists() {
                            let _ = std::fs::create_dir_all(&h);
                        }
                        h
                    }
                    _ => base.clone(),
                };
                Some((m["mountPath"].as_str()?.to_string(), host))
            })
            .collect(),
    )
}

fn env_of(
    c: &Value,
    w: &Want,
    ip: Ipv4Addr,
    dir: &Path,
    mounts: &Mounts,
    snap: &Snapshot,
    services: &BTreeMap<(String, String), String>,
) -> Vec<(String, String)> {
    let ns = &w.namespace;
    let mut env = vec![
        ("HOME".to_string(), dir.join("home").display().to_string()),
        ("HOSTNAME".to_string(), w.name.clone()),
    ];
    if let Some(t) = mounts.host("/tmp") {
        env.push(("TMPDIR".into(), t.display().to_string()));
    }
    for e in c["env"].as_array().into_iter().flatten() {
        let Some(name) = e["name"].as_str() else {
            continue;
        };
        let raw = if let Some(v) = e["value"].as_str() {
            v.to_string()
        } else if let Some(f) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            match f {
                "metadata.namespace" => ns.clone(),
                "metadata.name" => w.name.clone(),
                "status.podIP" => ip.to_string(),
                _ => String::new(),
            }
        } else if let Some(k) = e["valueFrom"]["secretKeyRef"].as_object() {
            let o = find(&snap.secrets, ns, k["name"].as_str().unwrap_or(""));
            let key = k["key"].as_str().unwrap_or("");
            o.and_then(|o| o["data"][key].as_str())
                .map(|v| String::from_utf8_lossy(&b64d(v)).into_owned())
                .unwrap_or_default()
        } else if let Some(k) = e["valueFrom"]["configMapKeyRef"].as_object() {
            let o = find(&snap.configmaps, ns, k["name"].as_str().unwrap_or(""));
            let key = k["key"].as_str().unwrap_or("");
            o.and_then(|o| o["data"][key].as_str())
                .unwrap_or("")
                .to_string()
        } else {
            String::new()
        };
        // container paths and Service names become this machine's
        let v = if raw.starts_with('/') {
            mounts.path(&raw)
        } else if pods::names_a_host(name, &raw) {
            pods::service_address(&raw, ns, services)
        } else {
            raw
        };
        env.push((name.to_string(), v));
    }
    env
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(String::from))
        .collect()
}

fn new_ctr(
    c: &Value,
    w: &Want,
    ip: Ipv4Addr,
    dir: &Path,
    vols: &BTreeMap<String, PathBuf>,
    snap: &Snapshot,
    services: &BTreeMap<(String, String), String>,
) -> Ctr {
    let mounts = mounts_of(c, vols);
    let env = env_of(c, w, ip, dir, &mounts, snap, services);
    let adapter = pods::adapter(c["image"].as_str().unwrap_or(""));
    let now = Instant::now();
    let vcl = (adapter == Adapter::Varnish)
        .then(|| {
            let args = strings(&c["args"]);
            let file = args
                .iter()
                .position(|a| a == "-f")
                .and_then(|i| args.get(i + 1))?;
            let text = std::fs::read_to_string(mounts.host(file)?).ok()?;
            let local = dir.join(format!("{}.vcl", c["name"].as_str().unwrap_or("varnish")));
            std::fs::write(&local, pods::vcl_backends(&text, &w.namespace, services)).ok()?;
            Some(local)
        })
        .flatten();
    Ctr {
        name: c["name"].as_str().unwrap_or("").to_string(),
        adapter,
        spec: c.clone(),
        mounts,
        env,
        vcl,
        child: None,
        ready: false,
        ready_fails: 0,
        live_fails: 0,
        next_ready: now,
        next_live: now,
        started: now,
        restarts: 0,
        next_start: now,
        exited: None,
        program: crate::strict::Program::of_image(c["image"].as_str().unwrap_or("")),
        checked: false,
        refused: None,
    }
}

/// The process of a container (None: nothing to run).
fn command(c: &Ctr, ip: Ipv4Addr, dir: &Path) -> Result<Option<Command>, String> {
    let env: Vec<(String, String)> = c.env.clone();
    let mut cmd = match &c.adapter {
        Adapter::Simulated(_) | Adapter::TidbStandIn => return Ok(None),
        Adapter::WordPress => {
            let root = dir.join("html");
            // wp-content: the volume mounted there (the shared claim, or the
            // pod's own emptyDir), else a directory of the pod's
            let content = c
                .mounts
                .0
                .iter()
                .find(|(p, _)| p == "/var/www/html/wp-content")
                .map(|(_, h)| h.clone())
                .unwrap_or_else(|| dir.join("wp-content"));
            wordpress::docroot(&root, &content)?;
            // a volume mounted inside it (the shared uploads under the pod's
            // own wp-content) is there as the runtime's bind mount would be
            for (cpath, host) in &c.mounts.0 {
                let Some(rel) = cpath.strip_prefix("/var/www/html/wp-content/") else {
                    continue;
                };
                if rel.starts_with("mu-plugins/") || !host.is_dir() {
                    continue;
                }
                wordpress::bind(host, &content.join(rel))?;
            }
            let mut env = env;
            let mut mu = None;
            for (cpath, host) in &c.mounts.0 {
                let Some(rel) = cpath.strip_prefix("/var/www/html/") else {
                    continue;
                };
                if rel == "wp-content" || !host.is_file() {
                    continue;
                }
                if let Some(file) = rel.strip_prefix("wp-content/mu-plugins/") {
                    // a file mounted into the shared volume: kept beside it
                    // instead of written into it
                    let d = dir.join("mu-plugins");
                    std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
                    std::fs::copy(host, d.join(file)).map_err(|e| e.to_string())?;
                    mu = Some(d);
                } else {
                    std::fs::copy(host, root.join(rel)).map_err(|e| e.to_string())?;
                }
            }
            if let Some(d) = mu {
                let extra = format!("define('WPMU_PLUGIN_DIR', '{}');\n", d.display());
                match env.iter_mut().find(|(k, _)| k == "WORDPRESS_CONFIG_EXTRA") {
                    Some((_, v)) => v.push_str(&extra),
                    None => env.push(("WORDPRESS_CONFIG_EXTRA".into(), extra)),
                }
            }
            wordpress::php_server(&root, SocketAddr::from((ip, 80)), &env)?
        }
        Adapter::SyncThing => {
            let home = c
                .mounts
                .host("/var/syncthing/config")
                .ok_or("no /var/syncthing/config mount")?;
            let cfg = home.join("config.xml");
            if let Ok(x) = std::fs::read_to_string(&cfg) {
                // the pod's own addresses, and its folder on this machine
                let x = c.mounts.script(&x);
                let x = x
                    .replace("tcp://0.0.0.0:", &format!("tcp://{ip}:"))
                    .replace("<address>127.0.0.1:", &format!("<address>{ip}:"));
                std::fs::write(&cfg, x).map_err(|e| e.to_string())?;
            }
            let mut cmd = Command::new(crate::mariadb::program("syncthing", "syncthing")?);
            cmd.arg("serve")
                .arg(format!("--home={}", home.display()))
                .args(["--no-browser", "--no-restart", "--no-default-folder"])
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .envs(env.iter().map(|(k, v)| (k, v)))
                .env("STMONITORED", "yes")
                .env("STNOUPGRADE", "1");
            cmd
        }
        Adapter::Varnish => {
            let vcl = c
                .vcl
                .as_ref()
                .ok_or("no VCL: the -f file is not in a volume")?;
            let args = pods::varnish_args(&strings(&c.spec["args"]), vcl, ip, |p| c.mounts.path(p));
            let mut cmd = Command::new(crate::mariadb::program("varnishd", "varnish")?);
            cmd.args(args)
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .envs(env.iter().map(|(k, v)| (k, v)));
            cmd
        }
        Adapter::Shell => {
            let mut argv = strings(&c.spec["command"]);
            argv.extend(strings(&c.spec["args"]));
            if argv.is_empty() {
                return Err(
                    "the container names no command (its image's entrypoint is unknown here)"
                        .into(),
                );
            }
            let shell = matches!(argv[0].as_str(), "sh" | "/bin/sh" | "bash" | "/bin/bash");
            let argv: Vec<String> = argv
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    if shell && i > 0 && argv[i - 1] == "-c" {
                        c.mounts.script(a)
                    } else if a.starts_with('/') {
                        c.mounts.path(a)
                    } else {
                        a.clone()
                    }
                })
                .collect();
            let prog = if shell {
                "/bin/sh".to_string()
            } else {
                argv[0].clone()
            };
            let mut cmd = Command::new(prog);
            cmd.args(&argv[1..])
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .envs(env.iter().map(|(k, v)| (k, v)));
            cmd
        }
    };
    std::fs::create_dir_all(dir.join("home")).map_err(|e| e.to_string())?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{}.log", c.name)))
        .map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    if let Some(wd) = c.spec["workingDir"].as_str() {
        cmd.current_dir(c.mounts.path(wd));
    } else if !matches!(c.adapter, Adapter::WordPress) {
        cmd.current_dir(dir.join("home"));
    }
    // its own process group, and gone with the runtime
    crate::proc::own_group(&mut cmd);
    Ok(Some(cmd))
}

fn kill(child: &mut Child) {
    crate::proc::stop(child, Duration::from_secs(3));
}

/// A probe's outcome.
async fn probe(p: &Value, ip: Ipv4Addr, pod_spec: &Value, c: &Ctr) -> bool {
    let timeout = Duration::from_secs(p["timeoutSeconds"].as_u64().unwrap_or(1).clamp(1, 10));
    if let Some(t) = p.get("tcpSocket").filter(|x| x.is_object()) {
        let Some(port) = pods::port_of(&t["port"], pod_spec) else {
            return false;
        };
        return tokio::time::timeout(timeout, tokio::net::TcpStream::connect((ip, port)))
            .await
            .map(|r| r.is_ok())
            .unwrap_or(false);
    }
    if let Some(h) = p.get("httpGet").filter(|x| x.is_object()) {
        let Some(port) = pods::port_of(&h["port"], pod_spec) else {
            return false;
        };
        let path = h["path"].as_str().unwrap_or("/").to_string();
        let addr = SocketAddr::from((ip, port));
        return tokio::task::spawn_blocking(move || {
            crate::http::send(addr, None, &crate::http::Request::get(&path), timeout)
                .map(|r| (200..400).contains(&r.status))
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
    }
    if let Some(e) = p.get("exec").filter(|x| x.is_object()) {
        let argv: Vec<String> = strings(&e["command"])
            .iter()
            .map(|a| c.mounts.path(a))
            .collect();
        let env = c.env.clone();
        return tokio::task::spawn_blocking(move || {
            let Some((prog, rest)) = argv.split_first() else {
                return false;
            };
            let prog = if prog == "sh" {
                "/bin/sh"
            } else {
                prog.as_str()
            };
            Command::new(prog)
                .args(rest)
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .envs(env)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
    }
    true
}

/// A TCP proxy on one address, to the endpoints it is given.
struct Proxy {
    endpoints: Arc<Mutex<Vec<SocketAddr>>>,
    task: tokio::task::JoinHandle<()>,
}

async fn proxy(
    listen: SocketAddr,
    endpoints: Arc<Mutex<Vec<SocketAddr>>>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let l = tokio::net::TcpListener::bind(listen).await?;
    Ok(tokio::spawn(async move {
        let mut next = 0usize;
        loop {
            let Ok((mut inbound, _)) = l.accept().await else {
                continue;
            };
            let eps: Vec<SocketAddr> = endpoints.lock().map(|e| e.clone()).unwrap_or_default();
            next = next.wrapping_add(1);
            tokio::spawn(async move {
                for k in 0..eps.len() {
                    let ep = eps[(next + k) % eps.len()];
                    if let Ok(Ok(mut out)) = tokio::time::timeout(
                        Duration::from_secs(2),
                        tokio::net::TcpStream::connect(ep),
                    )
                    .await
                    {
                        // as a kernel's Service proxying would: no added
                        // Nagle delay on what passes through
                        let _ = inbound.set_nodelay(true);
                        let _ = out.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        return;
                    }
                }
            });
        }
    }))
}

pub struct Runtime {
    cfg: Config,
    cluster: Cluster,
    pods: BTreeMap<String, Pod>,
    ips: BTreeMap<String, Ipv4Addr>,
    proxies: HashMap<SocketAddr, Proxy>,
    bind_failures: BTreeSet<SocketAddr>,
    /// Workload key -> status last written.
    written: HashMap<String, Value>,
}

impl Runtime {
    pub fn new(cfg: Config, cluster: Cluster) -> Runtime {
        Runtime {
            cfg,
            cluster,
            pods: BTreeMap::new(),
            ips: BTreeMap::new(),
            proxies: HashMap::new(),
            bind_failures: BTreeSet::new(),
            written: HashMap::new(),
        }
    }

    /// A headless Service's address here. In Kubernetes its name resolves
    /// to each ready pod; without DNS here it gets an address of its own,
    /// proxied to its ready pods as a ClusterIP Service's is (so a program
    /// that means to reach every pod reaches one: the demo runs one pod
    /// behind each headless Service it reaches by name).
    fn headless_ip(&mut self, ns: &str, name: &str) -> Ipv4Addr {
        self.ip_for(&format!("service {ns}/{name}"))
    }

    fn ip_for(&mut self, pod: &str) -> Ipv4Addr {
        if let Some(ip) = self.ips.get(pod) {
            return *ip;
        }
        let used: BTreeSet<Ipv4Addr> = self.ips.values().copied().collect();
        let (a, b) = self.cfg.prefix.split_once('.').unwrap_or(("127", "0"));
        let (a, b): (u8, u8) = (a.parse().unwrap_or(127), b.parse().unwrap_or(0));
        let ip = (2..=250u8)
            .map(|n| Ipv4Addr::new(a, b, 3, n))
            .find(|ip| !used.contains(ip))
            .unwrap_or(Ipv4Addr::new(a, b, 3, 251));
        self.ips.insert(pod.to_string(), ip);
        ip
    }

    /// Runs until `stop` fires, then stops every pod.
    pub async fn run(mut self, stop: CancellationToken) {
        log(&self.cfg, "running: pods as processes on this machine");
        let mut api_down = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(TICK) => {}
            }
            match snapshot(&self.cluster).await {
                Ok(snap) => {
                    if api_down {
                        log(&self.cfg, "the API server answers again");
                        api_down = false;
                    }
                    self.tick(&snap).await;
                }
                Err(e) => {
                    if !api_down {
                        log(
                            &self.cfg,
                            &format!("the API server does not answer ({e}); pods keep running"),
                        );
                        api_down = true;
                    }
                    self.supervise(&Snapshot::default(), false).await;
                }
            }
        }
        log(&self.cfg, "stopping every pod");
        let keys: Vec<String> = self.pods.keys().cloned().collect();
        for k in keys {
            self.stop_pod(&k, false).await;
        }
        for (_, p) in self.proxies.drain() {
            p.task.abort();
        }
    }

    async fn tick(&mut self, snap: &Snapshot) {
        let mut wants: Vec<Want> = Vec::new();
        for d in &snap.deployments {
            wants.extend(pods::wanted("Deployment", d));
        }
        for s in &snap.statefulsets {
            wants.extend(pods::wanted("StatefulSet", s));
        }
        for j in &snap.jobs {
            // a Job that finished stays finished
            let done = j["status"]["succeeded"].as_u64().unwrap_or(0) > 0
                || j["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Failed" && c["status"] == "True");
            let mine = self.pods.values().any(|p| {
                p.want.owner_kind == "Job"
                    && p.want.owner == j["metadata"]["name"].as_str().unwrap_or("")
                    && p.want.namespace == j["metadata"]["namespace"].as_str().unwrap_or("")
            });
            if !done || mine {
                wants.extend(pods::wanted("Job", j));
            }
        }
        let wanted: BTreeMap<String, &Want> = wants.iter().map(|w| (w.key(), w)).collect();
        // stop what is no longer wanted (a Deployment's old pods once its new ones are ready)
        let stale: Vec<String> = self
            .pods
            .iter()
            .filter(|(k, p)| match wanted.get(*k) {
                Some(w) => w.hash != p.want.hash,
                None => !(p.want.owner_kind == "Deployment" && self.surging(p, &wants)),
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            self.stop_pod(&k, true).await;
        }
        let mut services: BTreeMap<(String, String), String> = BTreeMap::new();
        for s in &snap.services {
            let (Some(ns), Some(name), Some(ip)) = (
                s["metadata"]["namespace"].as_str(),
                s["metadata"]["name"].as_str(),
                s["spec"]["clusterIP"].as_str(),
            ) else {
                continue;
            };
            let ip = if ip == "None" {
                self.headless_ip(ns, name).to_string()
            } else {
                ip.to_string()
            };
            services.insert((ns.to_string(), name.to_string()), ip);
        }
        for w in &wants {
            if !self.pods.contains_key(&w.key()) {
                self.start_pod(w, snap, &services).await;
            }
        }
        self.supervise(snap, true).await;
        self.write_statuses(snap).await;
        self.serve(snap).await;
    }

    /// Whether an old Deployment pod must keep serving: its Deployment's
    /// pods of the new template are not all ready yet (RollingUpdate).
    fn surging(&self, old: &Pod, wants: &[Want]) -> bool {
        let new: Vec<&Want> = wants
            .iter()
            .filter(|w| {
                w.owner_kind == "Deployment"
                    && w.owner == old.want.owner
                    && w.namespace == old.want.namespace
            })
            .collect();
        if new.is_empty() {
            return false;
        }
        !old.want.recreate
            && !new
                .iter()
                .all(|w| self.pods.get(&w.key()).is_some_and(Pod::ready))
    }

    async fn start_pod(
        &mut self,
        w: &Want,
        snap: &Snapshot,
        services: &BTreeMap<(String, String), String>,
    ) {
        let ip = self.ip_for(&w.key());
        let dir = self.cfg.dir.join("pods").join(&w.namespace).join(&w.name);
        let _ = std::fs::remove_dir_all(&dir);
        let vols = match volumes(&self.cfg, w, &dir, snap) {
            Ok(v) => v,
            Err(e) => {
                log(
                    &self.cfg,
                    &format!("pod {}: cannot make its volumes: {e}", w.key()),
                );
                return;
            }
        };
        let ctrs = |list: &Value| -> Vec<Ctr> {
            list.as_array()
                .into_iter()
                .flatten()
                .map(|c| new_ctr(c, w, ip, &dir, &vols, snap, services))
                .collect()
        };
        let mut pod = Pod {
            want: w.clone(),
            ip,
            dir: dir.clone(),
            init: ctrs(&w.spec["initContainers"]),
            main: ctrs(&w.spec["containers"]),
            phase: Phase::Init(0),
            job_failures: 0,
            started_at: now(),
            finished_at: None,
            stand_ins: vec![],
            written: Value::Null,
            object: Value::Null,
            log_published: false,
        };
        for c in &pod.main {
            if c.adapter == Adapter::TidbStandIn {
                for port in c.spec["ports"].as_array().into_iter().flatten() {
                    let Some(p) = port["containerPort"].as_u64() else {
                        continue;
                    };
                    // the SQL port leads to MariaDB; the status port answers nothing
                    if p == 4000 {
                        let at = SocketAddr::from((ip, p as u16));
                        match crate::sqldelay::serve(at, self.cfg.db, self.cfg.db_rtt).await {
                            Ok(t) => pod.stand_ins.push(t),
                            Err(e) => log(
                                &self.cfg,
                                &format!("pod {}: cannot listen on {ip}:{p}: {e}", w.key()),
                            ),
                        }
                    }
                }
            }
        }
        log(
            &self.cfg,
            &format!("pod {} at {ip}: {}", w.key(), pod.describe()),
        );
        let mut labels = w.labels.clone();
        if w.owner_kind == "Job" {
            // as the Job controller labels its pods (what `kubectl logs
            // job/NAME` and geowp's helper select them by)
            labels.insert("job-name".into(), w.owner.clone());
            labels.insert("batch.kubernetes.io/job-name".into(), w.owner.clone());
        }
        let obj = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": w.name, "namespace": w.namespace, "labels": labels,
                "annotations": {"localrun.geowp.dev/runs": pod.describe()}},
            "spec": w.spec,
        });
        pod.object = obj.clone();
        let o = geowp_kube::Obj::raw(ObjRef::new("v1", "Pod", &w.namespace, &w.name), obj);
        let _ = self
            .cluster
            .apply(&o, &kube::api::PatchParams::apply(MANAGER).force())
            .await;
        self.pods.insert(w.key(), pod);
    }

    async fn stop_pod(&mut self, key: &str, delete: bool) {
        let Some(mut p) = self.pods.remove(key) else {
            return;
        };
        for c in p.init.iter_mut().chain(p.main.iter_mut()) {
            if let Some(mut ch) = c.child.take() {
                tokio::task::block_in_place(|| kill(&mut ch));
            }
        }
        for t in p.stand_ins.drain(..) {
            t.abort();
        }
        self.ips.remove(key);
        log(&self.cfg, &format!("pod {key} stopped"));
        if delete {
            let _ = self
                .cluster
                .delete(
                    &ObjRef::new("v1", "Pod", &p.want.namespace, &p.want.name),
                    None,
                )
                .await;
        }
    }

    /// Starts, restarts and probes every pod's containers.
    async fn supervise(&mut self, snap: &Snapshot, api: bool) {
        let keys: Vec<String> = self.pods.keys().cloned().collect();
        for k in keys {
            let Some(p) = self.pods.get_mut(&k) else {
                continue;
            };
            let cfg = self.cfg.clone();
            step(&cfg, p).await;
            if api {
                let status = pod_status(p);
                if status != p.written {
                    let r = ObjRef::new("v1", "Pod", &p.want.namespace, &p.want.name);
                    if self.cluster.patch_status(&r, &status).await.is_ok() {
                        p.written = status;
                    }
                }
                let finished = matches!(p.phase, Phase::Succeeded | Phase::Failed(_));
                if finished && !p.log_published && p.want.owner_kind == "Job" {
                    // what its (first) container printed, served by the fake
                    // API server as the pod's log
                    let text = p
                        .main
                        .first()
                        .and_then(|c| {
                            std::fs::read_to_string(p.dir.join(format!("{}.log", c.name))).ok()
                        })
                        .unwrap_or_default();
                    let mut obj = p.object.clone();
                    obj["metadata"]["annotations"][POD_LOG] = json!(text);
                    let o = geowp_kube::Obj::raw(
                        ObjRef::new("v1", "Pod", &p.want.namespace, &p.want.name),
                        obj,
                    );
                    if self
                        .cluster
                        .apply(&o, &kube::api::PatchParams::apply(MANAGER).force())
                        .await
                        .is_ok()
                    {
                        p.log_published = true;
                    }
                }
            }
        }
        let _ = snap;
    }

    async fn write_statuses(&mut self, snap: &Snapshot) {
        let mut updates: Vec<(ObjRef, Value)> = Vec::new();
        for (kind, list, api) in [
            ("Deployment", &snap.deployments, "apps/v1"),
            ("StatefulSet", &snap.statefulsets, "apps/v1"),
            ("Job", &snap.jobs, "batch/v1"),
        ] {
            for o in list {
                let ns = o["metadata"]["namespace"].as_str().unwrap_or("");
                let name = o["metadata"]["name"].as_str().unwrap_or("");
                let mine: Vec<&Pod> = self
                    .pods
                    .values()
                    .filter(|p| {
                        p.want.owner_kind == kind && p.want.owner == name && p.want.namespace == ns
                    })
                    .collect();
                let Some(status) = workload_status(
                    kind,
                    o,
                    &mine,
                    self.written.get(&format!("{kind}/{ns}/{name}")),
                ) else {
                    continue;
                };
                let key = format!("{kind}/{ns}/{name}");
                if !same(&o["status"], &status) {
                    updates.push((ObjRef::new(api, kind, ns, name), status.clone()));
                }
                self.written.insert(key, status);
            }
        }
        for (r, s) in updates {
            if let Err(e) = self.cluster.patch_status(&r, &s).await {
                log(
                    &self.cfg,
                    &format!("cannot write the status of {}: {e}", r.key()),
                );
            }
        }
    }

    /// Keeps a proxy on every Service address and port, to its ready pods.
    async fn serve(&mut self, snap: &Snapshot) {
        let mut want: HashMap<SocketAddr, Vec<SocketAddr>> = HashMap::new();
        for s in &snap.services {
            let ns = s["metadata"]["namespace"].as_str().unwrap_or("");
            let mut addrs: Vec<Ipv4Addr> = Vec::new();
            if let Some(ip) = s["spec"]["clusterIP"].as_str().and_then(|i| i.parse().ok()) {
                addrs.push(ip);
            }
            if s["spec"]["clusterIP"] == "None" {
                if let Some(name) = s["metadata"]["name"].as_str() {
                    addrs.push(self.headless_ip(ns, name));
                }
            }
            for ing in s["status"]["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(ip) = ing["ip"].as_str().and_then(|i| i.parse().ok()) {
                    addrs.push(ip);
                }
            }
            addrs.retain(|ip: &Ipv4Addr| ip.is_loopback());
            for port in s["spec"]["ports"].as_array().into_iter().flatten() {
                if port["protocol"].as_str().unwrap_or("TCP") != "TCP" {
                    continue;
                }
                let Some(p) = port["port"].as_u64() else {
                    continue;
                };
                let target = port.get("targetPort").cloned().unwrap_or(json!(p));
                let eps: Vec<SocketAddr> = self
                    .pods
                    .values()
                    .filter(|pod| pod.want.namespace == ns && pod.ready() && !pod.simulated())
                    .filter(|pod| pods::selects(&s["spec"]["selector"], &pod.want.labels))
                    .filter_map(|pod| {
                        Some(SocketAddr::from((
                            pod.ip,
                            pods::port_of(&target, &pod.want.spec)?,
                        )))
                    })
                    .collect();
                for ip in &addrs {
                    want.insert(SocketAddr::from((*ip, p as u16)), eps.clone());
                }
            }
        }
        self.proxies.retain(|addr, p| {
            let keep = want.contains_key(addr);
            if !keep {
                p.task.abort();
            }
            keep
        });
        for (addr, eps) in want {
            if let Some(p) = self.proxies.get(&addr) {
                if let Ok(mut e) = p.endpoints.lock() {
                    *e = eps;
                }
                continue;
            }
            let shared = Arc::new(Mutex::new(eps));
            match proxy(addr, shared.clone()).await {
                Ok(task) => {
                    self.bind_failures.remove(&addr);
                    self.proxies.insert(
                        addr,
                        Proxy {
                            endpoints: shared,
                            task,
                        },
                    );
                }
                Err(e) => {
                    if self.bind_failures.insert(addr) {
                        log(&self.cfg, &format!("cannot serve {addr}: {e}"));
                    }
                }
            }
        }
    }
}

/// Whether the live status already says what `want` says (timestamps aside).
fn same(live: &Value, want: &Value) -> bool {
    fn conditions(x: &Value) -> Vec<(String, String, String)> {
        x.as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let f = |k: &str| c[k].as_str().unwrap_or("").to_string();
                (f("type"), f("status"), f("reason"))
            })
            .collect()
    }
    let Some(w) = want.as_object() else {
        return true;
    };
    w.iter().all(|(k, v)| match k.as_str() {
        "startTime" | "completionTime" => true,
        "conditions" => conditions(&live[k]) == conditions(v),
        _ => &live[k] == v,
    })
}

fn cond(t: &str, s: bool, reason: &str, msg: &str, at: &str) -> Value {
    json!({"type": t, "status": if s { "True" } else { "False" }, "reason": reason, "message": msg,
        "lastUpdateTime": at, "lastTransitionTime": at})
}

/// The status a controller would write from the pods seen.
fn workload_status(kind: &str, o: &Value, pods: &[&Pod], before: Option<&Value>) -> Option<Value> {
    let gen = o["metadata"]["generation"].clone();
    let want = o["spec"]["replicas"].as_u64().unwrap_or(1);
    let tpl = pods::hash(&o["spec"]["template"].to_string());
    let current: Vec<&&Pod> = pods.iter().filter(|p| p.want.hash == tpl).collect();
    let ready_all = pods.iter().filter(|p| p.ready()).count() as u64;
    let ready_cur = current.iter().filter(|p| p.ready()).count() as u64;
    let at = now();
    let stamp = |name: &str| -> String {
        before
            .and_then(|b| b[name].as_str())
            .map(String::from)
            .unwrap_or_else(|| at.clone())
    };
    Some(match kind {
        "Deployment" => {
            let done =
                current.len() as u64 == want && ready_cur == want && pods.len() as u64 == want;
            json!({"observedGeneration": gen, "replicas": pods.len(), "updatedReplicas": current.len(),
                "readyReplicas": ready_all, "availableReplicas": ready_all,
                "unavailableReplicas": want.saturating_sub(ready_all),
                "conditions": [
                    cond("Available", ready_all >= want, if ready_all >= want { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" }, "from the local runtime's probes", &at),
                    cond("Progressing", true, if done { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" }, "from the local runtime's probes", &at)]})
        }
        "StatefulSet" => {
            let rev = format!("{}-{tpl}", o["metadata"]["name"].as_str().unwrap_or(""));
            let all_current = current.len() == pods.len();
            let cur_rev = if all_current {
                rev.clone()
            } else {
                format!("{rev}-old")
            };
            json!({"observedGeneration": gen, "replicas": pods.len(), "readyReplicas": ready_all,
                "availableReplicas": ready_all, "currentReplicas": current.len(), "updatedReplicas": current.len(),
                "currentRevision": cur_rev, "updateRevision": rev, "collisionCount": 0})
        }
        "Job" => {
            let p = pods.first()?;
            match &p.phase {
                Phase::Succeeded => {
                    json!({"succeeded": 1, "active": null, "startTime": stamp("startTime"),
                    "completionTime": p.finished_at.clone().unwrap_or_else(|| at.clone()),
                    "conditions": [cond("Complete", true, "", "", &at)]})
                }
                Phase::Failed(why) => {
                    json!({"failed": p.job_failures, "active": null, "startTime": stamp("startTime"),
                    "conditions": [cond("Failed", true, "BackoffLimitExceeded", why, &at)]})
                }
                _ => json!({"active": 1, "startTime": stamp("startTime")}),
            }
        }
        _ => return None,
    })
}

fn pod_status(p: &Pod) -> Value {
    let phase = match &p.phase {
        Phase::Init(_) => "Pending",
        Phase::Running => "Running",
        Phase::Succeeded => "Succeeded",
        Phase::Failed(_) => "Failed",
    };
    let statuses: Vec<Value> = p
        .main
        .iter()
        .map(|c| json!({"name": c.name, "ready": c.ready, "restartCount": c.restarts,
            "image": c.spec["image"], "imageID": "", "started": c.child.is_some() || matches!(c.adapter, Adapter::Simulated(_) | Adapter::TidbStandIn),
            "state": match (&c.refused, p.phase == Phase::Running) {
                (Some(why), _) => json!({"waiting": {"reason": "CrashLoopBackOff", "message": why}}),
                (None, true) => json!({"running": {"startedAt": p.started_at}}),
                (None, false) => json!({"waiting": {"reason": "PodInitializing"}}),
            },
            "lastState": match (&c.refused, c.exited) {
                (Some(why), Some(code)) => json!({"terminated": {"exitCode": code, "message": why}}),
                _ => json!({}),
            }}))
        .collect();
    json!({"phase": phase, "podIP": p.ip.to_string(), "podIPs": [{"ip": p.ip.to_string()}], "hostIP": "127.0.0.1",
        "startTime": p.started_at,
        "conditions": [{"type": "Ready", "status": if p.ready() { "True" } else { "False" }}],
        "containerStatuses": statuses})
}

/// A TiDB-tier stand-in's start: its command line and config read as the
/// real program reads them (`strict`). False while it is refused (it
/// "exits" with the program's message and status into its log, and starts
/// again after a back-off, as a crash-looping container); true once it
/// would start, and for every other container.
fn strict_start(cfg: &Config, key: &str, dir: &Path, c: &mut Ctr) -> bool {
    let Some(program) = c.program else {
        return true;
    };
    if c.checked {
        return true;
    }
    if Instant::now() < c.next_start {
        return false;
    }
    match crate::strict::refusal(
        crate::tidbcheck::Tables::shared(),
        program,
        &c.spec,
        &c.mounts,
        cfg.container_nofile,
    ) {
        None => {
            c.checked = true;
            c.refused = None;
            true
        }
        Some(r) => {
            log(
                cfg,
                &format!(
                    "pod {key}: container {} exited with {}: {}",
                    c.name, r.exit_code, r.message
                ),
            );
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("{}.log", c.name)))
            {
                use std::io::Write;
                let _ = writeln!(f, "{}", r.message);
            }
            c.ready = false;
            c.exited = Some(r.exit_code);
            c.refused = Some(r.message);
            c.next_start = Instant::now() + backoff(c.restarts);
            c.restarts += 1;
            false
        }
    }
}

fn backoff(restarts: u32) -> Duration {
    Duration::from_secs((1u64 << restarts.min(4)).min(10))
}

/// One supervision step of a pod: init containers in order, then the
/// containers; exits, restarts and probes.
async fn step(cfg: &Config, p: &mut Pod) {
    let job = p.want.owner_kind == "Job";
    let backoff_limit = 6;
    if let Phase::Init(i) = p.phase {
        if i >= p.init.len() {
            p.phase = Phase::Running;
        } else {
            let c = &mut p.init[i];
            match c.child.as_mut().map(|ch| ch.try_wait()) {
                None if Instant::now() >= c.next_start => match command(c, p.ip, &p.dir) {
                    Ok(Some(mut cmd)) => match cmd.spawn() {
                        Ok(ch) => c.child = Some(ch),
                        Err(e) => log(
                            cfg,
                            &format!("pod {}: init container {}: {e}", p.want.key(), c.name),
                        ),
                    },
                    Ok(None) => p.phase = Phase::Init(i + 1),
                    Err(e) => {
                        log(
                            cfg,
                            &format!("pod {}: init container {}: {e}", p.want.key(), c.name),
                        );
                        c.next_start = Instant::now() + backoff(c.restarts);
                        c.restarts += 1;
                    }
                },
                Some(Ok(Some(st))) => {
                    c.child = None;
                    if st.success() {
                        p.phase = Phase::Init(i + 1);
                    } else {
                        log(
                            cfg,
                            &format!(
                                "pod {}: init container {} exited with {st}",
                                p.want.key(),
                                c.name
                            ),
                        );
                        c.next_start = Instant::now() + backoff(c.restarts);
                        c.restarts += 1;
                    }
                }
                _ => {}
            }
            return;
        }
    }
    if p.phase != Phase::Running {
        return;
    }
    let spec = p.want.spec.clone();
    let ip = p.ip;
    let key = p.want.key();
    let mut all_done = true;
    for c in p.main.iter_mut() {
        if !strict_start(cfg, &key, &p.dir, c) {
            all_done = false;
            continue;
        }
        match &c.adapter {
            Adapter::Simulated(_) => {
                c.ready = true;
                c.exited = Some(0);
                continue;
            }
            Adapter::TidbStandIn => {
                all_done = false;
            }
            _ => {}
        }
        if !matches!(c.adapter, Adapter::TidbStandIn) {
            match c.child.as_mut().map(|ch| ch.try_wait()) {
                None if c.exited.is_none() => {
                    all_done = false;
                    if Instant::now() >= c.next_start {
                        match command(c, ip, &p.dir) {
                            Ok(Some(mut cmd)) => match cmd.spawn() {
                                Ok(ch) => {
                                    c.child = Some(ch);
                                    c.started = Instant::now();
                                    c.ready_fails = 0;
                                    c.live_fails = 0;
                                    let delay = |pr: &Value| {
                                        Duration::from_secs(
                                            pr["initialDelaySeconds"].as_u64().unwrap_or(0),
                                        )
                                    };
                                    c.next_ready =
                                        Instant::now() + delay(&c.spec["readinessProbe"]);
                                    c.next_live = Instant::now() + delay(&c.spec["livenessProbe"]);
                                }
                                Err(e) => {
                                    log(cfg, &format!("pod {key}: container {}: {e}", c.name))
                                }
                            },
                            Ok(None) => {}
                            Err(e) => {
                                log(cfg, &format!("pod {key}: container {}: {e}", c.name));
                                c.next_start = Instant::now() + backoff(c.restarts);
                                c.restarts += 1;
                            }
                        }
                    }
                    continue;
                }
                None => continue,
                Some(Ok(Some(st))) => {
                    c.child = None;
                    c.ready = false;
                    if job && st.success() {
                        c.exited = Some(0);
                        continue;
                    }
                    log(
                        cfg,
                        &format!(
                            "pod {key}: container {} exited with {st}; restarting",
                            c.name
                        ),
                    );
                    if job {
                        p.job_failures += 1;
                        if p.job_failures > backoff_limit {
                            p.phase = Phase::Failed(format!(
                                "container {} failed {} times",
                                c.name, p.job_failures
                            ));
                            return;
                        }
                    }
                    c.restarts += 1;
                    c.next_start = Instant::now() + backoff(c.restarts);
                    all_done = false;
                    continue;
                }
                _ => {}
            }
        }
        all_done = false;
        // probes of a running container
        let now = Instant::now();
        let rp = c.spec["readinessProbe"].clone();
        if now >= c.next_ready {
            let period = Duration::from_secs(rp["periodSeconds"].as_u64().unwrap_or(10).max(1));
            let ok = if rp.is_object() {
                probe(&rp, ip, &spec, c).await
            } else {
                true
            };
            // a ready container is probed every period; one not ready yet
            // every second (faster than a kubelet, which waits a period:
            // no demo should wait ten seconds for a page that is ready)
            c.next_ready = now
                + if ok {
                    period
                } else {
                    period.min(Duration::from_secs(1))
                };
            if ok {
                c.ready_fails = 0;
                c.ready = true;
            } else {
                c.ready_fails += 1;
                if c.ready_fails >= rp["failureThreshold"].as_u64().unwrap_or(3) as u32 {
                    c.ready = false;
                }
            }
        }
        let lp = c.spec["livenessProbe"].clone();
        if lp.is_object() && now >= c.next_live {
            c.next_live =
                now + Duration::from_secs(lp["periodSeconds"].as_u64().unwrap_or(10).max(1));
            if probe(&lp, ip, &spec, c).await {
                c.live_fails = 0;
            } else {
                c.live_fails += 1;
                if c.live_fails >= lp["failureThreshold"].as_u64().unwrap_or(3) as u32 {
                    log(cfg, &format!("pod {key}: container {} failed its liveness probe {} times; restarting", c.name, c.live_fails));
                    if let Some(mut ch) = c.child.take() {
                        tokio::task::block_in_place(|| kill(&mut ch));
                    }
                    c.ready = false;
                    c.restarts += 1;
                    c.next_start = Instant::now() + backoff(c.restarts);
                }
            }
        }
    }
    if job && all_done && p.main.iter().all(|c| c.exited == Some(0)) {
        p.phase = Phase::Succeeded;
        p.finished_at = Some(now());
        for c in p.main.iter_mut() {
            c.ready = false;
        }
        log(cfg, &format!("pod {key}: completed"));
    }
}
