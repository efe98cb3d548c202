//! One module per Terraform resource type, each with the same skeleton:
//! schema next to model, then validate / plan / create / read / update /
//! delete / import.

pub mod cluster_stack;
pub mod site;
pub mod sync_group;

use tfplugin::Value;

use crate::cluster::Connection;

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

pub(crate) use geowp_helper::group::{b64d, read_syncthing};
