//! The TiDB tier's turn in a converge: which StatefulSets change their pod
//! template, and applying them in the site's rolling order, each step
//! gated on PD ([`crate::rolling`]).

use std::collections::BTreeSet;

use geowp_common::names::object;
use geowp_kube::{Cluster, ClusterError, Obj, Readiness};

use crate::pdctl::PdCtl;
use crate::render::StackSpec;
use crate::report::{Report, Subject};
use crate::rolling::{self, tier_rank};

/// The TiDB-tier StatefulSets whose pod templates this apply changes: they
/// take their turn in the site's rolling order instead of the batch.
pub async fn tier_changes(cluster: &Cluster, objs: &[Obj]) -> BTreeSet<String> {
    let tier: Vec<&Obj> = objs
        .iter()
        .filter(|o| o.id.kind == "StatefulSet" && tier_rank(&o.id.name).is_some())
        .collect();
    let lives = futures_util::future::join_all(tier.iter().map(|o| cluster.get(&o.id))).await;
    tier.iter()
        .zip(lives)
        .filter(|(o, live)| matches!(live, Ok(l) if rolling::template_changes(o, l.as_ref())))
        .map(|(o, _)| o.key())
        .collect()
}

/// Applies the changed TiDB-tier StatefulSets in the site's rolling order
/// (PD, TiKV, TiDB), each step gated on PD: the earlier components at this
/// version site-wide, the cluster whole, this region's claim won, a TiKV's
/// leaders gone, a leading PD's leadership moved; ready before the claim is
/// withdrawn and the next step begins. What held a step back is in the
/// report; Err is the cluster failing a step's object.
pub async fn roll(
    pd: PdCtl<'_>,
    spec: &StackSpec,
    steps: &[&Obj],
    report: &mut Report,
) -> Result<(), (String, ClusterError)> {
    let cluster = pd.cluster();
    let mut sorted = steps.to_vec();
    sorted.sort_by_key(|o| tier_rank(&o.id.name));
    for o in sorted {
        if tier_rank(&o.id.name).is_none() {
            continue;
        }
        let held = |why: rolling::Held, report: &mut Report| {
            report.error(
                Subject::Stack,
                "Rolling change held back",
                format!(
                    "{} of member {} was not changed: {why}.",
                    o.key(),
                    spec.member
                ),
            );
        };
        if let Err(why) = rolling::wait_versions(pd, spec, &o.id.name).await {
            held(why, report);
            return Ok(());
        }
        let claim = match rolling::claim(pd, spec).await {
            Ok(c) => c,
            Err(why) => {
                held(why, report);
                return Ok(());
            }
        };
        tracing::info!(member = %spec.member, component = %o.id.name, "rolling: this region's turn");
        let prepared = match (o.id.name.as_str(), claim) {
            (object::PD, _) => rolling::before_pd(pd, spec).await,
            (object::TIKV, Some(id)) => rolling::wait_leaders_gone(pd, id).await,
            _ => Ok(()),
        };
        if let Err(e) = prepared {
            report.warning(
                Subject::Stack,
                "Restarted without moving leaders first",
                format!("member {}: {} restarts without its leaders moved away first ({e}); clients may wait a few seconds for a new leader.", spec.member, o.id.name),
            );
        }
        let params = pd.params();
        let applied = cluster.converge_object(o, params).await;
        let waited = match applied {
            Ok(_) => {
                cluster
                    .wait(&o.id, geowp_kube::conditions::is_rolled_out("StatefulSet"))
                    .await
            }
            Err(e) => Err(e),
        };
        if let Some(id) = claim {
            if let Err(e) = rolling::withdraw(pd, id).await {
                report.warning(
                    Subject::Stack,
                    "Rolling claim left in place",
                    format!("member {}: removing store {id} from PD's evict-leader-scheduler failed ({e}); this region's TiKV takes no leaders and other regions' rolling waits until it is removed: apply this stack again, or run pd-ctl scheduler remove evict-leader-scheduler-{id}.", spec.member),
                );
            }
        }
        match waited {
            Ok(Readiness::Ready) => {}
            Ok(Readiness::Waiting(why) | Readiness::Failed(why)) => {
                report.error(
                    Subject::Stack,
                    "Rolling change stopped",
                    format!("{} of member {} is not ready ({why}); this region's later TiDB components were not changed. Fix the cause and apply again.", o.key(), spec.member),
                );
                return Ok(());
            }
            Err(e) => return Err((o.key(), e)),
        }
    }
    Ok(())
}
