//! The report's JSON (`--format json`), shared by the report sink and the
//! web API so that both print the same numbers in the same shape.

use serde_json::{json, Value};
use wirewatch_flow::{ByteMode, DirView, Entry, Snapshot, Stats, View};
use wirewatch_procs::Owner;
use wirewatch_wire::{proto, tcp_flags};

use crate::source::CaptureStats;

/// Kernel counters as JSON.
pub fn capture_json(c: &CaptureStats) -> Value {
    json!({
        "kernel_received": c.received(),
        "kernel_dropped": c.dropped(),
        "interfaces": c.interfaces.iter().map(|i| json!({
            "name": i.name,
            "link_type": i.link_type,
            "received": i.received,
            "dropped": i.dropped,
            "state": i.state,
        })).collect::<Vec<_>>(),
    })
}

/// The name `--view` and the report give a view.
pub fn view_name(v: View) -> &'static str {
    match v {
        View::Pair => "pair",
        View::Port => "port",
        View::Src => "src",
        View::Dst => "dst",
        View::Fields { .. } => "fields",
        View::Process => "process",
    }
}

/// One direction of an entry.
pub fn dir_json(d: &DirView) -> Value {
    json!({
        "packets": d.counters.packets,
        "bytes": d.bytes,
        "ip_bytes": d.counters.ip_bytes,
        "frame_bytes": d.counters.frame_bytes,
        "tcp_flags": tcp_flags::letters(d.counters.tcp_flags),
        "rate_2s_bytes_per_s": d.rates[0],
        "rate_10s_bytes_per_s": d.rates[1],
        "rate_40s_bytes_per_s": d.rates[2],
        "peak_40s_bytes_per_s": d.peak,
    })
}

/// One entry (`owner`: the process owning it, when known).
pub fn entry_json(e: &Entry, owner: Option<&Owner>) -> Value {
    let mut v = entry_fields(e, owner);
    if let (Some(t), Some(o)) = (&e.tcp, v.as_object_mut()) {
        o.insert("tcp".into(), entry_tcp_json(t));
    }
    v
}

/// An entry's `--tcp` object: per direction as `[src_to_dst, dst_to_src]`,
/// RTTs in milliseconds.
fn entry_tcp_json(t: &wirewatch_flow::EntryTcp) -> Value {
    let ms = |ns: u64| ns as f64 / 1e6;
    json!({
        "connections": t.connections,
        "retransmissions": t.retransmissions,
        "out_of_order": t.out_of_order,
        "duplicate_acks": t.duplicate_acks,
        "zero_window": t.zero_window,
        "rtt_ms": t.rtt_nanos().map(|srtt| json!({
            "min": ms(t.rtt_min_nanos),
            "smoothed": ms(srtt),
            "max": ms(t.rtt_max_nanos),
            "samples": t.rtt_samples(),
        })),
        "handshake_ms": t.handshake_nanos.map(ms),
    })
}

/// The fields every entry has.
fn entry_fields(e: &Entry, owner: Option<&Owner>) -> Value {
    json!({
        "process": owner.map_or(Value::Null, crate::procs::owner_json),
        "more_processes": e.mixed_owners,
        "family": e.key.family(),
        "src": e.key.src.map(|a| a.to_string()),
        "dst": e.key.dst.map(|a| a.to_string()),
        "src_port": e.key.src_port,
        "dst_port": e.key.dst_port,
        "protocol": e.key.protocol.map(|p| proto::name(p).into_owned()),
        "flows": e.flows,
        "first_seen": e.first_seen.as_secs_f64(),
        "last_seen": e.last_seen.as_secs_f64(),
        "src_to_dst": dir_json(&e.sent),
        "dst_to_src": dir_json(&e.recv),
    })
}

/// The `--tcp` summary object: counts, and handshake RTT quantiles in
/// milliseconds (`null` without handshakes).
pub fn tcp_json(t: &wirewatch_flow::TcpTotals) -> Value {
    let ms = |v: Option<u64>| v.map(|ns| ns as f64 / 1e6);
    json!({
        "connections": t.connections,
        "unanalysed": t.unanalysed,
        "segments": t.packets,
        "retransmissions": t.retransmissions,
        "retransmitted_bytes": t.retransmitted_bytes,
        "fast_retransmissions": t.fast_retransmissions,
        "out_of_order": t.out_of_order,
        "duplicate_acks": t.duplicate_acks,
        "zero_window": t.zero_window,
        "zero_window_events": t.zero_window_events,
        "zero_window_s": t.zero_window_nanos as f64 / 1e9,
        "keep_alives": t.keep_alives,
        "resets": t.resets,
        "acked_unseen_bytes": t.acked_unseen_bytes,
        "handshakes": t.handshake_rtt.count(),
        "handshake_rtt_ms": {
            "p50": ms(t.handshake_rtt.quantile(0.5)),
            "p95": ms(t.handshake_rtt.quantile(0.95)),
            "server_p50": ms(t.server_rtt.quantile(0.5)),
            "client_p50": ms(t.client_rtt.quantile(0.5)),
        },
    })
}

/// The flow table's counters (without the end-of-run facts).
pub fn stats_json(st: &Stats) -> Value {
    let mut errors = serde_json::Map::new();
    for (e, n) in st.decode_errors_by_reason() {
        errors.insert(e.as_str().into(), n.into());
    }
    let mut unknown = serde_json::Map::new();
    for (lt, n) in &st.unknown_link_types {
        unknown.insert(lt.to_string(), (*n).into());
    }
    json!({
        "packets": st.packets,
        "frame_bytes": st.frame_bytes,
        "ip_packets": st.ip_packets,
        "ip_bytes": st.ip_bytes,
        "non_ip_packets": st.non_ip_packets,
        "truncated_packets": st.truncated_packets,
        "orphan_fragments": st.orphan_fragments,
        "expired_flows": st.expired_flows,
        "evicted_flows": st.evicted_flows,
        "untracked_fragments": st.untracked_fragments,
        "excluded": st.excluded,
        "decode_errors": errors,
        "unknown_link_types": unknown,
        "first_ts": st.first_ts.map(|t| t.as_secs_f64()),
        "last_ts": st.last_ts.map(|t| t.as_secs_f64()),
        "span_s": match (st.first_ts, st.last_ts) {
            (Some(a), Some(b)) => Some(b.nanos_since(a) as f64 / 1e9),
            _ => None,
        },
    })
}

/// A report's head: everything but its entries (`kind`: "interval" or
/// "final"; `start`/`end`: an interval's bounds, seconds).
pub fn head_json(
    snap: &Snapshot,
    kind: &str,
    start: Option<f64>,
    end: Option<f64>,
    capture: Option<&CaptureStats>,
) -> Value {
    let t = snap.totals;
    json!({
        "type": kind,
        "start": start,
        "end": end,
        "at": snap.at.as_secs_f64(),
        "view": view_name(snap.view),
        "bytes": match snap.byte_mode { ByteMode::Ip => "ip", ByteMode::Frame => "frame" },
        "history_len_s": snap.history_len * 2,
        "window_s": snap.window_secs,
        "totals": {
            "sent_rates_bytes_per_s": t.rates[0],
            "received_rates_bytes_per_s": t.rates[1],
            "total_rates_bytes_per_s": t.rates[2],
            "peak_bytes_per_s": t.peak,
            "cumulative_bytes": t.cumulative,
        },
        "stats": stats_json(&snap.stats),
        "capture": capture.map(capture_json),
        "other": snap.other.as_ref().map(|o| json!({
            "flows": o.flows,
            "src_to_dst": dir_json(&o.entry.sent),
            "dst_to_src": dir_json(&o.entry.recv),
        })),
    })
}

/// One DNS figure set (`--tcp`): counts, answers by response code, the
/// NXDOMAIN and SERVFAIL shares of the answers, and response times in
/// milliseconds (`null` without answers).
pub fn dns_stats_json(s: &wirewatch_flow::DnsStats) -> Value {
    use wirewatch_flow::dns::{OTHER_RCODE, RCODES};
    let ms = |v: Option<u64>| v.map(|ns| ns as f64 / 1e6);
    let mut rcodes = serde_json::Map::new();
    let names = RCODES.iter().map(|r| r.1).chain([OTHER_RCODE]);
    for (name, n) in names.zip(s.rcodes) {
        rcodes.insert(name.into(), n.into());
    }
    json!({
        "queries": s.queries,
        "retransmissions": s.retransmissions,
        "answered": s.answered,
        "timeouts": s.timeouts,
        "rcodes": rcodes,
        "nxdomain_rate": s.rate(3),
        "servfail_rate": s.rate(2),
        "response_ms": {
            "p50": ms(s.response_quantile(0.5)),
            "p95": ms(s.response_quantile(0.95)),
            "min": ms((s.answered > 0).then_some(s.min_nanos)),
            "max": ms((s.answered > 0).then_some(s.max_nanos)),
        },
    })
}

/// One side of the DNS summary: its addresses' figures (the first
/// `limit`, most queries first) and the rest summed as `other`.
fn dns_side_json(side: &wirewatch_flow::DnsSide, limit: usize) -> Value {
    let mut other = side.other.clone();
    let mut hosts = Vec::new();
    for (i, (a, s)) in side.hosts.iter().enumerate() {
        if i < limit {
            let mut v = dns_stats_json(s);
            v["address"] = a.to_string().into();
            hosts.push(v);
        } else {
            other.merge(s);
        }
    }
    json!({
        "hosts": hosts,
        "other": dns_stats_json(&other),
        "other_hosts": side.hosts.len().saturating_sub(limit),
    })
}

/// The `--tcp` summary's `dns` object: every transaction, then per client
/// and per server (the `limit` busiest of each; the others summed).
pub fn dns_json(t: &wirewatch_flow::DnsTotals, limit: usize) -> Value {
    json!({
        "all": dns_stats_json(&t.all),
        "unmatched_responses": t.unmatched_responses,
        "untimed_queries": t.untimed_queries,
        "pending": t.pending,
        "timeout_s": wirewatch_flow::dns::DNS_TIMEOUT_NANOS as f64 / 1e9,
        "clients": dns_side_json(&t.clients, limit),
        "servers": dns_side_json(&t.servers, limit),
    })
}
