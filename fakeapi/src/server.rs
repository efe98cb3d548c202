//! The HTTPS server: bearer-token auth, discovery, the resource routes
//! (get, list, watch, create, replace, merge patch, server-side apply,
//! delete, status subresources), fault and latency injection, simulated
//! controllers, and persistence of the store.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::controllers::{self, Behavior};
use crate::registry::{self, Resource};
use crate::select;
use crate::store::{ApiError, Deleted, Event, Store};

type Body = BoxBody<Bytes, std::io::Error>;

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
                        let svc = hyper::service::service_fn(move |req| handle(sh.clone(), req));
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

fn schedule_controller(sh: &Arc<Shared>, res: &'static Resource, obj: &Value) {
    if !controllers::controlled(res.kind, obj) || !obj["metadata"]["deletionTimestamp"].is_null() {
        return;
    }
    let b = controllers::behavior_of(obj, sh.opts.behavior);
    let delay = controllers::delay_of(obj, sh.opts.ready_delay);
    let ns = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let gen = obj["metadata"]["generation"].clone();
    let sh = sh.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        // a process the fake PD refused restarts, as a crash-looping pod
        // would, until it starts or the object changes
        for _ in 0..600 {
            let retry = {
                let mut s = lock(&sh.store);
                let Ok(cur) = s.get(res, &ns, &name) else {
                    return;
                };
                if cur["metadata"]["generation"] != gen {
                    return; // a newer write scheduled its own pass
                }
                let mut now = if b == controllers::Behavior::Ready {
                    run_against_pd(sh.opts.pd.as_deref(), &mut s, res.kind, &cur)
                } else {
                    b
                };
                if now == controllers::Behavior::Ready
                    && res.kind == "StatefulSet"
                    && !sh.opts.unpullable.is_empty()
                    && !crate::statefulsets::step(&mut s, &cur, &sh.opts.unpullable)
                {
                    now = controllers::Behavior::NeverReady;
                }
                if let Some(status) = controllers::status_for(res.kind, &cur, now) {
                    if !controllers::same_status(&cur["status"], &status)
                        && s.set_status(res, &ns, &name, status).is_ok()
                    {
                        publish(&sh, &mut s);
                    }
                }
                b == controllers::Behavior::Ready && now == controllers::Behavior::NeverReady
            };
            if !retry {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

/// With a fake PD: a PD or TiKV StatefulSet is ready only if PD lets its
/// process start; a `/pd-ctl` Job's command runs against PD, its output the
/// log of a Pod the Job controller makes (`job-name` label, as the real one;
/// an empty log without a fake PD).
fn run_against_pd(
    pd: Option<&crate::pd::FakePd>,
    s: &mut Store,
    kind: &str,
    obj: &Value,
) -> controllers::Behavior {
    use controllers::Behavior;
    let c0 = &obj["spec"]["template"]["spec"]["containers"][0];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(String::from))
            .collect()
    };
    let labels = &obj["metadata"]["labels"];
    let component = labels[geowp_common::names::label::COMPONENT]
        .as_str()
        .unwrap_or("");
    match (kind, component, pd) {
        ("StatefulSet", "pd", Some(pd)) => {
            match pd.start_pd(&strings(&c0["args"]), c0["image"].as_str().unwrap_or("")) {
                Ok(()) => Behavior::Ready,
                Err(_) => Behavior::NeverReady,
            }
        }
        ("StatefulSet", "tikv", Some(pd)) => {
            let zone = labels[geowp_common::names::label::MEMBER]
                .as_str()
                .unwrap_or("");
            match pd.start_tikv(
                &strings(&c0["args"]),
                zone,
                c0["image"].as_str().unwrap_or(""),
            ) {
                Ok(()) => Behavior::Ready,
                Err(_) => Behavior::NeverReady,
            }
        }
        // a Job that completed stays completed (its template cannot change):
        // writing it again, even unchanged, runs nothing
        ("Job", _, _) if obj["status"]["succeeded"].as_i64().unwrap_or(0) > 0 => Behavior::Ready,
        ("Job", _, pd) => {
            let cmd = strings(&c0["command"]);
            if cmd.first().map(String::as_str) != Some("/pd-ctl") {
                return Behavior::Ready;
            }
            // without a fake PD, pd-ctl prints nothing
            let out = pd.map(|pd| pd.ctl(&cmd[1..])).unwrap_or_default();
            let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
            let job = obj["metadata"]["name"].as_str().unwrap_or("");
            let pod = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{job}-{}", &crate::store::now().replace([':', '-', 'T', 'Z'], "")[8..]),
                    "namespace": ns, "labels": {"job-name": job},
                    "annotations": {POD_LOG: out},
                    "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job,
                        "uid": obj["metadata"]["uid"], "controller": true}]},
                "spec": obj["spec"]["template"]["spec"].clone(),
                "status": {"phase": "Succeeded"}});
            if let Some(res) = registry::find("", "v1", "pods") {
                let _ = s.create(res, ns, pod, "kube-controller-manager");
            }
            Behavior::Ready
        }
        _ => Behavior::Ready,
    }
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

// ---------------------------------------------------------------- HTTP

fn full(code: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("Content-Type", content_type)
        .body(
            Full::new(body.into())
                .map_err(|never: Infallible| match never {})
                .boxed(),
        )
        .expect("response") // ok: a status and header set from constants
}

fn json_resp(code: u16, v: &Value) -> Response<Body> {
    full(
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        "application/json",
        v.to_string(),
    )
}

fn err_resp(e: &ApiError) -> Response<Body> {
    json_resp(e.code, &e.status())
}

fn too_many(retry_after: u32) -> Response<Body> {
    let mut r = full(
        StatusCode::TOO_MANY_REQUESTS,
        "text/plain; charset=utf-8",
        "Too many requests, please try again later.\n",
    );
    r.headers_mut().insert("Retry-After", retry_after.into());
    r
}

fn query(q: Option<&str>) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        m.insert(pct_decode(k), pct_decode(v));
    }
    m
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(x) => {
                        out.push(x);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(sh: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, std::io::Error> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    *lock(&sh.counts)
        .entry(format!("{method} {path}"))
        .or_default() += 1;
    let latency = *lock(&sh.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = {
        let mut faults = lock(&sh.faults);
        let hit = faults.iter_mut().find(|f| {
            f.remaining > 0
                && f.method.as_deref().is_none_or(|m| m == method.as_str())
                && path.starts_with(&f.path_prefix)
        });
        let action = hit.map(|f| {
            f.remaining -= 1;
            f.action.clone()
        });
        faults.retain(|f| f.remaining > 0);
        action
    };
    match fault {
        Some(FaultAction::Drop) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "injected: connection dropped",
            ))
        }
        Some(FaultAction::Code(429)) => return Ok(too_many(1)),
        Some(FaultAction::Code(c)) => {
            let reason = match c {
                500 => "InternalError",
                503 => "ServiceUnavailable",
                504 => "Timeout",
                409 => "Conflict",
                404 => "NotFound",
                403 => "Forbidden",
                _ => "InternalError",
            };
            return Ok(err_resp(&ApiError::new(
                c,
                reason,
                format!("injected fault: {c} for {method} {path}"),
            )));
        }
        None => {}
    }
    if matches!(path.as_str(), "/healthz" | "/livez" | "/readyz") {
        return Ok(full(StatusCode::OK, "text/plain", "ok"));
    }
    if path == "/version" {
        return Ok(json_resp(
            200,
            &json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-geowp-fake", "platform": "linux/amd64", "goVersion": "go1.23"}),
        ));
    }
    // authentication, then authorization
    let token = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    let admin = token == Some(sh.opts.token.as_str());
    let readonly = sh
        .opts
        .readonly_token
        .as_deref()
        .is_some_and(|t| token == Some(t));
    if !admin && !readonly {
        return Ok(err_resp(&ApiError::new(
            401,
            "Unauthorized",
            "Unauthorized",
        )));
    }
    if readonly && !matches!(method, Method::GET | Method::HEAD) {
        return Ok(err_resp(&ApiError::new(
            403,
            "Forbidden",
            format!(
                "{} is forbidden: User \"geowp-readonly\" cannot {} this resource",
                path,
                method.as_str().to_lowercase()
            ),
        )));
    }
    if path == "/openapi/v2" {
        // kubectl apply --server-side needs an answer; an empty document disables client-side validation
        return Ok(full(
            StatusCode::OK,
            "application/octet-stream",
            Bytes::new(),
        ));
    }
    if let Some(doc) = registry::discovery(&path) {
        return Ok(json_resp(200, &doc));
    }
    if let Some(rest) = path.strip_prefix("/_fake/") {
        return Ok(admin_api(&sh, rest, req).await);
    }
    let Some(route) = route(&path) else {
        return Ok(err_resp(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )));
    };
    let q = query(req.uri().query());
    Ok(resource_api(sh, route, method, q, req).await)
}

#[derive(Debug)]
struct Route {
    res: &'static Resource,
    ns: Option<String>,
    name: Option<String>,
    status: bool,
    /// The `scale` subresource (what `kubectl scale` uses).
    scale: bool,
    /// A pod's `log` subresource.
    log: bool,
}

fn route(path: &str) -> Option<Route> {
    let (group, rest) = if let Some(r) = path.strip_prefix("/api/v1/") {
        ("", r)
    } else {
        let r = path.strip_prefix("/apis/")?;
        let mut it = r.splitn(3, '/');
        let g = it.next()?;
        if it.next()? != "v1" {
            return None;
        }
        let g: &'static str = registry::GROUPS.iter().find(|x| **x == g)?;
        (g, it.next()?)
    };
    let seg: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let find = |p: &str| registry::find(group, "v1", p);
    let r = |res, ns: Option<&str>, name: Option<&str>, status| {
        Some(Route {
            res,
            ns: ns.map(String::from),
            name: name.map(String::from),
            status,
            scale: false,
            log: false,
        })
    };
    let scalable = |p: &str| matches!(p, "deployments" | "statefulsets" | "replicasets");
    match seg.as_slice() {
        ["namespaces", ns, plural, name, "scale"] if scalable(plural) => Some(Route {
            res: find(plural)?,
            ns: Some(ns.to_string()),
            name: Some(name.to_string()),
            status: false,
            scale: true,
            log: false,
        }),
        ["namespaces", ns, "pods", name, "log"] if group.is_empty() => Some(Route {
            res: find("pods")?,
            ns: Some(ns.to_string()),
            name: Some(name.to_string()),
            status: false,
            scale: false,
            log: true,
        }),
        ["namespaces", ns, plural] if group.is_empty() && *plural == "status" => {
            r(find("namespaces")?, None, Some(ns), true)
        }
        ["namespaces", ns, plural] if find(plural).is_some_and(|x| x.namespaced) => {
            r(find(plural)?, Some(ns), None, false)
        }
        ["namespaces", ns, plural, name] if find(plural).is_some_and(|x| x.namespaced) => {
            r(find(plural)?, Some(ns), Some(name), false)
        }
        ["namespaces", ns, plural, name, "status"]
            if find(plural).is_some_and(|x| x.namespaced) =>
        {
            r(find(plural)?, Some(ns), Some(name), true)
        }
        [plural] => r(find(plural)?, None, None, false),
        [plural, name] if find(plural).is_some_and(|x| !x.namespaced) => {
            r(find(plural)?, None, Some(name), false)
        }
        [plural, name, "status"] if find(plural).is_some_and(|x| !x.namespaced) => {
            r(find(plural)?, None, Some(name), true)
        }
        _ => None,
    }
}

fn manager_of(q: &BTreeMap<String, String>, headers: &hyper::HeaderMap) -> String {
    if let Some(m) = q.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    // like the real server: the user agent's program name
    headers
        .get("user-agent")
        .and_then(|h| h.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

async fn read_body(req: Request<Incoming>) -> Result<(hyper::HeaderMap, Bytes), ApiError> {
    let headers = req.headers().clone();
    let b = req
        .into_body()
        .collect()
        .await
        .map_err(|e| ApiError::new(400, "BadRequest", format!("reading the body: {e}")))?
        .to_bytes();
    if b.len() > 16 << 20 {
        return Err(ApiError::new(
            413,
            "RequestEntityTooLarge",
            "request body too large",
        ));
    }
    Ok((headers, b))
}

/// The request's body as a JSON object (JSON or YAML), with its headers.
async fn read_object(req: Request<Incoming>) -> Result<(hyper::HeaderMap, Value), ApiError> {
    let (headers, b) = read_body(req).await?;
    let v = parse_body(&headers, &b)?;
    Ok((headers, v))
}

fn parse_body(headers: &hyper::HeaderMap, b: &[u8]) -> Result<Value, ApiError> {
    let ct = headers
        .get("content-type")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("application/json");
    if ct.contains("protobuf") {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "this fake API server reads JSON and YAML bodies only, not protobuf (which kubectl's `create <type>` subcommands send); use `kubectl apply` or `kubectl create -f FILE`",
        ));
    }
    let v: Value = if ct.contains("yaml") {
        serde_yaml::from_slice(b)
            .map_err(|e| ApiError::new(400, "BadRequest", format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(b)
            .map_err(|e| ApiError::new(400, "BadRequest", format!("error decoding JSON: {e}")))?
    };
    if !v.is_object() {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "the body must be an object",
        ));
    }
    Ok(v)
}

/// The autoscaling/v1 Scale view of a workload.
fn scale_of(o: &Value) -> Value {
    let sel = o["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": o["metadata"]["name"], "namespace": o["metadata"]["namespace"], "uid": o["metadata"]["uid"],
            "resourceVersion": o["metadata"]["resourceVersion"], "creationTimestamp": o["metadata"]["creationTimestamp"]},
        "spec": {"replicas": o["spec"]["replicas"]},
        "status": {"replicas": o["status"]["replicas"].as_i64().unwrap_or(0), "selector": sel}})
}

async fn scale_api(
    sh: Arc<Shared>,
    rt: Route,
    method: Method,
    q: BTreeMap<String, String>,
    req: Request<Incoming>,
) -> Response<Body> {
    let (res, ns, name) = (
        rt.res,
        rt.ns.unwrap_or_default(),
        rt.name.unwrap_or_default(),
    );
    if method == Method::GET {
        return match lock(&sh.store).get(res, &ns, &name) {
            Ok(o) => json_resp(200, &scale_of(&o)),
            Err(e) => err_resp(&e),
        };
    }
    if !matches!(method, Method::PATCH | Method::PUT) {
        return err_resp(&ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported on {}/scale", res.plural),
        ));
    }
    let (headers, body) = match read_object(req).await {
        Ok(x) => x,
        Err(e) => return err_resp(&e),
    };
    let Some(replicas) = body["spec"]["replicas"].as_i64() else {
        return err_resp(&ApiError::new(
            422,
            "Invalid",
            "Scale.autoscaling is invalid: spec.replicas: Required value",
        ));
    };
    let manager = manager_of(&q, &headers);
    let mut s = lock(&sh.store);
    let r = s.merge_patch(
        res,
        &ns,
        &name,
        &json!({"spec": {"replicas": replicas}}),
        &manager,
        false,
        false,
    );
    if let Ok(o) = &r {
        schedule_controller(&sh, res, o);
    }
    publish(&sh, &mut s);
    match r {
        Ok(o) => json_resp(200, &scale_of(&o)),
        Err(e) => err_resp(&e),
    }
}

async fn resource_api(
    sh: Arc<Shared>,
    rt: Route,
    method: Method,
    q: BTreeMap<String, String>,
    req: Request<Incoming>,
) -> Response<Body> {
    if rt.scale {
        return scale_api(sh, rt, method, q, req).await;
    }
    if rt.log {
        let got = lock(&sh.store).get(
            rt.res,
            rt.ns.as_deref().unwrap_or(""),
            rt.name.as_deref().unwrap_or(""),
        );
        return match got {
            Ok(pod) => {
                let text = pod["metadata"]["annotations"][POD_LOG]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                full(StatusCode::OK, "text/plain", text)
            }
            Err(e) => err_resp(&e),
        };
    }
    let res = rt.res;
    let ns = rt.ns.clone().unwrap_or_default();
    if res.namespaced && rt.name.is_some() && rt.ns.is_none() {
        return err_resp(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    match (method.clone(), rt.name.clone()) {
        (Method::GET, None) => {
            if matches!(q.get("watch").map(String::as_str), Some("true") | Some("1")) {
                return watch(sh, res, rt.ns, q);
            }
            let labels =
                match select::parse(q.get("labelSelector").map(String::as_str).unwrap_or("")) {
                    Ok(l) => l,
                    Err(e) => {
                        return err_resp(&ApiError::new(
                            400,
                            "BadRequest",
                            format!("unable to parse labelSelector: {e}"),
                        ))
                    }
                };
            let fields =
                match select::parse(q.get("fieldSelector").map(String::as_str).unwrap_or("")) {
                    Ok(f) => f,
                    Err(e) => {
                        return err_resp(&ApiError::new(
                            400,
                            "BadRequest",
                            format!("unable to parse fieldSelector: {e}"),
                        ))
                    }
                };
            let s = lock(&sh.store);
            let items: Vec<Value> = s
                .list(res, rt.ns.as_deref())
                .into_iter()
                .filter(|o| {
                    select::matches(&labels, select::label_getter(o))
                        && select::matches(&fields, select::field_getter(o))
                })
                .collect();
            json_resp(
                200,
                &json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(),
                "metadata": {"resourceVersion": s.resource_version().to_string()}, "items": items}),
            )
        }
        (Method::GET, Some(name)) => match lock(&sh.store).get(res, &ns, &name) {
            Ok(o) => json_resp(200, &o),
            Err(e) => err_resp(&e),
        },
        (Method::POST, None) => {
            let (headers, body) = match read_object(req).await {
                Ok(x) => x,
                Err(e) => return err_resp(&e),
            };
            let manager = manager_of(&q, &headers);
            let mut s = lock(&sh.store);
            let r = s.create(res, &ns, body, &manager);
            if let Ok(o) = &r {
                schedule_controller(&sh, res, o);
            }
            publish(&sh, &mut s);
            match r {
                Ok(o) => json_resp(201, &o),
                Err(e) => err_resp(&e),
            }
        }
        (Method::PUT, Some(name)) => {
            let (headers, body) = match read_object(req).await {
                Ok(x) => x,
                Err(e) => return err_resp(&e),
            };
            let manager = manager_of(&q, &headers);
            let mut s = lock(&sh.store);
            let r = s.replace(res, &ns, &name, body, &manager, rt.status);
            if let (Ok(o), false) = (&r, rt.status) {
                schedule_controller(&sh, res, o);
            }
            publish(&sh, &mut s);
            match r {
                Ok(o) => json_resp(200, &o),
                Err(e) => err_resp(&e),
            }
        }
        (Method::PATCH, Some(name)) => {
            let (headers, body) = match read_object(req).await {
                Ok(x) => x,
                Err(e) => return err_resp(&e),
            };
            let ct = headers
                .get("content-type")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .to_string();
            let mut s = lock(&sh.store);
            let r = if ct.starts_with("application/apply-patch") {
                let force = matches!(q.get("force").map(String::as_str), Some("true") | Some("1"));
                let manager = q.get("fieldManager").cloned().unwrap_or_default();
                s.apply(res, &ns, &name, body, &manager, force)
            } else if ct.starts_with("application/merge-patch+json")
                || ct.starts_with("application/strategic-merge-patch+json")
            {
                let manager = manager_of(&q, &headers);
                let strategic = ct.starts_with("application/strategic-merge-patch+json");
                s.merge_patch(res, &ns, &name, &body, &manager, rt.status, strategic)
                    .map(|o| (o, false))
            } else {
                Err(ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})")))
            };
            if let (Ok((o, _)), false) = (&r, rt.status) {
                schedule_controller(&sh, res, o);
            }
            publish(&sh, &mut s);
            match r {
                Ok((o, created)) => json_resp(if created { 201 } else { 200 }, &o),
                Err(e) => err_resp(&e),
            }
        }
        (Method::DELETE, Some(name)) => {
            let (headers, b) = match read_body(req).await {
                Ok(x) => x,
                Err(e) => return err_resp(&e),
            };
            let opts: Value = if b.is_empty() {
                Value::Null
            } else {
                parse_body(&headers, &b).unwrap_or(Value::Null)
            };
            let policy = q
                .get("propagationPolicy")
                .cloned()
                .or_else(|| opts["propagationPolicy"].as_str().map(String::from))
                .unwrap_or_else(|| "Background".into());
            let uid = opts["preconditions"]["uid"].as_str().map(String::from);
            let mut s = lock(&sh.store);
            let r = s.delete(res, &ns, &name, &policy, uid.as_deref());
            publish(&sh, &mut s);
            match r {
                Ok(Deleted::Pending(o)) => json_resp(200, &o),
                Ok(Deleted::Gone(o)) if matches!(res.kind, "Service" | "Pod") => json_resp(200, &o),
                Ok(Deleted::Gone(o)) => json_resp(
                    200,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "group": res.group, "kind": res.plural, "uid": o["metadata"]["uid"]}}),
                ),
                Err(e) => err_resp(&e),
            }
        }
        _ => err_resp(&ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported on {}", res.plural),
        )),
    }
}

fn watch(
    sh: Arc<Shared>,
    res: &'static Resource,
    ns: Option<String>,
    q: BTreeMap<String, String>,
) -> Response<Body> {
    let labels =
        select::parse(q.get("labelSelector").map(String::as_str).unwrap_or("")).unwrap_or_default();
    let fields =
        select::parse(q.get("fieldSelector").map(String::as_str).unwrap_or("")).unwrap_or_default();
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(256);
    let line = |kind: &str, obj: &Value| {
        Ok(Frame::data(Bytes::from(format!(
            "{}\n",
            json!({"type": kind, "object": obj})
        ))))
    };
    let matches = move |o: &Value| {
        select::matches(&labels, select::label_getter(o))
            && select::matches(&fields, select::field_getter(o))
    };
    let (initial, mut sub, expired) = {
        let s = lock(&sh.store);
        let sub = sh.events.subscribe();
        match q.get("resourceVersion").map(String::as_str) {
            None | Some("") | Some("0") => {
                let init: Vec<(String, Value)> = s
                    .list(res, ns.as_deref())
                    .into_iter()
                    .filter(|o| matches(o))
                    .map(|o| ("ADDED".to_string(), o))
                    .collect();
                (init, sub, false)
            }
            Some(rv) => match rv
                .parse::<u64>()
                .ok()
                .and_then(|rv| s.events_since(rv, res, ns.as_deref()))
            {
                Some(evs) => (
                    evs.into_iter()
                        .filter(|e| matches(&e.object))
                        .map(|e| (e.kind.to_string(), e.object))
                        .collect(),
                    sub,
                    false,
                ),
                None => (vec![], sub, true),
            },
        }
    };
    let last_rv = initial.last().and_then(|(_, o)| {
        o["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|r| r.parse::<u64>().ok())
    });
    tokio::spawn(async move {
        if expired {
            let st = ApiError::new(410, "Expired", "too old resource version").status();
            let _ = tx.send(line("ERROR", &st)).await;
            return;
        }
        let mut seen = last_rv.unwrap_or(0);
        for (k, o) in initial {
            if tx.send(line(&k, &o)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                ev = sub.recv() => match ev {
                    Ok(e) => {
                        if e.rv <= seen || e.group != res.group || e.plural != res.plural || ns.as_deref().is_some_and(|n| n != e.namespace) || !matches(&e.object) {
                            continue;
                        }
                        seen = e.rv;
                        if tx.send(line(e.kind, &e.object)).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let st = ApiError::new(410, "Expired", "watch fell behind; list again").status();
                        let _ = tx.send(line("ERROR", &st)).await;
                        return;
                    }
                    Err(_) => return,
                }
            }
        }
    });
    let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .header("Transfer-Encoding", "chunked")
        .body(BodyExt::boxed(body))
        .expect("watch response") // ok: a status and header set from constants
}

/// Test and demo controls: `POST /_fake/faults`, `POST /_fake/latency`, `GET /_fake/stats`.
async fn admin_api(sh: &Arc<Shared>, rest: &str, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let body: Value = match read_body(req).await {
        Ok((_, b)) if !b.is_empty() => serde_json::from_slice(&b).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    match (method, rest) {
        (Method::POST, "faults") => {
            let action = if body["drop"].as_bool() == Some(true) {
                FaultAction::Drop
            } else {
                FaultAction::Code(body["code"].as_u64().unwrap_or(500) as u16)
            };
            lock(&sh.faults).push(Fault {
                method: body["method"].as_str().map(String::from),
                path_prefix: body["pathPrefix"].as_str().unwrap_or("/").to_string(),
                remaining: body["count"].as_u64().unwrap_or(1) as u32,
                action,
            });
            json_resp(200, &json!({"ok": true}))
        }
        (Method::POST, "latency") => {
            *lock(&sh.latency) = Duration::from_millis(body["ms"].as_u64().unwrap_or(0));
            json_resp(200, &json!({"ok": true}))
        }
        (Method::GET, "stats") => {
            let c = lock(&sh.counts).clone();
            json_resp(
                200,
                &json!({"requests": c.values().sum::<u64>(), "byRequest": c}),
            )
        }
        _ => err_resp(&ApiError::new(404, "NotFound", "no such control")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_cover_core_group_namespaced_cluster_scoped_and_status() {
        let r = route("/api/v1/namespaces/web/services/wp").unwrap();
        assert_eq!(
            (r.res.plural, r.ns.as_deref(), r.name.as_deref(), r.status),
            ("services", Some("web"), Some("wp"), false)
        );
        let r = route("/apis/apps/v1/namespaces/web/deployments/wp/status").unwrap();
        assert!(r.status && r.res.kind == "Deployment");
        let r = route("/api/v1/namespaces/web").unwrap();
        assert_eq!(
            (r.res.plural, r.name.as_deref()),
            ("namespaces", Some("web"))
        );
        let r = route("/apis/storage.k8s.io/v1/storageclasses/nfs").unwrap();
        assert_eq!(r.name.as_deref(), Some("nfs"));
        let r = route("/apis/apps/v1/deployments").unwrap();
        assert!(r.ns.is_none() && r.name.is_none());
        assert!(route("/apis/apps/v2/deployments").is_none());
        assert!(route("/api/v1/nonsense").is_none());
    }

    #[test]
    fn queries_with_empty_pairs_and_escapes() {
        let q = query(Some("&labelSelector=app%3Dweb%2Ctier+in+(a)&&watch=1"));
        assert_eq!(q["labelSelector"], "app=web,tier in (a)");
        assert_eq!(q["watch"], "1");
    }
}
