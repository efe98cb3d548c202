//! How geowp-kube tells a cluster's failures apart, against the fake API
//! server over real TLS: an API server whose certificate another CA signed
//! is untrusted (a settings fault: pass that cluster's CA), never a lost
//! region; one that does not answer at all is lost.

use std::time::Duration;

use geowp_kube::{connect, Connection, ObjRef};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_cas_certificate_is_untrusted_and_a_closed_port_is_lost() {
    let a = fakeapi::start(fakeapi::Options::default()).await.unwrap();
    let b = fakeapi::start(fakeapi::Options::default()).await.unwrap();
    let far = || Instant::now() + Duration::from_secs(20);
    let wrong_ca = Connection {
        host: Some(a.url()),
        ca_pem: Some(b.ca_pem.clone()),
        token: Some(a.token().to_string()),
        ..Default::default()
    };
    let c = connect(&wrong_ca, far(), CancellationToken::new())
        .await
        .unwrap();
    let e = c
        .get(&ObjRef::new("v1", "Namespace", "", "geowp"))
        .await
        .unwrap_err();
    assert!(e.untrusted(), "{}", geowp_common::error_chain(&e));
    assert!(
        !e.is_lost(),
        "an untrusted certificate is not a lost region"
    );
    // the right CA: trusted
    let right = Connection {
        ca_pem: Some(a.ca_pem.clone()),
        ..wrong_ca.clone()
    };
    let c = connect(&right, far(), CancellationToken::new())
        .await
        .unwrap();
    assert!(c
        .get(&ObjRef::new("v1", "Namespace", "", "default"))
        .await
        .is_ok());
    // nothing listening: lost, and not a certificate fault
    let gone = a.url();
    a.stop().await;
    let c = connect(
        &Connection {
            host: Some(gone),
            ..right
        },
        far(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let e = c
        .get(&ObjRef::new("v1", "Namespace", "", "geowp"))
        .await
        .unwrap_err();
    assert!(
        e.is_lost() && !e.untrusted(),
        "{}",
        geowp_common::error_chain(&e)
    );
    b.stop().await;
}
