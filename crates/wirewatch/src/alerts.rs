//! Where alerts and notes are shown: a consumer that writes each alert as
//! a `wirewatch: alert [severity] kind entity: summary` line on stderr, or
//! as NDJSON (the JSON `history alerts` gives back) on stdout or into a
//! file; and one that prints the notes consumers raise.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use anyhow::anyhow;
use wirewatch_detect::Alert;
use wirewatch_flow::FlowTable;
use wirewatch_pipeline::{Consumer, Context, Ending, Outbox};

use crate::settings::AlertMode;

/// One line for an alert.
pub fn alert_line(a: &Alert) -> String {
    format!(
        "alert [{}] {} {}: {}",
        a.severity, a.kind, a.entity, a.summary
    )
}

enum Out {
    Stderr,
    Json(Box<dyn Write>),
}

/// Alerts as text lines or NDJSON.
pub struct AlertLog {
    out: Out,
    error: Option<String>,
}

impl AlertLog {
    /// The log `mode` asks for (`None` for `--alerts none`). A file is
    /// opened (appended to) now: before a live run drops its privileges.
    pub fn open(mode: &AlertMode) -> anyhow::Result<Option<AlertLog>> {
        let out = match mode {
            AlertMode::Quiet => return Ok(None),
            AlertMode::Text => Out::Stderr,
            AlertMode::JsonStdout => Out::Json(Box::new(io::stdout())),
            AlertMode::JsonFile(p) => {
                let f = File::options()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| anyhow!("--alerts: {}: {e}", p.display()))?;
                Out::Json(Box::new(BufWriter::new(f)))
            }
        };
        Ok(Some(AlertLog { out, error: None }))
    }
}

impl Consumer for AlertLog {
    fn name(&self) -> &'static str {
        "alert log"
    }

    fn alert(&mut self, a: &Alert) {
        let written = match &mut self.out {
            Out::Stderr => {
                crate::message::note(&alert_line(a));
                Ok(())
            }
            Out::Json(w) => serde_json::to_writer(&mut *w, a)
                .map_err(io::Error::from)
                .and_then(|_| w.write_all(b"\n"))
                .and_then(|_| w.flush()),
        };
        if let Err(e) = written {
            self.error.get_or_insert(format!("writing alerts: {e}"));
        }
    }

    fn finish(
        &mut self,
        _table: &mut FlowTable,
        _end: &Ending,
        _cx: &Context<'_>,
        _out: &mut Outbox,
    ) -> anyhow::Result<()> {
        if let Out::Json(w) = &mut self.out {
            if let Err(e) = w.flush() {
                self.error.get_or_insert(format!("writing alerts: {e}"));
            }
        }
        match self.error.take() {
            Some(e) => Err(anyhow!(e)),
            None => Ok(()),
        }
    }
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
