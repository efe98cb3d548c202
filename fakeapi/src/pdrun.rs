//! Workloads that run against the site's fake PD (`crate::pd`): a PD or
//! TiKV StatefulSet starts only if PD lets its process start, and a Job
//! running `/pd-ctl` runs its command against PD, its output the log of the
//! Pod the Job controller makes. Read by the simulated controllers' pass.

use serde_json::{json, Value};

use crate::controllers;
use crate::registry;
use crate::server::POD_LOG;
use crate::store::{now, Store};

/// With a fake PD: a PD or TiKV StatefulSet is ready only if PD lets its
/// process start; a `/pd-ctl` Job's command runs against PD, its output the
/// log of a Pod the Job controller makes (`job-name` label, as the real one;
/// an empty log without a fake PD).
/// A PD or TiKV StatefulSet whose image cannot be pulled (`unpullable`)
/// runs no process: its pod was replaced by one that never starts, so PD
/// loses that member or store (down, still registered), as a real cluster's
/// PD does when a rollout is stuck.
pub(crate) fn run_against_pd(
    pd: Option<&crate::pd::FakePd>,
    unpullable: &[String],
    s: &mut Store,
    kind: &str,
    obj: &Value,
) -> controllers::Behavior {
    use controllers::Behavior;
    let c0 = &obj["spec"]["template"]["spec"]["containers"][0];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(String::from))
            .collect()
    };
    let labels = &obj["metadata"]["labels"];
    let component = labels[geowp_common::names::label::COMPONENT]
        .as_str()
        .unwrap_or("");
    let image = c0["image"].as_str().unwrap_or("");
    let pulls = !unpullable.iter().any(|u| u == image);
    match (kind, component, pd) {
        ("StatefulSet", "pd" | "tikv", Some(pd)) if !pulls => {
            // the controller replaces the pod with one that never starts
            crate::statefulsets::step(s, obj, unpullable);
            pd.process_gone(&strings(&c0["args"]));
            Behavior::NeverReady
        }
        ("StatefulSet", "pd", Some(pd)) => {
            match pd.start_pd(&strings(&c0["args"]), c0["image"].as_str().unwrap_or("")) {
                Ok(()) => Behavior::Ready,
                Err(_) => Behavior::NeverReady,
            }
        }
        ("StatefulSet", "tikv", Some(pd)) => {
            let zone = labels[geowp_common::names::label::MEMBER]
                .as_str()
                .unwrap_or("");
            match pd.start_tikv(
                &strings(&c0["args"]),
                zone,
                c0["image"].as_str().unwrap_or(""),
            ) {
                Ok(()) => Behavior::Ready,
                Err(_) => Behavior::NeverReady,
            }
        }
        // a Job that completed stays completed (its template cannot change):
        // writing it again, even unchanged, runs nothing
        ("Job", _, _) if obj["status"]["succeeded"].as_i64().unwrap_or(0) > 0 => Behavior::Ready,
        ("Job", _, pd) => {
            let cmd = strings(&c0["command"]);
            if cmd.first().map(String::as_str) != Some("/pd-ctl") {
                return Behavior::Ready;
            }
            // without a fake PD, pd-ctl prints nothing
            let out = pd.map(|pd| pd.ctl(&cmd[1..])).unwrap_or_default();
            let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
            let job = obj["metadata"]["name"].as_str().unwrap_or("");
            let pod = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{job}-{}", &now().replace([':', '-', 'T', 'Z'], "")[8..]),
                    "namespace": ns, "labels": {"job-name": job},
                    "annotations": {POD_LOG: out},
                    "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job,
                        "uid": obj["metadata"]["uid"], "controller": true}]},
                "spec": obj["spec"]["template"]["spec"].clone(),
                "status": {"phase": "Succeeded"}});
            if let Some(res) = registry::find("", "v1", "pods") {
                let _ = s.create(res, ns, pod, "kube-controller-manager");
            }
            Behavior::Ready
        }
        _ => Behavior::Ready,
    }
}
