//! Writes example charts as SVG and PNG into a folder (default
//! `/tmp/plot-examples`): `cargo run -p wirewatch-plot --example demo [DIR]`.

use std::error::Error;
use std::path::PathBuf;

use wirewatch_plot::{render_png, render_svg, Band, Chart, Series};

/// 2026-11-16 00:00:00 UTC.
const START: i64 = 1_794_787_200;

/// A small deterministic noise source (xorshift), so the demo needs no
/// random-number crate and always draws the same charts.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A week of 5-minute samples: a daily cycle around `base` bit/s, noise,
/// and (for one series) an outage that leaves a gap.
fn week(name: &str, base: f64, seed: u64, outage: bool) -> Series {
    let mut noise = Noise(seed);
    let points = (0..=7 * 24 * 12)
        .map(|i| {
            let t = START + i * 300;
            let hour = (t % 86_400) as f64 / 3600.0;
            let daily = 1.0 + 0.8 * ((hour - 14.0) / 24.0 * std::f64::consts::TAU).cos();
            let mut v = base * daily * (0.8 + 0.4 * noise.next());
            if outage && (900..960).contains(&i) {
                v = f64::NAN;
            }
            (t, v)
        })
        .collect();
    Series {
        name: name.to_owned(),
        points,
        ..Default::default()
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "/tmp/plot-examples".to_owned()),
    );
    std::fs::create_dir_all(&dir)?;

    let week_chart = Chart {
        title: "eth0 traffic, last 7 days".to_owned(),
        y_unit: "bit/s".to_owned(),
        series: vec![
            week("192.168.1.10 ⇄ 203.0.113.5:443", 40e6, 1, false),
            week("192.168.1.10 ⇄ 198.51.100.7:22", 12e6, 2, true),
            week(
                "192.168.1.23 ⇄ 203.0.113.80:8080 (a very long flow name)",
                25e6,
                3,
                false,
            ),
            week("dns", 1.5e6, 4, false),
            week("other", 6e6, 5, false),
        ],
        bands: vec![],
        markers: vec![],
        width: 1000,
        height: 500,
    };

    let mut noise = Noise(9);
    let two_hours = Chart {
        title: "wlan0 <rx & tx>".to_owned(),
        y_unit: "B".to_owned(),
        series: vec![
            Series {
                name: "rx".to_owned(),
                points: (0..=120)
                    .map(|m| (START + 14 * 3600 + 7 * 60 + m * 60, 600e3 * noise.next()))
                    .collect(),
                ..Default::default()
            },
            Series {
                name: "tx".to_owned(),
                points: (0..=120)
                    .map(|m| {
                        let v = if m % 40 == 20 {
                            f64::NAN
                        } else {
                            150e3 * noise.next()
                        };
                        (START + 14 * 3600 + 7 * 60 + m * 60, v)
                    })
                    .collect(),
                ..Default::default()
            },
            Series {
                name: "single".to_owned(),
                points: vec![(START + 15 * 3600, 420e3)],
                ..Default::default()
            },
        ],
        bands: vec![],
        markers: vec![],
        width: 640,
        height: 320,
    };

    let empty = Chart {
        title: "no traffic yet".to_owned(),
        y_unit: "bit/s".to_owned(),
        series: vec![Series {
            name: "eth1".to_owned(),
            ..Default::default()
        }],
        bands: vec![],
        markers: vec![],
        width: 300,
        height: 200,
    };

    // Three days of hourly history, then a day of forecast with its 80 %
    // and 95 % prediction bands widening over the horizon.
    let daily = |h: i64| 20e6 + 12e6 * ((h % 24) as f64 / 24.0 * std::f64::consts::TAU).sin();
    let now = START + 72 * 3600;
    let mut noise = Noise(11);
    let ahead = |z: f64| -> Vec<(i64, f64, f64)> {
        (0..=24)
            .map(|h| {
                let spread = z * 2e6 * (1.0 + h as f64 / 6.0);
                let mid = daily(72 + h);
                (now + h * 3600, mid - spread, mid + spread)
            })
            .collect()
    };
    let forecast = Chart {
        title: "eth0 forecast, next 24 h".to_owned(),
        y_unit: "bit/s".to_owned(),
        series: vec![
            Series {
                name: "history".to_owned(),
                points: (0..=72)
                    .map(|h| (START + h * 3600, daily(h) * (0.9 + 0.2 * noise.next())))
                    .collect(),
                ..Default::default()
            },
            Series {
                name: "forecast".to_owned(),
                points: (0..=24).map(|h| (now + h * 3600, daily(72 + h))).collect(),
                colour: Some(3),
                dashed: true,
            },
        ],
        bands: vec![
            Band {
                name: "95 % interval".to_owned(),
                points: ahead(1.96),
                colour: 3,
                opacity: 0.15,
            },
            Band {
                name: "80 % interval".to_owned(),
                points: ahead(1.28),
                colour: 3,
                opacity: 0.3,
            },
        ],
        markers: vec![(now, "now".to_owned())],
        width: 900,
        height: 420,
    };

    for (name, chart) in [
        ("week", &week_chart),
        ("two-hours", &two_hours),
        ("empty", &empty),
        ("forecast", &forecast),
    ] {
        std::fs::write(dir.join(format!("{name}.svg")), render_svg(chart))?;
        std::fs::write(dir.join(format!("{name}.png")), render_png(chart)?)?;
    }
    println!(
        "wrote week, two-hours, empty and forecast (.svg, .png) to {}",
        dir.display()
    );
    Ok(())
}
