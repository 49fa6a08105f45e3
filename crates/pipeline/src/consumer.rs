//! The one consumer trait: everything that takes something from the
//! pipeline (reports, the screen, the history recorder, detection, alert
//! logs; next: the web, the exporter, the responder) is a [`Consumer`].
//!
//! Push-style, like a ripgrep `Sink`: the pipeline calls the methods a
//! consumer asked for ([`Wants`]); every method has a default that does
//! nothing. What a consumer raises for the others (per-minute rows, alerts,
//! notes for the user) goes into its [`Outbox`]; the pipeline hands it to
//! every consumer, in order, before it goes on.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use wirewatch_detect::Alert;
use wirewatch_flow::FlowTable;
use wirewatch_store::Row;
use wirewatch_wire::{Frame, PacketMeta, Timestamp};

use crate::procs::Owners;
use crate::source::CaptureStats;

/// What a consumer is fed besides ticks, events and the end (asked once,
/// when it is added).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wants {
    /// Every decoded packet ([`Consumer::packet`]).
    pub packets: bool,
    /// Each frame's time before it is accounted, on the packet clock
    /// ([`Consumer::before_frame`]): to cut the traffic exactly at minutes.
    pub before_frame: bool,
    /// A live capture's kernel counters in [`Context::capture`] at
    /// [`Consumer::advance`], read at most once a second (else only at
    /// ticks).
    pub capture_stats: bool,
}

/// One decoded packet (the flow table may account it after the
/// consumers have seen it: packets go into the table in batches).
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// The frame as captured.
    pub frame: &'a Frame<'a>,
    /// What the decoder made of it.
    pub meta: &'a PacketMeta,
    /// Index of the interface it came from (names in [`Context::interfaces`]).
    pub iface: u16,
}

/// What a consumer raised for the others.
#[derive(Debug)]
pub enum Event {
    /// Per-minute flow rows cut from the table (`at`: the cut's time).
    Rows {
        /// When the rows were cut.
        at: Timestamp,
        /// The rows (shared: the one who cut them may still hand them on).
        rows: Arc<Vec<Row>>,
    },
    /// An alert.
    Alert(Box<Alert>),
    /// A line for the user (status line or stderr).
    Note(String),
    /// What the responder decided about an alert.
    Response(Box<Response>),
}

/// One decision of the responder (`--respond`), for the screen, stderr
/// and the web.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// When it was decided.
    pub time: Timestamp,
    /// `blocked`, `extended`, `would-block`, `already-blocked`, `run`,
    /// `would-run`, `refused`, `hook succeeded`, `hook failed`.
    pub outcome: String,
    /// `block-source`, `block-destination`, `exec`, `webhook`.
    pub action: String,
    /// `from 198.51.100.7`, `to 192.0.2.9:443`; none for hooks.
    pub target: Option<String>,
    /// When the block ends (blocks only).
    pub until: Option<Timestamp>,
    /// The rule's name.
    pub rule: String,
    /// The alert's kind and entity.
    pub alert: String,
    /// The whole decision in one line ("blocked from … until 14:05 UTC
    /// (1h), rule default: vertical_scan …").
    pub line: String,
}

/// Most events waiting in an [`Outbox`]: the pipeline empties it after
/// every call, so only a consumer that raises without end reaches this.
pub const MAX_EVENTS: usize = 65_536;

/// Where a consumer puts what it raises; the pipeline empties it. Holds at
/// most [`MAX_EVENTS`]; what comes past that is dropped and counted.
#[derive(Debug, Default)]
pub struct Outbox {
    events: VecDeque<Event>,
    dropped: u64,
}

impl Outbox {
    fn push(&mut self, e: Event) {
        if self.events.len() < MAX_EVENTS {
            self.events.push_back(e);
        } else {
            self.dropped += 1;
        }
    }

    /// Raises rows cut at `at`.
    pub fn rows(&mut self, at: Timestamp, rows: Arc<Vec<Row>>) {
        self.push(Event::Rows { at, rows });
    }

    /// Raises an alert.
    pub fn alert(&mut self, a: Alert) {
        self.push(Event::Alert(Box::new(a)));
    }

    /// Raises a note for the user.
    pub fn note(&mut self, line: impl Into<String>) {
        self.push(Event::Note(line.into()));
    }

    /// Raises a responder's decision.
    pub fn response(&mut self, r: Response) {
        self.push(Event::Response(Box::new(r)));
    }

    /// Events dropped so far because the outbox was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The oldest event waiting.
    pub fn pop(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

/// What consumers can read besides the flow table.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Processes owning flows (empty unless live with process lookup).
    pub owners: &'a Owners,
    /// Interface names by the index flows carry.
    pub interfaces: &'a [String],
    /// Kernel counters of a live capture, read at this tick.
    pub capture: Option<&'a CaptureStats>,
}

/// A report period that ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tick {
    /// Start of the period.
    pub start: Timestamp,
    /// End of the period.
    pub end: Timestamp,
    /// The newest 2-second slot the report counts: on the packet clock the
    /// one `end` closes (incomplete when the period is not a multiple of
    /// 2 s: it counts for the part before `end`), live the newest one
    /// complete at `end`.
    pub slot: i64,
}

/// How the run ended, for the final report.
#[derive(Clone, Debug, Default)]
pub struct Ending {
    /// What was read: a file name, or "live capture on …".
    pub input: String,
    /// Link types met.
    pub link_types: Vec<u32>,
    /// A fault that cut the input short but kept what came before.
    pub warning: Option<String>,
    /// A fault that makes the run fail (reported after the final report).
    pub error: Option<String>,
    /// Kernel counters of a live capture.
    pub capture: Option<CaptureStats>,
}

/// Something the pipeline feeds. Every method has a default that does
/// nothing; a consumer overrides what it uses and says in [`wants`] which
/// per-packet calls it needs (they cost on the hot path).
///
/// [`wants`]: Consumer::wants
pub trait Consumer: std::any::Any {
    /// A short name for messages and counters.
    fn name(&self) -> &'static str;

    /// The per-packet calls it needs.
    fn wants(&self) -> Wants {
        Wants::default()
    }

    /// Once, before the first frame (live: after the privilege drop, so
    /// threads started here hold no privileges).
    fn begin(&mut self, _cx: &Context<'_>, _out: &mut Outbox) -> anyhow::Result<()> {
        Ok(())
    }

    /// The earliest frame time at which [`Consumer::before_frame`] has
    /// work; frames before it are not shown to it, so the pipeline can
    /// account them in batches. `None`: every frame.
    fn before_frame_due(&self) -> Option<Timestamp> {
        None
    }

    /// The time of the next frame, before it is accounted (packet clock
    /// only; see [`Wants::before_frame`]), when it is at or after
    /// [`Consumer::before_frame_due`]: the table then holds every frame
    /// before it.
    fn before_frame(
        &mut self,
        _table: &mut FlowTable,
        _ts: Timestamp,
        _cx: &Context<'_>,
        _out: &mut Outbox,
    ) {
    }

    /// A decoded packet (see [`Wants::packets`]), in capture order; the
    /// table may not have accounted it yet.
    fn packet(&mut self, _p: &Packet<'_>, _out: &mut Outbox) {}

    /// The clock moved: after each batch of frames (live: the wall clock;
    /// files: the newest frame's time).
    fn advance(
        &mut self,
        _table: &mut FlowTable,
        _now: Timestamp,
        _cx: &Context<'_>,
        _out: &mut Outbox,
    ) {
    }

    /// Rows another consumer cut from the table.
    fn rows(&mut self, _at: Timestamp, _rows: &[Row], _out: &mut Outbox) {}

    /// An alert another consumer raised.
    fn alert(&mut self, _alert: &Alert) {}

    /// A note for the user.
    fn note(&mut self, _line: &str) {}

    /// A responder's decision; by default shown as the note
    /// `response: LINE`.
    fn response(&mut self, r: &Response) {
        self.note(&format!("response: {}", r.line));
    }

    /// A report period ended. An error stops the run (a broken pipe ends it
    /// quietly).
    fn tick(&mut self, _table: &FlowTable, _tick: &Tick, _cx: &Context<'_>) -> io::Result<()> {
        Ok(())
    }

    /// The input ended, before any consumer finishes: what is raised here
    /// reaches every consumer while all of them still take it (the
    /// recorder's last rows reach detection, and the alerts they raise and
    /// detection's last roll-ups reach the history).
    fn input_ended(&mut self, _table: &mut FlowTable, _cx: &Context<'_>, _out: &mut Outbox) {}

    /// The end, in the consumers' order: the table holds everything read.
    fn finish(
        &mut self,
        _table: &mut FlowTable,
        _end: &Ending,
        _cx: &Context<'_>,
        _out: &mut Outbox,
    ) -> anyhow::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_outbox_drops_and_counts() {
        let mut out = Outbox::default();
        for k in 0..MAX_EVENTS + 10 {
            out.note(format!("note {k}"));
        }
        assert_eq!(out.dropped(), 10);
        let mut n = 0;
        while out.pop().is_some() {
            n += 1;
        }
        assert_eq!(n, MAX_EVENTS);
        // Room again once emptied.
        out.note("again");
        assert_eq!((out.pop().is_some(), out.dropped()), (true, 10));
    }
}
