//! `forecast` from history: the request checked into a plan, the
//! forecasts made from the store, and the JSON `--json` prints. The table,
//! CSV and chart stay with the command line.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use serde_json::{json, Value};
use wirewatch_detect::{capacity_alert, Alert};
use wirewatch_forecast::forecast::forecast_filled;
use wirewatch_forecast::{Forecast, Model, Settings};
use wirewatch_store::time::{parse_duration, parse_time, rfc3339, short};
use wirewatch_store::{Selection, SqliteStore};

use super::history::{open, usage, where_data_is, FromQuery};
use super::params::{self, Direction};
use super::Failure;
use crate::rates::{configured_capacity, rate_history, RateHistory};

/// What `[forecast]` in the configuration gives a forecast.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ForecastDefaults {
    /// `[forecast.capacity]`: link capacity per interface, bit/s.
    pub capacity: BTreeMap<String, f64>,
    /// `capacity-fraction`.
    pub fraction: Option<f64>,
}

/// `wirewatch forecast` (from history), as given.
#[derive(Clone, Debug, PartialEq)]
pub struct ForecastRequest {
    /// `--iface`.
    pub iface: Option<String>,
    /// `--host`.
    pub host: Option<IpAddr>,
    /// `--process`.
    pub process: Option<String>,
    /// `--horizon`.
    pub horizon: String,
    /// `--step`.
    pub step: String,
    /// `--history`.
    pub history: String,
    /// `--until`.
    pub until: String,
    /// `--direction`.
    pub direction: Direction,
    /// `--method`.
    pub method: String,
    /// `--capacity`.
    pub capacity: Option<String>,
    /// `--capacity-fraction`.
    pub capacity_fraction: Option<f64>,
}

impl Default for ForecastRequest {
    fn default() -> ForecastRequest {
        ForecastRequest {
            iface: None,
            host: None,
            process: None,
            horizon: "24h".into(),
            step: "5m".into(),
            history: "28d".into(),
            until: "now".into(),
            direction: Direction::Both,
            method: "auto".into(),
            capacity: None,
            capacity_fraction: None,
        }
    }
}

/// The options that exclude each other, as the usage names them.
const WHO: [(&str, &str); 3] = [
    ("iface", "--iface <IFACE>"),
    ("host", "--host <ADDR>"),
    ("process", "--process <NAME>"),
];

impl ForecastRequest {
    /// Which of `--iface`, `--host`, `--process` are set.
    fn who_given(&self) -> [bool; 3] {
        [
            self.iface.is_some(),
            self.host.is_some(),
            self.process.is_some(),
        ]
    }
}

impl FromQuery for ForecastRequest {
    fn keys() -> Vec<&'static str> {
        vec![
            "iface",
            "host",
            "process",
            "horizon",
            "step",
            "history",
            "until",
            "direction",
            "method",
            "capacity",
            "capacity-fraction",
        ]
    }

    fn apply(&mut self, key: &str, value: &str, _: &mut bool) -> Result<bool, String> {
        if let Some(k) = WHO.iter().position(|(n, _)| *n == key) {
            if let Some(j) = self.who_given().iter().position(|&g| g) {
                if j != k {
                    return Err(format!(
                        "{}{}",
                        params::conflict(WHO[j].1, WHO[k].1),
                        params::USAGE_HINT
                    ));
                }
            }
        }
        match key {
            "iface" => self.iface = Some(value.into()),
            "host" => self.host = Some(usage(params::addr("--host <ADDR>", value))?),
            "process" => self.process = Some(value.into()),
            "horizon" => self.horizon = value.into(),
            "step" => self.step = value.into(),
            "history" => self.history = value.into(),
            "until" => self.until = value.into(),
            "direction" => self.direction = usage(Direction::parse(value))?,
            "method" => self.method = value.into(),
            "capacity" => self.capacity = Some(value.into()),
            "capacity-fraction" => {
                self.capacity_fraction = Some(usage(params::float(
                    "--capacity-fraction <FRACTION>",
                    value,
                ))?)
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// What a forecast is asked for, checked before any work.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Step, seconds.
    pub step: i64,
    /// Horizon in steps.
    pub h: usize,
    /// Where history ends (before rounding to whole steps).
    pub until: i64,
    /// History read: from.
    pub from: i64,
    /// History read: to (whole steps).
    pub to: i64,
    /// Share of capacity warned at.
    pub fraction: f64,
    /// Capacity and where it came from.
    pub capacity: Option<(f64, &'static str)>,
    /// The forecasting settings.
    pub settings: Settings,
}

/// The link capacity of `iface`: `--capacity`, then the configuration,
/// then the speed the driver reports.
fn capacity_of(
    given: Option<&str>,
    iface: Option<&str>,
    d: &ForecastDefaults,
) -> Result<Option<(f64, &'static str)>, String> {
    if let Some(c) = given {
        return Ok(Some((
            params::parse_rate(c).map_err(|e| format!("--capacity: {e}"))?,
            "--capacity",
        )));
    }
    Ok(iface.and_then(|i| configured_capacity(i, &d.capacity, true)))
}

impl ForecastRequest {
    /// Checks the request against `now`, in the order the messages are
    /// reported; `max_points`: most history points read (the web API's
    /// bound; `usize::MAX` on the command line).
    pub fn plan(&self, d: &ForecastDefaults, now: i64, max_points: usize) -> Result<Plan, Failure> {
        self.check(d, now, max_points).map_err(Failure::Bad)
    }

    fn check(&self, d: &ForecastDefaults, now: i64, max_points: usize) -> Result<Plan, String> {
        let step = parse_duration(&self.step).map_err(|e| format!("--step: {e}"))?;
        if step < 60 || step % 60 != 0 || step > 86_400 {
            return Err(format!(
                "--step must be whole minutes up to a day (1m, 5m, 1h, 1d), got '{}'",
                self.step
            ));
        }
        let h = self.horizon_steps(step)?;
        let span = parse_duration(&self.history).map_err(|e| format!("--history: {e}"))?;
        let until = parse_time(&self.until, now).map_err(|e| format!("--until: {e}"))?;
        // Only whole steps: the current one is still filling.
        let to = until.div_euclid(step) * step;
        let from = to - span;
        if span < step {
            return Err(format!(
                "--history {} is shorter than the step",
                self.history
            ));
        }
        if (span / step) as u64 > max_points as u64 {
            return Err(format!(
                "--history {} at --step {} is more than {} steps here: choose a larger step or a shorter history",
                self.history,
                self.step,
                wirewatch_units::thousands(max_points as u64)
            ));
        }
        let fraction = self.capacity_fraction.or(d.fraction).unwrap_or(0.9);
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(format!(
                "--capacity-fraction must be more than 0 and at most 1, got {fraction}"
            ));
        }
        if self.capacity.is_some() && self.iface.is_none() {
            return Err("--capacity is a link's: give --iface".into());
        }
        let capacity = capacity_of(self.capacity.as_deref(), self.iface.as_deref(), d)?;
        let mut settings = Settings::for_step(step as u64, h);
        settings.model = Model::parse(&self.method, step as u64)?;
        Ok(Plan {
            step,
            h,
            until,
            from,
            to,
            fraction,
            capacity,
            settings,
        })
    }

    /// `--horizon` in steps of `step`.
    fn horizon_steps(&self, step: i64) -> Result<usize, String> {
        let horizon = parse_duration(&self.horizon).map_err(|e| format!("--horizon: {e}"))?;
        if horizon < step {
            return Err(format!(
                "--horizon {} is shorter than the step {}",
                self.horizon, self.step
            ));
        }
        if horizon % step != 0 {
            return Err(format!(
                "--horizon {} is not a whole number of steps of {}",
                self.horizon, self.step
            ));
        }
        let h = (horizon / step) as usize;
        if h > 100_000 {
            return Err(format!(
                "--horizon {} at --step {} is more than 100,000 steps",
                self.horizon, self.step
            ));
        }
        Ok(h)
    }

    /// The selection: the interface, host or process.
    pub fn selection(&self) -> Selection {
        Selection {
            iface: self.iface.clone(),
            host: self.host,
            process: self.process.clone(),
            ..Selection::default()
        }
    }
}

/// What a selection is called: "interface eth0", "any traffic"…
pub fn describe(sel: &Selection) -> String {
    match (&sel.iface, sel.host, &sel.process) {
        (Some(i), _, _) => format!("interface {i}"),
        (_, Some(h), _) => format!("host {h}"),
        (_, _, Some(p)) => format!("process {p}"),
        _ => "any traffic".into(),
    }
}

/// One direction's forecast.
pub struct DirForecast {
    /// `inbound` or `outbound`.
    pub name: &'static str,
    /// Received traffic (else sent).
    pub inbound: bool,
    /// The history it learned from, bit/s per step.
    pub history: Vec<f64>,
    /// The forecast.
    pub f: Forecast,
}

/// The forecasts made.
pub struct Made {
    /// What was forecast ([`describe`]).
    pub who: String,
    /// The history read.
    pub hist: RateHistory,
    /// One forecast per direction asked.
    pub fs: Vec<DirForecast>,
    /// Where the forecast starts.
    pub start: i64,
    /// Capacity alerts.
    pub alerts: Vec<Alert>,
    /// Notes for the reader.
    pub notes: Vec<String>,
}

impl ForecastRequest {
    /// Reads the history of `db` and makes the forecasts `plan` asks for.
    pub fn make(&self, plan: &Plan, db: &Path) -> Result<Made, Failure> {
        let store = open(db)?;
        let sel = self.selection();
        let read = rate_history(&store, &sel, plan.from, plan.to, plan.step)
            .map_err(|e| Failure::Store(format!("{e:#}")))?;
        let Some(hist) = read else {
            return Err(no_traffic(&store, db, &sel, plan));
        };
        let dirs: &[(&'static str, bool)] = match self.direction {
            Direction::In => &[("inbound", true)],
            Direction::Out => &[("outbound", false)],
            Direction::Both => &[("inbound", true), ("outbound", false)],
        };
        let mut fs = Vec::new();
        for &(name, inbound) in dirs {
            let y = if inbound {
                &hist.inbound
            } else {
                &hist.outbound
            };
            let f = forecast_filled(y, &hist.missing, &plan.settings)
                .map_err(|e| Failure::Missing(format!("{name}: {e}")))?;
            fs.push(DirForecast {
                name,
                inbound,
                history: y.clone(),
                f,
            });
        }
        let start = hist.end();
        let alerts = self.capacity_alerts(plan, &fs, start);
        let notes = self.notes(plan, &hist);
        Ok(Made {
            who: describe(&sel),
            hist,
            fs,
            start,
            alerts,
            notes,
        })
    }

    /// The capacity alerts of the forecasts' upper 95 % bands.
    fn capacity_alerts(&self, plan: &Plan, fs: &[DirForecast], start: i64) -> Vec<Alert> {
        let (Some((cap, _)), Some(iface)) = (plan.capacity, &self.iface) else {
            return Vec::new();
        };
        fs.iter()
            .filter_map(|d| {
                let b = d.f.band(0.95)?;
                capacity_alert(
                    iface,
                    d.inbound,
                    start,
                    plan.step,
                    &d.f.point,
                    &b.upper,
                    0.95,
                    cap,
                    plan.fraction,
                    plan.until,
                )
            })
            .collect()
    }

    /// What the reader should know: filled steps, no capacity known.
    fn notes(&self, plan: &Plan, hist: &RateHistory) -> Vec<String> {
        let mut notes: Vec<String> = Vec::new();
        if hist.filled() > 0 {
            notes.push(format!(
                "{} step(s) without any recorded traffic (an hour or more: wirewatch not running) filled from the day before",
                hist.filled()
            ));
        }
        if let (None, Some(i)) = (plan.capacity, &self.iface) {
            notes.push(format!(
                "no capacity known for {i} (no --capacity, no [forecast.capacity] entry, no link speed): no capacity check"
            ));
        }
        notes
    }
}

/// The error of a forecast whose range holds no traffic: where there is some.
fn no_traffic(store: &SqliteStore, db: &Path, sel: &Selection, plan: &Plan) -> Failure {
    let there = match where_data_is(store, sel.host.is_some(), |r| {
        format!("--until {}", rfc3339(r.to))
    }) {
        Ok(t) => t,
        Err(e) => return e,
    };
    Failure::Missing(format!(
        "{}: no traffic recorded{} from {} to {} UTC; {there}",
        db.display(),
        if sel.is_empty() {
            String::new()
        } else {
            format!(" for {}", describe(sel))
        },
        short(plan.from),
        short(plan.to),
    ))
}

/// `forecast --json` (not yet tidied).
pub fn forecast_json(plan: &Plan, m: &Made) -> Value {
    let (start, step, h) = (m.start, plan.step, plan.h);
    let cap_json = plan
        .capacity
        .map(|(c, src)| json!({"bits_per_sec": c, "from": src, "fraction": plan.fraction}));
    let dirs: Vec<Value> =
        m.fs.iter()
            .map(|d| {
                let pts: Vec<Value> = (0..h)
                    .map(|k| {
                        let mut o = json!({
                            "time": rfc3339(start + k as i64 * step),
                            "forecast": d.f.point[k],
                        });
                        for b in &d.f.bands {
                            let l = (b.level * 100.0).round() as u32;
                            o[format!("lower{l}")] = json!(b.lower[k]);
                            o[format!("upper{l}")] = json!(b.upper[k]);
                        }
                        o
                    })
                    .collect();
                json!({
                    "direction": d.name,
                    "model": d.f.model.name(),
                    "windows": d.f.windows,
                    "candidates": d.f.candidates.iter().map(|c| json!({
                        "model": c.model.name(),
                        "mape": c.scores.map(|s| s.mape),
                        "smape": c.scores.map(|s| s.smape),
                        "mase": c.scores.map(|s| s.mase),
                        "wape": c.scores.map(|s| s.wape),
                    })).collect::<Vec<_>>(),
                    "notes": d.f.notes,
                    "points": pts,
                })
            })
            .collect();
    json!({
        "entity": m.who,
        "unit": "bit/s",
        "step_secs": step,
        "horizon_steps": h,
        "history": {
            "from": rfc3339(m.hist.start),
            "to": rfc3339(start),
            "points": m.hist.inbound.len(),
            "filled": m.hist.filled(),
        },
        "capacity": cap_json,
        "directions": dirs,
        "alerts": m.alerts,
        "notes": m.notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::params::query_pairs;

    fn plan(q: &str) -> Result<Plan, String> {
        let r = ForecastRequest::from_pairs(&query_pairs(q))?;
        r.plan(&ForecastDefaults::default(), 1_800_000_000, 20_000)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_request_is_checked_in_the_command_lines_order() {
        let p = plan("iface=eth0&horizon=1h&step=5m&capacity=1G").unwrap();
        assert_eq!((p.step, p.h), (300, 12));
        assert_eq!(p.capacity, Some((1e9, "--capacity")));
        assert_eq!(p.to % 300, 0);
        for (q, want) in [
            ("step=90s", "--step must be whole minutes up to a day"),
            ("horizon=1m", "--horizon 1m is shorter than the step 5m"),
            ("horizon=7m", "--horizon 7m is not a whole number of steps"),
            ("history=1m", "--history 1m is shorter than the step"),
            ("history=365d&step=1m", "is more than 20,000 steps here"),
            (
                "capacity-fraction=2",
                "--capacity-fraction must be more than 0",
            ),
            ("capacity=1G", "--capacity is a link's: give --iface"),
            ("iface=e&capacity=fast", "--capacity: expected a link rate"),
            ("until=tomorrow", "--until: 'tomorrow' is not a time"),
            ("direction=up", "(possible values: in, out, both); try"),
            (
                "host=10.0.0.1&process=x",
                "the argument '--host <ADDR>' cannot be used with '--process <NAME>'",
            ),
            ("colour=red", "unknown parameter 'colour'"),
        ] {
            let e = plan(q).unwrap_err();
            assert!(e.contains(want), "{q}: {e}");
        }
    }
}
