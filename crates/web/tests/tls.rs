//! HTTPS: a self-signed certificate made by the test, the real server on
//! loopback, and a rustls client that trusts only that certificate.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use wirewatch_web::WebSettings;

/// A certificate for `localhost` and its key, written as PEM files in `dir`.
fn certificate(dir: &Path, name: &str) -> (rcgen::CertifiedKey<rcgen::KeyPair>, String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    (ck, s(&cert), s(&key))
}

fn settings(cert: &str, key: &str) -> WebSettings {
    WebSettings {
        tls_cert: Some(cert.into()),
        tls_key: Some(key.into()),
        ..WebSettings::on("127.0.0.1:0")
    }
}

/// `GET path` over TLS, trusting `trusted` only; the whole answer.
fn get(addr: SocketAddr, trusted: &rcgen::Certificate, path: &str) -> std::io::Result<String> {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.der().clone()).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn = ClientConnection::new(
        Arc::new(cfg),
        ServerName::try_from("localhost").unwrap().to_owned(),
    )
    .unwrap();
    let sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = StreamOwned::new(conn, sock);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    match tls.read_to_end(&mut answer) {
        Ok(_) => {}
        // A peer that closes without close_notify after a whole answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => {}
        Err(e) => return Err(e),
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[test]
fn https_serves_with_the_given_certificate_and_only_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (ck, cert, key) = certificate(dir.path(), "a");
    let bound = wirewatch_web::bind(&settings(&cert, &key)).unwrap();
    assert_eq!(bound.scheme(), "https");
    let addr = bound.local_addr().unwrap();
    // No history in this run: only the live endpoints answer.
    let clock = std::sync::Arc::new(wirewatch_units::FixedClock(
        wirewatch_units::Timestamp::from_secs(0),
    ));
    let history = wirewatch_web::HistoryAccess::new(None, Default::default(), clock);
    bound.start(wirewatch_web::shared(), history).unwrap();
    let answer = get(addr, &ck.cert, "/metrics").unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\r\n\r\n# HELP "), "{answer}");
    assert!(answer.contains("wirewatch_build_info{version="), "{answer}");
    // A client that trusts another certificate does not get through.
    let (other, _, _) = certificate(dir.path(), "b");
    assert!(get(addr, &other.cert, "/metrics").is_err());
    // Nor does plain HTTP on the same port.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(!String::from_utf8_lossy(&got).contains("HTTP/1.1 200"));
}

#[test]
fn a_key_of_another_certificate_or_a_missing_half_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert_a, _) = certificate(dir.path(), "a");
    let (_, _, key_b) = certificate(dir.path(), "b");
    let e = wirewatch_web::bind(&settings(&cert_a, &key_b))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "--web-tls-key {key_b}: not a key for --web-tls-cert {cert_a}"
        )),
        "{e}"
    );
    assert!(!e.contains('\n'));
    let e = wirewatch_web::bind(&settings(&cert_a, &cert_a))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("--web-tls-key {cert_a}: no PEM")),
        "{e}"
    );
    let half = WebSettings {
        tls_key: None,
        ..settings(&cert_a, &key_b)
    };
    let e = wirewatch_web::bind(&half).unwrap_err().to_string();
    assert_eq!(e, "--web-tls-cert needs --web-tls-key (or [web] tls-key)");
}
