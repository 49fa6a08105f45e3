//! Decisions, pure: an alert and the time in, what to do out. The policy's
//! matching rules, the targets each names, the guard (passed in: what must
//! never be blocked), the blocks already in place, the cap and the rate
//! limit. Dry-run decides exactly as enforce would; only the outcome's name
//! differs, so a dry run shows what enforcing would have done.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use wirewatch_detect::Alert;
use wirewatch_units::Timestamp;

use crate::policy::{block_targets, Action, Mode, Policy, Rule};
use crate::Target;

/// What was decided for one rule and one target.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The rule's name.
    pub rule: String,
    /// The rule's action.
    pub action: Action,
    /// The address, for blocks.
    pub target: Option<Target>,
    /// What comes of it.
    pub outcome: Outcome,
}

/// What comes of a decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Block (enforce): put into the firewall until then.
    Block {
        /// When the kernel lets it go.
        until: Timestamp,
    },
    /// A block already in place, lengthened until then.
    Extend {
        /// The new end.
        until: Timestamp,
    },
    /// Dry-run: this would have been blocked until then.
    WouldBlock {
        /// When it would have ended.
        until: Timestamp,
    },
    /// Already blocked for at least as long: nothing to do.
    AlreadyBlocked {
        /// The current end.
        until: Timestamp,
    },
    /// Run the hook (enforce).
    Run,
    /// Dry-run: the hook would have run.
    WouldRun,
    /// Not done, and why (one line).
    Refused(String),
}

impl Outcome {
    /// The audit log's name for it.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Block { .. } => "blocked",
            Outcome::Extend { .. } => "extended",
            Outcome::WouldBlock { .. } => "would-block",
            Outcome::AlreadyBlocked { .. } => "already-blocked",
            Outcome::Run => "run",
            Outcome::WouldRun => "would-run",
            Outcome::Refused(_) => "refused",
        }
    }

    /// The end of the block it is about, if any.
    pub fn until(&self) -> Option<Timestamp> {
        match self {
            Outcome::Block { until }
            | Outcome::Extend { until }
            | Outcome::WouldBlock { until }
            | Outcome::AlreadyBlocked { until } => Some(*until),
            _ => None,
        }
    }
}

/// The responder's memory between alerts: what is blocked until when, and
/// the times of the last minute's new blocks. Both bounded: the blocks by
/// the policy's cap, the times by the rate limit.
#[derive(Debug)]
pub struct Decider {
    policy: Policy,
    active: BTreeMap<Target, Timestamp>,
    recent: VecDeque<Timestamp>,
}

const MINUTE: i64 = 60_000_000_000;

impl Decider {
    /// Nothing blocked yet.
    pub fn new(policy: Policy) -> Decider {
        Decider {
            policy,
            active: BTreeMap::new(),
            recent: VecDeque::new(),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A block found in place (re-applied at start, or added by hand):
    /// counted against the cap, not the rate.
    pub fn restore(&mut self, t: Target, until: Timestamp) {
        self.active.insert(t, until);
    }

    /// A block removed by hand.
    pub fn forget(&mut self, t: &Target) {
        self.active.remove(t);
    }

    /// Every block forgotten (the kill switch).
    pub fn forget_all(&mut self) {
        self.active.clear();
    }

    /// Blocks in place at `now`.
    pub fn active(&mut self, now: Timestamp) -> usize {
        self.expire(now);
        self.active.len()
    }

    fn expire(&mut self, now: Timestamp) {
        self.active.retain(|_, until| *until > now);
        while self
            .recent
            .front()
            .is_some_and(|t| now.as_nanos() - t.as_nanos() >= MINUTE)
        {
            self.recent.pop_front();
        }
    }

    /// What to do about `a` at `now`. `guard` says why a target must never
    /// be blocked (own addresses, gateways, SSH peers, the allow-list…).
    pub fn decide(
        &mut self,
        a: &Alert,
        now: Timestamp,
        guard: &mut dyn FnMut(&Target) -> Result<(), String>,
    ) -> Vec<Decision> {
        self.expire(now);
        let rules: Vec<Rule> = self.policy.matching(a).cloned().collect();
        let mut out = Vec::new();
        for rule in rules {
            if !rule.action.is_block() {
                let outcome = match self.policy.mode {
                    Mode::Enforce => Outcome::Run,
                    Mode::DryRun => Outcome::WouldRun,
                };
                out.push(decision(&rule, None, outcome));
                continue;
            }
            match block_targets(a, &rule.action) {
                Err(why) => out.push(decision(&rule, None, Outcome::Refused(why))),
                Ok(targets) => {
                    for t in targets {
                        let outcome = self.block(&rule, &t, now, guard);
                        out.push(decision(&rule, Some(t), outcome));
                    }
                }
            }
        }
        out
    }

    fn block(
        &mut self,
        rule: &Rule,
        t: &Target,
        now: Timestamp,
        guard: &mut dyn FnMut(&Target) -> Result<(), String>,
    ) -> Outcome {
        if !rule.in_scope(t) {
            return Outcome::Refused(format!("{} is outside the rule's scope", t.addr()));
        }
        if let Err(why) = guard(t) {
            return Outcome::Refused(why);
        }
        let until = later(now, rule.duration);
        if let Some(&end) = self.active.get(t) {
            // Lengthened only by a tenth of the rule's duration or more: a
            // burst of alerts about one attacker is one block, not a
            // rewrite of the kernel's element per alert.
            let margin = later(end, rule.duration / 10);
            if margin >= until {
                return Outcome::AlreadyBlocked { until: end };
            }
            self.active.insert(t.clone(), until);
            return match self.policy.mode {
                Mode::Enforce => Outcome::Extend { until },
                Mode::DryRun => Outcome::WouldBlock { until },
            };
        }
        if self.active.len() >= self.policy.max_blocks {
            return Outcome::Refused(format!(
                "the cap of {} blocks at once is reached",
                self.policy.max_blocks
            ));
        }
        if self.recent.len() >= self.policy.blocks_per_minute as usize {
            return Outcome::Refused(format!(
                "the rate limit of {} new blocks a minute is reached",
                self.policy.blocks_per_minute
            ));
        }
        self.recent.push_back(now);
        self.active.insert(t.clone(), until);
        match self.policy.mode {
            Mode::Enforce => Outcome::Block { until },
            Mode::DryRun => Outcome::WouldBlock { until },
        }
    }
}

fn decision(rule: &Rule, target: Option<Target>, outcome: Outcome) -> Decision {
    Decision {
        rule: rule.name.clone(),
        action: rule.action.clone(),
        target,
        outcome,
    }
}

/// `now + d`, saturating.
pub fn later(now: Timestamp, d: Duration) -> Timestamp {
    let nanos = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    Timestamp::from_nanos(now.as_nanos().saturating_add(nanos))
}

/// What is left from `now` until `until`, in whole seconds, at least one.
pub fn remaining(now: Timestamp, until: Timestamp) -> Duration {
    let ns = until
        .as_nanos()
        .saturating_sub(now.as_nanos())
        .max(1_000_000_000);
    Duration::from_secs((ns as u64).div_ceil(1_000_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::host_net;
    use std::net::IpAddr;

    use crate::testing::{at as secs, scan as scan_from};

    fn src(s: &str) -> Target {
        Target::Source(host_net(s.parse::<IpAddr>().unwrap()))
    }

    fn open(_: &Target) -> Result<(), String> {
        Ok(())
    }

    fn enforce() -> Policy {
        Policy {
            mode: Mode::Enforce,
            ..Policy::default()
        }
    }

    #[test]
    fn a_scan_is_blocked_for_the_rules_duration_then_found_in_place() {
        let mut d = Decider::new(enforce());
        let got = d.decide(&scan_from("198.51.100.7", 0), secs(0), &mut open);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].target, Some(src("198.51.100.7")));
        assert_eq!(got[0].outcome, Outcome::Block { until: secs(3_600) });
        // The same scanner again a minute later: still blocked for long
        // enough; seven minutes later (more than a tenth of the hour), a
        // longer block replaces it.
        let got = d.decide(&scan_from("198.51.100.7", 60), secs(60), &mut open);
        assert_eq!(
            got[0].outcome,
            Outcome::AlreadyBlocked { until: secs(3_600) }
        );
        let got = d.decide(&scan_from("198.51.100.7", 420), secs(420), &mut open);
        assert_eq!(got[0].outcome, Outcome::Extend { until: secs(4_020) });
        assert_eq!(d.active(secs(421)), 1);
        // Expired after its hour: a new block.
        assert_eq!(d.active(secs(4_021)), 0);
    }

    #[test]
    fn dry_run_decides_the_same_but_names_it_would_block() {
        let mut d = Decider::new(Policy::default());
        let got = d.decide(&scan_from("198.51.100.7", 0), secs(0), &mut open);
        assert_eq!(got[0].outcome, Outcome::WouldBlock { until: secs(3_600) });
        assert_eq!(got[0].outcome.name(), "would-block");
    }

    #[test]
    fn the_guard_refuses_with_its_reason() {
        let mut d = Decider::new(enforce());
        let mut guard = |t: &Target| {
            if t.addr().to_string() == "10.0.0.254" {
                Err("10.0.0.254 is a default gateway".to_string())
            } else {
                Ok(())
            }
        };
        let got = d.decide(&scan_from("10.0.0.254", 0), secs(0), &mut guard);
        assert_eq!(
            got[0].outcome,
            Outcome::Refused("10.0.0.254 is a default gateway".into())
        );
        assert_eq!(d.active(secs(0)), 0);
    }

    #[test]
    fn the_rate_limit_and_the_cap_hold() {
        let mut p = enforce();
        p.blocks_per_minute = 3;
        p.max_blocks = 5;
        let mut d = Decider::new(p);
        let outcomes = |d: &mut Decider, from: u8, t: i64| -> Vec<&'static str> {
            (from..from + 4)
                .map(|k| {
                    let a = scan_from(&format!("198.51.100.{k}"), t);
                    d.decide(&a, secs(t), &mut open)[0].outcome.name()
                })
                .collect()
        };
        assert_eq!(
            outcomes(&mut d, 1, 0),
            ["blocked", "blocked", "blocked", "refused"]
        );
        // A minute later the rate allows three more, but the cap stops at 5.
        assert_eq!(
            outcomes(&mut d, 11, 60),
            ["blocked", "blocked", "refused", "refused"]
        );
        let a = scan_from("198.51.100.99", 61);
        match &d.decide(&a, secs(61), &mut open)[0].outcome {
            Outcome::Refused(why) => assert!(why.contains("cap of 5"), "{why}"),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn hooks_run_only_when_enforcing() {
        let mut p = Policy::default();
        p.rules[0].action = Action::Hook(std::sync::Arc::new(
            crate::hooks::Hook::exec("/bin/true".into(), vec![], Duration::from_secs(1)).unwrap(),
        ));
        let mut d = Decider::new(p.clone());
        let got = d.decide(&scan_from("198.51.100.7", 0), secs(0), &mut open);
        assert_eq!(
            (got[0].outcome.clone(), got[0].target.clone()),
            (Outcome::WouldRun, None)
        );
        p.mode = Mode::Enforce;
        let mut d = Decider::new(p);
        assert_eq!(
            d.decide(&scan_from("198.51.100.7", 0), secs(0), &mut open)[0].outcome,
            Outcome::Run
        );
    }
}
