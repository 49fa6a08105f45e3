//! `history top|series|flows|alerts`: the requests, checked into plans
//! (every message a [`Failure::Bad`] line), run on a store, and the JSON
//! `--json` prints. The tables and CSV stay with the command line.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::path::Path;

use serde_json::{json, Value};
use wirewatch_filter::{compile, CompileOptions, Program};
use wirewatch_store::query::{self, FlowSummary, GroupBy, Range, Series, SeriesSpec, Top};
use wirewatch_store::time::{rfc3339, short};
use wirewatch_store::{
    AlertRecord, Counts, Row, Selection, SqliteStore, Store, StoreError, TcpCounts,
};
use wirewatch_wire::{build, proto, Timestamp};

use super::params::{self, By, Metric, Order};
use super::{bad, Failure};

/// How much one answer may hold: `limit` entries at most (0, all, only
/// when this is `usize::MAX`) and `buckets` buckets in a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Most entries, lines or alerts.
    pub limit: usize,
    /// Most buckets in a series.
    pub buckets: i64,
}

impl Bounds {
    /// The command line's: any `--limit` (0: all), a million buckets.
    pub const CLI: Bounds = Bounds {
        limit: usize::MAX,
        buckets: params::MAX_BUCKETS,
    };
}

/// The options every query takes (`--since`, `--until`, `--last`, and the
/// selection), as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// `--since` (default `24h`).
    pub since: String,
    /// `--until` (default `now`).
    pub until: String,
    /// `--last`: the range's length back from `--until`, instead of `--since`.
    pub last: Option<String>,
    /// `--iface`.
    pub iface: Option<String>,
    /// `--host`.
    pub host: Option<IpAddr>,
    /// `--process`.
    pub process: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--proto`.
    pub proto: Option<String>,
    /// `-f`: a pcap filter on the stored flows.
    pub filter: Option<String>,
}

impl Default for Selector {
    fn default() -> Selector {
        Selector {
            since: "24h".into(),
            until: "now".into(),
            last: None,
            iface: None,
            host: None,
            process: None,
            port: None,
            proto: None,
            filter: None,
        }
    }
}

/// Whether `key` was one of ours: Ok(true) when taken, Ok(false) when not
/// known here.
type Taken = Result<bool, String>;

/// `--since`/`--until`/`--last` from a query string (both `since` and
/// `last` refused, as on the command line).
fn apply_range(
    since: &mut String,
    until: &mut String,
    last: &mut Option<String>,
    given_since: &mut bool,
    key: &str,
    value: &str,
) -> Taken {
    match key {
        "since" if last.is_some() => return Err(last_and_since(true)),
        "since" => {
            *since = value.into();
            *given_since = true;
        }
        "until" => *until = value.into(),
        "last" if *given_since => return Err(last_and_since(false)),
        "last" => *last = Some(value.into()),
        _ => return Ok(false),
    }
    Ok(true)
}

/// `--last` and `--since` both given (`last_first`: in that order).
fn last_and_since(last_first: bool) -> String {
    let (last, since) = ("--last <DURATION>", "--since <TIME>");
    let (a, b) = if last_first {
        (last, since)
    } else {
        (since, last)
    };
    format!("{}{}", params::conflict(a, b), params::USAGE_HINT)
}

/// A value as the command line's own parsing would check it: its message
/// with [`params::USAGE_HINT`].
pub fn usage<T>(r: Result<T, String>) -> Result<T, String> {
    r.map_err(|e| format!("{e}{}", params::USAGE_HINT))
}

impl Selector {
    /// Takes `key=value` from a query string: the command line's long
    /// option names (`filter` for `-f`).
    pub fn apply(&mut self, key: &str, value: &str, given_since: &mut bool) -> Taken {
        if apply_range(
            &mut self.since,
            &mut self.until,
            &mut self.last,
            given_since,
            key,
            value,
        )? {
            return Ok(true);
        }
        match key {
            "iface" => self.iface = Some(value.into()),
            "host" => self.host = Some(usage(params::addr("--host <ADDR>", value))?),
            "process" => self.process = Some(value.into()),
            "port" => self.port = Some(usage(params::port("--port <PORT>", value))?),
            "proto" => self.proto = Some(value.into()),
            "filter" => self.filter = Some(value.into()),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The keys [`Selector::apply`] takes.
    pub const KEYS: [&'static str; 9] = [
        "since", "until", "last", "iface", "host", "process", "port", "proto", "filter",
    ];

    /// Checks the options against `now` into what a query needs.
    pub fn prepare(&self, now: i64) -> Result<Prepared, Failure> {
        Ok(Prepared {
            range: params::range(&self.since, &self.until, self.last.as_deref(), now)
                .map_err(bad)?,
            sel: Selection {
                iface: self.iface.clone(),
                process: self.process.clone(),
                host: self.host,
                port: self.port,
                protocol: self
                    .proto
                    .as_deref()
                    .map(params::protocol)
                    .transpose()
                    .map_err(bad)?,
            },
            pred: match self.filter.as_deref() {
                Some(e) => {
                    let f = RowFilter::new(e).map_err(bad)?;
                    Some(Box::new(move |r: &Row| f.accepts(r)))
                }
                None => None,
            },
        })
    }

    /// What a series is named after when it has one line: the interface,
    /// the host or the process selected, else "all traffic".
    fn total_name(&self) -> String {
        self.iface
            .clone()
            .or(self.host.map(|h| h.to_string()))
            .or(self.process.clone())
            .unwrap_or_else(|| "all traffic".into())
    }
}

/// A test on stored rows, shareable by the parallel readers.
pub type RowTest = dyn Fn(&Row) -> bool + Sync;

/// The common options checked.
pub struct Prepared {
    /// The range asked for.
    pub range: Range,
    /// The selection the engine applies.
    pub sel: Selection,
    /// `-f` as a row test.
    pub pred: Option<Box<RowTest>>,
}

/// A pcap filter applied to stored flows: each row becomes one synthetic
/// Ethernet frame per direction, run through the same compiled program
/// as captured frames.
struct RowFilter {
    prog: Program,
}

impl RowFilter {
    fn new(expr: &str) -> Result<RowFilter, String> {
        let prog = compile(
            expr,
            &CompileOptions {
                link_type: wirewatch_wire::linktype::ETHERNET,
                snaplen: u32::MAX,
                linux_vlan_extensions: false,
            },
        )
        .map_err(|e| format!("-f '{expr}': {e}"))?;
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

/// Opens `db` to read (a missing file is [`Failure::Missing`]).
pub fn open(db: &Path) -> Result<SqliteStore, Failure> {
    SqliteStore::open_reader(db).map_err(|e| match &e {
        StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Failure::Missing(e.to_string())
        }
        _ => Failure::Store(e.to_string()),
    })
}

/// `history top`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopRequest {
    /// `--by`.
    pub by: By,
    /// `--sort`.
    pub sort: Order,
    /// `--limit` (0: all).
    pub limit: usize,
    /// The range and selection.
    pub sel: Selector,
}

impl Default for TopRequest {
    fn default() -> TopRequest {
        TopRequest {
            by: By::Host,
            sort: Order::Bytes,
            limit: 10,
            sel: Selector::default(),
        }
    }
}

/// `by=` and `limit=` of a query string.
fn apply_by_limit(by: &mut By, limit: &mut usize, key: &str, value: &str) -> Taken {
    match key {
        "by" => *by = usage(params::parse_by(value))?,
        "limit" => *limit = usage(params::count("--limit <LIMIT>", value))?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// A request that takes `key=value` pairs of a query string.
pub trait FromQuery: Default {
    /// The keys taken.
    fn keys() -> Vec<&'static str>;
    /// Takes one pair: Ok(false) when `key` is not one of [`FromQuery::keys`].
    fn apply(&mut self, key: &str, value: &str, given_since: &mut bool) -> Taken;

    /// The request from a query string's pairs; an unknown key is named.
    fn from_pairs(pairs: &[(String, String)]) -> Result<Self, String> {
        let mut r = Self::default();
        let mut given_since = false;
        for (k, v) in pairs {
            if !r.apply(k, v, &mut given_since)? {
                return Err(format!(
                    "unknown parameter '{k}' (possible parameters: {})",
                    Self::keys().join(", ")
                ));
            }
        }
        Ok(r)
    }
}

impl FromQuery for TopRequest {
    fn keys() -> Vec<&'static str> {
        let mut k = vec!["by", "limit", "sort"];
        k.extend(Selector::KEYS);
        k
    }

    fn apply(&mut self, key: &str, value: &str, given_since: &mut bool) -> Taken {
        if apply_by_limit(&mut self.by, &mut self.limit, key, value)? {
            return Ok(true);
        }
        if key == "sort" {
            self.sort = usage(params::parse_sort(value))?;
            return Ok(true);
        }
        self.sel.apply(key, value, given_since)
    }
}

/// `history top` checked.
pub struct TopPlan {
    /// The options checked.
    pub p: Prepared,
    /// `--by`.
    pub by: By,
    /// `--sort`.
    pub sort: Order,
    /// Entries kept.
    pub limit: usize,
}

impl TopRequest {
    /// Checks the request.
    pub fn plan(&self, now: i64, bounds: Bounds) -> Result<TopPlan, Failure> {
        Ok(TopPlan {
            p: self.sel.prepare(now)?,
            by: self.by,
            sort: self.sort,
            limit: params::limit(self.limit, bounds.limit).map_err(bad)?,
        })
    }
}

impl TopPlan {
    /// Runs it.
    pub fn run(&self, store: &SqliteStore) -> Result<Top, Failure> {
        Ok(query::top_where(
            store,
            &self.p.range,
            self.by,
            &self.p.sel,
            self.p.pred.as_deref(),
            self.limit,
            self.sort,
        )?)
    }
}

/// `history series`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesRequest {
    /// `--step` (default: about `buckets` buckets).
    pub step: Option<String>,
    /// `--by`: one line per top entity.
    pub by: Option<By>,
    /// `--limit`: lines with `--by` (0: all).
    pub limit: usize,
    /// `--metric`.
    pub metric: Metric,
    /// The range and selection.
    pub sel: Selector,
}

impl Default for SeriesRequest {
    fn default() -> SeriesRequest {
        SeriesRequest {
            step: None,
            by: None,
            limit: 5,
            metric: Metric::Bytes,
            sel: Selector::default(),
        }
    }
}

impl FromQuery for SeriesRequest {
    fn keys() -> Vec<&'static str> {
        let mut k = vec!["step", "by", "limit", "metric"];
        k.extend(Selector::KEYS);
        k
    }

    fn apply(&mut self, key: &str, value: &str, given_since: &mut bool) -> Taken {
        let mut by = self.by.unwrap_or(By::Host);
        if apply_by_limit(&mut by, &mut self.limit, key, value)? {
            if key == "by" {
                self.by = Some(by);
            }
            return Ok(true);
        }
        match key {
            "step" => self.step = Some(value.into()),
            "metric" => self.metric = usage(params::parse_metric(value))?,
            _ => return self.sel.apply(key, value, given_since),
        }
        Ok(true)
    }
}

impl SeriesRequest {
    /// Checks and runs the request: `buckets` is the number of buckets
    /// aimed at without `--step`.
    pub fn run(
        &self,
        db: &Path,
        now: i64,
        buckets: i64,
        bounds: Bounds,
    ) -> Result<(Prepared, Series), Failure> {
        let p = self.sel.prepare(now)?;
        let step =
            params::step(self.step.as_deref(), &p.range, buckets, bounds.buckets).map_err(bad)?;
        let limit = params::limit(self.limit, bounds.limit).map_err(bad)?;
        let store = open(db)?;
        let name = self.sel.total_name();
        let s = query::series(
            &store,
            &SeriesSpec {
                range: p.range,
                step,
                sel: p.sel.clone(),
                by: self.by,
                limit,
                total_name: &name,
                metric: self.metric,
            },
            p.pred.as_deref(),
        )?;
        Ok((p, s))
    }
}

/// `history flows`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowsRequest {
    /// `--limit` (0: all).
    pub limit: usize,
    /// The range and selection.
    pub sel: Selector,
}

impl Default for FlowsRequest {
    fn default() -> FlowsRequest {
        FlowsRequest {
            limit: 100,
            sel: Selector::default(),
        }
    }
}

impl FromQuery for FlowsRequest {
    fn keys() -> Vec<&'static str> {
        let mut k = vec!["limit"];
        k.extend(Selector::KEYS);
        k
    }

    fn apply(&mut self, key: &str, value: &str, given_since: &mut bool) -> Taken {
        if key == "limit" {
            self.limit = usage(params::count("--limit <LIMIT>", value))?;
            return Ok(true);
        }
        self.sel.apply(key, value, given_since)
    }
}

/// The flows found: the largest kept, how many there were, the range answered.
pub type Flows = (Vec<FlowSummary>, usize, Range);

impl FlowsRequest {
    /// Checks and runs the request.
    pub fn run(&self, db: &Path, now: i64, bounds: Bounds) -> Result<(Prepared, Flows), Failure> {
        let p = self.sel.prepare(now)?;
        let limit = params::limit(self.limit, bounds.limit).map_err(bad)?;
        let store = open(db)?;
        let f = query::flows(&store, &p.range, &p.sel, p.pred.as_deref(), limit)?;
        Ok((p, f))
    }
}

/// `history alerts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertsRequest {
    /// `--since`.
    pub since: String,
    /// `--until`.
    pub until: String,
    /// `--last`.
    pub last: Option<String>,
    /// `--kind`.
    pub kind: Option<String>,
    /// `--limit`: the newest N (0: all).
    pub limit: usize,
}

impl Default for AlertsRequest {
    fn default() -> AlertsRequest {
        AlertsRequest {
            since: "24h".into(),
            until: "now".into(),
            last: None,
            kind: None,
            limit: 100,
        }
    }
}

impl FromQuery for AlertsRequest {
    fn keys() -> Vec<&'static str> {
        vec!["since", "until", "last", "kind", "limit"]
    }

    fn apply(&mut self, key: &str, value: &str, given_since: &mut bool) -> Taken {
        match key {
            "kind" => self.kind = Some(value.into()),
            "limit" => self.limit = usage(params::count("--limit <LIMIT>", value))?,
            _ => {
                return apply_range(
                    &mut self.since,
                    &mut self.until,
                    &mut self.last,
                    given_since,
                    key,
                    value,
                )
            }
        }
        Ok(true)
    }
}

/// The alerts found: the newest kept, in time order, and how many there were.
pub struct FoundAlerts {
    /// The range asked.
    pub range: Range,
    /// The newest `limit`, oldest first.
    pub kept: VecDeque<AlertRecord>,
    /// All in the range.
    pub total: usize,
}

impl AlertsRequest {
    /// Checks and runs the request.
    pub fn run(&self, db: &Path, now: i64, bounds: Bounds) -> Result<FoundAlerts, Failure> {
        let range =
            params::range(&self.since, &self.until, self.last.as_deref(), now).map_err(bad)?;
        let limit = params::limit(self.limit, bounds.limit).map_err(bad)?;
        let store = open(db)?;
        let (kept, total) = newest_alerts(&store, &range, self.kind.as_deref(), limit)?;
        Ok(FoundAlerts { range, kept, total })
    }
}

/// The newest `limit` alerts of `kind` in `range`, in time order, and how
/// many there were in all.
fn newest_alerts(
    store: &SqliteStore,
    range: &Range,
    kind: Option<&str>,
    limit: usize,
) -> Result<(VecDeque<AlertRecord>, usize), Failure> {
    const NANOS: i64 = 1_000_000_000;
    let (from, to) = (
        range.from.saturating_mul(NANOS),
        range.to.saturating_mul(NANOS),
    );
    let mut kept = VecDeque::new();
    let mut n = 0usize;
    store.alerts(from, to, kind, &mut |r: &AlertRecord| {
        n += 1;
        if kept.len() == limit {
            kept.pop_front();
        }
        kept.push_back(r.clone());
    })?;
    Ok((kept, n))
}

/// When an alert fired, RFC 3339.
pub fn alert_time(r: &AlertRecord) -> String {
    Timestamp::from_nanos(r.ts_nanos).to_rfc3339()
}

/// `history alerts --json`: one array of each alert's JSON as it was
/// printed live (its text, so the order of its fields is kept too),
/// checked to be JSON.
pub fn alerts_json(db: &Path, kept: &VecDeque<AlertRecord>) -> Result<String, Failure> {
    let mut s = String::from("[");
    for (k, r) in kept.iter().enumerate() {
        serde_json::from_str::<Value>(&r.detail).map_err(|e| {
            Failure::Store(format!(
                "{}: the alert of {} is not JSON ({e}): a damaged database?",
                db.display(),
                alert_time(r)
            ))
        })?;
        if k > 0 {
            s.push(',');
        }
        s.push_str(r.detail.trim());
    }
    s.push(']');
    Ok(s)
}

/// Packets and bytes each way, and bytes in all.
pub fn counts_json(c: &Counts) -> Value {
    let mut v = json!({
        "packets_out": c.packets_out,
        "bytes_out": c.bytes_out,
        "packets_in": c.packets_in,
        "bytes_in": c.bytes_in,
        "bytes": c.bytes(),
    });
    if c.tcp != TcpCounts::default() {
        v["tcp"] = tcp_json(&c.tcp);
    }
    v
}

/// TCP figures of a history answer (`--tcp` minutes): retransmissions
/// each way, the mean RTT of each side and the round trip (ms).
pub fn tcp_json(t: &TcpCounts) -> Value {
    let mean_ms = |n: u64, us: u64| (n > 0).then(|| us as f64 / n as f64 / 1e3);
    json!({
        "retrans_out": t.retrans_out,
        "retrans_in": t.retrans_in,
        "rtt_samples": t.rtt_samples(),
        "rtt_out_ms": mean_ms(t.rtt_out_samples, t.rtt_out_us),
        "rtt_in_ms": mean_ms(t.rtt_in_samples, t.rtt_in_us),
        "rtt_ms": t.rtt_us().map(|us| us / 1e3),
    })
}

/// Said when coarser rows answered part of the range `asked` (more than
/// the minute rounding of its ends): `got` is what was answered.
pub fn covered_note(asked: &Range, got: &Range) -> Option<String> {
    (got.from < asked.from || got.to > asked.to + 60).then(|| {
        format!(
            "only coarser rows are kept for part of the range: answered {} – {}",
            short(got.from),
            short(got.to)
        )
    })
}

/// `history top --json` (not yet tidied) for the range `asked`.
pub fn top_json(by: By, t: &Top, asked: &Range) -> Value {
    let notes: Vec<String> = covered_note(asked, &t.covered).into_iter().collect();
    json!({
        "query": "top",
        "by": params::by_name(by),
        "sort": params::sort_name(t.order),
        "from": rfc3339(t.covered.from),
        "until": rfc3339(t.covered.to),
        "resolutions": t.resolutions.iter().map(|r| r.name()).collect::<Vec<_>>(),
        "notes": notes,
        "entities": t.entities,
        "total": counts_json(&t.total),
        "entries": t.entries.iter().map(|e| {
            let mut v = counts_json(&e.counts);
            v["key"] = json!(e.key);
            v
        }).collect::<Vec<_>>(),
    })
}

/// Bits per second of a bucket, over the part of it inside the range
/// answered (the first and last buckets may be cut by --since/--until).
pub fn bucket_rate(s: &Series, k: usize, c: &Counts) -> f64 {
    let start = s.buckets[k].max(s.covered.from);
    let end = (s.buckets[k] + s.step).min(s.covered.to);
    c.bytes() as f64 * 8.0 / (end - start).max(1) as f64
}

/// The JSON key of a TCP metric's value in a series point.
pub fn metric_key(m: Metric) -> &'static str {
    match m {
        Metric::Bytes => "bytes",
        Metric::RetransRate => "retrans_rate",
        Metric::RttP95 => "rtt_p95_ms",
    }
}

/// `history series --json` (not yet tidied) for the range `asked`.
pub fn series_json(s: &Series, asked: &Range) -> Value {
    let mut notes: Vec<String> = covered_note(asked, &s.covered).into_iter().collect();
    if s.lines.is_empty() {
        notes.push("no traffic in the range".into());
    }
    json!({
        "query": "series",
        "metric": s.metric.name(),
        "step_seconds": s.step,
        "from": rfc3339(s.covered.from),
        "until": rfc3339(s.covered.to),
        "resolutions": s.resolutions.iter().map(|r| r.name()).collect::<Vec<_>>(),
        "notes": notes,
        "lines": s.lines.iter().enumerate().map(|(l, (name, pts))| json!({
            "name": name,
            "points": s.buckets.iter().zip(pts).enumerate().map(|(k, (ts, c))| {
                let mut v = counts_json(c);
                v["ts"] = json!(rfc3339(*ts));
                v["bits_per_second"] = json!(bucket_rate(s, k, c));
                if s.metric != Metric::Bytes {
                    v[metric_key(s.metric)] = json!(s.values[l][k]);
                }
                v
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// One line of `history flows --json` (not yet tidied).
pub fn flow_json(f: &FlowSummary) -> Value {
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
    j
}

/// Most interface names said in [`where_data_is`].
const NAMES_SAID: usize = 8;

/// Where a database's traffic is, for a query or forecast that found none
/// in its range: the time it holds, its interfaces (with `hosts`, its
/// busiest hosts), and `hint(range held)`: the flags that would find it.
pub fn where_data_is(
    store: &SqliteStore,
    hosts: bool,
    hint: impl Fn(&Range) -> String,
) -> Result<String, Failure> {
    let Some(r) = query::extent(&store.coverage()?) else {
        return Ok("this database holds no traffic yet".into());
    };
    let names = store.interfaces()?;
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
        let t = query::top(store, &r, GroupBy::Host, &Selection::default(), 5)?;
        let busiest: Vec<&str> = t.entries.iter().map(|e| e.key.as_str()).collect();
        s += &format!(" (busiest hosts: {})", busiest.join(", "));
    }
    s += &format!("; try {}", hint(&r));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_say_when_coarser_rows_answered_and_when_nothing_did() {
        let asked = Range {
            from: 3_600,
            to: 7_200,
        };
        assert_eq!(
            covered_note(
                &asked,
                &Range {
                    from: 3_600,
                    to: 7_260
                }
            ),
            None
        );
        let n = covered_note(&asked, &Range { from: 0, to: 7_200 }).unwrap();
        assert!(
            n.starts_with("only coarser rows are kept for part of the range: answered "),
            "{n}"
        );
        let empty = Series {
            step: 60,
            buckets: Vec::new(),
            lines: Vec::new(),
            metric: Metric::Bytes,
            values: Vec::new(),
            covered: asked,
            resolutions: Vec::new(),
        };
        assert_eq!(
            series_json(&empty, &asked)["notes"],
            json!(["no traffic in the range"])
        );
    }
    use crate::requests::params::query_pairs;

    #[test]
    fn query_strings_fill_requests_and_name_unknown_keys() {
        let q =
            TopRequest::from_pairs(&query_pairs("by=pair&limit=3&last=2h&host=10.0.0.1")).unwrap();
        assert_eq!(q.by, By::Pair);
        assert_eq!(q.limit, 3);
        assert_eq!(q.sel.last.as_deref(), Some("2h"));
        assert_eq!(q.sel.host, Some("10.0.0.1".parse().unwrap()));
        let e = TopRequest::from_pairs(&query_pairs("order=1")).unwrap_err();
        assert!(
            e.starts_with("unknown parameter 'order' (possible parameters: by, limit, sort, since"),
            "{e}"
        );
        let q = TopRequest::from_pairs(&query_pairs("sort=rtt")).unwrap();
        assert_eq!(q.sort, Order::Rtt);
        let e = TopRequest::from_pairs(&query_pairs("sort=fast")).unwrap_err();
        assert!(
            e.starts_with("invalid value 'fast' for '--sort <SORT>'"),
            "{e}"
        );
        let q = SeriesRequest::from_pairs(&query_pairs("metric=rtt_p95&step=5m")).unwrap();
        assert_eq!((q.metric, q.step.as_deref()), (Metric::RttP95, Some("5m")));
        let e = TopRequest::from_pairs(&query_pairs("since=1h&last=2h")).unwrap_err();
        assert_eq!(
            e,
            "the argument '--since <TIME>' cannot be used with '--last <DURATION>'; try 'wirewatch --help'"
        );
        assert!(TopRequest::from_pairs(&query_pairs("last=2h&since=1h"))
            .unwrap_err()
            .starts_with("the argument '--last <DURATION>' cannot be used with '--since"));
        let e = SeriesRequest::from_pairs(&query_pairs("by=planet")).unwrap_err();
        assert!(e.ends_with("iface); try 'wirewatch --help'"), "{e}");
        let s = SeriesRequest::from_pairs(&query_pairs("by=port&step=5m")).unwrap();
        assert_eq!((s.by, s.step.as_deref()), (Some(By::Port), Some("5m")));
        assert!(FlowsRequest::from_pairs(&query_pairs("by=host")).is_err());
        let a = AlertsRequest::from_pairs(&query_pairs("kind=syn_flood&limit=0")).unwrap();
        assert_eq!((a.kind.as_deref(), a.limit), (Some("syn_flood"), 0));
    }

    #[test]
    fn plans_check_the_range_and_the_bound() {
        let web = Bounds {
            limit: 100,
            buckets: 1000,
        };
        let mut q = TopRequest::default();
        assert_eq!(q.plan(10_000_000, web).unwrap().limit, 10);
        q.limit = 0;
        assert_eq!(q.plan(10_000_000, Bounds::CLI).unwrap().limit, usize::MAX);
        let Err(Failure::Bad(e)) = q.plan(10_000_000, web) else {
            panic!("limit 0 over HTTP")
        };
        assert!(e.contains("from 1 to 100"), "{e}");
        q.limit = 1;
        q.sel.filter = Some("port 99999".into());
        let Err(Failure::Bad(e)) = q.plan(10_000_000, web) else {
            panic!("a bad filter")
        };
        assert!(e.starts_with("-f 'port 99999'"), "{e}");
    }

    #[test]
    fn a_missing_database_is_missing() {
        let e = SeriesRequest::default()
            .run(Path::new("/nonexistent/h.db"), 10_000_000, 100, Bounds::CLI)
            .err()
            .unwrap();
        assert!(
            matches!(&e, Failure::Missing(m) if m.contains("no history there")),
            "{e:?}"
        );
    }
}
