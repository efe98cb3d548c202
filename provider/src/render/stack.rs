//! The objects of one region: namespace; TiDB (PD, TiKV, TiDB server as
//! StatefulSets on claims, per-pod Services for cross-region reach, a
//! bootstrap Job); the NFS provisioner (RBAC, StatefulSet, StorageClass)
//! and a ReadWriteMany claim; WordPress; SyncThing.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, StatefulSet, StatefulSetSpec,
};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    ExecAction, HTTPGetAction, Namespace, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, Probe, SecretKeySelector,
    SecretVolumeSource, SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec, Volume,
    VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::ByteString;
use serde::Serialize;

use super::{
    salt_env, Obj, Secrets, StackSpec, SyncthingSecrets, CONFIG_ANNOTATION, MANAGED_BY,
    MEMBER_LABEL, SITE_LABEL,
};

const PD_CONFIG: &str = "[replication]\nmax-replicas = 3\nlocation-labels = [\"zone\"]\n";

const HEALTH_PHP: &str = r#"<?php
// geowp health check: ready only when the database answers.
$host = explode(':', getenv('WORDPRESS_DB_HOST'));
mysqli_report(MYSQLI_REPORT_OFF);
$db = @new mysqli($host[0], getenv('WORDPRESS_DB_USER'), getenv('WORDPRESS_DB_PASSWORD'), getenv('WORDPRESS_DB_NAME'), isset($host[1]) ? (int)$host[1] : 3306);
if ($db->connect_errno || !$db->query('SELECT 1')) {
    http_response_code(503);
    echo "database unavailable\n";
    exit;
}
echo "ok\n";
"#;

/// Runs in the bootstrap Job: sets the root password (first run: root has
/// none), creates the WordPress database and its least-privileged user, and
/// turns on what WordPress needs from TiDB (SQL_CALC_FOUND_ROWS is a no-op
/// function there). Idempotent; passwords come from the environment.
const BOOTSTRAP_SH: &str = r#"set -eu
q() { mysql -h tidb -P 4000 -u root "$@"; }
if q -p"$TIDB_ROOT_PASSWORD" -e 'SELECT 1' >/dev/null 2>&1; then
  auth="-p$TIDB_ROOT_PASSWORD"
else
  q -e "ALTER USER 'root'@'%' IDENTIFIED BY '$TIDB_ROOT_PASSWORD'"
  auth="-p$TIDB_ROOT_PASSWORD"
fi
q "$auth" -e "
SET GLOBAL tidb_enable_noop_functions = ON;
CREATE DATABASE IF NOT EXISTS wordpress CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE USER IF NOT EXISTS 'wordpress'@'%' IDENTIFIED BY '$WORDPRESS_DB_PASSWORD';
ALTER USER 'wordpress'@'%' IDENTIFIED BY '$WORDPRESS_DB_PASSWORD';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, CREATE TEMPORARY TABLES, LOCK TABLES ON wordpress.* TO 'wordpress'@'%';
"
echo bootstrap done
"#;

fn labels(spec: &StackSpec, component: &str) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert(MANAGED_BY.to_string(), "geowp".to_string());
    l.insert(SITE_LABEL.to_string(), spec.site.clone());
    l.insert(MEMBER_LABEL.to_string(), spec.member.clone());
    if !component.is_empty() {
        l.insert(
            "app.kubernetes.io/component".to_string(),
            component.to_string(),
        );
    }
    l
}

fn selector(component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(
        "app.kubernetes.io/component".to_string(),
        component.to_string(),
    )])
}

fn meta(spec: &StackSpec, name: &str, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(spec.namespace.clone()),
        labels: Some(labels(spec, component)),
        ..Default::default()
    }
}

fn cluster_meta(spec: &StackSpec, name: &str, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        labels: Some(labels(spec, component)),
        ..Default::default()
    }
}

struct Out<'a> {
    spec: &'a StackSpec,
    objs: Vec<Obj>,
}

impl Out<'_> {
    fn push<T: Serialize + k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>>(
        &mut self,
        wave: u8,
        name: &str,
        cluster_scoped: bool,
        o: &T,
    ) where
        T::Scope: 'static,
    {
        self.push_flags(wave, name, cluster_scoped, false, false, o)
    }
    fn push_flags<T: Serialize + k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>>(
        &mut self,
        wave: u8,
        name: &str,
        cluster_scoped: bool,
        secret: bool,
        create_only: bool,
        o: &T,
    ) where
        T::Scope: 'static,
    {
        let _ = (wave, name, cluster_scoped, secret, &self.spec);
        let o = Obj::new(o);
        self.objs
            .push(if create_only { o.create_only() } else { o });
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

fn env_secret(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn port(name: &str, p: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: p,
        ..Default::default()
    }
}

fn svc_port(name: &str, p: i32, protocol: &str) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port: p,
        target_port: Some(IntOrString::Int(p)),
        protocol: Some(protocol.into()),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..Default::default()
    }
}

fn claim_template(spec: &StackSpec, name: &str, size: &str) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels(spec, "")),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: spec.storage.class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".into(), Quantity(size.into()))])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn statefulset(
    spec: &StackSpec,
    name: &str,
    replicas: i32,
    pod: PodSpec,
    claims: Vec<PersistentVolumeClaim>,
) -> StatefulSet {
    StatefulSet {
        metadata: meta(spec, name, name),
        spec: Some(StatefulSetSpec {
            replicas: Some(replicas),
            service_name: Some(name.into()),
            selector: LabelSelector {
                match_labels: Some(selector(name)),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(spec, name)),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            volume_claim_templates: if claims.is_empty() {
                None
            } else {
                Some(claims)
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn headless(spec: &StackSpec, name: &str, ports: Vec<ServicePort>) -> Service {
    Service {
        metadata: meta(spec, name, name),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(selector(name)),
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A Service for one pod of a StatefulSet: what another region dials.
/// The static IP to ask the cloud for: the advertised host, when the peer
/// Services are load balancers and it is an IP literal.
fn lb_ip(spec: &StackSpec, advertised: &str) -> Option<String> {
    let host = super::host_port(advertised)
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or("");
    (spec.peer_service_type == "LoadBalancer" && host.parse::<std::net::IpAddr>().is_ok())
        .then(|| host.to_string())
}

fn per_pod(spec: &StackSpec, sts: &str, advertised: &str, ports: Vec<ServicePort>) -> Service {
    let pod = format!("{sts}-0");
    Service {
        metadata: meta(spec, &pod, sts),
        spec: Some(ServiceSpec {
            type_: Some(spec.peer_service_type.clone()),
            load_balancer_ip: lb_ip(spec, advertised),
            publish_not_ready_addresses: Some(true),
            selector: Some(BTreeMap::from([(
                "statefulset.kubernetes.io/pod-name".to_string(),
                pod.clone(),
            )])),
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn bytes(s: &str) -> ByteString {
    ByteString(s.as_bytes().to_vec())
}

fn short_hash(s: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(s.as_bytes());
    h.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// Everything one region needs, in waves: 0 namespace and cluster-scoped
/// objects, 1 configuration (accounts, secrets, config maps, services,
/// claims), 2 workloads.
pub fn render(spec: &StackSpec, secrets: &Secrets, st: &SyncthingSecrets) -> Vec<Obj> {
    let mut out = Out {
        spec,
        objs: Vec::new(),
    };
    let ns_name = spec.namespace.as_str();
    let me = spec.me().cloned();
    let tidb_image = |c: &str| format!("pingcap/{c}:{}", spec.images.tidb_version);

    // ---- wave 0: namespace (the NFS server needs the privileged pod-security level)
    let mut ns_labels = labels(spec, "");
    ns_labels.insert(
        "pod-security.kubernetes.io/enforce".into(),
        "privileged".into(),
    );
    ns_labels.insert(
        "pod-security.kubernetes.io/warn".into(),
        "privileged".into(),
    );
    let cfg_json = serde_json::to_string(spec).unwrap_or_default();
    out.push(
        0,
        ns_name,
        true,
        &Namespace {
            metadata: ObjectMeta {
                name: Some(ns_name.into()),
                labels: Some(ns_labels),
                annotations: Some(BTreeMap::from([(CONFIG_ANNOTATION.to_string(), cfg_json)])),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    let sc_name = spec.storage_class_name();
    let cr_name = format!("geowp-{ns_name}-nfs-provisioner");
    out.push(
        0,
        &cr_name,
        true,
        &ClusterRole {
            metadata: cluster_meta(spec, &cr_name, "nfs"),
            rules: Some(vec![
                PolicyRule {
                    api_groups: Some(vec!["".into()]),
                    resources: Some(vec!["persistentvolumes".into()]),
                    verbs: vec![
                        "get".into(),
                        "list".into(),
                        "watch".into(),
                        "create".into(),
                        "delete".into(),
                    ],
                    ..Default::default()
                },
                PolicyRule {
                    api_groups: Some(vec!["".into()]),
                    resources: Some(vec!["persistentvolumeclaims".into()]),
                    verbs: vec!["get".into(), "list".into(), "watch".into(), "update".into()],
                    ..Default::default()
                },
                PolicyRule {
                    api_groups: Some(vec!["storage.k8s.io".into()]),
                    resources: Some(vec!["storageclasses".into()]),
                    verbs: vec!["get".into(), "list".into(), "watch".into()],
                    ..Default::default()
                },
                PolicyRule {
                    api_groups: Some(vec!["".into()]),
                    resources: Some(vec!["events".into()]),
                    verbs: vec!["create".into(), "update".into(), "patch".into()],
                    ..Default::default()
                },
                PolicyRule {
                    api_groups: Some(vec!["".into()]),
                    resources: Some(vec!["services".into(), "endpoints".into()]),
                    verbs: vec!["get".into()],
                    ..Default::default()
                },
            ]),
            ..Default::default()
        },
    );
    out.push(
        0,
        &cr_name,
        true,
        &ClusterRoleBinding {
            metadata: cluster_meta(spec, &cr_name, "nfs"),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: cr_name.clone(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: "nfs-provisioner".into(),
                namespace: Some(ns_name.into()),
                ..Default::default()
            }]),
        },
    );
    out.push(
        0,
        &sc_name,
        true,
        &StorageClass {
            metadata: cluster_meta(spec, &sc_name, "nfs"),
            provisioner: spec.provisioner_name(),
            // www-data: WordPress and SyncThing both write as gid 33
            parameters: Some(BTreeMap::from([("gid".to_string(), "33".to_string())])),
            mount_options: Some(vec!["vers=4.1".into()]),
            reclaim_policy: Some("Retain".into()),
            volume_binding_mode: Some("Immediate".into()),
            ..Default::default()
        },
    );

    // ---- wave 1: accounts, secrets, configuration, services, claims
    out.push(
        1,
        "nfs-provisioner",
        false,
        &ServiceAccount {
            metadata: meta(spec, "nfs-provisioner", "nfs"),
            ..Default::default()
        },
    );
    out.push(
        1,
        "nfs-provisioner-leader",
        false,
        &Role {
            metadata: meta(spec, "nfs-provisioner-leader", "nfs"),
            rules: Some(vec![
                PolicyRule {
                    api_groups: Some(vec!["".into()]),
                    resources: Some(vec!["endpoints".into()]),
                    verbs: vec![
                        "get".into(),
                        "list".into(),
                        "watch".into(),
                        "create".into(),
                        "update".into(),
                        "patch".into(),
                    ],
                    ..Default::default()
                },
                PolicyRule {
                    api_groups: Some(vec!["coordination.k8s.io".into()]),
                    resources: Some(vec!["leases".into()]),
                    verbs: vec!["get".into(), "create".into(), "update".into()],
                    ..Default::default()
                },
            ]),
        },
    );
    out.push(
        1,
        "nfs-provisioner-leader",
        false,
        &RoleBinding {
            metadata: meta(spec, "nfs-provisioner-leader", "nfs"),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: "nfs-provisioner-leader".into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: "nfs-provisioner".into(),
                namespace: Some(ns_name.into()),
                ..Default::default()
            }]),
        },
    );
    let mut site_data = BTreeMap::from([
        (
            "TIDB_ROOT_PASSWORD".to_string(),
            bytes(&secrets.tidb_root_password),
        ),
        (
            "WORDPRESS_DB_PASSWORD".to_string(),
            bytes(&secrets.wordpress_db_password),
        ),
    ]);
    for (k, v) in &secrets.salts {
        site_data.insert(k.clone(), bytes(v));
    }
    out.push_flags(
        1,
        "site-secrets",
        false,
        true,
        false,
        &k8s_openapi::api::core::v1::Secret {
            metadata: meta(spec, "site-secrets", "site"),
            data: Some(site_data),
            type_: Some("Opaque".into()),
            ..Default::default()
        },
    );
    out.push_flags(
        1,
        "syncthing-identity",
        false,
        true,
        true,
        &k8s_openapi::api::core::v1::Secret {
            metadata: ObjectMeta {
                annotations: Some(BTreeMap::from([(
                    "geowp.dev/device-id".to_string(),
                    st.device_id.clone(),
                )])),
                ..meta(spec, "syncthing-identity", "syncthing")
            },
            data: Some(BTreeMap::from([
                ("cert.pem".to_string(), bytes(&st.cert_pem)),
                ("key.pem".to_string(), bytes(&st.key_pem)),
            ])),
            type_: Some("Opaque".into()),
            ..Default::default()
        },
    );
    let st_config = geowp_syncthing::config::render(&geowp_syncthing::config::Config {
        self_id: st.device_id.clone(),
        self_name: spec.member.clone(),
        peers: vec![],
        folder_id: spec.folder_id.clone(),
        folder_label: spec.folder_id.clone(),
        folder_path: "/var/syncthing/data".into(),
        listen_address: "tcp://0.0.0.0:22000".into(),
        gui_address: "127.0.0.1:8384".into(),
        api_key: st.api_key.clone(),
        rescan_interval_s: 60,
        watcher_delay_s: 1,
    });
    out.push_flags(
        1,
        "syncthing-config",
        false,
        true,
        false,
        &k8s_openapi::api::core::v1::Secret {
            metadata: meta(spec, "syncthing-config", "syncthing"),
            data: Some(BTreeMap::from([(
                "config.xml".to_string(),
                bytes(&st_config),
            )])),
            type_: Some("Opaque".into()),
            ..Default::default()
        },
    );
    out.push(
        1,
        "pd-config",
        false,
        &ConfigMap {
            metadata: meta(spec, "pd-config", "pd"),
            data: Some(BTreeMap::from([(
                "pd.toml".to_string(),
                PD_CONFIG.to_string(),
            )])),
            ..Default::default()
        },
    );
    out.push(
        1,
        "tidb-bootstrap",
        false,
        &ConfigMap {
            metadata: meta(spec, "tidb-bootstrap", "tidb"),
            data: Some(BTreeMap::from([(
                "bootstrap.sh".to_string(),
                BOOTSTRAP_SH.to_string(),
            )])),
            ..Default::default()
        },
    );
    out.push(
        1,
        "wordpress-health",
        false,
        &ConfigMap {
            metadata: meta(spec, "wordpress-health", "wordpress"),
            data: Some(BTreeMap::from([(
                "geowp-health.php".to_string(),
                HEALTH_PHP.to_string(),
            )])),
            ..Default::default()
        },
    );
    let pd_ports = || {
        vec![
            svc_port("client", 2379, "TCP"),
            svc_port("peer", 2380, "TCP"),
        ]
    };
    out.push(1, "pd", false, &headless(spec, "pd", pd_ports()));
    let mine = spec.me().cloned().unwrap_or(super::Member {
        pd_client_url: String::new(),
        pd_peer_url: String::new(),
        tikv_address: String::new(),
        syncthing_address: String::new(),
    });
    out.push(
        1,
        "pd-0",
        false,
        &per_pod(spec, "pd", &mine.pd_client_url, pd_ports()),
    );
    out.push(
        1,
        "tikv",
        false,
        &headless(
            spec,
            "tikv",
            vec![
                svc_port("server", 20160, "TCP"),
                svc_port("status", 20180, "TCP"),
            ],
        ),
    );
    out.push(
        1,
        "tikv-0",
        false,
        &per_pod(
            spec,
            "tikv",
            &mine.tikv_address,
            vec![svc_port("server", 20160, "TCP")],
        ),
    );
    out.push(
        1,
        "tidb",
        false,
        &Service {
            metadata: meta(spec, "tidb", "tidb"),
            spec: Some(ServiceSpec {
                selector: Some(selector("tidb")),
                ports: Some(vec![
                    svc_port("mysql", 4000, "TCP"),
                    svc_port("status", 10080, "TCP"),
                ]),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let nfs_ports = vec![
        svc_port("nfs", 2049, "TCP"),
        svc_port("nfs-udp", 2049, "UDP"),
        svc_port("mountd", 20048, "TCP"),
        svc_port("mountd-udp", 20048, "UDP"),
        svc_port("rpcbind", 111, "TCP"),
        svc_port("rpcbind-udp", 111, "UDP"),
    ];
    out.push(
        1,
        "nfs",
        false,
        &Service {
            metadata: meta(spec, "nfs", "nfs"),
            spec: Some(ServiceSpec {
                selector: Some(selector("nfs")),
                ports: Some(nfs_ports),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    out.push(
        1,
        "wordpress",
        false,
        &Service {
            metadata: meta(spec, "wordpress", "wordpress"),
            spec: Some(ServiceSpec {
                type_: Some(spec.wordpress_service_type.clone()),
                selector: Some(selector("wordpress")),
                ports: Some(vec![ServicePort {
                    node_port: spec.wordpress_node_port,
                    ..svc_port("http", 80, "TCP")
                }]),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    out.push(
        1,
        "syncthing",
        false,
        &Service {
            metadata: meta(spec, "syncthing", "syncthing"),
            spec: Some(ServiceSpec {
                type_: Some(spec.peer_service_type.clone()),
                load_balancer_ip: lb_ip(spec, &mine.syncthing_address),
                selector: Some(selector("syncthing")),
                ports: Some(vec![svc_port("sync", 22000, "TCP")]),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let claim = |name: &str, class: Option<String>, mode: &str, size: &str| PersistentVolumeClaim {
        metadata: meta(spec, name, ""),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec![mode.into()]),
            storage_class_name: class,
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".into(), Quantity(size.into()))])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    out.push(
        1,
        "wp-content",
        false,
        &claim(
            "wp-content",
            Some(sc_name.clone()),
            "ReadWriteMany",
            &spec.storage.wp_content_size,
        ),
    );
    out.push(
        1,
        "syncthing-config",
        false,
        &claim(
            "syncthing-config",
            spec.storage.class.clone(),
            "ReadWriteOnce",
            &spec.storage.syncthing_config_size,
        ),
    );

    // ---- wave 2: workloads
    let (my_client, my_peer, my_tikv) = me
        .map(|m| (m.pd_client_url, m.pd_peer_url, m.tikv_address))
        .unwrap_or_default();
    let pd_pod = PodSpec {
        containers: vec![Container {
            name: "pd".into(),
            image: Some(tidb_image("pd")),
            command: Some(vec!["/pd-server".into()]),
            args: Some(vec![
                format!("--name={}", spec.member),
                "--data-dir=/var/lib/pd".into(),
                "--client-urls=http://0.0.0.0:2379".into(),
                format!("--advertise-client-urls={my_client}"),
                "--peer-urls=http://0.0.0.0:2380".into(),
                format!("--advertise-peer-urls={my_peer}"),
                format!("--initial-cluster={}", spec.initial_cluster()),
                "--config=/etc/pd/pd.toml".into(),
            ]),
            ports: Some(vec![port("client", 2379), port("peer", 2380)]),
            volume_mounts: Some(vec![
                mount("pd-data", "/var/lib/pd"),
                mount("pd-config", "/etc/pd"),
            ]),
            readiness_probe: Some(Probe {
                http_get: Some(HTTPGetAction {
                    path: Some("/pd/api/v1/health".into()),
                    port: IntOrString::Int(2379),
                    ..Default::default()
                }),
                period_seconds: Some(10),
                ..Default::default()
            }),
            ..Default::default()
        }],
        volumes: Some(vec![Volume {
            name: "pd-config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: "pd-config".into(),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        ..Default::default()
    };
    out.push(
        2,
        "pd",
        false,
        &statefulset(
            spec,
            "pd",
            1,
            pd_pod,
            vec![claim_template(spec, "pd-data", &spec.storage.pd_size)],
        ),
    );
    let tikv_pod = PodSpec {
        containers: vec![Container {
            name: "tikv".into(),
            image: Some(tidb_image("tikv")),
            command: Some(vec!["/tikv-server".into()]),
            args: Some(vec![
                format!("--pd={}", spec.pd_addresses()),
                "--addr=0.0.0.0:20160".into(),
                format!("--advertise-addr={my_tikv}"),
                "--status-addr=0.0.0.0:20180".into(),
                "--data-dir=/var/lib/tikv".into(),
                format!("--labels=zone={}", spec.zone),
            ]),
            ports: Some(vec![port("server", 20160), port("status", 20180)]),
            volume_mounts: Some(vec![mount("tikv-data", "/var/lib/tikv")]),
            readiness_probe: Some(Probe {
                tcp_socket: Some(k8s_openapi::api::core::v1::TCPSocketAction {
                    port: IntOrString::Int(20160),
                    ..Default::default()
                }),
                period_seconds: Some(10),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    out.push(
        2,
        "tikv",
        false,
        &statefulset(
            spec,
            "tikv",
            1,
            tikv_pod,
            vec![claim_template(spec, "tikv-data", &spec.storage.tikv_size)],
        ),
    );
    let tidb_pod = PodSpec {
        containers: vec![Container {
            name: "tidb".into(),
            image: Some(tidb_image("tidb")),
            command: Some(vec!["/tidb-server".into()]),
            args: Some(vec![
                "--store=tikv".into(),
                format!("--path={}", spec.pd_addresses()),
                "-P".into(),
                "4000".into(),
                "--status=10080".into(),
                "--tmp-storage-path=/var/lib/tidb/tmp".into(),
            ]),
            ports: Some(vec![port("mysql", 4000), port("status", 10080)]),
            volume_mounts: Some(vec![mount("tidb-data", "/var/lib/tidb")]),
            readiness_probe: Some(Probe {
                http_get: Some(HTTPGetAction {
                    path: Some("/status".into()),
                    port: IntOrString::Int(10080),
                    ..Default::default()
                }),
                period_seconds: Some(10),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    out.push(
        2,
        "tidb",
        false,
        &statefulset(
            spec,
            "tidb",
            spec.tidb_replicas,
            tidb_pod,
            vec![claim_template(spec, "tidb-data", &spec.storage.tidb_size)],
        ),
    );
    let nfs_pod = PodSpec {
        service_account_name: Some("nfs-provisioner".into()),
        containers: vec![Container {
            name: "nfs-provisioner".into(),
            image: Some(spec.images.nfs_provisioner.clone()),
            args: Some(vec![
                format!("-provisioner={}", spec.provisioner_name()),
                "-grace-period=10".into(),
            ]),
            env: Some(vec![
                env("SERVICE_NAME", "nfs"),
                EnvVar {
                    name: "POD_NAMESPACE".into(),
                    value_from: Some(EnvVarSource {
                        field_ref: Some(k8s_openapi::api::core::v1::ObjectFieldSelector {
                            field_path: "metadata.namespace".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ]),
            ports: Some(vec![
                port("nfs", 2049),
                port("mountd", 20048),
                port("rpcbind", 111),
            ]),
            security_context: Some(SecurityContext {
                capabilities: Some(Capabilities {
                    add: Some(vec!["DAC_READ_SEARCH".into(), "SYS_RESOURCE".into()]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            volume_mounts: Some(vec![mount("export", "/export")]),
            ..Default::default()
        }],
        ..Default::default()
    };
    out.push(
        2,
        "nfs",
        false,
        &statefulset(
            spec,
            "nfs",
            1,
            nfs_pod,
            vec![claim_template(spec, "export", &spec.storage.nfs_size)],
        ),
    );

    let mut wp_env = vec![
        env("WORDPRESS_DB_HOST", "tidb:4000"),
        env("WORDPRESS_DB_USER", "wordpress"),
        env("WORDPRESS_DB_NAME", "wordpress"),
        env_secret(
            "WORDPRESS_DB_PASSWORD",
            "site-secrets",
            "WORDPRESS_DB_PASSWORD",
        ),
        env("WORDPRESS_DB_CHARSET", "utf8mb4"),
        // TiDB has no utf8mb4_unicode_520_ci, WordPress' default
        env("WORDPRESS_DB_COLLATE", "utf8mb4_general_ci"),
        env(
            "WORDPRESS_CONFIG_EXTRA",
            &format!(
                "define('WP_HOME', '{0}');\ndefine('WP_SITEURL', '{0}');\n",
                spec.site_url.replace('\'', "")
            ),
        ),
    ];
    for k in secrets.salts.keys() {
        wp_env.push(env_secret(&salt_env(k), "site-secrets", k));
    }
    let wp_pod = PodSpec {
        containers: vec![Container {
            name: "wordpress".into(),
            image: Some(spec.images.wordpress.clone()),
            env: Some(wp_env),
            ports: Some(vec![port("http", 80)]),
            volume_mounts: Some(vec![
                mount("wp-content", "/var/www/html/wp-content"),
                VolumeMount {
                    name: "health".into(),
                    mount_path: "/var/www/html/geowp-health.php".into(),
                    sub_path: Some("geowp-health.php".into()),
                    read_only: Some(true),
                    ..Default::default()
                },
            ]),
            readiness_probe: Some(Probe {
                http_get: Some(HTTPGetAction {
                    path: Some("/geowp-health.php".into()),
                    port: IntOrString::Int(80),
                    ..Default::default()
                }),
                period_seconds: Some(10),
                failure_threshold: Some(3),
                ..Default::default()
            }),
            ..Default::default()
        }],
        volumes: Some(vec![
            Volume {
                name: "wp-content".into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: "wp-content".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Volume {
                name: "health".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: "wordpress-health".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    out.push(
        2,
        "wordpress",
        false,
        &Deployment {
            metadata: meta(spec, "wordpress", "wordpress"),
            spec: Some(DeploymentSpec {
                replicas: Some(spec.wordpress_replicas),
                selector: LabelSelector {
                    match_labels: Some(selector("wordpress")),
                    ..Default::default()
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels(spec, "wordpress")),
                        ..Default::default()
                    }),
                    spec: Some(wp_pod),
                },
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    // Copy, never template: what runs is exactly what was rendered.
    let copy = "set -e\nif [ -f /group/config.xml ]; then cp /group/config.xml /var/syncthing/config/config.xml; else cp /base/config.xml /var/syncthing/config/config.xml; fi\ncp /identity/cert.pem /identity/key.pem /var/syncthing/config/\nmkdir -p /var/syncthing/data/.stfolder\n";
    let secret_vol = |name: &str, secret: &str, optional: bool| Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.into()),
            optional: Some(optional),
            ..Default::default()
        }),
        ..Default::default()
    };
    let st_pod = PodSpec {
        init_containers: Some(vec![Container {
            name: "config".into(),
            image: Some(spec.images.busybox.clone()),
            command: Some(vec!["sh".into(), "-c".into(), copy.into()]),
            volume_mounts: Some(vec![
                mount("identity", "/identity"),
                mount("base", "/base"),
                mount("group", "/group"),
                mount("config", "/var/syncthing/config"),
                mount("data", "/var/syncthing/data"),
            ]),
            ..Default::default()
        }]),
        containers: vec![Container {
            name: "syncthing".into(),
            image: Some(spec.images.syncthing.clone()),
            env: Some(vec![
                env("PUID", "33"),
                env("PGID", "33"),
                env("STNOUPGRADE", "1"),
            ]),
            ports: Some(vec![port("sync", 22000)]),
            volume_mounts: Some(vec![
                mount("config", "/var/syncthing/config"),
                mount("data", "/var/syncthing/data"),
            ]),
            readiness_probe: Some(Probe {
                exec: Some(ExecAction {
                    command: Some(vec![
                        "sh".into(),
                        "-c".into(),
                        "nc -z 127.0.0.1 22000".into(),
                    ]),
                }),
                period_seconds: Some(10),
                ..Default::default()
            }),
            ..Default::default()
        }],
        volumes: Some(vec![
            secret_vol("identity", "syncthing-identity", false),
            secret_vol("base", "syncthing-config", false),
            // written by geowp_sync_group: the config with every peer
            secret_vol("group", "syncthing-group", true),
            Volume {
                name: "config".into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: "syncthing-config".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Volume {
                name: "data".into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: "wp-content".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    out.push(
        2,
        "syncthing",
        false,
        &Deployment {
            metadata: meta(spec, "syncthing", "syncthing"),
            spec: Some(DeploymentSpec {
                // an identity must never run twice
                replicas: Some(1),
                strategy: Some(DeploymentStrategy {
                    type_: Some("Recreate".into()),
                    ..Default::default()
                }),
                selector: LabelSelector {
                    match_labels: Some(selector("syncthing")),
                    ..Default::default()
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels(spec, "syncthing")),
                        ..Default::default()
                    }),
                    spec: Some(st_pod),
                },
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let job_pod = PodSpec {
        restart_policy: Some("OnFailure".into()),
        containers: vec![Container {
            name: "bootstrap".into(),
            image: Some(spec.images.mysql_client.clone()),
            command: Some(vec!["sh".into(), "/bootstrap/bootstrap.sh".into()]),
            env: Some(vec![
                env_secret("TIDB_ROOT_PASSWORD", "site-secrets", "TIDB_ROOT_PASSWORD"),
                env_secret(
                    "WORDPRESS_DB_PASSWORD",
                    "site-secrets",
                    "WORDPRESS_DB_PASSWORD",
                ),
            ]),
            volume_mounts: Some(vec![mount("bootstrap", "/bootstrap")]),
            ..Default::default()
        }],
        volumes: Some(vec![Volume {
            name: "bootstrap".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: "tidb-bootstrap".into(),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        ..Default::default()
    };
    // A Job's template is immutable: a new script or image is a new Job.
    let job_name = format!(
        "tidb-bootstrap-{}",
        short_hash(&format!("{BOOTSTRAP_SH}{}", spec.images.mysql_client))
    );
    out.push(
        2,
        &job_name,
        false,
        &Job {
            metadata: meta(spec, &job_name, "tidb-bootstrap"),
            spec: Some(JobSpec {
                backoff_limit: Some(30),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels(spec, "tidb-bootstrap")),
                        ..Default::default()
                    }),
                    spec: Some(job_pod),
                },
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    out.objs
}
