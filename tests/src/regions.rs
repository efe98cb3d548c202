//! Simulated regions for end-to-end tests: fake API servers (in-process,
//! TLS, tokens) with their kubeconfigs, data files and CAs in a temp dir,
//! which a test can stop and start again with their state.

use std::path::PathBuf;
use std::process::{Command, Output};

use fakeapi::{Handle, Options};

pub struct Regions {
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    pub names: Vec<String>,
    servers: Vec<Option<Handle>>,
    opts: Vec<Options>,
}

impl Regions {
    pub fn start(names: &[&str], base: Options) -> Regions {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::Builder::new()
            .prefix("geowp-regions-")
            .tempdir()
            .expect("tmp");
        let mut servers = Vec::new();
        let mut opts = Vec::new();
        for n in names {
            let d = dir.path().join(n);
            std::fs::create_dir_all(&d).expect("mkdir");
            let o = Options {
                name: n.to_string(),
                token: format!("token-{n}"),
                data_file: Some(d.join("data.json")),
                cert_dir: Some(d.join("certs")),
                ..base.clone()
            };
            let h = rt
                .block_on(fakeapi::start(o.clone()))
                .expect("start fake API server");
            std::fs::write(d.join("kubeconfig"), h.kubeconfig()).expect("kubeconfig");
            opts.push(Options { addr: h.addr, ..o });
            servers.push(Some(h));
        }
        Regions {
            rt,
            dir,
            names: names.iter().map(|s| s.to_string()).collect(),
            servers,
            opts,
        }
    }

    /// Starts one more region on the same runtime.
    pub fn add(&mut self, name: &str) {
        let base = self.opts[0].clone();
        let d = self.dir.path().join(name);
        std::fs::create_dir_all(&d).expect("mkdir");
        let o = Options {
            name: name.to_string(),
            token: format!("token-{name}"),
            data_file: Some(d.join("data.json")),
            cert_dir: Some(d.join("certs")),
            addr: "127.0.0.1:0".parse().expect("addr"),
            ..base
        };
        let h = self
            .rt
            .block_on(fakeapi::start(o.clone()))
            .expect("start fake API server");
        std::fs::write(d.join("kubeconfig"), h.kubeconfig()).expect("kubeconfig");
        self.opts.push(Options { addr: h.addr, ..o });
        self.servers.push(Some(h));
        self.names.push(name.to_string());
    }

    pub fn handle(&self, i: usize) -> &Handle {
        self.servers[i].as_ref().expect("server is stopped")
    }

    pub fn kubeconfig(&self, i: usize) -> PathBuf {
        self.dir.path().join(&self.names[i]).join("kubeconfig")
    }

    /// Stops region `i`'s API server (its objects are saved).
    pub fn stop(&mut self, i: usize) {
        if let Some(h) = self.servers[i].take() {
            self.rt.block_on(h.stop());
        }
    }

    /// Starts region `i` again: same port, CA and objects.
    pub fn restart(&mut self, i: usize) {
        let h = self
            .rt
            .block_on(fakeapi::start(self.opts[i].clone()))
            .expect("restart fake API server");
        self.servers[i] = Some(h);
    }

    /// `clusters = { ... }` for the geo-wordpress module.
    pub fn clusters_hcl(&self) -> String {
        let all: Vec<(String, usize)> = self
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        self.clusters_hcl_of(&all)
    }

    /// `clusters = { ... }` naming member `name` on region `i` (addresses
    /// `10.i.0.x`), for each pair; a stopped region keeps its URL and CA.
    pub fn clusters_hcl_of(&self, which: &[(String, usize)]) -> String {
        let mut s = String::from("{\n");
        for (n, i) in which {
            let opts = &self.opts[*i];
            let ca = std::fs::read_to_string(
                self.dir
                    .path()
                    .join(&self.names[*i])
                    .join("certs")
                    .join("ca.pem"),
            )
            .ok()
            .or_else(|| self.servers[*i].as_ref().map(|h| h.ca_pem.clone()))
            .unwrap_or_default();
            s.push_str(&format!(
                "    \"{n}\" = {{\n      host                   = \"https://{}\"\n      cluster_ca_certificate = <<-EOT\n{}      EOT\n      token                  = \"{}\"\n      pd_ip                  = \"10.{i}.0.1\"\n      tikv_ip                = \"10.{i}.0.2\"\n      syncthing_ip           = \"10.{i}.0.3\"\n    }}\n",
                opts.addr, ca, opts.token
            ));
        }
        s.push_str("  }");
        s
    }

    /// A root module using the examples' geo-wordpress module over these
    /// regions, with the device IDs and endpoints as outputs.
    pub fn module_config(&self, site: &str, extra: &str) -> String {
        self.module_config_with(site, &self.clusters_hcl(), extra)
    }

    /// The same root module over a chosen `clusters` map ([`Self::clusters_hcl_of`]).
    pub fn module_config_with(&self, site: &str, clusters: &str, extra: &str) -> String {
        format!(
            r#"terraform {{
  required_providers {{
    geowp = {{ source = "geowp/geowp" }}
  }}
}}

module "site" {{
  source             = "{module}"
  site_name          = "{site}"
  site_url           = "https://blog.example.com"
  clusters           = {clusters}
  peer_source_ranges = ["10.0.0.0/8"]
  node_source_ranges = {{ {nodes} }}
{extra}
}}

output "device_ids" {{
  value = module.site.syncthing_device_ids
}}

output "endpoints" {{
  value = module.site.wordpress_endpoints
}}
"#,
            module = crate::repo_root()
                .join("examples/terraform/modules/geo-wordpress")
                .display(),
            clusters = clusters,
            nodes = self
                .names
                .iter()
                .map(|n| format!("\"{n}\" = [\"10.128.0.0/16\"]"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// The site and one `geowp_cluster_stack` resource per region, written
    /// out (not through the module) so each can differ: `extra(i)` adds lines
    /// to region `i`'s stack (timeouts, one changed attribute).
    pub fn stacks_config(&self, extra: &dyn Fn(usize) -> String) -> String {
        let mut s = String::from("terraform {\n  required_providers {\n    geowp = { source = \"geowp/geowp\" }\n  }\n}\n\nresource \"geowp_site\" \"s\" {\n  name = \"blog\"\n}\n\nlocals {\n  members = {\n");
        for (i, n) in self.names.iter().enumerate() {
            s.push_str(&format!("    \"{n}\" = {{ pd_client_url = \"https://10.{i}.0.1:2379\", pd_peer_url = \"https://10.{i}.0.1:2380\", tikv_address = \"10.{i}.0.2:20160\", syncthing_address = \"tcp://10.{i}.0.3:22000\" }}\n"));
        }
        s.push_str("  }\n}\n");
        for (i, n) in self.names.iter().enumerate() {
            let h = self.handle(i);
            s.push_str(&format!(
                "\nresource \"geowp_cluster_stack\" \"{n}\" {{\n  cluster {{\n    host = \"{}\"\n    cluster_ca_certificate = <<-EOT\n{}    EOT\n    token = \"{}\"\n  }}\n  member = \"{n}\"\n  site_name = geowp_site.s.name\n  site_url = \"https://blog.example.com\"\n  tidb_root_password = geowp_site.s.tidb_root_password\n  wordpress_db_password = geowp_site.s.wordpress_db_password\n  wordpress_salts = geowp_site.s.wordpress_salts\n  tls_ca_certificate = geowp_site.s.tls_ca_certificate\n  tls_ca_private_key = geowp_site.s.tls_ca_private_key\n  peer_source_ranges = [\"10.0.0.0/8\"]\n  node_source_ranges = [\"10.128.0.0/16\"]\n  members = local.members\n{}\n}}\n",
                h.url(),
                h.ca_pem,
                h.token(),
                extra(i)
            ));
        }
        s
    }

    /// `local.clusters` (host, cluster_ca_certificate and token of each
    /// region), the site, and `geowp_cluster_stack.region[NAME]` for each.
    pub fn stacks_for_each_hcl(&self) -> String {
        let mut clusters = String::new();
        for (i, n) in self.names.iter().enumerate() {
            let h = self.handle(i);
            // addresses follow the region, not its place in the sorted keys:
            // adding a region moves no other member
            clusters.push_str(&format!("    \"{n}\" = {{\n      host = \"{}\"\n      cluster_ca_certificate = <<-EOT\n{}      EOT\n      token = \"{}\"\n      net = \"10.{i}\"\n    }}\n", h.url(), h.ca_pem, h.token()));
        }
        format!(
            r#"locals {{
  clusters = {{
{clusters}  }}
  members = {{ for k, c in local.clusters : k => {{
    pd_client_url = "https://${{c.net}}.0.1:2379", pd_peer_url = "https://${{c.net}}.0.1:2380",
    tikv_address = "${{c.net}}.0.2:20160", syncthing_address = "tcp://${{c.net}}.0.3:22000" }} }}
}}

resource "geowp_site" "s" {{
  name = "blog"
}}

resource "geowp_cluster_stack" "region" {{
  for_each = local.clusters
  cluster {{
    host                   = each.value.host
    cluster_ca_certificate = each.value.cluster_ca_certificate
    token                  = each.value.token
  }}
  member                = each.key
  site_name             = geowp_site.s.name
  site_url              = "https://blog.example.com"
  tidb_root_password    = geowp_site.s.tidb_root_password
  wordpress_db_password = geowp_site.s.wordpress_db_password
  wordpress_salts       = geowp_site.s.wordpress_salts
  tls_ca_certificate    = geowp_site.s.tls_ca_certificate
  tls_ca_private_key    = geowp_site.s.tls_ca_private_key
  peer_source_ranges    = ["10.0.0.0/8"]
  node_source_ranges    = ["10.128.0.0/16"]
  members               = local.members
}}
"#
        )
    }

    pub fn kubectl(&self, i: usize, args: &[&str]) -> Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", self.kubeconfig(i))
            .env("HOME", self.dir.path())
            .output()
            .expect("kubectl must be installed")
    }

    /// `kubectl ... -o name` output of region `i`, one name per line, sorted.
    pub fn names_of(&self, i: usize, what: &str, ns: Option<&str>) -> Vec<String> {
        let mut args = vec!["get", what, "-o", "name"];
        if let Some(n) = ns {
            args.extend(["-n", n]);
        }
        let o = self.kubectl(i, &args);
        assert!(
            o.status.success(),
            "kubectl get {what}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(String::from)
            .collect();
        v.sort();
        v
    }
}

impl Drop for Regions {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.stop(i);
        }
    }
}
