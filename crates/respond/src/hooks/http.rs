//! One webhook attempt: an HTTP/1.1 POST over TCP or TLS, bounded in time
//! and in what is read back.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use super::stop::Stop;
use super::tls::{CaFile, Tls};
use super::HookUrl;

/// The most read back before the status line must have ended.
const STATUS_LINE_MAX: usize = 8 * 1024;

/// The longest single wait for the response, so that a shutdown is noticed
/// while a dead server keeps the connection open.
const READ_SLICE: Duration = Duration::from_millis(100);

/// When an attempt must be done: its own end, or the shutdown's if sooner.
#[derive(Clone, Copy)]
pub(crate) struct Deadline<'a> {
    /// The attempt's own end.
    pub(crate) end: Instant,
    /// The workers' shutdown.
    pub(crate) stop: &'a Stop,
}

impl Deadline<'_> {
    /// What is left, or the error of having none left.
    fn remaining(&self) -> Result<Duration, AttemptError> {
        self.stop
            .limit(self.end)
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(AttemptError::Retry("timed out".into()))
    }
}

/// Why an attempt failed, and whether another one may do better.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AttemptError {
    /// Connection trouble, a time-out: worth retrying.
    Retry(String),
    /// A certificate or a name TLS refuses: another try ends the same way.
    Fatal(String),
}

/// A connection the attempt reads and writes, with the TCP socket under it
/// for the time-outs.
trait Conn: Read + Write {
    fn tcp(&self) -> &TcpStream;
}

impl Conn for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Conn for StreamOwned<ClientConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

/// Where to, and whom to trust there.
pub(crate) struct Target<'a> {
    /// The URL.
    pub(crate) url: &'a HookUrl,
    /// The webhook's own CA, instead of the system's store.
    pub(crate) ca: Option<&'a CaFile>,
}

/// One POST of `request` (head and body, from [`request`]) to the target,
/// done or abandoned by `deadline`; the response's status code.
pub(crate) fn post(
    to: &Target<'_>,
    request: &[u8],
    deadline: Deadline<'_>,
    tls: &Tls,
) -> Result<u16, AttemptError> {
    let url = to.url;
    let tcp = connect(url, deadline)?;
    if url.tls {
        let name = ServerName::try_from(url.host.clone()).map_err(|_| {
            AttemptError::Fatal(format!("TLS: '{}' is not a valid server name", url.host))
        })?;
        let conn = ClientConnection::new(tls.config(to.ca)?, name)
            .map_err(|e| AttemptError::Fatal(format!("TLS: {e}")))?;
        exchange(&mut StreamOwned::new(conn, tcp), request, deadline)
    } else {
        exchange(&mut { tcp }, request, deadline)
    }
}

/// The whole request: head (our headers, then the configured ones) and body.
pub(crate) fn request(url: &HookUrl, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: wirewatch/{}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        url.path,
        url.host_header(),
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// The first address of the host that answers before the deadline.
fn connect(url: &HookUrl, deadline: Deadline<'_>) -> Result<TcpStream, AttemptError> {
    // The system resolver's own time-outs bound this lookup, not ours.
    let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| AttemptError::Retry(format!("cannot resolve {}: {e}", url.host)))?
        .collect();
    let mut last = AttemptError::Retry(format!("{} has no address", url.host));
    for addr in addrs {
        let left = deadline.remaining()?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => return Ok(s),
            Err(e) => last = AttemptError::Retry(io_reason(&e)),
        }
    }
    Err(last)
}

/// Sends the request and reads the status line back, every read and write
/// bounded by what is left until the deadline.
fn exchange(
    conn: &mut impl Conn,
    request: &[u8],
    deadline: Deadline<'_>,
) -> Result<u16, AttemptError> {
    arm(conn, deadline.remaining()?)?;
    conn.write_all(request).map_err(|e| failure(&e))?;
    conn.flush().map_err(|e| failure(&e))?;
    let mut got = Vec::with_capacity(256);
    let mut buf = [0u8; 1024];
    loop {
        if let Some(line) = got.windows(2).position(|w| w == b"\r\n") {
            return status_code(&got[..line]);
        }
        if got.len() > STATUS_LINE_MAX {
            return Err(AttemptError::Retry(
                "the response's status line is too long".into(),
            ));
        }
        arm(conn, deadline.remaining()?.min(READ_SLICE))?;
        match conn.read(&mut buf) {
            Ok(0) => {
                return Err(AttemptError::Retry(
                    "connection closed before the response".into(),
                ))
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // The slice ran out: `remaining` says whether the attempt did.
            Err(e) if is_wait(&e) => {}
            Err(e) => return Err(failure(&e)),
        }
    }
}

/// Sets the socket's read and write time-outs.
fn arm(conn: &impl Conn, wait: Duration) -> Result<(), AttemptError> {
    let tcp = conn.tcp();
    tcp.set_read_timeout(Some(wait))
        .and_then(|()| tcp.set_write_timeout(Some(wait)))
        .map_err(|e| AttemptError::Retry(io_reason(&e)))
}

/// A read that only ran out of time (or was interrupted).
fn is_wait(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(e.kind(), WouldBlock | TimedOut | Interrupted)
}

/// `HTTP/1.1 200 OK` → 200.
pub(crate) fn status_code(line: &[u8]) -> Result<u16, AttemptError> {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split(' ');
    let version = words.next().unwrap_or_default();
    let code = words.next().unwrap_or_default();
    match code.parse::<u16>() {
        Ok(c) if version.starts_with("HTTP/1.") && code.len() == 3 && (100..600).contains(&c) => {
            Ok(c)
        }
        _ => Err(AttemptError::Retry(format!(
            "not an HTTP response: '{}'",
            text.chars().take(60).collect::<String>()
        ))),
    }
}

/// An I/O error of the exchange: TLS refusals are final, the rest retried.
fn failure(e: &io::Error) -> AttemptError {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(t) => AttemptError::Fatal(format!("TLS: {t}")),
        None => AttemptError::Retry(io_reason(e)),
    }
}

/// Short words for the usual errors, the system's text for the rest.
fn io_reason(e: &io::Error) -> String {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        TimedOut | WouldBlock => "timed out".into(),
        ConnectionReset => "connection reset".into(),
        BrokenPipe | ConnectionAborted => "connection closed while sending".into(),
        UnexpectedEof => "connection closed before the response".into(),
        HostUnreachable => "host unreachable".into(),
        NetworkUnreachable => "network unreachable".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_give_their_code() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK"), Ok(200));
        assert_eq!(status_code(b"HTTP/1.0 503 Service Unavailable"), Ok(503));
        assert_eq!(status_code(b"HTTP/1.1 204"), Ok(204));
        for bad in [
            &b"SSH-2.0-OpenSSH"[..],
            b"HTTP/1.1 2000 OK",
            b"HTTP/2 200",
            b"",
            b"HTTP/1.1 099 x",
        ] {
            assert!(matches!(status_code(bad), Err(AttemptError::Retry(_))));
        }
    }

    #[test]
    fn the_request_has_our_headers_then_the_configured_ones_then_the_body() {
        let url = HookUrl::parse("http://127.0.0.1:8080/hook?x=1").unwrap();
        let headers = vec![("Authorization".to_string(), "Bearer t".to_string())];
        let got = String::from_utf8(request(&url, &headers, b"{\"a\":1}")).unwrap();
        let want = format!(
            "POST /hook?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wirewatch/{}\r\n\
             Content-Type: application/json\r\nContent-Length: 7\r\nConnection: close\r\n\
             Authorization: Bearer t\r\n\r\n{{\"a\":1}}",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(got, want);
    }
}
