//! Import: the stack's settings from the record its Namespace holds
//! ([`crate::layout`]), its secrets from its Secrets, PD's start-up
//! topology from the live StatefulSets' arguments. Reading the rest is the
//! refresh that follows.

use std::collections::BTreeMap;
use std::time::Duration;

use geowp_common::names::{annotation, object, secret, SALT_NAMES};
use geowp_kube::{connect, Cluster, Connection, ObjRef};
use geowp_syncthing::group::b64d;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::render::{self, PdTopology, StackSpec};
use crate::report::{Report, Stop, Subject};

/// What import reads from a stack's cluster.
pub struct Imported {
    pub spec: StackSpec,
    pub tidb_root_password: String,
    pub wordpress_db_password: String,
    pub salts: BTreeMap<String, String>,
    /// The site CA's certificate (its key is never in a cluster).
    pub ca_certificate: Option<String>,
    pub backup_password: Option<String>,
    pub backup_credentials: Option<BTreeMap<String, String>>,
    pub topology: Option<PdTopology>,
}

/// Reads the stack of `member` in namespace `ns` of `conn`'s cluster.
pub async fn import(
    conn: &Connection,
    cancel: CancellationToken,
    ns: &str,
    member: &str,
) -> Result<Imported, Stop> {
    let mut report = Report::default();
    let who = format!("member {member} (namespace {ns})");
    let deadline = Instant::now() + Duration::from_secs(120);
    let cluster = match connect(conn, deadline, cancel).await {
        Ok(c) => c,
        Err(e) => {
            report.cluster(e, &who, "connecting for import");
            return Err(report.stop());
        }
    };
    let nsobj = match cluster.get(&ObjRef::new("v1", "Namespace", "", ns)).await {
        Ok(Some(n)) => n,
        Ok(None) => {
            report.error(
                Subject::Stack,
                "No such stack",
                format!("namespace {ns:?} does not exist on {}.", cluster.name),
            );
            return Err(report.stop());
        }
        Err(e) => {
            report.cluster(e, &who, "reading the namespace");
            return Err(report.stop());
        }
    };
    let recorded = nsobj["metadata"]["annotations"][annotation::STACK_CONFIG].as_str();
    let spec = match recorded.map(crate::layout::recall) {
        Some(Ok(spec)) if spec.member == member => spec,
        Some(Err(why)) => {
            report.error(
                Subject::Stack,
                "Not a geowp stack",
                format!("namespace {ns:?} records a geowp stack that cannot be read: {why}."),
            );
            return Err(report.stop());
        }
        _ => {
            report.error(Subject::Stack, "Not a geowp stack", format!("namespace {ns:?} holds no geowp stack for member {member:?} (annotation {} missing, written by another version, or for another member); apply the stack once, or check the id.", annotation::STACK_CONFIG));
            return Err(report.stop());
        }
    };
    let secrets = match read_secrets(&cluster, ns, &who).await {
        Ok(s) => s,
        Err(r) => return Err(r.stop()),
    };
    Ok(Imported {
        topology: live_topology(&cluster, ns).await,
        spec,
        tidb_root_password: secrets.tidb_root_password,
        wordpress_db_password: secrets.wordpress_db_password,
        salts: secrets.salts,
        ca_certificate: secrets.ca_certificate,
        backup_password: secrets.backup_password,
        backup_credentials: secrets.backup_credentials,
    })
}

/// The secrets a stack's cluster holds.
struct Secrets {
    tidb_root_password: String,
    wordpress_db_password: String,
    salts: BTreeMap<String, String>,
    ca_certificate: Option<String>,
    backup_password: Option<String>,
    backup_credentials: Option<BTreeMap<String, String>>,
}

/// The stack's secrets (the spec and topology left to the caller).
async fn read_secrets(cluster: &Cluster, ns: &str, who: &str) -> Result<Secrets, Report> {
    let mut report = Report::default();
    let site = match cluster
        .get(&ObjRef::new("v1", "Secret", ns, secret::SITE))
        .await
    {
        Ok(Some(s)) => s,
        Ok(None) => {
            report.error(Subject::Stack, "Incomplete stack", "the stack's site-secrets Secret is missing, so its passwords cannot be imported; apply a new stack instead.");
            return Err(report);
        }
        Err(e) => {
            report.cluster(e, who, "reading the site secrets");
            return Err(report);
        }
    };
    let data = &site["data"];
    let text_of = |k: &str| b64d(&data[k]).unwrap_or_default();
    let secret_data = |name: &'static str| {
        let r = ObjRef::new("v1", "Secret", ns, name);
        async move { cluster.get(&r).await.ok().flatten() }
    };
    let ca_certificate = secret_data(render::tidb::TLS_SECRET)
        .await
        .and_then(|s| b64d(&s["data"]["ca.crt"]));
    // the backup repository's password and credentials, when backups are on
    let mut backup: Option<BTreeMap<String, String>> =
        secret_data(render::backup::BACKUP).await.and_then(|s| {
            s["data"].as_object().map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), b64d(v)?)))
                    .collect()
            })
        });
    let backup_password = backup
        .as_mut()
        .and_then(|m| m.remove(render::backup::PASSWORD_KEY));
    Ok(Secrets {
        tidb_root_password: text_of(secret::TIDB_ROOT_PASSWORD),
        wordpress_db_password: text_of(secret::WORDPRESS_DB_PASSWORD),
        salts: SALT_NAMES
            .iter()
            .map(|n| (n.to_string(), text_of(n)))
            .collect(),
        ca_certificate,
        backup_password,
        backup_credentials: backup.filter(|m| !m.is_empty()),
    })
}

/// How the live PD and TiKV were started (their StatefulSets' arguments), so
/// an imported stack keeps them; None when they are not there to read.
async fn live_topology(cluster: &Cluster, ns: &str) -> Option<PdTopology> {
    let args = |obj: &serde_json::Value| -> Vec<String> {
        obj["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(String::from))
            .collect()
    };
    let get = |name: &'static str| {
        let r = ObjRef::new("apps/v1", "StatefulSet", ns, name);
        async move { cluster.get(&r).await.ok().flatten() }
    };
    let (pd, tikv) = (
        args(&get(object::PD).await?),
        args(&get(object::TIKV).await?),
    );
    let flag = |a: &[String], f: &str| {
        a.iter()
            .find_map(|x| x.strip_prefix(f).map(String::from))
            .unwrap_or_default()
    };
    Some(PdTopology {
        initial_cluster: flag(&pd, "--initial-cluster="),
        join: flag(&pd, "--join="),
        endpoints: flag(&tikv, "--pd="),
    })
}
