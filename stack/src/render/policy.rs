//! NetworkPolicies: everything reaching the namespace's pods is denied, then
//! each port is opened to whom needs it.
//!
//! - TiDB's SQL port (4000) to WordPress, its cron runner, the bootstrap Job and
//!   the backup and restore pods only.
//! - PD (2379, 2380) and TiKV (20160, status 20180) to the site's own pods and to
//!   `peer_source_ranges` (the other regions).
//! - SyncThing's sync port (22000) to `peer_source_ranges`.
//! - NFS (2049, 20048, 111) to `node_source_ranges` (with the in-cluster NFS
//!   server): NFS volumes are mounted
//!   by the kubelet of the node a WordPress pod runs on, so NFS traffic comes
//!   from node addresses, not from pods.
//! - With the page cache: its listener (8080) to anyone (the global load
//!   balancer comes in there), its purge listener (8081) to WordPress and
//!   its cron runner, and WordPress (80) to the cache only.
//! - Without it: WordPress (80) to anyone.
//!
//! An empty range list admits any source on those ports (the plan warns for
//! the peers). Traffic out of the namespace is not restricted: PD, TiKV and
//! SyncThing dial the other regions, and every pod needs DNS.

use std::collections::BTreeMap;

use geowp_common::names::{label, object};
use geowp_kube::Obj;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::build::meta;
use super::StackSpec;

fn ports(list: &[(i32, &str)]) -> Vec<NetworkPolicyPort> {
    list.iter()
        .map(|(p, proto)| NetworkPolicyPort {
            port: Some(IntOrString::Int(*p)),
            protocol: Some(proto.to_string()),
            ..Default::default()
        })
        .collect()
}

/// Pods of the stack whose component is one of `components`.
fn pods(components: &[&str]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: label::COMPONENT.into(),
                operator: "In".into(),
                values: Some(components.iter().map(|c| c.to_string()).collect()),
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn ranges(cidrs: &[String]) -> Vec<NetworkPolicyPeer> {
    cidrs
        .iter()
        .map(|c| NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: c.clone(),
                except: None,
            }),
            ..Default::default()
        })
        .collect()
}

/// A rule: these peers, or (an empty list) anyone.
fn rule(from: Vec<NetworkPolicyPeer>, on: &[(i32, &str)]) -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        from: (!from.is_empty()).then_some(from),
        ports: Some(ports(on)),
    }
}

fn policy(
    spec: &StackSpec,
    name: &str,
    component: &str,
    ingress: Vec<NetworkPolicyIngressRule>,
) -> Obj {
    let selector = if component.is_empty() {
        LabelSelector::default()
    } else {
        LabelSelector {
            match_labels: Some(BTreeMap::from([(
                label::COMPONENT.to_string(),
                component.to_string(),
            )])),
            ..Default::default()
        }
    };
    Obj::new(&NetworkPolicy {
        metadata: meta(spec, name, "network"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: (!ingress.is_empty()).then_some(ingress),
            ..Default::default()
        }),
    })
}

/// Who may dial the peer ports: the site's pods here, and the other regions.
fn peers(spec: &StackSpec, local: &[&str]) -> Vec<NetworkPolicyPeer> {
    if spec.peer_source_ranges.is_empty() {
        return vec![];
    }
    let mut v = vec![pods(local)];
    v.extend(ranges(&spec.peer_source_ranges));
    v
}

pub fn objects(spec: &StackSpec) -> Vec<Obj> {
    let tidb_tier = [object::PD, object::TIKV, object::TIDB, "pd-ctl"];
    let mut v = vec![
        policy(spec, "default-deny-ingress", "", vec![]),
        policy(
            spec,
            "tidb-sql",
            object::TIDB,
            vec![rule(
                vec![pods(&[
                    object::WORDPRESS,
                    super::wordpress::CRON_JOB,
                    "tidb-bootstrap",
                    super::backup::BACKUP,
                    super::backup::RESTORE,
                ])],
                &[(4000, "TCP")],
            )],
        ),
        policy(
            spec,
            "pd",
            object::PD,
            vec![rule(
                peers(spec, &tidb_tier),
                &[(2379, "TCP"), (2380, "TCP")],
            )],
        ),
        policy(
            spec,
            "tikv",
            object::TIKV,
            vec![rule(
                peers(spec, &tidb_tier),
                &[(20160, "TCP"), (20180, "TCP")],
            )],
        ),
        policy(
            spec,
            "syncthing",
            object::SYNCTHING,
            vec![rule(ranges(&spec.peer_source_ranges), &[(22000, "TCP")])],
        ),
    ];
    if spec.runs_nfs() {
        v.push(policy(
            spec,
            "nfs",
            "nfs",
            vec![rule(
                ranges(&spec.node_source_ranges),
                &[
                    (2049, "TCP"),
                    (2049, "UDP"),
                    (20048, "TCP"),
                    (20048, "UDP"),
                    (111, "TCP"),
                    (111, "UDP"),
                ],
            )],
        ));
    }
    if spec.page_cache {
        use super::cache::{HTTP_PORT, PAGE_CACHE, PURGE_PORT};
        v.push(policy(
            spec,
            "wordpress",
            object::WORDPRESS,
            vec![rule(vec![pods(&[PAGE_CACHE])], &[(80, "TCP")])],
        ));
        v.push(policy(
            spec,
            PAGE_CACHE,
            PAGE_CACHE,
            vec![
                rule(vec![], &[(HTTP_PORT, "TCP")]),
                rule(
                    vec![pods(&[object::WORDPRESS, super::wordpress::CRON_JOB])],
                    &[(PURGE_PORT, "TCP")],
                ),
            ],
        ));
    } else {
        v.push(policy(
            spec,
            "wordpress",
            object::WORDPRESS,
            vec![rule(vec![], &[(80, "TCP")])],
        ));
    }
    v
}
