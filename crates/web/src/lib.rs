//! wirewatch's HTTP server: the JSON API (`/api/v1/…`) and Prometheus'
//! `/metrics`, fed by [`WebFeed`], a pipeline consumer.
//!
//! The only crate with tokio and hyper: the server runs on one thread
//! named `web` with a current-thread runtime; the pipeline only stores an
//! `Arc` ([`feed::Shared`]) and never waits on HTTP. The listening socket is
//! bound by the caller ([`bind`]) before capture starts, so a bad address or
//! a missing token fails before anything else.
#![forbid(unsafe_code)]

pub mod api;
pub mod assets;
pub mod auth;
pub mod feed;
pub mod history;
pub mod hub;
pub mod metrics;
pub mod names;
mod server;
mod sse;
mod tls;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

pub use auth::{same_token, Tokens};
pub use feed::{LiveSnapshot, Publish, WebFeed};
pub use history::HistoryAccess;
pub use hub::{shared, Hub, Shared};

/// Where the server listens when nothing else is said.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// Most connections served at once by default (`[web] max-connections`);
/// more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 256;

/// Connections the kernel queues before they are accepted (std's 128
/// overflowed at 1,000 new connections a second: a dropped SYN costs the
/// client a second).
pub const BACKLOG: i32 = 1024;

/// A listening socket on `addr` with [`BACKLOG`] (address reuse as std's).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.listen(BACKLOG)?;
    Ok(sock.into())
}

/// What the server is asked for.
#[derive(Clone, Debug)]
pub struct WebSettings {
    /// `ADDR:PORT` to listen on.
    pub listen: String,
    /// A file holding the Bearer token (required off loopback; made with
    /// a random token when it does not exist).
    pub token_file: Option<PathBuf>,
    /// A file holding a token `/metrics` takes too (made likewise).
    pub metrics_token_file: Option<PathBuf>,
    /// PEM certificate chain: serve HTTPS (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// The certificate's PEM private key.
    pub tls_key: Option<PathBuf>,
    /// Hosts and processes with their own series in `/metrics`.
    pub top_n_metrics: usize,
    /// Most SSE clients at once.
    pub max_sse_clients: usize,
    /// Most connections served at once.
    pub max_connections: usize,
    /// Host names (reverse DNS) in the entries of the API (`-n` and
    /// `dns-resolution` turn them off, as on the screen).
    pub names: bool,
}

impl WebSettings {
    /// Listening on `listen`, no token, no TLS, the default top-N.
    pub fn on(listen: &str) -> WebSettings {
        WebSettings {
            listen: listen.into(),
            token_file: None,
            metrics_token_file: None,
            tls_cert: None,
            tls_key: None,
            top_n_metrics: metrics::DEFAULT_TOP_N,
            max_sse_clients: hub::MAX_SSE_CLIENTS,
            max_connections: MAX_CONNECTIONS,
            names: true,
        }
    }
}

/// A bound listener and what it will ask for.
#[derive(Debug)]
pub struct Bound {
    listener: TcpListener,
    tokens: Tokens,
    tls: Option<std::sync::Arc<tokio_rustls::rustls::ServerConfig>>,
    top_n: usize,
    notes: Vec<String>,
    max_sse_clients: usize,
    max_connections: usize,
}

/// Checks `s`, reads (or makes) the tokens, loads the TLS files and binds
/// the address: before capture starts, so that any of them fails first.
/// Off loopback, a token file is required.
pub fn bind(s: &WebSettings) -> anyhow::Result<Bound> {
    let addr: SocketAddr = s.listen.parse().map_err(|_| {
        anyhow::anyhow!(
            "--web {}: not an address with a port (like 127.0.0.1:8080 or [::1]:8080)",
            s.listen
        )
    })?;
    if s.token_file.is_none() && !addr.ip().is_loopback() {
        anyhow::bail!(
            "--web {}: listening beyond loopback needs a token: give --web-token-file FILE (made with a random token if it does not exist)",
            s.listen
        );
    }
    let mut notes = Vec::new();
    let mut load = |path: &Option<PathBuf>, what: &str| -> anyhow::Result<Option<String>> {
        let Some(p) = path else { return Ok(None) };
        let (token, note) = auth::load(p, what)?;
        notes.extend(note);
        Ok(Some(token))
    };
    let tokens = Tokens {
        main: load(&s.token_file, "web token file")?,
        metrics: load(&s.metrics_token_file, "web metrics token file")?,
    };
    let tls = match (&s.tls_cert, &s.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
        (None, None) => None,
        (Some(_), None) => anyhow::bail!("--web-tls-cert needs --web-tls-key (or [web] tls-key)"),
        (None, Some(_)) => anyhow::bail!("--web-tls-key needs --web-tls-cert (or [web] tls-cert)"),
    };
    let listener = listen(addr).map_err(|e| anyhow::anyhow!("--web {}: {e}", s.listen))?;
    Ok(Bound {
        listener,
        tokens,
        tls,
        top_n: s.top_n_metrics,
        notes,
        max_sse_clients: s.max_sse_clients,
        max_connections: s.max_connections,
    })
}

impl Bound {
    /// The address really bound (the port the system chose for `:0`).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// What to tell the user once (a token file that was made).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Starts serving `hub` (and `history`) on the thread `web`.
    pub fn start(
        self,
        hub: Shared,
        history: HistoryAccess,
    ) -> anyhow::Result<std::thread::JoinHandle<()>> {
        self.listener.set_nonblocking(true)?;
        // The feed's first publish continues from this (the top-N cap).
        let mut first = LiveSnapshot::clone(&hub.snap.load());
        first.talkers = std::sync::Arc::new(metrics::Talkers::new(self.top_n));
        hub.snap.store(std::sync::Arc::new(first));
        hub.sse_cap
            .store(self.max_sse_clients, std::sync::atomic::Ordering::Relaxed);
        let Bound {
            listener,
            tokens,
            tls,
            max_connections,
            ..
        } = self;
        let tls = tls.map(tokio_rustls::TlsAcceptor::from);
        let history = std::sync::Arc::new(history);
        let h = std::thread::Builder::new()
            .name("web".into())
            .spawn(move || server::run(listener, tokens, tls, hub, history, max_connections))?;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_loopback_needs_a_token_and_bad_addresses_are_named() {
        let s = WebSettings::on;
        let e = bind(&s("0.0.0.0:0")).unwrap_err().to_string();
        assert!(e.contains("needs a token"), "{e}");
        let e = bind(&s("localhost")).unwrap_err().to_string();
        assert!(e.contains("--web localhost"), "{e}");
        assert!(
            bind(&s("127.0.0.1:0"))
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
                > 0
        );
    }
}
