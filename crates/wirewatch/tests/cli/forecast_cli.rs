//! `wirewatch forecast` end to end: forecasts from a history database made
//! here with a known daily pattern, capacity warnings, charts, the CSV
//! backtest, bad input, and `forecast_deviation` alerts from a replay.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::common::{bad, ip, stdout_of, write_pcap, ww};
use serde_json::Value;
use wirewatch_store::{Counts, Row, SqliteStore, Store};
use wirewatch_wire::{build, Timestamp};

/// 2026-11-23T00:00:00Z, a Monday.
const MONDAY: i64 = 1_795_392_000;
const STEP: i64 = 300;

/// The known pattern: bytes received per 5 minutes at `ts`: a daily
/// cycle peaking at 14:00 UTC between `lo` and `hi` bytes a step, a small
/// deterministic wobble (±2 %, the same every week), weekends 30 % lower.
fn pattern(ts: i64, lo: f64, hi: f64) -> f64 {
    let day_frac = ts.rem_euclid(86_400) as f64 / 86_400.0;
    let shape = 0.5 + 0.5 * ((day_frac - 14.0 / 24.0) * std::f64::consts::TAU).cos();
    let dow = (ts.div_euclid(86_400) + 3).rem_euclid(7); // 0 = Monday
    let weekend = if dow >= 5 { 0.7 } else { 1.0 };
    let wobble = 1.0 + 0.02 * (((ts.rem_euclid(604_800) / STEP) * 7919 % 101) as f64 / 50.0 - 1.0);
    (lo + (hi - lo) * shape) * weekend * wobble
}

fn row(iface: &str, ts: i64, bytes_in: u64, bytes_out: u64, host: &str, proc_: &str) -> Row {
    Row {
        ts,
        iface: Arc::from(iface),
        local: ip(host),
        remote: ip("192.0.2.1"),
        local_port: 40_000,
        remote_port: 443,
        protocol: 6,
        process: Some(Arc::from(proc_)),
        counts: Counts {
            packets_out: 1,
            bytes_out,
            packets_in: 1,
            bytes_in,
            ..Default::default()
        },
    }
}

/// A database with `days` days of 5-minute traffic on `iface` before
/// `until`, following [`pattern`] (inbound; outbound a fifth of it), split
/// between two hosts (3:1); the steps in `holes` (as ranges of seconds
/// before `until`) have nothing.
fn history(
    dir: &Path,
    iface: &str,
    until: i64,
    days: i64,
    lo: f64,
    hi: f64,
    holes: &[(i64, i64)],
) -> PathBuf {
    let db = dir.join("h.db");
    let mut s = SqliteStore::open(&db).unwrap();
    let mut rows = Vec::new();
    let mut ts = until - days * 86_400;
    while ts < until {
        let back = until - ts;
        if !holes.iter().any(|&(a, b)| back <= a && back > b) {
            let b = pattern(ts, lo, hi);
            let (i, o) = (b as u64, (b / 5.0) as u64);
            rows.push(row(iface, ts, i * 3 / 4, o * 3 / 4, "10.0.0.5", "backup"));
            rows.push(row(
                iface,
                ts,
                i - i * 3 / 4,
                o - o * 3 / 4,
                "10.0.0.6",
                "web",
            ));
        }
        ts += STEP;
    }
    s.append(&rows).unwrap();
    db
}

/// `wirewatch forecast --db DB --iface eth0 --until UNTIL EXTRA…`'s stdout.
fn forecast_eth0(db: &str, until: i64, extra: &[&str]) -> String {
    let u = rfc(until);
    let mut args = vec!["forecast", "--db", db, "--iface", "eth0", "--until", &u];
    args.extend_from_slice(extra);
    stdout_of(&args)
}

/// Replays `pcap` into `db` with NDJSON alerts into `alerts` (emptied
/// first), the run's clock pinned to `now` (what retention counts back
/// from: the result must not depend on the day the test runs); returns
/// stderr and the alerts written.
fn replay(pcap: &Path, db: &Path, alerts: &Path, now: i64) -> (String, String) {
    replay_with(pcap, db, alerts, now, &[])
}

/// [`replay`] with more arguments.
fn replay_with(
    pcap: &Path,
    db: &Path,
    alerts: &Path,
    now: i64,
    extra: &[&str],
) -> (String, String) {
    let _ = std::fs::remove_file(alerts);
    let out = ww()
        .env("WIREWATCH_NOW", now.to_string())
        .args(extra)
        .args([
            "-r",
            pcap.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--alerts",
            &format!("json:{}", alerts.display()),
            "--no-summary",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    (err, std::fs::read_to_string(alerts).unwrap_or_default())
}

fn rfc(ts: i64) -> String {
    wirewatch_store::time::rfc3339(ts)
}

#[test]
fn forecast_follows_the_known_pattern_with_nested_bands() {
    let dir = tempfile::tempdir().unwrap();
    let until = MONDAY + 3 * 86_400; // Thursday 00:00
    let db = history(dir.path(), "eth0", until, 21, 40_000.0, 400_000.0, &[]);
    let dbs = db.to_str().unwrap();
    let out = forecast_eth0(dbs, until, &["--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["step_secs"], 300);
    assert_eq!(v["horizon_steps"], 288);
    assert_eq!(v["history"]["points"], 21 * 288);
    assert_eq!(v["history"]["filled"], 0);
    let dirs = v["directions"].as_array().unwrap();
    assert_eq!(dirs.len(), 2);
    for (d, scale) in dirs.iter().zip([1.0, 0.2]) {
        let model = d["model"].as_str().unwrap();
        assert!(
            model.starts_with("mstl")
                || model.starts_with("snaive")
                || model.starts_with("holt-winters"),
            "{model}"
        );
        let pts = d["points"].as_array().unwrap();
        assert_eq!(pts.len(), 288);
        assert_eq!(pts[0]["time"], rfc(until));
        let mut ape = 0.0;
        for (k, p) in pts.iter().enumerate() {
            let f = p["forecast"].as_f64().unwrap();
            let truth = pattern(until + k as i64 * STEP, 40_000.0, 400_000.0) * scale * 8.0 / 300.0;
            ape += (f - truth).abs() / truth;
            let g = |k: &str| p[k].as_f64().unwrap();
            assert!(
                g("lower99") <= g("lower95") && g("lower95") <= g("lower80"),
                "{p}"
            );
            assert!(g("lower80") <= f && f <= g("upper80"), "{p}");
            assert!(
                g("upper80") <= g("upper95") && g("upper95") <= g("upper99"),
                "{p}"
            );
            assert!(g("lower99") >= 0.0);
        }
        // The wobble is ±2 %: the forecast is within a few % of the truth.
        let mape = 100.0 * ape / 288.0;
        assert!(
            mape < 5.0,
            "{}: MAPE {mape:.2} % against the known pattern",
            d["direction"]
        );
        let cands = d["candidates"].as_array().unwrap();
        assert!(cands.iter().any(|c| c["model"] == "snaive-288"));
        assert!(cands.iter().any(|c| c["model"] == "snaive-2016"));
        assert!(cands
            .iter()
            .any(|c| c["model"].as_str().unwrap().starts_with("holt-winters")));
        assert!(cands
            .iter()
            .any(|c| c["model"].as_str().unwrap().starts_with("mstl")));
        assert_eq!(d["windows"], 7);
    }

    // CSV: a header and one row per step and direction.
    let csv = forecast_eth0(dbs, until, &["--csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "time,direction,forecast,lower80,upper80,lower95,upper95,lower99,upper99"
    );
    assert_eq!(lines.len(), 1 + 2 * 288);
    assert!(lines[1].starts_with(&format!("{},inbound,", rfc(until))));
    assert!(lines[289].starts_with(&format!("{},outbound,", rfc(until))));

    // The table: one line per step, the model named.
    let table = forecast_eth0(dbs, until, &["--horizon", "2h", "--direction", "in"]);
    assert!(
        table.contains("Forecast of interface eth0, every 5m for 2h from 2026-11-26 00:00 UTC"),
        "{table}"
    );
    assert!(table.contains("Model (inbound): "), "{table}");
    assert!(
        table.contains("chosen by backtest over 7 window(s)"),
        "{table}"
    );
    let rows = table
        .lines()
        .filter(|l| l.starts_with("2026-11-26 "))
        .count();
    assert_eq!(rows, 24, "{table}");

    // A host's share: three quarters of the interface.
    let host = stdout_of(&[
        "forecast",
        "--db",
        dbs,
        "--host",
        "10.0.0.5",
        "--until",
        &rfc(until),
        "--json",
        "--direction",
        "in",
        "--method",
        "snaive-week",
    ]);
    let hv: Value = serde_json::from_str(&host).unwrap();
    let p0 = hv["directions"][0]["points"][0]["forecast"]
        .as_f64()
        .unwrap();
    let want =
        (pattern(until - 7 * 86_400, 40_000.0, 400_000.0) as u64 * 3 / 4) as f64 * 8.0 / 300.0;
    assert!((p0 - want).abs() < 1e-6, "{p0} vs {want}");
    assert_eq!(hv["directions"][0]["model"], "snaive-2016");
    let by_proc = stdout_of(&[
        "forecast",
        "--db",
        dbs,
        "--process",
        "web",
        "--until",
        &rfc(until),
        "--json",
        "--direction",
        "in",
        "--method",
        "snaive-day",
    ]);
    let pv: Value = serde_json::from_str(&by_proc).unwrap();
    assert_eq!(pv["entity"], "process web");
    assert_eq!(pv["directions"][0]["model"], "snaive-288");
}

#[test]
fn capacity_warning_names_the_link_the_share_and_the_hour() {
    let dir = tempfile::tempdir().unwrap();
    let until = MONDAY + 3 * 86_400 + 6 * 3600; // Thursday 06:00
                                                // Peaks of 400 kB per 5 min = 10.7 kbit/s at 14:00.
    let db = history(dir.path(), "eth0", until, 21, 40_000.0, 400_000.0, &[]);
    let dbs = db.to_str().unwrap();
    let out = forecast_eth0(dbs, until, &["--capacity", "10k", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["capacity"]["bits_per_sec"], 10_000.0);
    assert_eq!(v["capacity"]["from"], "--capacity");
    let alerts = v["alerts"].as_array().unwrap();
    // Only inbound comes near 9 kbit/s (outbound is a fifth of it).
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["kind"], "capacity");
    assert_eq!(a["entity"]["name"], "eth0");
    let s = a["summary"].as_str().unwrap();
    assert!(
        s.starts_with("eth0 inbound is forecast to pass 90 % of 10 kbit/s around 1"),
        "{s}"
    );
    assert!(s.contains("UTC today"), "{s}");
    // The crossing is the first step whose upper 95 % band passes 9 kbit/s:
    // check it against the forecast printed beside it.
    let inbound = &v["directions"][0]["points"];
    let k = inbound
        .as_array()
        .unwrap()
        .iter()
        .position(|p| p["upper95"].as_f64().unwrap() >= 9_000.0)
        .unwrap();
    let t = until + k as i64 * STEP;
    let hhmm = format!(
        "{:02}:{:02} UTC",
        t.rem_euclid(86_400) / 3600,
        t.rem_euclid(3600) / 60
    );
    assert!(
        s.contains(&format!("around {hhmm} today")),
        "{s} (step {k})"
    );
    // Before the 14:00 peak.
    assert!((8..=14).contains(&(t.rem_euclid(86_400) / 3600)), "{s}");

    // The capacity from the configuration, and no warning on a big link.
    let cfg = dir.path().join("ww.toml");
    std::fs::write(
        &cfg,
        "[forecast]\ncapacity-fraction = 0.5\n[forecast.capacity]\neth0 = \"1G\"\n",
    )
    .unwrap();
    let out = stdout_of(&[
        "--config",
        cfg.to_str().unwrap(),
        "forecast",
        "--db",
        dbs,
        "--iface",
        "eth0",
        "--until",
        &rfc(until),
        "--horizon",
        "1h",
    ]);
    assert!(
        out.contains("Capacity: 1 Gbit/s (from [forecast.capacity]); warning at 50 %"),
        "{out}"
    );
    assert!(!out.contains("ALERT"), "{out}");
    std::fs::write(&cfg, "[forecast.capacity]\neth0 = \"fast\"\n").unwrap();
    bad(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "forecast",
            "--db",
            dbs,
            "--iface",
            "eth0",
        ],
        "forecast.capacity.eth0: expected a link rate",
    );
}

#[test]
fn short_history_and_gaps_are_said() {
    let dir = tempfile::tempdir().unwrap();
    let until = MONDAY + 3 * 86_400;
    // 20 hours: less than a day, so no daily season.
    let db = history(
        dir.path(),
        "eth0",
        until,
        1,
        40_000.0,
        400_000.0,
        &[(86_400, 72_000)],
    );
    let out = forecast_eth0(
        db.to_str().unwrap(),
        until,
        &["--horizon", "1h", "--direction", "in"],
    );
    assert!(
        out.contains("too little history for a seasonal model"),
        "{out}"
    );
    assert!(
        out.contains("Model (inbound): holt") || out.contains("Model (inbound): naive"),
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("2026-11-26 ")).count(),
        12
    );

    // Ten days with a six-hour hole: filled from the day before, and said.
    let dir = tempfile::tempdir().unwrap();
    let db = history(
        dir.path(),
        "eth0",
        until,
        10,
        40_000.0,
        400_000.0,
        &[(3 * 86_400, 3 * 86_400 - 6 * 3600)],
    );
    let out = forecast_eth0(
        db.to_str().unwrap(),
        until,
        &["--json", "--direction", "in"],
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["history"]["filled"], 72);
    assert!(v["notes"][0]
        .as_str()
        .unwrap()
        .starts_with("72 step(s) without any recorded traffic"));
    // A hole shorter than an hour is quiet traffic, not a gap.
    let dir = tempfile::tempdir().unwrap();
    let db = history(
        dir.path(),
        "eth0",
        until,
        10,
        40_000.0,
        400_000.0,
        &[(86_400, 86_400 - 1800)],
    );
    let out = forecast_eth0(
        db.to_str().unwrap(),
        until,
        &["--json", "--direction", "in"],
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["history"]["filled"], 0);
}

#[test]
fn forecast_charts_are_png_and_svg_with_bands() {
    let dir = tempfile::tempdir().unwrap();
    let until = MONDAY + 3 * 86_400;
    let db = history(dir.path(), "eth0", until, 14, 40_000.0, 400_000.0, &[]);
    let svg = dir.path().join("f.svg");
    let out = forecast_eth0(
        db.to_str().unwrap(),
        until,
        &[
            "--capacity",
            "20k",
            "--plot",
            svg.to_str().unwrap(),
            "--width",
            "900",
            "--height",
            "400",
        ],
    );
    assert!(
        out.contains(&format!("chart written to {}", svg.display())),
        "{out}"
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"));
    assert!(text.contains("width=\"900\"") && text.contains("height=\"400\""));
    for name in [
        "inbound (history)",
        "inbound forecast (",
        "inbound 95 % band",
        "inbound 80 % band",
        "outbound 95 % band",
        "90 % of capacity",
        ">now<",
    ] {
        assert!(text.contains(name), "{name} missing from the SVG");
    }
    assert!(text.contains("fill-opacity"));
    let png = dir.path().join("f.png");
    forecast_eth0(
        db.to_str().unwrap(),
        until,
        &[
            "--plot",
            png.to_str().unwrap(),
            "--width",
            "640",
            "--height",
            "300",
        ],
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 640);
    assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), 300);
}

#[test]
fn bad_forecast_arguments_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let until = MONDAY + 3 * 86_400;
    let db = history(dir.path(), "eth0", until, 3, 40_000.0, 400_000.0, &[]);
    let dbs = db.to_str().unwrap();
    let u = rfc(until);
    let base = ["forecast", "--db", dbs, "--until", u.as_str()];
    fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        base.iter().chain(extra).copied().collect()
    }
    bad(
        &with(&base, &["--step", "90s"]),
        "--step must be whole minutes",
    );
    bad(&with(&base, &["--horizon", "1m"]), "shorter than the step");
    bad(
        &with(&base, &["--step", "1w"]),
        "--step must be whole minutes up to a day",
    );
    bad(
        &with(&base, &["--horizon", "7m"]),
        "--horizon 7m is not a whole number of steps of 5m",
    );
    bad(&with(&base, &["--width", "800"]), "--plot");
    bad(
        &with(&base, &["--host", "10.0.0.5", "--capacity", "1G"]),
        "--capacity is a link's: give --iface",
    );
    bad(
        &with(&base, &["--step", "1d", "--method", "snaive-day"]),
        "--method snaive-day: a step of 86400 s has no daily season",
    );
    bad(&with(&base, &["--horizon", "soon"]), "--horizon");
    bad(
        &with(&base, &["--method", "prophet"]),
        "--method: expected auto",
    );
    bad(
        &with(&base, &["--iface", "wlan9"]),
        "no traffic recorded for interface wlan9",
    );
    bad(
        &with(&base, &["--iface", "eth0", "--capacity", "fast"]),
        "--capacity: expected a link rate",
    );
    bad(
        &with(&base, &["--capacity-fraction", "1.5"]),
        "--capacity-fraction must be",
    );
    bad(
        &with(&base, &["--plot", "/tmp/x.gif"]),
        "name the file .png or .svg",
    );
    bad(
        &with(&base, &["--plot", "/proc/x.png"]),
        "--plot /proc/x.png",
    );
    bad(
        &["forecast", "--db", dbs, "--until", "yesterday-ish"],
        "--until",
    );
    bad(
        &[
            "forecast",
            "--db",
            dir.path().join("none.db").to_str().unwrap(),
        ],
        "none.db",
    );
}

/// A CSV of `days` days of hourly points following [`pattern`].
fn hourly_csv(dir: &Path, days: i64) -> PathBuf {
    let p = dir.join("s.csv");
    let mut s = String::from("Time,\"traffic, bits\",\n");
    for k in 0..days * 24 {
        let ts = MONDAY + k * 3600;
        s.push_str(&format!(
            "{},{:.1},\n",
            wirewatch_store::time::short(ts).replace('T', " ") + ":00",
            pattern(ts, 1000.0, 9000.0)
        ));
    }
    std::fs::write(&p, s).unwrap();
    p
}

#[test]
fn backtest_scores_every_model_and_the_automatic_choice() {
    let dir = tempfile::tempdir().unwrap();
    let csv = hourly_csv(dir.path(), 35);
    let c = csv.to_str().unwrap();
    let out = stdout_of(&[
        "forecast",
        "backtest",
        "--csv",
        c,
        "--column",
        "traffic",
        "--season",
        "24,168",
        "--horizon",
        "24",
        "--windows",
        "7",
    ]);
    assert!(out.contains("840 points every 1h, seasons 24,168"), "{out}");
    for m in [
        "snaive-24",
        "snaive-168",
        "holt-winters-24",
        "mstl-24,168/",
        "holt ",
        "naive ",
        "auto (wirewatch forecast)",
    ] {
        assert!(out.contains(m), "{m} missing: {out}");
    }
    let j = stdout_of(&[
        "forecast",
        "backtest",
        "--csv",
        c,
        "--column",
        "2",
        "--season",
        "24,168",
        "--horizon",
        "24",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&j).unwrap();
    let mape = |name: &str| {
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model"] == name)
            .unwrap()["mape"]
            .as_f64()
            .unwrap()
    };
    // The weekly seasonal naive repeats last week, which is this week
    // (the wobble repeats weekly); the daily one misses the wobble and
    // the weekend step (30 %).
    assert!(mape("snaive-168") < 0.01, "{j}");
    assert!(mape("snaive-24") > mape("snaive-168"));
    let auto = v["auto"]["mape"].as_f64().unwrap();
    assert!(auto <= mape("snaive-24"), "{j}");
    assert_eq!(v["auto"]["chosen"].as_array().unwrap().len(), 7);
    let cov = v["auto"]["coverage"].as_array().unwrap();
    assert_eq!(cov.len(), 3);
    assert!(cov[1]["inside"].as_f64().unwrap() > 0.7, "{j}");

    // A cell that is not a number: the file and line are named.
    let broken = dir.path().join("b.csv");
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text = text.replacen(",1000.0,", ",n/a,", 1);
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[10] = "2026-11-23 09:00:00,lots,".into();
    std::fs::write(&broken, lines.join("\n")).unwrap();
    let b = broken.to_str().unwrap();
    bad(
        &[
            "forecast",
            "backtest",
            "--csv",
            b,
            "--column",
            "traffic",
            "--season",
            "24",
            "--horizon",
            "24",
        ],
        "b.csv line 11: 'lots' in column 'traffic, bits' is not a number",
    );
    bad(
        &[
            "forecast",
            "backtest",
            "--csv",
            c,
            "--column",
            "bytes",
            "--season",
            "24",
            "--horizon",
            "24",
        ],
        "no column 'bytes'",
    );
    bad(
        &[
            "forecast",
            "backtest",
            "--csv",
            c,
            "--column",
            "2",
            "--season",
            "24",
            "--horizon",
            "240",
            "--windows",
            "7",
        ],
        "too few for 7 windows of 240",
    );
    bad(
        &[
            "forecast",
            "backtest",
            "--csv",
            "/nonexistent.csv",
            "--column",
            "2",
            "--horizon",
            "24",
        ],
        "/nonexistent.csv",
    );
    // Sizes that would overflow are errors, not panics.
    bad(
        &[
            "forecast",
            "backtest",
            "--csv",
            c,
            "--column",
            "2",
            "--horizon",
            "9223372036854775808",
            "--windows",
            "2",
        ],
        "too few for 2 windows",
    );
    let out = stdout_of(&[
        "forecast",
        "backtest",
        "--csv",
        c,
        "--column",
        "2",
        "--season",
        "24,9223372036854775809",
        "--horizon",
        "24",
    ]);
    assert!(out.contains("modelled without them"), "{out}");
    // Two rows in one step: the second is named.
    let twice = dir.path().join("t.csv");
    std::fs::write(&twice, "t,v\n0,1\n60,2\n90,3\n150,4\n").unwrap();
    bad(
        &[
            "forecast",
            "backtest",
            "--csv",
            twice.to_str().unwrap(),
            "--column",
            "v",
            "--horizon",
            "1",
        ],
        "t.csv line 5: its time falls on the same 60 s step as line 4's",
    );
}

/// A capture of UDP traffic from 10.0.0.5 at `bytes(step)` bytes per
/// 5-minute step (1,000-byte datagrams spread over the step), from
/// `start` for `steps` steps.
fn capture(dir: &Path, name: &str, start: i64, steps: i64, bytes: &dyn Fn(i64) -> f64) -> PathBuf {
    let mut frames = Vec::new();
    let payload = vec![0u8; 1000 - 28];
    for k in 0..steps {
        let t0 = start + k * STEP;
        let n = (bytes(t0) / 1000.0).round().max(0.0) as i64;
        for j in 0..n {
            let ns =
                t0 as i128 * 1_000_000_000 + (j as i128 * STEP as i128 * 1_000_000_000) / n as i128;
            let ip = build::ipv4(
                ip("10.0.0.5"),
                ip("192.0.2.1"),
                17,
                &build::udp(40_000, 443, &payload),
            );
            frames.push((Timestamp::from_nanos(ns as i64), build::eth(0x0800, &ip)));
        }
    }
    write_pcap(dir, name, &frames)
}

#[test]
fn replayed_traffic_outside_its_forecast_band_is_an_alert() {
    let dir = tempfile::tempdir().unwrap();
    let until = MONDAY + 3 * 86_400 + 8 * 3600; // Thursday 08:00
                                                // Fourteen days of history of this capture's name: sent traffic (the
                                                // capture's initiator is the local end), so the pattern is outbound.
    let make_db = |name: &str| {
        let db = dir.path().join(name);
        let mut s = SqliteStore::open(&db).unwrap();
        let mut rows = Vec::new();
        let mut ts = until - 14 * 86_400;
        while ts < until {
            let b = pattern(ts, 200_000.0, 2_000_000.0) as u64;
            rows.push(row("day.pcap", ts, 0, b, "10.0.0.5", "x"));
            ts += STEP;
        }
        s.append(&rows).unwrap();
        // Rolled up and pruned as the import's own maintenance would, so
        // the history a replay reads is the same before and after one.
        let retention = wirewatch_store::Retention::default();
        while s
            .maintain(&retention, until + 2 * 3600, 1_000)
            .unwrap()
            .more
        {}
        db
    };
    let db = make_db("h.db");
    // Two hours as usual, but the 09:00 step carries ten times as much.
    let burst = until + 3600;
    let pcap = capture(dir.path(), "day.pcap", until, 24, &|t| {
        let b = pattern(t, 200_000.0, 2_000_000.0);
        if t == burst {
            10.0 * b
        } else {
            b
        }
    });
    // Replayed as of the history's newest row: retention then prunes no
    // more than the history's own maintenance did, whatever today's date.
    let now = until - STEP;
    let (_, text) = replay(&pcap, &db, &dir.path().join("a.json"), now);
    let dev: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|a| a["kind"] == "forecast_deviation")
        .collect();
    assert_eq!(dev.len(), 1, "{text}");
    let a = &dev[0];
    assert_eq!(a["entity"]["name"], "day.pcap");
    assert_eq!(a["time"], rfc(burst + STEP).replace("Z", ".000000Z"));
    let s = a["summary"].as_str().unwrap();
    assert!(
        s.starts_with("day.pcap outbound carried ")
            && s.contains(" in the 5 min to 09:05 UTC, above its forecast band"),
        "{s}"
    );
    let obs = a["evidence"]["observed"].as_f64().unwrap();
    let want = 10.0 * pattern(burst, 200_000.0, 2_000_000.0) * 8.0 / 300.0;
    // Whole 1,000-byte datagrams on the wire (1,014-byte frames, 1,000 IP bytes).
    assert!((obs - want).abs() / want < 0.01, "{obs} vs {want}");
    assert_eq!(a["severity"], "high");
    // The same replay gives the same alerts, into a fresh copy of the
    // history and into the database the first replay imported into (what
    // it wrote after the history's end is not read back).
    let again = dir.path().join("b.json");
    let db2 = make_db("h2.db");
    for target in [&db2, &db] {
        let (_, text2) = replay(&pcap, target, &again, now);
        let dev2: Vec<&str> = text2
            .lines()
            .filter(|l| l.contains("forecast_deviation"))
            .collect();
        let dev1: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("forecast_deviation"))
            .collect();
        assert_eq!(dev2, dev1, "{}", target.display());
    }
}

#[test]
fn filled_in_history_is_not_taken_for_traffic() {
    let dir = tempfile::tempdir().unwrap();
    // Ten days of history that ended a week before --until.
    let end = MONDAY + 3 * 86_400;
    let until = end + 7 * 86_400;
    let db = history(dir.path(), "eth0", end, 10, 40_000.0, 400_000.0, &[]);
    let dbs = db.to_str().unwrap();
    let out = forecast_eth0(dbs, until, &["--json", "--direction", "in"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["history"]["filled"], 7 * 288);
    let d = &v["directions"][0];
    // The last week is copies of the week before: nothing to backtest on,
    // and said; the bands are not a zero-width copy of the copies.
    assert_eq!(d["windows"], 0, "{d}");
    assert!(
        d["notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .starts_with("nothing recorded in the last 2016 points")),
        "{}",
        d["notes"]
    );
    let p = &d["points"][100];
    assert!(
        p["upper95"].as_f64().unwrap() > 1.05 * p["forecast"].as_f64().unwrap(),
        "{p}"
    );

    // A replay a week after the history ended: no forecast to judge it by
    // (half of the last day must have been recorded), so no deviations.
    let pcap = capture(dir.path(), "eth0", until, 12, &|t| {
        pattern(t, 40_000.0, 400_000.0) * 5.0
    });
    let (err, text) = replay(&pcap, &db, &dir.path().join("a.json"), until);
    // Not said unless forecasts were asked for.
    assert!(!err.contains("forecast watch:"), "{err}");
    assert!(!text.contains("forecast_deviation"), "{text}");
    let asked = dir.path().join("watch.toml");
    std::fs::write(&asked, "[forecast]\nwatch = true\n").unwrap();
    let (err, _) = replay_with(
        &pcap,
        &db,
        &dir.path().join("a.json"),
        until,
        &["--config", asked.to_str().unwrap()],
    );
    assert!(
        err.contains(
            "forecast watch: eth0 has 240.0 h of recorded history (0.0 h in the last day)"
        ),
        "{err}"
    );
}
