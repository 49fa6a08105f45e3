//! The run's one clock: every read of "now" that is not a packet's own
//! timestamp (live ticks, relative `--since`/`--until`, retention, the
//! forecast watch's history) goes through [`now`] or [`shared`].
//!
//! It is the system clock unless `WIREWATCH_NOW` pins the start of the run
//! to another time (RFC 3339, a date, or Unix seconds); the clock then runs
//! at real speed from there. That makes a run reproducible "as of" a date:
//! a history query, a forecast, or a replay's retention give the same
//! answer whatever day they are run on.

use std::sync::{Arc, OnceLock};

use anyhow::{anyhow, Result};
use wirewatch_wire::{Clock, PinnedClock, SystemClock, Timestamp};

/// The environment variable that pins the clock.
pub const ENV: &str = "WIREWATCH_NOW";

static CLOCK: OnceLock<Arc<dyn Clock>> = OnceLock::new();
static PINNED: OnceLock<bool> = OnceLock::new();

/// Chooses the run's clock from `value` (the variable's value, if set).
pub fn from_env_value(value: Option<&str>) -> Result<Arc<dyn Clock>> {
    let Some(v) = value else {
        return Ok(Arc::new(SystemClock));
    };
    let secs = match v.trim().parse::<i64>() {
        Ok(s) => s,
        Err(_) => wirewatch_store::time::parse_rfc3339(v)
            .map_err(|e| anyhow!("{ENV}: {e} (give RFC 3339, a date or Unix seconds)"))?,
    };
    Ok(Arc::new(PinnedClock::starting_at(Timestamp::from_secs(
        secs,
    ))))
}

/// Sets the run's clock from the environment; call once, first thing.
pub fn init() -> Result<()> {
    let value = std::env::var(ENV).ok();
    let clock = from_env_value(value.as_deref())?;
    let _ = CLOCK.set(clock);
    let _ = PINNED.set(value.is_some());
    Ok(())
}

/// The run's clock (the system clock if [`init`] was not called).
pub fn shared() -> Arc<dyn Clock> {
    CLOCK.get_or_init(|| Arc::new(SystemClock)).clone()
}

/// Whether `WIREWATCH_NOW` pinned the clock.
pub fn is_pinned() -> bool {
    PINNED.get().copied().unwrap_or(false)
}

/// The time now by the run's clock.
pub fn now() -> Timestamp {
    shared().now()
}

/// The time now by the run's clock, in whole Unix seconds.
pub fn now_secs() -> i64 {
    now().as_nanos().div_euclid(1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_by_date_seconds_or_rfc3339() {
        for (v, want) in [
            ("2026-11-26T10:00:00Z", 1_795_687_200),
            ("2026-11-26", 1_795_651_200),
            ("1795687200", 1_795_687_200),
        ] {
            let c = from_env_value(Some(v)).unwrap();
            let got = c.now().as_nanos().div_euclid(1_000_000_000);
            assert!((want..want + 60).contains(&got), "{v}: {got}");
        }
    }

    #[test]
    fn bad_value_is_one_line_error() {
        let e = from_env_value(Some("yesterday-ish"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("WIREWATCH_NOW: ") && !e.contains('\n'), "{e}");
    }
}
