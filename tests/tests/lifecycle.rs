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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fakeapi::pd::FakePd;
use fakeapi::server::Observer;
use fakeapi::Options;
use geowp_tests::regions::Regions;
use geowp_tests::{MirroredProvider, Terraform, Tf};

const READY: Duration = Duration::from_millis(150);
const TIER: [&str; 3] = ["pd", "tikv", "tidb"];

/// Something the observer saw change, and when.
#[derive(Clone, Debug)]
struct Seen {
    at: Instant,
    region: String,
    what: String,
}

/// Watches every region's PD, TiKV and TiDB templates, namespace and the
/// fake PD's members from another thread.
struct Recorder {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<Seen>>>,
}

fn template_hash(o: &Observer, name: &str) -> Option<String> {
    o.object("apps/v1", "StatefulSet", "geowp", name)
        .and_then(|s| {
            s["metadata"]["annotations"]["geowp.dev/template-hash"]
                .as_str()
                .map(String::from)
        })
}

impl Recorder {
    fn start(regions: Vec<(String, Observer)>, pd: Arc<FakePd>) -> Recorder {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut last: BTreeMap<(String, String), Option<String>> = BTreeMap::new();
            let mut members = pd.members();
            let mut seen = Vec::new();
            while !s2.load(Ordering::Relaxed) {
                for (name, o) in &regions {
                    for c in TIER {
                        let h = template_hash(o, c);
                        let prev = last.insert((name.clone(), c.to_string()), h.clone());
                        if matches!(&prev, Some(Some(p)) if Some(p) != h.as_ref()) {
                            seen.push(Seen {
                                at: Instant::now(),
                                region: name.clone(),
                                what: c.to_string(),
                            });
                        }
                    }
                    let ns = o.object("v1", "Namespace", "", "geowp");
                    let going = ns
                        .as_ref()
                        .is_none_or(|n| !n["metadata"]["deletionTimestamp"].is_null());
                    let prev = last.insert((name.clone(), "ns".into()), Some(going.to_string()));
                    if going && prev == Some(Some("false".into())) {
                        seen.push(Seen {
                            at: Instant::now(),
                            region: name.clone(),
                            what: "namespace deleted".into(),
                        });
                    }
                }
                let now = pd.members();
                for m in members.iter().filter(|m| !now.contains(m)) {
                    seen.push(Seen {
                        at: Instant::now(),
                        region: m.clone(),
                        what: "PD member deleted".into(),
                    });
                }
                members = now;
                std::thread::sleep(Duration::from_millis(5));
            }
            seen
        });
        Recorder {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<Seen> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

fn observers(r: &Regions, which: &[usize]) -> Vec<(String, Observer)> {
    which
        .iter()
        .map(|i| (r.names[*i].clone(), r.handle(*i).observer()))
        .collect()
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
    let mut r = Regions::start(
        &["us-east", "eu-west", "ap-south", "sa-east"],
        Options {
            ready_delay: READY,
            pd: Some(pd.clone()),
            ..Default::default()
        },
    );
    let tf = Tf::with(&Terraform::pinned(), &[MirroredProvider::geowp()]);
    let founders = [("us-east", 0), ("eu-west", 1), ("ap-south", 2)];
    tf.write("main.tf", &config(&r, &founders, ""));
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
    tf.write("main.tf", &config(&r, &four, ""));
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

    // 3. an upgrade rolls: all PDs, then all TiKVs, then all TiDBs, one region at a time
    eprintln!(
        "step 3: an upgrade rolls: all PDs, then all TiKVs, then all TiDBs, one region at a time"
    );
    let rec = Recorder::start(observers(&r, &[0, 1, 2, 3]), pd.clone());
    tf.write("main.tf", &config(&r, &four, "  tidb_version = \"v8.5.2\""));
    tf.ok(&["apply", "-auto-approve"]);
    let seen: Vec<Seen> = rec
        .finish()
        .into_iter()
        .filter(|s| TIER.contains(&s.what.as_str()))
        .collect();
    assert_eq!(seen.len(), 12, "{seen:?}");
    let order: Vec<&str> = seen.iter().map(|s| s.what.as_str()).collect();
    assert_eq!(&order[..4], ["pd"; 4], "{seen:?}");
    assert_eq!(&order[4..8], ["tikv"; 4], "{seen:?}");
    assert_eq!(&order[8..], ["tidb"; 4], "{seen:?}");
    for w in seen.windows(2) {
        assert!(
            w[1].at - w[0].at >= READY,
            "{} of {} changed {:?} after {} of {}: within one readiness period",
            w[1].what,
            w[1].region,
            w[1].at - w[0].at,
            w[0].what,
            w[0].region
        );
    }
    let log = pd.log();
    let evictions = log
        .iter()
        .filter(|l| l.contains("scheduler add evict-leader-scheduler"))
        .count();
    let returns = log
        .iter()
        .filter(|l| l.contains("scheduler remove evict-leader-scheduler"))
        .count();
    assert_eq!((evictions, returns), (4, 4), "{log:#?}");
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
    tf.write(
        "main.tf",
        &config(
            &r,
            &four,
            "  tidb_version = \"v8.5.2\"\n  wordpress_replicas = 3",
        ),
    );
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
    let extra = "  tidb_version = \"v8.5.2\"\n  wordpress_replicas = 3";

    // 6. a region leaves: removed from TiDB by a survivor before its objects go
    eprintln!("step 6: a region leaves: removed from TiDB by a survivor before its objects go");
    let rec = Recorder::start(observers(&r, &[3]), pd.clone());
    tf.write("main.tf", &config(&r, &founders, extra));
    let plan = tf.ok(&["plan"]);
    assert!(
        plan.contains("Member leaves TiDB") && plan.contains("member sa-east leaves"),
        "{plan}"
    );
    r.handle(2).reset_counts();
    let applied = tf.ok(&["apply", "-auto-approve"]);
    let seen = rec.finish();
    let at = |what: &str| {
        seen.iter()
            .find(|s| s.region == "sa-east" && s.what == what)
            .map(|s| s.at)
    };
    let (deleted, gone) = (at("PD member deleted"), at("namespace deleted"));
    assert!(
        matches!((deleted, gone), (Some(d), Some(g)) if d < g),
        "{seen:?}\n{applied}\n{:#?}",
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
    let t = Instant::now();
    tf.ok(&["destroy", "-auto-approve"]);
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "destroy waited {:?}",
        t.elapsed()
    );
    assert!(tf.ok(&["state", "list"]).trim().is_empty());
}
