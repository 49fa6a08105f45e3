//! End-to-end tests of the `wirewatch` binary on captures built in code.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::common::{bad, ip, stdout_of, t, write_pcap, ww};
use wirewatch_capture::{PcapWriter, PcapngWriter};
use wirewatch_testkit::{tcp_frame, udp_frame};
use wirewatch_wire::build::*;
use wirewatch_wire::Timestamp;

/// A capture with three known conversations:
/// - 10.0.0.1:5000 ↔ 10.0.0.2:53: 3 queries of 100 IP bytes, 2 answers of 200
/// - 2001:db8::1 → 2001:db8::2 TCP: 1 segment, 60 IP bytes
/// - 10.0.0.3 → 10.0.0.2 UDP: 1 datagram of 28 IP bytes
///
/// Plus one ARP frame.
fn sample_frames() -> Vec<(Timestamp, Vec<u8>)> {
    let v6 = eth(
        0x86DD,
        &ipv6(
            ip("2001:db8::1"),
            ip("2001:db8::2"),
            6,
            &tcp(40000, 443, 0x02, &[]),
        ),
    );
    vec![
        (t(0), udp_frame("10.0.0.1", 5000, "10.0.0.2", 53, 72)),
        (t(10), udp_frame("10.0.0.2", 53, "10.0.0.1", 5000, 172)),
        (t(1000), udp_frame("10.0.0.1", 5000, "10.0.0.2", 53, 72)),
        (t(1500), v6),
        (t(2500), udp_frame("10.0.0.3", 9, "10.0.0.2", 9, 0)),
        (t(3000), eth(0x0806, &[0; 28])),
        (t(5000), udp_frame("10.0.0.1", 5000, "10.0.0.2", 53, 72)),
        (t(5010), udp_frame("10.0.0.2", 53, "10.0.0.1", 5000, 172)),
    ]
}

fn first7(csv: &str) -> Vec<String> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').take(7).collect::<Vec<_>>().join(","))
        .collect()
}

#[test]
fn csv_host_pairs_exact() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pcap(dir.path(), "s.pcap", &sample_frames());
    let csv = stdout_of(&["-r", p.to_str().unwrap(), "--format", "csv", "--no-summary"]);
    assert!(csv.starts_with(
        "family,src,dst,packets_src_to_dst,bytes_src_to_dst,packets_dst_to_src,bytes_dst_to_src,"
    ));
    assert_eq!(
        first7(&csv),
        vec![
            "ipv4,10.0.0.1,10.0.0.2,3,300,2,400",
            "ipv6,2001:db8::1,2001:db8::2,1,60,0,0",
            "ipv4,10.0.0.3,10.0.0.2,1,28,0,0"
        ]
    );
    // Frame bytes add the 14-byte Ethernet header per frame.
    let csv = stdout_of(&[
        "-r",
        p.to_str().unwrap(),
        "--format",
        "csv",
        "--bytes",
        "frame",
        "--no-summary",
    ]);
    assert_eq!(first7(&csv)[0], "ipv4,10.0.0.1,10.0.0.2,3,342,2,428");
    // Ports view (iftop -P).
    let csv = stdout_of(&[
        "-r",
        p.to_str().unwrap(),
        "--format",
        "csv",
        "-P",
        "--no-summary",
    ]);
    let row = csv.lines().nth(1).unwrap();
    assert!(
        row.starts_with("ipv4,10.0.0.1,10.0.0.2,3,300,2,400,5000,53,udp,1,"),
        "{row}"
    );
}

#[test]
fn same_table_from_pcapng_stdin_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let frames = sample_frames();
    let p = write_pcap(dir.path(), "s.pcap", &frames);
    let base = stdout_of(&["-r", p.to_str().unwrap(), "--format", "csv", "--no-summary"]);

    let ng = dir.path().join("s.pcapng");
    let mut w = PcapngWriter::new(std::fs::File::create(&ng).unwrap()).unwrap();
    let i = w.interface(1, 0, 9).unwrap();
    for (ts, f) in &frames {
        w.packet(i, *ts, f, f.len() as u32).unwrap();
    }
    w.finish().unwrap();
    assert_eq!(
        stdout_of(&[
            "-r",
            ng.to_str().unwrap(),
            "--format",
            "csv",
            "--no-summary"
        ]),
        base
    );

    let bytes = std::fs::read(&p).unwrap();
    let out = ww()
        .args(["-r", "-", "--format", "csv", "--no-summary"])
        .write_stdin(bytes.clone())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        base.replace(p.to_str().unwrap(), "-")
    );

    let gz = dir.path().join("s.pcap.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(&bytes).unwrap();
    enc.finish().unwrap();
    assert_eq!(
        stdout_of(&[
            "-r",
            gz.to_str().unwrap(),
            "--format",
            "csv",
            "--no-summary"
        ]),
        base
    );
}

#[test]
fn json_reports_every_interval_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pcap(dir.path(), "s.pcap", &sample_frames());
    let out = stdout_of(&[
        "-r",
        p.to_str().unwrap(),
        "--format",
        "json",
        "--interval",
        "2",
    ]);
    let objs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = objs.iter().map(|o| o["type"].as_str().unwrap()).collect();
    // Packets span 0..5.01 s: interval reports end at 2 s and 4 s, then the final report and summary.
    assert_eq!(kinds, vec!["interval", "interval", "final", "summary"]);
    let first = &objs[0];
    assert_eq!(
        first["end"].as_f64().unwrap() - first["start"].as_f64().unwrap(),
        2.0
    );
    let e = &first["entries"][0];
    assert_eq!(e["src"], "10.0.0.1");
    assert_eq!(e["src_to_dst"]["packets"], 2);
    assert_eq!(e["src_to_dst"]["rate_2s_bytes_per_s"], 100.0);
    let fin = &objs[2];
    assert_eq!(fin["entries"].as_array().unwrap().len(), 3);
    let sum = &objs[3];
    assert_eq!(sum["packets"], 8);
    assert_eq!(sum["non_ip_packets"], 1);
    assert_eq!(sum["ip_packets"], 7);
    assert_eq!(sum["span_s"], 5.01);
}

#[test]
fn text_report_looks_like_iftop() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pcap(dir.path(), "s.pcap", &sample_frames());
    let out = stdout_of(&["-r", p.to_str().unwrap(), "-L", "1"]);
    assert!(
        out.contains("last 2s   last 10s   last 40s cumulative"),
        "{out}"
    );
    let lines: Vec<&str> = out.lines().collect();
    let i = lines.iter().position(|l| l.contains(" => ")).unwrap();
    assert!(lines[i].starts_with("   1 10.0.0.1 "), "{}", lines[i]);
    assert!(lines[i].ends_with("300B"), "{}", lines[i]);
    assert!(
        lines[i + 1].contains("10.0.0.2")
            && lines[i + 1].contains(" <= ")
            && lines[i + 1].ends_with("400B")
    );
    assert_eq!(out.matches(" => ").count(), 1, "-L 1 limits the rows");
    assert!(out.contains("Total send rate:"));
    assert!(out.contains("Cumulative (sent/received/total):"));
    assert!(out.contains("non-IP packets:     1"));
}

#[test]
fn decap_accounts_the_inner_header() {
    let dir = tempfile::tempdir().unwrap();
    let inner = ipv4(
        ip("192.168.7.1"),
        ip("192.168.7.2"),
        17,
        &udp(1, 2, &[0; 12]),
    );
    let frame = eth(
        0x0800,
        &ipv4(ip("1.0.0.1"), ip("1.0.0.2"), 47, &gre(0x0800, &inner)),
    );
    let p = write_pcap(dir.path(), "gre.pcap", &[(t(0), frame)]);
    let outer = stdout_of(&["-r", p.to_str().unwrap(), "--format", "csv", "--no-summary"]);
    assert_eq!(first7(&outer), vec!["ipv4,1.0.0.1,1.0.0.2,1,64,0,0"]);
    let inner = stdout_of(&[
        "-r",
        p.to_str().unwrap(),
        "--format",
        "csv",
        "--no-summary",
        "--decap",
    ]);
    assert_eq!(
        first7(&inner),
        vec!["ipv4,192.168.7.1,192.168.7.2,1,40,0,0"]
    );
    let all = stdout_of(&[
        "-r",
        p.to_str().unwrap(),
        "--format",
        "csv",
        "--no-summary",
        "--ip-layers",
        "all",
    ]);
    assert_eq!(first7(&all).len(), 2);
}

#[test]
fn local_networks_set_direction() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pcap(
        dir.path(),
        "d.pcap",
        &[(t(0), udp_frame("8.8.8.8", 53, "192.168.1.9", 4444, 0))],
    );
    let csv = stdout_of(&[
        "-r",
        p.to_str().unwrap(),
        "--format",
        "csv",
        "--no-summary",
        "-F",
        "192.168.1.0/255.255.255.0",
    ]);
    assert_eq!(first7(&csv), vec!["ipv4,192.168.1.9,8.8.8.8,0,0,1,28"]);
}

#[test]
fn bad_input_is_a_one_line_error_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pcap");
    bad(
        &["-r", missing.to_str().unwrap()],
        "nope.pcap: No such file",
    );
    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture at all").unwrap();
    bad(
        &["-r", junk.to_str().unwrap()],
        "junk.pcap: not a pcap or pcapng capture at byte 0",
    );
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    bad(&["-r", empty.to_str().unwrap()], "empty.pcap: not a pcap");
    let ok = write_pcap(dir.path(), "s.pcap", &sample_frames());
    bad(
        &["-r", ok.to_str().unwrap(), "-F", "300.1.1.1/8"],
        "bad network '300.1.1.1/8'",
    );
    bad(
        &["-r", ok.to_str().unwrap(), "-G", "10.0.0.0/8"],
        "-G takes an IPv6 network",
    );
    bad(
        &["-r", ok.to_str().unwrap(), "--interval", "0"],
        "--interval must be a positive",
    );
    bad(
        &["-r", ok.to_str().unwrap(), "--interval", "1e-10"],
        "--interval must be at least one nanosecond",
    );
    bad(
        &["-r", ok.to_str().unwrap(), "-P", "--view", "src"],
        "-P contradicts --view src",
    );
}

#[test]
fn cut_off_last_record_is_a_warning_and_everything_before_counts() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pcap(dir.path(), "s.pcap", &sample_frames());
    let mut b = std::fs::read(&p).unwrap();
    b.truncate(b.len() - 10);
    std::fs::write(&p, &b).unwrap();
    let out = ww()
        .args(["-r", p.to_str().unwrap(), "--format", "csv", "--no-summary"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("warning:") && err.contains("s.pcap") && err.contains("cut off"),
        "{err}"
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(first7(&csv)[0], "ipv4,10.0.0.1,10.0.0.2,3,300,1,200");
}

#[test]
fn corrupt_record_mid_file_keeps_the_report_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pcap(dir.path(), "s.pcap", &sample_frames());
    let mut b = std::fs::read(&p).unwrap();
    // Third record header starts after two records of 14+20+8+72 and 14+20+8+172 bytes.
    let third = 24 + (16 + 114) + (16 + 214);
    b[third + 8..third + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&p, &b).unwrap();
    let csv = bad(
        &["-r", p.to_str().unwrap(), "--format", "csv", "--no-summary"],
        &format!("absurd pcap record captured length 4294967295 at byte {third}"),
    );
    assert_eq!(first7(&csv), vec!["ipv4,10.0.0.1,10.0.0.2,1,100,1,200"]);
}

#[test]
fn unknown_link_types_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("lt.pcap");
    let mut w = PcapWriter::new(std::fs::File::create(&p).unwrap(), 147, 65535, false).unwrap();
    w.write(t(0), &[1, 2, 3], 3).unwrap();
    w.write(t(1), &[1, 2, 3], 3).unwrap();
    w.finish().unwrap();
    let out = stdout_of(&["-r", p.to_str().unwrap(), "--format", "json"]);
    let sum: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(sum["unknown_link_types"]["147"], 2);
    let text = stdout_of(&["-r", p.to_str().unwrap()]);
    assert!(
        text.contains("unsupported link type linktype_147 (147): 2 packets"),
        "{text}"
    );
}

#[test]
fn unknown_interface_lists_the_available_ones() {
    let out = ww()
        .args(["-i", "no-such-if0", "-s", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no interface named 'no-such-if0'; available: lo"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn bad_live_options_are_errors() {
    bad(
        &["-i", "lo", "--ring-block-size", "1000"],
        "multiple of the page size",
    );
    bad(&["-i", "lo", "--ring-block-size", "12288"], "power of two");
    bad(
        &["-i", "lo", "--ring-blocks", "0"],
        "block count must be at least 1",
    );
    bad(
        &["-i", "lo", "--snaplen", "10"],
        "--snaplen must be between",
    );
    bad(&["-i", "lo", "-s", "0"], "-s must be a positive number");
    bad(
        &["-i", "lo", "-s", "1", "-f", "udp prt 1"],
        "for link type ether (1): column 5:",
    );
}

#[test]
fn file_filter_selects_frames_like_the_kernel_would() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pcap(dir.path(), "s.pcap", &sample_frames());
    let p = p.to_str().unwrap();
    let rows = |expr: &str| {
        let csv = stdout_of(&["-r", p, "-f", expr, "--format", "csv", "--no-summary"]);
        first7(&csv)
    };
    assert_eq!(
        rows("udp port 53"),
        vec!["ipv4,10.0.0.1,10.0.0.2,3,300,2,400"]
    );
    assert_eq!(
        rows("ip6 or (src host 10.0.0.3 && udp)"),
        vec![
            "ipv6,2001:db8::1,2001:db8::2,1,60,0,0",
            "ipv4,10.0.0.3,10.0.0.2,1,28,0,0"
        ]
    );
    // The answers only: 200 IP bytes + 14 = 214-byte frames.
    assert_eq!(
        rows("greater 200 and not ip6"),
        vec!["ipv4,10.0.0.2,10.0.0.1,2,400,0,0"]
    );
    assert_eq!(
        rows("ip6 and tcp dst port 443"),
        vec!["ipv6,2001:db8::1,2001:db8::2,1,60,0,0"]
    );
    // As in libpcap, tcp[...] reads the IPv4 header only: the IPv6 SYN fails.
    assert!(rows("tcp[tcpflags] & tcp-syn != 0").is_empty());
    assert!(rows("arp or icmp").is_empty());
    // The summary counts only what passed.
    let json = stdout_of(&["-r", p, "-f", "udp", "--format", "json"]);
    let summary: serde_json::Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();
    assert_eq!(summary["packets"], 6);
}

#[test]
fn bad_filter_is_a_one_line_error_at_its_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pcap(dir.path(), "s.pcap", &sample_frames());
    let p = p.to_str().unwrap();
    let out = bad(&["-r", p, "-f", "tcp prt 80"], "column 5:");
    assert!(out.is_empty(), "no report after a bad filter: {out}");
    bad(&["-r", p, "-f", "tcp and (port 80 or"], "column 20:");
    bad(&["-r", p, "-f", "port 99999"], "port 99999");
    bad(&["-r", p, "-f", "tcp and udp"], "rejects all packets");
    bad(
        &["-r", p, "-f", "gateway foo"],
        "'gateway' is not supported",
    );
}

#[test]
fn file_duration_stops_at_capture_time() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pcap(dir.path(), "s.pcap", &sample_frames());
    let p = p.to_str().unwrap();
    // Frames at 0, 10, 1000 and 1500 ms are inside the first 2 s.
    let csv = stdout_of(&["-r", p, "-s", "2", "--format", "csv", "--no-summary"]);
    assert_eq!(
        first7(&csv),
        vec![
            "ipv4,10.0.0.1,10.0.0.2,2,200,1,200",
            "ipv6,2001:db8::1,2001:db8::2,1,60,0,0"
        ]
    );
}

#[test]
fn config_files_and_screen_flags_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write_pcap(dir.path(), "ok.pcap", &sample_frames());
    let ok = ok.to_str().unwrap();
    let rc = dir.path().join("bad.rc");
    std::fs::write(&rc, "dns-resolution: no\nsort: sideways\n").unwrap();
    let rc = rc.to_str().unwrap().to_string();
    bad(&["-r", ok, "-c", &rc], &format!("{rc}:2:"));
    let toml = dir.path().join("bad.toml");
    std::fs::write(&toml, "[tui]\nrefresh-ms = \"soon\"\n").unwrap();
    let toml = toml.to_str().unwrap().to_string();
    bad(&["-r", ok, "--config", &toml], &format!("{toml}:2"));
    bad(&["-r", ok, "-c", "/nonexistent/rc"], "/nonexistent/rc");
    bad(&["-r", ok, "-m", "fast"], "-m takes a bandwidth");
    // A good iftoprc applies: sort by source and bytes units in text mode.
    let good = dir.path().join("good.rc");
    std::fs::write(&good, "# comment\nuse-bytes: true\nport-display: on\n").unwrap();
    let out = stdout_of(&["-r", ok, "-t", "-c", good.to_str().unwrap(), "--no-summary"]);
    assert!(
        out.contains("10.0.0.1:5000"),
        "port-display: on gives ports: {out}"
    );
    assert!(out.contains("KB") || out.contains("B "), "{out}");
    // JSON carries the process fields (null for a file: no local process).
    let json = stdout_of(&["-r", ok, "--format", "json"]);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    let e = &first["entries"][0];
    assert!(e.get("process").is_some_and(|p| p.is_null()), "{e}");
    assert_eq!(e["more_processes"], false);
}

#[test]
fn config_layers_flags_over_toml_over_iftoprc() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write_pcap(dir.path(), "ok.pcap", &sample_frames());
    let ok = ok.to_str().unwrap();
    let home = dir.path().join("home");
    let xdg = dir.path().join("xdg");
    std::fs::create_dir_all(xdg.join("wirewatch")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    // ~/.iftoprc: ports on, sort by source. Default TOML: ports off.
    std::fs::write(home.join(".iftoprc"), "port-display: on\nsort: source\n").unwrap();
    std::fs::write(
        xdg.join("wirewatch/config.toml"),
        "port-display = \"off\"\n",
    )
    .unwrap();
    let named = dir.path().join("named.toml");
    std::fs::write(&named, "sort = \"total\"\n").unwrap();
    let run = |extra: &[&str]| {
        let out = ww()
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", &xdg)
            .args(["-r", ok, "-t", "--no-summary"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // TOML over iftoprc: no ports.
    assert!(!run(&[]).contains("10.0.0.1:5000"));
    // A TOML file named with -c replaces the default TOML: the iftoprc's ports are back.
    let s = run(&["-c", named.to_str().unwrap()]);
    assert!(s.contains("10.0.0.1:5000"), "{s}");
    // Flags over both: -P.
    assert!(run(&["-P"]).contains("10.0.0.1:5000"));
    // Two TOML files named: refused.
    bad(
        &[
            "-r",
            ok,
            "-c",
            named.to_str().unwrap(),
            "--config",
            named.to_str().unwrap(),
        ],
        "give one",
    );
}

/// 2026-11-23T10:00:00Z in milliseconds since `t`'s origin.
fn at(secs_after_10h: i64) -> Timestamp {
    Timestamp::from_secs(1_795_428_000 + secs_after_10h)
}

/// Traffic over four minutes from 10:00Z (IP bytes):
/// - 10:00:10 10.0.0.1:40000 → 192.0.2.1:443 TCP 140 (100 payload), back 540
/// - 10:01:30 the same again, and 10.0.0.1:5353 → 192.0.2.53:53 UDP 60, back 128
/// - 10:03:05 10.0.0.2:41000 → 192.0.2.1:80 TCP 1040, back 60
fn history_frames() -> Vec<(Timestamp, Vec<u8>)> {
    vec![
        (
            at(10),
            tcp_frame("10.0.0.1", 40000, "192.0.2.1", 443, 0x18, 100),
        ),
        (
            at(11),
            tcp_frame("192.0.2.1", 443, "10.0.0.1", 40000, 0x18, 500),
        ),
        (
            at(90),
            tcp_frame("10.0.0.1", 40000, "192.0.2.1", 443, 0x18, 100),
        ),
        (
            at(91),
            tcp_frame("192.0.2.1", 443, "10.0.0.1", 40000, 0x18, 500),
        ),
        (at(95), udp_frame("10.0.0.1", 5353, "192.0.2.53", 53, 32)),
        (at(96), udp_frame("192.0.2.53", 53, "10.0.0.1", 5353, 100)),
        (
            at(185),
            tcp_frame("10.0.0.2", 41000, "192.0.2.1", 80, 0x18, 1000),
        ),
        (
            at(186),
            tcp_frame("192.0.2.1", 80, "10.0.0.2", 41000, 0x18, 20),
        ),
    ]
}

const RANGE: [&str; 4] = [
    "--since",
    "2026-11-23T09:00:00Z",
    "--until",
    "2026-11-23T11:00:00Z",
];

fn import(dir: &Path) -> PathBuf {
    let cap = write_pcap(dir, "h.pcap", &history_frames());
    let db = dir.join("h.db");
    let out = ww()
        .args([
            "-r",
            cap.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "-t",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("history: 4 rows written to"), "{err}");
    db
}

fn history(db: &Path, args: &[&str]) -> String {
    let mut all = vec!["history"];
    all.extend_from_slice(&args[..1]);
    all.extend_from_slice(&["--db", db.to_str().unwrap()]);
    if !args.contains(&"--since") {
        all.extend_from_slice(&RANGE);
    }
    all.extend_from_slice(&args[1..]);
    stdout_of(&all)
}

fn json_of(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn imported_capture_answers_history_queries_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let db = import(dir.path());
    // Flows: each once, with its minutes and bytes per direction.
    let flows: Vec<serde_json::Value> = history(&db, &["flows", "--json"])
        .lines()
        .map(json_of)
        .collect();
    // local:port remote:port out in first–last
    let got: Vec<String> = flows
        .iter()
        .map(|f| {
            format!(
                "{}:{} {}:{} {} {} {}–{}",
                f["local"].as_str().unwrap(),
                f["local_port"],
                f["remote"].as_str().unwrap(),
                f["remote_port"],
                f["bytes_out"],
                f["bytes_in"],
                &f["first"].as_str().unwrap()[11..16],
                &f["last"].as_str().unwrap()[11..16],
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            "10.0.0.1:40000 192.0.2.1:443 280 1080 10:00–10:02",
            "10.0.0.2:41000 192.0.2.1:80 1040 60 10:03–10:04",
            "10.0.0.1:5353 192.0.2.53:53 60 128 10:01–10:02",
        ]
    );
    assert_eq!(flows[0]["first"], "2026-11-23T10:00:00Z");
    assert_eq!(flows[0]["iface"], "h.pcap");
    assert_eq!(flows[0]["protocol"], "tcp");
    assert_eq!(flows[0]["packets_out"], 2);
    // Top remote hosts, with the grand total.
    let top = json_of(&history(&db, &["top", "--by", "remote", "--json"]));
    let entries: Vec<(String, u64)> = top["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().into(),
                e["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![("192.0.2.1".into(), 2460), ("192.0.2.53".into(), 188)]
    );
    assert_eq!(top["total"]["bytes"], 2648);
    // -f selects flows like a capture filter would.
    let udp = json_of(&history(
        &db,
        &["top", "--by", "port", "-f", "udp port 53", "--json"],
    ));
    assert_eq!(udp["entries"][0]["key"], "udp/53");
    assert_eq!(udp["total"]["bytes"], 188);
    // --proto by name (the decoder's protocol names).
    let udp = json_of(&history(
        &db,
        &["top", "--by", "port", "--proto", "udp", "--json"],
    ));
    assert_eq!(udp["total"]["bytes"], 188);
    // Options select in the engine.
    let h = json_of(&history(
        &db,
        &["top", "--by", "pair", "--host", "10.0.0.2", "--json"],
    ));
    assert_eq!(h["entries"][0]["key"], "10.0.0.2 <=> 192.0.2.1");
    assert_eq!(h["entities"], 1);
    // Series per minute: the bytes of each minute, zero between.
    let s = json_of(&history(
        &db,
        &[
            "series",
            "--step",
            "1m",
            "--json",
            "--since",
            "2026-11-23T10:00:00Z",
            "--until",
            "2026-11-23T10:05:00Z",
        ],
    ));
    let pts: Vec<u64> = s["lines"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(pts, vec![680, 868, 0, 1100, 0]);
    let bps = s["lines"][0]["points"][0]["bits_per_second"]
        .as_f64()
        .unwrap();
    assert!((bps - 680.0 * 8.0 / 60.0).abs() < 1e-9, "{bps}");
    // A bucket cut by the range: its rate is over the part inside it
    // (10:01–10:04 of the 10:00 hour: 1,968 bytes in 3 minutes).
    let s = json_of(&history(
        &db,
        &[
            "series",
            "--step",
            "1h",
            "--json",
            "--since",
            "2026-11-23T10:01:00Z",
            "--until",
            "2026-11-23T10:04:00Z",
        ],
    ));
    let p0 = &s["lines"][0]["points"][0];
    assert_eq!(p0["bytes"], 1968);
    let bps = p0["bits_per_second"].as_f64().unwrap();
    assert!((bps - 1968.0 * 8.0 / 180.0).abs() < 1e-9, "{bps}");
    // --limit 0: every entry.
    let all = json_of(&history(
        &db,
        &["top", "--by", "remote", "--limit", "0", "--json"],
    ));
    assert_eq!(all["entries"].as_array().unwrap().len(), 2);
    // CSV and the table carry the same numbers.
    let csv = history(&db, &["top", "--by", "remote", "--csv"]);
    assert_eq!(csv.lines().nth(1), Some("192.0.2.1,3,1140,3,1320,2460"));
    let table = history(&db, &["flows"]);
    assert!(
        table.starts_with("3 of 3 flows, 2026-11-23 09:00 – 2026-11-23 11:00 UTC"),
        "{table}"
    );
    assert!(
        table.contains("10.0.0.1:40000") && table.contains("192.0.2.1:443"),
        "{table}"
    );
}

#[test]
fn plots_are_png_and_svg_of_the_asked_size() {
    let dir = tempfile::tempdir().unwrap();
    let db = import(dir.path());
    for (name, w, h) in [("u.png", 900u32, 450u32), ("u.svg", 700, 350)] {
        let out = dir.path().join(name);
        let said = history(
            &db,
            &[
                "plot",
                "--out",
                out.to_str().unwrap(),
                "--width",
                &w.to_string(),
                "--height",
                &h.to_string(),
                "--step",
                "1m",
                "--by",
                "remote",
            ],
        );
        assert!(said.contains(&format!("({w}x{h}, 2 lines")), "{said}");
        let b = std::fs::read(&out).unwrap();
        if name.ends_with(".png") {
            assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n");
            // IHDR: width and height, big-endian, right after its type.
            assert_eq!(&b[12..16], b"IHDR");
            assert_eq!(u32::from_be_bytes(b[16..20].try_into().unwrap()), w);
            assert_eq!(u32::from_be_bytes(b[20..24].try_into().unwrap()), h);
            assert!(
                b.len() > 2_000,
                "a chart, not an empty image: {} bytes",
                b.len()
            );
        } else {
            let s = String::from_utf8(b).unwrap();
            assert!(
                s.starts_with("<svg") || s.starts_with("<?xml"),
                "{}",
                &s[..40]
            );
            assert!(
                s.contains(&format!("width=\"{w}\"")) && s.contains(&format!("height=\"{h}\""))
            );
            assert!(
                s.contains("192.0.2.1") && s.contains("192.0.2.53"),
                "legend names the lines"
            );
            assert!(s.matches("<polyline").count() >= 2);
        }
    }
    bad(
        &[
            "history",
            "plot",
            "--db",
            db.to_str().unwrap(),
            "--out",
            "x.gif",
        ],
        "name the file .png or .svg",
    );
}

#[test]
fn history_arguments_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let db = import(dir.path());
    let d = db.to_str().unwrap();
    bad(
        &["history", "top", "--db", d, "--since", "tomorrow"],
        "--since: 'tomorrow' is not a time",
    );
    bad(
        &[
            "history", "top", "--db", d, "--since", "1h", "--until", "2h",
        ],
        "--since (",
    );
    bad(
        &["history", "top", "--db", d, "--until", "2026-02-30"],
        "--until: '2026-02-30': no such date",
    );
    bad(
        &["history", "series", "--db", d, "--step", "90s"],
        "--step must be whole minutes",
    );
    bad(
        &["history", "series", "--db", d, "--step", "5x"],
        "--step: '5x' is not a duration",
    );
    bad(
        &["history", "flows", "--db", d, "-f", "port 99999"],
        "-f 'port 99999'",
    );
    bad(
        &["history", "top", "--db", d, "--proto", "carrier-pigeon"],
        "--proto takes",
    );
    let missing = dir.path().join("none.db");
    bad(
        &["history", "top", "--db", missing.to_str().unwrap()],
        "no history there",
    );
}

/// `history alerts` on a database holding alerts written through the
/// store (as the recorder will): table, CSV, JSON as stored, filters, errors.
#[test]
fn history_alerts_prints_stored_alerts() {
    use wirewatch_store::{AlertRecord, SqliteStore, Store};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let d = db.to_str().unwrap();
    // Field order as the detector prints them (not alphabetical).
    let rec = |ms: i64, kind: &str, sev: &str, entity: &str, summary: &str| {
        let ts = t(ms);
        AlertRecord {
            ts_nanos: ts.as_nanos(),
            kind: kind.into(),
            severity: sev.into(),
            entity: entity.into(),
            summary: summary.into(),
            detail: serde_json::json!({
                "time": ts.to_rfc3339(),
                "kind": kind,
                "severity": sev,
                "entity": {"host": entity},
                "summary": summary,
                "evidence": {"ports": 120},
                "action": "look",
                "detector": "test",
                "suppressed": 0,
            })
            .to_string()
            .replace("{\"action\":\"look\",", "{\"zeta\":1,\"action\":\"look\","),
        }
    };
    let alerts = [
        rec(
            1_500,
            "vertical_scan",
            "medium",
            "10.0.0.9",
            "10.0.0.9 probed 120 ports of 10.0.0.2",
        ),
        rec(
            61_000,
            "syn_flood",
            "high",
            "10.0.0.2",
            "SYN flood at 10.0.0.2, \"half-open\", 5000/s",
        ),
        rec(
            3_600_000,
            "vertical_scan",
            "low",
            "10.0.0.7",
            "10.0.0.7 probed 40 ports",
        ),
    ];
    {
        let mut s = SqliteStore::open(&db).unwrap();
        s.append_alerts(&alerts).unwrap();
    }
    let range = ["--since", "2020-09-13", "--until", "2020-09-14"];
    let run = |extra: &[&str]| {
        let mut a = vec!["history", "alerts", "--db", d];
        a.extend_from_slice(&range);
        a.extend_from_slice(extra);
        stdout_of(&a)
    };
    // JSON: the stored objects, text and all, in one array.
    let json = run(&["--json"]);
    let texts: Vec<&str> = alerts.iter().map(|a| a.detail.as_str()).collect();
    assert_eq!(json, format!("[{}]\n", texts.join(",")));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert_eq!(v[1]["kind"], "syn_flood");
    assert_eq!(v[0]["evidence"]["ports"], 120);
    // --kind and --limit (the newest N, oldest first).
    let scans: serde_json::Value =
        serde_json::from_str(&run(&["--kind", "vertical_scan", "--json"])).unwrap();
    let ents: Vec<&str> = scans
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["entity"]["host"].as_str().unwrap())
        .collect();
    assert_eq!(ents, ["10.0.0.9", "10.0.0.7"]);
    let last2: serde_json::Value = serde_json::from_str(&run(&["--limit", "2", "--json"])).unwrap();
    let kinds: Vec<&str> = last2
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["syn_flood", "vertical_scan"]);
    assert_eq!(run(&["--kind", "dns_tunnel", "--json"]), "[]\n");
    // CSV, quoted where needed.
    let csv = run(&["--csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "time,severity,kind,entity,summary");
    assert_eq!(lines.len(), 4, "{csv}");
    assert_eq!(
        lines[2],
        format!(
            "{},high,syn_flood,10.0.0.2,\"SYN flood at 10.0.0.2, \"\"half-open\"\", 5000/s\"",
            t(61_000).to_rfc3339()
        )
    );
    // The table.
    let table = run(&[]);
    assert!(
        table.starts_with("3 alerts, 2020-09-13 00:00 – 2020-09-14 00:00 UTC"),
        "{table}"
    );
    let head = table.lines().nth(1).unwrap();
    assert!(
        head.starts_with("time") && head.contains("severity") && head.ends_with("summary"),
        "{table}"
    );
    let first = table.lines().nth(2).unwrap();
    assert!(first.starts_with(&t(1_500).to_rfc3339()), "{table}");
    assert!(
        first.contains("medium") && first.ends_with("10.0.0.9 probed 120 ports of 10.0.0.2"),
        "{table}"
    );
    let one = run(&["--limit", "1"]);
    assert!(one.starts_with("the newest 1 of 3 alerts"), "{one}");
    assert_eq!(one.lines().count(), 3, "{one}");
    let none = stdout_of(&[
        "history",
        "alerts",
        "--db",
        d,
        "--since",
        "2021-01-01",
        "--until",
        "2021-01-02",
    ]);
    assert_eq!(
        none,
        "no alerts in 2021-01-01 00:00 – 2021-01-02 00:00 UTC\n"
    );
    // Errors: one line, exit 2.
    bad(
        &["history", "alerts", "--db", d, "--since", "tomorrow"],
        "--since: 'tomorrow' is not a time",
    );
    let missing = dir.path().join("none.db");
    bad(
        &["history", "alerts", "--db", missing.to_str().unwrap()],
        "no history there",
    );
    let old = dir.path().join("v1.db");
    wirewatch_store::migrate_to_version(&old, 1).unwrap();
    bad(
        &["history", "alerts", "--db", old.to_str().unwrap()],
        "written by an older wirewatch (schema 1",
    );
}

#[test]
fn an_import_keeps_what_was_read_before_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let cap = write_pcap(dir.path(), "h.pcap", &history_frames());
    let mut b = std::fs::read(&cap).unwrap();
    b.truncate(b.len() - 10);
    std::fs::write(&cap, &b).unwrap();
    let db = dir.path().join("h.db");
    let out = ww()
        .args([
            "-r",
            cap.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "-t",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let top = json_of(&history(&db, &["top", "--json"]));
    // Everything but the last frame (60 bytes back to 10.0.0.2).
    assert_eq!(top["total"]["bytes"], 2648 - 60);
}

#[test]
fn an_import_into_an_unwritable_place_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cap = write_pcap(dir.path(), "h.pcap", &history_frames());
    bad(
        &[
            "-r",
            cap.to_str().unwrap(),
            "--db",
            "/proc/wirewatch/h.db",
            "-t",
        ],
        "history: creating /proc/wirewatch",
    );
    // A read-only file system (root: a read-only tmpfs; others: a read-only folder).
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    // Unmounted when dropped, also when a check below fails.
    let _mounted = if wirewatch_testkit::is_root() {
        let tmpfs = wirewatch_testkit::mount_tmpfs(&ro, "ro,size=1m")
            .map_err(|e| format!("the read-only part: {e}"));
        Some(wirewatch_testkit::require!(tmpfs))
    } else {
        let mut p = std::fs::metadata(&ro).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o555);
        std::fs::set_permissions(&ro, p).unwrap();
        None
    };
    let out = ww()
        .args([
            "-r",
            cap.to_str().unwrap(),
            "--db",
            ro.join("h.db").to_str().unwrap(),
            "-t",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("history:") && err.contains("h.db"), "{err}");
    assert!(
        err.to_lowercase().contains("read-only") || err.contains("readonly"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn a_filter_that_matches_nothing_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = write_pcap(dir.path(), "s.pcap", &sample_frames());
    let n = sample_frames().len();
    let out = ww()
        .args(["-r", pcap.to_str().unwrap(), "-f", "port 9999", "-t"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!(
            "s.pcap: {n} packet(s) read, none matched the filter 'port 9999'"
        )),
        "{err}"
    );
    // A filter that matches something says nothing of the kind.
    let out = ww()
        .args(["-r", pcap.to_str().unwrap(), "-f", "ip", "-t"])
        .output()
        .unwrap();
    assert!(!String::from_utf8(out.stderr)
        .unwrap()
        .contains("none matched"));
}

/// Whether `pid` has a handler installed for SIGINT (`SigCgt` in its status).
fn catches_sigint(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|m| m & (1 << (libc::SIGINT - 1)) != 0)
}

#[test]
fn ctrl_c_during_a_read_prints_the_report_of_what_was_read() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let pcap = write_pcap(dir.path(), "s.pcap", &sample_frames());
    let n = sample_frames().len();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("wirewatch"))
        .args(["-r", "-", "-t", "-n"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&std::fs::read(&pcap).unwrap()).unwrap();
    stdin.flush().unwrap();
    // The capture goes on (stdin stays open) until the user presses Ctrl-C.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !catches_sigint(child.id()) {
        assert!(std::time::Instant::now() < deadline, "no SIGINT handler");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "warning: -: interrupted by SIGINT after {n} packet(s); the report covers what was read"
        )),
        "{stderr}"
    );
    assert!(stdout.contains("Final report at"), "{stdout}");
}

#[test]
fn the_summary_values_line_up() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = write_pcap(dir.path(), "s.pcap", &sample_frames());
    let out = ww()
        .args(["-r", pcap.to_str().unwrap(), "-t"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap();
    let summary: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Summary of"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert!(summary.len() >= 8, "{text}");
    for l in &summary {
        let (label, value) = l.split_at(22);
        assert!(label.trim_end().ends_with(':'), "{l:?}");
        assert!(!value.starts_with(' '), "{l:?}");
    }
    assert!(summary.iter().any(|l| l.starts_with("  entries (pair):")));
}
