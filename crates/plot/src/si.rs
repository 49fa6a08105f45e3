//! Number formatting with SI prefixes for axis labels.

/// SI prefixes from quecto (10^-30) to quetta (10^30), indexed by the power
/// of 1000 plus 10.
const PREFIXES: [&str; 21] = [
    "q", "r", "y", "z", "a", "f", "p", "n", "µ", "m", "", "k", "M", "G", "T", "P", "E", "Z", "Y",
    "R", "Q",
];

/// Formats `value` compactly with an SI prefix and at most four significant
/// digits, trailing zeros dropped: `1500.0` → `"1.5k"`, `2e6` → `"2M"`,
/// `250_000.0` → `"250k"`, `1234.5` → `"1.235k"`, `0.0` → `"0"`.
///
/// Values with magnitude in `[0.001, 1)` are written as plain decimals
/// (`0.25` → `"0.25"`) rather than with the milli prefix, so that a
/// lower-case `m` is never mistaken for mega on a rate axis. Smaller values
/// use µ, n, p, …; values beyond the prefixes' range (below 10^-30 or from
/// 10^33 up) use exponent notation (`"1.5e40"`). NaN and infinities are
/// written `NaN`, `inf` and `-inf`.
///
/// ```
/// use wirewatch_plot::si;
/// assert_eq!(si(1500.0), "1.5k");
/// assert_eq!(si(2_000_000.0), "2M");
/// assert_eq!(si(0.0), "0");
/// assert_eq!(si(-750.0), "-750");
/// ```
pub fn si(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if value == 0.0 {
        return "0".to_owned();
    }
    let sign = if value < 0.0 { "-" } else { "" };
    // Scientific notation with three decimals rounds to four significant
    // digits and tells the decimal exponent exactly: "1.500e3".
    let sci = format!("{:.3e}", value.abs());
    let Some((mantissa, exponent)) = sci.split_once('e') else {
        return format!("{sign}{sci}");
    };
    let Ok(exponent) = exponent.parse::<i32>() else {
        return format!("{sign}{sci}");
    };
    // The four significant digits, "1500" for "1.500".
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-3..=-1).contains(&exponent) {
        let zeros = "0".repeat((-exponent - 1) as usize);
        return format!("{sign}0.{zeros}{}", digits.trim_end_matches('0'));
    }
    let group = exponent.div_euclid(3);
    let prefix = usize::try_from(group + 10)
        .ok()
        .and_then(|i| PREFIXES.get(i));
    match prefix {
        Some(prefix) => {
            // Shift the decimal point right by the exponent's remainder.
            let int_len = 1 + exponent.rem_euclid(3) as usize;
            let (int, frac) = digits.split_at(int_len.min(digits.len()));
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{sign}{int}{prefix}")
            } else {
                format!("{sign}{int}.{frac}{prefix}")
            }
        }
        None => {
            let (int, frac) = digits.split_at(1.min(digits.len()));
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{sign}{int}e{exponent}")
            } else {
                format!("{sign}{int}.{frac}e{exponent}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::si;

    #[test]
    fn prefixes() {
        assert_eq!(si(0.0), "0");
        assert_eq!(si(-0.0), "0");
        assert_eq!(si(1.0), "1");
        assert_eq!(si(999.0), "999");
        assert_eq!(si(1000.0), "1k");
        assert_eq!(si(1500.0), "1.5k");
        assert_eq!(si(250_000.0), "250k");
        assert_eq!(si(1_250_000.0), "1.25M");
        assert_eq!(si(2_000_000.0), "2M");
        assert_eq!(si(2e9), "2G");
        assert_eq!(si(12.5e12), "12.5T");
        assert_eq!(si(1e30), "1Q");
        assert_eq!(si(999e30), "999Q");
    }

    #[test]
    fn rounding_to_four_digits() {
        assert_eq!(si(1234.5678), "1.235k");
        // Rounding up carries into the next prefix.
        assert_eq!(si(999_960.0), "1M");
        // Float noise from tick arithmetic disappears.
        assert_eq!(si(0.1 * 3.0), "0.3");
        assert_eq!(si(3.0 * 0.35e6), "1.05M");
    }

    #[test]
    fn small_and_negative() {
        assert_eq!(si(0.25), "0.25");
        assert_eq!(si(0.001), "0.001");
        assert_eq!(si(0.0015), "0.0015");
        assert_eq!(si(0.0005), "500µ");
        assert_eq!(si(2e-9), "2n");
        assert_eq!(si(-1500.0), "-1.5k");
        assert_eq!(si(-0.5), "-0.5");
    }

    #[test]
    fn out_of_prefix_range_and_non_finite() {
        assert_eq!(si(1.5e40), "1.5e40");
        assert_eq!(si(f64::MAX), "1.798e308");
        assert_eq!(si(1e-40), "1e-40");
        assert_eq!(si(f64::MIN_POSITIVE / 1e10), "2.225e-318");
        assert_eq!(si(f64::NAN), "NaN");
        assert_eq!(si(f64::INFINITY), "inf");
        assert_eq!(si(f64::NEG_INFINITY), "-inf");
    }
}
