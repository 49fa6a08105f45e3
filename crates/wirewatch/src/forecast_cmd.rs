//! `wirewatch forecast`: traffic forecasts from the history store (point,
//! 80/95/99 % intervals, capacity warnings, a chart), and
//! `wirewatch forecast backtest`: the models scored on a CSV series.

use crate::cli::forecast::{BacktestArgs, ForecastArgs, ForecastSub, HistoryForecast};
use std::io::Write;
use std::path::Path;
use wirewatch_pipeline::rates::RateHistory;

use anyhow::{anyhow, bail, Context};
use serde_json::json;
use wirewatch_forecast::forecast::{clean_seasons, scale_season};
use wirewatch_forecast::{backtest, csv as fcsv, Settings};
use wirewatch_pipeline::json::tidied;
use wirewatch_pipeline::requests::forecast::{
    forecast_json, DirForecast, ForecastRequest, Made, Plan,
};
use wirewatch_store::time::{rfc3339, short};
use wirewatch_units::bit_rate;

use crate::config::ForecastConfig;
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

impl HistoryForecast {
    /// The request as the web API takes it too.
    fn request(&self) -> ForecastRequest {
        ForecastRequest {
            iface: self.iface.clone(),
            host: self.host,
            process: self.process.clone(),
            horizon: self.horizon.clone(),
            step: self.step.clone(),
            history: self.history.clone(),
            until: self.until.clone(),
            direction: self.direction,
            method: self.method.clone(),
            capacity: self.capacity.clone(),
            capacity_fraction: self.capacity_fraction,
        }
    }
}

fn from_history(
    a: &HistoryForecast,
    db: &Path,
    cfg: &ForecastConfig,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let request = a.request();
    let plan = request.plan(&cfg.defaults(), crate::clock::now_secs(), usize::MAX)?;
    let svg = check_chart(a)?;
    let mut m = request.make(&plan, db)?;
    if let Some(p) = &a.plot {
        draw(
            p,
            svg,
            a,
            &m.who,
            &m.hist,
            &m.fs,
            plan.capacity.map(|c| c.0 * plan.fraction),
            plan.fraction,
        )?;
        m.notes.push(format!("chart written to {}", p.display()));
    }
    if a.json {
        let v = tidied(forecast_json(&plan, &m));
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        Ok(())
    } else if a.csv {
        render_csv(&plan, &m, out)
    } else {
        render_table(a, &plan, &m, out)
    }
}

/// The chart's flags, checked after the forecast's (before any work):
/// whether the chart is SVG.
fn check_chart(a: &HistoryForecast) -> anyhow::Result<bool> {
    if a.plot.is_none() && (a.width.is_some() || a.height.is_some()) {
        bail!("--width and --height size the chart: give --plot FILE");
    }
    let (width, height) = chart_size(a);
    Ok(a.plot
        .as_ref()
        .map(|p| crate::chart::chart_target("--plot", p, width, height))
        .transpose()?
        .unwrap_or(false))
}

/// `--csv`: the points on stdout, alerts and notes on stderr.
fn render_csv(req: &Plan, m: &Made, out: &mut dyn Write) -> anyhow::Result<()> {
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
    req: &Plan,
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
