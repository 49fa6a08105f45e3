//! The UTC calendar: days ↔ dates (proleptic Gregorian), RFC 3339 and the
//! short forms wirewatch prints, and the time arguments it reads (RFC 3339
//! timestamps, offset-free dates and times, `now` or a duration back from
//! it). Written by hand: a dozen lines of calendar arithmetic do not justify
//! a date crate.

use crate::duration::parse_duration;

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of
/// [`civil_from_days`]).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The UTC date and time of day of `ts` seconds since the epoch:
/// ((year, month, day), (hour, minute, second)).
pub(crate) fn split_utc(ts: i64) -> ((i64, u32, u32), (i64, i64, i64)) {
    let date = civil_from_days(ts.div_euclid(86_400));
    let s = ts.rem_euclid(86_400);
    (date, (s / 3600, s / 60 % 60, s % 60))
}

/// `YYYY-MM-DDTHH:MM:SSZ` of `ts` seconds since the epoch.
pub fn rfc3339(ts: i64) -> String {
    let ((y, mo, d), (h, mi, s)) = split_utc(ts);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `YYYY-MM-DD HH:MM` (UTC) of `ts` seconds since the epoch, for tables.
pub fn short_utc(ts: i64) -> String {
    let ((y, mo, d), (h, mi, _)) = split_utc(ts);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}")
}

/// `HH:MM UTC` of `ts` seconds since the epoch.
pub fn hhmm_utc(ts: i64) -> String {
    let s = ts.rem_euclid(86_400);
    format!("{:02}:{:02} UTC", s / 3600, (s % 3600) / 60)
}

fn digits(s: &str, what: &str, whole: &str) -> Result<u32, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{whole}': bad {what} '{s}'"));
    }
    s.parse()
        .map_err(|_| format!("'{whole}': bad {what} '{s}'"))
}

/// An RFC 3339 timestamp (`2026-11-23T14:00:00Z`, `…+01:00`, fractions
/// allowed and dropped; a space may replace the `T`) or a plain date
/// (`2026-11-23`, midnight UTC), as Unix seconds.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (date, rest) = match t.find(['T', 't', ' ']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let parts: Vec<&str> = date.split('-').collect();
    if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
        return Err(format!(
            "'{s}' is not a time: give a duration (24h, 7d) or an RFC 3339 timestamp (2026-11-23T14:00:00Z)"
        ));
    }
    let y = digits(parts[0], "year", s)? as i64;
    let mo = digits(parts[1], "month", s)?;
    let d = digits(parts[2], "day", s)?;
    let month_days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if !(1..=12).contains(&mo)
        || d == 0
        || d > month_days[mo as usize - 1] + u32::from(mo == 2 && leap)
    {
        return Err(format!("'{s}': no such date"));
    }
    let day = days_from_civil(y, mo, d);
    let Some(rest) = rest else {
        return Ok(day * 86_400);
    };
    // Time, then the offset: Z, +HH:MM or -HH:MM.
    let (clock, offset) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (c, o) = rest.split_at(i);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let hm: Vec<&str> = o[1..].split(':').collect();
        if hm.len() != 2 || hm[0].len() != 2 || hm[1].len() != 2 {
            return Err(format!("'{s}': bad UTC offset '{o}' (like +01:00)"));
        }
        let (oh, om) = (digits(hm[0], "offset", s)?, digits(hm[1], "offset", s)?);
        if oh > 23 || om > 59 {
            return Err(format!("'{s}': bad UTC offset '{o}'"));
        }
        (c, sign * (oh as i64 * 3_600 + om as i64 * 60))
    } else {
        return Err(format!("'{s}': the time needs a UTC offset (Z or +HH:MM)"));
    };
    let (clock, fraction) = clock.split_once('.').unwrap_or((clock, "0"));
    if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{s}': bad fraction of a second '.{fraction}'"));
    }
    let hms: Vec<&str> = clock.split(':').collect();
    if hms.len() != 3 || hms.iter().any(|p| p.len() != 2) {
        return Err(format!("'{s}': bad time of day '{clock}' (like 14:00:00)"));
    }
    let (h, mi, se) = (
        digits(hms[0], "hour", s)?,
        digits(hms[1], "minute", s)?,
        digits(hms[2], "second", s)?,
    );
    if h > 23 || mi > 59 || se > 60 {
        return Err(format!("'{s}': no such time of day"));
    }
    let t = day * 86_400 + h as i64 * 3_600 + mi as i64 * 60 + se.min(59) as i64 - offset;
    // Years 0000–9999 once in UTC: what RFC 3339 can write back.
    if !(-62_167_219_200..=253_402_300_799).contains(&t) {
        return Err(format!("'{s}': outside the years 0000 to 9999 in UTC"));
    }
    Ok(t)
}

/// A date and time without an offset, taken as UTC, as spreadsheets and
/// CSV exports write them: `YYYY-MM-DD[ T]HH:MM[:SS]` (a trailing `Z`
/// allowed), a bare date (midnight), or whole seconds since the epoch.
/// `None` when it is none of these, or more than 10,000 years from 1970
/// (differences of two such times never overflow).
pub fn parse_naive_utc(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches('Z');
    const LIMIT: i64 = 10_000 * 366 * 86_400;
    if let Ok(v) = s.parse::<i64>() {
        return (-LIMIT..=LIMIT).contains(&v).then_some(v);
    }
    let (date, time) = s.split_once([' ', 'T']).unwrap_or((s, "00:00:00"));
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if d.len() != 3 || !(2..=3).contains(&t.len()) {
        return None;
    }
    let (mo, da) = (d[1], d[2]);
    let sec = t.get(2).copied().unwrap_or(0);
    if !(0..=9999).contains(&d[0])
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&da)
        || !(0..=23).contains(&t[0])
        || !(0..=59).contains(&t[1])
        || !(0..=60).contains(&sec)
    {
        return None;
    }
    Some(days_from_civil(d[0], mo as u32, da as u32) * 86_400 + t[0] * 3_600 + t[1] * 60 + sec)
}

/// A query time: `now`, a duration back from `now`, or an RFC 3339 timestamp.
pub fn parse_time(s: &str, now: i64) -> Result<i64, String> {
    let t = s.trim();
    if t == "now" {
        return Ok(now);
    }
    if t.starts_with(|c: char| c.is_ascii_digit()) && !t.contains('-') {
        return parse_duration(t).map(|d| now - d);
    }
    parse_rfc3339(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
        for z in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn timestamps() {
        // 2026-11-23T14:00:00Z, checked with `date -u -d 2026-11-23T14:00:00Z +%s`.
        assert_eq!(parse_rfc3339("2026-11-23T14:00:00Z"), Ok(1_795_442_400));
        assert_eq!(
            parse_rfc3339("2026-11-23T15:00:00+01:00"),
            Ok(1_795_442_400)
        );
        assert_eq!(
            parse_rfc3339("2026-11-23T09:30:00.250-04:30"),
            Ok(1_795_442_400)
        );
        assert_eq!(parse_rfc3339("2026-11-23 14:00:00Z"), Ok(1_795_442_400));
        assert_eq!(parse_rfc3339("2026-11-23"), Ok(1_795_392_000));
        assert_eq!(rfc3339(1_795_442_400), "2026-11-23T14:00:00Z");
        assert_eq!(short_utc(1_795_442_400), "2026-11-23 14:00");
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "2026-11-23T25:00:00Z",
            "2026-11-23T14:00:00",
            "2026-11-23T14:00Z",
            "yesterday",
            "2026/11/23",
            "2026-11-23T14:00:00.abcZ",
            "2026-11-23T14:00:00.Z",
            "9999-12-31T23:59:59-23:59",
            "0000-01-01T00:00:00+23:59",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_rfc3339("2024-02-29"), Ok(1_709_164_800));
    }

    #[test]
    fn query_times() {
        assert_eq!(parse_time("now", 1_000_000), Ok(1_000_000));
        assert_eq!(parse_time("24h", 1_000_000), Ok(913_600));
        assert_eq!(parse_time("2026-11-23T14:00:00Z", 0), Ok(1_795_442_400));
        let e = parse_time("tomorrow", 0).unwrap_err();
        assert!(e.contains("RFC 3339"), "{e}");
    }

    #[test]
    fn short_forms() {
        assert_eq!(hhmm_utc(1_795_442_400), "14:00 UTC");
        assert_eq!(hhmm_utc(-60), "23:59 UTC");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn naive_times() {
        assert_eq!(parse_naive_utc("1970-01-02 00:00:01"), Some(86_401));
        assert_eq!(parse_naive_utc("2026-11-23T14:00"), Some(1_795_442_400));
        assert_eq!(parse_naive_utc("2026-11-23 14:00:00Z"), Some(1_795_442_400));
        assert_eq!(parse_naive_utc("2026-11-23"), Some(1_795_392_000));
        assert_eq!(parse_naive_utc(" 86401 "), Some(86_401));
        for bad in [
            "",
            "x",
            "2026-13-01",
            "2026-11-23 24:00",
            "2026-11",
            "99999999999999",
        ] {
            assert_eq!(parse_naive_utc(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        /// Every second RFC 3339 can write (years 0000 to 9999) reads back
        /// as itself.
        #[test]
        fn rfc3339_round_trips(t in -62_167_219_200i64..=253_402_300_799) {
            proptest::prop_assert_eq!(parse_rfc3339(&rfc3339(t)), Ok(t));
        }

        /// A timestamp's RFC 3339 (with microseconds) reads back as its
        /// whole second.
        #[test]
        fn timestamp_rfc3339_round_trips(
            t in proptest::prelude::any::<i64>(),
        ) {
            let ts = crate::Timestamp::from_nanos(t);
            proptest::prop_assert_eq!(
                parse_rfc3339(&ts.to_rfc3339()),
                Ok(t.div_euclid(1_000_000_000))
            );
        }
    }
}
