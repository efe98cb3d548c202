//! Rendering tests: what a region's objects say, read back from the JSON
//! that would be applied.

use std::collections::BTreeMap;

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
        site_name: "blog".into(),
        member: member.into(),
        zone: Some(format!("zone-{member}")),
        namespace: "geowp".into(),
        members: members(),
        site_url: "https://blog.example.com".into(),
        tidb_version: DEFAULT_TIDB_VERSION.into(),
        wordpress_image: DEFAULT_WORDPRESS_IMAGE.into(),
        syncthing_image: DEFAULT_SYNCTHING_IMAGE.into(),
        nfs_provisioner_image: DEFAULT_NFS_IMAGE.into(),
        mysql_client_image: DEFAULT_MYSQL_CLIENT_IMAGE.into(),
        busybox_image: DEFAULT_BUSYBOX_IMAGE.into(),
        storage_class: None,
        pd_storage_size: "10Gi".into(),
        tikv_storage_size: "50Gi".into(),
        tidb_storage_size: "5Gi".into(),
        nfs_storage_size: "20Gi".into(),
        wp_content_size: "10Gi".into(),
        syncthing_config_size: "1Gi".into(),
        tidb_replicas: 1,
        wordpress_replicas: 2,
        wordpress_service_type: ServiceType::LoadBalancer,
        wordpress_node_port: None,
        peer_service_type: ServiceType::LoadBalancer,
        folder_id: "wp-content".into(),
    }
}

pub fn secrets() -> Secrets {
    Secrets {
        tidb_root_password: "root-pw-123456789".into(),
        wordpress_db_password: "wp-pw-123456789".into(),
        salts: geowp_common::names::SALT_NAMES
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
        .map(|(_, o)| arg(&args(find(o, "StatefulSet", "pd")), "--initial-cluster=").to_string())
        .collect();
    assert!(
        clusters.windows(2).all(|w| w[0] == w[1]),
        "initial-cluster differs: {clusters:?}"
    );
    assert_eq!(
        clusters[0],
        "ap-south=http://10.0.2.1:2380,eu-west=http://10.0.1.1:2380,us-east=http://10.0.0.1:2380"
    );
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
        pd_toml.contains("max-replicas = 3") && pd_toml.contains("location-labels = [\"zone\"]")
    );
    let tags: std::collections::BTreeSet<String> = ["pd", "tikv", "tidb"]
        .iter()
        .map(|n| {
            find(&objs, "StatefulSet", n).body["spec"]["template"]["spec"]["containers"][0]["image"]
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
    let env = find(&objs, "Deployment", "wordpress").body["spec"]["template"]["spec"]["containers"]
        [0]["env"]
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
    let text = serde_json::to_string(&objs.iter().map(|o| &o.body).collect::<Vec<_>>()).unwrap();
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
    np.wordpress_service_type = ServiceType::NodePort;
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
