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
pub mod feed;
pub mod history;
pub mod hub;
pub mod metrics;
mod server;
mod sse;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

pub use feed::{LiveSnapshot, Publish, WebFeed};
pub use history::HistoryAccess;
pub use hub::{shared, Hub, Shared};

/// Where the server listens when nothing else is said.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// Most connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 256;

/// What the server is asked for.
#[derive(Clone, Debug)]
pub struct WebSettings {
    /// `ADDR:PORT` to listen on.
    pub listen: String,
    /// A file holding the Bearer token (required off loopback).
    pub token_file: Option<PathBuf>,
}

/// A bound listener and the token it will ask for.
#[derive(Debug)]
pub struct Bound {
    listener: TcpListener,
    token: Option<String>,
}

/// Reads the token: the file's first line, trimmed; empty is an error.
fn read_token(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("web token file {}: {e}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        anyhow::bail!("web token file {}: the file is empty", path.display());
    }
    Ok(token)
}

/// Checks `s` and binds its address (before capture starts). Off
/// loopback, a token file is required.
pub fn bind(s: &WebSettings) -> anyhow::Result<Bound> {
    let addr: SocketAddr = s.listen.parse().map_err(|_| {
        anyhow::anyhow!(
            "--web {}: not an address with a port (like 127.0.0.1:8080 or [::1]:8080)",
            s.listen
        )
    })?;
    let token = s.token_file.as_deref().map(read_token).transpose()?;
    if token.is_none() && !addr.ip().is_loopback() {
        anyhow::bail!(
            "--web {}: listening beyond loopback needs a token: give --web-token-file FILE",
            s.listen
        );
    }
    let listener =
        TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("--web {}: {e}", s.listen))?;
    Ok(Bound { listener, token })
}

impl Bound {
    /// The address really bound (the port the system chose for `:0`).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Starts serving `snap` (and `history`) on the thread `web`.
    pub fn start(
        self,
        snap: Shared,
        history: HistoryAccess,
    ) -> anyhow::Result<std::thread::JoinHandle<()>> {
        self.listener.set_nonblocking(true)?;
        let Bound { listener, token } = self;
        let history = std::sync::Arc::new(history);
        let h = std::thread::Builder::new()
            .name("web".into())
            .spawn(move || server::run(listener, token, snap, history))?;
        Ok(h)
    }
}

/// Whether `given` equals `want`, in a time that does not depend on where
/// they differ (only on the length of `given`).
pub fn same_token(given: &[u8], want: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != want.len());
    for (i, &g) in given.iter().enumerate() {
        diff |= g ^ want.get(i % want.len().max(1)).copied().unwrap_or(0);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token(b"secret", b"secret"));
        assert!(!same_token(b"secreT", b"secret"));
        assert!(!same_token(b"secre", b"secret"));
        assert!(!same_token(b"secret1", b"secret"));
        assert!(!same_token(b"", b"secret"));
    }

    #[test]
    fn off_loopback_needs_a_token_and_bad_addresses_are_named() {
        let s = |l: &str| WebSettings {
            listen: l.into(),
            token_file: None,
        };
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
