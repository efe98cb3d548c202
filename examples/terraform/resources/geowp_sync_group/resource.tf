# Every region's SyncThing knows every other and shares wp-content.
resource "geowp_sync_group" "files" {
  members = {
    for name, s in geowp_cluster_stack.region : name => {
      device_id = s.syncthing_device_id
      address   = s.syncthing_address
      namespace = s.namespace
      cluster = {
        host                   = var.clusters[name].host
        cluster_ca_certificate = var.clusters[name].cluster_ca_certificate
        token                  = var.clusters[name].token
      }
    }
  }
}
