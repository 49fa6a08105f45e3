//! Queries over any [`Store`]: top talkers, time series and flow lists.
//!
//! A time range is cut into pieces read from the coarsest resolution that
//! holds them completely ([`plan`]): whole days from day rows, whole hours
//! from hour rows, the edges from minute rows. Where retention has deleted
//! the finer rows, the coarser rows covering the range are used whole, and
//! the range actually answered is reported.

use std::collections::HashMap;
use std::net::IpAddr;

use wirewatch_units::RttHistogram;

use crate::{
    service_ports, Columns, Counts, Coverage, FlowId, Resolution, Row, Selection, Store,
    StoreError, TcpCounts,
};

/// A half-open time range in Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// Start (included).
    pub from: i64,
    /// End (excluded).
    pub to: i64,
}

/// A part of a range read from one resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// The table read.
    pub res: Resolution,
    /// Start of the rows read (included).
    pub from: i64,
    /// End of the rows read (excluded).
    pub to: i64,
}

/// How a range is read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Pieces in time order, not overlapping.
    pub pieces: Vec<Piece>,
}

impl Plan {
    /// The time the rows read stand for: rows are read by their start, so
    /// from the first period starting at or after `from` to the end of the
    /// last one starting before `to` (wider than asked where only coarse
    /// rows are left).
    pub fn covered(&self, asked: &Range) -> Range {
        Range {
            from: self
                .pieces
                .first()
                .map_or(asked.from, |p| ceil(p.res, p.from)),
            to: self.pieces.last().map_or(asked.to, |p| ceil(p.res, p.to)),
        }
    }

    /// The resolutions read, finest first.
    pub fn resolutions(&self) -> Vec<Resolution> {
        let mut v: Vec<Resolution> = self.pieces.iter().map(|p| p.res).collect();
        v.sort();
        v.dedup();
        v
    }
}

fn finer(r: Resolution) -> Resolution {
    match r {
        Resolution::Day => Resolution::Hour,
        _ => Resolution::Minute,
    }
}

fn ceil(r: Resolution, t: i64) -> i64 {
    let f = r.floor(t);
    if f == t {
        t
    } else {
        f + r.secs()
    }
}

/// The time the store holds traffic for: from the start of its oldest row
/// (any resolution) to the end of its newest minute; `None` when empty.
pub fn extent(cov: &Coverage) -> Option<Range> {
    let from = Resolution::ALL
        .iter()
        .filter_map(|&r| cov.of(r).oldest)
        .min()?;
    let to = cov.newest_minute.map_or(from, |m| m + 60);
    Some(Range { from, to })
}

/// Cuts `[from, to)` into pieces, reading nothing coarser than `coarsest`.
pub fn plan(cov: &Coverage, range: &Range, coarsest: Resolution) -> Plan {
    let mut pieces = Vec::new();
    plan_into(
        cov,
        range.from,
        range.to,
        Resolution::Day,
        coarsest,
        &mut pieces,
    );
    pieces.retain(|p| p.from < p.to);
    Plan { pieces }
}

/// Where the finer rows of `res` are deleted, whole `res` periods are
/// read; complete `res` periods inside the range are read from `res` only
/// when `res` is not coarser than `whole`.
fn plan_into(
    cov: &Coverage,
    mut from: i64,
    to: i64,
    res: Resolution,
    whole: Resolution,
    out: &mut Vec<Piece>,
) {
    if from >= to {
        return;
    }
    if res == Resolution::Minute {
        out.push(Piece { res, from, to });
        return;
    }
    let fine = finer(res);
    // Before this mark the finer rows are deleted: read whole periods here.
    if let Some(p) = cov.of(fine).pruned_until {
        if from < p {
            let end = ceil(res, to).min(p).max(res.floor(from));
            out.push(Piece {
                res,
                from: res.floor(from),
                to: end,
            });
            from = end.max(from);
            if from >= to {
                return;
            }
        }
    }
    let a = ceil(res, from);
    let b = res.floor(to).min(cov.of(res).complete_until);
    if a < b && res <= whole {
        plan_into(cov, from, a, fine, whole, out);
        out.push(Piece {
            res,
            from: a,
            to: b,
        });
        plan_into(cov, b, to, fine, whole, out);
    } else {
        plan_into(cov, from, to, fine, whole, out);
    }
}

/// Extra row test applied after the store's selection (a filter
/// expression); shared by the parallel readers.
pub type Predicate<'a> = &'a (dyn Fn(&Row) -> bool + Sync);

/// Cuts every piece into `k` slices of whole periods; slice `i` of each
/// piece goes to part `i`, so parts get similar shares of every resolution.
fn split(plan: &Plan, k: usize) -> Vec<Vec<Piece>> {
    let mut parts = vec![Vec::new(); k];
    for p in &plan.pieces {
        let secs = p.res.secs();
        let periods = (p.to - p.from).div_euclid(secs).max(1);
        let mut start = p.from;
        for (i, part) in parts.iter_mut().enumerate() {
            let end = if i + 1 == k {
                p.to
            } else {
                p.res
                    .floor(p.from + periods * (i as i64 + 1) / k as i64 * secs)
                    .clamp(start, p.to)
            };
            if start < end {
                part.push(Piece {
                    res: p.res,
                    from: start,
                    to: end,
                });
            }
            start = end;
        }
    }
    parts
}

/// Plans spanning less than this are read by one thread.
const PARALLEL_SECS: i64 = 86_400;

/// Folds every row of the plan that `sel` and `pred` accept into an
/// accumulator: `add` takes a row, `merge` combines the accumulators of
/// parallel readers (one per core, up to 4, on plans longer than a day).
#[allow(clippy::too_many_arguments)]
pub fn fold_rows<A: Send>(
    store: &dyn Store,
    plan: &Plan,
    sel: &Selection,
    pred: Option<Predicate<'_>>,
    cols: Columns,
    init: impl Fn() -> A + Sync,
    add: impl Fn(&mut A, Resolution, &Row) + Sync,
    merge: impl Fn(&mut A, A),
) -> Result<A, StoreError> {
    let span: i64 = plan.pieces.iter().map(|p| p.to - p.from).sum();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let k = if span >= PARALLEL_SECS { cores } else { 1 };
    let mut readers: Vec<Box<dyn Store>> = (1..k).filter_map(|_| store.reader()).collect();
    let parts = split(plan, readers.len() + 1);
    let read = |st: &dyn Store, pieces: &[Piece]| -> Result<A, StoreError> {
        let mut acc = init();
        for p in pieces {
            st.scan(p.res, p.from, p.to, sel, cols, &mut |r| {
                if pred.is_none_or(|t| t(r)) {
                    add(&mut acc, p.res, r)
                }
            })?;
        }
        Ok(acc)
    };
    let (first, others) = parts.split_first().expect("at least one part");
    let (mine, theirs) = std::thread::scope(|s| {
        let handles: Vec<_> = readers
            .drain(..)
            .zip(others)
            .map(|(st, pieces)| {
                let read = &read;
                s.spawn(move || read(st.as_ref(), pieces))
            })
            .collect();
        let mine = read(store, first);
        let theirs: Vec<Result<A, StoreError>> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(StoreError::Corrupt("a reader thread panicked".into())))
            })
            .collect();
        (mine, theirs)
    });
    let mut acc = mine?;
    for t in theirs {
        merge(&mut acc, t?);
    }
    Ok(acc)
}

/// What `history top` groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// Every host, both ends of each flow (a host's own sent and received bytes).
    Host,
    /// Local hosts.
    Local,
    /// Remote hosts.
    Remote,
    /// Host pairs, either orientation merged: the lower address first,
    /// its counts seen from that first host.
    Pair,
    /// Process names.
    Process,
    /// Protocol and service port (the lower port of the flow).
    Port,
    /// Interfaces.
    Iface,
}

/// A grouping key with its display text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    /// A host.
    Host(IpAddr),
    /// A pair of hosts, the lower address first ([`pair`]).
    Pair(IpAddr, IpAddr),
    /// A process (None: not known).
    Process(Option<std::sync::Arc<str>>),
    /// Protocol and port.
    Port(u8, u16),
    /// Interface.
    Iface(std::sync::Arc<str>),
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Rows merged while the writer was behind have no hosts.
            Entity::Host(h) if h.is_unspecified() => write!(f, "(merged)"),
            Entity::Host(h) => write!(f, "{h}"),
            Entity::Pair(a, b) if a.is_unspecified() && b.is_unspecified() => {
                write!(f, "(merged)")
            }
            Entity::Pair(a, b) => write!(f, "{a} <=> {b}"),
            Entity::Process(Some(p)) => write!(f, "{p}"),
            Entity::Process(None) => write!(f, "(unknown)"),
            Entity::Port(p, 0) => write!(f, "{}", wirewatch_wire::proto::name(*p)),
            Entity::Port(p, port) => write!(f, "{}/{port}", wirewatch_wire::proto::name(*p)),
            Entity::Iface(i) => write!(f, "{i}"),
        }
    }
}

/// Swaps the directions: a remote host's view of a row's counts.
fn mirrored(c: &Counts) -> Counts {
    Counts {
        packets_out: c.packets_in,
        bytes_out: c.bytes_in,
        packets_in: c.packets_out,
        bytes_in: c.bytes_out,
        tcp: c.tcp.mirrored(),
    }
}

/// One pair for both orientations of a conversation: the lower address
/// first, the counts seen from it (out = sent by the first host).
fn pair(local: IpAddr, remote: IpAddr, c: Counts) -> (Entity, Counts) {
    if remote < local {
        (Entity::Pair(remote, local), mirrored(&c))
    } else {
        (Entity::Pair(local, remote), c)
    }
}

/// The columns grouping by `by` needs (every column for a filter).
pub fn columns_for(by: GroupBy, filtered: bool) -> Columns {
    if filtered {
        return Columns::ALL;
    }
    let mut c = Columns::NONE;
    match by {
        GroupBy::Host | GroupBy::Local | GroupBy::Remote | GroupBy::Pair => c.hosts = true,
        GroupBy::Process => c.process = true,
        GroupBy::Port => c.ports = true,
        GroupBy::Iface => c.iface = true,
    }
    c
}

/// The entities a row counts for, with the counts seen from each (out =
/// sent by the entity where it is a host).
pub fn entities(by: GroupBy, r: &Row) -> impl Iterator<Item = (Entity, Counts)> {
    let c = r.counts;
    let (first, second) = match by {
        GroupBy::Host => (
            (Entity::Host(r.local), c),
            Some((Entity::Host(r.remote), mirrored(&c))),
        ),
        GroupBy::Local => ((Entity::Host(r.local), c), None),
        GroupBy::Remote => ((Entity::Host(r.remote), mirrored(&c)), None),
        GroupBy::Pair => (pair(r.local, r.remote, c), None),
        GroupBy::Process => ((Entity::Process(r.process.clone()), c), None),
        GroupBy::Port => {
            let (l, rp) = service_ports(r.local_port, r.remote_port);
            ((Entity::Port(r.protocol, l.max(rp)), c), None)
        }
        GroupBy::Iface => ((Entity::Iface(r.iface.clone()), c), None),
    };
    std::iter::once(first).chain(second)
}

/// One line of a top list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopEntry {
    /// The entity.
    pub entity: Entity,
    /// Its display text.
    pub key: String,
    /// Its traffic.
    pub counts: Counts,
}

/// A top list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Top {
    /// Entries, most bytes first (ties by key).
    pub entries: Vec<TopEntry>,
    /// Entities in the range (before the limit).
    pub entities: usize,
    /// All traffic selected (each flow once).
    pub total: Counts,
    /// The range answered.
    pub covered: Range,
    /// Resolutions read.
    pub resolutions: Vec<Resolution>,
    /// What it is ranked by.
    pub order: Order,
}

/// What a top list (and the choice of a series' lines) ranks by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// Bytes both ways.
    #[default]
    Bytes,
    /// TCP segments retransmitted both ways (`--tcp` minutes).
    Retrans,
    /// The round trip between the ends ([`TcpCounts::rtt_us`]); entities
    /// without RTT samples last.
    Rtt,
}

impl Order {
    /// Whether it ranks by TCP figures (only TCP rows are then read).
    pub fn is_tcp(self) -> bool {
        self != Order::Bytes
    }

    /// `a` before `b` (ties: more bytes first).
    fn cmp(self, a: &Counts, b: &Counts) -> std::cmp::Ordering {
        let bytes = b.bytes().cmp(&a.bytes());
        match self {
            Order::Bytes => bytes,
            Order::Retrans => b
                .tcp
                .retransmissions()
                .cmp(&a.tcp.retransmissions())
                .then(bytes),
            Order::Rtt => {
                let rtt = |c: &Counts| c.tcp.rtt_us().unwrap_or(-1.0);
                rtt(b).total_cmp(&rtt(a)).then(bytes)
            }
        }
    }
}

/// Only TCP rows when `order` ranks by TCP figures.
fn for_order(sel: &Selection, order: Order) -> std::borrow::Cow<'_, Selection> {
    if order.is_tcp() && sel.protocol.is_none() {
        std::borrow::Cow::Owned(Selection {
            protocol: Some(wirewatch_wire::proto::TCP),
            ..sel.clone()
        })
    } else {
        std::borrow::Cow::Borrowed(sel)
    }
}

/// The `limit` entities with the most bytes in `range`.
pub fn top(
    store: &dyn Store,
    range: &Range,
    by: GroupBy,
    sel: &Selection,
    limit: usize,
) -> Result<Top, StoreError> {
    top_where(store, range, by, sel, None, limit, Order::Bytes)
}

/// [`top`] with an extra row test, ranked by `order`.
pub fn top_where(
    store: &dyn Store,
    range: &Range,
    by: GroupBy,
    sel: &Selection,
    pred: Option<Predicate<'_>>,
    limit: usize,
    order: Order,
) -> Result<Top, StoreError> {
    let sel = &*for_order(sel, order);
    let plan = plan(&store.coverage()?, range, Resolution::Day);
    type Sums = HashMap<Entity, Counts, foldhash::fast::RandomState>;
    let (sums, total) = fold_rows(
        store,
        &plan,
        sel,
        pred,
        columns_for(by, pred.is_some()),
        || (Sums::default(), Counts::default()),
        |(sums, total), _, r| {
            total.add(&r.counts);
            for (e, c) in entities(by, r) {
                sums.entry(e).or_default().add(&c);
            }
        },
        |(sums, total), (more, t)| {
            total.add(&t);
            for (e, c) in more {
                sums.entry(e).or_default().add(&c);
            }
        },
    )?;
    let entities = sums.len();
    let mut v: Vec<(Entity, Counts)> = sums.into_iter().collect();
    v.sort_by(|a, b| order.cmp(&a.1, &b.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    Ok(Top {
        entries: v
            .into_iter()
            .map(|(entity, counts)| TopEntry {
                key: entity.to_string(),
                entity,
                counts,
            })
            .collect(),
        entities,
        total,
        covered: plan.covered(range),
        resolutions: plan.resolutions(),
        order,
    })
}

/// Time series: buckets of `step` seconds, one line per entity.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Bucket starts (multiples of the step, UTC).
    pub buckets: Vec<i64>,
    /// Bucket length in seconds.
    pub step: i64,
    /// Lines: name and counts per bucket, first ranked first.
    pub lines: Vec<(String, Vec<Counts>)>,
    /// What the series measures.
    pub metric: Metric,
    /// For a TCP metric, its value per line (as `lines`) and bucket:
    /// `None` where the bucket has nothing to measure.
    pub values: Vec<Vec<Option<f64>>>,
    /// The range answered.
    pub covered: Range,
    /// Resolutions read.
    pub resolutions: Vec<Resolution>,
}

/// What a series measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Metric {
    /// Traffic (bytes, packets and the rate from them).
    #[default]
    Bytes,
    /// Retransmitted TCP segments per TCP segment, both ways.
    RetransRate,
    /// The 95th percentile of the round trip (ms) over the bucket's
    /// connection-minutes, each weighted by its RTT samples.
    RttP95,
}

impl Metric {
    /// The order its lines are chosen by.
    pub fn order(self) -> Order {
        match self {
            Metric::Bytes => Order::Bytes,
            Metric::RetransRate => Order::Retrans,
            Metric::RttP95 => Order::Rtt,
        }
    }

    /// Its name on the command line and in JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Metric::Bytes => "bytes",
            Metric::RetransRate => "retrans_rate",
            Metric::RttP95 => "rtt_p95",
        }
    }
}

/// RTT histograms kept at most by one `rtt_p95` query (lines × buckets):
/// each is about 900 bytes, allocated only for buckets with samples.
const MAX_RTT_HISTOGRAMS: usize = 20_000;

/// Adds `c` (rows covering `[ts, ts + len)`) to the buckets it overlaps,
/// split in proportion to the overlap; integer remainders go to the last
/// bucket, so the sum is exact.
fn spread(buckets: &mut [Counts], first: i64, step: i64, ts: i64, len: i64, c: &Counts) {
    let n = buckets.len() as i64;
    let (lo, hi) = (
        (ts - first).div_euclid(step),
        (ts + len - 1 - first).div_euclid(step),
    );
    let (lo, hi) = (lo.max(0), hi.min(n - 1));
    if lo > hi {
        return;
    }
    if lo == hi {
        buckets[lo as usize].add(c);
        return;
    }
    let mut left = *c;
    for b in lo..=hi {
        if b == hi {
            buckets[b as usize].add(&left);
            break;
        }
        let start = (first + b * step).max(ts);
        let end = (first + (b + 1) * step).min(ts + len);
        let share = |v: u64| -> u64 { (v as u128 * (end - start) as u128 / len as u128) as u64 };
        let part = Counts {
            packets_out: share(c.packets_out),
            bytes_out: share(c.bytes_out),
            packets_in: share(c.packets_in),
            bytes_in: share(c.bytes_in),
            tcp: TcpCounts::from_fields(c.tcp.fields().map(share)),
        };
        left.packets_out -= part.packets_out;
        left.bytes_out -= part.bytes_out;
        left.packets_in -= part.packets_in;
        left.bytes_in -= part.bytes_in;
        for (l, p) in left.tcp.fields_mut().into_iter().zip(part.tcp.fields()) {
            *l -= p;
        }
        buckets[b as usize].add(&part);
    }
}

/// One line's buckets while reading: counts, and for `rtt_p95` an RTT
/// histogram per bucket with samples.
#[derive(Default)]
struct Line {
    counts: Vec<Counts>,
    rtt: Vec<Option<Box<RttHistogram>>>,
}

/// Where the buckets start and how long they are.
#[derive(Clone, Copy)]
struct Grid {
    first: i64,
    step: i64,
    n: usize,
}

impl Line {
    fn new(g: Grid, metric: Metric) -> Line {
        Line {
            counts: vec![Counts::default(); g.n],
            rtt: match metric {
                Metric::RttP95 => vec![None; g.n],
                _ => Vec::new(),
            },
        }
    }

    /// Adds a row covering `[ts, ts + len)`; its RTT goes to the bucket it
    /// starts in, weighted by its samples.
    fn add(&mut self, g: Grid, ts: i64, len: i64, c: &Counts) {
        spread(&mut self.counts, g.first, g.step, ts, len, c);
        let Some(us) = c.tcp.rtt_us().filter(|_| !self.rtt.is_empty()) else {
            return;
        };
        let k = (ts - g.first).div_euclid(g.step).max(0) as usize;
        if let Some(slot) = self.rtt.get_mut(k) {
            slot.get_or_insert_with(Default::default)
                .add_n((us * 1_000.0) as u64, c.tcp.rtt_samples());
        }
    }

    fn merge(&mut self, o: Line) {
        self.counts
            .iter_mut()
            .zip(&o.counts)
            .for_each(|(a, b)| a.add(b));
        for (a, b) in self.rtt.iter_mut().zip(o.rtt) {
            match (a.as_mut(), b) {
                (Some(a), Some(b)) => a.merge(&b),
                (None, b) => *a = b,
                (_, None) => {}
            }
        }
    }

    /// The metric per bucket (empty for bytes).
    fn values(&self, metric: Metric) -> Vec<Option<f64>> {
        match metric {
            Metric::Bytes => Vec::new(),
            Metric::RetransRate => self
                .counts
                .iter()
                .map(|c| {
                    (c.packets() > 0).then(|| c.tcp.retransmissions() as f64 / c.packets() as f64)
                })
                .collect(),
            Metric::RttP95 => self
                .rtt
                .iter()
                .map(|h| h.as_ref()?.quantile(0.95).map(|ns| ns as f64 / 1e6))
                .collect(),
        }
    }

    fn total(&self) -> Counts {
        let mut t = Counts::default();
        self.counts.iter().for_each(|c| t.add(c));
        t
    }
}

const WEEK: i64 = 7 * 86_400;

/// The coarsest resolution not coarser than `step`.
fn resolution_for(step: i64) -> Resolution {
    if step >= 86_400 {
        Resolution::Day
    } else if step >= 3_600 {
        Resolution::Hour
    } else {
        Resolution::Minute
    }
}

/// What [`series`] computes.
#[derive(Clone, Debug)]
pub struct SeriesSpec<'a> {
    /// Time range.
    pub range: Range,
    /// Bucket length in seconds (whole minutes).
    pub step: i64,
    /// Rows selected.
    pub sel: Selection,
    /// One line per entity of this kind (else one line for everything).
    pub by: Option<GroupBy>,
    /// Lines kept with `by`.
    pub limit: usize,
    /// Name of the single line without `by`.
    pub total_name: &'a str,
    /// What is measured (a TCP metric reads TCP rows only).
    pub metric: Metric,
}

/// Traffic per `step` over `range`: one line for everything selected
/// (named after `total_name`), or, with `by`, the `limit` entities ranked
/// first by the metric's order. Rows coarser than the step are spread
/// evenly over the buckets they cover.
pub fn series(
    store: &dyn Store,
    spec: &SeriesSpec<'_>,
    pred: Option<Predicate<'_>>,
) -> Result<Series, StoreError> {
    let SeriesSpec {
        range,
        step,
        sel,
        by,
        limit,
        total_name,
        metric,
    } = spec;
    let (range, step, by, limit, metric) = (range, *step, *by, *limit, *metric);
    if step < 60 || step % 60 != 0 {
        return Err(StoreError::Corrupt(format!(
            "the step must be a whole number of minutes, got {step} s"
        )));
    }
    let order = metric.order();
    let sel = &*for_order(sel, order);
    let plan = plan(&store.coverage()?, range, resolution_for(step));
    let covered = plan.covered(range);
    // Buckets are multiples of the step from the epoch, except that steps
    // of whole weeks start on Mondays (1970-01-05), as calendars and the
    // chart's week ticks do.
    let origin = if step % WEEK == 0 { 4 * 86_400 } else { 0 };
    let first = (covered.from - origin).div_euclid(step) * step + origin;
    let n = ((covered.to - first + step - 1).div_euclid(step)).max(0) as usize;
    if n > 10_000_000 {
        return Err(StoreError::Corrupt(format!(
            "{n} buckets of {step} s: choose a larger step"
        )));
    }
    let lines_kept = by.map_or(1, |_| limit.max(1));
    if metric == Metric::RttP95 && n.saturating_mul(lines_kept) > MAX_RTT_HISTOGRAMS {
        return Err(StoreError::Corrupt(format!(
            "rtt_p95 over {n} buckets × {lines_kept} lines keeps too many histograms (at most {MAX_RTT_HISTOGRAMS}): choose a larger step or fewer lines"
        )));
    }
    let g = Grid { first, step, n };
    let buckets: Vec<i64> = (0..n as i64).map(|k| first + k * step).collect();
    let mut lines: Vec<(String, Line)> = Vec::new();
    // Interface totals answer the plain and per-interface traffic series
    // without reading flow rows.
    let only_iface = by.is_none()
        && pred.is_none()
        && metric == Metric::Bytes
        && Selection {
            iface: None,
            ..sel.clone()
        }
        .is_empty();
    if only_iface {
        let mut line = Line::new(g, metric);
        for p in &plan.pieces {
            store.totals(
                p.res,
                p.from,
                p.to,
                sel.iface.as_deref(),
                &mut |ts, _, c| line.add(g, ts, p.res.secs(), c),
            )?;
        }
        lines.push((total_name.to_string(), line));
    } else {
        type Lines = HashMap<Entity, Line, foldhash::fast::RandomState>;
        // The lines drawn are the top entities of the range: found first
        // (a cheap pass over coarse rows), so buckets are kept for them only.
        let chosen: std::collections::HashSet<Entity> = match by {
            Some(gb) => top_where(store, range, gb, sel, pred, limit, order)?
                .entries
                .into_iter()
                .map(|e| e.entity)
                .collect(),
            None => Default::default(),
        };
        let cols = match by {
            Some(gb) => columns_for(gb, pred.is_some()),
            None if pred.is_some() => Columns::ALL,
            None => Columns::NONE,
        };
        let (per, all) = fold_rows(
            store,
            &plan,
            sel,
            pred,
            cols,
            || (Lines::default(), Line::new(g, metric)),
            |(per, all), res, r| match by {
                None => all.add(g, r.ts, res.secs(), &r.counts),
                Some(gb) => {
                    for (e, c) in entities(gb, r) {
                        if !chosen.contains(&e) {
                            continue;
                        }
                        per.entry(e).or_insert_with(|| Line::new(g, metric)).add(
                            g,
                            r.ts,
                            res.secs(),
                            &c,
                        );
                    }
                }
            },
            |(per, all), (more, more_all)| {
                all.merge(more_all);
                for (e, l) in more {
                    match per.get_mut(&e) {
                        Some(to) => to.merge(l),
                        None => {
                            per.insert(e, l);
                        }
                    }
                }
            },
        )?;
        match by {
            None => lines.push((total_name.to_string(), all)),
            Some(_) => lines.extend(per.into_iter().map(|(e, l)| (e.to_string(), l))),
        }
    }
    let totals: Vec<Counts> = lines.iter().map(|(_, l)| l.total()).collect();
    let mut ranked: Vec<usize> = (0..lines.len()).collect();
    ranked.sort_by(|&a, &b| {
        order
            .cmp(&totals[a], &totals[b])
            .then_with(|| lines[a].0.cmp(&lines[b].0))
    });
    ranked.truncate(limit.max(1));
    let mut slots: Vec<Option<(String, Line)>> = lines.into_iter().map(Some).collect();
    let picked: Vec<(String, Line)> = ranked.iter().filter_map(|&k| slots[k].take()).collect();
    Ok(Series {
        buckets,
        step,
        values: picked.iter().map(|(_, l)| l.values(metric)).collect(),
        lines: picked
            .into_iter()
            .map(|(name, l)| (name, l.counts))
            .collect(),
        metric,
        covered,
        resolutions: plan.resolutions(),
    })
}

/// A flow's traffic over a range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSummary {
    /// The flow.
    pub id: FlowId,
    /// Start of its first period in the range.
    pub first: i64,
    /// End of its last period in the range.
    pub last: i64,
    /// Its traffic.
    pub counts: Counts,
}

/// Flows with traffic in `range`, most bytes first, at most `limit`.
/// Returns them and the number of flows before the limit.
pub fn flows(
    store: &dyn Store,
    range: &Range,
    sel: &Selection,
    pred: Option<Predicate<'_>>,
    limit: usize,
) -> Result<(Vec<FlowSummary>, usize, Range), StoreError> {
    let plan = plan(&store.coverage()?, range, Resolution::Minute);
    // A flow's rows written before its process was known have none: they
    // are the same flow, named after the process once known.
    let add = |m: &mut HashMap<FlowId, FlowSummary>, f: FlowSummary| {
        let key = FlowId {
            process: None,
            ..f.id.clone()
        };
        let e = m.entry(key).or_insert_with(|| FlowSummary {
            counts: Counts::default(),
            ..f.clone()
        });
        e.first = e.first.min(f.first);
        e.last = e.last.max(f.last);
        e.counts.add(&f.counts);
        if e.id.process.is_none() {
            e.id.process = f.id.process;
        }
    };
    let m = fold_rows(
        store,
        &plan,
        sel,
        pred,
        Columns::ALL,
        HashMap::new,
        |m, res, r| {
            add(
                m,
                FlowSummary {
                    id: r.key(),
                    first: r.ts,
                    last: r.ts + res.secs(),
                    counts: r.counts,
                },
            )
        },
        |m, more| more.into_values().for_each(|f| add(m, f)),
    )?;
    let n = m.len();
    let mut v: Vec<FlowSummary> = m.into_values().collect();
    v.sort_by(|a, b| {
        b.counts
            .bytes()
            .cmp(&a.counts.bytes())
            .then_with(|| a.id.cmp(&b.id))
    });
    v.truncate(limit);
    Ok((v, n, plan.covered(range)))
}
