//! Forecasting traffic series: seasonal naive, Holt-Winters (damped,
//! additive on a log scale) and a multi-seasonal decomposition
//! (MSTL-style) with a damped trend; rolling-origin backtests with MAPE,
//! sMAPE, MASE and WAPE; automatic choice of model by backtest on the
//! series' own history; prediction intervals from the chosen model's own
//! backtest errors.
//!
//! Pure code over `&[f64]` at a fixed step: no I/O, no clock.
#![forbid(unsafe_code)]

pub mod backtest;
pub mod csv;
pub mod forecast;
pub mod gaps;
pub mod models;
mod optim;

pub use backtest::{backtest, Scores};
pub use forecast::{forecast, Band, Forecast, Settings};
pub use models::Model;

/// What can go wrong.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    /// Not enough points for any model.
    #[error("{0}")]
    TooShort(String),
    /// A value that is not a finite number, or negative.
    #[error("{0}")]
    BadValue(String),
    /// A CSV file that cannot be read as a series.
    #[error("{0}")]
    Csv(String),
    /// Settings that make no sense.
    #[error("{0}")]
    Settings(String),
}
