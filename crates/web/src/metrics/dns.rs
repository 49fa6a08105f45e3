//! `--tcp`: the DNS transactions' families of `/metrics`.

use wirewatch_flow::dns::{OTHER_RCODE, RCODES};
use wirewatch_flow::DnsTotals;

use super::{Kind, Out};

/// Queries, answers by response code, timeouts, the waiting queries and
/// the response time's median and 95th percentile.
pub(super) fn dns(out: &mut Out, d: &DnsTotals) {
    let s = &d.all;
    let counters: [(&'static str, &str, u64); 4] = [
        (
            "wirewatch_dns_queries_total",
            "DNS queries seen (--tcp; a retransmission of a waiting query not counted again).",
            s.queries,
        ),
        (
            "wirewatch_dns_timeouts_total",
            "DNS queries unanswered after 5 s of packet time.",
            s.timeouts,
        ),
        (
            "wirewatch_dns_retransmissions_total",
            "DNS queries sent again with the same id while waiting.",
            s.retransmissions,
        ),
        (
            "wirewatch_dns_unmatched_responses_total",
            "DNS responses to no waiting query.",
            d.unmatched_responses,
        ),
    ];
    out.counters(&counters);
    let mut f = out.family(
        "wirewatch_dns_responses_total",
        Kind::Counter,
        "DNS answers matched to their query, by response code.",
    );
    let names = RCODES.iter().map(|r| r.1).chain([OTHER_RCODE]);
    for (name, n) in names.zip(s.rcodes) {
        f.sample(&[("rcode", name)], n);
    }
    out.family(
        "wirewatch_dns_pending_queries",
        Kind::Gauge,
        "DNS queries waiting for their answer.",
    )
    .sample(&[], d.pending);
    let quantiles = [
        (
            "wirewatch_dns_response_p50_seconds",
            "Median DNS response time (query to its answer, at the capture point).",
            0.5,
        ),
        (
            "wirewatch_dns_response_p95_seconds",
            "95th percentile of the DNS response time.",
            0.95,
        ),
    ];
    out.quantiles(&quantiles, |q| s.response_quantile(q));
}
