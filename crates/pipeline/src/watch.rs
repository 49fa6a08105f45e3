//! The forecast watch of a run: each interface's traffic is forecast from
//! its history plus what this run has seen, every few hours, and the
//! detection engine judges every 5-minute step against the forecast's
//! 99 % band (`forecast_deviation`) and warns when the upper band nears
//! the link's capacity (`capacity`).
//!
//! History before the run is read once per interface, up to the run's
//! first step; what the run sees after that is summed here, not read back
//! from the database, so a replay gives the same alerts every time. Live,
//! forecasts are made on a thread (a fit takes a fraction of a second);
//! replays make them in line.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};

use wirewatch_detect::{capacity_alert, Alert, Expectation};
use wirewatch_forecast::forecast::forecast_filled;
use wirewatch_forecast::{gaps, Settings};
use wirewatch_store::{Row, Selection, SqliteStore};

/// What the watch needs to know.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchSettings {
    /// The history database.
    pub db: PathBuf,
    /// Link capacity per interface, bit/s (`[forecast.capacity]`); the
    /// driver's speed otherwise.
    pub capacity: BTreeMap<String, f64>,
    /// Share of capacity the `capacity` alert warns at.
    pub fraction: f64,
    /// Make forecasts on a thread (live) rather than in line (replays).
    pub background: bool,
    /// Say when an interface has too little history for a forecast. Off
    /// unless forecasts were asked for (`[forecast] watch = true` or a
    /// capacity configured): a new database would otherwise say it on
    /// every import and live run for two days.
    pub say_short_history: bool,
}

/// Step of the watch's forecasts, seconds.
pub const STEP: i64 = 300;
/// History read before the run.
const HISTORY_SECS: i64 = 28 * 86_400;
/// Forecasts are made again after this much traffic time.
pub const REFRESH_SECS: i64 = 6 * 3_600;
/// Horizon of each forecast.
const HORIZON_SECS: i64 = 86_400;
/// Least history for a forecast: two days.
pub const MIN_HISTORY_SECS: i64 = 2 * 86_400;

/// Rates per step from a start.
#[derive(Clone, Debug, Default)]
struct Rates {
    start: i64,
    inbound: Vec<f64>,
    outbound: Vec<f64>,
    /// Steps filled in for gaps (history only; absent = recorded).
    missing: Vec<bool>,
}

impl Rates {
    fn end(&self) -> i64 {
        self.start + STEP * self.inbound.len() as i64
    }
}

/// One interface's state.
#[derive(Debug, Default)]
struct Iface {
    /// History before the run, once read.
    base: Option<Rates>,
    /// The run's complete steps (from its first row on).
    own: Option<Rates>,
    /// The step being summed: start, bytes in, bytes out.
    cur: Option<(i64, u64, u64)>,
    /// When the next forecast is due (None: at the next rows).
    due: Option<i64>,
    /// A forecast is being made on a thread.
    busy: bool,
}

/// What a forecast job gives back.
struct Made {
    iface: String,
    base: Option<Rates>,
    expectations: Vec<Expectation>,
    alerts: Vec<Alert>,
    note: Option<String>,
}

/// The watch.
pub struct Watch {
    s: WatchSettings,
    ifaces: HashMap<String, Iface>,
    tx: Sender<Made>,
    rx: Receiver<Made>,
    /// Notes for the user (short history, unreadable database).
    notes: Vec<String>,
}

/// What the engine should take: expectations and alerts.
#[derive(Default)]
pub struct Update {
    /// New expectations.
    pub expectations: Vec<Expectation>,
    /// `capacity` alerts.
    pub alerts: Vec<Alert>,
}

impl Watch {
    /// A watch over `s.db`.
    pub fn new(s: WatchSettings) -> Watch {
        let (tx, rx) = channel();
        Watch {
            s,
            ifaces: HashMap::new(),
            tx,
            rx,
            notes: Vec::new(),
        }
    }

    /// Reads `iface`'s history before `now` at once (a live run calls this
    /// before dropping privileges: the forecast thread could not open the
    /// database afterwards).
    pub fn preload(&mut self, iface: &str, now: i64) {
        let (base, note) = history_or_note(&self.s.db, iface, now.div_euclid(STEP) * STEP);
        self.notes.extend(note);
        self.ifaces.entry(iface.to_string()).or_default().base = Some(base);
    }

    /// Notes since the last call.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// One period's rows at traffic time `now` (seconds): summed per
    /// step; forecasts made where due. Returns what is ready.
    pub fn rows(&mut self, now: i64, rows: &[Row]) -> Update {
        for r in rows {
            let st = self.ifaces.entry(r.iface.to_string()).or_default();
            // The first step is partial: the run's own steps start after it.
            let own = st.own.get_or_insert_with(|| Rates {
                start: r.ts.div_euclid(STEP) * STEP + STEP,
                ..Rates::default()
            });
            let step = r.ts.div_euclid(STEP) * STEP;
            if step < own.start {
                continue;
            }
            match &mut st.cur {
                Some((s, i, o)) if *s == step => {
                    *i += r.counts.bytes_in;
                    *o += r.counts.bytes_out;
                }
                // A late row (older than the step being summed) counts
                // there, as the engine's judge counts it.
                Some((s, i, o)) if *s > step => {
                    *i += r.counts.bytes_in;
                    *o += r.counts.bytes_out;
                }
                _ => {
                    close(st, step);
                    st.cur = Some((step, r.counts.bytes_in, r.counts.bytes_out));
                }
            }
        }
        let names: Vec<String> = self.ifaces.keys().cloned().collect();
        for name in names {
            let st = self.ifaces.get_mut(&name).unwrap();
            if st.own.is_none() {
                // Preloaded, no traffic yet.
                continue;
            }
            // Steps that ended without rows were silent.
            let cur_step = now.div_euclid(STEP) * STEP;
            if st.cur.is_some_and(|(s, _, _)| s < cur_step) {
                close(st, cur_step);
                st.cur = Some((cur_step, 0, 0));
            }
            if st.due.is_some_and(|d| now < d) || st.busy {
                continue;
            }
            st.due = Some(now + REFRESH_SECS);
            let job = Job {
                db: self.s.db.clone(),
                iface: name.clone(),
                base: st.base.clone(),
                own: st.own.clone().unwrap_or_default(),
                // The driver's speed only live: a replay's interface is a
                // file name, and its alerts must not depend on this machine.
                capacity: crate::rates::configured_capacity(
                    &name,
                    &self.s.capacity,
                    self.s.background,
                )
                .map(|(c, _)| c),
                fraction: self.s.fraction,
                say_short_history: self.s.say_short_history,
                now,
            };
            if self.s.background {
                st.busy = true;
                let tx = self.tx.clone();
                let spawned = std::thread::Builder::new()
                    .name("wirewatch-forecast".into())
                    .spawn(move || {
                        let _ = tx.send(job.run());
                    });
                if spawned.is_err() {
                    st.busy = false;
                }
            } else {
                let made = job.run();
                let _ = self.tx.send(made);
            }
        }
        let mut up = Update::default();
        while let Ok(m) = self.rx.try_recv() {
            if let Some(st) = self.ifaces.get_mut(&m.iface) {
                st.busy = false;
                if st.base.is_none() {
                    st.base = m.base;
                }
            }
            if let Some(n) = m.note {
                self.notes.push(n);
            }
            up.expectations.extend(m.expectations);
            up.alerts.extend(m.alerts);
        }
        up
    }
}

/// Closes the step being summed and records silent steps up to `upto`.
fn close(st: &mut Iface, upto: i64) {
    let (Some((s, i, o)), Some(own)) = (st.cur.take(), st.own.as_mut()) else {
        return;
    };
    let bits = |b: u64| b as f64 * 8.0 / STEP as f64;
    // Steps the run had no rows for at all (before `s`): silent.
    silent_until(own, s);
    if own.end() == s {
        own.inbound.push(bits(i));
        own.outbound.push(bits(o));
    }
    silent_until(own, upto);
    // Only the history a forecast reads is kept.
    let keep = (HISTORY_SECS / STEP) as usize;
    if own.inbound.len() > keep {
        let cut = own.inbound.len() - keep;
        own.inbound.drain(..cut);
        own.outbound.drain(..cut);
        own.start += cut as i64 * STEP;
    }
}

/// Zero steps up to `t`; a jump of more than the history kept (a capture
/// whose clock leaps) restarts the run's steps instead of filling years.
fn silent_until(own: &mut Rates, t: i64) {
    if t - own.end() > HISTORY_SECS {
        own.inbound.clear();
        own.outbound.clear();
        own.start = t - HISTORY_SECS;
    }
    while own.end() < t {
        own.inbound.push(0.0);
        own.outbound.push(0.0);
    }
}

/// A forecast to make.
struct Job {
    db: PathBuf,
    iface: String,
    base: Option<Rates>,
    own: Rates,
    capacity: Option<f64>,
    fraction: f64,
    say_short_history: bool,
    now: i64,
}

impl Job {
    fn run(self) -> Made {
        let (base, note) = match self.base {
            Some(b) => (b, None),
            // Up to the run's first, partial step: what an earlier import
            // of the same traffic wrote there is not read back.
            None => history_or_note(&self.db, &self.iface, self.own.start - STEP),
        };
        // History, a gap up to the run's first step, the run's own steps:
        // the last 28 days of them.
        let first = if base.inbound.is_empty() {
            self.own.start
        } else {
            base.start
        };
        let start = first.max(self.own.end() - HISTORY_SECS);
        let n = ((self.own.end() - start) / STEP).max(0) as usize;
        let mut series = [vec![0.0; n], vec![0.0; n]];
        let mut missing = vec![true; n];
        for src in [&base, &self.own] {
            for k in 0..src.inbound.len() {
                let t = src.start + k as i64 * STEP;
                if t < start || t >= self.own.end() {
                    continue;
                }
                let i = ((t - start) / STEP) as usize;
                series[0][i] = src.inbound[k];
                series[1][i] = src.outbound[k];
                missing[i] = src.missing.get(k).copied().unwrap_or(false);
            }
        }
        let mut made = Made {
            iface: self.iface.clone(),
            base: Some(base),
            expectations: Vec::new(),
            alerts: Vec::new(),
            note,
        };
        // Judged on what was recorded, not on what was filled in: two days
        // of it, and half of the last day.
        let day_steps = (86_400 / STEP) as usize;
        let recorded = missing.iter().filter(|m| !**m).count();
        let last_day = missing
            .iter()
            .rev()
            .take(day_steps)
            .filter(|m| !**m)
            .count();
        if (recorded as i64) * STEP < MIN_HISTORY_SECS || 2 * last_day < day_steps.min(n) {
            if !self.say_short_history {
                return made;
            }
            made.note.get_or_insert(format!(
                "forecast watch: {} has {:.1} h of recorded history ({:.1} h in the last day); forecasts need {} h, half of the last day",
                self.iface,
                recorded as f64 * STEP as f64 / 3600.0,
                last_day as f64 * STEP as f64 / 3600.0,
                MIN_HISTORY_SECS / 3600
            ));
            return made;
        }
        let day = (86_400 / STEP) as usize;
        let h = (HORIZON_SECS / STEP) as usize;
        let settings = Settings {
            levels: vec![0.95, 0.99],
            ..Settings::for_step(STEP as u64, h)
        };
        let from = self.own.end();
        for (k, inbound) in [(0, true), (1, false)] {
            let y = &mut series[k];
            gaps::fill(y, &missing, Some(day));
            let Ok(f) = forecast_filled(y, &missing, &settings) else {
                continue;
            };
            // Two days of history always carry bands; without them there
            // is nothing to judge by.
            let (Some(b95), Some(b99)) = (f.band(0.95), f.band(0.99)) else {
                continue;
            };
            if let Some(cap) = self.capacity {
                made.alerts.extend(capacity_alert(
                    &self.iface,
                    inbound,
                    from,
                    STEP,
                    &f.point,
                    &b95.upper,
                    0.95,
                    cap,
                    self.fraction,
                    self.now,
                ));
            }
            made.expectations.push(Expectation {
                iface: self.iface.clone(),
                inbound,
                start: from,
                step: STEP,
                point: f.point.clone(),
                lower: b99.lower.clone(),
                upper: b99.upper.clone(),
                level: 0.99,
                model: f.model.name(),
            });
        }
        made
    }
}

/// [`load`], or no history and a note saying why.
fn history_or_note(db: &std::path::Path, iface: &str, until: i64) -> (Rates, Option<String>) {
    match load(db, iface, until) {
        Ok(b) => (b, None),
        Err(e) => (
            Rates {
                start: until,
                ..Rates::default()
            },
            Some(format!(
                "forecast watch: no history for {iface} from {}: {e}",
                db.display()
            )),
        ),
    }
}

/// The interface's history before `until` (its last 28 days).
fn load(db: &std::path::Path, iface: &str, until: i64) -> anyhow::Result<Rates> {
    if !db.exists() {
        return Ok(Rates {
            start: until,
            ..Rates::default()
        });
    }
    let store = SqliteStore::open_reader(db).map_err(|e| anyhow::anyhow!("{e}"))?;
    let sel = Selection {
        iface: Some(iface.to_string()),
        ..Selection::default()
    };
    Ok(
        match crate::rates::rate_history(&store, &sel, until - HISTORY_SECS, until, STEP)? {
            Some(h) => Rates {
                start: h.start,
                inbound: h.inbound,
                outbound: h.outbound,
                missing: h.missing,
            },
            // Nothing recorded yet: the run's own traffic counts.
            None => Rates {
                start: until,
                ..Rates::default()
            },
        },
    )
}
