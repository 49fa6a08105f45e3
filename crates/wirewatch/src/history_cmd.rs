//! `wirewatch history top|series|flows|plot|alerts`: queries of the
//! history store, printed as a table, JSON or CSV, or drawn as a chart.
//! The checks, the queries and the JSON are `wirewatch_pipeline::requests`
//! (which the web API shares); the tables, CSV and charts are here.

use crate::cli::history::{
    AlertsArgs, Common, FlowsArgs, HistoryArgs, PlotArgs, Query, SeriesArgs, TopArgs,
};
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use anyhow::bail;
use wirewatch_pipeline::json::tidied;
use wirewatch_pipeline::requests::history::{
    self as req, alert_time, bucket_rate, AlertsRequest, Bounds, FlowsRequest, Selector,
    SeriesRequest, TopRequest,
};
use wirewatch_pipeline::requests::params::Metric;
use wirewatch_store::query::{self, Range};
use wirewatch_store::time::{rfc3339, short};
use wirewatch_store::AlertRecord;
use wirewatch_wire::proto;

use crate::chart::{chart_target, humanize_step, write_chart};
use crate::output::{csv_field, readable};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Table,
    Json,
    Csv,
}

impl Common {
    /// The range and selection as the shared request takes them.
    fn selector(&self) -> Selector {
        Selector {
            since: self.since.clone(),
            until: self.until.clone(),
            last: self.last.clone(),
            iface: self.iface.clone(),
            host: self.host,
            process: self.process.clone(),
            port: self.port,
            proto: self.proto.clone(),
            filter: self.filter.clone(),
        }
    }

    fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else if self.csv {
            Format::Csv
        } else {
            Format::Table
        }
    }
}

/// The time queries count back from.
fn now() -> i64 {
    crate::clock::now_secs()
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

fn top(a: &TopArgs, db: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let request = TopRequest {
        by: a.by,
        sort: a.sort,
        limit: a.limit,
        sel: a.common.selector(),
    };
    let plan = request.plan(now(), Bounds::CLI)?;
    let store = req::open(db)?;
    let t = plan.run(&store)?;
    let p = &plan.p;
    match a.common.format() {
        Format::Json => writeln!(out, "{}", tidied(req::top_json(a.by, &t, &p.range)))?,
        Format::Csv => {
            let tcp = shows_tcp(&t);
            let more = if tcp { TCP_CSV_HEAD } else { "" };
            writeln!(
                out,
                "key,packets_out,bytes_out,packets_in,bytes_in,bytes{more}"
            )?;
            for e in &t.entries {
                let c = &e.counts;
                writeln!(
                    out,
                    "{},{},{},{},{},{}{}",
                    csv_field(&e.key),
                    c.packets_out,
                    c.bytes_out,
                    c.packets_in,
                    c.bytes_in,
                    c.bytes(),
                    if tcp { tcp_csv(&c.tcp) } else { String::new() }
                )?;
            }
        }
        Format::Table => {
            let by = wirewatch_pipeline::requests::params::by_name(a.by);
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
            let tcp = shows_tcp(&t);
            let more = if tcp {
                format!("  {:>8}  {:>10}", "retrans", "rtt")
            } else {
                String::new()
            };
            writeln!(
                out,
                "{:<w$}  {:>10}  {:>10}  {:>10}  {:>6}{more}",
                by, "sent", "received", "total", "share"
            )?;
            let all = t.total.bytes().max(1) as f64;
            for e in &t.entries {
                let c = &e.counts;
                let more = if tcp {
                    format!(
                        "  {:>8}  {:>10}",
                        c.tcp.retransmissions(),
                        rtt_text(c.tcp.rtt_us())
                    )
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "{:<w$}  {:>10}  {:>10}  {:>10}  {:>5.1}%{more}",
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
            if let Some(n) = req::covered_note(&p.range, &t.covered) {
                writeln!(out, "note: {n}")?;
            }
        }
    }
    if t.entities == 0 {
        crate::message::note(&format!(
            "nothing recorded {} – {} UTC: {}",
            short(p.range.from),
            short(p.range.to),
            req::where_data_is(&store, p.sel.host.is_some(), |r| format!(
                "--since {} --until {}",
                rfc3339(r.from),
                rfc3339(r.to)
            ))?
        ));
    }
    Ok(())
}

/// The TCP columns of `history top --csv` when it shows them.
const TCP_CSV_HEAD: &str = ",retrans_out,retrans_in,rtt_ms";

/// Whether a top list shows TCP health: ranked by it, or some entry has it.
fn shows_tcp(t: &query::Top) -> bool {
    t.order.is_tcp()
        || t.entries
            .iter()
            .any(|e| e.counts.tcp != wirewatch_store::TcpCounts::default())
}

/// The TCP cells of a CSV line ([`TCP_CSV_HEAD`]).
fn tcp_csv(t: &wirewatch_store::TcpCounts) -> String {
    format!(
        ",{},{},{}",
        t.retrans_out,
        t.retrans_in,
        t.rtt_us()
            .map_or(String::new(), |us| format!("{:.3}", us / 1e3))
    )
}

/// A round trip in ms for a table, `-` without samples.
fn rtt_text(us: Option<f64>) -> String {
    us.map_or("-".into(), |us| format!("{:.1} ms", us / 1e3))
}

/// A TCP metric's value for a table or CSV (empty: nothing to measure).
fn metric_text(m: Metric, v: Option<f64>) -> String {
    match (m, v) {
        (_, None) => String::new(),
        (Metric::RetransRate, Some(r)) => format!("{:.3}%", 100.0 * r),
        (_, Some(ms)) => format!("{ms:.1} ms"),
    }
}

/// What `history series` and `plot` ask for.
struct SeriesAsk<'a> {
    common: &'a Common,
    step: Option<&'a str>,
    /// Buckets aimed at without a step.
    buckets: i64,
    by: Option<wirewatch_pipeline::requests::params::By>,
    limit: usize,
    metric: Metric,
}

/// `history series` (with `plot`'s number of buckets aimed at) run.
fn run_series(a: SeriesAsk<'_>, db: &Path) -> anyhow::Result<(Range, query::Series)> {
    let request = SeriesRequest {
        step: a.step.map(str::to_string),
        by: a.by,
        limit: a.limit,
        metric: a.metric,
        sel: a.common.selector(),
    };
    let (p, s) = request.run(db, now(), a.buckets, Bounds::CLI)?;
    Ok((p.range, s))
}

fn series(a: &SeriesArgs, db: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let ask = SeriesAsk {
        common: &a.common,
        step: a.step.as_deref(),
        buckets: 100,
        by: a.by,
        limit: a.limit,
        metric: a.metric,
    };
    let (asked, s) = run_series(ask, db)?;
    if s.metric != Metric::Bytes && a.common.format() != Format::Json {
        return metric_series(&s, &asked, a.common.format(), out);
    }
    match a.common.format() {
        Format::Json => writeln!(out, "{}", tidied(req::series_json(&s, &asked)))?,
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
            if let Some(n) = req::covered_note(&asked, &s.covered) {
                writeln!(out, "note: {n}")?;
            }
        }
    }
    Ok(())
}

/// `history series --metric retrans_rate|rtt_p95` as a table or CSV.
fn metric_series(
    s: &query::Series,
    asked: &Range,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let name = s.metric.name();
    if format == Format::Csv {
        writeln!(out, "line,ts,packets,retrans,rtt_samples,{name}")?;
    }
    for (l, (line, pts)) in s.lines.iter().enumerate() {
        if format == Format::Table {
            writeln!(
                out,
                "{line}: {name} every {} from {} UTC",
                humanize_step(s.step),
                short(s.covered.from)
            )?;
            writeln!(
                out,
                "{:<16}  {:>10}  {:>8}  {:>10}",
                "time (UTC)", "packets", "retrans", name
            )?;
        }
        for (k, (ts, c)) in s.buckets.iter().zip(pts).enumerate() {
            let v = metric_text(s.metric, s.values[l][k]);
            match format {
                Format::Csv => writeln!(
                    out,
                    "{},{},{},{},{},{}",
                    csv_field(line),
                    rfc3339(*ts),
                    c.packets(),
                    c.tcp.retransmissions(),
                    c.tcp.rtt_samples(),
                    s.values[l][k].map_or(String::new(), |v| format!("{v:.6}"))
                )?,
                _ => writeln!(
                    out,
                    "{:<16}  {:>10}  {:>8}  {:>10}",
                    short(*ts),
                    c.packets(),
                    c.tcp.retransmissions(),
                    if v.is_empty() { "-".into() } else { v }
                )?,
            }
        }
    }
    if format == Format::Table {
        if s.lines.iter().all(|(_, p)| {
            p.iter()
                .all(|c| c.tcp.rtt_samples() == 0 && c.tcp.retransmissions() == 0)
        }) {
            writeln!(
                out,
                "no TCP health recorded in the range (record with --tcp)"
            )?;
        }
        if let Some(n) = req::covered_note(asked, &s.covered) {
            writeln!(out, "note: {n}")?;
        }
    }
    Ok(())
}

fn flows(a: &FlowsArgs, db: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let request = FlowsRequest {
        limit: a.limit,
        sel: a.common.selector(),
    };
    let (p, (v, n, covered)) = request.run(db, now(), Bounds::CLI)?;
    match a.common.format() {
        Format::Json => {
            for f in &v {
                writeln!(out, "{}", tidied(req::flow_json(f)))?;
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
            if let Some(n) = req::covered_note(&p.range, &covered) {
                writeln!(out, "note: {n}")?;
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
    let ask = SeriesAsk {
        common: &a.common,
        step: a.step.as_deref(),
        buckets: 200,
        by: Some(a.by),
        limit: a.limit,
        metric: a.metric,
    };
    let (_, s) = run_series(ask, db)?;
    let by = wirewatch_pipeline::requests::params::by_name(a.by);
    let (what, y_unit) = match a.metric {
        Metric::Bytes => ("", "bit/s"),
        Metric::RetransRate => (" (retransmissions per segment)", ""),
        Metric::RttP95 => (" (round trip p95)", "ms"),
    };
    let chart = wirewatch_plot::Chart {
        title: a.title.clone().unwrap_or_else(|| {
            format!(
                "wirewatch: top {} by {by}{what}, every {}",
                s.lines.len(),
                humanize_step(s.step)
            )
        }),
        y_unit: y_unit.into(),
        series: s
            .lines
            .iter()
            .enumerate()
            .map(|(l, (name, pts))| wirewatch_plot::Series {
                name: name.clone(),
                points: s
                    .buckets
                    .iter()
                    .zip(pts)
                    .enumerate()
                    .filter_map(|(k, (ts, c))| match s.metric {
                        Metric::Bytes => Some((*ts, bucket_rate(&s, k, c))),
                        _ => s.values[l][k].map(|v| (*ts, v)),
                    })
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
    let request = AlertsRequest {
        since: a.since.clone(),
        until: a.until.clone(),
        last: a.last.clone(),
        kind: a.kind.clone(),
        limit: a.limit,
    };
    let found = request.run(db, now(), Bounds::CLI)?;
    if a.json {
        writeln!(out, "{}", req::alerts_json(db, &found.kept)?)?;
        Ok(())
    } else {
        alerts_table(a, &found.range, &found.kept, found.total, out)
    }
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
