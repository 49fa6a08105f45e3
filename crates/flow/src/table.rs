//! The 5-tuple flow table and its rate history.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;

use wirewatch_wire::tcp_flags::{ACK, FIN, RST, SYN};
use wirewatch_wire::{proto, DecodeError, IpLayer, Outcome, PacketMeta, Timestamp};

use crate::index::{prefetch, FlowIndex};
use crate::IpNet;

/// Length of one history slot: iftop's 2-second resolution.
pub const SLOT_NANOS: i64 = 2_000_000_000;
/// Slots kept: 20 × 2 s = iftop's 40-second history.
pub const HISTORY_SLOTS: usize = 20;
/// Later fragments are matched to a first fragment seen at most this long ago.
const FRAGMENT_TIMEOUT_NANOS: i64 = 60_000_000_000;
/// How often (in slots) flows idle past the history window give up their history.
const SWEEP_EVERY_SLOTS: i64 = HISTORY_SLOTS as i64;

/// Which byte count drives rates and the primary `bytes` columns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ByteMode {
    /// IP-layer length (iftop's definition).
    #[default]
    Ip,
    /// Frame length on the wire (tshark's conversation tables).
    Frame,
}

/// Which IP headers of a tunnelled frame are accounted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LayerMode {
    /// The outermost header only (default).
    #[default]
    Outer,
    /// The innermost header only (`--decap`).
    Inner,
    /// Every header: the frame counts once for each IP pair it carries,
    /// as Wireshark's conversation table does.
    All,
}

/// Flows the table holds by default: about 60 MB of flows with their
/// 40-second history (see [`FlowTable::bytes_per_flow`]).
pub const DEFAULT_MAX_FLOWS: usize = 100_000;

/// The most flows a table holds whatever the budget (about 15 GiB of
/// flows): [`FlowConfig::max_flows`] is clamped to it.
pub const MAX_FLOWS: usize = 1 << 24;

/// Table settings, validated before use.
#[derive(Clone, Debug)]
pub struct FlowConfig {
    /// Byte count for rates.
    pub bytes: ByteMode,
    /// Tunnel accounting.
    pub layers: LayerMode,
    /// Local networks: a flow's local side is its source.
    pub local_nets: Vec<IpNet>,
    /// Flows idle this long are removed; `None` keeps them.
    pub idle_timeout_nanos: Option<i64>,
    /// Keep removed flows for [`FlowTable::drain_expired`] (and
    /// [`FlowTable::take_unrecorded`]) instead of dropping them: for a
    /// caller that takes them, else they would pile up. The table then
    /// also lists the flows with traffic not yet taken, so that
    /// `take_unrecorded` visits those rather than every flow.
    pub keep_expired: bool,
    /// Count only IP headers with exactly one end in `local_nets`, per
    /// address family with a network given (iftop `-F`/`-G`).
    pub only_local_nets: bool,
    /// Leave out IPv6 headers with a link-local end (iftop's default; `-l` counts them).
    pub skip_link_local: bool,
    /// Most flows held at once (at least 16). A new flow past it first
    /// makes room: idle flows go, then the least active ones, folded into
    /// their interface's "other flows" aggregate, so that totals stay
    /// exact while memory stays bounded.
    pub max_flows: usize,
    /// Analyse TCP connections (`--tcp`: retransmissions, out-of-order,
    /// duplicate ACKs, zero windows, handshake RTT; [`crate::TcpAnalysis`]),
    /// at most for [`tcp_cap`] flows at once.
    pub tcp_analysis: bool,
}

/// Most flows analysed at once under `--tcp`: a quarter of the flow limit
/// (each analysis is [`crate::TcpAnalysis::SIZE_BYTES`] bytes on top of
/// its flow); past it new TCP flows are counted, not analysed.
pub fn tcp_cap(max_flows: usize) -> usize {
    (max_flows / 4).max(16)
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            bytes: ByteMode::default(),
            layers: LayerMode::default(),
            local_nets: Vec::new(),
            idle_timeout_nanos: None,
            keep_expired: false,
            only_local_nets: false,
            skip_link_local: false,
            max_flows: DEFAULT_MAX_FLOWS,
            tcp_analysis: false,
        }
    }
}

/// A 5-tuple in canonical order: `(a, a_port) <= (b, b_port)`, so both
/// directions of a conversation have the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// Lower endpoint address.
    pub a: IpAddr,
    /// Higher endpoint address.
    pub b: IpAddr,
    /// Port of `a` (0 when the protocol has none or it was not captured).
    pub a_port: u16,
    /// Port of `b`.
    pub b_port: u16,
    /// IP protocol.
    pub protocol: u8,
}

impl FlowKey {
    /// Canonical key for a packet from `src` to `dst`; the flag is true when
    /// the packet travels from `b` to `a`.
    pub fn new(
        src: IpAddr,
        src_port: u16,
        dst: IpAddr,
        dst_port: u16,
        protocol: u8,
    ) -> (FlowKey, bool) {
        if (src, src_port) <= (dst, dst_port) {
            (
                FlowKey {
                    a: src,
                    b: dst,
                    a_port: src_port,
                    b_port: dst_port,
                    protocol,
                },
                false,
            )
        } else {
            (
                FlowKey {
                    a: dst,
                    b: src,
                    a_port: dst_port,
                    b_port: src_port,
                    protocol,
                },
                true,
            )
        }
    }
}

/// Cumulative counters for one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets.
    pub packets: u64,
    /// IP-layer bytes.
    pub ip_bytes: u64,
    /// Frame bytes.
    pub frame_bytes: u64,
    /// TCP flags seen (OR of all packets).
    pub tcp_flags: u8,
}

impl Counters {
    /// Bytes in the given mode.
    pub fn bytes(&self, m: ByteMode) -> u64 {
        match m {
            ByteMode::Ip => self.ip_bytes,
            ByteMode::Frame => self.frame_bytes,
        }
    }

    /// Adds another set of counters.
    pub fn add(&mut self, o: &Counters) {
        self.packets += o.packets;
        self.ip_bytes += o.ip_bytes;
        self.frame_bytes += o.frame_bytes;
        self.tcp_flags |= o.tcp_flags;
    }
}

/// Per-slot bytes of both directions, `[dir][slot % HISTORY_SLOTS]`:
/// 32-bit counts while every slot fits in one (a flow seldom moves 4 GiB in
/// 2 s), 64-bit ones from the first that does not. Half the memory for
/// nearly every flow, the same counts for all.
#[derive(Clone, Debug)]
enum Slots {
    Narrow([[u32; HISTORY_SLOTS]; 2]),
    Wide(Box<[[u64; HISTORY_SLOTS]; 2]>),
}

impl Slots {
    fn get(&self, dir: usize, i: usize) -> u64 {
        match self {
            Slots::Narrow(s) => u64::from(s[dir][i]),
            Slots::Wide(s) => s[dir][i],
        }
    }

    /// Zeroes every slot.
    fn clear_all(&mut self) {
        match self {
            Slots::Narrow(s) => *s = [[0; HISTORY_SLOTS]; 2],
            Slots::Wide(s) => **s = [[0; HISTORY_SLOTS]; 2],
        }
    }

    /// Zeroes slot `i` of both directions.
    fn clear(&mut self, i: usize) {
        match self {
            Slots::Narrow(s) => (s[0][i], s[1][i]) = (0, 0),
            Slots::Wide(s) => (s[0][i], s[1][i]) = (0, 0),
        }
    }

    /// Adds `bytes` (saturating) to slot `i` of `dir`, widening first when
    /// the sum does not fit in 32 bits.
    fn add(&mut self, dir: usize, i: usize, bytes: u64) {
        let sum = self.get(dir, i).saturating_add(bytes);
        match self {
            Slots::Narrow(s) => match u32::try_from(sum) {
                Ok(v) => s[dir][i] = v,
                Err(_) => {
                    let mut wide = Box::new(s.map(|d| d.map(u64::from)));
                    wide[dir][i] = sum;
                    *self = Slots::Wide(wide);
                }
            },
            Slots::Wide(s) => s[dir][i] = sum,
        }
    }

    /// Starts bringing slot `i` of both directions into the cache.
    fn prefetch(&self, i: usize) {
        match self {
            Slots::Narrow(s) => (prefetch(&s[0][i]), prefetch(&s[1][i])),
            Slots::Wide(s) => (prefetch(&s[0][i]), prefetch(&s[1][i])),
        };
    }
}

/// Per-slot byte history of both directions, newest slot `newest`.
#[derive(Clone, Debug)]
struct History {
    newest: i64,
    slots: Slots,
}

impl History {
    fn new(slot: i64) -> Self {
        History {
            newest: slot,
            slots: Slots::Narrow([[0; HISTORY_SLOTS]; 2]),
        }
    }

    fn add(&mut self, slot: i64, dir: usize, bytes: u64) {
        if slot > self.newest {
            let gap = slot - self.newest;
            if gap >= HISTORY_SLOTS as i64 {
                self.slots.clear_all(); // back after the whole window
            } else {
                for k in 0..gap {
                    let i = (slot - k).rem_euclid(HISTORY_SLOTS as i64) as usize;
                    self.slots.clear(i);
                }
            }
            self.newest = slot;
        } else if self.newest - slot >= HISTORY_SLOTS as i64 {
            return; // older than the window
        }
        let i = slot.rem_euclid(HISTORY_SLOTS as i64) as usize;
        self.slots.add(dir, i, bytes);
    }

    /// Starts bringing in what [`History::add`] at `slot` reads and
    /// writes: the slot, or all of a narrow history when the slot is a
    /// window or more past the newest (every slot is cleared then).
    fn prefetch(&self, slot: i64) {
        match &self.slots {
            Slots::Narrow(_) if slot - self.newest >= HISTORY_SLOTS as i64 => prefetch_lines(self),
            _ => {
                prefetch(&self.newest);
                self.slots
                    .prefetch(slot.rem_euclid(HISTORY_SLOTS as i64) as usize);
            }
        }
    }

    /// Bytes of direction `dir` by age, `out[age]` = slot `report_slot -
    /// age` (what [`History::get`] gives slot by slot, in one pass).
    fn ages(&self, report_slot: i64, dir: usize) -> [u64; HISTORY_SLOTS] {
        let mut out = [0; HISTORY_SLOTS];
        let n = HISTORY_SLOTS as i64;
        // Ages whose slot is kept: slot ≤ newest, newest - slot < n, slot ≥ 0.
        let first = (report_slot - self.newest).max(0);
        let last = (report_slot - self.newest + n - 1)
            .min(report_slot)
            .min(n - 1);
        let mut i = (report_slot - first).rem_euclid(n) as usize;
        for age in first..=last {
            out[age as usize] = self.slots.get(dir, i);
            i = if i == 0 { HISTORY_SLOTS - 1 } else { i - 1 };
        }
        out
    }

    /// Bytes of `slot` in direction `dir`.
    fn get(&self, slot: i64, dir: usize) -> u64 {
        if slot > self.newest || self.newest - slot >= HISTORY_SLOTS as i64 || slot < 0 {
            0
        } else {
            self.slots
                .get(dir, slot.rem_euclid(HISTORY_SLOTS as i64) as usize)
        }
    }
}

/// One conversation.
#[derive(Clone, Debug)]
pub struct Flow {
    /// Canonical key.
    pub key: FlowKey,
    /// Creation order, unique per table.
    pub id: u64,
    /// The source (initiator or local side) is `key.a`.
    pub src_is_a: bool,
    /// First packet time.
    pub first_seen: Timestamp,
    /// Last packet time.
    pub last_seen: Timestamp,
    /// Counters: `[a→b, b→a]`.
    pub dirs: [Counters; 2],
    /// Owning process, as an id of the caller's registry (0: not known).
    pub owner: u32,
    /// Interface the flow was first seen on, as the caller's index
    /// ([`FlowTable::set_interface`]).
    pub iface: u16,
    /// Packets and bytes per direction already handed to
    /// [`FlowTable::take_unrecorded`]'s caller.
    recorded: [(u64, u64); 2],
    /// Traffic arrived since the last [`FlowTable::take_unrecorded`] and the
    /// flow is on the table's list of such flows.
    pending: bool,
    history: Option<Box<History>>,
    /// Its TCP analysis (`--tcp`).
    tcp: Option<Box<crate::TcpAnalysis>>,
}

impl Flow {
    /// Counters from source to destination.
    pub fn sent(&self) -> &Counters {
        &self.dirs[if self.src_is_a { 0 } else { 1 }]
    }

    /// Counters from destination to source.
    pub fn received(&self) -> &Counters {
        &self.dirs[if self.src_is_a { 1 } else { 0 }]
    }

    /// Source address and port.
    pub fn src(&self) -> (IpAddr, u16) {
        if self.src_is_a {
            (self.key.a, self.key.a_port)
        } else {
            (self.key.b, self.key.b_port)
        }
    }

    /// Destination address and port.
    pub fn dst(&self) -> (IpAddr, u16) {
        if self.src_is_a {
            (self.key.b, self.key.b_port)
        } else {
            (self.key.a, self.key.a_port)
        }
    }

    /// A flow with no traffic yet, first seen at `ts`.
    fn empty(key: FlowKey, id: u64, src_is_a: bool, ts: Timestamp, iface: u16) -> Flow {
        Flow {
            key,
            id,
            src_is_a,
            first_seen: ts,
            last_seen: ts,
            dirs: [Counters::default(); 2],
            owner: 0,
            iface,
            recorded: [(0, 0); 2],
            pending: false,
            history: None,
            tcp: None,
        }
    }

    /// Its TCP analysis, when `--tcp` analysed it.
    pub fn tcp(&self) -> Option<&crate::TcpAnalysis> {
        self.tcp.as_deref()
    }

    /// Whether some traffic was not handed to [`FlowTable::take_unrecorded`] yet.
    fn unrecorded(&self, mode: ByteMode) -> bool {
        self.dirs
            .iter()
            .zip(self.recorded)
            .any(|(c, r)| (c.packets, c.bytes(mode)) != r)
    }

    /// Whether the flow had traffic within the last sweep's window.
    pub(crate) fn has_history(&self) -> bool {
        self.history.is_some()
    }

    /// Bytes of the last [`HISTORY_SLOTS`] slots up to `report_slot` by
    /// age (`[0]`: `report_slot`), `sent` = source→destination.
    pub(crate) fn slot_ages(&self, report_slot: i64, sent: bool) -> [u64; HISTORY_SLOTS] {
        let dir = if sent == self.src_is_a { 0 } else { 1 };
        self.history
            .as_ref()
            .map_or([0; HISTORY_SLOTS], |h| h.ages(report_slot, dir))
    }

    /// Bytes in `slot`, `sent` = source→destination.
    pub(crate) fn slot_bytes(&self, slot: i64, sent: bool) -> u64 {
        let dir = if sent == self.src_is_a { 0 } else { 1 };
        self.history.as_ref().map_or(0, |h| h.get(slot, dir))
    }
}

/// Whole-capture counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames seen.
    pub packets: u64,
    /// Sum of frame (wire) lengths.
    pub frame_bytes: u64,
    /// Frames with at least one IP header.
    pub ip_packets: u64,
    /// Sum of the accounted IP lengths of IP frames.
    pub ip_bytes: u64,
    /// Frames without IP on a supported link type.
    pub non_ip_packets: u64,
    /// Frames cut by the snap length.
    pub truncated_packets: u64,
    /// Malformed frames by reason, indexed by [`DecodeError::index`].
    pub decode_errors: [u64; DecodeError::ALL.len()],
    /// Frames of link types the decoder does not know: `(link type, frames)`.
    pub unknown_link_types: Vec<(u32, u64)>,
    /// Later fragments whose first fragment was not seen (accounted to the host pair).
    pub orphan_fragments: u64,
    /// IP headers left out by `only_local_nets` or `skip_link_local`.
    pub excluded: u64,
    /// Flows removed by the idle timeout (folded into "other flows").
    pub expired_flows: u64,
    /// Flows folded into "other flows" to keep within
    /// [`FlowConfig::max_flows`].
    pub evicted_flows: u64,
    /// First fragments not remembered because the fragment table was full
    /// (their later fragments are accounted to the host pair).
    pub untracked_fragments: u64,
    /// Earliest packet timestamp.
    pub first_ts: Option<Timestamp>,
    /// Latest packet timestamp.
    pub last_ts: Option<Timestamp>,
}

impl Stats {
    /// Decode errors with their reasons, non-zero only.
    pub fn decode_errors_by_reason(&self) -> Vec<(DecodeError, u64)> {
        DecodeError::ALL
            .iter()
            .map(|&e| (e, self.decode_errors[e.index()]))
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    /// Total malformed frames.
    pub fn decode_errors_total(&self) -> u64 {
        self.decode_errors.iter().sum()
    }
}

type FragKey = (IpAddr, IpAddr, u8, u32);

/// Flows folded together on one interface: those removed by the idle timeout
/// or to keep the table within its limit. Their counters and recent history
/// stay, so totals and per-interface counts are exact; the screen and the
/// reports show them as one "(N other flows)" line.
#[derive(Clone, Debug)]
pub struct OtherFlows {
    /// The sum: unspecified addresses, no ports, protocol 0; `sent` is what
    /// the folded flows' sources sent.
    pub flow: Flow,
    /// Flows folded in.
    pub flows: u64,
}

/// Packets of a flow as a power-of-two class (0 for none): what "least
/// active" means when the table makes room.
fn activity(f: &Flow) -> usize {
    let p = f.dirs[0].packets + f.dirs[1].packets;
    (u64::BITS - p.leading_zeros()) as usize
}

/// The flow table. One owner; feed it packets in capture order.
///
/// Flows live in a slab sized once to [`FlowConfig::max_flows`]; the hash
/// table holds their indices (4 bytes each, sized to twice the limit), so
/// neither ever grows, moves or rehashes into a bigger table while packets
/// arrive.
pub struct FlowTable {
    cfg: FlowConfig,
    /// The flows; `None` marks a free place (listed in `free`).
    slab: Vec<Option<Flow>>,
    free: Vec<u32>,
    /// Places in `slab`, by the hash of the flow's `key`.
    map: FlowIndex,
    hasher: foldhash::fast::RandomState,
    frags: HashMap<FragKey, (u16, u16, Timestamp), foldhash::fast::RandomState>,
    next_id: u64,
    origin: Option<Timestamp>,
    now: Timestamp,
    /// Slot of `now`.
    slot: i64,
    /// Where `slot` starts and ends (`[start, end)`; both at
    /// `Timestamp::ZERO` before the first packet).
    slot_span: (Timestamp, Timestamp),
    last_sweep_slot: i64,
    packets_since_sweep: u64,
    /// Totals per slot: `[sent, received]`.
    totals: History,
    /// Highest 2-second totals ever completed: sent, received, both.
    peaks: [u64; 3],
    stats: Stats,
    expired: Vec<Flow>,
    /// Slab index of every flow with traffic not yet taken by
    /// [`FlowTable::take_unrecorded`] (kept only with `keep_expired`). A
    /// place freed and taken again meanwhile is listed twice at most per
    /// new flow; the list is rebuilt from the flows when it outgrows them.
    pending: Vec<u32>,
    /// "Other flows" per interface index.
    other: Vec<OtherFlows>,
    /// Interface given to new flows.
    iface: u16,
    /// TCP analyses held by flows now.
    tcp_held: usize,
    /// The TCP health of the flows removed, and of the flows refused one.
    tcp_gone: crate::TcpTotals,
    /// Analyses of flows gone, kept for the next ones (at most
    /// [`TCP_SPARE`]): no allocation, no fresh pages per connection.
    /// Boxes, not values: they move in and out of flows whole.
    #[allow(clippy::vec_box)]
    tcp_spare: Vec<Box<crate::TcpAnalysis>>,
    /// DNS transactions (with `--tcp`).
    dns: Option<Box<crate::DnsTracker>>,
}

/// Packets a caller of [`FlowTable::ingest_batch`] best hands over at
/// once (it reads ahead within such groups).
pub const BATCH: usize = 64;

/// How many packets ahead [`FlowTable::ingest_batch`] starts each of its
/// three reads.
const AHEAD: usize = 6;

/// Starts bringing every cache line of `*x` in.
fn prefetch_lines<T>(x: &T) {
    let p: *const u8 = (x as *const T).cast();
    for at in (0..std::mem::size_of::<T>()).step_by(64) {
        prefetch(p.wrapping_add(at));
    }
}

/// The key of header `l` as far as the packet alone tells (a later
/// fragment's ports are its first fragment's, not known here).
fn packet_key(l: &IpLayer) -> FlowKey {
    let ports = l.has_ports && proto::has_ports(l.protocol) && !l.is_later_fragment();
    let (sp, dp) = if ports {
        (l.src_port, l.dst_port)
    } else {
        (0, 0)
    };
    FlowKey::new(l.src, sp, l.dst, dp, l.protocol).0
}

/// Most flows handed to [`FlowTable::take_unrecorded`] after their removal
/// (beyond, the rest of their traffic is taken as "other flows").
fn expired_cap(max_flows: usize) -> usize {
    max_flows / 2
}

/// Most first fragments remembered.
fn fragment_cap(max_flows: usize) -> usize {
    (max_flows / 8).max(256)
}

/// Packets and bytes (in the table's byte mode) of one direction, and its
/// TCP figures when the flow is analysed (`--tcp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Retransmissions, RTT samples and their sum (zero without analysis).
    pub tcp: crate::TcpDelta,
}

impl FlowTable {
    /// Memory one flow costs at most: its place in the slab, its 40 s
    /// history (with the allocator's overhead), its index in the hash table
    /// (sized to twice the limit), its mark in the list of flows to record,
    /// and its share of the removed flows waiting to be recorded.
    pub const BYTES_PER_FLOW: usize = std::mem::size_of::<Option<Flow>>()
        + std::mem::size_of::<History>()
        + 16
        + 2 * (std::mem::size_of::<u32>() + 1)
        + std::mem::size_of::<u32>()
        + std::mem::size_of::<Flow>() / 2;

    /// An empty table.
    pub fn new(mut cfg: FlowConfig) -> Self {
        cfg.max_flows = cfg.max_flows.clamp(16, MAX_FLOWS);
        let n = cfg.max_flows;
        let cfg_dns = cfg.tcp_analysis;
        // Sized once for the limit; where the system refuses that much
        // address space, they start small and grow instead.
        let mut slab = Vec::new();
        let _ = slab.try_reserve_exact(n);
        FlowTable {
            slab,
            free: Vec::new(),
            map: FlowIndex::new(n),
            hasher: foldhash::fast::RandomState::default(),
            frags: HashMap::with_capacity_and_hasher(fragment_cap(n), Default::default()),
            pending: Vec::with_capacity(if cfg.keep_expired { n } else { 0 }),
            cfg,
            next_id: 0,
            origin: None,
            now: Timestamp::ZERO,
            slot: 0,
            slot_span: (Timestamp::ZERO, Timestamp::ZERO),
            last_sweep_slot: 0,
            packets_since_sweep: 0,
            totals: History::new(0),
            peaks: [0; 3],
            stats: Stats::default(),
            expired: Vec::new(),
            other: Vec::new(),
            iface: 0,
            tcp_held: 0,
            tcp_gone: crate::TcpTotals::default(),
            tcp_spare: Vec::new(),
            dns: cfg_dns.then(Box::default),
        }
    }

    /// Whether TCP connections are analysed (`--tcp`).
    pub fn tcp_analysis(&self) -> bool {
        self.cfg.tcp_analysis
    }

    /// The TCP health of every connection analysed so far: the flows in
    /// the table and those removed.
    pub fn tcp_totals(&self) -> crate::TcpTotals {
        let mut t = self.tcp_gone.clone();
        for a in self.flows().filter_map(Flow::tcp) {
            t.add(a);
        }
        t
    }

    /// The DNS transactions tracked (with `--tcp`).
    pub fn dns(&self) -> Option<&crate::DnsTracker> {
        self.dns.as_deref()
    }

    /// The IP header of `m` whose transport payload may be a DNS message
    /// (`--tcp`): the one accounted first, UDP or TCP with port 53 at
    /// either end, ports read.
    pub fn dns_layer<'m>(&self, m: &'m PacketMeta) -> Option<&'m IpLayer> {
        self.dns.as_ref()?;
        self.first_accounted(m).filter(|l| {
            matches!(l.protocol, proto::UDP | proto::TCP)
                && l.has_ports
                && !l.is_later_fragment()
                && (l.src_port == crate::dns::PORT || l.dst_port == crate::dns::PORT)
        })
    }

    /// One DNS message (from the packet [`FlowTable::dns_layer`] chose);
    /// nothing without `--tcp`.
    pub fn dns_message(&mut self, msg: &crate::DnsMsg) {
        if let Some(d) = &mut self.dns {
            d.message(msg);
        }
    }

    /// A packet at `ts` that is no DNS message: the DNS tracker's clock
    /// (packet time only) moves; nothing without `--tcp`.
    pub fn dns_advance(&mut self, ts: Timestamp) {
        if let Some(d) = &mut self.dns {
            d.advance(ts);
        }
    }

    /// The IP header of `m` a TCP segment is analysed for: the one whose
    /// flow is accounted first.
    pub fn analysed_layer<'m>(&self, m: &'m PacketMeta) -> Option<&'m IpLayer> {
        self.first_accounted(m)
            .filter(|l| l.protocol == proto::TCP && l.l4_offset != 0)
    }

    /// The interface (the caller's index) that flows created from now on
    /// were seen on.
    pub fn set_interface(&mut self, iface: u16) {
        self.iface = iface;
    }

    /// The interface index set by [`FlowTable::set_interface`].
    pub fn interface(&self) -> u16 {
        self.iface
    }

    /// Hands out the traffic not handed out before: `f(flow, [sent,
    /// received])` for every flow with some, including flows the idle
    /// timeout removed (which are then dropped). The history recorder
    /// calls this at each period boundary to get per-period counts.
    pub fn take_unrecorded(&mut self, mut f: impl FnMut(&Flow, [Delta; 2])) {
        let mode = self.cfg.bytes;
        let mut visit = |flow: &mut Flow| {
            flow.pending = false;
            let mut d = [Delta::default(); 2];
            let mut any = false;
            for (k, c) in flow.dirs.iter().enumerate() {
                let (p, b) = (c.packets, c.bytes(mode));
                let (rp, rb) = flow.recorded[k];
                if p != rp || b != rb {
                    d[k] = Delta {
                        packets: p - rp,
                        bytes: b - rb,
                        tcp: Default::default(),
                    };
                    flow.recorded[k] = (p, b);
                    any = true;
                }
            }
            if any {
                if let Some(a) = flow.tcp.as_mut() {
                    let t = a.take_delta();
                    d[0].tcp = t[0];
                    d[1].tcp = t[1];
                }
                // [a→b, b→a] to [sent, received].
                if !flow.src_is_a {
                    d.swap(0, 1);
                }
                f(flow, d);
            }
        };
        if self.cfg.keep_expired {
            // Only flows with traffic since the last call (a place freed
            // meanwhile finds nothing or a new flow, which is visited
            // anyway: a visit hands out only what is new).
            for i in self.pending.drain(..) {
                if let Some(flow) = self.slab[i as usize].as_mut() {
                    visit(flow);
                }
            }
        } else {
            for flow in self.slab.iter_mut().flatten() {
                visit(flow);
            }
        }
        for mut flow in self.expired.drain(..) {
            visit(&mut flow);
            if let Some(a) = flow.tcp.take() {
                self.tcp_held -= 1;
                spare(&mut self.tcp_spare, a);
            }
        }
        for o in &mut self.other {
            visit(&mut o.flow);
        }
    }

    /// The settings.
    pub fn config(&self) -> &FlowConfig {
        &self.cfg
    }

    /// Whole-capture counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Live flows, in no particular order.
    pub fn flows(&self) -> impl Iterator<Item = &Flow> {
        self.slab.iter().flatten()
    }

    /// The "other flows" of each interface that has some: flows removed by
    /// the idle timeout or to keep within the limit, folded together.
    pub fn other_flows(&self) -> impl Iterator<Item = &OtherFlows> {
        self.other.iter().filter(|o| o.flows > 0)
    }

    /// Number of live flows.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// No flows.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// Time of the first packet (slot 0 starts here).
    pub fn origin(&self) -> Option<Timestamp> {
        self.origin
    }

    /// The table's clock: the latest packet time or `advance` time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// [`FlowTable::slot_of`], without a division for the current slot.
    fn packet_slot(&self, t: Timestamp) -> i64 {
        if t >= self.slot_span.0 && t < self.slot_span.1 {
            self.slot
        } else {
            self.slot_of(t)
        }
    }

    /// History slot containing `t`.
    pub fn slot_of(&self, t: Timestamp) -> i64 {
        match self.origin {
            Some(o) => t.nanos_since(o).div_euclid(SLOT_NANOS),
            None => 0,
        }
    }

    /// Sets the owner of flows: `f` is asked about every flow whose owner is
    /// not known yet and that was active at or after `since`; a non-zero
    /// answer is kept. Returns how many flows got an owner.
    pub fn label_owners(&mut self, since: Timestamp, mut f: impl FnMut(&Flow) -> u32) -> usize {
        let mut n = 0;
        for flow in self.slab.iter_mut().flatten() {
            if flow.owner == 0 && flow.last_seen >= since {
                flow.owner = f(flow);
                n += usize::from(flow.owner != 0);
            }
        }
        n
    }

    /// Removes and returns flows expired by the idle timeout.
    pub fn drain_expired(&mut self) -> std::vec::Drain<'_, Flow> {
        self.tcp_held -= self.expired.iter().filter(|f| f.tcp.is_some()).count();
        self.expired.drain(..)
    }

    /// Moves the clock to `now` (never backwards): completes slots, records
    /// peaks, and expires idle flows.
    pub fn advance(&mut self, now: Timestamp) {
        if self.origin.is_none() {
            self.origin = Some(now);
            self.now = now;
            self.slot_span = (now, now.add_nanos(SLOT_NANOS));
            return;
        }
        if now <= self.now {
            return;
        }
        self.now = now;
        if now < self.slot_span.1 {
            return; // still in the current slot
        }
        let slot = self.slot_of(now);
        if slot > self.slot {
            // Slots in between are complete: record the totals peak.
            for s in (self.slot.max(slot - HISTORY_SLOTS as i64))..slot {
                let (tx, rx) = (self.totals.get(s, 0), self.totals.get(s, 1));
                self.peaks[0] = self.peaks[0].max(tx);
                self.peaks[1] = self.peaks[1].max(rx);
                self.peaks[2] = self.peaks[2].max(tx + rx);
            }
            self.slot = slot;
            let start = self.origin.unwrap_or(now).add_nanos(slot * SLOT_NANOS);
            self.slot_span = (start, start.add_nanos(SLOT_NANOS));
            // Sweeping is O(flows): do it at most once per window, and only after
            // as many packets as there are flows, so its cost per packet is O(1).
            if slot - self.last_sweep_slot >= SWEEP_EVERY_SLOTS
                && self.packets_since_sweep >= self.map.len() as u64
            {
                self.packets_since_sweep = 0;
                self.sweep();
                self.last_sweep_slot = slot;
            }
        }
    }

    /// Drops history of flows idle past the window, expires idle flows, and
    /// forgets stale fragment entries.
    fn sweep(&mut self) {
        let now = self.now;
        let window_start = self.slot - HISTORY_SLOTS as i64;
        if let Some(t) = self.cfg.idle_timeout_nanos {
            let n = self.remove_where(|f| now.nanos_since(f.last_seen) >= t);
            self.stats.expired_flows += n;
        }
        for f in self.slab.iter_mut().flatten() {
            if f.history.as_ref().is_some_and(|h| h.newest < window_start) {
                f.history = None;
            }
        }
        self.frags
            .retain(|_, v| now.nanos_since(v.2) < FRAGMENT_TIMEOUT_NANOS);
    }

    /// Makes room for new flows: about an eighth of the limit goes, idle
    /// flows (nothing in the 40 s window) first, then the least active
    /// (fewest packets), folded into their interface's "other flows".
    fn make_room(&mut self) {
        let target = (self.cfg.max_flows / 8).max(1);
        let window_start = self.now.add_nanos(-(HISTORY_SLOTS as i64) * SLOT_NANOS);
        let idle = |f: &Flow| f.last_seen < window_start;
        let (mut idle_count, mut classes) = (0usize, [0usize; 65]);
        for f in self.slab.iter().flatten() {
            if idle(f) {
                idle_count += 1;
            } else {
                classes[activity(f)] += 1;
            }
        }
        // Classes below `limit` go whole; `at_limit` flows of class `limit`.
        let mut need = target.saturating_sub(idle_count);
        let mut limit = 0;
        while limit < classes.len() && need > classes[limit] {
            need -= classes[limit];
            limit += 1;
        }
        let mut at_limit = need;
        let n = self.remove_where(|f| {
            if idle(f) {
                return true;
            }
            let c = activity(f);
            if c == limit && at_limit > 0 {
                at_limit -= 1;
                return true;
            }
            c < limit
        });
        self.stats.evicted_flows += n;
    }

    /// Removes the flows `gone` picks: handed to [`FlowTable::take_unrecorded`]
    /// when someone takes them and there is room, and folded into their
    /// interface's "other flows" either way. Returns how many went.
    fn remove_where(&mut self, mut gone: impl FnMut(&Flow) -> bool) -> u64 {
        let FlowTable {
            cfg,
            slab,
            free,
            map,
            hasher,
            expired,
            other,
            tcp_held,
            tcp_gone,
            tcp_spare,
            ..
        } = self;
        let cap = expired_cap(cfg.max_flows);
        let mut n = 0;
        // In slab order, so that the same capture always loses the same flows.
        for i in 0..slab.len() {
            if !slab[i].as_ref().is_some_and(&mut gone) {
                continue;
            }
            let Some(mut f) = slab[i].take() else {
                continue;
            };
            if let Some(a) = &f.tcp {
                tcp_gone.add(a);
            }
            let i = i as u32;
            map.remove(hasher.hash_one(f.key), i, |j| {
                slab[j as usize]
                    .as_ref()
                    .map_or(0, |f| hasher.hash_one(f.key))
            });
            free.push(i);
            n += 1;
            let handed = cfg.keep_expired && expired.len() < cap && f.unrecorded(cfg.bytes);
            fold(other, &f, handed, cfg.bytes);
            if handed {
                // Its analysis goes with it, still counted against the cap,
                // until its last minute is taken.
                f.history = None;
                expired.push(f);
            } else if let Some(a) = f.tcp.take() {
                *tcp_held -= 1;
                spare(tcp_spare, a);
            }
        }
        if self.pending.len() > self.cfg.max_flows {
            self.rebuild_pending();
        }
        n
    }

    /// The list of flows with traffic not yet taken, from the flows
    /// themselves (no place twice, none freed).
    fn rebuild_pending(&mut self) {
        self.pending.clear();
        for (i, f) in self.slab.iter().enumerate() {
            if f.as_ref().is_some_and(|f| f.pending) {
                self.pending.push(i as u32);
            }
        }
    }

    fn is_local(&self, a: IpAddr) -> bool {
        self.cfg.local_nets.iter().any(|n| n.contains(a))
    }

    /// Accounts decoded packets in order, exactly as [`FlowTable::ingest`]
    /// one by one, but reads ahead: while a packet is accounted, the
    /// history of the flow of the one [`AHEAD`] packets later is being
    /// fetched, the flow of the one twice as far, and the index entry of
    /// the one three times as far, so that cache misses overlap rather
    /// than come one after the other. A guess may be wrong (a later
    /// fragment's ports, a flow created meanwhile, a collision): that only
    /// costs its miss later, as without reading ahead.
    pub fn ingest_batch(&mut self, metas: &[PacketMeta]) {
        self.ingest_batch_tcp(metas, &[]);
    }

    /// [`FlowTable::ingest_batch`] with each packet's TCP segment (of its
    /// [`FlowTable::analysed_layer`]) for `--tcp`: `segs[i]` goes with
    /// `metas[i]`; missing ones are none.
    pub fn ingest_batch_tcp(&mut self, metas: &[PacketMeta], segs: &[Option<crate::TcpSeg>]) {
        let n = metas.len();
        let mut guesses = [None; BATCH];
        let mut places = [None; BATCH];
        for group in (0..n).step_by(BATCH) {
            let metas = &metas[group..n.min(group + BATCH)];
            let k = metas.len();
            for i in 0..k + 3 * AHEAD {
                if i < k {
                    guesses[i] = self.prefetch_entry(&metas[i]);
                }
                if let Some(j) = i.checked_sub(AHEAD).filter(|&j| j < k) {
                    places[j] = self.prefetch_flow(guesses[j]);
                }
                if let Some(j) = i.checked_sub(2 * AHEAD).filter(|&j| j < k) {
                    self.prefetch_history(places[j], &metas[j]);
                }
                if let Some(j) = i.checked_sub(3 * AHEAD).filter(|&j| j < k) {
                    let seg = segs.get(group + j).and_then(Option::as_ref);
                    self.ingest_guessed(&metas[j], guesses[j], seg);
                }
            }
        }
    }

    /// Starts fetching the index entry of `m`'s flow; returns the key
    /// guessed and its hash.
    fn prefetch_entry(&self, m: &PacketMeta) -> Option<(FlowKey, u64)> {
        let key = packet_key(self.first_accounted(m)?);
        let hash = self.hasher.hash_one(key);
        self.map.prefetch(self.map.home(hash));
        Some((key, hash))
    }

    /// Starts fetching the flow the index entry of the `guess`ed key's
    /// hash names; returns its place.
    fn prefetch_flow(&self, guess: Option<(FlowKey, u64)>) -> Option<u32> {
        let place = self.map.entry(self.map.home(guess?.1)).checked_sub(1)?;
        prefetch_lines(self.slab.get(place as usize)?);
        Some(place)
    }

    /// Starts fetching what accounting `m` will touch of the history of
    /// the flow at `place`.
    fn prefetch_history(&self, place: Option<u32>, m: &PacketMeta) {
        let flow = place.and_then(|p| self.slab.get(p as usize)?.as_ref());
        if let Some(h) = flow.and_then(|f| f.history.as_deref()) {
            h.prefetch(self.packet_slot(m.ts));
        }
        // Its TCP analysis (`--tcp`) lives apart: a miss per packet unless
        // read ahead too.
        if let Some(a) = flow.and_then(|f| f.tcp.as_deref()) {
            prefetch_lines(a);
        }
    }

    /// The IP header of `m` whose flow [`FlowTable::ingest`] finds first.
    fn first_accounted<'m>(&self, m: &'m PacketMeta) -> Option<&'m IpLayer> {
        if m.outcome != Outcome::Ip {
            return None;
        }
        match self.cfg.layers {
            LayerMode::Outer | LayerMode::All => m.layers.outer(),
            LayerMode::Inner => m.layers.inner(),
        }
    }

    /// Accounts one decoded packet at its own timestamp.
    pub fn ingest(&mut self, m: &PacketMeta) {
        self.ingest_guessed(m, None, None);
    }

    /// [`FlowTable::ingest`] with the packet's TCP segment (`--tcp`).
    pub fn ingest_tcp(&mut self, m: &PacketMeta, seg: Option<&crate::TcpSeg>) {
        self.ingest_guessed(m, None, seg);
    }

    /// [`FlowTable::ingest`], with the key (and its hash) read ahead for
    /// the first header accounted: the hash is not computed again when the
    /// key turns out right.
    fn ingest_guessed(
        &mut self,
        m: &PacketMeta,
        mut guess: Option<(FlowKey, u64)>,
        mut seg: Option<&crate::TcpSeg>,
    ) {
        self.advance(m.ts);
        self.packets_since_sweep += 1;
        let st = &mut self.stats;
        st.packets += 1;
        st.frame_bytes += m.wire_len as u64;
        st.first_ts = Some(st.first_ts.map_or(m.ts, |t| t.min(m.ts)));
        st.last_ts = Some(st.last_ts.map_or(m.ts, |t| t.max(m.ts)));
        if m.truncated {
            st.truncated_packets += 1;
        }
        if let Some(e) = m.error {
            st.decode_errors[e.index()] += 1;
        }
        match m.outcome {
            Outcome::UnsupportedLink => {
                match st
                    .unknown_link_types
                    .iter_mut()
                    .find(|(lt, _)| *lt == m.link_type)
                {
                    Some((_, n)) => *n += 1,
                    None => st.unknown_link_types.push((m.link_type, 1)),
                }
                return;
            }
            Outcome::NonIp => {
                st.non_ip_packets += 1;
                return;
            }
            Outcome::Ip => st.ip_packets += 1,
        }
        let layers = m.layers.as_slice();
        let chosen: &[IpLayer] = match self.cfg.layers {
            LayerMode::Outer => &layers[..1],
            LayerMode::Inner => &layers[layers.len() - 1..],
            LayerMode::All => layers,
        };
        for l in chosen {
            if self.excluded(l) {
                self.stats.excluded += 1;
                continue;
            }
            self.stats.ip_bytes += l.ip_len as u64;
            self.account(m, l, guess.take(), seg.take());
        }
    }

    fn excluded(&self, l: &IpLayer) -> bool {
        let link_local =
            |a: IpAddr| matches!(a, IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80);
        if self.cfg.skip_link_local && (link_local(l.src) || link_local(l.dst)) {
            return true;
        }
        // iftop's -F/-G: per address family, a packet counts when exactly
        // one end is inside (traffic within the network, or not touching
        // it, is left out); a family with no network given is not filtered.
        let v4 = l.src.is_ipv4();
        self.cfg.only_local_nets
            && self.cfg.local_nets.iter().any(|n| n.addr().is_ipv4() == v4)
            && self.is_local(l.src) == self.is_local(l.dst)
    }

    fn account(
        &mut self,
        m: &PacketMeta,
        l: &IpLayer,
        guess: Option<(FlowKey, u64)>,
        seg: Option<&crate::TcpSeg>,
    ) {
        let (mut sp, mut dp, mut ports) = (
            l.src_port,
            l.dst_port,
            l.has_ports && proto::has_ports(l.protocol),
        );
        if let Some(f) = l.fragment {
            let fk = (l.src, l.dst, l.protocol, f.id);
            if f.offset == 0 {
                if ports {
                    if self.frags.len() < fragment_cap(self.cfg.max_flows)
                        || self.frags.contains_key(&fk)
                    {
                        self.frags.insert(fk, (sp, dp, m.ts));
                    } else {
                        self.stats.untracked_fragments += 1;
                    }
                }
            } else if let Some(&(s, d, _)) = self.frags.get(&fk) {
                (sp, dp, ports) = (s, d, true);
            } else {
                self.stats.orphan_fragments += 1;
            }
        }
        if !ports {
            sp = 0;
            dp = 0;
        }
        let (key, reversed) = FlowKey::new(l.src, sp, l.dst, dp, l.protocol);
        let slot = self.packet_slot(m.ts);
        let bytes = match self.cfg.bytes {
            ByteMode::Ip => l.ip_len as u64,
            ByteMode::Frame => m.wire_len as u64,
        };
        let dir = reversed as usize;
        let hash = match guess {
            Some((k, h)) if k == key => h,
            _ => self.hasher.hash_one(key),
        };
        let slab = &self.slab;
        let idx = match self.map.find(hash, |i| {
            slab[i as usize].as_ref().is_some_and(|f| f.key == key)
        }) {
            Some(i) => i,
            None => self.insert(hash, key, reversed, l, m.ts),
        };
        let Some(flow) = self.slab[idx as usize].as_mut() else {
            return;
        };
        if let Some(seg) = seg.filter(|_| self.cfg.tcp_analysis && l.protocol == proto::TCP) {
            match flow.tcp.as_mut() {
                Some(a) => a.observe(dir, seg),
                None if !starts_analysis(&flow.dirs, dir, seg) => {}
                None if self.tcp_held >= tcp_cap(self.cfg.max_flows) => {
                    self.tcp_gone.unanalysed += 1;
                }
                None => {
                    flow.tcp = Some(first_analysis(flow, dir, seg, self.tcp_spare.pop()));
                    self.tcp_held += 1;
                }
            }
        }
        let c = &mut flow.dirs[dir];
        c.packets += 1;
        c.ip_bytes += l.ip_len as u64;
        c.frame_bytes += m.wire_len as u64;
        c.tcp_flags |= l.tcp_flags;
        flow.first_seen = flow.first_seen.min(m.ts);
        flow.last_seen = flow.last_seen.max(m.ts);
        flow.history
            .get_or_insert_with(|| Box::new(History::new(slot)))
            .add(slot, dir, bytes);
        let sent = (dir == 0) == flow.src_is_a;
        // Someone takes per-period counts: remember which flows have some,
        // so a cut visits those instead of every flow in the table.
        if self.cfg.keep_expired && !flow.pending {
            flow.pending = true;
            self.pending.push(idx);
        }
        self.totals.add(slot, if sent { 0 } else { 1 }, bytes);
    }

    /// Adds a new flow, making room first when the table is full; returns
    /// its place in the slab.
    fn insert(
        &mut self,
        hash: u64,
        key: FlowKey,
        reversed: bool,
        l: &IpLayer,
        ts: Timestamp,
    ) -> u32 {
        if self.map.len() >= self.cfg.max_flows {
            self.make_room();
        }
        let src_is_a = self.orient(&key, reversed, l);
        let flow = Flow::empty(key, self.next_id, src_is_a, ts, self.iface);
        self.next_id += 1;
        let idx = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some(flow);
                i
            }
            None => {
                self.slab.push(Some(flow));
                (self.slab.len() - 1) as u32
            }
        };
        self.map.insert(hash, idx);
        idx
    }

    /// Decides which endpoint of a new flow is the source.
    fn orient(&self, key: &FlowKey, reversed: bool, l: &IpLayer) -> bool {
        let (la, lb) = (self.is_local(key.a), self.is_local(key.b));
        if la != lb {
            return la;
        }
        // The sender of the first packet is the source, except that a
        // SYN+ACK comes from the responder.
        let sender_is_a = !reversed;
        let synack = l.protocol == proto::TCP && l.tcp_flags & 0x12 == 0x12;
        if synack {
            !sender_is_a
        } else {
            sender_is_a
        }
    }

    /// Total bytes in a slot: `sent` or received.
    pub(crate) fn total_slot(&self, slot: i64, sent: bool) -> u64 {
        self.totals.get(slot, if sent { 0 } else { 1 })
    }

    /// Highest completed 2-second totals: sent, received, both (bytes per slot).
    pub(crate) fn peaks(&self) -> [u64; 3] {
        self.peaks
    }
}

/// The analysis of `flow` from its second packet `seg` (sent in `dir`).
/// The first packet was not kept: when it was a SYN that `seg` answers
/// (a SYN/ACK, or a RST/ACK to a probe), it is rebuilt from what is known
/// of it (its time, and its sequence number from the answer's ACK; not its
/// options), so the handshake is timed as if it had been analysed.
/// Analyses kept for reuse at most (about 220 kB).
const TCP_SPARE: usize = 256;

/// Keeps a gone flow's analysis for the next one, while there is room.
#[allow(clippy::vec_box)]
fn spare(pool: &mut Vec<Box<crate::TcpAnalysis>>, a: Box<crate::TcpAnalysis>) {
    if pool.len() < TCP_SPARE {
        pool.push(a);
    }
}

/// Bare SYNs: SYN without ACK, RST or FIN (for a direction's flags, every
/// segment so far was one).
fn syn_only(flags: u8) -> bool {
    flags & (SYN | ACK | RST | FIN) == SYN
}

/// Whether a flow not analysed yet starts its analysis at this segment
/// (sent in direction `dir`): at its second packet, or at the first answer
/// to SYNs. A flow of nothing but unanswered SYNs (a spoofed flood, a
/// scan of a silent host, a connection that retries) makes none: its
/// segments cost no analysis until something answers.
fn starts_analysis(dirs: &[Counters; 2], dir: usize, seg: &crate::TcpSeg) -> bool {
    let (mine, theirs) = (&dirs[dir], &dirs[1 - dir]);
    if theirs.packets == 0 {
        // One way so far: its second packet, unless both are bare SYNs.
        mine.packets == 1 && !(syn_only(mine.tcp_flags) && syn_only(seg.flags))
    } else {
        // The first answer to SYNs, or the flow's second packet.
        mine.packets == 0 && (theirs.packets == 1 || syn_only(theirs.tcp_flags))
    }
}

/// The analysis of a flow starting at segment `seg` (direction `dir`):
/// when it answers SYNs, the first SYN is rebuilt from the answer (its
/// time, and its sequence number from the ACK) and the others counted as
/// its retransmissions, as tshark counts them.
fn first_analysis(
    flow: &Flow,
    dir: usize,
    seg: &crate::TcpSeg,
    spare: Option<Box<crate::TcpAnalysis>>,
) -> Box<crate::TcpAnalysis> {
    let mut a = match spare {
        Some(mut a) => {
            *a = crate::TcpAnalysis::default();
            a
        }
        None => Box::<crate::TcpAnalysis>::default(),
    };
    let other = 1 - dir;
    let theirs = &flow.dirs[other];
    let syns = theirs.packets > 0 && syn_only(theirs.tcp_flags);
    if syns && seg.flags & ACK != 0 {
        let syn = crate::TcpSeg {
            ts: flow.first_seen,
            seq: seg.ack.wrapping_sub(1),
            flags: SYN,
            ..crate::TcpSeg::default()
        };
        a.observe(other, &syn);
        a.count_syn_retransmissions(other, theirs.packets - 1);
    }
    a.observe(dir, seg);
    a
}

/// Folds flow `f` into its interface's "other flows": counters, times and
/// recent history. `handed`: the flow itself goes on to be taken by
/// [`FlowTable::take_unrecorded`], so the sum takes none of its traffic;
/// otherwise what the flow had not handed out is the sum's to hand out.
fn fold(other: &mut Vec<OtherFlows>, f: &Flow, handed: bool, mode: ByteMode) {
    let i = usize::from(f.iface);
    while other.len() <= i {
        let unspecified = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        let key = FlowKey {
            a: unspecified,
            b: unspecified,
            a_port: 0,
            b_port: 0,
            protocol: 0,
        };
        let mut flow = Flow::empty(key, u64::MAX, true, f.first_seen, other.len() as u16);
        flow.last_seen = f.last_seen;
        other.push(OtherFlows { flow, flows: 0 });
    }
    let o = &mut other[i];
    o.flows += 1;
    let sum = &mut o.flow;
    // The flow's [a→b, b→a] as [sent, received].
    let order = if f.src_is_a { [0, 1] } else { [1, 0] };
    for (d, k) in order.into_iter().enumerate() {
        let c = &f.dirs[k];
        sum.dirs[d].add(c);
        let (p, b) = if handed {
            (c.packets, c.bytes(mode))
        } else {
            f.recorded[k]
        };
        sum.recorded[d].0 += p;
        sum.recorded[d].1 += b;
    }
    sum.first_seen = sum.first_seen.min(f.first_seen);
    sum.last_seen = sum.last_seen.max(f.last_seen);
    if let Some(h) = &f.history {
        let into = sum
            .history
            .get_or_insert_with(|| Box::new(History::new(h.newest)));
        for s in h.newest - HISTORY_SLOTS as i64 + 1..=h.newest {
            for (d, k) in order.into_iter().enumerate() {
                let v = h.get(s, k);
                if v > 0 {
                    into.add(s, d, v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_read_by_age_equals_slot_by_slot() {
        // Histories whose newest slot is before, at and after the report
        // slot, near slot 0 and far from it.
        for newest in [0i64, 3, 19, 20, 21, 57, 1000] {
            let mut h = History::new(newest);
            for k in 0..HISTORY_SLOTS as i64 {
                h.add(newest - k, (k % 2) as usize, 1 + k as u64 * 10);
                h.add(newest - k, 1, 5);
            }
            for report in [
                newest - 25,
                newest - 3,
                newest,
                newest + 1,
                newest + 7,
                newest + 40,
            ] {
                for dir in 0..2 {
                    let by_slot: Vec<u64> = (0..HISTORY_SLOTS as i64)
                        .map(|age| h.get(report - age, dir))
                        .collect();
                    assert_eq!(
                        h.ages(report, dir).to_vec(),
                        by_slot,
                        "newest {newest}, report {report}, dir {dir}"
                    );
                }
            }
        }
    }

    #[test]
    fn history_counts_past_32_bits_exactly() {
        let mut h = History::new(5);
        h.add(5, 0, u64::from(u32::MAX) - 1);
        h.add(4, 1, 7);
        assert!(matches!(h.slots, Slots::Narrow(_)));
        h.add(5, 0, 3);
        assert!(matches!(h.slots, Slots::Wide(_)));
        assert_eq!(h.get(5, 0), u64::from(u32::MAX) + 2);
        assert_eq!(h.get(4, 1), 7, "widening keeps the other slots");
        h.add(5, 0, u64::MAX);
        assert_eq!(h.get(5, 0), u64::MAX, "saturates as before");
        h.add(25, 1, 1);
        assert_eq!((h.get(5, 0), h.get(25, 1)), (0, 1), "old slots are cleared");
    }
}
