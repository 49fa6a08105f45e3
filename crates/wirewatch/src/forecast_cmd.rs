//! `wirewatch forecast`: traffic forecasts from the history store (point,
//! 80/95/99 % intervals, capacity warnings, a chart), and
//! `wirewatch forecast backtest`: the models scored on a CSV series.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use serde_json::{json, Value};
use wirewatch_detect::{capacity_alert, Alert};
use wirewatch_forecast::forecast::{clean_seasons, forecast_filled, scale_season};
use wirewatch_forecast::{backtest, csv as fcsv, gaps, Forecast, Model, Settings};
use wirewatch_store::query::{self, Range, SeriesSpec};
use wirewatch_store::time::{parse_duration, parse_time, rfc3339, short};
use wirewatch_store::{Selection, SqliteStore};
use wirewatch_units::bit_rate;

use crate::config::{parse_rate, ForecastConfig};
use crate::output::csv_field;

/// `wirewatch forecast …`.
#[derive(ClapArgs, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ForecastArgs {
    /// `backtest`, or nothing for a forecast from history.
    #[command(subcommand)]
    pub sub: Option<ForecastSub>,
    /// What to forecast.
    #[command(flatten)]
    pub what: HistoryForecast,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum ForecastSub {
    /// Score every model on a CSV series by rolling-origin backtest.
    Backtest(BacktestArgs),
}

/// `--direction`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Direction {
    /// Received traffic.
    In,
    /// Sent traffic.
    Out,
    /// Both, each forecast on its own.
    Both,
}

/// A forecast from history.
#[derive(ClapArgs, Debug)]
pub struct HistoryForecast {
    /// Forecast this interface's traffic (default: all traffic in the store).
    #[arg(long, value_name = "IFACE", conflicts_with_all = ["host", "process"])]
    pub iface: Option<String>,
    /// Forecast this host's traffic.
    #[arg(long, value_name = "ADDR", conflicts_with = "process")]
    pub host: Option<IpAddr>,
    /// Forecast this process's traffic.
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,
    /// How far ahead (5m, 6h, 24h, 7d).
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub horizon: String,
    /// Step of the forecast and of the history it learns from (whole minutes).
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub step: String,
    /// History learned from, back from --until.
    #[arg(long, default_value = "28d", value_name = "DURATION")]
    pub history: String,
    /// Where history ends and the forecast starts: `now`, a duration back
    /// from now, or an RFC 3339 time.
    #[arg(long, default_value = "now", value_name = "TIME")]
    pub until: String,
    /// Which direction(s).
    #[arg(long, value_enum, default_value_t = Direction::Both)]
    pub direction: Direction,
    /// The model: auto (chosen by backtest), naive, holt, snaive-day,
    /// snaive-week, holt-winters, mstl. (`--model` is the ML detector's file.)
    #[arg(long, default_value = "auto", value_name = "NAME")]
    pub method: String,
    /// Link capacity (1G, 100Mbit/s): default from [forecast.capacity] or
    /// the interface's speed.
    #[arg(long, value_name = "RATE")]
    pub capacity: Option<String>,
    /// Warn when the upper 95 % band reaches this share of capacity (default 0.9).
    #[arg(long, value_name = "FRACTION")]
    pub capacity_fraction: Option<f64>,
    /// Print JSON.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV (one row per step and direction).
    #[arg(long)]
    pub csv: bool,
    /// Also draw history, forecast and bands to this .png or .svg file.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Chart width in pixels (with --plot; default 1200).
    #[arg(long)]
    pub width: Option<u32>,
    /// Chart height in pixels (with --plot; default 600).
    #[arg(long)]
    pub height: Option<u32>,
}

/// `wirewatch forecast backtest`.
#[derive(ClapArgs, Debug)]
pub struct BacktestArgs {
    /// The CSV file: a header line, then rows (the first column may be a time).
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
    /// The column to forecast: its header, a unique prefix of it, or its
    /// number from 1.
    #[arg(long, value_name = "NAME")]
    pub column: String,
    /// Season lengths in points (24,168 for hourly data).
    #[arg(long, value_name = "N,N", value_delimiter = ',')]
    pub season: Vec<usize>,
    /// Points forecast in each window.
    #[arg(long)]
    pub horizon: usize,
    /// Windows, the last ending at the end of the series.
    #[arg(long, default_value_t = 7)]
    pub windows: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `wirewatch forecast …`.
pub fn run(
    args: &ForecastArgs,
    db: Option<&Path>,
    cfg: &ForecastConfig,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match &args.sub {
        Some(ForecastSub::Backtest(b)) => run_backtest(b, out),
        None => {
            let db = db.ok_or_else(|| anyhow!("no history database: give --db PATH"))?;
            from_history(&args.what, db, cfg, out)
        }
    }
}

/// Traffic rates at a fixed step, both directions, gaps filled.
pub struct RateHistory {
    /// First bucket (seconds, a multiple of the step).
    pub start: i64,
    /// Bucket length, seconds.
    pub step: i64,
    /// Received, bit/s per bucket.
    pub inbound: Vec<f64>,
    /// Sent, bit/s per bucket.
    pub outbound: Vec<f64>,
    /// Which buckets were filled because nothing was recorded then.
    pub missing: Vec<bool>,
}

impl RateHistory {
    /// How many buckets were filled.
    pub fn filled(&self) -> usize {
        self.missing.iter().filter(|m| **m).count()
    }

    /// Where history ends (the forecast's start).
    pub fn end(&self) -> i64 {
        self.start + self.step * self.inbound.len() as i64
    }
}

/// Runs this long without any traffic at all (on the interface, or in
/// the store) are taken as wirewatch not running, not as silence.
const GAP_SECS: i64 = 3_600;

/// The traffic `sel` selects per `step` seconds over `[from, to)`, from
/// the first bucket with traffic. An hour or more without any traffic on
/// the interface (or in the whole store) is a gap: filled from one day
/// earlier (a line where there is no earlier day). `None` when nothing
/// was recorded.
pub fn rate_history(
    store: &SqliteStore,
    sel: &Selection,
    from: i64,
    to: i64,
    step: i64,
) -> anyhow::Result<Option<RateHistory>> {
    let get = |sel: &Selection| {
        query::series(
            store,
            &SeriesSpec {
                range: Range { from, to },
                step,
                sel: sel.clone(),
                by: None,
                limit: 1,
                total_name: "",
            },
            None,
        )
        .map_err(|e| anyhow!("{e}"))
    };
    let s = get(sel)?;
    let counts = s.lines.first().map(|(_, c)| c.clone()).unwrap_or_default();
    // Whether anything was recorded in each bucket: the interface's (or
    // the store's) traffic, not just the selected host's.
    let activity_sel = Selection {
        iface: sel.iface.clone(),
        ..Selection::default()
    };
    let activity = if *sel == activity_sel {
        counts.clone()
    } else {
        let a = get(&activity_sel)?;
        let mut v = a.lines.first().map(|(_, c)| c.clone()).unwrap_or_default();
        v.resize(counts.len(), Default::default());
        v
    };
    let Some(first) = activity.iter().position(|c| !c.is_zero()) else {
        return Ok(None);
    };
    let n = counts.len() - first;
    let run = (GAP_SECS / step).max(1) as usize;
    let mut missing = vec![false; n];
    let mut k = 0;
    while k < n {
        if activity[first + k].is_zero() {
            let mut j = k;
            while j < n && activity[first + j].is_zero() {
                j += 1;
            }
            if j - k >= run {
                missing[k..j].fill(true);
            }
            k = j;
        } else {
            k += 1;
        }
    }
    let bits = |b: u64| b as f64 * 8.0 / step as f64;
    let mut inbound: Vec<f64> = counts[first..].iter().map(|c| bits(c.bytes_in)).collect();
    let mut outbound: Vec<f64> = counts[first..].iter().map(|c| bits(c.bytes_out)).collect();
    let day = (86_400 / step) as usize;
    gaps::fill(&mut inbound, &missing, Some(day));
    gaps::fill(&mut outbound, &missing, Some(day));
    Ok(Some(RateHistory {
        start: s.buckets[first],
        step,
        inbound,
        outbound,
        missing,
    }))
}

fn describe(sel: &Selection) -> String {
    match (&sel.iface, sel.host, &sel.process) {
        (Some(i), _, _) => format!("interface {i}"),
        (_, Some(h), _) => format!("host {h}"),
        (_, _, Some(p)) => format!("process {p}"),
        _ => "any traffic".into(),
    }
}

/// The link capacity of `iface`: `--capacity`, then the configuration,
/// then the speed the driver reports.
fn capacity_of(
    given: Option<&str>,
    iface: Option<&str>,
    cfg: &ForecastConfig,
) -> anyhow::Result<Option<(f64, &'static str)>> {
    if let Some(c) = given {
        return Ok(Some((
            parse_rate(c).map_err(|e| anyhow!("--capacity: {e}"))?,
            "--capacity",
        )));
    }
    Ok(iface.and_then(|i| configured_capacity(i, &cfg.capacity, true)))
}

/// `iface`'s capacity from the configuration, else (with `speed`) the
/// speed its driver reports; and where it came from.
pub fn configured_capacity(
    iface: &str,
    configured: &std::collections::BTreeMap<String, f64>,
    speed: bool,
) -> Option<(f64, &'static str)> {
    match configured.get(iface) {
        Some(c) => Some((*c, "[forecast.capacity]")),
        None if speed => {
            wirewatch_live::iface::link_speed(iface).map(|c| (c, "the interface's speed"))
        }
        None => None,
    }
}

/// One direction's forecast.
struct DirForecast {
    name: &'static str,
    inbound: bool,
    history: Vec<f64>,
    f: Forecast,
}

fn from_history(
    a: &HistoryForecast,
    db: &Path,
    cfg: &ForecastConfig,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let step = parse_duration(&a.step).map_err(|e| anyhow!("--step: {e}"))?;
    if step < 60 || step % 60 != 0 || step > 86_400 {
        bail!(
            "--step must be whole minutes up to a day (1m, 5m, 1h, 1d), got '{}'",
            a.step
        );
    }
    let horizon = parse_duration(&a.horizon).map_err(|e| anyhow!("--horizon: {e}"))?;
    if horizon < step {
        bail!(
            "--horizon {} is shorter than the step {}",
            a.horizon,
            a.step
        );
    }
    if horizon % step != 0 {
        bail!(
            "--horizon {} is not a whole number of steps of {}",
            a.horizon,
            a.step
        );
    }
    let h = (horizon / step) as usize;
    if h > 100_000 {
        bail!(
            "--horizon {} at --step {} is more than 100,000 steps",
            a.horizon,
            a.step
        );
    }
    let span = parse_duration(&a.history).map_err(|e| anyhow!("--history: {e}"))?;
    let now = crate::clock::now_secs();
    let until = parse_time(&a.until, now).map_err(|e| anyhow!("--until: {e}"))?;
    // Only whole steps: the current one is still filling.
    let to = until.div_euclid(step) * step;
    let from = to - span;
    if span < step {
        bail!("--history {} is shorter than the step", a.history);
    }
    let fraction = a.capacity_fraction.or(cfg.fraction).unwrap_or(0.9);
    if !(fraction > 0.0 && fraction <= 1.0) {
        bail!("--capacity-fraction must be more than 0 and at most 1, got {fraction}");
    }
    if a.capacity.is_some() && a.iface.is_none() {
        bail!("--capacity is a link's: give --iface");
    }
    let capacity = capacity_of(a.capacity.as_deref(), a.iface.as_deref(), cfg)?;
    let mut settings = Settings::for_step(step as u64, h);
    settings.model = Model::parse(&a.method, step as u64).map_err(|e| anyhow!(e))?;
    if a.plot.is_none() && (a.width.is_some() || a.height.is_some()) {
        bail!("--width and --height size the chart: give --plot FILE");
    }
    let (width, height) = chart_size(a);
    // Checked before any work: whether the chart is SVG.
    let svg = a
        .plot
        .as_ref()
        .map(|p| crate::history_cmd::chart_target("--plot", p, width, height))
        .transpose()?
        .unwrap_or(false);
    let store = SqliteStore::open_reader(db).map_err(|e| anyhow!("{e}"))?;
    let sel = Selection {
        iface: a.iface.clone(),
        host: a.host,
        process: a.process.clone(),
        ..Selection::default()
    };
    let hist = rate_history(&store, &sel, from, to, step)?.ok_or_else(|| {
        anyhow!(
            "no traffic recorded for {} from {} to {} UTC in {}",
            describe(&sel),
            short(from),
            short(to),
            db.display()
        )
    })?;
    let who = describe(&sel);
    let dirs: Vec<(&'static str, bool)> = match a.direction {
        Direction::In => vec![("inbound", true)],
        Direction::Out => vec![("outbound", false)],
        Direction::Both => vec![("inbound", true), ("outbound", false)],
    };
    let mut fs = Vec::new();
    for (name, inbound) in dirs {
        let y = if inbound {
            &hist.inbound
        } else {
            &hist.outbound
        };
        let f = forecast_filled(y, &hist.missing, &settings).map_err(|e| anyhow!("{name}: {e}"))?;
        fs.push(DirForecast {
            name,
            inbound,
            history: y.clone(),
            f,
        });
    }
    let start = hist.end();
    let alerts: Vec<Alert> = match (capacity, &a.iface) {
        (Some((cap, _)), Some(iface)) => fs
            .iter()
            .filter_map(|d| {
                let b = d.f.band(0.95)?;
                capacity_alert(
                    iface, d.inbound, start, step, &d.f.point, &b.upper, 0.95, cap, fraction, until,
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut notes: Vec<String> = Vec::new();
    if hist.filled() > 0 {
        notes.push(format!(
            "{} step(s) without any recorded traffic (an hour or more: wirewatch not running) filled from the day before",
            hist.filled()
        ));
    }
    if let (None, Some(i)) = (capacity, &a.iface) {
        notes.push(format!(
            "no capacity known for {i} (no --capacity, no [forecast.capacity] entry, no link speed): no capacity check"
        ));
    }
    if let Some(p) = &a.plot {
        draw(
            p,
            svg,
            a,
            &who,
            &hist,
            &fs,
            capacity.map(|c| c.0 * fraction),
            fraction,
        )?;
        notes.push(format!("chart written to {}", p.display()));
    }
    let cap_json =
        capacity.map(|(c, src)| json!({"bits_per_sec": c, "from": src, "fraction": fraction}));
    if a.json {
        let dirs: Vec<Value> = fs
            .iter()
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
        let v = json!({
            "entity": who,
            "unit": "bit/s",
            "step_secs": step,
            "horizon_steps": h,
            "history": {
                "from": rfc3339(hist.start),
                "to": rfc3339(start),
                "points": hist.inbound.len(),
                "filled": hist.filled(),
            },
            "capacity": cap_json,
            "directions": dirs,
            "alerts": alerts,
            "notes": notes,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    if a.csv {
        let levels: Vec<u32> = settings
            .levels
            .iter()
            .map(|l| (l * 100.0).round() as u32)
            .collect();
        let mut head = vec!["time".to_string(), "direction".into(), "forecast".into()];
        for l in &levels {
            head.push(format!("lower{l}"));
            head.push(format!("upper{l}"));
        }
        writeln!(out, "{}", head.join(","))?;
        for d in &fs {
            for k in 0..h {
                let mut row = vec![
                    csv_field(&rfc3339(start + k as i64 * step)),
                    d.name.to_string(),
                    format!("{:.3}", d.f.point[k]),
                ];
                for b in &d.f.bands {
                    row.push(format!("{:.3}", b.lower[k]));
                    row.push(format!("{:.3}", b.upper[k]));
                }
                writeln!(out, "{}", row.join(","))?;
            }
        }
        for a in &alerts {
            eprintln!(
                "wirewatch: alert [{}] {}: {}",
                a.severity, a.kind, a.summary
            );
        }
        for n in &notes {
            eprintln!("wirewatch: {n}");
        }
        return Ok(());
    }
    writeln!(
        out,
        "Forecast of {who}, every {} for {} from {} UTC (bit/s)",
        crate::history_cmd::humanize_step(step),
        a.horizon,
        short(start)
    )?;
    writeln!(
        out,
        "History: {} – {} UTC, {} points{}",
        short(hist.start),
        short(start),
        hist.inbound.len(),
        if hist.filled() > 0 {
            format!(", {} filled", hist.filled())
        } else {
            String::new()
        }
    )?;
    for d in &fs {
        let chosen = if settings.model.is_some() {
            "as asked".to_string()
        } else if d.f.windows > 0 {
            let by: Vec<String> =
                d.f.candidates
                    .iter()
                    .filter_map(|c| c.scores.map(|s| (c.model.name(), s)))
                    .map(|(n, s)| {
                        let v = if d.f.criterion == "MAPE" {
                            s.mape
                        } else {
                            s.wape
                        };
                        format!("{n} {v:.1} %")
                    })
                    .collect();
            format!(
                "chosen by backtest over {} window(s), {}: {}",
                d.f.windows,
                d.f.criterion,
                by.join(", ")
            )
        } else {
            "not backtested".into()
        };
        writeln!(out, "Model ({}): {} — {chosen}", d.name, d.f.model.name())?;
        for n in &d.f.notes {
            writeln!(out, "Note ({}): {n}", d.name)?;
        }
    }
    if let Some((c, src)) = capacity {
        writeln!(
            out,
            "Capacity: {} (from {src}); warning at {} %",
            bit_rate(c),
            fraction * 100.0
        )?;
    }
    for al in &alerts {
        writeln!(out, "ALERT [{}] {}: {}", al.severity, al.kind, al.summary)?;
    }
    for n in &notes {
        writeln!(out, "Note: {n}")?;
    }
    writeln!(out)?;
    let mut head = format!("{:<17}", "time (UTC)");
    for d in &fs {
        let t = if d.inbound { "in" } else { "out" };
        head.push_str(&format!(
            "  {:>9}  {:>19}  {:>19}",
            t,
            format!("{t} 80 %"),
            format!("{t} 95 %")
        ));
    }
    writeln!(out, "{}", head.trim_end())?;
    let si = |v: f64| wirewatch_units::si(v).replace(' ', "");
    for k in 0..h {
        let mut line = format!("{:<17}", short(start + k as i64 * step));
        for d in &fs {
            let b80 = d.f.band(0.8).unwrap();
            let b95 = d.f.band(0.95).unwrap();
            line.push_str(&format!(
                "  {:>9}  {:>19}  {:>19}",
                si(d.f.point[k]),
                format!("{}–{}", si(b80.lower[k]), si(b80.upper[k])),
                format!("{}–{}", si(b95.lower[k]), si(b95.upper[k]))
            ));
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// `--width` and `--height`, 1200×600 by default.
fn chart_size(a: &HistoryForecast) -> (u32, u32) {
    (a.width.unwrap_or(1200), a.height.unwrap_or(600))
}

/// The chart: recent history, the forecast dashed, its 95 % and 80 %
/// bands, a marker where history ends, the capacity warning level.
#[allow(clippy::too_many_arguments)]
fn draw(
    path: &Path,
    svg: bool,
    a: &HistoryForecast,
    who: &str,
    hist: &RateHistory,
    fs: &[DirForecast],
    warn_at: Option<f64>,
    fraction: f64,
) -> anyhow::Result<()> {
    use wirewatch_plot::{Band, Chart, Series};
    let step = hist.step;
    let start = hist.end();
    let h = fs.first().map_or(0, |d| d.f.point.len());
    // History shown: three horizons, at least two days, at most what there is.
    let shown = (3 * h).max((2 * 86_400 / step) as usize);
    let mut series = Vec::new();
    let mut bands = Vec::new();
    for (i, d) in fs.iter().enumerate() {
        let from = d.history.len().saturating_sub(shown);
        series.push(Series {
            name: format!("{} (history)", d.name),
            points: (from..d.history.len())
                .map(|k| (hist.start + k as i64 * step, d.history[k]))
                .collect(),
            colour: Some(i),
            ..Default::default()
        });
        series.push(Series {
            name: format!("{} forecast ({})", d.name, d.f.model.name()),
            points: (0..h)
                .map(|k| (start + k as i64 * step, d.f.point[k]))
                .collect(),
            colour: Some(i),
            dashed: true,
        });
        for (level, opacity) in [(0.95, 0.15), (0.8, 0.3)] {
            if let Some(b) = d.f.band(level) {
                bands.push(Band {
                    name: format!("{} {:.0} % band", d.name, level * 100.0),
                    points: (0..h)
                        .map(|k| (start + k as i64 * step, b.lower[k], b.upper[k]))
                        .collect(),
                    colour: i,
                    opacity,
                });
            }
        }
    }
    if let Some(w) = warn_at {
        let from = start - shown as i64 * step;
        series.push(Series {
            name: format!("{:.0} % of capacity", fraction * 100.0),
            points: vec![(from, w), (start + h as i64 * step, w)],
            colour: Some(3),
            dashed: true,
        });
    }
    let chart = Chart {
        title: format!(
            "wirewatch: {who} forecast, {} ahead, every {}",
            a.horizon,
            crate::history_cmd::humanize_step(step)
        ),
        y_unit: "bit/s".into(),
        series,
        bands,
        markers: vec![(start, "now".into())],
        width: chart_size(a).0,
        height: chart_size(a).1,
    };
    crate::history_cmd::write_chart("--plot", path, svg, &chart)
}

fn run_backtest(a: &BacktestArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let file = a.csv.display().to_string();
    let text = std::fs::read(&a.csv).with_context(|| format!("--csv {file}"))?;
    let text = String::from_utf8_lossy(&text);
    let seasons = clean_seasons(&a.season);
    if a.horizon == 0 || a.windows == 0 {
        bail!("--horizon and --windows must be at least 1");
    }
    let s = fcsv::read(&text, &file, &a.column, seasons.first().copied())
        .map_err(|e| anyhow!("{e}"))?;
    let y = &s.values;
    let need = a.windows.saturating_mul(a.horizon);
    if y.len() <= need.saturating_add(seasons.first().copied().unwrap_or(1)) {
        bail!(
            "{file}: {} points are too few for {} windows of {} (and a season before them)",
            y.len(),
            a.windows,
            a.horizon
        );
    }
    let mase_season = scale_season(&seasons, y.len() - need);
    let (models, notes) = wirewatch_forecast::forecast::candidates(&seasons, y.len() - need);
    let mut rows = Vec::new();
    for m in &models {
        let t = std::time::Instant::now();
        let b = backtest(y, a.horizon, a.windows, mase_season, &|t, h| {
            m.predict(t, h)
        })
        .map_err(|e| anyhow!("{}: {e}", m.name()))?;
        rows.push((m.name(), b.scores, t.elapsed().as_secs_f64()));
    }
    let settings = Settings {
        seasons: seasons.clone(),
        horizon: a.horizon,
        windows: a.windows,
        levels: vec![0.8, 0.95, 0.99],
        model: None,
    };
    let t = std::time::Instant::now();
    let ev = wirewatch_forecast::forecast::evaluate(y, &settings, a.windows)
        .map_err(|e| anyhow!("auto: {e}"))?;
    let auto_secs = t.elapsed().as_secs_f64();
    if a.json {
        let v = json!({
            "file": file,
            "column": s.name,
            "points": y.len(),
            "filled": s.filled,
            "step_secs": s.step,
            "seasons": seasons,
            "horizon": a.horizon,
            "windows": a.windows,
            "models": rows.iter().map(|(n, sc, secs)| json!({
                "model": n, "mape": sc.mape, "smape": sc.smape, "mase": sc.mase, "wape": sc.wape, "seconds": secs,
            })).collect::<Vec<_>>(),
            "auto": {
                "mape": ev.scores.mape, "smape": ev.scores.smape, "mase": ev.scores.mase, "wape": ev.scores.wape,
                "seconds": auto_secs,
                "chosen": ev.chosen,
                "coverage": ev.coverage.iter().map(|(l, c)| json!({"level": l, "inside": c})).collect::<Vec<_>>(),
            },
            "notes": notes,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    let name: String = s.name.chars().take(48).collect();
    writeln!(
        out,
        "Backtest of '{}{}' in {file}: {} points{}{}, seasons {}",
        name,
        if s.name.chars().count() > 48 {
            "…"
        } else {
            ""
        },
        y.len(),
        s.step
            .map(|st| format!(" every {}", crate::history_cmd::humanize_step(st)))
            .unwrap_or_default(),
        if s.filled > 0 {
            format!(" ({} missing filled)", s.filled)
        } else {
            String::new()
        },
        if seasons.is_empty() {
            "none".to_string()
        } else {
            seasons
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(",")
        }
    )?;
    writeln!(
        out,
        "Rolling origin: {} windows of {} points, each fitted on everything before it; MASE scaled by the season of {mase_season}",
        a.windows, a.horizon
    )?;
    for n in &notes {
        writeln!(out, "Note: {n}")?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<28} {:>8} {:>8} {:>7} {:>8} {:>9}",
        "model", "MAPE %", "sMAPE %", "MASE", "WAPE %", "seconds"
    )?;
    let f = |v: f64, d: usize| {
        if v.is_finite() {
            format!("{v:.d$}")
        } else {
            "–".into()
        }
    };
    for (n, sc, secs) in &rows {
        writeln!(
            out,
            "{:<28} {:>8} {:>8} {:>7} {:>8} {:>9.3}",
            n,
            f(sc.mape, 2),
            f(sc.smape, 2),
            f(sc.mase, 3),
            f(sc.wape, 2),
            secs
        )?;
    }
    writeln!(
        out,
        "{:<28} {:>8} {:>8} {:>7} {:>8} {:>9.3}",
        "auto (wirewatch forecast)",
        f(ev.scores.mape, 2),
        f(ev.scores.smape, 2),
        f(ev.scores.mase, 3),
        f(ev.scores.wape, 2),
        auto_secs
    )?;
    writeln!(out)?;
    let mut chosen: Vec<(String, usize)> = Vec::new();
    for c in &ev.chosen {
        match chosen.iter_mut().find(|(n, _)| n == c) {
            Some((_, k)) => *k += 1,
            None => chosen.push((c.clone(), 1)),
        }
    }
    writeln!(
        out,
        "auto chose, window by window on the points before each: {}",
        chosen
            .iter()
            .map(|(n, k)| format!("{n} ×{k}"))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(
        out,
        "auto's intervals held: {}",
        ev.coverage
            .iter()
            .map(|(l, c)| format!("{:.0} % band {:.1} % of points", l * 100.0, c * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    Ok(())
}
