//! Where the fields the decoder reads sit in each header, as named byte
//! ranges (after smoltcp's `field` modules), and fixed-size views of those
//! headers.
//!
//! A view is made by one length check (its `at`): it holds the first
//! `LEN` bytes of its header as an array, and every field of the header's
//! module ends within `LEN` (checked at compile time below), so its
//! accessors read without a check and cannot panic. A module's `LEN` is
//! where the last field the decoder reads ends, which for a few headers
//! (UDP, AH) is short of the full header: the views ask for no more bytes
//! than the decoder reads.

use std::ops::Range;

/// The bytes of one field, from the start of its header.
pub(crate) type Field = Range<usize>;

/// Ethernet II: destination and source addresses, then the ethertype.
pub(crate) mod ethernet {
    use super::Field;
    pub(crate) const ETHERTYPE: Field = 12..14;
    pub(crate) const LEN: usize = ETHERTYPE.end;
}

/// Linux cooked capture v1 (`LINKTYPE_LINUX_SLL`).
pub(crate) mod sll {
    use super::Field;
    pub(crate) const HATYPE: Field = 2..4;
    pub(crate) const PROTOCOL: Field = 14..16;
    pub(crate) const LEN: usize = PROTOCOL.end;
}

/// Linux cooked capture v2 (`LINKTYPE_LINUX_SLL2`).
pub(crate) mod sll2 {
    use super::Field;
    pub(crate) const PROTOCOL: Field = 0..2;
    pub(crate) const HATYPE: Field = 8..10;
    /// Interface index, packet type and the link-layer address follow.
    pub(crate) const LEN: usize = 20;
}

/// IPv4 without options.
pub(crate) mod ipv4 {
    use super::Field;
    pub(crate) const TOTAL_LEN: Field = 2..4;
    pub(crate) const IDENT: Field = 4..6;
    pub(crate) const FLAGS_FRAG: Field = 6..8;
    pub(crate) const PROTOCOL: usize = 9;
    pub(crate) const SRC: Field = 12..16;
    pub(crate) const DST: Field = 16..20;
    pub(crate) const LEN: usize = DST.end;
}

/// IPv6's fixed header.
pub(crate) mod ipv6 {
    use super::Field;
    pub(crate) const PAYLOAD_LEN: Field = 4..6;
    pub(crate) const NEXT_HEADER: usize = 6;
    pub(crate) const SRC: Field = 8..24;
    pub(crate) const DST: Field = 24..40;
    pub(crate) const LEN: usize = DST.end;
}

/// IPv6 fragment extension header.
pub(crate) mod ipv6_frag {
    use super::Field;
    pub(crate) const FRAG_OFF: Field = 2..4;
    pub(crate) const IDENT: Field = 4..8;
    pub(crate) const LEN: usize = IDENT.end;
}

/// IPv4's authentication header, as far as the decoder reads it.
pub(crate) mod ah {
    pub(crate) const NEXT_HEADER: usize = 0;
    pub(crate) const PAYLOAD_LEN: usize = 1;
    pub(crate) const LEN: usize = PAYLOAD_LEN + 1;
}

/// The two ports that open TCP, UDP, SCTP, DCCP and UDP-Lite headers.
pub(crate) mod ports {
    use super::Field;
    pub(crate) const SRC_PORT: Field = 0..2;
    pub(crate) const DST_PORT: Field = 2..4;
    pub(crate) const LEN: usize = DST_PORT.end;
}

/// TCP, up to its flags.
pub(crate) mod tcp {
    pub(crate) const DATA_OFF: usize = 12;
    pub(crate) const FLAGS: usize = 13;
    pub(crate) const LEN: usize = FLAGS + 1;
}

/// UDP, up to its length.
pub(crate) mod udp {
    use super::Field;
    pub(crate) const LENGTH: Field = 4..6;
    pub(crate) const LEN: usize = LENGTH.end;
}

/// GRE's fixed part: flags and version, protocol type.
pub(crate) mod gre {
    use super::Field;
    pub(crate) const FLAGS: Field = 0..2;
    pub(crate) const PROTOCOL: Field = 2..4;
    pub(crate) const LEN: usize = PROTOCOL.end;
}

/// An 802.1Q (or QinQ) tag: priority and VLAN id, then the next ethertype.
pub(crate) mod vlan {
    use super::Field;
    pub(crate) const ETHERTYPE: Field = 2..4;
    pub(crate) const LEN: usize = ETHERTYPE.end;
}

/// Cisco HDLC: address, control, then an ethertype.
pub(crate) mod chdlc {
    use super::Field;
    pub(crate) const ETHERTYPE: Field = 2..4;
    pub(crate) const LEN: usize = ETHERTYPE.end;
}

/// Geneve's fixed part, as far as the decoder reads it.
pub(crate) mod geneve {
    use super::Field;
    /// Version (2 bits) and options length (6 bits, in 4-byte words).
    pub(crate) const VER_OPT_LEN: usize = 0;
    pub(crate) const PROTOCOL: Field = 2..4;
    pub(crate) const LEN: usize = PROTOCOL.end;
    /// The fixed header's full length: options follow it.
    pub(crate) const FIXED_LEN: usize = 8;
}

/// NSH's base header.
pub(crate) mod nsh {
    /// TTL (low bits) and length (6 bits, in 4-byte words).
    pub(crate) const TTL_LEN: usize = 1;
    pub(crate) const NEXT_PROTOCOL: usize = 3;
    pub(crate) const LEN: usize = NEXT_PROTOCOL + 1;
}

/// GTPv1-U, as far as the decoder reads it before the optional fields.
pub(crate) mod gtpu {
    pub(crate) const FLAGS: usize = 0;
    pub(crate) const MSG_TYPE: usize = 1;
    pub(crate) const LEN: usize = MSG_TYPE + 1;
}

/// AYIYA's fixed part, as far as the decoder reads it.
pub(crate) mod ayiya {
    /// Identity length (high nibble, log2 of bytes) and type.
    pub(crate) const ID_LEN: usize = 0;
    /// Signature length (high nibble, in 4-byte words) and hash method.
    pub(crate) const SIG_LEN: usize = 1;
    pub(crate) const NEXT_HEADER: usize = 3;
    pub(crate) const LEN: usize = NEXT_HEADER + 1;
}

/// CAPWAP's first word: preamble, header length, WBID and the T flag.
pub(crate) mod capwap {
    use super::Field;
    pub(crate) const WORD0: Field = 0..4;
    pub(crate) const LEN: usize = WORD0.end;
}

// Every field ends within its header's LEN: the views' reads are in bounds.
const _: () = {
    assert!(ethernet::ETHERTYPE.end <= ethernet::LEN);
    assert!(sll::HATYPE.end <= sll::LEN && sll::PROTOCOL.end <= sll::LEN);
    assert!(sll2::PROTOCOL.end <= sll2::LEN && sll2::HATYPE.end <= sll2::LEN);
    assert!(ipv4::TOTAL_LEN.end <= ipv4::LEN && ipv4::IDENT.end <= ipv4::LEN);
    assert!(ipv4::FLAGS_FRAG.end <= ipv4::LEN && ipv4::PROTOCOL < ipv4::LEN);
    assert!(ipv4::SRC.end <= ipv4::LEN && ipv4::DST.end <= ipv4::LEN);
    assert!(ipv6::PAYLOAD_LEN.end <= ipv6::LEN && ipv6::NEXT_HEADER < ipv6::LEN);
    assert!(ipv6::SRC.end <= ipv6::LEN && ipv6::DST.end <= ipv6::LEN);
    assert!(ipv6_frag::FRAG_OFF.end <= ipv6_frag::LEN && ipv6_frag::IDENT.end <= ipv6_frag::LEN);
    assert!(ah::NEXT_HEADER < ah::LEN && ah::PAYLOAD_LEN < ah::LEN);
    assert!(ports::SRC_PORT.end <= ports::LEN && ports::DST_PORT.end <= ports::LEN);
    assert!(tcp::DATA_OFF < tcp::LEN && tcp::FLAGS < tcp::LEN);
    assert!(udp::LENGTH.end <= udp::LEN);
    assert!(gre::FLAGS.end <= gre::LEN && gre::PROTOCOL.end <= gre::LEN);
    assert!(vlan::ETHERTYPE.end <= vlan::LEN && chdlc::ETHERTYPE.end <= chdlc::LEN);
    assert!(geneve::VER_OPT_LEN < geneve::LEN && geneve::PROTOCOL.end <= geneve::LEN);
    assert!(nsh::TTL_LEN < nsh::LEN && nsh::NEXT_PROTOCOL < nsh::LEN);
    assert!(gtpu::FLAGS < gtpu::LEN && gtpu::MSG_TYPE < gtpu::LEN);
    assert!(ayiya::ID_LEN < ayiya::LEN && ayiya::SIG_LEN < ayiya::LEN);
    assert!(ayiya::NEXT_HEADER < ayiya::LEN && capwap::WORD0.end <= capwap::LEN);
};

/// A fixed-size view of a header: `$name::at(d, off)` is the header's one
/// length check, and holds its first `$len` bytes as an array.
macro_rules! view {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub(crate) struct $name<'a>(&'a [u8; $len]);

        impl<'a> $name<'a> {
            /// The header at `off` in `d`, if `d` holds all of it.
            #[inline]
            pub(crate) fn at(d: &'a [u8], off: usize) -> Option<Self> {
                d.get(off..)?.first_chunk::<{ $len }>().map($name)
            }
        }
    };
}

view!(
    /// An Ethernet II header.
    Ethernet,
    ethernet::LEN
);
view!(
    /// A Linux cooked v1 header.
    Sll,
    sll::LEN
);
view!(
    /// A Linux cooked v2 header.
    Sll2,
    sll2::LEN
);
view!(
    /// An IPv4 header's fixed 20 bytes.
    Ipv4,
    ipv4::LEN
);
view!(
    /// IPv6's fixed header.
    Ipv6,
    ipv6::LEN
);
view!(
    /// An IPv6 fragment header.
    Ipv6Frag,
    ipv6_frag::LEN
);
view!(
    /// The start of an IPv4 authentication header.
    Ah,
    ah::LEN
);
view!(
    /// The ports of a transport header.
    Ports,
    ports::LEN
);
view!(
    /// A TCP header up to its flags.
    Tcp,
    tcp::LEN
);
view!(
    /// A UDP header up to its length.
    Udp,
    udp::LEN
);
view!(
    /// GRE's fixed part.
    Gre,
    gre::LEN
);

view!(
    /// An 802.1Q tag.
    Vlan,
    vlan::LEN
);
view!(
    /// A Cisco HDLC header.
    Chdlc,
    chdlc::LEN
);
view!(
    /// Geneve's fixed part, up to the protocol type.
    Geneve,
    geneve::LEN
);
view!(
    /// NSH's base header.
    Nsh,
    nsh::LEN
);
view!(
    /// GTPv1-U's flags and message type.
    Gtpu,
    gtpu::LEN
);
view!(
    /// AYIYA's fixed part, up to the next header.
    Ayiya,
    ayiya::LEN
);
view!(
    /// CAPWAP's first word.
    Capwap,
    capwap::LEN
);

/// The big-endian two bytes of `f` in `h`.
#[inline]
fn be16<const N: usize>(h: &[u8; N], f: Field) -> u16 {
    u16::from_be_bytes([h[f.start], h[f.start + 1]])
}

/// The big-endian four bytes of `f` in `h`.
#[inline]
fn be32<const N: usize>(h: &[u8; N], f: Field) -> u32 {
    let s = f.start;
    u32::from_be_bytes([h[s], h[s + 1], h[s + 2], h[s + 3]])
}

/// The bytes of `f` in `h`, as an array.
#[inline]
fn array<const N: usize, const M: usize>(h: &[u8; N], f: Field) -> [u8; M] {
    let mut out = [0; M];
    out.copy_from_slice(&h[f]);
    out
}

impl Ethernet<'_> {
    pub(crate) fn ethertype(self) -> u16 {
        be16(self.0, ethernet::ETHERTYPE)
    }
}

impl Sll<'_> {
    pub(crate) fn hatype(self) -> u16 {
        be16(self.0, sll::HATYPE)
    }
    pub(crate) fn protocol(self) -> u16 {
        be16(self.0, sll::PROTOCOL)
    }
}

impl Sll2<'_> {
    pub(crate) fn protocol(self) -> u16 {
        be16(self.0, sll2::PROTOCOL)
    }
    pub(crate) fn hatype(self) -> u16 {
        be16(self.0, sll2::HATYPE)
    }
}

impl Ipv4<'_> {
    pub(crate) fn total_len(self) -> u16 {
        be16(self.0, ipv4::TOTAL_LEN)
    }
    pub(crate) fn ident(self) -> u16 {
        be16(self.0, ipv4::IDENT)
    }
    /// Flags (3 bits) and fragment offset (13 bits, in 8-byte units).
    pub(crate) fn flags_frag(self) -> u16 {
        be16(self.0, ipv4::FLAGS_FRAG)
    }
    pub(crate) fn protocol(self) -> u8 {
        self.0[ipv4::PROTOCOL]
    }
    pub(crate) fn src(self) -> [u8; 4] {
        array(self.0, ipv4::SRC)
    }
    pub(crate) fn dst(self) -> [u8; 4] {
        array(self.0, ipv4::DST)
    }
}

impl Ipv6<'_> {
    pub(crate) fn payload_len(self) -> u16 {
        be16(self.0, ipv6::PAYLOAD_LEN)
    }
    pub(crate) fn next_header(self) -> u8 {
        self.0[ipv6::NEXT_HEADER]
    }
    pub(crate) fn src(self) -> [u8; 16] {
        array(self.0, ipv6::SRC)
    }
    pub(crate) fn dst(self) -> [u8; 16] {
        array(self.0, ipv6::DST)
    }
}

impl Ipv6Frag<'_> {
    /// Fragment offset (13 bits, in 8-byte units), two reserved bits, M.
    pub(crate) fn frag_off(self) -> u16 {
        be16(self.0, ipv6_frag::FRAG_OFF)
    }
    pub(crate) fn ident(self) -> u32 {
        be32(self.0, ipv6_frag::IDENT)
    }
}

impl Ah<'_> {
    pub(crate) fn next_header(self) -> u8 {
        self.0[ah::NEXT_HEADER]
    }
    /// Length in 4-byte words, minus 2.
    pub(crate) fn payload_len(self) -> u8 {
        self.0[ah::PAYLOAD_LEN]
    }
}

impl Ports<'_> {
    pub(crate) fn src_port(self) -> u16 {
        be16(self.0, ports::SRC_PORT)
    }
    pub(crate) fn dst_port(self) -> u16 {
        be16(self.0, ports::DST_PORT)
    }
}

impl Tcp<'_> {
    /// Data offset (high nibble, in 4-byte words) and reserved bits.
    pub(crate) fn data_off(self) -> u8 {
        self.0[tcp::DATA_OFF]
    }
    pub(crate) fn flags(self) -> u8 {
        self.0[tcp::FLAGS]
    }
}

impl Udp<'_> {
    pub(crate) fn length(self) -> u16 {
        be16(self.0, udp::LENGTH)
    }
}

impl Gre<'_> {
    pub(crate) fn flags(self) -> u16 {
        be16(self.0, gre::FLAGS)
    }
    pub(crate) fn protocol(self) -> u16 {
        be16(self.0, gre::PROTOCOL)
    }
}

impl Vlan<'_> {
    pub(crate) fn ethertype(self) -> u16 {
        be16(self.0, vlan::ETHERTYPE)
    }
}

impl Chdlc<'_> {
    pub(crate) fn ethertype(self) -> u16 {
        be16(self.0, chdlc::ETHERTYPE)
    }
}

impl Geneve<'_> {
    /// Bytes of options after the fixed header.
    pub(crate) fn options_len(self) -> usize {
        (self.0[geneve::VER_OPT_LEN] & 0x3F) as usize * 4
    }
    pub(crate) fn protocol(self) -> u16 {
        be16(self.0, geneve::PROTOCOL)
    }
}

impl Nsh<'_> {
    /// The header's length in bytes.
    pub(crate) fn len(self) -> usize {
        (self.0[nsh::TTL_LEN] & 0x3F) as usize * 4
    }
    pub(crate) fn next_protocol(self) -> u8 {
        self.0[nsh::NEXT_PROTOCOL]
    }
}

impl Gtpu<'_> {
    pub(crate) fn flags(self) -> u8 {
        self.0[gtpu::FLAGS]
    }
    pub(crate) fn msg_type(self) -> u8 {
        self.0[gtpu::MSG_TYPE]
    }
}

impl Ayiya<'_> {
    /// Bytes of the identity.
    pub(crate) fn id_len(self) -> usize {
        1usize << (self.0[ayiya::ID_LEN] >> 4).min(15)
    }
    /// Bytes of the signature.
    pub(crate) fn sig_len(self) -> usize {
        (self.0[ayiya::SIG_LEN] >> 4) as usize * 4
    }
    pub(crate) fn next_header(self) -> u8 {
        self.0[ayiya::NEXT_HEADER]
    }
}

impl Capwap<'_> {
    pub(crate) fn word0(self) -> u32 {
        be32(self.0, capwap::WORD0)
    }
}
