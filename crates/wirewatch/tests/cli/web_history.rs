//! `/api/v1/history/…` and `/api/v1/forecast` against the commands: a
//! replay of `samples/demo.pcapng` recording into a fresh database serves
//! them, and `wirewatch history … --json` / `wirewatch forecast … --json`
//! read the same database. The answers must be the same JSON, and a bad
//! parameter the same line the command prints.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::web::{json, Served};

/// The clock of every process here: relative times resolve the same
/// whatever day the tests run.
const NOW: &str = "2026-11-24T00:00:00Z";
/// The capture's minutes (09:00:00.4 – 09:04:57).
const SINCE: &str = "2026-11-23T09:00:00Z";
const UNTIL: &str = "2026-11-23T09:05:00Z";

/// `wirewatch ARGS` with the pinned clock.
fn ww(args: &[&str]) -> Output {
    Command::new(assert_cmd::cargo::cargo_bin("wirewatch"))
        .env("WIREWATCH_NOW", NOW)
        .args(args)
        .output()
        .unwrap()
}

/// The replay serving, recording into `db`.
fn serve(db: &Path) -> Served {
    Served::start_env(
        &[("WIREWATCH_NOW", NOW)],
        &["--db", db.to_str().unwrap(), "--web", "127.0.0.1:0"],
    )
}

/// `wirewatch SUB… --db DB ARGS --json`: stdout as JSON (NDJSON lines as
/// an array).
fn command_json(sub: &[&str], db: &Path, args: &[&str]) -> Value {
    let mut all = sub.to_vec();
    all.extend(["--db", db.to_str().unwrap(), "--json"]);
    all.extend_from_slice(args);
    let out = ww(&all);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap_or_else(|_| {
        Value::Array(
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        )
    })
}

/// `--key value` pairs as a query string.
fn query(args: &[&str]) -> String {
    args.chunks(2)
        .map(|kv| format!("{}={}", kv[0].trim_start_matches("--"), kv[1]))
        .collect::<Vec<_>>()
        .join("&")
}

#[test]
fn history_and_forecast_answers_are_the_commands_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let s = serve(&db);
    let range = ["--since", SINCE, "--until", UNTIL];
    for (sub, extra) in [
        ("top", &["--by", "host"][..]),
        ("top", &["--by", "pair", "--limit", "5"]),
        ("top", &["--by", "port", "--proto", "udp"]),
        ("series", &["--step", "1m"]),
        (
            "series",
            &["--step", "1m", "--by", "remote", "--limit", "3"],
        ),
        ("flows", &["--limit", "20", "--host", "192.168.1.10"]),
        ("alerts", &[]),
    ] {
        let mut args = range.to_vec();
        args.extend_from_slice(extra);
        let want = command_json(&["history", sub], &db, &args);
        let a = s.get(&format!("/api/v1/history/{sub}?{}", query(&args)), &[]);
        assert_eq!(a.status, 200, "{sub} {extra:?}: {}", a.body);
        assert_eq!(json(&a), want, "{sub} {extra:?}");
        assert_ne!(want, Value::Array(vec![]), "{sub} {extra:?}: found nothing");
    }
    // --last counts back from --until.
    let last = ["--last", "3m", "--until", UNTIL, "--by", "local"];
    let a = s.get(&format!("/api/v1/history/top?{}", query(&last)), &[]);
    assert_eq!(json(&a), command_json(&["history", "top"], &db, &last));
    assert_eq!(json(&a)["from"], "2026-11-23T09:02:00Z");
    let f = [
        "--iface",
        "demo.pcapng",
        "--step",
        "1m",
        "--horizon",
        "5m",
        "--history",
        "10m",
        "--until",
        UNTIL,
    ];
    let want = command_json(&["forecast"], &db, &f);
    let a = s.get(&format!("/api/v1/forecast?{}", query(&f)), &[]);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(json(&a), want);
    assert_eq!(want["directions"][0]["points"].as_array().unwrap().len(), 5);
    s.stop();
}

/// The line `wirewatch ARGS` prints on stderr (exit 2), without its
/// `wirewatch: error: `.
fn command_error(args: &[&str]) -> String {
    let out = ww(args);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    err.trim_end()
        .strip_prefix("wirewatch: error: ")
        .unwrap_or_else(|| panic!("{err}"))
        .to_string()
}

#[test]
fn a_bad_parameter_is_a_400_with_the_commands_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let s = serve(&db);
    let d = db.to_str().unwrap();
    for (path, args) in [
        ("history/top", &["--by", "planet"][..]),
        ("history/top", &["--last", "5x"]),
        ("history/top", &["--since", "1h", "--last", "2h"]),
        ("history/top", &["--limit", "ten"]),
        ("history/top", &["--since", "tomorrow"]),
        ("history/top", &["--since", UNTIL, "--until", SINCE]),
        ("history/top", &["--host", "10.0.0.300"]),
        ("history/flows", &["--port", "70000"]),
        ("history/flows", &["--proto", "pigeon"]),
        ("history/flows", &["--filter", "port+99999"]),
        ("history/series", &["--step", "90s"]),
        ("history/series", &["--by", "planet"]),
        ("history/alerts", &["--until", "2026-02-30"]),
        ("forecast", &["--step", "7s"]),
        ("forecast", &["--direction", "up"]),
        ("forecast", &["--iface", "x", "--host", "10.0.0.1"]),
        ("forecast", &["--capacity-fraction", "2"]),
    ] {
        // The command line spells `filter` as -f, and takes the space itself.
        let cli: Vec<String> = args
            .iter()
            .map(|a| match *a {
                "--filter" => "-f".to_string(),
                a => a.replace('+', " "),
            })
            .collect();
        let mut all: Vec<&str> = path.split('/').collect();
        all.extend(["--db", d]);
        all.extend(cli.iter().map(String::as_str));
        let line = command_error(&all);
        let a = s.get(&format!("/api/v1/{path}?{}", query(args)), &[]);
        assert_eq!(a.status, 400, "{path} {args:?}: {}", a.body);
        assert_eq!(json(&a)["error"], line.as_str(), "{path} {args:?}");
    }
    // Over HTTP an answer is bounded (0, all, is the command line's).
    let a = s.get("/api/v1/history/flows?limit=0", &[]);
    assert_eq!(a.status, 400);
    assert!(json(&a)["error"]
        .as_str()
        .unwrap()
        .contains("from 1 to 1000"));
    let a = s.get("/api/v1/history/top?order=bytes", &[]);
    assert_eq!(a.status, 400);
    assert!(json(&a)["error"]
        .as_str()
        .unwrap()
        .starts_with("unknown parameter 'order' (possible parameters: by, limit, sort, since"));
    // The TCP orders and metrics are the command line's too.
    let a = s.get("/api/v1/history/top?sort=rtt", &[]);
    assert_eq!(
        (a.status, &json(&a)["sort"]),
        (200, &"rtt".into()),
        "{}",
        a.body
    );
    let a = s.get("/api/v1/history/series?metric=retrans_rate", &[]);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(json(&a)["metric"], "retrans_rate");
    s.stop();
}

#[test]
fn without_a_history_database_the_endpoints_say_so() {
    let s = Served::start_env(&[("WIREWATCH_NOW", NOW)], &["--web", "127.0.0.1:0"]);
    for path in ["history/top", "history/series", "forecast"] {
        let a = s.get(&format!("/api/v1/{path}"), &[]);
        assert_eq!(a.status, 404, "{path}: {}", a.body);
        assert!(
            json(&a)["error"]
                .as_str()
                .unwrap()
                .contains("this run keeps no history"),
            "{}",
            a.body
        );
    }
    s.stop();
}
