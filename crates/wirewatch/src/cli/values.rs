//! clap's value parsers for the options the web API shares: each calls the
//! function of `wirewatch_pipeline::requests::params` the API calls, so a
//! bad value is the same line in both (here with clap's "try --help" after
//! it, which the API's line carries too).

use std::ffi::OsStr;
use std::net::IpAddr;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::ErrorKind;
use wirewatch_pipeline::requests::params::{
    self, parse_by, parse_metric, parse_sort, By, Direction, Metric, Order, BY, METRIC, SORT,
};

/// A value parser calling a shared function; `values`: the possible
/// values (name, help) for the help and the shell completions.
#[derive(Clone)]
pub struct Shared<T> {
    parse: fn(&str) -> Result<T, String>,
    values: &'static [(&'static str, &'static str)],
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Shared<T> {
    type Value = T;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        (self.parse)(&value.to_string_lossy())
            .map_err(|m| clap::Error::raw(ErrorKind::ValueValidation, m))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        (!self.values.is_empty()).then(|| {
            Box::new(
                self.values
                    .iter()
                    .map(|(name, help)| PossibleValue::new(*name).help(*help)),
            ) as Box<dyn Iterator<Item = PossibleValue>>
        })
    }
}

/// Names and helps of a table of values.
const fn names<T: Copy, const N: usize>(
    t: &[(T, &'static str, &'static str); N],
) -> [(&'static str, &'static str); N] {
    let mut v = [("", ""); N];
    let mut k = 0;
    while k < N {
        v[k] = (t[k].1, t[k].2);
        k += 1;
    }
    v
}

/// Names and helps of `--sort`'s values.
const SORT_VALUES: [(&str, &str); 3] = names(&SORT);

/// Names and helps of `--metric`'s values.
const METRIC_VALUES: [(&str, &str); 3] = names(&METRIC);

/// `--sort`.
pub fn sort() -> Shared<Order> {
    Shared {
        parse: parse_sort,
        values: &SORT_VALUES,
    }
}

/// `--metric`.
pub fn metric() -> Shared<Metric> {
    Shared {
        parse: parse_metric,
        values: &METRIC_VALUES,
    }
}

/// Names and helps of `--by`'s values.
const BY_VALUES: [(&str, &str); 7] = names(&BY);

/// Names and helps of `Direction`'s values.
const DIRECTION_VALUES: [(&str, &str); 3] = names(&Direction::ALL);

/// `--by`.
pub fn by() -> Shared<By> {
    Shared {
        parse: parse_by,
        values: &BY_VALUES,
    }
}

/// `--direction`.
pub fn direction() -> Shared<Direction> {
    Shared {
        parse: Direction::parse,
        values: &DIRECTION_VALUES,
    }
}

/// `--limit`.
pub fn limit() -> Shared<usize> {
    Shared {
        parse: |v| params::count("--limit <LIMIT>", v),
        values: &[],
    }
}

/// `--host`.
pub fn host() -> Shared<IpAddr> {
    Shared {
        parse: |v| params::addr("--host <ADDR>", v),
        values: &[],
    }
}

/// `--port`.
pub fn port() -> Shared<u16> {
    Shared {
        parse: |v| params::port("--port <PORT>", v),
        values: &[],
    }
}

/// `--capacity-fraction`.
pub fn fraction() -> Shared<f64> {
    Shared {
        parse: |v| params::float("--capacity-fraction <FRACTION>", v),
        values: &[],
    }
}
