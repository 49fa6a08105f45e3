//! Roll-ups: when one kind of alert fires for many entities, one alert
//! says so instead of a line per entity.
//!
//! Alerts that passed the limiter are grouped twice: by kind and target
//! (what the entities have in common: the destination of a flow, the
//! host of a pair, the domain of a DNS client) and by kind alone. A group
//! that reaches `rollup-after` distinct members (the kind-alone group:
//! that many distinct targets) within `rollup-secs` opens a roll-up: one
//! alert about all of them, its members listed in the evidence (highest
//! score first, capped, the rest counted). While it is open, alerts of
//! its members join it silently; it is shown again at most once a minute
//! when it grew, and a last time when it closes (`rollup-secs` without a
//! new member, or the end of the run).

use std::net::IpAddr;

use wirewatch_units::{duration_short, thousands};
use wirewatch_wire::{proto, Timestamp};

use crate::alert::{Alert, Contributor, Entity, Evidence, Kind, Member, Severity};
use crate::{Map, Set};

/// Most members listed in a roll-up's evidence; the rest are counted.
pub const MEMBERS_LISTED: usize = 100;

/// Members named in a roll-up's summary.
const MEMBERS_NAMED: usize = 5;

/// Most members remembered over all groups; past it a new member's alert
/// is counted as one more member without being remembered.
const MEMBERS_KEPT: usize = 65_536;

/// Most distinct targets remembered per kind-alone group.
const TARGETS_KEPT: usize = 4096;

/// Most groups at once; past it an alert passes ungrouped (counted).
const MAX_GROUPS: usize = 8192;

/// An open roll-up that grew is shown again after this long.
const UPDATE_NANOS: i64 = 60_000_000_000;

/// The name of a contributor whose median is worth saying ("every 10 s").
const PERIOD: &str = "period (seconds)";

/// Periods remembered per group for that median.
const PERIODS_KEPT: usize = 1024;

/// A group: the target's key is `None` for the kind-alone group.
type Key = (Kind, Option<String>);

/// What an entity has in common with others of its kind: the target's
/// text, the entity's own part named in the summary, and the noun for
/// many of them.
struct Target {
    target: String,
    label: String,
    noun: &'static str,
}

/// "10.0.0.2:80/tcp" ("[2001:db8::1]:443/tcp" for IPv6).
fn endpoint(dst: IpAddr, port: u16, protocol: u8) -> String {
    let p = proto::name(protocol).to_lowercase();
    match dst {
        IpAddr::V4(a) => format!("{a}:{port}/{p}"),
        IpAddr::V6(a) => format!("[{a}]:{port}/{p}"),
    }
}

fn target_of(e: &Entity) -> Option<Target> {
    match e {
        Entity::Flow {
            src,
            dst,
            dst_port,
            protocol,
        } => Some(Target {
            target: endpoint(*dst, *dst_port, *protocol),
            label: src.to_string(),
            noun: "sources",
        }),
        Entity::Pair { src, dst } => Some(Target {
            target: dst.to_string(),
            label: src.to_string(),
            noun: "sources",
        }),
        Entity::Domain { client, domain } => Some(Target {
            target: domain.clone(),
            label: client.to_string(),
            noun: "clients",
        }),
        _ => None,
    }
}

/// The noun for many entities like `e` in a kind-alone roll-up.
fn noun_of(e: &Entity) -> &'static str {
    match e {
        Entity::Iface { .. } => "interfaces",
        Entity::Host { .. } => "hosts",
        Entity::Pair { .. } => "pairs",
        Entity::Process { .. } => "processes",
        Entity::Flow { .. } => "flows",
        Entity::Domain { .. } => "domains",
        Entity::Many { .. } => "groups",
    }
}

/// Alerts of one kind (and target) in the current window.
struct Group {
    first: Timestamp,
    last: Timestamp,
    /// When the roll-up was last shown; `None` while it is not open.
    shown_at: Option<Timestamp>,
    /// Member count when last shown.
    shown_members: u64,
    /// Alerts that joined since it was last shown.
    since_shown: u64,
    members: Map<Entity, Member>,
    /// Members past [`MEMBERS_KEPT`]: counted only.
    uncounted: u64,
    /// Distinct targets (kind-alone groups only).
    targets: Set<String>,
    alerts: u64,
    periods: Vec<f64>,
    /// The latest member alert: detector and advice for the roll-up.
    latest: Alert,
}

impl Group {
    fn new(a: &Alert) -> Group {
        Group {
            first: a.time,
            last: a.time,
            shown_at: None,
            shown_members: 0,
            since_shown: 0,
            members: Map::default(),
            uncounted: 0,
            targets: Set::default(),
            alerts: 0,
            periods: Vec::new(),
            latest: a.clone(),
        }
    }

    fn member_count(&self) -> u64 {
        self.members.len() as u64 + self.uncounted
    }

    /// Adds `a`; `room` says whether a new member may be remembered.
    /// Returns whether it was a new member.
    fn join(&mut self, a: &Alert, room: bool) -> bool {
        self.last = self.last.max(a.time);
        self.alerts += 1;
        self.since_shown += 1;
        if let Some(p) = a.evidence.contributors.iter().find(|c| c.feature == PERIOD) {
            if self.periods.len() < PERIODS_KEPT {
                self.periods.push(p.value);
            }
        }
        self.latest = a.clone();
        if let Some(m) = self.members.get_mut(&a.entity) {
            m.alerts += 1;
            m.score = m.score.max(a.evidence.score);
            m.severity = m.severity.max(a.severity);
            return false;
        }
        if room {
            self.members.insert(
                a.entity.clone(),
                Member {
                    entity: a.entity.clone(),
                    severity: a.severity,
                    score: a.evidence.score,
                    alerts: 1,
                },
            );
        } else {
            self.uncounted += 1;
        }
        true
    }

    /// The number that opens the roll-up: members, or for a kind-alone
    /// group distinct targets.
    fn breadth(&self, kind_alone: bool) -> u64 {
        if kind_alone {
            self.targets.len() as u64
        } else {
            self.member_count()
        }
    }
}

/// Groups alerts and turns storms into roll-ups (see the module's doc).
pub struct Rollups {
    after: u64,
    idle_nanos: i64,
    groups: Map<Key, Group>,
    /// Members remembered over all groups.
    kept: usize,
    absorbed: u64,
    opened: u64,
    ungrouped: u64,
}

impl Rollups {
    /// A roll-up after `after` members within `window_secs` (`after` 0:
    /// never).
    pub fn new(after: u32, window_secs: f64) -> Rollups {
        Rollups {
            after: u64::from(after),
            idle_nanos: (window_secs * 1e9) as i64,
            groups: Map::default(),
            kept: 0,
            absorbed: 0,
            opened: 0,
            ungrouped: 0,
        }
    }

    /// Takes an alert the limiter showed: pushes it to `out`, or a roll-up
    /// it opened or updated, or nothing when an open roll-up took it.
    pub fn offer(&mut self, a: Alert, out: &mut Vec<Alert>) {
        if self.after == 0 || a.is_rollup() {
            out.push(a);
            return;
        }
        let target = target_of(&a.entity);
        let mut taken = None;
        if let Some(t) = &target {
            taken = self.group_takes(&(a.kind, Some(t.target.clone())), &a, None, out);
        }
        if taken != Some(true) {
            let own = target.map_or_else(|| a.entity.to_string(), |t| t.target);
            taken = self
                .group_takes(&(a.kind, None), &a, Some(own), out)
                .or(taken);
        }
        match taken {
            Some(true) => {}
            Some(false) => out.push(a),
            None => {
                self.ungrouped += 1;
                out.push(a);
            }
        }
    }

    /// Whether the group of `key` took `a` (into an open roll-up, or by
    /// opening one); `None` when no group had room for it. `target` is
    /// `a`'s target for a kind-alone group.
    fn group_takes(
        &mut self,
        key: &Key,
        a: &Alert,
        target: Option<String>,
        out: &mut Vec<Alert>,
    ) -> Option<bool> {
        if !self.groups.contains_key(key) {
            if self.groups.len() >= MAX_GROUPS {
                self.close_idle(a.time, out);
            }
            if self.groups.len() >= MAX_GROUPS {
                return None;
            }
            self.groups.insert(key.clone(), Group::new(a));
        }
        let room = self.kept < MEMBERS_KEPT;
        let g = self.groups.get_mut(key)?;
        if g.join(a, room) && room {
            self.kept += 1;
        }
        if let Some(t) = target {
            if g.targets.len() < TARGETS_KEPT {
                g.targets.insert(t);
            }
        }
        let Some(shown) = g.shown_at else {
            if g.breadth(key.1.is_none()) < self.after {
                return Some(false);
            }
            self.opened += 1;
            // The alerts shown before it opened are in it, not held back.
            g.since_shown = 0;
            out.push(show(key, g, a.time, self.after));
            return Some(true);
        };
        self.absorbed += 1;
        if a.time.nanos_since(shown) >= UPDATE_NANOS && g.member_count() > g.shown_members {
            out.push(show(key, g, a.time, self.after));
        }
        Some(true)
    }

    /// Closes groups silent for the window: an open roll-up that grew
    /// since it was last shown is shown a last time.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        self.close_idle(now, out);
    }

    fn close_idle(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        let idle = self.idle_nanos;
        self.close_where(now, out, |g| now.nanos_since(g.last) >= idle);
    }

    /// The end of the run: every open roll-up that grew is shown a last
    /// time.
    pub fn finish(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        self.close_where(now, out, |_| true);
    }

    fn close_where(
        &mut self,
        now: Timestamp,
        out: &mut Vec<Alert>,
        closing: impl Fn(&Group) -> bool,
    ) {
        let mut gone: Vec<Key> = self
            .groups
            .iter()
            .filter(|(_, g)| closing(g))
            .map(|(k, _)| k.clone())
            .collect();
        gone.sort();
        for k in gone {
            let Some(mut g) = self.groups.remove(&k) else {
                continue;
            };
            self.kept -= g.members.len().min(self.kept);
            if g.shown_at.is_some() && g.member_count() > g.shown_members {
                let at = now.max(g.last);
                out.push(show(&k, &mut g, at, self.after));
            }
        }
    }

    /// Alerts taken into open roll-ups (not shown on their own).
    pub fn absorbed(&self) -> u64 {
        self.absorbed
    }

    /// Roll-ups opened.
    pub fn opened(&self) -> u64 {
        self.opened
    }

    /// Alerts shown on their own because no group had room for them
    /// ([`MAX_GROUPS`] groups were open).
    pub fn ungrouped(&self) -> u64 {
        self.ungrouped
    }
}

/// The roll-up alert of `g` now; marks it shown.
fn show(key: &Key, g: &mut Group, now: Timestamp, after: u64) -> Alert {
    let a = rollup_alert(key, g, now, after);
    g.shown_at = Some(now);
    g.shown_members = g.member_count();
    g.since_shown = 0;
    a
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Members listed: highest score first, then by entity (a stable order).
fn listed(g: &Group) -> Vec<Member> {
    let mut v: Vec<Member> = g.members.values().cloned().collect();
    v.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.entity.cmp(&b.entity))
    });
    v.truncate(MEMBERS_LISTED);
    v
}

/// The member's own part in the summary: the source for a target group.
fn label(m: &Member, targeted: bool) -> String {
    match target_of(&m.entity) {
        Some(t) if targeted => t.label,
        _ => m.entity.to_string(),
    }
}

/// The roll-up alert of `g` (opened at `after` members) at `now`.
fn rollup_alert(key: &Key, g: &Group, now: Timestamp, after: u64) -> Alert {
    let (kind, target) = key;
    let n = g.member_count();
    let members = listed(g);
    let noun = match target {
        Some(_) => target_of(&g.latest.entity).map_or("entities", |t| t.noun),
        None => noun_of(&g.latest.entity),
    };
    let named: Vec<String> = members
        .iter()
        .take(MEMBERS_NAMED)
        .map(|m| label(m, target.is_some()))
        .collect();
    let every = median(&g.periods)
        .map(|p| format!(" every {}", duration_short(p)))
        .unwrap_or_default();
    let place = match target {
        Some(t) => format!(" to {t}"),
        // "(5 targets)" only when it says more than the member count.
        None if g.targets.len() as u64 != n => {
            format!(" ({} targets)", thousands(g.targets.len() as u64))
        }
        None => String::new(),
    };
    let span = now.nanos_since(g.first).max(0) as f64 / 1e9;
    let severity = members
        .iter()
        .map(|m| m.severity)
        .max()
        .unwrap_or(Severity::Low);
    let score = members.first().map_or(0.0, |m| m.score);
    Alert {
        time: now,
        kind: *kind,
        severity,
        entity: Entity::Many {
            members: n,
            noun: noun.into(),
            target: target.clone(),
        },
        summary: format!(
            "{kind}: {} {noun}{place}{every}, {} alerts in {}; the {} largest: {}",
            thousands(n),
            thousands(g.alerts),
            duration_short(span),
            named.len(),
            named.join(", ")
        ),
        evidence: Evidence {
            observed: n as f64,
            threshold: after as f64,
            unit: format!("distinct {noun}"),
            score,
            contributors: vec![
                Contributor {
                    feature: "alerts rolled up".into(),
                    value: g.alerts as f64,
                },
                Contributor {
                    feature: "seconds since the first".into(),
                    value: span,
                },
            ],
            members_omitted: n - members.len() as u64,
            members,
            ..Evidence::default()
        },
        action: format!(
            "Many at once is one incident: look at the largest first (all {} in the evidence and `wirewatch history alerts --json`). For one of them: {}",
            thousands(n),
            g.latest.action
        ),
        detector: g.latest.detector.clone(),
        suppressed: g.since_shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn beacon(i: u32, secs: i64) -> Alert {
        Alert {
            time: Timestamp::from_secs(secs),
            kind: Kind::Beaconing,
            severity: Severity::Low,
            entity: Entity::Flow {
                src: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
                dst: "10.99.0.2".parse().unwrap(),
                dst_port: 80,
                protocol: proto::TCP,
            },
            summary: String::new(),
            evidence: Evidence {
                score: 1.0 + f64::from(i) / 1000.0,
                contributors: vec![Contributor {
                    feature: PERIOD.into(),
                    value: 10.0,
                }],
                ..Evidence::default()
            },
            action: "act".into(),
            detector: "beaconing".into(),
            suppressed: 0,
        }
    }

    fn host_alert(kind: Kind, host: u32, secs: i64) -> Alert {
        Alert {
            kind,
            entity: Entity::Host {
                addr: IpAddr::V4(Ipv4Addr::from(host)),
            },
            evidence: Evidence::default(),
            ..beacon(0, secs)
        }
    }

    #[test]
    fn many_sources_to_one_target_become_one_rollup() {
        let mut r = Rollups::new(5, 600.0);
        let mut out = Vec::new();
        for i in 0..1000 {
            r.offer(beacon(i, 100), &mut out);
        }
        // Four alone, then the roll-up; the rest joined it.
        assert_eq!(out.len(), 5, "{out:#?}");
        assert!(out[..4].iter().all(|a| !a.is_rollup()));
        let up = &out[4];
        assert!(up.is_rollup());
        assert_eq!(up.evidence.observed, 5.0);
        assert!(
            up.summary
                .starts_with("beaconing: 5 sources to 10.99.0.2:80/tcp every 10 s"),
            "{}",
            up.summary
        );
        r.finish(Timestamp::from_secs(130), &mut out);
        let last = out.last().unwrap();
        assert!(last.is_rollup());
        assert_eq!(
            last.entity,
            Entity::Many {
                members: 1000,
                noun: "sources".into(),
                target: Some("10.99.0.2:80/tcp".into())
            }
        );
        assert_eq!(last.evidence.members.len(), MEMBERS_LISTED);
        assert_eq!(last.evidence.members_omitted, 900);
        // Highest score first: the last source had the highest.
        assert_eq!(last.evidence.members[0].entity, beacon(999, 0).entity);
        assert_eq!(last.suppressed, 995);
        assert!(last
            .summary
            .contains("the 5 largest: 10.0.3.231, 10.0.3.230"));
        assert_eq!((r.opened(), r.absorbed()), (1, 995));
    }

    #[test]
    fn an_open_rollup_is_shown_again_once_a_minute_when_it_grew() {
        let mut r = Rollups::new(5, 600.0);
        let mut out = Vec::new();
        for i in 0..300 {
            r.offer(beacon(i, 100 + i64::from(i)), &mut out);
        }
        // 4 alone, opened at 104 s, then at 164, 224, 284, 344 s.
        let ups: Vec<i64> = out
            .iter()
            .filter(|a| a.is_rollup())
            .map(|a| a.time.as_nanos() / 1_000_000_000)
            .collect();
        assert_eq!(ups, [104, 164, 224, 284, 344]);
        // Silent for the window: closed and shown a last time.
        out.clear();
        r.expire(Timestamp::from_secs(399 + 600), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].evidence.observed, 300.0);
        // Afterwards a new alert starts afresh.
        out.clear();
        r.offer(beacon(7, 2000), &mut out);
        assert!(!out[0].is_rollup());
    }

    #[test]
    fn one_kind_over_many_targets_rolls_up_by_kind() {
        let mut r = Rollups::new(5, 600.0);
        let mut out = Vec::new();
        for h in 0..50 {
            r.offer(host_alert(Kind::SynFlood, h, 10), &mut out);
        }
        // Other kinds are not taken.
        r.offer(host_alert(Kind::UdpFlood, 1, 11), &mut out);
        assert_eq!(out.len(), 6);
        assert!(
            out[4].is_rollup()
                && out[4]
                    .summary
                    .starts_with("syn_flood: 5 hosts, 5 alerts in 0 ms")
        );
        assert_eq!(out[5].kind, Kind::UdpFlood);
        assert!(!out[5].is_rollup());
    }

    #[test]
    fn past_its_caps_a_rollup_counts_what_it_cannot_remember() {
        let mut r = Rollups::new(5, 600.0);
        let mut out = Vec::new();
        // More members than are remembered: each one still counted.
        let n = MEMBERS_KEPT as u32 + 1000;
        for i in 0..n {
            r.offer(beacon(i, 100), &mut out);
        }
        r.finish(Timestamp::from_secs(101), &mut out);
        assert_eq!(out.last().unwrap().evidence.observed, f64::from(n));
        // As many groups as are kept (one per target): a new kind finds no room.
        let mut r = Rollups::new(5, 600.0);
        out.clear();
        for i in 0..MAX_GROUPS as u32 {
            let mut a = beacon(i, 100);
            a.entity = Entity::Flow {
                src: "10.0.0.1".parse().unwrap(),
                dst: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
                dst_port: 80,
                protocol: proto::TCP,
            };
            r.offer(a, &mut out);
        }
        r.offer(host_alert(Kind::SynFlood, 1, 100), &mut out);
        assert_eq!(r.ungrouped(), 1);
        assert_eq!(out.last().unwrap().kind, Kind::SynFlood);
    }

    #[test]
    fn few_alerts_pass_unchanged_and_zero_turns_rollups_off() {
        let mut r = Rollups::new(5, 600.0);
        let mut out = Vec::new();
        for i in 0..4 {
            r.offer(beacon(i, 1), &mut out);
        }
        r.finish(Timestamp::from_secs(2), &mut out);
        assert_eq!(out.len(), 4);
        assert!(out.iter().all(|a| !a.is_rollup()));
        let mut off = Rollups::new(0, 600.0);
        out.clear();
        for i in 0..50 {
            off.offer(beacon(i, 1), &mut out);
        }
        assert_eq!(out.len(), 50);
    }
}
