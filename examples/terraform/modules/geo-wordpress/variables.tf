variable "site_name" {
  description = "Name of the site: a DNS label used in object names in every cluster."
  type        = string
}

variable "site_url" {
  description = "Public URL of the site, e.g. https://blog.example.com (the global load balancer's address)."
  type        = string
}

variable "clusters" {
  description = <<-EOT
    One entry per region, keyed by member name (a DNS label such as "us-east"):
    host, cluster_ca_certificate (PEM) and token reach the cluster's API server;
    pd_ip, tikv_ip and syncthing_ip are the static addresses other regions dial
    (the load balancers of PD, TiKV and SyncThing in that region).
  EOT
  type = map(object({
    host                   = string
    cluster_ca_certificate = string
    token                  = string
    pd_ip                  = string
    tikv_ip                = string
    syncthing_ip           = string
  }))
  validation {
    condition     = length(var.clusters) >= 3
    error_message = "A site needs at least 3 clusters so that TiDB keeps quorum when a region is lost. To move a region to another cluster, keep its key in clusters and change its settings and addresses instead of removing it."
  }
}

variable "cluster_exec" {
  description = "Per region (by the keys of clusters), a credential plugin the provider runs for a fresh token, again whenever the last one expires, in place of that cluster's token (an EKS token lives 15 minutes): api_version, command, args and env, as kubectl's users[].user.exec, e.g. aws eks get-token."
  type = map(object({
    api_version = string
    command     = string
    args        = list(string)
    env         = map(string)
  }))
  default = {}
}

variable "namespace" {
  description = "Namespace of the stack in every cluster."
  type        = string
  default     = "geowp"
}

variable "tidb_version" {
  description = "Image tag of PD, TiKV and TiDB; null for the provider's pinned default."
  type        = string
  default     = null
}

variable "wordpress_image" {
  description = "WordPress image; null for the provider's pinned default."
  type        = string
  default     = null
}

variable "wordpress_replicas" {
  description = "WordPress replicas per region; null for the provider's default (2)."
  type        = number
  default     = null
}

variable "page_cache" {
  description = "A page cache (Varnish) in front of WordPress in every region, for visitors who are not logged in; null for the provider's default (on)."
  type        = bool
  default     = null
}

variable "page_cache_ttl" {
  description = "Seconds a cached page is served before the cache asks WordPress again; bounds how long an edit takes to show in other regions. null for the provider's default (30)."
  type        = number
  default     = null
}

variable "page_cache_replicas" {
  description = "Page cache pods per region; null for the provider's default (2)."
  type        = number
  default     = null
}

variable "stale_read_seconds" {
  description = "Seconds old a visitor's database reads may be (served by the region's own replicas); 0 reads fresh. null for the provider's default (5)."
  type        = number
  default     = null
}

variable "wordpress_service_type" {
  description = "Service type of WordPress in each region (what the global load balancer targets)."
  type        = string
  default     = "LoadBalancer"
}

variable "peer_service_type" {
  description = "Service type of the Services other regions dial (PD, TiKV, SyncThing)."
  type        = string
  default     = "LoadBalancer"
}

variable "storage_class" {
  description = "StorageClass of the ReadWriteOnce volumes; null for each cluster's default."
  type        = string
  default     = null
}

variable "storage_class_provisioner" {
  description = "CSI driver of a StorageClass each stack makes for its ReadWriteOnce volumes (reclaim policy Retain), for clusters with no fit default class, e.g. ebs.csi.eks.amazonaws.com on EKS Auto Mode; null uses storage_class or the cluster's default."
  type        = string
  default     = null
}

variable "storage_class_parameters" {
  description = "Parameters of that StorageClass, e.g. { type = \"gp3\", encrypted = \"true\" } for EBS."
  type        = map(string)
  default     = {}
}

variable "wait_for_rollout" {
  description = "Wait for workloads, claims and load balancers to be ready."
  type        = bool
  default     = true
}

variable "syncthing_overrides" {
  description = <<-EOT
    Per region, where SyncThing really runs when not in the stack's pod (the
    local demo runs real daemons on this machine): the address peers dial,
    the listen and GUI addresses, and the folder path. Leave empty in clusters.
  EOT
  type = map(object({
    address        = string
    listen_address = string
    gui_address    = string
    folder_path    = string
  }))
  default = {}
}

variable "wordpress_service_annotations" {
  description = "Per region (by the keys of clusters), annotations of the WordPress Service for the load balancer in front of it, e.g. an internet-facing NLB with that region's ACM certificate on EKS."
  type        = map(map(string))
  default     = {}
}

variable "wordpress_tls_at_load_balancer" {
  description = "The load balancer in front of WordPress terminates TLS without an X-Forwarded-Proto header (an NLB TLS listener): the Service listens on 443 and WordPress takes every request as https. Needs an https site_url."
  type        = bool
  default     = false
}

variable "wordpress_node_port" {
  description = "Fixed node port of WordPress when wordpress_service_type is NodePort (for a global load balancer that targets node ports); null lets Kubernetes pick."
  type        = number
  default     = null
}

variable "sync_rescan_interval_seconds" {
  description = "How often each SyncThing rescans wp-content in full, a safety net (SyncThing watches the NFS server's disk, so it sees every write at once); null keeps the provider's default (3600)."
  type        = number
  default     = null
}

variable "sync_watcher_delay_seconds" {
  description = "Delay after a file change before SyncThing sends it; null keeps the provider's default (1)."
  type        = number
  default     = null
}

variable "tidb_tls" {
  description = "TLS among PD, TiKV and TiDB with the site's CA (geowp_site makes it). Turning it off plans a warning."
  type        = bool
  default     = true
}

variable "peer_source_ranges" {
  description = "CIDR ranges allowed to reach every region's peer Services (PD, TiKV, SyncThing): the clusters' node and pod ranges. Empty leaves them open to whoever reaches the load balancers (a plan-time warning)."
  type        = list(string)
  default     = []
}

variable "peer_service_annotations" {
  description = "Annotations of the peer Services in every region, e.g. an internal load balancer with global access on GKE."
  type        = map(string)
  default     = {}
}

variable "peer_service_annotations_by_member" {
  description = "Per region (by the keys of clusters), annotations of one peer Service by pd, tikv or syncthing, added to peer_service_annotations: what differs per Service and region, such as each internal NLB's fixed private address on EKS."
  type        = map(map(map(string)))
  default     = {}
}

variable "primary_member" {
  description = "The region whose PD should lead while it is up; null prefers none."
  type        = string
  default     = null
}

variable "max_rtt_ms" {
  description = "The largest round-trip time between regions, in milliseconds; PD's and TiKV's election timings are sized from it. null keeps the provider's default (150)."
  type        = number
  default     = null
}

variable "resources" {
  description = "CPU and memory per component, e.g. { tikv = { cpu = \"2\", memory = \"8Gi\" } }: components pd, tikv, tidb, wordpress, syncthing, nfs and page_cache, keys cpu, memory and memory_limit. Left out: the provider's defaults (TiDB's documented minimums)."
  type        = map(map(string))
  default     = {}
}

variable "node_source_ranges" {
  description = "Per region (by the keys of clusters), the cluster's node CIDR ranges: NFS mounts come from the nodes, and the NFS NetworkPolicy admits them. Regions left out admit any source in their cluster on the NFS ports."
  type        = map(list(string))
  default     = {}
}

variable "backup_repository" {
  description = "Where scheduled backups go (a restic repository: s3:..., gs:BUCKET:/PATH, azure:CONTAINER:/PATH, rest:https://...); null: no backups. See docs/guides/backups.md."
  type        = string
  default     = null
}

variable "backup_interval_hours" {
  description = "Hours between backups (1, 2, 3, 4, 6, 8, 12 or 24); null keeps the provider's default (1)."
  type        = number
  default     = null
}

variable "backup_credentials" {
  description = "restic's credential variables for the repository (e.g. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); null with workload identity (backup_service_account)."
  type        = map(string)
  default     = null
  sensitive   = true
}

variable "backup_service_account" {
  description = "An existing ServiceAccount in the namespace with workload identity for the backup pods (IRSA, GKE Workload Identity, Azure Workload Identity); null: none."
  type        = string
  default     = null
}

variable "wordpress_file_mods" {
  description = "Allow plugin and theme installs and updates from wp-admin (code then syncs between regions); false: code comes with wordpress_image."
  type        = bool
  default     = false
}

variable "wp_content_storage_class" {
  description = "A ReadWriteMany StorageClass every cluster already has for wp-content (EFS, Azure Files, Filestore) instead of the in-cluster NFS server; null: the NFS server. SyncThing then rescans every minute (it cannot watch a network filesystem)."
  type        = string
  default     = null
}

variable "wp_content_storage_class_provisioner" {
  description = "CSI driver of a ReadWriteMany StorageClass each stack makes for wp-content instead of the in-cluster NFS server, e.g. efs.csi.aws.com; null: none. SyncThing then rescans every minute."
  type        = string
  default     = null
}

variable "wp_content_storage_class_parameters" {
  description = "Per member, the parameters of that class (EFS: provisioningMode, fileSystemId, directoryPerms, uid, gid)."
  type        = map(map(string))
  default     = {}
}
