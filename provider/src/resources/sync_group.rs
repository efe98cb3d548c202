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

use geowp_syncthing::group::{self, Member, Settings, IN_SYNC};
use tfplugin::diag::{AttrPath, Diagnostics};
use tfplugin::plan::{timeouts, timeouts_block};
use tfplugin::provider::{Ctx, Resource};
use tfplugin::{Attribute, Block, Nesting, PlanRules, Schema, TimeoutDefaults, Type, Value};
use tokio::time::Instant;

use crate::cluster::{self, ClusterError};

pub struct SyncGroup;

pub use geowp_syncthing::group::{GROUP_MANAGER, GROUP_SECRET, HASH_ANNOTATION};
const TIMEOUTS: TimeoutDefaults = TimeoutDefaults {
    create: Duration::from_secs(300),
    update: Duration::from_secs(300),
    delete: Duration::from_secs(300),
};

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
                namespace: s("namespace", group::DEFAULT_NAMESPACE),
                listen_address: s("listen_address", group::DEFAULT_LISTEN),
                gui_address: s("gui_address", group::DEFAULT_GUI),
                folder_path: s("folder_path", group::DEFAULT_FOLDER_PATH),
                conn: super::connection_of(x.get("cluster"))?,
            })
        })
        .collect()
}

fn settings(v: &Value) -> Settings {
    let id = v
        .get("folder_id")
        .as_str()
        .unwrap_or(group::DEFAULT_FOLDER)
        .to_string();
    let label = v
        .get("folder_label")
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| id.clone());
    let n = |a: &str, d: u32| v.get(a).as_i64().map(|x| x as u32).unwrap_or(d);
    Settings {
        folder_id: id,
        folder_label: label,
        rescan_interval_s: n("rescan_interval_seconds", group::DEFAULT_RESCAN_S),
        watcher_delay_s: n("watcher_delay_seconds", group::DEFAULT_WATCHER_DELAY_S),
    }
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

#[tfplugin::async_trait]
impl Resource for SyncGroup {
    fn type_name(&self) -> &'static str {
        "geowp_sync_group"
    }

    fn schema(&self) -> Schema {
        let cluster = super::cluster_attributes();
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
                    if !geowp_syncthing::identity::is_valid_device_id(id) {
                        d.error_at(AttrPath::root("members").key(name).attr("device_id"), "Invalid device ID", format!("{id:?} is not a SyncThing device ID (8 groups of 7 characters with valid check characters)."));
                    }
                }
                if let Some(a) = m.get("address").as_str() {
                    if !geowp_syncthing::valid_peer_address(a) {
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
        let set = settings(state);
        let deadline = Instant::now() + Duration::from_secs(120);
        let results = futures_util::future::join_all(ms.iter().map(|m| {
            let (all, set, cancel) = (&ms, &set, ctx.cancel.clone());
            async move {
                let c = cluster::connect(&m.conn, deadline, cancel).await?;
                let status = group::check(&c, m, all, set).await?;
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

    async fn import(&self, ctx: &mut Ctx, id: &str, diags: &mut Diagnostics) -> Value {
        import_group(ctx, id, diags).await
    }

    async fn delete(&self, ctx: &mut Ctx, prior: &Value, diags: &mut Diagnostics) {
        let Some(ms) = members(prior) else { return };
        let deadline = Instant::now() + timeouts(prior, TIMEOUTS).delete;
        let results = futures_util::future::join_all(ms.iter().map(|m| {
            let cancel = ctx.cancel.clone();
            async move {
                let c = cluster::connect(&m.conn, deadline, cancel).await?;
                group::leave(&c, &m.namespace).await
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
    let set = settings(planned);
    let limit = if prior.is_null() {
        timeouts(planned, TIMEOUTS).create
    } else {
        timeouts(planned, TIMEOUTS).update
    };
    let deadline = Instant::now() + limit;
    let results = futures_util::future::join_all(ms.iter().map(|m| {
        let (all, set, cancel) = (&ms, &set, ctx.cancel.clone());
        async move {
            let c = cluster::connect(&m.conn, deadline, cancel).await?;
            group::join(&c, m, all, set).await
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
            group::leave(&c, &m.namespace).await
        }
    }))
    .await;
    let mut status = BTreeMap::new();
    for (m, r) in ms.iter().zip(results) {
        let s = match r {
            Ok(Ok(_)) => IN_SYNC.to_string(),
            Ok(Err(group::NotReady(why))) => {
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

/// Import id: `CONTEXT,CONTEXT,...[/NAMESPACE]`, contexts of $KUBECONFIG.
/// Each member's name, device ID, peers and folder settings are read back
/// from the group config it holds; a member's address is the one the other
/// members dial it at.
async fn import_group(ctx: &mut Ctx, id: &str, diags: &mut Diagnostics) -> Value {
    let (list, ns) = id
        .rsplit_once('/')
        .unwrap_or((id, group::DEFAULT_NAMESPACE));
    let contexts: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    if contexts.len() < 2 || ns.is_empty() {
        diags.error("Invalid import id", format!("{id:?} is not CONTEXT,CONTEXT,...[/NAMESPACE] with at least two contexts of $KUBECONFIG, e.g. gke-us,gke-eu,gke-ap/geowp."));
        return Value::Null;
    }
    let Some(text) = super::import_kubeconfig(diags) else {
        return Value::Null;
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut found = Vec::new();
    for c in &contexts {
        let Some(cv) = super::cluster_from_kubeconfig(&text, c) else {
            diags.error(
                "Unknown context",
                format!(
                    "context {c:?} is not in the kubeconfig, or its cluster or user is incomplete."
                ),
            );
            return Value::Null;
        };
        let Some(conn) = super::connection_of(&cv) else {
            return Value::Null;
        };
        let cl = match cluster::connect(&conn, deadline, ctx.cancel.clone()).await {
            Ok(x) => x,
            Err(e) => {
                diag(&e, c, "connecting for import", diags);
                return Value::Null;
            }
        };
        let xml = match cl
            .get(&cluster::ObjRef::new("v1", "Secret", ns, GROUP_SECRET))
            .await
        {
            Ok(sec) => sec.and_then(|x| super::b64d(&x["data"]["config.xml"])),
            Err(e) => {
                diag(&e, c, "reading the group config", diags);
                return Value::Null;
            }
        };
        let Some(cfg) = xml.as_deref().and_then(geowp_syncthing::config::parse) else {
            diags.error("No group to import", format!("context {c:?} has no readable {GROUP_SECRET} Secret in namespace {ns:?}: it is in no sync group (create one with terraform apply, or `geowp-helper sync exchange`)."));
            return Value::Null;
        };
        found.push((cv, cfg));
    }
    let mut members = BTreeMap::new();
    for (cv, cfg) in &found {
        // how the others reach this member
        let address = found
            .iter()
            .flat_map(|(_, o)| o.peers.iter())
            .find(|p| p.id == cfg.self_id)
            .and_then(|p| p.addresses.first().cloned());
        let Some(address) = address else {
            diags.error("Incomplete group", format!("no other member lists {} ({}) as a peer; the contexts given are not one group.", cfg.self_name, cfg.self_id));
            return Value::Null;
        };
        let unless = |v: &str, d: &str| if v == d { Value::Null } else { Value::str(v) };
        members.insert(
            cfg.self_name.clone(),
            Value::object([
                ("device_id", Value::str(&cfg.self_id)),
                ("address", Value::str(&address)),
                ("namespace", Value::str(ns)),
                ("cluster", cv.clone()),
                (
                    "listen_address",
                    unless(&cfg.listen_address, group::DEFAULT_LISTEN),
                ),
                ("gui_address", unless(&cfg.gui_address, group::DEFAULT_GUI)),
                (
                    "folder_path",
                    unless(&cfg.folder_path, group::DEFAULT_FOLDER_PATH),
                ),
            ]),
        );
    }
    if members.len() != found.len() {
        diags.error(
            "Invalid group",
            "two contexts hold members with the same name.",
        );
        return Value::Null;
    }
    let first = &found[0].1;
    let device_ids: BTreeMap<String, Value> = found
        .iter()
        .map(|(_, c)| (c.self_name.clone(), Value::str(&c.self_id)))
        .collect();
    Value::object([
        ("id", Value::str(&first.folder_id)),
        ("members", Value::Map(members)),
        ("folder_id", Value::str(&first.folder_id)),
        (
            "folder_label",
            if first.folder_label == first.folder_id {
                Value::Null
            } else {
                Value::str(&first.folder_label)
            },
        ),
        (
            "rescan_interval_seconds",
            Value::int(first.rescan_interval_s as i64),
        ),
        (
            "watcher_delay_seconds",
            Value::int(first.watcher_delay_s as i64),
        ),
        ("device_ids", Value::Map(device_ids)),
        ("member_status", Value::Map(BTreeMap::new())),
        ("timeouts", Value::Null),
    ])
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
}
