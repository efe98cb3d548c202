//! The `geowp-helper` command line: parsing and dispatch. Every expected
//! error is printed once, and its kind picks the exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use geowp_common::error_chain;
use geowp_kubeconfig::{self as kubeconfig, Input, MergeError};
use geowp_syncthing::group::{self, Settings};

use crate::exit::Exit;
use crate::sync::{self, KubeTarget, LiveSpec, SyncError};

/// geowp's helper: the SyncThing replication group, SyncThing identities and
/// kubeconfig merging, outside Terraform.
///
/// Exit codes: 0 success; 1 the operation failed (a file unreadable or
/// unwritable, a member unreachable or refusing a write); 2 bad usage or bad
/// input (not a kubeconfig, no such context, a malformed address); 3 a status
/// command reached everything but it is not healthy (`sync status`: a member
/// not in sync or not connected).
#[derive(Parser, Debug)]
#[command(name = "geowp-helper", version)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// The SyncThing replication group: device exchange and status.
    #[command(subcommand)]
    Sync(SyncCmd),
    /// SyncThing identities.
    #[command(subcommand)]
    Syncthing(SyncthingCmd),
    /// Kubeconfig files.
    #[command(subcommand)]
    Kubeconfig(KubeconfigCmd),
    /// The whole site across its clusters.
    #[command(subcommand)]
    Site(SiteCmd),
}

#[derive(Subcommand, Debug)]
enum SiteCmd {
    /// One table for the site: per region WordPress ready replicas, PD
    /// member health and leader, TiKV store state and leader count, the
    /// SyncThing group config and pod, and certificate expiry. PD is asked
    /// with pd-ctl run as a short-lived Job in the first region that
    /// answers, so only the Kubernetes API must be reachable. Exit 3 when
    /// anything is unhealthy (a region not answering included).
    Status {
        #[command(flatten)]
        members: Members,
        #[command(flatten)]
        settings: GroupSettings,
    },
    /// Back the site up now (database and wp-content), as the scheduled
    /// backups do: a Job from the stack's `geowp-backup` CronJob in the
    /// first region that answers. Prints the backup's name, which `site
    /// restore --backup` takes.
    Backup {
        #[command(flatten)]
        members: Members,
        /// The backup's name (letters, digits, '-'). Default:
        /// manual-<UTC time>.
        #[arg(long = "backup-name")]
        name: Option<String>,
        /// Give up after this long (e.g. 30m).
        #[arg(long, default_value = "1h", value_parser = sync::parse_duration)]
        wait: Duration,
    },
    /// Restore the whole site from a backup: the database and wp-content's
    /// files, with WordPress in maintenance in every region meanwhile (it
    /// answers 503; visitors get the page cache's stored pages). A Job from
    /// the stack's `geowp-restore` template in the first region that
    /// answers; the other regions receive the files through SyncThing.
    /// Files created after the backup stay; tables are replaced by the
    /// backup's.
    Restore {
        #[command(flatten)]
        members: Members,
        /// `latest` (the last finished backup) or a backup's name, as
        /// `site status` and `site backup` print it.
        #[arg(long, default_value = "latest")]
        backup: String,
        /// Give up after this long (e.g. 30m).
        #[arg(long, default_value = "1h", value_parser = sync::parse_duration)]
        wait: Duration,
    },
}

#[derive(Subcommand, Debug)]
enum SyncCmd {
    /// Join members into one replication group: each learns every other
    /// member's device ID and address and shares the folder with it.
    ///
    /// Kubernetes mode (`--kubeconfig`, stacks made by geowp): writes the
    /// same `syncthing-group` Secret and pod-template stamp as the
    /// `geowp_sync_group` resource, through each cluster's API server; each
    /// SyncThing pod restarts with its new config. Use it for stacks
    /// installed without Terraform, or to repair a group.
    ///
    /// REST mode (`--api URL --api-key KEY` per member, SyncThing installs
    /// geowp did not make): adds the devices and shares the folder through
    /// SyncThing's REST API, applied live without a restart.
    ///
    /// Both are idempotent: running it again changes nothing.
    Exchange {
        #[command(flatten)]
        members: Members,
        #[command(flatten)]
        settings: GroupSettings,
    },
    /// Per member: connected peers and folder completion (REST mode), or
    /// whether its group config is as the group would write it and its pod
    /// is ready (Kubernetes mode). Exit 3 when not healthy.
    Status {
        #[command(flatten)]
        members: Members,
        #[command(flatten)]
        settings: GroupSettings,
        /// Keep polling (REST mode) until healthy, for at most this long.
        #[arg(long, value_parser = sync::parse_duration)]
        wait: Option<Duration>,
    },
}

/// The group's folder settings (Kubernetes mode): the same as the
/// resource's, so status compares with what Terraform would write.
#[derive(Args, Debug)]
struct GroupSettings {
    /// Folder label (Kubernetes mode). Default: the folder id.
    #[arg(long)]
    folder_label: Option<String>,
    /// Full rescan period in seconds (Kubernetes mode), as the resource's
    /// `rescan_interval_seconds`.
    #[arg(long, default_value_t = group::DEFAULT_RESCAN_S, value_parser = clap::value_parser!(u32).range(5..=86400))]
    rescan_interval: u32,
    /// Delay in seconds after a change before it syncs (Kubernetes mode), as
    /// the resource's `watcher_delay_seconds`.
    #[arg(long, default_value_t = group::DEFAULT_WATCHER_DELAY_S, value_parser = clap::value_parser!(u32).range(1..=600))]
    watcher_delay: u32,
}

impl GroupSettings {
    fn for_folder(&self, folder: &str) -> Settings {
        Settings {
            folder_id: folder.to_string(),
            folder_label: self
                .folder_label
                .clone()
                .unwrap_or_else(|| folder.to_string()),
            rescan_interval_s: self.rescan_interval,
            watcher_delay_s: self.watcher_delay,
        }
    }
}

/// Who is in the group, and how to reach them.
#[derive(Args, Debug)]
struct Members {
    /// Kubernetes mode: a kubeconfig with every member's cluster (e.g. made
    /// by `geowp-helper kubeconfig merge`).
    #[arg(long, conflicts_with = "apis")]
    kubeconfig: Option<PathBuf>,
    /// A member's context in --kubeconfig; repeat for each member. Default:
    /// every context of the file. The member is named after it.
    #[arg(long = "context", requires = "kubeconfig")]
    contexts: Vec<String>,
    /// Namespace of the stacks (Kubernetes mode).
    #[arg(long, default_value = group::DEFAULT_NAMESPACE)]
    namespace: String,
    /// REST mode: a member's SyncThing GUI/REST address, `http://host:port`;
    /// repeat for each member.
    #[arg(long = "api")]
    apis: Vec<String>,
    /// The API key of each --api, in the same order (`<apikey>` in its
    /// config.xml). `@FILE` reads it from FILE, which keeps it out of `ps`.
    #[arg(long = "api-key")]
    api_keys: Vec<String>,
    /// Member names, in the order of --context or --api. Default: the
    /// context, or the name the device gives itself.
    #[arg(long = "name")]
    names: Vec<String>,
    /// `NAME=tcp://host:port`: where the other members reach member NAME.
    /// Default: the load-balancer address of its `syncthing` Service
    /// (Kubernetes mode), or its first TCP listen address with the --api
    /// host for an unspecified one (REST mode).
    #[arg(long = "address")]
    addresses: Vec<String>,
    /// SyncThing folder id shared by the group.
    #[arg(long, default_value = group::DEFAULT_FOLDER)]
    folder: String,
    /// Give up on a member after this long (e.g. 30s, 2m).
    #[arg(long, default_value = "60s", value_parser = sync::parse_duration)]
    timeout: Duration,
}

enum Mode {
    Kube(KubeTarget),
    Live(Vec<LiveSpec>),
}

impl Members {
    fn mode(&self) -> Result<Mode, SyncError> {
        let mut addresses = sync::parse_addresses(&self.addresses)?;
        if let Some(k) = &self.kubeconfig {
            let contexts = if self.contexts.is_empty() {
                sync::read_kubeconfig(k)?.1
            } else {
                self.contexts.clone()
            };
            if contexts.len() < 2 {
                return Err(SyncError::Usage(format!(
                    "a group needs at least 2 members; {} gives {}",
                    k.display(),
                    contexts.len()
                )));
            }
            if !self.names.is_empty() && self.names.len() != contexts.len() {
                return Err(SyncError::Usage(format!(
                    "{} --name for {} members",
                    self.names.len(),
                    contexts.len()
                )));
            }
            let members: Vec<(String, String)> = contexts
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    (
                        self.names.get(i).cloned().unwrap_or_else(|| c.clone()),
                        c.clone(),
                    )
                })
                .collect();
            if let Some(n) = addresses
                .keys()
                .find(|n| !members.iter().any(|(m, _)| m == *n))
            {
                return Err(SyncError::Usage(format!(
                    "--address names {n:?}, which is not a member"
                )));
            }
            return Ok(Mode::Kube(KubeTarget {
                kubeconfig: k.clone(),
                members,
                namespace: self.namespace.clone(),
                addresses,
            }));
        }
        if self.apis.is_empty() {
            return Err(SyncError::Usage(
                "say who is in the group: --kubeconfig FILE [--context C]..., or --api URL --api-key KEY per member".into(),
            ));
        }
        if self.api_keys.len() != self.apis.len() {
            return Err(SyncError::Usage(format!(
                "{} --api but {} --api-key: give one key per member, in the same order",
                self.apis.len(),
                self.api_keys.len()
            )));
        }
        if !self.names.is_empty() && self.names.len() != self.apis.len() {
            return Err(SyncError::Usage(format!(
                "{} --name for {} --api",
                self.names.len(),
                self.apis.len()
            )));
        }
        let mut specs = Vec::new();
        for (i, (u, k)) in self.apis.iter().zip(&self.api_keys).enumerate() {
            let name = self.names.get(i).cloned();
            let address = name.as_ref().and_then(|n| addresses.remove(n));
            specs.push(LiveSpec {
                url: u.clone(),
                key: sync::read_key(k)?,
                name,
                address,
            });
        }
        if let Some(n) = addresses.keys().next() {
            return Err(SyncError::Usage(format!(
                "--address names {n:?}, which is not a --name of a member"
            )));
        }
        Ok(Mode::Live(specs))
    }
}

/// Runs an async command on a small runtime, cancelled by Ctrl-C, and
/// prints its report: the one place sync and site commands end.
fn run_async<F, Fut>(work: F) -> ExitCode
where
    F: FnOnce(tokio_util::sync::CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>, SyncError>>,
{
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(Exit::Failed, format!("cannot start the async runtime: {e}")),
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    let r = rt.block_on(async {
        let c = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                c.cancel();
            }
        });
        let work = work(cancel.clone());
        tokio::select! {
            r = work => r,
            _ = cancel.cancelled() => Err(SyncError::Failed("interrupted; run it again (it is idempotent)".into())),
        }
    });
    match r {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            ExitCode::SUCCESS
        }
        Err(SyncError::Unhealthy { report, why }) => {
            for l in report {
                println!("{l}");
            }
            fail(Exit::Unhealthy, why)
        }
        Err(e) => fail(e.exit(), e),
    }
}

fn run_sync(cmd: SyncCmd) -> ExitCode {
    run_async(|cancel| async move {
        match cmd {
            SyncCmd::Exchange { members, settings } => match members.mode()? {
                Mode::Kube(t) => {
                    let s = settings.for_folder(&members.folder);
                    sync::exchange_kube(&t, &s, members.timeout, cancel).await
                }
                Mode::Live(specs) => {
                    sync::exchange_live(specs, &members.folder, members.timeout).await
                }
            },
            SyncCmd::Status {
                members,
                settings,
                wait,
            } => match members.mode()? {
                Mode::Kube(t) => {
                    let s = settings.for_folder(&members.folder);
                    sync::status_kube(&t, &s, members.timeout, cancel).await
                }
                Mode::Live(specs) => {
                    sync::status_live(specs, &members.folder, members.timeout, wait).await
                }
            },
        }
    })
}

/// The clusters of a command that reads them (not SyncThing's REST mode).
fn kube_only(members: &Members, what: &str) -> Result<KubeTarget, SyncError> {
    match members.mode()? {
        Mode::Kube(t) => Ok(t),
        Mode::Live(_) => Err(SyncError::Usage(format!(
            "{what} reads the clusters: give --kubeconfig FILE (and --context per region)"
        ))),
    }
}

fn run_site_status(members: Members, settings: GroupSettings) -> ExitCode {
    run_async(|cancel| async move {
        let t = match members.mode()? {
            Mode::Kube(t) => t,
            Mode::Live(_) => return Err(SyncError::Usage(
                "site status reads the clusters: give --kubeconfig FILE (and --context per region)"
                    .into(),
            )),
        };
        let s = settings.for_folder(&members.folder);
        crate::site::status(&t, &s, members.timeout, cancel).await
    })
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

fn fail(code: Exit, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("geowp-helper: {msg}");
    code.into()
}

fn merge_code(e: &MergeError) -> Exit {
    match e {
        MergeError::NotKubeconfig { .. } | MergeError::NoSuchContext(_) => Exit::Usage,
        _ => Exit::Failed,
    }
}

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.cmd {
        Cmd::Sync(cmd) => run_sync(cmd),
        Cmd::Site(SiteCmd::Status { members, settings }) => run_site_status(members, settings),
        Cmd::Site(SiteCmd::Backup {
            members,
            name,
            wait,
        }) => run_async(|cancel| async move {
            let t = kube_only(&members, "site backup")?;
            crate::backup::backup_now(&t, name, wait, cancel).await
        }),
        Cmd::Site(SiteCmd::Restore {
            members,
            backup,
            wait,
        }) => run_async(|cancel| async move {
            let t = kube_only(&members, "site restore")?;
            crate::backup::restore(&t, &backup, wait, cancel).await
        }),
        Cmd::Syncthing(SyncthingCmd::DeviceId { cert }) => {
            let pem = match std::fs::read_to_string(&cert) {
                Ok(p) => p,
                Err(e) => {
                    return fail(Exit::Failed, format!("cannot read {}: {e}", cert.display()))
                }
            };
            match geowp_syncthing::identity::device_id_of_pem(&pem) {
                Ok(id) => {
                    println!("{id}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(Exit::Usage, format!("{}: {e}", cert.display())),
            }
        }
        Cmd::Syncthing(SyncthingCmd::Identity { dir, force }) => {
            if dir.join("key.pem").exists() && !force {
                return fail(
                    Exit::Usage,
                    format!(
                        "{} already holds an identity (key.pem); pass --force to replace it",
                        dir.display()
                    ),
                );
            }
            let id = match geowp_syncthing::identity::generate() {
                Ok(id) => id,
                Err(e) => return fail(Exit::Failed, error_chain(&e)),
            };
            if let Err(e) = std::fs::create_dir_all(&dir) {
                return fail(
                    Exit::Failed,
                    format!("cannot create {}: {e}", dir.display()),
                );
            }
            if let Err(e) = kubeconfig::write_atomic(&dir.join("key.pem"), &id.key_pem)
                .and_then(|_| kubeconfig::write_atomic(&dir.join("cert.pem"), &id.cert_pem))
            {
                return fail(Exit::Failed, error_chain(&e));
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
                return fail(
                    Exit::Usage,
                    "give at least one kubeconfig FILE or --json FILE",
                );
            }
            let mut inputs = Vec::new();
            for (i, f) in files.iter().enumerate() {
                match Input::read(f, names.get(i).map(String::as_str)) {
                    Ok(x) => inputs.push(x),
                    Err(e) => return fail(Exit::Failed, error_chain(&e)),
                }
            }
            for f in &json {
                let text = match std::fs::read_to_string(f) {
                    Ok(t) => t,
                    Err(e) => {
                        return fail(Exit::Failed, format!("cannot read {}: {e}", f.display()))
                    }
                };
                match kubeconfig::from_json(f, &text) {
                    Ok(x) => inputs.push(x),
                    Err(e) => return fail(merge_code(&e), error_chain(&e)),
                }
            }
            let merged = match kubeconfig::merge(&inputs, context.as_deref(), current.as_deref()) {
                Ok(m) => m,
                Err(e) => {
                    return fail(
                        merge_code(&e),
                        format!("{}; nothing written", error_chain(&e)),
                    )
                }
            };
            match kubeconfig::write_atomic(&output, &merged) {
                Ok(()) => {
                    eprintln!("wrote {}", output.display());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(Exit::Failed, error_chain(&e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    fn walk(c: &clap::Command, path: &str, out: &mut Vec<String>) {
        if c.get_about().is_none() && path != "geowp-helper" {
            out.push(format!("{path}: no help text"));
        }
        for a in c.get_arguments() {
            let builtin = matches!(a.get_id().as_str(), "help" | "version");
            if !builtin && a.get_help().is_none() && a.get_long_help().is_none() {
                out.push(format!("{path} {}: no help text", a.get_id()));
            }
        }
        for s in c.get_subcommands() {
            if s.get_name() != "help" {
                walk(s, &format!("{path} {}", s.get_name()), out);
            }
        }
    }

    #[test]
    fn every_command_and_flag_has_help_and_the_exit_codes_are_documented() {
        let c = Cli::command();
        c.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&c, "geowp-helper", &mut missing);
        assert!(missing.is_empty(), "{missing:#?}");
        let long = c
            .get_long_about()
            .map(|s| s.to_string())
            .unwrap_or_default();
        for code in crate::exit::Exit::ALL.map(|e| e.help()) {
            assert!(
                long.contains(code),
                "exit code {code:?} not in --help: {long}"
            );
        }
    }
}
