//! Backtests on the real ISP traffic series in `../shared/series` (beside
//! the checkout, or where `WIREWATCH_SERIES` points; skipped, saying so,
//! when absent), with the protocol of its README: rolling origin, 7
//! windows of one day each (24 hourly or 288 five-minute points), seasons
//! of a day and a week. The automatic choice (itself choosing on 7 windows
//! of each window's training points) must beat the README's best reference
//! MAPE, and seasonal naive (daily) must reproduce the README's figure to
//! within 0.1: a check that the protocol here is the one the references
//! were measured with.
//!
//! The five-minute series take about 20 s each in a debug build, 4 s
//! optimised.

use std::path::Path;
use std::time::Instant;

use wirewatch_forecast::backtest::backtest;
use wirewatch_forecast::forecast::auto_predict;
use wirewatch_forecast::{csv, Model};

struct Case {
    file: &'static str,
    day: usize,
    /// README: seasonal naive daily MAPE.
    snaive_daily: f64,
    /// README: the best reference MAPE.
    best: f64,
}

/// Backtests `c` on its series in `dir`.
fn run(dir: &Path, c: &Case) {
    let text = std::fs::read_to_string(dir.join(c.file)).unwrap();
    let s = csv::read(&text, c.file, "2", Some(c.day)).unwrap();
    assert_eq!(s.filled, 0, "{}: the README says there are no gaps", c.file);
    let y = &s.values;
    let seasons = [c.day, 7 * c.day];
    let (h, windows) = (c.day, 7);
    let t = Instant::now();
    let sn = backtest(y, h, windows, c.day, &|t, hh| {
        Model::SeasonalNaive(c.day).predict(t, hh)
    })
    .unwrap();
    let t_sn = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let auto = backtest(y, h, windows, c.day, &|t, hh| {
        auto_predict(t, &seasons, hh, 7)
    })
    .unwrap();
    let t_auto = t.elapsed().as_secs_f64();
    println!(
        "{}: {} points; snaive-{} MAPE {:.2} WAPE {:.2} ({t_sn:.2} s); auto MAPE {:.2} sMAPE {:.2} WAPE {:.2} MASE {:.3} ({t_auto:.1} s)",
        c.file,
        y.len(),
        c.day,
        sn.scores.mape,
        sn.scores.wape,
        auto.scores.mape,
        auto.scores.smape,
        auto.scores.wape,
        auto.scores.mase,
    );
    assert!(
        (sn.scores.mape - c.snaive_daily).abs() < 0.1,
        "{}: seasonal naive daily MAPE {:.3}, the README has {}: the protocols differ",
        c.file,
        sn.scores.mape,
        c.snaive_daily
    );
    assert!(
        auto.scores.mape < c.best,
        "{}: automatic choice MAPE {:.3} does not beat the best reference {}",
        c.file,
        auto.scores.mape,
        c.best
    );
}

#[test]
fn uk_hourly() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("series"));
    run(
        &dir,
        &Case {
            file: "internet-traffic-data-in-bits-UK_hourly.csv",
            day: 24,
            snaive_daily: 10.6,
            best: 7.0,
        },
    );
}

#[test]
fn eu_hourly() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("series"));
    run(
        &dir,
        &Case {
            file: "internet-traffic-data-in-bits-fr-EU_hourly.csv",
            day: 24,
            snaive_daily: 22.2,
            best: 22.2,
        },
    );
}

#[test]
fn uk_5min() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("series"));
    run(
        &dir,
        &Case {
            file: "internet-traffic-data-in-bits-fr_UK_5m.csv",
            day: 288,
            snaive_daily: 10.9,
            best: 7.2,
        },
    );
}

#[test]
fn eu_5min() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("series"));
    run(
        &dir,
        &Case {
            file: "internet-traffic-data-in-bits-fr_EU_5m.csv",
            day: 288,
            snaive_daily: 23.1,
            best: 23.1,
        },
    );
}
