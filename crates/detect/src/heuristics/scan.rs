//! Vertical port scans (one source, one target, many ports) and
//! horizontal sweeps (one source, one port, many targets).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use wirewatch_units::{duration_short, thousands};
use wirewatch_wire::{proto, Timestamp};

use super::{positive, SmallSet, Window};
use crate::alert::{Alert, Entity, Evidence, Kind, Severity};
use crate::detector::PacketDetector;
use crate::obs::Obs;
use crate::Bounded;

/// Scan and sweep thresholds (`[detect.heuristics.scan]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Run these two detectors.
    pub enabled: bool,
    /// Window length in seconds.
    pub window_secs: f64,
    /// Distinct ports of one host probed by one source within a window.
    pub ports: u32,
    /// Distinct hosts probed on one TCP/UDP port by one source within a window.
    pub hosts: u32,
    /// Distinct hosts pinged (ICMP echo) by one source within a window.
    pub ping_hosts: u32,
    /// UDP destination ports that clients legitimately send to many
    /// servers (DNS, NTP, mDNS, SSDP): never a sweep.
    pub sweep_ignore_udp_ports: Vec<u16>,
    /// Connection attempts from one source to one login service of one
    /// host within a window (password guessing).
    pub logins: u32,
    /// Ports of login services watched for guessing (SSH, FTP, telnet,
    /// mail, LDAP, SMB, VMware auth, databases, RDP, VNC, Redis, ...).
    pub login_ports: Vec<u16>,
    /// Most (source, target) or (source, port) entries tracked.
    pub max_tracked: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            window_secs: 60.0,
            ports: 50,
            hosts: 64,
            ping_hosts: 16,
            sweep_ignore_udp_ports: vec![53, 123, 137, 1900, 5353],
            logins: 30,
            login_ports: vec![
                21, 22, 23, 25, 110, 143, 389, 445, 465, 587, 902, 993, 995, 1433, 3306, 3389,
                5432, 5900, 6379, 27017,
            ],
            max_tracked: 200_000,
        }
    }
}

impl Config {
    /// Checks the thresholds.
    pub fn validate(&self) -> Result<(), String> {
        positive("detect.heuristics.scan.window-secs", self.window_secs)?;
        positive("detect.heuristics.scan.ports", self.ports as f64)?;
        positive("detect.heuristics.scan.hosts", self.hosts as f64)?;
        positive("detect.heuristics.scan.ping-hosts", self.ping_hosts as f64)?;
        positive("detect.heuristics.scan.logins", self.logins as f64)?;
        positive(
            "detect.heuristics.scan.max-tracked",
            self.max_tracked as f64,
        )
    }
}

/// Distinct values counted exactly per entity; past this a sketch
/// estimates them (thresholds are far below it).
const CAP: usize = 512;

/// A probe: an attempt to reach a port that may not answer. TCP without
/// ACK (SYN, FIN, NULL and Xmas scans); UDP and SCTP towards a port no
/// higher than the source's (a client's ephemeral port to a service; a
/// server's answers go the other way and a DNS resolver answering one
/// client's many ports is not scanning it).
fn is_probe(o: &Obs) -> bool {
    o.has_ports
        && match o.protocol {
            proto::TCP => o.tcp_flags & 0x10 == 0 && o.tcp_flags & 0x04 == 0,
            proto::UDP | proto::SCTP => o.dst_port <= o.src_port,
            _ => false,
        }
}

struct Pair {
    win: Window,
    ports: SmallSet<u16>,
    open: u32,
}

impl Pair {
    /// What is kept when the table is full: most ports, then most recent.
    fn worth(&self) -> (usize, Timestamp) {
        (self.ports.len(), self.win.last)
    }
}

/// One source probing many ports of one target.
pub struct VerticalScan {
    cfg: Config,
    len_nanos: i64,
    pairs: Bounded<(IpAddr, IpAddr), Pair>,
}

impl VerticalScan {
    /// A detector with these thresholds.
    pub fn new(cfg: &Config) -> VerticalScan {
        VerticalScan {
            cfg: cfg.clone(),
            len_nanos: (cfg.window_secs * 1e9) as i64,
            pairs: Bounded::new(cfg.max_tracked),
        }
    }
}

impl PacketDetector for VerticalScan {
    fn name(&self) -> &'static str {
        "vertical_scan"
    }

    fn packet(&mut self, o: &Obs, out: &mut Vec<Alert>) -> f64 {
        if o.is_syn_ack() {
            // An open port answering a probe.
            if let Some(p) = self.pairs.get_mut(&(o.dst, o.src)) {
                if p.ports.contains(&o.src_port) {
                    p.open += 1;
                }
            }
            return 0.0;
        }
        if !is_probe(o) {
            return 0.0;
        }
        let key = (o.src, o.dst);
        let p = self.pairs.get_or_insert_with(key, Pair::worth, || Pair {
            win: Window::new(o.ts),
            ports: SmallSet::default(),
            open: 0,
        });
        if p.win.roll(o.ts, self.len_nanos, p.ports.len() as f64) {
            p.ports.clear();
            p.open = 0;
        }
        p.ports.insert(o.dst_port, CAP);
        let n = p.ports.len();
        let thr = self.cfg.ports as usize;
        if n >= thr && !p.win.fired {
            p.win.fired = true;
            let took = p.win.elapsed_secs(o.ts, 1.0);
            let usual = match p.win.usual {
                Some(u) => format!("its usual is {}", u.round() as u64),
                None => "it had not probed this host before".to_string(),
            };
            out.push(Alert {
                time: o.ts,
                kind: Kind::VerticalScan,
                severity: Severity::from_ratio(n as f64 / thr as f64).max(Severity::Medium),
                entity: Entity::Pair {
                    src: o.src,
                    dst: o.dst,
                },
                summary: format!(
                    "{} contacted {} ports on {} in {}; {usual}",
                    o.src,
                    thousands(n as u64),
                    o.dst,
                    duration_short(took)
                ),
                evidence: Evidence {
                    observed: n as f64,
                    baseline: p.win.usual,
                    expected: None,
                    threshold: thr as f64,
                    unit: format!("distinct ports in {}", duration_short(self.cfg.window_secs)),
                    score: n as f64 / thr as f64,
                    contributors: vec![crate::Contributor {
                        feature: "ports that answered (open)".into(),
                        value: p.open as f64,
                    }],
                    ..Evidence::default()
                },
                action: format!(
                    "Check whether {} is an authorised scanner; if not, block it and review what {} exposes.",
                    o.src, o.dst
                ),
                detector: self.name().into(),
                suppressed: 0,
            });
        }
        n as f64 / thr as f64
    }

    fn expire(&mut self, now: Timestamp) {
        let idle = self.len_nanos.saturating_mul(2);
        self.pairs.expire_idle(now, idle, |p| p.win.last);
    }

    fn evicted(&self) -> u64 {
        self.pairs.evicted()
    }

    fn tracked(&self) -> usize {
        self.pairs.len()
    }

    fn per_source(&self) -> bool {
        true
    }

    fn first_score(&self, o: &Obs) -> f64 {
        if is_probe(o) {
            1.0 / f64::from(self.cfg.ports)
        } else {
            0.0
        }
    }
}

struct Fan {
    win: Window,
    hosts: SmallSet<IpAddr>,
    answered: u32,
}

impl Fan {
    /// What is kept when the table is full: most hosts, then most recent.
    fn worth(&self) -> (usize, Timestamp) {
        (self.hosts.len(), self.win.last)
    }
}

/// One source probing one port (or pinging) across many hosts.
pub struct HorizontalSweep {
    cfg: Config,
    len_nanos: i64,
    /// (source, protocol, port; 0 for pings).
    fans: Bounded<(IpAddr, u8, u16), Fan>,
}

impl HorizontalSweep {
    /// A detector with these thresholds.
    pub fn new(cfg: &Config) -> HorizontalSweep {
        HorizontalSweep {
            cfg: cfg.clone(),
            len_nanos: (cfg.window_secs * 1e9) as i64,
            fans: Bounded::new(cfg.max_tracked),
        }
    }
}

fn is_unicast(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => !(v.is_multicast() || v.is_broadcast() || v.octets()[3] == 255),
        IpAddr::V6(v) => !v.is_multicast(),
    }
}

const ECHO_REQUEST: [u8; 2] = [8, 128];

impl HorizontalSweep {
    /// The fan a probe or ping adds a host to, and its threshold; `None`
    /// for packets that are neither (or go to a group address).
    fn fan_of(&self, o: &Obs) -> Option<((IpAddr, u8, u16), u32)> {
        let icmp = o.icmp_type();
        let fan = if icmp.is_some_and(|t| ECHO_REQUEST.contains(&t)) {
            ((o.src, o.protocol, 0), self.cfg.ping_hosts)
        } else if is_probe(o)
            && !(o.protocol == proto::UDP && self.cfg.sweep_ignore_udp_ports.contains(&o.dst_port))
        {
            ((o.src, o.protocol, o.dst_port), self.cfg.hosts)
        } else {
            return None;
        };
        is_unicast(&o.dst).then_some(fan)
    }
}

const ECHO_REPLY: [u8; 2] = [0, 129];

impl PacketDetector for HorizontalSweep {
    fn name(&self) -> &'static str {
        "horizontal_sweep"
    }

    fn packet(&mut self, o: &Obs, out: &mut Vec<Alert>) -> f64 {
        let icmp = o.icmp_type();
        // Answers: a SYN-ACK or an echo reply from a host that was probed.
        let answer = if o.is_syn_ack() {
            Some((o.dst, o.protocol, o.src_port))
        } else if icmp.is_some_and(|t| ECHO_REPLY.contains(&t)) {
            Some((o.dst, o.protocol, 0))
        } else {
            None
        };
        if let Some(k) = answer {
            if let Some(f) = self.fans.get_mut(&k) {
                if f.hosts.contains(&o.src) {
                    f.answered += 1;
                }
            }
            return 0.0;
        }
        let Some((key, thr)) = self.fan_of(o) else {
            return 0.0;
        };
        let f = self.fans.get_or_insert_with(key, Fan::worth, || Fan {
            win: Window::new(o.ts),
            hosts: SmallSet::default(),
            answered: 0,
        });
        if f.win.roll(o.ts, self.len_nanos, f.hosts.len() as f64) {
            f.hosts.clear();
            f.answered = 0;
        }
        f.hosts.insert(o.dst, CAP);
        let n = f.hosts.len();
        let answered = (f.answered as usize).min(n);
        let thr = thr as usize;
        // Most of a sweep's targets do not answer; a busy client's do.
        // Pings are the exception: a ping sweep finds the hosts that answer.
        let quiet = key.2 == 0 || (n - answered) * 2 >= n;
        if n >= thr && quiet && !f.win.fired {
            f.win.fired = true;
            let took = f.win.elapsed_secs(o.ts, 1.0);
            let what = if key.2 == 0 && icmp.is_some() {
                "pinged".to_string()
            } else {
                format!("probed port {}/{} on", key.2, proto::name(key.1))
            };
            let usual = match f.win.usual {
                Some(u) => format!("its usual is {}", u.round() as u64),
                None => "it had not done so before".to_string(),
            };
            out.push(Alert {
                time: o.ts,
                kind: Kind::HorizontalSweep,
                severity: Severity::from_ratio(n as f64 / thr as f64).max(Severity::Medium),
                entity: Entity::Host { addr: o.src },
                summary: format!(
                    "{} {what} {} hosts in {} ({} answered); {usual}",
                    o.src,
                    thousands(n as u64),
                    duration_short(took),
                    thousands(answered as u64)
                ),
                evidence: Evidence {
                    observed: n as f64,
                    baseline: f.win.usual,
                    expected: None,
                    threshold: thr as f64,
                    unit: format!("distinct hosts in {}", duration_short(self.cfg.window_secs)),
                    score: n as f64 / thr as f64,
                    contributors: vec![crate::Contributor {
                        feature: "hosts that answered".into(),
                        value: answered as f64,
                    }],
                    ..Evidence::default()
                },
                action: format!(
                    "Find out what runs on {} and why it maps the network; isolate it if it is not a scanner you run.",
                    o.src
                ),
                detector: self.name().into(),
                suppressed: 0,
            });
        }
        n as f64 / thr as f64
    }

    fn expire(&mut self, now: Timestamp) {
        let idle = self.len_nanos.saturating_mul(2);
        self.fans.expire_idle(now, idle, |f| f.win.last);
    }

    fn evicted(&self) -> u64 {
        self.fans.evicted()
    }

    fn tracked(&self) -> usize {
        self.fans.len()
    }

    fn per_source(&self) -> bool {
        true
    }

    fn first_score(&self, o: &Obs) -> f64 {
        self.fan_of(o).map_or(0.0, |(_, thr)| 1.0 / f64::from(thr))
    }
}

struct Tries {
    win: Window,
    attempts: u32,
    sources: SmallSet<u16>,
}

impl Tries {
    /// What is kept when the table is full: most attempts, then most recent.
    fn worth(&self) -> (u32, Timestamp) {
        (self.attempts, self.win.last)
    }
}

/// Many connection attempts from one source to one login service: password
/// guessing.
pub struct BruteForce {
    cfg: Config,
    len_nanos: i64,
    /// (source, target, port).
    tries: Bounded<(IpAddr, IpAddr, u16), Tries>,
}

impl BruteForce {
    /// A detector with these thresholds.
    pub fn new(cfg: &Config) -> BruteForce {
        BruteForce {
            cfg: cfg.clone(),
            len_nanos: (cfg.window_secs * 1e9) as i64,
            tries: Bounded::new(cfg.max_tracked),
        }
    }
}

impl BruteForce {
    /// A connection attempt to a login service.
    fn is_attempt(&self, o: &Obs) -> bool {
        o.is_syn() && self.cfg.login_ports.contains(&o.dst_port)
    }
}

impl PacketDetector for BruteForce {
    fn name(&self) -> &'static str {
        "brute_force"
    }

    fn packet(&mut self, o: &Obs, out: &mut Vec<Alert>) -> f64 {
        if !self.is_attempt(o) {
            return 0.0;
        }
        let key = (o.src, o.dst, o.dst_port);
        let t = self.tries.get_or_insert_with(key, Tries::worth, || Tries {
            win: Window::new(o.ts),
            attempts: 0,
            sources: SmallSet::default(),
        });
        if t.win.roll(o.ts, self.len_nanos, t.attempts as f64) {
            t.attempts = 0;
            t.sources.clear();
        }
        t.attempts += 1;
        // Distinct client ports: retransmitted SYNs are not new attempts.
        let fresh = t.sources.insert(o.src_port, CAP);
        if !fresh {
            t.attempts -= 1;
        }
        let n = t.attempts;
        let thr = self.cfg.logins;
        if n >= thr && !t.win.fired {
            t.win.fired = true;
            let took = t.win.elapsed_secs(o.ts, 1.0);
            let usual = match t.win.usual {
                Some(u) => format!("its usual is {}", u.round() as u64),
                None => "it had not connected there before".to_string(),
            };
            out.push(Alert {
                time: o.ts,
                kind: Kind::BruteForce,
                severity: Severity::from_ratio(n as f64 / thr as f64).max(Severity::Medium),
                entity: Entity::Flow {
                    src: o.src,
                    dst: o.dst,
                    dst_port: o.dst_port,
                    protocol: o.protocol,
                },
                summary: format!(
                    "{} opened {} connections to the login service on {}:{} in {}; {usual}",
                    o.src,
                    thousands(n as u64),
                    o.dst,
                    o.dst_port,
                    duration_short(took)
                ),
                evidence: Evidence {
                    observed: n as f64,
                    baseline: t.win.usual,
                    expected: None,
                    threshold: thr as f64,
                    unit: format!("connections in {}", duration_short(self.cfg.window_secs)),
                    score: n as f64 / thr as f64,
                    contributors: Vec::new(),
                    ..Evidence::default()
                },
                action: format!(
                    "Check {}'s authentication log for failures from {}; block the source and require keys or a second factor for that service.",
                    o.dst, o.src
                ),
                detector: self.name().into(),
                suppressed: 0,
            });
        }
        n as f64 / thr as f64
    }

    fn expire(&mut self, now: Timestamp) {
        let idle = self.len_nanos.saturating_mul(2);
        self.tries.expire_idle(now, idle, |t| t.win.last);
    }

    fn evicted(&self) -> u64 {
        self.tries.evicted()
    }

    fn tracked(&self) -> usize {
        self.tries.len()
    }

    fn per_source(&self) -> bool {
        true
    }

    fn first_score(&self, o: &Obs) -> f64 {
        if self.is_attempt(o) {
            1.0 / f64::from(self.cfg.logins)
        } else {
            0.0
        }
    }
}
