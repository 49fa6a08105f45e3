//! Optional TLS (rustls with ring): the certificate chain and key are read
//! from PEM files before capture starts, so a bad file stops the program
//! with one line before anything else.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

/// The server's TLS settings from a PEM certificate chain (leaf first) and
/// its PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let flag = |name: &str, p: &Path| format!("--web-tls-{name} {}", p.display());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| anyhow::anyhow!("{}: {}", flag("cert", cert), pem_error(&e)))?;
    if certs.is_empty() {
        anyhow::bail!("{}: no PEM certificate in the file", flag("cert", cert));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("{}: {}", flag("key", key), pem_error(&e)))?;
    // ring, not aws-lc (which needs cmake and a C toolchain beyond `cc`);
    // rustls 0.23.48 marks ring's provider deprecated for its lack of
    // post-quantum key exchange, which a dashboard does not need.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| {
            anyhow::anyhow!(
                "{}: not a key for {}: {e}",
                flag("key", key),
                flag("cert", cert)
            )
        })?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A PEM reading error in words (one line).
fn pem_error(e: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error;
    match e {
        Error::Io(io) => io.to_string(),
        Error::NoItemsFound => "no PEM item of the expected kind in the file".into(),
        other => format!("not a valid PEM file ({other:?})"),
    }
}
