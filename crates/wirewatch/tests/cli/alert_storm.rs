//! Alert storms stay readable: a capture of scans, a spoofed SYN flood,
//! many spoofed pairs connecting to one server and a few real sessions,
//! the whole repeated 10 s apart (issue 17's storm, small), gives a
//! handful of alert lines: roll-ups stand for the thousands of beaconing
//! pairs, the JSON output carries the same alerts with every roll-up's
//! entity count and capped member list, and the history keeps them.

use std::net::{IpAddr, Ipv4Addr};

use crate::common::{ip, t, write_pcap, ww};
use wirewatch_wire::build::tcp_frame;
use wirewatch_wire::Timestamp;

const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;
const ACK: u8 = 0x10;

/// Rounds of the storm, 10 s apart: beaconing needs 10 intervals.
const ROUNDS: i64 = 13;
/// Spoofed sources of the SYN flood (the same ones every round, as when a
/// capture is replayed).
const FLOOD: u32 = 600;
/// Spoofed pairs connecting to the web server once a round.
const PAIRS: u32 = 1_000;

fn v4(base: u32, i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(base + i))
}

fn syn(at: Timestamp, src: IpAddr, sp: u16, dst: IpAddr, dp: u16) -> (Timestamp, Vec<u8>) {
    (at, tcp_frame(src, sp, dst, dp, SYN, &[]))
}

/// One round, starting `r0` ms into the capture.
fn round(r0: i64, v: &mut Vec<(Timestamp, Vec<u8>)>) {
    let web = ip("10.99.0.2");
    let victim = ip("10.99.0.3");
    // A vertical scan of 60 ports and a sweep of 70 hosts on 445.
    for p in 1..=60u16 {
        v.push(syn(t(r0 + i64::from(p)), ip("10.66.0.1"), 50_000, web, p));
    }
    for h in 0..70u32 {
        let dst = v4(0x0a63_0100, h);
        v.push(syn(
            t(r0 + 100 + i64::from(h)),
            ip("10.66.0.2"),
            50_001,
            dst,
            445,
        ));
    }
    // The SYN flood: 600 spoofed SYNs in under a second.
    for s in 0..FLOOD {
        let at = t(r0 + 200 + i64::from(s) * 3 / 2);
        v.push(syn(at, v4(0xc612_0000, s), 1024 + s as u16, victim, 80));
    }
    // Spoofed pairs to the web server, 400 a second.
    for s in 0..PAIRS {
        let at = t(r0 + 1_200 + i64::from(s) * 5 / 2);
        v.push(syn(at, v4(0x6440_0000, s), 2048 + s as u16, web, 80));
    }
    // Real sessions: a client's handshakes and a little data.
    for k in 0..5i64 {
        let at = r0 + 4_000 + k * 100;
        let (c, p) = (ip("10.0.0.5"), 40_000 + (r0 / 1000 + k) as u16);
        v.push((t(at), tcp_frame(c, p, web, 80, SYN, &[])));
        v.push((t(at + 1), tcp_frame(web, 80, c, p, SYN_ACK, &[])));
        v.push((t(at + 2), tcp_frame(c, p, web, 80, ACK, &[0; 300])));
        v.push((t(at + 3), tcp_frame(web, 80, c, p, ACK, &[0; 1200])));
    }
}

fn storm() -> Vec<(Timestamp, Vec<u8>)> {
    let mut v = Vec::new();
    for r in 0..ROUNDS {
        round(r * 10_000, &mut v);
    }
    v.sort_by_key(|(ts, _)| *ts);
    v
}

/// Runs `wirewatch -r CAP` with `args`; returns (stdout, stderr).
fn run(cap: &std::path::Path, args: &[&str]) -> (String, String) {
    let out = ww().arg("-r").arg(cap).args(args).output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{err}");
    (String::from_utf8(out.stdout).unwrap(), err)
}

fn alert_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("wirewatch: alert ["))
        .collect()
}

/// A roll-up's line: its summary starts with its kind ("… beaconing 600
/// sources -> 10.99.0.3:80/tcp: beaconing: 600 sources to …").
fn is_rollup(line: &str) -> bool {
    let kind = line.split_whitespace().nth(3).unwrap_or("-");
    line.contains(&format!(": {kind}: "))
}

#[test]
fn a_storm_gives_few_alert_lines_and_the_same_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let cap = write_pcap(dir.path(), "storm.pcap", &storm());
    let (_, err) = run(&cap, &["-t"]);
    let lines = alert_lines(&err);
    assert!(
        (4..=20).contains(&lines.len()),
        "{} alert lines:\n{err}",
        lines.len()
    );
    for kind in [
        "vertical_scan",
        "horizontal_sweep",
        "syn_flood",
        "beaconing",
    ] {
        assert!(lines.iter().any(|l| l.contains(kind)), "no {kind}:\n{err}");
    }
    assert!(err.contains("more were rolled up into"), "{err}");

    // The same run with NDJSON: the same alerts, in the same order.
    let (out, _) = run(&cap, &["--alerts", "json"]);
    let alerts: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alerts.len(), lines.len(), "{out}");
    for (a, l) in alerts.iter().zip(&lines) {
        let summary = a["summary"].as_str().unwrap();
        assert!(l.ends_with(&format!(": {summary}")), "{l}\n{summary}");
    }
    // The roll-up of the spoofed pairs: every one counted, 100 listed.
    let pairs = alerts
        .iter()
        .rev()
        .find(|a| a["entity"]["type"] == "many" && a["entity"]["target"] == "10.99.0.2:80/tcp")
        .unwrap_or_else(|| panic!("no roll-up for the web server:\n{out}"));
    assert_eq!(pairs["kind"], "beaconing");
    assert_eq!(pairs["entity"]["noun"], "sources");
    let n = pairs["entity"]["members"].as_u64().unwrap();
    assert_eq!(n, u64::from(PAIRS), "{pairs}");
    let listed = pairs["evidence"]["members"].as_array().unwrap();
    assert_eq!(listed.len(), 100);
    assert_eq!(pairs["evidence"]["members_omitted"], n - 100);
    assert_eq!(listed[0]["entity"]["type"], "flow");
    assert!(pairs["summary"]
        .as_str()
        .unwrap()
        .starts_with("beaconing: 1,000 sources to 10.99.0.2:80/tcp every 10 s"));
    // The flood's spoofed sources, periodic because the capture repeats.
    assert!(alerts
        .iter()
        .any(|a| a["entity"]["type"] == "many" && a["entity"]["target"] == "10.99.0.3:80/tcp"));
}

#[test]
fn the_budget_holds_alerts_back_and_history_keeps_every_rollup() {
    let dir = tempfile::tempdir().unwrap();
    let cap = write_pcap(dir.path(), "storm.pcap", &storm());
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "[detect]\nalerts-per-minute = 2\n").unwrap();
    let db = dir.path().join("h.db");
    let (_, err) = run(
        &cap,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "-t",
        ],
    );
    let lines = alert_lines(&err);
    let rollups = lines.iter().filter(|l| is_rollup(l)).count();
    assert!(rollups >= 2, "{err}");
    // Two a minute, and every roll-up.
    assert!(lines.len() <= 2 * 3 + rollups, "{err}");
    assert!(
        err.contains("more alert(s) held back in the minute from 2020-09-13T12:"),
        "{err}"
    );
    assert!(
        err.contains("alert(s) held back in all by the budget of 2 a minute"),
        "{err}"
    );
    // The history has what was held back too, roll-ups included.
    let stored = crate::common::stored_alerts(&db);
    let stored_rollups = stored
        .iter()
        .filter(|a| a["entity"]["type"] == "many")
        .count();
    assert_eq!(stored_rollups, rollups);
    assert!(stored.len() > lines.len(), "{} stored", stored.len());
}

#[test]
fn rollups_and_the_budget_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let cap = write_pcap(dir.path(), "storm.pcap", &storm());
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "[detect]\nrollup-after = 0\nalerts-per-minute = 0\n").unwrap();
    let (_, err) = run(&cap, &["--config", cfg.to_str().unwrap(), "-t"]);
    // Every flow on its own: the storm as it was.
    assert!(
        alert_lines(&err).len() > 1_000,
        "{}",
        alert_lines(&err).len()
    );
    assert!(!err.contains("held back"));
}
