terraform {
  required_version = ">= 1.0"
  required_providers {
    geowp = {
      source  = "geowp/geowp"
      version = ">= 0.1.0"
    }
  }
}
