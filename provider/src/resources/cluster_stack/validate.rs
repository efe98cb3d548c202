//! Checks of a stack's configuration that span attributes (each
//! attribute's own rules are on its declaration). They run on what is known:
//! at plan, and again on the planned value before apply acts.

use std::collections::BTreeMap;

use tfplugin::diag::{AttrPath, Diagnostics};
use tfplugin::{Model, Value};

use super::model::StackModel;
use crate::render::Member;
use crate::resources::cluster::ClusterModel;
use crate::validators::is_dns_label;

pub fn check(config: &Value, d: &mut Diagnostics) {
    let c = StackModel::partial(config, &AttrPath::default());
    let p = AttrPath::root;
    ClusterModel::partial(config.get("cluster"), &p("cluster")).check(&p("cluster"), d);
    let spec = &c.spec;
    // member names are keys of `members`: check them where they are
    if let Some(keys) = config.get("members").as_map() {
        for k in keys.keys() {
            if !is_dns_label(k, 40) {
                d.error_at(
                    p("members").key(k),
                    "Invalid member name",
                    format!("{k:?} is not a DNS label: use 1 to 40 lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. \"us-east\"."),
                );
            }
        }
    }
    if let Some(members) = &spec.members {
        check_members(members, spec.member.as_deref(), d);
    }
    check_tls(&c, d);
    check_exposure(&c, d);
    check_storage(&c, d);
    check_backup(&c, d);
    check_rwx(&c, d);
    if let (Some(Some(primary)), Some(members)) = (&spec.primary_member, &spec.members) {
        if !members.contains_key(primary) {
            d.error_at(
                p("primary_member"),
                "Unknown primary member",
                format!(
                    "{primary:?} is not in members ({}).",
                    members.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }
    if let (Some(Some(_)), Some(t)) = (&spec.wordpress_node_port, spec.wordpress_service_type) {
        if !t.has_node_port() {
            d.error_at(
                p("wordpress_node_port"),
                "Node port without a node-port Service",
                format!("wordpress_node_port needs wordpress_service_type = \"NodePort\" or \"LoadBalancer\"; it is {:?}. Set the service type, or remove the node port.", t.as_str()),
            );
        }
    }
}

/// One source for wp-content's class: the cluster's, or one the stack makes.
fn check_rwx(c: &super::model::StackModelPartial, d: &mut Diagnostics) {
    let s = &c.spec;
    let p = AttrPath::root;
    let own = matches!(s.wp_content_storage_class_provisioner, Some(Some(_)));
    if own && matches!(s.wp_content_storage_class, Some(Some(_))) {
        d.error_at(
            p("wp_content_storage_class_provisioner"),
            "Two classes for wp-content",
            "wp_content_storage_class names a class of the cluster and wp_content_storage_class_provisioner makes the stack one; wp-content can have only one. Remove one of them.",
        );
    }
    if !own
        && matches!(s.wp_content_storage_class_provisioner, Some(None))
        && s.wp_content_storage_class_parameters
            .as_ref()
            .is_some_and(|m| !m.is_empty())
    {
        d.error_at(
            p("wp_content_storage_class_parameters"),
            "Parameters without a provisioner",
            "wp_content_storage_class_parameters are the parameters of the class the stack makes with wp_content_storage_class_provisioner, which is not set. Set it (e.g. \"efs.csi.aws.com\"), or remove the parameters.",
        );
    }
}

/// A backup repository needs its password, a `/backup/` one its volume.
fn check_backup(c: &super::model::StackModelPartial, d: &mut Diagnostics) {
    let s = &c.spec;
    let p = AttrPath::root;
    match &s.backup_repository {
        Some(Some(repo)) => {
            if matches!(c.secrets.backup_password, Some(None)) {
                d.error_at(
                    p("backup_password"),
                    "Backups without a password",
                    "backup_repository is set and backup_password is not: restic encrypts every backup with it. Pass geowp_site.NAME.backup_password (the same in every region).",
                );
            }
            let on_volume = repo.starts_with('/');
            match &s.backup_volume_claim {
                Some(None) if on_volume => d.error_at(
                    p("backup_volume_claim"),
                    "No volume for the repository",
                    format!("backup_repository {repo:?} is a directory, which needs a volume: set backup_volume_claim to an existing PersistentVolumeClaim of the namespace (mounted at /backup), or use object storage (s3:, gs:, azure:)."),
                ),
                Some(Some(claim)) if !on_volume => d.error_at(
                    p("backup_volume_claim"),
                    "A volume the repository does not use",
                    format!("backup_volume_claim {claim:?} is mounted at /backup, but backup_repository {repo:?} is not under /backup/. Remove the claim, or give the repository as /backup/PATH."),
                ),
                _ => {}
            }
        }
        Some(None) => {
            for (attr, set) in [
                (
                    "backup_credentials",
                    matches!(c.secrets.backup_credentials, Some(Some(_))),
                ),
                (
                    "backup_volume_claim",
                    matches!(s.backup_volume_claim, Some(Some(_))),
                ),
                (
                    "backup_service_account",
                    matches!(s.backup_service_account, Some(Some(_))),
                ),
            ] {
                if set {
                    d.error_at(
                        p(attr),
                        "Backup settings without a repository",
                        format!("{attr} is set but backup_repository is not, so there are no backups to use it. Set backup_repository, or remove {attr}."),
                    );
                }
            }
        }
        None => {}
    }
}

/// One source for the ReadWriteOnce volumes' class: a named class or the
/// stack's own; WordPress behind a TLS listener needs an https site.
fn check_storage(c: &super::model::StackModelPartial, d: &mut Diagnostics) {
    let s = &c.spec;
    let p = AttrPath::root;
    let own = matches!(s.storage_class_provisioner, Some(Some(_)));
    if own && matches!(s.storage_class, Some(Some(_))) {
        d.error_at(
            p("storage_class_provisioner"),
            "Two storage classes",
            "storage_class names a class of the cluster and storage_class_provisioner makes the stack one; the volumes can have only one. Remove one of them.",
        );
    }
    if !own
        && matches!(s.storage_class_provisioner, Some(None))
        && s.storage_class_parameters
            .as_ref()
            .is_some_and(|m| !m.is_empty())
    {
        d.error_at(
            p("storage_class_parameters"),
            "Parameters without a provisioner",
            "storage_class_parameters are the parameters of the StorageClass the stack makes with storage_class_provisioner, which is not set. Set storage_class_provisioner (e.g. \"ebs.csi.eks.amazonaws.com\"), or remove the parameters.",
        );
    }
    if s.wordpress_tls_at_load_balancer == Some(true) {
        if let Some(url) = &s.site_url {
            if !url.starts_with("https://") {
                d.error_at(
                    p("wordpress_tls_at_load_balancer"),
                    "TLS at the load balancer of an http site",
                    format!("wordpress_tls_at_load_balancer makes WordPress take every request as https, but site_url is {url:?}. Give site_url as https://..., or set wordpress_tls_at_load_balancer to false."),
                );
            }
        }
    }
}

/// TLS among PD, TiKV and TiDB needs the site CA and https PD URLs; turning
/// it off is allowed, with a warning.
fn check_tls(c: &super::model::StackModelPartial, d: &mut Diagnostics) {
    let p = AttrPath::root;
    match c.spec.tidb_tls {
        Some(false) => d.warning_at(
            p("tidb_tls"),
            "TLS among PD, TiKV and TiDB is off",
            "PD's API and TiKV's key-value port have no authentication of their own: without TLS, whoever reaches them can read or rewrite the whole database, and everything between regions travels in clear. Keep tidb_tls on unless every peer path is private.",
        ),
        Some(true) => {
            for (attr, known_absent) in [
                ("tls_ca_certificate", c.secrets.tls_ca_certificate.as_ref().map(Option::is_none)),
                ("tls_ca_private_key", c.secrets.tls_ca_private_key.as_ref().map(Option::is_none)),
            ] {
                if known_absent == Some(true) {
                    d.error_at(
                        p(attr),
                        "Site CA missing",
                        format!("with tidb_tls (the default), this region's certificate is issued from the site CA: pass geowp_site.NAME.{attr}."),
                    );
                }
            }
            if let (Some(Some(cert)), Some(Some(key))) = (&c.secrets.tls_ca_certificate, &c.secrets.tls_ca_private_key) {
                let pair = crate::pki::Pair {
                    cert_pem: cert.clone(),
                    key_pem: key.expose().clone(),
                };
                if geowp_kube::pem::certificates(cert).is_ok() && geowp_kube::pem::private_key(key.expose()).is_ok() && !crate::pki::ca_matches(&pair) {
                    d.error_at(p("tls_ca_private_key"), "CA key does not match", "tls_ca_private_key is not the key of tls_ca_certificate: pass both from the same geowp_site.");
                }
            }
            if let Some(members) = &c.spec.members {
                for (name, m) in members {
                    for (attr, url) in [("pd_client_url", &m.pd_client_url), ("pd_peer_url", &m.pd_peer_url)] {
                        if url.starts_with("http://") {
                            d.error_at(
                                AttrPath::root("members").key(name).attr(attr),
                                "PD speaks https",
                                format!("with tidb_tls (the default) PD serves TLS only: write {:?}.", url.replacen("http://", "https://", 1)),
                            );
                        }
                    }
                }
            }
        }
        None => {}
    }
}

/// Peer ports reachable by anyone who reaches the load balancer.
fn check_exposure(c: &super::model::StackModelPartial, d: &mut Diagnostics) {
    use crate::render::ServiceType;
    let s = &c.spec;
    if s.peer_service_type == Some(ServiceType::LoadBalancer)
        && s.peer_source_ranges.as_ref().is_some_and(Vec::is_empty)
        && s.peer_service_annotations
            .as_ref()
            .is_some_and(|a| a.is_empty())
        && s.peer_service_annotations_by_service
            .as_ref()
            .is_some_and(|a| a.values().all(|m| m.is_empty()))
    {
        d.warning_at(
            AttrPath::root("peer_source_ranges"),
            "Peer ports open to whoever reaches them",
            "PD (2379, 2380), TiKV (20160) and SyncThing (22000) get LoadBalancer Services with no source ranges and no annotations: on most clouds that is a public address open to everyone. Set peer_source_ranges to the other regions' node and pod ranges, and peer_service_annotations for an internal load balancer (see the GKE example).",
        );
    }
    // the API server takes the source-ranges annotation only on a
    // LoadBalancer Service (kubernetes/kubernetes@v1.33.3
    // pkg/apis/core/validation/validation.go:6086-6088, ValidateService)
    const RANGES: &str = "service.beta.kubernetes.io/load-balancer-source-ranges";
    let refused = |ty: Option<ServiceType>| ty.is_some_and(|t| t != ServiceType::LoadBalancer);
    if refused(s.wordpress_service_type)
        && s.wordpress_service_annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(RANGES))
    {
        d.error_at(
            AttrPath::root("wordpress_service_annotations").key(RANGES),
            "Source ranges on a Service that is not a load balancer",
            format!("Kubernetes accepts {RANGES} only on a LoadBalancer Service, and wordpress_service_type is not \"LoadBalancer\". Remove the annotation, or make the Service a LoadBalancer."),
        );
    }
    let peer_has = s
        .peer_service_annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(RANGES))
        || s.peer_service_annotations_by_service
            .as_ref()
            .is_some_and(|m| m.values().any(|a| a.contains_key(RANGES)));
    if refused(s.peer_service_type) && peer_has {
        d.error_at(
            AttrPath::root("peer_service_annotations"),
            "Source ranges on a Service that is not a load balancer",
            format!("Kubernetes accepts {RANGES} only on a LoadBalancer Service, and peer_service_type is not \"LoadBalancer\". Remove the annotation (peer_source_ranges limits who reaches the peers through NetworkPolicies), or make the peer Services LoadBalancers."),
        );
    }
    // (no NFS server of ours with the cluster's own ReadWriteMany class)
    if s.node_source_ranges.as_ref().is_some_and(Vec::is_empty)
        && matches!(s.wp_content_storage_class, Some(None))
        && matches!(s.wp_content_storage_class_provisioner, Some(None))
    {
        d.warning_at(
            AttrPath::root("node_source_ranges"),
            "NFS export open to the whole cluster network",
            "without node_source_ranges the NFS server admits any address the cluster routes, so any pod can mount wp-content. Set it to the CIDR of this cluster's nodes (the kubelet mounts NFS volumes from the node's address).",
        );
    }
}

fn check_members(members: &BTreeMap<String, Member>, me: Option<&str>, d: &mut Diagnostics) {
    let at = AttrPath::root("members");
    if members.len() < 3 {
        d.error_at(
            at.clone(),
            "Too few members",
            format!("a site needs at least 3 members so that TiDB (3 replicas, one per region) keeps quorum when a region is lost; {} given. To move a region to another cluster, keep its member name and change its cluster settings and addresses instead of removing it.", members.len()),
        );
    }
    if let Some(me) = me {
        if !members.contains_key(me) {
            d.error_at(
                at.clone(),
                "Member missing from members",
                format!("members must list every member of the site, this one ({me:?}) included."),
            );
        }
    }
    // every address is one member's only: PD would get two members on one URL
    type Get = fn(&Member) -> &str;
    let fields: [(&str, Get); 4] = [
        ("pd_client_url", |m| &m.pd_client_url),
        ("pd_peer_url", |m| &m.pd_peer_url),
        ("tikv_address", |m| &m.tikv_address),
        ("syncthing_address", |m| &m.syncthing_address),
    ];
    for (attr, get) in fields {
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for (name, m) in members {
            let v = get(m).trim_end_matches('/').to_ascii_lowercase();
            match seen.get(&v) {
                Some(other) => d.error_at(
                    at.clone().key(name).attr(attr),
                    "Duplicate address",
                    format!("members {other:?} and {name:?} have the same {attr} {:?}: each member needs its own address, or TiDB and SyncThing mistake one for the other.", get(m)),
                ),
                None => {
                    seen.insert(v, name);
                }
            }
        }
    }
    for (name, m) in members {
        if crate::render::host_port_of(&m.pd_client_url)
            == crate::render::host_port_of(&m.pd_peer_url)
        {
            d.error_at(
                at.clone().key(name).attr("pd_peer_url"),
                "Duplicate address",
                "pd_client_url and pd_peer_url of one member must differ (PD serves clients on 2379 and peers on 2380).",
            );
        }
    }
}
