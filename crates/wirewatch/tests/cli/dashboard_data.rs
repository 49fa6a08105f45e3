//! Every page of the dashboard with data, in headless Chromium: a paced
//! replay of `samples/demo.pcapng` (`--speed 20`, about 15 s) recording
//! into a history database, with the clock pinned half an hour after the
//! capture so that "the last hour" covers it. The live page must follow the
//! event stream (not the polling fallback) and show an alert that arrives
//! over it; the history, alerts, host and forecast pages must show what
//! their endpoints answer, number for number. Screenshots of each page at
//! 1280×800 and 390×844, light and dark, go to `target/test-artifacts/`.

use std::time::{Duration, Instant};

use serde_json::Value;
use wirewatch_testkit::browser::Browser;
use wirewatch_testkit::{require, udp_frame};

use crate::common::{t, write_pcap};

use crate::dashboard::{check_degrades_visibly, open_ready, shoot, FIRST_ROW, READY};
use crate::web::{json, Served};

/// The clock of the server: 25 minutes after the capture's last packet.
const NOW: &str = "2026-11-23T09:30:00Z";

/// The sizes every page is photographed at.
const SIZES: [(u32, u32); 2] = [(1280, 800), (390, 844)];

/// How long the paced replay may take (about 15 s on an idle machine).
const REPLAY: Duration = Duration::from_secs(90);

/// A table of numbers under a chart (`details.numbers`) inside `within`:
/// its column names and, per row, the exact values (`null`: no value).
fn numbers(b: &mut Browser, within: &str) -> (Vec<String>, Vec<Vec<Option<f64>>>) {
    let js = format!(
        "(() => {{ const t = document.querySelector('{within} table.chart-numbers'); if (!t) return null;
  return [[...t.querySelectorAll('thead th[data-name]')].map(th => th.dataset.name),
    [...t.querySelectorAll('tbody tr')].map(r => [...r.querySelectorAll('td[data-value]')]
      .map(td => td.dataset.value === '' ? null : Number(td.dataset.value)))]; }})()"
    );
    let v = b.eval(&js).unwrap();
    serde_json::from_value(v).unwrap_or_else(|e| panic!("{within}: {e}"))
}

/// The rows of the history top table: (key, bytes, out, in).
fn history_top_rows(b: &mut Browser) -> Vec<(String, u64, u64, u64)> {
    let v = b
        .eval(
            "[...document.querySelectorAll('table.history-top tbody tr.entry')].map(r => [r.dataset.key,
  ...['bytes', 'out', 'in'].map(c => Number(r.querySelector('td.' + c).dataset.value))])",
        )
        .unwrap();
    serde_json::from_value(v).unwrap()
}

/// The same rows from a `/api/v1/history/top` answer, `subject` left out.
fn api_top_rows(top: &Value, subject: Option<&str>) -> Vec<(String, u64, u64, u64)> {
    top["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| Some(e["key"].as_str().unwrap()) != subject)
        .map(|e| {
            let n = |k: &str| e[k].as_u64().unwrap();
            let key = e["key"].as_str().unwrap().to_string();
            (key, n("bytes"), n("bytes_out"), n("bytes_in"))
        })
        .collect()
}

/// The bytes per bucket of a series line.
fn line_bytes(line: &Value) -> Vec<f64> {
    line["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["bytes"].as_f64().unwrap())
        .collect()
}

/// Checks the stacked chart under `within` against the endpoints: a uPlot
/// canvas; one band per line of `/api/v1/history/series?QUERY&by=BY`
/// (`subject` left out, at most 5) plus "other"; each band's bytes per
/// bucket equal to the line's, and "other" equal to `copies` × the total
/// minus the lines. Returns the number of bands.
fn check_stacked(
    s: &Served,
    b: &mut Browser,
    within: &str,
    query: &str,
    by: &str,
    subject: Option<&str>,
    copies: f64,
) -> usize {
    let canvas = format!("!!document.querySelector('{within} .chart.stacked canvas')");
    assert_eq!(b.eval(&canvas).unwrap(), true, "{within}: no chart");
    let extra = usize::from(subject.is_some());
    let series = json(&s.get(
        &format!("/api/v1/history/series?{query}&by={by}&limit={}", 5 + extra),
        &[],
    ));
    let total = json(&s.get(&format!("/api/v1/history/series?{query}"), &[]));
    let lines: Vec<&Value> = series["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["name"].as_str() != subject)
        .take(5)
        .collect();
    let total = line_bytes(&total["lines"][0]);
    let mut want_names: Vec<String> = lines
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    want_names.push("other".into());
    let mut want: Vec<Vec<f64>> = lines.iter().map(|l| line_bytes(l)).collect();
    let other: Vec<f64> = (0..total.len())
        .map(|i| copies * total[i] - want.iter().map(|l| l[i]).sum::<f64>())
        .collect();
    assert!(
        other.iter().sum::<f64>() > 0.0,
        "{within}: no other traffic"
    );
    want.push(other);
    let (names, rows) = numbers(b, within);
    assert_eq!(names, want_names, "{within}");
    assert_eq!(rows.len(), total.len(), "{within}: buckets");
    for (i, row) in rows.iter().enumerate() {
        let expect: Vec<Option<f64>> = want.iter().map(|band| Some(band[i])).collect();
        assert_eq!(row, &expect, "{within}: bucket {i}");
    }
    // The chart's legend: the time, then one entry per band.
    let legend =
        format!("document.querySelectorAll('{within} .chart.stacked .u-legend .u-series').length");
    assert_eq!(b.eval(&legend).unwrap(), want_names.len() + 1, "{within}");
    want_names.len()
}

/// Waits until the history holds the whole replay: its total over `since`
/// equals the bytes the interfaces counted. The web feed says "ended" when
/// the replay ends; the history writer may still be committing its last
/// rows then.
fn wait_history_complete(s: &Served, since: &str) {
    let ifaces = json(&s.get("/api/v1/interfaces", &[]));
    let counted: u64 = ifaces["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["receive_bytes"].as_u64().unwrap() + i["transmit_bytes"].as_u64().unwrap())
        .sum();
    let deadline = Instant::now() + READY;
    loop {
        let a = s.get(&format!("/api/v1/history/top?since={since}&limit=1"), &[]);
        if a.status == 200 && json(&a)["total"]["bytes"] == counted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "history: {} ≠ {counted} bytes",
            a.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn every_page_shows_a_paced_replay_and_its_history() {
    let mut b = require!(Browser::launch());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let s = Served::spawn(
        &[("WIREWATCH_NOW", NOW)],
        &[
            "--db",
            db.to_str().unwrap(),
            "--web",
            "127.0.0.1:0",
            "--speed",
            "20",
        ],
    );
    let base = format!("http://{}/", s.addr);
    b.emulate(1280, 800, false).unwrap();
    live_page_follows_the_stream(&s, &mut b, &base);
    shoot(&mut b, "live", &SIZES);
    wait_history_complete(&s, "1h");
    history_page(&s, &mut b, &base);
    alerts_page(&s, &mut b, &base);
    host_page(&s, &mut b, &base);
    forecast_page(&s, &mut b, &base);
    assert_eq!(b.csp_violations().unwrap(), Vec::<String>::new());
    assert_eq!(b.exceptions, Vec::<String>::new());
    assert_eq!(b.dialogs, Vec::<String>::new());
    s.stop();
}

/// The statuses the live page showed while the replay ran (the page's
/// status line, collected while the test watches).
const RUNNING_STATUSES: &str = "(() => {
  const seen = (window.__statuses = window.__statuses || new Set());
  const t = document.getElementById('status').textContent;
  if (document.body.dataset.state !== 'ended') seen.add(t);
  return seen.size >= 3 ? [...seen] : null;
})()";

/// The first snapshot a new stream client gets (read by the page's own
/// EventSource): the server's sparkline.
const STREAM_SPARK: &str = "new Promise((done) => {
  const es = new EventSource('/api/v1/events');
  es.addEventListener('snapshot', (e) => { es.close(); done(JSON.parse(e.data).spark); });
})";

/// The live page over the running replay: it takes its numbers from the
/// event stream (several snapshots, no request to `/api/v1/top`), shows the
/// SYN flood alert when it arrives over the stream, then the final table
/// (the top pair as the API has it) and the whole sparkline.
fn live_page_follows_the_stream(s: &Served, b: &mut Browser, base: &str) {
    open_ready(b, base, "live");
    assert_eq!(
        b.eval("document.body.dataset.state").unwrap(),
        "live",
        "the replay ended before the page was open"
    );
    b.wait_for("document.body.dataset.feed === 'events'", READY)
        .unwrap();
    let statuses = b.wait_for(RUNNING_STATUSES, REPLAY).unwrap();
    assert!(statuses.to_string().contains("live stream"), "{statuses}");
    // The flood comes 210 s into the capture, ~10 s after the start: after
    // the page read the alert list, so only the stream can bring it.
    let summary = b
        .wait_for(
            "(() => { const e = document.querySelector('#live-alerts .alert.new[data-kind=\"syn_flood\"] .summary'); return e && e.textContent; })()",
            REPLAY,
        )
        .unwrap();
    let flood = json(&s.get("/api/v1/alerts?kind=syn_flood", &[]));
    assert_eq!(summary, flood["alerts"][0]["summary"]);
    b.wait_for("document.body.dataset.state === 'ended'", REPLAY)
        .unwrap();
    let fetched = b
        .eval("performance.getEntriesByType('resource').map(e => e.name)")
        .unwrap();
    assert!(
        !fetched.to_string().contains("/api/v1/top"),
        "the page polled: {fetched}"
    );
    // The final top table: the top pair's addresses and bytes.
    let row = b.eval(FIRST_ROW).unwrap();
    let api = json(&s.get("/api/v1/top?by=pair&window=2s&limit=1", &[]));
    let first = &api["entries"][0];
    assert_eq!((&row["src"], &row["dst"]), (&first["src"], &first["dst"]));
    assert_eq!(row["sent"], first["src_to_dst"]["bytes"]);
    assert_eq!(row["received"], first["dst_to_src"]["bytes"]);
    // The sparkline: a point per second of the paced replay, as the
    // stream has them.
    let spark: Vec<[f64; 3]> = serde_json::from_value(b.eval(STREAM_SPARK).unwrap()).unwrap();
    assert!(spark.len() >= 10, "{spark:?}");
    let (names, rows) = numbers(b, "#spark-numbers");
    assert_eq!(names, ["sent", "received"]);
    let want: Vec<Vec<Option<f64>>> = spark.iter().map(|p| vec![Some(p[1]), Some(p[2])]).collect();
    assert_eq!(rows, want);
}

/// The history page, by host (each flow counts for two hosts) and by pair
/// (for one): the stacked chart and the top table are the endpoints'.
fn history_page(s: &Served, b: &mut Browser, base: &str) {
    for (by, copies) in [("pair", 1.0), ("host", 2.0)] {
        open_ready(b, &format!("{base}#/history?since=1h&by={by}"), "history");
        let bands = check_stacked(s, b, "main", "since=1h", by, None, copies);
        assert_eq!(bands, 6, "{by}: five lines and other");
        let top = json(&s.get(
            &format!("/api/v1/history/top?since=1h&by={by}&limit=10"),
            &[],
        ));
        let rows = history_top_rows(b);
        assert_eq!(rows.len(), 10, "{by}");
        assert_eq!(rows, api_top_rows(&top, None), "{by}");
    }
    shoot(b, "history", &SIZES);
}

/// The summaries the alerts page lists, in order.
fn listed_summaries(b: &mut Browser) -> Vec<String> {
    let v = b
        .eval("[...document.querySelectorAll('#alerts .alert .summary')].map(e => e.textContent)")
        .unwrap();
    serde_json::from_value(v).unwrap()
}

/// The summaries of `/api/v1/alerts?QUERY`.
fn api_summaries(s: &Served, query: &str) -> Vec<String> {
    json(&s.get(&format!("/api/v1/alerts?limit=200{query}"), &[]))["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["summary"].as_str().unwrap().to_string())
        .collect()
}

/// Sets the alerts form's `field` (an input or select) to `value`, submits
/// the form as a reader would, and waits for the filtered list.
fn filter_alerts(b: &mut Browser, field: &str, value: &str) {
    let js = format!(
        "(() => {{ delete document.body.dataset.ready; const f = document.querySelector('main form'); f.elements['{field}'].value = '{value}'; f.requestSubmit(); }})()"
    );
    b.eval(&js).unwrap();
    let cond = format!(
        "location.hash.includes('{field}={value}') && document.body.dataset.ready === 'alerts'"
    );
    b.wait_for(&cond, READY).unwrap();
}

/// The alerts page: every alert's summary as the API lists them; the kind
/// and severity filters; an entity's link leads to its page.
fn alerts_page(s: &Served, b: &mut Browser, base: &str) {
    open_ready(b, &format!("{base}#/alerts"), "alerts");
    let all = api_summaries(s, "");
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(listed_summaries(b), all);
    shoot(b, "alerts", &SIZES);
    filter_alerts(b, "kind", "syn_flood");
    let floods = api_summaries(s, "&kind=syn_flood");
    assert_eq!(floods.len(), 1);
    assert_eq!(listed_summaries(b), floods);
    b.eval("delete document.body.dataset.ready; location.hash = '#/alerts'")
        .unwrap();
    b.wait_for(
        "document.body.dataset.ready === 'alerts' && !location.hash.includes('?')",
        READY,
    )
    .unwrap();
    filter_alerts(b, "severity", "high");
    let high = api_summaries(s, "&severity=high");
    assert_eq!(high.len(), 2, "{high:?}");
    assert_eq!(listed_summaries(b), high);
    // The flood's host: its link opens the host's page.
    let flood = json(&s.get("/api/v1/alerts?kind=syn_flood", &[]));
    let addr = flood["alerts"][0]["entity"]["addr"]
        .as_str()
        .unwrap()
        .to_string();
    b.eval(&format!(
        "document.querySelector('#alerts .alert[data-kind=\"syn_flood\"] a[href=\"#/host/{addr}\"]').click()"
    ))
    .unwrap();
    b.wait_for("document.body.dataset.ready === 'host'", READY)
        .unwrap();
    let title = b
        .eval("document.querySelector('.entity-title .name').textContent")
        .unwrap();
    assert_eq!(title, addr.as_str());
}

/// The host page of the busiest host: its live peers and ports as
/// `/api/v1/host/IP` has them, and its history (peers stacked, other).
fn host_page(s: &Served, b: &mut Browser, base: &str) {
    let top = json(&s.get("/api/v1/history/top?since=1h&by=host&limit=1", &[]));
    let ip = top["entries"][0]["key"].as_str().unwrap().to_string();
    open_ready(b, &format!("{base}#/host/{ip}?since=1h"), "host");
    let api = json(&s.get(&format!("/api/v1/host/{ip}?window=40s"), &[]));
    let peers = b
        .eval("[...document.querySelectorAll('table.toptable tbody tr.entry')].map(r => [r.querySelector('td.dst').dataset.addr,
  Number(r.querySelector('td.bytes-sent').dataset.value), Number(r.querySelector('td.bytes-received').dataset.value)])")
        .unwrap();
    let want: Vec<Value> = api["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| serde_json::json!([p["dst"], p["src_to_dst"]["bytes"], p["dst_to_src"]["bytes"]]))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(peers, Value::Array(want));
    let ports = b
        .eval("[...document.querySelectorAll('table.ports tbody tr')].map(r => [r.querySelector('td.l').textContent,
  ...[...r.querySelectorAll('td[data-value]')].map(td => Number(td.dataset.value))])")
        .unwrap();
    let want: Vec<Value> = api["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let name = format!("{} {}", p["protocol"].as_str().unwrap(), p["port"]);
            serde_json::json!([name, p["sent_bytes"], p["received_bytes"]])
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(ports, Value::Array(want));
    let q = format!("since=1h&host={ip}");
    check_stacked(s, b, "main", &q, "host", Some(&ip), 1.0);
    let top = json(&s.get(&format!("/api/v1/history/top?{q}&by=host&limit=11"), &[]));
    assert_eq!(history_top_rows(b), api_top_rows(&top, Some(&ip)));
    shoot(b, "host", &SIZES);
}

/// Opens the forecast page of `iface` with the endpoint's keys `q` (with
/// `capacity=CAPACITY` bit/s) and checks its chart against the endpoints: a
/// uPlot canvas; the inbound history as `/api/v1/history/series` has it
/// over the forecast's history, then each forecast point with its 95 % and
/// 80 % bands (when `bands`), and the capacity line.
fn check_forecast(
    s: &Served,
    b: &mut Browser,
    base: &str,
    iface: &str,
    q: &str,
    capacity: f64,
    bands: bool,
) {
    let q = format!("{q}&capacity={capacity}");
    open_ready(b, &format!("{base}#/forecast/{iface}?{q}"), "forecast");
    let f = json(&s.get(&format!("/api/v1/forecast?iface={iface}&{q}"), &[]));
    let inbound = &f["directions"][0];
    assert_eq!(inbound["direction"], "inbound", "{f}");
    let canvas = b
        .eval("!!document.querySelector('.chart.forecast canvas')")
        .unwrap();
    assert_eq!(canvas, true);
    let keys: &[&str] = if bands {
        &["forecast", "upper95", "lower95", "upper80", "lower80"]
    } else {
        &["forecast"]
    };
    let (names, rows) = numbers(b, "main");
    let mut want_names = vec!["history", "forecast"];
    if bands {
        want_names.extend(["upper 95 %", "lower 95 %", "upper 80 %", "lower 80 %"]);
    }
    want_names.push("capacity");
    assert_eq!(names, want_names);
    let h = &f["history"];
    let series = json(&s.get(
        &format!(
            "/api/v1/history/series?since={}&until={}&step=1m&iface={iface}",
            h["from"].as_str().unwrap(),
            h["to"].as_str().unwrap()
        ),
        &[],
    ));
    let past: Vec<f64> = series["lines"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["bytes_in"].as_f64().unwrap() * 8.0 / 60.0)
        .collect();
    let points = inbound["points"].as_array().unwrap();
    assert_eq!(rows.len(), past.len() + points.len());
    for (i, v) in past.iter().enumerate() {
        let mut want = vec![Some(*v)];
        want.extend(keys.iter().map(|_| None));
        want.push(Some(capacity));
        assert_eq!(rows[i], want, "history row {i}");
    }
    for (i, p) in points.iter().enumerate() {
        let mut want = vec![None];
        want.extend(keys.iter().map(|k| p[k].as_f64()));
        want.push(Some(capacity));
        assert!(!bands || p["upper95"].is_number(), "{p}");
        assert_eq!(rows[past.len() + i], want, "forecast row {i}");
    }
}

/// The forecast page of the demo capture's interface at a 1-minute step:
/// with the history up to the clock (30 points: the capture's 5 minutes
/// and 25 quiet ones) the forecast has bands, drawn with the history; up
/// to the capture's end (5 points) it has none and the page says why; a
/// step the endpoint refuses shows its message.
fn forecast_page(s: &Served, b: &mut Browser, base: &str) {
    let iface = "demo.pcapng";
    check_forecast(
        s,
        b,
        base,
        iface,
        "step=1m&horizon=30m&history=1h",
        200_000.0,
        true,
    );
    shoot(b, "forecast-demo", &SIZES[..1]);
    // Up to the capture's end: 5 points, no bands, and the reason shown.
    let q = "step=1m&horizon=5m&history=1h&until=2026-11-23T09:05:00Z";
    check_forecast(s, b, base, iface, q, 200_000.0, false);
    let notes = b
        .eval("[...document.querySelectorAll('ul.notes li')].map(e => e.textContent).join('\\n')")
        .unwrap();
    assert!(
        notes
            .as_str()
            .unwrap()
            .contains("too little history for intervals"),
        "{notes}"
    );
    // 28 days at a minute is more than the endpoint takes: its message.
    open_ready(b, &format!("{base}#/forecast/{iface}?step=1m"), "forecast");
    check_degrades_visibly(
        s,
        b,
        "/api/v1/forecast",
        &format!("/api/v1/forecast?iface={iface}&step=1m"),
    );
    assert_eq!(
        b.eval("document.querySelectorAll('[data-unavailable]').length")
            .unwrap(),
        1
    );
}

/// Three hours of a download whose rate rises and falls every hour (one
/// request and one answer every 5 s), from 2020-09-13T12:26:40Z.
fn hourly_wave() -> Vec<(wirewatch_wire::Timestamp, Vec<u8>)> {
    let mut frames = Vec::new();
    for k in 0..(3 * 60 * 12) {
        let ms = i64::from(k) * 5_000;
        let phase = (f64::from(k) / 720.0) * std::f64::consts::TAU * 3.0;
        // 400 to 1,400 bytes, with a small saw-tooth for texture.
        let answer = 900.0 + 500.0 * phase.sin() + f64::from(k % 7) * 10.0;
        let req = udp_frame("10.0.0.1", 40000, "10.0.0.2", 443, 60);
        let ans = udp_frame("10.0.0.2", 443, "10.0.0.1", 40000, answer as usize);
        frames.push((t(ms), req));
        frames.push((t(ms + 20), ans));
    }
    frames
}

#[test]
fn the_forecast_page_draws_history_forecast_and_bands() {
    let mut b = require!(Browser::launch());
    let dir = tempfile::tempdir().unwrap();
    let pcap = write_pcap(dir.path(), "wave.pcap", &hourly_wave());
    let db = dir.path().join("h.db");
    // The clock at the capture's end.
    let s = Served::spawn_file(
        pcap.to_str().unwrap(),
        &[("WIREWATCH_NOW", "2020-09-13T15:26:40Z")],
        &["--db", db.to_str().unwrap(), "--web", "127.0.0.1:0"],
    );
    s.wait_ended(&[]);
    wait_history_complete(&s, "6h");
    let base = format!("http://{}/", s.addr);
    b.emulate(1280, 800, false).unwrap();
    let q = "step=1m&horizon=1h&history=6h";
    check_forecast(&s, &mut b, &base, "wave.pcap", q, 3_000.0, true);
    shoot(&mut b, "forecast", &SIZES);
    assert_eq!(b.exceptions, Vec::<String>::new());
    s.stop();
}
