//! Alerts: what fired, about whom, why (in one sentence and in numbers),
//! and what to do. Plus the limiter that keeps one incident from becoming
//! a thousand lines.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use wirewatch_wire::Timestamp;

use crate::Map;

/// What kind of thing an alert reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Traffic far above its seasonal baseline.
    Spike,
    /// Traffic far below its seasonal baseline.
    Drop,
    /// One source probing many ports of one host.
    VerticalScan,
    /// One source probing one port on many hosts.
    HorizontalSweep,
    /// Many connection attempts to one login service: password guessing.
    BruteForce,
    /// Many connection attempts to one host that never complete.
    SynFlood,
    /// A UDP packet rate at one host far above normal, mostly one way.
    UdpFlood,
    /// An ICMP packet rate at one host far above normal.
    IcmpFlood,
    /// Responses from many reflectors to one host that asked for none.
    Amplification,
    /// DNS queries that carry data: long, random-looking, many unique names.
    DnsTunnel,
    /// Connections to one destination at a regular period.
    Beaconing,
    /// Far more bytes out to one destination than the host usually sends.
    Exfiltration,
    /// A process with a stable set of destinations contacting a new one.
    NewDestination,
    /// The online ML detector scored traffic as unlike anything learned.
    Anomaly,
    /// A link's upper forecast band is expected to cross a fraction of
    /// its capacity.
    Capacity,
    /// Traffic outside its forecast's 99 % band.
    ForecastDeviation,
    /// TCP retransmissions or round-trip time far above their baseline.
    TcpDegradation,
}

impl Kind {
    /// Every kind, in a stable order.
    pub const ALL: [Kind; 17] = [
        Kind::Spike,
        Kind::Drop,
        Kind::VerticalScan,
        Kind::HorizontalSweep,
        Kind::BruteForce,
        Kind::SynFlood,
        Kind::UdpFlood,
        Kind::IcmpFlood,
        Kind::Amplification,
        Kind::DnsTunnel,
        Kind::Beaconing,
        Kind::Exfiltration,
        Kind::NewDestination,
        Kind::Anomaly,
        Kind::Capacity,
        Kind::ForecastDeviation,
        Kind::TcpDegradation,
    ];

    /// The snake_case name used in JSON, config and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Spike => "spike",
            Kind::Drop => "drop",
            Kind::VerticalScan => "vertical_scan",
            Kind::HorizontalSweep => "horizontal_sweep",
            Kind::BruteForce => "brute_force",
            Kind::SynFlood => "syn_flood",
            Kind::UdpFlood => "udp_flood",
            Kind::IcmpFlood => "icmp_flood",
            Kind::Amplification => "amplification",
            Kind::DnsTunnel => "dns_tunnel",
            Kind::Beaconing => "beaconing",
            Kind::Exfiltration => "exfiltration",
            Kind::NewDestination => "new_destination",
            Kind::Anomaly => "anomaly",
            Kind::Capacity => "capacity",
            Kind::ForecastDeviation => "forecast_deviation",
            Kind::TcpDegradation => "tcp_degradation",
        }
    }

    /// The kind with this name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgent an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Worth a look.
    Low,
    /// Worth a look soon.
    Medium,
    /// Act now.
    High,
    /// An attack in progress.
    Critical,
}

impl Severity {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The severity with this name.
    pub fn parse(s: &str) -> Option<Severity> {
        [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// Severity from how far past its threshold a score is (1 = at it).
    pub fn from_ratio(r: f64) -> Severity {
        if r >= 10.0 {
            Severity::Critical
        } else if r >= 4.0 {
            Severity::High
        } else if r >= 2.0 {
            Severity::Medium
        } else {
            Severity::Low
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whom an alert is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entity {
    /// An interface.
    Iface {
        /// Its name.
        name: String,
    },
    /// One host.
    Host {
        /// Its address.
        addr: IpAddr,
    },
    /// Traffic from one host to another.
    Pair {
        /// The source (the scanner, the client, the sender).
        src: IpAddr,
        /// The destination.
        dst: IpAddr,
    },
    /// A process.
    Process {
        /// Its command name.
        name: String,
    },
    /// One conversation.
    Flow {
        /// Source address.
        src: IpAddr,
        /// Destination address.
        dst: IpAddr,
        /// Destination port.
        dst_port: u16,
        /// IP protocol.
        protocol: u8,
    },
    /// A DNS domain used by one client.
    Domain {
        /// The client.
        client: IpAddr,
        /// The registered domain.
        domain: String,
    },
    /// Many entities at once: a roll-up alert (see [`crate::rollup`]);
    /// they are listed in its evidence.
    Many {
        /// How many.
        members: u64,
        /// What they are ("sources", "hosts", …).
        noun: String,
        /// What they have in common ("10.0.0.2:80/tcp"), when they share one.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        target: Option<String>,
    },
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entity::Iface { name } => write!(f, "interface {name}"),
            Entity::Host { addr } => write!(f, "{addr}"),
            Entity::Pair { src, dst } => write!(f, "{src} -> {dst}"),
            Entity::Process { name } => write!(f, "process {name}"),
            Entity::Flow {
                src,
                dst,
                dst_port,
                protocol,
            } => write!(
                f,
                "{src} -> {dst}:{dst_port}/{}",
                wirewatch_wire::proto::name(*protocol)
            ),
            Entity::Domain { client, domain } => write!(f, "{client} -> {domain}"),
            Entity::Many {
                members,
                noun,
                target,
            } => {
                write!(f, "{} {noun}", wirewatch_units::thousands(*members))?;
                match target {
                    Some(t) => write!(f, " -> {t}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The numbers behind an alert.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// What was measured (its unit is in `unit`).
    pub observed: f64,
    /// What was expected: the baseline or the usual value, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub baseline: Option<f64>,
    /// The expected range `[low, high]`, when the detector has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expected: Option<[f64; 2]>,
    /// The threshold that was crossed.
    pub threshold: f64,
    /// The unit of `observed`, `baseline` and `threshold`.
    pub unit: String,
    /// How far past normal: a z-like score for baselines, observed over
    /// threshold for heuristics, score over threshold for the ML detector.
    pub score: f64,
    /// The features that contributed most, largest first.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub contributors: Vec<Contributor>,
    /// A roll-up's entities, highest score first, at most
    /// [`crate::rollup::MEMBERS_LISTED`].
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub members: Vec<Member>,
    /// A roll-up's entities past that cap: counted, not listed.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub members_omitted: u64,
    /// The addresses the traffic came from, when few enough to name (at
    /// most [`SOURCES_NAMED`]): a flood's sources. Empty when there were
    /// more (spoofed, most likely) or the entity already names the source.
    /// What a `block-source` response blocks.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub sources: Vec<std::net::IpAddr>,
}

/// Most sources an alert names in [`Evidence::sources`].
pub const SOURCES_NAMED: usize = 16;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One entity a roll-up stands for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// About whom its alerts were.
    pub entity: Entity,
    /// Its highest severity.
    pub severity: Severity,
    /// Its highest score.
    pub score: f64,
    /// Its alerts that joined the roll-up.
    pub alerts: u64,
}

/// One feature's share in an alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contributor {
    /// The feature or feature group.
    pub feature: String,
    /// Its value (for ML groups: the group's reconstruction error over its
    /// training average).
    pub value: f64,
}

/// One alert.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    /// When it fired (packet time).
    #[serde(serialize_with = "ts_rfc3339::serialize")]
    pub time: Timestamp,
    /// What kind of thing happened.
    pub kind: Kind,
    /// How urgent.
    pub severity: Severity,
    /// About whom.
    pub entity: Entity,
    /// One sentence a person understands.
    pub summary: String,
    /// The numbers behind it.
    pub evidence: Evidence,
    /// What to do about it.
    pub action: String,
    /// The detector that fired.
    pub detector: String,
    /// Alerts of the same kind about the same entity held back by the
    /// limiter since the last one shown.
    pub suppressed: u64,
}

impl Alert {
    /// Whether this alert stands for many entities (a roll-up).
    pub fn is_rollup(&self) -> bool {
        matches!(self.entity, Entity::Many { .. })
    }
}

mod ts_rfc3339 {
    use serde::Serializer;
    use wirewatch_wire::Timestamp;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339())
    }
}

/// Keeps one alert per kind and entity per window: the first fires, the
/// rest are counted and the count rides on the next one shown. A higher
/// severity than the last shown always fires.
#[derive(Debug)]
pub struct Limiter {
    window_nanos: i64,
    last: Map<(Kind, Entity), (Timestamp, Severity, u64)>,
    /// Most entries kept; the oldest half goes when it is reached.
    cap: usize,
}

impl Limiter {
    /// One alert per kind and entity every `window_secs`.
    pub fn new(window_secs: f64) -> Limiter {
        Limiter {
            window_nanos: (window_secs * 1e9) as i64,
            last: Map::default(),
            cap: 100_000,
        }
    }

    /// Whether `a` is shown; when it is, its `suppressed` count is set.
    pub fn admit(&mut self, a: &mut Alert) -> bool {
        let key = (a.kind, a.entity.clone());
        match self.last.get_mut(&key) {
            Some((t, sev, held))
                if a.time.nanos_since(*t) < self.window_nanos && a.severity <= *sev =>
            {
                *held += 1;
                false
            }
            Some((t, sev, held)) => {
                a.suppressed = *held;
                *t = a.time;
                *sev = a.severity;
                *held = 0;
                true
            }
            None => {
                if self.last.len() >= self.cap {
                    self.forget_before(a.time.add_nanos(-self.window_nanos));
                }
                self.last.insert(key, (a.time, a.severity, 0));
                true
            }
        }
    }

    fn forget_before(&mut self, t: Timestamp) {
        self.last.retain(|_, (at, _, _)| *at >= t);
        if self.last.len() >= self.cap {
            self.last.clear();
        }
    }
}
