//! Flow table tests with packets built in code and a hand-driven clock.

use std::net::IpAddr;

use proptest::prelude::*;
use wirewatch_flow::{
    ByteMode, Entry, FlowConfig, FlowKey, FlowTable, LayerMode, Snapshot, SortKey, TcpSeg, View,
};
use wirewatch_testkit::{tcp_frame, udp_frame};
use wirewatch_wire::build::*;
use wirewatch_wire::{decode, linktype, tcp_flags, DecodeOptions, PacketMeta, Timestamp};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_nanos(1_700_000_000_000_000_000 + ms * 1_000_000)
}

fn pkt(t: Timestamp, frame: &[u8]) -> PacketMeta {
    decode(
        linktype::ETHERNET,
        t,
        frame,
        frame.len() as u32,
        &DecodeOptions {
            descend_tunnels: true,
        },
    )
}

fn snap(t: &FlowTable, view: View) -> Snapshot {
    Snapshot::build(t, view, SortKey::Total, t.slot_of(t.now()), false)
}

#[test]
fn iftop_rate_windows_by_hand() {
    // 100-byte IP packets (20 IP + 8 UDP + 72 payload) from A to B: one per
    // second for 12 seconds, then B answers once at t = 11.5 s.
    let mut t = FlowTable::new(FlowConfig::default());
    for s in 0..12 {
        t.ingest(&pkt(
            at(s * 1000),
            &udp_frame("10.0.0.1", 5000, "10.0.0.2", 53, 72),
        ));
    }
    t.ingest(&pkt(
        at(11_500),
        &udp_frame("10.0.0.2", 53, "10.0.0.1", 5000, 172),
    ));
    let s = snap(&t, View::Pair);
    assert_eq!(s.history_len, 6); // slots 0..=5; the report is at 11.5 s, inside slot 5
    assert_eq!(s.at, at(11_500));
    assert_eq!(s.window_secs, [2.0, 10.0, 11.5]);
    let e = &s.entries[0];
    assert_eq!(e.key.src, Some(ip("10.0.0.1")));
    // Last 2 s (9.5..11.5 s): slot 5 (10..11.5 s: 2 packets) and a quarter
    // of slot 4 (8..10 s: 2 packets) = 250 B over 2 s.
    assert_eq!(e.sent.rates[0], 125.0);
    // Last 10 s (1.5..11.5 s): slots 1..=5 hold 10 packets, and a quarter
    // of slot 0's 2 packets = 1050 B over 10 s.
    assert_eq!(e.sent.rates[1], 105.0);
    // 40 s window, but the capture covers 11.5 s: 1200 B over 11.5 s.
    assert_eq!(e.sent.rates[2], 1200.0 / 11.5);
    assert_eq!(e.recv.rates[0], 200.0 / 2.0);
    assert_eq!(e.recv.rates[2], 200.0 / 11.5);
    // Complete slots held 200 B (100 B/s); the last 2 s went faster.
    assert_eq!(e.sent.peak, 125.0);
    assert_eq!(e.sent.counters.packets, 12);
    assert_eq!(e.sent.bytes, 1200);
    assert_eq!(e.recv.bytes, 200);
    assert_eq!(s.totals.cumulative, [1200, 200, 1400]);
    assert_eq!(s.totals.rates[2][0], (250.0 + 200.0) / 2.0);

    // 30 s later, with nothing sent, the 2 s and 10 s windows are empty but
    // 40 s still remembers; peaks keep the best completed slot.
    t.advance(at(41_000));
    let s = Snapshot::build(&t, View::Pair, SortKey::Total, t.slot_of(t.now()), true);
    let e = &s.entries[0];
    assert_eq!(e.sent.rates[0], 0.0);
    assert_eq!(e.sent.rates[1], 0.0);
    // The history keeps slots 1..=20 (2..41 s: 39 s); slots 1..=5 hold 1000 B.
    assert_eq!(e.sent.rates[2], 1000.0 / 39.0);
    assert_eq!(s.totals.peak[2], (200.0 + 200.0) / 2.0); // slot 10..12 s: 2 sent + 1 received
                                                         // After 60 s the pair is idle: gone from the active view, kept in the full one.
    t.advance(at(80_000));
    let active = Snapshot::build(&t, View::Pair, SortKey::Rate10s, t.slot_of(t.now()), true);
    assert!(active.entries.is_empty());
    assert_eq!(snap(&t, View::Pair).entries.len(), 1);
}

#[test]
fn frame_bytes_mode() {
    let mut t = FlowTable::new(FlowConfig {
        bytes: ByteMode::Frame,
        ..FlowConfig::default()
    });
    t.ingest(&pkt(at(0), &udp_frame("10.0.0.1", 1, "10.0.0.2", 2, 10)));
    let e = &snap(&t, View::Pair).entries[0];
    assert_eq!(e.sent.bytes, 14 + 20 + 8 + 10);
    assert_eq!(e.sent.counters.ip_bytes, 38);
}

#[test]
fn direction_first_sender_synack_and_local_nets() {
    // Mid-stream capture starting with the SYN+ACK: the SYN side is the source anyway.
    let mut t = FlowTable::new(FlowConfig::default());
    t.ingest(&pkt(
        at(0),
        &tcp_frame(
            "10.0.0.9",
            80,
            "10.0.0.1",
            40000,
            tcp_flags::SYN | tcp_flags::ACK,
            0,
        ),
    ));
    t.ingest(&pkt(
        at(1),
        &tcp_frame("10.0.0.1", 40000, "10.0.0.9", 80, tcp_flags::ACK, 0),
    ));
    let e = &snap(&t, View::Port).entries[0];
    assert_eq!(
        (e.key.src, e.key.src_port),
        (Some(ip("10.0.0.1")), Some(40000))
    );
    assert_eq!(e.sent.counters.tcp_flags, tcp_flags::ACK);
    assert_eq!(e.recv.counters.tcp_flags, tcp_flags::SYN | tcp_flags::ACK);

    // With a local network, its host is the source whoever spoke first.
    let cfg = FlowConfig {
        local_nets: vec!["192.168.1.0/24".parse().unwrap()],
        ..FlowConfig::default()
    };
    let mut t = FlowTable::new(cfg);
    t.ingest(&pkt(
        at(0),
        &udp_frame("8.8.8.8", 53, "192.168.1.5", 3333, 0),
    ));
    let e = &snap(&t, View::Pair).entries[0];
    assert_eq!(e.key.src, Some(ip("192.168.1.5")));
    assert_eq!((e.sent.counters.packets, e.recv.counters.packets), (0, 1));
}

#[test]
fn later_fragments_follow_their_first_fragment() {
    let (s, d) = (ip("10.1.1.1"), ip("10.1.1.2"));
    let first = eth(
        0x0800,
        &ipv4_frag(s, d, 17, 77, 0, true, &udp(1111, 2222, &[0; 1472])),
    );
    let second = eth(0x0800, &ipv4_frag(s, d, 17, 77, 1480, false, &[0; 100]));
    let orphan = eth(0x0800, &ipv4_frag(s, d, 17, 78, 1480, false, &[0; 100]));
    let mut t = FlowTable::new(FlowConfig::default());
    for (i, f) in [first, second, orphan].iter().enumerate() {
        t.ingest(&pkt(at(i as i64), f));
    }
    let s = snap(&t, View::Port);
    assert_eq!(s.entries.len(), 2);
    let ported = s
        .entries
        .iter()
        .find(|e| e.key.src_port == Some(1111))
        .unwrap();
    assert_eq!(ported.sent.counters.packets, 2);
    assert_eq!(ported.sent.bytes, 1500 + 120);
    let host_pair = s
        .entries
        .iter()
        .find(|e| e.key.src_port == Some(0))
        .unwrap();
    assert_eq!(host_pair.sent.counters.packets, 1);
    assert_eq!(t.stats().orphan_fragments, 1);
    // The host-pair view folds both.
    assert_eq!(snap(&t, View::Pair).entries[0].sent.counters.packets, 3);
}

#[test]
fn views_pair_port_src_dst() {
    let mut t = FlowTable::new(FlowConfig::default());
    t.ingest(&pkt(at(0), &udp_frame("10.0.0.1", 1000, "10.0.0.2", 53, 0)));
    t.ingest(&pkt(at(1), &udp_frame("10.0.0.1", 1001, "10.0.0.2", 53, 0)));
    // A later flow opened by the other side folds into the same pair, reversed.
    t.ingest(&pkt(at(2), &udp_frame("10.0.0.2", 7, "10.0.0.1", 7, 0)));
    t.ingest(&pkt(at(3), &udp_frame("10.0.0.3", 1, "10.0.0.2", 53, 0)));
    let pairs = snap(&t, View::Pair);
    assert_eq!(pairs.entries.len(), 2);
    let p = pairs
        .entries
        .iter()
        .find(|e| e.key.src == Some(ip("10.0.0.1")))
        .unwrap();
    assert_eq!(
        (p.sent.counters.packets, p.recv.counters.packets, p.flows),
        (2, 1, 3)
    );
    assert_eq!(snap(&t, View::Port).entries.len(), 4);
    let dst = snap(&t, View::Dst);
    let to2 = dst
        .entries
        .iter()
        .find(|e| e.key.dst == Some(ip("10.0.0.2")))
        .unwrap();
    assert_eq!((to2.key.src, to2.sent.counters.packets), (None, 3));
    let src = snap(&t, View::Src);
    assert_eq!(src.entries.len(), 3);
}

#[test]
fn tunnel_layer_modes() {
    let (o1, o2, i1, i2) = (
        ip("1.0.0.1"),
        ip("1.0.0.2"),
        ip("192.168.0.1"),
        ip("192.168.0.2"),
    );
    let inner = ipv4(i1, i2, 17, &udp(5, 6, &[0; 12]));
    let frame = eth(0x0800, &ipv4(o1, o2, 47, &gre(0x0800, &inner)));
    let count = |mode| {
        let mut t = FlowTable::new(FlowConfig {
            layers: mode,
            ..FlowConfig::default()
        });
        t.ingest(&pkt(at(0), &frame));
        snap(&t, View::Pair)
            .entries
            .iter()
            .map(|e| (e.key.src.unwrap(), e.sent.bytes))
            .collect::<Vec<_>>()
    };
    assert_eq!(count(LayerMode::Outer), vec![(o1, 20 + 4 + 40)]);
    assert_eq!(count(LayerMode::Inner), vec![(i1, 40)]);
    assert_eq!(count(LayerMode::All).len(), 2);
}

#[test]
fn idle_timeout_expires_flows() {
    let cfg = FlowConfig {
        idle_timeout_nanos: Some(30_000_000_000),
        keep_expired: true,
        ..FlowConfig::default()
    };
    // Without a taker, expired flows are dropped, not kept.
    let mut t = FlowTable::new(FlowConfig {
        keep_expired: false,
        ..cfg.clone()
    });
    t.ingest(&pkt(at(0), &udp_frame("10.0.0.1", 1, "10.0.0.2", 2, 0)));
    t.ingest(&pkt(
        at(100_000),
        &udp_frame("10.0.0.3", 1, "10.0.0.4", 2, 0),
    ));
    assert_eq!(t.len(), 1);
    assert_eq!(t.drain_expired().count(), 0);
    let mut t = FlowTable::new(cfg);
    t.ingest(&pkt(at(0), &udp_frame("10.0.0.1", 1, "10.0.0.2", 2, 0)));
    t.ingest(&pkt(
        at(100_000),
        &udp_frame("10.0.0.3", 1, "10.0.0.4", 2, 0),
    ));
    assert_eq!(t.len(), 1);
    let gone: Vec<_> = t.drain_expired().collect();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].src().0, ip("10.0.0.1"));
}

/// A flood of one-packet flows from spoofed sources against a table of 64:
/// the table stays at its limit, the busy flows stay, the rest is folded
/// into "other flows" with every byte, and what was folded is counted.
#[test]
fn a_full_table_folds_the_least_active_flows() {
    let mut t = FlowTable::new(FlowConfig {
        max_flows: 64,
        ..FlowConfig::default()
    });
    let busy = |i: u16| udp_frame("10.0.0.1", 4000 + i, "10.0.0.2", 443, 500);
    let mut total = 0u64;
    let mut ms = 0;
    // The busy flows are there before the flood.
    for _ in 0..4 {
        for i in 0..4 {
            let f = busy(i);
            total += (f.len() - 14) as u64;
            t.ingest(&pkt(at(ms), &f));
        }
        ms += 10;
    }
    for round in 0..100u32 {
        for i in 0..4 {
            let f = busy(i);
            total += (f.len() - 14) as u64;
            t.ingest(&pkt(at(ms), &f));
        }
        for k in 0..100u32 {
            let n = round * 100 + k;
            let src = format!("172.{}.{}.{}", 16 + (n >> 16) % 16, (n >> 8) & 255, n & 255);
            let f = udp_frame(&src, (n % 60_000) as u16 + 1024, "10.0.0.2", 5000, 0);
            total += (f.len() - 14) as u64;
            t.ingest(&pkt(at(ms), &f));
        }
        ms += 10;
    }
    assert!(t.len() <= 64, "{} flows held", t.len());
    let held: Vec<_> = t.flows().map(|f| f.src().1).collect();
    for i in 0..4 {
        assert!(held.contains(&(4000 + i)), "busy flow {i} was folded");
    }
    let st = t.stats();
    assert_eq!(st.evicted_flows + t.len() as u64, 10_004);
    let s = snap(&t, View::Port);
    let other = s.other.as_ref().expect("an other-flows line");
    assert_eq!(other.flows, st.evicted_flows);
    let bytes: u64 = s
        .entries
        .iter()
        .chain([&other.entry])
        .map(Entry::total_bytes)
        .sum();
    assert_eq!(bytes, total);
    assert_eq!(s.totals.cumulative[2], total);
    // Folded flows had traffic in the last 40 s: the line is on screen too.
    let active = Snapshot::build(&t, View::Pair, SortKey::Rate2s, t.slot_of(t.now()), true);
    assert_eq!(active.other.map(|o| o.flows), Some(st.evicted_flows));
}

/// With a taker of per-period counts, every packet and byte is handed out
/// exactly once, whether its flow stayed, expired or was folded.
#[test]
fn folded_and_expired_flows_are_taken_once() {
    let mut t = FlowTable::new(FlowConfig {
        max_flows: 32,
        keep_expired: true,
        idle_timeout_nanos: Some(5_000_000_000),
        ..FlowConfig::default()
    });
    let (mut packets, mut bytes) = (0u64, 0u64);
    let mut taken = (0u64, 0u64);
    let mut take = |t: &mut FlowTable| {
        t.take_unrecorded(|_, d| {
            for x in d {
                taken.0 += x.packets;
                taken.1 += x.bytes;
            }
        })
    };
    for n in 0..5_000u32 {
        let src = format!("172.16.{}.{}", (n >> 8) & 255, n & 255);
        let f = udp_frame(
            &src,
            1024 + (n % 7) as u16,
            "10.0.0.2",
            53,
            (n % 50) as usize,
        );
        packets += 1;
        bytes += (f.len() - 14) as u64;
        t.ingest(&pkt(at(i64::from(n) * 40), &f));
        if n % 700 == 0 {
            take(&mut t);
        }
    }
    take(&mut t);
    assert_eq!(taken, (packets, bytes));
    let st = t.stats();
    assert!(st.evicted_flows > 0 && st.expired_flows > 0, "{st:?}");
}

fn arb_packet() -> impl Strategy<Value = (u8, u8, u16, u16, bool, usize, i64)> {
    (
        0u8..4,
        0u8..4,
        0u16..3,
        0u16..3,
        any::<bool>(),
        0usize..300,
        0i64..100_000,
    )
}

/// A TCP segment for a generated packet: a few sequence numbers reused
/// over time (so data is sent again) and ACK numbers that end some of
/// them (so some are answered).
fn arb_seg(ms: i64, len: usize) -> TcpSeg {
    let n = (ms / 7_000) as u32;
    seg(
        ms,
        (n % 5) * 1_000,
        (n % 3) * 1_000 + 300,
        tcp_flags::ACK,
        len as u32,
    )
}

/// A segment at `ms` without options, advertising a window of 1000.
fn seg(ms: i64, seq: u32, ack: u32, flags: u8, len: u32) -> TcpSeg {
    let mut s = TcpSeg::default();
    (s.ts, s.window) = (at(ms), 1000);
    (s.seq, s.ack, s.flags, s.payload_len) = (seq, ack, flags, len);
    s
}

proptest! {
    /// Flow bytes and packets sum to the packet totals, in every view.
    #[test]
    fn flow_bytes_sum_to_packet_bytes(pkts in proptest::collection::vec(arb_packet(), 1..60), max_flows in prop_oneof![Just(16usize), Just(1000)]) {
        // A small limit folds flows into "other flows": sums stay exact.
        let mut t = FlowTable::new(FlowConfig { max_flows, ..FlowConfig::default() });
        let mut sorted = pkts.clone();
        sorted.sort_by_key(|p| p.6);
        let mut total_ip = 0u64;
        for (a, b, sp, dp, tcpp, len, ms) in sorted {
            let (s, d) = (format!("10.0.0.{a}"), format!("10.0.0.{b}"));
            let f = if tcpp { tcp_frame(&s, sp, &d, dp, 0x10, len) } else { udp_frame(&s, sp, &d, dp, len) };
            total_ip += (f.len() - 14) as u64;
            t.ingest(&pkt(at(ms), &f));
        }
        prop_assert_eq!(t.stats().ip_bytes, total_ip);
        for v in [View::Pair, View::Port, View::Src, View::Dst] {
            let s = snap(&t, v);
            let other = s.other.iter().map(|o| &o.entry);
            let bytes: u64 = s.entries.iter().chain(other.clone()).map(|e| e.sent.bytes + e.recv.bytes).sum();
            let packets: u64 = s.entries.iter().chain(other).map(|e| e.sent.counters.packets + e.recv.counters.packets).sum();
            prop_assert_eq!(bytes, total_ip);
            prop_assert_eq!(packets, pkts.len() as u64);
            prop_assert_eq!(s.totals.cumulative[2], total_ip);
        }
    }

    /// The first k entries of `build_top` are the first k of `build`, in
    /// every view and order, with the same total count.
    #[test]
    fn top_k_is_a_prefix_of_the_full_snapshot(
        pkts in proptest::collection::vec(arb_packet(), 1..80),
        k in 0usize..12,
        active in any::<bool>(),
        later_ms in 0i64..60_000,
    ) {
        // TCP analysed, so that the orders by retransmissions and RTT have
        // something to sort: sequence numbers repeat (retransmissions) and
        // ACKs meet them (RTT samples).
        let mut t = FlowTable::new(FlowConfig { tcp_analysis: true, ..FlowConfig::default() });
        let mut sorted = pkts.clone();
        sorted.sort_by_key(|p| p.6);
        for (a, b, sp, dp, tcpp, len, ms) in sorted {
            let (s, d) = (format!("10.0.0.{a}"), format!("10.0.0.{b}"));
            if tcpp {
                let f = tcp_frame(&s, sp, &d, dp, 0x10, len);
                t.ingest_tcp(&pkt(at(ms), &f), Some(&arb_seg(ms, len)));
            } else {
                t.ingest(&pkt(at(ms), &udp_frame(&s, sp, &d, dp, len)));
            }
        }
        t.advance(at(later_ms.max(t.now().nanos_since(at(0)) / 1_000_000)));
        // Owners 0 (unknown), 1 and 2, so entries fold flows of several owners.
        t.label_owners(at(0), |f| u32::from((f.key.a_port ^ f.key.b_port) % 3));
        let slot = t.slot_of(t.now()) - 1;
        for v in [View::Pair, View::Port, View::Src, View::Dst, View::Process] {
            for sort in [SortKey::Rate2s, SortKey::Rate10s, SortKey::Rate40s, SortKey::Total, SortKey::Source, SortKey::Destination, SortKey::Owner, SortKey::Retransmissions, SortKey::Rtt] {
                let full = Snapshot::build(&t, v, sort, slot, active);
                let top = Snapshot::build_top(&t, v, sort, slot, active, Some(k));
                prop_assert_eq!(top.total_entries, full.entries.len());
                prop_assert_eq!(&top.entries[..], &full.entries[..k.min(full.entries.len())]);
                prop_assert_eq!(top.totals, full.totals);
            }
        }
        // Several views in several orders at once: each as if built alone.
        let views = [View::Pair, View::Port, View::Src, View::Dst, View::Process];
        for sorts in [&[SortKey::Rate2s, SortKey::Rate10s, SortKey::Rate40s][..], &[SortKey::Total, SortKey::Rate40s], &[SortKey::Owner, SortKey::Rate2s], &[SortKey::Rtt, SortKey::Retransmissions, SortKey::Rate10s]] {
            let keeps: Vec<(View, usize)> = views.iter().enumerate().map(|(i, &v)| (v, k + i % 2)).collect();
            let built = Snapshot::build_views(&t, &keeps, sorts, slot, active);
            prop_assert_eq!(built.len(), views.len());
            for (tops, &(v, k)) in built.iter().zip(&keeps) {
                prop_assert_eq!(tops.len(), sorts.len());
                for (many, &sort) in tops.iter().zip(sorts) {
                    let one = Snapshot::build_top(&t, v, sort, slot, active, Some(k));
                    prop_assert_eq!(many.total_entries, one.total_entries, "{:?} {:?}", v, sort);
                    prop_assert_eq!(&many.entries, &one.entries, "{:?} {:?}", v, sort);
                    prop_assert_eq!(&many.totals, &one.totals);
                    prop_assert_eq!(&many.other, &one.other);
                }
            }
        }
    }

    /// Packets ingested in batches (in any order of times, with a small
    /// limit and an idle timeout, so that flows are folded, expired and
    /// their places reused) leave the same table as one by one.
    #[test]
    fn batches_account_like_single_packets(
        pkts in proptest::collection::vec(arb_packet(), 1..200),
        cut in 1usize..80,
        layers in prop_oneof![Just(LayerMode::Outer), Just(LayerMode::Inner), Just(LayerMode::All)],
    ) {
        let cfg = FlowConfig {
            max_flows: 16,
            idle_timeout_nanos: Some(30_000_000_000),
            keep_expired: true,
            layers,
            ..FlowConfig::default()
        };
        let metas: Vec<PacketMeta> = pkts
            .iter()
            .map(|&(a, b, sp, dp, tcpp, len, ms)| {
                let (s, d) = (format!("10.0.{a}.{b}"), format!("10.0.0.{b}"));
                let f = if tcpp { tcp_frame(&s, sp, &d, dp, 0x12, len) } else { udp_frame(&s, sp, &d, dp, len) };
                pkt(at(ms * 3), &f)
            })
            .collect();
        let (mut one, mut batched) = (FlowTable::new(cfg.clone()), FlowTable::new(cfg));
        for m in &metas {
            one.ingest(m);
        }
        for group in metas.chunks(cut) {
            batched.ingest_batch(group);
        }
        prop_assert_eq!(one.stats(), batched.stats());
        for v in [View::Pair, View::Port] {
            let (x, y) = (snap(&one, v), snap(&batched, v));
            prop_assert_eq!(&x.entries, &y.entries);
            prop_assert_eq!(x.totals, y.totals);
            prop_assert_eq!(x.other.map(|o| o.entry), y.other.map(|o| o.entry));
        }
        let taken = |t: &mut FlowTable| {
            let mut v = Vec::new();
            t.take_unrecorded(|f, d| v.push((f.id, f.key, d)));
            v
        };
        prop_assert_eq!(taken(&mut one), taken(&mut batched));
    }

    /// A flow key is the same from either direction.
    #[test]
    fn key_is_direction_free(a in any::<[u8; 4]>(), b in any::<[u8; 4]>(), sp in any::<u16>(), dp in any::<u16>(), p in any::<u8>()) {
        let (x, y) = (IpAddr::from(a), IpAddr::from(b));
        let (k1, r1) = FlowKey::new(x, sp, y, dp, p);
        let (k2, r2) = FlowKey::new(y, dp, x, sp, p);
        prop_assert_eq!(k1, k2);
        prop_assert!(r1 != r2 || (x, sp) == (y, dp));
    }

    /// Rates never exceed what was sent, and the same input gives the same snapshot.
    #[test]
    fn deterministic(pkts in proptest::collection::vec(arb_packet(), 1..40)) {
        let run = || {
            let mut t = FlowTable::new(FlowConfig::default());
            let mut sorted = pkts.clone();
            sorted.sort_by_key(|p| p.6);
            for (a, b, sp, dp, _, len, ms) in sorted {
                t.ingest(&pkt(at(ms), &udp_frame(&format!("10.0.0.{a}"), sp, &format!("10.0.0.{b}"), dp, len)));
            }
            snap(&t, View::Pair).entries
        };
        prop_assert_eq!(run(), run());
    }
}

#[test]
fn local_networks_filter_per_family_like_iftop() {
    let mut t = FlowTable::new(FlowConfig {
        local_nets: vec![wirewatch_flow::IpNet::new(ip("10.0.0.0"), 8).unwrap()],
        only_local_nets: true,
        ..FlowConfig::default()
    });
    let frames = [
        udp_frame("10.0.0.1", 1, "8.8.8.8", 53, 10), // out of the network: counted
        udp_frame("8.8.8.8", 53, "10.0.0.1", 1, 10), // into it: counted
        udp_frame("10.0.0.1", 2, "10.0.0.2", 53, 10), // inside: left out
        udp_frame("192.0.2.1", 3, "8.8.8.8", 53, 10), // outside: left out
        udp_frame("2001:db8::1", 4, "2001:db8::2", 53, 10), // no IPv6 network given: counted
    ];
    for (i, f) in frames.iter().enumerate() {
        t.ingest(&pkt(at(i as i64), f));
    }
    assert_eq!(t.stats().excluded, 2);
    let mut ports: Vec<u16> = t.flows().map(|f| f.key.a_port.min(f.key.b_port)).collect();
    ports.sort();
    assert_eq!(ports, vec![1, 4]);
    // The local host is the source.
    let f = t
        .flows()
        .find(|f| f.key.protocol == 17 && f.src().0 == ip("10.0.0.1"))
        .unwrap();
    assert_eq!((f.sent().packets, f.received().packets), (1, 1));
}

/// `--tcp`: the table's TCP totals count every connection once, those
/// folded away to stay within the flow limit included, and the analyses
/// held at once stay within their cap.
#[test]
fn tcp_totals_survive_eviction_and_analyses_are_capped() {
    use wirewatch_flow::tcp_cap;
    let mut t = FlowTable::new(FlowConfig {
        max_flows: 16,
        tcp_analysis: true,
        ..FlowConfig::default()
    });
    let (c, s) = ("10.0.0.1", "10.0.0.2");
    let send = |t: &mut FlowTable, ms: i64, port: u16, up: bool, sg: TcpSeg| {
        let f = if up {
            tcp_frame(c, port, s, 80, sg.flags, sg.payload_len as usize)
        } else {
            tcp_frame(s, 80, c, port, sg.flags, sg.payload_len as usize)
        };
        t.ingest_tcp(&pkt(at(ms), &f), Some(&sg));
    };
    let (syn, ack, psh) = (
        tcp_flags::SYN,
        tcp_flags::ACK,
        tcp_flags::PSH | tcp_flags::ACK,
    );
    for k in 0..40u16 {
        let (p, base) = (20_000 + k, i64::from(k) * 1_000);
        send(&mut t, base, p, true, seg(base, 100, 0, syn, 0));
        send(
            &mut t,
            base + 10,
            p,
            false,
            seg(base + 10, 500, 101, syn | ack, 0),
        );
        send(&mut t, base + 11, p, true, seg(base + 11, 101, 501, ack, 0));
        send(
            &mut t,
            base + 12,
            p,
            true,
            seg(base + 12, 101, 501, psh, 100),
        );
        // The same data again after 300 ms without an ACK: a retransmission.
        send(
            &mut t,
            base + 312,
            p,
            true,
            seg(base + 312, 101, 501, psh, 100),
        );
        send(
            &mut t,
            base + 322,
            p,
            false,
            seg(base + 322, 501, 201, ack, 0),
        );
    }
    let tot = t.tcp_totals();
    assert!(t.stats().evicted_flows > 0, "the table had to fold flows");
    assert_eq!(tot.connections, 40);
    assert_eq!(tot.packets, 240);
    assert_eq!(tot.retransmissions, 40);
    assert_eq!(tot.retransmitted_bytes, 4_000);
    assert_eq!(tot.handshake_rtt.count(), 40);
    // Both directions of every connection were timed by its handshake
    // (the data was resent, so Karn's rule times nothing after it).
    assert_eq!(tot.smoothed_rtt.count(), 80);
    let med = tot.handshake_rtt.quantile(0.5).unwrap() as f64 / 1e6;
    assert!((10.0..=12.5).contains(&med), "{med} ms");
    assert!(t.flows().filter(|f| f.tcp().is_some()).count() <= tcp_cap(16));
}

/// `--tcp`: the orders by retransmissions (most first) and by smoothed RTT
/// (slowest first) rank the entries by their connections' TCP health;
/// entries without any (UDP) come last.
#[test]
fn entries_sort_by_retransmissions_and_by_rtt() {
    let mut t = FlowTable::new(FlowConfig {
        tcp_analysis: true,
        ..FlowConfig::default()
    });
    let c = "10.0.0.1";
    let send = |t: &mut FlowTable, s: &str, up: bool, sg: TcpSeg| {
        let f = if up {
            tcp_frame(c, 40_000, s, 80, sg.flags, sg.payload_len as usize)
        } else {
            tcp_frame(s, 80, c, 40_000, sg.flags, sg.payload_len as usize)
        };
        t.ingest_tcp(&pkt(sg.ts, &f), Some(&sg));
    };
    let (syn, ack, psh) = (
        tcp_flags::SYN,
        tcp_flags::ACK,
        tcp_flags::PSH | tcp_flags::ACK,
    );
    // (server, its delay in ms, how many times the data is sent again)
    let conns = [
        ("10.0.0.2", 10, 2),
        ("10.0.0.3", 50, 0),
        ("10.0.0.4", 30, 5),
    ];
    for (s, d, resent) in conns {
        send(&mut t, s, true, seg(0, 100, 0, syn, 0));
        send(&mut t, s, false, seg(d, 500, 101, syn | ack, 0));
        send(&mut t, s, true, seg(d + 1, 101, 501, ack, 0));
        for i in 0..=resent {
            send(&mut t, s, true, seg(d + 2 + i * 300, 101, 501, psh, 100));
        }
        send(
            &mut t,
            s,
            false,
            seg(2 * d + 2 + resent * 300, 501, 201, ack, 0),
        );
    }
    t.ingest(&pkt(at(5), &udp_frame(c, 5353, "10.0.0.9", 53, 10)));
    for v in [View::Pair, View::Port] {
        let order = |sort| {
            let s = Snapshot::build(&t, v, sort, t.slot_of(t.now()), false);
            let dsts: Vec<String> = s
                .entries
                .iter()
                .map(|e| e.key.dst.unwrap().to_string())
                .collect();
            let retrans: Vec<u64> = s.entries.iter().map(Entry::retransmissions).collect();
            (dsts, retrans, s)
        };
        let (by_retrans, counts, _) = order(SortKey::Retransmissions);
        assert_eq!(by_retrans, ["10.0.0.4", "10.0.0.2", "10.0.0.3", "10.0.0.9"]);
        assert_eq!(counts, [5, 2, 0, 0]);
        let (by_rtt, _, s) = order(SortKey::Rtt);
        assert_eq!(by_rtt, ["10.0.0.3", "10.0.0.4", "10.0.0.2", "10.0.0.9"]);
        let rtts: Vec<Option<u64>> = s.entries.iter().map(Entry::rtt_nanos).collect();
        assert!(
            rtts[..3].iter().all(Option::is_some) && rtts[3].is_none(),
            "{rtts:?}"
        );
        assert!(rtts.windows(2).all(|w| w[0] >= w[1]), "{rtts:?}");
    }
}

/// `--tcp`: a flow of nothing but unanswered SYNs gets no analysis (a
/// spoofed flood costs none); once something answers, the analysis starts
/// with the first SYN rebuilt and the others counted as its
/// retransmissions, and the handshake is timed from the first SYN. A
/// one-way flow of data is analysed from its second packet.
#[test]
fn unanswered_syns_make_no_analysis_until_answered() {
    let mut t = FlowTable::new(FlowConfig {
        tcp_analysis: true,
        ..FlowConfig::default()
    });
    let (c, s) = ("10.0.0.1", "10.0.0.2");
    let send = |t: &mut FlowTable, port: u16, up: bool, sg: TcpSeg| {
        let f = if up {
            tcp_frame(c, port, s, 80, sg.flags, sg.payload_len as usize)
        } else {
            tcp_frame(s, 80, c, port, sg.flags, sg.payload_len as usize)
        };
        t.ingest_tcp(&pkt(sg.ts, &f), Some(&sg));
    };
    let (syn, ack) = (tcp_flags::SYN, tcp_flags::ACK);
    // Five SYNs a second apart: no analysis.
    for k in 0..5 {
        send(&mut t, 40_000, true, seg(k * 1_000, 100, 0, syn, 0));
    }
    assert_eq!(t.tcp_totals().connections, 0);
    // The answer starts it: the first SYN rebuilt, four retries counted.
    send(&mut t, 40_000, false, seg(4_020, 500, 101, syn | ack, 0));
    send(&mut t, 40_000, true, seg(4_021, 101, 501, ack, 0));
    let tt = t.tcp_totals();
    assert_eq!(tt.connections, 1);
    assert_eq!(tt.retransmissions, 4);
    assert_eq!(tt.packets, 7, "five SYNs, the SYN/ACK and the ACK");
    let a = t.flows().find_map(|f| f.tcp()).unwrap();
    assert_eq!(a.handshake().initial_nanos, Some(4_021_000_000));
    // Data seen one way only (the other direction not captured): analysed
    // from its second packet.
    for k in 0..3u32 {
        let ms = 10_000 + i64::from(k) * 10;
        send(&mut t, 40_001, true, seg(ms, 1_000 + k * 100, 7, ack, 100));
    }
    assert_eq!(t.tcp_totals().connections, 2);
    assert_eq!(t.tcp_totals().packets, 7 + 2);
}
