# A global external Application Load Balancer in front of every region's
# WordPress: HTTPS with a Google-managed certificate, HTTP redirected to
# HTTPS on the same address, each visitor sent to the nearest healthy region.

resource "google_compute_global_address" "site" {
  name = "geowp-site"
}

# A region whose WordPress cannot reach the database answers 503 on the
# health path (the page gives the database 1 s, below the 2 s timeout) and
# leaves the rotation after two failed checks (about 4 s). The local demo's
# HAProxy checks with the same path and numbers.
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

# The node pools' instance groups, one per member and zone: the keys come
# from var.zones (known at plan), only the URLs from the clusters (known
# after they exist), so the first apply plans in one go.
locals {
  groups = {
    for pair in flatten([
      for name, zones in var.zones : [
        for zone in zones : { key = "${name}-${zone}", member = name, zone = zone }
      ]
    ]) : pair.key => pair
  }
}

resource "google_compute_instance_group_named_port" "wordpress" {
  for_each = local.groups
  # managed_instance_group_urls already holds instance-group URLs, one per zone
  group = one([
    for url in google_container_cluster.region[each.value.member].node_pool[0].managed_instance_group_urls :
    url if length(regexall("/zones/${each.value.zone}/", url)) > 0
  ])
  zone = each.value.zone
  name = "http"
  port = 30080
}

resource "google_compute_backend_service" "wordpress" {
  name                  = "geowp-wordpress"
  protocol              = "HTTP"
  port_name             = "http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  health_checks         = [google_compute_health_check.wordpress.id]
  # in-flight requests of a region leaving the rotation get 10 s, not 300
  connection_draining_timeout_sec = 10
  dynamic "backend" {
    for_each = google_compute_instance_group_named_port.wordpress
    content {
      group           = backend.value.group
      balancing_mode  = "UTILIZATION"
      capacity_scaler = 1
    }
  }
}

resource "google_compute_managed_ssl_certificate" "site" {
  name = "geowp-site"
  managed {
    domains = [var.domain]
  }
}

resource "google_compute_url_map" "site" {
  name            = "geowp-site"
  default_service = google_compute_backend_service.wordpress.id
}

resource "google_compute_target_https_proxy" "site" {
  name             = "geowp-site"
  url_map          = google_compute_url_map.site.id
  ssl_certificates = [google_compute_managed_ssl_certificate.site.id]
}

resource "google_compute_global_forwarding_rule" "https" {
  name                  = "geowp-site-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  target                = google_compute_target_https_proxy.site.id
  ip_address            = google_compute_global_address.site.address
  port_range            = "443"
}

# Port 80 on the same address only redirects to HTTPS.
resource "google_compute_url_map" "redirect" {
  name = "geowp-site-redirect"
  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  name    = "geowp-site-redirect"
  url_map = google_compute_url_map.redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  name                  = "geowp-site-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  target                = google_compute_target_http_proxy.redirect.id
  ip_address            = google_compute_global_address.site.address
  port_range            = "80"
}

# Google's health checkers and the load balancer's proxies reach the
# NodePort, on the site's nodes only.
resource "google_compute_firewall" "lb" {
  name          = "geowp-lb-to-nodeport"
  network       = google_compute_network.site.id
  source_ranges = ["130.211.0.0/22", "35.191.0.0/16"]
  target_tags   = ["geowp-node"]
  allow {
    protocol = "tcp"
    ports    = ["30080"]
  }
}

output "site_address" {
  description = "Point the site's DNS name (var.domain) here, as an A record; the managed certificate becomes active once it resolves."
  value       = google_compute_global_address.site.address
}

output "regions" {
  description = "WordPress endpoints and SyncThing device IDs per region."
  value = {
    wordpress = module.site.wordpress_endpoints
    syncthing = module.site.syncthing_device_ids
  }
}
