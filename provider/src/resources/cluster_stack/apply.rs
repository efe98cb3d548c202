//! Create and update: one converge. Server-side apply of every object in
//! waves (each wave's objects in parallel), deletion of what the stack no
//! longer has (by uid), then watch-based waits with kubectl's rollout rules,
//! all bounded by the operation's timeout.
//!
//! Even after a failure the returned state is the truth: what was applied
//! is in the inventory and `objects` says what is not, so the next apply
//! converges from it.

use std::collections::{BTreeMap, BTreeSet};

use geowp_common::names::{label, object};
use geowp_kube::conditions::{is_rolled_out, is_rolled_out_within_deadline, needs_wait};
use geowp_kube::{connect, Cluster, ClusterError, Deleted, Obj, ObjRef, Readiness, Wave};
use kube::api::PatchParams;
use tfplugin::diag::{AttrPath, Diagnostics};
use tfplugin::provider::Ctx;
use tfplugin::Val;
use tokio::time::Instant;

use super::model::{InventoryItem, StackModel, IN_SYNC};
use super::{lifecycle, rolling};
use crate::render::{self, Inputs, SyncthingSecrets, TlsMaterial, FIELD_MANAGER};
use crate::resources::cluster::diagnose;

/// What a converge left behind.
pub enum Outcome {
    /// Nothing was written (the cluster refused before any write).
    Nothing,
    /// The new state, true even after a failure.
    State(Box<StackModel>),
}

fn random_key() -> String {
    let b: [u8; 24] = rand::random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(super) fn cluster_path() -> AttrPath {
    AttrPath::root("cluster")
}

/// The member's SyncThing identity and API key from its cluster, if there.
pub(super) async fn load_syncthing(
    c: &Cluster,
    ns: &str,
) -> Result<Option<SyncthingSecrets>, ClusterError> {
    let st = geowp_syncthing::group::read_syncthing(c, ns).await?;
    let (Some(cert_pem), Some(key_pem)) = (st.cert_pem, st.key_pem) else {
        return Ok(None);
    };
    let device_id = st.device_id.ok_or_else(|| {
        ClusterError::Config("the Secret syncthing-identity holds no usable certificate".into())
    })?;
    Ok(Some(SyncthingSecrets {
        cert_pem,
        key_pem,
        device_id,
        api_key: st.api_key.unwrap_or_else(random_key),
    }))
}

/// The uid of the `wp-content` claim, once it exists.
pub(super) async fn wp_content_uid(c: &Cluster, ns: &str) -> Result<Option<String>, ClusterError> {
    let claim = c
        .get(&ObjRef::new(
            "v1",
            "PersistentVolumeClaim",
            ns,
            crate::render::nfs_claim(),
        ))
        .await?;
    Ok(claim.and_then(|x| x["metadata"]["uid"].as_str().map(String::from)))
}

/// The region's certificate: the cluster's, unless it must be issued anew.
async fn region_certificate(
    c: &Cluster,
    planned: &StackModel,
    who: &str,
    diags: &mut Diagnostics,
) -> Option<TlsMaterial> {
    let spec = &planned.spec;
    if !spec.tidb_tls {
        return Some(TlsMaterial::placeholder());
    }
    let (Some(ca_cert), Some(ca_key)) = (
        &planned.secrets.tls_ca_certificate,
        &planned.secrets.tls_ca_private_key,
    ) else {
        diags.error_at(
            AttrPath::root("tls_ca_certificate"),
            "Site CA missing",
            "with tidb_tls, pass geowp_site.NAME.tls_ca_certificate and tls_ca_private_key.",
        );
        return None;
    };
    let live = match c
        .get(&ObjRef::new(
            "v1",
            "Secret",
            &spec.namespace,
            crate::render::tidb::TLS_SECRET,
        ))
        .await
    {
        Ok(s) => s.as_ref().and_then(super::tls::from_secret),
        Err(e) => {
            diagnose(
                &e,
                &cluster_path(),
                who,
                "reading the region's certificate",
                diags,
            );
            return None;
        }
    };
    match super::tls::need(
        live.as_ref(),
        ca_cert,
        &super::tls::names(spec),
        super::tls::now(),
    ) {
        super::tls::Need::Keep => live.map(|l| TlsMaterial {
            ca_pem: ca_cert.clone(),
            ..l
        }),
        super::tls::Need::Issue(why) => {
            tracing::info!(member = %spec.member, %why, "issuing the region's certificate");
            super::tls::issue(spec, ca_cert, ca_key.expose(), diags)
        }
    }
}

/// `http://` + the Service's load-balancer address, else its cluster IP.
pub(super) fn endpoint_of(svc: &serde_json::Value) -> Option<String> {
    let ing = svc["status"]["loadBalancer"]["ingress"]
        .as_array()
        .and_then(|a| a.first());
    ing.and_then(|i| i["ip"].as_str().or(i["hostname"].as_str()))
        .or(svc["spec"]["clusterIP"].as_str())
        .map(|h| format!("http://{h}"))
}

pub async fn converge(
    ctx: &mut Ctx,
    prior: Option<&StackModel>,
    planned: StackModel,
    diags: &mut Diagnostics,
) -> Outcome {
    let creating = prior.is_none();
    let who = planned.who();
    let limit = if creating {
        planned.timeouts.create()
    } else {
        planned.timeouts.update()
    };
    let deadline = Instant::now() + limit;
    let params = if planned.force_conflicts {
        PatchParams::apply(FIELD_MANAGER).force()
    } else {
        PatchParams::apply(FIELD_MANAGER)
    };
    // members gone from `members` are removed from TiDB by the first survivor;
    // their destroys (in this same run) wait for it
    let leaving = match prior {
        Some(p) if lifecycle::removes_departed(&planned.spec) => {
            lifecycle::departed(&p.spec, &planned.spec)
        }
        _ => BTreeMap::new(),
    };
    for name in leaving.keys() {
        lifecycle::leave_started(&planned.spec.site_name, name, &planned.spec.member);
    }
    let cluster = match connect(&planned.cluster.connection(), deadline, ctx.cancel.clone()).await {
        Ok(c) => c,
        Err(e) => {
            diagnose(&e, &cluster_path(), &who, "connecting", diags);
            let why: Result<(), String> = Err(format!(
                "member {} could not reach its cluster",
                planned.spec.member
            ));
            for name in leaving.keys() {
                lifecycle::leave_finished(&planned.spec.site_name, name, &why);
            }
            return Outcome::Nothing;
        }
    };
    let spec = &planned.spec;
    for (name, gone) in &leaving {
        tracing::info!(member = %name, by = %spec.member, "removing a departed member from TiDB");
        let r = lifecycle::remove_member(&cluster, spec, &params, name, gone).await;
        lifecycle::leave_finished(&spec.site_name, name, &r);
        match r {
            // what was done, in the apply's output (Terraform shows no notes but warnings)
            Ok(steps) => diags.warning_at(
                AttrPath::root("members"),
                "Member removed from TiDB",
                format!("member {name}, from member {}'s cluster: {}.", spec.member, steps.join(", ")),
            ),
            Err(e) => diags.error_at(
                AttrPath::root("members"),
                "Member not removed from TiDB",
                format!("member {name} left `members`, and {who} could not remove it from TiDB: {e}. Its region's objects are kept; fix the cause and apply again."),
            ),
        }
    }
    // a namespace we did not make is not ours to fill and later delete
    match cluster
        .get(&ObjRef::new("v1", "Namespace", "", &spec.namespace))
        .await
    {
        Ok(Some(ns)) => {
            let l = &ns["metadata"]["labels"];
            if l[label::MANAGED_BY] != label::MANAGED_BY_VALUE
                || l[label::MEMBER] != spec.member.as_str()
            {
                diags.error_at(
                    AttrPath::root("namespace"),
                    "Namespace not managed by this stack",
                    format!("namespace {:?} already exists on {} and is not geowp's stack for member {:?}; choose another namespace, or import the stack if it is one.", spec.namespace, cluster.name, spec.member),
                );
                return Outcome::Nothing;
            }
        }
        Ok(None) => {}
        Err(e) => {
            diagnose(&e, &cluster_path(), &who, "reading the namespace", diags);
            return Outcome::Nothing;
        }
    }
    let st = match load_syncthing(&cluster, &spec.namespace).await {
        Ok(Some(st)) => st,
        Ok(None) => match geowp_syncthing::identity::generate() {
            Ok(id) => SyncthingSecrets {
                cert_pem: id.cert_pem,
                key_pem: id.key_pem,
                device_id: id.device_id,
                api_key: random_key(),
            },
            Err(e) => {
                diags.error(
                    "Cannot make a SyncThing identity",
                    geowp_common::error_chain(&e),
                );
                return Outcome::Nothing;
            }
        },
        Err(e) => {
            diagnose(
                &e,
                &cluster_path(),
                &who,
                "reading SyncThing's identity",
                diags,
            );
            return Outcome::Nothing;
        }
    };
    let tls = match region_certificate(&cluster, &planned, &who, diags).await {
        Some(t) => t,
        None => return Outcome::Nothing,
    };
    let claim_uid = match wp_content_uid(&cluster, &spec.namespace).await {
        Ok(u) => u,
        Err(e) => {
            diagnose(
                &e,
                &cluster_path(),
                &who,
                "reading the wp-content claim",
                diags,
            );
            return Outcome::Nothing;
        }
    };
    let pd = planned
        .out
        .topology()
        .unwrap_or_else(|| super::plan::topology(prior, spec));
    let mut inputs = Inputs {
        secrets: planned.secrets.render(),
        syncthing: st.clone(),
        tls: tls.clone(),
        wp_content_uid: claim_uid,
        pd: Some(pd.clone()),
    };
    let mut objs = render::render(spec, &inputs);
    let mut inventory: BTreeMap<String, InventoryItem> = prior
        .and_then(|p| p.out.inventory.known().cloned())
        .unwrap_or_default();
    let mut objects: BTreeMap<String, String> = objs
        .iter()
        .map(|o| (o.key(), "not applied yet".to_string()))
        .collect();
    // failed: something was refused (the apply reports an error);
    // blocked: something later waves need does not exist, so they wait.
    // An object that exists from an earlier apply and whose update was
    // refused still serves the objects that refer to it: the waves after it
    // go on, so one refused change does not hold back the others.
    let mut failed = false;
    let mut blocked = false;
    let existed: BTreeSet<String> = inventory.keys().cloned().collect();
    for wave in Wave::ALL {
        if wave == Wave::Workload && inputs.wp_content_uid.is_none() {
            // the workloads name the claim's directory on the export disk
            match wp_content_uid(&cluster, &spec.namespace).await {
                Ok(u) => inputs.wp_content_uid = u,
                Err(e) => {
                    diagnose(
                        &e,
                        &cluster_path(),
                        &who,
                        "reading the wp-content claim",
                        diags,
                    );
                    failed = true;
                    break; // the waves stop here
                }
            }
            objs = render::render(spec, &inputs);
        }
        if wave == Wave::Workload {
            if let Some(through) = moved_through(prior, spec) {
                if let Err(e) = lifecycle::forget_old_pd(&cluster, spec, &params, &through).await {
                    diags.error_at(
                        AttrPath::root("members").key(&spec.member).attr("pd_peer_url"),
                        "Old PD member not removed",
                        format!("{who} moved to a new PD address; its old PD member must leave before the new one joins, and that failed: {e}. Apply again once the other members' PDs answer."),
                    );
                    failed = true;
                    break; // the waves stop here
                }
            }
        }
        let coordinated = if wave == Wave::Workload && prior.is_some() && planned.wait_for_rollout {
            tier_changes(&cluster, &objs).await
        } else {
            BTreeSet::new()
        };
        let batch: Vec<&Obj> = objs
            .iter()
            .filter(|o| o.wave() == wave && !coordinated.contains(&o.key()))
            .collect();
        let results = futures_util::future::join_all(batch.iter().map(|o| {
            let (c, params) = (cluster.clone(), &params);
            async move {
                if o.create_only {
                    if let Some(live) = c.get(&o.id).await? {
                        return Ok(live);
                    }
                }
                apply_workload(&c, o, params).await
            }
        }))
        .await;
        for (o, r) in batch.iter().zip(results) {
            match r {
                Ok(live) => {
                    let uid = live["metadata"]["uid"].as_str().unwrap_or("").to_string();
                    inventory.insert(o.key(), InventoryItem::of(&o.id, Val::Known(uid)));
                    objects.insert(o.key(), IN_SYNC.to_string());
                }
                Err(e) => {
                    failed = true;
                    blocked |= !existed.contains(&o.key());
                    objects.insert(
                        o.key(),
                        format!("not applied: {}", geowp_common::error_chain(&e)),
                    );
                    diagnose(
                        &e,
                        &cluster_path(),
                        &who,
                        &format!("applying {}", o.key()),
                        diags,
                    );
                }
            }
        }
        if !blocked && !coordinated.is_empty() {
            let steps: Vec<&Obj> = objs
                .iter()
                .filter(|o| coordinated.contains(&o.key()))
                .collect();
            if let Err((key, e)) = roll(&cluster, spec, &params, &steps, diags).await {
                (failed, blocked) = (true, true);
                objects.insert(
                    key.clone(),
                    format!("not applied: {}", geowp_common::error_chain(&e)),
                );
                diagnose(&e, &cluster_path(), &who, &format!("applying {key}"), diags);
            }
            // what was applied is what the live objects carry now
            for o in &steps {
                if let Ok(Some(live)) = cluster.get(&o.id).await {
                    if !lifecycle::template_changes(o, Some(&live)) {
                        let uid = live["metadata"]["uid"].as_str().unwrap_or("").to_string();
                        inventory.insert(o.key(), InventoryItem::of(&o.id, Val::Known(uid)));
                        objects.insert(o.key(), IN_SYNC.to_string());
                    }
                }
            }
        }
        if blocked {
            break; // later waves depend on this one
        }
    }
    if failed {
        let skipped: Vec<&str> = objects
            .iter()
            .filter(|(_, v)| v.as_str() == "not applied yet")
            .map(|(k, _)| k.as_str())
            .collect();
        if !skipped.is_empty() {
            diags.error_at(
                cluster_path(),
                "Objects not applied",
                format!(
                    "{who}: {} object{} depend{} on one that was refused (above) and {} not applied: {}. They are applied by the next apply once the refusal is fixed.",
                    skipped.len(),
                    if skipped.len() == 1 { "" } else { "s" },
                    if skipped.len() == 1 { "s" } else { "" },
                    if skipped.len() == 1 { "was" } else { "were" },
                    skipped.join(", ")
                ),
            );
        }
    }
    if !failed {
        remove_stale(&cluster, &objs, &mut inventory, &who, diags).await;
    }
    if !failed && planned.wait_for_rollout {
        wait_ready(&cluster, &objs, limit, creating, diags).await;
        let old_tikv = prior
            .and_then(|p| p.spec.me())
            .map(|m| m.tikv_address.clone())
            .filter(|a| Some(a) != spec.me().map(|m| &m.tikv_address));
        if let (Some(old), false) = (old_tikv, diags.has_errors()) {
            if let Err(e) = lifecycle::forget_old_store(&cluster, spec, &params, &old).await {
                diags.error_at(
                    AttrPath::root("members").key(&spec.member).attr("tikv_address"),
                    "Old TiKV store not removed",
                    format!("{who} moved to a new TiKV address; removing its old store at {old} failed: {e}"),
                );
            }
        }
    }
    let endpoint = match cluster
        .get(&ObjRef::new(
            "v1",
            "Service",
            &spec.namespace,
            object::WORDPRESS,
        ))
        .await
    {
        Ok(Some(svc)) => Val::from_option(endpoint_of(&svc)),
        _ => Val::Null,
    };
    let mut state = planned;
    state.id = Val::Known(StackModel::id_of(&state.spec));
    state.out.objects = Val::Known(objects);
    state.out.inventory = Val::Known(inventory);
    state.out.set_topology(&pd);
    state.out.wordpress_endpoint = endpoint;
    state.out.syncthing_device_id = Val::Known(st.device_id.clone());
    state.out.tls_certificate_expires = if state.spec.tidb_tls {
        Val::from_option(crate::pki::facts(&tls.cert_pem).map(|f| super::tls::rfc3339(f.not_after)))
    } else {
        Val::Null
    };
    tracing::info!(member = %state.spec.member, cluster = %cluster.name, "stack converged");
    Outcome::State(Box::new(state))
}

/// Applies `o`. A StatefulSet whose claim templates changed (a renamed
/// site relabels them; the API server refuses any change to them,
/// kubernetes/kubernetes pkg/apis/apps/validation `ValidateStatefulSetUpdate`)
/// is first deleted with its pods orphaned and then made again: its
/// selector is the component alone, so the new one adopts the running pods
/// and their claims, and rolls them to its template as an update would.
async fn apply_workload(
    c: &Cluster,
    o: &Obj,
    params: &PatchParams,
) -> Result<serde_json::Value, ClusterError> {
    let mut existed = false;
    if o.id.kind == "StatefulSet" {
        if let Some(live) = c.get(&o.id).await? {
            existed = true;
            let key = "volumeClaimTemplates";
            let changed =
                geowp_kube::conditions::drift(&o.body["spec"][key], &live["spec"][key], false);
            if let Some(what) = changed {
                let uid = live["metadata"]["uid"].as_str().unwrap_or("");
                tracing::info!(object = %o.key(), %what, "claim templates changed: replacing the StatefulSet, its pods orphaned and adopted");
                c.delete_orphaning(&o.id, uid).await?;
            }
        }
    }
    let applied = c.apply(o, params).await?;
    if existed {
        repair_stuck_pods(c, o, &applied).await?;
    }
    Ok(applied)
}

/// After a StatefulSet is applied again: deletes its pods that were made
/// from an earlier template and are not Ready. With OrderedReady the
/// controller stops at the first pod that is not Ready and never replaces it
/// (kubernetes/kubernetes pkg/controller/statefulset/stateful_set_control.go
/// `updateStatefulSet`, kubernetes#67250), so a rollout of a bad image or
/// version stays stuck after a good one is applied; deleted, the pod is made
/// again from the new template. A Ready pod is left to the controller's
/// own rolling update.
async fn repair_stuck_pods(
    c: &Cluster,
    o: &Obj,
    applied: &serde_json::Value,
) -> Result<(), ClusterError> {
    let gen = applied["metadata"]["generation"].as_i64().unwrap_or(0);
    let observed = move |v: Option<&serde_json::Value>| match v {
        Some(v) if v["status"]["observedGeneration"].as_i64().unwrap_or(0) >= gen => {
            Readiness::Ready
        }
        _ => Readiness::Waiting("the controller has not seen the new template yet".into()),
    };
    // a safety net, not a clock anything depends on: a controller that does
    // not answer within it leaves the repair to the next apply
    let seen =
        tokio::time::timeout(std::time::Duration::from_secs(60), c.wait(&o.id, observed)).await;
    if !matches!(seen, Ok(Ok(Readiness::Ready))) {
        return Ok(());
    }
    let Some(live) = c.get(&o.id).await? else {
        return Ok(());
    };
    let Some(update) = live["status"]["updateRevision"].as_str() else {
        return Ok(());
    };
    let selector: Vec<String> = live["spec"]["selector"]["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    if selector.is_empty() {
        return Ok(());
    }
    for pod in c
        .list("v1", "Pod", &o.id.namespace, &selector.join(","))
        .await?
    {
        let ready = pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        let rev = pod["metadata"]["labels"]["controller-revision-hash"].as_str();
        if ready || rev.is_none_or(|r| r == update) {
            continue;
        }
        let name = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
        let uid = pod["metadata"]["uid"].as_str().map(String::from);
        tracing::warn!(object = %o.key(), pod = %name, "a pod of an earlier template that never became ready: deleted, so that the controller makes it from the new one");
        c.delete(
            &ObjRef::new("v1", "Pod", &o.id.namespace, &name),
            uid.as_deref(),
        )
        .await?;
    }
    Ok(())
}

/// Deletes what the stack applied before and no longer renders (a Job
/// replaced by a new one), each only if it still has the uid we recorded.
async fn remove_stale(
    cluster: &Cluster,
    objs: &[Obj],
    inventory: &mut BTreeMap<String, InventoryItem>,
    who: &str,
    diags: &mut Diagnostics,
) {
    let keep: BTreeSet<String> = objs.iter().map(Obj::key).collect();
    let stale: Vec<(String, InventoryItem)> = inventory
        .iter()
        .filter(|(k, _)| !keep.contains(*k))
        .map(|(k, i)| (k.clone(), i.clone()))
        .collect();
    for (key, item) in stale {
        let uid = item.uid.known().cloned();
        match cluster.delete(&item.reference(), uid.as_deref()).await {
            Ok(Deleted::Deleting | Deleted::Absent) => {
                inventory.remove(&key);
            }
            Ok(Deleted::NotOurs { uid: theirs }) => {
                diags.warning(
                    "Left an object alone",
                    format!("{key} on {} is no longer the stack's (it was made anew, uid {theirs}); it was not deleted. Delete it by hand if it should go.", cluster.name),
                );
                inventory.remove(&key);
            }
            Err(e) => diagnose(
                &e,
                &cluster_path(),
                who,
                &format!("deleting {key}, which the stack no longer has"),
                diags,
            ),
        }
    }
}

async fn wait_ready(
    cluster: &Cluster,
    objs: &[Obj],
    limit: std::time::Duration,
    creating: bool,
    diags: &mut Diagnostics,
) {
    let waits = objs
        .iter()
        .filter(|o| needs_wait(&o.id.kind, &o.body))
        .map(|o| {
            let c = cluster.clone();
            async move {
                let cond = is_rolled_out_within_deadline(&o.id.kind);
                (o, c.wait(&o.id, cond).await)
            }
        });
    let results = futures_util::future::join_all(waits).await;
    let mut not_ready = Vec::new();
    for (o, r) in results {
        match r {
            Ok(Readiness::Ready) => {}
            Ok(Readiness::Failed(why)) => diags.error(
                "Rollout failed",
                format!(
                    "{} on {}: {why}. Fix the cause (image, resources, storage) and apply again.",
                    o.key(),
                    cluster.name
                ),
            ),
            Ok(Readiness::Waiting(last)) => not_ready.push(format!("{}: {last}", o.key())),
            Err(ClusterError::Cancelled) => {
                diagnose(
                    &ClusterError::Cancelled,
                    &cluster_path(),
                    "the stack",
                    "waiting for the rollout",
                    diags,
                );
                return;
            }
            Err(e) => diagnose(
                &e,
                &cluster_path(),
                "the stack",
                &format!("waiting for {}", o.key()),
                diags,
            ),
        }
    }
    if !not_ready.is_empty() {
        diags.error(
            "Timed out waiting for the stack",
            format!(
                "after {}, on {}, not ready:\n  {}\nRaise timeouts.{} if the cluster is slow, or look at these objects (kubectl describe).",
                geowp_common::duration::format(limit),
                cluster.name,
                not_ready.join("\n  "),
                if creating { "create" } else { "update" }
            ),
        );
    }
}

/// For a member that moved to a new PD address: the client URL of another
/// member to reach PD through (this cluster's PD is not there yet).
fn moved_through(prior: Option<&StackModel>, spec: &render::StackSpec) -> Option<String> {
    let before = prior?.spec.me()?.pd_peer_url.clone();
    let now = spec.me()?;
    (before != now.pd_peer_url)
        .then(|| {
            spec.members
                .iter()
                .find(|(n, _)| **n != spec.member)
                .map(|(_, m)| m.pd_client_url.clone())
        })
        .flatten()
}

/// The TiDB-tier StatefulSets whose pod templates this apply changes: they
/// take their turn in the site's rolling order instead of the batch.
async fn tier_changes(cluster: &Cluster, objs: &[Obj]) -> BTreeSet<String> {
    let tier: Vec<&Obj> = objs
        .iter()
        .filter(|o| o.id.kind == "StatefulSet" && lifecycle::tier_rank(&o.id.name).is_some())
        .collect();
    let lives = futures_util::future::join_all(tier.iter().map(|o| cluster.get(&o.id))).await;
    tier.iter()
        .zip(lives)
        .filter(|(o, live)| matches!(live, Ok(l) if lifecycle::template_changes(o, l.as_ref())))
        .map(|(o, _)| o.key())
        .collect()
}

/// Applies the changed TiDB-tier StatefulSets in the site's rolling order
/// (PD, TiKV, TiDB), each step gated on PD (`rolling.rs`): the earlier
/// components at this version site-wide, the cluster whole, this region's
/// claim won, a TiKV's leaders gone, a leading PD's leadership moved; ready
/// before the claim is withdrawn and the next step begins.
async fn roll(
    cluster: &Cluster,
    spec: &render::StackSpec,
    params: &PatchParams,
    steps: &[&Obj],
    diags: &mut Diagnostics,
) -> Result<(), (String, ClusterError)> {
    let mut sorted = steps.to_vec();
    sorted.sort_by_key(|o| lifecycle::tier_rank(&o.id.name));
    for o in sorted {
        if lifecycle::tier_rank(&o.id.name).is_none() {
            continue;
        }
        let held = |why: rolling::Held, diags: &mut Diagnostics| {
            diags.error(
                "Rolling change held back",
                format!(
                    "{} of member {} was not changed: {why}.",
                    o.key(),
                    spec.member
                ),
            );
        };
        if let Err(why) = rolling::wait_versions(cluster, spec, params, &o.id.name).await {
            held(why, diags);
            return Ok(());
        }
        let claim = match rolling::claim(cluster, spec, params).await {
            Ok(c) => c,
            Err(why) => {
                held(why, diags);
                return Ok(());
            }
        };
        tracing::info!(member = %spec.member, component = %o.id.name, "rolling: this region's turn");
        let prepared = match (o.id.name.as_str(), claim) {
            (object::PD, _) => lifecycle::before_pd(cluster, spec, params).await,
            (object::TIKV, Some(id)) => {
                lifecycle::wait_leaders_gone(cluster, spec, params, id).await
            }
            _ => Ok(()),
        };
        if let Err(e) = prepared {
            diags.warning(
                "Restarted without moving leaders first",
                format!("member {}: {} restarts without its leaders moved away first ({e}); clients may wait a few seconds for a new leader.", spec.member, o.id.name),
            );
        }
        let applied = apply_workload(cluster, o, params).await;
        let waited = match applied {
            Ok(_) => cluster.wait(&o.id, is_rolled_out("StatefulSet")).await,
            Err(e) => Err(e),
        };
        if let Some(id) = claim {
            if let Err(e) = rolling::withdraw(cluster, spec, params, id).await {
                diags.warning(
                    "Rolling claim left in place",
                    format!("member {}: removing store {id} from PD's evict-leader-scheduler failed ({e}); this region's TiKV takes no leaders and other regions' rolling waits until it is removed: apply this stack again, or run pd-ctl scheduler remove evict-leader-scheduler-{id}.", spec.member),
                );
            }
        }
        match waited {
            Ok(Readiness::Ready) => {}
            Ok(Readiness::Waiting(why) | Readiness::Failed(why)) => {
                diags.error(
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
