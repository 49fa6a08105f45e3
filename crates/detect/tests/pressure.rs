//! Detector state under a spoofed-source flood: millions of made-up
//! sources, each seen once, fill only the door before the per-source
//! detectors (at its cap, the dropped entries counted), and a scan and
//! the flood itself are still detected.

use std::net::{IpAddr, Ipv4Addr};

use wirewatch_detect::{DetectConfig, Engine, Kind, Obs, StateCount};
use wirewatch_wire::{proto, Timestamp};

const CAP: usize = 10_000;

fn syn(ts: Timestamp, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Obs<'static> {
    Obs {
        ts,
        iface: 0,
        src,
        dst,
        protocol: proto::TCP,
        src_port: sport,
        dst_port: dport,
        has_ports: true,
        ip_len: 40,
        tcp_flags: 0x02,
        later_fragment: false,
        l4: &[],
    }
}

/// The `n`-th spoofed source: all distinct, none the scanner's.
fn spoofed(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | n))
}

fn evicted(state: &[StateCount]) -> u64 {
    state.iter().map(|s| s.evicted).sum()
}

#[test]
fn millions_of_spoofed_sources_keep_state_at_the_cap_and_attacks_are_still_found() {
    let mut cfg = DetectConfig::default();
    cfg.heuristics.scan.max_tracked = CAP;
    cfg.heuristics.flood.max_tracked = CAP;
    cfg.heuristics.beacon.max_tracked = CAP;
    let mut engine = Engine::new(&cfg).unwrap();
    let victim = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 80));
    let target = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 22));
    let scanner = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 66));
    let t0 = Timestamp::from_secs(1_700_000_000);
    const N: u32 = 2_000_000;
    let mut kinds = Vec::new();
    let mut halfway = 0;
    let mut ports = 0u16;
    for i in 0..N {
        // 100,000 SYNs a second from a new source each.
        let ts = t0.add_nanos(i64::from(i) * 10_000);
        engine.packet(&syn(ts, spoofed(i), 1024 + (i % 60_000) as u16, victim, 80));
        // The last quarter: a vertical scan of `target` hides in the flood.
        if i >= N / 4 * 3 && i % 5_000 == 0 {
            ports += 1;
            engine.packet(&syn(ts, scanner, 40_000, target, ports));
        }
        if i == N / 2 {
            halfway = evicted(&engine.state());
        }
        kinds.extend(engine.take_alerts().into_iter().map(|a| (a.kind, a.entity)));
    }
    let state = engine.state();
    for s in &state {
        assert!(
            s.tracked <= CAP,
            "{} holds {} entries",
            s.detector,
            s.tracked
        );
    }
    let end = evicted(&state);
    assert!(
        halfway > 0 && end > halfway,
        "evictions {halfway} then {end}"
    );
    // Every spoofed source past the door's cap was dropped there, and the
    // per-source detectors behind it never saw one (a source seen once is
    // held back); only the scanner's pair and its ports made entries.
    assert!(
        end >= u64::from(N) - CAP as u64,
        "{end} entries dropped: {state:?}"
    );
    let held = |name: &str| state.iter().find(|s| s.detector == name).map(|s| s.tracked);
    assert_eq!(held("first_sightings"), Some(CAP), "{state:?}");
    assert!(held("vertical_scan").is_some_and(|n| n <= 10), "{state:?}");
    assert!(ports >= 50);
    let found = |k: Kind| kinds.iter().any(|(kind, _)| *kind == k);
    assert!(found(Kind::SynFlood), "{kinds:?}");
    assert!(found(Kind::VerticalScan), "{kinds:?}");
    assert!(
        kinds
            .iter()
            .any(|(k, e)| *k == Kind::VerticalScan && format!("{e:?}").contains("203.0.113.66")),
        "the scan is the scanner's: {kinds:?}"
    );
}
