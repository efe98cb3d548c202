//! One module per Terraform resource type, each with the same skeleton:
//! schema next to model, then validate / plan / create / read / update /
//! delete / import.

pub mod cluster_stack;
pub mod site;
pub mod sync_group;

use serde_json::Value as Json;
use tfplugin::Value;

use crate::cluster::{Cluster, ClusterError, Connection};

fn known_str(v: &Value) -> Option<Option<String>> {
    match v {
        Value::Unknown => None,
        Value::Null => Some(None),
        v => Some(v.as_str().map(String::from)),
    }
}

/// A `cluster` block (the stack's, or a sync group member's) as a
/// [`Connection`]; None while any of it is unknown.
pub(crate) fn connection_of(c: &Value) -> Option<Connection> {
    if !c.is_wholly_known() {
        return None;
    }
    Some(Connection {
        host: known_str(c.get("host"))?,
        ca_pem: known_str(c.get("cluster_ca_certificate"))?,
        token: known_str(c.get("token"))?,
        client_cert_pem: known_str(c.get("client_certificate"))?,
        client_key_pem: known_str(c.get("client_key"))?,
        kubeconfig: known_str(c.get("kubeconfig"))?,
        context: known_str(c.get("context"))?,
        insecure: c.get("insecure_skip_tls_verify").as_bool().unwrap_or(false),
    })
}

/// A Secret's base64 data value as text.
pub(crate) fn b64d(v: &Json) -> Option<String> {
    use base64::Engine;
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str()?)
            .ok()?,
    )
    .ok()
}

/// What a stack keeps of SyncThing in its namespace, each part if there:
/// the identity (certificate, key, the device ID of the certificate) and the
/// GUI/REST API key of its config.
pub(crate) struct StackSyncthing {
    pub cert_pem: Option<String>,
    pub key_pem: Option<String>,
    pub device_id: Option<String>,
    pub api_key: Option<String>,
}

pub(crate) async fn read_syncthing(c: &Cluster, ns: &str) -> Result<StackSyncthing, ClusterError> {
    let id = c.get("v1", "Secret", ns, "syncthing-identity").await?;
    let cert_pem = id.as_ref().and_then(|s| b64d(&s["data"]["cert.pem"]));
    let key_pem = id.as_ref().and_then(|s| b64d(&s["data"]["key.pem"]));
    let device_id = cert_pem
        .as_deref()
        .and_then(|p| geowp_helper::syncthing::device_id_of_pem(p).ok());
    let api_key = c
        .get("v1", "Secret", ns, "syncthing-config")
        .await?
        .and_then(|s| b64d(&s["data"]["config.xml"]))
        .and_then(|x| {
            x.split_once("<apikey>")
                .and_then(|(_, r)| r.split_once("</apikey>"))
                .map(|(k, _)| k.to_string())
        });
    Ok(StackSyncthing {
        cert_pem,
        key_pem,
        device_id,
        api_key,
    })
}
