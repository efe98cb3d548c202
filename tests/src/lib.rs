//! Test harness for geowp's end-to-end tests: real Terraform (installed by
//! `make tools` into `.tools/`), real provider binaries installed into a
//! per-test filesystem mirror, and helpers to check that nothing leaks
//! (provider processes, plugin sockets).

pub mod backup;
pub mod browser;
pub mod demo;
pub mod regions;
pub mod standin;
pub mod syncthing;
pub use geowp_localrun::tidbcheck;
pub mod wordpress;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A Terraform binary the tests drive, and the version it reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terraform {
    pub path: PathBuf,
    pub version: String,
}

/// The version `terraform version -json` reports.
fn version_of(path: &Path) -> Option<String> {
    let home = tempfile::tempdir().ok()?;
    let out = Command::new(path)
        .args(["version", "-json"])
        .env("CHECKPOINT_DISABLE", "1")
        .env("HOME", home.path())
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    j["terraform_version"].as_str().map(String::from)
}

impl Terraform {
    /// The pinned Terraform 1.0.3 (`.tools/bin/terraform`, from PyPI), which
    /// every test runs with; `GEOWP_TERRAFORM` overrides it.
    pub fn pinned() -> Terraform {
        static PINNED: std::sync::OnceLock<Terraform> = std::sync::OnceLock::new();
        PINNED
            .get_or_init(|| {
                let path = std::env::var("GEOWP_TERRAFORM")
                    .map(PathBuf::from)
                    .unwrap_or_else(|_| repo_root().join(".tools/bin/terraform"));
                assert!(
                    path.exists(),
                    "{} is missing: run `make test` (it installs Terraform) or `make tools`",
                    path.display()
                );
                let version = version_of(&path).unwrap_or_else(|| "unknown".into());
                Terraform { path, version }
            })
            .clone()
    }

    /// The `terraform` on PATH, when it reports another version than the
    /// pinned one (these machines carry 1.11.4); tests run with it too.
    pub fn on_path() -> Option<Terraform> {
        static ON_PATH: std::sync::OnceLock<Option<Terraform>> = std::sync::OnceLock::new();
        ON_PATH
            .get_or_init(|| {
                let pinned = Terraform::pinned();
                let path = std::env::var_os("PATH")?
                    .to_str()?
                    .split(':')
                    .map(|d| Path::new(d).join("terraform"))
                    .find(|p| p.is_file())?;
                let version = version_of(&path)?;
                (version != pinned.version).then_some(Terraform { path, version })
            })
            .clone()
    }

    /// The Terraforms a test runs with: the pinned one, and the one on PATH
    /// when it is another version.
    pub fn all() -> Vec<Terraform> {
        let mut v = vec![Terraform::pinned()];
        v.extend(Terraform::on_path());
        v
    }

    /// Whether this is Terraform 1.0 (the pinned version).
    pub fn is_1_0(&self) -> bool {
        self.version.starts_with("1.0.")
    }
}

/// Defines a test once and runs it with every Terraform: a module named
/// after the test, with `terraform_1_0_3` (always) and `terraform_on_path`
/// (the `terraform` on PATH when it is another version; it says so and
/// passes when there is none, as on a fresh machine).
#[macro_export]
macro_rules! for_each_terraform {
    ($(#[$meta:meta])* fn $name:ident($tf:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($tf: &$crate::Terraform) $body

            #[test]
            fn terraform_1_0_3() {
                body(&$crate::Terraform::pinned())
            }

            #[test]
            fn terraform_on_path() {
                match $crate::Terraform::on_path() {
                    Some(t) => body(&t),
                    None => eprintln!("no terraform of another version on PATH: ran with the pinned 1.0.3 only"),
                }
            }
        }
    };
}

/// The pinned Terraform binary (`.tools/bin/terraform`, 1.0.3).
pub fn terraform_bin() -> PathBuf {
    Terraform::pinned().path
}

/// Directory of the binaries cargo built alongside this test (target/<profile>).
pub fn target_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // tests run from target/<profile>/deps/, binaries from target/<profile>/
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    }
}

/// A built binary of this workspace, e.g. `terraform-provider-geowp`.
pub fn workspace_bin(name: &str) -> PathBuf {
    let p = target_bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: run `make test`, which builds the workspace binaries first",
        p.display()
    );
    p
}

/// A provider to put into the filesystem mirror.
#[derive(Clone, Debug)]
pub struct MirroredProvider {
    /// `namespace/type`, e.g. `geowp/geowp`.
    pub source: String,
    pub version: String,
    pub binary: PathBuf,
}

impl MirroredProvider {
    pub fn new(source: &str, version: &str, binary: PathBuf) -> Self {
        MirroredProvider {
            source: source.into(),
            version: version.into(),
            binary,
        }
    }
    /// This workspace's provider (`GEOWP_PROVIDER_BIN` names another build,
    /// for benchmarks against an earlier version).
    pub fn geowp() -> Self {
        let bin = std::env::var("GEOWP_PROVIDER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| workspace_bin("terraform-provider-geowp"));
        Self::new("geowp/geowp", "0.1.0", bin)
    }
}

/// One Terraform working directory with its own CLI config, mirror, plugin
/// socket directory (TMPDIR) and environment, driven by one Terraform.
pub struct Tf {
    pub root: tempfile::TempDir,
    pub work: PathBuf,
    pub sockets: PathBuf,
    pub terraform: Terraform,
    env: Vec<(String, String)>,
}

pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl Tf {
    /// A working directory driven by the pinned Terraform.
    pub fn new(providers: &[MirroredProvider]) -> Tf {
        Tf::with(&Terraform::pinned(), providers)
    }

    /// A working directory driven by `terraform`.
    pub fn with(terraform: &Terraform, providers: &[MirroredProvider]) -> Tf {
        let root = tempfile::Builder::new()
            .prefix("geowp-tf-")
            .tempdir()
            .expect("temp dir");
        let mirror = root.path().join("mirror");
        let work = root.path().join("work");
        let sockets = root.path().join("tmp");
        for d in [&mirror, &work, &sockets] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        for p in providers {
            let ty = p.source.rsplit('/').next().unwrap_or("x");
            let dir = mirror
                .join("registry.terraform.io")
                .join(&p.source)
                .join(&p.version)
                .join("linux_amd64");
            std::fs::create_dir_all(&dir).expect("mkdir mirror");
            std::os::unix::fs::symlink(
                &p.binary,
                dir.join(format!("terraform-provider-{ty}_v{}", p.version)),
            )
            .expect("symlink provider");
        }
        let cli = root.path().join("cli.tfrc");
        std::fs::write(
            &cli,
            format!(
                "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n  }}\n}}\n",
                mirror.display()
            ),
        )
        .expect("cli config");
        let env = vec![
            ("TF_CLI_CONFIG_FILE".into(), cli.display().to_string()),
            ("CHECKPOINT_DISABLE".into(), "1".into()),
            ("TF_IN_AUTOMATION".into(), "1".into()),
            ("TF_INPUT".into(), "0".into()),
            ("TMPDIR".into(), sockets.display().to_string()),
            ("TF_PLUGIN_CACHE_DIR".into(), String::new()),
        ];
        Tf {
            root,
            work,
            sockets,
            terraform: terraform.clone(),
            env,
        }
    }

    pub fn write(&self, name: &str, content: &str) {
        std::fs::write(self.work.join(name), content).expect("write config");
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.terraform.path);
        c.args(args).current_dir(&self.work).stdin(Stdio::null());
        // Terraform writes ~/.terraform.d even with CHECKPOINT_DISABLE: not in the user's HOME
        c.env("HOME", self.root.path());
        c.env_remove("TF_LOG").env_remove("TF_LOG_PROVIDER");
        for (k, v) in &self.env {
            if v.is_empty() {
                c.env_remove(k);
            } else {
                c.env(k, v);
            }
        }
        c
    }

    /// Runs terraform with `-no-color` added after the subcommand.
    pub fn run_env(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Run {
        // -no-color goes after the (sub)command: `plan -no-color`, `state show -no-color`
        let words = if matches!(args.first(), Some(&"state")) {
            2
        } else {
            1
        };
        let split = words.min(args.len());
        let mut full: Vec<&str> = args[..split].to_vec();
        if !matches!(args.first(), Some(&"state") if args.get(1) == Some(&"rm")) {
            full.push("-no-color");
        }
        full.extend(&args[split..]);
        let mut c = self.command(&full);
        for (k, v) in extra_env {
            c.env(k, v);
        }
        let out: Output = run_with_timeout(c, Duration::from_secs(300));
        Run {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Runs terraform and panics with its output unless it exits 0.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(
            r.status.success(),
            "terraform {args:?} failed ({}):\n{}",
            r.code(),
            r.all()
        );
        r.stdout
    }

    /// Provider processes still running whose working directory is ours.
    pub fn leftover_processes(&self) -> Vec<u32> {
        processes_in(&self.work)
    }

    /// Plugin sockets left in our TMPDIR.
    pub fn leftover_sockets(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.sockets)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.to_string_lossy().ends_with(".sock"))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Kills (SIGKILL) and reaps the child when dropped, so a failing test
/// leaves no process behind.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// PIDs of processes whose cwd is `dir`, other than this one.
pub fn processes_in(dir: &Path) -> Vec<u32> {
    let me = std::process::id();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd"))
                .map(|c| c == dir)
                .unwrap_or(false)
        })
        .collect()
}

/// Waits for the child, killing it after `limit` (a hung command fails the
/// test with its output instead of hanging the suite).
pub fn run_with_timeout(mut c: Command, limit: Duration) -> Output {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut b);
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut b);
        b
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let o = t_out.join().unwrap_or_default();
            panic!(
                "command timed out after {limit:?}; output so far:\n{}",
                String::from_utf8_lossy(&o)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

/// Terraform state (`terraform state pull`) without the site CA's private
/// key, and how many resource instances held it. That key is the one secret
/// Terraform keeps (sensitive, as hashicorp/tls keeps its keys): geowp_site
/// makes it and each stack takes it to sign its region's certificate. Every
/// other key (SyncThing's, each region's TLS key) stays in the clusters, so
/// the rest of the state must hold no `PRIVATE KEY`.
pub fn state_without_ca_key(state: &str) -> (String, usize) {
    let mut st: serde_json::Value = serde_json::from_str(state).expect("state is JSON");
    let mut n = 0;
    for r in st["resources"].as_array_mut().into_iter().flatten() {
        for inst in r["instances"].as_array_mut().into_iter().flatten() {
            if let Some(a) = inst["attributes"].as_object_mut() {
                n += a.remove("tls_ca_private_key").is_some() as usize;
            }
        }
    }
    (st.to_string(), n)
}
