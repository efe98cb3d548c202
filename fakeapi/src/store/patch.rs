//! Patches as the real server applies them to the live object: RFC 7386
//! JSON merge patch, and strategic merge patch (lists with merge keys merge
//! item by item, `$`-directives apply). Pure functions on JSON.

use serde_json::{Map, Value};

use crate::fields;

/// Strategic merge patch (what `kubectl edit`, `set` and `patch` send):
/// like a JSON merge patch, except that lists with merge keys (containers by
/// name, ports, env, ...) merge item by item, and `$`-directives apply.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    smp(target, patch)
}

fn smp(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut v = patch.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("$patch");
        }
        *target = v;
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("object"); // ok: made an object just above
    for (k, v) in p {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(list), Some(del)) =
                (t.get_mut(field).and_then(Value::as_array_mut), v.as_array())
            {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue; // $setElementOrder, $retainKeys, $patch: ordering and hints only
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match (t.get_mut(k), v) {
            (Some(Value::Array(live)), Value::Array(items)) => match fields::list_kind(k, items) {
                fields::ListKind::Keyed(keys) => {
                    for it in items {
                        let Some(key) = fields::item_key(it, keys) else {
                            continue;
                        };
                        let pos = live
                            .iter()
                            .position(|l| fields::item_key(l, keys).as_deref() == Some(&key));
                        let delete = it.get("$patch").and_then(Value::as_str) == Some("delete");
                        match (pos, delete) {
                            (Some(i), true) => {
                                live.remove(i);
                            }
                            (Some(i), false) => smp(&mut live[i], it),
                            (None, false) => {
                                let mut n = Value::Null;
                                smp(&mut n, it);
                                live.push(n);
                            }
                            (None, true) => {}
                        }
                    }
                }
                fields::ListKind::Set => {
                    for it in items {
                        if !live.contains(it) {
                            live.push(it.clone());
                        }
                    }
                }
                fields::ListKind::Atomic => *live = items.clone(),
            },
            (Some(existing), Value::Object(_)) => smp(existing, v),
            _ => {
                let mut n = Value::Null;
                smp(&mut n, v);
                t.insert(k.clone(), n);
            }
        }
    }
}

/// RFC 7386 JSON merge patch.
pub fn json_merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("object"); // ok: made an object just above
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    json_merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}
