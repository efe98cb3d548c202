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
//! 2. **The cluster whole.** Every PD member healthy and no store Down or
//!    Disconnected ([`lifecycle::cluster_fit`]): restarting a member while
//!    another region's is down loses the quorum of what both hold.
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

use geowp_common::names::object;
use geowp_kube::Cluster;
use kube::api::PatchParams;

use super::lifecycle::{self, json_of, pd_ctl, printed, store_at};
use crate::render::StackSpec;

/// The evict-leader scheduler's name (tikv/pd@v8.5.7
/// pkg/schedule/types/type.go: one scheduler for every evicted store).
const EVICT: &str = "evict-leader-scheduler";

/// How often the gates look again at PD while they wait.
const POLL: Duration = Duration::from_secs(2);

/// Why a step cannot go ahead (its message says what to do).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Held {
    #[error("{0}")]
    Waiting(String),
    #[error("{0}")]
    Pd(String),
}

/// The version PD and TiKV report for an image tag (`v8.5.7` -> `8.5.7`).
pub fn version_of(tag: &str) -> &str {
    tag.strip_prefix('v').unwrap_or(tag)
}

/// Members whose PD does not run `want` yet, with what they run.
async fn pds_behind(
    c: &Cluster,
    spec: &StackSpec,
    p: &PatchParams,
    want: &str,
) -> Result<Vec<String>, Held> {
    let out = pd_ctl(c, spec, p, None, &["member"])
        .await
        .map_err(|e| Held::Pd(geowp_common::error_chain(&e)))?;
    let v = json_of(&out).ok_or_else(|| {
        Held::Pd(format!(
            "pd-ctl member printed no member list: {}",
            printed(&out)
        ))
    })?;
    Ok(v["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let have = version_of(m["binary_version"].as_str().unwrap_or(""));
            (have != want).then(|| {
                format!(
                    "PD {} ({})",
                    m["name"].as_str().unwrap_or("?"),
                    if have.is_empty() { "unknown" } else { have }
                )
            })
        })
        .collect())
}

/// Stores (by address) that do not run `want` yet, Tombstones aside.
async fn stores_behind(
    c: &Cluster,
    spec: &StackSpec,
    p: &PatchParams,
    want: &str,
) -> Result<Vec<String>, Held> {
    let out = pd_ctl(c, spec, p, None, &["store"])
        .await
        .map_err(|e| Held::Pd(geowp_common::error_chain(&e)))?;
    let v = json_of(&out).ok_or_else(|| {
        Held::Pd(format!(
            "pd-ctl store printed no store list: {}",
            printed(&out)
        ))
    })?;
    Ok(v["stores"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["store"]["state_name"].as_str() != Some("Tombstone"))
        .filter_map(|s| {
            let have = version_of(s["store"]["version"].as_str().unwrap_or(""));
            (have != want).then(|| {
                format!(
                    "TiKV {} ({})",
                    s["store"]["address"].as_str().unwrap_or("?"),
                    if have.is_empty() { "unknown" } else { have }
                )
            })
        })
        .collect())
}

/// Waits, bounded by the cluster's deadline, until the components before
/// `component` run this stack's version everywhere in the site.
pub async fn wait_versions(
    c: &Cluster,
    spec: &StackSpec,
    p: &PatchParams,
    component: &str,
) -> Result<(), Held> {
    let want = version_of(&spec.tidb_version).to_string();
    loop {
        let behind = match component {
            object::TIKV => pds_behind(c, spec, p, &want).await?,
            object::TIDB => stores_behind(c, spec, p, &want).await?,
            _ => return Ok(()),
        };
        if behind.is_empty() {
            return Ok(());
        }
        if c.remaining() < Duration::from_secs(10) {
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

/// The store ids in PD's evict-leader scheduler: the regions rolling now.
async fn claims(c: &Cluster, spec: &StackSpec, p: &PatchParams) -> Result<BTreeSet<u64>, Held> {
    let out = pd_ctl(c, spec, p, None, &["scheduler", "config", EVICT])
        .await
        .map_err(|e| Held::Pd(geowp_common::error_chain(&e)))?;
    // pd-ctl's words when PD has no such scheduler (tikv/pd@v8.5.7
    // tools/pd-ctl/pdctl/command/scheduler.go:777-778)
    if out.contains("[404] scheduler not found") {
        return Ok(BTreeSet::new());
    }
    let v = json_of(&out).ok_or_else(|| {
        Held::Pd(format!(
            "pd-ctl scheduler config {EVICT} printed no configuration: {}",
            printed(&out)
        ))
    })?;
    // the scheduler's configuration (pkg/schedule/schedulers/evict_leader.go:51)
    Ok(v["store-id-ranges"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.parse().ok())
        .collect())
}

/// Which member each store id of `ids` belongs to, by the store address
/// (members without a store in PD are left out).
async fn owners(
    c: &Cluster,
    spec: &StackSpec,
    p: &PatchParams,
    ids: &BTreeSet<u64>,
) -> Result<BTreeMap<u64, String>, Held> {
    let out = pd_ctl(c, spec, p, None, &["store"])
        .await
        .map_err(|e| Held::Pd(geowp_common::error_chain(&e)))?;
    let v = json_of(&out).unwrap_or_default();
    let by_address: BTreeMap<&str, &str> = spec
        .members
        .iter()
        .map(|(n, m)| (m.tikv_address.as_str(), n.as_str()))
        .collect();
    Ok(v["stores"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let id = s["store"]["id"].as_u64()?;
            let addr = s["store"]["address"].as_str()?;
            ids.contains(&id).then(|| {
                (
                    id,
                    by_address
                        .get(addr)
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| format!("the store at {addr}")),
                )
            })
        })
        .collect())
}

async fn announce(c: &Cluster, spec: &StackSpec, p: &PatchParams, id: u64) -> Result<(), Held> {
    lifecycle::expect_success(
        c,
        spec,
        p,
        None,
        &["scheduler", "add", EVICT, &id.to_string()],
        &["already"],
    )
    .await
    .map_err(Held::Pd)
}

/// Withdraws this region's claim (the store takes leaders again).
pub async fn withdraw(
    c: &Cluster,
    spec: &StackSpec,
    p: &PatchParams,
    id: u64,
) -> Result<(), String> {
    // pd-ctl turns `scheduler remove evict-leader-scheduler-ID` into deleting
    // the store from the scheduler's list (scheduler.go:544-545)
    lifecycle::expect_success(
        c,
        spec,
        p,
        None,
        &["scheduler", "remove", &format!("{EVICT}-{id}")],
        // already withdrawn: the store not in the scheduler's configuration
        // (ErrScheduleConfigNotExist, "the config does not exist") or no
        // scheduler at all (scheduler.go:876-878)
        &["does not exist"],
    )
    .await
}

/// This region's turn, won as described in the module's doc; `Ok(None)`
/// when PD has no store of this region (nothing to claim with: a region
/// whose TiKV never registered).
pub async fn claim(c: &Cluster, spec: &StackSpec, p: &PatchParams) -> Result<Option<u64>, Held> {
    let Some(me) = spec.me() else { return Ok(None) };
    let Some((mine, _)) = store_at(c, spec, p, None, &me.tikv_address)
        .await
        .map_err(Held::Pd)?
    else {
        return Ok(None);
    };
    loop {
        if let Err(why) = lifecycle::wait_cluster_fit(c, spec, p).await {
            return Err(Held::Waiting(why));
        }
        announce(c, spec, p, mine).await?;
        // with the claim standing, read the others' until this region may
        // go or must step back; the decision is made again on every read,
        // since a member that sorts earlier may announce at any time
        let stepped_back = loop {
            let mut others = claims(c, spec, p).await?;
            others.remove(&mine);
            if others.is_empty() {
                return Ok(Some(mine));
            }
            let who = owners(c, spec, p, &others).await?;
            let first_other = who.values().min().cloned().unwrap_or_default();
            if !first_other.is_empty() && first_other < spec.member {
                withdraw(c, spec, p, mine).await.map_err(Held::Pd)?;
                break who;
            }
            if c.remaining() < Duration::from_secs(10) {
                withdraw(c, spec, p, mine).await.map_err(Held::Pd)?;
                return Err(still_rolling(&who, &others));
            }
            tracing::info!(member = %spec.member, rolling = %who.values().cloned().collect::<Vec<_>>().join(", "), "rolling: waiting for another region's step to finish");
            tokio::time::sleep(POLL).await;
        };
        tracing::info!(member = %spec.member, first = %stepped_back.values().min().cloned().unwrap_or_default(), "rolling: stepped back for a member that sorts earlier");
        // stepped back: wait until no region holds a claim, then announce again
        loop {
            let mut now = claims(c, spec, p).await?;
            now.remove(&mine);
            if now.is_empty() {
                break;
            }
            if c.remaining() < Duration::from_secs(10) {
                let who = owners(c, spec, p, &now).await?;
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
