//! A StatefulSet's pods as its controller keeps them with the defaults
//! geowp uses (`podManagementPolicy: OrderedReady`, `RollingUpdate`), for a
//! server started with [`crate::Options::unpullable`]: pods `<name>-<i>`
//! labelled with the revision they were made from
//! (`controller-revision-hash`), Ready unless their image cannot be pulled.
//!
//! What matters is the rule that makes a bad rollout stick
//! (kubernetes/kubernetes pkg/controller/statefulset/stateful_set_control.go,
//! `updateStatefulSet`, and kubernetes#67250): with OrderedReady the
//! controller stops at the first pod that is not Running and Ready, before
//! it would replace pods of an old revision. A pod made from a template
//! whose image never pulls is therefore never replaced, even after a good
//! template is applied; it must be deleted, and the controller then makes it
//! again from the update revision.

use serde_json::{json, Value};

use crate::controllers::revision;
use crate::registry;
use crate::store::Store;

/// The label with the revision a pod was made from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// One pass of the controller over `set`; true when every replica is Ready
/// and made from the set's current template.
pub fn step(s: &mut Store, set: &Value, unpullable: &[String]) -> bool {
    let Some(pods) = registry::find("", "v1", "pods") else {
        return false;
    };
    let ns = set["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let name = set["metadata"]["name"].as_str().unwrap_or("").to_string();
    let replicas = set["spec"]["replicas"].as_i64().unwrap_or(1);
    let rev = revision(set);
    let template = &set["spec"]["template"];
    let images: Vec<&str> = template["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["image"].as_str())
        .collect();
    let bad = images
        .iter()
        .find(|i| unpullable.iter().any(|u| u == *i))
        .map(|i| i.to_string());
    let make = |s: &mut Store, i: i64| -> bool {
        let pod = format!("{name}-{i}");
        let mut labels = template["metadata"]["labels"].clone();
        labels[REVISION_LABEL] = json!(rev);
        labels["statefulset.kubernetes.io/pod-name"] = json!(pod);
        // each claim template becomes a volume of the pod, its claim
        // `<template>-<set>-<ordinal>` (kubernetes pkg/controller/statefulset
        // stateful_set_utils.go `updateStorage`)
        let mut spec = template["spec"].clone();
        for t in set["spec"]["volumeClaimTemplates"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let tname = t["metadata"]["name"].as_str().unwrap_or("");
            let vol = json!({"name": tname, "persistentVolumeClaim": {"claimName": format!("{tname}-{name}-{i}")}});
            match spec["volumes"].as_array_mut() {
                Some(v) => {
                    v.retain(|x| x["name"] != tname);
                    v.push(vol);
                }
                None => spec["volumes"] = json!([vol]),
            }
        }
        let body = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": ns, "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name,
                    "uid": set["metadata"]["uid"], "controller": true}]},
            "spec": spec});
        if s.create(pods, &ns, body, "statefulset-controller").is_err() {
            return false;
        }
        let status = match &bad {
            None => {
                json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})
            }
            Some(image) => {
                json!({"phase": "Pending", "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
                "containerStatuses": [{"name": template["spec"]["containers"][0]["name"], "ready": false, "image": image,
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}}}]})
            }
        };
        let _ = s.set_status(pods, &ns, &format!("{name}-{i}"), status);
        bad.is_none()
    };
    // make missing pods in order, and stop at one that is not ready
    for i in 0..replicas {
        match s.get(pods, &ns, &format!("{name}-{i}")) {
            Err(_) => {
                if !make(s, i) {
                    return false;
                }
            }
            Ok(p) if !ready(&p) => return false, // OrderedReady: wait for it, never replace it
            Ok(_) => {}
        }
    }
    // all ready: replace those of an older revision, highest ordinal first
    for i in (0..replicas).rev() {
        let pod = format!("{name}-{i}");
        let Ok(p) = s.get(pods, &ns, &pod) else {
            continue;
        };
        if p["metadata"]["labels"][REVISION_LABEL] != rev.as_str() {
            let _ = s.delete(pods, &ns, &pod, "Background", None);
            if !make(s, i) {
                return false;
            }
        }
    }
    true
}
