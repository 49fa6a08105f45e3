//! The DNS lines of the text summary (`--tcp`): every transaction, then
//! the busiest clients and servers.

use std::io::{self, Write};
use std::net::IpAddr;

use wirewatch_flow::dns::DNS_TIMEOUT_NANOS;
use wirewatch_flow::{DnsSide, DnsStats, DnsTotals};

/// Clients and servers listed in the text summary, each.
pub const LISTED: usize = 5;

/// A duration in milliseconds, or "-".
fn ms(ns: Option<u64>) -> String {
    ns.map_or_else(|| "-".into(), |ns| format!("{:.1} ms", ns as f64 / 1e6))
}

/// "12 queries, 11 answered (NXDOMAIN 9.1 %, SERVFAIL 0.0 %), 1 timed out;
/// response p50 1.2 ms, p95 40.3 ms, max 52.0 ms".
fn stats_line(s: &DnsStats) -> String {
    format!(
        "{} queries, {} answered (NXDOMAIN {:.1} %, SERVFAIL {:.1} %, REFUSED {:.1} %), {} timed out, \
         {} retransmitted; response p50 {}, p95 {}, max {}",
        s.queries,
        s.answered,
        s.rate(3) * 100.0,
        s.rate(2) * 100.0,
        s.rate(5) * 100.0,
        s.timeouts,
        s.retransmissions,
        ms(s.response_quantile(0.5)),
        ms(s.response_quantile(0.95)),
        ms((s.answered > 0).then_some(s.max_nanos)),
    )
}

/// One side's busiest addresses, and the rest in one line.
fn write_side(out: &mut dyn Write, name: &str, side: &DnsSide) -> io::Result<()> {
    let mut rest = side.other.clone();
    let mut listed: Vec<(IpAddr, &DnsStats)> = Vec::new();
    for (i, (a, s)) in side.hosts.iter().enumerate() {
        if i < LISTED {
            listed.push((*a, s));
        } else {
            rest.merge(s);
        }
    }
    for (a, s) in listed {
        writeln!(out, "    {name} {a}: {}", stats_line(s))?;
    }
    if rest.queries > 0 {
        writeln!(out, "    other {name}s: {}", stats_line(&rest))?;
    }
    Ok(())
}

/// The DNS block of the summary.
pub fn write_dns_text(out: &mut dyn Write, t: &DnsTotals) -> io::Result<()> {
    writeln!(out, "  DNS: {}", stats_line(&t.all))?;
    writeln!(
        out,
        "    responses without a waiting query: {}; queries not timed (too many waiting): {}; \
         still waiting at the end: {} (timeout {} s)",
        t.unmatched_responses,
        t.untimed_queries,
        t.pending,
        DNS_TIMEOUT_NANOS / 1_000_000_000
    )?;
    write_side(out, "client", &t.clients)?;
    write_side(out, "server", &t.servers)
}
