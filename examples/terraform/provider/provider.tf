terraform {
  required_providers {
    geowp = {
      source  = "geowp/geowp"
      version = "0.1.0"
    }
  }
}

# No settings: every resource carries the credentials of its own cluster.
provider "geowp" {}
