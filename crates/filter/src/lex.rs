//! Tokens of the pcap-filter language.
//!
//! Words follow libpcap's scanner: the longest run of `[A-Za-z0-9._-]` (not
//! ending in `-` or `_`) is one token, so `1-1023` and `len-1` are single
//! names, while `tcp-syn` is a keyword. A word is a keyword, a number, a
//! dotted IPv4 address (2 to 4 parts), a MAC address, or else a name. A run
//! containing `:` is an IPv6 or MAC address when it parses as one.

use std::net::Ipv6Addr;

use crate::FilterError;

/// Keywords the compiler understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kw {
    Dst,
    Src,
    Host,
    Net,
    Mask,
    Port,
    Portrange,
    Proto,
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
    And,
    Or,
    Not,
    Len,
    Less,
    Greater,
    Broadcast,
    Multicast,
    Vlan,
    /// A pcap-filter keyword this compiler rejects; the text is the keyword.
    Unsupported(&'static str),
}

/// Token kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Num(u32),
    /// Dotted IPv4 address or prefix with 2 to 4 parts.
    Hid(String),
    Hid6(Ipv6Addr),
    Eid([u8; 6]),
    Id(String),
    Kw(Kw),
    LParen,
    RParen,
    LBrack,
    RBrack,
    Colon,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Amp,
    Pipe,
    Caret,
    Shl,
    Shr,
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
    Eof,
}

/// A token with its 1-based character column and source text.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub col: usize,
    pub text: String,
}

const UNSUPPORTED: &[&str] = &[
    "gateway",
    "protochain",
    "atalk",
    "aarp",
    "decnet",
    "lat",
    "sca",
    "moprc",
    "mopdl",
    "iso",
    "esis",
    "es-is",
    "isis",
    "is-is",
    "l1",
    "l2",
    "iih",
    "lsp",
    "snp",
    "csnp",
    "psnp",
    "clnp",
    "stp",
    "ipx",
    "netbeui",
    "fddi",
    "tr",
    "wlan",
    "radio",
    "type",
    "subtype",
    "dir",
    "direction",
    "address1",
    "addr1",
    "address2",
    "addr2",
    "address3",
    "addr3",
    "address4",
    "addr4",
    "ra",
    "ta",
    "byte",
    "inbound",
    "outbound",
    "ifindex",
    "mpls",
    "pppoed",
    "pppoes",
    "geneve",
    "lane",
    "llc",
    "metac",
    "bcc",
    "oam",
    "oamf4",
    "oamf4ec",
    "oamf4sc",
    "sc",
    "ilmic",
    "vpi",
    "vci",
    "connectmsg",
    "metaconnect",
    "on",
    "ifname",
    "rnr",
    "rulenum",
    "reason",
    "rset",
    "ruleset",
    "srnr",
    "subrulenum",
    "action",
    "fisu",
    "lssu",
    "lsu",
    "msu",
    "hfisu",
    "hlssu",
    "hmsu",
    "sio",
    "opc",
    "dpc",
    "sls",
    "hsio",
    "hopc",
    "hdpc",
    "hsls",
];

/// Named numbers of libpcap's scanner (offsets and flag values).
const NAMED_NUMBERS: &[(&str, u32)] = &[
    ("icmptype", 0),
    ("icmpcode", 1),
    ("icmp-echoreply", 0),
    ("icmp-unreach", 3),
    ("icmp-sourcequench", 4),
    ("icmp-redirect", 5),
    ("icmp-echo", 8),
    ("icmp-routeradvert", 9),
    ("icmp-routersolicit", 10),
    ("icmp-timxceed", 11),
    ("icmp-paramprob", 12),
    ("icmp-tstamp", 13),
    ("icmp-tstampreply", 14),
    ("icmp-ireq", 15),
    ("icmp-ireqreply", 16),
    ("icmp-maskreq", 17),
    ("icmp-maskreply", 18),
    ("icmp6type", 0),
    ("icmp6code", 1),
    ("icmp6-destinationunreach", 1),
    ("icmp6-packettoobig", 2),
    ("icmp6-timeexceeded", 3),
    ("icmp6-parameterproblem", 4),
    ("icmp6-echo", 128),
    ("icmp6-echoreply", 129),
    ("icmp6-multicastlistenerquery", 130),
    ("icmp6-multicastlistenerreportv1", 131),
    ("icmp6-multicastlistenerdone", 132),
    ("icmp6-routersolicit", 133),
    ("icmp6-routeradvert", 134),
    ("icmp6-neighborsolicit", 135),
    ("icmp6-neighboradvert", 136),
    ("icmp6-redirect", 137),
    ("icmp6-routerrenum", 138),
    ("icmp6-nodeinformationquery", 139),
    ("icmp6-nodeinformationresponse", 140),
    ("icmp6-ineighbordiscoverysolicit", 141),
    ("icmp6-ineighbordiscoveryadvert", 142),
    ("icmp6-multicastlistenerreportv2", 143),
    ("icmp6-homeagentdiscoveryrequest", 144),
    ("icmp6-homeagentdiscoveryreply", 145),
    ("icmp6-mobileprefixsolicit", 146),
    ("icmp6-mobileprefixadvert", 147),
    ("icmp6-certpathsolicit", 148),
    ("icmp6-certpathadvert", 149),
    ("icmp6-multicastrouteradvert", 151),
    ("icmp6-multicastroutersolicit", 152),
    ("icmp6-multicastrouterterm", 153),
    ("tcpflags", 13),
    ("tcp-fin", 0x01),
    ("tcp-syn", 0x02),
    ("tcp-rst", 0x04),
    ("tcp-push", 0x08),
    ("tcp-ack", 0x10),
    ("tcp-urg", 0x20),
    ("tcp-ece", 0x40),
    ("tcp-cwr", 0x80),
];

fn keyword(w: &str) -> Option<Tok> {
    let kw = match w {
        "dst" => Kw::Dst,
        "src" => Kw::Src,
        "host" => Kw::Host,
        "net" => Kw::Net,
        "mask" => Kw::Mask,
        "port" => Kw::Port,
        "portrange" => Kw::Portrange,
        "proto" => Kw::Proto,
        "link" | "ether" | "ppp" | "slip" => Kw::Link,
        "ip" => Kw::Ip,
        "ip6" => Kw::Ip6,
        "arp" => Kw::Arp,
        "rarp" => Kw::Rarp,
        "tcp" => Kw::Tcp,
        "udp" => Kw::Udp,
        "icmp" => Kw::Icmp,
        "icmp6" => Kw::Icmp6,
        "sctp" => Kw::Sctp,
        "igmp" => Kw::Igmp,
        "igrp" => Kw::Igrp,
        "pim" => Kw::Pim,
        "vrrp" => Kw::Vrrp,
        "carp" => Kw::Carp,
        "ah" => Kw::Ah,
        "esp" => Kw::Esp,
        "and" => Kw::And,
        "or" => Kw::Or,
        "not" => Kw::Not,
        "len" | "length" => Kw::Len,
        "less" => Kw::Less,
        "greater" => Kw::Greater,
        "broadcast" => Kw::Broadcast,
        "multicast" => Kw::Multicast,
        "vlan" => Kw::Vlan,
        _ => {
            if let Some(&(_, v)) = NAMED_NUMBERS.iter().find(|(n, _)| *n == w) {
                return Some(Tok::Num(v));
            }
            let u = UNSUPPORTED.iter().find(|u| **u == w)?;
            Kw::Unsupported(u)
        }
    };
    Some(Tok::Kw(kw))
}

/// libpcap's number syntax: `0x` hexadecimal, leading `0` octal, else decimal.
fn number(w: &str, col: usize) -> Result<Option<u32>, FilterError> {
    let overflow = || FilterError::new(col, format!("number {w} does not fit in 32 bits"));
    if let Some(hex) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        return u32::from_str_radix(hex, 16)
            .map(Some)
            .map_err(|_| overflow());
    }
    if w.is_empty() || !w.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    if w.len() > 1 && w.starts_with('0') {
        if !w.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return Err(FilterError::new(
                col,
                format!("number {w} contains a non-octal digit"),
            ));
        }
        return u32::from_str_radix(w, 8).map(Some).map_err(|_| overflow());
    }
    w.parse::<u32>().map(Some).map_err(|_| overflow())
}

fn is_hid(w: &str) -> bool {
    let parts: Vec<&str> = w.split('.').collect();
    (2..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// MAC address forms: `a:b:c:d:e:f`, `a-b-c-d-e-f`, `a.b.c.d.e.f` (1 or 2 hex
/// digits each) and `aabb.ccdd.eeff`.
fn mac(w: &str) -> Option<[u8; 6]> {
    for sep in [':', '-', '.'] {
        let parts: Vec<&str> = w.split(sep).collect();
        if parts.len() == 6
            && parts
                .iter()
                .all(|p| (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            let mut m = [0u8; 6];
            for (slot, p) in m.iter_mut().zip(&parts) {
                *slot = u8::from_str_radix(p, 16).ok()?;
            }
            return Some(m);
        }
    }
    let parts: Vec<&str> = w.split('.').collect();
    if parts.len() == 3
        && parts
            .iter()
            .all(|p| p.len() == 4 && p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        let mut m = [0u8; 6];
        for (i, p) in parts.iter().enumerate() {
            let v = u16::from_str_radix(p, 16).ok()?;
            m[2 * i..2 * i + 2].copy_from_slice(&v.to_be_bytes());
        }
        return Some(m);
    }
    None
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_'
}

/// Splits an expression into tokens; the last one is [`Tok::Eof`].
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let take = |n: usize| chars[i..i + n].iter().collect::<String>();
        if c == '\\' {
            let mut j = i + 1;
            while j < chars.len() && !chars[j].is_whitespace() && !"!()[]".contains(chars[j]) {
                j += 1;
            }
            if j == i + 1 {
                return Err(FilterError::new(col, "expected a name after '\\'"));
            }
            let text = take(j - i);
            out.push(Token {
                tok: Tok::Id(text[1..].to_string()),
                col,
                text,
            });
            i = j;
            continue;
        }
        if c.is_ascii_alphanumeric() || (c == ':' && chars.get(i + 1) == Some(&':')) {
            // A run that may hold an IPv6 or colon-separated MAC address.
            let mut j = i;
            while j < chars.len() && (is_word_char(chars[j]) || chars[j] == ':') {
                j += 1;
            }
            let run = take(j - i);
            if run.contains(':') {
                if let Some(m) = mac(&run) {
                    out.push(Token {
                        tok: Tok::Eid(m),
                        col,
                        text: run,
                    });
                    i = j;
                    continue;
                }
                if let Ok(a) = run.parse::<Ipv6Addr>() {
                    out.push(Token {
                        tok: Tok::Hid6(a),
                        col,
                        text: run,
                    });
                    i = j;
                    continue;
                }
                if c == ':' {
                    return Err(FilterError::new(
                        col,
                        format!("'{run}' is not a valid IPv6 address"),
                    ));
                }
            }
            let mut j = i;
            while j < chars.len() && is_word_char(chars[j]) {
                j += 1;
            }
            while j > i + 1 && (chars[j - 1] == '-' || chars[j - 1] == '_') {
                j -= 1;
            }
            let w = take(j - i);
            let tok = if let Some(t) = keyword(&w) {
                t
            } else if let Some(n) = number(&w, col)? {
                Tok::Num(n)
            } else if let Some(m) = mac(&w) {
                Tok::Eid(m)
            } else if is_hid(&w) {
                Tok::Hid(w.clone())
            } else {
                Tok::Id(w.clone())
            };
            out.push(Token { tok, col, text: w });
            i = j;
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (tok, n) = match (c, next) {
            ('&', Some('&')) => (Tok::Kw(Kw::And), 2),
            ('|', Some('|')) => (Tok::Kw(Kw::Or), 2),
            ('=', Some('=')) => (Tok::Eq, 2),
            ('!', Some('=')) => (Tok::Ne, 2),
            ('>', Some('=')) => (Tok::Ge, 2),
            ('<', Some('=')) => (Tok::Le, 2),
            ('<', Some('<')) => (Tok::Shl, 2),
            ('>', Some('>')) => (Tok::Shr, 2),
            ('!', _) => (Tok::Kw(Kw::Not), 1),
            ('=', _) => (Tok::Eq, 1),
            ('>', _) => (Tok::Gt, 1),
            ('<', _) => (Tok::Lt, 1),
            ('&', _) => (Tok::Amp, 1),
            ('|', _) => (Tok::Pipe, 1),
            ('^', _) => (Tok::Caret, 1),
            ('+', _) => (Tok::Plus, 1),
            ('-', _) => (Tok::Minus, 1),
            ('*', _) => (Tok::Star, 1),
            ('/', _) => (Tok::Slash, 1),
            ('%', _) => (Tok::Percent, 1),
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            ('[', _) => (Tok::LBrack, 1),
            (']', _) => (Tok::RBrack, 1),
            (':', _) => (Tok::Colon, 1),
            _ => return Err(FilterError::new(col, format!("unexpected character '{c}'"))),
        };
        out.push(Token {
            tok,
            col,
            text: take(n),
        });
        i += n;
    }
    out.push(Token {
        tok: Tok::Eof,
        col: chars.len() + 1,
        text: String::new(),
    });
    Ok(out)
}
