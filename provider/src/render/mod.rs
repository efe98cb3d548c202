//! Rendering, pure: a region's configuration in, typed k8s-openapi objects
//! out, grouped in dependency waves. No client, no I/O: the same function
//! serves plan (which objects), apply, drift detection and tests.

use std::collections::BTreeMap;

mod stack;

pub use stack::render;

/// Pinned default images: one tag for PD, TiKV and TiDB (v8.5 LTS).
pub const DEFAULT_TIDB_VERSION: &str = "v8.5.1";
pub const DEFAULT_WORDPRESS_IMAGE: &str = "wordpress:6.7.1-php8.3-apache";
pub const DEFAULT_SYNCTHING_IMAGE: &str = "syncthing/syncthing:1.29.2";
pub const DEFAULT_NFS_IMAGE: &str = "registry.k8s.io/sig-storage/nfs-provisioner:v4.0.8";
pub const DEFAULT_MYSQL_CLIENT_IMAGE: &str = "mysql:8.4.3";
pub const DEFAULT_BUSYBOX_IMAGE: &str = "busybox:1.36.1";

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MEMBER_LABEL: &str = "geowp.dev/member";
pub const SITE_LABEL: &str = "geowp.dev/site";
pub const CONFIG_ANNOTATION: &str = "geowp.dev/stack-config";

/// One member of the site, with the addresses other regions reach it at.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    /// `http://host:2379`
    pub pd_client_url: String,
    /// `http://host:2380`
    pub pd_peer_url: String,
    /// `host:20160`
    pub tikv_address: String,
    /// `tcp://host:22000`
    pub syncthing_address: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Images {
    pub tidb_version: String,
    pub wordpress: String,
    pub syncthing: String,
    pub nfs_provisioner: String,
    pub mysql_client: String,
    pub busybox: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Storage {
    /// StorageClass for the ReadWriteOnce volumes (None: the cluster default).
    pub class: Option<String>,
    pub pd_size: String,
    pub tikv_size: String,
    pub tidb_size: String,
    pub nfs_size: String,
    pub wp_content_size: String,
    pub syncthing_config_size: String,
}

/// Everything a region's objects are made from, except secrets.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StackSpec {
    pub site: String,
    pub member: String,
    pub zone: String,
    pub namespace: String,
    pub members: BTreeMap<String, Member>,
    pub site_url: String,
    pub images: Images,
    pub storage: Storage,
    pub tidb_replicas: i32,
    pub wordpress_replicas: i32,
    pub wordpress_service_type: String,
    /// Fixed node port of WordPress (NodePort services), for load balancers that target node ports.
    #[serde(default)]
    pub wordpress_node_port: Option<i32>,
    pub peer_service_type: String,
    pub folder_id: String,
}

/// Secrets the objects carry (never logged, never in non-sensitive state).
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    pub tidb_root_password: String,
    pub wordpress_db_password: String,
    pub salts: BTreeMap<String, String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(<redacted>)")
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

/// A rendered object, ready for server-side apply (defined next to the
/// cluster client, which the helper shares).
pub use geowp_kube::{Obj, FIELD_MANAGER};

/// Names of the Secret keys holding the WordPress salts, and their env names.
pub fn salt_env(name: &str) -> String {
    format!("WORDPRESS_{name}")
}

/// Host and port of a URL like `http://host:2379` (scheme optional).
pub fn host_port(url: &str) -> &str {
    url.split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(url)
        .trim_end_matches('/')
}

impl StackSpec {
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
            .map(|m| host_port(&m.pd_client_url).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
    pub fn me(&self) -> Option<&Member> {
        self.members.get(&self.member)
    }
    pub fn storage_class_name(&self) -> String {
        format!("geowp-{}-nfs", self.namespace)
    }
    pub fn provisioner_name(&self) -> String {
        format!("geowp.dev/{}-nfs", self.namespace)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn members() -> BTreeMap<String, Member> {
        ["us-east", "eu-west", "ap-south"]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.to_string(),
                    Member {
                        pd_client_url: format!("http://10.0.{i}.1:2379"),
                        pd_peer_url: format!("http://10.0.{i}.1:2380"),
                        tikv_address: format!("10.0.{i}.2:20160"),
                        syncthing_address: format!("tcp://10.0.{i}.3:22000"),
                    },
                )
            })
            .collect()
    }

    pub fn spec(member: &str) -> StackSpec {
        StackSpec {
            site: "blog".into(),
            member: member.into(),
            zone: format!("zone-{member}"),
            namespace: "geowp".into(),
            members: members(),
            site_url: "https://blog.example.com".into(),
            images: Images {
                tidb_version: DEFAULT_TIDB_VERSION.into(),
                wordpress: DEFAULT_WORDPRESS_IMAGE.into(),
                syncthing: DEFAULT_SYNCTHING_IMAGE.into(),
                nfs_provisioner: DEFAULT_NFS_IMAGE.into(),
                mysql_client: DEFAULT_MYSQL_CLIENT_IMAGE.into(),
                busybox: DEFAULT_BUSYBOX_IMAGE.into(),
            },
            storage: Storage {
                class: None,
                pd_size: "10Gi".into(),
                tikv_size: "50Gi".into(),
                tidb_size: "5Gi".into(),
                nfs_size: "20Gi".into(),
                wp_content_size: "10Gi".into(),
                syncthing_config_size: "1Gi".into(),
            },
            tidb_replicas: 1,
            wordpress_replicas: 2,
            wordpress_service_type: "LoadBalancer".into(),
            wordpress_node_port: None,
            peer_service_type: "LoadBalancer".into(),
            folder_id: "wp-content".into(),
        }
    }

    pub fn secrets() -> Secrets {
        Secrets {
            tidb_root_password: "root-pw-123456789".into(),
            wordpress_db_password: "wp-pw-123456789".into(),
            salts: crate::resources::site::SALT_NAMES
                .iter()
                .map(|n| (n.to_string(), format!("salt-{n}")))
                .collect(),
        }
    }

    pub fn st() -> SyncthingSecrets {
        SyncthingSecrets {
            cert_pem: "CERT".into(),
            key_pem: "KEY".into(),
            device_id: "DEV".into(),
            api_key: "api".into(),
        }
    }

    fn find<'a>(objs: &'a [Obj], kind: &str, name: &str) -> &'a Obj {
        objs.iter()
            .find(|o| o.id.kind == kind && o.id.name == name)
            .unwrap_or_else(|| panic!("no {kind}/{name}"))
    }

    fn args(o: &Obj) -> Vec<String> {
        serde_json::from_value(o.body["spec"]["template"]["spec"]["containers"][0]["args"].clone())
            .unwrap()
    }

    fn arg<'a>(a: &'a [String], flag: &str) -> &'a str {
        a.iter()
            .find_map(|x| x.strip_prefix(flag))
            .unwrap_or_else(|| panic!("no {flag} in {a:?}"))
    }

    #[test]
    fn pd_topology_is_identical_in_every_region_and_each_member_is_itself() {
        let regions: Vec<(String, Vec<Obj>)> = members()
            .keys()
            .map(|m| (m.clone(), render(&spec(m), &secrets(), &st())))
            .collect();
        let clusters: Vec<String> = regions
            .iter()
            .map(|(_, o)| {
                arg(&args(find(o, "StatefulSet", "pd")), "--initial-cluster=").to_string()
            })
            .collect();
        assert!(
            clusters.windows(2).all(|w| w[0] == w[1]),
            "initial-cluster differs: {clusters:?}"
        );
        assert_eq!(clusters[0], "ap-south=http://10.0.2.1:2380,eu-west=http://10.0.1.1:2380,us-east=http://10.0.0.1:2380");
        for (m, objs) in &regions {
            let a = args(find(objs, "StatefulSet", "pd"));
            assert_eq!(arg(&a, "--name="), m);
            assert_eq!(arg(&a, "--advertise-peer-urls="), members()[m].pd_peer_url);
            assert_eq!(
                arg(&a, "--advertise-client-urls="),
                members()[m].pd_client_url
            );
            assert!(
                !a.iter().any(|x| x.starts_with("--join")),
                "--join must not be used with --initial-cluster"
            );
        }
    }

    #[test]
    fn tikv_and_tidb_list_exactly_the_pd_client_addresses() {
        let objs = render(&spec("us-east"), &secrets(), &st());
        let want = "10.0.2.1:2379,10.0.1.1:2379,10.0.0.1:2379";
        assert_eq!(
            arg(&args(find(&objs, "StatefulSet", "tikv")), "--pd="),
            want
        );
        assert_eq!(
            arg(&args(find(&objs, "StatefulSet", "tidb")), "--path="),
            want
        );
        assert_eq!(
            arg(
                &args(find(&objs, "StatefulSet", "tikv")),
                "--advertise-addr="
            ),
            "10.0.0.2:20160"
        );
    }

    #[test]
    fn zones_differ_replication_is_three_and_one_tag_for_tidb_components() {
        let zones: std::collections::BTreeSet<String> = members()
            .keys()
            .map(|m| {
                arg(
                    &args(find(
                        &render(&spec(m), &secrets(), &st()),
                        "StatefulSet",
                        "tikv",
                    )),
                    "--labels=",
                )
                .to_string()
            })
            .collect();
        assert_eq!(zones.len(), 3, "{zones:?}");
        let objs = render(&spec("eu-west"), &secrets(), &st());
        let pd_toml = find(&objs, "ConfigMap", "pd-config").body["data"]["pd.toml"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            pd_toml.contains("max-replicas = 3")
                && pd_toml.contains("location-labels = [\"zone\"]")
        );
        let tags: std::collections::BTreeSet<String> = ["pd", "tikv", "tidb"]
            .iter()
            .map(|n| {
                find(&objs, "StatefulSet", n).body["spec"]["template"]["spec"]["containers"][0]
                    ["image"]
                    .as_str()
                    .unwrap()
                    .rsplit(':')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            tags.into_iter().collect::<Vec<_>>(),
            vec![DEFAULT_TIDB_VERSION.to_string()]
        );
    }

    #[test]
    fn salts_are_identical_across_regions_and_no_secret_is_empty() {
        let datas: Vec<serde_json::Value> = members()
            .keys()
            .map(|m| {
                find(
                    &render(&spec(m), &secrets(), &st()),
                    "Secret",
                    "site-secrets",
                )
                .body["data"]
                    .clone()
            })
            .collect();
        assert!(datas.windows(2).all(|w| w[0] == w[1]));
        let d = datas[0].as_object().unwrap();
        assert_eq!(d.len(), 10);
        assert!(d.values().all(|v| !v.as_str().unwrap().is_empty()));
        // WordPress reads each of the eight salts from that Secret
        let objs = render(&spec("us-east"), &secrets(), &st());
        let env = find(&objs, "Deployment", "wordpress").body["spec"]["template"]["spec"]
            ["containers"][0]["env"]
            .clone();
        let salt_envs = env
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["valueFrom"]["secretKeyRef"]["name"] == "site-secrets")
            .count();
        assert_eq!(salt_envs, 9, "8 salts + the DB password");
        assert!(env
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "WORDPRESS_DB_COLLATE" && e["value"] == "utf8mb4_general_ci"));
    }

    #[test]
    fn no_host_paths_no_pod_security_policies_and_sane_layout() {
        let objs = render(&spec("us-east"), &secrets(), &st());
        let text =
            serde_json::to_string(&objs.iter().map(|o| &o.body).collect::<Vec<_>>()).unwrap();
        assert!(!text.contains("hostPath"));
        assert!(!objs.iter().any(|o| o.id.kind == "PodSecurityPolicy"));
        // wp-content only is on the ReadWriteMany claim
        let wp = find(&objs, "Deployment", "wordpress");
        let mounts = &wp.body["spec"]["template"]["spec"]["containers"][0]["volumeMounts"];
        assert_eq!(
            mounts[0],
            json!({"name": "wp-content", "mountPath": "/var/www/html/wp-content"})
        );
        assert_eq!(
            find(&objs, "PersistentVolumeClaim", "wp-content").body["spec"]["accessModes"],
            json!(["ReadWriteMany"])
        );
        assert_eq!(
            find(&objs, "StorageClass", "geowp-geowp-nfs").body["parameters"]["gid"],
            "33"
        );
        let st = find(&objs, "Deployment", "syncthing");
        assert_eq!(st.body["spec"]["replicas"], 1);
        assert_eq!(st.body["spec"]["strategy"]["type"], "Recreate");
        assert!(find(&objs, "Secret", "syncthing-identity").create_only);
        let ns = find(&objs, "Namespace", "geowp");
        assert_eq!(
            ns.body["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
            "privileged"
        );
        // waves: namespace first, workloads last
        assert_eq!(ns.wave(), geowp_kube::Wave::Cluster);
        assert!(objs
            .iter()
            .filter(|o| matches!(o.id.kind.as_str(), "Deployment" | "StatefulSet" | "Job"))
            .all(|o| o.wave() == geowp_kube::Wave::Workload));
        // peer load balancers ask for the advertised static IPs
        assert_eq!(
            find(&objs, "Service", "pd-0").body["spec"]["loadBalancerIP"],
            "10.0.0.1"
        );
        assert_eq!(
            find(&objs, "Service", "tikv-0").body["spec"]["loadBalancerIP"],
            "10.0.0.2"
        );
        assert_eq!(
            find(&objs, "Service", "syncthing").body["spec"]["loadBalancerIP"],
            "10.0.0.3"
        );
        // a fixed WordPress node port reaches the Service
        let mut np = spec("us-east");
        np.wordpress_service_type = "NodePort".into();
        np.wordpress_node_port = Some(30080);
        let o = render(&np, &secrets(), &self::st());
        assert_eq!(
            find(&o, "Service", "wordpress").body["spec"]["ports"][0]["nodePort"],
            30080
        );
        // every object name is unique per kind
        let keys: std::collections::BTreeSet<String> = objs.iter().map(Obj::key).collect();
        assert_eq!(keys.len(), objs.len());
    }
}
