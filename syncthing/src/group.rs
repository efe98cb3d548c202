//! The SyncThing replication group through the Kubernetes API, shared by
//! `geowp_sync_group` and `geowp-helper sync exchange|status`, so both write
//! exactly the same objects under the same field manager.
//!
//! For every member the group writes the complete SyncThing configuration
//! (every other member with its device ID and address, the shared folder)
//! into the Secret `syncthing-group` of that member's namespace, and stamps
//! its hash on the SyncThing Deployment's pod template so the pod restarts
//! with it. That is two writes per member, independent of the group's size.

use geowp_common::b64;
use geowp_common::names::{label, object, secret};
use geowp_kube::{Cluster, ClusterError, Connection, Obj, ObjRef};
use kube::api::PatchParams;
use serde_json::{json, Value as Json};

use crate::config as stconfig;

pub use geowp_common::names::{
    annotation::SYNC_GROUP_CONFIG as HASH_ANNOTATION, secret::SYNCTHING_GROUP as GROUP_SECRET,
    DEFAULT_NAMESPACE, GROUP_MANAGER,
};
pub const IN_SYNC: &str = "in sync";
/// The stack's SyncThing Deployment (the group stamps its pod template).
pub const SYNCTHING_DEPLOYMENT: &str = object::SYNCTHING;

pub const DEFAULT_LISTEN: &str = "tcp://0.0.0.0:22000";
pub const DEFAULT_GUI: &str = "127.0.0.1:8384";
pub const DEFAULT_FOLDER_PATH: &str = "/var/syncthing/data";
pub const DEFAULT_FOLDER: &str = "wp-content";
/// The full rescan: a safety net, since SyncThing watches the disk the NFS
/// server writes to and inotify sees every write.
pub const DEFAULT_RESCAN_S: u32 = 3600;
pub const DEFAULT_WATCHER_DELAY_S: u32 = 1;

/// One member as the group sees it.
#[derive(Clone, Debug)]
pub struct Member {
    pub name: String,
    pub device_id: String,
    /// Where the other members reach it, `tcp://host:port`.
    pub address: String,
    pub namespace: String,
    pub listen_address: String,
    pub gui_address: String,
    pub folder_path: String,
    pub conn: Connection,
}

/// The folder and its timing, the same for every member.
#[derive(Clone, Debug)]
pub struct Settings {
    pub folder_id: String,
    pub folder_label: String,
    pub rescan_interval_s: u32,
    pub watcher_delay_s: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            folder_id: DEFAULT_FOLDER.into(),
            folder_label: DEFAULT_FOLDER.into(),
            rescan_interval_s: DEFAULT_RESCAN_S,
            watcher_delay_s: DEFAULT_WATCHER_DELAY_S,
        }
    }
}

/// The complete config.xml of `me` in a group of `all`. Peers are listed
/// by name, so the text (and its hash) does not depend on the order the
/// members were given in.
pub fn config_for(me: &Member, all: &[Member], s: &Settings, api_key: &str) -> String {
    let mut peers: Vec<&Member> = all.iter().filter(|o| o.name != me.name).collect();
    peers.sort_by(|a, b| a.name.cmp(&b.name));
    stconfig::render(&stconfig::Config {
        self_id: me.device_id.clone(),
        self_name: me.name.clone(),
        peers: peers
            .into_iter()
            .map(|o| stconfig::Device {
                id: o.device_id.clone(),
                name: o.name.clone(),
                addresses: vec![o.address.clone()],
            })
            .collect(),
        folder_id: s.folder_id.clone(),
        folder_label: s.folder_label.clone(),
        folder_path: me.folder_path.clone(),
        listen_address: me.listen_address.clone(),
        gui_address: me.gui_address.clone(),
        api_key: api_key.into(),
        rescan_interval_s: s.rescan_interval_s,
        watcher_delay_s: s.watcher_delay_s,
    })
}

/// Short hash of a config, stamped on the pod template.
pub fn hash(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A Secret's base64 data value as text.
pub fn b64d(v: &Json) -> Option<String> {
    b64::decode_text(v.as_str()?)
}

/// What a stack keeps of SyncThing in its namespace, each part if there:
/// the identity (certificate, key, the device ID of the certificate) and the
/// GUI/REST API key of its config.
pub struct StackSyncthing {
    pub cert_pem: Option<String>,
    pub key_pem: Option<String>,
    pub device_id: Option<String>,
    pub api_key: Option<String>,
}

impl std::fmt::Debug for StackSyncthing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StackSyncthing({:?}, <redacted>)", self.device_id)
    }
}

pub async fn read_syncthing(c: &Cluster, ns: &str) -> Result<StackSyncthing, ClusterError> {
    let id = c
        .get(&ObjRef::new("v1", "Secret", ns, secret::SYNCTHING_IDENTITY))
        .await?;
    let cert_pem = id.as_ref().and_then(|s| b64d(&s["data"]["cert.pem"]));
    let key_pem = id.as_ref().and_then(|s| b64d(&s["data"]["key.pem"]));
    let device_id = cert_pem
        .as_deref()
        .and_then(|p| crate::identity::device_id_of_pem(p).ok());
    let api_key = c
        .get(&ObjRef::new("v1", "Secret", ns, secret::SYNCTHING_CONFIG))
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

/// The peer address a stack advertises: its `syncthing` Service's
/// load-balancer address (or the address it requests), on the Service's port.
pub async fn advertised_address(c: &Cluster, ns: &str) -> Result<Option<String>, ClusterError> {
    let Some(svc) = c
        .get(&ObjRef::new("v1", "Service", ns, object::SYNCTHING))
        .await?
    else {
        return Ok(None);
    };
    let port = svc["spec"]["ports"]
        .as_array()
        .and_then(|ps| {
            ps.iter()
                .find(|p| p["name"] == "sync" || p["port"] == 22000)
                .or(ps.first())
        })
        .and_then(|p| p["port"].as_u64())
        .unwrap_or(22000);
    let ingress = &svc["status"]["loadBalancer"]["ingress"][0];
    let host = ingress["ip"]
        .as_str()
        .or(ingress["hostname"].as_str())
        .or(svc["spec"]["loadBalancerIP"].as_str());
    Ok(host.map(|h| {
        if h.contains(':') {
            format!("tcp://[{h}]:{port}")
        } else {
            format!("tcp://{h}:{port}")
        }
    }))
}

fn deployment_stamp(ns: &str, hash: Option<&str>) -> Obj {
    let mut body = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "syncthing", "namespace": ns}});
    if let Some(h) = hash {
        body["spec"] = json!({"template": {"metadata": {"annotations": {HASH_ANNOTATION: h}}}});
    }
    Obj::raw(
        ObjRef::new("apps/v1", "Deployment", ns, object::SYNCTHING),
        body,
    )
}

fn params() -> PatchParams {
    PatchParams::apply(GROUP_MANAGER).force()
}

/// Why a member cannot join (its stack is missing or holds another identity).
#[derive(Debug, Clone, PartialEq)]
pub struct NotReady(pub String);

/// Writes `me`'s group configuration into its cluster and stamps its
/// Deployment: two writes. The outer error is the API's; the inner one says
/// why the member is not ready to join.
pub async fn join(
    c: &Cluster,
    me: &Member,
    all: &[Member],
    s: &Settings,
) -> Result<Result<String, NotReady>, ClusterError> {
    let st = read_syncthing(c, &me.namespace).await?;
    let Some(api_key) = st.api_key else {
        return Ok(Err(NotReady(format!(
            "namespace {:?} on {} has no SyncThing configuration: is its geowp_cluster_stack applied?",
            me.namespace, c.name
        ))));
    };
    if st.device_id.as_deref() != Some(me.device_id.as_str()) {
        return Ok(Err(NotReady(format!(
            "the cluster's SyncThing identity is {} but member {:?} was given {}; take it from geowp_cluster_stack.<name>.syncthing_device_id",
            st.device_id.unwrap_or_else(|| "missing".into()),
            me.name,
            me.device_id
        ))));
    }
    let xml = config_for(me, all, s, &api_key);
    let secret = Obj::raw(
        ObjRef::new("v1", "Secret", &me.namespace, GROUP_SECRET),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": GROUP_SECRET, "namespace": me.namespace,
            "labels": {label::MANAGED_BY: label::MANAGED_BY_VALUE, label::COMPONENT: object::SYNCTHING}},
            "type": "Opaque", "data": {"config.xml": b64::encode(&xml)}}),
    );
    let h = hash(&xml);
    c.apply(&secret, &params()).await?;
    c.apply(&deployment_stamp(&me.namespace, Some(&h)), &params())
        .await?;
    Ok(Ok(h))
}

/// Takes a member out of the group: deletes its group config and gives the
/// Deployment's annotation back, so SyncThing restarts alone on the stack's
/// own config, its data intact.
pub async fn leave(c: &Cluster, ns: &str) -> Result<(), ClusterError> {
    c.delete(&ObjRef::new("v1", "Secret", ns, GROUP_SECRET), None)
        .await?;
    match c.apply(&deployment_stamp(ns, None), &params()).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(404) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether a member's live group configuration is what the group would
/// write: [`IN_SYNC`], or what differs.
pub async fn check(
    c: &Cluster,
    me: &Member,
    all: &[Member],
    s: &Settings,
) -> Result<String, ClusterError> {
    let st = read_syncthing(c, &me.namespace).await?;
    let live = c
        .get(&ObjRef::new("v1", "Secret", &me.namespace, GROUP_SECRET))
        .await?;
    Ok(
        match (
            live.and_then(|x| b64d(&x["data"]["config.xml"])),
            st.api_key,
        ) {
            (None, _) => "missing: the group config was deleted outside Terraform".to_string(),
            (Some(_), None) => "missing: the member's stack has no SyncThing config".to_string(),
            (Some(x), Some(k)) => {
                if st.device_id.as_deref() != Some(me.device_id.as_str()) {
                    format!(
                        "device ID differs: the cluster's identity is {}",
                        st.device_id.unwrap_or_else(|| "missing".into())
                    )
                } else if x != config_for(me, all, s, &k) {
                    "changed outside Terraform: config.xml differs from the group's".to_string()
                } else {
                    IN_SYNC.to_string()
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk(n: &str, id: &str) -> Member {
        Member {
            name: n.into(),
            device_id: id.into(),
            address: format!("tcp://{n}:22000"),
            namespace: DEFAULT_NAMESPACE.into(),
            listen_address: DEFAULT_LISTEN.into(),
            gui_address: DEFAULT_GUI.into(),
            folder_path: "/data".into(),
            conn: Connection::default(),
        }
    }

    #[test]
    fn each_member_gets_every_other_member() {
        let all = vec![mk("a", "AAA"), mk("b", "BBB"), mk("c", "CCC")];
        let x = config_for(&all[0], &all, &Settings::default(), "k");
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

    #[test]
    fn the_hash_follows_the_config() {
        let all = vec![mk("a", "AAA"), mk("b", "BBB")];
        let s = Settings::default();
        let x = config_for(&all[0], &all, &s, "k");
        assert_eq!(hash(&x), hash(&x.clone()));
        assert_ne!(hash(&x), hash(&config_for(&all[0], &all[..1], &s, "k")));
        assert_eq!(hash(&x).len(), 16);
    }

    #[test]
    fn the_config_does_not_depend_on_member_order() {
        let all = vec![mk("c", "CCC"), mk("a", "AAA"), mk("b", "BBB")];
        let mut sorted = all.clone();
        sorted.sort_by(|x, y| x.name.cmp(&y.name));
        let s = Settings::default();
        assert_eq!(
            config_for(&all[0], &all, &s, "k"),
            config_for(&all[0], &sorted, &s, "k")
        );
    }
}
