//! What a region's objects are made from (everything but secrets and the
//! cluster's credentials), declared once: this struct is at the same time the
//! `geowp_cluster_stack` attributes that configure rendering (with their
//! descriptions, defaults and validators) and the renderer's input. It is
//! also what the stack's Namespace records (as JSON) so import can read it
//! back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tfplugin_model::validate::{int_between, one_of};
use tfplugin_model::Model;

use crate::validators::{
    annotation_keys, cidrs, dns_label, folder_id, host_port, image, label_value, no_empty_keys,
    positive_quantity, provisioner, site_url, storage_class, tidb_version, url_host_port,
};

/// Pinned default images: one tag for PD, TiKV and TiDB (v8.5 LTS).
pub const DEFAULT_TIDB_VERSION: &str = "v8.5.7";
/// WordPress 7.1.0, the official image (docker-library/wordpress@bf223d1c
/// versions.json "latest"): it reads the WORDPRESS_* variables (and their
/// `_FILE` forms) geowp sets, and has `docker-ensure-installed.sh`, which the
/// cron runner needs (added to the image in June 2025: the 6.7 images lack
/// it). WordPress 7.x needs PHP 7.4; the must-use plugins' hooks are in
/// 7.1.0 as in 6.1 (docs/guides/parts.md).
pub const DEFAULT_WORDPRESS_IMAGE: &str = "wordpress:7.1.0-php8.3-apache";
/// SyncThing 2.1.3, the official image, run by its own entrypoint (no
/// arguments; 2.x dropped `--no-default-folder`, which it no longer needs).
/// From 1.x it migrates its database to SQLite on first start and rewrites
/// its config, one way (docs/guides/parts.md).
pub const DEFAULT_SYNCTHING_IMAGE: &str = "syncthing/syncthing:2.1.3";
pub const DEFAULT_NFS_IMAGE: &str = "registry.k8s.io/sig-storage/nfs-provisioner:v4.0.8";
pub const DEFAULT_MYSQL_CLIENT_IMAGE: &str = "mysql:8.4.3";
pub const DEFAULT_BUSYBOX_IMAGE: &str = "busybox:1.36.1";
/// restic's own image (Alpine with /usr/bin/restic and busybox sh).
pub const DEFAULT_BACKUP_IMAGE: &str = "restic/restic:0.18.1";
/// HAProxy's LTS line (3.2, maintained to 2030), official image.
pub const DEFAULT_PD_PEER_RELAY_IMAGE: &str = "haproxy:3.2-alpine";
/// Varnish 8.0, official image (varnishcache/varnish-cache@varnish-8.0.0;
/// the VCL is checked with Debian's 7.1 here and uses nothing 8.0 changed).
pub const DEFAULT_PAGE_CACHE_IMAGE: &str = "varnish:8.0.0";

/// A Service's type, as Kubernetes spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceType {
    ClusterIP,
    NodePort,
    LoadBalancer,
}

impl ServiceType {
    pub const NAMES: &'static [&'static str] = &["ClusterIP", "NodePort", "LoadBalancer"];
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
    /// Whether it opens a port on every node (NodePort and LoadBalancer do).
    pub fn has_node_port(self) -> bool {
        !matches!(self, ServiceType::ClusterIP)
    }
}

impl tfplugin_model::Field for ServiceType {
    fn attr_type() -> tfplugin_model::schema::AttrType {
        <String as tfplugin_model::Field>::attr_type()
    }
    fn decode_known(
        v: &tfplugin_model::Value,
        at: &tfplugin_model::AttrPath,
    ) -> Result<Self, tfplugin_model::model::DecodeError> {
        match v.as_str() {
            Some("ClusterIP") => Ok(ServiceType::ClusterIP),
            Some("NodePort") => Ok(ServiceType::NodePort),
            Some("LoadBalancer") => Ok(ServiceType::LoadBalancer),
            _ => Err(tfplugin_model::model::DecodeError::invalid(
                at,
                "is not ClusterIP, NodePort or LoadBalancer",
            )),
        }
    }
    fn encode(&self) -> tfplugin_model::Value {
        tfplugin_model::Value::str(self.as_str())
    }
}

/// One member of the site, with the addresses other regions reach it at.
#[derive(Model, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// URL other regions reach this member's PD client port at, e.g. `http://10.0.0.5:2379`.
    #[tf(validate = url_host_port(&["http", "https"], "http://10.0.0.5:2379"))]
    pub pd_client_url: String,
    /// URL other regions reach this member's PD peer port at, e.g. `http://10.0.0.5:2380`.
    #[tf(validate = url_host_port(&["http", "https"], "http://10.0.0.5:2380"))]
    pub pd_peer_url: String,
    /// `host:port` other regions reach this member's TiKV at, e.g. `10.0.0.6:20160`.
    #[tf(validate = host_port("10.0.0.6:20160"))]
    pub tikv_address: String,
    /// `tcp://host:port` other regions reach this member's SyncThing at.
    #[tf(validate = url_host_port(&["tcp"], "tcp://10.0.0.7:22000"))]
    pub syncthing_address: String,
}

/// CPU and memory of one component's main container (None: its default).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ComponentResources {
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub memory_limit: Option<String>,
}

/// The keys `resources` takes, and what each sets.
pub const RESOURCE_COMPONENTS: [&str; 7] = [
    "pd",
    "tikv",
    "tidb",
    "wordpress",
    "syncthing",
    "nfs",
    "page_cache",
];
pub const RESOURCE_KEYS: [&str; 3] = ["cpu", "memory", "memory_limit"];

/// The peer Services `peer_service_annotations_by_service` may name.
pub const PEER_SERVICES: [&str; 3] = ["pd", "tikv", "syncthing"];

fn service_annotations_check() -> tfplugin_model::validate::Validator {
    tfplugin_model::validate::Validator::new(
        "Invalid peer service annotations",
        "pd, tikv or syncthing => Kubernetes annotations",
        |v| {
            let Some(m) = v.as_map() else { return Ok(()) };
            for (service, inner) in m {
                if !PEER_SERVICES.contains(&service.as_str()) {
                    return Err(format!(
                        "{service:?} is not a peer Service: use {}.",
                        PEER_SERVICES.join(", ")
                    ));
                }
                for key in inner.as_map().into_iter().flatten().map(|(k, _)| k) {
                    if let Some(e) = crate::validators::annotation_key_error(key) {
                        return Err(format!("{service}: {e}"));
                    }
                }
            }
            Ok(())
        },
    )
}

/// Hours between backups that divide a day.
pub const BACKUP_INTERVALS: [u32; 8] = [1, 2, 3, 4, 6, 8, 12, 24];

fn backup_interval_check() -> tfplugin_model::validate::Validator {
    tfplugin_model::validate::Validator::int(
        "Invalid backup interval",
        "1, 2, 3, 4, 6, 8, 12 or 24",
        |i| {
            if BACKUP_INTERVALS.iter().any(|&h| i64::from(h) == i) {
                Ok(())
            } else {
                Err(format!("{i} hours does not divide a day: use 1, 2, 3, 4, 6, 8, 12 or 24, so that every region agrees which backup is due."))
            }
        },
    )
}

/// Why a restic repository string is not one geowp can use, if it is not.
pub fn backup_repository_error(s: &str) -> Option<String> {
    let example = "e.g. \"s3:https://s3.amazonaws.com/my-bucket/geowp\", \"gs:my-bucket:/geowp\", \"azure:my-container:/geowp\", \"rest:https://backup.example.com:8000/geowp\" or \"/backup/geowp\"";
    if s.is_empty()
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "'\"\\`$".contains(c))
    {
        return Some(format!(
            "{s:?} is empty or has spaces, quotes, `$` or backslashes; {example}."
        ));
    }
    let ok = match s.split_once(':') {
        Some(("s3", rest)) => !rest.is_empty(),
        Some(("gs" | "azure", rest)) => rest
            .split_once(':')
            .is_some_and(|(b, p)| !b.is_empty() && p.starts_with('/')),
        Some(("rest", rest)) => rest.starts_with("http://") || rest.starts_with("https://"),
        Some(_) => false,
        None => s.starts_with("/backup/") && !s.contains("/../"),
    };
    if ok {
        None
    } else {
        Some(format!(
            "{s:?} is not a repository geowp can use: {example}."
        ))
    }
}

fn backup_repository_check() -> tfplugin_model::validate::Validator {
    tfplugin_model::validate::Validator::string(
        "Invalid backup repository",
        "a restic repository",
        |s| match backup_repository_error(s) {
            Some(e) => Err(e),
            None => Ok(()),
        },
    )
}

fn resources_check() -> tfplugin_model::validate::Validator {
    tfplugin_model::validate::Validator::new(
        "Invalid resources",
        "component => { cpu, memory, memory_limit }",
        |v| {
            let Some(m) = v.as_map() else { return Ok(()) };
            for (component, inner) in m {
                if !RESOURCE_COMPONENTS.contains(&component.as_str()) {
                    return Err(format!(
                        "{component:?} is not a component: use {}.",
                        RESOURCE_COMPONENTS.join(", ")
                    ));
                }
                for (key, q) in inner.as_map().into_iter().flatten() {
                    if !RESOURCE_KEYS.contains(&key.as_str()) {
                        return Err(format!(
                            "resources.{component}.{key}: use {}.",
                            RESOURCE_KEYS.join(", ")
                        ));
                    }
                    if let Some(q) = q.as_str() {
                        if crate::validators::quantity(q).is_none_or(|x| x <= 0.0) {
                            return Err(format!("resources.{component}.{key}: {q:?} is not a Kubernetes quantity greater than zero, such as \"500m\", \"2\" or \"4Gi\"."));
                        }
                    }
                }
                let get = |k: &str| {
                    inner
                        .as_map()
                        .and_then(|m| m.get(k))
                        .and_then(|v| v.as_str())
                };
                if let Some(limit) = get("memory_limit") {
                    let request = get("memory").map(String::from).unwrap_or_else(|| {
                        Component::from_name(component)
                            .map(|c| c.default_resources().1.to_string())
                            .unwrap_or_default()
                    });
                    let (l, r) = (
                        crate::validators::quantity(limit),
                        crate::validators::quantity(&request),
                    );
                    if let (Some(l), Some(r)) = (l, r) {
                        if l < r {
                            let whose = if get("memory").is_some() {
                                "the memory request"
                            } else {
                                "the default memory request"
                            };
                            return Err(format!("resources.{component}.memory_limit: {limit:?} is below {whose} {request:?}; Kubernetes refuses a request above its limit. Raise memory_limit or set memory to at most {limit:?}."));
                        }
                    }
                }
            }
            Ok(())
        },
    )
}

/// Everything a region's objects are made from, except secrets.
#[derive(Model, Clone, Debug, PartialEq, Serialize)]
pub struct StackSpec {
    /// This region's member name, a DNS label (e.g. `us-east`).
    #[tf(replace, validate = dns_label("member name", 40, "us-east"))]
    pub member: String,
    /// Location label of this region for TiDB's replica placement (`zone`); one per region. Default: `member`.
    #[tf(validate = label_value("zone"))]
    pub zone: Option<String>,
    /// Namespace the stack lives in; geowp creates it and deletes it on destroy. At most 59 characters: the NFS provisioner is named `geowp.dev/NAMESPACE-nfs`, and the API server takes at most 63 after the `/`.
    #[tf(default = "geowp", replace, validate = dns_label("namespace", 59, "geowp"))]
    pub namespace: String,
    /// Name of the site (`geowp_site.NAME.name`), a DNS label.
    #[tf(validate = dns_label("site name", 40, "blog"))]
    pub site_name: String,
    /// Public URL of the site (WP_HOME and WP_SITEURL), e.g. `https://blog.example.com`.
    #[tf(validate = site_url())]
    pub site_url: String,
    /// Every member of the site, this one included, by member name, with the addresses other regions reach it at. Identical in every region: it makes PD's `--initial-cluster`.
    pub members: BTreeMap<String, Member>,
    /// The members that bootstrapped TiDB, name => PD peer URL: pass `geowp_site.NAME.founders`. A member listed here at its recorded address starts PD with `--initial-cluster` of the founders; any other member (added later, or moved to a new cluster) joins the running cluster with `--join`. Null: every member of `members` is a founder, right only for a site whose members are all created in its first apply.
    #[tf(validate = founders_check())]
    pub founders: Option<BTreeMap<String, String>>,
    /// Image tag of PD, TiKV and TiDB (`pingcap/*`), one for all three.
    #[tf(default = DEFAULT_TIDB_VERSION, validate = tidb_version())]
    pub tidb_version: String,
    /// WordPress image: the official image or one built from it (your plugins and themes in it), by tag or by digest (`wordpress@sha256:...`, which pins exactly what runs).
    #[tf(default = DEFAULT_WORDPRESS_IMAGE, validate = image())]
    pub wordpress_image: String,
    /// SyncThing image.
    #[tf(default = DEFAULT_SYNCTHING_IMAGE, validate = image())]
    pub syncthing_image: String,
    /// NFS provisioner image.
    #[tf(default = DEFAULT_NFS_IMAGE, validate = image())]
    pub nfs_provisioner_image: String,
    /// Image with the `mysql` client, for the TiDB bootstrap Job.
    #[tf(default = DEFAULT_MYSQL_CLIENT_IMAGE, validate = image())]
    pub mysql_client_image: String,
    /// Small image with a shell, for SyncThing's config copy.
    #[tf(default = DEFAULT_BUSYBOX_IMAGE, validate = image())]
    pub busybox_image: String,
    /// HAProxy image of the relay in the PD pod (with `tidb_tls`): PD's peer port is relayed to PD on loopback, because PD's embedded etcd refuses a peer whose certificate does not name the connection's source address, which across regions is a node, NAT or load balancer address.
    #[tf(default = DEFAULT_PD_PEER_RELAY_IMAGE, validate = image())]
    pub pd_peer_relay_image: String,
    /// StorageClass of the ReadWriteOnce volumes (PD, TiKV, TiDB, NFS export, SyncThing config). Default: the cluster's default.
    #[tf(replace, validate = storage_class())]
    pub storage_class: Option<String>,
    /// CSI driver of a StorageClass the stack creates for its ReadWriteOnce volumes and uses instead of the cluster's default: `geowp-NAMESPACE-block`, reclaim policy Retain (a deleted claim keeps its disk), bound where the pod is scheduled, expandable. For clusters with no fit default class: `ebs.csi.eks.amazonaws.com` on EKS Auto Mode (which has no default class), `ebs.csi.aws.com` with the EBS CSI add-on, `pd.csi.storage.gke.io` on GKE. Conflicts with `storage_class`.
    #[tf(replace, validate = provisioner())]
    pub storage_class_provisioner: Option<String>,
    /// Parameters of that StorageClass as its driver documents them, e.g. `{ type = "gp3", encrypted = "true" }` for EBS. Needs `storage_class_provisioner`.
    #[tf(default = BTreeMap::<String, String>::new(), replace, validate = no_empty_keys("storage_class_parameters"))]
    pub storage_class_parameters: BTreeMap<String, String>,
    /// PD volume size.
    #[tf(default = "10Gi", replace, validate = positive_quantity("10Gi"))]
    pub pd_storage_size: String,
    /// TiKV volume size.
    #[tf(default = "50Gi", replace, validate = positive_quantity("50Gi"))]
    pub tikv_storage_size: String,
    /// TiDB server scratch volume size.
    #[tf(default = "5Gi", replace, validate = positive_quantity("5Gi"))]
    pub tidb_storage_size: String,
    /// Size of the NFS server's export volume.
    #[tf(default = "20Gi", replace, validate = positive_quantity("20Gi"))]
    pub nfs_storage_size: String,
    /// A ReadWriteMany StorageClass the cluster already has for `wp-content`, instead of the in-cluster NFS server: Amazon EFS (`efs.csi.aws.com`, e.g. a class with `provisioningMode = "efs-ap"`, `fileSystemId`, `uid = "33"` and `gid = "33"`), Azure Files (`azurefile-csi`), Filestore (`standard-rwx`, 1 TiB at least). WordPress and SyncThing then mount that claim; SyncThing keeps its config on a small ReadWriteOnce claim (`syncthing-config`, 1Gi). SyncThing cannot watch a network filesystem for the other pods' writes (inotify sees only this node's), so it finds them by rescanning: set `geowp_sync_group.rescan_interval_seconds` to 60 or less (the module does). Default: the in-cluster NFS server (docs/guides/parts.md says why both exist).
    #[tf(replace, validate = storage_class())]
    pub wp_content_storage_class: Option<String>,
    /// CSI driver of a ReadWriteMany StorageClass the stack creates for `wp-content` (`geowp-NAMESPACE-rwx`) instead of the in-cluster NFS server, e.g. `efs.csi.aws.com` with `wp_content_storage_class_parameters = { provisioningMode = "efs-ap", fileSystemId = aws_efs_file_system.this.id, directoryPerms = "700", uid = "33", gid = "33" }` (every write as www-data, WordPress's user; the EKS example does this). What `wp_content_storage_class` says about SyncThing applies. Conflicts with `wp_content_storage_class`.
    #[tf(replace, validate = provisioner())]
    pub wp_content_storage_class_provisioner: Option<String>,
    /// Parameters of that StorageClass as its driver documents them. Needs `wp_content_storage_class_provisioner`.
    #[tf(default = BTreeMap::<String, String>::new(), replace, validate = no_empty_keys("wp_content_storage_class_parameters"))]
    pub wp_content_storage_class_parameters: BTreeMap<String, String>,
    /// Size of the ReadWriteMany `wp-content` claim: it can grow in place, never shrink (refused at plan). With the in-cluster NFS server the space the files really have is the export disk, `nfs_storage_size`.
    #[tf(default = "10Gi", validate = positive_quantity("10Gi"))]
    pub wp_content_size: String,
    /// No longer used: SyncThing keeps its config on the NFS server's export disk, beside the folder it watches.
    #[tf(deprecated, validate = positive_quantity("1Gi"))]
    pub syncthing_config_size: Option<String>,
    /// TiDB server replicas in this region.
    #[tf(default = 1, validate = int_between(1, 20))]
    pub tidb_replicas: i32,
    /// WordPress replicas in this region.
    #[tf(default = 2, validate = int_between(1, 100))]
    pub wordpress_replicas: i32,
    /// Service type of WordPress: `ClusterIP`, `NodePort` or `LoadBalancer` (what the global load balancer targets).
    #[tf(default = ServiceType::LoadBalancer, validate = one_of(ServiceType::NAMES))]
    pub wordpress_service_type: ServiceType,
    /// Fixed node port (30000-32767) of WordPress when `wordpress_service_type` is `NodePort` or `LoadBalancer`, for a global load balancer that targets node ports. Default: one Kubernetes picks.
    #[tf(validate = int_between(30000, 32767))]
    pub wordpress_node_port: Option<i32>,
    /// Annotations of the WordPress Service, for the load balancer that serves it, e.g. on EKS an internet-facing NLB with a TLS listener: `service.beta.kubernetes.io/aws-load-balancer-scheme = "internet-facing"`, `service.beta.kubernetes.io/aws-load-balancer-ssl-cert = ACM_CERTIFICATE_ARN`, `service.beta.kubernetes.io/aws-load-balancer-ssl-ports = "https"` (with `wordpress_tls_at_load_balancer`).
    #[tf(default = BTreeMap::<String, String>::new(), validate = annotation_keys())]
    pub wordpress_service_annotations: BTreeMap<String, String>,
    /// The load balancer in front terminates TLS and passes plain TCP on, with no `X-Forwarded-Proto` header (an NLB TLS listener). The WordPress Service then has port 443, named `https`, to the pods' port 80, in place of port 80, so the load balancer listens for TLS only; and WordPress takes every request as https: without that, WordPress sees http on an https `site_url` and redirects each visitor to the address they came from, forever. Needs an https `site_url`. Leave it false behind HTTP load balancers (Google's, an ALB, HAProxy), which send the header.
    #[tf(default = false)]
    pub wordpress_tls_at_load_balancer: bool,
    /// Service type of the per-pod PD and TiKV Services and SyncThing's, which other regions dial: `ClusterIP`, `NodePort` or `LoadBalancer`.
    #[tf(default = ServiceType::LoadBalancer, validate = one_of(ServiceType::NAMES))]
    pub peer_service_type: ServiceType,
    /// SyncThing folder id of `wp-content`, the same in every region.
    #[tf(default = "wp-content", validate = folder_id())]
    pub folder_id: String,
    /// TLS among PD, TiKV and TiDB, with certificates from the site's CA (`tls_ca_certificate`): every connection between them is encrypted and both ends must hold a certificate of this site. Turning it off plans a warning: PD and TiKV have no other authentication.
    #[tf(default = true)]
    pub tidb_tls: bool,
    /// CIDR ranges allowed to reach this region's peer Services (PD, TiKV, SyncThing): the other regions' node and pod ranges. They become the load balancers' `loadBalancerSourceRanges` and the NetworkPolicies' ip blocks. Empty: anyone who reaches the load balancer may connect (a plan-time warning for LoadBalancer peer Services without `peer_service_annotations`).
    #[tf(default = Vec::<String>::new(), validate = cidrs())]
    pub peer_source_ranges: Vec<String>,
    /// CIDR ranges of this cluster's nodes. NFS volumes are mounted by the kubelet of the node a WordPress pod runs on, so the NFS server's NetworkPolicy admits these ranges. Empty: any source in the cluster may reach the NFS ports (its Service is cluster-internal).
    #[tf(default = Vec::<String>::new(), validate = cidrs())]
    pub node_source_ranges: Vec<String>,
    /// Annotations of the peer Services, e.g. an internal load balancer reachable from other regions: `networking.gke.io/load-balancer-type = "Internal"` with `networking.gke.io/internal-load-balancer-allow-global-access = "true"` on GKE, `service.beta.kubernetes.io/aws-load-balancer-scheme = "internal"` on EKS, `service.beta.kubernetes.io/azure-load-balancer-internal = "true"` on AKS.
    #[tf(default = BTreeMap::<String, String>::new(), validate = annotation_keys())]
    pub peer_service_annotations: BTreeMap<String, String>,
    /// Annotations of one peer Service, by `pd`, `tikv` or `syncthing`, added to `peer_service_annotations` (a key here wins). For what differs per Service: the fixed private address of each internal NLB on EKS (`service.beta.kubernetes.io/aws-load-balancer-private-ipv4-addresses`), or an Elastic IP allocation each.
    #[tf(default = BTreeMap::<String, BTreeMap<String, String>>::new(), validate = service_annotations_check())]
    pub peer_service_annotations_by_service: BTreeMap<String, BTreeMap<String, String>>,
    /// The member where most editors are: while it is up its PD leads (the highest leader priority) and the WordPress data's Raft leaders stay in its zone (a TiDB placement policy, `LEADER_CONSTRAINTS`), so editors there write without a round trip to another region per statement; editors elsewhere pay about two round trips to it per statement. If that region is lost, leaders move to the others and come back when it returns. Default: none preferred (leaders spread).
    #[tf(validate = dns_label("member name", 40, "us-east"))]
    pub primary_member: Option<String>,
    /// The largest round-trip time between any two regions, in milliseconds. PD's heartbeat and election timings and TiKV's Raft election timeout are sized from it (see the docs for the arithmetic).
    #[tf(default = 150u32, validate = int_between(1, 5000))]
    pub max_rtt_ms: u32,
    /// A page cache (Varnish) in front of WordPress in this region, for visitors who are not logged in: the `wordpress` Service leads to it, and it fetches from WordPress through `wordpress-origin`. Logged-in users, comment authors, wp-admin, wp-login, previews and every request other than GET and HEAD go to WordPress untouched; a response that sets a cookie is never stored. Editing content bans this region's cached pages at once; other regions show the edit within `page_cache_ttl` plus a third of it (at most 10 s more). See docs/guides/page-cache.md.
    #[tf(default = true)]
    pub page_cache: bool,
    /// Seconds a cached page is served before the cache asks WordPress again (a request after that gets the stored page while one refresh runs). It bounds how long an edit takes to show in the other regions: `page_cache_ttl` plus a third of it, at most 10 s more. Default 30: an edit shows everywhere within 40 s, and a popular page costs WordPress one render per 30 s per cache pod.
    #[tf(default = 30u32, validate = int_between(1, 3600))]
    pub page_cache_ttl: u32,
    /// Seconds a cached page is still served while WordPress or its database cannot answer (a region whose database has lost quorum keeps serving what it has). 0: never serve a page past its ttl plus the refresh grace. Default: one day.
    #[tf(default = 86400u32, validate = int_between(0, 2592000))]
    pub page_cache_stale_if_error: u32,
    /// Page cache pods in this region. Each keeps its own pages; WordPress bans pages on every one of them.
    #[tf(default = 2, validate = int_between(1, 20))]
    pub page_cache_replicas: i32,
    /// Varnish image of the page cache (7.1 or later).
    #[tf(default = DEFAULT_PAGE_CACHE_IMAGE, validate = image())]
    pub page_cache_image: String,
    /// Seconds old a visitor's reads may be: requests of visitors who are not logged in (the pages the cache stores) read TiDB as of this long ago from this region's own replicas (`tidb_read_staleness`, `tidb_replica_read = 'closest-replicas'`), with no round trip to another region; logged-in users, writes and wp-admin read fresh. TiKV's resolved timestamps advance every second, so 5 s is served locally even just after a write. 0: every read fresh.
    #[tf(default = 5u32, validate = int_between(0, 600))]
    pub stale_read_seconds: u32,
    /// Where scheduled backups go: a restic repository, encrypted at rest with `backup_password` (AES-256). `s3:https://s3.amazonaws.com/BUCKET/PATH` (S3 or any S3-compatible store), `gs:BUCKET:/PATH` (Google Cloud Storage), `azure:CONTAINER:/PATH` (Azure Blob), `rest:https://HOST:PORT/PATH` (restic's REST server, e.g. `rest-server` or `rclone serve restic` on a machine with disk), or `/backup/PATH` on the volume `backup_volume_claim`. Each run stores a consistent dump of the WordPress database and wp-content; one region runs each scheduled backup and any region can. Null: no backups. See docs/guides/backups.md.
    #[tf(validate = backup_repository_check())]
    pub backup_repository: Option<String>,
    /// Hours between backups: 1, 2, 3, 4, 6, 8, 12 or 24 (a divisor of a day, so every region agrees which run is due). Every region has the schedule; the first to claim a run (a row in the database) takes it, so a lost region never stops backups. `geowp-helper site status` warns when the last good backup is older than twice this.
    #[tf(default = 1u32, validate = backup_interval_check())]
    pub backup_interval_hours: u32,
    /// Retention: the newest backup of each of this many hours is kept (restic `forget --keep-hourly`).
    #[tf(default = 48u32, validate = int_between(0, 100000))]
    pub backup_keep_hourly: u32,
    /// Retention: the newest backup of each of this many days is kept (`--keep-daily`). With the defaults: every hour for two days, every day for 30 days, every week for 12 weeks.
    #[tf(default = 30u32, validate = int_between(0, 100000))]
    pub backup_keep_daily: u32,
    /// Retention: the newest backup of each of this many weeks is kept (`--keep-weekly`).
    #[tf(default = 12u32, validate = int_between(0, 100000))]
    pub backup_keep_weekly: u32,
    /// An existing Kubernetes ServiceAccount in the namespace for the backup and restore pods, for workload identity instead of keys in `backup_credentials`: annotated with `eks.amazonaws.com/role-arn` (EKS IRSA), `iam.gke.io/gcp-service-account` (GKE Workload Identity) or `azure.workload.identity/client-id` (AKS, with the pods' label `azure.workload.identity/use`). Default: no account token in the pods.
    #[tf(validate = dns_label("service account", 63, "geowp-backup"))]
    pub backup_service_account: Option<String>,
    /// An existing PersistentVolumeClaim in the namespace, mounted at `/backup` in the backup and restore pods, for a `backup_repository` of `/backup/PATH` (small sites). Each region writes its own volume unless the claim's storage reaches every region: a region's restore sees only the backups its volume holds.
    #[tf(validate = dns_label("claim name", 63, "geowp-backups"))]
    pub backup_volume_claim: Option<String>,
    /// restic image of the backup and restore pods (0.14 or later).
    #[tf(default = DEFAULT_BACKUP_IMAGE, validate = image())]
    pub backup_image: String,
    /// Plugin and theme installs, updates and file edits from wp-admin, and WordPress core's automatic updates. Off (the default): code comes with `wordpress_image` (`DISALLOW_FILE_MODS`, `AUTOMATIC_UPDATER_DISABLED`), the same in every region; build an image with your plugins and themes (README). On: an admin may install and update code, written to wp-content in the region that served the admin page and copied to the others by SyncThing; two regions updating at once collide (SyncThing keeps the newer file and a conflict copy) and a core update is undone by the next pod start from the image.
    #[tf(default = false)]
    pub wordpress_file_mods: bool,
    /// CPU and memory per component: `{ tikv = { cpu = "2", memory = "8Gi" } }`, components `pd`, `tikv`, `tidb`, `wordpress`, `syncthing`, `nfs` and `page_cache`, keys `cpu` (request; no CPU limit is set, a limit throttles latency-sensitive servers), `memory` (request) and `memory_limit` (default: the component's default limit, or the request when that is larger; a limit below the request is refused at plan). Defaults follow TiDB's documented minimums for a development and test deployment (PD 4 CPU and 8Gi, TiKV 8 CPU and 32Gi, TiDB 8 CPU and 16Gi) and what the rest needs for a small site (WordPress 500m and 512Mi, limit 1Gi; SyncThing 100m and 128Mi, limit 512Mi; NFS 100m and 256Mi, limit 1Gi; page cache 200m and 512Mi, limit 1Gi, half of the limit for pages); lower them for test clusters.
    #[tf(default = BTreeMap::<String, BTreeMap<String, String>>::new(), validate = resources_check())]
    pub resources: BTreeMap<String, BTreeMap<String, String>>,
}

fn founders_check() -> tfplugin_model::validate::Validator {
    tfplugin_model::validate::Validator::new(
        "Invalid founders",
        "member name => PD peer URL",
        |v| {
            let Some(m) = v.as_map() else { return Ok(()) };
            if m.is_empty() {
                return Err(
                    "founders is empty: pass geowp_site.NAME.founders, or leave it null.".into(),
                );
            }
            for (name, url) in m {
                let Some(url) = url.as_str() else { continue };
                if !(url.starts_with("http://") || url.starts_with("https://"))
                    || url.contains(char::is_whitespace)
                {
                    return Err(format!("founders[{name:?}] = {url:?} is not a PD peer URL such as \"http://10.0.0.5:2380\"."));
                }
            }
            Ok(())
        },
    )
}

/// How this member's PD starts, and which PDs its TiKV and TiDB dial first.
/// Decided when the member is created (or moves to new addresses), then
/// kept: adding a member to the site changes no other region's pods.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PdTopology {
    /// `--initial-cluster` of a founder (`name=peer_url,...`); empty for a joiner.
    pub initial_cluster: String,
    /// `--join` of a joiner: the client URLs of the other members; empty for a founder.
    pub join: String,
    /// PD client addresses (`host:port,...`) TiKV's `--pd` and TiDB's `--path` name.
    pub endpoints: String,
}

/// Host and port of a URL like `http://host:2379` (scheme optional).
pub fn host_port_of(url: &str) -> &str {
    url.split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(url)
        .trim_end_matches('/')
}

impl StackSpec {
    /// The zone label of this region.
    pub fn zone(&self) -> &str {
        self.zone.as_deref().unwrap_or(&self.member)
    }
    /// `name=peer_url,...` sorted by member name: byte-identical in every region.
    pub fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|(n, m)| format!("{n}={}", m.pd_peer_url))
            .collect::<Vec<_>>()
            .join(",")
    }
    /// PD client addresses as `host:port`, sorted by member name.
    pub fn pd_addresses(&self) -> String {
        self.members
            .values()
            .map(|m| host_port_of(&m.pd_client_url).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
    /// The topology of a member created now: a founder (listed in
    /// `founders` at its own peer URL, or every member when `founders` is
    /// null) bootstraps with the founders; anyone else joins through the
    /// client URLs of the other members.
    pub fn new_topology(&self) -> PdTopology {
        let my_peer = self.me().map(|m| m.pd_peer_url.as_str());
        let initial_cluster = match &self.founders {
            None => self.initial_cluster(),
            Some(f) if f.get(&self.member).map(String::as_str) == my_peer => f
                .iter()
                .map(|(n, url)| format!("{n}={url}"))
                .collect::<Vec<_>>()
                .join(","),
            Some(_) => String::new(),
        };
        let join = if initial_cluster.is_empty() {
            self.members
                .iter()
                .filter(|(n, _)| **n != self.member)
                .map(|(_, m)| m.pd_client_url.clone())
                .collect::<Vec<_>>()
                .join(",")
        } else {
            String::new()
        };
        PdTopology {
            initial_cluster,
            join,
            endpoints: self.pd_addresses(),
        }
    }
    /// Whether most PD addresses a topology lists are still members'. TiKV
    /// and TiDB try each at start and learn the rest from PD, so a list with
    /// a departed member still works; only one mostly gone is renewed (and
    /// renewing it restarts TiKV and TiDB).
    pub fn endpoints_current(&self, endpoints: &str) -> bool {
        let now: Vec<&str> = self
            .members
            .values()
            .map(|m| host_port_of(&m.pd_client_url))
            .collect();
        let listed: Vec<&str> = endpoints.split(',').filter(|e| !e.is_empty()).collect();
        let alive = listed.iter().filter(|e| now.contains(e)).count();
        alive * 2 > listed.len()
    }
    /// This member's entry of `members` (validation guarantees it exists).
    pub fn me(&self) -> Option<&Member> {
        self.members.get(&self.member)
    }
    pub fn storage_class_name(&self) -> String {
        format!("geowp-{}-nfs", self.namespace)
    }
    /// The class of the `wp-content` claim: the cluster's own ReadWriteMany
    /// class, or the in-cluster NFS server's.
    pub fn wp_content_class(&self) -> String {
        if self.wp_content_storage_class_provisioner.is_some() {
            return self.rwx_storage_class_name();
        }
        self.wp_content_storage_class
            .clone()
            .unwrap_or_else(|| self.storage_class_name())
    }
    /// The ReadWriteMany StorageClass the stack creates with
    /// `wp_content_storage_class_provisioner`.
    pub fn rwx_storage_class_name(&self) -> String {
        format!("geowp-{}-rwx", self.namespace)
    }
    /// The in-cluster NFS server runs (no ReadWriteMany class was named or
    /// asked for).
    pub fn runs_nfs(&self) -> bool {
        self.wp_content_storage_class.is_none()
            && self.wp_content_storage_class_provisioner.is_none()
    }
    /// The StorageClass the stack creates with `storage_class_provisioner`.
    pub fn block_storage_class_name(&self) -> String {
        format!("geowp-{}-block", self.namespace)
    }
    /// The class of the ReadWriteOnce volumes: the named one, the stack's
    /// own, or None for the cluster's default.
    pub fn rwo_storage_class(&self) -> Option<String> {
        self.storage_class.clone().or_else(|| {
            self.storage_class_provisioner
                .as_ref()
                .map(|_| self.block_storage_class_name())
        })
    }
    pub fn provisioner_name(&self) -> String {
        format!("geowp.dev/{}-nfs", self.namespace)
    }
    /// `tidb.NAMESPACE.svc.cluster.local:4000`: TiDB's MySQL endpoint inside the cluster.
    pub fn tidb_endpoint(&self) -> String {
        format!("tidb.{}.svc.cluster.local:4000", self.namespace)
    }
    /// `https` when TiDB's components talk TLS, else `http`.
    pub fn pd_scheme(&self) -> &'static str {
        if self.tidb_tls {
            "https"
        } else {
            "http"
        }
    }
    /// The resources a component's main container asks for.
    pub fn resources_of(&self, c: Component) -> ComponentResources {
        let m = self.resources.get(c.name()).cloned().unwrap_or_default();
        let given = ComponentResources {
            cpu: m.get("cpu").cloned(),
            memory: m.get("memory").cloned(),
            memory_limit: m.get("memory_limit").cloned(),
        };
        let (cpu, memory, limit) = c.default_resources();
        let memory = given.memory.unwrap_or_else(|| memory.to_string());
        // No limit given: the component's default limit, but never below the
        // request (the API server refuses a request above its limit).
        let limit = given.memory_limit.unwrap_or_else(|| match limit {
            Some(l) if crate::validators::quantity(l) >= crate::validators::quantity(&memory) => {
                l.to_string()
            }
            _ => memory.clone(),
        });
        ComponentResources {
            cpu: Some(given.cpu.unwrap_or_else(|| cpu.to_string())),
            memory_limit: Some(limit),
            memory: Some(memory),
        }
    }
}

/// The components whose main containers take `resources`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    Pd,
    Tikv,
    Tidb,
    Wordpress,
    Syncthing,
    Nfs,
    PageCache,
}

impl Component {
    /// Its key in `resources`.
    pub fn name(self) -> &'static str {
        match self {
            Component::Pd => "pd",
            Component::Tikv => "tikv",
            Component::Tidb => "tidb",
            Component::Wordpress => "wordpress",
            Component::Syncthing => "syncthing",
            Component::Nfs => "nfs",
            Component::PageCache => "page_cache",
        }
    }
    /// The component whose key in `resources` is `name`.
    pub fn from_name(name: &str) -> Option<Component> {
        [
            Component::Pd,
            Component::Tikv,
            Component::Tidb,
            Component::Wordpress,
            Component::Syncthing,
            Component::Nfs,
            Component::PageCache,
        ]
        .into_iter()
        .find(|c| c.name() == name)
    }
    /// (CPU request, memory request, memory limit when not the request).
    fn default_resources(self) -> (&'static str, &'static str, Option<&'static str>) {
        match self {
            Component::Pd => ("4", "8Gi", None),
            Component::Tikv => ("8", "32Gi", None),
            Component::Tidb => ("8", "16Gi", None),
            Component::Wordpress => ("500m", "512Mi", Some("1Gi")),
            Component::Syncthing => ("100m", "128Mi", Some("512Mi")),
            Component::Nfs => ("100m", "256Mi", Some("1Gi")),
            Component::PageCache => ("200m", "512Mi", Some("1Gi")),
        }
    }
}
