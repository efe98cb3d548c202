//! The object store: objects by key (group, plural, namespace, name), the
//! resource version, the log of events watches read and resume from, the
//! cluster IPs and node ports handed out, and saving and loading it all.
//! The API semantics are in its submodules (`write`: create, apply, update,
//! patch, delete; `managed`: managed fields; `patch`: merge patches;
//! `error`: Status errors), what a write is checked against and filled with
//! in `crate::admission` and `crate::defaults`, and the background
//! controllers [`Store::settle`] runs in `crate::namespaces`, `crate::gc`,
//! [`crate::volumes`] and [`crate::finalizers`].

mod error;
mod managed;
mod patch;
mod write;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{json, Value};

use crate::registry::{self, Resource};

pub(crate) use error::invalid;
pub use error::{ApiError, ApiResult};
pub use patch::{json_merge_patch, strategic_merge_patch};

#[derive(Clone, Debug)]
pub struct Event {
    pub rv: u64,
    pub kind: &'static str,
    pub group: &'static str,
    pub plural: &'static str,
    pub namespace: String,
    pub object: Value,
}

/// Where an object is kept: group, plural, namespace (empty when
/// cluster-scoped), name.
pub(crate) type Key = (&'static str, &'static str, String, String);

/// What a delete did.
pub enum Deleted {
    /// Removed now; the object as it was.
    Gone(Value),
    /// Kept with a deletionTimestamp (finalizers, foreground, namespaces).
    Pending(Value),
}

const EVENT_LOG: usize = 20_000;

#[derive(Default)]
pub struct Store {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    events: VecDeque<Event>,
    /// Next cluster IP / node port to hand out.
    next_ip: u32,
    next_node_port: u32,
    /// Events since the last drain, for broadcasting to watches.
    pub pending: Vec<Event>,
    /// How many events are kept for watches to resume from.
    pub event_log: usize,
    /// `A.B`: cluster IPs are `A.B.1.N` (addresses of this machine, for
    /// the local runtime); None: `10.96.x.y`.
    pub ip_prefix: Option<String>,
}

pub fn now() -> String {
    geowp_common::time::rfc3339(geowp_common::time::unix_now())
}

fn uid() -> String {
    let b: [u8; 16] = rand::random();
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-4{:01x}{:02x}-{:01x}{:01x}{:02x}-{}",
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6] & 0x0f,
        b[7],
        8 | (b[8] & 0x3),
        b[8] >> 4,
        b[9],
        b[10..16]
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    )
}

impl Store {
    pub fn new() -> Store {
        Store {
            next_ip: 10,
            next_node_port: 30000,
            event_log: EVENT_LOG,
            ..Default::default()
        }
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// The node ports every Service but `ns/name` holds.
    pub(crate) fn node_ports_except(&self, ns: &str, name: &str) -> BTreeSet<i64> {
        self.objects
            .iter()
            .filter(|((g, plural, n, o), _)| {
                g.is_empty() && *plural == "services" && !(n == ns && o == name)
            })
            .flat_map(|(_, v)| {
                v["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["nodePort"].as_i64())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// A cluster IP not handed out before.
    pub(crate) fn allocate_cluster_ip(&mut self) -> String {
        self.next_ip += 1;
        match &self.ip_prefix {
            Some(p) => format!("{p}.1.{}", self.next_ip % 250 + 2),
            None => format!("10.96.{}.{}", self.next_ip / 250, self.next_ip % 250 + 1),
        }
    }

    /// The next free node port of the range: after the last handed out,
    /// none of `taken`.
    pub(crate) fn allocate_node_port(&mut self, taken: &BTreeSet<i64>) -> u32 {
        loop {
            self.next_node_port += 1;
            if !taken.contains(&i64::from(self.next_node_port)) {
                break;
            }
        }
        self.next_node_port
    }

    fn key(res: &'static Resource, ns: &str, name: &str) -> Key {
        (
            res.group,
            res.plural,
            if res.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name.to_string(),
        )
    }

    fn emit(&mut self, kind: &'static str, res: &'static Resource, obj: &Value) {
        let ev = Event {
            rv: self.rv,
            kind,
            group: res.group,
            plural: res.plural,
            namespace: obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            object: obj.clone(),
        };
        self.events.push_back(ev.clone());
        if self.events.len() > self.event_log {
            self.events.pop_front();
        }
        self.pending.push(ev);
    }

    /// Events after `rv` for a resource, or None if `rv` is older than the log keeps.
    pub fn events_since(&self, rv: u64, res: &Resource, ns: Option<&str>) -> Option<Vec<Event>> {
        if let Some(first) = self.events.front() {
            if rv + 1 < first.rv && rv < self.rv {
                return None;
            }
        }
        Some(
            self.events
                .iter()
                .filter(|e| e.rv > rv && e.group == res.group && e.plural == res.plural)
                .filter(|e| ns.is_none_or(|n| e.namespace == n))
                .cloned()
                .collect(),
        )
    }

    pub fn get(&self, res: &'static Resource, ns: &str, name: &str) -> ApiResult<Value> {
        self.objects
            .get(&Self::key(res, ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, name))
    }

    pub fn list(&self, res: &'static Resource, ns: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((g, p, n, _), _)| {
                *g == res.group && *p == res.plural && ns.is_none_or(|x| x == n)
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn all(&self) -> impl Iterator<Item = (&'static str, &'static str, &Value)> {
        self.objects.iter().map(|((g, p, _, _), v)| (*g, *p, v))
    }

    /// Every object with its key, in key order (for the controllers).
    pub(crate) fn entries(&self) -> std::collections::btree_map::Iter<'_, Key, Value> {
        self.objects.iter()
    }

    /// Removes an object now, with its DELETED event, as a controller
    /// finishing a deletion does; the object, or None if it was not there.
    pub(crate) fn remove(&mut self, res: &'static Resource, ns: &str, name: &str) -> Option<Value> {
        let obj = self.objects.remove(&Self::key(res, ns, name))?;
        self.rv += 1;
        self.emit("DELETED", res, &obj);
        Some(obj)
    }

    /// Background work the real control plane does asynchronously: emptying
    /// terminating namespaces and finishing foreground deletions. Returns
    /// whether anything changed.
    pub fn settle(&mut self) -> bool {
        // the namespace controller: terminating namespaces
        let mut changed = crate::namespaces::settle(self);
        // foreground deletions whose dependents are gone
        changed |= crate::gc::settle(self);
        // claims from StatefulSet templates, volumes, what Retain keeps
        changed |= crate::volumes::settle(self);
        // the protection and load balancer finalizers
        changed |= crate::finalizers::settle(self);
        changed
    }

    pub fn save(&self) -> Value {
        json!({"resourceVersion": self.rv, "nextIp": self.next_ip, "nextNodePort": self.next_node_port,
            "objects": self.objects.iter().map(|((g, p, _, _), v)| json!({"group": g, "plural": p, "object": v})).collect::<Vec<_>>()})
    }

    pub fn load(v: &Value) -> Store {
        let mut s = Store::new();
        s.rv = v["resourceVersion"].as_u64().unwrap_or(0);
        s.next_ip = v["nextIp"].as_u64().unwrap_or(10) as u32;
        s.next_node_port = v["nextNodePort"].as_u64().unwrap_or(30000) as u32;
        for e in v["objects"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let (Some(g), Some(p)) = (e["group"].as_str(), e["plural"].as_str()) else {
                continue;
            };
            let Some(res) = registry::RESOURCES
                .iter()
                .find(|r| r.group == g && r.plural == p)
            else {
                continue;
            };
            let o = &e["object"];
            let ns = o["metadata"]["namespace"].as_str().unwrap_or("");
            let name = o["metadata"]["name"].as_str().unwrap_or("");
            s.objects.insert(Self::key(res, ns, name), o.clone());
        }
        s
    }
}
