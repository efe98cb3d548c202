//! HTTP plumbing of the server: responses (JSON, Status bodies of errors,
//! the 429 of a rate limit), query strings, the field manager of a request,
//! and request bodies read as JSON or YAML objects.

use std::collections::BTreeMap;
use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::Value;

use crate::store::ApiError;

pub(super) type Body = BoxBody<Bytes, std::io::Error>;

pub(super) fn full(code: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("Content-Type", content_type)
        .body(
            Full::new(body.into())
                .map_err(|never: Infallible| match never {})
                .boxed(),
        )
        .expect("response") // ok: a status and header set from constants
}

pub(super) fn json_resp(code: u16, v: &Value) -> Response<Body> {
    full(
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        "application/json",
        v.to_string(),
    )
}

pub(super) fn err_resp(e: &ApiError) -> Response<Body> {
    json_resp(e.code, &e.status())
}

pub(super) fn too_many(retry_after: u32) -> Response<Body> {
    let mut r = full(
        StatusCode::TOO_MANY_REQUESTS,
        "text/plain; charset=utf-8",
        "Too many requests, please try again later.\n",
    );
    r.headers_mut().insert("Retry-After", retry_after.into());
    r
}

pub(super) fn query(q: Option<&str>) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        m.insert(pct_decode(k), pct_decode(v));
    }
    m
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(x) => {
                        out.push(x);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn manager_of(q: &BTreeMap<String, String>, headers: &hyper::HeaderMap) -> String {
    if let Some(m) = q.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    // like the real server: the user agent's program name
    headers
        .get("user-agent")
        .and_then(|h| h.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

pub(super) async fn read_body(
    req: Request<Incoming>,
) -> Result<(hyper::HeaderMap, Bytes), ApiError> {
    let headers = req.headers().clone();
    let b = req
        .into_body()
        .collect()
        .await
        .map_err(|e| ApiError::new(400, "BadRequest", format!("reading the body: {e}")))?
        .to_bytes();
    if b.len() > 16 << 20 {
        return Err(ApiError::new(
            413,
            "RequestEntityTooLarge",
            "request body too large",
        ));
    }
    Ok((headers, b))
}

/// The request's body as a JSON object (JSON or YAML), with its headers.
pub(super) async fn read_object(
    req: Request<Incoming>,
) -> Result<(hyper::HeaderMap, Value), ApiError> {
    let (headers, b) = read_body(req).await?;
    let v = parse_body(&headers, &b)?;
    Ok((headers, v))
}

pub(super) fn parse_body(headers: &hyper::HeaderMap, b: &[u8]) -> Result<Value, ApiError> {
    let ct = headers
        .get("content-type")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("application/json");
    if ct.contains("protobuf") {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "this fake API server reads JSON and YAML bodies only, not protobuf (which kubectl's `create <type>` subcommands send); use `kubectl apply` or `kubectl create -f FILE`",
        ));
    }
    let v: Value = if ct.contains("yaml") {
        serde_yaml::from_slice(b)
            .map_err(|e| ApiError::new(400, "BadRequest", format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(b)
            .map_err(|e| ApiError::new(400, "BadRequest", format!("error decoding JSON: {e}")))?
    };
    if !v.is_object() {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "the body must be an object",
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_with_empty_pairs_and_escapes() {
        let q = query(Some("&labelSelector=app%3Dweb%2Ctier+in+(a)&&watch=1"));
        assert_eq!(q["labelSelector"], "app=web,tier in (a)");
        assert_eq!(q["watch"], "1");
    }
}
