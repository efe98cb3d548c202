//! The namespace controller (kubernetes/kubernetes
//! pkg/controller/namespace): a terminating namespace (deleted: it keeps a
//! deletionTimestamp and phase `Terminating`, see the store's `delete`) has
//! its content deleted, reports what still blocks it
//! (`NamespaceFinalizersRemaining`), and goes once it is empty. Run by
//! [`Store::settle`].

use serde_json::json;

use crate::registry::{self, Resource};
use crate::store::Store;

/// One pass; true when anything changed.
pub(crate) fn settle(s: &mut Store) -> bool {
    let mut changed = false;
    let nsres = registry::find("", "v1", "namespaces").expect("namespaces"); // ok: namespaces is in the constant resource table
    let terminating: Vec<String> = s
        .list(nsres, None)
        .into_iter()
        .filter(|n| !n["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|n| n["metadata"]["name"].as_str().map(String::from))
        .collect();
    for ns in terminating {
        let contents: Vec<(&'static Resource, String, bool)> = s
            .entries()
            .filter(|((_, _, n, _), _)| *n == ns)
            .filter_map(|((g, p, _, name), o)| {
                let r = registry::RESOURCES
                    .iter()
                    .find(|r| r.group == *g && r.plural == *p)?;
                Some((
                    r,
                    name.clone(),
                    !o["metadata"]["deletionTimestamp"].is_null(),
                ))
            })
            .collect();
        if contents.is_empty() {
            if s.remove(nsres, "", &ns).is_some() {
                changed = true;
            }
            continue;
        }
        for (r, name, already) in &contents {
            if !already {
                let _ = s.delete(r, &ns, name, "Background", None);
                changed = true;
            }
        }
        // report what blocks termination, as the namespace controller does
        let blocking: Vec<String> = s
            .entries()
            .filter(|((_, _, n, _), _)| *n == ns)
            .map(|((_, p, _, name), o)| {
                format!("{p}/{name} (finalizers: {})", o["metadata"]["finalizers"])
            })
            .collect();
        if !blocking.is_empty() {
            if let Ok(n) = s.get(nsres, "", &ns) {
                let cond = json!([{"type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizersRemain",
                    "message": format!("Some content in the namespace has finalizers remaining: {}", blocking.join(", "))}]);
                if n["status"]["conditions"] != cond {
                    let mut status = n["status"].clone();
                    status["conditions"] = cond;
                    let _ = s.set_status(nsres, "", &ns, status);
                    changed = true;
                }
            }
        }
    }
    changed
}
