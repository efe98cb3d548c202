//! Talking to a cluster: connect from resource attributes, server-side
//! apply (field manager `geowp`), get, delete, and watch-based waits. Every
//! call is bounded by a deadline, so a dead cluster fails within the
//! resource's timeout with a message naming it, even though kube-rs retries
//! 429/503/504 by itself.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::Client;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub mod conditions;

use conditions::Readiness;

/// Field manager of everything a stack applies.
pub const FIELD_MANAGER: &str = "geowp";

/// One Kubernetes object to apply, with what the provider needs to know
/// about it besides its body.
#[derive(Clone, Debug, PartialEq)]
pub struct Obj {
    pub api_version: String,
    pub kind: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
    /// Applied in increasing waves; deleted in decreasing ones.
    pub wave: u8,
    /// Objects whose data must not be shown in plans (Secrets).
    pub secret: bool,
    /// Applied only when missing (identities must not be regenerated).
    pub create_only: bool,
    pub body: Value,
}

impl Obj {
    /// `Kind/name`, or `Kind/namespace/name` outside the stack's namespace.
    pub fn key(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// How to reach a cluster, from the resource's `cluster` block.
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

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("invalid cluster settings: {0}")]
    Config(String),
    #[error("cannot reach {cluster} ({what}): {detail}")]
    Unreachable {
        cluster: String,
        what: String,
        detail: String,
    },
    #[error("{what} on {cluster}: {code} {reason}: {message}")]
    Api {
        cluster: String,
        what: String,
        code: u16,
        reason: String,
        message: String,
    },
    #[error("timed out after {after:?} {what} on {cluster}")]
    Timeout {
        cluster: String,
        what: String,
        after: Duration,
    },
    #[error("interrupted")]
    Cancelled,
}

impl ClusterError {
    pub fn code(&self) -> Option<u16> {
        match self {
            ClusterError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Text as standard base64 (Secret data, kubeconfig data fields).
pub fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// A connected cluster, with the deadline and cancellation its work obeys.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    pub name: String,
    deadline: Instant,
    cancel: CancellationToken,
}

pub async fn connect(
    c: &Connection,
    deadline: Instant,
    cancel: CancellationToken,
) -> Result<Cluster, ClusterError> {
    let kc = match &c.kubeconfig {
        Some(text) => kube::config::Kubeconfig::from_yaml(text)
            .map_err(|e| ClusterError::Config(format!("kubeconfig does not parse: {e}")))?,
        None => {
            let host = c.host.clone().ok_or_else(|| {
                ClusterError::Config("set cluster.host (or cluster.kubeconfig)".into())
            })?;
            let mut cluster = serde_json::json!({"server": host});
            if let Some(ca) = &c.ca_pem {
                cluster["certificate-authority-data"] = Value::String(b64(ca));
            }
            if c.insecure {
                cluster["insecure-skip-tls-verify"] = Value::Bool(true);
            }
            let mut user = serde_json::json!({});
            if let Some(t) = &c.token {
                user["token"] = Value::String(t.clone());
            }
            if let (Some(cert), Some(key)) = (&c.client_cert_pem, &c.client_key_pem) {
                user["client-certificate-data"] = Value::String(b64(cert));
                user["client-key-data"] = Value::String(b64(key));
            }
            let doc = serde_json::json!({"apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}], "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}], "current-context": "c"});
            serde_json::from_value(doc).map_err(|e| ClusterError::Config(e.to_string()))?
        }
    };
    let opts = kube::config::KubeConfigOptions {
        context: c.context.clone(),
        ..Default::default()
    };
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| ClusterError::Config(e.to_string()))?;
    cfg.connect_timeout = Some(Duration::from_secs(10));
    if c.insecure {
        cfg.accept_invalid_certs = true;
    }
    let name = c
        .host
        .clone()
        .unwrap_or_else(|| cfg.cluster_url.to_string());
    let client = Client::try_from(cfg).map_err(|e| ClusterError::Config(e.to_string()))?;
    Ok(Cluster {
        client,
        name,
        deadline,
        cancel,
    })
}

fn resource(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

impl Cluster {
    fn api(&self, api_version: &str, kind: &str, ns: &str) -> Api<DynamicObject> {
        let ar = resource(api_version, kind);
        if ns.is_empty() {
            Api::all_with(self.client.clone(), &ar)
        } else {
            Api::namespaced_with(self.client.clone(), ns, &ar)
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
                after: Duration::ZERO,
            }),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(kube::Error::Api(s))) => Err(ClusterError::Api {
                cluster: self.name.clone(),
                what,
                code: s.code,
                reason: s.reason.clone(),
                message: s.message.clone(),
            }),
            Ok(Err(e)) => {
                let mut detail = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    detail.push_str(&format!(": {s}"));
                    src = s.source();
                }
                Err(ClusterError::Unreachable {
                    cluster: self.name.clone(),
                    what,
                    detail,
                })
            }
        }
    }

    /// Server-side apply of one object as `geowp`; returns the live object.
    pub async fn apply(&self, o: &Obj, force: bool) -> Result<Value, ClusterError> {
        self.apply_as(o, FIELD_MANAGER, force).await
    }

    /// Server-side apply under another field manager (fields it owns apart).
    pub async fn apply_as(
        &self,
        o: &Obj,
        manager: &str,
        force: bool,
    ) -> Result<Value, ClusterError> {
        let api = self.api(&o.api_version, &o.kind, &o.namespace);
        let mut pp = PatchParams::apply(manager);
        pp.force = force;
        tracing::debug!(kind = %o.kind, name = %o.name, namespace = %o.namespace, manager, "apply");
        let live = self
            .bounded(
                format!("applying {}", o.key()),
                api.patch(&o.name, &pp, &Patch::Apply(&o.body)),
            )
            .await?;
        Ok(serde_json::to_value(live).unwrap_or_default())
    }

    pub async fn get(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> Result<Option<Value>, ClusterError> {
        let api = self.api(api_version, kind, ns);
        let r = self
            .bounded(format!("reading {kind}/{name}"), api.get_opt(name))
            .await?;
        Ok(r.map(|o| serde_json::to_value(o).unwrap_or_default()))
    }

    pub async fn list(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        labels: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        let api = self.api(api_version, kind, ns);
        let l = self
            .bounded(
                format!("listing {kind}"),
                api.list(&ListParams::default().labels(labels)),
            )
            .await?;
        Ok(l.items
            .into_iter()
            .map(|o| serde_json::to_value(o).unwrap_or_default())
            .collect())
    }

    /// Deletes with Background propagation (a Job's pods go too); gone already is fine.
    pub async fn delete(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> Result<(), ClusterError> {
        let api = self.api(api_version, kind, ns);
        match self
            .bounded(
                format!("deleting {kind}/{name}"),
                api.delete(name, &DeleteParams::background()),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Waits by watch until `check` says ready, failed, or the deadline passes.
    /// Returns the last readiness seen.
    pub async fn wait(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
        check: fn(&str, Option<&Value>) -> Readiness,
    ) -> Result<Readiness, ClusterError> {
        let api = self.api(api_version, kind, ns);
        let last = Arc::new(Mutex::new(Readiness::Waiting("not seen yet".into())));
        let l2 = last.clone();
        let kind_s = kind.to_string();
        let cond = move |o: Option<&DynamicObject>| {
            let v = o.map(|o| serde_json::to_value(o).unwrap_or_default());
            let r = check(&kind_s, v.as_ref());
            let done = !matches!(r, Readiness::Waiting(_));
            if let Ok(mut g) = l2.lock() {
                *g = r;
            }
            done
        };
        let fut = async {
            kube::runtime::wait::await_condition(api, name, cond)
                .await
                .map_err(|e| kube::Error::Service(Box::new(e)))
        };
        match self
            .bounded(format!("waiting for {kind}/{name}"), fut)
            .await
        {
            Ok(_) | Err(ClusterError::Timeout { .. }) => {}
            Err(e) => return Err(e),
        }
        let r = last
            .lock()
            .map(|g| g.clone())
            .unwrap_or(Readiness::Waiting("unknown".into()));
        Ok(r)
    }
}

/// `wait` check: ready per kubectl's rules.
pub fn is_ready(kind: &str, o: Option<&Value>) -> Readiness {
    match o {
        None => Readiness::Waiting("the object does not exist".into()),
        Some(v) => conditions::readiness(kind, v),
    }
}

/// `wait` check: gone.
pub fn is_gone(_kind: &str, o: Option<&Value>) -> Readiness {
    match o {
        None => Readiness::Ready,
        Some(v) => {
            let fin = v["metadata"]["finalizers"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let cond = v["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find_map(|c| c["message"].as_str()))
                .unwrap_or("");
            if !fin.is_empty() {
                Readiness::Waiting(
                    format!("still present, held by finalizers [{fin}] {cond}")
                        .trim_end()
                        .to_string(),
                )
            } else if !cond.is_empty() {
                Readiness::Waiting(format!("still present: {cond}"))
            } else {
                Readiness::Waiting("still present".into())
            }
        }
    }
}
