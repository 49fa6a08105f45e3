//! The audit trail of automated responses: recording, ending, blocks in
//! force, the log, derived expiry, retention, a second connection writing
//! beside the history writer, and read-only opening.

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use wirewatch_store::responses::{BLOCKED, RESPONSES_KEPT};
use wirewatch_store::writer::{HistoryWriter, WriterConfig};
use wirewatch_store::{AlertRecord, Counts, ResponseRecord, Retention, Row, SqliteStore, Store};
use wirewatch_units::{FixedClock, Timestamp};

/// 2026-11-19T00:00:00Z, in seconds.
const T0: i64 = 1_795_046_400;
const HOUR: i64 = 3_600;

/// `secs` seconds after [`T0`].
fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(T0 + secs)
}

/// A block of `target` decided at `decided` seconds for `for_secs`.
fn block(target: &str, decided: i64, for_secs: i64) -> ResponseRecord {
    ResponseRecord {
        decided: at(decided),
        mode: "enforce".into(),
        outcome: BLOCKED.into(),
        action: "block-source".into(),
        target: target.into(),
        rule: "rule 1: vertical_scan >= medium → block-source 1h".into(),
        alert_kind: "vertical_scan".into(),
        alert_entity: "10.0.0.2".into(),
        alert: r#"{"kind":"vertical_scan","entity":"10.0.0.2"}"#.into(),
        expires: Some(at(decided + for_secs)),
        ..Default::default()
    }
}

/// A decision of `outcome` about `target` that blocks nothing.
fn other(outcome: &str, target: &str, decided: i64) -> ResponseRecord {
    ResponseRecord {
        outcome: outcome.into(),
        reason: "the default gateway is never blocked".into(),
        expires: None,
        ..block(target, decided, 0)
    }
}

fn targets(v: &[ResponseRecord]) -> Vec<&str> {
    v.iter().map(|r| r.target.as_str()).collect()
}

#[test]
fn a_block_is_in_force_until_removed_and_the_log_says_how_it_ended() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let b = block("from 10.0.0.2", 0, HOUR);
    let id = s.record_response(&b).unwrap();
    assert!(id > 0);
    let active = s.active_responses(at(60)).unwrap();
    assert_eq!(active, vec![ResponseRecord { id, ..b.clone() }]);
    assert_eq!(SqliteStore::end_state(&active[0], at(60)), "active");
    assert_eq!(
        s.end_responses(Some("from 10.0.0.2"), at(120), "removed")
            .unwrap(),
        1
    );
    assert!(s.active_responses(at(121)).unwrap().is_empty());
    let log = s.response_log(None, None, 0).unwrap();
    assert_eq!(
        log,
        vec![ResponseRecord {
            id,
            ended: Some(at(120)),
            end: Some("removed".into()),
            ..b
        }]
    );
    // Ended before its expiry: it stays "removed" after the expiry too.
    assert_eq!(SqliteStore::end_state(&log[0], at(2 * HOUR)), "removed");
    // Ended once: ending it again ends nothing.
    assert_eq!(s.end_responses(None, at(130), "flushed").unwrap(), 0);
}

#[test]
fn ending_a_target_without_a_block_in_force_ends_nothing() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    assert_eq!(
        s.end_responses(Some("from 10.0.0.2"), at(0), "removed")
            .unwrap(),
        0
    );
    assert_eq!(s.end_responses(None, at(0), "flushed").unwrap(), 0);
    // Expired, refused, dry-run, failed, or another target: none is in force.
    s.record_response(&block("from 10.0.0.2", 0, 60)).unwrap();
    s.record_response(&other("refused", "from 10.0.0.2", 70))
        .unwrap();
    s.record_response(&other("failed", "from 10.0.0.2", 80))
        .unwrap();
    let mut dry = block("from 10.0.0.2", 90, HOUR);
    dry.mode = "dry-run".into();
    dry.outcome = "would-block".into();
    s.record_response(&dry).unwrap();
    s.record_response(&block("from 10.0.0.3", 100, HOUR))
        .unwrap();
    assert_eq!(
        s.end_responses(Some("from 10.0.0.2"), at(200), "removed")
            .unwrap(),
        0
    );
    // The target is compared whole.
    assert_eq!(
        s.end_responses(Some("from 10.0.0.30"), at(200), "removed")
            .unwrap(),
        0
    );
    assert_eq!(
        s.end_responses(Some("10.0.0.3"), at(200), "removed")
            .unwrap(),
        0
    );
    let log = s.response_log(None, None, 0).unwrap();
    assert!(
        log.iter().all(|r| r.end.is_none() && r.ended.is_none()),
        "{log:?}"
    );
    assert_eq!(
        targets(&s.active_responses(at(200)).unwrap()),
        ["from 10.0.0.3"]
    );
}

#[test]
fn a_flush_ends_every_block_in_force_and_only_those() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    s.record_response(&block("from 10.0.0.1", 0, 60)).unwrap(); // expired by then
    s.record_response(&block("from 10.0.0.2", 0, HOUR)).unwrap();
    s.record_response(&block("to 192.0.2.7:443", 10, HOUR))
        .unwrap();
    s.record_response(&other("refused", "from 10.0.0.4", 20))
        .unwrap();
    assert_eq!(s.end_responses(None, at(600), "flushed").unwrap(), 2);
    assert!(s.active_responses(at(600)).unwrap().is_empty());
    let states: Vec<(String, String)> = s
        .response_log(None, None, 0)
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.target.clone(),
                SqliteStore::end_state(r, at(600)).to_string(),
            )
        })
        .collect();
    let want = [
        ("from 10.0.0.1", "expired"),
        ("from 10.0.0.2", "flushed"),
        ("to 192.0.2.7:443", "flushed"),
        ("from 10.0.0.4", ""),
    ];
    assert_eq!(
        states,
        want.map(|(t, e)| (t.to_string(), e.to_string())).to_vec()
    );
}

#[test]
fn expiry_is_derived_from_the_time_asked_about_never_written() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    s.record_response(&block("from 10.0.0.2", 0, 600)).unwrap();
    // In force up to (not including) its expiry, with its remaining time.
    let a = s.active_responses(at(599)).unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].expires.unwrap().nanos_since(at(599)), 1_000_000_000);
    assert_eq!(SqliteStore::end_state(&a[0], at(599)), "active");
    assert!(s.active_responses(at(600)).unwrap().is_empty());
    let r = &s.response_log(None, None, 0).unwrap()[0];
    assert_eq!(SqliteStore::end_state(r, at(600)), "expired");
    // Nothing was written: asked about an earlier time, it is in force.
    assert_eq!((r.ended, r.end.as_deref()), (None, None));
    assert_eq!(s.active_responses(at(300)).unwrap().len(), 1);
    // An expired block cannot be ended any more.
    assert_eq!(s.end_responses(None, at(700), "flushed").unwrap(), 0);
}

#[test]
fn a_block_without_expiry_is_in_force_until_ended() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let mut b = block("from 10.0.0.2", 0, 0);
    b.expires = None;
    s.record_response(&b).unwrap();
    let far = Timestamp::from_nanos(i64::MAX);
    assert_eq!(s.active_responses(far).unwrap().len(), 1);
    assert_eq!(SqliteStore::end_state(&b, far), "active");
    assert_eq!(
        s.end_responses(Some("from 10.0.0.2"), at(10), "removed")
            .unwrap(),
        1
    );
    assert!(s.active_responses(at(10)).unwrap().is_empty());
}

#[test]
fn a_new_block_of_a_target_replaces_the_one_in_force() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let first = s.record_response(&block("from 10.0.0.2", 0, HOUR)).unwrap();
    s.record_response(&block("from 10.0.0.3", 0, HOUR)).unwrap();
    let second = s
        .record_response(&block("from 10.0.0.2", 600, 2 * HOUR))
        .unwrap();
    let active = s.active_responses(at(700)).unwrap();
    assert_eq!(targets(&active), ["from 10.0.0.3", "from 10.0.0.2"]);
    assert_eq!(active[1].id, second);
    let log = s.response_log(None, None, 0).unwrap();
    let old = log.iter().find(|r| r.id == first).unwrap();
    assert_eq!(
        (old.ended, old.end.as_deref()),
        (Some(at(600)), Some("replaced"))
    );
    // A refusal about the target replaces nothing.
    s.record_response(&other("refused", "from 10.0.0.2", 800))
        .unwrap();
    assert_eq!(s.active_responses(at(900)).unwrap().len(), 2);
}

#[test]
fn the_log_holds_every_outcome_newest_last_within_since_until_and_limit() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let outcomes = [
        "blocked",
        "would-block",
        "refused",
        "failed",
        "ran",
        "sent",
        "unblocked",
    ];
    // Written out of time order: the log is in the order they were decided.
    for (k, o) in outcomes.iter().enumerate().rev() {
        let mut r = other(o, &format!("t{k}"), 100 * k as i64);
        r.mode = "manual".into();
        s.record_response(&r).unwrap();
    }
    let all = s.response_log(None, None, 0).unwrap();
    assert_eq!(
        all.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>(),
        outcomes
    );
    // since <= decided < until.
    let mid = s.response_log(Some(at(100)), Some(at(300)), 0).unwrap();
    assert_eq!(targets(&mid), ["t1", "t2"]);
    assert_eq!(
        targets(&s.response_log(Some(at(550)), None, 0).unwrap()),
        ["t6"]
    );
    assert_eq!(
        targets(&s.response_log(None, Some(at(100)), 0).unwrap()),
        ["t0"]
    );
    assert!(s
        .response_log(Some(at(300)), Some(at(300)), 0)
        .unwrap()
        .is_empty());
    // The newest `limit`, still newest last.
    assert_eq!(
        targets(&s.response_log(None, None, 2).unwrap()),
        ["t5", "t6"]
    );
    assert_eq!(
        targets(&s.response_log(Some(at(0)), Some(at(300)), 1).unwrap()),
        ["t2"]
    );
    assert_eq!(
        s.response_log(None, None, 1000).unwrap().len(),
        outcomes.len()
    );
    // Same instant: in the order written.
    s.record_response(&other("refused", "same-a", 1000))
        .unwrap();
    s.record_response(&other("refused", "same-b", 1000))
        .unwrap();
    assert_eq!(
        targets(&s.response_log(None, None, 2).unwrap()),
        ["same-a", "same-b"]
    );
}

#[test]
fn blocks_in_force_outlive_a_restart_and_a_read_only_open_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.db");
    {
        let mut s = SqliteStore::open(&p).unwrap();
        s.record_response(&block("from 10.0.0.2", 0, HOUR)).unwrap();
        s.record_response(&block("from 10.0.0.3", 0, 60)).unwrap();
    }
    // What `respond list` / `respond log` would use: nothing can be written.
    let r = SqliteStore::open_reader(&p).unwrap();
    let active = r.active_responses(at(1800)).unwrap();
    assert_eq!(targets(&active), ["from 10.0.0.2"]);
    assert_eq!(
        active[0].expires.unwrap().nanos_since(at(1800)),
        1800 * 1_000_000_000
    );
    assert_eq!(r.response_log(None, None, 0).unwrap().len(), 2);
    let mut r = r;
    let e = r.end_responses(None, at(1800), "flushed").err().unwrap();
    assert!(e.is_read_only(), "{e}");
    assert!(
        e.to_string().contains("ending the blocks of every target"),
        "{e}"
    );
    // A restart re-opens it for writing and finds the same.
    let mut w = SqliteStore::open(&p).unwrap();
    assert_eq!(w.active_responses(at(1800)).unwrap(), active);
    assert_eq!(w.end_responses(None, at(1800), "flushed").unwrap(), 1);
}

/// A record of arbitrary text and times, as [`ResponseRecord`] holds them.
fn any_record() -> impl Strategy<Value = ResponseRecord> {
    let text = || any::<String>();
    let time = || any::<i64>().prop_map(Timestamp::from_nanos);
    (
        (time(), text(), text(), text(), text(), text()),
        (text(), text(), text(), text()),
        (proptest::option::of(time()), proptest::option::of(time())),
        proptest::option::of(text()),
    )
        .prop_map(
            |(
                (decided, mode, outcome, action, target, rule),
                (kind, entity, alert, reason),
                (expires, ended),
                end,
            )| {
                ResponseRecord {
                    id: 0,
                    decided,
                    mode,
                    outcome,
                    action,
                    target,
                    rule,
                    alert_kind: kind,
                    alert_entity: entity,
                    alert,
                    reason,
                    expires,
                    ended,
                    end,
                }
            },
        )
}

proptest! {
    /// Whatever the text (quotes, unicode, NUL, SQL) and times, a record
    /// comes back as it was written.
    #[test]
    fn records_come_back_unchanged(r in any_record(), quoted in r#"[\x00'"\\;é€😀 -]{0,20}"#) {
        let mut s = SqliteStore::open_in_memory().unwrap();
        let mut r = r;
        r.reason.push_str(&quoted);
        r.target.push_str("'); DROP TABLE responses; --");
        let id = s.record_response(&r).unwrap();
        let log = s.response_log(None, None, 0).unwrap();
        prop_assert_eq!(log, vec![ResponseRecord { id, ..r }]);
    }
}

/// Adds `n` refusals decided `first`, `first + 1`… seconds after [`T0`], at
/// SQL speed (one statement), as many decisions would have.
fn add_refusals(p: &Path, first: i64, n: i64) {
    let c = rusqlite::Connection::open(p).unwrap();
    c.execute(
        "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?2)
         INSERT INTO responses (decided, mode, outcome, action, target, rule, alert_kind,
            alert_entity, alert_json, reason)
         SELECT (?1 + i) * 1000000000, 'enforce', 'refused', 'block-source', 'from 10.0.0.1',
            'default', 'syn_flood', '10.0.0.1', '{}', 'allow-listed' FROM k",
        [T0 + first, n],
    )
    .unwrap();
}

fn count(s: &SqliteStore) -> usize {
    s.response_log(None, None, 0).unwrap().len()
}

/// Maintains until there is nothing more to do; the responses pruned.
fn prune_all(s: &mut SqliteStore, r: &Retention, now: i64) -> u64 {
    let mut n = 0;
    loop {
        let m = s.maintain(r, now, 24).unwrap();
        n += m.responses_pruned;
        if !m.more {
            return n;
        }
    }
}

#[test]
fn retention_keeps_the_newest_records_and_every_block_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.db");
    let mut s = SqliteStore::open(&p).unwrap();
    // The oldest records: one block in force, one expired.
    s.record_response(&block("from 10.0.0.2", 0, 30 * 86_400))
        .unwrap();
    s.record_response(&block("from 10.0.0.3", 0, 60)).unwrap();
    let excess = 1_000;
    add_refusals(&p, 10, RESPONSES_KEPT as i64 + excess);
    let now = T0 + 86_400;
    // Without any traffic recorded, and with every row kept forever.
    assert_eq!(
        prune_all(&mut s, &Retention::default(), now),
        excess as u64 + 2 - 1
    );
    assert_eq!(count(&s), RESPONSES_KEPT as usize + 1);
    assert_eq!(
        targets(&s.active_responses(at(86_400)).unwrap()),
        ["from 10.0.0.2"]
    );
    // The newest are those kept.
    let log = s.response_log(None, None, 0).unwrap();
    assert_eq!(log[1].decided, at(10 + excess));
    assert_eq!(
        log.last().unwrap().decided,
        at(10 + RESPONSES_KEPT as i64 + excess - 1)
    );
    // Trimmed again once 1,000 more are there, not before.
    add_refusals(&p, 200_000, 999);
    assert_eq!(prune_all(&mut s, &Retention::default(), now), 0);
    add_refusals(&p, 300_000, 1);
    assert_eq!(prune_all(&mut s, &Retention::default(), now), 1_000);
    assert_eq!(count(&s), RESPONSES_KEPT as usize + 1);
}

/// A minute of traffic at `ts`.
fn traffic(ts: i64) -> Row {
    Row {
        ts,
        iface: "eth0".into(),
        local: "10.0.0.1".parse().unwrap(),
        remote: "192.0.2.1".parse().unwrap(),
        local_port: 40_000,
        remote_port: 443,
        protocol: 6,
        process: None,
        counts: Counts {
            packets_out: 1,
            bytes_out: 100,
            packets_in: 1,
            bytes_in: 100,
            ..Default::default()
        },
    }
}

#[test]
fn responses_go_with_the_day_rows_except_blocks_in_force() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let day = 86_400;
    let mut forever = block("from 10.0.0.2", 0, 0);
    forever.expires = None;
    s.record_response(&forever).unwrap();
    s.record_response(&block("from 10.0.0.3", 0, HOUR)).unwrap();
    s.record_response(&other("refused", "from 10.0.0.4", 10))
        .unwrap();
    s.record_response(&other("refused", "from 10.0.0.5", 40 * day))
        .unwrap();
    s.append(&[traffic(T0), traffic(T0 + 40 * day)]).unwrap();
    let keep_30_days = Retention {
        days: Some(30 * day),
        ..Retention::default()
    };
    let n = prune_all(&mut s, &keep_30_days, T0 + 40 * day);
    assert_eq!(n, 2);
    assert_eq!(
        targets(&s.response_log(None, None, 0).unwrap()),
        ["from 10.0.0.2", "from 10.0.0.5"]
    );
    // Kept forever by default.
    let mut s2 = SqliteStore::open_in_memory().unwrap();
    s2.record_response(&other("refused", "from 10.0.0.4", 10))
        .unwrap();
    s2.append(&[traffic(T0), traffic(T0 + 4000 * day)]).unwrap();
    assert_eq!(
        prune_all(&mut s2, &Retention::default(), T0 + 4000 * day),
        0
    );
    assert_eq!(count(&s2), 1);
}

/// The responder's own connection writes while the history writer thread
/// writes rows and alerts into the same file, and a second responder
/// connection writes too: no "database is locked", nothing lost.
#[test]
fn responders_write_beside_the_history_writer() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.db");
    let cfg = WriterConfig {
        clock: Arc::new(FixedClock(at(10 * 86_400))),
        ..WriterConfig::default()
    };
    let mut w = HistoryWriter::start(Box::new(SqliteStore::open(&p).unwrap()), cfg).unwrap();
    let responder = |name: &'static str| {
        let mut s = SqliteStore::open(&p).unwrap();
        std::thread::spawn(move || {
            for k in 0..300 {
                let target = format!("from {name}.{k}");
                s.record_response(&block(&target, k, HOUR)).unwrap();
                if k % 2 == 0 {
                    assert_eq!(s.end_responses(Some(&target), at(k), "removed").unwrap(), 1);
                }
                s.active_responses(at(k)).unwrap();
            }
        })
    };
    let (a, b) = (responder("10.1"), responder("10.2"));
    for m in 0..600 {
        let rows: Vec<Row> = (0..50)
            .map(|k| Row {
                local_port: 1000 + k,
                ..traffic(T0 + m * 60)
            })
            .collect();
        w.send(rows);
        w.send_alerts(vec![AlertRecord {
            ts_nanos: at(m * 60).as_nanos(),
            kind: "syn_flood".into(),
            severity: "high".into(),
            entity: "10.0.0.9".into(),
            summary: "a flood".into(),
            detail: "{}".into(),
        }]);
    }
    a.join().unwrap();
    b.join().unwrap();
    let status = w.finish();
    assert_eq!(status.error, None);
    assert_eq!((status.rows_dropped, status.alerts_dropped), (0, 0));
    let s = SqliteStore::open_reader(&p).unwrap();
    let log = s.response_log(None, None, 0).unwrap();
    assert_eq!(log.len(), 600);
    assert_eq!(s.active_responses(at(0)).unwrap().len(), 300);
    let mut alerts = 0;
    s.alerts(i64::MIN, i64::MAX, None, &mut |_| alerts += 1)
        .unwrap();
    assert_eq!(alerts, 600);
}
