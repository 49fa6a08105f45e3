//! Reader tests on captures built in code: every format variant, broken
//! files, and the same bytes delivered in tiny chunks.

use std::io::{self, Read, Write};

use proptest::prelude::*;
use wirewatch_capture::{CaptureReader, Format, PcapWriter, PcapngWriter, ReadError};
use wirewatch_wire::Timestamp;

/// Owned copy of a frame for comparisons.
#[derive(Debug, Clone, PartialEq)]
struct Rec {
    ts: i64,
    lt: u32,
    wire: u32,
    data: Vec<u8>,
    iface: u32,
}

fn read_all<R: Read>(r: R) -> (Vec<Rec>, Option<ReadError>) {
    let mut rd = match CaptureReader::new(r) {
        Ok(r) => r,
        Err(e) => return (vec![], Some(e)),
    };
    let mut out = Vec::new();
    loop {
        match rd.next_frame() {
            Ok(Some(f)) => out.push(Rec {
                ts: f.ts.as_nanos(),
                lt: f.link_type,
                wire: f.wire_len,
                data: f.data.to_vec(),
                iface: f.interface,
            }),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// Delivers at most `n` bytes per read call.
struct Chunky<'a> {
    data: &'a [u8],
    n: usize,
}

impl Read for Chunky<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.n.min(buf.len()).min(self.data.len());
        buf[..k].copy_from_slice(&self.data[..k]);
        self.data = &self.data[k..];
        Ok(k)
    }
}

fn ts(s: i64, ns: i64) -> Timestamp {
    Timestamp::from_secs_nanos(s, ns)
}

fn pcap_bytes(nanos: bool, frames: &[(Timestamp, Vec<u8>, u32)]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), 1, 65535, nanos).unwrap();
    for (t, d, wl) in frames {
        w.write(*t, d, *wl).unwrap();
    }
    w.finish().unwrap()
}

/// Rewrites a little-endian pcap as big-endian (header and record headers).
fn to_big_endian(le: &[u8]) -> Vec<u8> {
    let mut b = le.to_vec();
    let swap32 = |b: &mut [u8], at: usize| b[at..at + 4].reverse();
    let swap16 = |b: &mut [u8], at: usize| b[at..at + 2].reverse();
    swap32(&mut b, 0);
    swap16(&mut b, 4);
    swap16(&mut b, 6);
    for at in [8, 12, 16, 20] {
        swap32(&mut b, at);
    }
    let mut at = 24;
    while at + 16 <= b.len() {
        let caplen = u32::from_le_bytes(le[at + 8..at + 12].try_into().unwrap()) as usize;
        for k in 0..4 {
            swap32(&mut b, at + 4 * k);
        }
        at += 16 + caplen;
    }
    b
}

fn frames() -> Vec<(Timestamp, Vec<u8>, u32)> {
    vec![
        (ts(100, 1_000), vec![1; 60], 60),
        (ts(101, 999_999_000), vec![2; 20], 1500),
        (ts(102, 0), vec![], 0),
    ]
}

#[test]
fn pcap_micro_and_nano_both_byte_orders() {
    for nanos in [false, true] {
        let le = pcap_bytes(nanos, &frames());
        let be = to_big_endian(&le);
        for (bytes, big) in [(le, false), (be, true)] {
            let rd = CaptureReader::new(&bytes[..]).unwrap();
            assert_eq!(
                rd.format(),
                Format::Pcap {
                    nanos,
                    big_endian: big
                }
            );
            let (recs, err) = read_all(&bytes[..]);
            assert_eq!(err, None);
            assert_eq!(recs.len(), 3);
            assert_eq!(recs[0].ts, 100_000_001_000);
            assert_eq!(recs[1].ts, 101_999_999_000);
            assert_eq!((recs[1].wire, recs[1].data.len()), (1500, 20));
            assert_eq!(recs[0].lt, 1);
        }
    }
}

#[test]
fn pcap_link_type_reserved_bits_are_masked() {
    let mut b = pcap_bytes(false, &frames());
    b[22] = 0x00;
    b[23] = 0x04; // FCS-present bit in the upper half
    let (recs, err) = read_all(&b[..]);
    assert_eq!(err, None);
    assert_eq!(recs[0].lt, 1);
}

fn pcapng_sample(big: bool) -> Vec<u8> {
    let mut w = PcapngWriter::with_byte_order(Vec::new(), big).unwrap();
    let eth = w.interface(1, 0, 6).unwrap();
    let raw = w.interface(101, 0, 9).unwrap();
    let bin = w.interface(113, 0, 0x80 | 10).unwrap();
    w.packet(eth, ts(10, 5_000), &[1; 14], 14).unwrap();
    w.packet(raw, ts(11, 7), &[0x45; 20], 40).unwrap();
    w.custom_block(&[9; 5]).unwrap();
    w.packet(bin, ts(12, 500_000_000), &[3; 16], 16).unwrap();
    w.obsolete_packet(eth as u16, ts(13, 0), &[4; 30], 30)
        .unwrap();
    w.simple_packet(&[5; 10], 10).unwrap();
    // A new section: interfaces start over with other link types.
    w.section().unwrap();
    let s2 = w.interface(228, 0, 6).unwrap();
    w.packet(s2, ts(14, 0), &[0x45; 20], 20).unwrap();
    w.finish().unwrap()
}

#[test]
fn pcapng_sections_interfaces_and_block_kinds() {
    for big in [false, true] {
        let b = pcapng_sample(big);
        let (recs, err) = read_all(&b[..]);
        assert_eq!(err, None, "big={big}");
        let got: Vec<(u32, u32, usize, i64)> = recs
            .iter()
            .map(|r| (r.lt, r.iface, r.data.len(), r.ts))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 0, 14, 10_000_005_000),
                (101, 1, 20, 11_000_000_007),
                (113, 2, 16, 12_500_000_000),
                (1, 0, 30, 13_000_000_000),
                (1, 0, 10, 0),
                (228, 3, 20, 14_000_000_000),
            ]
        );
        assert_eq!(recs[1].wire, 40);
        let rd = CaptureReader::new(&b[..]).unwrap();
        assert_eq!(rd.format(), Format::Pcapng);
    }
}

#[test]
fn gzip_is_transparent() {
    let plain = pcapng_sample(false);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.pcapng.gz");
    std::fs::write(&p, &gz).unwrap();
    let mut rd = wirewatch_capture::open(&p).unwrap();
    let mut n = 0;
    while rd.next_frame().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 6);
}

#[test]
fn cut_off_last_record_keeps_everything_before() {
    let b = pcap_bytes(false, &frames());
    // Cut inside the second record's data.
    let cut = &b[..24 + 16 + 60 + 16 + 5];
    let (recs, err) = read_all(cut);
    assert_eq!(recs.len(), 1);
    match err {
        Some(ReadError::Truncated { offset, .. }) => assert_eq!(offset, 24 + 16 + 60),
        e => panic!("expected truncation, got {e:?}"),
    }
    // Cut inside a record header.
    let (recs, err) = read_all(&b[..24 + 16 + 60 + 3]);
    assert_eq!(recs.len(), 1);
    assert!(err.unwrap().is_truncation());

    let ng = pcapng_sample(false);
    let (recs, err) = read_all(&ng[..ng.len() - 3]);
    assert_eq!(recs.len(), 5);
    assert!(err.unwrap().is_truncation());
}

#[test]
fn absurd_lengths_are_errors_with_offsets() {
    let mut b = pcap_bytes(false, &frames());
    let rec2 = 24 + 16 + 60;
    b[rec2 + 8..rec2 + 12].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    let (recs, err) = read_all(&b[..]);
    assert_eq!(recs.len(), 1);
    assert_eq!(
        err,
        Some(ReadError::AbsurdLength {
            offset: rec2 as u64,
            what: "pcap record captured length",
            len: 0x7FFF_FFFF
        })
    );

    let mut ng = pcapng_sample(false);
    // Second block is the first IDB at offset 28: corrupt its length.
    ng[32..36].copy_from_slice(&7u32.to_le_bytes());
    let (_, err) = read_all(&ng[..]);
    assert!(
        matches!(err, Some(ReadError::AbsurdLength { offset: 28, .. })),
        "{err:?}"
    );

    let mut ng = pcapng_sample(false);
    let last = ng.len() - 4;
    ng[last] ^= 0xFF; // trailing length copy of the last block
    let (recs, err) = read_all(&ng[..]);
    assert_eq!(recs.len(), 5);
    assert!(matches!(err, Some(ReadError::Corrupt { .. })));
}

#[test]
fn huge_original_length_is_kept() {
    let b = pcap_bytes(false, &[(ts(1, 0), vec![0; 10], 0xFFFF_FFF0)]);
    let (recs, err) = read_all(&b[..]);
    assert_eq!(err, None);
    assert_eq!(recs[0].wire, 0xFFFF_FFF0);
}

#[test]
fn not_a_capture() {
    for junk in [&b""[..], b"GET / HTTP/1.1\r\n", b"\x1f\x8b\x08\x00", b"abc"] {
        let (_, err) = read_all(junk);
        assert!(
            matches!(err, Some(ReadError::NotACapture { offset: 0, .. })),
            "{junk:?}: {err:?}"
        );
    }
    // A pcap header cut short is a truncation at offset 0.
    let b = pcap_bytes(false, &[]);
    let (_, err) = read_all(&b[..10]);
    assert!(matches!(err, Some(ReadError::Truncated { offset: 0, .. })));
}

#[test]
fn undefined_interface_is_corrupt() {
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    w.packet(3, ts(1, 0), &[0; 4], 4).unwrap();
    let b = w.finish().unwrap();
    let (_, err) = read_all(&b[..]);
    assert!(
        matches!(err, Some(ReadError::Corrupt { offset: 28, .. })),
        "{err:?}"
    );
}

proptest! {
    /// The same bytes read whole and in small chunks give identical frames and errors.
    #[test]
    fn chunked_reads_are_identical(chunk in 1usize..9, cut in 0usize..400, ng in any::<bool>()) {
        let full = if ng { pcapng_sample(false) } else { pcap_bytes(true, &frames()) };
        let b = &full[..cut.min(full.len())];
        let whole = read_all(b);
        let chunked = read_all(Chunky { data: b, n: chunk });
        prop_assert_eq!(whole, chunked);
    }

    /// Arbitrary bytes after a valid header never panic.
    #[test]
    fn garbage_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..300), ng in any::<bool>()) {
        let mut b = if ng { pcapng_sample(false)[..28].to_vec() } else { pcap_bytes(false, &[])[..24].to_vec() };
        b.extend_from_slice(&tail);
        let _ = read_all(&b[..]);
    }
}

#[test]
fn kuznetzov_pcap_has_24_byte_record_headers() {
    let mut b = Vec::new();
    b.extend_from_slice(&0xA1B2_CD34u32.to_le_bytes());
    b.extend_from_slice(&[
        2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 1, 0, 0, 0,
    ]);
    for i in 0..2u32 {
        for v in [7 + i, 500, 4, 60] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&[0; 8]); // ifindex, protocol, pkt_type, pad
        b.extend_from_slice(&[i as u8; 4]);
    }
    let (recs, err) = read_all(&b[..]);
    assert_eq!(err, None);
    assert_eq!(recs.len(), 2);
    assert_eq!(
        (recs[1].ts, recs[1].wire, recs[1].data.clone()),
        (8_000_500_000, 60, vec![1; 4])
    );
}

#[test]
fn pcapng_if_tsoffset_is_added() {
    // Hand-built IDB with if_tsresol = 3 (milliseconds) and if_tsoffset = 1000 s.
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    w.custom_block(&[]).unwrap();
    let mut b = w.finish().unwrap();
    b.truncate(28); // keep the section header only
    let mut body = Vec::new();
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(&[9, 0, 1, 0, 3, 0, 0, 0]);
    body.extend_from_slice(&[14, 0, 8, 0]);
    body.extend_from_slice(&1000i64.to_le_bytes());
    body.extend_from_slice(&[0, 0, 0, 0]);
    let len = (12 + body.len()) as u32;
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&body);
    b.extend_from_slice(&len.to_le_bytes());
    // EPB: 2500 ticks of 1 ms.
    let mut epb = Vec::new();
    for v in [0u32, 0, 2500, 4, 4] {
        epb.extend_from_slice(&v.to_le_bytes());
    }
    epb.extend_from_slice(&[7; 4]);
    let len = (12 + epb.len()) as u32;
    b.extend_from_slice(&6u32.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&epb);
    b.extend_from_slice(&len.to_le_bytes());
    let (recs, err) = read_all(&b[..]);
    assert_eq!(err, None);
    assert_eq!(recs[0].ts, 1_002_500_000_000);
}
