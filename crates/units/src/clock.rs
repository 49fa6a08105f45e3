//! Packet timestamps and the clocks that say what time it is now.

use std::fmt;

use crate::calendar::split_utc;

/// A point in time as nanoseconds since the Unix epoch.
///
/// All time in wirewatch comes from packet timestamps (or, live, from one
/// clock read in one place), so replays are deterministic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The epoch.
    pub const ZERO: Timestamp = Timestamp(0);

    /// From nanoseconds since the epoch.
    pub const fn from_nanos(n: i64) -> Self {
        Timestamp(n)
    }

    /// From whole seconds and a fraction in nanoseconds; saturates.
    pub fn from_secs_nanos(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    /// From whole seconds.
    pub fn from_secs(secs: i64) -> Self {
        Self::from_secs_nanos(secs, 0)
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (rounded down).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }

    /// Seconds since the epoch as a float.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// `self + nanos`, saturating.
    pub fn add_nanos(self, nanos: i64) -> Self {
        Timestamp(self.0.saturating_add(nanos))
    }

    /// `self - earlier` in nanoseconds, saturating.
    pub fn nanos_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// RFC 3339 in UTC with microseconds, e.g. `2024-05-01T12:00:00.000001Z`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000);
        let ((y, m, d), (hh, mm, ss)) = split_utc(secs);
        format!(
            "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{:06}Z",
            nanos / 1000
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000);
        write!(f, "{secs}.{nanos:09}")
    }
}

/// Where "now" comes from when it is not a packet's timestamp: live ticks,
/// relative history ranges, retention. Every such read goes through one
/// `Clock`, so a run can be pinned to a date and a test gives the same
/// result on any day.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The time now.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock: the one place wirewatch reads it.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_secs_nanos(d.as_secs() as i64, i64::from(d.subsec_nanos()))
    }
}

/// A clock that starts at a given time and runs at real speed from there
/// (monotonic, so it never steps back): a run "as of" another date.
#[derive(Clone, Copy, Debug)]
pub struct PinnedClock {
    start: Timestamp,
    origin: std::time::Instant,
}

impl PinnedClock {
    /// A clock reading `start` now.
    pub fn starting_at(start: Timestamp) -> Self {
        PinnedClock {
            start,
            origin: std::time::Instant::now(),
        }
    }
}

impl Clock for PinnedClock {
    fn now(&self) -> Timestamp {
        let run = self.origin.elapsed();
        let nanos = i64::try_from(run.as_nanos()).unwrap_or(i64::MAX);
        self.start.add_nanos(nanos)
    }
}

/// A clock that always reads the same time (unit tests drive it by hand).
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(Timestamp::ZERO.to_rfc3339(), "1970-01-01T00:00:00.000000Z");
        let t = Timestamp::from_secs_nanos(1_700_000_000, 123_456_789);
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.123456Z");
        let pinned = PinnedClock::starting_at(t);
        let (a, b) = (pinned.now(), pinned.now());
        assert!(t <= a && a <= b && b.nanos_since(t) < 60_000_000_000);
        assert_eq!(FixedClock(t).now(), t);
        assert_eq!(
            Timestamp::from_secs(951_782_400).to_rfc3339(),
            "2000-02-29T00:00:00.000000Z"
        );
        assert_eq!(
            Timestamp::from_secs(-1).to_rfc3339(),
            "1969-12-31T23:59:59.000000Z"
        );
    }

    #[test]
    fn saturates() {
        assert_eq!(Timestamp::from_secs(i64::MAX).as_nanos(), i64::MAX);
        assert_eq!(t(5).nanos_since(t(7)), -2_000_000_000);
    }

    fn t(s: i64) -> Timestamp {
        Timestamp::from_secs(s)
    }
}
