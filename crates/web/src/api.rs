//! The routes: `GET`/`HEAD` only; `/api/v1/top`, `/api/v1/interfaces`,
//! `/metrics`. Answers are made from the newest [`LiveSnapshot`].

use serde_json::{json, Value};

use crate::feed::{LiveSnapshot, BYS, MAX_LIMIT, WINDOWS};

/// Entries `/api/v1/top` gives without `limit`.
pub const DEFAULT_LIMIT: usize = 10;

/// An answer before it becomes HTTP: status, content type, body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

const JSON: &str = "application/json";

impl Answer {
    fn json(status: u16, v: &Value) -> Answer {
        Answer {
            status,
            content_type: JSON,
            body: format!("{v}\n"),
        }
    }

    /// `status` with `{"error": msg}`.
    pub fn error(status: u16, msg: &str) -> Answer {
        Answer::json(status, &json!({ "error": msg }))
    }
}

/// The answer to `GET path?query` from `snap`.
pub fn route(path: &str, query: Option<&str>, snap: &LiveSnapshot) -> Answer {
    match path {
        "/api/v1/top" => match TopQuery::parse(query.unwrap_or("")) {
            Ok(q) => Answer::json(200, &top_json(snap, &q)),
            Err(e) => Answer::error(400, &e),
        },
        "/api/v1/interfaces" => Answer::json(200, &interfaces_json(snap)),
        "/metrics" => crate::metrics::answer(snap, crate::metrics::Format::Text),
        _ => Answer::error(404, &format!("no such path: {path}")),
    }
}

/// `/api/v1/top`'s parameters, as indexes into the snapshot's tops.
#[derive(Debug, PartialEq, Eq)]
pub struct TopQuery {
    /// Index into [`BYS`].
    pub by: usize,
    /// Index into [`WINDOWS`].
    pub window: usize,
    /// Entries to give.
    pub limit: usize,
}

fn one_of<T>(name: &str, value: &str, allowed: &[(&str, T)]) -> Result<usize, String> {
    allowed
        .iter()
        .position(|(n, _)| *n == value)
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            format!(
                "invalid value '{value}' for '{name}' (possible values: {})",
                names.join(", ")
            )
        })
}

fn limit(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n @ 1..=MAX_LIMIT) => Ok(n),
        _ => Err(format!(
            "invalid value '{value}' for 'limit' (a whole number from 1 to {MAX_LIMIT})"
        )),
    }
}

impl TopQuery {
    /// Parses `by=…&window=…&limit=…` (each optional: pair, 2s, 10).
    pub fn parse(query: &str) -> Result<TopQuery, String> {
        let mut q = TopQuery {
            by: 0,
            window: 0,
            limit: DEFAULT_LIMIT,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "by" => q.by = one_of("by", v, &BYS)?,
                "window" => q.window = one_of("window", v, &WINDOWS)?,
                "limit" => q.limit = limit(v)?,
                _ => {
                    return Err(format!(
                        "unknown parameter '{k}' (possible parameters: by, window, limit)"
                    ))
                }
            }
        }
        Ok(q)
    }
}

fn top_json(snap: &LiveSnapshot, q: &TopQuery) -> Value {
    let Some(top) = snap.tops.get(q.by).and_then(|w| w.get(q.window)) else {
        return json!({ "state": snap.state, "entries": [] });
    };
    let mut v = top.head.clone();
    if let Some(o) = v.as_object_mut() {
        o.insert("state".into(), snap.state.into());
        o.insert("by".into(), BYS[q.by].0.into());
        o.insert("window".into(), WINDOWS[q.window].0.into());
        let entries = top.entries.iter().take(q.limit).cloned().collect();
        o.insert("entries".into(), Value::Array(entries));
    }
    v
}

fn interfaces_json(snap: &LiveSnapshot) -> Value {
    let errors: serde_json::Map<String, Value> = snap
        .decode_errors
        .iter()
        .map(|&(r, n)| (r.to_string(), n.into()))
        .collect();
    let ifaces: Vec<Value> = snap
        .interfaces
        .iter()
        .map(|i| {
            json!({
                "name": i.name,
                "transmit_packets": i.tx.0,
                "transmit_bytes": i.tx.1,
                "receive_packets": i.rx.0,
                "receive_bytes": i.rx.1,
                "kernel_received": i.kernel.map(|k| k.0),
                "kernel_dropped": i.kernel.map(|k| k.1),
                "state": i.kernel.map(|k| k.2),
            })
        })
        .collect();
    json!({ "state": snap.state, "interfaces": ifaces, "decode_errors": errors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_parameters_parse_and_bad_ones_name_the_parameter() {
        let q = TopQuery::parse("by=host&window=40s&limit=5").unwrap();
        assert_eq!((q.by, q.window, q.limit), (1, 2, 5));
        assert_eq!(TopQuery::parse("").unwrap().limit, DEFAULT_LIMIT);
        let e = TopQuery::parse("by=planet").unwrap_err();
        assert_eq!(
            e,
            "invalid value 'planet' for 'by' (possible values: pair, host, process, port)"
        );
        assert!(TopQuery::parse("window=3s")
            .unwrap_err()
            .contains("2s, 10s, 40s"));
        for bad in ["0", "101", "-1", "x"] {
            let e = TopQuery::parse(&format!("limit={bad}")).unwrap_err();
            assert!(e.contains("'limit'") && e.contains("1 to 100"), "{e}");
        }
        assert!(TopQuery::parse("sort=1").unwrap_err().contains("'sort'"));
    }

    #[test]
    fn unknown_paths_are_404_and_errors_are_json() {
        let a = route("/nope", None, &LiveSnapshot::default());
        assert_eq!(a.status, 404);
        let v: Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["error"], "no such path: /nope");
        assert_eq!(
            route("/api/v1/top", Some("by=x"), &LiveSnapshot::default()).status,
            400
        );
    }
}
