//! Watch streams: the initial events (a list, or the event log since a
//! resourceVersion, 410 Expired when it is older than the log keeps), then
//! the store's events as they are published, filtered by resource,
//! namespace and selectors, one JSON line each, until the timeout.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::Response;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use crate::registry::Resource;
use crate::select;
use crate::store::ApiError;

use super::http::Body;
use super::{lock, Shared};

pub(super) fn watch(
    sh: Arc<Shared>,
    res: &'static Resource,
    ns: Option<String>,
    q: BTreeMap<String, String>,
) -> Response<Body> {
    let labels =
        select::parse(q.get("labelSelector").map(String::as_str).unwrap_or("")).unwrap_or_default();
    let fields =
        select::parse(q.get("fieldSelector").map(String::as_str).unwrap_or("")).unwrap_or_default();
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(256);
    let line = |kind: &str, obj: &Value| {
        Ok(Frame::data(Bytes::from(format!(
            "{}\n",
            json!({"type": kind, "object": obj})
        ))))
    };
    let matches = move |o: &Value| {
        select::matches(&labels, select::label_getter(o))
            && select::matches(&fields, select::field_getter(o))
    };
    let (initial, mut sub, expired) = {
        let s = lock(&sh.store);
        let sub = sh.events.subscribe();
        match q.get("resourceVersion").map(String::as_str) {
            None | Some("") | Some("0") => {
                let init: Vec<(String, Value)> = s
                    .list(res, ns.as_deref())
                    .into_iter()
                    .filter(|o| matches(o))
                    .map(|o| ("ADDED".to_string(), o))
                    .collect();
                (init, sub, false)
            }
            Some(rv) => match rv
                .parse::<u64>()
                .ok()
                .and_then(|rv| s.events_since(rv, res, ns.as_deref()))
            {
                Some(evs) => (
                    evs.into_iter()
                        .filter(|e| matches(&e.object))
                        .map(|e| (e.kind.to_string(), e.object))
                        .collect(),
                    sub,
                    false,
                ),
                None => (vec![], sub, true),
            },
        }
    };
    let last_rv = initial.last().and_then(|(_, o)| {
        o["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|r| r.parse::<u64>().ok())
    });
    tokio::spawn(async move {
        if expired {
            let st = ApiError::new(410, "Expired", "too old resource version").status();
            let _ = tx.send(line("ERROR", &st)).await;
            return;
        }
        let mut seen = last_rv.unwrap_or(0);
        for (k, o) in initial {
            if tx.send(line(&k, &o)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                ev = sub.recv() => match ev {
                    Ok(e) => {
                        if e.rv <= seen || e.group != res.group || e.plural != res.plural || ns.as_deref().is_some_and(|n| n != e.namespace) || !matches(&e.object) {
                            continue;
                        }
                        seen = e.rv;
                        if tx.send(line(e.kind, &e.object)).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let st = ApiError::new(410, "Expired", "watch fell behind; list again").status();
                        let _ = tx.send(line("ERROR", &st)).await;
                        return;
                    }
                    Err(_) => return,
                }
            }
        }
    });
    let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .header("Transfer-Encoding", "chunked")
        .body(BodyExt::boxed(body))
        .expect("watch response") // ok: a status and header set from constants
}
