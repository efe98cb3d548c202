//! The HTTPS server: how to start it ([`Options`], [`start`]), the running
//! server ([`Handle`], [`Observer`]), injected faults, the journal of writes,
//! and the state its tasks share: the store, which it settles, publishes to
//! watches and saves. Requests are served by the submodules: `dispatch`
//! (auth, faults, discovery, the `/_fake/` controls), `route` (paths to
//! resources), `resources` (the resource routes), `watch` (watch streams)
//! and `http` (request bodies, queries, responses); `schedule` runs the
//! simulated controllers after a write.

mod dispatch;
mod http;
mod resources;
mod route;
mod schedule;
mod watch;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, oneshot};

use crate::controllers::Behavior;
use crate::registry;
use crate::store::{Event, Store};

/// How to start a server.
#[derive(Clone, Debug)]
pub struct Options {
    /// 127.0.0.1:0 picks a free port.
    pub addr: SocketAddr,
    /// Bearer token with every right.
    pub token: String,
    /// Bearer token that may only read (writes get 403).
    pub readonly_token: Option<String>,
    /// Where objects persist across restarts (None: memory only).
    pub data_file: Option<PathBuf>,
    /// Where the CA lives across restarts (None: a fresh CA each start).
    pub cert_dir: Option<PathBuf>,
    /// Name of the cluster, context and user in the kubeconfig.
    pub name: String,
    pub behavior: Behavior,
    /// Delay before simulated controllers act.
    pub ready_delay: Duration,
    /// Added to every request (a cross-region round trip).
    pub latency: Duration,
    /// How many events watches can resume from (older resourceVersions get 410).
    pub event_log: usize,
    /// `A.B` (e.g. `127.11`): cluster IPs `A.B.1.N` and load balancer
    /// addresses `A.B.2.N`, all addresses of this machine (the local runtime
    /// serves them). None: `10.96.x.y` and `127.0.0.x`.
    pub ip_prefix: Option<String>,
    /// The site's PD, shared with the other regions' servers: PD and TiKV
    /// StatefulSets start only as it allows, and `/pd-ctl` Jobs run against
    /// it (see [`crate::pd`]). None: they are simply ready.
    pub pd: Option<Arc<crate::pd::FakePd>>,
    /// Every committed write of this server, in one order with the other
    /// servers sharing the journal (tests judge sequences with it, never
    /// with clocks). None: not kept.
    pub journal: Option<Arc<Journal>>,
    /// Images no node can pull. When not empty, StatefulSets get pods as
    /// their controller keeps them ([`crate::statefulsets`]), and a pod of
    /// one of these images is never Ready and never replaced.
    pub unpullable: Vec<String>,
}

/// Writes of several fake API servers in the one order they were made: a
/// server appends while it holds its store, so a write that followed
/// another (a client saw the first, then made the second) comes after it.
#[derive(Debug, Default)]
pub struct Journal(Mutex<Vec<Entry>>);

/// One committed write: which server, and the object as written.
#[derive(Clone, Debug)]
pub struct Entry {
    pub server: String,
    pub kind: &'static str,
    pub namespace: String,
    pub object: Value,
}

impl Journal {
    fn push(&self, e: Entry) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(e);
    }
    /// What was written so far, in order.
    pub fn entries(&self) -> Vec<Entry> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            addr: "127.0.0.1:0".parse().expect("addr"), // ok: a constant address literal
            token: "geowp-fake-admin".into(),
            readonly_token: Some("geowp-fake-readonly".into()),
            data_file: None,
            cert_dir: None,
            name: "fake".into(),
            behavior: Behavior::Ready,
            ready_delay: Duration::from_millis(100),
            latency: Duration::ZERO,
            event_log: 20_000,
            ip_prefix: None,
            pd: None,
            journal: None,
            unpullable: Vec::new(),
        }
    }
}

/// What an injected fault does to matching requests.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    /// Answer with this HTTP code and a Status body (429 gets plain text and Retry-After).
    Code(u16),
    /// Close the connection without answering.
    Drop,
}

#[derive(Clone, Debug)]
pub struct Fault {
    /// None matches every method.
    pub method: Option<String>,
    pub path_prefix: String,
    pub remaining: u32,
    pub action: FaultAction,
}

struct Shared {
    opts: Options,
    store: Mutex<Store>,
    events: broadcast::Sender<Arc<Event>>,
    faults: Mutex<Vec<Fault>>,
    latency: Mutex<Duration>,
    counts: Mutex<BTreeMap<String, u64>>,
    dirty: std::sync::atomic::AtomicBool,
}

/// A running server.
pub struct Handle {
    pub addr: SocketAddr,
    pub ca_pem: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read or write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the data file {path} is not a store this server wrote: {msg}")]
    Data { path: PathBuf, msg: String },
    #[error("cannot make certificates: {0}")]
    Cert(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StartError + '_ {
    move |source| StartError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Starts a server; it runs until [`Handle::stop`] (or drop of the runtime).
pub async fn start(opts: Options) -> Result<Handle, StartError> {
    let store = match &opts.data_file {
        Some(p) if p.exists() => {
            let b = std::fs::read(p).map_err(io_err(p))?;
            let v: Value = serde_json::from_slice(&b).map_err(|e| StartError::Data {
                path: p.clone(),
                msg: e.to_string(),
            })?;
            Store::load(&v)
        }
        _ => Store::new(),
    };
    let mut store = store;
    store.event_log = opts.event_log.max(1);
    store.ip_prefix = opts.ip_prefix.clone();
    let (ca_pem, tls) =
        crate::tls::server_config(opts.cert_dir.as_deref()).map_err(StartError::Cert)?;
    let listener = TcpListener::bind(opts.addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: opts.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: opts.addr,
        source,
    })?;
    let (events, _) = broadcast::channel(4096);
    let shared = Arc::new(Shared {
        latency: Mutex::new(opts.latency),
        opts,
        store: Mutex::new(store),
        events,
        faults: Mutex::new(Vec::new()),
        counts: Mutex::new(BTreeMap::new()),
        dirty: std::sync::atomic::AtomicBool::new(false),
    });
    {
        // a server started over existing data has a default namespace, as a cluster does
        let mut s = lock(&shared.store);
        let nsres = registry::find("", "v1", "namespaces").expect("namespaces"); // ok: namespaces is in the constant resource table
        for ns in ["default", "kube-system"] {
            if s.get(nsres, "", ns).is_err() {
                let _ = s.create(
                    nsres,
                    "",
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                    "kube-apiserver",
                );
            }
        }
        s.pending.clear();
    }
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let sh = shared.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                _ = &mut stop_rx => break,
                _ = tick.tick() => housekeeping(&sh),
                acc = listener.accept() => {
                    let Ok((tcp, _)) = acc else { continue };
                    let acceptor = acceptor.clone();
                    let sh = sh.clone();
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else { return };
                        let svc = hyper::service::service_fn(move |req| dispatch::handle(sh.clone(), req));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                            .await;
                    });
                }
            }
        }
        save(&sh);
    });
    Ok(Handle {
        addr,
        ca_pem,
        shared,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn housekeeping(sh: &Arc<Shared>) {
    {
        let mut s = lock(&sh.store);
        if s.settle() {
            publish(sh, &mut s);
        }
    }
    if sh.dirty.swap(false, std::sync::atomic::Ordering::Relaxed) {
        save(sh);
    }
}

fn save(sh: &Shared) {
    let Some(p) = &sh.opts.data_file else { return };
    let v = lock(&sh.store).save();
    let tmp = p.with_extension("tmp");
    if std::fs::write(&tmp, v.to_string()).is_ok() {
        let _ = std::fs::rename(&tmp, p);
    }
}

/// Sends the store's new events to watchers and schedules controllers.
fn publish(sh: &Arc<Shared>, s: &mut Store) {
    for ev in s.pending.drain(..) {
        if let Some(j) = &sh.opts.journal {
            j.push(Entry {
                server: sh.opts.name.clone(),
                kind: ev.kind,
                namespace: ev.namespace.clone(),
                object: ev.object.clone(),
            });
        }
        let _ = sh.events.send(Arc::new(ev));
    }
    sh.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// See [`Handle::observer`]. It keeps reading the store it was made from,
/// even after the server stopped.
#[derive(Clone)]
pub struct Observer(Arc<Shared>);

impl Observer {
    pub fn object(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let res = registry::by_kind(api_version, kind)?;
        lock(&self.0.store).get(res, ns, name).ok()
    }
}

/// Where a simulated pod keeps what its container printed (served as its log).
pub const POD_LOG: &str = "fake.geowp.dev/log";

impl Handle {
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
    pub fn token(&self) -> &str {
        &self.shared.opts.token
    }

    /// A kubeconfig for this server (admin token), as YAML.
    pub fn kubeconfig(&self) -> String {
        use base64::Engine;
        let n = &self.shared.opts.name;
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {n}\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: {n}-admin\n  user:\n    token: {}\ncontexts:\n- name: {n}\n  context:\n    cluster: {n}\n    user: {n}-admin\ncurrent-context: {n}\n",
            self.url(),
            base64::engine::general_purpose::STANDARD.encode(&self.ca_pem),
            self.shared.opts.token
        )
    }

    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }
    pub fn set_latency(&self, d: Duration) {
        *lock(&self.shared.latency) = d;
    }
    /// Requests served so far, by "METHOD /path" (paths without query).
    pub fn requests(&self) -> BTreeMap<String, u64> {
        lock(&self.shared.counts).clone()
    }
    pub fn request_count(&self) -> u64 {
        lock(&self.shared.counts).values().sum()
    }
    pub fn reset_counts(&self) {
        lock(&self.shared.counts).clear();
    }
    /// A copy of an object, bypassing HTTP (for test assertions).
    pub fn object(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let res = registry::by_kind(api_version, kind)?;
        lock(&self.shared.store).get(res, ns, name).ok()
    }
    /// A read-only view of the store another thread can keep (a test's
    /// observer recording when objects change).
    pub fn observer(&self) -> Observer {
        Observer(self.shared.clone())
    }
    /// Every object in the store.
    pub fn objects(&self) -> Vec<Value> {
        lock(&self.shared.store)
            .all()
            .map(|(_, _, v)| v.clone())
            .collect()
    }

    /// Stops serving and writes the data file.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}
