//! The stack's namespace: it carries the stack's configuration for import
//! and the pod-security level its pods need.

use std::collections::BTreeMap;

use geowp_common::names::annotation;
use geowp_kube::Obj;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::build::labels;
use super::StackSpec;

pub fn objects(spec: &StackSpec) -> Vec<Obj> {
    // the NFS server needs the privileged pod-security level
    let mut l = labels(spec, "");
    l.insert(
        "pod-security.kubernetes.io/enforce".into(),
        "privileged".into(),
    );
    l.insert(
        "pod-security.kubernetes.io/warn".into(),
        "privileged".into(),
    );
    let config = crate::layout::record(spec);
    vec![Obj::new(&Namespace {
        metadata: ObjectMeta {
            name: Some(spec.namespace.clone()),
            labels: Some(l),
            annotations: Some(BTreeMap::from([(
                annotation::STACK_CONFIG.to_string(),
                config,
            )])),
            ..Default::default()
        },
        ..Default::default()
    })]
}
