//! `/api/v1/history/{top,series,flows,alerts}` and `/api/v1/forecast`:
//! the history commands over HTTP. The query keys are the command line's
//! long option names; the requests, their checks (a bad value is the
//! command line's own line, as a 400) and the JSON are
//! `wirewatch_pipeline::requests`, the code `wirewatch history … --json`
//! and `wirewatch forecast --json` run.
//!
//! A query reads SQLite, so it runs on tokio's blocking pool
//! ([`serve`]), at most [`MAX_RUNNING`] at once; each opens the database
//! read-only and closes it when answered.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Semaphore;
use wirewatch_pipeline::json::tidied;
use wirewatch_pipeline::requests::forecast::{forecast_json, ForecastDefaults, ForecastRequest};
use wirewatch_pipeline::requests::history::{
    alerts_json, flow_json, series_json, top_json, AlertsRequest, Bounds, FlowsRequest, FromQuery,
    SeriesRequest, TopRequest,
};
use wirewatch_pipeline::requests::params::query_pairs;
use wirewatch_pipeline::requests::Failure;
use wirewatch_wire::Clock;

use crate::api::Answer;

/// Entries, flows or alerts one answer holds at most (`limit` from 1 to this).
pub const MAX_LIMIT: usize = 1_000;
/// Lines of one series at most (`limit` with `by`).
pub const MAX_LINES: usize = 20;
/// Buckets of one series at most.
pub const MAX_BUCKETS: i64 = 5_000;
/// History points one forecast learns from at most (28 days at 5 minutes is 8,064).
pub const MAX_FORECAST_POINTS: usize = 20_000;
/// Queries running at once; more wait for one to end.
pub const MAX_RUNNING: usize = 2;

/// Buckets a series aims at without `step` (as the command line).
const SERIES_BUCKETS: i64 = 100;

/// What the history endpoints read: the database, the forecast settings
/// of the configuration, and the run's one clock (relative times count
/// back from its "now").
pub struct HistoryAccess {
    /// The history database (`None`: this run keeps no history).
    pub db: Option<PathBuf>,
    /// `[forecast]` of the configuration.
    pub forecast: ForecastDefaults,
    /// The run's clock.
    pub clock: Arc<dyn Clock>,
    running: Semaphore,
}

impl HistoryAccess {
    /// Access to `db` (or none) with the forecast settings and the clock.
    pub fn new(
        db: Option<PathBuf>,
        forecast: ForecastDefaults,
        clock: Arc<dyn Clock>,
    ) -> HistoryAccess {
        HistoryAccess {
            db,
            forecast,
            clock,
            running: Semaphore::new(MAX_RUNNING),
        }
    }

    /// The clock's time in whole Unix seconds.
    fn now(&self) -> i64 {
        self.clock.now().as_nanos().div_euclid(1_000_000_000)
    }
}

/// The endpoints, by path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Top,
    Series,
    Flows,
    Alerts,
    Forecast,
}

impl Endpoint {
    fn of(path: &str) -> Option<Endpoint> {
        Some(match path {
            "/api/v1/history/top" => Endpoint::Top,
            "/api/v1/history/series" => Endpoint::Series,
            "/api/v1/history/flows" => Endpoint::Flows,
            "/api/v1/history/alerts" => Endpoint::Alerts,
            "/api/v1/forecast" => Endpoint::Forecast,
            _ => return None,
        })
    }
}

/// Whether `path` is answered here (and so through [`serve`]).
pub fn handles(path: &str) -> bool {
    Endpoint::of(path).is_some() || path.starts_with("/api/v1/history/")
}

/// Answers `path?query` on the blocking pool, at most [`MAX_RUNNING`] at once.
pub async fn serve(access: Arc<HistoryAccess>, path: String, query: Option<String>) -> Answer {
    let Ok(_turn) = access.running.acquire().await else {
        return Answer::error(503, "the server is stopping");
    };
    let a = access.clone();
    tokio::task::spawn_blocking(move || route(&path, query.as_deref(), &a))
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| Answer::error(500, "the history query failed"))
}

/// The answer to `GET path?query`, or `None` when `path` is not a history
/// endpoint. Blocking (SQLite, forecasts): see [`serve`].
pub fn route(path: &str, query: Option<&str>, access: &HistoryAccess) -> Option<Answer> {
    let Some(what) = Endpoint::of(path) else {
        return handles(path).then(|| Answer::error(404, &format!("no such path: {path}")));
    };
    let Some(db) = access.db.as_deref() else {
        return Some(Answer::error(
            404,
            "this run keeps no history (--no-history, or -r without --db): no history or forecast to query",
        ));
    };
    let pairs = query_pairs(query.unwrap_or(""));
    let now = access.now();
    let items = Bounds {
        limit: MAX_LIMIT,
        buckets: MAX_BUCKETS,
    };
    let got: Result<Value, Failure> = match what {
        Endpoint::Top => parsed::<TopRequest>(&pairs).and_then(|r| {
            let plan = r.plan(now, items)?;
            let t = plan.run(&wirewatch_pipeline::requests::history::open(db)?)?;
            Ok(top_json(r.by, &t, &plan.p.range))
        }),
        Endpoint::Series => parsed::<SeriesRequest>(&pairs).and_then(|r| {
            let lines = Bounds {
                limit: MAX_LINES,
                buckets: MAX_BUCKETS,
            };
            let (p, s) = r.run(db, now, SERIES_BUCKETS, lines)?;
            Ok(series_json(&s, &p.range))
        }),
        Endpoint::Flows => parsed::<FlowsRequest>(&pairs).and_then(|r| {
            let (_, (flows, _, _)) = r.run(db, now, items)?;
            Ok(Value::Array(flows.iter().map(flow_json).collect()))
        }),
        Endpoint::Alerts => parsed::<AlertsRequest>(&pairs).and_then(|r| {
            let found = r.run(db, now, items)?;
            // Stored as printed: the text, checked to be JSON.
            let text = alerts_json(db, &found.kept)?;
            serde_json::from_str(&text).map_err(|e| Failure::Store(e.to_string()))
        }),
        Endpoint::Forecast => parsed::<ForecastRequest>(&pairs).and_then(|r| {
            let plan = r.plan(&access.forecast, now, MAX_FORECAST_POINTS)?;
            Ok(forecast_json(&plan, &r.make(&plan, db)?))
        }),
    };
    Some(match got {
        Ok(v) => Answer::json(200, &tidied(v)),
        Err(Failure::Bad(m)) => Answer::error(400, &m),
        Err(Failure::Missing(m)) => Answer::error(404, &m),
        Err(Failure::Store(m)) => Answer::error(500, &m),
    })
}

/// The request of a query string (a bad or unknown key is [`Failure::Bad`]).
fn parsed<R: FromQuery>(pairs: &[(String, String)]) -> Result<R, Failure> {
    R::from_pairs(pairs).map_err(Failure::Bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirewatch_wire::{FixedClock, Timestamp};

    fn access(db: Option<PathBuf>) -> HistoryAccess {
        HistoryAccess::new(
            db,
            ForecastDefaults::default(),
            Arc::new(FixedClock(Timestamp::from_secs(1_800_000_000))),
        )
    }

    fn error(a: &Answer) -> String {
        let v: Value = serde_json::from_str(&a.body).unwrap();
        v["error"].as_str().unwrap().to_string()
    }

    #[test]
    fn other_paths_are_not_ours_and_unknown_history_paths_are_404() {
        let a = access(None);
        assert!(route("/api/v1/top", None, &a).is_none());
        let r = route("/api/v1/history/nope", None, &a).unwrap();
        assert_eq!(r.status, 404);
        assert!(handles("/api/v1/history/nope") && handles("/api/v1/forecast"));
    }

    #[test]
    fn without_history_every_endpoint_says_so() {
        let a = access(None);
        for p in ["top", "series", "flows", "alerts"] {
            let r = route(&format!("/api/v1/history/{p}"), None, &a).unwrap();
            assert_eq!(r.status, 404);
            assert!(error(&r).contains("keeps no history"), "{}", r.body);
        }
        assert_eq!(route("/api/v1/forecast", None, &a).unwrap().status, 404);
    }

    #[test]
    fn bad_parameters_are_400_before_the_database_is_opened() {
        let a = access(Some("/nonexistent/h.db".into()));
        for (path, q, want) in [
            ("top", "by=planet", "invalid value 'planet' for '--by <BY>'"),
            ("top", "limit=0", "--limit 0: from 1 to 1000 here"),
            (
                "series",
                "limit=21&by=host",
                "--limit 21: from 1 to 20 here",
            ),
            ("series", "step=1m&last=30d", "more than 5,000 buckets"),
            (
                "flows",
                "since=tomorrow",
                "--since: 'tomorrow' is not a time",
            ),
            ("alerts", "colour=red", "unknown parameter 'colour'"),
        ] {
            let r = route(&format!("/api/v1/history/{path}"), Some(q), &a).unwrap();
            assert_eq!(r.status, 400, "{q}: {}", r.body);
            assert!(error(&r).contains(want), "{q}: {}", r.body);
        }
        let r = route("/api/v1/history/top", Some("by=pair"), &a).unwrap();
        assert_eq!(r.status, 404);
        assert!(error(&r).contains("no history there"), "{}", r.body);
        let r = route("/api/v1/forecast", Some("step=90s"), &a).unwrap();
        assert_eq!(r.status, 400);
    }
}
