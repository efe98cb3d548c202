//! Checking PEM text before anything is built from it, so a bad
//! certificate or key is named at plan time instead of failing a TLS
//! handshake later (or panicking deep in a client library).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// What is wrong with a PEM text, in words a user can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    #[error("there is no -----BEGIN CERTIFICATE----- block (if your source gives base64, wrap it in base64decode())")]
    NoCertificate,
    #[error("certificate {index} is not valid PEM: {detail}")]
    BadPem { index: usize, detail: String },
    #[error("certificate {index} does not parse as X.509: {detail}")]
    NotX509 { index: usize, detail: String },
    #[error("there is no private key block (-----BEGIN PRIVATE KEY----- / RSA PRIVATE KEY / EC PRIVATE KEY)")]
    NoKey,
    #[error("the private key is not usable: {0}")]
    BadKey(String),
}

/// Every certificate in `pem` (at least one), as DER; each must parse as X.509.
///
/// # Errors
/// No CERTIFICATE block, a block that is not base64, or one that is not a certificate.
pub fn certificates(pem: &str) -> Result<Vec<Vec<u8>>, PemError> {
    let mut out = Vec::new();
    for (i, c) in CertificateDer::pem_slice_iter(pem.as_bytes()).enumerate() {
        let der = c.map_err(|e| PemError::BadPem {
            index: i + 1,
            detail: e.to_string(),
        })?;
        x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| PemError::NotX509 {
            index: i + 1,
            detail: e.to_string(),
        })?;
        out.push(der.as_ref().to_vec());
    }
    if out.is_empty() {
        return Err(PemError::NoCertificate);
    }
    Ok(out)
}

/// Checks that `pem` holds a private key a TLS client can sign with.
///
/// # Errors
/// No key block, or a key the crypto provider refuses.
pub fn private_key(pem: &str) -> Result<(), PemError> {
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => PemError::NoKey,
        other => PemError::BadKey(other.to_string()),
    })?;
    rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
        .map(|_| ())
        .map_err(|e| PemError::BadKey(e.to_string()))
}

/// When the first certificate of `pem` stops being valid, as seconds since
/// the Unix epoch.
pub fn not_after(pem: &str) -> Result<i64, PemError> {
    let ders = certificates(pem)?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&ders[0]).map_err(|e| PemError::NotX509 {
            index: 1,
            detail: e.to_string(),
        })?;
    Ok(cert.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (String, String) {
        let k = rcgen::KeyPair::generate().unwrap();
        let c = rcgen::CertificateParams::new(vec!["x".into()])
            .unwrap()
            .self_signed(&k)
            .unwrap();
        (c.pem(), k.serialize_pem())
    }

    #[test]
    fn good_pems_pass_and_bad_ones_are_named() {
        let (cert, key) = pair();
        assert_eq!(certificates(&cert).unwrap().len(), 1);
        assert_eq!(certificates(&format!("{cert}{cert}")).unwrap().len(), 2);
        private_key(&key).unwrap();
        assert!(not_after(&cert).unwrap() > 0);
        assert_eq!(certificates("not a pem"), Err(PemError::NoCertificate));
        let b64_only = cert
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>();
        assert_eq!(certificates(&b64_only), Err(PemError::NoCertificate));
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            certificates(garbage),
            Err(PemError::NotX509 { index: 1, .. })
        ));
        assert_eq!(private_key(&cert), Err(PemError::NoKey));
        let bad_key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(private_key(bad_key), Err(PemError::BadKey(_))));
    }
}
