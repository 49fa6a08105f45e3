//! `--tcp`: the summary's TCP health, against tshark's expert analysis on
//! captures of the shared corpus, and its absence without the flag.

use serde_json::Value;

use crate::common::stdout_of;

/// The `--format json` summary object of a run.
pub(crate) fn summary(args: &[&str]) -> Value {
    let out = stdout_of(args);
    out.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .unwrap_or_else(|| panic!("no summary in {out}"))
}

fn demo() -> String {
    let p = wirewatch_testkit::workspace_root().join("samples/demo.pcapng");
    p.to_str().unwrap().to_string()
}

#[test]
fn without_tcp_the_summary_has_no_tcp_health() {
    let s = summary(&["-r", &demo(), "--format", "json", "--no-detect"]);
    assert!(s.get("tcp").is_none(), "{s}");
}

#[test]
fn the_demo_s_handshakes_are_timed() {
    let s = summary(&["-r", &demo(), "--tcp", "--format", "json", "--no-detect"]);
    let t = &s["tcp"];
    assert!(t["connections"].as_u64().unwrap() > 1_000, "{t}");
    assert!(t["handshakes"].as_u64().unwrap() > 1_000, "{t}");
    assert_eq!(t["retransmissions"], 0, "{t}");
    let p50 = t["handshake_rtt_ms"]["p50"].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 < 10.0, "{t}");
}

/// tshark 4.0's counts of `tcp.analysis.retransmission`,
/// `fast_retransmission`, `out_of_order`, `duplicate_ack` and
/// `zero_window` packets (`tshark -r F -Y tcp.analysis.X | wc -l`).
const TSHARK: [(&str, [u64; 5]); 2] = [
    ("zeek/http/206_example_b.pcap", [56, 0, 52, 64, 57]),
    ("zeek/http/206_example_a.pcap", [14, 12, 5, 80, 0]),
];

#[test]
fn retransmissions_and_friends_equal_tshark_s() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("corpus"));
    for (name, want) in TSHARK {
        let path = dir.join(name);
        let s = summary(&[
            "-r",
            path.to_str().unwrap(),
            "--tcp",
            "--format",
            "json",
            "--no-detect",
        ]);
        let t = &s["tcp"];
        let got: Vec<u64> = [
            "retransmissions",
            "fast_retransmissions",
            "out_of_order",
            "duplicate_acks",
            "zero_window",
        ]
        .iter()
        .map(|k| t[*k].as_u64().unwrap())
        .collect();
        assert_eq!(got, want, "{name}: {t}");
    }
}

#[test]
fn each_entry_carries_its_connections_tcp_health_in_json_and_csv() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("corpus"));
    let path = dir.join("zeek/http/206_example_b.pcap");
    let path = path.to_str().unwrap();
    let out = stdout_of(&["-r", path, "--tcp", "-P", "--format", "json", "--no-detect"]);
    let fin = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "final")
        .unwrap();
    let lossy = fin["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["dst"] == "65.54.95.206")
        .unwrap_or_else(|| panic!("{fin}"));
    let t = &lossy["tcp"];
    // The client's ACKs and zero windows one way, the server's
    // retransmissions and out-of-order segments the other (as tshark).
    assert_eq!(t["retransmissions"], serde_json::json!([0, 56]), "{t}");
    assert_eq!(t["out_of_order"], serde_json::json!([0, 52]), "{t}");
    assert_eq!(t["duplicate_acks"], serde_json::json!([64, 0]), "{t}");
    assert_eq!(t["zero_window"], serde_json::json!([57, 0]), "{t}");
    let hs = t["handshake_ms"].as_f64().unwrap();
    assert!((70.0..75.0).contains(&hs), "{t}");
    // CSV: the same numbers in the columns --tcp adds after the others.
    let csv = stdout_of(&["-r", path, "--tcp", "-P", "--format", "csv", "--no-detect"]);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines
        .find(|l| l.contains(",65.54.95.206,"))
        .unwrap()
        .split(',')
        .collect();
    assert_eq!(header.len(), row.len());
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(col("retransmissions_dst_to_src"), "56");
    assert_eq!(col("zero_window_src_to_dst"), "57");
    assert_eq!(
        header[..7],
        [
            "family",
            "src",
            "dst",
            "packets_src_to_dst",
            "bytes_src_to_dst",
            "packets_dst_to_src",
            "bytes_dst_to_src"
        ]
    );
}

#[test]
fn the_text_report_shows_each_entry_s_tcp_health_under_it() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("corpus"));
    let path = dir.join("zeek/http/206_example_b.pcap");
    let out = stdout_of(&[
        "-r",
        path.to_str().unwrap(),
        "--tcp",
        "-P",
        "-t",
        "-L",
        "2",
        "--no-detect",
        "-n",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("65.54.95.206:80"))
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        lines[at + 1].trim_start().split(';').nth(1).unwrap().trim(),
        "retransmitted 0/56, out of order 0/52, dup ACKs 64/0, zero window 57/0 (=>/<=)",
        "{out}"
    );
    assert!(lines[at + 1].trim_start().starts_with("tcp: rtt "), "{out}");
    // Without --tcp the report keeps iftop's two lines per entry.
    let plain = stdout_of(&[
        "-r",
        path.to_str().unwrap(),
        "-P",
        "-t",
        "-L",
        "2",
        "--no-detect",
        "-n",
    ]);
    assert!(!plain.contains("tcp: "), "{plain}");
}

/// Runs a history query on `db` over January 2011 (the capture's time),
/// returning its JSON.
fn history_json(db: &std::path::Path, args: &[&str]) -> Value {
    let mut all = vec!["history", args[0], "--db", db.to_str().unwrap()];
    all.extend_from_slice(&[
        "--since",
        "2011-01-01T00:00:00Z",
        "--until",
        "2011-02-01T00:00:00Z",
        "--json",
    ]);
    all.extend_from_slice(&args[1..]);
    serde_json::from_str(&stdout_of(&all)).unwrap()
}

#[test]
fn history_keeps_tcp_health_per_minute() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("corpus"));
    let cap = dir.join("zeek/http/206_example_b.pcap");
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("h.db");
    let s = summary(&[
        "-r",
        cap.to_str().unwrap(),
        "--tcp",
        "--db",
        db.to_str().unwrap(),
        "--format",
        "json",
        "--no-detect",
    ]);
    let want = s["tcp"]["retransmissions"].as_u64().unwrap();
    assert_eq!(want, 56, "tshark's count");
    // Every retransmission is in the minutes, on the side that resent.
    let top = history_json(&db, &["top", "--by", "iface", "--sort", "retrans"]);
    assert_eq!(top["sort"], "retrans");
    let t = &top["entries"][0]["tcp"];
    let got = t["retrans_out"].as_u64().unwrap() + t["retrans_in"].as_u64().unwrap();
    assert_eq!(got, want, "{top}");
    assert!(t["rtt_ms"].as_f64().unwrap() > 0.0, "{t}");
    // Ranked by RTT, hosts with samples come first, each with its RTT.
    let rtt = history_json(&db, &["top", "--by", "remote", "--sort", "rtt"]);
    let first = &rtt["entries"][0]["tcp"];
    assert!(first["rtt_samples"].as_u64().unwrap() > 0, "{rtt}");
    let ms: Vec<f64> = rtt["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["tcp"]["rtt_ms"].as_f64())
        .collect();
    assert!(ms.windows(2).all(|w| w[0] >= w[1]), "{ms:?}");
    // The series' rates add up to the retransmissions over the packets.
    let series = history_json(&db, &["series", "--metric", "retrans_rate", "--step", "1h"]);
    assert_eq!(series["metric"], "retrans_rate");
    let pts = series["lines"][0]["points"].as_array().unwrap();
    let (mut resent, mut packets) = (0.0, 0.0);
    for p in pts {
        let n = (p["packets_out"].as_u64().unwrap() + p["packets_in"].as_u64().unwrap()) as f64;
        if let Some(r) = p["retrans_rate"].as_f64() {
            resent += r * n;
            packets += n;
        }
    }
    assert!(packets > 0.0, "{series}");
    assert!((resent - want as f64).abs() < 1e-6, "{resent} vs {want}");
    let p95 = history_json(&db, &["series", "--metric", "rtt_p95", "--step", "1h"]);
    let v: Vec<f64> = p95["lines"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["rtt_p95_ms"].as_f64())
        .collect();
    // One hour of the capture; its p95 is at least the handshake's ~71 ms.
    assert_eq!(v.len(), 1, "{p95}");
    assert!(v[0] > 60.0, "{p95}");
}

#[test]
fn history_tcp_queries_say_when_nothing_was_recorded_with_tcp() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("h.db");
    stdout_of(&[
        "-r",
        &demo(),
        "--db",
        db.to_str().unwrap(),
        "--no-detect",
        "-t",
    ]);
    let out = stdout_of(&[
        "history",
        "series",
        "--db",
        db.to_str().unwrap(),
        "--since",
        "2000-01-01T00:00:00Z",
        "--until",
        "2100-01-01T00:00:00Z",
        "--step",
        "30d",
        "--metric",
        "rtt_p95",
    ]);
    assert!(
        out.contains("no TCP health recorded in the range (record with --tcp)"),
        "{out}"
    );
    crate::common::bad(
        &[
            "history",
            "top",
            "--db",
            db.to_str().unwrap(),
            "--sort",
            "speed",
        ],
        "invalid value 'speed' for '--sort <SORT>'",
    );
}

/// An Ethernet frame of a TCP segment with its sequence and ACK numbers
/// and `len` bytes of payload.
#[allow(clippy::too_many_arguments)]
fn segment(
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
    len: usize,
) -> Vec<u8> {
    use wirewatch_wire::build;
    let mut t = build::tcp(sport, dport, flags, &vec![0x61; len]);
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    let (s, d) = (crate::common::ip(src), crate::common::ip(dst));
    build::eth(build::ethertype_for(s), &build::ip(s, d, 6, &t))
}

/// 48 minutes of an upload from 12:27 (two 1,000-byte segments a second,
/// each ACKed 40 ms later); from 13:09 the ACKs take 150 ms and one
/// segment in four is sent again 200 ms later.
fn degrading_upload() -> Vec<(wirewatch_wire::Timestamp, Vec<u8>)> {
    use crate::common::t;
    use wirewatch_wire::tcp_flags::{ACK, PSH, SYN};
    let (c, s) = ("10.0.0.1", "192.0.2.10");
    let mut f = vec![
        (t(19_000), segment(c, 40_000, s, 443, SYN, 0, 0, 0)),
        (t(19_040), segment(s, 443, c, 40_000, SYN | ACK, 0, 1, 0)),
        (t(19_041), segment(c, 40_000, s, 443, ACK, 1, 1, 0)),
    ];
    let mut seq = 1u32;
    for k in 0..48 * 120i64 {
        let at = 20_000 + k * 500;
        let bad = k >= 42 * 120;
        let rtt = if bad { 150 } else { 40 };
        f.push((at, segment(c, 40_000, s, 443, ACK | PSH, seq, 1, 1_000)).into_t());
        let mut acked = at + rtt;
        if bad && k % 4 == 0 {
            f.push(
                (
                    at + 200,
                    segment(c, 40_000, s, 443, ACK | PSH, seq, 1, 1_000),
                )
                    .into_t(),
            );
            acked = at + 200 + rtt;
        }
        seq += 1_000;
        f.push((acked, segment(s, 443, c, 40_000, ACK, 1, seq, 0)).into_t());
    }
    f.sort_by_key(|(ts, _)| *ts);
    f
}

/// A frame at `ms` milliseconds.
trait IntoT {
    fn into_t(self) -> (wirewatch_wire::Timestamp, Vec<u8>);
}

impl IntoT for (i64, Vec<u8>) {
    fn into_t(self) -> (wirewatch_wire::Timestamp, Vec<u8>) {
        (crate::common::t(self.0), self.1)
    }
}

#[test]
fn a_path_that_slows_and_loses_raises_tcp_degradation() {
    let dir = tempfile::tempdir().unwrap();
    let cap = crate::common::write_pcap(dir.path(), "up.pcap", &degrading_upload());
    let out = stdout_of(&["-r", cap.to_str().unwrap(), "--tcp", "--alerts", "json"]);
    let alerts: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|a| a["kind"] == "tcp_degradation")
        .collect();
    // The host's one alert of the minute says both, with the side.
    let host = alerts
        .iter()
        .find(|a| a["entity"]["addr"] == "10.0.0.1")
        .unwrap_or_else(|| panic!("no host alert in {alerts:#?}"));
    let s = host["summary"].as_str().unwrap();
    assert!(
        s.starts_with("Host 10.0.0.1: TCP retransmissions rose to 11.11 % of segments (30 of 270)")
            && s.contains("mostly by itself")
            && s.contains("(30 by it, 0 by its peers)")
            && s.contains("TCP round trip rose to 150.0 ms")
            && s.contains("expected 40.0 ms")
            && s.contains("beyond the capture point")
            && s.contains("in the minute to 13:11 UTC (mostly as a client"),
        "{s}"
    );
    assert_eq!(host["time"], "2020-09-13T13:11:00.000000Z", "{host}");
    assert_eq!(
        host["evidence"]["contributors"].as_array().unwrap().len(),
        2
    );
    // The interface says the same; nothing else is said.
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    // Without --tcp there is nothing to judge.
    let plain = stdout_of(&["-r", cap.to_str().unwrap(), "--alerts", "json"]);
    assert!(!plain.contains("tcp_degradation"), "{plain}");
}
