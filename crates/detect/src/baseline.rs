//! Seasonal baselines: per interface, local host and process, what the
//! traffic usually is at this hour of the week, times a fast-moving level,
//! learned online from per-minute counts and warm-started from history.
//!
//! Each entity keeps three profiles of bytes per second: by hour of the
//! week (168 slots), by hour of the day (24) and overall (1). The most
//! specific one with enough observations gives the expected value; a fast
//! level (the recent ratio of observed to profile) follows shifts that are
//! not seasonal. Spread is a mean absolute deviation per slot, so one
//! outlier does not widen the band for long (robust enough for traffic,
//! and O(1) per update). Hours are UTC.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use wirewatch_units::{hhmm_utc, qty};
use wirewatch_wire::Timestamp;

use crate::alert::{Alert, Contributor, Entity, Evidence, Kind, Severity};
use crate::detector::{FlowRow, RowDetector};
use crate::heuristics::positive;
use crate::Map;

/// Baseline settings (`[detect.baseline]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Learn baselines and alert on spikes and drops.
    pub enabled: bool,
    /// How many deviations (z-like score) from the expected value alert.
    pub z: f64,
    /// Smallest difference from the expected rate that alerts, bytes/s
    /// (a host going from 10 to 80 bytes/s is not news).
    pub min_delta_bytes_per_sec: f64,
    /// Minutes a profile slot needs before it is trusted.
    pub min_minutes: u32,
    /// Most hosts and processes followed (interfaces always are).
    pub max_entities: usize,
    /// Learning rate of the profile slots.
    pub slot_rate: f64,
    /// Learning rate of the fast level.
    pub level_rate: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            z: 6.0,
            min_delta_bytes_per_sec: 50_000.0,
            min_minutes: 30,
            max_entities: 5_000,
            slot_rate: 0.05,
            level_rate: 0.1,
        }
    }
}

impl Config {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        positive("detect.baseline.z", self.z)?;
        positive(
            "detect.baseline.min-delta-bytes-per-sec",
            self.min_delta_bytes_per_sec,
        )?;
        positive("detect.baseline.max-entities", self.max_entities as f64)?;
        for (k, v) in [
            ("slot-rate", self.slot_rate),
            ("level-rate", self.level_rate),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(format!("detect.baseline.{k} must be in (0, 1], not {v}"));
            }
        }
        Ok(())
    }
}

/// Whom a baseline follows.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// An interface's total.
    Iface(String),
    /// A local host's total.
    Host(IpAddr),
    /// A process's total.
    Process(String),
}

impl Subject {
    fn entity(&self) -> Entity {
        match self {
            Subject::Iface(n) => Entity::Iface { name: n.clone() },
            Subject::Host(a) => Entity::Host { addr: *a },
            Subject::Process(n) => Entity::Process { name: n.clone() },
        }
    }
}

/// One robust running estimate: mean and mean absolute deviation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Slot {
    /// Expected bytes per second.
    pub mean: f64,
    /// Mean absolute deviation, bytes per second.
    pub mad: f64,
    /// Minutes learned.
    pub n: u32,
}

impl Slot {
    fn learn(&mut self, x: f64, rate: f64, weight: u32) {
        if self.n == 0 {
            self.mean = x;
            // A first value says nothing of spread: start wide, narrow later.
            self.mad = 0.5 * x;
        } else {
            // Early on, a plain average (rate 1/n) until the rate is reached.
            let r = rate.max(1.0 / (self.n as f64 + 1.0));
            let d = (x - self.mean).abs();
            self.mean += r * (x - self.mean);
            self.mad += r * (d - self.mad);
        }
        self.n = self.n.saturating_add(weight);
    }
}

/// The learned profile of one subject.
#[derive(Clone, Debug)]
pub struct Profile {
    week: Box<[Slot; 168]>,
    day: [Slot; 24],
    all: Slot,
    /// Recent observed / expected.
    level: f64,
    /// Bytes this minute so far.
    pending: f64,
    /// An alert is open (fires once until traffic is back in range).
    open: Option<Kind>,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            week: Box::new([Slot::default(); 168]),
            day: [Slot::default(); 24],
            all: Slot::default(),
            level: 1.0,
            pending: 0.0,
            open: None,
        }
    }
}

/// Hour of the week (0 = Monday 00:00 UTC) and hour of the day of a
/// minute given in seconds since the epoch (a Thursday).
fn hours(minute_secs: i64) -> (usize, usize) {
    let h = minute_secs.div_euclid(3600);
    ((h + 72).rem_euclid(168) as usize, h.rem_euclid(24) as usize)
}

impl Profile {
    /// The expected rate and spread at this minute, and which profile gave
    /// them, when one has enough observations.
    pub fn expected(&self, minute_secs: i64, min_n: u32) -> Option<(f64, f64, &'static str)> {
        self.expected_at(hours(minute_secs), min_n)
    }

    /// [`Profile::expected`] at (hour of the week, hour of the day).
    fn expected_at(&self, (w, d): (usize, usize), min_n: u32) -> Option<(f64, f64, &'static str)> {
        let (s, which) = if self.week[w].n >= min_n {
            (self.week[w], "this hour of the week")
        } else if self.day[d].n >= min_n {
            (self.day[d], "this hour of the day")
        } else if self.all.n >= min_n {
            (self.all, "overall")
        } else {
            return None;
        };
        let level = self.level.clamp(0.25, 4.0);
        Some((s.mean * level, s.mad * level, which))
    }

    fn learn(&mut self, minute_secs: i64, x: f64, cfg: &Config, weight: u32) {
        self.learn_at(hours(minute_secs), x, cfg, weight);
    }

    /// [`Profile::learn`] at (hour of the week, hour of the day).
    fn learn_at(&mut self, (w, d): (usize, usize), x: f64, cfg: &Config, weight: u32) {
        // The level follows the ratio to the profile before it learns this minute.
        if let Some((e, _, _)) = self.expected_raw(w, d, cfg.min_minutes) {
            if e > 0.0 {
                let ratio = (x / e).clamp(0.1, 10.0);
                self.level += cfg.level_rate * (ratio - self.level);
            }
        }
        self.week[w].learn(x, cfg.slot_rate, weight);
        self.day[d].learn(x, cfg.slot_rate, weight);
        self.all.learn(x, cfg.slot_rate, weight);
    }

    fn expected_raw(&self, w: usize, d: usize, min_n: u32) -> Option<(f64, f64, ())> {
        let s = if self.week[w].n >= min_n {
            &self.week[w]
        } else if self.day[d].n >= min_n {
            &self.day[d]
        } else if self.all.n >= min_n {
            &self.all
        } else {
            return None;
        };
        Some((s.mean, s.mad, ()))
    }
}

/// Baselines for every interface, local host and process seen.
pub struct Baselines {
    cfg: Config,
    profiles: Map<Subject, Profile>,
    /// The minute (seconds since the epoch) being summed.
    minute: Option<i64>,
    /// Updates of subjects not followed because the table was full.
    refused: u64,
}

const MINUTE: i64 = 60;

impl Baselines {
    /// Empty baselines.
    pub fn new(cfg: &Config) -> Baselines {
        Baselines {
            cfg: cfg.clone(),
            profiles: Map::default(),
            minute: None,
            refused: 0,
        }
    }

    /// Teaches `subject`'s profile an average rate over a past period
    /// (warm start from history): `bytes_per_sec` over `minutes` minutes
    /// starting at `start_secs`.
    pub fn warm(&mut self, subject: Subject, start_secs: i64, minutes: u32, bytes_per_sec: f64) {
        if !self.tracks(&subject) {
            return;
        }
        let p = self.profiles.entry(subject).or_default();
        p.learn(start_secs, bytes_per_sec, &self.cfg, minutes.max(1));
    }

    /// The profile of a subject, if followed.
    pub fn profile(&self, s: &Subject) -> Option<&Profile> {
        self.profiles.get(s)
    }

    fn tracks(&self, s: &Subject) -> bool {
        matches!(s, Subject::Iface(_))
            || self.profiles.contains_key(s)
            || self.profiles.len() < self.cfg.max_entities
    }

    fn add(&mut self, s: Subject, bytes: f64) {
        if let Some(p) = self.profiles.get_mut(&s) {
            p.pending += bytes;
        } else if self.tracks(&s) {
            let p = self.profiles.entry(s).or_default();
            p.pending += bytes;
        } else {
            self.refused += 1;
        }
    }

    /// Closes minutes before the one containing `now_secs`.
    fn close_until(&mut self, now_secs: i64, out: &mut Vec<Alert>) {
        let cur = now_secs - now_secs.rem_euclid(MINUTE);
        let Some(m) = self.minute else {
            self.minute = Some(cur);
            return;
        };
        if cur <= m {
            return;
        }
        self.close(m, out);
        // Whole minutes without any traffic are zeros, up to an hour of
        // them (a longer gap is a capture that stopped, not silence).
        let gap = (cur - m) / MINUTE - 1;
        if gap > 0 && gap <= 60 {
            for k in 1..=gap {
                self.close(m + k * MINUTE, out);
            }
        }
        self.minute = Some(cur);
    }

    fn close(&mut self, minute: i64, out: &mut Vec<Alert>) {
        let cfg = &self.cfg;
        let at = hours(minute);
        let mut fired: Vec<Alert> = Vec::new();
        for (s, p) in self.profiles.iter_mut() {
            let x = p.pending / MINUTE as f64;
            p.pending = 0.0;
            if let Some((e, mad, which)) = p.expected_at(at, cfg.min_minutes) {
                // Spread: the slot's deviation, at least a tenth of the
                // expected value (minute-to-minute noise of a steady link).
                let spread = (1.25 * mad).max(0.1 * e).max(1.0);
                let z = (x - e) / spread;
                let delta = (x - e).abs();
                let kind = if z >= cfg.z && delta >= cfg.min_delta_bytes_per_sec {
                    Some(Kind::Spike)
                } else if z <= -cfg.z && delta >= cfg.min_delta_bytes_per_sec {
                    Some(Kind::Drop)
                } else {
                    None
                };
                if let Some(k) = kind {
                    if p.open != Some(k) {
                        p.open = Some(k);
                        let lo = (e - cfg.z * spread).max(0.0);
                        let hi = e + cfg.z * spread;
                        fired.push(alert(s, k, minute, x, e, [lo, hi], z, which));
                    }
                    // An anomalous minute does not teach the profile.
                    continue;
                }
                if z.abs() < cfg.z / 2.0 {
                    p.open = None;
                }
            }
            p.learn_at(at, x, cfg, 1);
        }
        // Map order is fixed, but sort anyway so the order reads well.
        fired.sort_by(|a, b| a.entity.cmp(&b.entity).then(a.kind.cmp(&b.kind)));
        out.extend(fired);
    }
}

#[allow(clippy::too_many_arguments)]
fn alert(
    s: &Subject,
    k: Kind,
    minute: i64,
    x: f64,
    e: f64,
    range: [f64; 2],
    z: f64,
    which: &str,
) -> Alert {
    let who = match s {
        Subject::Iface(n) => format!("Interface {n}"),
        Subject::Host(a) => format!("Host {a}"),
        Subject::Process(n) => format!("Process {n}"),
    };
    let bits = |v: f64| qty(v * 8.0, "bit/s");
    let (verb, action) = match k {
        Kind::Spike => (
            "rose to",
            "Look at the top talkers of that minute (history top --since) to see who caused it.",
        ),
        _ => (
            "fell to",
            "Check that the link, the host or the service is still up; a silent failure looks like this.",
        ),
    };
    Alert {
        time: Timestamp::from_secs(minute + MINUTE),
        kind: k,
        severity: if z.abs() >= 20.0 {
            Severity::High
        } else if z.abs() >= 10.0 {
            Severity::Medium
        } else {
            Severity::Low
        },
        entity: s.entity(),
        summary: format!(
            "{who} {verb} {} in the minute to {}; expected {} ({}–{}) for {which}",
            bits(x),
            hhmm_utc(minute + MINUTE),
            bits(e),
            bits(range[0]),
            bits(range[1]),
        ),
        evidence: Evidence {
            observed: x,
            baseline: Some(e),
            expected: Some(range),
            threshold: range[if k == Kind::Spike { 1 } else { 0 }],
            unit: "bytes/s".into(),
            score: z,
            contributors: vec![Contributor {
                feature: format!("profile: {which}"),
                value: e,
            }],
            ..Evidence::default()
        },
        action: action.into(),
        detector: "baseline".into(),
        suppressed: 0,
    }
}

impl RowDetector for Baselines {
    fn name(&self) -> &'static str {
        "baseline"
    }

    fn rows(&mut self, now: Timestamp, rows: &[FlowRow], out: &mut Vec<Alert>) {
        for r in rows {
            let t = r.ts.as_nanos().div_euclid(1_000_000_000);
            self.close_until(t, out);
            let b = (r.bytes_in + r.bytes_out) as f64;
            self.add(Subject::Iface(r.iface.to_string()), b);
            self.add(Subject::Host(r.local), b);
            if let Some(p) = r.process {
                self.add(Subject::Process(p.to_string()), b);
            }
        }
        self.advance(now, out);
    }

    fn advance(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        // A minute closes once the clock is 5 s past it: late rows of the
        // last flush still count.
        let t = now.as_nanos().div_euclid(1_000_000_000) - 5;
        self.close_until(t, out);
    }

    fn evicted(&self) -> u64 {
        self.refused
    }

    fn tracked(&self) -> usize {
        self.profiles.len()
    }
}
