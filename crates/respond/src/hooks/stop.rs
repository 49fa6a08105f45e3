//! The shutdown deadline the workers obey: it caps every time-out, cuts
//! back-off sleeps short, and marks queued jobs as not run once passed.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Unset while running; the deadline once [`Stop::begin`] was called.
#[derive(Debug, Default)]
pub(crate) struct Stop {
    deadline: Mutex<Option<Instant>>,
    changed: Condvar,
}

impl Stop {
    /// From now on, nothing runs past `deadline`.
    pub(crate) fn begin(&self, deadline: Instant) {
        *self.lock() = Some(deadline);
        self.changed.notify_all();
    }

    /// Whether the deadline has passed.
    pub(crate) fn is_past(&self) -> bool {
        self.deadline().is_some_and(|d| Instant::now() >= d)
    }

    /// `end`, or the deadline when that is sooner.
    pub(crate) fn limit(&self, end: Instant) -> Instant {
        self.deadline().map_or(end, |d| d.min(end))
    }

    /// Whether `end` is where the deadline cut a time-out short.
    pub(crate) fn cut(&self, end: Instant) -> bool {
        self.deadline().is_some_and(|d| d < end)
    }

    /// Sleeps `d`, or until the deadline when that comes first; false when
    /// the deadline ended it (or had passed).
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        let mut guard = self.lock();
        loop {
            let now = Instant::now();
            let until = guard.map_or(end, |stop| stop.min(end));
            if now >= until {
                return guard.is_none_or(|stop| stop > end);
            }
            guard = self
                .changed
                .wait_timeout(guard, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn deadline(&self) -> Option<Instant> {
        *self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.deadline.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_sleep_runs_its_course_until_a_stop_cuts_it() {
        let stop = Arc::new(Stop::default());
        assert!(stop.sleep(Duration::from_millis(1)));
        assert!(!stop.is_past());
        let far = Instant::now() + Duration::from_secs(3600);
        assert_eq!(stop.limit(far), far);
        let waker = Arc::clone(&stop);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            waker.begin(Instant::now());
        });
        // An hour's back-off ends as soon as the stop is given.
        assert!(!stop.sleep(Duration::from_secs(3600)));
        t.join().unwrap();
        assert!(stop.is_past());
        assert!(stop.cut(far));
        assert!(stop.limit(far) < far);
        assert!(!stop.sleep(Duration::from_secs(1)));
    }
}
