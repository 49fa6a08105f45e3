//! The forecast CSV reader and the forecaster on arbitrary text. The
//! input is read as a series CSV (column 2, a daily season of 6 points);
//! whatever it reads is forecast. Nothing may panic; a series read has
//! only finite values ≥ 0, and every forecast point and band bound is a
//! finite number ≥ 0 with lower ≤ point ≤ upper.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wirewatch_forecast::{csv, forecast, Settings};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(s) = csv::read(&text, "fuzz.csv", "2", Some(6)) else {
        return;
    };
    assert!(s.values.iter().all(|v| v.is_finite() && *v >= 0.0));
    // Long series only cost time: the reader is what is fuzzed.
    if s.values.len() > 2_000 {
        return;
    }
    let settings = Settings {
        seasons: vec![6, 42],
        horizon: 5,
        windows: 3,
        levels: vec![0.8, 0.99],
        model: None,
    };
    if let Ok(f) = forecast(&s.values, &settings) {
        for b in &f.bands {
            for k in 0..f.point.len() {
                let (lo, p, hi) = (b.lower[k], f.point[k], b.upper[k]);
                assert!(lo.is_finite() && p.is_finite() && hi.is_finite());
                assert!(0.0 <= lo && lo <= p && p <= hi, "{lo} {p} {hi}");
            }
        }
    }
});
