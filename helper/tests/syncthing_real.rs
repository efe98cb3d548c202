//! Our SyncThing identities against the real `syncthing` binary (Debian's,
//! installed by `make test`): it must report the device ID we computed.

use std::process::Command;

#[test]
fn real_syncthing_reports_the_device_id_we_computed() {
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let id = geowp_helper::syncthing::generate().unwrap();
        std::fs::write(dir.path().join("cert.pem"), &id.cert_pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), &id.key_pem).unwrap();
        let out = Command::new("syncthing")
            .arg(format!("--home={}", dir.path().display()))
            .arg("--device-id")
            .env("HOME", dir.path())
            .output()
            .expect("syncthing must be installed (make test installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), id.device_id);
    }
}
