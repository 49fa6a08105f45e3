//! TcpAnalysis against tshark's TCP analysis on the shared corpus: per TCP
//! connection, the counts of tshark's `tcp.analysis.retransmission`,
//! `fast_retransmission`, `out_of_order`, `duplicate_ack`, `zero_window` and
//! its `initial_rtt`, kept in `tests/data/tcp-oracle.tsv.gz`
//! (`scripts/tcp-oracle.sh`). Prints the share of connections that agree
//! exactly per measure and fails below the floors measured when it was
//! written (docs/TCP.md).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::net::IpAddr;
use std::path::Path;

use wirewatch_flow::{TcpAnalysis, TcpSeg};
use wirewatch_wire::tcp::TcpHeader;
use wirewatch_wire::{decode, proto, DecodeOptions};

/// The measures compared, in the oracle's column order.
const MEASURES: [&str; 6] = [
    "retransmission",
    "fast_retransmission",
    "out_of_order",
    "duplicate_ack",
    "zero_window",
    "initial_rtt",
];

/// Floors of the exact-agreement shares (per mille), measured on the corpus
/// with tshark 4.0.17; a regression below one fails.
const FLOORS_PER_MILLE: [u32; 6] = [996, 999, 999, 999, 1000, 999];

/// One end of a connection.
type End = (IpAddr, u16);
/// A connection: its two ends, lower first.
type Key = (End, End);

/// What is compared per connection: five counts and the initial RTT (ns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Measures {
    counts: [u64; 5],
    initial_rtt_nanos: Option<u64>,
}

impl Measures {
    /// Whether `self` (ours) agrees with `tshark` on measure `i`. tshark
    /// shows the initial RTT only on later packets that carry other analysis
    /// (an ACK of a segment, a flag), and takes a SYN at time 0 for none: a
    /// value of ours where it shows none is not a disagreement (counted
    /// apart, see [`Tally::rtt_ours_only`]).
    fn agrees(&self, tshark: &Measures, i: usize) -> bool {
        if i < 5 {
            self.counts[i] == tshark.counts[i]
        } else {
            tshark.initial_rtt_nanos.is_none() || self.initial_rtt_nanos == tshark.initial_rtt_nanos
        }
    }

    fn quiet(&self) -> bool {
        self.counts == [0; 5] && self.initial_rtt_nanos.is_none()
    }
}

fn key(a: End, b: End) -> Key {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// tshark's seconds with nine decimals → nanoseconds.
fn nanos(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.')?;
    let frac = format!("{frac:0<9}");
    Some(whole.parse::<u64>().ok()? * 1_000_000_000 + frac[..9].parse::<u64>().ok()?)
}

/// The oracle's connections per capture (tshark streams of the same
/// addresses and ports summed), and its count of quiet streams.
#[derive(Default)]
struct Oracle {
    flagged: HashMap<Key, Measures>,
    quiet: u64,
}

fn load_oracle() -> Vec<(String, Oracle)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tcp-oracle.tsv.gz");
    let file = BufReader::new(File::open(&path).expect("the oracle is in the repository"));
    let mut text = String::new();
    wirewatch_capture::maybe_gunzip(file)
        .and_then(|mut r| r.read_to_string(&mut text))
        .expect("a gzipped oracle");
    let mut out: Vec<(String, Oracle)> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        assert_eq!(c.len(), 13, "oracle line {line:?}");
        if out.last().is_none_or(|(cap, _)| cap != c[0]) {
            out.push((c[0].to_string(), Oracle::default()));
        }
        let o = &mut out.last_mut().unwrap().1;
        if c[1] == "quiet" {
            o.quiet = c[6].parse().unwrap();
            continue;
        }
        let end = |a: &str, p: &str| (a.parse::<IpAddr>().unwrap(), p.parse::<u16>().unwrap());
        let m = o
            .flagged
            .entry(key(end(c[2], c[3]), end(c[4], c[5])))
            .or_default();
        for i in 0..5 {
            m.counts[i] += c[7 + i].parse::<u64>().unwrap();
        }
        m.initial_rtt_nanos = m.initial_rtt_nanos.or(nanos(c[12]));
    }
    out
}

/// Our analysis of every TCP connection in a capture (the innermost IP
/// layer's TCP header), with the direction of its first packet as 0; `None`
/// when the capture cannot be opened.
fn ours(path: &Path) -> Option<HashMap<Key, (End, TcpAnalysis)>> {
    let mut r = wirewatch_capture::open(path).ok()?;
    let opts = DecodeOptions {
        descend_tunnels: true,
    };
    let mut flows: HashMap<Key, (End, TcpAnalysis)> = HashMap::new();
    // A read error ends the capture: keep what was read, as tshark does.
    while let Ok(Some(f)) = r.next_frame() {
        let meta = decode(f.link_type, f.ts, f.data, f.wire_len, &opts);
        let Some(l) = meta.layers.inner() else {
            continue;
        };
        if l.protocol != proto::TCP || l.is_later_fragment() {
            continue;
        }
        let Some(h) = TcpHeader::of_layer(f.data, l) else {
            continue;
        };
        let (src, dst) = ((l.src, h.src_port()), (l.dst, h.dst_port()));
        let (first, a) = flows
            .entry(key(src, dst))
            .or_insert_with(|| (src, TcpAnalysis::new()));
        let dir = usize::from(src != *first);
        a.observe(dir, &TcpSeg::from_header(f.ts, &h, l.l4_len));
    }
    Some(flows)
}

fn measures(a: &TcpAnalysis) -> Measures {
    let (c0, c1) = (a.counters(0), a.counters(1));
    Measures {
        counts: [
            c0.retransmissions + c1.retransmissions,
            c0.fast_retransmissions + c1.fast_retransmissions,
            c0.out_of_order + c1.out_of_order,
            c0.duplicate_acks + c1.duplicate_acks,
            c0.zero_window + c1.zero_window,
        ],
        initial_rtt_nanos: a.handshake().initial_nanos,
    }
}

/// Tallies over all connections.
#[derive(Default)]
struct Tally {
    connections: u64,
    agree: [u64; 6],
    tshark_streams: u64,
    quiet_tshark: u64,
    quiet_ours: u64,
    /// Connections with an initial RTT of ours and none shown by tshark.
    rtt_ours_only: u64,
    unreadable: Vec<String>,
    shown: usize,
}

impl Tally {
    /// Compares one connection (tshark's measures `theirs`, all zero when it
    /// flagged nothing).
    fn add(&mut self, cap: &str, k: &Key, ours: &Measures, theirs: &Measures) {
        self.connections += 1;
        if theirs.initial_rtt_nanos.is_none() && ours.initial_rtt_nanos.is_some() {
            self.rtt_ours_only += 1;
        }
        for i in 0..6 {
            self.agree[i] += u64::from(ours.agrees(theirs, i));
        }
        if (0..6).any(|i| !ours.agrees(theirs, i)) && self.shown < 25 {
            self.shown += 1;
            eprintln!("differs {cap} {k:?}: ours {ours:?} tshark {theirs:?}");
        }
    }
}

fn compare(corpus: &Path, cap: &str, o: &Oracle, t: &mut Tally) {
    t.tshark_streams += o.flagged.len() as u64 + o.quiet;
    t.quiet_tshark += o.quiet;
    let Some(flows) = ours(&corpus.join(cap)) else {
        t.unreadable.push(cap.to_string());
        return;
    };
    for (k, theirs) in &o.flagged {
        let mine = flows.get(k).map(|(_, a)| measures(a)).unwrap_or_default();
        t.add(cap, k, &mine, theirs);
    }
    // The others are quiet for tshark.
    for (k, (_, a)) in flows.iter().filter(|(k, _)| !o.flagged.contains_key(*k)) {
        let mine = measures(a);
        t.add(cap, k, &mine, &Measures::default());
        t.quiet_ours += u64::from(mine.quiet());
    }
}

#[test]
fn tcp_analysis_agrees_with_tshark_on_the_corpus() {
    let corpus = wirewatch_testkit::require!(wirewatch_testkit::shared("corpus"));
    let mut t = Tally::default();
    for (cap, o) in load_oracle() {
        compare(&corpus, &cap, &o, &mut t);
    }
    eprintln!(
        "{} connections compared (tshark: {} streams); quiet (nothing flagged, no \
         handshake): ours {}, tshark {}; an initial RTT tshark does not show: {}; \
         unreadable here: {:?}",
        t.connections,
        t.tshark_streams,
        t.quiet_ours,
        t.quiet_tshark,
        t.rtt_ours_only,
        t.unreadable
    );
    let mut low = Vec::new();
    for i in 0..6 {
        let per_mille = (t.agree[i] * 1000 / t.connections.max(1)) as u32;
        eprintln!(
            "{:<20} {:>6}/{} agree exactly ({:.1} %)",
            MEASURES[i],
            t.agree[i],
            t.connections,
            t.agree[i] as f64 * 100.0 / t.connections.max(1) as f64
        );
        if per_mille < FLOORS_PER_MILLE[i] {
            low.push(format!(
                "{} {per_mille}‰ < {}‰",
                MEASURES[i], FLOORS_PER_MILLE[i]
            ));
        }
    }
    assert!(
        t.connections > 1000,
        "the corpus has thousands of TCP connections"
    );
    assert!(low.is_empty(), "below the floors: {low:?}");
}
