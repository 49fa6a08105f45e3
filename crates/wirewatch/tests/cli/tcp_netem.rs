//! `--tcp` on live connections over a link whose delay and loss the test
//! sets, and with a receiver that stops reading (issue 20, "Namespaces
//! with netem"): the RTTs, the retransmission count and the zero-window
//! time wirewatch reports are checked against what was configured and
//! against the sender's kernel (`TCP_INFO`).
//!
//! The kernels these tests run on need not have the `netem` qdisc (the
//! one they were written on has no `CONFIG_NET_SCH_NETEM`), so the link
//! is netem's job done here: a namespace `R` between the two ends holds
//! the link's veths and, per direction, a forwarder that reads each frame
//! from a packet socket, drops it with the loss rate, and sends it on
//! after the fixed delay (frames keep their order, as with netem's fixed
//! delay). Only addresses in the test's own namespaces are used.
//!
//! Needs root and `ip` (iproute2); without them each test says why it skips.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::live::{self, in_netns, sh, Namespaces, Running};

/// One direction of an emulated link.
#[derive(Clone, Copy)]
struct Impair {
    /// Fixed one-way delay.
    delay: Duration,
    /// Frames carrying TCP data dropped, per thousand.
    loss_per_mille: u64,
}

/// A frame due at an instant.
type Due = (Instant, Vec<u8>);

/// The forwarders of a [`Line`]; stopped and joined on drop.
struct Forwarders {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for Forwarders {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A packet socket on `ifname` of the calling thread's namespace, with a
/// 100 ms receive timeout (so a reader sees its stop flag).
fn raw_socket(ifname: &str) -> OwnedFd {
    let name = std::ffi::CString::new(ifname).unwrap();
    let all = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket calls with valid pointers and sizes; the fd is
    // owned from its creation.
    unsafe {
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(all));
        assert!(
            fd >= 0,
            "packet socket: {}",
            std::io::Error::last_os_error()
        );
        let fd = OwnedFd::from_raw_fd(fd);
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = all;
        sll.sll_ifindex = libc::if_nametoindex(name.as_ptr()) as i32;
        assert!(sll.sll_ifindex > 0, "no interface {ifname}");
        let r = libc::bind(
            fd.as_raw_fd(),
            &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        );
        assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        let r = libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
        assert_eq!(r, 0);
        fd
    }
}

/// Writes the TCP checksum of an Ethernet/IPv4/TCP frame. A veth hands
/// frames over with the checksum left to offload; sent again through a
/// packet socket they would reach the receiver corrupt.
fn fix_tcp_checksum(f: &mut [u8]) {
    if f.len() < 34 || f[12..14] != [0x08, 0x00] || f[23] != 6 {
        return;
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    let end = 14 + usize::from(u16::from_be_bytes([f[16], f[17]]));
    let start = 14 + ihl;
    if end > f.len() || start + 20 > end {
        return;
    }
    f[start + 16..start + 18].copy_from_slice(&[0, 0]);
    let words = |b: &[u8]| -> u32 {
        b.chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum()
    };
    let mut sum = words(&f[26..34]) + 6 + (end - start) as u32 + words(&f[start..end]);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    f[start + 16..start + 18].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

/// Whether a frame is IPv4 TCP with data.
fn carries_tcp_data(f: &[u8]) -> bool {
    if f.len() < 54 || f[12..14] != [0x08, 0x00] || f[23] != 6 {
        return false;
    }
    let start = 14 + usize::from(f[14] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let tcp_header = f.get(start + 12).map_or(0, |b| usize::from(b >> 4) * 4);
    total > start - 14 + tcp_header
}

/// xorshift64: the loss pattern, the same on every run for a seed.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Gives the calling thread a real-time priority where allowed: netem's
/// timers run in the kernel, and a forwarder thread woken late by the
/// other work of a loaded machine would add its lateness to every RTT.
fn prefer_this_thread() {
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: this thread's own policy; failing (no CAP_SYS_NICE) is fine.
    let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
}

/// Reads frames arriving on `from` (not the ones sent there), drops some,
/// and queues the others with the time they are due.
fn read_frames(from: Arc<OwnedFd>, to: mpsc::Sender<Due>, imp: Impair, stop: Arc<AtomicBool>) {
    prefer_this_thread();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64 ^ imp.loss_per_mille;
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::SeqCst) {
        // SAFETY: sockaddr_ll is plain data.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: buffer and address with their true sizes.
        let n = unsafe {
            libc::recvfrom(
                from.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
                &mut sll as *mut libc::sockaddr_ll as *mut libc::sockaddr,
                &mut len,
            )
        };
        if n <= 0 || sll.sll_pkttype == libc::PACKET_OUTGOING {
            continue;
        }
        let mut f = buf[..n as usize].to_vec();
        if carries_tcp_data(&f) && next_random(&mut rng) % 1000 < imp.loss_per_mille {
            continue;
        }
        fix_tcp_checksum(&mut f);
        if to.send((Instant::now() + imp.delay, f)).is_err() {
            break;
        }
    }
}

/// Sends each queued frame on `to` once it is due.
fn send_frames(to: Arc<OwnedFd>, due: mpsc::Receiver<Due>) {
    prefer_this_thread();
    for (at, f) in due {
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        // SAFETY: a buffer with its true length.
        unsafe {
            libc::send(
                to.as_raw_fd(),
                f.as_ptr() as *const libc::c_void,
                f.len(),
                0,
            )
        };
    }
}

impl Forwarders {
    /// Forwards between interfaces `left` and `right` of namespace `ns`:
    /// `ab` from left to right, `ba` back.
    fn add(&mut self, ns: &str, left: &str, right: &str, ab: Impair, ba: Impair) {
        let (l, r) = (left.to_string(), right.to_string());
        let (l, r) = in_netns(ns, move || (raw_socket(&l), raw_socket(&r)));
        let (l, r) = (Arc::new(l), Arc::new(r));
        for (from, to, imp) in [(l.clone(), r.clone(), ab), (r, l, ba)] {
            let (tx, rx) = mpsc::channel();
            let stop = self.stop.clone();
            self.threads
                .push(std::thread::spawn(move || read_frames(from, tx, imp, stop)));
            self.threads
                .push(std::thread::spawn(move || send_frames(to, rx)));
        }
    }
}

/// Namespaces `a` (10.<net>.0.1) and `b` (.2) on one subnet, joined
/// through namespace `r` by emulated links ("hops"); between two hops a
/// veth pair inside `r` whose first end, `mid`, is a capture point with
/// the hops before it on one side and those after it on the other.
struct Line {
    a: String,
    b: String,
    r: String,
    /// `a`'s interface.
    xa: String,
    /// The capture point between the first two hops.
    mid: String,
    addr_a: Ipv4Addr,
    addr_b: Ipv4Addr,
    // Dropped in this order: the forwarders before their namespaces.
    _fwd: Forwarders,
    _ns: Namespaces,
}

/// Makes a [`Line`] with `hops` (each `(a → b, b → a)`), in order from `a`.
fn line(net: u8, hops: &[(Impair, Impair)]) -> Line {
    let t = live::tag();
    let (a, b, r) = (format!("wla{t}"), format!("wlb{t}"), format!("wlr{t}"));
    let ns = Namespaces(vec![a.clone(), b.clone(), r.clone()]);
    for n in [&a, &b, &r] {
        live::new_namespace(n);
    }
    let (xa, xb) = (format!("la{t}"), format!("lb{t}"));
    let mut ends = vec![format!("ra{t}")];
    for i in 1..hops.len() {
        ends.push(format!("m{i}x{t}"));
        ends.push(format!("m{i}y{t}"));
    }
    ends.push(format!("rb{t}"));
    let veth = |x: &str, nx: &str, y: &str, ny: &str| {
        sh(&[
            "ip", "link", "add", x, "netns", nx, "type", "veth", "peer", "name", y, "netns", ny,
        ]);
    };
    veth(&xa, &a, &ends[0], &r);
    veth(&xb, &b, &ends[ends.len() - 1], &r);
    for pair in ends[1..ends.len() - 1].chunks(2) {
        sh(&[
            "ip", "-n", &r, "link", "add", &pair[0], "type", "veth", "peer", "name", &pair[1],
        ]);
    }
    for e in &ends {
        sh(&["ip", "-n", &r, "link", "set", e, "up"]);
    }
    let (addr_a, addr_b) = (Ipv4Addr::new(10, net, 0, 1), Ipv4Addr::new(10, net, 0, 2));
    let (mac_a, mac_b) = (live::mac_of(&a, &xa), live::mac_of(&b, &xb));
    for (n, x, addr, peer, mac) in [
        (&a, &xa, addr_a, addr_b, &mac_b),
        (&b, &xb, addr_b, addr_a, &mac_a),
    ] {
        sh(&[
            "ip",
            "-n",
            n,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            x,
        ]);
        // One segment per frame: the forwarders resend frames of at most the MTU.
        sh(&["ip", "-n", n, "link", "set", "dev", x, "gso_max_segs", "1"]);
        sh(&["ip", "-n", n, "link", "set", x, "up"]);
        let peer = peer.to_string();
        sh(&[
            "ip",
            "-n",
            n,
            "neigh",
            "replace",
            &peer,
            "lladdr",
            mac,
            "dev",
            x,
            "nud",
            "permanent",
        ]);
    }
    let mut fwd = Forwarders {
        stop: Arc::new(AtomicBool::new(false)),
        threads: Vec::new(),
    };
    for (hop, pair) in hops.iter().zip(ends.chunks(2)) {
        fwd.add(&r, &pair[0], &pair[1], hop.0, hop.1);
    }
    let mid = ends.get(1).cloned().unwrap_or_default();
    Line {
        a,
        b,
        r,
        xa,
        mid,
        addr_a,
        addr_b,
        _fwd: fwd,
        _ns: ns,
    }
}

/// A server in `ns` on `addr:port` that reads each connection to its end
/// after `pause`; returns how many bytes it read.
fn sink(
    ns: &str,
    addr: Ipv4Addr,
    port: u16,
    rcvbuf: Option<i32>,
    pause: Duration,
) -> JoinHandle<usize> {
    let listener = in_netns(ns, move || {
        TcpListener::bind(SocketAddrV4::new(addr, port)).unwrap()
    });
    if let Some(size) = rcvbuf {
        // SAFETY: an int option with its size; accepted sockets inherit it.
        let r = unsafe {
            libc::setsockopt(
                listener.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &size as *const i32 as *const libc::c_void,
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0);
    }
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        std::thread::sleep(pause);
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got.len()
    })
}

/// Connects from `ns` to `to:port`, writes `n` bytes, closes its side and
/// waits for the other's close; returns the sender's retransmitted
/// segments (`tcpi_total_retrans`).
fn send_bulk(ns: &str, to: Ipv4Addr, port: u16, n: usize) -> u32 {
    in_netns(ns, move || {
        let mut s = TcpStream::connect(SocketAddrV4::new(to, port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        s.write_all(&vec![5u8; n]).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        // The peer's FIN acknowledges ours: nothing of ours is resent after.
        assert_eq!(s.read(&mut [0u8; 16]).unwrap(), 0);
        live::kernel_tcp_info(&s).tcpi_total_retrans
    })
}

/// Stops `ww` with SIGTERM; its JSON lines (after checking it exited well).
fn stop(ww: Running) -> Vec<Value> {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(ww.pid() as i32, libc::SIGTERM) };
    let (code, out, err) = ww.finish();
    assert_eq!(code, 0, "{err}");
    live::json_lines(&out)
}

/// The entry's `[src_to_dst, dst_to_src]` value of `key` for the
/// direction sent by `from`.
fn from_side(e: &Value, key: &str, from: Ipv4Addr) -> u64 {
    let i = usize::from(e["src"] != from.to_string().as_str());
    e["tcp"][key][i]
        .as_u64()
        .unwrap_or_else(|| panic!("{key}: {e}"))
}

/// Whether `got` is within `share` (a fraction) of `want`.
fn within(got: f64, want: f64, share: f64) -> bool {
    (got - want).abs() <= want * share
}

/// The TCP entry between `a` and `b`.
fn tcp_entry(rep: &Value, a: Ipv4Addr, b: Ipv4Addr) -> &Value {
    live::entry(rep, &a.to_string(), &b.to_string(), "tcp")
}

/// 20 ms each way on both sides of the capture point: each side is 40 ms
/// away (round trip), as with `netem delay 40ms` on the egress of both
/// ends' veths and the capture between them. So the handshake's server
/// side (SYN → SYN/ACK) and client side (SYN/ACK → ACK) are 40 ms each,
/// the whole handshake (SYN → ACK, the entry's `handshake_ms`) 80 ms, and
/// the continuous RTT of each direction (TCP timestamps, on as Linux's
/// default) 40 ms: an entry mixes both directions' samples, which a
/// one-sided delay would make 40 ms and ~0. A bulk transfer of 2 MB for
/// the continuous RTT, and two short connections for more handshakes.
#[test]
fn a_40_ms_delay_is_what_the_handshake_and_the_timestamps_measure() {
    wirewatch_testkit::require!(wirewatch_testkit::netns());
    let d = Impair {
        delay: Duration::from_millis(20),
        loss_per_mille: 0,
    };
    let l = line(220, &[(d, d), (d, d)]);
    for n in [&l.a, &l.b] {
        live::netns_sysctl(n, "net.ipv4.tcp_timestamps", "1");
    }
    // The pair view: one entry for the three connections, its handshake
    // the shortest (one handshake is one sample, and a loaded machine can
    // hold a frame back: once, 161 ms with three copies of this test
    // running at once).
    let ww = Running::start(
        &l.r,
        &["-i", &l.mid, "--tcp", "-s", "300", "--format", "json"],
    );
    for (port, n) in [(5020, 2_000_000), (5022, 10_000), (5024, 10_000)] {
        let server = sink(&l.b, l.addr_b, port, None, Duration::ZERO);
        send_bulk(&l.a, l.addr_b, port, n);
        assert_eq!(server.join().unwrap(), n);
    }
    std::thread::sleep(Duration::from_millis(300));
    let v = stop(ww);
    let (a, b) = (l.addr_a.to_string(), l.addr_b.to_string());
    let e = live::final_report(&v)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["src"] == a.as_str() || e["src"] == b.as_str())
        .unwrap_or_else(|| panic!("no entry {a} <-> {b}: {v:?}"));
    let t = &e["tcp"];
    assert_eq!(t["connections"], 3, "{t}");
    let hs = t["handshake_ms"].as_f64().unwrap();
    assert!(within(hs, 80.0, 0.05), "handshake {hs} ms: {t}");
    // The summary's sides are medians (of three) from a histogram (bins of
    // about 9 %).
    let h = &live::summary(&v)["tcp"]["handshake_rtt_ms"];
    for side in ["server_p50", "client_p50"] {
        let ms = h[side].as_f64().unwrap();
        assert!(within(ms, 40.0, 0.10), "{side} {ms} ms: {h}");
    }
    let rtt = &t["rtt_ms"];
    let min = rtt["min"].as_f64().unwrap();
    assert!(
        within(min, 40.0, 0.05),
        "continuous RTT min {min} ms: {rtt}"
    );
    // About four samples per RTT while it sends (11 in all when a full
    // pending ring dropped its oldest TSvals, docs/TCP.md). The smoothed
    // RTT is not asserted: the receiver's ACK timing and the forwarders
    // add to some samples (40.5-41.0 ms measured), never take away, so the
    // minimum is the path's delay.
    assert!(rtt["samples"].as_u64().unwrap() >= 100, "{rtt}");
    eprintln!("handshake {hs} ms, sides {h}, continuous {rtt}");
}

/// 2 % of the sender's data segments lost after the capture point: the
/// capture (on the sender's own veth) sees every segment the sender sends,
/// originals and retransmissions alike, so each retransmission the kernel
/// counts is a segment we see again. We count it as a retransmission, or,
/// by tshark's heuristic, as out of order when it leaves within the
/// initial RTT of the highest segment (the sender resends while sending new
/// data); nothing on this path reorders, so their sum must equal the
/// sender's `tcpi_total_retrans`. (Loss before the capture point would hide
/// both the original and lost retransmissions from it.) Only segments with
/// data are dropped: a lost SYN or pure ACK is not what is counted here.
#[test]
fn with_2_percent_loss_we_count_the_sender_s_retransmissions() {
    wirewatch_testkit::require!(wirewatch_testkit::netns());
    let lossy = Impair {
        delay: Duration::from_millis(1),
        loss_per_mille: 20,
    };
    let back = Impair {
        delay: Duration::from_millis(1),
        loss_per_mille: 0,
    };
    let l = line(221, &[(lossy, back)]);
    for n in [&l.a, &l.b] {
        live::netns_sysctl(n, "net.ipv4.tcp_sack", "1");
        live::netns_sysctl(n, "net.ipv4.tcp_timestamps", "1");
    }
    let ww = Running::start(
        &l.a,
        &["-i", &l.xa, "--tcp", "-P", "-s", "300", "--format", "json"],
    );
    let server = sink(&l.b, l.addr_b, 5021, None, Duration::ZERO);
    let kernel = send_bulk(&l.a, l.addr_b, 5021, 4_000_000);
    assert_eq!(server.join().unwrap(), 4_000_000);
    std::thread::sleep(Duration::from_millis(300));
    let v = stop(ww);
    let e = tcp_entry(live::final_report(&v), l.addr_a, l.addr_b);
    let retrans = from_side(e, "retransmissions", l.addr_a);
    let ooo = from_side(e, "out_of_order", l.addr_a);
    assert!(kernel >= 10, "too few losses to test: {kernel}");
    assert_eq!(
        retrans + ooo,
        u64::from(kernel),
        "ours: {retrans} retransmissions + {ooo} out of order; {e}; capture {}",
        live::final_report(&v)["capture"]
    );
    eprintln!("tcpi_total_retrans {kernel}: {retrans} retransmissions + {ooo} out of order");
}

/// A receiver with a small buffer that reads nothing for 2 s while the
/// other side writes: its window closes (zero-window segments in its
/// direction), one episode or more, about as long as the pause.
#[test]
fn a_receiver_that_stops_reading_shows_zero_window_and_its_duration() {
    wirewatch_testkit::require!(wirewatch_testkit::netns());
    let p = live::pair(229);
    let ww = Running::start(
        &p.a,
        &["-i", &p.ia, "--tcp", "-P", "-s", "300", "--format", "json"],
    );
    let pause = Duration::from_secs(2);
    let server = sink(&p.b, p.addr_b, 5029, Some(4096), pause);
    send_bulk(&p.a, p.addr_b, 5029, 1_000_000);
    assert_eq!(server.join().unwrap(), 1_000_000);
    std::thread::sleep(Duration::from_millis(300));
    let v = stop(ww);
    let e = tcp_entry(live::final_report(&v), p.addr_a, p.addr_b);
    assert!(from_side(e, "zero_window", p.addr_b) > 0, "{e}");
    assert_eq!(from_side(e, "zero_window", p.addr_a), 0, "{e}");
    let t = &live::summary(&v)["tcp"];
    assert!(t["zero_window_events"].as_u64().unwrap() >= 1, "{t}");
    let s = t["zero_window_s"].as_f64().unwrap();
    assert!(
        (1.0..=6.0).contains(&s),
        "zero window {s} s for a 2 s pause: {t}"
    );
    eprintln!("zero window: {t}");
}
