//! `geowp_sync_group`: joins the SyncThing instances of a site's regions
//! into one replication group. For every member it writes the complete
//! SyncThing configuration (every other member with its device ID and
//! address, the shared folder) into the Secret `syncthing-group` of that
//! member's cluster, and stamps its hash on the SyncThing Deployment's pod
//! template so the pod restarts with it. Everything goes through each
//! cluster's API server: no network path to the pods is needed. Work per
//! change is one write per member, all in parallel. Destroy deletes the
//! group configs: each SyncThing runs alone again, its data intact.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use tfplugin::diag::{AttrPath, Diagnostics};
use tfplugin::plan::{timeouts, timeouts_block};
use tfplugin::provider::{Ctx, Resource};
use tfplugin::{Attribute, Block, Nesting, PlanRules, Schema, TimeoutDefaults, Type, Value};
use tokio::time::Instant;

use super::b64d;
use crate::cluster::{self, ClusterError, Connection};
use crate::render::Obj;

pub struct SyncGroup;

pub const GROUP_SECRET: &str = "syncthing-group";
pub const GROUP_MANAGER: &str = "geowp-sync-group";
pub const HASH_ANNOTATION: &str = "geowp.dev/sync-group-config";
const TIMEOUTS: TimeoutDefaults = TimeoutDefaults {
    create: Duration::from_secs(300),
    update: Duration::from_secs(300),
    delete: Duration::from_secs(300),
};
const IN_SYNC: &str = "in sync";

/// One member as the group sees it.
#[derive(Clone, Debug)]
struct Member {
    name: String,
    device_id: String,
    address: String,
    namespace: String,
    listen_address: String,
    gui_address: String,
    folder_path: String,
    conn: Connection,
}

fn members(v: &Value) -> Option<Vec<Member>> {
    let m = v.get("members");
    if !m.is_wholly_known() {
        return None;
    }
    m.as_map()?
        .iter()
        .map(|(name, x)| {
            let s = |n: &str, d: &str| x.get(n).as_str().unwrap_or(d).to_string();
            Some(Member {
                name: name.clone(),
                device_id: x.get("device_id").as_str()?.into(),
                address: x.get("address").as_str()?.into(),
                namespace: s("namespace", "geowp"),
                listen_address: s("listen_address", "tcp://0.0.0.0:22000"),
                gui_address: s("gui_address", "127.0.0.1:8384"),
                folder_path: s("folder_path", "/var/syncthing/data"),
                conn: super::connection_of(x.get("cluster"))?,
            })
        })
        .collect()
}

fn folder(v: &Value) -> (String, String) {
    let id = v
        .get("folder_id")
        .as_str()
        .unwrap_or("wp-content")
        .to_string();
    let label = v
        .get("folder_label")
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| id.clone());
    (id, label)
}

/// The complete config.xml of `me` in a group of `all`.
fn config_for(
    me: &Member,
    all: &[Member],
    folder_id: &str,
    label: &str,
    api_key: &str,
    rescan: u32,
    delay: u32,
) -> String {
    geowp_helper::stconfig::render(&geowp_helper::stconfig::Config {
        self_id: me.device_id.clone(),
        self_name: me.name.clone(),
        peers: all
            .iter()
            .filter(|o| o.name != me.name)
            .map(|o| geowp_helper::stconfig::Device {
                id: o.device_id.clone(),
                name: o.name.clone(),
                addresses: vec![o.address.clone()],
            })
            .collect(),
        folder_id: folder_id.into(),
        folder_label: label.into(),
        folder_path: me.folder_path.clone(),
        listen_address: me.listen_address.clone(),
        gui_address: me.gui_address.clone(),
        api_key: api_key.into(),
        rescan_interval_s: rescan,
        watcher_delay_s: delay,
    })
}

fn hash(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

fn diag(e: &ClusterError, member: &str, what: &str, d: &mut Diagnostics) {
    let p = AttrPath::root("members").key(member);
    match e {
        ClusterError::Cancelled => d.error(
            "Interrupted",
            format!("Terraform asked the provider to stop while {what}; run apply again."),
        ),
        ClusterError::Unreachable { .. } => d.error_at(
            p,
            "Cluster unreachable",
            format!("{e} (member {member}, {what}). State is kept as it was."),
        ),
        _ => d.error_at(
            p,
            "Kubernetes API error",
            format!("{e} (member {member}, {what})."),
        ),
    }
}

/// What a member's cluster says: its API key (from the stack's config) and
/// the device ID of the identity it holds.
async fn member_facts(
    c: &cluster::Cluster,
    m: &Member,
) -> Result<(Option<String>, Option<String>), ClusterError> {
    let st = super::read_syncthing(c, &m.namespace).await?;
    Ok((st.api_key, st.device_id))
}

#[tfplugin::async_trait]
impl Resource for SyncGroup {
    fn type_name(&self) -> &'static str {
        "geowp_sync_group"
    }

    fn schema(&self) -> Schema {
        let cluster = vec![
            Attribute::optional("host", Type::String, "The API server URL."),
            Attribute::optional(
                "cluster_ca_certificate",
                Type::String,
                "PEM CA certificate of the API server.",
            ),
            Attribute::optional("token", Type::String, "Bearer token.").sensitive(),
            Attribute::optional(
                "client_certificate",
                Type::String,
                "PEM client certificate.",
            ),
            Attribute::optional("client_key", Type::String, "PEM client key.").sensitive(),
            Attribute::optional(
                "kubeconfig",
                Type::String,
                "A whole kubeconfig, instead of host and credentials.",
            )
            .sensitive(),
            Attribute::optional("context", Type::String, "Context of `kubeconfig`."),
            Attribute::optional(
                "insecure_skip_tls_verify",
                Type::Bool,
                "**Insecure.** Skip checking the API server's certificate.",
            ),
        ];
        let member = vec![
            Attribute::required("device_id", Type::String, "The member's SyncThing device ID (`geowp_cluster_stack.X.syncthing_device_id`)."),
            Attribute::required("address", Type::String, "Where the other members reach it, `tcp://host:port` (`geowp_cluster_stack.X.syncthing_address`)."),
            Attribute::optional("namespace", Type::String, "Namespace of the member's stack. Default `geowp`."),
            Attribute::required("cluster", Type::String, "How to reach the member's cluster: the same settings as the stack's `cluster` block.").nested(Nesting::Single, cluster),
            Attribute::optional("listen_address", Type::String, "Address SyncThing listens on. Default `tcp://0.0.0.0:22000` (the stack's pod); set it only where SyncThing runs elsewhere."),
            Attribute::optional("gui_address", Type::String, "Address of SyncThing's GUI and REST API. Default `127.0.0.1:8384` (never exposed)."),
            Attribute::optional("folder_path", Type::String, "Path of the shared folder. Default `/var/syncthing/data` (the stack's ReadWriteMany volume)."),
        ];
        Schema::new(
            0,
            Block::new(
                "The SyncThing replication group of a site: every member knows every other member's device ID and address and shares the `wp-content` folder with them, so media, themes and plugins written in one region appear in all. Take the members straight from the stacks in a `for_each`. Adding or removing a member rewrites every member's configuration (one write per member, in parallel); destroy leaves each SyncThing alone with its data.",
            )
            .attr(Attribute::computed("id", Type::String, "The folder id."))
            .attr(Attribute::required("members", Type::String, "The members by name, with their device ID, address and cluster.").nested(Nesting::Map, member))
            .attr(Attribute::optional_computed("folder_id", Type::String, "SyncThing folder id. Default `wp-content`."))
            .attr(Attribute::optional("folder_label", Type::String, "SyncThing folder label. Default: the folder id."))
            .attr(Attribute::optional_computed("rescan_interval_seconds", Type::Number, "Full rescan period, which catches writes made through other NFS clients (inotify does not see them). Default 60."))
            .attr(Attribute::optional_computed("watcher_delay_seconds", Type::Number, "Delay after a file change before it syncs. Default 1."))
            .attr(Attribute::computed("device_ids", Type::map(Type::String), "The device ID of each member."))
            .attr(Attribute::computed("member_status", Type::map(Type::String), "Per member: whether its live group configuration is as applied; drift made outside Terraform shows here in plans."))
            .block(timeouts_block(TIMEOUTS)),
        )
    }

    fn plan_rules(&self) -> PlanRules {
        PlanRules {
            requires_replace: vec![],
            keep_state_when_unknown: vec!["id"],
        }
    }

    fn validate(&self, config: &Value, d: &mut Diagnostics) {
        if let Some(ms) = config.get("members").as_map() {
            if ms.len() < 2 && config.get("members").is_wholly_known() {
                d.error_at(
                    AttrPath::root("members"),
                    "Too few members",
                    "a replication group needs at least 2 members.",
                );
            }
            for (name, m) in ms {
                if let Some(id) = m.get("device_id").as_str() {
                    if !geowp_helper::syncthing::is_valid_device_id(id) {
                        d.error_at(AttrPath::root("members").key(name).attr("device_id"), "Invalid device ID", format!("{id:?} is not a SyncThing device ID (8 groups of 7 characters with valid check characters)."));
                    }
                }
                if let Some(a) = m.get("address").as_str() {
                    let ok = a
                        .strip_prefix("tcp://")
                        .and_then(|r| r.rsplit_once(':'))
                        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
                    if !ok {
                        d.error_at(
                            AttrPath::root("members").key(name).attr("address"),
                            "Invalid address",
                            format!("{a:?} must be tcp://host:port."),
                        );
                    }
                }
            }
            let ids: Vec<&str> = ms
                .values()
                .filter_map(|m| m.get("device_id").as_str())
                .collect();
            let mut uniq = ids.clone();
            uniq.sort();
            uniq.dedup();
            if uniq.len() != ids.len() {
                d.error_at(
                    AttrPath::root("members"),
                    "Duplicate device ID",
                    "two members have the same device ID: an identity must never run twice.",
                );
            }
        }
        for (a, lo, hi) in [
            ("rescan_interval_seconds", 5, 86400),
            ("watcher_delay_seconds", 1, 600),
        ] {
            let v = config.get(a);
            if v.is_known() && !v.is_null() && !v.as_i64().is_some_and(|x| (lo..=hi).contains(&x)) {
                d.error_at(
                    AttrPath::root(a),
                    "Out of range",
                    format!("{a} must be from {lo} to {hi}."),
                );
            }
        }
    }

    fn modify_plan(
        &self,
        _prior: &Value,
        _config: &Value,
        planned: &mut Value,
        _d: &mut Diagnostics,
    ) {
        if planned.is_null() {
            return;
        }
        for (a, d) in [
            ("folder_id", Value::str("wp-content")),
            ("rescan_interval_seconds", Value::int(60)),
            ("watcher_delay_seconds", Value::int(1)),
        ] {
            if planned.get(a).is_null() || !planned.get(a).is_known() {
                planned.set(a, d);
            }
        }
        planned.set("id", planned.get("folder_id").clone());
        match members(planned) {
            Some(ms) => {
                planned.set(
                    "device_ids",
                    Value::Map(
                        ms.iter()
                            .map(|m| (m.name.clone(), Value::str(&m.device_id)))
                            .collect(),
                    ),
                );
                planned.set(
                    "member_status",
                    Value::Map(
                        ms.iter()
                            .map(|m| (m.name.clone(), Value::str(IN_SYNC)))
                            .collect(),
                    ),
                );
            }
            None => {
                planned.set("device_ids", Value::Unknown);
                planned.set("member_status", Value::Unknown);
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
        let Some(ms) = members(state) else {
            return state.clone();
        };
        let (fid, label) = folder(state);
        let rescan = state.get("rescan_interval_seconds").as_i64().unwrap_or(60) as u32;
        let delay = state.get("watcher_delay_seconds").as_i64().unwrap_or(1) as u32;
        let deadline = Instant::now() + Duration::from_secs(120);
        let results = futures_util::future::join_all(ms.iter().map(|m| {
            let all = ms.clone();
            let (fid, label, cancel) = (fid.clone(), label.clone(), ctx.cancel.clone());
            async move {
                let c = cluster::connect(&m.conn, deadline, cancel).await?;
                let (api_key, device) = member_facts(&c, m).await?;
                let live = c.get("v1", "Secret", &m.namespace, GROUP_SECRET).await?;
                let status = match (live.and_then(|s| b64d(&s["data"]["config.xml"])), api_key) {
                    (None, _) => {
                        "missing: the group config was deleted outside Terraform".to_string()
                    }
                    (Some(_), None) => {
                        "missing: the member's stack has no SyncThing config".to_string()
                    }
                    (Some(x), Some(k)) => {
                        if device.as_deref() != Some(m.device_id.as_str()) {
                            format!(
                                "device ID differs: the cluster's identity is {}",
                                device.unwrap_or_else(|| "missing".into())
                            )
                        } else if x != config_for(m, &all, &fid, &label, &k, rescan, delay) {
                            "changed outside Terraform: config.xml differs from the group's"
                                .to_string()
                        } else {
                            IN_SYNC.to_string()
                        }
                    }
                };
                Ok::<_, ClusterError>((m.name.clone(), status))
            }
        }))
        .await;
        let mut status = BTreeMap::new();
        for (m, r) in ms.iter().zip(results) {
            match r {
                Ok((n, s)) => {
                    status.insert(n, Value::String(s));
                }
                Err(e) => {
                    diag(&e, &m.name, "refreshing the group", diags);
                    return state.clone();
                }
            }
        }
        let mut new = state.clone();
        new.set("member_status", Value::Map(status));
        new
    }

    async fn delete(&self, ctx: &mut Ctx, prior: &Value, diags: &mut Diagnostics) {
        let Some(ms) = members(prior) else { return };
        let deadline = Instant::now() + timeouts(prior, TIMEOUTS).delete;
        let results = futures_util::future::join_all(ms.iter().map(|m| {
            let cancel = ctx.cancel.clone();
            async move {
                let c = cluster::connect(&m.conn, deadline, cancel).await?;
                c.delete("v1", "Secret", &m.namespace, GROUP_SECRET).await?;
                // give the annotation back: the pod restarts on its own config
                release_deployment(&c, &m.namespace).await
            }
        }))
        .await;
        for (m, r) in ms.iter().zip(results) {
            if let Err(e) = r {
                diag(&e, &m.name, "leaving the group", diags);
            }
        }
    }
}

fn deployment_stamp(ns: &str, hash: Option<&str>) -> Obj {
    let mut body = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "syncthing", "namespace": ns}});
    if let Some(h) = hash {
        body["spec"] = json!({"template": {"metadata": {"annotations": {HASH_ANNOTATION: h}}}});
    }
    Obj {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        namespace: ns.into(),
        name: "syncthing".into(),
        wave: 2,
        secret: false,
        create_only: false,
        body,
    }
}

/// Drops the group's fields from the SyncThing Deployment (apply of nothing).
async fn release_deployment(c: &cluster::Cluster, ns: &str) -> Result<(), ClusterError> {
    match c
        .apply_as(&deployment_stamp(ns, None), GROUP_MANAGER, true)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(404) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn converge(ctx: &mut Ctx, prior: &Value, planned: &Value, diags: &mut Diagnostics) -> Value {
    let fallback = if prior.is_null() {
        Value::Null
    } else {
        prior.clone()
    };
    let Some(ms) = members(planned) else {
        diags.error(
            "Unknown values at apply",
            "the group's members are still unknown at apply time; this is a bug, please report it.",
        );
        return fallback;
    };
    let (fid, label) = folder(planned);
    let rescan = planned
        .get("rescan_interval_seconds")
        .as_i64()
        .unwrap_or(60) as u32;
    let delay = planned.get("watcher_delay_seconds").as_i64().unwrap_or(1) as u32;
    let limit = if prior.is_null() {
        timeouts(planned, TIMEOUTS).create
    } else {
        timeouts(planned, TIMEOUTS).update
    };
    let deadline = Instant::now() + limit;
    let results = futures_util::future::join_all(ms.iter().map(|m| {
        let all = ms.clone();
        let (fid, label, cancel) = (fid.clone(), label.clone(), ctx.cancel.clone());
        async move {
            let c = cluster::connect(&m.conn, deadline, cancel).await?;
            let (api_key, device) = member_facts(&c, m).await?;
            let Some(api_key) = api_key else {
                return Ok(Err(format!("namespace {:?} on {} has no SyncThing configuration: is its geowp_cluster_stack applied?", m.namespace, c.name)));
            };
            if device.as_deref() != Some(m.device_id.as_str()) {
                return Ok(Err(format!("the cluster's SyncThing identity is {} but members[{:?}].device_id is {}; pass geowp_cluster_stack.<name>.syncthing_device_id", device.unwrap_or_else(|| "missing".into()), m.name, m.device_id)));
            }
            let xml = config_for(m, &all, &fid, &label, &api_key, rescan, delay);
            let secret = Obj {
                api_version: "v1".into(),
                kind: "Secret".into(),
                namespace: m.namespace.clone(),
                name: GROUP_SECRET.into(),
                wave: 1,
                secret: true,
                create_only: false,
                body: json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": GROUP_SECRET, "namespace": m.namespace,
                    "labels": {"app.kubernetes.io/managed-by": "geowp", "app.kubernetes.io/component": "syncthing"}},
                    "type": "Opaque", "data": {"config.xml": b64(&xml)}}),
            };
            c.apply_as(&secret, GROUP_MANAGER, true).await?;
            c.apply_as(&deployment_stamp(&m.namespace, Some(&hash(&xml))), GROUP_MANAGER, true).await?;
            Ok(Ok(()))
        }
    }))
    .await;
    // members dropped from the group leave it
    let removed: Vec<Member> = members(prior)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| !ms.iter().any(|m| m.name == p.name))
        .collect();
    let leaves = futures_util::future::join_all(removed.iter().map(|m| {
        let cancel = ctx.cancel.clone();
        async move {
            let c = cluster::connect(&m.conn, deadline, cancel).await?;
            c.delete("v1", "Secret", &m.namespace, GROUP_SECRET).await?;
            release_deployment(&c, &m.namespace).await
        }
    }))
    .await;
    let mut status = BTreeMap::new();
    for (m, r) in ms.iter().zip(results) {
        let s = match r {
            Ok(Ok(())) => IN_SYNC.to_string(),
            Ok(Err(why)) => {
                diags.error_at(
                    AttrPath::root("members").key(&m.name),
                    "Member not ready for the group",
                    why.clone(),
                );
                format!("not applied: {why}")
            }
            Err(e) => {
                diag(&e, &m.name, "writing the group configuration", diags);
                format!("not applied: {e}")
            }
        };
        status.insert(m.name.clone(), Value::String(s));
    }
    for (m, r) in removed.iter().zip(leaves) {
        if let Err(e) = r {
            diag(&e, &m.name, "removing a member from the group", diags);
        }
    }
    let mut state = planned.clone();
    state.set("member_status", Value::Map(status));
    tracing::info!(members = ms.len(), "sync group converged");
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_fully_described() {
        assert_eq!(
            SyncGroup.schema().block.missing_descriptions(""),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_member_gets_every_other_member() {
        let mk = |n: &str, id: &str| Member {
            name: n.into(),
            device_id: id.into(),
            address: format!("tcp://{n}:22000"),
            namespace: "geowp".into(),
            listen_address: "tcp://0.0.0.0:22000".into(),
            gui_address: "127.0.0.1:8384".into(),
            folder_path: "/data".into(),
            conn: Connection::default(),
        };
        let all = vec![mk("a", "AAA"), mk("b", "BBB"), mk("c", "CCC")];
        let x = config_for(&all[0], &all, "wp-content", "wp-content", "k", 60, 1);
        assert!(
            x.contains("<address>tcp://b:22000</address>")
                && x.contains("<address>tcp://c:22000</address>")
        );
        assert!(
            !x.contains("tcp://a:22000"),
            "a member does not list itself as a peer"
        );
        assert_eq!(x.matches("<device id=\"BBB\"").count(), 2);
    }
}
