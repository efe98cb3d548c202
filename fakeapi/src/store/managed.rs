//! Managed fields: who owns which field of an object (`managedFields`,
//! one entry per manager and operation), the part of an object a manager
//! can own, and the 409 of a server-side apply that conflicts with another
//! manager.

use serde_json::{json, Value};

use crate::fields::{self, FieldSet};
use crate::registry::Resource;

use super::ApiError;

/// One entry of `managedFields`: a manager, its operation (`Apply` or
/// `Update`), and the fields it owns.
pub(super) struct Manager {
    pub(super) manager: String,
    pub(super) operation: String,
    pub(super) api_version: String,
    pub(super) time: String,
    pub(super) set: FieldSet,
}

pub(super) fn managers_of(obj: &Value) -> Vec<Manager> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| Manager {
                    manager: e["manager"].as_str().unwrap_or("").to_string(),
                    operation: e["operation"].as_str().unwrap_or("Update").to_string(),
                    api_version: e["apiVersion"].as_str().unwrap_or("").to_string(),
                    time: e["time"].as_str().unwrap_or("").to_string(),
                    set: fields::from_fields_v1(&e["fieldsV1"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn set_managers(obj: &mut Value, ms: &[Manager]) {
    let arr: Vec<Value> = ms
        .iter()
        .filter(|m| !m.set.is_empty())
        .map(|m| {
            json!({"manager": m.manager, "operation": m.operation, "apiVersion": m.api_version,
                "time": m.time, "fieldsType": "FieldsV1", "fieldsV1": fields::to_fields_v1(&m.set)})
        })
        .collect();
    if arr.is_empty() {
        if let Some(md) = obj["metadata"].as_object_mut() {
            md.remove("managedFields");
        }
    } else {
        obj["metadata"]["managedFields"] = Value::Array(arr);
    }
}

/// The part of an object a manager can own: no identity, no status, no
/// server-maintained metadata.
pub(super) fn ownable(cfg: &Value, res: &Resource) -> Value {
    let mut c = cfg.clone();
    if let Some(o) = c.as_object_mut() {
        o.remove("apiVersion");
        o.remove("kind");
        if res.has_status {
            o.remove("status");
        }
        if let Some(md) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "name",
                "namespace",
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "managedFields",
                "deletionTimestamp",
                "selfLink",
            ] {
                md.remove(k);
            }
            if md.is_empty() {
                o.remove("metadata");
            }
        }
    }
    c
}

pub(super) fn conflict_error(
    res: &Resource,
    name: &str,
    conflicts: &[(String, String)],
) -> ApiError {
    let n = conflicts.len();
    let lines: Vec<String> = conflicts
        .iter()
        .map(|(m, f)| format!("conflict with \"{m}\" using {}: {f}", res.api_version()))
        .collect();
    ApiError {
        code: 409,
        reason: "Conflict",
        message: format!(
            "Apply failed with {n} conflict{}: {}",
            if n == 1 { "" } else { "s" },
            lines.join("\n")
        ),
        details: json!({"name": name, "group": res.group, "kind": res.plural,
            "causes": conflicts.iter().map(|(m, f)| json!({"reason": "FieldManagerConflict",
                "message": format!("conflict with \"{m}\" using {}", res.api_version()), "field": f})).collect::<Vec<_>>()}),
    }
}
