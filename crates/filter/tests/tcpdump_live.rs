//! Wider differential test against a locally installed tcpdump/libpcap:
//! many more expressions than `filters.tsv`, over corpus files of every
//! supported link type. Needs `tcpdump` on PATH and the corpus; without
//! them it says why and skips (fails under `WIREWATCH_STRICT=1`). About 60-90 s
//! in a debug build: `cargo test --release -p wirewatch-filter --test
//! tcpdump_live -- --nocapture` for the figures.

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use wirewatch_filter::{compile, CompileOptions};

const EXPRS: &[&str] = &[
    "ip",
    "ip6",
    "arp",
    "rarp",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "sctp",
    "igmp",
    "pim",
    "esp",
    "ah",
    "vrrp",
    "not tcp",
    "tcp or udp",
    "tcp and udp",
    "ip and ip6",
    "host 10.0.0.1 or 192.168.1.1",
    "src host 10.0.0.1",
    "dst host 10.0.0.1",
    "src or dst host 10.0.0.1",
    "src and dst host 10.0.0.1",
    "host ::1",
    "host fe80::1",
    "ip6 net 2001:db8::/32",
    "src net fe80::/10",
    "dst net ff00::/8",
    "net 10",
    "net 192.168",
    "net 127",
    "host 192.168",
    "net 0.0.0.0/0",
    "ip host 127.0.0.1",
    "arp host 10.0.0.1",
    "port 80 or 443",
    "port (80 or 443)",
    "tcp port 443",
    "udp port 53",
    "sctp port 80",
    "src port 1024",
    "dst portrange 1-1023",
    "tcp src portrange 0-1023",
    "portrange 80-80",
    "port domain",
    "port http",
    "tcp dst port http",
    "src or dst port 53",
    "src and dst port 53",
    "ip proto 17",
    "ip proto \\tcp",
    "ip proto gre",
    "ip6 proto 58",
    "ip6 proto 6",
    "proto 17",
    "proto \\udp",
    "ether proto 0x800",
    "ether proto \\arp",
    "ether proto 0x86dd",
    "ether broadcast",
    "ether multicast",
    "multicast",
    "broadcast",
    "ip multicast",
    "ip6 multicast",
    "ether host ff:ff:ff:ff:ff:ff",
    "ether src 00:00:00:00:00:00",
    "ether dst 01:00:5e:00:00:fb",
    "vlan",
    "vlan 1",
    "vlan and ip",
    "vlan 100 and tcp",
    "vlan and vlan",
    "not vlan",
    "ip or vlan",
    "greater 100",
    "less 60",
    "len >= 64",
    "len - 14 > 1000",
    "len > 0 and - len < 100",
    "len % 2 = 0",
    "len & 1 != 0",
    "len * 2 > 200",
    "len / 3 < 20",
    "len ^ 1 > 5",
    "len << 1 > 200",
    "len >> 2 < 30",
    "ip[0] & 0xf > 5",
    "ip[2:2] > 1000",
    "ip[6] & 0x20 != 0",
    "ip[6:2] & 0x1fff != 0",
    "ip[9] = 6",
    "ip[0] + ip[1] > 70",
    "ip[ip[0] & 0xf] > 0",
    "ip6[6] = 17",
    "ip6[40] = 0x80",
    "tcp[13] = 2",
    "tcp[tcpflags] & tcp-ack != 0",
    "tcp[0:2] = 80",
    "tcp[2:2] > 1023",
    "tcp[12] >> 4 > 5",
    "tcp[tcp[12] >> 4] > 0",
    "udp[0:2] = 53",
    "udp[4:2] > 100",
    "icmp[0] = 0",
    "icmp[icmpcode] = 3",
    "icmp6[0] = 128",
    "icmp6[icmp6type] = icmp6-echo",
    "arp[6:2] = 1",
    "link[0] & 1 = 1",
    "ether[12:2] = 0x800",
    "ether[0:4] = 0xffffffff",
    "ip[0] + tcp[0] > 0",
    "tcp[0] + ip[0] > 0",
    "1 = 1",
    "0 = 1 or tcp",
    "len > 0 and 1 = 0",
    "tcp and not port 22",
    "(tcp or udp) and (port 53 or port 80)",
    "not (icmp or icmp6) and ip",
    "host 10.0.0.1 and not 10.0.0.2",
    "src host 10.0.0.1 or dst 10.0.0.2",
    "tcp[13] & 7 != 0 or udp",
    "! ip6 && ! arp",
    "ip and udp and (udp[8] = 0 or udp[9] = 1)",
    "ip6 and (tcp or udp) and not port 53",
    "icmp or (ip6 and ip6[40] = 135)",
    "net 172.16.0.0 mask 255.240.0.0 or net 10.0.0.0/8",
    "ether proto 6",
    "ether proto 0x42",
    "ether proto 0x809b",
    "ether proto 0xe0",
    "not ip and not ip6",
    "ip[8] = 64 or ip6[7] = 64",
];

fn tcpdump_count(file: &Path, expr: &str) -> Option<u64> {
    let out = Command::new("tcpdump")
        .arg("-r")
        .arg(file)
        .arg("-w")
        .arg("-")
        .arg(expr)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut r = wirewatch_capture::CaptureReader::new(Cursor::new(out.stdout)).ok()?;
    let mut n = 0;
    while let Ok(Some(_)) = r.next_frame() {
        n += 1;
    }
    Some(n)
}

/// Rows where this compiler and libpcap differ on purpose-built truncated
/// frames, explained in docs/FILTERS.md ("Known differences").
const SYNTHETIC_KNOWN: [(u32, &str); 2] = [(0, "port 80 or 443"), (0, "port (80 or 443)")];

#[test]
fn tcpdump_live() {
    wirewatch_testkit::require!(wirewatch_testkit::tool("tcpdump"));
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("corpus"));
    let tsv = match std::fs::read_to_string(dir.join("filters.tsv")) {
        Ok(t) => t,
        Err(e) => wirewatch_testkit::skip!("the corpus has no filters.tsv: {e}"),
    };
    let mut files: Vec<String> = tsv
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .map(String::from)
        .collect();
    files.dedup();
    let step: usize = std::env::var("FILTER_LIVE_STEP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let mut rows = 0;
    let mut bad = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let path = dir.join(file);
        let Ok(mut r) = wirewatch_capture::open(&path) else {
            continue;
        };
        let mut frames = Vec::new();
        let mut lt = None;
        while let Ok(Some(f)) = r.next_frame() {
            lt.get_or_insert(f.link_type);
            frames.push((f.data.to_vec(), f.wire_len));
        }
        let Some(lt) = lt else { continue };
        if lt == 1 && i % step != 0 {
            continue;
        }
        if tcpdump_count(&path, "").is_none() {
            continue;
        }
        let opts = CompileOptions {
            link_type: lt,
            snaplen: 262_144,
            linux_vlan_extensions: false,
        };
        for expr in EXPRS {
            rows += 1;
            let theirs = tcpdump_count(&path, expr);
            let ours = compile(expr, &opts)
                .ok()
                .map(|p| frames.iter().filter(|(d, w)| p.matches(d, *w)).count() as u64);
            if theirs != ours {
                bad.push(format!("{file}\t{expr}\tours {ours:?}\ttcpdump {theirs:?}"));
            }
        }
    }
    for b in &bad {
        println!("MISMATCH {b}");
    }
    println!("{rows} rows, {} mismatches", bad.len());
    assert!(bad.is_empty());
}

/// Deterministic pseudo-random numbers (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Re-frames Ethernet corpus packets as every other supported link type
/// (and cuts some short), then compares with tcpdump on those files.
#[test]
fn tcpdump_live_synthetic() {
    wirewatch_testkit::require!(wirewatch_testkit::tool("tcpdump"));
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("corpus"));
    let tsv = match std::fs::read_to_string(dir.join("filters.tsv")) {
        Ok(t) => t,
        Err(e) => wirewatch_testkit::skip!("the corpus has no filters.tsv: {e}"),
    };
    let mut files: Vec<String> = tsv
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .map(String::from)
        .collect();
    files.dedup();
    // Ethernet frames: (ethertype after VLAN tags, payload after them, whole frame, wire_len).
    let mut eth = Vec::new();
    for file in &files {
        let Ok(mut r) = wirewatch_capture::open(&dir.join(file)) else {
            continue;
        };
        while let Ok(Some(f)) = r.next_frame() {
            if f.link_type != 1 || f.data.len() < 14 || eth.len() >= 6000 {
                break;
            }
            let mut off = 12;
            let mut et = u16::from_be_bytes([f.data[12], f.data[13]]);
            while matches!(et, 0x8100 | 0x88a8 | 0x9100) && f.data.len() >= off + 6 {
                off += 4;
                et = u16::from_be_bytes([f.data[off], f.data[off + 1]]);
            }
            eth.push((et, f.data[off + 2..].to_vec(), f.data.to_vec(), f.wire_len));
        }
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let tmp = std::env::temp_dir().join(format!("wirewatch-filter-live-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut rows = 0;
    let mut bad = Vec::new();
    for lt in [1u32, 0, 108, 12, 14, 101, 228, 229, 113, 276] {
        let mut frames: Vec<(Vec<u8>, u32)> = Vec::new();
        for (et, payload, whole, wire_len) in &eth {
            let is4 = *et == 0x0800;
            let is6 = *et == 0x86dd;
            let hdr: Vec<u8> = match lt {
                1 => Vec::new(),
                0 | 108 => {
                    let af: u32 = if is4 {
                        2
                    } else if is6 {
                        [24, 28, 30][(rng.next() % 3) as usize]
                    } else {
                        (rng.next() % 40) as u32
                    };
                    if lt == 0 {
                        af.to_le_bytes().to_vec()
                    } else {
                        af.to_be_bytes().to_vec()
                    }
                }
                12 | 14 | 101 => Vec::new(),
                228 if !is4 => continue,
                229 if !is6 => continue,
                228 | 229 => Vec::new(),
                113 => {
                    let mut h = vec![
                        0,
                        (rng.next() % 5) as u8,
                        0,
                        1,
                        0,
                        6,
                        2,
                        0,
                        0,
                        0,
                        0,
                        1,
                        0,
                        0,
                    ];
                    h.extend_from_slice(&et.to_be_bytes());
                    h
                }
                _ => {
                    let mut h = et.to_be_bytes().to_vec();
                    h.extend_from_slice(&[
                        0,
                        0,
                        0,
                        0,
                        0,
                        2,
                        0,
                        1,
                        (rng.next() % 5) as u8,
                        6,
                        2,
                        0,
                        0,
                        0,
                        0,
                        1,
                        0,
                        0,
                    ]);
                    h
                }
            };
            let mut data = if lt == 1 {
                whole.clone()
            } else {
                [hdr, payload.clone()].concat()
            };
            let wire = if lt == 1 {
                *wire_len
            } else {
                data.len() as u32
            };
            if rng.next().is_multiple_of(3) && !data.is_empty() {
                let cut = (rng.next() % data.len() as u64) as usize;
                data.truncate(cut);
            }
            frames.push((data, wire));
        }
        let path = tmp.join(format!("lt{lt}.pcap"));
        let file = std::fs::File::create(&path).unwrap();
        let mut w = wirewatch_capture::PcapWriter::new(file, lt, 262_144, false).unwrap();
        for (d, wl) in &frames {
            w.write(wirewatch_wire::Timestamp::ZERO, d, *wl).unwrap();
        }
        w.finish().unwrap();
        if tcpdump_count(&path, "").is_none() {
            println!("tcpdump cannot read link type {lt}; skipped");
            continue;
        }
        let opts = CompileOptions {
            link_type: lt,
            snaplen: 262_144,
            linux_vlan_extensions: false,
        };
        for expr in EXPRS {
            rows += 1;
            let theirs = tcpdump_count(&path, expr);
            let ours = compile(expr, &opts)
                .ok()
                .map(|p| frames.iter().filter(|(d, w)| p.matches(d, *w)).count() as u64);
            if theirs != ours {
                let row = format!("lt{lt}\t{expr}\tours {ours:?}\ttcpdump {theirs:?}");
                if SYNTHETIC_KNOWN.contains(&(lt, expr)) {
                    println!("known difference (docs/FILTERS.md): {row}");
                } else {
                    bad.push(row);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    for b in &bad {
        println!("MISMATCH {b}");
    }
    println!(
        "{rows} rows over {} frames per link type, {} mismatches",
        eth.len(),
        bad.len()
    );
    assert!(bad.is_empty());
}
