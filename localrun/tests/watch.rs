//! `geowp-localrun watch`: the command runs once the watched process has
//! ended, and not before. Judged by the processes' own ends (the test waits
//! on them), never by a clock.

use std::process::{Command, Stdio};

#[test]
fn the_command_runs_when_the_watched_process_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("ran");
    // the owner: cat, which ends when its input is closed
    let mut owner = Command::new("cat")
        .stdin(Stdio::piped())
        .spawn()
        .expect("cat");
    let mut watcher = Command::new(env!("CARGO_BIN_EXE_geowp-localrun"))
        .args(["watch", "--pid", &owner.id().to_string(), "--", "sh", "-c"])
        .arg(format!("echo done > {}", mark.display()))
        .stdout(Stdio::piped())
        .spawn()
        .expect("watch");
    // not finished while the owner lives (PidWatch's own test shows it waits)
    assert!(watcher.try_wait().unwrap().is_none());
    assert!(!mark.exists());
    drop(owner.stdin.take());
    owner.wait().unwrap();
    let st = watcher.wait().unwrap();
    assert!(st.success(), "{st}");
    assert_eq!(std::fs::read_to_string(&mark).unwrap(), "done\n");
}

#[test]
fn a_process_already_gone_runs_the_command_at_once() {
    let mut gone = Command::new("true").spawn().expect("true");
    let pid = gone.id();
    gone.wait().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_geowp-localrun"))
        .args(["watch", "--pid", &pid.to_string(), "--", "echo", "now"])
        .output()
        .expect("watch");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "now\n");
}
