# The local demo (make demo): three simulated regions, each a fake Kubernetes
# API server on this machine, with SyncThing running as real daemons here.
# scripts/demo.sh writes terraform.tfvars.json with their addresses and
# credentials; the module is the one a cloud configuration uses.
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

variable "syncthing_overrides" {
  description = "Where each region's SyncThing daemon runs on this machine (written by scripts/demo.sh)."
  type = map(object({
    address        = string
    listen_address = string
    gui_address    = string
    folder_path    = string
  }))
}

module "site" {
  source              = "../modules/geo-wordpress"
  site_name           = "demo"
  site_url            = "http://demo.localhost"
  clusters            = var.clusters
  syncthing_overrides = var.syncthing_overrides
  # the simulated regions are all on this machine: peers and nodes dial
  # from loopback (a cloud configuration names its VPC ranges here)
  peer_source_ranges = ["127.0.0.0/8"]
  node_source_ranges = { for name, _ in var.clusters : name => ["127.0.0.0/8"] }
  primary_member     = sort(keys(var.clusters))[0]
}

output "wordpress_endpoints" {
  value = module.site.wordpress_endpoints
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
