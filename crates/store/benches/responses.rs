//! Response audit benchmark: how long the responder waits to record a
//! decision, alone and while the history writer imports traffic into the
//! same file, and what the retention of records costs the writer once the
//! table holds its cap.
//!
//! `cargo bench -p wirewatch-store --bench responses` prints its figures.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wirewatch_store::responses::{BLOCKED, RESPONSES_KEPT};
use wirewatch_store::writer::{Backpressure, HistoryWriter, WriterConfig};
use wirewatch_store::{Counts, ResponseRecord, Retention, Row, SqliteStore, Store};
use wirewatch_units::{FixedClock, Timestamp};

/// 2026-11-19T00:00:00Z.
const T0: i64 = 1_795_046_400;

fn block(k: i64) -> ResponseRecord {
    ResponseRecord {
        decided: Timestamp::from_secs(T0 + k),
        mode: "enforce".into(),
        outcome: BLOCKED.into(),
        action: "block-source".into(),
        target: format!("from 10.{}.{}.{}", k >> 16 & 255, k >> 8 & 255, k & 255),
        rule: "rule 1: vertical_scan,syn_flood >= medium → block-source 1h".into(),
        alert_kind: "syn_flood".into(),
        alert_entity: "10.0.0.2".into(),
        alert: format!(
            r#"{{"time":{},"kind":"syn_flood","severity":"high","entity":"10.0.0.2","evidence":{{"syn":12000,"synack":3}}}}"#,
            k
        ),
        expires: Some(Timestamp::from_secs(T0 + k + 3_600)),
        ..Default::default()
    }
}

/// Median, 99th percentile and maximum, in microseconds.
fn spread(mut v: Vec<Duration>) -> String {
    v.sort();
    let q = |f: f64| v[((v.len() - 1) as f64 * f) as usize].as_secs_f64() * 1e6;
    format!(
        "median {:.0} µs, p99 {:.0} µs, max {:.0} µs ({} calls)",
        q(0.5),
        q(0.99),
        q(1.0),
        v.len()
    )
}

/// Records `n` blocks from `first` on, timing each call.
fn record(s: &mut SqliteStore, first: i64, n: i64) -> Vec<Duration> {
    (first..first + n)
        .map(|k| {
            let t = Instant::now();
            s.record_response(&block(k)).unwrap();
            t.elapsed()
        })
        .collect()
}

/// A minute of `flows` flows of traffic.
fn minute(m: i64, flows: u16) -> Vec<Row> {
    (0..flows)
        .map(|k| Row {
            ts: T0 + m * 60,
            iface: "eth0".into(),
            local: IpAddr::V4(Ipv4Addr::new(10, 0, (k >> 8) as u8, k as u8)),
            remote: IpAddr::V4(Ipv4Addr::new(192, 0, 2, (k % 250) as u8)),
            local_port: 40_000 + k,
            remote_port: 443,
            protocol: 6,
            process: None,
            counts: Counts {
                packets_out: 3,
                bytes_out: 1_800,
                packets_in: 4,
                bytes_in: 6_000,
                ..Default::default()
            },
        })
        .collect()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.db");
    let mut s = SqliteStore::open(&p).unwrap();

    println!(
        "record_response alone: {}",
        spread(record(&mut s, 0, 10_000))
    );

    // The responder records one decision every millisecond while the
    // writer imports a day of 1,000 flows per minute as fast as it can.
    let stop = Arc::new(AtomicBool::new(false));
    let responder = {
        let stop = stop.clone();
        let mut s = SqliteStore::open(&p).unwrap();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let mut k = 10_000;
            while !stop.load(Ordering::Relaxed) {
                v.extend(record(&mut s, k, 1));
                k += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            v
        })
    };
    let start = Instant::now();
    let mut w = HistoryWriter::start(
        Box::new(SqliteStore::open(&p).unwrap()),
        WriterConfig {
            clock: Arc::new(FixedClock(Timestamp::from_secs(T0 + 86_400))),
            backpressure: Backpressure::Block,
            ..WriterConfig::default()
        },
    )
    .unwrap();
    for m in 0..1_440 {
        w.send(minute(m, 1_000));
    }
    let status = w.finish();
    let took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let beside = responder.join().unwrap();
    assert_eq!(status.error, None);
    println!(
        "record_response beside the writer ({} rows in {:.1} s): {}",
        status.rows_written,
        took.as_secs_f64(),
        spread(beside)
    );

    // Fill past the cap with blocks expired by `now`, prune, then time
    // the writer's maintenance with one more block in force before each
    // pass (what each writer pass pays at the cap, trims included).
    let now = T0 + 2_000_000;
    let have = s.response_log(None, None, 0).unwrap().len() as i64;
    record(&mut s, 1_000_000, RESPONSES_KEPT as i64 + 1_000 - have);
    let mut first = Vec::new();
    let mut pruned = 0;
    loop {
        let t = Instant::now();
        let m = s.maintain(&Retention::default(), now, 24).unwrap();
        first.push(t.elapsed());
        pruned += m.responses_pruned;
        if !m.more {
            break;
        }
    }
    println!(
        "maintenance pruning {pruned} records past the cap: {}",
        spread(first)
    );
    let mut steady = Vec::new();
    pruned = 0;
    for k in 0..3_000 {
        record(&mut s, 2_000_000 + k, 1);
        let t = Instant::now();
        pruned += s
            .maintain(&Retention::default(), now, 24)
            .unwrap()
            .responses_pruned;
        steady.push(t.elapsed());
    }
    println!(
        "maintenance at the cap, one new record each ({pruned} pruned): {}",
        spread(steady)
    );
    let total = s.response_log(None, None, 0).unwrap().len();
    let at = Timestamp::from_secs(now);
    let (mut active, mut listing) = (0, Vec::new());
    for _ in 0..20 {
        let t = Instant::now();
        active = s.active_responses(at).unwrap().len();
        listing.push(t.elapsed());
    }
    println!(
        "active_responses, {active} blocks in force among {total} records: {}",
        spread(listing)
    );
    let mut log = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(s.response_log(None, None, 100).unwrap().len(), 100);
        log.push(t.elapsed());
    }
    println!("response_log, the newest 100: {}", spread(log));
}
