output "wordpress_endpoints" {
  description = "WordPress's address in each region, for the global load balancer's backends."
  value       = { for k, s in geowp_cluster_stack.region : k => s.wordpress_endpoint }
}

output "health_check_path" {
  description = "Path the global load balancer health-checks: 200 only when WordPress reaches the database."
  value       = "/geowp-health.php"
}

output "syncthing_device_ids" {
  description = "SyncThing device ID of each region."
  value       = { for k, s in geowp_cluster_stack.region : k => s.syncthing_device_id }
}

output "syncthing_addresses" {
  description = "SyncThing peer address of each region."
  value       = { for k, s in geowp_cluster_stack.region : k => s.syncthing_address }
}

output "tidb_endpoints" {
  description = "TiDB's MySQL endpoint inside each cluster."
  value       = { for k, s in geowp_cluster_stack.region : k => s.tidb_endpoint }
}

output "sync_group_status" {
  description = "Whether each region's SyncThing configuration is as the group applied it."
  value       = geowp_sync_group.files.member_status
}
