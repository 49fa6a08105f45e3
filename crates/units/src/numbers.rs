//! Numbers with units, as wirewatch prints them.
//!
//! One rule for rates and sizes in messages and tables ([`si`], [`qty`],
//! [`bit_rate`]): from 1000 up, an SI prefix (k, M, G, T) and one decimal
//! (`1.5 M`, `160.0 Mbit/s`); below, at most one decimal with a trailing
//! `.0` dropped (`12`, `0.5`). Two named variants keep the forms that
//! other outputs are built on: [`si_axis`] (chart axis labels: up to four
//! significant digits, no space, `1.235k`) and [`readable`] (iftop's
//! screen and text report: powers of 1024, three significant digits,
//! `0.98Kb`).

/// Significant digits a number keeps in JSON output: every decimal of 15
/// digits survives a trip through an f64 (`f64::DIGITS`), so rounding there
/// drops only what arithmetic added below the type's precision.
pub const JSON_DIGITS: i32 = f64::DIGITS as i32;

/// `x` rounded to [`JSON_DIGITS`] significant digits, so that printing it
/// shortest-round-trip shows the value and not the arithmetic's noise
/// (`15439.099999999999` → `15439.1`). Whole numbers, non-finite values and
/// magnitudes outside 1e-8 … 1e15 (where the power of ten is not exact)
/// are given back as they are.
pub fn tidy_float(x: f64) -> f64 {
    if !x.is_finite() || x.fract() == 0.0 {
        return x;
    }
    let mag = x.abs().log10().floor() as i32;
    let k = JSON_DIGITS - 1 - mag;
    if !(0..=22).contains(&k) {
        return x;
    }
    // 10^k is exact up to 10^22, so the division is the double nearest
    // to the rounded decimal.
    let scale = 10f64.powi(k);
    let n = (x * scale).round();
    if n.abs() >= 9_007_199_254_740_992.0 {
        return x;
    }
    n / scale
}

/// A rate or size in SI units, the one rule: `1_500_000` → `"1.5 M"`,
/// `12` → `"12"`, `0.25` → `"0.3"`. Powers of 1000 up to T(era); the
/// prefix follows the magnitude before rounding, so `999_960` → `"1000.0 k"`.
pub fn si(v: f64) -> String {
    let a = v.abs();
    let (d, p) = if a >= 1e12 {
        (1e12, "T")
    } else if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    if p.is_empty() {
        format!("{}", (x * 10.0).round() / 10.0)
    } else {
        format!("{:.1} {p}", x)
    }
}

/// A quantity with its unit and an SI prefix (the rule of [`si`]):
/// "12 B", "1.5 MB", "0 bit/s".
pub fn qty(v: f64, unit: &str) -> String {
    let s = si(v);
    if s.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{s} {unit}")
    } else {
        format!("{s}{unit}")
    }
}

/// A bit rate with its unit, without a trailing ".0": "1 Gbit/s",
/// "312.5 Mbit/s".
pub fn bit_rate(bits_per_sec: f64) -> String {
    qty(bits_per_sec, "bit/s").replace(".0 ", " ")
}

/// A count with thousands separators: 1024 → "1,024".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// iftop's readable_size: three significant digits with b/Kb/Mb/Gb (or,
/// with `bytes`, B/KB/MB/GB) in steps of 1024: `1000` → `"0.98Kb"`.
pub fn readable(n: f64, bytes: bool) -> String {
    const UNITS: [[&str; 4]; 2] = [["b", "Kb", "Mb", "Gb"], ["B", "KB", "MB", "GB"]];
    let u = &UNITS[bytes as usize];
    let mut size = 1.0;
    let mut i = 0;
    loop {
        if n < size * 1000.0 || i >= u.len() - 1 {
            return format!("{:.0}{}", n / size, u[i]);
        }
        i += 1;
        size *= 1024.0;
        if n < size * 10.0 {
            return format!("{:.2}{}", n / size, u[i]);
        } else if n < size * 100.0 {
            return format!("{:.1}{}", n / size, u[i]);
        }
    }
}

/// SI prefixes from quecto (10^-30) to quetta (10^30), indexed by the power
/// of 1000 plus 10.
const PREFIXES: [&str; 21] = [
    "q", "r", "y", "z", "a", "f", "p", "n", "µ", "m", "", "k", "M", "G", "T", "P", "E", "Z", "Y",
    "R", "Q",
];

/// The chart axes' variant of [`si`]: `value` compactly with an SI prefix
/// and at most four significant digits, trailing zeros dropped, no space:
/// `1500.0` → `"1.5k"`, `2e6` → `"2M"`, `250_000.0` → `"250k"`,
/// `1234.5` → `"1.235k"`, `0.0` → `"0"`. Tick values are round numbers, so
/// their labels stay short; the extra digits tell close ticks apart.
///
/// Values with magnitude in `[0.001, 1)` are written as plain decimals
/// (`0.25` → `"0.25"`) rather than with the milli prefix, so that a
/// lower-case `m` is never mistaken for mega on a rate axis. Smaller values
/// use µ, n, p, …; values beyond the prefixes' range (below 10^-30 or from
/// 10^33 up) use exponent notation (`"1.5e40"`). NaN and infinities are
/// written `NaN`, `inf` and `-inf`.
///
/// ```
/// use wirewatch_units::si_axis;
/// assert_eq!(si_axis(1500.0), "1.5k");
/// assert_eq!(si_axis(2_000_000.0), "2M");
/// assert_eq!(si_axis(0.0), "0");
/// assert_eq!(si_axis(-750.0), "-750");
/// ```
pub fn si_axis(value: f64) -> String {
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
    use super::*;

    #[test]
    fn axis_prefixes() {
        assert_eq!(si_axis(0.0), "0");
        assert_eq!(si_axis(-0.0), "0");
        assert_eq!(si_axis(1.0), "1");
        assert_eq!(si_axis(999.0), "999");
        assert_eq!(si_axis(1000.0), "1k");
        assert_eq!(si_axis(1500.0), "1.5k");
        assert_eq!(si_axis(250_000.0), "250k");
        assert_eq!(si_axis(1_250_000.0), "1.25M");
        assert_eq!(si_axis(2_000_000.0), "2M");
        assert_eq!(si_axis(2e9), "2G");
        assert_eq!(si_axis(12.5e12), "12.5T");
        assert_eq!(si_axis(1e30), "1Q");
        assert_eq!(si_axis(999e30), "999Q");
    }

    #[test]
    fn axis_rounding_to_four_digits() {
        assert_eq!(si_axis(1234.5678), "1.235k");
        // Rounding up carries into the next prefix.
        assert_eq!(si_axis(999_960.0), "1M");
        // Float noise from tick arithmetic disappears.
        assert_eq!(si_axis(0.1 * 3.0), "0.3");
        assert_eq!(si_axis(3.0 * 0.35e6), "1.05M");
    }

    #[test]
    fn axis_small_and_negative() {
        assert_eq!(si_axis(0.25), "0.25");
        assert_eq!(si_axis(0.001), "0.001");
        assert_eq!(si_axis(0.0015), "0.0015");
        assert_eq!(si_axis(0.0005), "500µ");
        assert_eq!(si_axis(2e-9), "2n");
        assert_eq!(si_axis(-1500.0), "-1.5k");
        assert_eq!(si_axis(-0.5), "-0.5");
    }

    #[test]
    fn axis_out_of_prefix_range_and_non_finite() {
        assert_eq!(si_axis(1.5e40), "1.5e40");
        assert_eq!(si_axis(f64::MAX), "1.798e308");
        assert_eq!(si_axis(1e-40), "1e-40");
        assert_eq!(si_axis(f64::MIN_POSITIVE / 1e10), "2.225e-318");
        assert_eq!(si_axis(f64::NAN), "NaN");
        assert_eq!(si_axis(f64::INFINITY), "inf");
        assert_eq!(si_axis(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn one_rule() {
        assert_eq!(si(1_500_000.0), "1.5 M");
        assert_eq!(si(160e6), "160.0 M");
        assert_eq!(si(12.0), "12");
        assert_eq!(si(12.34), "12.3");
        assert_eq!(si(0.0), "0");
        assert_eq!(si(-2500.0), "-2.5 k");
        assert_eq!(qty(12.0, "B"), "12 B");
        assert_eq!(qty(1.5e6, "B"), "1.5 MB");
        assert_eq!(qty(0.0, "bit/s"), "0 bit/s");
    }

    #[test]
    fn bit_rates() {
        assert_eq!(bit_rate(1e9), "1 Gbit/s");
        assert_eq!(bit_rate(312.5e6), "312.5 Mbit/s");
    }

    #[test]
    fn counts() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1024), "1,024");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn readable_matches_iftop_steps() {
        assert_eq!(readable(0.0, false), "0b");
        assert_eq!(readable(999.0, false), "999b");
        assert_eq!(readable(1000.0, false), "0.98Kb");
        assert_eq!(readable(20_480.0, true), "20.0KB");
        assert_eq!(readable(204_800.0, true), "200KB");
        assert_eq!(
            readable(3.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0, true),
            "3072GB"
        );
    }

    #[test]
    fn json_floats_lose_only_their_noise() {
        assert_eq!(tidy_float(15_439.099_999_999_999).to_string(), "15439.1");
        assert_eq!(tidy_float(0.1 + 0.2).to_string(), "0.3");
        assert_eq!(tidy_float(-2.675_000_000_000_000_4), -2.675);
        // Fifteen significant digits stay.
        assert_eq!(tidy_float(1.234_567_890_123_45), 1.234_567_890_123_45);
        assert_eq!(
            tidy_float(0.000_123_456_789_012_345_6),
            0.000_123_456_789_012_346
        );
        // A report's time keeps 10 µs.
        assert_eq!(tidy_float(1_600_000_000.123_456_7), 1_600_000_000.123_46);
        for x in [
            0.0,
            42.0,
            1e300,
            3e-12,
            1.000_000_000_000_000_2e16,
            f64::NAN,
        ] {
            assert_eq!(tidy_float(x).to_bits(), x.to_bits());
        }
    }
}
