//! `geowp_sync_group`'s attributes.

use std::collections::BTreeMap;
use std::time::Duration;

use geowp_syncthing::group::{self, Member, Settings};
use tfplugin::validate::{int_between, Validator};
use tfplugin::{Model, TimeoutDefaults, Timeouts, Val};

use crate::resources::cluster::ClusterModel;
use crate::validators::{dns_label, folder_id, host_port, url_host_port};

pub const TIMEOUTS: TimeoutDefaults = TimeoutDefaults {
    create: Duration::from_secs(300),
    update: Duration::from_secs(300),
    delete: Duration::from_secs(300),
};

/// A member's status before anything was written for it.
pub const NOT_APPLIED: &str = "not applied";

fn device_id() -> Validator {
    Validator::string("Invalid device ID", "a SyncThing device ID", |s| {
        if geowp_syncthing::identity::is_valid_device_id(s) {
            Ok(())
        } else {
            Err(format!("{s:?} is not a SyncThing device ID (8 groups of 7 characters with valid check characters); take it from geowp_cluster_stack.<name>.syncthing_device_id."))
        }
    })
}

fn absolute_path() -> Validator {
    Validator::string("Invalid path", "an absolute path", |s| {
        if s.starts_with('/') && !s.contains(|c: char| c.is_control()) {
            Ok(())
        } else {
            Err(format!(
                "{s:?} must be an absolute path, e.g. \"/var/syncthing/data\"."
            ))
        }
    })
}

/// One member of the group.
#[derive(Model, Clone, Debug, PartialEq)]
pub struct GroupMember {
    /// The member's SyncThing device ID (`geowp_cluster_stack.X.syncthing_device_id`).
    #[tf(validate = device_id())]
    pub device_id: String,
    /// Where the other members reach it, `tcp://host:port` (`geowp_cluster_stack.X.syncthing_address`).
    #[tf(validate = url_host_port(&["tcp"], "tcp://10.0.0.7:22000"))]
    pub address: String,
    /// Namespace of the member's stack. Default `geowp`.
    #[tf(validate = dns_label("namespace", 63, "geowp"))]
    pub namespace: Option<String>,
    /// How to reach the member's cluster: the same settings as the stack's `cluster` block.
    pub cluster: ClusterModel,
    /// Address SyncThing listens on. Default `tcp://0.0.0.0:22000` (the stack's pod); set it only where SyncThing runs elsewhere.
    #[tf(validate = url_host_port(&["tcp"], "tcp://0.0.0.0:22000"))]
    pub listen_address: Option<String>,
    /// Address of SyncThing's GUI and REST API. Default `127.0.0.1:8384` (never exposed).
    #[tf(validate = host_port("127.0.0.1:8384"))]
    pub gui_address: Option<String>,
    /// Path of the shared folder. Default `/var/syncthing/data` (the stack's ReadWriteMany volume).
    #[tf(validate = absolute_path())]
    pub folder_path: Option<String>,
}

/// `geowp_sync_group`'s attributes.
#[derive(Model, Clone, Debug, PartialEq)]
pub struct SyncGroupModel {
    /// The folder id.
    #[tf(keep)]
    pub id: Val<String>,
    /// The members by name, with their device ID, address and cluster.
    pub members: BTreeMap<String, GroupMember>,
    /// SyncThing folder id, the same as the stacks' `folder_id`.
    #[tf(default = group::DEFAULT_FOLDER, validate = folder_id())]
    pub folder_id: String,
    /// SyncThing folder label. Default: the folder id.
    pub folder_label: Option<String>,
    /// Full rescan period, which catches writes made through other NFS clients (inotify does not see them).
    #[tf(default = group::DEFAULT_RESCAN_S, validate = int_between(5, 86400))]
    pub rescan_interval_seconds: u32,
    /// Delay after a file change before it syncs.
    #[tf(default = group::DEFAULT_WATCHER_DELAY_S, validate = int_between(1, 600))]
    pub watcher_delay_seconds: u32,
    /// The device ID of each member.
    pub device_ids: Val<BTreeMap<String, String>>,
    /// Per member: whether its live group configuration is as applied; drift made outside Terraform shows here in plans.
    pub member_status: Val<BTreeMap<String, String>>,
    #[tf(timeouts = TIMEOUTS)]
    pub timeouts: Timeouts,
}

impl SyncGroupModel {
    pub fn settings(&self) -> Settings {
        Settings {
            folder_id: self.folder_id.clone(),
            folder_label: self
                .folder_label
                .clone()
                .unwrap_or_else(|| self.folder_id.clone()),
            rescan_interval_s: self.rescan_interval_seconds,
            watcher_delay_s: self.watcher_delay_seconds,
        }
    }

    /// The members as the group library sees them, by name.
    pub fn members(&self) -> Vec<Member> {
        self.members
            .iter()
            .map(|(name, m)| m.member(name))
            .collect()
    }

    /// Whether anything was written for `name` (its status is not "not applied").
    pub fn applied(&self, name: &str) -> bool {
        self.member_status
            .known()
            .and_then(|s| s.get(name))
            .is_some_and(|s| !s.starts_with(NOT_APPLIED))
    }
}

impl GroupMember {
    pub fn member(&self, name: &str) -> Member {
        Member {
            name: name.to_string(),
            device_id: self.device_id.clone(),
            address: self.address.clone(),
            namespace: self
                .namespace
                .clone()
                .unwrap_or_else(|| group::DEFAULT_NAMESPACE.into()),
            listen_address: self
                .listen_address
                .clone()
                .unwrap_or_else(|| group::DEFAULT_LISTEN.into()),
            gui_address: self
                .gui_address
                .clone()
                .unwrap_or_else(|| group::DEFAULT_GUI.into()),
            folder_path: self
                .folder_path
                .clone()
                .unwrap_or_else(|| group::DEFAULT_FOLDER_PATH.into()),
            conn: self.cluster.connection(),
        }
    }
}
