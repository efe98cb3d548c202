//! Reading a kubeconfig: its contexts, and what a context points at.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("not a kubeconfig: {0}")]
    NotKubeconfig(String),
    #[error("context {context:?} is not in the kubeconfig (it has: {})", .have.join(", "))]
    NoSuchContext { context: String, have: Vec<String> },
    #[error("no context given and the kubeconfig has no current-context")]
    NoCurrentContext,
    #[error("context {context:?} names {what} {name:?}, which the kubeconfig does not have")]
    Dangling {
        context: String,
        what: &'static str,
        name: String,
    },
    #[error("cluster {cluster:?} has no server URL")]
    NoServer { cluster: String },
    #[error("{what} of {owner:?} is not valid base64")]
    BadBase64 { owner: String, what: &'static str },
    #[error("{what} of {owner:?} refers to {file}, which cannot be read: {err}")]
    File {
        owner: String,
        what: &'static str,
        file: PathBuf,
        err: String,
    },
}

/// A parsed kubeconfig.
#[derive(Clone, Debug)]
pub struct Doc {
    doc: Value,
    /// Where relative file references are resolved from.
    base: Option<PathBuf>,
}

/// What a context points at: the API server and the user's credentials,
/// every certificate and key as PEM text (files read, base64 decoded).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub server: String,
    pub ca_pem: Option<String>,
    pub token: Option<String>,
    pub client_cert_pem: Option<String>,
    pub client_key_pem: Option<String>,
    pub insecure: bool,
    /// The user's credential plugin (`user.exec`), as `aws eks
    /// update-kubeconfig` and `gcloud container clusters get-credentials`
    /// write it.
    pub exec: Option<ExecPlugin>,
}

/// A kubeconfig user's `exec` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecPlugin {
    pub api_version: Option<String>,
    pub command: String,
    pub args: Vec<String>,
    /// `env` as name => value.
    pub env: std::collections::BTreeMap<String, String>,
}

fn exec_of(user: &Value) -> Option<ExecPlugin> {
    let e = user.get("exec")?;
    let s = |v: &Value| v.as_str().map(String::from);
    Some(ExecPlugin {
        api_version: e.get("apiVersion").and_then(s),
        command: e.get("command").and_then(s)?,
        args: e
            .get("args")
            .and_then(Value::as_sequence)
            .map(|a| a.iter().filter_map(s).collect())
            .unwrap_or_default(),
        env: e
            .get("env")
            .and_then(Value::as_sequence)
            .map(|l| {
                l.iter()
                    .filter_map(|kv| {
                        Some((kv.get("name").and_then(s)?, kv.get("value").and_then(s)?))
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.server)
    }
}

/// Parses kubeconfig text; `base` is the file's directory, for relative
/// references (None for text given inline).
///
/// # Errors
/// Not YAML, or not `kind: Config` with a `contexts` list; the message says
/// where.
pub fn parse(text: &str, base: Option<&Path>) -> Result<Doc, ReadError> {
    let doc: Value = serde_yaml::from_str(text).map_err(|e| {
        ReadError::NotKubeconfig(match e.location() {
            Some(l) => format!("line {}: {e}", l.line()),
            None => e.to_string(),
        })
    })?;
    if doc.get("kind").and_then(Value::as_str) != Some("Config") {
        return Err(ReadError::NotKubeconfig(
            "expected `kind: Config` at the top".into(),
        ));
    }
    for list in ["contexts", "clusters", "users"] {
        match doc.get(list) {
            None | Some(Value::Null) | Some(Value::Sequence(_)) => {}
            Some(_) => return Err(ReadError::NotKubeconfig(format!("`{list}` must be a list"))),
        }
    }
    Ok(Doc {
        doc,
        base: base.map(Path::to_path_buf),
    })
}

fn named<'a>(doc: &'a Value, list: &str, name: &str) -> Option<&'a Value> {
    doc.get(list)?
        .as_sequence()?
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
}

impl Doc {
    pub(crate) fn raw(&self) -> &Value {
        &self.doc
    }

    /// Context names, in file order.
    pub fn contexts(&self) -> Vec<String> {
        self.doc
            .get("contexts")
            .and_then(Value::as_sequence)
            .map(|s| {
                s.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn current_context(&self) -> Option<String> {
        self.doc
            .get("current-context")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    }

    /// Checks that `context` (default: the current one) exists and points
    /// at a cluster and a user the file has.
    ///
    /// # Errors
    /// As [`Doc::credentials`], without reading referenced files.
    pub fn check_context(&self, context: Option<&str>) -> Result<String, ReadError> {
        let name = match context {
            Some(c) => c.to_string(),
            None => self.current_context().ok_or(ReadError::NoCurrentContext)?,
        };
        let ctx = named(&self.doc, "contexts", &name).ok_or_else(|| ReadError::NoSuchContext {
            context: name.clone(),
            have: self.contexts(),
        })?;
        for (what, list) in [("cluster", "clusters"), ("user", "users")] {
            let target = ctx
                .get("context")
                .and_then(|c| c.get(what))
                .and_then(Value::as_str)
                .unwrap_or("");
            if named(&self.doc, list, target).is_none() {
                return Err(ReadError::Dangling {
                    context: name.clone(),
                    what,
                    name: target.to_string(),
                });
            }
        }
        Ok(name)
    }

    /// The server and credentials of `context` (default: the current one).
    ///
    /// # Errors
    /// A missing context, cluster or user, a cluster without server, base64
    /// that does not decode, or a referenced file that cannot be read.
    pub fn credentials(&self, context: Option<&str>) -> Result<Credentials, ReadError> {
        let name = self.check_context(context)?;
        let ctx = named(&self.doc, "contexts", &name).and_then(|c| c.get("context"));
        let target = |what: &str| {
            ctx.and_then(|c| c.get(what))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (cl_name, us_name) = (target("cluster"), target("user"));
        let empty = Value::Null;
        let cl = named(&self.doc, "clusters", &cl_name)
            .and_then(|c| c.get("cluster"))
            .unwrap_or(&empty);
        let us = named(&self.doc, "users", &us_name)
            .and_then(|u| u.get("user"))
            .unwrap_or(&empty);
        let server = cl
            .get("server")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ReadError::NoServer {
                cluster: cl_name.clone(),
            })?
            .to_string();
        Ok(Credentials {
            server,
            ca_pem: self.pem(cl, "certificate-authority", &cl_name)?,
            token: us.get("token").and_then(Value::as_str).map(String::from),
            client_cert_pem: self.pem(us, "client-certificate", &us_name)?,
            client_key_pem: self.pem(us, "client-key", &us_name)?,
            insecure: cl.get("insecure-skip-tls-verify").and_then(Value::as_bool) == Some(true),
            exec: exec_of(us),
        })
    }

    /// `FIELD-data` (base64) or `FIELD` (a file) as text.
    fn pem(
        &self,
        m: &Value,
        field: &'static str,
        owner: &str,
    ) -> Result<Option<String>, ReadError> {
        let data_key = format!("{field}-data");
        if let Some(d) = m.get(data_key.as_str()).and_then(Value::as_str) {
            return geowp_common::b64::decode_text(d).map(Some).ok_or_else(|| {
                ReadError::BadBase64 {
                    owner: owner.into(),
                    what: field,
                }
            });
        }
        let Some(p) = m.get(field).and_then(Value::as_str) else {
            return Ok(None);
        };
        let p = PathBuf::from(p);
        let full = match (&self.base, p.is_absolute()) {
            (Some(b), false) => b.join(p),
            _ => p,
        };
        std::fs::read_to_string(&full)
            .map(Some)
            .map_err(|e| ReadError::File {
                owner: owner.into(),
                what: field,
                file: full,
                err: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KC: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c1\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: Q0E=\nusers:\n- name: u1\n  user:\n    token: tok\ncontexts:\n- name: east\n  context:\n    cluster: c1\n    user: u1\n- name: broken\n  context:\n    cluster: nope\n    user: u1\ncurrent-context: east\n";

    #[test]
    fn a_context_gives_its_server_and_credentials() {
        let d = parse(KC, None).unwrap();
        assert_eq!(d.contexts(), vec!["east", "broken"]);
        let c = d.credentials(None).unwrap();
        assert_eq!(c.server, "https://127.0.0.1:6443");
        assert_eq!(c.ca_pem.as_deref(), Some("CA"));
        assert_eq!(c.token.as_deref(), Some("tok"));
        assert!(!format!("{c:?}").contains("tok"));
        assert!(matches!(
            d.credentials(Some("west")),
            Err(ReadError::NoSuchContext { have, .. }) if have == vec!["east", "broken"]
        ));
        assert!(matches!(
            d.credentials(Some("broken")),
            Err(ReadError::Dangling {
                what: "cluster",
                ..
            })
        ));
    }

    #[test]
    fn an_exec_user_gives_its_credential_plugin() {
        // as `aws eks update-kubeconfig` writes it
        let kc = "apiVersion: v1\nkind: Config\nclusters:\n- name: c1\n  cluster:\n    server: https://eks.example\nusers:\n- name: u1\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n      args: [--region, us-east-1, eks, get-token, --cluster-name, geowp-us-east, --output, json]\n      env:\n      - name: AWS_PROFILE\n        value: site\ncontexts:\n- name: east\n  context:\n    cluster: c1\n    user: u1\ncurrent-context: east\n";
        let c = parse(kc, None).unwrap().credentials(None).unwrap();
        assert_eq!(c.token, None);
        let e = c.exec.unwrap();
        assert_eq!(
            e.api_version.as_deref(),
            Some("client.authentication.k8s.io/v1beta1")
        );
        assert_eq!(e.command, "aws");
        assert_eq!(e.args[3], "get-token");
        assert_eq!(e.args.len(), 8);
        assert_eq!(e.env.get("AWS_PROFILE").map(String::as_str), Some("site"));
        // a token user has none
        assert!(parse(KC, None)
            .unwrap()
            .credentials(None)
            .unwrap()
            .exec
            .is_none());
    }

    #[test]
    fn what_is_not_a_kubeconfig_says_so() {
        assert!(parse(": [", None).unwrap_err().to_string().contains("line"));
        assert!(parse("kind: Deployment\n", None).is_err());
        assert!(parse("kind: Config\ncontexts: 3\n", None).is_err());
        let d = parse("kind: Config\n", None).unwrap();
        assert_eq!(d.check_context(None), Err(ReadError::NoCurrentContext));
    }

    #[test]
    fn file_references_resolve_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "CA-FILE").unwrap();
        let kc = KC.replace(
            "certificate-authority-data: Q0E=",
            "certificate-authority: ca.pem",
        );
        let c = parse(&kc, Some(dir.path()))
            .unwrap()
            .credentials(None)
            .unwrap();
        assert_eq!(c.ca_pem.as_deref(), Some("CA-FILE"));
        let e = parse(&kc, None).unwrap().credentials(None).unwrap_err();
        assert!(matches!(e, ReadError::File { .. }), "{e}");
    }
}
