//! Converging a set of objects, generically: apply one object the way a
//! real API server lets it change (a StatefulSet whose claim templates
//! changed is replaced with its pods orphaned; pods stuck on an earlier
//! template are deleted), apply a batch in parallel, prune what is no
//! longer wanted (by uid), and wait for a batch to roll out. Each returns a
//! typed result per object; what to make of it is the caller's.

use std::collections::BTreeSet;
use std::time::Duration;

use kube::api::PatchParams;
use serde_json::Value;

use crate::conditions::{drift, is_rolled_out_within_deadline, needs_wait};
use crate::{Cluster, ClusterError, Deleted, Obj, ObjRef, Readiness};

impl Cluster {
    /// Applies `o`. A StatefulSet whose claim templates changed (a renamed
    /// site relabels them; the API server refuses any change to them,
    /// kubernetes/kubernetes pkg/apis/apps/validation `ValidateStatefulSetUpdate`)
    /// is first deleted with its pods orphaned and then made again: its
    /// selector is the component alone, so the new one adopts the running
    /// pods and their claims, and rolls them to its template as an update
    /// would. A create-only object that exists is left as it is.
    pub async fn converge_object(
        &self,
        o: &Obj,
        params: &PatchParams,
    ) -> Result<Value, ClusterError> {
        if o.create_only {
            if let Some(live) = self.get(&o.id).await? {
                return Ok(live);
            }
        }
        let mut existed = false;
        if o.id.kind == "StatefulSet" {
            if let Some(live) = self.get(&o.id).await? {
                existed = true;
                let key = "volumeClaimTemplates";
                if let Some(what) = drift(&o.body["spec"][key], &live["spec"][key], false) {
                    let uid = live["metadata"]["uid"].as_str().unwrap_or("");
                    tracing::info!(object = %o.key(), %what, "claim templates changed: replacing the StatefulSet, its pods orphaned and adopted");
                    self.delete_orphaning(&o.id, uid).await?;
                }
            }
        }
        let applied = self.apply(o, params).await?;
        if existed {
            self.repair_stuck_pods(o, &applied).await?;
        }
        Ok(applied)
    }

    /// [`Cluster::converge_object`] for each of `objs`, in parallel; the
    /// results in their order.
    pub async fn converge_all(
        &self,
        objs: &[&Obj],
        params: &PatchParams,
    ) -> Vec<Result<Value, ClusterError>> {
        futures_util::future::join_all(objs.iter().map(|o| self.converge_object(o, params))).await
    }

    /// After a StatefulSet is applied again: deletes its pods that were made
    /// from an earlier template and are not Ready. With OrderedReady the
    /// controller stops at the first pod that is not Ready and never replaces
    /// it (kubernetes/kubernetes pkg/controller/statefulset/stateful_set_control.go
    /// `updateStatefulSet`, kubernetes#67250), so a rollout of a bad image or
    /// version stays stuck after a good one is applied; deleted, the pod is
    /// made again from the new template. A Ready pod is left to the
    /// controller's own rolling update.
    async fn repair_stuck_pods(&self, o: &Obj, applied: &Value) -> Result<(), ClusterError> {
        let gen = applied["metadata"]["generation"].as_i64().unwrap_or(0);
        let observed = move |v: Option<&Value>| match v {
            Some(v) if v["status"]["observedGeneration"].as_i64().unwrap_or(0) >= gen => {
                Readiness::Ready
            }
            _ => Readiness::Waiting("the controller has not seen the new template yet".into()),
        };
        // a safety net, not a clock anything depends on: a controller that
        // does not answer within it leaves the repair to the next apply
        let seen = tokio::time::timeout(Duration::from_secs(60), self.wait(&o.id, observed)).await;
        if !matches!(seen, Ok(Ok(Readiness::Ready))) {
            return Ok(());
        }
        let Some(live) = self.get(&o.id).await? else {
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
        for pod in self
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
            self.delete(
                &ObjRef::new("v1", "Pod", &o.id.namespace, &name),
                uid.as_deref(),
            )
            .await?;
        }
        Ok(())
    }

    /// Deletes each of `stale` (key, where, the uid recorded) that still
    /// has that uid, in order; the outcome of each.
    pub async fn prune(
        &self,
        stale: &[(String, ObjRef, Option<String>)],
    ) -> Vec<(String, Result<Deleted, ClusterError>)> {
        let mut out = Vec::with_capacity(stale.len());
        for (key, id, uid) in stale {
            out.push((key.clone(), self.delete(id, uid.as_deref()).await));
        }
        out
    }

    /// Waits, in parallel, for each of `objs` that has a rollout to finish
    /// (kubectl's rules, a Deployment's progress deadline as a failure);
    /// the outcome of each object waited for.
    pub async fn wait_rolled_out<'o>(
        &self,
        objs: &'o [Obj],
    ) -> Vec<(&'o Obj, Result<Readiness, ClusterError>)> {
        let waits = objs
            .iter()
            .filter(|o| needs_wait(&o.id.kind, &o.body))
            .map(|o| async move {
                let cond = is_rolled_out_within_deadline(&o.id.kind);
                (o, self.wait(&o.id, cond).await)
            });
        futures_util::future::join_all(waits).await
    }
}

/// The keys of `inventory` that `objs` no longer has.
pub fn stale_keys<'k>(
    inventory: impl IntoIterator<Item = &'k String>,
    objs: &[Obj],
) -> Vec<String> {
    let keep: BTreeSet<String> = objs.iter().map(Obj::key).collect();
    inventory
        .into_iter()
        .filter(|k| !keep.contains(*k))
        .cloned()
        .collect()
}
