//! Real WordPress on a real MySQL-compatible server, as processes on this
//! machine, from geowp-localrun (the demo's runtime): MariaDB standing in
//! for TiDB's SQL layer, Debian's WordPress under PHP's web server,
//! configured through the environment the official image reads.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use crate::syncthing::free_port;
pub use geowp_localrun::http::{self, form, Request, Response};
pub use geowp_localrun::mariadb::MariaDb;
pub use geowp_localrun::proc::Group;
pub use geowp_localrun::wordpress::{php_with_wordpress, Env, Site};

/// A document root in `dir/wordpress` with its own wp-content holding
/// `mu_plugins` (file name, source).
pub fn docroot(dir: &Path, mu_plugins: &[(&str, &str)]) -> PathBuf {
    docroot_with(dir, mu_plugins, &[])
}

/// [`docroot`], with `drop_ins` (path in wp-content, source) as well, as
/// geowp installs them (`db.php`).
pub fn docroot_with(dir: &Path, mu_plugins: &[(&str, &str)], drop_ins: &[(&str, &str)]) -> PathBuf {
    let root = dir.join("wordpress");
    let content = root.join("wp-content");
    geowp_localrun::wordpress::docroot(&root, &content).unwrap_or_else(|e| panic!("{e}"));
    let mu = content.join("mu-plugins");
    std::fs::create_dir_all(&mu).unwrap();
    for (name, text) in mu_plugins {
        std::fs::write(mu.join(name), text).unwrap();
    }
    for (path, text) in drop_ins {
        std::fs::write(content.join(path), text).unwrap();
    }
    root
}

/// geowp's drop-ins as [`docroot_with`] takes them.
pub fn geowp_drop_ins() -> Vec<(&'static str, &'static str)> {
    geowp_stack::render::DROP_INS
        .iter()
        .map(|(path, _, text)| (*path, *text))
        .collect()
}

/// PHP's web server on 127.0.0.1:`port` serving `root` with `env`; stopped
/// (with its workers) when dropped.
pub struct PhpServer {
    _group: Group,
    pub port: u16,
}

impl PhpServer {
    pub fn start(root: &Path, env: &Env, log: &Path, port: u16) -> PhpServer {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut cmd = geowp_localrun::wordpress::php_server(root, addr, env)
            .unwrap_or_else(|e| panic!("{e}"));
        let out = std::fs::File::create(log).unwrap();
        cmd.stdout(out.try_clone().unwrap()).stderr(out);
        let g = Group::spawn(cmd).expect("start php -S");
        assert!(
            geowp_localrun::mariadb::wait_port(addr, std::time::Duration::from_secs(20)),
            "php -S did not listen"
        );
        PhpServer { _group: g, port }
    }

    pub fn site(&self) -> Site {
        Site {
            addr: SocketAddr::from(([127, 0, 0, 1], self.port)),
            host: format!("127.0.0.1:{}", self.port),
        }
    }
}
