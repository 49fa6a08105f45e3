//! Beaconing: a host starting connections to one destination at a
//! regular period, as malware checking in with its command-and-control
//! server does.
//!
//! A connection start is a TCP SYN without ACK, or a UDP packet after
//! `udp-idle-secs` of silence on that (source, destination, port). The
//! last [`HISTORY`] start times of each (source, destination, port,
//! protocol) are kept; once there are `min-intervals` intervals the
//! detector asks whether they are regular: the median absolute deviation
//! of the intervals over their median must be at most `max-jitter`, and
//! three quarters of them must lie within twice that of the median. An
//! interval close to a whole multiple of the median (a missed beat) counts
//! as that many beats, for up to an eighth of the intervals.
//!
//! Software that is periodic by design (time sync, name lookups, service
//! discovery) is left out by port (`ignore-ports`, either end) and by
//! multicast or broadcast destination. A UDP packet answering the other
//! side's recent one is part of that side's conversation, not a start.

use std::collections::VecDeque;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use wirewatch_units::duration_short;
use wirewatch_wire::{proto, Timestamp};

use super::positive;
use crate::alert::{Alert, Contributor, Entity, Evidence, Kind, Severity};
use crate::detector::PacketDetector;
use crate::obs::Obs;
use crate::Bounded;

/// Most connection starts remembered per destination.
pub const HISTORY: usize = 32;

/// Beaconing thresholds (`[detect.heuristics.beacon]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Run the beaconing detector.
    pub enabled: bool,
    /// Intervals between connection starts needed before judging (at
    /// most 31: the history holds 32 starts).
    pub min_intervals: u32,
    /// Shortest period reported, in seconds (faster repeats are retries
    /// and polling loops more often than check-ins).
    pub min_period_secs: f64,
    /// Longest period tracked, in seconds: a destination silent for three
    /// times this is forgotten.
    pub max_period_secs: f64,
    /// Largest median absolute deviation of the intervals, as a fraction
    /// of the median interval, still called regular.
    pub max_jitter: f64,
    /// Seconds of silence after which a UDP packet counts as a new start.
    pub udp_idle_secs: f64,
    /// Destination ports that are periodic by design (NTP, DNS, NetBIOS,
    /// DHCP, SSDP, mDNS).
    pub ignore_ports: Vec<u16>,
    /// Most (source, destination, port, protocol) entries tracked.
    pub max_tracked: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            min_intervals: 10,
            min_period_secs: 2.0,
            max_period_secs: 3600.0,
            max_jitter: 0.15,
            udp_idle_secs: 1.0,
            ignore_ports: vec![53, 67, 68, 123, 137, 138, 1900, 5353],
            max_tracked: 100_000,
        }
    }
}

impl Config {
    /// Checks the thresholds.
    pub fn validate(&self) -> Result<(), String> {
        let p = "detect.heuristics.beacon.";
        positive(&format!("{p}min-period-secs"), self.min_period_secs)?;
        positive(&format!("{p}max-period-secs"), self.max_period_secs)?;
        positive(&format!("{p}max-jitter"), self.max_jitter)?;
        positive(&format!("{p}udp-idle-secs"), self.udp_idle_secs)?;
        positive(&format!("{p}max-tracked"), self.max_tracked as f64)?;
        if !(2..HISTORY as u32).contains(&self.min_intervals) {
            return Err(format!(
                "{p}min-intervals must be from 2 to {}, not {}",
                HISTORY - 1,
                self.min_intervals
            ));
        }
        if self.max_period_secs < self.min_period_secs {
            return Err(format!(
                "{p}max-period-secs ({}) must be at least min-period-secs ({})",
                self.max_period_secs, self.min_period_secs
            ));
        }
        if self.udp_idle_secs >= self.min_period_secs {
            return Err(format!(
                "{p}udp-idle-secs ({}) must be below min-period-secs ({})",
                self.udp_idle_secs, self.min_period_secs
            ));
        }
        Ok(())
    }
}

/// A UDP packet within this many seconds of the other side's last one is
/// an answer, not a start of its own.
const REPLY_SECS: f64 = 10.0;

type Key = (IpAddr, IpAddr, u16, u8);

struct Track {
    /// Connection starts, oldest first (at most [`HISTORY`]).
    starts: Starts,
    /// Last packet from the source (UDP idle detection, expiry).
    last: Timestamp,
    /// Source port of the last TCP start (a repeated SYN from the same
    /// port is a retransmission, not a new connection).
    last_port: u16,
    /// Starts since the last alert (an alert needs a fresh history).
    since_alert: usize,
    alerted: bool,
    score: f64,
}

/// Connection starts, oldest first: a lone start is kept inline, so a
/// key seen once (a spoofed source's only SYN) allocates nothing and
/// frees nothing when it makes way.
#[derive(Default)]
struct Starts {
    /// The only start, while there is one.
    one: Option<Timestamp>,
    /// Two starts and more (then `one` is `None`).
    many: VecDeque<Timestamp>,
}

impl Starts {
    fn len(&self) -> usize {
        self.many.len() + usize::from(self.one.is_some())
    }

    fn front(&self) -> Option<Timestamp> {
        self.one.or_else(|| self.many.front().copied())
    }

    fn back(&self) -> Option<Timestamp> {
        self.one.or_else(|| self.many.back().copied())
    }

    fn clear(&mut self) {
        self.one = None;
        self.many.clear();
    }

    /// Adds the newest start, dropping the oldest past `cap`.
    fn push(&mut self, t: Timestamp, cap: usize) {
        if self.many.is_empty() && self.one.is_none() {
            self.one = Some(t);
            return;
        }
        if let Some(first) = self.one.take() {
            self.many.push_back(first);
        }
        if self.many.len() >= cap {
            self.many.pop_front();
        }
        self.many.push_back(t);
    }

    /// The starts as one slice.
    fn as_slice(&mut self) -> &[Timestamp] {
        match &self.one {
            Some(t) => std::slice::from_ref(t),
            None => self.many.make_contiguous(),
        }
    }
}

impl Track {
    /// What is kept when the table is full: most starts, then most recent.
    fn worth(&self) -> (usize, Timestamp) {
        (self.starts.len(), self.last)
    }
}

/// What the intervals say.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Regularity {
    /// Median interval, seconds.
    pub period: f64,
    /// Median absolute deviation of the (missed-beat-corrected) intervals, seconds.
    pub mad: f64,
    /// Share of the intervals within twice the jitter tolerance of the period.
    pub in_band: f64,
    /// Intervals counted as several beats (missed beats).
    pub folded: usize,
    /// Intervals looked at.
    pub intervals: usize,
}

/// Share of the intervals that must lie within twice the jitter
/// tolerance of the period: the median deviation alone lets a run of
/// random intervals pass now and then when half of them happen to bunch.
pub const IN_BAND: f64 = 0.75;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Intervals judged without a heap allocation (a full history has
/// [`HISTORY`] - 1 of them).
const STACK_INTERVALS: usize = HISTORY;

/// The regularity of start times (oldest first), `None` with fewer than
/// two starts. `jitter` is the tolerance as a fraction of the period.
///
/// An interval within half the tolerance of a whole multiple (two or
/// more) of the median counts as that many beats (missed beats), but only
/// for up to an eighth of the intervals: folding more makes random
/// intervals look regular (measured on Poisson starts: folding a quarter
/// at the full tolerance fired on 18 % of 40-start sequences).
pub fn regularity(starts: &[Timestamp], jitter: f64) -> Option<Regularity> {
    let n = starts.len().checked_sub(1).filter(|&n| n > 0)?;
    if n <= STACK_INTERVALS {
        let mut buf = [0.0; 4 * STACK_INTERVALS];
        Some(regularity_in(starts, jitter, &mut buf[..4 * n]))
    } else {
        Some(regularity_in(starts, jitter, &mut vec![0.0; 4 * n]))
    }
}

/// [`regularity`] with `buf` (four times the intervals) as scratch space.
fn regularity_in(starts: &[Timestamp], jitter: f64, buf: &mut [f64]) -> Regularity {
    let n = buf.len() / 4;
    let (raw, rest) = buf.split_at_mut(n);
    let (iv, rest) = rest.split_at_mut(n);
    let (tmp, dev) = rest.split_at_mut(n);
    for (x, w) in raw.iter_mut().zip(starts.windows(2)) {
        *x = w[1].nanos_since(w[0]).max(0) as f64 / 1e9;
    }
    tmp.copy_from_slice(raw);
    let first = median(tmp);
    iv.copy_from_slice(raw);
    let mut folded = 0;
    if first > 0.0 {
        for x in iv.iter_mut() {
            let k = (*x / first).round();
            if k >= 2.0 && (*x / k - first).abs() <= jitter / 2.0 * first {
                *x /= k;
                folded += 1;
            }
        }
    }
    if folded * 8 > n {
        iv.copy_from_slice(raw);
        folded = 0;
    }
    tmp.copy_from_slice(iv);
    let period = median(tmp);
    for (d, x) in dev.iter_mut().zip(iv.iter()) {
        *d = (x - period).abs();
    }
    let mad = median(dev);
    let in_band = dev.iter().filter(|&&d| d <= 2.0 * jitter * period).count() as f64 / n as f64;
    Regularity {
        period,
        mad,
        in_band,
        folded,
        intervals: n,
    }
}

/// Connections to one destination at a regular period.
pub struct Beaconing {
    cfg: Config,
    idle_nanos: i64,
    reply_nanos: i64,
    forget_nanos: i64,
    tracks: Bounded<Key, Track>,
}

impl Beaconing {
    /// A detector with these thresholds.
    pub fn new(cfg: &Config) -> Beaconing {
        Beaconing {
            cfg: cfg.clone(),
            idle_nanos: (cfg.udp_idle_secs * 1e9) as i64,
            reply_nanos: (cfg.udp_idle_secs.max(REPLY_SECS) * 1e9) as i64,
            forget_nanos: (cfg.max_period_secs * 3e9) as i64,
            tracks: Bounded::new(cfg.max_tracked),
        }
    }
}

/// The score of regular starts: how far inside the jitter threshold (up
/// to 10) when every test passes; below 1 otherwise, as far as the
/// weakest of the band share and the interval count got; 0 outside the
/// period range.
fn score(cfg: &Config, r: &Regularity) -> f64 {
    if r.period < cfg.min_period_secs || r.period > cfg.max_period_secs {
        return 0.0;
    }
    let jitter = r.mad / r.period;
    // A floor on jitter keeps clockwork from scoring infinity.
    let closeness = (cfg.max_jitter / jitter.max(cfg.max_jitter / 10.0)).min(10.0);
    let gates = (r.in_band / IN_BAND).min(r.intervals as f64 / f64::from(cfg.min_intervals));
    if gates >= 1.0 {
        closeness
    } else {
        closeness.min(gates)
    }
}

fn alert(cfg: &Config, o: &Obs, t: &Track, r: &Regularity, score: f64) -> Alert {
    let first = t.starts.front().unwrap_or(o.ts);
    let span = o.ts.nanos_since(first) as f64 / 1e9;
    let jitter = r.mad / r.period;
    let missed = if r.folded > 0 {
        format!(
            ", {} missed beat{}",
            r.folded,
            if r.folded == 1 { "" } else { "s" }
        )
    } else {
        String::new()
    };
    let period = round_period(r.period);
    Alert {
        time: o.ts,
        kind: Kind::Beaconing,
        severity: if r.intervals + 1 >= HISTORY && jitter <= cfg.max_jitter / 2.0 {
            Severity::Medium
        } else {
            Severity::Low
        },
        entity: Entity::Flow {
            src: o.src,
            dst: o.dst,
            dst_port: o.dst_port,
            protocol: o.protocol,
        },
        summary: format!(
            "{} connected to {} every {} ± {} ({} times in {}{missed}); \
                 people and most programs do not connect like clockwork",
            o.src,
            flow_dst(o),
            period,
            round_period(r.mad),
            t.starts.len(),
            duration_short(span),
        ),
        evidence: Evidence {
            observed: jitter,
            baseline: None,
            expected: None,
            threshold: cfg.max_jitter,
            unit: "median absolute deviation of the intervals over their median".into(),
            score,
            contributors: vec![
                Contributor {
                    feature: "period (seconds)".into(),
                    value: r.period,
                },
                Contributor {
                    feature: "median absolute deviation (seconds)".into(),
                    value: r.mad,
                },
                Contributor {
                    feature: "intervals".into(),
                    value: r.intervals as f64,
                },
                Contributor {
                    feature: "missed beats".into(),
                    value: r.folded as f64,
                },
            ],
            ..Evidence::default()
        },
        action: format!(
            "Find the process on {} that connects to {} and whether it is an updater or \
                 monitor you run; if not, treat {} as a possible command-and-control server.",
            o.src,
            flow_dst(o),
            o.dst
        ),
        detector: "beaconing".into(),
        suppressed: 0,
    }
}

/// "203.0.113.7:443/tcp" ("[2001:db8::1]:443/tcp" for IPv6).
fn flow_dst(o: &Obs) -> String {
    let p = proto::name(o.protocol).to_lowercase();
    match o.dst {
        IpAddr::V4(a) => format!("{a}:{}/{p}", o.dst_port),
        IpAddr::V6(a) => format!("[{a}]:{}/{p}", o.dst_port),
    }
}

/// A period or deviation for people: "60 s", "2.2 s", "0.04 s", "4.5 min".
fn round_period(s: f64) -> String {
    if s >= 10.0 {
        duration_short(s)
    } else if s >= 1.0 {
        format!("{:.1} s", s)
    } else {
        format!("{:.2} s", s)
    }
}

fn is_group(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => v.is_multicast() || v.is_broadcast() || v.octets()[3] == 255,
        IpAddr::V6(v) => v.is_multicast(),
    }
}

impl PacketDetector for Beaconing {
    fn name(&self) -> &'static str {
        "beaconing"
    }

    fn packet(&mut self, o: &Obs, out: &mut Vec<Alert>) -> f64 {
        if !o.has_ports || !matches!(o.protocol, proto::TCP | proto::UDP) {
            return 0.0;
        }
        // A TCP segment other than a SYN is no start and costs no lookup
        // (this detector's share of the time on busy links).
        if o.protocol == proto::TCP && !o.is_syn() {
            return 0.0;
        }
        let key = (o.src, o.dst, o.dst_port, o.protocol);
        let back = (o.dst, o.src, o.src_port, o.protocol);
        let start = match o.protocol {
            proto::TCP => o.is_syn(),
            _ => match (self.tracks.get(&back), self.tracks.get(&key)) {
                // An answer to a recent packet of the other side.
                (Some(b), _) if o.ts.nanos_since(b.last) < self.reply_nanos => false,
                (_, Some(t)) => o.ts.nanos_since(t.last) >= self.idle_nanos,
                (_, None) => true,
            },
        };
        if !start {
            // Traffic of a tracked conversation, either way, carries its score.
            return match self.tracks.get_mut(&key) {
                Some(t) => {
                    t.last = t.last.max(o.ts);
                    t.score
                }
                None => self.tracks.get(&back).map_or(0.0, |t| t.score),
            };
        }
        let ports = &self.cfg.ignore_ports;
        if ports.contains(&o.dst_port) || ports.contains(&o.src_port) || is_group(&o.dst) {
            return 0.0;
        }
        let t = self.tracks.get_or_insert_with(key, Track::worth, || Track {
            starts: Starts::default(),
            last: o.ts,
            last_port: 0,
            since_alert: 0,
            alerted: false,
            score: 0.0,
        });
        let retransmit = o.protocol == proto::TCP
            && t.last_port == o.src_port
            && t.starts
                .back()
                .is_some_and(|s| o.ts.nanos_since(s) < (self.cfg.min_period_secs * 1e9) as i64 * 4);
        t.last = t.last.max(o.ts);
        if retransmit {
            return t.score;
        }
        t.last_port = o.src_port;
        if t.starts.back().is_some_and(|s| o.ts < s) {
            // Time went backwards (merged captures): start over.
            t.starts.clear();
        }
        t.starts.push(o.ts, HISTORY);
        t.since_alert += 1;
        // Too few starts to be regular: no score worth its sorting.
        if t.starts.len() < 4 {
            return 0.0;
        }
        let starts = t.starts.as_slice();
        let Some(r) = regularity(starts, self.cfg.max_jitter) else {
            return 0.0;
        };
        let score = score(&self.cfg, &r);
        t.score = score;
        let fire = score >= 1.0
            && r.in_band >= IN_BAND
            && r.intervals >= self.cfg.min_intervals as usize
            && (!t.alerted || t.since_alert >= HISTORY);
        if fire {
            t.alerted = true;
            t.since_alert = 0;
            out.push(alert(&self.cfg, o, t, &r, score));
        }
        score
    }

    fn expire(&mut self, now: Timestamp) {
        // A lone start is useless once `max-period-secs` passed (the next
        // interval would be too long to report); a history is kept for
        // three of those, which rides out a few missed beats.
        let forget = self.forget_nanos;
        let lone = self.forget_nanos / 3;
        self.tracks.expire(now, lone / 8, |t| {
            t.last
                .add_nanos(if t.starts.len() > 1 { forget } else { lone })
        });
    }

    fn evicted(&self) -> u64 {
        self.tracks.evicted()
    }

    fn tracked(&self) -> usize {
        self.tracks.len()
    }

    fn per_source(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &[f64]) -> Vec<Timestamp> {
        s.iter()
            .map(|&x| Timestamp::from_secs_nanos(0, (x * 1e9) as i64))
            .collect()
    }

    #[test]
    fn regular_starts_have_small_deviation() {
        let r = regularity(&at(&[0.0, 10.0, 20.5, 30.0, 39.5, 50.0]), 0.15).unwrap();
        assert_eq!(r.intervals, 5);
        assert!((r.period - 10.0).abs() < 0.6, "{r:?}");
        assert!(r.mad <= 0.5 && r.in_band == 1.0, "{r:?}");
    }

    #[test]
    fn a_missed_beat_is_folded() {
        let beats = [0.0, 10.0, 20.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0];
        let r = regularity(&at(&beats), 0.15).unwrap();
        assert_eq!((r.folded, r.intervals), (1, 9));
        assert!(r.mad < 1e-9 && r.in_band == 1.0);
        // Not when the missed beats are more than an eighth.
        let r = regularity(&at(&beats[..7]), 0.15).unwrap();
        assert_eq!(r.folded, 0);
        // Mostly double intervals are not "missed beats".
        let r = regularity(&at(&[0.0, 10.0, 30.0, 50.0, 70.0, 90.0]), 0.15).unwrap();
        assert_eq!(r.folded, 0);
    }

    #[test]
    fn a_history_longer_than_the_stack_buffer_is_judged_the_same_way() {
        let starts: Vec<f64> = (0..40)
            .map(|k| f64::from(k) * 30.0 + f64::from(k % 3))
            .collect();
        let long = regularity(&at(&starts), 0.15).unwrap();
        let short = regularity(&at(&starts[..HISTORY]), 0.15).unwrap();
        assert_eq!((long.intervals, short.intervals), (39, HISTORY - 1));
        assert!(
            (long.period - short.period).abs() < 1.0,
            "{long:?} {short:?}"
        );
        assert_eq!(long.in_band, 1.0);
    }

    #[test]
    fn fewer_than_two_starts_say_nothing() {
        assert!(regularity(&at(&[5.0]), 0.15).is_none());
        assert!(regularity(&[], 0.15).is_none());
    }

    #[test]
    fn config_checks_name_the_key() {
        assert!(Config::default().validate().is_ok());
        let c = Config {
            min_intervals: 40,
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("beacon.min-intervals"));
        let c = Config {
            udp_idle_secs: 5.0,
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("beacon.udp-idle-secs"));
    }

    #[test]
    fn config_reads_kebab_case_keys_and_refuses_unknown_ones() {
        let c: Config =
            serde_json::from_str(r#"{"ignore-ports": [123], "min-period-secs": 10.0}"#).unwrap();
        assert!(c.enabled && c.validate().is_ok());
        assert_ne!(c, Config::default());
        assert!(serde_json::from_str::<Config>(r#"{"no-such-key": 1}"#).is_err());
    }
}
