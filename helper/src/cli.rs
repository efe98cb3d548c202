//! The `geowp-helper` command line: parsing and dispatch. Every expected
//! error is printed once, and its kind picks the exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::kubeconfig::{self, Input, MergeError};

/// geowp's helper: SyncThing identities and kubeconfig merging, outside Terraform.
///
/// Exit codes: 0 success; 1 the operation failed (file unreadable or unwritable);
/// 2 bad usage or bad input (not a kubeconfig, no such context).
#[derive(Parser, Debug)]
#[command(name = "geowp-helper", version)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// SyncThing identities.
    #[command(subcommand)]
    Syncthing(SyncthingCmd),
    /// Kubeconfig files.
    #[command(subcommand)]
    Kubeconfig(KubeconfigCmd),
}

#[derive(Subcommand, Debug)]
enum SyncthingCmd {
    /// Print the device ID of a certificate, as SyncThing computes it.
    DeviceId {
        /// PEM certificate (SyncThing's cert.pem).
        cert: PathBuf,
    },
    /// Make a new identity (cert.pem, key.pem) in DIR and print its device ID.
    Identity {
        /// Directory to write cert.pem and key.pem into (created if missing).
        dir: PathBuf,
        /// Replace an identity already there.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
enum KubeconfigCmd {
    /// Merge kubeconfigs into one standalone file with distinct contexts.
    ///
    /// Names that collide (three kubeadm clusters all called `kubernetes`) are
    /// prefixed with the input's label: its --name, else its file name without
    /// extension. Certificates and keys referenced by path are embedded. OUT is
    /// written atomically with mode 0600; an existing OUT is kept as OUT.bak.
    Merge {
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
        /// Labels for the inputs, in order (default: file names).
        #[arg(long = "name")]
        names: Vec<String>,
        /// Keep only this context.
        #[arg(long)]
        context: Option<String>,
        /// Set the current context.
        #[arg(long)]
        current: Option<String>,
        /// Cluster credentials as JSON (`{"NAME": {"host", "cluster_ca_certificate", "token"}}`,
        /// e.g. from `terraform output -json`), for clusters with no kubeconfig yet.
        #[arg(long = "json")]
        json: Vec<PathBuf>,
        /// Kubeconfig files.
        files: Vec<PathBuf>,
    },
}

fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("geowp-helper: {msg}");
    ExitCode::from(code)
}

fn merge_code(e: &MergeError) -> u8 {
    match e {
        MergeError::NotKubeconfig { .. } | MergeError::NoSuchContext(_) => 2,
        _ => 1,
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(&format!(": {x}"));
        src = x.source();
    }
    s
}

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.cmd {
        Cmd::Syncthing(SyncthingCmd::DeviceId { cert }) => {
            let pem = match std::fs::read_to_string(&cert) {
                Ok(p) => p,
                Err(e) => return fail(1, format!("cannot read {}: {e}", cert.display())),
            };
            match crate::syncthing::device_id_of_pem(&pem) {
                Ok(id) => {
                    println!("{id}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(2, format!("{}: {e}", cert.display())),
            }
        }
        Cmd::Syncthing(SyncthingCmd::Identity { dir, force }) => {
            if dir.join("key.pem").exists() && !force {
                return fail(
                    2,
                    format!(
                        "{} already holds an identity (key.pem); pass --force to replace it",
                        dir.display()
                    ),
                );
            }
            let id = match crate::syncthing::generate() {
                Ok(id) => id,
                Err(e) => return fail(1, chain(&e)),
            };
            if let Err(e) = std::fs::create_dir_all(&dir) {
                return fail(1, format!("cannot create {}: {e}", dir.display()));
            }
            if let Err(e) = kubeconfig::write_atomic(&dir.join("key.pem"), &id.key_pem)
                .and_then(|_| kubeconfig::write_atomic(&dir.join("cert.pem"), &id.cert_pem))
            {
                return fail(1, chain(&e));
            }
            let _ = std::fs::remove_file(dir.join("key.pem.bak"));
            println!("{}", id.device_id);
            ExitCode::SUCCESS
        }
        Cmd::Kubeconfig(KubeconfigCmd::Merge {
            output,
            names,
            context,
            current,
            json,
            files,
        }) => {
            if files.is_empty() && json.is_empty() {
                return fail(2, "give at least one kubeconfig FILE or --json FILE");
            }
            let mut inputs = Vec::new();
            for (i, f) in files.iter().enumerate() {
                match Input::read(f, names.get(i).map(String::as_str)) {
                    Ok(x) => inputs.push(x),
                    Err(e) => return fail(1, chain(&e)),
                }
            }
            for f in &json {
                let text = match std::fs::read_to_string(f) {
                    Ok(t) => t,
                    Err(e) => return fail(1, format!("cannot read {}: {e}", f.display())),
                };
                match kubeconfig::from_json(f, &text) {
                    Ok(x) => inputs.push(x),
                    Err(e) => return fail(merge_code(&e), chain(&e)),
                }
            }
            let merged = match kubeconfig::merge(&inputs, context.as_deref(), current.as_deref()) {
                Ok(m) => m,
                Err(e) => return fail(merge_code(&e), format!("{}; nothing written", chain(&e))),
            };
            match kubeconfig::write_atomic(&output, &merged) {
                Ok(()) => {
                    eprintln!("wrote {}", output.display());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(1, chain(&e)),
            }
        }
    }
}
