# One WordPress site on three GKE clusters in three regions, as one
# `terraform apply`: the clusters, static addresses for what regions dial
# across, the geo-wordpress module, and a global HTTP load balancer that
# health-checks WordPress in every region.
#
#   terraform init && terraform apply -var project=MY-PROJECT
#
# Needs the geowp provider installed (make install in the geowp checkout).

terraform {
  required_version = ">= 1.0"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 5.0"
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

variable "site_url" {
  description = "Public URL of the site (point its DNS at the load balancer's address)."
  type        = string
  default     = "http://blog.example.com"
}

provider "google" {
  project = var.project
}

data "google_client_config" "default" {}

resource "google_container_cluster" "region" {
  for_each           = var.regions
  name               = "geowp-${each.key}"
  location           = each.value
  initial_node_count = 1
  node_config {
    machine_type = "e2-standard-4"
    disk_size_gb = 100
  }
  deletion_protection = false
}

# Static addresses other regions dial: PD, TiKV and SyncThing per region.
resource "google_compute_address" "pd" {
  for_each = var.regions
  name     = "geowp-${each.key}-pd"
  region   = each.value
}

resource "google_compute_address" "tikv" {
  for_each = var.regions
  name     = "geowp-${each.key}-tikv"
  region   = each.value
}

resource "google_compute_address" "syncthing" {
  for_each = var.regions
  name     = "geowp-${each.key}-syncthing"
  region   = each.value
}

module "site" {
  source    = "../modules/geo-wordpress"
  site_name = "blog"
  site_url  = var.site_url
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
}
