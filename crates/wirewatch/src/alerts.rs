//! Where alerts and notes are shown: consumers that write each alert as a
//! `wirewatch: alert [severity] kind entity: summary` line on stderr, or as
//! NDJSON (the JSON `history alerts` gives back) on stdout or into a file;
//! and one that prints the notes consumers raise.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use anyhow::anyhow;
use wirewatch_detect::Alert;
use wirewatch_pipeline::detached::{Detached, Message, Receiver, WhenFull};
use wirewatch_pipeline::Consumer;

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
}

impl Receiver for Ndjson {
    fn receive(&mut self, m: Message) {
        let Message::Alert(a) = m else { return };
        if self.error.is_some() {
            return;
        }
        let w = &mut self.out;
        let written = wirewatch_pipeline::json::to_value(&*a)
            .and_then(|v| serde_json::to_writer(&mut *w, &v))
            .map_err(io::Error::from)
            .and_then(|_| w.write_all(b"\n"))
            .and_then(|_| w.flush());
        if let Err(e) = written {
            self.error = Some(format!("writing alerts: {e}"));
        }
    }

    fn close(&mut self) -> Result<(), String> {
        if let Err(e) = self.out.flush() {
            self.error.get_or_insert(format!("writing alerts: {e}"));
        }
        self.error.take().map_or(Ok(()), Err)
    }
}

/// Alerts queued for the writer, at most this many.
const QUEUE: usize = 4096;

/// The alert log `mode` asks for (`None` for `--alerts none`). A file is
/// opened (appended to) now: before a live run drops its privileges.
/// NDJSON is written on a thread of its own behind a bounded queue: a
/// slow reader of the output never holds up a live capture (alerts are
/// dropped and counted then); reading a file, nothing is dropped.
pub fn open(mode: &AlertMode, live: bool) -> anyhow::Result<Option<Box<dyn Consumer>>> {
    let out: Box<dyn Write + Send> = match mode {
        AlertMode::Quiet => return Ok(None),
        AlertMode::Text => return Ok(Some(Box::new(AlertLines))),
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
        Ndjson { out, error: None },
    )
    .map_err(|e| anyhow!("starting the alert log: {e}"))?;
    Ok(Some(Box::new(log)))
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
