//! Refresh: each object of the stack read back and compared, on the fields
//! geowp sets, with what it would apply; `objects` says which differ and how,
//! so drift reads as a sentence in the next plan. A deleted namespace means
//! the stack is gone.

use std::collections::BTreeMap;
use std::time::Duration;

use geowp_common::names::{object, secret};
use geowp_kube::conditions::drift;
use geowp_kube::{connect, ObjRef};
use tfplugin::diag::Diagnostics;
use tfplugin::provider::Ctx;
use tfplugin::Val;
use tokio::time::Instant;

use super::apply::{cluster_path, endpoint_of, load_syncthing};
use super::model::{InventoryItem, StackModel, IN_SYNC};
use crate::render::{self, Inputs, SyncthingSecrets, TlsMaterial};
use crate::resources::cluster::diagnose_refresh as diagnose;

/// The refreshed state; None when the stack is gone.
pub async fn read(ctx: &mut Ctx, state: StackModel, diags: &mut Diagnostics) -> Option<StackModel> {
    let who = state.who();
    // a refresh gives up sooner than an apply: one region down must not stall the site's plan
    let deadline = Instant::now() + Duration::from_secs(30).min(state.timeouts.update());
    let cluster = match connect(&state.cluster.connection(), deadline, ctx.cancel.clone()).await {
        Ok(c) => c,
        Err(e) => {
            diagnose(
                &e,
                &cluster_path(),
                &who,
                "connecting to refresh the stack",
                diags,
            );
            return Some(state);
        }
    };
    let spec = &state.spec;
    match cluster
        .get(&ObjRef::new("v1", "Namespace", "", &spec.namespace))
        .await
    {
        Ok(None) => {
            tracing::info!(namespace = %spec.namespace, "stack namespace gone: removing from state");
            return None;
        }
        Ok(Some(_)) => {}
        Err(e) => {
            diagnose(&e, &cluster_path(), &who, "refreshing the stack", diags);
            return Some(state);
        }
    }
    let st = match load_syncthing(&cluster, &spec.namespace).await {
        Ok(s) => s,
        Err(e) => {
            diagnose(
                &e,
                &cluster_path(),
                &who,
                "reading SyncThing's identity",
                diags,
            );
            return Some(state);
        }
    };
    let tls_ref = ObjRef::new(
        "v1",
        "Secret",
        &spec.namespace,
        crate::render::tidb::TLS_SECRET,
    );
    let (wp_content_uid, live_tls) = match futures_util::try_join!(
        super::apply::wp_content_uid(&cluster, &spec.namespace),
        cluster.get(&tls_ref),
    ) {
        Ok((u, t)) => (u, t.as_ref().and_then(super::tls::from_secret)),
        Err(e) => {
            diagnose(&e, &cluster_path(), &who, "refreshing the stack", diags);
            return Some(state);
        }
    };
    // what an apply would do with the certificate now
    let tls_need = match (&state.secrets.tls_ca_certificate, spec.tidb_tls) {
        (Some(ca), true) => Some(super::tls::need(
            live_tls.as_ref(),
            ca,
            &super::tls::names(spec),
            super::tls::now(),
        )),
        _ => None,
    };
    let inputs = Inputs {
        secrets: state.secrets.render(),
        syncthing: st.clone().unwrap_or_else(SyncthingSecrets::placeholder),
        tls: live_tls.clone().unwrap_or_else(TlsMaterial::placeholder),
        wp_content_uid,
        pd: state.out.topology(),
    };
    let objs = render::render(spec, &inputs);
    let lives = futures_util::future::join_all(objs.iter().map(|o| {
        let c = cluster.clone();
        async move { c.get(&o.id).await }
    }))
    .await;
    let mut objects = BTreeMap::new();
    let mut inventory = BTreeMap::new();
    for (o, live) in objs.iter().zip(lives) {
        let status = match live {
            Err(e) => {
                diagnose(
                    &e,
                    &cluster_path(),
                    &who,
                    &format!("reading {}", o.key()),
                    diags,
                );
                return Some(state);
            }
            Ok(None) => "missing: deleted outside Terraform".to_string(),
            Ok(Some(l)) => {
                let uid = l["metadata"]["uid"].as_str().unwrap_or("").to_string();
                inventory.insert(o.key(), InventoryItem::of(&o.id, Val::Known(uid)));
                // create-only objects (the identity) are ours once they exist;
                // without an identity, the config we would write is unknown
                let unknowable = o.create_only
                    || (o.id.kind == "Secret"
                        && o.id.name == secret::SYNCTHING_CONFIG
                        && st.is_none());
                let certificate =
                    o.id.kind == "Secret" && o.id.name == crate::render::tidb::TLS_SECRET;
                match (&tls_need, certificate) {
                    (Some(super::tls::Need::Issue(why)), true) => format!("to be reissued: {why}"),
                    _ => match (!unknowable)
                        .then(|| drift(&o.body, &l, o.secret))
                        .flatten()
                    {
                        None => IN_SYNC.to_string(),
                        Some(d) => format!("changed outside Terraform: {d}"),
                    },
                }
            }
        };
        objects.insert(o.key(), status);
    }
    let mut new = state.clone();
    new.out.objects = Val::Known(objects);
    new.out.inventory = Val::Known(inventory);
    if let Some(st) = st {
        new.out.syncthing_device_id = Val::Known(st.device_id);
    }
    if spec.tidb_tls {
        new.out.tls_certificate_expires = Val::from_option(
            live_tls
                .and_then(|t| crate::pki::facts(&t.cert_pem))
                .map(|f| super::tls::rfc3339(f.not_after)),
        );
    }
    if let Ok(Some(svc)) = cluster
        .get(&ObjRef::new(
            "v1",
            "Service",
            &spec.namespace,
            object::WORDPRESS,
        ))
        .await
    {
        new.out.wordpress_endpoint = Val::from_option(endpoint_of(&svc));
    }
    Some(new)
}
