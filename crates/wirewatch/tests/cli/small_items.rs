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
