//! Names the provider writes into clusters and the helper (or a later
//! provider run) reads back. Declared once here so the two sides cannot drift
//! apart. Object names are per namespace: every stack has its own namespace.

/// Field manager of everything a stack applies (server-side apply).
pub const FIELD_MANAGER: &str = "geowp";
/// Field manager of the sync group's writes, apart from the stack's.
pub const GROUP_MANAGER: &str = "geowp-sync-group";
/// The namespace a stack lives in unless configured otherwise.
pub const DEFAULT_NAMESPACE: &str = "geowp";

/// Labels on every object geowp makes.
pub mod label {
    /// Always `geowp`.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    pub const MANAGED_BY_VALUE: &str = "geowp";
    /// The component of the stack (`pd`, `wordpress`, ...).
    pub const COMPONENT: &str = "app.kubernetes.io/component";
    /// The site's name.
    pub const SITE: &str = "geowp.dev/site";
    /// The member (region) the object belongs to.
    pub const MEMBER: &str = "geowp.dev/member";
    /// Set by the StatefulSet controller on each pod.
    pub const POD_NAME: &str = "statefulset.kubernetes.io/pod-name";
}

/// Annotations geowp writes.
pub mod annotation {
    /// On the stack's Namespace: the stack's configuration as JSON (import reads it).
    pub const STACK_CONFIG: &str = "geowp.dev/stack-config";
    /// On the identity Secret: the device ID of its certificate.
    pub const DEVICE_ID: &str = "geowp.dev/device-id";
    /// On SyncThing's pod template: the hash of the group config it runs with.
    pub const SYNC_GROUP_CONFIG: &str = "geowp.dev/sync-group-config";
    /// On PD's, TiKV's and TiDB's pod templates: the hash of what they read
    /// only at start (their config file, the site CA), so a change restarts them.
    pub const CONFIG_HASH: &str = "geowp.dev/config-hash";
    /// On PD's, TiKV's and TiDB's StatefulSets: the hash of their pod
    /// template, so an apply knows before writing whether it restarts them
    /// (and must then take its turn in the site's rolling order).
    pub const TEMPLATE_HASH: &str = "geowp.dev/template-hash";
}

/// Secrets of a stack.
pub mod secret {
    /// Passwords and WordPress salts, identical in every region.
    pub const SITE: &str = "site-secrets";
    /// This region's certificate for PD, TiKV and TiDB: `ca.crt`, `tls.crt`, `tls.key`.
    pub const TIDB_TLS: &str = "tidb-tls";
    /// Where PD, TiKV, TiDB and the pd-ctl Jobs mount [`TIDB_TLS`].
    pub const TIDB_TLS_DIR: &str = "/var/lib/tidb-tls";
    /// This member's SyncThing certificate and key (`cert.pem`, `key.pem`).
    pub const SYNCTHING_IDENTITY: &str = "syncthing-identity";
    /// This member's own SyncThing config (`config.xml`), with no peers.
    pub const SYNCTHING_CONFIG: &str = "syncthing-config";
    /// Written by the sync group: the config with every peer.
    pub const SYNCTHING_GROUP: &str = "syncthing-group";
    /// Key names inside the site Secret.
    pub const TIDB_ROOT_PASSWORD: &str = "TIDB_ROOT_PASSWORD";
    pub const WORDPRESS_DB_PASSWORD: &str = "WORDPRESS_DB_PASSWORD";
}

/// Workloads and Services of a stack that others look up by name.
pub mod object {
    pub const SYNCTHING: &str = "syncthing";
    pub const WORDPRESS: &str = "wordpress";
    pub const TIDB: &str = "tidb";
    pub const PD: &str = "pd";
    pub const TIKV: &str = "tikv";
}

/// The eight WordPress keys and salts, as the site Secret's keys.
pub const SALT_NAMES: [&str; 8] = [
    "AUTH_KEY",
    "SECURE_AUTH_KEY",
    "LOGGED_IN_KEY",
    "NONCE_KEY",
    "AUTH_SALT",
    "SECURE_AUTH_SALT",
    "LOGGED_IN_SALT",
    "NONCE_SALT",
];

/// The path WordPress answers health checks at: 200 only when it reaches
/// the database.
pub const HEALTH_PATH: &str = "/geowp-health.php";
