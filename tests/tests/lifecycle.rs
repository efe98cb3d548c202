//! Regions come and go, through real Terraform (1.0.3), the real provider
//! and the examples' geo-wordpress module, over fake API servers that share
//! one fake PD (`fakeapi::pd`): PD and TiKV StatefulSets start only as a
//! real PD would let them (a late `--initial-cluster` is refused, a
//! duplicate `--join` too), and pd-ctl Jobs run against it. Simulated: the
//! clusters and PD (see `fakeapi::pd` for what it models); real: Terraform,
//! the provider, the module, the Jobs' commands as the provider wrote them.
//!
//! One scenario, in order: three founders; a fourth region joins; an
//! upgrade rolls one region at a time; a region goes down and comes back;
//! a region leaves; going below three is refused; a region is lost and
//! dropped; a member is replaced on a new cluster; `geowp-helper site
//! status` reads it all; the site is destroyed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fakeapi::pd::FakePd;
use fakeapi::server::{Entry, Journal, Observer};
use fakeapi::Options;
use geowp_tests::regions::Regions;
use geowp_tests::tidbcheck::{self, Tables};
use geowp_tests::{MirroredProvider, Terraform, Tf};

const READY: Duration = Duration::from_millis(150);
/// The founders' TiDB version; step 3 upgrades to the provider's default.
const OLD: &str = "  tidb_version = \"v8.5.2\"";
const TIER: [&str; 3] = ["pd", "tikv", "tidb"];

/// A PD, TiKV or TiDB StatefulSet's template changed: where in the journal,
/// and where that generation was first reported ready.
#[derive(Debug)]
struct Step {
    server: String,
    name: String,
    changed_at: usize,
    ready_at: Option<usize>,
}

/// The template changes in the journal from position `from` on, in order.
/// Ordering by journal position, not by clock: a server appends a write
/// while holding its store, so what a client did after seeing a write
/// comes later.
fn rolled(entries: &[Entry], from: usize) -> Vec<Step> {
    let mut hash: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut open: BTreeMap<(String, String), (usize, serde_json::Value)> = BTreeMap::new();
    let mut steps: Vec<Step> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let o = &e.object;
        let name = o["metadata"]["name"].as_str().unwrap_or("");
        if o["kind"] != "StatefulSet" || e.namespace != "geowp" || !TIER.contains(&name) {
            continue;
        }
        let key = (e.server.clone(), name.to_string());
        let h = o["metadata"]["annotations"]["geowp.dev/template-hash"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let prev = hash.insert(key.clone(), h.clone());
        if i >= from && prev.is_some_and(|p| p != h) {
            steps.push(Step {
                server: e.server.clone(),
                name: name.to_string(),
                changed_at: i,
                ready_at: None,
            });
            open.insert(
                key.clone(),
                (steps.len() - 1, o["metadata"]["generation"].clone()),
            );
        }
        let st = &o["status"];
        if let Some((at, gen)) = open.get(&key) {
            if st["observedGeneration"] == *gen
                && st["readyReplicas"] == o["spec"]["replicas"]
                && steps[*at].ready_at.is_none()
            {
                steps[*at].ready_at = Some(i);
            }
        }
    }
    steps
}

fn args_of(r: &Regions, i: usize, sts: &str) -> Vec<String> {
    let s = r
        .handle(i)
        .object("apps/v1", "StatefulSet", "geowp", sts)
        .expect("statefulset");
    s["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn template_hash(o: &Observer, name: &str) -> Option<String> {
    o.object("apps/v1", "StatefulSet", "geowp", name)
        .and_then(|s| {
            s["metadata"]["annotations"]["geowp.dev/template-hash"]
                .as_str()
                .map(String::from)
        })
}

fn templates(r: &Regions, i: usize) -> Vec<Option<String>> {
    let o = r.handle(i).observer();
    TIER.iter().map(|c| template_hash(&o, c)).collect()
}

/// `(member, region index)` pairs as the module's `clusters`.
fn config(r: &Regions, members: &[(&str, usize)], extra: &str) -> String {
    let m: Vec<(String, usize)> = members.iter().map(|(n, i)| (n.to_string(), *i)).collect();
    r.module_config_with("blog", &r.clusters_hcl_of(&m), extra)
}

#[test]
fn regions_join_roll_go_down_leave_get_lost_and_are_replaced() {
    let pd = Arc::new(FakePd::new());
    let journal = Arc::new(Journal::default());
    let mut r = Regions::start(
        &["us-east", "eu-west", "ap-south", "sa-east"],
        Options {
            ready_delay: READY,
            pd: Some(pd.clone()),
            journal: Some(journal.clone()),
            ..Default::default()
        },
    );
    let tf = Tf::with(&Terraform::pinned(), &[MirroredProvider::geowp()]);
    let founders = [("us-east", 0), ("eu-west", 1), ("ap-south", 2)];
    tf.write("main.tf", &config(&r, &founders, OLD));
    tf.ok(&["init"]);

    // 1. three founders bootstrap PD together
    eprintln!("step 1: three founders bootstrap PD together");
    tf.ok(&["apply", "-auto-approve"]);
    assert_eq!(pd.members(), ["ap-south", "eu-west", "us-east"]);
    for i in 0..3 {
        let a = args_of(&r, i, "pd");
        assert!(
            a.contains(&"--initial-cluster=ap-south=https://10.2.0.1:2380,eu-west=https://10.1.0.1:2380,us-east=https://10.0.0.1:2380".to_string()),
            "{a:?}"
        );
    }
    let st = tf.ok(&["state", "show", "module.site.geowp_site.this"]);
    assert!(
        st.contains("founders") && st.contains("https://10.1.0.1:2380"),
        "{st}"
    );

    // 2. a fourth region joins; the old regions' TiDB pods do not change
    eprintln!("step 2: a fourth region joins; the old regions' TiDB pods do not change");
    let four = [
        ("us-east", 0),
        ("eu-west", 1),
        ("ap-south", 2),
        ("sa-east", 3),
    ];
    tf.write("main.tf", &config(&r, &four, OLD));
    let plan = tf.ok(&["plan"]);
    assert!(
        plan.contains("Joining the site's TiDB cluster") || plan.contains("pd_join"),
        "{plan}"
    );
    let before: Vec<_> = (0..3).map(|i| templates(&r, i)).collect();
    tf.ok(&["apply", "-auto-approve"]);
    let a = args_of(&r, 3, "pd");
    assert!(
        !a.iter().any(|x| x.starts_with("--initial-cluster")),
        "{a:?}"
    );
    assert!(
        a.contains(
            &"--join=https://10.2.0.1:2379,https://10.1.0.1:2379,https://10.0.0.1:2379".to_string()
        ),
        "{a:?}"
    );
    assert_eq!(pd.members(), ["ap-south", "eu-west", "sa-east", "us-east"]);
    assert_eq!(pd.stores().len(), 4);
    let after: Vec<_> = (0..3).map(|i| templates(&r, i)).collect();
    assert_eq!(
        before, after,
        "adding a member changed an old region's PD, TiKV or TiDB template"
    );
    assert_eq!(
        tf.run(&["plan", "-detailed-exitcode"]).code(),
        0,
        "a second plan is empty"
    );

    // 3. an upgrade rolls: all PDs, then all TiKVs, then all TiDBs, one
    // region at a time, though two Terraform runs with their own state
    // (per-region state files) apply it at the same time
    eprintln!(
        "step 3: an upgrade from two runs at once rolls all PDs, then all TiKVs, then all TiDBs, one region at a time"
    );
    let from = journal.entries().len();
    // the provider's default version, newer than OLD
    tf.write("main.tf", &config(&r, &four, ""));
    for f in ["a.tfstate", "b.tfstate"] {
        std::fs::copy(tf.work.join("terraform.tfstate"), tf.work.join(f)).unwrap();
    }
    let run = |state: &str, members: &[&str]| {
        let mut args = vec![
            "apply".to_string(),
            "-auto-approve".into(),
            format!("-state={state}"),
        ];
        args.extend(
            members
                .iter()
                .map(|m| format!("-target=module.site.geowp_cluster_stack.region[\"{m}\"]")),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tf.run(&args)
    };
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(|| run("a.tfstate", &["us-east", "eu-west"]));
        let b = sc.spawn(|| run("b.tfstate", &["ap-south", "sa-east"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(
        a.status.success() && b.status.success(),
        "{}\n{}",
        a.all(),
        b.all()
    );
    let steps = rolled(&journal.entries(), from);
    let order: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        order,
        [["pd"; 4], ["tikv"; 4], ["tidb"; 4]].concat(),
        "{steps:#?}"
    );
    for w in steps.windows(2) {
        assert!(
            w[0].ready_at.is_some_and(|r| r < w[1].changed_at),
            "{} of {} changed before {} of {} was ready: {steps:#?}",
            w[1].name,
            w[1].server,
            w[0].name,
            w[0].server
        );
    }
    let mut who: Vec<&str> = steps.iter().map(|s| s.server.as_str()).collect();
    who.sort();
    who.dedup();
    assert_eq!(
        who,
        ["ap-south", "eu-west", "sa-east", "us-east"],
        "{steps:#?}"
    );
    // every claim withdrawn: PD's evict-leader scheduler is gone
    assert_eq!(
        pd.ctl(&[
            "scheduler".into(),
            "config".into(),
            "evict-leader-scheduler".into()
        ]),
        "[404] scheduler not found",
        "{:#?}",
        pd.log()
    );
    let log = pd.log();
    let evictions = log
        .iter()
        .filter(|l| l.contains("scheduler add evict-leader-scheduler"))
        .count();
    assert!(
        evictions >= 12,
        "a step went ahead without a claim: {log:#?}"
    );
    // the site's own state catches up: the clusters are already rolled
    let caught_up = journal.entries().len();
    tf.ok(&["apply", "-auto-approve"]);
    assert!(
        rolled(&journal.entries(), caught_up).is_empty(),
        "the catching-up apply changed a template"
    );
    assert!(
        log.iter().any(|l| l.contains("member leader transfer")),
        "the leader's PD restarted without a transfer: {log:#?}"
    );
    assert_eq!(tf.run(&["plan", "-detailed-exitcode"]).code(), 0);

    // 4. a region down: plan works with a warning naming it; apply reaches the others
    eprintln!(
        "step 4: a region down: plan works with a warning naming it; apply reaches the others"
    );
    r.stop(2);
    pd.set_down("ap-south", "10.2.0.2:20160", true);
    let p = tf.run(&["plan"]);
    assert_eq!(p.code(), 0, "{}", p.all());
    assert!(
        p.all().contains("Region unreachable") && p.all().contains("member ap-south"),
        "{}",
        p.all()
    );
    tf.write("main.tf", &config(&r, &four, "  wordpress_replicas = 3"));
    let a = tf.run(&["apply", "-auto-approve"]);
    assert_ne!(a.code(), 0);
    assert!(a.stderr.contains("ap-south"), "{}", a.stderr);
    for i in [0, 1, 3] {
        let d = r
            .handle(i)
            .object("apps/v1", "Deployment", "geowp", "wordpress")
            .unwrap();
        assert_eq!(
            d["spec"]["replicas"], 3,
            "region {i} was not applied while another was down"
        );
    }

    // 5. the region back: one apply converges, the next plan is empty
    eprintln!("step 5: the region back: one apply converges, the next plan is empty");
    r.restart(2);
    pd.set_down("ap-south", "10.2.0.2:20160", false);
    tf.ok(&["apply", "-auto-approve"]);
    assert_eq!(tf.run(&["plan", "-detailed-exitcode"]).code(), 0);
    let extra = "  wordpress_replicas = 3";

    // 6. a region leaves: removed from TiDB by a survivor before its objects go
    eprintln!("step 6: a region leaves: removed from TiDB by a survivor before its objects go");
    let from = journal.entries().len();
    tf.write("main.tf", &config(&r, &founders, extra));
    let plan = tf.ok(&["plan"]);
    assert!(
        plan.contains("Member leaves TiDB") && plan.contains("member sa-east leaves"),
        "{plan}"
    );
    r.handle(2).reset_counts();
    let applied = tf.ok(&["apply", "-auto-approve"]);
    // in journal order: the pd-ctl Job pod that deleted the member (its
    // command ran against PD as the pod was made), then sa-east's
    // namespace deletion
    let entries = journal.entries();
    let at = |f: &dyn Fn(&Entry) -> bool| (from..entries.len()).find(|i| f(&entries[*i]));
    let deleted = at(&|e| {
        e.object["kind"] == "Pod"
            && e.object["spec"]["containers"][0]["command"]
                .as_array()
                .is_some_and(|c| c.windows(3).any(|w| w == ["delete", "name", "sa-east"]))
    });
    let gone = at(&|e| {
        e.server == "sa-east"
            && e.object["kind"] == "Namespace"
            && e.object["metadata"]["name"] == "geowp"
            && !e.object["metadata"]["deletionTimestamp"].is_null()
    });
    assert!(
        matches!((deleted, gone), (Some(d), Some(g)) if d < g),
        "member deleted at {deleted:?}, namespace deleted at {gone:?}\n{applied}\n{:#?}",
        pd.log()
    );
    assert!(
        r.handle(2)
            .requests()
            .keys()
            .any(|k| k.contains("/jobs/pd-ctl-")),
        "the leave Job did not run in ap-south, the first survivor: {:?}",
        r.handle(2).requests()
    );
    assert!(
        pd.stores()
            .contains(&("10.3.0.2:20160".into(), "Tombstone".into())),
        "{:?}",
        pd.stores()
    );
    assert_eq!(pd.members(), ["ap-south", "eu-west", "us-east"]);
    assert_eq!(tf.run(&["plan", "-detailed-exitcode"]).code(), 0);

    // 7. below three is refused at plan time
    eprintln!("step 7: below three is refused at plan time");
    tf.write("main.tf", &config(&r, &founders[..2], extra));
    let p = tf.run(&["plan"]);
    assert_ne!(p.code(), 0);
    assert!(
        p.stderr.contains("at least 3") && p.stderr.contains("keep its key"),
        "{}",
        p.stderr
    );

    // 8. a region joins on a new cluster, then is lost and dropped
    eprintln!("step 8: a region joins on a new cluster, then is lost and dropped");
    r.add("sa-east-2");
    let with_new = [
        ("us-east", 0),
        ("eu-west", 1),
        ("ap-south", 2),
        ("sa-east", 4),
    ];
    tf.write("main.tf", &config(&r, &with_new, extra));
    tf.ok(&["apply", "-auto-approve"]);
    assert!(args_of(&r, 4, "pd")
        .iter()
        .any(|a| a.starts_with("--join=")));
    r.stop(4);
    pd.set_down("sa-east", "10.4.0.2:20160", true);
    tf.write("main.tf", &config(&r, &founders, extra));
    let a = tf.ok(&["apply", "-auto-approve"]);
    assert!(
        a.contains("dropped from state") || a.contains("Region unreachable"),
        "{a}"
    );
    assert!(!tf.ok(&["state", "list"]).contains("\"sa-east\""));
    assert!(
        pd.stores()
            .contains(&("10.4.0.2:20160".into(), "Tombstone".into())),
        "{:?}",
        pd.stores()
    );
    assert_eq!(pd.members(), ["ap-south", "eu-west", "us-east"]);
    assert_eq!(tf.run(&["plan", "-detailed-exitcode"]).code(), 0);

    // 9. eu-west's cluster is lost; the same member is rebuilt on a new cluster
    eprintln!("step 9: eu-west's cluster is lost; the same member is rebuilt on a new cluster");
    r.stop(1);
    pd.set_down("eu-west", "10.1.0.2:20160", true);
    r.add("eu-west-2");
    let replaced = [("us-east", 0), ("eu-west", 5), ("ap-south", 2)];
    tf.write("main.tf", &config(&r, &replaced, extra));
    let plan = tf.ok(&["plan"]);
    assert!(plan.contains("Member moves"), "{plan}");
    tf.ok(&["apply", "-auto-approve"]);
    let a = args_of(&r, 5, "pd");
    assert!(
        a.iter().any(|x| x.starts_with("--join="))
            && !a.iter().any(|x| x.starts_with("--initial-cluster")),
        "{a:?}"
    );
    assert_eq!(pd.members(), ["ap-south", "eu-west", "us-east"]);
    let stores = pd.stores();
    assert!(
        stores.contains(&("10.1.0.2:20160".into(), "Tombstone".into())),
        "{stores:?}"
    );
    assert!(
        stores.contains(&("10.5.0.2:20160".into(), "Up".into())),
        "{stores:?}"
    );
    assert!(
        pd.log().iter().any(|l| l.contains("pd eu-west: started")),
        "{:#?}",
        pd.log()
    );
    assert_eq!(tf.run(&["plan", "-detailed-exitcode"]).code(), 0);

    // 10. geowp-helper site status: one table, PD asked through a Job
    eprintln!("step 10: geowp-helper site status");
    let merged = r.dir.path().join("merged.yaml");
    let helper = |args: &[&str]| {
        std::process::Command::new(geowp_tests::workspace_bin("geowp-helper"))
            .args(args)
            .output()
            .expect("run geowp-helper")
    };
    let (k0, k5, k2) = (r.kubeconfig(0), r.kubeconfig(5), r.kubeconfig(2));
    let o = helper(&[
        "kubeconfig",
        "merge",
        "-o",
        merged.to_str().unwrap(),
        k0.to_str().unwrap(),
        k5.to_str().unwrap(),
        k2.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = helper(&["site", "status", "--kubeconfig", merged.to_str().unwrap()]);
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{table}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let leader = pd.leader().unwrap();
    for m in ["us-east", "eu-west", "ap-south"] {
        let row = table
            .lines()
            .find(|l| l.starts_with(m))
            .unwrap_or_else(|| panic!("no row for {m}:\n{table}"));
        assert!(
            row.contains("2/2 ready") || row.contains("3/3 ready"),
            "{row}"
        );
        assert!(row.contains("healthy"), "{row}");
        assert!(row.contains("Up, ") && row.contains(" leaders"), "{row}");
        assert!(row.contains("in sync, pod ready"), "{row}");
        assert_eq!(
            row.contains("leader,") || row.contains("healthy, leader"),
            m == leader,
            "{row}"
        );
    }
    pd.set_down("ap-south", "10.2.0.2:20160", true);
    let o = helper(&["site", "status", "--kubeconfig", merged.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}\n{err}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(err.contains("ap-south: PD unhealthy"), "{err}");
    pd.set_down("ap-south", "10.2.0.2:20160", false);

    // 11. the whole site goes without waiting for survivors
    eprintln!("step 11: the whole site goes without waiting for survivors");
    let before = pd.log().len();
    tf.ok(&["destroy", "-auto-approve"]);
    assert!(tf.ok(&["state", "list"]).trim().is_empty());
    let during: Vec<String> = pd.log()[before..].to_vec();
    assert!(
        !during
            .iter()
            .any(|l| l.contains("member delete") || l.contains("store delete")),
        "the whole site's destroy removed members one by one: {during:#?}"
    );

    // every pd-ctl command the provider ran in all of this is one pd-ctl
    // v8.5.7 has (tests/standins/tidb-tables.json)
    let tables = Tables::load();
    let mut unknown = Vec::new();
    for l in pd.log() {
        let Some(cmd) = l.strip_prefix("pd-ctl ") else {
            continue;
        };
        let words = cmd.split_once(": ").map_or(cmd, |(w, _)| w);
        let mut argv = vec!["-u".to_string(), "https://pd:2379".into()];
        argv.extend(words.split(' ').map(String::from));
        if let Err(e) = tidbcheck::pd_ctl_command(&tables, &argv) {
            unknown.push(format!("{words}: {e}"));
        }
    }
    assert!(unknown.is_empty(), "{unknown:#?}");
}
