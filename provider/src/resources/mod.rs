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

pub(crate) use geowp_syncthing::group::{b64d, read_syncthing};

/// The kubeconfig import reads credentials from: the first file of
/// `$KUBECONFIG`, else `~/.kube/config`. None (with an error) if unreadable.
pub(crate) fn import_kubeconfig(diags: &mut tfplugin::diag::Diagnostics) -> Option<String> {
    let path = std::env::var("KUBECONFIG")
        .ok()
        .and_then(|k| k.split(':').next().map(std::path::PathBuf::from))
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".kube/config"))
        });
    let text = path.as_ref().and_then(|p| std::fs::read_to_string(p).ok());
    if text.is_none() {
        diags.error("No kubeconfig", format!("import reads the cluster's credentials from $KUBECONFIG (or ~/.kube/config); could not read {}.", path.map(|p| p.display().to_string()).unwrap_or_default()));
    }
    text
}

/// A `cluster` block value for `context` of a kubeconfig (credentials
/// embedded as data); None if the context, its cluster or its user is missing.
pub(crate) fn cluster_from_kubeconfig(text: &str, context: &str) -> Option<Value> {
    let kc: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    let find = |list: &str, name: &str| -> Option<serde_yaml::Value> {
        kc.get(list)?
            .as_sequence()?
            .iter()
            .find(|e| e.get("name").and_then(|n| n.as_str()) == Some(name))
            .cloned()
    };
    let ctx = find("contexts", context)?;
    let cl = find("clusters", ctx.get("context")?.get("cluster")?.as_str()?)?;
    let user = find("users", ctx.get("context")?.get("user")?.as_str()?)?;
    let c = cl.get("cluster")?;
    let u = user.get("user")?;
    let dec = |v: Option<&serde_yaml::Value>| -> Option<String> {
        use base64::Engine;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(v?.as_str()?)
                .ok()?,
        )
        .ok()
    };
    let opt_s = |v: Option<String>| v.map(Value::String).unwrap_or(Value::Null);
    Some(Value::object([
        ("host", Value::str(c.get("server")?.as_str()?)),
        (
            "cluster_ca_certificate",
            opt_s(dec(c.get("certificate-authority-data"))),
        ),
        (
            "token",
            opt_s(u.get("token").and_then(|t| t.as_str()).map(String::from)),
        ),
        (
            "client_certificate",
            opt_s(dec(u.get("client-certificate-data"))),
        ),
        ("client_key", opt_s(dec(u.get("client-key-data")))),
        ("kubeconfig", Value::Null),
        ("context", Value::Null),
        (
            "insecure_skip_tls_verify",
            if c.get("insecure-skip-tls-verify").and_then(|v| v.as_bool()) == Some(true) {
                Value::Bool(true)
            } else {
                Value::Null
            },
        ),
    ]))
}

/// The attributes of a `cluster` setting: the stack's `cluster` block and
/// each sync group member's `cluster`, so both read the same way.
pub(crate) fn cluster_attributes() -> Vec<tfplugin::Attribute> {
    use tfplugin::{Attribute, Type};
    vec![
        Attribute::optional("host", Type::String, "The API server URL, `https://...`."),
        Attribute::optional("cluster_ca_certificate", Type::String, "PEM CA certificate the API server's certificate is checked against."),
        Attribute::optional("token", Type::String, "Bearer token.").sensitive(),
        Attribute::optional("client_certificate", Type::String, "PEM client certificate (with `client_key`)."),
        Attribute::optional("client_key", Type::String, "PEM client key (with `client_certificate`).").sensitive(),
        Attribute::optional("kubeconfig", Type::String, "A whole kubeconfig as text, instead of `host` and credentials.").sensitive(),
        Attribute::optional("context", Type::String, "Context of `kubeconfig` to use; default its current context."),
        Attribute::optional(
            "insecure_skip_tls_verify",
            Type::Bool,
            "**Insecure.** Skip checking the API server's certificate, and allow plain `http://` hosts. Only for throwaway test clusters.",
        ),
    ]
}
