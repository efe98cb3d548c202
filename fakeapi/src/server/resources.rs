//! The resource routes: list, get, create (POST), replace (PUT), merge
//! and strategic merge patch and server-side apply (PATCH), delete with
//! options, the `status` and `scale` subresources and a pod's `log`; each
//! write is published to watches and schedules the simulated controllers.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::select;
use crate::store::{ApiError, Deleted};

use super::http::{
    err_resp, full, json_resp, manager_of, parse_body, read_body, read_object, Body,
};
use super::route::Route;
use super::schedule::schedule_controller;
use super::watch::watch;
use super::{lock, publish, Shared, POD_LOG};

/// The autoscaling/v1 Scale view of a workload.
fn scale_of(o: &Value) -> Value {
    let sel = o["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": o["metadata"]["name"], "namespace": o["metadata"]["namespace"], "uid": o["metadata"]["uid"],
            "resourceVersion": o["metadata"]["resourceVersion"], "creationTimestamp": o["metadata"]["creationTimestamp"]},
        "spec": {"replicas": o["spec"]["replicas"]},
        "status": {"replicas": o["status"]["replicas"].as_i64().unwrap_or(0), "selector": sel}})
}

async fn scale_api(
    sh: Arc<Shared>,
    rt: Route,
    method: Method,
    q: BTreeMap<String, String>,
    req: Request<Incoming>,
) -> Response<Body> {
    let (res, ns, name) = (
        rt.res,
        rt.ns.unwrap_or_default(),
        rt.name.unwrap_or_default(),
    );
    if method == Method::GET {
        return match lock(&sh.store).get(res, &ns, &name) {
            Ok(o) => json_resp(200, &scale_of(&o)),
            Err(e) => err_resp(&e),
        };
    }
    if !matches!(method, Method::PATCH | Method::PUT) {
        return err_resp(&ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported on {}/scale", res.plural),
        ));
    }
    let (headers, body) = match read_object(req).await {
        Ok(x) => x,
        Err(e) => return err_resp(&e),
    };
    let Some(replicas) = body["spec"]["replicas"].as_i64() else {
        return err_resp(&ApiError::new(
            422,
            "Invalid",
            "Scale.autoscaling is invalid: spec.replicas: Required value",
        ));
    };
    let manager = manager_of(&q, &headers);
    let mut s = lock(&sh.store);
    let r = s.merge_patch(
        res,
        &ns,
        &name,
        &json!({"spec": {"replicas": replicas}}),
        &manager,
        false,
        false,
    );
    if let Ok(o) = &r {
        schedule_controller(&sh, res, o);
    }
    publish(&sh, &mut s);
    match r {
        Ok(o) => json_resp(200, &scale_of(&o)),
        Err(e) => err_resp(&e),
    }
}

pub(super) async fn resource_api(
    sh: Arc<Shared>,
    rt: Route,
    method: Method,
    q: BTreeMap<String, String>,
    req: Request<Incoming>,
) -> Response<Body> {
    if rt.scale {
        return scale_api(sh, rt, method, q, req).await;
    }
    if rt.log {
        let got = lock(&sh.store).get(
            rt.res,
            rt.ns.as_deref().unwrap_or(""),
            rt.name.as_deref().unwrap_or(""),
        );
        return match got {
            Ok(pod) => {
                let text = pod["metadata"]["annotations"][POD_LOG]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                full(StatusCode::OK, "text/plain", text)
            }
            Err(e) => err_resp(&e),
        };
    }
    let res = rt.res;
    let ns = rt.ns.clone().unwrap_or_default();
    if res.namespaced && rt.name.is_some() && rt.ns.is_none() {
        return err_resp(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    match (method.clone(), rt.name.clone()) {
        (Method::GET, None) => {
            if matches!(q.get("watch").map(String::as_str), Some("true") | Some("1")) {
                return watch(sh, res, rt.ns, q);
            }
            let labels =
                match select::parse(q.get("labelSelector").map(String::as_str).unwrap_or("")) {
                    Ok(l) => l,
                    Err(e) => {
                        return err_resp(&ApiError::new(
                            400,
                            "BadRequest",
                            format!("unable to parse labelSelector: {e}"),
                        ))
                    }
                };
            let fields =
                match select::parse(q.get("fieldSelector").map(String::as_str).unwrap_or("")) {
                    Ok(f) => f,
                    Err(e) => {
                        return err_resp(&ApiError::new(
                            400,
                            "BadRequest",
                            format!("unable to parse fieldSelector: {e}"),
                        ))
                    }
                };
            let s = lock(&sh.store);
            let items: Vec<Value> = s
                .list(res, rt.ns.as_deref())
                .into_iter()
                .filter(|o| {
                    select::matches(&labels, select::label_getter(o))
                        && select::matches(&fields, select::field_getter(o))
                })
                .collect();
            json_resp(
                200,
                &json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(),
                "metadata": {"resourceVersion": s.resource_version().to_string()}, "items": items}),
            )
        }
        (Method::GET, Some(name)) => match lock(&sh.store).get(res, &ns, &name) {
            Ok(o) => json_resp(200, &o),
            Err(e) => err_resp(&e),
        },
        (Method::POST, None) => {
            let (headers, body) = match read_object(req).await {
                Ok(x) => x,
                Err(e) => return err_resp(&e),
            };
            let manager = manager_of(&q, &headers);
            let mut s = lock(&sh.store);
            let r = s.create(res, &ns, body, &manager);
            if let Ok(o) = &r {
                schedule_controller(&sh, res, o);
            }
            publish(&sh, &mut s);
            match r {
                Ok(o) => json_resp(201, &o),
                Err(e) => err_resp(&e),
            }
        }
        (Method::PUT, Some(name)) => {
            let (headers, body) = match read_object(req).await {
                Ok(x) => x,
                Err(e) => return err_resp(&e),
            };
            let manager = manager_of(&q, &headers);
            let mut s = lock(&sh.store);
            let r = s.replace(res, &ns, &name, body, &manager, rt.status);
            if let (Ok(o), false) = (&r, rt.status) {
                schedule_controller(&sh, res, o);
            }
            publish(&sh, &mut s);
            match r {
                Ok(o) => json_resp(200, &o),
                Err(e) => err_resp(&e),
            }
        }
        (Method::PATCH, Some(name)) => {
            let (headers, body) = match read_object(req).await {
                Ok(x) => x,
                Err(e) => return err_resp(&e),
            };
            let ct = headers
                .get("content-type")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .to_string();
            let mut s = lock(&sh.store);
            let r = if ct.starts_with("application/apply-patch") {
                let force = matches!(q.get("force").map(String::as_str), Some("true") | Some("1"));
                let manager = q.get("fieldManager").cloned().unwrap_or_default();
                s.apply(res, &ns, &name, body, &manager, force)
            } else if ct.starts_with("application/merge-patch+json")
                || ct.starts_with("application/strategic-merge-patch+json")
            {
                let manager = manager_of(&q, &headers);
                let strategic = ct.starts_with("application/strategic-merge-patch+json");
                s.merge_patch(res, &ns, &name, &body, &manager, rt.status, strategic)
                    .map(|o| (o, false))
            } else {
                Err(ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})")))
            };
            if let (Ok((o, _)), false) = (&r, rt.status) {
                schedule_controller(&sh, res, o);
            }
            publish(&sh, &mut s);
            match r {
                Ok((o, created)) => json_resp(if created { 201 } else { 200 }, &o),
                Err(e) => err_resp(&e),
            }
        }
        (Method::DELETE, Some(name)) => {
            let (headers, b) = match read_body(req).await {
                Ok(x) => x,
                Err(e) => return err_resp(&e),
            };
            let opts: Value = if b.is_empty() {
                Value::Null
            } else {
                parse_body(&headers, &b).unwrap_or(Value::Null)
            };
            let policy = q
                .get("propagationPolicy")
                .cloned()
                .or_else(|| opts["propagationPolicy"].as_str().map(String::from))
                .unwrap_or_else(|| "Background".into());
            let uid = opts["preconditions"]["uid"].as_str().map(String::from);
            let mut s = lock(&sh.store);
            let r = s.delete(res, &ns, &name, &policy, uid.as_deref());
            publish(&sh, &mut s);
            match r {
                Ok(Deleted::Pending(o)) => json_resp(200, &o),
                Ok(Deleted::Gone(o)) if matches!(res.kind, "Service" | "Pod") => json_resp(200, &o),
                Ok(Deleted::Gone(o)) => json_resp(
                    200,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "group": res.group, "kind": res.plural, "uid": o["metadata"]["uid"]}}),
                ),
                Err(e) => err_resp(&e),
            }
        }
        _ => err_resp(&ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported on {}", res.plural),
        )),
    }
}
