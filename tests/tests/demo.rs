//! `make demo` / `make demo-down` as a newcomer runs them, non-interactively
//! (no stdin, CI=true): the three regions come up, a file written in one
//! region's wp-content arrives in the others through real SyncThing, the
//! summary is printed, and demo-down leaves nothing running or listening.

use std::process::{Command, Stdio};

use geowp_tests::repo_root;

/// One demo at a time: two at once would share the machine's two cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn demo(terraform: &geowp_tests::Terraform, dir: &std::path::Path, verb: &str) -> (bool, String) {
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/demo.sh"))
        .arg(verb)
        .env("GEOWP_DEMO_DIR", dir)
        .env("GEOWP_TERRAFORM", &terraform.path)
        .env("CI", "true")
        .stdin(Stdio::null())
        .output()
        .expect("bash");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn demo_processes(dir: &std::path::Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .filter(|c| c.contains(&needle) && !c.contains("demo.rs"))
                .collect()
        })
        .unwrap_or_default()
}

geowp_tests::for_each_terraform! {
    fn demo_runs_replicates_a_file_and_demo_down_cleans_up(terraform) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("demo");
    let (ok, out) = demo(terraform, &dir, "up");
    assert!(ok, "make demo failed:\n{out}");
    for want in [
        "Apply complete! Resources: 5 added",
        "a second plan shows no changes",
        "arrived in eu-west after",
        "arrived in ap-south after",
        "the demo is running",
        "make demo-down",
    ] {
        assert!(
            out.contains(want),
            "missing {want:?} in the demo's output:\n{out}"
        );
    }
    let f = "wp-content/uploads/hello-from-us-east.txt";
    let a = std::fs::read_to_string(dir.join("regions/us-east").join(f)).unwrap();
    for r in ["eu-west", "ap-south"] {
        assert_eq!(
            std::fs::read_to_string(dir.join("regions").join(r).join(f)).unwrap(),
            a,
            "{r} has other content"
        );
    }
    assert!(dir.join("kubeconfig").exists(), "no merged kubeconfig");
    let urls: Vec<String> = out
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("https://127.0.0.1:"))
                .map(String::from)
        })
        .collect();
    assert_eq!(urls.len(), 3, "{out}");
    assert!(!demo_processes(&dir).is_empty());

    // running it again works (it takes the earlier one down first)
    let (ok, out2) = demo(terraform, &dir, "up");
    assert!(
        ok && out2.contains("an earlier demo is here") && out2.contains("arrived in ap-south"),
        "{out2}"
    );

    let (ok, down) = demo(terraform, &dir, "down");
    assert!(ok, "{down}");
    assert!(
        down.contains("destroyed") && down.contains("removed"),
        "{down}"
    );
    assert!(!dir.exists(), "demo-down left its directory");
    assert_eq!(
        demo_processes(&dir),
        Vec::<String>::new(),
        "demo-down left processes running"
    );
    for u in urls {
        let addr = u.trim_start_matches("https://");
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "{addr} still listening after demo-down"
        );
    }
    }
}
