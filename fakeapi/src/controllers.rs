//! Simulated controllers: the status the real ones write (observedGeneration,
//! replica counts, conditions, load balancer addresses, claim phases), chosen
//! per object by annotation or by the server's default.

use std::time::Duration;

use serde_json::{json, Value};

/// Annotation choosing an object's behaviour: `ready`, `never-ready` or `fail`.
pub const BEHAVIOR: &str = "fake.geowp.dev/behavior";
/// Annotation overriding the delay before the simulated controller acts (e.g. `2s`).
pub const DELAY: &str = "fake.geowp.dev/delay";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    Ready,
    NeverReady,
    Fail,
    /// Workloads (Deployments, StatefulSets, Jobs) get no simulated status:
    /// something outside the server runs them and writes it (the local
    /// runtime, as a kubelet and controllers would). Services and claims are
    /// still served as by `ready`.
    External,
}

impl std::str::FromStr for Behavior {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ready" => Ok(Behavior::Ready),
            "never-ready" | "never" => Ok(Behavior::NeverReady),
            "fail" => Ok(Behavior::Fail),
            "external" => Ok(Behavior::External),
            _ => Err(format!(
                "unknown behavior {s:?}: use ready, never-ready, fail or external"
            )),
        }
    }
}

/// A delay in Go's duration grammar (`200ms`, `2s`).
pub fn parse_delay(s: &str) -> Option<Duration> {
    geowp_common::duration::parse(s).ok()
}

/// Kinds whose status a simulated controller writes.
pub fn controlled(kind: &str, obj: &Value) -> bool {
    match kind {
        "Deployment" | "StatefulSet" | "Job" | "PersistentVolumeClaim" => true,
        "Service" => obj["spec"]["type"] == "LoadBalancer",
        _ => false,
    }
}

pub fn behavior_of(obj: &Value, default: Behavior) -> Behavior {
    obj["metadata"]["annotations"][BEHAVIOR]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

pub fn delay_of(obj: &Value, default: Duration) -> Duration {
    obj["metadata"]["annotations"][DELAY]
        .as_str()
        .and_then(parse_delay)
        .unwrap_or(default)
}

pub fn revision(obj: &Value) -> String {
    let t = obj["spec"]["template"].to_string();
    let h = t.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    format!(
        "{}-{:x}",
        obj["metadata"]["name"].as_str().unwrap_or(""),
        h & 0xffffffff
    )
}

/// With an address prefix `A.B`, cluster IPs are `A.B.1.N`; the pool's
/// load balancer address of such a Service is `A.B.2.N`.
fn lb_beside(cluster_ip: &str) -> Option<String> {
    let o: Vec<&str> = cluster_ip.split('.').collect();
    (o.len() == 4 && o[0] == "127" && o[2] == "1").then(|| format!("{}.{}.2.{}", o[0], o[1], o[3]))
}

/// Whether a new status says nothing the current one does not: real
/// controllers leave condition and Job timestamps alone when nothing
/// changed, so a no-op write of the object changes nothing.
pub fn same_status(current: &Value, new: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| {
                        !matches!(
                            k.as_str(),
                            "lastUpdateTime"
                                | "lastTransitionTime"
                                | "startTime"
                                | "completionTime"
                        )
                    })
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            x => x.clone(),
        }
    }
    strip(current) == strip(new)
}

/// The status a controller would write now, or None if it has nothing to say.
pub fn status_for(kind: &str, obj: &Value, b: Behavior) -> Option<Value> {
    let b = match (kind, b) {
        ("Deployment" | "StatefulSet" | "Job", Behavior::External) => return None,
        (_, Behavior::External) => Behavior::Ready,
        (_, b) => b,
    };
    let gen = obj["metadata"]["generation"].clone();
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    let now = crate::store::now();
    let cond = |t: &str, s: &str, reason: &str, msg: &str| json!({"type": t, "status": s, "reason": reason, "message": msg, "lastUpdateTime": now, "lastTransitionTime": now});
    Some(match (kind, b) {
        ("Deployment", Behavior::Ready) => {
            json!({"observedGeneration": gen, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas, "conditions": [
                cond("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
                cond("Progressing", "True", "NewReplicaSetAvailable", &format!("ReplicaSet \"{name}\" has successfully progressed."))]})
        }
        ("Deployment", Behavior::NeverReady) => {
            json!({"observedGeneration": gen, "replicas": replicas, "updatedReplicas": replicas,
            "unavailableReplicas": replicas, "conditions": [
                cond("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
                cond("Progressing", "True", "ReplicaSetUpdated", &format!("ReplicaSet \"{name}\" is progressing."))]})
        }
        ("Deployment", Behavior::Fail) => {
            json!({"observedGeneration": gen, "replicas": replicas, "updatedReplicas": replicas,
            "unavailableReplicas": replicas, "conditions": [
                cond("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
                cond("Progressing", "False", "ProgressDeadlineExceeded", &format!("ReplicaSet \"{name}\" has timed out progressing."))]})
        }
        ("StatefulSet", b) => {
            let ready = if b == Behavior::Ready { replicas } else { 0 };
            let rev = revision(obj);
            json!({"observedGeneration": gen, "replicas": replicas, "readyReplicas": ready, "availableReplicas": ready,
                "currentReplicas": replicas, "updatedReplicas": replicas, "currentRevision": rev, "updateRevision": rev, "collisionCount": 0})
        }
        ("Job", Behavior::Ready) => json!({"succeeded": 1, "startTime": now, "completionTime": now,
            "conditions": [cond("Complete", "True", "", "")]}),
        ("Job", Behavior::Fail) => {
            json!({"failed": obj["spec"]["backoffLimit"].as_i64().unwrap_or(6) + 1, "startTime": now,
            "conditions": [cond("Failed", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]})
        }
        ("Job", Behavior::NeverReady) => json!({"active": 1, "startTime": now}),
        ("Service", Behavior::Ready) => {
            // like a cloud: the requested static IP, else one from the pool
            // (beside the cluster IP when the server has an address prefix)
            let cluster_ip = obj["spec"]["clusterIP"].as_str().unwrap_or("");
            let ip = obj["spec"]["loadBalancerIP"]
                .as_str()
                .map(String::from)
                .or_else(|| lb_beside(cluster_ip))
                .unwrap_or_else(|| format!("127.0.0.{}", 2 + (cluster_ip.len() % 200)));
            json!({"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}})
        }
        ("Service", _) => json!({"loadBalancer": {}}),
        ("PersistentVolumeClaim", Behavior::Ready) => json!({"phase": "Bound",
            "accessModes": obj["spec"]["accessModes"].clone(),
            "capacity": {"storage": obj["spec"]["resources"]["requests"]["storage"].clone()}}),
        ("PersistentVolumeClaim", _) => json!({"phase": "Pending"}),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_status_follows_behavior_and_generation() {
        let d = json!({"metadata": {"name": "web", "generation": 3}, "spec": {"replicas": 2}});
        let s = status_for("Deployment", &d, Behavior::Ready).unwrap();
        assert_eq!(s["observedGeneration"], 3);
        assert_eq!(s["availableReplicas"], 2);
        let f = status_for("Deployment", &d, Behavior::Fail).unwrap();
        assert_eq!(f["conditions"][1]["reason"], "ProgressDeadlineExceeded");
        let n = status_for("StatefulSet", &d, Behavior::NeverReady).unwrap();
        assert_eq!(n["readyReplicas"], 0);
    }

    #[test]
    fn annotations_choose_behavior_and_delay() {
        let o = json!({"metadata": {"annotations": {BEHAVIOR: "fail", DELAY: "250ms"}}});
        assert_eq!(behavior_of(&o, Behavior::Ready), Behavior::Fail);
        assert_eq!(delay_of(&o, Duration::ZERO), Duration::from_millis(250));
        assert_eq!(parse_delay("1.5s"), Some(Duration::from_millis(1500)));
    }
}
