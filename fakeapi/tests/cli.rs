//! The `geowp-fake-apiserver` binary as `make demo` and tests start it:
//! it writes a kubeconfig, serves kubectl, and keeps its objects across a
//! stop (SIGTERM) and a new process on the same files.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn start(dir: &std::path::Path, port: u16) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_geowp-fake-apiserver"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--name",
            "east",
            "--token",
            "tok-east",
        ])
        .arg("--data")
        .arg(dir.join("data.json"))
        .arg("--cert-dir")
        .arg(dir.join("certs"))
        .arg("--kubeconfig")
        .arg(dir.join("kubeconfig"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_string();
    (child, url)
}

fn kubectl(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .env("HOME", dir)
        .output()
        .unwrap()
}

#[test]
fn binary_serves_kubectl_and_keeps_state_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start(dir.path(), 0);
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let kc = std::fs::read_to_string(dir.path().join("kubeconfig")).unwrap();
    assert!(kc.contains(&url) && kc.contains("tok-east") && kc.contains("current-context: east"));
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  namespace: default\ndata:\n  a: b\n";
    std::fs::write(dir.path().join("cm.yaml"), cm).unwrap();
    let o = kubectl(
        dir.path(),
        &[
            "apply",
            "--server-side",
            "-f",
            dir.path().join("cm.yaml").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(child.wait().unwrap().success());
    // a new process on the same files and port: same CA, same objects
    let (mut child, _) = start(dir.path(), port);
    let o = kubectl(
        dir.path(),
        &["get", "cm", "kept", "-o", "jsonpath={.data.a}"],
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "b",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    child.wait().unwrap();
}

#[test]
fn bad_arguments_and_unusable_files_are_clear_errors() {
    let o = Command::new(env!("CARGO_BIN_EXE_geowp-fake-apiserver"))
        .args(["--behavior", "sometimes"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown behavior"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.json"), "not json").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_geowp-fake-apiserver"))
        .arg("--data")
        .arg(dir.path().join("data.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("data.json") && e.contains("not a store"), "{e}");
}
