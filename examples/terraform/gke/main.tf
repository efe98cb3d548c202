# One WordPress site on three GKE clusters in three regions, as one
# `terraform apply`: a VPC with a subnet per region, the clusters, static
# internal addresses for what regions dial across, the geo-wordpress module
# (TLS among PD, TiKV and TiDB by default), and a global HTTPS load
# balancer that health-checks WordPress in every region.
#
#   terraform init && terraform apply -var project=MY-PROJECT
#
# Needs the geowp provider installed (make install in the geowp checkout).

terraform {
  required_version = ">= 1.0"
  required_providers {
    google = {
      # 7.x: 8.0 changes load-balancer defaults (this example sets them anyway)
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
    geowp = {
      source  = "geowp/geowp"
      version = "0.1.0"
    }
  }
}

variable "project" {
  description = "Google Cloud project to create everything in."
  type        = string
}

variable "regions" {
  description = "Member name => Google Cloud region; at least three."
  type        = map(string)
  default = {
    "us-east"  = "us-east1"
    "eu-west"  = "europe-west1"
    "ap-south" = "asia-south1"
  }
}

variable "zones" {
  description = "Member name => the zones of its region its nodes run in (fixed, so the load balancer's instance groups are known at plan)."
  type        = map(list(string))
  default = {
    "us-east"  = ["us-east1-b", "us-east1-c"]
    "eu-west"  = ["europe-west1-b", "europe-west1-c"]
    "ap-south" = ["asia-south1-a", "asia-south1-b"]
  }
}

variable "primary_member" {
  description = "The member most writes come from; PD's leader prefers it."
  type        = string
  default     = "us-east"
}

variable "domain" {
  description = "The site's DNS name: the managed certificate is issued for it once it points at the load balancer's address (output site_address)."
  type        = string
  default     = "blog.example.com"
}

provider "google" {
  project = var.project
}

data "google_client_config" "default" {}

# One VPC for the site, a subnet per region. Everything the regions say to
# each other (PD, TiKV, SyncThing) stays on it: internal load balancers with
# global access, admitted only from the site's node and pod ranges.
resource "google_compute_network" "site" {
  name                    = "geowp"
  auto_create_subnetworks = false
}

locals {
  names = sort(keys(var.regions))
  ranges = {
    for i, name in local.names : name => {
      nodes    = cidrsubnet("10.0.0.0/12", 8, i)  # 10.0.0.0/20, 10.0.16.0/20, ...
      pods     = cidrsubnet("10.64.0.0/10", 4, i) # 10.64.0.0/14, 10.68.0.0/14, ...
      services = cidrsubnet("10.32.0.0/12", 8, i)
    }
  }
  # whoever may dial a region's PD, TiKV and SyncThing: every region's nodes and pods
  peer_ranges = flatten([for r in local.ranges : [r.nodes, r.pods]])
}

resource "google_compute_subnetwork" "region" {
  for_each      = var.regions
  name          = "geowp-${each.key}"
  region        = each.value
  network       = google_compute_network.site.id
  ip_cidr_range = local.ranges[each.key].nodes
  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = local.ranges[each.key].pods
  }
  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = local.ranges[each.key].services
  }
}

resource "google_container_cluster" "region" {
  for_each           = var.regions
  name               = "geowp-${each.key}"
  location           = each.value
  network            = google_compute_network.site.id
  subnetwork         = google_compute_subnetwork.region[each.key].id
  node_locations     = var.zones[each.key]
  initial_node_count = 1
  # Dataplane V2 enforces the NetworkPolicies every stack installs
  datapath_provider = "ADVANCED_DATAPATH"
  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }
  node_config {
    # two per region (one per zone): room for the sizes set in module.site
    machine_type = "e2-standard-8"
    disk_size_gb = 100
    # the firewall rules below open ports to these nodes only
    tags = ["geowp-node"]
  }
  deletion_protection = false
}

# Static internal addresses other regions dial: PD, TiKV and SyncThing per region.
resource "google_compute_address" "pd" {
  for_each     = var.regions
  name         = "geowp-${each.key}-pd"
  region       = each.value
  address_type = "INTERNAL"
  subnetwork   = google_compute_subnetwork.region[each.key].id
}

resource "google_compute_address" "tikv" {
  for_each     = var.regions
  name         = "geowp-${each.key}-tikv"
  region       = each.value
  address_type = "INTERNAL"
  subnetwork   = google_compute_subnetwork.region[each.key].id
}

resource "google_compute_address" "syncthing" {
  for_each     = var.regions
  name         = "geowp-${each.key}-syncthing"
  region       = each.value
  address_type = "INTERNAL"
  subnetwork   = google_compute_subnetwork.region[each.key].id
}

# The VPC admits the peer ports from the site's own ranges only.
resource "google_compute_firewall" "peers" {
  name          = "geowp-peers"
  network       = google_compute_network.site.id
  source_ranges = local.peer_ranges
  target_tags   = ["geowp-node"]
  allow {
    protocol = "tcp"
    ports    = ["2379", "2380", "20160", "22000"]
  }
}

module "site" {
  source    = "../modules/geo-wordpress"
  site_name = "blog"
  site_url  = "https://${var.domain}"
  clusters = {
    for name, c in google_container_cluster.region : name => {
      host                   = "https://${c.endpoint}"
      cluster_ca_certificate = base64decode(c.master_auth[0].cluster_ca_certificate)
      token                  = data.google_client_config.default.access_token
      pd_ip                  = google_compute_address.pd[name].address
      tikv_ip                = google_compute_address.tikv[name].address
      syncthing_ip           = google_compute_address.syncthing[name].address
    }
  }
  # the global load balancer reaches WordPress through a NodePort per region
  wordpress_service_type = "NodePort"
  wordpress_node_port    = 30080

  # PD, TiKV and SyncThing on internal load balancers that the other
  # regions' nodes and pods reach across the VPC, and no one else
  peer_service_annotations = {
    "networking.gke.io/load-balancer-type"                         = "Internal"
    "networking.gke.io/internal-load-balancer-allow-global-access" = "true"
  }
  peer_source_ranges = local.peer_ranges
  # NFS volumes are mounted by each node's kubelet
  node_source_ranges = { for name, r in local.ranges : name => [r.nodes] }
  # where most writes come from: PD's leader (timestamps) prefers it
  primary_member = var.primary_member
  # about the largest round trip between the default regions (us-east1 to
  # asia-south1); measure yours between nodes
  max_rtt_ms = 250
  # PD and TiKV on SSD persistent disks (TiDB asks for SSDs) in a class of
  # the stack's own that keeps a disk when its claim goes
  storage_class_provisioner = "pd.csi.storage.gke.io"
  storage_class_parameters  = { type = "pd-ssd" }
  # A small site's sizes, to fit two e2-standard-8 nodes per region. Left
  # out, the provider's defaults are TiDB's documented minimums (PD 4 CPU
  # 8Gi, TiKV 8 CPU 32Gi, TiDB 8 CPU 16Gi), which need e2-standard-16 nodes.
  resources = {
    pd   = { cpu = "1", memory = "2Gi" }
    tikv = { cpu = "2", memory = "8Gi" }
    tidb = { cpu = "2", memory = "4Gi" }
  }
}
