//! Bad input, as a new user writes it: a corpus of invalid configurations,
//! one mistake each, every one a resource of a single configuration planned
//! by real Terraform (each version). Every case must be refused at plan with
//! its own summary and its attribute path (the line Terraform points at for a
//! top-level attribute, the path in the detail for a nested one); valid
//! control resources must pass; nothing may crash. Plans never contact a
//! cluster, so none runs here.

use std::collections::BTreeMap;

use geowp_tests::{MirroredProvider, Tf};

/// An HCL string literal.
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string")
}

fn heredoc(s: &str) -> String {
    format!("<<-EOT\n{}EOT", s)
}

struct Pems {
    ca: String,
    cert: String,
    key: String,
    site_ca: geowp_stack::pki::Pair,
    other_ca: geowp_stack::pki::Pair,
}

fn pems() -> Pems {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["kubernetes".into()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    Pems {
        ca: cert.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
        site_ca: geowp_stack::pki::new_ca("blog").expect("site CA"),
        other_ca: geowp_stack::pki::new_ca("blog").expect("another CA"),
    }
}

/// A valid device ID made from `n` (the check characters computed).
fn device(n: u8) -> String {
    geowp_syncthing::identity::device_id(&[n; 32])
}

fn member(i: u8) -> String {
    format!("{{ pd_client_url = \"https://10.0.{i}.1:2379\", pd_peer_url = \"https://10.0.{i}.1:2380\", tikv_address = \"10.0.{i}.2:20160\", syncthing_address = \"tcp://10.0.{i}.3:22000\" }}")
}

fn members(entries: &[(&str, String)]) -> String {
    let mut s = String::from("{\n");
    for (k, v) in entries {
        s.push_str(&format!("    {} = {v}\n", q(k)));
    }
    s.push_str("  }");
    s
}

fn three() -> Vec<(&'static str, String)> {
    vec![
        ("us-east", member(0)),
        ("eu-west", member(1)),
        ("ap-south", member(2)),
    ]
}

/// One case: a resource with one mistake, and what Terraform must say.
struct Case {
    kind: &'static str,
    /// Attribute overrides (name, HCL), or whole lines to add (name "+").
    set: Vec<(&'static str, String)>,
    summary: &'static str,
    /// The attribute path the error must name.
    path: String,
}

fn c(
    kind: &'static str,
    set: Vec<(&'static str, String)>,
    summary: &'static str,
    path: &str,
) -> Case {
    Case {
        kind,
        set,
        summary,
        path: path.into(),
    }
}

fn cluster_block(p: &Pems, attrs: &[(&str, Option<String>)]) -> String {
    let mut base: Vec<(String, String)> = vec![
        ("host".into(), q("https://127.0.0.1:6443")),
        ("cluster_ca_certificate".into(), heredoc(&p.ca)),
        ("token".into(), q("t0ken")),
    ];
    for (k, v) in attrs {
        base.retain(|(b, _)| b != k);
        if let Some(v) = v {
            base.push((k.to_string(), v.clone()));
        }
    }
    let mut s = String::from("cluster {\n");
    for (k, v) in base {
        s.push_str(&format!("    {k} = {v}\n"));
    }
    s.push_str("  }");
    s
}

fn resource(kind: &str, name: &str, p: &Pems, set: &[(&'static str, String)]) -> String {
    let salts = geowp_common::names::SALT_NAMES
        .iter()
        .map(|n| format!("{n} = \"salt-{n}-0123456789\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut attrs: Vec<(String, String)> = match kind {
        "geowp_site" => vec![("name".into(), q("blog"))],
        "geowp_cluster_stack" => vec![
            ("member".into(), q("us-east")),
            ("site_name".into(), q("blog")),
            ("site_url".into(), q("https://blog.example.com")),
            ("tidb_root_password".into(), q("rootpassword-0123456789")),
            ("wordpress_db_password".into(), q("wppassword-0123456789")),
            ("wordpress_salts".into(), format!("{{ {salts} }}")),
            ("members".into(), members(&three())),
            ("tls_ca_certificate".into(), heredoc(&p.site_ca.cert_pem)),
            ("tls_ca_private_key".into(), heredoc(&p.site_ca.key_pem)),
            ("peer_source_ranges".into(), "[\"10.0.0.0/8\"]".into()),
            ("node_source_ranges".into(), "[\"10.128.0.0/20\"]".into()),
            ("cluster".into(), cluster_block(p, &[])),
        ],
        "geowp_sync_group" => vec![(
            "members".into(),
            group_members(p, &[("a", vec![]), ("b", vec![])]),
        )],
        _ => unreachable!(),
    };
    for (k, v) in set {
        if *k == "+" {
            attrs.push(("+".into(), v.clone()));
            continue;
        }
        attrs.retain(|(a, _)| a != k);
        if !v.is_empty() {
            attrs.push((k.to_string(), v.clone()));
        }
    }
    let mut s = format!("resource {} {} {{\n", q(kind), q(name));
    for (k, v) in attrs {
        if k == "cluster" || k == "+" || k == "timeouts" {
            s.push_str(&format!("  {v}\n"));
        } else {
            s.push_str(&format!("  {k} = {v}\n"));
        }
    }
    s.push_str("}\n\n");
    s
}

/// Sync group members `name => overrides` (attribute, HCL; "" removes).
fn group_members(p: &Pems, ms: &[(&str, Vec<(&str, String)>)]) -> String {
    let mut s = String::from("{\n");
    for (i, (name, over)) in ms.iter().enumerate() {
        let mut attrs: BTreeMap<String, String> = BTreeMap::from([
            ("device_id".to_string(), q(&device(i as u8 + 1))),
            ("address".to_string(), q(&format!("tcp://10.0.{i}.3:22000"))),
            (
                "cluster".to_string(),
                format!("{{ host = \"https://127.0.0.1:6443\", token = \"t0ken\", cluster_ca_certificate = {} }}", q(&p.ca)),
            ),
        ]);
        for (k, v) in over {
            if v.is_empty() {
                attrs.remove(*k);
            } else {
                attrs.insert(k.to_string(), v.clone());
            }
        }
        s.push_str(&format!("    {} = {{\n", q(name)));
        for (k, v) in attrs {
            s.push_str(&format!("      {k} = {v}\n"));
        }
        s.push_str("    }\n");
    }
    s.push_str("  }");
    s
}

fn kubeconfig(token: &str, current: bool) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\nusers:\n- name: u\n  user:\n    token: {}\ncontexts:\n- name: east\n  context:\n    cluster: c\n    user: u\n{}",
        serde_json::to_string(token).unwrap(),
        if current { "current-context: east\n" } else { "" }
    )
}

fn cases(p: &Pems) -> Vec<Case> {
    const SITE: &str = "geowp_site";
    const STACK: &str = "geowp_cluster_stack";
    const GROUP: &str = "geowp_sync_group";
    let s = |v: &str| q(v);
    let mut v = Vec::new();
    // geowp_site
    for bad in ["", "Blog!", "-blog", "a_b", &"a".repeat(41)] {
        v.push(c(SITE, vec![("name", s(bad))], "Invalid site name", "name"));
    }
    for bad in ["4", "200", "20.5"] {
        v.push(c(
            SITE,
            vec![("password_length", bad.into())],
            "Out of range",
            "password_length",
        ));
    }
    // the stack's own attributes
    for bad in ["US_East", "", "a-"] {
        v.push(c(
            STACK,
            vec![("member", s(bad))],
            "Invalid member name",
            "member",
        ));
    }
    for bad in ["", "us east", "-z"] {
        v.push(c(STACK, vec![("zone", s(bad))], "Invalid zone", "zone"));
    }
    // 60: the NFS provisioner's name would pass 63 after its '/'
    for bad in ["Geowp", "a.b", &"x".repeat(64), &"x".repeat(60)] {
        v.push(c(
            STACK,
            vec![("namespace", s(bad))],
            "Invalid namespace",
            "namespace",
        ));
    }
    for bad in ["", "Blog!", "my_blog"] {
        v.push(c(
            STACK,
            vec![("site_name", s(bad))],
            "Invalid site name",
            "site_name",
        ));
    }
    for bad in [
        "blog.example.com",
        "https://",
        "https://blog.example.com\n",
        "https://blog example.com",
        "https://o'brien.example",
        "ftp://blog.example.com",
    ] {
        v.push(c(
            STACK,
            vec![("site_url", s(bad))],
            "Invalid site URL",
            "site_url",
        ));
    }
    for bad in ["8.5.1", "v8.5", "latest"] {
        v.push(c(
            STACK,
            vec![("tidb_version", s(bad))],
            "Invalid TiDB version",
            "tidb_version",
        ));
    }
    for (attr, bad) in [
        ("wordpress_image", "wordpress"),
        ("syncthing_image", "syncthing/syncthing"),
        ("nfs_provisioner_image", "registry.k8s.io/x:v1 beta"),
        ("mysql_client_image", ""),
        ("busybox_image", "reg:5000/busybox"),
        // pinned, but no kubelet could pull it
        ("wordpress_image", "UPPER/Case:tag:x"),
        ("pd_peer_relay_image", "team/Relay:1"),
    ] {
        v.push(c(STACK, vec![(attr, s(bad))], "Invalid image", attr));
    }
    for bad in ["Bad Class", "UPPER", "a_b"] {
        v.push(c(
            STACK,
            vec![("storage_class", s(bad))],
            "Invalid storage class",
            "storage_class",
        ));
    }
    for (attr, bad) in [
        ("pd_storage_size", "10 GB"),
        ("tikv_storage_size", "0Gi"),
        ("tidb_storage_size", "Gi"),
        ("nfs_storage_size", "-5Gi"),
        ("wp_content_size", "10GB"),
        ("syncthing_config_size", "1.2.3Mi"),
    ] {
        v.push(c(STACK, vec![(attr, s(bad))], "Invalid quantity", attr));
    }
    for (attr, bad) in [
        ("tidb_replicas", "0"),
        ("tidb_replicas", "21"),
        ("wordpress_replicas", "0"),
        ("wordpress_replicas", "101"),
        ("wordpress_replicas", "1.5"),
        ("wordpress_node_port", "80"),
        ("wordpress_node_port", "40000"),
    ] {
        v.push(c(STACK, vec![(attr, bad.into())], "Out of range", attr));
    }
    v.push(c(
        STACK,
        vec![("wordpress_service_type", s("Ingress"))],
        "Invalid value",
        "wordpress_service_type",
    ));
    v.push(c(
        STACK,
        vec![("peer_service_type", s("loadbalancer"))],
        "Invalid value",
        "peer_service_type",
    ));
    v.push(c(
        STACK,
        vec![
            ("wordpress_node_port", "30080".into()),
            ("wordpress_service_type", s("ClusterIP")),
        ],
        "Node port without a node-port Service",
        "wordpress_node_port",
    ));
    for bad in ["", "wp content", &"x".repeat(65)] {
        v.push(c(
            STACK,
            vec![("folder_id", s(bad))],
            "Invalid folder id",
            "folder_id",
        ));
    }
    for (attr, bad) in [
        ("tidb_root_password", "short"),
        ("tidb_root_password", "has'quote-0123456789"),
        ("wordpress_db_password", "with space 0123456789"),
        ("wordpress_db_password", "dollar$0123456789"),
    ] {
        v.push(c(STACK, vec![(attr, s(bad))], "Unusable password", attr));
    }
    v.push(c(
        STACK,
        vec![("wordpress_salts", "{ AUTH_KEY = \"x\" }".into())],
        "Invalid WordPress salts",
        "wordpress_salts",
    ));
    let mut salts: Vec<String> = geowp_common::names::SALT_NAMES
        .iter()
        .map(|n| format!("{n} = \"s\""))
        .collect();
    salts[3] = format!("{} = \"\"", geowp_common::names::SALT_NAMES[3]);
    v.push(c(
        STACK,
        vec![("wordpress_salts", format!("{{ {} }}", salts.join(", ")))],
        "Invalid WordPress salts",
        "wordpress_salts",
    ));
    // a key that is not one of the eight (a typo; this one could not even be a Secret key)
    let mut extra: Vec<String> = geowp_common::names::SALT_NAMES
        .iter()
        .map(|n| format!("{n} = \"s\""))
        .collect();
    extra.push("\"MY KEY\" = \"s\"".into());
    v.push(c(
        STACK,
        vec![("wordpress_salts", format!("{{ {} }}", extra.join(", ")))],
        "Invalid WordPress salts",
        "wordpress_salts",
    ));
    v.push(c(
        STACK,
        vec![
            ("storage_class_provisioner", s("ebs.csi.aws.com")),
            ("storage_class_parameters", "{ \"\" = \"gp3\" }".into()),
        ],
        "Invalid storage_class_parameters",
        "storage_class_parameters",
    ));
    for (op, bad) in [
        ("create", "0s"),
        ("update", "soon"),
        ("delete", "-1m"),
        ("create", "800h"),
        ("create", "10"),
    ] {
        v.push(c(
            STACK,
            vec![(
                "timeouts",
                format!("timeouts {{\n    {op} = {}\n  }}", s(bad)),
            )],
            "Invalid duration",
            &format!("timeouts.{op}"),
        ));
    }
    // members, nested: the path names the member and the field
    v.push(c(
        STACK,
        vec![("members", members(&three()[..2]))],
        "Too few members",
        "members",
    ));
    v.push(c(
        STACK,
        vec![(
            "members",
            members(&[
                ("eu-west", member(1)),
                ("ap-south", member(2)),
                ("sa-east", member(3)),
            ]),
        )],
        "Member missing from members",
        "members",
    ));
    for key in ["EU_West", "eu-"] {
        let mut ms = three();
        ms[1].0 = key;
        v.push(c(
            STACK,
            vec![("members", members(&ms))],
            "Invalid member name",
            &format!("members[{}]", q(key)),
        ));
    }
    for (field, bad) in [
        ("pd_client_url", "10.0.0.1:2379"),
        ("pd_client_url", "https://10.0.0.1"),
        ("pd_client_url", "https://10.0.0.1:2379/pd"),
        ("pd_peer_url", "grpc://10.0.0.1:2380"),
        ("pd_peer_url", "https://10.0.0.1:99999"),
        ("tikv_address", "10.0.0.2"),
        ("tikv_address", "tikv:0"),
        ("tikv_address", "http://10.0.0.2:20160"),
        ("syncthing_address", "10.0.0.3:22000"),
        ("syncthing_address", "tcp://10.0.0.3"),
        ("syncthing_address", "udp://10.0.0.3:22000"),
    ] {
        let mut ms = three();
        ms[0].1 = set_field(&ms[0].1, field, bad);
        v.push(c(
            STACK,
            vec![("members", members(&ms))],
            "Invalid address",
            &format!("members[\"us-east\"].{field}"),
        ));
    }
    for field in [
        "pd_client_url",
        "pd_peer_url",
        "tikv_address",
        "syncthing_address",
    ] {
        // eu-west takes ap-south's address
        let mut ms = three();
        let ap = ms[2].1.clone();
        let val = field_of(&ap, field);
        ms[1].1 = set_field(&ms[1].1, field, &val);
        v.push(c(
            STACK,
            vec![("members", members(&ms))],
            "Duplicate address",
            &format!("members[\"eu-west\"].{field}"),
        ));
    }
    let mut ms = three();
    ms[2].1 = set_field(&ms[2].1, "pd_peer_url", "https://10.0.2.1:2379/");
    v.push(c(
        STACK,
        vec![("members", members(&ms))],
        "Duplicate address",
        "members[\"ap-south\"].pd_peer_url",
    ));
    // TLS among PD, TiKV and TiDB
    let mut ms = three();
    ms[0].1 = set_field(&ms[0].1, "pd_client_url", "http://10.0.0.1:2379");
    v.push(c(
        STACK,
        vec![("members", members(&ms))],
        "PD speaks https",
        "members[\"us-east\"].pd_client_url",
    ));
    v.push(c(
        STACK,
        vec![("tls_ca_certificate", String::new())],
        "Site CA missing",
        "tls_ca_certificate",
    ));
    v.push(c(
        STACK,
        vec![("tls_ca_private_key", String::new())],
        "Site CA missing",
        "tls_ca_private_key",
    ));
    v.push(c(
        STACK,
        vec![("tls_ca_private_key", heredoc(&p.other_ca.key_pem))],
        "CA key does not match",
        "tls_ca_private_key",
    ));
    v.push(c(
        STACK,
        vec![("tls_ca_certificate", s("MIIB"))],
        "Invalid certificate",
        "tls_ca_certificate",
    ));
    v.push(c(
        STACK,
        vec![("tls_ca_private_key", s("not a key"))],
        "Invalid private key",
        "tls_ca_private_key",
    ));
    // who may reach what
    for bad in ["[\"10.0.0.1/8\"]", "[\"0.0.0.0/0\"]", "[\"not-a-cidr\"]"] {
        v.push(c(
            STACK,
            vec![("peer_source_ranges", bad.into())],
            "Invalid CIDR",
            "peer_source_ranges",
        ));
    }
    v.push(c(
        STACK,
        vec![("node_source_ranges", "[\"10.0.0.0/33\"]".into())],
        "Invalid CIDR",
        "node_source_ranges",
    ));
    v.push(c(
        STACK,
        vec![("peer_service_annotations", "{ \"bad key\" = \"x\" }".into())],
        "Invalid annotation",
        "peer_service_annotations",
    ));
    // backups: a repository restic cannot use, an interval that does not
    // divide a day, a repository without its password or volume, settings
    // without a repository, and credentials restic does not read
    v.push(c(
        STACK,
        vec![("backup_repository", s("ftp://backups.example.com/geowp"))],
        "Invalid backup repository",
        "backup_repository",
    ));
    v.push(c(
        STACK,
        vec![
            ("backup_repository", s("gs:site-backups:/geowp")),
            ("backup_password", s("backup-pw-0123456789")),
            ("backup_interval_hours", "5".into()),
        ],
        "Invalid backup interval",
        "backup_interval_hours",
    ));
    v.push(c(
        STACK,
        vec![("backup_repository", s("gs:site-backups:/geowp"))],
        "Backups without a password",
        "backup_password",
    ));
    v.push(c(
        STACK,
        vec![
            ("backup_repository", s("/backup/geowp")),
            ("backup_password", s("backup-pw-0123456789")),
        ],
        "No volume for the repository",
        "backup_volume_claim",
    ));
    v.push(c(
        STACK,
        vec![("backup_service_account", s("geowp-backup"))],
        "Backup settings without a repository",
        "backup_service_account",
    ));
    v.push(c(
        STACK,
        vec![
            (
                "backup_repository",
                s("s3:https://s3.amazonaws.com/b/geowp"),
            ),
            ("backup_password", s("backup-pw-0123456789")),
            ("backup_credentials", "{ AWS_SECRET_KEY = \"x\" }".into()),
        ],
        "Invalid backup credentials",
        "backup_credentials",
    ));
    v.push(c(
        STACK,
        vec![(
            "peer_service_annotations_by_service",
            "{ nfs = { a = \"x\" } }".into(),
        )],
        "Invalid peer service annotations",
        "peer_service_annotations_by_service",
    ));
    v.push(c(
        STACK,
        vec![(
            "peer_service_annotations_by_service",
            "{ pd = { \"bad key\" = \"x\" } }".into(),
        )],
        "Invalid peer service annotations",
        "peer_service_annotations_by_service",
    ));
    v.push(c(
        STACK,
        vec![("storage_class_provisioner", s("not a driver!"))],
        "Invalid provisioner",
        "storage_class_provisioner",
    ));
    v.push(c(
        STACK,
        vec![
            ("storage_class", s("gp3")),
            ("storage_class_provisioner", s("ebs.csi.aws.com")),
        ],
        "Two storage classes",
        "storage_class_provisioner",
    ));
    v.push(c(
        STACK,
        vec![("storage_class_parameters", "{ type = \"gp3\" }".into())],
        "Parameters without a provisioner",
        "storage_class_parameters",
    ));
    v.push(c(
        STACK,
        vec![(
            "wordpress_service_annotations",
            "{ \"-bad\" = \"x\" }".into(),
        )],
        "Invalid annotation",
        "wordpress_service_annotations",
    ));
    v.push(c(
        STACK,
        vec![
            ("site_url", s("http://blog.example.com")),
            ("wordpress_tls_at_load_balancer", "true".into()),
        ],
        "TLS at the load balancer of an http site",
        "wordpress_tls_at_load_balancer",
    ));
    v.push(c(
        STACK,
        vec![
            ("wordpress_service_type", s("NodePort")),
            (
                "wordpress_service_annotations",
                "{ \"service.beta.kubernetes.io/load-balancer-source-ranges\" = \"10.0.0.0/8\" }"
                    .into(),
            ),
        ],
        "Source ranges on a Service that is not a load balancer",
        "wordpress_service_annotations",
    ));
    v.push(c(
        STACK,
        vec![("primary_member", s("nowhere"))],
        "Unknown primary member",
        "primary_member",
    ));
    v.push(c(
        STACK,
        vec![("primary_member", s("Bad_Name"))],
        "Invalid member name",
        "primary_member",
    ));
    for bad in ["0", "6000"] {
        v.push(c(
            STACK,
            vec![("max_rtt_ms", bad.into())],
            "Out of range",
            "max_rtt_ms",
        ));
    }
    for r in [
        "{ tikv = { memory = \"lots\" } }",
        "{ pd = { cpu = \"0\" } }",
        "{ wordpress = { memory_limit = \"1 Gi\" } }",
        "{ tikv = { cores = \"2\" } }",
        "{ mysql = { cpu = \"1\" } }",
        // a limit below its request: the API server would refuse the pod
        "{ wordpress = { memory = \"2Gi\", memory_limit = \"1536Mi\" } }",
        // below the default request (TiKV 32Gi)
        "{ tikv = { memory_limit = \"16Gi\" } }",
    ] {
        v.push(c(
            STACK,
            vec![("resources", r.into())],
            "Invalid resources",
            "resources",
        ));
    }
    // the cluster block
    let cl = |attrs: &[(&str, Option<String>)]| ("cluster", cluster_block(p, attrs));
    v.push(c(
        STACK,
        vec![cl(&[("host", Some(s("http://127.0.0.1:6443")))])],
        "Plain HTTP refused",
        "cluster.host",
    ));
    for bad in ["127.0.0.1:6443", "https://"] {
        v.push(c(
            STACK,
            vec![cl(&[("host", Some(s(bad)))])],
            "Invalid host",
            "cluster.host",
        ));
    }
    v.push(c(
        STACK,
        vec![cl(&[("kubeconfig", Some(q(&kubeconfig("t", true))))])],
        "Two ways to connect",
        "cluster.kubeconfig",
    ));
    v.push(c(
        STACK,
        vec![cl(&[
            ("host", None),
            ("token", None),
            ("cluster_ca_certificate", None),
        ])],
        "No cluster address",
        "cluster.host",
    ));
    v.push(c(
        STACK,
        vec![cl(&[("client_certificate", Some(heredoc(&p.cert)))])],
        "Incomplete client credentials",
        "cluster.client_key",
    ));
    v.push(c(
        STACK,
        vec![cl(&[("client_key", Some(heredoc(&p.key)))])],
        "Incomplete client credentials",
        "cluster.client_certificate",
    ));
    v.push(c(
        STACK,
        vec![cl(&[("token", None)])],
        "No credentials",
        "cluster.token",
    ));
    let aws = || Some("\"aws\"".to_string());
    v.push(c(
        STACK,
        vec![cl(&[("exec_command", aws())])],
        "Two tokens",
        "cluster.exec_command",
    ));
    v.push(c(
        STACK,
        vec![cl(&[
            ("token", None),
            ("exec_command", aws()),
            (
                "exec_api_version",
                Some("\"client.authentication.k8s.io/v1alpha0\"".into()),
            ),
        ])],
        "Invalid value",
        "cluster.exec_api_version",
    ));
    v.push(c(
        STACK,
        vec![cl(&[
            ("token", None),
            ("exec_command", Some("\"aws eks get-token\"".into())),
        ])],
        "Invalid command",
        "cluster.exec_command",
    ));
    v.push(c(
        STACK,
        vec![cl(&[(
            "exec_args",
            Some("[\"eks\", \"get-token\"]".into()),
        )])],
        "Credential plugin settings without a plugin",
        "cluster.exec_args",
    ));
    let b64_only: String = p.ca.lines().filter(|l| !l.starts_with("-----")).collect();
    v.push(c(
        STACK,
        vec![cl(&[("cluster_ca_certificate", Some(s(&b64_only)))])],
        "Invalid certificate",
        "cluster.cluster_ca_certificate",
    ));
    v.push(c(
        STACK,
        vec![cl(&[(
            "cluster_ca_certificate",
            Some(heredoc(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            )),
        )])],
        "Invalid certificate",
        "cluster.cluster_ca_certificate",
    ));
    v.push(c(
        STACK,
        vec![cl(&[
            ("client_certificate", Some(s("not a certificate"))),
            ("client_key", Some(heredoc(&p.key))),
        ])],
        "Invalid certificate",
        "cluster.client_certificate",
    ));
    v.push(c(
        STACK,
        vec![cl(&[
            ("client_certificate", Some(heredoc(&p.cert))),
            (
                "client_key",
                Some(heredoc(
                    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                )),
            ),
        ])],
        "Invalid private key",
        "cluster.client_key",
    ));
    v.push(c(
        STACK,
        vec![cl(&[("token", Some(s("a\u{7}b")))])],
        "Invalid token",
        "cluster.token",
    ));
    v.push(c(
        STACK,
        vec![cl(&[("token", Some(s("")))])],
        "Invalid token",
        "cluster.token",
    ));
    let kc = |text: String, context: Option<&str>| {
        let mut a = vec![
            ("host", None),
            ("token", None),
            ("cluster_ca_certificate", None),
            ("kubeconfig", Some(q(&text))),
        ];
        if let Some(c) = context {
            a.push(("context", Some(s(c))));
        }
        cl(&a)
    };
    v.push(c(
        STACK,
        vec![kc("not: [yaml".into(), None)],
        "Invalid kubeconfig",
        "cluster.kubeconfig",
    ));
    v.push(c(
        STACK,
        vec![kc("kind: Deployment\n".into(), None)],
        "Invalid kubeconfig",
        "cluster.kubeconfig",
    ));
    v.push(c(
        STACK,
        vec![kc(kubeconfig("t", true), Some("nope"))],
        "Unusable kubeconfig",
        "cluster.context",
    ));
    v.push(c(
        STACK,
        vec![kc(kubeconfig("t", false), None)],
        "Unusable kubeconfig",
        "cluster.kubeconfig",
    ));
    v.push(c(
        STACK,
        vec![kc(kubeconfig("a\u{1}b", true), None)],
        "Invalid token",
        "cluster.kubeconfig",
    ));
    v.push(c(
        STACK,
        vec![cl(&[
            ("host", None),
            ("cluster_ca_certificate", None),
            ("kubeconfig", Some(q(&kubeconfig("t", true)))),
        ])],
        "Credentials beside a kubeconfig",
        "cluster.token",
    ));
    // geowp_sync_group
    let gm = |ms: &[(&str, Vec<(&str, String)>)]| ("members", group_members(p, ms));
    v.push(c(
        GROUP,
        vec![gm(&[("a", vec![])])],
        "Too few members",
        "members",
    ));
    v.push(c(
        GROUP,
        vec![gm(&[
            ("a", vec![("device_id", s("ABCDEFG"))]),
            ("b", vec![]),
        ])],
        "Invalid device ID",
        "members[\"a\"].device_id",
    ));
    let twin = device(9);
    v.push(c(
        GROUP,
        vec![gm(&[
            ("a", vec![("device_id", s(&twin))]),
            ("b", vec![("device_id", s(&twin))]),
        ])],
        "Duplicate device ID",
        "members[\"b\"].device_id",
    ));
    v.push(c(
        GROUP,
        vec![gm(&[
            ("a", vec![("address", s("10.0.0.1:22000"))]),
            ("b", vec![]),
        ])],
        "Invalid address",
        "members[\"a\"].address",
    ));
    v.push(c(
        GROUP,
        vec![gm(&[
            ("a", vec![("address", s("tcp://10.9.9.9:22000"))]),
            ("b", vec![("address", s("tcp://10.9.9.9:22000"))]),
        ])],
        "Duplicate address",
        "members[\"b\"].address",
    ));
    v.push(c(
        GROUP,
        vec![gm(&[("a", vec![("namespace", s("Geowp"))]), ("b", vec![])])],
        "Invalid namespace",
        "members[\"a\"].namespace",
    ));
    v.push(c(
        GROUP,
        vec![gm(&[
            ("a", vec![("listen_address", s("0.0.0.0:22000"))]),
            ("b", vec![]),
        ])],
        "Invalid address",
        "members[\"a\"].listen_address",
    ));
    v.push(c(
        GROUP,
        vec![gm(&[
            ("a", vec![("gui_address", s("localhost"))]),
            ("b", vec![]),
        ])],
        "Invalid address",
        "members[\"a\"].gui_address",
    ));
    v.push(c(
        GROUP,
        vec![gm(&[
            ("a", vec![("folder_path", s("data"))]),
            ("b", vec![]),
        ])],
        "Invalid path",
        "members[\"a\"].folder_path",
    ));
    v.push(c(
        GROUP,
        vec![("rescan_interval_seconds", "1".into())],
        "Out of range",
        "rescan_interval_seconds",
    ));
    v.push(c(
        GROUP,
        vec![("watcher_delay_seconds", "0".into())],
        "Out of range",
        "watcher_delay_seconds",
    ));
    v.push(c(
        GROUP,
        vec![("folder_id", s(""))],
        "Invalid folder id",
        "folder_id",
    ));
    let member_cluster =
        |extra: &str| format!("{{ host = \"https://127.0.0.1:6443\", token = \"t0ken\"{extra} }}");
    v.push(c(
        GROUP,
        vec![gm(&[
            (
                "a",
                vec![(
                    "cluster",
                    "{ host = \"http://127.0.0.1:6443\", token = \"t\" }".into(),
                )],
            ),
            ("b", vec![]),
        ])],
        "Plain HTTP refused",
        "members[\"a\"].cluster.host",
    ));
    v.push(c(
        GROUP,
        vec![gm(&[
            (
                "a",
                vec![(
                    "cluster",
                    "{ host = \"https://127.0.0.1:6443\", token = \"a\\u0007b\" }".into(),
                )],
            ),
            ("b", vec![]),
        ])],
        "Invalid token",
        "members[\"a\"].cluster.token",
    ));
    v.push(c(
        GROUP,
        vec![gm(&[
            (
                "a",
                vec![(
                    "cluster",
                    member_cluster(", cluster_ca_certificate = \"MIIB\""),
                )],
            ),
            ("b", vec![]),
        ])],
        "Invalid certificate",
        "members[\"a\"].cluster.cluster_ca_certificate",
    ));
    v.push(c(
        GROUP,
        vec![gm(&[
            (
                "a",
                vec![("cluster", member_cluster(", client_certificate = \"x\""))],
            ),
            ("b", vec![]),
        ])],
        "Incomplete client credentials",
        "members[\"a\"].cluster.client_key",
    ));
    v.push(c(
        GROUP,
        vec![("timeouts", "timeouts {\n    create = \"0s\"\n  }".into())],
        "Invalid duration",
        "timeouts.create",
    ));
    v
}

fn field_of(entry: &str, field: &str) -> String {
    let start = entry.find(&format!("{field} = \"")).unwrap() + field.len() + 4;
    let end = start + entry[start..].find('"').unwrap();
    entry[start..end].to_string()
}

fn set_field(entry: &str, field: &str, val: &str) -> String {
    let old = field_of(entry, field);
    entry.replacen(
        &format!("{field} = \"{old}\""),
        &format!("{field} = \"{val}\""),
        1,
    )
}

/// One diagnostic of Terraform's output: its summary, the resource it is
/// about, the source line it points at, and its detail.
#[derive(Debug, Default, Clone)]
struct Diag {
    summary: String,
    address: String,
    snippet: String,
    detail: String,
}

fn diagnostics(out: &str) -> Vec<Diag> {
    let mut v: Vec<Diag> = Vec::new();
    let mut cur: Option<Diag> = None;
    let mut after_on = false;
    for raw in out.lines() {
        let l = raw
            .trim_start_matches(['│', '╷', '╵'])
            .trim_start_matches(' ');
        if let Some(s) = l.strip_prefix("Error: ") {
            if let Some(d) = cur.take() {
                v.push(d);
            }
            cur = Some(Diag {
                summary: s.trim().to_string(),
                ..Default::default()
            });
            after_on = false;
            continue;
        }
        let Some(d) = cur.as_mut() else { continue };
        if let (Some(a), true) = (
            l.strip_prefix("with "),
            d.address.is_empty() && l.trim_end().ends_with(','),
        ) {
            // the block's `with ADDRESS,` line (a wrapped detail line may start with "with" too)
            d.address = a.trim_end().trim_end_matches(',').to_string();
        } else if l.starts_with("on ") && l.contains(" line ") {
            after_on = true;
        } else if after_on && !l.trim().is_empty() && d.snippet.is_empty() {
            d.snippet = l.to_string();
            after_on = false;
        } else {
            d.detail.push_str(l.trim());
            d.detail.push(' ');
        }
    }
    v.extend(cur);
    v
}

geowp_tests::for_each_terraform! {
    fn every_bad_input_is_refused_at_plan_with_its_attribute_path(terraform) {
        let p = pems();
        let corpus = cases(&p);
        assert!(corpus.len() >= 100, "the corpus has only {} cases", corpus.len());
        let mut config = String::from("terraform {\n  required_providers {\n    geowp = { source = \"geowp/geowp\" }\n  }\n}\n\n");
        for kind in ["geowp_site", "geowp_cluster_stack", "geowp_sync_group"] {
            config.push_str(&resource(kind, "valid", &p, &[]));
        }
        for (i, case) in corpus.iter().enumerate() {
            config.push_str(&resource(case.kind, &format!("c{i:03}"), &p, &case.set));
        }
        let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
        tf.write("main.tf", &config);
        tf.ok(&["init"]);
        let r = tf.run(&["plan"]);
        if std::env::var("GEOWP_DEBUG_CORPUS").is_ok() {
            std::fs::write("/tmp/corpus.tf", &config).unwrap();
            std::fs::write("/tmp/corpus.out", r.all()).unwrap();
        }
        assert_ne!(r.code(), 0, "the corpus planned without errors");
        let out = r.all();
        for crash in ["panic", "Request cancelled", "plugin exited", "crashed"] {
            assert!(!out.contains(crash), "the provider crashed ({crash}):\n{out}");
        }
        let diags = diagnostics(&out);
        let mut by_resource: BTreeMap<String, Vec<Diag>> = BTreeMap::new();
        for d in &diags {
            by_resource.entry(d.address.clone()).or_default().push(d.clone());
        }
        for kind in ["geowp_site", "geowp_cluster_stack", "geowp_sync_group"] {
            let a = format!("{kind}.valid");
            assert!(!by_resource.contains_key(&a), "the valid {kind} was refused: {:#?}", by_resource[&a]);
        }
        let mut problems = Vec::new();
        for (i, case) in corpus.iter().enumerate() {
            let addr = format!("{}.c{i:03}", case.kind);
            let got = by_resource.get(&addr).cloned().unwrap_or_default();
            let top = case.path.split(['.', '[']).next().unwrap_or("");
            let leaf = case.path.rsplit('.').next().unwrap_or("");
            // the snippet shows the attribute at fault (or the block or map
            // attribute holding it), never only the resource's first line
            let in_block = case.path.starts_with("cluster.") || case.path.starts_with("timeouts.");
            // (an attribute the case leaves out cannot be shown: then the
            // block or resource that lacks it is the place)
            let name = format!("resource \"{}\" \"c{i:03}\"", case.kind);
            let block = config
                .find(&name)
                .map(|at| {
                    let rest = &config[at..];
                    &rest[..rest[1..].find("\nresource ").map_or(rest.len(), |e| e + 1)]
                })
                .unwrap_or("");
            let missing = !case.path.contains('[')
                && (!block.contains(&format!("{leaf} =")) || block.contains(&format!("{leaf} = null")));
            let shown = |d: &Diag| {
                if missing {
                    d.snippet.contains("resource \"") || d.snippet.contains(&format!("{top} {{"))
                } else if in_block {
                    d.snippet.contains(leaf)
                } else {
                    d.snippet.contains(&format!("{top} "))
                }
            };
            let hit = got.iter().any(|d| {
                d.summary == case.summary
                    && shown(d)
                    && (d.detail.contains(&case.path)
                        || !case.path.contains(['.', '['])
                        || in_block)
            });
            if !hit {
                problems.push(format!("{addr} ({} at {}): got {:?}", case.summary, case.path, got));
            }
        }
        assert!(problems.is_empty(), "{} of {} cases not refused as expected:\n{}", problems.len(), corpus.len(), problems.join("\n"));
        eprintln!("{} cases refused at plan with their paths (Terraform {})", corpus.len(), terraform.version);
    }
}

geowp_tests::for_each_terraform! {
    /// Settings that are allowed but risky plan with a warning that names
    /// the risk: TLS among PD, TiKV and TiDB turned off, and peer load
    /// balancers with neither source ranges nor annotations.
    fn risky_settings_plan_with_a_warning_that_names_the_risk(terraform) {
        let p = pems();
        let mut ms = three();
        for m in ms.iter_mut() {
            m.1 = m.1.replace("https://", "http://");
        }
        let mut config = String::from("terraform {\n  required_providers {\n    geowp = { source = \"geowp/geowp\" }\n  }\n}\n\n");
        config.push_str(&resource("geowp_cluster_stack", "no_tls", &p, &[("tidb_tls", "false".into()), ("members", members(&ms))]));
        config.push_str(&resource("geowp_cluster_stack", "open", &p, &[("peer_source_ranges", String::new()), ("node_source_ranges", String::new())]));
        let tf = Tf::with(terraform, &[MirroredProvider::geowp()]);
        tf.write("main.tf", &config);
        tf.ok(&["init"]);
        let r = tf.run(&["plan"]);
        assert!(r.status.success(), "{}", r.all());
        let out = r.all();
        assert!(out.contains("Warning: TLS among PD, TiKV and TiDB is off") && out.contains("read or rewrite the whole database"), "{out}");
        assert!(out.contains("Warning: Peer ports open to whoever reaches them") && out.contains("peer_source_ranges"), "{out}");
        assert!(out.contains("Warning: NFS export open to the whole cluster network") && out.contains("any pod can mount wp-content"), "{out}");
        // the well-configured stack (no_tls aside) warns of nothing else
        assert_eq!(out.matches("Warning: ").count(), 3, "{out}");
    }
}

geowp_tests::for_each_terraform! {
    /// A value unknown at plan cannot be checked then; it is checked before
    /// the apply acts, and nothing is written.
    fn a_value_known_only_at_apply_is_checked_before_anything_is_written(terraform) {
        let r = geowp_tests::regions::Regions::start(&["us-east"], Default::default());
        let h = r.handle(0);
        let tf = Tf::with(terraform, &[
            MirroredProvider::geowp(),
            MirroredProvider::new("geowp/tfcheck", "0.1.0", env!("CARGO_BIN_EXE_terraform-provider-tfcheck").into()),
        ]);
        let store = tf.root.path().join("store");
        std::fs::create_dir_all(&store).unwrap();
        let p = pems();
        let mut config = format!("terraform {{\n  required_providers {{\n    geowp = {{ source = \"geowp/geowp\" }}\n    tfcheck = {{ source = \"geowp/tfcheck\" }}\n  }}\n}}\nresource \"tfcheck_thing\" \"url\" {{\n  dir  = \"{}\"\n  name = \"url\"\n}}\n", store.display());
        let body = resource("geowp_cluster_stack", "late", &p, &[
            ("site_url", "\"not a url ${tfcheck_thing.url.etag}\"".into()),
            ("cluster", format!("cluster {{\n    host = {}\n    cluster_ca_certificate = {}\n    token = {}\n  }}", q(&h.url()), heredoc(&h.ca_pem), q(h.token()))),
        ]);
        config.push_str(&body);
        tf.write("main.tf", &config);
        tf.ok(&["init"]);
        let plan = tf.run(&["plan"]);
        assert!(plan.status.success(), "a value unknown at plan was refused at plan:\n{}", plan.all());
        let a = tf.run(&["apply", "-auto-approve"]);
        assert_ne!(a.code(), 0);
        assert!(a.stderr.contains("Invalid site URL"), "{}", a.stderr);
        assert!(r.handle(0).object("v1", "Namespace", "", "geowp").is_none(), "the stack wrote to the cluster before its settings were checked");
        let st = tf.ok(&["state", "list"]);
        assert!(!st.contains("geowp_cluster_stack.late"), "a refused create left state:\n{st}");
    }
}
