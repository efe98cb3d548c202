//! Field sets as server-side apply sees them: the leaf paths of an object,
//! with associative lists (containers by name, ports by port and protocol,
//! ...) addressed by key, and their `managedFields` form (`fieldsV1`).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// One step of a field path, as written in `fieldsV1`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pe {
    /// `f:name`: a field of a map.
    F(String),
    /// `k:{"name":"web"}`: an item of an associative list, by its key (canonical JSON).
    K(String),
    /// `v:"x"`: an item of a set-like list of scalars (e.g. finalizers).
    V(String),
}

pub type Path = Vec<Pe>;
pub type FieldSet = BTreeSet<Path>;

impl Pe {
    pub fn encode(&self) -> String {
        match self {
            Pe::F(s) => format!("f:{s}"),
            Pe::K(s) => format!("k:{s}"),
            Pe::V(s) => format!("v:{s}"),
        }
    }
    pub fn decode(s: &str) -> Option<Pe> {
        let (tag, rest) = s.split_once(':')?;
        Some(match tag {
            "f" => Pe::F(rest.to_string()),
            "k" => Pe::K(rest.to_string()),
            "v" => Pe::V(rest.to_string()),
            _ => return None,
        })
    }
}

/// How items of the list held by field `name` are identified.
pub enum ListKind {
    Atomic,
    Keyed(&'static [&'static str]),
    Set,
}

pub fn list_kind(field: &str, items: &[Value]) -> ListKind {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => ListKind::Keyed(&["name"]),
        "volumeMounts" | "volumeDevices" => ListKind::Keyed(&["mountPath"]),
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                ListKind::Keyed(&["containerPort", "protocol"])
            } else {
                ListKind::Keyed(&["port", "protocol"])
            }
        }
        "conditions" => ListKind::Keyed(&["type"]),
        "ownerReferences" => ListKind::Keyed(&["uid"]),
        "finalizers" => ListKind::Set,
        _ => ListKind::Atomic,
    }
}

/// The key of a list item: the key fields present, `protocol` defaulting to TCP.
pub fn item_key(item: &Value, keys: &[&str]) -> Option<String> {
    let o = item.as_object()?;
    let mut m = Map::new();
    for k in keys {
        match o.get(*k) {
            Some(v) => {
                m.insert(k.to_string(), v.clone());
            }
            None if *k == "protocol" => {
                m.insert("protocol".into(), Value::String("TCP".into()));
            }
            None => return None,
        }
    }
    Some(Value::Object(m).to_string())
}

/// Every owned path of `v` (leaves, plus presence of associative items).
pub fn fields_of(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    walk(v, &mut Vec::new(), "", &mut out);
    out
}

fn walk(v: &Value, prefix: &mut Path, field: &str, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                prefix.push(Pe::F(k.clone()));
                walk(child, prefix, k, out);
                prefix.pop();
            }
        }
        Value::Array(items) => match list_kind(field, items) {
            ListKind::Keyed(keys) if items.iter().all(|i| item_key(i, keys).is_some()) => {
                for it in items {
                    let Some(k) = item_key(it, keys) else {
                        continue;
                    };
                    prefix.push(Pe::K(k));
                    out.insert(prefix.clone());
                    walk(it, prefix, "", out);
                    prefix.pop();
                }
                if items.is_empty() {
                    out.insert(prefix.clone());
                }
            }
            ListKind::Set if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
                for it in items {
                    prefix.push(Pe::V(it.to_string()));
                    out.insert(prefix.clone());
                    prefix.pop();
                }
                if items.is_empty() {
                    out.insert(prefix.clone());
                }
            }
            _ => {
                out.insert(prefix.clone());
            }
        },
        _ => {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
        }
    }
}

fn find_item(items: &[Value], key: &str) -> Option<usize> {
    let want: Map<String, Value> = serde_json::from_str(key).ok()?;
    let keys: Vec<&str> = want.keys().map(String::as_str).collect();
    items
        .iter()
        .position(|i| item_key(i, &keys).as_deref() == Some(key))
}

/// True for the path of an associative-list item itself (as opposed to a
/// leaf): such a path is owned by presence, not by value.
pub fn is_item(path: &[Pe]) -> bool {
    matches!(path.last(), Some(Pe::K(_)))
}

/// Whether the thing at `path` differs between two objects: items by
/// presence, leaves by value.
pub fn differs(a: &Value, b: &Value, path: &[Pe]) -> bool {
    if is_item(path) {
        get(a, path).is_some() != get(b, path).is_some()
    } else {
        get(a, path) != get(b, path)
    }
}

/// The value at `path`, if present.
pub fn get<'a>(v: &'a Value, path: &[Pe]) -> Option<&'a Value> {
    let mut cur = v;
    for pe in path {
        cur = match (pe, cur) {
            (Pe::F(k), Value::Object(m)) => m.get(k)?,
            (Pe::K(k), Value::Array(items)) => &items[find_item(items, k)?],
            (Pe::V(s), Value::Array(items)) => items.iter().find(|i| &i.to_string() == s)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Removes what `path` addresses; then drops maps left empty on the way.
pub fn remove(v: &mut Value, path: &[Pe]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    if let Some(parent) = get_mut(v, parent_path) {
        match (last, parent) {
            (Pe::F(k), Value::Object(m)) => {
                m.remove(k);
            }
            (Pe::K(k), Value::Array(items)) => {
                if let Some(i) = find_item(items, k) {
                    items.remove(i);
                }
            }
            (Pe::V(s), Value::Array(items)) => items.retain(|i| &i.to_string() != s),
            _ => {}
        }
    }
    // prune empty parent maps (not the root)
    for n in (1..path.len()).rev() {
        let p = &path[..n];
        if matches!(p.last(), Some(Pe::F(_)))
            && matches!(get(v, p), Some(Value::Object(m)) if m.is_empty())
        {
            let (last, pp) = p.split_last().expect("non-empty"); // ok: the loop only visits non-empty prefixes
            if let (Pe::F(k), Some(Value::Object(m))) = (last, get_mut(v, pp)) {
                m.remove(k);
            }
        } else {
            break;
        }
    }
}

fn get_mut<'a>(v: &'a mut Value, path: &[Pe]) -> Option<&'a mut Value> {
    let mut cur = v;
    for pe in path {
        cur = match (pe, cur) {
            (Pe::F(k), Value::Object(m)) => m.get_mut(k)?,
            (Pe::K(k), Value::Array(items)) => {
                let i = find_item(items, k)?;
                &mut items[i]
            }
            _ => return None,
        };
    }
    Some(cur)
}

/// Merges an applied configuration into a live object: maps recursively,
/// associative lists by key, everything else replaced.
pub fn merge(live: &mut Value, applied: &Value, field: &str) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            for (k, av) in a {
                match l.get_mut(k) {
                    Some(lv) => merge(lv, av, k),
                    None => {
                        l.insert(k.clone(), av.clone());
                    }
                }
            }
        }
        (Value::Array(l), Value::Array(a)) => match list_kind(field, a) {
            ListKind::Keyed(keys)
                if a.iter()
                    .chain(l.iter())
                    .all(|i| item_key(i, keys).is_some()) =>
            {
                for ai in a {
                    let k = item_key(ai, keys).unwrap_or_default();
                    match l
                        .iter()
                        .position(|li| item_key(li, keys).as_deref() == Some(&k))
                    {
                        Some(i) => merge(&mut l[i], ai, ""),
                        None => l.push(ai.clone()),
                    }
                }
            }
            ListKind::Set => {
                for ai in a {
                    if !l.contains(ai) {
                        l.push(ai.clone());
                    }
                }
            }
            _ => *l = a.clone(),
        },
        (l, a) => *l = a.clone(),
    }
}

/// The `fieldsV1` tree of a field set.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for pe in path {
            let e = node
                .entry(pe.encode())
                .or_insert_with(|| Value::Object(Map::new()));
            node = match e {
                Value::Object(m) => m,
                _ => unreachable!("fieldsV1 nodes are objects"),
            };
        }
        // a node owned itself and with children carries "."
        node.entry(".".to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    // "." only where the node also has children
    fn tidy(m: &mut Map<String, Value>) {
        let has_children = m.keys().any(|k| k != ".");
        if !has_children {
            m.remove(".");
        }
        for (k, v) in m.iter_mut() {
            if k != "." {
                if let Value::Object(c) = v {
                    tidy(c);
                }
            }
        }
    }
    for v in root.values_mut() {
        if let Value::Object(c) = v {
            tidy(c);
        }
    }
    Value::Object(root)
}

/// The field set of a `fieldsV1` tree (inverse of [`to_fields_v1`]).
pub fn from_fields_v1(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    fn rec(m: &Map<String, Value>, prefix: &mut Path, out: &mut FieldSet) {
        for (k, child) in m {
            if k == "." {
                continue;
            }
            let Some(pe) = Pe::decode(k) else { continue };
            prefix.push(pe);
            match child.as_object() {
                Some(c) if c.keys().any(|k| k != ".") => {
                    if c.contains_key(".") {
                        out.insert(prefix.clone());
                    }
                    rec(c, prefix, out);
                }
                _ => {
                    out.insert(prefix.clone());
                }
            }
            prefix.pop();
        }
    }
    if let Some(m) = v.as_object() {
        rec(m, &mut Vec::new(), &mut out);
    }
    out
}

/// A human path like `.spec.template.spec.containers[name="web"].image`.
pub fn display(path: &[Pe]) -> String {
    let mut s = String::new();
    for pe in path {
        match pe {
            Pe::F(f) => {
                s.push('.');
                s.push_str(f);
            }
            Pe::K(k) => {
                let m: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                s.push_str(&format!("[{}]", inner.join(",")));
            }
            Pe::V(v) => s.push_str(&format!("[{v}]")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dep(image: &str) -> Value {
        json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "web", "image": image, "ports": [{"containerPort": 80}]},
            {"name": "side", "image": "busybox"}
        ]}}}})
    }

    #[test]
    fn containers_are_keyed_by_name_and_ports_by_port_and_protocol() {
        let f = fields_of(&dep("nginx"));
        let image = vec![
            Pe::F("spec".into()),
            Pe::F("template".into()),
            Pe::F("spec".into()),
            Pe::F("containers".into()),
            Pe::K(r#"{"name":"web"}"#.into()),
            Pe::F("image".into()),
        ];
        assert!(f.contains(&image));
        assert!(f
            .iter()
            .any(|p| p.contains(&Pe::K(r#"{"containerPort":80,"protocol":"TCP"}"#.into()))));
        assert_eq!(get(&dep("nginx"), &image), Some(&json!("nginx")));
        assert_eq!(
            display(&image),
            ".spec.template.spec.containers[name=\"web\"].image"
        );
    }

    #[test]
    fn fields_v1_round_trips() {
        let f = fields_of(&dep("nginx"));
        let tree = to_fields_v1(&f);
        assert!(
            tree["f:spec"]["f:template"]["f:spec"]["f:containers"][r#"k:{"name":"web"}"#]
                .get(".")
                .is_some()
        );
        assert_eq!(from_fields_v1(&tree), f);
    }

    #[test]
    fn merge_keeps_other_items_and_remove_prunes() {
        let mut live = dep("nginx");
        merge(
            &mut live,
            &json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}}}),
            "",
        );
        assert_eq!(
            live["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            live["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2"
        );
        let mut o = json!({"metadata": {"labels": {"a": "1"}}, "spec": {}});
        remove(
            &mut o,
            &[
                Pe::F("metadata".into()),
                Pe::F("labels".into()),
                Pe::F("a".into()),
            ],
        );
        assert_eq!(o, json!({"spec": {}}));
    }
}
