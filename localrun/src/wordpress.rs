//! WordPress from Debian's `wordpress` package (6.1), served by PHP's
//! built-in web server (`php-cli`, `php-mysql`) with a wp-config.php that
//! reads the environment the official image documents (`WORDPRESS_*`, and
//! `NAME_FILE` for any of them), so a container's environment configures it
//! as it would configure the image.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::http::{self, Request};

/// Where Debian installs WordPress.
pub const WORDPRESS_DIR: &str = "/usr/share/wordpress";

/// Our wp-config.php: the official image's environment contract.
pub const WP_CONFIG: &str = include_str!("wp-config.php");

/// A document root in `root` from Debian's package: core files linked
/// (WordPress never writes them), our wp-config.php, and `wp-content` at
/// `content` (a directory of its own, or a shared volume), given the bundled
/// themes and plugins when it has none, as the official image's entrypoint
/// does with an empty volume.
pub fn docroot(root: &Path, content: &Path) -> Result<(), String> {
    let src = Path::new(WORDPRESS_DIR);
    if !src.join("wp-settings.php").exists() {
        return Err(format!(
            "{WORDPRESS_DIR} is missing: install Debian's wordpress (make test and make demo do: scripts/tools.sh)"
        ));
    }
    let io = |e: std::io::Error| format!("{}: {e}", root.display());
    std::fs::create_dir_all(root).map_err(io)?;
    for e in std::fs::read_dir(src).map_err(io)?.flatten() {
        let name = e.file_name();
        let n = name.to_string_lossy();
        if matches!(n.as_ref(), "wp-config.php" | "wp-content" | ".htaccess") {
            continue;
        }
        copy_tree(&e.path(), &root.join(&name), true).map_err(io)?;
    }
    std::fs::create_dir_all(content).map_err(io)?;
    for sub in ["themes", "plugins"] {
        if !content.join(sub).exists() {
            copy_tree(&src.join("wp-content").join(sub), &content.join(sub), false).map_err(io)?;
        }
    }
    let link = root.join("wp-content");
    if link.symlink_metadata().is_err() {
        if content == link {
            // already in place
        } else {
            std::os::unix::fs::symlink(content, &link).map_err(io)?;
        }
    }
    std::fs::write(root.join("wp-config.php"), WP_CONFIG).map_err(io)?;
    Ok(())
}

/// `at` made to show `dir`, as a bind mount would: a symbolic link (an
/// empty directory in its place is replaced; one already pointing there
/// stays).
pub fn bind(dir: &Path, at: &Path) -> Result<(), String> {
    let io = |e: std::io::Error| format!("{}: {e}", at.display());
    if let Ok(target) = std::fs::read_link(at) {
        if target == dir {
            return Ok(());
        }
        std::fs::remove_file(at).map_err(io)?;
    } else if at.is_dir() {
        // only an empty directory is replaced: files are never thrown away
        std::fs::remove_dir(at).map_err(io)?;
    }
    if let Some(parent) = at.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::os::unix::fs::symlink(dir, at).map_err(io)
}

/// Copies a file or tree; `link` hard-links files where the filesystem
/// allows (read-only use), else copies them. A symbolic link is copied as
/// what it points to: Debian's package links files into other packages
/// with relative paths (`wp-includes/js/underscore.min.js` ->
/// `../../../javascript/underscore/underscore.min.js`), which point nowhere
/// from a copy, as they would from an image's tree; a link to nothing is
/// left out.
pub fn copy_tree(from: &Path, to: &Path, link: bool) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    if meta.is_dir() {
        std::fs::create_dir_all(to)?;
        for e in std::fs::read_dir(from)?.flatten() {
            copy_tree(&e.path(), &to.join(e.file_name()), link)?;
        }
    } else if meta.file_type().is_symlink() {
        // relative targets are relative to the link's directory
        let target = from
            .parent()
            .unwrap_or(Path::new("/"))
            .join(std::fs::read_link(from)?);
        if let Ok(real) = std::fs::canonicalize(&target) {
            copy_tree(&real, to, link)?;
        }
    } else if !to.exists() && (!link || std::fs::hard_link(from, to).is_err()) {
        std::fs::copy(from, to)?;
    }
    Ok(())
}

/// The environment of a WordPress container (name, value).
pub type Env = Vec<(String, String)>;

/// The router PHP's built-in server runs for every request: a path that
/// names a file or directory of the tree is served as it is, any other goes
/// to WordPress's index.php, as the official image's Apache does with
/// WordPress's .htaccess (`RewriteCond %{REQUEST_FILENAME} !-f`, `!-d`,
/// `RewriteRule . /index.php`). Without it the built-in server answers 404
/// itself for a missing file with an extension (`/favicon.ico`, which
/// WordPress answers with its icon) and pretty permalinks never reach
/// WordPress.
pub const ROUTER: &str = r#"<?php
$path = urldecode(parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) ?? '/');
if (file_exists($_SERVER['DOCUMENT_ROOT'] . $path)) {
    return false;
}
$_SERVER['SCRIPT_NAME'] = '/index.php';
$_SERVER['SCRIPT_FILENAME'] = $_SERVER['DOCUMENT_ROOT'] . '/index.php';
$_SERVER['PHP_SELF'] = '/index.php';
require $_SERVER['DOCUMENT_ROOT'] . '/index.php';
"#;

/// Where [`php_server`] keeps its router: beside the tree, not in it.
fn router_path(root: &Path) -> std::path::PathBuf {
    root.with_file_name(format!(
        "{}-router.php",
        root.file_name()
            .map_or("html".into(), |n| n.to_string_lossy())
    ))
}

/// `php -S ADDR -t ROOT ROUTER` with `env` and a few workers.
pub fn php_server(root: &Path, addr: SocketAddr, env: &Env) -> Result<Command, String> {
    let php = crate::mariadb::program("php", "php-cli")?;
    let router = router_path(root);
    std::fs::write(&router, ROUTER).map_err(|e| format!("{}: {e}", router.display()))?;
    let mut c = Command::new(php);
    c.args(["-S", &addr.to_string(), "-t"])
        .arg(root)
        .arg(&router)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().map(|(k, v)| (k, v)))
        // a few workers: a page loads its styles and scripts beside it
        .env("PHP_CLI_SERVER_WORKERS", "4")
        .current_dir(root);
    Ok(c)
}

/// Runs a PHP script with WordPress loaded (`$root/wp-load.php`) and `env`;
/// `installing` loads it as its installer does (before any table exists).
pub fn php_with_wordpress(
    root: &Path,
    env: &Env,
    installing: bool,
    script: &str,
) -> Result<Output, String> {
    let file = root.join(format!("geowp-cli-{}.php", std::process::id()));
    let mode = if installing {
        "define('WP_INSTALLING', true);\n"
    } else {
        ""
    };
    std::fs::write(
        &file,
        format!("<?php\n$_SERVER['HTTP_HOST'] = 'localhost';\n{mode}require __DIR__ . '/wp-load.php';\n{script}\n"),
    )
    .map_err(|e| format!("{}: {e}", file.display()))?;
    let o = Command::new(crate::mariadb::program("php", "php-cli")?)
        .arg(&file)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(root)
        .output()
        .map_err(|e| format!("php: {e}"));
    let _ = std::fs::remove_file(&file);
    o
}

/// A WordPress site reached at `addr` with `Host: host`.
#[derive(Clone, Debug)]
pub struct Site {
    pub addr: SocketAddr,
    pub host: String,
}

const TIMEOUT: Duration = Duration::from_secs(60);

impl Site {
    /// From a URL `http://HOST[:PORT]/` whose host is an IP address, or
    /// `localhost` or a name under it (which is 127.0.0.1, RFC 6761).
    pub fn of_url(url: &str) -> Option<Site> {
        let (host, _) = http::split_url(url)?;
        let (name, port) = match host.rsplit_once(':') {
            Some((n, p)) => (n, p.parse::<u16>().ok()?),
            None => (host.as_str(), 80),
        };
        let addr = if name == "localhost" || name.ends_with(".localhost") {
            SocketAddr::from(([127, 0, 0, 1], port))
        } else {
            SocketAddr::new(name.parse().ok()?, port)
        };
        Some(Site { addr, host })
    }

    /// The same site through another address (another region), with the
    /// site's own Host header.
    pub fn via(&self, addr: SocketAddr) -> Site {
        Site {
            addr,
            host: self.host.clone(),
        }
    }

    pub fn send(&self, req: &Request<'_>) -> std::io::Result<http::Response> {
        http::send(self.addr, Some(&self.host), req, TIMEOUT)
    }

    pub fn get(&self, path: &str, cookies: &str) -> std::io::Result<http::Response> {
        let mut r = Request::get(path);
        if !cookies.is_empty() {
            r = r.header("Cookie", cookies);
        }
        self.send(&r)
    }

    /// Whether WordPress is installed (its install page says so).
    pub fn installed(&self) -> std::io::Result<bool> {
        let r = self.get("/wp-admin/install.php", "")?;
        Ok(r.text().contains("already installed"))
    }

    /// Installs WordPress through its install page, as a person would.
    pub fn install(
        &self,
        title: &str,
        user: &str,
        password: &str,
        email: &str,
    ) -> Result<(), String> {
        let body = http::form(&[
            ("weblog_title", title),
            ("user_name", user),
            ("admin_password", password),
            ("admin_password2", password),
            ("pw_weak", "1"),
            ("admin_email", email),
            ("blog_public", "0"),
            ("Submit", "Install WordPress"),
        ]);
        let r = self
            .send(&Request::post(
                "/wp-admin/install.php?step=2",
                "application/x-www-form-urlencoded",
                body.as_bytes(),
            ))
            .map_err(|e| format!("install page: {e}"))?;
        let text = r.text();
        if r.status == 200 && (text.contains("Success!") || text.contains("already installed")) {
            Ok(())
        } else {
            Err(format!(
                "the install page answered {}: {}",
                r.status,
                &text[..text.len().min(600)]
            ))
        }
    }

    /// Logs in through wp-login.php; the session's cookies.
    pub fn log_in(&self, user: &str, password: &str) -> Result<String, String> {
        let test_cookie = "wordpress_test_cookie=WP%20Cookie%20check";
        let body = http::form(&[
            ("log", user),
            ("pwd", password),
            ("wp-submit", "Log In"),
            ("testcookie", "1"),
        ]);
        let r = self
            .send(
                &Request::post(
                    "/wp-login.php",
                    "application/x-www-form-urlencoded",
                    body.as_bytes(),
                )
                .header("Cookie", test_cookie),
            )
            .map_err(|e| format!("wp-login.php: {e}"))?;
        if r.status != 302 {
            return Err(format!("login failed ({})", r.status));
        }
        let mut c = r.cookies();
        c.push(test_cookie.to_string());
        Ok(c.join("; "))
    }
}

/// A random password of `n` letters and digits.
pub fn password(n: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut r = rand::rng();
    (0..n)
        .map(|_| CHARS[r.random_range(0..CHARS.len())] as char)
        .collect()
}

#[cfg(test)]
mod bind_tests {
    use super::bind;

    #[test]
    fn a_volume_inside_another_shows_as_the_runtime_would_mount_it() {
        let t = tempfile::tempdir().unwrap();
        let shared = t.path().join("claim/uploads");
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::write(shared.join("photo.png"), b"png").unwrap();
        let own = t.path().join("pod/wp-content");
        // the image's copy made an empty uploads directory: replaced
        std::fs::create_dir_all(own.join("uploads")).unwrap();
        bind(&shared, &own.join("uploads")).unwrap();
        assert_eq!(
            std::fs::read(own.join("uploads/photo.png")).unwrap(),
            b"png"
        );
        // again: nothing to do
        bind(&shared, &own.join("uploads")).unwrap();
        // a directory with files in it is never replaced
        let full = t.path().join("pod/wp-content/languages");
        std::fs::create_dir_all(&full).unwrap();
        std::fs::write(full.join("de.mo"), b"x").unwrap();
        assert!(bind(&shared, &full).is_err());
        assert!(full.join("de.mo").exists());
    }
}
