//! Rules of the real API server that the store applies on every write
//! besides names and immutability: quantities stored in canonical form,
//! container requests within their limits, and what a claim's storage
//! request may become. Each rule names the source it follows; the messages
//! are the real server's, so that kubectl shows what our provider sees.

use geowp_common::quantity::Quantity;
use serde_json::Value;

use crate::registry::Resource;
use crate::store::{invalid, ApiError, ApiResult};

/// Keys whose values are resource quantities wherever they appear in a
/// spec or a status: `requests`, `limits`, `capacity` (maps of quantities)
/// and `sizeLimit` (one).
const QUANTITY_MAPS: [&str; 3] = ["requests", "limits", "capacity"];

/// Rewrites every quantity of `obj` into the text the real server stores:
/// a quantity is decoded into its typed value on the way in and encoded
/// canonically on the way out (kubernetes/apimachinery@v0.33.0
/// pkg/api/resource/quantity.go:434-459 `CanonicalizeBytes`, :679-693
/// `String` and `MarshalJSON`; the rules are in geowp_common::quantity). Secrets and ConfigMaps hold user data, not
/// quantities, and are left alone.
pub fn canonicalize(res: &Resource, obj: &mut Value) {
    if matches!(res.kind, "Secret" | "ConfigMap") {
        return;
    }
    for part in ["spec", "status"] {
        if let Some(v) = obj.get_mut(part) {
            walk(v);
        }
    }
}

fn walk(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, inner) in m.iter_mut() {
                if QUANTITY_MAPS.contains(&k.as_str()) {
                    if let Some(q) = inner.as_object_mut() {
                        for x in q.values_mut() {
                            canonical_in_place(x);
                        }
                        continue;
                    }
                }
                if k == "sizeLimit" {
                    canonical_in_place(inner);
                    continue;
                }
                walk(inner);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(walk),
        _ => {}
    }
}

fn canonical_in_place(x: &mut Value) {
    let q = match x {
        Value::String(s) => Quantity::parse(s),
        // a JSON number is read as its decimal text
        Value::Number(n) => Quantity::parse(&n.to_string()),
        _ => None,
    };
    if let Some(q) = q {
        *x = Value::String(q.canonical());
    }
}

/// The pod templates of a workload, with the field path of each.
fn pod_specs<'a>(res: &Resource, obj: &'a Value) -> Vec<(&'static str, &'a Value)> {
    match res.kind {
        "Deployment" | "StatefulSet" | "Job" | "DaemonSet" | "ReplicaSet" => {
            vec![("spec.template.spec", &obj["spec"]["template"]["spec"])]
        }
        "CronJob" => vec![(
            "spec.jobTemplate.spec.template.spec",
            &obj["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        )],
        "Pod" => vec![("spec", &obj["spec"])],
        _ => vec![],
    }
}

/// A request may not exceed the limit of the same resource
/// (kubernetes/kubernetes@v1.33.3 pkg/apis/core/validation/validation.go:7163-7172,
/// `validateResourceRequirements`: `field.Invalid(reqPath,
/// quantity.String(), "must be less than or equal to <name> limit of
/// <limit>")`, reported on the container's `resources.requests` map).
/// Deployments and Jobs validate their pod templates with the same
/// function, so they are refused at write time; a StatefulSet's template is
/// not validated (see `podspec`): it is accepted, and its controller then
/// cannot create the pod.
pub fn check_resources(res: &Resource, obj: &Value) -> ApiResult<()> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    if res.kind == "StatefulSet" {
        return Ok(());
    }
    for (path, pod) in pod_specs(res, obj) {
        for list in ["initContainers", "containers"] {
            for (i, c) in pod[list].as_array().into_iter().flatten().enumerate() {
                let r = &c["resources"];
                for (rname, req) in r["requests"].as_object().into_iter().flatten() {
                    let lim = &r["limits"][rname.as_str()];
                    let (Some(q), Some(l)) = (
                        req.as_str().and_then(Quantity::parse),
                        lim.as_str().and_then(Quantity::parse),
                    ) else {
                        continue;
                    };
                    if q > l {
                        return Err(invalid(
                            res,
                            name,
                            &format!("{path}.{list}[{i}].resources.requests"),
                            &format!(
                                "Invalid value: \"{}\": must be less than or equal to {rname} limit of {}",
                                q.canonical(),
                                l.canonical()
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// The storage a claim asks for.
fn storage(pvc: &Value) -> Option<Quantity> {
    pvc["spec"]["resources"]["requests"]["storage"]
        .as_str()
        .and_then(Quantity::parse)
}

/// A claim's storage request may not go down to or below what the claim
/// has (kubernetes/kubernetes@v1.33.3 pkg/apis/core/validation/validation.go:2442-2453,
/// `ValidatePersistentVolumeClaimUpdate`). With RecoverVolumeExpansionFailure
/// (beta and on by default since 1.32, pkg/features/kube_features.go:1631-1634)
/// a request may come back down from a failed expansion, but only while it
/// stays above `status.capacity`; at or below it the answer is a 422
/// `Forbidden: field can not be less than status.capacity`. Validation runs
/// before validating admission (kubernetes/apiserver@v0.33.0
/// pkg/registry/generic/registry/store.go:750,765), so this comes first.
pub fn check_claim_shrink(res: &Resource, old: &Value, new: &Value) -> ApiResult<()> {
    let name = new["metadata"]["name"].as_str().unwrap_or("");
    let capacity = old["status"]["capacity"]["storage"]
        .as_str()
        .and_then(Quantity::parse);
    if let (Some(o), Some(n)) = (storage(old), storage(new)) {
        if n < o && capacity.is_none_or(|c| n <= c) {
            return Err(invalid(
                res,
                name,
                "spec.resources.requests.storage",
                "Forbidden: field can not be less than status.capacity",
            ));
        }
    }
    Ok(())
}

/// A claim's storage request may go up only when the claim is bound and
/// its StorageClass sets `allowVolumeExpansion: true` (kubernetes/kubernetes
/// plugin/pkg/admission/storage/persistentvolume/resize/admission.go
/// `Validate` and `allowResize` as of 1.33: the in-tree volume plugin check
/// is gone; a validating admission plugin, so a 403 Forbidden in the form
/// kubernetes/apiserver@v0.33.0 pkg/admission/errors.go:53-63 gives it).
/// `class` is the claim's StorageClass as stored, None when there is none.
pub fn check_claim_growth(old: &Value, new: &Value, class: Option<&Value>) -> ApiResult<()> {
    let (Some(o), Some(n)) = (storage(old), storage(new)) else {
        return Ok(());
    };
    if n <= o {
        return Ok(());
    }
    let name = new["metadata"]["name"].as_str().unwrap_or("");
    let forbidden = |why: &str| ApiError {
        code: 403,
        reason: "Forbidden",
        message: format!("persistentvolumeclaims \"{name}\" is forbidden: {why}"),
        details: serde_json::json!({"name": name, "kind": "persistentvolumeclaims"}),
    };
    if old["status"]["phase"] != "Bound" {
        return Err(forbidden(
            "Only bound persistent volume claims can be expanded",
        ));
    }
    let class_name = |c: &Value| {
        c["spec"]["storageClassName"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let allowed = !class_name(new).is_empty()
        && class_name(new) == class_name(old)
        && class.is_some_and(|c| c["allowVolumeExpansion"] == true);
    if !allowed {
        return Err(forbidden("only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"));
    }
    Ok(())
}

/// The checks of one object on create and on update that do not compare
/// it with its earlier self.
pub fn check_object(res: &Resource, obj: &Value) -> ApiResult<()> {
    crate::podspec::check(res, obj)?;
    check_resources(res, obj)?;
    match res.kind {
        "Secret" | "ConfigMap" => check_keys(res, obj),
        "StorageClass" => check_storage_class(res, obj),
        "Service" => check_service(res, obj),
        _ => Ok(()),
    }
}

/// Keys of a Secret's or a ConfigMap's data (kubernetes/kubernetes@v1.33.3
/// pkg/apis/core/validation/validation.go:6960 and :7063,
/// `ValidateSecret`/`ValidateConfigMap`, with
/// kubernetes/apimachinery@v0.33.0 pkg/util/validation/validation.go:441-451
/// `IsConfigMapKey`; the double spaces are the real `RegexError`'s).
fn check_keys(res: &Resource, obj: &Value) -> ApiResult<()> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    for part in ["data", "binaryData"] {
        for key in obj[part].as_object().into_iter().flatten().map(|(k, _)| k) {
            if let Some(msg) = config_key_error(key) {
                return Err(invalid(
                    res,
                    name,
                    &format!("{part}[{key}]"),
                    &format!("Invalid value: {key:?}: {msg}"),
                ));
            }
        }
    }
    Ok(())
}

/// What `IsConfigMapKey` says of `key`, None when it is a valid key.
pub fn config_key_error(key: &str) -> Option<String> {
    if key.len() > 253 {
        return Some("must be no more than 253 characters".into());
    }
    let ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !ok {
        return Some("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".into());
    }
    match key {
        "." => Some("must not be '.'".into()),
        ".." => Some("must not be '..'".into()),
        k if k.starts_with("..") => Some("must not start with '..'".into()),
        _ => None,
    }
}

/// A StorageClass's provisioner is a qualified name (kubernetes/kubernetes
/// pkg/apis/storage/validation/validation.go:88-96 `validateProvisioner`,
/// lower-cased first, then kubernetes/apimachinery@v0.33.0
/// pkg/util/validation/validation.go:41-70 `IsQualifiedName`), and no
/// parameter key is empty.
fn check_storage_class(res: &Resource, obj: &Value) -> ApiResult<()> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let p = obj["provisioner"].as_str().unwrap_or("").to_lowercase();
    if p.is_empty() {
        return Err(invalid(res, name, "provisioner", "Required value"));
    }
    if let Some(msg) = qualified_name_error(&p) {
        return Err(invalid(
            res,
            name,
            "provisioner",
            &format!("Invalid value: {p:?}: {msg}"),
        ));
    }
    if obj["parameters"]
        .as_object()
        .is_some_and(|m| m.contains_key(""))
    {
        return Err(invalid(
            res,
            name,
            "parameters",
            "Invalid value: \"\": field can not be empty.",
        ));
    }
    Ok(())
}

fn name_part_ok(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// What `IsQualifiedName` says of `s`, None when it is one.
pub fn qualified_name_error(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split('/').collect();
    let name = match parts.as_slice() {
        [n] => *n,
        [prefix, n] => {
            if prefix.is_empty() {
                return Some("prefix part must be non-empty".into());
            }
            let dns = prefix.len() <= 253
                && prefix.split('.').all(|l| {
                    let b = l.as_bytes();
                    !b.is_empty()
                        && b[0].is_ascii_alphanumeric()
                        && b[b.len() - 1].is_ascii_alphanumeric()
                        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                });
            if !dns {
                return Some("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into());
            }
            n
        }
        _ => return Some("a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".into()),
    };
    if name.is_empty() {
        return Some("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Some("name part must be no more than 63 characters".into());
    }
    if !name_part_ok(name) {
        return Some("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')".into());
    }
    None
}

/// Load-balancer source ranges only on a LoadBalancer Service
/// (kubernetes/kubernetes@v1.33.3 pkg/apis/core/validation/validation.go:6067-6088,
/// `ValidateService`; the field's path really is spelled with a capital L,
/// and the annotation is checked only when the field is empty).
fn check_service(res: &Resource, obj: &Value) -> ApiResult<()> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    if obj["spec"]["type"] == "LoadBalancer" {
        return Ok(());
    }
    let msg = "Forbidden: may only be used when `type` is 'LoadBalancer'";
    if obj["spec"]["loadBalancerSourceRanges"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
    {
        return Err(invalid(res, name, "spec.LoadBalancerSourceRanges", msg));
    }
    const KEY: &str = "service.beta.kubernetes.io/load-balancer-source-ranges";
    if !obj["metadata"]["annotations"][KEY].is_null() {
        return Err(invalid(
            res,
            name,
            &format!("metadata.annotations[{KEY}]"),
            msg,
        ));
    }
    Ok(())
}

/// The node port range of a default cluster (`--service-node-port-range`).
pub const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

/// A Service's requested node ports: inside the range and not held by
/// another Service (kubernetes/kubernetes pkg/registry/core/service/portallocator/allocator.go
/// `ErrNotInRange`/`ErrAllocated`, wrapped by pkg/registry/core/service/storage/alloc.go
/// `initNodePorts`/`updateNodePorts` into a 422 on `spec.ports[i].nodePort`).
/// `taken` yields the node ports other Services hold.
pub fn check_node_ports(
    res: &Resource,
    obj: &Value,
    taken: &std::collections::BTreeSet<i64>,
) -> ApiResult<()> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    for (i, p) in obj["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(np) = p["nodePort"].as_i64() else {
            continue;
        };
        let field = format!("spec.ports[{i}].nodePort");
        if !NODE_PORTS.contains(&np) {
            return Err(invalid(res, name, &field, &format!("Invalid value: {np}: provided port is not in the valid range. The range of valid ports is {}-{}", NODE_PORTS.start(), NODE_PORTS.end())));
        }
        if taken.contains(&np) {
            return Err(invalid(
                res,
                name,
                &field,
                &format!("Invalid value: {np}: provided port is already allocated"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry;
    use serde_json::json;

    fn res(kind: &str) -> &'static Resource {
        registry::RESOURCES.iter().find(|r| r.kind == kind).unwrap()
    }

    #[test]
    fn quantities_are_stored_canonical() {
        let mut d = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "wp", "resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"}, "limits": {"memory": "1.5Gi"}}}],
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "262144Ki"}}]}}}});
        canonicalize(res("Deployment"), &mut d);
        let c = &d["spec"]["template"]["spec"]["containers"][0]["resources"];
        assert_eq!(c["requests"], json!({"cpu": "500m", "memory": "1Gi"}));
        assert_eq!(c["limits"], json!({"memory": "1536Mi"}));
        assert_eq!(
            d["spec"]["template"]["spec"]["volumes"][0]["emptyDir"]["sizeLimit"],
            "256Mi"
        );
        let mut s = json!({"data": {"requests": "1024Mi"}, "spec": {"limits": {"x": "1024Mi"}}});
        canonicalize(res("Secret"), &mut s);
        assert_eq!(s["spec"]["limits"]["x"], "1024Mi");
    }

    #[test]
    fn a_request_above_its_limit_is_refused_with_the_real_message() {
        let d = json!({"metadata": {"name": "wordpress"}, "spec": {"template": {"spec": {
            "containers": [{"name": "wp", "resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}}]}}}});
        let e = check_resources(res("Deployment"), &d).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(e.message, "Deployment.apps \"wordpress\" is invalid: spec.template.spec.containers[0].resources.requests: Invalid value: \"2Gi\": must be less than or equal to memory limit of 1Gi");
        let ok = json!({"metadata": {"name": "wordpress"}, "spec": {"template": {"spec": {
            "containers": [{"name": "wp", "resources": {"requests": {"memory": "1024Mi"}, "limits": {"memory": "1Gi"}}}]}}}});
        assert!(check_resources(res("Deployment"), &ok).is_ok());
    }

    #[test]
    fn claims_grow_only_where_the_class_allows_and_never_shrink() {
        let pvc = |size: &str| {
            json!({"metadata": {"name": "wp-content"},
            "spec": {"storageClassName": "nfs", "resources": {"requests": {"storage": size}}},
            "status": {"phase": "Bound"}})
        };
        let bound = |req: &str, cap: &str| {
            let mut p = pvc(req);
            p["status"]["capacity"]["storage"] = json!(cap);
            p
        };
        let e = check_claim_shrink(
            res("PersistentVolumeClaim"),
            &bound("10Gi", "10Gi"),
            &pvc("5Gi"),
        )
        .unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(e.message, "PersistentVolumeClaim \"wp-content\" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than status.capacity");
        assert!(check_claim_shrink(
            res("PersistentVolumeClaim"),
            &bound("10Gi", "10Gi"),
            &pvc("10240Mi")
        )
        .is_ok());
        // back down from an expansion that never happened, above the capacity
        assert!(check_claim_shrink(
            res("PersistentVolumeClaim"),
            &bound("20Gi", "10Gi"),
            &pvc("15Gi")
        )
        .is_ok());
        assert!(check_claim_shrink(
            res("PersistentVolumeClaim"),
            &bound("20Gi", "10Gi"),
            &pvc("10Gi")
        )
        .is_err());
        let fixed = json!({"metadata": {"name": "nfs"}});
        let e = check_claim_growth(&pvc("10Gi"), &pvc("20Gi"), Some(&fixed)).unwrap_err();
        assert_eq!((e.code, e.reason), (403, "Forbidden"));
        assert_eq!(e.message, "persistentvolumeclaims \"wp-content\" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize");
        let growable = json!({"metadata": {"name": "nfs"}, "allowVolumeExpansion": true});
        assert!(check_claim_growth(&pvc("10Gi"), &pvc("20Gi"), Some(&growable)).is_ok());
        let mut pending = pvc("10Gi");
        pending["status"]["phase"] = json!("Pending");
        let e = check_claim_growth(&pending, &pvc("20Gi"), Some(&growable)).unwrap_err();
        assert!(e
            .message
            .ends_with("Only bound persistent volume claims can be expanded"));
    }

    #[test]
    fn keys_provisioners_source_ranges_and_node_ports() {
        let secret = json!({"metadata": {"name": "wp"}, "data": {"bad key": "eA=="}});
        let e = check_object(res("Secret"), &secret).unwrap_err();
        assert_eq!(e.message, "Secret \"wp\" is invalid: data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')");
        assert!(config_key_error("AUTH_KEY").is_none() && config_key_error("..x").is_some());
        let long = format!("geowp.dev/nfs-{}", "n".repeat(60));
        let sc = json!({"metadata": {"name": "c"}, "provisioner": long});
        let e = check_object(res("StorageClass"), &sc).unwrap_err();
        assert_eq!(e.message, format!("StorageClass.storage.k8s.io \"c\" is invalid: provisioner: Invalid value: \"{long}\": name part must be no more than 63 characters"));
        let sc = json!({"metadata": {"name": "c"}, "provisioner": "Example.COM/nfs", "parameters": {"": "x"}});
        let e = check_object(res("StorageClass"), &sc).unwrap_err();
        assert!(
            e.message
                .ends_with("parameters: Invalid value: \"\": field can not be empty."),
            "{}",
            e.message
        );
        let svc = json!({"metadata": {"name": "wp", "annotations": {"service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/8"}}, "spec": {"type": "NodePort"}});
        let e = check_object(res("Service"), &svc).unwrap_err();
        assert_eq!(e.message, "Service \"wp\" is invalid: metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]: Forbidden: may only be used when `type` is 'LoadBalancer'");
        let mut lb = svc.clone();
        lb["spec"]["type"] = json!("LoadBalancer");
        assert!(check_object(res("Service"), &lb).is_ok());
        let ports = |np: i64| json!({"metadata": {"name": "wp"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": np}]}});
        let taken = std::collections::BTreeSet::from([30080]);
        let e = check_node_ports(res("Service"), &ports(8080), &taken).unwrap_err();
        assert_eq!(e.message, "Service \"wp\" is invalid: spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767");
        let e = check_node_ports(res("Service"), &ports(30080), &taken).unwrap_err();
        assert_eq!(e.message, "Service \"wp\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated");
        assert!(check_node_ports(res("Service"), &ports(30081), &taken).is_ok());
    }
}
