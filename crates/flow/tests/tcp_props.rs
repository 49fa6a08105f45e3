//! Properties of the TCP analysis over random segment streams: counters never
//! exceed the packets seen, RTTs are never negative nor longer than the
//! capture, and a stream whose sequence numbers wrap around 2^32 counts
//! exactly like the same stream shifted away from the wrap.

use proptest::prelude::*;
use wirewatch_flow::{TcpAnalysis, TcpCounters, TcpSeg};
use wirewatch_wire::{tcp_flags as f, Timestamp};

/// One random segment: direction, microseconds since the previous one,
/// flags, sequence and ACK offsets from each side's base, payload length,
/// window, a TSval step.
type Step = (usize, u32, u8, u32, u32, u32, u16, Option<u8>);

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let flags = prop::sample::select(vec![
        f::SYN,
        f::SYN | f::ACK,
        f::ACK,
        f::ACK | f::PSH,
        f::FIN | f::ACK,
        f::RST,
        f::RST | f::ACK,
    ]);
    prop::collection::vec(
        (
            0usize..2,
            0u32..50_000,
            flags,
            0u32..6_000,
            0u32..6_000,
            prop::sample::select(vec![0u32, 0, 1, 100, 500, 1000]),
            prop::sample::select(vec![0u16, 1000, 1000, 2000]),
            prop::option::of(0u8..3),
        ),
        1..80,
    )
}

/// The segments of `steps` with side bases `base` (side 0's sequence space,
/// side 1's).
fn segments(steps: &[Step], base: [u32; 2]) -> Vec<(usize, TcpSeg)> {
    let mut t = 1_000_000_000i64;
    let mut tsval = [100u32, 7_000u32];
    steps
        .iter()
        .map(|&(d, dt, flags, seq, ack, len, window, ts)| {
            t += i64::from(dt) * 1_000;
            let timestamps = ts.map(|step| {
                tsval[d] = tsval[d].wrapping_add(u32::from(step));
                (tsval[d], tsval[1 - d])
            });
            let seg = TcpSeg {
                ts: Timestamp::from_nanos(t),
                seq: base[d].wrapping_add(seq),
                ack: base[1 - d].wrapping_add(ack),
                flags,
                window,
                payload_len: len,
                window_scale: None,
                timestamps,
            };
            (d, seg)
        })
        .collect()
}

fn run(segs: &[(usize, TcpSeg)]) -> TcpAnalysis {
    let mut a = TcpAnalysis::new();
    for (d, s) in segs {
        a.observe(*d, s);
    }
    a
}

/// The event counters (bytes and nanoseconds excluded).
fn events(c: &TcpCounters) -> [u64; 12] {
    [
        c.retransmissions,
        c.fast_retransmissions,
        c.spurious_retransmissions,
        c.out_of_order,
        c.duplicate_acks,
        c.zero_window,
        c.zero_window_events,
        c.window_full,
        c.keep_alives,
        c.resets,
        c.lost_segments,
        c.acked_unseen,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn counters_never_exceed_the_packets_seen(s in steps(), b0: u32, b1: u32) {
        let segs = segments(&s, [b0, b1]);
        let a = run(&segs);
        let mut total = 0;
        for d in 0..2 {
            let c = a.counters(d);
            let sent = segs.iter().filter(|(x, _)| *x == d).count() as u64;
            prop_assert_eq!(c.packets, sent);
            total += sent;
            for e in events(c) {
                prop_assert!(e <= c.packets, "{:?}", c);
            }
            prop_assert!(c.fast_retransmissions + c.spurious_retransmissions <= c.retransmissions);
            prop_assert!(c.retransmissions + c.out_of_order <= c.packets);
        }
        prop_assert_eq!(total, segs.len() as u64);
    }

    #[test]
    fn rtt_samples_are_never_negative_nor_longer_than_the_capture(
        s in steps(), b0: u32, b1: u32
    ) {
        let segs = segments(&s, [b0, b1]);
        let a = run(&segs);
        let span = segs.last().unwrap().1.ts.nanos_since(segs[0].1.ts) as u64;
        for d in 0..2 {
            let r = a.rtt(d);
            prop_assert!(r.samples <= segs.len() as u64);
            prop_assert!(r.min_nanos <= r.max_nanos && r.max_nanos <= span, "{:?}", r);
            prop_assert!(r.srtt_nanos <= r.max_nanos);
        }
        let h = a.handshake();
        for x in [h.server_nanos, h.client_nanos, h.initial_nanos].into_iter().flatten() {
            prop_assert!(x <= span);
        }
    }

    #[test]
    fn wrapping_around_counts_like_the_shifted_stream(
        s in steps(), b1: u32, back in 0u32..6_000
    ) {
        // Side 0's sequence numbers cross 2^32 within the stream, or not.
        let wrapped = run(&segments(&s, [u32::MAX - back, b1]));
        let plain = run(&segments(&s, [1 << 30, b1]));
        for d in 0..2 {
            prop_assert_eq!(wrapped.counters(d), plain.counters(d));
            prop_assert_eq!(wrapped.rtt(d), plain.rtt(d));
        }
        prop_assert_eq!(wrapped.handshake(), plain.handshake());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary segments, timestamps anywhere (backwards, extreme): no
    /// panic, no overflow, and the bounds hold.
    #[test]
    fn arbitrary_segments_never_panic(
        segs in prop::collection::vec(
            (0usize..4, any::<i64>(), any::<u32>(), any::<u32>(), any::<u8>(), any::<u16>(),
             any::<u32>(), any::<Option<u8>>(), any::<Option<(u32, u32)>>()),
            1..60,
        )
    ) {
        let mut a = TcpAnalysis::new();
        for &(d, t, seq, ack, flags, window, payload_len, window_scale, timestamps) in &segs {
            let seg = TcpSeg {
                ts: Timestamp::from_nanos(t),
                seq, ack, flags, window, payload_len, window_scale, timestamps,
            };
            a.observe(d, &seg);
        }
        for d in 0..2 {
            let c = a.counters(d);
            for e in events(c) {
                prop_assert!(e <= c.packets);
            }
            prop_assert!(a.rtt(d).min_nanos <= a.rtt(d).max_nanos);
            let _ = a.zero_window_nanos(d, Timestamp::from_nanos(i64::MAX));
        }
    }
}
