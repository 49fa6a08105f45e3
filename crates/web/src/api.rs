//! The routes answered from memory: `/api/v1/top`, `/interfaces`,
//! `/status`, `/alerts`, `/host/{ip}`, `/process/{name}` and `/metrics`,
//! made from the newest [`LiveSnapshot`] and the [`Hub`]'s alerts.
//! (`/api/v1/events` is [`crate::sse`]'s.)

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use crate::feed::{interfaces_json, LiveSnapshot, BYS, DRILL_FLOWS, MAX_LIMIT, WINDOWS};
use crate::hub::{Hub, MAX_ALERTS};
use crate::names::HostNames;
use wirewatch_pipeline::requests::params::{percent_decoded, query_pairs};

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
    /// `status` with `v` as the body.
    pub fn json(status: u16, v: &Value) -> Answer {
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

/// The answer to `GET path?query` from `hub`.
pub fn route(path: &str, query: Option<&str>, hub: &Hub) -> Answer {
    let snap = hub.snap.load();
    let query = query.unwrap_or("");
    let answer = |v: Result<Value, String>| match v {
        Ok(v) => Answer::json(200, &v),
        Err(e) => Answer::error(400, &e),
    };
    let named = |v: Value| with_names(v, &hub.names);
    if let Some(ip) = path.strip_prefix("/api/v1/host/") {
        return answer(host_json(&snap, hub, ip, query).map(named));
    }
    if let Some(name) = path.strip_prefix("/api/v1/process/") {
        return answer(process_json(&snap, hub, name, query).map(named));
    }
    match path {
        "/api/v1/top" => answer(TopQuery::parse(query).map(|q| top_json(&snap, &q, &hub.names))),
        "/api/v1/interfaces" => Answer::json(200, &interfaces_reply(&snap)),
        "/api/v1/status" => Answer::json(200, &status_json(&snap, hub)),
        "/api/v1/alerts" => answer(alerts_json(hub, query)),
        "/api/v1/responses" => answer(responses_json(hub, query)),
        p if crate::assets::is_asset_path(p) => crate::assets::get(p)
            .unwrap_or_else(|| Answer::error(404, &format!("no such file: {p}"))),
        "/metrics" => crate::metrics::answer(hub, crate::metrics::Format::Text),
        _ => Answer::error(404, &format!("no such path: {path}")),
    }
}

/// The `key=value` pairs of a query string, percent-decoded; an unknown
/// key is an error naming the ones `known`.
fn pairs(query: &str, known: &[&str]) -> Result<Vec<(String, String)>, String> {
    let pairs = query_pairs(query);
    match pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        Some((k, _)) => Err(format!(
            "unknown parameter '{k}' (possible parameters: {})",
            known.join(", ")
        )),
        None => Ok(pairs),
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

impl TopQuery {
    /// Parses `by=…&window=…&limit=…` (each optional: pair, 2s, 10).
    pub fn parse(query: &str) -> Result<TopQuery, String> {
        let mut q = TopQuery {
            by: 0,
            window: 0,
            limit: DEFAULT_LIMIT,
        };
        for (k, v) in pairs(query, &["by", "window", "limit"])? {
            match k.as_str() {
                "by" => q.by = one_of("by", &v, &BYS)?,
                "window" => q.window = one_of("window", &v, &WINDOWS)?,
                _ => q.limit = bounded("limit", &v, MAX_LIMIT)?,
            }
        }
        Ok(q)
    }
}

fn top_json(snap: &LiveSnapshot, q: &TopQuery, names: &HostNames) -> Value {
    let Some(top) = snap.tops.get(q.by).and_then(|w| w.get(q.window)) else {
        return json!({ "state": snap.state, "entries": [] });
    };
    let mut v = top.head.clone();
    if let Some(o) = v.as_object_mut() {
        o.insert("state".into(), snap.state.into());
        o.insert("by".into(), BYS[q.by].0.into());
        o.insert("window".into(), WINDOWS[q.window].0.into());
        let mut entries: Vec<Value> = top.entries.iter().take(q.limit).cloned().collect();
        names.add(&mut entries);
        o.insert("entries".into(), Value::Array(entries));
    }
    v
}

fn interfaces_reply(snap: &LiveSnapshot) -> Value {
    let errors: serde_json::Map<String, Value> = snap
        .decode_errors
        .iter()
        .map(|&(r, n)| (r.to_string(), n.into()))
        .collect();
    json!({ "state": snap.state, "interfaces": interfaces_json(snap), "decode_errors": errors })
}

fn status_json(snap: &LiveSnapshot, hub: &Hub) -> Value {
    let live = hub.live.load(Ordering::Relaxed);
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "mode": if live { "live" } else { "replay" },
        "state": snap.state,
        "time": snap.time,
        "flows_active": snap.flows_active,
        "interfaces": snap.interfaces.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        "alerts_total": snap.alerts.values().sum::<u64>(),
        "sse_clients": hub.sse_clients.load(Ordering::Relaxed),
        "sse_refused": hub.sse_refused.load(Ordering::Relaxed),
        "sse_missed": hub.sse_missed.load(Ordering::Relaxed),
        "names": hub.names.status_json(),
        "tcp": snap.tcp.as_ref().map(crate::feed::tcp_health_json),
    })
}

/// A drill-down with host names: its peers' (`src_name`, `dst_name`) and,
/// on a host's page, the host's own (`host_name`).
fn with_names(mut v: Value, names: &HostNames) -> Value {
    if let Some(peers) = v["peers"].as_array_mut() {
        names.add(peers);
    }
    if let Some(ip) = v["host"].as_str().and_then(|h| h.parse().ok()) {
        v["host_name"] = names.name(ip);
    }
    v
}

/// Severities from the lowest; `severity=` is a minimum.
const SEVERITIES: [&str; 4] = ["low", "medium", "high", "critical"];

/// Whether `entity` (an alert's entity object) names `what`: one of its
/// values equals it or, for text, contains it.
fn entity_names(entity: &Value, what: &str) -> bool {
    match entity {
        Value::Object(m) => m.iter().any(|(k, v)| k != "type" && entity_names(v, what)),
        Value::Array(a) => a.iter().any(|v| entity_names(v, what)),
        Value::String(s) => s.contains(what),
        Value::Number(n) => n.to_string() == what,
        _ => false,
    }
}

fn alerts_json(hub: &Hub, query: &str) -> Result<Value, String> {
    let mut kind = None;
    let mut min = 0;
    let mut entity = None;
    let mut limit = MAX_ALERTS;
    for (k, v) in pairs(query, &["kind", "severity", "entity", "limit"])? {
        match k.as_str() {
            "kind" => kind = Some(v),
            "severity" => min = one_of("severity", &v, &SEVERITIES.map(|s| (s, ())))?,
            "entity" => entity = Some(v),
            _ => limit = bounded("limit", &v, MAX_ALERTS)?,
        }
    }
    let keep = |a: &Value| {
        let sev = a["severity"].as_str().unwrap_or("");
        kind.as_deref().is_none_or(|k| a["kind"] == k)
            && SEVERITIES.iter().position(|s| *s == sev).unwrap_or(0) >= min
            && entity
                .as_deref()
                .is_none_or(|e| entity_names(&a["entity"], e))
    };
    let (alerts, dropped) = hub.alerts_matching(keep, limit);
    let alerts: Vec<&Value> = alerts.iter().map(|a| &**a).collect();
    Ok(json!({ "alerts": alerts, "dropped": dropped }))
}

/// `/api/v1/responses`: the responder's decisions this run, newest first.
fn responses_json(hub: &Hub, query: &str) -> Result<Value, String> {
    let mut limit = MAX_ALERTS;
    for (_, v) in pairs(query, &["limit"])? {
        limit = bounded("limit", &v, MAX_ALERTS)?;
    }
    let (found, dropped) = hub.responses_newest(limit);
    let found: Vec<&Value> = found.iter().map(|r| &**r).collect();
    Ok(json!({ "responses": found, "dropped": dropped }))
}

/// A whole number from 1 to `max` for parameter `name`.
fn bounded(name: &str, value: &str, max: usize) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "invalid value '{value}' for '{name}' (a whole number from 1 to {max})"
        )),
    }
}

/// `window=` of a drill-down: its index into the entries' rates.
fn drill_window(query: &str) -> Result<usize, String> {
    let mut window = 0;
    for (_, v) in pairs(query, &["window"])? {
        window = one_of("window", &v, &WINDOWS)?;
    }
    Ok(window)
}

/// One side of a drill-down flow: which end is the subject.
#[derive(Clone, Copy)]
enum Side {
    Src,
    Dst,
}

/// A drill-down: the subject's peers, its ports and its alerts, over the
/// busiest flows of the last publish. `side` says, per flow entry, which
/// end the subject is (`None`: not the subject's).
fn drill_json(
    snap: &LiveSnapshot,
    hub: &Hub,
    window: usize,
    side: impl Fn(&Value) -> Option<Side>,
    subject: &str,
) -> Value {
    let mut peers: std::collections::BTreeMap<String, Agg> = Default::default();
    let mut ports: std::collections::BTreeMap<(String, String), Agg> = Default::default();
    let mut flows = 0u64;
    for e in snap.drill.iter() {
        let Some(side) = side(e) else { continue };
        flows += 1;
        let (out, back, peer) = match side {
            Side::Src => (&e["src_to_dst"], &e["dst_to_src"], &e["dst"]),
            Side::Dst => (&e["dst_to_src"], &e["src_to_dst"], &e["src"]),
        };
        let agg = peers.entry(text(peer)).or_default();
        agg.add(out, back);
        agg.tcp.add(&e["tcp"], side);
        // The service side: the destination's port (the responder's).
        let port = (text(&e["protocol"]), text(&e["dst_port"]));
        ports.entry(port).or_default().add(out, back);
    }
    // Busiest first in the window asked for.
    let ranked = |m: Vec<(Value, Agg)>| {
        let mut m = m;
        m.sort_by(|(_, a), (_, b)| b.rate(window).total_cmp(&a.rate(window)));
        m
    };
    let peers: Vec<Value> = ranked(
        peers
            .into_iter()
            .map(|(p, a)| (Value::from(p), a))
            .collect(),
    )
    .into_iter()
    .map(|(peer, a)| a.pair_json(subject, peer))
    .collect();
    let ports: Vec<Value> = ranked(
        ports
            .into_iter()
            .map(|((proto, port), a)| (json!([proto, port.parse::<u16>().ok()]), a))
            .collect(),
    )
    .into_iter()
    .map(|(id, a)| a.port_json(&id[0], &id[1], window))
    .collect();
    let (alerts, _) = hub.alerts_matching(|a| entity_names(&a["entity"], subject), 100);
    let alerts: Vec<&Value> = alerts.iter().map(|a| &**a).collect();
    json!({
        "state": snap.state,
        "window": WINDOWS[window].0,
        "flows": flows,
        "flows_considered": DRILL_FLOWS,
        "peers": peers,
        "ports": ports,
        "alerts": alerts,
    })
}

/// A JSON value as a key: strings as they are, others as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The keys of the three windows' rates in an entry's direction.
const RATE_KEYS: [&str; 3] = [
    "rate_2s_bytes_per_s",
    "rate_10s_bytes_per_s",
    "rate_40s_bytes_per_s",
];

/// Bytes, packets and the three rates of one direction, summed.
#[derive(Default)]
struct DirSum {
    bytes: u64,
    packets: u64,
    rates: [f64; 3],
}

impl DirSum {
    fn add(&mut self, d: &Value) {
        self.bytes += d["bytes"].as_u64().unwrap_or(0);
        self.packets += d["packets"].as_u64().unwrap_or(0);
        for (r, k) in self.rates.iter_mut().zip(RATE_KEYS) {
            *r += d[k].as_f64().unwrap_or(0.0);
        }
    }

    fn json(&self) -> Value {
        let mut v = json!({ "bytes": self.bytes, "packets": self.packets });
        for (r, k) in self.rates.iter().zip(RATE_KEYS) {
            v[k] = json!(r);
        }
        v
    }
}

/// The TCP health (`--tcp`) of a peer's flows, from the subject's side.
#[derive(Default)]
struct TcpSum {
    connections: u64,
    /// Retransmitted segments sent, received.
    retransmissions: [u64; 2],
    /// Smoothed RTTs (ms) weighted by their samples: sum and weight.
    rtt_weighted: (f64, u64),
}

impl TcpSum {
    /// Adds a flow's `tcp` object (`null` without TCP analysis).
    fn add(&mut self, t: &Value, side: Side) {
        if t.is_null() {
            return;
        }
        self.connections += t["connections"].as_u64().unwrap_or(0);
        let r = |i: usize| t["retransmissions"][i].as_u64().unwrap_or(0);
        let (out, back) = match side {
            Side::Src => (r(0), r(1)),
            Side::Dst => (r(1), r(0)),
        };
        self.retransmissions[0] += out;
        self.retransmissions[1] += back;
        let rtt = &t["rtt_ms"];
        if let (Some(ms), Some(n)) = (rtt["smoothed"].as_f64(), rtt["samples"].as_u64()) {
            self.rtt_weighted.0 += ms * n as f64;
            self.rtt_weighted.1 += n;
        }
    }

    /// The entries' `tcp` object in part: connections, retransmissions,
    /// the smoothed RTT weighted by samples (`null` when no flow had one).
    fn json(&self) -> Value {
        if self.connections == 0 {
            return Value::Null;
        }
        let (sum, n) = self.rtt_weighted;
        json!({
            "connections": self.connections,
            "retransmissions": self.retransmissions,
            "rtt_ms": (n > 0).then(|| json!({ "smoothed": sum / n as f64, "samples": n })),
        })
    }
}

/// Sums of a peer or a port in a drill-down, from the subject's side.
#[derive(Default)]
struct Agg {
    flows: u64,
    sent: DirSum,
    received: DirSum,
    /// Peers only (ports do not show it).
    tcp: TcpSum,
}

impl Agg {
    fn add(&mut self, out: &Value, back: &Value) {
        self.flows += 1;
        self.sent.add(out);
        self.received.add(back);
    }

    /// Both ways in window `w`.
    fn rate(&self, w: usize) -> f64 {
        self.sent.rates[w] + self.received.rates[w]
    }

    /// A peer as a pair entry: the subject as source.
    fn pair_json(&self, subject: &str, peer: Value) -> Value {
        let mut v = json!({
            "src": subject,
            "dst": peer,
            "flows": self.flows,
            "src_to_dst": self.sent.json(),
            "dst_to_src": self.received.json(),
        });
        let tcp = self.tcp.json();
        if !tcp.is_null() {
            v["tcp"] = tcp;
        }
        v
    }

    /// A port: bytes and window `w`'s rates each way.
    fn port_json(&self, protocol: &Value, port: &Value, w: usize) -> Value {
        json!({
            "protocol": protocol,
            "port": port,
            "flows": self.flows,
            "sent_bytes": self.sent.bytes,
            "received_bytes": self.received.bytes,
            "sent_rate_bytes_per_s": self.sent.rates[w],
            "received_rate_bytes_per_s": self.received.rates[w],
        })
    }
}

fn host_json(snap: &LiveSnapshot, hub: &Hub, ip: &str, query: &str) -> Result<Value, String> {
    let ip = percent_decoded(ip);
    let addr: IpAddr = ip
        .parse()
        .map_err(|_| format!("not an IP address: '{ip}'"))?;
    let want = Value::from(addr.to_string());
    let window = drill_window(query)?;
    let side = |e: &Value| {
        if e["src"] == want {
            Some(Side::Src)
        } else if e["dst"] == want {
            Some(Side::Dst)
        } else {
            None
        }
    };
    let mut v = drill_json(snap, hub, window, side, &addr.to_string());
    v["host"] = want;
    Ok(v)
}

fn process_json(snap: &LiveSnapshot, hub: &Hub, name: &str, query: &str) -> Result<Value, String> {
    let name = percent_decoded(name);
    if name.is_empty() {
        return Err("a process name is needed: /api/v1/process/NAME".into());
    }
    let window = drill_window(query)?;
    // A process is the local side: its flows' source.
    let side = |e: &Value| (e["process"]["name"] == name.as_str()).then_some(Side::Src);
    let mut v = drill_json(snap, hub, window, side, &name);
    v["process"] = Value::from(name.clone());
    Ok(v)
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
        let hub = crate::shared();
        let a = route("/nope", None, &hub);
        assert_eq!(a.status, 404);
        let v: Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["error"], "no such path: /nope");
        assert_eq!(route("/api/v1/top", Some("by=x"), &hub).status, 400);
    }

    #[test]
    fn responses_are_listed_newest_first_and_counted_in_metrics() {
        use wirewatch_pipeline::{Consumer, Response};
        let hub = crate::shared();
        let mut feed = crate::WebFeed::new(hub.clone(), crate::Publish::Live, None);
        let at = wirewatch_wire::Timestamp::from_nanos(1_800_000_000_000_000_000);
        for (k, outcome) in ["blocked", "refused"].iter().enumerate() {
            feed.response(&Response {
                time: at,
                outcome: (*outcome).into(),
                action: "block-source".into(),
                target: Some(format!("from 198.51.100.{k}")),
                until: (k == 0).then(|| at.add_nanos(3_600_000_000_000)),
                rule: "default".into(),
                alert: "vertical_scan 198.51.100.0 -> 10.0.0.1".into(),
                line: format!("line {k}"),
            });
        }
        let a = route("/api/v1/responses", Some("limit=5"), &hub);
        assert_eq!(a.status, 200);
        let v: Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["responses"][0]["outcome"], "refused");
        assert_eq!(v["responses"][1]["target"], "from 198.51.100.0");
        assert_eq!(v["responses"][1]["until"], "2027-01-15T09:00:00Z");
        assert_eq!(v["dropped"], 0);
        assert_eq!(
            route("/api/v1/responses", Some("limit=0"), &hub).status,
            400
        );
        let m = route("/metrics", None, &hub).body;
        assert!(
            m.contains("wirewatch_responses_total{outcome=\"blocked\"} 1"),
            "{m}"
        );
    }
}
