//! DNS tunnelling: a client using the names it asks for under one domain
//! as a data channel (dnscat2, iodine, dns2tcp and the like).
//!
//! Ordinary use of a domain is a few short, word-like names asked for
//! again and again, mostly for addresses. A tunnel needs many distinct
//! names (every query carries new data), long ones (more data per
//! query), random-looking ones (encoded data) and often record types that
//! carry more back (TXT, NULL, CNAME, MX). The detector measures those
//! four things per (client, registered domain) over a window and combines
//! them into one score; 1.0 is the alert threshold.
//!
//! Nothing of a query name is kept beyond the call but a 64-bit hash of
//! its subdomain (to count distinct names) and the registered domain
//! (the alert's entity).

use std::hash::BuildHasher;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use wirewatch_units::{duration_short, si, thousands};
use wirewatch_wire::{proto, Timestamp};

use super::{positive, SmallSet, Window};
use crate::alert::{Alert, Contributor, Entity, Evidence, Kind, Severity};
use crate::detector::PacketDetector;
use crate::obs::Obs;
use crate::Bounded;

/// The DNS port.
pub const PORT: u16 = 53;
/// Most labels read from one name (a 255-byte name holds at most 127).
pub const MAX_LABELS: usize = 127;
/// Longest name in wire format, length bytes and terminating zero included.
pub const MAX_NAME: usize = 255;

/// Record type TXT.
pub const TXT: u16 = 16;
/// Record type NULL.
pub const NULL: u16 = 10;
/// Record type CNAME.
pub const CNAME: u16 = 5;
/// Record type MX.
pub const MX: u16 = 15;
/// Query type ANY.
pub const ANY: u16 = 255;

/// The record types that carry more data back than an address, which
/// tunnels favour, in the order the explanation lists them.
const DATA_TYPES: [(u16, &str); 5] = [
    (TXT, "TXT"),
    (NULL, "NULL"),
    (CNAME, "CNAME"),
    (MX, "MX"),
    (ANY, "ANY"),
];

/// The first question of a DNS message, borrowed from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question<'a> {
    /// Message id.
    pub id: u16,
    /// The QR bit: a response rather than a query.
    pub response: bool,
    /// Operation code (0 = standard query).
    pub opcode: u8,
    /// Response code.
    pub rcode: u8,
    /// Query type.
    pub qtype: u16,
    /// Query class.
    pub qclass: u16,
    /// The name in wire format (length-prefixed labels), without the
    /// terminating zero. Never holds a compression pointer.
    wire: &'a [u8],
    /// Its label count.
    labels: u8,
}

impl<'a> Question<'a> {
    /// The name's labels, first (leftmost) first.
    pub fn labels(&self) -> Labels<'a> {
        Labels { rest: self.wire }
    }

    /// How many labels the name has (0 for the root).
    pub fn label_count(&self) -> usize {
        usize::from(self.labels)
    }

    /// The name's length in text form, without a trailing dot.
    pub fn name_len(&self) -> usize {
        // Wire form: one length byte per label; text form: one dot between labels.
        self.wire.len().saturating_sub(1)
    }

    /// The name in text form, lower case; bytes that are not printable
    /// ASCII, dots and backslashes inside labels are escaped as `\DDD`.
    pub fn name(&self) -> String {
        let mut s = String::with_capacity(self.wire.len());
        for (i, l) in self.labels().enumerate() {
            if i > 0 {
                s.push('.');
            }
            push_label(&mut s, l);
        }
        s
    }
}

/// Appends one label in text form (lower case, escaped).
fn push_label(s: &mut String, l: &[u8]) {
    for &b in l {
        if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
            s.push(b.to_ascii_lowercase() as char);
        } else {
            s.push_str(&format!("\\{b:03}"));
        }
    }
}

/// Iterator over a checked wire-format name's labels.
#[derive(Clone, Debug)]
pub struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&n, tail) = self.rest.split_first()?;
        let n = usize::from(n).min(tail.len());
        let (label, rest) = tail.split_at(n);
        self.rest = rest;
        Some(label)
    }
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *d.get(at)?,
        *d.get(at.checked_add(1)?)?,
    ]))
}

/// Reads the header and first question of a DNS message (as carried by
/// UDP, without TCP's length prefix). `None` when the message is cut
/// short before the question's end, has no question, or its name is
/// malformed: a label over 63 bytes, a name over 255 bytes, an extended
/// label type, or a compression pointer (the first question has nothing
/// before it to point at, so a pointer there is corruption or a trick).
pub fn parse(msg: &[u8]) -> Option<Question<'_>> {
    let id = be16(msg, 0)?;
    let flags = be16(msg, 2)?;
    let qdcount = be16(msg, 4)?;
    if qdcount == 0 || msg.len() < 12 {
        return None;
    }
    let start = 12;
    let mut at = start;
    let mut labels = 0usize;
    loop {
        let n = *msg.get(at)?;
        if n == 0 {
            break;
        }
        if n & 0xC0 != 0 {
            // 0xC0: compression pointer; 0x40, 0x80: extended/reserved types.
            return None;
        }
        labels += 1;
        at += 1 + usize::from(n);
        // The name so far plus its terminating zero must fit in 255 bytes.
        if at + 1 - start > MAX_NAME || labels > MAX_LABELS {
            return None;
        }
        msg.get(at - usize::from(n)..at)?;
    }
    let wire = msg.get(start..at)?;
    let qtype = be16(msg, at + 1)?;
    let qclass = be16(msg, at + 3)?;
    Some(Question {
        id,
        response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0x0F) as u8,
        rcode: (flags & 0x0F) as u8,
        qtype,
        qclass,
        wire,
        labels: labels as u8,
    })
}

/// The DNS message a packet carries: the UDP payload, or for TCP a
/// segment's payload after the 2-byte length prefix when the segment
/// starts a message. Either port 53.
pub fn message<'a>(o: &Obs<'a>) -> Option<&'a [u8]> {
    if !o.has_ports || (o.src_port != PORT && o.dst_port != PORT) {
        return None;
    }
    match o.protocol {
        proto::UDP => o.udp_payload(),
        proto::TCP if !o.later_fragment => {
            let off = usize::from(*o.l4.get(12)? >> 4) * 4;
            let seg = o.l4.get(off.max(20)..)?;
            let len = usize::from(be16(seg, 0)?);
            let body = seg.get(2..)?;
            // A segment that starts a message holds at most the message.
            (len >= 12 && body.len() <= len).then_some(body)
        }
        _ => None,
    }
}

/// Second-level labels that, under a two-letter country code, are a
/// registry's own suffix (`co.uk`, `com.au`, `ac.jp`, `gob.mx`, ...).
/// A small approximation of the Public Suffix List, not the list: names
/// under other multi-label suffixes are attributed one level too high,
/// which merges their sites into one "domain" (the counts grow; the
/// shape measures stay right).
const SECOND_LEVEL: [&[u8]; 16] = [
    b"ac", b"co", b"com", b"edu", b"go", b"gob", b"gov", b"gouv", b"ltd", b"mil", b"ne", b"net",
    b"nic", b"or", b"org", b"sch",
];

/// How many of the rightmost labels make the registered domain: two, or
/// three when the second-level label is a common registry suffix under a
/// two-letter country code (ac, co, com, edu, go, gob, gov, gouv, ltd, mil,
/// ne, net, nic, or, org, sch); never more than there are.
pub fn registered_labels(labels: &[&[u8]]) -> usize {
    let n = labels.len();
    if n >= 3 {
        let tld = labels[n - 1];
        let sld = labels[n - 2];
        if tld.len() == 2 && SECOND_LEVEL.iter().any(|s| s.eq_ignore_ascii_case(sld)) {
            return 3;
        }
    }
    n.min(2)
}

/// The registered domain of a text-form name (approximate, see
/// [`registered_labels`]): `"a.b.example.co.uk"` → `"example.co.uk"`.
pub fn registered_domain(name: &str) -> &str {
    let name = name.trim_end_matches('.');
    let labels: Vec<&[u8]> = name.split('.').map(str::as_bytes).collect();
    let keep = registered_labels(&labels);
    let skip = labels.len() - keep;
    // Byte offset after the first `skip` labels and their dots.
    let at: usize = labels[..skip].iter().map(|l| l.len() + 1).sum();
    name.get(at..).unwrap_or(name)
}

/// Shannon entropy in bits per character of `bytes` (0 when empty).
pub fn entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[usize::from(b)] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// DNS tunnel thresholds (`[detect.heuristics.dns]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Run the DNS tunnel detector.
    pub enabled: bool,
    /// Window length in seconds.
    pub window_secs: f64,
    /// Distinct subdomains of one domain asked for by one client within a
    /// window that fire on their own when the names look ordinary
    /// (`long-name` characters, `entropy-bits` bits per character, address
    /// queries). Longer, more random names or data-carrying record types
    /// fire with fewer.
    pub unique_names: u32,
    /// Fewer distinct subdomains than this never fire, however odd they
    /// look (one long name is not a tunnel).
    pub min_unique_names: u32,
    /// Mean subdomain length, in characters, counted as ordinary-long; the
    /// score grows with the square of mean length over this (up to 4×).
    pub long_name: f64,
    /// Mean subdomain entropy, in bits per character, counted as
    /// ordinary-random; the score grows in proportion (up to 1.5×).
    pub entropy_bits: f64,
    /// Weight of the share of TXT, NULL, CNAME, MX and ANY queries: the
    /// score is multiplied by 1 + weight × share.
    pub type_weight: f64,
    /// Registered domains never reported (say, an antivirus or reputation
    /// service that looks things up by hashed names).
    pub ignore_domains: Vec<String>,
    /// Most (client, domain) pairs tracked.
    pub max_tracked: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            window_secs: 60.0,
            unique_names: 40,
            min_unique_names: 10,
            long_name: 24.0,
            entropy_bits: 3.5,
            type_weight: 2.0,
            ignore_domains: Vec::new(),
            max_tracked: 100_000,
        }
    }
}

impl Config {
    /// Checks the thresholds.
    pub fn validate(&self) -> Result<(), String> {
        let p = "detect.heuristics.dns.";
        positive(&format!("{p}window-secs"), self.window_secs)?;
        positive(&format!("{p}unique-names"), f64::from(self.unique_names))?;
        positive(
            &format!("{p}min-unique-names"),
            f64::from(self.min_unique_names),
        )?;
        positive(&format!("{p}long-name"), self.long_name)?;
        positive(&format!("{p}entropy-bits"), self.entropy_bits)?;
        positive(&format!("{p}max-tracked"), self.max_tracked as f64)?;
        if !(self.type_weight.is_finite() && self.type_weight >= 0.0) {
            return Err(format!(
                "{p}type-weight must be a number ≥ 0, not {}",
                self.type_weight
            ));
        }
        Ok(())
    }
}

/// Most distinct subdomains counted per (client, domain) and window.
const NAMES_CAP: usize = 2048;
/// Cap of the length factor (mean length over `long-name`).
const MAX_LEN_RATIO: f64 = 4.0;
/// Cap of the entropy factor.
const MAX_ENT_RATIO: f64 = 1.5;

/// What one client did under one domain in the current window.
struct Usage {
    domain: String,
    win: Window,
    names: SmallSet<u64>,
    queries: u32,
    len_sum: u64,
    ent_sum: f64,
    types: [u32; DATA_TYPES.len()],
    bytes: u64,
    /// The score the previous window closed with, while it is recent.
    prev: f64,
}

/// The parts of a score, for the explanation.
struct Parts {
    unique: usize,
    mean_len: f64,
    mean_ent: f64,
    data_share: f64,
    volume: f64,
    length: f64,
    randomness: f64,
    types: f64,
    score: f64,
}

impl Usage {
    fn new(domain: String, now: Timestamp) -> Usage {
        Usage {
            domain,
            win: Window::new(now),
            names: SmallSet::default(),
            queries: 0,
            len_sum: 0,
            ent_sum: 0.0,
            types: [0; DATA_TYPES.len()],
            bytes: 0,
            prev: 0.0,
        }
    }

    /// What is kept when the table is full: most queries this window,
    /// then most recent.
    fn worth(&self) -> (u32, Timestamp) {
        (self.queries, self.win.last)
    }

    fn reset(&mut self) {
        self.names.clear();
        self.queries = 0;
        self.len_sum = 0;
        self.ent_sum = 0.0;
        self.types = [0; DATA_TYPES.len()];
        self.bytes = 0;
    }

    fn parts(&self, cfg: &Config) -> Parts {
        let q = f64::from(self.queries.max(1));
        let unique = self.names.len();
        let mean_len = self.len_sum as f64 / q;
        let mean_ent = self.ent_sum / q;
        let data_share = f64::from(self.types.iter().sum::<u32>()) / q;
        let volume = unique as f64 / f64::from(cfg.unique_names);
        let length = (mean_len / cfg.long_name).min(MAX_LEN_RATIO).powi(2);
        let randomness = (mean_ent / cfg.entropy_bits).min(MAX_ENT_RATIO);
        let types = 1.0 + cfg.type_weight * data_share;
        let gate = (unique as f64 / f64::from(cfg.min_unique_names)).min(1.0);
        let score = if self.queries == 0 {
            0.0
        } else {
            volume * length * randomness * types * gate
        };
        Parts {
            unique,
            mean_len,
            mean_ent,
            data_share,
            volume,
            length,
            randomness,
            types,
            score,
        }
    }

    /// Names the data-carrying types seen, most used first: "TXT and MX".
    fn type_names(&self) -> String {
        let mut seen: Vec<(u32, &str)> = DATA_TYPES
            .iter()
            .zip(self.types)
            .filter(|(_, c)| *c > 0)
            .map(|((_, n), c)| (c, *n))
            .collect();
        seen.sort_by_key(|s| std::cmp::Reverse(s.0));
        let names: Vec<&str> = seen.into_iter().map(|(_, n)| n).collect();
        match names.len() {
            0 => "TXT, NULL, CNAME, MX or ANY".to_string(),
            1 => names[0].to_string(),
            n => format!("{} or {}", names[..n - 1].join(", "), names[n - 1]),
        }
    }
}

/// Many long, random-looking names under one domain from one client.
pub struct DnsTunnel {
    cfg: Config,
    len_nanos: i64,
    ignore: Vec<Vec<u8>>,
    hasher: foldhash::fast::FixedState,
    /// Keyed by (client, hash of the lower-case registered domain).
    usage: Bounded<(IpAddr, u64), Usage>,
}

impl DnsTunnel {
    /// A detector with these thresholds.
    pub fn new(cfg: &Config) -> DnsTunnel {
        DnsTunnel {
            cfg: cfg.clone(),
            len_nanos: (cfg.window_secs * 1e9) as i64,
            ignore: cfg
                .ignore_domains
                .iter()
                .map(|d| d.trim_end_matches('.').to_ascii_lowercase().into_bytes())
                .collect(),
            hasher: foldhash::fast::FixedState::default(),
            usage: Bounded::new(cfg.max_tracked),
        }
    }

    fn alert(&self, o: &Obs, client: IpAddr, u: &Usage, p: &Parts) -> Alert {
        let took = u.win.elapsed_secs(o.ts, 1.0);
        let share = (p.data_share * 100.0).round();
        let types = if share > 0.0 {
            format!(", {share} % {}", u.type_names())
        } else {
            String::new()
        };
        let c = |feature: &str, value: f64| Contributor {
            feature: feature.to_string(),
            value: (value * 1000.0).round() / 1000.0,
        };
        let mut contributors = vec![
            c("unique names over unique-names", p.volume),
            c(
                "length factor (mean length over long-name, squared)",
                p.length,
            ),
            c(
                "randomness factor (entropy over entropy-bits)",
                p.randomness,
            ),
            c(
                "record-type factor (1 + type-weight × data-type share)",
                p.types,
            ),
        ];
        contributors.sort_by(|a, b| b.value.total_cmp(&a.value));
        Alert {
            time: o.ts,
            kind: Kind::DnsTunnel,
            severity: Severity::from_ratio(p.score).max(Severity::Medium),
            entity: Entity::Domain {
                client,
                domain: u.domain.clone(),
            },
            summary: format!(
                "{client} sent {} queries for {} unique names under {} in {} (mean subdomain {} characters, \
                 {:.1} bits of entropy per character{types}, {}B with the answers); \
                 ordinary domains get a few short names",
                thousands(u64::from(u.queries)),
                thousands(p.unique as u64),
                u.domain,
                duration_short(took),
                p.mean_len.round(),
                p.mean_ent,
                si(u.bytes as f64),
            ),
            evidence: Evidence {
                observed: p.score,
                baseline: None,
                expected: None,
                threshold: 1.0,
                unit: format!(
                    "tunnel score in {} (unique names × length × randomness × record types)",
                    duration_short(self.cfg.window_secs)
                ),
                score: p.score,
                contributors,
                ..Evidence::default()
            },
            action: format!(
                "Find the process on {client} asking for these names and what {} is; \
                 block the domain at the resolver if it is not a service you use \
                 (some antivirus and reputation services look up hashed names: \
                 add those to detect.heuristics.dns.ignore-domains).",
                u.domain
            ),
            detector: "dns_tunnel".into(),
            suppressed: 0,
        }
    }
}

/// A query name split at its registered domain, lower-cased.
struct Split {
    /// The subdomain part, dots included, lower case (`len` bytes used).
    sub: [u8; MAX_NAME],
    len: usize,
    /// The subdomain's bytes without dots, lower case, for entropy.
    chars: [u8; MAX_NAME],
    nchars: usize,
    /// The registered domain, lower case, dots included.
    domain: [u8; MAX_NAME],
    dlen: usize,
}

fn split(q: &Question) -> Split {
    let mut labels: [&[u8]; MAX_LABELS] = [&[]; MAX_LABELS];
    let mut n = 0;
    for l in q.labels().take(MAX_LABELS) {
        labels[n] = l;
        n += 1;
    }
    let keep = registered_labels(&labels[..n]);
    let mut s = Split {
        sub: [0; MAX_NAME],
        len: 0,
        chars: [0; MAX_NAME],
        nchars: 0,
        domain: [0; MAX_NAME],
        dlen: 0,
    };
    for (i, l) in labels[..n].iter().enumerate() {
        let (buf, used) = if i < n - keep {
            (&mut s.sub, &mut s.len)
        } else {
            (&mut s.domain, &mut s.dlen)
        };
        if *used > 0 && *used < MAX_NAME {
            buf[*used] = b'.';
            *used += 1;
        }
        for &b in *l {
            if *used < MAX_NAME {
                buf[*used] = b.to_ascii_lowercase();
                *used += 1;
            }
        }
        if i < n - keep {
            for &b in *l {
                if s.nchars < MAX_NAME {
                    s.chars[s.nchars] = b.to_ascii_lowercase();
                    s.nchars += 1;
                }
            }
        }
    }
    s
}

/// The text form of a lower-case registered domain.
fn domain_text(d: &[u8]) -> String {
    let mut s = String::with_capacity(d.len());
    for (i, l) in d.split(|&b| b == b'.').enumerate() {
        if i > 0 {
            s.push('.');
        }
        push_label(&mut s, l);
    }
    s
}

impl PacketDetector for DnsTunnel {
    fn name(&self) -> &'static str {
        "dns_tunnel"
    }

    fn packet(&mut self, o: &Obs, out: &mut Vec<Alert>) -> f64 {
        let Some(q) = message(o).and_then(parse) else {
            return 0.0;
        };
        if q.opcode != 0 || q.label_count() < 2 {
            return 0.0;
        }
        let s = split(&q);
        let domain = &s.domain[..s.dlen];
        // Reverse lookups: long, many, but numbers, not data.
        if domain.ends_with(b".arpa") || domain == b"arpa" {
            return 0.0;
        }
        if self.ignore.iter().any(|d| d.as_slice() == domain) {
            return 0.0;
        }
        let client = if q.response { o.dst } else { o.src };
        let key = (client, self.hasher.hash_one(domain));
        if q.response {
            // An answer: its bytes count, and it carries its query's score.
            return match self.usage.get_mut(&key) {
                Some(u) => {
                    u.bytes += u64::from(o.ip_len);
                    u.parts(&self.cfg).score.max(u.prev)
                }
                None => 0.0,
            };
        }
        let cfg = &self.cfg;
        let u = self
            .usage
            .get_or_insert_with(key, Usage::worth, || Usage::new(domain_text(domain), o.ts));
        let closing = u.parts(cfg).score;
        let last = u.win.last;
        if u.win.roll(o.ts, self.len_nanos, closing) {
            // The last window's score stands for the entity while the new
            // one fills, unless the client had gone quiet.
            u.prev = if o.ts.nanos_since(last) < self.len_nanos {
                closing
            } else {
                0.0
            };
            u.reset();
        }
        u.queries = u.queries.saturating_add(1);
        u.bytes += u64::from(o.ip_len);
        u.len_sum += s.len as u64;
        u.ent_sum += entropy(&s.chars[..s.nchars]);
        if let Some(i) = DATA_TYPES.iter().position(|(t, _)| *t == q.qtype) {
            u.types[i] += 1;
        }
        if s.len > 0 {
            u.names
                .insert(self.hasher.hash_one(&s.sub[..s.len]), NAMES_CAP);
        }
        let p = u.parts(cfg);
        let fire = p.score >= 1.0 && p.unique >= cfg.min_unique_names as usize && !u.win.fired;
        let score = p.score.max(u.prev);
        if fire {
            u.win.fired = true;
            let Some(u) = self.usage.get(&key) else {
                return score;
            };
            out.push(self.alert(o, client, u, &p));
        }
        score
    }

    fn expire(&mut self, now: Timestamp) {
        let idle = self.len_nanos.saturating_mul(2);
        self.usage.expire_idle(now, idle, |u| u.win.last);
    }

    fn evicted(&self) -> u64 {
        self.usage.evicted()
    }

    fn tracked(&self) -> usize {
        self.usage.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query message for `name` with type `qtype`.
    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.').filter(|l| !l.is_empty()) {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m
    }

    #[test]
    fn parses_a_query() {
        let m = query("Mail.Example.co.uk", TXT);
        let q = parse(&m).unwrap();
        assert_eq!(q.id, 0x1234);
        assert!(!q.response);
        assert_eq!(q.qtype, TXT);
        assert_eq!(q.qclass, 1);
        assert_eq!(q.label_count(), 4);
        assert_eq!(q.name(), "mail.example.co.uk");
        assert_eq!(q.name_len(), "mail.example.co.uk".len());
        let s = split(&q);
        assert_eq!(&s.sub[..s.len], b"mail");
        assert_eq!(&s.domain[..s.dlen], b"example.co.uk");
    }

    #[test]
    fn parses_a_response_and_the_root() {
        let mut m = query("", 2);
        m[2] = 0x81;
        m[3] = 0x83;
        let q = parse(&m).unwrap();
        assert!(q.response);
        assert_eq!(q.rcode, 3);
        assert_eq!(q.label_count(), 0);
        assert_eq!(q.name(), "");
        assert_eq!(q.name_len(), 0);
    }

    #[test]
    fn refuses_bad_names() {
        // Cut short anywhere before the class's last byte.
        let m = query("www.example.com", 1);
        for n in 0..m.len() {
            assert!(parse(&m[..n]).is_none(), "{n}");
        }
        // No question.
        let mut z = m.clone();
        z[5] = 0;
        assert!(parse(&z).is_none());
        // A pointer (even to itself) and the reserved label types.
        for first in [0xC0, 0x40, 0x80] {
            let mut p = m.clone();
            p[12] = first;
            p[13] = 12;
            assert!(parse(&p).is_none());
        }
        // A label over 63 bytes cannot be written; a name over 255 is refused.
        let long = vec!["a".repeat(63); 4].join(".");
        assert!(parse(&query(&long, 1)).is_none());
        let ok = vec!["a".repeat(63); 3].join(".") + "." + &"b".repeat(61);
        assert_eq!(parse(&query(&ok, 1)).unwrap().name_len(), 253);
    }

    #[test]
    fn escapes_odd_bytes() {
        let mut m = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[3, b'a', 0xE4, b'.', 3, b'c', b'o', b'm', 0, 0, 1, 0, 1]);
        assert_eq!(parse(&m).unwrap().name(), "a\\228\\046.com");
    }

    #[test]
    fn registered_domains() {
        for (name, want) in [
            ("a.b.example.com", "example.com"),
            ("example.com.", "example.com"),
            ("x.y.example.co.uk", "example.co.uk"),
            ("www.abc.com.au", "abc.com.au"),
            ("www.u-tokyo.ac.jp", "u-tokyo.ac.jp"),
            // Not a country code: ordinary two labels.
            ("a.co.example", "co.example"),
            ("co.uk", "co.uk"),
            ("localhost", "localhost"),
            ("", ""),
        ] {
            assert_eq!(registered_domain(name), want, "{name}");
        }
    }

    #[test]
    fn entropy_of_known_strings() {
        assert_eq!(entropy(b""), 0.0);
        assert_eq!(entropy(b"aaaa"), 0.0);
        assert!((entropy(b"abab") - 1.0).abs() < 1e-12);
        assert!((entropy(b"0123456789abcdef") - 4.0).abs() < 1e-12);
    }

    #[test]
    fn config_checks_name_the_key() {
        assert!(Config::default().validate().is_ok());
        let c = Config {
            long_name: 0.0,
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("dns.long-name"));
        let c = Config {
            type_weight: f64::NAN,
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("dns.type-weight"));
    }

    #[test]
    fn config_reads_kebab_case_keys_and_refuses_unknown_ones() {
        let c: Config =
            serde_json::from_str(r#"{"ignore-domains": ["av.example"], "unique-names": 30}"#)
                .unwrap();
        assert!(c.enabled && c.validate().is_ok());
        assert_ne!(c, Config::default());
        assert!(serde_json::from_str::<Config>(r#"{"no-such-key": 1}"#).is_err());
    }
}
