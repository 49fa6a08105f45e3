//! Rolling-origin backtests and their scores.
//!
//! Protocol: `windows` forecasts of `h` points each; the last one ends at
//! the end of the series and each earlier one `h` points before; every
//! forecast is fitted on all points before its window.

use crate::Error;

/// Accuracy over the windows of a backtest.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores {
    /// Mean absolute percentage error, % (points whose actual is 0 are
    /// left out; NaN when every actual is 0).
    pub mape: f64,
    /// Symmetric MAPE, % (0–200): mean of 2|a−f|/(|a|+|f|).
    pub smape: f64,
    /// Mean absolute scaled error: each window's mean absolute error over
    /// the in-sample mean absolute error of the seasonal naive forecast
    /// (first season) on its training points, averaged over windows.
    pub mase: f64,
    /// Weighted absolute percentage error, %: Σ|a−f| / Σ|a|.
    pub wape: f64,
    /// Points scored.
    pub points: usize,
    /// Windows scored.
    pub windows: usize,
}

/// One forecast point of a backtest: step ahead (0-based), actual, forecast.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Steps after the window's origin, from 0.
    pub step: usize,
    /// The observed value.
    pub actual: f64,
    /// The forecast.
    pub forecast: f64,
}

/// A backtest's scores and its points.
#[derive(Clone, Debug, PartialEq)]
pub struct Backtest {
    /// The scores.
    pub scores: Scores,
    /// Every forecast point, window by window.
    pub points: Vec<Point>,
}

/// How many windows of `h` fit after `min_train` points of `n`.
pub fn windows_possible(n: usize, min_train: usize, h: usize) -> usize {
    if h == 0 || n < min_train {
        0
    } else {
        (n - min_train) / h
    }
}

/// Backtests `predict` (training points, horizon → forecast) on `y`.
/// `mase_season` scales MASE (use 1 without a season).
pub fn backtest(
    y: &[f64],
    h: usize,
    windows: usize,
    mase_season: usize,
    predict: &dyn Fn(&[f64], usize) -> Vec<f64>,
) -> Result<Backtest, Error> {
    if h == 0 || windows == 0 {
        return Err(Error::Settings(
            "the horizon and the number of windows must be at least 1".into(),
        ));
    }
    let n = y.len();
    let need = windows
        .checked_mul(h)
        .and_then(|v| v.checked_add(mase_season.max(1).saturating_add(1)))
        .unwrap_or(usize::MAX);
    if n < need {
        return Err(Error::TooShort(format!(
            "{windows} windows of {h} points need more than {} points, the series has {n}",
            need - 1
        )));
    }
    let mut points = Vec::with_capacity(windows * h);
    let mut mase_sum = 0.0;
    for w in 0..windows {
        let origin = n - (windows - w) * h;
        let train = &y[..origin];
        let f = predict(train, h);
        let m = mase_season.max(1);
        let scale = train
            .iter()
            .skip(m)
            .zip(train)
            .map(|(a, b)| (a - b).abs())
            .sum::<f64>()
            / (train.len() - m) as f64;
        let mut abs = 0.0;
        for (step, (&a, &fc)) in y[origin..origin + h].iter().zip(&f).enumerate() {
            abs += (a - fc).abs();
            points.push(Point {
                step,
                actual: a,
                forecast: fc,
            });
        }
        mase_sum += if scale > 0.0 {
            abs / h as f64 / scale
        } else {
            f64::NAN
        };
    }
    let mut scores = score(&points);
    scores.mase = mase_sum / windows as f64;
    scores.windows = windows;
    Ok(Backtest { scores, points })
}

/// MAPE, sMAPE and WAPE of a set of points (MASE and windows left 0).
pub fn score(points: &[Point]) -> Scores {
    let (mut ape, mut ape_n, mut sape, mut abs, mut act) = (0.0, 0usize, 0.0, 0.0, 0.0);
    for p in points {
        let e = (p.actual - p.forecast).abs();
        if p.actual != 0.0 {
            ape += e / p.actual.abs();
            ape_n += 1;
        }
        let d = p.actual.abs() + p.forecast.abs();
        if d > 0.0 {
            sape += 2.0 * e / d;
        }
        abs += e;
        act += p.actual.abs();
    }
    let n = points.len().max(1) as f64;
    Scores {
        mape: if ape_n > 0 {
            100.0 * ape / ape_n as f64
        } else {
            f64::NAN
        },
        smape: 100.0 * sape / n,
        mase: 0.0,
        wape: if act > 0.0 {
            100.0 * abs / act
        } else {
            f64::NAN
        },
        points: points.len(),
        windows: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_by_hand() {
        let pts = [
            Point {
                step: 0,
                actual: 100.0,
                forecast: 110.0,
            },
            Point {
                step: 1,
                actual: 50.0,
                forecast: 40.0,
            },
        ];
        let s = score(&pts);
        assert!((s.mape - 15.0).abs() < 1e-12);
        assert!((s.wape - 20.0 / 150.0 * 100.0).abs() < 1e-12);
        let smape = 100.0 * (20.0 / 210.0 + 20.0 / 90.0) / 2.0;
        assert!((s.smape - smape).abs() < 1e-12);
    }

    #[test]
    fn windows_end_at_the_end_and_train_on_what_came_before() {
        // A forecast that repeats the last training point: window w's
        // forecast is the point just before its origin.
        let y: Vec<f64> = (1..=20).map(|v| v as f64).collect();
        let b = backtest(&y, 3, 2, 1, &|t, h| vec![*t.last().unwrap(); h]).unwrap();
        let f: Vec<f64> = b.points.iter().map(|p| p.forecast).collect();
        let a: Vec<f64> = b.points.iter().map(|p| p.actual).collect();
        assert_eq!(a, vec![15.0, 16.0, 17.0, 18.0, 19.0, 20.0]);
        assert_eq!(f, vec![14.0, 14.0, 14.0, 17.0, 17.0, 17.0]);
        // In-sample naive error is 1 a step; mean errors 2 per window.
        assert!((b.scores.mase - 2.0).abs() < 1e-12);
        assert!(backtest(&y, 10, 2, 1, &|t, h| vec![t[0]; h]).is_err());
    }
}
