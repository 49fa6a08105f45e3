//! Detection in the pipeline: packets and per-period flow rows into the
//! engine (heuristics, baselines, the ML detector, the forecast watch);
//! alerts and notes out to the other consumers. Where alerts are shown or
//! kept is theirs to say.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use wirewatch_detect::{
    Alert, DetectConfig, Engine, FlowRow, Kitsune, ModelError, Obs, Rollups, StateCount,
};
use wirewatch_store::Row;
use wirewatch_units::thousands;
use wirewatch_wire::{PacketMeta, Timestamp};

use crate::consumer::{Consumer, Context, Ending, Outbox, Packet, Wants};
use crate::watch::{Watch, WatchSettings};

/// Detection settings of a run.
#[derive(Clone, Debug)]
pub struct DetectSettings {
    /// Detector settings (thresholds, which detectors).
    pub cfg: DetectConfig,
    /// `--model FILE`: the ML detector's state, loaded and saved.
    pub model: Option<PathBuf>,
    /// The forecast watch over the history database, when there is one.
    pub watch: Option<WatchSettings>,
}

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

/// Most alerts held between two takes (the limiter keeps them few; past
/// this the older half goes).
const MAX_RAISED: usize = 10_000;

/// The engine of one run.
pub struct Detection {
    engine: Engine,
    model: Option<PathBuf>,
    /// Alerts raised and not yet taken.
    raised: Vec<Alert>,
    /// Notes of the forecast watch not yet taken.
    notes: Vec<String>,
    /// Alerts dropped because more than [`MAX_RAISED`] waited.
    dropped: u64,
    watch: Option<Watch>,
    /// The newest time seen (the end of the run for open roll-ups).
    now: Timestamp,
}

impl Detection {
    /// An engine with `s`'s settings.
    pub fn new(s: &DetectSettings) -> anyhow::Result<Detection> {
        Ok(Detection {
            engine: engine(&s.cfg, s.model.as_deref())?,
            model: s.model.clone(),
            raised: Vec::new(),
            notes: Vec::new(),
            dropped: 0,
            watch: s.watch.clone().map(Watch::new),
            now: Timestamp::default(),
        })
    }

    /// One decoded frame (`frame` the bytes it was decoded from).
    pub fn packet(&mut self, meta: &PacketMeta, frame: &[u8], iface: u16) {
        if let Some(o) = Obs::new(meta, frame, iface) {
            self.now = self.now.max(o.ts);
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
        // The "other flows" rows (no addresses) count for the interface's
        // forecast, not as a host or a pair.
        let flows: Vec<FlowRow> = rows
            .iter()
            .filter(|r| !(r.local.is_unspecified() && r.remote.is_unspecified()))
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
                tcp: crate::history::row_tcp(&r.counts.tcp),
            })
            .collect();
        self.now = self.now.max(now);
        self.forecasts(now, rows);
        self.engine.rows(now, &flows);
        self.dispatch();
    }

    /// The clock moved.
    pub fn advance(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
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
        // Notes are not alerts: for the user (stderr, the status line).
        self.notes.extend(w.take_notes());
    }

    fn dispatch(&mut self) {
        let alerts = self.engine.take_alerts();
        if alerts.is_empty() {
            return;
        }
        if self.raised.len() + alerts.len() > MAX_RAISED {
            let old = self.raised.len().min(MAX_RAISED / 2);
            self.raised.drain(..old);
            self.dropped += old as u64;
        }
        self.raised.extend(alerts);
    }

    /// The alerts raised since the last take.
    pub fn take_raised(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.raised)
    }

    /// Alerts raised so far.
    pub fn fired(&self) -> u64 {
        self.engine.fired()
    }

    /// Hands what was raised to `out`.
    fn hand_over(&mut self, out: &mut Outbox) {
        for a in self.raised.drain(..) {
            out.alert(a);
        }
        for n in self.notes.drain(..) {
            out.note(n);
        }
    }

    /// The input ended: open roll-ups that grew are shown a last time
    /// (into `out`); later calls find none left.
    pub fn input_ended(&mut self, out: &mut Outbox) {
        self.engine.finish(self.now);
        self.dispatch();
        self.hand_over(out);
    }

    /// Ends the run: saves the model (`--model`) and says how many alerts
    /// fired, if any, into `out`. Returns that number, or the first error.
    pub fn finish(&mut self, out: &mut Outbox) -> anyhow::Result<u64> {
        self.input_ended(out);
        if let (Some(p), Some(k)) = (&self.model, self.engine.ml()) {
            match k.save(p) {
                Ok(()) => out.note(format!(
                    "model saved to {} ({} packets learned)",
                    p.display(),
                    k.packets()
                )),
                // Too few packets to have a model: nothing to keep, not an error.
                Err(ModelError::NotTrained { .. }) => out.note(format!(
                    "model not saved: {} packets are too few to train it",
                    k.packets()
                )),
                Err(e) => anyhow::bail!("--model: {e}"),
            }
        }
        let n = self.engine.fired();
        if n > 0 {
            out.note(fired_note(n, self.engine.rollups()));
        }
        if let Some(line) = evicted_note(&self.engine.state()) {
            out.note(line);
        }
        if self.dropped > 0 {
            out.note(format!(
                "{} alert(s) dropped: more than {MAX_RAISED} waited to be taken",
                self.dropped
            ));
        }
        Ok(n)
    }
}

/// "12 alert(s) fired", and what the roll-ups took.
fn fired_note(n: u64, r: &Rollups) -> String {
    let mut s = format!("{} alert(s) fired", thousands(n));
    if r.opened() > 0 {
        s += &format!(
            "; {} more were rolled up into {} roll-up(s) (each one lists its entities)",
            thousands(r.absorbed()),
            thousands(r.opened())
        );
    }
    if r.ungrouped() > 0 {
        s += &format!(
            "; {} passed ungrouped: too many groups were open",
            thousands(r.ungrouped())
        );
    }
    s
}

/// "detector state: 1,234 entries dropped at the caps (vertical_scan
/// 1,000, beaconing 234); 5,678 held", or nothing when no detector dropped
/// any.
fn evicted_note(state: &[StateCount]) -> Option<String> {
    let dropped: u64 = state.iter().map(|s| s.evicted).sum();
    if dropped == 0 {
        return None;
    }
    let held: usize = state.iter().map(|s| s.tracked).sum();
    let parts: Vec<String> = state
        .iter()
        .filter(|s| s.evicted > 0)
        .map(|s| format!("{} {}", s.detector, thousands(s.evicted)))
        .collect();
    Some(format!(
        "detector state: {} entries dropped at the caps ({}); {} held",
        thousands(dropped),
        parts.join(", "),
        thousands(held as u64)
    ))
}

impl Consumer for Detection {
    fn name(&self) -> &'static str {
        "detection"
    }

    fn wants(&self) -> Wants {
        Wants {
            packets: true,
            ..Wants::default()
        }
    }

    fn packet(&mut self, p: &Packet<'_>, out: &mut Outbox) {
        Detection::packet(self, p.meta, p.frame.data, p.iface);
        if !self.raised.is_empty() {
            self.hand_over(out);
        }
    }

    fn rows(&mut self, at: Timestamp, rows: &[Row], out: &mut Outbox) {
        Detection::rows(self, at, rows);
        self.hand_over(out);
    }

    fn input_ended(
        &mut self,
        _table: &mut wirewatch_flow::FlowTable,
        _cx: &Context<'_>,
        out: &mut Outbox,
    ) {
        Detection::input_ended(self, out);
    }

    fn finish(
        &mut self,
        _table: &mut wirewatch_flow::FlowTable,
        _end: &Ending,
        _cx: &Context<'_>,
        out: &mut Outbox,
    ) -> anyhow::Result<()> {
        Detection::finish(self, out).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(detector: &'static str, tracked: usize, evicted: u64) -> StateCount {
        StateCount {
            detector,
            tracked,
            evicted,
        }
    }

    #[test]
    fn the_note_names_the_detectors_that_dropped_state_and_only_when_one_did() {
        assert_eq!(evicted_note(&[count("vertical_scan", 10, 0)]), None);
        let note = evicted_note(&[
            count("vertical_scan", 10_000, 1_500_000),
            count("syn_flood", 2, 0),
            count("beaconing", 9_000, 234),
        ]);
        assert_eq!(
            note.as_deref(),
            Some(
                "detector state: 1,500,234 entries dropped at the caps \
                 (vertical_scan 1,500,000, beaconing 234); 19,002 held"
            )
        );
    }
}
