//! The examples users copy are formatted as `terraform fmt` wants, and the
//! GKE and EKS examples validate and plan from empty state with real
//! Terraform, the real geowp provider and stand-in google and aws providers
//! that serve the real providers' schemas (`geowp_tests::standin`; no cloud
//! is reached, so only targeted applies of cloud resources run against the
//! stand-ins: what it checks is Terraform-level correctness).

use geowp_tests::repo_root;

geowp_tests::for_each_terraform! {
    fn examples_pass_terraform_fmt_check(terraform) {
    let o = std::process::Command::new(&terraform.path)
        .args(["fmt", "-check", "-recursive", "-diff"])
        .arg(repo_root().join("examples/terraform"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "terraform fmt -check found unformatted files:\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
    }
}

#[test]
fn the_gke_example_uses_the_module_and_health_checks_wordpress() {
    let gke = std::fs::read_to_string(repo_root().join("examples/terraform/gke/main.tf")).unwrap();
    let lb = std::fs::read_to_string(repo_root().join("examples/terraform/gke/loadbalancer.tf"))
        .unwrap();
    assert!(
        gke.contains("resource \"google_container_cluster\" \"region\"")
            && gke.contains("for_each           = var.regions")
    );
    assert!(gke.contains("source    = \"../modules/geo-wordpress\""));
    assert!(
        gke.contains("wordpress_node_port    = 30080") && lb.contains("port = 30080"),
        "the load balancer and the node port disagree"
    );
    assert!(lb.contains("request_path       = module.site.health_check_path"));
    // the demo's HAProxy checks as this health check does
    use geowp_localrun::haproxy::{HEALTHY_THRESHOLD, INTERVAL_S, TIMEOUT_S, UNHEALTHY_THRESHOLD};
    for (attr, v) in [
        ("check_interval_sec ", INTERVAL_S),
        ("timeout_sec        ", TIMEOUT_S),
        ("healthy_threshold  ", HEALTHY_THRESHOLD),
        ("unhealthy_threshold", UNHEALTHY_THRESHOLD),
    ] {
        assert!(
            lb.contains(&format!("{attr} = {v}")),
            "the GKE health check's {} is not the demo's {v}",
            attr.trim()
        );
    }
    // read as text (the plans below show they plan): the first apply's
    // for_each keys are known at plan, HTTPS with a redirect,
    // fast draining, the provider pinned below 8.0, rules on tagged nodes
    assert!(
        !lb.lines()
            .any(|l| l.contains("for_each") && l.contains("instance_group_urls")),
        "a for_each over instance group URLs cannot plan before the clusters exist"
    );
    for want in [
        "for_each = local.groups",
        "resource \"google_compute_managed_ssl_certificate\"",
        "https_redirect         = true",
        "connection_draining_timeout_sec = 10",
        "target_tags   = [\"geowp-node\"]",
    ] {
        assert!(lb.contains(want), "the GKE load balancer lacks {want}");
    }
    for want in [
        "version = \"~> 7.0\"",
        "node_locations     = var.zones[each.key]",
        "site_url  = \"https://${var.domain}\"",
        "tags = [\"geowp-node\"]",
    ] {
        assert!(gke.contains(want), "the GKE example lacks {want}");
    }
    // nothing open to the world: internal load balancers, ranges, addresses
    for want in [
        "\"networking.gke.io/load-balancer-type\"                         = \"Internal\"",
        "\"networking.gke.io/internal-load-balancer-allow-global-access\" = \"true\"",
        "peer_source_ranges = local.peer_ranges",
        "node_source_ranges = {",
        "address_type = \"INTERNAL\"",
        "datapath_provider = \"ADVANCED_DATAPATH\"",
    ] {
        assert!(gke.contains(want), "the GKE example lacks {want}");
    }
}

/// A cloud example (`examples/terraform/NAME`, with its local modules and
/// `../modules/geo-wordpress`) in a Terraform working directory with the
/// real geowp provider and a stand-in cloud provider (`geowp_tests::standin`:
/// the real schema, no cloud), each file passed through `edit` (its path
/// under the example, and its text).
fn cloud_example(
    terraform: &geowp_tests::Terraform,
    name: &str,
    standin: (&str, &str, &str),
    edit: impl Fn(&str, String) -> String,
) -> geowp_tests::Tf {
    use geowp_tests::{workspace_bin, MirroredProvider, Tf};
    let (source, version, bin) = standin;
    let tf = Tf::with(
        terraform,
        &[
            MirroredProvider::geowp(),
            MirroredProvider::new(source, version, workspace_bin(bin)),
        ],
    );
    let ex = repo_root().join("examples/terraform");
    fn copy(
        from: &std::path::Path,
        to: &std::path::Path,
        rel: &str,
        edit: &dyn Fn(&str, String) -> String,
    ) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &to.join(&name), &rel, edit);
            } else if name.ends_with(".tf") {
                let text = std::fs::read_to_string(e.path()).unwrap();
                std::fs::write(to.join(&name), edit(&rel, text)).unwrap();
            }
        }
    }
    copy(&ex.join(name), &tf.work, "", &edit);
    // the module's relative source, ../modules/geo-wordpress
    copy(
        &ex.join("modules/geo-wordpress"),
        &tf.root.path().join("modules/geo-wordpress"),
        "",
        &|_, t| t,
    );
    tf
}

/// The GKE example against the stand-in google provider, `loadbalancer.tf`
/// passed through `edit`.
fn gke_example(
    terraform: &geowp_tests::Terraform,
    edit: impl Fn(String) -> String,
) -> geowp_tests::Tf {
    cloud_example(
        terraform,
        "gke",
        (
            "hashicorp/google",
            "7.0.0",
            "terraform-provider-google-standin",
        ),
        |f, t| if f == "loadbalancer.tf" { edit(t) } else { t },
    )
}

/// The EKS example against the stand-in aws provider, each file passed
/// through `edit`.
fn eks_example(
    terraform: &geowp_tests::Terraform,
    edit: impl Fn(&str, String) -> String,
) -> geowp_tests::Tf {
    cloud_example(
        terraform,
        "eks",
        ("hashicorp/aws", "6.58.0", "terraform-provider-aws-standin"),
        edit,
    )
}

geowp_tests::for_each_terraform! {
    fn the_gke_example_plans_from_nothing_against_the_google_schema(terraform) {
    let tf = gke_example(terraform, |t| t);
    tf.ok(&["init"]);
    tf.ok(&["validate"]);
    let plan = tf.ok(&["plan", "-var", "project=standin-project"]);
    assert!(plan.contains("Plan: "), "{plan}");
    // the clusters, the named ports (keyed by member and zone, known at
    // plan), the load balancer and every region's share of the site
    for want in [
        "google_container_cluster.region[\"eu-west\"] will be created",
        "google_compute_instance_group_named_port.wordpress[\"us-east-us-east1-b\"] will be created",
        "google_compute_backend_service.wordpress will be created",
        "module.site.geowp_cluster_stack.region[\"ap-south\"] will be created",
        "module.site.geowp_sync_group.files will be created",
    ] {
        assert!(plan.contains(want), "missing {want:?} in:\n{plan}");
    }
    // the peer Services are internal and admit only the site's ranges
    assert!(plan.contains("networking.gke.io/load-balancer-type"), "{plan}");
    assert!(plan.contains("\"pd.csi.storage.gke.io\""), "{plan}");
    assert!(plan.contains("\"10.64.0.0/14\""), "{plan}");
    }
}

geowp_tests::for_each_terraform! {
    fn the_planted_for_each_over_instance_group_urls_fails_at_plan(terraform) {
    // the example's first version: named ports keyed by the clusters'
    // instance group URLs, which are unknown until the clusters exist
    let tf = gke_example(terraform, |t| {
        let start = t.find("resource \"google_compute_instance_group_named_port\"").unwrap();
        let end = start + t[start..].find("\n}\n").unwrap() + 3;
        let planted = r#"resource "google_compute_instance_group_named_port" "wordpress" {
  for_each = toset(flatten([for c in google_container_cluster.region : c.node_pool[0].managed_instance_group_urls]))
  group    = each.value
  zone     = regex("/zones/([^/]+)/", each.value)[0]
  name     = "http"
  port     = 30080
}
"#;
        format!("{}{planted}{}", &t[..start], &t[end..])
    });
    tf.ok(&["init"]);
    let r = tf.run(&["plan", "-var", "project=standin-project"]);
    assert_ne!(r.code(), 0, "the planted for_each planned:\n{}", r.all());
    assert!(r.all().contains("Invalid for_each argument"), "{}", r.all());
    }
}

geowp_tests::for_each_terraform! {
    fn a_misspelled_google_argument_fails_validate(terraform) {
    // the stand-in's schema is what catches it: an argument the real
    // provider does not have
    let tf = gke_example(terraform, |t| t.replace("connection_draining_timeout_sec", "connection_drain_timeout_sec"));
    tf.ok(&["init"]);
    let r = tf.run(&["validate"]);
    assert_ne!(r.code(), 0, "{}", r.all());
    assert!(r.all().contains("Unsupported argument") && r.all().contains("connection_drain_timeout_sec"), "{}", r.all());
    }
}

geowp_tests::for_each_terraform! {
    fn the_named_ports_pick_each_zones_instance_group_at_apply(terraform) {
    // the stand-in's apply returns one instance group URL per node location,
    // shaped as GKE's: each named port (member and zone) takes its zone's
    let tf = gke_example(terraform, |t| t);
    tf.ok(&["init"]);
    tf.ok(&[
        "apply",
        "-auto-approve",
        "-var",
        "project=standin-project",
        "-target=google_compute_instance_group_named_port.wordpress",
    ]);
    let shown = tf.ok(&["state", "show", "google_compute_instance_group_named_port.wordpress[\"eu-west-europe-west1-c\"]"]);
    assert!(
        shown.contains("/zones/europe-west1-c/instanceGroups/gke-geowp-eu-west-default-pool-grp"),
        "{shown}"
    );
    let list = tf.ok(&["state", "list"]);
    assert_eq!(list.lines().filter(|l| l.contains("named_port")).count(), 6, "{list}");
    assert!(!list.contains("geowp_cluster_stack"), "only the targeted Google resources are applied:\n{list}");
    }
}

const EKS_VARS: [&str; 4] = [
    "-var",
    "zone_id=Z0STANDIN",
    "-var",
    "domain=blog.example.org",
];

geowp_tests::for_each_terraform! {
    fn the_eks_example_plans_from_nothing_against_the_aws_schema(terraform) {
    let tf = eks_example(terraform, |_, t| t);
    tf.ok(&["init"]);
    tf.ok(&["validate"]);
    let mut args = vec!["plan"];
    args.extend(EKS_VARS);
    let plan = tf.ok(&args);
    assert!(plan.contains("Plan: "), "{plan}");
    // each region's VPC and cluster under its own provider, the peerings
    // and their routes (keyed by the peer, known at plan), the site, the
    // latency records with their health checks
    for want in [
        "module.eu_west.aws_eks_cluster.this will be created",
        "module.ap_south.aws_subnet.peer_lb will be created",
        "module.us_east.aws_route53_record.validation[\"blog.example.org\"] will be created",
        "aws_vpc_peering_connection_accepter.eu_west_ap_south will be created",
        "aws_route.ap_south_to_peers[\"eu-west\"] will be created",
        "aws_route53_health_check.wordpress[\"us-east\"] will be created",
        "aws_route53_record.site[\"ap-south\"] will be created",
        "module.site.geowp_cluster_stack.region[\"eu-west\"] will be created",
        "module.site.geowp_sync_group.files will be created",
        // wp-content on each region's EFS, through the EFS CSI add-on
        "module.us_east.aws_efs_file_system.wp_content will be created",
        "module.eu_west.aws_efs_mount_target.wp_content[\"eu-west-1a\"] will be created",
        "module.ap_south.aws_eks_addon.efs_csi will be created",
        "module.us_east.aws_security_group_rule.efs_nfs will be created",
    ] {
        assert!(plan.contains(want), "missing {want:?} in:\n{plan}");
    }
    // the peer NLBs are internal at their fixed addresses, admit only the
    // site's ranges; WordPress ends TLS at its NLB; Auto Mode's EBS class
    let flat = plan.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
    for want in [
        "\"service.beta.kubernetes.io/aws-load-balancer-scheme\" = \"internal\"",
        "\"service.beta.kubernetes.io/aws-load-balancer-private-ipv4-addresses\" = \"10.20.255.4\"",
        "pd_peer_url = \"https://10.30.255.4:2380\"",
        "+ \"10.30.255.0/27\",",
        "\"service.beta.kubernetes.io/aws-load-balancer-scheme\" = \"internet-facing\"",
        "wordpress_tls_at_load_balancer = true",
        "storage_class_provisioner = \"ebs.csi.eks.amazonaws.com\"",
        "wp_content_storage_class_provisioner = \"efs.csi.aws.com\"",
        // SyncThing rescans what EFS clients in other nodes wrote
        "rescan_interval_seconds = 60",
        // the latency records alias the NLBs, health-checked
        "evaluate_target_health = true",
        "request_interval = 10",
    ] {
        assert!(flat.contains(want), "missing {want:?} in:\n{plan}");
    }
    // with the AWS CLI for tokens, each stack and the sync group run
    // aws eks get-token for their region's cluster instead
    let mut args = vec!["plan", "-var", "token_from_aws_cli=true"];
    args.extend(EKS_VARS);
    let plan = tf.ok(&args);
    let flat = plan.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
    for want in [
        "exec_command = \"aws\"",
        "\"get-token\",",
        "\"ap-south-1\",",
        "exec_api_version = \"client.authentication.k8s.io/v1beta1\"",
    ] {
        assert!(flat.contains(want), "missing {want:?} in:\n{plan}");
    }
    }
}

geowp_tests::for_each_terraform! {
    fn records_keyed_by_the_load_balancers_names_fail_at_plan(terraform) {
    // a tempting mistake: one record per endpoint, keyed by the NLB's
    // name, which exists only once the stacks have applied
    let tf = eks_example(terraform, |f, t| {
        if f == "dns.tf" {
            t.replace(
                "resource \"aws_route53_health_check\" \"wordpress\" {\n  provider          = aws.us_east\n  for_each          = local.aws_regions\n",
                "resource \"aws_route53_health_check\" \"wordpress\" {\n  provider          = aws.us_east\n  for_each          = toset(values(module.site.wordpress_endpoints))\n",
            )
        } else {
            t
        }
    });
    let dns = std::fs::read_to_string(tf.work.join("dns.tf")).unwrap();
    assert!(dns.contains("toset(values(module.site.wordpress_endpoints))"), "the bug was not planted");
    tf.ok(&["init"]);
    let mut args = vec!["plan"];
    args.extend(EKS_VARS);
    let r = tf.run(&args);
    assert_ne!(r.code(), 0, "the planted for_each planned:\n{}", r.all());
    assert!(r.all().contains("Invalid for_each argument"), "{}", r.all());
    }
}

geowp_tests::for_each_terraform! {
    fn a_misspelled_aws_argument_fails_validate(terraform) {
    let tf = eks_example(terraform, |f, t| {
        if f == "region/main.tf" {
            t.replace("bootstrap_self_managed_addons", "bootstrap_self_managed_add_ons")
        } else {
            t
        }
    });
    tf.ok(&["init"]);
    let r = tf.run(&["validate"]);
    assert_ne!(r.code(), 0, "{}", r.all());
    assert!(r.all().contains("Unsupported argument") && r.all().contains("bootstrap_self_managed_add_ons"), "{}", r.all());
    }
}

geowp_tests::for_each_terraform! {
    fn the_certificate_validation_and_peering_routes_take_their_values_at_apply(terraform) {
    // the stand-in's apply returns ACM's validation record for the domain
    // and AWS-shaped ids: the record keyed by the domain (known at plan)
    // takes the certificate's values, each peering route its accepter's id
    let tf = eks_example(terraform, |_, t| t);
    tf.ok(&["init"]);
    let mut args = vec![
        "apply",
        "-auto-approve",
        "-target=module.us_east.aws_acm_certificate_validation.site",
        "-target=aws_route.eu_west_to_peers",
    ];
    args.extend(EKS_VARS);
    tf.ok(&args);
    let record = tf.ok(&["state", "show", "module.us_east.aws_route53_record.validation[\"blog.example.org\"]"]);
    for want in ["\"_standin.blog.example.org.\"", "\"CNAME\"", "\"_standin.acm-validations.aws.\"", "allow_overwrite = true"] {
        assert!(record.contains(want), "missing {want} in {record}");
    }
    let route = tf.ok(&["state", "show", "aws_route.eu_west_to_peers[\"us-east\"]"]);
    assert!(route.contains("destination_cidr_block    = \"10.10.0.0/16\""), "{route}");
    assert!(route.contains("vpc_peering_connection_id = \"vpcpeeringconnectionaccepter-"), "{route}");
    let list = tf.ok(&["state", "list"]);
    assert_eq!(list.lines().filter(|l| l.starts_with("aws_route.eu_west_to_peers")).count(), 2, "{list}");
    assert!(!list.contains("geowp_cluster_stack"), "only the targeted AWS resources are applied:\n{list}");
    }
}

#[test]
fn every_stand_in_attribute_cites_the_line_it_was_read_from() {
    fn walk(b: &serde_json::Value, at: &str, n: &mut usize) {
        let cited = |j: &serde_json::Value, what: &str| {
            let c = j["cite"].as_str().unwrap_or("");
            // OWNER/REPO@COMMIT12 PATH:LINE
            let ok = c.split_once('@').is_some_and(|(repo, rest)| {
                repo.contains('/')
                    && rest.len() > 13
                    && rest[..12].chars().all(|ch| ch.is_ascii_hexdigit())
                    && rest[13..]
                        .split_whitespace()
                        .next()
                        .and_then(|p| p.rsplit_once(':'))
                        .is_some_and(|(_, line)| line.parse::<u32>().is_ok_and(|l| l > 0))
            });
            assert!(ok, "{what} cites no source line: {c:?}");
        };
        for a in b["attributes"].as_array().into_iter().flatten() {
            *n += 1;
            cited(a, &format!("{at}.{}", a["name"]));
        }
        for nb in b["blocks"].as_array().into_iter().flatten() {
            *n += 1;
            cited(nb, &format!("{at}.{}", nb["name"]));
            walk(&nb["block"], &format!("{at}.{}", nb["name"]), n);
        }
    }
    for provider in ["google", "aws"] {
        let path = repo_root().join(format!("tests/standins/{provider}.json"));
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut n = 0;
        walk(&j["provider_config"], provider, &mut n);
        for kind in ["resources", "data_sources"] {
            for (name, r) in j[kind].as_object().unwrap() {
                walk(&r["block"], name, &mut n);
            }
        }
        assert!(n > 40, "{provider}: only {n} attributes");
    }
}
