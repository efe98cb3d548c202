//! geowp-localrun: runs the simulated regions' pods as processes (demo and
//! test machinery; see the library's docs). Exit codes: 0 done or stopped
//! by SIGTERM/SIGINT, 1 failed (the message says why), 2 bad arguments.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use geowp_localrun::{haproxy, mariadb, run, wordpress};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Runs the pods of fake clusters as processes on this machine (demo and test machinery)"
)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run one region's pods, as its kubelet and controllers would, until stopped.
    Run {
        /// The region's kubeconfig.
        #[arg(long)]
        kubeconfig: PathBuf,
        /// The region's name, for messages.
        #[arg(long)]
        name: String,
        /// Where pods and volumes live.
        #[arg(long)]
        dir: PathBuf,
        /// 127.N, the prefix its fake API server was given.
        #[arg(long)]
        ip_prefix: String,
        /// The MariaDB server standing in for TiDB's SQL layer.
        #[arg(long)]
        db: SocketAddr,
        /// Milliseconds of round trip from this region to the data's
        /// leaders (GEOWP_DEMO_RTT): each statement waits as it would in TiDB.
        #[arg(long, default_value_t = 0)]
        db_rtt_ms: u64,
        /// The open-files limit containers get, SOFT:HARD, as a container
        /// runtime sets it (tikv-server refuses to start below what it needs).
        #[arg(long, value_parser = nofile, default_value = "1024:524288")]
        container_nofile: (u64, u64),
    },
    /// Wait until process PID has exited, then become COMMAND (exec). The
    /// demo's tests run `demo.sh abandon` this way, so the demo's daemons
    /// never outlive a test that was killed.
    Watch {
        #[arg(long)]
        pid: i32,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Run the MariaDB server the regions share, until stopped.
    Mariadb {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        port: u16,
    },
    /// Write the load balancer's haproxy.cfg.
    HaproxyConfig {
        /// Where the site is served, IP:PORT.
        #[arg(long)]
        listen: String,
        /// The site's Host (host:port of its URL).
        #[arg(long)]
        host: String,
        #[arg(long, default_value = geowp_common::names::HEALTH_PATH)]
        health_path: String,
        /// NAME=WORDPRESS_IP:PORT[,DIRECT_IP:PORT], one per region.
        #[arg(long = "backend", required = true)]
        backends: Vec<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Install WordPress through its install page (as a person would) and
    /// check the admin can log in; prints the admin's password.
    InstallWordpress {
        #[arg(long)]
        site_url: String,
        #[arg(long, default_value = "geowp demo")]
        title: String,
        #[arg(long, default_value = "admin")]
        user: String,
        #[arg(long, default_value = "admin@example.com")]
        email: String,
        /// A file holding the password (made when it does not exist).
        #[arg(long)]
        password_file: PathBuf,
        /// How long to wait for the site to answer.
        #[arg(long, default_value = "120s", value_parser = parse_duration)]
        wait: Duration,
    },
}

/// `watch`: waits for `pid` to exit, then execs `command`.
fn watch(pid: i32, command: &[String]) -> ExitCode {
    use std::os::unix::process::CommandExt;
    match geowp_localrun::proc::PidWatch::open(pid) {
        Ok(Some(w)) => {
            if let Err(e) = w.wait() {
                return fail(format!("waiting for process {pid}: {e}"));
            }
        }
        Ok(None) => {}
        Err(e) => return fail(format!("cannot watch process {pid}: {e}")),
    }
    let e = std::process::Command::new(&command[0])
        .args(&command[1..])
        .exec();
    fail(format!("{}: {e}", command[0]))
}

/// SOFT:HARD open files.
fn nofile(s: &str) -> Result<(u64, u64), String> {
    let (soft, hard) = s
        .split_once(':')
        .ok_or("give SOFT:HARD, e.g. 1024:524288")?;
    let n = |v: &str| v.parse::<u64>().map_err(|e| format!("{v}: {e}"));
    let (soft, hard) = (n(soft)?, n(hard)?);
    if soft > hard {
        return Err(format!(
            "the soft limit {soft} is above the hard limit {hard}"
        ));
    }
    Ok((soft, hard))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    geowp_common::duration::parse(s).map_err(|e| e.to_string())
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("geowp-localrun: {msg}");
    ExitCode::from(1)
}

async fn stopped() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    match args.cmd {
        Cmd::Run {
            kubeconfig,
            name,
            dir,
            ip_prefix,
            db,
            db_rtt_ms,
            container_nofile,
        } => rt.block_on(async move {
            let text = match std::fs::read_to_string(&kubeconfig) {
                Ok(t) => t,
                Err(e) => return fail(format!("{}: {e}", kubeconfig.display())),
            };
            let conn = geowp_kube::Connection {
                kubeconfig: Some(text),
                ..Default::default()
            };
            let cancel = tokio_util::sync::CancellationToken::new();
            // a long-lived client: its deadline is years away
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10 * 365 * 86400);
            let cluster = match geowp_kube::connect(&conn, deadline, cancel.clone()).await {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            if let Err(e) = std::fs::create_dir_all(&dir) {
                return fail(format!("{}: {e}", dir.display()));
            }
            let cfg = run::Config {
                name,
                dir,
                prefix: ip_prefix,
                db,
                db_rtt: Duration::from_millis(db_rtt_ms),
                container_nofile,
            };
            let stop = cancel.clone();
            tokio::spawn(async move {
                stopped().await;
                stop.cancel();
            });
            run::Runtime::new(cfg, cluster).run(cancel).await;
            ExitCode::SUCCESS
        }),
        Cmd::Watch { pid, command } => watch(pid, &command),
        Cmd::Mariadb { dir, port } => {
            let mut db = match mariadb::MariaDb::start(&dir, port) {
                Ok(db) => db,
                Err(e) => return fail(e),
            };
            println!("listening on 127.0.0.1:{port}");
            rt.block_on(stopped());
            db.stop();
            ExitCode::SUCCESS
        }
        Cmd::HaproxyConfig {
            listen,
            host,
            health_path,
            backends,
            out,
        } => {
            let mut list = Vec::new();
            for b in &backends {
                let Some((name, rest)) = b.split_once('=') else {
                    eprintln!("geowp-localrun: --backend {b:?} is not NAME=IP:PORT[,IP:PORT]");
                    return ExitCode::from(2);
                };
                let (wp, direct) = match rest.split_once(',') {
                    Some((w, d)) => (w.to_string(), Some(d.to_string())),
                    None => (rest.to_string(), None),
                };
                list.push(haproxy::Backend {
                    name: name.into(),
                    wordpress: wp,
                    direct,
                });
            }
            match geowp_common::fs::atomic_write(
                &out,
                haproxy::config(&listen, &host, &health_path, &list).as_bytes(),
                0o644,
                false,
            ) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("{}: {e}", out.display())),
            }
        }
        Cmd::InstallWordpress {
            site_url,
            title,
            user,
            email,
            password_file,
            wait,
        } => {
            let Some(site) = wordpress::Site::of_url(&site_url) else {
                eprintln!(
                    "geowp-localrun: {site_url:?} is not http://IP:PORT/ (or a *.localhost name)"
                );
                return ExitCode::from(2);
            };
            let password = match std::fs::read_to_string(&password_file) {
                Ok(p) => p.trim().to_string(),
                Err(_) => {
                    let p = wordpress::password(20);
                    if let Err(e) =
                        geowp_common::fs::atomic_write(&password_file, p.as_bytes(), 0o600, false)
                    {
                        return fail(format!("{}: {e}", password_file.display()));
                    }
                    p
                }
            };
            let t = Instant::now();
            loop {
                match site.installed() {
                    Ok(true) => break,
                    Ok(false) => match site.install(&title, &user, &password, &email) {
                        Ok(()) => break,
                        Err(e) if t.elapsed() > wait => return fail(e),
                        Err(_) => {}
                    },
                    Err(e) if t.elapsed() > wait => {
                        return fail(format!("{site_url} did not answer in {wait:?}: {e}"))
                    }
                    Err(_) => {}
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            match site.log_in(&user, &password) {
                Ok(_) => {
                    println!("{password}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(format!("installed, but the admin cannot log in: {e}")),
            }
        }
    }
}
