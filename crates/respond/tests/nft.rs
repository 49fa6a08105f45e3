//! The nftables backend against the real `nft` and kernel, each test in
//! network namespaces of its own (never the host's ruleset): the table's
//! shape, traffic really dropped and let through again, expiry, CIDR and
//! IPv6 blocks, the allow list, re-opening, the cap, the kill switch, a
//! router's forward chain, and a missing `nft`.
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables); without them each test
//! says why it skips.

mod nft_netns;

use std::time::Duration;

use nft_netns::{address, can_run, ip, link, Ns, Pair, HOST4, HOST6, PEER4, PEER6};
use serde_json::Value;
use wirewatch_respond::nft::{Element, Nft, NftConfig, NftError};
use wirewatch_respond::{IpNet, Target};

fn source(s: &str) -> Target {
    Target::Source(s.parse::<IpNet>().expect("a network"))
}

fn to(addr: &str, port: Option<u16>) -> Target {
    Target::Destination {
        addr: ip(addr),
        port,
    }
}

const HOUR: Duration = Duration::from_secs(3600);

fn targets(list: &[Element]) -> Vec<Target> {
    let mut t: Vec<_> = list.iter().map(|e| e.target.clone()).collect();
    t.sort();
    t
}

/// The objects of kind `what` (`set`, `chain`) in the JSON listing of the
/// host's table.
fn listed(ns: &Ns, what: &str) -> Vec<Value> {
    let out = ns.nft(&["-j", "list", "table", "inet", "wirewatch"]);
    let doc: Value = serde_json::from_str(&out).expect("nft's JSON");
    doc["nftables"]
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|o| o.get(what).cloned())
        .collect()
}

fn find<'a>(objs: &'a [Value], name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no {name} among {objs:#?}"))
}

fn flags(set: &Value) -> Vec<String> {
    let mut f: Vec<String> = set["flags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    f.sort();
    f
}

#[test]
fn the_table_has_its_sets_and_chains_and_reopening_restores_its_shape() {
    wirewatch_testkit::require!(can_run());
    let pair = Pair::new();
    let cfg = NftConfig {
        forward: true,
        ..NftConfig::default()
    };
    let nft = wirewatch_testkit::require!(pair.open(cfg));
    let sets = listed(&pair.host, "set");
    for (name, ty, fl) in [
        ("block_v4", "\"ipv4_addr\"", vec!["interval", "timeout"]),
        ("block_v6", "\"ipv6_addr\"", vec!["interval", "timeout"]),
        ("allow_v4", "\"ipv4_addr\"", vec!["interval"]),
        ("allow_v6", "\"ipv6_addr\"", vec!["interval"]),
        ("dst_v4", "\"ipv4_addr\"", vec!["timeout"]),
        ("dst_v6", "\"ipv6_addr\"", vec!["timeout"]),
        (
            "dstport_v4",
            "[\"ipv4_addr\",\"inet_service\"]",
            vec!["timeout"],
        ),
        (
            "dstport_v6",
            "[\"ipv6_addr\",\"inet_service\"]",
            vec!["timeout"],
        ),
    ] {
        let s = find(&sets, name);
        assert_eq!(s["type"].to_string(), ty, "{name}");
        assert_eq!(flags(s), fl, "{name}");
    }
    let chains = listed(&pair.host, "chain");
    for name in ["input", "output", "forward"] {
        let c = find(&chains, name);
        assert_eq!(c["hook"], name);
        assert_eq!(c["prio"], -10, "{name}");
        assert_eq!(c["type"], "filter");
        assert_eq!(c["policy"], "accept");
    }
    // The allow rules come first in every chain.
    let text = pair
        .host
        .nft(&["list", "chain", "inet", "wirewatch", "input"]);
    let allow = text.find("@allow_v4").expect("an allow rule");
    let block = text.find("@block_v4").expect("a block rule");
    assert!(allow < block, "{text}");
    drop(nft);

    // Someone broke the table: a set without its flags, an extra chain.
    pair.host.nft(&["delete", "table", "inet", "wirewatch"]);
    pair.host.nft(&["add", "table", "inet", "wirewatch"]);
    pair.host.nft(&[
        "add",
        "set",
        "inet",
        "wirewatch",
        "block_v4",
        "{ type ipv4_addr; }",
    ]);
    pair.host
        .nft(&["add", "chain", "inet", "wirewatch", "stray"]);
    let nft = wirewatch_testkit::require!(pair.open(NftConfig::default()));
    let sets = listed(&pair.host, "set");
    assert_eq!(flags(find(&sets, "block_v4")), ["interval", "timeout"]);
    let chains: Vec<String> = listed(&pair.host, "chain")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(chains, ["input", "output"], "forward is off now");
    nft.remove().expect("remove");
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &pair.host.0, "nft", "list", "tables"])
        .output()
        .expect("nft");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
}

#[test]
fn a_source_block_drops_its_traffic_until_unblocked() {
    wirewatch_testkit::require!(can_run());
    let pair = Pair::new();
    let mut nft = wirewatch_testkit::require!(pair.open(NftConfig::default()));
    let listener = pair.host.listen(ip(HOST4));
    let there = listener.local_addr().expect("bound");
    assert!(pair.peer.connects(there), "before the block");
    assert_eq!(nft.counters().expect("counters").source_packets, 0);

    nft.block(&[(source(PEER4), HOUR)]).expect("block");
    assert!(!pair.peer.connects(there), "while blocked");
    let c = nft.counters().expect("counters");
    assert!(c.source_packets >= 1 && c.source_bytes >= 40, "{c:?}");
    assert_eq!(c.destination_packets, 0);
    let list = nft.list().expect("list");
    assert_eq!(targets(&list), [source(PEER4)]);
    let left = list[0].expires.expect("a timeout");
    assert!(
        left <= HOUR && left > HOUR - Duration::from_secs(60),
        "{left:?}"
    );

    assert!(nft.unblock(&source(PEER4)).expect("unblock"));
    assert!(pair.peer.connects(there), "after the unblock");
    assert!(!nft.unblock(&source(PEER4)).expect("unblock again"));
    assert!(nft.list().expect("list").is_empty());
}

#[test]
fn destination_blocks_drop_outbound_traffic_with_and_without_a_port() {
    wirewatch_testkit::require!(can_run());
    let pair = Pair::new();
    let mut nft = wirewatch_testkit::require!(pair.open(NftConfig::default()));
    let (la, lb) = (pair.peer.listen(ip(PEER4)), pair.peer.listen(ip(PEER4)));
    let (a, b) = (
        la.local_addr().expect("bound"),
        lb.local_addr().expect("bound"),
    );
    let udp = pair.peer.udp(ip(PEER4));
    let udp_port = udp.local_addr().expect("bound").port();
    assert!(pair.host.connects(a) && pair.host.connects(b));
    assert!(pair.host.datagram_arrives(&udp));

    // Only TCP port a and UDP port udp_port.
    nft.block(&[
        (to(PEER4, Some(a.port())), HOUR),
        (to(PEER4, Some(udp_port)), HOUR),
    ])
    .expect("block");
    assert!(!pair.host.connects(a), "port {} is blocked", a.port());
    assert!(pair.host.connects(b), "port {} is not", b.port());
    assert!(!pair.host.datagram_arrives(&udp), "UDP to a blocked port");
    // Incoming traffic from that address is not affected.
    let mine = pair.host.listen(ip(HOST4));
    assert!(pair.peer.connects(mine.local_addr().expect("bound")));
    let c = nft.counters().expect("counters");
    assert!(c.destination_packets >= 2, "{c:?}");
    assert_eq!(c.source_packets, 0);

    // The whole address.
    nft.block(&[(to(PEER4, None), HOUR)]).expect("block");
    assert!(!pair.host.connects(b));
    assert_eq!(
        targets(&nft.list().expect("list")),
        [
            to(PEER4, None),
            to(PEER4, Some(a.port().min(udp_port))),
            to(PEER4, Some(a.port().max(udp_port))),
        ]
    );
    assert!(nft.unblock(&to(PEER4, None)).expect("unblock"));
    assert!(pair.host.connects(b));
}

/// Polls `done` every 100 ms for up to `secs` seconds.
fn eventually(secs: u64, mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..secs * 10 {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    done()
}

#[test]
fn an_element_expires_after_its_timeout() {
    wirewatch_testkit::require!(can_run());
    let pair = Pair::new();
    let mut nft = wirewatch_testkit::require!(pair.open(NftConfig::default()));
    let listener = pair.host.listen(ip(HOST4));
    let there = listener.local_addr().expect("bound");
    nft.block(&[(source(PEER4), Duration::from_secs(2))])
        .expect("block");
    let list = nft.list().expect("list");
    assert_eq!(targets(&list), [source(PEER4)]);
    assert!(list[0].expires <= Some(Duration::from_secs(2)));
    assert!(!pair.peer.connects(there), "blocked at first");
    assert!(
        eventually(6, || nft.list().expect("list").is_empty()),
        "the kernel removed it"
    );
    assert!(pair.peer.connects(there), "let through after expiry");
}

#[test]
fn a_cidr_source_block_drops_the_whole_network_and_refuses_overlaps() {
    wirewatch_testkit::require!(can_run());
    let pair = Pair::new();
    let mut nft = wirewatch_testkit::require!(pair.open(NftConfig::default()));
    let listener = pair.host.listen(ip(HOST4));
    let there = listener.local_addr().expect("bound");
    nft.block(&[(source("10.77.0.0/24"), HOUR)]).expect("block");
    assert!(!pair.peer.connects(there));
    assert_eq!(
        targets(&nft.list().expect("list")),
        [source("10.77.0.0/24")]
    );

    let inside = nft.block(&[(source(PEER4), HOUR)]).unwrap_err();
    assert_eq!(
        inside,
        NftError::Overlap {
            target: source(PEER4),
            existing: source("10.77.0.0/24")
        }
    );
    let covering = nft.block(&[(source("10.0.0.0/8"), HOUR)]).unwrap_err();
    assert!(matches!(covering, NftError::Overlap { .. }), "{covering}");
    // Blocking the same network again is a refresh, not an overlap.
    nft.block(&[(source("10.77.0.0/24"), HOUR)]).expect("again");
    assert_eq!(nft.list().expect("list").len(), 1);
    assert!(nft.unblock(&source("10.77.0.0/24")).expect("unblock"));
    assert!(pair.peer.connects(there));
}

#[test]
fn an_ipv6_source_block_drops_its_traffic() {
    wirewatch_testkit::require!(can_run());
    let pair = Pair::new();
    let mut nft = wirewatch_testkit::require!(pair.open(NftConfig::default()));
    let (l6, l4) = (pair.host.listen(ip(HOST6)), pair.host.listen(ip(HOST4)));
    let (there, v4) = (
        l6.local_addr().expect("bound"),
        l4.local_addr().expect("bound"),
    );
    assert!(pair.peer.connects(there));
    nft.block(&[(source("fd77::2"), HOUR)]).expect("block");
    assert!(!pair.peer.connects(there), "IPv6 blocked");
    assert!(pair.peer.connects(v4), "IPv4 not");
    assert_eq!(targets(&nft.list().expect("list")), [source(PEER6)]);
    assert!(nft.counters().expect("counters").source_packets >= 1);
}

#[test]
fn the_allow_list_beats_a_block() {
    wirewatch_testkit::require!(can_run());
    let pair = Pair::new();
    let cfg = NftConfig {
        allow: vec!["10.77.0.2/32".parse().expect("net")],
        ..NftConfig::default()
    };
    let mut nft = wirewatch_testkit::require!(pair.open(cfg));
    let listener = pair.host.listen(ip(HOST4));
    let there = listener.local_addr().expect("bound");
    let l6 = pair.host.listen(ip(HOST6));
    let v6 = l6.local_addr().expect("bound");
    nft.block(&[(source("10.77.0.0/24"), HOUR), (source("fd77::/64"), HOUR)])
        .expect("block");
    assert!(pair.peer.connects(there), "allowed despite the /24 block");
    assert!(!pair.peer.connects(v6), "its IPv6 address is not allowed");
    let c = nft.counters().expect("counters");
    assert!(c.source_packets >= 1, "the IPv6 drops: {c:?}");
    let allow = pair
        .host
        .nft(&["list", "set", "inet", "wirewatch", "allow_v4"]);
    assert!(allow.contains("10.77.0.2"), "{allow}");
}

#[test]
fn reopening_keeps_blocks_with_their_remaining_time_and_reloads_the_allow_list() {
    wirewatch_testkit::require!(can_run());
    let pair = Pair::new();
    let cfg = NftConfig {
        allow: vec!["192.0.2.0/24".parse().expect("net")],
        ..NftConfig::default()
    };
    let mut nft = wirewatch_testkit::require!(pair.open(cfg));
    nft.block(&[
        (source(PEER4), Duration::from_secs(100)),
        (to("192.0.2.80", Some(80)), HOUR),
    ])
    .expect("block");
    drop(nft);

    let cfg = NftConfig {
        allow: vec!["198.51.100.0/24".parse().expect("net")],
        ..NftConfig::default()
    };
    let mut nft = wirewatch_testkit::require!(pair.open(cfg));
    let list = nft.list().expect("list");
    assert_eq!(targets(&list), [source(PEER4), to("192.0.2.80", Some(80))]);
    let left = list
        .iter()
        .find(|e| e.target == source(PEER4))
        .and_then(|e| e.expires)
        .expect("a timeout");
    assert!(
        left <= Duration::from_secs(100) && left >= Duration::from_secs(90),
        "{left:?}"
    );
    let listener = pair.host.listen(ip(HOST4));
    let there = listener.local_addr().expect("bound");
    assert!(
        !pair.peer.connects(there),
        "still blocked after the re-open"
    );
    let allow = pair
        .host
        .nft(&["list", "set", "inet", "wirewatch", "allow_v4"]);
    assert!(
        allow.contains("198.51.100.0/24") && !allow.contains("192.0.2.0"),
        "{allow}"
    );
}

#[test]
fn blocking_again_extends_the_timeout_and_never_shortens_it() {
    wirewatch_testkit::require!(can_run());
    let pair = Pair::new();
    let mut nft = wirewatch_testkit::require!(pair.open(NftConfig::default()));
    let expires = |nft: &mut Nft| nft.list().expect("list")[0].expires.expect("timeout");
    nft.block(&[(to(PEER4, None), Duration::from_secs(10))])
        .expect("block");
    assert!(expires(&mut nft) <= Duration::from_secs(10));
    nft.block(&[(to(PEER4, None), Duration::from_secs(500))])
        .expect("extend");
    let left = expires(&mut nft);
    assert!(left > Duration::from_secs(490), "extended: {left:?}");
    nft.block(&[(to(PEER4, None), Duration::from_secs(5))])
        .expect("shorter");
    let left = expires(&mut nft);
    assert!(left > Duration::from_secs(490), "not shortened: {left:?}");
    assert_eq!(nft.list().expect("list").len(), 1);
}

#[test]
fn the_cap_refuses_and_leaves_the_sets_unchanged() {
    wirewatch_testkit::require!(can_run());
    let pair = Pair::new();
    let cfg = NftConfig {
        max_elements: 3,
        ..NftConfig::default()
    };
    let mut nft = wirewatch_testkit::require!(pair.open(cfg));
    let first = [
        (source("192.0.2.1"), HOUR),
        (source("2001:db8::1"), HOUR),
        (to("198.51.100.1", Some(443)), HOUR),
    ];
    nft.block(&first).expect("up to the cap");
    let before = targets(&nft.list().expect("list"));
    let err = nft
        .block(&[
            (source("192.0.2.9"), HOUR),
            (to("198.51.100.2", None), HOUR),
        ])
        .unwrap_err();
    assert_eq!(err, NftError::Cap { max: 3 });
    assert_eq!(
        err.to_string(),
        "refused: the block sets would exceed their cap of 3 elements"
    );
    assert_eq!(targets(&nft.list().expect("list")), before);
    // Refreshing what is there adds nothing: not refused.
    nft.block(&first).expect("a refresh at the cap");
}

#[test]
fn flush_empties_the_block_sets_and_counts_what_it_removed() {
    wirewatch_testkit::require!(can_run());
    let pair = Pair::new();
    let cfg = NftConfig {
        allow: vec!["192.0.2.0/24".parse().expect("net")],
        ..NftConfig::default()
    };
    let mut nft = wirewatch_testkit::require!(pair.open(cfg));
    nft.block(&[
        (source("198.51.100.0/24"), HOUR),
        (source("2001:db8::/32"), HOUR),
        (to("203.0.113.5", None), HOUR),
        (to("2001:db8::5", Some(53)), HOUR),
    ])
    .expect("block");
    assert_eq!(nft.flush().expect("flush"), 4);
    assert!(nft.list().expect("list").is_empty());
    assert_eq!(nft.flush().expect("again"), 0);
    let allow = pair
        .host
        .nft(&["list", "set", "inet", "wirewatch", "allow_v4"]);
    assert!(
        allow.contains("192.0.2.0/24"),
        "the allow list stays: {allow}"
    );
}

/// A router namespace between a client and a server: with `forward`,
/// blocks apply to traffic routed through it (containers behind a bridge,
/// hosts behind a gateway), in both directions.
#[test]
fn the_forward_chain_blocks_routed_traffic() {
    wirewatch_testkit::require!(can_run());
    let pair = Pair::new(); // host = the router, peer = the client
    let server = Ns(format!("{}s", pair.host.0));
    nft_netns::sh(&["ip", "netns", "add", &server.0]);
    link(&pair.host, "r1", &server, "s0");
    address(&pair.host, "r1", "10.78.0.1", "fd78::1");
    address(&server, "s0", "10.78.0.2", "fd78::2");
    nft_netns::sh(&[
        "ip",
        "netns",
        "exec",
        &pair.host.0,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ]);
    pair.peer
        .ip(&["route", "add", "10.78.0.0/24", "via", HOST4]);
    server.ip(&["route", "add", "10.77.0.0/24", "via", "10.78.0.1"]);
    let cfg = NftConfig {
        forward: true,
        ..NftConfig::default()
    };
    let mut nft = wirewatch_testkit::require!(pair.open(cfg));
    let listener = server.listen(ip("10.78.0.2"));
    let there = listener.local_addr().expect("bound");
    assert!(pair.peer.connects(there), "routed before the block");

    nft.block(&[(source(PEER4), HOUR)]).expect("block");
    assert!(!pair.peer.connects(there), "source blocked in forward");
    let c = nft.counters().expect("counters");
    assert!(c.source_packets >= 1, "{c:?}");
    nft.flush().expect("flush");
    assert!(pair.peer.connects(there));

    nft.block(&[(to("10.78.0.2", Some(there.port())), HOUR)])
        .expect("block");
    assert!(!pair.peer.connects(there), "destination blocked in forward");
    assert!(nft.counters().expect("counters").destination_packets >= 1);
}

#[test]
fn a_missing_nft_is_a_one_line_missing_error() {
    let cfg = NftConfig {
        nft: "/nonexistent/wirewatch-test/nft".into(),
        ..NftConfig::default()
    };
    let err = Nft::open(cfg).unwrap_err();
    let NftError::Missing(m) = &err else {
        panic!("not Missing: {err:?}");
    };
    assert!(m.contains("/nonexistent/wirewatch-test/nft"), "{m}");
    let line = err.to_string();
    assert!(!line.contains('\n'), "{line}");
    assert!(
        line.starts_with("nftables unavailable: cannot run"),
        "{line}"
    );
}
