//! TCP headers and the per-connection analysis: the input is a run of
//! segments, each a length byte (its bytes follow), a byte whose low bit
//! picks the direction and whose other bits move the clock (0–127 ms,
//! backwards when the second bit is set), then the TCP header and payload.
//! Each is read with `TcpHeader::new_checked` (options walked) and, when it
//! parses, fed to one `TcpAnalysis` with an `l4_len` that may claim more
//! than was captured. Checks that the counters never exceed the segments
//! seen, that RTTs never go negative, and that the analysis never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wirewatch_flow::{TcpAnalysis, TcpSeg};
use wirewatch_wire::tcp::TcpHeader;
use wirewatch_wire::Timestamp;

fuzz_target!(|data: &[u8]| {
    let mut a = TcpAnalysis::new();
    let mut now: i64 = 1_000_000_000_000;
    let mut rest = data;
    let mut seen = [0u64; 2];
    while rest.len() >= 2 {
        let (len, ctl) = (usize::from(rest[0]), rest[1]);
        rest = &rest[2..];
        let seg = &rest[..len.min(rest.len())];
        rest = &rest[seg.len()..];
        let step = i64::from(ctl >> 2) * 1_000_000;
        now += if ctl & 2 != 0 { -step } else { step };
        let Ok(h) = TcpHeader::new_checked(seg) else {
            continue;
        };
        std::hint::black_box(h.options());
        let dir = usize::from(ctl & 1);
        let l4 = seg.len() as u32 + u32::from(ctl & 0x80) * 4;
        a.observe(dir, &TcpSeg::from_header(Timestamp::from_nanos(now), &h, l4));
        seen[dir] += 1;
    }
    for dir in 0..2 {
        let c = a.counters(dir);
        assert!(c.retransmissions <= seen[dir], "{c:?} of {}", seen[dir]);
        assert!(c.out_of_order <= seen[dir] && c.duplicate_acks <= seen[dir]);
        let r = a.rtt(dir);
        assert!(r.min_nanos <= r.max_nanos || r.samples == 0, "{r:?}");
    }
});
