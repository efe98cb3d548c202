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

pub fn modify(prior: Option<&StackModel>, planned: &mut Value, d: &mut Diagnostics) {
    let spec = StackSpec::decode_object(planned, &AttrPath::default()).ok();
    let ca = planned.get("tls_ca_certificate").clone();
    let mut out = StackOutputs::decode_object(planned, &AttrPath::default()).unwrap_or_default();
    // the same member on another cluster: everything read from the cluster
    // (uids, endpoint, identity, certificate) comes anew
    let on_cluster = prior.filter(|p| same_cluster(p, planned.get("cluster")));
    out.health_check_path = Val::Known(HEALTH_PATH.into());
    let id = match &spec {
        Some(s) => {
            out.tidb_endpoint = Val::Known(s.tidb_endpoint());
            out.syncthing_address = Val::from_option(s.me().map(|m| m.syncthing_address.clone()));
            plan_objects(on_cluster, s, &mut out);
            let t = topology(prior, s);
            explain_lifecycle(prior, s, &t, d);
            out.set_topology(&t);
            plan_certificate(on_cluster, s, &ca, &mut out, d);
            refuse_shrink(on_cluster, s, d);
            Val::Known(StackModel::id_of(s))
        }
        None => {
            out.tidb_endpoint = Val::Unknown;
            out.syncthing_address = Val::Unknown;
            out.objects = Val::Unknown;
            out.inventory = Val::Unknown;
            out.wordpress_endpoint = Val::Unknown;
            out.tls_certificate_expires = Val::Unknown;
            out.pd_initial_cluster = Val::Unknown;
            out.pd_join = Val::Unknown;
            out.pd_endpoints = Val::Unknown;
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

/// How PD starts: kept from state while this member's PD peer URL stays
/// (a moved member joins anew), the endpoint list kept while most of it is
/// current. A new member decides from `founders`.
pub fn topology(prior: Option<&StackModel>, spec: &StackSpec) -> render::PdTopology {
    let fresh = spec.new_topology();
    let peer = |s: &StackSpec| s.me().map(|m| m.pd_peer_url.clone());
    let Some(mut kept) = prior
        .filter(|p| peer(&p.spec) == peer(spec))
        .and_then(|p| p.out.topology())
    else {
        return fresh;
    };
    if !spec.endpoints_current(&kept.endpoints) {
        kept.endpoints = fresh.endpoints;
    }
    kept
}

/// What this apply does to the TiDB cluster beyond this region, said in
/// the plan: members leaving, this member moving, joining.
fn explain_lifecycle(
    prior: Option<&StackModel>,
    spec: &StackSpec,
    t: &render::PdTopology,
    d: &mut Diagnostics,
) {
    use geowp_stack::leave::{departed, removes_departed};
    let Some(prior) = prior else {
        if !t.join.is_empty() {
            d.warning_at(
                AttrPath::root("pd_join"),
                "Joining the site's TiDB cluster",
                format!("member {} is not a founder: its PD joins the running cluster through {} (no --initial-cluster), its TiKV registers as a new store. The other regions' pods do not change.", spec.member, t.join),
            );
        }
        return;
    };
    if removes_departed(spec) {
        for name in departed(&prior.spec, spec).keys() {
            d.warning_at(
                AttrPath::root("members"),
                "Member leaves TiDB",
                format!("member {name} leaves the site: this apply first removes it from TiDB from member {}'s cluster (PD leadership moved away if it leads, its PD member deleted, its TiKV store deleted and drained to Tombstone), and only then deletes its region's objects.", spec.member),
            );
        }
    }
    let peer = |s: &StackSpec| s.me().map(|m| m.pd_peer_url.clone());
    if peer(&prior.spec) != peer(spec) {
        d.warning_at(
            AttrPath::root("members").key(&spec.member).attr("pd_peer_url"),
            "Member moves",
            format!("member {} moves to a new PD address: its old PD member is deleted from TiDB, the new PD joins through {} with --join, and once the new TiKV has registered the old store is drained to Tombstone.", spec.member, t.join),
        );
    }
}

/// A claim only grows: the API server refuses a smaller storage request
/// with a 422 (kubernetes/kubernetes pkg/apis/core/validation
/// `ValidatePersistentVolumeClaimUpdate`), so a smaller `wp_content_size`
/// is refused here, before anything is applied.
fn refuse_shrink(prior: Option<&StackModel>, spec: &StackSpec, d: &mut Diagnostics) {
    use geowp_common::quantity::Quantity;
    let Some(prior) = prior else { return };
    let (old, new) = (&prior.spec.wp_content_size, &spec.wp_content_size);
    if let (Some(o), Some(n)) = (Quantity::parse(old), Quantity::parse(new)) {
        if n < o {
            d.error_at(
                AttrPath::root("wp_content_size"),
                "Volume cannot shrink",
                format!("wp_content_size {new:?} is smaller than the {old:?} the wp-content claim has: Kubernetes grows a claim in place but never shrinks one. Keep {old:?} or more."),
            );
        } else if n > o && !spec.runs_nfs() {
            let class = spec.wp_content_class();
            // only our own NFS class is known to allow expansion
            d.warning_at(
                    AttrPath::root("wp_content_size"),
                    "Growing a claim of the cluster's class",
                    format!("wp_content_size grows from {old:?} to {new:?} on StorageClass {class:?}: the API server refuses it unless that class has allowVolumeExpansion. EFS has none and needs none (its size is a placeholder, the file system is elastic: keep {old:?}); Azure Files and Filestore allow it."),
                );
        }
    }
}

/// Whether the planned cluster settings name the cluster the stack is on
/// (same API server, or same kubeconfig and context). Settings unknown
/// until apply come from a cluster being made in it: another cluster.
fn same_cluster(prior: &StackModel, planned: &Value) -> bool {
    let known = |k: &str| planned.get(k).is_known();
    if !(known("host") && known("kubeconfig") && known("context")) {
        return false;
    }
    let text = |k: &str| planned.get(k).as_str().map(String::from);
    prior.cluster.host == text("host")
        && prior.cluster.context == text("context")
        && prior
            .cluster
            .kubeconfig
            .as_ref()
            .map(|k| k.expose().clone())
            == text("kubeconfig")
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
    let objs = render::render(spec, &render::Inputs::placeholder());
    out.objects = Val::Known(
        objs.iter()
            .map(|o| (o.key(), IN_SYNC.to_string()))
            .collect(),
    );
    let before: BTreeMap<String, InventoryItem> = prior
        .and_then(|p| p.out.inventory.known().cloned())
        .unwrap_or_default();
    // a StatefulSet whose claim templates change is made again (apply.rs,
    // apply_workload): a new uid
    let old_objs = prior
        .map(|p| render::render(&p.spec, &render::Inputs::placeholder()))
        .unwrap_or_default();
    let remade = |o: &render::Obj| {
        o.id.kind == "StatefulSet"
            && old_objs.iter().find(|x| x.id == o.id).is_some_and(|x| {
                let key = "volumeClaimTemplates";
                geowp_kube::conditions::drift(&o.body["spec"][key], &x.body["spec"][key], false)
                    .is_some()
            })
    };
    out.inventory = Val::Known(
        objs.iter()
            .map(|o| {
                let uid = before
                    .get(&o.key())
                    .filter(|i| i.reference() == o.id && !remade(o))
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

/// Why the plan expects a new certificate.
#[derive(Debug, PartialEq, Eq)]
enum Reissue {
    CaUnknown,
    Expires(String),
    CaChanged,
    Names,
    Drifted,
    Missing,
}

impl std::fmt::Display for Reissue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reissue::CaUnknown => f.write_str("the site CA is known only at apply"),
            Reissue::Expires(when) => write!(f, "it expires on {when}"),
            Reissue::CaChanged => f.write_str("the site CA changed"),
            Reissue::Names => f.write_str("the names it must carry changed"),
            Reissue::Drifted => f.write_str("the cluster's copy is not as applied"),
            Reissue::Missing => f.write_str("the cluster has none yet"),
        }
    }
}

/// The certificate's expiry stays as it is unless this apply issues a new
/// one (and then the plan says why).
fn plan_certificate(
    prior: Option<&StackModel>,
    spec: &StackSpec,
    ca: &Value,
    out: &mut StackOutputs,
    d: &mut Diagnostics,
) {
    use super::tls;
    if !spec.tidb_tls {
        out.tls_certificate_expires = Val::Null;
        return;
    }
    let Some(prior) = prior.filter(|p| p.spec.tidb_tls) else {
        out.tls_certificate_expires = Val::Unknown;
        return;
    };
    let why = match (&prior.out.tls_certificate_expires, ca.as_str()) {
        (_, None) if !ca.is_known() => Some(Reissue::CaUnknown),
        (Val::Known(when), _) if expires_soon(when) => Some(Reissue::Expires(when.clone())),
        (Val::Known(_), Some(ca)) if prior.secrets.tls_ca_certificate.as_deref() != Some(ca) => {
            Some(Reissue::CaChanged)
        }
        (Val::Known(_), _) if tls::names(&prior.spec) != tls::names(spec) => Some(Reissue::Names),
        (Val::Known(_), _)
            if !in_sync(
                prior,
                &format!("Secret/{}", crate::render::tidb::TLS_SECRET),
            ) =>
        {
            Some(Reissue::Drifted)
        }
        (Val::Known(_), _) => None,
        _ => Some(Reissue::Missing),
    };
    match why {
        None => out.tls_certificate_expires = prior.out.tls_certificate_expires.clone(),
        Some(why) => {
            out.tls_certificate_expires = Val::Unknown;
            if prior.out.tls_certificate_expires.is_known_value() {
                let effect = if why == Reissue::CaChanged {
                    "they read the CA only at start, so their pods restart (one region at a time if you apply one at a time)"
                } else {
                    "they re-read certificate and key for each new connection, without a restart"
                };
                d.warning_at(
                    AttrPath::root("tls_certificate_expires"),
                    "Certificate reissued",
                    format!("member {}: this apply issues a new certificate for PD, TiKV and TiDB because {why}; {effect}.", spec.member),
                );
            }
        }
    }
}

fn expires_soon(rfc3339: &str) -> bool {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp() - super::tls::now()) / 86400 < crate::pki::REISSUE_BEFORE_DAYS)
        .unwrap_or(true)
}
