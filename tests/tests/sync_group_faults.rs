//! A sync group whose create fails for some members (a wrong CA, a wrong
//! token, a namespace with no stack) must not wedge state: the next plan,
//! a plan without refresh, a replacement and a destroy all work; what was
//! written is removed and nothing else is touched. A group that could write
//! nothing at all leaves no state. Each failing member's error names it.

use geowp_tests::regions::Regions;
use geowp_tests::{MirroredProvider, Tf};

const NAMES: [&str; 4] = ["r0", "r1", "r2", "r3"];

/// Four stacks, and a group whose members' settings `member_cluster` picks.
fn config(r: &Regions, member_cluster: &dyn Fn(usize) -> (String, &'static str)) -> String {
    let mut group = String::new();
    for (i, n) in NAMES.iter().enumerate() {
        let (cluster, ns) = member_cluster(i);
        group.push_str(&format!(
            "    {n} = {{\n      device_id = geowp_cluster_stack.region[\"{n}\"].syncthing_device_id\n      address   = \"tcp://10.{i}.0.3:22000\"\n      namespace = \"{ns}\"\n      cluster   = {cluster}\n    }}\n"
        ));
    }
    format!(
        "terraform {{\n  required_providers {{\n    geowp = {{ source = \"geowp/geowp\" }}\n  }}\n}}\n\n{}\nresource \"geowp_sync_group\" \"files\" {{\n  members = {{\n{group}  }}\n}}\n",
        r.stacks_for_each_hcl()
    )
}

fn good(n: &str) -> String {
    format!("{{ host = local.clusters[\"{n}\"].host, token = local.clusters[\"{n}\"].token, cluster_ca_certificate = local.clusters[\"{n}\"].cluster_ca_certificate }}")
}

geowp_tests::for_each_terraform! {
    fn a_group_that_failed_for_some_members_can_be_planned_replaced_and_destroyed(terraform) {
        let r = Regions::start(&NAMES, fakeapi::Options {
            ready_delay: std::time::Duration::from_millis(50),
            ..Default::default()
        });
        let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
        // r0 is fine; r1 has another cluster's CA; r2 a wrong token; r3 names a namespace with no stack
        let faulty = |i: usize| match i {
            1 => ("{ host = local.clusters[\"r1\"].host, token = local.clusters[\"r1\"].token, cluster_ca_certificate = local.clusters[\"r3\"].cluster_ca_certificate }".to_string(), "geowp"),
            2 => ("{ host = local.clusters[\"r2\"].host, token = \"not-the-token\", cluster_ca_certificate = local.clusters[\"r2\"].cluster_ca_certificate }".to_string(), "geowp"),
            3 => (good("r3"), "nostack"),
            _ => (good("r0"), "geowp"),
        };
        tf.write("main.tf", &config(&r, &faulty));
        tf.ok(&["init"]);
        let a = tf.run(&["apply", "-auto-approve"]);
        assert_ne!(a.code(), 0);
        let e = &a.stderr;
        assert!(e.contains("Untrusted API server certificate") && e.contains("member r1"), "{e}");
        assert!(e.contains("Not allowed") && e.contains("member r2"), "{e}");
        assert!(e.contains("Member not ready for the group") && e.contains("nostack"), "{e}");
        assert!(!e.contains("panic"), "{e}");
        let st = tf.ok(&["state", "list"]);
        assert!(st.contains("geowp_sync_group.files"), "what was written (r0) is in state:\n{st}");
        let group_secret = |i: usize| r.handle(i).object("v1", "Secret", "geowp", "syncthing-group").is_some();
        assert!(group_secret(0) && !group_secret(1) && !group_secret(2));

        // the tainted group plans, with and without refresh; nothing unreachable is contacted
        let p = tf.run(&["plan", "-detailed-exitcode"]);
        assert_eq!(p.code(), 2, "{}", p.all());
        assert!(p.stdout.contains("geowp_sync_group.files is tainted, so must be replaced"), "{}", p.stdout);
        let p = tf.run(&["plan", "-refresh=false"]);
        assert!(p.status.success(), "{}", p.all());

        // fixed settings: the replacement converges
        tf.write("main.tf", &config(&r, &|i| (good(NAMES[i]), "geowp")));
        tf.ok(&["apply", "-auto-approve"]);
        assert!((0..4).all(group_secret));
        assert_eq!(tf.run(&["plan", "-detailed-exitcode"]).code(), 0);

        // fail again, then destroy: only what was written goes
        tf.write("main.tf", &config(&r, &faulty));
        let a = tf.run(&["apply", "-auto-approve"]);
        assert_ne!(a.code(), 0);
        tf.ok(&["destroy", "-auto-approve"]);
        assert!((0..4).all(|i| !group_secret(i)));
        assert!(tf.leftover_processes().is_empty());
    }
}

geowp_tests::for_each_terraform! {
    fn a_group_that_could_write_nothing_leaves_no_state(terraform) {
        let r = Regions::start(&NAMES, fakeapi::Options {
            ready_delay: std::time::Duration::from_millis(50),
            ..Default::default()
        });
        let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
        tf.write("main.tf", &config(&r, &|i| (good(NAMES[i]), "nostack")));
        tf.ok(&["init"]);
        let a = tf.run(&["apply", "-auto-approve"]);
        assert_ne!(a.code(), 0);
        let st = tf.ok(&["state", "list"]);
        assert!(!st.contains("geowp_sync_group"), "a group that wrote nothing is in state:\n{st}");
        tf.ok(&["destroy", "-auto-approve"]);
    }
}
