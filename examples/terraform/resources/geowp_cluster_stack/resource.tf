# One region of the site, in a cluster created in the same configuration.
resource "geowp_cluster_stack" "us_east" {
  cluster {
    host                   = "https://${google_container_cluster.us_east.endpoint}"
    cluster_ca_certificate = base64decode(google_container_cluster.us_east.master_auth[0].cluster_ca_certificate)
    token                  = data.google_client_config.default.access_token
  }

  member    = "us-east"
  site_name = geowp_site.blog.name
  site_url  = "https://blog.example.com"

  tidb_root_password    = geowp_site.blog.tidb_root_password
  wordpress_db_password = geowp_site.blog.wordpress_db_password
  wordpress_salts       = geowp_site.blog.wordpress_salts

  # every member of the site, identical in every region
  members = {
    "us-east"  = { pd_client_url = "http://203.0.113.10:2379", pd_peer_url = "http://203.0.113.10:2380", tikv_address = "203.0.113.11:20160", syncthing_address = "tcp://203.0.113.12:22000" }
    "eu-west"  = { pd_client_url = "http://198.51.100.10:2379", pd_peer_url = "http://198.51.100.10:2380", tikv_address = "198.51.100.11:20160", syncthing_address = "tcp://198.51.100.12:22000" }
    "ap-south" = { pd_client_url = "http://192.0.2.10:2379", pd_peer_url = "http://192.0.2.10:2380", tikv_address = "192.0.2.11:20160", syncthing_address = "tcp://192.0.2.12:22000" }
  }

  timeouts {
    create = "30m"
  }
}
