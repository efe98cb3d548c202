//! A group's plan: the device IDs and statuses (in sync) follow from the
//! members, known as soon as the members are.

use std::collections::BTreeMap;

use geowp_syncthing::group::IN_SYNC;
use tfplugin::diag::{AttrPath, Diagnostics};
use tfplugin::{Field, Val, Value};

use super::model::{GroupMember, SyncGroupModel};

type ByMember = Val<BTreeMap<String, String>>;

pub fn modify(_prior: Option<&SyncGroupModel>, planned: &mut Value, _d: &mut Diagnostics) {
    let members: Option<BTreeMap<String, GroupMember>> =
        tfplugin::model::decode(planned.get("members"), &AttrPath::root("members")).ok();
    let (ids, status): (ByMember, ByMember) = match members {
        Some(ms) => (
            Val::Known(
                ms.iter()
                    .map(|(n, m)| (n.clone(), m.device_id.clone()))
                    .collect(),
            ),
            Val::Known(
                ms.keys()
                    .map(|n| (n.clone(), IN_SYNC.to_string()))
                    .collect(),
            ),
        ),
        None => (Val::Unknown, Val::Unknown),
    };
    let folder = planned.get("folder_id").clone();
    planned.set("id", folder);
    planned.set("device_ids", ids.encode());
    planned.set("member_status", status.encode());
}
