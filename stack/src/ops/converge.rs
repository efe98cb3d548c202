//! Create and update: one converge, as named steps over one run context.
//!
//! 1. **leave**: members gone from `members` are removed from TiDB by the
//!    first survivor (their destroys, in the same run, wait on [`Leaves`]);
//! 2. **preflight**: the namespace is this stack's or nobody's;
//! 3. **identity**: SyncThing's, from the cluster or new;
//! 4. **certificate**: the region's, kept or issued;
//! 5. **render**: every object, from the spec and those inputs;
//! 6. **waves**: server-side apply in dependency order, each wave in
//!    parallel; changed PD, TiKV and TiDB StatefulSets take their turn in
//!    the site's rolling order ([`workload`](super::workload));
//! 7. **prune**: what the stack no longer renders, deleted by uid;
//! 8. **wait**: every rollout, bounded by the operation's time;
//! 9. **outputs**: what the state records.
//!
//! Even after a failure the result is the truth: what was applied is in
//! the inventory and `objects` says what is not, so the next apply
//! converges from it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use geowp_common::names::label;
use geowp_kube::{
    connect, Cluster, ClusterError, Connection, Deleted, Obj, ObjRef, Readiness, Wave,
};
use kube::api::PatchParams;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{
    expires, identity_problem, load_syncthing, random_key, wordpress_endpoint, wp_content_uid,
    Inventory, Placed, IN_SYNC,
};
use crate::leave::{self, Leaves};
use crate::pdctl::PdCtl;
use crate::render::{
    self, Inputs, PdTopology, Secrets, StackSpec, SyncthingSecrets, TlsMaterial, FIELD_MANAGER,
};
use crate::report::{Report, Stop, Subject};

/// What the stack should be.
pub struct Want<'a> {
    pub spec: &'a StackSpec,
    pub secrets: Secrets,
    /// The site CA's certificate and key (both needed with `tidb_tls`).
    pub ca_certificate: Option<&'a str>,
    pub ca_key: Option<&'a str>,
    /// Take fields back from other field managers.
    pub force_conflicts: bool,
    /// Wait for every rollout (and roll the TiDB tier in the site's order).
    pub wait_for_rollout: bool,
    /// How long the whole operation may take.
    pub limit: Duration,
    /// PD's start-up topology (what the plan decided).
    pub topology: PdTopology,
    /// Whose operation it is, for messages (`member us-east (namespace geowp)`).
    pub who: String,
}

/// What the stack was, for an update.
pub struct Prior<'a> {
    pub spec: &'a StackSpec,
    pub inventory: Inventory,
}

/// What the stack is after a converge, and what happened on the way.
pub struct Converged {
    /// Object key => `in sync` or why not.
    pub objects: BTreeMap<String, String>,
    pub inventory: Inventory,
    pub topology: PdTopology,
    pub endpoint: Option<String>,
    pub device_id: String,
    /// With `tidb_tls`: when the region's certificate expires.
    pub tls_expires: Option<String>,
    pub report: Report,
}

/// Converges the stack on `conn`'s cluster to `want`.
pub async fn converge(
    conn: &Connection,
    cancel: CancellationToken,
    leaves: &Leaves,
    prior: Option<Prior<'_>>,
    want: Want<'_>,
) -> Result<Converged, Stop> {
    let mut report = Report::default();
    let deadline = Instant::now() + want.limit;
    let leaving = announce_leaving(leaves, prior.as_ref(), want.spec);
    let cluster = match connect(conn, deadline, cancel).await {
        Ok(c) => c,
        Err(e) => {
            let why: Result<(), String> = Err(format!(
                "member {} could not reach its cluster",
                want.spec.member
            ));
            for name in leaving.keys() {
                leaves.finished(&want.spec.site_name, name, &why);
            }
            report.cluster(e, &want.who, "connecting");
            return Err(report.stop());
        }
    };
    let mut run = Run {
        params: if want.force_conflicts {
            PatchParams::apply(FIELD_MANAGER).force()
        } else {
            PatchParams::apply(FIELD_MANAGER)
        },
        want,
        prior,
        cluster,
        report,
    };
    run.remove_departed(leaves, &leaving).await;
    run.preflight().await?;
    let syncthing = run.identity().await?;
    let tls = run.certificate().await?;
    let mut waves = run.render(syncthing, tls).await?;
    run.waves(&mut waves).await;
    if !waves.failed {
        run.prune(&mut waves).await;
    }
    if !waves.failed && run.want.wait_for_rollout {
        run.wait(&waves).await;
    }
    Ok(run.outputs(waves).await)
}

/// Members gone from `members` that this stack removes (it is the first
/// survivor), announced on the board before anything else happens.
fn announce_leaving(
    leaves: &Leaves,
    prior: Option<&Prior<'_>>,
    spec: &StackSpec,
) -> BTreeMap<String, render::Member> {
    let leaving = match prior {
        Some(p) if leave::removes_departed(spec) => leave::departed(p.spec, spec),
        _ => BTreeMap::new(),
    };
    for name in leaving.keys() {
        leaves.started(&spec.site_name, name, &spec.member);
    }
    leaving
}

/// One converge's context: what is wanted, what was, the cluster, and the
/// report so far.
struct Run<'a> {
    want: Want<'a>,
    prior: Option<Prior<'a>>,
    cluster: Cluster,
    params: PatchParams,
    report: Report,
}

/// What the waves work on and leave.
struct Waves {
    inputs: Inputs,
    objs: Vec<Obj>,
    inventory: Inventory,
    objects: BTreeMap<String, String>,
    /// Keys applied by an earlier apply (a refused update of one of them
    /// does not hold back later waves).
    existed: BTreeSet<String>,
    /// Something was refused (the apply reports an error).
    failed: bool,
    /// Something later waves need does not exist, so they wait.
    blocked: bool,
}

impl Run<'_> {
    fn spec(&self) -> &StackSpec {
        self.want.spec
    }

    fn stop(&mut self) -> Stop {
        std::mem::take(&mut self.report).stop()
    }

    /// Step 1: departed members out of TiDB, each said in the report.
    async fn remove_departed(
        &mut self,
        leaves: &Leaves,
        leaving: &BTreeMap<String, render::Member>,
    ) {
        self.report.step("leave");
        let spec = self.want.spec;
        for (name, gone) in leaving {
            tracing::info!(member = %name, by = %spec.member, "removing a departed member from TiDB");
            let pd = PdCtl::new(&self.cluster, spec, &self.params);
            let r = leave::remove_member(pd, &spec.member, name, gone).await;
            leaves.finished(&spec.site_name, name, &r);
            match r {
                // what was done, in the apply's output (Terraform shows no notes but warnings)
                Ok(steps) => self.report.warning(
                    Subject::Members,
                    "Member removed from TiDB",
                    format!("member {name}, from member {}'s cluster: {}.", spec.member, steps.join(", ")),
                ),
                Err(e) => self.report.error(
                    Subject::Members,
                    "Member not removed from TiDB",
                    format!("member {name} left `members`, and {} could not remove it from TiDB: {e}. Its region's objects are kept; fix the cause and apply again.", self.want.who),
                ),
            }
        }
    }

    /// Step 2: a namespace we did not make is not ours to fill and later delete.
    async fn preflight(&mut self) -> Result<(), Stop> {
        self.report.step("preflight");
        let spec = self.want.spec;
        match self
            .cluster
            .get(&ObjRef::new("v1", "Namespace", "", &spec.namespace))
            .await
        {
            Ok(Some(ns)) => {
                let l = &ns["metadata"]["labels"];
                if l[label::MANAGED_BY] != label::MANAGED_BY_VALUE
                    || l[label::MEMBER] != spec.member.as_str()
                {
                    self.report.error(
                        Subject::Namespace,
                        "Namespace not managed by this stack",
                        format!("namespace {:?} already exists on {} and is not geowp's stack for member {:?}; choose another namespace, or import the stack if it is one.", spec.namespace, self.cluster.name, spec.member),
                    );
                    return Err(self.stop());
                }
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                self.report
                    .cluster(e, &self.want.who, "reading the namespace");
                Err(self.stop())
            }
        }
    }

    /// Step 3: SyncThing's identity, from the cluster or new.
    async fn identity(&mut self) -> Result<SyncthingSecrets, Stop> {
        self.report.step("identity");
        match load_syncthing(&self.cluster, &self.spec().namespace).await {
            Ok(Some(st)) => Ok(st),
            Ok(None) => match geowp_syncthing::identity::generate() {
                Ok(id) => Ok(SyncthingSecrets {
                    cert_pem: id.cert_pem,
                    key_pem: id.key_pem,
                    device_id: id.device_id,
                    api_key: random_key(),
                }),
                Err(e) => {
                    self.report.error(
                        Subject::Stack,
                        "Cannot make a SyncThing identity",
                        geowp_common::error_chain(&e),
                    );
                    Err(self.stop())
                }
            },
            Err(e) => {
                identity_problem(&mut self.report, e, &self.want.who);
                Err(self.stop())
            }
        }
    }

    /// Step 4: the region's certificate: the cluster's, unless it must be
    /// issued anew.
    async fn certificate(&mut self) -> Result<TlsMaterial, Stop> {
        self.report.step("certificate");
        let spec = self.want.spec;
        if !spec.tidb_tls {
            return Ok(TlsMaterial::placeholder());
        }
        let (Some(ca_cert), Some(ca_key)) = (self.want.ca_certificate, self.want.ca_key) else {
            self.report.error(
                Subject::CaCertificate,
                "Site CA missing",
                "with tidb_tls, pass geowp_site.NAME.tls_ca_certificate and tls_ca_private_key.",
            );
            return Err(self.stop());
        };
        let secret = ObjRef::new("v1", "Secret", &spec.namespace, render::tidb::TLS_SECRET);
        let live = match self.cluster.get(&secret).await {
            Ok(s) => s.as_ref().and_then(crate::tls::from_secret),
            Err(e) => {
                self.report
                    .cluster(e, &self.want.who, "reading the region's certificate");
                return Err(self.stop());
            }
        };
        let names = crate::tls::names(spec);
        match crate::tls::need(live.as_ref(), ca_cert, &names, crate::tls::now()) {
            crate::tls::Need::Keep => {
                Ok(live.map_or_else(TlsMaterial::placeholder, |l| TlsMaterial {
                    ca_pem: ca_cert.to_string(),
                    ..l
                }))
            }
            crate::tls::Need::Issue(why) => {
                tracing::info!(member = %spec.member, %why, "issuing the region's certificate");
                crate::tls::issue(spec, ca_cert, ca_key).map_err(|e| {
                    self.report.error(
                        Subject::CaKey,
                        "Cannot issue the region's certificate",
                        format!("{}. Pass geowp_site.NAME.tls_ca_certificate and tls_ca_private_key, which belong together.", geowp_common::error_chain(&e)),
                    );
                    self.stop()
                })
            }
        }
    }

    /// Step 5: every object, rendered from the spec and the inputs.
    async fn render(
        &mut self,
        syncthing: SyncthingSecrets,
        tls: TlsMaterial,
    ) -> Result<Waves, Stop> {
        self.report.step("render");
        let spec = self.want.spec;
        let claim_uid = match wp_content_uid(&self.cluster, &spec.namespace).await {
            Ok(u) => u,
            Err(e) => {
                self.report
                    .cluster(e, &self.want.who, "reading the wp-content claim");
                return Err(self.stop());
            }
        };
        let inputs = Inputs {
            secrets: self.want.secrets.clone(),
            syncthing,
            tls,
            wp_content_uid: claim_uid,
            pd: Some(self.want.topology.clone()),
        };
        let objs = render::render(spec, &inputs);
        let inventory = self
            .prior
            .as_ref()
            .map(|p| p.inventory.clone())
            .unwrap_or_default();
        Ok(Waves {
            objects: objs
                .iter()
                .map(|o| (o.key(), "not applied yet".to_string()))
                .collect(),
            existed: inventory.keys().cloned().collect(),
            inventory,
            objs,
            inputs,
            failed: false,
            blocked: false,
        })
    }

    /// Step 6: the waves, in dependency order.
    async fn waves(&mut self, w: &mut Waves) {
        self.report.step("waves");
        for wave in Wave::ALL {
            if wave == Wave::Workload && !self.before_workloads(w).await {
                w.failed = true;
                break; // the waves stop here
            }
            let coordinated =
                if wave == Wave::Workload && self.prior.is_some() && self.want.wait_for_rollout {
                    super::workload::tier_changes(&self.cluster, &w.objs).await
                } else {
                    BTreeSet::new()
                };
            let batch: Vec<&Obj> = w
                .objs
                .iter()
                .filter(|o| o.wave() == wave && !coordinated.contains(&o.key()))
                .collect();
            let results = self.cluster.converge_all(&batch, &self.params).await;
            let outcomes: Vec<(String, ObjRef, Result<serde_json::Value, ClusterError>)> = batch
                .iter()
                .zip(results)
                .map(|(o, r)| (o.key(), o.id.clone(), r))
                .collect();
            for (key, id, r) in outcomes {
                self.applied(w, key, id, r);
            }
            if !w.blocked && !coordinated.is_empty() {
                self.roll(w, &coordinated).await;
            }
            if w.blocked {
                break; // later waves depend on this one
            }
        }
        if w.failed {
            self.say_skipped(w);
        }
    }

    /// Before the workloads: the claim's uid known (they name its directory
    /// on the export disk), and a moved member's old PD member gone.
    async fn before_workloads(&mut self, w: &mut Waves) -> bool {
        let spec = self.want.spec;
        if w.inputs.wp_content_uid.is_none() {
            match wp_content_uid(&self.cluster, &spec.namespace).await {
                Ok(u) => w.inputs.wp_content_uid = u,
                Err(e) => {
                    self.report
                        .cluster(e, &self.want.who, "reading the wp-content claim");
                    return false;
                }
            }
            w.objs = render::render(spec, &w.inputs);
        }
        if let Some(through) = self.moved_through() {
            let pd = PdCtl::new(&self.cluster, spec, &self.params).through(&through);
            if let Err(e) = leave::forget_old_pd(pd, &spec.member).await {
                self.report.error(
                    Subject::OwnMember("pd_peer_url"),
                    "Old PD member not removed",
                    format!("{} moved to a new PD address; its old PD member must leave before the new one joins, and that failed: {e}. Apply again once the other members' PDs answer.", self.want.who),
                );
                return false;
            }
        }
        true
    }

    /// Records one object's apply.
    fn applied(
        &mut self,
        w: &mut Waves,
        key: String,
        id: ObjRef,
        r: Result<serde_json::Value, ClusterError>,
    ) {
        match r {
            Ok(live) => {
                let uid = live["metadata"]["uid"].as_str().unwrap_or("").to_string();
                w.inventory
                    .insert(key.clone(), Placed { id, uid: Some(uid) });
                w.objects.insert(key, IN_SYNC.to_string());
            }
            Err(e) => {
                w.failed = true;
                w.blocked |= !w.existed.contains(&key);
                w.objects.insert(
                    key.clone(),
                    format!("not applied: {}", geowp_common::error_chain(&e)),
                );
                self.report
                    .cluster(e, &self.want.who, format!("applying {key}"));
            }
        }
    }

    /// The changed TiDB-tier StatefulSets, in the site's rolling order.
    async fn roll(&mut self, w: &mut Waves, coordinated: &BTreeSet<String>) {
        let steps: Vec<&Obj> = w
            .objs
            .iter()
            .filter(|o| coordinated.contains(&o.key()))
            .collect();
        let pd = PdCtl::new(&self.cluster, self.want.spec, &self.params);
        if let Err((key, e)) =
            super::workload::roll(pd, self.want.spec, &steps, &mut self.report).await
        {
            (w.failed, w.blocked) = (true, true);
            w.objects.insert(
                key.clone(),
                format!("not applied: {}", geowp_common::error_chain(&e)),
            );
            self.report
                .cluster(e, &self.want.who, format!("applying {key}"));
        }
        // what was applied is what the live objects carry now
        for o in &steps {
            if let Ok(Some(live)) = self.cluster.get(&o.id).await {
                if !crate::rolling::template_changes(o, Some(&live)) {
                    let uid = live["metadata"]["uid"].as_str().unwrap_or("").to_string();
                    w.inventory.insert(
                        o.key(),
                        Placed {
                            id: o.id.clone(),
                            uid: Some(uid),
                        },
                    );
                    w.objects.insert(o.key(), IN_SYNC.to_string());
                }
            }
        }
    }

    /// After a refusal: the objects that were not applied because of it.
    fn say_skipped(&mut self, w: &Waves) {
        let skipped: Vec<&str> = w
            .objects
            .iter()
            .filter(|(_, v)| v.as_str() == "not applied yet")
            .map(|(k, _)| k.as_str())
            .collect();
        if skipped.is_empty() {
            return;
        }
        let one = skipped.len() == 1;
        self.report.error(
            Subject::Cluster,
            "Objects not applied",
            format!(
                "{}: {} object{} depend{} on one that was refused (above) and {} not applied: {}. They are applied by the next apply once the refusal is fixed.",
                self.want.who,
                skipped.len(),
                if one { "" } else { "s" },
                if one { "s" } else { "" },
                if one { "was" } else { "were" },
                skipped.join(", ")
            ),
        );
    }

    /// Step 7: deletes what the stack applied before and no longer renders
    /// (a Job replaced by a new one), each only if it still has the uid we
    /// recorded.
    async fn prune(&mut self, w: &mut Waves) {
        self.report.step("prune");
        let stale: Vec<(String, ObjRef, Option<String>)> =
            geowp_kube::converge::stale_keys(w.inventory.keys(), &w.objs)
                .into_iter()
                .map(|k| {
                    let p = &w.inventory[&k];
                    (k.clone(), p.id.clone(), p.uid.clone())
                })
                .collect();
        for (key, r) in self.cluster.prune(&stale).await {
            match r {
                Ok(Deleted::Deleting | Deleted::Absent) => {
                    w.inventory.remove(&key);
                }
                Ok(Deleted::NotOurs { uid: theirs }) => {
                    self.report.warning(
                        Subject::Stack,
                        "Left an object alone",
                        format!("{key} on {} is no longer the stack's (it was made anew, uid {theirs}); it was not deleted. Delete it by hand if it should go.", self.cluster.name),
                    );
                    w.inventory.remove(&key);
                }
                Err(e) => self.report.cluster(
                    e,
                    &self.want.who,
                    format!("deleting {key}, which the stack no longer has"),
                ),
            }
        }
    }

    /// Step 8: every rollout, then a moved member's old store removed.
    async fn wait(&mut self, w: &Waves) {
        self.report.step("wait");
        let limit = self.want.limit;
        let creating = self.prior.is_none();
        let mut not_ready = Vec::new();
        for (o, r) in self.cluster.wait_rolled_out(&w.objs).await {
            match r {
                Ok(Readiness::Ready) => {}
                Ok(Readiness::Failed(why)) => self.report.error(
                    Subject::Stack,
                    "Rollout failed",
                    format!(
                        "{} on {}: {why}. Fix the cause (image, resources, storage) and apply again.",
                        o.key(),
                        self.cluster.name
                    ),
                ),
                Ok(Readiness::Waiting(last)) => not_ready.push(format!("{}: {last}", o.key())),
                Err(ClusterError::Cancelled) => {
                    self.report.cluster(
                        ClusterError::Cancelled,
                        "the stack",
                        "waiting for the rollout",
                    );
                    return;
                }
                Err(e) => self
                    .report
                    .cluster(e, "the stack", format!("waiting for {}", o.key())),
            }
        }
        if !not_ready.is_empty() {
            self.report.error(
                Subject::Stack,
                "Timed out waiting for the stack",
                format!(
                    "after {}, on {}, not ready:\n  {}\nRaise timeouts.{} if the cluster is slow, or look at these objects (kubectl describe).",
                    geowp_common::duration::format(limit),
                    self.cluster.name,
                    not_ready.join("\n  "),
                    if creating { "create" } else { "update" }
                ),
            );
        }
        self.forget_old_store().await;
    }

    /// A member that moved to a new TiKV address: its old store removed,
    /// once everything else is ready.
    async fn forget_old_store(&mut self) {
        let spec = self.want.spec;
        let old_tikv = self
            .prior
            .as_ref()
            .and_then(|p| p.spec.me())
            .map(|m| m.tikv_address.clone())
            .filter(|a| Some(a) != spec.me().map(|m| &m.tikv_address));
        let Some(old) = old_tikv else { return };
        if self.report.has_errors() {
            return;
        }
        let pd = PdCtl::new(&self.cluster, spec, &self.params);
        if let Err(e) = leave::forget_old_store(pd, &old).await {
            self.report.error(
                Subject::OwnMember("tikv_address"),
                "Old TiKV store not removed",
                format!(
                    "{} moved to a new TiKV address; removing its old store at {old} failed: {e}",
                    self.want.who
                ),
            );
        }
    }

    /// For a member that moved to a new PD address: the client URL of
    /// another member to reach PD through (this cluster's PD is not there yet).
    fn moved_through(&self) -> Option<String> {
        let spec = self.want.spec;
        let before = self.prior.as_ref()?.spec.me()?.pd_peer_url.clone();
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

    /// Step 9: what the state records.
    async fn outputs(mut self, w: Waves) -> Converged {
        self.report.step("outputs");
        let spec = self.want.spec;
        let endpoint = wordpress_endpoint(&self.cluster, &spec.namespace)
            .await
            .flatten();
        tracing::info!(member = %spec.member, cluster = %self.cluster.name, "stack converged");
        Converged {
            objects: w.objects,
            inventory: w.inventory,
            topology: self.want.topology,
            endpoint,
            device_id: w.inputs.syncthing.device_id.clone(),
            tls_expires: spec
                .tidb_tls
                .then(|| expires(&w.inputs.tls.cert_pem))
                .flatten(),
            report: self.report,
        }
    }
}
