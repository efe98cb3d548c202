//! Checks of a stack's configuration that span attributes (each
//! attribute's own rules are on its declaration). They run on what is known:
//! at plan, and again on the planned value before apply acts.

use std::collections::BTreeMap;

use tfplugin::diag::{AttrPath, Diagnostics};
use tfplugin::{Model, Value};

use super::model::StackModel;
use crate::render::Member;
use crate::resources::cluster::ClusterModel;
use crate::validators::is_dns_label;

pub fn check(config: &Value, d: &mut Diagnostics) {
    let c = StackModel::partial(config, &AttrPath::default());
    let p = AttrPath::root;
    ClusterModel::partial(config.get("cluster"), &p("cluster")).check(&p("cluster"), d);
    let spec = &c.spec;
    // member names are keys of `members`: check them where they are
    if let Some(keys) = config.get("members").as_map() {
        for k in keys.keys() {
            if !is_dns_label(k, 40) {
                d.error_at(
                    p("members").key(k),
                    "Invalid member name",
                    format!("{k:?} is not a DNS label: use 1 to 40 lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. \"us-east\"."),
                );
            }
        }
    }
    if let Some(members) = &spec.members {
        check_members(members, spec.member.as_deref(), d);
    }
    if let (Some(Some(_)), Some(t)) = (&spec.wordpress_node_port, spec.wordpress_service_type) {
        if !t.has_node_port() {
            d.error_at(
                p("wordpress_node_port"),
                "Node port without a node-port Service",
                format!("wordpress_node_port needs wordpress_service_type = \"NodePort\" or \"LoadBalancer\"; it is {:?}. Set the service type, or remove the node port.", t.as_str()),
            );
        }
    }
}

fn check_members(members: &BTreeMap<String, Member>, me: Option<&str>, d: &mut Diagnostics) {
    let at = AttrPath::root("members");
    if members.len() < 3 {
        d.error_at(
            at.clone(),
            "Too few members",
            format!("a site needs at least 3 members so that TiDB (3 replicas, one per region) keeps quorum when a region is lost; {} given. To move a region to another cluster, keep its member name and change its cluster settings and addresses instead of removing it.", members.len()),
        );
    }
    if let Some(me) = me {
        if !members.contains_key(me) {
            d.error_at(
                at.clone(),
                "Member missing from members",
                format!("members must list every member of the site, this one ({me:?}) included."),
            );
        }
    }
    // every address is one member's only: PD would get two members on one URL
    type Get = fn(&Member) -> &str;
    let fields: [(&str, Get); 4] = [
        ("pd_client_url", |m| &m.pd_client_url),
        ("pd_peer_url", |m| &m.pd_peer_url),
        ("tikv_address", |m| &m.tikv_address),
        ("syncthing_address", |m| &m.syncthing_address),
    ];
    for (attr, get) in fields {
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for (name, m) in members {
            let v = get(m).trim_end_matches('/').to_ascii_lowercase();
            match seen.get(&v) {
                Some(other) => d.error_at(
                    at.clone().key(name).attr(attr),
                    "Duplicate address",
                    format!("members {other:?} and {name:?} have the same {attr} {:?}: each member needs its own address, or TiDB and SyncThing mistake one for the other.", get(m)),
                ),
                None => {
                    seen.insert(v, name);
                }
            }
        }
    }
    for (name, m) in members {
        if crate::render::host_port_of(&m.pd_client_url)
            == crate::render::host_port_of(&m.pd_peer_url)
        {
            d.error_at(
                at.clone().key(name).attr("pd_peer_url"),
                "Duplicate address",
                "pd_client_url and pd_peer_url of one member must differ (PD serves clients on 2379 and peers on 2380).",
            );
        }
    }
}
