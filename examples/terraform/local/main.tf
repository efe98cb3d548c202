# The local demo (make demo): three simulated regions, each a fake Kubernetes
# API server on this machine whose pods geowp-localrun runs as processes.
# scripts/demo.sh writes terraform.tfvars.json with their addresses and
# credentials; the module is the one a cloud configuration uses, unchanged.
terraform {
  required_providers {
    geowp = {
      source  = "geowp/geowp"
      version = "0.1.0"
    }
  }
}

variable "clusters" {
  description = "The simulated regions (written by scripts/demo.sh)."
  type = map(object({
    host                   = string
    cluster_ca_certificate = string
    token                  = string
    pd_ip                  = string
    tikv_ip                = string
    syncthing_ip           = string
  }))
}

variable "site_url" {
  description = "Where the demo's load balancer (HAProxy) serves the site."
  type        = string
  default     = "http://demo.localhost:8080"
}

variable "page_cache" {
  description = "Each region's page cache (Varnish); false to measure the site without it (make bench)."
  type        = bool
  default     = true
}

variable "backup_repository" {
  description = "The demo's backup repository: restic's REST protocol served by rclone on this machine (scripts/demo.sh), a stand-in for object storage."
  type        = string
  default     = null
}

variable "stale_read_seconds" {
  description = "How old a visitor's reads may be; 0 to measure fresh reads (make bench). null: the provider's default."
  type        = number
  default     = null
}

module "site" {
  source    = "../modules/geo-wordpress"
  site_name = "demo"
  site_url  = var.site_url
  clusters  = var.clusters
  # the simulated regions are all on this machine: peers and nodes dial
  # from loopback (a cloud configuration names its VPC ranges here)
  peer_source_ranges = ["127.0.0.0/8"]
  node_source_ranges = { for name, _ in var.clusters : name => ["127.0.0.0/8"] }
  # where the data's leaders are, and the region GEOWP_DEMO_RTT measures
  # the others from
  primary_member = contains(keys(var.clusters), "us-east") ? "us-east" : sort(keys(var.clusters))[0]
  # one WordPress and one page cache per region keep the demo light on two
  # cores (and the demo has no DNS to name each cache pod: WordPress's bans
  # reach one)
  wordpress_replicas  = 1
  page_cache_replicas = 1
  page_cache          = var.page_cache
  stale_read_seconds  = var.stale_read_seconds
  backup_repository   = var.backup_repository
}

output "wordpress_endpoints" {
  value = module.site.wordpress_endpoints
}

output "health_check_path" {
  value = module.site.health_check_path
}

output "syncthing_device_ids" {
  value = module.site.syncthing_device_ids
}

output "tidb_endpoints" {
  value = module.site.tidb_endpoints
}

output "sync_group_status" {
  value = module.site.sync_group_status
}
