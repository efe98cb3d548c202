//! Rendering tests: what a region's objects say, read back from the JSON
//! that would be applied.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::*;

pub use super::example::{inputs, members};

pub fn spec(member: &str) -> StackSpec {
    super::example::spec(member, members())
}

fn all(member: &str) -> Vec<Obj> {
    render(&spec(member), &inputs())
}

fn find<'a>(objs: &'a [Obj], kind: &str, name: &str) -> &'a Obj {
    objs.iter()
        .find(|o| o.id.kind == kind && o.id.name == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

fn pod(o: &Obj) -> &Value {
    if o.id.kind == "CronJob" {
        &o.body["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    } else {
        &o.body["spec"]["template"]["spec"]
    }
}

fn args(o: &Obj) -> Vec<String> {
    serde_json::from_value(pod(o)["containers"][0]["args"].clone()).unwrap()
}

fn arg<'a>(a: &'a [String], flag: &str) -> &'a str {
    a.iter()
        .find_map(|x| x.strip_prefix(flag))
        .unwrap_or_else(|| panic!("no {flag} in {a:?}"))
}

fn data(o: &Obj, key: &str) -> String {
    o.body["data"][key].as_str().unwrap_or_default().to_string()
}

fn workloads(objs: &[Obj]) -> Vec<&Obj> {
    objs.iter()
        .filter(|o| {
            matches!(
                o.id.kind.as_str(),
                "Deployment" | "StatefulSet" | "Job" | "CronJob"
            )
        })
        .collect()
}

#[test]
fn pd_topology_is_identical_in_every_region_and_each_member_is_itself() {
    let regions: Vec<(String, Vec<Obj>)> = members().keys().map(|m| (m.clone(), all(m))).collect();
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
        "ap-south=https://10.0.2.1:2380,eu-west=https://10.0.1.1:2380,us-east=https://10.0.0.1:2380"
    );
    for (m, objs) in &regions {
        let a = args(find(objs, "StatefulSet", "pd"));
        assert_eq!(arg(&a, "--name="), m);
        assert_eq!(arg(&a, "--advertise-peer-urls="), members()[m].pd_peer_url);
        assert_eq!(
            arg(&a, "--advertise-client-urls="),
            members()[m].pd_client_url
        );
        assert_eq!(arg(&a, "--client-urls="), "https://0.0.0.0:2379");
        // PD's peer listener on loopback behind the relay (etcd's source
        // address check; see tidb::pd_peer_listen)
        assert_eq!(arg(&a, "--peer-urls="), "https://127.0.0.1:2381");
        let containers = &pod(find(objs, "StatefulSet", "pd"))["containers"];
        assert_eq!(containers[1]["name"], "peer-relay");
        assert_eq!(containers[1]["ports"][0]["containerPort"], 2380);
        let relay = data(find(objs, "ConfigMap", "pd-peer-relay"), "haproxy.cfg");
        assert!(
            relay.contains("bind :2380") && relay.contains("server pd 127.0.0.1:2381"),
            "{relay}"
        );
        assert!(
            !a.iter().any(|x| x.starts_with("--join")),
            "--join must not be used with --initial-cluster"
        );
    }
}

#[test]
fn tikv_and_tidb_list_exactly_the_pd_client_addresses() {
    let objs = all("us-east");
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
fn zones_label_tikv_and_tidb_and_one_tag_serves_all_three() {
    let zones: BTreeSet<String> = members()
        .keys()
        .map(|m| {
            let t = data(find(&all(m), "ConfigMap", "tikv-config"), "tikv.toml");
            t.lines()
                .find(|l| l.starts_with("zone = "))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(zones.len(), 3, "{zones:?}");
    let objs = all("eu-west");
    assert!(data(find(&objs, "ConfigMap", "tidb-config"), "tidb.toml")
        .contains("[labels]\nzone = \"zone-eu-west\""));
    let pd = data(find(&objs, "ConfigMap", "pd-config"), "pd.toml");
    assert!(pd.contains("max-replicas = 3") && pd.contains("location-labels = [\"zone\"]"));
    let tags: BTreeSet<String> = ["pd", "tikv", "tidb"]
        .iter()
        .map(|n| {
            pod(find(&objs, "StatefulSet", n))["containers"][0]["image"]
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
fn tls_among_pd_tikv_and_tidb_with_the_site_common_name() {
    let objs = all("us-east");
    let pd = data(find(&objs, "ConfigMap", "pd-config"), "pd.toml");
    let tikv = data(find(&objs, "ConfigMap", "tikv-config"), "tikv.toml");
    let tidb = data(find(&objs, "ConfigMap", "tidb-config"), "tidb.toml");
    assert!(
        pd.contains("cacert-path = \"/var/lib/tidb-tls/ca.crt\"")
            && pd.contains("cert-allowed-cn = [\"geowp-blog\"]"),
        "{pd}"
    );
    assert!(
        tikv.contains("ca-path = \"/var/lib/tidb-tls/ca.crt\"")
            && tikv.contains("cert-allowed-cn = [\"geowp-blog\"]"),
        "{tikv}"
    );
    assert!(
        tidb.contains("cluster-ssl-key = \"/var/lib/tidb-tls/tls.key\"")
            && tidb.contains("cluster-verify-cn = [\"geowp-blog\"]"),
        "{tidb}"
    );
    let secret = find(&objs, "Secret", "tidb-tls");
    assert_eq!(secret.body["type"], "kubernetes.io/tls");
    assert!(
        secret.secret,
        "the certificate's key is a secret: drift never shows it"
    );
    for c in ["pd", "tikv", "tidb"] {
        let p = pod(find(&objs, "StatefulSet", c));
        let mounts = p["containers"][0]["volumeMounts"].as_array().unwrap();
        assert!(
            mounts
                .iter()
                .any(|m| m["mountPath"] == "/var/lib/tidb-tls" && m["readOnly"] == true),
            "{c}"
        );
        // ports that want client certificates are probed with TCP
        assert!(
            p["containers"][0]["readinessProbe"]["tcpSocket"].is_object(),
            "{c}"
        );
    }
    // turned off: plain http and no certificate
    let mut off = spec("us-east");
    off.tidb_tls = false;
    let objs = render(&off, &inputs());
    assert!(!objs.iter().any(|o| o.id.name == "tidb-tls"));
    assert!(!data(find(&objs, "ConfigMap", "pd-config"), "pd.toml").contains("[security]"));
    assert_eq!(
        arg(&args(find(&objs, "StatefulSet", "pd")), "--client-urls="),
        "http://0.0.0.0:2379"
    );
}

#[test]
fn cross_region_timings_follow_the_round_trip_time() {
    use super::tidb::{pd_timings, tikv_election_ticks};
    assert_eq!(
        pd_timings(150),
        (500, 3000, 5),
        "PD's defaults for a 150 ms site"
    );
    assert_eq!(pd_timings(400), (600, 4000, 5));
    assert_eq!(pd_timings(1000), (1500, 10000, 10));
    assert_eq!(tikv_election_ticks(150), 10);
    assert_eq!(tikv_election_ticks(1000), 20);
    let mut far = spec("us-east");
    far.max_rtt_ms = 400;
    let objs = render(&far, &inputs());
    let pd = data(find(&objs, "ConfigMap", "pd-config"), "pd.toml");
    assert!(
        pd.starts_with("lease = 5\ntick-interval = \"600ms\"\nelection-interval = \"4000ms\""),
        "{pd}"
    );
    assert!(data(find(&objs, "ConfigMap", "tikv-config"), "tikv.toml")
        .contains("grpc-compression-type = \"gzip\""));
}

#[test]
fn the_primary_member_gets_pd_leadership_by_priority() {
    let job = |m: &str| {
        let objs = all(m);
        objs.iter()
            .find(|o| o.id.kind == "Job" && o.id.name.starts_with("pd-leader-priority-"))
            .map(|o| pod(o)["containers"][0]["command"].clone())
            .unwrap()
    };
    let us = job("us-east");
    assert_eq!(us[0], "/pd-ctl");
    let words: Vec<&str> = us
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        words.ends_with(&["member", "leader_priority", "us-east", "5"]),
        "{words:?}"
    );
    assert!(words.contains(&"--cert=/var/lib/tidb-tls/tls.crt"));
    assert_eq!(job("eu-west").as_array().unwrap().last().unwrap(), "1");
    let mut none = spec("us-east");
    none.primary_member = None;
    assert!(!render(&none, &inputs())
        .iter()
        .any(|o| o.id.name.starts_with("pd-leader-priority-")));
}

#[test]
fn peer_services_are_internal_and_limited_to_the_peers() {
    let objs = all("us-east");
    for name in ["pd-0", "tikv-0", "syncthing"] {
        let s = find(&objs, "Service", name);
        assert_eq!(
            s.body["spec"]["loadBalancerSourceRanges"],
            json!(["10.0.0.0/16", "10.1.0.0/16"]),
            "{name}"
        );
        assert_eq!(
            s.body["metadata"]["annotations"]["networking.gke.io/load-balancer-type"], "Internal",
            "{name}"
        );
    }
    // WordPress is the public one
    assert!(find(&objs, "Service", "wordpress").body["spec"]["loadBalancerSourceRanges"].is_null());
    // the advertised static IPs are still asked for
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
}

#[test]
fn network_policies_deny_everything_but_what_each_port_needs() {
    let objs = all("us-east");
    let np = |n: &str| find(&objs, "NetworkPolicy", n).body["spec"].clone();
    assert_eq!(np("default-deny-ingress")["podSelector"], json!({}));
    assert!(
        np("default-deny-ingress")["ingress"].is_null(),
        "deny all: no rule"
    );
    let sql = np("tidb-sql");
    assert_eq!(
        sql["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
        "tidb"
    );
    assert_eq!(
        sql["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0]["values"],
        json!([
            "wordpress",
            "wordpress-cron",
            "tidb-bootstrap",
            "geowp-backup",
            "geowp-restore"
        ])
    );
    assert_eq!(
        sql["ingress"][0]["ports"],
        json!([{"port": 4000, "protocol": "TCP"}])
    );
    let pd = np("pd");
    let from = pd["ingress"][0]["from"].as_array().unwrap();
    assert!(from.iter().any(|f| f["ipBlock"]["cidr"] == "10.1.0.0/16"));
    assert!(from.iter().any(|f| f["podSelector"].is_object()));
    let nfs = np("nfs");
    assert_eq!(
        nfs["ingress"][0]["from"],
        json!([{"ipBlock": {"cidr": "10.128.0.0/20"}}])
    );
    // the load balancer reaches the page cache; WordPress only the cache
    assert!(
        np("page-cache")["ingress"][0]["from"].is_null(),
        "anyone reaches the page cache"
    );
    assert_eq!(
        np("page-cache")["ingress"][0]["ports"],
        json!([{"port": 8080, "protocol": "TCP"}])
    );
    assert_eq!(
        np("page-cache")["ingress"][1],
        json!({"from": [{"podSelector": {"matchExpressions": [{"key": "app.kubernetes.io/component", "operator": "In", "values": ["wordpress", "wordpress-cron"]}]}}], "ports": [{"port": 8081, "protocol": "TCP"}]}),
        "bans only from WordPress and its cron runner"
    );
    assert_eq!(
        np("wordpress")["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0]["values"],
        json!(["page-cache"])
    );
    let mut uncached = spec("us-east");
    uncached.page_cache = false;
    let objs_uncached = render(&uncached, &inputs());
    assert!(
        find(&objs_uncached, "NetworkPolicy", "wordpress").body["spec"]["ingress"][0]["from"]
            .is_null(),
        "without the cache anyone reaches WordPress"
    );
    assert!(!objs_uncached
        .iter()
        .any(|o| o.id.name == "page-cache" || o.id.name == "page-cache-purge"));
    // without ranges, the peer ports admit any source (and the plan warns)
    let mut open = spec("us-east");
    open.peer_source_ranges.clear();
    let objs = render(&open, &inputs());
    assert!(find(&objs, "NetworkPolicy", "pd").body["spec"]["ingress"][0]["from"].is_null());
}

#[test]
fn every_pod_and_container_is_hardened() {
    for o in workloads(&all("us-east")) {
        let p = pod(o);
        assert_eq!(
            p["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault",
            "{}",
            o.key()
        );
        let token = p["automountServiceAccountToken"].as_bool();
        if o.id.name == "nfs" {
            assert_eq!(token, Some(true), "the provisioner talks to the API");
        } else {
            assert_eq!(token, Some(false), "{}", o.key());
        }
        let containers: Vec<&Value> = p["containers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(p["initContainers"].as_array().into_iter().flatten())
            .collect();
        for c in containers {
            let at = format!("{}[{}]", o.key(), c["name"]);
            let sc = &c["securityContext"];
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{at}");
            // read-only unless the image writes outside its volumes
            let writable = ["wordpress", "nfs"].contains(&o.id.name.as_str());
            assert_eq!(
                sc["readOnlyRootFilesystem"].as_bool().unwrap_or(false),
                !writable,
                "{at}"
            );
            assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{at}");
            let r = &c["resources"];
            assert!(
                r["requests"]["cpu"].is_string()
                    && r["requests"]["memory"].is_string()
                    && r["limits"]["memory"].is_string(),
                "{at}: {r}"
            );
            // runs to completion: no probes
            if !matches!(o.id.kind.as_str(), "Job" | "CronJob")
                && !p["initContainers"]
                    .as_array()
                    .is_some_and(|i| i.iter().any(|x| x == c))
            {
                assert!(
                    c["livenessProbe"].is_object() && c["readinessProbe"].is_object(),
                    "{at}"
                );
            }
        }
    }
    let objs = all("us-east");
    for c in ["pd", "tikv", "tidb"] {
        let sc = &pod(find(&objs, "StatefulSet", c))["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true, "{c}");
    }
    assert_eq!(
        pod(find(&objs, "Deployment", "syncthing"))["containers"][0]["securityContext"]
            ["runAsUser"],
        33
    );
    // TiDB's documented minimums by default, and overridable per component
    let tikv = &pod(find(&objs, "StatefulSet", "tikv"))["containers"][0]["resources"];
    assert_eq!(tikv["requests"], json!({"cpu": "8", "memory": "32Gi"}));
    let mut small = spec("us-east");
    small.resources = BTreeMap::from([(
        "tikv".to_string(),
        BTreeMap::from([
            ("cpu".to_string(), "1".to_string()),
            ("memory".to_string(), "2Gi".to_string()),
        ]),
    )]);
    let objs = render(&small, &inputs());
    let tikv = &pod(find(&objs, "StatefulSet", "tikv"))["containers"][0]["resources"];
    assert_eq!(tikv["requests"], json!({"cpu": "1", "memory": "2Gi"}));
    assert_eq!(tikv["limits"], json!({"memory": "2Gi"}));
    // a request above a component's default limit raises the limit with it
    // (WordPress's default limit is 1Gi; the API server refuses request > limit)
    let mut big = spec("us-east");
    big.resources = BTreeMap::from([(
        "wordpress".to_string(),
        BTreeMap::from([("memory".to_string(), "1536Mi".to_string())]),
    )]);
    let objs = render(&big, &inputs());
    let wp = &pod(find(&objs, "Deployment", "wordpress"))["containers"][0]["resources"];
    assert_eq!(wp["requests"]["memory"], "1536Mi");
    assert_eq!(wp["limits"]["memory"], "1536Mi");
    // below it, the default limit stays
    big.resources
        .get_mut("wordpress")
        .unwrap()
        .insert("memory".into(), "768Mi".into());
    let objs = render(&big, &inputs());
    let wp = &pod(find(&objs, "Deployment", "wordpress"))["containers"][0]["resources"];
    assert_eq!(wp["limits"]["memory"], "1Gi");
    // a WordPress disruption budget
    assert_eq!(
        find(&objs, "PodDisruptionBudget", "wordpress").body["spec"]["maxUnavailable"],
        1
    );
}

#[test]
fn wordpress_reads_its_secrets_from_files_and_never_gets_the_root_password() {
    let objs = all("us-east");
    let wp = find(&objs, "Deployment", "wordpress");
    let env = pod(wp)["containers"][0]["env"].as_array().unwrap().clone();
    assert!(
        env.iter().all(|e| e["valueFrom"].is_null()),
        "no secret in env: {env:?}"
    );
    assert!(env.iter().any(|e| e["name"] == "WORDPRESS_DB_PASSWORD_FILE"
        && e["value"] == "/run/secrets/geowp/WORDPRESS_DB_PASSWORD"));
    assert_eq!(
        env.iter()
            .filter(|e| e["name"].as_str().unwrap().ends_with("_FILE"))
            .count(),
        9,
        "8 salts + the DB password"
    );
    assert!(env
        .iter()
        .any(|e| e["name"] == "WORDPRESS_DB_COLLATE" && e["value"] == "utf8mb4_general_ci"));
    let vol = pod(wp)["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "secrets")
        .unwrap()
        .clone();
    let keys: Vec<&str> = vol["secret"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert!(
        !keys.contains(&"TIDB_ROOT_PASSWORD")
            && keys.contains(&"WORDPRESS_DB_PASSWORD")
            && keys.len() == 9,
        "{keys:?}"
    );
    // the found-rows plugin is a must-use plugin
    let mounts = pod(wp)["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .clone();
    assert!(mounts.iter().any(|m| m["mountPath"]
        == "/var/www/html/wp-content/mu-plugins/geowp-found-rows.php"
        && m["subPath"] == "geowp-found-rows.php"));
    assert!(data(
        find(&objs, "ConfigMap", "wordpress-mu-plugins"),
        "geowp-found-rows.php"
    )
    .contains("add_filter('query'"));
    // the bootstrap never turns on TiDB's no-op functions
    let boot = data(find(&objs, "ConfigMap", "tidb-bootstrap"), "bootstrap.sh");
    assert!(!boot.contains("noop"), "{boot}");
    assert!(boot.contains("closest-adaptive"));
}

#[test]
fn salts_are_identical_across_regions_and_no_secret_is_empty() {
    let datas: Vec<Value> = members()
        .keys()
        .map(|m| find(&all(m), "Secret", "site-secrets").body["data"].clone())
        .collect();
    assert!(datas.windows(2).all(|w| w[0] == w[1]));
    let d = datas[0].as_object().unwrap();
    assert_eq!(d.len(), 10);
    assert!(d.values().all(|v| !v.as_str().unwrap().is_empty()));
}

#[test]
fn syncthing_watches_the_disk_the_nfs_server_writes() {
    let objs = all("us-east");
    let st = find(&objs, "Deployment", "syncthing");
    let p = pod(st);
    let term = &p["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(
        term["labelSelector"]["matchLabels"]["app.kubernetes.io/component"],
        "nfs"
    );
    let export = p["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "export")
        .unwrap()
        .clone();
    assert_eq!(export["persistentVolumeClaim"]["claimName"], "export-nfs-0");
    let mounts = p["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        mounts
            .iter()
            .any(|m| m["mountPath"] == "/var/syncthing/data" && m["subPath"] == "pvc-u-1"),
        "{mounts:?}"
    );
    assert_eq!(st.body["spec"]["replicas"], 1);
    assert_eq!(st.body["spec"]["strategy"]["type"], "Recreate");
    // the full rescan is a safety net only
    let cfg = geowp_common::b64::decode_text(&data(
        find(&objs, "Secret", "syncthing-config"),
        "config.xml",
    ))
    .unwrap();
    assert!(
        cfg.contains("rescanIntervalS=\"3600\"") && cfg.contains("fsWatcherEnabled=\"true\""),
        "{cfg}"
    );
}

#[test]
fn no_host_paths_no_pod_security_policies_and_sane_layout() {
    let objs = all("us-east");
    let text = serde_json::to_string(&objs.iter().map(|o| &o.body).collect::<Vec<_>>()).unwrap();
    assert!(!text.contains("hostPath"));
    assert!(!objs.iter().any(|o| o.id.kind == "PodSecurityPolicy"));
    // code from the image: only uploads are shared, inside the pod's own
    // wp-content (www-data's group)
    let wp = find(&objs, "Deployment", "wordpress");
    assert_eq!(
        pod(wp)["containers"][0]["volumeMounts"][0],
        json!({"name": "wp-content-local", "mountPath": "/var/www/html/wp-content"})
    );
    assert_eq!(
        pod(wp)["containers"][0]["volumeMounts"][1],
        json!({"name": "wp-content", "mountPath": "/var/www/html/wp-content/uploads", "subPath": "uploads"})
    );
    // with file modifications from wp-admin, all of wp-content
    let mods = StackSpec {
        wordpress_file_mods: true,
        ..spec("us-east")
    };
    let objs_mods = render(&mods, &inputs());
    assert_eq!(
        pod(find(&objs_mods, "Deployment", "wordpress"))["containers"][0]["volumeMounts"][0],
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
    assert!(find(&objs, "Secret", "syncthing-identity").create_only);
    let ns = find(&objs, "Namespace", "geowp");
    assert_eq!(
        ns.body["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "privileged"
    );
    assert_eq!(ns.wave(), geowp_kube::Wave::Cluster);
    assert!(workloads(&objs)
        .iter()
        .all(|o| o.wave() == geowp_kube::Wave::Workload));
    // a fixed WordPress node port reaches the Service
    let mut np = spec("us-east");
    np.wordpress_service_type = ServiceType::NodePort;
    np.wordpress_node_port = Some(30080);
    let o = render(&np, &inputs());
    assert_eq!(
        find(&o, "Service", "wordpress").body["spec"]["ports"][0]["nodePort"],
        30080
    );
    // every object name is unique per kind
    let keys: BTreeSet<String> = objs.iter().map(Obj::key).collect();
    assert_eq!(keys.len(), objs.len());
    // the object set does not depend on secrets or live facts
    assert_eq!(
        object_keys(&spec("us-east")),
        objs.iter().map(Obj::key).collect::<Vec<_>>()
    );
}

#[test]
fn pods_restart_for_what_they_read_at_start_and_not_for_a_renewed_certificate() {
    let template =
        |objs: &[Obj], name: &str| find(objs, "StatefulSet", name).body["spec"]["template"].clone();
    let base = all("us-east");
    // a renewed certificate and key: the same pods (re-read per connection)
    let mut renewed = inputs();
    renewed.tls.cert_pem = "RENEWED-CERT".into();
    renewed.tls.key_pem = "RENEWED-KEY".into();
    let after = render(&spec("us-east"), &renewed);
    for c in ["pd", "tikv", "tidb"] {
        assert_eq!(template(&base, c), template(&after, c), "{c}");
    }
    assert_ne!(
        find(&base, "Secret", tidb::TLS_SECRET).body,
        find(&after, "Secret", tidb::TLS_SECRET).body
    );
    // a new CA: every part restarts
    let mut new_ca = inputs();
    new_ca.tls.ca_pem = "OTHER-CA".into();
    let after = render(&spec("us-east"), &new_ca);
    for c in ["pd", "tikv", "tidb"] {
        assert_ne!(template(&base, c), template(&after, c), "{c}");
    }
    // a config change restarts the part whose file changed
    let mut slow = spec("us-east");
    slow.max_rtt_ms = 800; // PD and TiKV both stretch their timings (TiKV floors at 10 ticks)
    let after = render(&slow, &inputs());
    assert_ne!(template(&base, "pd"), template(&after, "pd"));
    assert_ne!(template(&base, "tikv"), template(&after, "tikv"));
}

fn with_fourth(mut s: StackSpec) -> StackSpec {
    s.members.insert(
        "sa-east".into(),
        Member {
            pd_client_url: "https://10.0.3.1:2379".into(),
            pd_peer_url: "https://10.0.3.1:2380".into(),
            tikv_address: "10.0.3.2:20160".into(),
            syncthing_address: "tcp://10.0.3.3:22000".into(),
        },
    );
    s
}

fn founders() -> BTreeMap<String, String> {
    members()
        .into_iter()
        .map(|(n, m)| (n, m.pd_peer_url))
        .collect()
}

#[test]
fn founders_bootstrap_with_the_founders_and_a_later_member_joins() {
    let mut founder = with_fourth(spec("us-east"));
    founder.founders = Some(founders());
    let t = founder.new_topology();
    assert_eq!(
        t.initial_cluster,
        "ap-south=https://10.0.2.1:2380,eu-west=https://10.0.1.1:2380,us-east=https://10.0.0.1:2380",
        "the founders only, not the member added since"
    );
    assert_eq!(t.join, "");
    let mut joiner = with_fourth(spec("sa-east"));
    joiner.founders = Some(founders());
    let t = joiner.new_topology();
    assert_eq!(t.initial_cluster, "");
    assert_eq!(
        t.join,
        "https://10.0.2.1:2379,https://10.0.1.1:2379,https://10.0.0.1:2379"
    );
    assert_eq!(
        t.endpoints,
        "10.0.2.1:2379,10.0.1.1:2379,10.0.3.1:2379,10.0.0.1:2379"
    );
    let inputs = Inputs {
        pd: Some(t),
        ..inputs()
    };
    let a = args(find(&render(&joiner, &inputs), "StatefulSet", "pd"));
    assert!(!a.iter().any(|x| x.starts_with("--initial-cluster")));
    assert_eq!(
        arg(&a, "--join="),
        "https://10.0.2.1:2379,https://10.0.1.1:2379,https://10.0.0.1:2379"
    );
    // a founder moved to a new address (a replaced cluster) joins too
    let mut moved = spec("eu-west");
    moved.founders = Some(founders());
    moved.members.get_mut("eu-west").unwrap().pd_peer_url = "https://10.9.0.1:2380".into();
    assert_eq!(moved.new_topology().initial_cluster, "");
}

#[test]
fn pd_endpoints_are_kept_while_most_are_members() {
    let s = spec("us-east");
    let listed = s.pd_addresses();
    assert!(with_fourth(s.clone()).endpoints_current(&listed));
    let mut one_gone = s.clone();
    one_gone.members.remove("eu-west");
    assert!(one_gone.endpoints_current(&listed), "2 of 3 still there");
    let mut two_gone = one_gone.clone();
    two_gone.members.remove("ap-south");
    assert!(!two_gone.endpoints_current(&listed));
    assert!(!s.endpoints_current(""));
}

#[test]
fn a_peer_service_takes_its_own_annotations_over_the_shared_ones() {
    let mut s = spec("us-east");
    let own = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
    s.peer_service_annotations_by_service = BTreeMap::from([
        (
            "pd".to_string(),
            own(
                "service.beta.kubernetes.io/aws-load-balancer-private-ipv4-addresses",
                "10.0.0.1",
            ),
        ),
        (
            "syncthing".to_string(),
            own("networking.gke.io/load-balancer-type", "External"),
        ),
    ]);
    let objs = render(&s, &inputs());
    let ann = |name: &str| find(&objs, "Service", name).body["metadata"]["annotations"].clone();
    // its own key is added to the shared ones; the other Services lack it
    assert_eq!(
        ann("pd-0")["service.beta.kubernetes.io/aws-load-balancer-private-ipv4-addresses"],
        "10.0.0.1"
    );
    assert_eq!(
        ann("pd-0")["networking.gke.io/load-balancer-type"],
        "Internal"
    );
    assert!(
        ann("tikv-0")["service.beta.kubernetes.io/aws-load-balancer-private-ipv4-addresses"]
            .is_null()
    );
    // a key given for one Service wins over the shared value
    assert_eq!(
        ann("syncthing")["networking.gke.io/load-balancer-type"],
        "External"
    );
    assert_eq!(
        ann("tikv-0")["networking.gke.io/load-balancer-type"],
        "Internal"
    );
}

#[test]
fn the_stack_makes_its_own_block_storage_class_when_given_a_provisioner() {
    let claims = |objs: &[Obj]| -> Vec<Value> {
        workloads(objs)
            .iter()
            .flat_map(|o| {
                o.body["spec"]["volumeClaimTemplates"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|t| t["spec"]["storageClassName"].clone())
            .collect()
    };
    // by default: the cluster's default class, and no class of the stack's
    let objs = all("us-east");
    assert!(!objs.iter().any(|o| o.id.name == "geowp-geowp-block"));
    let default = claims(&objs);
    assert!(default.len() >= 3, "{default:?}");
    assert!(default.iter().all(Value::is_null), "{default:?}");

    let mut s = spec("us-east");
    s.storage_class_provisioner = Some("ebs.csi.eks.amazonaws.com".into());
    s.storage_class_parameters = BTreeMap::from([
        ("type".to_string(), "gp3".to_string()),
        ("encrypted".to_string(), "true".to_string()),
    ]);
    let objs = render(&s, &inputs());
    let class = find(&objs, "StorageClass", "geowp-geowp-block");
    assert_eq!(class.wave(), geowp_kube::Wave::Cluster);
    assert_eq!(class.body["provisioner"], "ebs.csi.eks.amazonaws.com");
    assert_eq!(
        class.body["parameters"],
        json!({"type": "gp3", "encrypted": "true"})
    );
    assert_eq!(class.body["reclaimPolicy"], "Retain");
    assert_eq!(class.body["volumeBindingMode"], "WaitForFirstConsumer");
    assert_eq!(class.body["allowVolumeExpansion"], true);
    let own = claims(&objs);
    assert_eq!(own.len(), default.len());
    assert!(own.iter().all(|c| c == "geowp-geowp-block"), "{own:?}");
    // wp-content stays on the NFS class
    assert_eq!(
        find(&objs, "PersistentVolumeClaim", "wp-content").body["spec"]["storageClassName"],
        "geowp-geowp-nfs"
    );
}

#[test]
fn wordpress_behind_a_tls_listener_serves_443_and_takes_requests_as_https() {
    let service = |s: &StackSpec| find(&render(s, &inputs()), "Service", "wordpress").clone();
    let extra = |s: &StackSpec| {
        let objs = render(s, &inputs());
        let wp = find(&objs, "Deployment", "wordpress");
        pod(wp)["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "WORDPRESS_CONFIG_EXTRA")
            .unwrap()["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let plain = spec("us-east");
    let svc = service(&plain);
    assert_eq!(
        svc.body["spec"]["ports"],
        json!([{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}])
    );
    assert!(svc.body["metadata"]["annotations"].is_null());
    assert!(!extra(&plain).contains("HTTPS"));

    let mut tls = spec("us-east");
    tls.wordpress_tls_at_load_balancer = true;
    tls.wordpress_service_annotations = BTreeMap::from([
        (
            "service.beta.kubernetes.io/aws-load-balancer-scheme".to_string(),
            "internet-facing".to_string(),
        ),
        (
            "service.beta.kubernetes.io/aws-load-balancer-ssl-ports".to_string(),
            "https".to_string(),
        ),
    ]);
    let svc = service(&tls);
    assert_eq!(
        svc.body["spec"]["ports"],
        json!([{"name": "https", "port": 443, "targetPort": "http", "protocol": "TCP"}])
    );
    assert_eq!(
        svc.body["metadata"]["annotations"]
            ["service.beta.kubernetes.io/aws-load-balancer-ssl-ports"],
        "https"
    );
    let x = extra(&tls);
    assert!(
        x.contains("define('WP_HOME', 'https://blog.example.com');"),
        "{x}"
    );
    assert!(x.ends_with("$_SERVER['HTTPS'] = 'on';\n"), "{x}");
    // the pods still listen on 80: the NetworkPolicy admits that port
    let objs = render(&tls, &inputs());
    assert_eq!(
        pod(find(&objs, "Deployment", "wordpress"))["containers"][0]["ports"],
        json!([{"name": "http", "containerPort": 80}])
    );
}

#[test]
fn scheduled_events_run_from_one_runner_never_from_page_loads() {
    let objs = all("us-east");
    // no page load starts wp-cron in any region
    let wp = find(&objs, "Deployment", "wordpress");
    let extra = pod(wp)["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "WORDPRESS_CONFIG_EXTRA")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        extra.contains("define('DISABLE_WP_CRON', true);"),
        "{extra}"
    );
    // a CronJob every minute, one run per region at a time, with the web
    // pod's database settings, wp-content and must-use plugins
    let cj = find(&objs, "CronJob", "wordpress-cron");
    assert_eq!(cj.body["spec"]["schedule"], "* * * * *");
    assert_eq!(cj.body["spec"]["concurrencyPolicy"], "Forbid");
    let p = pod(cj);
    let c = &p["containers"][0];
    assert_eq!(
        c["command"],
        json!(["docker-ensure-installed.sh", "php", "/geowp/geowp-cron.php"])
    );
    assert_eq!(c["env"], pod(wp)["containers"][0]["env"]);
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    for want in [
        "/var/www/html",
        // the pod's own wp-content (www-data's), with the shared uploads in it
        "/var/www/html/wp-content",
        "/var/www/html/wp-content/uploads",
        "/var/www/html/wp-content/mu-plugins/geowp-found-rows.php",
        "/geowp/geowp-cron.php",
        "/tmp",
    ] {
        assert!(mounts.contains(&want), "{want} not in {mounts:?}");
    }
    assert_eq!(p["securityContext"]["runAsUser"], 33);
    assert_eq!(
        find(&objs, "ConfigMap", "wordpress-cron").body["data"]["geowp-cron.php"],
        crate::render::wordpress::CRON_PHP
    );
}

#[test]
fn an_annotation_written_before_the_newer_fields_decodes_with_their_defaults() {
    // the import record of releases before layouts were numbered (layout
    // 1) is StackSpec's serde JSON; a stack applied before these fields
    // existed has none of them. It is read through the model, whose
    // defaults fill them as they fill a configuration that leaves them out.
    let spec = spec("us-east");
    let mut old = serde_json::to_value(&spec).unwrap();
    let newer = [
        "tidb_tls",
        "peer_source_ranges",
        "node_source_ranges",
        "peer_service_annotations",
        "peer_service_annotations_by_service",
        "max_rtt_ms",
        "resources",
        "primary_member",
        "founders",
        "pd_peer_relay_image",
        "storage_class_provisioner",
        "storage_class_parameters",
        "wordpress_service_annotations",
        "wordpress_tls_at_load_balancer",
    ];
    for k in newer {
        old.as_object_mut().unwrap().remove(k);
    }
    let decoded: crate::render::StackSpec =
        crate::layout::recall(&old.to_string()).expect("an older annotation decodes");
    assert!(decoded.tidb_tls);
    assert_eq!(decoded.max_rtt_ms, 150);
    assert!(decoded.resources.is_empty() && decoded.peer_source_ranges.is_empty());
    assert_eq!(decoded.member, spec.member);
    assert_eq!(decoded.members, spec.members);
}

#[test]
fn the_load_balancer_reaches_the_page_cache_which_reaches_wordpress() {
    let objs = all("us-east");
    let svc = find(&objs, "Service", "wordpress");
    assert_eq!(
        svc.body["spec"]["selector"],
        json!({"app.kubernetes.io/component": "page-cache"})
    );
    let origin = find(&objs, "Service", "wordpress-origin");
    assert_eq!(
        origin.body["spec"]["selector"],
        json!({"app.kubernetes.io/component": "wordpress"})
    );
    assert_eq!(origin.body["spec"]["type"], "ClusterIP");
    let purge = find(&objs, "Service", "page-cache-purge");
    assert_eq!(purge.body["spec"]["clusterIP"], "None", "each pod by name");
    let cache = find(&objs, "Deployment", "page-cache");
    let c = &pod(cache)["containers"][0];
    assert_eq!(c["image"], crate::render::DEFAULT_PAGE_CACHE_IMAGE);
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.windows(2).any(|w| w == ["-a", "http=:8080,HTTP"]));
    assert!(args.windows(2).any(|w| w == ["-a", "purge=:8081,HTTP"]));
    // half of the default 1Gi limit holds pages
    assert!(
        args.windows(2).any(|w| w == ["-s", "malloc,512M"]),
        "{args:?}"
    );
    assert_eq!(cache.body["spec"]["replicas"], 2);
    let vcl = find(&objs, "ConfigMap", "page-cache").body["data"]["geowp.vcl"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(vcl.contains(".host = \"wordpress-origin\";"));
    assert!(vcl.contains("set beresp.ttl = 30s;"));
    assert!(vcl.contains("set req.grace = 10s;"));
    assert!(vcl.contains("set req.grace = 86400s;"));
    for p in [
        "BACKEND_HOST",
        "BACKEND_PORT",
        "HEALTH_PATH",
        "TTL",
        "HEALTHY_GRACE",
        "STALE_IF_ERROR",
    ] {
        assert!(
            !vcl.contains(&format!("@{p}")),
            "every placeholder filled: {vcl}"
        );
    }
    // WordPress is told where to ban, and how stale a visitor's reads may be
    let wp = find(&objs, "Deployment", "wordpress");
    let env = &pod(wp)["containers"][0]["env"];
    let var = |n: &str| {
        env.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == n)
            .map(|e| e["value"].clone())
    };
    assert_eq!(
        var("GEOWP_PAGE_CACHE_PURGE"),
        Some(json!("page-cache-purge.geowp.svc.cluster.local:8081"))
    );
    assert_eq!(var("GEOWP_STALE_READ_SECONDS"), Some(json!("5")));
    // the VCL's hash rolls the pods when it changes
    let mut longer = spec("us-east");
    longer.page_cache_ttl = 300;
    let hash = |objs: &[Obj]| {
        find(objs, "Deployment", "page-cache").body["spec"]["template"]["metadata"]["annotations"]
            ["geowp.dev/config-hash"]
            .clone()
    };
    assert_ne!(hash(&objs), hash(&render(&longer, &inputs())));
    assert_eq!(crate::render::cache::edit_bound(30), 40);
    assert_eq!(crate::render::cache::edit_bound(300), 310);
    assert_eq!(crate::render::cache::edit_bound(3), 4);
}

fn with_backups(member: &str) -> StackSpec {
    StackSpec {
        backup_repository: Some("s3:https://s3.amazonaws.com/site-backups/geowp".into()),
        backup_interval_hours: 6,
        ..spec(member)
    }
}

#[test]
fn backups_are_off_until_a_repository_is_named() {
    let objs = render(&spec("us-east"), &inputs());
    assert!(!objs
        .iter()
        .any(|o| o.id.name.starts_with("geowp-backup") || o.id.name.starts_with("geowp-restore")));
    let objs = render(&with_backups("us-east"), &inputs());
    for key in [
        "Secret/geowp-backup",
        "ConfigMap/geowp-backup",
        "CronJob/geowp-backup",
        "CronJob/geowp-restore",
    ] {
        assert!(objs.iter().any(|o| o.key().ends_with(key)), "{key} missing");
    }
}

#[test]
fn the_backup_runs_in_every_region_on_one_schedule_and_the_restore_template_never_runs() {
    for m in ["us-east", "eu-west"] {
        let objs = render(&with_backups(m), &inputs());
        let cj = &find(&objs, "CronJob", "geowp-backup").body["spec"];
        assert_eq!(cj["schedule"], "17 */6 * * *");
        assert_eq!(cj["timeZone"], "Etc/UTC");
        assert_eq!(cj["suspend"], false);
        assert_eq!(cj["concurrencyPolicy"], "Forbid");
        let pod = &cj["jobTemplate"]["spec"]["template"]["spec"];
        let steps: Vec<&str> = pod["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(pod["containers"].as_array().unwrap())
            .map(|c| c["command"][2].as_str().unwrap())
            .collect();
        assert_eq!(steps, ["claim", "files", "record"]);
        let env = &pod["containers"][0]["env"];
        let region = env
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "GEOWP_REGION")
            .unwrap();
        assert_eq!(region["value"], m);
        let restore = &find(&objs, "CronJob", "geowp-restore").body["spec"];
        assert_eq!(restore["suspend"], true);
        let rpod = &restore["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(rpod["containers"][0]["command"][2], "load");
    }
    for (hours, cron) in [(1, "17 * * * *"), (24, "17 0 * * *"), (8, "17 */8 * * *")] {
        let s = StackSpec {
            backup_interval_hours: hours,
            ..with_backups("us-east")
        };
        assert_eq!(super::backup::schedule(&s), cron);
    }
}

#[test]
fn backup_pods_are_hardened_and_hold_no_secret_in_their_spec() {
    let objs = render(&with_backups("us-east"), &inputs());
    for name in ["geowp-backup", "geowp-restore"] {
        let cj = find(&objs, "CronJob", name);
        let text = cj.body.to_string();
        for secret in [
            "backup-pw-123456789",
            "secret-key-value",
            "AKIAEXAMPLE",
            "wp-pw-123456789",
        ] {
            assert!(!text.contains(secret), "{name} carries a secret value");
        }
        let pod = &cj.body["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(pod["securityContext"]["runAsUser"], 33);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        assert_eq!(pod["automountServiceAccountToken"], false);
        for c in pod["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(pod["containers"].as_array().unwrap())
        {
            let sc = &c["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{}", c["name"]);
            assert_eq!(sc["allowPrivilegeEscalation"], false);
            assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
            assert!(c["resources"]["limits"]["memory"].is_string());
            // credentials come from the Secret by name
            let aws = c["env"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == "AWS_SECRET_ACCESS_KEY")
                .unwrap();
            assert_eq!(aws["valueFrom"]["secretKeyRef"]["name"], "geowp-backup");
        }
        // a backup reads wp-content; only a restore writes it
        let wp = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "wp-content")
            .unwrap();
        assert_eq!(
            wp["persistentVolumeClaim"]["readOnly"],
            name == "geowp-backup"
        );
    }
    let secret = find(&objs, "Secret", "geowp-backup");
    assert!(secret.secret);
    // workload identity: the account's token, and no keys needed
    let s = StackSpec {
        backup_service_account: Some("geowp-backup".into()),
        ..with_backups("us-east")
    };
    let objs = render(&s, &inputs());
    let pod = &find(&objs, "CronJob", "geowp-backup").body["spec"]["jobTemplate"]["spec"]
        ["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "geowp-backup");
    assert_eq!(pod["automountServiceAccountToken"], true);
}

#[test]
fn the_backup_script_is_valid_posix_shell() {
    use std::io::Write;
    // dash is POSIX sh without extensions: what parses here parses in busybox
    let mut child = std::process::Command::new("dash")
        .arg("-n")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dash");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(super::backup::SCRIPT.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn code_comes_from_the_image_unless_file_mods_are_allowed() {
    let off = config_extra("https://example.com", false, false);
    assert!(off.contains("define('DISALLOW_FILE_MODS', true);"));
    assert!(off.contains("define('AUTOMATIC_UPDATER_DISABLED', true);"));
    let on = config_extra("https://example.com", false, true);
    assert!(!on.contains("DISALLOW_FILE_MODS"));
    assert!(on.contains("DISABLE_WP_CRON"));
}

#[test]
fn syncthing_leaves_caches_and_temporary_files_in_their_region() {
    let objs = all("us-east");
    let st = find(&objs, "Deployment", "syncthing");
    let script = pod(st)["initContainers"][0]["command"][2]
        .as_str()
        .unwrap()
        .to_string();
    let at = script
        .find(".stignore")
        .expect("the init container writes .stignore");
    let line = script[..at].rsplit('\n').next().unwrap();
    for pattern in [
        "(?d)/cache",
        "(?d)/upgrade",
        "(?d)/upgrade-temp-backup",
        "(?d)*.tmp",
    ] {
        assert!(
            line.contains(&format!("'{pattern}'")),
            "{pattern} not ignored: {line}"
        );
    }
    // the maintenance flag is in uploads, which every WordPress pod mounts
    // and SyncThing carries
    assert!(super::backup::MAINTENANCE_FLAG.starts_with("uploads/"));
    assert!(MAINTENANCE_PHP.contains("'/uploads/.geowp-maintenance'"));
}

#[test]
fn a_volume_repository_is_mounted_at_backup_in_both_pods() {
    let s = StackSpec {
        backup_repository: Some("/backup/geowp".into()),
        backup_volume_claim: Some("site-backups".into()),
        ..spec("us-east")
    };
    let objs = render(&s, &inputs());
    for name in ["geowp-backup", "geowp-restore"] {
        let pod =
            &find(&objs, "CronJob", name).body["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        let vol = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "repository")
            .unwrap_or_else(|| panic!("{name}: no repository volume"));
        assert_eq!(vol["persistentVolumeClaim"]["claimName"], "site-backups");
        for c in pod["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(pod["containers"].as_array().unwrap())
        {
            assert!(
                c["volumeMounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["name"] == "repository" && m["mountPath"] == "/backup"),
                "{name}/{}",
                c["name"]
            );
            let repo = c["env"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == "RESTIC_REPOSITORY")
                .unwrap();
            assert_eq!(repo["value"], "/backup/geowp");
        }
    }
    // what a repository may be
    use super::spec::backup_repository_error as bad;
    for ok in [
        "s3:https://s3.amazonaws.com/b/geowp",
        "s3:s3.us-east-1.amazonaws.com/b",
        "gs:bucket:/geowp",
        "azure:container:/geowp",
        "rest:https://backup.example.com:8000/geowp",
        "/backup/geowp",
    ] {
        assert_eq!(bad(ok), None, "{ok}");
    }
    for no in [
        "",
        "gs:bucket",
        "azure:container",
        "ftp://x/y",
        "/var/lib/geowp",
        "/backup/../etc",
        "s3:https://h/b/$(reboot)",
        "s3:https://h/b path",
    ] {
        assert!(bad(no).is_some(), "{no:?} accepted");
    }
}

#[test]
fn wp_content_on_the_clusters_own_class_runs_no_nfs_server() {
    let s = StackSpec {
        wp_content_storage_class: Some("efs-sc".into()),
        ..spec("us-east")
    };
    let objs = render(&s, &inputs());
    for gone in [
        "StatefulSet/nfs",
        "Service/nfs",
        "ServiceAccount/nfs-provisioner",
        "StorageClass/geowp-geowp-nfs",
        "NetworkPolicy/nfs",
    ] {
        assert!(
            !objs.iter().any(|o| o.key().ends_with(gone)),
            "{gone} is rendered"
        );
    }
    let claim = find(&objs, "PersistentVolumeClaim", "wp-content");
    assert_eq!(claim.body["spec"]["storageClassName"], "efs-sc");
    assert_eq!(claim.body["spec"]["accessModes"], json!(["ReadWriteMany"]));
    let config = find(&objs, "PersistentVolumeClaim", "syncthing-config");
    assert_eq!(config.body["spec"]["accessModes"], json!(["ReadWriteOnce"]));
    let st = pod(find(&objs, "Deployment", "syncthing"));
    assert!(st["affinity"].is_null());
    let mounts = &st["containers"][0]["volumeMounts"];
    assert_eq!(
        mounts[0],
        json!({"name": "config", "mountPath": "/var/syncthing/config"})
    );
    assert_eq!(
        mounts[1],
        json!({"name": "content", "mountPath": "/var/syncthing/data"})
    );
    // WordPress mounts the same claim
    let wp = pod(find(&objs, "Deployment", "wordpress"));
    let claim_of = |p: &Value, vol: &str| {
        p["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == vol)
            .unwrap()["persistentVolumeClaim"]["claimName"]
            .clone()
    };
    assert_eq!(claim_of(wp, "wp-content"), "wp-content");
    assert_eq!(claim_of(st, "content"), "wp-content");
    // a class the stack makes (EFS through its CSI driver)
    let own = StackSpec {
        wp_content_storage_class_provisioner: Some("efs.csi.aws.com".into()),
        wp_content_storage_class_parameters: BTreeMap::from([
            ("provisioningMode".to_string(), "efs-ap".to_string()),
            (
                "fileSystemId".to_string(),
                "fs-0123456789abcdef0".to_string(),
            ),
            ("uid".to_string(), "33".to_string()),
            ("gid".to_string(), "33".to_string()),
        ]),
        ..spec("us-east")
    };
    let objs = render(&own, &inputs());
    let class = find(&objs, "StorageClass", "geowp-geowp-rwx");
    assert_eq!(class.body["provisioner"], "efs.csi.aws.com");
    assert_eq!(class.body["parameters"]["uid"], "33");
    assert_eq!(class.body["reclaimPolicy"], "Retain");
    assert!(class.body["allowVolumeExpansion"].is_null());
    assert_eq!(
        find(&objs, "PersistentVolumeClaim", "wp-content").body["spec"]["storageClassName"],
        "geowp-geowp-rwx"
    );
    assert!(!objs.iter().any(|o| o.key().ends_with("StatefulSet/nfs")));
    // and the default stays the in-cluster NFS server
    let objs = all("us-east");
    assert!(objs.iter().any(|o| o.key().ends_with("StatefulSet/nfs")));
}

#[test]
fn no_pod_but_the_nfs_server_runs_as_root_or_adds_a_capability() {
    let objs = all("us-east");
    let mut checked = 0;
    for o in &objs {
        let tpl = match o.id.kind.as_str() {
            "Deployment" | "StatefulSet" | "Job" => &o.body["spec"]["template"]["spec"],
            "CronJob" => &o.body["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => continue,
        };
        if o.id.name == "nfs" {
            continue;
        }
        checked += 1;
        let pod_user = tpl["securityContext"]["runAsUser"].as_i64();
        for c in tpl["initContainers"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(tpl["containers"].as_array().into_iter().flatten())
        {
            let user = c["securityContext"]["runAsUser"].as_i64().or(pod_user);
            assert!(
                user.is_some_and(|u| u > 0),
                "{}/{} runs as root",
                o.key(),
                c["name"]
            );
            assert!(
                c["securityContext"]["capabilities"]["add"].is_null(),
                "{}/{} adds {}",
                o.key(),
                c["name"],
                c["securityContext"]["capabilities"]["add"]
            );
            assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
        }
    }
    assert!(checked >= 8, "only {checked} workloads checked");
    // WordPress binds port 80 as www-data through the one safe sysctl
    let wp = pod(find(&objs, "Deployment", "wordpress"));
    assert_eq!(
        wp["securityContext"]["sysctls"],
        json!([{"name": "net.ipv4.ip_unprivileged_port_start", "value": "80"}])
    );
    assert_eq!(wp["securityContext"]["runAsUser"], 33);
}

#[test]
fn pd_reaches_its_own_advertised_host_name_without_its_load_balancer() {
    // members given by name: PD's own name resolves to the pod itself
    let mut members = members();
    let me = members.get_mut("us-east").unwrap();
    me.pd_client_url = "https://pd.us-east.example.com:2379".into();
    me.pd_peer_url = "https://pd-peer.us-east.example.com:2380".into();
    let named = super::example::spec("us-east", members);
    let objs = render(&named, &Inputs::placeholder());
    let pd = &find(&objs, "StatefulSet", "pd").body["spec"]["template"]["spec"];
    assert_eq!(
        pd["hostAliases"],
        json!([{"ip": "127.0.0.1", "hostnames": ["pd-peer.us-east.example.com", "pd.us-east.example.com"]}])
    );
    // only PD dials itself there; the certificate names the hosts it is reached by
    for other in ["tikv", "tidb"] {
        assert!(
            find(&objs, "StatefulSet", other).body["spec"]["template"]["spec"]["hostAliases"]
                .is_null()
        );
    }
    let names = crate::tls::names(&named);
    assert!(names.dns.contains(&"pd.us-east.example.com".to_string()));
    // by IP address: nothing to alias (it is the PD Service's loadBalancerIP,
    // which kube-proxy routes to the Service's endpoints in the cluster)
    let objs = render(&spec("us-east"), &Inputs::placeholder());
    assert!(
        find(&objs, "StatefulSet", "pd").body["spec"]["template"]["spec"]["hostAliases"].is_null()
    );
}
