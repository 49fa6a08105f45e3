//! Rates over the time a report covers, in the reports of `-r`: interval
//! reports that are not a multiple of the 2 s slot, and the final report
//! inside a slot the capture only began.

use serde_json::Value;

use crate::common::{stdout_of, t, write_pcap};

/// 1000 IP bytes every 100 ms from 10.0.0.1 to 10.0.0.2 (10,000 B/s) for
/// `ms` milliseconds, the last packet at `ms`.
fn steady(dir: &std::path::Path, ms: i64) -> std::path::PathBuf {
    let frames: Vec<_> = (0..=ms / 100)
        .map(|k| {
            let f = wirewatch_testkit::udp_frame("10.0.0.1", 4000, "10.0.0.2", 53, 972);
            (t(k * 100), f)
        })
        .collect();
    write_pcap(dir, "steady.pcap", &frames)
}

fn rates(report: &Value) -> [f64; 3] {
    let d = &report["entries"][0]["src_to_dst"];
    [
        "rate_2s_bytes_per_s",
        "rate_10s_bytes_per_s",
        "rate_40s_bytes_per_s",
    ]
    .map(|k| d[k].as_f64().unwrap())
}

fn near(r: f64, want: f64) -> bool {
    (r - want).abs() <= want * 0.06
}

#[test]
fn interval_reports_end_at_their_end_with_rates_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = steady(dir.path(), 12_500);
    let out = stdout_of(&[
        "-r",
        p.to_str().unwrap(),
        "--format",
        "json",
        "--interval",
        "5",
    ]);
    let v: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let intervals: Vec<&Value> = v.iter().filter(|x| x["type"] == "interval").collect();
    assert_eq!(intervals.len(), 2, "{out}");
    for r in &intervals {
        let (at, end) = (r["at"].as_f64().unwrap(), r["end"].as_f64().unwrap());
        // Not a second later (the end of the slot the period ends in).
        assert_eq!(at, end, "{r}");
        // 5 s into slot 2 (4..6 s): its first second counts, over one
        // second, and half of slot 1: the steady rate, not half of it.
        let [r2, r10, r40] = rates(r);
        assert_eq!(r2, 10_000.0, "{r}");
        assert!(near(r10, 10_000.0) && near(r40, 10_000.0), "{r}");
    }
    assert_eq!(intervals[0]["window_s"], serde_json::json!([2.0, 5.0, 5.0]));
    // The final report is at the last packet, 0.5 s into slot 6.
    let fin = v.iter().find(|x| x["type"] == "final").unwrap();
    assert_eq!(fin["at"].as_f64().unwrap(), t(12_500).as_secs_f64());
    assert_eq!(fin["window_s"], serde_json::json!([2.0, 10.0, 12.5]));
    for r in rates(fin) {
        assert!(
            near(r, 10_000.0),
            "whole-slot division gave 3,000 B/s: {fin}"
        );
    }
}

#[test]
fn a_capture_shorter_than_a_slot_has_its_rates_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    // 7 packets over 0.6 s: 7,000 B over 0.6 s.
    let p = steady(dir.path(), 600);
    let path = p.to_str().unwrap();
    let want = 7_000.0 / 0.6;
    let json = stdout_of(&["-r", path, "--format", "json"]);
    let fin: Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    for r in rates(&fin) {
        assert!((r - want).abs() < 1e-6, "{fin}");
    }
    assert_eq!(
        fin["totals"]["peak_bytes_per_s"][0].as_f64().unwrap(),
        rates(&fin)[0]
    );
    let csv = stdout_of(&["-r", path, "--format", "csv", "--no-summary"]);
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    // rate_2s_src_to_dst is the 18th column, 3 decimals.
    assert_eq!(row[17], format!("{want:.3}"), "{csv}");
    // Text, in iftop's units: 11,667 B/s = 93,333 bit/s = 91.1Kb.
    let text = stdout_of(&["-r", path, "--no-summary"]);
    let line = text.lines().find(|l| l.contains(" => ")).unwrap();
    assert_eq!(line.matches("91.1Kb").count(), 3, "{text}");
    assert!(
        text.contains("Final report at 2020-09-13T12:26:40.6"),
        "{text}"
    );
}
