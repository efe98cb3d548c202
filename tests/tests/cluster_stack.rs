//! geowp_cluster_stack end to end: real Terraform 1.0.3, the real provider
//! binary, the examples' geo-wordpress module (for_each over a map of three
//! clusters), three fake API servers with TLS and tokens, and kubectl.

use std::time::Duration;

use fakeapi::{Behavior, Fault, FaultAction, Options};
use geowp_stack::render::spec::DEFAULT_TIDB_VERSION;
use geowp_tests::regions::Regions;
use geowp_tests::{MirroredProvider, Tf};

const NAMES: [&str; 3] = ["us-east", "eu-west", "ap-south"];
/// The TiDB version the first apply installs, older than the default.
const OLD: &str = "  tidb_version = \"v8.5.2\"";

fn module_config(r: &Regions, extra: &str) -> String {
    r.module_config("blog", extra)
}

fn fast() -> Options {
    Options {
        ready_delay: Duration::from_millis(100),
        ..Default::default()
    }
}

/// What each region holds besides the namespaces every cluster has.
fn leftovers(r: &Regions, i: usize) -> Vec<String> {
    let mut v = r.names_of(i, "ns,storageclass,clusterrole,clusterrolebinding", None);
    v.retain(|n| n != "namespace/default" && n != "namespace/kube-system");
    v
}

geowp_tests::for_each_terraform! {
    fn three_regions_apply_plan_drift_import_update_destroy(terraform) {
    // one PD for the site, that rolling reads (fakeapi::pd)
    let r = Regions::start(
        &NAMES,
        Options {
            pd: Some(std::sync::Arc::new(fakeapi::pd::FakePd::new())),
            ..fast()
        },
    );
    let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
    tf.write("main.tf", &module_config(&r, OLD));
    tf.ok(&["init"]);
    let out = tf.ok(&["apply", "-auto-approve"]);
    assert!(out.contains("Apply complete! Resources: 5 added"), "{out}");

    // every region holds the whole stack; the PD topology is identical
    let mut initial = Vec::new();
    for (i, _) in NAMES.iter().enumerate() {
        let sts = r.names_of(i, "statefulsets", Some("geowp"));
        assert_eq!(
            sts,
            vec![
                "statefulset.apps/nfs",
                "statefulset.apps/pd",
                "statefulset.apps/tidb",
                "statefulset.apps/tikv"
            ]
        );
        let deps = r.names_of(i, "deployments", Some("geowp"));
        assert_eq!(
            deps,
            vec![
                "deployment.apps/page-cache",
                "deployment.apps/syncthing",
                "deployment.apps/wordpress"
            ]
        );
        let args = r.kubectl(
            i,
            &[
                "-n",
                "geowp",
                "get",
                "sts",
                "pd",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].args}",
            ],
        );
        let args = String::from_utf8_lossy(&args.stdout).to_string();
        initial.push(
            args.split("--initial-cluster=")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string(),
        );
        assert!(args.contains(&format!("--name={}", NAMES[i])), "{args}");
        // the load balancers got the static IPs the module advertises
        let ip = r.kubectl(
            i,
            &[
                "-n",
                "geowp",
                "get",
                "svc",
                "syncthing",
                "-o",
                "jsonpath={.status.loadBalancer.ingress[0].ip}",
            ],
        );
        assert_eq!(String::from_utf8_lossy(&ip.stdout), format!("10.{i}.0.3"));
    }
    assert!(initial.windows(2).all(|w| w[0] == w[1]), "{initial:?}");
    // secrets went to the clusters, not to the plan output or log
    assert!(!out.contains("TIDB_ROOT_PASSWORD") && !out.contains("PRIVATE KEY"));
    let (st, ca_keys) = geowp_tests::state_without_ca_key(&tf.ok(&["state", "pull"]));
    assert_eq!(ca_keys, 4, "the site and its three stacks hold the CA key");
    assert!(
        !st.contains("PRIVATE KEY"),
        "a SyncThing or region private key reached Terraform state"
    );

    // a second plan is empty
    let p = tf.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(p.code(), 0, "{}", p.all());

    // drift made with kubectl shows in the plan as a readable diff; apply fixes it
    let o = r.kubectl(
        0,
        &[
            "-n",
            "geowp",
            "set",
            "image",
            "deploy/wordpress",
            "wordpress=wordpress:evil",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = r.kubectl(1, &["-n", "geowp", "delete", "configmap", "pd-config"]);
    assert!(o.status.success());
    let p = tf.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(p.code(), 2, "{}", p.all());
    assert!(
        p.stdout.contains(r#""Deployment/wordpress""#)
            && p.stdout.contains(r#"image is \"wordpress:evil\""#),
        "{}",
        p.stdout
    );
    assert!(
        p.stdout.contains(r#""ConfigMap/pd-config""#)
            && p.stdout.contains("missing: deleted outside Terraform"),
        "{}",
        p.stdout
    );
    assert!(
        p.stdout
            .contains("Plan: 0 to add, 2 to change, 0 to destroy"),
        "{}",
        p.stdout
    );
    tf.ok(&["apply", "-auto-approve"]);
    let img = r.kubectl(
        0,
        &[
            "-n",
            "geowp",
            "get",
            "deploy",
            "wordpress",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&img.stdout),
        geowp_stack::render::DEFAULT_WORDPRESS_IMAGE
    );
    assert_eq!(
        r.names_of(1, "configmap", Some("geowp"))
            .iter()
            .filter(|n| *n == "configmap/pd-config")
            .count(),
        1
    );
    let p = tf.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(p.code(), 0, "{}", p.all());

    // import: forget one region's stack and adopt it again by CONTEXT/NAMESPACE/MEMBER
    let before = tf.ok(&[
        "state",
        "show",
        "module.site.geowp_cluster_stack.region[\"eu-west\"]",
    ]);
    tf.ok(&[
        "state",
        "rm",
        "module.site.geowp_cluster_stack.region[\"eu-west\"]",
    ]);
    let kc = r.kubeconfig(1);
    let kc = kc.to_str().unwrap();
    let imp = tf.run_env(
        &[
            "import",
            "module.site.geowp_cluster_stack.region[\"eu-west\"]",
            "eu-west/geowp/eu-west",
        ],
        &[("KUBECONFIG", kc)],
    );
    assert!(imp.status.success(), "{}", imp.all());
    // Terraform 1.0 records which values came from sensitive sources
    // (`sensitive_attributes`); an imported instance has none yet, so it plans
    // a marks-only update of exactly the three secret attributes. Applying it
    // writes nothing to the cluster.
    let p = tf.run(&["plan", "-detailed-exitcode"]);
    let changed: Vec<&str> = p
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("~ ") && l.contains(" = "))
        .map(str::trim)
        .collect();
    assert!(
        changed.iter().all(|l| [
            "tidb_root_password",
            "wordpress_db_password",
            "wordpress_salts",
            "device_ids",
            "endpoints"
        ]
        .iter()
        .any(|a| l.starts_with(&format!("~ {a}")))),
        "plan after import changes more than sensitivity marks:\n{}",
        p.stdout
    );
    let rvs = |r: &Regions| {
        r.kubectl(
            1,
            &[
                "-n",
                "geowp",
                "get",
                "all,cm,secret,pvc,sa",
                "-o",
                "jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}",
            ],
        )
        .stdout
    };
    let rv_before = rvs(&r);
    tf.ok(&["apply", "-auto-approve"]);
    assert_eq!(
        rvs(&r),
        rv_before,
        "the post-import apply wrote to the cluster"
    );
    let p = tf.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(
        p.code(),
        0,
        "plan after import and apply is not empty:\n{}",
        p.all()
    );
    let after = tf.ok(&[
        "state",
        "show",
        "module.site.geowp_cluster_stack.region[\"eu-west\"]",
    ]);
    let dev = |s: &str| {
        s.lines()
            .find(|l| l.contains("syncthing_device_id"))
            .map(str::trim)
            .map(String::from)
    };
    assert_eq!(dev(&before), dev(&after), "import changed the device ID");
    let bad = tf.run_env(
        &[
            "import",
            "module.site.geowp_cluster_stack.region[\"eu-west\"]",
            "nope",
        ],
        &[("KUBECONFIG", kc)],
    );
    assert!(
        bad.stderr.contains("Resource already managed")
            || bad.stderr.contains("CONTEXT/NAMESPACE/MEMBER"),
        "{}",
        bad.stderr
    );

    // update in place: a newer TiDB version (the provider's default) rolls
    // PD, TiKV and TiDB in every region
    tf.write("main.tf", &module_config(&r, ""));
    let p = tf.ok(&["plan"]);
    assert!(
        p.contains("Plan: 0 to add, 3 to change, 0 to destroy"),
        "{p}"
    );
    assert!(p.contains(r#"~ tidb_version"#), "{p}");
    tf.ok(&["apply", "-auto-approve"]);
    for (i, _) in NAMES.iter().enumerate() {
        for c in ["pd", "tikv", "tidb"] {
            let img = r.kubectl(
                i,
                &[
                    "-n",
                    "geowp",
                    "get",
                    "sts",
                    c,
                    "-o",
                    "jsonpath={.spec.template.spec.containers[0].image}",
                ],
            );
            assert_eq!(
                String::from_utf8_lossy(&img.stdout),
                format!("pingcap/{c}:{DEFAULT_TIDB_VERSION}")
            );
        }
    }

    // the StatefulSets' controllers made claims from their templates
    let claims = r.names_of(0, "pvc", Some("geowp"));
    assert!(
        claims.contains(&"persistentvolumeclaim/tikv-data-tikv-0".to_string()),
        "{claims:?}"
    );
    // destroy leaves every cluster as it was, but for the volumes of
    // geowp's Retain classes, which it names
    let d = tf.ok(&["destroy", "-auto-approve"]);
    assert!(
        d.contains("Destroy complete! Resources: 5 destroyed"),
        "{d}"
    );
    assert!(d.contains("Volumes kept") && d.contains("was geowp/wp-content"), "{d}");
    for (i, _) in NAMES.iter().enumerate() {
        let o = r.kubectl(i, &["get", "pv", "-o", "jsonpath={.items[*].status.phase}"]);
        assert_eq!(String::from_utf8_lossy(&o.stdout), "Released", "region {}", NAMES[i]);
    }
    for (i, _) in NAMES.iter().enumerate() {
        assert_eq!(
            leftovers(&r, i),
            Vec::<String>::new(),
            "region {} not clean",
            NAMES[i]
        );
    }
    assert!(tf.leftover_processes().is_empty());
    }
}

fn direct_config(r: &Regions, timeouts: &str) -> String {
    r.stacks_config(&|_| timeouts.to_string())
}

geowp_tests::for_each_terraform! {
    fn faults_give_clear_diagnostics_and_the_next_apply_converges(terraform) {
    let mut r = Regions::start(&NAMES, fast());
    let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
    tf.write("main.tf", &direct_config(&r, ""));
    tf.ok(&["init"]);

    // a 500 in the middle of apply (the workloads wave of one region)
    r.handle(0).inject(Fault {
        method: Some("PATCH".into()),
        path_prefix: "/apis/apps/v1/namespaces/geowp/statefulsets".into(),
        remaining: 1,
        action: FaultAction::Code(500),
    });
    let a = tf.run(&["apply", "-auto-approve"]);
    assert_ne!(a.code(), 0);
    assert!(
        a.stderr.contains("Kubernetes API error") && a.stderr.contains("500"),
        "{}",
        a.stderr
    );
    assert!(!a.stderr.contains("panicked"));
    let a = tf.run(&["apply", "-auto-approve"]);
    assert!(
        a.status.success(),
        "the next apply did not converge:\n{}",
        a.all()
    );
    assert_eq!(tf.run(&["plan", "-detailed-exitcode"]).code(), 0);

    // a 409 from another field manager
    let o = r.kubectl(
        1,
        &["-n", "geowp", "scale", "deploy/wordpress", "--replicas=5"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    r.handle(1).inject(Fault {
        method: Some("PATCH".into()),
        path_prefix: "/apis/apps/v1/namespaces/geowp/deployments/wordpress".into(),
        remaining: 1,
        action: FaultAction::Code(409),
    });
    let a = tf.run(&["apply", "-auto-approve"]);
    assert_ne!(a.code(), 0);
    assert!(
        a.stderr.contains("Conflict") && a.stderr.contains("Deployment/wordpress"),
        "{}",
        a.stderr
    );
    let a = tf.run(&["apply", "-auto-approve"]);
    assert!(a.status.success(), "{}", a.all());
    let rep = r.kubectl(
        1,
        &[
            "-n",
            "geowp",
            "get",
            "deploy",
            "wordpress",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&rep.stdout), "2");

    // the whole stack deleted behind Terraform's back: refresh drops it from
    // state and the plan creates it again
    let o = r.kubectl(
        2,
        &[
            "delete",
            "namespace",
            "geowp",
            "--wait=true",
            "--timeout=20s",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p = tf.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(p.code(), 2, "{}", p.all());
    assert!(
        p.stdout
            .contains("geowp_cluster_stack.ap-south will be created"),
        "{}",
        p.stdout
    );
    tf.ok(&["apply", "-auto-approve"]);
    assert_eq!(tf.run(&["plan", "-detailed-exitcode"]).code(), 0);

    // a cluster down during refresh: a warning naming the member, the
    // other regions still planned, never an empty state
    r.stop(2);
    let p = tf.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(p.code(), 0, "{}", p.all());
    let all = p.all();
    assert!(
        all.contains("Region unreachable") && all.contains("member ap-south") && all.contains("state is kept"),
        "{all}"
    );
    let st = tf.ok(&["state", "list"]);
    assert!(
        st.contains("geowp_cluster_stack.ap-south"),
        "state lost the unreachable region:\n{st}"
    );
    r.restart(2);
    assert_eq!(tf.run(&["plan", "-detailed-exitcode"]).code(), 0);

    // a finalizer blocking destroy names the blocking object; removing it lets destroy finish
    let o = r.kubectl(
        0,
        &[
            "-n",
            "geowp",
            "patch",
            "configmap",
            "pd-config",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    tf.write(
        "main.tf",
        &direct_config(&r, "  timeouts {\n    delete = \"3s\"\n  }"),
    );
    tf.ok(&["apply", "-auto-approve"]);
    let d = tf.run(&["destroy", "-auto-approve"]);
    assert_ne!(d.code(), 0);
    assert!(
        d.stderr.contains("Destroy blocked")
            && d.stderr.contains("ConfigMap/pd-config")
            && d.stderr.contains("example.com/hold"),
        "{}",
        d.stderr
    );
    let o = r.kubectl(
        0,
        &[
            "-n",
            "geowp",
            "patch",
            "configmap",
            "pd-config",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
    );
    assert!(o.status.success());
    let d = tf.run(&["destroy", "-auto-approve"]);
    assert!(d.status.success(), "{}", d.all());
    for (i, _) in NAMES.iter().enumerate() {
        assert_eq!(
            leftovers(&r, i),
            Vec::<String>::new(),
            "region {} not clean after faults",
            NAMES[i]
        );
    }
    }
}

geowp_tests::for_each_terraform! {
    fn a_stack_that_never_gets_ready_times_out_naming_the_object(terraform) {
    let r = Regions::start(
        &NAMES,
        Options {
            behavior: Behavior::NeverReady,
            ready_delay: Duration::from_millis(50),
            ..Default::default()
        },
    );
    let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
    tf.write(
        "main.tf",
        &direct_config(&r, "  timeouts {\n    create = \"3s\"\n  }"),
    );
    tf.ok(&["init"]);
    let t = std::time::Instant::now();
    let a = tf.run(&["apply", "-auto-approve"]);
    assert_ne!(a.code(), 0);
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "the timeout did not bound the wait"
    );
    let e = &a.stderr;
    assert!(e.contains("Timed out waiting for the stack"), "{e}");
    assert!(
        e.contains("Deployment/wordpress: 0 of 2 updated replicas are available"),
        "{e}"
    );
    assert!(e.contains("StatefulSet/pd: 0 of 1 pods are ready"), "{e}");
    // a peer load balancer that never got the static address it asks for
    assert!(
        e.contains("Service/pd-0: waiting for the load balancer address it asks for, 10.0.0.1 (the Service's events say why"),
        "{e}"
    );
    assert!(
        e.contains("raise timeouts.create") || e.contains("Raise timeouts.create"),
        "{e}"
    );
    // what was created is in state (tainted), so destroy removes it all
    let st = tf.ok(&["state", "list"]);
    assert!(st.contains("geowp_cluster_stack.us-east"), "{st}");
    tf.ok(&["destroy", "-auto-approve"]);
    for (i, _) in NAMES.iter().enumerate() {
        assert_eq!(leftovers(&r, i), Vec::<String>::new());
    }
    }
}

geowp_tests::for_each_terraform! {
    fn bad_configuration_is_reported_at_plan_with_attribute_paths(terraform) {
    let r = Regions::start(&NAMES[..1], fast());
    let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
    let h = r.handle(0);
    tf.write(
        "main.tf",
        &format!(
            r#"terraform {{
  required_providers {{
    geowp = {{ source = "geowp/geowp" }}
  }}
}}

resource "geowp_cluster_stack" "bad" {{
  cluster {{
    host  = "http://{addr}"
    token = "x"
  }}
  member                = "US_East"
  site_name             = "blog"
  site_url              = "blog.example.com"
  tidb_root_password    = "short"
  wordpress_db_password = "has'quote-and-is-long"
  wordpress_salts       = {{ AUTH_KEY = "x" }}
  wordpress_replicas    = 0
  pd_storage_size       = "10 GB"
  members = {{
    "us-east" = {{ pd_client_url = "10.0.0.1:2379", pd_peer_url = "http://10.0.0.1:2380", tikv_address = "10.0.0.2", syncthing_address = "tcp://10.0.0.3:22000" }}
  }}
}}
"#,
            addr = h.addr
        ),
    );
    tf.ok(&["init"]);
    let v = tf.run(&["validate"]);
    assert_ne!(v.code(), 0);
    let e = &v.stderr;
    for want in [
        "Invalid member name",
        "Invalid site URL",
        "Unusable password",
        "Invalid WordPress salts",
        "Out of range",
        "Invalid quantity",
        "Too few members",
        "Member missing from members",
        "Invalid address",
        "Plain HTTP refused",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    // each points at its expression in the file
    assert!(
        e.contains(r#"member                = "US_East""#)
            && e.contains(r#"pd_storage_size       = "10 GB""#),
        "{e}"
    );
    assert!(!e.contains("rpc error"));
    }
}

geowp_tests::for_each_terraform! {
    fn plans_without_contacting_a_cluster_created_in_the_same_apply(terraform) {
    // the cluster's address is unknown at plan time (it comes from another resource)
    let tf = Tf::with(terraform, &[
        MirroredProvider::geowp(),
        MirroredProvider::new(
            "geowp/tfcheck",
            "0.1.0",
            env!("CARGO_BIN_EXE_terraform-provider-tfcheck").into(),
        ),
    ]);
    let store = tf.root.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    tf.write(
        "main.tf",
        &format!(
            r#"terraform {{
  required_providers {{
    geowp   = {{ source = "geowp/geowp" }}
    tfcheck = {{ source = "geowp/tfcheck" }}
  }}
}}

resource "tfcheck_thing" "cluster" {{
  dir  = "{store}"
  name = "cluster"
}}

resource "geowp_site" "s" {{
  name = "blog"
}}

resource "geowp_cluster_stack" "r" {{
  cluster {{
    host  = "https://${{tfcheck_thing.cluster.etag}}.invalid"
    token = tfcheck_thing.cluster.etag
  }}
  member                = "us-east"
  site_name             = geowp_site.s.name
  site_url              = "https://blog.example.com"
  tidb_root_password    = geowp_site.s.tidb_root_password
  wordpress_db_password = geowp_site.s.wordpress_db_password
  wordpress_salts       = geowp_site.s.wordpress_salts
  tls_ca_certificate    = geowp_site.s.tls_ca_certificate
  tls_ca_private_key    = geowp_site.s.tls_ca_private_key
  peer_source_ranges    = ["10.0.0.0/8"]
  members = {{
    "us-east"  = {{ pd_client_url = "https://10.0.0.1:2379", pd_peer_url = "https://10.0.0.1:2380", tikv_address = "10.0.0.2:20160", syncthing_address = "tcp://10.0.0.3:22000" }}
    "eu-west"  = {{ pd_client_url = "https://10.1.0.1:2379", pd_peer_url = "https://10.1.0.1:2380", tikv_address = "10.1.0.2:20160", syncthing_address = "tcp://10.1.0.3:22000" }}
    "ap-south" = {{ pd_client_url = "https://10.2.0.1:2379", pd_peer_url = "https://10.2.0.1:2380", tikv_address = "10.2.0.2:20160", syncthing_address = "tcp://10.2.0.3:22000" }}
  }}
}}
"#,
            store = store.display()
        ),
    );
    tf.ok(&["init"]);
    let p = tf.run(&["plan"]);
    assert!(p.status.success(), "{}", p.all());
    assert!(p.stdout.contains("Plan: 3 to add"), "{}", p.stdout);
    assert!(
        p.stdout.contains(r#""StatefulSet/pd""#) && p.stdout.contains(r#"= "in sync""#),
        "the objects are listed at plan:\n{}",
        p.stdout
    );
    }
}

/// Each resource's values in state, by address.
fn state_values(tf: &Tf) -> std::collections::BTreeMap<String, serde_json::Value> {
    let st: serde_json::Value = serde_json::from_str(&tf.ok(&["show", "-json"])).unwrap();
    st["values"]["root_module"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap().to_string(),
                r["values"].clone(),
            )
        })
        .collect()
}

geowp_tests::for_each_terraform! {
    fn a_small_change_plans_as_a_small_diff_and_refresh_only_finds_nothing(terraform) {
    let r = Regions::start(&NAMES, fast());
    let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
    tf.write("main.tf", &direct_config(&r, ""));
    tf.ok(&["init"]);
    tf.ok(&["apply", "-auto-approve"]);
    // Right after an apply a refresh finds nothing: no drift, the same
    // values. (Terraform's -detailed-exitcode can still say 2 here: it
    // compares each instance's sensitive paths as an ordered list, which it
    // builds in map order; see README, Limits.)
    let before = state_values(&tf);
    tf.ok(&["plan", "-refresh-only", "-out=refresh.plan"]);
    let plan: serde_json::Value = serde_json::from_str(&tf.ok(&["show", "-json", "refresh.plan"])).unwrap();
    assert!(
        plan["resource_drift"].as_array().is_none_or(|d| d.is_empty()),
        "refresh right after apply found drift: {}",
        plan["resource_drift"]
    );
    let refreshed: std::collections::BTreeMap<String, serde_json::Value> = plan["prior_state"]["values"]["root_module"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["address"].as_str().unwrap().to_string(), r["values"].clone()))
        .collect();
    assert_eq!(refreshed, before, "a refresh right after apply changed values");
    // one attribute of one stack of three
    let cfg = r.stacks_config(&|i| if i == 0 { "  wordpress_replicas = 3".into() } else { String::new() });
    tf.write("main.tf", &cfg);
    let p = tf.ok(&["plan"]);
    let lines = p.lines().count();
    eprintln!("{lines} lines:\n{p}");
    assert!(p.contains("Plan: 0 to add, 1 to change, 0 to destroy"), "{p}");
    assert!(p.contains("~ wordpress_replicas"), "{p}");
    assert!(!p.contains("known after apply"), "nothing here is unknown until apply:\n{p}");
    assert!(lines <= 40, "{lines} lines of plan for one attribute:\n{p}");
    }
}

geowp_tests::for_each_terraform! {
    /// A documented Terraform 1.0 limit: a nested-attribute map that is
    /// unknown as a whole at plan (its keys come from another resource)
    /// crashes Terraform 1.0 in its own plan check, after the provider has
    /// answered; later versions plan it. Keys known at plan (a `for_each`
    /// over the clusters, as the module does) avoid it.
    fn a_wholly_unknown_nested_map_is_a_terraform_1_0_limit(terraform) {
        let tf = Tf::with(terraform, &[
            MirroredProvider::geowp(),
            MirroredProvider::new("geowp/tfcheck", "0.1.0", env!("CARGO_BIN_EXE_terraform-provider-tfcheck").into()),
        ]);
        let store = tf.root.path().join("store");
        std::fs::create_dir_all(&store).unwrap();
        tf.write("main.tf", &format!(r#"terraform {{
  required_providers {{
    geowp   = {{ source = "geowp/geowp" }}
    tfcheck = {{ source = "geowp/tfcheck" }}
  }}
}}
resource "tfcheck_thing" "ids" {{
  dir  = "{store}"
  name = "ids"
}}
resource "geowp_sync_group" "g" {{
  members = {{ for k in split(",", tfcheck_thing.ids.etag) : k => {{
    device_id = "AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA"
    address   = "tcp://10.0.0.1:22000"
    cluster   = {{ host = "https://10.0.0.1", token = "t" }}
  }} }}
}}
"#, store = store.display()));
        tf.ok(&["init"]);
        let p = tf.run(&["plan"]);
        if terraform.is_1_0() {
            assert!(p.all().contains("panic: value is not known") && p.all().contains("assertPlannedObjectValid"),
                "Terraform 1.0 no longer crashes here: update README's limits\n{}", p.all());
        } else {
            assert!(p.status.success(), "{}", p.all());
            assert!(p.stdout.contains("members                 = (known after apply)"), "{}", p.stdout);
        }
    }
}

geowp_tests::for_each_terraform! {
    /// The inventory keeps uids from state in plans. An object deleted
    /// behind Terraform's back and applied without a refresh comes back
    /// with a new uid: Terraform says the result is inconsistent, the new
    /// state is saved, and the next plan is clean.
    fn an_object_recreated_without_refresh_leaves_converged_state(terraform) {
        let r = Regions::start(&NAMES, fast());
        let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
        tf.write("main.tf", &direct_config(&r, ""));
        tf.ok(&["init"]);
        tf.ok(&["apply", "-auto-approve"]);
        let o = r.kubectl(0, &["-n", "geowp", "delete", "configmap", "pd-config"]);
        assert!(o.status.success());
        // a change that makes the stack apply, planned on stale state
        let cfg = r.stacks_config(&|i| if i == 0 { "  wordpress_replicas = 3".into() } else { String::new() });
        tf.write("main.tf", &cfg);
        let a = tf.run(&["apply", "-auto-approve", "-refresh=false"]);
        let back = r.handle(0).object("v1", "ConfigMap", "geowp", "pd-config");
        assert!(back.is_some(), "the deleted object was not re-created:\n{}", a.all());
        assert_ne!(a.code(), 0);
        assert!(a.stderr.contains("inconsistent result after apply"), "{}", a.stderr);
        let uid = back.unwrap()["metadata"]["uid"].as_str().unwrap().to_string();
        let st = tf.ok(&["state", "show", "-no-color", "geowp_cluster_stack.us-east"]);
        assert!(st.contains(&uid), "state does not hold the new uid {uid}:\n{st}");
        let p = tf.run(&["plan", "-detailed-exitcode"]);
        assert_eq!(p.code(), 0, "{}", p.all());
    }
}

geowp_tests::for_each_terraform! {
    /// Destroy deletes what the stack applied by uid: an object someone
    /// deleted and made anew under the same name is not geowp's, and stays.
    fn destroy_leaves_an_object_made_anew_by_someone_else(terraform) {
        let r = Regions::start(&NAMES, fast());
        let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
        tf.write("main.tf", &direct_config(&r, ""));
        tf.ok(&["init"]);
        tf.ok(&["apply", "-auto-approve"]);
        let sc = "geowp-geowp-nfs";
        let o = r.kubectl(0, &["delete", "storageclass", sc]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let theirs = format!("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: {sc}\nprovisioner: example.com/theirs\n");
        let path = r.dir.path().join("theirs.yaml");
        std::fs::write(&path, theirs).unwrap();
        let o = r.kubectl(0, &["apply", "--server-side", "--field-manager=someone-else", "-f", path.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let d = tf.run(&["destroy", "-auto-approve", "-refresh=false"]);
        assert!(d.status.success(), "{}", d.all());
        assert!(d.all().contains("Left an object alone") && d.all().contains(&format!("StorageClass/{sc}")), "{}", d.all());
        let left = r.handle(0).object("storage.k8s.io/v1", "StorageClass", "", sc).expect("their StorageClass was deleted");
        assert_eq!(left["provisioner"], "example.com/theirs");
        assert!(r.handle(1).object("storage.k8s.io/v1", "StorageClass", "", sc).is_none(), "region 1's own class stayed");
    }
}

geowp_tests::for_each_terraform! {
    /// A region certificate within 30 days of expiry: the plan says it is
    /// reissued and why, the apply issues a new one (a year, same names,
    /// same CA), and the next plan is empty.
    fn a_certificate_near_expiry_is_reissued_and_the_plan_says_so(terraform) {
        use base64::Engine;
        use geowp_stack::pki;
        let b64 = base64::engine::general_purpose::STANDARD;
        let r = Regions::start(&NAMES, fast());
        let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
        tf.write("main.tf", &direct_config(&r, ""));
        tf.ok(&["init"]);
        tf.ok(&["apply", "-auto-approve"]);
        let site = &state_values(&tf)["geowp_site.s"];
        let ca = pki::Pair {
            cert_pem: site["tls_ca_certificate"].as_str().unwrap().to_string(),
            key_pem: site["tls_ca_private_key"].as_str().unwrap().to_string(),
        };
        let cert_of = |r: &Regions| {
            let s = r.handle(0).object("v1", "Secret", "geowp", "tidb-tls").unwrap();
            let pem = b64.decode(s["data"]["tls.crt"].as_str().unwrap()).unwrap();
            pki::facts(&String::from_utf8(pem).unwrap()).unwrap()
        };
        let first = cert_of(&r);
        // the same names, ten days left, signed by the site CA
        let names = pki::Names {
            common_name: first.common_name.clone(),
            dns: first.names.iter().filter(|n| n.parse::<std::net::IpAddr>().is_err()).cloned().collect(),
            ips: first.names.iter().filter_map(|n| n.parse().ok()).collect(),
        };
        let short = pki::issue_for_days(&ca, &names, 10).unwrap();
        let patch = serde_json::json!({"data": {
            "tls.crt": b64.encode(&short.cert_pem),
            "tls.key": b64.encode(&short.key_pem),
        }});
        let o = r.kubectl(0, &["-n", "geowp", "patch", "secret", "tidb-tls", "-p", &patch.to_string()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

        let p = tf.run(&["plan", "-no-color"]);
        assert_eq!(p.code(), 0, "{}", p.all());
        let all = p.all();
        assert!(all.contains("Certificate reissued"), "{all}");
        assert!(all.contains("member us-east") && all.contains("days left"), "{all}");
        assert!(all.contains("without a restart"), "{all}");
        assert!(!all.contains("member eu-west"), "only us-east's certificate is near expiry:\n{all}");

        tf.ok(&["apply", "-auto-approve"]);
        let renewed = cert_of(&r);
        let days = (renewed.not_after - time_now()) / 86400;
        assert!(days >= pki::CERT_DAYS - 1, "{days} days");
        assert_eq!(renewed.names, first.names);
        let s = r.handle(0).object("v1", "Secret", "geowp", "tidb-tls").unwrap();
        let pem = String::from_utf8(b64.decode(s["data"]["tls.crt"].as_str().unwrap()).unwrap()).unwrap();
        assert!(pki::signed_by(&pem, &ca.cert_pem));
        let p = tf.run(&["plan", "-detailed-exitcode"]);
        assert_eq!(p.code(), 0, "{}", p.all());
    }
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A credential plugin as `aws eks get-token` is one: it prints an
/// ExecCredential with the token (here from its env) and an expiry (here
/// already past, so the token is renewed at once), counts its runs, and
/// refuses to run interactively (the provider has no terminal).
fn plugin(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(format!("plugin-{name}"));
    let runs = dir.join(format!("runs-{name}"));
    std::fs::write(
        &p,
        format!(
            r#"#!/bin/sh
case "$KUBERNETES_EXEC_INFO" in
  *'"interactive":false'*) ;;
  *) echo "run interactively: $KUBERNETES_EXEC_INFO" >&2; exit 1 ;;
esac
echo run >> {runs}
printf '{{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{{"token":"%s","expirationTimestamp":"2000-01-01T00:00:00Z"}}}}' "$GEOWP_TOKEN"
"#,
            runs = runs.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn runs(dir: &std::path::Path, name: &str) -> usize {
    std::fs::read_to_string(dir.join(format!("runs-{name}")))
        .unwrap_or_default()
        .lines()
        .count()
}

geowp_tests::for_each_terraform! {
    fn a_credential_plugin_gives_the_token_and_runs_again_once_it_expires(terraform) {
    let r = Regions::start(&NAMES, fast());
    let dir = tempfile::Builder::new().prefix("geowp-exec-").tempdir().unwrap();
    let with_exec = |token_of: &dyn Fn(usize) -> String| {
        let mut cfg = r.stacks_config(&|_| String::new());
        for (i, n) in NAMES.iter().enumerate() {
            let h = r.handle(i);
            let token = h.token();
            if i == 2 {
                // the last region through a kubeconfig of its own whose exec
                // user does not say interactiveMode: the provider makes it
                // non-interactive all the same
                let kc = serde_json::json!({"apiVersion": "v1", "kind": "Config",
                    "clusters": [{"name": "c", "cluster": {"server": h.url(),
                        "certificate-authority-data": geowp_common::b64::encode(&h.ca_pem)}}],
                    "users": [{"name": "u", "user": {"exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": plugin(dir.path(), n).display().to_string(),
                        "env": [{"name": "GEOWP_TOKEN", "value": token_of(i)}]}}}],
                    "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                    "current-context": "c"});
                let file = dir.path().join(format!("kubeconfig-{n}-{}", token_of(i)));
                std::fs::write(&file, kc.to_string()).unwrap();
                let block = format!(
                    "    host = \"{}\"\n    cluster_ca_certificate = <<-EOT\n{}    EOT\n    token = \"{token}\"\n",
                    h.url(),
                    h.ca_pem
                );
                assert!(cfg.contains(&block), "no cluster block of {n} in {cfg}");
                cfg = cfg.replacen(&block, &format!("    kubeconfig = file(\"{}\")\n", file.display()), 1);
                continue;
            }
            let line = format!("    token = \"{token}\"\n");
            assert!(cfg.contains(&line));
            cfg = cfg.replacen(
                &line,
                &format!(
                    "    exec_command = \"{}\"\n    exec_args = [\"--region\", \"{n}\"]\n    exec_env = {{ GEOWP_TOKEN = \"{}\" }}\n",
                    plugin(dir.path(), n).display(),
                    token_of(i)
                ),
                1,
            );
        }
        cfg
    };
    let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
    tf.write("main.tf", &with_exec(&|i| r.handle(i).token().to_string()));
    tf.ok(&["init"]);
    let out = tf.ok(&["apply", "-auto-approve"]);
    assert!(out.contains("Apply complete! Resources: 4 added"), "{out}");
    // the token expired as soon as it came: each region's plugin ran again
    // for the requests after the first
    for n in NAMES {
        assert!(runs(dir.path(), n) >= 2, "{n}: the plugin ran {} times", runs(dir.path(), n));
    }
    let p = tf.ok(&["plan", "-detailed-exitcode"]);
    assert!(p.contains("No changes"), "{p}");

    // import through a kubeconfig context whose user is a credential plugin
    // (what `aws eks update-kubeconfig` writes): the plugin comes along
    tf.ok(&["state", "rm", "geowp_cluster_stack.us-east"]);
    let before = runs(dir.path(), "us-east");
    let h = r.handle(0);
    let kc = serde_json::json!({"apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": h.url(),
            "certificate-authority-data": geowp_common::b64::encode(&h.ca_pem)}}],
        "users": [{"name": "u", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": plugin(dir.path(), "us-east").display().to_string(),
            "args": ["--region", "us-east"],
            "env": [{"name": "GEOWP_TOKEN", "value": h.token()}]}}}],
        "contexts": [{"name": "us-east", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "us-east"});
    let kc_file = dir.path().join("import-kubeconfig");
    std::fs::write(&kc_file, kc.to_string()).unwrap();
    let imp = tf.run_env(
        &["import", "geowp_cluster_stack.us-east", "us-east/geowp/us-east"],
        &[("KUBECONFIG", kc_file.to_str().unwrap())],
    );
    assert!(imp.status.success(), "{}", imp.all());
    assert!(runs(dir.path(), "us-east") > before, "import did not run the plugin");
    let shown = tf.ok(&["state", "show", "geowp_cluster_stack.us-east"]);
    let flat = shown.split_whitespace().collect::<Vec<_>>().join(" ");
    let want = format!("exec_command = \"{}\"", plugin(dir.path(), "us-east").display());
    assert!(flat.contains(&want), "{shown}");
    tf.ok(&["apply", "-auto-approve"]);

    // a plugin whose token the API server refuses (the refresh still uses
    // the state's good settings; the apply the new ones): the error names
    // the member and says the credentials were refused
    tf.write("main.tf", &with_exec(&|i| if i == 1 { "wrong-token".into() } else { r.handle(i).token().to_string() }));
    let bad = tf.run(&["apply", "-auto-approve"]);
    assert_ne!(bad.code(), 0, "{}", bad.all());
    let all = bad.all();
    for want in ["member eu-west", "401 Unauthorized", "Check the credentials"] {
        assert!(all.contains(want), "missing {want:?}: {all}");
    }
    }
}

geowp_tests::for_each_terraform! {
    /// What can change in place does, under the real API server's rules
    /// (fakeapi/src/rules.rs): quantities written any way plan clean after
    /// the server returns them canonical; a memory request above a default
    /// limit raises the limit; the wp-content claim grows (its class allows
    /// expansion) and a shrink is refused at plan; image, replicas, TiDB
    /// version, service type and its annotations change; each apply is
    /// followed by a plan with no changes.
    fn in_place_changes_converge_under_the_real_servers_rules(terraform) {
    let r = Regions::start(
        &NAMES,
        Options {
            pd: Some(std::sync::Arc::new(fakeapi::pd::FakePd::new())),
            ..fast()
        },
    );
    let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
    let step = |extra: &str| {
        let extra = extra.to_string();
        tf.write("main.tf", &r.stacks_config(&|_| extra.clone()));
    };
    let converges = |what: &str| {
        let a = tf.run(&["apply", "-auto-approve"]);
        assert!(a.status.success(), "{what}: apply failed:\n{}", a.all());
        let p = tf.ok(&["plan"]);
        assert!(p.contains("No changes"), "{what}: the next plan is not empty:\n{p}");
    };
    let get = |i: usize, what: &[&str]| {
        let mut args = vec!["-n", "geowp", "get"];
        args.extend_from_slice(what);
        let o = r.kubectl(i, &args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // non-canonical quantities, an older TiDB
    step(r#"  tidb_version = "v8.5.2"
  wp_content_size = "10240Mi"
  resources = { wordpress = { cpu = "0.5", memory = "1024Mi" }, syncthing = { memory = "0.25Gi" } }"#);
    tf.ok(&["init"]);
    converges("first apply");
    assert_eq!(
        get(0, &["deploy", "wordpress", "-o", "jsonpath={.spec.template.spec.containers[0].resources.requests}"]),
        r#"{"cpu":"500m","memory":"1Gi"}"#
    );
    assert_eq!(get(0, &["pvc", "wp-content", "-o", "jsonpath={.spec.resources.requests.storage}"]), "10Gi");
    // grow the claim, a request above WordPress's default 1Gi limit, more
    // replicas, another image, the current TiDB, source ranges on the
    // load balancer
    step(r#"  wp_content_size = "20Gi"
  resources = { wordpress = { cpu = "0.5", memory = "1536Mi" } }
  wordpress_replicas = 3
  wordpress_image = "wordpress:6.7.2-php8.3-apache"
  wordpress_service_annotations = { "service.beta.kubernetes.io/load-balancer-source-ranges" = "10.0.0.0/8" }"#);
    converges("second apply");
    for i in 0..NAMES.len() {
        assert_eq!(get(i, &["pvc", "wp-content", "-o", "jsonpath={.spec.resources.requests.storage}"]), "20Gi");
        assert_eq!(
            get(i, &["deploy", "wordpress", "-o", "jsonpath={.spec.template.spec.containers[0].resources.limits.memory}"]),
            "1536Mi"
        );
        assert_eq!(get(i, &["deploy", "wordpress", "-o", "jsonpath={.spec.replicas}"]), "3");
        assert!(get(i, &["sts", "tidb", "-o", "jsonpath={.spec.template.spec.containers[0].image}"])
            .ends_with(&format!(":{DEFAULT_TIDB_VERSION}")));
    }
    // a shrink is refused at plan, naming the attribute; nothing is applied
    step(r#"  wp_content_size = "15Gi"
  resources = { wordpress = { cpu = "0.5", memory = "1536Mi" } }
  wordpress_replicas = 3
  wordpress_image = "wordpress:6.7.2-php8.3-apache""#);
    let p = tf.run(&["plan"]);
    assert_ne!(p.code(), 0);
    assert!(p.stderr.contains("Volume cannot shrink") && p.stderr.contains("wp_content_size"), "{}", p.stderr);
    // another service type, without the load balancer's annotation
    step(r#"  wp_content_size = "20Gi"
  resources = { wordpress = { cpu = "0.5", memory = "1536Mi" } }
  wordpress_replicas = 3
  wordpress_image = "wordpress:6.7.2-php8.3-apache"
  wordpress_service_type = "NodePort""#);
    converges("service type change");
    assert_eq!(get(1, &["svc", "wordpress", "-o", "jsonpath={.spec.type}"]), "NodePort");
    // the site renamed: its label is in the StatefulSets' claim templates,
    // which the API server never lets change; each is made again, its pods
    // orphaned and adopted
    let uid = |i: usize| get(i, &["sts", "tikv", "-o", "jsonpath={.metadata.uid}"]);
    let before: Vec<String> = (0..NAMES.len()).map(uid).collect();
    let renamed = r
        .stacks_config(&|_| {
            "  wp_content_size = \"20Gi\"\n  resources = { wordpress = { cpu = \"0.5\", memory = \"1536Mi\" } }\n  wordpress_replicas = 3\n  wordpress_image = \"wordpress:6.7.2-php8.3-apache\"\n  wordpress_service_type = \"NodePort\"".into()
        })
        .replace("site_name = geowp_site.s.name", "site_name = \"journal\"");
    tf.write("main.tf", &renamed);
    converges("site rename");
    for (i, old) in before.iter().enumerate() {
        assert_ne!(&uid(i), old, "the tikv StatefulSet was not made again");
        let label = get(i, &["sts", "tikv", "-o", "jsonpath={.spec.volumeClaimTemplates[0].metadata.labels}"]);
        assert!(label.contains("journal"), "{label}");
    }
    }
}

geowp_tests::for_each_terraform! {
    /// A bad image, then a good one: the pod made from the bad one is never
    /// Ready, and with OrderedReady the StatefulSet controller never
    /// replaces it (the fake keeps it, as kubernetes#67250 describes); the
    /// next apply with a good image deletes it, the controller makes it from
    /// the new template, and the stack converges with no manual step.
    fn a_stuck_rollout_is_repaired_by_the_next_apply(terraform) {
    const BAD: &str = "registry.k8s.io/sig-storage/nfs-provisioner:v0.0.0-does-not-exist";
    let r = Regions::start(
        &NAMES,
        Options {
            unpullable: vec![BAD.to_string()],
            ..fast()
        },
    );
    let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
    let timeouts = "  timeouts {\n    update = \"20s\"\n  }\n";
    tf.write("main.tf", &direct_config(&r, timeouts));
    tf.ok(&["init"]);
    tf.ok(&["apply", "-auto-approve"]);
    let pod = |what: &str| {
        let o = r.kubectl(0, &["-n", "geowp", "get", "pod", "nfs-0", "-o", &format!("jsonpath={what}")]);
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let first = pod("{.metadata.uid}");
    assert!(!first.is_empty());
    // the bad image in one region: it times out, naming the StatefulSet
    let bad = r.stacks_config(&|i| {
        if i == 0 {
            format!("{timeouts}  nfs_provisioner_image = \"{BAD}\"")
        } else {
            timeouts.to_string()
        }
    });
    tf.write("main.tf", &bad);
    let a = tf.run(&["apply", "-auto-approve"]);
    assert_ne!(a.code(), 0);
    assert!(a.stderr.contains("StatefulSet/nfs"), "{}", a.stderr);
    assert_eq!(
        pod("{.status.containerStatuses[0].state.waiting.reason}"),
        "ImagePullBackOff"
    );
    let stuck = pod("{.metadata.uid}");
    // the good image again: the stuck pod is replaced and the stack converges
    tf.write("main.tf", &direct_config(&r, timeouts));
    let a = tf.run(&["apply", "-auto-approve"]);
    assert!(a.status.success(), "{}", a.all());
    assert_ne!(pod("{.metadata.uid}"), stuck, "the stuck pod was not replaced");
    let sts = r.kubectl(0, &["-n", "geowp", "get", "sts", "nfs", "-o", "jsonpath={.status.updateRevision}"]);
    assert_eq!(
        pod("{.metadata.labels.controller-revision-hash}"),
        String::from_utf8_lossy(&sts.stdout)
    );
    assert!(tf.ok(&["plan"]).contains("No changes"));
    }
}

geowp_tests::for_each_terraform! {
    /// wp-content on a ReadWriteMany class the cluster already has (EFS,
    /// Azure Files, Filestore): no NFS server of ours, WordPress and
    /// SyncThing on the one claim, SyncThing's config on a claim of its
    /// own, the group rescanning every minute (the module's choice), and a
    /// second plan with nothing to do.
    fn wp_content_on_the_clusters_own_read_write_many_class(terraform) {
        let r = Regions::start(&NAMES, fast());
        let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
        tf.write("main.tf", &module_config(&r, "  wp_content_storage_class = \"efs-sc\"\n"));
        tf.ok(&["init"]);
        tf.ok(&["apply", "-auto-approve"]);
        for i in 0..NAMES.len() {
            let h = r.handle(i);
            assert!(h.object("apps/v1", "StatefulSet", "geowp", "nfs").is_none(), "an NFS server runs");
            assert!(h.object("storage.k8s.io/v1", "StorageClass", "", "geowp-geowp-nfs").is_none());
            assert!(h.object("networking.k8s.io/v1", "NetworkPolicy", "geowp", "nfs").is_none());
            let claim = h.object("v1", "PersistentVolumeClaim", "geowp", "wp-content").unwrap();
            assert_eq!(claim["spec"]["storageClassName"], "efs-sc");
            assert_eq!(claim["spec"]["accessModes"][0], "ReadWriteMany");
            let config = h.object("v1", "PersistentVolumeClaim", "geowp", "syncthing-config").unwrap();
            assert_eq!(config["spec"]["accessModes"][0], "ReadWriteOnce");
            let st = h.object("apps/v1", "Deployment", "geowp", "syncthing").unwrap();
            let pod = &st["spec"]["template"]["spec"];
            assert!(pod["affinity"].is_null(), "SyncThing is tied to an NFS pod that does not exist");
            let claims: Vec<&str> = pod["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
                .collect();
            assert_eq!(claims, ["syncthing-config", "wp-content"]);
            let group = h.object("v1", "Secret", "geowp", "syncthing-group").unwrap();
            let xml = geowp_common::b64::decode(group["data"]["config.xml"].as_str().unwrap()).unwrap();
            let xml = String::from_utf8(xml).unwrap();
            assert!(xml.contains("rescanIntervalS=\"60\""), "the group does not rescan every minute");
        }
        let p = tf.run(&["plan", "-detailed-exitcode"]);
        assert_eq!(p.code(), 0, "{}", p.all());
    }
}

geowp_tests::for_each_terraform! {
    fn a_stack_applied_by_the_previous_release_imports_cleanly(terraform) {
    let r = Regions::start(&NAMES, fast());
    let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
    tf.write("main.tf", &module_config(&r, ""));
    tf.ok(&["init"]);
    tf.ok(&["apply", "-auto-approve"]);
    // the record as releases before layouts were numbered wrote it (layout
    // 1: the spec's serde JSON, without the attributes added since), on the
    // Namespace of a region whose state is then lost
    let live = r.kubectl(
        1,
        &["get", "namespace", "geowp", "-o", "jsonpath={.metadata.annotations.geowp\\.dev/stack-config}"],
    );
    let record: serde_json::Value =
        serde_json::from_slice(&live.stdout).expect("the stack records its configuration as JSON");
    assert_eq!(record["layout"], 2, "{record}");
    let mut old = record["config"].clone();
    for newer in [
        "tidb_tls", "resources", "founders", "primary_member", "backup_repository",
        "backup_interval_hours", "page_cache_ttl", "stale_read_seconds",
        "wp_content_storage_class", "wordpress_file_mods", "pd_peer_relay_image",
    ] {
        old.as_object_mut().unwrap().remove(newer);
    }
    let set = r.kubectl(
        1,
        &[
            "annotate", "--overwrite", "namespace", "geowp",
            &format!("geowp.dev/stack-config={old}"),
        ],
    );
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let address = "module.site.geowp_cluster_stack.region[\"eu-west\"]";
    tf.ok(&["state", "rm", address]);
    let imp = tf.run_env(
        &["import", address, "eu-west/geowp/eu-west"],
        &[("KUBECONFIG", r.kubeconfig(1).to_str().unwrap())],
    );
    assert!(imp.status.success(), "{}", imp.all());
    // the imported settings are the configuration's: the attributes the old
    // record lacks took their defaults, which the configuration also leaves
    // as they are, so nothing but the record itself is to be written again
    let shown = tf.ok(&["state", "show", address]);
    let line = |name: &str| {
        shown
            .lines()
            .map(str::trim)
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(String::from)
            .unwrap_or_default()
    };
    assert!(line("tidb_tls").ends_with("= true"), "{shown}");
    assert!(line("page_cache_ttl").ends_with("= 30"), "{shown}");
    tf.ok(&["apply", "-auto-approve"]);
    let p = tf.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(p.code(), 0, "plan after importing an old record is not empty:\n{}", p.all());
    let now = r.kubectl(
        1,
        &["get", "namespace", "geowp", "-o", "jsonpath={.metadata.annotations.geowp\\.dev/stack-config}"],
    );
    let now: serde_json::Value = serde_json::from_slice(&now.stdout).unwrap();
    assert_eq!(now["layout"], 2, "the next apply records the current layout");
    assert_eq!(now["config"], record["config"], "the record read back is the configuration");
    tf.ok(&["destroy", "-auto-approve"]);
    }
}

geowp_tests::for_each_terraform! {
    /// A PD rollout stuck on a version whose image never pulls: PD loses
    /// that region's member (its pod never starts), the apply stops naming
    /// it, and the next apply with a good version repairs it through the
    /// site's rolling order: this region's own down member does not hold
    /// its turn back (restarting what is already down takes nothing more
    /// away), the stuck pod is replaced, and PD has the member back.
    fn a_stuck_tidb_tier_rollout_is_repaired_by_the_next_apply(terraform) {
    const BAD: &str = "v8.5.99";
    let pd = std::sync::Arc::new(fakeapi::pd::FakePd::new());
    let r = Regions::start(
        &NAMES,
        Options {
            pd: Some(pd.clone()),
            unpullable: vec![format!("pingcap/pd:{BAD}")],
            ..fast()
        },
    );
    let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
    let timeouts = "  timeouts {\n    update = \"40s\"\n  }\n";
    tf.write("main.tf", &direct_config(&r, timeouts));
    tf.ok(&["init"]);
    tf.ok(&["apply", "-auto-approve"]);
    let pod_uid = || {
        let o = r.kubectl(0, &["-n", "geowp", "get", "pod", "pd-0", "-o", "jsonpath={.metadata.uid}"]);
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // the bad version in one region: its PD pod never starts
    let bad = r.stacks_config(&|i| {
        if i == 0 {
            format!("{timeouts}  tidb_version = \"{BAD}\"")
        } else {
            timeouts.to_string()
        }
    });
    tf.write("main.tf", &bad);
    let a = tf.run(&["apply", "-auto-approve"]);
    assert_ne!(a.code(), 0);
    assert!(a.stderr.contains("StatefulSet/pd of member us-east is not ready"), "{}", a.stderr);
    assert!(pd.log().iter().any(|l| l == "pd us-east: gone"), "{:?}", pd.log());
    let stuck = pod_uid();
    let waiting = r.kubectl(0, &["-n", "geowp", "get", "pod", "pd-0", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}"]);
    assert_eq!(String::from_utf8_lossy(&waiting.stdout), "ImagePullBackOff");
    // the good version again: its turn is not held back by its own down PD
    tf.write("main.tf", &direct_config(&r, timeouts));
    let a = tf.run(&["apply", "-auto-approve"]);
    assert!(a.status.success(), "{}", a.all());
    assert_ne!(pod_uid(), stuck, "the stuck pod was not replaced");
    let log = pd.log();
    let gone = log.iter().rposition(|l| l == "pd us-east: gone").unwrap();
    assert!(
        log[gone..].iter().any(|l| l == "pd us-east: started"),
        "PD does not have the member back: {log:?}"
    );
    assert!(tf.ok(&["plan"]).contains("No changes"));
    }
}
