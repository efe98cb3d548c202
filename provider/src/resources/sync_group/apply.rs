//! Create and update: every member's group configuration written through
//! its own cluster's API, all in parallel (two writes per member), and
//! members dropped from the group taken out of it. A member that could not
//! be written is recorded as "not applied", so the next apply writes it and
//! a destroy leaves it alone.

use std::collections::BTreeMap;

use geowp_kube::{connect, ClusterError};
use geowp_syncthing::group::{self, Member, IN_SYNC};
use tfplugin::diag::{AttrPath, Diagnostics};
use tfplugin::provider::Ctx;
use tfplugin::Val;
use tokio::time::Instant;

use super::model::{SyncGroupModel, NOT_APPLIED};
use crate::resources::cluster::diagnose;

pub(super) fn member_path(name: &str) -> AttrPath {
    AttrPath::root("members").key(name).attr("cluster")
}

/// Converges; None when nothing could be written for any member.
pub async fn converge(
    ctx: &mut Ctx,
    prior: Option<&SyncGroupModel>,
    planned: SyncGroupModel,
    diags: &mut Diagnostics,
) -> Option<SyncGroupModel> {
    let ms = planned.members();
    let set = planned.settings();
    let limit = if prior.is_none() {
        planned.timeouts.create()
    } else {
        planned.timeouts.update()
    };
    let deadline = Instant::now() + limit;
    let results = futures_util::future::join_all(ms.iter().map(|m| {
        let (all, set, cancel) = (&ms, &set, ctx.cancel.clone());
        async move {
            let c = connect(&m.conn, deadline, cancel).await?;
            group::join(&c, m, all, set).await
        }
    }))
    .await;
    // members dropped from the group leave it (if anything was written for them)
    let removed: Vec<Member> = prior
        .map(|p| {
            p.members
                .iter()
                .filter(|(n, _)| !planned.members.contains_key(*n) && p.applied(n))
                .map(|(n, m)| m.member(n))
                .collect()
        })
        .unwrap_or_default();
    let leaves = futures_util::future::join_all(removed.iter().map(|m| {
        let cancel = ctx.cancel.clone();
        async move {
            let c = connect(&m.conn, deadline, cancel).await?;
            group::leave(&c, &m.namespace).await
        }
    }))
    .await;
    let mut status = BTreeMap::new();
    for (m, r) in ms.iter().zip(results) {
        let s = match r {
            Ok(Ok(_)) => IN_SYNC.to_string(),
            Ok(Err(group::NotReady(why))) => {
                diags.error_at(
                    AttrPath::root("members").key(&m.name),
                    "Member not ready for the group",
                    why.clone(),
                );
                format!("{NOT_APPLIED}: {why}")
            }
            Err(e) => {
                diagnose(
                    &e,
                    &member_path(&m.name),
                    &format!("member {}", m.name),
                    "writing the group configuration",
                    diags,
                );
                format!("{NOT_APPLIED}: {}", geowp_common::error_chain(&e))
            }
        };
        status.insert(m.name.clone(), s);
    }
    for (m, r) in removed.iter().zip(leaves) {
        if let Err(e) = r {
            if e.is_lost() {
                diags.warning_at(
                    AttrPath::root("members"),
                    "Lost member dropped from the group",
                    format!("member {}'s cluster does not answer ({}); it left the group, but its own SyncThing config there could not be cleaned up.", m.name, geowp_common::error_chain(&e)),
                );
                continue;
            }
            diagnose(
                &e,
                &AttrPath::root("members"),
                &format!("member {}", m.name),
                "removing it from the group",
                diags,
            );
        }
    }
    let written = status.values().any(|s| !s.starts_with(NOT_APPLIED));
    if prior.is_none() && !written {
        return None;
    }
    tracing::info!(members = ms.len(), "sync group converged");
    Some(SyncGroupModel {
        id: Val::Known(planned.folder_id.clone()),
        device_ids: Val::Known(
            ms.iter()
                .map(|m| (m.name.clone(), m.device_id.clone()))
                .collect(),
        ),
        member_status: Val::Known(status),
        ..planned
    })
}

/// Takes every member that was written out of the group.
pub async fn destroy(ctx: &mut Ctx, prior: SyncGroupModel, diags: &mut Diagnostics) {
    let ms: Vec<Member> = prior
        .members
        .iter()
        .filter(|(n, _)| prior.applied(n))
        .map(|(n, m)| m.member(n))
        .collect();
    let deadline = Instant::now() + prior.timeouts.delete();
    let results = futures_util::future::join_all(ms.iter().map(|m| {
        let cancel = ctx.cancel.clone();
        async move {
            let c = connect(&m.conn, deadline, cancel).await?;
            group::leave(&c, &m.namespace).await
        }
    }))
    .await;
    for (m, r) in ms.iter().zip(results) {
        if let Err(e) = r {
            diagnose(
                &e,
                &member_path(&m.name),
                &format!("member {}", m.name),
                "leaving the group",
                diags,
            );
        }
    }
}

/// Refresh: each written member's live config compared with the group's.
/// A member that cannot be reached keeps its status, with a warning, so
/// the others can still be planned.
pub async fn read(
    ctx: &mut Ctx,
    state: SyncGroupModel,
    diags: &mut Diagnostics,
) -> Option<SyncGroupModel> {
    let ms = state.members();
    let set = state.settings();
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    let results = futures_util::future::join_all(ms.iter().map(|m| {
        let (all, set, cancel, written) = (&ms, &set, ctx.cancel.clone(), state.applied(&m.name));
        async move {
            if !written {
                return Ok(None);
            }
            let c = connect(&m.conn, deadline, cancel).await?;
            group::check(&c, m, all, set).await.map(Some)
        }
    }))
    .await;
    let mut status = state.member_status.known().cloned().unwrap_or_default();
    for (m, r) in ms.iter().zip(results) {
        match r {
            Ok(Some(s)) => {
                status.insert(m.name.clone(), s);
            }
            Ok(None) => {}
            Err(ClusterError::Cancelled) => {
                diagnose(&ClusterError::Cancelled, &member_path(&m.name), &format!("member {}", m.name), "refreshing the group", diags);
                return Some(state);
            }
            Err(e) => diags.warning_at(
                AttrPath::root("members").key(&m.name),
                "Member not refreshed",
                format!("member {} could not be read ({}); its status is kept as it was, and the other members are planned as usual.", m.name, geowp_common::error_chain(&e)),
            ),
        }
    }
    Some(SyncGroupModel {
        member_status: Val::Known(status),
        ..state
    })
}
