//! The stack's operations: [`converge`] (create and update), [`read`]
//! (refresh with drift), [`destroy`], [`import`]. Each takes typed inputs,
//! the cluster's connection settings and a cancellation token, and returns
//! a typed result with a [`Report`](crate::report::Report); a
//! [`Stop`](crate::report::Stop) when it could not go on.

pub mod converge;
pub mod destroy;
pub mod import;
pub mod read;
mod workload;

use std::collections::BTreeMap;

use geowp_kube::{Cluster, ClusterError, ObjRef};

use crate::render::{self, SyncthingSecrets};

pub use converge::{converge, Converged, Prior, Want};
pub use destroy::destroy;
pub use import::{import, Imported};
pub use read::{read, Refreshed};

/// One object the stack applied: where it is, and its uid (None when not
/// known).
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    pub id: ObjRef,
    pub uid: Option<String>,
}

/// What the stack has applied, by object key (`Kind/name`).
pub type Inventory = BTreeMap<String, Placed>;

/// The status an object in sync has in `objects`.
pub const IN_SYNC: &str = "in sync";

fn random_key() -> String {
    let b: [u8; 24] = rand::random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The member's SyncThing identity and API key from its cluster, if there.
/// A Secret that holds no usable certificate is a [`BrokenIdentity`].
async fn load_syncthing(c: &Cluster, ns: &str) -> Result<Option<SyncthingSecrets>, IdentityError> {
    let st = geowp_syncthing::group::read_syncthing(c, ns).await?;
    let (Some(cert_pem), Some(key_pem)) = (st.cert_pem, st.key_pem) else {
        return Ok(None);
    };
    let device_id = st.device_id.ok_or(IdentityError::Broken)?;
    Ok(Some(SyncthingSecrets {
        cert_pem,
        key_pem,
        device_id,
        api_key: st.api_key.unwrap_or_else(random_key),
    }))
}

/// Why the SyncThing identity could not be read.
#[derive(Debug, thiserror::Error)]
enum IdentityError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The identity Secret is there but holds no usable certificate.
    #[error("the Secret syncthing-identity holds no usable certificate")]
    Broken,
}

/// What to say when the identity cannot be read: the cluster's error, or
/// a broken Secret (which no cluster setting fixes).
fn identity_problem(r: &mut crate::report::Report, e: IdentityError, who: &str) {
    match e {
        IdentityError::Cluster(e) => r.cluster(e, who, "reading SyncThing's identity"),
        IdentityError::Broken => r.error(
            crate::report::Subject::Stack,
            "Broken SyncThing identity",
            format!("the Secret syncthing-identity of {who} holds no usable certificate. Delete it (kubectl delete secret syncthing-identity in the stack's namespace) and apply again: a new identity is made, and geowp_sync_group gives the new device ID to the other members at its next apply."),
        ),
    }
}

/// The uid of the `wp-content` claim, once it exists.
async fn wp_content_uid(c: &Cluster, ns: &str) -> Result<Option<String>, ClusterError> {
    let claim = c
        .get(&ObjRef::new(
            "v1",
            "PersistentVolumeClaim",
            ns,
            render::nfs_claim(),
        ))
        .await?;
    Ok(claim.and_then(|x| x["metadata"]["uid"].as_str().map(String::from)))
}

/// `http://` + the Service's load-balancer address, else its cluster IP.
pub fn endpoint_of(svc: &serde_json::Value) -> Option<String> {
    let ing = svc["status"]["loadBalancer"]["ingress"]
        .as_array()
        .and_then(|a| a.first());
    ing.and_then(|i| i["ip"].as_str().or(i["hostname"].as_str()))
        .or(svc["spec"]["clusterIP"].as_str())
        .map(|h| format!("http://{h}"))
}

/// The WordPress Service's endpoint: None when the Service could not be
/// read, Some(None) when it has no address yet.
async fn wordpress_endpoint(c: &Cluster, ns: &str) -> Option<Option<String>> {
    match c
        .get(&ObjRef::new(
            "v1",
            "Service",
            ns,
            geowp_common::names::object::WORDPRESS,
        ))
        .await
    {
        Ok(Some(svc)) => Some(endpoint_of(&svc)),
        _ => None,
    }
}

/// When the region's certificate expires (RFC 3339), from its PEM.
fn expires(cert_pem: &str) -> Option<String> {
    crate::pki::facts(cert_pem).map(|f| crate::tls::rfc3339(f.not_after))
}
