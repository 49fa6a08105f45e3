//! The memory budget: a spoofed-source flood in a capture against a small
//! flow limit. The busy pairs stay, the rest is one "(N other flows)" line
//! in every format, and no byte is lost.

use serde_json::Value;
use wirewatch_testkit::udp_frame;

use crate::common::{bad, stdout_of, t, write_pcap};

/// Three busy pairs (50 packets each), then `n` one-packet flows from
/// spoofed sources to one port.
fn flood_capture(dir: &std::path::Path, n: u32) -> (std::path::PathBuf, u64) {
    let mut frames = Vec::new();
    for k in 0..50 {
        for h in 1..=3 {
            let src = format!("192.168.1.{h}");
            frames.push((
                t(k * 20),
                udp_frame(&src, 40_000, "192.168.1.100", 443, 400),
            ));
        }
    }
    for n in 0..n {
        let src = format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255);
        let f = udp_frame(&src, 1024 + (n % 50_000) as u16, "192.168.1.100", 5000, 18);
        frames.push((t(1_000 + i64::from(n)), f));
    }
    let ip_bytes = frames.iter().map(|(_, f)| (f.len() - 14) as u64).sum();
    (write_pcap(dir, "flood.pcap", &frames), ip_bytes)
}

fn report(out: &str) -> (Value, Value) {
    let mut lines = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap());
    let report = lines.next().unwrap();
    let summary = lines.next_back().unwrap();
    (report, summary)
}

fn bytes(v: &Value) -> u64 {
    v["src_to_dst"]["bytes"].as_u64().unwrap() + v["dst_to_src"]["bytes"].as_u64().unwrap()
}

#[test]
fn a_flow_limit_folds_the_flood_into_other_flows() {
    let dir = tempfile::tempdir().unwrap();
    let (p, ip_bytes) = flood_capture(dir.path(), 5_000);
    let config = dir.path().join("limits.toml");
    std::fs::write(&config, "[limits]\nflows = 200\n").unwrap();
    let (c, p) = (config.to_str().unwrap(), p.to_str().unwrap());

    let (r, summary) = report(&stdout_of(&[
        "-r",
        p,
        "--config",
        c,
        "--format",
        "json",
        "--no-detect",
    ]));
    let entries = r["entries"].as_array().unwrap();
    let other = &r["other"];
    let folded = other["flows"].as_u64().unwrap();
    assert_eq!(summary["evicted_flows"].as_u64(), Some(folded));
    assert!(entries.len() <= 200, "{} entries", entries.len());
    assert_eq!(folded + entries.len() as u64, 5_003);
    for h in 1..=3 {
        let src = format!("192.168.1.{h}");
        assert!(
            entries.iter().any(|e| e["src"] == src.as_str()),
            "busy pair {src} was folded"
        );
    }
    let total: u64 = entries.iter().map(bytes).sum::<u64>() + bytes(other);
    assert_eq!(total, ip_bytes);
    assert_eq!(r["totals"]["cumulative_bytes"][2].as_u64(), Some(ip_bytes));

    // Text: the line and the summary's count.
    let text = stdout_of(&["-r", p, "--config", c, "-t", "--no-detect"]);
    assert!(text.contains(&format!("({folded} other flows)")), "{text}");
    assert!(
        text.contains(&format!(
            "flows folded into other flows: {folded} (idle: 0, over the flow limit: {folded})"
        )),
        "{text}"
    );
    // CSV: one row of family "other" with the folded flows.
    let csv = stdout_of(&[
        "-r",
        p,
        "--config",
        c,
        "--format",
        "csv",
        "--no-detect",
        "--no-summary",
    ]);
    let rows: Vec<&str> = csv.lines().filter(|l| l.starts_with("other,")).collect();
    assert_eq!(rows.len(), 1, "{csv}");
    assert_eq!(
        rows[0].split(',').nth(10),
        Some(folded.to_string().as_str())
    );

    // The default budget holds all 5,003 flows: no line.
    let (r, _) = report(&stdout_of(&["-r", p, "--format", "json", "--no-detect"]));
    assert!(r["other"].is_null());
    assert_eq!(r["entries"].as_array().unwrap().len(), 5_003);
}

#[test]
fn memory_limit_sizes_the_flow_table() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = flood_capture(dir.path(), 40_000);
    let p = p.to_str().unwrap();
    // 48 MiB leaves 24 MiB for flows: about 26,000, not all of the flood's.
    let small = |limit: &str| {
        let (r, _) = report(&stdout_of(&[
            "-r",
            p,
            "--memory-limit",
            limit,
            "--format",
            "json",
            "--no-detect",
            "-P",
        ]));
        r["other"]["flows"].as_u64().unwrap_or(0)
    };
    assert!(small("48M") > 10_000);
    assert_eq!(small("1G"), 0);
    // A budget bigger than any table: the table stops at its most flows
    // (and the process does not ask for 64 GiB up front).
    assert_eq!(small("64G"), 0);
    bad(&["-r", p, "--memory-limit", "10M"], "at least 48 MiB");
    bad(
        &["-r", p, "--memory-limit", "lots"],
        "expected a size such as 150M",
    );
}
