//! Checks of a group's configuration that span attributes.

use std::collections::BTreeMap;

use tfplugin::diag::{AttrPath, Diagnostics};
use tfplugin::{Model, Value};

use crate::resources::cluster::ClusterModel;

pub fn check(config: &Value, d: &mut Diagnostics) {
    let at = AttrPath::root("members");
    let Some(members) = config.get("members").as_map() else {
        return;
    };
    if config.get("members").is_wholly_known() && members.len() < 2 {
        d.error_at(
            at.clone(),
            "Too few members",
            "a replication group needs at least 2 members.",
        );
    }
    for (name, m) in members {
        let p = at.clone().key(name).attr("cluster");
        ClusterModel::partial(m.get("cluster"), &p).check(&p, d);
    }
    // an identity must never run twice, and one address is one member's
    for attr in ["device_id", "address"] {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, m) in members {
            if let Some(v) = m.get(attr).as_str() {
                match seen.get(v) {
                    Some(other) => d.error_at(
                        at.clone().key(name).attr(attr),
                        if attr == "device_id" { "Duplicate device ID" } else { "Duplicate address" },
                        format!("members {other:?} and {name:?} have the same {attr} {v:?}: each member needs its own (an identity must never run twice)."),
                    ),
                    None => {
                        seen.insert(v, name);
                    }
                }
            }
        }
    }
}
