//! The life of a site's one TiDB cluster as regions come and go, and the
//! in-process coordination it needs. Every stack of a site applied in one
//! `terraform apply` is served by the same provider process, so stacks meet
//! here, keyed by site name:
//!
//! - **Leaving.** When a member disappears from `members`, the
//!   alphabetically first surviving member removes it from TiDB from its own
//!   cluster, with pd-ctl Jobs: PD leadership moved away if it holds it,
//!   `member delete name`, `store delete addr`, then waiting until the store
//!   is Tombstone. The departing stack's destroy waits for that before it
//!   deletes anything.
//! - **Moving.** A member whose PD peer URL changes (the same member on a
//!   new cluster) has its old PD member deleted before its new PD joins,
//!   and its old TiKV store deleted once the new one has registered.
//! - **Rolling** (`rolling.rs`): the gates PD answers for, one region at a
//!   time across processes and runs; here the pd-ctl steps it uses: the
//!   cluster's fitness, a TiKV's leaders gone, a leading PD's leadership
//!   moved.
//!
//! Leaving meets in-process (the departing stack's destroy and the
//! survivor's apply are in one run); rolling does not need to.
//!
//! pd-ctl runs as a Job in a member's cluster with the region's
//! certificate, and its output is read from the Job's pod log: no network
//! path from Terraform to PD is needed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use geowp_common::names::{annotation, object};
use geowp_kube::{Cluster, ClusterError, Obj};
use kube::api::PatchParams;
use tokio::time::Instant;

use crate::render::{self, Member, StackSpec};

// ---------------------------------------------------------------- pd-ctl

/// Runs one pd-ctl command in `cluster` (against `target`, a PD client URL,
/// or this region's PD when None) and returns what it printed.
pub async fn pd_ctl(
    cluster: &Cluster,
    spec: &StackSpec,
    params: &PatchParams,
    target: Option<&str>,
    words: &[&str],
) -> Result<String, ClusterError> {
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    let nonce: [u8; 8] = rand::random();
    let job = render::tidb::pd_ctl_job(spec, target, &words, &format!("{nonce:?}"));
    cluster.run_job(&job, params).await
}

/// pd-ctl prints failures rather than exiting with a status: success is a
/// line that is `Success!` (most commands, e.g. tikv/pd@v8.5.7
/// tools/pd-ctl/pdctl/command/member_command.go:112, scheduler.go:555) or
/// `Success! ` followed by the server's message (commands that post JSON,
/// global.go:302: `scheduler add` prints "Success! The scheduler is
/// created."). A `Failed!` line is never success.
fn succeeded(out: &str) -> bool {
    out.lines().any(|l| {
        let l = l.trim();
        l == "Success!" || l.starts_with("Success! ")
    })
}

/// What pd-ctl printed, for an error message; an empty output is said as
/// such (a Job whose pod printed nothing: pd-ctl did not run, or its log
/// was lost), never as an empty quote.
pub(super) fn printed(out: &str) -> String {
    let t = out.trim();
    if t.is_empty() {
        "nothing (its Job's pod printed no output: look at the Job's events and pod with kubectl)"
            .into()
    } else {
        t.to_string()
    }
}

pub(super) fn json_of(out: &str) -> Option<serde_json::Value> {
    let start = out.find(['{', '['])?;
    serde_json::from_str(&out[start..]).ok()
}

/// The current PD leader's name.
async fn leader(
    c: &Cluster,
    spec: &StackSpec,
    p: &PatchParams,
    target: Option<&str>,
) -> Result<Option<String>, String> {
    let out = pd_ctl(c, spec, p, target, &["member", "leader", "show"])
        .await
        .map_err(|e| geowp_common::error_chain(&e))?;
    Ok(json_of(&out).and_then(|v| v["name"].as_str().map(String::from)))
}

/// (id, state) of the store at `address`, None when PD has none there (or
/// only a Tombstone, which PD does not list).
pub(super) async fn store_at(
    c: &Cluster,
    spec: &StackSpec,
    p: &PatchParams,
    target: Option<&str>,
    address: &str,
) -> Result<Option<(u64, String)>, String> {
    let out = pd_ctl(c, spec, p, target, &["store"])
        .await
        .map_err(|e| geowp_common::error_chain(&e))?;
    if out.trim().is_empty() {
        return Ok(None);
    }
    let v = json_of(&out).ok_or_else(|| format!("pd-ctl store printed no store list: {out}"))?;
    Ok(v["stores"].as_array().into_iter().flatten().find_map(|s| {
        (s["store"]["address"].as_str() == Some(address)).then(|| {
            (
                s["store"]["id"].as_u64().unwrap_or(0),
                s["store"]["state_name"].as_str().unwrap_or("").to_string(),
            )
        })
    }))
}

pub(super) async fn expect_success(
    c: &Cluster,
    spec: &StackSpec,
    p: &PatchParams,
    target: Option<&str>,
    words: &[&str],
    fine_if: &[&str],
) -> Result<(), String> {
    let out = pd_ctl(c, spec, p, target, words)
        .await
        .map_err(|e| geowp_common::error_chain(&e))?;
    if succeeded(&out) || fine_if.iter().any(|f| out.contains(f)) {
        Ok(())
    } else {
        Err(format!(
            "pd-ctl {} said: {}",
            words.join(" "),
            printed(&out)
        ))
    }
}

/// Deletes the store at `address` and waits until PD has moved its data
/// away (Tombstone), bounded by the cluster's deadline.
async fn drain_store(
    c: &Cluster,
    spec: &StackSpec,
    p: &PatchParams,
    target: Option<&str>,
    address: &str,
) -> Result<(), String> {
    let out = pd_ctl(c, spec, p, target, &["store", "delete", "addr", address])
        .await
        .map_err(|e| geowp_common::error_chain(&e))?;
    if out.contains("ErrStoresNotEnough") {
        return Err(format!("PD refuses to delete the TiKV store at {address}: {} Three replicas need three Up stores; add (or finish moving) a region before removing this one.", out.trim()));
    }
    if !succeeded(&out) && !out.contains("address not found") {
        return Err(format!(
            "pd-ctl store delete addr {address} said: {}",
            printed(&out)
        ));
    }
    loop {
        match store_at(c, spec, p, target, address).await? {
            None => return Ok(()),
            Some((_, s)) if s == "Tombstone" => return Ok(()),
            Some((id, s)) => {
                if c.remaining() < Duration::from_secs(3) {
                    return Err(format!("the TiKV store {id} at {address} is still {s}: PD is still moving its data to the other stores. Apply again to keep waiting (raise the timeouts block for large stores)."));
                }
                tracing::info!(%address, state = %s, "waiting for the store to become Tombstone");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// Removes a departed member from TiDB, from a survivor's cluster.
pub async fn remove_member(
    c: &Cluster,
    spec: &StackSpec,
    p: &PatchParams,
    name: &str,
    gone: &Member,
) -> Result<Vec<String>, String> {
    let started = Instant::now();
    let mut done = Vec::new();
    if leader(c, spec, p, None).await?.as_deref() == Some(name) {
        expect_success(
            c,
            spec,
            p,
            None,
            &["member", "leader", "transfer", &spec.member],
            &[],
        )
        .await?;
        done.push(format!("PD leadership moved to {}", spec.member));
    }
    expect_success(
        c,
        spec,
        p,
        None,
        &["member", "delete", "name", name],
        &["not found"],
    )
    .await?;
    done.push("its PD member deleted".into());
    drain_store(c, spec, p, None, &gone.tikv_address).await?;
    done.push(format!(
        "its TiKV store at {} Tombstone after {} s",
        gone.tikv_address,
        started.elapsed().as_secs()
    ));
    Ok(done)
}

/// Before a moved member's new PD joins: its old PD member deleted, through
/// another member's PD (this cluster has no PD of the site yet).
pub async fn forget_old_pd(
    c: &Cluster,
    spec: &StackSpec,
    p: &PatchParams,
    through: &str,
) -> Result<(), String> {
    expect_success(
        c,
        spec,
        p,
        Some(through),
        &["member", "delete", "name", &spec.member],
        &["not found"],
    )
    .await
}

/// After a moved member's new TiKV registered: its old store deleted.
pub async fn forget_old_store(
    c: &Cluster,
    spec: &StackSpec,
    p: &PatchParams,
    old_address: &str,
) -> Result<(), String> {
    drain_store(c, spec, p, None, old_address).await
}

// ---------------------------------------------------------------- leaving

#[derive(Clone, Debug, PartialEq)]
enum Leave {
    Running(String),
    Done,
    Failed(String),
}

#[derive(Default)]
struct Board {
    /// Departed member => how its removal from TiDB goes.
    leaves: HashMap<String, Leave>,
    /// Members whose stacks are being destroyed in this run.
    destroying: BTreeSet<String>,
}

static BOARDS: LazyLock<Mutex<HashMap<String, Board>>> = LazyLock::new(Default::default);
static CHANGED: LazyLock<tokio::sync::watch::Sender<u64>> =
    LazyLock::new(|| tokio::sync::watch::channel(0).0);

fn with_board<T>(site: &str, f: impl FnOnce(&mut Board) -> T) -> T {
    let mut b = BOARDS.lock().unwrap_or_else(|e| e.into_inner());
    let r = f(b.entry(site.to_string()).or_default());
    drop(b);
    CHANGED.send_modify(|n| *n += 1);
    r
}

fn peek<T>(site: &str, f: impl FnOnce(&Board) -> T) -> T {
    let mut b = BOARDS.lock().unwrap_or_else(|e| e.into_inner());
    f(b.entry(site.to_string()).or_default())
}

async fn changed_or(timeout: Duration) {
    let mut rx = CHANGED.subscribe();
    let _ = tokio::time::timeout(timeout, rx.changed()).await;
}

/// Members in `prior` but not in `planned`, with their last addresses.
pub fn departed(prior: &StackSpec, planned: &StackSpec) -> BTreeMap<String, Member> {
    prior
        .members
        .iter()
        .filter(|(n, _)| !planned.members.contains_key(*n))
        .map(|(n, m)| (n.clone(), m.clone()))
        .collect()
}

/// Whether this member is the one that removes departed members (the
/// alphabetically first survivor).
pub fn removes_departed(spec: &StackSpec) -> bool {
    spec.members.keys().next() == Some(&spec.member)
}

/// Announces that this stack removes `name` from TiDB now.
pub fn leave_started(site: &str, name: &str, by: &str) {
    with_board(site, |b| {
        b.leaves
            .insert(name.to_string(), Leave::Running(by.to_string()))
    });
}

pub fn leave_finished<T>(site: &str, name: &str, r: &Result<T, String>) {
    with_board(site, |b| {
        b.leaves.insert(
            name.to_string(),
            match r {
                Ok(_) => Leave::Done,
                Err(e) => Leave::Failed(e.clone()),
            },
        )
    });
}

/// How long a departing stack waits for a survivor to start removing it.
pub const LEAVE_GRACE: Duration = Duration::from_secs(10);

/// What a departing stack's destroy may do.
pub enum MayDelete {
    /// A survivor removed it from TiDB in this run.
    Removed,
    /// No survivor took it up: the whole site goes, or the survivors are
    /// not applied in this run (the message says what that means).
    NoSurvivor(Option<String>),
    /// The survivors tried and failed: keep the region.
    Refused(String),
}

/// Waits, bounded by `deadline`, for the survivors to remove `member` from
/// TiDB before its objects are deleted.
pub async fn wait_for_leave(
    site: &str,
    member: &str,
    others: &[String],
    deadline: Instant,
) -> MayDelete {
    with_board(site, |b| b.destroying.insert(member.to_string()));
    let grace = Instant::now() + LEAVE_GRACE;
    loop {
        let (state, all_going) = peek(site, |b| {
            (
                b.leaves.get(member).cloned(),
                others.iter().all(|o| b.destroying.contains(o)),
            )
        });
        match state {
            Some(Leave::Done) => return MayDelete::Removed,
            Some(Leave::Failed(e)) => return MayDelete::Refused(e),
            Some(Leave::Running(_)) if Instant::now() < deadline => {}
            Some(Leave::Running(by)) => {
                return MayDelete::Refused(format!("member {by} was still removing it from TiDB when the delete timeout passed"))
            }
            None if all_going => return MayDelete::NoSurvivor(None),
            None if Instant::now() >= grace => {
                return MayDelete::NoSurvivor(Some(format!("no surviving member removed {member} from TiDB in this run (the alphabetically first remaining member does, when its `members` loses {member} in the same apply). If other members remain, its PD member and TiKV store are still registered: apply the survivors' new `members` (the next apply of the first survivor removes them).")))
            }
            None => {}
        }
        changed_or(Duration::from_millis(250)).await;
    }
}

// ---------------------------------------------------------------- rolling

/// The TiDB-tier components in their rolling order.
pub const TIER: [&str; 3] = [object::PD, object::TIKV, object::TIDB];

pub fn tier_rank(name: &str) -> Option<u8> {
    TIER.iter().position(|t| *t == name).map(|i| i as u8)
}

/// Whether applying `o` changes the live StatefulSet's pod template.
pub fn template_changes(o: &Obj, live: Option<&serde_json::Value>) -> bool {
    let want = o.body["metadata"]["annotations"][annotation::TEMPLATE_HASH].as_str();
    let have = live.and_then(|l| l["metadata"]["annotations"][annotation::TEMPLATE_HASH].as_str());
    live.is_some() && want != have
}

/// Whether the whole TiDB cluster is fit for one of its members to restart,
/// as PD reports it: every PD member healthy (`pd-ctl health`) and no store
/// Down or Disconnected (`pd-ctl store`; PD names a store so when its
/// heartbeats stop, tikv/pd@v8.5.7 pkg/response/store.go:86-89,142-144).
/// Restarting a PD or TiKV while another region's is down loses the quorum
/// of the Raft groups (or of PD) that have a member in both. Err says what
/// is not fit.
pub async fn cluster_fit(c: &Cluster, spec: &StackSpec, p: &PatchParams) -> Result<(), String> {
    let out = pd_ctl(c, spec, p, None, &["health"])
        .await
        .map_err(|e| geowp_common::error_chain(&e))?;
    let health = json_of(&out)
        .ok_or_else(|| format!("pd-ctl health printed no member list: {}", printed(&out)))?;
    let sick: Vec<String> = health
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["health"].as_bool() != Some(true))
        .map(|m| m["name"].as_str().unwrap_or("?").to_string())
        .collect();
    if !sick.is_empty() {
        return Err(format!("PD member(s) {} not healthy", sick.join(", ")));
    }
    let out = pd_ctl(c, spec, p, None, &["store"])
        .await
        .map_err(|e| geowp_common::error_chain(&e))?;
    let stores = json_of(&out)
        .ok_or_else(|| format!("pd-ctl store printed no store list: {}", printed(&out)))?;
    let down: Vec<String> = stores["stores"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| {
            matches!(
                s["store"]["state_name"].as_str(),
                Some("Down" | "Disconnected")
            )
        })
        .map(|s| {
            format!(
                "{} ({})",
                s["store"]["address"].as_str().unwrap_or("?"),
                s["store"]["state_name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    if !down.is_empty() {
        return Err(format!("TiKV store(s) {} not up", down.join(", ")));
    }
    Ok(())
}

/// Waits, bounded by the cluster's deadline, until [`cluster_fit`] holds.
pub async fn wait_cluster_fit(
    c: &Cluster,
    spec: &StackSpec,
    p: &PatchParams,
) -> Result<(), String> {
    loop {
        match cluster_fit(c, spec, p).await {
            Ok(()) => return Ok(()),
            Err(why) if c.remaining() < Duration::from_secs(10) => return Err(why),
            Err(why) => {
                tracing::info!(member = %spec.member, %why, "rolling: waiting for the cluster to be whole");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// The number of Region leaders PD counts on store `id` (None: PD lists no
/// such store any more).
async fn leader_count(
    c: &Cluster,
    spec: &StackSpec,
    p: &PatchParams,
    id: u64,
) -> Result<Option<u64>, String> {
    let out = pd_ctl(c, spec, p, None, &["store"])
        .await
        .map_err(|e| geowp_common::error_chain(&e))?;
    let v = json_of(&out)
        .ok_or_else(|| format!("pd-ctl store printed no store list: {}", printed(&out)))?;
    Ok(v["stores"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["store"]["id"].as_u64() == Some(id))
        .map(|s| s["status"]["leader_count"].as_u64().unwrap_or(0)))
}

/// Before a TiKV restarts, with its store in the evict-leader scheduler
/// (the region's rolling claim): PD's count of its leaders down to 0, so no
/// Region waits an election timeout for a leader that went with the pod.
pub async fn wait_leaders_gone(
    c: &Cluster,
    spec: &StackSpec,
    p: &PatchParams,
    id: u64,
) -> Result<(), String> {
    loop {
        match leader_count(c, spec, p, id).await? {
            Some(0) | None => return Ok(()),
            Some(n) if c.remaining() < Duration::from_secs(10) => {
                return Err(format!("store {id} still leads {n} Regions"));
            }
            Some(n) => {
                tracing::info!(
                    store = id,
                    leaders = n,
                    "rolling: waiting for the leaders to move away"
                );
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// Before this region's PD restarts: leadership moved to another member if
/// it leads.
pub async fn before_pd(c: &Cluster, spec: &StackSpec, p: &PatchParams) -> Result<(), String> {
    if leader(c, spec, p, None).await?.as_deref() != Some(spec.member.as_str()) {
        return Ok(());
    }
    let Some(other) = spec.members.keys().find(|m| **m != spec.member) else {
        return Ok(());
    };
    expect_success(
        c,
        spec,
        p,
        None,
        &["member", "leader", "transfer", other],
        &[],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pd_ctl_output_is_read_as_pd_ctl_prints_it() {
        assert!(succeeded("Success!\n"));
        // what pd-ctl v8.5.7 prints for `scheduler add evict-leader-scheduler 1`
        // (global.go:302 with server/api/scheduler.go:241's message)
        assert!(succeeded("Success! The scheduler is created.\n"));
        assert!(!succeeded("Failed! [500] \"scheduler existed\"\n"));
        assert!(!succeeded("Success!ful? no\n"));
        assert_eq!(printed("  \n"), "nothing (its Job's pod printed no output: look at the Job's events and pod with kubectl)");
        assert!(!succeeded(
            "Failed to delete member x: [404] member not found\n"
        ));
        let v = json_of("{\n  \"name\": \"us-east\"\n}\n").unwrap();
        assert_eq!(v["name"], "us-east");
        assert!(json_of("Failed to get the leader").is_none());
    }

    #[tokio::test]
    async fn a_destroy_waits_for_the_survivor_and_hears_its_failure() {
        let others = vec!["a".to_string(), "b".to_string()];
        let far = Instant::now() + Duration::from_secs(30);
        leave_started("t-site", "c", "a");
        let w = tokio::spawn({
            let others = others.clone();
            async move { wait_for_leave("t-site", "c", &others, far).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!w.is_finished(), "it waits while the survivor works");
        leave_finished("t-site", "c", &Ok(()));
        assert!(matches!(w.await.unwrap(), MayDelete::Removed));
        leave_finished::<()>("t-site", "d", &Err("PD refused".into()));
        match wait_for_leave("t-site", "d", &others, far).await {
            MayDelete::Refused(e) => assert_eq!(e, "PD refused"),
            _ => panic!("a failed removal keeps the region"),
        }
        // the whole site going: nobody waits for survivors
        let all = ["x".to_string()];
        wait_for_leave("t-site-2", "x", &[], far).await;
        assert!(matches!(
            wait_for_leave("t-site-2", "y", &all, far).await,
            MayDelete::NoSurvivor(None)
        ));
    }
}
