# A global HTTP load balancer in front of every region's WordPress, sending
# each visitor to the nearest healthy region.

resource "google_compute_global_address" "site" {
  name = "geowp-site"
}

# A region whose WordPress cannot reach the database answers 503 on the
# health path and leaves the rotation after two failed checks (about 4 s).
# The local demo's HAProxy checks with the same path and numbers.
resource "google_compute_health_check" "wordpress" {
  name                = "geowp-wordpress"
  check_interval_sec  = 2
  timeout_sec         = 2
  healthy_threshold   = 2
  unhealthy_threshold = 2
  http_health_check {
    port_specification = "USE_SERVING_PORT"
    request_path       = module.site.health_check_path
  }
}

# Each cluster's node pool instance groups serve the WordPress NodePort as "http".
resource "google_compute_instance_group_named_port" "wordpress" {
  for_each = {
    for pair in flatten([
      for name, c in google_container_cluster.region : [
        for url in c.node_pool[0].managed_instance_group_urls : { key = "${name}-${basename(url)}", url = url }
      ]
    ]) : pair.key => pair.url
  }
  group = each.value
  zone  = element(split("/", each.value), index(split("/", each.value), "zones") + 1)
  name  = "http"
  port  = 30080
}

resource "google_compute_backend_service" "wordpress" {
  name          = "geowp-wordpress"
  protocol      = "HTTP"
  port_name     = "http"
  health_checks = [google_compute_health_check.wordpress.id]
  dynamic "backend" {
    for_each = toset(flatten([for c in google_container_cluster.region : c.node_pool[0].managed_instance_group_urls]))
    content {
      group = replace(backend.value, "instanceGroupManagers", "instanceGroups")
    }
  }
}

resource "google_compute_url_map" "site" {
  name            = "geowp-site"
  default_service = google_compute_backend_service.wordpress.id
}

resource "google_compute_target_http_proxy" "site" {
  name    = "geowp-site"
  url_map = google_compute_url_map.site.id
}

resource "google_compute_global_forwarding_rule" "site" {
  name       = "geowp-site"
  target     = google_compute_target_http_proxy.site.id
  ip_address = google_compute_global_address.site.address
  port_range = "80"
}

# Let Google's health checkers and the load balancer reach the NodePort.
resource "google_compute_firewall" "lb" {
  name          = "geowp-lb-to-nodeport"
  network       = google_compute_network.site.id
  source_ranges = ["130.211.0.0/22", "35.191.0.0/16"]
  allow {
    protocol = "tcp"
    ports    = ["30080"]
  }
}

output "site_address" {
  description = "Point the site's DNS name here."
  value       = google_compute_global_address.site.address
}

output "regions" {
  description = "WordPress endpoints and SyncThing device IDs per region."
  value = {
    wordpress = module.site.wordpress_endpoints
    syncthing = module.site.syncthing_device_ids
  }
}
