//! The examples users copy are formatted as `terraform fmt` wants (the GKE
//! one cannot be applied here: no cloud).

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
    // read as text, not planned (no stand-in google provider yet): the
    // first apply's for_each keys are known at plan, HTTPS with a redirect,
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
