//! Import by `CONTEXT,CONTEXT,...[/NAMESPACE]`, contexts of `$KUBECONFIG`.
//! Each member's name, device ID, peers and folder settings are read back
//! from the group config it holds; a member's address is the one the other
//! members dial it at.

use std::collections::BTreeMap;
use std::time::Duration;

use geowp_kube::{connect, ObjRef};
use geowp_syncthing::group::{self, b64d, GROUP_SECRET};
use tfplugin::diag::Diagnostics;
use tfplugin::provider::Ctx;
use tfplugin::{Timeouts, Val};
use tokio::time::Instant;

use super::model::{GroupMember, SyncGroupModel, TIMEOUTS};
use crate::resources::cluster::{diagnose, import_kubeconfig, ClusterModel};

pub async fn import(ctx: &mut Ctx, id: &str, diags: &mut Diagnostics) -> Option<SyncGroupModel> {
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
        return None;
    }
    let text = import_kubeconfig(diags)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut found = Vec::new();
    for c in &contexts {
        let settings = match ClusterModel::from_kubeconfig(&text, c) {
            Ok(s) => s,
            Err(e) => {
                diags.error(
                    "Unusable context",
                    format!("{e}. Import reads the members' credentials from $KUBECONFIG."),
                );
                return None;
            }
        };
        let cl = match connect(&settings.connection(), deadline, ctx.cancel.clone()).await {
            Ok(x) => x,
            Err(e) => {
                diagnose(
                    &e,
                    &tfplugin::AttrPath::root("members"),
                    &format!("context {c}"),
                    "connecting for import",
                    diags,
                );
                return None;
            }
        };
        let xml = match cl.get(&ObjRef::new("v1", "Secret", ns, GROUP_SECRET)).await {
            Ok(sec) => sec.and_then(|x| b64d(&x["data"]["config.xml"])),
            Err(e) => {
                diagnose(
                    &e,
                    &tfplugin::AttrPath::root("members"),
                    &format!("context {c}"),
                    "reading the group config",
                    diags,
                );
                return None;
            }
        };
        let Some(cfg) = xml.as_deref().and_then(geowp_syncthing::config::parse) else {
            diags.error("No group to import", format!("context {c:?} has no readable {GROUP_SECRET} Secret in namespace {ns:?}: it is in no sync group (create one with terraform apply, or `geowp-helper sync exchange`)."));
            return None;
        };
        found.push((settings, cfg));
    }
    let mut members = BTreeMap::new();
    for (settings, cfg) in &found {
        // how the others reach this member
        let address = found
            .iter()
            .flat_map(|(_, o)| o.peers.iter())
            .find(|p| p.id == cfg.self_id)
            .and_then(|p| p.addresses.first().cloned());
        let Some(address) = address else {
            diags.error("Incomplete group", format!("no other member lists {} ({}) as a peer; the contexts given are not one group.", cfg.self_name, cfg.self_id));
            return None;
        };
        let unless = |v: &str, d: &str| (v != d).then(|| v.to_string());
        members.insert(
            cfg.self_name.clone(),
            GroupMember {
                device_id: cfg.self_id.clone(),
                address,
                namespace: Some(ns.to_string()),
                cluster: settings.clone(),
                listen_address: unless(&cfg.listen_address, group::DEFAULT_LISTEN),
                gui_address: unless(&cfg.gui_address, group::DEFAULT_GUI),
                folder_path: unless(&cfg.folder_path, group::DEFAULT_FOLDER_PATH),
            },
        );
    }
    if members.len() != found.len() {
        diags.error(
            "Invalid group",
            "two contexts hold members with the same name.",
        );
        return None;
    }
    let first = &found[0].1;
    Some(SyncGroupModel {
        id: Val::Known(first.folder_id.clone()),
        device_ids: Val::Known(
            found
                .iter()
                .map(|(_, c)| (c.self_name.clone(), c.self_id.clone()))
                .collect(),
        ),
        // every member holds a config: all were written
        member_status: Val::Known(
            members
                .keys()
                .map(|n| (n.clone(), "imported".to_string()))
                .collect(),
        ),
        members,
        folder_id: first.folder_id.clone(),
        folder_label: (first.folder_label != first.folder_id).then(|| first.folder_label.clone()),
        rescan_interval_seconds: first.rescan_interval_s,
        watcher_delay_seconds: first.watcher_delay_s,
        timeouts: Timeouts::defaults(TIMEOUTS),
    })
}
