use std::net::{IpAddr, Ipv4Addr};

use super::*;

const MS: i64 = 1_000_000;

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

/// A message between client `c` (port 40000 + c's last byte) and server
/// `s` (port 53) at `ms` milliseconds.
fn msg(ms: i64, c: u32, s: u32, id: u16, response: bool, rcode: u8) -> DnsMsg {
    let client = (ip(c), 40_000 + (c % 1000) as u16);
    let server = (ip(s), 53);
    let (src, dst) = if response {
        (server, client)
    } else {
        (client, server)
    };
    DnsMsg {
        ts: Timestamp::from_nanos(ms * MS),
        src,
        dst,
        tcp: false,
        id,
        response,
        rcode,
    }
}

fn query(t: &mut DnsTracker, ms: i64, c: u32, s: u32, id: u16) {
    t.message(&msg(ms, c, s, id, false, 0));
}

fn answer(t: &mut DnsTracker, ms: i64, c: u32, s: u32, id: u16, rcode: u8) {
    t.message(&msg(ms, c, s, id, true, rcode));
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_nanos(ms * MS)
}

/// The figures once a packet at `ms` was seen.
fn totals_at(t: &mut DnsTracker, ms: i64) -> DnsTotals {
    t.advance(at(ms));
    t.totals()
}

#[test]
fn a_response_is_matched_to_its_query_and_timed() {
    let mut t = DnsTracker::new();
    query(&mut t, 1_000, 1, 100, 7);
    query(&mut t, 1_001, 2, 100, 7);
    answer(&mut t, 1_012, 2, 100, 7, 0);
    answer(&mut t, 1_040, 1, 100, 7, 3);
    let tot = totals_at(&mut t, 1_040);
    assert_eq!(tot.all.queries, 2);
    assert_eq!(tot.all.answered, 2);
    assert_eq!(tot.all.rcodes, [1, 1, 0, 0, 0]);
    assert_eq!(tot.all.max_nanos, 40 * MS as u64);
    assert_eq!(tot.unmatched_responses, 0);
    let c1 = &tot.clients.hosts.iter().find(|h| h.0 == ip(1)).unwrap().1;
    assert_eq!(c1.rcodes[1], 1);
    assert_eq!(c1.max_nanos, 40 * MS as u64);
    assert_eq!(c1.rate(3), 1.0);
    let s = &tot.servers.hosts[0];
    assert_eq!((s.0, s.1.answered), (ip(100), 2));
    assert_eq!(s.1.rate(3), 0.5);
    assert_eq!(s.1.rate(2), 0.0);
}

#[test]
fn a_response_from_the_wrong_server_port_or_id_is_not_the_answer() {
    let mut t = DnsTracker::new();
    query(&mut t, 0, 1, 100, 7);
    answer(&mut t, 5, 1, 100, 8, 0);
    answer(&mut t, 6, 1, 101, 7, 0);
    let mut other_port = msg(7, 1, 100, 7, true, 0);
    other_port.dst.1 += 1;
    t.message(&other_port);
    let mut over_tcp = msg(8, 1, 100, 7, true, 0);
    over_tcp.tcp = true;
    t.message(&over_tcp);
    let tot = totals_at(&mut t, 8);
    assert_eq!(tot.all.answered, 0);
    assert_eq!(tot.unmatched_responses, 4);
    assert_eq!(tot.pending, 1);
}

#[test]
fn rcodes_are_counted_apart_and_the_rest_as_other() {
    let mut t = DnsTracker::new();
    for (id, rcode) in [0u8, 3, 3, 2, 5, 1, 4, 9].into_iter().enumerate() {
        query(&mut t, id as i64, 1, 100, id as u16);
        answer(&mut t, id as i64 + 1, 1, 100, id as u16, rcode);
    }
    let all = totals_at(&mut t, 10).all;
    assert_eq!(all.rcodes, [1, 2, 1, 1, 3]);
    assert_eq!(all.rate(3), 0.25);
    assert_eq!(all.rate(2), 0.125);
}

#[test]
fn an_unanswered_query_times_out_after_five_seconds_of_packet_time() {
    let mut t = DnsTracker::new();
    query(&mut t, 0, 1, 100, 1);
    t.advance(at(4_999));
    assert_eq!(t.pending(), 1);
    assert_eq!(totals_at(&mut t, 4_999).all.timeouts, 0);
    // Counted in the figures before the sweep has run …
    assert_eq!(totals_at(&mut t, 5_000).all.timeouts, 1);
    assert_eq!(t.overall().all.timeouts, 1);
    assert_eq!(t.overall().pending, 0);
    assert_eq!(t.pending(), 1);
    // … and by the sweep as the clock moves.
    t.advance(at(6_500));
    assert_eq!(t.pending(), 0);
    let tot = totals_at(&mut t, 6_500);
    assert_eq!((tot.all.timeouts, tot.all.answered), (1, 0));
    assert_eq!(tot.clients.hosts[0].1.timeouts, 1);
    assert_eq!(tot.servers.hosts[0].1.timeouts, 1);
}

#[test]
fn an_answer_after_the_timeout_is_a_timeout_whenever_the_sweep_ran() {
    let mut t = DnsTracker::new();
    query(&mut t, 0, 1, 100, 1);
    // No packet between: the sweep has not run when the answer comes.
    answer(&mut t, 5_500, 1, 100, 1, 0);
    let tot = totals_at(&mut t, 5_500);
    assert_eq!((tot.all.timeouts, tot.all.answered), (1, 0));
    assert_eq!(tot.unmatched_responses, 1);
}

#[test]
fn a_retransmitted_query_is_timed_from_its_first_sending() {
    let mut t = DnsTracker::new();
    query(&mut t, 0, 1, 100, 9);
    query(&mut t, 1_000, 1, 100, 9);
    answer(&mut t, 1_010, 1, 100, 9, 0);
    let all = totals_at(&mut t, 1_010).all;
    assert_eq!((all.queries, all.retransmissions, all.answered), (1, 1, 1));
    assert_eq!(all.max_nanos, 1_010 * MS as u64);
}

#[test]
fn an_id_used_again_after_the_answer_is_a_new_transaction() {
    let mut t = DnsTracker::new();
    query(&mut t, 0, 1, 100, 9);
    answer(&mut t, 10, 1, 100, 9, 3);
    query(&mut t, 20, 1, 100, 9);
    answer(&mut t, 50, 1, 100, 9, 0);
    // A duplicate answer has no query left.
    answer(&mut t, 51, 1, 100, 9, 0);
    let tot = totals_at(&mut t, 51);
    assert_eq!((tot.all.queries, tot.all.retransmissions), (2, 0));
    assert_eq!(tot.all.rcodes, [1, 1, 0, 0, 0]);
    assert_eq!(tot.all.max_nanos, 30 * MS as u64);
    assert_eq!(tot.unmatched_responses, 1);
}

#[test]
fn waiting_queries_are_capped_and_the_rest_counted_untimed() {
    let mut t = DnsTracker::new();
    for i in 0..MAX_PENDING as u32 + 10 {
        query(&mut t, 0, 1, 100 + i / 60_000, i as u16);
    }
    assert_eq!(t.pending(), MAX_PENDING);
    let tot = totals_at(&mut t, 0);
    assert_eq!(tot.all.queries, MAX_PENDING as u64 + 10);
    assert_eq!(tot.untimed_queries, 10);
    // Once they time out there is room again.
    query(&mut t, 6_000, 1, 100, 1);
    assert_eq!(t.pending(), 1);
    assert_eq!(totals_at(&mut t, 6_000).all.timeouts, MAX_PENDING as u64);
}

#[test]
fn hosts_past_the_cap_are_summed_as_other_and_counted() {
    let mut t = DnsTracker::new();
    let n = MAX_HOSTS as u32 + 100;
    for c in 0..n {
        query(&mut t, 0, 1_000 + c, 100, 1);
        answer(&mut t, 1, 1_000 + c, 100, 1, 2);
    }
    let tot = totals_at(&mut t, 1);
    assert_eq!(tot.clients.hosts.len(), MAX_HOSTS);
    assert_eq!(tot.clients.other.queries, 100);
    assert_eq!(tot.clients.other.rcodes[2], 100);
    let summed = tot
        .clients
        .hosts
        .iter()
        .fold(tot.clients.other.clone(), |mut a, h| {
            a.merge(&h.1);
            a
        });
    assert_eq!(summed, tot.all);
    assert_eq!(tot.servers.hosts.len(), 1);
    assert_eq!(tot.servers.other, DnsStats::default());
}

#[test]
fn hosts_are_ranked_by_queries() {
    let mut t = DnsTracker::new();
    for id in 0..3 {
        query(&mut t, 0, 5, 100, id);
    }
    query(&mut t, 0, 6, 100, 0);
    for id in 0..2 {
        query(&mut t, 0, 7, 100, id);
    }
    let hosts: Vec<IpAddr> = totals_at(&mut t, 0)
        .clients
        .hosts
        .iter()
        .map(|h| h.0)
        .collect();
    assert_eq!(hosts, [ip(5), ip(7), ip(6)]);
}

#[test]
fn response_quantiles_stay_between_the_shortest_and_longest_times() {
    let mut t = DnsTracker::new();
    query(&mut t, 0, 1, 100, 1);
    answer(&mut t, 60, 1, 100, 1, 0);
    let all = totals_at(&mut t, 60).all;
    assert_eq!(all.response_quantile(0.95), Some(60 * MS as u64));
    assert!(all.response.quantile(0.95).unwrap() > 60 * MS as u64);
    query(&mut t, 100, 1, 100, 2);
    answer(&mut t, 225, 1, 100, 2, 0);
    let all = totals_at(&mut t, 225).all;
    assert_eq!(
        (all.min_nanos, all.max_nanos),
        (60 * MS as u64, 125 * MS as u64)
    );
    let low = all.response_quantile(0.0).unwrap();
    assert!((60 * MS as u64..66 * MS as u64).contains(&low), "{low}");
    // Merged figures keep the extremes of both.
    let mut m = DnsStats::default();
    m.merge(&all);
    let mut one = DnsStats::default();
    one.apply(Event::Answer {
        rcode: 0,
        nanos: 7 * MS as u64,
    });
    m.merge(&one);
    assert_eq!(
        (m.min_nanos, m.max_nanos, m.answered),
        (7 * MS as u64, 125 * MS as u64, 3)
    );
    assert_eq!(DnsStats::default().response_quantile(0.5), None);
}

#[test]
fn the_memory_figure_is_what_the_docs_say() {
    // docs/DNS.md quotes it; the budget (settings) takes it off the flows'.
    assert_eq!(
        DnsTracker::MAX_BYTES.div_ceil(1 << 20),
        4,
        "{}",
        DnsTracker::MAX_BYTES
    );
}
