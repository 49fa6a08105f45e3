//! What forecasts are made from: an interface's (host's, process's)
//! recorded traffic as rates per step with the gaps filled, and its link
//! capacity. Shared by `wirewatch forecast` and the forecast watch.

use anyhow::anyhow;
use wirewatch_forecast::gaps;
use wirewatch_store::query::{self, Range, SeriesSpec};
use wirewatch_store::{Selection, SqliteStore};

/// Traffic rates at a fixed step, both directions, gaps filled.
pub struct RateHistory {
    /// First bucket (seconds, a multiple of the step).
    pub start: i64,
    /// Bucket length, seconds.
    pub step: i64,
    /// Received, bit/s per bucket.
    pub inbound: Vec<f64>,
    /// Sent, bit/s per bucket.
    pub outbound: Vec<f64>,
    /// Which buckets were filled because nothing was recorded then.
    pub missing: Vec<bool>,
}

impl RateHistory {
    /// How many buckets were filled.
    pub fn filled(&self) -> usize {
        self.missing.iter().filter(|m| **m).count()
    }

    /// Where history ends (the forecast's start).
    pub fn end(&self) -> i64 {
        self.start + self.step * self.inbound.len() as i64
    }
}

/// Runs this long without any traffic at all (on the interface, or in
/// the store) are taken as wirewatch not running, not as silence.
const GAP_SECS: i64 = 3_600;

/// The traffic `sel` selects per `step` seconds over `[from, to)`, from
/// the first bucket with traffic. An hour or more without any traffic on
/// the interface (or in the whole store) is a gap: filled from one day
/// earlier (a line where there is no earlier day). `None` when nothing
/// was recorded.
pub fn rate_history(
    store: &SqliteStore,
    sel: &Selection,
    from: i64,
    to: i64,
    step: i64,
) -> anyhow::Result<Option<RateHistory>> {
    let get = |sel: &Selection| {
        query::series(
            store,
            &SeriesSpec {
                range: Range { from, to },
                step,
                sel: sel.clone(),
                by: None,
                limit: 1,
                total_name: "",
                metric: Default::default(),
            },
            None,
        )
        .map_err(|e| anyhow!("{e}"))
    };
    let s = get(sel)?;
    let counts = s.lines.first().map(|(_, c)| c.clone()).unwrap_or_default();
    // Whether anything was recorded in each bucket: the interface's (or
    // the store's) traffic, not just the selected host's.
    let activity_sel = Selection {
        iface: sel.iface.clone(),
        ..Selection::default()
    };
    let activity = if *sel == activity_sel {
        counts.clone()
    } else {
        let a = get(&activity_sel)?;
        let mut v = a.lines.first().map(|(_, c)| c.clone()).unwrap_or_default();
        v.resize(counts.len(), Default::default());
        v
    };
    let Some(first) = activity.iter().position(|c| !c.is_zero()) else {
        return Ok(None);
    };
    let n = counts.len() - first;
    let run = (GAP_SECS / step).max(1) as usize;
    let mut missing = vec![false; n];
    let mut k = 0;
    while k < n {
        if activity[first + k].is_zero() {
            let mut j = k;
            while j < n && activity[first + j].is_zero() {
                j += 1;
            }
            if j - k >= run {
                missing[k..j].fill(true);
            }
            k = j;
        } else {
            k += 1;
        }
    }
    let bits = |b: u64| b as f64 * 8.0 / step as f64;
    let mut inbound: Vec<f64> = counts[first..].iter().map(|c| bits(c.bytes_in)).collect();
    let mut outbound: Vec<f64> = counts[first..].iter().map(|c| bits(c.bytes_out)).collect();
    let day = (86_400 / step) as usize;
    gaps::fill(&mut inbound, &missing, Some(day));
    gaps::fill(&mut outbound, &missing, Some(day));
    Ok(Some(RateHistory {
        start: s.buckets[first],
        step,
        inbound,
        outbound,
        missing,
    }))
}

/// `iface`'s capacity from the configuration, else (with `speed`) the
/// speed its driver reports; and where it came from.
pub fn configured_capacity(
    iface: &str,
    configured: &std::collections::BTreeMap<String, f64>,
    speed: bool,
) -> Option<(f64, &'static str)> {
    match configured.get(iface) {
        Some(c) => Some((*c, "[forecast.capacity]")),
        None if speed => {
            wirewatch_live::iface::link_speed(iface).map(|c| (c, "the interface's speed"))
        }
        None => None,
    }
}
