//! Rates over the time a report covers: a report inside a 2-second slot
//! (the end of a capture, a live final report, an interval that is not a
//! multiple of 2 s) counts that slot for the part it covers.

use wirewatch_flow::{FlowConfig, FlowTable, Snapshot, SortKey, View};
use wirewatch_testkit::udp_frame;
use wirewatch_wire::{decode, linktype, DecodeOptions, Timestamp};

const T0: i64 = 1_700_000_000_000_000_000;

/// `ip_bytes` IP bytes from 10.0.0.1:5000 to 10.0.0.2:53 at `nanos` after T0.
fn send(t: &mut FlowTable, nanos: i64, ip_bytes: usize) {
    let frame = udp_frame("10.0.0.1", 5000, "10.0.0.2", 53, ip_bytes - 28);
    let meta = decode(
        linktype::ETHERNET,
        Timestamp::from_nanos(T0 + nanos),
        &frame,
        frame.len() as u32,
        &DecodeOptions::default(),
    );
    t.ingest(&meta);
}

/// The report at the table's clock, its slot included however little of
/// it has passed (as the final report builds it).
fn report(t: &FlowTable) -> Snapshot {
    Snapshot::build(t, View::Pair, SortKey::Rate2s, t.slot_of(t.now()), true)
}

#[test]
fn one_megabyte_over_half_a_second_is_two_megabytes_a_second() {
    // 20 × 50,000 B from 0 to 0.5 s: the capture covers a quarter of slot 0.
    let mut t = FlowTable::new(FlowConfig::default());
    for i in 0..20 {
        send(&mut t, i * 500_000_000 / 19, 50_000);
    }
    let s = report(&t);
    assert_eq!(s.window_secs, [0.5; 3]);
    assert_eq!(s.at, Timestamp::from_nanos(T0 + 500_000_000));
    let e = &s.entries[0];
    assert_eq!(e.sent.rates, [2_000_000.0; 3], "not over a whole slot");
    assert_eq!(e.sent.peak, 2_000_000.0);
    assert_eq!(s.totals.rates[0], [2_000_000.0; 3]);
    assert_eq!(s.totals.peak[2], 2_000_000.0);
}

#[test]
fn a_barely_started_slot_does_not_dilute_the_rates() {
    // 1000 B every 100 ms (10,000 B/s) from 0 to 12.5 s: the report slot
    // (12..14 s) holds 0.5 s of traffic.
    let mut t = FlowTable::new(FlowConfig::default());
    for k in 0..=125 {
        send(&mut t, k * 100_000_000, 1000);
    }
    let s = report(&t);
    assert_eq!(s.window_secs, [2.0, 10.0, 12.5]);
    let e = &s.entries[0];
    // 2 s: slot 6's 6 packets and three quarters of slot 5's 20.
    assert_eq!(e.sent.rates[0], (6_000.0 + 15_000.0) / 2.0);
    // 10 s: slots 2..=6 (86 packets) and three quarters of slot 1's 20.
    assert_eq!(e.sent.rates[1], (86_000.0 + 15_000.0) / 10.0);
    // 40 s: all 126 packets over the 12.5 s the capture covers.
    assert_eq!(e.sent.rates[2], 126_000.0 / 12.5);
    // Each close to the steady 10,000 B/s, where whole-slot division gave
    // 3,000 B/s for the last 2 s.
    for r in e.sent.rates {
        assert!((r - 10_000.0).abs() / 10_000.0 < 0.06, "{r}");
    }
}

#[test]
fn whole_slots_are_unchanged_and_a_packet_alone_covers_a_millisecond() {
    // At a slot's end the windows are whole slots, as in iftop.
    let mut t = FlowTable::new(FlowConfig::default());
    send(&mut t, 0, 1000);
    send(&mut t, 1_000_000_000, 1000);
    t.advance(Timestamp::from_nanos(T0 + 2_000_000_000));
    let s = Snapshot::build(&t, View::Pair, SortKey::Rate2s, 0, true);
    assert_eq!(s.window_secs, [2.0; 3]);
    assert_eq!(s.entries[0].sent.rates, [1000.0; 3]);
    // One packet covers no time: it is taken as one millisecond, and the
    // pair is shown, not dropped as idle.
    let mut t = FlowTable::new(FlowConfig::default());
    send(&mut t, 0, 1000);
    let s = report(&t);
    assert_eq!(s.window_secs, [0.001; 3]);
    assert_eq!(s.entries.len(), 1);
    assert_eq!(s.entries[0].sent.rates, [1_000_000.0; 3]);
}

#[test]
fn a_report_before_any_complete_slot_is_empty_and_at_the_start() {
    // The screen while the first slot fills: the newest complete slot is -1.
    let mut t = FlowTable::new(FlowConfig::default());
    send(&mut t, 0, 1000);
    send(&mut t, 700_000_000, 1000);
    let s = Snapshot::build(&t, View::Pair, SortKey::Rate2s, -1, true);
    assert!(s.entries.is_empty());
    assert_eq!(s.at, Timestamp::from_nanos(T0));
    assert_eq!(s.totals.rates, [[0.0; 3]; 3]);
    assert_eq!(s.totals.cumulative[0], 2000);
}
