//! The examples users copy are formatted as `terraform fmt` wants, and the
//! GKE example validates and plans from empty state with real Terraform,
//! the real geowp provider and a stand-in google provider that serves the
//! real provider's schema (`geowp_tests::standin`; no cloud is reached, so
//! nothing is applied: what it checks is Terraform-level correctness).

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

/// The GKE example in a Terraform working directory with the real geowp
/// provider and the stand-in google provider (`geowp_tests::standin`: the
/// real schema, no cloud), `loadbalancer.tf` passed through `edit`.
fn gke_example(
    terraform: &geowp_tests::Terraform,
    edit: impl Fn(String) -> String,
) -> geowp_tests::Tf {
    use geowp_tests::{workspace_bin, MirroredProvider, Tf};
    let tf = Tf::with(
        terraform,
        &[
            MirroredProvider::geowp(),
            MirroredProvider::new(
                "hashicorp/google",
                "7.0.0",
                workspace_bin("terraform-provider-google-standin"),
            ),
        ],
    );
    let ex = repo_root().join("examples/terraform");
    for f in ["main.tf", "loadbalancer.tf"] {
        let text = std::fs::read_to_string(ex.join("gke").join(f)).unwrap();
        tf.write(
            f,
            &if f == "loadbalancer.tf" {
                edit(text)
            } else {
                text
            },
        );
    }
    // the module's relative source, ../modules/geo-wordpress
    let module = tf.root.path().join("modules/geo-wordpress");
    std::fs::create_dir_all(&module).unwrap();
    for e in std::fs::read_dir(ex.join("modules/geo-wordpress")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), module.join(e.file_name())).unwrap();
    }
    tf
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
