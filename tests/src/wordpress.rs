//! Real WordPress on a real MySQL-compatible server, as processes on this
//! machine: MariaDB (Debian `mariadb-server`) standing in for TiDB's SQL
//! layer, WordPress from Debian's `wordpress` package served by PHP's
//! built-in web server (`php-cli`, `php-mysql`), configured through the same
//! environment the official image reads. `scripts/tools.sh wordpress`
//! installs them. Each process is ours, started on a 127.0.0.1 port and
//! stopped by its PID.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use crate::syncthing::free_port;
use crate::KillOnDrop;

/// Where Debian installs WordPress.
pub const WORDPRESS_DIR: &str = "/usr/share/wordpress";

/// Our wp-config.php: the official image's environment contract.
pub const WP_CONFIG: &str = include_str!("wp-config.php");

fn need(path: &str, package: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.exists(),
        "{path} is missing: run `make test` (it installs Debian's {package}) or `scripts/tools.sh wordpress`"
    );
    p
}

/// A command found on PATH or in the sbin directories Debian uses.
fn sbin(name: &str, package: &str) -> PathBuf {
    for d in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = Path::new(d).join(name);
        if p.exists() {
            return p;
        }
    }
    need(&format!("/usr/sbin/{name}"), package)
}

fn wait_port(port: u16, limit: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A MariaDB server of our own: its data, socket and logs in `dir`, the
/// general query log on (every statement a client sends).
pub struct MariaDb {
    child: KillOnDrop,
    pub port: u16,
    pub dir: PathBuf,
}

impl MariaDb {
    pub fn start(dir: &Path) -> MariaDb {
        let data = dir.join("data");
        std::fs::create_dir_all(dir).unwrap();
        let install = Command::new(sbin("mariadb-install-db", "mariadb-server"))
            .args(["--no-defaults", "--user=root", "--skip-test-db"])
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal"])
            .output()
            .expect("run mariadb-install-db");
        assert!(
            install.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&install.stderr)
        );
        let port = free_port();
        let child = Command::new(sbin("mariadbd", "mariadb-server"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.join("sock").display()))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .arg(format!("--port={port}"))
            .args([
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-name-resolve",
            ])
            .args(["--general-log=1"])
            .arg(format!(
                "--general-log-file={}",
                dir.join("general.log").display()
            ))
            .arg(format!("--log-error={}", dir.join("error.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        let db = MariaDb {
            child: KillOnDrop(child),
            port,
            dir: dir.to_path_buf(),
        };
        assert!(
            wait_port(port, Duration::from_secs(30)),
            "mariadbd did not listen: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        db
    }

    /// Runs SQL as root over the socket; the rows, tab-separated.
    pub fn sql(&self, q: &str) -> String {
        let o = Command::new(sbin("mariadb", "mariadb-client"))
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .args(["-uroot", "-N", "-B", "-e", q])
            .output()
            .expect("run mariadb");
        assert!(
            o.status.success(),
            "{q}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// A database and a user with all rights on it, reachable over TCP.
    pub fn create_database(&self, name: &str, user: &str, password: &str) {
        self.sql(&format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4; CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'; GRANT ALL ON `{name}`.* TO '{user}'@'%';"
        ));
    }

    /// The state TiDB starts in: `'root'@'%'` with no password, the only
    /// account a TCP client can be (MariaDB's installer also makes root
    /// accounts for 127.0.0.1 and ::1, which would match first; only the
    /// socket's `root@localhost`, ours, stays).
    pub fn like_a_new_tidb(&self) {
        for host in self
            .sql("SELECT Host FROM mysql.user WHERE User = 'root'")
            .lines()
        {
            if host != "localhost" {
                self.sql(&format!("DROP USER 'root'@'{host}'"));
            }
        }
        self.sql("CREATE USER 'root'@'%' IDENTIFIED BY ''; GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;");
    }

    /// Runs geowp's TiDB bootstrap script (what the `tidb-bootstrap` Job
    /// runs) against this server with the site's passwords in `secrets`.
    pub fn bootstrap(&self, script: &str, secrets: &Path) -> Output {
        Command::new("/bin/sh")
            .args(["-c", script])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("TIDB_HOST", "127.0.0.1")
            .env("TIDB_PORT", self.port.to_string())
            .env("SECRETS_DIR", secrets)
            .env("TMPDIR", &self.dir)
            .output()
            .expect("run sh")
    }

    /// The general query log so far.
    pub fn general_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("general.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }
}

/// A WordPress document root in `dir` from Debian's package: the core files
/// linked (WordPress never writes them), our wp-config.php, a wp-content of
/// its own with the bundled theme, and `mu_plugins` (file name, source).
pub fn docroot(dir: &Path, mu_plugins: &[(&str, &str)]) -> PathBuf {
    let src = need(WORDPRESS_DIR, "wordpress");
    let root = dir.join("wordpress");
    std::fs::create_dir_all(&root).unwrap();
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        let name = e.file_name();
        let n = name.to_string_lossy();
        if matches!(n.as_ref(), "wp-config.php" | "wp-content" | ".htaccess") {
            continue;
        }
        copy_tree(&e.path(), &root.join(&name), true);
    }
    let content = root.join("wp-content");
    for sub in ["themes", "plugins"] {
        copy_tree(&src.join("wp-content").join(sub), &content.join(sub), false);
    }
    std::fs::create_dir_all(content.join("uploads")).unwrap();
    let mu = content.join("mu-plugins");
    std::fs::create_dir_all(&mu).unwrap();
    for (name, text) in mu_plugins {
        std::fs::write(mu.join(name), text).unwrap();
    }
    std::fs::write(root.join("wp-config.php"), WP_CONFIG).unwrap();
    root
}

/// Copies a file or tree; `link` hard-links files where the filesystem
/// allows (read-only use), else copies them.
fn copy_tree(from: &Path, to: &Path, link: bool) {
    let meta = std::fs::symlink_metadata(from).unwrap();
    if meta.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            copy_tree(&e.path(), &to.join(e.file_name()), link);
        }
    } else if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from).unwrap();
        let _ = std::os::unix::fs::symlink(target, to);
    } else if !link || std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).unwrap();
    }
}

/// The environment of a WordPress container (name, value).
pub type Env = Vec<(String, String)>;

/// PHP's built-in web server on a 127.0.0.1 port, serving `root` with `env`.
pub struct PhpServer {
    child: KillOnDrop,
    pub port: u16,
}

impl PhpServer {
    /// Starts on `port` (pick one with [`free_port`]; WordPress must know
    /// its own address before it starts).
    pub fn start(root: &Path, env: &Env, log: &Path, port: u16) -> PhpServer {
        let out = std::fs::File::create(log).unwrap();
        let child = Command::new(need("/usr/bin/php", "php-cli"))
            .args(["-S", &format!("127.0.0.1:{port}"), "-t"])
            .arg(root)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(env.iter().map(|(k, v)| (k, v)))
            // a few workers: WordPress pages load their own styles
            .env("PHP_CLI_SERVER_WORKERS", "2")
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start php -S");
        assert!(
            wait_port(port, Duration::from_secs(20)),
            "php -S did not listen"
        );
        PhpServer {
            child: KillOnDrop(child),
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }
}

/// Runs a PHP script with WordPress loaded (`$root/wp-load.php`) and `env`;
/// `installing` loads it as its installer does (before any table exists).
pub fn php_with_wordpress(root: &Path, env: &Env, installing: bool, script: &str) -> Output {
    let file = root.join(format!("geowp-cli-{}.php", std::process::id()));
    let mode = if installing {
        "define('WP_INSTALLING', true);\n"
    } else {
        ""
    };
    std::fs::write(
        &file,
        format!(
            "<?php\n$_SERVER['HTTP_HOST'] = 'localhost';\n{mode}require __DIR__ . '/wp-load.php';\n{script}\n"
        ),
    )
    .unwrap();
    let o = Command::new(need("/usr/bin/php", "php-cli"))
        .arg(&file)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(root)
        .output()
        .expect("run php");
    let _ = std::fs::remove_file(&file);
    o
}

/// One HTTP/1.0 exchange: status, headers (lower-cased names), body.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// Every `Set-Cookie` as `name=value`.
    pub fn cookies(&self) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next().map(str::to_string))
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request to 127.0.0.1:`port` and reads the whole answer.
pub fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("Connection: close\r\n\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_string(),
    }
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub fn form(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Logs in through wp-login.php; the cookies of the session.
pub fn log_in(port: u16, user: &str, password: &str) -> String {
    let test_cookie = "wordpress_test_cookie=WP%20Cookie%20check";
    let r = http(
        port,
        "POST",
        "/wp-login.php",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", test_cookie),
        ],
        &form(&[
            ("log", user),
            ("pwd", password),
            ("wp-submit", "Log In"),
            ("testcookie", "1"),
        ]),
    );
    assert_eq!(
        r.status,
        302,
        "login failed ({}): {}",
        r.status,
        &r.body[..r.body.len().min(2000)]
    );
    let mut c = r.cookies();
    c.push(test_cookie.to_string());
    c.join("; ")
}
