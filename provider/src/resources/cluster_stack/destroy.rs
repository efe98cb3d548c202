//! Destroy: every object of the inventory (and the claims the StatefulSets
//! made from their templates) deleted in reverse waves, each only if it still
//! has the uid recorded, waiting for that uid to be gone. A stack that
//! applied nothing is removed without contacting its cluster.

use geowp_common::names::label;
use geowp_kube::conditions::is_deleted;
use geowp_kube::{connect, Cluster, Deleted, ObjRef, Readiness, Wave};
use tfplugin::diag::Diagnostics;
use tfplugin::provider::Ctx;
use tokio::time::Instant;

use super::apply::cluster_path;
use super::lifecycle::{self, MayDelete};
use super::model::StackModel;
use crate::resources::cluster::diagnose;

/// One object to remove: where it is, and its uid when known.
struct Doomed {
    id: ObjRef,
    uid: Option<String>,
}

/// Deletion order: workloads first, then their configuration, the
/// namespace, and cluster-scoped objects last.
fn step(d: &Doomed) -> u8 {
    match (
        Wave::of(&d.id.kind, d.id.namespace.is_empty()),
        d.id.kind.as_str(),
    ) {
        (Wave::Workload, _) => 0,
        (_, "Namespace") => 2,
        (Wave::Config, _) => 1,
        _ => 3,
    }
}

pub async fn destroy(ctx: &mut Ctx, prior: StackModel, diags: &mut Diagnostics) {
    let who = prior.who();
    let mut items: Vec<Doomed> = prior
        .out
        .inventory
        .known()
        .map(|inv| {
            inv.values()
                .map(|i| Doomed {
                    id: i.reference(),
                    uid: i.uid.known().cloned().filter(|u| !u.is_empty()),
                })
                .collect()
        })
        .unwrap_or_default();
    if items.is_empty() {
        tracing::info!(member = %prior.spec.member, "the stack applied nothing: nothing to delete");
        return;
    }
    let limit = prior.timeouts.delete();
    // a member leaving a site that goes on: the survivors remove it from TiDB first
    let others: Vec<String> = prior
        .spec
        .members
        .keys()
        .filter(|m| **m != prior.spec.member)
        .cloned()
        .collect();
    let waited = Instant::now() + limit;
    match lifecycle::wait_for_leave(&prior.spec.site_name, &prior.spec.member, &others, waited)
        .await
    {
        MayDelete::Removed | MayDelete::NoSurvivor(None) => {}
        MayDelete::NoSurvivor(Some(why)) => diags.warning("Member not removed from TiDB", why),
        MayDelete::Refused(why) => {
            diags.error(
                "Region kept",
                format!("{who} is not destroyed: it must leave TiDB first, and that failed: {why}"),
            );
            return;
        }
    }
    // deleting gets the whole delete timeout, however long the wait took
    let deadline = Instant::now() + limit;
    let cluster = match connect(&prior.cluster.connection(), deadline, ctx.cancel.clone()).await {
        Ok(c) => c,
        Err(e) => {
            return diagnose(
                &e,
                &cluster_path(),
                &who,
                "connecting to destroy the stack",
                diags,
            )
        }
    };
    let ns = prior.spec.namespace.clone();
    // claims made by the StatefulSets from their templates are the stack's too
    let selector = format!(
        "{}={},{}={}",
        label::MANAGED_BY,
        label::MANAGED_BY_VALUE,
        label::MEMBER,
        prior.spec.member
    );
    match cluster
        .list("v1", "PersistentVolumeClaim", &ns, &selector)
        .await
    {
        Ok(pvcs) => {
            for p in pvcs {
                let name = p["metadata"]["name"].as_str().unwrap_or("").to_string();
                if !items
                    .iter()
                    .any(|i| i.id.kind == "PersistentVolumeClaim" && i.id.name == name)
                {
                    items.push(Doomed {
                        id: ObjRef::new("v1", "PersistentVolumeClaim", &ns, &name),
                        uid: p["metadata"]["uid"].as_str().map(String::from),
                    });
                }
            }
        }
        Err(e) if e.code() == Some(404) => {}
        Err(e) if crate::resources::cluster::is_lost(&e) => {
            // a lost region: Terraform must be able to let go of it
            diags.warning(
                "Region unreachable: dropped from state",
                format!("{} ({who}). Its objects could not be deleted and are no longer tracked; if the cluster comes back, delete namespace {ns} there (kubectl delete namespace {ns}).", geowp_common::error_chain(&e)),
            );
            return;
        }
        Err(e) => {
            return diagnose(
                &e,
                &cluster_path(),
                &who,
                "listing the stack's claims",
                diags,
            )
        }
    }
    for s in 0..=3u8 {
        let batch: Vec<&Doomed> = items.iter().filter(|i| step(i) == s).collect();
        if !delete_batch(&cluster, &batch, &who, limit, diags).await {
            return;
        }
    }
    let claims: Vec<&str> = items
        .iter()
        .filter(|i| i.id.kind == "PersistentVolumeClaim")
        .map(|i| i.id.name.as_str())
        .collect();
    report_kept_volumes(&cluster, &ns, &claims, &who, diags).await;
}

/// Says which volumes of the deleted claims stay: those of a `Retain` class
/// (geowp's own classes are, so that a destroy never deletes a site's data
/// by itself) keep their disk and data, Released, until someone deletes
/// them. Reading volumes needs a cluster-wide list; without that right the
/// report says so instead.
async fn report_kept_volumes(
    cluster: &Cluster,
    ns: &str,
    claims: &[&str],
    who: &str,
    diags: &mut Diagnostics,
) {
    let pvs = match cluster.list("v1", "PersistentVolume", "", "").await {
        Ok(v) => v,
        Err(e) => {
            diags.warning(
                "Volumes not checked",
                format!("{who}: the claims are deleted, but listing PersistentVolumes failed ({}), so geowp cannot say which disks their Retain policy kept. List them with kubectl get pv | grep {ns}/.", geowp_common::error_chain(&e)),
            );
            return;
        }
    };
    let kept: Vec<String> = pvs
        .iter()
        .filter(|v| {
            v["spec"]["claimRef"]["namespace"] == ns
                && claims.contains(&v["spec"]["claimRef"]["name"].as_str().unwrap_or(""))
                && v["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
        })
        .map(|v| {
            let disk = [
                &v["spec"]["csi"]["volumeHandle"],
                &v["spec"]["gcePersistentDisk"]["pdName"],
                &v["spec"]["awsElasticBlockStore"]["volumeID"],
                &v["spec"]["azureDisk"]["diskURI"],
            ]
            .into_iter()
            .find_map(|x| x.as_str())
            .map(|d| format!(", disk {d}"))
            .unwrap_or_default();
            format!(
                "{} (was {}/{}, {}{disk})",
                v["metadata"]["name"].as_str().unwrap_or("?"),
                ns,
                v["spec"]["claimRef"]["name"].as_str().unwrap_or("?"),
                v["spec"]["capacity"]["storage"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    if !kept.is_empty() {
        diags.warning(
            "Volumes kept",
            format!(
                "{who}: the stack is gone, and its storage classes' Retain policy keeps these volumes with their data (and the disks they bill for):\n  {}\nDelete each with kubectl delete pv NAME, then its disk with your cloud's tools, once the data is not needed.",
                kept.join("\n  ")
            ),
        );
    }
}

/// Deletes a batch and waits for it; false when the destroy must stop.
async fn delete_batch(
    cluster: &Cluster,
    batch: &[&Doomed],
    who: &str,
    limit: std::time::Duration,
    diags: &mut Diagnostics,
) -> bool {
    let dels = futures_util::future::join_all(batch.iter().map(|i| {
        let c = cluster.clone();
        async move { c.delete(&i.id, i.uid.as_deref()).await }
    }))
    .await;
    let mut waiting = Vec::new();
    for (i, r) in batch.iter().zip(dels) {
        match r {
            Ok(Deleted::Deleting) => waiting.push(*i),
            Ok(Deleted::Absent) => {}
            Ok(Deleted::NotOurs { uid }) => diags.warning(
                "Left an object alone",
                format!("{} on {} was made anew by someone else (uid {uid}, not the one geowp applied); it was not deleted.", i.id.key(), cluster.name),
            ),
            Err(e) => {
                diagnose(&e, &cluster_path(), who, &format!("deleting {}", i.id.key()), diags);
                return false;
            }
        }
    }
    let waits = futures_util::future::join_all(waiting.iter().map(|i| {
        let c = cluster.clone();
        let uid = i.uid.clone().unwrap_or_default();
        async move { c.wait(&i.id, is_deleted(&uid)).await }
    }))
    .await;
    let mut blocked = Vec::new();
    for (i, r) in waiting.iter().zip(waits) {
        match r {
            Ok(Readiness::Ready) => {}
            Ok(Readiness::Waiting(why)) | Ok(Readiness::Failed(why)) => {
                blocked.push(format!("{}: {why}", i.id.key()))
            }
            Err(e) => {
                diagnose(
                    &e,
                    &cluster_path(),
                    who,
                    &format!("waiting for {} to go", i.id.key()),
                    diags,
                );
                return false;
            }
        }
    }
    if !blocked.is_empty() {
        diags.error(
            "Destroy blocked",
            format!(
                "after {}, on {}, still present:\n  {}\nRemove what holds them (often a finalizer of a controller that is gone), then destroy again.",
                geowp_common::duration::format(limit),
                cluster.name,
                blocked.join("\n  ")
            ),
        );
        return false;
    }
    true
}
