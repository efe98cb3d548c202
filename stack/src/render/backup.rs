//! Scheduled backups and the restore template (docs/guides/backups.md).
//!
//! With `backup_repository` set, a region has:
//! - Secret `geowp-backup`: the repository password and credentials.
//! - ConfigMap `geowp-backup`: the steps' script ([`SCRIPT`]).
//! - CronJob `geowp-backup`: every `backup_interval_hours`, in every region
//!   at the same minute; a row in the database lets one region take each run
//!   (see the script), so backups go on when any region is lost.
//! - CronJob `geowp-restore`, suspended: never scheduled, the template
//!   `geowp-helper site restore` makes its Job from, so the restore pod is
//!   rendered here, hardened like every other pod, and not re-rendered by the
//!   helper.
//!
//! Each pod runs its steps as init containers and a last container: the
//! MySQL client image dumps and loads, restic's image stores and fetches,
//! all as www-data (uid 33, WordPress's files' owner), with read-only root
//! filesystems and no capabilities.

use std::collections::BTreeMap;

use geowp_common::names::{object, secret};
use geowp_kube::Obj;
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, KeyToPath,
    PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, Secret, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::build::{bytes, config_map, env, labels, meta, mount};
use super::harden::{self, RunAs};
use super::{Secrets, StackSpec};

/// The steps of backup and restore, one per container.
pub const SCRIPT: &str = include_str!("geowp-backup.sh");
/// The CronJob, ConfigMap and Secret of backups (and their pods' component).
pub const BACKUP: &str = "geowp-backup";
/// The suspended CronJob whose template a restore's Job is made from.
pub const RESTORE: &str = "geowp-restore";
/// The key of `backup_credentials` holding a Google service account key's
/// JSON: written to a file, which `GOOGLE_APPLICATION_CREDENTIALS` names.
pub const GOOGLE_JSON_KEY: &str = "GOOGLE_APPLICATION_CREDENTIALS_JSON";
/// The repository password's key in the Secret.
pub const PASSWORD_KEY: &str = "RESTIC_PASSWORD";
/// Where the Secret is mounted (password and Google key files).
const SECRET_DIR: &str = "/run/secrets/geowp-backup";
/// Scratch shared by a pod's steps: the dump, the run's name.
const WORK: &str = "/work";
/// wp-content in the backup and restore pods.
const CONTENT: &str = "/wp-content";
/// A `/backup/PATH` repository's volume.
const VOLUME_DIR: &str = "/backup";
/// The environment variables that set a run, a mode or a restore's backup
/// (the helper sets them on the Job it makes).
pub const RUN_ENV: &str = "GEOWP_BACKUP_RUN";
pub const MODE_ENV: &str = "GEOWP_BACKUP_MODE";
pub const RESTORE_ENV: &str = "GEOWP_RESTORE_RUN";
/// The file, under wp-content, whose presence holds WordPress in
/// maintenance in every region (the must-use plugin geowp-maintenance.php
/// answers 503). In `uploads`: the part of wp-content every WordPress pod
/// mounts from the shared volume, with or without `wordpress_file_mods`.
pub const MAINTENANCE_FLAG: &str = "uploads/.geowp-maintenance";
/// A never-due schedule for the restore template (31 February); it is
/// suspended as well.
const NEVER: &str = "0 0 31 2 *";

pub fn objects(spec: &StackSpec, secrets: &Secrets) -> Vec<Obj> {
    let Some(repo) = spec.backup_repository.as_deref() else {
        return vec![];
    };
    vec![
        secret_obj(spec, secrets),
        Obj::new(&config_map(spec, BACKUP, BACKUP, "geowp-backup.sh", SCRIPT)),
        Obj::new(&cron(
            spec,
            BACKUP,
            &schedule(spec),
            false,
            pod(spec, secrets, repo, &["claim", "files"], "record", true),
            // the scheduled run of an interval is tried again by this
            // region only when it holds the run (see the script)
            2,
        )),
        Obj::new(&cron(
            spec,
            RESTORE,
            NEVER,
            true,
            pod(spec, secrets, repo, &["plan", "fetch"], "load", false),
            0,
        )),
    ]
}

/// Every `backup_interval_hours` at minute 17 UTC (away from the top of the
/// hour, when many clusters start their own jobs).
pub fn schedule(spec: &StackSpec) -> String {
    match spec.backup_interval_hours {
        24 => "17 0 * * *".into(),
        1 => "17 * * * *".into(),
        h => format!("17 */{h} * * *"),
    }
}

fn secret_obj(spec: &StackSpec, secrets: &Secrets) -> Obj {
    let mut data = BTreeMap::from([(PASSWORD_KEY.to_string(), bytes(&secrets.backup_password))]);
    for (k, v) in &secrets.backup_credentials {
        data.insert(k.clone(), bytes(v));
    }
    Obj::new(&Secret {
        metadata: meta(spec, BACKUP, BACKUP),
        data: Some(data),
        type_: Some("Opaque".into()),
        ..Default::default()
    })
}

/// The variables every step reads; credentials one by one from the Secret
/// (their names in the pod spec, never their values).
fn step_env(spec: &StackSpec, secrets: &Secrets, repo: &str) -> Vec<EnvVar> {
    let mut v = vec![
        env("DB_HOST", object::TIDB),
        env("DB_PORT", "4000"),
        env("DB_NAME", "wordpress"),
        env("DB_USER", "wordpress"),
        env(
            "DB_PASSWORD_FILE",
            &format!("{SECRET_DIR}/{}", secret::WORDPRESS_DB_PASSWORD),
        ),
        env("GEOWP_REGION", &spec.member),
        env("GEOWP_WORK", WORK),
        env("GEOWP_CONTENT", CONTENT),
        env(
            "GEOWP_INTERVAL_HOURS",
            &spec.backup_interval_hours.to_string(),
        ),
        env("GEOWP_KEEP_HOURLY", &spec.backup_keep_hourly.to_string()),
        env("GEOWP_KEEP_DAILY", &spec.backup_keep_daily.to_string()),
        env("GEOWP_KEEP_WEEKLY", &spec.backup_keep_weekly.to_string()),
        env("RESTIC_REPOSITORY", repo),
        env(
            "RESTIC_PASSWORD_FILE",
            &format!("{SECRET_DIR}/{PASSWORD_KEY}"),
        ),
        env("RESTIC_CACHE_DIR", "/tmp/restic-cache"),
    ];
    for k in secrets.backup_credentials.keys() {
        v.push(if k == GOOGLE_JSON_KEY {
            env(
                "GOOGLE_APPLICATION_CREDENTIALS",
                &format!("{SECRET_DIR}/{GOOGLE_JSON_KEY}"),
            )
        } else {
            super::build::env_secret(k, BACKUP, k)
        });
    }
    v
}

fn container(
    name: &str,
    image: &str,
    step: &str,
    env_vars: &[EnvVar],
    mounts: &[VolumeMount],
) -> Container {
    // restic holds the repository's index in memory: more than a client needs
    let resources = if matches!(step, "files" | "fetch") {
        harden::resources(&super::ComponentResources {
            cpu: Some("100m".into()),
            memory: Some("256Mi".into()),
            memory_limit: Some("2Gi".into()),
        })
    } else {
        harden::small()
    };
    Container {
        name: name.into(),
        image: Some(image.into()),
        command: Some(vec![
            "sh".into(),
            "/geowp/geowp-backup.sh".into(),
            step.into(),
        ]),
        env: Some(env_vars.to_vec()),
        volume_mounts: Some(mounts.to_vec()),
        resources: Some(resources),
        security_context: Some(harden::read_only(&[])),
        ..Default::default()
    }
}

fn pod(
    spec: &StackSpec,
    secrets: &Secrets,
    repo: &str,
    init: &[&str],
    last: &str,
    backup: bool,
) -> PodSpec {
    let vars = step_env(spec, secrets, repo);
    let mut mounts = vec![
        VolumeMount {
            read_only: Some(true),
            ..mount("script", "/geowp")
        },
        VolumeMount {
            read_only: Some(true),
            ..mount("secret", SECRET_DIR)
        },
        mount("work", WORK),
        // a backup only reads the files; a restore writes them back
        VolumeMount {
            read_only: Some(backup),
            ..mount("wp-content", CONTENT)
        },
        harden::tmp_mount(),
    ];
    let mut volumes = vec![
        Volume {
            name: "script".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: BACKUP.into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        Volume {
            name: "secret".into(),
            projected: Some(k8s_openapi::api::core::v1::ProjectedVolumeSource {
                default_mode: Some(0o440),
                sources: Some(vec![
                    k8s_openapi::api::core::v1::VolumeProjection {
                        secret: Some(k8s_openapi::api::core::v1::SecretProjection {
                            name: BACKUP.into(),
                            items: Some(vec![key(PASSWORD_KEY)]),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    k8s_openapi::api::core::v1::VolumeProjection {
                        secret: Some(k8s_openapi::api::core::v1::SecretProjection {
                            name: BACKUP.into(),
                            items: Some(vec![key(GOOGLE_JSON_KEY)]),
                            optional: Some(true),
                        }),
                        ..Default::default()
                    },
                    k8s_openapi::api::core::v1::VolumeProjection {
                        secret: Some(k8s_openapi::api::core::v1::SecretProjection {
                            name: secret::SITE.into(),
                            items: Some(vec![key(secret::WORDPRESS_DB_PASSWORD)]),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                ]),
            }),
            ..Default::default()
        },
        Volume {
            name: "work".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        },
        Volume {
            name: "wp-content".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: super::nfs_claim().into(),
                read_only: Some(backup),
            }),
            ..Default::default()
        },
        harden::tmp_volume(),
    ];
    if let Some(claim) = &spec.backup_volume_claim {
        mounts.push(mount("repository", VOLUME_DIR));
        volumes.push(Volume {
            name: "repository".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.clone(),
                read_only: None,
            }),
            ..Default::default()
        });
    }
    let image_of = |step: &str| {
        if matches!(step, "files" | "fetch") {
            spec.backup_image.clone()
        } else {
            spec.mysql_client_image.clone()
        }
    };
    let init_containers = init
        .iter()
        .map(|s| container(s, &image_of(s), s, &vars, &mounts))
        .collect();
    PodSpec {
        restart_policy: Some("Never".into()),
        service_account_name: spec.backup_service_account.clone(),
        // a token only for workload identity
        automount_service_account_token: Some(spec.backup_service_account.is_some()),
        security_context: Some(harden::pod(RunAs::User { uid: 33, gid: 33 })),
        init_containers: Some(init_containers),
        containers: vec![container(last, &image_of(last), last, &vars, &mounts)],
        volumes: Some(volumes),
        ..Default::default()
    }
}

fn key(k: &str) -> KeyToPath {
    KeyToPath {
        key: k.into(),
        path: k.into(),
        mode: None,
    }
}

fn cron(
    spec: &StackSpec,
    name: &str,
    schedule: &str,
    suspend: bool,
    pod: PodSpec,
    retries: i32,
) -> CronJob {
    CronJob {
        metadata: meta(spec, name, name),
        spec: Some(CronJobSpec {
            schedule: schedule.into(),
            time_zone: Some("Etc/UTC".into()),
            suspend: Some(suspend),
            concurrency_policy: Some("Forbid".into()),
            // a run missed by more than ten minutes is left to the next one
            starting_deadline_seconds: Some(600),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(JobSpec {
                    backoff_limit: Some(retries),
                    // bounded, so a stuck run cannot hold the schedule
                    active_deadline_seconds: Some(6 * 3600),
                    template: PodTemplateSpec {
                        metadata: Some(ObjectMeta {
                            labels: Some(labels(spec, name)),
                            ..Default::default()
                        }),
                        spec: Some(pod),
                    },
                    ..Default::default()
                }),
            },
        }),
        ..Default::default()
    }
}
