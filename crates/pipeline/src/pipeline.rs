//! The pipeline: a [`Source`] → decode → the flow table (one owner, time
//! from the packets or the source's clock) → the [`Consumer`]s, with the
//! report ticks and the events consumers raise for each other.
//!
//! Offline reports, the live report and the screen are three
//! configurations of this one type: they differ in their source, their
//! consumers and who drives [`Pipeline::pump`].

use std::io;

use std::io::Read;

use wirewatch_capture::{CaptureReader, ReadError};
use wirewatch_detect::heuristics::dns;
use wirewatch_detect::Obs;
use wirewatch_flow::{DnsMsg, TcpSeg};
use wirewatch_flow::{FlowConfig, FlowTable, LayerMode};
use wirewatch_wire::tcp::TcpHeader;
use wirewatch_wire::{decode_into, DecodeOptions, Frame, PacketMeta, Timestamp};

use crate::consumer::{Consumer, Context, Ending, Event, Outbox, Packet, Tick};
use crate::procs::Owners;
use crate::source::{CaptureStats, FileSource, Source, Stop};

/// At most this many empty interval reports are made for one gap in a
/// capture; beyond it the clock jumps to the next packet (corrupt
/// timestamps would otherwise report for years).
const MAX_REPORTS_PER_GAP: i64 = 10_000;

/// Decoder settings implied by the flow settings: tunnels are descended
/// into only when the table accounts inner headers.
pub fn decode_options(cfg: &FlowConfig) -> DecodeOptions {
    DecodeOptions {
        descend_tunnels: cfg.layers != LayerMode::Outer,
    }
}

/// Counters of what went through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames accounted.
    pub frames: u64,
    /// Alerts raised by consumers.
    pub alerts: u64,
    /// Rows cut from the table.
    pub rows: u64,
    /// Report ticks.
    pub ticks: u64,
    /// Events dropped because a consumer raised more than an outbox holds.
    pub events_dropped: u64,
}

/// Everything but the source: the table, the consumers, the clock's ticks.
/// How often kernel counters are read for [`crate::Wants::capture_stats`]
/// (nanoseconds of the source's clock).
const CAPTURE_EVERY_NS: i64 = 1_000_000_000;

struct Core {
    table: FlowTable,
    opts: DecodeOptions,
    consumers: Vec<Box<dyn Consumer>>,
    /// Indexes of the consumers that take every packet.
    packets: Vec<usize>,
    /// Indexes of the consumers called before each frame (packet clock).
    before: Vec<usize>,
    owners: Owners,
    interfaces: Vec<String>,
    outbox: Outbox,
    /// Report period, nanoseconds.
    interval: Option<i64>,
    next_tick: Option<Timestamp>,
    packet_clock: bool,
    /// Some consumer wants kernel counters at [`Consumer::advance`]
    /// ([`crate::Wants::capture_stats`]); when they are read next.
    capture_due: Option<Timestamp>,
    /// A tick's output failed while frames were being read.
    failed: Option<io::Error>,
    counters: Counters,
    /// Decoded packets not yet in the table, the first `batched`: when
    /// nothing looks at single packets, they go in by
    /// [`FlowTable::ingest_batch`] (at the latest when the source's pull
    /// returns). Decoded in place.
    batch: Vec<PacketMeta>,
    /// The TCP segment of each packet in `batch` (`--tcp`), same places.
    segs: Vec<Option<TcpSeg>>,
    batched: usize,
    /// The earliest frame time a `before` consumer wants to see (`None`:
    /// the next frame).
    before_due: Option<Timestamp>,
}

/// A source and what consumes it.
pub struct Pipeline<S: Source> {
    /// The source.
    pub source: S,
    core: Core,
}

impl<S: Source> Pipeline<S> {
    /// A pipeline from `source` into `table` (which says, by its layer
    /// mode, how deep the decoder goes).
    pub fn new(source: S, table: FlowTable) -> Self {
        let opts = decode_options(table.config());
        let interfaces = source.interface_names();
        let packet_clock = source.packet_clock();
        Pipeline {
            source,
            core: Core {
                table,
                opts,
                consumers: Vec::new(),
                packets: Vec::new(),
                before: Vec::new(),
                owners: Owners::default(),
                interfaces,
                outbox: Outbox::default(),
                interval: None,
                next_tick: None,
                packet_clock,
                capture_due: None,
                failed: None,
                counters: Counters::default(),
                batch: vec![PacketMeta::default(); wirewatch_flow::BATCH],
                segs: vec![None; wirewatch_flow::BATCH],
                batched: 0,
                before_due: None,
            },
        }
    }

    /// Adds a consumer (after the ones already added: that is the order of
    /// every call, and of [`Pipeline::finish`]).
    pub fn add(&mut self, c: Box<dyn Consumer>) {
        let k = self.core.consumers.len();
        let w = c.wants();
        if w.packets {
            self.core.packets.push(k);
        }
        if w.before_frame && self.core.packet_clock {
            self.core.before.push(k);
        }
        if w.capture_stats && !self.core.packet_clock {
            self.core.capture_due = Some(Timestamp::from_nanos(i64::MIN));
        }
        self.core.consumers.push(c);
    }

    /// [`Pipeline::add`], chained.
    pub fn with(mut self, c: Box<dyn Consumer>) -> Self {
        self.add(c);
        self
    }

    /// Ticks every `nanos` of the source's clock (interval reports).
    pub fn tick_every(&mut self, nanos: Option<i64>) {
        self.core.interval = nanos.filter(|&n| n > 0);
        self.core.next_tick = None;
        if !self.core.packet_clock {
            self.core.next_tick = self.core.interval.map(|iv| self.source.now().add_nanos(iv));
        }
    }

    /// When the next report tick is due on a clock source (`None`: no
    /// report period, or time is the packets').
    pub fn next_tick(&self) -> Option<Timestamp> {
        self.core.next_tick.filter(|_| !self.core.packet_clock)
    }

    /// Labels flows with their processes from now on.
    pub fn set_owners(&mut self, owners: Owners) {
        self.core.owners = owners;
    }

    /// Starts the consumers (live: after the privilege drop).
    pub fn begin(&mut self) -> anyhow::Result<()> {
        let core = &mut self.core;
        let cx = Context {
            owners: &core.owners,
            interfaces: &core.interfaces,
            capture: None,
        };
        let mut first_error = None;
        for c in &mut core.consumers {
            if let Err(e) = c.begin(&cx, &mut core.outbox) {
                first_error.get_or_insert(e);
            }
        }
        core.deliver();
        first_error.map_or(Ok(()), Err)
    }

    /// Takes what the source has (waiting at most `wait_ns`), moves the
    /// clock, labels owners, and ticks when a report is due. An error of a
    /// report's output stops the run.
    pub fn pump(&mut self, wait_ns: i64) -> anyhow::Result<()> {
        let core = &mut self.core;
        self.source
            .pull(wait_ns, &mut |f, iface| core.frame(f, iface))?;
        core.flush();
        if let Some(e) = core.failed.take() {
            return Err(e.into());
        }
        let now = self.source.now();
        core.table.advance(now);
        core.owners.label(&mut core.table, now);
        let capture = match core.capture_due {
            Some(t) if now >= t => {
                core.capture_due = Some(now.add_nanos(CAPTURE_EVERY_NS));
                self.source.capture_stats()
            }
            _ => None,
        };
        core.advance(now, capture.as_ref());
        if !core.packet_clock && core.next_tick.is_some_and(|t| now >= t) {
            // Kernel counters are read for the report only.
            let capture = self.source.capture_stats();
            core.wall_ticks(now, capture.as_ref())?;
        }
        Ok(())
    }

    /// Pumps until the source ends (files).
    pub fn run_to_end(&mut self, mut progress: impl FnMut(&S)) -> anyhow::Result<()> {
        while !self.source.ended() {
            self.pump(0)?;
            progress(&self.source);
        }
        Ok(())
    }

    /// Ends the run: every consumer's `finish`, in order, each seeing what
    /// the ones before it raised. Returns the first error after all have
    /// finished (what was collected is kept whatever happened).
    pub fn finish(&mut self, end: &Ending) -> anyhow::Result<()> {
        let core = &mut self.core;
        for k in 0..core.consumers.len() {
            let cx = Context {
                owners: &core.owners,
                interfaces: &core.interfaces,
                capture: end.capture.as_ref(),
            };
            core.consumers[k].input_ended(&mut core.table, &cx, &mut core.outbox);
            core.deliver();
        }
        let mut first_error = None;
        for k in 0..core.consumers.len() {
            let cx = Context {
                owners: &core.owners,
                interfaces: &core.interfaces,
                capture: end.capture.as_ref(),
            };
            if let Err(e) = core.consumers[k].finish(&mut core.table, end, &cx, &mut core.outbox) {
                first_error.get_or_insert(e);
            }
            core.deliver();
        }
        let dropped = core.outbox.dropped();
        if dropped > 0 {
            core.outbox.note(format!(
                "{dropped} event(s) dropped: a consumer raised more than {} at once",
                crate::consumer::MAX_EVENTS
            ));
            core.deliver();
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The flow table.
    pub fn table(&self) -> &FlowTable {
        &self.core.table
    }

    /// The flow table, to change.
    pub fn table_mut(&mut self) -> &mut FlowTable {
        &mut self.core.table
    }

    /// The process owners.
    pub fn owners(&self) -> &Owners {
        &self.core.owners
    }

    /// The process owners, to change.
    pub fn owners_mut(&mut self) -> &mut Owners {
        &mut self.core.owners
    }

    /// Labels the flows with their owners now.
    pub fn label_owners(&mut self) {
        let now = self.core.table.now();
        self.core.owners.label(&mut self.core.table, now);
    }

    /// Interface names by index.
    pub fn interfaces(&self) -> &[String] {
        &self.core.interfaces
    }

    /// What went through so far.
    pub fn counters(&self) -> Counters {
        Counters {
            events_dropped: self.core.outbox.dropped(),
            ..self.core.counters
        }
    }

    /// The first consumer of type `T`, to read its results.
    pub fn consumer_mut<T: Consumer>(&mut self) -> Option<&mut T> {
        self.core.consumers.iter_mut().find_map(|c| {
            let any: &mut dyn std::any::Any = c.as_mut();
            any.downcast_mut::<T>()
        })
    }

    /// The flow table, the run over.
    pub fn into_table(self) -> FlowTable {
        self.core.table
    }
}

impl Core {
    /// One frame from the source; false stops the source.
    fn frame(&mut self, f: &Frame<'_>, iface: u16) -> bool {
        if self.table.interface() != iface {
            self.flush();
            self.table.set_interface(iface);
        }
        let mut i = self.batched;
        decode_into(
            f.link_type,
            f.ts,
            f.data,
            f.wire_len,
            &self.opts,
            &mut self.batch[i],
        );
        let ts = self.batch[i].ts;
        self.segs[i] = self.tcp_segment(f, i);
        // Reports on the packets' clock and the `before` consumers cut the
        // table between frames: when one is due, the table must hold every
        // frame before this one, and not it.
        let tick_due =
            self.packet_clock && self.interval.is_some() && self.next_tick.is_none_or(|t| ts >= t);
        let before_due = !self.before.is_empty() && self.before_due.is_none_or(|d| ts >= d);
        if tick_due || before_due {
            self.flush();
            self.batch.swap(0, i);
            self.segs.swap(0, i);
            i = 0;
        }
        if tick_due {
            if let Err(e) = self.packet_ticks(ts) {
                self.failed = Some(e);
                return false;
            }
        }
        if before_due {
            self.before_frame(ts);
        }
        self.dns_message(f, i);
        if !self.packets.is_empty() {
            let p = Packet {
                frame: f,
                meta: &self.batch[i],
                iface,
            };
            for &k in &self.packets {
                self.consumers[k].packet(&p, &mut self.outbox);
            }
            self.deliver();
        }
        self.batched = i + 1;
        self.counters.frames += 1;
        if self.batched == self.batch.len() {
            self.flush();
        }
        true
    }

    /// The `before` consumers' call before a frame at `ts`, and when they
    /// want the next one.
    fn before_frame(&mut self, ts: Timestamp) {
        let cx = Context {
            owners: &self.owners,
            interfaces: &self.interfaces,
            capture: None,
        };
        for &k in &self.before {
            self.consumers[k].before_frame(&mut self.table, ts, &cx, &mut self.outbox);
        }
        self.deliver();
        self.refresh_before_due();
    }

    /// When the `before` consumers next want a call (`None`: at the next
    /// frame); asked again whenever they may have moved it.
    fn refresh_before_due(&mut self) {
        self.before_due = self
            .before
            .iter()
            .map(|&k| self.consumers[k].before_frame_due())
            .try_fold(Timestamp::from_nanos(i64::MAX), |due, d| {
                d.map(|d| due.min(d))
            });
    }

    /// Accounts the packets held in the batch.
    fn flush(&mut self) {
        if self.batched > 0 {
            let n = self.batched;
            self.table
                .ingest_batch_tcp(&self.batch[..n], &self.segs[..n]);
            self.batched = 0;
        }
    }

    /// The TCP segment of the packet decoded at `batch[i]` from frame `f`,
    /// when the table analyses TCP (`--tcp`) and the packet has one.
    fn tcp_segment(&self, f: &Frame<'_>, i: usize) -> Option<TcpSeg> {
        if !self.table.tcp_analysis() {
            return None;
        }
        let m = &self.batch[i];
        let l = self.table.analysed_layer(m)?;
        let h = TcpHeader::of_layer(f.data, l)?;
        Some(TcpSeg::from_header(m.ts, &h, l.l4_len))
    }

    /// The DNS message of the packet decoded at `batch[i]` from frame `f`
    /// into the table's transaction tracker (`--tcp`); any other packet
    /// moves the tracker's clock (the packets' time, so timeouts come
    /// without more DNS). Taken at once, not with the batch: the tracker
    /// keeps no flow, only its own clock.
    fn dns_message(&mut self, f: &Frame<'_>, i: usize) {
        let m = &self.batch[i];
        let ts = m.ts;
        let l = self.table.dns_layer(m);
        let o = l.map(|l| Obs::of_layer(ts, l, f.data, 0));
        let (Some(l), Some(q)) = (l, o.as_ref().and_then(dns::message).and_then(dns::parse)) else {
            self.table.dns_advance(ts);
            return;
        };
        let msg = DnsMsg {
            ts: m.ts,
            src: (l.src, l.src_port),
            dst: (l.dst, l.dst_port),
            tcp: l.protocol == wirewatch_wire::proto::TCP,
            id: q.id,
            response: q.response,
            rcode: q.rcode,
        };
        self.table.dns_message(&msg);
    }

    /// Report ticks on the packet clock: every boundary `ts` passed.
    fn packet_ticks(&mut self, ts: Timestamp) -> io::Result<()> {
        let Some(iv) = self.interval else {
            return Ok(());
        };
        let mut t = *self.next_tick.get_or_insert(ts.add_nanos(iv));
        let mut made = 0;
        while ts >= t {
            // The report covers up to its end, `t` (no packet at or after
            // it is in the table yet); its newest slot is the one the
            // period's last instant falls in.
            self.table.advance(t);
            let slot = self.table.slot_of(t.add_nanos(-1));
            self.tick(
                &Tick {
                    start: t.add_nanos(-iv),
                    end: t,
                    slot,
                },
                None,
            )?;
            made += 1;
            t = t.add_nanos(iv);
            if made >= MAX_REPORTS_PER_GAP {
                let skip = ts.nanos_since(t).div_euclid(iv) + 1;
                t = t.add_nanos(skip.saturating_mul(iv));
            }
        }
        self.next_tick = Some(t);
        Ok(())
    }

    /// Report ticks on the wall clock: at most one per call, then the next
    /// boundary after `now`.
    fn wall_ticks(&mut self, now: Timestamp, capture: Option<&CaptureStats>) -> io::Result<()> {
        let (Some(t), Some(iv)) = (self.next_tick, self.interval) else {
            return Ok(());
        };
        if now < t {
            return Ok(());
        }
        // The newest 2-second slot complete at the period's end: the
        // report is not about traffic after it (it ends at or before `t`).
        let slot = self.table.slot_of(t) - 1;
        self.tick(
            &Tick {
                start: t.add_nanos(-iv),
                end: t,
                slot,
            },
            capture,
        )?;
        let mut next = t.add_nanos(iv);
        while next <= now {
            next = next.add_nanos(iv);
        }
        self.next_tick = Some(next);
        Ok(())
    }

    fn tick(&mut self, tick: &Tick, capture: Option<&CaptureStats>) -> io::Result<()> {
        self.counters.ticks += 1;
        let cx = Context {
            owners: &self.owners,
            interfaces: &self.interfaces,
            capture,
        };
        for c in &mut self.consumers {
            c.tick(&self.table, tick, &cx)?;
        }
        Ok(())
    }

    /// The clock moved to `now` (`capture`: kernel counters just read).
    fn advance(&mut self, now: Timestamp, capture: Option<&CaptureStats>) {
        let cx = Context {
            owners: &self.owners,
            interfaces: &self.interfaces,
            capture,
        };
        for c in &mut self.consumers {
            c.advance(&mut self.table, now, &cx, &mut self.outbox);
        }
        self.deliver();
        // (The history cut moves its next boundary when it cuts here.)
        self.refresh_before_due();
    }

    /// Hands what consumers raised to every consumer, until nothing is
    /// left (what a delivery raises is delivered too).
    fn deliver(&mut self) {
        while let Some(ev) = self.outbox.pop() {
            match &ev {
                Event::Rows { at, rows } => {
                    self.counters.rows += rows.len() as u64;
                    for c in &mut self.consumers {
                        c.rows(*at, rows, &mut self.outbox);
                    }
                }
                Event::Alert(a) => {
                    self.counters.alerts += 1;
                    for c in &mut self.consumers {
                        c.alert(a);
                    }
                }
                Event::Note(n) => {
                    for c in &mut self.consumers {
                        c.note(n);
                    }
                }
                Event::Response(r) => {
                    for c in &mut self.consumers {
                        c.response(r);
                    }
                }
            }
        }
    }
}

/// Accounts every frame of `reader` into `table` through a pipeline with
/// no consumer (the flow table as reports see it); returns the table and
/// the read error that stopped reading, if any.
pub fn account_all<R: Read>(
    reader: CaptureReader<R>,
    table: FlowTable,
) -> (FlowTable, Option<ReadError>) {
    let mut p = Pipeline::new(FileSource::new(reader, String::new()), table);
    // Without consumers nothing can fail.
    let _ = p.run_to_end(|_| {});
    let stop = p.source.take_stop();
    let table = p.into_table();
    match stop {
        Some(Stop::Read(e)) => (table, Some(e)),
        _ => (table, None),
    }
}
