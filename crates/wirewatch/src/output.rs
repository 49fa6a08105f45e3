//! Report sinks: iftop-style text, NDJSON and CSV.

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;

use serde_json::{json, Value};
use wirewatch_flow::{DirView, Snapshot, Stats, TcpTotals, View};
use wirewatch_pipeline::json::tidied;
use wirewatch_pipeline::report_json;
use wirewatch_procs::Owner;
// iftop's sizes, kept reachable here for the callers of this path.
pub use wirewatch_units::readable;
use wirewatch_wire::{linktype, proto, tcp_flags, Timestamp};

use wirewatch_flow::{FlowTable, SortKey};
use wirewatch_pipeline::{CaptureStats, Consumer, Context, Ending, Outbox, Tick};

use crate::settings::{Format, Settings};

/// Which report this is.
#[derive(Clone, Copy, Debug)]
pub enum ReportKind {
    /// A periodic report covering `[start, end)` of capture time.
    Interval {
        /// Interval start.
        start: Timestamp,
        /// Interval end.
        end: Timestamp,
    },
    /// The report at the end of the input.
    Final,
}

/// End-of-run facts beside the final snapshot.
pub struct Summary<'a> {
    /// Input name.
    pub input: &'a str,
    /// Link types the capture announced.
    pub link_types: &'a [u32],
    /// A cut-off last record.
    pub warning: Option<&'a str>,
    /// A read error that stopped the run early.
    pub error: Option<&'a str>,
    /// Kernel counters (live capture only).
    pub capture: Option<&'a CaptureStats>,
    /// TCP health of the connections analysed (`--tcp`).
    pub tcp: Option<&'a TcpTotals>,
    /// DNS transactions (`--tcp`).
    pub dns: Option<&'a wirewatch_flow::DnsTotals>,
}

/// Clients and servers listed in the JSON summary's `dns` object, each.
pub const DNS_JSON_HOSTS: usize = 100;

/// A push-style consumer of reports.
pub trait Sink {
    /// One report.
    fn report(&mut self, snap: &Snapshot, kind: ReportKind) -> io::Result<()>;
    /// After the final report.
    fn finish(&mut self, snap: &Snapshot, summary: &Summary) -> io::Result<()>;
    /// Kernel counters to show with the following reports (live capture).
    fn set_capture(&mut self, capture: &CaptureStats);
    /// Pushes buffered output out (after each live report, so a reader of
    /// the pipe sees it when it is made).
    fn flush(&mut self) -> io::Result<()>;
    /// The owners entries' `owner` ids refer to (id = index + 1); sinks
    /// that print processes keep a copy.
    fn set_owners(&mut self, _owners: &[Owner]) {}
}

/// Owners known to a sink, extended as the registry grows (it only appends).
#[derive(Default)]
struct OwnerCopy(Vec<Owner>);

impl OwnerCopy {
    fn update(&mut self, all: &[Owner]) {
        if all.len() > self.0.len() {
            self.0.extend_from_slice(&all[self.0.len()..]);
        }
    }

    fn get(&self, id: u32) -> Option<&Owner> {
        self.0.get((id as usize).checked_sub(1)?)
    }
}

/// The sink for the chosen format.
pub fn make_sink(s: &Settings, out: Box<dyn Write>) -> Box<dyn Sink> {
    let out = io::BufWriter::with_capacity(64 * 1024, out);
    match s.format {
        Format::Text => Box::new(TextSink {
            out,
            capture: None,
            lines: s.lines,
            bytes_units: s.bytes_units,
            summary: s.summary,
        }),
        Format::Json => Box::new(JsonSink {
            out,
            capture: None,
            owners: OwnerCopy::default(),
        }),
        Format::Csv => Box::new(CsvSink {
            out,
            capture: None,
            owners: OwnerCopy::default(),
            header: false,
            summary: s.summary,
            tcp: s.flow.tcp_analysis,
        }),
    }
}

/// A progress bar on stderr sized to the file, or `None` for stdin.
pub fn progress_bar(path: &Path) -> Option<indicatif::ProgressBar> {
    let len = std::fs::metadata(path).ok().filter(|m| m.is_file())?.len();
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

fn host(a: Option<IpAddr>, port: Option<u16>, protocol: Option<u8>) -> String {
    let h = a.map_or("*".to_string(), |a| a.to_string());
    match (port, protocol) {
        (Some(p), Some(pr)) if proto::has_ports(pr) => format!("{h}:{p}"),
        (_, Some(pr)) => format!("{h} ({})", proto::name(pr)),
        _ => h,
    }
}

struct TextSink<W: Write> {
    out: W,
    capture: Option<CaptureStats>,
    lines: Option<usize>,
    bytes_units: bool,
    summary: bool,
}

const RULE: &str =
    "--------------------------------------------------------------------------------------------";

impl<W: Write> TextSink<W> {
    fn rate(&self, bytes_per_s: f64) -> String {
        readable(
            if self.bytes_units {
                bytes_per_s
            } else {
                bytes_per_s * 8.0
            },
            self.bytes_units,
        )
    }

    fn row(&mut self, n: &str, h: &str, arrow: &str, d: &DirView) -> io::Result<()> {
        writeln!(
            self.out,
            "{n:>4} {h:<39} {arrow} {:>10} {:>10} {:>10} {:>10}",
            self.rate(d.rates[0]),
            self.rate(d.rates[1]),
            self.rate(d.rates[2]),
            readable(d.bytes as f64, true)
        )
    }

    fn totals_row(&mut self, label: &str, r: [f64; 3]) -> io::Result<()> {
        writeln!(
            self.out,
            "{label:<47} {:>10} {:>10} {:>10}",
            self.rate(r[0]),
            self.rate(r[1]),
            self.rate(r[2])
        )
    }
}

impl<W: Write> Sink for TextSink<W> {
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn report(&mut self, snap: &Snapshot, kind: ReportKind) -> io::Result<()> {
        match kind {
            ReportKind::Interval { start, end } => writeln!(
                self.out,
                "Interval {} .. {}",
                start.to_rfc3339(),
                end.to_rfc3339()
            )?,
            ReportKind::Final => writeln!(self.out, "Final report at {}", snap.at.to_rfc3339())?,
        }
        writeln!(
            self.out,
            "{:>4} {:<39} {:>2} {:>10} {:>10} {:>10} {:>10}",
            "#",
            "Host name (port/service if enabled)",
            "",
            "last 2s",
            "last 10s",
            "last 40s",
            "cumulative"
        )?;
        writeln!(self.out, "{RULE}")?;
        let limit = self.lines.unwrap_or(usize::MAX);
        for (i, e) in snap.entries.iter().take(limit).enumerate() {
            let src = host(e.key.src, e.key.src_port, e.key.protocol);
            let dst = host(e.key.dst, e.key.dst_port, e.key.protocol);
            self.row(&(i + 1).to_string(), &src, "=>", &e.sent)?;
            self.row("", &dst, "<=", &e.recv)?;
            if let Some(t) = &e.tcp {
                writeln!(self.out, "     {}", tcp_line(t))?;
            }
        }
        if let Some(o) = &snap.other {
            self.row("", &other_label(o.flows), "=>", &o.entry.sent)?;
            self.row("", "", "<=", &o.entry.recv)?;
        }
        writeln!(self.out, "{RULE}")?;
        let t = snap.totals;
        self.totals_row("Total send rate:", t.rates[0])?;
        self.totals_row("Total receive rate:", t.rates[1])?;
        self.totals_row("Total send and receive rate:", t.rates[2])?;
        writeln!(self.out, "{RULE}")?;
        writeln!(
            self.out,
            "{:<47} {:>10} {:>10} {:>10}",
            "Peak rate (sent/received/total):",
            self.rate(t.peak[0]),
            self.rate(t.peak[1]),
            self.rate(t.peak[2])
        )?;
        writeln!(
            self.out,
            "{:<47} {:>10} {:>10} {:>10}",
            "Cumulative (sent/received/total):",
            readable(t.cumulative[0] as f64, true),
            readable(t.cumulative[1] as f64, true),
            readable(t.cumulative[2] as f64, true)
        )?;
        if let Some(c) = &self.capture {
            writeln!(
                self.out,
                "{:<47} {:>10} {:>10}",
                "Kernel packets (received/dropped):",
                c.received(),
                c.dropped()
            )?;
        }
        writeln!(self.out, "{}", "=".repeat(RULE.len()))?;
        writeln!(self.out)
    }

    fn finish(&mut self, snap: &Snapshot, summary: &Summary) -> io::Result<()> {
        if self.summary {
            write_summary_text(&mut self.out, snap, summary)?;
        }
        self.out.flush()
    }

    fn set_capture(&mut self, capture: &CaptureStats) {
        self.capture = Some(capture.clone());
    }
}

/// The name of the "other flows" line.
pub fn other_label(flows: u64) -> String {
    format!("({flows} other flow{})", if flows == 1 { "" } else { "s" })
}

/// An entry's TCP health under its two lines (`--tcp`): RTT, handshake,
/// and each count as `sent/received`.
fn tcp_line(t: &wirewatch_flow::EntryTcp) -> String {
    let ms = |ns: u64| format!("{:.1} ms", ns as f64 / 1e6);
    let rtt = t.rtt_nanos().map_or("rtt -".to_string(), |r| {
        format!(
            "rtt {} ({}..{})",
            ms(r),
            ms(t.rtt_min_nanos),
            ms(t.rtt_max_nanos)
        )
    });
    let hs = t
        .handshake_nanos
        .map_or(String::new(), |h| format!(", handshake {}", ms(h)));
    let pair = |v: [u64; 2]| format!("{}/{}", v[0], v[1]);
    format!(
        "tcp: {rtt}{hs}; retransmitted {}, out of order {}, dup ACKs {}, zero window {} (=>/<=)",
        pair(t.retransmissions),
        pair(t.out_of_order),
        pair(t.duplicate_acks),
        pair(t.zero_window)
    )
}

/// The TCP health lines of the summary (`--tcp`).
fn write_tcp_text(out: &mut dyn Write, t: &TcpTotals) -> io::Result<()> {
    let pct = |n: u64| {
        if t.packets == 0 {
            0.0
        } else {
            n as f64 * 100.0 / t.packets as f64
        }
    };
    writeln!(
        out,
        "  TCP connections analysed: {} ({} segments){}",
        t.connections,
        t.packets,
        if t.unanalysed > 0 {
            format!(
                "; {} not analysed (most analyses at once reached)",
                t.unanalysed
            )
        } else {
            String::new()
        }
    )?;
    writeln!(
        out,
        "    retransmissions:  {} ({:.2} % of segments, {} B; {} fast)",
        t.retransmissions,
        pct(t.retransmissions),
        t.retransmitted_bytes,
        t.fast_retransmissions
    )?;
    writeln!(
        out,
        "    out of order: {}, duplicate ACKs: {}, resets: {}, keep-alives: {}",
        t.out_of_order, t.duplicate_acks, t.resets, t.keep_alives
    )?;
    writeln!(
        out,
        "    zero window: {} segment(s), {} time(s), {:.3} s in all; bytes ACKed the capture never saw: {}",
        t.zero_window,
        t.zero_window_events,
        t.zero_window_nanos as f64 / 1e9,
        t.acked_unseen_bytes
    )?;
    let ms = |v: Option<u64>| v.map_or("-".to_string(), |ns| format!("{:.1} ms", ns as f64 / 1e6));
    writeln!(
        out,
        "    handshake RTT ({} handshakes): median {}, p95 {} (server side median {}, client side median {})",
        t.handshake_rtt.count(),
        ms(t.handshake_rtt.quantile(0.5)),
        ms(t.handshake_rtt.quantile(0.95)),
        ms(t.server_rtt.quantile(0.5)),
        ms(t.client_rtt.quantile(0.5))
    )
}

/// The summary block as text.
fn write_summary_text(out: &mut dyn Write, snap: &Snapshot, s: &Summary) -> io::Result<()> {
    let st = &snap.stats;
    writeln!(out, "Summary of {}", s.input)?;
    writeln!(out, "  packets:            {}", st.packets)?;
    writeln!(out, "  frame bytes:        {}", st.frame_bytes)?;
    writeln!(out, "  IP packets:         {}", st.ip_packets)?;
    writeln!(out, "  IP bytes:           {}", st.ip_bytes)?;
    writeln!(out, "  non-IP packets:     {}", st.non_ip_packets)?;
    writeln!(out, "  truncated packets:  {}", st.truncated_packets)?;
    let entries = format!("entries ({}):", report_json::view_name(snap.view));
    writeln!(out, "  {entries:<20}{}", snap.entries.len())?;
    match (st.first_ts, st.last_ts) {
        (Some(a), Some(b)) => writeln!(
            out,
            "  capture span:       {} .. {} ({:.3} s)",
            a.to_rfc3339(),
            b.to_rfc3339(),
            b.nanos_since(a) as f64 / 1e9
        )?,
        _ => writeln!(out, "  capture span:       (no packets)")?,
    }
    let lts: Vec<String> = s
        .link_types
        .iter()
        .map(|&l| format!("{} ({l})", linktype::name(l)))
        .collect();
    writeln!(
        out,
        "  link types:         {}",
        if lts.is_empty() {
            "-".into()
        } else {
            lts.join(", ")
        }
    )?;
    let errs = st.decode_errors_by_reason();
    if errs.is_empty() {
        writeln!(out, "  decode errors:      0")?;
    } else {
        writeln!(out, "  decode errors:      {}", st.decode_errors_total())?;
        for (e, n) in errs {
            writeln!(out, "    {:<26} {n}", e.as_str())?;
        }
    }
    if st.excluded > 0 {
        writeln!(
            out,
            "  IP headers left out (-F/-G, link-local): {}",
            st.excluded
        )?;
    }
    if st.orphan_fragments > 0 {
        writeln!(
            out,
            "  fragments without their first fragment: {}",
            st.orphan_fragments
        )?;
    }
    if st.expired_flows + st.evicted_flows > 0 {
        writeln!(
            out,
            "  flows folded into other flows: {} (idle: {}, over the flow limit: {})",
            st.expired_flows + st.evicted_flows,
            st.expired_flows,
            st.evicted_flows
        )?;
    }
    if st.untracked_fragments > 0 {
        writeln!(
            out,
            "  first fragments not tracked (fragment table full): {}",
            st.untracked_fragments
        )?;
    }
    if let Some(t) = s.tcp {
        write_tcp_text(out, t)?;
    }
    if let Some(d) = s.dns {
        crate::dns_text::write_dns_text(out, d)?;
    }
    for (lt, n) in &st.unknown_link_types {
        writeln!(
            out,
            "  unsupported link type {} ({lt}): {n} packets",
            linktype::name(*lt)
        )?;
    }
    if let Some(c) = s.capture {
        writeln!(out, "  kernel received:    {}", c.received())?;
        writeln!(out, "  kernel dropped:     {}", c.dropped())?;
        for i in &c.interfaces {
            writeln!(
                out,
                "    {:<16} {:<10} received {:>12}  dropped {:>10}  ({})",
                i.name,
                linktype::name(i.link_type),
                i.received,
                i.dropped,
                i.state
            )?;
        }
    }
    if let Some(w) = s.warning {
        writeln!(out, "  warning: {w}")?;
    }
    if let Some(e) = s.error {
        writeln!(out, "  stopped early: {e}")?;
    }
    Ok(())
}

fn stats_json(st: &Stats, s: Option<&Summary>) -> Value {
    let mut v = report_json::stats_json(st);
    if let (Some(s), Some(o)) = (s, v.as_object_mut()) {
        o.insert("input".into(), s.input.into());
        o.insert(
            "link_types".into(),
            s.link_types
                .iter()
                .map(|&l| json!({"id": l, "name": linktype::name(l)}))
                .collect(),
        );
        o.insert("warning".into(), s.warning.into());
        o.insert("error".into(), s.error.into());
        o.insert(
            "capture".into(),
            s.capture.map_or(Value::Null, report_json::capture_json),
        );
    }
    v
}

struct JsonSink<W: Write> {
    out: W,
    capture: Option<CaptureStats>,
    owners: OwnerCopy,
}

impl<W: Write> Sink for JsonSink<W> {
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn report(&mut self, snap: &Snapshot, kind: ReportKind) -> io::Result<()> {
        let (k, start, end) = match kind {
            ReportKind::Interval { start, end } => (
                "interval",
                Some(start.as_secs_f64()),
                Some(end.as_secs_f64()),
            ),
            ReportKind::Final => ("final", None, None),
        };
        // Written piecewise so a report with many entries never exists twice in memory.
        let head = report_json::head_json(snap, k, start, end, self.capture.as_ref());
        let head = serde_json::to_string(&tidied(head))?;
        // Drop the closing brace, append the entries array, close again.
        self.out.write_all(&head.as_bytes()[..head.len() - 1])?;
        self.out.write_all(b",\"entries\":[")?;
        for (i, e) in snap.entries.iter().enumerate() {
            if i > 0 {
                self.out.write_all(b",")?;
            }
            serde_json::to_writer(
                &mut self.out,
                &tidied(report_json::entry_json(e, self.owners.get(e.owner))),
            )?;
        }
        writeln!(self.out, "]}}")
    }

    fn set_owners(&mut self, owners: &[Owner]) {
        self.owners.update(owners);
    }

    fn finish(&mut self, snap: &Snapshot, summary: &Summary) -> io::Result<()> {
        let mut v = stats_json(&snap.stats, Some(summary));
        if let Some(o) = v.as_object_mut() {
            o.insert("type".into(), "summary".into());
            if let Some(t) = summary.tcp {
                o.insert("tcp".into(), report_json::tcp_json(t));
            }
            if let Some(d) = summary.dns {
                o.insert("dns".into(), report_json::dns_json(d, DNS_JSON_HOSTS));
            }
        }
        serde_json::to_writer(&mut self.out, &tidied(v))?;
        writeln!(self.out)?;
        self.out.flush()
    }

    fn set_capture(&mut self, capture: &CaptureStats) {
        self.capture = Some(capture.clone());
    }
}

struct CsvSink<W: Write> {
    out: W,
    capture: Option<CaptureStats>,
    owners: OwnerCopy,
    header: bool,
    summary: bool,
    /// `--tcp`: [`CSV_TCP_COLUMNS`] after the others.
    tcp: bool,
}

/// The columns `--tcp` adds after [`CSV_HEADER`]'s (empty for entries
/// without an analysed connection).
pub const CSV_TCP_COLUMNS: &str = "tcp_connections,retransmissions_src_to_dst,retransmissions_dst_to_src,\
out_of_order_src_to_dst,out_of_order_dst_to_src,duplicate_acks_src_to_dst,duplicate_acks_dst_to_src,\
zero_window_src_to_dst,zero_window_dst_to_src,rtt_min_ms,rtt_ms,rtt_max_ms,handshake_ms";

/// An entry's [`CSV_TCP_COLUMNS`] fields, each after a comma.
fn csv_tcp(t: Option<&wirewatch_flow::EntryTcp>) -> String {
    let Some(t) = t else {
        return ",".repeat(13);
    };
    let ms = |ns: u64| format!("{:.3}", ns as f64 / 1e6);
    let rtt = t.rtt_nanos();
    let fields = [
        t.connections.to_string(),
        t.retransmissions[0].to_string(),
        t.retransmissions[1].to_string(),
        t.out_of_order[0].to_string(),
        t.out_of_order[1].to_string(),
        t.duplicate_acks[0].to_string(),
        t.duplicate_acks[1].to_string(),
        t.zero_window[0].to_string(),
        t.zero_window[1].to_string(),
        rtt.map_or(String::new(), |_| ms(t.rtt_min_nanos)),
        rtt.map_or(String::new(), ms),
        rtt.map_or(String::new(), |_| ms(t.rtt_max_nanos)),
        t.handshake_nanos.map_or(String::new(), ms),
    ];
    fields.iter().map(|f| format!(",{f}")).collect()
}

/// The CSV header; the first seven columns are a contract.
pub const CSV_HEADER: &str = "family,src,dst,packets_src_to_dst,bytes_src_to_dst,packets_dst_to_src,bytes_dst_to_src,\
src_port,dst_port,protocol,flows,ip_bytes_src_to_dst,frame_bytes_src_to_dst,ip_bytes_dst_to_src,frame_bytes_dst_to_src,\
tcp_flags_src_to_dst,tcp_flags_dst_to_src,rate_2s_src_to_dst,rate_10s_src_to_dst,rate_40s_src_to_dst,\
rate_2s_dst_to_src,rate_10s_dst_to_src,rate_40s_dst_to_src,first_seen,last_seen,report,report_end,\
kernel_received,kernel_dropped,pid,process";

/// A CSV field, quoted when it holds a comma, quote or line break.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or(String::new(), |x| x.to_string())
}

impl<W: Write> Sink for CsvSink<W> {
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn report(&mut self, snap: &Snapshot, kind: ReportKind) -> io::Result<()> {
        if !self.header {
            match self.tcp {
                true => writeln!(self.out, "{CSV_HEADER},{CSV_TCP_COLUMNS}")?,
                false => writeln!(self.out, "{CSV_HEADER}")?,
            }
            self.header = true;
        }
        let (k, end) = match kind {
            ReportKind::Interval { end, .. } => ("interval", end),
            ReportKind::Final => ("final", snap.at),
        };
        let (kr, kd) = self
            .capture
            .as_ref()
            .map_or((String::new(), String::new()), |c| {
                (c.received().to_string(), c.dropped().to_string())
            });
        let other = snap.other.as_ref().map(|o| (true, &o.entry));
        for (is_other, e) in snap.entries.iter().map(|e| (false, e)).chain(other) {
            let (s, r) = (&e.sent, &e.recv);
            let owner = self.owners.get(e.owner);
            write!(
                self.out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{},{},{},{},{},{},{},{}",
                if is_other { "other" } else { e.key.family() },
                e.key.src.map_or("*".into(), |a| a.to_string()),
                e.key.dst.map_or("*".into(), |a| a.to_string()),
                s.counters.packets,
                s.bytes,
                r.counters.packets,
                r.bytes,
                opt(e.key.src_port),
                opt(e.key.dst_port),
                opt(e.key.protocol.map(proto::name)),
                e.flows,
                s.counters.ip_bytes,
                s.counters.frame_bytes,
                r.counters.ip_bytes,
                r.counters.frame_bytes,
                tcp_flags::letters(s.counters.tcp_flags),
                tcp_flags::letters(r.counters.tcp_flags),
                s.rates[0],
                s.rates[1],
                s.rates[2],
                r.rates[0],
                r.rates[1],
                r.rates[2],
                e.first_seen,
                e.last_seen,
                k,
                end,
                kr,
                kd,
                opt(owner.filter(|o| o.pid != 0).map(|o| o.pid)),
                owner.map_or(String::new(), |o| csv_field(&o.label()))
            )?;
            if self.tcp {
                write!(self.out, "{}", csv_tcp(e.tcp.as_ref()))?;
            }
            writeln!(self.out)?;
        }
        Ok(())
    }

    fn set_owners(&mut self, owners: &[Owner]) {
        self.owners.update(owners);
    }

    fn finish(&mut self, snap: &Snapshot, summary: &Summary) -> io::Result<()> {
        self.out.flush()?;
        if self.summary {
            // stdout stays pure CSV; the summary goes to stderr.
            write_summary_text(&mut io::stderr().lock(), snap, summary)?;
        }
        Ok(())
    }

    fn set_capture(&mut self, capture: &CaptureStats) {
        self.capture = Some(capture.clone());
    }
}

/// The reports as a pipeline consumer: an interval report at each tick,
/// the final report and summary at the end, in the chosen format.
pub struct Report {
    sink: Box<dyn Sink>,
    view: View,
    interval_sort: SortKey,
    final_sort: SortKey,
    /// Live: process names sort, and each report is pushed out at once.
    live: bool,
}

impl Report {
    /// Reports of `s`'s format into `out`.
    pub fn new(s: &Settings, out: Box<dyn Write>, live: bool) -> Report {
        Report {
            sink: make_sink(s, out),
            view: s.view,
            interval_sort: s.interval_sort,
            final_sort: s.final_sort,
            live,
        }
    }

    fn snapshot(
        &mut self,
        table: &FlowTable,
        cx: &Context<'_>,
        sort: SortKey,
        slot: i64,
        interval: bool,
    ) -> Snapshot {
        if self.live {
            self.sink.set_owners(cx.owners.all());
        }
        let mut snap = Snapshot::build(table, self.view, sort, slot, interval);
        if self.live {
            cx.owners.sort_by_name(&mut snap, sort);
        }
        if let Some(c) = cx.capture {
            self.sink.set_capture(c);
        }
        snap
    }
}

impl Consumer for Report {
    fn name(&self) -> &'static str {
        "report"
    }

    fn tick(&mut self, table: &FlowTable, tick: &Tick, cx: &Context<'_>) -> io::Result<()> {
        let snap = self.snapshot(table, cx, self.interval_sort, tick.slot, true);
        self.sink.report(
            &snap,
            ReportKind::Interval {
                start: tick.start,
                end: tick.end,
            },
        )?;
        if self.live {
            self.sink.flush()?;
        }
        Ok(())
    }

    fn finish(
        &mut self,
        table: &mut FlowTable,
        end: &Ending,
        cx: &Context<'_>,
        _out: &mut Outbox,
    ) -> anyhow::Result<()> {
        let slot = table.slot_of(table.now());
        let snap = self.snapshot(table, cx, self.final_sort, slot, false);
        let tcp = table.tcp_analysis().then(|| table.tcp_totals());
        let dns = table.dns().map(|d| d.totals());
        let summary = Summary {
            input: &end.input,
            link_types: &end.link_types,
            warning: end.warning.as_deref(),
            error: end.error.as_deref(),
            capture: end.capture.as_ref(),
            tcp: tcp.as_ref(),
            dns: dns.as_ref(),
        };
        self.sink
            .report(&snap, ReportKind::Final)
            .and_then(|_| self.sink.finish(&snap, &summary))?;
        Ok(())
    }
}
