//! `wirewatch forecast …` as parsed.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args as ClapArgs, Subcommand};
pub use wirewatch_pipeline::requests::params::Direction;

use super::values;

/// `wirewatch forecast …`.
#[derive(ClapArgs, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ForecastArgs {
    /// `backtest`, or nothing for a forecast from history.
    #[command(subcommand)]
    pub sub: Option<ForecastSub>,
    /// What to forecast.
    #[command(flatten)]
    pub what: HistoryForecast,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum ForecastSub {
    /// Score every model on a CSV series by rolling-origin backtest.
    Backtest(BacktestArgs),
}

/// A forecast from history.
#[derive(ClapArgs, Debug)]
pub struct HistoryForecast {
    /// Forecast this interface's traffic (default: all traffic in the store).
    #[arg(long, value_name = "IFACE", conflicts_with_all = ["host", "process"])]
    pub iface: Option<String>,
    /// Forecast this host's traffic.
    #[arg(long, value_name = "ADDR", conflicts_with = "process", value_parser = values::host())]
    pub host: Option<IpAddr>,
    /// Forecast this process's traffic.
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,
    /// How far ahead (5m, 6h, 24h, 7d).
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub horizon: String,
    /// Step of the forecast and of the history it learns from (whole minutes).
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub step: String,
    /// History learned from, back from --until.
    #[arg(long, default_value = "28d", value_name = "DURATION")]
    pub history: String,
    /// Where history ends and the forecast starts: `now`, a duration back
    /// from now, or an RFC 3339 time.
    #[arg(long, default_value = "now", value_name = "TIME")]
    pub until: String,
    /// Which direction(s).
    #[arg(long, default_value = "both", value_parser = values::direction())]
    pub direction: Direction,
    /// The model: auto (chosen by backtest), naive, holt, snaive-day,
    /// snaive-week, holt-winters, mstl.
    #[arg(long, default_value = "auto", value_name = "NAME")]
    pub method: String,
    /// Link capacity (1G, 100Mbit/s): default from [forecast.capacity] or
    /// the interface's speed.
    #[arg(long, value_name = "RATE")]
    pub capacity: Option<String>,
    /// Warn when the upper 95 % band reaches this share of capacity (default 0.9).
    #[arg(long, value_name = "FRACTION", value_parser = values::fraction())]
    pub capacity_fraction: Option<f64>,
    /// Print JSON.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV (one row per step and direction).
    #[arg(long)]
    pub csv: bool,
    /// Also draw history, forecast and bands to this .png or .svg file.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Chart width in pixels (with --plot; default 1200).
    #[arg(long)]
    pub width: Option<u32>,
    /// Chart height in pixels (with --plot; default 600).
    #[arg(long)]
    pub height: Option<u32>,
}

/// `wirewatch forecast backtest`.
#[derive(ClapArgs, Debug)]
pub struct BacktestArgs {
    /// The CSV file: a header line, then rows (the first column may be a time).
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
    /// The column to forecast: its header, a unique prefix of it, or its
    /// number from 1 (default: the only numeric column).
    #[arg(long, value_name = "NAME")]
    pub column: Option<String>,
    /// Season lengths in points (24,168 for hourly data).
    #[arg(long, value_name = "N,N", value_delimiter = ',')]
    pub season: Vec<usize>,
    /// Points forecast in each window.
    #[arg(long)]
    pub horizon: usize,
    /// Windows, the last ending at the end of the series.
    #[arg(long, default_value_t = 7)]
    pub windows: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}
