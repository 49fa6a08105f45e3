//! `wirewatch forecast`: traffic forecasts from the history store (point,
//! 80/95/99 % intervals, capacity warnings, a chart), and
//! `wirewatch forecast backtest`: the models scored on a CSV series.

use crate::cli::forecast::{BacktestArgs, Direction, ForecastArgs, ForecastSub, HistoryForecast};
use std::io::Write;
use std::path::Path;
use wirewatch_pipeline::rates::{configured_capacity, rate_history, RateHistory};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};
use wirewatch_detect::{capacity_alert, Alert};
use wirewatch_forecast::forecast::{clean_seasons, forecast_filled, scale_season};
use wirewatch_forecast::{backtest, csv as fcsv, Forecast, Model, Settings};
use wirewatch_pipeline::json::tidied;
use wirewatch_store::time::{parse_duration, parse_time, rfc3339, short};
use wirewatch_store::{Selection, SqliteStore};
use wirewatch_units::bit_rate;

use crate::config::{parse_rate, ForecastConfig};
use crate::output::csv_field;

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

/// One direction's forecast.
struct DirForecast {
    name: &'static str,
    inbound: bool,
    history: Vec<f64>,
    f: Forecast,
}

/// What `forecast` asks for, checked before any work.
struct Request {
    step: i64,
    /// Horizon in steps.
    h: usize,
    until: i64,
    from: i64,
    to: i64,
    fraction: f64,
    capacity: Option<(f64, &'static str)>,
    settings: Settings,
    /// The chart is SVG (else PNG).
    svg: bool,
}

/// The forecasts made.
struct Made {
    who: String,
    hist: RateHistory,
    fs: Vec<DirForecast>,
    /// Where the forecast starts.
    start: i64,
    alerts: Vec<Alert>,
    notes: Vec<String>,
}

fn from_history(
    a: &HistoryForecast,
    db: &Path,
    cfg: &ForecastConfig,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let req = check(a, cfg)?;
    let mut m = compute(a, &req, db)?;
    if let Some(p) = &a.plot {
        draw(
            p,
            req.svg,
            a,
            &m.who,
            &m.hist,
            &m.fs,
            req.capacity.map(|c| c.0 * req.fraction),
            req.fraction,
        )?;
        m.notes.push(format!("chart written to {}", p.display()));
    }
    if a.json {
        render_json(&req, &m, out)
    } else if a.csv {
        render_csv(&req, &m, out)
    } else {
        render_table(a, &req, &m, out)
    }
}

/// The flags checked, in the order they are reported.
fn check(a: &HistoryForecast, cfg: &ForecastConfig) -> anyhow::Result<Request> {
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
        .map(|p| crate::chart::chart_target("--plot", p, width, height))
        .transpose()?
        .unwrap_or(false);
    Ok(Request {
        step,
        h,
        until,
        from,
        to,
        fraction,
        capacity,
        settings,
        svg,
    })
}

/// The history read, a forecast per direction, the capacity alerts and
/// the notes.
fn compute(a: &HistoryForecast, req: &Request, db: &Path) -> anyhow::Result<Made> {
    let Request {
        step,
        until,
        from,
        to,
        fraction,
        capacity,
        ref settings,
        ..
    } = *req;
    let store = SqliteStore::open_reader(db).map_err(|e| anyhow!("{e}"))?;
    let sel = Selection {
        iface: a.iface.clone(),
        host: a.host,
        process: a.process.clone(),
        ..Selection::default()
    };
    let Some(hist) = rate_history(&store, &sel, from, to, step)? else {
        bail!(
            "{}: no traffic recorded{} from {} to {} UTC; {}",
            db.display(),
            if sel.is_empty() {
                String::new()
            } else {
                format!(" for {}", describe(&sel))
            },
            short(from),
            short(to),
            crate::history_cmd::where_data_is(&store, sel.host.is_some(), |r| format!(
                "--until {}",
                rfc3339(r.to)
            ))?
        );
    };
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
        let f = forecast_filled(y, &hist.missing, settings).map_err(|e| anyhow!("{name}: {e}"))?;
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
    Ok(Made {
        who,
        hist,
        fs,
        start,
        alerts,
        notes,
    })
}

/// `--json`.
fn render_json(req: &Request, m: &Made, out: &mut dyn Write) -> anyhow::Result<()> {
    let Made {
        who,
        hist,
        fs,
        start,
        alerts,
        notes,
    } = m;
    let (start, step, h, capacity, fraction) =
        (*start, req.step, req.h, req.capacity, req.fraction);
    let cap_json =
        capacity.map(|(c, src)| json!({"bits_per_sec": c, "from": src, "fraction": fraction}));
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
    writeln!(out, "{}", serde_json::to_string_pretty(&tidied(v))?)?;
    Ok(())
}

/// `--csv`: the points on stdout, alerts and notes on stderr.
fn render_csv(req: &Request, m: &Made, out: &mut dyn Write) -> anyhow::Result<()> {
    let (start, step, h) = (m.start, req.step, req.h);
    let (fs, alerts, notes, settings) = (&m.fs, &m.alerts, &m.notes, &req.settings);
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
    for d in fs {
        for k in 0..h {
            let mut row = vec![
                csv_field(&rfc3339(start + k as i64 * step)),
                d.name.to_string(),
                format!("{:.3}", d.f.point[k]),
            ];
            for &l in &settings.levels {
                // Empty cells where the history carries no band.
                let (lo, hi) = d.f.band(l).map_or((String::new(), String::new()), |b| {
                    (format!("{:.3}", b.lower[k]), format!("{:.3}", b.upper[k]))
                });
                row.push(lo);
                row.push(hi);
            }
            writeln!(out, "{}", row.join(","))?;
        }
    }
    for a in alerts {
        crate::message::note(&format!("alert [{}] {}: {}", a.severity, a.kind, a.summary));
    }
    for n in notes {
        crate::message::note(n);
    }
    Ok(())
}

/// The table.
fn render_table(
    a: &HistoryForecast,
    req: &Request,
    m: &Made,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let Made {
        who,
        hist,
        fs,
        start,
        alerts,
        notes,
    } = m;
    let (start, step, h, capacity, fraction, settings) = (
        *start,
        req.step,
        req.h,
        req.capacity,
        req.fraction,
        &req.settings,
    );
    writeln!(
        out,
        "Forecast of {who}, every {} for {} from {} UTC (bit/s)",
        crate::chart::humanize_step(step),
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
    for d in fs {
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
    for al in alerts {
        writeln!(out, "ALERT [{}] {}: {}", al.severity, al.kind, al.summary)?;
    }
    for n in notes {
        writeln!(out, "Note: {n}")?;
    }
    writeln!(out)?;
    let mut head = format!("{:<17}", "time (UTC)");
    for d in fs {
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
        for d in fs {
            // No band when the history cannot carry one (a note says so).
            let range = |level: f64| {
                d.f.band(level).map_or("—".to_string(), |b| {
                    format!("{}–{}", si(b.lower[k]), si(b.upper[k]))
                })
            };
            line.push_str(&format!(
                "  {:>9}  {:>19}  {:>19}",
                si(d.f.point[k]),
                range(0.8),
                range(0.95)
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
            crate::chart::humanize_step(step)
        ),
        y_unit: "bit/s".into(),
        series,
        bands,
        markers: vec![(start, "now".into())],
        width: chart_size(a).0,
        height: chart_size(a).1,
    };
    crate::chart::write_chart("--plot", path, svg, &chart)
}

/// A series read for a backtest, its seasons checked.
struct Series {
    file: String,
    s: fcsv::CsvSeries,
    seasons: Vec<usize>,
}

/// What a backtest found.
struct Backtested {
    mase_season: usize,
    /// Per model: name, scores, seconds.
    rows: Vec<(String, wirewatch_forecast::Scores, f64)>,
    ev: wirewatch_forecast::forecast::Evaluation,
    auto_secs: f64,
    notes: Vec<String>,
}

fn run_backtest(a: &BacktestArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let series = read_series(a)?;
    let done = backtest_all(a, &series)?;
    if a.json {
        render_backtest_json(a, &series, &done, out)
    } else {
        render_backtest_table(a, &series, &done, out)
    }
}

/// The CSV read and the sizes checked.
fn read_series(a: &BacktestArgs) -> anyhow::Result<Series> {
    let file = a.csv.display().to_string();
    let text = std::fs::read(&a.csv).with_context(|| format!("--csv {file}"))?;
    let text = String::from_utf8_lossy(&text);
    let seasons = clean_seasons(&a.season);
    if a.horizon == 0 || a.windows == 0 {
        bail!("--horizon and --windows must be at least 1");
    }
    let column = match &a.column {
        Some(c) => c.clone(),
        None => fcsv::only_numeric_column(&text, &file).map_err(|e| anyhow!("{e}"))?,
    };
    let s =
        fcsv::read(&text, &file, &column, seasons.first().copied()).map_err(|e| anyhow!("{e}"))?;
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
    Ok(Series { file, s, seasons })
}

/// Every candidate model and the automatic method backtested.
fn backtest_all(a: &BacktestArgs, series: &Series) -> anyhow::Result<Backtested> {
    let (y, seasons) = (&series.s.values, &series.seasons);
    let need = a.windows.saturating_mul(a.horizon);
    let mase_season = scale_season(seasons, y.len() - need);
    let (models, notes) = wirewatch_forecast::forecast::candidates(seasons, y.len() - need);
    let mut rows = Vec::new();
    for m in &models {
        let t = std::time::Instant::now();
        let b = backtest(y, a.horizon, a.windows, mase_season, &|t, h| {
            m.predict(t, h)
        })
        .map_err(|e| anyhow!("{}: {e}", m.name()))?;
        rows.push((m.name().to_string(), b.scores, t.elapsed().as_secs_f64()));
    }
    let settings = Settings {
        seasons: seasons.to_vec(),
        horizon: a.horizon,
        windows: a.windows,
        levels: vec![0.8, 0.95, 0.99],
        model: None,
    };
    let t = std::time::Instant::now();
    let ev = wirewatch_forecast::forecast::evaluate(y, &settings, a.windows)
        .map_err(|e| anyhow!("auto: {e}"))?;
    let auto_secs = t.elapsed().as_secs_f64();
    Ok(Backtested {
        mase_season,
        rows,
        ev,
        auto_secs,
        notes,
    })
}

/// `--json`.
fn render_backtest_json(
    a: &BacktestArgs,
    series: &Series,
    done: &Backtested,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (file, s, seasons, y) = (&series.file, &series.s, &series.seasons, &series.s.values);
    let (rows, ev, auto_secs, notes) = (&done.rows, &done.ev, done.auto_secs, &done.notes);
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
    writeln!(out, "{}", serde_json::to_string_pretty(&tidied(v))?)?;
    Ok(())
}

/// The table.
fn render_backtest_table(
    a: &BacktestArgs,
    series: &Series,
    done: &Backtested,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (file, s, seasons, y) = (&series.file, &series.s, &series.seasons, &series.s.values);
    let (mase_season, rows, ev, auto_secs, notes) = (
        done.mase_season,
        &done.rows,
        &done.ev,
        done.auto_secs,
        &done.notes,
    );
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
            .map(|st| format!(" every {}", crate::chart::humanize_step(st)))
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
    for n in notes {
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
    for (n, sc, secs) in rows {
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
