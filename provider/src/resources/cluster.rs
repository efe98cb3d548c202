//! The `cluster` settings every cluster-side resource carries (the stack's
//! block, each sync group member's attribute): the model, its checks across
//! attributes, reading it from a kubeconfig context (import), and the one
//! place cluster errors become diagnostics.

use geowp_common::error_chain;
use std::collections::BTreeMap;

use geowp_kube::{ClusterError, Connection, Exec};
use tfplugin::diag::{AttrPath, Diagnostics};
use tfplugin::{Model, Secret};

use tfplugin::validate::one_of;

use crate::validators::{api_server, certificate, exec_command, kubeconfig, private_key, token};

/// How to reach the cluster, usually straight from the resource that creates it. Give `host` with `cluster_ca_certificate` and a `token` or a client certificate and key; or a raw `kubeconfig` (and `context`). Values unknown until apply are fine: plan never contacts the cluster.
#[derive(Model, Clone, Debug, PartialEq, Default)]
pub struct ClusterModel {
    /// The API server URL, `https://...`.
    #[tf(validate = api_server())]
    pub host: Option<String>,
    /// PEM CA certificate the API server's certificate is checked against (base64-decode it if your source gives base64).
    #[tf(validate = certificate())]
    pub cluster_ca_certificate: Option<String>,
    /// Bearer token. A trailing newline (what `file("token")` gives) is dropped; other control characters are refused.
    #[tf(sensitive, validate = token())]
    pub token: Option<Secret<String>>,
    /// PEM client certificate (with `client_key`).
    #[tf(validate = certificate())]
    pub client_certificate: Option<String>,
    /// PEM client key (with `client_certificate`).
    #[tf(sensitive, validate = private_key())]
    pub client_key: Option<Secret<String>>,
    /// A whole kubeconfig as text, instead of `host` and credentials.
    #[tf(sensitive, validate = kubeconfig())]
    pub kubeconfig: Option<Secret<String>>,
    /// Context of `kubeconfig` to use; default its current context.
    pub context: Option<String>,
    /// **Insecure.** Skip checking the API server's certificate, and allow plain `http://` hosts. Only for throwaway test clusters.
    pub insecure_skip_tls_verify: Option<bool>,
    /// A credential plugin the provider runs for a token, again whenever the last one expires, instead of a fixed `token` (an EKS token lives 15 minutes, a GKE one an hour: less than a long first apply): the program, a name looked up on the PATH Terraform runs with (`aws`) or a path, as kubectl's `users[].user.exec.command`. With `exec_args`, e.g. `["eks", "get-token", "--cluster-name", NAME, "--region", REGION, "--output", "json"]`. It runs on the machine that runs Terraform, never interactively.
    #[tf(validate = exec_command())]
    pub exec_command: Option<String>,
    /// The credential plugin's arguments.
    pub exec_args: Option<Vec<String>>,
    /// The ExecCredential version the credential plugin speaks: `client.authentication.k8s.io/v1beta1` (aws, gke-gcloud-auth-plugin, kubelogin; the default) or `client.authentication.k8s.io/v1`.
    #[tf(validate = one_of(&["client.authentication.k8s.io/v1beta1", "client.authentication.k8s.io/v1"]))]
    pub exec_api_version: Option<String>,
    /// Environment variables the credential plugin gets besides Terraform's own, e.g. `{ AWS_PROFILE = "site" }`. Shown in plans: name a profile here, never a secret.
    pub exec_env: Option<BTreeMap<String, String>>,
}

/// The ExecCredential version assumed when `exec_api_version` is not given.
pub const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1beta1";

impl ClusterModel {
    pub fn connection(&self) -> Connection {
        let s = |x: &Option<Secret<String>>| x.as_ref().map(|s| s.expose().clone());
        Connection {
            host: self.host.clone(),
            ca_pem: self.cluster_ca_certificate.clone(),
            token: s(&self.token),
            client_cert_pem: self.client_certificate.clone(),
            client_key_pem: s(&self.client_key),
            kubeconfig: s(&self.kubeconfig),
            context: self.context.clone(),
            insecure: self.insecure_skip_tls_verify == Some(true),
            exec: self.exec_command.as_ref().map(|command| Exec {
                api_version: self
                    .exec_api_version
                    .clone()
                    .unwrap_or_else(|| EXEC_API_VERSION.into()),
                command: command.clone(),
                args: self.exec_args.clone().unwrap_or_default(),
                env: self.exec_env.clone().unwrap_or_default(),
            }),
        }
    }

    /// The settings of `context` in a kubeconfig, credentials embedded (import).
    pub fn from_kubeconfig(
        text: &str,
        context: &str,
    ) -> Result<ClusterModel, geowp_kubeconfig::ReadError> {
        let c = geowp_kubeconfig::parse(text, None)?.credentials(Some(context))?;
        Ok(ClusterModel {
            host: Some(c.server),
            cluster_ca_certificate: c.ca_pem,
            token: c.token.map(Secret::new),
            client_certificate: c.client_cert_pem,
            client_key: c.client_key_pem.map(Secret::new),
            kubeconfig: None,
            context: None,
            insecure_skip_tls_verify: c.insecure.then_some(true),
            exec_command: c.exec.as_ref().map(|e| e.command.clone()),
            exec_args: c.exec.as_ref().map(|e| e.args.clone()),
            exec_api_version: c.exec.as_ref().and_then(|e| e.api_version.clone()),
            exec_env: c
                .exec
                .as_ref()
                .filter(|e| !e.env.is_empty())
                .map(|e| e.env.clone()),
        })
    }
}

/// Whether a value is known to be absent / present (None: not known yet).
fn set<T>(v: &Option<Option<T>>) -> Option<bool> {
    v.as_ref().map(Option::is_some)
}

impl ClusterModelPartial {
    /// Checks across the settings, at `at` (the block's or attribute's path).
    pub fn check(&self, at: &AttrPath, d: &mut Diagnostics) {
        let p = |a: &str| at.clone().attr(a);
        match (set(&self.host), set(&self.kubeconfig)) {
            (Some(true), Some(true)) => d.error_at(
                p("kubeconfig"),
                "Two ways to connect",
                "set either host (with credentials) or kubeconfig, not both.",
            ),
            (Some(false), Some(false)) => d.error_at(
                p("host"),
                "No cluster address",
                "set host (with cluster_ca_certificate and a token or client certificate), or kubeconfig.",
            ),
            _ => {}
        }
        let insecure = self.insecure_skip_tls_verify.flatten() == Some(true);
        if let Some(Some(h)) = &self.host {
            if h.starts_with("http://") && !insecure {
                d.error_at(p("host"), "Plain HTTP refused", "the API server must be reached over https://; set insecure_skip_tls_verify = true only for a throwaway test cluster.");
            }
        }
        if insecure {
            d.warning_at(p("insecure_skip_tls_verify"), "Insecure connection", "the API server's identity is not checked: anyone on the path can read the credentials and secrets sent.");
        }
        if let (Some(c), Some(k)) = (set(&self.client_certificate), set(&self.client_key)) {
            if c != k {
                d.error_at(
                    p(if c {
                        "client_key"
                    } else {
                        "client_certificate"
                    }),
                    "Incomplete client credentials",
                    "client_certificate and client_key go together: set both or neither.",
                );
            }
        }
        if set(&self.host) == Some(true)
            && set(&self.kubeconfig) == Some(false)
            && set(&self.token) == Some(false)
            && set(&self.client_certificate) == Some(false)
            && set(&self.exec_command) == Some(false)
        {
            d.error_at(
                p("token"),
                "No credentials",
                "with host, set a token, exec_command (a credential plugin), or client_certificate and client_key.",
            );
        }
        if set(&self.token) == Some(true) && set(&self.exec_command) == Some(true) {
            d.error_at(
                p("exec_command"),
                "Two tokens",
                "token and exec_command both give the bearer token: keep exec_command (it renews the token) and remove token, or the other way round.",
            );
        }
        if set(&self.exec_command) == Some(false) {
            for (a, s) in [
                ("exec_args", set(&self.exec_args)),
                ("exec_api_version", set(&self.exec_api_version)),
                ("exec_env", set(&self.exec_env)),
            ] {
                if s == Some(true) {
                    d.error_at(p(a), "Credential plugin settings without a plugin", format!("{a} is for the program exec_command names, which is not set: set exec_command, or remove {a}."));
                }
            }
        }
        if set(&self.host) == Some(false) && set(&self.kubeconfig) == Some(true) {
            for (a, s) in [
                ("token", set(&self.token)),
                ("client_certificate", set(&self.client_certificate)),
                ("cluster_ca_certificate", set(&self.cluster_ca_certificate)),
                ("exec_command", set(&self.exec_command)),
            ] {
                if s == Some(true) {
                    d.error_at(p(a), "Credentials beside a kubeconfig", format!("{a} is ignored with kubeconfig: put it in the kubeconfig, or use host with {a} instead."));
                }
            }
        }
        // a kubeconfig known at plan: its context and credentials must work
        if let (Some(Some(text)), Some(ctx)) = (&self.kubeconfig, &self.context) {
            if let Ok(doc) = geowp_kubeconfig::parse(text.expose(), None) {
                match doc.credentials(ctx.as_deref()) {
                    Err(e) => d.error_at(
                        p(if ctx.is_some() { "context" } else { "kubeconfig" }),
                        "Unusable kubeconfig",
                        format!("{e}. Name a context the kubeconfig has (context = ...), or set its current-context."),
                    ),
                    Ok(c) => {
                        if let Some(t) = &c.token {
                            if let Err(e) = geowp_kube::clean_token(t) {
                                d.error_at(p("kubeconfig"), "Invalid token", format!("the kubeconfig's user token: {e}."));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One cluster error as a diagnostic: `who` names the member or stack, `what`
/// says what was being done. Settings errors point at `settings`.
/// A refresh that cannot reach the cluster: a warning naming the member,
/// so the rest of the site can still be planned and applied (the moment a
/// region is lost is the moment Terraform must still work). State is kept.
/// Anything else is [`diagnose`]d as usual.
pub fn diagnose_refresh(
    e: &ClusterError,
    settings: &AttrPath,
    who: &str,
    what: &str,
    d: &mut Diagnostics,
) {
    let chain = error_chain(e);
    match e {
        ClusterError::Unreachable { .. } if !e.untrusted() => {}
        ClusterError::Timeout { .. } => {}
        _ => return diagnose(e, settings, who, what, d),
    }
    d.warning_at(
        settings.clone(),
        "Region unreachable",
        format!("{chain} ({who}, while {what}). Its state is kept as of the last refresh, and the other regions are planned and applied as usual; an apply that must change this stack fails for it alone until its cluster answers. If the region is lost for good, remove it from the site (README, section The life of a site)."),
    );
}

pub fn diagnose(e: &ClusterError, settings: &AttrPath, who: &str, what: &str, d: &mut Diagnostics) {
    let chain = error_chain(e);
    match e {
        ClusterError::Cancelled => d.error(
            "Interrupted",
            format!("Terraform asked the provider to stop while {what} ({who}). Run apply again to finish; state records what was done."),
        ),
        ClusterError::Config(m) => d.error_at(
            settings.clone(),
            "Invalid cluster settings",
            format!("{m} ({who}). Fix the cluster settings and apply again."),
        ),
        ClusterError::Unreachable { .. } if e.untrusted() => d.error_at(
            settings.clone().attr("cluster_ca_certificate"),
            "Untrusted API server certificate",
            format!("{chain} ({who}, while {what}). The API server's certificate is not signed by cluster_ca_certificate, or not for this host: pass that cluster's own CA (and the host its certificate names)."),
        ),
        ClusterError::Unreachable { .. } => d.error(
            "Cluster unreachable",
            format!("{chain} ({who}, while {what}). Check the cluster's host and that the API server is up; state is kept as it was."),
        ),
        ClusterError::Timeout { .. } => d.error(
            "Timed out",
            format!("{chain} ({who}). Raise the timeouts block, or check the cluster."),
        ),
        ClusterError::Api { code: 409, .. } => d.error(
            "Conflict",
            format!("{chain} ({who}). Another field manager owns these fields; with force_conflicts = true (the default) geowp takes them back."),
        ),
        ClusterError::Api { code: 401 | 403, .. } => d.error_at(
            settings.clone(),
            "Not allowed",
            format!("{chain} ({who}). Check the credentials in the cluster settings and their rights."),
        ),
        ClusterError::Api { .. } => d.error(
            "Kubernetes API error",
            format!("{chain} ({who}, while {what})."),
        ),
        ClusterError::Job { .. } => d.error(
            "Job failed",
            format!("{chain} ({who}, while {what}). Look at the Job's pod and its log in the stack's namespace (kubectl describe job, kubectl logs)."),
        ),
    }
}

/// The kubeconfig import reads credentials from: the first file of
/// `$KUBECONFIG`, else `~/.kube/config`. None (with an error) if unreadable.
pub fn import_kubeconfig(diags: &mut Diagnostics) -> Option<String> {
    let path = std::env::var("KUBECONFIG")
        .ok()
        .and_then(|k| k.split(':').next().map(std::path::PathBuf::from))
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".kube/config"))
        });
    let text = path.as_ref().and_then(|p| std::fs::read_to_string(p).ok());
    if text.is_none() {
        diags.error(
            "No kubeconfig",
            format!(
                "import reads the cluster's credentials from $KUBECONFIG (or ~/.kube/config); could not read {}.",
                path.map(|p| p.display().to_string()).unwrap_or_default()
            ),
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tfplugin::Value;

    fn partial(pairs: &[(&str, Value)]) -> ClusterModelPartial {
        let mut v = Value::object([
            ("host", Value::Null),
            ("cluster_ca_certificate", Value::Null),
            ("token", Value::Null),
            ("client_certificate", Value::Null),
            ("client_key", Value::Null),
            ("kubeconfig", Value::Null),
            ("context", Value::Null),
            ("insecure_skip_tls_verify", Value::Null),
        ]);
        for (k, x) in pairs {
            v.set(k, x.clone());
        }
        ClusterModel::partial(&v, &AttrPath::default())
    }

    fn problems(p: &ClusterModelPartial) -> Vec<String> {
        let mut d = Diagnostics::new();
        p.check(&AttrPath::root("cluster"), &mut d);
        d.0.iter()
            .map(|x| {
                format!(
                    "{} {}",
                    x.path.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                    x.summary
                )
            })
            .collect()
    }

    #[test]
    fn cross_checks_name_the_attribute() {
        assert_eq!(
            problems(&partial(&[])),
            vec!["cluster.host No cluster address"]
        );
        assert_eq!(
            problems(&partial(&[
                ("host", Value::str("https://h")),
                ("kubeconfig", Value::str("x"))
            ])),
            vec!["cluster.kubeconfig Two ways to connect"]
        );
        assert_eq!(
            problems(&partial(&[
                ("host", Value::str("http://h")),
                ("token", Value::str("t"))
            ])),
            vec!["cluster.host Plain HTTP refused"]
        );
        assert_eq!(
            problems(&partial(&[
                ("host", Value::str("https://h")),
                ("client_certificate", Value::str("c"))
            ])),
            vec!["cluster.client_key Incomplete client credentials"]
        );
        assert_eq!(
            problems(&partial(&[("host", Value::str("https://h"))])),
            vec!["cluster.token No credentials"]
        );
        // unknown values are not refused
        assert!(problems(&partial(&[
            ("host", Value::Unknown),
            ("token", Value::Unknown)
        ]))
        .is_empty());
    }

    #[test]
    fn a_known_kubeconfig_must_have_the_context() {
        let kc = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://h\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: east\n  context:\n    cluster: c\n    user: u\n";
        assert!(problems(&partial(&[
            ("kubeconfig", Value::str(kc)),
            ("context", Value::str("east"))
        ]))
        .is_empty());
        assert_eq!(
            problems(&partial(&[
                ("kubeconfig", Value::str(kc)),
                ("context", Value::str("west"))
            ])),
            vec!["cluster.context Unusable kubeconfig"]
        );
        assert_eq!(
            problems(&partial(&[("kubeconfig", Value::str(kc))])),
            vec!["cluster.kubeconfig Unusable kubeconfig"],
            "no context and no current-context"
        );
    }
}
