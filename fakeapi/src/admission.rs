//! What the API server checks on a write before it stores it, and the
//! admission plugins it runs: the body's kind, name and namespace against
//! the request, the NamespaceLifecycle plugin (no new content in a missing
//! or terminating namespace), node ports, server defaults
//! (`crate::defaults`), fields immutable on update, validation (names,
//! selectors, and the rules of `crate::rules`), the claims' resize plugin,
//! and the protection finalizers (`crate::finalizers::admit`).

use serde_json::{json, Value};

use crate::registry::{self, Resource};
use crate::rules;
use crate::store::{invalid, ApiError, ApiResult, Store};

/// A create, once the store has given the object its identity and managed
/// fields: node ports, defaults, validation, then the admission plugins
/// that mutate.
pub(crate) fn admit_create(
    s: &mut Store,
    res: &'static Resource,
    ns: &str,
    name: &str,
    obj: &mut Value,
) -> ApiResult<()> {
    if res.kind == "Service" {
        // allocation comes before validation on the real server
        rules::check_node_ports(res, obj, &s.node_ports_except(ns, name))?;
    }
    crate::defaults::fill(s, res, obj, None);
    validate(res, obj)?;
    // the admission plugins that mutate
    crate::finalizers::admit(res.kind, obj);
    Ok(())
}

/// An update of `live` to `obj`: node ports, defaults, immutable fields,
/// validation, then the validating admission plugins.
pub(crate) fn admit_update(
    s: &mut Store,
    res: &'static Resource,
    ns: &str,
    name: &str,
    live: &Value,
    obj: &mut Value,
) -> ApiResult<()> {
    if res.kind == "Service" {
        rules::check_node_ports(res, obj, &s.node_ports_except(ns, name))?;
    }
    crate::defaults::fill(s, res, obj, Some(live));
    immutable(res, live, obj, name)?;
    validate(res, obj)?;
    if res.kind == "PersistentVolumeClaim" {
        // validation first, then the validating admission plugins
        rules::check_claim_shrink(res, live, obj)?;
        let class = obj["spec"]["storageClassName"]
            .as_str()
            .and_then(|c| s.get(storage_class(), "", c).ok());
        rules::check_claim_growth(live, obj, class.as_ref())?;
    }
    Ok(())
}

/// The NamespaceLifecycle admission plugin: no new content in a namespace
/// that does not exist or is being terminated.
pub(crate) fn check_namespace(s: &Store, res: &Resource, ns: &str, name: &str) -> ApiResult<()> {
    if !res.namespaced {
        return Ok(());
    }
    let nsres = registry::find("", "v1", "namespaces").expect("namespaces registered"); // ok: namespaces is in the constant resource table
    match s.get(nsres, "", ns).ok() {
        None => Err(ApiError::not_found(nsres, ns)),
        Some(n) if !n["metadata"]["deletionTimestamp"].is_null() => Err(ApiError {
            code: 403,
            reason: "Forbidden",
            message: format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                if res.group.is_empty() { res.plural.to_string() } else { format!("{}.{}", res.plural, res.group) }
            ),
            details: json!({"kind": res.plural, "group": res.group, "causes": [{"reason": "NamespaceTerminating",
                "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]}),
        }),
        Some(_) => Ok(()),
    }
}

/// The body's kind and apiVersion, name and namespace against the request's.
pub(crate) fn check_identity(
    res: &Resource,
    obj: &Value,
    ns: &str,
    name: Option<&str>,
) -> ApiResult<()> {
    let kind = obj["kind"].as_str().unwrap_or("");
    let av = obj["apiVersion"].as_str().unwrap_or("");
    if kind != res.kind || av != res.api_version() {
        return Err(ApiError::new(
            400,
            "BadRequest",
            format!(
                "the body is kind {kind:?} apiVersion {av:?}, but the request is for {} {}",
                res.kind,
                res.api_version()
            ),
        ));
    }
    if let (Some(n), Some(body)) = (name, obj["metadata"]["name"].as_str()) {
        if n != body {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!("the name of the object ({body}) does not match the name on the URL ({n})"),
            ));
        }
    }
    if let Some(bns) = obj["metadata"]["namespace"].as_str() {
        if res.namespaced && bns != ns {
            return Err(ApiError::new(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"));
        }
    }
    Ok(())
}

fn validate(res: &Resource, obj: &Value) -> ApiResult<()> {
    rules::check_object(res, obj)?;
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let ok_name = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !ok_name {
        return Err(invalid(res, name, "metadata.name", "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"));
    }
    if res.kind == "Deployment" || res.kind == "StatefulSet" {
        let sel = &obj["spec"]["selector"]["matchLabels"];
        let labels = &obj["spec"]["template"]["metadata"]["labels"];
        if let Some(m) = sel.as_object() {
            if m.iter().any(|(k, v)| &labels[k] != v) {
                return Err(invalid(
                    res,
                    name,
                    "spec.template.metadata.labels",
                    "`selector` does not match template `labels`",
                ));
            }
        } else {
            return Err(invalid(res, name, "spec.selector", "Required value"));
        }
    }
    Ok(())
}

fn immutable(res: &Resource, old: &Value, new: &Value, name: &str) -> ApiResult<()> {
    let field_changed = |path: &[&str]| {
        let get = |v: &Value| path.iter().fold(v.clone(), |acc, k| acc[*k].clone());
        get(old) != get(new)
    };
    let forbid = |field: &str, msg: &str| Err(invalid(res, name, field, msg));
    match res.kind {
        "Deployment" if field_changed(&["spec", "selector"]) => {
            forbid("spec.selector", "field is immutable")
        }
        "Job" if field_changed(&["spec", "selector"]) || field_changed(&["spec", "template"]) => {
            forbid("spec.template", "field is immutable")
        }
        "StatefulSet" => {
            let strip = |v: &Value| {
                let mut s = v["spec"].clone();
                if let Some(o) = s.as_object_mut() {
                    for k in [
                        "replicas",
                        "template",
                        "updateStrategy",
                        "persistentVolumeClaimRetentionPolicy",
                        "minReadySeconds",
                        "ordinals",
                    ] {
                        o.remove(k);
                    }
                }
                s
            };
            if strip(old) != strip(new) {
                forbid("spec", "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")
            } else {
                Ok(())
            }
        }
        // kubernetes/kubernetes pkg/apis/storage/validation/validation.go:69-83
        // `ValidateStorageClassUpdate` (1.33): three Forbidden, one immutable
        "StorageClass" => {
            for f in ["parameters", "provisioner", "reclaimPolicy"] {
                if field_changed(&[f]) {
                    return forbid(f, &format!("Forbidden: updates to {f} are forbidden."));
                }
            }
            if field_changed(&["volumeBindingMode"]) {
                return forbid(
                    "volumeBindingMode",
                    &format!(
                        "Invalid value: {}: field is immutable",
                        new["volumeBindingMode"]
                    ),
                );
            }
            Ok(())
        }
        "RoleBinding" | "ClusterRoleBinding" if field_changed(&["roleRef"]) => {
            forbid("roleRef", "Invalid value: cannot change roleRef")
        }
        "Service"
            if !old["spec"]["clusterIP"].is_null() && field_changed(&["spec", "clusterIP"]) =>
        {
            forbid("spec.clusterIP", "Invalid value: field is immutable")
        }
        "PersistentVolumeClaim" => {
            let strip = |v: &Value| {
                let mut s = v["spec"].clone();
                s["resources"]["requests"] = Value::Null;
                s
            };
            // kubernetes/kubernetes@v1.33.3 pkg/apis/core/validation/validation.go:2438-2441
            // (the real message goes on with a diff of the two specs)
            if strip(old) != strip(new) {
                forbid(
                    "spec",
                    "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                )
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// The StorageClass resource (claims' resize admission reads classes).
fn storage_class() -> &'static Resource {
    registry::RESOURCES
        .iter()
        .find(|r| r.kind == "StorageClass")
        .expect("StorageClass is registered")
}
