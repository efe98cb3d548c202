//! The small builder every component renders with: metadata and labels,
//! selectors, env vars, ports, mounts, claims and per-component workloads.
//! An object's identity (kind, name, namespace, scope) and its wave come from
//! the typed object itself when it becomes an [`Obj`].

use std::collections::BTreeMap;

use geowp_common::names::label;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ContainerPort, EnvVar, EnvVarSource, ObjectFieldSelector, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSpec, PodTemplateSpec, SecretKeySelector, Service, ServicePort,
    ServiceSpec, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::ByteString;

use super::StackSpec;

/// Labels of every object of `component` (empty: the stack as a whole).
pub fn labels(spec: &StackSpec, component: &str) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        (
            label::MANAGED_BY.to_string(),
            label::MANAGED_BY_VALUE.to_string(),
        ),
        (label::SITE.to_string(), spec.site_name.clone()),
        (label::MEMBER.to_string(), spec.member.clone()),
    ]);
    if !component.is_empty() {
        l.insert(label::COMPONENT.to_string(), component.to_string());
    }
    l
}

/// The selector of a component's pods.
pub fn selector(component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(label::COMPONENT.to_string(), component.to_string())])
}

/// Metadata of a namespaced object of the stack.
pub fn meta(spec: &StackSpec, name: &str, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(spec.namespace.clone()),
        labels: Some(labels(spec, component)),
        ..Default::default()
    }
}

/// Metadata of a cluster-scoped object of the stack.
pub fn cluster_meta(spec: &StackSpec, name: &str, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        labels: Some(labels(spec, component)),
        ..Default::default()
    }
}

pub fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

pub fn env_secret(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An env var from the pod's own fields (`metadata.namespace`, ...).
pub fn env_field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn port(name: &str, p: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: p,
        ..Default::default()
    }
}

pub fn svc_port(name: &str, p: i32, protocol: &str) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port: p,
        target_port: Some(IntOrString::Int(p)),
        protocol: Some(protocol.into()),
        ..Default::default()
    }
}

pub fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..Default::default()
    }
}

pub fn bytes(s: &str) -> ByteString {
    ByteString(s.as_bytes().to_vec())
}

/// The first 8 hex digits of SHA-256: names that change with their content.
pub fn short_hash(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A claim of `size` with `mode` in `class` (None: the cluster's default).
pub fn claim_spec(class: Option<String>, mode: &str, size: &str) -> PersistentVolumeClaimSpec {
    PersistentVolumeClaimSpec {
        access_modes: Some(vec![mode.into()]),
        storage_class_name: class,
        resources: Some(VolumeResourceRequirements {
            requests: Some(BTreeMap::from([(
                "storage".into(),
                super::harden::quantity(size),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A standalone claim of the stack.
pub fn claim(
    spec: &StackSpec,
    name: &str,
    class: Option<String>,
    mode: &str,
    size: &str,
) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: meta(spec, name, ""),
        spec: Some(claim_spec(class, mode, size)),
        ..Default::default()
    }
}

/// A volume claim template of a StatefulSet (ReadWriteOnce, the stack's class).
pub fn claim_template(spec: &StackSpec, name: &str, size: &str) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels(spec, "")),
            ..Default::default()
        },
        spec: Some(claim_spec(spec.rwo_storage_class(), "ReadWriteOnce", size)),
        ..Default::default()
    }
}

/// A StatefulSet named after its component, selecting its pods by component.
pub fn statefulset(
    spec: &StackSpec,
    name: &str,
    replicas: i32,
    pod: PodSpec,
    claims: Vec<PersistentVolumeClaim>,
) -> StatefulSet {
    StatefulSet {
        metadata: meta(spec, name, name),
        spec: Some(StatefulSetSpec {
            replicas: Some(replicas),
            service_name: Some(name.into()),
            selector: LabelSelector {
                match_labels: Some(selector(name)),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(spec, name)),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            volume_claim_templates: (!claims.is_empty()).then_some(claims),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A headless Service naming a StatefulSet's pods.
pub fn headless(spec: &StackSpec, name: &str, ports: Vec<ServicePort>) -> Service {
    Service {
        metadata: meta(spec, name, name),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(selector(name)),
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A ConfigMap of one file.
pub fn config_map(
    spec: &StackSpec,
    name: &str,
    component: &str,
    file: &str,
    text: &str,
) -> ConfigMap {
    ConfigMap {
        metadata: meta(spec, name, component),
        data: Some(BTreeMap::from([(file.to_string(), text.to_string())])),
        ..Default::default()
    }
}
