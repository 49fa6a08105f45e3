//! Floods at one victim: SYN (half-open explosion), UDP, ICMP, and
//! reflection/amplification (responses from many reflectors to a host
//! that asked for none).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use wirewatch_units::{duration_short, qty, si, thousands};
use wirewatch_wire::{proto, Timestamp};

use super::{positive, SmallSet, Window};
use crate::alert::{Alert, Contributor, Entity, Evidence, Kind, Severity, SOURCES_NAMED};
use crate::detector::PacketDetector;
use crate::obs::Obs;
use crate::Bounded;

/// Flood thresholds (`[detect.heuristics.flood]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Run the four flood detectors.
    pub enabled: bool,
    /// Window length in seconds.
    pub window_secs: f64,
    /// Connection attempts (SYN) per second at one host.
    pub syn_per_sec: f64,
    /// Share of a host's inbound TCP packets that are SYNs (a busy
    /// server's connections carry far more than their SYN).
    pub syn_share: f64,
    /// UDP packets per second at one host, mostly unanswered.
    pub udp_per_sec: f64,
    /// ICMP packets per second at one host.
    pub icmp_per_sec: f64,
    /// Distinct reflectors answering one host within a window.
    pub reflectors: u32,
    /// Response bytes over request bytes for amplification.
    pub amplification_ratio: f64,
    /// Least share of a victim's inbound UDP packets (in the window) that
    /// must come from reflector ports: a flood to one port from random
    /// source ports hits reflector ports by chance, a reflection is
    /// nearly all responses.
    pub response_share: f64,
    /// Source ports of services abused for reflection (DNS, NTP, SNMP,
    /// LDAP, ISAKMP and IPsec NAT-T, SSDP, memcached, chargen, QOTD, NetBIOS, mDNS, WS-Discovery,
    /// RIP, portmap, CLDAP, ...).
    pub reflector_ports: Vec<u16>,
    /// Most victims tracked per detector.
    pub max_tracked: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            window_secs: 10.0,
            syn_per_sec: 500.0,
            syn_share: 0.5,
            udp_per_sec: 5_000.0,
            icmp_per_sec: 500.0,
            reflectors: 20,
            amplification_ratio: 10.0,
            response_share: 0.5,
            reflector_ports: vec![
                17, 19, 53, 69, 111, 123, 137, 161, 389, 500, 520, 1900, 3283, 3702, 4500, 5353,
                5683, 10001, 11211, 27015,
            ],
            max_tracked: 100_000,
        }
    }
}

impl Config {
    /// Checks the thresholds.
    pub fn validate(&self) -> Result<(), String> {
        let p = "detect.heuristics.flood.";
        positive(&format!("{p}window-secs"), self.window_secs)?;
        positive(&format!("{p}syn-per-sec"), self.syn_per_sec)?;
        positive(&format!("{p}udp-per-sec"), self.udp_per_sec)?;
        positive(&format!("{p}icmp-per-sec"), self.icmp_per_sec)?;
        positive(&format!("{p}reflectors"), self.reflectors as f64)?;
        positive(&format!("{p}amplification-ratio"), self.amplification_ratio)?;
        positive(&format!("{p}max-tracked"), self.max_tracked as f64)?;
        fraction(&format!("{p}syn-share"), self.syn_share)?;
        fraction(&format!("{p}response-share"), self.response_share)
    }
}

/// Checks that a share is a fraction in (0, 1].
fn fraction(name: &str, v: f64) -> Result<(), String> {
    if v > 0.0 && v <= 1.0 {
        Ok(())
    } else {
        Err(format!("{name} must be a fraction in (0, 1], not {v}"))
    }
}

/// Distinct sources counted exactly per victim; past this a sketch
/// estimates them (a spoofed flood brings millions).
const SOURCES_CAP: usize = 512;

/// Per-victim counts within the current window.
#[derive(Default)]
struct Tally {
    hits: u64,
    bytes: u64,
    /// Packets of the victim's own kind (all inbound TCP for SYN floods,
    /// answers sent for UDP floods, requests for amplification).
    other: u64,
    other_bytes: u64,
    /// Inbound packets that are not the detector's case (amplification:
    /// UDP from other source ports).
    unsolicited: u64,
    sources: SmallSet<IpAddr>,
}

struct Victim {
    win: Window,
    t: Tally,
    /// Service ports responses came from (amplification's explanation;
    /// the first few).
    services: SmallSet<u16>,
}

impl Victim {
    /// What is kept when the table is full: most packets this window,
    /// then most recent.
    fn worth(&self) -> (u64, Timestamp) {
        (self.t.hits, self.win.last)
    }
}

/// Per-victim windows shared by the flood detectors.
struct Victims {
    len_nanos: i64,
    map: Bounded<IpAddr, Victim>,
}

impl Victims {
    fn new(cfg: &Config) -> Victims {
        Victims {
            len_nanos: (cfg.window_secs * 1e9) as i64,
            map: Bounded::new(cfg.max_tracked),
        }
    }

    /// The victim's tally, its window rolled to `now` (a full table
    /// makes room for it).
    fn get(&mut self, v: IpAddr, now: Timestamp) -> &mut Victim {
        let len = self.len_nanos;
        let e = self.map.get_or_insert_with(v, Victim::worth, || Victim {
            win: Window::new(now),
            t: Tally::default(),
            services: SmallSet::default(),
        });
        let rate = e.t.hits as f64 / (len as f64 / 1e9);
        if e.win.roll(now, len, rate) {
            e.t = Tally::default();
        }
        e
    }

    fn peek(&mut self, v: &IpAddr) -> Option<&mut Victim> {
        self.map.get_mut(v)
    }

    fn expire(&mut self, now: Timestamp) {
        let idle = self.len_nanos.saturating_mul(3);
        self.map.expire_idle(now, idle, |e| e.win.last);
    }

    fn evicted(&self) -> u64 {
        self.map.evicted()
    }

    fn tracked(&self) -> usize {
        self.map.len()
    }
}

fn usual_rate(w: &Window) -> String {
    match w.usual {
        Some(u) => format!("its usual is {}/s", si(u)),
        None => "nothing like it was seen before".into(),
    }
}

/// What a rate detector found at a victim (the packet's destination).
struct Finding {
    kind: Kind,
    detector: &'static str,
    rate: f64,
    threshold: f64,
    unit: &'static str,
    summary: String,
    contributors: Vec<Contributor>,
    action: String,
    /// The sources, when few enough to name.
    sources: Vec<IpAddr>,
}

/// A victim's sources when there are at most [`SOURCES_NAMED`] of them
/// (sorted), else none: many sources are most likely spoofed.
fn named_sources(set: &SmallSet<IpAddr>) -> Vec<IpAddr> {
    if set.len() > SOURCES_NAMED {
        return Vec::new();
    }
    let mut v = set.values();
    v.sort_unstable();
    v
}

/// The alert of a packet rate past its threshold at `o.dst`: the parts
/// the SYN, UDP and ICMP floods share.
fn rate_alert(o: &Obs, w: &Window, f: Finding) -> Alert {
    let score = f.rate / f.threshold;
    Alert {
        time: o.ts,
        kind: f.kind,
        severity: Severity::from_ratio(score).max(Severity::High),
        entity: Entity::Host { addr: o.dst },
        summary: f.summary,
        evidence: Evidence {
            observed: f.rate,
            baseline: w.usual,
            expected: None,
            threshold: f.threshold,
            unit: f.unit.into(),
            score,
            contributors: f.contributors,
            sources: f.sources,
            ..Evidence::default()
        },
        action: f.action,
        detector: f.detector.into(),
        suppressed: 0,
    }
}

/// Many connection attempts at one host that never complete.
pub struct SynFlood {
    cfg: Config,
    v: Victims,
}

impl SynFlood {
    /// A detector with these thresholds.
    pub fn new(cfg: &Config) -> SynFlood {
        SynFlood {
            cfg: cfg.clone(),
            v: Victims::new(cfg),
        }
    }
}

impl PacketDetector for SynFlood {
    fn name(&self) -> &'static str {
        "syn_flood"
    }

    fn packet(&mut self, o: &Obs, out: &mut Vec<Alert>) -> f64 {
        if o.protocol != proto::TCP || !o.has_ports {
            return 0.0;
        }
        let syn = o.is_syn();
        let Some(e) = (if syn {
            Some(self.v.get(o.dst, o.ts))
        } else {
            self.v.peek(&o.dst)
        }) else {
            return 0.0;
        };
        e.t.other += 1;
        if !syn {
            return 0.0;
        }
        e.t.hits += 1;
        e.t.sources.insert(o.src, SOURCES_CAP);
        let elapsed = e.win.elapsed_secs(o.ts, 1.0);
        let rate = e.t.hits as f64 / elapsed;
        let share = e.t.hits as f64 / e.t.other as f64;
        let score = rate / self.cfg.syn_per_sec * (share / self.cfg.syn_share).min(1.0);
        if rate >= self.cfg.syn_per_sec && share >= self.cfg.syn_share && !e.win.fired {
            e.win.fired = true;
            out.push(rate_alert(
                o,
                &e.win,
                Finding {
                    kind: Kind::SynFlood,
                    sources: named_sources(&e.t.sources),
                    detector: "syn_flood",
                    rate,
                    threshold: self.cfg.syn_per_sec,
                    unit: "SYN/s",
                    summary: format!(
                        "{} received {} connection attempts ({}/s) from {} sources in {:.0} s, and {:.0} % of its inbound TCP packets were SYNs; {}",
                        o.dst,
                        thousands(e.t.hits),
                        si(rate),
                        thousands(e.t.sources.len() as u64),
                        elapsed,
                        share * 100.0,
                        usual_rate(&e.win)
                    ),
                    contributors: vec![
                        Contributor {
                            feature: "SYN share of inbound TCP".into(),
                            value: share,
                        },
                        Contributor {
                            feature: "distinct sources".into(),
                            value: e.t.sources.len() as f64,
                        },
                    ],
                    action: if e.t.sources.len() <= SOURCES_NAMED {
                        format!(
                            "Block the {} source(s) (wirewatch --respond does), enable SYN cookies on {} and rate-limit SYNs upstream.",
                            e.t.sources.len(),
                            o.dst
                        )
                    } else {
                        format!(
                            "Enable SYN cookies on {} and rate-limit SYNs upstream; many sources usually means spoofed addresses, so blocking sources will not help.",
                            o.dst
                        )
                    },
                },
            ));
        }
        score
    }

    fn expire(&mut self, now: Timestamp) {
        self.v.expire(now);
    }

    fn evicted(&self) -> u64 {
        self.v.evicted()
    }

    fn tracked(&self) -> usize {
        self.v.tracked()
    }
}

/// A UDP packet rate at one host far above normal, mostly unanswered.
pub struct UdpFlood {
    cfg: Config,
    v: Victims,
}

impl UdpFlood {
    /// A detector with these thresholds.
    pub fn new(cfg: &Config) -> UdpFlood {
        UdpFlood {
            cfg: cfg.clone(),
            v: Victims::new(cfg),
        }
    }
}

impl PacketDetector for UdpFlood {
    fn name(&self) -> &'static str {
        "udp_flood"
    }

    fn packet(&mut self, o: &Obs, out: &mut Vec<Alert>) -> f64 {
        if o.protocol != proto::UDP || o.later_fragment {
            return 0.0;
        }
        // The victim answering: counted against the flood.
        if let Some(e) = self.v.peek(&o.src) {
            e.t.other += 1;
        }
        // Responses from reflector services are the amplification detector's.
        if self.cfg.reflector_ports.contains(&o.src_port) {
            return 0.0;
        }
        let e = self.v.get(o.dst, o.ts);
        e.t.hits += 1;
        e.t.bytes += o.ip_len as u64;
        e.t.sources.insert(o.src, SOURCES_CAP);
        let elapsed = e.win.elapsed_secs(o.ts, 1.0);
        let rate = e.t.hits as f64 / elapsed;
        let answered = e.t.other as f64 / e.t.hits as f64;
        let score = rate / self.cfg.udp_per_sec;
        if rate >= self.cfg.udp_per_sec && answered <= 0.1 && !e.win.fired {
            e.win.fired = true;
            out.push(rate_alert(
                o,
                &e.win,
                Finding {
                    kind: Kind::UdpFlood,
                    sources: named_sources(&e.t.sources),
                    detector: "udp_flood",
                    rate,
                    threshold: self.cfg.udp_per_sec,
                    unit: "UDP packets/s",
                    summary: format!(
                        "{} received {} UDP packets ({}/s, {}) from {} sources in {:.0} s and answered {:.0} %; {}",
                        o.dst,
                        thousands(e.t.hits),
                        si(rate),
                        qty(e.t.bytes as f64 * 8.0 / elapsed, "bit/s"),
                        thousands(e.t.sources.len() as u64),
                        elapsed,
                        answered * 100.0,
                        usual_rate(&e.win)
                    ),
                    contributors: vec![
                        Contributor {
                            feature: "distinct sources".into(),
                            value: e.t.sources.len() as f64,
                        },
                        Contributor {
                            feature: "share answered".into(),
                            value: answered,
                        },
                    ],
                    action: format!(
                        "Rate-limit or filter UDP to {} upstream (by destination port if the flood has one); ask the provider for scrubbing if the link is full.",
                        o.dst
                    ),
                },
            ));
        }
        score
    }

    fn expire(&mut self, now: Timestamp) {
        self.v.expire(now);
    }

    fn evicted(&self) -> u64 {
        self.v.evicted()
    }

    fn tracked(&self) -> usize {
        self.v.tracked()
    }
}

/// An ICMP packet rate at one host far above normal.
pub struct IcmpFlood {
    cfg: Config,
    v: Victims,
}

impl IcmpFlood {
    /// A detector with these thresholds.
    pub fn new(cfg: &Config) -> IcmpFlood {
        IcmpFlood {
            cfg: cfg.clone(),
            v: Victims::new(cfg),
        }
    }
}

impl PacketDetector for IcmpFlood {
    fn name(&self) -> &'static str {
        "icmp_flood"
    }

    fn packet(&mut self, o: &Obs, out: &mut Vec<Alert>) -> f64 {
        if !matches!(o.protocol, proto::ICMP | proto::ICMPV6) {
            return 0.0;
        }
        let e = self.v.get(o.dst, o.ts);
        e.t.hits += 1;
        e.t.bytes += o.ip_len as u64;
        e.t.sources.insert(o.src, SOURCES_CAP);
        let elapsed = e.win.elapsed_secs(o.ts, 1.0);
        let rate = e.t.hits as f64 / elapsed;
        let score = rate / self.cfg.icmp_per_sec;
        if rate >= self.cfg.icmp_per_sec && !e.win.fired {
            e.win.fired = true;
            out.push(rate_alert(
                o,
                &e.win,
                Finding {
                    kind: Kind::IcmpFlood,
                    sources: named_sources(&e.t.sources),
                    detector: "icmp_flood",
                    rate,
                    threshold: self.cfg.icmp_per_sec,
                    unit: "ICMP packets/s",
                    summary: format!(
                        "{} received {} ICMP packets ({}/s, {}) from {} sources in {:.0} s; {}",
                        o.dst,
                        thousands(e.t.hits),
                        si(rate),
                        qty(e.t.bytes as f64 * 8.0 / elapsed, "bit/s"),
                        thousands(e.t.sources.len() as u64),
                        elapsed,
                        usual_rate(&e.win)
                    ),
                    contributors: vec![Contributor {
                        feature: "distinct sources".into(),
                        value: e.t.sources.len() as f64,
                    }],
                    action: format!(
                        "Rate-limit ICMP to {} at the edge (keep the types path-MTU discovery needs).",
                        o.dst
                    ),
                },
            ));
        }
        score
    }

    fn expire(&mut self, now: Timestamp) {
        self.v.expire(now);
    }

    fn evicted(&self) -> u64 {
        self.v.evicted()
    }

    fn tracked(&self) -> usize {
        self.v.tracked()
    }
}

/// Responses from many reflectors to one host that did not ask.
pub struct Amplification {
    cfg: Config,
    v: Victims,
}

impl Amplification {
    /// A detector with these thresholds.
    pub fn new(cfg: &Config) -> Amplification {
        Amplification {
            cfg: cfg.clone(),
            v: Victims::new(cfg),
        }
    }

    fn is_response(&self, o: &Obs) -> bool {
        (o.protocol == proto::UDP && self.cfg.reflector_ports.contains(&o.src_port))
            || o.is_syn_ack()
    }

    fn is_request(&self, o: &Obs) -> bool {
        (o.protocol == proto::UDP && self.cfg.reflector_ports.contains(&o.dst_port)) || o.is_syn()
    }

    /// A UDP packet to a host receiving responses that is not one of
    /// them: counted against the responses' share.
    fn count_unsolicited(&mut self, o: &Obs) {
        if o.protocol != proto::UDP || !o.has_ports || self.v.map.is_empty() {
            return;
        }
        if let Some(e) = self.v.peek(&o.dst) {
            e.t.unsolicited += 1;
        }
    }
}

impl PacketDetector for Amplification {
    fn name(&self) -> &'static str {
        "amplification"
    }

    fn packet(&mut self, o: &Obs, out: &mut Vec<Alert>) -> f64 {
        let response = o.has_ports && self.is_response(o);
        // What the victim asked for (a packet between two service ports,
        // such as ISAKMP's 500 → 500, counts as a response).
        if o.has_ports && !response && self.is_request(o) {
            if let Some(e) = self.v.peek(&o.src) {
                e.t.other += 1;
                e.t.other_bytes += o.ip_len as u64;
            }
            return 0.0;
        }
        // Later fragments of large responses carry no ports: they count for
        // a host already receiving responses.
        let fragment = o.later_fragment && o.protocol == proto::UDP;
        if !response && !fragment {
            self.count_unsolicited(o);
            return 0.0;
        }
        let Some(e) = (if response {
            Some(self.v.get(o.dst, o.ts))
        } else {
            self.v.peek(&o.dst)
        }) else {
            return 0.0;
        };
        e.t.hits += 1;
        e.t.bytes += o.ip_len as u64;
        if response {
            e.t.sources.insert(o.src, SOURCES_CAP);
            e.services.insert_upto(o.src_port, 8);
        }
        let n = e.t.sources.len();
        let ratio = e.t.bytes as f64 / e.t.other_bytes.max(1) as f64;
        let share = e.t.hits as f64 / (e.t.hits + e.t.unsolicited) as f64;
        let thr = self.cfg.reflectors as f64;
        let score = n as f64 / thr
            * (ratio / self.cfg.amplification_ratio).min(1.0)
            * (share / self.cfg.response_share).min(1.0);
        if n as f64 >= thr
            && ratio >= self.cfg.amplification_ratio
            && share >= self.cfg.response_share
            && e.t.hits >= 2 * self.cfg.reflectors as u64
            && !e.win.fired
        {
            e.win.fired = true;
            let elapsed = e.win.elapsed_secs(o.ts, 0.001);
            let ports = e
                .services
                .values()
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let asked = if e.t.other_bytes == 0 {
                "while it sent no requests".to_string()
            } else {
                format!(
                    "{:.0}× the {} it sent",
                    ratio,
                    qty(e.t.other_bytes as f64, "B")
                )
            };
            out.push(Alert {
                time: o.ts,
                kind: Kind::Amplification,
                severity: Severity::from_ratio(n as f64 / thr).max(Severity::High),
                entity: Entity::Host { addr: o.dst },
                summary: format!(
                    "{} received {} of responses (source port {ports}) from {} reflectors in {}, {asked}",
                    o.dst,
                    qty(e.t.bytes as f64, "B"),
                    thousands(n as u64),
                    duration_short(elapsed),
                ),
                evidence: Evidence {
                    observed: n as f64,
                    baseline: None,
                    expected: None,
                    threshold: thr,
                    unit: "distinct reflectors".into(),
                    score,
                    contributors: vec![
                        Contributor {
                            feature: "response bytes".into(),
                            value: e.t.bytes as f64,
                        },
                        Contributor {
                            feature: "request bytes".into(),
                            value: e.t.other_bytes as f64,
                        },
                        Contributor {
                            feature: "share of inbound UDP from reflector ports".into(),
                            value: share,
                        },
                    ],
                    ..Evidence::default()
                },
                action: format!(
                    "Filter traffic to {} from source port(s) {ports} upstream (ask the provider if the link is full); the reflectors are innocent, their addresses were abused.",
                    o.dst
                ),
                detector: self.name().into(),
                suppressed: 0,
            });
        }
        score
    }

    fn expire(&mut self, now: Timestamp) {
        self.v.expire(now);
    }

    fn evicted(&self) -> u64 {
        self.v.evicted()
    }

    fn tracked(&self) -> usize {
        self.v.tracked()
    }
}
