//! WordPress: a Deployment on the region's `wp-content` claim, its Service
//! (what the global load balancer targets), a PodDisruptionBudget, the health
//! page it answers on only while it reaches the database, and the must-use
//! plugin that answers SQL_CALC_FOUND_ROWS on TiDB.
//!
//! Secrets reach WordPress as files (`WORDPRESS_*_FILE`, which the official
//! image reads): only its own database password and the salts are projected,
//! never TiDB's root password.

use std::collections::BTreeMap;

use geowp_common::names::{object, secret, HEALTH_PATH, SALT_NAMES};
use geowp_kube::Obj;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, HTTPGetAction, KeyToPath,
    PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    SecretVolumeSource, Service, ServicePort, ServiceSpec, Sysctl, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::build::{config_map, env, labels, meta, mount, port, selector, svc_port};
use super::harden::{self, RunAs};
use super::nfs::WP_CONTENT_CLAIM;
use super::spec::Component;
use super::{salt_env, StackSpec};

/// Ready only when the database answers within a second (below the load
/// balancer's health check timeout, so a region whose database is gone
/// drops out at once).
pub const HEALTH_PHP: &str = r#"<?php
// geowp health check: ready only when the database answers.
function geowp_env($name) {
    $file = getenv($name . '_FILE');
    return $file ? rtrim(file_get_contents($file), "\r\n") : getenv($name);
}
$host = explode(':', geowp_env('WORDPRESS_DB_HOST'));
mysqli_report(MYSQLI_REPORT_OFF);
$db = mysqli_init();
$db->options(MYSQLI_OPT_CONNECT_TIMEOUT, 1);
$ok = @$db->real_connect($host[0], geowp_env('WORDPRESS_DB_USER'), geowp_env('WORDPRESS_DB_PASSWORD'), geowp_env('WORDPRESS_DB_NAME'), isset($host[1]) ? (int)$host[1] : 3306);
if (!$ok || !$db->query('SELECT 1')) {
    http_response_code(503);
    echo "database unavailable\n";
    exit;
}
echo "ok\n";
"#;

/// The must-use plugin: SQL_CALC_FOUND_ROWS / FOUND_ROWS() as COUNT(*).
pub const FOUND_ROWS_PHP: &str = include_str!("geowp-found-rows.php");
pub const FOUND_ROWS_FILE: &str = "geowp-found-rows.php";
/// The must-use plugin that creates the tables whose IDs people see with
/// TiDB's AUTO_ID_CACHE 1 (IDs in write order across regions; docs/guides/wordpress-on-tidb.md).
pub const AUTO_ID_PHP: &str = include_str!("geowp-auto-id.php");
pub const AUTO_ID_FILE: &str = "geowp-auto-id.php";
/// Every must-use plugin geowp installs (file name, text).
pub const MU_PLUGINS: [(&str, &str); 4] = [
    (MAINTENANCE_FILE, MAINTENANCE_PHP),
    (FOUND_ROWS_FILE, FOUND_ROWS_PHP),
    (AUTO_ID_FILE, AUTO_ID_PHP),
    (PAGE_CACHE_FILE, PAGE_CACHE_PHP),
];
/// The drop-ins geowp installs in wp-content (path there, ConfigMap key,
/// text): stale reads as `db.php`, which WordPress loads before its first
/// query (a must-use plugin loads after the autoloaded options are read).
pub const DROP_INS: [(&str, &str, &str); 1] = [("db.php", STALE_READS_FILE, STALE_READS_PHP)];
/// The must-use plugin that holds every region in maintenance while a
/// backup is restored (docs/guides/backups.md).
pub const MAINTENANCE_PHP: &str = include_str!("geowp-maintenance.php");
pub const MAINTENANCE_FILE: &str = "geowp-maintenance.php";
/// The must-use plugin that bans this region's cached pages when content
/// changes (docs/guides/page-cache.md).
pub const PAGE_CACHE_PHP: &str = include_str!("geowp-page-cache.php");
pub const PAGE_CACHE_FILE: &str = "geowp-page-cache.php";
/// The must-use plugin that reads visitors' pages from the region's own
/// TiKV replicas (TiDB stale reads; docs/guides/page-cache.md).
pub const STALE_READS_PHP: &str = include_str!("geowp-stale-reads.php");
pub const STALE_READS_FILE: &str = "geowp-stale-reads.php";
pub const HEALTH_FILE: &str = "geowp-health.php";
/// The runner of WordPress's scheduled events: one run at a time site-wide
/// (a database lock), started every minute by a CronJob in every region.
pub const CRON_PHP: &str = include_str!("geowp-cron.php");
pub const CRON_FILE: &str = "geowp-cron.php";
/// The runner's CronJob (and its pods' component label).
pub const CRON_JOB: &str = "wordpress-cron";
/// Where the runner is mounted: outside the document root, never served.
const CRON_DIR: &str = "/geowp";
const DOCROOT: &str = "/var/www/html";
const SECRETS_DIR: &str = "/run/secrets/geowp";

/// The sysctl that lets WordPress, as www-data with no capability, bind
/// Apache's port 80: one of Kubernetes' safe sysctls (namespaced to the
/// pod, allowed by default and by the Pod Security Standards' baseline and
/// restricted profiles: "Restrict sysctls"). The official image documents
/// running as an arbitrary user; only the port needs this.
pub const UNPRIVILEGED_PORTS: &str = "net.ipv4.ip_unprivileged_port_start";

/// The shared volume in a WordPress pod. With `file_mods` all of
/// wp-content (plugins and themes installed from wp-admin live there and
/// sync). Without, only `uploads`: plugins and themes are the image's,
/// copied into the pod's own wp-content by the image's entrypoint at every
/// start (it skips a plugin directory that already exists, docker-library/
/// wordpress#506, so a plugin on a shared volume would keep its first
/// version whatever the image brings), and caches stay in the pod.
fn content_mount(file_mods: bool) -> VolumeMount {
    if file_mods {
        mount("wp-content", &format!("{DOCROOT}/wp-content"))
    } else {
        VolumeMount {
            sub_path: Some("uploads".into()),
            ..mount("wp-content", &format!("{DOCROOT}/wp-content/uploads"))
        }
    }
}

fn read_only(name: &str, path: &str, sub_path: Option<&str>) -> VolumeMount {
    VolumeMount {
        read_only: Some(true),
        sub_path: sub_path.map(String::from),
        ..mount(name, path)
    }
}

/// What the image's wp-config.php evaluates from `WORDPRESS_CONFIG_EXTRA`:
/// the site's address; unless `file_mods`, no code written from wp-admin and
/// no core auto-updates (code comes with the image); and with TLS at the
/// load balancer, that every request is https (the official image already
/// honours X-Forwarded-Proto).
pub fn config_extra(site_url: &str, tls_at_load_balancer: bool, file_mods: bool) -> String {
    let url = site_url.replace('\'', "");
    // scheduled events run from geowp's runner (CRON_FILE), never from a
    // page load in whichever region it lands
    let mut extra = format!(
        "define('WP_HOME', '{url}');\ndefine('WP_SITEURL', '{url}');\ndefine('DISABLE_WP_CRON', true);\n"
    );
    if !file_mods {
        extra.push_str(
            "define('DISALLOW_FILE_MODS', true);\ndefine('AUTOMATIC_UPDATER_DISABLED', true);\n",
        );
    }
    if tls_at_load_balancer {
        extra.push_str("$_SERVER['HTTPS'] = 'on';\n");
    }
    extra
}

pub fn objects(spec: &StackSpec) -> Vec<Obj> {
    let file = |key: &str| format!("{SECRETS_DIR}/{key}");
    let mut env_vars = vec![
        env("WORDPRESS_DB_HOST", "tidb:4000"),
        env("WORDPRESS_DB_USER", "wordpress"),
        env("WORDPRESS_DB_NAME", "wordpress"),
        env(
            "WORDPRESS_DB_PASSWORD_FILE",
            &file(secret::WORDPRESS_DB_PASSWORD),
        ),
        env("WORDPRESS_DB_CHARSET", "utf8mb4"),
        // TiDB has no utf8mb4_unicode_520_ci, WordPress' default
        env("WORDPRESS_DB_COLLATE", "utf8mb4_general_ci"),
        env(
            "WORDPRESS_CONFIG_EXTRA",
            &config_extra(
                &spec.site_url,
                spec.wordpress_tls_at_load_balancer,
                spec.wordpress_file_mods,
            ),
        ),
        // how old a visitor's reads may be (geowp-stale-reads.php; 0: fresh)
        env(
            "GEOWP_STALE_READ_SECONDS",
            &spec.stale_read_seconds.to_string(),
        ),
        // where the page-cache plugin bans pages when content changes
        env(super::cache::PURGE_ENV, &super::cache::purge_target(spec)),
    ];
    let mut salts = SALT_NAMES;
    salts.sort_unstable();
    for k in salts {
        env_vars.push(env(&format!("{}_FILE", salt_env(k)), &file(k)));
    }
    let projected: Vec<KeyToPath> = std::iter::once(secret::WORDPRESS_DB_PASSWORD)
        .chain(salts)
        .map(|k| KeyToPath {
            key: k.into(),
            path: k.into(),
            mode: None,
        })
        .collect();
    let health = Probe {
        http_get: Some(HTTPGetAction {
            path: Some(HEALTH_PATH.into()),
            port: IntOrString::Int(80),
            ..Default::default()
        }),
        period_seconds: Some(10),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Default::default()
    };
    let pod = PodSpec {
        automount_service_account_token: Some(false),
        // www-data, the owner of WordPress's files in the image and on the
        // shared volume; Apache runs as it without switching users
        security_context: Some(PodSecurityContext {
            sysctls: Some(vec![Sysctl {
                name: UNPRIVILEGED_PORTS.into(),
                value: "80".into(),
            }]),
            ..harden::pod(RunAs::User { uid: 33, gid: 33 })
        }),
        containers: vec![Container {
            name: object::WORDPRESS.into(),
            image: Some(spec.wordpress_image.clone()),
            env: Some(env_vars),
            ports: Some(vec![port("http", 80)]),
            volume_mounts: Some(
                (!spec.wordpress_file_mods)
                    .then(|| mount("wp-content-local", &format!("{DOCROOT}/wp-content")))
                    .into_iter()
                    .chain([
                        content_mount(spec.wordpress_file_mods),
                        read_only(
                            "health",
                            &format!("{DOCROOT}/{HEALTH_FILE}"),
                            Some(HEALTH_FILE),
                        ),
                    ])
                    .chain(MU_PLUGINS.iter().map(|(file, _)| {
                        read_only(
                            "mu-plugins",
                            &format!("{DOCROOT}/wp-content/mu-plugins/{file}"),
                            Some(file),
                        )
                    }))
                    .chain(DROP_INS.iter().map(|(path, key, _)| {
                        read_only(
                            "mu-plugins",
                            &format!("{DOCROOT}/wp-content/{path}"),
                            Some(key),
                        )
                    }))
                    .chain([read_only("secrets", SECRETS_DIR, None)])
                    .collect(),
            ),
            readiness_probe: Some(health),
            // alive while Apache accepts connections (the database's health
            // is readiness, not liveness: a restart would not bring it back)
            liveness_probe: Some(harden::tcp(80, 20, 30, 6)),
            resources: Some(harden::resources(&spec.resources_of(Component::Wordpress))),
            // nothing added back: no root, no capability
            security_context: Some(harden::container(&[])),
            ..Default::default()
        }],
        volumes: Some(
            // without file mods the pod's own wp-content holds the image's
            // plugins and themes, copied by the entrypoint as www-data: a
            // volume of www-data's group (a mount point the runtime made for
            // uploads would be root's)
            (!spec.wordpress_file_mods)
                .then(|| Volume {
                    name: "wp-content-local".into(),
                    empty_dir: Some(Default::default()),
                    ..Default::default()
                })
                .into_iter()
                .chain([
                    Volume {
                        name: "wp-content".into(),
                        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                            claim_name: WP_CONTENT_CLAIM.into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    Volume {
                        name: "health".into(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: "wordpress-health".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    Volume {
                        name: "mu-plugins".into(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: "wordpress-mu-plugins".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    Volume {
                        name: "secrets".into(),
                        secret: Some(SecretVolumeSource {
                            secret_name: Some(secret::SITE.into()),
                            items: Some(projected),
                            default_mode: Some(0o440),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                ])
                .collect(),
        ),
        ..Default::default()
    };
    let cron = cron_job(spec, &pod);
    let deployment = Deployment {
        metadata: meta(spec, object::WORDPRESS, object::WORDPRESS),
        spec: Some(DeploymentSpec {
            replicas: Some(spec.wordpress_replicas),
            selector: LabelSelector {
                match_labels: Some(selector(object::WORDPRESS)),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(spec, object::WORDPRESS)),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut service_meta = meta(spec, object::WORDPRESS, object::WORDPRESS);
    if !spec.wordpress_service_annotations.is_empty() {
        service_meta.annotations = Some(spec.wordpress_service_annotations.clone());
    }
    // what the load balancer reaches: the page cache when it is on, else
    // WordPress; behind a TLS listener the one port is 443, still to the
    // pods' http
    let (front, target) = super::cache::front_component(spec);
    let port = if spec.wordpress_tls_at_load_balancer {
        svc_port("https", 443, "TCP")
    } else {
        svc_port("http", 80, "TCP")
    };
    let port = ServicePort {
        target_port: Some(target),
        ..port
    };
    let service = Service {
        metadata: service_meta,
        spec: Some(ServiceSpec {
            type_: Some(spec.wordpress_service_type.as_str().into()),
            selector: Some(selector(front)),
            ports: Some(vec![ServicePort {
                node_port: spec.wordpress_node_port,
                ..port
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    // a node drain takes one WordPress pod at a time
    let pdb = PodDisruptionBudget {
        metadata: meta(spec, object::WORDPRESS, object::WORDPRESS),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    geowp_common::names::label::COMPONENT.to_string(),
                    object::WORDPRESS.to_string(),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    vec![
        Obj::new(&config_map(spec, CRON_JOB, CRON_JOB, CRON_FILE, CRON_PHP)),
        Obj::new(&cron),
        Obj::new(&config_map(
            spec,
            "wordpress-health",
            object::WORDPRESS,
            HEALTH_FILE,
            HEALTH_PHP,
        )),
        Obj::new(&ConfigMap {
            data: Some(
                MU_PLUGINS
                    .iter()
                    .map(|(f, t)| (f.to_string(), t.to_string()))
                    .chain(
                        DROP_INS
                            .iter()
                            .map(|(_, k, t)| (k.to_string(), t.to_string())),
                    )
                    .collect(),
            ),
            ..config_map(spec, "wordpress-mu-plugins", object::WORDPRESS, "", "")
        }),
        Obj::new(&service),
        Obj::new(&pdb),
        Obj::new(&deployment),
    ]
}

/// The CronJob that runs WordPress's due events every minute: WordPress's
/// image (its PHP, its WordPress, put in place by its own
/// `docker-ensure-installed.sh`, which does for any command what the
/// entrypoint does for Apache) running geowp's runner as www-data, with the
/// web pod's environment, wp-content and must-use plugins. Every region has
/// one; the runner's database lock lets one run at a time go on, so the
/// events run once and keep running when any region is lost. A run that
/// finds the lock taken ends at once; `Forbid` keeps a region from starting
/// a second while its first still runs.
fn cron_job(spec: &StackSpec, web: &PodSpec) -> CronJob {
    let c = &web.containers[0];
    let mounts: Vec<VolumeMount> = c
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| m.name != "health")
        .cloned()
        // the web pod's own wp-content (without file mods) comes along
        .chain([mount("html", DOCROOT)])
        .chain([
            harden::tmp_mount(),
            read_only(
                CRON_JOB,
                &format!("{CRON_DIR}/{CRON_FILE}"),
                Some(CRON_FILE),
            ),
        ])
        .collect();
    let volumes: Vec<Volume> = web
        .volumes
        .iter()
        .flatten()
        .filter(|v| v.name != "health")
        .cloned()
        .chain([Volume {
            name: "html".into(),
            empty_dir: Some(Default::default()),
            ..Default::default()
        }])
        .chain([
            harden::tmp_volume(),
            Volume {
                name: CRON_JOB.into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: CRON_JOB.into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ])
        .collect();
    let pod = PodSpec {
        restart_policy: Some("Never".into()),
        automount_service_account_token: Some(false),
        // www-data, as Apache's workers in the web pods: what a scheduled
        // event writes to wp-content belongs to the same user
        security_context: Some(harden::pod(RunAs::User { uid: 33, gid: 33 })),
        containers: vec![Container {
            name: CRON_JOB.into(),
            image: c.image.clone(),
            command: Some(vec![
                "docker-ensure-installed.sh".into(),
                "php".into(),
                format!("{CRON_DIR}/{CRON_FILE}"),
            ]),
            env: c.env.clone(),
            volume_mounts: Some(mounts),
            resources: Some(harden::resources(&spec.resources_of(Component::Wordpress))),
            security_context: Some(harden::read_only(&[])),
            ..Default::default()
        }],
        volumes: Some(volumes),
        ..Default::default()
    };
    CronJob {
        metadata: meta(spec, CRON_JOB, CRON_JOB),
        spec: Some(CronJobSpec {
            schedule: "* * * * *".into(),
            concurrency_policy: Some("Forbid".into()),
            // a run missed by more than a minute is left to the next one
            starting_deadline_seconds: Some(60),
            successful_jobs_history_limit: Some(1),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(JobSpec {
                    // the next minute is the retry
                    backoff_limit: Some(0),
                    // a run holds the site's lock: bounded, so a stuck one
                    // cannot stop scheduled events for good
                    active_deadline_seconds: Some(3600),
                    template: PodTemplateSpec {
                        metadata: Some(ObjectMeta {
                            labels: Some(labels(spec, CRON_JOB)),
                            ..Default::default()
                        }),
                        spec: Some(pod),
                    },
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}
