//! Forecast timings: the automatic forecast (every candidate backtested
//! over 7 windows, the choice, the intervals) on 30 days of 5-minute
//! points, each model's single fit and predict on the same series, and —
//! when `../shared/series` is beside the checkout — the UK 5-minute ISP
//! series (≈ 20,000 points) the same way.
//!
//! `cargo bench -p wirewatch-forecast`; `FORECAST_BENCH_REPS` sets the
//! repetitions (default 5). Wall time and this thread's CPU time are both
//! given, so a machine busy with other work still gives a fair figure.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use wirewatch_forecast::forecast::{forecast, Settings};
use wirewatch_forecast::{csv, Model};

/// Nanoseconds this thread has run on a CPU (Linux), when known.
fn thread_cpu_nanos() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Wall and CPU seconds of each of `reps` runs of `f`.
fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> (Vec<f64>, Vec<f64>) {
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let c0 = thread_cpu_nanos();
        let t0 = Instant::now();
        black_box(f());
        wall.push(t0.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (c0, thread_cpu_nanos()) {
            cpu.push(b.saturating_sub(a) as f64 * 1e-9);
        }
    }
    (wall, cpu)
}

fn min_median(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[0], s[s.len() / 2])
}

/// Seconds in a readable unit.
fn secs(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.3} s")
    } else if v >= 1e-3 {
        format!("{:.3} ms", v * 1e3)
    } else {
        format!("{:.3} µs", v * 1e6)
    }
}

/// One line: min and median wall time, points a second at the median,
/// and the median CPU time (the kernel counts it in ticks of a few ms, so
/// it is left out for quick runs).
fn report(what: &str, points: usize, (wall, cpu): (Vec<f64>, Vec<f64>)) {
    let (min, med) = min_median(&wall);
    let cpu = if cpu.is_empty() || med < 0.05 {
        String::new()
    } else {
        format!("  (CPU median {})", secs(min_median(&cpu).1))
    };
    println!(
        "  {what:<40} min {:>11}  median {:>11}  {:>14.0} points/s{cpu}",
        secs(min),
        secs(med),
        points as f64 / med
    );
}

/// SplitMix64 with Box–Muller normals.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (((z ^ (z >> 31)) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// 30 days at 5 minutes: a daily swing, a quieter weekend, 8 % noise.
fn synthetic() -> Vec<f64> {
    const WEEK: [f64; 7] = [1.0, 1.03, 1.0, 0.97, 0.94, 0.7, 0.62];
    let mut r = Rng(1);
    (0..30 * 288)
        .map(|t| {
            let x = 2.0 * std::f64::consts::PI * (t % 288) as f64 / 288.0;
            let day = (0.6 * (x - 2.0).sin() + 0.15 * (2.0 * x).sin()).exp();
            5e6 * day * WEEK[(t / 288) % 7] * (0.08 * r.normal()).exp()
        })
        .collect()
}

fn bench_series(name: &str, y: &[f64], reps: usize) {
    let s = Settings::for_step(300, 288);
    println!(
        "{name}: {} points, seasons {:?}, horizon {}, {} windows",
        y.len(),
        s.seasons,
        s.horizon,
        s.windows
    );
    let f = forecast(y, &s).unwrap();
    println!(
        "  chosen: {} over {} windows, from {} candidates",
        f.model.name(),
        f.windows,
        f.candidates.len()
    );
    report(
        "auto forecast + intervals",
        y.len(),
        time(reps, || forecast(y, &s)),
    );
    let models = [
        Model::Naive,
        Model::SeasonalNaive(288),
        Model::SeasonalNaive(2016),
        Model::Holt,
        Model::HoltWinters(288),
        Model::Mstl {
            periods: vec![288, 2016],
            season: 0.25,
            level: 0.1,
        },
        Model::Mstl {
            periods: vec![288, 2016],
            season: 0.75,
            level: 0.3,
        },
    ];
    for m in &models {
        report(
            &format!("fit + predict {}", m.name()),
            y.len(),
            time(reps, || m.predict(y, 288)),
        );
    }
}

fn main() {
    let reps = std::env::var("FORECAST_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    println!("wirewatch-forecast bench, {reps} repetitions each\n");
    bench_series("synthetic 30 days at 5 min", &synthetic(), reps);
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/series/internet-traffic-data-in-bits-fr_UK_5m.csv");
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            let s = csv::read(&text, "UK 5 min", "2", Some(288)).unwrap();
            // Its last 30 days: the size the speed target names, real data
            // (what scripts/bench-forecast.sh gives statsforecast too).
            let last30 = &s.values[s.values.len() - 30 * 288..];
            println!();
            bench_series("UK 5-minute ISP series, last 30 days", last30, reps);
            println!();
            bench_series("UK 5-minute ISP series, all", &s.values, reps);
        }
        Err(_) => println!("\nskipping the UK 5-minute series: ../shared/series not found"),
    }
}
