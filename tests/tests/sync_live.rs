//! `geowp-helper sync exchange|status` in REST mode against real SyncThing
//! daemons that someone else set up: each has its own identity and the
//! folder, and no peers. The helper must join them into one group without
//! restarting any of them, be idempotent, and report the group's health.

use std::process::{Command, Output};
use std::time::Duration;

use geowp_tests::syncthing::{standalone, wait_api, wait_for, Daemon};
use geowp_tests::workspace_bin;

fn helper(args: &[&str]) -> Output {
    Command::new(workspace_bin("geowp-helper"))
        .args(args)
        .output()
        .expect("run geowp-helper")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn the_helper_joins_running_syncthing_daemons_live_over_rest() {
    let root = tempfile::tempdir().unwrap();
    let t0 = std::time::Instant::now();
    let phase = |what: &str| eprintln!("[{:>5.1}s] {what}", t0.elapsed().as_secs_f64());
    let names = ["alpha", "beta", "gamma"];
    let mut daemons: Vec<Daemon> = Vec::new();
    let mut apis = Vec::new();
    for n in names {
        let (mut d, url, key) = standalone(root.path(), n, "site-files");
        d.start();
        assert!(wait_api(&url, Duration::from_secs(30)), "{n}: no REST API");
        // keys from files, as the help recommends (keeps them out of `ps`)
        let kf = root.path().join(format!("{n}.key"));
        std::fs::write(&kf, &key).unwrap();
        daemons.push(d);
        apis.push((url, format!("@{}", kf.display())));
    }
    let mut args: Vec<String> = Vec::new();
    for (i, (u, k)) in apis.iter().enumerate() {
        args.extend([
            "--api".into(),
            u.clone(),
            "--api-key".into(),
            k.clone(),
            "--name".into(),
            names[i].into(),
        ]);
    }
    args.extend(["--folder".into(), "site-files".into()]);
    let with = |cmd: &[&str], extra: &[&str]| {
        let mut a: Vec<&str> = cmd.to_vec();
        a.extend(args.iter().map(String::as_str));
        a.extend(extra);
        helper(&a)
    };

    phase("three daemons up");
    // alone: no peers, so the group is not healthy (exit 3), table on stdout
    let o = with(&["sync", "status"], &[]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}{err}");
    assert!(out.contains("alpha") && out.contains("0/0"), "{out}");
    assert!(err.contains("not every member is connected"), "{err}");

    let pids: Vec<u32> = daemons
        .iter()
        .map(|d| d.child.as_ref().unwrap().id())
        .collect();
    let o = with(&["sync", "exchange"], &[]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(
        out.matches("2 devices added, 0 updated, folder \"site-files\" newly shared with 2; applied live, no restart")
            .count(),
        3,
        "{out}"
    );
    // no daemon restarted (STMONITORED: a restart would end the process)
    std::thread::sleep(Duration::from_millis(500));
    for (d, pid) in daemons.iter_mut().zip(&pids) {
        let c = d.child.as_mut().unwrap();
        assert_eq!(c.id(), *pid);
        assert!(
            c.try_wait().unwrap().is_none(),
            "a SyncThing exited after the exchange"
        );
    }
    // idempotent: a second run writes nothing
    let o = with(&["sync", "exchange"], &[]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(
        out.matches("0 devices added, 0 updated, folder \"site-files\" newly shared with 0")
            .count(),
        3,
        "{out}"
    );

    phase("exchanged twice");
    // files replicate among them
    let content = "shared after a live exchange\n";
    std::fs::write(daemons[0].data.join("hello.txt"), content).unwrap();
    for d in &daemons[1..] {
        assert!(
            wait_for(
                &d.data.join("hello.txt"),
                Some(content),
                Duration::from_secs(90)
            ),
            "not replicated to {}",
            d.data.display()
        );
    }
    phase("replicated");
    // and status says so: every member connected to both peers, folder complete
    let o = with(&["sync", "status"], &["--wait", "90s"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(out.matches(" 2/2 ").count(), 3, "{out}");
    assert_eq!(out.matches("100%").count(), 3, "{out}");

    phase("status healthy");
    // a member down: status names it, exit 3
    daemons[2].stop();
    let o = with(&["sync", "status"], &["--timeout", "3s"]);
    let (out, err) = text(&o);
    assert_ne!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        err.contains("cannot reach SyncThing at") || err.contains("not every member"),
        "{err}"
    );

    phase("member down seen");
    // a wrong key is refused with a message saying which flag to fix, and nothing changes
    let o = helper(&[
        "sync",
        "exchange",
        "--api",
        &apis[0].0,
        "--api-key",
        "wrong",
        "--api",
        &apis[1].0,
        "--api-key",
        &apis[1].1,
        "--folder",
        "site-files",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("refused the API key") && err.contains("--api-key"),
        "{err}"
    );
    assert!(!err.contains("wrong"), "the key was printed: {err}");

    phase("wrong key refused");
    // usage errors exit 2 before anything is contacted
    for (bad, want) in [
        (vec!["sync", "exchange"], "say who is in the group"),
        (
            vec!["sync", "exchange", "--api", "http://127.0.0.1:1"],
            "1 --api but 0 --api-key",
        ),
        (
            vec![
                "sync",
                "exchange",
                "--api",
                "https://h:1",
                "--api-key",
                "k",
                "--api",
                "http://h:2",
                "--api-key",
                "k",
            ],
            "only plain http",
        ),
        (
            vec![
                "sync",
                "exchange",
                "--api",
                "http://h:1",
                "--api-key",
                "k",
                "--name",
                "a",
                "--address",
                "a=h:1",
            ],
            "is not tcp://host:port",
        ),
    ] {
        let o = helper(&bad);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {out}{err}");
        assert!(err.contains(want), "{bad:?}: {err}");
    }
    phase("usage errors");
}
