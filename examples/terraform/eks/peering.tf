# The three VPCs, peered pairwise across regions, each private route table
# routing the other two ranges through its peerings. Only the private
# subnets route there: the internet-facing subnets never see the peers.

resource "aws_vpc_peering_connection" "us_east_eu_west" {
  provider    = aws.us_east
  vpc_id      = module.us_east.vpc_id
  peer_vpc_id = module.eu_west.vpc_id
  peer_region = "eu-west-1"
  tags        = { Name = "geowp-us-east-eu-west" }
}

resource "aws_vpc_peering_connection_accepter" "us_east_eu_west" {
  provider                  = aws.eu_west
  vpc_peering_connection_id = aws_vpc_peering_connection.us_east_eu_west.id
  auto_accept               = true
  tags                      = { Name = "geowp-us-east-eu-west" }
}

resource "aws_vpc_peering_connection" "us_east_ap_south" {
  provider    = aws.us_east
  vpc_id      = module.us_east.vpc_id
  peer_vpc_id = module.ap_south.vpc_id
  peer_region = "ap-south-1"
  tags        = { Name = "geowp-us-east-ap-south" }
}

resource "aws_vpc_peering_connection_accepter" "us_east_ap_south" {
  provider                  = aws.ap_south
  vpc_peering_connection_id = aws_vpc_peering_connection.us_east_ap_south.id
  auto_accept               = true
  tags                      = { Name = "geowp-us-east-ap-south" }
}

resource "aws_vpc_peering_connection" "eu_west_ap_south" {
  provider    = aws.eu_west
  vpc_id      = module.eu_west.vpc_id
  peer_vpc_id = module.ap_south.vpc_id
  peer_region = "ap-south-1"
  tags        = { Name = "geowp-eu-west-ap-south" }
}

resource "aws_vpc_peering_connection_accepter" "eu_west_ap_south" {
  provider                  = aws.ap_south
  vpc_peering_connection_id = aws_vpc_peering_connection.eu_west_ap_south.id
  auto_accept               = true
  tags                      = { Name = "geowp-eu-west-ap-south" }
}

locals {
  # each region's routes: the other region's member name => peering
  peerings = {
    "us-east" = {
      "eu-west"  = aws_vpc_peering_connection_accepter.us_east_eu_west.id
      "ap-south" = aws_vpc_peering_connection_accepter.us_east_ap_south.id
    }
    "eu-west" = {
      "us-east"  = aws_vpc_peering_connection_accepter.us_east_eu_west.id
      "ap-south" = aws_vpc_peering_connection_accepter.eu_west_ap_south.id
    }
    "ap-south" = {
      "us-east" = aws_vpc_peering_connection_accepter.us_east_ap_south.id
      "eu-west" = aws_vpc_peering_connection_accepter.eu_west_ap_south.id
    }
  }
  cidrs = { "us-east" = "10.10.0.0/16", "eu-west" = "10.20.0.0/16", "ap-south" = "10.30.0.0/16" }
}

resource "aws_route" "us_east_to_peers" {
  provider                  = aws.us_east
  for_each                  = local.peerings["us-east"]
  route_table_id            = module.us_east.private_route_table_id
  destination_cidr_block    = local.cidrs[each.key]
  vpc_peering_connection_id = each.value
}

resource "aws_route" "eu_west_to_peers" {
  provider                  = aws.eu_west
  for_each                  = local.peerings["eu-west"]
  route_table_id            = module.eu_west.private_route_table_id
  destination_cidr_block    = local.cidrs[each.key]
  vpc_peering_connection_id = each.value
}

resource "aws_route" "ap_south_to_peers" {
  provider                  = aws.ap_south
  for_each                  = local.peerings["ap-south"]
  route_table_id            = module.ap_south.private_route_table_id
  destination_cidr_block    = local.cidrs[each.key]
  vpc_peering_connection_id = each.value
}
