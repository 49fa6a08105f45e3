//! Durations: the ones wirewatch reads (`90s`, `30m`, `24h`, `7d`, `2w`,
//! `1h30m`) and the short ones it writes in messages (`40 ms`, `4.5 min`).

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

/// A duration in seconds, short: "40 ms", "6 s", "4.5 min", "2.0 h".
pub fn duration_short(s: f64) -> String {
    if s < 1.0 {
        format!("{} ms", (s * 1000.0).round() as i64)
    } else if s < 90.0 {
        format!("{} s", s.round() as i64)
    } else if s < 5400.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn short_durations() {
        assert_eq!(duration_short(0.04), "40 ms");
        assert_eq!(duration_short(6.2), "6 s");
        assert_eq!(duration_short(270.0), "4.5 min");
        assert_eq!(duration_short(7200.0), "2.0 h");
    }
}
