//! geowp-fake-apiserver: one fake Kubernetes API server on 127.0.0.1, for
//! tests and `make demo`. Exit codes: 0 stopped by SIGINT/SIGTERM, 1 could
//! not start (the message says why), 2 bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fakeapi::{Behavior, Options};

/// A fake Kubernetes API server (HTTPS, bearer tokens) that keeps its objects
/// in a file and simulates controllers.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// Bearer token with full rights.
    #[arg(long, default_value = "geowp-fake-admin")]
    token: String,
    /// Bearer token that may only read (writes answer 403).
    #[arg(long)]
    readonly_token: Option<String>,
    /// File the objects persist in across restarts.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Directory holding the CA (kept across restarts so kubeconfigs stay valid).
    #[arg(long)]
    cert_dir: Option<PathBuf>,
    /// Cluster, context and user name in the kubeconfig.
    #[arg(long, default_value = "fake")]
    name: String,
    /// Write a kubeconfig for this server here.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// What simulated controllers do by default: ready, never-ready, fail,
    /// or external (workloads' status comes from outside, e.g. geowp-localrun).
    #[arg(long, default_value = "ready")]
    behavior: Behavior,
    /// Address prefix A.B (127.x): cluster IPs A.B.1.N, load balancers A.B.2.N.
    #[arg(long, value_parser = parse_prefix)]
    ip_prefix: Option<String>,
    /// Delay before simulated controllers act, e.g. 200ms or 2s.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    ready_delay: Duration,
    /// Latency added to every request, e.g. 50ms.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    latency: Duration,
}

fn parse_prefix(s: &str) -> Result<String, String> {
    match s.split_once('.') {
        Some(("127", b)) if b.parse::<u8>().is_ok() => Ok(s.to_string()),
        _ => Err(format!(
            "{s:?} is not 127.N (N from 0 to 255): the addresses must be this machine's"
        )),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    geowp_common::duration::parse(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("geowp-fake-apiserver: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        let opts = Options {
            addr: args.listen,
            token: args.token,
            readonly_token: args.readonly_token,
            data_file: args.data,
            cert_dir: args.cert_dir,
            name: args.name,
            behavior: args.behavior,
            ready_delay: args.ready_delay,
            latency: args.latency,
            event_log: 20_000,
            ip_prefix: args.ip_prefix,
            pd: None,
            journal: None,
            unpullable: Vec::new(),
        };
        let h = match fakeapi::start(opts).await {
            Ok(h) => h,
            Err(e) => {
                let mut msg = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg.push_str(&format!(": {s}"));
                    src = s.source();
                }
                eprintln!("geowp-fake-apiserver: {msg}");
                return ExitCode::from(1);
            }
        };
        if let Some(k) = &args.kubeconfig {
            if let Err(e) = std::fs::write(k, h.kubeconfig()) {
                eprintln!("geowp-fake-apiserver: cannot write {}: {e}", k.display());
                return ExitCode::from(1);
            }
        }
        println!("listening on {}", h.url());
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return ExitCode::from(1);
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        h.stop().await;
        ExitCode::SUCCESS
    })
}
