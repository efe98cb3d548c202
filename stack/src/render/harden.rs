//! How every pod and container of a stack is locked down, in one place:
//! seccomp `RuntimeDefault`, no privilege escalation, every capability
//! dropped (a container adds back only what it needs, each with a reason),
//! a non-root user where the image allows it, no service account token
//! unless the pod talks to the API, CPU and memory requests and a memory
//! limit on every container, liveness next to readiness probes, and a
//! read-only root filesystem wherever the image keeps its writes to volumes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, EmptyDirVolumeSource, ExecAction, PodSecurityContext, Probe,
    ResourceRequirements, SeccompProfile, SecurityContext, TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::spec::ComponentResources;

/// Who a pod runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunAs {
    /// A non-root user and group; volumes are made writable for the group.
    User { uid: i64, gid: i64 },
    /// The image must start as root (it binds low ports, or switches user
    /// itself); its containers still drop every capability they do not name.
    Root,
}

/// The pod-level security context.
pub fn pod(run_as: RunAs) -> PodSecurityContext {
    let seccomp = Some(SeccompProfile {
        type_: "RuntimeDefault".into(),
        ..Default::default()
    });
    match run_as {
        RunAs::User { uid, gid } => PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(uid),
            run_as_group: Some(gid),
            fs_group: Some(gid),
            seccomp_profile: seccomp,
            ..Default::default()
        },
        RunAs::Root => PodSecurityContext {
            seccomp_profile: seccomp,
            ..Default::default()
        },
    }
}

/// A container's security context: no escalation, every capability
/// dropped but `add` (each named with why, at the call).
pub fn container(add: &[&str]) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: (!add.is_empty()).then(|| add.iter().map(|c| c.to_string()).collect()),
        }),
        ..Default::default()
    }
}

/// [`container`] with a read-only root filesystem: what the program
/// writes goes to its volumes, and scratch files to [`tmp_mount`].
pub fn read_only(add: &[&str]) -> SecurityContext {
    SecurityContext {
        read_only_root_filesystem: Some(true),
        ..container(add)
    }
}

/// A small scratch directory for a read-only container's `/tmp`.
pub fn tmp_volume() -> Volume {
    Volume {
        name: "tmp".into(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity("256Mi".into())),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Where [`tmp_volume`] is mounted.
pub fn tmp_mount() -> VolumeMount {
    VolumeMount {
        name: "tmp".into(),
        mount_path: "/tmp".into(),
        ..Default::default()
    }
}

/// A quantity as the API server stores it (`1024Mi` is `1Gi`), so that the
/// objects we render, their template hashes and what we read back agree.
pub fn quantity(s: &str) -> Quantity {
    Quantity(geowp_common::quantity::canonical(s))
}

/// Requests and the memory limit of a container.
pub fn resources(r: &ComponentResources) -> ResourceRequirements {
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    if let Some(c) = &r.cpu {
        requests.insert("cpu".to_string(), quantity(c));
    }
    if let Some(m) = &r.memory {
        requests.insert("memory".to_string(), quantity(m));
    }
    if let Some(l) = r.memory_limit.as_ref().or(r.memory.as_ref()) {
        limits.insert("memory".to_string(), quantity(l));
    }
    ResourceRequirements {
        requests: Some(requests),
        limits: Some(limits),
        ..Default::default()
    }
}

/// Resources of a small helper container (config copies, one-shot Jobs).
pub fn small() -> ResourceRequirements {
    resources(&ComponentResources {
        cpu: Some("50m".into()),
        memory: Some("64Mi".into()),
        memory_limit: Some("256Mi".into()),
    })
}

/// A TCP probe: works on ports that require client certificates.
pub fn tcp(port: i32, period: i32, initial_delay: i32, failures: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(port),
            ..Default::default()
        }),
        period_seconds: Some(period),
        initial_delay_seconds: (initial_delay > 0).then_some(initial_delay),
        failure_threshold: Some(failures),
        timeout_seconds: Some(5),
        ..Default::default()
    }
}

/// A probe that runs a command in the container.
pub fn exec(cmd: &[&str], period: i32, failures: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(cmd.iter().map(|c| c.to_string()).collect()),
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(5),
        ..Default::default()
    }
}
