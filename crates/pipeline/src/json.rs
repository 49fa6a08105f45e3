//! JSON as wirewatch prints it: every float rounded to
//! [`wirewatch_units::JSON_DIGITS`] significant digits
//! ([`wirewatch_units::tidy_float`]), so no output shows arithmetic noise
//! like `15439.099999999999`. Every JSON output goes through here: reports,
//! alerts (live and as the history keeps them), queries, forecasts.

use serde::Serialize;
use serde_json::Value;

/// Rounds every float in `v`, in place.
pub fn tidy(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(x) = n.as_f64() {
                if let Some(t) = serde_json::Number::from_f64(wirewatch_units::tidy_float(x)) {
                    *n = t;
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(tidy),
        Value::Object(o) => o.values_mut().for_each(tidy),
        _ => {}
    }
}

/// `v` with every float rounded.
pub fn tidied(mut v: Value) -> Value {
    tidy(&mut v);
    v
}

/// `t` as a JSON value, floats rounded.
pub fn to_value<T: Serialize + ?Sized>(t: &T) -> serde_json::Result<Value> {
    let mut v = serde_json::to_value(t)?;
    tidy(&mut v);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_rounded_everywhere_in_a_value() {
        let v = to_value(&serde_json::json!({
            "rate": 15_439.099_999_999_999,
            "list": [0.1 + 0.2, 7, {"deep": 1.000_000_000_000_000_2}],
            "count": 3,
        }))
        .unwrap();
        assert_eq!(
            v.to_string(),
            r#"{"count":3,"list":[0.3,7,{"deep":1.0}],"rate":15439.1}"#
        );
    }
}
