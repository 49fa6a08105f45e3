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

use std::hash::BuildHasher;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use wirewatch_units::{hhmm_utc, qty};
use wirewatch_wire::Timestamp;

use crate::alert::{Alert, Contributor, Entity, Evidence, Kind, Severity};
use crate::detector::{FlowRow, RowDetector};
use crate::heuristics::positive;

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
    pub(crate) fn entity(&self) -> Entity {
        match self {
            Subject::Iface(n) => Entity::Iface { name: n.clone() },
            Subject::Host(a) => Entity::Host { addr: *a },
            Subject::Process(n) => Entity::Process { name: n.clone() },
        }
    }

    /// "Interface eth0", "Host 10.0.0.1", "Process nginx".
    pub(crate) fn name(&self) -> String {
        match self {
            Subject::Iface(n) => format!("Interface {n}"),
            Subject::Host(a) => format!("Host {a}"),
            Subject::Process(n) => format!("Process {n}"),
        }
    }
}

/// The second a minute-based detector closes minutes up to at `now`: 5 s
/// past a minute's end, so late rows of the last flush still count.
pub(crate) fn closing_secs(now: Timestamp) -> i64 {
    now.as_nanos().div_euclid(1_000_000_000) - 5
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

/// What a subject's profile keeps besides its hour slots.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Head {
    /// The overall slot.
    all: Slot,
    /// Recent observed / expected.
    level: f64,
    /// Bytes this minute so far.
    pending: f64,
    /// An alert is open (fires once until traffic is back in range).
    pub(crate) open: Option<Kind>,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            all: Slot::default(),
            level: 1.0,
            pending: 0.0,
            open: None,
        }
    }
}

/// One subject's profile as one minute sees it: its head and the slots of
/// that minute's hour of the week and hour of the day.
pub(crate) struct At<'a> {
    pub(crate) head: &'a mut Head,
    pub(crate) week: &'a mut Slot,
    pub(crate) day: &'a mut Slot,
}

impl At<'_> {
    /// The expected rate and spread, and which slot gave them, when one
    /// has enough observations.
    pub(crate) fn expected(&self, min_n: u32) -> Option<(f64, f64, &'static str)> {
        let (s, which) = self.trusted(min_n)?;
        let level = self.head.level.clamp(0.25, 4.0);
        Some((s.mean * level, s.mad * level, which))
    }

    /// The most specific slot with enough observations.
    fn trusted(&self, min_n: u32) -> Option<(Slot, &'static str)> {
        if self.week.n >= min_n {
            Some((*self.week, "this hour of the week"))
        } else if self.day.n >= min_n {
            Some((*self.day, "this hour of the day"))
        } else if self.head.all.n >= min_n {
            Some((self.head.all, "overall"))
        } else {
            None
        }
    }

    pub(crate) fn learn(&mut self, x: f64, cfg: &Config, weight: u32) {
        // The level follows the ratio to the profile before it learns this minute.
        if let Some((s, _)) = self.trusted(cfg.min_minutes) {
            if s.mean > 0.0 {
                let ratio = (x / s.mean).clamp(0.1, 10.0);
                self.head.level += cfg.level_rate * (ratio - self.head.level);
            }
        }
        self.week.learn(x, cfg.slot_rate, weight);
        self.day.learn(x, cfg.slot_rate, weight);
        self.head.all.learn(x, cfg.slot_rate, weight);
    }
}

/// Hour of the week (0 = Monday 00:00 UTC) and hour of the day of a
/// minute given in seconds since the epoch (a Thursday).
pub(crate) fn hours(minute_secs: i64) -> (usize, usize) {
    let h = minute_secs.div_euclid(3600);
    ((h + 72).rem_euclid(168) as usize, h.rem_euclid(24) as usize)
}

/// Baselines for every interface, local host and process seen.
///
/// The profiles are kept slot by slot (one array per hour of the week and
/// of the day, indexed by subject), so closing a minute, which visits
/// every profile, reads three arrays front to back instead of one random
/// place per subject.
pub struct Baselines {
    cfg: Config,
    /// Each subject's index in the arrays below, found by hashing the
    /// subject kept in `subjects` (the key is not stored twice).
    index: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::FixedState,
    subjects: Vec<Subject>,
    /// The interfaces' indexes by name (a few; found by every row
    /// without making a subject for it).
    ifaces: Vec<(String, usize)>,
    heads: Vec<Head>,
    /// Per hour of the week, every subject's slot.
    week: Vec<Vec<Slot>>,
    /// Per hour of the day, every subject's slot.
    day: Vec<Vec<Slot>>,
    /// The minute (seconds since the epoch) being summed.
    minute: Option<i64>,
    /// Updates of subjects not followed because the table was full.
    refused: u64,
}

const MINUTE: i64 = 60;

impl Baselines {
    /// Empty baselines.
    pub fn new(cfg: &Config) -> Baselines {
        // Each array reserved once for the cap (its pages are touched only
        // as subjects come), so none is copied into a bigger one as the
        // subjects grow; where the system refuses that much address space,
        // they grow instead.
        let slots = || {
            let mut v = Vec::new();
            let _ = v.try_reserve_exact(cfg.max_entities);
            v
        };
        Baselines {
            cfg: cfg.clone(),
            index: hashbrown::HashTable::new(),
            hasher: foldhash::fast::FixedState::default(),
            subjects: Vec::new(),
            ifaces: Vec::new(),
            heads: Vec::new(),
            week: (0..168).map(|_| slots()).collect(),
            day: (0..24).map(|_| slots()).collect(),
            minute: None,
            refused: 0,
        }
    }

    /// Teaches `subject`'s profile an average rate over a past period
    /// (warm start from history): `bytes_per_sec` over `minutes` minutes
    /// starting at `start_secs`.
    pub fn warm(&mut self, subject: Subject, start_secs: i64, minutes: u32, bytes_per_sec: f64) {
        let Some(i) = self.slot_of(subject) else {
            return;
        };
        let cfg = self.cfg.clone();
        self.at(i, hours(start_secs))
            .learn(bytes_per_sec, &cfg, minutes.max(1));
    }

    /// Subject `i`'s profile at (hour of the week, hour of the day).
    fn at(&mut self, i: usize, (w, d): (usize, usize)) -> At<'_> {
        At {
            head: &mut self.heads[i],
            week: &mut self.week[w][i],
            day: &mut self.day[d][i],
        }
    }

    /// The index of `s`'s profile, made when the subject is followed:
    /// interfaces always, hosts and processes up to the cap.
    fn slot_of(&mut self, s: Subject) -> Option<usize> {
        let hash = self.hasher.hash_one(&s);
        let subjects = &self.subjects;
        if let Some(&i) = self.index.find(hash, |&i| subjects[i as usize] == s) {
            return Some(i as usize);
        }
        if !matches!(s, Subject::Iface(_)) && self.subjects.len() >= self.cfg.max_entities {
            return None;
        }
        let i = self.subjects.len();
        let (subjects, hasher) = (&self.subjects, &self.hasher);
        self.index
            .insert_unique(hash, i as u32, |&j| hasher.hash_one(&subjects[j as usize]));
        self.subjects.push(s);
        self.heads.push(Head::default());
        for v in self.week.iter_mut().chain(self.day.iter_mut()) {
            v.push(Slot::default());
        }
        Some(i)
    }

    fn add(&mut self, s: Subject, bytes: f64) {
        match self.slot_of(s) {
            Some(i) => self.heads[i].pending += bytes,
            None => self.refused += 1,
        }
    }

    /// Adds `bytes` to interface `name`'s minute.
    fn add_iface(&mut self, name: &str, bytes: f64) {
        if let Some(&(_, i)) = self.ifaces.iter().find(|(n, _)| n == name) {
            self.heads[i].pending += bytes;
            return;
        }
        let s = Subject::Iface(name.to_string());
        if let Some(i) = self.slot_of(s) {
            self.ifaces.push((name.to_string(), i));
            self.heads[i].pending += bytes;
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
        let (w, d) = hours(minute);
        let mut fired: Vec<Alert> = Vec::new();
        let profiles = self
            .subjects
            .iter()
            .zip(self.heads.iter_mut())
            .zip(self.week[w].iter_mut().zip(self.day[d].iter_mut()));
        for ((s, head), (week, day)) in profiles {
            let mut p = At { head, week, day };
            let x = p.head.pending / MINUTE as f64;
            p.head.pending = 0.0;
            if let Some((e, mad, which)) = p.expected(cfg.min_minutes) {
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
                    if p.head.open != Some(k) {
                        p.head.open = Some(k);
                        let lo = (e - cfg.z * spread).max(0.0);
                        let hi = e + cfg.z * spread;
                        fired.push(alert(s, k, minute, x, e, [lo, hi], z, which));
                    }
                    // An anomalous minute does not teach the profile.
                    continue;
                }
                if z.abs() < cfg.z / 2.0 {
                    p.head.open = None;
                }
            }
            p.learn(x, cfg, 1);
        }
        // Sorted so the order reads well (and does not depend on when
        // each subject was first seen).
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
    let who = s.name();
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
            self.add_iface(r.iface, b);
            self.add(Subject::Host(r.local), b);
            if let Some(p) = r.process {
                self.add(Subject::Process(p.to_string()), b);
            }
        }
        self.advance(now, out);
    }

    fn advance(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        self.close_until(closing_secs(now), out);
    }

    fn evicted(&self) -> u64 {
        self.refused
    }

    fn tracked(&self) -> usize {
        self.subjects.len()
    }
}
