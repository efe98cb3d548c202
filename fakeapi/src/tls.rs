//! The server's certificates: a CA (kept in `cert_dir` across restarts, so
//! kubeconfigs stay valid) and a serving certificate for 127.0.0.1 and
//! localhost signed by it.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub fn server_config(
    cert_dir: Option<&Path>,
) -> Result<(String, Arc<rustls::ServerConfig>), String> {
    let (ca_params, ca_key, ca_pem) = load_or_make_ca(cert_dir)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kube-apiserver");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(|e| e.to_string())?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((ca_pem, Arc::new(cfg)))
}

fn ca_params() -> rcgen::CertificateParams {
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "geowp-fake-ca");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    p
}

fn load_or_make_ca(
    dir: Option<&Path>,
) -> Result<(rcgen::CertificateParams, rcgen::KeyPair, String), String> {
    if let Some(d) = dir {
        let (cp, kp) = (d.join("ca.pem"), d.join("ca-key.pem"));
        if cp.exists() && kp.exists() {
            let cert_pem =
                std::fs::read_to_string(&cp).map_err(|e| format!("{}: {e}", cp.display()))?;
            let key_pem =
                std::fs::read_to_string(&kp).map_err(|e| format!("{}: {e}", kp.display()))?;
            let key =
                rcgen::KeyPair::from_pem(&key_pem).map_err(|e| format!("{}: {e}", kp.display()))?;
            // the issuer is identified by its name and key, both fixed: no need to parse the PEM
            return Ok((ca_params(), key, cert_pem));
        }
    }
    let key =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
    let params = ca_params();
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let pem = cert.pem();
    if let Some(d) = dir {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        std::fs::write(d.join("ca.pem"), &pem).map_err(|e| e.to_string())?;
        let kp = d.join("ca-key.pem");
        std::fs::write(&kp, key.serialize_pem()).map_err(|e| e.to_string())?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&kp, std::fs::Permissions::from_mode(0o600));
    }
    Ok((params, key, pem))
}
