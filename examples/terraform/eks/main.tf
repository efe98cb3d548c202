# One WordPress site on three EKS clusters in three AWS regions, as one
# `terraform apply`: a VPC per region (peered with the others), an EKS Auto
# Mode cluster in each, internal NLBs at fixed private addresses for what
# regions dial across, the geo-wordpress module (TLS among PD, TiKV and TiDB
# by default), an internet-facing NLB with TLS in each region, and Route 53
# latency records with health checks in front.
#
#   terraform init && terraform apply -var zone_id=Z0123456789 -var domain=blog.example.org
#
# Needs the geowp provider installed (make install in the geowp checkout).

terraform {
  required_version = ">= 1.0"
  required_providers {
    aws = {
      # 6.x: EKS Auto Mode's compute_config, storage_config and
      # elastic_load_balancing need aws >= 5.79
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    geowp = {
      source  = "geowp/geowp"
      version = "0.1.0"
    }
  }
}

variable "domain" {
  description = "The site's DNS name, in the Route 53 zone var.zone_id."
  type        = string
  default     = "blog.example.com"
}

variable "zone_id" {
  description = "ID of the Route 53 hosted zone that holds var.domain: the latency records and the certificates' validation records go there."
  type        = string
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version of every cluster."
  type        = string
  default     = "1.33"
}

variable "token_from_aws_cli" {
  description = "Have the geowp provider run `aws eks get-token` (the AWS CLI on the machine that runs Terraform) for a fresh token whenever the last expires, in place of aws_eks_cluster_auth's token, which lives 15 minutes: for applies that run longer."
  type        = bool
  default     = false
}

variable "primary_member" {
  description = "The member most writes come from; PD's leader prefers it."
  type        = string
  default     = "us-east"
}

# A provider per region: Terraform takes no for_each over providers, so the
# three regions are written out, each a call of ./region.
provider "aws" {
  alias  = "us_east"
  region = "us-east-1"
}

provider "aws" {
  alias  = "eu_west"
  region = "eu-west-1"
}

provider "aws" {
  alias  = "ap_south"
  region = "ap-south-1"
}

module "us_east" {
  source             = "./region"
  providers          = { aws = aws.us_east }
  member             = "us-east"
  cidr               = "10.10.0.0/16"
  zones              = ["us-east-1a", "us-east-1b"]
  domain             = var.domain
  zone_id            = var.zone_id
  kubernetes_version = var.kubernetes_version
}

module "eu_west" {
  source             = "./region"
  providers          = { aws = aws.eu_west }
  member             = "eu-west"
  cidr               = "10.20.0.0/16"
  zones              = ["eu-west-1a", "eu-west-1b"]
  domain             = var.domain
  zone_id            = var.zone_id
  kubernetes_version = var.kubernetes_version
}

module "ap_south" {
  source             = "./region"
  providers          = { aws = aws.ap_south }
  member             = "ap-south"
  cidr               = "10.30.0.0/16"
  zones              = ["ap-south-1a", "ap-south-1b"]
  domain             = var.domain
  zone_id            = var.zone_id
  kubernetes_version = var.kubernetes_version
}

locals {
  regions = {
    "us-east"  = { module = module.us_east, aws_region = "us-east-1" }
    "eu-west"  = { module = module.eu_west, aws_region = "eu-west-1" }
    "ap-south" = { module = module.ap_south, aws_region = "ap-south-1" }
  }
  # whoever may dial a region's PD, TiKV and SyncThing: every region's nodes
  # and pods (pods have VPC addresses on EKS)
  peer_ranges = flatten([for r in local.regions : r.module.private_cidrs])
}

module "site" {
  source    = "../modules/geo-wordpress"
  site_name = "blog"
  site_url  = "https://${var.domain}"
  clusters = {
    for name, r in local.regions : name => merge(r.module.cluster, { token = r.module.token })
  }
  cluster_exec = {
    for name, r in local.regions : name => {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", r.module.cluster_name, "--region", r.aws_region, "--output", "json"]
      env         = {}
    } if var.token_from_aws_cli
  }

  # PD, TiKV and SyncThing on internal NLBs (EKS Auto Mode's load balancer
  # controller) at the fixed addresses above, reachable across the peerings
  # and admitted only from the site's ranges; cross-zone, since each NLB
  # lives in one subnet and its pod may run in another zone
  peer_service_annotations = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme"          = "internal"
    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type" = "ip"
    "service.beta.kubernetes.io/aws-load-balancer-attributes"      = "load_balancing.cross_zone.enabled=true"
  }
  peer_service_annotations_by_member = {
    for name, r in local.regions : name => {
      for svc, ip in {
        pd        = r.module.cluster.pd_ip
        tikv      = r.module.cluster.tikv_ip
        syncthing = r.module.cluster.syncthing_ip
        } : svc => {
        "service.beta.kubernetes.io/aws-load-balancer-subnets"                = r.module.peer_lb_subnet_id
        "service.beta.kubernetes.io/aws-load-balancer-private-ipv4-addresses" = ip
      }
    }
  }
  peer_source_ranges = local.peer_ranges

  # WordPress on an internet-facing NLB per region that ends TLS with the
  # region's ACM certificate; the NLB passes no X-Forwarded-Proto, so
  # WordPress is told every request is https
  wordpress_service_annotations = {
    for name, r in local.regions : name => {
      "service.beta.kubernetes.io/aws-load-balancer-scheme"          = "internet-facing"
      "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type" = "ip"
      "service.beta.kubernetes.io/aws-load-balancer-ssl-cert"        = r.module.certificate_arn
      "service.beta.kubernetes.io/aws-load-balancer-ssl-ports"       = "https"
      "service.beta.kubernetes.io/aws-load-balancer-attributes"      = "load_balancing.cross_zone.enabled=true"
    }
  }
  wordpress_tls_at_load_balancer = true

  # EKS Auto Mode has no default StorageClass: each stack makes its own on
  # Auto Mode's EBS driver, encrypted gp3
  storage_class_provisioner = "ebs.csi.eks.amazonaws.com"
  storage_class_parameters  = { type = "gp3", encrypted = "true" }
  # wp-content on each region's EFS file system (no NFS server to run)
  wp_content_storage_class_provisioner = "efs.csi.aws.com"
  wp_content_storage_class_parameters  = { for name, r in local.regions : name => r.module.wp_content_class_parameters }

  primary_member = var.primary_member
  # about the largest round trip between these regions (us-east-1 to
  # ap-south-1); measure yours between nodes
  max_rtt_ms = 200
  # a small site's sizes; Auto Mode picks instances that fit the requests.
  # Left out, the provider's defaults are TiDB's documented minimums.
  resources = {
    pd   = { cpu = "1", memory = "2Gi" }
    tikv = { cpu = "2", memory = "8Gi" }
    tidb = { cpu = "2", memory = "4Gi" }
  }
}
