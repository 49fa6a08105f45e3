//! The store against hand-computed answers: roll-up sums, retention,
//! migrations, queries, the writer's queue, readers beside the writer,
//! alerts.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use wirewatch_store::query::{self, GroupBy, Metric, Order, Range};
use wirewatch_store::writer::{Backpressure, HistoryWriter, WriterConfig};
use wirewatch_store::{
    AlertRecord, Columns, Counts, Coverage, Maintenance, Resolution, ResponseRecord, Retention,
    Row, Selection, SqliteStore, Store, StoreError, TcpCounts, SCHEMA_VERSION,
};
use wirewatch_wire::{Clock, FixedClock, Timestamp};

const DAY: i64 = 86_400;
/// 2026-11-19T00:00:00Z.
const T0: i64 = 1_795_046_400;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[allow(clippy::too_many_arguments)]
fn row(
    ts: i64,
    local: &str,
    lport: u16,
    remote: &str,
    rport: u16,
    proc_: Option<&str>,
    out: u64,
    inb: u64,
) -> Row {
    Row {
        ts,
        iface: "eth0".into(),
        local: ip(local),
        remote: ip(remote),
        local_port: lport,
        remote_port: rport,
        protocol: 6,
        process: proc_.map(Into::into),
        counts: Counts {
            packets_out: out.div_ceil(1000),
            bytes_out: out,
            packets_in: inb.div_ceil(1000),
            bytes_in: inb,
            ..Default::default()
        },
    }
}

fn maintain_all(s: &mut SqliteStore, r: &Retention) -> Maintenance {
    let mut total = Maintenance::default();
    loop {
        let m = s.maintain(r, i64::MAX, 5).unwrap();
        total.hours_rolled += m.hours_rolled;
        total.days_rolled += m.days_rolled;
        total.rows_pruned += m.rows_pruned;
        total.alerts_pruned += m.alerts_pruned;
        if !m.more {
            return total;
        }
    }
}

fn sum(s: &SqliteStore, res: Resolution) -> Counts {
    let mut c = Counts::default();
    s.scan(
        res,
        i64::MIN / 2,
        i64::MAX / 2,
        &Selection::default(),
        Columns::ALL,
        &mut |r| c.add(&r.counts),
    )
    .unwrap();
    c
}

fn sum_totals(s: &SqliteStore, res: Resolution) -> Counts {
    let mut c = Counts::default();
    s.totals(res, i64::MIN / 2, i64::MAX / 2, None, &mut |_, _, x| {
        c.add(x)
    })
    .unwrap();
    c
}

/// Bytes per (local, remote) pair in one resolution.
fn per_pair(s: &SqliteStore, res: Resolution) -> BTreeMap<(IpAddr, IpAddr), Counts> {
    let mut m = BTreeMap::new();
    s.scan(
        res,
        i64::MIN / 2,
        i64::MAX / 2,
        &Selection::default(),
        Columns::ALL,
        &mut |r| {
            m.entry((r.local, r.remote))
                .or_insert_with(Counts::default)
                .add(&r.counts)
        },
    )
    .unwrap();
    m
}

fn keep_all() -> Retention {
    Retention {
        minutes: None,
        hours: None,
        days: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Roll-ups keep every sum: the same bytes and packets per host pair and
    /// per interface at minute, hour and day resolution, whatever the batch
    /// boundaries, including rows that arrive after their hour was rolled up.
    #[test]
    fn rollups_preserve_sums(
        rows in prop::collection::vec((0i64..4 * 24 * 60, 0u8..6, 0u8..4, 0u16..3, 1u64..1_000_000, 0u64..1_000_000), 1..300),
        cut in 0usize..300,
        late in prop::collection::vec((0i64..3 * 24 * 60, 0u8..6, 1u64..1000), 0..20),
    ) {
        let mut s = SqliteStore::open_in_memory().unwrap();
        let mut rows: Vec<Row> = rows
            .into_iter()
            .map(|(m, l, r, p, o, i)| row(
                T0 + m * 60,
                &format!("10.0.0.{l}"),
                40_000 + p,
                &format!("192.0.2.{r}"),
                443,
                (l % 2 == 0).then_some("curl"),
                o,
                i,
            ))
            .collect();
        rows.sort_by_key(|r| r.ts);
        let cut = cut.min(rows.len());
        s.append(&rows[..cut]).unwrap();
        maintain_all(&mut s, &keep_all());
        s.append(&rows[cut..]).unwrap();
        maintain_all(&mut s, &keep_all());
        // Late rows into periods already rolled up.
        let late: Vec<Row> = late
            .into_iter()
            .map(|(m, l, b)| row(T0 + m * 60, &format!("10.0.0.{l}"), 50_000, "192.0.2.9", 80, None, b, b))
            .collect();
        s.append(&late).unwrap();
        maintain_all(&mut s, &keep_all());
        let all: Counts = rows.iter().chain(&late).fold(Counts::default(), |mut c, r| { c.add(&r.counts); c });
        let m = sum(&s, Resolution::Minute);
        prop_assert_eq!(m, all);
        let cov = s.coverage().unwrap();
        // Everything before the last hour/day is rolled; compare the complete part.
        let complete = |res: Resolution| {
            let mut c = Counts::default();
            let until = cov.of(res).complete_until;
            for r in rows.iter().chain(&late) {
                if res.floor(r.ts) + res.secs() <= until { c.add(&r.counts) }
            }
            c
        };
        prop_assert_eq!(sum(&s, Resolution::Hour), complete(Resolution::Hour));
        prop_assert_eq!(sum(&s, Resolution::Day), complete(Resolution::Day));
        prop_assert_eq!(sum_totals(&s, Resolution::Minute), all);
        prop_assert_eq!(sum_totals(&s, Resolution::Hour), complete(Resolution::Hour));
        // A query over the whole range, whatever resolutions it reads, sees every byte.
        let t = query::top(&s, &Range { from: T0 - DAY, to: T0 + 10 * DAY }, GroupBy::Pair, &Selection::default(), 1000).unwrap();
        prop_assert_eq!(t.total, all);
    }
}

#[test]
fn rollups_keep_host_pairs_and_drop_client_ports() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let mut rows = Vec::new();
    for m in 0..(2 * 24 * 60 + 90) {
        let ts = T0 + m * 60;
        rows.push(row(
            ts,
            "10.0.0.1",
            40_000 + (m % 7) as u16,
            "192.0.2.1",
            443,
            Some("curl"),
            1_000,
            20_000,
        ));
        if m % 3 == 0 {
            rows.push(row(ts, "10.0.0.2", 53, "192.0.2.53", 53, None, 80, 120));
        }
    }
    s.append(&rows).unwrap();
    let m = maintain_all(&mut s, &keep_all());
    // 49 complete hours (the 50th holds the newest minute), 2 complete days.
    assert_eq!(m.hours_rolled, 49);
    assert_eq!(m.days_rolled, 2);
    let pairs = per_pair(&s, Resolution::Minute);
    let cov = s.coverage().unwrap();
    assert_eq!(cov.hour.complete_until, T0 + 49 * 3600);
    assert_eq!(cov.day.complete_until, T0 + 2 * DAY);
    // Hour rows: one per pair and hour; the client port is 0, the service kept.
    let mut hour_rows = Vec::new();
    s.scan(
        Resolution::Hour,
        T0,
        T0 + 3600,
        &Selection::default(),
        Columns::ALL,
        &mut |r| hour_rows.push(r.clone()),
    )
    .unwrap();
    assert_eq!(hour_rows.len(), 2);
    let web = hour_rows.iter().find(|r| r.remote_port == 443).unwrap();
    assert_eq!(
        (web.local_port, web.counts.bytes_out, web.counts.bytes_in),
        (0, 60_000, 1_200_000)
    );
    let dns = hour_rows.iter().find(|r| r.remote_port == 53).unwrap();
    assert_eq!((dns.local_port, dns.counts.bytes_out), (53, 20 * 80));
    // Per pair, hours and days hold what the complete minutes hold.
    let hours = per_pair(&s, Resolution::Hour);
    let web_minutes_complete = 49 * 60;
    assert_eq!(
        hours[&(ip("10.0.0.1"), ip("192.0.2.1"))].bytes_out,
        web_minutes_complete * 1_000
    );
    // Day rows keep the service port too (rolling up twice changes nothing).
    let mut day_ports = std::collections::BTreeSet::new();
    s.scan(
        Resolution::Day,
        T0,
        T0 + 2 * DAY,
        &Selection::default(),
        Columns::ALL,
        &mut |r| {
            day_ports.insert((r.local_port, r.remote_port));
        },
    )
    .unwrap();
    assert_eq!(day_ports, [(0, 443), (53, 53)].into_iter().collect());
    // So do queries by port over ranges read from days and hours.
    let t = query::top(
        &s,
        &Range {
            from: T0,
            to: T0 + 2 * DAY,
        },
        GroupBy::Port,
        &Selection::default(),
        5,
    )
    .unwrap();
    assert_eq!(t.resolutions, vec![Resolution::Day]);
    let keys: Vec<&str> = t.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, vec!["tcp/443", "tcp/53"]);
    let t = query::top(
        &s,
        &Range {
            from: T0,
            to: T0 + 2 * DAY,
        },
        GroupBy::Pair,
        &Selection {
            port: Some(443),
            ..Default::default()
        },
        5,
    )
    .unwrap();
    assert_eq!(t.total.bytes_in, 2 * 1440 * 20_000);
    let days = per_pair(&s, Resolution::Day);
    assert_eq!(
        days[&(ip("10.0.0.1"), ip("192.0.2.1"))].bytes_in,
        2 * 1440 * 20_000
    );
    assert_eq!(
        pairs[&(ip("10.0.0.1"), ip("192.0.2.1"))].bytes_in,
        (2 * 1440 + 90) * 20_000
    );
}

proptest! {
    /// Rolling up a rolled-up row changes nothing.
    #[test]
    fn service_ports_is_idempotent(a: u16, b: u16) {
        let once = wirewatch_store::service_ports(a, b);
        prop_assert_eq!(wirewatch_store::service_ports(once.0, once.1), once);
        prop_assert!(once.0 == a || once.0 == 0);
        prop_assert!(once.1 == b || once.1 == 0);
    }
}

#[test]
fn retention_prunes_only_what_is_rolled_up() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    // Ten days, one flow, 1 kB out per minute.
    let rows: Vec<Row> = (0..10 * 1440)
        .map(|m| {
            row(
                T0 + m * 60,
                "10.0.0.1",
                40_000,
                "192.0.2.1",
                443,
                None,
                1_000,
                0,
            )
        })
        .collect();
    for chunk in rows.chunks(720) {
        s.append(chunk).unwrap();
        maintain_all(
            &mut s,
            &Retention {
                minutes: Some(2 * DAY),
                hours: Some(5 * DAY),
                days: None,
            },
        );
    }
    let newest = T0 + (10 * 1440 - 1) * 60;
    let cov = s.coverage().unwrap();
    assert_eq!(cov.newest_minute, Some(newest));
    // Minutes: from the hour 2 days before the newest minute.
    assert_eq!(
        cov.minute.oldest,
        Some(Resolution::Hour.floor(newest - 2 * DAY))
    );
    assert_eq!(
        cov.minute.pruned_until,
        Some(Resolution::Hour.floor(newest - 2 * DAY))
    );
    // Hours: from the day 5 days before.
    assert_eq!(
        cov.hour.oldest,
        Some(Resolution::Day.floor(newest - 5 * DAY))
    );
    // Days: all ten, every byte.
    assert_eq!(cov.day.oldest, Some(T0));
    assert_eq!(sum(&s, Resolution::Day).bytes_out, 9 * 1440 * 1000);
    assert_eq!(sum_totals(&s, Resolution::Day).bytes_out, 9 * 1440 * 1000);
    // Queries over the whole range still see every byte (days, then hours, then minutes).
    let t = query::top(
        &s,
        &Range {
            from: T0,
            to: T0 + 10 * DAY,
        },
        GroupBy::Host,
        &Selection::default(),
        10,
    )
    .unwrap();
    assert_eq!(t.total.bytes_out, 10 * 1440 * 1000);
    assert_eq!(
        t.resolutions,
        vec![Resolution::Minute, Resolution::Hour, Resolution::Day]
    );
    // A range starting inside the pruned minutes is answered from whole hours.
    let from = T0 + 3 * DAY + 1800;
    let t = query::top(
        &s,
        &Range {
            from,
            to: T0 + 4 * DAY,
        },
        GroupBy::Host,
        &Selection::default(),
        10,
    )
    .unwrap();
    assert_eq!(t.covered.from, T0 + 3 * DAY, "pruned hours: whole days");
    assert_eq!(t.total.bytes_out, 1440 * 1000);
}

#[test]
fn a_row_from_the_future_does_not_prune_the_present() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let mut rows: Vec<Row> = (0..2 * 1440)
        .map(|m| {
            row(
                T0 + m * 60,
                "10.0.0.1",
                40_000,
                "192.0.2.1",
                443,
                None,
                10,
                0,
            )
        })
        .collect();
    // A corrupt timestamp ten years ahead.
    rows.push(row(
        T0 + 3650 * DAY,
        "10.0.0.1",
        40_000,
        "192.0.2.1",
        443,
        None,
        1,
        0,
    ));
    s.append(&rows).unwrap();
    let now = T0 + 2 * DAY;
    loop {
        if !s.maintain(&Retention::default(), now, 5).unwrap().more {
            break;
        }
    }
    let cov = s.coverage().unwrap();
    assert_eq!(
        cov.minute.oldest,
        Some(T0),
        "minutes within 7 days of now are kept"
    );
    assert_eq!(cov.minute.pruned_until, None);
    assert_eq!(sum(&s, Resolution::Minute).bytes_out, 2 * 1440 * 10 + 1);
}

#[test]
fn plan_reads_whole_periods_from_coarse_tables() {
    let cov = Coverage {
        minute: wirewatch_store::Span {
            oldest: Some(T0),
            complete_until: T0 + 3 * DAY,
            pruned_until: None,
        },
        hour: wirewatch_store::Span {
            oldest: Some(T0),
            complete_until: T0 + 2 * DAY + 5 * 3600,
            pruned_until: None,
        },
        day: wirewatch_store::Span {
            oldest: Some(T0),
            complete_until: T0 + 2 * DAY,
            pruned_until: None,
        },
        newest_minute: Some(T0 + 3 * DAY - 60),
    };
    let p = query::plan(
        &cov,
        &Range {
            from: T0 + 1800,
            to: T0 + 2 * DAY + 7 * 3600 + 120,
        },
        Resolution::Day,
    );
    let got: Vec<(Resolution, i64, i64)> = p
        .pieces
        .iter()
        .map(|x| (x.res, x.from - T0, x.to - T0))
        .collect();
    assert_eq!(
        got,
        vec![
            (Resolution::Minute, 1800, 3600),
            (Resolution::Hour, 3600, DAY),
            (Resolution::Day, DAY, 2 * DAY),
            (Resolution::Hour, 2 * DAY, 2 * DAY + 5 * 3600),
            (
                Resolution::Minute,
                2 * DAY + 5 * 3600,
                2 * DAY + 7 * 3600 + 120
            ),
        ]
    );
    // A series at 5-minute steps never reads hours or days while minutes exist.
    let p = query::plan(
        &cov,
        &Range {
            from: T0,
            to: T0 + DAY,
        },
        Resolution::Minute,
    );
    assert_eq!(p.pieces.len(), 1);
    assert_eq!(p.pieces[0].res, Resolution::Minute);
}

fn small_store() -> SqliteStore {
    let mut s = SqliteStore::open_in_memory().unwrap();
    s.append(&[
        row(
            T0,
            "10.0.0.1",
            40_001,
            "192.0.2.1",
            443,
            Some("curl"),
            100,
            5_000,
        ),
        row(
            T0 + 60,
            "10.0.0.1",
            40_001,
            "192.0.2.1",
            443,
            Some("curl"),
            100,
            3_000,
        ),
        row(
            T0 + 60,
            "10.0.0.1",
            40_002,
            "192.0.2.2",
            22,
            Some("ssh"),
            2_000,
            1_000,
        ),
        row(
            T0 + 120,
            "10.0.0.2",
            40_003,
            "192.0.2.1",
            443,
            None,
            50,
            700,
        ),
        row(
            T0 + 3600,
            "10.0.0.2",
            40_004,
            "192.0.2.3",
            80,
            Some("curl"),
            10,
            20,
        ),
    ])
    .unwrap();
    s
}

#[test]
fn top_matches_hand_computed_answers() {
    let s = small_store();
    let all = Range {
        from: T0,
        to: T0 + 2 * 3600,
    };
    let none = Selection::default();
    let keys = |by, sel: &Selection| -> Vec<(String, u64, u64)> {
        query::top(&s, &all, by, sel, 10)
            .unwrap()
            .entries
            .into_iter()
            .map(|e| (e.key, e.counts.bytes_out, e.counts.bytes_in))
            .collect()
    };
    assert_eq!(
        keys(GroupBy::Remote, &none),
        vec![
            ("192.0.2.1".into(), 8_700, 250),
            ("192.0.2.2".into(), 1_000, 2_000),
            ("192.0.2.3".into(), 20, 10),
        ]
    );
    assert_eq!(
        keys(GroupBy::Host, &none)[0],
        ("10.0.0.1".into(), 2_200, 9_000),
        "a host's own sent and received bytes"
    );
    assert_eq!(
        keys(GroupBy::Process, &none),
        vec![
            ("curl".into(), 210, 8_020),
            ("ssh".into(), 2_000, 1_000),
            ("(unknown)".into(), 50, 700),
        ]
    );
    assert_eq!(
        keys(GroupBy::Port, &none),
        vec![
            ("tcp/443".into(), 250, 8_700),
            ("tcp/22".into(), 2_000, 1_000),
            ("tcp/80".into(), 10, 20)
        ]
    );
    assert_eq!(
        keys(
            GroupBy::Pair,
            &Selection {
                process: Some("curl".into()),
                ..none.clone()
            }
        ),
        vec![
            ("10.0.0.1 <=> 192.0.2.1".into(), 200, 8_000),
            ("10.0.0.2 <=> 192.0.2.3".into(), 10, 20)
        ]
    );
    // Half-open range: the 01:00 row is outside [T0, T0 + 3600).
    let t = query::top(
        &s,
        &Range {
            from: T0,
            to: T0 + 3600,
        },
        GroupBy::Iface,
        &none,
        10,
    )
    .unwrap();
    assert_eq!(
        t.total.bytes(),
        100 + 5_000 + 100 + 3_000 + 2_000 + 1_000 + 50 + 700
    );
    assert_eq!(t.entities, 1);
    let t = query::top(&s, &all, GroupBy::Remote, &none, 1).unwrap();
    assert_eq!((t.entries.len(), t.entities), (1, 3));
}

#[test]
fn series_buckets_and_spreads_coarse_rows() {
    let s = small_store();
    let r = Range {
        from: T0,
        to: T0 + 2 * 3600,
    };
    let sr = query::series(
        &s,
        &query::SeriesSpec {
            range: r,
            step: 1800,
            sel: Selection::default(),
            by: None,
            limit: 5,
            total_name: "total",
            metric: Default::default(),
        },
        None,
    )
    .unwrap();
    assert_eq!(sr.buckets, vec![T0, T0 + 1800, T0 + 3600, T0 + 5400]);
    let bytes: Vec<u64> = sr.lines[0].1.iter().map(|c| c.bytes()).collect();
    assert_eq!(bytes, vec![11_950, 0, 30, 0]);
    // Per process, largest first.
    let sr = query::series(
        &s,
        &query::SeriesSpec {
            range: r,
            step: 3600,
            sel: Selection::default(),
            by: Some(GroupBy::Process),
            limit: 2,
            total_name: "total",
            metric: Default::default(),
        },
        None,
    )
    .unwrap();
    let names: Vec<&str> = sr.lines.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(names, vec!["curl", "ssh"]);
    assert_eq!(
        sr.lines[0].1.iter().map(|c| c.bytes()).collect::<Vec<_>>(),
        vec![8_200, 30]
    );
    // Host selection reads flow rows.
    let sr = query::series(
        &s,
        &query::SeriesSpec {
            range: r,
            step: 3600,
            sel: Selection {
                host: Some(ip("192.0.2.2")),
                ..Default::default()
            },
            by: None,
            limit: 5,
            total_name: "192.0.2.2",
            metric: Default::default(),
        },
        None,
    )
    .unwrap();
    assert_eq!(sr.lines[0].1[0].bytes(), 3_000);
    // Weekly buckets start on Mondays (T0 is a Thursday: its week began on
    // Monday 2026-11-16).
    let w = query::series(
        &s,
        &query::SeriesSpec {
            range: r,
            step: 7 * DAY,
            sel: Selection::default(),
            by: None,
            limit: 5,
            total_name: "t",
            metric: Default::default(),
        },
        None,
    )
    .unwrap();
    assert_eq!(w.buckets, vec![T0 - 3 * DAY]);
    assert_eq!(
        wirewatch_store::time::rfc3339(w.buckets[0]),
        "2026-11-16T00:00:00Z"
    );
    // A step under a minute, or not whole minutes, is refused.
    assert!(query::series(
        &s,
        &query::SeriesSpec {
            range: r,
            step: 90,
            sel: Selection::default(),
            by: None,
            limit: 5,
            total_name: "t",
            metric: Default::default(),
        },
        None
    )
    .is_err());
}

#[test]
fn spread_hour_rows_over_five_minute_buckets_keeps_the_sum() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let rows: Vec<Row> = (0..3 * 60)
        .map(|m| {
            row(
                T0 + m * 60,
                "10.0.0.1",
                40_000,
                "192.0.2.1",
                443,
                None,
                1_001,
                7,
            )
        })
        .collect();
    s.append(&rows).unwrap();
    // Keep minutes for one hour only: the first two hours are answered by hour rows.
    maintain_all(
        &mut s,
        &Retention {
            minutes: Some(3600),
            hours: None,
            days: None,
        },
    );
    let sr = query::series(
        &s,
        &query::SeriesSpec {
            range: Range {
                from: T0,
                to: T0 + 3 * 3600,
            },
            step: 300,
            sel: Selection::default(),
            by: None,
            limit: 5,
            total_name: "t",
            metric: Default::default(),
        },
        None,
    )
    .unwrap();
    assert_eq!(sr.resolutions, vec![Resolution::Minute, Resolution::Hour]);
    let line = &sr.lines[0].1;
    assert_eq!(line.len(), 36);
    assert_eq!(line.iter().map(|c| c.bytes_out).sum::<u64>(), 180 * 1_001);
    // Each 5-minute bucket of a spread hour holds a twelfth of it (± rounding).
    assert!(
        line[..24]
            .iter()
            .all(|c| c.bytes_out.abs_diff(5 * 1_001) <= 1),
        "{line:?}"
    );
}

#[test]
fn flows_lists_each_flow_once_with_its_span() {
    let s = small_store();
    let (v, n, _) = query::flows(
        &s,
        &Range {
            from: T0,
            to: T0 + 2 * 3600,
        },
        &Selection {
            port: Some(443),
            ..Default::default()
        },
        None,
        10,
    )
    .unwrap();
    assert_eq!(n, 2);
    assert_eq!(v[0].id.local_port, 40_001);
    assert_eq!((v[0].first, v[0].last), (T0, T0 + 120));
    assert_eq!(v[0].counts.bytes(), 8_200);
    // Rows written before the process was known are the same flow.
    let mut s2 = small_store();
    s2.append(&[row(
        T0 + 120,
        "10.0.0.1",
        40_002,
        "192.0.2.2",
        22,
        None,
        5,
        5,
    )])
    .unwrap();
    let (v, n, _) = query::flows(
        &s2,
        &Range {
            from: T0,
            to: T0 + 7200,
        },
        &Selection {
            port: Some(22),
            ..Default::default()
        },
        None,
        10,
    )
    .unwrap();
    assert_eq!(
        (n, v[0].id.process.as_deref(), v[0].counts.bytes()),
        (1, Some("ssh"), 3_010)
    );
    let pred = |r: &Row| r.remote == ip("192.0.2.2");
    let (v, n, _) = query::flows(
        &s,
        &Range {
            from: T0,
            to: T0 + 2 * 3600,
        },
        &Selection::default(),
        Some(&pred),
        10,
    )
    .unwrap();
    assert_eq!((n, v[0].id.process.as_deref()), (1, Some("ssh")));
}

/// An alert at `ts_nanos`, its detail JSON naming everything.
fn alert(ts_nanos: i64, kind: &str, entity: &str) -> AlertRecord {
    AlertRecord {
        ts_nanos,
        kind: kind.into(),
        severity: "warning".into(),
        entity: entity.into(),
        summary: format!("{kind} from {entity}"),
        detail: format!(
            r#"{{"time":{ts_nanos},"kind":"{kind}","severity":"warning","entity":"{entity}","evidence":{{"ports":[22,80]}}}}"#
        ),
    }
}

fn all_alerts(s: &dyn Store, kind: Option<&str>) -> Vec<AlertRecord> {
    let mut v = Vec::new();
    s.alerts(i64::MIN, i64::MAX, kind, &mut |a| v.push(a.clone()))
        .unwrap();
    v
}

/// What the queries answer on a store: every resolution's sums, per pair
/// and per interface, coverage, and a top list over everything.
type Answers = (
    Vec<(Counts, Counts, BTreeMap<(IpAddr, IpAddr), Counts>)>,
    Coverage,
    [u64; 3],
    Vec<(String, Counts)>,
);

fn answers(s: &SqliteStore) -> Answers {
    let res = Resolution::ALL
        .iter()
        .map(|&r| (sum(s, r), sum_totals(s, r), per_pair(s, r)))
        .collect();
    let top = query::top(
        s,
        &Range {
            from: 0,
            to: i64::MAX / 2,
        },
        GroupBy::Pair,
        &Selection::default(),
        100,
    )
    .unwrap()
    .entries
    .into_iter()
    .map(|e| (e.key, e.counts))
    .collect();
    (res, s.coverage().unwrap(), s.row_counts().unwrap(), top)
}

/// A block of an hour decided at `ts` (seconds).
fn response(ts: i64) -> ResponseRecord {
    ResponseRecord {
        decided: Timestamp::from_secs(ts),
        mode: "enforce".into(),
        outcome: "blocked".into(),
        action: "block-source".into(),
        target: "from 10.0.0.9".into(),
        rule: "default".into(),
        alert_kind: "port_scan".into(),
        alert_entity: "10.0.0.9".into(),
        alert: alert(ts * 1_000_000_000, "port_scan", "10.0.0.9").detail,
        expires: Some(Timestamp::from_secs(ts + 3600)),
        ..Default::default()
    }
}

/// A database at schema 3 holding rows, alerts and write times (made by
/// the real migrations, filled as a version-3 wirewatch would) gets the
/// responses table when opened for writing and keeps all it held; opened
/// again, a current one is left byte for byte as it was.
#[test]
fn schema_3_gains_responses_and_tcp_columns_and_keeps_its_data_and_a_current_one_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v3.db");
    wirewatch_store::migrate_to_version(&p, 3).unwrap();
    {
        let c = rusqlite::Connection::open(&p).unwrap();
        c.execute_batch(&format!(
            "INSERT INTO alert VALUES ({}, 'port_scan', 'warning', '10.0.0.9', 'a scan', '{{}}');
             INSERT INTO written VALUES ({T0}, {T0});
             INSERT INTO meta VALUES ('newest_minute', {T0});
             INSERT INTO label VALUES (1, 0, 'eth0');
             INSERT INTO minute VALUES ({T0}, 1, x'0a000001', x'c0000201', 40000, 443, 6, 0,
                1, 100, 2, 200);
             INSERT INTO iface_minute VALUES ({T0}, 1, 1, 100, 2, 200);",
            T0 * 1_000_000_000
        ))
        .unwrap();
    }
    let tables = |p: &std::path::Path| -> Vec<String> {
        let c = rusqlite::Connection::open(p).unwrap();
        let mut st = c
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        let v = st.query_map([], |r| r.get(0)).unwrap();
        v.map(Result::unwrap).collect()
    };
    let before = tables(&p);
    assert!(
        !before.iter().any(|t| t.contains("responses")),
        "{before:?}"
    );
    let mut s = SqliteStore::open(&p).unwrap();
    assert_eq!(s.version().unwrap(), SCHEMA_VERSION);
    s.integrity_check().unwrap();
    assert_eq!(all_alerts(&s, None).len(), 1);
    assert_eq!(sum(&s, Resolution::Minute).bytes(), 300);
    s.record_response(&response(T0)).unwrap();
    drop(s);
    let after = tables(&p);
    // Schema 5 adds TCP columns to the three flow tables.
    let grown = |t: &String| t.contains("retr_out");
    assert_eq!(after.iter().filter(|t| grown(t)).count(), 3, "{after:?}");
    assert!(
        before.iter().all(|t| after.contains(t)
            || ["minute", "hour", "day"]
                .iter()
                .any(|n| t.starts_with(&format!("CREATE TABLE {n} ")))),
        "{after:?}"
    );
    // The table and its three indexes, nothing else.
    let new: Vec<&String> = after
        .iter()
        .filter(|t| !before.contains(t) && !grown(t))
        .collect();
    assert_eq!(new.len(), 4, "{new:?}");
    assert!(new.iter().all(|t| t.contains(" responses ")), "{new:?}");
    // Current already: opening it changes nothing.
    let bytes = std::fs::read(&p).unwrap();
    let s = SqliteStore::open(&p).unwrap();
    assert_eq!(s.version().unwrap(), SCHEMA_VERSION);
    assert_eq!(s.response_log(None, None, 0).unwrap().len(), 1);
    drop(s);
    assert_eq!(tables(&p), after);
    assert_eq!(std::fs::read(&p).unwrap(), bytes);
}

/// Each earlier version's file, holding rows, is upgraded on open and
/// keeps every row: the queries answer as before. The rows are written by
/// this build into a current database and copied into the tables the
/// older schema (made by the real older migrations) has.
#[test]
fn migrations_from_every_earlier_version() {
    let dir = tempfile::tempdir().unwrap();
    let src_path = dir.path().join("src.db");
    {
        let mut src = SqliteStore::open(&src_path).unwrap();
        // Three days every 20 minutes, two pairs: minute, hour and day rows.
        let rows: Vec<Row> = (0..3 * 72)
            .flat_map(|k| {
                let ts = T0 + k * 1200;
                [
                    row(
                        ts,
                        "10.0.0.1",
                        40_000,
                        "192.0.2.1",
                        443,
                        Some("curl"),
                        100 + k as u64,
                        7,
                    ),
                    row(
                        ts,
                        "10.0.0.2",
                        50_000 + k as u16,
                        "192.0.2.2",
                        53,
                        None,
                        60,
                        90,
                    ),
                ]
            })
            .collect();
        src.append(&rows).unwrap();
        maintain_all(&mut src, &keep_all());
        src.checkpoint().unwrap();
    }
    let src = SqliteStore::open_reader(&src_path).unwrap();
    let expected = answers(&src);
    assert!(expected.2.iter().all(|&n| n > 0), "{:?}", expected.2);
    for from in 0..SCHEMA_VERSION {
        let p = dir.path().join(format!("v{from}.db"));
        wirewatch_store::migrate_to_version(&p, from).unwrap();
        if from > 0 {
            let c = rusqlite::Connection::open(&p).unwrap();
            c.execute("ATTACH DATABASE ?1 AS src", [src_path.to_str().unwrap()])
                .unwrap();
            let tables: Vec<String> = c
                .prepare("SELECT name FROM main.sqlite_master WHERE type = 'table'")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(tables.iter().any(|t| t == "minute"), "{tables:?}");
            for t in &tables {
                // The older table's columns only (later versions added some).
                let cols: Vec<String> = c
                    .prepare(&format!(
                        "SELECT name FROM pragma_table_info('{t}', 'main')"
                    ))
                    .unwrap()
                    .query_map([], |r| r.get(0))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let cols = cols.join(", ");
                c.execute_batch(&format!(
                    "INSERT INTO main.{t} ({cols}) SELECT {cols} FROM src.{t}"
                ))
                .unwrap();
            }
            drop(c);
            // A query cannot upgrade it: it says what to do and leaves the file alone.
            let before = std::fs::read(&p).unwrap();
            let e = SqliteStore::open_reader(&p).err().unwrap().to_string();
            assert!(
                e.contains("written by an older wirewatch")
                    && e.contains(&format!("schema {from}, this one reads {SCHEMA_VERSION}"))
                    && e.contains("to upgrade it"),
                "{e}"
            );
            assert_eq!(std::fs::read(&p).unwrap(), before);
        }
        let mut s = SqliteStore::open(&p).unwrap();
        assert_eq!(s.version().unwrap(), SCHEMA_VERSION, "from {from}");
        s.integrity_check().unwrap();
        if from > 0 {
            assert_eq!(answers(&s), expected, "from {from}: every row kept");
        }
        // The new parts work.
        assert!(all_alerts(&s, None).is_empty());
        let a = alert(T0 * 1_000_000_000, "port_scan", "10.0.0.9");
        s.append_alerts(std::slice::from_ref(&a)).unwrap();
        assert_eq!(all_alerts(&s, None), vec![a]);
        let before = sum(&s, Resolution::Minute).bytes();
        s.append(&[row(T0, "10.0.0.1", 1, "10.0.0.2", 2, None, 5, 6)])
            .unwrap();
        assert_eq!(sum(&s, Resolution::Minute).bytes(), before + 11);
        // TCP health (schema 5) is kept with the rows, zero in older ones.
        assert_eq!(sum(&s, Resolution::Minute).tcp, TcpCounts::default());
        let mut r = row(T0, "10.0.0.1", 3, "10.0.0.2", 4, None, 5, 6);
        r.counts.tcp = TcpCounts::from_fields([1, 2, 3, 4, 5, 6]);
        s.append(&[r]).unwrap();
        assert_eq!(
            sum(&s, Resolution::Minute).tcp.fields(),
            [1, 2, 3, 4, 5, 6],
            "from {from}"
        );
        assert!(s.response_log(None, None, 0).unwrap().is_empty());
        let id = s.record_response(&response(T0)).unwrap();
        s.integrity_check().unwrap();
        drop(s);
        // And now a query reads it.
        let r = SqliteStore::open_reader(&p).unwrap();
        assert_eq!(all_alerts(&r, None).len(), 1);
        let at = Timestamp::from_secs(T0 + 60);
        assert_eq!(r.active_responses(at).unwrap()[0].id, id);
    }
    // The current version opens unchanged; a newer one is refused clearly.
    let p = dir.path().join("new.db");
    wirewatch_store::migrate_to_version(&p, SCHEMA_VERSION).unwrap();
    SqliteStore::open(&p).unwrap();
    rusqlite::Connection::open(&p)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let e = SqliteStore::open(&p).err().unwrap();
    assert!(matches!(e, StoreError::TooNew { .. }), "{e}");
    assert!(e.to_string().contains("newer"), "{e}");
}

#[test]
fn alerts_are_read_back_by_time_and_kind_in_time_order() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    const S: i64 = 1_000_000_000;
    let t = T0 * S;
    // Appended out of order, and two in the same nanosecond.
    let a = [
        alert(t + 5 * S, "port_scan", "10.0.0.1"),
        alert(t, "syn_flood", "10.0.0.2"),
        alert(t + 60 * S, "port_scan", "10.0.0.3"),
        alert(t + 5 * S, "syn_flood", "10.0.0.4"),
        alert(
            t + 3600 * S + 1,
            "new_destination",
            "10.0.0.5 → 203.0.113.9",
        ),
    ];
    s.append_alerts(&a[..2]).unwrap();
    s.append_alerts(&a[2..]).unwrap();
    s.append_alerts(&[]).unwrap();
    let got = |from: i64, to: i64, kind: Option<&str>| {
        let mut v = Vec::new();
        s.alerts(from, to, kind, &mut |x| v.push(x.clone()))
            .unwrap();
        v
    };
    assert_eq!(
        got(i64::MIN, i64::MAX, None),
        vec![
            a[1].clone(),
            a[0].clone(),
            a[3].clone(),
            a[2].clone(),
            a[4].clone()
        ]
    );
    // [from, to): the start is in, the end out.
    assert_eq!(
        got(t + 5 * S, t + 60 * S, None),
        vec![a[0].clone(), a[3].clone()]
    );
    assert_eq!(
        got(t, i64::MAX, Some("port_scan")),
        vec![a[0].clone(), a[2].clone()]
    );
    assert_eq!(
        got(t + 6 * S, t + 3600 * S, Some("port_scan")),
        vec![a[2].clone()]
    );
    assert!(got(t, i64::MAX, Some("dns_tunnel")).is_empty());
    assert!(got(t + 3600 * S + 2, i64::MAX, None).is_empty());
    // Text survives exactly: the detail is given back byte for byte.
    assert_eq!(got(t + 3600 * S, i64::MAX, None)[0].detail, a[4].detail);
    // Traffic rows are untouched by alerts, and the other way round.
    assert_eq!(sum(&s, Resolution::Minute), Counts::default());
}

#[test]
fn alerts_are_kept_as_long_as_day_rows() {
    const S: i64 = 1_000_000_000;
    for (days, kept) in [(None, 2), (Some(10 * DAY), 1)] {
        let mut s = SqliteStore::open_in_memory().unwrap();
        s.append(&[
            row(T0, "10.0.0.1", 1, "10.0.0.2", 2, None, 5, 6),
            row(T0 + 30 * DAY, "10.0.0.1", 1, "10.0.0.2", 2, None, 5, 6),
        ])
        .unwrap();
        s.append_alerts(&[
            alert(T0 * S, "port_scan", "10.0.0.1"),
            alert((T0 + 30 * DAY) * S, "port_scan", "10.0.0.1"),
        ])
        .unwrap();
        let r = Retention {
            minutes: Some(DAY),
            hours: Some(2 * DAY),
            days,
        };
        let m = maintain_all(&mut s, &r);
        assert_eq!(m.alerts_pruned, 2 - kept as u64, "{days:?}");
        let left = all_alerts(&s, None);
        assert_eq!(left.len(), kept, "{days:?}");
        assert_eq!(left.last().unwrap().ts_nanos, (T0 + 30 * DAY) * S);
    }
}

#[test]
fn another_programs_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&p).unwrap();
        c.execute_batch("CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('x');")
            .unwrap();
    }
    let before = std::fs::read(&p).unwrap();
    for e in [
        SqliteStore::open_reader(&p).err().unwrap(),
        SqliteStore::open(&p).err().unwrap(),
    ] {
        assert!(
            e.to_string().contains("not a wirewatch history database"),
            "{e}"
        );
    }
    assert_eq!(std::fs::read(&p).unwrap(), before, "not one byte changed");
    assert!(!dir.path().join("other.db-wal").exists());
    // A query never writes: after a writer closed (WAL checkpointed and
    // removed), a read-only open still reads.
    let h = dir.path().join("h.db");
    let mut w = SqliteStore::open(&h).unwrap();
    w.append(&[row(T0, "10.0.0.1", 1, "10.0.0.2", 2, None, 5, 6)])
        .unwrap();
    drop(w);
    let before = std::fs::read(&h).unwrap();
    let r = SqliteStore::open_reader(&h).unwrap();
    assert_eq!(sum(&r, Resolution::Minute).bytes(), 11);
    drop(r);
    assert_eq!(std::fs::read(&h).unwrap(), before);
}

/// A store that waits on a gate before each append: a slow disk.
struct Gated {
    inner: SqliteStore,
    gate: Arc<Mutex<()>>,
}

impl Store for Gated {
    fn append(&mut self, rows: &[Row]) -> Result<(), StoreError> {
        let _g = self.gate.lock().unwrap();
        self.inner.append(rows)
    }
    fn append_alerts(&mut self, alerts: &[AlertRecord]) -> Result<(), StoreError> {
        let _g = self.gate.lock().unwrap();
        self.inner.append_alerts(alerts)
    }
    fn alerts(
        &self,
        from: i64,
        to: i64,
        kind: Option<&str>,
        f: &mut dyn FnMut(&AlertRecord),
    ) -> Result<(), StoreError> {
        self.inner.alerts(from, to, kind, f)
    }
    fn maintain(&mut self, r: &Retention, now: i64, b: u32) -> Result<Maintenance, StoreError> {
        self.inner.maintain(r, now, b)
    }
    fn coverage(&self) -> Result<Coverage, StoreError> {
        self.inner.coverage()
    }
    fn scan(
        &self,
        res: Resolution,
        from: i64,
        to: i64,
        sel: &Selection,
        cols: Columns,
        f: &mut dyn FnMut(&Row),
    ) -> Result<(), StoreError> {
        self.inner.scan(res, from, to, sel, cols, f)
    }
    fn reader(&self) -> Option<Box<dyn Store>> {
        self.inner.reader()
    }
    fn totals(
        &self,
        res: Resolution,
        from: i64,
        to: i64,
        i: Option<&str>,
        f: &mut dyn FnMut(i64, &str, &Counts),
    ) -> Result<(), StoreError> {
        self.inner.totals(res, from, to, i, f)
    }
}

#[test]
fn a_stalled_writer_makes_coarser_rows_never_a_silent_loss() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.db");
    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock().unwrap();
    let store = Gated {
        inner: SqliteStore::open(&p).unwrap(),
        gate: gate.clone(),
    };
    let mut w = HistoryWriter::start(
        Box::new(store),
        WriterConfig {
            clock: later_than_any_row(),
            queue_batches: 1,
            coarse_rows: 50,
            backpressure: Backpressure::Coarsen,
            ..Default::default()
        },
    )
    .unwrap();
    let mut sent = Counts::default();
    let t = std::time::Instant::now();
    for m in 0..40 {
        let rows: Vec<Row> = (0..30)
            .map(|k| {
                row(
                    T0 + m * 60,
                    &format!("10.0.{k}.1"),
                    40_000 + k as u16,
                    "192.0.2.1",
                    443,
                    None,
                    100 + k,
                    7,
                )
            })
            .collect();
        rows.iter().for_each(|r| sent.add(&r.counts));
        w.send(rows); // never waits
    }
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "send waited on the disk"
    );
    let ev = w.take_events();
    assert!(ev.iter().any(|e| e.contains("writer is behind")), "{ev:?}");
    drop(held);
    let st = w.finish();
    assert!(st.rows_coarsened > 0 && st.coarse_rows > 0, "{st:?}");
    assert_eq!(st.rows_dropped, 0);
    let s = SqliteStore::open_reader(&p).unwrap();
    assert_eq!(sum(&s, Resolution::Minute), sent, "every byte is kept");
    // Per-minute totals too.
    let mut per_minute = BTreeMap::new();
    s.totals(
        Resolution::Minute,
        0,
        i64::MAX / 2,
        None,
        &mut |ts, _, c| {
            per_minute.insert(ts, c.bytes_out);
        },
    )
    .unwrap();
    assert_eq!(per_minute.len(), 40);
    // Past the cap the rows were merged per minute and protocol: they say so.
    let t = query::top(
        &s,
        &Range {
            from: 0,
            to: i64::MAX / 2,
        },
        GroupBy::Remote,
        &Selection::default(),
        10,
    )
    .unwrap();
    assert!(
        t.entries.iter().any(|e| e.key == "(merged)"),
        "{:?}",
        t.entries
    );
    assert!(per_minute.values().all(|&b| b == (100..130).sum::<u64>()));
}

#[test]
fn alerts_through_a_stalled_writer_are_all_stored_after_finish() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.db");
    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock().unwrap();
    let store = Gated {
        inner: SqliteStore::open(&p).unwrap(),
        gate: gate.clone(),
    };
    let mut w = HistoryWriter::start(
        Box::new(store),
        WriterConfig {
            clock: later_than_any_row(),
            queue_batches: 1,
            backpressure: Backpressure::Coarsen,
            ..Default::default()
        },
    )
    .unwrap();
    let t = std::time::Instant::now();
    let mut sent = Vec::new();
    let mut bytes = 0;
    for m in 0..40 {
        let a: Vec<AlertRecord> = (0..3)
            .map(|k| {
                alert(
                    (T0 + m * 60) * 1_000_000_000 + k,
                    "port_scan",
                    &format!("10.0.{m}.{k}"),
                )
            })
            .collect();
        sent.extend(a.iter().cloned());
        w.send_alerts(a); // never waits
        w.send(vec![row(
            T0 + m * 60,
            "10.0.0.1",
            1,
            "10.0.0.2",
            2,
            None,
            5,
            6,
        )]);
        bytes += 11;
    }
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "send_alerts waited on the disk"
    );
    let st = w.status();
    assert!(st.alerts_pending > 0, "the queue was full: {st:?}");
    assert_eq!(st.alerts_written, 0, "{st:?}");
    drop(held);
    let st = w.finish();
    assert_eq!(st.alerts_written, sent.len() as u64, "{st:?}");
    assert_eq!(
        (st.alerts_pending, st.alerts_dropped, st.rows_dropped),
        (0, 0, 0)
    );
    let s = SqliteStore::open_reader(&p).unwrap();
    assert_eq!(all_alerts(&s, None), sent, "every alert, in time order");
    assert_eq!(sum(&s, Resolution::Minute).bytes(), bytes);
}

#[test]
fn alerts_interleaved_with_rows_are_all_stored() {
    for bp in [Backpressure::Coarsen, Backpressure::Block] {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.db");
        let mut w = HistoryWriter::start(
            Box::new(SqliteStore::open(&p).unwrap()),
            WriterConfig {
                queue_batches: 2,
                backpressure: bp,
                ..Default::default()
            },
        )
        .unwrap();
        let mut sent = Vec::new();
        for m in 0..300 {
            w.send(
                (0..20)
                    .map(|k| row(T0 + m * 60, "10.0.0.1", k, "10.0.0.2", 2, None, 1, 1))
                    .collect(),
            );
            if m % 3 == 0 {
                let a = vec![
                    alert((T0 + m * 60) * 1_000_000_000, "syn_flood", "10.0.0.2"),
                    alert((T0 + m * 60) * 1_000_000_000 + 1, "port_scan", "10.0.0.1"),
                ];
                sent.extend(a.iter().cloned());
                w.send_alerts(a);
            }
            if m % 50 == 0 {
                w.send_alerts(Vec::new());
            }
        }
        let st = w.finish();
        assert_eq!(st.error, None, "{bp:?}");
        assert_eq!(st.alerts_written, sent.len() as u64, "{bp:?}: {st:?}");
        assert_eq!((st.alerts_pending, st.alerts_dropped), (0, 0), "{bp:?}");
        let s = SqliteStore::open_reader(&p).unwrap();
        assert_eq!(all_alerts(&s, None), sent, "{bp:?}");
        let scans = all_alerts(&s, Some("port_scan"));
        assert_eq!(scans.len(), 100, "{bp:?}");
        assert_eq!(
            sum(&s, Resolution::Minute).bytes_out,
            300 * 20,
            "{bp:?}: every byte too (coarsened or not)"
        );
    }
}

#[test]
fn readers_work_while_the_writer_runs() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.db");
    let mut w = HistoryWriter::start(
        Box::new(SqliteStore::open(&p).unwrap()),
        WriterConfig::default(),
    )
    .unwrap();
    w.send(vec![row(T0, "10.0.0.1", 1, "10.0.0.2", 2, None, 1, 1)]);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let st = stop.clone();
    let p2 = p.clone();
    let reader = std::thread::spawn(move || {
        let mut ok = 0;
        while !st.load(std::sync::atomic::Ordering::Relaxed) || ok < 5 {
            let s = SqliteStore::open_reader(&p2).unwrap();
            query::top(
                &s,
                &Range {
                    from: 0,
                    to: i64::MAX / 2,
                },
                GroupBy::Host,
                &Selection::default(),
                5,
            )
            .unwrap();
            ok += 1;
        }
        ok
    });
    for m in 1..300 {
        let rows: Vec<Row> = (0..200)
            .map(|k| row(T0 + m * 60, "10.0.0.1", k, "10.0.0.2", 2, None, 1, 1))
            .collect();
        w.send(rows);
    }
    let status = w.finish();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads >= 5);
    assert_eq!(status.error, None);
    assert_eq!(status.rows_dropped, 0);
    let s = SqliteStore::open_reader(&p).unwrap();
    assert_eq!(sum(&s, Resolution::Minute).bytes_out, 1 + 299 * 200);
}

#[test]
fn a_database_that_cannot_be_created_is_a_clear_error() {
    let e = SqliteStore::open(std::path::Path::new("/proc/wirewatch-no/history.db"))
        .err()
        .unwrap();
    assert!(e.to_string().contains("/proc/wirewatch-no"), "{e}");
    let e = SqliteStore::open_reader(std::path::Path::new("/nonexistent/x.db"))
        .err()
        .unwrap();
    assert!(e.to_string().contains("no history there"), "{e}");
}

/// Queries read long ranges of a file database on parallel readers: the
/// answers equal those of the one-reader in-memory store holding the same rows.
#[test]
fn parallel_readers_give_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = SqliteStore::open(&dir.path().join("p.db")).unwrap();
    let mut mem = SqliteStore::open_in_memory().unwrap();
    let mut rows = Vec::new();
    for m in 0..(3 * 1440 + 77) {
        for k in 0..5u16 {
            let ts = T0 + 1800 + m * 60;
            rows.push(row(
                ts,
                &format!("10.0.0.{}", k + 1),
                40_000 + (m % 3) as u16,
                &format!("192.0.2.{}", (m % 4) + 1),
                [443, 80, 22][k as usize % 3],
                Some(["curl", "ssh"][k as usize % 2]),
                (m as u64 * 7 + k as u64) % 1000 + 1,
                (m as u64 * 13 + k as u64) % 5000,
            ));
        }
    }
    for s in [&mut file, &mut mem] {
        for c in rows.chunks(997) {
            s.append(c).unwrap();
        }
        maintain_all(s, &keep_all());
    }
    assert!(file.reader().is_some() && mem.reader().is_none());
    let r = Range {
        from: T0 + 1234,
        to: T0 + 3 * DAY + 4000,
    };
    for by in [
        GroupBy::Host,
        GroupBy::Pair,
        GroupBy::Process,
        GroupBy::Port,
    ] {
        let a = query::top(&file, &r, by, &Selection::default(), 50).unwrap();
        let b = query::top(&mem, &r, by, &Selection::default(), 50).unwrap();
        assert_eq!(a, b, "{by:?}");
    }
    let spec = query::SeriesSpec {
        range: r,
        step: 3600,
        sel: Selection::default(),
        by: Some(GroupBy::Remote),
        limit: 3,
        total_name: "t",
        metric: Default::default(),
    };
    assert_eq!(
        query::series(&file, &spec, None).unwrap(),
        query::series(&mem, &spec, None).unwrap()
    );
    let pred = |r: &Row| r.local_port.is_multiple_of(2);
    let a = query::flows(&file, &r, &Selection::default(), Some(&pred), 1000).unwrap();
    let b = query::flows(&mem, &r, &Selection::default(), Some(&pred), 1000).unwrap();
    assert_eq!(a, b);
    assert!(a.1 > 10);
}

/// A full disk stops the writer with a clear error and counts the rows it
/// could not write; the sender never blocks and nothing panics. Needs root
/// (a 256 KiB tmpfs); skipped otherwise.
#[test]
fn a_full_disk_stops_writing_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _u = wirewatch_testkit::require!(wirewatch_testkit::mount_tmpfs(dir.path(), "size=256k"));
    let p = dir.path().join("h.db");
    // One batch at a time (the sender waits for room), so the first ones
    // are committed before the disk fills.
    let cfg = WriterConfig {
        queue_batches: 1,
        backpressure: Backpressure::Block,
        ..WriterConfig::default()
    };
    let mut w = HistoryWriter::start(Box::new(SqliteStore::open(&p).unwrap()), cfg).unwrap();
    let mut events = Vec::new();
    for m in 0..400 {
        let rows: Vec<Row> = (0..100)
            .map(|k| {
                row(
                    T0 + m * 60,
                    &format!("10.0.{}.{}", k / 200, k % 200 + 1),
                    40_000 + k,
                    "192.0.2.1",
                    443,
                    Some("curl"),
                    1,
                    1,
                )
            })
            .collect();
        w.send(rows);
        events.extend(w.take_events());
    }
    let st = w.finish();
    let e = st.error.clone().expect("the disk filled up");
    assert!(e.contains("h.db") && e.contains("full"), "{e}");
    assert!(st.rows_dropped > 0 && st.rows_written > 0, "{st:?}");
    assert!(
        events
            .iter()
            .any(|e| e.contains("monitoring goes on without history")),
        "{events:?}"
    );
    // What was committed before is readable.
    let s = SqliteStore::open_reader(&p).unwrap();
    assert!(sum(&s, Resolution::Minute).packets() > 0);
}

/// Two writers on one file (two wirewatch processes on one database) take
/// turns: no error, every row kept, roll-ups done once.
#[test]
fn two_writers_share_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.db");
    let spawn = |iface: &'static str| {
        let p = p.clone();
        std::thread::spawn(move || {
            let mut w = HistoryWriter::start(
                Box::new(SqliteStore::open(&p).unwrap()),
                WriterConfig::default(),
            )
            .unwrap();
            for m in 0..(2 * 1440) {
                let mut r = row(
                    T0 + m * 60,
                    "10.0.0.1",
                    40_000,
                    "192.0.2.1",
                    443,
                    None,
                    3,
                    5,
                );
                r.iface = iface.into();
                w.send(vec![r]);
            }
            w.finish()
        })
    };
    let (a, b) = (spawn("eth0"), spawn("eth1"));
    for st in [a.join().unwrap(), b.join().unwrap()] {
        assert_eq!(st.error, None);
        assert_eq!(st.rows_dropped, 0);
    }
    let s = SqliteStore::open_reader(&p).unwrap();
    assert_eq!(sum(&s, Resolution::Minute).bytes(), 2 * 2 * 1440 * 8);
    let cov = s.coverage().unwrap();
    // The first day is rolled up once: each interface's 1440 minutes, no more.
    let mut day = Counts::default();
    s.scan(
        Resolution::Day,
        T0,
        T0 + DAY,
        &Selection::default(),
        Columns::ALL,
        &mut |r| day.add(&r.counts),
    )
    .unwrap();
    assert_eq!(cov.day.complete_until, T0 + DAY);
    assert_eq!(day.bytes(), 2 * 1440 * 8);
}

/// A writer clock past every row the tests write, so retention counts back
/// from the newest row whatever day the tests run.
fn later_than_any_row() -> Arc<dyn Clock> {
    Arc::new(FixedClock(Timestamp::from_secs(4_102_444_800))) // 2100-01-01
}

/// A conversation recorded in both orientations (each host local on its
/// own interface, or a reply flow seen first) is one pair, counted from
/// its lower address, in `top` and in `series --by pair`.
#[test]
fn a_pair_is_one_entity_in_either_orientation() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    s.append(&[
        row(T0, "10.0.0.22", 40_000, "10.0.0.7", 80, None, 100, 1_000),
        row(
            T0 + 60,
            "10.0.0.7",
            80,
            "10.0.0.22",
            40_001,
            None,
            3_000,
            50,
        ),
        row(T0 + 60, "10.0.0.7", 22, "10.0.0.9", 40_002, None, 5, 5),
    ])
    .unwrap();
    let range = Range {
        from: T0,
        to: T0 + 3600,
    };
    let t = query::top(&s, &range, GroupBy::Pair, &Selection::default(), 10).unwrap();
    let got: Vec<(String, u64, u64)> = t
        .entries
        .iter()
        .map(|e| (e.key.clone(), e.counts.bytes_out, e.counts.bytes_in))
        .collect();
    // 10.0.0.7 sent 1,000 + 3,000 and received 100 + 50.
    assert_eq!(
        got,
        vec![
            ("10.0.0.7 <=> 10.0.0.22".to_string(), 4_000, 150),
            ("10.0.0.7 <=> 10.0.0.9".to_string(), 5, 5)
        ]
    );
    assert_eq!(t.entities, 2);
    let series = query::series(
        &s,
        &query::SeriesSpec {
            range,
            step: 3600,
            sel: Selection::default(),
            by: Some(GroupBy::Pair),
            limit: 10,
            total_name: "",
            metric: Default::default(),
        },
        None,
    )
    .unwrap();
    let names: Vec<String> = series.lines.iter().map(|(e, _)| e.clone()).collect();
    assert_eq!(
        names,
        vec!["10.0.0.7 <=> 10.0.0.22", "10.0.0.7 <=> 10.0.0.9"]
    );
}

/// An old capture imported after a newer one keeps its minutes for the
/// retention counted from when it was imported (the clock of the import),
/// not from the newest minute stored: they were day rows at once.
#[test]
fn an_import_keeps_its_minutes_for_the_retention_after_it_was_imported() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let imported = T0 + 400 * DAY;
    s.set_clock(Arc::new(FixedClock(Timestamp::from_nanos(
        imported * 1_000_000_000,
    ))));
    let minutes = |start: i64| -> Vec<Row> {
        (0..3)
            .map(|m| {
                row(
                    start + m * 60,
                    "10.0.0.1",
                    40_000 + m as u16,
                    "192.0.2.1",
                    443,
                    None,
                    100,
                    0,
                )
            })
            .collect()
    };
    // A capture of three minutes, then one from a year later.
    s.append(&minutes(T0 + 600)).unwrap();
    s.append(&minutes(T0 + 365 * DAY)).unwrap();
    let maintain_at = |s: &mut SqliteStore, now: i64| loop {
        if !s.maintain(&Retention::default(), now, 5).unwrap().more {
            break;
        }
    };
    maintain_at(&mut s, imported + DAY);
    let cov = s.coverage().unwrap();
    assert_eq!(
        cov.minute.oldest,
        Some(T0 + 600),
        "the first capture's minutes are kept"
    );
    assert_eq!(cov.minute.pruned_until, None);
    // Its flows still have their ports.
    let (flows, _, _) = query::flows(
        &s,
        &Range {
            from: T0,
            to: T0 + 3600,
        },
        &Selection::default(),
        None,
        10,
    )
    .unwrap();
    let ports: Vec<u16> = flows.iter().map(|f| f.id.local_port).collect();
    assert_eq!(ports.len(), 3, "{ports:?}");
    assert!(ports.iter().all(|&p| p >= 40_000), "{ports:?}");
    // Seven days after the import, retention takes them as usual: its
    // hour rows hold every byte (the newer capture's hour, the newest, is
    // not complete yet).
    maintain_at(&mut s, imported + 8 * DAY);
    let cov = s.coverage().unwrap();
    assert_eq!(
        cov.minute.oldest,
        Some(T0 + 365 * DAY),
        "the first capture's minutes outlived their retention"
    );
    assert_eq!(sum(&s, Resolution::Hour).bytes_out, 300);
}

/// A TCP row of minute `ts` with `retrans` segments resent by the remote
/// end and `n` RTT samples of `rtt_ms` on the local end's segments.
fn tcp_row(ts: i64, remote: &str, retrans: u64, n: u64, rtt_ms: u64) -> Row {
    let mut r = row(ts, "10.0.0.1", 40_000, remote, 443, None, 10_000, 90_000);
    r.counts.tcp = TcpCounts {
        retrans_in: retrans,
        rtt_out_samples: n,
        rtt_out_us: n * rtt_ms * 1_000,
        ..Default::default()
    };
    r
}

/// TCP health rolls up into hours by sums, ranks top lists and makes the
/// retransmission-rate and RTT series; other protocols stay out of them.
#[test]
fn tcp_health_rolls_up_ranks_and_makes_series() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let mut rows = Vec::new();
    for k in 0..180 {
        let ts = T0 + k * 60;
        rows.push(tcp_row(ts, "192.0.2.1", 5, 10, 20));
        rows.push(tcp_row(ts, "192.0.2.2", 1, 10, 80));
        let mut udp = row(ts, "10.0.0.1", 5353, "192.0.2.3", 53, None, 9_000_000, 0);
        udp.protocol = 17;
        rows.push(udp);
    }
    s.append(&rows).unwrap();
    maintain_all(&mut s, &keep_all());
    let minute = sum(&s, Resolution::Minute).tcp;
    assert_eq!(minute.retrans_in, 180 * 6);
    assert_eq!(minute.rtt_out_samples, 180 * 20);
    // The two complete hours rolled: two thirds of the minutes.
    assert_eq!(
        sum(&s, Resolution::Hour).tcp.fields(),
        minute.fields().map(|v| v * 2 / 3),
        "hours are the minutes' sums"
    );

    let range = Range {
        from: T0,
        to: T0 + 180 * 60,
    };
    let top = |order| {
        query::top_where(
            &s,
            &range,
            GroupBy::Remote,
            &Selection::default(),
            None,
            10,
            order,
        )
        .unwrap()
    };
    let keys = |t: &query::Top| t.entries.iter().map(|e| e.key.clone()).collect::<Vec<_>>();
    // By bytes the UDP host leads; by TCP health it is not there at all.
    assert_eq!(keys(&top(Order::Bytes))[0], "192.0.2.3");
    let by_retrans = top(Order::Retrans);
    assert_eq!(keys(&by_retrans), ["192.0.2.1", "192.0.2.2"]);
    // A remote host's view: what it resent is its "out".
    assert_eq!(by_retrans.entries[0].counts.tcp.retrans_out, 180 * 5);
    let by_rtt = top(Order::Rtt);
    assert_eq!(keys(&by_rtt), ["192.0.2.2", "192.0.2.1"]);
    let rtt = by_rtt.entries[0].counts.tcp.rtt_us().unwrap();
    assert!((rtt - 80_000.0).abs() < 1.0, "{rtt}");

    let series = |metric, step, by| {
        query::series(
            &s,
            &query::SeriesSpec {
                range,
                step,
                sel: Selection::default(),
                by,
                limit: 5,
                total_name: "all",
                metric,
            },
            None,
        )
        .unwrap()
    };
    // 6 of 200 TCP packets resent per minute (each row: 10 + 90 packets).
    let r = series(Metric::RetransRate, 600, None);
    assert_eq!(r.values.len(), 1);
    assert_eq!(r.values[0].len(), 18);
    for v in &r.values[0] {
        assert!((v.unwrap() - 0.03).abs() < 1e-9, "{v:?}");
    }
    // Half the samples at 20 ms, half at 80 ms: the p95 is 80 ms (within
    // the histogram's bin), the per-host lines 20 and 80 ms.
    let p = series(Metric::RttP95, 3600, None);
    for v in &p.values[0] {
        let ms = v.unwrap();
        assert!((ms - 80.0).abs() < 80.0 * 0.09, "{ms}");
    }
    let per = series(Metric::RttP95, 3600, Some(GroupBy::Remote));
    assert_eq!(per.lines.len(), 2, "the UDP host has no line");
    assert_eq!(per.lines[0].0, "192.0.2.2");
    let low = per.values[1][0].unwrap();
    assert!((low - 20.0).abs() < 20.0 * 0.09, "{low}");
    // Too many histograms are refused with a line saying why.
    let e = query::series(
        &s,
        &query::SeriesSpec {
            range: Range {
                from: T0,
                to: T0 + 30 * 86_400,
            },
            step: 60,
            sel: Selection::default(),
            by: None,
            limit: 5,
            total_name: "all",
            metric: Metric::RttP95,
        },
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("choose a larger step"), "{e}");
}
