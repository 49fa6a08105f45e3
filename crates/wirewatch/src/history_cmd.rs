//! `wirewatch history top|series|flows|plot|alerts`: queries of the
//! history store, printed as a table, JSON or CSV, or drawn as a chart.

use crate::cli::history::{
    AlertsArgs, ByArg, Common, FlowsArgs, HistoryArgs, PlotArgs, Query, SeriesArgs, TopArgs,
};
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{anyhow, bail};
use serde_json::{json, Value};
use wirewatch_filter::{compile, CompileOptions, Program};
use wirewatch_pipeline::json::tidied;
use wirewatch_store::query::{self, GroupBy, Range, SeriesSpec};
use wirewatch_store::time::{parse_duration, parse_time, rfc3339, short};
use wirewatch_store::{AlertRecord, Counts, Row, Selection, SqliteStore, Store};
use wirewatch_wire::{build, proto, Timestamp};

use crate::chart::{chart_target, humanize_step, write_chart};
use crate::output::{csv_field, readable};

impl ByArg {
    fn group(self) -> GroupBy {
        match self {
            ByArg::Host => GroupBy::Host,
            ByArg::Local => GroupBy::Local,
            ByArg::Remote => GroupBy::Remote,
            ByArg::Pair => GroupBy::Pair,
            ByArg::Process => GroupBy::Process,
            ByArg::Port => GroupBy::Port,
            ByArg::Iface => GroupBy::Iface,
        }
    }
}

/// A protocol by the name `wire::proto::name` gives it (plus `icmpv6`), or
/// its number.
fn parse_proto(s: &str) -> anyhow::Result<u8> {
    let n = s.to_ascii_lowercase();
    let n = if n == "icmpv6" {
        "icmp6".to_string()
    } else {
        n
    };
    (0..=u8::MAX)
        .find(|&p| proto::name(p) == n)
        .ok_or_else(|| {
            anyhow!("--proto takes a name (tcp, udp, icmp, icmp6, sctp, gre, esp, …) or a number 0-255, got '{s}'")
        })
}

/// A test on stored rows, shareable by the parallel readers.
type RowTest = dyn Fn(&Row) -> bool + Sync;

/// The validated common options.
struct Prepared {
    range: Range,
    sel: Selection,
    /// `-f` as a row test.
    pred: Option<Box<RowTest>>,
    format: Format,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Table,
    Json,
    Csv,
}

/// `--since` and `--until` as a range of seconds.
fn parse_range(since: &str, until: &str) -> anyhow::Result<Range> {
    let now = crate::clock::now_secs();
    let from = parse_time(since, now).map_err(|e| anyhow!("--since: {e}"))?;
    let to = parse_time(until, now).map_err(|e| anyhow!("--until: {e}"))?;
    if from >= to {
        bail!(
            "--since ({}) must be before --until ({})",
            rfc3339(from),
            rfc3339(to)
        );
    }
    Ok(Range { from, to })
}

impl Common {
    fn prepare(&self) -> anyhow::Result<Prepared> {
        Ok(Prepared {
            range: parse_range(&self.since, &self.until)?,
            sel: Selection {
                iface: self.iface.clone(),
                process: self.process.clone(),
                host: self.host,
                port: self.port,
                protocol: self.proto.as_deref().map(parse_proto).transpose()?,
            },
            pred: match self.filter.as_deref() {
                Some(e) => {
                    let f = RowFilter::new(e)?;
                    Some(Box::new(move |r: &Row| f.accepts(r)))
                }
                None => None,
            },
            format: if self.json {
                Format::Json
            } else if self.csv {
                Format::Csv
            } else {
                Format::Table
            },
        })
    }
}

/// A pcap filter applied to stored flows: each row becomes one synthetic
/// Ethernet frame per direction, run through the same compiled program
/// as captured frames.
struct RowFilter {
    prog: Program,
}

impl RowFilter {
    fn new(expr: &str) -> anyhow::Result<RowFilter> {
        let prog = compile(
            expr,
            &CompileOptions {
                link_type: wirewatch_wire::linktype::ETHERNET,
                snaplen: u32::MAX,
                linux_vlan_extensions: false,
            },
        )
        .map_err(|e| anyhow!("-f '{expr}': {e}"))?;
        Ok(RowFilter { prog })
    }

    fn frame(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, proto: u8) -> Vec<u8> {
        let l4 = match proto {
            6 => build::tcp(sport, dport, 0x10, &[]),
            17 => build::udp(sport, dport, &[]),
            132 => build::sctp(sport, dport, &[]),
            1 | 58 => build::icmp(8, 0, &[]),
            _ => Vec::new(),
        };
        // Different address families cannot be one packet: take the source's.
        build::eth(build::ethertype_for(src), &build::ip(src, dst, proto, &l4))
    }

    fn accepts(&self, r: &Row) -> bool {
        [
            (r.local, r.local_port, r.remote, r.remote_port),
            (r.remote, r.remote_port, r.local, r.local_port),
        ]
        .into_iter()
        .any(|(s, sp, d, dp)| {
            let f = Self::frame(s, sp, d, dp, r.protocol);
            self.prog.matches(&f, f.len() as u32)
        })
    }
}

fn counts_json(c: &Counts) -> Value {
    json!({
        "packets_out": c.packets_out,
        "bytes_out": c.bytes_out,
        "packets_in": c.packets_in,
        "bytes_in": c.bytes_in,
        "bytes": c.bytes(),
    })
}

fn open(db: &Path) -> anyhow::Result<SqliteStore> {
    SqliteStore::open_reader(db).map_err(|e| anyhow!("{e}"))
}

/// Most interface names said in [`where_data_is`].
const NAMES_SAID: usize = 8;

/// Where a database's traffic is, for a query or forecast that found none
/// in its range: the time it holds, its interfaces (with `hosts`, its
/// busiest hosts), and `hint(range held)`: the flags that would find it.
pub(crate) fn where_data_is(
    store: &SqliteStore,
    hosts: bool,
    hint: impl Fn(&Range) -> String,
) -> anyhow::Result<String> {
    let Some(r) = query::extent(&store.coverage().map_err(|e| anyhow!("{e}"))?) else {
        return Ok("this database holds no traffic yet".into());
    };
    let names = store.interfaces().map_err(|e| anyhow!("{e}"))?;
    let mut said = names
        .iter()
        .take(NAMES_SAID)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > NAMES_SAID {
        said += &format!(" and {} more", names.len() - NAMES_SAID);
    }
    let mut s = format!(
        "this database holds traffic from {} to {} UTC on {said}",
        short(r.from),
        short(r.to)
    );
    if hosts {
        let t = query::top(store, &r, GroupBy::Host, &Selection::default(), 5)
            .map_err(|e| anyhow!("{e}"))?;
        let busiest: Vec<&str> = t.entries.iter().map(|e| e.key.as_str()).collect();
        s += &format!(" (busiest hosts: {})", busiest.join(", "));
    }
    s += &format!("; try {}", hint(&r));
    Ok(s)
}

/// A step given, or one giving about `buckets` buckets, rounded to a
/// readable length.
fn choose_step(arg: Option<&str>, range: &Range, buckets: i64) -> anyhow::Result<i64> {
    if let Some(s) = arg {
        let step = parse_duration(s).map_err(|e| anyhow!("--step: {e}"))?;
        if step < 60 || step % 60 != 0 {
            bail!("--step must be whole minutes (1m, 5m, 1h, 1d), got '{s}'");
        }
        if (range.to - range.from) / step > 1_000_000 {
            bail!("--step {s} makes more than a million buckets: choose a larger step");
        }
        return Ok(step);
    }
    let want = (range.to - range.from) / buckets.max(1);
    const NICE: [i64; 12] = [
        60, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400, 604_800,
    ];
    Ok(NICE.iter().copied().find(|&s| s >= want).unwrap_or(604_800))
}

/// Runs a history query, writing to `out`.
pub fn run(args: &HistoryArgs, db: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    match &args.query {
        Query::Top(a) => top(a, db, out),
        Query::Series(a) => series(a, db, out),
        Query::Flows(a) => flows(a, db, out),
        Query::Plot(a) => plot(a, db, out),
        Query::Alerts(a) => alerts(a, db, out),
    }
}

/// Said when coarser rows answered part of the range (more than the
/// minute rounding of its ends).
fn covered_note(asked: &Range, got: &Range) -> Option<String> {
    (got.from < asked.from || got.to > asked.to + 60).then(|| {
        format!(
            "note: only coarser rows are kept for part of the range: answered {} – {}",
            short(got.from),
            short(got.to)
        )
    })
}

fn top(a: &TopArgs, db: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let p = a.common.prepare()?;
    let store = open(db)?;
    let t = query::top_where(
        &store,
        &p.range,
        a.by.group(),
        &p.sel,
        p.pred.as_deref(),
        all_if_zero(a.limit),
    )
    .map_err(|e| anyhow!("{e}"))?;
    match p.format {
        Format::Json => {
            let v = json!({
                "query": "top",
                "by": format!("{:?}", a.by).to_lowercase(),
                "from": rfc3339(t.covered.from),
                "until": rfc3339(t.covered.to),
                "resolutions": t.resolutions.iter().map(|r| r.name()).collect::<Vec<_>>(),
                "entities": t.entities,
                "total": counts_json(&t.total),
                "entries": t.entries.iter().map(|e| {
                    let mut v = counts_json(&e.counts);
                    v["key"] = json!(e.key);
                    v
                }).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", tidied(v))?;
        }
        Format::Csv => {
            writeln!(out, "key,packets_out,bytes_out,packets_in,bytes_in,bytes")?;
            for e in &t.entries {
                let c = &e.counts;
                writeln!(
                    out,
                    "{},{},{},{},{},{}",
                    csv_field(&e.key),
                    c.packets_out,
                    c.bytes_out,
                    c.packets_in,
                    c.bytes_in,
                    c.bytes()
                )?;
            }
        }
        Format::Table => {
            let by = format!("{:?}", a.by).to_lowercase();
            writeln!(
                out,
                "top {} by {by}, {} – {} UTC ({} in all)",
                t.entries.len(),
                short(t.covered.from),
                short(t.covered.to),
                t.entities
            )?;
            let w = t
                .entries
                .iter()
                .map(|e| e.key.len())
                .max()
                .unwrap_or(0)
                .max(by.len())
                .max("all traffic".len());
            writeln!(
                out,
                "{:<w$}  {:>10}  {:>10}  {:>10}  {:>6}",
                by, "sent", "received", "total", "share"
            )?;
            let all = t.total.bytes().max(1) as f64;
            for e in &t.entries {
                let c = &e.counts;
                writeln!(
                    out,
                    "{:<w$}  {:>10}  {:>10}  {:>10}  {:>5.1}%",
                    e.key,
                    readable(c.bytes_out as f64, true),
                    readable(c.bytes_in as f64, true),
                    readable(c.bytes() as f64, true),
                    100.0 * c.bytes() as f64 / all
                )?;
            }
            writeln!(
                out,
                "{:<w$}  {:>10}  {:>10}  {:>10}",
                "all traffic",
                readable(t.total.bytes_out as f64, true),
                readable(t.total.bytes_in as f64, true),
                readable(t.total.bytes() as f64, true)
            )?;
            if let Some(n) = covered_note(&p.range, &t.covered) {
                writeln!(out, "{n}")?;
            }
        }
    }
    if t.entities == 0 {
        crate::message::note(&format!(
            "nothing recorded {} – {} UTC: {}",
            short(p.range.from),
            short(p.range.to),
            where_data_is(&store, p.sel.host.is_some(), |r| format!(
                "--since {} --until {}",
                rfc3339(r.from),
                rfc3339(r.to)
            ))?
        ));
    }
    Ok(())
}

/// `--limit 0`: everything.
fn all_if_zero(n: usize) -> usize {
    if n == 0 {
        usize::MAX
    } else {
        n
    }
}

/// Bits per second of a bucket, over the part of it inside the range
/// answered (the first and last buckets may be cut by --since/--until).
fn bucket_rate(s: &query::Series, k: usize, c: &Counts) -> f64 {
    let start = s.buckets[k].max(s.covered.from);
    let end = (s.buckets[k] + s.step).min(s.covered.to);
    c.bytes() as f64 * 8.0 / (end - start).max(1) as f64
}

fn run_series(
    common: &Common,
    step: Option<&str>,
    buckets: i64,
    by: Option<ByArg>,
    limit: usize,
    db: &Path,
) -> anyhow::Result<(Prepared, query::Series)> {
    let p = common.prepare()?;
    let step = choose_step(step, &p.range, buckets)?;
    let store = open(db)?;
    let name = common
        .iface
        .clone()
        .or(common.host.map(|h| h.to_string()))
        .or(common.process.clone())
        .unwrap_or_else(|| "all traffic".into());
    let s = query::series(
        &store,
        &SeriesSpec {
            range: p.range,
            step,
            sel: p.sel.clone(),
            by: by.map(ByArg::group),
            limit: all_if_zero(limit),
            total_name: &name,
        },
        p.pred.as_deref(),
    )
    .map_err(|e| anyhow!("{e}"))?;
    Ok((p, s))
}

fn series(a: &SeriesArgs, db: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let (p, s) = run_series(&a.common, a.step.as_deref(), 100, a.by, a.limit, db)?;
    match p.format {
        Format::Json => {
            let v = json!({
                "query": "series",
                "step_seconds": s.step,
                "from": rfc3339(s.covered.from),
                "until": rfc3339(s.covered.to),
                "resolutions": s.resolutions.iter().map(|r| r.name()).collect::<Vec<_>>(),
                "lines": s.lines.iter().map(|(name, pts)| json!({
                    "name": name,
                    "points": s.buckets.iter().zip(pts).enumerate().map(|(k, (ts, c))| {
                        let mut v = counts_json(c);
                        v["ts"] = json!(rfc3339(*ts));
                        v["bits_per_second"] = json!(bucket_rate(&s, k, c));
                        v
                    }).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", tidied(v))?;
        }
        Format::Csv => {
            writeln!(
                out,
                "line,ts,packets_out,bytes_out,packets_in,bytes_in,bits_per_second"
            )?;
            for (name, pts) in &s.lines {
                for (k, (ts, c)) in s.buckets.iter().zip(pts).enumerate() {
                    writeln!(
                        out,
                        "{},{},{},{},{},{},{:.1}",
                        csv_field(name),
                        rfc3339(*ts),
                        c.packets_out,
                        c.bytes_out,
                        c.packets_in,
                        c.bytes_in,
                        bucket_rate(&s, k, c)
                    )?;
                }
            }
        }
        Format::Table => {
            for (name, pts) in &s.lines {
                writeln!(
                    out,
                    "{name}: every {} from {} UTC",
                    humanize_step(s.step),
                    short(s.covered.from)
                )?;
                writeln!(
                    out,
                    "{:<16}  {:>10}  {:>10}  {:>10}",
                    "time (UTC)", "sent", "received", "rate"
                )?;
                for (k, (ts, c)) in s.buckets.iter().zip(pts).enumerate() {
                    writeln!(
                        out,
                        "{:<16}  {:>10}  {:>10}  {:>10}",
                        short(*ts),
                        readable(c.bytes_out as f64, true),
                        readable(c.bytes_in as f64, true),
                        readable(bucket_rate(&s, k, c), false) + "/s"
                    )?;
                }
            }
            if s.lines.is_empty() {
                writeln!(out, "no traffic in the range")?;
            }
            if let Some(n) = covered_note(&p.range, &s.covered) {
                writeln!(out, "{n}")?;
            }
        }
    }
    Ok(())
}

fn flows(a: &FlowsArgs, db: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let p = a.common.prepare()?;
    let store = open(db)?;
    let limit = if a.limit == 0 { usize::MAX } else { a.limit };
    let (v, n, covered) = query::flows(&store, &p.range, &p.sel, p.pred.as_deref(), limit)
        .map_err(|e| anyhow!("{e}"))?;
    match p.format {
        Format::Json => {
            for f in &v {
                let mut j = counts_json(&f.counts);
                j["iface"] = json!(&*f.id.iface);
                j["local"] = json!(f.id.local.to_string());
                j["local_port"] = json!(f.id.local_port);
                j["remote"] = json!(f.id.remote.to_string());
                j["remote_port"] = json!(f.id.remote_port);
                j["protocol"] = json!(proto::name(f.id.protocol));
                j["process"] = json!(f.id.process.as_deref());
                j["first"] = json!(rfc3339(f.first));
                j["last"] = json!(rfc3339(f.last));
                writeln!(out, "{}", tidied(j))?;
            }
        }
        Format::Csv => {
            writeln!(out, "first,last,iface,protocol,local,local_port,remote,remote_port,process,packets_out,bytes_out,packets_in,bytes_in")?;
            for f in &v {
                let c = &f.counts;
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    rfc3339(f.first),
                    rfc3339(f.last),
                    csv_field(&f.id.iface),
                    proto::name(f.id.protocol),
                    f.id.local,
                    f.id.local_port,
                    f.id.remote,
                    f.id.remote_port,
                    csv_field(f.id.process.as_deref().unwrap_or("")),
                    c.packets_out,
                    c.bytes_out,
                    c.packets_in,
                    c.bytes_in
                )?;
            }
        }
        Format::Table => {
            writeln!(
                out,
                "{} of {n} flows, {} – {} UTC, most bytes first",
                v.len(),
                short(covered.from),
                short(covered.to)
            )?;
            let end = |a: IpAddr, p: u16| match a {
                IpAddr::V6(_) => format!("[{a}]:{p}"),
                IpAddr::V4(_) => format!("{a}:{p}"),
            };
            let rows: Vec<[String; 8]> = v
                .iter()
                .map(|f| {
                    [
                        short(f.first),
                        short(f.last),
                        proto::name(f.id.protocol).into_owned(),
                        end(f.id.local, f.id.local_port),
                        end(f.id.remote, f.id.remote_port),
                        f.id.process.as_deref().unwrap_or("").to_string(),
                        readable(f.counts.bytes_out as f64, true),
                        readable(f.counts.bytes_in as f64, true),
                    ]
                })
                .collect();
            let head = [
                "first", "last", "proto", "local", "remote", "process", "sent", "received",
            ];
            let mut w = head.map(str::len);
            for r in &rows {
                for (k, c) in r.iter().enumerate() {
                    w[k] = w[k].max(c.len());
                }
            }
            let line = |cells: [&str; 8]| -> String {
                cells
                    .iter()
                    .enumerate()
                    .map(|(k, c)| {
                        if k >= 6 {
                            format!("{c:>width$}", width = w[k])
                        } else {
                            format!("{c:<width$}", width = w[k])
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            writeln!(out, "{}", line(head))?;
            for r in &rows {
                writeln!(out, "{}", line(r.each_ref().map(String::as_str)))?;
            }
            if let Some(n) = covered_note(&p.range, &covered) {
                writeln!(out, "{n}")?;
            }
        }
    }
    Ok(())
}

fn plot(a: &PlotArgs, db: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let svg = chart_target("--out", &a.out, a.width, a.height)?;
    if a.common.json || a.common.csv {
        bail!("plot writes a chart: --json and --csv belong to series");
    }
    let (_, s) = run_series(&a.common, a.step.as_deref(), 200, Some(a.by), a.limit, db)?;
    let by = format!("{:?}", a.by).to_lowercase();
    let chart = wirewatch_plot::Chart {
        title: a.title.clone().unwrap_or_else(|| {
            format!(
                "wirewatch: top {} by {by}, every {}",
                s.lines.len(),
                humanize_step(s.step)
            )
        }),
        y_unit: "bit/s".into(),
        series: s
            .lines
            .iter()
            .map(|(name, pts)| wirewatch_plot::Series {
                name: name.clone(),
                points: s
                    .buckets
                    .iter()
                    .zip(pts)
                    .enumerate()
                    .map(|(k, (ts, c))| (*ts, bucket_rate(&s, k, c)))
                    .collect(),
                ..Default::default()
            })
            .collect(),
        bands: vec![],
        markers: vec![],
        width: a.width,
        height: a.height,
    };
    write_chart("--out", &a.out, svg, &chart)?;
    writeln!(
        out,
        "wrote {} ({}x{}, {} lines, {} – {} UTC)",
        a.out.display(),
        a.width,
        a.height,
        chart.series.len(),
        short(s.covered.from),
        short(s.covered.to)
    )?;
    Ok(())
}

fn alerts(a: &AlertsArgs, db: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let range = parse_range(&a.since, &a.until)?;
    let store = open(db)?;
    let (kept, n) = newest_alerts(&store, &range, a.kind.as_deref(), all_if_zero(a.limit))?;
    if a.json {
        alerts_json(db, &kept, out)
    } else {
        alerts_table(a, &range, &kept, n, out)
    }
}

/// When an alert fired, RFC 3339.
fn alert_time(r: &AlertRecord) -> String {
    Timestamp::from_nanos(r.ts_nanos).to_rfc3339()
}

/// The newest `limit` alerts of `kind` in `range`, in time order, and how
/// many there were in all.
fn newest_alerts(
    store: &SqliteStore,
    range: &Range,
    kind: Option<&str>,
    limit: usize,
) -> anyhow::Result<(std::collections::VecDeque<AlertRecord>, usize)> {
    const NANOS: i64 = 1_000_000_000;
    let (from, to) = (
        range.from.saturating_mul(NANOS),
        range.to.saturating_mul(NANOS),
    );
    let mut kept = std::collections::VecDeque::new();
    let mut n = 0usize;
    store
        .alerts(from, to, kind, &mut |r: &AlertRecord| {
            n += 1;
            if kept.len() == limit {
                kept.pop_front();
            }
            kept.push_back(r.clone());
        })
        .map_err(|e| anyhow!("{e}"))?;
    Ok((kept, n))
}

/// `--json`: each alert's JSON as it was printed live (its text, so the
/// order of its fields is kept too), checked to be JSON.
fn alerts_json(
    db: &Path,
    kept: &std::collections::VecDeque<AlertRecord>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let time = alert_time;
    let mut s = String::from("[");
    for (k, r) in kept.iter().enumerate() {
        serde_json::from_str::<Value>(&r.detail).map_err(|e| {
            anyhow!(
                "{}: the alert of {} is not JSON ({e}): a damaged database?",
                db.display(),
                time(r)
            )
        })?;
        if k > 0 {
            s.push(',');
        }
        s.push_str(r.detail.trim());
    }
    s.push(']');
    writeln!(out, "{s}")?;
    Ok(())
}

/// The table, or `--csv`.
fn alerts_table(
    a: &AlertsArgs,
    range: &Range,
    kept: &std::collections::VecDeque<AlertRecord>,
    n: usize,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let time = alert_time;
    let rows: Vec<[String; 5]> = kept
        .iter()
        .map(|r| {
            [
                time(r),
                r.severity.clone(),
                r.kind.clone(),
                r.entity.clone(),
                r.summary.clone(),
            ]
        })
        .collect();
    let head = ["time", "severity", "kind", "entity", "summary"];
    if a.csv {
        writeln!(out, "{}", head.join(","))?;
        for r in &rows {
            let cells: Vec<String> = r.iter().map(|c| csv_field(c)).collect();
            writeln!(out, "{}", cells.join(","))?;
        }
        return Ok(());
    }
    let what = format!(
        "{}alert{}",
        a.kind
            .as_deref()
            .map(|k| format!("{k} "))
            .unwrap_or_default(),
        if n == 1 { "" } else { "s" }
    );
    if n == 0 {
        writeln!(
            out,
            "no {what} in {} – {} UTC",
            short(range.from),
            short(range.to)
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{}{n} {what}, {} – {} UTC, oldest first",
        if rows.len() < n {
            format!("the newest {} of ", rows.len())
        } else {
            String::new()
        },
        short(range.from),
        short(range.to)
    )?;
    let mut w = head.map(str::len);
    for r in &rows {
        for (k, c) in r.iter().enumerate() {
            w[k] = w[k].max(c.chars().count());
        }
    }
    let line = |cells: [&str; 5]| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let pad = w[k].saturating_sub(c.chars().count());
                format!("{c}{}", " ".repeat(pad))
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    writeln!(out, "{}", line(head))?;
    for r in &rows {
        writeln!(out, "{}", line(r.each_ref().map(String::as_str)))?;
    }
    Ok(())
}
