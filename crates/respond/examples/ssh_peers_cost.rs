//! What one [`SshPeers::current`] costs with many established TCP
//! connections on other ports: it runs at every block decision.
//!
//! Opens CONNS loopback connections to one listener (2 × CONNS established
//! sockets) and SSH connections to another whose port plays SSH's, then
//! times ITERS calls. For comparison it times reading `/proc/net/tcp` and
//! `/proc/net/tcp6` (the text alternative, before any parsing).
//!
//! `cargo run --release -p wirewatch-respond --example ssh_peers_cost -- [CONNS [SSH [ITERS]]]`
//! (defaults 500, 5, 2000). Traffic stays on 127.0.0.1.

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use wirewatch_respond::guard::SshPeers;

/// `n` connections to a new loopback listener: its port and every socket.
fn connections(n: usize) -> std::io::Result<(u16, Vec<TcpStream>)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let mut socks = Vec::with_capacity(2 * n);
    for _ in 0..n {
        socks.push(TcpStream::connect(l.local_addr()?)?);
        socks.push(l.accept()?.0);
    }
    Ok((l.local_addr()?.port(), socks))
}

/// Median and 99th percentile of `iters` runs of `f`.
fn time(iters: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    let mut t: Vec<Duration> = (0..iters)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    t.sort_unstable();
    (t[t.len() / 2], t[t.len() * 99 / 100])
}

/// The `n`th command-line argument as a number, or `default`.
fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() -> std::io::Result<()> {
    let (conns, ssh, iters) = (arg(1, 500), arg(2, 5), arg(3, 2000).max(1));
    let (_, _others) = connections(conns)?;
    let (port, _ssh) = connections(ssh)?;
    let mut peers = SshPeers::new(vec![port])?;
    let found = peers.current()?.len();
    let (median, p99) = time(iters, || {
        peers.current().expect("sock_diag dump");
    });
    let (text_median, text_p99) = time(iters, || {
        for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
            std::fs::read(f).expect("readable");
        }
    });
    println!(
        "{} established sockets on other ports, {} on the SSH port ({found} peer address)",
        2 * conns,
        2 * ssh
    );
    println!("SshPeers::current: median {median:?}, p99 {p99:?} ({iters} calls)");
    println!("reading /proc/net/tcp{{,6}}: median {text_median:?}, p99 {text_p99:?}");
    Ok(())
}
