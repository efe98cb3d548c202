//! `geowp-helper site status`: one table for a whole site across its
//! clusters. Per region: WordPress ready replicas, PD member health and
//! leadership, TiKV store state and leader count, the SyncThing group
//! config and pod, and when the region's certificate expires; then the
//! site's last good backup, warned about when older than twice the
//! interval.
//!
//! Everything is read through the Kubernetes API: PD is asked with the
//! stack library's pd-ctl (the provider's own Job, from the region's
//! recorded configuration: the PD image, that region's certificate, the
//! hardening every geowp pod has), run in the first region that answers,
//! its output read from the Job's pod log, so no network path to the pods
//! is needed. The helper makes no Kubernetes object of its own.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::PatchParams;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use geowp_common::error_chain;
use geowp_common::names::{annotation, label, object, secret, FIELD_MANAGER};
use geowp_kube::{Cluster, ObjRef};
use geowp_stack::pdctl::PdCtl;
use geowp_stack::render::StackSpec;
use geowp_syncthing::group::{Settings, IN_SYNC};

use crate::sync::{connect_all, kube_members, member_state, KubeTarget, SyncError, POD_READY};

/// A certificate closer to its end than this is unhealthy (the provider
/// reissues within 30 days at the next apply).
const CERT_WARN_DAYS: i64 = 30;

/// What one region says about itself.
#[derive(Default)]
struct Region {
    member: String,
    error: Option<String>,
    wordpress: String,
    wordpress_ok: bool,
    tikv_address: Option<String>,
    cert: String,
    cert_ok: bool,
    /// The stack's configuration as its Namespace records it.
    spec: Option<StackSpec>,
}

async fn region(c: &Cluster, ns: &str, context: &str) -> Region {
    let mut r = Region {
        member: context.to_string(),
        ..Default::default()
    };
    let get = |kind: &str, name: &str| {
        let api = if kind == "Namespace" || kind == "Secret" {
            "v1"
        } else {
            "apps/v1"
        };
        let namespace = if kind == "Namespace" { "" } else { ns };
        ObjRef::new(api, kind, namespace, name)
    };
    let nsobj = match c.get(&get("Namespace", ns)).await {
        Ok(Some(n)) => n,
        Ok(None) => {
            r.error = Some(format!("no namespace {ns}: no stack here"));
            return r;
        }
        Err(e) => {
            r.error = Some(format!("unreachable: {}", error_chain(&e)));
            return r;
        }
    };
    if let Some(m) = nsobj["metadata"]["labels"][label::MEMBER].as_str() {
        r.member = m.to_string();
    }
    r.spec = nsobj["metadata"]["annotations"][annotation::STACK_CONFIG]
        .as_str()
        .and_then(|s| geowp_stack::layout::recall(s).ok());
    r.tikv_address = r
        .spec
        .as_ref()
        .and_then(|s| s.members.get(&r.member))
        .map(|m| m.tikv_address.clone());
    match c.get(&get("Deployment", object::WORDPRESS)).await {
        Ok(Some(d)) => {
            let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = d["status"]["readyReplicas"].as_i64().unwrap_or(0);
            r.wordpress = format!("{ready}/{want} ready");
            r.wordpress_ok = ready >= want && want > 0;
        }
        Ok(None) => r.wordpress = "no Deployment".into(),
        Err(e) => r.wordpress = error_chain(&e),
    }
    match c.get(&get("Secret", secret::TIDB_TLS)).await {
        Ok(Some(s)) => {
            let pem = s["data"]["tls.crt"]
                .as_str()
                .and_then(geowp_common::b64::decode_text);
            match pem.as_deref().map(geowp_kube::pem::not_after) {
                Some(Ok(t)) => {
                    let days = (t - geowp_common::time::unix_now()) / 86400;
                    r.cert = format!("{} ({days} d)", geowp_common::time::date(t));
                    r.cert_ok = days >= CERT_WARN_DAYS;
                }
                _ => r.cert = "unreadable".into(),
            }
        }
        Ok(None) => {
            r.cert = "no TLS".into();
            r.cert_ok = true;
        }
        Err(e) => r.cert = error_chain(&e),
    }
    r
}

/// What PD says: member health and leader, stores by address.
#[derive(Default)]
struct Pd {
    leader: Option<String>,
    health: BTreeMap<String, bool>,
    /// address => (state, leader count)
    stores: BTreeMap<String, (String, u64)>,
    error: Option<String>,
}

async fn ask_pd(c: &Cluster, spec: &StackSpec) -> Pd {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let pd_ctl = PdCtl::new(c, spec, &params);
    let mut pd = Pd::default();
    match pd_ctl.member_list().await {
        Ok((_, leader)) => pd.leader = leader,
        Err(e) => pd.error = Some(e.to_string()),
    }
    if let Ok(health) = pd_ctl.health().await {
        pd.health.extend(health);
    }
    if let Ok(stores) = pd_ctl.stores().await {
        for st in stores.into_iter().filter(|st| !st.address.is_empty()) {
            let state = if st.state.is_empty() {
                "?".into()
            } else {
                st.state
            };
            pd.stores.insert(st.address, (state, st.leader_count));
        }
    }
    pd
}

/// The site's status table; [`SyncError::Unhealthy`] (exit 3) when any part
/// of any region is not as it should be, [`SyncError::Failed`] when no
/// region answers at all.
pub async fn status(
    t: &KubeTarget,
    s: &Settings,
    timeout: Duration,
    cancel: CancellationToken,
) -> Result<Vec<String>, SyncError> {
    let deadline = Instant::now() + timeout;
    let cs = connect_all(t, deadline, &cancel).await?;
    let regions: Vec<Region> = futures_util::future::join_all(
        t.members
            .iter()
            .zip(&cs)
            .map(|((_, ctx), c)| region(c, &t.namespace, ctx)),
    )
    .await;
    // PD, from the first region that answers and runs it
    let asker = regions
        .iter()
        .zip(&cs)
        .find_map(|(r, c)| Some((r.spec.as_ref().filter(|_| r.error.is_none())?, c)));
    let pd = match asker {
        Some((spec, c)) => ask_pd(c, spec).await,
        None => Pd {
            error: Some("no region answers with a PD to ask".into()),
            ..Default::default()
        },
    };
    // SyncThing: the group's config as the group would write it, and the pod
    // members are named as the stacks name them (the namespace's member
    // label), not after their contexts
    let named = KubeTarget {
        kubeconfig: t.kubeconfig.clone(),
        members: t
            .members
            .iter()
            .zip(&regions)
            .map(|((_, ctx), r)| (r.member.clone(), ctx.clone()))
            .collect(),
        namespace: t.namespace.clone(),
        addresses: t.addresses.clone(),
    };
    let sync: Vec<(String, bool)> = if regions.iter().all(|r| r.error.is_none()) {
        match kube_members(&named, &cs).await {
            Ok(ms) => {
                let checks = futures_util::future::join_all(
                    ms.iter().zip(&cs).map(|(m, c)| member_state(c, m, &ms, s)),
                )
                .await;
                checks
                    .into_iter()
                    .map(|r| match r {
                        Ok((cfg, rollout)) => {
                            let ok = cfg == IN_SYNC && rollout == POD_READY;
                            (format!("{cfg}, {rollout}"), ok)
                        }
                        Err(e) => (error_chain(&e), false),
                    })
                    .collect()
            }
            Err(e) => regions.iter().map(|_| (e.to_string(), false)).collect(),
        }
    } else {
        regions
            .iter()
            .map(|_| ("unknown: a region does not answer".to_string(), false))
            .collect()
    };
    let mut lines = vec![format!(
        "{:<12} {:<14} {:<22} {:<22} {:<30} CERTIFICATE",
        "REGION", "WORDPRESS", "PD", "TIKV", "SYNCTHING"
    )];
    let mut problems = Vec::new();
    for (r, (sync, sync_ok)) in regions.iter().zip(sync) {
        if let Some(e) = &r.error {
            problems.push(format!("{}: {e}", r.member));
            lines.push(format!("{:<12} {e}", r.member));
            continue;
        }
        let pd_col = match (pd.health.get(&r.member), &pd.error) {
            (_, Some(e)) => format!("unknown ({e})"),
            (None, None) => "not a member".into(),
            (Some(true), None) if pd.leader.as_deref() == Some(r.member.as_str()) => {
                "healthy, leader".into()
            }
            (Some(true), None) => "healthy".into(),
            (Some(false), None) => "unhealthy".into(),
        };
        let pd_ok = pd_col.starts_with("healthy");
        let (tikv_col, tikv_ok) = match r.tikv_address.as_ref().and_then(|a| pd.stores.get(a)) {
            Some((state, leaders)) => (format!("{state}, {leaders} leaders"), state == "Up"),
            None => ("no store".to_string(), false),
        };
        for (ok, what) in [
            (r.wordpress_ok, format!("WordPress {}", r.wordpress)),
            (pd_ok, format!("PD {pd_col}")),
            (tikv_ok, format!("TiKV {tikv_col}")),
            (sync_ok, format!("SyncThing {sync}")),
            (r.cert_ok, format!("certificate expires {}", r.cert)),
        ] {
            if !ok {
                problems.push(format!("{}: {what}", r.member));
            }
        }
        lines.push(format!(
            "{:<12} {:<14} {:<22} {:<22} {:<30} {}",
            r.member, r.wordpress, pd_col, tikv_col, sync, r.cert
        ));
    }
    if pd.leader.is_none() && pd.error.is_none() {
        problems.push("PD has no leader".into());
    }
    // the last good backup, asked in the first region that runs backups
    let (backup, backup_ok) = crate::backup::last_good(t, &cs).await;
    if !backup_ok {
        problems.push(backup.clone());
    }
    lines.push(backup);
    if regions.iter().all(|r| r.error.is_some()) {
        return Err(SyncError::Failed(problems.join("\n")));
    }
    if problems.is_empty() {
        Ok(lines)
    } else {
        Err(SyncError::Unhealthy {
            report: lines,
            why: format!("the site is not healthy:\n  {}", problems.join("\n  ")),
        })
    }
}
