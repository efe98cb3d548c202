//! Import by `CONTEXT/NAMESPACE/MEMBER`: the cluster settings come from that
//! context of `$KUBECONFIG` (credentials embedded), the stack's settings
//! from the configuration its Namespace records, the secrets from its site
//! Secret. Terraform then reads the stack, which fills the rest.

use std::collections::BTreeMap;
use std::time::Duration;

use geowp_common::names::{annotation, object, secret, SALT_NAMES};
use geowp_kube::{connect, ObjRef};
use geowp_syncthing::group::b64d;
use tfplugin::diag::Diagnostics;
use tfplugin::provider::Ctx;
use tfplugin::{Secret, Timeouts, Val};
use tokio::time::Instant;

use super::apply::cluster_path;
use super::model::{SiteSecrets, StackModel, StackOutputs, TIMEOUTS};
use crate::render::{PdTopology, StackSpec};
use crate::resources::cluster::{diagnose, import_kubeconfig, ClusterModel};

pub async fn import(ctx: &mut Ctx, id: &str, diags: &mut Diagnostics) -> Option<StackModel> {
    let parts: Vec<&str> = id.rsplitn(3, '/').collect();
    let [member, ns, context] = parts.as_slice() else {
        diags.error("Invalid import id", format!("{id:?} is not CONTEXT/NAMESPACE/MEMBER, e.g. gke-us-east/geowp/us-east (CONTEXT is a context of $KUBECONFIG)."));
        return None;
    };
    let text = import_kubeconfig(diags)?;
    let cluster_settings = match ClusterModel::from_kubeconfig(&text, context) {
        Ok(c) => c,
        Err(e) => {
            diags.error(
                "Unusable context",
                format!("{e}. Import reads the cluster's credentials from $KUBECONFIG."),
            );
            return None;
        }
    };
    let who = format!("member {member} (namespace {ns})");
    let deadline = Instant::now() + Duration::from_secs(120);
    let cluster = match connect(&cluster_settings.connection(), deadline, ctx.cancel.clone()).await
    {
        Ok(c) => c,
        Err(e) => {
            diagnose(&e, &cluster_path(), &who, "connecting for import", diags);
            return None;
        }
    };
    let nsobj = match cluster.get(&ObjRef::new("v1", "Namespace", "", ns)).await {
        Ok(Some(n)) => n,
        Ok(None) => {
            diags.error(
                "No such stack",
                format!("namespace {ns:?} does not exist on {}.", cluster.name),
            );
            return None;
        }
        Err(e) => {
            diagnose(&e, &cluster_path(), &who, "reading the namespace", diags);
            return None;
        }
    };
    let Some(spec) = nsobj["metadata"]["annotations"][annotation::STACK_CONFIG]
        .as_str()
        .and_then(|s| serde_json::from_str::<StackSpec>(s).ok())
        .filter(|sp| sp.member == *member)
    else {
        diags.error("Not a geowp stack", format!("namespace {ns:?} holds no geowp stack for member {member:?} (annotation {} missing, written by another version, or for another member); apply the stack once, or check the id.", annotation::STACK_CONFIG));
        return None;
    };
    let site = match cluster
        .get(&ObjRef::new("v1", "Secret", ns, secret::SITE))
        .await
    {
        Ok(Some(s)) => s,
        Ok(None) => {
            diags.error("Incomplete stack", "the stack's site-secrets Secret is missing, so its passwords cannot be imported; apply a new stack instead.");
            return None;
        }
        Err(e) => {
            diagnose(&e, &cluster_path(), &who, "reading the site secrets", diags);
            return None;
        }
    };
    let data = &site["data"];
    let text_of = |k: &str| b64d(&data[k]).unwrap_or_default();
    let salts: BTreeMap<String, String> = SALT_NAMES
        .iter()
        .map(|n| (n.to_string(), text_of(n)))
        .collect();
    let tls_ca_certificate = cluster
        .get(&ObjRef::new(
            "v1",
            "Secret",
            ns,
            crate::render::tidb::TLS_SECRET,
        ))
        .await
        .ok()
        .flatten()
        .and_then(|s| b64d(&s["data"]["ca.crt"]));
    let pd = live_topology(&cluster, ns).await;
    // the backup repository's password and credentials, when backups are on
    let backup: Option<BTreeMap<String, String>> = cluster
        .get(&ObjRef::new(
            "v1",
            "Secret",
            ns,
            crate::render::backup::BACKUP,
        ))
        .await
        .ok()
        .flatten()
        .and_then(|s| {
            s["data"].as_object().map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), b64d(v)?)))
                    .collect()
            })
        });
    let backup_password = backup
        .as_ref()
        .and_then(|m| m.get(crate::render::backup::PASSWORD_KEY).cloned())
        .map(Secret::new);
    let backup_credentials = backup
        .map(|mut m| {
            m.remove(crate::render::backup::PASSWORD_KEY);
            m
        })
        .filter(|m| !m.is_empty())
        .map(Secret::new);
    Some(StackModel {
        id: Val::Known(StackModel::id_of(&spec)),
        cluster: cluster_settings,
        secrets: SiteSecrets {
            tidb_root_password: Secret::new(text_of(secret::TIDB_ROOT_PASSWORD)),
            wordpress_db_password: Secret::new(text_of(secret::WORDPRESS_DB_PASSWORD)),
            wordpress_salts: Secret::new(salts),
            // the CA's certificate is in the cluster (its key never is)
            tls_ca_certificate,
            tls_ca_private_key: None,
            backup_password,
            backup_credentials,
        },
        force_conflicts: true,
        wait_for_rollout: true,
        out: StackOutputs {
            wordpress_endpoint: Val::Null,
            health_check_path: Val::Known(geowp_common::names::HEALTH_PATH.into()),
            tidb_endpoint: Val::Known(spec.tidb_endpoint()),
            syncthing_device_id: Val::Null,
            syncthing_address: Val::from_option(spec.me().map(|m| m.syncthing_address.clone())),
            objects: Val::Known(BTreeMap::new()),
            inventory: Val::Known(BTreeMap::new()),
            tls_certificate_expires: Val::Null,
            pd_initial_cluster: Val::from_option(pd.as_ref().map(|t| t.initial_cluster.clone())),
            pd_join: Val::from_option(pd.as_ref().map(|t| t.join.clone())),
            pd_endpoints: Val::from_option(pd.map(|t| t.endpoints)),
        },
        spec,
        timeouts: Timeouts::defaults(TIMEOUTS),
    })
}

/// How the live PD and TiKV were started (their StatefulSets' arguments), so
/// an imported stack keeps them; None when they are not there to read.
async fn live_topology(cluster: &geowp_kube::Cluster, ns: &str) -> Option<PdTopology> {
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
