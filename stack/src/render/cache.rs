//! The page cache: Varnish in front of this region's WordPress, for
//! visitors who are not logged in (docs/guides/page-cache.md says why
//! Varnish and how long pages stay).
//!
//! With `page_cache` on, the `wordpress` Service (what the global load
//! balancer targets) leads to the cache pods, and the cache reaches WordPress
//! through the `wordpress-origin` Service. The cache has two listeners:
//! `http` (8080) for everyone, and `purge` (8081), which NetworkPolicy opens
//! only to WordPress and its cron runner; their must-use plugin bans the
//! cache's pages there when content changes, on every cache pod of the
//! region (the headless `page-cache-purge` Service names each).
//!
//! The load balancer's health check (`HEALTH_PATH`) passes through the cache
//! to WordPress's health page, never to a stored copy.

use std::collections::BTreeMap;

use geowp_common::names::{label, HEALTH_PATH};
use geowp_kube::Obj;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, EmptyDirVolumeSource, HTTPGetAction, PodSpec,
    PodTemplateSpec, Probe, Service, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::build::{config_map, labels, meta, mount, port, selector, svc_port};
use super::harden::{self, RunAs};
use super::spec::Component;
use super::StackSpec;

/// The cache's Deployment, its pods' component label and its ConfigMap.
pub const PAGE_CACHE: &str = "page-cache";
/// The headless Service naming every cache pod's purge listener.
pub const PURGE_SERVICE: &str = "page-cache-purge";
/// The ClusterIP Service of WordPress itself, which the cache fetches from.
pub const ORIGIN_SERVICE: &str = "wordpress-origin";
/// The listener the load balancer reaches (through the `wordpress` Service).
pub const HTTP_PORT: i32 = 8080;
/// The listener of bans, open only to WordPress.
pub const PURGE_PORT: i32 = 8081;
/// What WordPress's plugin is told: where to send bans.
pub const PURGE_ENV: &str = "GEOWP_PAGE_CACHE_PURGE";
const VCL_FILE: &str = "geowp.vcl";
const VCL_DIR: &str = "/etc/varnish/geowp";
const WORK_DIR: &str = "/var/lib/varnish";
/// The VCL, with `@NAME@` placeholders filled by [`vcl`].
pub const VCL_TEMPLATE: &str = include_str!("geowp.vcl");

/// While WordPress is healthy, how long past its ttl a page is still served
/// while one request refreshes it: a third of the ttl, at most 10 s. The
/// edit bound of other regions is ttl + this (docs/guides/page-cache.md).
pub fn healthy_grace(ttl: u32) -> u32 {
    (ttl / 3).min(10)
}

/// How far behind a region other than the one where an edit was made can
/// be, in seconds: a page is fresh for the ttl, then served once more while
/// it refreshes within the healthy grace.
pub fn edit_bound(ttl: u32) -> u32 {
    ttl + healthy_grace(ttl)
}

/// The VCL of a region whose WordPress is reached at `backend` (`host:port`).
pub fn vcl(spec: &StackSpec, backend_host: &str, backend_port: u16) -> String {
    VCL_TEMPLATE
        .replace("@BACKEND_HOST@", backend_host)
        .replace("@BACKEND_PORT@", &backend_port.to_string())
        .replace("@HEALTH_PATH_RE@", &HEALTH_PATH.replace('.', "\\."))
        .replace("@HEALTH_PATH@", HEALTH_PATH)
        .replace("@TTL@", &spec.page_cache_ttl.to_string())
        .replace(
            "@HEALTHY_GRACE@",
            &healthy_grace(spec.page_cache_ttl).to_string(),
        )
        .replace(
            "@STALE_IF_ERROR@",
            &spec.page_cache_stale_if_error.to_string(),
        )
}

/// Megabytes of pages the cache keeps: half its memory limit; the other
/// half is Varnish's own (worker threads and their workspaces, about 1 KiB
/// of bookkeeping per page, the shared log).
pub fn storage_mb(spec: &StackSpec) -> u64 {
    let r = spec.resources_of(Component::PageCache);
    let limit = r
        .memory_limit
        .or(r.memory)
        .and_then(|l| crate::validators::quantity(&l))
        .unwrap_or(512.0 * 1024.0 * 1024.0);
    ((limit / 2.0) / (1024.0 * 1024.0)).max(16.0) as u64
}

/// The `wordpress` Service's selector and target: the cache when it is on.
pub fn front_component(spec: &StackSpec) -> (&'static str, IntOrString) {
    if spec.page_cache {
        (PAGE_CACHE, IntOrString::String("http".into()))
    } else {
        (
            geowp_common::names::object::WORDPRESS,
            IntOrString::String("http".into()),
        )
    }
}

/// Where WordPress's plugin sends bans (empty: no cache).
pub fn purge_target(spec: &StackSpec) -> String {
    if spec.page_cache {
        format!(
            "{PURGE_SERVICE}.{}.svc.cluster.local:{PURGE_PORT}",
            spec.namespace
        )
    } else {
        String::new()
    }
}

fn http_probe(path: &str, port: i32, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(port),
            ..Default::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

pub fn objects(spec: &StackSpec) -> Vec<Obj> {
    let origin = Service {
        metadata: meta(spec, ORIGIN_SERVICE, geowp_common::names::object::WORDPRESS),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector(geowp_common::names::object::WORDPRESS)),
            ports: Some(vec![svc_port("http", 80, "TCP")]),
            ..Default::default()
        }),
        ..Default::default()
    };
    if !spec.page_cache {
        return vec![Obj::new(&origin)];
    }
    let vcl_text = vcl(spec, ORIGIN_SERVICE, 80);
    let pod = PodSpec {
        automount_service_account_token: Some(false),
        // a high uid of no image user: without root, varnishd runs its
        // worker as the same user (it falls back to its "none" jail,
        // varnish-cache@varnish-8.0.0 bin/varnishd/mgt/mgt_jail.c:115-125,
        // mgt_jail_unix.c:130-132), listens on unprivileged ports and
        // writes only its work directory (a volume) and /tmp
        security_context: Some(harden::pod(RunAs::User {
            uid: 10001,
            gid: 10001,
        })),
        containers: vec![Container {
            name: "varnish".into(),
            image: Some(spec.page_cache_image.clone()),
            command: Some(vec!["varnishd".into()]),
            args: Some(vec![
                "-F".into(),
                "-n".into(),
                format!("{WORK_DIR}/geowp"),
                "-f".into(),
                format!("{VCL_DIR}/{VCL_FILE}"),
                "-a".into(),
                format!("http=:{HTTP_PORT},HTTP"),
                "-a".into(),
                format!("purge=:{PURGE_PORT},HTTP"),
                "-s".into(),
                format!("malloc,{}M", storage_mb(spec)),
            ]),
            ports: Some(vec![port("http", HTTP_PORT), port("purge", PURGE_PORT)]),
            volume_mounts: Some(vec![
                VolumeMount {
                    read_only: Some(true),
                    ..mount("vcl", VCL_DIR)
                },
                mount("work", WORK_DIR),
                harden::tmp_mount(),
            ]),
            // ready when Varnish answers on its purge listener (whatever
            // WordPress's state: stale pages are still served)
            readiness_probe: Some(http_probe("/ready", PURGE_PORT, 5, 2)),
            liveness_probe: Some(harden::tcp(HTTP_PORT, 10, 10, 6)),
            resources: Some(harden::resources(&spec.resources_of(Component::PageCache))),
            // varnishd compiles the VCL into its work directory (a volume)
            security_context: Some(harden::read_only(&[])),
            ..Default::default()
        }],
        volumes: Some(vec![
            Volume {
                name: "vcl".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: PAGE_CACHE.into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Volume {
                name: "work".into(),
                empty_dir: Some(EmptyDirVolumeSource {
                    size_limit: Some(Quantity("512Mi".into())),
                    ..Default::default()
                }),
                ..Default::default()
            },
            harden::tmp_volume(),
        ]),
        ..Default::default()
    };
    let deployment = Deployment {
        metadata: meta(spec, PAGE_CACHE, PAGE_CACHE),
        spec: Some(DeploymentSpec {
            replicas: Some(spec.page_cache_replicas),
            selector: LabelSelector {
                match_labels: Some(selector(PAGE_CACHE)),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(spec, PAGE_CACHE)),
                    // a changed VCL rolls the pods (varnishd reads it at start)
                    annotations: Some(BTreeMap::from([(
                        geowp_common::names::annotation::CONFIG_HASH.to_string(),
                        super::build::short_hash(&vcl_text),
                    )])),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let purge = Service {
        metadata: meta(spec, PURGE_SERVICE, PAGE_CACHE),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(selector(PAGE_CACHE)),
            ports: Some(vec![svc_port("purge", PURGE_PORT, "TCP")]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pdb = PodDisruptionBudget {
        metadata: meta(spec, PAGE_CACHE, PAGE_CACHE),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    label::COMPONENT.to_string(),
                    PAGE_CACHE.to_string(),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    vec![
        Obj::new(&config_map(
            spec, PAGE_CACHE, PAGE_CACHE, VCL_FILE, &vcl_text,
        )),
        Obj::new(&origin),
        Obj::new(&purge),
        Obj::new(&pdb),
        Obj::new(&deployment),
    ]
}
