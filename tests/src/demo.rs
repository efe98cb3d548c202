//! `make demo` driven from tests: `scripts/demo.sh` with its own directory,
//! site port and region addresses, taken down when the test ends (passed
//! or not), so nothing it started outlives the test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use geowp_localrun::wordpress::Site;
use serde_json::Value;

use crate::{repo_root, Terraform};

/// One demo at a time: two at once would share the machine's two cores.
pub static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct Demo {
    pub dir: PathBuf,
    pub terraform: PathBuf,
    pub port: u16,
    pub net: u8,
    /// More environment for `scripts/demo.sh` (GEOWP_DEMO_RTT, TF_VAR_*).
    pub env: Vec<(String, String)>,
    _base: tempfile::TempDir,
}

/// A region as `.demo/site.json` describes it.
#[derive(Clone, Debug)]
pub struct Region {
    pub name: String,
    /// This region alone, through the load balancer's per-region frontend.
    pub site: Site,
    pub wp_content: PathBuf,
}

impl Demo {
    /// A demo directory (not started yet) whose regions use 127.`net`.*
    /// and whose site is on a free port.
    pub fn new(terraform: &Terraform, net: u8) -> Demo {
        let base = tempfile::Builder::new()
            .prefix("geowp-demo-")
            .tempdir()
            .expect("tmp");
        Demo {
            dir: base.path().join("demo"),
            terraform: terraform.path.clone(),
            port: crate::syncthing::free_port(),
            net,
            env: vec![],
            _base: base,
        }
    }

    /// Runs `scripts/demo.sh VERB [ARG]` as `make demo` would; (ok, output).
    pub fn run(&self, verb: &str, arg: Option<&str>) -> (bool, String) {
        let mut c = Command::new("bash");
        c.arg(repo_root().join("scripts/demo.sh")).arg(verb);
        // the script itself goes with this test too (its daemons go by the
        // owner's watcher): a killed test leaves no `demo.sh up` starting
        // more. The signal follows the spawning thread, which waits here on
        // the script's output, so it fires only if the test dies.
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec
        unsafe {
            use std::os::unix::process::CommandExt;
            c.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        if let Some(a) = arg {
            c.arg(a);
        }
        let out = c
            .env("GEOWP_DEMO_DIR", &self.dir)
            .env("GEOWP_TERRAFORM", &self.terraform)
            .env("GEOWP_DEMO_PORT", self.port.to_string())
            .env("GEOWP_DEMO_NET", self.net.to_string())
            // the demo's daemons go with this test process, even killed
            .env("GEOWP_DEMO_OWNER", std::process::id().to_string())
            .env("CI", "true")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
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

    pub fn up(&self) -> String {
        let (ok, out) = self.run("up", None);
        assert!(ok, "make demo failed:\n{out}\n{}", self.logs());
        out
    }

    pub fn site_json(&self) -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.dir.join("site.json")).expect("site.json"),
        )
        .expect("site.json is JSON")
    }

    /// The whole site, through the load balancer.
    pub fn site(&self) -> Site {
        Site::of_url(self.site_json()["site_url"].as_str().unwrap()).expect("site url")
    }

    pub fn admin(&self) -> (String, String) {
        let j = self.site_json();
        (
            j["admin"]["user"].as_str().unwrap().to_string(),
            j["admin"]["password"].as_str().unwrap().to_string(),
        )
    }

    pub fn regions(&self) -> Vec<Region> {
        let j = self.site_json();
        let site = self.site();
        j["regions"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, r)| {
                let url = r["wordpress_url"].as_str().unwrap();
                let host = url.trim_start_matches("http://").trim_end_matches('/');
                let addr: SocketAddr = host.parse().expect("region address");
                Region {
                    name: name.clone(),
                    site: site.via(addr),
                    wp_content: PathBuf::from(r["wp_content"].as_str().unwrap()),
                }
            })
            .collect()
    }

    /// The region called `name`.
    pub fn region(&self, name: &str) -> Region {
        self.regions()
            .into_iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no region {name} in site.json"))
    }

    pub fn region_down(&self, name: &str) {
        let (ok, out) = self.run("region-down", Some(name));
        assert!(ok, "{out}");
    }

    pub fn region_up(&self, name: &str) {
        let (ok, out) = self.run("region-up", Some(name));
        assert!(ok, "{out}");
    }

    /// The tails of the demo's logs, for a failure message.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for f in ["apply.log", "haproxy.log", "db/log"] {
            s.push_str(&tail(&self.dir.join(f), 20));
        }
        for r in ["us-east", "eu-west", "ap-south"] {
            s.push_str(&tail(
                &self.dir.join("regions").join(r).join("runtime.log"),
                20,
            ));
            // what each region's SyncThing said (connections, scans, pulls)
            let pods = self.dir.join("regions").join(r).join("runtime/pods/geowp");
            for d in std::fs::read_dir(&pods).into_iter().flatten().flatten() {
                if d.file_name().to_string_lossy().starts_with("syncthing") {
                    // without the probes' connections, which say nothing
                    let p = d.path().join("syncthing.log");
                    let t = std::fs::read_to_string(&p).unwrap_or_default();
                    let lines: Vec<&str> = t
                        .lines()
                        .filter(|l| !l.contains("TLS handshake: EOF"))
                        .collect();
                    s.push_str(&format!(
                        "--- {}\n{}\n",
                        p.display(),
                        lines[lines.len().saturating_sub(60)..].join("\n")
                    ));
                }
            }
        }
        s
    }

    /// Processes whose command line names the demo's directory.
    pub fn processes(&self) -> Vec<String> {
        let needle = self.dir.to_string_lossy().into_owned();
        std::fs::read_dir("/proc")
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
                    .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                    .filter(|c| c.contains(&needle))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn tail(p: &Path, n: usize) -> String {
    let t = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = t.lines().collect();
    format!(
        "--- {}\n{}\n",
        p.display(),
        lines[lines.len().saturating_sub(n)..].join("\n")
    )
}

impl Drop for Demo {
    fn drop(&mut self) {
        if self.dir.exists() {
            let _ = self.run("down", None);
        }
    }
}
