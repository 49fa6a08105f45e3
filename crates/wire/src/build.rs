//! Packet construction, the inverse of decoding.
//!
//! Used by tests across the workspace to build captures with known content,
//! and by the synthetic-capture generator for benchmarks. Checksums are left
//! zero: nothing in wirewatch validates them.

use std::net::IpAddr;

/// Ethernet II frame with fixed MAC addresses.
pub fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    eth_macs([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], ethertype, payload)
}

/// Ethernet II frame with the given destination and source MAC.
pub fn eth_macs(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An 802.1Q tag (TCI = VLAN id) followed by `ethertype` and `payload`;
/// put it after an Ethernet header whose type is 0x8100 or 0x88A8.
pub fn vlan(id: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(4 + payload.len());
    f.extend_from_slice(&(id & 0x0FFF).to_be_bytes());
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Linux cooked (SLL v1) header, outgoing packet.
pub fn sll(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    f.extend_from_slice(&protocol.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Linux cooked v2 (SLL2) header.
pub fn sll2(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = protocol.to_be_bytes().to_vec();
    f.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// IPv4 or IPv6 packet, by the family of `src` (`dst` must match).
pub fn ip(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    match src {
        IpAddr::V4(_) => ipv4(src, dst, protocol, payload),
        IpAddr::V6(_) => ipv6(src, dst, protocol, payload),
    }
}

/// Ethertype for an address family.
pub fn ethertype_for(a: IpAddr) -> u16 {
    if a.is_ipv4() {
        0x0800
    } else {
        0x86DD
    }
}

/// IPv4 packet without options.
pub fn ipv4(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_full(src, dst, protocol, &[], 0, 0, payload)
}

/// IPv4 packet with options (padded to a multiple of 4 bytes).
pub fn ipv4_opts(
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    ipv4_full(src, dst, protocol, options, 0, 0, payload)
}

/// IPv4 fragment: `offset` in bytes (multiple of 8), `more` = MF flag.
pub fn ipv4_frag(
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    id: u16,
    offset: u16,
    more: bool,
    payload: &[u8],
) -> Vec<u8> {
    let frag = (offset / 8) | if more { 0x2000 } else { 0 };
    ipv4_full(src, dst, protocol, &[], id, frag, payload)
}

fn ipv4_full(
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    options: &[u8],
    id: u16,
    frag: u16,
    payload: &[u8],
) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) else {
        panic!("ipv4 needs IPv4 addresses");
    };
    let olen = options.len().div_ceil(4) * 4;
    let hlen = 20 + olen;
    let total = (hlen + payload.len()) as u16;
    let mut p = Vec::with_capacity(total as usize);
    p.push(0x40 | (hlen / 4) as u8);
    p.push(0);
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, protocol, 0, 0]);
    p.extend_from_slice(&s.octets());
    p.extend_from_slice(&d.octets());
    p.extend_from_slice(options);
    p.resize(hlen, 0);
    p.extend_from_slice(payload);
    p
}

/// IPv6 packet without extension headers.
pub fn ipv6(src: IpAddr, dst: IpAddr, next: u8, payload: &[u8]) -> Vec<u8> {
    ipv6_ext(src, dst, &[], next, payload)
}

/// IPv6 packet with extension headers given as `(header type, total length in bytes)`,
/// the length a multiple of 8; the last one's next header is `next`.
pub fn ipv6_ext(
    src: IpAddr,
    dst: IpAddr,
    exts: &[(u8, usize)],
    next: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, &(_, len)) in exts.iter().enumerate() {
        let nh = exts.get(i + 1).map_or(next, |e| e.0);
        let mut h = vec![0u8; len.max(8)];
        h[0] = nh;
        h[1] = (len.max(8) / 8 - 1) as u8;
        body.extend_from_slice(&h);
    }
    body.extend_from_slice(payload);
    let first = exts.first().map_or(next, |e| e.0);
    ipv6_raw(src, dst, first, &body)
}

/// IPv6 packet with a fragment header.
pub fn ipv6_frag(
    src: IpAddr,
    dst: IpAddr,
    next: u8,
    id: u32,
    offset: u16,
    more: bool,
    payload: &[u8],
) -> Vec<u8> {
    let mut body = vec![next, 0];
    body.extend_from_slice(&((offset / 8) << 3 | more as u16).to_be_bytes());
    body.extend_from_slice(&id.to_be_bytes());
    body.extend_from_slice(payload);
    ipv6_raw(src, dst, 44, &body)
}

fn ipv6_raw(src: IpAddr, dst: IpAddr, next: u8, body: &[u8]) -> Vec<u8> {
    let (IpAddr::V6(s), IpAddr::V6(d)) = (src, dst) else {
        panic!("ipv6 needs IPv6 addresses");
    };
    let mut p = Vec::with_capacity(40 + body.len());
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&(body.len() as u16).to_be_bytes());
    p.push(next);
    p.push(64);
    p.extend_from_slice(&s.octets());
    p.extend_from_slice(&d.octets());
    p.extend_from_slice(body);
    p
}

/// TCP segment with a 20-byte header.
pub fn tcp(sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(20 + payload.len());
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
    p.extend_from_slice(payload);
    p
}

/// UDP datagram.
pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + payload.len());
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

/// SCTP common header (verification tag and checksum zero) then `payload`.
pub fn sctp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len());
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(payload);
    p
}

/// ICMP or ICMPv6 message header (type, code) then `payload`.
pub fn icmp(kind: u8, code: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![kind, code, 0, 0, 0, 1, 0, 1];
    p.extend_from_slice(payload);
    p
}

/// GRE header (no options) carrying `protocol`.
pub fn gre(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0, 0];
    p.extend_from_slice(&protocol.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// VXLAN header with the given network identifier, then the inner Ethernet frame.
pub fn vxlan(vni: u32, inner: &[u8]) -> Vec<u8> {
    let mut p = vec![0x08, 0, 0, 0];
    p.extend_from_slice(&(vni << 8).to_be_bytes());
    p.extend_from_slice(inner);
    p
}

/// Ethernet frame of a UDP datagram from `src`:`sport` to `dst`:`dport`,
/// over IPv4 or IPv6 by the addresses' family.
pub fn udp_frame(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, payload: &[u8]) -> Vec<u8> {
    eth(
        ethertype_for(src),
        &ip(src, dst, 17, &udp(sport, dport, payload)),
    )
}

/// Ethernet frame of a TCP segment from `src`:`sport` to `dst`:`dport` with
/// `flags`, over IPv4 or IPv6 by the addresses' family.
pub fn tcp_frame(
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    eth(
        ethertype_for(src),
        &ip(src, dst, 6, &tcp(sport, dport, flags, payload)),
    )
}
