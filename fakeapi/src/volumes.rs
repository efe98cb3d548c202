//! The volume side of a cluster, as the controllers of a real one leave it:
//! a StatefulSet's controller makes a claim for each volume claim template
//! and replica (`<template>-<statefulset>-<ordinal>`, kept when the
//! StatefulSet goes: retention `Retain` by default); a bound claim has a
//! PersistentVolume (`pvc-<claim uid>`) whose reclaim policy is its
//! StorageClass's; when the claim is deleted the volume is deleted with it
//! under `Delete` and stays `Released`, disk and data, under `Retain`
//! (kubernetes/kubernetes pkg/controller/statefulset/stateful_pod_control.go
//! `createPersistentVolumeClaims`, pkg/controller/volume/persistentvolume
//! `reclaimVolume`). Run by the store's housekeeping.

use serde_json::json;

use crate::registry::{self, Resource};
use crate::store::Store;

fn res(plural: &str, group: &str, version: &str) -> &'static Resource {
    registry::find(group, version, plural).expect("a resource of the constant table")
}

/// One pass; true when anything changed.
pub fn settle(s: &mut Store) -> bool {
    let pvcs = res("persistentvolumeclaims", "", "v1");
    let pvs = res("persistentvolumes", "", "v1");
    let sts = res("statefulsets", "apps", "v1");
    let classes = res("storageclasses", "storage.k8s.io", "v1");
    let mut changed = false;

    // claims from the templates of StatefulSets that have pods
    for set in s.list(sts, None) {
        if set["metadata"]["deletionTimestamp"].is_string()
            || set["status"]["readyReplicas"].as_i64().unwrap_or(0) < 1
        {
            continue;
        }
        let ns = set["metadata"]["namespace"].as_str().unwrap_or("");
        let name = set["metadata"]["name"].as_str().unwrap_or("");
        let replicas = set["spec"]["replicas"].as_i64().unwrap_or(1);
        for t in set["spec"]["volumeClaimTemplates"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let tname = t["metadata"]["name"].as_str().unwrap_or("");
            for i in 0..replicas {
                let claim = format!("{tname}-{name}-{i}");
                if s.get(pvcs, ns, &claim).is_ok() {
                    continue;
                }
                let mut body = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": {"name": claim, "namespace": ns, "labels": t["metadata"]["labels"].clone()},
                    "spec": t["spec"].clone()});
                if body["metadata"]["labels"].is_null() {
                    body["metadata"]["labels"] = json!({});
                }
                if s.create(pvcs, ns, body, "statefulset-controller").is_ok() {
                    let size = t["spec"]["resources"]["requests"]["storage"].clone();
                    let _ = s.set_status(
                        pvcs,
                        ns,
                        &claim,
                        json!({"phase": "Bound", "accessModes": t["spec"]["accessModes"].clone(),
                            "capacity": {"storage": size}}),
                    );
                    changed = true;
                }
            }
        }
    }

    let claims = s.list(pvcs, None);
    let volumes = s.list(pvs, None);
    // a volume for each bound claim
    for c in &claims {
        let uid = c["metadata"]["uid"].as_str().unwrap_or("");
        if c["status"]["phase"] != "Bound"
            || volumes.iter().any(|v| v["spec"]["claimRef"]["uid"] == uid)
        {
            continue;
        }
        let class = c["spec"]["storageClassName"].as_str().unwrap_or("");
        let policy = s
            .get(classes, "", class)
            .ok()
            .and_then(|k| k["reclaimPolicy"].as_str().map(String::from))
            .unwrap_or_else(|| "Delete".into());
        let name = format!("pvc-{uid}");
        let body = json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name},
            "spec": {"capacity": c["status"]["capacity"].clone(),
                "accessModes": c["spec"]["accessModes"].clone(),
                "storageClassName": class,
                "persistentVolumeReclaimPolicy": policy,
                "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                    "namespace": c["metadata"]["namespace"].clone(),
                    "name": c["metadata"]["name"].clone(), "uid": uid},
                "csi": {"driver": "fake.geowp.dev", "volumeHandle": format!("disk-{uid}")}}});
        if s.create(pvs, "", body, "persistentvolume-controller")
            .is_ok()
        {
            let _ = s.set_status(pvs, "", &name, json!({"phase": "Bound"}));
            changed = true;
        }
    }
    // a volume whose claim is gone: deleted, or kept Released
    for v in &volumes {
        let uid = v["spec"]["claimRef"]["uid"].as_str().unwrap_or("");
        if uid.is_empty()
            || claims.iter().any(|c| c["metadata"]["uid"] == uid)
            || v["status"]["phase"] == "Released"
        {
            continue;
        }
        let name = v["metadata"]["name"].as_str().unwrap_or("");
        // Released first (then no longer in use for pv-protection), and
        // under Delete deleted with its disk
        let _ = s.set_status(pvs, "", name, json!({"phase": "Released"}));
        if v["spec"]["persistentVolumeReclaimPolicy"] != "Retain" {
            let _ = s.delete(pvs, "", name, "Background", None);
        }
        changed = true;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_claims_volumes_and_what_retain_keeps() {
        let mut s = Store::new();
        let ns = res("namespaces", "", "v1");
        s.create(
            ns,
            "",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "geowp"}}),
            "t",
        )
        .unwrap();
        let classes = res("storageclasses", "storage.k8s.io", "v1");
        s.create(classes, "", json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "keep"}, "provisioner": "x.example.com/disk", "reclaimPolicy": "Retain"}), "t").unwrap();
        let sts = res("statefulsets", "apps", "v1");
        s.create(sts, "geowp", json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "tikv", "namespace": "geowp"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"c": "tikv"}},
                "template": {"metadata": {"labels": {"c": "tikv"}}, "spec": {"containers": [{"name": "t", "image": "i"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"site": "blog"}},
                    "spec": {"storageClassName": "keep", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "50Gi"}}}}]}}), "t").unwrap();
        // no pods yet: no claim
        assert!(!settle(&mut s));
        s.set_status(sts, "geowp", "tikv", json!({"readyReplicas": 1}))
            .unwrap();
        while settle(&mut s) {}
        let pvcs = res("persistentvolumeclaims", "", "v1");
        let claim = s.get(pvcs, "geowp", "data-tikv-0").unwrap();
        assert_eq!(claim["metadata"]["labels"]["site"], "blog");
        let pvs = res("persistentvolumes", "", "v1");
        let vols = s.list(pvs, None);
        assert_eq!(vols.len(), 1);
        assert_eq!(vols[0]["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        // the claim deleted: its volume stays, Released (the StatefulSet,
        // still there, makes a new claim with a new volume: the old one is
        // found by the claim's uid, not by its place in the list)
        let uid = claim["metadata"]["uid"].clone();
        s.delete(pvcs, "geowp", "data-tikv-0", "Background", None)
            .unwrap();
        // all the housekeeping: pvc-protection lets the claim go (no pod uses it)
        while s.settle() {}
        let vols = s.list(pvs, None);
        let old = vols
            .iter()
            .find(|v| v["spec"]["claimRef"]["uid"] == uid)
            .expect("the deleted claim's volume is kept");
        assert_eq!(old["status"]["phase"], "Released");
    }
}
