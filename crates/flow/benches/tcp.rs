//! Nanoseconds per packet of `TcpAnalysis::observe` over the TCP packets of
//! every capture in the shared corpus, decoded into memory first (one
//! analysis per connection, as the flow table will hold them); and of
//! reading the segment from the frame (`TcpHeader` + `TcpSeg::from_header`)
//! on top of it.
//!
//! Run: `cargo bench -p wirewatch-flow --bench tcp` (needs ../shared/corpus
//! or WIREWATCH_CORPUS; without it, says so and does nothing).

use std::collections::HashMap;
use std::hint::black_box;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use wirewatch_flow::{TcpAnalysis, TcpSeg};
use wirewatch_wire::tcp::TcpHeader;
use wirewatch_wire::{decode, proto, DecodeOptions, IpLayer};

const ROUNDS: usize = 15;

/// One end of a connection.
type End = (IpAddr, u16);

/// One TCP packet kept in memory: its connection, direction, frame, layer.
struct Packet {
    conn: usize,
    dir: usize,
    frame: Vec<u8>,
    layer: IpLayer,
    ts: wirewatch_wire::Timestamp,
}

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            captures(&p, out);
        } else if !p.extension().is_some_and(|e| e == "tsv" || e == "md") {
            out.push(p);
        }
    }
}

/// The TCP packets of one capture, connections numbered from `conns`.
fn load(path: &Path, conns: &mut usize, out: &mut Vec<Packet>) {
    let Ok(mut r) = wirewatch_capture::open(path) else {
        return;
    };
    let opts = DecodeOptions::default();
    let mut ids: HashMap<(End, End), (usize, End)> = HashMap::new();
    while let Ok(Some(f)) = r.next_frame() {
        let meta = decode(f.link_type, f.ts, f.data, f.wire_len, &opts);
        let Some(l) = meta.layers.outer() else {
            continue;
        };
        if l.protocol != proto::TCP || TcpHeader::of_layer(f.data, l).is_none() {
            continue;
        }
        let (s, d) = ((l.src, l.src_port), (l.dst, l.dst_port));
        let k = if s <= d { (s, d) } else { (d, s) };
        let next = *conns;
        let (conn, first) = *ids.entry(k).or_insert((next, s));
        *conns = (*conns).max(conn + 1);
        out.push(Packet {
            conn,
            dir: usize::from(s != first),
            frame: f.data.to_vec(),
            layer: *l,
            ts: f.ts,
        });
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let corpus = match wirewatch_testkit::shared("corpus") {
        Ok(d) => d,
        Err(why) => {
            eprintln!("tcp bench: nothing to measure: {why}");
            return;
        }
    };
    let mut files = Vec::new();
    captures(&corpus, &mut files);
    let (mut conns, mut packets) = (0, Vec::new());
    for f in &files {
        load(f, &mut conns, &mut packets);
    }
    let segs: Vec<(usize, usize, TcpSeg)> = packets
        .iter()
        .map(|p| {
            let h = TcpHeader::of_layer(&p.frame, &p.layer).unwrap();
            (p.conn, p.dir, TcpSeg::from_header(p.ts, &h, p.layer.l4_len))
        })
        .collect();
    let n = segs.len() as f64;
    let (mut observe, mut with_header) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let mut state = vec![TcpAnalysis::new(); conns];
        let t = Instant::now();
        for (c, d, s) in &segs {
            state[*c].observe(*d, s);
        }
        observe.push(t.elapsed().as_nanos() as f64 / n);
        black_box(&state);
        let mut state = vec![TcpAnalysis::new(); conns];
        let t = Instant::now();
        for p in &packets {
            let h = TcpHeader::of_layer(&p.frame, &p.layer).unwrap();
            let seg = TcpSeg::from_header(p.ts, &h, p.layer.l4_len);
            state[p.conn].observe(p.dir, &seg);
        }
        with_header.push(t.elapsed().as_nanos() as f64 / n);
        black_box(&state);
    }
    println!(
        "{} TCP packets, {} connections, {} bytes of state each ({} KiB in all)",
        segs.len(),
        conns,
        TcpAnalysis::SIZE_BYTES,
        conns * TcpAnalysis::SIZE_BYTES / 1024
    );
    println!(
        "observe: {:.1} ns/packet; header view + options + observe: {:.1} ns/packet (medians of {ROUNDS} rounds; min {:.1} / {:.1})",
        median(observe.clone()),
        median(with_header.clone()),
        observe.iter().copied().fold(f64::MAX, f64::min),
        with_header.iter().copied().fold(f64::MAX, f64::min),
    );
}
