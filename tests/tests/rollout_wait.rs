//! The wait a stack's apply does for its rollouts (geowp-kube's
//! `wait_rolled_out`, converge's wait step) against the fake API server: a
//! Deployment past its progress deadline is still waited for until the
//! operation's own time runs out, and is ready once its pods come up (as
//! WordPress's do while TiDB is still forming), as the documentation and
//! `timeouts` promise; kubectl's own rule (`is_rolled_out`) would have given
//! up at the deadline.

use std::time::Duration;

use fakeapi::{Behavior, Options};
use geowp_kube::conditions::{is_rolled_out, Readiness};
use geowp_kube::{connect, Connection, Obj, ObjRef};
use kube::api::PatchParams;
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn deployment() -> Obj {
    let body = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "wordpress", "namespace": "geowp"},
        "spec": {"replicas": 1, "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": "wp"}},
            "template": {"metadata": {"labels": {"app": "wp"}},
                "spec": {"containers": [{"name": "wordpress", "image": "wordpress:7.1.0-php8.3-apache"}]}}}});
    Obj::raw(
        ObjRef::new("apps/v1", "Deployment", "geowp", "wordpress"),
        body,
    )
}

fn progressing(status: &str, reason: &str, available: i64) -> serde_json::Value {
    json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
        "readyReplicas": available, "availableReplicas": available,
        "conditions": [{"type": "Progressing", "status": status, "reason": reason,
            "message": "ReplicaSet \"wordpress-1\" has timed out progressing."}]})
}

/// The fake (workloads get no simulated status: the test writes it, as a
/// deployment controller would), its connection settings, and a
/// Deployment past its progress deadline.
async fn past_its_deadline() -> (fakeapi::Handle, Connection, Obj) {
    let h = fakeapi::start(Options {
        behavior: Behavior::External,
        ..Default::default()
    })
    .await
    .unwrap();
    let conn = Connection {
        host: Some(h.url()),
        ca_pem: Some(h.ca_pem.clone()),
        token: Some(h.token().to_string()),
        ..Default::default()
    };
    let far = Instant::now() + Duration::from_secs(120);
    let c = connect(&conn, far, CancellationToken::new()).await.unwrap();
    let params = PatchParams::apply("geowp").force();
    let ns = Obj::raw(
        ObjRef::new("v1", "Namespace", "", "geowp"),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "geowp"}}),
    );
    c.apply(&ns, &params).await.unwrap();
    let d = deployment();
    c.apply(&d, &params).await.unwrap();
    c.patch_status(&d.id, &progressing("False", "ProgressDeadlineExceeded", 0))
        .await
        .unwrap();
    (h, conn, d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_past_its_progress_deadline_is_waited_for_until_the_timeout() {
    let (h, conn, d) = past_its_deadline().await;
    let far = Instant::now() + Duration::from_secs(120);
    let c = connect(&conn, far, CancellationToken::new()).await.unwrap();
    // kubectl's rule gives up at the controller's deadline
    let kubectl_says = c.wait(&d.id, is_rolled_out("Deployment")).await.unwrap();
    assert!(
        matches!(&kubectl_says, Readiness::Failed(w) if w.contains("progress deadline")),
        "{kubectl_says:?}"
    );
    // the stack's wait goes on, and sees the pods come up
    let reads = |h: &fakeapi::Handle| {
        h.requests()
            .get("GET /apis/apps/v1/namespaces/geowp/deployments")
            .copied()
            .unwrap_or(0)
    };
    let before = reads(&h);
    let objs = vec![d.clone()];
    let waiting = {
        let c = c.clone();
        tokio::spawn(async move {
            let r = c.wait_rolled_out(&objs).await;
            r.into_iter().map(|(_, r)| r.unwrap()).collect::<Vec<_>>()
        })
    };
    // the wait has listed the Deployment (past its deadline) and judged it
    // once it starts watching: its list and then its watch request reach
    // the server (a state to poll, not a clock)
    let seen = Instant::now() + Duration::from_secs(60);
    while reads(&h) < before + 2 {
        assert!(
            !waiting.is_finished(),
            "the wait gave up at the controller's deadline"
        );
        assert!(
            Instant::now() < seen,
            "the wait never listed and watched the Deployment"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !waiting.is_finished(),
        "the wait gave up at the controller's deadline"
    );
    c.patch_status(&d.id, &progressing("True", "NewReplicaSetAvailable", 1))
        .await
        .unwrap();
    let got = waiting.await.unwrap();
    assert_eq!(got, vec![Readiness::Ready]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_still_past_its_deadline_when_the_time_runs_out_is_named_so() {
    let (h, conn, d) = past_its_deadline().await;
    // an operation with little time left: the wait ends with the time, and
    // says where the Deployment stands
    let short = connect(
        &conn,
        Instant::now() + Duration::from_secs(2),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let objs = vec![d];
    let r = short.wait_rolled_out(&objs).await;
    match &r[0].1 {
        Ok(Readiness::Waiting(why)) => {
            assert!(why.contains("still waited for until the timeout"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    h.stop().await;
}
