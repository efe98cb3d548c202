# One region of the site on AWS: a VPC, an EKS Auto Mode cluster in its
# private subnets, fixed private addresses for what the other regions dial,
# and the region's certificate for the site's name. The root module calls
# it once per region with that region's provider.

terraform {
  required_version = ">= 1.0"
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

variable "member" {
  description = "The region's member name in the site, e.g. us-east."
  type        = string
}

variable "cidr" {
  description = "The VPC's range: a /16 that no other region's VPC overlaps (they are peered)."
  type        = string
}

variable "zones" {
  description = "Availability zones of the region the nodes and load balancers use (two or three)."
  type        = list(string)
}

variable "domain" {
  description = "The site's DNS name: this region's load balancer presents a certificate for it."
  type        = string
}

variable "zone_id" {
  description = "Route 53 hosted zone of the domain, where the certificate's validation record goes."
  type        = string
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
}

locals {
  name = "geowp-${var.member}"
  # private /20 per zone for nodes and pods, public /24 per zone for the
  # site's internet-facing load balancer and the NAT gateway
  private = { for i, z in var.zones : z => cidrsubnet(var.cidr, 4, i) }
  public  = { for i, z in var.zones : z => cidrsubnet(var.cidr, 8, 240 + i) }
  # a /27 of its own for the peer load balancers: no node or pod is given an
  # address there, so the fixed addresses below are always free
  peer_lb = cidrsubnet(var.cidr, 11, 2040)
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr
  enable_dns_hostnames = true
  tags                 = { Name = local.name }
}

resource "aws_subnet" "private" {
  for_each          = local.private
  vpc_id            = aws_vpc.this.id
  availability_zone = each.key
  cidr_block        = each.value
  # EKS Auto Mode puts internal load balancers in subnets tagged so
  tags = { Name = "${local.name}-private-${each.key}", "kubernetes.io/role/internal-elb" = "1" }
}

resource "aws_subnet" "public" {
  for_each          = local.public
  vpc_id            = aws_vpc.this.id
  availability_zone = each.key
  cidr_block        = each.value
  # ... and internet-facing ones in these
  tags = { Name = "${local.name}-public-${each.key}", "kubernetes.io/role/elb" = "1" }
}

resource "aws_subnet" "peer_lb" {
  vpc_id            = aws_vpc.this.id
  availability_zone = var.zones[0]
  cidr_block        = local.peer_lb
  tags              = { Name = "${local.name}-peer-lb" }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = local.name }
}

# Nodes pull images through one NAT gateway (one per zone survives a zone's
# loss, at three times the price).
resource "aws_eip" "nat" {
  domain = "vpc"
  tags   = { Name = "${local.name}-nat" }
}

resource "aws_nat_gateway" "this" {
  allocation_id = aws_eip.nat.id
  subnet_id     = aws_subnet.public[var.zones[0]].id
  tags          = { Name = local.name }
  depends_on    = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${local.name}-public" }
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  for_each       = aws_subnet.public
  subnet_id      = each.value.id
  route_table_id = aws_route_table.public.id
}

# The private subnets' table: the internet through NAT, the other regions
# through the peering routes the root module adds.
resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${local.name}-private" }
}

resource "aws_route" "private_internet" {
  route_table_id         = aws_route_table.private.id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this.id
}

resource "aws_route_table_association" "private" {
  for_each       = merge({ for z, s in aws_subnet.private : z => s.id }, { peer-lb = aws_subnet.peer_lb.id })
  subnet_id      = each.value
  route_table_id = aws_route_table.private.id
}

# EKS Auto Mode: AWS runs the nodes, the load balancer controller and the EBS
# driver; the cluster role needs the policies for all three.
resource "aws_iam_role" "cluster" {
  name = "${local.name}-cluster"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })
}

resource "aws_iam_role_policy_attachment" "cluster" {
  for_each = toset([
    "AmazonEKSClusterPolicy",
    "AmazonEKSComputePolicy",
    "AmazonEKSBlockStoragePolicy",
    "AmazonEKSLoadBalancingPolicy",
    "AmazonEKSNetworkingPolicy",
  ])
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:aws:iam::aws:policy/${each.value}"
}

resource "aws_iam_role" "node" {
  name = "${local.name}-node"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = ["sts:AssumeRole"]
    }]
  })
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each   = toset(["AmazonEKSWorkerNodeMinimalPolicy", "AmazonEC2ContainerRegistryPullOnly"])
  role       = aws_iam_role.node.name
  policy_arn = "arn:aws:iam::aws:policy/${each.value}"
}

resource "aws_eks_cluster" "this" {
  name     = local.name
  role_arn = aws_iam_role.cluster.arn
  version  = var.kubernetes_version
  # Auto Mode installs its own networking, DNS and proxy
  bootstrap_self_managed_addons = false

  access_config {
    authentication_mode = "API"
    # whoever runs terraform administers the cluster (the stacks need it)
    bootstrap_cluster_creator_admin_permissions = true
  }
  compute_config {
    enabled       = true
    node_pools    = ["general-purpose", "system"]
    node_role_arn = aws_iam_role.node.arn
  }
  kubernetes_network_config {
    elastic_load_balancing {
      enabled = true
    }
  }
  storage_config {
    block_storage {
      enabled = true
    }
  }
  vpc_config {
    subnet_ids              = [for s in aws_subnet.private : s.id]
    endpoint_private_access = true
    endpoint_public_access  = true
  }
  depends_on = [aws_iam_role_policy_attachment.cluster, aws_iam_role_policy_attachment.node]
}

# wp-content on Amazon EFS instead of an NFS server in the cluster: one
# encrypted file system per region, a mount target in each private subnet
# behind a security group that admits NFS from the VPC, and the EFS CSI
# driver (Auto Mode has only the EBS one) as an EKS add-on whose controller
# makes an access point per volume through EKS Pod Identity (Auto Mode runs
# the Pod Identity agent). The stack makes the StorageClass from outputs.
resource "aws_efs_file_system" "wp_content" {
  creation_token = "${local.name}-wp-content"
  encrypted      = true
  tags           = { Name = "${local.name}-wp-content" }
}

resource "aws_security_group" "efs" {
  name        = "${local.name}-efs"
  description = "NFS to the wp-content file system from the region's nodes"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${local.name}-efs" }
}

resource "aws_security_group_rule" "efs_nfs" {
  type              = "ingress"
  from_port         = 2049
  to_port           = 2049
  protocol          = "tcp"
  cidr_blocks       = [var.cidr]
  security_group_id = aws_security_group.efs.id
}

resource "aws_efs_mount_target" "wp_content" {
  for_each        = aws_subnet.private
  file_system_id  = aws_efs_file_system.wp_content.id
  subnet_id       = each.value.id
  security_groups = [aws_security_group.efs.id]
}

resource "aws_iam_role" "efs_csi" {
  name = "${local.name}-efs-csi"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "pods.eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })
}

resource "aws_iam_role_policy_attachment" "efs_csi" {
  role       = aws_iam_role.efs_csi.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"
}

resource "aws_eks_addon" "efs_csi" {
  cluster_name = aws_eks_cluster.this.name
  addon_name   = "aws-efs-csi-driver"
  pod_identity_association {
    role_arn        = aws_iam_role.efs_csi.arn
    service_account = "efs-csi-controller-sa"
  }
  depends_on = [aws_iam_role_policy_attachment.efs_csi, aws_efs_mount_target.wp_content]
}

# A token for the cluster, read once the cluster exists so that it is fresh
# when the stack is applied (it lives 15 minutes).
data "aws_eks_cluster_auth" "this" {
  name       = aws_eks_cluster.this.name
  depends_on = [aws_eks_cluster.this]
}

# This region's certificate for the site's name, for the TLS listener of
# WordPress's load balancer. Every region asks for the same name, so ACM
# asks for the same validation record: each writes it, with overwrite.
resource "aws_acm_certificate" "site" {
  domain_name       = var.domain
  validation_method = "DNS"
  lifecycle {
    create_before_destroy = true
  }
}

locals {
  # keyed by the domain, known at plan; the record's name and value are not
  validation = {
    for o in aws_acm_certificate.site.domain_validation_options : o.domain_name => o
  }
}

resource "aws_route53_record" "validation" {
  for_each        = toset([var.domain])
  zone_id         = var.zone_id
  name            = local.validation[each.key].resource_record_name
  type            = local.validation[each.key].resource_record_type
  records         = [local.validation[each.key].resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "site" {
  certificate_arn         = aws_acm_certificate.site.arn
  validation_record_fqdns = [for r in aws_route53_record.validation : r.fqdn]
}

# The zone Route 53 aliases of this region's NLBs point into.
data "aws_lb_hosted_zone_id" "nlb" {
  load_balancer_type = "network"
}

output "nlb_zone_id" {
  description = "Route 53 zone of this region's network load balancers, for alias records."
  value       = data.aws_lb_hosted_zone_id.nlb.id
}

output "cluster" {
  description = "How the geowp provider reaches this region's cluster (with token), and the fixed private addresses its PD, TiKV and SyncThing load balancers take."
  value = {
    host                   = aws_eks_cluster.this.endpoint
    cluster_ca_certificate = base64decode(aws_eks_cluster.this.certificate_authority[0].data)
    pd_ip                  = cidrhost(local.peer_lb, 4)
    tikv_ip                = cidrhost(local.peer_lb, 5)
    syncthing_ip           = cidrhost(local.peer_lb, 6)
  }
}

output "cluster_name" {
  description = "The EKS cluster's name (for aws eks get-token)."
  value       = aws_eks_cluster.this.name
}

output "token" {
  description = "A token for the cluster's API server, valid 15 minutes from when the apply read it."
  value       = data.aws_eks_cluster_auth.this.token
  sensitive   = true
}

output "peer_lb_subnet_id" {
  description = "The subnet the peer load balancers are pinned to (their fixed addresses are in it)."
  value       = aws_subnet.peer_lb.id
}

output "private_cidrs" {
  description = "Ranges of the nodes and pods (EKS gives pods VPC addresses)."
  value       = concat(values(local.private), [local.peer_lb])
}

output "vpc_id" {
  description = "The region's VPC."
  value       = aws_vpc.this.id
}

output "private_route_table_id" {
  description = "Route table of the private subnets, where routes to the other regions go."
  value       = aws_route_table.private.id
}

output "certificate_arn" {
  description = "ARN of the validated certificate for the site's name in this region."
  value       = aws_acm_certificate_validation.site.certificate_arn
}

output "wp_content_class_parameters" {
  description = "Parameters of the EFS StorageClass the stack makes for wp-content: an access point per volume, every write as www-data (33), WordPress's user."
  value = {
    provisioningMode = "efs-ap"
    fileSystemId     = aws_efs_file_system.wp_content.id
    directoryPerms   = "700"
    uid              = "33"
    gid              = "33"
  }
  # the stack's claim is provisioned by the add-on's controller
  depends_on = [aws_eks_addon.efs_csi]
}
