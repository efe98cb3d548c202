//! A complete stack configuration with the provider's defaults, for tests
//! and tools outside this crate that need real rendered objects or
//! certificates (the real-etcd test of PD's peer TLS, the flag tables'
//! checks): the site `blog`, namespace `geowp`, TLS on, primary `us-east`,
//! GKE-style internal load balancers for the peers.

use std::collections::BTreeMap;

use super::*;

/// The three regions of the example site (us-east, eu-west, ap-south) with
/// their addresses.
pub fn members() -> BTreeMap<String, Member> {
    ["us-east", "eu-west", "ap-south"]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.to_string(),
                Member {
                    pd_client_url: format!("https://10.0.{i}.1:2379"),
                    pd_peer_url: format!("https://10.0.{i}.1:2380"),
                    tikv_address: format!("10.0.{i}.2:20160"),
                    syncthing_address: format!("tcp://10.0.{i}.3:22000"),
                },
            )
        })
        .collect()
}

/// `member`'s stack of a site with `members`.
pub fn spec(member: &str, members: BTreeMap<String, Member>) -> StackSpec {
    StackSpec {
        site_name: "blog".into(),
        member: member.into(),
        zone: Some(format!("zone-{member}")),
        namespace: "geowp".into(),
        members,
        founders: None,
        site_url: "https://blog.example.com".into(),
        tidb_version: DEFAULT_TIDB_VERSION.into(),
        wordpress_image: DEFAULT_WORDPRESS_IMAGE.into(),
        syncthing_image: DEFAULT_SYNCTHING_IMAGE.into(),
        nfs_provisioner_image: DEFAULT_NFS_IMAGE.into(),
        mysql_client_image: DEFAULT_MYSQL_CLIENT_IMAGE.into(),
        busybox_image: DEFAULT_BUSYBOX_IMAGE.into(),
        pd_peer_relay_image: DEFAULT_PD_PEER_RELAY_IMAGE.into(),
        storage_class: None,
        storage_class_provisioner: None,
        storage_class_parameters: BTreeMap::new(),
        pd_storage_size: "10Gi".into(),
        tikv_storage_size: "50Gi".into(),
        tidb_storage_size: "5Gi".into(),
        nfs_storage_size: "20Gi".into(),
        wp_content_size: "10Gi".into(),
        syncthing_config_size: None,
        tidb_replicas: 1,
        wordpress_replicas: 2,
        wordpress_service_type: ServiceType::LoadBalancer,
        wordpress_node_port: None,
        wordpress_service_annotations: BTreeMap::new(),
        wordpress_tls_at_load_balancer: false,
        peer_service_type: ServiceType::LoadBalancer,
        folder_id: "wp-content".into(),
        tidb_tls: true,
        peer_source_ranges: vec!["10.0.0.0/16".into(), "10.1.0.0/16".into()],
        node_source_ranges: vec!["10.128.0.0/20".into()],
        peer_service_annotations: BTreeMap::from([(
            "networking.gke.io/load-balancer-type".to_string(),
            "Internal".to_string(),
        )]),
        peer_service_annotations_by_service: BTreeMap::new(),
        primary_member: Some("us-east".into()),
        max_rtt_ms: 150,
        stale_read_seconds: 5,
        page_cache: true,
        page_cache_ttl: 30,
        page_cache_stale_if_error: 86400,
        page_cache_replicas: 2,
        page_cache_image: super::DEFAULT_PAGE_CACHE_IMAGE.into(),
        backup_repository: None,
        backup_interval_hours: 1,
        backup_keep_hourly: 48,
        backup_keep_daily: 30,
        backup_keep_weekly: 12,
        backup_service_account: None,
        backup_volume_claim: None,
        backup_image: super::spec::DEFAULT_BACKUP_IMAGE.into(),
        wordpress_file_mods: false,
        wp_content_storage_class: None,
        wp_content_storage_class_provisioner: None,
        wp_content_storage_class_parameters: BTreeMap::new(),
        resources: BTreeMap::new(),
    }
}

/// The example site's secrets (made-up values of the right shapes).
pub fn secrets() -> Secrets {
    Secrets {
        tidb_root_password: "root-pw-123456789".into(),
        wordpress_db_password: "wp-pw-123456789".into(),
        salts: geowp_common::names::SALT_NAMES
            .iter()
            .map(|n| (n.to_string(), format!("salt-{n}")))
            .collect(),
        backup_password: "backup-pw-123456789".into(),
        backup_credentials: BTreeMap::from([
            ("AWS_ACCESS_KEY_ID".to_string(), "AKIAEXAMPLE".to_string()),
            (
                "AWS_SECRET_ACCESS_KEY".to_string(),
                "secret-key-value".to_string(),
            ),
        ]),
    }
}

/// A made-up SyncThing identity.
pub fn st() -> SyncthingSecrets {
    SyncthingSecrets {
        cert_pem: "CERT".into(),
        key_pem: "KEY".into(),
        device_id: "DEV".into(),
        api_key: "api".into(),
    }
}

/// Inputs of the right shapes for rendering the example stack.
pub fn inputs() -> Inputs {
    Inputs {
        secrets: secrets(),
        syncthing: st(),
        tls: TlsMaterial {
            ca_pem: "CA".into(),
            cert_pem: "REGION-CERT".into(),
            key_pem: "REGION-KEY".into(),
        },
        wp_content_uid: Some("u-1".into()),
        pd: None,
    }
}
