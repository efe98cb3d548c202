# One WordPress site across every cluster in var.clusters: the shared
# secrets, and one geowp_cluster_stack per cluster.

resource "geowp_site" "this" {
  name = var.site_name
  # the members of the first apply found TiDB; members added later join it
  members = { for name, m in local.members : name => m.pd_peer_url }
  # set, not left null: Terraform 1.0's ignore_changes turns a null map into
  # an empty one, which would plan an update of the site
  keepers = {}
  lifecycle {
    # only the founders matter, and they never change; an update here would
    # also make Terraform destroy a departing region before the survivors
    # could remove it from TiDB
    ignore_changes = [members]
  }
}

locals {
  # how each region's cluster is reached, for its stack and the sync group:
  # a credential plugin that renews the token where cluster_exec names one,
  # else the fixed token
  cluster_settings = {
    for name, c in var.clusters : name => {
      host                   = c.host
      cluster_ca_certificate = c.cluster_ca_certificate
      token                  = contains(keys(var.cluster_exec), name) ? null : c.token
      exec_command           = try(var.cluster_exec[name].command, null)
      exec_args              = try(var.cluster_exec[name].args, null)
      exec_api_version       = try(var.cluster_exec[name].api_version, null)
      exec_env               = try(var.cluster_exec[name].env, null)
    }
  }
  # PD speaks TLS unless tidb_tls is off
  pd_scheme = var.tidb_tls ? "https" : "http"
  members = {
    for name, c in var.clusters : name => {
      pd_client_url     = "${local.pd_scheme}://${c.pd_ip}:2379"
      pd_peer_url       = "${local.pd_scheme}://${c.pd_ip}:2380"
      tikv_address      = "${c.tikv_ip}:20160"
      syncthing_address = "tcp://${c.syncthing_ip}:22000"
    }
  }
}

resource "geowp_cluster_stack" "region" {
  for_each = var.clusters

  cluster {
    host                   = local.cluster_settings[each.key].host
    cluster_ca_certificate = local.cluster_settings[each.key].cluster_ca_certificate
    token                  = local.cluster_settings[each.key].token
    exec_command           = local.cluster_settings[each.key].exec_command
    exec_args              = local.cluster_settings[each.key].exec_args
    exec_api_version       = local.cluster_settings[each.key].exec_api_version
    exec_env               = local.cluster_settings[each.key].exec_env
  }

  member    = each.key
  namespace = var.namespace
  members   = local.members
  founders  = geowp_site.this.founders

  site_name             = geowp_site.this.name
  site_url              = var.site_url
  tidb_root_password    = geowp_site.this.tidb_root_password
  wordpress_db_password = geowp_site.this.wordpress_db_password
  wordpress_salts       = geowp_site.this.wordpress_salts
  tls_ca_certificate    = geowp_site.this.tls_ca_certificate
  tls_ca_private_key    = geowp_site.this.tls_ca_private_key
  tidb_tls              = var.tidb_tls

  peer_source_ranges       = var.peer_source_ranges
  peer_service_annotations = var.peer_service_annotations
  # per Service, for this region only (none when the member is not listed)
  peer_service_annotations_by_service = lookup(var.peer_service_annotations_by_member, each.key, {})
  node_source_ranges                  = lookup(var.node_source_ranges, each.key, [])
  primary_member                      = var.primary_member
  max_rtt_ms                          = var.max_rtt_ms
  resources                           = var.resources

  tidb_version                   = var.tidb_version
  wordpress_image                = var.wordpress_image
  wordpress_replicas             = var.wordpress_replicas
  page_cache                     = var.page_cache
  page_cache_ttl                 = var.page_cache_ttl
  page_cache_replicas            = var.page_cache_replicas
  stale_read_seconds             = var.stale_read_seconds
  wordpress_service_type         = var.wordpress_service_type
  wordpress_node_port            = var.wordpress_node_port
  peer_service_type              = var.peer_service_type
  storage_class                  = var.storage_class
  storage_class_provisioner      = var.storage_class_provisioner
  storage_class_parameters       = var.storage_class_parameters
  wordpress_service_annotations  = lookup(var.wordpress_service_annotations, each.key, {})
  wordpress_tls_at_load_balancer = var.wordpress_tls_at_load_balancer
  wait_for_rollout               = var.wait_for_rollout
  wordpress_file_mods            = var.wordpress_file_mods
  wp_content_storage_class       = var.wp_content_storage_class
  # or a class each stack makes (EFS: one file system per region)
  wp_content_storage_class_provisioner = var.wp_content_storage_class_provisioner
  wp_content_storage_class_parameters  = lookup(var.wp_content_storage_class_parameters, each.key, {})

  # backups: every region has the schedule, one takes each run
  backup_repository      = var.backup_repository
  backup_interval_hours  = var.backup_interval_hours
  backup_password        = var.backup_repository == null ? null : geowp_site.this.backup_password
  backup_credentials     = var.backup_credentials
  backup_service_account = var.backup_service_account
}

# The file plane: every region's SyncThing knows every other and shares wp-content.
resource "geowp_sync_group" "files" {
  # on the cluster's own ReadWriteMany class SyncThing finds the other
  # pods' writes by rescanning (inotify sees one node's only)
  rescan_interval_seconds = var.wp_content_storage_class == null && var.wp_content_storage_class_provisioner == null ? var.sync_rescan_interval_seconds : min(coalesce(var.sync_rescan_interval_seconds, 60), 60)
  watcher_delay_seconds   = var.sync_watcher_delay_seconds

  members = {
    for name, s in geowp_cluster_stack.region : name => {
      device_id      = s.syncthing_device_id
      address        = try(var.syncthing_overrides[name].address, s.syncthing_address)
      listen_address = try(var.syncthing_overrides[name].listen_address, null)
      gui_address    = try(var.syncthing_overrides[name].gui_address, null)
      folder_path    = try(var.syncthing_overrides[name].folder_path, null)
      namespace      = var.namespace
      cluster        = local.cluster_settings[name]
    }
  }
}
