//! Time arguments of the queries (durations such as `24h` or `1h30m`, RFC
//! 3339 timestamps, `now`) and the UTC forms of the tables: the functions
//! of `wirewatch-units`, under the names the history commands use.

pub use wirewatch_units::{parse_duration, parse_rfc3339, parse_time, rfc3339, short_utc as short};
