//! Milliseconds per screen picture (`Snapshot::build_top`, the first 30
//! entries) in the host-pair view of a table of 100,400 analysed TCP
//! connections, each its own host pair (the screen's worst case, as
//! `HOSTS=1 scripts/bench-tui.sh`), sorted by the 10 s rate (ranked on
//! additive sums, then only the first entries built) and by retransmissions
//! and RTT (`5`, `6`: every entry built, then cut).
//!
//! Run: `cargo bench -p wirewatch-flow --bench screen_sort`.

use std::hint::black_box;
use std::time::Instant;

use wirewatch_flow::{FlowConfig, FlowTable, Snapshot, SortKey, TcpSeg, View};
use wirewatch_wire::build::{eth, ipv4, tcp};
use wirewatch_wire::{decode, linktype, tcp_flags, DecodeOptions, Timestamp};

const ROUNDS: usize = 15;
const PAIRS: u32 = 100_400;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_nanos(1_700_000_000_000_000_000 + ms * 1_000_000)
}

/// A handshake and one data segment, resent on every third pair, per pair.
fn table() -> FlowTable {
    let mut t = FlowTable::new(FlowConfig {
        max_flows: 4 * PAIRS as usize,
        tcp_analysis: true,
        ..FlowConfig::default()
    });
    let server = "10.255.0.1".parse().unwrap();
    let opts = DecodeOptions::default();
    for n in 0..PAIRS {
        let client = format!("10.{}.{}.{}", n / 62_500, (n / 250) % 250, n % 250 + 1);
        let client = client.parse().unwrap();
        let ms = i64::from(n) / 4;
        let resent = n % 3 == 0;
        let segs = [
            (true, 0, 100, 0, tcp_flags::SYN, 0),
            (
                false,
                2 + i64::from(n % 7),
                500,
                101,
                tcp_flags::SYN | tcp_flags::ACK,
                0,
            ),
            (true, 10, 101, 501, tcp_flags::ACK, 0),
            (true, 11, 101, 501, tcp_flags::PSH | tcp_flags::ACK, 100),
            (
                true,
                if resent { 300 } else { 12 },
                201,
                501,
                tcp_flags::PSH | tcp_flags::ACK,
                100,
            ),
            (false, 320, 501, 301, tcp_flags::ACK, 0),
        ];
        for (up, dt, seq, ack, flags, len) in segs {
            let (s, d, sp, dp) = if up {
                (client, server, 40_000, 80)
            } else {
                (server, client, 80, 40_000)
            };
            let ts = at(ms + dt);
            let f = eth(
                0x0800,
                &ipv4(s, d, 6, &tcp(sp, dp, flags, &vec![0; len as usize])),
            );
            let meta = decode(linktype::ETHERNET, ts, &f, f.len() as u32, &opts);
            let mut seg = TcpSeg {
                ts,
                window: 1000,
                ..TcpSeg::default()
            };
            (seg.seq, seg.ack, seg.flags, seg.payload_len) = (seq, ack, flags, len);
            t.ingest_tcp(&meta, Some(&seg));
        }
    }
    t
}

fn main() {
    let t = table();
    let slot = t.slot_of(t.now());
    println!(
        "{} flows, {} analysed",
        t.len(),
        t.flows().filter(|f| f.tcp().is_some()).count()
    );
    for sort in [SortKey::Rate10s, SortKey::Retransmissions, SortKey::Rtt] {
        let mut ms: Vec<f64> = (0..ROUNDS)
            .map(|_| {
                let t0 = Instant::now();
                black_box(Snapshot::build_top(
                    &t,
                    View::Pair,
                    sort,
                    slot,
                    true,
                    Some(30),
                ));
                t0.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        println!(
            "{sort:?}: median {:.1} ms (min {:.1}, max {:.1})",
            ms[ROUNDS / 2],
            ms[0],
            ms[ROUNDS - 1]
        );
    }
}
