//! Writes the demo capture, `samples/demo.pcapng`: five minutes of a small
//! office network seen from a mirror port, with three attacks in it.
//!
//! ```text
//! cargo run -p wirewatch-capture --example demo_capture -- samples/demo.pcapng
//! ```
//!
//! Everything is made from a fixed seed and fixed timestamps (starting
//! 2026-11-23 09:00:00 UTC), never from the clock, so the file is the same
//! byte for byte on every run and machine; `tests/demo_sample.rs` checks that
//! the committed sample is what this program writes. Only integer arithmetic
//! decides what is written.
//!
//! The network (documentation and benchmarking address ranges only):
//!
//! * `192.168.1.1` (`2001:db8:1::1`) the router and DNS resolver;
//!   `192.168.1.10` to `.13` clients (`.10` also `2001:db8:1::10`);
//!   `192.168.1.20` a LAN server with SSH (22), HTTP (80) and HTTPS (443)
//!   open.
//! * Ordinary traffic, all five minutes: HTTPS-like TCP sessions from the
//!   clients to servers in `198.51.100.0/24`, `203.0.113.0/24` and
//!   `2001:db8:ff::/48` (handshake, TLS-like records each way, several
//!   requests per connection, FIN close), a software update download and a
//!   photo upload, HTTP to the LAN server, one interactive SSH session, DNS
//!   lookups (A, AAAA) before connections, NTP every 64 s, a few pings and
//!   ARP exchanges.
//! * 0:45, a vertical port scan: `203.0.113.66` sends SYNs to ports 1-1024
//!   of `192.168.1.20` in random order (250 a second); closed ports answer
//!   RST, the three open ones SYN-ACK (and the scanner resets them).
//! * 2:00-3:00, a DNS tunnel: `192.168.1.12` asks the resolver for TXT
//!   records of about 150 distinct 60-character random names under
//!   `tunnel.example`, and gets long TXT answers.
//! * 3:30, a SYN flood: 4,500 SYNs in 5 s at `192.168.1.20:80` from
//!   spoofed addresses in `198.18.0.0/15`; the server answers the first
//!   256 (its backlog) and no more.
//!
//! Frames are Ethernet with correct IPv4, TCP, UDP and ICMP checksums; the
//! capture keeps the first 256 bytes of each frame (the interface's snap
//! length), which holds every header and DNS message while keeping the file
//! small. Byte counts are the frames' full lengths.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use wirewatch_capture::PcapngWriter;
use wirewatch_wire::Timestamp;

/// 2026-11-23 09:00:00 UTC, the first packet's second.
pub const START_SECS: i64 = 1_795_424_400;
/// Seed of the pseudo-random choices.
pub const SEED: u64 = 0x7769_7265_7761_7463;
/// Length of the capture, seconds.
pub const DURATION_SECS: u64 = 300;
/// Bytes kept of each frame.
pub const SNAPLEN: u32 = 256;

const LINKTYPE_ETHERNET: u16 = 1;
const SEC: u64 = 1_000_000;
const MS: u64 = 1_000;
const END: u64 = DURATION_SECS * SEC;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

const ROUTER_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];
const BROADCAST: [u8; 6] = [0xff; 6];

/// What one run wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Frames written.
    pub packets: u64,
    /// Their full lengths, summed.
    pub wire_bytes: u64,
    /// Size of the file.
    pub file_bytes: u64,
}

/// splitmix64: a small, fast generator whose output depends only on the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }

    /// `n` characters drawn from `alphabet`.
    fn text(&mut self, alphabet: &[u8], n: usize) -> Vec<u8> {
        (0..n).map(|_| *self.pick(alphabet)).collect()
    }

    fn ephemeral_port(&mut self) -> u16 {
        self.range(32_768, 60_999) as u16
    }
}

/// A machine on the wire. Hosts off the LAN are reached through the router,
/// so their frames carry its MAC address.
#[derive(Clone, Copy, Debug)]
struct Host {
    ip: IpAddr,
    mac: Option<[u8; 6]>,
    /// TTL (hop limit) its packets arrive with.
    ttl: u8,
}

fn lan(last: u8) -> Host {
    Host {
        ip: IpAddr::V4(Ipv4Addr::new(192, 168, 1, last)),
        mac: Some([0x02, 0x00, 0x00, 0x00, 0x01, last]),
        ttl: 64,
    }
}

fn remote(ip: &str, hops: u8) -> Host {
    Host {
        ip: ip.parse().expect("address"),
        mac: None,
        ttl: 64 - hops,
    }
}

/// `host` under another address (a LAN host's IPv6 address).
fn with_ip(host: Host, ip: &str) -> Host {
    Host {
        ip: ip.parse().expect("address"),
        ..host
    }
}

/// One frame to write: when, in what order among frames of the same
/// microsecond, and its bytes.
struct Frame {
    t_us: u64,
    order: u64,
    data: Vec<u8>,
}

/// Collects frames in any order; they are sorted by time before writing.
struct Net {
    rng: Rng,
    frames: Vec<Frame>,
    ip_id: u16,
}

fn checksum_add(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

fn checksum_fold(mut acc: u64) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    !(acc as u16)
}

impl Net {
    fn new(seed: u64) -> Net {
        Net {
            rng: Rng(seed),
            frames: Vec::new(),
            ip_id: 0x1c2f,
        }
    }

    fn push(&mut self, t_us: u64, mut data: Vec<u8>) {
        if t_us >= END {
            return;
        }
        // Ethernet's minimum frame, as a mirror port delivers it.
        if data.len() < 60 {
            data.resize(60, 0);
        }
        let order = self.frames.len() as u64;
        self.frames.push(Frame { t_us, order, data });
    }

    /// An IP packet from `src` to `dst` carrying `l4` (TCP, UDP, ICMP or
    /// ICMPv6, checksum field zero), checksummed and framed.
    fn ip(&mut self, t_us: u64, src: &Host, dst: &Host, proto: u8, mut l4: Vec<u8>) {
        let at = match proto {
            6 => 16,
            17 => 6,
            _ => 2,
        };
        let mut acc = 0;
        if proto != 1 {
            // The pseudo-header (ICMPv4 has none).
            acc = match (src.ip, dst.ip) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    let acc = checksum_add(&s.octets(), acc);
                    let acc = checksum_add(&d.octets(), acc);
                    acc + u64::from(proto) + l4.len() as u64
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    let acc = checksum_add(&s.octets(), acc);
                    let acc = checksum_add(&d.octets(), acc);
                    acc + u64::from(proto) + l4.len() as u64
                }
                _ => panic!("mixed address families"),
            };
        }
        let mut sum = checksum_fold(checksum_add(&l4, acc));
        if proto == 17 && sum == 0 {
            sum = 0xFFFF;
        }
        l4[at..at + 2].copy_from_slice(&sum.to_be_bytes());

        let (ethertype, packet) = match (src.ip, dst.ip) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                self.ip_id = self.ip_id.wrapping_add(1);
                let mut h = Vec::with_capacity(20 + l4.len());
                h.push(0x45);
                h.push(0);
                h.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
                h.extend_from_slice(&self.ip_id.to_be_bytes());
                // Don't fragment, as TCP stacks send.
                let flags: u16 = if proto == 6 { 0x4000 } else { 0 };
                h.extend_from_slice(&flags.to_be_bytes());
                h.extend_from_slice(&[src.ttl, proto, 0, 0]);
                h.extend_from_slice(&s.octets());
                h.extend_from_slice(&d.octets());
                let c = checksum_fold(checksum_add(&h, 0));
                h[10..12].copy_from_slice(&c.to_be_bytes());
                h.extend_from_slice(&l4);
                (0x0800, h)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut h = Vec::with_capacity(40 + l4.len());
                h.extend_from_slice(&[0x60, 0, 0, 0]);
                h.extend_from_slice(&(l4.len() as u16).to_be_bytes());
                h.push(proto);
                h.push(src.ttl);
                h.extend_from_slice(&s.octets());
                h.extend_from_slice(&d.octets());
                h.extend_from_slice(&l4);
                (0x86DD, h)
            }
            _ => panic!("mixed address families"),
        };
        let frame = wirewatch_wire::build::eth_macs(
            dst.mac.unwrap_or(ROUTER_MAC),
            src.mac.unwrap_or(ROUTER_MAC),
            ethertype,
            &packet,
        );
        self.push(t_us, frame);
    }

    fn udp(&mut self, t_us: u64, src: &Host, sport: u16, dst: &Host, dport: u16, data: &[u8]) {
        let mut p = Vec::with_capacity(8 + data.len());
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(data);
        self.ip(t_us, src, dst, 17, p);
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        t_us: u64,
        (src, sport): (&Host, u16),
        (dst, dport): (&Host, u16),
        seq: u32,
        ack: u32,
        flags: u8,
        window: u16,
        mss: Option<u16>,
        data: &[u8],
    ) {
        let hlen = if mss.is_some() { 24 } else { 20 };
        let mut p = Vec::with_capacity(hlen + data.len());
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ack.to_be_bytes());
        p.push(((hlen / 4) as u8) << 4);
        p.push(flags);
        p.extend_from_slice(&window.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0]);
        if let Some(m) = mss {
            p.extend_from_slice(&[2, 4]);
            p.extend_from_slice(&m.to_be_bytes());
        }
        p.extend_from_slice(data);
        self.ip(t_us, src, dst, 6, p);
    }

    fn arp(&mut self, t_us: u64, asker: &Host, target: &Host) {
        let (IpAddr::V4(a), IpAddr::V4(b)) = (asker.ip, target.ip) else {
            return;
        };
        let (amac, tmac) = (asker.mac.unwrap(), target.mac.unwrap());
        for (op, smac, sip, dmac, dip, eth_dst, t) in [
            (1u16, amac, a, [0; 6], b, BROADCAST, t_us),
            (2u16, tmac, b, amac, a, amac, t_us + 180),
        ] {
            let mut p = vec![0, 1, 0x08, 0, 6, 4];
            p.extend_from_slice(&op.to_be_bytes());
            p.extend_from_slice(&smac);
            p.extend_from_slice(&sip.octets());
            p.extend_from_slice(&dmac);
            p.extend_from_slice(&dip.octets());
            let frame = wirewatch_wire::build::eth_macs(eth_dst, smac, 0x0806, &p);
            self.push(t, frame);
        }
    }

    /// `count` pings from `from` to `to`, one a second.
    fn pings(&mut self, t_us: u64, from: &Host, to: &Host, count: u16, rtt: u64) {
        let id = self.rng.range(1, 0xFFFF) as u16;
        let pad: Vec<u8> = (0u8..48).collect();
        for seq in 1..=count {
            let t = t_us + u64::from(seq - 1) * SEC + self.rng.range(0, 900);
            for (kind, a, b, at) in [(8u8, from, to, t), (0u8, to, from, t + rtt)] {
                let mut p = vec![kind, 0, 0, 0];
                p.extend_from_slice(&id.to_be_bytes());
                p.extend_from_slice(&seq.to_be_bytes());
                p.extend_from_slice(&(START_SECS as u64 + t / SEC).to_be_bytes());
                p.extend_from_slice(&pad);
                self.ip(at, a, b, 1, p);
            }
        }
    }
}

/// Which end of a connection.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Client,
    Server,
}

/// A TCP connection seen from the capture point, which sits next to the
/// client: the client's answers are seen `turn` after what they answer,
/// the server's a round trip (`rtt`) after.
struct Tcp {
    c: Host,
    s: Host,
    cport: u16,
    sport: u16,
    cseq: u32,
    sseq: u32,
    rtt: u64,
    turn: u64,
    mss: usize,
}

impl Tcp {
    fn new(net: &mut Net, c: Host, s: Host, sport: u16, rtt: u64) -> Tcp {
        let mss = if c.ip.is_ipv4() { 1460 } else { 1440 };
        Tcp {
            c,
            s,
            cport: net.rng.ephemeral_port(),
            sport,
            cseq: net.rng.next() as u32,
            sseq: net.rng.next() as u32,
            rtt,
            turn: net.rng.range(20, 90),
            mss,
        }
    }

    fn delay(&self, who: Side) -> u64 {
        match who {
            Side::Client => self.turn,
            Side::Server => self.rtt,
        }
    }

    fn segment(&self, net: &mut Net, t: u64, who: Side, flags: u8, data: &[u8]) {
        let (src, dst, seq, ack, win) = match who {
            Side::Client => (
                (&self.c, self.cport),
                (&self.s, self.sport),
                self.cseq,
                self.sseq,
                64_240,
            ),
            Side::Server => (
                (&self.s, self.sport),
                (&self.c, self.cport),
                self.sseq,
                self.cseq,
                65_160,
            ),
        };
        let ack = if flags & ACK != 0 { ack } else { 0 };
        let mss = (flags & SYN != 0).then_some(self.mss as u16);
        net.tcp(t, src, dst, seq, ack, flags, win, mss, data);
    }

    fn advance(&mut self, who: Side, n: u32) {
        match who {
            Side::Client => self.cseq = self.cseq.wrapping_add(n),
            Side::Server => self.sseq = self.sseq.wrapping_add(n),
        }
    }

    /// The three-way handshake from `t`; returns when the client's ACK is seen.
    fn open(&mut self, net: &mut Net, t: u64) -> u64 {
        self.segment(net, t, Side::Client, SYN, &[]);
        self.advance(Side::Client, 1);
        let t = t + self.rtt;
        self.segment(net, t, Side::Server, SYN | ACK, &[]);
        self.advance(Side::Server, 1);
        let t = t + self.turn;
        self.segment(net, t, Side::Client, ACK, &[]);
        t
    }

    /// `data` from `who`, one segment every `gap` µs from `t`, the other
    /// end acknowledging every second segment and the last; returns when
    /// the last acknowledgement is seen.
    fn send(&mut self, net: &mut Net, t: u64, who: Side, data: &[u8], gap: u64) -> u64 {
        let other = match who {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        };
        let n = data.len().div_ceil(self.mss);
        let mut end = t;
        for (i, chunk) in data.chunks(self.mss).enumerate() {
            let ts = t + i as u64 * gap;
            let last = i + 1 == n;
            let flags = if last { ACK | PSH } else { ACK };
            self.segment(net, ts, who, flags, chunk);
            self.advance(who, chunk.len() as u32);
            if i % 2 == 1 || last {
                end = ts + self.delay(other);
                self.segment(net, end, other, ACK, &[]);
            }
        }
        end
    }

    /// A request and its response: the server starts answering a round
    /// trip plus `think` after the request; `gap` paces its segments.
    fn exchange(
        &mut self,
        net: &mut Net,
        t: u64,
        req: &[u8],
        resp: &[u8],
        think: u64,
        gap: u64,
    ) -> u64 {
        let sent = self.send(net, t, Side::Client, req, 120);
        let start = sent.max(t + self.rtt) + think;
        self.send(net, start, Side::Server, resp, gap)
    }

    /// The client closes; returns when its last ACK is seen.
    fn close(&mut self, net: &mut Net, t: u64) -> u64 {
        self.segment(net, t, Side::Client, FIN | ACK, &[]);
        self.advance(Side::Client, 1);
        let t = t + self.rtt;
        self.segment(net, t, Side::Server, FIN | ACK, &[]);
        self.advance(Side::Server, 1);
        let t = t + self.turn;
        self.segment(net, t, Side::Client, ACK, &[]);
        t
    }
}

/// `n` bytes of TLS application-data records with random contents, one
/// record per segment of `mss` bytes (as servers that size records to
/// segments send them), so every segment starts with a record header.
fn tls(rng: &mut Rng, n: usize, mss: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let left = n - v.len();
        if left <= 5 {
            v.extend(rng.bytes(left));
            break;
        }
        let body = (left - 5).min(mss - 5);
        v.extend_from_slice(&[0x17, 0x03, 0x03]);
        v.extend_from_slice(&(body as u16).to_be_bytes());
        v.extend(rng.bytes(body));
    }
    v
}

/// An SSH binary packet (RFC 4253) around `payload`, unencrypted: length,
/// padding length, payload, random padding to a multiple of 8 bytes.
fn ssh_packet(rng: &mut Rng, payload: &[u8]) -> Vec<u8> {
    let mut pad = 8 - (5 + payload.len()) % 8;
    if pad < 4 {
        pad += 8;
    }
    let mut v = Vec::with_capacity(5 + payload.len() + pad);
    v.extend_from_slice(&((1 + payload.len() + pad) as u32).to_be_bytes());
    v.push(pad as u8);
    v.extend_from_slice(payload);
    v.extend(rng.bytes(pad));
    v
}

/// Appends an SSH `string` (length, then the bytes).
fn ssh_string(v: &mut Vec<u8>, s: &[u8]) {
    v.extend_from_slice(&(s.len() as u32).to_be_bytes());
    v.extend_from_slice(s);
}

/// An encrypted SSH packet as AES-GCM sends it: the length in the clear,
/// `len` bytes (rounded up to the 16-byte block) of ciphertext, the tag.
fn ssh_sealed(rng: &mut Rng, len: usize) -> Vec<u8> {
    let len = len.div_ceil(16).max(1) * 16;
    let mut v = Vec::with_capacity(len + 20);
    v.extend_from_slice(&(len as u32).to_be_bytes());
    v.extend(rng.bytes(len + 16));
    v
}

/// About `n` bytes of command output: encrypted SSH packets, each filling
/// one segment of `mss` bytes but the last.
fn ssh_output(rng: &mut Rng, n: usize, mss: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + mss);
    while v.len() < n {
        let left = n - v.len();
        let len = if left >= mss {
            mss - 20
        } else {
            left.max(36) - 20
        };
        v.extend(ssh_sealed(rng, len));
    }
    v
}

/// SSH_MSG_KEXINIT offering one algorithm of each kind.
fn ssh_kexinit(rng: &mut Rng) -> Vec<u8> {
    let mut p = vec![20];
    p.extend(rng.bytes(16));
    for list in [
        &b"curve25519-sha256"[..],
        b"ssh-ed25519",
        b"chacha20-poly1305@openssh.com",
        b"chacha20-poly1305@openssh.com",
        b"hmac-sha2-256",
        b"hmac-sha2-256",
        b"none",
        b"none",
        b"",
        b"",
    ] {
        ssh_string(&mut p, list);
    }
    p.extend_from_slice(&[0, 0, 0, 0, 0]);
    ssh_packet(rng, &p)
}

/// Microseconds one MSS-sized segment takes at `mbit` Mbit/s.
fn gap_at(mss: usize, mbit: u64) -> u64 {
    (mss as u64 * 8).div_ceil(mbit)
}

/// A response size, from a mix of small and occasionally larger objects.
fn object_size(rng: &mut Rng) -> usize {
    let r = rng.range(0, 99);
    (if r < 45 {
        rng.range(800, 6_000)
    } else if r < 80 {
        rng.range(6_000, 25_000)
    } else if r < 97 {
        rng.range(25_000, 80_000)
    } else {
        rng.range(80_000, 200_000)
    }) as usize
}

/// DNS message with one question (`answers` empty and `response` false for
/// a query); answers point back at the question's name.
fn dns(id: u16, name: &str, qtype: u16, response: bool, answers: &[Vec<u8>]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&id.to_be_bytes());
    let flags: u16 = if response { 0x8180 } else { 0x0100 };
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    for rdata in answers {
        m.extend_from_slice(&[0xC0, 0x0C]);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&300u32.to_be_bytes());
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(rdata);
    }
    m
}

/// A server on the Internet the clients use.
struct Site {
    name: &'static str,
    host: Host,
    rtt: u64,
    /// Its link's speed towards us, Mbit/s.
    mbit: u64,
}

/// The LAN and the Internet as the capture sees them.
struct World {
    router: Host,
    router6: Host,
    clients: Vec<Host>,
    laptop6: Host,
    server: Host,
    ntp: Host,
    sites: Vec<Site>,
    site6: Site,
}

fn world() -> World {
    let site = |name, ip, hops, rtt_ms: u64, mbit| Site {
        name,
        host: remote(ip, hops),
        rtt: rtt_ms * MS,
        mbit,
    };
    World {
        router: lan(1),
        router6: with_ip(lan(1), "2001:db8:1::1"),
        clients: vec![lan(10), lan(11), lan(12), lan(13)],
        laptop6: with_ip(lan(10), "2001:db8:1::10"),
        server: lan(20),
        ntp: remote("203.0.113.123", 9),
        sites: vec![
            site("www.example.com", "198.51.100.10", 11, 24, 40),
            site("static.example.net", "198.51.100.20", 8, 12, 80),
            site("mail.example.org", "198.51.100.30", 13, 38, 20),
            site("api.example.com", "203.0.113.40", 10, 31, 30),
            site("updates.example.org", "203.0.113.50", 14, 46, 25),
            site("news.example.net", "203.0.113.60", 12, 52, 15),
        ],
        site6: site("v6.example.net", "2001:db8:ff::443", 10, 29, 40),
    }
}

/// A lookup of `name` from `client` through the router; returns when the
/// answer is seen.
fn lookup(net: &mut Net, w: &World, t: u64, client: &Host, name: &str, answer: IpAddr) -> u64 {
    let id = net.rng.next() as u16;
    let port = net.rng.ephemeral_port();
    let (qtype, rdata) = match answer {
        IpAddr::V4(a) => (1, a.octets().to_vec()),
        IpAddr::V6(a) => (28, a.octets().to_vec()),
    };
    // The router resolves over either family.
    let resolver = if client.ip.is_ipv4() {
        &w.router
    } else {
        &w.router6
    };
    net.udp(
        t,
        client,
        port,
        resolver,
        53,
        &dns(id, name, qtype, false, &[]),
    );
    // A cached name answers at once, a miss after the upstream round trip.
    let wait = if net.rng.chance(60) {
        net.rng.range(150, 600)
    } else {
        net.rng.range(8, 40) * MS
    };
    let t = t + wait;
    net.udp(
        t,
        resolver,
        53,
        client,
        port,
        &dns(id, name, qtype, true, &[rdata]),
    );
    t
}

/// One HTTPS-like connection: lookup (sometimes), handshake, a few
/// request/response rounds, close. Returns when it is over.
fn https_session(net: &mut Net, w: &World, t: u64, client: &Host, site: &Site, rounds: u64) -> u64 {
    let mut t = t;
    if net.rng.chance(70) {
        t = lookup(net, w, t, client, site.name, site.host.ip) + net.rng.range(100, 900);
    }
    let mut c = Tcp::new(net, *client, site.host, 443, site.rtt);
    let gap = gap_at(c.mss, site.mbit);
    t = c.open(net, t);
    // The TLS handshake: hello, the server's certificate chain, finished.
    let (hello_len, chain_len) = (net.rng.range(300, 520), net.rng.range(2_800, 4_600));
    let hello = tls(&mut net.rng, hello_len as usize, c.mss);
    let chain = tls(&mut net.rng, chain_len as usize, c.mss);
    t = c.exchange(net, t + 200, &hello, &chain, 2 * MS, gap);
    let fin = tls(&mut net.rng, 80, c.mss);
    t = c.send(net, t + 300, Side::Client, &fin, 120);
    for _ in 0..rounds {
        let req_len = net.rng.range(180, 900) as usize;
        let req = tls(&mut net.rng, req_len, c.mss);
        let size = object_size(&mut net.rng);
        let resp = tls(&mut net.rng, size, c.mss);
        let think = net.rng.range(3, 60) * MS;
        let pause = net.rng.range(200, 2_000) * MS;
        t = c.exchange(net, t + pause, &req, &resp, think, gap);
    }
    let linger = net.rng.range(100, 3_000) * MS;
    c.close(net, t + linger)
}

/// A bulk transfer over HTTPS: `down` bytes to the client, or `up` from it.
fn https_bulk(
    net: &mut Net,
    w: &World,
    t: u64,
    client: &Host,
    site: &Site,
    down: usize,
    up: usize,
) -> u64 {
    let t = lookup(net, w, t, client, site.name, site.host.ip) + 300;
    let mut c = Tcp::new(net, *client, site.host, 443, site.rtt);
    let gap = gap_at(c.mss, site.mbit);
    let t = c.open(net, t);
    let hello = tls(&mut net.rng, 517, c.mss);
    let chain = tls(&mut net.rng, 3_900, c.mss);
    let t = c.exchange(net, t + 200, &hello, &chain, 2 * MS, gap);
    let finished = tls(&mut net.rng, 80, c.mss);
    let t = c.send(net, t + 300, Side::Client, &finished, 120);
    let req = tls(&mut net.rng, 420 + up, c.mss);
    let resp = tls(&mut net.rng, 300 + down, c.mss);
    let t = c.exchange(net, t + 5 * MS, &req, &resp, 20 * MS, gap);
    c.close(net, t + 800 * MS)
}

const WORDS: [&str; 16] = [
    "network", "traffic", "report", "office", "printer", "meeting", "budget", "quarter", "backup",
    "server", "update", "schedule", "project", "invoice", "status", "weekly",
];

/// HTTP/1.1 from a client to the LAN server: plain text both ways.
fn http_session(net: &mut Net, w: &World, t: u64, client: &Host) -> u64 {
    let mut c = Tcp::new(net, *client, w.server, 80, 300);
    let mut t = c.open(net, t);
    let pages = net.rng.range(1, 3);
    for _ in 0..pages {
        let page = *net
            .rng
            .pick(&["/", "/wiki/status", "/reports/weekly", "/files/minutes.txt"]);
        let req = format!(
            "GET {page} HTTP/1.1\r\nHost: intranet.lan\r\nUser-Agent: demo-browser/1.0\r\nAccept: */*\r\n\r\n"
        );
        let len = net.rng.range(1_500, 30_000) as usize;
        let mut body = Vec::with_capacity(len + 16);
        while body.len() < len {
            body.extend_from_slice(net.rng.pick(&WORDS).as_bytes());
            body.push(if net.rng.chance(10) { b'\n' } else { b' ' });
        }
        body.truncate(len);
        let mut resp =
            format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len}\r\n\r\n")
                .into_bytes();
        resp.extend_from_slice(&body);
        let think = net.rng.range(1, 8) * MS;
        let pause = net.rng.range(1, 4) * MS;
        t = c.exchange(net, t + pause, req.as_bytes(), &resp, think, 120);
        t += net.rng.range(500, 6_000) * MS;
    }
    c.close(net, t)
}

/// An interactive SSH session from `client` to the LAN server, open the
/// whole capture: commands typed a key at a time, each echoed, and their
/// output.
fn ssh_session(net: &mut Net, w: &World, t: u64, client: &Host) {
    let mut c = Tcp::new(net, *client, w.server, 22, 250);
    let mut t = c.open(net, t);
    let banner_c = b"SSH-2.0-OpenSSH_9.6\r\n";
    let banner_s = b"SSH-2.0-OpenSSH_9.2p1\r\n";
    t = c.exchange(net, t + 100, banner_c, banner_s, 2 * MS, 120);
    // Key exchange in the clear (curve25519), then everything encrypted.
    let kex_c = ssh_kexinit(&mut net.rng);
    let kex_s = ssh_kexinit(&mut net.rng);
    t = c.exchange(net, t + 500, &kex_c, &kex_s, 3 * MS, 120);
    let mut init = vec![30];
    let q_c = net.rng.bytes(32);
    ssh_string(&mut init, &q_c);
    let init = ssh_packet(&mut net.rng, &init);
    let mut reply = vec![31];
    let host_key = [
        &[0, 0, 0, 11][..],
        b"ssh-ed25519",
        &[0, 0, 0, 32],
        &net.rng.bytes(32)[..],
    ]
    .concat();
    ssh_string(&mut reply, &host_key);
    let q_s = net.rng.bytes(32);
    ssh_string(&mut reply, &q_s);
    let sig = [
        &[0, 0, 0, 11][..],
        b"ssh-ed25519",
        &[0, 0, 0, 64],
        &net.rng.bytes(64)[..],
    ]
    .concat();
    ssh_string(&mut reply, &sig);
    let reply = ssh_packet(&mut net.rng, &reply);
    t = c.exchange(net, t + 4 * MS, &init, &reply, 5 * MS, 120);
    let newkeys_s = ssh_packet(&mut net.rng, &[21]);
    t = c.send(net, t + 100, Side::Server, &newkeys_s, 120);
    let mut newkeys = ssh_packet(&mut net.rng, &[21]);
    // The first encrypted packets: service request and accept, then the
    // user's authentication.
    newkeys.extend(ssh_sealed(&mut net.rng, 32));
    let accept = ssh_sealed(&mut net.rng, 32);
    t = c.exchange(net, t + 300, &newkeys, &accept, 2 * MS, 120);
    let auth = ssh_sealed(&mut net.rng, 400);
    let ok = ssh_sealed(&mut net.rng, 16);
    t = c.exchange(net, t + 2 * MS, &auth, &ok, 9 * MS, 120);
    loop {
        t += net.rng.range(4, 30) * SEC;
        if t > 285 * SEC {
            break;
        }
        let typed = net.rng.range(4, 16);
        for _ in 0..typed {
            t += net.rng.range(120, 400) * MS;
            let key = ssh_sealed(&mut net.rng, 32);
            let echo = ssh_sealed(&mut net.rng, 32);
            t = c.exchange(net, t, &key, &echo, 0, 120);
        }
        let out_len = net.rng.range(100, 12_000) as usize;
        let out = ssh_output(&mut net.rng, out_len, c.mss);
        let key = ssh_sealed(&mut net.rng, 32);
        t = c.exchange(net, t + 150 * MS, &key, &out, 3 * MS, 120);
    }
    c.close(net, 297 * SEC);
}

/// NTP from `client` every 64 s (chrony: a new source port each time).
fn ntp(net: &mut Net, w: &World, client: &Host, first: u64) {
    let mut t = first;
    while t < END {
        let port = net.rng.ephemeral_port();
        let mut q = vec![0x23, 0, 6, 0x20];
        q.resize(40, 0);
        q.extend(net.rng.bytes(8));
        net.udp(t, client, port, &w.ntp, 123, &q);
        let mut a = vec![0x24, 2, 6, 0xE9];
        a.extend(net.rng.bytes(44));
        let at = t + 18 * MS + net.rng.range(0, 900);
        net.udp(at, &w.ntp, 123, client, port, &a);
        t += 64 * SEC + net.rng.range(0, 400) * MS;
    }
}

/// Ordinary browsing by `client` from `t` to the end.
fn browse(net: &mut Net, w: &World, client: &Host, mut t: u64) {
    while t < END - 5 * SEC {
        let i = (net.rng.next() % w.sites.len() as u64) as usize;
        let rounds = net.rng.range(1, 3);
        t = https_session(net, w, t, client, &w.sites[i], rounds);
        t += net.rng.range(5, 45) * SEC + net.rng.range(0, 999) * MS;
    }
}

/// Background lookups that lead to no connection here.
fn chatter(net: &mut Net, w: &World, client: &Host, mut t: u64) {
    let names = [
        ("telemetry.example.com", "203.0.113.80"),
        ("www.example.org", "198.51.100.90"),
        ("cdn.example.net", "198.51.100.21"),
        ("calendar.example.com", "203.0.113.41"),
    ];
    while t < END {
        let (name, addr) = *net.rng.pick(&names);
        lookup(net, w, t, client, name, addr.parse().unwrap());
        t += net.rng.range(10, 70) * SEC + net.rng.range(0, 999) * MS;
    }
}

/// 0:45: a SYN scan of ports 1-1024 of the LAN server from the Internet.
fn port_scan(net: &mut Net, w: &World, start: u64) {
    let scanner = remote("203.0.113.66", 15);
    let rtt = 41 * MS;
    let sport = 48_123;
    let mut ports: Vec<u16> = (1..=1024).collect();
    for i in (1..ports.len()).rev() {
        let j = (net.rng.next() % (i as u64 + 1)) as usize;
        ports.swap(i, j);
    }
    for (i, &port) in ports.iter().enumerate() {
        let t = start + i as u64 * 4 * MS + net.rng.range(0, 300);
        let seq = net.rng.next() as u32;
        net.tcp(
            t,
            (&scanner, sport),
            (&w.server, port),
            seq,
            0,
            SYN,
            1024,
            Some(1460),
            &[],
        );
        let answer = t + net.rng.range(40, 90);
        if matches!(port, 22 | 80 | 443) {
            let sseq = net.rng.next() as u32;
            let ack = seq.wrapping_add(1);
            net.tcp(
                answer,
                (&w.server, port),
                (&scanner, sport),
                sseq,
                ack,
                SYN | ACK,
                64_240,
                Some(1460),
                &[],
            );
            net.tcp(
                answer + rtt,
                (&scanner, sport),
                (&w.server, port),
                ack,
                0,
                RST,
                0,
                None,
                &[],
            );
        } else {
            net.tcp(
                answer,
                (&w.server, port),
                (&scanner, sport),
                0,
                seq.wrapping_add(1),
                RST | ACK,
                0,
                None,
                &[],
            );
        }
    }
}

/// 2:00-3:00: a DNS tunnel from one client through the resolver.
fn dns_tunnel(net: &mut Net, w: &World, client: &Host, start: u64, end: u64) {
    const BASE32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let port = 53_211;
    let mut t = start;
    while t < end {
        let label = String::from_utf8(net.rng.text(BASE32, 60)).unwrap();
        let name = format!("{label}.tunnel.example");
        let id = net.rng.next() as u16;
        net.udp(
            t,
            client,
            port,
            &w.router,
            53,
            &dns(id, &name, 16, false, &[]),
        );
        let mut txt = Vec::new();
        let n = net.rng.range(120, 220) as usize;
        txt.push(n as u8);
        txt.extend(net.rng.text(BASE64, n));
        let at = t + net.rng.range(25, 60) * MS;
        net.udp(
            at,
            &w.router,
            53,
            client,
            port,
            &dns(id, &name, 16, true, &[txt]),
        );
        t += net.rng.range(250, 550) * MS;
    }
}

/// 3:30: a SYN flood at the LAN server's web port from spoofed sources.
fn syn_flood(net: &mut Net, w: &World, start: u64) {
    for i in 0..4_500u64 {
        let t = start + i * 1_100 + net.rng.range(0, 200);
        let src = 0xC612_0000u32 | (net.rng.next() as u32 & 0x0001_FFFF);
        let spoofed = Host {
            ip: IpAddr::V4(Ipv4Addr::from(src)),
            mac: None,
            ttl: net.rng.range(40, 250) as u8,
        };
        let sport = net.rng.range(1_024, 65_535) as u16;
        let seq = net.rng.next() as u32;
        net.tcp(
            t,
            (&spoofed, sport),
            (&w.server, 80),
            seq,
            0,
            SYN,
            512,
            None,
            &[],
        );
        if i < 256 {
            let sseq = net.rng.next() as u32;
            let at = t + net.rng.range(30, 80);
            net.tcp(
                at,
                (&w.server, 80),
                (&spoofed, sport),
                sseq,
                seq.wrapping_add(1),
                SYN | ACK,
                64_240,
                Some(1460),
                &[],
            );
        }
    }
}

/// Builds every frame of the demo, sorted by time.
fn frames() -> Vec<Frame> {
    let w = world();
    let mut net = Net::new(SEED);
    let [laptop, desktop, workstation, phone] =
        [w.clients[0], w.clients[1], w.clients[2], w.clients[3]];

    net.arp(400 * MS, &w.router, &workstation);
    net.arp(101 * SEC, &phone, &w.router);
    net.arp(203 * SEC, &laptop, &w.server);

    for (i, c) in w.clients.iter().enumerate() {
        let first = net.rng.range(0, 6 * SEC) + i as u64 * 700 * MS;
        browse(&mut net, &w, c, first);
        let later = net.rng.range(2, 20) * SEC;
        chatter(&mut net, &w, c, later);
    }
    ntp(&mut net, &w, &laptop, 3 * SEC + 211 * MS);
    ntp(&mut net, &w, &desktop, 17 * SEC + 830 * MS);
    ssh_session(&mut net, &w, 5 * SEC + 120 * MS, &desktop);
    let mut t = 12 * SEC;
    while t < END {
        // Nobody uses the server in the ten seconds before the flood, so
        // the flood opens a fresh ten-second window of the SYN detector:
        // it fires on the same packet however the rest is tuned.
        if t > 190 * SEC && t < 217 * SEC {
            t = 217 * SEC + net.rng.range(0, 999) * MS;
        }
        let who = if net.rng.chance(50) { &laptop } else { &phone };
        http_session(&mut net, &w, t, who);
        t += net.rng.range(15, 60) * SEC;
    }
    net.pings(33 * SEC, &phone, &w.router, 4, 310);
    net.pings(150 * SEC, &laptop, &w.sites[0].host, 5, 24 * MS);

    // IPv6: the laptop's two sessions with a dual-stacked site.
    https_session(&mut net, &w, 70 * SEC, &w.laptop6, &w.site6, 3);
    https_session(&mut net, &w, 232 * SEC, &w.laptop6, &w.site6, 2);
    // A software update and a photo upload.
    https_bulk(&mut net, &w, 95 * SEC, &laptop, &w.sites[4], 700_000, 0);
    https_bulk(&mut net, &w, 250 * SEC, &phone, &w.sites[3], 0, 280_000);

    port_scan(&mut net, &w, 45 * SEC);
    dns_tunnel(&mut net, &w, &workstation, 120 * SEC, 180 * SEC);
    syn_flood(&mut net, &w, 210 * SEC);

    let mut frames = net.frames;
    frames.sort_by_key(|f| (f.t_us, f.order));
    frames
}

/// Writes the demo capture to `out` (any writer).
pub fn write_demo<W: Write>(out: W) -> io::Result<Summary> {
    let mut w = PcapngWriter::new(out)?;
    let iface = w.interface_named(LINKTYPE_ETHERNET, SNAPLEN, 6, "eth0")?;
    let start = Timestamp::from_secs(START_SECS);
    let mut s = Summary {
        file_bytes: 28 + 40,
        ..Summary::default()
    };
    for f in frames() {
        let kept = &f.data[..f.data.len().min(SNAPLEN as usize)];
        let ts = start.add_nanos(f.t_us as i64 * 1_000);
        w.packet(iface, ts, kept, f.data.len() as u32)?;
        s.packets += 1;
        s.wire_bytes += f.data.len() as u64;
        s.file_bytes += 32 + kept.len().next_multiple_of(4) as u64;
    }
    w.finish()?.flush()?;
    Ok(s)
}

/// Writes the demo capture to the file `path`.
pub fn write_demo_file(path: &Path) -> io::Result<Summary> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    write_demo(BufWriter::new(File::create(path)?))
}

fn main() -> ExitCode {
    let path = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("samples/demo.pcapng"), PathBuf::from);
    match write_demo_file(&path) {
        Ok(s) => {
            println!(
                "{}: {} packets, {} bytes on the wire, {} bytes of file",
                path.display(),
                s.packets,
                s.wire_bytes,
                s.file_bytes
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("demo_capture: {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
