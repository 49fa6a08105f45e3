//! The response policy: which alerts lead to which action, in which mode,
//! within which limits. Plain data, checked where it is read (the binary's
//! `[respond]` table); matching an alert and finding what to block are
//! pure functions here.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use wirewatch_detect::{Alert, Entity, Kind, Severity};

use crate::hooks::Hook;
use crate::{full_prefix, IpNet, Target};

/// Whether decisions are carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Decide, log and show "would block"; change nothing.
    DryRun,
    /// Block and run the hooks.
    Enforce,
}

impl Mode {
    /// `dry-run` or `enforce`, as in the config and `--respond`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::DryRun => "dry-run",
            Mode::Enforce => "enforce",
        }
    }

    /// Reads `dry-run` or `enforce`.
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "dry-run" => Ok(Mode::DryRun),
            "enforce" => Ok(Mode::Enforce),
            _ => Err(format!("'{s}' is not a response mode (dry-run or enforce)")),
        }
    }
}

/// What a rule does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Drop traffic from the alert's source address(es).
    BlockSource,
    /// Drop outbound traffic to the alert's destination (and port, when
    /// the alert names one).
    BlockDestination,
    /// Run a program (no shell) with the alert JSON on stdin, or POST it
    /// to a URL.
    Hook(Arc<Hook>),
}

impl Action {
    /// The name used in the config and the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            Action::BlockSource => "block-source",
            Action::BlockDestination => "block-destination",
            Action::Hook(h) => match **h {
                Hook::Exec { .. } => "exec",
                Hook::Webhook { .. } => "webhook",
            },
        }
    }

    /// Whether it puts addresses into the firewall.
    pub fn is_block(&self) -> bool {
        matches!(self, Action::BlockSource | Action::BlockDestination)
    }
}

/// One line of the policy: alerts of these kinds, at least this severe
/// (and scored), whose target lies in the scope → the action.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// "rule 2" or the name given in the config.
    pub name: String,
    /// Kinds it applies to; empty: every kind.
    pub kinds: Vec<Kind>,
    /// Least severity.
    pub min_severity: Severity,
    /// Least evidence score, when set.
    pub min_score: Option<f64>,
    /// What it does.
    pub action: Action,
    /// How long a block lasts.
    pub duration: Duration,
    /// Blocks only of addresses inside one of these; empty: any address.
    pub scope: Vec<IpNet>,
}

impl Rule {
    /// Whether the alert is one this rule is about.
    pub fn matches(&self, a: &Alert) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&a.kind))
            && a.severity >= self.min_severity
            && self.min_score.is_none_or(|s| a.evidence.score >= s)
    }

    /// Whether a block target lies in the rule's scope.
    pub fn in_scope(&self, t: &Target) -> bool {
        let a = t.addr();
        self.scope.is_empty() || self.scope.iter().any(|n| n.contains(a))
    }

    /// One line: `rule 1: vertical_scan, syn_flood ≥ medium → block-source for 1h`.
    pub fn describe(&self) -> String {
        let kinds = if self.kinds.is_empty() {
            "every kind".to_string()
        } else {
            self.kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut s = format!(
            "{}: {kinds} of severity {} or higher",
            self.name,
            self.min_severity.as_str()
        );
        if let Some(m) = self.min_score {
            let _ = write!(s, " and score {m} or more");
        }
        let _ = write!(s, " → {}", self.action.name());
        match &self.action {
            Action::BlockSource | Action::BlockDestination => {
                let _ = write!(s, " for {}", duration_text(self.duration));
            }
            Action::Hook(h) => match &**h {
                Hook::Exec { program, args, .. } => {
                    let _ = write!(s, " {}", program.display());
                    for a in args {
                        let _ = write!(s, " {a}");
                    }
                }
                Hook::Webhook { url, .. } => {
                    let _ = write!(s, " {}", redact_url(&url.to_string()));
                }
            },
        }
        if !self.scope.is_empty() {
            let nets: Vec<String> = self.scope.iter().map(|n| n.to_string()).collect();
            let _ = write!(s, " (only inside {})", nets.join(", "));
        }
        s
    }
}

/// A URL without its query string (where tokens often are).
fn redact_url(url: &str) -> String {
    url.split_once('?').map_or(url, |(r, _)| r).to_string()
}

/// `1h`, `30m`, `90s`, `1d2h`: the shortest exact form.
pub fn duration_text(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, n) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if s >= n {
            let _ = write!(out, "{}{unit}", s / n);
            s %= n;
        }
    }
    out
}

/// How long a block lasts when a rule does not say.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(3_600);
/// Most addresses blocked at once.
pub const DEFAULT_MAX_BLOCKS: usize = 10_000;
/// Most new blocks a minute.
pub const DEFAULT_BLOCKS_PER_MINUTE: u32 = 60;

/// The whole policy in force.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Dry-run (the default) or enforce.
    pub mode: Mode,
    /// The rules, in order; every matching rule applies.
    pub rules: Vec<Rule>,
    /// Whether `rules` is the built-in default (the config named none).
    pub default_rules: bool,
    /// Also block in the forward hook (routers, container hosts).
    pub forward: bool,
    /// Most addresses blocked at once.
    pub max_blocks: usize,
    /// Most new blocks a minute.
    pub blocks_per_minute: u32,
    /// Never blocked (checked before anything else).
    pub allow: Vec<IpNet>,
    /// Ports whose established sessions' peers are never blocked.
    pub ssh_ports: Vec<u16>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            mode: Mode::DryRun,
            rules: default_rules(),
            default_rules: true,
            forward: false,
            max_blocks: DEFAULT_MAX_BLOCKS,
            blocks_per_minute: DEFAULT_BLOCKS_PER_MINUTE,
            allow: Vec::new(),
            ssh_ports: vec![22],
        }
    }
}

/// The policy when `[respond]` names no rules: block the source of scans,
/// floods and brute force (medium or worse) for an hour.
pub fn default_rules() -> Vec<Rule> {
    vec![Rule {
        name: "default".into(),
        kinds: vec![
            Kind::VerticalScan,
            Kind::HorizontalSweep,
            Kind::SynFlood,
            Kind::UdpFlood,
            Kind::IcmpFlood,
            Kind::BruteForce,
        ],
        min_severity: Severity::Medium,
        min_score: None,
        action: Action::BlockSource,
        duration: DEFAULT_DURATION,
        scope: Vec::new(),
    }]
}

impl Policy {
    /// The rules an alert matches, in order.
    pub fn matching<'a>(&'a self, a: &'a Alert) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.matches(a))
    }

    /// What `wirewatch respond policy` prints (the guard's protections
    /// are added by the caller, which knows the system).
    pub fn describe(&self) -> String {
        let mut s = format!("mode: {}", self.mode.as_str());
        if self.mode == Mode::DryRun {
            s.push_str(" (decisions are logged, nothing is blocked; --respond enforce to act)");
        }
        s.push('\n');
        let origin = if self.default_rules {
            "the default policy ([respond] names no rules)"
        } else {
            "from [respond]"
        };
        let _ = writeln!(s, "rules, {origin}; every matching rule applies:");
        for r in &self.rules {
            let _ = writeln!(s, "  {}", r.describe());
        }
        let _ = writeln!(
            s,
            "limits: at most {} addresses blocked at once, {} new blocks a minute",
            self.max_blocks, self.blocks_per_minute
        );
        let hooks = if self.forward {
            "input, output and forward (routed and container traffic too)"
        } else {
            "input and output (forward = true adds routed and container traffic)"
        };
        let _ = writeln!(s, "nftables: table inet wirewatch, chains on {hooks}");
        s
    }
}

/// What to block for an alert under an action: the addresses, or why
/// there is none.
pub fn block_targets(a: &Alert, action: &Action) -> Result<Vec<Target>, String> {
    match action {
        Action::BlockSource => sources(a).map(|v| {
            v.into_iter()
                .map(|ip| Target::Source(host_net(ip)))
                .collect()
        }),
        Action::BlockDestination => destinations(a),
        Action::Hook(_) => Ok(Vec::new()),
    }
}

/// A single address as a network.
pub fn host_net(ip: IpAddr) -> IpNet {
    IpNet::new(ip, full_prefix(ip)).expect("a full prefix is valid")
}

/// The address(es) an alert's traffic came from. A roll-up's are those of
/// the members it lists (at most [`wirewatch_detect::rollup::MEMBERS_LISTED`]).
fn sources(a: &Alert) -> Result<Vec<IpAddr>, String> {
    if !a.evidence.sources.is_empty() {
        return Ok(a.evidence.sources.clone());
    }
    if let Entity::Many { .. } = &a.entity {
        return members_named(a, "source of traffic", |e| entity_source(e, a.kind));
    }
    entity_source(&a.entity, a.kind).map(|ip| vec![ip])
}

/// What the members a roll-up lists name (`what`: "destination"…), each
/// once, in order; none is an error.
fn members_named<T: Ord>(
    a: &Alert,
    what: &str,
    named: impl Fn(&Entity) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let mut v: Vec<T> = a
        .evidence
        .members
        .iter()
        .filter_map(|m| named(&m.entity).ok())
        .collect();
    v.sort_unstable();
    v.dedup();
    match (&a.entity, v.is_empty()) {
        (Entity::Many { members, noun, .. }, true) => {
            Err(format!("the roll-up of {members} {noun} lists no {what}"))
        }
        _ => Ok(v),
    }
}

/// The source one entity names for an alert of `kind`.
fn entity_source(e: &Entity, kind: Kind) -> Result<IpAddr, String> {
    match (e, kind) {
        (Entity::Pair { src, .. }, _) | (Entity::Flow { src, .. }, _) => Ok(*src),
        (Entity::Domain { client, .. }, _) => Ok(*client),
        // A sweep's host is the scanner; other kinds' host is the victim
        // or the subject of a baseline.
        (Entity::Host { addr }, Kind::HorizontalSweep) => Ok(*addr),
        (Entity::Host { .. }, Kind::SynFlood | Kind::UdpFlood | Kind::IcmpFlood) => Err(
            "the flood came from too many sources to name (spoofed, most likely): blocking sources will not help"
                .into(),
        ),
        (Entity::Host { addr }, _) => Err(format!(
            "the alert is about {addr}, not about a source of traffic"
        )),
        (Entity::Many { members, noun, .. }, _) => Err(format!(
            "a roll-up of {members} {noun} inside a roll-up names no source"
        )),
        (Entity::Iface { name }, _) => Err(format!(
            "the alert is about interface {name}, not an address"
        )),
        (Entity::Process { name }, _) => Err(format!(
            "the alert is about process {name}, not an address"
        )),
    }
}

/// The destinations an alert's traffic went to (a roll-up's: its listed
/// members').
fn destinations(a: &Alert) -> Result<Vec<Target>, String> {
    if let Entity::Many { .. } = &a.entity {
        return members_named(a, "destination", destination);
    }
    destination(&a.entity).map(|t| vec![t])
}

/// The destination one entity names.
fn destination(e: &Entity) -> Result<Target, String> {
    match e {
        Entity::Flow { dst, dst_port, .. } => Ok(Target::Destination {
            addr: *dst,
            port: (*dst_port != 0).then_some(*dst_port),
        }),
        Entity::Pair { dst, .. } => Ok(Target::Destination {
            addr: *dst,
            port: None,
        }),
        Entity::Domain { domain, .. } => Err(format!(
            "{domain} is a DNS domain, not an address: block it at the resolver"
        )),
        other => Err(format!("{other} names no destination")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirewatch_detect::Evidence;

    fn alert(kind: Kind, severity: Severity, entity: Entity) -> Alert {
        Alert {
            time: wirewatch_units::Timestamp::from_nanos(0),
            kind,
            severity,
            entity,
            summary: String::new(),
            evidence: Evidence {
                score: 2.0,
                ..Evidence::default()
            },
            action: String::new(),
            detector: String::new(),
            suppressed: 0,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_default_policy_blocks_scanners_floods_and_guessers_of_medium_or_worse() {
        let p = Policy::default();
        let pair = Entity::Pair {
            src: ip("198.51.100.7"),
            dst: ip("10.0.0.1"),
        };
        let scan = alert(Kind::VerticalScan, Severity::Medium, pair.clone());
        assert_eq!(p.matching(&scan).count(), 1);
        assert_eq!(
            block_targets(&scan, &Action::BlockSource).unwrap(),
            vec![Target::Source(host_net(ip("198.51.100.7")))]
        );
        // Too mild, or a kind the default leaves alone.
        assert_eq!(
            p.matching(&alert(Kind::VerticalScan, Severity::Low, pair.clone()))
                .count(),
            0
        );
        assert_eq!(
            p.matching(&alert(Kind::Beaconing, Severity::Critical, pair))
                .count(),
            0
        );
    }

    #[test]
    fn a_flood_blocks_its_named_sources_and_refuses_when_there_are_none() {
        let victim = Entity::Host {
            addr: ip("10.0.0.1"),
        };
        let mut a = alert(Kind::SynFlood, Severity::High, victim);
        let err = block_targets(&a, &Action::BlockSource).unwrap_err();
        assert!(err.contains("spoofed"), "{err}");
        a.evidence.sources = vec![ip("203.0.113.1"), ip("2001:db8::5")];
        assert_eq!(
            block_targets(&a, &Action::BlockSource).unwrap(),
            vec![
                Target::Source(host_net(ip("203.0.113.1"))),
                Target::Source(host_net(ip("2001:db8::5")))
            ]
        );
    }

    #[test]
    fn block_destination_takes_the_flow_port_or_the_whole_address() {
        let flow = Entity::Flow {
            src: ip("10.0.0.5"),
            dst: ip("192.0.2.9"),
            dst_port: 443,
            protocol: 6,
        };
        let a = alert(Kind::Beaconing, Severity::High, flow);
        assert_eq!(
            block_targets(&a, &Action::BlockDestination).unwrap(),
            vec![Target::Destination {
                addr: ip("192.0.2.9"),
                port: Some(443)
            }]
        );
        let pair = Entity::Pair {
            src: ip("10.0.0.5"),
            dst: ip("192.0.2.9"),
        };
        let a = alert(Kind::Exfiltration, Severity::High, pair);
        assert_eq!(
            block_targets(&a, &Action::BlockDestination).unwrap(),
            vec![Target::Destination {
                addr: ip("192.0.2.9"),
                port: None
            }]
        );
        let dom = Entity::Domain {
            client: ip("10.0.0.5"),
            domain: "t.example".into(),
        };
        let a = alert(Kind::DnsTunnel, Severity::High, dom);
        assert!(block_targets(&a, &Action::BlockDestination)
            .unwrap_err()
            .contains("resolver"));
    }

    #[test]
    fn a_roll_up_blocks_the_sources_it_lists() {
        use wirewatch_detect::Member;
        let member = |src: &str| Member {
            entity: Entity::Pair {
                src: ip(src),
                dst: ip("10.0.0.1"),
            },
            severity: Severity::High,
            score: 3.0,
            alerts: 1,
        };
        let mut a = alert(
            Kind::VerticalScan,
            Severity::High,
            Entity::Many {
                members: 7,
                noun: "sources".into(),
                target: Some("10.0.0.1".into()),
            },
        );
        a.evidence.members = vec![
            member("198.51.100.9"),
            member("198.51.100.3"),
            member("198.51.100.9"),
        ];
        a.evidence.members_omitted = 5;
        assert_eq!(
            block_targets(&a, &Action::BlockSource).unwrap(),
            vec![
                Target::Source(host_net(ip("198.51.100.3"))),
                Target::Source(host_net(ip("198.51.100.9")))
            ]
        );
        assert_eq!(
            block_targets(&a, &Action::BlockDestination).unwrap(),
            vec![Target::Destination {
                addr: ip("10.0.0.1"),
                port: None
            }]
        );
        // A roll-up of flood victims lists no source.
        a.kind = Kind::SynFlood;
        a.evidence.members = vec![Member {
            entity: Entity::Host {
                addr: ip("10.0.0.1"),
            },
            severity: Severity::High,
            score: 3.0,
            alerts: 1,
        }];
        let err = block_targets(&a, &Action::BlockSource).unwrap_err();
        assert!(err.contains("lists no source"), "{err}");
    }

    #[test]
    fn a_host_alert_blocks_only_a_sweeper() {
        let h = Entity::Host {
            addr: ip("10.9.9.9"),
        };
        let sweep = alert(Kind::HorizontalSweep, Severity::High, h.clone());
        assert_eq!(
            block_targets(&sweep, &Action::BlockSource).unwrap(),
            vec![Target::Source(host_net(ip("10.9.9.9")))]
        );
        let spike = alert(Kind::Spike, Severity::High, h);
        assert!(block_targets(&spike, &Action::BlockSource).is_err());
    }

    #[test]
    fn rules_match_on_kind_severity_score_and_scope() {
        let mut r = default_rules().remove(0);
        r.min_score = Some(3.0);
        r.scope = vec!["198.51.100.0/24".parse().unwrap()];
        let pair = Entity::Pair {
            src: ip("198.51.100.7"),
            dst: ip("10.0.0.1"),
        };
        let mut a = alert(Kind::BruteForce, Severity::High, pair);
        assert!(!r.matches(&a), "score 2 < 3");
        a.evidence.score = 3.0;
        assert!(r.matches(&a));
        assert!(r.in_scope(&Target::Source(host_net(ip("198.51.100.7")))));
        assert!(!r.in_scope(&Target::Source(host_net(ip("203.0.113.7")))));
    }

    #[test]
    fn describe_says_the_rules_and_hides_url_secrets() {
        let mut p = Policy::default();
        p.rules.push(Rule {
            name: "page".into(),
            kinds: vec![],
            min_severity: Severity::Critical,
            min_score: None,
            action: Action::Hook(Arc::new(
                Hook::webhook(
                    "https://hooks.example/x?token=abc",
                    Duration::from_secs(5),
                    3,
                    vec![("Authorization".into(), "Bearer secret".into())],
                    None,
                )
                .unwrap(),
            )),
            duration: DEFAULT_DURATION,
            scope: vec![],
        });
        let d = p.describe();
        assert!(d.starts_with("mode: dry-run"), "{d}");
        assert!(d.contains("default: vertical_scan, horizontal_sweep, syn_flood, udp_flood, icmp_flood, brute_force of severity medium or higher → block-source for 1h"), "{d}");
        assert!(
            d.contains(
                "page: every kind of severity critical or higher → webhook https://hooks.example/x"
            ),
            "{d}"
        );
        assert!(!d.contains("secret") && !d.contains("abc"), "{d}");
    }

    #[test]
    fn durations_are_written_short_and_exact() {
        assert_eq!(duration_text(Duration::from_secs(3_600)), "1h");
        assert_eq!(duration_text(Duration::from_secs(93_784)), "1d2h3m4s");
        assert_eq!(duration_text(Duration::from_secs(0)), "0s");
    }
}
