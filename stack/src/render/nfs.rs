//! The NFS provisioner serving the region's ReadWriteMany volume: its RBAC,
//! StorageClass, server StatefulSet and Service, and the `wp-content` claim
//! WordPress and SyncThing share.

use std::collections::BTreeMap;

use geowp_kube::Obj;
use k8s_openapi::api::core::v1::{
    Container, EnvVar, PodSpec, Service, ServiceAccount, ServiceSpec,
};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::api::storage::v1::StorageClass;

use super::build::{
    claim, claim_template, cluster_meta, env, env_field, meta, mount, port, selector, statefulset,
    svc_port,
};
use super::harden::{self, RunAs};
use super::spec::Component;
use super::StackSpec;

/// What the NFS server adds back after dropping every capability: it serves
/// files on behalf of clients of any user, so it must read and search any
/// directory (DAC_READ_SEARCH, DAC_OVERRIDE), create files as their owners
/// (CHOWN, FOWNER, FSETID, SETUID, SETGID), raise its file limits
/// (SYS_RESOURCE, as upstream's manifest asks) and bind rpcbind's port 111
/// (NET_BIND_SERVICE).
const NFS_CAPABILITIES: [&str; 9] = [
    "DAC_READ_SEARCH",
    "DAC_OVERRIDE",
    "CHOWN",
    "FOWNER",
    "FSETID",
    "SETUID",
    "SETGID",
    "SYS_RESOURCE",
    "NET_BIND_SERVICE",
];

/// The claim the NFS StatefulSet makes from its `export` template: the disk
/// the server writes to, which SyncThing watches too.
pub const EXPORT_CLAIM: &str = "export-nfs-0";

const COMPONENT: &str = "nfs";
const ACCOUNT: &str = "nfs-provisioner";
/// The ReadWriteMany claim of `wp-content`.
pub const WP_CONTENT_CLAIM: &str = "wp-content";

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.into()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..Default::default()
    }
}

fn subject(spec: &StackSpec) -> Vec<Subject> {
    vec![Subject {
        kind: "ServiceAccount".into(),
        name: ACCOUNT.into(),
        namespace: Some(spec.namespace.clone()),
        ..Default::default()
    }]
}

/// The StorageClass of the ReadWriteOnce volumes when the stack makes its
/// own (`storage_class_provisioner`): a deleted claim keeps its disk, and a
/// volume is made in the zone its pod is scheduled to.
pub fn block_class(spec: &StackSpec) -> Option<Obj> {
    let provisioner = spec.storage_class_provisioner.clone()?;
    let params = &spec.storage_class_parameters;
    Some(Obj::new(&StorageClass {
        metadata: cluster_meta(spec, &spec.block_storage_class_name(), "storage"),
        provisioner,
        parameters: (!params.is_empty()).then(|| params.clone()),
        reclaim_policy: Some("Retain".into()),
        volume_binding_mode: Some("WaitForFirstConsumer".into()),
        allow_volume_expansion: Some(true),
        ..Default::default()
    }))
}

/// The `wp-content` claim, on the cluster's own ReadWriteMany class or the
/// NFS server's.
fn wp_content_claim(spec: &StackSpec) -> Obj {
    Obj::new(&claim(
        spec,
        WP_CONTENT_CLAIM,
        Some(spec.wp_content_class()),
        "ReadWriteMany",
        &spec.wp_content_size,
    ))
}

/// The ReadWriteMany StorageClass the stack makes with
/// `wp_content_storage_class_provisioner`: a deleted claim keeps its data,
/// bound at once (WordPress's pods in any zone mount it). No expansion: a
/// network filesystem's size is its own (EFS ignores the request).
fn rwx_class(spec: &StackSpec) -> Option<Obj> {
    let provisioner = spec.wp_content_storage_class_provisioner.clone()?;
    let params = &spec.wp_content_storage_class_parameters;
    Some(Obj::new(&StorageClass {
        metadata: cluster_meta(spec, &spec.rwx_storage_class_name(), "storage"),
        provisioner,
        parameters: (!params.is_empty()).then(|| params.clone()),
        reclaim_policy: Some("Retain".into()),
        volume_binding_mode: Some("Immediate".into()),
        ..Default::default()
    }))
}

pub fn objects(spec: &StackSpec) -> Vec<Obj> {
    if !spec.runs_nfs() {
        // the cluster's class serves wp-content: no server of our own
        let mut v: Vec<Obj> = rwx_class(spec).into_iter().collect();
        v.push(wp_content_claim(spec));
        return v;
    }
    let cr_name = format!("geowp-{}-nfs-provisioner", spec.namespace);
    let sc_name = spec.storage_class_name();
    let cluster_role = ClusterRole {
        metadata: cluster_meta(spec, &cr_name, COMPONENT),
        rules: Some(vec![
            rule(
                "",
                &["persistentvolumes"],
                &["get", "list", "watch", "create", "delete"],
            ),
            rule(
                "",
                &["persistentvolumeclaims"],
                &["get", "list", "watch", "update"],
            ),
            rule(
                "storage.k8s.io",
                &["storageclasses"],
                &["get", "list", "watch"],
            ),
            rule("", &["events"], &["create", "update", "patch"]),
            rule("", &["services", "endpoints"], &["get"]),
        ]),
        ..Default::default()
    };
    let binding = ClusterRoleBinding {
        metadata: cluster_meta(spec, &cr_name, COMPONENT),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: cr_name.clone(),
        },
        subjects: Some(subject(spec)),
    };
    let class = StorageClass {
        metadata: cluster_meta(spec, &sc_name, COMPONENT),
        provisioner: spec.provisioner_name(),
        // www-data: WordPress and SyncThing both write as gid 33
        parameters: Some(BTreeMap::from([("gid".to_string(), "33".to_string())])),
        mount_options: Some(vec!["vers=4.1".into()]),
        reclaim_policy: Some("Retain".into()),
        volume_binding_mode: Some("Immediate".into()),
        // without it the API server refuses a larger wp-content request (the
        // PersistentVolumeClaimResize admission plugin); the export is a
        // directory on the server's disk, so growing the claim needs no
        // resizer (the disk itself is nfs_storage_size)
        allow_volume_expansion: Some(true),
        ..Default::default()
    };
    let leader = "nfs-provisioner-leader";
    let role = Role {
        metadata: meta(spec, leader, COMPONENT),
        rules: Some(vec![
            rule(
                "",
                &["endpoints"],
                &["get", "list", "watch", "create", "update", "patch"],
            ),
            rule(
                "coordination.k8s.io",
                &["leases"],
                &["get", "create", "update"],
            ),
        ]),
    };
    let role_binding = RoleBinding {
        metadata: meta(spec, leader, COMPONENT),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: leader.into(),
        },
        subjects: Some(subject(spec)),
    };
    let service = Service {
        metadata: meta(spec, COMPONENT, COMPONENT),
        spec: Some(ServiceSpec {
            selector: Some(selector(COMPONENT)),
            ports: Some(vec![
                svc_port("nfs", 2049, "TCP"),
                svc_port("nfs-udp", 2049, "UDP"),
                svc_port("mountd", 20048, "TCP"),
                svc_port("mountd-udp", 20048, "UDP"),
                svc_port("rpcbind", 111, "TCP"),
                svc_port("rpcbind-udp", 111, "UDP"),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pod = PodSpec {
        service_account_name: Some(ACCOUNT.into()),
        // the provisioner watches claims and makes volumes through the API
        automount_service_account_token: Some(true),
        security_context: Some(harden::pod(RunAs::Root)),
        containers: vec![Container {
            name: ACCOUNT.into(),
            image: Some(spec.nfs_provisioner_image.clone()),
            args: Some(vec![
                format!("-provisioner={}", spec.provisioner_name()),
                "-grace-period=10".into(),
            ]),
            env: Some(vec![
                env("SERVICE_NAME", COMPONENT),
                env_field("POD_NAMESPACE", "metadata.namespace"),
            ] as Vec<EnvVar>),
            ports: Some(vec![
                port("nfs", 2049),
                port("mountd", 20048),
                port("rpcbind", 111),
            ]),
            security_context: Some(harden::container(&NFS_CAPABILITIES)),
            resources: Some(harden::resources(&spec.resources_of(Component::Nfs))),
            readiness_probe: Some(harden::tcp(2049, 10, 0, 3)),
            liveness_probe: Some(harden::tcp(2049, 20, 30, 6)),
            volume_mounts: Some(vec![mount("export", "/export")]),
            ..Default::default()
        }],
        ..Default::default()
    };
    let server = statefulset(
        spec,
        COMPONENT,
        1,
        pod,
        vec![claim_template(spec, "export", &spec.nfs_storage_size)],
    );
    vec![
        Obj::new(&cluster_role),
        Obj::new(&binding),
        Obj::new(&class),
        Obj::new(&ServiceAccount {
            metadata: meta(spec, ACCOUNT, COMPONENT),
            // only the provisioner's pod mounts a token (it asks for one)
            automount_service_account_token: Some(false),
            ..Default::default()
        }),
        Obj::new(&role),
        Obj::new(&role_binding),
        Obj::new(&service),
        wp_content_claim(spec),
        Obj::new(&server),
    ]
}
