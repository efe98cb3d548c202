//! This region's TiDB member: PD, TiKV and the TiDB server as StatefulSets on
//! claims (one component function for all three), their headless Services,
//! the per-pod Services other regions dial, PD's config, and the bootstrap
//! Job that creates WordPress's database and user.

use std::collections::BTreeMap;

use geowp_common::names::{object, secret};
use geowp_kube::Obj;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, ContainerPort, HTTPGetAction, PodSpec, PodTemplateSpec,
    Probe, Service, ServicePort, ServiceSpec, TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::build::{
    claim_template, config_map, env_secret, headless, labels, meta, mount, port, selector,
    short_hash, statefulset, svc_port,
};
use super::spec::ServiceType;
use super::{host_port_of, StackSpec};

const PD_CONFIG: &str = "[replication]\nmax-replicas = 3\nlocation-labels = [\"zone\"]\n";

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

/// One of the three TiDB components, as a StatefulSet.
struct Component<'a> {
    name: &'static str,
    binary: &'static str,
    args: Vec<String>,
    ports: Vec<ContainerPort>,
    probe: Probe,
    replicas: i32,
    data: &'static str,
    data_size: &'a str,
    extra_mounts: Vec<VolumeMount>,
    volumes: Vec<Volume>,
}

fn component(spec: &StackSpec, c: Component) -> Obj {
    let mut mounts = vec![mount(&format!("{}-data", c.name), c.data)];
    mounts.extend(c.extra_mounts);
    let pod = PodSpec {
        containers: vec![Container {
            name: c.name.into(),
            image: Some(format!("pingcap/{}:{}", c.name, spec.tidb_version)),
            command: Some(vec![c.binary.into()]),
            args: Some(c.args),
            ports: Some(c.ports),
            volume_mounts: Some(mounts),
            readiness_probe: Some(c.probe),
            ..Default::default()
        }],
        volumes: (!c.volumes.is_empty()).then_some(c.volumes),
        ..Default::default()
    };
    let claims = vec![claim_template(
        spec,
        &format!("{}-data", c.name),
        c.data_size,
    )];
    Obj::new(&statefulset(spec, c.name, c.replicas, pod, claims))
}

fn http_probe(path: &str, port: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(port),
            ..Default::default()
        }),
        period_seconds: Some(10),
        ..Default::default()
    }
}

/// The static IP to ask the cloud for: the advertised host, when the peer
/// Services are load balancers and it is an IP literal.
pub(super) fn lb_ip(spec: &StackSpec, advertised: &str) -> Option<String> {
    let host = host_port_of(advertised)
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or("");
    (spec.peer_service_type == ServiceType::LoadBalancer
        && host.parse::<std::net::IpAddr>().is_ok())
    .then(|| host.to_string())
}

/// A Service for one pod of a StatefulSet: what another region dials.
pub fn per_pod(spec: &StackSpec, sts: &str, advertised: &str, ports: Vec<ServicePort>) -> Service {
    let pod = format!("{sts}-0");
    Service {
        metadata: meta(spec, &pod, sts),
        spec: Some(ServiceSpec {
            type_: Some(spec.peer_service_type.as_str().into()),
            load_balancer_ip: lb_ip(spec, advertised),
            publish_not_ready_addresses: Some(true),
            selector: Some(BTreeMap::from([(
                geowp_common::names::label::POD_NAME.to_string(),
                pod.clone(),
            )])),
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn objects(spec: &StackSpec) -> Vec<Obj> {
    let me = spec.me().cloned();
    let (my_client, my_peer, my_tikv) = me
        .as_ref()
        .map(|m| {
            (
                m.pd_client_url.clone(),
                m.pd_peer_url.clone(),
                m.tikv_address.clone(),
            )
        })
        .unwrap_or_default();
    let pd_ports = || {
        vec![
            svc_port("client", 2379, "TCP"),
            svc_port("peer", 2380, "TCP"),
        ]
    };
    let mut out = vec![
        Obj::new(&config_map(
            spec,
            "pd-config",
            object::PD,
            "pd.toml",
            PD_CONFIG,
        )),
        Obj::new(&config_map(
            spec,
            "tidb-bootstrap",
            object::TIDB,
            "bootstrap.sh",
            BOOTSTRAP_SH,
        )),
        Obj::new(&headless(spec, object::PD, pd_ports())),
        Obj::new(&per_pod(spec, object::PD, &my_client, pd_ports())),
        Obj::new(&headless(
            spec,
            object::TIKV,
            vec![
                svc_port("server", 20160, "TCP"),
                svc_port("status", 20180, "TCP"),
            ],
        )),
        Obj::new(&per_pod(
            spec,
            object::TIKV,
            &my_tikv,
            vec![svc_port("server", 20160, "TCP")],
        )),
        Obj::new(&Service {
            metadata: meta(spec, object::TIDB, object::TIDB),
            spec: Some(ServiceSpec {
                selector: Some(selector(object::TIDB)),
                ports: Some(vec![
                    svc_port("mysql", 4000, "TCP"),
                    svc_port("status", 10080, "TCP"),
                ]),
                ..Default::default()
            }),
            ..Default::default()
        }),
    ];
    out.push(component(
        spec,
        Component {
            name: object::PD,
            binary: "/pd-server",
            args: vec![
                format!("--name={}", spec.member),
                "--data-dir=/var/lib/pd".into(),
                "--client-urls=http://0.0.0.0:2379".into(),
                format!("--advertise-client-urls={my_client}"),
                "--peer-urls=http://0.0.0.0:2380".into(),
                format!("--advertise-peer-urls={my_peer}"),
                format!("--initial-cluster={}", spec.initial_cluster()),
                "--config=/etc/pd/pd.toml".into(),
            ],
            ports: vec![port("client", 2379), port("peer", 2380)],
            probe: http_probe("/pd/api/v1/health", 2379),
            replicas: 1,
            data: "/var/lib/pd",
            data_size: &spec.pd_storage_size,
            extra_mounts: vec![mount("pd-config", "/etc/pd")],
            volumes: vec![Volume {
                name: "pd-config".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: "pd-config".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
        },
    ));
    out.push(component(
        spec,
        Component {
            name: object::TIKV,
            binary: "/tikv-server",
            args: vec![
                format!("--pd={}", spec.pd_addresses()),
                "--addr=0.0.0.0:20160".into(),
                format!("--advertise-addr={my_tikv}"),
                "--status-addr=0.0.0.0:20180".into(),
                "--data-dir=/var/lib/tikv".into(),
                format!("--labels=zone={}", spec.zone()),
            ],
            ports: vec![port("server", 20160), port("status", 20180)],
            probe: Probe {
                tcp_socket: Some(TCPSocketAction {
                    port: IntOrString::Int(20160),
                    ..Default::default()
                }),
                period_seconds: Some(10),
                ..Default::default()
            },
            replicas: 1,
            data: "/var/lib/tikv",
            data_size: &spec.tikv_storage_size,
            extra_mounts: vec![],
            volumes: vec![],
        },
    ));
    out.push(component(
        spec,
        Component {
            name: object::TIDB,
            binary: "/tidb-server",
            args: vec![
                "--store=tikv".into(),
                format!("--path={}", spec.pd_addresses()),
                "-P".into(),
                "4000".into(),
                "--status=10080".into(),
                "--tmp-storage-path=/var/lib/tidb/tmp".into(),
            ],
            ports: vec![port("mysql", 4000), port("status", 10080)],
            probe: http_probe("/status", 10080),
            replicas: spec.tidb_replicas,
            data: "/var/lib/tidb",
            data_size: &spec.tidb_storage_size,
            extra_mounts: vec![],
            volumes: vec![],
        },
    ));
    out.push(bootstrap_job(spec));
    out
}

/// A Job's template is immutable: a new script or image is a new Job.
fn bootstrap_job(spec: &StackSpec) -> Obj {
    let pod = PodSpec {
        restart_policy: Some("OnFailure".into()),
        containers: vec![Container {
            name: "bootstrap".into(),
            image: Some(spec.mysql_client_image.clone()),
            command: Some(vec!["sh".into(), "/bootstrap/bootstrap.sh".into()]),
            env: Some(vec![
                env_secret(
                    secret::TIDB_ROOT_PASSWORD,
                    secret::SITE,
                    secret::TIDB_ROOT_PASSWORD,
                ),
                env_secret(
                    secret::WORDPRESS_DB_PASSWORD,
                    secret::SITE,
                    secret::WORDPRESS_DB_PASSWORD,
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
    let name = format!(
        "tidb-bootstrap-{}",
        short_hash(&format!("{BOOTSTRAP_SH}{}", spec.mysql_client_image))
    );
    Obj::new(&Job {
        metadata: meta(spec, &name, "tidb-bootstrap"),
        spec: Some(JobSpec {
            backoff_limit: Some(30),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(spec, "tidb-bootstrap")),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    })
}
