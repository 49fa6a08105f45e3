//! TLS for https webhooks: rustls with ring, TLS 1.2 and 1.3, trusting the
//! system's certificate store, or only a webhook's own CA file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use super::http::AttemptError;

/// A webhook's own trusted CA certificates (PEM), read at config time: for
/// a receiver behind an internal CA, trusted instead of the system store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaFile {
    path: PathBuf,
    certs: Vec<CertificateDer<'static>>,
}

impl CaFile {
    /// Reads the PEM certificates of `path`; one line on what is wrong.
    pub fn load(path: &Path) -> Result<CaFile, String> {
        let what = |e: &dyn std::fmt::Display| format!("ca-file {}: {e}", path.display());
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| what(&e))?;
        if certs.is_empty() {
            return Err(what(&"no PEM certificate in the file"));
        }
        Ok(CaFile {
            path: path.to_path_buf(),
            certs,
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The TLS client of the system store, set up on the first https webhook
/// that uses it and shared after.
#[derive(Debug, Default)]
pub(crate) struct Tls {
    system: OnceLock<Result<Arc<ClientConfig>, String>>,
}

impl Tls {
    /// The client for a webhook: its own CA's, or the system store's.
    pub(crate) fn config(&self, ca: Option<&CaFile>) -> Result<Arc<ClientConfig>, AttemptError> {
        let config = match ca {
            Some(ca) => client(ca.certs.clone(), || {
                format!("ca-file {}: no usable CA certificate", ca.path.display())
            }),
            None => self.system.get_or_init(system_client).clone(),
        };
        config.map_err(AttemptError::Fatal)
    }
}

/// The system's certificate store (`/etc/ssl/certs`; `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` override it), as curl and the package tools use it.
fn system_client() -> Result<Arc<ClientConfig>, String> {
    let found = rustls_native_certs::load_native_certs();
    client(found.certs, || {
        "no CA certificates in the system's store (install ca-certificates)".into()
    })
}

/// A client trusting `certs`; `none` is the error when none is usable.
fn client(
    certs: Vec<CertificateDer<'static>>,
    none: impl Fn() -> String,
) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let (added, _unusable) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(none());
    }
    // ring, as the web crate: rustls 0.23.48 marks it deprecated for its
    // lack of post-quantum key exchange, which an alert's POST can do without.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = CaFile::load(&empty).unwrap_err();
        assert_eq!(
            e,
            format!(
                "ca-file {}: no PEM certificate in the file",
                empty.display()
            )
        );
        let missing = dir.path().join("missing.pem");
        let e = CaFile::load(&missing).unwrap_err();
        assert!(
            e.starts_with(&format!("ca-file {}: ", missing.display())),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }
}
