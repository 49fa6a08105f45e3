//! `/metrics`: Prometheus' text exposition format 0.0.4, or OpenMetrics
//! 1.0 when the client's `Accept` asks for it, written here (HELP and TYPE
//! once per family, its samples together, label values escaped).
//!
//! Per-host and per-process byte counters are kept for a capped, sticky
//! set of keys ([`Sticky`]) plus `other`, so the number of series is
//! bounded whatever the traffic.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{Display, Write};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::Ordering;

use wirewatch_flow::FlowTable;
use wirewatch_pipeline::Context;

use crate::api::Answer;
use crate::feed::LiveSnapshot;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `Content-Type` of OpenMetrics.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Hosts and processes with their own byte series when nothing else is said.
pub const DEFAULT_TOP_N: usize = 20;

/// Largest `top-n-metrics` accepted.
pub const MAX_TOP_N: usize = 1000;

/// The label value of everything not in the top-N set.
pub const OTHER: &str = "other";

/// A tracked key with no new traffic for this long (packet clock) leaves
/// the set.
pub const IDLE_NANOS: i64 = 300 * 1_000_000_000;

/// A tracked key stays at least this long before a busier one may take
/// its place.
pub const MIN_STAY_NANOS: i64 = 60 * 1_000_000_000;

/// How many times busier (bytes of its live flows) a newcomer must be than
/// the quietest tracked key to take its place in a full set.
pub const DISPLACE_FACTOR: u64 = 2;

/// The exposition formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4 (the default).
    Text,
    /// OpenMetrics 1.0 (`Accept: application/openmetrics-text`).
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for.
    pub fn from_accept(accept: Option<&[u8]>) -> Format {
        let wants = accept.is_some_and(|a| {
            String::from_utf8_lossy(a)
                .to_ascii_lowercase()
                .contains("application/openmetrics-text")
        });
        if wants {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Text => CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// `/metrics`'s answer: the hub's snapshot, the server's and this
/// process's own numbers in `format`.
pub fn answer(hub: &crate::Hub, format: Format) -> Answer {
    Answer {
        status: 200,
        content_type: format.content_type(),
        body: encode(&hub.snap.load(), &Extra::read(hub), format),
    }
}

/// A label value as the format wants it: `\`, `"` and newline escaped.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// HELP text as the format wants it: `\` and newline escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// The kinds of families written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The exposition being written.
struct Out {
    text: String,
    format: Format,
}

impl Out {
    /// Starts family `name` (a counter's name ends in `_total`: OpenMetrics
    /// names the family without it).
    fn family(&mut self, name: &'static str, kind: Kind, help: &str) -> Family<'_> {
        let (family, word) = match kind {
            Kind::Counter => (
                match self.format {
                    Format::Text => name,
                    Format::OpenMetrics => name.strip_suffix("_total").unwrap_or(name),
                },
                "counter",
            ),
            Kind::Gauge => (name, "gauge"),
            Kind::Histogram => (name, "histogram"),
        };
        let help = escape_help(help);
        let _ = writeln!(self.text, "# HELP {family} {help}");
        let _ = writeln!(self.text, "# TYPE {family} {word}");
        Family { out: self, name }
    }

    /// One unlabelled sample per family: (name, kind, help, value).
    fn singles(&mut self, rows: &[(&'static str, Kind, &str, f64)]) {
        for &(name, kind, help, v) in rows {
            self.family(name, kind, help).sample(&[], v);
        }
    }

    /// Unlabelled counters: (name, help, value).
    fn counters(&mut self, rows: &[(&'static str, &str, u64)]) {
        for &(name, help, v) in rows {
            self.family(name, Kind::Counter, help).sample(&[], v);
        }
    }

    /// Quantile gauges in seconds of a time distribution given in ns:
    /// (name, help, q); a quantile not known yet is left out.
    fn quantiles(&mut self, rows: &[(&'static str, &str, f64)], of: impl Fn(f64) -> Option<u64>) {
        for &(name, help, q) in rows {
            if let Some(ns) = of(q) {
                self.family(name, Kind::Gauge, help)
                    .sample(&[], ns as f64 / 1e9);
            }
        }
    }

    fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.text.push_str("# EOF\n");
        }
        self.text
    }
}

/// One metric family being written.
struct Family<'a> {
    out: &'a mut Out,
    name: &'static str,
}

impl Family<'_> {
    fn sample(&mut self, labels: &[(&str, &str)], value: impl Display) {
        self.sample_of("", labels, value);
    }

    /// A sample of the family's `name` + `suffix` series (a histogram's
    /// `_bucket`, `_sum`, `_count`).
    fn sample_of(&mut self, suffix: &str, labels: &[(&str, &str)], value: impl Display) {
        let t = &mut self.out.text;
        t.push_str(self.name);
        t.push_str(suffix);
        if !labels.is_empty() {
            t.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    t.push(',');
                }
                let _ = write!(t, "{k}=\"{}\"", escape_label(v));
            }
            t.push('}');
        }
        let _ = writeln!(t, " {value}");
    }
}

/// Per-interface counters: (name, help, value of a row).
type IfaceMetric = (
    &'static str,
    &'static str,
    fn(&crate::feed::IfaceRow) -> u64,
);

const IFACE_METRICS: [IfaceMetric; 4] = [
    (
        "wirewatch_interface_receive_bytes_total",
        "Bytes destination to source of the interface's flows.",
        |r| r.rx.1,
    ),
    (
        "wirewatch_interface_receive_packets_total",
        "Packets destination to source of the interface's flows.",
        |r| r.rx.0,
    ),
    (
        "wirewatch_interface_transmit_bytes_total",
        "Bytes source to destination of the interface's flows.",
        |r| r.tx.1,
    ),
    (
        "wirewatch_interface_transmit_packets_total",
        "Packets source to destination of the interface's flows.",
        |r| r.tx.0,
    ),
];

/// What `/metrics` reads at the time of the scrape, beside the snapshot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extra {
    /// This process, from /proc/self (absent where it cannot be read).
    pub process: Option<ProcessStats>,
    /// History writer: rows queued, merged, written.
    pub history: [u64; 3],
    /// The server's own numbers.
    pub web: WebStats,
}

/// The web server's numbers in `/metrics`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WebStats {
    /// SSE clients connected now.
    pub sse_clients: u64,
    /// SSE clients refused at the cap or dropped for not reading.
    pub sse_refused: u64,
    /// Answers by status code (a fixed set of codes and `other`).
    pub answers: Vec<(String, u64)>,
}

impl Extra {
    /// Reads them now.
    pub fn read(hub: &crate::Hub) -> Extra {
        let g = &wirewatch_store::writer::GAUGES;
        Extra {
            process: ProcessStats::read(),
            history: [g.queued_rows(), g.merged_rows(), g.written_rows()],
            web: WebStats {
                sse_clients: hub.sse_clients.load(Ordering::Relaxed) as u64,
                sse_refused: hub.sse_refused.load(Ordering::Relaxed),
                answers: hub.answers_by_code(),
            },
        }
    }
}

/// The server's families: SSE clients, refused ones, answers by code.
fn web(out: &mut Out, w: &WebStats) {
    let mut f = out.family(
        "wirewatch_web_sse_clients",
        Kind::Gauge,
        "Clients on /api/v1/events now.",
    );
    f.sample(&[], w.sse_clients);
    let mut f = out.family(
        "wirewatch_web_sse_refused_total",
        Kind::Counter,
        "Clients of /api/v1/events refused at the cap or dropped for not reading.",
    );
    f.sample(&[], w.sse_refused);
    let mut f = out.family(
        "wirewatch_web_requests_total",
        Kind::Counter,
        "HTTP answers given, by status code.",
    );
    for (code, n) in &w.answers {
        f.sample(&[("code", code)], n);
    }
}

/// The whole exposition of `snap` and `extra` in `format`.
pub fn encode(snap: &LiveSnapshot, extra: &Extra, format: Format) -> String {
    let mut out = Out {
        text: String::new(),
        format,
    };
    interfaces(&mut out, snap);
    flows_and_alerts(&mut out, snap);
    if let Some(t) = &snap.tcp {
        tcp(&mut out, t);
    }
    if let Some(d) = &snap.dns {
        dns::dns(&mut out, d);
    }
    history(&mut out, extra.history);
    web(&mut out, &extra.web);
    let t = &snap.talkers;
    talker_families(&mut out, &t.hosts, "host", HOST_FAMILIES);
    talker_families(&mut out, &t.processes, "process", PROCESS_FAMILIES);
    if let Some(p) = &extra.process {
        process(&mut out, p);
    }
    let mut f = out.family(
        "wirewatch_build_info",
        Kind::Gauge,
        "The running wirewatch's version (always 1).",
    );
    f.sample(&[("version", env!("CARGO_PKG_VERSION"))], 1);
    out.finish()
}

fn interfaces(out: &mut Out, snap: &LiveSnapshot) {
    for (name, help, value) in IFACE_METRICS {
        let mut f = out.family(name, Kind::Counter, help);
        for r in &snap.interfaces {
            f.sample(&[("interface", &r.name)], value(r));
        }
    }
    if snap.interfaces.iter().any(|r| r.kernel.is_some()) {
        let mut f = out.family(
            "wirewatch_capture_kernel_drops_total",
            Kind::Counter,
            "Packets the kernel dropped before wirewatch read them.",
        );
        for r in &snap.interfaces {
            if let Some(k) = r.kernel {
                f.sample(&[("interface", &r.name)], k.1);
            }
        }
    }
}

fn flows_and_alerts(out: &mut Out, snap: &LiveSnapshot) {
    let mut f = out.family(
        "wirewatch_flows_active",
        Kind::Gauge,
        "Flows in the flow table.",
    );
    f.sample(&[], snap.flows_active);
    let mut f = out.family(
        "wirewatch_decode_errors_total",
        Kind::Counter,
        "Packets that could not be decoded, by reason.",
    );
    for &(reason, n) in &snap.decode_errors {
        f.sample(&[("reason", reason)], n);
    }
    let mut f = out.family(
        "wirewatch_alerts_total",
        Kind::Counter,
        "Alerts raised, by kind and severity.",
    );
    for (&(kind, severity), &n) in &snap.alerts {
        f.sample(&[("kind", kind), ("severity", severity)], n);
    }
    let mut f = out.family(
        "wirewatch_responses_total",
        Kind::Counter,
        "The responder's decisions (--respond), by outcome.",
    );
    for (outcome, &n) in &snap.responses {
        f.sample(&[("outcome", outcome.as_str())], n);
    }
}

/// `--tcp`: the connections' TCP health.
fn tcp(out: &mut Out, t: &wirewatch_flow::TcpTotals) {
    let counters: [(&'static str, &str, u64); 6] = [
        (
            "wirewatch_tcp_connections_total",
            "TCP connections analysed (--tcp).",
            t.connections,
        ),
        (
            "wirewatch_tcp_segments_total",
            "TCP segments analysed.",
            t.packets,
        ),
        (
            "wirewatch_tcp_retransmissions_total",
            "Retransmitted TCP segments (tshark's rules).",
            t.retransmissions,
        ),
        (
            "wirewatch_tcp_out_of_order_total",
            "Out-of-order TCP segments.",
            t.out_of_order,
        ),
        (
            "wirewatch_tcp_duplicate_acks_total",
            "Duplicate ACKs.",
            t.duplicate_acks,
        ),
        (
            "wirewatch_tcp_zero_window_total",
            "TCP segments advertising a zero window.",
            t.zero_window,
        ),
    ];
    out.counters(&counters);
    let quantiles = [
        (
            "wirewatch_tcp_handshake_rtt_p50_seconds",
            "Median handshake RTT at the capture point (SYN to the ACK of the SYN/ACK).",
            0.5,
        ),
        (
            "wirewatch_tcp_handshake_rtt_p95_seconds",
            "95th percentile of the handshake RTT.",
            0.95,
        ),
    ];
    out.quantiles(&quantiles, |q| t.handshake_rtt.quantile(q));
    rtt_histogram(
        out,
        "wirewatch_tcp_handshake_rtt_seconds",
        "Handshake RTTs at the capture point (SYN to the ACK of the SYN/ACK).",
        &t.handshake_rtt,
    );
    rtt_histogram(
        out,
        "wirewatch_tcp_rtt_seconds",
        "Smoothed RTT of each direction of each TCP connection with RTT samples.",
        &t.smoothed_rtt,
    );
}

/// The bounds (`le`, seconds) of the RTT histograms' buckets.
pub const RTT_BUCKETS_SECONDS: [&str; 14] = [
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
    "2.5", "5", "10",
];

/// The cumulative buckets of `h`: for each bound of
/// [`RTT_BUCKETS_SECONDS`] and then `+Inf`, the RTTs counted at most that
/// long (a bin counts under the first bound at or above its upper edge).
pub fn rtt_buckets(h: &wirewatch_flow::RttHistogram) -> Vec<(&'static str, u64)> {
    let mut v: Vec<(&'static str, u64)> = RTT_BUCKETS_SECONDS
        .iter()
        .map(|&le| {
            let nanos = (le.parse::<f64>().unwrap_or(0.0) * 1e9) as u64;
            (le, h.count_at_most(nanos))
        })
        .collect();
    v.push(("+Inf", h.count()));
    v
}

/// An [`RttHistogram`](wirewatch_flow::RttHistogram) as a Prometheus
/// histogram: its logarithmic bins folded into [`RTT_BUCKETS_SECONDS`] (a
/// bin counts under the first bound at or above its upper edge), `+Inf`,
/// the exact sum and count.
fn rtt_histogram(out: &mut Out, name: &'static str, help: &str, h: &wirewatch_flow::RttHistogram) {
    let mut f = out.family(name, Kind::Histogram, help);
    for (le, n) in rtt_buckets(h) {
        f.sample_of("_bucket", &[("le", le)], n);
    }
    f.sample_of("_sum", &[], h.sum_nanos() as f64 / 1e9);
    f.sample_of("_count", &[], h.count());
}

fn history(out: &mut Out, [queued, merged, written]: [u64; 3]) {
    let mut f = out.family(
        "wirewatch_history_queue_rows",
        Kind::Gauge,
        "Rows waiting in the history writer's queue.",
    );
    f.sample(&[], queued);
    let mut f = out.family(
        "wirewatch_history_merged_rows_total",
        Kind::Counter,
        "Rows merged into coarser rows because the history writer was behind.",
    );
    f.sample(&[], merged);
    let mut f = out.family(
        "wirewatch_history_rows_written_total",
        Kind::Counter,
        "Rows committed to the history database.",
    );
    f.sample(&[], written);
}

/// The two byte families of a view: (transmit, receive), each (name, help).
type TalkerFamilies = [(&'static str, &'static str); 2];

const HOST_FAMILIES: TalkerFamilies = [
    (
        "wirewatch_host_transmit_bytes_total",
        "Bytes source to destination of the flows this host is the source of (initiator or local side), for the top-N hosts and 'other'.",
    ),
    (
        "wirewatch_host_receive_bytes_total",
        "Bytes destination to source of the flows this host is the source of (initiator or local side), for the top-N hosts and 'other'.",
    ),
];

const PROCESS_FAMILIES: TalkerFamilies = [
    (
        "wirewatch_process_transmit_bytes_total",
        "Bytes source to destination of this process's flows, for the top-N processes and 'other'.",
    ),
    (
        "wirewatch_process_receive_bytes_total",
        "Bytes destination to source of this process's flows, for the top-N processes and 'other'.",
    ),
];

fn talker_families<K: Ord + Display>(
    out: &mut Out,
    s: &Sticky<K>,
    label: &str,
    families: TalkerFamilies,
) {
    for (d, (name, help)) in families.into_iter().enumerate() {
        let mut f = out.family(name, Kind::Counter, help);
        for (k, t) in &s.tracked {
            f.sample(&[(label, &k.to_string())], t.value[d]);
        }
        f.sample(&[(label, OTHER)], s.other[d]);
    }
}

fn process(out: &mut Out, p: &ProcessStats) {
    let rows: [(&'static str, Kind, &str, f64); 6] = [
        (
            "process_cpu_seconds_total",
            Kind::Counter,
            "Total user and system CPU time spent in seconds.",
            p.cpu_seconds,
        ),
        (
            "process_resident_memory_bytes",
            Kind::Gauge,
            "Resident memory size in bytes.",
            p.resident_bytes as f64,
        ),
        (
            "process_virtual_memory_bytes",
            Kind::Gauge,
            "Virtual memory size in bytes.",
            p.virtual_bytes as f64,
        ),
        (
            "process_open_fds",
            Kind::Gauge,
            "Number of open file descriptors.",
            p.open_fds as f64,
        ),
        (
            "process_max_fds",
            Kind::Gauge,
            "Maximum number of open file descriptors.",
            p.max_fds as f64,
        ),
        (
            "process_start_time_seconds",
            Kind::Gauge,
            "Start time of the process since unix epoch in seconds.",
            p.start_time_seconds,
        ),
    ];
    out.singles(&rows);
}

/// This process's CPU, memory and descriptors, from /proc/self.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time, seconds.
    pub cpu_seconds: f64,
    /// Resident set size, bytes.
    pub resident_bytes: u64,
    /// Virtual memory size, bytes.
    pub virtual_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit on open file descriptors.
    pub max_fds: u64,
    /// When the process started, seconds since the epoch.
    pub start_time_seconds: f64,
}

/// /proc's clock ticks per second (`USER_HZ`: 100 on every Linux
/// architecture's /proc interface).
const USER_HZ: f64 = 100.0;

impl ProcessStats {
    /// Reads /proc/self; `None` when a file is missing or unreadable.
    pub fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        ProcessStats::parse(&stat, &status, &boot, &limits, fds)
    }

    /// From the texts of /proc/self/stat, /proc/self/status, /proc/stat
    /// and /proc/self/limits, and the count of /proc/self/fd.
    pub fn parse(
        stat: &str,
        status: &str,
        boot: &str,
        limits: &str,
        open_fds: u64,
    ) -> Option<ProcessStats> {
        // The name (field 2) may hold spaces and parentheses: the fields
        // after the last ')' start at field 3.
        let rest = &stat[stat.rfind(')')? + 1..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| f.get(n - 3)?.parse::<u64>().ok();
        let kib = |key: &str| {
            let line = status.lines().find(|l| l.starts_with(key))?;
            let v: u64 = line[key.len()..].split_whitespace().next()?.parse().ok()?;
            Some(v * 1024)
        };
        let btime: u64 = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        let max_fds = limits
            .lines()
            .find_map(|l| l.strip_prefix("Max open files"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(ProcessStats {
            cpu_seconds: (field(14)? + field(15)?) as f64 / USER_HZ,
            resident_bytes: kib("VmRSS:")?,
            virtual_bytes: field(23)?,
            open_fds,
            max_fds,
            start_time_seconds: btime as f64 + field(22)? as f64 / USER_HZ,
        })
    }
}

/// The per-host and per-process byte counters, carried from one publish
/// to the next in the [`LiveSnapshot`].
#[derive(Clone, Debug)]
pub struct Talkers {
    /// Most keys tracked per view.
    pub cap: usize,
    /// By the address of the host that started the flow.
    pub hosts: Sticky<IpAddr>,
    /// By process name (flows with no known process count in `other`).
    pub processes: Sticky<String>,
}

impl Default for Talkers {
    fn default() -> Talkers {
        Talkers::new(DEFAULT_TOP_N)
    }
}

impl Talkers {
    /// Empty, tracking at most `cap` keys per view.
    pub fn new(cap: usize) -> Talkers {
        Talkers {
            cap,
            hosts: Sticky::default(),
            processes: Sticky::default(),
        }
    }
}

/// The next [`Talkers`] after `prev`, from the flows of `table` now (one
/// pass over the flows; called by the feed at each publish).
pub fn talkers(table: &FlowTable, cx: &Context<'_>, prev: &Talkers) -> Talkers {
    let mode = table.config().bytes;
    let mut hosts: HashMap<IpAddr, [u64; 2]> = HashMap::new();
    let mut owners: HashMap<u32, [u64; 2]> = HashMap::new();
    let mut total = [0u64; 2];
    let add = |m: &mut [u64; 2], b: [u64; 2]| {
        m[0] += b[0];
        m[1] += b[1];
    };
    for f in table.flows() {
        let b = [f.sent().bytes(mode), f.received().bytes(mode)];
        add(&mut total, b);
        add(hosts.entry(f.src().0).or_default(), b);
        if f.owner != 0 {
            add(owners.entry(f.owner).or_default(), b);
        }
    }
    for o in table.other_flows() {
        add(
            &mut total,
            [o.flow.sent().bytes(mode), o.flow.received().bytes(mode)],
        );
    }
    let mut processes: HashMap<String, [u64; 2]> = HashMap::new();
    for (id, b) in owners {
        if let Some(o) = cx.owners.get(id) {
            add(processes.entry(o.comm.clone()).or_default(), b);
        }
    }
    let now = table.now().as_nanos();
    Talkers {
        cap: prev.cap,
        hosts: prev.hosts.next(&hosts, total, now, prev.cap),
        processes: prev.processes.next(&processes, total, now, prev.cap),
    }
}

/// One tracked key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracked {
    /// Bytes (transmit, receive) counted since the key entered the set.
    pub value: [u64; 2],
    /// Bytes of the key's live flows at the last publish.
    last: [u64; 2],
    /// When it entered (packet clock, ns).
    since: i64,
    /// When its bytes last grew.
    active: i64,
}

/// A capped, sticky top-N of byte counters and `other`:
///
/// - a key in the set keeps its series, which never decreases, until it
///   has had no new traffic for [`IDLE_NANOS`];
/// - free places go to the keys whose live flows hold the most bytes;
/// - in a full set, a newcomer [`DISPLACE_FACTOR`] times busier than the
///   quietest key that has been in for [`MIN_STAY_NANOS`] takes its place;
/// - a key counts from when it entered; what came before, and the bytes of
///   keys outside the set, count in `other`. So the increases of all
///   series and `other` add up to the increase of the interfaces' total.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sticky<K: Ord> {
    /// The set, by key.
    pub tracked: BTreeMap<K, Tracked>,
    /// `other`: (transmit, receive).
    pub other: [u64; 2],
    /// The interfaces' total at the last publish.
    total: [u64; 2],
    /// What keys that left the set had counted (so that the values, this
    /// and `other` add up to the total).
    released: [u64; 2],
}

impl<K: Ord> Default for Sticky<K> {
    fn default() -> Sticky<K> {
        Sticky {
            tracked: BTreeMap::new(),
            other: [0; 2],
            total: [0; 2],
            released: [0; 2],
        }
    }
}

impl<K: Ord + Clone + Hash + Display> Sticky<K> {
    /// The set after a publish at `now` where `cur` holds each key's bytes
    /// in live flows and `total` the interfaces' total.
    pub fn next(&self, cur: &HashMap<K, [u64; 2]>, total: [u64; 2], now: i64, cap: usize) -> Self {
        let mut s = self.clone();
        let mut grown = [0u64; 2];
        for (k, t) in &mut s.tracked {
            let c = cur.get(k).copied().unwrap_or_default();
            for d in 0..2 {
                if c[d] > t.last[d] {
                    t.value[d] += c[d] - t.last[d];
                    grown[d] += c[d] - t.last[d];
                    t.active = now;
                }
            }
            t.last = c;
        }
        s.release(|t| now - t.active >= IDLE_NANOS);
        // Before anything was counted, a key enters with what it has.
        let entered = s.admit(cur, now, cap, self.total == [0; 2]);
        for d in 0..2 {
            // Never decreasing, whatever the input.
            let new = total[d].saturating_sub(self.total[d]);
            s.other[d] += new.saturating_sub(grown[d] + entered[d]);
            s.total[d] = total[d].max(self.total[d]);
        }
        s
    }

    /// Takes out the keys `gone` picks.
    fn release(&mut self, gone: impl Fn(&Tracked) -> bool) {
        let keys: Vec<K> = self
            .tracked
            .iter()
            .filter(|(_, t)| gone(t))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            self.remove(&k);
        }
    }

    /// Takes `k` out of the set; what it counted stays accounted.
    fn remove(&mut self, k: &K) {
        if let Some(t) = self.tracked.remove(k) {
            self.released[0] += t.value[0];
            self.released[1] += t.value[1];
        }
    }

    /// Fills free places, then displaces quiet keys with much busier ones.
    /// A key enters at zero, or (`whole`) with its bytes in live flows;
    /// returns the sum of what the keys entered with.
    fn admit(&mut self, cur: &HashMap<K, [u64; 2]>, now: i64, cap: usize, whole: bool) -> [u64; 2] {
        let size = |b: &[u64; 2]| b[0] + b[1];
        let mut cands: Vec<(&K, u64)> = cur
            .iter()
            .filter(|(k, b)| size(b) > 0 && !self.tracked.contains_key(*k))
            .map(|(k, b)| (k, size(b)))
            .collect();
        let order = |a: &(&K, u64), b: &(&K, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
        if cands.len() > cap && cap > 0 {
            cands.select_nth_unstable_by(cap - 1, order);
        }
        cands.truncate(cap);
        cands.sort_unstable_by(order);
        let mut entered = [0u64; 2];
        let mut enter = |c: &[u64; 2]| {
            let value = if whole { *c } else { [0; 2] };
            entered[0] += value[0];
            entered[1] += value[1];
            Tracked {
                value,
                last: *c,
                since: now,
                active: now,
            }
        };
        for (k, n) in cands {
            // A real key spelled like the rest's label stays in it.
            if k.to_string() == OTHER {
                continue;
            }
            if self.tracked.len() >= cap {
                let quietest = self
                    .tracked
                    .iter()
                    .filter(|(_, t)| now - t.since >= MIN_STAY_NANOS)
                    .min_by_key(|(q, t)| (size(&t.last), *q))
                    .map(|(q, t)| (q.clone(), size(&t.last)));
                match quietest {
                    Some((q, qn)) if n > qn.saturating_mul(DISPLACE_FACTOR) => self.remove(&q),
                    _ => break,
                }
            }
            self.tracked.insert(k.clone(), enter(&cur[k]));
        }
        entered
    }

    /// The sum of the tracked values, `other` and what left the set: the
    /// interfaces' total at the last publish.
    pub fn accounted(&self) -> [u64; 2] {
        std::array::from_fn(|d| {
            self.other[d]
                + self.released[d]
                + self.tracked.values().map(|t| t.value[d]).sum::<u64>()
        })
    }
}

mod dns;
#[cfg(test)]
mod tests;
