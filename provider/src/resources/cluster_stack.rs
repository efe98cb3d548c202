//! `geowp_cluster_stack`: one region of the site, installed into a cluster
//! Terraform already created. Schema and model first, then validate, plan,
//! create/update (one `converge`), read (drift per object), delete, import.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value as Json;
use tfplugin::diag::{AttrPath, Diagnostics};
use tfplugin::plan::{timeouts, timeouts_block};
use tfplugin::provider::{Ctx, Resource};
use tfplugin::{
    Attribute, Block, NestedBlock, Nesting, PlanRules, Schema, TimeoutDefaults, Type, Value,
};
use tokio::time::Instant;

use super::b64d;
use crate::cluster::conditions::{drift, needs_wait, Readiness};
use crate::cluster::{self, Cluster, ClusterError, Connection, ObjRef};
use crate::render::{
    self, Images, Member, Obj, Secrets, StackSpec, Storage, SyncthingSecrets, CONFIG_ANNOTATION,
    FIELD_MANAGER, MANAGED_BY, MEMBER_LABEL,
};
use crate::resources::site::{valid_name, SALT_NAMES};
use kube::api::PatchParams;

pub struct ClusterStack;

const TIMEOUTS: TimeoutDefaults = TimeoutDefaults {
    create: Duration::from_secs(1200),
    update: Duration::from_secs(1200),
    delete: Duration::from_secs(600),
};
const IN_SYNC: &str = "in sync";

fn defaults() -> Vec<(&'static str, Value)> {
    vec![
        ("namespace", Value::str("geowp")),
        ("tidb_version", Value::str(render::DEFAULT_TIDB_VERSION)),
        (
            "wordpress_image",
            Value::str(render::DEFAULT_WORDPRESS_IMAGE),
        ),
        (
            "syncthing_image",
            Value::str(render::DEFAULT_SYNCTHING_IMAGE),
        ),
        (
            "nfs_provisioner_image",
            Value::str(render::DEFAULT_NFS_IMAGE),
        ),
        (
            "mysql_client_image",
            Value::str(render::DEFAULT_MYSQL_CLIENT_IMAGE),
        ),
        ("busybox_image", Value::str(render::DEFAULT_BUSYBOX_IMAGE)),
        ("pd_storage_size", Value::str("10Gi")),
        ("tikv_storage_size", Value::str("50Gi")),
        ("tidb_storage_size", Value::str("5Gi")),
        ("nfs_storage_size", Value::str("20Gi")),
        ("wp_content_size", Value::str("10Gi")),
        ("syncthing_config_size", Value::str("1Gi")),
        ("tidb_replicas", Value::int(1)),
        ("wordpress_replicas", Value::int(2)),
        ("wordpress_service_type", Value::str("LoadBalancer")),
        ("peer_service_type", Value::str("LoadBalancer")),
        ("folder_id", Value::str("wp-content")),
        ("force_conflicts", Value::Bool(true)),
        ("wait_for_rollout", Value::Bool(true)),
    ]
}

fn opt(name: &str, ty: Type, desc: &str) -> Attribute {
    let d = defaults()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v);
    let desc = match d {
        Some(Value::String(s)) => format!("{desc} Default `{s}`."),
        Some(Value::Number(n)) => format!("{desc} Default `{n}`."),
        Some(Value::Bool(b)) => format!("{desc} Default `{b}`."),
        _ => desc.to_string(),
    };
    Attribute::optional_computed(name, ty, &desc)
}

fn cluster_block() -> NestedBlock {
    NestedBlock::new(
        "cluster",
        Nesting::Single,
        super::cluster_attributes().into_iter().fold(
            Block::new("How to reach the cluster, usually straight from the resource that creates it. Give `host` with `cluster_ca_certificate` and a `token` or a client certificate and key; or a raw `kubeconfig` (and `context`). Values unknown until apply are fine: plan never contacts the cluster."),
            Block::attr,
        ),
    )
    .items(1, 1)
}

fn member_attrs() -> Vec<Attribute> {
    vec![
        Attribute::required(
            "pd_client_url",
            Type::String,
            "URL other regions reach this member's PD client port at, e.g. `http://10.0.0.5:2379`.",
        ),
        Attribute::required(
            "pd_peer_url",
            Type::String,
            "URL other regions reach this member's PD peer port at, e.g. `http://10.0.0.5:2380`.",
        ),
        Attribute::required(
            "tikv_address",
            Type::String,
            "`host:port` other regions reach this member's TiKV at, e.g. `10.0.0.6:20160`.",
        ),
        Attribute::required(
            "syncthing_address",
            Type::String,
            "`tcp://host:port` other regions reach this member's SyncThing at.",
        ),
    ]
}

fn inventory_type() -> Type {
    Type::list(Type::object([
        ("api_version", Type::String),
        ("kind", Type::String),
        ("namespace", Type::String),
        ("name", Type::String),
        ("uid", Type::String),
    ]))
}

// ------------------------------------------------------------------ model

fn connection(v: &Value) -> Option<Connection> {
    super::connection_of(v.get("cluster"))
}

/// The value of `name`, or its default when null.
fn get_or_default(v: &Value, name: &str) -> Value {
    match v.get(name) {
        Value::Null => defaults()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| d)
            .unwrap_or(Value::Null),
        x => x.clone(),
    }
}

fn s(v: &Value, name: &str) -> Option<String> {
    get_or_default(v, name).as_str().map(String::from)
}

fn n(v: &Value, name: &str) -> Option<i32> {
    get_or_default(v, name)
        .as_i64()
        .and_then(|x| i32::try_from(x).ok())
}

/// The rendering model, or None while anything it needs is unknown.
fn spec(v: &Value) -> Option<StackSpec> {
    let members_v = v.get("members");
    if !members_v.is_wholly_known() {
        return None;
    }
    let mut members = BTreeMap::new();
    for (k, m) in members_v.as_map()? {
        members.insert(
            k.clone(),
            Member {
                pd_client_url: m.get("pd_client_url").as_str()?.into(),
                pd_peer_url: m.get("pd_peer_url").as_str()?.into(),
                tikv_address: m.get("tikv_address").as_str()?.into(),
                syncthing_address: m.get("syncthing_address").as_str()?.into(),
            },
        );
    }
    let member = v.get("member").as_str()?.to_string();
    let class = match v.get("storage_class") {
        Value::Unknown => return None,
        Value::Null => None,
        x => Some(x.as_str()?.to_string()),
    };
    Some(StackSpec {
        site: v.get("site_name").as_str()?.into(),
        zone: match v.get("zone") {
            Value::Null => member.clone(),
            z => z.as_str()?.into(),
        },
        member,
        namespace: s(v, "namespace")?,
        members,
        site_url: v.get("site_url").as_str()?.into(),
        images: Images {
            tidb_version: s(v, "tidb_version")?,
            wordpress: s(v, "wordpress_image")?,
            syncthing: s(v, "syncthing_image")?,
            nfs_provisioner: s(v, "nfs_provisioner_image")?,
            mysql_client: s(v, "mysql_client_image")?,
            busybox: s(v, "busybox_image")?,
        },
        storage: Storage {
            class,
            pd_size: s(v, "pd_storage_size")?,
            tikv_size: s(v, "tikv_storage_size")?,
            tidb_size: s(v, "tidb_storage_size")?,
            nfs_size: s(v, "nfs_storage_size")?,
            wp_content_size: s(v, "wp_content_size")?,
            syncthing_config_size: s(v, "syncthing_config_size")?,
        },
        tidb_replicas: n(v, "tidb_replicas")?,
        wordpress_replicas: n(v, "wordpress_replicas")?,
        wordpress_service_type: s(v, "wordpress_service_type")?,
        wordpress_node_port: match v.get("wordpress_node_port") {
            Value::Unknown => return None,
            Value::Null => None,
            x => Some(i32::try_from(x.as_i64()?).ok()?),
        },
        peer_service_type: s(v, "peer_service_type")?,
        folder_id: s(v, "folder_id")?,
    })
}

fn secrets(v: &Value) -> Option<Secrets> {
    let salts = v.get("wordpress_salts");
    if !salts.is_wholly_known() {
        return None;
    }
    Some(Secrets {
        tidb_root_password: v.get("tidb_root_password").as_str()?.into(),
        wordpress_db_password: v.get("wordpress_db_password").as_str()?.into(),
        salts: salts
            .as_map()?
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect(),
    })
}

/// Keys of the objects a configuration renders (secrets do not change them).
fn object_keys(spec: &StackSpec) -> Vec<String> {
    let dummy = Secrets {
        tidb_root_password: String::new(),
        wordpress_db_password: String::new(),
        salts: SALT_NAMES
            .iter()
            .map(|n| (n.to_string(), String::new()))
            .collect(),
    };
    let st = SyncthingSecrets {
        cert_pem: String::new(),
        key_pem: String::new(),
        device_id: String::new(),
        api_key: String::new(),
    };
    render::render(spec, &dummy, &st)
        .iter()
        .map(Obj::key)
        .collect()
}

// ------------------------------------------------------------------ validation

fn is_quantity(s: &str) -> bool {
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    num_end > 0
        && s[..num_end].parse::<f64>().is_ok()
        && [
            "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E",
        ]
        .contains(&&s[num_end..])
}

fn url_host_port(url: &str, schemes: &[&str]) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    if !schemes.contains(&scheme) {
        return false;
    }
    host_port_ok(rest.trim_end_matches('/'))
}

fn host_port_ok(hp: &str) -> bool {
    match hp.rsplit_once(':') {
        Some((h, p)) => {
            !h.is_empty()
                && !h.contains('/')
                && !h.contains(' ')
                && p.parse::<u16>().is_ok_and(|p| p > 0)
        }
        None => false,
    }
}

fn safe_secret(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || "'\"\\$`".contains(c))
}

fn validate_config(c: &Value, d: &mut Diagnostics) {
    let p = AttrPath::root;
    let str_of = |name: &str| c.get(name).as_str();
    if let Some(m) = str_of("member") {
        if !valid_name(m) {
            d.error_at(p("member"), "Invalid member name", format!("{m:?} is not a DNS label: use 1 to 40 lowercase letters, digits and '-', e.g. \"us-east\"."));
        }
    }
    if let Some(ns) = str_of("namespace") {
        if ns.is_empty()
            || ns.len() > 63
            || !ns
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            || ns.starts_with('-')
            || ns.ends_with('-')
        {
            d.error_at(
                p("namespace"),
                "Invalid namespace",
                format!("{ns:?} is not a Kubernetes namespace name (a DNS label)."),
            );
        }
    }
    if let Some(z) = str_of("zone") {
        if z.is_empty()
            || z.len() > 63
            || !z
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            d.error_at(p("zone"), "Invalid zone", format!("{z:?} is not a valid label value: letters, digits, '-', '_' and '.', at most 63."));
        }
    }
    if let Some(u) = str_of("site_url") {
        if !(u.starts_with("https://") || u.starts_with("http://")) || u.contains('\'') {
            d.error_at(
                p("site_url"),
                "Invalid site URL",
                format!("{u:?} must be the site's public URL, e.g. \"https://blog.example.com\"."),
            );
        }
    }
    if let Some(members) = c.get("members").as_map() {
        if members.len() < 3 && c.get("members").is_wholly_known() {
            d.error_at(p("members"), "Too few members", format!("a site needs at least 3 members so that TiDB (3 replicas, one per region) keeps quorum when a region is lost; {} given.", members.len()));
        }
        if let Some(me) = str_of("member") {
            if c.get("members").is_wholly_known() && !members.contains_key(me) {
                d.error_at(
                    p("members"),
                    "Member missing from members",
                    format!(
                        "members must list every member of the site, this one ({me:?}) included."
                    ),
                );
            }
        }
        for (k, m) in members {
            if !valid_name(k) {
                d.error_at(
                    p("members").key(k),
                    "Invalid member name",
                    format!("{k:?} is not a DNS label."),
                );
            }
            for (attr, ok, example) in [
                (
                    "pd_client_url",
                    m.get("pd_client_url")
                        .as_str()
                        .map(|u| url_host_port(u, &["http", "https"])),
                    "http://10.0.0.5:2379",
                ),
                (
                    "pd_peer_url",
                    m.get("pd_peer_url")
                        .as_str()
                        .map(|u| url_host_port(u, &["http", "https"])),
                    "http://10.0.0.5:2380",
                ),
                (
                    "tikv_address",
                    m.get("tikv_address").as_str().map(host_port_ok),
                    "10.0.0.6:20160",
                ),
                (
                    "syncthing_address",
                    m.get("syncthing_address")
                        .as_str()
                        .map(|u| url_host_port(u, &["tcp"])),
                    "tcp://10.0.0.7:22000",
                ),
            ] {
                if ok == Some(false) {
                    d.error_at(
                        p("members").key(k).attr(attr),
                        "Invalid address",
                        format!(
                            "{:?} is not of the form {example}.",
                            m.get(attr).as_str().unwrap_or("")
                        ),
                    );
                }
            }
        }
    }
    for size in [
        "pd_storage_size",
        "tikv_storage_size",
        "tidb_storage_size",
        "nfs_storage_size",
        "wp_content_size",
        "syncthing_config_size",
    ] {
        if let Some(q) = str_of(size) {
            if !is_quantity(q) {
                d.error_at(
                    p(size),
                    "Invalid size",
                    format!("{q:?} is not a Kubernetes quantity such as \"10Gi\"."),
                );
            }
        }
    }
    for (attr, lo, hi) in [("tidb_replicas", 1, 20), ("wordpress_replicas", 1, 100)] {
        let v = c.get(attr);
        if v.is_known() && !v.is_null() && !v.as_i64().is_some_and(|x| (lo..=hi).contains(&x)) {
            d.error_at(
                p(attr),
                "Invalid replica count",
                format!("{attr} must be a whole number from {lo} to {hi}."),
            );
        }
    }
    let np = c.get("wordpress_node_port");
    if np.is_known() && !np.is_null() && !np.as_i64().is_some_and(|p| (30000..=32767).contains(&p))
    {
        d.error_at(
            p("wordpress_node_port"),
            "Invalid node port",
            "wordpress_node_port must be from 30000 to 32767.",
        );
    }
    for attr in ["wordpress_service_type", "peer_service_type"] {
        if let Some(t) = str_of(attr) {
            if !["ClusterIP", "NodePort", "LoadBalancer"].contains(&t) {
                d.error_at(
                    p(attr),
                    "Invalid service type",
                    format!("{t:?} must be ClusterIP, NodePort or LoadBalancer."),
                );
            }
        }
    }
    for attr in [
        "wordpress_image",
        "syncthing_image",
        "nfs_provisioner_image",
        "mysql_client_image",
        "busybox_image",
    ] {
        if let Some(i) = str_of(attr) {
            let last = i.rsplit('/').next().unwrap_or("");
            if i.is_empty() || i.contains(' ') || !(last.contains(':') || i.contains('@')) {
                d.error_at(
                    p(attr),
                    "Image not pinned",
                    format!("{i:?} must name a tag or digest, e.g. \"repo/name:1.2.3\"."),
                );
            }
        }
    }
    if let Some(v) = str_of("tidb_version") {
        if !v.starts_with('v') || v.contains(' ') {
            d.error_at(
                p("tidb_version"),
                "Invalid TiDB version",
                format!("{v:?} must be a TiDB image tag such as \"v8.5.1\"."),
            );
        }
    }
    for attr in ["tidb_root_password", "wordpress_db_password"] {
        if let Some(pw) = str_of(attr) {
            if !safe_secret(pw) || pw.len() < 12 {
                d.error_at(p(attr), "Unusable password", "use at least 12 characters, none of them quotes, backslashes, '$', '`' or spaces (geowp_site's passwords qualify).");
            }
        }
    }
    if let Some(salts) = c.get("wordpress_salts").as_map() {
        if c.get("wordpress_salts").is_wholly_known() {
            let missing: Vec<&str> = SALT_NAMES
                .iter()
                .copied()
                .filter(|n| {
                    salts
                        .get(*n)
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                })
                .collect();
            if !missing.is_empty() {
                d.error_at(p("wordpress_salts"), "Missing WordPress salts", format!("wordpress_salts needs non-empty {}; pass geowp_site.<name>.wordpress_salts.", missing.join(", ")));
            }
        }
    }
    let cl = c.get("cluster");
    let cp = |a: &str| AttrPath::root("cluster").attr(a);
    let known = |a: &str| cl.get(a).is_known();
    let set = |a: &str| !cl.get(a).is_null();
    if known("host") && known("kubeconfig") {
        match (set("host"), set("kubeconfig")) {
            (true, true) => d.error_at(cp("kubeconfig"), "Two ways to connect", "set either host (with credentials) or kubeconfig, not both."),
            (false, false) if !cl.is_null() => d.error_at(cp("host"), "No cluster address", "set cluster.host (with cluster_ca_certificate and a token or client certificate), or cluster.kubeconfig."),
            _ => {}
        }
    }
    let insecure = cl.get("insecure_skip_tls_verify").as_bool() == Some(true);
    if let Some(h) = cl.get("host").as_str() {
        if h.starts_with("http://") && !insecure {
            d.error_at(cp("host"), "Plain HTTP refused", "the API server must be reached over https://; set insecure_skip_tls_verify = true only for a throwaway test cluster.");
        } else if !h.starts_with("https://") && !h.starts_with("http://") {
            d.error_at(
                cp("host"),
                "Invalid host",
                format!("{h:?} must be a URL such as \"https://203.0.113.10\"."),
            );
        }
    }
    if insecure {
        d.warning_at(cp("insecure_skip_tls_verify"), "Insecure connection", "the API server's identity is not checked: anyone on the path can read the credentials and secrets sent.");
    }
    if let Some(ca) = cl.get("cluster_ca_certificate").as_str() {
        if !ca.contains("-----BEGIN CERTIFICATE-----") {
            d.error_at(cp("cluster_ca_certificate"), "Invalid CA certificate", "expected PEM text starting with -----BEGIN CERTIFICATE----- (base64-decode it if your source gives base64).");
        }
    }
    if known("client_certificate")
        && known("client_key")
        && set("client_certificate") != set("client_key")
    {
        d.error_at(
            cp("client_key"),
            "Incomplete client credentials",
            "client_certificate and client_key go together.",
        );
    }
    if known("host")
        && set("host")
        && known("token")
        && known("client_certificate")
        && !set("token")
        && !set("client_certificate")
    {
        d.error_at(
            cp("token"),
            "No credentials",
            "with cluster.host, set a token or client_certificate and client_key.",
        );
    }
}

// ------------------------------------------------------------------ helpers

fn cluster_diag(e: &ClusterError, what: &str, d: &mut Diagnostics) {
    match e {
        ClusterError::Cancelled => d.error("Interrupted", format!("Terraform asked the provider to stop while {what}. Run apply again to finish; state records what was done.")),
        ClusterError::Config(m) => d.error_at(AttrPath::root("cluster"), "Invalid cluster settings", m.clone()),
        ClusterError::Unreachable { .. } => d.error("Cluster unreachable", format!("{e} (while {what}). Check cluster.host and that the API server is up; state is kept as it was.")),
        ClusterError::Timeout { .. } => d.error("Timed out", format!("{e} (while {what}). Raise the timeouts block or check the cluster.")),
        ClusterError::Api { code: 409, .. } => d.error("Conflict", format!("{e}. Another field manager owns these fields; with force_conflicts = true (the default) geowp takes them back.")),
        ClusterError::Api { code: 401 | 403, .. } => d.error("Not allowed", format!("{e}. Check the credentials in the cluster block and their rights.")),
        ClusterError::Api { .. } => d.error("Kubernetes API error", format!("{e} (while {what}).")),
    }
}

fn random_key() -> String {
    let b: [u8; 24] = rand::random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The member's SyncThing identity and API key from its cluster, if there.
async fn load_syncthing(c: &Cluster, ns: &str) -> Result<Option<SyncthingSecrets>, ClusterError> {
    let st = super::read_syncthing(c, ns).await?;
    let (Some(cert_pem), Some(key_pem)) = (st.cert_pem, st.key_pem) else {
        return Ok(None);
    };
    let device_id = st.device_id.ok_or_else(|| {
        ClusterError::Config("the Secret syncthing-identity holds no usable certificate".into())
    })?;
    Ok(Some(SyncthingSecrets {
        cert_pem,
        key_pem,
        device_id,
        api_key: st.api_key.unwrap_or_else(random_key),
    }))
}

fn endpoint_of(svc: &Json) -> Option<String> {
    let ing = svc["status"]["loadBalancer"]["ingress"]
        .as_array()
        .and_then(|a| a.first());
    ing.and_then(|i| i["ip"].as_str().or(i["hostname"].as_str()))
        .or(svc["spec"]["clusterIP"].as_str())
        .map(|h| format!("http://{h}"))
}

fn inv_item(o: &Obj, uid: &str) -> Value {
    Value::object([
        ("api_version", Value::str(&o.id.api_version)),
        ("kind", Value::str(&o.id.kind)),
        ("namespace", Value::str(&o.id.namespace)),
        ("name", Value::str(&o.id.name)),
        ("uid", Value::str(uid)),
    ])
}

struct InvItem {
    api_version: String,
    kind: String,
    namespace: String,
    name: String,
}

fn inventory_of(v: &Value) -> Vec<InvItem> {
    v.get("inventory")
        .as_list()
        .unwrap_or(&[])
        .iter()
        .filter_map(|i| {
            Some(InvItem {
                api_version: i.get("api_version").as_str()?.into(),
                kind: i.get("kind").as_str()?.into(),
                namespace: i.get("namespace").as_str()?.into(),
                name: i.get("name").as_str()?.into(),
            })
        })
        .collect()
}

fn wave_of_kind(kind: &str) -> u8 {
    match kind {
        "Namespace" | "StorageClass" | "ClusterRole" | "ClusterRoleBinding" => 0,
        "Deployment" | "StatefulSet" | "Job" => 2,
        _ => 1,
    }
}

// ------------------------------------------------------------------ resource

#[tfplugin::async_trait]
impl Resource for ClusterStack {
    fn type_name(&self) -> &'static str {
        "geowp_cluster_stack"
    }

    fn schema(&self) -> Schema {
        let mut b = Block::new(
            "One region of a geo-distributed WordPress site, installed into a Kubernetes cluster: a TiDB member (PD, TiKV and TiDB server; all regions form one TiDB cluster with 3 replicas, one per region), an NFS provisioner serving a ReadWriteMany volume, WordPress on both, and SyncThing replicating `wp-content`. Objects are applied with server-side apply (field manager `geowp`); changes made behind Terraform's back show in `objects` at the next plan. Import with `terraform import ADDRESS CONTEXT/NAMESPACE/MEMBER`, CONTEXT naming a context of `$KUBECONFIG`.",
        )
        .attr(Attribute::computed("id", Type::String, "`NAMESPACE/MEMBER`."))
        .attr(Attribute::required("member", Type::String, "This region's member name, a DNS label (e.g. `us-east`). Changing it replaces the stack."))
        .attr(Attribute::optional("zone", Type::String, "Location label of this region for TiDB's replica placement (`zone`). Default: `member`."))
        .attr(opt("namespace", Type::String, "Namespace the stack lives in; geowp creates it and deletes it on destroy. Changing it replaces the stack."))
        .attr(Attribute::required("site_name", Type::String, "Name of the site (`geowp_site.NAME.name`)."))
        .attr(Attribute::required("site_url", Type::String, "Public URL of the site (WP_HOME and WP_SITEURL), e.g. `https://blog.example.com`."))
        .attr(Attribute::required("tidb_root_password", Type::String, "TiDB root password, the same in every region (`geowp_site.NAME.tidb_root_password`).").sensitive())
        .attr(Attribute::required("wordpress_db_password", Type::String, "Password of the `wordpress` database user (`geowp_site.NAME.wordpress_db_password`).").sensitive())
        .attr(Attribute::required("wordpress_salts", Type::map(Type::String), "The eight WordPress keys and salts (`geowp_site.NAME.wordpress_salts`).").sensitive())
        .attr(
            Attribute::required("members", Type::String, "Every member of the site, this one included, by member name, with the addresses other regions reach it at. Identical in every region: it makes PD's `--initial-cluster`.")
                .nested(Nesting::Map, member_attrs()),
        )
        .attr(opt("tidb_version", Type::String, "Image tag of PD, TiKV and TiDB (`pingcap/*`), one for all three."))
        .attr(opt("wordpress_image", Type::String, "WordPress image."))
        .attr(opt("syncthing_image", Type::String, "SyncThing image."))
        .attr(opt("nfs_provisioner_image", Type::String, "NFS provisioner image."))
        .attr(opt("mysql_client_image", Type::String, "Image with the `mysql` client, for the TiDB bootstrap Job."))
        .attr(opt("busybox_image", Type::String, "Small image with a shell, for SyncThing's config copy."))
        .attr(Attribute::optional("storage_class", Type::String, "StorageClass of the ReadWriteOnce volumes (PD, TiKV, TiDB, NFS export, SyncThing config). Default: the cluster's default. Changing it replaces the stack."))
        .attr(opt("pd_storage_size", Type::String, "PD volume size. Changing it replaces the stack."))
        .attr(opt("tikv_storage_size", Type::String, "TiKV volume size. Changing it replaces the stack."))
        .attr(opt("tidb_storage_size", Type::String, "TiDB server scratch volume size. Changing it replaces the stack."))
        .attr(opt("nfs_storage_size", Type::String, "Size of the NFS server's export volume. Changing it replaces the stack."))
        .attr(opt("wp_content_size", Type::String, "Size of the ReadWriteMany `wp-content` claim (can grow in place)."))
        .attr(opt("syncthing_config_size", Type::String, "Size of SyncThing's config volume."))
        .attr(opt("tidb_replicas", Type::Number, "TiDB server replicas in this region."))
        .attr(opt("wordpress_replicas", Type::Number, "WordPress replicas in this region."))
        .attr(opt("wordpress_service_type", Type::String, "Service type of WordPress: `ClusterIP`, `NodePort` or `LoadBalancer` (what the global load balancer targets)."))
        .attr(Attribute::optional("wordpress_node_port", Type::Number, "Fixed node port (30000-32767) of WordPress when `wordpress_service_type` is `NodePort`, for a global load balancer that targets node ports. Default: one Kubernetes picks."))
        .attr(opt("peer_service_type", Type::String, "Service type of the per-pod PD and TiKV Services and SyncThing's, which other regions dial."))
        .attr(opt("folder_id", Type::String, "SyncThing folder id of `wp-content`."))
        .attr(opt("force_conflicts", Type::Bool, "Take back fields another field manager changed (e.g. `kubectl edit`) instead of failing with a conflict."))
        .attr(opt("wait_for_rollout", Type::Bool, "Wait until workloads are rolled out, claims bound and load balancers have addresses."))
        .attr(Attribute::computed("wordpress_endpoint", Type::String, "Where WordPress answers in this region: its load balancer address (or cluster IP)."))
        .attr(Attribute::computed("health_check_path", Type::String, "Path the global load balancer should health-check: it answers 200 only when WordPress reaches the database."))
        .attr(Attribute::computed("tidb_endpoint", Type::String, "TiDB's MySQL endpoint inside the cluster."))
        .attr(Attribute::computed("syncthing_device_id", Type::String, "This member's SyncThing device ID (its key stays in the cluster)."))
        .attr(Attribute::computed("syncthing_address", Type::String, "This member's SyncThing peer address, from `members`."))
        .attr(Attribute::computed("objects", Type::map(Type::String), "Every object of the stack (`Kind/name`) and whether it is as applied; drift made outside Terraform shows here in plans."))
        .attr(Attribute::computed("inventory", inventory_type(), "What was applied: apiVersion, kind, namespace, name and uid of each object; destroy removes exactly these."));
        b = b.block(cluster_block()).block(timeouts_block(TIMEOUTS));
        Schema::new(0, b)
    }

    fn plan_rules(&self) -> PlanRules {
        PlanRules {
            requires_replace: vec![
                "member",
                "namespace",
                "storage_class",
                "pd_storage_size",
                "tikv_storage_size",
                "tidb_storage_size",
                "nfs_storage_size",
            ],
            keep_state_when_unknown: vec![
                "id",
                "tidb_endpoint",
                "syncthing_device_id",
                "health_check_path",
            ],
        }
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate_config(config, diags);
    }

    fn modify_plan(
        &self,
        prior: &Value,
        config: &Value,
        planned: &mut Value,
        diags: &mut Diagnostics,
    ) {
        if planned.is_null() {
            return;
        }
        validate_config(config, diags);
        for (name, d) in defaults() {
            if planned.get(name).is_null()
                || (config.get(name).is_null() && !planned.get(name).is_known())
            {
                planned.set(name, d);
            }
        }
        if let Some(m) = planned.get("member").as_str().map(String::from) {
            let addr = planned
                .get("members")
                .get(&m)
                .get("syncthing_address")
                .clone();
            planned.set(
                "syncthing_address",
                if planned.get("members").is_wholly_known() {
                    addr
                } else {
                    Value::Unknown
                },
            );
        }
        match (
            planned.get("namespace").as_str().map(String::from),
            planned.get("member").as_str().map(String::from),
        ) {
            (Some(ns), Some(m)) => {
                planned.set("id", Value::str(format!("{ns}/{m}")));
                planned.set(
                    "tidb_endpoint",
                    Value::str(format!("tidb.{ns}.svc.cluster.local:4000")),
                );
            }
            _ => {
                planned.set("id", Value::Unknown);
                planned.set("tidb_endpoint", Value::Unknown);
            }
        }
        planned.set("health_check_path", Value::str("/geowp-health.php"));
        let objects = match spec(planned) {
            Some(sp) => Value::Map(
                object_keys(&sp)
                    .into_iter()
                    .map(|k| (k, Value::str(IN_SYNC)))
                    .collect(),
            ),
            None => Value::Unknown,
        };
        planned.set("objects", objects);
        if prior.is_null() {
            for c in ["inventory", "wordpress_endpoint", "syncthing_device_id"] {
                planned.set(c, Value::Unknown);
            }
        } else if planned != prior {
            // an apply will run: what it re-creates gets new uids
            planned.set("inventory", Value::Unknown);
            planned.set("wordpress_endpoint", Value::Unknown);
            if prior
                .get("objects")
                .get("Secret/syncthing-identity")
                .as_str()
                != Some(IN_SYNC)
            {
                planned.set("syncthing_device_id", Value::Unknown);
            }
        }
    }

    async fn create(&self, ctx: &mut Ctx, planned: &Value, diags: &mut Diagnostics) -> Value {
        converge(ctx, &Value::Null, planned, diags).await
    }

    async fn update(
        &self,
        ctx: &mut Ctx,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Value {
        converge(ctx, prior, planned, diags).await
    }

    async fn read(&self, ctx: &mut Ctx, state: &Value, diags: &mut Diagnostics) -> Value {
        read_stack(ctx, state, diags).await
    }

    async fn delete(&self, ctx: &mut Ctx, prior: &Value, diags: &mut Diagnostics) {
        destroy(ctx, prior, diags).await
    }

    async fn import(&self, ctx: &mut Ctx, id: &str, diags: &mut Diagnostics) -> Value {
        import_stack(ctx, id, diags).await
    }
}

// ------------------------------------------------------------------ apply

async fn converge(ctx: &mut Ctx, prior: &Value, planned: &Value, diags: &mut Diagnostics) -> Value {
    let creating = prior.is_null();
    let (Some(conn), Some(sp), Some(sec)) = (connection(planned), spec(planned), secrets(planned))
    else {
        diags.error("Unknown values at apply", "some settings of the stack are still unknown at apply time; this is a bug in geowp or Terraform, please report it.");
        return prior.clone();
    };
    let limit = if creating {
        timeouts(planned, TIMEOUTS).create
    } else {
        timeouts(planned, TIMEOUTS).update
    };
    let deadline = Instant::now() + limit;
    let force = planned.get("force_conflicts").as_bool().unwrap_or(true);
    let cluster = match cluster::connect(&conn, deadline, ctx.cancel.clone()).await {
        Ok(c) => c,
        Err(e) => {
            cluster_diag(&e, "connecting", diags);
            return if creating { Value::Null } else { prior.clone() };
        }
    };
    // a namespace we did not make is not ours to fill and later delete
    match cluster
        .get(&ObjRef::new("v1", "Namespace", "", &sp.namespace))
        .await
    {
        Ok(Some(ns)) => {
            let labels = &ns["metadata"]["labels"];
            if labels[MANAGED_BY] != "geowp" || labels[MEMBER_LABEL] != sp.member.as_str() {
                diags.error_at(
                    AttrPath::root("namespace"),
                    "Namespace not managed by this stack",
                    format!("namespace {:?} already exists on {} and is not geowp's stack for member {:?}; choose another namespace, or import the stack if it is one.", sp.namespace, cluster.name, sp.member),
                );
                return if creating { Value::Null } else { prior.clone() };
            }
        }
        Ok(None) => {}
        Err(e) => {
            cluster_diag(&e, "reading the namespace", diags);
            return if creating { Value::Null } else { prior.clone() };
        }
    }
    let st = match load_syncthing(&cluster, &sp.namespace).await {
        Ok(Some(st)) => st,
        Ok(None) => match geowp_syncthing::identity::generate() {
            Ok(id) => SyncthingSecrets {
                cert_pem: id.cert_pem,
                key_pem: id.key_pem,
                device_id: id.device_id,
                api_key: random_key(),
            },
            Err(e) => {
                diags.error("Cannot make a SyncThing identity", e.to_string());
                return if creating { Value::Null } else { prior.clone() };
            }
        },
        Err(e) => {
            cluster_diag(&e, "reading SyncThing's identity", diags);
            return if creating { Value::Null } else { prior.clone() };
        }
    };
    let objs = render::render(&sp, &sec, &st);
    let mut inventory: BTreeMap<String, Value> = BTreeMap::new();
    for i in prior.get("inventory").as_list().unwrap_or(&[]) {
        if let (Some(k), Some(n)) = (i.get("kind").as_str(), i.get("name").as_str()) {
            inventory.insert(format!("{k}/{n}"), i.clone());
        }
    }
    let mut objects: BTreeMap<String, Value> = objs
        .iter()
        .map(|o| (o.key(), Value::str("not applied yet")))
        .collect();
    let mut failed = false;
    for wave in geowp_kube::Wave::ALL {
        let batch: Vec<&Obj> = objs.iter().filter(|o| o.wave() == wave).collect();
        let results = futures_util::future::join_all(batch.iter().map(|o| {
            let c = cluster.clone();
            async move {
                if o.create_only {
                    match c.get(&o.id).await {
                        Ok(Some(live)) => return Ok(live),
                        Ok(None) => {}
                        Err(e) => return Err(e),
                    }
                }
                c.apply(
                    o,
                    &if force {
                        PatchParams::apply(FIELD_MANAGER).force()
                    } else {
                        PatchParams::apply(FIELD_MANAGER)
                    },
                )
                .await
            }
        }))
        .await;
        for (o, r) in batch.iter().zip(results) {
            match r {
                Ok(live) => {
                    inventory.insert(
                        o.key(),
                        inv_item(o, live["metadata"]["uid"].as_str().unwrap_or("")),
                    );
                    objects.insert(o.key(), Value::str(IN_SYNC));
                }
                Err(e) => {
                    failed = true;
                    objects.insert(o.key(), Value::str(format!("not applied: {e}")));
                    cluster_diag(&e, &format!("applying {}", o.key()), diags);
                }
            }
        }
        if failed {
            break; // later waves depend on this one
        }
    }
    // objects we made before and no longer render (e.g. a replaced Job)
    if !failed {
        let keep: std::collections::BTreeSet<String> = objs.iter().map(Obj::key).collect();
        for stale in inventory_of(prior)
            .into_iter()
            .filter(|i| !keep.contains(&format!("{}/{}", i.kind, i.name)))
        {
            match cluster
                .delete(
                    &ObjRef::new(
                        &stale.api_version,
                        &stale.kind,
                        &stale.namespace,
                        &stale.name,
                    ),
                    None,
                )
                .await
            {
                Ok(_) => {
                    inventory.remove(&format!("{}/{}", stale.kind, stale.name));
                }
                Err(e) => cluster_diag(
                    &e,
                    &format!(
                        "deleting {}/{} which the stack no longer has",
                        stale.kind, stale.name
                    ),
                    diags,
                ),
            }
        }
    }
    let wait = planned.get("wait_for_rollout").as_bool().unwrap_or(true);
    if !failed && wait {
        let waits = objs
            .iter()
            .filter(|o| needs_wait(&o.id.kind, &o.body))
            .map(|o| {
                let c = cluster.clone();
                async move {
                    (
                        o,
                        c.wait(&o.id, cluster::conditions::is_rolled_out(&o.id.kind))
                            .await,
                    )
                }
            });
        let results = futures_util::future::join_all(waits).await;
        let mut not_ready = Vec::new();
        for (o, r) in results {
            match r {
                Ok(Readiness::Ready) => {}
                Ok(Readiness::Failed(why)) => {
                    diags.error("Rollout failed", format!("{} on {}: {why}. Fix the cause (image, resources, storage) and apply again.", o.key(), cluster.name));
                }
                Ok(Readiness::Waiting(last)) => not_ready.push(format!("{}: {last}", o.key())),
                Err(ClusterError::Cancelled) => {
                    cluster_diag(&ClusterError::Cancelled, "waiting for the rollout", diags);
                    break;
                }
                Err(e) => {
                    cluster_diag(&e, &format!("waiting for {}", o.key()), diags);
                }
            }
        }
        if !not_ready.is_empty() {
            diags.error(
                "Timed out waiting for the stack",
                format!("after {}, on {}, not ready:\n  {}\nRaise timeouts.{} if the cluster is slow, or look at these objects (kubectl describe).", tfplugin::plan::fmt_duration(limit), cluster.name, not_ready.join("\n  "), if creating { "create" } else { "update" }),
            );
        }
    }
    let endpoint = match cluster
        .get(&ObjRef::new("v1", "Service", &sp.namespace, "wordpress"))
        .await
    {
        Ok(Some(svc)) => endpoint_of(&svc).map(Value::String).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    // Even after a failure this is the truth: what was applied is in the
    // inventory and `objects` says what is not, so the next apply converges.
    let mut state = planned.clone();
    state.set("objects", Value::Map(objects));
    state.set("inventory", Value::List(inventory.into_values().collect()));
    state.set("wordpress_endpoint", endpoint);
    state.set("syncthing_device_id", Value::str(&st.device_id));
    tracing::info!(member = %sp.member, cluster = %cluster.name, "stack converged");
    state
}

// ------------------------------------------------------------------ read

async fn read_stack(ctx: &mut Ctx, state: &Value, diags: &mut Diagnostics) -> Value {
    let (Some(conn), Some(sp), Some(sec)) = (connection(state), spec(state), secrets(state)) else {
        return state.clone();
    };
    let deadline = Instant::now() + Duration::from_secs(120).min(timeouts(state, TIMEOUTS).update);
    let cluster = match cluster::connect(&conn, deadline, ctx.cancel.clone()).await {
        Ok(c) => c,
        Err(e) => {
            cluster_diag(&e, "connecting to refresh the stack", diags);
            return state.clone();
        }
    };
    match cluster
        .get(&ObjRef::new("v1", "Namespace", "", &sp.namespace))
        .await
    {
        Ok(None) => {
            tracing::info!(namespace = %sp.namespace, "stack namespace gone: removing from state");
            return Value::Null;
        }
        Ok(Some(_)) => {}
        Err(e) => {
            cluster_diag(&e, "refreshing the stack", diags);
            return state.clone();
        }
    }
    let st = match load_syncthing(&cluster, &sp.namespace).await {
        Ok(s) => s,
        Err(e) => {
            cluster_diag(&e, "reading SyncThing's identity", diags);
            return state.clone();
        }
    };
    let placeholder = SyncthingSecrets {
        cert_pem: String::new(),
        key_pem: String::new(),
        device_id: String::new(),
        api_key: String::new(),
    };
    let objs = render::render(&sp, &sec, st.as_ref().unwrap_or(&placeholder));
    let lives = futures_util::future::join_all(objs.iter().map(|o| {
        let c = cluster.clone();
        async move { c.get(&o.id).await }
    }))
    .await;
    let mut objects = BTreeMap::new();
    // keyed like converge's, so the order is the same and refresh shows no noise
    let mut inventory = BTreeMap::new();
    for (o, live) in objs.iter().zip(lives) {
        let status = match live {
            Err(e) => {
                cluster_diag(&e, &format!("reading {}", o.key()), diags);
                return state.clone();
            }
            Ok(None) => "missing: deleted outside Terraform".to_string(),
            Ok(Some(l)) => {
                inventory.insert(
                    o.key(),
                    inv_item(o, l["metadata"]["uid"].as_str().unwrap_or("")),
                );
                let desired = if o.create_only
                    || (o.id.name == "syncthing-config" && o.id.kind == "Secret" && st.is_none())
                {
                    None
                } else {
                    Some(&o.body)
                };
                match desired.and_then(|d| drift(d, &l, o.secret)) {
                    None => IN_SYNC.to_string(),
                    Some(d) => format!("changed outside Terraform: {d}"),
                }
            }
        };
        objects.insert(o.key(), Value::String(status));
    }
    let mut new = state.clone();
    new.set("objects", Value::Map(objects));
    new.set("inventory", Value::List(inventory.into_values().collect()));
    if let Some(st) = st {
        new.set("syncthing_device_id", Value::str(st.device_id));
    }
    if let Ok(Some(svc)) = cluster
        .get(&ObjRef::new("v1", "Service", &sp.namespace, "wordpress"))
        .await
    {
        new.set(
            "wordpress_endpoint",
            endpoint_of(&svc).map(Value::String).unwrap_or(Value::Null),
        );
    }
    new
}

// ------------------------------------------------------------------ delete

async fn destroy(ctx: &mut Ctx, prior: &Value, diags: &mut Diagnostics) {
    let Some(conn) = connection(prior) else {
        diags.error(
            "Unknown cluster",
            "the stack's cluster settings are unknown; cannot destroy it.",
        );
        return;
    };
    let limit = timeouts(prior, TIMEOUTS).delete;
    let deadline = Instant::now() + limit;
    let cluster = match cluster::connect(&conn, deadline, ctx.cancel.clone()).await {
        Ok(c) => c,
        Err(e) => return cluster_diag(&e, "connecting to destroy the stack", diags),
    };
    let ns = prior
        .get("namespace")
        .as_str()
        .unwrap_or("geowp")
        .to_string();
    let member = prior.get("member").as_str().unwrap_or("").to_string();
    let mut items = inventory_of(prior);
    // claims made by the StatefulSets from their templates are the stack's too
    match cluster
        .list(
            "v1",
            "PersistentVolumeClaim",
            &ns,
            &format!("{MANAGED_BY}=geowp,{MEMBER_LABEL}={member}"),
        )
        .await
    {
        Ok(pvcs) => {
            for p in pvcs {
                let name = p["metadata"]["name"].as_str().unwrap_or("").to_string();
                if !items
                    .iter()
                    .any(|i| i.kind == "PersistentVolumeClaim" && i.name == name)
                {
                    items.push(InvItem {
                        api_version: "v1".into(),
                        kind: "PersistentVolumeClaim".into(),
                        namespace: ns.clone(),
                        name,
                    });
                }
            }
        }
        Err(e) if e.code() == Some(404) => {}
        Err(e) => return cluster_diag(&e, "listing the stack's claims", diags),
    }
    // reverse waves; namespace last among namespaced, cluster-scoped at the very end
    let order = |i: &InvItem| -> u8 {
        match (wave_of_kind(&i.kind), i.kind.as_str()) {
            (2, _) => 0,
            (_, "Namespace") => 2,
            (1, _) => 1,
            _ => 3,
        }
    };
    for step in 0..=3u8 {
        let batch: Vec<&InvItem> = items.iter().filter(|i| order(i) == step).collect();
        let dels = futures_util::future::join_all(batch.iter().map(|i| {
            let c = cluster.clone();
            async move {
                (
                    i,
                    c.delete(
                        &ObjRef::new(&i.api_version, &i.kind, &i.namespace, &i.name),
                        None,
                    )
                    .await,
                )
            }
        }))
        .await;
        let mut errs = false;
        for (i, r) in dels {
            if let Err(e) = r {
                errs = true;
                cluster_diag(&e, &format!("deleting {}/{}", i.kind, i.name), diags);
            }
        }
        if errs {
            return;
        }
        let waits = futures_util::future::join_all(batch.iter().map(|i| {
            let c = cluster.clone();
            async move {
                (
                    i,
                    c.wait(
                        &ObjRef::new(&i.api_version, &i.kind, &i.namespace, &i.name),
                        cluster::conditions::is_deleted(""),
                    )
                    .await,
                )
            }
        }))
        .await;
        let mut blocked = Vec::new();
        for (i, r) in waits {
            match r {
                Ok(Readiness::Ready) => {}
                Ok(Readiness::Waiting(why)) | Ok(Readiness::Failed(why)) => {
                    blocked.push(format!("{}/{}: {why}", i.kind, i.name))
                }
                Err(e) => {
                    cluster_diag(
                        &e,
                        &format!("waiting for {}/{} to go", i.kind, i.name),
                        diags,
                    );
                    return;
                }
            }
        }
        if !blocked.is_empty() {
            diags.error(
                "Destroy blocked",
                format!("after {}, on {}, still present:\n  {}\nRemove what holds them (often a finalizer of a controller that is gone), then destroy again.", tfplugin::plan::fmt_duration(limit), cluster.name, blocked.join("\n  ")),
            );
            return;
        }
    }
}

// ------------------------------------------------------------------ import

async fn import_stack(ctx: &mut Ctx, id: &str, diags: &mut Diagnostics) -> Value {
    let parts: Vec<&str> = id.rsplitn(3, '/').collect();
    let [member, ns, context] = parts.as_slice() else {
        diags.error("Invalid import id", format!("{id:?} is not CONTEXT/NAMESPACE/MEMBER, e.g. gke-us-east/geowp/us-east (CONTEXT is a context of $KUBECONFIG)."));
        return Value::Null;
    };
    let Some(text) = super::import_kubeconfig(diags) else {
        return Value::Null;
    };
    let Some(cluster_v) = super::cluster_from_kubeconfig(&text, context) else {
        diags.error("Unknown context", format!("context {context:?} is not in the kubeconfig, or its cluster or user is incomplete."));
        return Value::Null;
    };
    let Some(conn) = connection(&Value::object([("cluster", cluster_v.clone())])) else {
        return Value::Null;
    };
    let cluster = match cluster::connect(
        &conn,
        Instant::now() + Duration::from_secs(120),
        ctx.cancel.clone(),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            cluster_diag(&e, "connecting for import", diags);
            return Value::Null;
        }
    };
    let nsobj = match cluster.get(&ObjRef::new("v1", "Namespace", "", ns)).await {
        Ok(Some(n)) => n,
        Ok(None) => {
            diags.error(
                "No such stack",
                format!("namespace {ns:?} does not exist on {}.", cluster.name),
            );
            return Value::Null;
        }
        Err(e) => {
            cluster_diag(&e, "reading the namespace", diags);
            return Value::Null;
        }
    };
    let Some(sp) = nsobj["metadata"]["annotations"][CONFIG_ANNOTATION]
        .as_str()
        .and_then(|s| serde_json::from_str::<StackSpec>(s).ok())
        .filter(|sp| sp.member == *member)
    else {
        diags.error("Not a geowp stack", format!("namespace {ns:?} holds no geowp stack for member {member:?} (annotation {CONFIG_ANNOTATION} missing or for another member)."));
        return Value::Null;
    };
    let secret = match cluster
        .get(&ObjRef::new("v1", "Secret", ns, "site-secrets"))
        .await
    {
        Ok(Some(s)) => s,
        Ok(None) => {
            diags.error("Incomplete stack", "the stack's site-secrets Secret is missing, so its passwords cannot be imported; apply a new stack instead.");
            return Value::Null;
        }
        Err(e) => {
            cluster_diag(&e, "reading the site secrets", diags);
            return Value::Null;
        }
    };
    let data = &secret["data"];
    let salts: BTreeMap<String, Value> = SALT_NAMES
        .iter()
        .filter_map(|n| Some((n.to_string(), Value::String(b64d(&data[*n])?))))
        .collect();
    let members: BTreeMap<String, Value> = sp
        .members
        .iter()
        .map(|(k, m)| {
            (
                k.clone(),
                Value::object([
                    ("pd_client_url", Value::str(&m.pd_client_url)),
                    ("pd_peer_url", Value::str(&m.pd_peer_url)),
                    ("tikv_address", Value::str(&m.tikv_address)),
                    ("syncthing_address", Value::str(&m.syncthing_address)),
                ]),
            )
        })
        .collect();
    let s = |x: &str| Value::str(x);
    let zone = if sp.zone == sp.member {
        Value::Null
    } else {
        s(&sp.zone)
    };
    Value::object([
        ("id", s(&format!("{ns}/{member}"))),
        ("cluster", cluster_v),
        ("member", s(&sp.member)),
        ("zone", zone),
        ("namespace", s(&sp.namespace)),
        ("site_name", s(&sp.site)),
        ("site_url", s(&sp.site_url)),
        (
            "tidb_root_password",
            b64d(&data["TIDB_ROOT_PASSWORD"])
                .map(Value::String)
                .unwrap_or(Value::Null),
        ),
        (
            "wordpress_db_password",
            b64d(&data["WORDPRESS_DB_PASSWORD"])
                .map(Value::String)
                .unwrap_or(Value::Null),
        ),
        ("wordpress_salts", Value::Map(salts)),
        ("members", Value::Map(members)),
        ("tidb_version", s(&sp.images.tidb_version)),
        ("wordpress_image", s(&sp.images.wordpress)),
        ("syncthing_image", s(&sp.images.syncthing)),
        ("nfs_provisioner_image", s(&sp.images.nfs_provisioner)),
        ("mysql_client_image", s(&sp.images.mysql_client)),
        ("busybox_image", s(&sp.images.busybox)),
        (
            "storage_class",
            sp.storage
                .class
                .as_deref()
                .map(Value::str)
                .unwrap_or(Value::Null),
        ),
        ("pd_storage_size", s(&sp.storage.pd_size)),
        ("tikv_storage_size", s(&sp.storage.tikv_size)),
        ("tidb_storage_size", s(&sp.storage.tidb_size)),
        ("nfs_storage_size", s(&sp.storage.nfs_size)),
        ("wp_content_size", s(&sp.storage.wp_content_size)),
        (
            "syncthing_config_size",
            s(&sp.storage.syncthing_config_size),
        ),
        ("tidb_replicas", Value::int(sp.tidb_replicas as i64)),
        (
            "wordpress_replicas",
            Value::int(sp.wordpress_replicas as i64),
        ),
        ("wordpress_service_type", s(&sp.wordpress_service_type)),
        (
            "wordpress_node_port",
            sp.wordpress_node_port
                .map(|p| Value::int(p as i64))
                .unwrap_or(Value::Null),
        ),
        ("peer_service_type", s(&sp.peer_service_type)),
        ("folder_id", s(&sp.folder_id)),
        ("force_conflicts", Value::Bool(true)),
        ("wait_for_rollout", Value::Bool(true)),
        ("health_check_path", s("/geowp-health.php")),
        (
            "tidb_endpoint",
            s(&format!("tidb.{ns}.svc.cluster.local:4000")),
        ),
        (
            "syncthing_address",
            sp.me()
                .map(|m| Value::str(&m.syncthing_address))
                .unwrap_or(Value::Null),
        ),
    ])
}

/// The `cluster` block equivalent of a kubeconfig context (host, CA, credentials).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_fully_described() {
        assert_eq!(
            ClusterStack.schema().block.missing_descriptions(""),
            Vec::<String>::new()
        );
    }

    #[test]
    fn quantities_and_addresses() {
        assert!(is_quantity("10Gi") && is_quantity("1.5Ti") && is_quantity("500M"));
        assert!(!is_quantity("10 GB") && !is_quantity("Gi") && !is_quantity(""));
        assert!(url_host_port("http://10.0.0.1:2379", &["http"]));
        assert!(!url_host_port("10.0.0.1:2379", &["http"]));
        assert!(!url_host_port("http://10.0.0.1", &["http"]));
        assert!(host_port_ok("tikv.example:20160") && !host_port_ok("tikv.example"));
    }

    #[test]
    fn cluster_block_from_kubeconfig_context() {
        let kc = "apiVersion: v1\nkind: Config\nclusters:\n- name: c1\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: Q0E=\nusers:\n- name: u1\n  user:\n    token: tok\ncontexts:\n- name: east\n  context:\n    cluster: c1\n    user: u1\ncurrent-context: east\n";
        let v = super::super::cluster_from_kubeconfig(kc, "east").unwrap();
        assert_eq!(v.get("host"), &Value::str("https://127.0.0.1:6443"));
        assert_eq!(v.get("cluster_ca_certificate"), &Value::str("CA"));
        assert_eq!(v.get("token"), &Value::str("tok"));
        assert!(super::super::cluster_from_kubeconfig(kc, "west").is_none());
    }
}
