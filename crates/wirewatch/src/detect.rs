//! Detection in the pipelines: packets and per-period flow rows into the
//! engine, alerts out to the user (stderr lines, NDJSON on stdout or in a
//! file, the screen's status area) and into history.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use wirewatch_detect::{DetectConfig, Engine, FlowRow, Kitsune, ModelError, Obs};
use wirewatch_store::{AlertRecord, Row};
use wirewatch_wire::{PacketMeta, Timestamp};

use crate::settings::{AlertMode, DetectSettings};

/// Builds the engine of `cfg`, with the ML model of `model` loaded when
/// that file exists (`--model` implies the ML detector).
pub fn engine(cfg: &DetectConfig, model: Option<&Path>) -> anyhow::Result<Engine> {
    let mut cfg = cfg.clone();
    if model.is_some() {
        cfg.ml.enabled = true;
    }
    let mut engine = Engine::new(&cfg).map_err(|e| anyhow!("{e}"))?;
    if let Some(p) = model.filter(|p| p.exists()) {
        engine.set_ml(Kitsune::load(p, &cfg.ml).map_err(|e| anyhow!("--model: {e}"))?);
    }
    Ok(engine)
}

/// Most alerts held for a history recorder between two of its ticks.
const MAX_UNSAVED: usize = 10_000;

enum Out {
    Stderr,
    Json(Box<dyn Write + Send>),
    Nowhere,
}

/// The engine of one run and where its alerts go.
pub struct Detection {
    engine: Engine,
    model: Option<PathBuf>,
    out: Out,
    /// The latest alert, for a screen's status area.
    latest: Option<String>,
    /// Alerts not yet handed to history.
    unsaved: Vec<AlertRecord>,
    error: Option<String>,
    watch: Option<crate::watch::Watch>,
    /// The screen owns the terminal: notes go to its status line.
    on_screen: bool,
}

impl Detection {
    /// An engine with `s`'s settings. Opens the NDJSON file, if any.
    pub fn new(s: &DetectSettings) -> anyhow::Result<Detection> {
        let engine = engine(&s.cfg, s.model.as_deref())?;
        let out = match &s.mode {
            AlertMode::Text => Out::Stderr,
            AlertMode::Quiet => Out::Nowhere,
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
        Ok(Detection {
            engine,
            model: s.model.clone(),
            out,
            latest: None,
            unsaved: Vec::new(),
            error: None,
            watch: s.watch.clone().map(crate::watch::Watch::new),
            on_screen: false,
        })
    }

    /// Shows nothing on stderr: the screen shows alerts itself.
    pub fn for_screen(mut self) -> Detection {
        self.on_screen = true;
        if matches!(self.out, Out::Stderr) {
            self.out = Out::Nowhere;
        }
        self
    }

    /// One decoded frame (`frame` the bytes it was decoded from).
    pub fn packet(&mut self, meta: &PacketMeta, frame: &[u8], iface: u16) {
        if let Some(o) = Obs::new(meta, frame, iface) {
            self.engine.packet(&o);
            self.dispatch();
        }
    }

    /// The engine (warm start, models).
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Whether the flow-level detectors want per-period rows.
    pub fn wants_rows(&self) -> bool {
        self.engine.wants_rows()
    }

    /// One period's rows (as history writes them).
    pub fn rows(&mut self, now: Timestamp, rows: &[Row]) {
        let flows: Vec<FlowRow> = rows
            .iter()
            .map(|r| FlowRow {
                ts: Timestamp::from_secs(r.ts),
                iface: &r.iface,
                local: r.local,
                remote: r.remote,
                local_port: r.local_port,
                remote_port: r.remote_port,
                protocol: r.protocol,
                process: r.process.as_deref(),
                bytes_out: r.counts.bytes_out,
                bytes_in: r.counts.bytes_in,
                packets_out: r.counts.packets_out,
                packets_in: r.counts.packets_in,
            })
            .collect();
        self.forecasts(now, rows);
        self.engine.rows(now, &flows);
        self.dispatch();
    }

    /// The clock moved.
    pub fn advance(&mut self, now: Timestamp) {
        self.forecasts(now, &[]);
        self.engine.advance(now);
        self.dispatch();
    }

    /// Reads the forecast watch's history of `ifaces` now (live, before the
    /// privilege drop).
    pub fn preload_forecasts(&mut self, ifaces: &[String], now_secs: i64) {
        if let Some(w) = &mut self.watch {
            for i in ifaces {
                w.preload(i, now_secs);
            }
        }
    }

    /// The forecast watch: new forecasts into the engine, capacity alerts out.
    fn forecasts(&mut self, now: Timestamp, rows: &[Row]) {
        let Some(w) = &mut self.watch else { return };
        let up = w.rows(now.as_nanos().div_euclid(1_000_000_000), rows);
        for e in up.expectations {
            self.engine.expect(e);
        }
        for a in up.alerts {
            self.engine.raise(a);
        }
        // Notes are not alerts: stderr, or the screen's status line.
        for n in w.take_notes() {
            if self.on_screen {
                self.latest = Some(n);
            } else {
                eprintln!("wirewatch: {n}");
            }
        }
    }

    fn dispatch(&mut self) {
        let alerts = self.engine.take_alerts();
        if alerts.is_empty() {
            return;
        }
        for a in alerts {
            let line = format!(
                "alert [{}] {} {}: {}",
                a.severity, a.kind, a.entity, a.summary
            );
            // The JSON printed is the JSON stored: `history alerts --json`
            // gives back exactly what was shown live.
            let json = serde_json::to_string(&a).unwrap_or_default();
            let written = match &mut self.out {
                Out::Stderr => {
                    eprintln!("wirewatch: {line}");
                    Ok(())
                }
                Out::Json(w) => w
                    .write_all(json.as_bytes())
                    .and_then(|_| w.write_all(b"\n"))
                    .and_then(|_| w.flush()),
                Out::Nowhere => Ok(()),
            };
            if let Err(e) = written {
                if self.error.is_none() {
                    self.error = Some(format!("writing alerts: {e}"));
                }
            }
            self.latest = Some(line);
            // Kept for the history recorder; without one, only the latest.
            if self.unsaved.len() >= MAX_UNSAVED {
                self.unsaved.drain(..MAX_UNSAVED / 2);
            }
            self.unsaved.push(AlertRecord {
                ts_nanos: a.time.as_nanos(),
                kind: a.kind.as_str().into(),
                severity: a.severity.as_str().into(),
                entity: a.entity.to_string(),
                summary: a.summary,
                detail: json,
            });
        }
    }

    /// Alerts not yet written to history (the recorder takes them).
    pub fn take_unsaved(&mut self) -> Vec<AlertRecord> {
        std::mem::take(&mut self.unsaved)
    }

    /// The latest alert line since the last call, for a status area.
    pub fn take_latest(&mut self) -> Option<String> {
        self.latest.take()
    }

    /// Alerts shown so far.
    pub fn fired(&self) -> u64 {
        self.engine.fired()
    }

    /// Ends the run: flushes the alert output and saves the model
    /// (`--model`), says on stderr how many alerts fired, if any. Returns that
    /// number, or the first error.
    pub fn finish(mut self) -> anyhow::Result<u64> {
        if let (Some(p), Some(k)) = (&self.model, self.engine.ml()) {
            match k.save(p) {
                Ok(()) => eprintln!(
                    "wirewatch: model saved to {} ({} packets learned)",
                    p.display(),
                    k.packets()
                ),
                // Too few packets to have a model: nothing to keep, not an error.
                Err(ModelError::NotTrained { .. }) => eprintln!(
                    "wirewatch: model not saved: {} packets are too few to train it",
                    k.packets()
                ),
                Err(e) => {
                    self.error.get_or_insert(format!("--model: {e}"));
                }
            }
        }
        if let Out::Json(w) = &mut self.out {
            if let Err(e) = w.flush() {
                self.error.get_or_insert(format!("writing alerts: {e}"));
            }
        }
        match self.error {
            Some(e) => Err(anyhow!(e)),
            None => {
                let n = self.engine.fired();
                if n > 0 {
                    eprintln!("wirewatch: {n} alert(s) fired");
                }
                Ok(n)
            }
        }
    }
}
