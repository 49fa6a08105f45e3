//! Recursive-descent parser for pcap-filter expressions, generating the
//! intermediate tree as it goes (like libpcap's grammar actions, so `vlan`
//! moves the offsets of everything parsed after it).
//!
//! `and` and `or` have equal precedence and associate to the left; `not`
//! binds tightest. A bare address, number or name after `and`/`or` reuses the
//! qualifiers of the primitive before it (`host a or b`, `port 80 or 443`).

use std::net::Ipv6Addr;

use crate::gen::{Addr, Arith, Ctx, Dir, P, Q};
use crate::ir::{AluOp, Cmp, Node, Val};
use crate::lex::{Kw, Tok, Token};
use crate::FilterError;

/// Well-known service names (port numbers), used like their numbers.
const SERVICES: &[(&str, u32)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("http", 80),
    ("www", 80),
    ("kerberos", 88),
    ("pop3", 110),
    ("sunrpc", 111),
    ("nntp", 119),
    ("ntp", 123),
    ("netbios-ns", 137),
    ("netbios-dgm", 138),
    ("netbios-ssn", 139),
    ("imap", 143),
    ("imap2", 143),
    ("snmp", 161),
    ("snmp-trap", 162),
    ("bgp", 179),
    ("ldap", 389),
    ("https", 443),
    ("microsoft-ds", 445),
    ("isakmp", 500),
    ("syslog", 514),
    ("submission", 587),
    ("ldaps", 636),
    ("imaps", 993),
    ("pop3s", 995),
    ("openvpn", 1194),
    ("radius", 1812),
    ("nfs", 2049),
    ("mysql", 3306),
    ("rdp", 3389),
    ("sip", 5060),
    ("postgresql", 5432),
];

/// IP protocol names (`ip proto \tcp`, `ip proto gre`).
const IP_PROTOS: &[(&str, u32)] = &[
    ("ip", 0),
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ggp", 3),
    ("ipencap", 4),
    ("st", 5),
    ("tcp", 6),
    ("egp", 8),
    ("igp", 9),
    ("igrp", 9),
    ("pup", 12),
    ("udp", 17),
    ("hmp", 20),
    ("xns-idp", 22),
    ("rdp", 27),
    ("iso-tp4", 29),
    ("dccp", 33),
    ("xtp", 36),
    ("ddp", 37),
    ("idpr-cmtp", 38),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("idrp", 45),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("skip", 57),
    ("ipv6-icmp", 58),
    ("icmp6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("rspf", 73),
    ("vmtp", 81),
    ("eigrp", 88),
    ("ospf", 89),
    ("ax.25", 93),
    ("ipip", 94),
    ("etherip", 97),
    ("encap", 98),
    ("pim", 103),
    ("ipcomp", 108),
    ("vrrp", 112),
    ("carp", 112),
    ("l2tp", 115),
    ("isis", 124),
    ("sctp", 132),
    ("fc", 133),
    ("mobility-header", 135),
    ("udplite", 136),
    ("mpls-in-ip", 137),
    ("manet", 138),
    ("hip", 139),
    ("shim6", 140),
    ("wesp", 141),
    ("rohc", 142),
];

/// Link-layer protocol names (`ether proto \arp`).
const ETHER_PROTOS: &[(&str, u32)] = &[
    ("ip", 0x0800),
    ("ip6", 0x86dd),
    ("arp", 0x0806),
    ("rarp", 0x8035),
    ("atalk", 0x809b),
    ("aarp", 0x80f3),
    ("ipx", 0x8137),
    ("decnet", 0x6003),
    ("sca", 0x6007),
    ("lat", 0x6004),
    ("mopdl", 0x6001),
    ("moprc", 0x6002),
    ("loopback", 0x9000),
    ("iso", 0xfe),
    ("stp", 0x42),
    ("netbeui", 0xf0),
];

fn lookup(table: &[(&str, u32)], name: &str) -> Option<u32> {
    table.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

type PResult<T> = Result<T, FilterError>;

pub(crate) struct Parser {
    toks: Vec<Token>,
    pos: usize,
    pub(crate) ctx: Ctx,
}

fn describe(t: &Token) -> String {
    match t.tok {
        Tok::Eof => "the end of the expression".to_string(),
        _ => format!("'{}'", t.text),
    }
}

fn pname(kw: Kw) -> Option<P> {
    Some(match kw {
        Kw::Link => P::Link,
        Kw::Ip => P::Ip,
        Kw::Ip6 => P::Ip6,
        Kw::Arp => P::Arp,
        Kw::Rarp => P::Rarp,
        Kw::Tcp => P::Tcp,
        Kw::Udp => P::Udp,
        Kw::Icmp => P::Icmp,
        Kw::Icmp6 => P::Icmp6,
        Kw::Sctp => P::Sctp,
        Kw::Igmp => P::Igmp,
        Kw::Igrp => P::Igrp,
        Kw::Pim => P::Pim,
        Kw::Vrrp => P::Vrrp,
        Kw::Carp => P::Carp,
        Kw::Ah => P::Ah,
        Kw::Esp => P::Esp,
        _ => return None,
    })
}

/// Binary arithmetic operators with yacc precedence (`None`: the grammar
/// gives them none, so yacc always shifts past them).
fn binop(t: &Tok) -> Option<(AluOp, Option<u8>)> {
    Some(match t {
        Tok::Pipe => (AluOp::Or, Some(1)),
        Tok::Amp => (AluOp::And, Some(2)),
        Tok::Shl => (AluOp::Lsh, Some(3)),
        Tok::Shr => (AluOp::Rsh, Some(3)),
        Tok::Plus => (AluOp::Add, Some(4)),
        Tok::Minus => (AluOp::Sub, Some(4)),
        Tok::Star => (AluOp::Mul, Some(5)),
        Tok::Slash => (AluOp::Div, Some(5)),
        Tok::Percent => (AluOp::Mod, None),
        Tok::Caret => (AluOp::Xor, None),
        _ => return None,
    })
}

const UMINUS_PREC: u8 = 6;

/// Parses `a.b.c.d` (1 to 4 parts): the value and its number of bits.
fn atoin(s: &str) -> Option<(u32, u32)> {
    let mut v: u32 = 0;
    let mut bits = 0;
    for part in s.split('.') {
        let n: u32 = part.parse().ok().filter(|n| *n <= 255)?;
        v = (v << 8) | n;
        bits += 8;
    }
    Some((v, bits))
}

fn shl(v: u32, by: u32) -> u32 {
    v.checked_shl(by).unwrap_or(0)
}

impl Parser {
    pub(crate) fn new(toks: Vec<Token>, ctx: Ctx) -> Parser {
        Parser { toks, pos: 0, ctx }
    }

    fn peek(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn err_here(&self, msg: impl Into<String>) -> FilterError {
        FilterError::new(self.peek().col, msg)
    }

    /// The number token here (consumed), or "expected WHAT after 'AFTER'".
    fn number_after(&mut self, what: &str, after: &str) -> Result<u32, FilterError> {
        let Tok::Num(n) = self.peek().tok else {
            return Err(self.err_here(format!(
                "expected {what} after '{after}', found {}",
                describe(self.peek())
            )));
        };
        self.bump();
        Ok(n)
    }

    fn is_kw(&self, kw: Kw) -> bool {
        self.peek().tok == Tok::Kw(kw)
    }

    fn save(&self) -> (usize, Ctx) {
        (self.pos, self.ctx)
    }

    fn restore(&mut self, s: (usize, Ctx)) {
        self.pos = s.0;
        self.ctx = s.1;
    }

    fn unsupported(&self, t: &Token) -> FilterError {
        FilterError::new(
            t.col,
            format!("'{}' is not supported by the filter compiler", t.text),
        )
    }

    /// The whole expression; empty means accept everything.
    pub(crate) fn program(&mut self) -> PResult<Node> {
        if self.peek().tok == Tok::Eof {
            return Ok(Node::True);
        }
        let (node, _) = self.expr(None)?;
        if self.peek().tok != Tok::Eof {
            return Err(self.err_here(format!(
                "expected 'and', 'or' or the end of the expression, found {}",
                describe(self.peek())
            )));
        }
        Ok(node)
    }

    /// `term ((and|or) (term|id))*`, left to right, equal precedence.
    fn expr(&mut self, inh: Option<Q>) -> PResult<(Node, Option<Q>)> {
        let (mut node, mut q) = self.term(inh)?;
        loop {
            let is_and = if self.is_kw(Kw::And) {
                true
            } else if self.is_kw(Kw::Or) {
                false
            } else {
                break;
            };
            self.bump();
            let (rhs, q2) = self.operand(q)?;
            node = if is_and {
                Node::and(node, rhs)
            } else {
                Node::or(node, rhs)
            };
            q = q2;
        }
        Ok((node, q))
    }

    fn looks_like_id(&self) -> bool {
        matches!(
            self.peek().tok,
            Tok::Num(_)
                | Tok::Hid(_)
                | Tok::Hid6(_)
                | Tok::Eid(_)
                | Tok::Id(_)
                | Tok::Kw(Kw::Not)
                | Tok::LParen
        )
    }

    fn at_operand_end(&self) -> bool {
        matches!(
            self.peek().tok,
            Tok::Eof | Tok::RParen | Tok::Kw(Kw::And) | Tok::Kw(Kw::Or)
        )
    }

    /// After `and`/`or`: a bare id with the inherited qualifiers, or a term.
    fn operand(&mut self, q: Option<Q>) -> PResult<(Node, Option<Q>)> {
        let mut id_err = None;
        if let Some(q) = q {
            if self.looks_like_id() {
                let saved = self.save();
                match self.id(q) {
                    Ok(n) if self.at_operand_end() => return Ok((n, Some(q))),
                    Ok(_) => {
                        id_err = Some(self.err_here(format!(
                            "expected 'and', 'or' or the end of the expression, found {}",
                            describe(self.peek())
                        )))
                    }
                    Err(e) => id_err = Some(e),
                }
                self.restore(saved);
            }
        }
        match self.term(q) {
            Ok(r) => Ok(r),
            Err(e) => match id_err {
                Some(ie) if ie.column > e.column => Err(ie),
                _ => Err(e),
            },
        }
    }

    fn term(&mut self, inh: Option<Q>) -> PResult<(Node, Option<Q>)> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::Kw(Kw::Not) => {
                self.bump();
                let (n, q) = self.term(inh)?;
                Ok((Node::not(n), q))
            }
            Tok::LParen => {
                let saved = self.save();
                self.bump();
                let as_expr = self.expr(inh).and_then(|(n, _)| {
                    if self.peek().tok == Tok::RParen {
                        self.bump();
                        Ok(n)
                    } else {
                        Err(self.err_here(format!("expected ')', found {}", describe(self.peek()))))
                    }
                });
                match as_expr {
                    Ok(n) => Ok((n, inh)),
                    Err(e1) => {
                        self.restore(saved);
                        match self.relation() {
                            Ok(n) => Ok((n, None)),
                            Err(e2) => Err(if e1.column >= e2.column { e1 } else { e2 }),
                        }
                    }
                }
            }
            Tok::Kw(kw) => {
                let kw = *kw;
                if let Some(p) = pname(kw) {
                    let next = self.peek_at(1).clone();
                    return match next {
                        Tok::LBrack => Ok((self.relation()?, None)),
                        Tok::Kw(
                            Kw::Src
                            | Kw::Dst
                            | Kw::Host
                            | Kw::Net
                            | Kw::Port
                            | Kw::Portrange
                            | Kw::Proto,
                        ) => {
                            self.bump();
                            self.head(p)
                        }
                        Tok::Kw(Kw::Unsupported("gateway" | "protochain")) => {
                            self.bump();
                            let u = self.peek().clone();
                            Err(self.unsupported(&u))
                        }
                        Tok::Kw(Kw::Broadcast) => {
                            self.bump();
                            self.bump();
                            Ok((
                                self.ctx
                                    .broadcast(p)
                                    .map_err(|m| FilterError::new(t.col, m))?,
                                None,
                            ))
                        }
                        Tok::Kw(Kw::Multicast) => {
                            self.bump();
                            self.bump();
                            Ok((
                                self.ctx
                                    .multicast(p)
                                    .map_err(|m| FilterError::new(t.col, m))?,
                                None,
                            ))
                        }
                        _ => {
                            self.bump();
                            let n = self
                                .ctx
                                .proto_abbrev(p)
                                .map_err(|m| FilterError::new(t.col, m))?;
                            Ok((n, None))
                        }
                    };
                }
                match kw {
                    Kw::Src
                    | Kw::Dst
                    | Kw::Host
                    | Kw::Net
                    | Kw::Port
                    | Kw::Portrange
                    | Kw::Proto => self.head(P::Default),
                    Kw::Broadcast => {
                        self.bump();
                        Ok((
                            self.ctx
                                .broadcast(P::Default)
                                .map_err(|m| FilterError::new(t.col, m))?,
                            None,
                        ))
                    }
                    Kw::Multicast => {
                        self.bump();
                        Ok((
                            self.ctx
                                .multicast(P::Default)
                                .map_err(|m| FilterError::new(t.col, m))?,
                            None,
                        ))
                    }
                    Kw::Less | Kw::Greater => {
                        self.bump();
                        let n = self.number_after("a number", &t.text)?;
                        let node = if kw == Kw::Less {
                            Node::not(Node::atom(Val::Len, Cmp::Gt, Val::K(n)))
                        } else {
                            Node::atom(Val::Len, Cmp::Ge, Val::K(n))
                        };
                        Ok((node, None))
                    }
                    Kw::Vlan => {
                        self.bump();
                        let id = if matches!(self.peek().tok, Tok::Num(_) | Tok::LParen) {
                            Some(self.pnum()?)
                        } else {
                            None
                        };
                        let n = self.ctx.vlan(id).map_err(|m| FilterError::new(t.col, m))?;
                        Ok((n, None))
                    }
                    Kw::Len => Ok((self.relation()?, None)),
                    Kw::Unsupported(_) => Err(self.unsupported(&t)),
                    _ => Err(self.err_here(format!(
                        "expected a filter primitive such as 'host', 'port' or 'tcp', found {}",
                        describe(&t)
                    ))),
                }
            }
            Tok::Num(_) | Tok::Minus => Ok((self.relation()?, None)),
            _ => Err(self.err_here(format!(
                "expected a filter primitive such as 'host', 'port' or 'tcp', found {}",
                describe(&t)
            ))),
        }
    }

    /// `pnum: NUM | '(' pnum ')'`.
    fn pnum(&mut self) -> PResult<u32> {
        match self.peek().tok {
            Tok::Num(n) => {
                self.bump();
                Ok(n)
            }
            Tok::LParen => {
                self.bump();
                let n = self.pnum()?;
                if self.peek().tok != Tok::RParen {
                    return Err(
                        self.err_here(format!("expected ')', found {}", describe(self.peek())))
                    );
                }
                self.bump();
                Ok(n)
            }
            _ => Err(self.err_here(format!(
                "expected a number, found {}",
                describe(self.peek())
            ))),
        }
    }

    /// Qualifiers after an optional protocol, then the id they qualify.
    fn head(&mut self, proto: P) -> PResult<(Node, Option<Q>)> {
        let mut dir = Dir::Default;
        let mut addr = Addr::Default;
        let mut word = self.peek().text.clone();
        let first = self.peek().tok.clone();
        if matches!(first, Tok::Kw(Kw::Src | Kw::Dst)) {
            self.bump();
            let other = if first == Tok::Kw(Kw::Src) {
                Kw::Dst
            } else {
                Kw::Src
            };
            dir = if first == Tok::Kw(Kw::Src) {
                Dir::Src
            } else {
                Dir::Dst
            };
            if (self.is_kw(Kw::Or) || self.is_kw(Kw::And)) && *self.peek_at(1) == Tok::Kw(other) {
                dir = if self.is_kw(Kw::Or) {
                    Dir::Or
                } else {
                    Dir::And
                };
                self.bump();
                word = self.bump().text;
            }
        }
        let t = self.peek().clone();
        match t.tok {
            Tok::Kw(Kw::Host) => addr = Addr::Host,
            Tok::Kw(Kw::Net) => addr = Addr::Net,
            Tok::Kw(Kw::Port) => addr = Addr::Port,
            Tok::Kw(Kw::Portrange) => addr = Addr::Portrange,
            Tok::Kw(Kw::Proto) if dir == Dir::Default => addr = Addr::Proto,
            Tok::Kw(Kw::Unsupported("gateway" | "protochain")) => return Err(self.unsupported(&t)),
            _ => {}
        }
        if addr != Addr::Default {
            word = t.text.clone();
            self.bump();
        }
        let q = Q { proto, dir, addr };
        let node = self.id_with(q, &word)?;
        Ok((node, Some(q)))
    }

    fn id(&mut self, q: Q) -> PResult<Node> {
        let word = match q.addr {
            Addr::Default | Addr::Host => "host",
            Addr::Net => "net",
            Addr::Port => "port",
            Addr::Portrange => "portrange",
            Addr::Proto => "proto",
        };
        self.id_with(q, word)
    }

    fn expected_after(&self, q: Q, word: &str) -> FilterError {
        let what = match q.addr {
            Addr::Default | Addr::Host if q.proto == P::Link => "an Ethernet address",
            Addr::Default | Addr::Host => "a host address",
            Addr::Net => "a network address",
            Addr::Port => "a port number or name",
            Addr::Portrange => "a port range",
            Addr::Proto => "a protocol number or name",
        };
        self.err_here(format!(
            "expected {what} after '{word}', found {}",
            describe(self.peek())
        ))
    }

    /// An address, number or name under qualifiers `q`, possibly negated or
    /// a parenthesised list joined by `and`/`or`.
    fn id_with(&mut self, q: Q, word: &str) -> PResult<Node> {
        let t = self.peek().clone();
        let here = |m: String| FilterError::new(t.col, m);
        match t.tok {
            Tok::Kw(Kw::Not) => {
                self.bump();
                Ok(Node::not(self.id_with(q, word)?))
            }
            Tok::LParen => {
                self.bump();
                let mut node = self.id_with(q, word)?;
                loop {
                    let is_and = if self.is_kw(Kw::And) {
                        true
                    } else if self.is_kw(Kw::Or) {
                        false
                    } else {
                        break;
                    };
                    self.bump();
                    let rhs = self.id_with(q, word)?;
                    node = if is_and {
                        Node::and(node, rhs)
                    } else {
                        Node::or(node, rhs)
                    };
                }
                if self.peek().tok != Tok::RParen {
                    return Err(
                        self.err_here(format!("expected ')', found {}", describe(self.peek())))
                    );
                }
                self.bump();
                Ok(node)
            }
            Tok::Num(v) => {
                self.bump();
                self.ncode(None, v, q).map_err(here)
            }
            Tok::Hid(ref s) => {
                self.bump();
                if self.peek().tok == Tok::Slash {
                    self.bump();
                    let len = self.number_after("a prefix length", "/")?;
                    return self.mcode(s, None, len, q).map_err(here);
                }
                if self.is_kw(Kw::Mask) {
                    self.bump();
                    let Tok::Hid(m) = self.peek().tok.clone() else {
                        return Err(self.err_here(format!(
                            "expected a dotted netmask after 'mask', found {}",
                            describe(self.peek())
                        )));
                    };
                    self.bump();
                    return self.mcode(s, Some(&m), 0, q).map_err(here);
                }
                self.ncode(Some(s), 0, q).map_err(here)
            }
            Tok::Hid6(a) => {
                self.bump();
                let mut len = 128;
                if self.peek().tok == Tok::Slash {
                    self.bump();
                    len = self.number_after("a prefix length", "/")?;
                }
                self.mcode6(a, len, q, &t.text).map_err(here)
            }
            Tok::Eid(mac) => {
                self.bump();
                match (q.addr, q.proto) {
                    (Addr::Default | Addr::Host, P::Link) => self.ctx.ether_host(mac, q.dir).map_err(here),
                    (_, P::Link) => Err(here(format!("an Ethernet address cannot follow '{word}'"))),
                    _ => Err(here(format!(
                        "an Ethernet address needs 'ether host', 'ether src' or 'ether dst', not '{word}'"
                    ))),
                }
            }
            Tok::Id(ref name) => {
                let name = name.clone();
                self.bump();
                self.scode(&name, q, word).map_err(here)
            }
            _ => Err(self.expected_after(q, word)),
        }
    }

    fn port_proto(q: Q, word: &str) -> Result<Option<u32>, String> {
        match q.proto {
            P::Default => Ok(None),
            P::Tcp => Ok(Some(6)),
            P::Udp => Ok(Some(17)),
            P::Sctp => Ok(Some(132)),
            other => Err(format!(
                "'{}' cannot qualify '{word}': only tcp, udp and sctp have ports",
                other.name()
            )),
        }
    }

    /// A number (or a dotted IPv4 prefix `s`) under qualifiers `q`.
    fn ncode(&self, s: Option<&str>, v: u32, q: Q) -> Result<Node, String> {
        match q.addr {
            Addr::Default | Addr::Host | Addr::Net => {
                if q.proto == P::Link {
                    return Err("a number is not an Ethernet address".into());
                }
                let mut mask = 0xffff_ffffu32;
                let mut v = v;
                match s {
                    None if q.addr == Addr::Net => {
                        // Promote a short network number: `net 10` is 10.0.0.0/8.
                        while v != 0 && v & 0xff00_0000 == 0 {
                            v <<= 8;
                            mask <<= 8;
                        }
                    }
                    None => {}
                    Some(s) => {
                        let (n, bits) =
                            atoin(s).ok_or_else(|| format!("invalid IPv4 address '{s}'"))?;
                        v = shl(n, 32 - bits);
                        mask = shl(mask, 32 - bits);
                    }
                }
                let what = if q.addr == Addr::Net { "net" } else { "host" };
                self.ctx.host4(v, mask, q.proto, q.dir, what)
            }
            Addr::Port | Addr::Portrange => {
                let word = if q.addr == Addr::Port {
                    "port"
                } else {
                    "portrange"
                };
                if s.is_some() {
                    return Err(format!("'{word}' applied to an IP address"));
                }
                let ipproto = Self::port_proto(q, word)?;
                if v > 65535 {
                    return Err(format!("port number {v} is larger than 65535"));
                }
                Ok(self.ctx.port_range(v, v, ipproto, q.dir))
            }
            Addr::Proto => {
                if s.is_some() {
                    return Err("'proto' applied to an IP address".into());
                }
                self.ctx.proto(v, q.proto)
            }
        }
    }

    /// `net A.B.C.D/len` or `net A.B.C.D mask M.M.M.M`.
    fn mcode(&self, s: &str, mask: Option<&str>, len: u32, q: Q) -> Result<Node, String> {
        match q.addr {
            Addr::Net => {}
            Addr::Port | Addr::Portrange | Addr::Proto => {
                return Err("a network prefix cannot be a port or a protocol".into())
            }
            _ => return Err("mask syntax is for networks only: use 'net'".into()),
        }
        let (n, bits) = atoin(s).ok_or_else(|| format!("invalid IPv4 address '{s}'"))?;
        let n = shl(n, 32 - bits);
        let m = match mask {
            Some(ms) => {
                let (m, mbits) = atoin(ms).ok_or_else(|| format!("invalid netmask '{ms}'"))?;
                let m = shl(m, 32 - mbits);
                if n & !m != 0 {
                    return Err(format!("non-network bits set in \"{s} mask {ms}\""));
                }
                m
            }
            None => {
                if len > 32 {
                    return Err(format!("prefix length {len} is larger than 32"));
                }
                let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                if n & !m != 0 {
                    return Err(format!("non-network bits set in \"{s}/{len}\""));
                }
                m
            }
        };
        self.ctx.host4(n, m, q.proto, q.dir, "net")
    }

    fn mcode6(&self, a: Ipv6Addr, len: u32, q: Q, text: &str) -> Result<Node, String> {
        if len > 128 {
            return Err(format!("prefix length {len} is larger than 128"));
        }
        let o = a.octets();
        let mut addr = [0u32; 4];
        let mut mask = [0u32; 4];
        for i in 0..4 {
            addr[i] = u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]);
            let bits = len.saturating_sub(32 * i as u32).min(32);
            mask[i] = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            if addr[i] & !mask[i] != 0 {
                return Err(format!("non-network bits set in \"{text}/{len}\""));
            }
        }
        match q.addr {
            Addr::Default | Addr::Host => {
                if len != 128 {
                    return Err("mask syntax is for networks only: use 'net'".into());
                }
                self.ctx.host6(addr, mask, q.proto, q.dir, "host")
            }
            Addr::Net => self.ctx.host6(addr, mask, q.proto, q.dir, "net"),
            _ => Err("an IPv6 address cannot be a port or a protocol".into()),
        }
    }

    fn service(name: &str) -> Option<u32> {
        lookup(SERVICES, name)
    }

    /// A name under qualifiers `q`.
    fn scode(&self, name: &str, q: Q, word: &str) -> Result<Node, String> {
        match q.addr {
            Addr::Default | Addr::Host => Err(format!(
                "host names are not resolved; use an address (found '{name}')"
            )),
            Addr::Net => Err(format!(
                "network names are not resolved; use an address (found '{name}')"
            )),
            Addr::Port => {
                let ipproto = Self::port_proto(q, word)?;
                let port = Self::service(name).ok_or_else(|| {
                    format!("expected a port number or name after '{word}', found '{name}'")
                })?;
                Ok(self.ctx.port_range(port, port, ipproto, q.dir))
            }
            Addr::Portrange => {
                let ipproto = Self::port_proto(q, word)?;
                let bad = || {
                    format!("expected a port range like 1024-2047 after '{word}', found '{name}'")
                };
                let (a, b) = name.split_once('-').ok_or_else(bad)?;
                let port = |s: &str| -> Result<u32, String> {
                    let v = match s.parse::<u32>() {
                        Ok(v) => v,
                        Err(_) => Self::service(s).ok_or_else(bad)?,
                    };
                    if v > 65535 {
                        return Err(format!("port number {v} is larger than 65535"));
                    }
                    Ok(v)
                };
                let (lo, hi) = (port(a)?, port(b)?);
                Ok(self.ctx.port_range(lo, hi, ipproto, q.dir))
            }
            Addr::Proto => {
                let v = match q.proto {
                    P::Link => lookup(ETHER_PROTOS, name)
                        .ok_or_else(|| format!("unknown ether proto '{name}'"))?,
                    P::Default | P::Ip | P::Ip6 => lookup(IP_PROTOS, name)
                        .ok_or_else(|| format!("unknown ip proto '{name}'"))?,
                    other => return Err(format!("'{} proto' is not meaningful", other.name())),
                };
                self.ctx.proto(v, q.proto)
            }
        }
    }

    /// `arth relop arth`.
    fn relation(&mut self) -> PResult<Node> {
        let a0 = self.arith()?;
        let t = self.peek().clone();
        let (op, negate) = match t.tok {
            Tok::Gt => (Cmp::Gt, false),
            Tok::Ge => (Cmp::Ge, false),
            Tok::Eq => (Cmp::Eq, false),
            Tok::Le => (Cmp::Gt, true),
            Tok::Lt => (Cmp::Ge, true),
            Tok::Ne => (Cmp::Eq, true),
            _ => {
                return Err(self.err_here(format!(
                    "expected a comparison (>, <, >=, <=, =, !=), found {}",
                    describe(&t)
                )))
            }
        };
        self.bump();
        let a1 = self.arith()?;
        let mut test = Node::atom(a0.val, op, a1.val);
        if negate {
            test = Node::not(test);
        }
        let cond = match (a0.cond, a1.cond) {
            (Some(x), Some(y)) => Some(Node::and(x, y)),
            (x, y) => x.or(y),
        };
        Ok(match cond {
            Some(c) => Node::and(c, test),
            None => test,
        })
    }

    /// Arithmetic with yacc's operator-precedence resolution.
    fn arith(&mut self) -> PResult<Arith> {
        // Operand stack and operator stack (binary ops; unary minus as None op).
        let mut vals: Vec<Arith> = Vec::new();
        let mut ops: Vec<(Option<AluOp>, Option<u8>, usize)> = Vec::new();
        loop {
            // Prefix minus signs.
            while self.peek().tok == Tok::Minus {
                let col = self.bump().col;
                ops.push((None, Some(UMINUS_PREC), col));
            }
            let v = self.arith_primary()?;
            vals.push(v);
            let Some((op, prec)) = binop(&self.peek().tok) else {
                break;
            };
            // Reduce while the operator on the stack binds at least as tightly.
            while let Some(&(_, top_prec, _)) = ops.last() {
                let reduce = match (top_prec, prec) {
                    (Some(t), Some(p)) => t >= p,
                    _ => false,
                };
                if !reduce {
                    break;
                }
                self.reduce(&mut vals, &mut ops)?;
            }
            let col = self.bump().col;
            ops.push((Some(op), prec, col));
        }
        while !ops.is_empty() {
            self.reduce(&mut vals, &mut ops)?;
        }
        vals.pop()
            .ok_or_else(|| self.err_here("expected an arithmetic expression"))
    }

    fn reduce(
        &self,
        vals: &mut Vec<Arith>,
        ops: &mut Vec<(Option<AluOp>, Option<u8>, usize)>,
    ) -> PResult<()> {
        let Some((op, _, col)) = ops.pop() else {
            return Ok(());
        };
        let internal = || FilterError::new(col, "malformed arithmetic expression");
        match op {
            None => {
                let a = vals.pop().ok_or_else(internal)?;
                vals.push(Arith {
                    val: Val::Neg(Box::new(a.val)),
                    cond: a.cond,
                });
            }
            Some(op) => {
                let a1 = vals.pop().ok_or_else(internal)?;
                let a0 = vals.pop().ok_or_else(internal)?;
                if let Val::K(k) = a1.val {
                    match op {
                        AluOp::Div if k == 0 => {
                            return Err(FilterError::new(col, "division by zero"))
                        }
                        AluOp::Mod if k == 0 => {
                            return Err(FilterError::new(col, "modulus by zero"))
                        }
                        AluOp::Lsh | AluOp::Rsh if k > 31 => {
                            return Err(FilterError::new(col, "shift by more than 31 bits"))
                        }
                        _ => {}
                    }
                }
                // Like libpcap, only the left operand's protocol test is kept.
                vals.push(Arith {
                    val: Val::Alu(op, Box::new(a0.val), Box::new(a1.val)),
                    cond: a0.cond,
                });
            }
        }
        Ok(())
    }

    fn arith_primary(&mut self) -> PResult<Arith> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Num(n) => {
                self.bump();
                Ok(Arith {
                    val: Val::K(n),
                    cond: None,
                })
            }
            Tok::Kw(Kw::Len) => {
                self.bump();
                Ok(Arith {
                    val: Val::Len,
                    cond: None,
                })
            }
            Tok::LParen => {
                self.bump();
                let a = self.arith()?;
                if self.peek().tok != Tok::RParen {
                    return Err(
                        self.err_here(format!("expected ')', found {}", describe(self.peek())))
                    );
                }
                self.bump();
                Ok(a)
            }
            Tok::Kw(kw) if pname(kw).is_some() && *self.peek_at(1) == Tok::LBrack => {
                let p = pname(kw).unwrap_or(P::Default);
                self.bump();
                self.bump();
                let index = self.arith()?;
                let mut size = 1;
                if self.peek().tok == Tok::Colon {
                    self.bump();
                    size = self.number_after("a size (1, 2 or 4)", ":")?;
                }
                if self.peek().tok != Tok::RBrack {
                    return Err(
                        self.err_here(format!("expected ']', found {}", describe(self.peek())))
                    );
                }
                self.bump();
                self.ctx
                    .load(p, index, size)
                    .map_err(|m| FilterError::new(t.col, m))
            }
            Tok::Kw(Kw::Unsupported(_)) => Err(self.unsupported(&t)),
            _ => Err(self.err_here(format!(
                "expected a number, 'len' or a packet accessor like 'ip[0]', found {}",
                describe(&t)
            ))),
        }
    }
}
