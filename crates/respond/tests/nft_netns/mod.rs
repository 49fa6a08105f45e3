//! Network namespaces for the nftables tests and benchmark: namespaces
//! joined by veth pairs, `nft` run inside one of them (`ip netns exec`), and
//! sockets opened from inside (`setns` on a thread of its own), so nothing
//! touches the host's ruleset or network.

#![allow(dead_code)] // each user takes what it needs

use std::fs::File;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wirewatch_respond::nft::{Nft, NftConfig, NftError};

/// `Ok` when the tests can run: root, `ip` and `nft`.
pub fn can_run() -> Result<(), String> {
    wirewatch_testkit::netns()?;
    wirewatch_testkit::tool("nft").map(drop)
}

/// Runs a command; panics with its stderr when it fails.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace, deleted on drop.
pub struct Ns(pub String);

impl Ns {
    fn new(name: String) -> Ns {
        sh(&["ip", "netns", "add", &name]);
        let ns = Ns(name);
        sh(&["ip", "-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NS ARGS…`.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["ip", "-n", &self.0];
        all.extend_from_slice(args);
        sh(&all);
    }

    /// `nft ARGS…` inside the namespace; its stdout.
    pub fn nft(&self, args: &[&str]) -> String {
        let mut all = vec!["ip", "netns", "exec", &self.0, "nft"];
        all.extend_from_slice(args);
        sh(&all)
    }

    /// A configuration whose `nft` runs in this namespace.
    pub fn cfg(&self) -> NftConfig {
        NftConfig {
            wrapper: ["ip", "netns", "exec", &self.0].map(String::from).to_vec(),
            ..NftConfig::default()
        }
    }

    /// Runs `f` on a thread inside the namespace (sockets it opens stay
    /// in the namespace).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{}", self.0);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                // SAFETY: setns on a valid namespace descriptor; it moves only
                // this thread, which ends when `f` returns.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("the thread in the namespace panicked")
        })
    }

    /// A TCP listener on `addr`, any port, in the namespace.
    pub fn listen(&self, addr: IpAddr) -> TcpListener {
        self.run(|| TcpListener::bind((addr, 0)).expect("bind a listener"))
    }

    /// A bound UDP socket on `addr`, any port, in the namespace.
    pub fn udp(&self, addr: IpAddr) -> UdpSocket {
        self.run(|| UdpSocket::bind((addr, 0)).expect("bind a UDP socket"))
    }

    /// Whether a TCP connection from inside the namespace to `to` is
    /// established within 700 ms (a dropped SYN is not).
    pub fn connects(&self, to: SocketAddr) -> bool {
        self.run(|| TcpStream::connect_timeout(&to, Duration::from_millis(700)).is_ok())
    }

    /// Sends one datagram from inside the namespace to where `rx` is bound;
    /// whether `rx` gets it within 500 ms (a send refused by a local drop
    /// rule, `EPERM`, is not).
    pub fn datagram_arrives(&self, rx: &UdpSocket) -> bool {
        let to = rx.local_addr().expect("bound");
        let sent = self.run(|| {
            let any = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            let tx = UdpSocket::bind(any).expect("bind");
            tx.send_to(b"wirewatch", to).is_ok()
        });
        rx.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        sent && rx.recv_from(&mut buf).is_ok()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A unique namespace name for this process.
fn unique(role: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("wwnft{}{role}{n}", std::process::id())
}

/// Two namespaces on one veth link: `host` (where nft runs) with
/// 10.77.0.1 and fd77::1, `peer` with 10.77.0.2 and fd77::2 (both /24, /64).
pub struct Pair {
    /// Where the table is.
    pub host: Ns,
    /// The other end.
    pub peer: Ns,
}

/// The host's and the peer's addresses on a link, IPv4 and IPv6.
pub const HOST4: &str = "10.77.0.1";
/// See [`HOST4`].
pub const PEER4: &str = "10.77.0.2";
/// See [`HOST4`].
pub const HOST6: &str = "fd77::1";
/// See [`HOST4`].
pub const PEER6: &str = "fd77::2";

/// An address written as text.
pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("an address")
}

impl Pair {
    /// Makes the two namespaces and the link.
    pub fn new() -> Pair {
        let pair = Pair {
            host: Ns::new(unique("h")),
            peer: Ns::new(unique("p")),
        };
        link(&pair.host, "v0", &pair.peer, "v1");
        address(&pair.host, "v0", HOST4, HOST6);
        address(&pair.peer, "v1", PEER4, PEER6);
        pair
    }

    /// Opens the table in the host namespace with `cfg` (its wrapper set
    /// to the namespace); `Err` (a skip) only when nftables is missing.
    pub fn open(&self, cfg: NftConfig) -> Result<Nft, String> {
        let cfg = NftConfig {
            wrapper: self.host.cfg().wrapper,
            ..cfg
        };
        match Nft::open(cfg) {
            Ok(n) => Ok(n),
            Err(NftError::Missing(m)) => Err(m),
            Err(e) => panic!("open: {e}"),
        }
    }
}

/// A veth pair, `a_if` in `a` and `b_if` in `b`, both up.
pub fn link(a: &Ns, a_if: &str, b: &Ns, b_if: &str) {
    sh(&[
        "ip", "link", "add", a_if, "netns", &a.0, "type", "veth", "peer", "name", b_if, "netns",
        &b.0,
    ]);
    a.ip(&["link", "set", a_if, "up"]);
    b.ip(&["link", "set", b_if, "up"]);
}

/// Gives interface `dev` in `ns` the IPv4 address `v4`/24 and the IPv6
/// address `v6`/64 (no duplicate detection: usable at once).
pub fn address(ns: &Ns, dev: &str, v4: &str, v6: &str) {
    ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", dev]);
    ns.ip(&[
        "-6",
        "addr",
        "add",
        &format!("{v6}/64"),
        "dev",
        dev,
        "nodad",
    ]);
}
