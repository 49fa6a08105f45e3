//! TCP health (`--tcp`) where it is shown, on a capture the tests write
//! (three connections with different RTTs and retransmissions): the
//! screen's RTT / retransmission column (key `R`) and orders by
//! retransmissions (`5`) and RTT (`6`) against the JSON report of the same
//! capture, and what the keys say without `--tcp`; the dashboard's columns
//! and TCP health panel against the API (headless Chromium).

use std::net::IpAddr;
use std::path::Path;

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use serde_json::Value;
use wirewatch::settings::ScreenOptions;
use wirewatch::tui::app::TCP_OFF;
use wirewatch::tui::{App, HostNames, Ui};
use wirewatch_capture::PcapWriter;
use wirewatch_flow::{FlowConfig, FlowTable};
use wirewatch_pipeline::{FileSource, Pipeline};
use wirewatch_wire::{build, linktype, tcp_flags, Timestamp};

use crate::common::stdout_of;

/// No names: addresses on screen, as in the report.
struct NoNames;

impl HostNames for NoNames {
    fn host(&mut self, _: IpAddr) -> Option<String> {
        None
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_nanos(1_700_000_000_000_000_000 + ms * 1_000_000)
}

/// A raw IPv4 TCP segment with its sequence and ACK numbers.
fn segment(
    src: &str,
    dst: &str,
    ports: (u16, u16),
    seq: u32,
    ack: u32,
    flags: u8,
    len: usize,
) -> Vec<u8> {
    let mut t = build::tcp(ports.0, ports.1, flags, &vec![0; len]);
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    build::ipv4(ip(src), ip(dst), 6, &t)
}

/// Servers, their delay in ms and how many times the client sends its
/// data again: an RTT order and a retransmission order that differ.
const CONNS: [(&str, i64, i64); 3] = [
    ("10.0.0.2", 10, 2),
    ("10.0.0.3", 50, 0),
    ("10.0.0.4", 30, 5),
];

/// Three connections from 10.0.0.1 (handshake, 100 bytes sent 1 + N
/// times, the ACK) and a DNS exchange, as (ms, frame).
fn frames() -> Vec<(i64, Vec<u8>)> {
    let c = "10.0.0.1";
    let (syn, ack, psh) = (
        tcp_flags::SYN,
        tcp_flags::ACK,
        tcp_flags::PSH | tcp_flags::ACK,
    );
    let mut v = Vec::new();
    for (i, (s, d, resent)) in CONNS.into_iter().enumerate() {
        let (up, down) = ((40_000 + i as u16, 80), (80, 40_000 + i as u16));
        let t0 = i as i64 * 100;
        v.push((t0, segment(c, s, up, 100, 0, syn, 0)));
        v.push((t0 + d, segment(s, c, down, 500, 101, syn | ack, 0)));
        v.push((t0 + d + 1, segment(c, s, up, 101, 501, ack, 0)));
        for k in 0..=resent {
            v.push((t0 + d + 2 + k * 300, segment(c, s, up, 101, 501, psh, 100)));
        }
        v.push((
            t0 + 2 * d + 2 + resent * 300,
            segment(s, c, down, 501, 201, ack, 0),
        ));
    }
    v.push((
        5,
        build::ipv4(ip(c), ip("10.0.0.9"), 17, &build::udp(5353, 53, &[0; 30])),
    ));
    v.sort_by_key(|f| f.0);
    v
}

/// Writes [`frames`] as a pcap file.
pub(crate) fn write_capture(path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::new(file, linktype::RAW, 65535, false).unwrap();
    for (ms, f) in frames() {
        w.write(at(ms), &f, f.len() as u32).unwrap();
    }
    w.finish().unwrap();
}

/// [`frames`] written in a new temporary folder (kept while it lives).
fn capture() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tcp.pcap");
    write_capture(&path);
    (dir, path)
}

/// The RTT / retransmission cells of a screen line 120 cells wide: the 16
/// before the three rates.
fn tcp_cells_of(line: &str) -> String {
    let chars: Vec<char> = format!("{line:<120}").chars().collect();
    chars[120 - 24 - 16..120 - 24].iter().collect()
}

/// The final report's entries of `wirewatch -r path --tcp --format json`.
fn report_entries(path: &Path) -> Vec<Value> {
    let file = path.to_str().unwrap();
    let out = stdout_of(&["-r", file, "--tcp", "--format", "json", "--no-detect"]);
    let fin = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "final")
        .unwrap_or_else(|| panic!("no final report in {out}"));
    fin["entries"].as_array().unwrap().clone()
}

/// The screen on a replay of `path` at full speed, played to its end.
fn replay(path: &Path, tcp: bool) -> Ui<FileSource<Box<dyn std::io::Read>>> {
    let reader = wirewatch_capture::open_with(path, |r| r).unwrap();
    let source = FileSource::new(reader, "tcp.pcap".into()).paced(None);
    let table = FlowTable::new(FlowConfig {
        tcp_analysis: tcp,
        ..FlowConfig::default()
    });
    let mut ui = Ui::on(
        App::new(ScreenOptions::default(), None),
        Pipeline::new(source, table),
        Box::new(NoNames),
        1_000_000_000,
    );
    for _ in 0..10 {
        ui.turn(0).unwrap();
        if ui.app.status.ended {
            break;
        }
    }
    assert!(ui.app.status.ended, "the replay reached its end");
    ui
}

fn key<S: wirewatch::tui::UiSource>(ui: &mut Ui<S>, c: char) {
    ui.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
}

fn screen<S: wirewatch::tui::UiSource>(ui: &mut Ui<S>, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| ui.draw(f)).unwrap();
    let b = term.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| b[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The RTT and retransmission cells the screen should show for a report
/// entry: its smoothed RTT on the `=>` line with the sent direction's
/// retransmissions, the received direction's on the `<=` line.
fn want_cells(e: &Value) -> [String; 2] {
    let t = &e["tcp"];
    let rtt = t["rtt_ms"]["smoothed"]
        .as_f64()
        .map_or("-".to_string(), |ms| format!("{ms:.1}ms"));
    let r = |i: usize| t["retransmissions"][i].as_u64().unwrap();
    [
        format!("{rtt:>8} {:>6} ", r(0)),
        format!("{:>8} {:>6} ", "", r(1)),
    ]
}

/// The destinations of the `=>` lines, top to bottom.
fn order_on_screen(s: &str) -> Vec<String> {
    s.lines()
        .filter(|l| l.contains(" => "))
        .map(|l| l.split_whitespace().nth(2).unwrap().to_string())
        .collect()
}

/// The report's destinations ordered by `key`, highest first (the screen's
/// tie-break: total bytes).
fn order_in_report(entries: &[Value], key: impl Fn(&Value) -> f64) -> Vec<String> {
    let bytes = |e: &Value| {
        e["src_to_dst"]["bytes"].as_f64().unwrap() + e["dst_to_src"]["bytes"].as_f64().unwrap()
    };
    let mut v: Vec<&Value> = entries.iter().collect();
    v.sort_by(|a, b| {
        key(b)
            .total_cmp(&key(a))
            .then(bytes(b).total_cmp(&bytes(a)))
    });
    v.iter()
        .map(|e| e["dst"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_tcp_column_and_orders_show_the_report_s_numbers() {
    let (_dir, path) = capture();
    let entries = report_entries(&path);
    assert_eq!(entries.len(), 4, "{entries:?}");
    let mut ui = replay(&path, true);
    let before = screen(&mut ui, 120, 30);
    assert!(!before.contains("retr"), "no column before R:\n{before}");
    key(&mut ui, 'R');
    assert!(ui.app.tcp_column);
    let s = screen(&mut ui, 120, 30);
    assert!(s.lines().next().unwrap().contains("RTT  retr"), "{s}");
    let lines: Vec<&str> = s.lines().collect();
    for e in &entries {
        let dst = e["dst"].as_str().unwrap();
        let row = lines
            .iter()
            .position(|l| l.contains(" => ") && l.split_whitespace().nth(2) == Some(dst))
            .unwrap_or_else(|| panic!("{dst} not on screen:\n{s}"));
        let want = match e.get("tcp") {
            Some(_) => want_cells(e),
            None => [
                format!("{:>8} {:>6} ", "-", "-"),
                format!("{:>8} {:>6} ", "", "-"),
            ],
        };
        for (line, cells) in lines[row..row + 2].iter().zip(&want) {
            assert_eq!(&tcp_cells_of(line), cells, "{dst}:\n{s}");
        }
    }
    // The orders: retransmissions (most first), RTT (slowest first); the
    // UDP exchange, without either, last.
    let retrans = |e: &Value| {
        e["tcp"]["retransmissions"]
            .as_array()
            .map_or(-1.0, |r| r.iter().map(|n| n.as_f64().unwrap()).sum())
    };
    let rtt = |e: &Value| e["tcp"]["rtt_ms"]["smoothed"].as_f64().unwrap_or(-1.0);
    key(&mut ui, '5');
    let s = screen(&mut ui, 120, 30);
    assert!(s.contains("sort by retransmissions"), "{s}");
    assert_eq!(
        order_on_screen(&s),
        order_in_report(&entries, retrans),
        "{s}"
    );
    assert_eq!(
        order_on_screen(&s),
        ["10.0.0.4", "10.0.0.2", "10.0.0.3", "10.0.0.9"]
    );
    key(&mut ui, '6');
    let s = screen(&mut ui, 120, 30);
    assert_eq!(order_on_screen(&s), order_in_report(&entries, rtt), "{s}");
    assert_eq!(
        order_on_screen(&s),
        ["10.0.0.3", "10.0.0.4", "10.0.0.2", "10.0.0.9"]
    );
}

/// Per host (`d`: destinations folded) and per process (`x`) the column
/// shows the sum of the lines folded together.
#[test]
fn the_tcp_column_shows_on_the_host_and_process_views() {
    let (_dir, path) = capture();
    let entries = report_entries(&path);
    let sent: u64 = entries
        .iter()
        .filter_map(|e| e["tcp"]["retransmissions"][0].as_u64())
        .sum();
    assert_eq!(sent, 7, "{entries:?}");
    let mut ui = replay(&path, true);
    key(&mut ui, 'R');
    for k in ['d', 'x'] {
        key(&mut ui, k);
        let s = screen(&mut ui, 120, 30);
        let line = s
            .lines()
            .find(|l| l.contains("=>"))
            .unwrap_or_else(|| panic!("{s}"));
        let cells = tcp_cells_of(line);
        let words: Vec<&str> = cells.split_whitespace().collect();
        assert!(words[0].ends_with("ms"), "{k}: {cells:?}\n{s}");
        assert_eq!(words[1], sent.to_string(), "{k}: {cells:?}\n{s}");
    }
}

#[test]
fn without_tcp_the_keys_say_the_analysis_is_off() {
    let (_dir, path) = capture();
    let mut ui = replay(&path, false);
    let sort = ui.app.opt.sort;
    for k in ['R', '5', '6'] {
        key(&mut ui, k);
        let s = screen(&mut ui, 120, 30);
        let status = s.lines().last().unwrap();
        assert!(status.starts_with(TCP_OFF), "{k}: {status}");
        assert!(!s.contains("retr"), "{k}: no empty column:\n{s}");
        assert!(!ui.app.tcp_column);
        assert_eq!(ui.app.opt.sort, sort, "{k}: the order stays");
    }
}

/// The dashboard's tables of a replay with `--tcp`: an RTT and a
/// retransmission column with the API's numbers; the TCP health panel with
/// the run's counters and the handshake RTT histogram.
#[test]
fn the_dashboard_shows_rtt_retransmissions_and_the_rtt_histogram() {
    use wirewatch_testkit::browser::Browser;
    let mut b = wirewatch_testkit::require!(Browser::launch());
    let (_dir, path) = capture();
    let s = crate::web::Served::spawn_file(
        path.to_str().unwrap(),
        &[],
        &["--web", "127.0.0.1:0", "--tcp"],
    );
    s.wait_ended(&[]);
    b.emulate(1280, 800, false).unwrap();
    crate::dashboard::open_ready(&mut b, &format!("http://{}/", s.addr), "live");
    let shown = "document.body.dataset.state === 'ended' && !!document.querySelector('th.tcp') \
        && !!document.querySelector('#tcp-health [data-tcp=retransmissions]')";
    b.wait_for(shown, crate::dashboard::READY).unwrap();
    let rows = b
        .eval(
            "[...document.querySelectorAll('table.toptable tr.entry')].map(r => ({
              dst: r.querySelector('td.dst').textContent,
              rtt: r.querySelector('td.rtt').dataset.value,
              retrans: r.querySelector('td.retrans').dataset.value,
              retransText: r.querySelector('td.retrans').textContent }))",
        )
        .unwrap();
    let api = crate::web::json(&s.get("/api/v1/top?by=pair&window=2s&limit=10", &[]));
    let entries = api["entries"].as_array().unwrap();
    assert_eq!(rows.as_array().unwrap().len(), entries.len(), "{rows}");
    for (row, e) in rows.as_array().unwrap().iter().zip(entries) {
        assert_eq!(row["dst"], e["dst"], "{row} vs {e}");
        let t = &e["tcp"];
        let rtt = t["rtt_ms"]["smoothed"]
            .as_f64()
            .map_or(String::new(), |v| v.to_string());
        assert_eq!(row["rtt"].as_str().unwrap(), rtt, "{row} vs {e}");
        let r: Vec<u64> = t["retransmissions"]
            .as_array()
            .map_or(vec![], |r| r.iter().map(|n| n.as_u64().unwrap()).collect());
        let want = if r.is_empty() {
            String::new()
        } else {
            (r[0] + r[1]).to_string()
        };
        assert_eq!(row["retrans"].as_str().unwrap(), want, "{row} vs {e}");
    }
    let lossy = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dst"] == "10.0.0.4")
        .unwrap();
    assert_eq!(lossy["retransText"], "5 / 0", "{lossy}");
    // The panel: the run's counters and one meter per bucket of each
    // histogram (handshakes; smoothed RTTs, one per connection direction).
    let status = crate::web::json(&s.get("/api/v1/status", &[]));
    let t = &status["tcp"];
    assert_eq!(t["retransmissions"], 7, "{t}");
    let panel = b
        .eval(
            "({ retrans: document.querySelector('#tcp-health [data-tcp=retransmissions] .v').dataset.value,
                buckets: [...document.querySelectorAll('[data-histogram=handshake] tr.bucket')].map(r => Number(r.dataset.count)),
                smoothed: [...document.querySelectorAll('[data-histogram=smoothed] tr.bucket')].map(r => Number(r.dataset.count)),
                meters: document.querySelectorAll('#tcp-health meter').length })",
        )
        .unwrap();
    assert_eq!(panel["retrans"], "7", "{panel}");
    let counts = |key: &str| -> Vec<u64> {
        let b = t[key].as_array().unwrap();
        b.iter().map(|b| b["count"].as_u64().unwrap()).collect()
    };
    let (want, smoothed) = (counts("handshake_rtt_buckets"), counts("rtt_buckets"));
    assert_eq!(panel["buckets"], serde_json::json!(want), "{panel}");
    assert_eq!(panel["smoothed"], serde_json::json!(smoothed), "{panel}");
    assert_eq!(want.iter().sum::<u64>(), 3, "three handshakes: {t}");
    // Each direction of the three connections has RTT samples.
    assert_eq!(
        (smoothed.iter().sum::<u64>(), t["rtt_count"].as_u64()),
        (6, Some(6)),
        "{t}"
    );
    assert_eq!(panel["meters"], 2 * want.len(), "{panel}");
    crate::dashboard::shoot(&mut b, "tcp-live", &[(1280, 1300)]);
    // A host's peers carry their flows' TCP health, from the host's side.
    let smoothed = |e: &serde_json::Value| e["tcp"]["rtt_ms"]["smoothed"].as_f64().unwrap();
    let lossy = entries.iter().find(|e| e["dst"] == "10.0.0.4").unwrap();
    for (host, peer, want) in [
        ("10.0.0.1", "10.0.0.4", [5, 0]),
        ("10.0.0.4", "10.0.0.1", [0, 5]),
    ] {
        let d = crate::web::json(&s.get(&format!("/api/v1/host/{host}"), &[]));
        let p = d["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["dst"] == peer)
            .unwrap();
        assert_eq!(
            p["tcp"]["retransmissions"],
            serde_json::json!(want),
            "{host}: {p}"
        );
        assert!(
            (smoothed(p) - smoothed(lossy)).abs() < 1e-9,
            "{host}: {p} vs {lossy}"
        );
    }
    let udp = crate::web::json(&s.get("/api/v1/host/10.0.0.9", &[]));
    assert!(
        udp["peers"][0].get("tcp").is_none(),
        "no TCP, no tcp object: {udp}"
    );
    crate::dashboard::open_ready(
        &mut b,
        &format!("http://{}/#/host/10.0.0.1", s.addr),
        "host",
    );
    let peers = b
        .eval("[...document.querySelectorAll('table.toptable tr.entry td.retrans')].map(td => td.textContent)")
        .unwrap();
    assert!(
        peers.as_array().unwrap().iter().any(|t| t == "5 / 0"),
        "{peers}"
    );
    s.stop();
}
