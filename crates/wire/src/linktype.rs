//! Link-layer header type numbers (`LINKTYPE_*` as stored in pcap and pcapng).

/// BSD loopback: 4-byte address family in the writer's byte order.
pub const NULL: u32 = 0;
/// Ethernet II / 802.3.
pub const ETHERNET: u32 = 1;
/// BSD/OS SLIP with its 16-byte pseudo-header.
pub const SLIP: u32 = 8;
/// FDDI.
pub const FDDI: u32 = 10;
/// PPP, with or without HDLC address/control bytes.
pub const PPP: u32 = 9;
/// Raw IP (DLT_RAW on most systems).
pub const RAW_12: u32 = 12;
/// Raw IP (DLT_RAW on OpenBSD).
pub const RAW_14: u32 = 14;
/// PPP in HDLC-like framing.
pub const PPP_HDLC: u32 = 50;
/// PPPoE session header then PPP.
pub const PPP_ETHER: u32 = 51;
/// Raw IP (LINKTYPE_RAW).
pub const RAW: u32 = 101;
/// Cisco HDLC.
pub const C_HDLC: u32 = 104;
/// IEEE 802.11 without radio header.
pub const IEEE802_11: u32 = 105;
/// Frame Relay.
pub const FRELAY: u32 = 107;
/// Linux ARCNET.
pub const ARCNET_LINUX: u32 = 129;
/// Per-Packet Information header, then another link type.
pub const PPI: u32 = 192;
/// Solaris ipnet.
pub const IPNET: u32 = 226;
/// Linux netfilter log.
pub const NFLOG: u32 = 239;
/// IP over InfiniBand.
pub const IPOIB: u32 = 242;
/// Apple PKTAP header, then another link type.
pub const PKTAP: u32 = 258;
/// OpenBSD loopback: address family in network byte order.
pub const LOOP: u32 = 108;
/// Linux cooked capture v1.
pub const LINUX_SLL: u32 = 113;
/// 802.11 with radiotap header.
pub const IEEE802_11_RADIOTAP: u32 = 127;
/// PPP with a direction byte.
pub const PPP_WITH_DIR: u32 = 204;
/// Cisco HDLC with a direction byte.
pub const C_HDLC_WITH_DIR: u32 = 205;
/// Raw IPv4.
pub const IPV4: u32 = 228;
/// Raw IPv6.
pub const IPV6: u32 = 229;
/// Linux cooked capture v2.
pub const LINUX_SLL2: u32 = 276;

/// Whether the decoder understands this link type.
pub fn is_supported(lt: u32) -> bool {
    matches!(
        lt,
        NULL | ETHERNET
            | FDDI
            | ARCNET_LINUX
            | PPI
            | IPNET
            | NFLOG
            | IPOIB
            | PKTAP
            | SLIP
            | PPP
            | RAW_12
            | RAW_14
            | PPP_HDLC
            | PPP_ETHER
            | RAW
            | C_HDLC
            | IEEE802_11
            | FRELAY
            | LOOP
            | LINUX_SLL
            | IEEE802_11_RADIOTAP
            | PPP_WITH_DIR
            | C_HDLC_WITH_DIR
            | IPV4
            | IPV6
            | LINUX_SLL2
    )
}

/// Short name of a link type, as tcpdump prints it where known.
pub fn name(lt: u32) -> String {
    let s = match lt {
        NULL => "null",
        ETHERNET => "ether",
        SLIP => "slip",
        FDDI => "fddi",
        ARCNET_LINUX => "arcnet_linux",
        PPI => "ppi",
        IPNET => "ipnet",
        NFLOG => "nflog",
        IPOIB => "ipoib",
        PKTAP => "pktap",
        PPP => "ppp",
        RAW_12 | RAW_14 | RAW => "raw",
        PPP_HDLC => "ppp_hdlc",
        PPP_ETHER => "pppoe",
        C_HDLC => "c_hdlc",
        IEEE802_11 => "ieee802_11",
        FRELAY => "frelay",
        LOOP => "loop",
        LINUX_SLL => "linux_sll",
        IEEE802_11_RADIOTAP => "ieee802_11_radiotap",
        PPP_WITH_DIR => "ppp_with_dir",
        C_HDLC_WITH_DIR => "c_hdlc_with_dir",
        IPV4 => "ipv4",
        IPV6 => "ipv6",
        LINUX_SLL2 => "linux_sll2",
        _ => return format!("linktype_{lt}"),
    };
    s.to_string()
}
