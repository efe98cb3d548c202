//! Every request's way in: counted, delayed by the injected latency,
//! answered by an injected fault, health and version, bearer-token
//! authentication and read-only authorization, discovery, the `/_fake/`
//! controls of tests and the demo, then the resource routes.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::registry;
use crate::store::ApiError;

use super::http::{err_resp, full, json_resp, query, read_body, too_many, Body};
use super::resources::resource_api;
use super::route::route;
use super::{lock, Fault, FaultAction, Shared};

/// Serves one request (an injected `Drop` fault closes the connection).
pub(super) async fn handle(
    sh: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::io::Error> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    *lock(&sh.counts)
        .entry(format!("{method} {path}"))
        .or_default() += 1;
    let latency = *lock(&sh.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = {
        let mut faults = lock(&sh.faults);
        let hit = faults.iter_mut().find(|f| {
            f.remaining > 0
                && f.method.as_deref().is_none_or(|m| m == method.as_str())
                && path.starts_with(&f.path_prefix)
        });
        let action = hit.map(|f| {
            f.remaining -= 1;
            f.action.clone()
        });
        faults.retain(|f| f.remaining > 0);
        action
    };
    match fault {
        Some(FaultAction::Drop) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "injected: connection dropped",
            ))
        }
        Some(FaultAction::Code(429)) => return Ok(too_many(1)),
        Some(FaultAction::Code(c)) => {
            let reason = match c {
                500 => "InternalError",
                503 => "ServiceUnavailable",
                504 => "Timeout",
                409 => "Conflict",
                404 => "NotFound",
                403 => "Forbidden",
                _ => "InternalError",
            };
            return Ok(err_resp(&ApiError::new(
                c,
                reason,
                format!("injected fault: {c} for {method} {path}"),
            )));
        }
        None => {}
    }
    if matches!(path.as_str(), "/healthz" | "/livez" | "/readyz") {
        return Ok(full(StatusCode::OK, "text/plain", "ok"));
    }
    if path == "/version" {
        return Ok(json_resp(
            200,
            &json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-geowp-fake", "platform": "linux/amd64", "goVersion": "go1.23"}),
        ));
    }
    // authentication, then authorization
    let token = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    let admin = token == Some(sh.opts.token.as_str());
    let readonly = sh
        .opts
        .readonly_token
        .as_deref()
        .is_some_and(|t| token == Some(t));
    if !admin && !readonly {
        return Ok(err_resp(&ApiError::new(
            401,
            "Unauthorized",
            "Unauthorized",
        )));
    }
    if readonly && !matches!(method, Method::GET | Method::HEAD) {
        return Ok(err_resp(&ApiError::new(
            403,
            "Forbidden",
            format!(
                "{} is forbidden: User \"geowp-readonly\" cannot {} this resource",
                path,
                method.as_str().to_lowercase()
            ),
        )));
    }
    if path == "/openapi/v2" {
        // kubectl apply --server-side needs an answer; an empty document disables client-side validation
        return Ok(full(
            StatusCode::OK,
            "application/octet-stream",
            Bytes::new(),
        ));
    }
    if let Some(doc) = registry::discovery(&path) {
        return Ok(json_resp(200, &doc));
    }
    if let Some(rest) = path.strip_prefix("/_fake/") {
        return Ok(admin_api(&sh, rest, req).await);
    }
    let Some(route) = route(&path) else {
        return Ok(err_resp(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )));
    };
    let q = query(req.uri().query());
    Ok(resource_api(sh, route, method, q, req).await)
}

/// Test and demo controls: `POST /_fake/faults`, `POST /_fake/latency`, `GET /_fake/stats`.
async fn admin_api(sh: &Arc<Shared>, rest: &str, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let body: Value = match read_body(req).await {
        Ok((_, b)) if !b.is_empty() => serde_json::from_slice(&b).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    match (method, rest) {
        (Method::POST, "faults") => {
            let action = if body["drop"].as_bool() == Some(true) {
                FaultAction::Drop
            } else {
                FaultAction::Code(body["code"].as_u64().unwrap_or(500) as u16)
            };
            lock(&sh.faults).push(Fault {
                method: body["method"].as_str().map(String::from),
                path_prefix: body["pathPrefix"].as_str().unwrap_or("/").to_string(),
                remaining: body["count"].as_u64().unwrap_or(1) as u32,
                action,
            });
            json_resp(200, &json!({"ok": true}))
        }
        (Method::POST, "latency") => {
            *lock(&sh.latency) = Duration::from_millis(body["ms"].as_u64().unwrap_or(0));
            json_resp(200, &json!({"ok": true}))
        }
        (Method::GET, "stats") => {
            let c = lock(&sh.counts).clone();
            json_resp(
                200,
                &json!({"requests": c.values().sum::<u64>(), "byRequest": c}),
            )
        }
        _ => err_resp(&ApiError::new(404, "NotFound", "no such control")),
    }
}
