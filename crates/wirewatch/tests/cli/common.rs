//! Helpers shared by the binary's end-to-end tests (`cli`, `detect_cli`,
//! `forecast_cli`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use wirewatch_capture::PcapWriter;
use wirewatch_wire::Timestamp;

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `ms` milliseconds after 2020-09-13T12:26:40Z.
pub fn t(ms: i64) -> Timestamp {
    Timestamp::from_nanos(1_600_000_000_000_000_000 + ms * 1_000_000)
}

/// An Ethernet pcap of `frames` in `dir`.
pub fn write_pcap(dir: &Path, name: &str, frames: &[(Timestamp, Vec<u8>)]) -> PathBuf {
    let p = dir.join(name);
    let mut w = PcapWriter::new(std::fs::File::create(&p).unwrap(), 1, 65535, false).unwrap();
    for (ts, f) in frames {
        w.write(*ts, f, f.len() as u32).unwrap();
    }
    w.finish().unwrap();
    p
}

pub fn ww() -> Command {
    Command::cargo_bin("wirewatch").unwrap()
}

/// Runs `args`, expecting success; returns stdout.
pub fn stdout_of(args: &[&str]) -> String {
    let out = ww().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every alert the history database at `db` holds, as `history alerts
/// --json` prints them.
pub fn stored_alerts(db: &Path) -> Vec<serde_json::Value> {
    let out = stdout_of(&[
        "history",
        "alerts",
        "--db",
        db.to_str().unwrap(),
        "--since",
        "2020-01-01",
        "--json",
    ]);
    serde_json::from_str(&out).unwrap()
}

/// Runs `args`, expecting exit 2 and a one-line error containing `needle`;
/// returns stdout.
pub fn bad(args: &[&str], needle: &str) -> String {
    let out = ww().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(needle), "stderr {err:?} lacks {needle:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "one-line error: {err:?}");
    String::from_utf8(out.stdout).unwrap()
}
