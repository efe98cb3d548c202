//! The demo's global load balancer: Debian's HAProxy in front of every
//! region's WordPress Service, health-checking the stack's health path with
//! the interval and thresholds of the GKE example's health check, so a
//! region drops out and comes back as it would behind Google's. When every
//! region fails its check it fails open (see [`config`]).

/// Health check timings shared with `examples/terraform/gke/loadbalancer.tf`
/// (`check_interval_sec`, `timeout_sec`, `healthy_threshold`,
/// `unhealthy_threshold`); a test keeps the two equal.
pub const INTERVAL_S: u32 = 2;
pub const TIMEOUT_S: u32 = 2;
pub const HEALTHY_THRESHOLD: u32 = 2;
pub const UNHEALTHY_THRESHOLD: u32 = 2;

/// One region behind the load balancer.
#[derive(Clone, Debug)]
pub struct Backend {
    pub name: String,
    /// Its WordPress Service, `IP:PORT`.
    pub wordpress: String,
    /// Where this region alone is served too (`IP:PORT`), for a person or a
    /// browser that wants one region.
    pub direct: Option<String>,
}

/// haproxy.cfg: the site on `listen` (`IP:PORT`), `Host: host`, checking
/// `health_path` on every backend.
pub fn config(listen: &str, host: &str, health_path: &str, backends: &[Backend]) -> String {
    let check = format!(
        "  option httpchk\n  http-check send meth GET uri {health_path} ver HTTP/1.1 hdr Host {host}\n  http-check expect status 200\n  default-server inter {INTERVAL_S}s fall {UNHEALTHY_THRESHOLD} rise {HEALTHY_THRESHOLD}\n"
    );
    let mut s = format!(
        "# written by geowp-localrun haproxy-config: the demo's global load balancer\n\
global\n  log stderr format raw local0 notice\n\n\
defaults\n  mode http\n  log global\n  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\n  timeout check {TIMEOUT_S}s\n\
  # a request to a region that just went away is tried again elsewhere\n\
  retries 3\n  option redispatch 1\n  retry-on conn-failure empty-response response-timeout\n\n\
frontend site\n  bind {listen}\n  default_backend regions\n\n\
backend regions\n  balance roundrobin\n{check}"
    );
    for b in backends {
        s.push_str(&format!("  server {} {} check\n", b.name, b.wordpress));
    }
    // Every region failing its check (the database down site-wide): fail
    // open, as ALB target groups and Route 53 do, so each region's page
    // cache still serves the pages it has. The same regions, unchecked, as
    // backups: used only while no checked server is up, all of them then.
    s.push_str("  option allbackups\n");
    for b in backends {
        s.push_str(&format!(
            "  server {}-open {} backup no-check\n",
            b.name, b.wordpress
        ));
    }
    for b in backends {
        let Some(d) = &b.direct else { continue };
        s.push_str(&format!(
            "\nfrontend region-{0}\n  bind {d}\n  http-request set-header Host {host}\n  default_backend region-{0}\n\nbackend region-{0}\n{check}  server {0} {1} check\n",
            b.name, b.wordpress
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_region_is_checked_on_the_health_path() {
        let c = config(
            "127.0.0.1:8080",
            "demo.localhost:8080",
            "/geowp-health.php",
            &[
                Backend {
                    name: "us-east".into(),
                    wordpress: "127.11.2.7:80".into(),
                    direct: Some("127.11.0.1:8080".into()),
                },
                Backend {
                    name: "eu-west".into(),
                    wordpress: "127.12.2.7:80".into(),
                    direct: None,
                },
            ],
        );
        assert!(c.contains("bind 127.0.0.1:8080"));
        assert!(c.contains("server us-east 127.11.2.7:80 check"));
        assert!(c.contains("server eu-west 127.12.2.7:80 check"));
        assert!(c.contains("option allbackups\n  server us-east-open 127.11.2.7:80 backup no-check\n  server eu-west-open 127.12.2.7:80 backup no-check\n"));
        assert!(c.contains("uri /geowp-health.php ver HTTP/1.1 hdr Host demo.localhost:8080"));
        assert!(c.contains("inter 2s fall 2 rise 2"));
        assert!(c.contains("frontend region-us-east\n  bind 127.11.0.1:8080"));
        assert!(!c.contains("frontend region-eu-west"));
    }
}
