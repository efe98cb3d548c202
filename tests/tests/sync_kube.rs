//! `geowp-helper sync exchange|status` in Kubernetes mode: against three
//! fake clusters where Terraform applied the geo-wordpress module (stacks
//! and sync group), the helper reports drift made behind Terraform's back,
//! repairs it through the merged kubeconfig, and what it writes is exactly
//! what `geowp_sync_group` writes: the next `terraform plan` is empty.

use std::process::{Command, Output};
use std::time::Duration;

use fakeapi::{Fault, FaultAction, Options};
use geowp_tests::regions::Regions;
use geowp_tests::{workspace_bin, MirroredProvider, Tf};

fn helper(args: &[&str]) -> (Option<i32>, String, String) {
    let o: Output = Command::new(workspace_bin("geowp-helper"))
        .args(args)
        .output()
        .expect("run geowp-helper");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

geowp_tests::for_each_terraform! {
    fn the_helper_repairs_a_group_through_the_kubernetes_api_as_terraform_would(terraform) {
    let names = ["us-east", "eu-west", "ap-south"];
    let r = Regions::start(
        &names,
        Options {
            ready_delay: Duration::from_millis(50),
            ..Default::default()
        },
    );
    let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
    tf.write("main.tf", &r.module_config("blog", ""));
    tf.ok(&["init"]);
    tf.ok(&["apply", "-auto-approve"]);

    let merged = r.dir.path().join("merged.yaml");
    let mut args = vec![
        "kubeconfig".to_string(),
        "merge".into(),
        "-o".into(),
        merged.display().to_string(),
    ];
    args.extend((0..3).map(|i| r.kubeconfig(i).display().to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = helper(&a);
    assert_eq!(code, Some(0), "{err}");
    let m = merged.display().to_string();

    // all in sync after Terraform's apply (every context of the file is a member)
    let (code, out, err) = helper(&["sync", "status", "--kubeconfig", &m]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(out.matches("in sync").count(), 3, "{out}");
    assert!(out.contains("kubectl port-forward"), "{out}");

    // drift behind Terraform's back: one group config deleted, one edited
    let o = r.kubectl(0, &["-n", "geowp", "delete", "secret", "syncthing-group"]);
    assert!(o.status.success());
    let o = r.kubectl(
        1,
        &[
            "-n",
            "geowp",
            "patch",
            "secret",
            "syncthing-group",
            "-p",
            r#"{"data":{"config.xml":"PGNvbmZpZ3VyYXRpb24vPg=="}}"#,
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (code, out, err) = helper(&["sync", "status", "--kubeconfig", &m]);
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(
        out.contains("missing: the group config was deleted"),
        "{out}"
    );
    assert!(out.contains("changed outside Terraform"), "{out}");
    assert!(err.contains("2 of 3 members are not in sync"), "{err}");
    assert_eq!(tf.run(&["plan", "-detailed-exitcode"]).code(), 2);

    // repair with the helper: named contexts, in any order
    let (code, out, err) = helper(&[
        "sync",
        "exchange",
        "--kubeconfig",
        &m,
        "--context",
        "ap-south",
        "--context",
        "us-east",
        "--context",
        "eu-west",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(out.matches("knows 2 peers").count(), 3, "{out}");
    // what it wrote is what the resource writes: nothing left to change
    let p = tf.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(p.code(), 0, "{}", p.all());
    let (code, out, err) = helper(&["sync", "status", "--kubeconfig", &m]);
    assert_eq!(code, Some(0), "{out}{err}");

    // import: forget the group and adopt it again from the clusters
    let before = tf.ok(&["state", "show", "module.site.geowp_sync_group.files"]);
    tf.ok(&["state", "rm", "module.site.geowp_sync_group.files"]);
    let bad = tf.run_env(
        &["import", "module.site.geowp_sync_group.files", "us-east"],
        &[("KUBECONFIG", &m)],
    );
    assert!(!bad.status.success());
    assert!(bad.all().contains("CONTEXT,CONTEXT"), "{}", bad.all());
    let imp = tf.run_env(
        &[
            "import",
            "module.site.geowp_sync_group.files",
            "us-east,eu-west,ap-south/geowp",
        ],
        &[("KUBECONFIG", &m)],
    );
    assert!(imp.status.success(), "{}", imp.all());
    let after = tf.ok(&["state", "show", "module.site.geowp_sync_group.files"]);
    assert_eq!(after.matches("= \"in sync\"").count(), 3, "{after}");
    assert_eq!(
        before.matches("device_id").count(),
        after.matches("device_id").count()
    );
    // the only plan after import is Terraform 1.0 recording which values are
    // sensitive (the cluster tokens); the group itself is unchanged
    let p = tf.run(&["plan", "-detailed-exitcode"]);
    let changed: Vec<&str> = p
        .stdout
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("~ ")
                || l.trim_start().starts_with("+ ")
                || l.trim_start().starts_with("- ")
        })
        .map(str::trim)
        .collect();
    assert!(
        changed
            .iter()
            .all(|l| l.starts_with("~ members") || l.starts_with("~ resource")),
        "plan after import changes more than sensitivity marks:\n{}",
        p.stdout
    );
    tf.ok(&["apply", "-auto-approve"]);
    assert_eq!(tf.run(&["plan", "-detailed-exitcode"]).code(), 0);

    // a fault halfway through an apply: a new rescan interval changes every
    // member's config and one cluster answers 500 to the group's write; the
    // error names the member, the failed member shows as pending in the next
    // plan, and the next apply converges
    tf.write(
        "main.tf",
        &r.module_config("blog", "").replace(
            "module \"site\" {",
            "module \"site\" {\n  sync_rescan_interval_seconds = 30\n",
        ),
    );
    r.handle(2).inject(Fault {
        method: Some("PATCH".into()),
        path_prefix: "/api/v1/namespaces/geowp/secrets/syncthing-group".into(),
        remaining: 1,
        action: FaultAction::Code(500),
    });
    let a = tf.run(&["apply", "-auto-approve"]);
    assert!(!a.status.success());
    assert!(
        a.all().contains("ap-south") && a.all().contains("500"),
        "{}",
        a.all()
    );
    let p = tf.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(
        p.code(),
        2,
        "the failed member must show as pending: {}",
        p.all()
    );
    tf.ok(&["apply", "-auto-approve"]);
    assert_eq!(tf.run(&["plan", "-detailed-exitcode"]).code(), 0);
    // status compares with the settings it is given, as the resource does
    let (code, out, err) = helper(&["sync", "status", "--kubeconfig", &m]);
    assert_eq!(code, Some(3), "{out}{err}");
    let (code, out, err) = helper(&[
        "sync",
        "status",
        "--kubeconfig",
        &m,
        "--rescan-interval",
        "30",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");

    // errors say what to fix, with the documented exit codes
    let (code, _, err) = helper(&[
        "sync",
        "exchange",
        "--kubeconfig",
        &m,
        "--context",
        "us-east",
        "--context",
        "nowhere",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("has no context \"nowhere\"") && err.contains("us-east"),
        "{err}"
    );
    let (code, _, err) = helper(&[
        "sync",
        "exchange",
        "--kubeconfig",
        &m,
        "--namespace",
        "elsewhere",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("holds no SyncThing identity") && err.contains("geowp_cluster_stack"),
        "{err}"
    );
    let (code, _, err) = helper(&[
        "sync",
        "exchange",
        "--kubeconfig",
        &m,
        "--context",
        "us-east",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("at least 2 members"), "{err}");
    tf.ok(&["destroy", "-auto-approve"]);
    }
}
