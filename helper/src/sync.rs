//! `geowp-helper sync exchange|status`: the replication group outside
//! Terraform, either through each member's Kubernetes API (stacks made by
//! geowp: the same writes as `geowp_sync_group`, see
//! [`geowp_syncthing::group`]) or live through each SyncThing's REST API
//! (installs geowp did not make, see [`geowp_syncthing::rest`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use geowp_common::error_chain;
use geowp_kube::conditions::{readiness, Readiness};
use geowp_kube::{Cluster, ClusterError, Connection, ObjRef};
use geowp_syncthing::group::{self, Member, Settings, IN_SYNC};
use geowp_syncthing::rest::{self, Api, LiveMember, RestError};

use crate::exit::Exit;

/// Why a sync command failed; its kind picks the exit code.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Bad usage or bad input: exit 2.
    #[error("{0}")]
    Usage(String),
    /// A member could not be reached or refused a write: exit 1.
    #[error("{0}")]
    Failed(String),
    /// Every member answered, but the group is not (yet) healthy: exit 3.
    /// `report` is the status table, for stdout.
    #[error("{why}")]
    Unhealthy { report: Vec<String>, why: String },
}

impl SyncError {
    pub fn exit(&self) -> Exit {
        match self {
            SyncError::Usage(_) => Exit::Usage,
            SyncError::Failed(_) => Exit::Failed,
            SyncError::Unhealthy { .. } => Exit::Unhealthy,
        }
    }
}

impl From<RestError> for SyncError {
    fn from(e: RestError) -> Self {
        match e {
            RestError::Usage(m) => SyncError::Usage(m),
            e => SyncError::Failed(e.to_string()),
        }
    }
}

/// `tcp://host:port` (the stack's one rule for SyncThing addresses).
pub use geowp_stack::validators::is_syncthing_address as valid_peer_address;

/// `NAME=tcp://host:port` pairs.
pub fn parse_addresses(v: &[String]) -> Result<BTreeMap<String, String>, SyncError> {
    let mut m = BTreeMap::new();
    for x in v {
        let Some((n, a)) = x.split_once('=') else {
            return Err(SyncError::Usage(format!(
                "--address {x:?}: expected NAME=tcp://host:port"
            )));
        };
        if !valid_peer_address(a) {
            return Err(SyncError::Usage(format!(
                "--address {x:?}: {a:?} is not tcp://host:port"
            )));
        }
        if m.insert(n.to_string(), a.to_string()).is_some() {
            return Err(SyncError::Usage(format!("--address given twice for {n:?}")));
        }
    }
    Ok(m)
}

/// A duration in Go's grammar (`90s`, `2m`, `500ms`), as clap's value parser.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    geowp_common::duration::parse(s).map_err(|e| e.to_string())
}

/// An API key given as the key itself or as `@FILE` (keeps it out of `ps`).
pub fn read_key(k: &str) -> Result<String, SyncError> {
    match k.strip_prefix('@') {
        Some(f) => std::fs::read_to_string(f)
            .map(|s| s.trim().to_string())
            .map_err(|e| SyncError::Usage(format!("--api-key @{f}: cannot read it: {e}"))),
        None => Ok(k.to_string()),
    }
}

/// Members reached through one kubeconfig.
pub struct KubeTarget {
    pub kubeconfig: PathBuf,
    /// (member name, context), in order.
    pub members: Vec<(String, String)>,
    pub namespace: String,
    pub addresses: BTreeMap<String, String>,
}

/// The kubeconfig's text and its contexts, in file order.
pub fn read_kubeconfig(path: &Path) -> Result<(String, Vec<String>), SyncError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SyncError::Failed(format!("cannot read {}: {e}", path.display())))?;
    let doc = geowp_kubeconfig::parse(&text, path.parent())
        .map_err(|e| SyncError::Usage(format!("{}: {e}", path.display())))?;
    Ok((text, doc.contexts()))
}

pub(crate) async fn connect_all(
    t: &KubeTarget,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Result<Vec<Cluster>, SyncError> {
    let (text, known) = read_kubeconfig(&t.kubeconfig)?;
    let mut out = Vec::new();
    for (name, ctx) in &t.members {
        if !known.contains(ctx) {
            return Err(SyncError::Usage(format!(
                "{} has no context {ctx:?} (it has: {})",
                t.kubeconfig.display(),
                known.join(", ")
            )));
        }
        let conn = Connection {
            kubeconfig: Some(text.clone()),
            context: Some(ctx.clone()),
            ..Default::default()
        };
        let c = geowp_kube::connect(&conn, deadline, cancel.clone())
            .await
            .map_err(|e| {
                SyncError::Usage(format!(
                    "member {name} (context {ctx}): {}",
                    error_chain(&e)
                ))
            })?;
        out.push(c);
    }
    Ok(out)
}

pub(crate) fn kube_err(name: &str, e: ClusterError) -> String {
    format!("{name}: {}", error_chain(&e))
}

/// Learns each member's device ID (from its identity Secret) and address
/// (given, else its `syncthing` Service's load-balancer address).
pub(crate) async fn kube_members(t: &KubeTarget, cs: &[Cluster]) -> Result<Vec<Member>, SyncError> {
    let facts =
        futures_util::future::join_all(t.members.iter().zip(cs).map(|((name, _), c)| async move {
            let st = group::read_syncthing(c, &t.namespace).await?;
            let addr = match t.addresses.get(name) {
                Some(a) => Some(a.clone()),
                None => group::advertised_address(c, &t.namespace).await?,
            };
            Ok::<_, ClusterError>((st.device_id, addr))
        }))
        .await;
    let mut ms = Vec::new();
    let mut errs = Vec::new();
    for (((name, ctx), c), f) in t.members.iter().zip(cs).zip(facts) {
        match f {
            Err(e) => errs.push(kube_err(name, e)),
            Ok((None, _)) => errs.push(format!("{name}: namespace {:?} on {} holds no SyncThing identity (Secret syncthing-identity); is its geowp_cluster_stack applied?", t.namespace, c.name)),
            Ok((_, None)) => errs.push(format!("{name}: its syncthing Service has no load-balancer address yet; pass --address {name}=tcp://host:port")),
            Ok((Some(id), Some(addr))) => ms.push(Member {
                name: name.clone(),
                device_id: id,
                address: addr,
                namespace: t.namespace.clone(),
                listen_address: group::DEFAULT_LISTEN.into(),
                gui_address: group::DEFAULT_GUI.into(),
                folder_path: group::DEFAULT_FOLDER_PATH.into(),
                conn: Connection { context: Some(ctx.clone()), ..Default::default() },
            }),
        }
    }
    if errs.is_empty() {
        Ok(ms)
    } else {
        Err(SyncError::Failed(errs.join("\n")))
    }
}

/// A member's group config, as [`group::check`] words it, and its SyncThing
/// pod's rollout ("pod ready" when ready).
pub(crate) async fn member_state(
    c: &Cluster,
    m: &Member,
    all: &[Member],
    s: &Settings,
) -> Result<(String, String), ClusterError> {
    let cfg = group::check(c, m, all, s).await?;
    let dep = c
        .get(&ObjRef::new(
            "apps/v1",
            "Deployment",
            &m.namespace,
            group::SYNCTHING_DEPLOYMENT,
        ))
        .await?;
    let rollout = match dep {
        None => "no syncthing Deployment".to_string(),
        Some(d) => match readiness("Deployment", &d) {
            Readiness::Ready => POD_READY.to_string(),
            Readiness::Waiting(w) | Readiness::Failed(w) => w,
        },
    };
    Ok((cfg, rollout))
}

/// How [`member_state`] says a SyncThing pod is ready.
pub(crate) const POD_READY: &str = "pod ready";

/// Writes the group configuration into every member's cluster (the same
/// objects `geowp_sync_group` writes). Returns one line per member.
pub async fn exchange_kube(
    t: &KubeTarget,
    s: &Settings,
    timeout: Duration,
    cancel: CancellationToken,
) -> Result<Vec<String>, SyncError> {
    let deadline = Instant::now() + timeout;
    let cs = connect_all(t, deadline, &cancel).await?;
    let ms = kube_members(t, &cs).await?;
    let results =
        futures_util::future::join_all(ms.iter().zip(&cs).map(|(m, c)| group::join(c, m, &ms, s)))
            .await;
    let mut lines = Vec::new();
    let mut errs = Vec::new();
    for (m, r) in ms.iter().zip(results) {
        match r {
            Ok(Ok(h)) => lines.push(format!(
                "{}: {} knows {} peers, folder {:?} shared (config {h}); its SyncThing pod restarts with it",
                m.name,
                m.device_id,
                ms.len() - 1,
                s.folder_id
            )),
            Ok(Err(group::NotReady(why))) => errs.push(format!("{}: {why}", m.name)),
            Err(e) => errs.push(kube_err(&m.name, e)),
        }
    }
    if errs.is_empty() {
        Ok(lines)
    } else {
        errs.push(format!(
            "{} of {} members written; fix the above and run it again (it is idempotent)",
            lines.len(),
            ms.len()
        ));
        Err(SyncError::Failed(errs.join("\n")))
    }
}

/// Per member: is its live group configuration what the group would write,
/// and is its SyncThing Deployment rolled out.
pub async fn status_kube(
    t: &KubeTarget,
    s: &Settings,
    timeout: Duration,
    cancel: CancellationToken,
) -> Result<Vec<String>, SyncError> {
    let deadline = Instant::now() + timeout;
    let cs = connect_all(t, deadline, &cancel).await?;
    let ms = kube_members(t, &cs).await?;
    let results =
        futures_util::future::join_all(ms.iter().zip(&cs).map(|(m, c)| member_state(c, m, &ms, s)))
            .await;
    let mut lines = vec![format!(
        "{:<12} {:<16} {:<40} SYNCTHING",
        "MEMBER", "DEVICE", "GROUP CONFIG"
    )];
    let mut bad = 0;
    let mut errs = Vec::new();
    for (m, r) in ms.iter().zip(results) {
        match r {
            Ok((cfg, rollout)) => {
                if cfg != IN_SYNC || rollout != POD_READY {
                    bad += 1;
                }
                lines.push(format!(
                    "{:<12} {:<16} {:<40} {rollout}",
                    m.name,
                    &m.device_id[..15.min(m.device_id.len())],
                    cfg
                ))
            }
            Err(e) => errs.push(kube_err(&m.name, e)),
        }
    }
    lines.push("Connected peers and folder completion come from SyncThing's REST API, which listens only on the pod's localhost: `kubectl port-forward deploy/syncthing 8384` per cluster, then `geowp-helper sync status --api http://127.0.0.1:8384 --api-key @KEYFILE ...`.".into());
    if !errs.is_empty() {
        return Err(SyncError::Failed(errs.join("\n")));
    }
    if bad > 0 {
        return Err(SyncError::Unhealthy {
            why: format!(
                "{bad} of {} members are not in sync or not ready; `geowp-helper sync exchange` (or terraform apply) repairs the config",
                ms.len()
            ),
            report: lines,
        });
    }
    Ok(lines)
}

/// One `--api URL --api-key KEY` pair, with its optional name and address.
pub struct LiveSpec {
    pub url: String,
    pub key: String,
    pub name: Option<String>,
    pub address: Option<String>,
}

async fn live_members(
    specs: Vec<LiveSpec>,
    timeout: Duration,
) -> Result<Vec<LiveMember>, SyncError> {
    let mut apis = Vec::new();
    for s in &specs {
        apis.push(Api::new(&s.url, &s.key, timeout)?);
    }
    let found = futures_util::future::join_all(
        specs
            .into_iter()
            .zip(apis)
            .map(|(s, api)| rest::discover(api, s.name, s.address)),
    )
    .await;
    let mut ms = Vec::new();
    let mut errs = Vec::new();
    for f in found {
        match f {
            Ok(m) => ms.push(m),
            Err(e) => errs.push(e.to_string()),
        }
    }
    if !errs.is_empty() {
        return Err(SyncError::Failed(errs.join("\n")));
    }
    let mut ids: Vec<&str> = ms.iter().map(|m| m.device_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    if ids.len() != ms.len() {
        return Err(SyncError::Usage(
            "two --api endpoints are the same SyncThing (same device ID)".into(),
        ));
    }
    Ok(ms)
}

/// The live exchange over REST: every member adds every other one and
/// shares the folder with it; SyncThing applies it without a restart.
pub async fn exchange_live(
    specs: Vec<LiveSpec>,
    folder: &str,
    timeout: Duration,
) -> Result<Vec<String>, SyncError> {
    let ms = live_members(specs, timeout).await?;
    let results =
        futures_util::future::join_all(ms.iter().map(|m| rest::join_live(m, &ms, folder))).await;
    let mut lines = Vec::new();
    let mut errs = Vec::new();
    for (m, r) in ms.iter().zip(results) {
        match r {
            Ok(c) => lines.push(format!(
                "{} ({}): {} devices added, {} updated, folder {folder:?} newly shared with {}{}",
                m.name,
                m.device_id,
                c.devices_added,
                c.devices_updated,
                c.folder_shared_with,
                if c.restart_required {
                    "; SyncThing says a restart is required for some settings"
                } else {
                    "; applied live, no restart"
                }
            )),
            Err(e) => errs.push(format!("{}: {e}", m.name)),
        }
    }
    if errs.is_empty() {
        Ok(lines)
    } else {
        errs.push(format!(
            "{} of {} members changed; fix the above and run it again (it is idempotent)",
            lines.len(),
            ms.len()
        ));
        Err(SyncError::Failed(errs.join("\n")))
    }
}

/// Live status over REST. With `wait`, polls every second until every
/// member is connected to all its peers with the folder complete.
pub async fn status_live(
    specs: Vec<LiveSpec>,
    folder: &str,
    timeout: Duration,
    wait: Option<Duration>,
) -> Result<Vec<String>, SyncError> {
    let names: Vec<Option<String>> = specs.iter().map(|s| s.name.clone()).collect();
    let mut apis = Vec::new();
    for s in &specs {
        apis.push(Api::new(&s.url, &s.key, timeout)?);
    }
    let until = wait.map(|w| Instant::now() + w);
    loop {
        let rs = futures_util::future::join_all(apis.iter().map(|a| rest::status(a, folder))).await;
        let mut lines = vec![format!(
            "{:<16} {:<9} {:<11} {:<10} {:<9} PEERS",
            "MEMBER", "DEVICE", "CONNECTED", "FOLDER", "STATE"
        )];
        let mut errs = Vec::new();
        let mut healthy = true;
        for ((a, n), r) in apis.iter().zip(&names).zip(rs) {
            let name = n
                .clone()
                .unwrap_or_else(|| a.url().trim_start_matches("http://").to_string());
            match r {
                Err(e) => errs.push(e.to_string()),
                Ok(st) => {
                    healthy &= st.healthy();
                    let up = st.peers.iter().filter(|p| p.connected).count();
                    let peers: Vec<String> = st
                        .peers
                        .iter()
                        .map(|p| {
                            format!(
                                "{}{}",
                                if p.name.is_empty() {
                                    &p.device_id[..7.min(p.device_id.len())]
                                } else {
                                    &p.name
                                },
                                if p.connected { "" } else { " (down)" }
                            )
                        })
                        .collect();
                    lines.push(format!(
                        "{:<16} {:<9} {:<11} {:<10} {:<9} {}",
                        name,
                        &st.device_id[..7.min(st.device_id.len())],
                        format!("{up}/{}", st.peers.len()),
                        match st.completion {
                            Some(c) => format!("{:.0}%", c.floor()),
                            None => "missing".into(),
                        },
                        st.state,
                        peers.join(", ")
                    ));
                }
            }
        }
        if !errs.is_empty() {
            return Err(SyncError::Failed(errs.join("\n")));
        }
        if healthy {
            return Ok(lines);
        }
        match until {
            Some(u) if Instant::now() < u => tokio::time::sleep(Duration::from_secs(1)).await,
            _ => {
                return Err(SyncError::Unhealthy {
                    report: lines,
                    why: format!("not every member is connected to all its peers with folder {folder:?} complete"),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("7").unwrap_err().contains("missing a unit"));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn addresses() {
        let m = parse_addresses(&["a=tcp://1.2.3.4:22000".into()]).unwrap();
        assert_eq!(m["a"], "tcp://1.2.3.4:22000");
        for bad in [
            "a",
            "a=1.2.3.4:22000",
            "a=tcp://:22000",
            "a=tcp://h:0",
            "a=tcp://h:x",
        ] {
            let e = parse_addresses(&[bad.into()]).unwrap_err();
            assert_eq!(e.exit(), Exit::Usage, "{bad}");
        }
        assert!(parse_addresses(&["a=tcp://h:1".into(), "a=tcp://h:2".into()]).is_err());
    }
}
