//! Where alerts and notes are shown: consumers that write each alert as a
//! `wirewatch: alert [severity] kind entity: summary` line on stderr, or as
//! NDJSON (the JSON `history alerts` gives back) on stdout or into a file;
//! and one that prints the notes consumers raise. Each alert output has
//! its own budget of alerts a minute (`[detect] alerts-per-minute`).

use std::fs::File;
use std::io::{self, BufWriter, Write};

use anyhow::anyhow;
use wirewatch_detect::{Alert, Budget};
use wirewatch_flow::FlowTable;
use wirewatch_pipeline::detached::{Detached, Message, Receiver, WhenFull};
use wirewatch_pipeline::{Consumer, Context, Ending, Outbox, Tick};
use wirewatch_store::Row;
use wirewatch_wire::Timestamp;

use crate::settings::AlertMode;

/// One line for an alert.
pub fn alert_line(a: &Alert) -> String {
    format!(
        "alert [{}] {} {}: {}",
        a.severity, a.kind, a.entity, a.summary
    )
}

/// Alerts as `wirewatch: alert …` lines on stderr.
pub struct AlertLines;

impl Consumer for AlertLines {
    fn name(&self) -> &'static str {
        "alert lines"
    }

    fn alert(&mut self, a: &Alert) {
        crate::message::note(&alert_line(a));
    }
}

/// Alerts as NDJSON into a writer, on the alert log's own thread.
struct Ndjson {
    out: Box<dyn Write + Send>,
    error: Option<String>,
    /// The reader went away (`… | head`): the rest is not written, and that
    /// is no error.
    gone: bool,
}

impl Ndjson {
    /// Keeps the first write error, except a closed pipe.
    fn failed(&mut self, e: &io::Error) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            self.gone = true;
        } else {
            self.error.get_or_insert(format!("writing alerts: {e}"));
        }
    }
}

impl Receiver for Ndjson {
    fn receive(&mut self, m: Message) {
        let Message::Alert(a) = m else { return };
        if self.error.is_some() || self.gone {
            return;
        }
        let w = &mut self.out;
        let written = wirewatch_pipeline::json::to_value(&*a)
            .and_then(|v| serde_json::to_writer(&mut *w, &v))
            .map_err(io::Error::from)
            .and_then(|_| w.write_all(b"\n"))
            .and_then(|_| w.flush());
        if let Err(e) = written {
            self.failed(&e);
        }
    }

    fn close(&mut self) -> Result<(), String> {
        if !self.gone {
            if let Err(e) = self.out.flush() {
                self.failed(&e);
            }
        }
        self.error.take().map_or(Ok(()), Err)
    }
}

/// Alerts queued for the writer, at most this many.
const QUEUE: usize = 4096;

/// An alert output behind its budget: past `per_minute` alerts in a
/// minute the rest are held back, counted, and said in a note when the
/// minute ends and at the end of the run. Roll-ups always pass.
pub struct Budgeted {
    inner: Box<dyn Consumer>,
    budget: Budget,
    /// The output's name in the notes ("alert lines", "alert log").
    output: &'static str,
    notes: Vec<String>,
}

impl Budgeted {
    /// `inner` with a budget of `per_minute` alerts a minute (0: none).
    pub fn new(inner: Box<dyn Consumer>, per_minute: u32) -> Budgeted {
        Budgeted {
            output: inner.name(),
            inner,
            budget: Budget::new(per_minute),
            notes: Vec::new(),
        }
    }

    fn flush_notes(&mut self, out: &mut Outbox) {
        for n in self.notes.drain(..) {
            out.note(format!("{}: {n}", self.output));
        }
    }

    /// The run's total of held-back alerts, for the end.
    fn summary(&self) -> Option<String> {
        let held = self.budget.held_total();
        (held > 0).then(|| {
            format!(
                "{}: {} alert(s) held back in all by the budget of {} a minute \
                 ([detect] alerts-per-minute); roll-ups are never held back, and \
                 the history keeps every alert",
                self.output,
                wirewatch_units::thousands(held),
                self.budget.per_minute()
            )
        })
    }
}

impl Consumer for Budgeted {
    fn name(&self) -> &'static str {
        self.output
    }

    fn wants(&self) -> wirewatch_pipeline::Wants {
        self.inner.wants()
    }

    fn begin(&mut self, cx: &Context<'_>, out: &mut Outbox) -> anyhow::Result<()> {
        self.inner.begin(cx, out)
    }

    fn advance(
        &mut self,
        table: &mut FlowTable,
        now: Timestamp,
        cx: &Context<'_>,
        out: &mut Outbox,
    ) {
        self.budget.advance(now, &mut self.notes);
        self.flush_notes(out);
        self.inner.advance(table, now, cx, out);
    }

    fn rows(&mut self, at: Timestamp, rows: &[Row], out: &mut Outbox) {
        self.inner.rows(at, rows, out);
    }

    fn alert(&mut self, a: &Alert) {
        if self.budget.admit(a, &mut self.notes) {
            self.inner.alert(a);
        }
    }

    fn note(&mut self, line: &str) {
        self.inner.note(line);
    }

    fn tick(&mut self, table: &FlowTable, tick: &Tick, cx: &Context<'_>) -> io::Result<()> {
        self.inner.tick(table, tick, cx)
    }

    fn input_ended(&mut self, table: &mut FlowTable, cx: &Context<'_>, out: &mut Outbox) {
        self.inner.input_ended(table, cx, out);
    }

    fn finish(
        &mut self,
        table: &mut FlowTable,
        end: &Ending,
        cx: &Context<'_>,
        out: &mut Outbox,
    ) -> anyhow::Result<()> {
        self.budget.finish(&mut self.notes);
        self.flush_notes(out);
        if let Some(s) = self.summary() {
            out.note(s);
        }
        self.inner.finish(table, end, cx, out)
    }
}

/// The alert log `mode` asks for (`None` for `--alerts none`), behind a
/// budget of `per_minute` alerts a minute (see [`Budgeted`]). A file is
/// opened (appended to) now: before a live run drops its privileges.
/// NDJSON is written on a thread of its own behind a bounded queue: a
/// slow reader of the output never holds up a live capture (alerts are
/// dropped and counted then); reading a file, nothing is dropped.
pub fn open(
    mode: &AlertMode,
    live: bool,
    per_minute: u32,
) -> anyhow::Result<Option<Box<dyn Consumer>>> {
    let budgeted =
        |c: Box<dyn Consumer>| -> Box<dyn Consumer> { Box::new(Budgeted::new(c, per_minute)) };
    let out: Box<dyn Write + Send> = match mode {
        AlertMode::Quiet => return Ok(None),
        AlertMode::Text => return Ok(Some(budgeted(Box::new(AlertLines)))),
        AlertMode::JsonStdout => Box::new(io::stdout()),
        AlertMode::JsonFile(p) => {
            let f = File::options()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| anyhow!("--alerts: {}: {e}", p.display()))?;
            Box::new(BufWriter::new(f))
        }
    };
    let when_full = if live { WhenFull::Drop } else { WhenFull::Wait };
    let log = Detached::start(
        "alert log",
        QUEUE,
        false,
        when_full,
        Ndjson {
            out,
            error: None,
            gone: false,
        },
    )
    .map_err(|e| anyhow!("starting the alert log: {e}"))?;
    Ok(Some(budgeted(Box::new(log))))
}

/// Notes for the user on stderr (`wirewatch: …`).
pub struct Notes;

impl Consumer for Notes {
    fn name(&self) -> &'static str {
        "notes"
    }

    fn note(&mut self, line: &str) {
        crate::message::note(line);
    }
}
