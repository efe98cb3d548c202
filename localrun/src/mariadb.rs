//! A MariaDB server of our own (Debian `mariadb-server`), standing in for
//! TiDB's SQL layer: TiDB binaries cannot be installed here. One server is
//! shared by every region of a demo or test, as the one TiDB cluster is; its
//! data, socket and logs live in a directory we own, the general query log
//! on (every statement a client sends).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A program found in the directories Debian installs it to.
pub fn program(name: &str, package: &str) -> Result<PathBuf, String> {
    for d in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = Path::new(d).join(name);
        if p.exists() {
            return Ok(p);
        }
    }
    Err(format!(
        "{name} is missing: install Debian's {package} (make test and make demo do: scripts/tools.sh)"
    ))
}

pub fn wait_port(addr: std::net::SocketAddr, limit: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub struct MariaDb {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
}

impl MariaDb {
    /// Initializes `dir` (once) and starts the server on 127.0.0.1:`port`,
    /// in TiDB's first state: `'root'@'%'` without a password is the only
    /// account a TCP client can be.
    pub fn start(dir: &Path, port: u16) -> Result<MariaDb, String> {
        let data = dir.join("data");
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let fresh = !data.join("mysql").exists();
        // a temporary directory of its own: servers bootstrapping at once in
        // one /tmp can remove each other's temporary tables
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        if fresh {
            let o = Command::new(program("mariadb-install-db", "mariadb-server")?)
                .env("TMPDIR", &tmp)
                .args(["--no-defaults", "--user=root", "--skip-test-db"])
                .arg(format!("--datadir={}", data.display()))
                .arg("--auth-root-authentication-method=normal")
                .output()
                .map_err(|e| format!("mariadb-install-db: {e}"))?;
            if !o.status.success() {
                return Err(format!(
                    "mariadb-install-db: {}",
                    String::from_utf8_lossy(&o.stderr)
                ));
            }
        }
        let child = Command::new(program("mariadbd", "mariadb-server")?)
            .arg("--no-defaults")
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.join("sock").display()))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .arg(format!("--port={port}"))
            .args([
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-name-resolve",
            ])
            .arg("--general-log=1")
            .arg(format!(
                "--general-log-file={}",
                dir.join("general.log").display()
            ))
            .arg(format!("--log-error={}", dir.join("error.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("mariadbd: {e}"))?;
        let db = MariaDb {
            child: Some(child),
            port,
            dir: dir.to_path_buf(),
        };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        if !wait_port(addr, Duration::from_secs(30)) {
            return Err(format!(
                "mariadbd did not listen on {addr}: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            ));
        }
        if fresh {
            db.like_a_new_tidb()?;
        }
        Ok(db)
    }

    /// Runs SQL as root over the socket; the rows, tab-separated.
    pub fn sql(&self, q: &str) -> Result<String, String> {
        let o = Command::new(program("mariadb", "mariadb-client")?)
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .args(["-uroot", "-N", "-B", "-e", q])
            .output()
            .map_err(|e| format!("mariadb: {e}"))?;
        if !o.status.success() {
            return Err(format!("{q}: {}", String::from_utf8_lossy(&o.stderr)));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// MariaDB's installer also makes root accounts for 127.0.0.1 and ::1,
    /// which would match TCP clients first; only the socket's
    /// `root@localhost` (ours) stays beside TiDB's `'root'@'%'`.
    fn like_a_new_tidb(&self) -> Result<(), String> {
        for host in self
            .sql("SELECT Host FROM mysql.user WHERE User = 'root'")?
            .lines()
        {
            if host != "localhost" {
                self.sql(&format!("DROP USER 'root'@'{host}'"))?;
            }
        }
        self.sql("CREATE USER 'root'@'%' IDENTIFIED BY ''; GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;")?;
        Ok(())
    }

    /// Runs a bootstrap script as the `tidb-bootstrap` Job does, against
    /// this server, with the site's passwords in `secrets`.
    pub fn bootstrap(&self, script: &str, secrets: &Path) -> Result<Output, String> {
        Command::new("/bin/sh")
            .args(["-c", script])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("TIDB_HOST", "127.0.0.1")
            .env("TIDB_PORT", self.port.to_string())
            .env("SECRETS_DIR", secrets)
            .env("TMPDIR", &self.dir)
            .output()
            .map_err(|e| format!("sh: {e}"))
    }

    /// The general query log so far.
    pub fn general_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("general.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server (by its PID) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the server to exit by itself (the `mariadb` command).
    pub fn wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.wait().ok())
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}
