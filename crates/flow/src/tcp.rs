//! Passive TCP analysis of one connection, both directions: loss and order
//! (retransmissions, fast and spurious ones, out-of-order segments, duplicate
//! ACKs), flow control (zero windows, full windows), keep-alives, resets,
//! capture gaps (bytes ACKed but never seen) and RTT (handshake split,
//! TCP timestamps, sequence/ACK timing).
//!
//! The loss and order rules are tshark's (`tcp_analyze_sequence_number` in
//! Wireshark's TCP dissector), so its expert flags are an oracle for ours;
//! the continuous RTT follows pping. `docs/TCP.md` says what is measured and
//! where we differ. The state is fixed size, allocates nothing, and every
//! sequence comparison wraps (serial-number arithmetic).

use wirewatch_wire::tcp::{flags, TcpHeader};
use wirewatch_wire::Timestamp;

const SYN: u8 = flags::SYN;
const FIN: u8 = flags::FIN;
const RST: u8 = flags::RST;
const ACK: u8 = flags::ACK;
const SFR: u8 = SYN | FIN | RST;

/// tshark's window for a fast retransmission after the last duplicate ACK.
const FAST_RETRANS_NANOS: i64 = 20_000_000;
/// tshark's out-of-order window when no initial RTT is known.
const OOO_DEFAULT_NANOS: i64 = 3_000_000;
/// Pending TSvals (pping) and unacknowledged segment ends (seq/ACK timing)
/// remembered per direction; when all are taken a new one is not timed
/// (counted), so the oldest, answered first, still give samples.
pub const RTT_PENDING: usize = 4;
/// "No time" in the packed timestamps of the state.
const NONE: i64 = i64::MIN;

/// What [`TcpAnalysis::observe`] needs of one segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpSeg {
    /// When the segment was captured.
    pub ts: Timestamp,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// TCP flags ([`wirewatch_wire::tcp_flags`]).
    pub flags: u8,
    /// Advertised window, unscaled.
    pub window: u16,
    /// Payload bytes as the IP header declares them (not as captured).
    pub payload_len: u32,
    /// Window scale option (meaningful on SYNs).
    pub window_scale: Option<u8>,
    /// TCP timestamps option: TSval, TSecr.
    pub timestamps: Option<(u32, u32)>,
}

impl TcpSeg {
    /// The segment of a TCP header whose transport header and payload take
    /// `l4_len` bytes ([`wirewatch_wire::IpLayer::l4_len`]).
    pub fn from_header(ts: Timestamp, h: &TcpHeader<'_>, l4_len: u32) -> Self {
        // Options are walked only when there are some.
        let o = if h.header_len() > 20 {
            h.options()
        } else {
            Default::default()
        };
        TcpSeg {
            ts,
            seq: h.seq(),
            ack: h.ack(),
            flags: h.flags(),
            window: h.window(),
            payload_len: h.payload_len(l4_len),
            window_scale: o.window_scale,
            timestamps: o.timestamps,
        }
    }
}

/// Events counted in one direction (the segments that direction sent,
/// unless said otherwise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpCounters {
    /// Segments observed.
    pub packets: u64,
    /// Retransmissions of every kind: tshark's `tcp.analysis.retransmission`
    /// (plain, fast and spurious ones).
    pub retransmissions: u64,
    /// Payload bytes of those retransmissions.
    pub retransmitted_bytes: u64,
    /// Retransmissions within 20 ms of the receiver's second duplicate ACK
    /// of that sequence number.
    pub fast_retransmissions: u64,
    /// Retransmissions of data the receiver had already acknowledged.
    pub spurious_retransmissions: u64,
    /// Segments that went backwards within the out-of-order window (the
    /// initial RTT, or 3 ms without one).
    pub out_of_order: u64,
    /// Pure ACKs repeating the previous ACK, window and sequence number.
    pub duplicate_acks: u64,
    /// Segments advertising a zero window (tshark's count; SYN, FIN and RST
    /// excluded).
    pub zero_window: u64,
    /// Times the advertised window went to zero (episodes).
    pub zero_window_events: u64,
    /// Time spent at zero window by the episodes that ended (ns).
    pub zero_window_nanos: u64,
    /// Segments that filled the receiver's advertised window exactly.
    pub window_full: u64,
    /// Keep-alives (0 or 1 byte one below the next sequence number); never
    /// counted as retransmissions.
    pub keep_alives: u64,
    /// Resets sent.
    pub resets: u64,
    /// Segments starting beyond the next expected sequence number: the
    /// capture (or the network, before the capture point) lost some.
    pub lost_segments: u64,
    /// ACKs from the other side for data of this direction the capture never
    /// saw (tshark's "ACKed unseen segment"): gaps in the capture.
    pub acked_unseen: u64,
    /// Bytes of this direction acknowledged but never captured (like Zeek's
    /// `missed_bytes`), measured from the highest contiguous byte seen.
    pub acked_unseen_bytes: u64,
}

/// Round-trip times measured from this direction's segments to the other
/// side's answers: the path from the capture point to this direction's
/// receiver and back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RttStats {
    /// Samples taken.
    pub samples: u64,
    /// Smallest sample (ns); 0 without samples.
    pub min_nanos: u64,
    /// Largest sample (ns).
    pub max_nanos: u64,
    /// Smoothed RTT (RFC 6298: the first sample, then 7/8 old + 1/8 new), ns.
    pub srtt_nanos: u64,
    /// TSvals or segment ends not timed because all pending slots were
    /// taken.
    pub pending_dropped: u64,
    /// Sum of the samples (ns): their mean over any span is the
    /// difference of two sums over the difference of two counts.
    pub sum_nanos: u64,
}

impl RttStats {
    fn add(&mut self, nanos: i64) {
        // A negative delta (capture timestamps going back) is not a sample.
        let Ok(r) = u64::try_from(nanos) else { return };
        if self.samples == 0 {
            (self.min_nanos, self.max_nanos, self.srtt_nanos) = (r, r, r);
        } else {
            self.min_nanos = self.min_nanos.min(r);
            self.max_nanos = self.max_nanos.max(r);
            self.srtt_nanos = self.srtt_nanos - self.srtt_nanos / 8 + r / 8;
        }
        self.samples += 1;
        self.sum_nanos = self.sum_nanos.saturating_add(r);
    }
}

/// The three-way handshake's timing at the capture point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The direction that sent the SYN (the client), once one was seen.
    pub client_dir: Option<u8>,
    /// SYN → SYN/ACK: the server side of the capture point (ns).
    pub server_nanos: Option<u64>,
    /// SYN/ACK → the client's first ACK: the client side (ns).
    pub client_nanos: Option<u64>,
    /// tshark's `tcp.analysis.initial_rtt`: the most recent SYN → the first
    /// ACK without SYN after it, from either side (ns).
    pub initial_nanos: Option<u64>,
    syn: i64,
    synack: i64,
}

impl Default for Handshake {
    fn default() -> Self {
        Handshake {
            client_dir: None,
            server_nanos: None,
            client_nanos: None,
            initial_nanos: None,
            syn: NONE,
            synack: NONE,
        }
    }
}

/// A few (key, time) pairs: pending TSvals or segment ends. When all are
/// taken a new one is dropped, not the oldest: the oldest is answered
/// first, so a steady stream keeps giving samples (evicting the oldest
/// left none whenever more than `RTT_PENDING` keys were sent per RTT: a
/// bulk transfer over 40 ms with a 1 ms TSval clock).
#[derive(Clone, Copy, Debug)]
struct Pending {
    items: [(u32, i64); RTT_PENDING],
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            items: [(0, NONE); RTT_PENDING],
        }
    }
}

impl Pending {
    /// Remembers `key` sent at `t`; false (nothing kept) when all slots
    /// are taken.
    fn push(&mut self, key: u32, t: i64) -> bool {
        match self.items.iter_mut().find(|(_, at)| *at == NONE) {
            Some(slot) => {
                *slot = (key, t);
                true
            }
            None => false,
        }
    }

    /// Removes the entries at or below `ack` (serial order), returning the
    /// time of the one ending exactly at `ack`.
    fn ack(&mut self, ack: u32) -> Option<i64> {
        let mut hit = None;
        for (end, t) in self.items.iter_mut().filter(|(_, t)| *t != NONE) {
            if *end == ack {
                hit = Some(*t);
            }
            if !gt(*end, ack) {
                *t = NONE;
            }
        }
        hit
    }

    fn clear(&mut self) {
        *self = Pending::default();
    }
}

/// Flags of the last segment a direction sent, for the next one's rules.
const LAST_KEEP_ALIVE: u8 = 1;
const LAST_ZERO_WINDOW_PROBE: u8 = 2;

/// One direction's sequence state (tshark's `tcp_analyze_seq_flow_info_t`;
/// where tshark takes a sequence or ACK number of 0 for "not seen yet", a
/// flag says so, which keeps wrapped streams exact).
#[derive(Clone, Copy, Debug)]
struct Side {
    /// The direction's initial sequence number is known (`base_seq`).
    has_base: bool,
    base_from_syn: bool,
    base_seq: u32,
    has_next: bool,
    /// The last segment carried an ACK.
    has_ack: bool,
    has_max: bool,
    next_seq: u32,
    next_seq_at: i64,
    last_ack: u32,
    last_ack_at: i64,
    /// Highest contiguous sequence number to be acknowledged.
    max_to_ack: u32,
    /// Missed bytes are counted up to here.
    unseen_upto: Option<u32>,
    /// Raw window of the last segment (u32::MAX before the first).
    window: u32,
    /// The last window in bytes (scaled, except on SYNs).
    window_bytes: u32,
    /// Window scale shift: -1 unknown (no SYN seen), -2 not in use.
    win_scale: i8,
    dup_acks: i32,
    last_flags: u8,
    zero_since: i64,
    ts_last: u32,
    has_ts: bool,
    tsvals: Pending,
    seq_ends: Pending,
    counters: TcpCounters,
    rtt: RttStats,
}

impl Default for Side {
    fn default() -> Self {
        Side {
            has_base: false,
            base_from_syn: false,
            base_seq: 0,
            has_next: false,
            has_ack: false,
            has_max: false,
            next_seq: 0,
            next_seq_at: NONE,
            last_ack: 0,
            last_ack_at: NONE,
            max_to_ack: 0,
            unseen_upto: None,
            window: u32::MAX,
            window_bytes: 0,
            win_scale: -1,
            dup_acks: 0,
            last_flags: 0,
            zero_since: NONE,
            ts_last: 0,
            has_ts: false,
            tsvals: Pending::default(),
            seq_ends: Pending::default(),
            counters: TcpCounters::default(),
            rtt: RttStats::default(),
        }
    }
}

/// Serial-number "a before b" (RFC 1982): wraps around 2^32.
fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// Serial-number "a after b".
fn gt(a: u32, b: u32) -> bool {
    lt(b, a)
}

/// Nanoseconds from `earlier` to `t`, or `None` when `earlier` is unset.
fn since(t: i64, earlier: i64) -> Option<i64> {
    (earlier != NONE).then(|| t.saturating_sub(earlier))
}

/// How the sequence rules classified a data segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    New,
    Retransmission,
    Fast,
    Spurious,
    OutOfOrder,
}

/// Per-connection TCP analysis, both directions. Fixed size (see
/// [`TcpAnalysis::SIZE_BYTES`]), no allocation.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpAnalysis {
    sides: [Side; 2],
    handshake: Handshake,
    /// What [`TcpAnalysis::take_delta`] handed out last, per direction.
    taken: [TcpDelta; 2],
}

/// What one direction of a connection added since the last
/// [`TcpAnalysis::take_delta`] (the per-minute figures history keeps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpDelta {
    /// Retransmitted segments.
    pub retransmissions: u64,
    /// RTT samples taken on this direction's segments.
    pub rtt_samples: u64,
    /// Their sum (ns).
    pub rtt_sum_nanos: u64,
}

impl TcpAnalysis {
    /// Bytes of state per connection.
    pub const SIZE_BYTES: usize = std::mem::size_of::<TcpAnalysis>();

    /// A connection nothing was seen of yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters of direction `dir` (0 = the connection's first direction).
    pub fn counters(&self, dir: usize) -> &TcpCounters {
        &self.sides[dir & 1].counters
    }

    /// RTT measured on direction `dir`'s segments.
    pub fn rtt(&self, dir: usize) -> &RttStats {
        &self.sides[dir & 1].rtt
    }

    /// Counts `n` retransmitted SYNs of direction `dir` seen before the
    /// analysis began (a connection's first SYN is observed, its retries
    /// only counted).
    pub fn count_syn_retransmissions(&mut self, dir: usize, n: u64) {
        let c = &mut self.sides[dir & 1].counters;
        c.packets += n;
        c.retransmissions += n;
    }

    /// What each direction added since the previous call (all of it the
    /// first time).
    pub fn take_delta(&mut self) -> [TcpDelta; 2] {
        let mut out = [TcpDelta::default(); 2];
        for (d, o) in out.iter_mut().enumerate() {
            let side = &self.sides[d];
            let now = TcpDelta {
                retransmissions: side.counters.retransmissions,
                rtt_samples: side.rtt.samples,
                rtt_sum_nanos: side.rtt.sum_nanos,
            };
            let was = std::mem::replace(&mut self.taken[d], now);
            *o = TcpDelta {
                retransmissions: now.retransmissions - was.retransmissions,
                rtt_samples: now.rtt_samples - was.rtt_samples,
                rtt_sum_nanos: now.rtt_sum_nanos - was.rtt_sum_nanos,
            };
        }
        out
    }

    /// The handshake's timing.
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// Time direction `dir` has advertised a zero window, including an
    /// episode still open at `now` (ns).
    pub fn zero_window_nanos(&self, dir: usize, now: Timestamp) -> u64 {
        let s = &self.sides[dir & 1];
        let open = since(now.as_nanos(), s.zero_since).unwrap_or(0);
        s.counters
            .zero_window_nanos
            .saturating_add(open.max(0) as u64)
    }

    /// Accounts one segment sent in direction `dir` (0 = the connection's
    /// first direction, 1 = the other; higher bits are ignored).
    pub fn observe(&mut self, dir: usize, seg: &TcpSeg) {
        let d = dir & 1;
        if self.reuses_ports(d, seg) {
            self.restart();
        }
        self.learn_base(d, seg);
        self.handshake_timing(d, seg);
        let (fwd, rev) = split(&mut self.sides, d);
        let initial = self.handshake.initial_nanos;
        fwd.counters.packets += 1;
        if seg.flags & RST != 0 {
            fwd.counters.resets += 1;
        }
        learn_window_scale(fwd, rev, seg);
        let last = analyze_sequence(fwd, rev, seg, initial);
        zero_window_time(fwd, seg);
        rtt_samples(fwd, rev, seg, last);
    }

    /// A SYN with another initial sequence number than the direction's: a
    /// new connection on the same addresses and ports (tshark starts a new
    /// stream). A SYN/ACK with another one starts a new connection only when
    /// the direction's sequence number was not learnt from a SYN (after a
    /// reset, say); otherwise tshark counts it as a retransmission.
    fn reuses_ports(&self, d: usize, seg: &TcpSeg) -> bool {
        let s = &self.sides[d];
        let other = s.has_base && seg.seq != s.base_seq;
        match seg.flags & (SYN | ACK) {
            SYN => other,
            f if f == SYN | ACK => other && !s.base_from_syn,
            _ => false,
        }
    }

    /// Starts the sequence analysis afresh for a new connection; what was
    /// counted and measured stays.
    fn restart(&mut self) {
        for s in &mut self.sides {
            *s = Side {
                counters: s.counters,
                rtt: s.rtt,
                ..Side::default()
            };
        }
        let h = &mut self.handshake;
        (h.syn, h.synack) = (NONE, NONE);
    }

    /// The initial sequence numbers: a direction's first segment gives its
    /// own (the SYN's, else one below), the first ACK the other side's.
    fn learn_base(&mut self, d: usize, seg: &TcpSeg) {
        let (fwd, rev) = split(&mut self.sides, d);
        if !fwd.has_base {
            fwd.base_seq = if seg.flags & SYN != 0 {
                seg.seq
            } else {
                seg.seq.wrapping_sub(1)
            };
            fwd.has_base = true;
            fwd.base_from_syn = seg.flags & SYN != 0;
        }
        if !rev.has_base && seg.flags & ACK != 0 {
            rev.base_seq = seg.ack.wrapping_sub(1);
            rev.has_base = true;
        }
    }

    fn handshake_timing(&mut self, d: usize, seg: &TcpSeg) {
        let h = &mut self.handshake;
        let t = seg.ts.as_nanos();
        match seg.flags & (SYN | ACK) {
            SYN => {
                h.client_dir = Some(d as u8);
                h.syn = t;
                h.synack = NONE;
            }
            f if f == SYN | ACK && h.client_dir != Some(d as u8) && h.syn != NONE => {
                h.synack = t;
                h.server_nanos = u64::try_from(t.saturating_sub(h.syn)).ok();
            }
            ACK => {
                if h.initial_nanos.is_none() && h.syn != NONE {
                    // tshark keeps looking while the delta is zero.
                    h.initial_nanos = u64::try_from(t.saturating_sub(h.syn))
                        .ok()
                        .filter(|&n| n != 0);
                }
                if h.client_nanos.is_none() && h.client_dir == Some(d as u8) && h.synack != NONE {
                    h.client_nanos = u64::try_from(t.saturating_sub(h.synack)).ok();
                }
            }
            _ => {}
        }
    }
}

/// Direction `d`'s side and the other one.
fn split(sides: &mut [Side; 2], d: usize) -> (&mut Side, &mut Side) {
    let [a, b] = sides;
    if d == 0 {
        (a, b)
    } else {
        (b, a)
    }
}

/// Window scaling from the SYNs: in use only when both sides offer it.
fn learn_window_scale(fwd: &mut Side, rev: &mut Side, seg: &TcpSeg) {
    if seg.flags & SYN == 0 {
        return;
    }
    fwd.win_scale = seg.window_scale.map_or(-2, |s| s.min(14) as i8);
    if seg.flags & ACK != 0 && (fwd.win_scale == -2 || rev.win_scale == -2) {
        fwd.win_scale = -2;
        rev.win_scale = -2;
    }
}

/// tshark's sequence analysis of one segment: counts what it is and
/// updates the direction's state; returns what the RTT rules need.
fn analyze_sequence(fwd: &mut Side, rev: &mut Side, seg: &TcpSeg, initial: Option<u64>) -> Last {
    let (seq, ack, len, f) = (seg.seq, seg.ack, seg.payload_len, seg.flags);
    let t = seg.ts.as_nanos();
    let window = u32::from(seg.window);
    let mut last = 0;
    let zero_window_probe = len == 1 && fwd.has_next && seq == fwd.next_seq && rev.window == 0;
    if zero_window_probe {
        last |= LAST_ZERO_WINDOW_PROBE;
    } else {
        last |= window_and_ack_rules(fwd, rev, seg);
    }
    if ack != fwd.last_ack {
        fwd.dup_acks = 0;
    }
    acked_unseen(rev, seg);
    let kind = if (len > 0 || f & (SYN | FIN) != 0) && last & LAST_KEEP_ALIVE == 0 {
        classify(fwd, rev, seg, initial)
    } else {
        Kind::New
    };
    count_kind(&mut fwd.counters, kind, len);
    let mut next = seq.wrapping_add(len);
    if f & (SYN | FIN) != 0 {
        next = next.wrapping_add(1);
    }
    let advanced = gt(next, fwd.next_seq) || !fwd.has_next;
    if !zero_window_probe {
        if advanced {
            fwd.next_seq = next;
            fwd.next_seq_at = t;
            fwd.has_next = true;
        }
        if seq == fwd.max_to_ack || !fwd.has_max {
            fwd.max_to_ack = fwd.next_seq;
            fwd.has_max = true;
        }
    }
    fwd.window = window;
    fwd.window_bytes = if f & SYN != 0 || fwd.win_scale < 0 {
        window
    } else {
        window << fwd.win_scale
    };
    fwd.last_ack = ack;
    fwd.has_ack = f & ACK != 0;
    fwd.last_ack_at = t;
    fwd.last_flags = last;
    Last {
        new_data: advanced && (len > 0 || f & (SYN | FIN) != 0) && !zero_window_probe,
        next,
        retransmitted: kind != Kind::New,
    }
}

/// What the RTT rules need of a segment's classification.
#[derive(Clone, Copy, Debug)]
struct Last {
    new_data: bool,
    next: u32,
    retransmitted: bool,
}

/// Zero window, lost segment, keep-alive, window full and duplicate ACK
/// (tshark's rules before `finished_fwd`); returns the last-segment flags.
fn window_and_ack_rules(fwd: &mut Side, rev: &Side, seg: &TcpSeg) -> u8 {
    let (seq, ack, len, f) = (seg.seq, seg.ack, seg.payload_len, seg.flags);
    let window = u32::from(seg.window);
    let c = &mut fwd.counters;
    let plain = f & SFR == 0;
    if window == 0 && plain {
        c.zero_window += 1;
    }
    if fwd.has_next && gt(seq, fwd.next_seq) && f & RST == 0 {
        c.lost_segments += 1;
    }
    let mut last = 0;
    if len <= 1 && fwd.has_next && seq == fwd.next_seq.wrapping_sub(1) && plain {
        c.keep_alives += 1;
        last |= LAST_KEEP_ALIVE;
    }
    // The other side's window counts from its last ACK: it must have sent one.
    if len > 0
        && rev.has_ack
        && rev.win_scale != -1
        && plain
        && seq.wrapping_add(len) == rev.last_ack.wrapping_add(rev.window_bytes)
    {
        c.window_full += 1;
    }
    let repeats =
        len == 0 && plain && window == fwd.window && seq == fwd.next_seq && ack == fwd.last_ack;
    if !repeats {
        return last;
    }
    if window != 0 && rev.last_flags & LAST_KEEP_ALIVE != 0 {
        return last; // a keep-alive ACK
    }
    if window == 0 && rev.last_flags & LAST_ZERO_WINDOW_PROBE != 0 {
        return last; // a zero-window probe ACK
    }
    if window != 0 {
        fwd.dup_acks = if fwd.dup_acks == -1 {
            1
        } else {
            fwd.dup_acks + 1
        };
        c.duplicate_acks += 1;
    }
    last
}

/// An ACK beyond the highest contiguous byte seen of the other direction:
/// the capture missed that data (tshark's "ACKed unseen segment").
fn acked_unseen(rev: &mut Side, seg: &TcpSeg) {
    let old = rev.max_to_ack;
    if !rev.has_max || seg.flags & ACK == 0 || !gt(seg.ack, old) {
        return;
    }
    let flagged = if gt(old, rev.next_seq) {
        rev.max_to_ack = rev.next_seq;
        true
    } else {
        let first = rev.dup_acks == 0;
        rev.dup_acks = -1;
        first
    };
    if flagged {
        rev.counters.acked_unseen += 1;
    }
    // Each missed byte once, whichever ACK reveals it.
    let from = match rev.unseen_upto {
        Some(u) if gt(u, old) => u,
        _ => old,
    };
    if gt(seg.ack, from) {
        rev.counters.acked_unseen_bytes += u64::from(seg.ack.wrapping_sub(from));
        rev.unseen_upto = Some(seg.ack);
    }
}

/// Retransmission, fast retransmission, spurious retransmission or
/// out-of-order, in tshark's order of precedence.
fn classify(fwd: &Side, rev: &Side, seg: &TcpSeg, initial: Option<u64>) -> Kind {
    let (seq, len, f) = (seg.seq, seg.payload_len, seg.flags);
    let t = seg.ts.as_nanos();
    let mut not_advanced = fwd.has_next && lt(seq, fwd.next_seq);
    // More than one byte from one below the next sequence number: new data
    // after a zero-window probe.
    if len > 1 && fwd.has_next && fwd.next_seq.wrapping_sub(1) == seq {
        not_advanced = false;
    }
    if len > 0 && rev.has_ack && !gt(seq.wrapping_add(len), rev.last_ack) {
        return Kind::Spurious;
    }
    let after_dup = since(t, rev.last_ack_at);
    if not_advanced
        && rev.dup_acks >= 2
        && rev.last_ack == seq
        && matches!(after_dup, Some(n) if (0..FAST_RETRANS_NANOS).contains(&n))
    {
        return Kind::Fast;
    }
    let window = initial.map_or(OOO_DEFAULT_NANOS, |n| n.min(i64::MAX as u64) as i64);
    let end = seq
        .wrapping_add(len)
        .wrapping_add(u32::from(f & (SYN | FIN) != 0));
    if not_advanced
        && matches!(since(t, fwd.next_seq_at), Some(n) if (0..window).contains(&n))
        && fwd.next_seq != end
    {
        return Kind::OutOfOrder;
    }
    if not_advanced {
        Kind::Retransmission
    } else {
        Kind::New
    }
}

fn count_kind(c: &mut TcpCounters, kind: Kind, len: u32) {
    match kind {
        Kind::New => return,
        Kind::OutOfOrder => {
            c.out_of_order += 1;
            return;
        }
        Kind::Fast => c.fast_retransmissions += 1,
        Kind::Spurious => c.spurious_retransmissions += 1,
        Kind::Retransmission => {}
    }
    c.retransmissions += 1;
    c.retransmitted_bytes += u64::from(len);
}

/// Zero-window episodes: from the first zero window to the next non-zero one.
fn zero_window_time(fwd: &mut Side, seg: &TcpSeg) {
    let t = seg.ts.as_nanos();
    if seg.flags & SFR != 0 {
        return;
    }
    if seg.window == 0 && fwd.zero_since == NONE {
        fwd.counters.zero_window_events += 1;
        fwd.zero_since = t;
    } else if seg.window != 0 {
        if let Some(n) = since(t, fwd.zero_since) {
            fwd.counters.zero_window_nanos = fwd
                .counters
                .zero_window_nanos
                .saturating_add(n.max(0) as u64);
            fwd.zero_since = NONE;
        }
    }
}

/// Continuous RTT: pping's TSval/TSecr matching when both sides send
/// timestamps, else sequence/ACK timing with Karn's rule.
fn rtt_samples(fwd: &mut Side, rev: &mut Side, seg: &TcpSeg, last: Last) {
    let t = seg.ts.as_nanos();
    if let Some((tsval, tsecr)) = seg.timestamps {
        // Time only the first segment carrying a TSval, and only TSvals
        // that increase.
        if !fwd.has_ts || gt(tsval, fwd.ts_last) {
            if !fwd.tsvals.push(tsval, t) {
                fwd.rtt.pending_dropped += 1;
            }
            fwd.ts_last = tsval;
            fwd.has_ts = true;
        }
        // Echoes never go back: a TSecr also retires the TSvals below it.
        if seg.flags & ACK != 0 && tsecr != 0 {
            if let Some(sent) = rev.tsvals.ack(tsecr) {
                rev.rtt.add(t.saturating_sub(sent));
            }
        }
    }
    if fwd.has_ts && rev.has_ts {
        return;
    }
    if last.retransmitted {
        // Karn: an ACK could answer either copy; time nothing pending.
        fwd.seq_ends.clear();
    } else if last.new_data && !fwd.seq_ends.push(last.next, t) {
        fwd.rtt.pending_dropped += 1;
    }
    if seg.flags & ACK != 0 {
        if let Some(sent) = rev.seq_ends.ack(seg.ack) {
            rev.rtt.add(t.saturating_sub(sent));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    /// A segment at `ms` milliseconds.
    fn seg(ms: i64, flags: u8, seq: u32, ack: u32, len: u32) -> TcpSeg {
        TcpSeg {
            ts: Timestamp::from_nanos(ms * MS),
            seq,
            ack,
            flags,
            window: 1000,
            payload_len: len,
            ..TcpSeg::default()
        }
    }

    /// Client (dir 0) ISN 100, server (dir 1) ISN 500; handshake at 0, 10, 12 ms.
    fn connected() -> TcpAnalysis {
        let mut a = TcpAnalysis::new();
        a.observe(0, &seg(0, SYN, 100, 0, 0));
        a.observe(1, &seg(10, SYN | ACK, 500, 101, 0));
        a.observe(0, &seg(12, ACK, 101, 501, 0));
        a
    }

    #[test]
    fn the_handshake_splits_the_rtt_at_the_capture_point() {
        let a = connected();
        let h = a.handshake();
        assert_eq!(h.client_dir, Some(0));
        assert_eq!(h.server_nanos, Some(10 * MS as u64));
        assert_eq!(h.client_nanos, Some(2 * MS as u64));
        assert_eq!(h.initial_nanos, Some(12 * MS as u64));
        // Seq/ACK timing saw the SYN and the SYN/ACK answered.
        assert_eq!(a.rtt(0).samples, 1);
        assert_eq!(a.rtt(0).min_nanos, 10 * MS as u64);
        assert_eq!(a.rtt(1).max_nanos, 2 * MS as u64);
    }

    #[test]
    fn a_late_copy_is_a_retransmission_an_early_one_out_of_order() {
        let mut a = connected();
        a.observe(0, &seg(20, ACK, 101, 501, 100));
        a.observe(0, &seg(21, ACK, 201, 501, 100));
        // Back to 101 a millisecond after the highest: out of order
        // (the initial RTT, 12 ms, is the window).
        a.observe(0, &seg(22, ACK, 101, 501, 100));
        assert_eq!(a.counters(0).out_of_order, 1);
        assert_eq!(a.counters(0).retransmissions, 0);
        // 300 ms later: a retransmission.
        a.observe(0, &seg(321, ACK, 201, 501, 100));
        let c = a.counters(0);
        assert_eq!((c.retransmissions, c.retransmitted_bytes), (1, 100));
        assert_eq!(c.packets, 6);
    }

    #[test]
    fn duplicate_acks_then_a_quick_resend_is_a_fast_retransmission() {
        let mut a = connected();
        a.observe(0, &seg(20, ACK, 101, 501, 100));
        a.observe(0, &seg(21, ACK, 201, 501, 100));
        a.observe(0, &seg(22, ACK, 301, 501, 100));
        // The server got 101..201 only.
        for t in [30, 31, 32] {
            a.observe(1, &seg(t, ACK, 501, 201, 0));
        }
        assert_eq!(a.counters(1).duplicate_acks, 2);
        a.observe(0, &seg(40, ACK, 201, 501, 100));
        let c = a.counters(0);
        assert_eq!((c.fast_retransmissions, c.retransmissions), (1, 1));
        // Long after the last duplicate ACK it would be a plain one.
        a.observe(0, &seg(900, ACK, 201, 501, 100));
        assert_eq!(a.counters(0).fast_retransmissions, 1);
        assert_eq!(a.counters(0).retransmissions, 2);
    }

    #[test]
    fn resending_acknowledged_data_is_spurious() {
        let mut a = connected();
        a.observe(0, &seg(20, ACK, 101, 501, 100));
        a.observe(1, &seg(30, ACK, 501, 201, 0));
        a.observe(0, &seg(500, ACK, 101, 501, 100));
        let c = a.counters(0);
        assert_eq!((c.spurious_retransmissions, c.retransmissions), (1, 1));
    }

    #[test]
    fn keep_alives_are_not_retransmissions() {
        let mut a = connected();
        a.observe(0, &seg(20, ACK, 101, 501, 100));
        a.observe(0, &seg(9000, ACK, 200, 501, 0));
        a.observe(0, &seg(9100, ACK, 200, 501, 1));
        let c = a.counters(0);
        assert_eq!((c.keep_alives, c.retransmissions), (2, 0));
    }

    #[test]
    fn zero_windows_are_counted_and_timed() {
        let mut a = connected();
        let mut z = seg(100, ACK, 501, 101, 0);
        z.window = 0;
        a.observe(1, &z);
        z.ts = Timestamp::from_nanos(150 * MS);
        a.observe(1, &z);
        assert_eq!(
            a.zero_window_nanos(1, Timestamp::from_nanos(160 * MS)),
            60 * MS as u64
        );
        a.observe(1, &seg(400, ACK, 501, 101, 0));
        let c = a.counters(1);
        assert_eq!((c.zero_window, c.zero_window_events), (2, 1));
        assert_eq!(c.zero_window_nanos, 300 * MS as u64);
        assert_eq!(
            a.zero_window_nanos(1, Timestamp::from_nanos(999 * MS)),
            c.zero_window_nanos
        );
        assert_eq!(c.duplicate_acks, 0, "a window change is no duplicate ACK");
    }

    #[test]
    fn timestamps_time_only_the_first_packet_of_a_tsval() {
        let mut a = connected();
        let with_ts = |ms, dir_seq, ack, len, ts: (u32, u32)| TcpSeg {
            timestamps: Some(ts),
            ..seg(ms, ACK, dir_seq, ack, len)
        };
        a.observe(0, &with_ts(100, 101, 501, 10, (7, 1)));
        a.observe(0, &with_ts(105, 111, 501, 10, (7, 1))); // same TSval: not timed
        a.observe(1, &with_ts(130, 501, 121, 0, (50, 7)));
        a.observe(1, &with_ts(131, 501, 121, 0, (50, 7))); // echoed again: no sample
        let r = a.rtt(0);
        // The handshake's seq/ACK sample, then the TSval sample (30 ms).
        assert_eq!(r.samples, 2);
        assert_eq!(r.max_nanos, 30 * MS as u64);
        // Once both sides send timestamps, seq/ACK timing stops.
        a.observe(0, &with_ts(140, 121, 501, 10, (6, 50))); // an older TSval
        a.observe(1, &with_ts(150, 501, 131, 0, (51, 6)));
        assert_eq!(a.rtt(0).samples, 2);
        assert_eq!(a.rtt(1).samples, 2, "handshake, then 50 echoed at 140");
    }

    /// A new TSval every millisecond, each echoed 40 ms later: ten times
    /// more pending TSvals than slots. Keeping the oldest, answered first,
    /// still samples every RTT (evicting them left no sample at all).
    #[test]
    fn a_steady_stream_longer_than_the_pending_slots_is_still_timed() {
        let mut a = connected();
        let with_ts = |ms, dir_seq, ack, len, ts: (u32, u32)| TcpSeg {
            timestamps: Some(ts),
            ..seg(ms, ACK, dir_seq, ack, len)
        };
        let before = a.rtt(0).samples;
        for i in 0..240u32 {
            let ms = 100 + i64::from(i);
            if i < 200 {
                a.observe(0, &with_ts(ms, 101 + 10 * i, 501, 10, (1 + i, 1)));
            }
            if i >= 40 {
                let acked = i - 40;
                a.observe(
                    1,
                    &with_ts(ms, 501, 111 + 10 * acked, 0, (1000 + i, 1 + acked)),
                );
            }
        }
        let r = a.rtt(0);
        assert!(r.samples - before >= 4 * 5, "{r:?}");
        assert_eq!(r.max_nanos, 40 * MS as u64, "{r:?}");
        assert!(r.pending_dropped > 0);
    }

    #[test]
    fn karns_rule_times_no_retransmitted_data() {
        let mut a = connected();
        a.observe(0, &seg(20, ACK, 101, 501, 100));
        a.observe(0, &seg(400, ACK, 101, 501, 100));
        a.observe(1, &seg(410, ACK, 501, 201, 0));
        assert_eq!(a.rtt(0).samples, 1, "only the SYN's");
        a.observe(0, &seg(420, ACK, 201, 501, 100));
        a.observe(1, &seg(450, ACK, 501, 301, 0));
        assert_eq!(a.rtt(0).samples, 2);
        assert_eq!(a.rtt(0).max_nanos, 30 * MS as u64);
        // RFC 6298: 10 ms, then 7/8 · 10 + 1/8 · 30.
        assert_eq!(a.rtt(0).srtt_nanos, 12_500_000);
    }

    #[test]
    fn acks_for_data_never_seen_are_capture_gaps() {
        let mut a = connected();
        a.observe(0, &seg(20, ACK, 101, 501, 100));
        // 201..1201 never captured.
        a.observe(1, &seg(30, ACK, 501, 1201, 0));
        a.observe(1, &seg(31, ACK, 501, 1201, 0));
        let c = a.counters(0);
        assert_eq!((c.acked_unseen, c.acked_unseen_bytes), (1, 1000));
        a.observe(0, &seg(40, ACK, 1301, 501, 100));
        assert_eq!(a.counters(0).lost_segments, 1);
    }

    #[test]
    fn sequence_numbers_wrap_around() {
        let mut a = TcpAnalysis::new();
        let isn = u32::MAX - 150;
        a.observe(0, &seg(0, SYN, isn, 0, 0));
        a.observe(1, &seg(10, SYN | ACK, 9, isn.wrapping_add(1), 0));
        a.observe(0, &seg(12, ACK, isn.wrapping_add(1), 10, 0));
        for (i, t) in [20, 21, 22].into_iter().enumerate() {
            let s = isn.wrapping_add(1 + 100 * i as u32);
            a.observe(0, &seg(t, ACK, s, 10, 100));
        }
        a.observe(1, &seg(40, ACK, 10, isn.wrapping_add(301), 0));
        let c = a.counters(0);
        assert_eq!(
            (c.retransmissions, c.out_of_order, c.lost_segments),
            (0, 0, 0)
        );
        assert_eq!(a.rtt(0).samples, 2);
    }

    #[test]
    fn window_full_needs_the_scale_and_fills_the_window_exactly() {
        let mut a = TcpAnalysis::new();
        a.observe(
            0,
            &TcpSeg {
                window_scale: Some(1),
                ..seg(0, SYN, 100, 0, 0)
            },
        );
        a.observe(
            1,
            &TcpSeg {
                window_scale: Some(2),
                ..seg(10, SYN | ACK, 500, 101, 0)
            },
        );
        // The server advertises 100 << 2 = 400 bytes after 101.
        a.observe(
            1,
            &TcpSeg {
                window: 100,
                ..seg(11, ACK, 501, 101, 0)
            },
        );
        a.observe(0, &seg(12, ACK, 101, 501, 200));
        a.observe(0, &seg(13, ACK, 301, 501, 200));
        assert_eq!(a.counters(0).window_full, 1);
    }

    #[test]
    fn a_segment_is_read_from_the_header_and_the_ip_length() {
        let mut h = vec![0u8; 20];
        h[4..8].copy_from_slice(&7u32.to_be_bytes());
        h[8..12].copy_from_slice(&9u32.to_be_bytes());
        h[12] = 9 << 4; // 36 bytes: window scale, NOP, timestamps, end
        h[13] = SYN | ACK;
        h[14..16].copy_from_slice(&512u16.to_be_bytes());
        h.extend_from_slice(&[3, 3, 6, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 4, 0, 0]);
        let v = TcpHeader::new_checked(&h).unwrap();
        let s = TcpSeg::from_header(Timestamp::from_nanos(3), &v, 36 + 100);
        let want = TcpSeg {
            ts: Timestamp::from_nanos(3),
            seq: 7,
            ack: 9,
            flags: SYN | ACK,
            window: 512,
            payload_len: 100,
            window_scale: Some(6),
            timestamps: Some((5, 4)),
        };
        assert_eq!(s, want);
    }

    #[test]
    fn resets_are_counted_and_the_state_stays_small() {
        let mut a = connected();
        a.observe(1, &seg(20, RST | ACK, 501, 101, 0));
        assert_eq!(a.counters(1).resets, 1);
        assert_eq!(a.counters(0).resets, 0);
        // docs/TCP.md states the size; keep it in step.
        assert_eq!(TcpAnalysis::SIZE_BYTES, 872, "update docs/TCP.md");
    }
}
