//! The garbage collector (kubernetes/kubernetes pkg/controller/garbagecollector):
//! the dependents of an owner (objects naming its uid in their
//! ownerReferences) are deleted when it goes (Background, Foreground) or
//! released (Orphan), and an owner deleted in the foreground (finalizer
//! `foregroundDeletion`) goes once its dependents are gone. The store runs
//! it as soon as an owner is removed, and [`Store::settle`] for foreground
//! deletions.

use serde_json::Value;

use crate::registry::{self, Resource};
use crate::store::{Key, Store};

/// Whether any object names `owner` (by uid) among its owners.
pub(crate) fn has_dependents(s: &Store, owner: &Value) -> bool {
    let uid = owner["metadata"]["uid"].as_str().unwrap_or("-");
    s.all().any(|(_, _, o)| {
        o["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["uid"] == uid))
    })
}

/// The garbage collector: dependents of a removed owner are deleted
/// (Background, Foreground) or released (Orphan).
pub(crate) fn collect_dependents(s: &mut Store, owner: &Value, policy: &str) {
    let uid = owner["metadata"]["uid"].as_str().unwrap_or("-").to_string();
    let deps: Vec<(Key, Value)> = s
        .entries()
        .filter(|(_, o)| {
            o["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x["uid"] == uid.as_str()))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for ((g, p, ns, name), mut o) in deps {
        let Some(res) = registry::RESOURCES
            .iter()
            .find(|r| r.group == g && r.plural == p)
        else {
            continue;
        };
        if policy == "Orphan" {
            if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                refs.retain(|x| x["uid"] != uid.as_str());
            }
            let live = s.get(res, &ns, &name).unwrap_or(Value::Null);
            let _ = s.commit_update(res, &ns, &name, live, o);
        } else {
            let _ = s.delete(res, &ns, &name, "Background", None);
        }
    }
}

/// One pass over foreground deletions; true when anything changed.
pub(crate) fn settle(s: &mut Store) -> bool {
    let mut changed = false;
    // foreground deletions whose dependents are gone
    let fg: Vec<(&'static Resource, String, String, Value)> = s
        .entries()
        .filter(|(_, o)| {
            o["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "foregroundDeletion"))
        })
        .filter_map(|((g, p, ns, name), o)| {
            let r = registry::RESOURCES
                .iter()
                .find(|r| r.group == *g && r.plural == *p)?;
            Some((r, ns.clone(), name.clone(), o.clone()))
        })
        .collect();
    for (r, ns, name, o) in fg {
        if has_dependents(s, &o) {
            collect_dependents(s, &o, "Background");
            changed = true;
        } else {
            let mut n = o.clone();
            if let Some(f) = n["metadata"]["finalizers"].as_array_mut() {
                f.retain(|x| x != "foregroundDeletion");
            }
            let _ = s.commit_update(r, &ns, &name, o, n);
            changed = true;
        }
    }
    changed
}
