//! WordPress: a Deployment on the region's `wp-content` claim, its Service
//! (what the global load balancer targets) and the health page it answers
//! on only while it reaches the database.

use geowp_common::names::{object, secret, HEALTH_PATH};
use geowp_kube::Obj;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, HTTPGetAction, PersistentVolumeClaimVolumeSource, PodSpec,
    PodTemplateSpec, Probe, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::build::{config_map, env, env_secret, labels, meta, mount, port, selector, svc_port};
use super::nfs::WP_CONTENT_CLAIM;
use super::{salt_env, StackSpec};

const HEALTH_PHP: &str = r#"<?php
// geowp health check: ready only when the database answers.
$host = explode(':', getenv('WORDPRESS_DB_HOST'));
mysqli_report(MYSQLI_REPORT_OFF);
$db = @new mysqli($host[0], getenv('WORDPRESS_DB_USER'), getenv('WORDPRESS_DB_PASSWORD'), getenv('WORDPRESS_DB_NAME'), isset($host[1]) ? (int)$host[1] : 3306);
if ($db->connect_errno || !$db->query('SELECT 1')) {
    http_response_code(503);
    echo "database unavailable\n";
    exit;
}
echo "ok\n";
"#;

const HEALTH_FILE: &str = "geowp-health.php";

pub fn objects(spec: &StackSpec) -> Vec<Obj> {
    let mut env_vars = vec![
        env("WORDPRESS_DB_HOST", "tidb:4000"),
        env("WORDPRESS_DB_USER", "wordpress"),
        env("WORDPRESS_DB_NAME", "wordpress"),
        env_secret(
            "WORDPRESS_DB_PASSWORD",
            secret::SITE,
            secret::WORDPRESS_DB_PASSWORD,
        ),
        env("WORDPRESS_DB_CHARSET", "utf8mb4"),
        // TiDB has no utf8mb4_unicode_520_ci, WordPress' default
        env("WORDPRESS_DB_COLLATE", "utf8mb4_general_ci"),
        env(
            "WORDPRESS_CONFIG_EXTRA",
            &format!(
                "define('WP_HOME', '{0}');\ndefine('WP_SITEURL', '{0}');\n",
                spec.site_url.replace('\'', "")
            ),
        ),
    ];
    let mut salts = geowp_common::names::SALT_NAMES;
    salts.sort_unstable();
    for k in salts {
        env_vars.push(env_secret(&salt_env(k), secret::SITE, k));
    }
    let pod = PodSpec {
        containers: vec![Container {
            name: object::WORDPRESS.into(),
            image: Some(spec.wordpress_image.clone()),
            env: Some(env_vars),
            ports: Some(vec![port("http", 80)]),
            volume_mounts: Some(vec![
                mount("wp-content", "/var/www/html/wp-content"),
                VolumeMount {
                    name: "health".into(),
                    mount_path: format!("/var/www/html/{HEALTH_FILE}"),
                    sub_path: Some(HEALTH_FILE.into()),
                    read_only: Some(true),
                    ..Default::default()
                },
            ]),
            readiness_probe: Some(Probe {
                http_get: Some(HTTPGetAction {
                    path: Some(HEALTH_PATH.into()),
                    port: IntOrString::Int(80),
                    ..Default::default()
                }),
                period_seconds: Some(10),
                failure_threshold: Some(3),
                ..Default::default()
            }),
            ..Default::default()
        }],
        volumes: Some(vec![
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
        ]),
        ..Default::default()
    };
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
    let service = Service {
        metadata: meta(spec, object::WORDPRESS, object::WORDPRESS),
        spec: Some(ServiceSpec {
            type_: Some(spec.wordpress_service_type.as_str().into()),
            selector: Some(selector(object::WORDPRESS)),
            ports: Some(vec![ServicePort {
                node_port: spec.wordpress_node_port,
                ..svc_port("http", 80, "TCP")
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    vec![
        Obj::new(&config_map(
            spec,
            "wordpress-health",
            object::WORDPRESS,
            HEALTH_FILE,
            HEALTH_PHP,
        )),
        Obj::new(&service),
        Obj::new(&deployment),
    ]
}
