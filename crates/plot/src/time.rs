//! UTC calendar arithmetic and the choice of time-axis ticks.
//!
//! Times are seconds since 1970-01-01 00:00:00 UTC held as `i128`, so that
//! every `i64` timestamp, padded or subtracted, stays exact and overflow free.

/// Seconds in a minute, an hour and a day.
const MINUTE: i128 = 60;
const HOUR: i128 = 3600;
const DAY: i128 = 86_400;
/// Average Gregorian month and year, used only to estimate tick counts.
const AVG_MONTH: i128 = 2_629_746;
const AVG_YEAR: i128 = 31_556_952;
/// 1970-01-05, the first Monday after the epoch, as seconds: week ticks
/// fall on Mondays.
const FIRST_MONDAY: i128 = 4 * DAY;

/// The most ticks an axis may have, however wide it is.
pub(crate) const MAX_TIME_TICKS: usize = 10;

/// The calendar, shared with the rest of wirewatch.
pub(crate) use wirewatch_units::{civil_from_days, days_from_civil};

/// A UTC calendar date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl DateTime {
    /// The date and time `t` seconds after the epoch.
    pub(crate) fn from_secs(t: i128) -> Self {
        // |t| < 2^64, so the day count fits an i64 comfortably.
        let days = t.div_euclid(DAY) as i64;
        let secs = t.rem_euclid(DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
        }
    }

    fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    fn month_day(&self) -> String {
        format!("{:02}-{:02}", self.month, self.day)
    }

    fn hm(&self) -> String {
        format!("{:02}:{:02}", self.hour, self.minute)
    }

    fn hms(&self) -> String {
        format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }
}

/// First second of the month with index `year * 12 + month - 1`.
fn month_start(index: i64) -> i128 {
    let days = days_from_civil(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1);
    i128::from(days) * DAY
}

/// A tick interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Every `n` seconds, at multiples of `n` after `offset`.
    Seconds { n: i128, offset: i128 },
    /// Every `n` months, at the first of months whose index is a multiple of `n`.
    Months(i64),
    /// Every `n` years, on 1 January of years that are multiples of `n`.
    Years(i64),
}

impl Step {
    /// Rough length in seconds, for estimating tick counts.
    fn approx_secs(self) -> i128 {
        match self {
            Step::Seconds { n, .. } => n,
            Step::Months(n) => i128::from(n) * AVG_MONTH,
            Step::Years(n) => i128::from(n) * AVG_YEAR,
        }
    }

    /// How the ticks of this step are labelled.
    fn label_kind(self) -> LabelKind {
        match self {
            Step::Seconds { n, .. } if n < MINUTE => LabelKind::Seconds,
            Step::Seconds { n, .. } if n < DAY => LabelKind::Minutes,
            Step::Seconds { .. } => LabelKind::Days,
            Step::Months(_) => LabelKind::Months,
            Step::Years(_) => LabelKind::Years,
        }
    }

    /// The tick times in `[t0, t1]`, at most `limit` of them.
    fn ticks(self, t0: i128, t1: i128, limit: usize) -> Vec<i128> {
        let mut out = Vec::new();
        match self {
            Step::Seconds { n, offset } => {
                let mut t = (t0 - offset).div_euclid(n) * n + offset;
                if t < t0 {
                    t += n;
                }
                while t <= t1 && out.len() < limit {
                    out.push(t);
                    t += n;
                }
            }
            Step::Months(n) => {
                let dt = DateTime::from_secs(t0);
                let mut index = dt.year * 12 + i64::from(dt.month) - 1;
                if month_start(index) < t0 {
                    index += 1;
                }
                index = index.div_euclid(n) * n + if index.rem_euclid(n) == 0 { 0 } else { n };
                while month_start(index) <= t1 && out.len() < limit {
                    out.push(month_start(index));
                    index += n;
                }
            }
            Step::Years(n) => {
                let dt = DateTime::from_secs(t0);
                let mut year = dt.year;
                if month_start(year * 12) < t0 {
                    year += 1;
                }
                year = year.div_euclid(n) * n + if year.rem_euclid(n) == 0 { 0 } else { n };
                while month_start(year * 12) <= t1 && out.len() < limit {
                    out.push(month_start(year * 12));
                    year += n;
                }
            }
        }
        out
    }
}

/// Candidate intervals, finest first: seconds, minutes, hours, days, weeks,
/// months, then 1/2/5 × 10^k years. Ends past any span an `i64` can hold.
fn candidates() -> Vec<Step> {
    let secs = |n: i128| Step::Seconds { n, offset: 0 };
    let mut steps = vec![
        secs(1),
        secs(2),
        secs(5),
        secs(10),
        secs(15),
        secs(30),
        secs(MINUTE),
        secs(2 * MINUTE),
        secs(5 * MINUTE),
        secs(10 * MINUTE),
        secs(15 * MINUTE),
        secs(30 * MINUTE),
        secs(HOUR),
        secs(2 * HOUR),
        secs(3 * HOUR),
        secs(6 * HOUR),
        secs(12 * HOUR),
        secs(DAY),
        secs(2 * DAY),
        Step::Seconds {
            n: 7 * DAY,
            offset: FIRST_MONDAY,
        },
        Step::Seconds {
            n: 14 * DAY,
            offset: FIRST_MONDAY,
        },
        Step::Months(1),
        Step::Months(2),
        Step::Months(3),
        Step::Months(6),
    ];
    // i64 seconds span under 6e11 years; 1e12-year steps end the list.
    let mut decade: i64 = 1;
    while decade <= 1_000_000_000_000 {
        for m in [1, 2, 5] {
            steps.push(Step::Years(m * decade));
        }
        decade *= 10;
    }
    steps
}

/// How tick labels are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LabelKind {
    /// `hh:mm:ss`, with the date in front when the range spans days.
    Seconds,
    /// `hh:mm`, with the date in front when the range spans days.
    Minutes,
    /// `yyyy-mm-dd`.
    Days,
    /// `yyyy-mm`.
    Months,
    /// `yyyy`.
    Years,
}

/// Formats tick `t` for a range from `start` to `end`.
fn label(kind: LabelKind, t: i128, start: &DateTime, end: &DateTime) -> String {
    let dt = DateTime::from_secs(t);
    // A time of day alone is ambiguous when the range covers several days;
    // a month-day when it covers several years.
    let prefix = if start.year != end.year {
        format!("{} ", dt.date())
    } else if (start.month, start.day) != (end.month, end.day) {
        format!("{} ", dt.month_day())
    } else {
        String::new()
    };
    match kind {
        LabelKind::Seconds => format!("{prefix}{}", dt.hms()),
        LabelKind::Minutes => format!("{prefix}{}", dt.hm()),
        LabelKind::Days => dt.date(),
        LabelKind::Months => format!("{:04}-{:02}", dt.year, dt.month),
        LabelKind::Years => format!("{:04}", dt.year),
    }
}

/// The ticks chosen for a time axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeTicks {
    /// The interval between ticks.
    pub step: Step,
    /// How the labels are written.
    pub kind: LabelKind,
    /// Tick times (seconds since the epoch) and their labels, ascending.
    pub ticks: Vec<(i128, String)>,
}

/// Chooses ticks for the time range `t0..=t1` (`t0 < t1`) drawn `width`
/// pixels wide, with labels `char_width` pixels per character and at least
/// `gap` pixels apart: the finest interval from [`candidates`] that yields at
/// most [`MAX_TIME_TICKS`] ticks whose labels fit side by side.
pub(crate) fn time_ticks(t0: i128, t1: i128, width: f64, char_width: f64, gap: f64) -> TimeTicks {
    let span = (t1 - t0).max(1);
    let start = DateTime::from_secs(t0);
    let end = DateTime::from_secs(t1);
    let mut last = None;
    for step in candidates() {
        // Skip the intervals that are far too fine without generating them.
        if span / step.approx_secs() > 2 * MAX_TIME_TICKS as i128 {
            continue;
        }
        let times = step.ticks(t0, t1, MAX_TIME_TICKS + 1);
        let kind = step.label_kind();
        let ticks: Vec<(i128, String)> = times
            .into_iter()
            .map(|t| (t, label(kind, t, &start, &end)))
            .collect();
        let widest = ticks
            .iter()
            .map(|(_, l)| l.chars().count())
            .max()
            .unwrap_or(0) as f64
            * char_width;
        let room = ((width / (widest + gap)).floor().max(1.0) as usize).min(MAX_TIME_TICKS);
        let fits = ticks.len() <= room;
        last = Some(TimeTicks { step, kind, ticks });
        if fits {
            break;
        }
    }
    last.unwrap_or(TimeTicks {
        step: Step::Years(1),
        kind: LabelKind::Years,
        ticks: Vec::new(),
    })
}

/// The range `t0..=t1` as written in the x-axis title, e.g.
/// `2026-11-20 00:00 – 2026-11-23 00:00`; seconds are shown when the ticks
/// are seconds apart.
pub(crate) fn range_text(t0: i128, t1: i128, kind: LabelKind) -> String {
    let fmt = |t: i128| {
        let dt = DateTime::from_secs(t);
        if kind == LabelKind::Seconds {
            format!("{} {}", dt.date(), dt.hms())
        } else {
            format!("{} {}", dt.date(), dt.hm())
        }
    };
    format!("{} – {}", fmt(t0), fmt(t1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-23 00:00:00 UTC.
    const NOV23: i128 = 1_795_392_000;

    fn labels(t: &TimeTicks) -> Vec<&str> {
        t.ticks.iter().map(|(_, l)| l.as_str()).collect()
    }

    #[test]
    fn calendar_round_trips() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(days_from_civil(2026, 11, 23) * 86_400, NOV23 as i64);
        for days in (-1_000_000..1_000_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        // The ends of i64 seconds stay exact.
        for t in [i64::MIN, i64::MAX] {
            let dt = DateTime::from_secs(i128::from(t));
            let back = i128::from(days_from_civil(dt.year, dt.month, dt.day)) * DAY
                + i128::from(dt.hour * 3600 + dt.minute * 60 + dt.second);
            assert_eq!(back, i128::from(t));
        }
    }

    #[test]
    fn one_hour_gets_ten_minute_ticks() {
        // 00:00..01:00: 5-minute ticks would be 13, so every 10 minutes.
        let t = time_ticks(NOV23, NOV23 + 3600, 800.0, 7.0, 16.0);
        assert_eq!(t.step, Step::Seconds { n: 600, offset: 0 });
        assert_eq!(
            labels(&t),
            ["00:00", "00:10", "00:20", "00:30", "00:40", "00:50", "01:00"]
        );
    }

    #[test]
    fn two_hours_unaligned_get_quarter_hours() {
        // 14:07..16:07: 10-minute ticks would be 12; 15 minutes give 8.
        let t0 = NOV23 + 14 * 3600 + 7 * 60;
        let t = time_ticks(t0, t0 + 7200, 800.0, 7.0, 16.0);
        assert_eq!(
            labels(&t),
            ["14:15", "14:30", "14:45", "15:00", "15:15", "15:30", "15:45", "16:00"]
        );
    }

    #[test]
    fn narrow_axis_gets_coarser_ticks() {
        // 180 px holds three 5-character labels: every 30 minutes.
        let t = time_ticks(NOV23, NOV23 + 3600, 180.0, 7.0, 16.0);
        assert_eq!(labels(&t), ["00:00", "00:30", "01:00"]);
    }

    #[test]
    fn spans_over_midnight_carry_the_date() {
        // 2026-11-22 18:00 .. 2026-11-23 06:00: 12 h, 2-hour ticks.
        let t = time_ticks(NOV23 - 6 * 3600, NOV23 + 6 * 3600, 800.0, 7.0, 16.0);
        assert_eq!(
            labels(&t),
            [
                "11-22 18:00",
                "11-22 20:00",
                "11-22 22:00",
                "11-23 00:00",
                "11-23 02:00",
                "11-23 04:00",
                "11-23 06:00"
            ]
        );
    }

    #[test]
    fn seven_days_get_day_ticks() {
        let t0 = NOV23 - 7 * DAY;
        let t = time_ticks(t0, NOV23, 800.0, 7.0, 16.0);
        assert_eq!(t.kind, LabelKind::Days);
        assert_eq!(
            labels(&t),
            [
                "2026-11-16",
                "2026-11-17",
                "2026-11-18",
                "2026-11-19",
                "2026-11-20",
                "2026-11-21",
                "2026-11-22",
                "2026-11-23"
            ]
        );
    }

    #[test]
    fn weeks_fall_on_mondays() {
        // 2026-11-02 is a Monday; ten weeks from 2026-10-30 (a Friday).
        let t0 = NOV23 - 24 * DAY;
        let t = time_ticks(t0, t0 + 70 * DAY, 800.0, 7.0, 16.0);
        assert_eq!(
            t.step,
            Step::Seconds {
                n: 14 * DAY,
                offset: FIRST_MONDAY
            }
        );
        assert_eq!(labels(&t)[0], "2026-11-09");
        for (time, _) in &t.ticks {
            // Mondays are 4 days after a Thursday epoch, mod 7.
            assert_eq!(time.div_euclid(DAY).rem_euclid(7), 4);
        }
    }

    #[test]
    fn months_and_years() {
        // 2026-01-01 .. 2026-12-31: two-month ticks (monthly would be 12).
        let t0 = i128::from(days_from_civil(2026, 1, 1)) * DAY;
        let t1 = i128::from(days_from_civil(2026, 12, 31)) * DAY;
        let t = time_ticks(t0, t1, 800.0, 7.0, 16.0);
        assert_eq!(
            labels(&t),
            ["2026-01", "2026-03", "2026-05", "2026-07", "2026-09", "2026-11"]
        );
        // 1970 .. 2030: ten-year ticks.
        let t = time_ticks(
            0,
            i128::from(days_from_civil(2030, 1, 1)) * DAY,
            800.0,
            7.0,
            16.0,
        );
        assert_eq!(
            labels(&t),
            ["1970", "1980", "1990", "2000", "2010", "2020", "2030"]
        );
    }

    #[test]
    fn seconds_and_the_whole_i64_range() {
        let t = time_ticks(NOV23, NOV23 + 10, 800.0, 7.0, 16.0);
        assert_eq!(t.kind, LabelKind::Seconds);
        assert_eq!(labels(&t)[0], "00:00:00");
        assert_eq!(labels(&t)[1], "00:00:02");
        let t = time_ticks(i64::MIN.into(), i64::MAX.into(), 800.0, 7.0, 16.0);
        assert!(!t.ticks.is_empty() && t.ticks.len() <= MAX_TIME_TICKS);
        assert_eq!(t.kind, LabelKind::Years);
    }

    #[test]
    fn range_title() {
        assert_eq!(
            range_text(NOV23 - 3 * DAY, NOV23, LabelKind::Days),
            "2026-11-20 00:00 – 2026-11-23 00:00"
        );
        assert_eq!(
            range_text(NOV23 + 5, NOV23 + 20, LabelKind::Seconds),
            "2026-11-23 00:00:05 – 2026-11-23 00:00:20"
        );
    }
}
