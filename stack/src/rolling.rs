//! Rolling a change through the site's TiDB tier one region at a time,
//! gated on the cluster's own state as PD reports it, never on a clock or
//! on stacks meeting in one provider process: stacks of one site applied by
//! separate `terraform apply` runs (per-region state files), or seconds
//! apart, coordinate through PD, which every region reaches.
//!
//! Before each step (this region's PD, TiKV or TiDB StatefulSet):
//!
//! 1. **Order of versions.** A TiKV moves to version V only once every PD
//!    member runs V, a TiDB server only once every TiKV store does (PD,
//!    then TiKV, then TiDB: the order TiDB's upgrade tools keep). PD
//!    reports each member's `binary_version` (`pd-ctl member`) and each
//!    store's `version` (`pd-ctl store`).
//! 2. **The cluster whole.** Every other region's PD member healthy and no
//!    other store Down or Disconnected ([`cluster_fit`]): restarting a
//!    member while another region's is down loses the quorum of what both
//!    hold. This region's own member being down does not hold it back: a
//!    rollout stuck on a bad image or version is repaired by the next apply.
//! 3. **One region at a time: a claim in PD.** The claim is this region's
//!    store in PD's evict-leader scheduler (`scheduler add
//!    evict-leader-scheduler ID`): it moves the store's leaders away, which
//!    a TiKV restart needs anyway, and every region can read it
//!    (`scheduler config evict-leader-scheduler`). A stack announces its
//!    claim, then reads the claims: it goes ahead only when no other
//!    region's claim is there. When claims meet, a member that sees one of
//!    a member sorting earlier withdraws and waits for the scheduler to
//!    empty before it announces again; the earliest keeps its claim and
//!    reads again until the others are gone (deciding anew on each read,
//!    as an earlier member may announce meanwhile). Two regions never go
//!    ahead together: each goes ahead only having seen no other claim
//!    while its own stood, so the later of two announcements sees the
//!    earlier one.
//! 4. For a TiKV: PD's count of its leaders down to 0; for a PD that leads:
//!    leadership moved to another member.
//!
//! The claim is withdrawn when the step's pods are ready (the store's
//! leaders come back as PD balances them). A claim left by an apply that
//! died is withdrawn by that region's next apply; until then other regions'
//! rolling waits for it, up to their timeout, and then names it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use geowp_common::names::{annotation, object};
use geowp_kube::Obj;

use crate::pdctl::{PdCtl, PdError};
use crate::render::StackSpec;

/// The evict-leader scheduler's name (tikv/pd@v8.5.7
/// pkg/schedule/types/type.go: one scheduler for every evicted store).
const EVICT: &str = "evict-leader-scheduler";

/// How often the gates look again at PD while they wait.
const POLL: Duration = Duration::from_secs(2);

/// Why a step cannot go ahead (its message says what to do).
#[derive(Debug, thiserror::Error)]
pub enum Held {
    /// PD's state did not allow it within the operation's time.
    #[error("{0}")]
    Waiting(String),
    /// PD could not be asked.
    #[error(transparent)]
    Pd(#[from] PdError),
}

/// A version tag without its `v` (PD reports `8.5.7` for image `v8.5.7`).
pub fn version_of(tag: &str) -> &str {
    tag.strip_prefix('v').unwrap_or(tag)
}

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

/// The PD members not yet at `want`.
async fn pds_behind(pd: PdCtl<'_>, want: &str) -> Result<Vec<String>, PdError> {
    Ok(pd
        .members()
        .await?
        .into_iter()
        .filter(|m| m.binary_version != want)
        .map(|m| {
            let have = m.binary_version.as_str();
            format!(
                "PD {} ({})",
                m.name,
                if have.is_empty() { "unknown" } else { have }
            )
        })
        .collect())
}

/// The TiKV stores (not Tombstone) not yet at `want`.
async fn stores_behind(pd: PdCtl<'_>, want: &str) -> Result<Vec<String>, PdError> {
    Ok(pd
        .stores()
        .await?
        .into_iter()
        .filter(|s| s.state != "Tombstone" && s.version != want)
        .map(|s| {
            let have = s.version.as_str();
            format!(
                "TiKV {} ({})",
                if s.address.is_empty() {
                    "?"
                } else {
                    &s.address
                },
                if have.is_empty() { "unknown" } else { have }
            )
        })
        .collect())
}

/// Gate 1: waits, bounded by the cluster's deadline, until the components
/// before `component` run the spec's version site-wide.
pub async fn wait_versions(pd: PdCtl<'_>, spec: &StackSpec, component: &str) -> Result<(), Held> {
    let want = version_of(&spec.tidb_version).to_string();
    loop {
        let behind = match component {
            object::TIKV => pds_behind(pd, &want).await?,
            object::TIDB => stores_behind(pd, &want).await?,
            _ => return Ok(()),
        };
        if behind.is_empty() {
            return Ok(());
        }
        if pd.cluster().remaining() < Duration::from_secs(10) {
            return Err(Held::Waiting(format!(
                "{} of member {} waits for {} to run {want} first (PD, then TiKV, then TiDB across the site): apply those members' stacks with the same tidb_version, then this one again",
                component,
                spec.member,
                behind.join(", ")
            )));
        }
        tracing::info!(member = %spec.member, component, behind = %behind.join(", "), "rolling: waiting for the earlier components to reach the version");
        tokio::time::sleep(POLL).await;
    }
}

/// Whether the whole TiDB cluster is fit for this region's member to
/// restart, as PD reports it: every other PD member healthy (`pd-ctl
/// health`) and no other store Down or Disconnected (`pd-ctl store`; PD
/// names a store so when its heartbeats stop, tikv/pd@v8.5.7
/// pkg/response/store.go:86-89,142-144). Restarting a PD or TiKV while
/// another region's is down loses the quorum of the Raft groups (or of PD)
/// that have a member in both. This region's own PD or store being down
/// does not count: restarting what is already down takes nothing more
/// away, and it is how a rollout stuck on a bad image or version is
/// repaired (its pod is not Ready, so PD has lost it).
pub async fn cluster_fit(pd: PdCtl<'_>, spec: &StackSpec) -> Result<(), PdError> {
    let own_store = spec.me().map(|m| m.tikv_address.as_str());
    let sick: Vec<String> = pd
        .unhealthy()
        .await?
        .into_iter()
        .filter(|name| *name != spec.member)
        .collect();
    if !sick.is_empty() {
        return Err(PdError::NotWhole(format!(
            "PD member(s) {} not healthy",
            sick.join(", ")
        )));
    }
    let down: Vec<String> = pd
        .stores()
        .await?
        .into_iter()
        .filter(|s| matches!(s.state.as_str(), "Down" | "Disconnected"))
        .filter(|s| Some(s.address.as_str()) != own_store)
        .map(|s| format!("{} ({})", s.address, s.state))
        .collect();
    if !down.is_empty() {
        return Err(PdError::NotWhole(format!(
            "TiKV store(s) {} not up",
            down.join(", ")
        )));
    }
    Ok(())
}

/// Gate 2: waits, bounded by the cluster's deadline, until [`cluster_fit`] holds.
async fn wait_cluster_fit(pd: PdCtl<'_>, spec: &StackSpec) -> Result<(), PdError> {
    let member = &spec.member;
    loop {
        match cluster_fit(pd, spec).await {
            Ok(()) => return Ok(()),
            Err(why) if pd.cluster().remaining() < Duration::from_secs(10) => return Err(why),
            Err(why) => {
                tracing::info!(%member, %why, "rolling: waiting for the cluster to be whole");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// Before a TiKV restarts, with its store in the evict-leader scheduler
/// (the region's rolling claim): PD's count of its leaders down to 0, so no
/// Region waits an election timeout for a leader that went with the pod.
pub async fn wait_leaders_gone(pd: PdCtl<'_>, id: u64) -> Result<(), PdError> {
    loop {
        let count = pd
            .stores()
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .map(|s| s.leader_count);
        match count {
            Some(0) | None => return Ok(()),
            Some(n) if pd.cluster().remaining() < Duration::from_secs(10) => {
                return Err(PdError::LeadersRemain { id, leaders: n });
            }
            Some(n) => {
                tracing::info!(
                    store = id,
                    leaders = n,
                    "rolling: waiting for the leaders to move away"
                );
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// Before this region's PD restarts: leadership moved to another member if
/// it leads.
pub async fn before_pd(pd: PdCtl<'_>, spec: &StackSpec) -> Result<(), PdError> {
    if pd.leader().await?.as_deref() != Some(spec.member.as_str()) {
        return Ok(());
    }
    let Some(other) = spec.members.keys().find(|m| **m != spec.member) else {
        return Ok(());
    };
    pd.expect_success(&["member", "leader", "transfer", other], &[])
        .await
}

/// Which member each of the claimed stores `ids` belongs to.
async fn owners(
    pd: PdCtl<'_>,
    spec: &StackSpec,
    ids: &BTreeSet<u64>,
) -> Result<BTreeMap<u64, String>, PdError> {
    // a store list pd-ctl could not print names no one
    let stores = match pd.stores().await {
        Ok(s) => s,
        Err(PdError::Unreadable { .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    let by_address: BTreeMap<&str, &str> = spec
        .members
        .iter()
        .map(|(n, m)| (m.tikv_address.as_str(), n.as_str()))
        .collect();
    Ok(stores
        .into_iter()
        .filter(|s| ids.contains(&s.id) && !s.address.is_empty())
        .map(|s| {
            let who = by_address
                .get(s.address.as_str())
                .map(|n| n.to_string())
                .unwrap_or_else(|| format!("the store at {}", s.address));
            (s.id, who)
        })
        .collect())
}

/// This region's claim: its store in the evict-leader scheduler.
async fn announce(pd: PdCtl<'_>, id: u64) -> Result<(), PdError> {
    pd.expect_success(&["scheduler", "add", EVICT, &id.to_string()], &["already"])
        .await
}

/// Withdraws this region's claim (its store out of the evict-leader
/// scheduler; the scheduler goes with its last store).
pub async fn withdraw(pd: PdCtl<'_>, id: u64) -> Result<(), PdError> {
    pd.expect_success(
        &["scheduler", "remove", &format!("{EVICT}-{id}")],
        &["does not exist"],
    )
    .await
}

/// Gate 3: this region's turn, claimed in PD. Some(store id) when claimed
/// (withdraw it when the step is done), None when this region has no store
/// yet (nothing to roll around).
pub async fn claim(pd: PdCtl<'_>, spec: &StackSpec) -> Result<Option<u64>, Held> {
    let Some(me) = spec.me() else { return Ok(None) };
    let Some(mine) = pd.store_at(&me.tikv_address).await?.map(|s| s.id) else {
        return Ok(None);
    };
    loop {
        if let Err(why) = wait_cluster_fit(pd, spec).await {
            return Err(Held::Waiting(why.to_string()));
        }
        announce(pd, mine).await?;
        let stepped_back = loop {
            let mut others = pd.evicting(EVICT).await?;
            others.remove(&mine);
            if others.is_empty() {
                return Ok(Some(mine));
            }
            let who = owners(pd, spec, &others).await?;
            let first_other = who.values().min().cloned().unwrap_or_default();
            if !first_other.is_empty() && first_other < spec.member {
                withdraw(pd, mine).await?;
                break who;
            }
            if pd.cluster().remaining() < Duration::from_secs(10) {
                withdraw(pd, mine).await?;
                return Err(still_rolling(&who, &others));
            }
            tracing::info!(member = %spec.member, rolling = %who.values().cloned().collect::<Vec<_>>().join(", "), "rolling: waiting for another region's step to finish");
            tokio::time::sleep(POLL).await;
        };
        tracing::info!(member = %spec.member, first = %stepped_back.values().min().cloned().unwrap_or_default(), "rolling: stepped back for a member that sorts earlier");
        loop {
            let mut now = pd.evicting(EVICT).await?;
            now.remove(&mine);
            if now.is_empty() {
                break;
            }
            if pd.cluster().remaining() < Duration::from_secs(10) {
                let who = owners(pd, spec, &now).await?;
                return Err(still_rolling(&who, &now));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

fn still_rolling(who: &BTreeMap<u64, String>, ids: &BTreeSet<u64>) -> Held {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    Held::Waiting(format!(
        "{} still rolling (store {} in PD's {EVICT}). If no apply of theirs is running, their last one died mid-step: their next apply withdraws the claim, or remove it with `pd-ctl scheduler remove {EVICT}-ID`",
        who.values().cloned().collect::<Vec<_>>().join(", "),
        ids.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_without_the_tag_prefix() {
        assert_eq!(version_of("v8.5.7"), "8.5.7");
        assert_eq!(version_of("8.5.7"), "8.5.7");
    }
}
