//! Time and units for every wirewatch crate, in one place and with no
//! dependencies:
//!
//! - [`Timestamp`] (nanoseconds since the epoch) and the injectable
//!   [`Clock`] with its [`SystemClock`], [`PinnedClock`] and [`FixedClock`];
//! - the UTC calendar ([`days_from_civil`], [`civil_from_days`]) and the
//!   forms wirewatch writes and reads: RFC 3339 ([`rfc3339`],
//!   [`Timestamp::to_rfc3339`], [`parse_rfc3339`]), [`short_utc`],
//!   [`hhmm_utc`], offset-free CSV times ([`parse_naive_utc`]) and query
//!   times ([`parse_time`]);
//! - durations ([`parse_duration`], [`duration_short`]);
//! - numbers with units: one rule for rates and sizes ([`si`], [`qty`],
//!   [`bit_rate`]), its chart-axis variant ([`si_axis`]), iftop's sizes
//!   ([`readable`]) and counts ([`thousands`]).
//!
//! Pure functions only: nothing here reads the clock but [`SystemClock`]
//! and [`PinnedClock`].
#![forbid(unsafe_code)]

mod calendar;
mod clock;
mod duration;
mod histogram;
mod numbers;

pub use calendar::{
    civil_from_days, days_from_civil, hhmm_utc, parse_naive_utc, parse_rfc3339, parse_time,
    rfc3339, short_utc,
};
pub use clock::{Clock, FixedClock, PinnedClock, SystemClock, Timestamp};
pub use duration::{duration_short, parse_duration};
pub use histogram::RttHistogram;
pub use numbers::{bit_rate, qty, readable, si, si_axis, thousands, tidy_float, JSON_DIGITS};
