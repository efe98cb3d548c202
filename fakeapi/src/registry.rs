//! The API groups and resources the fake server serves, and the discovery
//! documents built from them.

use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resource {
    /// "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short: &'static [&'static str],
    pub has_status: bool,
}

const fn r(
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    has_status: bool,
) -> Resource {
    Resource {
        group,
        version: "v1",
        plural,
        kind,
        namespaced,
        short,
        has_status,
    }
}

pub static RESOURCES: &[Resource] = &[
    r("", "namespaces", "Namespace", false, &["ns"], true),
    r("", "services", "Service", true, &["svc"], true),
    r("", "secrets", "Secret", true, &[], false),
    r("", "configmaps", "ConfigMap", true, &["cm"], false),
    r(
        "",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        false,
    ),
    r(
        "",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        true,
    ),
    r(
        "",
        "persistentvolumes",
        "PersistentVolume",
        false,
        &["pv"],
        true,
    ),
    r("", "pods", "Pod", true, &["po"], true),
    r("", "endpoints", "Endpoints", true, &["ep"], false),
    r("", "events", "Event", true, &["ev"], false),
    r("apps", "deployments", "Deployment", true, &["deploy"], true),
    r("apps", "statefulsets", "StatefulSet", true, &["sts"], true),
    r("apps", "daemonsets", "DaemonSet", true, &["ds"], true),
    r("apps", "replicasets", "ReplicaSet", true, &["rs"], true),
    r("batch", "jobs", "Job", true, &[], true),
    r("batch", "cronjobs", "CronJob", true, &["cj"], true),
    r(
        "rbac.authorization.k8s.io",
        "roles",
        "Role",
        true,
        &[],
        false,
    ),
    r(
        "rbac.authorization.k8s.io",
        "rolebindings",
        "RoleBinding",
        true,
        &[],
        false,
    ),
    r(
        "rbac.authorization.k8s.io",
        "clusterroles",
        "ClusterRole",
        false,
        &[],
        false,
    ),
    r(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
        false,
    ),
    r(
        "storage.k8s.io",
        "storageclasses",
        "StorageClass",
        false,
        &["sc"],
        false,
    ),
    r(
        "networking.k8s.io",
        "networkpolicies",
        "NetworkPolicy",
        true,
        &["netpol"],
        false,
    ),
    r(
        "policy",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        true,
    ),
];

pub const GROUPS: &[&str] = &[
    "apps",
    "batch",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "networking.k8s.io",
    "policy",
];

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.api_version() == api_version && r.kind == kind)
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn resource_list(group: &str, version: &str) -> Value {
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut list: Vec<Value> = Vec::new();
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        // the "all" category, as the real server lists it (kubectl get all)
        let categories: &[&str] = if matches!(
            r.kind,
            "Pod"
                | "Service"
                | "Deployment"
                | "StatefulSet"
                | "DaemonSet"
                | "ReplicaSet"
                | "Job"
                | "CronJob"
        ) {
            &["all"]
        } else {
            &[]
        };
        list.push(json!({"name": r.plural, "singularName": r.kind.to_lowercase(), "namespaced": r.namespaced,
            "kind": r.kind, "verbs": VERBS, "shortNames": r.short, "categories": categories}));
        if r.has_status {
            list.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced,
                "kind": r.kind, "verbs": ["get", "patch", "update"]}));
        }
        if matches!(r.plural, "deployments" | "statefulsets" | "replicasets") {
            list.push(json!({"name": format!("{}/scale", r.plural), "singularName": "", "namespaced": true,
                "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list})
}

/// The discovery document at `path`, if it is one.
pub fn discovery(path: &str) -> Option<Value> {
    let p = path.trim_end_matches('/');
    if p == "/api" {
        return Some(json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}));
    }
    if p == "/api/v1" {
        return Some(resource_list("", "v1"));
    }
    if p == "/apis" {
        let groups: Vec<Value> = GROUPS
            .iter()
            .map(|g| {
                let gv = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
                json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
            })
            .collect();
        return Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}));
    }
    let rest = p.strip_prefix("/apis/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [g] if GROUPS.contains(g) => {
            let gv = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
            Some(
                json!({"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": [gv.clone()], "preferredVersion": gv}),
            )
        }
        [g, "v1"] if GROUPS.contains(g) => Some(resource_list(g, "v1")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_lists_groups_and_resources() {
        let apis = discovery("/apis").unwrap();
        assert_eq!(apis["groups"].as_array().unwrap().len(), GROUPS.len());
        let apps = discovery("/apis/apps/v1").unwrap();
        assert!(apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "statefulsets/status"));
        assert!(discovery("/apis/nope/v1").is_none());
        assert_eq!(
            by_kind("apps/v1", "Deployment").unwrap().plural,
            "deployments"
        );
        assert_eq!(by_kind("v1", "Service").unwrap().group, "");
    }
}
