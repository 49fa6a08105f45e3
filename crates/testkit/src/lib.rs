//! Test support for the wirewatch workspace (a dev-dependency, never
//! published): the one place for what the tests of several crates need.
//!
//! - **Frames** with addresses written as text and a zero payload of a given
//!   length ([`udp_frame`], [`tcp_frame`]), on top of
//!   `wirewatch_wire::build`, where frames are made.
//! - **The shared data** kept beside the checkout, `../shared/{corpus,labeled,series}`
//!   ([`shared`]).
//! - **The environment**: root ([`root`]), programs on `PATH` ([`tool`]),
//!   network namespaces ([`netns`]), a scratch tmpfs ([`mount_tmpfs`]).
//! - **A real browser**: headless Chromium over the DevTools pipe
//!   ([`browser::Browser`]).
//! - **Skipping**: a test that cannot run here says why on stderr,
//!   `SKIPPED <test>: <reason>`, and returns ([`skip!`], [`require!`]); with
//!   `WIREWATCH_STRICT=1` in the environment it fails instead, so a run that
//!   must exercise everything (CI) cannot pass by skipping.
//!
//! The checks return `Err(reason)` rather than a bool so the reason printed
//! is the one that applies:
//!
//! ```no_run
//! #[test]
//! fn corpus_test() {
//!     let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("corpus"));
//!     wirewatch_testkit::require!(wirewatch_testkit::tool("tcpdump"));
//!     // …
//! }
//! ```

pub mod browser;

use std::fmt::Display;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The variable that turns every skip into a failure when set to `1`.
pub const STRICT_VAR: &str = "WIREWATCH_STRICT";

/// Whether skips are failures in this run (`WIREWATCH_STRICT=1`).
pub fn strict() -> bool {
    std::env::var_os(STRICT_VAR).is_some_and(|v| v == "1")
}

/// Skips `test` for `reason`: prints `SKIPPED <test>: <reason>` on stderr,
/// or panics when [`strict`]. The caller returns right after (the macros
/// [`skip!`] and [`require!`] do both).
///
/// The line goes to the process's stderr itself, not through `eprintln!`,
/// which the test harness captures and shows only for failed tests: a skip
/// is seen in a plain `cargo test`.
#[track_caller]
pub fn skip(test: &str, reason: impl Display) {
    if strict() {
        panic!("{STRICT_VAR}=1 and {test} cannot run here: {reason}");
    }
    let line = format!("SKIPPED {test}: {reason}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// The path of the function this expands in, without the crate's name:
/// a test's name as the test harness prints it (`module::test`).
#[macro_export]
macro_rules! test_name {
    () => {{
        fn here() {}
        let full = ::std::any::type_name_of_val(&here);
        let full = full.strip_suffix("::here").unwrap_or(full);
        full.split_once("::").map_or(full, |(_, rest)| rest)
    }};
}

/// Skips the enclosing test (see [`skip()`]) with a `format!`-style reason and
/// returns from it.
#[macro_export]
macro_rules! skip {
    ($($reason:tt)+) => {{
        $crate::skip($crate::test_name!(), ::std::format!($($reason)+));
        return;
    }};
}

/// `Ok(v)` gives `v`; `Err(reason)` skips the enclosing test (see [`skip()`])
/// and returns from it.
#[macro_export]
macro_rules! require {
    ($check:expr) => {
        match $check {
            ::std::result::Result::Ok(v) => v,
            ::std::result::Result::Err(reason) => $crate::skip!("{}", reason),
        }
    };
}

// ---------------------------------------------------------------- frames

fn addr(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} is not an IP address: {e}"))
}

/// Ethernet frame of a UDP datagram of `payload` zero bytes, `src`:`sport`
/// → `dst`:`dport` (IPv4 or IPv6 addresses as text).
pub fn udp_frame(src: &str, sport: u16, dst: &str, dport: u16, payload: usize) -> Vec<u8> {
    wirewatch_wire::build::udp_frame(addr(src), sport, addr(dst), dport, &vec![0; payload])
}

/// Ethernet frame of a TCP segment with `flags` and `payload` zero bytes,
/// `src`:`sport` → `dst`:`dport` (IPv4 or IPv6 addresses as text).
pub fn tcp_frame(
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    flags: u8,
    payload: usize,
) -> Vec<u8> {
    wirewatch_wire::build::tcp_frame(addr(src), sport, addr(dst), dport, flags, &vec![0; payload])
}

// ----------------------------------------------------------- shared data

/// The workspace's root (where the top `Cargo.toml` is).
pub fn workspace_root() -> PathBuf {
    // This crate is crates/testkit.
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).unwrap_or(here).to_path_buf()
}

/// The shared data directory `name` (`corpus`, `labeled`, `series`): where
/// `WIREWATCH_<NAME>` points if set, else `../shared/<name>` beside the
/// workspace. `Err` says which was looked for when it is not a directory.
pub fn shared(name: &str) -> Result<PathBuf, String> {
    let var = format!("WIREWATCH_{}", name.to_uppercase());
    let (dir, missing) = match std::env::var_os(&var) {
        Some(d) => {
            let dir = PathBuf::from(d);
            let why = format!("{var} names {}, which is not a directory", dir.display());
            (dir, why)
        }
        None => {
            let root = workspace_root();
            let dir = root.parent().unwrap_or(&root).join("shared").join(name);
            let why = format!(
                "../shared/{name} beside the workspace ({}) is not a directory \
                 (the shared data is kept outside the repository; {var} can name another copy)",
                dir.display()
            );
            (dir, why)
        }
    };
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!("needs the shared test data: {missing}"))
    }
}

// ----------------------------------------------------------- environment

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `Ok` as root; else `Err("<what> needs root")`.
pub fn root(what: &str) -> Result<(), String> {
    if is_root() {
        Ok(())
    } else {
        Err(format!("{what} needs root"))
    }
}

/// The Debian package that installs `program`, for the reasons printed.
fn package_of(program: &str) -> &str {
    match program {
        "ip" => "iproute2",
        "mount" | "umount" => "mount",
        "pgrep" | "kill" => "procps",
        "promtool" => "prometheus",
        "unshare" => "util-linux",
        "nft" => "nftables",
        other => other,
    }
}

/// `Ok(path)` when `program` is an executable file on `PATH`; else says
/// which Debian package installs it.
pub fn tool(program: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| {
            format!(
                "`{program}` is not on PATH (Debian package {})",
                package_of(program)
            )
        })
}

/// `Ok` when network namespaces can be made here: root and `ip` (iproute2).
pub fn netns() -> Result<(), String> {
    root("creating network namespaces")?;
    tool("ip")?;
    let out = Command::new("ip")
        .arg("-V")
        .output()
        .map_err(|e| format!("`ip -V` failed to run: {e}"))?;
    if !out.status.success() {
        return Err(format!("`ip -V` failed: {}", out.status));
    }
    Ok(())
}

/// A tmpfs mounted on a directory; unmounted when dropped.
#[derive(Debug)]
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Mounts a tmpfs with `options` (as `mount -o`, e.g. `ro,size=1m`) on the
/// existing directory `dir`. Needs root and `mount`; `Err` says what failed.
pub fn mount_tmpfs(dir: &Path, options: &str) -> Result<Tmpfs, String> {
    root("mounting a tmpfs")?;
    tool("mount")?;
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", options, "tmpfs"])
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot mount a tmpfs ({options}) on {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(Tmpfs(dir.to_path_buf()))
}

// ---------------------------------------------------------------- HTTP

/// An HTTP answer: status code, headers (names lowercase), body.
#[derive(Debug)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Header lines as (lowercase name, value).
    pub headers: Vec<(String, String)>,
    /// The body (the connection is read to its end).
    pub body: String,
}

/// `GET path` on `addr` over HTTP/1.1 with `Connection: close` and the
/// extra header lines `headers` (like `"Authorization: Bearer x"`); a
/// 10-second timeout on every read and write.
pub fn http_get(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[&str],
) -> std::io::Result<HttpAnswer> {
    http_request(addr, "GET", path, headers)
}

/// [`http_get`] with another method (no request body).
pub fn http_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
) -> std::io::Result<HttpAnswer> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(10))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    s.set_write_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut rq = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        rq.push_str(h);
        rq.push_str("\r\n");
    }
    rq.push_str("\r\n");
    s.write_all(rq.as_bytes())?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let bad = |what: &str| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{what}: {raw:?}"))
    };
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| bad("no end of head"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(HttpAnswer {
        status,
        headers,
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_name_is_the_function_path_without_the_crate() {
        assert_eq!(
            test_name!(),
            "tests::the_test_name_is_the_function_path_without_the_crate"
        );
    }

    #[test]
    fn frames_from_text_are_the_builders_frames() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(
            udp_frame("10.0.0.1", 5, "10.0.0.2", 53, 3),
            wirewatch_wire::build::udp_frame(a, 5, "10.0.0.2".parse().unwrap(), 53, &[0; 3])
        );
        let f = tcp_frame("2001:db8::1", 1, "2001:db8::2", 2, 0x12, 0);
        assert_eq!(
            f,
            wirewatch_wire::build::tcp_frame("2001:db8::1".parse().unwrap(), 1, b, 2, 0x12, &[])
        );
        assert_eq!(f.len(), 14 + 40 + 20);
    }

    #[test]
    fn missing_things_say_what_to_install() {
        let e = tool("wirewatch-no-such-program").unwrap_err();
        assert!(e.contains("not on PATH"), "{e}");
        assert!(tool("sh").is_ok());
        assert_eq!(package_of("nft"), "nftables");
        assert_eq!(package_of("nmap"), "nmap");
        let e = shared("no-such-dir-of-shared-data").unwrap_err();
        assert!(e.contains("../shared/no-such-dir-of-shared-data"), "{e}");
    }
}
