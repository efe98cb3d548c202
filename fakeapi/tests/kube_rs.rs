//! The fake API server driven by kube-rs, the client geowp's provider uses:
//! typed Api, server-side apply, not-found classification, conflicts,
//! watch-based waits, Retry-After, latency, faults and restart with state.

use std::time::{Duration, Instant};

use fakeapi::{Behavior, Fault, FaultAction, Handle, Options};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::Client;
use serde_json::json;

async fn client(h: &Handle) -> Client {
    let kc = kube::config::Kubeconfig::from_yaml(&h.kubeconfig()).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    Client::try_from(cfg).expect("client")
}

async fn server(opts: Options) -> Handle {
    fakeapi::start(opts).await.expect("start")
}

fn deployment(image: &str) -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "wp", "namespace": "site"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "wp"}},
            "template": {"metadata": {"labels": {"app": "wp"}},
                "spec": {"containers": [{"name": "wp", "image": image, "ports": [{"containerPort": 80}]}]}}}})
}

async fn with_namespace(c: &Client) {
    let ns: Api<Namespace> = Api::all(c.clone());
    ns.patch(
        "site",
        &PatchParams::apply("geowp"),
        &Patch::Apply(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "site"}}),
        ),
    )
    .await
    .expect("namespace");
}

#[tokio::test]
async fn server_side_apply_creates_updates_noops_and_owns_fields() {
    let h = server(Options::default()).await;
    let c = client(&h).await;
    with_namespace(&c).await;
    let api: Api<Deployment> = Api::namespaced(c.clone(), "site");
    let pp = PatchParams::apply("geowp");
    let d = api
        .patch("wp", &pp, &Patch::Apply(deployment("wordpress:6.6")))
        .await
        .unwrap();
    let md = &d.metadata;
    assert!(md.uid.is_some() && md.creation_timestamp.is_some());
    assert_eq!(md.generation, Some(1));
    assert_eq!(
        md.managed_fields.as_ref().unwrap()[0].manager.as_deref(),
        Some("geowp")
    );
    // server defaults appear on read
    let spec = d.spec.as_ref().unwrap();
    assert_eq!(spec.progress_deadline_seconds, Some(600));
    assert_eq!(
        spec.strategy.as_ref().unwrap().type_.as_deref(),
        Some("RollingUpdate")
    );
    let ctr = &spec.template.spec.as_ref().unwrap().containers[0];
    assert_eq!(ctr.image_pull_policy.as_deref(), Some("IfNotPresent"));

    // the same apply again is a no-op: same resourceVersion, same generation
    let again = api
        .patch("wp", &pp, &Patch::Apply(deployment("wordpress:6.6")))
        .await
        .unwrap();
    assert_eq!(again.metadata.resource_version, d.metadata.resource_version);
    // a spec change bumps the generation
    let changed = api
        .patch("wp", &pp, &Patch::Apply(deployment("wordpress:6.7")))
        .await
        .unwrap();
    assert_eq!(changed.metadata.generation, Some(2));

    // a field applied before and now omitted is removed
    let mut with_label = deployment("wordpress:6.7");
    with_label["metadata"]["labels"] = json!({"tier": "web"});
    api.patch("wp", &pp, &Patch::Apply(with_label))
        .await
        .unwrap();
    let without = api
        .patch("wp", &pp, &Patch::Apply(deployment("wordpress:6.7")))
        .await
        .unwrap();
    assert!(!without
        .metadata
        .labels
        .unwrap_or_default()
        .contains_key("tier"));
    h.stop().await;
}

#[tokio::test]
async fn conflicts_are_409_with_the_real_status_and_force_takes_ownership() {
    let h = server(Options::default()).await;
    let c = client(&h).await;
    with_namespace(&c).await;
    let api: Api<Deployment> = Api::namespaced(c.clone(), "site");
    api.patch(
        "wp",
        &PatchParams::apply("geowp"),
        &Patch::Apply(deployment("wordpress:6.6")),
    )
    .await
    .unwrap();
    // another manager changes the image with a strategic merge patch, like kubectl set image
    let edit = json!({"spec": {"template": {"spec": {"containers": [{"name": "wp", "image": "wordpress:evil"}]}}}});
    let pp = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    let edited = api.patch("wp", &pp, &Patch::Strategic(edit)).await.unwrap();
    let ctr = &edited.spec.unwrap().template.spec.unwrap().containers[0];
    assert_eq!(ctr.image.as_deref(), Some("wordpress:evil"));
    assert_eq!(
        ctr.ports.as_ref().unwrap().len(),
        1,
        "strategic merge must keep the other container fields"
    );

    let err = api
        .patch(
            "wp",
            &PatchParams::apply("geowp"),
            &Patch::Apply(deployment("wordpress:6.6")),
        )
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "Conflict");
            assert!(
                s.message.contains("conflict with \"kubectl-edit\"")
                    && s.message.contains(".image"),
                "{}",
                s.message
            );
        }
        other => panic!("expected a 409 Status, got {other:?}"),
    }
    // an apply that agrees with the other manager's value is no conflict
    api.patch(
        "wp",
        &PatchParams::apply("geowp"),
        &Patch::Apply(deployment("wordpress:evil")),
    )
    .await
    .unwrap();
    let forced = api
        .patch(
            "wp",
            &PatchParams::apply("geowp").force(),
            &Patch::Apply(deployment("wordpress:6.6")),
        )
        .await
        .unwrap();
    assert_eq!(
        forced.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .as_deref(),
        Some("wordpress:6.6")
    );
    h.stop().await;
}

#[tokio::test]
async fn not_found_is_classified_and_immutable_fields_answer_422() {
    let h = server(Options::default()).await;
    let c = client(&h).await;
    with_namespace(&c).await;
    let api: Api<Deployment> = Api::namespaced(c.clone(), "site");
    assert!(
        api.get_opt("nope").await.unwrap().is_none(),
        "get_opt must see a 404 Status as None"
    );
    api.patch(
        "wp",
        &PatchParams::apply("geowp"),
        &Patch::Apply(deployment("wordpress:6.6")),
    )
    .await
    .unwrap();
    let mut other_selector = deployment("wordpress:6.6");
    other_selector["spec"]["selector"]["matchLabels"] = json!({"app": "wp2"});
    other_selector["spec"]["template"]["metadata"]["labels"] = json!({"app": "wp2"});
    match api
        .patch(
            "wp",
            &PatchParams::apply("geowp").force(),
            &Patch::Apply(other_selector),
        )
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
            assert!(
                s.message.contains("spec.selector") && s.message.contains("immutable"),
                "{}",
                s.message
            );
        }
        e => panic!("{e:?}"),
    }
    // writing into a namespace that does not exist is a 404 naming it
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "ghost");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "ghost"}});
    match cms
        .patch("x", &PatchParams::apply("geowp"), &Patch::Apply(cm))
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => assert!(
            s.code == 404 && s.message.contains("namespaces \"ghost\""),
            "{}",
            s.message
        ),
        e => panic!("{e:?}"),
    }
    h.stop().await;
}

#[tokio::test]
async fn simulated_controllers_write_status_that_watch_based_waits_see() {
    let h = server(Options {
        ready_delay: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    let c = client(&h).await;
    with_namespace(&c).await;
    let api: Api<Deployment> = Api::namespaced(c.clone(), "site");
    let t = Instant::now();
    api.patch(
        "wp",
        &PatchParams::apply("geowp"),
        &Patch::Apply(deployment("wordpress:6.6")),
    )
    .await
    .unwrap();
    let done = tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(api.clone(), "wp", conditions::is_deployment_completed()),
    )
    .await
    .expect("rollout did not complete")
    .unwrap()
    .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "ready before the simulated delay"
    );
    let st = done.status.unwrap();
    assert_eq!(st.observed_generation, Some(1));
    assert_eq!(st.available_replicas, Some(2));

    // a LoadBalancer Service gets an address after the delay
    let svcs: Api<Service> = Api::namespaced(c.clone(), "site");
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "wp", "namespace": "site"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "wp"}, "ports": [{"port": 80}]}});
    let s = svcs
        .patch("wp", &PatchParams::apply("geowp"), &Patch::Apply(svc))
        .await
        .unwrap();
    let spec = s.spec.unwrap();
    assert!(spec.cluster_ip.is_some());
    assert!(spec.ports.unwrap()[0].node_port.is_some());
    let lb = tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(svcs.clone(), "wp", |o: Option<&Service>| {
            o.and_then(|s| s.status.as_ref()?.load_balancer.as_ref()?.ingress.as_ref())
                .is_some_and(|i| !i.is_empty())
        }),
    )
    .await
    .expect("no load balancer address")
    .unwrap();
    assert!(lb.is_some());

    // never-ready, chosen per object by annotation
    let mut stuck = deployment("wordpress:6.6");
    stuck["metadata"]["name"] = json!("stuck");
    stuck["metadata"]["annotations"] = json!({"fake.geowp.dev/behavior": "never-ready"});
    api.patch("stuck", &PatchParams::apply("geowp"), &Patch::Apply(stuck))
        .await
        .unwrap();
    let r = tokio::time::timeout(
        Duration::from_millis(1500),
        await_condition(api.clone(), "stuck", conditions::is_deployment_completed()),
    )
    .await;
    assert!(r.is_err(), "a never-ready deployment completed");
    let st = api.get("stuck").await.unwrap().status.unwrap();
    assert_eq!(st.observed_generation, Some(1));
    assert_eq!(st.available_replicas, None);
    h.stop().await;
}

#[tokio::test]
async fn deletion_with_finalizers_and_namespace_termination() {
    let h = server(Options::default()).await;
    let c = client(&h).await;
    with_namespace(&c).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "site");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "namespace": "site", "finalizers": ["example.com/hold"]}, "data": {"a": "1"}});
    cms.patch("held", &PatchParams::apply("geowp"), &Patch::Apply(cm))
        .await
        .unwrap();
    let r = cms
        .delete("held", &DeleteParams::background())
        .await
        .unwrap();
    let kept = r
        .left()
        .expect("an object with finalizers is kept, not gone");
    assert!(kept.metadata.deletion_timestamp.is_some());
    assert!(cms.get_opt("held").await.unwrap().is_some());

    let nss: Api<Namespace> = Api::all(c.clone());
    nss.delete("site", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ns = nss.get("site").await.unwrap();
    assert_eq!(
        ns.status.as_ref().unwrap().phase.as_deref(),
        Some("Terminating")
    );
    let msg = ns.status.unwrap().conditions.unwrap()[0]
        .message
        .clone()
        .unwrap_or_default();
    assert!(msg.contains("configmaps/held"), "{msg}");
    // new content is refused while terminating
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new", "namespace": "site"}});
    match cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(other).unwrap(),
        )
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden")),
        e => panic!("{e:?}"),
    }
    // removing the finalizer lets both go
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        await_condition(nss.clone(), "site", |o: Option<&Namespace>| o.is_none()),
    )
    .await
    .expect("namespace not removed")
    .unwrap();
    h.stop().await;
}

#[tokio::test]
async fn a_uid_precondition_protects_an_object_made_anew_under_the_same_name() {
    use kube::api::Preconditions;
    let h = server(Options::default()).await;
    let c = client(&h).await;
    with_namespace(&c).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "site");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "site"}});
    let first = cms
        .patch(
            "cfg",
            &PatchParams::apply("geowp"),
            &Patch::Apply(cm.clone()),
        )
        .await
        .unwrap();
    let old_uid = first.metadata.uid.clone().unwrap();
    cms.delete("cfg", &DeleteParams::default()).await.unwrap();
    let second = cms
        .patch(
            "cfg",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(cm),
        )
        .await
        .unwrap();
    assert_ne!(second.metadata.uid.as_deref(), Some(old_uid.as_str()));
    let dp = DeleteParams::default().preconditions(Preconditions {
        uid: Some(old_uid.clone()),
        resource_version: None,
    });
    match cms.delete("cfg", &dp).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 409);
            assert!(s.message.contains("Precondition failed"), "{}", s.message);
        }
        other => panic!("expected a 409, got {other:?}"),
    }
    assert!(
        cms.get_opt("cfg").await.unwrap().is_some(),
        "the new object was deleted"
    );
    let dp = DeleteParams::default().preconditions(Preconditions {
        uid: second.metadata.uid.clone(),
        resource_version: None,
    });
    cms.delete("cfg", &dp).await.unwrap();
    assert!(cms.get_opt("cfg").await.unwrap().is_none());
    h.stop().await;
}

#[tokio::test]
async fn latency_faults_429_and_restart_with_state() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        data_file: Some(dir.path().join("data.json")),
        cert_dir: Some(dir.path().join("certs")),
        ..Default::default()
    };
    let h = server(opts.clone()).await;
    let c = client(&h).await;
    with_namespace(&c).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "site");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "site"}, "data": {"k": "v"}});
    cms.patch("a", &PatchParams::apply("geowp"), &Patch::Apply(cm))
        .await
        .unwrap();

    // 50 ms per request shows in timings
    let t = Instant::now();
    cms.get("a").await.unwrap();
    let fast = t.elapsed();
    h.set_latency(Duration::from_millis(50));
    let t = Instant::now();
    for _ in 0..4 {
        cms.get("a").await.unwrap();
    }
    let slow = t.elapsed();
    assert!(
        slow >= Duration::from_millis(200),
        "4 requests at 50 ms took {slow:?}"
    );
    assert!(slow > fast * 4);
    h.set_latency(Duration::ZERO);

    // the next 2 matching requests fail with 500 and a Status body
    h.inject(Fault {
        method: Some("GET".into()),
        path_prefix: "/api/v1/namespaces/site/configmaps".into(),
        remaining: 2,
        action: FaultAction::Code(500),
    });
    for _ in 0..2 {
        match cms.get("a").await.unwrap_err() {
            kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (500, "InternalError")),
            e => panic!("{e:?}"),
        }
    }
    cms.get("a").await.expect("third request passes");

    // 429 with Retry-After: kube-rs waits and retries by itself
    h.inject(Fault {
        method: Some("GET".into()),
        path_prefix: "/api/v1/namespaces/site/configmaps/a".into(),
        remaining: 1,
        action: FaultAction::Code(429),
    });
    let t = Instant::now();
    cms.get("a").await.expect("retried after 429");
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "Retry-After: 1 not honoured ({:?})",
        t.elapsed()
    );

    // a dropped connection is an error, not a hang
    h.inject(Fault {
        method: Some("GET".into()),
        path_prefix: "/api/v1/namespaces/site/configmaps/a".into(),
        remaining: 1,
        action: FaultAction::Drop,
    });
    let r = tokio::time::timeout(Duration::from_secs(10), cms.get("a"))
        .await
        .expect("hang on dropped connection");
    match r {
        Err(kube::Error::Api(s)) => {
            panic!("a dropped connection must be a transport error, got a Status: {s:?}")
        }
        Err(_) => {}
        Ok(_) => panic!("a dropped connection answered"),
    }
    cms.get("a").await.expect("the next request gets through");

    // stop and start again: same objects, same CA, same resourceVersion line
    let rv = cms
        .get("a")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let addr = h.addr;
    h.stop().await;
    let h2 = server(Options { addr, ..opts }).await;
    let c2 = client(&h2).await;
    let cms2: Api<ConfigMap> = Api::namespaced(c2, "site");
    let back = cms2.get("a").await.expect("object kept across restart");
    assert_eq!(back.metadata.resource_version.unwrap(), rv);
    assert_eq!(back.data.unwrap()["k"], "v");
    h2.stop().await;
}

#[tokio::test]
async fn bad_and_readonly_tokens_get_401_and_403() {
    let h = server(Options {
        behavior: Behavior::Ready,
        ..Default::default()
    })
    .await;
    let kc = h.kubeconfig().replace("geowp-fake-admin", "wrong");
    let cfg = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&kc).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let bad: Api<Namespace> = Api::all(Client::try_from(cfg).unwrap());
    match bad.list(&Default::default()).await.unwrap_err() {
        kube::Error::Api(s) => assert_eq!(s.code, 401),
        e => panic!("{e:?}"),
    }
    let kc = h
        .kubeconfig()
        .replace("geowp-fake-admin", "geowp-fake-readonly");
    let cfg = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&kc).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let ro: Api<Namespace> = Api::all(Client::try_from(cfg).unwrap());
    assert!(ro.list(&Default::default()).await.is_ok());
    match ro
        .delete("default", &DeleteParams::default())
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden")),
        e => panic!("{e:?}"),
    }
    h.stop().await;
}
