//! geowp-helper's commands as a user runs them: kubeconfig merge checked
//! with kubectl against three fake API servers (distinct CAs and tokens), and
//! the SyncThing identity commands against the real syncthing binary.

use std::process::Command;

use fakeapi::Options;
use geowp_tests::regions::Regions;
use geowp_tests::workspace_bin;

fn helper(args: &[&str]) -> std::process::Output {
    Command::new(workspace_bin("geowp-helper"))
        .args(args)
        .output()
        .expect("geowp-helper")
}

/// A kubeconfig as kubeadm writes it: every cluster called the same.
fn kubeadm_style(r: &Regions, i: usize, ca_file: Option<&std::path::Path>) -> String {
    use base64::Engine;
    let h = r.handle(i);
    let ca = match ca_file {
        Some(p) => format!("certificate-authority: {}", p.display()),
        None => format!(
            "certificate-authority-data: {}",
            base64::engine::general_purpose::STANDARD.encode(&h.ca_pem)
        ),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster:\n    server: {}\n    {ca}\nusers:\n- name: kubernetes-admin\n  user:\n    token: {}\ncontexts:\n- name: kubernetes-admin@kubernetes\n  context:\n    cluster: kubernetes\n    user: kubernetes-admin\ncurrent-context: kubernetes-admin@kubernetes\n",
        h.url(),
        h.token()
    )
}

#[test]
fn merged_kubeconfig_reaches_every_cluster_with_kubectl() {
    let r = Regions::start(&["east", "west", "south"], Options::default());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // west references its CA by a relative path; south comes as JSON credentials
    std::fs::write(d.join("east.yaml"), kubeadm_style(&r, 0, None)).unwrap();
    std::fs::write(d.join("west-ca.pem"), &r.handle(1).ca_pem).unwrap();
    std::fs::write(
        d.join("west.yaml"),
        kubeadm_style(&r, 1, Some(std::path::Path::new("west-ca.pem"))),
    )
    .unwrap();
    let south = serde_json::json!({"value": {"south": {"host": r.handle(2).url(), "cluster_ca_certificate": r.handle(2).ca_pem, "token": r.handle(2).token()}}});
    std::fs::write(d.join("south.json"), south.to_string()).unwrap();
    std::fs::write(d.join("merged"), "old").unwrap();
    let out = d.join("merged");
    let o = helper(&[
        "kubeconfig",
        "merge",
        "-o",
        out.to_str().unwrap(),
        "--json",
        d.join("south.json").to_str().unwrap(),
        d.join("east.yaml").to_str().unwrap(),
        d.join("west.yaml").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_to_string(d.join("merged.bak")).unwrap(),
        "old",
        "the previous file is kept"
    );
    // the file stands alone: no path references
    std::fs::remove_file(d.join("west-ca.pem")).unwrap();
    let kubectl = |args: &[&str]| {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &out)
            .env("HOME", d)
            .output()
            .unwrap()
    };
    let ctx = kubectl(&["config", "get-contexts", "-o", "name"]);
    let ctxs = String::from_utf8_lossy(&ctx.stdout).to_string();
    for c in [
        "kubernetes-admin@kubernetes",
        "west-kubernetes-admin@kubernetes",
        "south",
    ] {
        assert!(ctxs.lines().any(|l| l == c), "context {c} missing:\n{ctxs}");
    }
    for c in [
        "kubernetes-admin@kubernetes",
        "west-kubernetes-admin@kubernetes",
        "south",
    ] {
        let o = kubectl(&["--context", c, "get", "ns", "-o", "name"]);
        assert!(
            o.status.success(),
            "kubectl --context {c}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(String::from_utf8_lossy(&o.stdout).contains("namespace/default"));
    }
    // each context really talks to its own cluster (distinct CAs and tokens)
    std::fs::write(
        d.join("ns.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: only-in-west\n",
    )
    .unwrap();
    let o = r.kubectl(1, &["apply", "-f", d.join("ns.yaml").to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = kubectl(&[
        "--context",
        "west-kubernetes-admin@kubernetes",
        "get",
        "ns",
        "only-in-west",
        "-o",
        "name",
    ]);
    assert!(o.status.success());
    let o = kubectl(&[
        "--context",
        "kubernetes-admin@kubernetes",
        "get",
        "ns",
        "only-in-west",
    ]);
    assert!(!o.status.success());

    // a file that is not a kubeconfig: the file and the line, exit 2, nothing written
    std::fs::write(
        d.join("bad.yaml"),
        "apiVersion: v1\nkind: Config\ncontexts: [\n  - oops\n",
    )
    .unwrap();
    let before = std::fs::read_to_string(&out).unwrap();
    let o = helper(&[
        "kubeconfig",
        "merge",
        "-o",
        out.to_str().unwrap(),
        d.join("east.yaml").to_str().unwrap(),
        d.join("bad.yaml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("bad.yaml") && e.contains("line") && e.contains("nothing written"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), before);
    // --context picks one; --current must exist
    let one = d.join("one");
    let o = helper(&[
        "kubeconfig",
        "merge",
        "-o",
        one.to_str().unwrap(),
        "--context",
        "kubernetes-admin@kubernetes",
        d.join("east.yaml").to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let o = helper(&[
        "kubeconfig",
        "merge",
        "-o",
        one.to_str().unwrap(),
        "--current",
        "nope",
        d.join("east.yaml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn identity_commands_agree_with_real_syncthing() {
    let dir = tempfile::tempdir().unwrap();
    let o = helper(&["syncthing", "identity", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let o = helper(&[
        "syncthing",
        "device-id",
        dir.path().join("cert.pem").to_str().unwrap(),
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), id);
    let real = Command::new("syncthing")
        .arg(format!("--home={}", dir.path().display()))
        .arg("--device-id")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&real.stdout).trim(), id);
    // an existing identity is not overwritten by accident
    let o = helper(&["syncthing", "identity", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    let o = helper(&["--help"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("Exit codes"));
}
