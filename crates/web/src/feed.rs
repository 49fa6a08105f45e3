//! [`WebFeed`]: the pipeline consumer that builds, on the packet thread,
//! what the API, the SSE stream and `/metrics` serve, and publishes it to
//! the [`crate::hub::Hub`] (a store never waits on a reader).

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use wirewatch_detect::Alert;
use wirewatch_flow::{FlowTable, Snapshot, SortKey, View};
use wirewatch_pipeline::json::tidied;
use wirewatch_pipeline::report_json::{entry_json, head_json};
use wirewatch_pipeline::{CaptureStats, Consumer, Context, Ending, Outbox, Response, Tick, Wants};
use wirewatch_wire::{DecodeError, Timestamp};

use crate::names::HostNames;

/// Most entries kept per view and window: the largest `limit` the API takes.
pub const MAX_LIMIT: usize = 100;

/// Busiest flows (by 40 s rate) a host's or a process's page is made from.
pub const DRILL_FLOWS: usize = 1_000;

/// Entries per view and window in an SSE snapshot event.
pub const SSE_TOP: usize = 10;

/// Points of the interface total's sparkline (one per publish).
pub const SPARK_POINTS: usize = 60;

/// The views `by=` names, in the order [`LiveSnapshot::tops`] keeps them.
pub const BYS: [(&str, View); 4] = [
    ("pair", View::Pair),
    ("host", View::Src),
    ("process", View::Process),
    ("port", View::Port),
];

/// The windows `window=` names, in the order [`LiveSnapshot::tops`] keeps them.
pub const WINDOWS: [(&str, SortKey); 3] = [
    ("2s", SortKey::Rate2s),
    ("10s", SortKey::Rate10s),
    ("40s", SortKey::Rate40s),
];

/// One view in one window: the report's head and its first entries, as
/// `--format json` prints them.
#[derive(Clone, Debug)]
pub struct Top {
    /// Everything but the entries.
    pub head: Value,
    /// At most [`MAX_LIMIT`] entries, in sort order.
    pub entries: Vec<Value>,
}

/// Traffic and capture counters of one interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IfaceRow {
    /// Interface name.
    pub name: String,
    /// Source→destination packets and bytes of its flows ("transmit").
    pub tx: (u64, u64),
    /// Destination→source packets and bytes of its flows ("receive").
    pub rx: (u64, u64),
    /// Kernel counters (live capture only): received, dropped, state.
    pub kernel: Option<(u64, u64, &'static str)>,
}

/// Everything the server answers from, made once per publish.
#[derive(Clone, Debug, Default)]
pub struct LiveSnapshot {
    /// `"live"` while the input runs, `"ended"` after it (a replay that
    /// keeps serving).
    pub state: &'static str,
    /// The packet clock when it was made (epoch seconds).
    pub time: f64,
    /// Rates of all traffic, `[sent, received]` × `[2 s, 10 s, 40 s]`
    /// (bytes per second).
    pub totals: [[f64; 3]; 2],
    /// `(time, sent, received)` 2 s rates of the last publishes, oldest first.
    pub spark: Arc<Vec<[f64; 3]>>,
    /// The [`DRILL_FLOWS`] busiest flows in the 40 s window, as `--format
    /// json -P` entries: what host and process pages are made from.
    pub drill: Arc<Vec<Value>>,
    /// `tops[by][window]` in the order of [`BYS`] and [`WINDOWS`] (shared:
    /// an alert republishes the snapshot with new counts).
    pub tops: Arc<Vec<Vec<Top>>>,
    /// Per interface, by the index flows carry.
    pub interfaces: Vec<IfaceRow>,
    /// Decode errors by reason (every reason, zeros included).
    pub decode_errors: Vec<(&'static str, u64)>,
    /// Flows in the table.
    pub flows_active: u64,
    /// Alerts seen so far by (kind, severity).
    pub alerts: BTreeMap<(&'static str, &'static str), u64>,
    /// The responder's decisions so far by outcome.
    pub responses: BTreeMap<String, u64>,
    /// The connections' TCP health (`--tcp`).
    pub tcp: Option<wirewatch_flow::TcpTotals>,
    /// DNS transactions, without the per-host lists (`--tcp`).
    pub dns: Option<wirewatch_flow::DnsTotals>,
    /// `/metrics`' per-host and per-process counters (kept from publish to publish).
    pub talkers: Arc<crate::metrics::Talkers>,
}

pub use crate::hub::{shared, Shared};

/// When a [`WebFeed`] publishes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Publish {
    /// Live capture: once a second (the newest 2-second slot is still
    /// filling).
    Live,
    /// A replay paced at this multiple of real time: once a second of real
    /// time, that is every `speed` seconds of packet time.
    Paced(f64),
    /// A replay read as fast as it can be: at report ticks and the end.
    Ticks,
}

/// The consumer: publishes a [`LiveSnapshot`] (see [`Publish`] for when)
/// and, while an SSE client listens, a snapshot event; keeps each alert.
/// A file read as fast as it can be publishes only at its ticks and its
/// end: a snapshot per second of its packets' time would cost far more
/// than the reading (3.8× the run on a 2.5-hour capture) for numbers no
/// client could see.
pub struct WebFeed {
    out: Shared,
    when: Publish,
    next: Option<Timestamp>,
    /// The newest kernel counters seen (live).
    capture: Option<CaptureStats>,
    alerts: BTreeMap<(&'static str, &'static str), u64>,
    responses: BTreeMap<String, u64>,
    spark: VecDeque<[f64; 3]>,
}

/// Nanoseconds between two publishes (live).
const EVERY_NS: i64 = 1_000_000_000;

impl WebFeed {
    /// A feed into `out` publishing as `when` says; with `names`, the
    /// API's entries carry host names from it (see [`crate::names`]).
    pub fn new(out: Shared, when: Publish, names: Option<wirewatch_names::Resolver>) -> WebFeed {
        out.live
            .store(when == Publish::Live, std::sync::atomic::Ordering::Relaxed);
        if let Some(r) = names {
            out.names.start(r);
        }
        WebFeed {
            out,
            when,
            next: None,
            capture: None,
            alerts: BTreeMap::new(),
            responses: BTreeMap::new(),
            spark: VecDeque::with_capacity(SPARK_POINTS),
        }
    }

    /// The published snapshot with the alert and response counts as they
    /// are now (they change between publishes).
    fn recount(&mut self) {
        let mut snap = LiveSnapshot::clone(&self.out.snap.load());
        snap.alerts = self.alerts.clone();
        snap.responses = self.responses.clone();
        self.out.snap.store(Arc::new(snap));
    }

    fn publish(&mut self, table: &FlowTable, cx: &Context<'_>, slot: i64, fin: bool) {
        if let Some(c) = cx.capture {
            self.capture = Some(c.clone());
        }
        let cx = Context {
            capture: self.capture.as_ref(),
            ..*cx
        };
        let mut snap = build(table, &cx, slot, fin, &self.alerts);
        if self.spark.len() == SPARK_POINTS {
            self.spark.pop_front();
        }
        self.spark
            .push_back([snap.time, snap.totals[0][0], snap.totals[1][0]]);
        snap.spark = Arc::new(self.spark.iter().copied().collect());
        snap.responses = self.responses.clone();
        snap.talkers = Arc::new(crate::metrics::talkers(
            table,
            &cx,
            &self.out.snap.load().talkers,
        ));
        self.out.names.want(&snap);
        if self.out.has_listeners() {
            self.out.send_snapshot(&sse_json(&snap, &self.out.names));
        }
        self.out.snap.store(Arc::new(snap));
    }
}

/// The whole [`LiveSnapshot`] of `table` (`fin`: the final report's rules:
/// every flow, not only the active ones). Its sparkline is the caller's.
pub fn build(
    table: &FlowTable,
    cx: &Context<'_>,
    slot: i64,
    fin: bool,
    alerts: &BTreeMap<(&'static str, &'static str), u64>,
) -> LiveSnapshot {
    let sorts = WINDOWS.map(|(_, sort)| sort);
    let views = BYS.map(|(_, view)| {
        (
            view,
            if view == View::Port {
                DRILL_FLOWS
            } else {
                MAX_LIMIT
            },
        )
    });
    let mut built = Snapshot::build_views(table, &views, &sorts, slot, !fin);
    let totals = built
        .first()
        .and_then(|v| v.first())
        .map_or([[0.0; 3]; 2], |s| [s.totals.rates[0], s.totals.rates[1]]);
    // The port view's 40 s snapshot: the busiest flows, for drill-downs.
    let drill = built
        .iter_mut()
        .zip(&views)
        .find(|(_, (v, _))| *v == View::Port)
        .and_then(|(snaps, _)| snaps.last_mut())
        .map(|s| entries_json(s, cx))
        .unwrap_or_default();
    let tops: Vec<Vec<Top>> = built
        .into_iter()
        .map(|snaps| {
            snaps
                .into_iter()
                .zip(sorts)
                .map(|(mut snap, sort)| {
                    snap.entries.truncate(MAX_LIMIT);
                    top(snap, cx, sort, fin)
                })
                .collect()
        })
        .collect();
    LiveSnapshot {
        state: if fin { "ended" } else { "live" },
        time: table.now().as_secs_f64(),
        totals,
        spark: Arc::default(),
        drill: Arc::new(drill),
        tops: Arc::new(tops),
        interfaces: interfaces(table, cx),
        decode_errors: DecodeError::ALL
            .iter()
            .map(|e| (e.as_str(), table.stats().decode_errors[e.index()]))
            .collect(),
        flows_active: table.len() as u64,
        alerts: alerts.clone(),
        responses: BTreeMap::new(),
        tcp: table.tcp_analysis().then(|| table.tcp_totals()),
        dns: table.dns().map(|d| d.overall()),
        talkers: Arc::default(),
    }
}

/// A responder's decision as `/api/v1/responses` and `event: response` give it.
pub fn response_json(r: &Response) -> Value {
    let time = |t: Timestamp| wirewatch_units::rfc3339(t.as_nanos().div_euclid(1_000_000_000));
    json!({
        "time": time(r.time),
        "outcome": r.outcome,
        "action": r.action,
        "target": r.target,
        "until": r.until.map(time),
        "rule": r.rule,
        "alert": r.alert,
        "line": r.line,
    })
}

/// The entries of `snap` as `--format json` prints them.
fn entries_json(snap: &Snapshot, cx: &Context<'_>) -> Vec<Value> {
    snap.entries
        .iter()
        .map(|e| tidied(entry_json(e, cx.owners.get(e.owner))))
        .collect()
}

/// `/api/v1/interfaces`' list (also in the SSE snapshot event).
pub fn interfaces_json(snap: &LiveSnapshot) -> Vec<Value> {
    snap.interfaces
        .iter()
        .map(|i| {
            json!({
                "name": i.name,
                "transmit_packets": i.tx.0,
                "transmit_bytes": i.tx.1,
                "receive_packets": i.rx.0,
                "receive_bytes": i.rx.1,
                "kernel_received": i.kernel.map(|k| k.0),
                "kernel_dropped": i.kernel.map(|k| k.1),
                "state": i.kernel.map(|k| k.2),
            })
        })
        .collect()
}

/// The SSE `snapshot` event's data: state, time, interfaces, totals,
/// sparkline, the first [`SSE_TOP`] entries of each view in each window
/// (with their host `names`), and the alert count.
pub fn sse_json(snap: &LiveSnapshot, names: &HostNames) -> Value {
    // Every view and window, empty before the first publish.
    let mut top = Map::new();
    for (b, (by, _)) in BYS.iter().enumerate() {
        let per: Map<String, Value> = WINDOWS
            .iter()
            .enumerate()
            .map(|(w, (window, _))| {
                let entries = snap
                    .tops
                    .get(b)
                    .and_then(|t| t.get(w))
                    .map(|t| &t.entries[..]);
                let mut first: Vec<Value> = entries
                    .unwrap_or_default()
                    .iter()
                    .take(SSE_TOP)
                    .cloned()
                    .collect();
                names.add(&mut first);
                (window.to_string(), Value::Array(first))
            })
            .collect();
        top.insert(by.to_string(), Value::Object(per));
    }
    json!({
        "state": snap.state,
        "time": snap.time,
        "interfaces": interfaces_json(snap),
        "totals": {
            "sent_bytes_per_s": snap.totals[0],
            "received_bytes_per_s": snap.totals[1],
        },
        "spark": *snap.spark,
        "top": top,
        "alerts_total": snap.alerts.values().sum::<u64>(),
        "tcp": snap.tcp.as_ref().map(tcp_health_json),
    })
}

/// The run's TCP health (`--tcp`) for the dashboard: the `--format json`
/// summary's `tcp` object, `handshake_rtt_buckets` and `rtt_buckets` (the
/// connections' smoothed RTTs, one per direction with samples).
pub fn tcp_health_json(t: &wirewatch_flow::TcpTotals) -> Value {
    let mut v = wirewatch_pipeline::report_json::tcp_json(t);
    v["handshake_rtt_buckets"] = buckets_json(&t.handshake_rtt);
    v["rtt_buckets"] = buckets_json(&t.smoothed_rtt);
    v["rtt_count"] = t.smoothed_rtt.count().into();
    v
}

/// The RTTs of `h` per bucket of `/metrics`' histograms: `le_ms` its upper
/// bound (`null` for the last), `count` the RTTs in it (not below it).
fn buckets_json(h: &wirewatch_flow::RttHistogram) -> Value {
    let mut below = 0;
    let buckets: Vec<Value> = crate::metrics::rtt_buckets(h)
        .into_iter()
        .map(|(le, n)| {
            let le_ms = le
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite())
                .map(|s| (s * 1e6).round() / 1e3);
            let b = json!({ "le_ms": le_ms, "count": n - below });
            below = n;
            b
        })
        .collect();
    Value::Array(buckets)
}

/// One view in one window from its snapshot, as `--format json` has it.
fn top(mut snap: Snapshot, cx: &Context<'_>, sort: SortKey, fin: bool) -> Top {
    cx.owners.sort_by_name(&mut snap, sort);
    let kind = if fin { "final" } else { "interval" };
    Top {
        head: tidied(head_json(&snap, kind, None, None, cx.capture)),
        entries: entries_json(&snap, cx),
    }
}

/// Per-interface sums over the flows and each interface's "other flows".
fn interfaces(table: &FlowTable, cx: &Context<'_>) -> Vec<IfaceRow> {
    let mut rows: Vec<IfaceRow> = cx
        .interfaces
        .iter()
        .map(|n| IfaceRow {
            name: n.clone(),
            ..IfaceRow::default()
        })
        .collect();
    let mode = table.config().bytes;
    let flows = table.flows().chain(table.other_flows().map(|o| &o.flow));
    for f in flows {
        if let Some(r) = rows.get_mut(usize::from(f.iface)) {
            r.tx.0 += f.sent().packets;
            r.tx.1 += f.sent().bytes(mode);
            r.rx.0 += f.received().packets;
            r.rx.1 += f.received().bytes(mode);
        }
    }
    if let Some(c) = cx.capture {
        for r in &mut rows {
            if let Some(k) = c.interfaces.iter().find(|k| k.name == r.name) {
                r.kernel = Some((k.received, k.dropped, k.state));
            }
        }
    }
    rows
}

impl Consumer for WebFeed {
    fn name(&self) -> &'static str {
        "web"
    }

    fn wants(&self) -> Wants {
        Wants {
            capture_stats: true,
            ..Wants::default()
        }
    }

    fn advance(&mut self, table: &mut FlowTable, now: Timestamp, cx: &Context<'_>, _: &mut Outbox) {
        let every = match self.when {
            Publish::Live => EVERY_NS,
            Publish::Paced(speed) => (EVERY_NS as f64 * speed) as i64,
            Publish::Ticks => return,
        };
        if self.next.is_some_and(|n| now < n) {
            return;
        }
        self.next = Some(now.add_nanos(every.max(1)));
        // The newest 2-second slot is still filling.
        let slot = table.slot_of(now) - 1;
        self.publish(table, cx, slot, false);
    }

    fn alert(&mut self, alert: &Alert) {
        *self
            .alerts
            .entry((alert.kind.as_str(), alert.severity.as_str()))
            .or_default() += 1;
        if let Ok(v) = wirewatch_pipeline::json::to_value(alert) {
            self.out.push_alert(v);
        }
        // Counted at once, also after the end (the last alerts come then).
        self.recount();
    }

    fn response(&mut self, r: &Response) {
        *self.responses.entry(r.outcome.clone()).or_default() += 1;
        self.out.push_response(response_json(r));
        self.recount();
    }

    fn tick(&mut self, table: &FlowTable, tick: &Tick, cx: &Context<'_>) -> io::Result<()> {
        // Live, the publishes once a second already cover the reports.
        if self.when != Publish::Live {
            self.publish(table, cx, tick.slot, false);
        }
        Ok(())
    }

    fn finish(
        &mut self,
        table: &mut FlowTable,
        _end: &Ending,
        cx: &Context<'_>,
        _out: &mut Outbox,
    ) -> anyhow::Result<()> {
        let slot = table.slot_of(table.now());
        self.publish(table, cx, slot, true);
        Ok(())
    }
}
