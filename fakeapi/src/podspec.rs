//! A pod template's containers as the real API server validates them
//! (kubernetes/kubernetes `pkg/apis/core/validation/validation.go`, read at
//! commit 000f2605, a 1.33 copy: `validateContainerCommon`,
//! `validateContainerPorts`, `ValidateEnv`, `validateEnvVarValueFrom`,
//! `validateHandler`, `ValidatePortNumOrName`, `ValidateVolumeMounts`,
//! `validatePathNoBacksteps`; the name rules and their texts are
//! kubernetes/apimachinery@v0.33.0 `pkg/util/validation/validation.go`:
//! IsDNS1123Label :179-202, IsValidPortNum :301-306, IsValidPortName
//! :341-369, IsRelaxedEnvVarName :418-432 (RelaxedEnvironmentVariableValidation
//! is on by default from 1.32), RegexError :460-471, MaxLenError :455-457).
//!
//! Every error is collected, as the server does, and printed as it prints a
//! field.ErrorList (`field/errors.go:63-118`): one as
//! `Kind "name" is invalid: PATH: TYPE: DETAIL`, several in `[...]`.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::registry::Resource;
use crate::store::ApiError;

/// One field error: path, type (`Required value`, `Invalid value: V`, ...)
/// and detail.
struct FieldError {
    path: String,
    kind: &'static str,
    shown: String,
}

impl FieldError {
    fn required(path: String, detail: &str) -> FieldError {
        FieldError {
            path,
            kind: "FieldValueRequired",
            shown: if detail.is_empty() {
                "Required value".into()
            } else {
                format!("Required value: {detail}")
            },
        }
    }
    fn invalid(path: String, value: &Value, detail: &str) -> FieldError {
        FieldError {
            path,
            kind: "FieldValueInvalid",
            shown: format!("Invalid value: {}: {detail}", value_text(value)),
        }
    }
    fn duplicate(path: String, value: &Value) -> FieldError {
        FieldError {
            path,
            kind: "FieldValueDuplicate",
            shown: format!("Duplicate value: {}", value_text(value)),
        }
    }
    fn not_found(path: String, value: &Value) -> FieldError {
        FieldError {
            path,
            kind: "FieldValueNotFound",
            shown: format!("Not found: {}", value_text(value)),
        }
    }
    fn forbidden(path: String, detail: &str) -> FieldError {
        FieldError {
            path,
            kind: "FieldValueForbidden",
            shown: format!("Forbidden: {detail}"),
        }
    }
    fn not_supported(path: String, value: &Value, supported: &[&str]) -> FieldError {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        FieldError {
            path,
            kind: "FieldValueNotSupported",
            shown: format!(
                "Unsupported value: {}: supported values: {}",
                value_text(value),
                list.join(", ")
            ),
        }
    }
}

/// A value as the server prints it: strings quoted, numbers plain.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "\"\"".into(),
        x => x.to_string(),
    }
}

const LABEL_FMT: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/// IsDNS1123Label's messages for `s`.
fn dns_label(s: &str) -> Vec<String> {
    let mut out = vec![];
    if s.len() > 63 {
        out.push("must be no more than 63 characters".into());
    }
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-';
    if !ok {
        // a valid subdomain that is not a label is told about its dots
        let subdomain = !b.is_empty()
            && s.split('.').all(|p| {
                let p = p.as_bytes();
                !p.is_empty()
                    && p.iter()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                    && p[0] != b'-'
                    && p[p.len() - 1] != b'-'
            });
        out.push(if subdomain {
            "must not contain dots".into()
        } else {
            LABEL_FMT.into()
        });
    }
    out
}

/// IsValidPortName's messages for `s` (an IANA_SVC_NAME).
fn port_name(s: &str) -> Vec<String> {
    let mut out = vec![];
    if s.len() > 15 {
        out.push("must be no more than 15 characters".into());
    }
    if !s
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        out.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if !s.bytes().any(|c| c.is_ascii_lowercase()) {
        out.push("must contain at least one letter (a-z)".into());
    }
    if s.contains("--") {
        out.push("must not contain consecutive hyphens".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        out.push("must not begin or end with a hyphen".into());
    }
    out
}

const PORT_RANGE: &str = "must be between 1 and 65535, inclusive";

/// A port given as a number or a name (a probe's).
fn port_num_or_name(path: String, v: &Value, errs: &mut Vec<FieldError>) {
    match v {
        Value::Number(n) if !n.as_i64().is_some_and(|p| (1..=65535).contains(&p)) => {
            errs.push(FieldError::invalid(path, v, PORT_RANGE));
        }
        Value::String(s) => {
            for m in port_name(s) {
                errs.push(FieldError::invalid(path.clone(), v, &m));
            }
        }
        _ => {}
    }
}

fn container(
    at: &str,
    c: &Value,
    volumes: &BTreeSet<String>,
    names: &mut BTreeSet<String>,
    errs: &mut Vec<FieldError>,
) {
    let name = c["name"].as_str().unwrap_or("");
    if name.is_empty() {
        errs.push(FieldError::required(format!("{at}.name"), ""));
    } else {
        for m in dns_label(name) {
            errs.push(FieldError::invalid(format!("{at}.name"), &c["name"], &m));
        }
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(format!("{at}.name"), &c["name"]));
        }
    }
    let mut port_names = BTreeSet::new();
    for (i, p) in c["ports"].as_array().into_iter().flatten().enumerate() {
        let pp = format!("{at}.ports[{i}]");
        match p["containerPort"].as_i64() {
            None | Some(0) => errs.push(FieldError::required(format!("{pp}.containerPort"), "")),
            Some(n) if !(1..=65535).contains(&n) => errs.push(FieldError::invalid(
                format!("{pp}.containerPort"),
                &p["containerPort"],
                PORT_RANGE,
            )),
            _ => {}
        }
        if let Some(n) = p["name"].as_str().filter(|n| !n.is_empty()) {
            for m in port_name(n) {
                errs.push(FieldError::invalid(format!("{pp}.name"), &p["name"], &m));
            }
            if !port_names.insert(n.to_string()) {
                errs.push(FieldError::duplicate(format!("{pp}.name"), &p["name"]));
            }
        }
        if let Some(proto) = p["protocol"].as_str() {
            if !["SCTP", "TCP", "UDP"].contains(&proto) {
                errs.push(FieldError::not_supported(
                    format!("{pp}.protocol"),
                    &p["protocol"],
                    &["SCTP", "TCP", "UDP"],
                ));
            }
        }
    }
    for (i, e) in c["env"].as_array().into_iter().flatten().enumerate() {
        let ep = format!("{at}.env[{i}]");
        let n = e["name"].as_str().unwrap_or("");
        if n.is_empty() {
            errs.push(FieldError::required(format!("{ep}.name"), ""));
        } else if !n.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'=') {
            errs.push(FieldError::invalid(
                format!("{ep}.name"),
                &e["name"],
                "a valid environment variable name must consist only of printable ASCII characters other than '='",
            ));
        }
        if let Some(from) = e["valueFrom"].as_object() {
            let sources = [
                "fieldRef",
                "resourceFieldRef",
                "configMapKeyRef",
                "secretKeyRef",
            ]
            .iter()
            .filter(|k| from.get(**k).is_some_and(|v| !v.is_null()))
            .count();
            let vp = format!("{ep}.valueFrom");
            if e["value"].as_str().is_some_and(|v| !v.is_empty()) {
                errs.push(FieldError::invalid(
                    vp,
                    &json!(""),
                    "may not be specified when `value` is not empty",
                ));
            } else if sources > 1 {
                errs.push(FieldError::invalid(
                    vp,
                    &json!(""),
                    "may not have more than one field specified at a time",
                ));
            } else if sources == 0 {
                errs.push(FieldError::invalid(vp, &json!(""), "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"));
            }
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let p = &c[probe];
        if !p.is_object() {
            continue;
        }
        let pp = format!("{at}.{probe}");
        let mut handlers = 0;
        for h in ["exec", "httpGet", "tcpSocket", "grpc"] {
            if p[h].is_object() {
                handlers += 1;
                if handlers > 1 {
                    errs.push(FieldError::forbidden(
                        format!("{pp}.{h}"),
                        "may not specify more than 1 handler type",
                    ));
                }
            }
        }
        if handlers == 0 {
            errs.push(FieldError::required(
                pp.clone(),
                "must specify a handler type",
            ));
        }
        for h in ["httpGet", "tcpSocket"] {
            if p[h].is_object() {
                port_num_or_name(format!("{pp}.{h}.port"), &p[h]["port"], errs);
            }
        }
    }
    let mut paths = BTreeSet::new();
    for (i, m) in c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let mp = format!("{at}.volumeMounts[{i}]");
        let n = m["name"].as_str().unwrap_or("");
        if n.is_empty() {
            errs.push(FieldError::required(format!("{mp}.name"), ""));
        }
        if !volumes.contains(n) {
            errs.push(FieldError::not_found(format!("{mp}.name"), &m["name"]));
        }
        let path = m["mountPath"].as_str().unwrap_or("");
        if path.is_empty() {
            errs.push(FieldError::required(format!("{mp}.mountPath"), ""));
        } else if !paths.insert(path.to_string()) {
            errs.push(FieldError::invalid(
                format!("{mp}.mountPath"),
                &m["mountPath"],
                "must be unique",
            ));
        }
        // the server builds this path from the list, not the item
        if let Some(sp) = m["subPath"].as_str().filter(|s| !s.is_empty()) {
            let at_list = format!("{at}.volumeMounts.subPath");
            if sp.starts_with('/') {
                errs.push(FieldError::invalid(
                    at_list.clone(),
                    &m["subPath"],
                    "must be a relative path",
                ));
            }
            if sp.split('/').any(|p| p == "..") {
                errs.push(FieldError::invalid(
                    at_list,
                    &m["subPath"],
                    "must not contain '..'",
                ));
            }
        }
    }
}

/// The pod spec at `path` of a workload.
fn pod(path: &str, spec: &Value, errs: &mut Vec<FieldError>) {
    let volumes: BTreeSet<String> = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str().map(String::from))
        .collect();
    let mut names = BTreeSet::new();
    for list in ["containers", "initContainers"] {
        for (i, c) in spec[list].as_array().into_iter().flatten().enumerate() {
            container(
                &format!("{path}.{list}[{i}]"),
                c,
                &volumes,
                &mut names,
                errs,
            );
        }
    }
}

/// The pod templates of a workload with their paths. A StatefulSet's is not
/// validated by the server (kubernetes pkg/apis/apps/validation/validation.go
/// `ValidatePodTemplateSpecForStatefulSet`: "TODO: Add validation for
/// PodSpec, currently this will check volumes, which we know will fail",
/// the call commented out): its pods are, when the controller makes them,
/// and a bad one then never starts.
fn templates(res: &Resource, obj: &Value) -> Vec<(&'static str, Value)> {
    match res.kind {
        "Deployment" | "Job" | "DaemonSet" | "ReplicaSet" => {
            vec![(
                "spec.template.spec",
                obj["spec"]["template"]["spec"].clone(),
            )]
        }
        "CronJob" => vec![(
            "spec.jobTemplate.spec.template.spec",
            obj["spec"]["jobTemplate"]["spec"]["template"]["spec"].clone(),
        )],
        "Pod" => vec![("spec", obj["spec"].clone())],
        _ => vec![],
    }
}

/// The 422 the server answers for a workload whose pod template breaks
/// these rules, every error listed.
pub fn check(res: &Resource, obj: &Value) -> Result<(), ApiError> {
    let mut errs = Vec::new();
    for (path, spec) in templates(res, obj) {
        if spec.is_object() {
            pod(path, &spec, &mut errs);
        }
    }
    if errs.is_empty() {
        return Ok(());
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let kind = if res.group.is_empty() {
        res.kind.to_string()
    } else {
        format!("{}.{}", res.kind, res.group)
    };
    let shown: Vec<String> = errs
        .iter()
        .map(|e| format!("{}: {}", e.path, e.shown))
        .collect();
    let list = if shown.len() == 1 {
        shown[0].clone()
    } else {
        format!("[{}]", shown.join(", "))
    };
    Err(ApiError {
        code: 422,
        reason: "Invalid",
        message: format!("{kind} \"{name}\" is invalid: {list}"),
        details: json!({"name": name, "group": res.group, "kind": res.kind,
            "causes": errs.iter().map(|e| json!({"reason": e.kind, "message": e.shown, "field": e.path})).collect::<Vec<_>>()}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(containers: Value, volumes: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "wp"},
            "spec": {"template": {"spec": {"containers": containers, "volumes": volumes}}}})
    }

    fn err(obj: &Value) -> String {
        let r = crate::registry::find("apps", "v1", "deployments").unwrap();
        check(r, obj).err().map(|e| e.message).unwrap_or_default()
    }

    #[test]
    fn containers_are_validated_with_the_servers_messages() {
        let ok = deployment(
            json!([{"name": "wordpress", "image": "wordpress:7.1.0", "ports": [{"name": "http", "containerPort": 80}],
                "env": [{"name": "WORDPRESS_DB_HOST", "value": "tidb:4000"}, {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                "volumeMounts": [{"name": "data", "mountPath": "/d", "subPath": "x/y"}]}]),
            json!([{"name": "data", "emptyDir": {}}]),
        );
        assert_eq!(err(&ok), "");
        let bad = deployment(
            json!([{"name": "Word_Press", "ports": [{"name": "http-port-too-long", "containerPort": 70000}]},
                {"name": "web", "env": [{"name": "A=B", "value": "x"}, {"name": "C", "value": "v", "valueFrom": {"fieldRef": {}}}],
                 "readinessProbe": {"httpGet": {"port": 80}, "tcpSocket": {"port": 80}},
                 "livenessProbe": {"periodSeconds": 5},
                 "volumeMounts": [{"name": "gone", "mountPath": "/x", "subPath": "../up"}]},
                {"name": "web"}]),
            json!([]),
        );
        let e = err(&bad);
        for want in [
            "Deployment.apps \"wp\" is invalid: [",
            &format!("spec.template.spec.containers[0].name: Invalid value: \"Word_Press\": {LABEL_FMT}"),
            "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.template.spec.containers[0].ports[0].name: Invalid value: \"http-port-too-long\": must be no more than 15 characters",
            "spec.template.spec.containers[1].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
            "spec.template.spec.containers[1].env[1].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
            "spec.template.spec.containers[1].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
            "spec.template.spec.containers[1].livenessProbe: Required value: must specify a handler type",
            "spec.template.spec.containers[1].volumeMounts[0].name: Not found: \"gone\"",
            "spec.template.spec.containers[1].volumeMounts.subPath: Invalid value: \"../up\": must not contain '..'",
            "spec.template.spec.containers[2].name: Duplicate value: \"web\"",
        ] {
            assert!(e.contains(want), "missing {want}\nin {e}");
        }
        // a StatefulSet's pod template is not validated by the server
        let sts = crate::registry::find("apps", "v1", "statefulsets").unwrap();
        let set = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "pd"},
            "spec": {"template": {"spec": {"containers": [{"name": "PD", "volumeMounts": [{"name": "pd-data", "mountPath": "/var/lib/pd"}]}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "pd-data"}}]}});
        assert!(check(sts, &set).is_ok());
        assert_eq!(dns_label("a.b"), vec!["must not contain dots".to_string()]);
        assert_eq!(
            port_name("80"),
            vec!["must contain at least one letter (a-z)".to_string()]
        );
    }
}
