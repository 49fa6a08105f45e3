//! What the detectors see of one packet: the outermost IP header's facts
//! and a borrowed view of the transport payload (for DNS names and ICMP
//! types). Nothing here is copied or kept beyond the call.

use std::net::IpAddr;

use wirewatch_wire::{proto, IpLayer, PacketMeta, Timestamp};

/// One packet, as the detectors see it.
#[derive(Clone, Copy, Debug)]
pub struct Obs<'a> {
    /// Capture time: the detectors' only clock.
    pub ts: Timestamp,
    /// The caller's interface index (as flows carry it).
    pub iface: u16,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol.
    pub protocol: u8,
    /// Source port (0 without ports).
    pub src_port: u16,
    /// Destination port (0 without ports).
    pub dst_port: u16,
    /// Ports were read from the packet.
    pub has_ports: bool,
    /// IP length in bytes.
    pub ip_len: u32,
    /// TCP flags (0 for other protocols).
    pub tcp_flags: u8,
    /// A fragment other than the first (no transport header).
    pub later_fragment: bool,
    /// The transport header and what follows, as captured (may be cut
    /// short by the snap length); empty when there is none.
    pub l4: &'a [u8],
}

impl<'a> Obs<'a> {
    /// The detectors' view of a decoded frame, or `None` for a frame
    /// without IP. `frame` is the captured bytes `meta` was decoded from.
    pub fn new(meta: &PacketMeta, frame: &'a [u8], iface: u16) -> Option<Obs<'a>> {
        let l = meta.layers.outer()?;
        Some(Obs::of_layer(meta.ts, l, frame, iface))
    }

    /// The view of one IP header `l` of a frame captured at `ts` (`frame`
    /// the bytes it was decoded from).
    pub fn of_layer(ts: Timestamp, l: &IpLayer, frame: &'a [u8], iface: u16) -> Obs<'a> {
        let l4 = match l.l4_offset as usize {
            0 => &[][..],
            off => frame.get(off..).unwrap_or(&[]),
        };
        Obs {
            ts,
            iface,
            src: l.src,
            dst: l.dst,
            protocol: l.protocol,
            src_port: l.src_port,
            dst_port: l.dst_port,
            has_ports: l.has_ports,
            ip_len: l.ip_len,
            tcp_flags: l.tcp_flags,
            later_fragment: l.is_later_fragment(),
            l4,
        }
    }

    /// A TCP SYN without ACK: a connection attempt.
    pub fn is_syn(&self) -> bool {
        self.protocol == proto::TCP && self.tcp_flags & 0x12 == 0x02
    }

    /// A TCP SYN-ACK: the answer to a connection attempt.
    pub fn is_syn_ack(&self) -> bool {
        self.protocol == proto::TCP && self.tcp_flags & 0x12 == 0x12
    }

    /// ICMP or ICMPv6 type, when the header was captured.
    pub fn icmp_type(&self) -> Option<u8> {
        match self.protocol {
            proto::ICMP | proto::ICMPV6 => self.l4.first().copied(),
            _ => None,
        }
    }

    /// The UDP payload (after the 8-byte header), for UDP packets.
    pub fn udp_payload(&self) -> Option<&'a [u8]> {
        if self.protocol == proto::UDP && !self.later_fragment {
            self.l4.get(8..)
        } else {
            None
        }
    }
}
