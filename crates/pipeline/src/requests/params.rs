//! One parameter's value at a time: each function takes the text given
//! (after `--by`, or after `by=` in a query string) and gives the value or
//! the one line that says what is wrong. Messages name the command line's
//! option (`'--by <BY>'`, `--since:`), since the API's keys are its long
//! names.
//!
//! The words of a wrong value (`invalid value 'X' for '--opt <NAME>': …`)
//! are those clap uses for the options it checks itself, and a value the
//! command line rejects while parsing its arguments ends with
//! [`USAGE_HINT`] there: the web API gives the same line.

use std::net::IpAddr;

use wirewatch_store::query::Range;
use wirewatch_store::time::{parse_duration, parse_time, rfc3339};
use wirewatch_wire::proto;

/// What the command line appends to an error found while it parses its
/// arguments (and the API to the same error).
pub const USAGE_HINT: &str = "; try 'wirewatch --help'";

/// `invalid value 'VALUE' for 'OPTION': WHY`, the line of a value that
/// does not parse. `option` is written as in the usage (`--limit <LIMIT>`).
pub fn invalid(option: &str, value: &str, why: &str) -> String {
    format!("invalid value '{value}' for '{option}': {why}")
}

/// A value that is not one of `names`.
fn not_one_of(option: &str, value: &str, names: &[&str]) -> String {
    format!(
        "invalid value '{value}' for '{option}' (possible values: {})",
        names.join(", ")
    )
}

/// Two options that exclude each other, both given.
pub fn conflict(a: &str, b: &str) -> String {
    format!("the argument '{a}' cannot be used with '{b}'")
}

/// What `history top|series|plot --by` groups by: the store's grouping.
pub use wirewatch_store::query::GroupBy as By;

/// Every `--by` value, its name and what it means, in the order the help
/// lists them.
pub const BY: [(By, &str, &str); 7] = [
    (
        By::Host,
        "host",
        "Every host, both ends of each flow (its own sent and received bytes)",
    ),
    (By::Local, "local", "Local hosts"),
    (By::Remote, "remote", "Remote hosts"),
    (By::Pair, "pair", "Host pairs"),
    (By::Process, "process", "Processes"),
    (By::Port, "port", "Protocol and service port"),
    (By::Iface, "iface", "Interfaces"),
];

/// The name `by` is given by.
pub fn by_name(by: By) -> &'static str {
    name_in(&BY, by)
}

/// The name `value` is given by in `table` (every value has one).
fn name_in<T: PartialEq>(table: &[(T, &'static str, &str)], value: T) -> &'static str {
    table
        .iter()
        .find(|(t, _, _)| *t == value)
        .map_or("", |(_, n, _)| n)
}

/// `--by VALUE`.
pub fn parse_by(value: &str) -> Result<By, String> {
    one_of("--by <BY>", value, &BY)
}

/// What `history series|plot --metric` measures.
pub use wirewatch_store::query::Metric;
/// What `history top --sort` ranks by: the store's order.
pub use wirewatch_store::query::Order;

/// Every `--sort` value, its name and what it means.
pub const SORT: [(Order, &str, &str); 3] = [
    (Order::Bytes, "bytes", "Bytes both ways"),
    (
        Order::Retrans,
        "retrans",
        "TCP segments retransmitted (minutes recorded with --tcp)",
    ),
    (
        Order::Rtt,
        "rtt",
        "TCP round trip between the ends (minutes recorded with --tcp)",
    ),
];

/// Every `--metric` value, its name and what it means.
pub const METRIC: [(Metric, &str, &str); 3] = [
    (Metric::Bytes, Metric::Bytes.name(), "Traffic"),
    (
        Metric::RetransRate,
        Metric::RetransRate.name(),
        "Retransmitted TCP segments per TCP segment (--tcp minutes)",
    ),
    (
        Metric::RttP95,
        Metric::RttP95.name(),
        "95th percentile of the TCP round trip, ms (--tcp minutes)",
    ),
];

/// The value of `table` named `value`, or the line naming the possible ones.
fn one_of<T: Copy>(option: &str, value: &str, table: &[(T, &str, &str)]) -> Result<T, String> {
    table
        .iter()
        .find(|(_, n, _)| *n == value)
        .map(|(t, _, _)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(_, n, _)| *n).collect();
            not_one_of(option, value, &names)
        })
}

/// `--sort VALUE`.
pub fn parse_sort(value: &str) -> Result<Order, String> {
    one_of("--sort <SORT>", value, &SORT)
}

/// `--metric VALUE`.
pub fn parse_metric(value: &str) -> Result<Metric, String> {
    one_of("--metric <METRIC>", value, &METRIC)
}

/// The name `order` is given by.
pub fn sort_name(order: Order) -> &'static str {
    name_in(&SORT, order)
}

/// `forecast --direction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Received traffic.
    In,
    /// Sent traffic.
    Out,
    /// Both, each forecast on its own.
    Both,
}

impl Direction {
    /// Every value, its name and what it means.
    pub const ALL: [(Direction, &'static str, &'static str); 3] = [
        (Direction::In, "in", "Received traffic"),
        (Direction::Out, "out", "Sent traffic"),
        (Direction::Both, "both", "Both, each forecast on its own"),
    ];

    /// `--direction VALUE`.
    pub fn parse(value: &str) -> Result<Direction, String> {
        one_of("--direction <DIRECTION>", value, &Direction::ALL)
    }
}

/// A count such as `--limit` (a whole number, 0 or more).
pub fn count(option: &str, value: &str) -> Result<usize, String> {
    value
        .parse::<usize>()
        .map_err(|e| invalid(option, value, &e.to_string()))
}

/// An address (`--host`).
pub fn addr(option: &str, value: &str) -> Result<IpAddr, String> {
    value
        .parse::<IpAddr>()
        .map_err(|e| invalid(option, value, &e.to_string()))
}

/// A port (`--port`), 0 to 65535.
pub fn port(option: &str, value: &str) -> Result<u16, String> {
    let n = value
        .parse::<i64>()
        .map_err(|e| invalid(option, value, &e.to_string()))?;
    u16::try_from(n).map_err(|_| invalid(option, value, &format!("{n} is not in 0..=65535")))
}

/// A number with a fraction (`--capacity-fraction`).
pub fn float(option: &str, value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .map_err(|e| invalid(option, value, &e.to_string()))
}

/// A protocol by the name `wire::proto::name` gives it (plus `icmpv6`), or
/// its number (`--proto`).
pub fn protocol(s: &str) -> Result<u8, String> {
    let n = s.to_ascii_lowercase();
    let n = if n == "icmpv6" {
        "icmp6".to_string()
    } else {
        n
    };
    (0..=u8::MAX)
        .find(|&p| proto::name(p) == n)
        .ok_or_else(|| {
            format!("--proto takes a name (tcp, udp, icmp, icmp6, sctp, gre, esp, …) or a number 0-255, got '{s}'")
        })
}

/// `--since` and `--until` (or `--last` back from `--until`) as a range
/// of seconds, relative times counted back from `now`.
pub fn range(since: &str, until: &str, last: Option<&str>, now: i64) -> Result<Range, String> {
    // In the order the command line always reported them: --since first.
    let start = match last {
        Some(_) => None,
        None => Some(parse_time(since, now).map_err(|e| format!("--since: {e}"))?),
    };
    let to = parse_time(until, now).map_err(|e| format!("--until: {e}"))?;
    let from = match (start, last) {
        (Some(from), _) => from,
        (None, l) => to - parse_duration(l.unwrap_or("")).map_err(|e| format!("--last: {e}"))?,
    };
    if from >= to {
        return Err(match last {
            Some(l) => format!("--last {l} must be longer than nothing"),
            None => format!(
                "--since ({}) must be before --until ({})",
                rfc3339(from),
                rfc3339(to)
            ),
        });
    }
    Ok(Range { from, to })
}

/// Buckets the command line allows in a series.
pub const MAX_BUCKETS: i64 = 1_000_000;

/// The step of a series: the one given (whole minutes, at most
/// `max_buckets` buckets in `range`), or one giving about `buckets`
/// buckets, rounded to a readable length.
pub fn step(
    given: Option<&str>,
    range: &Range,
    buckets: i64,
    max_buckets: i64,
) -> Result<i64, String> {
    if let Some(s) = given {
        let step = parse_duration(s).map_err(|e| format!("--step: {e}"))?;
        if step < 60 || step % 60 != 0 {
            return Err(format!(
                "--step must be whole minutes (1m, 5m, 1h, 1d), got '{s}'"
            ));
        }
        if (range.to - range.from) / step > max_buckets {
            let most = if max_buckets == MAX_BUCKETS {
                "a million".to_string()
            } else {
                wirewatch_units::thousands(max_buckets.max(0) as u64)
            };
            return Err(format!(
                "--step {s} makes more than {most} buckets: choose a larger step"
            ));
        }
        return Ok(step);
    }
    let want = (range.to - range.from) / buckets.max(1);
    const NICE: [i64; 12] = [
        60, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400, 604_800,
    ];
    Ok(NICE.iter().copied().find(|&s| s >= want).unwrap_or(604_800))
}

/// `--limit N` where 0 means all: the number of entries to keep, at most
/// `most` (the web API's bound; `usize::MAX` on the command line).
pub fn limit(n: usize, most: usize) -> Result<usize, String> {
    match n {
        0 if most == usize::MAX => Ok(usize::MAX),
        n if (1..=most).contains(&n) => Ok(n),
        _ => Err(format!(
            "--limit {n}: from 1 to {most} here (0, for all, is the command line's)"
        )),
    }
}

/// A link rate in bit/s: a number with an optional SI prefix (k, M, G, T:
/// powers of 1000, as link speeds are quoted) and an optional `bit/s`,
/// `bit`, `bps` or `b`: `1G`, `1 Gbit/s`, `100Mbps`, `2.5e9`.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let unitless = ["bit/s", "bit", "bps", "b/s", "b"]
        .iter()
        .find_map(|u| t.strip_suffix(u))
        .unwrap_or(t)
        .trim_end();
    let (num, mult) = match unitless.char_indices().last() {
        Some((i, c)) if "kKMGT".contains(c) => (
            &unitless[..i],
            match c {
                'k' | 'K' => 1e3,
                'M' => 1e6,
                'G' => 1e9,
                _ => 1e12,
            },
        ),
        _ => (unitless, 1.0),
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v * mult),
        _ => Err(format!(
            "expected a link rate such as 1G, 100Mbit/s or 2.5e9 (bit/s), got '{s}'"
        )),
    }
}

/// A query string's `key=value` pairs, `+` and `%XX` decoded; a pair
/// without `=` has an empty value. Bad `%` escapes are kept as written.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decoded(k), percent_decoded(v))
        })
        .collect()
}

/// `+` as a space and `%XX` as its byte; the bytes read as UTF-8 (lossy).
pub fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_names_every_value_when_wrong() {
        assert_eq!(parse_by("pair"), Ok(By::Pair));
        assert_eq!(by_name(By::Iface), "iface");
        assert_eq!(
            parse_by("planet").unwrap_err(),
            "invalid value 'planet' for '--by <BY>' (possible values: host, local, remote, pair, process, port, iface)"
        );
        assert!(Direction::parse("up")
            .unwrap_err()
            .contains("in, out, both"));
    }

    #[test]
    fn numbers_say_why_they_do_not_parse() {
        assert_eq!(
            count("--limit <LIMIT>", "x").unwrap_err(),
            "invalid value 'x' for '--limit <LIMIT>': invalid digit found in string"
        );
        assert_eq!(port("--port <PORT>", "80"), Ok(80));
        assert!(port("--port <PORT>", "70000")
            .unwrap_err()
            .ends_with("70000 is not in 0..=65535"));
        assert!(addr("--host <ADDR>", "10.0.0.256").is_err());
        assert_eq!(protocol("UDP"), Ok(17));
        assert_eq!(protocol("icmpv6"), Ok(58));
        assert!(protocol("pigeon").unwrap_err().starts_with("--proto takes"));
    }

    #[test]
    fn ranges_count_back_from_now_and_last_from_until() {
        let now = 1_000_000;
        assert_eq!(
            range("1h", "now", None, now),
            Ok(Range {
                from: now - 3600,
                to: now
            })
        );
        assert_eq!(
            range("24h", "30m", Some("2h"), now),
            Ok(Range {
                from: now - 1800 - 7200,
                to: now - 1800
            })
        );
        assert!(range("1h", "2h", None, now)
            .unwrap_err()
            .starts_with("--since ("));
        assert!(range("x", "now", None, now)
            .unwrap_err()
            .starts_with("--since: 'x'"));
        assert!(range("1h", "now", Some("5x"), now)
            .unwrap_err()
            .starts_with("--last: '5x' is not a duration"));
        assert!(range("1h", "now", Some("0m"), now).is_err());
    }

    #[test]
    fn steps_are_whole_minutes_and_bounded() {
        let r = Range {
            from: 0,
            to: 86_400,
        };
        assert_eq!(step(Some("5m"), &r, 100, MAX_BUCKETS), Ok(300));
        assert_eq!(step(None, &r, 100, MAX_BUCKETS), Ok(900));
        assert!(step(Some("90s"), &r, 100, MAX_BUCKETS)
            .unwrap_err()
            .contains("whole minutes"));
        assert_eq!(
            step(Some("1m"), &r, 100, 1_000).unwrap_err(),
            "--step 1m makes more than 1,000 buckets: choose a larger step"
        );
        let year = Range {
            from: 0,
            to: 4 * 365 * 86_400,
        };
        assert!(step(Some("1m"), &year, 100, MAX_BUCKETS)
            .unwrap_err()
            .contains("a million"));
    }

    #[test]
    fn limits_are_bounded_where_asked() {
        assert_eq!(limit(0, usize::MAX), Ok(usize::MAX));
        assert_eq!(limit(5, 100), Ok(5));
        assert!(limit(0, 100).unwrap_err().contains("from 1 to 100"));
        assert!(limit(101, 100).is_err());
    }

    #[test]
    fn query_strings_are_decoded() {
        assert_eq!(
            query_pairs("since=2026-11-23T10%3A00%3A00Z&filter=udp+port%2053&x&bad=%zz%4"),
            vec![
                ("since".into(), "2026-11-23T10:00:00Z".into()),
                ("filter".into(), "udp port 53".into()),
                ("x".into(), String::new()),
                ("bad".into(), "%zz%4".into()),
            ]
        );
    }

    #[test]
    fn rates_take_si_prefixes() {
        assert_eq!(parse_rate("1G"), Ok(1e9));
        assert_eq!(parse_rate("100Mbit/s"), Ok(1e8));
        assert!(parse_rate("fast").is_err());
    }
}
