//! The object store and the API semantics the provider relies on: create,
//! server-side apply with managed fields and conflicts, update, merge patch,
//! server defaults, immutable fields, deletion with finalizers and
//! propagation, namespace termination, and the event log watches read.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{json, Map, Value};

use crate::fields::{self, FieldSet};
use crate::registry::{self, Resource};
use crate::rules;

/// An API error, rendered as a `Status` body.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: Value::Null,
        }
    }
    pub fn not_found(res: &Resource, name: &str) -> Self {
        let what = if res.group.is_empty() {
            res.plural.to_string()
        } else {
            format!("{}.{}", res.plural, res.group)
        };
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{what} \"{name}\" not found"),
            details: json!({"name": name, "group": res.group, "kind": res.plural}),
        }
    }
    pub fn status(&self) -> Value {
        let mut s = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code});
        if !self.details.is_null() {
            s["details"] = self.details.clone();
        }
        s
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Clone, Debug)]
pub struct Event {
    pub rv: u64,
    pub kind: &'static str,
    pub group: &'static str,
    pub plural: &'static str,
    pub namespace: String,
    pub object: Value,
}

type Key = (&'static str, &'static str, String, String);

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

struct Manager {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    set: FieldSet,
}

fn managers_of(obj: &Value) -> Vec<Manager> {
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

fn set_managers(obj: &mut Value, ms: &[Manager]) {
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
fn ownable(cfg: &Value, res: &Resource) -> Value {
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

fn spec_part(obj: &Value) -> Value {
    let mut c = obj.clone();
    if let Some(o) = c.as_object_mut() {
        o.remove("metadata");
        o.remove("status");
    }
    c
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
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
    fn node_ports_except(&self, ns: &str, name: &str) -> std::collections::BTreeSet<i64> {
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

    fn check_namespace(&self, res: &Resource, ns: &str, name: &str) -> ApiResult<()> {
        if !res.namespaced {
            return Ok(());
        }
        let nsres = registry::find("", "v1", "namespaces").expect("namespaces registered"); // ok: namespaces is in the constant resource table
        match self.objects.get(&Self::key(nsres, "", ns)) {
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

    fn check_identity(res: &Resource, obj: &Value, ns: &str, name: Option<&str>) -> ApiResult<()> {
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
                    format!(
                        "the name of the object ({body}) does not match the name on the URL ({n})"
                    ),
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

    /// POST: create, 409 if it exists.
    pub fn create(
        &mut self,
        res: &'static Resource,
        ns: &str,
        mut obj: Value,
        manager: &str,
    ) -> ApiResult<Value> {
        Self::check_identity(res, &obj, ns, None)?;
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        if name.is_empty() {
            return Err(invalid(
                res,
                "",
                "metadata.name",
                "name or generateName is required",
            ));
        }
        if self.objects.contains_key(&Self::key(res, ns, &name)) {
            return Err(ApiError {
                code: 409,
                reason: "AlreadyExists",
                message: format!("{} \"{name}\" already exists", res.plural),
                details: json!({"name": name, "group": res.group, "kind": res.plural}),
            });
        }
        self.check_namespace(res, ns, &name)?;
        let set = fields::fields_of(&ownable(&obj, res));
        self.insert_new(
            res,
            ns,
            &name,
            &mut obj,
            vec![Manager {
                manager: manager.into(),
                operation: "Update".into(),
                api_version: res.api_version(),
                time: now(),
                set,
            }],
        )?;
        Ok(obj)
    }

    fn insert_new(
        &mut self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        obj: &mut Value,
        ms: Vec<Manager>,
    ) -> ApiResult<()> {
        if res.has_status {
            if let Some(o) = obj.as_object_mut() {
                o.remove("status");
            }
        }
        self.rv += 1;
        let md = obj["metadata"]
            .as_object_mut()
            .ok_or_else(|| ApiError::new(400, "BadRequest", "metadata must be an object"))?;
        md.insert("uid".into(), Value::String(uid()));
        md.insert("resourceVersion".into(), Value::String(self.rv.to_string()));
        md.insert("creationTimestamp".into(), Value::String(now()));
        if res.namespaced {
            md.insert("namespace".into(), Value::String(ns.into()));
        }
        if obj.get("spec").is_some() {
            obj["metadata"]["generation"] = json!(1);
        }
        set_managers(obj, &ms);
        if res.kind == "Service" {
            // allocation comes before validation on the real server
            rules::check_node_ports(res, obj, &self.node_ports_except(ns, name))?;
        }
        self.defaults(res, obj, None);
        validate(res, obj)?;
        // the admission plugins that mutate
        crate::finalizers::admit(res.kind, obj);
        self.objects.insert(Self::key(res, ns, name), obj.clone());
        self.emit("ADDED", res, obj);
        Ok(())
    }

    /// PATCH application/apply-patch+yaml. Returns the object and whether it was created.
    pub fn apply(
        &mut self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        cfg: Value,
        manager: &str,
        force: bool,
    ) -> ApiResult<(Value, bool)> {
        Self::check_identity(res, &cfg, ns, Some(name))?;
        if manager.is_empty() {
            return Err(ApiError::new(400, "BadRequest", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"));
        }
        let applied = ownable(&cfg, res);
        let set = fields::fields_of(&applied);
        let key = Self::key(res, ns, name);
        let Some(live) = self.objects.get(&key).cloned() else {
            self.check_namespace(res, ns, name)?;
            let mut obj = cfg.clone();
            obj["metadata"]["name"] = json!(name);
            let ms = vec![Manager {
                manager: manager.into(),
                operation: "Apply".into(),
                api_version: res.api_version(),
                time: now(),
                set,
            }];
            self.insert_new(res, ns, name, &mut obj, ms)?;
            return Ok((obj, true));
        };
        let mut ms = managers_of(&live);
        // conflicts: another manager owns a field we set, with another value
        let mut conflicts: Vec<(String, String)> = Vec::new();
        for p in &set {
            for m in ms
                .iter()
                .filter(|m| !(m.manager == manager && m.operation == "Apply"))
            {
                if m.set.contains(p) && fields::differs(&live, &applied, p) {
                    conflicts.push((m.manager.clone(), fields::display(p)));
                }
            }
        }
        if !conflicts.is_empty() && !force {
            return Err(conflict_error(res, name, &conflicts));
        }
        if force {
            for m in ms
                .iter_mut()
                .filter(|m| !(m.manager == manager && m.operation == "Apply"))
            {
                m.set
                    .retain(|p| !set.contains(p) || !fields::differs(&live, &applied, p));
            }
        }
        let before = ms
            .iter()
            .find(|m| m.manager == manager && m.operation == "Apply")
            .map(|m| m.set.clone())
            .unwrap_or_default();
        let mut obj = live.clone();
        fields::merge(&mut obj, &applied, "");
        for p in before.difference(&set) {
            let others_own = ms
                .iter()
                .filter(|m| !(m.manager == manager && m.operation == "Apply"))
                .any(|m| m.set.iter().any(|q| q.starts_with(p)));
            if !others_own {
                fields::remove(&mut obj, p);
            }
        }
        match ms
            .iter_mut()
            .find(|m| m.manager == manager && m.operation == "Apply")
        {
            Some(m) => {
                if m.set != set {
                    m.set = set;
                    m.time = now();
                }
            }
            None => ms.push(Manager {
                manager: manager.into(),
                operation: "Apply".into(),
                api_version: res.api_version(),
                time: now(),
                set,
            }),
        }
        set_managers(&mut obj, &ms);
        self.commit_update(res, ns, name, live, obj)
            .map(|v| (v, false))
    }

    /// PUT (operation Update): the manager takes the fields it changed.
    pub fn replace(
        &mut self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        mut new: Value,
        manager: &str,
        status_only: bool,
    ) -> ApiResult<Value> {
        Self::check_identity(res, &new, ns, Some(name))?;
        let live = self.get(res, ns, name)?;
        if let Some(want) = new["metadata"]["resourceVersion"].as_str() {
            if want != live["metadata"]["resourceVersion"].as_str().unwrap_or("") {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    format!("Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", res.plural),
                ));
            }
        }
        // identity and server fields always come from the live object
        for k in [
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "generation",
            "deletionTimestamp",
            "resourceVersion",
        ] {
            new["metadata"][k] = live["metadata"][k].clone();
        }
        if status_only {
            let mut o = live.clone();
            o["status"] = new["status"].clone();
            new = o;
        } else if res.has_status {
            new["status"] = live["status"].clone();
        }
        new["metadata"]["managedFields"] = live["metadata"]["managedFields"].clone();
        let mut ms = managers_of(&live);
        let old_f = fields::fields_of(&ownable(&live, res));
        let new_own = ownable(&new, res);
        let new_f = fields::fields_of(&new_own);
        let live_own = ownable(&live, res);
        let changed: FieldSet = new_f
            .iter()
            .filter(|p| fields::differs(&new_own, &live_own, p))
            .cloned()
            .collect();
        let removed: FieldSet = old_f.difference(&new_f).cloned().collect();
        if !status_only {
            for m in ms
                .iter_mut()
                .filter(|m| m.manager != manager || m.operation != "Update")
            {
                m.set
                    .retain(|p| !changed.contains(p) && !removed.iter().any(|r| p.starts_with(r)));
            }
            if !changed.is_empty() {
                match ms
                    .iter_mut()
                    .find(|m| m.manager == manager && m.operation == "Update")
                {
                    Some(m) => {
                        m.set.extend(changed.iter().cloned());
                        m.time = now();
                    }
                    None => ms.push(Manager {
                        manager: manager.into(),
                        operation: "Update".into(),
                        api_version: res.api_version(),
                        time: now(),
                        set: changed,
                    }),
                }
            }
        }
        set_managers(&mut new, &ms);
        self.commit_update(res, ns, name, live, new)
    }

    /// PATCH merge-patch+json or strategic-merge-patch+json.
    #[allow(clippy::too_many_arguments)] // one per part of a PATCH request
    pub fn merge_patch(
        &mut self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        patch: &Value,
        manager: &str,
        status_only: bool,
        strategic: bool,
    ) -> ApiResult<Value> {
        let live = self.get(res, ns, name)?;
        let mut new = live.clone();
        if strategic {
            strategic_merge_patch(&mut new, patch);
        } else {
            json_merge_patch(&mut new, patch);
        }
        new["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"].clone();
        self.replace(res, ns, name, new, manager, status_only)
    }

    /// Writes the finalizers as a controller does (no ownership change); an
    /// object being deleted goes when the last is removed.
    pub fn set_finalizers(
        &mut self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        finalizers: Vec<Value>,
    ) -> ApiResult<Value> {
        let live = self.get(res, ns, name)?;
        let mut new = live.clone();
        if finalizers.is_empty() {
            if let Some(md) = new["metadata"].as_object_mut() {
                md.remove("finalizers");
            }
        } else {
            new["metadata"]["finalizers"] = Value::Array(finalizers);
        }
        self.commit_update(res, ns, name, live, new)
    }

    /// Writes status as a controller does (no ownership change).
    pub fn set_status(
        &mut self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        status: Value,
    ) -> ApiResult<Value> {
        let live = self.get(res, ns, name)?;
        let mut new = live.clone();
        new["status"] = status;
        self.commit_update(res, ns, name, live, new)
    }

    fn commit_update(
        &mut self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        live: Value,
        mut obj: Value,
    ) -> ApiResult<Value> {
        if res.kind == "Service" {
            rules::check_node_ports(res, &obj, &self.node_ports_except(ns, name))?;
        }
        self.defaults(res, &mut obj, Some(&live));
        immutable(res, &live, &obj, name)?;
        validate(res, &obj)?;
        if res.kind == "PersistentVolumeClaim" {
            // validation first, then the validating admission plugins
            rules::check_claim_shrink(res, &live, &obj)?;
            let class = obj["spec"]["storageClassName"]
                .as_str()
                .and_then(|c| self.objects.get(&Self::key(storage_class(), "", c)));
            rules::check_claim_growth(&live, &obj, class)?;
        }
        if obj == live {
            return Ok(live);
        }
        if spec_part(&obj) != spec_part(&live) && obj.get("spec").is_some() {
            let g = live["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            obj["metadata"]["generation"] = json!(g);
        }
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        // namespaces are finished by the namespace controller (settle), not here
        let finalized = res.kind != "Namespace"
            && !obj["metadata"]["deletionTimestamp"].is_null()
            && obj["metadata"]["finalizers"]
                .as_array()
                .is_none_or(|f| f.is_empty());
        if finalized {
            self.objects.remove(&Self::key(res, ns, name));
            self.emit("DELETED", res, &obj);
            self.collect_dependents(&obj, "Background");
        } else {
            self.objects.insert(Self::key(res, ns, name), obj.clone());
            self.emit("MODIFIED", res, &obj);
        }
        Ok(obj)
    }

    /// DELETE with a propagation policy (Background when not given) and,
    /// as the real server, an optional uid precondition: a 409 when the live
    /// object has another uid.
    pub fn delete(
        &mut self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        policy: &str,
        uid: Option<&str>,
    ) -> ApiResult<Deleted> {
        let live = self.get(res, ns, name)?;
        if let Some(want) = uid {
            let have = live["metadata"]["uid"].as_str().unwrap_or("");
            if have != want {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    format!("Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {want}, UID in object meta: {have}", res.plural),
                ));
            }
        }
        if !live["metadata"]["deletionTimestamp"].is_null() {
            return Ok(Deleted::Pending(live));
        }
        let mut obj = live.clone();
        if res.kind == "Namespace" {
            obj["metadata"]["deletionTimestamp"] = json!(now());
            obj["status"]["phase"] = json!("Terminating");
            self.rv += 1;
            obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
            self.objects.insert(Self::key(res, ns, name), obj.clone());
            self.emit("MODIFIED", res, &obj);
            return Ok(Deleted::Pending(obj));
        }
        let mut finalizers: Vec<Value> = obj["metadata"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if policy == "Foreground" && self.has_dependents(&obj) {
            finalizers.push(json!("foregroundDeletion"));
        }
        if !finalizers.is_empty() {
            obj["metadata"]["finalizers"] = Value::Array(finalizers);
            obj["metadata"]["deletionTimestamp"] = json!(now());
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            self.rv += 1;
            obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
            self.objects.insert(Self::key(res, ns, name), obj.clone());
            self.emit("MODIFIED", res, &obj);
            return Ok(Deleted::Pending(obj));
        }
        self.objects.remove(&Self::key(res, ns, name));
        self.rv += 1;
        self.emit("DELETED", res, &obj);
        self.collect_dependents(&obj, policy);
        Ok(Deleted::Gone(obj))
    }

    fn has_dependents(&self, owner: &Value) -> bool {
        let uid = owner["metadata"]["uid"].as_str().unwrap_or("-");
        self.objects.values().any(|o| {
            o["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x["uid"] == uid))
        })
    }

    /// The garbage collector: dependents of a removed owner are deleted
    /// (Background, Foreground) or released (Orphan).
    fn collect_dependents(&mut self, owner: &Value, policy: &str) {
        let uid = owner["metadata"]["uid"].as_str().unwrap_or("-").to_string();
        let deps: Vec<(Key, Value)> = self
            .objects
            .iter()
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
                let live = self
                    .objects
                    .get(&(g, p, ns.clone(), name.clone()))
                    .cloned()
                    .unwrap_or(Value::Null);
                let _ = self.commit_update(res, &ns, &name, live, o);
            } else {
                let _ = self.delete(res, &ns, &name, "Background", None);
            }
        }
    }

    /// Background work the real control plane does asynchronously: emptying
    /// terminating namespaces and finishing foreground deletions. Returns
    /// whether anything changed.
    pub fn settle(&mut self) -> bool {
        let mut changed = false;
        let nsres = registry::find("", "v1", "namespaces").expect("namespaces"); // ok: namespaces is in the constant resource table
        let terminating: Vec<String> = self
            .list(nsres, None)
            .into_iter()
            .filter(|n| !n["metadata"]["deletionTimestamp"].is_null())
            .filter_map(|n| n["metadata"]["name"].as_str().map(String::from))
            .collect();
        for ns in terminating {
            let contents: Vec<(&'static Resource, String, bool)> = self
                .objects
                .iter()
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
                let key = Self::key(nsres, "", &ns);
                if let Some(obj) = self.objects.remove(&key) {
                    self.rv += 1;
                    self.emit("DELETED", nsres, &obj);
                    changed = true;
                }
                continue;
            }
            for (r, name, already) in &contents {
                if !already {
                    let _ = self.delete(r, &ns, name, "Background", None);
                    changed = true;
                }
            }
            // report what blocks termination, as the namespace controller does
            let blocking: Vec<String> = self
                .objects
                .iter()
                .filter(|((_, _, n, _), _)| *n == ns)
                .map(|((_, p, _, name), o)| {
                    format!("{p}/{name} (finalizers: {})", o["metadata"]["finalizers"])
                })
                .collect();
            if !blocking.is_empty() {
                let key = Self::key(nsres, "", &ns);
                if let Some(n) = self.objects.get(&key).cloned() {
                    let cond = json!([{"type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizersRemain",
                        "message": format!("Some content in the namespace has finalizers remaining: {}", blocking.join(", "))}]);
                    if n["status"]["conditions"] != cond {
                        let mut status = n["status"].clone();
                        status["conditions"] = cond;
                        let _ = self.set_status(nsres, "", &ns, status);
                        changed = true;
                    }
                }
            }
        }
        // foreground deletions whose dependents are gone
        let fg: Vec<(&'static Resource, String, String, Value)> = self
            .objects
            .iter()
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
            if self.has_dependents(&o) {
                self.collect_dependents(&o, "Background");
                changed = true;
            } else {
                let mut n = o.clone();
                if let Some(f) = n["metadata"]["finalizers"].as_array_mut() {
                    f.retain(|x| x != "foregroundDeletion");
                }
                let _ = self.commit_update(r, &ns, &name, o, n);
                changed = true;
            }
        }
        // claims from StatefulSet templates, volumes, what Retain keeps
        changed |= crate::volumes::settle(self);
        // the protection and load balancer finalizers
        changed |= crate::finalizers::settle(self);
        changed
    }

    /// Server defaults, as the real API server fills them.
    fn defaults(&mut self, res: &Resource, obj: &mut Value, old: Option<&Value>) {
        rules::canonicalize(res, obj);
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        match res.kind {
            "Namespace" => {
                obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
                obj["spec"]["finalizers"] = json!(["kubernetes"]);
                if obj["status"]["phase"].is_null() {
                    obj["status"]["phase"] = json!("Active");
                }
            }
            "Service" => {
                let spec = &mut obj["spec"];
                if spec["type"].is_null() {
                    spec["type"] = json!("ClusterIP");
                }
                let old_ip = old
                    .map(|o| o["spec"]["clusterIP"].clone())
                    .unwrap_or(Value::Null);
                if spec["clusterIP"].is_null() {
                    if !old_ip.is_null() {
                        spec["clusterIP"] = old_ip;
                    } else {
                        self.next_ip += 1;
                        spec["clusterIP"] = json!(match &self.ip_prefix {
                            Some(p) => format!("{p}.1.{}", self.next_ip % 250 + 2),
                            None =>
                                format!("10.96.{}.{}", self.next_ip / 250, self.next_ip % 250 + 1),
                        });
                    }
                }
                if spec["clusterIP"] != "None" {
                    spec["clusterIPs"] = json!([spec["clusterIP"].clone()]);
                }
                for (k, v) in [
                    ("sessionAffinity", json!("None")),
                    ("ipFamilies", json!(["IPv4"])),
                    ("ipFamilyPolicy", json!("SingleStack")),
                    ("internalTrafficPolicy", json!("Cluster")),
                ] {
                    if spec[k].is_null() {
                        spec[k] = v;
                    }
                }
                let external = matches!(
                    spec["type"].as_str(),
                    Some("NodePort") | Some("LoadBalancer")
                );
                if external && spec["externalTrafficPolicy"].is_null() {
                    spec["externalTrafficPolicy"] = json!("Cluster");
                }
                let mut taken = self
                    .node_ports_except(obj["metadata"]["namespace"].as_str().unwrap_or(""), &name);
                let spec = &mut obj["spec"];
                taken.extend(
                    spec["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p["nodePort"].as_i64()),
                );
                let old_ports = old
                    .map(|o| o["spec"]["ports"].clone())
                    .unwrap_or(Value::Null);
                if let Some(ports) = spec["ports"].as_array_mut() {
                    for p in ports.iter_mut() {
                        if p["protocol"].is_null() {
                            p["protocol"] = json!("TCP");
                        }
                        if p["targetPort"].is_null() {
                            p["targetPort"] = p["port"].clone();
                        }
                        if external && p["nodePort"].is_null() {
                            let prev = old_ports
                                .as_array()
                                .and_then(|a| a.iter().find(|o| o["port"] == p["port"]))
                                .map(|o| o["nodePort"].clone());
                            match prev {
                                Some(np) if !np.is_null() => p["nodePort"] = np,
                                _ => {
                                    // the next free port of the range
                                    loop {
                                        self.next_node_port += 1;
                                        if !taken.contains(&i64::from(self.next_node_port)) {
                                            break;
                                        }
                                    }
                                    p["nodePort"] = json!(self.next_node_port);
                                }
                            }
                        }
                    }
                }
                if obj["status"].is_null() {
                    obj["status"] = json!({"loadBalancer": {}});
                }
            }
            "Deployment" => {
                let spec = &mut obj["spec"];
                if spec["replicas"].is_null() {
                    spec["replicas"] = json!(1);
                }
                if spec["strategy"].is_null() {
                    spec["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}});
                }
                for (k, v) in [
                    ("progressDeadlineSeconds", 600),
                    ("revisionHistoryLimit", 10),
                ] {
                    if spec[k].is_null() {
                        spec[k] = json!(v);
                    }
                }
                pod_template_defaults(&mut spec["template"]);
            }
            "StatefulSet" => {
                let spec = &mut obj["spec"];
                if spec["replicas"].is_null() {
                    spec["replicas"] = json!(1);
                }
                if spec["updateStrategy"].is_null() {
                    spec["updateStrategy"] =
                        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}});
                }
                if spec["podManagementPolicy"].is_null() {
                    spec["podManagementPolicy"] = json!("OrderedReady");
                }
                if spec["revisionHistoryLimit"].is_null() {
                    spec["revisionHistoryLimit"] = json!(10);
                }
                if spec["persistentVolumeClaimRetentionPolicy"].is_null() {
                    spec["persistentVolumeClaimRetentionPolicy"] =
                        json!({"whenDeleted": "Retain", "whenScaled": "Retain"});
                }
                if let Some(vcts) = spec["volumeClaimTemplates"].as_array_mut() {
                    for v in vcts {
                        if v["spec"]["volumeMode"].is_null() {
                            v["spec"]["volumeMode"] = json!("Filesystem");
                        }
                    }
                }
                pod_template_defaults(&mut spec["template"]);
            }
            "Job" => {
                let spec = &mut obj["spec"];
                for (k, v) in [("backoffLimit", 6), ("completions", 1), ("parallelism", 1)] {
                    if spec[k].is_null() {
                        spec[k] = json!(v);
                    }
                }
                pod_template_defaults(&mut spec["template"]);
            }
            "Secret" => {
                if let Some(sd) = obj.get("stringData").and_then(Value::as_object).cloned() {
                    for (k, v) in sd {
                        obj["data"][k.as_str()] = json!(b64(v.as_str().unwrap_or("")));
                    }
                    if let Some(o) = obj.as_object_mut() {
                        o.remove("stringData");
                    }
                }
                if obj["type"].is_null() {
                    obj["type"] = json!("Opaque");
                }
            }
            "PersistentVolumeClaim" => {
                if obj["spec"]["volumeMode"].is_null() {
                    obj["spec"]["volumeMode"] = json!("Filesystem");
                }
                if obj["status"]["phase"].is_null() {
                    obj["status"]["phase"] = json!("Pending");
                }
            }
            "NetworkPolicy" => {
                // policyTypes: Ingress always, Egress when egress rules are
                // given; ports default to TCP
                if obj["spec"]["policyTypes"].is_null() {
                    let mut types = vec![json!("Ingress")];
                    if obj["spec"]["egress"]
                        .as_array()
                        .is_some_and(|e| !e.is_empty())
                    {
                        types.push(json!("Egress"));
                    }
                    obj["spec"]["policyTypes"] = Value::Array(types);
                }
                for dir in ["ingress", "egress"] {
                    if let Some(rules) = obj["spec"][dir].as_array_mut() {
                        for rule in rules {
                            if let Some(ports) = rule["ports"].as_array_mut() {
                                for p in ports {
                                    if p["protocol"].is_null() {
                                        p["protocol"] = json!("TCP");
                                    }
                                }
                            }
                        }
                    }
                }
            }
            "StorageClass" => {
                if obj["reclaimPolicy"].is_null() {
                    obj["reclaimPolicy"] = json!("Delete");
                }
                if obj["volumeBindingMode"].is_null() {
                    obj["volumeBindingMode"] = json!("Immediate");
                }
            }
            _ => {}
        }
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

fn pod_template_defaults(t: &mut Value) {
    if t.is_null() {
        return;
    }
    let spec = &mut t["spec"];
    for (k, v) in [
        ("restartPolicy", json!("Always")),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("securityContext", json!({})),
    ] {
        if spec[k].is_null() {
            spec[k] = v;
        }
    }
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec[list].as_array_mut() {
            for c in cs {
                if c["imagePullPolicy"].is_null() {
                    let image = c["image"].as_str().unwrap_or("");
                    let tag = image
                        .rsplit('/')
                        .next()
                        .and_then(|last| last.split_once(':'))
                        .map(|(_, t)| t);
                    let always = !image.contains('@') && tag.is_none_or(|t| t == "latest");
                    c["imagePullPolicy"] = json!(if always { "Always" } else { "IfNotPresent" });
                }
                for (k, v) in [
                    ("terminationMessagePath", json!("/dev/termination-log")),
                    ("terminationMessagePolicy", json!("File")),
                    ("resources", json!({})),
                ] {
                    if c[k].is_null() {
                        c[k] = v;
                    }
                }
                if let Some(ps) = c["ports"].as_array_mut() {
                    for p in ps {
                        if p["protocol"].is_null() {
                            p["protocol"] = json!("TCP");
                        }
                    }
                }
            }
        }
    }
}

/// A 422 as apimachinery's `errors.NewInvalid` builds it from one
/// `field.Error`: `Kind.group "name" is invalid: field: body` (the core
/// group prints no group), the cause's reason taken from the error's type.
pub(crate) fn invalid(res: &Resource, name: &str, field: &str, msg: &str) -> ApiError {
    let kind = if res.group.is_empty() {
        res.kind.to_string()
    } else {
        format!("{}.{}", res.kind, res.group)
    };
    let cause = if msg.starts_with("Forbidden") {
        "FieldValueForbidden"
    } else if msg.starts_with("Required value") {
        "FieldValueRequired"
    } else {
        "FieldValueInvalid"
    };
    ApiError {
        code: 422,
        reason: "Invalid",
        message: format!("{kind} \"{name}\" is invalid: {field}: {msg}"),
        details: json!({"name": name, "group": res.group, "kind": res.kind, "causes": [{"reason": cause, "message": msg, "field": field}]}),
    }
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

fn conflict_error(res: &Resource, name: &str, conflicts: &[(String, String)]) -> ApiError {
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

/// The StorageClass resource (claims' resize admission reads classes).
fn storage_class() -> &'static Resource {
    registry::RESOURCES
        .iter()
        .find(|r| r.kind == "StorageClass")
        .expect("StorageClass is registered")
}
