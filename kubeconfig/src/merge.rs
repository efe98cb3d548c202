//! Merging the kubeconfigs of many clusters into one file with distinct,
//! readable contexts.
//!
//! Renaming rule: every context, cluster and user keeps its name unless that
//! name is already taken by an earlier input; then all three names of that
//! input's entry are prefixed with the input's label (`--name`, else the file
//! name without extension) and a `-`, consistently, so a context still points
//! at its own cluster and user. Nothing is dropped. File-referenced
//! certificates and keys are read and embedded, so the output stands alone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a kubeconfig: {msg}")]
    NotKubeconfig { path: PathBuf, msg: String },
    #[error("{path}: {what} refers to {file}, which cannot be read")]
    Referenced {
        path: PathBuf,
        what: String,
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("context {0:?} is in none of the inputs")]
    NoSuchContext(String),
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One input: its label (for renaming) and its text.
pub struct Input {
    pub label: String,
    pub path: PathBuf,
    pub text: String,
}

impl Input {
    pub fn read(path: &Path, label: Option<&str>) -> Result<Input, MergeError> {
        let text = std::fs::read_to_string(path).map_err(|source| MergeError::Read {
            path: path.into(),
            source,
        })?;
        let label = label.map(String::from).unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "input".into())
        });
        Ok(Input {
            label,
            path: path.into(),
            text,
        })
    }
}

use geowp_common::b64::encode as b64;

fn list<'a>(doc: &'a Value, key: &str) -> Vec<&'a Value> {
    doc.get(key)
        .and_then(Value::as_sequence)
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

fn name_of(v: &Value) -> Option<String> {
    v.get("name").and_then(Value::as_str).map(String::from)
}

/// Replaces `field` (a path) with `field-data` (base64 of the file), resolving
/// relative paths against the kubeconfig's directory.
fn embed(
    m: &mut Mapping,
    field: &str,
    base: &Path,
    input: &Path,
    what: &str,
) -> Result<(), MergeError> {
    let Some(p) = m.get(field).and_then(Value::as_str).map(PathBuf::from) else {
        return Ok(());
    };
    let full = if p.is_absolute() { p } else { base.join(p) };
    let bytes = std::fs::read(&full).map_err(|source| MergeError::Referenced {
        path: input.into(),
        what: what.into(),
        file: full.clone(),
        source,
    })?;
    m.remove(field);
    m.insert(
        Value::String(format!("{field}-data")),
        Value::String(b64(&bytes)),
    );
    Ok(())
}

fn entry(k: &str, name: &str, body_key: &str, body: Mapping) -> Value {
    let mut e = Mapping::new();
    e.insert(k.into(), Value::String(name.into()));
    e.insert(body_key.into(), Value::Mapping(body));
    Value::Mapping(e)
}

/// Merges the inputs; `context` keeps only that one; `current` sets the
/// current context (default: the first input's current context, renamed).
pub fn merge(
    inputs: &[Input],
    only: Option<&str>,
    current: Option<&str>,
) -> Result<String, MergeError> {
    let (mut clusters, mut users, mut contexts) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cluster_names, mut user_names, mut context_names) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let mut first_current = None;
    for input in inputs {
        let parsed =
            crate::doc::parse(&input.text, None).map_err(|e| MergeError::NotKubeconfig {
                path: input.path.clone(),
                msg: match e {
                    crate::ReadError::NotKubeconfig(m) => m,
                    other => other.to_string(),
                },
            })?;
        let doc = parsed.raw();
        if doc.get("contexts").is_none() {
            return Err(MergeError::NotKubeconfig {
                path: input.path.clone(),
                msg: "expected `kind: Config` with `contexts`".into(),
            });
        }
        let base = input
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let rename = |name: &str, taken: &BTreeSet<String>| {
            if taken.contains(name) {
                format!("{}-{name}", input.label)
            } else {
                name.to_string()
            }
        };
        let cur = doc
            .get("current-context")
            .and_then(Value::as_str)
            .map(String::from);
        for ctx in list(doc, "contexts") {
            let Some(cname) = name_of(ctx) else { continue };
            let c = ctx
                .get("context")
                .cloned()
                .unwrap_or(Value::Mapping(Mapping::new()));
            let cl_name = c
                .get("cluster")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let us_name = c
                .get("user")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let new_ctx = rename(&cname, &context_names);
            let new_cl = rename(&cl_name, &cluster_names);
            let new_us = rename(&us_name, &user_names);
            if only.is_some_and(|o| o != cname && o != new_ctx) {
                continue;
            }
            if let Some(cl) = list(doc, "clusters")
                .into_iter()
                .find(|x| name_of(x).as_deref() == Some(&cl_name))
            {
                let mut m = cl
                    .get("cluster")
                    .and_then(Value::as_mapping)
                    .cloned()
                    .unwrap_or_default();
                embed(
                    &mut m,
                    "certificate-authority",
                    &base,
                    &input.path,
                    &format!("cluster {cl_name:?}"),
                )?;
                if cluster_names.insert(new_cl.clone()) {
                    clusters.push(entry("name", &new_cl, "cluster", m));
                }
            }
            if let Some(us) = list(doc, "users")
                .into_iter()
                .find(|x| name_of(x).as_deref() == Some(&us_name))
            {
                let mut m = us
                    .get("user")
                    .and_then(Value::as_mapping)
                    .cloned()
                    .unwrap_or_default();
                embed(
                    &mut m,
                    "client-certificate",
                    &base,
                    &input.path,
                    &format!("user {us_name:?}"),
                )?;
                embed(
                    &mut m,
                    "client-key",
                    &base,
                    &input.path,
                    &format!("user {us_name:?}"),
                )?;
                if user_names.insert(new_us.clone()) {
                    users.push(entry("name", &new_us, "user", m));
                }
            }
            let mut cm = c.as_mapping().cloned().unwrap_or_default();
            cm.insert("cluster".into(), Value::String(new_cl));
            cm.insert("user".into(), Value::String(new_us));
            context_names.insert(new_ctx.clone());
            if first_current.is_none() && cur.as_deref() == Some(cname.as_str()) {
                first_current = Some(new_ctx.clone());
            }
            contexts.push(entry("name", &new_ctx, "context", cm));
        }
    }
    if let Some(o) = only {
        if contexts.is_empty() {
            return Err(MergeError::NoSuchContext(o.into()));
        }
    }
    let cur = match current {
        Some(c) if context_names.contains(c) => Some(c.to_string()),
        Some(c) => return Err(MergeError::NoSuchContext(c.into())),
        None => first_current.or_else(|| context_names.iter().next().cloned()),
    };
    let mut out = Mapping::new();
    out.insert("apiVersion".into(), "v1".into());
    out.insert("kind".into(), "Config".into());
    out.insert("clusters".into(), Value::Sequence(clusters));
    out.insert("users".into(), Value::Sequence(users));
    out.insert("contexts".into(), Value::Sequence(contexts));
    if let Some(c) = cur {
        out.insert("current-context".into(), Value::String(c));
    }
    Ok(serde_yaml::to_string(&Value::Mapping(out)).unwrap_or_default())
}

/// Cluster credentials as JSON (e.g. from `terraform output -json`):
/// `{"name": {"host": ..., "cluster_ca_certificate": PEM, "token": ...}}`.
pub fn from_json(path: &Path, text: &str) -> Result<Input, MergeError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| MergeError::NotKubeconfig {
            path: path.into(),
            msg: format!("line {}: not JSON: {e}", e.line()),
        })?;
    // accept `terraform output -json` (values under "value") and plain maps
    let v = v.get("value").cloned().unwrap_or(v);
    let obj = v.as_object().ok_or_else(|| MergeError::NotKubeconfig {
        path: path.into(),
        msg: "line 1: expected an object of clusters by name".into(),
    })?;
    let mut doc = serde_json::json!({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []});
    for (name, c) in obj {
        let host =
            c.get("host")
                .and_then(|h| h.as_str())
                .ok_or_else(|| MergeError::NotKubeconfig {
                    path: path.into(),
                    msg: format!("cluster {name:?} has no \"host\""),
                })?;
        let mut cluster = serde_json::json!({"server": host});
        if let Some(ca) = c.get("cluster_ca_certificate").and_then(|x| x.as_str()) {
            cluster["certificate-authority-data"] = serde_json::json!(b64(ca.as_bytes()));
        }
        let mut user = serde_json::json!({});
        if let Some(t) = c.get("token").and_then(|x| x.as_str()) {
            user["token"] = serde_json::json!(t);
        }
        if let (Some(cert), Some(key)) = (
            c.get("client_certificate").and_then(|x| x.as_str()),
            c.get("client_key").and_then(|x| x.as_str()),
        ) {
            user["client-certificate-data"] = serde_json::json!(b64(cert.as_bytes()));
            user["client-key-data"] = serde_json::json!(b64(key.as_bytes()));
        }
        for (list, item) in [
            (
                "clusters",
                serde_json::json!({"name": name, "cluster": cluster}),
            ),
            ("users", serde_json::json!({"name": name, "user": user})),
            (
                "contexts",
                serde_json::json!({"name": name, "context": {"cluster": name, "user": name}}),
            ),
        ] {
            if let Some(a) = doc[list].as_array_mut() {
                a.push(item);
            }
        }
    }
    Ok(Input {
        label: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: path.into(),
        text: serde_json::to_string(&doc).unwrap_or_default(),
    })
}

/// Writes atomically with mode 0600, keeping an existing file as `OUT.bak`.
pub fn write_atomic(out: &Path, text: &str) -> Result<(), MergeError> {
    geowp_common::fs::atomic_write(out, text.as_bytes(), 0o600, true).map_err(|source| {
        MergeError::Write {
            path: out.into(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeadm(server: &str) -> String {
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster:\n    server: {server}\n    certificate-authority-data: Q0E=\nusers:\n- name: kubernetes-admin\n  user:\n    token: t\ncontexts:\n- name: kubernetes-admin@kubernetes\n  context:\n    cluster: kubernetes\n    user: kubernetes-admin\ncurrent-context: kubernetes-admin@kubernetes\n")
    }

    #[test]
    fn colliding_kubeadm_names_are_renamed_consistently() {
        let inputs: Vec<Input> = ["east", "west", "south"]
            .iter()
            .map(|n| Input {
                label: n.to_string(),
                path: PathBuf::from(format!("/x/{n}.yaml")),
                text: kubeadm(&format!("https://{n}:6443")),
            })
            .collect();
        let out: Value = serde_yaml::from_str(&merge(&inputs, None, None).unwrap()).unwrap();
        let ctx: Vec<&str> = out["contexts"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            ctx,
            vec![
                "kubernetes-admin@kubernetes",
                "west-kubernetes-admin@kubernetes",
                "south-kubernetes-admin@kubernetes"
            ]
        );
        let west = &out["contexts"][1]["context"];
        assert_eq!(west["cluster"], "west-kubernetes");
        assert_eq!(west["user"], "west-kubernetes-admin");
        let cl = out["clusters"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "west-kubernetes")
            .unwrap();
        assert_eq!(cl["cluster"]["server"], "https://west:6443");
        assert_eq!(out["current-context"], "kubernetes-admin@kubernetes");
    }

    #[test]
    fn not_a_kubeconfig_names_the_file_and_line() {
        let bad = Input {
            label: "b".into(),
            path: "/x/bad.yaml".into(),
            text: "apiVersion: v1\nkind: Config\ncontexts: [\n".into(),
        };
        let e = merge(&[bad], None, None).unwrap_err().to_string();
        assert!(e.contains("/x/bad.yaml") && e.contains("line"), "{e}");
        let other = Input {
            label: "o".into(),
            path: "/x/other.yaml".into(),
            text: "kind: Deployment\n".into(),
        };
        assert!(merge(&[other], None, None)
            .unwrap_err()
            .to_string()
            .contains("kind: Config"));
    }
}
