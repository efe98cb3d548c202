//! A stack's plan: what it computes that the configuration already
//! decides. The object set follows from the configuration, so `objects` and
//! `inventory` are planned exactly (uids kept from state; a new object's uid
//! is known after apply). The WordPress endpoint and the device ID stay as
//! they are unless what they come from changes. Plans never contact a
//! cluster, so a cluster created in the same apply plans cleanly.

use std::collections::BTreeMap;

use geowp_common::names::{object, secret, HEALTH_PATH};
use tfplugin::diag::{AttrPath, Diagnostics};
use tfplugin::{Model, Val, Value};

use super::model::{InventoryItem, StackModel, StackOutputs, IN_SYNC};
use crate::render::{self, StackSpec};

pub fn modify(prior: Option<&StackModel>, planned: &mut Value, _d: &mut Diagnostics) {
    let spec = StackSpec::decode_object(planned, &AttrPath::default()).ok();
    let mut out = StackOutputs::decode_object(planned, &AttrPath::default()).unwrap_or_default();
    out.health_check_path = Val::Known(HEALTH_PATH.into());
    let id = match &spec {
        Some(s) => {
            out.tidb_endpoint = Val::Known(s.tidb_endpoint());
            out.syncthing_address = Val::from_option(s.me().map(|m| m.syncthing_address.clone()));
            plan_objects(prior, s, &mut out);
            Val::Known(StackModel::id_of(s))
        }
        None => {
            out.tidb_endpoint = Val::Unknown;
            out.syncthing_address = Val::Unknown;
            out.objects = Val::Unknown;
            out.inventory = Val::Unknown;
            out.wordpress_endpoint = Val::Unknown;
            if prior.is_none() {
                out.syncthing_device_id = Val::Unknown;
            }
            Val::Unknown
        }
    };
    if let Value::Map(m) = planned {
        out.encode_into(m);
        m.insert("id".into(), tfplugin::Field::encode(&id));
    }
}

fn in_sync(prior: &StackModel, key: &str) -> bool {
    prior
        .out
        .objects
        .known()
        .and_then(|o| o.get(key))
        .map(String::as_str)
        == Some(IN_SYNC)
}

fn plan_objects(prior: Option<&StackModel>, spec: &StackSpec, out: &mut StackOutputs) {
    let objs = render::render(
        spec,
        &render::Secrets::placeholder(),
        &render::SyncthingSecrets::placeholder(),
    );
    out.objects = Val::Known(
        objs.iter()
            .map(|o| (o.key(), IN_SYNC.to_string()))
            .collect(),
    );
    let before: BTreeMap<String, InventoryItem> = prior
        .and_then(|p| p.out.inventory.known().cloned())
        .unwrap_or_default();
    out.inventory = Val::Known(
        objs.iter()
            .map(|o| {
                let uid = before
                    .get(&o.key())
                    .filter(|i| i.reference() == o.id)
                    .map(|i| i.uid.clone())
                    .unwrap_or(Val::Unknown);
                (o.key(), InventoryItem::of(&o.id, uid))
            })
            .collect(),
    );
    let Some(prior) = prior else {
        out.wordpress_endpoint = Val::Unknown;
        out.syncthing_device_id = Val::Unknown;
        return;
    };
    // the endpoint comes from the WordPress Service: unknown only if it changes
    let service_changed = prior.spec.wordpress_service_type != spec.wordpress_service_type
        || prior.spec.wordpress_node_port != spec.wordpress_node_port
        || prior.spec.namespace != spec.namespace
        || !in_sync(prior, &format!("Service/{}", object::WORDPRESS));
    out.wordpress_endpoint = if service_changed {
        Val::Unknown
    } else {
        prior.out.wordpress_endpoint.clone()
    };
    // a new identity is made only when the cluster's is gone
    out.syncthing_device_id = if in_sync(prior, &format!("Secret/{}", secret::SYNCTHING_IDENTITY))
        && prior.spec.namespace == spec.namespace
    {
        prior.out.syncthing_device_id.clone()
    } else {
        Val::Unknown
    };
}
