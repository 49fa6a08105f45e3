//! The engine: every detector behind one door, their alerts through one
//! limiter.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use wirewatch_wire::Timestamp;

use crate::admission::{Admission, Pass};
use crate::alert::{Alert, Limiter};
use crate::baseline::{self, Baselines, Subject};
// Also reachable here, where they were defined before.
pub use crate::detector::{FlowRow, PacketDetector, RowDetector};
use crate::forecast_watch::{Expectation, ForecastWatch};
use crate::heuristics::{self, flows::Exfiltration, tcp::TcpDegradation};
use crate::kitsune::{Kitsune, KitsuneConfig};
use crate::obs::Obs;
use crate::rollup::Rollups;

/// Detection settings (`[detect]` in the config file).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct DetectConfig {
    /// Seconds during which one kind of alert about one entity is shown once.
    pub dedup_secs: f64,
    /// Distinct entities (of one kind and target, or of one kind over
    /// this many targets) that open a roll-up; 0 turns roll-ups off.
    pub rollup_after: u32,
    /// Seconds a roll-up stays open after its last member's alert.
    pub rollup_secs: f64,
    /// Most alerts a minute on each output (stderr, NDJSON); roll-ups are
    /// always shown; 0 means no limit.
    pub alerts_per_minute: u32,
    /// Seasonal baselines.
    pub baseline: baseline::Config,
    /// The attack heuristics' thresholds.
    pub heuristics: heuristics::Config,
    /// The online ML detector (`[detect.ml]`).
    pub ml: KitsuneConfig,
}

/// Memory one entry of each detector's table costs at most, measured under
/// a spoofed-source flood (one element per entry; `scripts/bench-flood.sh`).
mod entry_bytes {
    /// One entry of each of the scan detector's three tables, and of the
    /// first sightings before them (sized alike).
    pub const SCAN: u64 = 3 * 420 + 120;
    /// A beaconing pair.
    pub const BEACON: u64 = 340;
    /// A DNS client and domain.
    pub const DNS: u64 = 420;
    /// A flood victim.
    pub const FLOOD: u64 = 420;
    /// An exfiltration sender (with its first destinations).
    pub const EXFIL: u64 = 440;
    /// A baseline profile.
    pub const BASELINE: u64 = 5_000;
    /// A subject's TCP health profiles.
    pub const TCP_HEALTH: u64 = crate::heuristics::tcp::SUBJECT_BYTES as u64;
    /// The ML detector's three feature tables.
    pub const ML: u64 = 3 * 600;
}

/// No detector table is made smaller than this by [`DetectConfig::fit_memory`].
const MIN_TRACKED: usize = 1_000;

impl DetectConfig {
    /// The detectors' state at its caps, in bytes (estimated).
    pub fn state_bytes(&self) -> u64 {
        let h = &self.heuristics;
        let mut b = self.baseline.max_entities as u64 * entry_bytes::BASELINE
            + self.tcp_health_bytes()
            + h.scan.max_tracked as u64 * entry_bytes::SCAN
            + h.beacon.max_tracked as u64 * entry_bytes::BEACON
            + h.dns.max_tracked as u64 * entry_bytes::DNS
            + h.flood.max_tracked as u64 * entry_bytes::FLOOD
            + h.exfil.max_hosts as u64 * entry_bytes::EXFIL;
        if self.ml.enabled {
            b += self.ml.max_entries as u64 * entry_bytes::ML;
        }
        b
    }

    /// The TCP health profiles at their cap (kept like the baselines').
    fn tcp_health_bytes(&self) -> u64 {
        let t = &self.heuristics.tcp_degradation;
        if t.enabled {
            t.max_entities as u64 * entry_bytes::TCP_HEALTH
        } else {
            0
        }
    }

    /// Shrinks the per-entity tables (never below 1,000 entries each) so
    /// that their state at the caps fits in `bytes`, the share of a memory
    /// budget detection gets; the baselines keep their cap (a profile per
    /// local host is what they are for). Returns the state's size after.
    pub fn fit_memory(&mut self, bytes: u64) -> u64 {
        let fixed =
            self.baseline.max_entities as u64 * entry_bytes::BASELINE + self.tcp_health_bytes();
        let scaled = self.state_bytes().saturating_sub(fixed);
        let room = bytes.saturating_sub(fixed);
        if scaled > room && scaled > 0 {
            let f = room as f64 / scaled as f64;
            let shrink =
                |n: &mut usize| *n = ((*n as f64 * f) as usize).clamp(MIN_TRACKED.min(*n), *n);
            let h = &mut self.heuristics;
            shrink(&mut h.scan.max_tracked);
            shrink(&mut h.beacon.max_tracked);
            shrink(&mut h.dns.max_tracked);
            shrink(&mut h.flood.max_tracked);
            shrink(&mut h.exfil.max_hosts);
            shrink(&mut self.ml.max_entries);
        }
        self.state_bytes()
    }
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            dedup_secs: 300.0,
            rollup_after: 5,
            rollup_secs: 600.0,
            alerts_per_minute: 20,
            baseline: baseline::Config::default(),
            heuristics: heuristics::Config::default(),
            ml: KitsuneConfig::default(),
        }
    }
}

impl DetectConfig {
    /// Checks the settings; the message names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.dedup_secs.is_finite() && self.dedup_secs >= 0.0) {
            return Err(format!(
                "detect.dedup-secs must be a number of seconds ≥ 0, not {}",
                self.dedup_secs
            ));
        }
        if !(self.rollup_secs.is_finite() && self.rollup_secs > 0.0) {
            return Err(format!(
                "detect.rollup-secs must be a number of seconds above 0, not {}",
                self.rollup_secs
            ));
        }
        self.baseline.validate()?;
        self.ml.validate()?;
        self.heuristics.validate()
    }
}

/// One detector's per-entity state, for the run's summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateCount {
    /// The detector's name.
    pub detector: &'static str,
    /// Entries held now.
    pub tracked: usize,
    /// Entries dropped or refused so far because its table was full.
    pub evicted: u64,
}

/// Expiry runs once per this much packet time.
const EXPIRE_EVERY_NANOS: i64 = 1_000_000_000;

/// The door before the per-source detectors ([`crate::admission`]):
/// sized like one scan table, holding a first packet as long as the
/// longest of their windows (a beacon's longest period); none when a
/// threshold lets one packet alert.
fn admission(cfg: &DetectConfig) -> Option<Admission> {
    let (scan, beacon) = (&cfg.heuristics.scan, &cfg.heuristics.beacon);
    let one_is_enough = [scan.ports, scan.hosts, scan.ping_hosts, scan.logins]
        .iter()
        .any(|&t| t <= 1);
    if one_is_enough {
        return None;
    }
    let mut hold = scan.window_secs;
    if beacon.enabled {
        hold = hold.max(beacon.max_period_secs);
    }
    Some(Admission::new(scan.max_tracked, hold))
}

/// Every detector, fed packets and rows, with one limiter on the way out.
pub struct Engine {
    packet_detectors: Vec<Box<dyn PacketDetector>>,
    /// Which of them are per source ([`PacketDetector::per_source`]).
    per_source: Vec<bool>,
    /// The door before the per-source detectors, when any runs.
    admission: Option<Admission>,
    /// The ML detector, kept apart so its model can be saved and replaced.
    ml: Option<Kitsune>,
    baselines: Option<Baselines>,
    exfil: Option<Exfiltration>,
    /// TCP health against its baselines, kept apart to warm-start it.
    tcp_health: Option<TcpDegradation>,
    forecast: ForecastWatch,
    row_detectors: Vec<Box<dyn RowDetector>>,
    limiter: Limiter,
    rollups: Rollups,
    raw: Vec<Alert>,
    out: Vec<Alert>,
    scores: Vec<f64>,
    next_expire: Option<Timestamp>,
    fired: u64,
    held: u64,
}

impl Engine {
    /// An engine with every detector the settings enable.
    pub fn new(cfg: &DetectConfig) -> Result<Engine, String> {
        cfg.validate()?;
        let packet_detectors = heuristics::packet_detectors(&cfg.heuristics);
        let row_detectors = heuristics::row_detectors(&cfg.heuristics);
        let mut e = Engine::with_detectors(cfg, packet_detectors, row_detectors);
        if cfg.baseline.enabled {
            e.baselines = Some(Baselines::new(&cfg.baseline));
        }
        if cfg.heuristics.exfil.enabled {
            e.exfil = Some(Exfiltration::new(&cfg.heuristics.exfil));
        }
        if cfg.heuristics.tcp_degradation.enabled {
            e.tcp_health = Some(TcpDegradation::new(&cfg.heuristics.tcp_degradation));
        }
        if cfg.ml.enabled {
            e.set_ml(Kitsune::new(&cfg.ml)?);
        }
        Ok(e)
    }

    /// An engine with the given detectors (tests, evaluation of one).
    pub fn with_detectors(
        cfg: &DetectConfig,
        packet_detectors: Vec<Box<dyn PacketDetector>>,
        row_detectors: Vec<Box<dyn RowDetector>>,
    ) -> Engine {
        let n = packet_detectors.len();
        let per_source: Vec<bool> = packet_detectors.iter().map(|d| d.per_source()).collect();
        let admission = per_source.contains(&true).then(|| admission(cfg)).flatten();
        Engine {
            packet_detectors,
            per_source,
            admission,
            ml: None,
            baselines: None,
            exfil: None,
            tcp_health: None,
            forecast: ForecastWatch::new(),
            row_detectors,
            limiter: Limiter::new(cfg.dedup_secs),
            rollups: Rollups::new(cfg.rollup_after, cfg.rollup_secs),
            raw: Vec::new(),
            out: Vec::new(),
            scores: vec![0.0; n],
            next_expire: None,
            fired: 0,
            held: 0,
        }
    }

    /// Runs `k` as the ML detector (a model loaded from a file replaces
    /// a fresh one).
    pub fn set_ml(&mut self, k: Kitsune) {
        if self.ml.is_none() {
            self.scores.push(0.0);
        }
        self.ml = Some(k);
    }

    /// The ML detector, when it runs (to save its model).
    pub fn ml(&self) -> Option<&Kitsune> {
        self.ml.as_ref()
    }

    /// The packet detectors' names, in the order of [`Engine::packet`]'s scores.
    pub fn packet_detector_names(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.packet_detectors.iter().map(|d| d.name()).collect();
        if let Some(k) = &self.ml {
            v.push(k.name());
        }
        v
    }

    /// One packet through every packet detector. Returns their scores.
    pub fn packet(&mut self, o: &Obs) -> &[f64] {
        self.expire_when_due(o.ts);
        let pass = self.admission.as_mut().map_or(Pass::Go, |a| a.pass(o));
        if let Pass::Replay(first, answer) = &pass {
            // The source's first packet (and the answer to it), then this
            // one; their scores were given when they came.
            let answer = answer.map(|a| a.packet(first));
            for h in std::iter::once(first).chain(&answer) {
                let held = h.obs();
                let per_source = self.per_source.iter();
                for (d, _) in self
                    .packet_detectors
                    .iter_mut()
                    .zip(per_source)
                    .filter(|(_, &p)| p)
                {
                    d.packet(&held, &mut self.raw);
                }
            }
        }
        let each = self.packet_detectors.iter_mut().zip(&self.per_source);
        for ((d, &per_source), s) in each.zip(&mut self.scores) {
            *s = match pass {
                Pass::Ignore if per_source => 0.0,
                Pass::Skip if per_source => d.first_score(o),
                _ => d.packet(o, &mut self.raw),
            };
        }
        if let Some(k) = &mut self.ml {
            let n = self.scores.len();
            self.scores[n - 1] = k.packet(o, &mut self.raw);
        }
        if !self.raw.is_empty() {
            self.admit();
        }
        &self.scores
    }

    /// Expiry of every packet detector's state, once per
    /// [`EXPIRE_EVERY_NANOS`] of packet time.
    fn expire_when_due(&mut self, now: Timestamp) {
        match self.next_expire {
            None => self.next_expire = Some(now.add_nanos(EXPIRE_EVERY_NANOS)),
            Some(t) if now >= t => {
                for d in &mut self.packet_detectors {
                    d.expire(now);
                }
                if let Some(a) = &mut self.admission {
                    a.expire(now);
                }
                if let Some(k) = &mut self.ml {
                    k.expire(now);
                }
                self.rollups.expire(now, &mut self.out);
                self.next_expire = Some(now.add_nanos(EXPIRE_EVERY_NANOS));
            }
            Some(_) => {}
        }
    }

    /// One period's flow counts through every flow-level detector.
    pub fn rows(&mut self, now: Timestamp, rows: &[FlowRow]) {
        if let Some(b) = &mut self.baselines {
            b.rows(now, rows, &mut self.raw);
        }
        if let Some(x) = &mut self.exfil {
            x.rows(now, rows, &mut self.raw);
        }
        if let Some(t) = &mut self.tcp_health {
            t.rows(now, rows, &mut self.raw);
        }
        self.forecast.rows(now, rows, &mut self.raw);
        for d in &mut self.row_detectors {
            d.rows(now, rows, &mut self.raw);
        }
        self.admit();
    }

    /// The clock moved (a tick without packets).
    pub fn advance(&mut self, now: Timestamp) {
        self.rollups.expire(now, &mut self.out);
        if let Some(b) = &mut self.baselines {
            b.advance(now, &mut self.raw);
        }
        if let Some(t) = &mut self.tcp_health {
            t.advance(now, &mut self.raw);
        }
        self.forecast.advance(now, &mut self.raw);
        for d in &mut self.row_detectors {
            d.advance(now, &mut self.raw);
        }
        self.admit();
    }

    /// Whether any flow-level detector wants rows (the caller then cuts
    /// the flow table into periods even without history).
    pub fn wants_rows(&self) -> bool {
        self.baselines.is_some()
            || self.exfil.is_some()
            || self.tcp_health.is_some()
            || self.forecast.expectation_count() > 0
            || !self.row_detectors.is_empty()
    }

    /// Judges an interface's traffic in one direction against `e` from
    /// now on (`forecast_deviation` alerts).
    pub fn expect(&mut self, e: Expectation) {
        self.forecast.expect(e);
    }

    /// An alert made outside the detectors (a `capacity` warning from a
    /// new forecast): limited and shown like theirs.
    pub fn raise(&mut self, a: Alert) {
        self.raw.push(a);
        self.admit();
    }

    /// Warm start from history: `subject` averaged `bytes_per_sec` over
    /// `minutes` minutes from `start_secs`.
    pub fn warm_baseline(
        &mut self,
        subject: Subject,
        start_secs: i64,
        minutes: u32,
        bytes_per_sec: f64,
    ) {
        if let Some(b) = &mut self.baselines {
            b.warm(subject, start_secs, minutes, bytes_per_sec);
        }
    }

    /// Warm start from history: `subject`'s TCP health over an hour row
    /// (`tcp_degradation`'s profiles).
    pub fn warm_tcp(
        &mut self,
        subject: &Subject,
        start_secs: i64,
        minutes: u32,
        segments: u64,
        tcp: &crate::detector::RowTcp,
    ) {
        if let Some(t) = &mut self.tcp_health {
            t.warm(subject, start_secs, minutes, segments, tcp);
        }
    }

    /// Warm start from history: `host`'s largest bytes out to one
    /// destination in one past hour.
    pub fn warm_exfil(&mut self, host: IpAddr, busiest_bytes: u64) {
        if let Some(x) = &mut self.exfil {
            x.warm(host, busiest_bytes);
        }
    }

    /// The baselines, when enabled.
    pub fn baselines(&self) -> Option<&Baselines> {
        self.baselines.as_ref()
    }

    fn admit(&mut self) {
        for mut a in self.raw.drain(..) {
            if self.limiter.admit(&mut a) {
                self.rollups.offer(a, &mut self.out);
            } else {
                self.held += 1;
            }
        }
    }

    /// The end of the run at `now`: every open roll-up that grew since it
    /// was last shown is shown a last time (take them with
    /// [`Engine::take_alerts`]).
    pub fn finish(&mut self, now: Timestamp) {
        self.rollups.finish(now, &mut self.out);
    }

    /// The roll-ups: how many opened, how many alerts they took.
    pub fn rollups(&self) -> &Rollups {
        &self.rollups
    }

    /// The alerts shown since the last call, in the order they fired.
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        self.fired += self.out.len() as u64;
        std::mem::take(&mut self.out)
    }

    /// Alerts shown so far (roll-ups included; the alerts they took not).
    pub fn fired(&self) -> u64 {
        self.fired + self.out.len() as u64
    }

    /// Alerts the limiter held back so far.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Each detector's per-entity state (per source, pair, host): its
    /// name, the entries held now and those dropped or refused so far
    /// because a table was at its cap.
    pub fn state(&self) -> Vec<StateCount> {
        let packet = self.packet_detectors.iter().map(|d| d.as_ref());
        let ml = self.ml.iter().map(|k| k as &dyn PacketDetector);
        let rows = self.row_detectors.iter().map(|d| d.as_ref());
        let baselines = self.baselines.iter().map(|b| b as &dyn RowDetector);
        let exfil = self.exfil.iter().map(|x| x as &dyn RowDetector);
        let tcp = self.tcp_health.iter().map(|t| t as &dyn RowDetector);
        packet
            .chain(ml)
            .map(|d| StateCount {
                detector: d.name(),
                tracked: d.tracked(),
                evicted: d.evicted(),
            })
            .chain(
                rows.chain(baselines)
                    .chain(exfil)
                    .chain(tcp)
                    .map(|d| StateCount {
                        detector: d.name(),
                        tracked: d.tracked(),
                        evicted: d.evicted(),
                    }),
            )
            .chain(self.admission.iter().map(|a| StateCount {
                detector: "first_sightings",
                tracked: a.tracked(),
                evicted: a.evicted(),
            }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_memory_shrinks_the_tables_but_not_the_baselines() {
        let mut c = DetectConfig::default();
        let full = c.state_bytes();
        assert_eq!(
            c.clone().fit_memory(full * 2),
            full,
            "room enough: unchanged"
        );
        let after = c.fit_memory(60 << 20);
        assert!(after <= 60 << 20 && after > 50 << 20, "{after}");
        assert_eq!(c.baseline.max_entities, 5_000);
        assert!(c.heuristics.scan.max_tracked < 200_000);
        // However small the share, a table keeps 1,000 entries.
        c.fit_memory(0);
        assert_eq!(c.heuristics.scan.max_tracked, 1_000);
        assert_eq!(c.heuristics.beacon.max_tracked, 1_000);
    }
}
