//! [`WebFeed`]: the pipeline consumer that builds, on the packet thread,
//! what the API and `/metrics` serve, and publishes it as one
//! [`LiveSnapshot`] behind an [`ArcSwap`] (a store never waits on a reader).

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::Value;
use wirewatch_detect::Alert;
use wirewatch_flow::{FlowTable, Snapshot, SortKey, View};
use wirewatch_pipeline::json::tidied;
use wirewatch_pipeline::report_json::{entry_json, head_json};
use wirewatch_pipeline::{CaptureStats, Consumer, Context, Ending, Outbox, Tick, Wants};
use wirewatch_wire::{DecodeError, Timestamp};

/// Most entries kept per view and window: the largest `limit` the API takes.
pub const MAX_LIMIT: usize = 100;

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
    /// `/metrics`' per-host and per-process counters (kept from publish to publish).
    pub talkers: Arc<crate::metrics::Talkers>,
}

/// The place a [`WebFeed`] publishes to and the server reads from.
pub type Shared = Arc<ArcSwap<LiveSnapshot>>;

/// A new, empty [`Shared`].
pub fn shared() -> Shared {
    Arc::new(ArcSwap::from_pointee(LiveSnapshot {
        state: "starting",
        ..LiveSnapshot::default()
    }))
}

/// The consumer: publishes a [`LiveSnapshot`] once a second of the
/// wall clock while capturing live, at every report tick, and at the end.
/// A file is read as fast as it can be (a replay is not paced outside the
/// screen): a snapshot per second of its packets' time would cost far more
/// than the reading (3.8× the run on a 2.5-hour capture) for numbers no
/// client could see, so a replay publishes at its ticks and its end.
pub struct WebFeed {
    out: Shared,
    live: bool,
    next: Option<Timestamp>,
    /// The newest kernel counters seen (live).
    capture: Option<CaptureStats>,
    alerts: BTreeMap<(&'static str, &'static str), u64>,
}

/// Nanoseconds between two publishes.
const EVERY_NS: i64 = 1_000_000_000;

impl WebFeed {
    /// A feed into `out`; `live`: the newest 2-second slot is still filling.
    pub fn new(out: Shared, live: bool) -> WebFeed {
        WebFeed {
            out,
            live,
            next: None,
            capture: None,
            alerts: BTreeMap::new(),
        }
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
        snap.talkers = Arc::new(crate::metrics::talkers(
            table,
            &cx,
            &self.out.load().talkers,
        ));
        self.out.store(Arc::new(snap));
    }
}

/// The whole [`LiveSnapshot`] of `table` (`fin`: the final report's rules:
/// every flow, not only the active ones).
pub fn build(
    table: &FlowTable,
    cx: &Context<'_>,
    slot: i64,
    fin: bool,
    alerts: &BTreeMap<(&'static str, &'static str), u64>,
) -> LiveSnapshot {
    let tops: Vec<Vec<Top>> = BYS
        .iter()
        .map(|&(_, view)| {
            WINDOWS
                .iter()
                .map(|&(_, sort)| top(table, cx, view, sort, slot, fin))
                .collect()
        })
        .collect();
    LiveSnapshot {
        state: if fin { "ended" } else { "live" },
        tops: Arc::new(tops),
        interfaces: interfaces(table, cx),
        decode_errors: DecodeError::ALL
            .iter()
            .map(|e| (e.as_str(), table.stats().decode_errors[e.index()]))
            .collect(),
        flows_active: table.len() as u64,
        alerts: alerts.clone(),
        talkers: Arc::default(),
    }
}

fn top(
    table: &FlowTable,
    cx: &Context<'_>,
    view: View,
    sort: SortKey,
    slot: i64,
    fin: bool,
) -> Top {
    let mut snap = Snapshot::build_top(table, view, sort, slot, !fin, Some(MAX_LIMIT));
    cx.owners.sort_by_name(&mut snap, sort);
    let kind = if fin { "final" } else { "interval" };
    Top {
        head: tidied(head_json(&snap, kind, None, None, cx.capture)),
        entries: snap
            .entries
            .iter()
            .map(|e| tidied(entry_json(e, cx.owners.get(e.owner))))
            .collect(),
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
        if !self.live || self.next.is_some_and(|n| now < n) {
            return;
        }
        self.next = Some(now.add_nanos(EVERY_NS));
        let slot = table.slot_of(now) - i64::from(self.live);
        self.publish(table, cx, slot, false);
    }

    fn alert(&mut self, alert: &Alert) {
        *self
            .alerts
            .entry((alert.kind.as_str(), alert.severity.as_str()))
            .or_default() += 1;
        // Counted at once, also after the end (the last alerts come then).
        let mut snap = LiveSnapshot::clone(&self.out.load());
        snap.alerts = self.alerts.clone();
        self.out.store(Arc::new(snap));
    }

    fn tick(&mut self, table: &FlowTable, tick: &Tick, cx: &Context<'_>) -> io::Result<()> {
        self.publish(table, cx, tick.slot, false);
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
