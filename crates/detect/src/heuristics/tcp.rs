//! `tcp_degradation`: an interface's, local host's or process's TCP
//! retransmission rate or round-trip time leaving its seasonal baseline
//! (`--tcp`), explained with the numbers and the side.
//!
//! Each subject learns three profiles from its TCP minutes, the way the
//! traffic baselines learn bytes (by hour of the week, of the day, and
//! overall, times a fast level): the share of segments retransmitted, and
//! the mean RTT on each side of the capture point — "out", measured on the
//! subject's own segments (the path to its peers and back), and "in",
//! measured on its peers' segments (the subject itself and its side of the
//! network). Only rises alert (a network getting better is not news); a
//! minute with too few segments or samples to say anything teaches nothing
//! and is not judged. Rows without TCP figures (recorded without `--tcp`)
//! are skipped before any lookup, so the detector costs nothing then.

use serde::{Deserialize, Serialize};
use wirewatch_units::{hhmm_utc, thousands, RttHistogram};
use wirewatch_wire::{proto, Timestamp};

use super::positive;
use crate::alert::{Alert, Contributor, Evidence, Kind, Severity};
use crate::baseline::{self, closing_secs, hours, At, Head, Slot, Subject};
use crate::detector::{FlowRow, RowDetector, RowTcp};
use crate::Map;

/// Settings (`[detect.heuristics.tcp-degradation]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Judge TCP health (it only sees anything under `--tcp`).
    pub enabled: bool,
    /// Deviations above the expected value that alert.
    pub z: f64,
    /// Minutes a profile needs before it is trusted.
    pub min_minutes: u32,
    /// Fewest TCP segments in a minute for its retransmission rate to count.
    pub min_segments: u64,
    /// Fewest retransmitted segments in a minute that alert.
    pub min_retransmissions: u64,
    /// Smallest retransmission rate that alerts, percent.
    pub min_retrans_percent: f64,
    /// Fewest RTT samples on a side in a minute for its mean to count.
    pub min_rtt_samples: u64,
    /// Smallest rise of a side's RTT over the expected that alerts, ms.
    pub min_rtt_rise_ms: f64,
    /// Smallest ratio of a side's RTT to the expected that alerts.
    pub min_rtt_ratio: f64,
    /// Minutes in a row above the band before it alerts.
    pub minutes_degraded: u32,
    /// Most hosts and processes followed (interfaces always are).
    pub max_entities: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            z: 6.0,
            min_minutes: 30,
            min_segments: 200,
            min_retransmissions: 20,
            min_retrans_percent: 1.0,
            min_rtt_samples: 30,
            min_rtt_rise_ms: 20.0,
            min_rtt_ratio: 1.5,
            minutes_degraded: 2,
            max_entities: 500,
        }
    }
}

impl Config {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        let k = "detect.heuristics.tcp-degradation";
        positive(&format!("{k}.z"), self.z)?;
        positive(&format!("{k}.min-minutes"), f64::from(self.min_minutes))?;
        positive(&format!("{k}.min-segments"), self.min_segments as f64)?;
        positive(&format!("{k}.min-rtt-samples"), self.min_rtt_samples as f64)?;
        positive(&format!("{k}.max-entities"), self.max_entities as f64)?;
        positive(
            &format!("{k}.minutes-degraded"),
            f64::from(self.minutes_degraded),
        )?;
        for (n, v) in [
            ("min-retrans-percent", self.min_retrans_percent),
            ("min-rtt-rise-ms", self.min_rtt_rise_ms),
            ("min-rtt-ratio", self.min_rtt_ratio),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{k}.{n} must be a number of 0 or more, not {v}"));
            }
        }
        Ok(())
    }

    /// The profile settings: the traffic baselines' rates, these thresholds.
    fn profile(&self) -> baseline::Config {
        baseline::Config {
            z: self.z,
            min_minutes: self.min_minutes,
            ..baseline::Config::default()
        }
    }
}

/// One seasonal profile (the traffic baselines' slots, per subject).
struct Seasonal {
    head: Head,
    week: Box<[Slot; 168]>,
    day: [Slot; 24],
    /// Minutes in a row above the band.
    streak: u32,
}

impl Seasonal {
    /// The profile at (hour of the week, hour of the day).
    fn at(&mut self, (w, d): (usize, usize)) -> At<'_> {
        At {
            head: &mut self.head,
            week: &mut self.week[w],
            day: &mut self.day[d],
        }
    }
}

impl Default for Seasonal {
    fn default() -> Self {
        Seasonal {
            head: Head::default(),
            week: Box::new([Slot::default(); 168]),
            day: [Slot::default(); 24],
            streak: 0,
        }
    }
}

/// Connection-minutes per side kept exactly for the median.
const FEW: usize = 32;

/// What a subject's minute added up to so far.
#[derive(Clone, Default)]
struct Minute {
    /// TCP segments both ways.
    segments: u64,
    /// Retransmitted by the subject's end, by its peers.
    retrans: [u64; 2],
    /// RTT samples on the subject's segments, on its peers'.
    rtt_samples: [u64; 2],
    /// Each connection-minute's mean RTT, weighted by its samples, per
    /// side (allocated once the side has a sample): the minute's median
    /// is not moved by one stuck connection as a mean would be.
    rtt: [Option<Box<RttHistogram>>; 2],
    /// The same connection-minutes exactly while they are few
    /// (mean ns, samples): their median is then exact.
    few: [Vec<(u64, u64)>; 2],
    /// Segments of connections where the subject's port is the lower
    /// (it serves), and the others.
    serving: u64,
    calling: u64,
}

impl Minute {
    fn add(&mut self, r: &FlowRow<'_>) {
        let segments = r.packets_out + r.packets_in;
        self.segments += segments;
        for k in 0..2 {
            self.retrans[k] += r.tcp.retrans[k];
            let n = r.tcp.rtt_samples[k];
            if n > 0 {
                self.rtt_samples[k] += n;
                let mean_ns = r.tcp.rtt_sum_us[k] * 1_000 / n;
                self.rtt[k]
                    .get_or_insert_with(Default::default)
                    .add_n(mean_ns, n);
                if self.few[k].len() <= FEW {
                    self.few[k].push((mean_ns, n));
                }
            }
        }
        if r.local_port != 0 && r.local_port < r.remote_port {
            self.serving += segments;
        } else {
            self.calling += segments;
        }
    }

    /// The median RTT of side `k` in ms, with enough samples.
    fn rtt_ms(&self, k: usize, min_samples: u64) -> Option<f64> {
        if self.rtt_samples[k] < min_samples.max(1) {
            return None;
        }
        let few = &self.few[k];
        let ns = if few.len() <= FEW {
            weighted_median(few)?
        } else {
            self.rtt[k].as_ref()?.quantile(0.5)?
        };
        Some(ns as f64 / 1e6)
    }

    /// "mostly serving" / "mostly calling out", when 80 % of its segments say so.
    fn role(&self) -> &'static str {
        let all = (self.serving + self.calling).max(1) as f64;
        if self.serving as f64 >= 0.8 * all {
            " (mostly as a server: its peers are clients)"
        } else if self.calling as f64 >= 0.8 * all {
            " (mostly as a client: its peers are servers)"
        } else {
            ""
        }
    }
}

/// The value at half the total weight of `(value, weight)` pairs.
fn weighted_median(v: &[(u64, u64)]) -> Option<u64> {
    let mut v = v.to_vec();
    v.sort_unstable();
    let half = v.iter().map(|p| p.1).sum::<u64>().div_ceil(2);
    let mut seen = 0;
    v.into_iter().find_map(|(x, w)| {
        seen += w;
        (seen >= half).then_some(x)
    })
}

/// A subject's profiles: retransmission share (percent), RTT out, RTT in (ms).
#[derive(Default)]
struct Profile {
    retrans: Seasonal,
    rtt: [Seasonal; 2],
    minute: Minute,
}

/// Memory one followed subject takes at most: its profiles (the week's
/// slots boxed), its minute's two RTT histograms and exact lists, and its
/// place in the map.
pub const SUBJECT_BYTES: usize = std::mem::size_of::<(Subject, Box<Profile>)>()
    + std::mem::size_of::<Profile>()
    + 3 * std::mem::size_of::<[Slot; 168]>()
    + 2 * std::mem::size_of::<RttHistogram>()
    + 2 * (FEW + 1) * std::mem::size_of::<(u64, u64)>()
    + 64;

/// The detector.
pub struct TcpDegradation {
    cfg: Config,
    profile_cfg: baseline::Config,
    subjects: Map<Subject, Box<Profile>>,
    /// The minute (seconds since the epoch) being summed.
    minute: Option<i64>,
    /// Updates of subjects not followed because the table was full.
    refused: u64,
}

const MINUTE: i64 = 60;

impl TcpDegradation {
    /// A detector that has learned nothing.
    pub fn new(cfg: &Config) -> TcpDegradation {
        TcpDegradation {
            cfg: cfg.clone(),
            profile_cfg: cfg.profile(),
            subjects: Map::default(),
            minute: None,
            refused: 0,
        }
    }

    fn add(&mut self, s: Subject, r: &FlowRow<'_>) {
        let full = self.subjects.len() >= self.cfg.max_entities;
        match self.subjects.get_mut(&s) {
            Some(p) => p.minute.add(r),
            None if full && !matches!(s, Subject::Iface(_)) => self.refused += 1,
            None => self.subjects.entry(s).or_default().minute.add(r),
        }
    }

    /// Closes minutes before the one containing `now_secs`.
    fn close_until(&mut self, now_secs: i64, out: &mut Vec<Alert>) {
        let cur = now_secs - now_secs.rem_euclid(MINUTE);
        match self.minute {
            None => self.minute = Some(cur),
            Some(m) if cur > m => {
                self.close(m, out);
                self.minute = Some(cur);
            }
            Some(_) => {}
        }
    }

    fn close(&mut self, minute: i64, out: &mut Vec<Alert>) {
        let at = hours(minute);
        let mut fired = Vec::new();
        let mut parts = Vec::new();
        let need = self.cfg.minutes_degraded;
        for (s, p) in self.subjects.iter_mut() {
            let m = std::mem::take(&mut p.minute);
            if m.segments >= self.cfg.min_segments {
                let rate = 100.0 * (m.retrans[0] + m.retrans[1]) as f64 / m.segments as f64;
                let x = Judged {
                    value: rate,
                    floor: 0.2,
                    rise: self.cfg.min_retrans_percent,
                    ratio: 1.0,
                    log: false,
                    enough: m.retrans[0] + m.retrans[1] >= self.cfg.min_retransmissions,
                };
                if let Some(r) = x.judge(&mut p.retrans, at, &self.profile_cfg, need) {
                    parts.push(retrans_part(&m, r));
                }
            }
            for side in 0..2 {
                let Some(ms) = m.rtt_ms(side, self.cfg.min_rtt_samples) else {
                    continue;
                };
                let x = Judged {
                    value: ms,
                    // ±5 %: a steady path's RTT moves less than that.
                    floor: 0.05,
                    rise: self.cfg.min_rtt_rise_ms,
                    ratio: self.cfg.min_rtt_ratio,
                    log: true,
                    enough: true,
                };
                if let Some(r) = x.judge(&mut p.rtt[side], at, &self.profile_cfg, need) {
                    parts.push(rtt_part(&m, side, r));
                }
            }
            if !parts.is_empty() {
                fired.push(tcp_alert(s, minute, &m, std::mem::take(&mut parts)));
            }
        }
        fired.sort_by(|a: &Alert, b| a.entity.cmp(&b.entity).then(a.summary.cmp(&b.summary)));
        out.extend(fired);
    }
}

/// A minute's value of one profile, and what a rise must also be to alert.
struct Judged {
    value: f64,
    /// Least spread (on the profile's scale): noise below it is not news.
    floor: f64,
    /// Least rise over the expected value.
    rise: f64,
    /// Least ratio to the expected value.
    ratio: f64,
    /// Learned and judged on a log scale.
    log: bool,
    /// The minute has enough events to alert on (else it only teaches).
    enough: bool,
}

/// A rise that alerted: the value, what was expected, the band, the score
/// and which profile slot answered.
struct Rise {
    value: f64,
    expected: f64,
    band: [f64; 2],
    z: f64,
    which: &'static str,
}

impl Judged {
    /// Learns the minute unless it is a rise; returns the rise once it has
    /// lasted `need` minutes in a row (an open alert fires once until the
    /// value is back in range).
    fn judge(
        &self,
        p: &mut Seasonal,
        at: (usize, usize),
        cfg: &baseline::Config,
        need: u32,
    ) -> Option<Rise> {
        let mut streak = p.streak;
        let result = self.judge_at(&mut p.at(at), cfg, need, &mut streak);
        p.streak = streak;
        result
    }

    /// [`Judged::judge`] on the profile's slots of the minute.
    fn judge_at(
        &self,
        p: &mut At<'_>,
        cfg: &baseline::Config,
        need: u32,
        streak: &mut u32,
    ) -> Option<Rise> {
        let (t, back) = self.scale();
        let x = t(self.value);
        if let Some((e, mad, which)) = p.expected(cfg.min_minutes) {
            // On the linear scale at least a tenth of the expected value
            // (minute-to-minute noise); on the log scale that is the floor.
            let tenth = if self.log { 0.0 } else { 0.1 * e };
            let spread = (1.25 * mad).max(tenth).max(self.floor);
            let z = (x - e) / spread;
            let e_lin = back(e);
            let rising =
                z >= cfg.z && self.value - e_lin >= self.rise && self.value >= self.ratio * e_lin;
            if rising {
                // A degraded minute does not teach the profile, nor does
                // one too thin to alert on.
                if !self.enough {
                    return None;
                }
                *streak += 1;
                if *streak < need || p.head.open == Some(Kind::TcpDegradation) {
                    return None;
                }
                p.head.open = Some(Kind::TcpDegradation);
                return Some(Rise {
                    value: self.value,
                    expected: e_lin,
                    band: [
                        back((e - cfg.z * spread).max(0.0)),
                        back(e + cfg.z * spread),
                    ],
                    z,
                    which,
                });
            }
            *streak = 0;
            if z < cfg.z / 2.0 {
                p.head.open = None;
            }
        }
        p.learn(x, cfg, 1);
        None
    }

    /// The scale the profile learns on, and back: RTTs spread over orders
    /// of magnitude, so they are judged on a log scale (a rise is a ratio).
    #[allow(clippy::type_complexity)]
    fn scale(&self) -> (fn(f64) -> f64, fn(f64) -> f64) {
        if self.log {
            (f64::ln_1p, f64::exp_m1)
        } else {
            (|v| v, |v| v)
        }
    }
}

fn severity(z: f64) -> Severity {
    if z >= 20.0 {
        Severity::High
    } else if z >= 10.0 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

/// One figure of a subject's minute that rose: what it says, what to do,
/// its unit and feature name, and the rise.
struct Part {
    text: String,
    action: &'static str,
    unit: &'static str,
    feature: &'static str,
    rise: Rise,
}

/// One alert for all that rose in a subject's minute (one per kind and
/// entity gets past the limiter): the highest score leads the evidence.
fn tcp_alert(s: &Subject, minute: i64, m: &Minute, mut parts: Vec<Part>) -> Alert {
    parts.sort_by(|a, b| b.rise.z.total_cmp(&a.rise.z));
    let lead = &parts[0];
    let r = &lead.rise;
    let texts: Vec<&str> = parts.iter().map(|p| p.text.as_str()).collect();
    let summary = format!(
        "{}: {} in the minute to {}{}",
        s.name(),
        texts.join("; and "),
        hhmm_utc(minute + MINUTE),
        m.role()
    );
    let actions: Vec<&str> = parts.iter().map(|p| p.action).collect();
    Alert {
        time: Timestamp::from_secs(minute + MINUTE),
        kind: Kind::TcpDegradation,
        severity: severity(r.z),
        entity: s.entity(),
        summary,
        evidence: Evidence {
            observed: r.value,
            baseline: Some(r.expected),
            expected: Some(r.band),
            threshold: r.band[1],
            unit: lead.unit.into(),
            score: r.z,
            contributors: parts
                .iter()
                .map(|p| Contributor {
                    feature: format!(
                        "{} (expected {:.2}, {})",
                        p.feature, p.rise.expected, p.rise.which
                    ),
                    value: p.rise.value,
                })
                .collect(),
            ..Evidence::default()
        },
        action: actions.join(" "),
        detector: "tcp_degradation".into(),
        suppressed: 0,
    }
}

fn retrans_part(m: &Minute, r: Rise) -> Part {
    let [own, peers] = m.retrans;
    let (side, action) = if peers >= own {
        (
            "mostly by its peers: segments sent towards it are lost on the way in (or before the capture point)",
            "Look for loss on the inbound path (interface errors, a congested uplink, a policer) with history top --sort retrans --by remote.",
        )
    } else {
        (
            "mostly by itself: its segments are lost on the way to its peers",
            "Look for loss on the outbound path (a full queue, a shaper, a bad link) with history top --sort retrans --by remote.",
        )
    };
    Part {
        text: format!(
            "TCP retransmissions rose to {:.2} % of segments ({} of {}), expected {:.2} % ({:.2}–{:.2} %) for {}; resent {side} ({} by it, {} by its peers)",
            r.value,
            thousands(own + peers),
            thousands(m.segments),
            r.expected,
            r.band[0],
            r.band[1],
            r.which,
            thousands(own),
            thousands(peers),
        ),
        action,
        unit: "% of segments",
        feature: "retransmitted segments (%)",
        rise: r,
    }
}

fn rtt_part(m: &Minute, side: usize, r: Rise) -> Part {
    let other = m
        .rtt_ms(1 - side, 1)
        .map_or("not measured".into(), |ms| format!("{ms:.1} ms"));
    let (where_, other_name, action, feature) = if side == 0 {
        (
            "beyond the capture point (the path to its peers, or the peers themselves)",
            "its own side",
            "Compare with other hosts on the same path (history top --sort rtt --by remote); a queue building on the uplink or a slow peer looks like this.",
            "round trip, peers' side (ms)",
        )
    } else {
        (
            "on its own side of the capture point (the host itself or its local network: a busy receiver, delayed ACKs)",
            "the peers' side",
            "Look at the host: CPU, socket buffers, the application reading slowly.",
            "round trip, own side (ms)",
        )
    };
    Part {
        text: format!(
            "TCP round trip rose to {:.1} ms (median of {} samples), expected {:.1} ms ({:.1}–{:.1} ms) for {}; the delay is {where_}; {other_name}: {other}",
            r.value,
            thousands(m.rtt_samples[side]),
            r.expected,
            r.band[0],
            r.band[1],
            r.which,
        ),
        action,
        unit: "ms",
        feature,
        rise: r,
    }
}

impl TcpDegradation {
    /// Teaches `subject`'s profiles an hour row's figures (warm start):
    /// the retransmission share, and each side's mean RTT (the hour's
    /// connections are not told apart any more: the mean stands for the
    /// minutes' medians), when the hour had enough per minute.
    pub fn warm(
        &mut self,
        s: &Subject,
        start_secs: i64,
        minutes: u32,
        segments: u64,
        tcp: &RowTcp,
    ) {
        let full = self.subjects.len() >= self.cfg.max_entities;
        if full && !matches!(s, Subject::Iface(_)) && !self.subjects.contains_key(s) {
            self.refused += 1;
            return;
        }
        let p = self.subjects.entry(s.clone()).or_default();
        let (at, m, cfg) = (
            hours(start_secs),
            u64::from(minutes.max(1)),
            &self.profile_cfg,
        );
        // Minute by minute, as live: the first value starts the spread wide,
        // the following ones narrow it (one weighted lesson would not).
        let teach = |s: &mut Seasonal, x: f64| {
            let mut p = s.at(at);
            for _ in 0..m {
                p.learn(x, cfg, 1);
            }
        };
        if segments >= self.cfg.min_segments * m {
            teach(
                &mut p.retrans,
                100.0 * (tcp.retrans[0] + tcp.retrans[1]) as f64 / segments as f64,
            );
        }
        for side in 0..2 {
            let n = tcp.rtt_samples[side];
            if n >= self.cfg.min_rtt_samples * m {
                let ms = tcp.rtt_sum_us[side] as f64 / n as f64 / 1e3;
                teach(&mut p.rtt[side], ms.ln_1p());
            }
        }
    }
}

impl RowDetector for TcpDegradation {
    fn name(&self) -> &'static str {
        "tcp_degradation"
    }

    fn rows(&mut self, now: Timestamp, rows: &[FlowRow], out: &mut Vec<Alert>) {
        for r in rows {
            if r.tcp.is_empty() || r.protocol != proto::TCP {
                continue;
            }
            let t = r.ts.as_nanos().div_euclid(1_000_000_000);
            self.close_until(t, out);
            self.add(Subject::Iface(r.iface.to_string()), r);
            self.add(Subject::Host(r.local), r);
            if let Some(p) = r.process {
                self.add(Subject::Process(p.to_string()), r);
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
