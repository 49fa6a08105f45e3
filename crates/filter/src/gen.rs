//! What each primitive means for each link type: offsets of the link-layer
//! type field and payload, and the tests libpcap generates, in libpcap's
//! evaluation order.

use crate::bpf::{SKF_AD_OFF, SKF_AD_VLAN_TAG, SKF_AD_VLAN_TAG_PRESENT};
use crate::ir::{AluOp, Cmp, Node, Val};

/// Link-layer families the compiler knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Link {
    Ether,
    Sll,
    Sll2,
    /// Raw IP, version nibble decides (101, 12, 14).
    Raw,
    /// Raw IPv4 only (228).
    RawV4,
    /// Raw IPv6 only (229).
    RawV6,
    /// BSD loopback, family in the writer's byte order (0).
    Null,
    /// OpenBSD loopback, family in network order (108).
    Loop,
}

impl Link {
    pub(crate) fn from_link_type(lt: u32) -> Option<Link> {
        Some(match lt {
            1 => Link::Ether,
            113 => Link::Sll,
            276 => Link::Sll2,
            12 | 14 | 101 => Link::Raw,
            228 => Link::RawV4,
            229 => Link::RawV6,
            0 => Link::Null,
            108 => Link::Loop,
            _ => return None,
        })
    }
}

/// Protocol qualifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum P {
    Default,
    Link,
    Ip,
    Ip6,
    Arp,
    Rarp,
    Tcp,
    Udp,
    Icmp,
    Icmp6,
    Sctp,
    Igmp,
    Igrp,
    Pim,
    Vrrp,
    Carp,
    Ah,
    Esp,
}

impl P {
    pub(crate) fn name(self) -> &'static str {
        match self {
            P::Default => "",
            P::Link => "ether",
            P::Ip => "ip",
            P::Ip6 => "ip6",
            P::Arp => "arp",
            P::Rarp => "rarp",
            P::Tcp => "tcp",
            P::Udp => "udp",
            P::Icmp => "icmp",
            P::Icmp6 => "icmp6",
            P::Sctp => "sctp",
            P::Igmp => "igmp",
            P::Igrp => "igrp",
            P::Pim => "pim",
            P::Vrrp => "vrrp",
            P::Carp => "carp",
            P::Ah => "ah",
            P::Esp => "esp",
        }
    }
}

/// Direction qualifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Default,
    Src,
    Dst,
    Or,
    And,
}

/// Address-type qualifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Addr {
    Default,
    Host,
    Net,
    Port,
    Portrange,
    Proto,
}

/// A full qualifier set, inherited by bare ids after `and`/`or`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Q {
    pub proto: P,
    pub dir: Dir,
    pub addr: Addr,
}

/// An arithmetic value and the protocol test that must hold before it is computed.
#[derive(Clone, Debug)]
pub(crate) struct Arith {
    pub val: Val,
    pub cond: Option<Node>,
}

const ETHERMTU: u32 = 1500;
const ET_IP: u32 = 0x0800;
const ET_IPV6: u32 = 0x86dd;
const ET_ARP: u32 = 0x0806;
const ET_REVARP: u32 = 0x8035;
const ET_ATALK: u32 = 0x809b;
const ET_AARP: u32 = 0x80f3;
const ET_IPX: u32 = 0x8137;
const LLCSAP_IP: u32 = 0x06;
const LLCSAP_IPX: u32 = 0xe0;
const LLCSAP_NETBEUI: u32 = 0xf0;
const LLCSAP_ISONS: u32 = 0xfe;
const SLL_P_802_3: u32 = 0x0001;
const SLL_P_802_2: u32 = 0x0004;
const IPPROTO_FRAGMENT: u32 = 44;

/// Compilation state: the link type and the current offsets, which move by
/// four bytes after each `vlan` keyword, for the rest of the expression.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx {
    pub link: Link,
    pub link_type: u32,
    pub off_linktype: u32,
    pub off_linkpl: u32,
    pub vlan_depth: u32,
    pub linux_vlan_ext: bool,
}

fn and_opt(a: Option<Node>, b: Node) -> Node {
    match a {
        Some(a) => Node::and(a, b),
        None => b,
    }
}

fn le(size: u8, off: u32, v: u32) -> Node {
    Node::not(Node::atom(Val::load(size, off), Cmp::Gt, Val::K(v)))
}

impl Ctx {
    pub(crate) fn new(link: Link, link_type: u32, linux_vlan_ext: bool) -> Ctx {
        let (off_linktype, off_linkpl) = match link {
            Link::Ether => (12, 14),
            Link::Sll => (14, 16),
            Link::Sll2 => (0, 20),
            Link::Raw | Link::RawV4 | Link::RawV6 => (0, 0),
            Link::Null | Link::Loop => (0, 4),
        };
        Ctx {
            link,
            link_type,
            off_linktype,
            off_linkpl,
            vlan_depth: 0,
            linux_vlan_ext,
        }
    }

    fn link_desc(&self) -> String {
        format!("link type {}", self.link_type)
    }

    /// SNAP header after the 802.2 LLC header: `AA AA 03 oui(3) type(2)`.
    fn snap(&self, oui: u32, ptype: u32) -> Node {
        let llc = self.off_linkpl;
        let hi = 0xaaaa_0300 | (oui >> 16);
        let lo = ((oui & 0xffff) << 16) | ptype;
        Node::and(Node::cmp_eq(4, llc + 4, lo), Node::cmp_eq(4, llc, hi))
    }

    /// The test for a link-layer protocol (an Ethernet type, or an LLC SAP
    /// when 1500 or below).
    pub(crate) fn linktype(&self, proto: u32) -> Node {
        let lt = self.off_linktype;
        let pl = self.off_linkpl;
        match self.link {
            Link::Ether => {
                let is_8023 = || le(2, lt, ETHERMTU);
                match proto {
                    LLCSAP_ISONS | LLCSAP_IP | LLCSAP_NETBEUI => {
                        Node::and(is_8023(), Node::cmp_eq(2, pl, (proto << 8) | proto))
                    }
                    LLCSAP_IPX => {
                        let llc = Node::or(
                            self.snap(0, ET_IPX),
                            Node::or(Node::cmp_eq(1, pl, LLCSAP_IPX), Node::cmp_eq(2, pl, 0xffff)),
                        );
                        Node::or(Node::cmp_eq(2, lt, ET_IPX), Node::and(is_8023(), llc))
                    }
                    ET_ATALK | ET_AARP => {
                        let snap = if proto == ET_ATALK {
                            self.snap(0x080007, ET_ATALK)
                        } else {
                            self.snap(0, ET_AARP)
                        };
                        Node::or(Node::cmp_eq(2, lt, proto), Node::and(is_8023(), snap))
                    }
                    p if p <= ETHERMTU => Node::and(is_8023(), Node::cmp_eq(1, pl, p)),
                    p => Node::cmp_eq(2, lt, p),
                }
            }
            Link::Sll | Link::Sll2 => {
                let is_8022 = || Node::cmp_eq(2, lt, SLL_P_802_2);
                match proto {
                    LLCSAP_ISONS | LLCSAP_IP | LLCSAP_NETBEUI => {
                        Node::and(is_8022(), Node::cmp_eq(2, pl, (proto << 8) | proto))
                    }
                    LLCSAP_IPX => {
                        let llc = Node::and(
                            is_8022(),
                            Node::or(Node::cmp_eq(1, pl, LLCSAP_IPX), self.snap(0, ET_IPX)),
                        );
                        Node::or(
                            Node::cmp_eq(2, lt, ET_IPX),
                            Node::or(Node::cmp_eq(2, lt, SLL_P_802_3), llc),
                        )
                    }
                    ET_ATALK | ET_AARP => {
                        let snap = if proto == ET_ATALK {
                            self.snap(0x080007, ET_ATALK)
                        } else {
                            self.snap(0, ET_AARP)
                        };
                        Node::or(Node::cmp_eq(2, lt, proto), Node::and(is_8022(), snap))
                    }
                    p if p <= ETHERMTU => Node::and(is_8022(), Node::cmp_eq(1, pl, p)),
                    p => Node::cmp_eq(2, lt, p),
                }
            }
            Link::Raw => match proto {
                ET_IP => Node::mcmp_eq(1, 0, 0x40, 0xf0),
                ET_IPV6 => Node::mcmp_eq(1, 0, 0x60, 0xf0),
                _ => Node::False,
            },
            Link::RawV4 => {
                if proto == ET_IP {
                    Node::True
                } else {
                    Node::False
                }
            }
            Link::RawV6 => {
                if proto == ET_IPV6 {
                    Node::True
                } else {
                    Node::False
                }
            }
            Link::Null | Link::Loop => {
                let families: &[u32] = match proto {
                    ET_IP => &[2],
                    ET_IPV6 => &[24, 28, 30],
                    _ => return Node::False,
                };
                let mut node: Option<Node> = None;
                for &af in families {
                    let mut t = Node::cmp_eq(4, 0, af);
                    if self.link == Link::Null {
                        // The family is in the byte order of the machine that
                        // wrote the capture: accept either.
                        t = Node::or(Node::cmp_eq(4, 0, af.swap_bytes()), t);
                    }
                    node = Some(match node {
                        Some(n) => Node::or(n, t),
                        None => t,
                    });
                }
                node.unwrap_or(Node::False)
            }
        }
    }

    /// `ip proto v`, `ip6 proto v`, `proto v` (both) or `ether proto v`.
    pub(crate) fn proto(&self, v: u32, p: P) -> Result<Node, String> {
        let pl = self.off_linkpl;
        Ok(match p {
            P::Default => Node::or(self.proto(v, P::Ip)?, self.proto(v, P::Ip6)?),
            P::Ip => Node::and(self.linktype(ET_IP), Node::cmp_eq(1, pl + 9, v)),
            P::Ip6 => Node::and(
                self.linktype(ET_IPV6),
                Node::or(
                    Node::cmp_eq(1, pl + 6, v),
                    Node::and(
                        Node::cmp_eq(1, pl + 6, IPPROTO_FRAGMENT),
                        Node::cmp_eq(1, pl + 40, v),
                    ),
                ),
            ),
            P::Link => {
                if v > 0xffff {
                    return Err(format!("ether proto {v} is larger than 65535"));
                }
                self.linktype(v)
            }
            P::Arp | P::Rarp => {
                return Err(format!(
                    "'{} proto' is not meaningful: {} carries no other protocol",
                    p.name(),
                    p.name()
                ))
            }
            _ => return Err(format!("'{} proto' is not meaningful", p.name())),
        })
    }

    /// A protocol keyword on its own (`tcp`, `ip6`, `arp`...).
    pub(crate) fn proto_abbrev(&self, p: P) -> Result<Node, String> {
        Ok(match p {
            P::Ip => self.linktype(ET_IP),
            P::Ip6 => self.linktype(ET_IPV6),
            P::Arp => self.linktype(ET_ARP),
            P::Rarp => self.linktype(ET_REVARP),
            P::Tcp => self.proto(6, P::Default)?,
            P::Udp => self.proto(17, P::Default)?,
            P::Sctp => self.proto(132, P::Default)?,
            P::Icmp => self.proto(1, P::Ip)?,
            P::Icmp6 => self.proto(58, P::Ip6)?,
            P::Igmp => self.proto(2, P::Ip)?,
            P::Igrp => self.proto(9, P::Ip)?,
            P::Pim => self.proto(103, P::Default)?,
            P::Vrrp | P::Carp => self.proto(112, P::Ip)?,
            P::Ah => self.proto(51, P::Default)?,
            P::Esp => self.proto(50, P::Default)?,
            P::Link => return Err("'ether' needs a qualifier such as 'host' or 'proto'".into()),
            P::Default => return Err("expected a protocol".into()),
        })
    }

    fn hostop(&self, addr: u32, mask: u32, dir: Dir, et: u32, src: u32, dst: u32) -> Node {
        let pl = self.off_linkpl;
        let side = |off: u32| Node::and(self.linktype(et), Node::mcmp_eq(4, pl + off, addr, mask));
        match dir {
            Dir::Src => side(src),
            Dir::Dst => side(dst),
            Dir::And => Node::and(side(src), side(dst)),
            Dir::Default | Dir::Or => Node::or(side(src), side(dst)),
        }
    }

    /// An IPv4 host or network (`what` is "host" or "net", for messages).
    pub(crate) fn host4(
        &self,
        addr: u32,
        mask: u32,
        p: P,
        dir: Dir,
        what: &str,
    ) -> Result<Node, String> {
        Ok(match p {
            P::Default => Node::or(
                Node::or(
                    self.host4(addr, mask, P::Ip, dir, what)?,
                    self.host4(addr, mask, P::Arp, dir, what)?,
                ),
                self.host4(addr, mask, P::Rarp, dir, what)?,
            ),
            P::Ip => self.hostop(addr, mask, dir, ET_IP, 12, 16),
            P::Arp => self.hostop(addr, mask, dir, ET_ARP, 14, 24),
            P::Rarp => self.hostop(addr, mask, dir, ET_REVARP, 14, 24),
            P::Link => return Err(format!("'ether' modifier applied to an IPv4 {what}")),
            P::Ip6 => return Err(format!("'ip6' modifier applied to an IPv4 {what}")),
            other => return Err(format!("'{}' modifier applied to {what}", other.name())),
        })
    }

    /// An IPv6 host or network.
    pub(crate) fn host6(
        &self,
        addr: [u32; 4],
        mask: [u32; 4],
        p: P,
        dir: Dir,
        what: &str,
    ) -> Result<Node, String> {
        match p {
            P::Default | P::Ip6 => {}
            P::Link => return Err(format!("'ether' modifier applied to an IPv6 {what}")),
            other => {
                return Err(format!(
                    "'{}' modifier applied to an IPv6 {what}",
                    other.name()
                ))
            }
        }
        let pl = self.off_linkpl;
        let side = |off: u32| {
            let mut node = self.linktype(ET_IPV6);
            for i in 0..4 {
                if mask[i] != 0 {
                    node = Node::and(
                        node,
                        Node::mcmp_eq(4, pl + off + 4 * i as u32, addr[i], mask[i]),
                    );
                }
            }
            node
        };
        Ok(match dir {
            Dir::Src => side(8),
            Dir::Dst => side(24),
            Dir::And => Node::and(side(8), side(24)),
            Dir::Default | Dir::Or => Node::or(side(8), side(24)),
        })
    }

    /// `ether host/src/dst MAC`.
    pub(crate) fn ether_host(&self, mac: [u8; 6], dir: Dir) -> Result<Node, String> {
        if self.link != Link::Ether {
            return Err(format!(
                "Ethernet addresses are supported only on Ethernet, not on {}",
                self.link_desc()
            ));
        }
        let at = |off: u32| {
            let w = u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]);
            let h = u16::from_be_bytes([mac[0], mac[1]]) as u32;
            Node::and(Node::cmp_eq(4, off + 2, w), Node::cmp_eq(2, off, h))
        };
        Ok(match dir {
            Dir::Src => at(6),
            Dir::Dst => at(0),
            Dir::And => Node::and(at(6), at(0)),
            Dir::Default | Dir::Or => Node::or(at(6), at(0)),
        })
    }

    fn dir_test(dir: Dir, atom: impl Fn(u32) -> Node) -> Node {
        match dir {
            Dir::Src => atom(0),
            Dir::Dst => atom(2),
            Dir::And => Node::and(atom(0), atom(2)),
            Dir::Default | Dir::Or => Node::or(atom(0), atom(2)),
        }
    }

    /// Not a fragment other than the first: `ip[6:2] & 0x1fff == 0`.
    pub(crate) fn ipfrag_ok(&self) -> Node {
        Node::not(Node::atom(
            Val::load(2, self.off_linkpl + 6),
            Cmp::Set,
            Val::K(0x1fff),
        ))
    }

    fn tcp_udp_sctp(ipproto: Option<u32>, each: impl Fn(u32) -> Node) -> Node {
        match ipproto {
            Some(p) => each(p),
            None => Node::or(each(132), Node::or(each(6), each(17))),
        }
    }

    /// A transport port test (`lo..=hi`; one port when equal) over IPv6 then IPv4.
    pub(crate) fn port_range(&self, lo: u32, hi: u32, ipproto: Option<u32>, dir: Dir) -> Node {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let pl = self.off_linkpl;
        let test = |v: Val| {
            if lo == hi {
                Node::atom(v, Cmp::Eq, Val::K(lo))
            } else {
                Node::and(
                    Node::atom(v.clone(), Cmp::Ge, Val::K(lo)),
                    Node::not(Node::atom(v, Cmp::Gt, Val::K(hi))),
                )
            }
        };
        let v6 = Node::and(
            self.linktype(ET_IPV6),
            Self::tcp_udp_sctp(ipproto, |p| {
                Node::and(
                    Node::cmp_eq(1, pl + 6, p),
                    Self::dir_test(dir, |off| test(Val::load(2, pl + 40 + off))),
                )
            }),
        );
        let v4 = Node::and(
            self.linktype(ET_IP),
            Self::tcp_udp_sctp(ipproto, |p| {
                Node::and(
                    Node::and(Node::cmp_eq(1, pl + 9, p), self.ipfrag_ok()),
                    Self::dir_test(dir, |off| {
                        test(Val::Load {
                            size: 2,
                            off: pl + off,
                            index: Some(Box::new(Val::IpHdrLen(pl))),
                        })
                    }),
                )
            }),
        );
        Node::or(v6, v4)
    }

    /// `vlan` or `vlan N`: afterwards every offset moves past the tag.
    pub(crate) fn vlan(&mut self, id: Option<u32>) -> Result<Node, String> {
        if self.link != Link::Ether {
            return Err(format!("no VLAN support for {}", self.link_desc()));
        }
        if let Some(v) = id {
            if v > 4095 {
                return Err(format!("VLAN id {v} is greater than the maximum 4095"));
            }
        }
        let node = if self.linux_vlan_ext && self.vlan_depth == 0 {
            // The kernel took the outer tag out of the frame: ask it.
            let present = Node::atom(
                Val::load(4, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT),
                Cmp::Eq,
                Val::K(1),
            );
            match id {
                Some(v) => Node::and(
                    present,
                    Node::atom(
                        Val::Alu(
                            AluOp::And,
                            Box::new(Val::load(4, SKF_AD_OFF + SKF_AD_VLAN_TAG)),
                            Box::new(Val::K(0x0fff)),
                        ),
                        Cmp::Eq,
                        Val::K(v),
                    ),
                ),
                None => present,
            }
        } else {
            let tpid = Node::or(
                Node::or(self.linktype(0x8100), self.linktype(0x88a8)),
                self.linktype(0x9100),
            );
            let node = match id {
                Some(v) => Node::and(tpid, Node::mcmp_eq(2, self.off_linkpl, v, 0x0fff)),
                None => tpid,
            };
            self.off_linktype += 4;
            self.off_linkpl += 4;
            node
        };
        self.vlan_depth += 1;
        Ok(node)
    }

    /// `[pqual] broadcast`.
    pub(crate) fn broadcast(&self, p: P) -> Result<Node, String> {
        match p {
            P::Default | P::Link => {
                if self.link == Link::Ether {
                    Ok(Node::and(
                        Node::cmp_eq(4, 2, 0xffff_ffff),
                        Node::cmp_eq(2, 0, 0xffff),
                    ))
                } else {
                    Err(format!(
                        "'broadcast' needs an Ethernet link: {} is not a broadcast link",
                        self.link_desc()
                    ))
                }
            }
            P::Ip => Err("'ip broadcast' is not supported: it needs the network's netmask".into()),
            _ => Err("only Ethernet and IP broadcast filters exist ('ether broadcast')".into()),
        }
    }

    /// `[pqual] multicast`.
    pub(crate) fn multicast(&self, p: P) -> Result<Node, String> {
        let pl = self.off_linkpl;
        match p {
            P::Default | P::Link => {
                if self.link == Link::Ether {
                    Ok(Node::atom(Val::load(1, 0), Cmp::Set, Val::K(1)))
                } else {
                    Err(format!(
                        "link-layer multicast needs an Ethernet link, not {}",
                        self.link_desc()
                    ))
                }
            }
            P::Ip => Ok(Node::and(
                self.linktype(ET_IP),
                Node::atom(Val::load(1, pl + 16), Cmp::Ge, Val::K(224)),
            )),
            P::Ip6 => Ok(Node::and(
                self.linktype(ET_IPV6),
                Node::cmp_eq(1, pl + 24, 255),
            )),
            _ => Err("only link-layer, IP and IPv6 multicast filters exist".into()),
        }
    }

    /// `proto[index : size]`.
    pub(crate) fn load(&self, p: P, index: Arith, size: u32) -> Result<Arith, String> {
        let size = match size {
            1 | 2 | 4 => size as u8,
            _ => return Err(format!("data size must be 1, 2 or 4, not {size}")),
        };
        let pl = self.off_linkpl;
        // The load at `base + index`, with constant indexes folded in.
        let at = |base: u32, extra: Option<Val>| -> Val {
            let idx = index.val.clone();
            match (idx, extra) {
                (Val::K(n), None) => match base.checked_add(n) {
                    Some(off) => Val::load(size, off),
                    None => Val::Load {
                        size,
                        off: base,
                        index: Some(Box::new(Val::K(n))),
                    },
                },
                (Val::K(n), Some(x)) => match base.checked_add(n) {
                    Some(off) => Val::Load {
                        size,
                        off,
                        index: Some(Box::new(x)),
                    },
                    None => Val::Load {
                        size,
                        off: base,
                        index: Some(Box::new(Val::Alu(
                            AluOp::Add,
                            Box::new(Val::K(n)),
                            Box::new(x),
                        ))),
                    },
                },
                (v, None) => Val::Load {
                    size,
                    off: base,
                    index: Some(Box::new(v)),
                },
                (v, Some(x)) => Val::Load {
                    size,
                    off: base,
                    index: Some(Box::new(Val::Alu(AluOp::Add, Box::new(v), Box::new(x)))),
                },
            }
        };
        Ok(match p {
            P::Link => Arith {
                val: at(0, None),
                cond: index.cond.clone(),
            },
            P::Ip | P::Ip6 | P::Arp | P::Rarp => Arith {
                val: at(pl, None),
                cond: Some(and_opt(index.cond.clone(), self.proto_abbrev(p)?)),
            },
            P::Tcp
            | P::Udp
            | P::Icmp
            | P::Sctp
            | P::Igmp
            | P::Igrp
            | P::Pim
            | P::Vrrp
            | P::Carp => {
                let inner = Node::and(self.proto_abbrev(p)?, self.ipfrag_ok());
                let cond = Node::and(self.linktype(ET_IP), and_opt(index.cond.clone(), inner));
                Arith {
                    val: at(pl, Some(Val::IpHdrLen(pl))),
                    cond: Some(cond),
                }
            }
            P::Icmp6 => {
                let cond = Node::and(
                    and_opt(index.cond.clone(), self.linktype(ET_IPV6)),
                    Node::cmp_eq(1, pl + 6, 58),
                );
                Arith {
                    val: at(pl + 40, None),
                    cond: Some(cond),
                }
            }
            other => return Err(format!("'{}[...]' is not supported", other.name())),
        })
    }
}
