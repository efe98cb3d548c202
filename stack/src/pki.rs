//! The site's certificates for TLS among PD, TiKV and TiDB: one CA per site
//! (made by `geowp_site`; its key stays in Terraform state, sensitive, and
//! never reaches a cluster), and one certificate per region (issued by that
//! region's stack into a Secret), good for both server and client auth,
//! naming every host the region's PD, TiKV and TiDB answer at.
//!
//! RSA-2048 throughout: TiKV has reported handshake failures with ECDSA
//! certificates (tikv#12617). Every certificate of a site carries the same
//! common name, `geowp-SITE`, because PD's `cert-allowed-cn` admits a single
//! value: only the site's certificates are accepted.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, PKCS_RSA_SHA256,
};

/// How long a region's certificate is valid; it is reissued by the apply
/// after it has less than [`REISSUE_BEFORE_DAYS`] left.
pub const CERT_DAYS: i64 = 365;
pub const REISSUE_BEFORE_DAYS: i64 = 30;
const CA_DAYS: i64 = 3650;

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("could not make a key or certificate")]
    Generate(#[source] rcgen::Error),
    #[error("the site CA does not load (pass geowp_site.NAME.tls_ca_certificate and tls_ca_private_key together)")]
    BadCa(#[source] rcgen::Error),
}

/// A certificate and its key, as PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pair(<certificate>, <redacted key>)")
    }
}

/// The common name of every certificate of `site`.
pub fn common_name(site: &str) -> String {
    format!("geowp-{site}")
}

fn validity(p: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    // a little slack for clocks that run behind
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(days);
}

/// A new CA for `site`.
pub fn new_ca(site: &str) -> Result<Pair, PkiError> {
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(PkiError::Generate)?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{} CA", common_name(site)));
    dn.push(DnType::OrganizationName, "geowp");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut p, CA_DAYS);
    let cert = p.self_signed(&key).map_err(PkiError::Generate)?;
    Ok(Pair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// What a region's certificate must name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    pub common_name: String,
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
}

impl Names {
    /// Every name as it appears in a certificate, sorted (to compare).
    pub fn sorted(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .dns
            .iter()
            .cloned()
            .chain(self.ips.iter().map(IpAddr::to_string))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Issues a region certificate (server and client auth) from the site CA,
/// valid for [`CERT_DAYS`].
pub fn issue(ca: &Pair, names: &Names) -> Result<Pair, PkiError> {
    issue_for_days(ca, names, CERT_DAYS)
}

/// [`issue`] with another validity (tests make certificates near expiry).
pub fn issue_for_days(ca: &Pair, names: &Names, days: i64) -> Result<Pair, PkiError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(PkiError::BadCa)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, &ca_key).map_err(PkiError::BadCa)?;
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(PkiError::Generate)?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, names.common_name.clone());
    dn.push(DnType::OrganizationName, "geowp");
    p.distinguished_name = dn;
    p.subject_alt_names = names
        .dns
        .iter()
        .filter_map(|d| d.clone().try_into().ok().map(SanType::DnsName))
        .chain(names.ips.iter().map(|ip| SanType::IpAddress(*ip)))
        .collect();
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    validity(&mut p, days);
    let cert = p.signed_by(&key, &issuer).map_err(PkiError::Generate)?;
    Ok(Pair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// What a certificate says of itself, read back from PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    pub common_name: String,
    /// Its DNS and IP names, sorted.
    pub names: Vec<String>,
    /// Seconds since the Unix epoch.
    pub not_after: i64,
    /// The DER of the issuer's name, to tell which CA signed it.
    pub issuer_der: Vec<u8>,
}

/// Reads a certificate's facts; None when it does not parse.
pub fn facts(cert_pem: &str) -> Option<Facts> {
    let der = geowp_kube::pem::certificates(cert_pem)
        .ok()?
        .into_iter()
        .next()?;
    let (_, c) = x509_parser::parse_x509_certificate(&der).ok()?;
    let cn = c
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or("")
        .to_string();
    let mut names = Vec::new();
    if let Ok(Some(san)) = c.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => names.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    names.sort();
    names.dedup();
    Some(Facts {
        common_name: cn,
        names,
        not_after: c.validity().not_after.timestamp(),
        issuer_der: c.issuer().as_raw().to_vec(),
    })
}

/// Whether `cert_pem` was signed by the CA of `ca_pem` (by issuer name and
/// signature).
pub fn signed_by(cert_pem: &str, ca_pem: &str) -> bool {
    let (Ok(leaf), Ok(ca)) = (
        geowp_kube::pem::certificates(cert_pem),
        geowp_kube::pem::certificates(ca_pem),
    ) else {
        return false;
    };
    let (Some(leaf), Some(ca)) = (leaf.first(), ca.first()) else {
        return false;
    };
    let (Ok((_, l)), Ok((_, c))) = (
        x509_parser::parse_x509_certificate(leaf),
        x509_parser::parse_x509_certificate(ca),
    ) else {
        return false;
    };
    l.issuer() == c.subject() && l.verify_signature(Some(c.public_key())).is_ok()
}

/// Whether a CA certificate and key belong together.
pub fn ca_matches(ca: &Pair) -> bool {
    let Ok(key) = KeyPair::from_pem(&ca.key_pem) else {
        return false;
    };
    let Ok(der) = geowp_kube::pem::certificates(&ca.cert_pem) else {
        return false;
    };
    let Some(first) = der.first() else {
        return false;
    };
    let Ok((_, c)) = x509_parser::parse_x509_certificate(first) else {
        return false;
    };
    c.public_key().subject_public_key.data.as_ref() == key.public_key_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            common_name: common_name("blog"),
            dns: vec![
                "pd".into(),
                "*.pd.geowp.svc.cluster.local".into(),
                "localhost".into(),
            ],
            ips: vec!["127.0.0.1".parse().unwrap(), "10.0.0.5".parse().unwrap()],
        }
    }

    #[test]
    fn a_region_certificate_names_its_hosts_and_is_signed_by_the_site_ca() {
        let ca = new_ca("blog").unwrap();
        assert!(ca_matches(&ca));
        let leaf = issue(&ca, &names()).unwrap();
        let f = facts(&leaf.cert_pem).unwrap();
        assert_eq!(f.common_name, "geowp-blog");
        assert_eq!(f.names, names().sorted());
        let days = (f.not_after - time::OffsetDateTime::now_utc().unix_timestamp()) / 86400;
        assert!((CERT_DAYS - 1..=CERT_DAYS).contains(&days), "{days}");
        assert!(signed_by(&leaf.cert_pem, &ca.cert_pem));
        let other = new_ca("other").unwrap();
        assert!(!signed_by(&leaf.cert_pem, &other.cert_pem));
        assert!(!ca_matches(&Pair {
            cert_pem: ca.cert_pem.clone(),
            key_pem: other.key_pem
        }));
        assert!(format!("{leaf:?}").contains("redacted"));
        // RSA, as TiKV wants
        assert!(leaf.key_pem.contains("BEGIN PRIVATE KEY"));
        let der = geowp_kube::pem::certificates(&leaf.cert_pem).unwrap();
        let (_, c) = x509_parser::parse_x509_certificate(&der[0]).unwrap();
        assert_eq!(
            c.public_key().algorithm.algorithm,
            x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION
        );
        let eku = c.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
    }
}
