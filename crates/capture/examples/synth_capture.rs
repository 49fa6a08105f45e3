//! Builds one large Ethernet pcap for offline benchmarks by replaying the
//! frames of existing captures over and over.
//!
//! ```text
//! cargo run --release -p wirewatch-capture --example synth_capture -- \
//!     --out bench-out/large.pcap [--target-bytes 1.1e9] [--min-flows 100000] \
//!     [--max-gap-ms 1000] INPUTS...
//! ```
//!
//! INPUTS are capture files (pcap or pcapng, optionally gzipped) or
//! directories, walked recursively for names containing `.pcap` or ending in
//! `.cap`. Files that cannot be read are skipped with a message; a file that
//! turns out corrupt part-way is dropped whole, one merely cut off at the end
//! keeps what was read. Only Ethernet frames (link type 1) are used.
//!
//! All usable frames are loaded once into memory (the template) and written
//! out in rounds until the output file has at least `--target-bytes` bytes
//! and at least `--min-flows` distinct bidirectional IPv4 flows:
//!
//! * In round `r` the low 16 bits of every outer IPv4 source and destination
//!   address (Ethernet, optionally VLAN/QinQ-tagged) are XORed with
//!   `r * 0x9E37 mod 2^16` (round 0 is the original traffic), so each round
//!   brings new host pairs and flows while keeping every address in its
//!   original /16. The IPv4 header checksum and, for unfragmented-or-first
//!   fragments, the TCP/UDP checksum are adjusted incrementally (RFC 1624), so
//!   a checksum that was right stays right. Non-IPv4 frames are copied as is.
//! * Timestamps increase monotonically: gaps between consecutive frames of one
//!   input are kept but capped at `--max-gap-ms` (negative gaps become 0), and
//!   inputs and rounds follow each other 1 ms apart.
//!
//! At the end it prints the packets and bytes written, the distinct
//! directional IPv4 5-tuples (src, dst, proto, sport, dport; ports are 0 for
//! protocols other than TCP/UDP and for non-first fragments), the distinct
//! bidirectional flows and the distinct unordered IPv4 host pairs.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use wirewatch_capture::{open, PcapWriter, ReadError};
use wirewatch_wire::Timestamp;

const LINKTYPE_ETHERNET: u32 = 1;
const SNAPLEN: u32 = 262_144;
/// Gap inserted between inputs and between rounds.
const JOIN_GAP_NS: i64 = 1_000_000;
/// Keys are 16 bits wide: after this many rounds they would repeat.
const MAX_ROUNDS: u64 = 1 << 16;
/// Odd, so `r * KEY_MUL mod 2^16` is a bijection on rounds 0..2^16.
const KEY_MUL: u16 = 0x9E37;
const NO_IP: u32 = u32::MAX;

const USAGE: &str =
    "usage: synth_capture --out FILE [--target-bytes N] [--min-flows N] [--max-gap-ms N] INPUTS...
  --out FILE          output pcap (Ethernet, microsecond timestamps)
  --target-bytes N    stop once the output file has at least N bytes (default 1.1e9)
  --min-flows N       ... and at least N distinct bidirectional IPv4 flows (default 100000)
  --max-gap-ms N      cap on the gap kept between consecutive frames (default 1000)
  INPUTS              pcap/pcapng files (gzip ok) or directories to walk";

struct Args {
    out: PathBuf,
    target_bytes: u64,
    min_flows: u64,
    max_gap_ns: i64,
    inputs: Vec<PathBuf>,
}

/// One template frame: a slice of the arena plus where its IPv4 header is.
struct Rec {
    start: usize,
    len: u32,
    wire_len: u32,
    /// Nanoseconds from the start of the round.
    offset_ns: i64,
    /// Offset of the outer IPv4 header in the frame, or `NO_IP`.
    ip: u32,
}

#[derive(Default)]
struct Template {
    arena: Vec<u8>,
    recs: Vec<Rec>,
    /// Round length: offset of the last frame plus the join gap.
    duration_ns: i64,
    /// Timestamp of the very first frame; round 0 starts there.
    start: Option<Timestamp>,
}

#[derive(Default)]
struct Stats {
    packets: u64,
    file_bytes: u64,
    wire_bytes: u64,
    ipv4_packets: u64,
    tuples: HashSet<(u32, u32, u8, u16, u16)>,
    flows: HashSet<(u32, u32, u8, u16, u16)>,
    pairs: HashSet<(u32, u32)>,
}

fn parse_num(flag: &str, v: Option<String>) -> Result<f64, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
    let n: f64 = v
        .trim()
        .replace('_', "")
        .parse()
        .map_err(|_| format!("{flag}: not a number: {v}"))?;
    if !n.is_finite() || n < 0.0 {
        return Err(format!("{flag}: must be a non-negative number: {v}"));
    }
    Ok(n)
}

fn parse_args() -> Result<Args, String> {
    let mut out = None;
    let mut target_bytes = 1.1e9;
    let mut min_flows = 100_000.0;
    let mut max_gap_ms = 1000.0;
    let mut inputs = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--out" | "-o" => out = Some(PathBuf::from(it.next().ok_or("--out needs a value")?)),
            "--target-bytes" => target_bytes = parse_num(&a, it.next())?,
            "--min-flows" => min_flows = parse_num(&a, it.next())?,
            "--max-gap-ms" => max_gap_ms = parse_num(&a, it.next())?,
            "--" => inputs.extend(it.by_ref().map(PathBuf::from)),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => inputs.push(PathBuf::from(a)),
        }
    }
    let out = out.ok_or("--out FILE is required")?;
    if inputs.is_empty() {
        return Err("no INPUTS given".into());
    }
    Ok(Args {
        out,
        target_bytes: target_bytes as u64,
        min_flows: min_flows as u64,
        max_gap_ns: (max_gap_ms * 1e6) as i64,
        inputs,
    })
}

/// Expands directories (recursively, sorted) into the capture files below them.
fn collect_inputs(inputs: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(dir) else {
            eprintln!("skip {}: cannot list directory", dir.display());
            return;
        };
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().to_lowercase())
                    .unwrap_or_default();
                if name.contains(".pcap") || name.ends_with(".cap") {
                    out.push(p);
                }
            }
        }
    }
    let mut files = Vec::new();
    for p in inputs {
        if p.is_dir() {
            walk(p, &mut files);
        } else {
            files.push(p.clone());
        }
    }
    files
}

/// Offset of the IPv4 header in an Ethernet frame (after up to 4 VLAN tags),
/// if the frame carries a complete one.
fn ipv4_offset(frame: &[u8]) -> Option<usize> {
    let mut off = 12;
    let mut ethertype = u16::from_be_bytes([*frame.get(off)?, *frame.get(off + 1)?]);
    off += 2;
    for _ in 0..4 {
        if !matches!(ethertype, 0x8100 | 0x88A8 | 0x9100) {
            break;
        }
        ethertype = u16::from_be_bytes([*frame.get(off + 2)?, *frame.get(off + 3)?]);
        off += 4;
    }
    if ethertype != 0x0800 {
        return None;
    }
    let vihl = *frame.get(off)?;
    let ihl = usize::from(vihl & 0x0F) * 4;
    if vihl >> 4 != 4 || ihl < 20 || frame.len() < off + ihl {
        return None;
    }
    Some(off)
}

/// Appends the Ethernet frames of one capture to the template. On a read
/// error other than a truncated last record, the whole file is dropped.
fn load_file(path: &Path, max_gap_ns: i64, t: &mut Template) -> Result<(usize, usize), String> {
    let mut reader = open(path).map_err(|e| e.to_string())?;
    let (arena_len, recs_len, duration) = (t.arena.len(), t.recs.len(), t.duration_ns);
    let mut prev: Option<Timestamp> = None;
    let mut offset = t.duration_ns;
    let mut other = 0usize;
    let mut truncated: Option<ReadError> = None;
    loop {
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.is_truncation() => {
                truncated = Some(e);
                break;
            }
            Err(e) => {
                t.arena.truncate(arena_len);
                t.recs.truncate(recs_len);
                t.duration_ns = duration;
                return Err(e.to_string());
            }
        };
        if frame.link_type != LINKTYPE_ETHERNET || frame.data.len() < 14 {
            other += 1;
            continue;
        }
        if t.start.is_none() {
            t.start = Some(frame.ts);
        }
        if let Some(p) = prev {
            offset += frame.ts.nanos_since(p).clamp(0, max_gap_ns);
        }
        prev = Some(frame.ts);
        let ip = ipv4_offset(frame.data).map_or(NO_IP, |o| o as u32);
        t.recs.push(Rec {
            start: t.arena.len(),
            len: frame.data.len() as u32,
            wire_len: frame.wire_len.max(frame.data.len() as u32),
            offset_ns: offset,
            ip,
        });
        t.arena.extend_from_slice(frame.data);
    }
    if t.recs.len() > recs_len {
        t.duration_ns = offset + JOIN_GAP_NS;
    }
    if let Some(e) = truncated {
        eprintln!("note {}: {e} (kept the frames before it)", path.display());
    }
    Ok((t.recs.len() - recs_len, other))
}

/// One's-complement checksum update for one 16-bit word (RFC 1624 eqn. 3).
fn csum_adjust(csum: u16, old: u16, new: u16) -> u16 {
    let mut s = u32::from(!csum) + u32::from(!old) + u32::from(new);
    while s > 0xFFFF {
        s = (s & 0xFFFF) + (s >> 16);
    }
    !(s as u16)
}

fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// XORs the low 16 bits of both IPv4 addresses with `key`, fixing checksums.
fn rewrite_ipv4(frame: &mut [u8], ip: usize, key: u16) {
    if key == 0 {
        return;
    }
    let ihl = usize::from(frame[ip] & 0x0F) * 4;
    let frag_off = get16(frame, ip + 6) & 0x1FFF;
    let proto = frame[ip + 9];
    let l4 = ip + ihl;
    // Where the TCP/UDP checksum is, if it is captured and covers the addresses.
    let l4_csum = match proto {
        6 if frag_off == 0 && frame.len() >= l4 + 18 => Some(l4 + 16),
        17 if frag_off == 0 && frame.len() >= l4 + 8 && get16(frame, l4 + 6) != 0 => Some(l4 + 6),
        _ => None,
    };
    for at in [ip + 14, ip + 18] {
        let old = get16(frame, at);
        let new = old ^ key;
        put16(frame, at, new);
        let c = csum_adjust(get16(frame, ip + 10), old, new);
        put16(frame, ip + 10, c);
        if let Some(ca) = l4_csum {
            let mut c = csum_adjust(get16(frame, ca), old, new);
            if proto == 17 && c == 0 {
                c = 0xFFFF;
            }
            put16(frame, ca, c);
        }
    }
}

/// Records the 5-tuple, flow and host pair of a (rewritten) IPv4 frame.
fn count_ipv4(frame: &[u8], ip: usize, st: &mut Stats) {
    let ihl = usize::from(frame[ip] & 0x0F) * 4;
    let frag_off = get16(frame, ip + 6) & 0x1FFF;
    let proto = frame[ip + 9];
    let src = u32::from_be_bytes([
        frame[ip + 12],
        frame[ip + 13],
        frame[ip + 14],
        frame[ip + 15],
    ]);
    let dst = u32::from_be_bytes([
        frame[ip + 16],
        frame[ip + 17],
        frame[ip + 18],
        frame[ip + 19],
    ]);
    let l4 = ip + ihl;
    let (sport, dport) = if matches!(proto, 6 | 17) && frag_off == 0 && frame.len() >= l4 + 4 {
        (get16(frame, l4), get16(frame, l4 + 2))
    } else {
        (0, 0)
    };
    st.ipv4_packets += 1;
    st.tuples.insert((src, dst, proto, sport, dport));
    let flow = if (src, sport) <= (dst, dport) {
        (src, dst, proto, sport, dport)
    } else {
        (dst, src, proto, dport, sport)
    };
    st.flows.insert(flow);
    st.pairs.insert((src.min(dst), src.max(dst)));
}

fn run(args: Args) -> Result<(), String> {
    let t0 = Instant::now();
    let files = collect_inputs(&args.inputs);
    let mut t = Template::default();
    let (mut used, mut skipped, mut other_frames) = (0usize, 0usize, 0usize);
    for f in &files {
        match load_file(f, args.max_gap_ns, &mut t) {
            Ok((0, other)) => {
                skipped += 1;
                other_frames += other;
                eprintln!("skip {}: no Ethernet frames", f.display());
            }
            Ok((_, other)) => {
                used += 1;
                other_frames += other;
            }
            Err(e) => {
                skipped += 1;
                eprintln!("skip {}: {e}", f.display());
            }
        }
    }
    let Some(start) = t.start else {
        return Err("no Ethernet frames in any input".into());
    };
    let template_ipv4 = t.recs.iter().filter(|r| r.ip != NO_IP).count();
    println!(
        "template: {} frames ({} IPv4) from {used} of {} input files ({skipped} skipped, {other_frames} non-Ethernet frames ignored), {} bytes, {:.1} s per round",
        t.recs.len(),
        template_ipv4,
        files.len(),
        t.arena.len(),
        t.duration_ns as f64 / 1e9
    );

    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let file = File::create(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let io_err = |e: std::io::Error| format!("{}: {e}", args.out.display());
    let mut w = PcapWriter::new(
        BufWriter::with_capacity(8 << 20, file),
        LINKTYPE_ETHERNET,
        SNAPLEN,
        false,
    )
    .map_err(io_err)?;
    let mut st = Stats {
        file_bytes: 24,
        ..Stats::default()
    };
    let mut scratch = Vec::with_capacity(SNAPLEN as usize);
    let mut last_ts = start;
    let mut rounds = 0u64;
    let mut done = false;
    for round in 0..MAX_ROUNDS {
        let key = (round as u16).wrapping_mul(KEY_MUL);
        let base = start.add_nanos(round as i64 * t.duration_ns);
        let flows_before = st.flows.len();
        rounds = round + 1;
        for r in &t.recs {
            scratch.clear();
            scratch.extend_from_slice(&t.arena[r.start..r.start + r.len as usize]);
            if r.ip != NO_IP {
                rewrite_ipv4(&mut scratch, r.ip as usize, key);
                count_ipv4(&scratch, r.ip as usize, &mut st);
            }
            let ts = base.add_nanos(r.offset_ns);
            w.write(ts, &scratch, r.wire_len).map_err(io_err)?;
            last_ts = ts;
            st.packets += 1;
            st.file_bytes += 16 + u64::from(r.len);
            st.wire_bytes += u64::from(r.wire_len);
            if st.file_bytes >= args.target_bytes && st.flows.len() as u64 >= args.min_flows {
                done = true;
                break;
            }
        }
        if done {
            break;
        }
        if st.file_bytes >= args.target_bytes && st.flows.len() == flows_before {
            eprintln!("warning: a whole round added no new flow; stopping below --min-flows");
            break;
        }
    }
    let mut out = w.finish().map_err(io_err)?;
    out.flush().map_err(io_err)?;
    drop(out);
    if !done && rounds == MAX_ROUNDS {
        eprintln!("warning: stopped after {MAX_ROUNDS} rounds (keys exhausted) before reaching the targets");
    }

    println!("output: {}", args.out.display());
    println!("rounds: {rounds}");
    println!("packets written: {}", st.packets);
    println!("file bytes: {}", st.file_bytes);
    println!("wire bytes: {}", st.wire_bytes);
    println!("ipv4 packets: {}", st.ipv4_packets);
    println!("distinct 5-tuples (directional): {}", st.tuples.len());
    println!("distinct flows (bidirectional): {}", st.flows.len());
    println!("distinct ipv4 host pairs: {}", st.pairs.len());
    println!(
        "time span: {} .. {}",
        start.to_rfc3339(),
        last_ts.to_rfc3339()
    );
    println!("elapsed: {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("synth_capture: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synth_capture: {e}");
            ExitCode::FAILURE
        }
    }
}
