//! Server defaults, as the real API server fills them on every create and
//! update (after the quantities of `crate::rules` are made canonical):
//! namespaces' label and finalizer, Services' type, cluster IP, node ports
//! and policies (the IPs and ports handed out by the store), workloads' and
//! pod templates' fields, Secrets' `stringData`, claims, network policies
//! and storage classes.

use serde_json::{json, Value};

use crate::registry::Resource;
use crate::rules;
use crate::store::Store;

/// Server defaults, as the real API server fills them.
pub(crate) fn fill(s: &mut Store, res: &Resource, obj: &mut Value, old: Option<&Value>) {
    rules::canonicalize(res, obj);
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    match res.kind {
        "Namespace" => {
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            obj["spec"]["finalizers"] = json!(["kubernetes"]);
            if obj["status"]["phase"].is_null() {
                obj["status"]["phase"] = json!("Active");
            }
        }
        "Service" => {
            let spec = &mut obj["spec"];
            if spec["type"].is_null() {
                spec["type"] = json!("ClusterIP");
            }
            let old_ip = old
                .map(|o| o["spec"]["clusterIP"].clone())
                .unwrap_or(Value::Null);
            if spec["clusterIP"].is_null() {
                if !old_ip.is_null() {
                    spec["clusterIP"] = old_ip;
                } else {
                    spec["clusterIP"] = json!(s.allocate_cluster_ip());
                }
            }
            if spec["clusterIP"] != "None" {
                spec["clusterIPs"] = json!([spec["clusterIP"].clone()]);
            }
            for (k, v) in [
                ("sessionAffinity", json!("None")),
                ("ipFamilies", json!(["IPv4"])),
                ("ipFamilyPolicy", json!("SingleStack")),
                ("internalTrafficPolicy", json!("Cluster")),
            ] {
                if spec[k].is_null() {
                    spec[k] = v;
                }
            }
            let external = matches!(
                spec["type"].as_str(),
                Some("NodePort") | Some("LoadBalancer")
            );
            if external && spec["externalTrafficPolicy"].is_null() {
                spec["externalTrafficPolicy"] = json!("Cluster");
            }
            let mut taken =
                s.node_ports_except(obj["metadata"]["namespace"].as_str().unwrap_or(""), &name);
            let spec = &mut obj["spec"];
            taken.extend(
                spec["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["nodePort"].as_i64()),
            );
            let old_ports = old
                .map(|o| o["spec"]["ports"].clone())
                .unwrap_or(Value::Null);
            if let Some(ports) = spec["ports"].as_array_mut() {
                for p in ports.iter_mut() {
                    if p["protocol"].is_null() {
                        p["protocol"] = json!("TCP");
                    }
                    if p["targetPort"].is_null() {
                        p["targetPort"] = p["port"].clone();
                    }
                    if external && p["nodePort"].is_null() {
                        let prev = old_ports
                            .as_array()
                            .and_then(|a| a.iter().find(|o| o["port"] == p["port"]))
                            .map(|o| o["nodePort"].clone());
                        match prev {
                            Some(np) if !np.is_null() => p["nodePort"] = np,
                            _ => {
                                // the next free port of the range
                                p["nodePort"] = json!(s.allocate_node_port(&taken));
                            }
                        }
                    }
                }
            }
            if obj["status"].is_null() {
                obj["status"] = json!({"loadBalancer": {}});
            }
        }
        "Deployment" => {
            let spec = &mut obj["spec"];
            if spec["replicas"].is_null() {
                spec["replicas"] = json!(1);
            }
            if spec["strategy"].is_null() {
                spec["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}});
            }
            for (k, v) in [
                ("progressDeadlineSeconds", 600),
                ("revisionHistoryLimit", 10),
            ] {
                if spec[k].is_null() {
                    spec[k] = json!(v);
                }
            }
            pod_template_defaults(&mut spec["template"]);
        }
        "StatefulSet" => {
            let spec = &mut obj["spec"];
            if spec["replicas"].is_null() {
                spec["replicas"] = json!(1);
            }
            if spec["updateStrategy"].is_null() {
                spec["updateStrategy"] =
                    json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}});
            }
            if spec["podManagementPolicy"].is_null() {
                spec["podManagementPolicy"] = json!("OrderedReady");
            }
            if spec["revisionHistoryLimit"].is_null() {
                spec["revisionHistoryLimit"] = json!(10);
            }
            if spec["persistentVolumeClaimRetentionPolicy"].is_null() {
                spec["persistentVolumeClaimRetentionPolicy"] =
                    json!({"whenDeleted": "Retain", "whenScaled": "Retain"});
            }
            if let Some(vcts) = spec["volumeClaimTemplates"].as_array_mut() {
                for v in vcts {
                    if v["spec"]["volumeMode"].is_null() {
                        v["spec"]["volumeMode"] = json!("Filesystem");
                    }
                }
            }
            pod_template_defaults(&mut spec["template"]);
        }
        "Job" => {
            let spec = &mut obj["spec"];
            for (k, v) in [("backoffLimit", 6), ("completions", 1), ("parallelism", 1)] {
                if spec[k].is_null() {
                    spec[k] = json!(v);
                }
            }
            pod_template_defaults(&mut spec["template"]);
        }
        "Secret" => {
            if let Some(sd) = obj.get("stringData").and_then(Value::as_object).cloned() {
                for (k, v) in sd {
                    obj["data"][k.as_str()] = json!(b64(v.as_str().unwrap_or("")));
                }
                if let Some(o) = obj.as_object_mut() {
                    o.remove("stringData");
                }
            }
            if obj["type"].is_null() {
                obj["type"] = json!("Opaque");
            }
        }
        "PersistentVolumeClaim" => {
            if obj["spec"]["volumeMode"].is_null() {
                obj["spec"]["volumeMode"] = json!("Filesystem");
            }
            if obj["status"]["phase"].is_null() {
                obj["status"]["phase"] = json!("Pending");
            }
        }
        "NetworkPolicy" => {
            // policyTypes: Ingress always, Egress when egress rules are
            // given; ports default to TCP
            if obj["spec"]["policyTypes"].is_null() {
                let mut types = vec![json!("Ingress")];
                if obj["spec"]["egress"]
                    .as_array()
                    .is_some_and(|e| !e.is_empty())
                {
                    types.push(json!("Egress"));
                }
                obj["spec"]["policyTypes"] = Value::Array(types);
            }
            for dir in ["ingress", "egress"] {
                if let Some(rules) = obj["spec"][dir].as_array_mut() {
                    for rule in rules {
                        if let Some(ports) = rule["ports"].as_array_mut() {
                            for p in ports {
                                if p["protocol"].is_null() {
                                    p["protocol"] = json!("TCP");
                                }
                            }
                        }
                    }
                }
            }
        }
        "StorageClass" => {
            if obj["reclaimPolicy"].is_null() {
                obj["reclaimPolicy"] = json!("Delete");
            }
            if obj["volumeBindingMode"].is_null() {
                obj["volumeBindingMode"] = json!("Immediate");
            }
        }
        _ => {}
    }
}

fn pod_template_defaults(t: &mut Value) {
    if t.is_null() {
        return;
    }
    let spec = &mut t["spec"];
    for (k, v) in [
        ("restartPolicy", json!("Always")),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("securityContext", json!({})),
    ] {
        if spec[k].is_null() {
            spec[k] = v;
        }
    }
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec[list].as_array_mut() {
            for c in cs {
                if c["imagePullPolicy"].is_null() {
                    let image = c["image"].as_str().unwrap_or("");
                    let tag = image
                        .rsplit('/')
                        .next()
                        .and_then(|last| last.split_once(':'))
                        .map(|(_, t)| t);
                    let always = !image.contains('@') && tag.is_none_or(|t| t == "latest");
                    c["imagePullPolicy"] = json!(if always { "Always" } else { "IfNotPresent" });
                }
                for (k, v) in [
                    ("terminationMessagePath", json!("/dev/termination-log")),
                    ("terminationMessagePolicy", json!("File")),
                    ("resources", json!({})),
                ] {
                    if c[k].is_null() {
                        c[k] = v;
                    }
                }
                if let Some(ps) = c["ports"].as_array_mut() {
                    for p in ps {
                        if p["protocol"].is_null() {
                            p["protocol"] = json!("TCP");
                        }
                    }
                }
            }
        }
    }
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}
