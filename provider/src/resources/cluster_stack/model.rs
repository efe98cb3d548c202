//! `geowp_cluster_stack`'s attributes: the cluster settings, the rendering
//! settings ([`StackSpec`], declared with the renderer), the site's secrets,
//! apply options, and what the stack computes.

use std::collections::BTreeMap;
use std::time::Duration;

use tfplugin::{Model, Secret, TimeoutDefaults, Timeouts, Val};

use geowp_stack::ops::{Inventory, Placed};

use crate::render::{Secrets, StackSpec};
use crate::resources::cluster::ClusterModel;
use crate::validators::{certificate, password, private_key};

pub const TIMEOUTS: TimeoutDefaults = TimeoutDefaults {
    create: Duration::from_secs(1200),
    update: Duration::from_secs(1200),
    delete: Duration::from_secs(600),
};

/// An object's status in `objects` when it is as applied.
pub use geowp_stack::ops::IN_SYNC;

/// The credential variables restic reads that `backup_credentials` may set.
pub const BACKUP_CREDENTIAL_KEYS: [&str; 12] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    crate::render::backup::GOOGLE_JSON_KEY,
    "GOOGLE_PROJECT_ID",
    "AZURE_ACCOUNT_NAME",
    "AZURE_ACCOUNT_KEY",
    "AZURE_ACCOUNT_SAS",
    "AZURE_ENDPOINT_SUFFIX",
    "RESTIC_REST_USERNAME",
    "RESTIC_REST_PASSWORD",
];

fn backup_credentials_check() -> tfplugin::validate::Validator {
    tfplugin::validate::Validator::new(
        "Invalid backup credentials",
        "restic's credential variables",
        |v| {
            let unknown: Vec<String> = v
                .as_map()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
                .filter(|k| !BACKUP_CREDENTIAL_KEYS.contains(&k.as_str()))
                .map(|k| format!("{k:?}"))
                .collect();
            if unknown.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "backup_credentials has {}: use restic's variables {}.",
                    unknown.join(", "),
                    BACKUP_CREDENTIAL_KEYS.join(", ")
                ))
            }
        },
    )
}

fn salts() -> tfplugin::validate::Validator {
    tfplugin::validate::Validator::new(
        "Invalid WordPress salts",
        "the eight WordPress keys and salts",
        |v| {
            let missing: Vec<&str> = geowp_common::names::SALT_NAMES
                .iter()
                .copied()
                .filter(|n| match v.get(n) {
                    tfplugin::Value::Unknown => false,
                    x => x.as_str().is_none_or(str::is_empty),
                })
                .collect();
            // the eight and no others: another key would be a typo that
            // changes nothing in WordPress (and, not being a valid Secret
            // key, one the API server refuses)
            let unknown: Vec<String> = v
                .as_map()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
                .filter(|k| !geowp_common::names::SALT_NAMES.contains(&k.as_str()))
                .map(|k| format!("{k:?}"))
                .collect();
            if !unknown.is_empty() {
                return Err(format!(
                    "wordpress_salts has {}, not one of WordPress's eight keys and salts ({}); pass geowp_site.<name>.wordpress_salts.",
                    unknown.join(", "),
                    geowp_common::names::SALT_NAMES.join(", ")
                ));
            }
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "wordpress_salts needs non-empty {}; pass geowp_site.<name>.wordpress_salts.",
                    missing.join(", ")
                ))
            }
        },
    )
}

/// The site's shared secrets, as every region receives them.
#[derive(Model, Clone, Debug, PartialEq)]
pub struct SiteSecrets {
    /// TiDB root password, the same in every region (`geowp_site.NAME.tidb_root_password`).
    #[tf(sensitive, validate = password())]
    pub tidb_root_password: Secret<String>,
    /// Password of the `wordpress` database user (`geowp_site.NAME.wordpress_db_password`).
    #[tf(sensitive, validate = password())]
    pub wordpress_db_password: Secret<String>,
    /// The eight WordPress keys and salts (`geowp_site.NAME.wordpress_salts`).
    #[tf(sensitive, validate = salts())]
    pub wordpress_salts: Secret<BTreeMap<String, String>>,
    /// The site's CA certificate (`geowp_site.NAME.tls_ca_certificate`), which signs this region's certificate for PD, TiKV and TiDB. Needed with `tidb_tls`.
    #[tf(validate = certificate())]
    pub tls_ca_certificate: Option<String>,
    /// The site CA's private key (`geowp_site.NAME.tls_ca_private_key`), used here to issue this region's certificate; it is never written to the cluster. Needed with `tidb_tls`.
    #[tf(sensitive, validate = private_key())]
    pub tls_ca_private_key: Option<Secret<String>>,
    /// Password of the backup repository (`geowp_site.NAME.backup_password`): restic encrypts every backup with a key it unlocks. The same in every region; lose it and the backups cannot be read. Needed with `backup_repository`.
    #[tf(sensitive, validate = password())]
    pub backup_password: Option<Secret<String>>,
    /// Credentials of the backup repository, as restic reads them: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_DEFAULT_REGION` (S3); `GOOGLE_APPLICATION_CREDENTIALS_JSON` (a service account key's JSON, written to a file for restic) and `GOOGLE_PROJECT_ID` (GCS); `AZURE_ACCOUNT_NAME`, `AZURE_ACCOUNT_KEY`, `AZURE_ACCOUNT_SAS` (Azure Blob); `RESTIC_REST_USERNAME`, `RESTIC_REST_PASSWORD` (REST server). Kept in a Secret of the namespace, never in a log. Leave it empty with workload identity (`backup_service_account`).
    #[tf(sensitive, validate = backup_credentials_check())]
    pub backup_credentials: Option<Secret<BTreeMap<String, String>>>,
}

impl SiteSecrets {
    pub fn render(&self) -> Secrets {
        Secrets {
            tidb_root_password: self.tidb_root_password.expose().clone(),
            wordpress_db_password: self.wordpress_db_password.expose().clone(),
            salts: self.wordpress_salts.expose().clone(),
            backup_password: self
                .backup_password
                .as_ref()
                .map(|p| p.expose().clone())
                .unwrap_or_default(),
            backup_credentials: self
                .backup_credentials
                .as_ref()
                .map(|c| c.expose().clone())
                .unwrap_or_default(),
        }
    }
}

/// One object a stack applied.
#[derive(Model, Clone, Debug, PartialEq)]
pub struct InventoryItem {
    /// The object's apiVersion.
    pub api_version: String,
    /// The object's kind.
    pub kind: String,
    /// Its namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The uid the API server gave it: destroy deletes only the object with this uid.
    pub uid: Val<String>,
}

impl InventoryItem {
    pub fn of(id: &geowp_kube::ObjRef, uid: Val<String>) -> InventoryItem {
        InventoryItem {
            api_version: id.api_version.clone(),
            kind: id.kind.clone(),
            namespace: id.namespace.clone(),
            name: id.name.clone(),
            uid,
        }
    }
    pub fn reference(&self) -> geowp_kube::ObjRef {
        geowp_kube::ObjRef::new(&self.api_version, &self.kind, &self.namespace, &self.name)
    }
}

/// The state's inventory as the stack library takes it.
pub fn inventory_of(out: &StackOutputs) -> Inventory {
    out.inventory
        .known()
        .into_iter()
        .flatten()
        .map(|(k, i)| {
            (
                k.clone(),
                Placed {
                    id: i.reference(),
                    uid: i.uid.known().cloned(),
                },
            )
        })
        .collect()
}

/// The library's inventory as the state records it.
pub fn inventory_val(inv: Inventory) -> Val<BTreeMap<String, InventoryItem>> {
    Val::Known(
        inv.into_iter()
            .map(|(k, p)| {
                let uid = Val::from_option(p.uid);
                (k, InventoryItem::of(&p.id, uid))
            })
            .collect(),
    )
}

/// What a stack computes.
#[derive(Model, Clone, Debug, PartialEq, Default)]
pub struct StackOutputs {
    /// Where WordPress answers in this region: its load balancer address (or cluster IP).
    pub wordpress_endpoint: Val<String>,
    /// Path the global load balancer should health-check: it answers 200 only when WordPress reaches the database.
    #[tf(keep)]
    pub health_check_path: Val<String>,
    /// TiDB's MySQL endpoint inside the cluster.
    #[tf(keep)]
    pub tidb_endpoint: Val<String>,
    /// This member's SyncThing device ID (its key stays in the cluster).
    #[tf(keep)]
    pub syncthing_device_id: Val<String>,
    /// This member's SyncThing peer address, from `members`.
    pub syncthing_address: Val<String>,
    /// Every object of the stack (`Kind/name`) and whether it is as applied; drift made outside Terraform shows here in plans.
    pub objects: Val<BTreeMap<String, String>>,
    /// What was applied, by `Kind/name`: apiVersion, kind, namespace, name and uid of each object; destroy removes exactly these.
    #[tf(plain)]
    pub inventory: Val<BTreeMap<String, InventoryItem>>,
    /// PD's `--initial-cluster` when this member founded the TiDB cluster (from `founders`); empty when it joined. Decided when the member is created or moves to a new PD address, then kept.
    pub pd_initial_cluster: Val<String>,
    /// PD's `--join` (the other members' client URLs) when this member joined a running TiDB cluster; empty for a founder. Decided when the member is created or moves, then kept, so adding a member changes no other region's pods.
    pub pd_join: Val<String>,
    /// PD addresses this region's TiKV (`--pd`) and TiDB (`--path`) start with. Kept while most of them are still members' addresses (TiKV and TiDB learn the other PDs from PD); renewed, which restarts TiKV and TiDB, only when most are gone.
    pub pd_endpoints: Val<String>,
    /// When this region's certificate for PD, TiKV and TiDB expires (RFC 3339); an apply within 30 days of it issues a new one, and the plan says so. Null without `tidb_tls`.
    pub tls_certificate_expires: Val<String>,
}

/// `geowp_cluster_stack`'s attributes.
#[derive(Model, Clone, Debug, PartialEq)]
pub struct StackModel {
    /// `NAMESPACE/MEMBER`.
    #[tf(keep)]
    pub id: Val<String>,
    /// How to reach the cluster, usually straight from the resource that creates it. Give `host` with `cluster_ca_certificate` and a `token` or a client certificate and key; or a raw `kubeconfig` (and `context`). Values unknown until apply are fine: plan never contacts the cluster.
    #[tf(block)]
    pub cluster: ClusterModel,
    #[tf(flatten)]
    pub spec: StackSpec,
    #[tf(flatten)]
    pub secrets: SiteSecrets,
    /// Take back fields another field manager changed (e.g. `kubectl edit`) instead of failing with a conflict.
    #[tf(default = true)]
    pub force_conflicts: bool,
    /// Wait until workloads are rolled out, claims bound and load balancers have addresses.
    #[tf(default = true)]
    pub wait_for_rollout: bool,
    #[tf(flatten)]
    pub out: StackOutputs,
    #[tf(timeouts = TIMEOUTS)]
    pub timeouts: Timeouts,
}

impl StackOutputs {
    /// The PD topology in state, when all of it is known.
    pub fn topology(&self) -> Option<crate::render::PdTopology> {
        Some(crate::render::PdTopology {
            initial_cluster: self.pd_initial_cluster.known()?.clone(),
            join: self.pd_join.known()?.clone(),
            endpoints: self.pd_endpoints.known()?.clone(),
        })
    }
    pub fn set_topology(&mut self, t: &crate::render::PdTopology) {
        self.pd_initial_cluster = Val::Known(t.initial_cluster.clone());
        self.pd_join = Val::Known(t.join.clone());
        self.pd_endpoints = Val::Known(t.endpoints.clone());
    }
}

impl StackModel {
    /// `NAMESPACE/MEMBER`.
    pub fn id_of(spec: &StackSpec) -> String {
        format!("{}/{}", spec.namespace, spec.member)
    }
    /// Which stack this is, for messages.
    pub fn who(&self) -> String {
        format!(
            "member {} (namespace {})",
            self.spec.member, self.spec.namespace
        )
    }
}

/// Schema version 0 kept `inventory` as a list; version 1 keys it by
/// `Kind/name`.
pub fn upgrade_v0(mut raw: serde_json::Value) -> serde_json::Value {
    if let Some(list) = raw.get("inventory").and_then(|i| i.as_array()).cloned() {
        let map: serde_json::Map<String, serde_json::Value> = list
            .into_iter()
            .filter_map(|i| {
                let key = format!("{}/{}", i["kind"].as_str()?, i["name"].as_str()?);
                Some((key, i))
            })
            .collect();
        raw["inventory"] = serde_json::Value::Object(map);
    }
    raw
}
