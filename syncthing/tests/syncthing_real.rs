//! Our SyncThing identities against the real `syncthing` binary (Debian's,
//! installed by `make test`): it must report the device ID we computed.

use std::os::unix::process::CommandExt;
use std::process::Command;

#[test]
fn real_syncthing_reports_the_device_id_we_computed() {
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let id = geowp_syncthing::identity::generate().unwrap();
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

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use geowp_syncthing::config::{self as stconfig, Device};

struct Daemon {
    child: std::process::Child,
    data: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(home: &Path, data: &Path) -> std::process::Child {
    assert!(
        data.join(".stfolder").exists(),
        "the folder marker must exist before start"
    );
    Command::new("syncthing")
        .arg("serve")
        // its own process group: `serve` runs a monitor whose child is the
        // real daemon, and both must go when the test stops it
        .process_group(0)
        .arg(format!("--home={}", home.display()))
        .args(["--no-browser", "--no-restart", "--no-default-folder"])
        .env("HOME", home)
        .env("STNOUPGRADE", "1")
        // run the daemon itself, not a monitor that re-spawns it in another process group
        .env("STMONITORED", "yes")
        .env("STNODEFAULTFOLDER", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("syncthing must be installed (make test installs it)")
}

fn wait_for(path: &Path, content: Option<&str>, limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < limit {
        match (content, std::fs::read_to_string(path)) {
            (Some(c), Ok(s)) if s == c => return Some(t.elapsed()),
            (None, Err(_)) => return Some(t.elapsed()),
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn three_daemons_configured_only_from_rendered_configs_replicate_files() {
    let root = tempfile::tempdir().unwrap();
    let names = ["us-east", "eu-west", "ap-south"];
    let ids: Vec<_> = names
        .iter()
        .map(|_| geowp_syncthing::identity::generate().unwrap())
        .collect();
    let ports: Vec<u16> = names.iter().map(|_| free_port()).collect();
    let gui: Vec<u16> = names.iter().map(|_| free_port()).collect();
    let mut daemons = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let home = root.path().join(name).join("config");
        let data = root.path().join(name).join("data");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(data.join(".stfolder")).unwrap();
        std::fs::write(home.join("cert.pem"), &ids[i].cert_pem).unwrap();
        std::fs::write(home.join("key.pem"), &ids[i].key_pem).unwrap();
        let peers = (0..names.len())
            .filter(|&j| j != i)
            .map(|j| Device {
                id: ids[j].device_id.clone(),
                name: names[j].into(),
                addresses: vec![format!("tcp://127.0.0.1:{}", ports[j])],
            })
            .collect();
        let cfg = stconfig::Config {
            self_id: ids[i].device_id.clone(),
            self_name: name.to_string(),
            peers,
            folder_id: "wp-content".into(),
            folder_label: "wp-content".into(),
            folder_path: data.display().to_string(),
            listen_address: format!("tcp://127.0.0.1:{}", ports[i]),
            gui_address: format!("127.0.0.1:{}", gui[i]),
            api_key: format!("key-{i}"),
            rescan_interval_s: 10,
            watcher_delay_s: 1,
        };
        std::fs::write(home.join("config.xml"), stconfig::render(&cfg)).unwrap();
        // one after another: 1.19 can stall in the handshake when peers start at the same instant
        daemons.push(Daemon {
            child: start(&home, &data),
            data,
        });
        std::thread::sleep(Duration::from_millis(700));
    }
    // a file written in A reaches B and C with the same content
    let content = "hello from us-east\n";
    std::fs::create_dir_all(daemons[0].data.join("uploads")).unwrap();
    std::fs::write(daemons[0].data.join("uploads/a.txt"), content).unwrap();
    for d in &daemons[1..] {
        let t = wait_for(
            &d.data.join("uploads/a.txt"),
            Some(content),
            Duration::from_secs(90),
        );
        assert!(t.is_some(), "file did not reach {}", d.data.display());
    }
    // a deletion in B propagates to A and C
    std::fs::remove_file(daemons[1].data.join("uploads/a.txt")).unwrap();
    for d in [&daemons[0], &daemons[2]] {
        assert!(
            wait_for(&d.data.join("uploads/a.txt"), None, Duration::from_secs(60)).is_some(),
            "deletion did not reach {}",
            d.data.display()
        );
    }
}
