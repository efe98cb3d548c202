//! Refresh: each object of the stack read back and compared, on the fields
//! geowp sets, with what it would apply; `objects` says which differ and how,
//! so drift reads as a sentence in the next plan. A deleted namespace means
//! the stack is gone.

use std::collections::BTreeMap;
use std::time::Duration;

use geowp_common::names::secret;
use geowp_kube::conditions::drift;
use geowp_kube::{connect, Connection, ObjRef};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{
    expires, identity_problem, load_syncthing, wordpress_endpoint, wp_content_uid, Inventory,
    Placed, IN_SYNC,
};
use crate::render::{self, Inputs, PdTopology, Secrets, StackSpec, SyncthingSecrets, TlsMaterial};
use crate::report::{Report, Stop};

/// What a refresh needs: the recorded spec and secrets.
pub struct Recorded<'a> {
    pub spec: &'a StackSpec,
    pub secrets: Secrets,
    pub ca_certificate: Option<&'a str>,
    pub topology: Option<PdTopology>,
    /// The update timeout: a refresh gives up at 30 s or sooner.
    pub limit: Duration,
    pub who: String,
}

/// The stack as its cluster has it.
pub struct Refreshed {
    pub objects: BTreeMap<String, String>,
    pub inventory: Inventory,
    /// None when the identity is not there (yet).
    pub device_id: Option<String>,
    /// With `tidb_tls`: when the live certificate expires (None: none there).
    pub tls_expires: Option<Option<String>>,
    /// None when the Service could not be read (keep what was recorded).
    pub endpoint: Option<Option<String>>,
}

/// Reads the stack back: Ok(None) when its namespace is gone, Stop when the
/// cluster did not answer (the recorded state stands).
pub async fn read(
    conn: &Connection,
    cancel: CancellationToken,
    rec: Recorded<'_>,
) -> Result<Option<Refreshed>, Stop> {
    let mut report = Report::default();
    let who = rec.who.as_str();
    // a refresh gives up sooner than an apply: one region down must not stall the site's plan
    let deadline = Instant::now() + Duration::from_secs(30).min(rec.limit);
    let spec = rec.spec;
    let cluster = match present(conn, deadline, cancel, spec, who).await {
        Ok(Some(c)) => c,
        Ok(None) => return Ok(None),
        Err(r) => return Err(r.stop()),
    };
    let st = match load_syncthing(&cluster, &spec.namespace).await {
        Ok(s) => s,
        Err(e) => {
            identity_problem(&mut report, e, who);
            return Err(report.stop());
        }
    };
    let tls_ref = ObjRef::new("v1", "Secret", &spec.namespace, render::tidb::TLS_SECRET);
    let (wp_content_uid, live_tls) = match futures_util::try_join!(
        wp_content_uid(&cluster, &spec.namespace),
        cluster.get(&tls_ref),
    ) {
        Ok((u, t)) => (u, t.as_ref().and_then(crate::tls::from_secret)),
        Err(e) => {
            report.cluster(e, who, "refreshing the stack");
            return Err(report.stop());
        }
    };
    // what an apply would do with the certificate now
    let tls_need = match (rec.ca_certificate, spec.tidb_tls) {
        (Some(ca), true) => Some(crate::tls::need(
            live_tls.as_ref(),
            ca,
            &crate::tls::names(spec),
            crate::tls::now(),
        )),
        _ => None,
    };
    let inputs = Inputs {
        secrets: rec.secrets,
        syncthing: st.clone().unwrap_or_else(SyncthingSecrets::placeholder),
        tls: live_tls.clone().unwrap_or_else(TlsMaterial::placeholder),
        wp_content_uid,
        pd: rec.topology,
    };
    let objs = render::render(spec, &inputs);
    let lives = futures_util::future::join_all(objs.iter().map(|o| cluster.get(&o.id))).await;
    let mut objects = BTreeMap::new();
    let mut inventory = BTreeMap::new();
    for (o, live) in objs.iter().zip(lives) {
        let status = match live {
            Err(e) => {
                report.cluster(e, who, format!("reading {}", o.key()));
                return Err(report.stop());
            }
            Ok(None) => "missing: deleted outside Terraform".to_string(),
            Ok(Some(l)) => {
                let uid = l["metadata"]["uid"].as_str().unwrap_or("").to_string();
                let id = o.id.clone();
                inventory.insert(o.key(), Placed { id, uid: Some(uid) });
                status_of(o, &l, st.is_none(), tls_need.as_ref())
            }
        };
        objects.insert(o.key(), status);
    }
    Ok(Some(Refreshed {
        objects,
        inventory,
        device_id: st.map(|s| s.device_id),
        tls_expires: spec
            .tidb_tls
            .then(|| live_tls.and_then(|t| expires(&t.cert_pem))),
        endpoint: wordpress_endpoint(&cluster, &spec.namespace).await,
    }))
}

/// How a live object compares with what an apply would write.
fn status_of(
    o: &geowp_kube::Obj,
    live: &serde_json::Value,
    no_identity: bool,
    tls_need: Option<&crate::tls::Need>,
) -> String {
    // create-only objects (the identity) are ours once they exist;
    // without an identity, the config we would write is unknown
    let unknowable = o.create_only
        || (o.id.kind == "Secret" && o.id.name == secret::SYNCTHING_CONFIG && no_identity);
    let certificate = o.id.kind == "Secret" && o.id.name == render::tidb::TLS_SECRET;
    match (tls_need, certificate) {
        (Some(crate::tls::Need::Issue(why)), true) => format!("to be reissued: {why}"),
        _ => match (!unknowable)
            .then(|| drift(&o.body, live, o.secret))
            .flatten()
        {
            None => IN_SYNC.to_string(),
            Some(d) => format!("changed outside Terraform: {d}"),
        },
    }
}

/// The cluster, when the stack's namespace is there (None: it is gone).
async fn present(
    conn: &Connection,
    deadline: Instant,
    cancel: CancellationToken,
    spec: &StackSpec,
    who: &str,
) -> Result<Option<geowp_kube::Cluster>, Report> {
    let mut report = Report::default();
    let cluster = match connect(conn, deadline, cancel).await {
        Ok(c) => c,
        Err(e) => {
            report.cluster(e, who, "connecting to refresh the stack");
            return Err(report);
        }
    };
    match cluster
        .get(&ObjRef::new("v1", "Namespace", "", &spec.namespace))
        .await
    {
        Ok(None) => {
            tracing::info!(namespace = %spec.namespace, "stack namespace gone: removing from state");
            Ok(None)
        }
        Ok(Some(_)) => Ok(Some(cluster)),
        Err(e) => {
            report.cluster(e, who, "refreshing the stack");
            Err(report)
        }
    }
}
