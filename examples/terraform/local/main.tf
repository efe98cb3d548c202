# The local demo's configuration (make demo). Today it holds the site-wide
# secrets only; the three simulated regions (geowp_cluster_stack against
# fake API servers) and the sync group join it as they are built.
terraform {
  required_providers {
    geowp = {
      source  = "geowp/geowp"
      version = "0.1.0"
    }
  }
}

resource "geowp_site" "demo" {
  name = "demo"
}

output "site" {
  value = geowp_site.demo.id
}

output "salt_names" {
  description = "The WordPress keys and salts every region will share (values are sensitive)."
  value       = sort(keys(nonsensitive(geowp_site.demo.wordpress_salts)))
}
