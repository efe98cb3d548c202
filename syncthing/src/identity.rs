//! SyncThing identities: an ECDSA P-384 key with a self-signed certificate
//! whose common name is `syncthing` (as SyncThing makes them), and the
//! device ID SyncThing derives from the certificate: SHA-256 of the DER,
//! base32, a Luhn check character per 13 characters, dashes every 7.

use sha2::{Digest, Sha256};

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("could not generate the key or certificate")]
    Generate(#[source] rcgen::Error),
    #[error("no CERTIFICATE block in the PEM text")]
    NoCertificate,
}

/// A SyncThing device identity. The key is secret: it goes only into the
/// cluster (a Secret), never into Terraform state or logs.
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
    pub device_id: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("device_id", &self.device_id)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// Generates a new identity.
pub fn generate() -> Result<Identity, IdentityError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
        .map_err(IdentityError::Generate)?;
    let mut params = rcgen::CertificateParams::new(vec!["syncthing".to_string()])
        .map_err(IdentityError::Generate)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "syncthing");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Syncthing");
    params.distinguished_name.push(
        rcgen::DnType::OrganizationalUnitName,
        "Automatically Generated",
    );
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    let cert = params.self_signed(&key).map_err(IdentityError::Generate)?;
    Ok(Identity {
        device_id: device_id(cert.der()),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The device ID of a DER certificate.
pub fn device_id(der: &[u8]) -> String {
    let hash = Sha256::digest(der);
    let b32 = base32(&hash);
    debug_assert_eq!(b32.len(), 52);
    let mut with_check = String::with_capacity(56);
    for chunk in b32.as_bytes().chunks(13) {
        with_check.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        with_check.push(luhn32(chunk));
    }
    with_check
        .as_bytes()
        .chunks(7)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("-")
}

/// The device ID of the first certificate in a PEM text.
pub fn device_id_of_pem(pem: &str) -> Result<String, IdentityError> {
    let start = pem
        .find("-----BEGIN CERTIFICATE-----")
        .ok_or(IdentityError::NoCertificate)?
        + 27;
    let end = start
        + pem[start..]
            .find("-----END CERTIFICATE-----")
            .ok_or(IdentityError::NoCertificate)?;
    let b64: String = pem[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = geowp_common::b64::decode(&b64).ok_or(IdentityError::NoCertificate)?;
    Ok(device_id(&der))
}

/// A well-formed device ID: 8 groups of 7 base32 characters whose check
/// characters are right.
pub fn is_valid_device_id(id: &str) -> bool {
    let s: String = id.chars().filter(|c| *c != '-').collect();
    if s.len() != 56 || !s.bytes().all(|b| BASE32.contains(&b)) {
        return false;
    }
    s.as_bytes()
        .chunks(14)
        .all(|c| luhn32(&c[..13]) == c[13] as char)
}

fn base32(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 8 / 5 + 1);
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = (buf << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            out.push(BASE32[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(BASE32[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn luhn32(s: &[u8]) -> char {
    let mut factor = 1;
    let mut sum = 0;
    for &c in s {
        let cp = BASE32.iter().position(|&x| x == c).unwrap_or(0);
        let mut addend = factor * cp;
        factor = if factor == 2 { 1 } else { 2 };
        addend = addend / 32 + addend % 32;
        sum += addend;
    }
    BASE32[(32 - sum % 32) % 32] as char
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }

    #[test]
    fn generated_identity_has_a_valid_device_id_matching_its_certificate() {
        let id = generate().unwrap();
        assert!(is_valid_device_id(&id.device_id), "{}", id.device_id);
        assert_eq!(id.device_id.len(), 63);
        assert_eq!(device_id_of_pem(&id.cert_pem).unwrap(), id.device_id);
        assert!(id.key_pem.contains("PRIVATE KEY"));
        assert!(!format!("{id:?}").contains("PRIVATE"));
        // one wrong character breaks the check
        let mut bad = id.device_id.clone().into_bytes();
        bad[0] = if bad[0] == b'A' { b'B' } else { b'A' };
        assert!(!is_valid_device_id(std::str::from_utf8(&bad).unwrap()));
    }
}
