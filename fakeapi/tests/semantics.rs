//! More of the real server's behaviour, through kube-rs: watch resume and
//! expiry, selectors, propagation policies, defaults, immutable fields of
//! other kinds, raw responses.

use std::time::Duration;

use fakeapi::{Handle, Options};
use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use kube::Client;
use serde_json::json;

async fn setup(opts: Options) -> (Handle, Client) {
    let h = fakeapi::start(opts).await.unwrap();
    let kc = kube::config::Kubeconfig::from_yaml(&h.kubeconfig()).unwrap();
    let c = Client::try_from(
        kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap(),
    )
    .unwrap();
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.clone());
    ns.patch(
        "s",
        &PatchParams::apply("t"),
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "s"}})),
    )
    .await
    .unwrap();
    (h, c)
}

fn cm(name: &str, labels: serde_json::Value, data: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "s", "labels": labels}, "data": {"v": data}})
}

#[tokio::test]
async fn watch_resumes_from_a_resource_version_and_old_ones_expire() {
    let (h, c) = setup(Options {
        event_log: 5,
        ..Default::default()
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(c, "s");
    let pp = PatchParams::apply("t");
    let first = api
        .patch("a", &pp, &Patch::Apply(cm("a", json!({}), "0")))
        .await
        .unwrap();
    let rv0 = first.metadata.resource_version.unwrap();
    for i in 1..=8 {
        api.patch("a", &pp, &Patch::Apply(cm("a", json!({}), &i.to_string())))
            .await
            .unwrap();
    }
    // resuming from a version older than the event log keeps: 410 Expired
    let mut w = api
        .watch(&WatchParams::default().timeout(5), &rv0)
        .await
        .unwrap()
        .boxed();
    match w.next().await {
        Some(Ok(WatchEvent::Error(e))) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410 Expired, got {other:?}"),
    }
    // resuming from the current version sees only what comes after
    let cur = api
        .get("a")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut w = api
        .watch(&WatchParams::default().timeout(5), &cur)
        .await
        .unwrap()
        .boxed();
    api.patch("a", &pp, &Patch::Apply(cm("a", json!({}), "new")))
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(3), w.next())
        .await
        .expect("no event")
    {
        Some(Ok(WatchEvent::Modified(o))) => assert_eq!(o.data.unwrap()["v"], "new"),
        other => panic!("{other:?}"),
    }
    // timeoutSeconds ends the stream
    let t = std::time::Instant::now();
    let mut w = api
        .watch(
            &WatchParams::default().timeout(1),
            &api.get("a")
                .await
                .unwrap()
                .metadata
                .resource_version
                .unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    assert!(tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .expect("watch outlived its timeout")
        .is_none());
    assert!(t.elapsed() >= Duration::from_millis(900));
    h.stop().await;
}

#[tokio::test]
async fn list_filters_by_label_and_field_selectors() {
    let (h, c) = setup(Options::default()).await;
    let api: Api<ConfigMap> = Api::namespaced(c, "s");
    let pp = PatchParams::apply("t");
    api.patch(
        "web",
        &pp,
        &Patch::Apply(cm("web", json!({"app": "wp", "tier": "front"}), "1")),
    )
    .await
    .unwrap();
    api.patch(
        "db",
        &pp,
        &Patch::Apply(cm("db", json!({"app": "tidb", "tier": "back"}), "1")),
    )
    .await
    .unwrap();
    api.patch("bare", &pp, &Patch::Apply(cm("bare", json!({}), "1")))
        .await
        .unwrap();
    let names = |l: kube::api::ObjectList<ConfigMap>| {
        let mut n: Vec<String> = l
            .items
            .into_iter()
            .map(|c| c.metadata.name.unwrap())
            .collect();
        n.sort();
        n.join(",")
    };
    for (sel, want) in [
        ("app=wp", "web"),
        ("app==tidb", "db"),
        ("app!=wp", "bare,db"),
        ("tier in (front,back)", "db,web"),
        ("tier notin (front)", "bare,db"),
        ("tier", "db,web"),
        ("!tier", "bare"),
        ("app=wp,tier=back", ""),
    ] {
        assert_eq!(
            names(api.list(&ListParams::default().labels(sel)).await.unwrap()),
            want,
            "selector {sel}"
        );
    }
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=db"))
                .await
                .unwrap()
        ),
        "db"
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name!=db,metadata.namespace=s"))
                .await
                .unwrap()
        ),
        "bare,web"
    );
    match api
        .list(&ListParams::default().labels("app in wp"))
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => assert_eq!(s.code, 400),
        e => panic!("{e:?}"),
    }
    h.stop().await;
}

#[tokio::test]
async fn propagation_policies_follow_owner_references() {
    let (h, c) = setup(Options::default()).await;
    let api: Api<ConfigMap> = Api::namespaced(c, "s");
    let pp = PatchParams::apply("t");
    for policy in ["Background", "Orphan", "Foreground"] {
        let owner = api
            .patch("owner", &pp, &Patch::Apply(cm("owner", json!({}), policy)))
            .await
            .unwrap();
        let uid = owner.metadata.uid.unwrap();
        let mut dep = cm("dep", json!({}), "x");
        dep["metadata"]["ownerReferences"] =
            json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]);
        api.patch("dep", &pp, &Patch::Apply(dep)).await.unwrap();
        let dp = match policy {
            "Background" => DeleteParams::background(),
            "Orphan" => DeleteParams::orphan(),
            _ => DeleteParams::foreground(),
        };
        let r = api.delete("owner", &dp).await.unwrap();
        if policy == "Foreground" {
            let kept = r
                .left()
                .expect("foreground keeps the owner until dependents are gone");
            assert!(kept
                .metadata
                .finalizers
                .unwrap()
                .contains(&"foregroundDeletion".to_string()));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            api.get_opt("owner").await.unwrap().is_none(),
            "{policy}: owner left"
        );
        let dep = api.get_opt("dep").await.unwrap();
        match policy {
            "Orphan" => {
                let d = dep.expect("orphaned dependent must stay");
                assert!(d.metadata.owner_references.unwrap_or_default().is_empty());
                api.delete("dep", &DeleteParams::default()).await.unwrap();
            }
            _ => assert!(dep.is_none(), "{policy}: dependent not collected"),
        }
    }
    h.stop().await;
}

#[tokio::test]
async fn defaults_and_immutable_fields_of_other_kinds() {
    let (h, c) = setup(Options::default()).await;
    let pp = PatchParams::apply("t");
    let secrets: Api<Secret> = Api::namespaced(c.clone(), "s");
    let s = secrets
        .patch("x", &pp, &Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x", "namespace": "s"}, "stringData": {"pw": "hunter2"}})))
        .await
        .unwrap();
    assert_eq!(s.data.unwrap()["pw"].0, b"hunter2");
    assert_eq!(s.type_.as_deref(), Some("Opaque"));

    let sts: Api<StatefulSet> = Api::namespaced(c.clone(), "s");
    let mk = |svc: &str| {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "pd", "namespace": "s"},
        "spec": {"serviceName": svc, "selector": {"matchLabels": {"app": "pd"}}, "template": {"metadata": {"labels": {"app": "pd"}},
            "spec": {"containers": [{"name": "pd", "image": "pingcap/pd:v8.5.0"}]}}}})
    };
    let got = sts
        .patch("pd", &pp, &Patch::Apply(mk("pd-peer")))
        .await
        .unwrap();
    assert_eq!(
        got.spec
            .as_ref()
            .unwrap()
            .update_strategy
            .as_ref()
            .unwrap()
            .type_
            .as_deref(),
        Some("RollingUpdate")
    );
    assert_eq!(
        got.spec.unwrap().pod_management_policy.as_deref(),
        Some("OrderedReady")
    );
    match sts
        .patch("pd", &pp, &Patch::Apply(mk("other")))
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => assert!(
            s.code == 422
                && s.message
                    .contains("updates to statefulset spec for fields other than"),
            "{}",
            s.message
        ),
        e => panic!("{e:?}"),
    }

    let rbs: Api<RoleBinding> = Api::namespaced(c.clone(), "s");
    let rb = |role: &str| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb", "namespace": "s"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}, "subjects": [{"kind": "ServiceAccount", "name": "nfs", "namespace": "s"}]})
    };
    rbs.patch("rb", &pp, &Patch::Apply(rb("a"))).await.unwrap();
    match rbs
        .patch("rb", &pp, &Patch::Apply(rb("b")))
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => assert!(
            s.code == 422 && s.message.contains("cannot change roleRef"),
            "{}",
            s.message
        ),
        e => panic!("{e:?}"),
    }

    let scs: Api<StorageClass> = Api::all(c.clone());
    let sc = |gid: &str| json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "nfs"}, "provisioner": "geowp/nfs", "parameters": {"gid": gid}});
    let got = scs
        .patch("nfs", &pp, &Patch::Apply(sc("33")))
        .await
        .unwrap();
    assert_eq!(got.reclaim_policy.as_deref(), Some("Delete"));
    match scs
        .patch("nfs", &pp, &Patch::Apply(sc("34")))
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => assert_eq!(s.code, 422),
        e => panic!("{e:?}"),
    }

    // deleting a Service answers with the Service, not a Status
    let svcs: Api<Service> = Api::namespaced(c.clone(), "s");
    svcs.patch("wp", &pp, &Patch::Apply(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "wp", "namespace": "s"}, "spec": {"ports": [{"port": 80}]}})))
        .await
        .unwrap();
    let req = http::Request::delete("/api/v1/namespaces/s/services/wp")
        .body(Vec::new())
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_str(&c.request_text(req).await.unwrap()).unwrap();
    assert_eq!(body["kind"], "Service");
    let req = http::Request::delete("/api/v1/namespaces/s/secrets/x")
        .body(Vec::new())
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_str(&c.request_text(req).await.unwrap()).unwrap();
    assert_eq!(
        (body["kind"].as_str(), body["status"].as_str()),
        (Some("Status"), Some("Success"))
    );
    h.stop().await;
}

#[tokio::test]
async fn raw_answers_discovery_openapi_and_odd_queries() {
    let (h, c) = setup(Options::default()).await;
    // no Accept header: JSON
    let req = http::Request::get("/api/v1/namespaces?&&limit=5&")
        .body(Vec::new())
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_str(&c.request_text(req).await.unwrap()).unwrap();
    assert_eq!(body["kind"], "NamespaceList");
    let req = http::Request::get("/openapi/v2").body(Vec::new()).unwrap();
    assert_eq!(c.request_text(req).await.unwrap(), "");
    let v = c.apiserver_version().await.unwrap();
    assert_eq!(v.major, "1");
    let groups = c.list_api_groups().await.unwrap();
    for g in [
        "apps",
        "batch",
        "rbac.authorization.k8s.io",
        "storage.k8s.io",
        "policy",
    ] {
        assert!(
            groups.groups.iter().any(|x| x.name == g),
            "{g} missing from /apis"
        );
    }
    let core = c.list_core_api_resources("v1").await.unwrap();
    assert!(core
        .resources
        .iter()
        .any(|r| r.name == "persistentvolumeclaims" && r.namespaced));
    h.stop().await;
}

#[tokio::test]
async fn apply_answers_201_then_200_and_claims_and_jobs_get_status() {
    let (h, c) = setup(Options {
        ready_delay: Duration::from_millis(150),
        ..Default::default()
    })
    .await;
    let body = serde_json::to_vec(&cm("codes", json!({}), "1")).unwrap();
    let mk = || {
        http::Request::patch("/api/v1/namespaces/s/configmaps/codes?fieldManager=t")
            .header("Content-Type", "application/apply-patch+yaml")
            .body(body.clone())
            .unwrap()
    };
    assert_eq!(c.send(mk().map(Into::into)).await.unwrap().status(), 201);
    assert_eq!(c.send(mk().map(Into::into)).await.unwrap().status(), 200);

    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.clone());
    let n = ns.get("s").await.unwrap();
    assert_eq!(
        n.metadata.labels.unwrap()["kubernetes.io/metadata.name"],
        "s"
    );
    assert_eq!(
        n.spec.unwrap().finalizers.unwrap(),
        vec!["kubernetes".to_string()]
    );

    let pvcs: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        Api::namespaced(c.clone(), "s");
    let pvc = |name: &str, behavior: &str| {
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "s", "annotations": {"fake.geowp.dev/behavior": behavior}},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "5Gi"}}}})
    };
    let p = pvcs
        .patch(
            "files",
            &PatchParams::apply("t"),
            &Patch::Apply(pvc("files", "ready")),
        )
        .await
        .unwrap();
    assert_eq!(p.status.unwrap().phase.as_deref(), Some("Pending"));
    pvcs.patch(
        "stuck",
        &PatchParams::apply("t"),
        &Patch::Apply(pvc("stuck", "never-ready")),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let p = pvcs.get("files").await.unwrap().status.unwrap();
    assert_eq!(p.phase.as_deref(), Some("Bound"));
    assert_eq!(p.capacity.unwrap()["storage"].0, "5Gi");
    assert_eq!(
        pvcs.get("stuck")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Pending")
    );

    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(c.clone(), "s");
    let job = |name: &str, behavior: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "s", "annotations": {"fake.geowp.dev/behavior": behavior}},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "x", "image": "busybox:1.36"}]}}}})
    };
    jobs.patch(
        "ok",
        &PatchParams::apply("t"),
        &Patch::Apply(job("ok", "ready")),
    )
    .await
    .unwrap();
    jobs.patch(
        "bad",
        &PatchParams::apply("t"),
        &Patch::Apply(job("bad", "fail")),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ok = jobs.get("ok").await.unwrap().status.unwrap();
    assert_eq!(ok.conditions.unwrap()[0].type_, "Complete");
    let bad = jobs.get("bad").await.unwrap().status.unwrap();
    let cond = &bad.conditions.unwrap()[0];
    assert_eq!(
        (cond.type_.as_str(), cond.reason.as_deref()),
        ("Failed", Some("BackoffLimitExceeded"))
    );
    h.stop().await;
}
