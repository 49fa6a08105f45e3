//! Forecast watch: traffic compared with its forecast, and links whose
//! forecast approaches their capacity.
//!
//! The forecasts themselves are made elsewhere (the `wirewatch-forecast`
//! crate, from history); this detector is handed an [`Expectation`] per
//! interface and direction (a point forecast and its 99 % band at a fixed
//! step) and judges each completed step of observed traffic against it:
//! outside the band is a `forecast_deviation` alert. [`capacity_alert`]
//! turns a forecast's upper band into a `capacity` warning.

use crate::alert::{Alert, Contributor, Entity, Evidence, Kind, Severity};
use crate::detector::{FlowRow, RowDetector};
use crate::Map;
use wirewatch_units::{bit_rate, civil_from_days, hhmm_utc};
use wirewatch_wire::Timestamp;

/// What one interface's traffic in one direction is expected to be.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// Interface name.
    pub iface: String,
    /// Received (true) or sent traffic.
    pub inbound: bool,
    /// Start of the first step, seconds since the epoch (a multiple of `step`).
    pub start: i64,
    /// Step length, seconds.
    pub step: i64,
    /// Point forecast per step, bit/s.
    pub point: Vec<f64>,
    /// Lower bound of the band per step, bit/s.
    pub lower: Vec<f64>,
    /// Upper bound of the band per step, bit/s.
    pub upper: Vec<f64>,
    /// The band's coverage (0.99).
    pub level: f64,
    /// The model that made it.
    pub model: String,
}

impl Expectation {
    /// Where the forecast ends (seconds).
    pub fn end(&self) -> i64 {
        self.start + self.step * self.point.len() as i64
    }
}

/// "inbound"/"outbound".
fn dir(inbound: bool) -> &'static str {
    if inbound {
        "inbound"
    } else {
        "outbound"
    }
}

/// "14:00 UTC today", "14:00 UTC tomorrow", "14:00 UTC on 2026-11-26".
pub fn when(t: i64, now: i64) -> String {
    let days = t.div_euclid(86_400) - now.div_euclid(86_400);
    match days {
        0 => format!("{} today", hhmm_utc(t)),
        1 => format!("{} tomorrow", hhmm_utc(t)),
        _ => {
            let (y, m, d) = civil_from_days(t.div_euclid(86_400));
            format!("{} on {y:04}-{m:02}-{d:02}", hhmm_utc(t))
        }
    }
}

/// A `capacity` alert when the forecast's upper band (`upper`, bit/s per
/// step from `start`) reaches `fraction` of `capacity` bit/s, dated at the
/// first step that does; `None` when it stays below. `now` is when the
/// forecast was made.
#[allow(clippy::too_many_arguments)]
pub fn capacity_alert(
    iface: &str,
    inbound: bool,
    start: i64,
    step: i64,
    point: &[f64],
    upper: &[f64],
    level: f64,
    capacity: f64,
    fraction: f64,
    now: i64,
) -> Option<Alert> {
    let limit = capacity * fraction;
    let k = upper.iter().position(|&u| u >= limit)?;
    let t = start + k as i64 * step;
    let point_crosses = point.iter().position(|&p| p >= limit);
    let peak = upper.iter().cloned().fold(0.0, f64::max);
    let severity = match point_crosses {
        Some(0) => Severity::High,
        Some(_) => Severity::Medium,
        None => Severity::Low,
    };
    let pct = (fraction * 100.0 * 10.0).round() / 10.0;
    Some(Alert {
        time: Timestamp::from_secs(now),
        kind: Kind::Capacity,
        severity,
        entity: Entity::Iface { name: iface.into() },
        summary: format!(
            "{iface} {} is forecast to pass {pct} % of {} around {} (upper {:.0} % band {}, forecast {}{})",
            dir(inbound),
            bit_rate(capacity),
            when(t, now),
            level * 100.0,
            bit_rate(upper[k]),
            bit_rate(point[k]),
            match point_crosses {
                Some(j) => format!("; the forecast itself crosses around {}", when(start + j as i64 * step, now)),
                None => String::new(),
            }
        ),
        evidence: Evidence {
            observed: upper[k],
            baseline: Some(point[k]),
            expected: None,
            threshold: limit,
            unit: "bit/s".into(),
            score: peak / limit,
            contributors: vec![Contributor {
                feature: "steps ahead".into(),
                value: k as f64,
            }],
            ..Evidence::default()
        },
        action: "Plan capacity: move or shape the largest flows (history top --by pair), or upgrade the link before then.".into(),
        detector: "forecast".into(),
        suppressed: 0,
    })
}

/// Traffic being summed into the current step.
#[derive(Clone, Copy, Debug)]
struct Acc {
    start: i64,
    bytes: u64,
}

/// Judges each completed step of traffic per interface and direction
/// against its [`Expectation`].
#[derive(Debug, Default)]
pub struct ForecastWatch {
    exp: Map<(String, bool), Expectation>,
    acc: Map<(String, bool), Acc>,
    /// Steps already judged (the first one seen is partial and skipped).
    judged_from: Map<(String, bool), i64>,
}

impl ForecastWatch {
    /// An empty watch.
    pub fn new() -> ForecastWatch {
        ForecastWatch::default()
    }

    /// Uses `e` from now on for its interface and direction.
    pub fn expect(&mut self, e: Expectation) {
        self.exp.insert((e.iface.clone(), e.inbound), e);
    }

    /// How many interface directions have an expectation.
    pub fn expectation_count(&self) -> usize {
        self.exp.len()
    }

    /// Judges the step in `a`, and every silent step after it before `upto`.
    fn close(&mut self, key: &(String, bool), a: Acc, upto: i64, out: &mut Vec<Alert>) {
        let Some(e) = self.exp.get(key) else {
            return;
        };
        let step = e.step;
        let first = *self
            .judged_from
            .entry(key.clone())
            .or_insert(a.start + step);
        let mut t = a.start;
        let mut bytes = a.bytes;
        // Silent steps count as zero, up to the end of the forecast.
        while t + step <= upto && t < e.end() {
            if t >= first {
                if let Some(al) = judge(e, t, bytes) {
                    out.push(al);
                }
            }
            t += step;
            bytes = 0;
        }
    }
}

/// An alert when `bytes` in the step from `t` fall outside the band.
fn judge(e: &Expectation, t: i64, bytes: u64) -> Option<Alert> {
    if t < e.start {
        return None;
    }
    let k = ((t - e.start) / e.step) as usize;
    let (p, lo, hi) = (*e.point.get(k)?, e.lower[k], e.upper[k]);
    let x = bytes as f64 * 8.0 / e.step as f64;
    // Past the band by less than 1 % of the forecast (or a bit per
    // second, for a direction with no traffic and a band of [0, 0]) is
    // rounding, not news.
    let tol = 1.0 + 0.01 * p.abs();
    let above = x > hi + tol;
    if !above && x >= lo - tol {
        return None;
    }
    let ratio = if above {
        x / hi.max(1.0)
    } else {
        lo / x.max(1.0)
    };
    let severity = if ratio >= 4.0 {
        Severity::High
    } else if ratio >= 2.0 {
        Severity::Medium
    } else {
        Severity::Low
    };
    let mins = e.step / 60;
    Some(Alert {
        time: Timestamp::from_secs(t + e.step),
        kind: Kind::ForecastDeviation,
        severity,
        entity: Entity::Iface {
            name: e.iface.clone(),
        },
        summary: format!(
            "{} {} carried {} in the {mins} min to {}, {} its forecast band (expected {}, {:.0} % band {}–{}, {})",
            e.iface,
            dir(e.inbound),
            bit_rate(x),
            hhmm_utc(t + e.step),
            if above { "above" } else { "below" },
            bit_rate(p),
            e.level * 100.0,
            bit_rate(lo),
            bit_rate(hi),
            e.model
        ),
        evidence: Evidence {
            observed: x,
            baseline: Some(p),
            expected: Some([lo, hi]),
            threshold: if above { hi } else { lo },
            unit: "bit/s".into(),
            score: ratio,
            contributors: Vec::new(),
            ..Evidence::default()
        },
        action: if above {
            "See who sent it (history top --by pair --since the step); if it is the new normal, the next forecasts learn it."
        } else {
            "Check the link and the services behind it: traffic far below its forecast is often an outage."
        }
        .into(),
        detector: "forecast".into(),
        suppressed: 0,
    })
}

impl RowDetector for ForecastWatch {
    fn name(&self) -> &'static str {
        "forecast"
    }

    fn rows(&mut self, now: Timestamp, rows: &[FlowRow], out: &mut Vec<Alert>) {
        if self.exp.is_empty() {
            return;
        }
        for r in rows {
            let t = r.ts.as_nanos().div_euclid(1_000_000_000);
            for (inbound, b) in [(true, r.bytes_in), (false, r.bytes_out)] {
                let key = (r.iface.to_string(), inbound);
                let Some(step) = self.exp.get(&key).map(|e| e.step) else {
                    continue;
                };
                let start = t.div_euclid(step) * step;
                match self.acc.get(&key).copied() {
                    Some(a) if a.start == start => {
                        self.acc.get_mut(&key).unwrap().bytes += b;
                    }
                    Some(a) if a.start < start => {
                        self.close(&key, a, start, out);
                        self.acc.insert(key, Acc { start, bytes: b });
                    }
                    // A row older than the step being summed: late, counted there.
                    Some(_) => self.acc.get_mut(&key).unwrap().bytes += b,
                    None => {
                        self.acc.insert(key, Acc { start, bytes: b });
                    }
                }
            }
        }
        self.advance(now, out);
    }

    fn advance(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        let now = now.as_nanos().div_euclid(1_000_000_000);
        let keys: Vec<(String, bool)> = self.acc.keys().cloned().collect();
        for key in keys {
            let a = self.acc[&key];
            let Some(step) = self.exp.get(&key).map(|e| e.step) else {
                continue;
            };
            if now >= a.start + step {
                let cur = now.div_euclid(step) * step;
                self.close(&key, a, cur, out);
                self.acc.insert(
                    key,
                    Acc {
                        start: cur,
                        bytes: 0,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    const T0: i64 = 1_795_392_000; // a multiple of 300

    /// A flat expectation of 8 kbit/s (300 kB a step), band 6–10 kbit/s,
    /// for `steps` steps from `T0` on eth0 inbound.
    fn flat(steps: usize) -> Expectation {
        Expectation {
            iface: "eth0".into(),
            inbound: true,
            start: T0,
            step: 300,
            point: vec![8_000.0; steps],
            lower: vec![6_000.0; steps],
            upper: vec![10_000.0; steps],
            level: 0.99,
            model: "test".into(),
        }
    }

    fn row(ts: i64, bytes_in: u64) -> FlowRow<'static> {
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5));
        FlowRow {
            ts: Timestamp::from_secs(ts),
            iface: "eth0",
            local: a,
            remote: a,
            local_port: 1,
            remote_port: 2,
            protocol: 17,
            process: None,
            bytes_out: 0,
            bytes_in,
            packets_out: 0,
            packets_in: 1,
            tcp: Default::default(),
        }
    }

    /// Feeds one row a minute (`per_min(minute)` bytes) up to `minutes`,
    /// then advances to `end`; returns the alerts' (time, observed) pairs.
    fn run(minutes: i64, per_min: &dyn Fn(i64) -> u64, end: i64) -> Vec<(i64, f64, bool)> {
        let mut w = ForecastWatch::new();
        w.expect(flat(12));
        let mut out = Vec::new();
        for m in 0..minutes {
            let ts = T0 + 60 * m;
            w.rows(
                Timestamp::from_secs(ts + 60),
                &[row(ts, per_min(m))],
                &mut out,
            );
        }
        w.advance(Timestamp::from_secs(end), &mut out);
        out.iter()
            .map(|a| {
                (
                    a.time.as_nanos() / 1_000_000_000,
                    a.evidence.observed,
                    a.summary.contains("above"),
                )
            })
            .collect()
    }

    #[test]
    fn steps_inside_the_band_are_quiet_and_outside_fire_once_each() {
        // 60 kB a minute = 300 kB a step = 8 kbit/s: inside.
        assert!(run(30, &|_| 60_000, T0 + 1800).is_empty());
        // Minutes 15–19 (the fourth step) carry 5× as much.
        let burst = |m: i64| {
            if (15..20).contains(&m) {
                300_000
            } else {
                60_000
            }
        };
        let a = run(30, &burst, T0 + 1800);
        assert_eq!(a, vec![(T0 + 1200, 40_000.0, true)]);
    }

    #[test]
    fn the_first_step_is_partial_and_not_judged() {
        // The run starts at minute 3: its first step has two minutes only
        // (far below the band) and is skipped; the next ones are judged.
        let mut w = ForecastWatch::new();
        w.expect(flat(12));
        let mut out = Vec::new();
        for m in 3..15 {
            let ts = T0 + 60 * m;
            w.rows(Timestamp::from_secs(ts + 60), &[row(ts, 60_000)], &mut out);
        }
        w.advance(Timestamp::from_secs(T0 + 900), &mut out);
        assert!(
            out.is_empty(),
            "{:?}",
            out.iter().map(|a| &a.summary).collect::<Vec<_>>()
        );
    }

    #[test]
    fn silent_steps_count_as_zero_and_late_rows_count_where_they_land() {
        // Traffic for two steps, then nothing until the clock passes two
        // more: both silent steps fall below the band.
        let a = run(10, &|_| 60_000, T0 + 1200);
        assert_eq!(
            a,
            vec![(T0 + 900, 0.0, false), (T0 + 1200, 0.0, false)],
            "{a:?}"
        );
        // A row older than the step being summed is added to that step.
        let mut w = ForecastWatch::new();
        w.expect(flat(12));
        let mut out = Vec::new();
        for m in 0..10 {
            let ts = T0 + 60 * m;
            w.rows(Timestamp::from_secs(ts + 60), &[row(ts, 60_000)], &mut out);
        }
        // Minute 10 (step 2) arrives with a late row from minute 7 that
        // carries 300 kB more.
        w.rows(
            Timestamp::from_secs(T0 + 660),
            &[row(T0 + 600, 60_000), row(T0 + 420, 300_000)],
            &mut out,
        );
        for m in 11..15 {
            let ts = T0 + 60 * m;
            w.rows(Timestamp::from_secs(ts + 60), &[row(ts, 60_000)], &mut out);
        }
        w.advance(Timestamp::from_secs(T0 + 900), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].time, Timestamp::from_secs(T0 + 900));
        assert_eq!(out[0].evidence.observed, 16_000.0);
    }

    #[test]
    fn nothing_is_judged_past_the_forecast() {
        // The forecast covers 12 steps (an hour): silence after it is not
        // judged against anything.
        let a = run(10, &|_| 60_000, T0 + 10 * 3600);
        assert_eq!(a.len(), 10, "steps 2..12 silent: {a:?}");
        assert!(a.iter().all(|(t, _, above)| *t <= T0 + 3600 && !above));
    }

    #[test]
    fn capacity_alert_dates_the_first_crossing() {
        let now = T0 + 9 * 3600;
        let upper = [10.0, 50.0, 95.0, 99.0];
        let point = [5.0, 40.0, 80.0, 91.0];
        let a = capacity_alert(
            "eth0", false, now, 3600, &point, &upper, 0.95, 100.0, 0.9, now,
        )
        .unwrap();
        assert_eq!(a.kind, Kind::Capacity);
        assert_eq!(a.severity, Severity::Medium);
        assert!(
            a.summary.starts_with(
                "eth0 outbound is forecast to pass 90 % of 100 bit/s around 11:00 UTC today"
            ),
            "{}",
            a.summary
        );
        assert!(a
            .summary
            .contains("the forecast itself crosses around 12:00 UTC today"));
        assert!(
            capacity_alert("eth0", false, now, 3600, &point, &upper, 0.95, 1000.0, 0.9, now)
                .is_none()
        );
    }

    #[test]
    fn dates_read_as_people_say_them() {
        let now = 1_795_392_000 + 9 * 3600; // 2026-11-23 09:00
        assert_eq!(when(now + 5 * 3600, now), "14:00 UTC today");
        assert_eq!(when(now + 29 * 3600, now), "14:00 UTC tomorrow");
        assert_eq!(when(now + 53 * 3600, now), "14:00 UTC on 2026-11-25");
    }
}
