//! Differential test: the same capture read whole and in small chunks gives
//! identical tables (generated captures always; every 7th corpus file when
//! `../shared/corpus` exists).

use std::io::{self, Read};

use wirewatch_capture::{CaptureReader, PcapngWriter};
use wirewatch_flow::{ByteMode, Entry, FlowConfig, FlowTable, LayerMode, Snapshot, SortKey, View};
use wirewatch_pipeline::account_all;
use wirewatch_wire::build::*;
use wirewatch_wire::Timestamp;

struct Chunky<R> {
    inner: R,
    n: usize,
    k: usize,
}

impl<R: Read> Read for Chunky<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Chunk sizes cycle through 1..=n so record and block edges land everywhere.
        self.k = self.k % self.n + 1;
        let m = self.k.min(buf.len());
        self.inner.read(&mut buf[..m])
    }
}

fn table<R: Read>(r: R) -> (Vec<Entry>, Option<String>) {
    let rd = match CaptureReader::new(r) {
        Ok(r) => r,
        Err(e) => return (vec![], Some(e.to_string())),
    };
    let cfg = FlowConfig {
        bytes: ByteMode::Frame,
        layers: LayerMode::All,
        ..FlowConfig::default()
    };
    let (t, err) = account_all(rd, FlowTable::new(cfg));
    let s = Snapshot::build(&t, View::Port, SortKey::Total, t.slot_of(t.now()), false);
    (s.entries, err.map(|e| e.to_string()))
}

#[test]
fn generated_capture_whole_and_chunked() {
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    let i = w.interface(1, 0, 9).unwrap();
    let j = w.interface(101, 0, 6).unwrap();
    let mut x: u32 = 12345;
    for n in 0..3000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let s: std::net::IpAddr = format!("10.{}.0.{}", x % 7, (x >> 8) % 50).parse().unwrap();
        let d: std::net::IpAddr = format!("10.9.0.{}", (x >> 16) % 20).parse().unwrap();
        let l4 = if x.is_multiple_of(3) {
            tcp(
                (x % 5) as u16 + 1000,
                80,
                0x18,
                &vec![0; (x % 200) as usize],
            )
        } else {
            udp(53, (x % 9) as u16, &[0; 33])
        };
        let p = ip(s, d, if x.is_multiple_of(3) { 6 } else { 17 }, &l4);
        let ts = Timestamp::from_nanos(1_000_000_000_000 + n * 7_000_000);
        if n % 2 == 0 {
            w.packet(i, ts, &eth(0x0800, &p), (p.len() + 14) as u32)
                .unwrap();
        } else {
            w.packet(j, ts, &p, p.len() as u32).unwrap();
        }
    }
    let bytes = w.finish().unwrap();
    let whole = table(&bytes[..]);
    assert!(whole.0.len() > 50);
    for n in [1, 3, 7, 64] {
        assert_eq!(
            table(Chunky {
                inner: &bytes[..],
                n,
                k: 0
            }),
            whole,
            "chunks of up to {n} bytes"
        );
    }
}

#[test]
fn corpus_whole_and_chunked() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("corpus"));
    let manifest = match std::fs::read_to_string(dir.join("MANIFEST.tsv")) {
        Ok(m) => m,
        Err(e) => wirewatch_testkit::skip!("the corpus has no MANIFEST.tsv: {e}"),
    };
    let mut checked = 0;
    for (n, line) in manifest.lines().skip(1).enumerate() {
        if !n.is_multiple_of(7) {
            continue;
        }
        let file = line.split('\t').next().unwrap();
        let p = dir.join(file);
        let whole = table(
            wirewatch_capture::maybe_gunzip(io::BufReader::new(std::fs::File::open(&p).unwrap()))
                .unwrap(),
        );
        let chunked = table(Chunky {
            inner: wirewatch_capture::maybe_gunzip(io::BufReader::new(
                std::fs::File::open(&p).unwrap(),
            ))
            .unwrap(),
            n: 5,
            k: 0,
        });
        assert_eq!(chunked, whole, "{file}");
        checked += 1;
    }
    println!("{checked} corpus files identical whole and chunked");
    assert!(checked > 300);
}
