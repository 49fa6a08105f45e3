//! The DNS question parser and the DNS tunnel detector on arbitrary bytes.
//! The input is a DNS message as UDP carries it; it is parsed on its own,
//! then fed to the detector as the payload of a UDP packet and, with a
//! length prefix, of a TCP segment, both to port 53, then as the answer
//! coming back. A parsed name must respect the wire limits; nothing may
//! panic and every score must be a finite number ≥ 0. The same messages
//! go through `--tcp`'s DNS transaction tracker, whose counts must stay
//! consistent (answers and timeouts never more than the queries).
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use wirewatch_detect::heuristics::dns;
use wirewatch_detect::{Obs, PacketDetector};
use wirewatch_flow::{DnsMsg, DnsTracker};
use wirewatch_wire::{proto, Timestamp};

fuzz_target!(|data: &[u8]| {
    if let Some(q) = dns::parse(data) {
        assert!(q.name_len() <= 253);
        assert!(q.label_count() <= dns::MAX_LABELS);
        assert!(q.labels().all(|l| l.len() <= 63));
        std::hint::black_box(q.name());
    }
    let mut udp = vec![0x9c, 0x40, 0, 53, 0, 0, 0, 0];
    udp.extend_from_slice(data);
    let mut tcp = vec![
        0x9c, 0x40, 0, 53, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
    ];
    tcp.extend_from_slice(&(data.len() as u16).to_be_bytes());
    tcp.extend_from_slice(data);
    let client = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5));
    let resolver = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let mut d = dns::DnsTunnel::new(&dns::Config::default());
    let mut out = Vec::new();
    let mut tracker = DnsTracker::new();
    for (i, (l4, protocol)) in [(&udp, proto::UDP), (&tcp, proto::TCP)]
        .into_iter()
        .enumerate()
    {
        for back in [false, true] {
            let o = Obs {
                ts: Timestamp::from_secs(i as i64),
                iface: 0,
                src: if back { resolver } else { client },
                dst: if back { client } else { resolver },
                protocol,
                src_port: if back { 53 } else { 40_000 },
                dst_port: if back { 40_000 } else { 53 },
                has_ports: true,
                ip_len: l4.len() as u32 + 20,
                tcp_flags: 0x18,
                later_fragment: false,
                l4,
            };
            let s = d.packet(&o, &mut out);
            assert!(s.is_finite() && s >= 0.0, "score {s}");
            track(&mut tracker, &o);
        }
    }
    tracker.advance(Timestamp::from_secs(10));
    let t = tracker.totals();
    assert!(t.all.answered + t.all.timeouts <= t.all.queries, "{t:?}");
    assert_eq!(t.all.rcodes.iter().sum::<u64>(), t.all.answered);
});

/// The message of `o` into the transaction tracker, as the pipeline does.
fn track(tracker: &mut DnsTracker, o: &Obs<'_>) {
    if let Some(q) = dns::message(o).and_then(dns::parse) {
        tracker.message(&DnsMsg {
            ts: o.ts,
            src: (o.src, o.src_port),
            dst: (o.dst, o.dst_port),
            tcp: o.protocol == proto::TCP,
            id: q.id,
            response: q.response,
            rcode: q.rcode,
        });
    }
}
