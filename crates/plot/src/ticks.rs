//! The choice of value-axis ticks.

/// Mantissas of the tick steps tried, finest first: 1, 2, 2.5 and 5 × 10^k.
/// (10 covers a decade misjudged by rounding in `log10`.)
const MANTISSAS: [f64; 5] = [1.0, 2.0, 2.5, 5.0, 10.0];

/// The ticks chosen for a value axis.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValueTicks {
    /// Bottom of the axis: the lowest tick.
    pub lo: f64,
    /// Top of the axis: the highest tick.
    pub hi: f64,
    /// Tick values, ascending, from `lo` to `hi` by a fixed step.
    pub ticks: Vec<f64>,
}

impl ValueTicks {
    /// Where `v` falls on the axis: 0 at `lo`, 1 at `hi`, clamped to that.
    pub(crate) fn fraction(&self, v: f64) -> f64 {
        // Halved so that nothing overflows even from -f64::MAX to f64::MAX.
        let span = self.hi / 2.0 - self.lo / 2.0;
        let f = (v / 2.0 - self.lo / 2.0) / span;
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// Chooses ticks for data from `data_lo` to `data_hi` (finite, `lo <= hi`)
/// with at most `max_intervals` intervals between ticks.
///
/// The axis always includes 0: it runs from 0 (or below, for negative data)
/// to the first tick at or above the data. The step is the smallest of
/// 1, 2, 2.5 and 5 × 10^k that needs no more than `max_intervals`
/// intervals; so data up to 1234 with 6 intervals allowed gets
/// 0, 250, 500, 750, 1000, 1250 (a step of 200 would need 7).
/// All-zero data gets the axis 0..1.
pub(crate) fn value_ticks(data_lo: f64, data_hi: f64, max_intervals: usize) -> ValueTicks {
    let max_intervals = max_intervals.max(1);
    let mut lo = if data_lo.is_finite() {
        data_lo.min(0.0)
    } else {
        0.0
    };
    let mut hi = if data_hi.is_finite() {
        data_hi.max(0.0)
    } else {
        0.0
    };
    // Nothing (or next to nothing) to show: a unit axis.
    // Both are finite here, so the difference is never NaN.
    if hi - lo <= 1e-200 {
        lo = 0.0;
        hi = 1.0;
    }
    let span = (hi - lo).min(f64::MAX);
    let raw = span / max_intervals as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let mut chosen = None;
    for m in MANTISSAS {
        let step = m * magnitude;
        if !(step.is_finite() && step > 0.0) {
            continue;
        }
        // A hair of slack so that 1000.0000001 / 250 still counts as 4.
        let n_lo = (lo / step + 1e-9).floor();
        let n_hi = (hi / step - 1e-9).ceil();
        chosen = Some((step, n_lo, n_hi));
        if n_hi - n_lo <= max_intervals as f64 {
            break;
        }
    }
    let Some((step, n_lo, n_hi)) = chosen else {
        return ValueTicks {
            lo,
            hi,
            ticks: vec![lo, hi],
        };
    };
    // The counts are small integers; the products can pass f64::MAX only
    // at the very end of the range, where the axis stops at the largest
    // finite value instead.
    let ticks: Vec<f64> = (n_lo as i64..=n_hi as i64)
        .map(|n| n as f64 * step)
        .filter(|v| v.is_finite())
        .collect();
    let axis_lo = (n_lo * step).max(-f64::MAX).min(lo);
    let axis_hi = (n_hi * step).min(f64::MAX).max(hi);
    ValueTicks {
        lo: axis_lo,
        hi: axis_hi,
        ticks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
        value_ticks(lo, hi, n).ticks
    }

    #[test]
    fn hand_computed() {
        // 1234 / 6 = 205.7: 200 would need 7 intervals, 250 needs 5.
        assert_eq!(
            ticks(0.0, 1234.0, 6),
            [0.0, 250.0, 500.0, 750.0, 1000.0, 1250.0]
        );
        // 1000 / 6 = 166.7: step 200, 5 intervals, ending exactly on 1000.
        assert_eq!(
            ticks(0.0, 1000.0, 6),
            [0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]
        );
        // 9.3e6 / 6 = 1.55e6: step 2e6.
        assert_eq!(ticks(0.0, 9.3e6, 6), [0.0, 2e6, 4e6, 6e6, 8e6, 10e6]);
        // Allowed 3 intervals, 70 needs a step of 25.
        assert_eq!(ticks(0.0, 70.0, 3), [0.0, 25.0, 50.0, 75.0]);
        // Positive data still starts at zero.
        assert_eq!(
            ticks(500.0, 520.0, 6),
            [0.0, 100.0, 200.0, 300.0, 400.0, 500.0, 600.0]
        );
    }

    #[test]
    fn degenerate_ranges() {
        // All zero: 0..1 in steps of 0.2.
        let t = value_ticks(0.0, 0.0, 6);
        assert_eq!((t.lo, t.hi), (0.0, 1.0));
        assert_eq!(t.ticks.len(), 6);
        assert_eq!(value_ticks(1e-300, 1e-300, 6).hi, 1.0);
    }

    #[test]
    fn negative_data_extends_below_zero() {
        assert_eq!(
            ticks(-30.0, 100.0, 6),
            [-50.0, -25.0, 0.0, 25.0, 50.0, 75.0, 100.0]
        );
        assert_eq!(
            ticks(-800.0, -100.0, 6),
            [-800.0, -600.0, -400.0, -200.0, 0.0]
        );
    }

    #[test]
    fn extremes_stay_finite() {
        for (lo, hi) in [
            (0.0, f64::MAX),
            (-f64::MAX, f64::MAX),
            (-f64::MAX, 0.0),
            (0.0, f64::MIN_POSITIVE),
            (0.0, 1.7e308),
        ] {
            let t = value_ticks(lo, hi, 6);
            assert!(
                t.lo.is_finite() && t.hi.is_finite() && t.lo < t.hi,
                "{lo} {hi}: {t:?}"
            );
            assert!(t.ticks.len() >= 2 && t.ticks.len() <= 8, "{lo} {hi}: {t:?}");
            assert!(t.ticks.iter().all(|v| v.is_finite()));
            for v in [lo, hi, 0.0] {
                let f = t.fraction(v);
                assert!((0.0..=1.0).contains(&f));
            }
        }
    }

    #[test]
    fn fraction_maps_linearly() {
        let t = value_ticks(0.0, 1234.0, 6);
        assert_eq!(t.fraction(0.0), 0.0);
        assert_eq!(t.fraction(1250.0), 1.0);
        assert_eq!(t.fraction(625.0), 0.5);
        assert_eq!(t.fraction(-5.0), 0.0);
    }
}
