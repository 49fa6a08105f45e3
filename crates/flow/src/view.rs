//! Views of the flow table: host pairs, pairs with ports, single hosts, and
//! the iftop rate arithmetic over them.

use std::collections::HashMap;
use std::net::IpAddr;

use wirewatch_wire::Timestamp;

use crate::table::{
    ByteMode, Counters, Flow, FlowTable, OtherFlows, Stats, HISTORY_SLOTS, SLOT_NANOS,
};

/// How flows are grouped into entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum View {
    /// One entry per host pair (iftop's default).
    #[default]
    Pair,
    /// One entry per host pair and ports (iftop `-P`).
    Port,
    /// One entry per source host (iftop with the destination hidden, key `d`).
    Src,
    /// One entry per destination host (iftop with the source hidden, key `s`).
    Dst,
    /// Any combination of the four fields iftop's `s`, `d`, `S`, `D` keys
    /// toggle; hidden fields are aggregated.
    Fields {
        /// Show the source host.
        src: bool,
        /// Show the destination host.
        dst: bool,
        /// Show the source port.
        src_port: bool,
        /// Show the destination port.
        dst_port: bool,
    },
    /// One entry per owning process (flows labelled with [`FlowTable::label_owners`]);
    /// source = the local side.
    Process,
}

impl View {
    /// The shown fields: source host, destination host, source port,
    /// destination port (all false for [`View::Process`]).
    pub fn fields(self) -> [bool; 4] {
        match self {
            View::Pair => [true, true, false, false],
            View::Port => [true, true, true, true],
            View::Src => [true, false, false, false],
            View::Dst => [false, true, false, false],
            View::Fields {
                src,
                dst,
                src_port,
                dst_port,
            } => [src, dst, src_port, dst_port],
            View::Process => [false; 4],
        }
    }

    /// The view showing these fields, by its short name where it has one.
    pub fn from_fields([src, dst, src_port, dst_port]: [bool; 4]) -> View {
        match [src, dst, src_port, dst_port] {
            [true, true, false, false] => View::Pair,
            [true, true, true, true] => View::Port,
            [true, false, false, false] => View::Src,
            [false, true, false, false] => View::Dst,
            _ => View::Fields {
                src,
                dst,
                src_port,
                dst_port,
            },
        }
    }
}

/// Entry order: iftop's `-o` plus cumulative total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    /// 2-second rate, both directions.
    Rate2s,
    /// 10-second rate.
    #[default]
    Rate10s,
    /// 40-second rate.
    Rate40s,
    /// Cumulative bytes.
    Total,
    /// Source address.
    Source,
    /// Destination address.
    Destination,
    /// Owner id (then total bytes); the binary sorts by name itself.
    Owner,
    /// Retransmitted segments of the entry's analysed TCP connections,
    /// both directions, most first (entries without any last).
    Retransmissions,
    /// The entry's smoothed RTT ([`EntryTcp::rtt_nanos`]), slowest first
    /// (entries without an RTT sample last).
    Rtt,
}

impl SortKey {
    /// Orders by something the cheap grouped-view ranking does not sum
    /// (owner, TCP health): such a build makes every entry, then cuts.
    fn needs_entries(self) -> bool {
        matches!(
            self,
            SortKey::Owner | SortKey::Retransmissions | SortKey::Rtt
        )
    }
}

/// Identity of an entry; fields the view hides are `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryKey {
    /// Source host.
    pub src: Option<IpAddr>,
    /// Destination host.
    pub dst: Option<IpAddr>,
    /// Source port (port view).
    pub src_port: Option<u16>,
    /// Destination port (port view).
    pub dst_port: Option<u16>,
    /// Protocol (port view).
    pub protocol: Option<u8>,
    /// Owning process id of the binary's registry (process view).
    pub owner: Option<u32>,
}

impl EntryKey {
    /// `ipv4` or `ipv6`.
    pub fn family(&self) -> &'static str {
        match self.src.or(self.dst) {
            Some(IpAddr::V6(_)) => "ipv6",
            _ => "ipv4",
        }
    }
}

/// One direction of an entry.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DirView {
    /// Cumulative counters.
    pub counters: Counters,
    /// Cumulative bytes in the table's byte mode.
    pub bytes: u64,
    /// Average rates over 2 s, 10 s and 40 s, bytes per second.
    pub rates: [f64; 3],
    /// Highest 2-second rate within the last 40 s, bytes per second.
    pub peak: f64,
}

/// One row of a view.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Identity.
    pub key: EntryKey,
    /// Source → destination.
    pub sent: DirView,
    /// Destination → source.
    pub recv: DirView,
    /// First packet.
    pub first_seen: Timestamp,
    /// Last packet.
    pub last_seen: Timestamp,
    /// 5-tuple flows folded into this entry.
    pub flows: u64,
    /// Owner of the entry's biggest attributed flow (0: none known).
    pub owner: u32,
    /// Flows of other owners are folded in too.
    pub mixed_owners: bool,
    /// TCP health of its analysed connections (`--tcp`), when it has some.
    pub tcp: Option<EntryTcp>,
}

/// TCP health of an entry's connections (`--tcp`): per direction as the
/// entry's `[sent, received]`, and the RTTs over its connections.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EntryTcp {
    /// Connections analysed.
    pub connections: u64,
    /// Retransmitted segments.
    pub retransmissions: [u64; 2],
    /// Out-of-order segments.
    pub out_of_order: [u64; 2],
    /// Duplicate ACKs.
    pub duplicate_acks: [u64; 2],
    /// Zero-window segments.
    pub zero_window: [u64; 2],
    /// Smallest RTT sample, nanoseconds (0: none).
    pub rtt_min_nanos: u64,
    /// Largest RTT sample, nanoseconds.
    pub rtt_max_nanos: u64,
    /// Smoothed RTTs weighted by their samples: sum and weight.
    rtt_weighted: (f64, u64),
    /// Shortest handshake (SYN to the ACK of the SYN/ACK), nanoseconds.
    pub handshake_nanos: Option<u64>,
}

impl EntryTcp {
    /// Adds a connection's analysis; `sent_dir` is its direction index
    /// that is the entry's "sent".
    fn add(&mut self, a: &crate::TcpAnalysis, sent_dir: usize) {
        self.connections += 1;
        for (i, dir) in [sent_dir, 1 - sent_dir].into_iter().enumerate() {
            let c = a.counters(dir);
            self.retransmissions[i] += c.retransmissions;
            self.out_of_order[i] += c.out_of_order;
            self.duplicate_acks[i] += c.duplicate_acks;
            self.zero_window[i] += c.zero_window;
            let r = a.rtt(dir);
            if r.samples > 0 {
                if self.rtt_min_nanos == 0 || r.min_nanos < self.rtt_min_nanos {
                    self.rtt_min_nanos = r.min_nanos;
                }
                self.rtt_max_nanos = self.rtt_max_nanos.max(r.max_nanos);
                self.rtt_weighted.0 += r.srtt_nanos as f64 * r.samples as f64;
                self.rtt_weighted.1 += r.samples;
            }
        }
        if let Some(h) = a.handshake().initial_nanos {
            self.handshake_nanos = Some(self.handshake_nanos.map_or(h, |x| x.min(h)));
        }
    }

    /// The smoothed RTTs' mean weighted by samples, nanoseconds (`None`
    /// without samples).
    pub fn rtt_nanos(&self) -> Option<u64> {
        (self.rtt_weighted.1 > 0).then(|| (self.rtt_weighted.0 / self.rtt_weighted.1 as f64) as u64)
    }

    /// RTT samples.
    pub fn rtt_samples(&self) -> u64 {
        self.rtt_weighted.1
    }

    /// Retransmitted segments both ways.
    pub fn retransmissions_total(&self) -> u64 {
        self.retransmissions[0] + self.retransmissions[1]
    }
}

impl Entry {
    fn sort_rate(&self, i: usize) -> f64 {
        self.sent.rates[i] + self.recv.rates[i]
    }

    /// Traffic within the 40 s window.
    pub fn is_active(&self) -> bool {
        self.sent.rates[2] != 0.0 || self.recv.rates[2] != 0.0
    }

    /// Cumulative bytes both ways.
    pub fn total_bytes(&self) -> u64 {
        self.sent.bytes + self.recv.bytes
    }

    /// Retransmitted segments both ways (0 without TCP analysis).
    pub fn retransmissions(&self) -> u64 {
        self.tcp.as_ref().map_or(0, EntryTcp::retransmissions_total)
    }

    /// The smoothed RTT, nanoseconds, when the entry has RTT samples.
    pub fn rtt_nanos(&self) -> Option<u64> {
        self.tcp.as_ref().and_then(EntryTcp::rtt_nanos)
    }
}

/// The footer: totals over every flow.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TotalsView {
    /// Rates (bytes/s) over 2/10/40 s: sent, received, both.
    pub rates: [[f64; 3]; 3],
    /// Highest 2-second rate since the start: sent, received, both (bytes/s).
    pub peak: [f64; 3],
    /// Cumulative bytes: sent, received, both.
    pub cumulative: [u64; 3],
}

/// An immutable picture of the table at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Report time: the end of the rate windows (the table's clock, or the
    /// end of the report slot when that is earlier).
    pub at: Timestamp,
    /// Seconds the 2 s, 10 s and 40 s windows cover: shorter when the
    /// capture or the history is, never longer.
    pub window_secs: [f64; 3],
    /// Grouping used.
    pub view: View,
    /// Byte mode of `bytes`, rates and peaks.
    pub byte_mode: ByteMode,
    /// Rows, sorted.
    pub entries: Vec<Entry>,
    /// Footer.
    pub totals: TotalsView,
    /// Whole-capture counters.
    pub stats: Stats,
    /// Number of 2-second slots of history available (at most 20).
    pub history_len: usize,
    /// Entries in the view (after `active_only`), before [`Snapshot::build_top`]
    /// kept only the first ones.
    pub total_entries: usize,
    /// The flows removed by the idle timeout or folded to keep the table
    /// within its limit, as one line (after `active_only`).
    pub other: Option<Other>,
}

/// The "(N other flows)" line: every interface's folded flows together.
#[derive(Clone, Debug, PartialEq)]
pub struct Other {
    /// Flows folded in.
    pub flows: u64,
    /// Their sum: counters, rates and peaks; the key has no field.
    pub entry: Entry,
}

/// Slots per rate window: 2 s, 10 s, 40 s.
const DIVS: [i64; 3] = [1, 5, 20];

/// The least time a window is taken to cover: a capture whose packets all
/// share one timestamp covers no time at all.
const MIN_COVER_NANOS: i64 = 1_000_000;

/// Entries a report's index is first sized for when it cannot know how
/// many there will be.
const INDEX_START: usize = 4_096;

/// Where the rate windows of one report fall on the 2-second slots.
///
/// Window `i` covers `[end − 2·DIVS[i] s, end]`, cut at the first packet
/// (nothing was seen before it) and at the oldest slot the history keeps.
/// The report slot may be incomplete (the end of a capture, a live final
/// report, an interval that is not a multiple of 2 s): it counts for the
/// part of it the report covers. The slot the window's start falls into
/// counts for the share of it inside the window (its bytes taken as spread
/// evenly over it). A window's rate is its bytes over the time it covers.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Windows {
    /// The report time: where every window ends.
    end: Timestamp,
    /// Slots wholly inside window `i`, newest (the report slot) first.
    whole: [usize; 3],
    /// Share of the slot just older than the whole ones inside window `i`.
    share: [f64; 3],
    /// Seconds window `i` covers.
    secs: [f64; 3],
    /// The report slot is not complete at `end`: it is no 2-second sample
    /// for the peaks.
    partial: bool,
}

impl Windows {
    /// The windows of a report whose newest slot is `report_slot`, at the
    /// table's clock or the end of that slot, whichever is earlier.
    fn new(table: &FlowTable, report_slot: i64) -> Windows {
        let Some(origin) = table.origin() else {
            return Windows {
                end: table.now(),
                whole: [0; 3],
                share: [0.0; 3],
                secs: [MIN_COVER_NANOS as f64 / 1e9; 3],
                partial: false,
            };
        };
        let slot_end = (report_slot + 1).max(0) * SLOT_NANOS;
        let end_ns = table.now().nanos_since(origin).clamp(0, slot_end);
        // The oldest slot kept: history holds HISTORY_SLOTS of them.
        let oldest_ns = (report_slot - HISTORY_SLOTS as i64 + 1).max(0) * SLOT_NANOS;
        let mut w = Windows {
            end: origin.add_nanos(end_ns),
            whole: [0; 3],
            share: [0.0; 3],
            secs: [0.0; 3],
            partial: report_slot >= 0 && end_ns < slot_end,
        };
        for (i, div) in DIVS.iter().enumerate() {
            let start_ns = (end_ns - div * SLOT_NANOS).max(oldest_ns);
            let first = start_ns.div_euclid(SLOT_NANOS);
            let cut = start_ns.rem_euclid(SLOT_NANOS);
            let whole = if cut == 0 {
                report_slot - first + 1
            } else {
                report_slot - first
            };
            w.whole[i] = whole.clamp(0, HISTORY_SLOTS as i64) as usize;
            if cut != 0 {
                w.share[i] = (SLOT_NANOS - cut) as f64 / SLOT_NANOS as f64;
            }
            w.secs[i] = (end_ns - start_ns).max(MIN_COVER_NANOS) as f64 / 1e9;
        }
        w
    }

    /// Bytes of window `i` from per-slot bytes by age (0: the report
    /// slot): the whole slots' and the bytes of the slot it cuts.
    fn sums(&self, i: usize, slot: impl Fn(usize) -> u64) -> (u64, u64) {
        let whole = (0..self.whole[i]).map(&slot).sum();
        let cut = if self.share[i] > 0.0 && self.whole[i] < HISTORY_SLOTS {
            slot(self.whole[i])
        } else {
            0
        };
        (whole, cut)
    }

    /// Bytes per second of window `i` from its [`Windows::sums`].
    fn rate(&self, i: usize, (whole, cut): (u64, u64)) -> f64 {
        (whole as f64 + self.share[i] * cut as f64) / self.secs[i]
    }

    /// The three rates from per-slot bytes by age.
    fn rates(&self, slot: impl Fn(usize) -> u64) -> [f64; 3] {
        [0, 1, 2].map(|i| self.rate(i, self.sums(i, &slot)))
    }

    /// Whether the slot of this age is a complete 2-second sample.
    fn complete(&self, age: usize) -> bool {
        age > 0 || !self.partial
    }
}

/// Per-slot bytes of an entry while it is built: `[sent, received][slot age]`.
type Slots = [[u64; HISTORY_SLOTS]; 2];

/// An entry's recent history while a snapshot is built: no flow with
/// history, exactly one (read from the flow itself: no copy, which is the
/// common case with ports shown), or the sum of several.
#[derive(Default)]
enum Hist<'a> {
    #[default]
    Idle,
    One(&'a Flow, bool),
    Many(Box<Slots>),
}

/// An entry while its flows are added: the history and the bytes of the
/// flow that made its owner go when it is finished.
struct Building<'a> {
    e: Entry,
    hist: Hist<'a>,
    owner_bytes: u64,
}

/// Adds a flow's last 20 slots up to `report_slot` (`swapped`: the flow's
/// source is the entry's destination).
fn add_slots(b: &mut Slots, f: &Flow, swapped: bool, report_slot: i64) {
    let [sent, recv] = b;
    let (tx, rx) = (
        f.slot_ages(report_slot, !swapped),
        f.slot_ages(report_slot, swapped),
    );
    for (age, (s, r)) in sent.iter_mut().zip(recv.iter_mut()).enumerate() {
        *s += tx[age];
        *r += rx[age];
    }
}

impl Snapshot {
    /// Memory a snapshot of every entry needs per flow of the table at
    /// most, while it is built (one entry per flow, its builder and its
    /// index): what a memory budget keeps aside for the reports.
    /// (The entry index grows from [`INDEX_START`] when the entries are
    /// not known in advance: at most twice this share, which the memory
    /// budget's reserve covers.)
    pub const BYTES_PER_FLOW: usize =
        std::mem::size_of::<Building>() + std::mem::size_of::<(EntryKey, usize)>() * 8 / 7 + 1;

    /// Builds a snapshot whose newest complete slot is `report_slot`.
    /// With `active_only`, entries without traffic in the last 40 s are left
    /// out, as iftop does on screen.
    pub fn build(
        table: &FlowTable,
        view: View,
        sort: SortKey,
        report_slot: i64,
        active_only: bool,
    ) -> Snapshot {
        Self::build_top(table, view, sort, report_slot, active_only, None)
    }

    /// [`Snapshot::build`] keeping only the first `keep` entries in sort
    /// order (a screen shows a few dozen of 100 k). With every field shown
    /// (one entry per flow) the entries are made and trimmed as the flows
    /// are read, so memory stays proportional to `keep`, not to the table.
    pub fn build_top(
        table: &FlowTable,
        view: View,
        sort: SortKey,
        report_slot: i64,
        active_only: bool,
        keep: Option<usize>,
    ) -> Snapshot {
        // Check: what this build is asked for, and how it will go.
        let b = Build::new(table, view, sort, report_slot, active_only, keep);
        // Compute: the flows in order, the cut (grouped views), the entries,
        // then their order and the totals.
        let flows = b.flows(table);
        let (top, ranked_total) = match b.rank(&flows) {
            Some((t, n)) => (Some(t), Some(n)),
            None => (None, None),
        };
        let Collected {
            mut entries,
            mut cumulative,
            streamed,
        } = b.collect(table, flows, top.as_ref());
        let other = b.other(table, &mut cumulative);
        if active_only {
            entries.retain(Entry::is_active);
        }
        let total_entries = match (b.streaming(), ranked_total) {
            (Some(_), _) => streamed,
            (None, Some(n)) => n,
            (None, None) => entries.len(),
        };
        match keep {
            Some(k) => keep_first(&mut entries, k, sort),
            None => sort_entries(&mut entries, sort),
        }
        let totals = b.totals(table, cumulative);
        // Render: the picture.
        Snapshot {
            at: b.windows.end,
            window_secs: b.windows.secs,
            view,
            byte_mode: b.byte_mode,
            entries,
            totals,
            stats: table.stats().clone(),
            history_len: b.history_len as usize,
            total_entries,
            other,
        }
    }
}

impl Snapshot {
    /// [`Snapshot::build_top`] of several views, each in several orders
    /// (the web's four views in three windows): the flows are read and
    /// ranked once, each view folds the union of its orders' first entries
    /// once, and each snapshot is cut from those. `views` are (view, how
    /// many entries to keep); `result[v][s]` equals `build_top(…,
    /// views[v].0, sorts[s], …, Some(views[v].1))`. Orders other than rates
    /// and total (by name, by owner, by TCP health) are built one by one.
    pub fn build_views(
        table: &FlowTable,
        views: &[(View, usize)],
        sorts: &[SortKey],
        report_slot: i64,
        active_only: bool,
    ) -> Vec<Vec<Snapshot>> {
        let ranked = |s: &SortKey| {
            matches!(
                s,
                SortKey::Rate2s | SortKey::Rate10s | SortKey::Rate40s | SortKey::Total
            )
        };
        if !sorts.iter().all(ranked) {
            let one = |v, s, k| Self::build_top(table, v, s, report_slot, active_only, Some(k));
            return views
                .iter()
                .map(|&(v, k)| sorts.iter().map(|&s| one(v, s, k)).collect())
                .collect();
        }
        // In id order, as grouped views need (one entry per flow does not mind).
        let mut flows: Vec<&Flow> = table.flows().collect();
        flows.sort_unstable_by_key(|f| f.id);
        let builds: Vec<(Build, usize)> = views
            .iter()
            .map(|&(v, k)| {
                let b = Build::new(table, v, SortKey::Total, report_slot, active_only, None);
                (b, k)
            })
            .collect();
        let Some((first, _)) = builds.first() else {
            return Vec::new();
        };
        let ranks = first.flow_ranks(&flows);
        builds
            .iter()
            .map(|(b, k)| b.cut_by_each(table, &flows, &ranks, sorts, *k))
            .collect()
    }
}

impl Build {
    /// This build's view in each of `sorts` from the flows and their ranks
    /// (see [`Snapshot::build_views`]); the build itself has no cut.
    fn cut_by_each(
        &self,
        table: &FlowTable,
        flows: &[&Flow],
        ranks: &[Rank],
        sorts: &[SortKey],
        keep: usize,
    ) -> Vec<Snapshot> {
        let entry_ranks = rank_all(flows, ranks, self.view);
        let mut union = KeySet::default();
        let mut count = 0;
        for &s in sorts {
            let (keys, n) = best_keys(&entry_ranks, s, self.active_only, keep, &self.windows);
            union.extend(keys);
            count = n;
        }
        drop(entry_ranks);
        let Collected {
            mut entries,
            mut cumulative,
            ..
        } = self.collect(table, flows.to_vec(), Some(&union));
        let other = self.other(table, &mut cumulative);
        if self.active_only {
            entries.retain(Entry::is_active);
        }
        let totals = self.totals(table, cumulative);
        sorts
            .iter()
            .map(|&sort| {
                let mut entries = entries.clone();
                keep_first(&mut entries, keep, sort);
                Snapshot {
                    at: self.windows.end,
                    window_secs: self.windows.secs,
                    view: self.view,
                    byte_mode: self.byte_mode,
                    entries,
                    totals,
                    stats: table.stats().clone(),
                    history_len: self.history_len as usize,
                    total_entries: count,
                    other: other.clone(),
                }
            })
            .collect()
    }
}

/// The keys of the entries that make a cut.
type KeySet = std::collections::HashSet<EntryKey, foldhash::fast::RandomState>;

/// One snapshot build: what it was asked for and what follows from it.
struct Build {
    view: View,
    sort: SortKey,
    report_slot: i64,
    active_only: bool,
    keep: Option<usize>,
    byte_mode: ByteMode,
    /// Slots of history available: 1..=[`HISTORY_SLOTS`].
    history_len: i64,
    /// Where the rate windows fall.
    windows: Windows,
    /// Every field shown: each 5-tuple flow is its own entry.
    one_per_flow: bool,
}

/// The entries of a build before their cut and order, with the cumulative
/// bytes of every flow (sent, received, both).
struct Collected {
    entries: Vec<Entry>,
    cumulative: [u64; 3],
    /// Entries in the view when they were streamed (made and trimmed as
    /// the flows were read).
    streamed: usize,
}

impl Build {
    fn new(
        table: &FlowTable,
        view: View,
        sort: SortKey,
        report_slot: i64,
        active_only: bool,
        keep: Option<usize>,
    ) -> Build {
        Build {
            view,
            sort,
            report_slot,
            active_only,
            keep,
            byte_mode: table.config().bytes,
            history_len: (report_slot + 1).clamp(1, HISTORY_SLOTS as i64),
            windows: Windows::new(table, report_slot),
            one_per_flow: view.fields() == [true; 4],
        }
    }

    /// With every field shown and a cut, the entries are made and trimmed
    /// as the flows are read: the cut.
    fn streaming(&self) -> Option<usize> {
        self.keep.filter(|_| self.one_per_flow)
    }

    /// The table's flows in build order. A grouped entry takes the
    /// orientation of its first flow, so they go by id; with one entry per
    /// flow the order does not matter (entries end sorted by a total
    /// order), so the sort is skipped.
    fn flows<'t>(&self, table: &'t FlowTable) -> Vec<&'t Flow> {
        let mut flows: Vec<&Flow> = table.flows().collect();
        if !self.one_per_flow {
            flows.sort_unstable_by_key(|f| f.id);
        }
        flows
    }

    /// Grouped views with a cut: every entry ranked on a few additive sums
    /// first, so that full entries are built for the first `keep` only.
    /// The keys of those and how many entries there are.
    fn rank(&self, flows: &[&Flow]) -> Option<(KeySet, usize)> {
        match self.keep {
            Some(k) if !self.one_per_flow && !self.sort.needs_entries() => {
                let ranks = self.rank_all(flows);
                let (keys, n) = best_keys(&ranks, self.sort, self.active_only, k, &self.windows);
                Some((keys.into_iter().collect(), n))
            }
            _ => None,
        }
    }

    /// [`rank_all`] of this build's view, slot and windows.
    fn rank_all(&self, flows: &[&Flow]) -> Vec<(EntryKey, Rank)> {
        rank_all(flows, &self.flow_ranks(flows), self.view)
    }

    /// [`flow_ranks`] with this build's slot and windows.
    fn flow_ranks(&self, flows: &[&Flow]) -> Vec<Rank> {
        flow_ranks(flows, self.report_slot, self.byte_mode, &self.windows)
    }

    /// Folds `flows` into entries (only those of `top` when there is a
    /// cut), finished but neither cut nor sorted; and every flow's bytes.
    fn collect(&self, table: &FlowTable, flows: Vec<&Flow>, top: Option<&KeySet>) -> Collected {
        let one_per_flow = self.one_per_flow;
        // Sized for the entries when they are known (a cut); otherwise it
        // grows with them: presized to the flows, hashing would touch
        // every page of a table often far larger than the entries (many
        // flows make one pair), and that memory would stay the process's.
        let mut index: HashMap<EntryKey, usize, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(
                match (top, one_per_flow) {
                    (_, true) => 0,
                    (Some(t), false) => t.len(),
                    (None, false) => table.len().min(INDEX_START),
                },
                Default::default(),
            );
        let streaming = self.streaming();
        let trim_at = streaming.map_or(usize::MAX, |k| 2 * k + 16);
        let mut streamed = 0usize;
        // Entries being built; when streaming, only the current flow's.
        let mut building: Vec<Building> = Vec::with_capacity(match (streaming, top) {
            (Some(_), _) => 1,
            (None, Some(t)) => t.len(),
            (None, None) => table.len(),
        });
        // Finished entries (streaming only, trimmed as they come).
        let mut done: Vec<Entry> = Vec::with_capacity(streaming.map_or(0, |_| trim_at + 1));
        let mut cumulative = [0u64; 3];
        for f in flows {
            let (key, rev_key) = entry_keys(self.view, f);
            cumulative[0] += f.sent().bytes(self.byte_mode);
            cumulative[1] += f.received().bytes(self.byte_mode);
            if let Some(top) = top {
                // Only the flows of the entries that make the cut.
                if !top.contains(&key) && !rev_key.is_some_and(|k| top.contains(&k)) {
                    continue;
                }
            }
            // Every field shown: each 5-tuple flow is its own entry, no lookup.
            let found = if one_per_flow { None } else { index.get(&key) };
            let (idx, swapped) = match found {
                Some(&i) => (i, false),
                None => match rev_key.and_then(|k| index.get(&k)) {
                    Some(&i) => (i, true),
                    None => {
                        building.push(Building::new(key, f));
                        if !one_per_flow {
                            index.insert(key, building.len() - 1);
                        }
                        (building.len() - 1, false)
                    }
                },
            };
            building[idx].add(f, swapped, self.byte_mode, self.report_slot);
            if let Some(k) = streaming {
                // This flow's entry is complete: finish it now, keep it only
                // if active, and trim to the best `k` now and then.
                if let Some(b) = building.pop() {
                    let e = b.finish(self);
                    if !self.active_only || e.is_active() {
                        streamed += 1;
                        done.push(e);
                    }
                }
                if done.len() >= trim_at {
                    keep_first(&mut done, k, self.sort);
                }
            }
        }
        cumulative[2] = cumulative[0] + cumulative[1];

        drop(index);
        // Finished where they were built (the same allocation: an entry is
        // not bigger than its builder), so a report never holds both.
        let mut entries: Vec<Entry> = building.into_iter().map(|b| b.finish(self)).collect();
        entries.append(&mut done);
        Collected {
            entries,
            cumulative,
            streamed,
        }
    }

    /// The "(N other flows)" line, with its bytes added to `cumulative`;
    /// none when nothing was folded (or, with `active_only`, when the
    /// folded flows had nothing in the window).
    fn other(&self, table: &FlowTable, cumulative: &mut [u64; 3]) -> Option<Other> {
        let mut folded = table.other_flows();
        let first: &OtherFlows = folded.next()?;
        let key = EntryKey {
            src: None,
            dst: None,
            src_port: None,
            dst_port: None,
            protocol: None,
            owner: None,
        };
        let mut b = Building::new(key, &first.flow);
        let mut flows = 0;
        for o in std::iter::once(first).chain(folded) {
            b.add(&o.flow, false, self.byte_mode, self.report_slot);
            flows += o.flows;
        }
        let mut entry = b.finish(self);
        cumulative[0] += entry.sent.bytes;
        cumulative[1] += entry.recv.bytes;
        cumulative[2] += entry.sent.bytes + entry.recv.bytes;
        entry.flows = flows;
        (!self.active_only || entry.is_active()).then_some(Other { flows, entry })
    }

    /// The footer: rates and peaks over every flow from the table's own
    /// per-slot totals, and `cumulative` bytes.
    fn totals(&self, table: &FlowTable, cumulative: [u64; 3]) -> TotalsView {
        let mut totals = TotalsView {
            cumulative,
            ..TotalsView::default()
        };
        let slot_secs = SLOT_NANOS as f64 / 1e9;
        let w = &self.windows;
        let bytes =
            |sent: bool| move |age: usize| table.total_slot(self.report_slot - age as i64, sent);
        totals.rates[0] = w.rates(bytes(true));
        totals.rates[1] = w.rates(bytes(false));
        totals.rates[2] = [0, 1, 2].map(|i| totals.rates[0][i] + totals.rates[1][i]);
        let mut peak = table.peaks();
        for age in (0..self.history_len as usize).filter(|&a| w.complete(a)) {
            let (tx, rx) = (bytes(true)(age), bytes(false)(age));
            peak = [peak[0].max(tx), peak[1].max(rx), peak[2].max(tx + rx)];
        }
        for (i, p) in peak.iter().enumerate() {
            // The report's own 2 s window is a 2-second sample too (over
            // the part of the report slot it covers, when incomplete).
            totals.peak[i] = (*p as f64 / slot_secs).max(totals.rates[i][0]);
        }
        totals
    }
}

impl<'a> Building<'a> {
    /// An empty entry keyed `key`, first seen with flow `f`.
    fn new(key: EntryKey, f: &Flow) -> Self {
        Building {
            e: Entry {
                key,
                sent: DirView::default(),
                recv: DirView::default(),
                first_seen: f.first_seen,
                last_seen: f.last_seen,
                flows: 0,
                owner: 0,
                mixed_owners: false,
                tcp: None,
            },
            hist: Hist::Idle,
            owner_bytes: 0,
        }
    }

    /// Adds flow `f` (`swapped`: its source is the entry's destination):
    /// its counters, times, owner and history.
    fn add(&mut self, f: &'a Flow, swapped: bool, mode: ByteMode, report_slot: i64) {
        let Building {
            e,
            hist: slots,
            owner_bytes,
        } = self;
        let (fs, fr) = if swapped {
            (f.received(), f.sent())
        } else {
            (f.sent(), f.received())
        };
        e.sent.counters.add(fs);
        e.recv.counters.add(fr);
        if let Some(a) = f.tcp() {
            // The flow's direction index that is its source's, then the entry's.
            let src_dir = usize::from(!f.src_is_a);
            let sent_dir = if swapped { 1 - src_dir } else { src_dir };
            e.tcp.get_or_insert_with(EntryTcp::default).add(a, sent_dir);
        }
        e.first_seen = e.first_seen.min(f.first_seen);
        e.last_seen = e.last_seen.max(f.last_seen);
        e.flows += 1;
        if f.owner != 0 {
            let b = fs.bytes(mode) + fr.bytes(mode);
            if e.owner == 0 {
                (e.owner, *owner_bytes) = (f.owner, b);
            } else if e.owner != f.owner {
                e.mixed_owners = true;
                if b > *owner_bytes {
                    (e.owner, *owner_bytes) = (f.owner, b);
                }
            }
        }
        if f.has_history() {
            *slots = match std::mem::take(slots) {
                Hist::Idle => Hist::One(f, swapped),
                Hist::One(g, g_swapped) => {
                    let mut b = Box::new([[0; HISTORY_SLOTS]; 2]);
                    add_slots(&mut b, g, g_swapped, report_slot);
                    add_slots(&mut b, f, swapped, report_slot);
                    Hist::Many(b)
                }
                Hist::Many(mut b) => {
                    add_slots(&mut b, f, swapped, report_slot);
                    Hist::Many(b)
                }
            };
        }
    }

    /// The entry with its bytes, rates and peaks worked out.
    fn finish(mut self, b: &Build) -> Entry {
        finish_entry(
            &mut self.e,
            &self.hist,
            b.report_slot,
            b.history_len,
            b.byte_mode,
            &b.windows,
        );
        self.e
    }
}

/// The entry key of a flow in `view` (in the flow's orientation) and, for
/// host pairs, the same key reversed (iftop merges both orientations).
fn entry_keys(view: View, f: &Flow) -> (EntryKey, Option<EntryKey>) {
    if view == View::Process {
        let key = EntryKey {
            src: None,
            dst: None,
            src_port: None,
            dst_port: None,
            protocol: None,
            owner: Some(f.owner),
        };
        return (key, None);
    }
    let (src, sp) = f.src();
    let (dst, dp) = f.dst();
    let [hs, hd, ps, pd] = view.fields();
    let key = EntryKey {
        src: hs.then_some(src),
        dst: hd.then_some(dst),
        src_port: ps.then_some(sp),
        dst_port: pd.then_some(dp),
        protocol: (ps || pd).then_some(f.key.protocol),
        owner: None,
    };
    let rev = (hs && hd && !ps && !pd).then_some(EntryKey {
        src: Some(dst),
        dst: Some(src),
        ..key
    });
    (key, rev)
}

/// What ranks a grouped entry: its window sums per direction (for the
/// sort's window), its 40 s sum and its cumulative bytes, all additive over
/// its flows, so every entry costs a few words instead of a whole [`Entry`].
#[derive(Clone, Copy, Default)]
struct Rank {
    /// [`Windows::sums`] of the three windows, source to destination.
    sent: [(u64, u64); 3],
    /// The same, destination to source (kept apart so that a rank's rate
    /// is computed exactly as its entry's, to the last bit).
    recv: [(u64, u64); 3],
    recent: u64,
    total: u64,
}

impl Rank {
    /// One flow's rank, source to destination: each slot of its history
    /// read once, for the three windows.
    fn of_flow(f: &Flow, report_slot: i64, mode: ByteMode, windows: &Windows) -> Rank {
        let mut r = Rank {
            total: f.sent().bytes(mode) + f.received().bytes(mode),
            ..Rank::default()
        };
        if f.has_history() {
            let (tx, rx) = (
                f.slot_ages(report_slot, true),
                f.slot_ages(report_slot, false),
            );
            r.sent = [0, 1, 2].map(|w| windows.sums(w, |a| tx[a]));
            r.recv = [0, 1, 2].map(|w| windows.sums(w, |a| rx[a]));
            r.recent = tx.iter().chain(&rx).sum();
        }
        r
    }

    /// Adds `o` (`swapped`: its source is this entry's destination).
    fn add(&mut self, o: &Rank, swapped: bool) {
        let (sent, recv) = if swapped {
            (&o.recv, &o.sent)
        } else {
            (&o.sent, &o.recv)
        };
        let add = |(a, b): (u64, u64), (c, d): (u64, u64)| (a + c, b + d);
        for w in 0..3 {
            self.sent[w] = add(self.sent[w], sent[w]);
            self.recv[w] = add(self.recv[w], recv[w]);
        }
        self.recent += o.recent;
        self.total += o.total;
    }
}

/// Every flow's [`Rank`], in the order of `flows`.
fn flow_ranks(flows: &[&Flow], report_slot: i64, mode: ByteMode, windows: &Windows) -> Vec<Rank> {
    flows
        .iter()
        .map(|f| Rank::of_flow(f, report_slot, mode, windows))
        .collect()
}

/// Every entry's [`Rank`] in `view`, from the flows' (`ranks[i]` is
/// `flows[i]`'s, `flows` in build order): one pass for any number of sort
/// orders. With every field shown each flow is its own entry (no lookup:
/// two flows with one 5-tuple on two interfaces stay two).
fn rank_all(flows: &[&Flow], ranks: &[Rank], view: View) -> Vec<(EntryKey, Rank)> {
    if view.fields() == [true; 4] {
        return flows
            .iter()
            .zip(ranks)
            .map(|(f, r)| (entry_keys(view, f).0, *r))
            .collect();
    }
    // Sized once: growing would hold the old and the new table at once.
    let mut entries: HashMap<EntryKey, Rank, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(flows.len(), Default::default());
    for (f, r) in flows.iter().zip(ranks) {
        let (key, rev) = entry_keys(view, f);
        // The same orientation rule as the build: an entry takes the key of
        // its first flow; a later flow seen the other way round is swapped.
        if let Some(e) = entries.get_mut(&key) {
            e.add(r, false);
        } else if let Some(e) = rev.and_then(|rev| entries.get_mut(&rev)) {
            e.add(r, true);
        } else {
            entries.entry(key).or_default().add(r, false);
        }
    }
    entries.into_iter().collect()
}

/// The keys of the first `k` entries of `ranks` in `sort` order (the same
/// order [`compare`] gives the finished entries) and how many entries
/// there are.
fn best_keys(
    ranks: &[(EntryKey, Rank)],
    sort: SortKey,
    active_only: bool,
    k: usize,
    windows: &Windows,
) -> (Vec<EntryKey>, usize) {
    let window = match sort {
        SortKey::Rate2s => 0,
        SortKey::Rate40s => 2,
        _ => 1,
    };
    let cmp = |(ka, a): &&(EntryKey, Rank), (kb, b): &&(EntryKey, Rank)| {
        let rate =
            |r: &Rank| windows.rate(window, r.sent[window]) + windows.rate(window, r.recv[window]);
        let primary = match sort {
            SortKey::Total => b.total.cmp(&a.total),
            SortKey::Source => ka.src.cmp(&kb.src),
            SortKey::Destination => ka.dst.cmp(&kb.dst),
            _ => rate(b).total_cmp(&rate(a)),
        };
        primary
            .then_with(|| b.total.cmp(&a.total))
            .then_with(|| ka.cmp(kb))
    };
    let mut count = 0;
    let mut best: Vec<&(EntryKey, Rank)> = Vec::with_capacity(2 * k + 17);
    // The first entry left out by the last cut: anything after it in the
    // order cannot make the first `k` (most entries stop here).
    let mut bar: Option<&(EntryKey, Rank)> = None;
    for kr in ranks {
        if active_only && kr.1.recent == 0 {
            continue;
        }
        count += 1;
        if bar.is_some_and(|b| cmp(&kr, &b) == std::cmp::Ordering::Greater) {
            continue;
        }
        best.push(kr);
        if best.len() > 2 * k + 16 {
            best.select_nth_unstable_by(k, cmp);
            bar = Some(best[k]);
            best.truncate(k);
        }
    }
    if best.len() > k {
        if k > 0 {
            best.select_nth_unstable_by(k - 1, cmp);
        }
        best.truncate(k);
    }
    (best.into_iter().map(|(key, _)| *key).collect(), count)
}

/// Bytes, rates and peaks of a grouped entry from its history.
fn finish_entry(
    e: &mut Entry,
    slots: &Hist,
    report_slot: i64,
    history_len: i64,
    mode: ByteMode,
    windows: &Windows,
) {
    for (d, dv) in [&mut e.sent, &mut e.recv].into_iter().enumerate() {
        dv.bytes = dv.counters.bytes(mode);
        let slot = |age: usize| match slots {
            Hist::Idle => 0,
            Hist::One(f, swapped) => f.slot_bytes(report_slot - age as i64, (d == 0) != *swapped),
            Hist::Many(b) => b[d][age],
        };
        if matches!(slots, Hist::Idle) {
            continue;
        }
        dv.rates = windows.rates(slot);
        let peak = (0..history_len as usize)
            .filter(|&age| windows.complete(age))
            .map(slot)
            .max()
            .unwrap_or(0);
        // The report's 2 s window is a 2-second sample too.
        dv.peak = (peak as f64 / (SLOT_NANOS as f64 / 1e9)).max(dv.rates[0]);
    }
}

/// Sorts and keeps the first `k` entries; selects before sorting when
/// there are many more.
fn keep_first(entries: &mut Vec<Entry>, k: usize, sort: SortKey) {
    if entries.len() > k {
        if k > 0 {
            entries.select_nth_unstable_by(k - 1, |a, b| compare(a, b, sort));
        }
        entries.truncate(k);
    }
    sort_entries(entries, sort);
}

fn sort_entries(entries: &mut [Entry], sort: SortKey) {
    entries.sort_by(|a, b| compare(a, b, sort));
}

/// The order of entries: the sort key, then total bytes, then the key (a
/// total order, so the first `k` are always the same entries).
fn compare(a: &Entry, b: &Entry, sort: SortKey) -> std::cmp::Ordering {
    {
        let primary = match sort {
            SortKey::Rate2s => b.sort_rate(0).total_cmp(&a.sort_rate(0)),
            SortKey::Rate10s => b.sort_rate(1).total_cmp(&a.sort_rate(1)),
            SortKey::Rate40s => b.sort_rate(2).total_cmp(&a.sort_rate(2)),
            SortKey::Total => b.total_bytes().cmp(&a.total_bytes()),
            SortKey::Source => a.key.src.cmp(&b.key.src),
            SortKey::Destination => a.key.dst.cmp(&b.key.dst),
            SortKey::Owner => a.owner.cmp(&b.owner),
            SortKey::Retransmissions => b.retransmissions().cmp(&a.retransmissions()),
            // `None` is below every `Some`: entries without a sample last.
            SortKey::Rtt => b.rtt_nanos().cmp(&a.rtt_nanos()),
        };
        primary
            .then_with(|| b.total_bytes().cmp(&a.total_bytes()))
            .then_with(|| a.key.cmp(&b.key))
    }
}
