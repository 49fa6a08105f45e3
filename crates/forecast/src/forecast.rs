//! Automatic forecasts: candidates by what the history allows, the best
//! by rolling-origin backtest on the series' own history, and intervals
//! from that model's own backtest errors.

use crate::backtest::{backtest, windows_possible, Point, Scores};
use crate::models::{LogScale, Model};
use crate::Error;

/// What [`forecast`] does.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Season lengths in steps (e.g. 288 and 2016 for days and weeks at 5 min).
    pub seasons: Vec<usize>,
    /// Points to forecast.
    pub horizon: usize,
    /// Backtest windows the choice is made on (at most).
    pub windows: usize,
    /// Interval levels, as fractions (0.8, 0.95…).
    pub levels: Vec<f64>,
    /// A model to use instead of choosing one.
    pub model: Option<Model>,
}

impl Settings {
    /// Daily and weekly seasons at a step of `step` seconds, `horizon`
    /// points, 80/95/99 % intervals, choice over up to 7 windows.
    pub fn for_step(step: u64, horizon: usize) -> Settings {
        let per = |secs: u64| (secs / step.max(1)) as usize;
        Settings {
            seasons: [per(86_400), per(7 * 86_400)]
                .into_iter()
                .filter(|&m| m >= 2)
                .collect(),
            horizon,
            windows: 7,
            levels: vec![0.8, 0.95, 0.99],
            model: None,
        }
    }
}

/// A prediction interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Band {
    /// Nominal coverage, a fraction.
    pub level: f64,
    /// Lower bound per point.
    pub lower: Vec<f64>,
    /// Upper bound per point.
    pub upper: Vec<f64>,
}

/// A candidate and how it did in the choosing backtest.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// The model.
    pub model: Model,
    /// Its backtest scores (None when no window fitted).
    pub scores: Option<Scores>,
}

/// A forecast with its intervals and how it was chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct Forecast {
    /// The model used.
    pub model: Model,
    /// Point forecast.
    pub point: Vec<f64>,
    /// Intervals, in the order of the settings' levels; none when the
    /// history is too short to support one ([`MIN_INTERVAL_POINTS`]; a note
    /// says so).
    pub bands: Vec<Band>,
    /// Candidates in the choice, with their scores.
    pub candidates: Vec<Candidate>,
    /// Windows the choice was made on.
    pub windows: usize,
    /// The score the choice was made by: "MAPE", or "WAPE" when some
    /// actual was 0.
    pub criterion: &'static str,
    /// Things the user should know (fallbacks, short history).
    pub notes: Vec<String>,
}

impl Forecast {
    /// The band of this level, if computed.
    pub fn band(&self, level: f64) -> Option<&Band> {
        self.bands.iter().find(|b| (b.level - level).abs() < 1e-9)
    }
}

/// The models worth trying on `n` points, and notes on what the history
/// is too short for.
pub fn candidates(seasons: &[usize], n: usize) -> (Vec<Model>, Vec<String>) {
    candidates_of(seasons, n, n)
}

/// [`candidates`] for `n` training points of a history of `total` (the
/// rest held back for backtest windows): the notes count both, so they
/// agree with the history's length as printed.
fn candidates_of(seasons: &[usize], n: usize, total: usize) -> (Vec<Model>, Vec<String>) {
    let points = if total == n {
        format!("{n} points")
    } else {
        format!("{total} points, {n} before the backtest windows")
    };
    let mut notes = Vec::new();
    let ss = clean_seasons(seasons);
    let mut out = Vec::new();
    // Seasonal naive, like the fitted models, only for a season seen
    // twice: the notes below say a shorter history is modelled without
    // that season (and one cycle is no evidence of a season).
    for &m in &ss {
        if n >= m.saturating_mul(2) {
            out.push(Model::SeasonalNaive(m));
        }
    }
    if let Some(&m) = ss.first() {
        if n >= Model::HoltWinters(m).min_len() {
            out.push(Model::HoltWinters(m));
        }
    }
    let fit: Vec<usize> = ss
        .iter()
        .copied()
        .filter(|&m| m.saturating_mul(2) <= n)
        .collect();
    if !fit.is_empty() {
        // Slow and quick seasons and levels: which suits a link is a
        // matter for its own backtest.
        for season in [0.25, 0.5, 0.75] {
            for level in [0.1, 0.3] {
                out.push(Model::Mstl {
                    periods: fit.clone(),
                    season,
                    level,
                });
            }
        }
    }
    let short: Vec<usize> = ss
        .iter()
        .copied()
        .filter(|&m| m.saturating_mul(2) > n)
        .collect();
    if !short.is_empty() && !ss.is_empty() {
        notes.push(if fit.is_empty() {
            format!(
                "too little history for a seasonal model ({points}; a season of {} needs {}): using a non-seasonal one",
                ss[0],
                ss[0].saturating_mul(2)
            )
        } else {
            format!(
                "too little history for the season(s) of {} steps ({points}; twice the season needed): modelled without them",
                short.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", ")
            )
        });
    }
    if n >= Model::Holt.min_len() {
        out.push(Model::Holt);
    }
    out.push(Model::Naive);
    (out, notes)
}

fn check(y: &[f64]) -> Result<(), Error> {
    if let Some((i, v)) = y
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite() || **v < 0.0)
    {
        return Err(Error::BadValue(format!(
            "point {} is {v}: traffic must be a finite number ≥ 0",
            i + 1
        )));
    }
    if y.is_empty() {
        return Err(Error::TooShort("no history to forecast from".into()));
    }
    Ok(())
}

/// The seasons worth modelling: at least 2 steps, sorted, no repeats.
pub fn clean_seasons(seasons: &[usize]) -> Vec<usize> {
    let mut ss: Vec<usize> = seasons.iter().copied().filter(|&m| m >= 2).collect();
    ss.sort_unstable();
    ss.dedup();
    ss
}

/// The MASE scale's season for `n` training points: the shortest season
/// they hold twice, else 1 (the naive forecast).
pub fn scale_season(seasons: &[usize], n: usize) -> usize {
    clean_seasons(seasons)
        .into_iter()
        .find(|&m| m.saturating_mul(2) <= n)
        .unwrap_or(1)
}

/// Which score judges: MAPE, or WAPE when some actual is 0 (MAPE then
/// leaves those points out and would favour forecasts wrong exactly there).
fn judge_by(points: &[Point]) -> &'static str {
    if points.iter().any(|p| p.actual == 0.0) {
        "WAPE"
    } else {
        "MAPE"
    }
}

fn criterion(s: &Scores, by: &str) -> f64 {
    let v = if by == "MAPE" { s.mape } else { s.wape };
    if v.is_nan() {
        f64::INFINITY
    } else {
        v
    }
}

/// The result of choosing a model by backtest.
pub struct Choice {
    /// The winner.
    pub model: Model,
    /// Every candidate and its scores.
    pub candidates: Vec<Candidate>,
    /// The winner's backtest points (empty without windows), filled
    /// points left out.
    pub points: Vec<Point>,
    /// Windows used.
    pub windows: usize,
    /// The score that judged ("MAPE" or "WAPE").
    pub criterion: &'static str,
    /// Notes on short history.
    pub notes: Vec<String>,
}

/// Backtests `m` on `y` over `w` windows of `h`, leaving out of the
/// scores and the points the ones `filled` marks (values made up for
/// gaps: a model is not judged on how well it predicts a copy).
fn judged(
    y: &[f64],
    filled: &[bool],
    m: &Model,
    h: usize,
    w: usize,
    mase_season: usize,
) -> Option<(Scores, Vec<Point>)> {
    let b = backtest(y, h, w, mase_season, &|t, hh| m.predict(t, hh)).ok()?;
    if !filled.contains(&true) {
        return Some((b.scores, b.points));
    }
    let first = y.len() - w * h;
    let points: Vec<Point> = b
        .points
        .iter()
        .enumerate()
        .filter(|(j, _)| !filled.get(first + j).copied().unwrap_or(false))
        .map(|(_, p)| *p)
        .collect();
    if points.is_empty() {
        return None;
    }
    let mut scores = crate::backtest::score(&points);
    scores.mase = b.scores.mase;
    scores.windows = w;
    Some((scores, points))
}

/// Chooses the model with the lowest backtest MAPE (WAPE when some
/// actuals are 0) over up to `windows` windows of `h` points. Points
/// `filled` marks (gaps filled in) are not scored.
pub fn choose(y: &[f64], filled: &[bool], seasons: &[usize], h: usize, windows: usize) -> Choice {
    let n = y.len();
    // How many windows: enough training before them for the shortest
    // season twice, when the history holds that (else for Holt).
    let base = clean_seasons(seasons)
        .first()
        .map(|m| m.saturating_mul(2))
        .filter(|&b| b <= n)
        .unwrap_or(Model::Holt.min_len());
    let w = windows.min(windows_possible(n, base, h));
    // The candidates are what the first window's training points allow,
    // so the model judged is the model used.
    let train = n - w * h;
    let (models, mut notes) = candidates_of(seasons, if w > 0 { train } else { n }, n);
    let mase_season = scale_season(seasons, train);
    let mut scored = Vec::new();
    let mut results: Vec<Option<(Scores, Vec<Point>)>> = Vec::new();
    for m in &models {
        let r = if w > 0 && train >= m.min_len() {
            judged(y, filled, m, h, w, mase_season)
        } else {
            None
        };
        scored.push(Candidate {
            model: m.clone(),
            scores: r.as_ref().map(|(s, _)| *s),
        });
        results.push(r);
    }
    let by = results
        .iter()
        .flatten()
        .next()
        .map_or("MAPE", |(_, p)| judge_by(p));
    // The lowest score; ties (and all-infinite scores) go to the earlier,
    // simpler candidate.
    let best = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().map(|(s, _)| (criterion(s, by), i)))
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (model, points, used) = match best {
        Some((_, i)) => (
            models[i].clone(),
            results[i].take().map(|(_, p)| p).unwrap_or_default(),
            w,
        ),
        None => {
            // No window to judge on: the richest model the history allows.
            let m = models
                .iter()
                .find(|m| matches!(m, Model::Mstl { .. }))
                .or_else(|| models.iter().find(|m| m.is_seasonal()))
                .or_else(|| models.iter().find(|m| matches!(m, Model::Holt)))
                .unwrap_or(&Model::Naive)
                .clone();
            notes.push(if w > 0 {
                format!(
                    "nothing recorded in the last {} points to backtest on (all filled in for gaps): {} chosen without a backtest",
                    w * h,
                    m.name()
                )
            } else {
                format!(
                    "too little history to backtest a {h}-point horizon: {} chosen without a backtest",
                    m.name()
                )
            });
            (m, Vec::new(), 0)
        }
    };
    Choice {
        model,
        candidates: scored,
        points,
        windows: used,
        criterion: by,
        notes,
    }
}

/// Forecasts `settings.horizon` points after `y` with intervals.
pub fn forecast(y: &[f64], settings: &Settings) -> Result<Forecast, Error> {
    forecast_filled(y, &[], settings)
}

/// [`forecast`] of a series some of whose points were filled in for gaps
/// (`filled[i]` true): those are not scored when choosing the model nor
/// taken as errors for the intervals.
pub fn forecast_filled(y: &[f64], filled: &[bool], settings: &Settings) -> Result<Forecast, Error> {
    check(y)?;
    let h = settings.horizon;
    if h == 0 {
        return Err(Error::Settings(
            "the horizon must be at least one step".into(),
        ));
    }
    for &l in &settings.levels {
        if !(l > 0.0 && l < 1.0) {
            return Err(Error::Settings(format!(
                "interval level {l} must be between 0 and 1"
            )));
        }
    }
    let choice = match &settings.model {
        Some(m) => {
            if y.len() < m.min_len() {
                return Err(Error::TooShort(format!(
                    "{} needs {} points, the history has {}",
                    m.name(),
                    m.min_len(),
                    y.len()
                )));
            }
            let w = settings
                .windows
                .min(windows_possible(y.len(), m.min_len(), h));
            let r = if w > 0 {
                let season = scale_season(&settings.seasons, y.len() - w * h);
                judged(y, filled, m, h, w, season)
            } else {
                None
            };
            let by = r.as_ref().map_or("MAPE", |(_, p)| judge_by(p));
            Choice {
                model: m.clone(),
                candidates: vec![Candidate {
                    model: m.clone(),
                    scores: r.as_ref().map(|(s, _)| *s),
                }],
                windows: if r.is_some() { w } else { 0 },
                points: r.map(|(_, p)| p).unwrap_or_default(),
                criterion: by,
                notes: Vec::new(),
            }
        }
        None => choose(y, filled, &settings.seasons, h, settings.windows),
    };
    let point = choice.model.predict(y, h);
    let scale = LogScale::of(y);
    let mut notes = choice.notes;
    let bands = if supports_intervals(y.len(), &choice.points) {
        if choice.points.len() < MIN_BACKTEST_ERRORS {
            notes.push("intervals from the history's in-sample spread, not from a backtest".into());
        }
        settings
            .levels
            .iter()
            .map(|&level| band(&scale, y, &settings.seasons, &point, &choice.points, level))
            .collect()
    } else {
        notes.push(format!(
            "too little history for intervals ({} points; without a backtest they need {}): a point forecast only, no bands",
            y.len(),
            MIN_INTERVAL_POINTS
        ));
        Vec::new()
    };
    Ok(Forecast {
        model: choice.model,
        point,
        bands,
        candidates: choice.candidates,
        windows: choice.windows,
        criterion: choice.criterion,
        notes,
    })
}

/// Backtest errors an interval is taken from (fewer: the in-sample spread).
const MIN_BACKTEST_ERRORS: usize = 20;

/// History an interval from the in-sample spread needs: with fewer points
/// the spread is a guess, and stretched over the horizon it gave bands of
/// 1e58 bit/s from 3 points.
pub const MIN_INTERVAL_POINTS: usize = 24;

/// Whether `n` points of history (and these backtest errors) can carry an
/// interval.
fn supports_intervals(n: usize, backtest: &[Point]) -> bool {
    backtest.len() >= MIN_BACKTEST_ERRORS || n >= MIN_INTERVAL_POINTS
}

/// The `q` quantile (0–1) of sorted values, interpolated.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos - pos.floor());
    if i + 1 < sorted.len() {
        sorted[i] * (1.0 - f) + sorted[i + 1] * f
    } else {
        sorted[i]
    }
}

/// Inverse of the standard normal distribution function (Acklam's
/// rational approximation, relative error < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Horizon groups the error quantiles are taken over: errors grow with
/// the distance ahead, but each group needs enough errors to have tails.
fn groups(h: usize, errors: usize) -> usize {
    let per_group_needed = 100;
    (errors / per_group_needed).clamp(1, 4).min(h)
}

/// Share of the largest differences [`spread`] leaves out.
const TRIM: f64 = 0.05;

/// The root mean square of `d` without its largest 5 % (at least one
/// once there are 20), so that one jump — a first step that was only
/// partly recorded — does not set the width of every band.
fn spread(d: &[f64]) -> f64 {
    let mut a: Vec<f64> = d.iter().map(|v| v.abs()).collect();
    a.sort_by(f64::total_cmp);
    a.truncate(a.len() - (a.len() as f64 * TRIM).floor() as usize);
    if a.is_empty() {
        return 0.0;
    }
    (a.iter().map(|v| v * v).sum::<f64>() / a.len() as f64).sqrt()
}

/// An interval around `point` from the backtest errors on the log scale
/// (ratios, so a band scales with the traffic), wider or equal further
/// ahead; from the in-sample seasonal differences without a backtest,
/// widening as a random walk up to the history's length.
fn band(
    scale: &LogScale,
    y: &[f64],
    seasons: &[usize],
    point: &[f64],
    points: &[Point],
    level: f64,
) -> Band {
    let h = point.len();
    let (qlo, qhi) = ((1.0 - level) / 2.0, (1.0 + level) / 2.0);
    let mut lo_by = vec![0.0; h];
    let mut hi_by = vec![0.0; h];
    if points.len() >= MIN_BACKTEST_ERRORS {
        let g = groups(h, points.len());
        let ratio = |p: &Point| scale.to(&[p.actual])[0] - scale.to(&[p.forecast])[0];
        let mut prev = (0.0f64, 0.0f64);
        for k in 0..g {
            let (a, b) = (k * h / g, (k + 1) * h / g);
            let mut e: Vec<f64> = points
                .iter()
                .filter(|p| p.step >= a && p.step < b)
                .map(ratio)
                .collect();
            e.sort_by(f64::total_cmp);
            // A tail beyond the sample: stretch the outermost error by the
            // normal ratio of the asked quantile to the sample's own.
            let n = e.len() as f64;
            let reach = 1.0 - 1.0 / (n + 1.0);
            let stretch = if qhi > reach {
                normal_quantile(qhi) / normal_quantile(reach)
            } else {
                1.0
            };
            let lo = (quantile(&e, qlo) * stretch).min(0.0).min(prev.0);
            let hi = (quantile(&e, qhi) * stretch).max(0.0).max(prev.1);
            prev = (lo, hi);
            for s in a..b {
                lo_by[s] = lo;
                hi_by[s] = hi;
            }
        }
    } else {
        let z = scale.to(y);
        let m = seasons
            .iter()
            .copied()
            .filter(|&m| m >= 1 && m < z.len())
            .min()
            .unwrap_or(1)
            .min(z.len().saturating_sub(1))
            .max(1);
        let d: Vec<f64> = z.iter().skip(m).zip(&z).map(|(a, b)| a - b).collect();
        let sd = spread(&d);
        let zq = normal_quantile(qhi);
        for s in 0..h {
            // A random walk's spread, grown no further than the history
            // reaches: past its own length it has no evidence of more.
            let grow = (1.0 + (s.min(z.len()) / m) as f64).sqrt();
            lo_by[s] = -zq * sd * grow;
            hi_by[s] = zq * sd * grow;
        }
    }
    let zp = scale.to(point);
    // Bounded by the point itself: `from(to(p))` is `p` only to within a
    // rounding, and a point of 0 (an idle night) came out below a lower
    // bound of 1e-25.
    let lower = scale
        .from(
            &zp.iter()
                .zip(&lo_by)
                .map(|(a, b)| a + b)
                .collect::<Vec<_>>(),
        )
        .into_iter()
        .zip(point)
        .map(|(l, p)| l.min(*p))
        .collect();
    let upper = scale
        .from(
            &zp.iter()
                .zip(&hi_by)
                .map(|(a, b)| a + b)
                .collect::<Vec<_>>(),
        )
        .into_iter()
        .zip(point)
        .map(|(u, p)| u.max(*p))
        .collect();
    Band {
        level,
        lower,
        upper,
    }
}

/// The point forecast of the model [`choose`] picks on `y`: the
/// automatic choice as one forecasting method, so it can be backtested
/// like any model (each outer window chooses on its own training points).
pub fn auto_predict(y: &[f64], seasons: &[usize], h: usize, windows: usize) -> Vec<f64> {
    choose(y, &[], seasons, h, windows).model.predict(y, h)
}

/// A backtest of [`forecast`] itself: the choice made afresh in every
/// window on that window's training points, and its intervals scored.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Point accuracy.
    pub scores: Scores,
    /// Per interval level: the share of actual points inside the band.
    pub coverage: Vec<(f64, f64)>,
    /// The model chosen in each window.
    pub chosen: Vec<String>,
}

/// Backtests [`forecast`] with `settings` over `windows` windows of
/// `settings.horizon` points (MASE scaled by [`scale_season`] of the
/// points before the first window).
pub fn evaluate(y: &[f64], settings: &Settings, windows: usize) -> Result<Evaluation, Error> {
    check(y)?;
    let h = settings.horizon;
    // One entry per window, in order (None where no forecast came out).
    let made: std::cell::RefCell<Vec<Option<Forecast>>> = std::cell::RefCell::new(Vec::new());
    let season = scale_season(
        &settings.seasons,
        y.len().saturating_sub(windows.saturating_mul(h)),
    );
    let bt = backtest(y, h, windows, season, &|train, hh| {
        let f = forecast(
            train,
            &Settings {
                horizon: hh,
                ..settings.clone()
            },
        )
        .ok();
        let p = f.as_ref().map_or(vec![f64::NAN; hh], |f| f.point.clone());
        made.borrow_mut().push(f);
        p
    })?;
    let made = made.into_inner();
    let coverage = settings
        .levels
        .iter()
        .map(|&level| {
            let mut inside = 0usize;
            let mut total = 0usize;
            for (w, f) in made.iter().enumerate() {
                let Some(b) = f.as_ref().and_then(|f| f.band(level)) else {
                    continue;
                };
                for k in 0..h {
                    let a = bt.points[w * h + k].actual;
                    total += 1;
                    if a >= b.lower[k] && a <= b.upper[k] {
                        inside += 1;
                    }
                }
            }
            (level, inside as f64 / total.max(1) as f64)
        })
        .collect();
    Ok(Evaluation {
        scores: bt.scores,
        coverage,
        chosen: made
            .iter()
            .map(|f| f.as_ref().map_or("(failed)".into(), |f| f.model.name()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles() {
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-5);
        assert!((normal_quantile(0.5)).abs() < 1e-9);
        assert!((normal_quantile(0.005) + 2.575829).abs() < 1e-5);
    }
}
