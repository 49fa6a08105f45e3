//! A per-entity tumbling window: counts since the window opened, closed
//! (and remembered as the entity's usual value) once it is `len` old.

use wirewatch_wire::Timestamp;

/// The current window's start and what the entity usually reaches in one.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// When the current window opened.
    pub start: Timestamp,
    /// Last packet seen.
    pub last: Timestamp,
    /// Moving average of the value reached by closed windows (the
    /// entity's "usual"); `None` before one closed.
    pub usual: Option<f64>,
    /// An alert fired in this window (fire once per window).
    pub fired: bool,
}

impl Window {
    /// A window opening at `now`.
    pub fn new(now: Timestamp) -> Window {
        Window {
            start: now,
            last: now,
            usual: None,
            fired: false,
        }
    }

    /// Moves to `now`. When the window is over, `value` (what it reached)
    /// joins the usual, a new window opens and `true` is returned: the
    /// caller then resets its counts.
    pub fn roll(&mut self, now: Timestamp, len_nanos: i64, value: f64) -> bool {
        self.last = self.last.max(now);
        if now.nanos_since(self.start) < len_nanos {
            return false;
        }
        // A window that alerted is not what the entity usually does.
        if !self.fired {
            self.usual = Some(match self.usual {
                None => value,
                Some(u) => 0.8 * u + 0.2 * value,
            });
        }
        self.start = now;
        self.fired = false;
        true
    }

    /// Seconds since the window opened (at least `floor`).
    pub fn elapsed_secs(&self, now: Timestamp, floor: f64) -> f64 {
        (now.nanos_since(self.start) as f64 / 1e9).max(floor)
    }
}
