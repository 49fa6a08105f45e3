//! Seasonal baselines: quiet on stationary traffic after warm-up, loud on
//! spikes and drops, and useful straight after a warm start from history.

use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use wirewatch_detect::baseline::Subject;
use wirewatch_detect::{Alert, DetectConfig, Engine, FlowRow, Kind};
use wirewatch_wire::{proto, Timestamp};

const T0: i64 = 1_700_006_400; // a minute boundary

fn host() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5))
}

/// One minute of `bytes_per_sec` on eth0 from one host, as one row.
fn minute(e: &mut Engine, m: i64, bytes_per_sec: f64) -> Vec<Alert> {
    let t = T0 + m * 60;
    let b = (bytes_per_sec * 60.0) as u64;
    let r = FlowRow {
        ts: Timestamp::from_secs(t + 30),
        iface: "eth0",
        local: host(),
        remote: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        local_port: 40_000,
        remote_port: 443,
        protocol: proto::TCP,
        process: None,
        bytes_out: b / 2,
        bytes_in: b - b / 2,
        packets_out: 1,
        packets_in: 1,
        tcp: Default::default(),
    };
    e.rows(Timestamp::from_secs(t + 59), &[r]);
    e.take_alerts()
}

/// Only the baseline's alerts (exfiltration and the rest look elsewhere).
fn baseline_only() -> DetectConfig {
    let mut c = DetectConfig::default();
    c.heuristics.exfil.enabled = false;
    c.heuristics.new_destination.enabled = false;
    c
}

/// A tiny deterministic generator (xorshift), so the property's cases are
/// reproducible from their seed.
fn noise(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Stationary traffic (a daily cycle plus bounded noise) raises no
    /// alert once a day has been learned.
    #[test]
    fn stationary_traffic_raises_nothing_after_warm_up(
        seed in 1u64..u64::MAX,
        base in 1e5f64..1e8,
        cycle in 0.0f64..0.6,
        jitter in 0.0f64..0.3,
    ) {
        let mut e = Engine::new(&baseline_only()).unwrap();
        let mut s = seed;
        let mut late = Vec::new();
        for m in 0..(3 * 1440) {
            let phase = (m % 1440) as f64 / 1440.0 * std::f64::consts::TAU;
            let x = base * (1.0 + cycle * phase.sin()) * (1.0 + jitter * noise(&mut s));
            let a = minute(&mut e, m, x);
            if m >= 1440 {
                late.extend(a);
            }
        }
        prop_assert!(late.is_empty(), "{:#?}", late);
    }
}

#[test]
fn a_spike_and_a_drop_are_explained_with_the_expected_range() {
    let mut e = Engine::new(&baseline_only()).unwrap();
    let mut s = 7u64;
    for m in 0..(2 * 1440) {
        assert!(minute(&mut e, m, 1e6 * (1.0 + 0.1 * noise(&mut s))).len() <= 2);
    }
    // A minute is judged once it has closed: with the next minute's rows.
    let mut a = minute(&mut e, 2 * 1440, 20e6);
    a.extend(minute(&mut e, 2 * 1440 + 1, 1e6));
    let kinds: Vec<_> = a.iter().map(|a| (a.kind, a.entity.to_string())).collect();
    assert_eq!(
        kinds,
        vec![
            (Kind::Spike, "interface eth0".to_string()),
            (Kind::Spike, "10.0.0.5".to_string())
        ]
    );
    let ev = &a[0].evidence;
    let [lo, hi] = ev.expected.unwrap();
    assert!(lo < 1e6 && 1e6 < hi && hi < 20e6, "{lo} {hi}");
    assert!(ev.score >= 6.0);
    assert!(
        a[0].summary
            .starts_with("Interface eth0 rose to 160.0 Mbit/s in the minute to"),
        "{}",
        a[0].summary
    );
    assert!(
        a[0].summary.ends_with("for this hour of the day"),
        "{}",
        a[0].summary
    );
    // Back to normal, then silence: a drop.
    for m in (2 * 1440 + 2)..(2 * 1440 + 30) {
        minute(&mut e, m, 1e6);
    }
    let mut a = minute(&mut e, 2 * 1440 + 30, 0.0);
    a.extend(minute(&mut e, 2 * 1440 + 31, 0.0));
    assert_eq!(a.first().map(|a| a.kind), Some(Kind::Drop), "{a:#?}");
    assert!(a[0].summary.contains("fell to 0 bit/s"), "{}", a[0].summary);
}

#[test]
fn a_warm_start_from_history_makes_the_first_minute_count() {
    let mut e = Engine::new(&baseline_only()).unwrap();
    // A week of hourly history at 2 MB/s.
    for h in 0..168i64 {
        e.warm_baseline(
            Subject::Iface("eth0".into()),
            T0 + (h - 168) * 3600,
            60,
            2e6,
        );
    }
    // Without warm start nothing is trusted before 30 minutes; with it, the
    // very first minutes are judged.
    assert!(minute(&mut e, 0, 2.1e6).is_empty());
    let mut a = minute(&mut e, 1, 60e6);
    a.extend(minute(&mut e, 2, 2e6));
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(a[0].kind, Kind::Spike);
    assert!(
        a[0].summary.ends_with("for this hour of the week"),
        "{}",
        a[0].summary
    );
}
