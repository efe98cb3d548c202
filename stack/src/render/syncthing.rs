//! SyncThing for `wp-content`: this member's identity (made once, never
//! regenerated), its own config with no peers (the sync group adds them),
//! its Deployment and the Service other regions dial.
//!
//! SyncThing watches the disk the NFS server writes to, not an NFS client
//! mount: inotify on a client never sees what WordPress pods on other nodes
//! write (fsnotify#306), so an upload would wait for the next full rescan.
//! Its pod runs on the NFS server's node (required pod affinity) and mounts
//! the server's ReadWriteOnce export claim: the folder is that export's
//! `pvc-UID` directory (UID: the `wp-content` claim's), mounted at the same
//! path in every region, and its config lives beside it. One replica with
//! the Recreate strategy: an identity never runs twice.

use std::collections::BTreeMap;

use geowp_common::names::{annotation, label, object, secret};
use geowp_kube::Obj;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Affinity, Container, PersistentVolumeClaimVolumeSource, PodAffinity, PodAffinityTerm, PodSpec,
    PodTemplateSpec, Secret, SecretVolumeSource, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::build::{bytes, claim, env, labels, meta, mount, port, selector, svc_port};
use super::harden::{self, RunAs};
use super::nfs::EXPORT_CLAIM;
use super::spec::Component;
use super::tidb::peer_service;
use super::{StackSpec, SyncthingSecrets};

/// The full rescan of the folder: only a safety net, inotify sees writes.
pub const RESCAN_S: u32 = 3600;
/// The export subdirectory SyncThing keeps its config in (beside the
/// provisioner's `pvc-*` directories, never exported).
pub const CONFIG_DIR: &str = ".geowp-syncthing";
/// www-data: WordPress writes through NFS as 33, and SyncThing runs as it.
const WWW_DATA: i64 = 33;

/// Copy, never template: what runs is exactly what was rendered. Runs as
/// root with CHOWN only, to hand the folder and config to www-data.
const COPY_SH: &str = "set -e\nif [ -f /group/config.xml ]; then cp /group/config.xml /var/syncthing/config/config.xml; else cp /base/config.xml /var/syncthing/config/config.xml; fi\ncp /identity/cert.pem /identity/key.pem /var/syncthing/config/\nmkdir -p /var/syncthing/data/.stfolder\nprintf '%s\\n' '// written by geowp at every start: caches and temporary files stay in their region' '(?d)/cache' '(?d)/upgrade' '(?d)/upgrade-temp-backup' '(?d)/wflogs' '(?d)*.tmp' >/var/syncthing/data/.stignore\nchmod 600 /var/syncthing/config/key.pem\n";

fn secret_volume(name: &str, secret: &str, optional: bool) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.into()),
            optional: Some(optional),
            default_mode: Some(0o440),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The directory of `wp-content`'s volume on the export disk: the NFS
/// provisioner names it after the claim (`pvc-UID`). Before the claim exists,
/// a placeholder (only the object set is rendered then).
pub fn folder_dir(wp_content_uid: Option<&str>) -> String {
    format!("pvc-{}", wp_content_uid.unwrap_or("pending"))
}

fn export_mount(name: &str, path: &str, sub_path: &str) -> VolumeMount {
    VolumeMount {
        sub_path: Some(sub_path.into()),
        ..mount(name, path)
    }
}

pub fn objects(spec: &StackSpec, st: &SyncthingSecrets, wp_content_uid: Option<&str>) -> Vec<Obj> {
    let identity = Secret {
        metadata: ObjectMeta {
            annotations: Some(BTreeMap::from([(
                annotation::DEVICE_ID.to_string(),
                st.device_id.clone(),
            )])),
            ..meta(spec, secret::SYNCTHING_IDENTITY, object::SYNCTHING)
        },
        data: Some(BTreeMap::from([
            ("cert.pem".to_string(), bytes(&st.cert_pem)),
            ("key.pem".to_string(), bytes(&st.key_pem)),
        ])),
        type_: Some("Opaque".into()),
        ..Default::default()
    };
    let own_config = geowp_syncthing::config::render(&geowp_syncthing::config::Config {
        self_id: st.device_id.clone(),
        self_name: spec.member.clone(),
        peers: vec![],
        folder_id: spec.folder_id.clone(),
        folder_label: spec.folder_id.clone(),
        folder_path: "/var/syncthing/data".into(),
        listen_address: "tcp://0.0.0.0:22000".into(),
        gui_address: "127.0.0.1:8384".into(),
        api_key: st.api_key.clone(),
        rescan_interval_s: RESCAN_S,
        watcher_delay_s: 1,
    });
    let config = Secret {
        metadata: meta(spec, secret::SYNCTHING_CONFIG, object::SYNCTHING),
        data: Some(BTreeMap::from([(
            "config.xml".to_string(),
            bytes(&own_config),
        )])),
        type_: Some("Opaque".into()),
        ..Default::default()
    };
    let folder = folder_dir(wp_content_uid);
    let nfs = spec.runs_nfs();
    // with the in-cluster NFS server: the server's own disk, where inotify
    // sees every write; with the cluster's ReadWriteMany class: the
    // wp-content claim itself (writes from other nodes found by rescans)
    // and a small claim of its own for the config
    let disk_mounts = || {
        if nfs {
            vec![
                export_mount("export", "/var/syncthing/config", CONFIG_DIR),
                export_mount("export", "/var/syncthing/data", &folder),
            ]
        } else {
            vec![
                mount("config", "/var/syncthing/config"),
                mount("content", "/var/syncthing/data"),
            ]
        }
    };
    let mut init_mounts = vec![
        VolumeMount {
            read_only: Some(true),
            ..mount("identity", "/identity")
        },
        VolumeMount {
            read_only: Some(true),
            ..mount("base", "/base")
        },
        VolumeMount {
            read_only: Some(true),
            ..mount("group", "/group")
        },
    ];
    init_mounts.extend(disk_mounts());
    let pod = PodSpec {
        automount_service_account_token: Some(false),
        // www-data, WordPress's user, in every container: the volumes are
        // its group's (fsGroup; only when their root is not yet, so a large
        // disk is not walked at every start), and nothing is chowned
        security_context: Some(k8s_openapi::api::core::v1::PodSecurityContext {
            fs_group_change_policy: Some("OnRootMismatch".into()),
            ..harden::pod(RunAs::User {
                uid: WWW_DATA,
                gid: WWW_DATA,
            })
        }),
        affinity: nfs.then(|| Affinity {
            pod_affinity: Some(PodAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                    label_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([(
                            label::COMPONENT.to_string(),
                            "nfs".to_string(),
                        )])),
                        ..Default::default()
                    }),
                    topology_key: "kubernetes.io/hostname".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        init_containers: Some(vec![Container {
            name: "config".into(),
            image: Some(spec.busybox_image.clone()),
            command: Some(vec!["sh".into(), "-c".into(), COPY_SH.into()]),
            volume_mounts: Some(init_mounts),
            resources: Some(harden::small()),
            security_context: Some(harden::read_only(&[])),
            ..Default::default()
        }]),
        containers: vec![Container {
            name: object::SYNCTHING.into(),
            image: Some(spec.syncthing_image.clone()),
            env: Some(vec![env("STNOUPGRADE", "1")]),
            ports: Some(vec![port("sync", 22000)]),
            volume_mounts: Some(
                disk_mounts()
                    .into_iter()
                    .chain([harden::tmp_mount()])
                    .collect(),
            ),
            readiness_probe: Some(harden::tcp(22000, 10, 0, 3)),
            liveness_probe: Some(harden::tcp(22000, 20, 30, 6)),
            resources: Some(harden::resources(&spec.resources_of(Component::Syncthing))),
            security_context: Some(k8s_openapi::api::core::v1::SecurityContext {
                run_as_user: Some(WWW_DATA),
                run_as_group: Some(WWW_DATA),
                run_as_non_root: Some(true),
                ..harden::read_only(&[])
            }),
            ..Default::default()
        }],
        volumes: Some(
            vec![
                secret_volume("identity", secret::SYNCTHING_IDENTITY, false),
                secret_volume("base", secret::SYNCTHING_CONFIG, false),
                // written by geowp_sync_group: the config with every peer
                secret_volume("group", secret::SYNCTHING_GROUP, true),
                harden::tmp_volume(),
            ]
            .into_iter()
            .chain(disk_volumes(nfs))
            .collect(),
        ),
        ..Default::default()
    };
    let deployment = Deployment {
        metadata: meta(spec, object::SYNCTHING, object::SYNCTHING),
        spec: Some(DeploymentSpec {
            // an identity must never run twice
            replicas: Some(1),
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                ..Default::default()
            }),
            selector: LabelSelector {
                match_labels: Some(selector(object::SYNCTHING)),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(spec, object::SYNCTHING)),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let advertised = spec
        .me()
        .map(|m| m.syncthing_address.clone())
        .unwrap_or_default();
    let service = peer_service(
        spec,
        object::SYNCTHING,
        object::SYNCTHING,
        &advertised,
        selector(object::SYNCTHING),
        vec![svc_port("sync", 22000, "TCP")],
    );
    let mut objs = vec![
        Obj::new(&identity).create_only(),
        Obj::new(&config),
        Obj::new(&service),
        Obj::new(&deployment),
    ];
    if !nfs {
        objs.push(Obj::new(&claim(
            spec,
            CONFIG_CLAIM,
            spec.rwo_storage_class(),
            "ReadWriteOnce",
            "1Gi",
        )));
    }
    objs
}

/// SyncThing's config claim when wp-content is on the cluster's own
/// ReadWriteMany class.
pub const CONFIG_CLAIM: &str = "syncthing-config";

/// The claims SyncThing's pod mounts.
fn disk_volumes(nfs: bool) -> Vec<Volume> {
    let pvc = |name: &str, claim: &str| Volume {
        name: name.into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    if nfs {
        vec![pvc("export", EXPORT_CLAIM)]
    } else {
        vec![
            pvc("config", CONFIG_CLAIM),
            pvc("content", super::nfs_claim()),
        ]
    }
}
