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
