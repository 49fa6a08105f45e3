//! The hot path (read frame → decode → account in an existing flow) must not
//! allocate. A counting global allocator checks it over 100,000 packets.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use wirewatch_capture::{CaptureReader, PcapWriter};
use wirewatch_flow::{FlowConfig, FlowTable, LayerMode};
use wirewatch_wire::build::*;
use wirewatch_wire::{decode, Timestamp};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn steady_state_ingest_does_not_allocate() {
    // 100 flows (TCP and UDP, v4 and v6, one GRE tunnel), 1,000 packets each, within 30 s.
    let mut frames = Vec::new();
    for i in 0..100u32 {
        let (s, d): (std::net::IpAddr, std::net::IpAddr) = if i.is_multiple_of(2) {
            (
                format!("10.0.{}.1", i).parse().unwrap(),
                "10.9.9.9".parse().unwrap(),
            )
        } else {
            (
                format!("2001:db8::{i:x}").parse().unwrap(),
                "2001:db8::ffff".parse().unwrap(),
            )
        };
        let l4 = if i.is_multiple_of(3) {
            tcp(1000 + i as u16, 443, 0x18, &[0; 100])
        } else {
            udp(2000, 53, &[0; 60])
        };
        let p = ip(s, d, if i.is_multiple_of(3) { 6 } else { 17 }, &l4);
        let p = if i == 4 {
            ipv4(
                "1.1.1.1".parse().unwrap(),
                "2.2.2.2".parse().unwrap(),
                47,
                &gre(0x0800, &p),
            )
        } else {
            p
        };
        frames.push(eth(ethertype_for(s), &p));
    }
    let mut w = PcapWriter::new(Vec::new(), 1, 65535, true).unwrap();
    for n in 0..100_000i64 {
        let f = &frames[(n % 100) as usize];
        w.write(
            Timestamp::from_nanos(1_000_000_000_000 + n * 300_000),
            f,
            f.len() as u32,
        )
        .unwrap();
    }
    let bytes = w.finish().unwrap();

    for layers in [LayerMode::Outer, LayerMode::All] {
        let mut rd = CaptureReader::new(&bytes[..]).unwrap();
        let mut table = FlowTable::new(FlowConfig {
            layers,
            ..FlowConfig::default()
        });
        let opts = wirewatch_pipeline::decode_options(table.config());
        // Warm up: the first round creates every flow and its history.
        for _ in 0..100 {
            let f = rd.next_frame().unwrap().unwrap();
            table.ingest(&decode(f.link_type, f.ts, f.data, f.wire_len, &opts));
        }
        let before = ALLOCS.load(Ordering::Relaxed);
        let mut n = 0;
        while let Some(f) = rd.next_frame().unwrap() {
            table.ingest(&decode(f.link_type, f.ts, f.data, f.wire_len, &opts));
            n += 1;
        }
        let allocs = ALLOCS.load(Ordering::Relaxed) - before;
        assert_eq!(n, 99_900);
        assert_eq!(
            allocs, 0,
            "{allocs} allocations over {n} packets ({layers:?})"
        );
        assert_eq!(table.stats().packets, 100_000);
    }
}
