//! Parser, semantics and code-generation tests on packets built with
//! `wirewatch_wire::build`.

use std::net::IpAddr;

use wirewatch_filter::{compile, validate, CompileOptions, FilterError, Program};
use wirewatch_wire::build;

fn opts(link_type: u32) -> CompileOptions {
    CompileOptions {
        link_type,
        snaplen: 65535,
        linux_vlan_extensions: false,
    }
}

fn prog(expr: &str, lt: u32) -> Program {
    compile(expr, &opts(lt)).unwrap_or_else(|e| panic!("{expr:?} on {lt}: {e}"))
}

fn err(expr: &str, lt: u32) -> FilterError {
    match compile(expr, &opts(lt)) {
        Ok(p) => panic!("{expr:?} compiled:\n{}", p.dump()),
        Err(e) => e,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn m(expr: &str, lt: u32, pkt: &[u8]) -> bool {
    prog(expr, lt).matches(pkt, pkt.len() as u32)
}

/// Ethernet / IPv4 / TCP.
fn tcp4(src: &str, dst: &str, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    build::eth(
        0x0800,
        &build::ipv4(
            ip(src),
            ip(dst),
            6,
            &build::tcp(sport, dport, flags, b"data"),
        ),
    )
}

fn udp4(src: &str, dst: &str, sport: u16, dport: u16) -> Vec<u8> {
    build::eth(
        0x0800,
        &build::ipv4(ip(src), ip(dst), 17, &build::udp(sport, dport, b"x")),
    )
}

fn tcp6(sport: u16, dport: u16) -> Vec<u8> {
    build::eth(
        0x86dd,
        &build::ipv6(
            ip("2001:db8::1"),
            ip("fe80::2"),
            6,
            &build::tcp(sport, dport, 0x12, b""),
        ),
    )
}

#[test]
fn empty_expression_accepts_everything() {
    for e in ["", "   ", "\t\n"] {
        let p = prog(e, 1);
        assert_eq!(p.insns().len(), 1);
        assert_eq!(p.run(&[], 0), 65535);
        assert!(p.matches(b"anything", 8));
    }
    assert_eq!(Program::accept_all().run(&[1, 2, 3], 3), 262_144);
}

#[test]
fn error_messages_and_columns() {
    let e = err("port foo", 1);
    assert_eq!(
        e.to_string(),
        "column 6: expected a port number or name after 'port', found 'foo'"
    );
    let e = err("host >", 1);
    assert_eq!(e.column, 6);
    assert!(e.message.contains("found '>'"), "{e}");
    let e = err("dst host bad-len and not udp", 1);
    assert_eq!(e.column, 10);
    assert!(
        e.message
            .starts_with("host names are not resolved; use an address"),
        "{e}"
    );
    let e = err("tcp and", 1);
    assert_eq!(e.column, 8);
    assert!(e.message.contains("end of the expression"), "{e}");
    let e = err("tcp udp", 1);
    assert_eq!((e.column, e.message.contains("'udp'")), (5, true), "{e}");
    let e = err("ip[1:3] > 0", 1);
    assert!(e.message.contains("data size"), "{e}");
    let e = err("len / 0 > 1", 1);
    assert_eq!((e.column, e.message.as_str()), (5, "division by zero"));
    let e = err("port 70000", 1);
    assert!(e.message.contains("65535"), "{e}");
    let e = err("net 10.0.0.1/8", 1);
    assert!(e.message.contains("non-network bits"), "{e}");
    let e = err("host 10.0.0.0/8", 1);
    assert!(e.message.contains("networks only"), "{e}");
    let e = err("tcp $", 1);
    assert_eq!(
        (e.column, e.message.as_str()),
        (5, "unexpected character '$'")
    );
    let e = err("(tcp", 1);
    assert!(e.message.contains("')'"), "{e}");
    let e = err("vlan 5000", 1);
    assert!(e.message.contains("4095"), "{e}");
    // Columns count characters, not bytes.
    let e = err("port é", 1);
    assert_eq!(e.column, 6);
}

#[test]
fn unsupported_keywords_are_named() {
    for (expr, kw) in [
        ("gateway 10.0.0.1", "gateway"),
        ("ip6 protochain 6", "protochain"),
        ("atalk", "atalk"),
        ("decnet host 1.2", "decnet"),
        ("iso", "iso"),
        ("wlan host 00:11:22:33:44:55", "wlan"),
        ("type mgt", "type"),
        ("subtype beacon", "subtype"),
        ("ifname eth0", "ifname"),
        ("on eth0", "on"),
        ("rulenum 3", "rulenum"),
        ("mpls", "mpls"),
        ("pppoed", "pppoed"),
        ("pppoes 3", "pppoes"),
        ("geneve", "geneve"),
        ("inbound", "inbound"),
        ("tcp and mpls 5", "mpls"),
    ] {
        let e = err(expr, 1);
        assert!(
            e.message.contains(&format!("'{kw}' is not supported")),
            "{expr}: {e}"
        );
    }
    let e = err("ip broadcast", 1);
    assert!(e.message.contains("'ip broadcast' is not supported"), "{e}");
    let e = err("tcp", 105);
    assert_eq!(
        e.message,
        "link type 105 is not supported by the filter compiler"
    );
}

#[test]
fn link_type_errors() {
    for lt in [113, 276, 101, 228, 229, 0, 108] {
        assert!(err("vlan", lt).message.contains("no VLAN support"), "{lt}");
        assert!(
            err("ether broadcast", lt).message.contains("broadcast"),
            "{lt}"
        );
        assert!(
            err("ether host 00:11:22:33:44:55", lt)
                .message
                .contains("Ethernet"),
            "{lt}"
        );
    }
}

#[test]
fn constant_false_is_an_error() {
    for (expr, lt) in [
        ("arp", 101),
        ("arp", 0),
        ("ip6", 228),
        ("ip6 and tcp", 228),
        ("not ip", 228),
        ("ip", 229),
        ("tcp[13] & 2 != 0", 229),
        ("ip and ip6", 1),
        ("tcp and udp", 1),
        ("1 = 0", 1),
    ] {
        let e = err(expr, lt);
        assert_eq!(
            (e.column, e.message.as_str()),
            (1, "expression rejects all packets"),
            "{expr} on {lt}"
        );
    }
    // Constant true is fine.
    for (expr, lt) in [
        ("not arp", 101),
        ("ip or ip6", 228),
        ("ip", 228),
        ("1 = 1", 1),
    ] {
        let p = prog(expr, lt);
        assert_eq!(p.insns().len(), 1, "{expr}: {}", p.dump());
    }
}

#[test]
fn and_or_have_equal_precedence_left_to_right() {
    let u53 = udp4("10.0.0.1", "10.0.0.2", 1234, 53);
    // libpcap: (udp or tcp) and port 80, so a UDP packet to port 53 fails.
    assert!(!m("udp or tcp and port 80", 1, &u53));
    assert!(m("udp or (tcp and port 80)", 1, &u53));
    assert!(m("tcp and port 80 or udp", 1, &u53));
    // not binds tightest.
    assert!(m("not tcp and udp", 1, &u53));
    assert!(!m("not (tcp or udp)", 1, &u53));
    assert!(m("!tcp && !icmp", 1, &u53));
}

#[test]
fn qualifiers_are_inherited() {
    let a = tcp4("10.0.0.1", "10.0.0.9", 1000, 443, 0);
    let b = tcp4("10.0.0.2", "10.0.0.9", 1000, 80, 0);
    let u = udp4("10.0.0.3", "10.0.0.9", 1000, 443);
    assert!(m("host 10.0.0.5 or 10.0.0.1", 1, &a));
    assert!(m("src host 10.0.0.5 or 10.0.0.2", 1, &b));
    assert!(!m("dst host 10.0.0.5 or 10.0.0.2", 1, &b));
    assert!(m("port 80 or 443", 1, &a));
    assert!(m("port (22 or 443)", 1, &a));
    assert!(m("tcp port 80 or 443", 1, &a));
    assert!(!m("tcp port 80 or 443", 1, &u));
    assert!(m("udp port 80 or 443", 1, &u));
    assert!(m("host 10.0.0.1 and not 10.0.0.2", 1, &a));
    assert!(!m("host 10.0.0.9 and not 10.0.0.1", 1, &a));
    // After a protocol keyword there is nothing to inherit.
    assert!(compile("tcp or 80", &opts(1)).is_err());
}

#[test]
fn hosts_and_nets() {
    let p = tcp4("192.168.1.10", "10.1.2.3", 1, 2, 0);
    for (expr, want) in [
        ("host 192.168.1.10", true),
        ("src host 192.168.1.10", true),
        ("dst host 192.168.1.10", false),
        ("src or dst host 10.1.2.3", true),
        ("src and dst host 10.1.2.3", false),
        ("net 10.0.0.0/8", true),
        ("dst net 10.0.0.0/8", true),
        ("src net 10.0.0.0/8", false),
        ("net 192.168", true),
        ("net 10", true),
        ("net 11", false),
        ("net 172.16.0.0 mask 255.240.0.0", false),
        ("src net 192.168.0.0 mask 255.255.0.0", true),
        ("ip host 10.1.2.3", true),
        ("arp host 10.1.2.3", false),
        ("host 192.168", true),
        ("net 0.0.0.0/0", true),
        ("ip6", false),
    ] {
        assert_eq!(m(expr, 1, &p), want, "{expr}");
    }
    let arp = {
        let mut body = vec![0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1];
        body.extend_from_slice(&[10, 0, 0, 1]);
        body.extend_from_slice(&[0; 6]);
        body.extend_from_slice(&[10, 0, 0, 2]);
        build::eth(0x0806, &body)
    };
    assert!(m("host 10.0.0.2", 1, &arp));
    assert!(m("arp src host 10.0.0.1", 1, &arp));
    assert!(!m("ip host 10.0.0.2", 1, &arp));
    assert!(m("arp", 1, &arp));
    let v6 = tcp6(1, 2);
    for (expr, want) in [
        ("host 2001:db8::1", true),
        ("dst host 2001:db8::1", false),
        ("ip6 host fe80::2", true),
        ("net fe80::/10", true),
        ("src net fe80::/10", false),
        ("net 2001:db8::/32", true),
        ("net 2001:db9::/32", false),
    ] {
        assert_eq!(m(expr, 1, &v6), want, "{expr}");
    }
}

#[test]
fn ports_fragments_and_protocols() {
    let t = tcp4("1.1.1.1", "2.2.2.2", 40000, 80, 0);
    for (expr, want) in [
        ("port 80", true),
        ("dst port 80", true),
        ("src port 80", false),
        ("tcp port http", true),
        ("udp port 80", false),
        ("sctp port 80", false),
        ("portrange 79-81", true),
        ("portrange 81-90", false),
        ("tcp dst portrange 1-1023", true),
        ("src portrange 1-1023", false),
        ("src and dst port 80", false),
        ("tcp", true),
        ("ip proto 6", true),
        ("ip proto \\tcp", true),
        ("proto \\udp", false),
        ("ip and tcp and dst port 80", true),
        ("ether proto 0x800", true),
        ("ether proto \\ip", true),
        ("ip6 proto 6", false),
    ] {
        assert_eq!(m(expr, 1, &t), want, "{expr}");
    }
    // A later IPv4 fragment has no ports.
    let frag = build::eth(
        0x0800,
        &build::ipv4_frag(
            ip("1.1.1.1"),
            ip("2.2.2.2"),
            6,
            7,
            1480,
            false,
            &build::tcp(80, 80, 0, b""),
        ),
    );
    assert!(m("tcp", 1, &frag));
    assert!(!m("port 80", 1, &frag));
    assert!(!m("tcp[13] = 0", 1, &frag));
    let first = build::eth(
        0x0800,
        &build::ipv4_frag(
            ip("1.1.1.1"),
            ip("2.2.2.2"),
            6,
            7,
            0,
            true,
            &build::tcp(80, 80, 0, b""),
        ),
    );
    assert!(m("port 80", 1, &first));
    // IPv6: a fragment header before TCP counts for `tcp`, not for `port`.
    let f6 = build::eth(
        0x86dd,
        &build::ipv6_frag(
            ip("::1"),
            ip("::2"),
            6,
            1,
            0,
            true,
            &build::tcp(80, 80, 0, b""),
        ),
    );
    assert!(m("tcp", 1, &f6));
    assert!(m("ip6 proto 6", 1, &f6));
    assert!(!m("port 80", 1, &f6));
    assert!(!m("udp", 1, &f6));
    let v6 = tcp6(22, 5000);
    assert!(m("tcp port 22", 1, &v6));
    assert!(m("portrange 4000-6000", 1, &v6));
    // IPv4 header options move the transport header.
    let opt = build::eth(
        0x0800,
        &build::ipv4_opts(
            ip("1.1.1.1"),
            ip("2.2.2.2"),
            17,
            &[1, 1, 1, 1, 1, 1, 1, 1],
            &build::udp(53, 9, b""),
        ),
    );
    assert!(m("udp src port 53", 1, &opt));
    assert!(m("udp[0:2] = 53", 1, &opt));
}

#[test]
fn accessors_and_arithmetic() {
    let syn = tcp4("1.1.1.1", "2.2.2.2", 1, 2, 0x02);
    let synack = tcp4("1.1.1.1", "2.2.2.2", 1, 2, 0x12);
    assert!(m("tcp[tcpflags] & tcp-syn != 0", 1, &syn));
    assert!(m("tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", 1, &syn));
    assert!(!m(
        "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
        1,
        &synack
    ));
    assert!(m("tcp[13] = 0x12", 1, &synack));
    assert!(m("tcp[2:2] = 2", 1, &syn));
    assert!(m("ip[9] = 6 and ip[8] = 64", 1, &syn));
    assert!(m("ip[0] & 0xf = 5", 1, &syn));
    assert!(m("ether[12:2] = 0x0800", 1, &syn));
    assert!(m("link[0] = 2", 1, &syn));
    let len = syn.len() as u32;
    assert!(m(&format!("len = {len}"), 1, &syn));
    assert!(m(&format!("len - 4 = {}", len - 4), 1, &syn));
    assert!(m(&format!("len + 2 * 3 = {}", len + 6), 1, &syn));
    assert!(m(&format!("(len + 2) * 3 = {}", (len + 2) * 3), 1, &syn));
    assert!(m("len % 2 = 0 or len % 2 = 1", 1, &syn));
    assert!(m("len >> 1 << 1 <= len", 1, &syn));
    assert!(m("0x10 = 16 and 010 = 8", 1, &syn));
    assert!(m("- len < 0 - 1", 1, &syn));
    assert!(m(&format!("greater {len}"), 1, &syn));
    assert!(!m(&format!("greater {}", len + 1), 1, &syn));
    assert!(m(&format!("less {len}"), 1, &syn));
    assert!(!m(&format!("less {}", len - 1), 1, &syn));
    // `len` is the wire length, not the captured length.
    let p = prog("len > 1000", 1);
    assert!(p.matches(&syn, 1500));
    assert!(!p.matches(&syn, syn.len() as u32));
    let echo = build::eth(
        0x0800,
        &build::ipv4(ip("1.1.1.1"), ip("2.2.2.2"), 1, &build::icmp(8, 0, b"")),
    );
    assert!(m("icmp[icmptype] == icmp-echo", 1, &echo));
    assert!(!m("icmp[icmptype] == icmp-echoreply", 1, &echo));
    assert!(m("icmp", 1, &echo));
    let ping6 = build::eth(
        0x86dd,
        &build::ipv6(ip("::1"), ip("::2"), 58, &build::icmp(128, 0, b"")),
    );
    assert!(m("icmp6", 1, &ping6));
    assert!(m("icmp6[icmp6type] = icmp6-echo", 1, &ping6));
    assert!(m("ip6[6] = 58", 1, &ping6));
    // An accessor beyond the captured bytes rejects the packet, even under `not`.
    assert!(!m("not ip[200] = 1", 1, &syn));
}

#[test]
fn ethernet_addresses_and_multicast() {
    let bc = build::eth_macs([0xff; 6], [0, 1, 2, 3, 4, 5], 0x0806, &[0; 28]);
    assert!(m("ether broadcast", 1, &bc));
    assert!(m("broadcast", 1, &bc));
    assert!(m("ether multicast", 1, &bc));
    assert!(m("ether src 00:01:02:03:04:05", 1, &bc));
    assert!(m("ether host 0:1:2:3:4:5", 1, &bc));
    assert!(m("ether src 00-01-02-03-04-05", 1, &bc));
    assert!(m("ether src 0001.0203.0405", 1, &bc));
    assert!(!m("ether dst 00:01:02:03:04:05", 1, &bc));
    let uni = tcp4("1.1.1.1", "239.1.2.3", 1, 2, 0);
    assert!(!m("ether broadcast", 1, &uni));
    assert!(m("ip multicast", 1, &uni));
    assert!(!m(
        "ip multicast",
        1,
        &tcp4("1.1.1.1", "192.168.0.1", 1, 2, 0)
    ));
}

#[test]
fn vlan_shifts_offsets() {
    let inner = build::ipv4(
        ip("10.0.0.1"),
        ip("10.0.0.2"),
        6,
        &build::tcp(1, 80, 0, b""),
    );
    let tagged = build::eth(0x8100, &build::vlan(100, 0x0800, &inner));
    assert!(m("vlan", 1, &tagged));
    assert!(m("vlan 100", 1, &tagged));
    assert!(!m("vlan 101", 1, &tagged));
    assert!(m("vlan and tcp", 1, &tagged));
    assert!(m("vlan 100 and host 10.0.0.1 and port 80", 1, &tagged));
    // Without `vlan`, the IPv4 test looks at the outer type.
    assert!(!m("tcp", 1, &tagged));
    assert!(!m("ip", 1, &tagged));
    let qinq = build::eth(
        0x88a8,
        &build::vlan(5, 0x8100, &build::vlan(7, 0x0800, &inner)),
    );
    assert!(m("vlan 5 and vlan 7 and tcp port 80", 1, &qinq));
    assert!(!m("vlan 7", 1, &qinq));
    // Offsets move for everything after `vlan`, even across `or`.
    let plain = tcp4("10.0.0.1", "10.0.0.2", 1, 80, 0);
    assert!(m("ip or vlan", 1, &plain));
    assert!(!m("vlan or ip", 1, &plain));
}

#[test]
fn linux_vlan_extensions_use_metadata() {
    let o = CompileOptions {
        link_type: 1,
        snaplen: 0,
        linux_vlan_extensions: true,
    };
    let p = compile("vlan 100 and tcp", &o).unwrap();
    let untagged = tcp4("1.1.1.1", "2.2.2.2", 1, 2, 0);
    assert_eq!(p.run_with_meta(&untagged, 60, Some(0x2064)), 262_144);
    assert_eq!(p.run_with_meta(&untagged, 60, Some(200)), 0);
    assert_eq!(p.run_with_meta(&untagged, 60, None), 0);
    // Without metadata an ancillary load rejects.
    assert_eq!(p.run(&untagged, 60), 0);
    assert!(p.dump().contains("#vlan_avail"));
}

#[test]
fn other_link_types() {
    let v4 = build::ipv4(ip("10.0.0.1"), ip("10.0.0.2"), 17, &build::udp(5, 53, b""));
    let v6 = build::ipv6(ip("::1"), ip("::2"), 6, &build::tcp(5, 443, 0, b""));
    let cases: Vec<(u32, Vec<u8>, Vec<u8>)> = vec![
        (113, build::sll(0x0800, &v4), build::sll(0x86dd, &v6)),
        (276, build::sll2(0x0800, &v4), build::sll2(0x86dd, &v6)),
        (101, v4.clone(), v6.clone()),
        (12, v4.clone(), v6.clone()),
        (14, v4.clone(), v6.clone()),
        (
            0,
            [&2u32.to_le_bytes()[..], &v4].concat(),
            [&30u32.to_le_bytes()[..], &v6].concat(),
        ),
        (
            0,
            [&2u32.to_be_bytes()[..], &v4].concat(),
            [&24u32.to_be_bytes()[..], &v6].concat(),
        ),
        (
            108,
            [&2u32.to_be_bytes()[..], &v4].concat(),
            [&28u32.to_be_bytes()[..], &v6].concat(),
        ),
    ];
    for (lt, a, b) in &cases {
        for (expr, on_v4, on_v6) in [
            ("ip", true, false),
            ("ip6", false, true),
            ("udp port 53", true, false),
            ("tcp port 443", false, true),
            ("host 10.0.0.2", true, false),
            ("host ::1", false, true),
            ("not ip", false, true),
        ] {
            assert_eq!(m(expr, *lt, a), on_v4, "{expr} on {lt}, IPv4");
            assert_eq!(m(expr, *lt, b), on_v6, "{expr} on {lt}, IPv6");
        }
    }
    assert!(m("udp", 228, &v4));
    assert!(prog("ip", 228).insns().len() == 1);
    assert!(m("tcp", 229, &v6));
    assert!(m("arp", 113, &build::sll(0x0806, &[0; 28])));
}

#[test]
fn long_jumps_get_trampolines() {
    let expr = (1..=60)
        .map(|p| format!("port {p}"))
        .collect::<Vec<_>>()
        .join(" or ");
    let p = prog(&expr, 1);
    assert!(p.insns().len() > 300, "{} insns", p.insns().len());
    validate(p.insns()).unwrap();
    let has_ja = p.insns().iter().any(|i| i.code == 0x05);
    assert!(has_ja, "expected ja trampolines");
    for port in [1u16, 30, 60] {
        assert!(
            p.matches(&tcp4("1.1.1.1", "2.2.2.2", 9999, port, 0), 60),
            "port {port}"
        );
        assert!(
            p.matches(&udp4("1.1.1.1", "2.2.2.2", port, 9999), 60),
            "port {port}"
        );
    }
    assert!(!p.matches(&tcp4("1.1.1.1", "2.2.2.2", 9999, 61, 0), 60));
    let e = (1..=400)
        .map(|p| format!("port {p}"))
        .collect::<Vec<_>>()
        .join(" or ");
    let err = err(&e, 1);
    assert!(err.message.contains("4096"), "{err}");
}

#[test]
fn dump_lists_instructions() {
    let d = prog("tcp port 80", 1).dump();
    assert!(d.starts_with("(000) ldh      [12]\n"), "{d}");
    assert!(d.contains("ldxb     4*([14]&0xf)"), "{d}");
    assert!(d.trim_end().ends_with("ret      #0"), "{d}");
}
