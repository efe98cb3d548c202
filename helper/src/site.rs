//! `geowp-helper site status`: one table for a whole site across its
//! clusters. Per region: WordPress ready replicas, PD member health and
//! leadership, TiKV store state and leader count, the SyncThing group
//! config and pod, and when the region's certificate expires; then the
//! site's last good backup, warned about when older than twice the
//! interval.
//!
//! Everything is read through the Kubernetes API: PD is asked with pd-ctl
//! from the PD image, run as a short-lived Job in the first region that
//! answers (with that region's certificate), its output read from the Job's
//! pod log, so no network path to the pods is needed.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements,
    SeccompProfile, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PatchParams;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use geowp_common::error_chain;
use geowp_common::names::{annotation, label, object, secret, FIELD_MANAGER};
use geowp_kube::{Cluster, Obj, ObjRef};
use geowp_syncthing::group::{Settings, IN_SYNC};

use crate::sync::{connect_all, kube_members, member_state, KubeTarget, SyncError, POD_READY};

/// A certificate closer to its end than this is unhealthy (the provider
/// reissues within 30 days at the next apply).
const CERT_WARN_DAYS: i64 = 30;

/// What one region says about itself.
#[derive(Default)]
struct Region {
    member: String,
    error: Option<String>,
    wordpress: String,
    wordpress_ok: bool,
    tikv_address: Option<String>,
    cert: String,
    cert_ok: bool,
    pd_image: Option<String>,
    pd_tls: bool,
}

async fn region(c: &Cluster, ns: &str, context: &str) -> Region {
    let mut r = Region {
        member: context.to_string(),
        ..Default::default()
    };
    let get = |kind: &str, name: &str| {
        let api = if kind == "Namespace" || kind == "Secret" {
            "v1"
        } else {
            "apps/v1"
        };
        let namespace = if kind == "Namespace" { "" } else { ns };
        ObjRef::new(api, kind, namespace, name)
    };
    let nsobj = match c.get(&get("Namespace", ns)).await {
        Ok(Some(n)) => n,
        Ok(None) => {
            r.error = Some(format!("no namespace {ns}: no stack here"));
            return r;
        }
        Err(e) => {
            r.error = Some(format!("unreachable: {}", error_chain(&e)));
            return r;
        }
    };
    if let Some(m) = nsobj["metadata"]["labels"][label::MEMBER].as_str() {
        r.member = m.to_string();
    }
    let spec: Value = nsobj["metadata"]["annotations"][annotation::STACK_CONFIG]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null);
    r.tikv_address = spec["members"][&r.member]["tikv_address"]
        .as_str()
        .map(String::from);
    match c.get(&get("Deployment", object::WORDPRESS)).await {
        Ok(Some(d)) => {
            let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = d["status"]["readyReplicas"].as_i64().unwrap_or(0);
            r.wordpress = format!("{ready}/{want} ready");
            r.wordpress_ok = ready >= want && want > 0;
        }
        Ok(None) => r.wordpress = "no Deployment".into(),
        Err(e) => r.wordpress = error_chain(&e),
    }
    match c.get(&get("Secret", secret::TIDB_TLS)).await {
        Ok(Some(s)) => {
            let pem = s["data"]["tls.crt"]
                .as_str()
                .and_then(geowp_common::b64::decode_text);
            match pem.as_deref().map(geowp_kube::pem::not_after) {
                Some(Ok(t)) => {
                    let days = (t - geowp_common::time::unix_now()) / 86400;
                    r.cert = format!("{} ({days} d)", geowp_common::time::date(t));
                    r.cert_ok = days >= CERT_WARN_DAYS;
                }
                _ => r.cert = "unreadable".into(),
            }
        }
        Ok(None) => {
            r.cert = "no TLS".into();
            r.cert_ok = true;
        }
        Err(e) => r.cert = error_chain(&e),
    }
    if let Ok(Some(pd)) = c.get(&get("StatefulSet", object::PD)).await {
        let c0 = &pd["spec"]["template"]["spec"]["containers"][0];
        r.pd_image = c0["image"].as_str().map(String::from);
        r.pd_tls = c0["args"].as_array().into_iter().flatten().any(|a| {
            a.as_str()
                .is_some_and(|s| s.starts_with("--client-urls=https"))
        });
    }
    r
}

/// A pd-ctl Job like the provider's: the PD image, this region's
/// certificate, hardened, one command.
fn pd_ctl_job(ns: &str, image: &str, tls: bool, words: &[&str]) -> Obj {
    let scheme = if tls { "https" } else { "http" };
    let mut cmd = vec![
        "/pd-ctl".to_string(),
        "-u".into(),
        format!("{scheme}://{}:2379", object::PD),
    ];
    let dir = secret::TIDB_TLS_DIR;
    if tls {
        cmd.extend([
            format!("--cacert={dir}/ca.crt"),
            format!("--cert={dir}/tls.crt"),
            format!("--key={dir}/tls.key"),
        ]);
    }
    cmd.extend(words.iter().map(|w| w.to_string()));
    let mut mounts = vec![VolumeMount {
        name: "tmp".into(),
        mount_path: "/tmp".into(),
        ..Default::default()
    }];
    let mut volumes = vec![Volume {
        name: "tmp".into(),
        empty_dir: Some(Default::default()),
        ..Default::default()
    }];
    if tls {
        mounts.push(VolumeMount {
            name: "tls".into(),
            mount_path: dir.into(),
            read_only: Some(true),
            ..Default::default()
        });
        volumes.push(Volume {
            name: "tls".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret::TIDB_TLS.into()),
                default_mode: Some(0o440),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let q = |s: &str| Quantity(s.into());
    let nonce: u32 = rand_u32();
    let labels = BTreeMap::from([
        (
            label::MANAGED_BY.to_string(),
            label::MANAGED_BY_VALUE.to_string(),
        ),
        (label::COMPONENT.to_string(), "pd-ctl".to_string()),
    ]);
    Obj::new(&Job {
        metadata: ObjectMeta {
            name: Some(format!("geowp-status-{nonce:08x}")),
            namespace: Some(ns.into()),
            labels: Some(labels.clone()),
            ..Default::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(3),
            ttl_seconds_after_finished: Some(300),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("OnFailure".into()),
                    automount_service_account_token: Some(false),
                    // the hardening every pod geowp makes has (the
                    // provider's render::harden): seccomp RuntimeDefault,
                    // a user, no capability, no escalation
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(10001),
                        run_as_group: Some(10001),
                        fs_group: Some(10001),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    containers: vec![Container {
                        name: "pd-ctl".into(),
                        image: Some(image.into()),
                        command: Some(cmd),
                        volume_mounts: Some(mounts),
                        resources: Some(ResourceRequirements {
                            requests: Some(BTreeMap::from([
                                ("cpu".into(), q("50m")),
                                ("memory".into(), q("64Mi")),
                            ])),
                            limits: Some(BTreeMap::from([("memory".into(), q("128Mi"))])),
                            ..Default::default()
                        }),
                        security_context: Some(SecurityContext {
                            allow_privilege_escalation: Some(false),
                            privileged: Some(false),
                            read_only_root_filesystem: Some(true),
                            capabilities: Some(Capabilities {
                                drop: Some(vec!["ALL".into()]),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn rand_u32() -> u32 {
    // no rand crate here: the clock and the process id are unique enough for a Job name
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    t ^ std::process::id().rotate_left(16)
}

fn json_of(out: &str) -> Option<Value> {
    let start = out.find(['{', '['])?;
    serde_json::from_str(&out[start..]).ok()
}

/// What PD says: member health and leader, stores by address.
#[derive(Default)]
struct Pd {
    leader: Option<String>,
    health: BTreeMap<String, bool>,
    /// address => (state, leader count)
    stores: BTreeMap<String, (String, u64)>,
    error: Option<String>,
}

async fn ask_pd(c: &Cluster, ns: &str, image: &str, tls: bool) -> Pd {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut pd = Pd::default();
    let run = |words: &'static [&'static str]| {
        let job = pd_ctl_job(ns, image, tls, words);
        let params = params.clone();
        async move { c.run_job(&job, &params).await }
    };
    match run(&["member"]).await.map(|o| json_of(&o)) {
        Ok(Some(v)) => pd.leader = v["leader"]["name"].as_str().map(String::from),
        Ok(None) => pd.error = Some("pd-ctl member printed no member list".into()),
        Err(e) => pd.error = Some(error_chain(&e)),
    }
    if let Ok(Some(Value::Array(hs))) = run(&["health"]).await.map(|o| json_of(&o)) {
        for h in hs {
            if let Some(n) = h["name"].as_str() {
                pd.health
                    .insert(n.into(), h["health"].as_bool().unwrap_or(false));
            }
        }
    }
    if let Ok(Some(v)) = run(&["store"]).await.map(|o| json_of(&o)) {
        for s in v["stores"].as_array().into_iter().flatten() {
            if let Some(a) = s["store"]["address"].as_str() {
                pd.stores.insert(
                    a.into(),
                    (
                        s["store"]["state_name"].as_str().unwrap_or("?").into(),
                        s["status"]["leader_count"].as_u64().unwrap_or(0),
                    ),
                );
            }
        }
    }
    pd
}

/// The site's status table; [`SyncError::Unhealthy`] (exit 3) when any part
/// of any region is not as it should be, [`SyncError::Failed`] when no
/// region answers at all.
pub async fn status(
    t: &KubeTarget,
    s: &Settings,
    timeout: Duration,
    cancel: CancellationToken,
) -> Result<Vec<String>, SyncError> {
    let deadline = Instant::now() + timeout;
    let cs = connect_all(t, deadline, &cancel).await?;
    let regions: Vec<Region> = futures_util::future::join_all(
        t.members
            .iter()
            .zip(&cs)
            .map(|((_, ctx), c)| region(c, &t.namespace, ctx)),
    )
    .await;
    // PD, from the first region that answers and runs it
    let asker = regions
        .iter()
        .zip(&cs)
        .find(|(r, _)| r.error.is_none() && r.pd_image.is_some());
    let pd = match asker {
        Some((r, c)) => {
            ask_pd(
                c,
                &t.namespace,
                r.pd_image.as_deref().unwrap_or(""),
                r.pd_tls,
            )
            .await
        }
        None => Pd {
            error: Some("no region answers with a PD to ask".into()),
            ..Default::default()
        },
    };
    // SyncThing: the group's config as the group would write it, and the pod
    // members are named as the stacks name them (the namespace's member
    // label), not after their contexts
    let named = KubeTarget {
        kubeconfig: t.kubeconfig.clone(),
        members: t
            .members
            .iter()
            .zip(&regions)
            .map(|((_, ctx), r)| (r.member.clone(), ctx.clone()))
            .collect(),
        namespace: t.namespace.clone(),
        addresses: t.addresses.clone(),
    };
    let sync: Vec<(String, bool)> = if regions.iter().all(|r| r.error.is_none()) {
        match kube_members(&named, &cs).await {
            Ok(ms) => {
                let checks = futures_util::future::join_all(
                    ms.iter().zip(&cs).map(|(m, c)| member_state(c, m, &ms, s)),
                )
                .await;
                checks
                    .into_iter()
                    .map(|r| match r {
                        Ok((cfg, rollout)) => {
                            let ok = cfg == IN_SYNC && rollout == POD_READY;
                            (format!("{cfg}, {rollout}"), ok)
                        }
                        Err(e) => (error_chain(&e), false),
                    })
                    .collect()
            }
            Err(e) => regions.iter().map(|_| (e.to_string(), false)).collect(),
        }
    } else {
        regions
            .iter()
            .map(|_| ("unknown: a region does not answer".to_string(), false))
            .collect()
    };
    let mut lines = vec![format!(
        "{:<12} {:<14} {:<22} {:<22} {:<30} CERTIFICATE",
        "REGION", "WORDPRESS", "PD", "TIKV", "SYNCTHING"
    )];
    let mut problems = Vec::new();
    for (r, (sync, sync_ok)) in regions.iter().zip(sync) {
        if let Some(e) = &r.error {
            problems.push(format!("{}: {e}", r.member));
            lines.push(format!("{:<12} {e}", r.member));
            continue;
        }
        let pd_col = match (pd.health.get(&r.member), &pd.error) {
            (_, Some(e)) => format!("unknown ({e})"),
            (None, None) => "not a member".into(),
            (Some(true), None) if pd.leader.as_deref() == Some(r.member.as_str()) => {
                "healthy, leader".into()
            }
            (Some(true), None) => "healthy".into(),
            (Some(false), None) => "unhealthy".into(),
        };
        let pd_ok = pd_col.starts_with("healthy");
        let (tikv_col, tikv_ok) = match r.tikv_address.as_ref().and_then(|a| pd.stores.get(a)) {
            Some((state, leaders)) => (format!("{state}, {leaders} leaders"), state == "Up"),
            None => ("no store".to_string(), false),
        };
        for (ok, what) in [
            (r.wordpress_ok, format!("WordPress {}", r.wordpress)),
            (pd_ok, format!("PD {pd_col}")),
            (tikv_ok, format!("TiKV {tikv_col}")),
            (sync_ok, format!("SyncThing {sync}")),
            (r.cert_ok, format!("certificate expires {}", r.cert)),
        ] {
            if !ok {
                problems.push(format!("{}: {what}", r.member));
            }
        }
        lines.push(format!(
            "{:<12} {:<14} {:<22} {:<22} {:<30} {}",
            r.member, r.wordpress, pd_col, tikv_col, sync, r.cert
        ));
    }
    if pd.leader.is_none() && pd.error.is_none() {
        problems.push("PD has no leader".into());
    }
    // the last good backup, asked in the first region that runs backups
    let (backup, backup_ok) = crate::backup::last_good(t, &cs).await;
    if !backup_ok {
        problems.push(backup.clone());
    }
    lines.push(backup);
    if regions.iter().all(|r| r.error.is_some()) {
        return Err(SyncError::Failed(problems.join("\n")));
    }
    if problems.is_empty() {
        Ok(lines)
    } else {
        Err(SyncError::Unhealthy {
            report: lines,
            why: format!("the site is not healthy:\n  {}", problems.join("\n  ")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_job_runs_pd_ctl_with_the_region_certificate() {
        let j = pd_ctl_job("geowp", "pingcap/pd:v8.5.1", true, &["member"]);
        let c = &j.body["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["command"][0], "/pd-ctl");
        assert_eq!(c["command"][2], "https://pd:2379");
        assert_eq!(c["command"].as_array().unwrap().last().unwrap(), "member");
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(
            c["securityContext"]["capabilities"]["drop"],
            serde_json::json!(["ALL"])
        );
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        let pod = &j.body["spec"]["template"]["spec"]["securityContext"];
        assert_eq!(pod["seccompProfile"]["type"], "RuntimeDefault");
        assert_eq!(pod["runAsNonRoot"], true);
        assert_eq!(
            j.body["spec"]["template"]["spec"]["volumes"][1]["secret"]["secretName"],
            "tidb-tls"
        );
    }
}
