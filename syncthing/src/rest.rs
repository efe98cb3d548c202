//! SyncThing's REST API, for SyncThing installs geowp did not make: the live
//! device exchange (add every other member as a device and share the folder
//! with it, applied at once, no restart) and the group's status (connected
//! peers, folder completion).
//!
//! Endpoints used (SyncThing 1.12 and later; checked against 1.19):
//! `GET /rest/system/status` (`myID`), `GET /rest/config/options`
//! (`listenAddresses`), `GET|PUT /rest/config/devices` (PUT adds the given
//! devices or replaces those with the same ID, filling omitted fields from the
//! default device), `GET|PATCH /rest/config/folders/{id}`,
//! `GET /rest/config/restart-required`, `GET /rest/system/connections`,
//! `GET /rest/db/completion?folder=`, `GET /rest/db/status?folder=`.
//! Every request carries the API key in `X-API-Key`; the key is never printed.

use std::time::Duration;

use serde_json::{json, Value as Json};

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot reach SyncThing at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("SyncThing at {url} refused the API key ({code}); check --api-key (the <apikey> of its config.xml)")]
    Forbidden { url: String, code: u16 },
    #[error("{what} at {url}: {code} {body}")]
    Status {
        url: String,
        what: String,
        code: u16,
        body: String,
    },
    #[error("unexpected answer from {url} ({what}): {detail}")]
    Decode {
        url: String,
        what: String,
        detail: String,
    },
    #[error("SyncThing at {url} has no folder {folder:?}; create it there first (the same folder id on every member), or pass --folder")]
    NoFolder { url: String, folder: String },
}

/// One SyncThing REST endpoint with its API key.
#[derive(Clone)]
pub struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Api({}, <key redacted>)", self.base)
    }
}

impl Api {
    /// `url` is the GUI address, e.g. `http://127.0.0.1:8384`.
    pub fn new(url: &str, key: &str, timeout: Duration) -> Result<Api, RestError> {
        let base = url.trim_end_matches('/').to_string();
        let Some(rest) = base.strip_prefix("http://") else {
            return Err(RestError::Usage(if base.starts_with("https://") {
                format!("{base}: only plain http is supported; reach an https GUI through an SSH tunnel or `kubectl port-forward` and pass http://127.0.0.1:PORT")
            } else {
                format!("{base}: --api must be http://host:port (SyncThing's GUI address)")
            }));
        };
        if rest.is_empty() || rest.starts_with('/') {
            return Err(RestError::Usage(format!("{base}: no host in --api")));
        }
        if key.trim().is_empty() {
            return Err(RestError::Usage(format!("{base}: empty --api-key")));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| RestError::Usage(format!("HTTP client: {e}")))?;
        Ok(Api {
            base,
            key: key.trim().to_string(),
            http,
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// The host part of the GUI address (used where a listen address has
    /// an unspecified host).
    pub fn host(&self) -> String {
        let rest = self.base.trim_start_matches("http://");
        let hostport = rest.split('/').next().unwrap_or(rest);
        match hostport.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => h.to_string(),
            _ => hostport.to_string(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Json>,
    ) -> Result<String, RestError> {
        let url = format!("{}{path}", self.base);
        let mut rq = self
            .http
            .request(method.clone(), &url)
            .header("X-API-Key", &self.key);
        if let Some(b) = body {
            rq = rq
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let resp = rq.send().await.map_err(|e| RestError::Unreachable {
            url: self.base.clone(),
            detail: geowp_common::error_chain(&e),
        })?;
        let code = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| RestError::Unreachable {
            url: self.base.clone(),
            detail: geowp_common::error_chain(&e),
        })?;
        match code {
            200..=299 => Ok(text),
            401 | 403 => Err(RestError::Forbidden {
                url: self.base.clone(),
                code,
            }),
            _ => Err(RestError::Status {
                url: self.base.clone(),
                what: format!("{method} {path}"),
                code,
                body: text.trim().chars().take(300).collect(),
            }),
        }
    }

    async fn get(&self, path: &str) -> Result<Json, RestError> {
        let t = self.call(reqwest::Method::GET, path, None).await?;
        serde_json::from_str(&t).map_err(|e| RestError::Decode {
            url: self.base.clone(),
            what: format!("GET {path}"),
            detail: e.to_string(),
        })
    }

    fn decode(&self, what: &str, detail: &str) -> RestError {
        RestError::Decode {
            url: self.base.clone(),
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// This SyncThing's device ID.
    pub async fn my_id(&self) -> Result<String, RestError> {
        let s = self.get("/rest/system/status").await?;
        s["myID"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| self.decode("GET /rest/system/status", "no myID"))
    }

    pub async fn devices(&self) -> Result<Vec<Json>, RestError> {
        match self.get("/rest/config/devices").await? {
            Json::Array(a) => Ok(a),
            _ => Err(self.decode("GET /rest/config/devices", "not an array")),
        }
    }

    /// The folder's configuration; None when there is no such folder.
    pub async fn folder(&self, id: &str) -> Result<Option<Json>, RestError> {
        match self.get(&format!("/rest/config/folders/{}", enc(id))).await {
            Ok(f) => Ok(Some(f)),
            Err(RestError::Status { code: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The address other members should dial: the first TCP listen address,
    /// with an unspecified host (`0.0.0.0`, `[::]`, empty) or `default`
    /// replaced by the GUI address's host.
    pub async fn peer_address(&self) -> Result<String, RestError> {
        let o = self.get("/rest/config/options").await?;
        let listen: Vec<&str> = o["listenAddresses"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        let host = self.host();
        for l in &listen {
            if *l == "default" {
                return Ok(format!("tcp://{host}:22000"));
            }
            if let Some(hp) = l.strip_prefix("tcp://").or(l.strip_prefix("tcp4://")) {
                let (h, p) = hp.rsplit_once(':').unwrap_or((hp, "22000"));
                let h = h.trim_start_matches('[').trim_end_matches(']');
                let h = if h.is_empty() || h == "0.0.0.0" || h == "::" {
                    host.as_str()
                } else {
                    h
                };
                return Ok(format!("tcp://{h}:{p}"));
            }
        }
        Err(self.decode(
            "GET /rest/config/options",
            &format!("no tcp listen address in {listen:?}; pass --address NAME=tcp://host:port"),
        ))
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A running SyncThing in the group.
#[derive(Clone, Debug)]
pub struct LiveMember {
    pub name: String,
    pub device_id: String,
    pub address: String,
    pub api: Api,
}

/// Learns a member's device ID, and its name and peer address unless given.
pub async fn discover(
    api: Api,
    name: Option<String>,
    address: Option<String>,
) -> Result<LiveMember, RestError> {
    let device_id = api.my_id().await?;
    let name = match name {
        Some(n) => n,
        None => api
            .devices()
            .await?
            .iter()
            .find(|d| d["deviceID"] == device_id.as_str())
            .and_then(|d| d["name"].as_str())
            .filter(|n| !n.is_empty())
            .map(String::from)
            .unwrap_or_else(|| api.url().trim_start_matches("http://").to_string()),
    };
    let address = match address {
        Some(a) => a,
        None => api.peer_address().await?,
    };
    Ok(LiveMember {
        name,
        device_id,
        address,
        api,
    })
}

/// What the exchange changed on one member.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub devices_added: usize,
    pub devices_updated: usize,
    pub folder_shared_with: usize,
    pub restart_required: bool,
    /// Requests sent to this member, reads included.
    pub requests: usize,
}

/// Makes `me` know every other member (device ID, name, address) and share
/// `folder` with them, through its REST API. Idempotent: a member already
/// in the group gets no write. SyncThing applies these changes live.
pub async fn join_live(
    me: &LiveMember,
    all: &[LiveMember],
    folder: &str,
) -> Result<Changes, RestError> {
    let api = &me.api;
    let mut ch = Changes::default();
    let (existing, f) = tokio::try_join!(api.devices(), api.folder(folder))?;
    ch.requests += 2;
    let Some(mut f) = f else {
        return Err(RestError::NoFolder {
            url: api.url().into(),
            folder: folder.into(),
        });
    };
    let mut put = Vec::new();
    for o in all.iter().filter(|o| o.device_id != me.device_id) {
        match existing
            .iter()
            .find(|d| d["deviceID"] == o.device_id.as_str())
        {
            None => {
                put.push(
                    json!({"deviceID": o.device_id, "name": o.name, "addresses": [o.address]}),
                );
                ch.devices_added += 1;
            }
            Some(d) => {
                let addrs: Vec<&str> = d["addresses"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                    .unwrap_or_default();
                let named = d["name"].as_str().is_some_and(|n| !n.is_empty());
                if !addrs.contains(&o.address.as_str()) || !named {
                    let mut d = d.clone();
                    let mut new = vec![o.address.clone()];
                    new.extend(
                        addrs
                            .iter()
                            .filter(|a| **a != o.address)
                            .map(|a| a.to_string()),
                    );
                    d["addresses"] = json!(new);
                    if !named {
                        d["name"] = json!(o.name);
                    }
                    put.push(d);
                    ch.devices_updated += 1;
                }
            }
        }
    }
    if !put.is_empty() {
        api.call(
            reqwest::Method::PUT,
            "/rest/config/devices",
            Some(&Json::Array(put)),
        )
        .await?;
        ch.requests += 1;
    }
    let mut shared: Vec<Json> = f["devices"].as_array().cloned().unwrap_or_default();
    for o in all.iter().filter(|o| o.device_id != me.device_id) {
        if !shared.iter().any(|d| d["deviceID"] == o.device_id.as_str()) {
            shared.push(json!({"deviceID": o.device_id, "introducedBy": ""}));
            ch.folder_shared_with += 1;
        }
    }
    if ch.folder_shared_with > 0 {
        f = json!({ "devices": shared });
        api.call(
            reqwest::Method::PATCH,
            &format!("/rest/config/folders/{}", enc(folder)),
            Some(&f),
        )
        .await?;
        ch.requests += 1;
    }
    let r = api.get("/rest/config/restart-required").await?;
    ch.requests += 1;
    ch.restart_required = r["requiresRestart"].as_bool().unwrap_or(false);
    Ok(ch)
}

/// One peer as a member sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Peer {
    pub name: String,
    pub device_id: String,
    pub connected: bool,
    pub address: String,
}

/// A member's view of the group.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub device_id: String,
    pub peers: Vec<Peer>,
    /// Local completion of the folder, 0 to 100; None when the folder is missing.
    pub completion: Option<f64>,
    pub need_items: u64,
    pub global_items: u64,
    /// The folder's state (`idle`, `scanning`, `syncing`, ...).
    pub state: String,
}

impl Status {
    /// Connected to every peer and nothing left to fetch.
    pub fn healthy(&self) -> bool {
        !self.peers.is_empty()
            && self.peers.iter().all(|p| p.connected)
            && self.completion.is_some_and(|c| c >= 100.0)
            && self.need_items == 0
    }
}

pub async fn status(api: &Api, folder: &str) -> Result<Status, RestError> {
    // independent reads, one round trip
    let (me, devices, conns, f) = tokio::try_join!(
        api.my_id(),
        api.devices(),
        api.get("/rest/system/connections"),
        api.folder(folder)
    )?;
    let mut peers: Vec<Peer> = devices
        .iter()
        .filter(|d| d["deviceID"] != me.as_str())
        .map(|d| {
            let id = d["deviceID"].as_str().unwrap_or_default().to_string();
            let c = &conns["connections"][&id];
            Peer {
                name: d["name"].as_str().unwrap_or_default().to_string(),
                connected: c["connected"].as_bool().unwrap_or(false),
                address: c["address"].as_str().unwrap_or_default().to_string(),
                device_id: id,
            }
        })
        .collect();
    peers.sort_by(|a, b| a.name.cmp(&b.name));
    let (completion, need_items, global_items, state) = if f.is_some() {
        let (cp, sp) = (
            format!("/rest/db/completion?folder={}", enc(folder)),
            format!("/rest/db/status?folder={}", enc(folder)),
        );
        let (c, s) = tokio::try_join!(api.get(&cp), api.get(&sp))?;
        (
            c["completion"].as_f64(),
            c["needItems"].as_u64().unwrap_or(0),
            c["globalItems"].as_u64().unwrap_or(0),
            s["state"].as_str().unwrap_or_default().to_string(),
        )
    } else {
        (None, 0, 0, "no such folder".to_string())
    };
    Ok(Status {
        device_id: me,
        peers,
        completion,
        need_items,
        global_items,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_are_taken() {
        let t = Duration::from_secs(1);
        assert!(Api::new("http://127.0.0.1:8384", "k", t).is_ok());
        assert!(Api::new("http://127.0.0.1:8384/", "k", t).is_ok());
        let e = Api::new("https://h:8384", "k", t).unwrap_err().to_string();
        assert!(e.contains("only plain http"), "{e}");
        let e = Api::new("h:8384", "k", t).unwrap_err().to_string();
        assert!(e.contains("must be http://"), "{e}");
        let e = Api::new("http://h:8384", " ", t).unwrap_err().to_string();
        assert!(e.contains("empty --api-key"), "{e}");
    }

    #[test]
    fn the_api_host_is_taken_from_the_url() {
        let t = Duration::from_secs(1);
        let h = |u: &str| Api::new(u, "k", t).unwrap().host();
        assert_eq!(h("http://10.0.0.5:8384"), "10.0.0.5");
        assert_eq!(h("http://st.example:8384/"), "st.example");
        assert_eq!(h("http://st.example"), "st.example");
    }

    #[test]
    fn the_key_is_not_in_debug_output() {
        let a = Api::new("http://h:1", "secret-key", Duration::from_secs(1)).unwrap();
        assert!(!format!("{a:?}").contains("secret-key"));
    }

    #[test]
    fn folder_ids_are_escaped_in_paths() {
        assert_eq!(enc("wp-content"), "wp-content");
        assert_eq!(enc("a b/c"), "a%20b%2Fc");
    }
}
