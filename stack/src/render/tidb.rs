//! This region's TiDB member: PD, TiKV and the TiDB server as StatefulSets on
//! claims (one component function for all three), their configuration files,
//! their headless Services, the per-pod Services other regions dial, the
//! region's TLS certificate Secret, the bootstrap Job that creates
//! WordPress's database and user, and the Job that sets PD's leader
//! priority.
//!
//! With `tidb_tls` every PD, TiKV and TiDB connection is mutual TLS with the
//! site's certificates (one common name for the site, checked by
//! `cert-allowed-cn` / `cluster-verify-cn`); probes are TCP connects, which
//! work on ports that require client certificates.

use std::collections::BTreeMap;

use geowp_common::names::{annotation, object, secret};
use geowp_kube::Obj;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, ContainerPort, EnvVar, HostAlias, PodSpec, PodTemplateSpec,
    Secret, SecretVolumeSource, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::build::{
    bytes, claim_template, config_map, env, headless, labels, meta, mount, port, selector,
    short_hash, statefulset, svc_port,
};
use super::harden::{self, RunAs};
use super::spec::{Component, ServiceType};
use super::{host_port_of, PdTopology, StackSpec, TlsMaterial};

/// Where PD, TiKV, TiDB and their Jobs find the region's certificate.
pub const TLS_DIR: &str = secret::TIDB_TLS_DIR;
/// The Secret holding `ca.crt`, `tls.crt` and `tls.key`.
pub const TLS_SECRET: &str = secret::TIDB_TLS;
/// Where the site Secret's files are mounted for the Jobs.
pub const SECRETS_DIR: &str = "/run/secrets/geowp";
/// PD, TiKV and TiDB run as this user (the images run as root unless told).
const TIDB_USER: RunAs = RunAs::User {
    uid: 10001,
    gid: 10001,
};

/// Runs in the bootstrap Job: sets the root password (on a fresh TiDB root
/// has none), creates the WordPress database and its least-privileged user,
/// and, on TiDB, reads from the closest replica for large reads. It never
/// turns on TiDB's no-op functions: WordPress's SQL_CALC_FOUND_ROWS is
/// answered by the geowp-found-rows must-use plugin instead. Passwords come
/// from the mounted site Secret and go to mysql through an option file, so
/// they are in no argument list and no environment. Idempotent.
pub const BOOTSTRAP_SH: &str = r#"set -eu
umask 077
root_pw=$(cat "$SECRETS_DIR/TIDB_ROOT_PASSWORD")
wp_pw=$(cat "$SECRETS_DIR/WORDPRESS_DB_PASSWORD")
cnf=${TMPDIR:-/tmp}/root.cnf
write_cnf() { printf '[client]\nhost=%s\nport=%s\nuser=root\npassword=%s\n' "$TIDB_HOST" "$TIDB_PORT" "$1" >"$cnf"; }
q() { mysql --defaults-extra-file="$cnf" "$@"; }
write_cnf "$root_pw"
if ! q -e 'SELECT 1' >/dev/null 2>&1; then
  write_cnf ""
  q <<SQL
ALTER USER 'root'@'%' IDENTIFIED BY '$root_pw';
SQL
  write_cnf "$root_pw"
fi
# statements on stdin: no password ever appears in a process's arguments
q <<SQL
CREATE DATABASE IF NOT EXISTS wordpress CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE USER IF NOT EXISTS 'wordpress'@'%' IDENTIFIED BY '$wp_pw';
ALTER USER 'wordpress'@'%' IDENTIFIED BY '$wp_pw';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, CREATE TEMPORARY TABLES, LOCK TABLES ON wordpress.* TO 'wordpress'@'%';
SQL
if q -N -e 'SELECT VERSION()' | grep -q TiDB; then
  q -e "SET GLOBAL tidb_replica_read = 'closest-adaptive'"
  # a day of MVCC history: a bad statement can be read back AS OF TIMESTAMP
  # and a dropped table brought back with FLASHBACK TABLE (docs/guides/undo.md)
  q -e "SET GLOBAL tidb_gc_life_time = '24h'"
  # In the primary member's region only: the data's Raft leaders in its zone,
  # so editors there write without a round trip to another region per
  # statement (docs/guides/page-cache.md). The database's policy is what
  # tables created later take; tables that exist are altered one by one.
  if [ -n "${PRIMARY_ZONE:-}" ]; then
    policy="LEADER_CONSTRAINTS='[+zone=$PRIMARY_ZONE]' FOLLOWERS=2"
    q <<SQL
SET SESSION tidb_placement_mode = 'STRICT';
CREATE PLACEMENT POLICY IF NOT EXISTS geowp_writers $policy;
ALTER PLACEMENT POLICY geowp_writers $policy;
ALTER DATABASE wordpress PLACEMENT POLICY = geowp_writers;
SQL
    for t in $(q -N -e "SELECT table_name FROM information_schema.tables WHERE table_schema = 'wordpress'"); do
      q -e "SET SESSION tidb_placement_mode = 'STRICT'; ALTER TABLE wordpress.\`$t\` PLACEMENT POLICY = geowp_writers"
    done
  fi
fi
rm -f "$cnf"
echo bootstrap done
"#;

/// PD's heartbeat and election timings from the largest round-trip time
/// `rtt` (ms), following etcd's tuning guidance (PD embeds etcd): the tick at
/// least 1.5 RTT, the election timeout at least ten RTT and six ticks; PD's
/// defaults are our floor: 500 ms, 3 s, and a lease of 5 s (tikv/pd@v8.5.7
/// server/config/config.go:178 `defaultLeaderLease`, raised from 3 by
/// pd#9173; PD applies it only when `lease` is unset, config.go:408, so a
/// smaller value we wrote would be taken as is).
pub fn pd_timings(rtt: u32) -> (u32, u32, u32) {
    let tick = 500.max((rtt * 3).div_ceil(2));
    let election = 3000.max(rtt * 10).max(tick * 6);
    let lease = 5.max(election.div_ceil(1000));
    (tick, election, lease)
}

/// TiKV's Raft election timeout in ticks of 1 s: at least twenty RTT,
/// TiKV's default of 10 the floor.
pub fn tikv_election_ticks(rtt: u32) -> u32 {
    10.max((rtt * 20).div_ceil(1000))
}

fn security(spec: &StackSpec, keys: [&str; 3], cn_key: &str) -> String {
    if !spec.tidb_tls {
        return String::new();
    }
    format!(
        "\n[security]\n{} = \"{TLS_DIR}/ca.crt\"\n{} = \"{TLS_DIR}/tls.crt\"\n{} = \"{TLS_DIR}/tls.key\"\n{cn_key} = [\"{}\"]\n",
        keys[0],
        keys[1],
        keys[2],
        crate::pki::common_name(&spec.site_name)
    )
}

/// PD's config file. `[replication]` counts only when the cluster is
/// bootstrapped (PD keeps it in etcd afterwards and the persisted copy wins),
/// so the replication Job sets `isolation-level` on a running cluster too.
/// With `isolation-level = "zone"` PD never puts two replicas of a Region in
/// one zone (tikv/pd@v8.5.7 pkg/schedule/config/config.go:658-666): after a
/// region has been down past `max-store-down-time`, its replicas wait for a
/// zone rather than doubling up in a surviving one.
pub fn pd_toml(spec: &StackSpec) -> String {
    let (tick, election, lease) = pd_timings(spec.max_rtt_ms);
    format!(
        "lease = {lease}\ntick-interval = \"{tick}ms\"\nelection-interval = \"{election}ms\"\n\n[replication]\nmax-replicas = 3\nlocation-labels = [\"zone\"]\nisolation-level = \"zone\"\n{}",
        security(spec, ["cacert-path", "cert-path", "key-path"], "cert-allowed-cn")
    )
}

/// TiKV's config file. `resolved-ts.advance-ts-interval` is 1 s, not its
/// default 20 s (tikv/tikv@v8.5.7 src/config/mod.rs:3203): a visitor's page
/// reads `stale_read_seconds` (5 s) in the past from the region's own
/// replica, which serves it only once its safe-ts has passed that time;
/// otherwise it answers DataIsNotReady (components/raftstore/src/store/
/// worker/read.rs:584-610) and TiDB's client asks the leader again, in
/// another region (client-go region_request.go, "retry with normal snapshot
/// read"). Advancing every second keeps safe-ts about a second behind.
pub fn tikv_toml(spec: &StackSpec) -> String {
    format!(
        "[server]\ngrpc-compression-type = \"gzip\"\n\n[server.labels]\nzone = \"{}\"\n\n[raftstore]\nraft-base-tick-interval = \"1s\"\nraft-heartbeat-ticks = 2\nraft-election-timeout-ticks = {}\n\n[resolved-ts]\nadvance-ts-interval = \"1s\"\n{}",
        spec.zone(),
        tikv_election_ticks(spec.max_rtt_ms),
        security(spec, ["ca-path", "cert-path", "key-path"], "cert-allowed-cn")
    )
}

/// TiDB's scratch space on its own volume, not the container's small
/// `/tmp`: `temp-dir` (ingest of ADD INDEX, IMPORT INTO) and
/// `tmp-storage-path` (spill to disk on OOM) are keys of the config file.
/// `tmp-storage-path` is no flag of tidb-server: its flag set
/// (pingcap/tidb@v8.5.3 cmd/tidb-server/main.go:193-194, `initFlagSet`,
/// created with `flag.ExitOnError`) would exit 2 with "flag provided but
/// not defined".
pub fn tidb_toml(spec: &StackSpec) -> String {
    format!(
        "temp-dir = \"/var/lib/tidb/temp\"\ntmp-storage-path = \"/var/lib/tidb/tmp-storage\"\n\n[labels]\nzone = \"{}\"\n{}",
        spec.zone(),
        security(
            spec,
            ["cluster-ssl-ca", "cluster-ssl-cert", "cluster-ssl-key"],
            "cluster-verify-cn"
        )
    )
}

/// The port other regions dial for PD's peer traffic.
pub const PD_PEER_PORT: u16 = 2380;
/// With TLS, PD's own peer listener: loopback only, behind the relay.
pub const PD_PEER_INNER_PORT: u16 = 2381;
/// The ConfigMap holding the relay's HAProxy configuration.
const PEER_RELAY_CONFIG: &str = "pd-peer-relay";

/// Where PD's peer listener binds.
///
/// With TLS, PD's embedded etcd checks that a connecting peer's client
/// certificate names the connection's *source* address (etcd-io/etcd@v3.5.15
/// client/pkg/transport/listener.go:125 wraps every TLS peer listener with
/// `checkSAN`, listener_tls.go:192 `checkCertSAN`; tikv/pd@v8.5.7
/// server/config/config.go:721-725 sets the peer TLS info and never
/// `SkipClientSANVerify`). Across regions that source is a node, NAT or load
/// balancer address no certificate of ours can name (etcd-io/etcd#8268), so
/// PD listens on loopback and a TCP relay in the same pod forwards the peer
/// port to it: every peer connection then comes from 127.0.0.1, which each
/// region certificate names. TLS is not ended by the relay; PD still checks
/// the peer's certificate against the site CA and common name.
pub fn pd_peer_listen(spec: &StackSpec) -> String {
    if spec.tidb_tls {
        format!("https://127.0.0.1:{PD_PEER_INNER_PORT}")
    } else {
        format!("http://0.0.0.0:{PD_PEER_PORT}")
    }
}

/// HAProxy in TCP mode: accepts on `listen` (every address) and forwards
/// each connection unchanged to PD's loopback peer listener at `inner`.
/// etcd's peer streams carry a heartbeat every tick, so the idle timeouts
/// are never reached by a healthy member.
pub fn peer_relay_cfg(listen: u16, inner: u16) -> String {
    format!(
        "# PD's peer port, relayed to PD on loopback (see geowp's tidb.rs: etcd's\n\
         # peer certificate check against the source address)\n\
         global\n    maxconn 1024\n\n\
         defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1h\n    timeout server 1h\n\n\
         frontend pd-peer\n    bind :{listen}\n    default_backend pd\n\n\
         backend pd\n    server pd 127.0.0.1:{inner}\n"
    )
}

/// The relay container of the PD pod, with TLS.
fn peer_relay(spec: &StackSpec) -> Option<(Container, Vec<Volume>)> {
    if !spec.tidb_tls {
        return None;
    }
    let container = Container {
        name: "peer-relay".into(),
        image: Some(spec.pd_peer_relay_image.clone()),
        command: Some(vec![
            "haproxy".into(),
            "-db".into(),
            "-f".into(),
            "/etc/pd-peer-relay/haproxy.cfg".into(),
        ]),
        ports: Some(vec![port("peer", i32::from(PD_PEER_PORT))]),
        volume_mounts: Some(vec![VolumeMount {
            read_only: Some(true),
            ..mount("peer-relay", "/etc/pd-peer-relay")
        }]),
        readiness_probe: Some(harden::tcp(i32::from(PD_PEER_PORT), 10, 0, 3)),
        liveness_probe: Some(harden::tcp(i32::from(PD_PEER_PORT), 20, 10, 3)),
        resources: Some(harden::small()),
        security_context: Some(harden::read_only(&[])),
        ..Default::default()
    };
    Some((
        container,
        vec![config_volume_named("peer-relay", PEER_RELAY_CONFIG)],
    ))
}

/// TiKV's status address as other regions reach it: the advertised store
/// host, port 20180 (the per-pod Service carries both ports).
fn tikv_status_address(advertised: &str) -> String {
    let hp = host_port_of(advertised);
    let host = hp.rsplit_once(':').map(|(h, _)| h).unwrap_or(hp);
    format!("{host}:20180")
}

/// One of the three TiDB components, as a StatefulSet.
struct Part<'a> {
    name: &'static str,
    component: Component,
    binary: &'static str,
    args: Vec<String>,
    ports: Vec<ContainerPort>,
    probe_port: i32,
    replicas: i32,
    data: &'static str,
    data_size: &'a str,
    config: &'static str,
    /// What the program reads only at start: its config file and the site
    /// CA. A change restarts the pods; a renewed certificate and key do not
    /// (PD, TiKV and TiDB re-read those for each new connection).
    read_at_start: String,
    /// Containers beside the program (PD's peer relay), with their volumes.
    sidecars: Vec<(Container, Vec<Volume>)>,
    /// Names the pod resolves itself (PD's own advertised host).
    host_aliases: Vec<HostAlias>,
}

/// PD's own advertised host names (of `pd_client_url` and `pd_peer_url`),
/// resolved to the pod itself. PD dials its own advertised client URL from
/// the start (its etcd and election clients are made with only that URL,
/// and a failure there stops it: tikv/pd@v8.5.7 server/server.go:359-366,
/// 382-411) and its own peer URL in its cluster-ID check at every start
/// (server/server.go:337-349). Across regions that address is the region's
/// load balancer, and a connection from a pod to its own load balancer
/// (hairpin) fails on some clouds; with a name, the pod reaches itself
/// instead (PD listens on every address, and its certificate names the
/// host). An IP address is not aliased: it is the PD Service's own
/// `loadBalancerIP`, which kube-proxy routes to the Service's endpoints
/// inside the cluster (docs/guides/regions.md says when it does not).
fn own_pd_aliases(spec: &StackSpec) -> Vec<HostAlias> {
    let Some(me) = spec.me() else {
        return Vec::new();
    };
    let mut names: Vec<String> = [&me.pd_client_url, &me.pd_peer_url]
        .into_iter()
        .filter_map(|u| {
            let hp = host_port_of(u);
            let host = hp.rsplit_once(':').map_or(hp, |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host.parse::<std::net::IpAddr>()
                .is_err()
                .then(|| host.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Vec::new();
    }
    vec![HostAlias {
        ip: "127.0.0.1".into(),
        hostnames: Some(names),
    }]
}

fn config_volume(name: &str) -> Volume {
    Volume {
        name: name.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: name.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn tls_volume() -> Volume {
    Volume {
        name: "tls".into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(TLS_SECRET.into()),
            default_mode: Some(0o440),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn tls_mount() -> VolumeMount {
    VolumeMount {
        read_only: Some(true),
        ..mount("tls", TLS_DIR)
    }
}

fn component(spec: &StackSpec, c: Part) -> Obj {
    let config_name = format!("{}-config", c.name);
    let mut mounts = vec![
        mount(&format!("{}-data", c.name), c.data),
        VolumeMount {
            read_only: Some(true),
            ..mount(&config_name, c.config)
        },
        harden::tmp_mount(),
    ];
    let mut volumes = vec![config_volume(&config_name), harden::tmp_volume()];
    if spec.tidb_tls {
        mounts.push(tls_mount());
        volumes.push(tls_volume());
    }
    let mut sidecars = Vec::new();
    for (container, vols) in c.sidecars {
        sidecars.push(container);
        volumes.extend(vols);
    }
    let mut containers = vec![Container {
        name: c.name.into(),
        image: Some(format!("pingcap/{}:{}", c.name, spec.tidb_version)),
        command: Some(vec![c.binary.into()]),
        args: Some(c.args),
        ports: Some(c.ports),
        volume_mounts: Some(mounts),
        readiness_probe: Some(harden::tcp(c.probe_port, 10, 0, 3)),
        // generous: a PD or TiKV catching up on its log must not be killed
        liveness_probe: Some(harden::tcp(c.probe_port, 20, 60, 6)),
        resources: Some(harden::resources(&spec.resources_of(c.component))),
        security_context: Some(harden::read_only(&[])),
        ..Default::default()
    }];
    containers.extend(sidecars);
    let pod = PodSpec {
        automount_service_account_token: Some(false),
        security_context: Some(harden::pod(TIDB_USER)),
        containers,
        volumes: Some(volumes),
        host_aliases: (!c.host_aliases.is_empty()).then_some(c.host_aliases),
        ..Default::default()
    };
    let claims = vec![claim_template(
        spec,
        &format!("{}-data", c.name),
        c.data_size,
    )];
    let mut sts = statefulset(spec, c.name, c.replicas, pod, claims);
    if let Some(m) = sts.spec.as_mut().and_then(|s| s.template.metadata.as_mut()) {
        m.annotations = Some(BTreeMap::from([(
            annotation::CONFIG_HASH.to_string(),
            short_hash(&c.read_at_start),
        )]));
    }
    let template = sts
        .spec
        .as_ref()
        .map(|s| serde_json::to_string(&s.template).expect("a pod template serialises to JSON"))
        .unwrap_or_default();
    sts.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(annotation::TEMPLATE_HASH.to_string(), short_hash(&template));
    Obj::new(&sts)
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

/// A peer Service: what other regions dial. Load balancers take the
/// configured source ranges and annotations (an internal load balancer).
pub(super) fn peer_service(
    spec: &StackSpec,
    name: &str,
    component: &str,
    advertised: &str,
    selector: BTreeMap<String, String>,
    ports: Vec<ServicePort>,
) -> Service {
    let lb = spec.peer_service_type == ServiceType::LoadBalancer;
    let mut m = meta(spec, name, component);
    let mut annotations = spec.peer_service_annotations.clone();
    if let Some(own) = spec.peer_service_annotations_by_service.get(component) {
        annotations.extend(own.clone());
    }
    if !annotations.is_empty() {
        m.annotations = Some(annotations);
    }
    Service {
        metadata: m,
        spec: Some(ServiceSpec {
            type_: Some(spec.peer_service_type.as_str().into()),
            load_balancer_ip: lb_ip(spec, advertised),
            load_balancer_source_ranges: (lb && !spec.peer_source_ranges.is_empty())
                .then(|| spec.peer_source_ranges.clone()),
            publish_not_ready_addresses: Some(true),
            selector: Some(selector),
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A Service for one pod of a StatefulSet.
fn per_pod(spec: &StackSpec, sts: &str, advertised: &str, ports: Vec<ServicePort>) -> Service {
    let pod = format!("{sts}-0");
    let sel = BTreeMap::from([(
        geowp_common::names::label::POD_NAME.to_string(),
        pod.clone(),
    )]);
    peer_service(spec, &pod, sts, advertised, sel, ports)
}

/// The region's certificate, as the TiDB components mount it.
fn tls_secret(spec: &StackSpec, tls: &TlsMaterial) -> Obj {
    Obj::new(&Secret {
        metadata: meta(spec, TLS_SECRET, "tidb"),
        data: Some(BTreeMap::from([
            ("ca.crt".to_string(), bytes(&tls.ca_pem)),
            ("tls.crt".to_string(), bytes(&tls.cert_pem)),
            ("tls.key".to_string(), bytes(&tls.key_pem)),
        ])),
        type_: Some("kubernetes.io/tls".into()),
        ..Default::default()
    })
}

pub fn objects(spec: &StackSpec, tls: &TlsMaterial, pd: &PdTopology) -> Vec<Obj> {
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
    let scheme = spec.pd_scheme();
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
            &pd_toml(spec),
        )),
        Obj::new(&config_map(
            spec,
            "tikv-config",
            object::TIKV,
            "tikv.toml",
            &tikv_toml(spec),
        )),
        Obj::new(&config_map(
            spec,
            "tidb-config",
            object::TIDB,
            "tidb.toml",
            &tidb_toml(spec),
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
            vec![
                svc_port("server", 20160, "TCP"),
                svc_port("status", 20180, "TCP"),
            ],
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
    if spec.tidb_tls {
        out.push(tls_secret(spec, tls));
        out.push(Obj::new(&config_map(
            spec,
            PEER_RELAY_CONFIG,
            object::PD,
            "haproxy.cfg",
            &peer_relay_cfg(PD_PEER_PORT, PD_PEER_INNER_PORT),
        )));
    }
    let ca = if spec.tidb_tls {
        tls.ca_pem.as_str()
    } else {
        ""
    };
    out.push(component(
        spec,
        Part {
            name: object::PD,
            component: Component::Pd,
            binary: "/pd-server",
            args: vec![
                format!("--name={}", spec.member),
                "--data-dir=/var/lib/pd".into(),
                format!("--client-urls={scheme}://0.0.0.0:2379"),
                format!("--advertise-client-urls={my_client}"),
                format!("--peer-urls={}", pd_peer_listen(spec)),
                format!("--advertise-peer-urls={my_peer}"),
                // a founder bootstraps with the founders; a joiner asks the running cluster
                if pd.initial_cluster.is_empty() {
                    format!("--join={}", pd.join)
                } else {
                    format!("--initial-cluster={}", pd.initial_cluster)
                },
                "--config=/etc/pd/pd.toml".into(),
            ],
            // with TLS the relay holds the peer port
            ports: if spec.tidb_tls {
                vec![port("client", 2379)]
            } else {
                vec![port("client", 2379), port("peer", 2380)]
            },
            probe_port: 2379,
            replicas: 1,
            data: "/var/lib/pd",
            data_size: &spec.pd_storage_size,
            config: "/etc/pd",
            read_at_start: format!("{}{ca}", pd_toml(spec)),
            sidecars: peer_relay(spec).into_iter().collect(),
            host_aliases: own_pd_aliases(spec),
        },
    ));
    out.push(component(
        spec,
        Part {
            name: object::TIKV,
            component: Component::Tikv,
            binary: "/tikv-server",
            args: vec![
                format!("--pd={}", pd.endpoints),
                "--addr=0.0.0.0:20160".into(),
                format!("--advertise-addr={my_tikv}"),
                "--status-addr=0.0.0.0:20180".into(),
                // other regions (cluster tables, Dashboard, status calls) reach
                // the status port at the same host as the store
                format!("--advertise-status-addr={}", tikv_status_address(&my_tikv)),
                "--data-dir=/var/lib/tikv".into(),
                "--config=/etc/tikv/tikv.toml".into(),
            ],
            ports: vec![port("server", 20160), port("status", 20180)],
            probe_port: 20160,
            replicas: 1,
            data: "/var/lib/tikv",
            data_size: &spec.tikv_storage_size,
            config: "/etc/tikv",
            read_at_start: format!("{}{ca}", tikv_toml(spec)),
            sidecars: Vec::new(),
            host_aliases: Vec::new(),
        },
    ));
    out.push(component(
        spec,
        Part {
            name: object::TIDB,
            component: Component::Tidb,
            binary: "/tidb-server",
            args: vec![
                "--store=tikv".into(),
                format!("--path={}", pd.endpoints),
                "-P".into(),
                "4000".into(),
                "--status=10080".into(),
                "--config=/etc/tidb/tidb.toml".into(),
                // a key tidb-server does not know stops it instead of a
                // warning it starts past, so a setting never silently does
                // nothing; a file whose unknown keys are all options TiDB
                // removed still only warns (pingcap/tidb@v8.5.3
                // cmd/tidb-server/main.go:198; pkg/config/config.go:1188,
                // 1206)
                "--config-strict".into(),
            ],
            ports: vec![port("mysql", 4000), port("status", 10080)],
            probe_port: 4000,
            replicas: spec.tidb_replicas,
            data: "/var/lib/tidb",
            data_size: &spec.tidb_storage_size,
            config: "/etc/tidb",
            read_at_start: format!("{}{ca}", tidb_toml(spec)),
            sidecars: Vec::new(),
            host_aliases: Vec::new(),
        },
    ));
    out.push(bootstrap_job(spec));
    out.push(replication_job(spec));
    if let Some(j) = leader_priority_job(spec) {
        out.push(j);
    }
    out
}

/// A one-shot Job: its template is immutable, so its name carries a hash of
/// the whole template (what it runs, its volumes, its labels: a renamed
/// site relabels it) and of `content`, and any change is a new Job.
pub(super) fn job(
    spec: &StackSpec,
    base: &str,
    component: &str,
    container: Container,
    volumes: Vec<Volume>,
    content: &str,
) -> Obj {
    let pod = PodSpec {
        restart_policy: Some("OnFailure".into()),
        automount_service_account_token: Some(false),
        security_context: Some(harden::pod(RunAs::User {
            uid: 10001,
            gid: 10001,
        })),
        containers: vec![container],
        volumes: Some(volumes),
        ..Default::default()
    };
    let template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(spec, component)),
            ..Default::default()
        }),
        spec: Some(pod),
    };
    let name = format!(
        "{base}-{}",
        short_hash(&format!(
            "{}{content}",
            serde_json::to_string(&template).expect("a pod template serialises to JSON")
        ))
    );
    Obj::new(&Job {
        metadata: meta(spec, &name, component),
        spec: Some(JobSpec {
            backoff_limit: Some(30),
            template,
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn site_secret_volume() -> Volume {
    Volume {
        name: "site".into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret::SITE.into()),
            default_mode: Some(0o440),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// This region's zone when it is the primary member, else empty: the
/// bootstrap Job there puts the WordPress data's Raft leaders in it.
pub fn primary_zone(spec: &StackSpec) -> String {
    if spec.primary_member.as_deref() == Some(spec.member.as_str()) {
        spec.zone().to_string()
    } else {
        String::new()
    }
}

fn bootstrap_job(spec: &StackSpec) -> Obj {
    let container = Container {
        name: "bootstrap".into(),
        image: Some(spec.mysql_client_image.clone()),
        command: Some(vec!["sh".into(), "/bootstrap/bootstrap.sh".into()]),
        env: Some(vec![
            env("TIDB_HOST", object::TIDB),
            env("TIDB_PORT", "4000"),
            env("SECRETS_DIR", SECRETS_DIR),
            // the leaders' zone, set in the primary member's region only
            env("PRIMARY_ZONE", &primary_zone(spec)),
        ] as Vec<EnvVar>),
        volume_mounts: Some(vec![
            VolumeMount {
                read_only: Some(true),
                ..mount("bootstrap", "/bootstrap")
            },
            VolumeMount {
                read_only: Some(true),
                ..mount("site", SECRETS_DIR)
            },
            harden::tmp_mount(),
        ]),
        resources: Some(harden::small()),
        security_context: Some(harden::read_only(&[])),
        ..Default::default()
    };
    job(
        spec,
        "tidb-bootstrap",
        "tidb-bootstrap",
        container,
        vec![
            config_volume_named("bootstrap", "tidb-bootstrap"),
            site_secret_volume(),
            harden::tmp_volume(),
        ],
        BOOTSTRAP_SH,
    )
}

fn config_volume_named(volume: &str, config_map: &str) -> Volume {
    Volume {
        name: volume.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The leader priority of this member's PD: 5 for the primary member, 1 for
/// the others (PD's default is 0 for all).
pub fn leader_priority(spec: &StackSpec) -> Option<u32> {
    let primary = spec.primary_member.as_deref()?;
    Some(if primary == spec.member { 5 } else { 1 })
}

/// pd-ctl from the PD image, talking with the region's certificate to
/// `target` (a PD client URL; None: this region's PD): the container of every
/// pd-ctl Job (`words` is the command).
fn pd_ctl_container(
    spec: &StackSpec,
    target: Option<&str>,
    words: &[String],
) -> (Container, Vec<Volume>) {
    let url = target
        .map(String::from)
        .unwrap_or_else(|| format!("{}://{}:2379", spec.pd_scheme(), object::PD));
    let mut cmd = vec!["/pd-ctl".to_string(), "-u".into(), url];
    if spec.tidb_tls {
        cmd.extend([
            format!("--cacert={TLS_DIR}/ca.crt"),
            format!("--cert={TLS_DIR}/tls.crt"),
            format!("--key={TLS_DIR}/tls.key"),
        ]);
    }
    cmd.extend(words.iter().cloned());
    let mut mounts = vec![harden::tmp_mount()];
    let mut volumes = vec![harden::tmp_volume()];
    if spec.tidb_tls {
        mounts.push(tls_mount());
        volumes.push(tls_volume());
    }
    let container = Container {
        name: "pd-ctl".into(),
        image: Some(format!("pingcap/pd:{}", spec.tidb_version)),
        command: Some(cmd),
        volume_mounts: Some(mounts),
        resources: Some(harden::small()),
        security_context: Some(harden::read_only(&[])),
        ..Default::default()
    };
    (container, volumes)
}

/// A one-off pd-ctl command as a Job (`nonce` makes each run its own Job);
/// geowp reads what it printed from the Job's pod log.
pub fn pd_ctl_job(spec: &StackSpec, target: Option<&str>, words: &[String], nonce: &str) -> Obj {
    let (container, volumes) = pd_ctl_container(spec, target, words);
    job(spec, "pd-ctl", "pd-ctl", container, volumes, nonce)
}

/// Sets PD's `isolation-level` on the running cluster with pd-ctl
/// (`config set` prints "Success!": tikv/pd@v8.5.7
/// tools/pd-ctl/pdctl/command/config_command.go:400). Idempotent; every
/// region runs it, the first one to reach PD does the work.
fn replication_job(spec: &StackSpec) -> Obj {
    let (container, volumes) = pd_ctl_container(
        spec,
        None,
        &[
            "config".into(),
            "set".into(),
            "isolation-level".into(),
            "zone".into(),
        ],
    );
    job(spec, "pd-replication", "pd-ctl", container, volumes, "")
}

/// Sets this member's PD leader priority with pd-ctl (from the PD image),
/// when a primary member is named.
fn leader_priority_job(spec: &StackSpec) -> Option<Obj> {
    let priority = leader_priority(spec)?;
    let (container, volumes) = pd_ctl_container(
        spec,
        None,
        &[
            "member".into(),
            "leader_priority".into(),
            spec.member.clone(),
            priority.to_string(),
        ],
    );
    Some(job(
        spec,
        "pd-leader-priority",
        "pd-ctl",
        container,
        volumes,
        "",
    ))
}
