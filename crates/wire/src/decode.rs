//! The frame decoder: link header → IP header(s) → transport ports.
//!
//! Hand-written rather than built on `etherparse` because accounting needs
//! things it does not decode (SLL2, MPLS, GRE, VXLAN, Teredo, GTP-U, PPP
//! variants, radiotap/802.11) and must follow Wireshark's rules for which IP
//! headers count (every header of a tunnel, none quoted inside ICMP errors).
//! The fixed headers are read through views of [`crate::field`] (named
//! field ranges, one length check per header); every other read goes through
//! bounds-checked helpers, so no input can panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::field::{
    self, Ah, Ayiya, Capwap, Chdlc, Ethernet, Geneve, Gre, Gtpu, Ipv4, Ipv6, Ipv6Frag, Nsh, Ports,
    Sll, Sll2, Tcp, Udp, Vlan,
};
use crate::{linktype as lt, proto, Timestamp};

/// Most IP headers recorded per frame; deeper nesting is a decode error.
pub const MAX_LAYERS: usize = 4;
/// Most MPLS labels or VLAN tags popped before giving up.
const MAX_TAGS: usize = 16;

/// Why a frame could not be fully decoded. `Copy` so it can index counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DecodeError {
    /// The frame is shorter than its link-layer header.
    ShortLinkHeader,
    /// A link header field has an impossible value.
    BadLinkHeader,
    /// The frame ends inside an IP header although nothing was cut by the snap length.
    ShortIpHeader,
    /// The IP version nibble is neither 4 nor 6 where an IP header was announced.
    BadIpVersion,
    /// IPv4 header length below 20 bytes.
    BadIpv4HeaderLen,
    /// IPv4 total length smaller than its header.
    BadIpv4TotalLen,
    /// An IPv6 extension header runs past the packet.
    BadIpv6ExtHeader,
    /// A transport header runs past the IP payload.
    ShortTransportHeader,
    /// TCP data offset below 5 words.
    BadTcpHeaderLen,
    /// A tunnel header (GRE, VXLAN, GTP, Teredo) runs past the packet or is invalid.
    BadTunnelHeader,
    /// More than [`MAX_LAYERS`] nested IP headers.
    TooManyLayers,
    /// More than 16 MPLS labels or VLAN tags.
    TooManyTags,
}

impl DecodeError {
    /// Every reason, for exhaustive reporting.
    pub const ALL: [DecodeError; 12] = [
        DecodeError::ShortLinkHeader,
        DecodeError::BadLinkHeader,
        DecodeError::ShortIpHeader,
        DecodeError::BadIpVersion,
        DecodeError::BadIpv4HeaderLen,
        DecodeError::BadIpv4TotalLen,
        DecodeError::BadIpv6ExtHeader,
        DecodeError::ShortTransportHeader,
        DecodeError::BadTcpHeaderLen,
        DecodeError::BadTunnelHeader,
        DecodeError::TooManyLayers,
        DecodeError::TooManyTags,
    ];

    /// Stable snake_case reason used in reports and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            DecodeError::ShortLinkHeader => "short_link_header",
            DecodeError::BadLinkHeader => "bad_link_header",
            DecodeError::ShortIpHeader => "short_ip_header",
            DecodeError::BadIpVersion => "bad_ip_version",
            DecodeError::BadIpv4HeaderLen => "bad_ipv4_header_len",
            DecodeError::BadIpv4TotalLen => "bad_ipv4_total_len",
            DecodeError::BadIpv6ExtHeader => "bad_ipv6_ext_header",
            DecodeError::ShortTransportHeader => "short_transport_header",
            DecodeError::BadTcpHeaderLen => "bad_tcp_header_len",
            DecodeError::BadTunnelHeader => "bad_tunnel_header",
            DecodeError::TooManyLayers => "too_many_layers",
            DecodeError::TooManyTags => "too_many_tags",
        }
    }

    /// Position in [`DecodeError::ALL`], for array-indexed counters.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Decoder settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct DecodeOptions {
    /// Decode inside tunnels (GRE, IP-in-IP, VXLAN, Teredo, GTP-U) and record
    /// every IP layer. Off, decoding stops after the outermost IP header's
    /// transport ports, which is all default accounting needs.
    pub descend_tunnels: bool,
}

/// Position of an IP packet within a fragmented datagram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fragment {
    /// IPv4 identification or IPv6 fragment identification.
    pub id: u32,
    /// Byte offset of this fragment's data.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
}

/// One IP header found in a frame and what follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpLayer {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Transport protocol (the last next-header for IPv6).
    pub protocol: u8,
    /// Length of the IP packet from its header (iftop's byte count).
    pub ip_len: u32,
    /// Source port, when the protocol has ports and they were captured.
    pub src_port: u16,
    /// Destination port, likewise.
    pub dst_port: u16,
    /// Whether `src_port`/`dst_port` were read from the packet.
    pub has_ports: bool,
    /// TCP flags byte, when captured.
    pub tcp_flags: u8,
    /// Fragment position, when the packet is a fragment.
    pub fragment: Option<Fragment>,
    /// Offset of the transport header (TCP, UDP, ICMP, ...) in the frame,
    /// 0 when there is none (a later fragment, an unparsed extension chain).
    /// Detectors read a few payload fields there (DNS names, ICMP types);
    /// nothing is copied.
    pub l4_offset: u32,
    /// Bytes of the transport header and payload as the IP header declares
    /// them (not as captured), capped by the frame's length on the wire: the
    /// IP length less the IP header and any extension headers walked. For a
    /// fragment, this fragment's part only.
    pub l4_len: u32,
}

impl Default for IpLayer {
    fn default() -> Self {
        IpLayer {
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            protocol: 0,
            ip_len: 0,
            src_port: 0,
            dst_port: 0,
            has_ports: false,
            tcp_flags: 0,
            fragment: None,
            l4_offset: 0,
            l4_len: 0,
        }
    }
}

impl IpLayer {
    /// True for a fragment other than the first (it carries no transport header).
    pub fn is_later_fragment(&self) -> bool {
        matches!(self.fragment, Some(f) if f.offset != 0)
    }
}

/// The IP headers of one frame, outermost first. A fixed-size array: no allocation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layers {
    items: [IpLayer; MAX_LAYERS],
    len: u8,
}

impl Layers {
    /// The layers found, outermost first.
    pub fn as_slice(&self) -> &[IpLayer] {
        &self.items[..self.len as usize]
    }

    /// Outermost IP header.
    pub fn outer(&self) -> Option<&IpLayer> {
        self.as_slice().first()
    }

    /// Innermost IP header.
    pub fn inner(&self) -> Option<&IpLayer> {
        self.as_slice().last()
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// No IP header was found.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, l: IpLayer) -> bool {
        if (self.len as usize) < MAX_LAYERS {
            self.items[self.len as usize] = l;
            self.len += 1;
            true
        } else {
            false
        }
    }

    fn last_mut(&mut self) -> Option<&mut IpLayer> {
        let n = self.len as usize;
        if n == 0 {
            None
        } else {
            Some(&mut self.items[n - 1])
        }
    }
}

/// What kind of frame this was.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Outcome {
    /// At least one IP header was decoded.
    Ip,
    /// A well-formed frame that carries no IP (ARP, STP, LLDP, ...).
    #[default]
    NonIp,
    /// The link type is not one the decoder knows.
    UnsupportedLink,
}

/// Everything the flow table needs to know about one packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketMeta {
    /// Capture timestamp.
    pub ts: Timestamp,
    /// Link type of the frame.
    pub link_type: u32,
    /// Bytes captured.
    pub cap_len: u32,
    /// Bytes on the wire (frame length).
    pub wire_len: u32,
    /// Kind of frame.
    pub outcome: Outcome,
    /// IP headers, outermost first.
    pub layers: Layers,
    /// First malformation found, if any.
    pub error: Option<DecodeError>,
    /// Some header was cut short by the snap length.
    pub truncated: bool,
}

/// Decodes one frame. Never panics; see the module docs.
pub fn decode(
    link_type: u32,
    ts: Timestamp,
    data: &[u8],
    wire_len: u32,
    opts: &DecodeOptions,
) -> PacketMeta {
    let mut meta = PacketMeta::default();
    decode_into(link_type, ts, data, wire_len, opts, &mut meta);
    meta
}

/// [`decode`] into `meta` (whatever it held before): for a caller that
/// keeps decoded packets in place, saving the copy of a returned value.
pub fn decode_into(
    link_type: u32,
    ts: Timestamp,
    data: &[u8],
    wire_len: u32,
    opts: &DecodeOptions,
    meta: &mut PacketMeta,
) {
    *meta = PacketMeta {
        ts,
        link_type,
        cap_len: data.len() as u32,
        wire_len,
        ..PacketMeta::default()
    };
    let mut d = Decoder {
        data,
        snapped: (wire_len as usize) > data.len(),
        opts: *opts,
        meta,
        depth: 0,
    };
    d.link(link_type);
    if !d.meta.layers.is_empty() {
        d.meta.outcome = Outcome::Ip;
    }
}

struct Decoder<'a, 'm> {
    data: &'a [u8],
    /// The capture cut this frame short (cap_len < wire_len).
    snapped: bool,
    opts: DecodeOptions,
    meta: &'m mut PacketMeta,
    /// Nesting depth of link/tunnel headers, to bound recursion.
    depth: u8,
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn le16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

impl<'a> Decoder<'a, '_> {
    /// Records that a header ran past the data: a truncation when the snap
    /// length cut the frame, otherwise a malformation.
    fn short(&mut self, e: DecodeError) {
        if self.snapped {
            self.meta.truncated = true;
        } else {
            self.fail(e);
        }
    }

    fn fail(&mut self, e: DecodeError) {
        if self.meta.error.is_none() {
            self.meta.error = Some(e);
        }
    }

    /// The frame up to `end` (clamped to what was captured).
    fn upto(&self, end: usize) -> &'a [u8] {
        &self.data[..end.min(self.data.len())]
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.data.get(at).copied()
    }

    fn link(&mut self, link_type: u32) {
        let d = self.data;
        match link_type {
            lt::ETHERNET => self.ethernet(0, d.len()),
            lt::RAW_12 | lt::RAW_14 | lt::RAW => self.ip_any(0, d.len()),
            // Wireshark dispatches LINKTYPE_IPV4 on the version nibble, LINKTYPE_IPV6 strictly.
            lt::IPV4 => self.ip_any(0, d.len()),
            lt::IPV6 => self.ip_v6(0, d.len()),
            lt::FDDI => self.llc(13, d.len()),
            lt::IPNET => match d.get(1) {
                Some(2) if d.len() >= 24 => self.ip_v4(24, d.len()),
                Some(26) if d.len() >= 24 => self.ip_v6(24, d.len()),
                None => self.short(DecodeError::ShortLinkHeader),
                _ => {}
            },
            lt::IPOIB => match be16(d, 40) {
                Some(et) => self.ethertype(et, 44, d.len()),
                None => self.short(DecodeError::ShortLinkHeader),
            },
            lt::NFLOG => self.nflog(),
            lt::PPI | lt::PKTAP => {
                // PPI: u16 header length at 2, DLT at 4; PKTAP: u32 header length at 0, DLT at 4.
                let (hl, dlt) = if link_type == lt::PPI {
                    (
                        le16(d, 2).map(|v| v as usize),
                        d.get(4..8)
                            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                    )
                } else {
                    (
                        d.get(0..4)
                            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
                        d.get(4..8)
                            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                    )
                };
                let (Some(hl), Some(dlt)) = (hl, dlt) else {
                    return self.short(DecodeError::ShortLinkHeader);
                };
                if hl < 8 || hl > d.len() || self.depth > 0 || matches!(dlt, lt::PPI | lt::PKTAP) {
                    return self.fail(DecodeError::BadLinkHeader);
                }
                self.depth += 1;
                let wire = self.meta.wire_len;
                let mut inner = Decoder {
                    data: &d[hl..],
                    snapped: self.snapped,
                    opts: self.opts,
                    meta: &mut *self.meta,
                    depth: self.depth,
                };
                inner.meta.wire_len = wire.saturating_sub(hl as u32);
                inner.link(dlt);
                self.meta.wire_len = wire;
                if self.meta.outcome == Outcome::UnsupportedLink {
                    self.meta.outcome = Outcome::NonIp;
                }
            }
            lt::ARCNET_LINUX => self.arcnet(),
            lt::NULL | lt::LOOP => {
                let Some(raw) = d.get(0..4) else {
                    return self.short(DecodeError::ShortLinkHeader);
                };
                let raw: [u8; 4] = raw.try_into().unwrap_or_default();
                let mut af = if link_type == lt::LOOP {
                    u32::from_be_bytes(raw)
                } else {
                    u32::from_ne_bytes(raw)
                };
                // Files written on a host of the other byte order: the family
                // is small, so a value above 0xFFFF means it is swapped.
                if af > 0xFFFF {
                    af = af.swap_bytes();
                }
                match af {
                    2 => self.ip_v4(4, d.len()),
                    10 | 24 | 28 | 30 => self.ip_v6(4, d.len()),
                    _ => {}
                }
            }
            lt::LINUX_SLL => {
                let Some(h) = Sll::at(d, 0) else {
                    return self.short(DecodeError::ShortLinkHeader);
                };
                self.cooked(h.hatype(), h.protocol(), field::sll::LEN);
            }
            lt::LINUX_SLL2 => {
                let Some(h) = Sll2::at(d, 0) else {
                    return self.short(DecodeError::ShortLinkHeader);
                };
                self.cooked(h.hatype(), h.protocol(), field::sll2::LEN);
            }
            // Cisco HDLC frames (address 0x0F or 0x8F) also appear under the PPP link types.
            lt::PPP | lt::PPP_HDLC if matches!(d.first(), Some(0x0F | 0x8F)) => {
                self.chdlc(0, d.len())
            }
            lt::PPP | lt::PPP_HDLC => self.ppp(0, d.len()),
            lt::PPP_WITH_DIR => self.ppp(1, d.len()),
            lt::PPP_ETHER => self.pppoe(0, d.len()),
            lt::C_HDLC => self.chdlc(0, d.len()),
            lt::C_HDLC_WITH_DIR => self.chdlc(1, d.len()),
            lt::SLIP => {
                if d.len() < 16 {
                    return self.short(DecodeError::ShortLinkHeader);
                }
                // Wireshark's SLIP carries IPv4 only.
                self.ip_v4(16, d.len());
            }
            lt::FRELAY => self.frelay(0, d.len()),
            lt::IEEE802_11 => self.wifi(0, d.len()),
            lt::IEEE802_11_RADIOTAP => {
                let Some(hlen) = le16(d, 2) else {
                    return self.short(DecodeError::ShortLinkHeader);
                };
                let hlen = hlen as usize;
                if hlen < 8 {
                    return self.fail(DecodeError::BadLinkHeader);
                }
                // Radiotap "flags" field (bit 1 of the first present word),
                // bit 0x10: the frame ends with a 4-byte FCS. It sits at
                // offset 8 when TSFT (bit 0) is absent, else at 16.
                let present = d
                    .get(4..8)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                let mut end = d.len();
                if let Some(p) = present {
                    if p & 0x2 != 0 && p & 0x8000_0000 == 0 {
                        let at = if p & 1 != 0 { 16 } else { 8 };
                        if at < hlen
                            && self.byte(at).is_some_and(|f| f & 0x10 != 0)
                            && end >= hlen + 4
                        {
                            end -= 4;
                        }
                    }
                }
                self.wifi(hlen, end);
            }
            _ => self.meta.outcome = Outcome::UnsupportedLink,
        }
    }

    /// Linux cooked header: `proto` is an ethertype except for a few ARPHRD types.
    fn cooked(&mut self, hatype: u16, proto: u16, off: usize) {
        let end = self.data.len();
        match (hatype, proto) {
            // ARPHRD_IPGRE: the protocol field is the GRE protocol type.
            (778, p) => self.ethertype(p, off, end),
            // ARPHRD_NETLINK: not IP.
            (824, _) => {}
            // ETH_P_802_2: an LLC header follows.
            (_, 0x0004) => self.llc(off, end),
            (_, p) => self.ethertype(p, off, end),
        }
    }

    fn ethernet(&mut self, off: usize, end: usize) {
        let Some(h) = Ethernet::at(self.upto(end), off) else {
            return self.short(DecodeError::ShortLinkHeader);
        };
        let et = h.ethertype();
        let next = off + field::ethernet::LEN;
        if et <= 1500 {
            // 802.3 length field: LLC (and maybe SNAP) follows.
            self.llc(next, end);
        } else if et < 0x0600 {
            self.fail(DecodeError::BadLinkHeader);
        } else {
            self.ethertype(et, next, end);
        }
    }

    /// 802.2 LLC: only SNAP with an ethertype, or the IP SAP, carry IP.
    fn llc(&mut self, off: usize, end: usize) {
        let d = self.upto(end);
        match (d.get(off), d.get(off + 1), d.get(off + 2)) {
            (Some(0xAA), Some(0xAA), Some(0x03)) => {
                if let Some(et) = be16(d, off + 6) {
                    self.ethertype(et, off + 8, end)
                } else {
                    self.short(DecodeError::ShortLinkHeader)
                }
            }
            (Some(0x06), Some(0x06), Some(0x03)) => self.ip_v4(off + 3, end),
            _ => {}
        }
    }

    fn ethertype(&mut self, et: u16, off: usize, end: usize) {
        self.depth += 1;
        if self.depth as usize > MAX_TAGS * 2 {
            return self.fail(DecodeError::TooManyTags);
        }
        match et {
            0x0800 => self.ip_any(off, end),
            0x86DD => self.ip_v6(off, end),
            0x8100 | 0x88A8 | 0x9100 | 0x9200 | 0x9300 => {
                let mut off = off;
                let mut et = et;
                let mut n = 0;
                while matches!(et, 0x8100 | 0x88A8 | 0x9100 | 0x9200 | 0x9300) {
                    n += 1;
                    if n > MAX_TAGS {
                        return self.fail(DecodeError::TooManyTags);
                    }
                    let Some(tag) = Vlan::at(self.upto(end), off) else {
                        return self.short(DecodeError::ShortLinkHeader);
                    };
                    et = tag.ethertype();
                    off += field::vlan::LEN;
                }
                if et <= 1500 {
                    self.llc(off, end)
                } else {
                    self.ethertype(et, off, end)
                }
            }
            0x8847 | 0x8848 => self.mpls(off, end),
            // MACsec: SecTAG (8 bytes, +8 with an SCI); only unencrypted payloads are visible.
            0x88E5 => {
                let Some(&tci) = self.data.get(off) else {
                    return self.short(DecodeError::ShortLinkHeader);
                };
                if tci & 0x0C != 0 {
                    return; // encrypted or changed text
                }
                let at = off + if tci & 0x20 != 0 { 14 } else { 6 };
                // The 16-byte ICV trails the payload.
                let end = end.min(self.data.len()).saturating_sub(16);
                match be16(&self.data[..end.max(at).min(self.data.len())], at) {
                    Some(et) => self.ethertype(et, at + 2, end),
                    None => self.short(DecodeError::ShortLinkHeader),
                }
            }
            // Cisco VN-Tag: 4-byte tag then the ethertype.
            0x8926 => match be16(self.upto(end), off + 4) {
                Some(et) => self.ethertype(et, off + 6, end),
                None => self.short(DecodeError::ShortLinkHeader),
            },
            // 802.1ah PBB: I-TAG, then the customer MAC addresses and ethertype.
            0x88E7 => self.ethernet(off + 4, end),
            // Cisco FabricPath: FTag/TTL, then the inner Ethernet frame.
            0x8903 => self.ethernet(off + 2, end),
            // Arista timestamp trailer: subtype, version, 64- or 48-bit time.
            0xD28B => {
                let ver = be16(self.upto(end), off + 2);
                let tl = if ver == Some(0x0020) { 6 } else { 8 };
                match be16(self.upto(end), off + 4 + tl) {
                    Some(et) => self.ethertype(et, off + 6 + tl, end),
                    None => self.short(DecodeError::ShortLinkHeader),
                }
            }
            // NSH: length in 4-byte words, next protocol.
            0x894F => self.nsh(off, end),
            0x8864 => self.pppoe(off, end),
            0x880B => self.ppp(off, end),
            0x6558 => self.ethernet(off, end),
            _ => {}
        }
    }

    fn mpls(&mut self, mut off: usize, end: usize) {
        let d = self.upto(end);
        for _ in 0..MAX_TAGS {
            let Some(label) = be32(d, off) else {
                return self.short(DecodeError::ShortLinkHeader);
            };
            off += 4;
            if label & 0x100 != 0 {
                // Bottom of stack: guess the payload from its first nibble,
                // as Wireshark does.
                return match d.get(off).map(|b| b >> 4) {
                    Some(4) => self.ip_v4(off, end),
                    Some(6) => self.ip_v6(off, end),
                    // A pseudowire control word, then Ethernet.
                    Some(0) if d.len() >= off + 4 + 14 => self.ethernet(off + 4, end),
                    _ => {}
                };
            }
        }
        self.fail(DecodeError::TooManyTags)
    }

    fn pppoe(&mut self, off: usize, end: usize) {
        if self.data.len() < off + 6 {
            return self.short(DecodeError::ShortLinkHeader);
        }
        // Session stage only (code 0); discovery carries no IP.
        if self.byte(off + 1) == Some(0) {
            self.ppp(off + 6, end);
        }
    }

    fn ppp(&mut self, mut off: usize, end: usize) {
        let d = self.upto(end);
        if d.get(off) == Some(&0xFF) && d.get(off + 1) == Some(&0x03) {
            off += 2;
        }
        let Some(&b0) = d.get(off) else {
            return self.short(DecodeError::ShortLinkHeader);
        };
        // Protocol-field compression: an odd first byte is a 1-byte protocol.
        let (p, hl) = if b0 & 1 == 1 {
            (b0 as u16, 1)
        } else {
            match be16(d, off) {
                Some(p) => (p, 2),
                None => return self.short(DecodeError::ShortLinkHeader),
            }
        };
        match p {
            0x0021 => self.ip_v4(off + hl, end),
            0x0057 => self.ip_v6(off + hl, end),
            0x0281 | 0x0283 => self.mpls(off + hl, end),
            _ => {}
        }
    }

    fn chdlc(&mut self, off: usize, end: usize) {
        let Some(h) = Chdlc::at(self.upto(end), off) else {
            return self.short(DecodeError::ShortLinkHeader);
        };
        self.ethertype(h.ethertype(), off + field::chdlc::LEN, end);
    }

    fn frelay(&mut self, off: usize, end: usize) {
        let d = self.upto(end);
        // Two-byte Q.922 address, then the UI control byte 0x03 and an NLPID.
        let (Some(&ctl), Some(&nlpid)) = (d.get(off + 2), d.get(off + 3)) else {
            return self.short(DecodeError::ShortLinkHeader);
        };
        if ctl != 0x03 {
            // Cisco encapsulation: an ethertype right after the address.
            if let Some(et) = be16(d, off + 2) {
                self.ethertype(et, off + 4, end);
            }
            return;
        }
        match nlpid {
            _ if ctl != 0x03 => {}
            0xCC => self.ip_v4(off + 4, end),
            0x8E => self.ip_v6(off + 4, end),
            // SNAP: pad byte, then OUI and ethertype.
            0x80 => {
                if let Some(et) = be16(d, off + 7) {
                    self.ethertype(et, off + 9, end)
                }
            }
            // Padded NLPID, then SNAP.
            0x00 if d.get(off + 4) == Some(&0x80) => {
                if let Some(et) = be16(d, off + 8) {
                    self.ethertype(et, off + 10, end)
                }
            }
            _ => {}
        }
    }

    /// IEEE 802.11 data frames with LLC/SNAP; encrypted or management frames carry no visible IP.
    fn wifi(&mut self, off: usize, end: usize) {
        let d = self.upto(end);
        let Some(fc) = le16(d, off) else {
            return self.short(DecodeError::ShortLinkHeader);
        };
        let ftype = (fc >> 2) & 0x3;
        let subtype = (fc >> 4) & 0xF;
        if ftype != 2 || subtype & 0x4 != 0 {
            return; // not a data frame, or a null-data frame
        }
        if fc & 0x4000 != 0 {
            return; // protected
        }
        let mut hl = 24;
        if fc & 0x0300 == 0x0300 {
            hl += 6; // four addresses
        }
        if subtype & 0x8 != 0 {
            hl += 2; // QoS control
            if fc & 0x8000 != 0 {
                hl += 4; // HT control
            }
        }
        let at = off + hl;
        // A-MSDU (QoS bit 7) is not unpacked.
        if subtype & 0x8 != 0 && d.get(off + hl - 2).is_some_and(|q| q & 0x80 != 0) {
            return;
        }
        self.llc(at, end);
    }

    /// An IP header whose version is given by its first nibble.
    fn ip_any(&mut self, off: usize, end: usize) {
        match self.data.get(off).map(|b| b >> 4) {
            Some(4) => self.ip_v4(off, end),
            Some(6) => self.ip_v6(off, end),
            Some(_) => self.fail(DecodeError::BadIpVersion),
            None => self.short(DecodeError::ShortIpHeader),
        }
    }

    fn push_layer(&mut self, l: IpLayer) -> bool {
        if self.meta.layers.push(l) {
            true
        } else {
            self.fail(DecodeError::TooManyLayers);
            false
        }
    }

    fn ip_v4(&mut self, off: usize, end: usize) {
        let d = self.upto(end);
        let Some(&vhl) = d.get(off) else {
            return self.short(DecodeError::ShortIpHeader);
        };
        if vhl >> 4 != 4 {
            return self.fail(DecodeError::BadIpVersion);
        }
        let hlen = ((vhl & 0x0F) as usize) * 4;
        if hlen < field::ipv4::LEN {
            return self.fail(DecodeError::BadIpv4HeaderLen);
        }
        // The header with its options, all there: its one length check.
        let Some(h) = d.get(off..off + hlen).and_then(|h| Ipv4::at(h, 0)) else {
            return self.short(DecodeError::ShortIpHeader);
        };
        let total = h.total_len() as usize;
        let ip_len = if total == 0 && !self.meta.layers.is_empty() {
            // Only the outermost header may be a TSO super-packet (Wireshark agrees).
            return self.fail(DecodeError::BadIpv4TotalLen);
        } else if total == 0 {
            // TSO/GSO captures leave the length zero: use what the wire carried.
            (self.meta.wire_len as usize).saturating_sub(off)
        } else if total < hlen {
            return self.fail(DecodeError::BadIpv4TotalLen);
        } else {
            total
        };
        let frag = h.flags_frag();
        let fragment = if frag & 0x3FFF != 0 {
            Some(Fragment {
                id: h.ident() as u32,
                offset: ((frag & 0x1FFF) as u32) * 8,
                more: frag & 0x2000 != 0,
            })
        } else {
            None
        };
        let protocol = h.protocol();
        let src = Ipv4Addr::from(h.src());
        let dst = Ipv4Addr::from(h.dst());
        let layer = IpLayer {
            src: IpAddr::V4(src),
            dst: IpAddr::V4(dst),
            protocol,
            ip_len: ip_len.min(u32::MAX as usize) as u32,
            l4_len: self.l4_len(off, ip_len, hlen),
            fragment,
            ..IpLayer::default()
        };
        if !self.push_layer(layer) {
            return;
        }
        if matches!(fragment, Some(f) if f.offset != 0) {
            return;
        }
        // The payload ends where the IP length says (Ethernet padding excluded).
        let pend = if total == 0 {
            end
        } else {
            (off + total).min(end)
        };
        self.transport(protocol, off + hlen, pend, fragment.is_some());
    }

    fn ip_v6(&mut self, off: usize, end: usize) {
        let d = self.upto(end);
        let Some(&b0) = d.get(off) else {
            return self.short(DecodeError::ShortIpHeader);
        };
        if b0 >> 4 != 6 {
            return self.fail(DecodeError::BadIpVersion);
        }
        let Some(h) = Ipv6::at(d, off) else {
            return self.short(DecodeError::ShortIpHeader);
        };
        let plen = h.payload_len() as usize;
        let mut next = h.next_header();
        let (src, dst) = (h.src(), h.dst());
        let ip_len = if plen == 0 {
            // Jumbogram or TSO: use what the wire carried.
            (self.meta.wire_len as usize).saturating_sub(off)
        } else {
            40 + plen
        };
        let layer = IpLayer {
            src: IpAddr::V6(Ipv6Addr::from(src)),
            dst: IpAddr::V6(Ipv6Addr::from(dst)),
            protocol: next,
            ip_len: ip_len.min(u32::MAX as usize) as u32,
            l4_len: self.l4_len(off, ip_len, field::ipv6::LEN),
            ..IpLayer::default()
        };
        if !self.push_layer(layer) {
            return;
        }
        let fixed = field::ipv6::LEN;
        let pend = if plen == 0 {
            end
        } else {
            (off + fixed + plen).min(end)
        };
        let mut at = off + fixed;
        let mut fragment = None;
        // Walk extension headers to the transport protocol.
        for _ in 0..16 {
            let hl = match next {
                0 | 43 | 60 | 135 | 139 | 140 => match d.get(at + 1) {
                    Some(&l) if at + 2 <= pend => (l as usize + 1) * 8,
                    _ => return self.ext_short(pend),
                },
                51 => match d.get(at + 1) {
                    Some(&l) if at + 2 <= pend => (l as usize + 2) * 4,
                    _ => return self.ext_short(pend),
                },
                44 => {
                    let Some(h) = Ipv6Frag::at(d, at) else {
                        return self.ext_short(pend);
                    };
                    let fo = h.frag_off();
                    let f = Fragment {
                        id: h.ident(),
                        offset: ((fo >> 3) as u32) * 8,
                        more: fo & 1 != 0,
                    };
                    fragment = Some(f);
                    field::ipv6_frag::LEN
                }
                _ => break,
            };
            let Some(&nh) = d.get(at) else {
                return self.ext_short(pend);
            };
            next = nh;
            at += hl;
            if let Some(l) = self.meta.layers.last_mut() {
                l.protocol = next;
                l.fragment = fragment;
                l.l4_len = l.l4_len.saturating_sub(hl as u32);
            }
            if matches!(fragment, Some(f) if f.offset != 0) {
                return;
            }
        }
        if at > pend {
            return self.ext_short(pend);
        }
        self.transport(next, at, pend, fragment.is_some());
    }

    /// Transport bytes of an IP packet at `off` of `ip_len` bytes with a
    /// `hlen`-byte header: as declared, but no more than the wire carried
    /// (Wireshark's reported length).
    fn l4_len(&self, off: usize, ip_len: usize, hlen: usize) -> u32 {
        let on_wire = (self.meta.wire_len as usize).saturating_sub(off);
        ip_len
            .min(on_wire)
            .saturating_sub(hlen)
            .min(u32::MAX as usize) as u32
    }

    fn ext_short(&mut self, pend: usize) {
        // Cut by the snap length, or a header that claims more than the packet holds.
        if self.snapped && pend >= self.data.len() {
            self.meta.truncated = true;
        } else {
            self.fail(DecodeError::BadIpv6ExtHeader);
        }
    }

    /// Transport header at `off`, payload up to `end` (the IP packet's end).
    fn transport(&mut self, protocol: u8, off: usize, end: usize, fragmented: bool) {
        let d = self.upto(end);
        let short = |s: &mut Self| {
            if s.snapped && end >= s.data.len() {
                s.meta.truncated = true;
            } else {
                s.fail(DecodeError::ShortTransportHeader);
            }
        };
        if off < d.len() {
            if let Some(l) = self.meta.layers.last_mut() {
                l.l4_offset = off as u32;
            }
        }
        match protocol {
            proto::TCP | proto::UDP | proto::SCTP | proto::DCCP | proto::UDPLITE => {
                let Some(ports) = Ports::at(d, off) else {
                    return short(self);
                };
                let (sp, dp) = (ports.src_port(), ports.dst_port());
                let mut flags = 0;
                if protocol == proto::TCP {
                    match Tcp::at(d, off) {
                        Some(tcp) => {
                            flags = tcp.flags();
                            if tcp.data_off() >> 4 < 5 {
                                self.fail(DecodeError::BadTcpHeaderLen);
                            }
                        }
                        None => short(self),
                    }
                }
                if let Some(l) = self.meta.layers.last_mut() {
                    l.src_port = sp;
                    l.dst_port = dp;
                    l.has_ports = true;
                    l.tcp_flags = flags;
                }
                if protocol == proto::UDP && self.opts.descend_tunnels && !fragmented {
                    // Like Wireshark, look inside only when the UDP length is consistent.
                    match Udp::at(d, off).map(|u| usize::from(u.length())) {
                        Some(ul) if ul >= 8 && off + ul <= end => {
                            self.udp_tunnel(sp, dp, off + 8, off + ul)
                        }
                        // Cut by the snap length: the length can only be checked against the wire.
                        Some(ul) if ul >= 8 && self.snapped => {
                            self.udp_tunnel(sp, dp, off + 8, end)
                        }
                        _ => {}
                    }
                }
            }
            proto::IPIP if self.opts.descend_tunnels && !fragmented => self.ip_v4(off, end),
            proto::IPV6 if self.opts.descend_tunnels && !fragmented => self.ip_v6(off, end),
            proto::GRE if self.opts.descend_tunnels && !fragmented => self.gre(off, end),
            // AH in IPv4 (IPv6 walks it as an extension header): skip it and go on.
            51 if !fragmented => {
                let Some(ah) = Ah::at(d, off) else {
                    return short(self);
                };
                let (nh, l) = (ah.next_header(), ah.payload_len());
                if let Some(last) = self.meta.layers.last_mut() {
                    last.protocol = nh;
                    last.l4_len = last.l4_len.saturating_sub((l as u32 + 2) * 4);
                }
                if nh != 51 {
                    self.transport(nh, off + (l as usize + 2) * 4, end, fragmented);
                }
            }
            // PIM v2 Register carries a whole multicast IP packet.
            103 if self.opts.descend_tunnels && !fragmented && d.get(off) == Some(&0x21) => {
                self.ip_any(off + 8, end)
            }
            // Ethernet directly in IP (e.g. SRv6).
            143 if self.opts.descend_tunnels && !fragmented => self.ethernet(off, end),
            _ => {}
        }
    }

    fn gre(&mut self, off: usize, end: usize) {
        let d = self.upto(end);
        let Some(h) = Gre::at(d, off) else {
            return self.short(DecodeError::BadTunnelHeader);
        };
        let (flags, ptype) = (h.flags(), h.protocol());
        let version = flags & 0x7;
        let mut hl = field::gre::LEN;
        match version {
            0 => {
                if flags & 0xC000 != 0 {
                    hl += 4; // checksum (and offset) when C or R is set
                }
                if flags & 0x2000 != 0 {
                    hl += 4; // key
                }
                if flags & 0x1000 != 0 {
                    hl += 4; // sequence
                }
                if flags & 0x4000 != 0 {
                    return; // source routing entries: not followed
                }
            }
            1 => {
                // Enhanced GRE (PPTP): key always, sequence and ack optional.
                hl += 4;
                if flags & 0x1000 != 0 {
                    hl += 4;
                }
                if flags & 0x0080 != 0 {
                    hl += 4;
                }
            }
            _ => return self.fail(DecodeError::BadTunnelHeader),
        }
        if d.len() < off + hl {
            return self.short(DecodeError::BadTunnelHeader);
        }
        match ptype {
            // WCCP redirect header, then IP.
            0x883E => self.ip_any(off + hl + 4, end),
            // Aruba: 802.11 frames.
            0x8200..=0x8220 => self.wifi(off + hl, end),
            // ERSPAN type II: 8-byte header, then Ethernet.
            0x88BE if flags & 0x1000 != 0 => self.ethernet(off + hl + 8, end),
            0x88BE => self.ethernet(off + hl, end),
            // ERSPAN type III: 12-byte header (plus an optional 8-byte subheader).
            0x22EB => {
                let o = d
                    .get(off + hl + 11)
                    .map_or(0, |b| if b & 1 != 0 { 8 } else { 0 });
                self.ethernet(off + hl + 12 + o, end)
            }
            p => self.ethertype(p, off + hl, end),
        }
    }

    fn udp_tunnel(&mut self, sp: u16, dp: u16, off: usize, end: usize) {
        let d = self.upto(end);
        if d.len() <= off {
            return;
        }
        if dp == 6081 {
            // Geneve: option length in 4-byte words, protocol type.
            let Some(h) = Geneve::at(d, off) else {
                return;
            };
            let at = off + field::geneve::FIXED_LEN + h.options_len();
            self.ethertype(h.protocol(), at, end);
        } else if dp == 4790 {
            // VXLAN-GPE: next protocol in byte 3.
            self.next_protocol(d.get(off + 3).copied(), off + 8, end);
        } else if dp == 6635 {
            self.mpls(off, end);
        } else if dp == 4754 {
            self.gre(off, end);
        } else if dp == 5072 || sp == 5072 {
            self.ayiya(off, end);
        } else if dp == 5247 || sp == 5247 {
            self.capwap(off, end);
        } else if dp == 4789 {
            // VXLAN: flags byte with the I bit, 8-byte header, then Ethernet.
            if d.get(off).is_some_and(|f| f & 0x08 != 0) && d.len() >= off + 8 + 14 {
                self.ethernet(off + 8, end);
            }
        } else if sp == 2152 || dp == 2152 {
            self.gtpu(off, end);
        } else if sp == 3544 || dp == 3544 {
            self.teredo(off, end, true);
        }
    }

    /// Next-protocol numbers of VXLAN-GPE and NSH: 1 IPv4, 2 IPv6, 3 Ethernet, 4 NSH, 5 MPLS.
    fn next_protocol(&mut self, np: Option<u8>, off: usize, end: usize) {
        self.depth += 1;
        if self.depth as usize > MAX_TAGS * 2 {
            return self.fail(DecodeError::TooManyTags);
        }
        match np {
            Some(1) => self.ip_v4(off, end),
            Some(2) => self.ip_v6(off, end),
            Some(3) => self.ethernet(off, end),
            Some(4) => self.nsh(off, end),
            Some(5) => self.mpls(off, end),
            _ => {}
        }
    }

    fn nsh(&mut self, off: usize, end: usize) {
        let d = self.upto(end);
        let Some(h) = Nsh::at(d, off) else {
            return self.short(DecodeError::BadTunnelHeader);
        };
        let len = h.len();
        if len < 8 {
            return self.fail(DecodeError::BadTunnelHeader);
        }
        self.next_protocol(Some(h.next_protocol()), off + len, end);
    }

    /// AYIYA (IPv6 over UDP 5072): identity and signature lengths in the header.
    fn ayiya(&mut self, off: usize, end: usize) {
        let d = self.upto(end);
        let Some(h) = Ayiya::at(d, off) else {
            return;
        };
        let at = off + 8 + h.id_len() + h.sig_len();
        match h.next_header() {
            41 => self.ip_v6(at, end),
            4 => self.ip_v4(at, end),
            _ => {}
        }
    }

    /// CAPWAP data channel: 802.11 frames when T is set with WBID 1, else 802.3.
    fn capwap(&mut self, off: usize, end: usize) {
        let d = self.upto(end);
        let Some(w) = Capwap::at(d, off).map(Capwap::word0) else {
            return;
        };
        if w >> 28 != 0 {
            return; // preamble type 1 is DTLS
        }
        let hlen = ((w >> 19) & 0x1F) as usize * 4;
        let wbid = (w >> 9) & 0x1F;
        let t = w & 0x100 != 0;
        if hlen < 8 {
            return;
        }
        if t && wbid == 1 {
            self.wifi(off + hlen, end);
        } else {
            self.ethernet(off + hlen, end);
        }
    }

    /// NFLOG: a 4-byte header then TLVs; the payload TLV (type 9) holds the IP packet.
    fn nflog(&mut self) {
        let d = self.data;
        let Some(&family) = d.first() else {
            return self.short(DecodeError::ShortLinkHeader);
        };
        let mut at = 4;
        while let (Some(len), Some(ty)) = (le16(d, at), le16(d, at + 2)) {
            let len = len as usize;
            if len < 4 {
                return self.fail(DecodeError::BadLinkHeader);
            }
            if ty & 0x7FFF == 9 {
                let end = (at + len).min(d.len());
                return match family {
                    2 => self.ip_v4(at + 4, end),
                    10 => self.ip_v6(at + 4, end),
                    _ => {}
                };
            }
            at += len.div_ceil(4) * 4;
        }
    }

    /// Linux ARCNET: source, destination, offset, protocol id, then RFC 1051 or RFC 1201 framing.
    fn arcnet(&mut self) {
        let d = self.data;
        let Some(&pid) = d.get(4) else {
            return self.short(DecodeError::ShortLinkHeader);
        };
        match pid {
            240 => self.ip_v4(5, d.len()),
            212 => {
                // RFC 1201: split flag and sequence; an exception packet adds 4 more bytes.
                let at = if d.get(5) == Some(&0xFF) { 12 } else { 8 };
                self.ip_v4(at, d.len())
            }
            _ => {}
        }
    }

    fn gtpu(&mut self, off: usize, end: usize) {
        let d = self.upto(end);
        let Some(h) = Gtpu::at(d, off) else {
            return;
        };
        let flags = h.flags();
        // GTPv1-U T-PDU only.
        if flags >> 5 != 1 || h.msg_type() != 0xFF {
            return;
        }
        let mut at = off + 8;
        if flags & 0x07 != 0 {
            at += 4;
            let mut next = d.get(at - 1).copied().unwrap_or(0);
            let mut guard = 0;
            while next != 0 {
                guard += 1;
                let Some(&len) = d.get(at) else {
                    return self.short(DecodeError::BadTunnelHeader);
                };
                if len == 0 || guard > 16 {
                    return self.fail(DecodeError::BadTunnelHeader);
                }
                at += len as usize * 4;
                next = d.get(at - 1).copied().unwrap_or(0);
            }
        }
        match d.get(at).map(|b| b >> 4) {
            Some(4) => self.ip_v4(at, end),
            Some(6) => self.ip_v6(at, end),
            _ => {}
        }
    }

    fn teredo(&mut self, mut off: usize, end: usize, on_port: bool) {
        let d = self.upto(end);
        // Optional authentication (type 0x0001) and origin indication (0x0000) headers.
        if be16(d, off) == Some(0x0001) {
            let (Some(&idl), Some(&aul)) = (d.get(off + 2), d.get(off + 3)) else {
                return;
            };
            off += 4 + idl as usize + aul as usize + 9;
        }
        if be16(d, off) == Some(0x0000) {
            off += 8;
        }
        if d.get(off).map(|b| b >> 4) == Some(6) && d.len() >= off + 40 {
            let exact = be16(d, off + 4).is_some_and(|pl| off + 40 + pl as usize <= end);
            if on_port && (exact || self.meta.layers.len() == 1) {
                self.ip_v6(off, end);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::*;

    fn dec(lt: u32, f: &[u8]) -> PacketMeta {
        decode(
            lt,
            Timestamp::ZERO,
            f,
            f.len() as u32,
            &DecodeOptions {
                descend_tunnels: true,
            },
        )
    }

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ethernet_ipv4_tcp() {
        let f = eth(
            0x0800,
            &ipv4(
                v4("10.0.0.1"),
                v4("10.0.0.2"),
                6,
                &tcp(1234, 80, crate::tcp_flags::SYN, &[0; 10]),
            ),
        );
        let m = dec(lt::ETHERNET, &f);
        assert_eq!(m.outcome, Outcome::Ip);
        assert_eq!(m.error, None);
        let l = m.layers.outer().unwrap();
        assert_eq!(
            (l.src, l.dst, l.protocol),
            (v4("10.0.0.1"), v4("10.0.0.2"), 6)
        );
        assert_eq!((l.src_port, l.dst_port, l.tcp_flags), (1234, 80, 0x02));
        assert_eq!(l.ip_len, 20 + 20 + 10);
        assert_eq!(l.l4_len, 20 + 10);
    }

    #[test]
    fn the_transport_length_is_declared_but_never_longer_than_the_wire() {
        let f = eth(
            0x0800,
            &ipv4(
                v4("10.0.0.1"),
                v4("10.0.0.2"),
                6,
                &tcp(1, 2, 0x10, &[0; 100]),
            ),
        );
        // Snapped to 54 bytes of 154 on the wire: the declared length counts.
        let m = decode(
            lt::ETHERNET,
            Timestamp::ZERO,
            &f[..54],
            154,
            &DecodeOptions::default(),
        );
        assert_eq!(m.layers.outer().unwrap().l4_len, 120);
        // An IP header claiming more than the wire frame held (Wireshark's
        // reported length): the wire counts.
        let m = decode(
            lt::ETHERNET,
            Timestamp::ZERO,
            &f[..54],
            54,
            &DecodeOptions::default(),
        );
        let l = m.layers.outer().unwrap();
        assert_eq!((l.ip_len, l.l4_len), (140, 20));
    }

    #[test]
    fn vlan_qinq_ipv6_udp() {
        let inner = ipv6(
            v4("2001:db8::1"),
            v4("2001:db8::2"),
            17,
            &udp(53, 5353, &[1, 2, 3]),
        );
        let f = eth(0x88A8, &vlan(5, 0x8100, &vlan(7, 0x86DD, &inner)));
        let m = dec(lt::ETHERNET, &f);
        let l = m.layers.outer().unwrap();
        assert_eq!((l.src_port, l.dst_port, l.ip_len), (53, 5353, 40 + 8 + 3));
        assert_eq!(l.l4_len, 8 + 3);
        assert_eq!(m.error, None);
    }

    #[test]
    fn ipv6_extension_headers_and_fragments() {
        let p = ipv6_ext(
            v4("::1"),
            v4("::2"),
            &[(0, 8), (60, 16)],
            6,
            &tcp(1, 2, 0x10, &[]),
        );
        let m = dec(lt::RAW, &p);
        let l = m.layers.outer().unwrap();
        assert_eq!((l.protocol, l.src_port, l.dst_port), (6, 1, 2));
        assert_eq!(
            l.l4_len, 20,
            "the extension headers are not transport bytes"
        );

        let first = ipv6_frag(v4("::1"), v4("::2"), 17, 77, 0, true, &udp(9, 10, &[0; 16]));
        let m = dec(lt::RAW, &first);
        let l = m.layers.outer().unwrap();
        assert_eq!(
            l.fragment,
            Some(Fragment {
                id: 77,
                offset: 0,
                more: true
            })
        );
        assert!(l.has_ports);
        let later = ipv6_frag(v4("::1"), v4("::2"), 17, 77, 24, false, &[0; 8]);
        let m = dec(lt::RAW, &later);
        let l = m.layers.outer().unwrap();
        assert!(l.is_later_fragment());
        assert!(!l.has_ports);
        assert_eq!(l.protocol, 17);
    }

    #[test]
    fn ipv4_options_and_fragments() {
        let p = ipv4_opts(
            v4("1.1.1.1"),
            v4("2.2.2.2"),
            17,
            &[1, 1, 1, 0],
            &udp(7, 8, &[]),
        );
        let m = dec(lt::IPV4, &p);
        assert_eq!(m.layers.outer().unwrap().dst_port, 8);
        let later = ipv4_frag(v4("1.1.1.1"), v4("2.2.2.2"), 17, 9, 1480, false, &[0; 20]);
        let m = dec(lt::RAW, &later);
        let l = m.layers.outer().unwrap();
        assert!(l.is_later_fragment());
        assert_eq!(l.fragment.unwrap().id, 9);
    }

    #[test]
    fn tunnels_every_layer() {
        let inner = ipv4(v4("192.168.0.1"), v4("192.168.0.2"), 17, &udp(1, 2, &[]));
        let gre_pkt = ipv4(v4("1.0.0.1"), v4("1.0.0.2"), 47, &gre(0x0800, &inner));
        let m = dec(lt::RAW, &gre_pkt);
        assert_eq!(m.layers.len(), 2);
        assert_eq!(m.layers.inner().unwrap().dst_port, 2);

        let vx = ipv4(
            v4("1.0.0.1"),
            v4("1.0.0.2"),
            17,
            &udp(4000, 4789, &vxlan(42, &eth(0x0800, &inner))),
        );
        let m = dec(lt::RAW, &vx);
        assert_eq!(m.layers.len(), 2);
        assert_eq!(m.layers.inner().unwrap().src, v4("192.168.0.1"));

        let ipip = ipv4(v4("1.0.0.1"), v4("1.0.0.2"), 4, &inner);
        let m = dec(lt::RAW, &ipip);
        assert_eq!(m.layers.len(), 2);

        let outer_only = decode(
            lt::RAW,
            Timestamp::ZERO,
            &ipip,
            ipip.len() as u32,
            &DecodeOptions::default(),
        );
        assert_eq!(outer_only.layers.len(), 1);
    }

    #[test]
    fn cooked_and_loopback() {
        let ip = ipv4(v4("127.0.0.1"), v4("127.0.0.2"), 17, &udp(1, 2, &[]));
        assert_eq!(dec(lt::LINUX_SLL, &sll(0x0800, &ip)).layers.len(), 1);
        assert_eq!(dec(lt::LINUX_SLL2, &sll2(0x0800, &ip)).layers.len(), 1);
        let mut null = 2u32.to_ne_bytes().to_vec();
        null.extend_from_slice(&ip);
        assert_eq!(dec(lt::NULL, &null).layers.len(), 1);
        let mut swapped = 2u32.swap_bytes().to_ne_bytes().to_vec();
        swapped.extend_from_slice(&ip);
        assert_eq!(dec(lt::NULL, &swapped).layers.len(), 1);
        let mut lp = 2u32.to_be_bytes().to_vec();
        lp.extend_from_slice(&ip);
        assert_eq!(dec(lt::LOOP, &lp).layers.len(), 1);
        let mut ppp = vec![0xFF, 0x03, 0x00, 0x21];
        ppp.extend_from_slice(&ip);
        assert_eq!(dec(lt::PPP, &ppp).layers.len(), 1);
    }

    #[test]
    fn truncated_vs_malformed() {
        let f = eth(
            0x0800,
            &ipv4(v4("10.0.0.1"), v4("10.0.0.2"), 6, &tcp(1, 2, 0, &[0; 100])),
        );
        // Snap length cut inside the TCP header: truncated, address survives, not an error.
        let m = decode(
            lt::ETHERNET,
            Timestamp::ZERO,
            &f[..38],
            f.len() as u32,
            &DecodeOptions::default(),
        );
        assert!(m.truncated);
        assert_eq!(m.error, None);
        assert_eq!(m.layers.len(), 1);
        assert!(m.layers.outer().unwrap().has_ports);
        let m = decode(
            lt::ETHERNET,
            Timestamp::ZERO,
            &f[..30],
            f.len() as u32,
            &DecodeOptions::default(),
        );
        assert!(m.truncated && m.layers.is_empty());
        // Same bytes with no snap cut: malformed.
        let m = dec(lt::ETHERNET, &f[..30]);
        assert_eq!(m.error, Some(DecodeError::ShortIpHeader));
        let mut bad = f.clone();
        bad[14] = 0x43; // IHL 3
        assert_eq!(
            dec(lt::ETHERNET, &bad).error,
            Some(DecodeError::BadIpv4HeaderLen)
        );
        let mut bad = f.clone();
        bad[16] = 0;
        bad[17] = 10; // total length 10 < 20
        assert_eq!(
            dec(lt::ETHERNET, &bad).error,
            Some(DecodeError::BadIpv4TotalLen)
        );
        assert_eq!(dec(999, &f).outcome, Outcome::UnsupportedLink);
    }

    #[test]
    fn macsec_shorter_than_its_icv_does_not_panic() {
        // tcpdump's macsec-snap.pcap: a SecTAG with an SCI and fewer than 16 bytes after it.
        let f = eth(
            0x88E5,
            &[0x20, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 0x08, 0x00],
        );
        let m = dec(lt::ETHERNET, &f);
        assert!(m.layers.is_empty());
        let ok = eth(
            0x88E5,
            &[
                &[0x00u8, 0, 0, 0, 0, 1][..],
                &[0x08, 0x00],
                &ipv4(v4("1.1.1.1"), v4("2.2.2.2"), 17, &udp(1, 2, &[])),
                &[0; 16],
            ]
            .concat(),
        );
        assert_eq!(dec(lt::ETHERNET, &ok).layers.len(), 1);
    }

    #[test]
    fn non_ip_frames() {
        let m = dec(lt::ETHERNET, &eth(0x0806, &[0; 28]));
        assert_eq!(m.outcome, Outcome::NonIp);
        assert_eq!(m.error, None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(lt in 0u32..300, data in proptest::collection::vec(proptest::num::u8::ANY, 0..200), extra in 0u32..100) {
            let m = decode(lt, Timestamp::ZERO, &data, data.len() as u32 + extra, &DecodeOptions { descend_tunnels: true });
            proptest::prop_assert!(m.layers.len() <= MAX_LAYERS);
        }
    }
}
