//! Time arguments of the queries: durations (`90s`, `30m`, `24h`, `7d`,
//! `2w`, `1h30m`) and RFC 3339 timestamps, and UTC formatting. Written by
//! hand: a dozen lines of calendar arithmetic do not justify a date crate.

pub use wirewatch_wire::{civil_from_days, days_from_civil};

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(ts: i64) -> String {
    let (y, mo, d) = civil_from_days(ts.div_euclid(86_400));
    let s = ts.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `YYYY-MM-DD HH:MM` (UTC), for tables.
pub fn short(ts: i64) -> String {
    let (y, mo, d) = civil_from_days(ts.div_euclid(86_400));
    let s = ts.rem_euclid(86_400);
    format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}", s / 3600, s / 60 % 60)
}

/// A duration like `90s`, `30m`, `24h`, `7d`, `2w` or `1h30m`, in seconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || {
        format!("'{s}' is not a duration (a number and a unit: s, m, h, d, w; like 30m, 24h, 7d)")
    };
    let t = s.trim();
    if t.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        let n: i64 = num.parse().map_err(|_| bad())?;
        num.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .filter(|&v| v <= 1_000 * 366 * 86_400)
            .ok_or_else(|| format!("'{s}' is too long a duration"))?;
    }
    if !num.is_empty() {
        return Err(bad());
    }
    Ok(total)
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
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("30m"), Ok(1_800));
        assert_eq!(parse_duration("24h"), Ok(86_400));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(parse_duration("2w"), Ok(1_209_600));
        assert_eq!(parse_duration("1h30m"), Ok(5_400));
        for bad in ["", "h", "10", "10x", "-5m", "1.5h", "99999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
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
        assert_eq!(short(1_795_442_400), "2026-11-23 14:00");
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
}
