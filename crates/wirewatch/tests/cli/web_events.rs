//! The live parts of the API: `/api/v1/events` (SSE) over a paced replay,
//! `/api/v1/status`, `/api/v1/alerts` and the host and process pages.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::web::{demo, final_report, json, Served};

/// An SSE client: HTTP/1.0, so the body is the raw stream (no chunking).
struct Events {
    lines: BufReader<TcpStream>,
}

impl Events {
    /// Connects; returns the status line and, on 200, the stream.
    fn open(addr: SocketAddr) -> (String, Option<Events>) {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(b"GET /api/v1/events HTTP/1.0\r\n\r\n").unwrap();
        let mut lines = BufReader::new(s);
        let mut status = String::new();
        lines.read_line(&mut status).unwrap();
        // The rest of the head.
        let mut line = String::new();
        while lines.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
            line.clear();
        }
        let ok = status.contains(" 200 ");
        (status, ok.then_some(Events { lines }))
    }

    /// The next event: (name, data); comments and `retry:` are skipped.
    fn next(&mut self) -> Option<(String, Value)> {
        let (mut name, mut data) = (String::new(), None);
        loop {
            let mut line = String::new();
            if self.lines.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end_matches('\n');
            if let Some(n) = line.strip_prefix("event: ") {
                name = n.to_string();
            } else if let Some(d) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(d).unwrap());
            } else if line.is_empty() {
                if let Some(d) = data.take() {
                    return Some((name, d));
                }
            }
        }
    }
}

/// The alerts `-r demo --alerts json` writes.
fn demo_alerts() -> Vec<Value> {
    let out = Command::new(assert_cmd::cargo::cargo_bin("wirewatch"))
        .args(["-r", &demo(), "--alerts", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn events_bring_a_snapshot_per_second_of_a_paced_replay_and_its_alerts() {
    // 297 s of packets at 20× real time: about 15 s, a snapshot every 20 s
    // of packet time (once a second).
    let s = Served::spawn(&[], &["--web", "127.0.0.1:0", "--speed", "20"]);
    let (status, events) = Events::open(s.addr);
    let mut events = events.unwrap_or_else(|| panic!("{status}"));
    let expected = demo_alerts();
    let scan = expected
        .iter()
        .find(|a| a["kind"] == "vertical_scan")
        .expect("the demo's scan alert");
    let started = Instant::now();
    let (mut times, mut alerts) = (Vec::new(), Vec::new());
    while let Some((name, data)) = events.next() {
        match name.as_str() {
            "snapshot" => {
                times.push(data["time"].as_f64().unwrap_or_else(|| panic!("{data}")));
                let top = &data["top"]["pair"]["2s"];
                assert!(top.as_array().unwrap().len() <= 10, "{top}");
                assert!(data["interfaces"].is_array() && data["spark"].is_array());
                if data["state"] == "ended" {
                    break;
                }
            }
            "alert" => alerts.push(data),
            other => panic!("unexpected event {other}"),
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no end");
    }
    // Paced: consecutive snapshots (before the final one) are at least
    // 20 s of packet time apart, and there are several.
    assert!(times.len() >= 5, "{times:?}");
    let paced = &times[..times.len() - 1];
    assert!(
        paced.windows(2).all(|w| w[1] - w[0] >= 19.9),
        "snapshots not paced: {times:?}"
    );
    // The alert came while the replay ran, with the report's summary.
    let got = alerts
        .iter()
        .find(|a| a["kind"] == "vertical_scan")
        .expect("the scan alert over SSE");
    assert_eq!(got["summary"], scan["summary"]);
    assert_eq!(alerts.len(), expected.len(), "{alerts:?}");
    s.stop();
}

#[test]
fn status_alerts_and_the_host_page_after_a_replay() {
    let s = Served::start("127.0.0.1:0", &[]);
    let expected = demo_alerts();
    let status = json(&s.get("/api/v1/status", &[]));
    assert_eq!(status["mode"], "replay");
    assert_eq!(status["state"], "ended");
    assert_eq!(status["alerts_total"], expected.len());

    // Newest first, filtered by kind, severity and entity.
    let all = json(&s.get("/api/v1/alerts", &[]));
    let all = all["alerts"].as_array().unwrap().clone();
    assert_eq!(all.len(), expected.len());
    assert_eq!(all.first(), expected.last());
    let scans = json(&s.get("/api/v1/alerts?kind=vertical_scan", &[]));
    let scans = scans["alerts"].as_array().unwrap();
    assert!(!scans.is_empty() && scans.iter().all(|a| a["kind"] == "vertical_scan"));
    let high = json(&s.get("/api/v1/alerts?severity=high", &[]));
    let want = expected
        .iter()
        .filter(|a| a["severity"] == "high" || a["severity"] == "critical")
        .count();
    assert_eq!(high["alerts"].as_array().unwrap().len(), want);
    let by_entity = json(&s.get("/api/v1/alerts?entity=203.0.113.66", &[]));
    assert!(by_entity["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["kind"] == "vertical_scan"));
    let bad = s.get("/api/v1/alerts?severity=urgent", &[]);
    assert_eq!(bad.status, 400);
    assert_eq!(
        json(&bad)["error"],
        "invalid value 'urgent' for 'severity' (possible values: low, medium, high, critical)"
    );

    // The scanned host: its bytes over its peers equal those of the
    // busiest 1,000 of the report's flows (-P: one entry per flow; -o 40s:
    // in the drill-down's order) that have it at one end.
    let host = "192.168.1.20";
    let page = json(&s.get(&format!("/api/v1/host/{host}"), &[]));
    let report = final_report(&["-P", "-o", "40s"]);
    let entries = report["entries"].as_array().unwrap();
    assert!(entries.len() > 1_000, "the demo has more flows than a page");
    let (mut sent, mut received, mut flows) = (0, 0, 0);
    for e in &entries[..1_000] {
        let (out, back) = if e["src"] == host {
            ("src_to_dst", "dst_to_src")
        } else if e["dst"] == host {
            ("dst_to_src", "src_to_dst")
        } else {
            continue;
        };
        flows += 1;
        sent += e[out]["bytes"].as_u64().unwrap();
        received += e[back]["bytes"].as_u64().unwrap();
    }
    let sum = |list: &str, k: &str| -> u64 {
        page[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.pointer(k).and_then(Value::as_u64).unwrap())
            .sum()
    };
    assert_eq!(page["flows"], flows);
    let peers = (
        sum("peers", "/src_to_dst/bytes"),
        sum("peers", "/dst_to_src/bytes"),
    );
    assert_eq!(peers, (sent, received));
    let ports = (sum("ports", "/sent_bytes"), sum("ports", "/received_bytes"));
    assert_eq!(ports, (sent, received));
    assert!(page["peers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["src"] == host
            && p["dst"] == "203.0.113.66"
            && p["flows"].as_u64().unwrap() >= 50));
    assert!(page["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["kind"] == "vertical_scan"));
    let bad = s.get("/api/v1/host/not-an-ip", &[]);
    assert_eq!(bad.status, 400);
    assert_eq!(json(&bad)["error"], "not an IP address: 'not-an-ip'");
    s.stop();
}

#[test]
fn event_streams_are_capped_as_configured_and_counted_in_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "[web]\nmax-sse-clients = 5\n").unwrap();
    let s = Served::start("127.0.0.1:0", &["--config", cfg.to_str().unwrap()]);
    let cap = 5;
    let open: Vec<Events> = (0..cap)
        .map(|i| {
            let (status, ev) = Events::open(s.addr);
            ev.unwrap_or_else(|| panic!("stream {i}: {status}"))
        })
        .collect();
    let (status, refused) = Events::open(s.addr);
    assert!(status.contains(" 503 ") && refused.is_none(), "{status}");
    let st = json(&s.get("/api/v1/status", &[]));
    assert_eq!(
        (st["sse_clients"].as_u64(), st["sse_refused"].as_u64()),
        (Some(cap), Some(1))
    );
    let m = s.get("/metrics", &[]).body;
    for want in [
        "\nwirewatch_web_sse_clients 5\n",
        "\nwirewatch_web_sse_refused_total 1\n",
        "\nwirewatch_web_requests_total{code=\"503\"} 1\n",
    ] {
        assert!(m.contains(want), "{want}: {m}");
    }
    drop(open);
    // Places come back once the server sees the clients gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, ev) = Events::open(s.addr);
        if ev.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "places not given back: {status}");
        std::thread::sleep(Duration::from_millis(200));
    }
    s.stop();
}
