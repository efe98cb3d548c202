//! Destroy: every object of the inventory (and the claims the StatefulSets
//! made from their templates) deleted in reverse waves, each only if it still
//! has the uid recorded, waiting for that uid to be gone. A stack that
//! applied nothing is removed without contacting its cluster. A member
//! leaving a site that goes on waits, first, for the survivors to remove it
//! from TiDB.

use std::time::Duration;

use geowp_common::names::label;
use geowp_kube::conditions::is_deleted;
use geowp_kube::{connect, Cluster, Connection, Deleted, ObjRef, Readiness, Wave};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Inventory;
use crate::leave::{Leaves, MayDelete};
use crate::render::StackSpec;
use crate::report::{Report, Stop, Subject};

/// What to remove.
pub struct Doomed<'a> {
    pub spec: &'a StackSpec,
    pub inventory: &'a Inventory,
    /// The delete timeout (for the wait for survivors, and again for deleting).
    pub limit: Duration,
    pub who: String,
}

/// One object to remove: where it is, and its uid when known.
struct Item {
    id: ObjRef,
    uid: Option<String>,
}

/// Deletion order: workloads first, then their configuration, the
/// namespace, and cluster-scoped objects last.
fn step(d: &Item) -> u8 {
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

/// Removes the stack: Ok with what was said on the way; Stop when it must
/// stay (in part) and be destroyed again.
pub async fn destroy(
    conn: &Connection,
    cancel: CancellationToken,
    leaves: &Leaves,
    d: Doomed<'_>,
) -> Result<Report, Stop> {
    let mut report = Report::default();
    let who = d.who.as_str();
    let mut items: Vec<Item> = d
        .inventory
        .values()
        .map(|p| Item {
            id: p.id.clone(),
            uid: p.uid.clone().filter(|u| !u.is_empty()),
        })
        .collect();
    if items.is_empty() {
        tracing::info!(member = %d.spec.member, "the stack applied nothing: nothing to delete");
        return Ok(report);
    }
    report.step("leave");
    if !wait_for_survivors(leaves, &d, &mut report).await {
        return Err(report.stop());
    }
    // deleting gets the whole delete timeout, however long the wait took
    let deadline = Instant::now() + d.limit;
    let cluster = match connect(conn, deadline, cancel).await {
        Ok(c) => c,
        Err(e) => {
            report.cluster(e, who, "connecting to destroy the stack");
            return Err(report.stop());
        }
    };
    report.step("claims");
    match template_claims(&cluster, d.spec, &mut items).await {
        Ok(()) => {}
        Err(e) if e.code() == Some(404) => {}
        Err(e) if e.is_lost() => {
            // a lost region: Terraform must be able to let go of it
            let ns = &d.spec.namespace;
            report.warning(
                Subject::Stack,
                "Region unreachable: dropped from state",
                format!("{} ({who}). Its objects could not be deleted and are no longer tracked; if the cluster comes back, delete namespace {ns} there (kubectl delete namespace {ns}).", geowp_common::error_chain(&e)),
            );
            return Ok(report);
        }
        Err(e) => {
            report.cluster(e, who, "listing the stack's claims");
            return Err(report.stop());
        }
    }
    let ns = d.spec.namespace.clone();
    report.step("delete");
    for s in 0..=3u8 {
        let batch: Vec<&Item> = items.iter().filter(|i| step(i) == s).collect();
        if !delete_batch(&cluster, &batch, who, d.limit, &mut report).await {
            return Err(report.stop());
        }
    }
    let claims: Vec<&str> = items
        .iter()
        .filter(|i| i.id.kind == "PersistentVolumeClaim")
        .map(|i| i.id.name.as_str())
        .collect();
    report_kept_volumes(&cluster, &ns, &claims, who, &mut report).await;
    Ok(report)
}

/// A member leaving a site that goes on: the survivors remove it from TiDB
/// first. False when the region must be kept.
async fn wait_for_survivors(leaves: &Leaves, d: &Doomed<'_>, report: &mut Report) -> bool {
    let others: Vec<String> = d
        .spec
        .members
        .keys()
        .filter(|m| **m != d.spec.member)
        .cloned()
        .collect();
    let waited = Instant::now() + d.limit;
    match leaves
        .wait_for_leave(&d.spec.site_name, &d.spec.member, &others, waited)
        .await
    {
        MayDelete::Removed | MayDelete::NoSurvivor(None) => true,
        MayDelete::NoSurvivor(Some(why)) => {
            report.warning(Subject::Stack, "Member not removed from TiDB", why);
            true
        }
        MayDelete::Refused(why) => {
            report.error(
                Subject::Stack,
                "Region kept",
                format!(
                    "{} is not destroyed: it must leave TiDB first, and that failed: {why}",
                    d.who
                ),
            );
            false
        }
    }
}

/// Adds the claims the StatefulSets made from their templates (the
/// stack's too) to `items`.
async fn template_claims(
    cluster: &Cluster,
    spec: &StackSpec,
    items: &mut Vec<Item>,
) -> Result<(), geowp_kube::ClusterError> {
    let ns = &spec.namespace;
    let selector = format!(
        "{}={},{}={}",
        label::MANAGED_BY,
        label::MANAGED_BY_VALUE,
        label::MEMBER,
        spec.member
    );
    for p in cluster
        .list("v1", "PersistentVolumeClaim", ns, &selector)
        .await?
    {
        let name = p["metadata"]["name"].as_str().unwrap_or("").to_string();
        if !items
            .iter()
            .any(|i| i.id.kind == "PersistentVolumeClaim" && i.id.name == name)
        {
            items.push(Item {
                id: ObjRef::new("v1", "PersistentVolumeClaim", ns, &name),
                uid: p["metadata"]["uid"].as_str().map(String::from),
            });
        }
    }
    Ok(())
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
    report: &mut Report,
) {
    let pvs = match cluster.list("v1", "PersistentVolume", "", "").await {
        Ok(v) => v,
        Err(e) => {
            report.warning(
                Subject::Stack,
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
        report.warning(
            Subject::Stack,
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
    batch: &[&Item],
    who: &str,
    limit: std::time::Duration,
    report: &mut Report,
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
            Ok(Deleted::NotOurs { uid }) => report.warning(
                Subject::Stack,
                "Left an object alone",
                format!("{} on {} was made anew by someone else (uid {uid}, not the one geowp applied); it was not deleted.", i.id.key(), cluster.name),
            ),
            Err(e) => {
                report.cluster(e, who, format!("deleting {}", i.id.key()));
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
                report.cluster(e, who, format!("waiting for {} to go", i.id.key()));
                return false;
            }
        }
    }
    if !blocked.is_empty() {
        report.error(
            Subject::Stack,
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
