//! The region's TLS certificate: issued from the site CA when the cluster
//! has none, when it was issued by another CA, when the names it must carry
//! changed (an advertised address, the namespace), or when it has less than
//! 30 days left; kept otherwise, so an apply that changes nothing else
//! writes nothing. PD, TiKV and TiDB re-read certificate and key from the
//! mounted Secret for each new connection (PingCAP's "Reload certificates"),
//! so a renewal needs no restart; the CA they read only at start, so a new
//! CA changes their pod templates (`geowp.dev/config-hash`) and restarts them.

use std::net::IpAddr;

use geowp_common::names::object;

use crate::pki::{self, Names, Pair};
use crate::render::{host_port_of, StackSpec, TlsMaterial};

/// Every name PD, TiKV and TiDB of this region answer at: their Services
/// and pods in the cluster (short and fully qualified), the addresses other
/// regions dial, and loopback.
pub fn names(spec: &StackSpec) -> Names {
    let ns = &spec.namespace;
    let mut dns = vec!["localhost".to_string()];
    for svc in [object::PD, object::TIKV, object::TIDB, "pd-0", "tikv-0"] {
        for suffix in [
            "".to_string(),
            format!(".{ns}"),
            format!(".{ns}.svc"),
            format!(".{ns}.svc.cluster.local"),
        ] {
            dns.push(format!("{svc}{suffix}"));
        }
    }
    for sts in [object::PD, object::TIKV, object::TIDB] {
        for suffix in [
            "".to_string(),
            format!(".{ns}"),
            format!(".{ns}.svc"),
            format!(".{ns}.svc.cluster.local"),
        ] {
            dns.push(format!("*.{sts}{suffix}"));
        }
    }
    let mut ips: Vec<IpAddr> = vec![
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
    ];
    if let Some(me) = spec.me() {
        for addr in [&me.pd_client_url, &me.pd_peer_url, &me.tikv_address] {
            let hp = host_port_of(addr);
            let host = hp.rsplit_once(':').map(|(h, _)| h).unwrap_or(hp);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            match host.parse::<IpAddr>() {
                Ok(ip) => ips.push(ip),
                Err(_) if !host.is_empty() => dns.push(host.to_string()),
                Err(_) => {}
            }
        }
    }
    dns.sort();
    dns.dedup();
    ips.sort();
    ips.dedup();
    Names {
        common_name: pki::common_name(&spec.site_name),
        dns,
        ips,
    }
}

/// Whether the live certificate serves, and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    Keep,
    Issue(String),
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// RFC 3339, for `tls_certificate_expires`.
pub fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// What to do with the live certificate (None: there is none).
pub fn need(live: Option<&TlsMaterial>, ca_pem: &str, want: &Names, now: i64) -> Need {
    let Some(live) = live else {
        return Need::Issue("the cluster has no certificate yet".into());
    };
    let Some(f) = pki::facts(&live.cert_pem) else {
        return Need::Issue("the certificate in the cluster does not parse".into());
    };
    if !pki::signed_by(&live.cert_pem, ca_pem) {
        return Need::Issue("it was issued by another CA than the site's".into());
    }
    if f.common_name != want.common_name || f.names != want.sorted() {
        return Need::Issue("the names it must carry changed".into());
    }
    let left = (f.not_after - now) / 86400;
    if left < pki::REISSUE_BEFORE_DAYS {
        return Need::Issue(format!(
            "it expires on {} ({left} days left)",
            rfc3339(f.not_after)
        ));
    }
    Need::Keep
}

/// A new certificate for the region, signed by the site's CA (an error when
/// the CA's certificate and key do not belong together or cannot sign).
pub fn issue(spec: &StackSpec, ca_cert: &str, ca_key: &str) -> Result<TlsMaterial, pki::PkiError> {
    let ca = Pair {
        cert_pem: ca_cert.to_string(),
        key_pem: ca_key.to_string(),
    };
    let p = pki::issue(&ca, &names(spec))?;
    Ok(TlsMaterial {
        ca_pem: ca_cert.to_string(),
        cert_pem: p.cert_pem,
        key_pem: p.key_pem,
    })
}

/// The certificate as the cluster holds it (the `tidb-tls` Secret's data).
pub fn from_secret(s: &serde_json::Value) -> Option<TlsMaterial> {
    let d = &s["data"];
    let text = |k: &str| geowp_common::b64::decode_text(d[k].as_str()?);
    Some(TlsMaterial {
        ca_pem: text("ca.crt")?,
        cert_pem: text("tls.crt")?,
        key_pem: text("tls.key")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::spec;

    #[test]
    fn a_certificate_is_kept_until_something_it_depends_on_changes() {
        let s = spec("us-east");
        let ca = pki::new_ca("blog").unwrap();
        let t = issue(&s, &ca.cert_pem, &ca.key_pem).unwrap();
        let n = names(&s);
        assert!(n.dns.contains(&"pd.geowp.svc.cluster.local".to_string()));
        assert!(n.dns.contains(&"*.tikv.geowp.svc".to_string()));
        assert!(
            n.ips.contains(&"10.0.0.1".parse().unwrap())
                && n.ips.contains(&"10.0.0.2".parse().unwrap())
        );
        assert_eq!(need(Some(&t), &ca.cert_pem, &n, now()), Need::Keep);
        assert!(matches!(
            need(None, &ca.cert_pem, &n, now()),
            Need::Issue(_)
        ));
        let other = pki::new_ca("blog").unwrap();
        assert!(
            matches!(need(Some(&t), &other.cert_pem, &n, now()), Need::Issue(w) if w.contains("another CA"))
        );
        let mut moved = s.clone();
        moved.members.get_mut("us-east").unwrap().tikv_address = "10.9.9.9:20160".into();
        assert!(
            matches!(need(Some(&t), &ca.cert_pem, &names(&moved), now()), Need::Issue(w) if w.contains("names"))
        );
        let in_340_days = now() + 340 * 86400;
        assert!(
            matches!(need(Some(&t), &ca.cert_pem, &n, in_340_days), Need::Issue(w) if w.contains("expires"))
        );
    }
}
