//! SyncThing for `wp-content`: this member's identity (made once, never
//! regenerated), its own config with no peers (the sync group adds them),
//! its config claim, its Deployment (one replica: an identity must never run
//! twice) and the Service other regions dial.

use std::collections::BTreeMap;

use geowp_common::names::{annotation, object, secret};
use geowp_kube::Obj;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Container, ExecAction, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, Probe,
    Secret, SecretVolumeSource, Service, ServiceSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::build::{bytes, claim, env, labels, meta, mount, port, selector, svc_port};
use super::nfs::WP_CONTENT_CLAIM;
use super::tidb::lb_ip;
use super::{StackSpec, SyncthingSecrets};

const CONFIG_CLAIM: &str = "syncthing-config";

/// Copy, never template: what runs is exactly what was rendered.
const COPY_SH: &str = "set -e\nif [ -f /group/config.xml ]; then cp /group/config.xml /var/syncthing/config/config.xml; else cp /base/config.xml /var/syncthing/config/config.xml; fi\ncp /identity/cert.pem /identity/key.pem /var/syncthing/config/\nmkdir -p /var/syncthing/data/.stfolder\n";

fn secret_volume(name: &str, secret: &str, optional: bool) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.into()),
            optional: Some(optional),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn claim_volume(name: &str, claim: &str) -> Volume {
    Volume {
        name: name.into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn objects(spec: &StackSpec, st: &SyncthingSecrets) -> Vec<Obj> {
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
        rescan_interval_s: 60,
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
    let pod = PodSpec {
        init_containers: Some(vec![Container {
            name: "config".into(),
            image: Some(spec.busybox_image.clone()),
            command: Some(vec!["sh".into(), "-c".into(), COPY_SH.into()]),
            volume_mounts: Some(vec![
                mount("identity", "/identity"),
                mount("base", "/base"),
                mount("group", "/group"),
                mount("config", "/var/syncthing/config"),
                mount("data", "/var/syncthing/data"),
            ]),
            ..Default::default()
        }]),
        containers: vec![Container {
            name: object::SYNCTHING.into(),
            image: Some(spec.syncthing_image.clone()),
            env: Some(vec![
                env("PUID", "33"),
                env("PGID", "33"),
                env("STNOUPGRADE", "1"),
            ]),
            ports: Some(vec![port("sync", 22000)]),
            volume_mounts: Some(vec![
                mount("config", "/var/syncthing/config"),
                mount("data", "/var/syncthing/data"),
            ]),
            readiness_probe: Some(Probe {
                exec: Some(ExecAction {
                    command: Some(vec![
                        "sh".into(),
                        "-c".into(),
                        "nc -z 127.0.0.1 22000".into(),
                    ]),
                }),
                period_seconds: Some(10),
                ..Default::default()
            }),
            ..Default::default()
        }],
        volumes: Some(vec![
            secret_volume("identity", secret::SYNCTHING_IDENTITY, false),
            secret_volume("base", secret::SYNCTHING_CONFIG, false),
            // written by geowp_sync_group: the config with every peer
            secret_volume("group", secret::SYNCTHING_GROUP, true),
            claim_volume("config", CONFIG_CLAIM),
            claim_volume("data", WP_CONTENT_CLAIM),
        ]),
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
    let service = Service {
        metadata: meta(spec, object::SYNCTHING, object::SYNCTHING),
        spec: Some(ServiceSpec {
            type_: Some(spec.peer_service_type.as_str().into()),
            load_balancer_ip: lb_ip(spec, &advertised),
            selector: Some(selector(object::SYNCTHING)),
            ports: Some(vec![svc_port("sync", 22000, "TCP")]),
            ..Default::default()
        }),
        ..Default::default()
    };
    vec![
        Obj::new(&identity).create_only(),
        Obj::new(&config),
        Obj::new(&service),
        Obj::new(&claim(
            spec,
            CONFIG_CLAIM,
            spec.storage_class.clone(),
            "ReadWriteOnce",
            &spec.syncthing_config_size,
        )),
        Obj::new(&deployment),
    ]
}
