//! Issue 17's small items: help that offers only what a subcommand takes,
//! the README's crate list, defaults the docs state as `--help` does,
//! `forecast backtest` without `--column`.

use std::path::Path;

use crate::common::{bad, stdout_of};

fn help(args: &[&str]) -> String {
    let mut a = args.to_vec();
    a.push("--help");
    stdout_of(&a)
}

/// `--ml` and `--model` are the detectors' flags: the run and `eval` take
/// them, the history queries and forecasts do not offer them.
#[test]
fn only_the_runs_that_detect_offer_ml_flags() {
    for sub in [
        &["history"][..],
        &["history", "top"],
        &["history", "series"],
        &["forecast"],
        &["forecast", "backtest"],
    ] {
        let h = help(sub);
        assert!(
            !h.contains("--ml") && !h.contains("--model"),
            "{sub:?} --help offers the ML detector's flags:\n{h}"
        );
    }
    for sub in [&[][..], &["eval"]] {
        let h = help(sub);
        assert!(h.contains("--ml") && h.contains("--model"), "{sub:?}:\n{h}");
    }
    bad(&["history", "top", "--ml"], "--ml");
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
}

/// Every crate under crates/ is named in the README's crate list.
#[test]
fn the_readme_names_every_crate() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let mut missing = Vec::new();
    for e in std::fs::read_dir(workspace().join("crates")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if !readme.contains(&format!("`{name}` (")) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "README.md lacks crates {missing:?}");
}

/// The default step that `history series --help` and `history plot --help`
/// state is the one docs/USAGE.md states.
#[test]
fn usage_states_the_default_steps_of_help() {
    let usage = std::fs::read_to_string(workspace().join("docs/USAGE.md")).unwrap();
    for (sub, buckets) in [("series", "100"), ("plot", "200")] {
        let h = help(&["history", sub]);
        let said = format!("about {buckets} buckets");
        assert!(h.contains(&format!("Default: {said}")), "{sub}:\n{h}");
        let line = usage
            .lines()
            .skip_while(|l| !l.starts_with(&format!("wirewatch history {sub}")))
            .take(2)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            line.contains(&format!("default step: {said}")),
            "USAGE.md's {sub} line: {line}"
        );
    }
}

/// `forecast backtest` reads the only numeric column when `--column` is
/// not given, and lists the numeric columns when there are several.
#[test]
fn backtest_defaults_to_the_only_numeric_column() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.csv");
    let two = dir.path().join("two.csv");
    let mut a = String::from("time,bits\n");
    let mut b = String::from("time,in,out\n");
    for k in 0..24 * 10 {
        let t = 1_600_000_000 + k * 3600;
        let v = 1000 + (k % 24) * 100;
        a += &format!("{t},{v}\n");
        b += &format!("{t},{v},{}\n", v / 2);
    }
    std::fs::write(&one, a).unwrap();
    std::fs::write(&two, b).unwrap();
    let args = |f: &Path| {
        vec![
            "forecast".to_string(),
            "backtest".into(),
            "--csv".into(),
            f.display().to_string(),
            "--season".into(),
            "24".into(),
            "--horizon".into(),
            "24".into(),
            "--windows".into(),
            "2".into(),
            "--json".into(),
        ]
    };
    let a1 = args(&one);
    let out = stdout_of(&a1.iter().map(String::as_str).collect::<Vec<_>>());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["column"], "bits", "{v}");
    let a2 = args(&two);
    bad(
        &a2.iter().map(String::as_str).collect::<Vec<_>>(),
        "2 numeric columns (2 'in', 3 'out'): give --column NAME or NUMBER",
    );
}

/// A database holding `rows` (each: minute, local host, remote host,
/// bytes in, bytes out) on interface `eth0`.
pub(crate) fn db_of(dir: &Path, rows: &[(i64, &str, &str, u64, u64)]) -> std::path::PathBuf {
    use wirewatch_store::{Counts, Row, SqliteStore, Store};
    let p = dir.join("h.db");
    let mut s = SqliteStore::open(&p).unwrap();
    let rows: Vec<Row> = rows
        .iter()
        .map(|&(ts, local, remote, bytes_in, bytes_out)| Row {
            ts,
            iface: "eth0".into(),
            local: crate::common::ip(local),
            remote: crate::common::ip(remote),
            local_port: 40_000,
            remote_port: 443,
            protocol: 6,
            process: None,
            counts: Counts {
                packets_out: 1,
                bytes_out,
                packets_in: 1,
                bytes_in,
                ..Default::default()
            },
        })
        .collect();
    s.append(&rows).unwrap();
    p
}

/// The numbers of a JSON text with more than 15 significant digits (float
/// noise such as `133.33333333333334`).
fn noisy_numbers(json: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in json.chars().chain([' ']) {
        if c.is_ascii_digit() || c == '.' || ((c == 'e' || c == '-') && !cur.is_empty()) {
            cur.push(c);
            continue;
        }
        let mantissa = cur.split('e').next().unwrap_or("");
        let digits = mantissa
            .trim_start_matches(['0', '.'])
            .chars()
            .filter(char::is_ascii_digit)
            .count();
        if mantissa.contains('.') && digits > 15 {
            out.push(cur.clone());
        }
        cur.clear();
    }
    out
}

/// JSON output carries no float noise: 1,000 bytes in a minute is
/// 133.333333333333 bit/s, not 133.33333333333334.
#[test]
fn json_floats_carry_no_noise() {
    let dir = tempfile::tempdir().unwrap();
    // 2020-09-13T12:26:00Z.
    let t0 = 1_599_999_960;
    let db = db_of(
        dir.path(),
        &[
            (t0, "10.0.0.1", "192.0.2.1", 1_000, 0),
            (t0 + 60, "10.0.0.1", "192.0.2.1", 1_234, 7),
        ],
    );
    let out = stdout_of(&[
        "history",
        "series",
        "--db",
        db.to_str().unwrap(),
        "--since",
        "2020-09-13T12:26:00Z",
        "--until",
        "2020-09-13T12:28:00Z",
        "--step",
        "1m",
        "--json",
    ]);
    assert!(out.contains("133.333333333333"), "{out}");
    assert_eq!(noisy_numbers(&out), Vec::<String>::new(), "{out}");
    assert_eq!(
        noisy_numbers("[133.33333333333334, 0.1, 2e-7]"),
        vec!["133.33333333333334"]
    );
}

/// 2020-09-13T12:25:00Z, a multiple of 5 minutes.
const T5: i64 = 1_599_999_900;

/// `n` five-minute steps of traffic on eth0 from [`T5`], the first idle
/// but for a little.
fn steps(dir: &Path, n: i64) -> std::path::PathBuf {
    let rows: Vec<(i64, &str, &str, u64, u64)> = (0..n)
        .map(|k| {
            let b = if k == 0 {
                1_000
            } else {
                75_000_000 + (k as u64 % 7) * 1_000_000
            };
            (T5 + 300 * k, "10.0.0.1", "192.0.2.1", b, b / 10)
        })
        .collect();
    db_of(dir, &rows)
}

/// A forecast from 3 points of history has no bands (it printed an upper
/// 95 % bound of 1.2e58 bit/s) and says why; its chart draws.
#[test]
fn a_forecast_from_three_points_has_no_absurd_bands() {
    let dir = tempfile::tempdir().unwrap();
    let db = steps(dir.path(), 3);
    let until = wirewatch_store::time::rfc3339(T5 + 900);
    let png = dir.path().join("f.png");
    let base = [
        "forecast",
        "--db",
        db.to_str().unwrap(),
        "--until",
        until.as_str(),
    ];
    let table = stdout_of(&[&base[..], &["--plot", png.to_str().unwrap()]].concat());
    assert!(
        table.contains("History: 2020-09-13 12:25 – 2020-09-13 12:40 UTC, 3 points"),
        "{table}"
    );
    assert!(
        table.contains(
            "too little history for intervals (3 points; without a backtest they need 24)"
        ),
        "{table}"
    );
    let first = table
        .lines()
        .find(|l| l.starts_with("2020-09-13 12:40"))
        .unwrap();
    assert_eq!(first.matches('—').count(), 4, "{first}");
    assert!(!table.contains("e+") && !table.contains("inf"), "{table}");
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    let json = stdout_of(&[&base[..], &["--json"]].concat());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let p0 = &v["directions"][0]["points"][0];
    assert!(
        p0.get("forecast").is_some() && p0.get("upper95").is_none(),
        "{p0}"
    );
    let csv = stdout_of(&[&base[..], &["--csv"]].concat());
    let row = csv.lines().nth(1).unwrap();
    assert!(row.ends_with(",,,,,,"), "empty band cells: {row}");
}

/// The history's length in the `History:` line and in the notes agree.
#[test]
fn forecast_notes_count_the_history_as_its_header_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = steps(dir.path(), 288);
    let until = wirewatch_store::time::rfc3339(T5 + 288 * 300);
    let out = stdout_of(&[
        "forecast",
        "--db",
        db.to_str().unwrap(),
        "--until",
        until.as_str(),
        "--horizon",
        "1h",
        "--direction",
        "in",
    ]);
    assert!(out.contains(", 288 points"), "{out}");
    assert!(
        out.contains("too little history for a seasonal model (288 points, 204 before the backtest windows; a season of 288 needs 576)"),
        "{out}"
    );
}

/// A forecast or a top list that finds nothing says where the database's
/// traffic is, and which interfaces (and hosts) it knows.
#[test]
fn finding_nothing_says_where_the_data_is() {
    let dir = tempfile::tempdir().unwrap();
    let db = steps(dir.path(), 3);
    let dbs = db.to_str().unwrap();
    bad(
        &["forecast", "--db", dbs, "--until", "2021-01-01T00:00:00Z", "--host", "10.9.9.9"],
        "h.db: no traffic recorded for host 10.9.9.9 from 2020-12-04 00:00 to 2021-01-01 00:00 UTC; \
         this database holds traffic from 2020-09-13 12:25 to 2020-09-13 12:36 UTC on eth0 \
         (busiest hosts: 10.0.0.1, 192.0.2.1); try --until 2020-09-13T12:36:00Z",
    );
    let out = crate::common::ww()
        .args([
            "history",
            "top",
            "--db",
            dbs,
            "--since",
            "2025-07-01T00:00:00Z",
            "--until",
            "2025-07-02T00:00:00Z",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "nothing recorded 2025-07-01 00:00 – 2025-07-02 00:00 UTC: this database holds traffic \
             from 2020-09-13 12:25 to 2020-09-13 12:36 UTC on eth0; \
             try --since 2020-09-13T12:25:00Z --until 2020-09-13T12:36:00Z"
        ),
        "{err}"
    );
}

/// A capture of `minutes` minutes from `start` (Unix seconds): one UDP
/// packet a minute from a client port of its own.
fn minutes_capture(dir: &Path, name: &str, start: i64, minutes: i64) -> std::path::PathBuf {
    let frames: Vec<(wirewatch_wire::Timestamp, Vec<u8>)> = (0..minutes)
        .map(|m| {
            (
                wirewatch_wire::Timestamp::from_nanos((start + m * 60 + 5) * 1_000_000_000),
                wirewatch_testkit::udp_frame("10.0.0.1", 40_000 + m as u16, "192.0.2.1", 53, 100),
            )
        })
        .collect();
    crate::common::write_pcap(dir, name, &frames)
}

/// An old capture imported after a newer one keeps its minutes: its
/// series at 1 minute has its own three minutes (it printed 1,440 even
/// lines of the day rows), its flows their ports; counted from the time of
/// the import, retention takes them a week later.
#[test]
fn an_old_capture_imported_after_a_newer_one_keeps_its_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let dbs = db.to_str().unwrap();
    // 2011-03-04T10:00:00Z and 2025-07-28T12:00:00Z.
    let old = minutes_capture(dir.path(), "old.pcap", 1_299_232_800, 3);
    let new = minutes_capture(dir.path(), "new.pcap", 1_753_704_000, 3);
    let import = |pcap: &Path, now: &str| {
        let out = crate::common::ww()
            .env("WIREWATCH_NOW", now)
            .args([
                "-r",
                pcap.to_str().unwrap(),
                "--db",
                dbs,
                "--no-detect",
                "--no-summary",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    import(&old, "2026-01-01T00:00:00Z");
    import(&new, "2026-01-01T00:05:00Z");
    let range = [
        "--since",
        "2011-03-04T10:00:00Z",
        "--until",
        "2011-03-04T10:03:00Z",
    ];
    let series = stdout_of(
        &[
            &["history", "series", "--db", dbs, "--step", "1m", "--csv"][..],
            &range,
        ]
        .concat(),
    );
    assert_eq!(series.lines().count(), 1 + 3, "{series}");
    let flows = stdout_of(&[&["history", "flows", "--db", dbs, "--csv"][..], &range].concat());
    for port in ["40000", "40001", "40002"] {
        assert!(flows.contains(&format!(",10.0.0.1,{port},")), "{flows}");
    }
    // Eight days after the imports, an import of anything runs the
    // retention: the old minutes go, their hours stay.
    let later = minutes_capture(dir.path(), "later.pcap", 1_753_704_000 + 600, 1);
    import(&later, "2026-01-09T00:00:00Z");
    let flows = stdout_of(&[&["history", "flows", "--db", dbs, "--csv"][..], &range].concat());
    assert!(
        flows.contains(",10.0.0.1,0,"),
        "hour rows, client port dropped: {flows}"
    );
}
