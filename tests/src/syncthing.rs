//! Real SyncThing daemons on loopback for tests and benchmarks.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use geowp_syncthing::config as stconfig;

/// A real `syncthing` daemon with its config directory (`home`) and its
/// shared folder (`data`).
pub struct Daemon {
    pub child: Option<Child>,
    pub home: PathBuf,
    pub data: PathBuf,
}

impl Daemon {
    /// Starts it from `home` (config.xml, cert.pem, key.pem).
    pub fn start(&mut self) {
        assert!(self.data.join(".stfolder").exists());
        let c = Command::new("syncthing")
            .arg("serve")
            // its own process group: `serve` runs a monitor whose child is the
            // real daemon, and both must go when we stop it
            .process_group(0)
            .arg(format!("--home={}", self.home.display()))
            .args(["--no-browser", "--no-restart", "--no-default-folder"])
            .env("HOME", &self.home)
            .env("STNOUPGRADE", "1")
            // run the daemon itself, not a monitor that re-spawns it in another process group
            .env("STMONITORED", "yes")
            .stdout(
                std::fs::File::create(self.home.join("syncthing.log"))
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            )
            .stderr(Stdio::null())
            .spawn()
            .expect("syncthing must be installed (make test installs it)");
        self.child = Some(c);
        // one after another: 1.19 can stall when peers start at the same instant
        std::thread::sleep(Duration::from_millis(700));
    }
    /// Kills its process group and waits until its database is free.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe {
                libc::kill(-(c.id() as i32), libc::SIGKILL);
            }
            let _ = c.wait();
            // the daemon (the monitor's child) is reaped by init; wait until its database lock is free
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10)
                && running_with(&format!("--home={}", self.home.display()))
            {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether any process has `arg` in its command line.
pub fn running_with(arg: &str) -> bool {
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten().any(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .map(|c| c.split(|b| *b == 0).any(|a| a == arg.as_bytes()))
                    .unwrap_or(false)
            })
        })
        .unwrap_or(false)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `path` holds `content` (None: until it is gone).
pub fn wait_for(path: &Path, content: Option<&str>, limit: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        match (content, std::fs::read_to_string(path)) {
            (Some(c), Ok(s)) if s == c => return true,
            (None, Err(_)) => return true,
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A SyncThing set up the way someone else might have: its own identity,
/// the folder, and no peers. Returns the daemon (not started), its GUI
/// URL and its API key.
pub fn standalone(root: &Path, name: &str, folder: &str) -> (Daemon, String, String) {
    let home = root.join(name).join("config");
    let data = root.join(name).join("data");
    std::fs::create_dir_all(&home).expect("mkdir");
    std::fs::create_dir_all(data.join(".stfolder")).expect("mkdir");
    let id = geowp_syncthing::identity::generate().expect("identity");
    std::fs::write(home.join("cert.pem"), &id.cert_pem).expect("cert");
    std::fs::write(home.join("key.pem"), &id.key_pem).expect("key");
    let (port, gui) = (free_port(), free_port());
    let api_key = format!("key-{name}-{port}");
    let xml = stconfig::render(&stconfig::Config {
        self_id: id.device_id.clone(),
        self_name: name.into(),
        peers: vec![],
        folder_id: folder.into(),
        folder_label: folder.into(),
        folder_path: data.display().to_string(),
        listen_address: format!("tcp://127.0.0.1:{port}"),
        gui_address: format!("127.0.0.1:{gui}"),
        api_key: api_key.clone(),
        rescan_interval_s: 60,
        watcher_delay_s: 1,
    });
    std::fs::write(home.join("config.xml"), xml).expect("config");
    (
        Daemon {
            child: None,
            home,
            data,
        },
        format!("http://127.0.0.1:{gui}"),
        api_key,
    )
}

/// Waits until the daemon's REST API answers.
pub fn wait_api(url: &str, limit: Duration) -> bool {
    let hostport = url.trim_start_matches("http://");
    let t = Instant::now();
    while t.elapsed() < limit {
        if std::net::TcpStream::connect(hostport).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
