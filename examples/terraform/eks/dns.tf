# The global entry point: one latency alias record per region for
# var.domain (the apex works too), each answered only while Route 53's health
# check of that region's WordPress passes (the health page answers 200 only
# when WordPress reaches the database). Route 53's fastest checks: every
# 10 s, out after 2 failures; an alias answers with the load balancer's own
# TTL (60 s), so a lost region leaves the answers within about 90 s.

locals {
  aws_regions  = { for name, r in local.regions : name => r.aws_region }
  nlb_zone_ids = { for name, r in local.regions : name => r.module.nlb_zone_id }
}

resource "aws_route53_health_check" "wordpress" {
  provider          = aws.us_east
  for_each          = local.aws_regions
  type              = "HTTPS"
  fqdn              = module.site.wordpress_endpoints[each.key]
  port              = 443
  resource_path     = module.site.health_check_path
  request_interval  = 10
  failure_threshold = 2
  tags              = { Name = "geowp-${each.key}" }
}

resource "aws_route53_record" "site" {
  provider        = aws.us_east
  for_each        = local.aws_regions
  zone_id         = var.zone_id
  name            = var.domain
  type            = "A"
  set_identifier  = each.key
  health_check_id = aws_route53_health_check.wordpress[each.key].id
  alias {
    name                   = module.site.wordpress_endpoints[each.key]
    zone_id                = local.nlb_zone_ids[each.key]
    evaluate_target_health = true
  }
  latency_routing_policy {
    region = each.value
  }
}

output "wordpress_endpoints" {
  description = "Each region's internet-facing NLB, behind the latency records."
  value       = module.site.wordpress_endpoints
}
