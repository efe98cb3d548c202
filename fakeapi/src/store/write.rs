//! The writes of the API, as the real server makes them: create, server-side
//! apply, update (PUT), merge and strategic merge patch, the status and
//! finalizer writes of controllers, and delete with preconditions,
//! finalizers and propagation. Each write checks its request, keeps managed
//! fields, goes through admission (`crate::admission`, which applies the
//! server defaults), then stores the object with a new resourceVersion and
//! an event for watches.

use serde_json::{json, Value};

use crate::admission;
use crate::fields::{self, FieldSet};
use crate::gc;
use crate::registry::Resource;

use super::managed::{conflict_error, managers_of, ownable, set_managers, Manager};
use super::{
    invalid, json_merge_patch, now, strategic_merge_patch, uid, ApiError, ApiResult, Deleted, Store,
};

/// An object without its metadata and status: a change here is a new
/// generation.
fn spec_part(obj: &Value) -> Value {
    let mut c = obj.clone();
    if let Some(o) = c.as_object_mut() {
        o.remove("metadata");
        o.remove("status");
    }
    c
}

impl Store {
    /// POST: create, 409 if it exists.
    pub fn create(
        &mut self,
        res: &'static Resource,
        ns: &str,
        mut obj: Value,
        manager: &str,
    ) -> ApiResult<Value> {
        admission::check_identity(res, &obj, ns, None)?;
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
        admission::check_namespace(self, res, ns, &name)?;
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
        admission::admit_create(self, res, ns, name, obj)?;
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
        admission::check_identity(res, &cfg, ns, Some(name))?;
        if manager.is_empty() {
            return Err(ApiError::new(400, "BadRequest", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"));
        }
        let applied = ownable(&cfg, res);
        let set = fields::fields_of(&applied);
        let key = Self::key(res, ns, name);
        let Some(live) = self.objects.get(&key).cloned() else {
            admission::check_namespace(self, res, ns, name)?;
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
        admission::check_identity(res, &new, ns, Some(name))?;
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

    /// Stores a changed object after admission, with a new
    /// resourceVersion (and generation when the spec changed); an object
    /// being deleted whose last finalizer went is removed. Every write but
    /// a create ends here.
    pub(crate) fn commit_update(
        &mut self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        live: Value,
        mut obj: Value,
    ) -> ApiResult<Value> {
        admission::admit_update(self, res, ns, name, &live, &mut obj)?;
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
            gc::collect_dependents(self, &obj, "Background");
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
        if policy == "Foreground" && gc::has_dependents(self, &obj) {
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
        gc::collect_dependents(self, &obj, policy);
        Ok(Deleted::Gone(obj))
    }
}
