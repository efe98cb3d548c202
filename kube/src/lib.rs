//! geowp-kube: talking to a cluster. Connect from resource attributes (or a
//! kubeconfig), server-side apply, get, list, delete with a uid
//! precondition, and watch-based waits on small named conditions
//! ([`conditions`]). Every call is bounded by the operation's deadline and
//! its cancellation, so a dead cluster fails within the resource's timeout
//! with a message naming it, even though kube-rs retries some errors itself.
//!
//! What to apply is an [`Obj`]: its identity ([`ObjRef`]) comes from the
//! typed object itself (kind, name, namespace, scope), and so does its
//! [`Wave`], the dependency order it is applied in.
//!
//! # Caveats
//! Connecting never contacts the cluster: the first request does. Errors
//! keep kube's error as their `#[source]`; print them with
//! [`geowp_common::error_chain`] to show the cause.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, Preconditions};
use kube::core::{ApiResource, GroupVersionKind};
use kube::Client;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub mod conditions;
pub mod converge;
pub mod pem;

pub use conditions::{Condition, Readiness};
pub use geowp_common::names::FIELD_MANAGER;

/// Where an object is: enough to get, delete or wait for it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjRef {
    pub api_version: String,
    pub kind: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

impl ObjRef {
    pub fn new(api_version: &str, kind: &str, namespace: &str, name: &str) -> ObjRef {
        ObjRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// `Kind/name`: unique among a stack's objects, and what users read.
    pub fn key(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

impl std::fmt::Display for ObjRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

/// The dependency order objects are applied in (and removed in reverse):
/// what others refer to comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Wave {
    /// The namespace and cluster-scoped objects (storage classes, cluster roles).
    Cluster,
    /// Accounts, roles, secrets, config maps, services, claims, policies.
    Config,
    /// Workloads: deployments, stateful sets, jobs.
    Workload,
}

impl Wave {
    pub const ALL: [Wave; 3] = [Wave::Cluster, Wave::Config, Wave::Workload];

    /// The wave of an object of `kind`.
    pub fn of(kind: &str, cluster_scoped: bool) -> Wave {
        match kind {
            _ if cluster_scoped => Wave::Cluster,
            "Namespace" => Wave::Cluster,
            "Deployment" | "StatefulSet" | "Job" | "CronJob" | "DaemonSet" => Wave::Workload,
            _ => Wave::Config,
        }
    }
}

/// One Kubernetes object to apply, with what the provider needs to know
/// about it besides its body.
#[derive(Clone, Debug, PartialEq)]
pub struct Obj {
    pub id: ObjRef,
    /// Its data must never be shown (Secrets): drift says only "changed".
    pub secret: bool,
    /// Applied only when missing (identities must not be regenerated).
    pub create_only: bool,
    pub body: Value,
}

impl Obj {
    /// An object from its typed form: kind, name, namespace and scope come
    /// from the object itself.
    pub fn new<T>(o: &T) -> Obj
    where
        T: k8s_openapi::Resource
            + k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>
            + serde::Serialize,
        T::Scope: 'static,
    {
        let meta = o.metadata();
        let cluster_scoped = std::any::TypeId::of::<T::Scope>()
            == std::any::TypeId::of::<k8s_openapi::ClusterResourceScope>();
        let body = json_value(o);
        Obj {
            id: ObjRef {
                api_version: T::API_VERSION.into(),
                kind: T::KIND.into(),
                namespace: if cluster_scoped {
                    String::new()
                } else {
                    meta.namespace.clone().unwrap_or_default()
                },
                name: meta.name.clone().unwrap_or_default(),
            },
            secret: T::KIND == "Secret",
            create_only: false,
            body,
        }
    }

    /// Applied only if it does not exist yet.
    pub fn create_only(mut self) -> Obj {
        self.create_only = true;
        self
    }

    /// A raw object (for writes that set only a few fields).
    pub fn raw(id: ObjRef, body: Value) -> Obj {
        Obj {
            secret: id.kind == "Secret",
            id,
            create_only: false,
            body,
        }
    }

    /// A Job of the CronJob `cron`'s template named `name` (as `kubectl
    /// create job --from=cronjob/NAME` makes it), with `env` added to each
    /// of its containers.
    pub fn job_from_cronjob(cron: &Value, name: &str, env: &[(&str, &str)]) -> Option<Obj> {
        let ns = cron["metadata"]["namespace"].as_str()?;
        let mut spec = cron["spec"]["jobTemplate"]["spec"].clone();
        if !spec.is_object() {
            return None;
        }
        let pod = &mut spec["template"]["spec"];
        for list in ["initContainers", "containers"] {
            for c in pod[list].as_array_mut().into_iter().flatten() {
                let vars = c["env"].as_array().cloned().unwrap_or_default();
                let mut vars: Vec<Value> = vars
                    .into_iter()
                    .filter(|v| !env.iter().any(|(k, _)| v["name"] == *k))
                    .collect();
                vars.extend(
                    env.iter()
                        .map(|(k, v)| serde_json::json!({"name": k, "value": v})),
                );
                c["env"] = Value::Array(vars);
            }
        }
        let mut labels = spec["template"]["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = serde_json::json!({});
        }
        labels[geowp_common::names::label::MANAGED_BY] =
            serde_json::json!(geowp_common::names::label::MANAGED_BY_VALUE);
        let body = serde_json::json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": labels,
                "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
            },
            "spec": spec,
        });
        Some(Obj::raw(ObjRef::new("batch/v1", "Job", ns, name), body))
    }

    pub fn key(&self) -> String {
        self.id.key()
    }

    pub fn wave(&self) -> Wave {
        Wave::of(&self.id.kind, self.id.namespace.is_empty())
    }
}

/// How to reach a cluster, from a resource's `cluster` settings.
#[derive(Clone, Default, PartialEq)]
pub struct Connection {
    pub host: Option<String>,
    pub ca_pem: Option<String>,
    pub token: Option<String>,
    pub client_cert_pem: Option<String>,
    pub client_key_pem: Option<String>,
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    pub insecure: bool,
    /// A credential plugin run for a token whenever the last one expires.
    pub exec: Option<Exec>,
}

/// A credential plugin (kubeconfig's `users[].user.exec`): a program that
/// prints an ExecCredential with a token and, usually, its expiry.
#[derive(Clone, Default, PartialEq)]
pub struct Exec {
    pub api_version: String,
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
}

impl Exec {
    /// The kubeconfig `exec` entry: never interactive, since the provider
    /// has no terminal (a plugin that would prompt fails instead).
    fn to_kubeconfig(&self) -> Value {
        serde_json::json!({
            "apiVersion": self.api_version,
            "command": self.command,
            "args": self.args,
            "env": self.env.iter().map(|(k, v)| serde_json::json!({"name": k, "value": v})).collect::<Vec<_>>(),
            "interactiveMode": "Never",
        })
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Connection({})", self.describe())
    }
}

impl Connection {
    /// Where it points, for messages (never credentials).
    pub fn describe(&self) -> String {
        match (&self.host, &self.context) {
            (Some(h), _) => h.clone(),
            (None, Some(c)) => format!("kubeconfig context {c:?}"),
            (None, None) => "the kubeconfig's current context".into(),
        }
    }
}

/// A bearer token as an HTTP header can carry it: a trailing newline (what
/// `file("token")` gives) and surrounding blanks are dropped.
///
/// # Errors
/// Empty, or holding a control character anywhere else.
pub fn clean_token(t: &str) -> Result<&str, String> {
    let t = t.trim_matches(|c: char| c == '\n' || c == '\r' || c == ' ' || c == '\t');
    if t.is_empty() {
        return Err("the token is empty".into());
    }
    if let Some((i, c)) = t.char_indices().find(|(_, c)| c.is_control()) {
        return Err(format!(
            "the token holds a control character ({:?}) at position {i}: it cannot be sent in an HTTP header",
            c
        ));
    }
    Ok(t)
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("invalid cluster settings: {0}")]
    Config(String),
    #[error("cannot reach {cluster} while {what}")]
    Unreachable {
        cluster: String,
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("{what} on {cluster}: {code} {reason}: {message}")]
    Api {
        cluster: String,
        what: String,
        code: u16,
        reason: String,
        message: String,
    },
    #[error("timed out after {} while {what} on {cluster}", geowp_common::duration::format(*.after))]
    Timeout {
        cluster: String,
        what: String,
        after: Duration,
    },
    #[error("interrupted")]
    Cancelled,
    /// A Job the operation ran did not finish its work.
    #[error("Job {job} {what}")]
    Job { job: String, what: String },
}

/// What a wait says of an object its watch has not reported yet.
const NOT_SEEN: &str = "not seen yet";

/// How long a wait whose time ran out may take for one last read.
const LAST_LOOK: Duration = Duration::from_secs(10);

/// An object as JSON. Serialising a Kubernetes object (k8s-openapi's or
/// kube's dynamic one: string-keyed maps of JSON-representable fields) into
/// a JSON value cannot fail; an empty value in its place would be wrong
/// silently, so a failure is a bug that stops here.
fn json_value<T: serde::Serialize>(o: &T) -> Value {
    serde_json::to_value(o).expect("a Kubernetes object serialises to JSON")
}

impl ClusterError {
    pub fn code(&self) -> Option<u16> {
        match self {
            ClusterError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The API server's certificate was not trusted: TLS refused it (not
    /// signed by the CA given, not for this host, a bad signature). Read
    /// from the typed causes (rustls' own error, also inside the I/O
    /// errors the connection wraps it in), never from message text.
    pub fn untrusted(&self) -> bool {
        let ClusterError::Unreachable { source, .. } = self else {
            return false;
        };
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(source);
        while let Some(e) = cur {
            if is_certificate_refusal(e) {
                return true;
            }
            // io::Error's source() skips the error it wraps (hyper's connect
            // error is an io::Error around tokio-rustls' io::Error around
            // rustls' own): go inside instead
            cur = match e
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => e.source(),
            };
        }
        false
    }

    /// The cluster does not answer at all (as opposed to refusing, failing,
    /// an untrusted certificate, or our own time running out, which is
    /// never taken for a lost region).
    pub fn is_lost(&self) -> bool {
        matches!(self, ClusterError::Unreachable { .. }) && !self.untrusted()
    }
}

fn is_certificate_refusal(e: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        e.downcast_ref::<rustls::Error>(),
        Some(rustls::Error::InvalidCertificate(_))
    )
}

/// A connected cluster, with the deadline and cancellation its work obeys.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    pub name: String,
    started: Instant,
    deadline: Instant,
    cancel: CancellationToken,
}

fn yaml_of(doc: serde_json::Value) -> Result<kube::config::Kubeconfig, ClusterError> {
    serde_json::from_value(doc).map_err(|e| ClusterError::Config(e.to_string()))
}

/// Checks what kube-rs would otherwise panic on or fail on late: every
/// bearer token of the kubeconfig must fit an HTTP header. Credential
/// plugins are made non-interactive: the provider's stdin and stderr belong
/// to Terraform.
fn check_tokens(kc: &mut kube::config::Kubeconfig) -> Result<(), ClusterError> {
    for ai in &mut kc.auth_infos {
        if let Some(auth) = ai.auth_info.as_mut() {
            if let Some(exec) = auth.exec.as_mut() {
                exec.interactive_mode = Some(kube::config::ExecInteractiveMode::Never);
            }
            if let Some(t) = auth.token.as_ref() {
                use secrecy::ExposeSecret;
                let cleaned = clean_token(t.expose_secret())
                    .map_err(|m| ClusterError::Config(format!("user {:?}: {m}", ai.name)))?
                    .to_string();
                auth.token = Some(cleaned.into());
            }
        }
    }
    Ok(())
}

/// A client for `c`, whose work ends at `deadline` or when `cancel` fires.
///
/// # Errors
/// [`ClusterError::Config`] for settings that cannot work (no host, a
/// kubeconfig that does not parse, a missing context, a token that cannot
/// be a header, a certificate that does not parse). Nothing is sent yet.
pub async fn connect(
    c: &Connection,
    deadline: Instant,
    cancel: CancellationToken,
) -> Result<Cluster, ClusterError> {
    let started = Instant::now();
    let mut kc = match &c.kubeconfig {
        Some(text) => kube::config::Kubeconfig::from_yaml(text)
            .map_err(|e| ClusterError::Config(format!("the kubeconfig does not parse: {e}")))?,
        None => {
            let host = c.host.clone().ok_or_else(|| {
                ClusterError::Config("set cluster.host (or cluster.kubeconfig)".into())
            })?;
            let mut cluster = serde_json::json!({ "server": host });
            if let Some(ca) = &c.ca_pem {
                cluster["certificate-authority-data"] =
                    Value::String(geowp_common::b64::encode(ca));
            }
            if c.insecure {
                cluster["insecure-skip-tls-verify"] = Value::Bool(true);
            }
            let mut user = serde_json::json!({});
            if let Some(t) = &c.token {
                user["token"] = Value::String(t.clone());
            }
            if let Some(e) = &c.exec {
                user["exec"] = e.to_kubeconfig();
            }
            if let (Some(cert), Some(key)) = (&c.client_cert_pem, &c.client_key_pem) {
                user["client-certificate-data"] = Value::String(geowp_common::b64::encode(cert));
                user["client-key-data"] = Value::String(geowp_common::b64::encode(key));
            }
            yaml_of(serde_json::json!({"apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}], "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}], "current-context": "c"}))?
        }
    };
    check_tokens(&mut kc)?;
    if let Some(ca) = &c.ca_pem {
        pem::certificates(ca)
            .map_err(|e| ClusterError::Config(format!("cluster_ca_certificate: {e}")))?;
    }
    if let (Some(cert), Some(key)) = (&c.client_cert_pem, &c.client_key_pem) {
        pem::certificates(cert)
            .map_err(|e| ClusterError::Config(format!("client_certificate: {e}")))?;
        pem::private_key(key).map_err(|e| ClusterError::Config(format!("client_key: {e}")))?;
    }
    let opts = kube::config::KubeConfigOptions {
        context: c.context.clone(),
        ..Default::default()
    };
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| ClusterError::Config(geowp_common::error_chain(&e)))?;
    cfg.connect_timeout = Some(Duration::from_secs(10));
    if c.insecure {
        cfg.accept_invalid_certs = true;
    }
    let name = c
        .host
        .clone()
        .unwrap_or_else(|| cfg.cluster_url.to_string());
    // Building the client parses certificates and keys: a bad PEM fails here.
    let client = std::panic::catch_unwind(|| Client::try_from(cfg))
        .map_err(|_| {
            ClusterError::Config("the client could not be built from these settings".into())
        })?
        .map_err(|e| ClusterError::Config(geowp_common::error_chain(&e)))?;
    Ok(Cluster {
        client,
        name,
        started,
        deadline,
        cancel,
    })
}

fn resource(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

/// What a delete did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// It is gone, or going (finalizers may still hold it).
    Deleting,
    /// It was not there.
    Absent,
    /// An object of that name exists but has another uid: someone made it
    /// anew; it is not ours and was left alone.
    NotOurs { uid: String },
}

impl Cluster {
    fn api(&self, r: &ObjRef) -> Api<DynamicObject> {
        let ar = resource(&r.api_version, &r.kind);
        if r.namespace.is_empty() {
            Api::all_with(self.client.clone(), &ar)
        } else {
            Api::namespaced_with(self.client.clone(), &r.namespace, &ar)
        }
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Runs `fut` within the deadline and unless cancelled, mapping kube errors.
    async fn bounded<T>(
        &self,
        what: String,
        fut: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, ClusterError> {
        let r = tokio::select! {
            biased;
            _ = self.cancel.cancelled() => return Err(ClusterError::Cancelled),
            r = tokio::time::timeout(self.remaining(), fut) => r,
        };
        match r {
            Err(_) => Err(ClusterError::Timeout {
                cluster: self.name.clone(),
                what,
                after: self.started.elapsed(),
            }),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(kube::Error::Api(s))) => Err(ClusterError::Api {
                cluster: self.name.clone(),
                what,
                code: s.code,
                reason: s.reason.clone(),
                message: s.message.clone(),
            }),
            Ok(Err(source)) => Err(ClusterError::Unreachable {
                cluster: self.name.clone(),
                what,
                source,
            }),
        }
    }

    /// Server-side apply of one object; returns the live object.
    pub async fn apply(&self, o: &Obj, params: &PatchParams) -> Result<Value, ClusterError> {
        let api = self.api(&o.id);
        tracing::debug!(kind = %o.id.kind, name = %o.id.name, namespace = %o.id.namespace,
            manager = params.field_manager.as_deref().unwrap_or(""), "apply");
        let live = self
            .bounded(
                format!("applying {}", o.key()),
                api.patch(&o.id.name, params, &Patch::Apply(&o.body)),
            )
            .await?;
        Ok(json_value(&live))
    }

    /// Merges `status` into the object's status subresource (what a
    /// controller or kubelet writes; geowp's local runtime does).
    pub async fn patch_status(&self, r: &ObjRef, status: &Value) -> Result<Value, ClusterError> {
        let api = self.api(r);
        let body = serde_json::json!({ "status": status });
        let live = self
            .bounded(
                format!("writing the status of {}", r.key()),
                api.patch_status(&r.name, &PatchParams::default(), &Patch::Merge(&body)),
            )
            .await?;
        Ok(json_value(&live))
    }

    /// The live object, or None when it does not exist.
    pub async fn get(&self, r: &ObjRef) -> Result<Option<Value>, ClusterError> {
        let api = self.api(r);
        let o = self
            .bounded(format!("reading {}", r.key()), api.get_opt(&r.name))
            .await?;
        Ok(o.map(|o| json_value(&o)))
    }

    /// Runs a Job to completion and returns what its pod printed; the Job
    /// and its pods are deleted afterwards, whatever happened. For one-shot
    /// tools in the cluster (pd-ctl) whose output is the answer.
    pub async fn run_job(&self, job: &Obj, params: &PatchParams) -> Result<String, ClusterError> {
        self.apply(job, params).await?;
        let r = job.id.clone();
        let selector = format!("job-name={}", r.name);
        let outcome = async {
            match self.wait(&r, conditions::is_rolled_out("Job")).await? {
                Readiness::Ready => {}
                Readiness::Waiting(why) | Readiness::Failed(why) => {
                    return Err(ClusterError::Job {
                        job: r.name.clone(),
                        what: format!("did not complete: {why}"),
                    })
                }
            }
            let pods = self.list("v1", "Pod", &r.namespace, &selector).await?;
            match pods.first().and_then(|p| p["metadata"]["name"].as_str()) {
                Some(pod) => self.pod_log(&r.namespace, pod).await,
                None => Err(ClusterError::Job {
                    job: r.name.clone(),
                    what: "completed but has no pod to read".into(),
                }),
            }
        }
        .await;
        let _ = self.delete(&r, None).await;
        for p in self
            .list("v1", "Pod", &r.namespace, &selector)
            .await
            .unwrap_or_default()
        {
            if let Some(n) = p["metadata"]["name"].as_str() {
                let _ = self
                    .delete(&ObjRef::new("v1", "Pod", &r.namespace, n), None)
                    .await;
            }
        }
        outcome
    }

    /// What a pod's (first) container printed.
    pub async fn pod_log(&self, namespace: &str, pod: &str) -> Result<String, ClusterError> {
        let api: Api<k8s_openapi::api::core::v1::Pod> =
            Api::namespaced(self.client.clone(), namespace);
        self.bounded(
            format!("reading the log of Pod/{pod}"),
            api.logs(pod, &kube::api::LogParams::default()),
        )
        .await
    }

    /// Objects of a kind in `namespace` (all namespaces when empty) matching
    /// a label selector.
    pub async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        labels: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        let api = self.api(&ObjRef::new(api_version, kind, namespace, ""));
        let l = self
            .bounded(
                format!("listing {kind}"),
                api.list(&ListParams::default().labels(labels)),
            )
            .await?;
        Ok(l.items.into_iter().map(|o| json_value(&o)).collect())
    }

    /// Deletes with Background propagation (a Job's pods go too). With
    /// `uid`, only the object of that uid is deleted: one re-created under
    /// the same name is left alone and reported as [`Deleted::NotOurs`].
    pub async fn delete(&self, r: &ObjRef, uid: Option<&str>) -> Result<Deleted, ClusterError> {
        let api = self.api(r);
        let mut dp = DeleteParams::background();
        if let Some(u) = uid.filter(|u| !u.is_empty()) {
            dp = dp.preconditions(Preconditions {
                uid: Some(u.to_string()),
                resource_version: None,
            });
        }
        match self
            .bounded(format!("deleting {}", r.key()), api.delete(&r.name, &dp))
            .await
        {
            Ok(_) => Ok(Deleted::Deleting),
            Err(e) if e.code() == Some(404) => Ok(Deleted::Absent),
            Err(e) if e.code() == Some(409) && uid.is_some() => {
                // precondition failed: the name now belongs to another object
                let live = self.get(r).await?;
                match live {
                    None => Ok(Deleted::Absent),
                    Some(l) => Ok(Deleted::NotOurs {
                        uid: l["metadata"]["uid"].as_str().unwrap_or("").to_string(),
                    }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes the object with uid `uid` and leaves its dependents in place
    /// (propagation Orphan: a StatefulSet's pods keep running, and the next
    /// StatefulSet with the same selector adopts them), then waits until it
    /// is gone. The way to change what the API server keeps immutable on a
    /// StatefulSet (its claim templates).
    pub async fn delete_orphaning(&self, r: &ObjRef, uid: &str) -> Result<(), ClusterError> {
        let api = self.api(r);
        let dp = DeleteParams::orphan().preconditions(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        });
        match self
            .bounded(format!("deleting {}", r.key()), api.delete(&r.name, &dp))
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Some(404) => return Ok(()),
            Err(e) => return Err(e),
        }
        match self.wait(r, conditions::is_deleted(uid)).await? {
            Readiness::Ready => Ok(()),
            other => Err(ClusterError::Timeout {
                cluster: self.name.clone(),
                what: format!("{} to go, its pods orphaned ({other:?})", r.key()),
                after: self.started.elapsed(),
            }),
        }
    }

    /// Waits by watch until `cond` says ready or failed, or the deadline
    /// passes; returns the last readiness seen (Waiting at the deadline).
    pub async fn wait(
        &self,
        r: &ObjRef,
        cond: impl Condition + 'static,
    ) -> Result<Readiness, ClusterError> {
        let api = self.api(r);
        let last = Arc::new(Mutex::new(Readiness::Waiting(NOT_SEEN.into())));
        let l2 = last.clone();
        let cond = Arc::new(cond);
        let cond2 = cond.clone();
        let test = move |o: Option<&DynamicObject>| {
            let v = o.map(json_value);
            let r = cond.check(v.as_ref());
            let done = !matches!(r, Readiness::Waiting(_));
            if let Ok(mut g) = l2.lock() {
                *g = r;
            }
            done
        };
        let fut = async {
            kube::runtime::wait::await_condition(api.clone(), &r.name, test)
                .await
                .map_err(|e| kube::Error::Service(Box::new(e)))
        };
        let timed_out = match self.bounded(format!("waiting for {}", r.key()), fut).await {
            Ok(_) => false,
            Err(ClusterError::Timeout { .. }) => true,
            Err(e) => return Err(e),
        };
        let seen = last
            .lock()
            .map(|g| g.clone())
            .unwrap_or(Readiness::Waiting("unknown".into()));
        if timed_out && seen == Readiness::Waiting(NOT_SEEN.into()) {
            // the time ran out before the watch's first answer (a busy API
            // server or machine): one last read says how the object really
            // stands, so the report names its state rather than "not seen"
            if let Some(state) = self.last_look(&api, &r.name, cond2.as_ref()).await {
                return Ok(state);
            }
        }
        Ok(seen)
    }

    /// One read of an object past the operation's deadline, bounded by its
    /// own short limit and the cancellation: how it stands by `cond`.
    async fn last_look(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        cond: &(impl Condition + ?Sized),
    ) -> Option<Readiness> {
        let get = tokio::time::timeout(LAST_LOOK, api.get_opt(name));
        let got = tokio::select! {
            r = get => r.ok()?.ok()?,
            _ = self.cancel.cancelled() => return None,
        };
        let v = got.map(|o| json_value(&o));
        Some(cond.check(v.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_lose_their_trailing_newline_and_control_characters_are_refused() {
        assert_eq!(clean_token("abc\n").unwrap(), "abc");
        assert_eq!(clean_token("  abc \r\n").unwrap(), "abc");
        assert!(clean_token("a\u{7}b")
            .unwrap_err()
            .contains("control character"));
        assert!(clean_token("ab\ncd").is_err());
        assert!(clean_token("\n").unwrap_err().contains("empty"));
    }

    #[test]
    fn a_job_from_the_template_carries_the_choice_in_every_container() {
        let cron = serde_json::json!({"metadata": {"name": "geowp-restore", "namespace": "geowp"},
            "spec": {"jobTemplate": {"spec": {"backoffLimit": 0, "template": {
                "metadata": {"labels": {"app.kubernetes.io/component": "geowp-restore"}},
                "spec": {"initContainers": [{"name": "plan", "env": [{"name": "GEOWP_RESTORE_RUN", "value": "old"}]}],
                    "containers": [{"name": "load"}]}}}}}});
        let j = Obj::job_from_cronjob(
            &cron,
            "geowp-restore-1",
            &[("GEOWP_RESTORE_RUN", "manual-1")],
        )
        .unwrap();
        assert_eq!(j.id.name, "geowp-restore-1");
        let pod = &j.body["spec"]["template"]["spec"];
        for c in [&pod["initContainers"][0], &pod["containers"][0]] {
            let vars: Vec<&Value> = c["env"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| v["name"] == "GEOWP_RESTORE_RUN")
                .collect();
            assert_eq!(vars.len(), 1);
            assert_eq!(vars[0]["value"], "manual-1");
        }
        assert_eq!(j.body["spec"]["backoffLimit"], 0);
        assert_eq!(
            j.body["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"],
            "geowp-restore"
        );
    }

    #[test]
    fn waves_follow_dependencies() {
        assert_eq!(Wave::of("Namespace", true), Wave::Cluster);
        assert_eq!(Wave::of("StorageClass", true), Wave::Cluster);
        assert_eq!(Wave::of("Secret", false), Wave::Config);
        assert_eq!(Wave::of("NetworkPolicy", false), Wave::Config);
        assert_eq!(Wave::of("StatefulSet", false), Wave::Workload);
        assert!(Wave::Cluster < Wave::Config && Wave::Config < Wave::Workload);
    }

    #[test]
    fn objects_take_their_identity_from_the_typed_form() {
        use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some("pd-config".into()),
                namespace: Some("geowp".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let o = Obj::new(&cm);
        assert_eq!(o.id, ObjRef::new("v1", "ConfigMap", "geowp", "pd-config"));
        assert_eq!(o.wave(), Wave::Config);
        assert!(!o.secret);
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some("geowp".into()),
                namespace: Some("ignored".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let o = Obj::new(&ns);
        assert_eq!(
            o.id.namespace, "",
            "cluster-scoped objects have no namespace"
        );
        assert_eq!(o.wave(), Wave::Cluster);
    }

    #[tokio::test]
    async fn bad_settings_fail_at_connect_without_panicking() {
        let far = Instant::now() + Duration::from_secs(5);
        let c = |f: &dyn Fn(&mut Connection)| {
            let mut c = Connection {
                host: Some("https://127.0.0.1:6443".into()),
                token: Some("t".into()),
                ..Default::default()
            };
            f(&mut c);
            c
        };
        let e = connect(
            &c(&|c| c.token = Some("a\u{1}b".into())),
            far,
            CancellationToken::new(),
        )
        .await
        .err()
        .unwrap();
        assert!(e.to_string().contains("control character"), "{e}");
        assert!(connect(
            &c(&|c| c.token = Some("tok\n".into())),
            far,
            CancellationToken::new()
        )
        .await
        .is_ok());
        let e = connect(
            &c(&|c| c.ca_pem = Some("not a pem".into())),
            far,
            CancellationToken::new(),
        )
        .await
        .err()
        .unwrap();
        assert!(matches!(e, ClusterError::Config(_)), "{e}");
        let e = connect(
            &Connection {
                kubeconfig: Some(": not yaml [".into()),
                ..Default::default()
            },
            far,
            CancellationToken::new(),
        )
        .await
        .err()
        .unwrap();
        assert!(e.to_string().contains("does not parse"), "{e}");
        let kc = "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n";
        let e = connect(
            &Connection {
                kubeconfig: Some(kc.into()),
                context: Some("nope".into()),
                ..Default::default()
            },
            far,
            CancellationToken::new(),
        )
        .await
        .err()
        .unwrap();
        assert!(matches!(e, ClusterError::Config(_)), "{e}");
    }
}

#[cfg(test)]
mod timing {
    use super::*;

    #[tokio::test]
    async fn a_timeout_says_how_long_it_waited() {
        // a server that accepts and never answers
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let _held: Vec<_> = l.incoming().take(4).collect();
            std::thread::sleep(Duration::from_secs(5));
        });
        let conn = Connection {
            host: Some(format!("http://{addr}")),
            token: Some("t".into()),
            insecure: true,
            ..Default::default()
        };
        let c = connect(
            &conn,
            Instant::now() + Duration::from_millis(400),
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let e = c
            .get(&ObjRef::new("v1", "Namespace", "", "geowp"))
            .await
            .unwrap_err();
        match &e {
            ClusterError::Timeout { after, .. } => {
                assert!(*after >= Duration::from_millis(300), "{after:?}");
                assert!(e.to_string().contains("timed out after"), "{e}");
                assert!(!e.to_string().contains("after 0"), "{e}");
            }
            other => panic!("expected a timeout, got {other}"),
        }
    }
}
