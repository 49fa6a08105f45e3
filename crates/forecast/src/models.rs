//! The forecasting models. Each fits on a whole series and predicts the
//! next `h` points; they are pure functions of their input.
//!
//! Traffic is multiplicative (the daily swing grows with the level), so
//! the smoothing models work on `ln(y + c)`, `c` a small fraction of the
//! mean that keeps zeros finite, and give back `exp(z) - c`: additive on
//! that scale is multiplicative on the bytes.

use crate::optim::nelder_mead;

/// A forecasting model.
#[derive(Clone, Debug, PartialEq)]
pub enum Model {
    /// The last value, repeated.
    Naive,
    /// The value one season (of this many steps) earlier.
    SeasonalNaive(usize),
    /// Damped-trend Holt (level and trend, no season), for series too
    /// short for a seasonal model.
    Holt,
    /// Damped-trend additive Holt–Winters with one season, on the log
    /// scale; smoothing parameters fitted by least squares.
    HoltWinters(usize),
    /// Multi-seasonal decomposition (MSTL-style: each season's component
    /// re-estimated with the others removed, twice; each phase of a
    /// season smoothed over its cycles with weight `season`) with a
    /// damped-trend model of what is left (level weight `level`), on the
    /// log scale.
    Mstl {
        /// Season lengths in steps.
        periods: Vec<usize>,
        /// Weight of the newest cycle in a season's shape (0–1).
        season: f64,
        /// Weight of the newest point in the level (0–1).
        level: f64,
    },
}

impl Model {
    /// The name shown in tables and JSON (`snaive-24`, `mstl-24,168`…).
    pub fn name(&self) -> String {
        match self {
            Model::Naive => "naive".into(),
            Model::SeasonalNaive(m) => format!("snaive-{m}"),
            Model::Holt => "holt".into(),
            Model::HoltWinters(m) => format!("holt-winters-{m}"),
            Model::Mstl {
                periods,
                season,
                level,
            } => format!("mstl-{}/s{season}/l{level}", join(periods)),
        }
    }

    /// Whether it models a season.
    pub fn is_seasonal(&self) -> bool {
        !matches!(self, Model::Naive | Model::Holt)
    }

    /// The fewest points it can be fitted on.
    pub fn min_len(&self) -> usize {
        match self {
            Model::Naive => 1,
            Model::Holt => 4,
            Model::SeasonalNaive(m) => (*m).max(1),
            Model::HoltWinters(m) => m.saturating_mul(2).saturating_add(2),
            Model::Mstl { periods, .. } => {
                periods.iter().copied().min().unwrap_or(1).saturating_mul(2)
            }
        }
    }

    /// Predicts the `h` points after `y` (which has at least
    /// [`min_len`](Self::min_len) finite, non-negative points).
    pub fn predict(&self, y: &[f64], h: usize) -> Vec<f64> {
        assert!(y.len() >= self.min_len().max(1), "series too short");
        match self {
            Model::Naive => vec![*y.last().unwrap(); h],
            Model::SeasonalNaive(m) => seasonal_naive(y, (*m).max(1), h),
            Model::Holt => {
                let s = LogScale::of(y);
                let z = s.to(y);
                s.from(&holt(&z).predict(h))
            }
            // A season of under 2 steps is no season.
            Model::HoltWinters(m) if *m < 2 => Model::Holt.predict(y, h),
            Model::HoltWinters(m) => {
                let s = LogScale::of(y);
                let z = s.to(y);
                s.from(&holt_winters(&z, *m, h))
            }
            Model::Mstl {
                periods,
                season,
                level,
            } => {
                let s = LogScale::of(y);
                let z = s.to(y);
                s.from(&mstl(&z, periods, *season, *level, h))
            }
        }
    }
}

impl Model {
    /// A model by name for `--method`, at a step of `step` seconds:
    /// `naive`, `holt`, `snaive-day`, `snaive-week`, `snaive-N` (N steps),
    /// `holt-winters` (daily season), `mstl` (daily and weekly seasons).
    /// `None` for `auto`.
    pub fn parse(name: &str, step: u64) -> Result<Option<Model>, String> {
        let per = |secs: u64| (secs / step.max(1)) as usize;
        let (day, week) = (per(86_400), per(7 * 86_400));
        let season = |m: usize, what: &str| {
            if m >= 2 {
                Ok(m)
            } else {
                Err(format!(
                    "--method {name}: a step of {step} s has no {what} season"
                ))
            }
        };
        let seasons: Vec<usize> = [day, week].into_iter().filter(|&m| m >= 2).collect();
        Ok(Some(match name {
            "auto" => return Ok(None),
            "naive" => Model::Naive,
            "holt" => Model::Holt,
            "snaive-day" => Model::SeasonalNaive(season(day, "daily")?),
            "snaive-week" => Model::SeasonalNaive(season(week, "weekly")?),
            "holt-winters" => Model::HoltWinters(season(day, "daily")?),
            "mstl" if seasons.is_empty() => {
                return Err(format!("--method mstl: a step of {step} s has no season"))
            }
            "mstl" => Model::Mstl {
                periods: seasons,
                season: 0.25,
                level: 0.1,
            },
            _ => match name.strip_prefix("snaive-").map(str::parse::<usize>) {
                Some(Ok(m)) if m >= 1 => Model::SeasonalNaive(m),
                _ => {
                    return Err(format!(
                        "--method: expected auto, naive, holt, snaive-day, snaive-week, snaive-N, holt-winters or mstl, got '{name}'"
                    ))
                }
            },
        }))
    }
}

fn join(ps: &[usize]) -> String {
    ps.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// `ln(y + c)` and back.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogScale {
    c: f64,
}

impl LogScale {
    pub(crate) fn of(y: &[f64]) -> LogScale {
        let mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
        LogScale {
            c: (mean * 0.01).max(1e-9),
        }
    }
    pub(crate) fn to(&self, y: &[f64]) -> Vec<f64> {
        y.iter().map(|v| (v.max(0.0) + self.c).ln()).collect()
    }
    pub(crate) fn from(&self, z: &[f64]) -> Vec<f64> {
        // exp(z) − c, written so that z = ln(c) gives exactly 0 (an idle
        // series forecasts 0, not 1e-25).
        let lc = self.c.ln();
        z.iter()
            .map(|v| (self.c * (v - lc).exp_m1()).max(0.0))
            .collect()
    }
}

fn seasonal_naive(y: &[f64], m: usize, h: usize) -> Vec<f64> {
    let n = y.len();
    (0..h).map(|i| y[n - m + i % m]).collect()
}

/// A fitted damped-trend Holt model: where it ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct HoltState {
    pub level: f64,
    pub trend: f64,
    pub phi: f64,
}

impl HoltState {
    pub(crate) fn predict(&self, h: usize) -> Vec<f64> {
        let mut damp = 0.0;
        let mut pow = 1.0;
        (0..h)
            .map(|_| {
                pow *= self.phi;
                damp += pow;
                self.level + damp * self.trend
            })
            .collect()
    }
}

/// Runs damped Holt over `z` with the given parameters; returns the
/// one-step squared error sum and the final state.
fn holt_run(z: &[f64], alpha: f64, beta: f64, phi: f64) -> (f64, HoltState) {
    let mut l = z[0];
    let mut b = 0.0;
    let mut sse = 0.0;
    for &v in &z[1..] {
        let f = l + phi * b;
        let e = v - f;
        sse += e * e;
        l = f + alpha * e;
        b = phi * b + alpha * beta * e;
    }
    (
        sse,
        HoltState {
            level: l,
            trend: b,
            phi,
        },
    )
}

/// Damped Holt with parameters fitted by least squares. The damping
/// stays at or below 0.95: over a day ahead, an undamped trend fitted to
/// a week of traffic extrapolates into nonsense.
pub(crate) fn holt(z: &[f64]) -> HoltState {
    if z.len() < 3 {
        return HoltState {
            level: *z.last().unwrap(),
            trend: 0.0,
            phi: 0.0,
        };
    }
    let mut f = |p: &[f64]| holt_run(z, p[0], p[1], p[2]).0;
    let (p, _) = nelder_mead(
        &mut f,
        &[0.3, 0.05, 0.9],
        &[1e-3, 0.0, 0.8],
        &[0.999, 0.5, 0.95],
        300,
    );
    holt_run(z, p[0], p[1], p[2]).1
}

/// Damped Holt's squared errors at several distances ahead (1, and a
/// quarter, half, three quarters and all of `h`), not just the next step.
fn holt_multi_run(z: &[f64], h: usize, alpha: f64, beta: f64, phi: f64) -> (f64, HoltState) {
    let mut lags: Vec<usize> = [1, h / 4, h / 2, 3 * h / 4, h]
        .into_iter()
        .filter(|&l| l >= 1)
        .collect();
    lags.dedup();
    // φ + φ² + … + φ^lag for each lag.
    let damps: Vec<f64> = lags
        .iter()
        .map(|&lag| {
            if (1.0 - phi).abs() < 1e-12 {
                lag as f64
            } else {
                phi * (1.0 - phi.powi(lag as i32)) / (1.0 - phi)
            }
        })
        .collect();
    let mut l = z[0];
    let mut b = 0.0;
    let mut sse = 0.0;
    let n = z.len();
    // Errors from at most ~2,000 origins: enough to fit two parameters.
    let stride = (n / 2000).max(1);
    for t in 0..n {
        if t > 0 {
            let f = l + phi * b;
            let e = z[t] - f;
            l = f + alpha * e;
            b = phi * b + alpha * beta * e;
        }
        if t % stride != 0 {
            continue;
        }
        for (&lag, &d) in lags.iter().zip(&damps) {
            if t + lag < n {
                let e = z[t + lag] - (l + d * b);
                sse += e * e;
            }
        }
    }
    (
        sse,
        HoltState {
            level: l,
            trend: b,
            phi,
        },
    )
}

/// The trend model of the decomposition: exponential smoothing of what
/// the seasons leave, its level smoothed by `alpha` (chosen by backtest
/// among the candidates) and a damped trend whose weight and damping are
/// fitted to the errors over the whole horizon (one-step errors would
/// follow every wiggle). A trend that does not help fits to nothing.
pub(crate) fn damped_trend(z: &[f64], alpha: f64, h: usize) -> HoltState {
    if z.len() < 3 {
        return HoltState {
            level: *z.last().unwrap(),
            trend: 0.0,
            phi: 0.0,
        };
    }
    let mut f = |p: &[f64]| holt_multi_run(z, h, alpha, p[0], p[1]).0;
    let (p, _) = nelder_mead(&mut f, &[0.05, 0.9], &[0.0, 0.8], &[0.5, 0.98], 120);
    holt_multi_run(z, h, alpha, p[0], p[1]).1
}

/// Runs additive damped Holt–Winters; returns the one-step squared error
/// sum (after the first two seasons) and the final level, trend and
/// season (indexed by phase relative to the end).
fn hw_run(z: &[f64], m: usize, p: &[f64]) -> (f64, HoltState, Vec<f64>) {
    let (alpha, beta, gamma, phi) = (p[0], p[1], p[2] * (1.0 - p[0]), p[3]);
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let m1 = mean(&z[..m]);
    let m2 = mean(&z[m..2 * m]);
    let mut s: Vec<f64> = z[..m].iter().map(|v| v - m1).collect();
    let mut l = m1 + (m2 - m1) * (m as f64 - 1.0) / (2.0 * m as f64);
    let mut b = (m2 - m1) / m as f64;
    let mut sse = 0.0;
    for (t, &v) in z.iter().enumerate().skip(m) {
        let k = t % m;
        let f = l + phi * b + s[k];
        let e = v - f;
        if t >= 2 * m {
            sse += e * e;
        }
        let l_new = l + phi * b + alpha * e;
        b = phi * b + alpha * beta * e;
        s[k] += gamma * e;
        l = l_new;
    }
    let n = z.len();
    let season: Vec<f64> = (0..m).map(|i| s[(n + i) % m]).collect();
    (
        sse,
        HoltState {
            level: l,
            trend: b,
            phi,
        },
        season,
    )
}

fn holt_winters(z: &[f64], m: usize, h: usize) -> Vec<f64> {
    let mut f = |p: &[f64]| hw_run(z, m, p).0;
    let (p, _) = nelder_mead(
        &mut f,
        &[0.2, 0.05, 0.1, 0.9],
        &[1e-3, 0.0, 0.0, 0.8],
        &[0.999, 0.3, 0.999, 0.98],
        400,
    );
    let (_, st, season) = hw_run(z, m, &p);
    st.predict(h)
        .into_iter()
        .enumerate()
        .map(|(i, v)| v + season[i % m])
        .collect()
}

/// Centred moving average over `p` points (a 2×p average when `p` is
/// even). Within half a season of either end, where the centred window
/// would be cut short, the average is carried on by a straight line
/// through the outermost whole ones: a cut window's mean would hold part
/// of the season's shape, and a whole window shifted inwards would lag a
/// trend.
fn centred_mean(x: &[f64], p: usize) -> Vec<f64> {
    let n = x.len();
    let mut pre = vec![0.0; n + 1];
    for i in 0..n {
        pre[i + 1] = pre[i] + x[i];
    }
    let half = p / 2;
    let mut out = vec![0.0; n];
    if n < 2 * half + 1 {
        // No whole window: the mean of everything.
        out.fill(pre[n] / n.max(1) as f64);
        return out;
    }
    let (first, last) = (half, n - 1 - half);
    for (i, o) in out.iter_mut().enumerate().take(last + 1).skip(first) {
        let (lo, hi) = (i - half, i + half);
        *o = if p.is_multiple_of(2) {
            // 2×p: the two end points count half.
            (pre[hi + 1] - pre[lo] - 0.5 * (x[lo] + x[hi])) / p as f64
        } else {
            (pre[hi + 1] - pre[lo]) / p as f64
        };
    }
    // The slope over (at most) one season of whole averages at each end.
    let span = p.min(last - first);
    let slope = |a: usize, b: usize| {
        if span == 0 {
            0.0
        } else {
            (out[b] - out[a]) / span as f64
        }
    };
    let (s0, s1) = (slope(first, first + span), slope(last - span, last));
    let (v0, v1) = (out[first], out[last]);
    for (i, o) in out.iter_mut().enumerate().take(first) {
        *o = v0 - s0 * (first - i) as f64;
    }
    for (i, o) in out.iter_mut().enumerate().skip(last + 1) {
        *o = v1 + s1 * (i - last) as f64;
    }
    out
}

/// How much each new cycle weighs in a season's shape: `floor`, or more
/// while there are few cycles (a plain mean of the first ones).
fn season_weight(cycles: usize, floor: f64) -> f64 {
    (2.0 / (cycles as f64 + 1.0)).max(floor)
}

/// The decomposition: seasonal components (each as its last cycle, by
/// phase relative to the end) and the deseasonalised series.
pub(crate) fn decompose(z: &[f64], periods: &[usize], season: f64) -> (Vec<Vec<f64>>, Vec<f64>) {
    let n = z.len();
    let mut ps: Vec<usize> = periods
        .iter()
        .copied()
        .filter(|&p| p >= 2 && 2 * p <= n)
        .collect();
    ps.sort_unstable();
    ps.dedup();
    let mut comps: Vec<Vec<f64>> = vec![vec![0.0; n]; ps.len()];
    for _ in 0..2 {
        for k in 0..ps.len() {
            let p = ps[k];
            let mut d = z.to_vec();
            for (j, c) in comps.iter().enumerate() {
                if j != k {
                    for (a, b) in d.iter_mut().zip(c) {
                        *a -= b;
                    }
                }
            }
            let trend = centred_mean(&d, p);
            let detr: Vec<f64> = d.iter().zip(&trend).map(|(a, b)| a - b).collect();
            // Each phase smoothed over its cycles, oldest first.
            let cycles = n.div_ceil(p);
            let w = season_weight(cycles, season);
            let comp = &mut comps[k];
            for phase in 0..p {
                let mut s = None;
                let mut t = phase;
                while t < n {
                    let v = detr[t];
                    let next = match s {
                        None => v,
                        Some(prev) => prev + w * (v - prev),
                    };
                    s = Some(next);
                    comp[t] = next;
                    t += p;
                }
            }
            // The last cycle sums to zero, so the level stays in the trend.
            let tail = &mut comp[n - p..];
            let mean = tail.iter().sum::<f64>() / p as f64;
            for v in comp.iter_mut() {
                *v -= mean;
            }
        }
    }
    let mut rest = z.to_vec();
    for c in &comps {
        for (a, b) in rest.iter_mut().zip(c) {
            *a -= b;
        }
    }
    let lasts = comps
        .iter()
        .zip(&ps)
        .map(|(c, &p)| c[n - p..].to_vec())
        .collect();
    (lasts, rest)
}

fn mstl(z: &[f64], periods: &[usize], season: f64, level: f64, h: usize) -> Vec<f64> {
    let (seasons, rest) = decompose(z, periods, season);
    let trend = damped_trend(&rest, level, h).predict(h);
    (0..h)
        .map(|i| trend[i] + seasons.iter().map(|s| s[i % s.len()]).sum::<f64>())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonal_naive_repeats_the_last_season() {
        let y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(
            Model::SeasonalNaive(3).predict(&y, 5),
            vec![4.0, 5.0, 6.0, 4.0, 5.0]
        );
        assert_eq!(Model::Naive.predict(&y, 2), vec![6.0, 6.0]);
    }

    #[test]
    fn centred_mean_of_a_line_is_the_line_inside() {
        let x: Vec<f64> = (0..20).map(|i| i as f64).collect();
        let m = centred_mean(&x, 4);
        for (i, v) in m.iter().enumerate().take(18).skip(2) {
            assert!((v - i as f64).abs() < 1e-12, "{i} {v}");
        }
    }

    #[test]
    fn centred_mean_ends_hold_no_season() {
        // A line plus a season summing to zero, of 4 and of 5 (the 2×p and
        // the plain window): the mean is the line to the very ends.
        let seasons: [&[f64]; 2] = [&[30.0, -10.0, 5.0, -25.0], &[30.0, -10.0, 5.0, -25.0, 0.0]];
        for s in seasons {
            let x: Vec<f64> = (0..23).map(|i| 2.0 * i as f64 + s[i % s.len()]).collect();
            let m = centred_mean(&x, s.len());
            for (i, v) in m.iter().enumerate() {
                assert!(
                    (v - 2.0 * i as f64).abs() < 1e-9,
                    "p {} at {i}: {v}",
                    s.len()
                );
            }
        }
    }
}
