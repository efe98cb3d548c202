//! Readiness as kubectl's `rollout status` judges it, and drift as a user
//! would read it: small pure functions over an object's JSON. Waits are a
//! [`Condition`] the caller picks ([`is_rolled_out`], [`is_deleted`]) and
//! hands to [`crate::Cluster::wait`], which adds the deadline.

use geowp_common::quantity;
use serde_json::Value;

/// What a wait waits for: given the object as last seen (None: it does not
/// exist), whether it is there yet.
pub trait Condition: Send + Sync {
    fn check(&self, obj: Option<&Value>) -> Readiness;
}

impl<F: Fn(Option<&Value>) -> Readiness + Send + Sync> Condition for F {
    fn check(&self, obj: Option<&Value>) -> Readiness {
        self(obj)
    }
}

/// Rolled out by kubectl's rules (see [`readiness`]); missing is waiting.
pub fn is_rolled_out(kind: &str) -> impl Condition {
    let kind = kind.to_string();
    move |o: Option<&Value>| match o {
        None => Readiness::Waiting("the object does not exist".into()),
        Some(v) => readiness(&kind, v),
    }
}

/// As [`is_rolled_out`], except that a Deployment past its progress
/// deadline is still waited for. The deadline (`progressDeadlineSeconds`,
/// 600 s by default) is the controller's opinion; the caller's own deadline
/// (Terraform's `timeouts`) is the user's, and a Deployment whose pods come
/// up later, as WordPress's do while TiDB is still forming, is ready then:
/// the controller sets `Progressing` back to true once it is available.
pub fn is_rolled_out_within_deadline(kind: &str) -> impl Condition {
    let kind = kind.to_string();
    move |o: Option<&Value>| match o {
        None => Readiness::Waiting("the object does not exist".into()),
        Some(v) => match readiness(&kind, v) {
            Readiness::Failed(why)
                if kind == "Deployment" && why.starts_with("exceeded its progress deadline") =>
            {
                Readiness::Waiting(format!("{why} (still waited for until the timeout)"))
            }
            r => r,
        },
    }
}

/// Gone: no object, or one with another uid (made anew by someone else,
/// so the one we deleted is gone). While it stays, says what holds it.
pub fn is_deleted(uid: &str) -> impl Condition {
    let uid = uid.to_string();
    move |o: Option<&Value>| match o {
        None => Readiness::Ready,
        Some(v) if !uid.is_empty() && v["metadata"]["uid"].as_str() != Some(uid.as_str()) => {
            Readiness::Ready
        }
        Some(v) => still_present(v),
    }
}

fn still_present(v: &Value) -> Readiness {
    let fin = v["metadata"]["finalizers"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let cond = v["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find_map(|c| c["message"].as_str()))
        .unwrap_or("");
    if !fin.is_empty() {
        Readiness::Waiting(
            format!("still present, held by finalizers [{fin}] {cond}")
                .trim_end()
                .to_string(),
        )
    } else if !cond.is_empty() {
        Readiness::Waiting(format!("still present: {cond}"))
    } else {
        Readiness::Waiting("still present".into())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Not yet: the last condition, in words.
    Waiting(String),
    /// Will not get there without a change (deadline exceeded, job failed).
    Failed(String),
}

fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn condition<'a>(obj: &'a Value, ty: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
}

/// kubectl's rollout rules: observedGeneration caught up, every replica
/// updated and available, no deadline exceeded.
pub fn readiness(kind: &str, obj: &Value) -> Readiness {
    let gen = i(&obj["metadata"]["generation"]);
    let observed = i(&obj["status"]["observedGeneration"]);
    let st = &obj["status"];
    match kind {
        "Deployment" => {
            if observed < gen {
                return Readiness::Waiting(format!(
                    "waiting for the deployment controller to observe generation {gen}"
                ));
            }
            if let Some(p) = condition(obj, "Progressing") {
                if p["reason"] == "ProgressDeadlineExceeded" {
                    return Readiness::Failed(format!(
                        "exceeded its progress deadline: {}",
                        p["message"].as_str().unwrap_or("")
                    ));
                }
            }
            let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            let (updated, available, total) = (
                i(&st["updatedReplicas"]),
                i(&st["availableReplicas"]),
                i(&st["replicas"]),
            );
            if updated < want {
                Readiness::Waiting(format!(
                    "{updated} of {want} updated replicas are available"
                ))
            } else if total > updated {
                Readiness::Waiting(format!(
                    "{} old replicas are pending termination",
                    total - updated
                ))
            } else if available < updated {
                Readiness::Waiting(format!(
                    "{available} of {updated} updated replicas are available"
                ))
            } else {
                Readiness::Ready
            }
        }
        "StatefulSet" => {
            if observed < gen {
                return Readiness::Waiting(format!(
                    "waiting for the statefulset controller to observe generation {gen}"
                ));
            }
            let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = i(&st["readyReplicas"]);
            if ready < want {
                return Readiness::Waiting(format!("{ready} of {want} pods are ready"));
            }
            if obj["spec"]["updateStrategy"]["type"] == "RollingUpdate"
                || obj["spec"]["updateStrategy"].is_null()
            {
                if i(&st["updatedReplicas"]) < want {
                    return Readiness::Waiting(format!(
                        "{} of {want} pods are updated",
                        i(&st["updatedReplicas"])
                    ));
                }
                if st["currentRevision"] != st["updateRevision"] {
                    return Readiness::Waiting("rolling update in progress".into());
                }
            }
            Readiness::Ready
        }
        "Job" => {
            if condition(obj, "Complete").is_some_and(|c| c["status"] == "True") {
                Readiness::Ready
            } else if let Some(f) = condition(obj, "Failed").filter(|c| c["status"] == "True") {
                Readiness::Failed(format!(
                    "{}: {}",
                    f["reason"].as_str().unwrap_or("Failed"),
                    f["message"].as_str().unwrap_or("")
                ))
            } else {
                Readiness::Waiting(format!(
                    "job running ({} active, {} failed attempts)",
                    i(&st["active"]),
                    i(&st["failed"])
                ))
            }
        }
        "PersistentVolumeClaim" => match st["phase"].as_str() {
            Some("Bound") => Readiness::Ready,
            Some("Lost") => Readiness::Failed("claim lost its volume".into()),
            p => Readiness::Waiting(format!("claim is {}", p.unwrap_or("Pending"))),
        },
        "Service" if obj["spec"]["type"] == "LoadBalancer" => {
            // an empty ingress list is not an address
            let has = st["loadBalancer"]["ingress"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x["ip"].is_string() || x["hostname"].is_string())
            });
            match (has, obj["spec"]["loadBalancerIP"].as_str()) {
                (true, _) => Readiness::Ready,
                // a static address the cloud cannot give (taken, outside the
                // load balancers' subnet, not reserved) is never given: its
                // events say why
                (false, Some(ip)) => Readiness::Waiting(format!(
                    "waiting for the load balancer address it asks for, {ip} (the Service's events say why the cloud has not given it)"
                )),
                (false, None) => Readiness::Waiting("waiting for a load balancer address".into()),
            }
        }
        _ => Readiness::Ready,
    }
}

/// Kinds worth waiting for.
pub fn needs_wait(kind: &str, body: &Value) -> bool {
    match kind {
        "Deployment" | "StatefulSet" | "Job" => true,
        "PersistentVolumeClaim" => true,
        "Service" => body["spec"]["type"] == "LoadBalancer",
        _ => false,
    }
}

/// How `live` differs from `desired` on the fields `desired` sets (what we
/// own): None when in sync. Secret values are never shown.
pub fn drift(desired: &Value, live: &Value, secret: bool) -> Option<String> {
    let mut diffs = Vec::new();
    walk(desired, live, &mut String::new(), secret, &mut diffs);
    if diffs.is_empty() {
        return None;
    }
    let n = diffs.len();
    let mut s = diffs.into_iter().take(3).collect::<Vec<_>>().join("; ");
    if n > 3 {
        s.push_str(&format!("; and {} more", n - 3));
    }
    Some(s)
}

fn short(v: &Value) -> String {
    let mut s = match v {
        Value::Null => "absent".to_string(),
        Value::String(x) => format!("{x:?}"),
        other => other.to_string(),
    };
    if s.len() > 60 {
        let mut cut = 57;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// Whether the field at `path` holds a resource quantity, which the API
/// server returns in canonical form (`1024Mi` comes back as `1Gi`): the
/// entries of `requests`, `limits` and `capacity`, and `sizeLimit`.
fn is_quantity(path: &str) -> bool {
    let mut parts = path.rsplit('.');
    let last = parts.next().unwrap_or("");
    let parent = parts.next().unwrap_or("");
    last == "sizeLimit" || matches!(parent, "requests" | "limits" | "capacity")
}

fn walk(d: &Value, l: &Value, path: &mut String, secret: bool, out: &mut Vec<String>) {
    match (d, l) {
        (Value::Object(dm), _) => {
            for (k, dv) in dm {
                if path.is_empty() && matches!(k.as_str(), "apiVersion" | "kind" | "status") {
                    continue;
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                walk(dv, &l[k.as_str()], path, secret || k == "data", out);
                path.truncate(len);
            }
        }
        (Value::Array(da), Value::Array(la)) if da.len() == la.len() => {
            for (n, (dv, lv)) in da.iter().zip(la).enumerate() {
                let len = path.len();
                let label = dv["name"]
                    .as_str()
                    .map(|x| format!("[{x}]"))
                    .unwrap_or(format!("[{n}]"));
                path.push_str(&label);
                walk(dv, lv, path, secret, out);
                path.truncate(len);
            }
        }
        (Value::Array(_), _) => {
            if d != l {
                out.push(if secret {
                    format!("{path} changed")
                } else {
                    format!(
                        "{path} has {} items, want {}",
                        l.as_array().map(Vec::len).unwrap_or(0),
                        d.as_array().map(Vec::len).unwrap_or(0)
                    )
                });
            }
        }
        (Value::String(ds), Value::String(ls)) if is_quantity(path) && quantity::same(ds, ls) => {}
        _ => {
            if d != l && !(d.is_number() && l.is_number() && d.as_f64() == l.as_f64()) {
                out.push(if secret {
                    format!("{path} changed")
                } else {
                    format!("{path} is {} (want {})", short(l), short(d))
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dep(gen: i64, obs: i64, updated: i64, available: i64, total: i64) -> Value {
        json!({"metadata": {"generation": gen}, "spec": {"replicas": 2},
            "status": {"observedGeneration": obs, "updatedReplicas": updated, "availableReplicas": available, "replicas": total}})
    }

    #[test]
    fn a_load_balancer_waits_for_an_address_and_names_the_static_one_it_asks_for() {
        let svc = |ip: Option<&str>, ingress: Value| {
            let mut spec = json!({"type": "LoadBalancer"});
            if let Some(ip) = ip {
                spec["loadBalancerIP"] = json!(ip);
            }
            json!({"spec": spec, "status": {"loadBalancer": {"ingress": ingress}}})
        };
        let r = |o: &Value| readiness("Service", o);
        assert_eq!(
            r(&svc(None, json!([]))),
            Readiness::Waiting("waiting for a load balancer address".into())
        );
        match r(&svc(Some("10.0.0.1"), json!([]))) {
            Readiness::Waiting(w) => assert!(
                w.starts_with("waiting for the load balancer address it asks for, 10.0.0.1 "),
                "{w}"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            r(&svc(Some("10.0.0.1"), json!([{"ip": "10.0.0.1"}]))),
            Readiness::Ready
        );
        assert_eq!(
            r(&svc(None, json!([{"hostname": "lb.example.com"}]))),
            Readiness::Ready
        );
    }

    #[test]
    fn deployment_follows_kubectl_rollout_rules() {
        assert_eq!(
            readiness("Deployment", &dep(2, 2, 2, 2, 2)),
            Readiness::Ready
        );
        // stale status right after an update: not ready even though counts look fine
        assert!(
            matches!(readiness("Deployment", &dep(3, 2, 2, 2, 2)), Readiness::Waiting(s) if s.contains("generation 3"))
        );
        assert!(
            matches!(readiness("Deployment", &dep(2, 2, 1, 1, 2)), Readiness::Waiting(s) if s.contains("1 of 2 updated"))
        );
        assert!(
            matches!(readiness("Deployment", &dep(2, 2, 2, 2, 3)), Readiness::Waiting(s) if s.contains("old replicas"))
        );
        assert!(matches!(
            readiness("Deployment", &dep(2, 2, 2, 1, 2)),
            Readiness::Waiting(_)
        ));
        let mut failed = dep(2, 2, 2, 0, 2);
        failed["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"wp\" has timed out progressing."}]);
        assert!(
            matches!(readiness("Deployment", &failed), Readiness::Failed(s) if s.contains("timed out"))
        );
    }

    #[test]
    fn statefulsets_jobs_claims_and_load_balancers() {
        let sts = json!({"metadata": {"generation": 1}, "spec": {"replicas": 1, "updateStrategy": {"type": "RollingUpdate"}},
            "status": {"observedGeneration": 1, "readyReplicas": 1, "updatedReplicas": 1, "currentRevision": "a", "updateRevision": "b"}});
        assert_eq!(
            readiness("StatefulSet", &sts),
            Readiness::Waiting("rolling update in progress".into())
        );
        let job = json!({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "x"}]}});
        assert!(matches!(readiness("Job", &job), Readiness::Failed(_)));
        assert_eq!(
            readiness(
                "PersistentVolumeClaim",
                &json!({"status": {"phase": "Bound"}})
            ),
            Readiness::Ready
        );
        let lb = |ing: Value| json!({"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": ing}}});
        assert!(
            matches!(readiness("Service", &lb(json!([]))), Readiness::Waiting(_)),
            "an empty ingress list is not provisioned"
        );
        assert_eq!(
            readiness("Service", &lb(json!([{"ip": "1.2.3.4"}]))),
            Readiness::Ready
        );
        assert_eq!(
            readiness("Service", &json!({"spec": {"type": "ClusterIP"}})),
            Readiness::Ready
        );
    }

    #[test]
    fn a_deployment_past_its_progress_deadline_is_still_waited_for() {
        let mut late = dep(1, 1, 0, 0, 2);
        late["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"wp\" has timed out progressing."}]);
        assert!(matches!(
            is_rolled_out("Deployment").check(Some(&late)),
            Readiness::Failed(_)
        ));
        match is_rolled_out_within_deadline("Deployment").check(Some(&late)) {
            Readiness::Waiting(why) => assert!(why.contains("progress deadline"), "{why}"),
            other => panic!("{other:?}"),
        }
        // once available, ready
        let done = dep(1, 1, 2, 2, 2);
        assert_eq!(
            is_rolled_out_within_deadline("Deployment").check(Some(&done)),
            Readiness::Ready
        );
    }

    #[test]
    fn deletion_waits_go_by_uid() {
        let live =
            |uid: &str| json!({"metadata": {"uid": uid, "finalizers": ["example.com/hold"]}});
        let c = is_deleted("u1");
        assert_eq!(c.check(None), Readiness::Ready);
        assert!(
            matches!(c.check(Some(&live("u1"))), Readiness::Waiting(s) if s.contains("example.com/hold"))
        );
        assert_eq!(
            c.check(Some(&live("u2"))),
            Readiness::Ready,
            "an object re-created under the same name is not the one we deleted"
        );
        let r = is_rolled_out("PersistentVolumeClaim");
        assert!(matches!(r.check(None), Readiness::Waiting(_)));
        assert_eq!(
            r.check(Some(&json!({"status": {"phase": "Bound"}}))),
            Readiness::Ready
        );
    }

    #[test]
    fn drift_reads_like_a_sentence_and_hides_secrets() {
        let want = json!({"apiVersion": "apps/v1", "spec": {"template": {"spec": {"containers": [{"name": "wordpress", "image": "wordpress:6.7"}]}}}});
        let live = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "wordpress", "image": "wordpress:evil", "imagePullPolicy": "IfNotPresent"}]}}}});
        assert_eq!(drift(&want, &live, false).unwrap(), "spec.template.spec.containers[wordpress].image is \"wordpress:evil\" (want \"wordpress:6.7\")");
        assert_eq!(drift(&want, &want, false), None);
        let s = drift(
            &json!({"data": {"pw": "c2VjcmV0"}}),
            &json!({"data": {"pw": "b3RoZXI="}}),
            true,
        )
        .unwrap();
        assert_eq!(s, "data.pw changed");
        // quantities come back canonical: the same value is no drift, another is
        let res = |m: &str| json!({"spec": {"containers": [{"name": "wp", "resources": {"requests": {"memory": m, "cpu": "0.5"}}}]}});
        let live = json!({"spec": {"containers": [{"name": "wp", "resources": {"requests": {"memory": "1Gi", "cpu": "500m"}}}]}});
        assert_eq!(drift(&res("1024Mi"), &live, false), None);
        assert_eq!(
            drift(&res("1G"), &live, false).unwrap(),
            "spec.containers[wp].resources.requests.memory is \"1Gi\" (want \"1G\")"
        );
        // elsewhere text is text
        assert!(drift(
            &json!({"data": {"size": "1024Mi"}}),
            &json!({"data": {"size": "1Gi"}}),
            false
        )
        .is_some());
        assert!(!s.contains("b3Ro"));
    }
}
