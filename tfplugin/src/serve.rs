//! Running a provider binary the way Terraform expects (go-plugin): check
//! the magic cookie, negotiate the protocol, listen on a unix socket, set up
//! AutoMTLS, print the one handshake line on stdout, then serve the provider
//! next to go-plugin's controller, stdio, broker and health services until
//! Terraform says Shutdown.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, Notify};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status};

use crate::proto::health::health_server::{Health, HealthServer};
use crate::proto::health::{
    health_check_response::ServingStatus, HealthCheckRequest, HealthCheckResponse,
};
use crate::proto::plugin::grpc_broker_server::{GrpcBroker, GrpcBrokerServer};
use crate::proto::plugin::grpc_controller_server::{GrpcController, GrpcControllerServer};
use crate::proto::plugin::grpc_stdio_server::{GrpcStdio, GrpcStdioServer};
use crate::proto::plugin::{ConnInfo, Empty, StdioData};
use crate::proto::tfplugin6::provider_server::ProviderServer as ProviderGrpc;
use crate::provider::{ProviderDef, ProviderServer};

pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
pub const PROTOCOL_VERSION: u32 = 6;

/// How a provider binary presents itself.
pub struct ServeOpts {
    /// Full provider address, e.g. `registry.terraform.io/geowp/geowp`.
    pub address: &'static str,
    /// Shown to a person who runs the binary by hand.
    pub about: &'static str,
    /// `@module` of log lines, e.g. `provider.geowp`.
    pub log_module: &'static str,
    pub version: &'static str,
}

/// The handshake line go-plugin reads from stdout.
pub fn handshake_line(socket: &Path, server_cert_der: Option<&[u8]>) -> String {
    use base64::Engine;
    let cert = server_cert_der
        .map(|d| base64::engine::general_purpose::STANDARD_NO_PAD.encode(d))
        .unwrap_or_default();
    format!("1|{PROTOCOL_VERSION}|unix|{}|grpc|{cert}", socket.display())
}

/// Picks our protocol from `PLUGIN_PROTOCOL_VERSIONS` (absent means ours).
pub fn negotiate(versions: Option<&str>) -> Result<u32, String> {
    let Some(v) = versions else {
        return Ok(PROTOCOL_VERSION);
    };
    if v.split(',')
        .any(|x| x.trim() == PROTOCOL_VERSION.to_string())
    {
        Ok(PROTOCOL_VERSION)
    } else {
        Err(format!(
            "this provider speaks plugin protocol {PROTOCOL_VERSION} (Terraform 1.0 or newer, OpenTofu), but the program that started it offers only {v:?}. Upgrade Terraform to 1.0 or newer."
        ))
    }
}

fn socket_path() -> PathBuf {
    let dir = std::env::var_os("PLUGIN_UNIX_SOCKET_DIR")
        .or_else(|| std::env::var_os("TMPDIR"))
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!(
        "plugin-geowp-{}-{nanos:09}.sock",
        std::process::id()
    ))
}

/// The whole `main` of a provider binary. Returns the process exit code.
pub fn main(def: impl FnOnce() -> ProviderDef, opts: ServeOpts) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let debug = args.iter().any(|a| a == "--debug" || a == "-debug");
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "{}\n\nUsage: {} [--debug | --version | --help]",
            opts.about,
            bin_name()
        );
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!("{} {}", bin_name(), opts.version);
        return ExitCode::SUCCESS;
    }
    if let Some(a) = args
        .iter()
        .find(|a| !matches!(a.as_str(), "--debug" | "-debug"))
    {
        eprintln!("{}: unknown argument {a:?}. Try --help.", bin_name());
        return ExitCode::from(2);
    }
    if !debug && std::env::var(MAGIC_COOKIE_KEY).as_deref() != Ok(MAGIC_COOKIE_VALUE) {
        eprintln!(
            "{}\n\nTo debug it, run `{} --debug` and follow what it prints.",
            opts.about,
            bin_name()
        );
        return ExitCode::from(1);
    }
    if !debug {
        if let Err(e) = negotiate(std::env::var("PLUGIN_PROTOCOL_VERSIONS").ok().as_deref()) {
            eprintln!("{}: {e}", bin_name());
            return ExitCode::from(1);
        }
    }
    crate::log::init(opts.log_module);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", bin_name());
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(def(), &opts, debug)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{}: {e}", bin_name());
            ExitCode::from(1)
        }
    }
}

fn bin_name() -> String {
    std::env::args()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "terraform-provider".into())
}

/// Removes the socket file when dropped.
struct SocketGuard(PathBuf);
impl Drop for SocketGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn run(def: ProviderDef, opts: &ServeOpts, debug: bool) -> Result<(), String> {
    let path = socket_path();
    let listener = UnixListener::bind(&path)
        .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    let guard = SocketGuard(path.clone());

    let tls = if debug {
        None
    } else {
        match std::env::var("PLUGIN_CLIENT_CERT") {
            Ok(pem) if !pem.trim().is_empty() => {
                Some(crate::tls::auto_mtls(&pem).map_err(|e| format!("AutoMTLS: {e}"))?)
            }
            _ => None,
        }
    };

    let shutdown = Arc::new(Notify::new());
    let (tx, rx) = mpsc::channel::<io::Result<Conn>>(16);
    let acceptor = tls
        .as_ref()
        .map(|t| tokio_rustls::TlsAcceptor::from(t.config.clone()));
    tokio::spawn(accept_loop(listener, acceptor, tx));

    let server = tonic::transport::Server::builder()
        .add_service(
            ProviderGrpc::new(ProviderServer::new(def))
                .max_decoding_message_size(256 << 20)
                .max_encoding_message_size(256 << 20),
        )
        .add_service(GrpcControllerServer::new(Controller {
            shutdown: shutdown.clone(),
            debug,
        }))
        .add_service(GrpcStdioServer::new(Stdio))
        .add_service(GrpcBrokerServer::new(Broker))
        .add_service(HealthServer::new(HealthSvc))
        .serve_with_incoming(ReceiverStream::new(rx));

    let parent = std::os::unix::process::parent_id();
    let signals = signals(debug);
    if debug {
        print_reattach(opts.address, &path);
    } else {
        let line = handshake_line(&path, tls.as_ref().map(|t| t.server_cert_der.as_slice()));
        let mut out = io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|_| out.flush())
            .map_err(|e| format!("cannot write the handshake: {e}"))?;
        drop(out);
        redirect_stdout_to_stderr();
    }
    tracing::debug!(socket = %path.display(), tls = tls.is_some(), "plugin serving");

    tokio::select! {
        r = server => r.map_err(|e| format!("gRPC server failed: {e}"))?,
        _ = shutdown.notified() => tracing::debug!("shutdown requested by Terraform"),
        _ = orphaned(parent), if !debug => tracing::warn!("Terraform went away; exiting"),
        _ = signals => {},
    }
    drop(guard);
    Ok(())
}

/// Completes when our parent process changes (Terraform died without Shutdown).
async fn orphaned(parent: u32) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if std::os::unix::process::parent_id() != parent {
            return;
        }
    }
}

/// SIGTERM ends the process. SIGINT reaches plugins with the terminal's Ctrl-C;
/// like go-plugin servers we ignore it (Terraform calls StopProvider and then
/// Shutdown), except in debug mode where it is how the person stops us.
fn signals(debug: bool) -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    // registered now, before the handshake line goes out, not at first poll
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            return std::future::pending().await;
        };
        loop {
            tokio::select! {
                _ = term.recv() => return,
                _ = int.recv() => if debug { return } else { tracing::debug!("ignoring SIGINT; waiting for Terraform") },
            }
        }
    }
}

fn redirect_stdout_to_stderr() {
    // Nothing may reach stdout after the handshake line.
    // SAFETY: dup2 on two descriptors this process has open from its start
    // (stderr, stdout); it touches no memory, and std offers no safe call
    // that re-points fd 1 for the whole process.
    unsafe {
        libc::dup2(2, 1);
    }
}

fn print_reattach(address: &str, path: &Path) {
    let v = serde_json::json!({
        address: {
            "Protocol": "grpc",
            "ProtocolVersion": PROTOCOL_VERSION,
            "Pid": std::process::id(),
            "Test": true,
            "Addr": {"Network": "unix", "String": path.display().to_string()},
        }
    });
    println!("Provider started in debug mode. To attach Terraform, run this in another shell:\n\n\tTF_REATTACH_PROVIDERS='{v}'\n\nPress Ctrl-C to stop the provider.");
    let _ = io::stdout().flush();
}

async fn accept_loop(
    listener: UnixListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    tx: mpsc::Sender<io::Result<Conn>>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                continue;
            }
        };
        let tx = tx.clone();
        match &tls {
            None => {
                if tx.send(Ok(Conn::Plain(stream))).await.is_err() {
                    return;
                }
            }
            Some(acc) => {
                let acc = acc.clone();
                tokio::spawn(async move {
                    match acc.accept(stream).await {
                        Ok(s) => {
                            let _ = tx.send(Ok(Conn::Tls(Box::new(s)))).await;
                        }
                        Err(e) => tracing::warn!("TLS handshake with Terraform failed: {e}"),
                    }
                });
            }
        }
    }
}

/// A connection from Terraform: plain or TLS over a unix socket.
pub enum Conn {
    Plain(UnixStream),
    Tls(Box<tokio_rustls::server::TlsStream<UnixStream>>),
}

impl Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

struct Controller {
    shutdown: Arc<Notify>,
    debug: bool,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _r: Request<Empty>) -> Result<Response<Empty>, Status> {
        if !self.debug {
            let n = self.shutdown.clone();
            // answer first, then stop: the client waits for this reply
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                n.notify_one();
            });
        }
        Ok(Response::new(Empty {}))
    }
}

struct Stdio;

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = tokio_stream::Pending<Result<StdioData, Status>>;
    async fn stream_stdio(
        &self,
        _r: Request<Empty>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        // We never write to stdout/stderr behind Terraform's back; logs go to
        // stderr as JSON lines, which go-plugin reads directly.
        Ok(Response::new(tokio_stream::pending()))
    }
}

struct Broker;

#[tonic::async_trait]
impl GrpcBroker for Broker {
    type StartStreamStream = ReceiverStream<Result<ConnInfo, Status>>;
    async fn start_stream(
        &self,
        r: Request<tonic::Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        // No sub-plugins are brokered; drain what the client sends until it closes.
        let mut inbound = r.into_inner();
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(async move {
            while let Ok(Some(_)) = inbound.message().await {}
            drop(tx);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

struct HealthSvc;

#[tonic::async_trait]
impl Health for HealthSvc {
    async fn check(
        &self,
        _r: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_line_has_six_fields_and_unpadded_cert() {
        let l = handshake_line(Path::new("/tmp/x.sock"), Some(&[1, 2, 3, 4]));
        assert_eq!(l, "1|6|unix|/tmp/x.sock|grpc|AQIDBA");
        assert_eq!(handshake_line(Path::new("/s"), None), "1|6|unix|/s|grpc|");
        assert_eq!(l.split('|').count(), 6);
    }

    #[test]
    fn negotiation_takes_six_or_refuses_clearly() {
        assert_eq!(negotiate(Some("5,6")), Ok(6));
        assert_eq!(negotiate(None), Ok(6));
        assert!(negotiate(Some("5"))
            .unwrap_err()
            .contains("Terraform to 1.0"));
    }
}
