//! Detection from the command line: alerts as NDJSON, `--alerts-exit`,
//! the evaluation harness, and bad settings as one-line errors.

use crate::common::{bad, ip, t, write_pcap, ww};
use wirewatch_testkit::tcp_frame;
use wirewatch_wire::build::*;
use wirewatch_wire::Timestamp;

/// Ten seconds of a client's answered connections to a few servers.
fn benign() -> Vec<(Timestamp, Vec<u8>)> {
    let mut v = Vec::new();
    for k in 0..100i64 {
        let srv = format!("192.0.2.{}", k % 5 + 1);
        let p = 40_000 + k as u16;
        v.push((t(k * 100), tcp_frame("10.0.0.5", p, &srv, 443, 0x02, 0)));
        v.push((t(k * 100 + 5), tcp_frame(&srv, 443, "10.0.0.5", p, 0x12, 0)));
        v.push((t(k * 100 + 6), tcp_frame("10.0.0.5", p, &srv, 443, 0x10, 0)));
    }
    v
}

/// A SYN scan of 200 ports, after `benign`.
fn scan() -> Vec<(Timestamp, Vec<u8>)> {
    (1..=200u16)
        .map(|p| {
            (
                t(20_000 + p as i64 * 5),
                tcp_frame("10.0.0.66", 55_555, "10.0.0.9", p, 0x02, 0),
            )
        })
        .collect()
}

#[test]
fn a_scan_in_a_capture_is_an_ndjson_alert_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let mut frames = benign();
    frames.extend(scan());
    let cap = write_pcap(dir.path(), "scan.pcap", &frames);
    let out = ww()
        .args([
            "-r",
            cap.to_str().unwrap(),
            "--alerts",
            "json",
            "--alerts-exit",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    // Alerts own stdout: one JSON object per line, nothing else.
    let alerts: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alerts.len(), 1, "{stdout}");
    let a = &alerts[0];
    assert_eq!(a["kind"], "vertical_scan");
    assert_eq!(a["severity"], "medium");
    assert_eq!(a["entity"]["src"], "10.0.0.66");
    assert_eq!(a["entity"]["dst"], "10.0.0.9");
    assert_eq!(a["time"], "2020-09-13T12:27:00.250000Z");
    assert_eq!(
        a["summary"],
        "10.0.0.66 contacted 50 ports on 10.0.0.9 in 1 s; it had not probed this host before"
    );
    assert_eq!(a["evidence"]["observed"], 50.0);
    assert!(a["action"].as_str().unwrap().contains("authorised scanner"));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("1 alert(s) fired"), "{err}");

    // The same capture twice: the same alerts (determinism).
    let again = ww()
        .args(["-r", cap.to_str().unwrap(), "--alerts", "json"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(again.stdout).unwrap(), stdout);
    assert_eq!(again.status.code(), Some(0));
}

#[test]
fn benign_traffic_exits_0_and_alerts_can_go_to_a_file_beside_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let cap = write_pcap(dir.path(), "ok.pcap", &benign());
    let file = dir.path().join("alerts.ndjson");
    let spec = format!("json:{}", file.display());
    let out = ww()
        .args([
            "-r",
            cap.to_str().unwrap(),
            "--alerts",
            &spec,
            "--alerts-exit",
            "-t",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8(out.stdout).unwrap().contains("10.0.0.5"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "");

    // With the scan, the file gets the alert and the report still prints.
    let mut frames = benign();
    frames.extend(scan());
    let cap = write_pcap(dir.path(), "scan.pcap", &frames);
    let out = ww()
        .args(["-r", cap.to_str().unwrap(), "--alerts", &spec, "-t"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains("10.0.0.66"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(text.contains("\"vertical_scan\""));
    // Text mode (the default): one line on stderr.
    let out = ww()
        .args(["-r", cap.to_str().unwrap(), "-t"])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("wirewatch: alert [medium] vertical_scan 10.0.0.66 -> 10.0.0.9: 10.0.0.66 contacted 50 ports"),
        "{err}"
    );
    // --no-detect: nothing.
    let out = ww()
        .args(["-r", cap.to_str().unwrap(), "-t", "--no-detect"])
        .output()
        .unwrap();
    assert!(!String::from_utf8(out.stderr).unwrap().contains("alert"));
}

#[test]
fn bad_detection_settings_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cap = write_pcap(dir.path(), "ok.pcap", &benign());
    let c = cap.to_str().unwrap();
    bad(
        &["-r", c, "--alerts", "xml"],
        "--alerts: expected text, json, json:FILE or none, got 'xml'",
    );
    bad(
        &["-r", c, "--alerts", "json:/proc/nope/alerts"],
        "--alerts: /proc/nope/alerts:",
    );
    let cfg = dir.path().join("ww.toml");
    std::fs::write(&cfg, "[detect.heuristics.scan]\nports = 0\n").unwrap();
    bad(
        &["-r", c, "-c", cfg.to_str().unwrap()],
        "detect.heuristics.scan.ports must be a number above 0, not 0",
    );
    std::fs::write(&cfg, "[detect.heuristics.scan]\nportz = 3\n").unwrap();
    bad(
        &["-r", c, "-c", cfg.to_str().unwrap()],
        "unknown field `portz`",
    );
    // A threshold from the config changes what fires.
    std::fs::write(&cfg, "[detect.heuristics.scan]\nports = 500\n").unwrap();
    let mut frames = benign();
    frames.extend(scan());
    let cap2 = write_pcap(dir.path(), "scan.pcap", &frames);
    let out = ww()
        .args([
            "-r",
            cap2.to_str().unwrap(),
            "-c",
            cfg.to_str().unwrap(),
            "--alerts-exit",
            "-t",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn eval_scores_each_detector_against_labels() {
    let dir = tempfile::tempdir().unwrap();
    let ben = write_pcap(dir.path(), "benign.pcap", &benign());
    let atk = write_pcap(dir.path(), "scan.pcap", &scan());
    let out = ww()
        .args([
            "eval",
            "--labels",
            "benign",
            "--labels",
            "attack",
            "--json",
            ben.to_str().unwrap(),
            atk.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["detector"] == "vertical_scan")
        .unwrap()
        .clone();
    // Scores rise with every new port probed: a near-perfect ranking (the
    // first probe ties with the client's one port per server).
    assert!(row["roc_auc"].as_f64().unwrap() > 0.999, "{row}");
    assert!(row["average_precision"].as_f64().unwrap() > 0.99, "{row}");
    assert_eq!(row["precision"], 1.0);
    // 151 of the 200 probes are at or past the 50th port.
    assert!((row["recall"].as_f64().unwrap() - 151.0 / 200.0).abs() < 1e-9);
    // The 50th probe comes 245 ms after the first.
    assert!((row["delay_secs"].as_f64().unwrap() - 0.245).abs() < 1e-6);
    assert_eq!(row["alerts"], 1);
    assert_eq!(row["alerts_per_benign_hour"], 0.0);

    // One label file for both captures, table output.
    let labels = dir.path().join("l.txt");
    let mut s = "0\n".repeat(300);
    s.push_str(&"1\n".repeat(200));
    std::fs::write(&labels, &s).unwrap();
    let out = ww()
        .args([
            "eval",
            "--labels",
            labels.to_str().unwrap(),
            ben.to_str().unwrap(),
            atk.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("500 packets scored (200 attack, 300 benign)"),
        "{text}"
    );
    assert!(text.contains("vertical_scan"));
    // Labels that do not match the packets.
    std::fs::write(&labels, "0\n1\n").unwrap();
    bad(
        &[
            "eval",
            "--labels",
            labels.to_str().unwrap(),
            ben.to_str().unwrap(),
        ],
        "more packets than labels",
    );
    std::fs::write(&labels, "0\n".repeat(301)).unwrap();
    bad(
        &[
            "eval",
            "--labels",
            labels.to_str().unwrap(),
            ben.to_str().unwrap(),
        ],
        "more labels than packets (300 packets)",
    );
    std::fs::write(&labels, "0\nx\n").unwrap();
    bad(
        &[
            "eval",
            "--labels",
            labels.to_str().unwrap(),
            ben.to_str().unwrap(),
        ],
        "l.txt:2: expected 0 or 1, got 'x'",
    );
}

#[test]
fn alerts_are_kept_in_history_as_they_were_shown() {
    let dir = tempfile::tempdir().unwrap();
    let mut frames = benign();
    frames.extend(scan());
    let cap = write_pcap(dir.path(), "scan.pcap", &frames);
    let db = dir.path().join("h.db");
    let file = dir.path().join("a.ndjson");
    let out = ww()
        .args([
            "-r",
            cap.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--alerts",
            &format!("json:{}", file.display()),
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
    assert!(err.contains("with 1 alert(s)"), "{err}");
    let shown = std::fs::read_to_string(&file).unwrap();
    let live: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    assert_eq!(crate::common::stored_alerts(&db), vec![live]);
}

/// 2026-11-23T10:00:00Z: "now" of the warm-start tests.
const WARM_NOW: i64 = 1_795_428_000;

/// A history row of the `backup` process on 10.0.0.5 to 192.0.2.1:443.
fn backup_row(ts: i64, counts: wirewatch_store::Counts) -> wirewatch_store::Row {
    use std::sync::Arc;
    wirewatch_store::Row {
        ts,
        iface: Arc::from("eth0"),
        local: ip("10.0.0.5"),
        remote: ip("192.0.2.1"),
        local_port: 40_000,
        remote_port: 443,
        protocol: 6,
        process: Some(Arc::from("backup")),
        counts,
    }
}

/// A history database at `db` holding `rows`, rolled up as at `WARM_NOW`.
fn history_of(db: &std::path::Path, rows: &[wirewatch_store::Row]) {
    use wirewatch_store::{Retention, SqliteStore, Store};
    let mut s = SqliteStore::open(db).unwrap();
    s.append(rows).unwrap();
    while s
        .maintain(&Retention::default(), WARM_NOW, 1_000)
        .unwrap()
        .more
    {}
}

/// Detection with the default settings.
fn default_detection() -> wirewatch_pipeline::detect::Detection {
    use wirewatch_pipeline::detect::{DetectSettings, Detection};
    Detection::new(&DetectSettings {
        cfg: Default::default(),
        model: None,
        watch: None,
    })
    .unwrap()
}

#[test]
fn baselines_warm_start_from_the_history_database() {
    use wirewatch_pipeline::detect::Detection;
    use wirewatch_store::{Counts, Row};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let now = WARM_NOW;
    let row = |ts: i64, bytes: u64| {
        backup_row(
            ts,
            Counts {
                packets_out: 1,
                bytes_out: bytes / 2,
                packets_in: 1,
                bytes_in: bytes / 2,
                ..Default::default()
            },
        )
    };
    // A week at 1 MB/s: one minute row per hour carrying the hour's bytes.
    let rows: Vec<Row> = (1..=168)
        .map(|h| row(now - h * 3600, 3_600_000_000))
        .collect();
    history_of(&db, &rows);
    let mut d = default_detection();
    let msg = wirewatch_pipeline::history::warm_start(&mut d, &db, now).unwrap();
    assert!(
        msg.as_deref()
            .unwrap_or("")
            .starts_with("detection: baselines learned from 167 hour(s)"),
        "{msg:?}"
    );
    // The first live minutes are judged at once: 1 MB/s is normal, 50 MB/s
    // is a spike of the interface, the host and the process.
    let minute = |d: &mut Detection, m: i64, bps: u64| {
        let t = now + m * 60;
        d.rows(Timestamp::from_secs(t + 59), &[row(t, bps * 60)]);
    };
    minute(&mut d, 0, 1_000_000);
    minute(&mut d, 1, 1_000_000);
    assert_eq!(d.fired(), 0);
    minute(&mut d, 2, 50_000_000);
    minute(&mut d, 3, 1_000_000);
    let saved = d.take_raised();
    let kinds: Vec<String> = saved
        .iter()
        .map(|a| format!("{} {}", a.kind, a.entity))
        .collect();
    assert_eq!(
        kinds,
        vec![
            "spike interface eth0",
            "spike 10.0.0.5",
            "spike process backup"
        ]
    );
}

/// Each whole-capture attack in the labeled set fires its kind, and only
/// that kind; benign DNS fires nothing.
#[test]
fn labeled_attack_captures_fire_the_right_kind() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("labeled"));
    let cases: &[(&str, &[&str])] = &[
        ("ddos-synflood-spoofed.pcap", &["syn_flood"]),
        ("ddos-synack-reflection.pcap", &["amplification"]),
        ("ddos-udp-isakmp-amplification.pcap", &["amplification"]),
        (
            "ddos-dns-rrsig-amplification-fragmented.pcap",
            &["amplification"],
        ),
        ("icmp-portscan.pcap", &["horizontal_sweep"]),
        ("ssh-bruteforce.pcap", &["brute_force"]),
        ("botnet-cc.pcap", &["beaconing"]),
        ("tunnel-dnscat2-small.pcap", &["dns_tunnel"]),
        ("tunnel-iodine-small.pcap", &["dns_tunnel"]),
        ("tunnel-dns2tcp-small.pcap", &["dns_tunnel"]),
        ("benign-dns-00000.pcap", &[]),
    ];
    for (file, want) in cases {
        let out = ww()
            .args(["-r", dir.join(file).to_str().unwrap(), "--alerts", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut kinds: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["kind"].as_str().unwrap().to_string()
            })
            .collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds, want.to_vec(), "{file}");
    }
}

/// `--model`: a run trains and saves the ML model; the next run loads it
/// (no training period: it scores from the first packet) and saves it again;
/// a damaged model file is a one-line error.
#[test]
fn the_ml_model_is_saved_and_loaded() {
    let dir = tempfile::tempdir().unwrap();
    // 3,000 packets of a client's answered connections.
    let mut frames = Vec::new();
    for k in 0..1_000i64 {
        let srv = format!("192.0.2.{}", k % 7 + 1);
        let p = 20_000 + k as u16;
        frames.push((t(k * 50), tcp_frame("10.0.0.5", p, &srv, 443, 0x02, 0)));
        frames.push((t(k * 50 + 2), tcp_frame(&srv, 443, "10.0.0.5", p, 0x12, 0)));
        frames.push((t(k * 50 + 3), tcp_frame("10.0.0.5", p, &srv, 443, 0x10, 0)));
    }
    let cap = write_pcap(dir.path(), "train.pcap", &frames);
    let cfg = dir.path().join("ml.toml");
    std::fs::write(&cfg, "[detect.ml]\nfm-grace = 200\nad-grace = 1800\n").unwrap();
    let model = dir.path().join("model.json");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "-c",
            cfg.to_str().unwrap(),
            "-r",
            cap.to_str().unwrap(),
            "--alerts",
            "none",
            "--model",
            model.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        ww().args(&args).output().unwrap()
    };
    let out = run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!(
            "model saved to {} (3000 packets learned)",
            model.display()
        )),
        "{err}"
    );
    // Something unlike the training traffic, 300 packets: a fresh ML
    // detector is still in its training period and says nothing; the loaded
    // model scores it at once.
    let odd: Vec<_> = (0..300i64)
        .map(|k| {
            let f = eth(
                ethertype_for(ip("10.9.9.9")),
                &wirewatch_wire::build::ip(
                    ip("10.9.9.9"),
                    ip("10.0.0.5"),
                    17,
                    &udp(7, 1000 + k as u16, &[0; 1200]),
                ),
            );
            (t(100_000 + k), f)
        })
        .collect();
    let odd = write_pcap(dir.path(), "odd.pcap", &odd);
    let kinds = |args: &[&str]| -> Vec<String> {
        let out = ww().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"].to_string())
            .collect()
    };
    let c = cfg.to_str().unwrap();
    let fresh = kinds(&[
        "-c",
        c,
        "-r",
        odd.to_str().unwrap(),
        "--alerts",
        "json",
        "--ml",
    ]);
    assert!(!fresh.iter().any(|k| k.contains("anomaly")), "{fresh:?}");
    let loaded = kinds(&[
        "-c",
        c,
        "-r",
        odd.to_str().unwrap(),
        "--alerts",
        "json",
        "--model",
        model.to_str().unwrap(),
    ]);
    assert!(loaded.iter().any(|k| k.contains("anomaly")), "{loaded:?}");
    // Eval with the model scores the ML detector from the first packet.
    let out = ww()
        .args([
            "eval",
            "--labels",
            "benign",
            "--json",
            "--model",
            model.to_str().unwrap(),
            cap.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["detector"] == "kitsune"));
    // A damaged file.
    std::fs::write(&model, "{not json").unwrap();
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--model: model file"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// An alert raised from the last minute's rows (cut when the file ends)
/// is kept in the history like any other.
#[test]
fn an_alert_from_the_last_rows_reaches_the_history() {
    let dir = tempfile::tempdir().unwrap();
    // 10.0.0.5 sends 150 × 1,400 bytes to one outside host within 15 s, all
    // in one minute: only the cut at the end makes its rows.
    let frames: Vec<_> = (0..150i64)
        .map(|k| {
            (
                t(k * 100),
                wirewatch_testkit::udp_frame("10.0.0.5", 40_000, "203.0.113.9", 443, 1_372),
            )
        })
        .collect();
    let cap = write_pcap(dir.path(), "exfil.pcap", &frames);
    let cfg = dir.path().join("d.toml");
    std::fs::write(
        &cfg,
        "[detect.heuristics.exfil]\nmin-bytes = 100000.0\nfactor = 1.0\nlearn-hours = 1\n",
    )
    .unwrap();
    let db = dir.path().join("h.db");
    let (cap, db_s, cfg_s) = (
        cap.to_str().unwrap(),
        db.to_str().unwrap(),
        cfg.to_str().unwrap(),
    );
    let shown = crate::common::stdout_of(&[
        "-r", cap, "--db", db_s, "--config", cfg_s, "--alerts", "json", "-t",
    ]);
    assert!(shown.contains("\"exfiltration\""), "{shown}");
    let stored = crate::common::stored_alerts(&db);
    assert!(
        stored.iter().any(|a| a["kind"] == "exfiltration"),
        "not in the history: {stored:?}"
    );
}

/// NDJSON alerts into a pipe whose reader has gone (`… | head -1`): no
/// error, exit 0, like the report.
#[test]
fn alerts_into_a_closed_pipe_end_quietly() {
    use std::process::{Command, Stdio};
    let demo = wirewatch_testkit::workspace_root().join("samples/demo.pcapng");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("wirewatch"))
        .args(["-r", demo.to_str().unwrap(), "--alerts", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before the first alert is written.
    drop(child.stdout.take());
    let done = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(0), "{err}");
    assert!(!err.contains("error"), "{err}");
}

/// `tcp_degradation` learns from the TCP health of the history's hours
/// (recorded with --tcp), so a live run judges its first minutes: a path
/// whose RTT went from 40 to 200 ms is said at the second slow minute.
#[test]
fn tcp_degradation_warm_starts_from_the_history_database() {
    use wirewatch_pipeline::detect::Detection;
    use wirewatch_store::{Counts, Row, TcpCounts};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let now = WARM_NOW;
    // `minutes` minutes of an upload: 600 segments and 100 RTT samples of
    // `rtt_ms` a minute, 2 retransmissions.
    let row = |ts: i64, minutes: u64, rtt_ms: u64| {
        backup_row(
            ts,
            Counts {
                packets_out: 400 * minutes,
                bytes_out: 400_000 * minutes,
                packets_in: 200 * minutes,
                bytes_in: 10_000 * minutes,
                tcp: TcpCounts {
                    retrans_out: 2 * minutes,
                    rtt_out_samples: 100 * minutes,
                    rtt_out_us: 100 * minutes * rtt_ms * 1_000,
                    ..Default::default()
                },
            },
        )
    };
    let rows: Vec<Row> = (1..=48).map(|h| row(now - h * 3600, 60, 40)).collect();
    history_of(&db, &rows);
    let minute = |d: &mut Detection, m: i64, rtt_ms: u64| {
        let t = now + m * 60;
        d.rows(Timestamp::from_secs(t + 59), &[row(t, 1, rtt_ms)]);
    };
    let run = |warm: bool| {
        let mut d = default_detection();
        if warm {
            wirewatch_pipeline::history::warm_start(&mut d, &db, now).unwrap();
        }
        for (m, rtt) in [(0, 40), (1, 41), (2, 200), (3, 200), (4, 200)] {
            minute(&mut d, m, rtt);
        }
        d.take_raised()
            .into_iter()
            .filter(|a| a.kind.as_str() == "tcp_degradation")
            .map(|a| {
                (
                    a.time.as_nanos() / 1_000_000_000 - now,
                    a.entity.to_string(),
                    a.summary,
                )
            })
            .collect::<Vec<_>>()
    };
    let warm = run(true);
    let who: Vec<&str> = warm.iter().map(|(_, e, _)| e.as_str()).collect();
    assert_eq!(
        who,
        ["interface eth0", "10.0.0.5", "process backup"],
        "{warm:#?}"
    );
    let (at, _, summary) = &warm[1];
    assert_eq!(*at, 4 * 60, "the end of the second slow minute");
    assert!(
        summary.contains("TCP round trip rose to 200.0 ms")
            && summary.contains("expected 40.1 ms")
            && summary.contains("for this hour of the day"),
        "{summary}"
    );
    // Without the history there is nothing to judge against yet.
    assert!(run(false).is_empty());
}
