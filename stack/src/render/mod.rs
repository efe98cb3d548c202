//! Rendering, pure: a region's configuration in, typed k8s-openapi objects
//! out. No client, no I/O: the same function serves plan (which objects),
//! apply, drift detection and tests. One file per component, on the small
//! builder in [`build`]; each object's wave comes from its kind.

use std::collections::BTreeMap;

use geowp_common::names::{secret, SALT_NAMES};
use k8s_openapi::api::core::v1::Secret;

pub mod backup;
pub mod build;
pub mod cache;
pub mod example;
pub mod harden;
mod namespace;
mod nfs;
mod policy;
pub mod spec;
mod syncthing;
pub mod tidb;
mod wordpress;

#[cfg(test)]
pub(crate) mod tests;

pub use geowp_kube::{Obj, FIELD_MANAGER};
pub use spec::{
    host_port_of, Component, ComponentResources, Member, PdTopology, ServiceType, StackSpec,
    DEFAULT_BUSYBOX_IMAGE, DEFAULT_MYSQL_CLIENT_IMAGE, DEFAULT_NFS_IMAGE, DEFAULT_PAGE_CACHE_IMAGE,
    DEFAULT_PD_PEER_RELAY_IMAGE, DEFAULT_SYNCTHING_IMAGE, DEFAULT_TIDB_VERSION,
    DEFAULT_WORDPRESS_IMAGE,
};
pub use wordpress::{
    config_extra, AUTO_ID_FILE, AUTO_ID_PHP, CRON_FILE, CRON_PHP, DROP_INS, FOUND_ROWS_FILE,
    FOUND_ROWS_PHP, HEALTH_FILE, HEALTH_PHP, MAINTENANCE_FILE, MAINTENANCE_PHP, MU_PLUGINS,
    PAGE_CACHE_FILE, PAGE_CACHE_PHP, STALE_READS_FILE, STALE_READS_PHP,
};

/// Secrets the objects carry (never logged, never in non-sensitive state).
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    pub tidb_root_password: String,
    pub wordpress_db_password: String,
    pub salts: BTreeMap<String, String>,
    /// The backup repository's password (empty without backups).
    pub backup_password: String,
    /// restic's credential variables for the repository.
    pub backup_credentials: BTreeMap<String, String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

impl Secrets {
    /// Stand-ins of the right shape, for rendering only the object set.
    pub fn placeholder() -> Secrets {
        Secrets {
            tidb_root_password: String::new(),
            wordpress_db_password: String::new(),
            salts: SALT_NAMES
                .iter()
                .map(|n| (n.to_string(), String::new()))
                .collect(),
            backup_password: String::new(),
            backup_credentials: BTreeMap::new(),
        }
    }
}

/// The SyncThing identity and API key of this member, kept in the cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct SyncthingSecrets {
    pub cert_pem: String,
    pub key_pem: String,
    pub device_id: String,
    pub api_key: String,
}

impl std::fmt::Debug for SyncthingSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SyncthingSecrets({}, <redacted>)", self.device_id)
    }
}

impl SyncthingSecrets {
    /// Stand-ins of the right shape, for rendering only the object set.
    pub fn placeholder() -> SyncthingSecrets {
        SyncthingSecrets {
            cert_pem: String::new(),
            key_pem: String::new(),
            device_id: String::new(),
            api_key: String::new(),
        }
    }
}

/// This region's TLS certificate for PD, TiKV and TiDB, and the site CA's
/// certificate (never its key).
#[derive(Clone, PartialEq, Eq)]
pub struct TlsMaterial {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsMaterial(<certificates>, <redacted key>)")
    }
}

impl TlsMaterial {
    /// Stand-ins of the right shape, for rendering only the object set.
    pub fn placeholder() -> TlsMaterial {
        TlsMaterial {
            ca_pem: String::new(),
            cert_pem: String::new(),
            key_pem: String::new(),
        }
    }
}

/// What rendering needs besides the settings: secrets, identities, and
/// facts of the live cluster (placeholders when only the object set matters).
#[derive(Clone, Debug)]
pub struct Inputs {
    pub secrets: Secrets,
    pub syncthing: SyncthingSecrets,
    pub tls: TlsMaterial,
    /// The uid of the `wp-content` claim once it exists: the NFS server
    /// keeps its files in the export directory `pvc-UID`.
    pub wp_content_uid: Option<String>,
    /// How PD starts and where TiKV and TiDB find it, as the stack decided
    /// (None: as for a member created now, [`StackSpec::new_topology`]).
    pub pd: Option<PdTopology>,
}

impl Inputs {
    pub fn placeholder() -> Inputs {
        Inputs {
            secrets: Secrets::placeholder(),
            syncthing: SyncthingSecrets::placeholder(),
            tls: TlsMaterial::placeholder(),
            wp_content_uid: None,
            pd: None,
        }
    }
}

/// The name of the ReadWriteMany `wp-content` claim.
pub fn nfs_claim() -> &'static str {
    nfs::WP_CONTENT_CLAIM
}

/// The env var WordPress reads a salt from.
pub fn salt_env(name: &str) -> String {
    format!("WORDPRESS_{name}")
}

/// The site's passwords and salts, identical in every region.
fn site_secret(spec: &StackSpec, secrets: &Secrets) -> Obj {
    let mut data = BTreeMap::from([
        (
            secret::TIDB_ROOT_PASSWORD.to_string(),
            build::bytes(&secrets.tidb_root_password),
        ),
        (
            secret::WORDPRESS_DB_PASSWORD.to_string(),
            build::bytes(&secrets.wordpress_db_password),
        ),
    ]);
    for (k, v) in &secrets.salts {
        data.insert(k.clone(), build::bytes(v));
    }
    Obj::new(&Secret {
        metadata: build::meta(spec, secret::SITE, "site"),
        data: Some(data),
        type_: Some("Opaque".into()),
        ..Default::default()
    })
}

/// Every object of one region.
pub fn render(spec: &StackSpec, inputs: &Inputs) -> Vec<Obj> {
    let mut objs = namespace::objects(spec);
    objs.push(site_secret(spec, &inputs.secrets));
    objs.extend(policy::objects(spec));
    objs.extend(nfs::block_class(spec));
    objs.extend(nfs::objects(spec));
    let pd = inputs.pd.clone().unwrap_or_else(|| spec.new_topology());
    objs.extend(tidb::objects(spec, &inputs.tls, &pd));
    objs.extend(wordpress::objects(spec));
    objs.extend(cache::objects(spec));
    objs.extend(backup::objects(spec, &inputs.secrets));
    objs.extend(syncthing::objects(
        spec,
        &inputs.syncthing,
        inputs.wp_content_uid.as_deref(),
    ));
    objs
}

/// The keys (`Kind/name`) of the objects a configuration renders: secrets,
/// identities and live facts do not change the set.
pub fn object_keys(spec: &StackSpec) -> Vec<String> {
    render(spec, &Inputs::placeholder())
        .iter()
        .map(Obj::key)
        .collect()
}
