//! DNS tunnel and beaconing heuristics: generated traffic, parser
//! robustness, and the labeled real captures when they are present.

use std::net::IpAddr;

use proptest::prelude::*;
use wirewatch_detect::heuristics::{beacon, dns};
use wirewatch_detect::{Alert, DetectConfig, Engine, Entity, Kind, Obs, PacketDetector};
use wirewatch_wire::{build, decode, linktype, proto, DecodeOptions, Timestamp};

// ---------------------------------------------------------------- helpers

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn word(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize] as char)
            .collect()
    }
}

const BASE32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
const HEX: &[u8] = b"0123456789abcdef";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ts(secs: f64) -> Timestamp {
    Timestamp::from_secs_nanos(1_700_000_000, (secs * 1e9) as i64)
}

/// A DNS message with one question.
fn dns_msg(id: u16, response: bool, name: &str, qtype: u16) -> Vec<u8> {
    let flags: u16 = if response { 0x8180 } else { 0x0100 };
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, u8::from(response), 0, 0, 0, 0]);
    for l in name.split('.').filter(|l| !l.is_empty()) {
        m.push(l.len() as u8);
        m.extend_from_slice(l.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    if response {
        // One answer pointing at the question's name: some bytes back.
        m.extend_from_slice(&[0xC0, 12]);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    }
    m
}

/// One frame to decode: time, Ethernet bytes.
struct Frame {
    ts: Timestamp,
    data: Vec<u8>,
}

/// A UDP datagram at `t` seconds.
fn udp_at(t: f64, src: IpAddr, sport: u16, dst: IpAddr, dport: u16, payload: &[u8]) -> Frame {
    Frame {
        ts: ts(t),
        data: build::udp_frame(src, sport, dst, dport, payload),
    }
}

/// A TCP segment without payload at `t` seconds.
fn tcp_at(t: f64, src: IpAddr, sport: u16, dst: IpAddr, dport: u16, flags: u8) -> Frame {
    Frame {
        ts: ts(t),
        data: build::tcp_frame(src, sport, dst, dport, flags, &[]),
    }
}

/// A query and its answer, 2 ms apart.
fn exchange(
    frames: &mut Vec<Frame>,
    t: f64,
    client: IpAddr,
    resolver: IpAddr,
    name: &str,
    qtype: u16,
) {
    let id = frames.len() as u16;
    let sport = 40_000 + (frames.len() % 20_000) as u16;
    frames.push(udp_at(
        t,
        client,
        sport,
        resolver,
        53,
        &dns_msg(id, false, name, qtype),
    ));
    frames.push(udp_at(
        t + 0.002,
        resolver,
        53,
        client,
        sport,
        &dns_msg(id, true, name, qtype),
    ));
}

/// Runs frames (sorted by time) through an engine with the given detector
/// and returns its alerts and per-packet scores.
fn run(det: Box<dyn PacketDetector>, frames: &mut [Frame]) -> (Vec<Alert>, Vec<f64>) {
    frames.sort_by_key(|f| f.ts);
    let mut e = Engine::with_detectors(&DetectConfig::default(), vec![det], Vec::new());
    let mut scores = Vec::with_capacity(frames.len());
    for f in frames.iter() {
        let meta = decode(
            linktype::ETHERNET,
            f.ts,
            &f.data,
            f.data.len() as u32,
            &DecodeOptions::default(),
        );
        let o = Obs::new(&meta, &f.data, 0).expect("an IP frame");
        scores.push(e.packet(&o)[0]);
    }
    (e.take_alerts(), scores)
}

fn tunnel() -> Box<dyn PacketDetector> {
    Box::new(dns::DnsTunnel::new(&dns::Config::default()))
}

fn beaconing() -> Box<dyn PacketDetector> {
    Box::new(beacon::Beaconing::new(&beacon::Config::default()))
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

// ------------------------------------------------------ generated DNS traffic

#[test]
fn a_txt_tunnel_fires_once_with_its_numbers() {
    let client = ip("10.0.0.5");
    let resolver = ip("10.0.0.1");
    let mut rng = Rng(7);
    let mut frames = Vec::new();
    // 300 queries in a minute: 50 random base32 characters in one label
    // under t.example.com, TXT.
    for i in 0..300 {
        let name = format!("{}.t.example.com", rng.word(BASE32, 50));
        exchange(
            &mut frames,
            i as f64 * 0.19,
            client,
            resolver,
            &name,
            dns::TXT,
        );
    }
    // Some ordinary lookups by the same client on the side.
    for i in 0..30 {
        exchange(
            &mut frames,
            i as f64 * 2.0 + 0.1,
            client,
            resolver,
            "www.example.org",
            1,
        );
    }
    let (alerts, scores) = run(tunnel(), &mut frames);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a.kind, Kind::DnsTunnel);
    assert_eq!(
        a.entity,
        Entity::Domain {
            client,
            domain: "example.com".into()
        }
    );
    // It fires on the first query that reaches the threshold: the numbers
    // are those of that moment. Subdomain "xxxx(50).t" is 52 characters.
    let n: u32 = a.summary.split(' ').nth(2).unwrap().parse().unwrap();
    assert!((10..=30).contains(&n), "{n}");
    let want = format!("10.0.0.5 sent {n} queries for {n} unique names under example.com in");
    assert!(a.summary.starts_with(&want), "{}", a.summary);
    assert!(
        a.summary.contains("mean subdomain 52 characters"),
        "{}",
        a.summary
    );
    assert!(a.summary.contains("100 % TXT"), "{}", a.summary);
    assert!(a.summary.contains("ordinary domains get a few short names"));
    assert!(a.evidence.observed >= 1.0 && a.evidence.threshold == 1.0);
    assert_eq!(a.evidence.contributors.len(), 4);
    assert!(a
        .evidence
        .contributors
        .windows(2)
        .all(|w| w[0].value >= w[1].value));
    assert!(a.action.contains("example.com"));
    // Every tunnel query and answer after the first window scores high;
    // the side lookups score nothing like it.
    assert!(max(&scores) > 5.0, "{}", max(&scores));
    println!("tunnel: {}", a.summary);
}

#[test]
fn a_dozen_very_long_random_names_fire() {
    let client = ip("192.168.1.17");
    let resolver = ip("192.168.1.1");
    let mut rng = Rng(11);
    let mut frames = Vec::new();
    for i in 0..12 {
        // Two 30-character hex labels, A queries: long and random only.
        let name = format!("{}.{}.c2.example.net", rng.word(HEX, 30), rng.word(HEX, 30));
        exchange(&mut frames, i as f64, client, resolver, &name, 1);
    }
    let (alerts, _) = run(tunnel(), &mut frames);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].kind, Kind::DnsTunnel);
}

#[test]
fn benign_generated_dns_stays_silent() {
    let client = ip("192.168.1.20");
    let resolver = ip("192.168.1.1");
    let mut rng = Rng(3);
    let common = [
        "www.google.com",
        "mail.google.com",
        "fonts.googleapis.com",
        "www.youtube.com",
        "i.ytimg.com",
        "www.wikipedia.org",
        "en.wikipedia.org",
        "upload.wikimedia.org",
        "github.com",
        "api.github.com",
        "avatars.githubusercontent.com",
        "www.bbc.co.uk",
        "static.files.bbci.co.uk",
        "ocsp.digicert.com",
        "r3.o.lencr.org",
        "time.apple.com",
        "connectivity-check.ubuntu.com",
        "www.amazon.com",
        "images-na.ssl-images-amazon.com",
        "login.microsoftonline.com",
        "outlook.office365.com",
        "slack.com",
        "edge.slack.com",
        "www.reddit.com",
        "styles.redditmedia.com",
        "news.ycombinator.com",
        "cdn.jsdelivr.net",
        "www.abc.net.au",
        "cloudflare-dns.com",
        "_dmarc.example.com",
    ];
    let mut frames = Vec::new();
    // Ten minutes of browsing: common names, repeated.
    for i in 0..600 {
        let name = common[(rng.next() % common.len() as u64) as usize];
        let qtype = if rng.next().is_multiple_of(2) { 1 } else { 28 };
        exchange(
            &mut frames,
            i as f64 + rng.unit(),
            client,
            resolver,
            name,
            qtype,
        );
    }
    // A CDN with hashed but short names: 40 new ones a minute, A and AAAA,
    // plus a service that resolves its own hashed hosts with HTTPS records.
    for i in 0..400 {
        let name = format!("{}.cdn.examplecdn.net", rng.word(HEX, 12));
        exchange(
            &mut frames,
            i as f64 * 1.5,
            client,
            resolver,
            &name,
            1 + 27 * (i % 2),
        );
    }
    for i in 0..100 {
        let name = format!("e{}.a.akamaiedge.net", rng.word(b"0123456789", 4));
        exchange(
            &mut frames,
            i as f64 * 6.0 + 0.3,
            client,
            resolver,
            &name,
            65,
        );
    }
    // Reverse lookups of a whole subnet: many names, numbers, not data.
    for i in 0..200u32 {
        let name = format!("{}.{}.168.192.in-addr.arpa", i % 250 + 1, i / 250 + 1);
        exchange(
            &mut frames,
            100.0 + i as f64 * 0.1,
            client,
            resolver,
            &name,
            12,
        );
    }
    let (alerts, scores) = run(tunnel(), &mut frames);
    assert!(alerts.is_empty(), "{alerts:#?}");
    let top = max(&scores);
    println!("benign generated DNS: highest score {top:.3}");
    assert!(top < 0.5, "{top}");
}

// ------------------------------------------------------------ beaconing

/// TCP connections (SYN, SYN-ACK, ACK) at the given times.
fn connections(frames: &mut Vec<Frame>, times: &[f64], src: IpAddr, dst: IpAddr, dport: u16) {
    for (i, &t) in times.iter().enumerate() {
        let sport = 50_000 + i as u16;
        frames.push(tcp_at(t, src, sport, dst, dport, 0x02));
        frames.push(tcp_at(t + 0.03, dst, dport, src, sport, 0x12));
        frames.push(tcp_at(t + 0.031, src, sport, dst, dport, 0x10));
    }
}

#[test]
fn a_beacon_every_30_s_with_jitter_fires_with_its_period() {
    let src = ip("10.0.0.5");
    let dst = ip("203.0.113.7");
    let mut rng = Rng(99);
    // Every 30 s ± 10 % (uniform), 14 check-ins.
    let times: Vec<f64> = (0..14)
        .map(|i| 100.0 + i as f64 * 30.0 + (rng.unit() - 0.5) * 6.0)
        .collect();
    let mut frames = Vec::new();
    connections(&mut frames, &times, src, dst, 443);
    // A retransmitted SYN is not a check-in.
    frames.push(tcp_at(times[3] + 1.0, src, 50_003, dst, 443, 0x02));
    let (alerts, scores) = run(beaconing(), &mut frames);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a.kind, Kind::Beaconing);
    assert_eq!(
        a.entity,
        Entity::Flow {
            src,
            dst,
            dst_port: 443,
            protocol: proto::TCP
        }
    );
    // It fires at the 11th start (10 intervals).
    assert!(
        a.summary
            .starts_with("10.0.0.5 connected to 203.0.113.7:443/tcp every 30 s ± "),
        "{}",
        a.summary
    );
    let span = format!("(11 times in {:.1} min)", (times[10] - times[0]) / 60.0);
    assert!(a.summary.contains(&span), "{} {span}", a.summary);
    assert!(a.evidence.observed <= 0.15);
    assert!(max(&scores) >= 1.0);
    println!("beacon: {}", a.summary);
}

#[test]
fn a_beacon_with_a_missed_beat_still_fires() {
    let src = ip("10.0.0.6");
    let dst = ip("198.51.100.9");
    let mut times: Vec<f64> = (0..14)
        .map(|i| i as f64 * 60.0 + (i % 3) as f64 * 0.3)
        .collect();
    times.remove(5);
    let mut frames = Vec::new();
    connections(&mut frames, &times, src, dst, 8443);
    let (alerts, _) = run(beaconing(), &mut frames);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert!(
        alerts[0].summary.contains("every 60 s"),
        "{}",
        alerts[0].summary
    );
    assert!(
        alerts[0].summary.contains("1 missed beat"),
        "{}",
        alerts[0].summary
    );
}

#[test]
fn a_udp_beacon_fires() {
    let src = ip("10.0.0.7");
    let dst = ip("192.0.2.200");
    let mut frames = Vec::new();
    for i in 0..12 {
        let t = i as f64 * 20.0;
        // A check-in: a request and two answers, then silence.
        frames.push(udp_at(t, src, 40_001, dst, 9999, b"hello"));
        frames.push(udp_at(t + 0.05, dst, 9999, src, 40_001, b"nothing for you"));
        frames.push(udp_at(t + 0.1, src, 40_001, dst, 9999, b"bye"));
    }
    let (alerts, _) = run(beaconing(), &mut frames);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert!(
        alerts[0]
            .summary
            .contains("192.0.2.200:9999/udp every 20 s"),
        "{}",
        alerts[0].summary
    );
}

#[test]
fn random_connection_starts_stay_silent() {
    // Poisson starts (mean 30 s apart) to one destination, 40 of them, for
    // twenty different seeds.
    let src = ip("10.0.0.5");
    let dst = ip("203.0.113.8");
    let mut top = 0.0f64;
    for seed in 1..=20 {
        let mut rng = Rng(seed * 7919);
        let mut t = 0.0;
        let times: Vec<f64> = (0..40)
            .map(|_| {
                t += -30.0 * (1.0 - rng.unit()).ln();
                t
            })
            .collect();
        let mut frames = Vec::new();
        connections(&mut frames, &times, src, dst, 443);
        let (alerts, scores) = run(beaconing(), &mut frames);
        assert!(alerts.is_empty(), "seed {seed}: {alerts:#?}");
        top = top.max(max(&scores));
    }
    println!("Poisson starts: highest score {top:.3}");
    assert!(top < 1.0);
}

#[test]
fn ntp_every_64_s_stays_silent() {
    let src = ip("10.0.0.5");
    let server = ip("192.0.2.123");
    let mut frames = Vec::new();
    for i in 0..40 {
        let t = i as f64 * 64.0;
        frames.push(udp_at(t, src, 123, server, 123, &[0x23; 48]));
        frames.push(udp_at(t + 0.02, server, 123, src, 123, &[0x24; 48]));
    }
    let (alerts, scores) = run(beaconing(), &mut frames);
    assert!(alerts.is_empty(), "{alerts:#?}");
    assert_eq!(max(&scores), 0.0);
}

// ------------------------------------------------------- parser robustness

/// An `Obs` carrying `payload` to port 53 over UDP or TCP.
fn obs_for<'a>(l4: &'a [u8], protocol: u8) -> Obs<'a> {
    Obs {
        ts: ts(0.0),
        iface: 0,
        src: ip("10.0.0.1"),
        dst: ip("10.0.0.2"),
        protocol,
        src_port: 5353,
        dst_port: 53,
        has_ports: true,
        ip_len: l4.len() as u32 + 20,
        tcp_flags: 0x18,
        later_fragment: false,
        l4,
    }
}

#[test]
fn known_messages_parse() {
    let m = dns_msg(0xBEEF, false, "abc.Example.COM", dns::TXT);
    let q = dns::parse(&m).unwrap();
    assert_eq!(
        (q.id, q.response, q.qtype, q.qclass),
        (0xBEEF, false, dns::TXT, 1)
    );
    assert_eq!(q.name(), "abc.example.com");
    let labels: Vec<&[u8]> = q.labels().collect();
    assert_eq!(labels, vec![&b"abc"[..], b"Example", b"COM"]);
    let m2 = dns_msg(1, true, "x.y", dns::NULL);
    let r = dns::parse(&m2).unwrap();
    assert!(r.response && r.qtype == dns::NULL);

    // Over TCP: the 2-byte length prefix after a 20-byte TCP header.
    let mut seg = build::tcp(40_000, 53, 0x18, &[]);
    seg.extend_from_slice(&(m.len() as u16).to_be_bytes());
    seg.extend_from_slice(&m);
    let o = obs_for(&seg, proto::TCP);
    let q = dns::parse(dns::message(&o).unwrap()).unwrap();
    assert_eq!(q.name(), "abc.example.com");
    // Over UDP.
    let d = build::udp(40_000, 53, &m);
    let o = obs_for(&d, proto::UDP);
    assert_eq!(
        dns::parse(dns::message(&o).unwrap()).unwrap().qtype,
        dns::TXT
    );
    // Not port 53: not DNS.
    let mut o = obs_for(&d, proto::UDP);
    o.dst_port = 5353;
    assert!(dns::message(&o).is_none());
}

#[test]
fn compression_loops_are_refused() {
    // A name that is a pointer to itself, and one pointing at the header.
    for target in [12u8, 0] {
        let m = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, target, 0, 1, 0, 1];
        assert!(dns::parse(&m).is_none());
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Some(q) = dns::parse(&data) {
            prop_assert!(q.name_len() <= 253);
            prop_assert!(q.label_count() <= dns::MAX_LABELS);
            prop_assert!(q.labels().all(|l| l.len() <= 63));
            let _ = q.name();
        }
        let mut d = tunnel();
        let mut out = Vec::new();
        for protocol in [proto::UDP, proto::TCP] {
            let s = d.packet(&obs_for(&data, protocol), &mut out);
            prop_assert!(s.is_finite() && s >= 0.0);
        }
    }

    #[test]
    fn corrupted_queries_never_panic(
        name in "[a-z0-9]{1,40}(\\.[a-z0-9]{1,40}){0,4}",
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
    ) {
        let mut m = dns_msg(7, false, &name, 16);
        prop_assert!(dns::parse(&m).is_some());
        for (at, v) in flips {
            let n = m.len();
            m[at % n] = v;
        }
        let n = m.len();
        m.truncate(cut % (n + 1));
        if let Some(q) = dns::parse(&m) {
            prop_assert!(q.name_len() <= 253);
        }
        let mut d = tunnel();
        let mut out = Vec::new();
        let l4 = build::udp(40_000, 53, &m);
        d.packet(&obs_for(&l4, proto::UDP), &mut out);
    }
}

// ---------------------------------------------------------- real captures

/// Runs a capture through one detector; alerts and per-packet scores (0
/// for frames without IP), in file order.
fn run_capture(path: &std::path::Path, det: Box<dyn PacketDetector>) -> (Vec<Alert>, Vec<f64>) {
    let mut r = wirewatch_capture::open(path).expect("a readable capture");
    let mut e = Engine::with_detectors(&DetectConfig::default(), vec![det], Vec::new());
    let mut scores = Vec::new();
    let opts = DecodeOptions::default();
    while let Some(f) = r.next_frame().expect("a readable frame") {
        let meta = decode(f.link_type, f.ts, f.data, f.wire_len, &opts);
        scores.push(match Obs::new(&meta, f.data, 0) {
            Some(o) => e.packet(&o)[0],
            None => 0.0,
        });
    }
    (e.take_alerts(), scores)
}

/// ROC AUC by ranks (ties get their average rank) and average precision
/// (ties taken as one threshold step).
fn auc_ap(scores: &[f64], labels: &[bool]) -> (f64, f64) {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let pos = labels.iter().filter(|&&l| l).count() as f64;
    let neg = labels.len() as f64 - pos;
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += idx[i..=j].iter().filter(|&&k| labels[k]).count() as f64 * avg;
        i = j + 1;
    }
    let auc = (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg);
    // Descending thresholds.
    let (mut tp, mut fp, mut ap, mut last_recall) = (0.0, 0.0, 0.0, 0.0);
    let mut i = idx.len();
    while i > 0 {
        let mut j = i - 1;
        while j > 0 && scores[idx[j - 1]] == scores[idx[i - 1]] {
            j -= 1;
        }
        for &k in &idx[j..i] {
            if labels[k] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
        }
        let recall = tp / pos;
        ap += (recall - last_recall) * tp / (tp + fp);
        last_recall = recall;
        i = j;
    }
    (auc, ap)
}

#[test]
fn auc_helper_matches_hand_counts() {
    let (auc, ap) = auc_ap(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
    assert!((auc - 0.75).abs() < 1e-12);
    assert!((ap - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
    // All tied: AUC one half.
    let (auc, _) = auc_ap(&[1.0; 4], &[false, true, false, true]);
    assert!((auc - 0.5).abs() < 1e-12);
}

#[test]
fn short_tunnel_captures_fire() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("labeled"));
    for name in [
        "tunnel-dnscat2-small.pcap",
        "tunnel-iodine-small.pcap",
        "tunnel-dns2tcp-small.pcap",
    ] {
        let (alerts, scores) = run_capture(&dir.join(name), tunnel());
        println!(
            "{name}: {} alerts, highest score {:.2}",
            alerts.len(),
            max(&scores)
        );
        for a in &alerts {
            println!("  {} [{}] {}", a.entity, a.severity, a.summary);
        }
        assert_eq!(alerts.len(), 1, "{name}");
        assert_eq!(alerts[0].kind, Kind::DnsTunnel);
    }
}

#[test]
fn benign_dns_capture_stays_silent() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("labeled"));
    let (alerts, scores) = run_capture(&dir.join("benign-dns-00000.pcap"), tunnel());
    for a in &alerts {
        println!("false alarm: {} {}", a.entity, a.summary);
    }
    let above = scores.iter().filter(|&&s| s >= 0.5).count();
    println!(
        "benign-dns-00000: {} packets, {} alerts, highest score {:.3}, {above} packets at 0.5 or more",
        scores.len(),
        alerts.len(),
        max(&scores)
    );
    assert!(alerts.is_empty());
}

#[test]
fn mixed_captures_rank_tunnel_packets_first() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("labeled"));
    // Floors a little under what was measured (see the report).
    for (name, auc_floor, ap_floor) in [
        ("dns-mix-dnscat2", 0.999, 0.999),
        ("dns-mix-iodine", 0.999, 0.999),
    ] {
        let (alerts, scores) = run_capture(&dir.join(format!("{name}.pcap")), tunnel());
        let labels: Vec<bool> = std::fs::read_to_string(dir.join(format!("{name}.labels")))
            .unwrap()
            .lines()
            .map(|l| l.trim() == "1")
            .collect();
        assert_eq!(labels.len(), scores.len(), "{name}");
        let (auc, ap) = auc_ap(&scores, &labels);
        let mut kinds: Vec<String> = alerts
            .iter()
            .map(|a| format!("{} ({})", a.entity, a.severity))
            .collect();
        kinds.dedup();
        println!("{name}: ROC AUC {auc:.4}, average precision {ap:.4}; alerts: {kinds:?}");
        for a in alerts.iter().take(2) {
            println!("  {}", a.summary);
        }
        assert!(auc >= auc_floor && ap >= ap_floor, "{name}: {auc} {ap}");
        assert!(alerts
            .iter()
            .all(|a| matches!(&a.entity, Entity::Domain { domain, .. } if domain == "ggy666.tk")));
        assert!(!alerts.is_empty());
    }
}

#[test]
fn botnet_cc_beacons() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("labeled"));
    let (alerts, scores) = run_capture(&dir.join("botnet-cc.pcap"), beaconing());
    for a in &alerts {
        println!("botnet-cc: {} [{}] {}", a.entity, a.severity, a.summary);
    }
    println!(
        "botnet-cc: {} alerts, highest score {:.2}",
        alerts.len(),
        max(&scores)
    );
    // New TLS connections to 141.193.213.21:443 every 2.2 s: the C&C poll.
    assert!(!alerts.is_empty());
    assert!(alerts.iter().all(|a| a.entity
        == Entity::Flow {
            src: ip("147.32.80.37"),
            dst: ip("141.193.213.21"),
            dst_port: 443,
            protocol: proto::TCP
        }));
}

#[test]
fn other_labeled_captures_for_the_record() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("labeled"));
    // Not assertions about these files' attacks: what these two detectors
    // say about them, printed for the evaluation notes. Neither may call
    // the DDoS captures a DNS tunnel.
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".pcap"))
        .collect();
    names.sort();
    for name in names {
        let (dns_alerts, _) = run_capture(&dir.join(&name), tunnel());
        let (beacons, _) = run_capture(&dir.join(&name), beaconing());
        println!(
            "{name}: {} dns_tunnel, {} beaconing",
            dns_alerts.len(),
            beacons.len()
        );
        for a in beacons.iter().take(3) {
            println!("  beaconing {}: {}", a.entity, a.summary);
        }
        if name.starts_with("ddos-") {
            assert!(dns_alerts.is_empty(), "{name}");
        }
    }
}
