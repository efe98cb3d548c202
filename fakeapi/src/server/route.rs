//! Routing: which resource, namespace, name and subresource (`status`,
//! `scale`, a pod's `log`) a request path names, in the core group
//! (`/api/v1/...`) or a named one (`/apis/<group>/v1/...`).

use crate::registry::{self, Resource};

#[derive(Debug)]
pub(super) struct Route {
    pub(super) res: &'static Resource,
    pub(super) ns: Option<String>,
    pub(super) name: Option<String>,
    pub(super) status: bool,
    /// The `scale` subresource (what `kubectl scale` uses).
    pub(super) scale: bool,
    /// A pod's `log` subresource.
    pub(super) log: bool,
}

pub(super) fn route(path: &str) -> Option<Route> {
    let (group, rest) = if let Some(r) = path.strip_prefix("/api/v1/") {
        ("", r)
    } else {
        let r = path.strip_prefix("/apis/")?;
        let mut it = r.splitn(3, '/');
        let g = it.next()?;
        if it.next()? != "v1" {
            return None;
        }
        let g: &'static str = registry::GROUPS.iter().find(|x| **x == g)?;
        (g, it.next()?)
    };
    let seg: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let find = |p: &str| registry::find(group, "v1", p);
    let r = |res, ns: Option<&str>, name: Option<&str>, status| {
        Some(Route {
            res,
            ns: ns.map(String::from),
            name: name.map(String::from),
            status,
            scale: false,
            log: false,
        })
    };
    let scalable = |p: &str| matches!(p, "deployments" | "statefulsets" | "replicasets");
    match seg.as_slice() {
        ["namespaces", ns, plural, name, "scale"] if scalable(plural) => Some(Route {
            res: find(plural)?,
            ns: Some(ns.to_string()),
            name: Some(name.to_string()),
            status: false,
            scale: true,
            log: false,
        }),
        ["namespaces", ns, "pods", name, "log"] if group.is_empty() => Some(Route {
            res: find("pods")?,
            ns: Some(ns.to_string()),
            name: Some(name.to_string()),
            status: false,
            scale: false,
            log: true,
        }),
        ["namespaces", ns, plural] if group.is_empty() && *plural == "status" => {
            r(find("namespaces")?, None, Some(ns), true)
        }
        ["namespaces", ns, plural] if find(plural).is_some_and(|x| x.namespaced) => {
            r(find(plural)?, Some(ns), None, false)
        }
        ["namespaces", ns, plural, name] if find(plural).is_some_and(|x| x.namespaced) => {
            r(find(plural)?, Some(ns), Some(name), false)
        }
        ["namespaces", ns, plural, name, "status"]
            if find(plural).is_some_and(|x| x.namespaced) =>
        {
            r(find(plural)?, Some(ns), Some(name), true)
        }
        [plural] => r(find(plural)?, None, None, false),
        [plural, name] if find(plural).is_some_and(|x| !x.namespaced) => {
            r(find(plural)?, None, Some(name), false)
        }
        [plural, name, "status"] if find(plural).is_some_and(|x| !x.namespaced) => {
            r(find(plural)?, None, Some(name), true)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_cover_core_group_namespaced_cluster_scoped_and_status() {
        let r = route("/api/v1/namespaces/web/services/wp").unwrap();
        assert_eq!(
            (r.res.plural, r.ns.as_deref(), r.name.as_deref(), r.status),
            ("services", Some("web"), Some("wp"), false)
        );
        let r = route("/apis/apps/v1/namespaces/web/deployments/wp/status").unwrap();
        assert!(r.status && r.res.kind == "Deployment");
        let r = route("/api/v1/namespaces/web").unwrap();
        assert_eq!(
            (r.res.plural, r.name.as_deref()),
            ("namespaces", Some("web"))
        );
        let r = route("/apis/storage.k8s.io/v1/storageclasses/nfs").unwrap();
        assert_eq!(r.name.as_deref(), Some("nfs"));
        let r = route("/apis/apps/v1/deployments").unwrap();
        assert!(r.ns.is_none() && r.name.is_none());
        assert!(route("/apis/apps/v2/deployments").is_none());
        assert!(route("/api/v1/nonsense").is_none());
    }
}
