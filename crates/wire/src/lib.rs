//! Zero-copy decoding of captured frames into the few facts flow accounting
//! needs: every IP header in the frame, its addresses, protocol, ports,
//! lengths, fragment position and TCP flags.
//!
//! The decoder never allocates, never panics on any input (it is fuzzed), and
//! reports malformed headers as a [`DecodeError`] reason instead of failing.
//! Headers cut short by the capture's snap length are not errors: the packet is
//! flagged `truncated` and keeps whatever headers survived.
#![forbid(unsafe_code)]

pub mod build;
mod decode;
mod field;
mod frame;
pub mod linktype;
pub mod tcp;

pub use decode::{
    decode, decode_into, DecodeError, DecodeOptions, Fragment, IpLayer, Layers, Outcome,
    PacketMeta, MAX_LAYERS,
};
// Packet timestamps and clocks live in wirewatch-units, shared with the
// crates that do not decode packets; re-exported here because every
// decoded packet carries one.
pub use frame::{Frame, OwnedFrame};
pub use wirewatch_units::{Clock, FixedClock, PinnedClock, SystemClock, Timestamp};

/// IP protocol numbers used by the decoder and the flow table.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// IPv4 encapsulated in IP.
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// DCCP.
    pub const DCCP: u8 = 33;
    /// IPv6 encapsulated in IP.
    pub const IPV6: u8 = 41;
    /// GRE.
    pub const GRE: u8 = 47;
    /// ESP.
    pub const ESP: u8 = 50;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
    /// UDP-Lite.
    pub const UDPLITE: u8 = 136;

    /// Short lower-case name of an IP protocol, or its number.
    pub fn name(p: u8) -> std::borrow::Cow<'static, str> {
        let s = match p {
            ICMP => "icmp",
            IPIP => "ipip",
            TCP => "tcp",
            UDP => "udp",
            DCCP => "dccp",
            IPV6 => "ipv6",
            GRE => "gre",
            ESP => "esp",
            51 => "ah",
            ICMPV6 => "icmp6",
            SCTP => "sctp",
            UDPLITE => "udplite",
            2 => "igmp",
            89 => "ospf",
            103 => "pim",
            112 => "vrrp",
            _ => return std::borrow::Cow::Owned(p.to_string()),
        };
        std::borrow::Cow::Borrowed(s)
    }

    /// Whether flows of this protocol are keyed by ports.
    pub fn has_ports(p: u8) -> bool {
        matches!(p, TCP | UDP | SCTP | DCCP | UDPLITE)
    }
}

/// TCP flag bits as they appear in byte 13 of the TCP header.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;

    /// tcpdump-style letters for a set of flags, e.g. `SA` or `FPA`.
    pub fn letters(f: u8) -> String {
        const L: [(u8, char); 8] = [
            (FIN, 'F'),
            (SYN, 'S'),
            (RST, 'R'),
            (PSH, 'P'),
            (ACK, 'A'),
            (URG, 'U'),
            (ECE, 'E'),
            (CWR, 'W'),
        ];
        L.iter()
            .filter(|(b, _)| f & b != 0)
            .map(|(_, c)| *c)
            .collect()
    }
}
