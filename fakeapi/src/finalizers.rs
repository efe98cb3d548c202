//! The finalizers a real control plane puts on what geowp creates, and the
//! controllers that take them off (kubernetes v1.33.3):
//!
//! - `kubernetes.io/pvc-protection` on every claim and
//!   `kubernetes.io/pv-protection` on every volume, added at create by the
//!   StorageObjectInUseProtection admission plugin
//!   (plugin/pkg/admission/storageobjectinuseprotection/admission.go
//!   `Admit`) and again by the protection controllers when missing
//!   (pkg/controller/volume/pvcprotection/pvc_protection_controller.go
//!   `processPVC`, pkg/controller/volume/pvprotection/pv_protection_controller.go
//!   `processPV`). A claim being deleted stays until no pod that has not
//!   finished uses it (`podUsesPVC`); a volume until it is no longer Bound
//!   (`isVolumeInUse`).
//! - `service.kubernetes.io/load-balancer-cleanup` on a LoadBalancer Service,
//!   added by the service controller once it provisions the load balancer and
//!   removed once it has deleted it, when the Service is deleted or stops
//!   being a LoadBalancer (pkg/controller/service/controller.go
//!   `addFinalizer`, `removeFinalizer`, `needsCleanup`).
//!
//! A deleted object with finalizers keeps a deletionTimestamp until the
//! last goes; so does a namespace holding it ("Some content in the
//! namespace has finalizers remaining"). Run by the store's housekeeping.

use serde_json::{json, Value};

use crate::registry::{self, Resource};
use crate::store::Store;

pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";
pub const LB_CLEANUP: &str = "service.kubernetes.io/load-balancer-cleanup";

fn res(plural: &str, group: &str, version: &str) -> &'static Resource {
    registry::find(group, version, plural).expect("a resource of the constant table")
}

fn has(obj: &Value, f: &str) -> bool {
    obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|l| l.iter().any(|x| x == f))
}

fn deleting(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

/// The admission plugin, at create: `obj` gets its kind's protection.
pub fn admit(kind: &str, obj: &mut Value) {
    let f = match kind {
        "PersistentVolumeClaim" => PVC_PROTECTION,
        "PersistentVolume" => PV_PROTECTION,
        _ => return,
    };
    if !has(obj, f) {
        match obj["metadata"]["finalizers"].as_array_mut() {
            Some(l) => l.push(json!(f)),
            None => obj["metadata"]["finalizers"] = json!([f]),
        }
    }
}

/// `obj`'s finalizers with `f` added or removed, written as a controller does.
fn set(s: &mut Store, r: &'static Resource, obj: &Value, f: &str, on: bool) -> bool {
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let mut list: Vec<Value> = obj["metadata"]["finalizers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    list.retain(|x| x != f);
    if on {
        list.push(json!(f));
    }
    s.set_finalizers(r, ns, name, list).is_ok()
}

/// Whether a pod that has not finished uses the claim `name` in `ns`.
fn claim_in_use(pods: &[Value], ns: &str, name: &str) -> bool {
    pods.iter().any(|p| {
        p["metadata"]["namespace"] == ns
            && !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
            && p["spec"]["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|v| v["persistentVolumeClaim"]["claimName"] == name)
    })
}

/// One pass of the controllers; true when anything changed.
pub fn settle(s: &mut Store) -> bool {
    let pvcs = res("persistentvolumeclaims", "", "v1");
    let pvs = res("persistentvolumes", "", "v1");
    let services = res("services", "", "v1");
    let pods = s.list(res("pods", "", "v1"), None);
    let mut changed = false;
    for c in s.list(pvcs, None) {
        let ns = c["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let name = c["metadata"]["name"].as_str().unwrap_or("").to_string();
        if !deleting(&c) && !has(&c, PVC_PROTECTION) {
            changed |= set(s, pvcs, &c, PVC_PROTECTION, true);
        } else if deleting(&c) && has(&c, PVC_PROTECTION) && !claim_in_use(&pods, &ns, &name) {
            changed |= set(s, pvcs, &c, PVC_PROTECTION, false);
        }
    }
    for v in s.list(pvs, None) {
        if !deleting(&v) && !has(&v, PV_PROTECTION) {
            changed |= set(s, pvs, &v, PV_PROTECTION, true);
        } else if deleting(&v) && has(&v, PV_PROTECTION) && v["status"]["phase"] != "Bound" {
            changed |= set(s, pvs, &v, PV_PROTECTION, false);
        }
    }
    for svc in s.list(services, None) {
        let lb = svc["spec"]["type"] == "LoadBalancer";
        let provisioned = svc["status"]["loadBalancer"]["ingress"]
            .as_array()
            .is_some_and(|i| !i.is_empty());
        let cleanup = deleting(&svc) || !lb;
        if !cleanup && provisioned && !has(&svc, LB_CLEANUP) {
            changed |= set(s, services, &svc, LB_CLEANUP, true);
        } else if cleanup && has(&svc, LB_CLEANUP) {
            changed |= set(s, services, &svc, LB_CLEANUP, false);
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        let mut s = Store::new();
        let ns = res("namespaces", "", "v1");
        s.create(
            ns,
            "",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "geowp"}}),
            "test",
        )
        .unwrap();
        s
    }

    #[test]
    fn a_claim_in_use_stays_until_its_pod_is_gone() {
        let mut s = store();
        let pvcs = res("persistentvolumeclaims", "", "v1");
        let pods = res("pods", "", "v1");
        let claim = s
            .create(pvcs, "geowp", json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}), "geowp")
            .unwrap();
        assert_eq!(
            claim["metadata"]["finalizers"],
            json!([PVC_PROTECTION]),
            "added at create"
        );
        s.create(
            pods,
            "geowp",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36.1"}],
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}}),
            "kubelet",
        )
        .unwrap();
        s.delete(pvcs, "geowp", "data", "Background", None).unwrap();
        settle(&mut s);
        let kept = s
            .get(pvcs, "geowp", "data")
            .expect("kept while the pod uses it");
        assert!(deleting(&kept));
        s.delete(pods, "geowp", "p", "Background", None).unwrap();
        settle(&mut s);
        assert!(s.get(pvcs, "geowp", "data").is_err(), "gone with its pod");
    }

    #[test]
    fn a_load_balancer_service_goes_once_its_load_balancer_is_deleted() {
        let mut s = store();
        let services = res("services", "", "v1");
        s.create(
            services,
            "geowp",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "wordpress"},
            "spec": {"type": "LoadBalancer", "selector": {"a": "b"}, "ports": [{"port": 80}]}}),
            "geowp",
        )
        .unwrap();
        // the controller provisions it, then protects it
        let live = s.get(services, "geowp", "wordpress").unwrap();
        let mut status = live["status"].clone();
        status["loadBalancer"] = json!({"ingress": [{"ip": "10.0.0.9"}]});
        s.set_status(services, "geowp", "wordpress", status)
            .unwrap();
        assert!(settle(&mut s));
        let live = s.get(services, "geowp", "wordpress").unwrap();
        assert!(has(&live, LB_CLEANUP));
        // deleting: kept until the controller has cleaned up
        s.delete(services, "geowp", "wordpress", "Background", None)
            .unwrap();
        assert!(deleting(&s.get(services, "geowp", "wordpress").unwrap()));
        settle(&mut s);
        assert!(s.get(services, "geowp", "wordpress").is_err());
    }
}
