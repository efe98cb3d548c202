//! geowp's backup and restore steps (stack/src/render/geowp-backup.sh)
//! run as the pods run them, one step per process, against a real MariaDB
//! prepared by geowp's own bootstrap script, with Debian's mariadb-dump and
//! restic: what tests/tests/backup.rs checks and `make bench BENCH=backup`
//! times.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use geowp_stack::render::backup::SCRIPT;
use geowp_stack::render::tidb::BOOTSTRAP_SH;

use crate::wordpress::{free_port, MariaDb};

pub const DB_PASSWORD: &str = "wp-db-pw-4b8e21";
pub const REPO_PASSWORD: &str = "repo-pw-77c0a4";

/// One site: its database, wp-content and repository in `dir`.
pub struct Site {
    pub dir: PathBuf,
    pub db: MariaDb,
    pub script: PathBuf,
    pub content: PathBuf,
    /// What every step printed.
    pub printed: std::cell::RefCell<String>,
}

impl Site {
    pub fn new(dir: &Path) -> Site {
        let db = MariaDb::start(&dir.join("db"), free_port()).unwrap_or_else(|e| panic!("{e}"));
        let secrets = dir.join("site-secrets");
        std::fs::create_dir_all(&secrets).unwrap();
        std::fs::write(secrets.join("TIDB_ROOT_PASSWORD"), "root-pw-1f00d2").unwrap();
        std::fs::write(secrets.join("WORDPRESS_DB_PASSWORD"), DB_PASSWORD).unwrap();
        let o = db.bootstrap(BOOTSTRAP_SH, &secrets).unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let script = dir.join("geowp-backup.sh");
        std::fs::write(&script, SCRIPT).unwrap();
        let content = dir.join("wp-content");
        std::fs::create_dir_all(content.join("uploads/2026/12")).unwrap();
        std::fs::write(dir.join("repo-password"), REPO_PASSWORD).unwrap();
        Site {
            dir: dir.to_path_buf(),
            db,
            script,
            content,
            printed: Default::default(),
        }
    }

    /// One step as its container runs it: `region`'s pod, whose scratch
    /// volume is `work`, with `extra` variables (the helper's). No
    /// retention unless `extra` sets it: which runs an hourly policy keeps
    /// depends on the clock.
    pub fn step(&self, region: &str, work: &str, step: &str, extra: &[(&str, &str)]) -> Child {
        let work = self.dir.join(work);
        std::fs::create_dir_all(&work).unwrap();
        let home = self.dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        Command::new("sh")
            .arg(&self.script)
            .arg(step)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &home)
            .env("DB_HOST", "127.0.0.1")
            .env("DB_PORT", self.db.port.to_string())
            .env("DB_NAME", "wordpress")
            .env("DB_USER", "wordpress")
            .env(
                "DB_PASSWORD_FILE",
                self.dir.join("site-secrets/WORDPRESS_DB_PASSWORD"),
            )
            .env("GEOWP_REGION", region)
            .env("GEOWP_WORK", &work)
            .env("GEOWP_CONTENT", &self.content)
            .env("GEOWP_INTERVAL_HOURS", "1")
            .env("GEOWP_KEEP_HOURLY", "0")
            .env("GEOWP_KEEP_DAILY", "0")
            .env("GEOWP_KEEP_WEEKLY", "0")
            .env("RESTIC_REPOSITORY", self.dir.join("repository"))
            .env("RESTIC_PASSWORD_FILE", self.dir.join("repo-password"))
            .env("RESTIC_CACHE_DIR", self.dir.join("restic-cache"))
            .envs(extra.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// A step that must succeed; what it printed.
    pub fn run(&self, region: &str, work: &str, step: &str, extra: &[(&str, &str)]) -> String {
        let o = self
            .step(region, work, step, extra)
            .wait_with_output()
            .unwrap();
        let out = text(&o);
        self.printed.borrow_mut().push_str(&out);
        assert!(o.status.success(), "{region} {step}: {out}");
        out
    }

    /// A whole backup in one region's pod: claim, files, record.
    pub fn backup(&self, region: &str, work: &str, extra: &[(&str, &str)]) -> String {
        ["claim", "files", "record"]
            .iter()
            .map(|s| self.run(region, work, s, extra))
            .collect()
    }

    /// SQL in the WordPress database, as root.
    pub fn wp(&self, q: &str) -> String {
        self.db.sql(&format!("USE wordpress; {q}")).unwrap()
    }

    /// restic against the site's repository; what it printed.
    pub fn restic(&self, args: &[&str]) -> String {
        let o = Command::new("restic")
            .args(args)
            .env("RESTIC_REPOSITORY", self.dir.join("repository"))
            .env("RESTIC_PASSWORD", REPO_PASSWORD)
            .env("RESTIC_CACHE_DIR", self.dir.join("restic-cache"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
