//! Flow-level heuristics: exfiltration (far more bytes out to one
//! destination than the host usually sends anywhere) and a new outbound
//! destination for a process whose set of destinations had been stable.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use wirewatch_units::{duration_short, qty, thousands};
use wirewatch_wire::{proto, Timestamp};

use super::positive;
use crate::alert::{Alert, Contributor, Entity, Evidence, Kind, Severity};
use crate::detector::{FlowRow, RowDetector};
use crate::sketch::{CountMin, Hll};
use crate::{Bounded, Map, Set};

/// Exfiltration thresholds (`[detect.heuristics.exfil]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExfilConfig {
    /// Run this detector.
    pub enabled: bool,
    /// Bytes out to one destination within an hour below which nothing
    /// alerts, whatever the host's history.
    pub min_bytes: f64,
    /// How many times the host's usual hourly bytes to its busiest
    /// destination alerts.
    pub factor: f64,
    /// Hours of history a host needs before its usual is trusted; before
    /// that only `factor × min-bytes` alerts.
    pub learn_hours: u32,
    /// Most local hosts followed.
    pub max_hosts: usize,
}

impl Default for ExfilConfig {
    fn default() -> Self {
        ExfilConfig {
            enabled: true,
            min_bytes: 100e6,
            factor: 10.0,
            learn_hours: 6,
            max_hosts: 20_000,
        }
    }
}

impl ExfilConfig {
    /// Checks the thresholds.
    pub fn validate(&self) -> Result<(), String> {
        positive("detect.heuristics.exfil.min-bytes", self.min_bytes)?;
        positive("detect.heuristics.exfil.factor", self.factor)?;
        positive("detect.heuristics.exfil.max-hosts", self.max_hosts as f64)
    }

    /// The bytes to one destination in an hour that alert for a host
    /// with `hours` of history and `usual`, and whether that history is
    /// trusted.
    fn limit(&self, hours: u32, usual: f64) -> (f64, bool) {
        let learned = hours >= self.learn_hours;
        let limit = if learned {
            (self.factor * usual).max(self.min_bytes)
        } else {
            self.factor * self.min_bytes
        };
        (limit, learned)
    }
}

const HOUR: i64 = 3600;

/// Destinations summed exactly per host and hour; the rest go into a
/// count-min sketch (a host answering a spoofed flood talks to millions).
const EXACT_DESTINATIONS: usize = 256;
/// Counters per row of that sketch: an estimate is off by at most
/// e / 1024 ≈ 0.27 % of the bytes the host sent past the exact ones.
const SPILL_WIDTH: usize = 1024;

/// Destinations of one host and hour past the exact ones.
struct Spill {
    /// Bytes out per destination, estimated (never low).
    sums: CountMin,
    /// How many distinct destinations, estimated.
    distinct: Hll,
    /// Largest estimate in `sums`.
    max: u64,
}

/// Bytes out per destination, the first one inline: most senders of a
/// spoofed flood have one destination, and keep it without an allocation.
#[derive(Default)]
enum Destinations {
    #[default]
    None,
    One(IpAddr, u64),
    Many(Map<IpAddr, u64>),
}

impl Destinations {
    fn len(&self) -> usize {
        match self {
            Destinations::None => 0,
            Destinations::One(..) => 1,
            Destinations::Many(m) => m.len(),
        }
    }

    fn get_mut(&mut self, dst: &IpAddr) -> Option<&mut u64> {
        match self {
            Destinations::One(d, b) if d == dst => Some(b),
            Destinations::Many(m) => m.get_mut(dst),
            _ => None,
        }
    }

    /// Adds a destination not held yet.
    fn insert(&mut self, dst: IpAddr, bytes: u64) {
        match std::mem::take(self) {
            Destinations::None => *self = Destinations::One(dst, bytes),
            Destinations::One(d, b) => {
                *self = Destinations::Many(Map::from_iter([(d, b), (dst, bytes)]));
            }
            Destinations::Many(mut m) => {
                m.insert(dst, bytes);
                *self = Destinations::Many(m);
            }
        }
    }

    /// The largest sum (0 with none).
    fn max(&self) -> u64 {
        match self {
            Destinations::None => 0,
            Destinations::One(_, b) => *b,
            Destinations::Many(m) => m.values().copied().max().unwrap_or(0),
        }
    }
}

struct Sender {
    /// The hour (seconds since the epoch) being summed.
    hour: i64,
    /// Bytes out per destination this hour (the first destinations).
    out: Destinations,
    /// The further destinations this hour, in sketches.
    spill: Option<Box<Spill>>,
    /// Destinations alerted this hour.
    alerted: Set<IpAddr>,
    /// Moving average of each past hour's largest per-destination total.
    usual: f64,
    /// Hours learned.
    hours: u32,
}

/// A host's first row (with bytes out), held until a second one comes.
#[derive(Clone, Copy)]
struct FirstRow {
    host: IpAddr,
    /// The hour it belongs to (seconds since the epoch).
    hour: i64,
    dst: IpAddr,
    bytes: u64,
}

/// Hosts seen in one row so far, their row held: one place per hash, a
/// newcomer takes the place of the row there (counted), so a spoofed
/// sender costs one read and one write.
struct FirstRows {
    places: Vec<Option<FirstRow>>,
    hasher: foldhash::fast::FixedState,
    len: usize,
    dropped: u64,
}

impl FirstRows {
    fn new(cap: usize) -> FirstRows {
        FirstRows {
            places: vec![None; cap.max(1)],
            hasher: foldhash::fast::FixedState::default(),
            len: 0,
            dropped: 0,
        }
    }

    fn place(&self, host: &IpAddr) -> usize {
        use std::hash::BuildHasher;
        let h = self.hasher.hash_one(host);
        ((u128::from(h) * self.places.len() as u128) >> 64) as usize
    }

    /// Takes `host`'s held row out, if it is held.
    fn take(&mut self, host: &IpAddr) -> Option<FirstRow> {
        let i = self.place(host);
        let p = &mut self.places[i];
        if p.is_some_and(|f| f.host == *host) {
            self.len -= 1;
            return p.take();
        }
        None
    }

    /// Holds `f` (in the place of the row there, which is dropped).
    fn hold(&mut self, f: FirstRow) {
        let i = self.place(&f.host);
        match self.places[i].replace(f) {
            Some(_) => self.dropped += 1,
            None => self.len += 1,
        }
    }
}

/// Far more bytes out to one destination than the host's history.
///
/// A host's first row is held ([`FirstRows`]) and replayed when a second
/// row comes, so a sender seen once — each source of a spoofed flood —
/// costs one place there instead of a sender in the table (and cannot
/// push a real one out); a first row that alone reaches a new host's
/// limit goes in at once.
pub struct Exfiltration {
    cfg: ExfilConfig,
    hosts: Bounded<IpAddr, Sender>,
    fresh: FirstRows,
}

impl Exfiltration {
    /// A detector with these thresholds.
    pub fn new(cfg: &ExfilConfig) -> Exfiltration {
        Exfiltration {
            cfg: cfg.clone(),
            hosts: Bounded::new(cfg.max_hosts),
            fresh: FirstRows::new(cfg.max_hosts),
        }
    }

    /// The sender of `r` (in `hour`), with its held first row replayed
    /// when this is its second; `None` when `r` is its first row and is
    /// held (it cannot alert: below a new host's limit).
    fn sender(&mut self, r: &FlowRow, hour: i64) -> Option<&mut Sender> {
        if !self.hosts.contains_key(&r.local) {
            let first = self.fresh.take(&r.local);
            if first.is_none() && (r.bytes_out as f64) < self.cfg.limit(0, 0.0).0 {
                self.fresh.hold(FirstRow {
                    host: r.local,
                    hour,
                    dst: r.remote,
                    bytes: r.bytes_out,
                });
                return None;
            }
            let start = first.map_or(hour, |f| f.hour);
            let s = self
                .hosts
                .get_or_insert_with(r.local, Sender::worth, || Sender::new(start));
            if let Some(f) = first {
                s.add(f.dst, f.bytes);
            }
            return Some(s);
        }
        self.hosts.get_mut(&r.local)
    }

    /// Teaches a host's usual from history: its largest bytes out to one
    /// destination in one past hour.
    pub fn warm(&mut self, host: IpAddr, busiest_bytes: u64) {
        let s = self
            .hosts
            .get_or_insert_with(host, Sender::worth, || Sender::new(i64::MIN));
        s.learn(busiest_bytes as f64);
    }
}

impl Sender {
    fn new(hour: i64) -> Sender {
        Sender {
            hour,
            out: Destinations::default(),
            spill: None,
            alerted: Set::default(),
            usual: 0.0,
            hours: 0,
        }
    }

    fn learn(&mut self, busiest: f64) {
        self.hours += 1;
        let r = (1.0 / self.hours as f64).max(0.1);
        self.usual += r * (busiest - self.usual);
    }

    /// Moves to `hour`, learning the hours that closed.
    fn roll(&mut self, hour: i64) {
        if hour <= self.hour {
            return;
        }
        // i64::MIN: warm-started, no live hour yet.
        if self.hour != i64::MIN {
            let exact = self.out.max();
            let busiest = exact.max(self.spill.as_ref().map_or(0, |s| s.max)) as f64;
            self.learn(busiest);
            // Quiet hours in between (up to a day) were zeros.
            let quiet = ((hour - self.hour) / HOUR - 1).clamp(0, 24);
            for _ in 0..quiet {
                self.learn(0.0);
            }
        }
        self.hour = hour;
        self.out = Destinations::None;
        self.spill = None;
        self.alerted.clear();
    }

    /// Adds `bytes` out to `dst`; returns the hour's sum to it so far
    /// (an estimate, never low, once `dst` is past the exact ones).
    fn add(&mut self, dst: IpAddr, bytes: u64) -> u64 {
        if let Some(b) = self.out.get_mut(&dst) {
            *b += bytes;
            return *b;
        }
        if self.out.len() < EXACT_DESTINATIONS {
            self.out.insert(dst, bytes);
            return bytes;
        }
        let s = self.spill.get_or_insert_with(|| {
            Box::new(Spill {
                sums: CountMin::new(SPILL_WIDTH),
                distinct: Hll::default(),
                max: 0,
            })
        });
        s.distinct.insert(&dst);
        let sum = s.sums.add(&dst, bytes);
        s.max = s.max.max(sum);
        sum
    }

    /// Destinations this hour (exact ones plus those spilled, estimated).
    fn destinations(&self) -> f64 {
        let spilled = self.spill.as_ref().map_or(0.0, |s| s.distinct.estimate());
        self.out.len() as f64 + spilled.round()
    }

    /// What is kept when the table of hosts is full: most hours learned,
    /// then the latest hour.
    fn worth(&self) -> (u32, i64) {
        (self.hours, self.hour)
    }
}

impl RowDetector for Exfiltration {
    fn name(&self) -> &'static str {
        "exfiltration"
    }

    fn rows(&mut self, _now: Timestamp, rows: &[FlowRow], out: &mut Vec<Alert>) {
        let cfg = self.cfg.clone();
        for r in rows {
            if r.bytes_out == 0 {
                continue;
            }
            let t = r.ts.as_nanos().div_euclid(1_000_000_000);
            let hour = t - t.rem_euclid(HOUR);
            let Some(s) = self.sender(r, hour) else {
                continue;
            };
            s.roll(hour);
            let sent = s.add(r.remote, r.bytes_out) as f64;
            let (limit, learned) = cfg.limit(s.hours, s.usual);
            if sent >= limit && !s.alerted.contains(&r.remote) {
                s.alerted.insert(r.remote);
                let usual = if learned {
                    format!(
                        "its usual to any one destination is {} per hour",
                        qty(s.usual, "B")
                    )
                } else {
                    format!(
                        "it has less than {} h of history, and that is over {}",
                        cfg.learn_hours,
                        qty(limit, "B")
                    )
                };
                let into = duration_short((t - hour + 60).clamp(60, HOUR) as f64);
                out.push(Alert {
                    time: r.ts,
                    kind: Kind::Exfiltration,
                    severity: Severity::from_ratio(sent / limit).max(Severity::Medium),
                    entity: Entity::Pair {
                        src: r.local,
                        dst: r.remote,
                    },
                    summary: format!(
                        "{} sent {} to {} in {into}; {usual}",
                        r.local,
                        qty(sent, "B"),
                        r.remote
                    ),
                    evidence: Evidence {
                        observed: sent,
                        baseline: learned.then_some(s.usual),
                        expected: None,
                        threshold: limit,
                        unit: "bytes out this hour".into(),
                        score: sent / limit,
                        contributors: vec![
                            Contributor {
                                feature: "hours of history".into(),
                                value: s.hours as f64,
                            },
                            Contributor {
                                feature: "destinations this hour".into(),
                                value: s.destinations(),
                            },
                        ],
                        ..Evidence::default()
                    },
                    action: format!(
                        "Find which process on {} sends to {} (history flows --host) and whether that transfer is expected; block the destination if not.",
                        r.local, r.remote
                    ),
                    detector: "exfiltration".into(),
                    suppressed: 0,
                });
            }
        }
    }

    fn advance(&mut self, _now: Timestamp, _out: &mut Vec<Alert>) {}

    fn evicted(&self) -> u64 {
        self.hosts.evicted() + self.fresh.dropped
    }

    fn tracked(&self) -> usize {
        self.hosts.len() + self.fresh.len
    }
}

/// New-destination settings (`[detect.heuristics.new-destination]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct NewDestConfig {
    /// Run this detector.
    pub enabled: bool,
    /// Seconds a process must have been watched before its set counts.
    pub learn_secs: f64,
    /// Seconds without a new destination that make a set stable.
    pub stable_secs: f64,
    /// A process talking to more destinations than this has no stable set.
    pub max_destinations: usize,
    /// Most processes followed.
    pub max_processes: usize,
}

impl Default for NewDestConfig {
    fn default() -> Self {
        NewDestConfig {
            enabled: true,
            learn_secs: 6.0 * 3600.0,
            stable_secs: 2.0 * 3600.0,
            max_destinations: 64,
            max_processes: 2_000,
        }
    }
}

impl NewDestConfig {
    /// Checks the thresholds.
    pub fn validate(&self) -> Result<(), String> {
        let p = "detect.heuristics.new-destination.";
        positive(&format!("{p}learn-secs"), self.learn_secs)?;
        positive(&format!("{p}stable-secs"), self.stable_secs)?;
        positive(
            &format!("{p}max-destinations"),
            self.max_destinations as f64,
        )?;
        positive(&format!("{p}max-processes"), self.max_processes as f64)
    }
}

struct Habit {
    first: Timestamp,
    last_new: Timestamp,
    /// (remote address, remote port, protocol).
    dests: Set<(IpAddr, u16, u8)>,
    /// Too many destinations: no stable set.
    wide: bool,
}

/// A process with a stable set of destinations contacting a new one.
pub struct NewDestination {
    cfg: NewDestConfig,
    procs: Map<String, Habit>,
    /// Rows of processes not followed because the table was full.
    refused: u64,
}

impl NewDestination {
    /// A detector with these thresholds.
    pub fn new(cfg: &NewDestConfig) -> NewDestination {
        NewDestination {
            cfg: cfg.clone(),
            procs: Map::default(),
            refused: 0,
        }
    }
}

impl RowDetector for NewDestination {
    fn name(&self) -> &'static str {
        "new_destination"
    }

    fn rows(&mut self, _now: Timestamp, rows: &[FlowRow], out: &mut Vec<Alert>) {
        let learn = (self.cfg.learn_secs * 1e9) as i64;
        let stable = (self.cfg.stable_secs * 1e9) as i64;
        for r in rows {
            let Some(name) = r.process else { continue };
            // Outbound conversations only: the process initiated them.
            if r.packets_out == 0 {
                continue;
            }
            if !self.procs.contains_key(name) {
                if self.procs.len() >= self.cfg.max_processes {
                    self.refused += 1;
                    continue;
                }
                let habit = Habit {
                    first: r.ts,
                    last_new: r.ts,
                    dests: Set::default(),
                    wide: false,
                };
                self.procs.insert(name.to_string(), habit);
            }
            let Some(h) = self.procs.get_mut(name) else {
                continue;
            };
            if h.wide {
                continue;
            }
            let d = (r.remote, r.remote_port, r.protocol);
            if h.dests.contains(&d) {
                continue;
            }
            let watched = r.ts.nanos_since(h.first);
            let quiet = r.ts.nanos_since(h.last_new);
            if watched >= learn && quiet >= stable && !h.dests.is_empty() {
                out.push(Alert {
                    time: r.ts,
                    kind: Kind::NewDestination,
                    severity: Severity::Low,
                    entity: Entity::Process {
                        name: name.to_string(),
                    },
                    summary: format!(
                        "Process {name} contacted {}:{}/{} for the first time; for {} it had talked only to the same {} destination(s)",
                        r.remote,
                        r.remote_port,
                        proto::name(r.protocol),
                        duration_short(quiet as f64 / 1e9),
                        thousands(h.dests.len() as u64)
                    ),
                    evidence: Evidence {
                        observed: (h.dests.len() + 1) as f64,
                        baseline: Some(h.dests.len() as f64),
                        expected: None,
                        threshold: h.dests.len() as f64,
                        unit: "distinct destinations".into(),
                        score: quiet as f64 / stable as f64,
                        contributors: vec![Contributor {
                            feature: "seconds since its last new destination".into(),
                            value: quiet as f64 / 1e9,
                        }],
                        ..Evidence::default()
                    },
                    action: format!(
                        "Check whether {name} was updated or reconfigured; if not, find out why it talks to {} (a compromised or tampered program often shows this way).",
                        r.remote
                    ),
                    detector: "new_destination".into(),
                    suppressed: 0,
                });
            }
            h.dests.insert(d);
            h.last_new = r.ts;
            if h.dests.len() > self.cfg.max_destinations {
                h.wide = true;
                h.dests = Set::default();
            }
        }
    }

    fn advance(&mut self, _now: Timestamp, _out: &mut Vec<Alert>) {}

    fn evicted(&self) -> u64 {
        self.refused
    }

    fn tracked(&self) -> usize {
        self.procs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn row(secs: i64, local: u8, out: u64) -> FlowRow<'static> {
        FlowRow {
            ts: Timestamp::from_secs(secs),
            iface: "eth0",
            local: IpAddr::V4(Ipv4Addr::new(10, 0, 0, local)),
            remote: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)),
            local_port: 40_000,
            remote_port: 443,
            protocol: proto::TCP,
            process: None,
            bytes_out: out,
            bytes_in: 0,
            packets_out: 1,
            packets_in: 0,
            tcp: Default::default(),
        }
    }

    #[test]
    fn a_first_row_is_held_and_counted_when_the_host_comes_back() {
        let mut x = Exfiltration::new(&ExfilConfig::default());
        let mut out = Vec::new();
        // 600 MB then 500 MB in the same hour: the first row alone is
        // below a new host's 1 GB, and is held, not forgotten.
        x.rows(
            Timestamp::from_secs(60),
            &[row(0, 1, 600_000_000)],
            &mut out,
        );
        assert_eq!((x.tracked(), x.hosts.len(), out.len()), (1, 0, 0));
        x.rows(
            Timestamp::from_secs(120),
            &[row(60, 1, 500_000_000)],
            &mut out,
        );
        assert_eq!((x.tracked(), x.hosts.len()), (1, 1));
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].evidence.observed, 1.1e9);
        // A first row that alone reaches the limit alerts at once.
        x.rows(
            Timestamp::from_secs(180),
            &[row(120, 2, 2_000_000_000)],
            &mut out,
        );
        assert_eq!((out.len(), x.hosts.len()), (2, 2));
    }

    #[test]
    fn first_rows_take_each_others_places_and_count_it() {
        let mut x = Exfiltration::new(&ExfilConfig {
            max_hosts: 1,
            ..ExfilConfig::default()
        });
        let mut out = Vec::new();
        x.rows(
            Timestamp::from_secs(60),
            &[row(0, 1, 600_000_000)],
            &mut out,
        );
        x.rows(Timestamp::from_secs(60), &[row(0, 2, 100)], &mut out);
        assert_eq!((x.tracked(), x.evicted()), (1, 1));
        // Host 1's row was dropped: its second one starts its hour alone.
        x.rows(
            Timestamp::from_secs(120),
            &[row(60, 1, 500_000_000)],
            &mut out,
        );
        assert!(out.is_empty(), "{out:#?}");
    }
}
