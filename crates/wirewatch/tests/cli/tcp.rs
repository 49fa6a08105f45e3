//! `--tcp`: the summary's TCP health, against tshark's expert analysis on
//! captures of the shared corpus, and its absence without the flag.

use serde_json::Value;

use crate::common::stdout_of;

/// The `--format json` summary object of a run.
fn summary(args: &[&str]) -> Value {
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
