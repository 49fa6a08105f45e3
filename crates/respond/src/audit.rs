//! The audit log in the history database (the store's `responses` table):
//! every decision with its alert, rule, target, expiry and how it ended.

use std::path::Path;

use wirewatch_detect::Alert;
use wirewatch_store::responses::{ResponseRecord, BLOCKED};
use wirewatch_store::SqliteStore;
use wirewatch_units::Timestamp;

use crate::decide::{Decision, Outcome};
use crate::responder::{AuditLog, Entry};
use crate::Target;

/// The responses table of one database, on its own connection.
pub struct StoreAudit {
    store: SqliteStore,
}

impl StoreAudit {
    /// Opens (and creates or upgrades) the database at `path`.
    pub fn open(path: &Path) -> Result<StoreAudit, String> {
        SqliteStore::open(path)
            .map(|store| StoreAudit { store })
            .map_err(|e| e.to_string())
    }

    /// The store, for the `respond` commands.
    pub fn store(&mut self) -> &mut SqliteStore {
        &mut self.store
    }

    /// The blocks in force at `now` and when each ends (the newest record
    /// of each target; targets the store cannot read back are skipped).
    pub fn active(&self, now: Timestamp) -> Result<Vec<(Target, Timestamp)>, String> {
        let v = self
            .store
            .active_responses(now)
            .map_err(|e| e.to_string())?;
        Ok(v.into_iter()
            .filter_map(|r| {
                let t = r.target.parse::<Target>().ok()?;
                Some((t, r.expires.unwrap_or(Timestamp::from_nanos(i64::MAX))))
            })
            .collect())
    }

    /// A block made or removed by hand (`respond add|remove|flush`).
    pub fn manual(
        &mut self,
        at: Timestamp,
        outcome: &str,
        action: &str,
        target: &str,
        expires: Option<Timestamp>,
        reason: &str,
    ) -> Result<i64, String> {
        let r = ResponseRecord {
            decided: at,
            mode: "manual".into(),
            outcome: outcome.into(),
            action: action.into(),
            target: target.into(),
            rule: "manual".into(),
            reason: reason.into(),
            expires,
            ..ResponseRecord::default()
        };
        self.store.record_response(&r).map_err(|e| e.to_string())
    }
}

/// The stored form of a decision: an extension is stored as a block (it
/// replaces the shorter one, which ends as `replaced`).
fn record(e: &Entry<'_>, outcome: &str, reason: String) -> ResponseRecord {
    let d: &Decision = e.decision;
    let a: &Alert = e.alert;
    ResponseRecord {
        id: 0,
        decided: e.decided,
        mode: e.mode.as_str().into(),
        outcome: outcome.into(),
        action: d.action.name().into(),
        target: match (&d.target, &d.action) {
            (Some(t), _) => t.to_string(),
            (None, crate::policy::Action::Hook(h)) => h.to_string(),
            (None, _) => "-".into(),
        },
        rule: d.rule.clone(),
        alert_kind: a.kind.as_str().into(),
        alert_entity: a.entity.to_string(),
        alert: e.alert_json.into(),
        reason,
        expires: d.outcome.until(),
        ended: None,
        end: None,
    }
}

impl AuditLog for StoreAudit {
    fn record(&mut self, e: &Entry<'_>) -> Result<(), String> {
        let (outcome, reason) = match &e.decision.outcome {
            Outcome::Extend { .. } => (BLOCKED, "extends an earlier block".to_string()),
            Outcome::Refused(why) => ("refused", why.clone()),
            o => (o.name(), String::new()),
        };
        self.store
            .record_response(&record(e, outcome, reason))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn hook_result(&mut self, e: &Entry<'_>, result: &str, ok: bool) -> Result<(), String> {
        let outcome = if ok { "succeeded" } else { "failed" };
        self.store
            .record_response(&record(e, outcome, result.to_string()))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{host_net, Action, Mode};

    use crate::testing::{at, scan};

    #[test]
    fn decisions_are_stored_and_blocks_read_back_with_their_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut audit = StoreAudit::open(&dir.path().join("h.db")).unwrap();
        let alert = scan("198.51.100.7", 0);
        let target = Target::Source(host_net("198.51.100.7".parse().unwrap()));
        let decisions = [
            Outcome::Block { until: at(3_600) },
            Outcome::Extend { until: at(7_200) },
            Outcome::Refused("10.0.0.254 is a gateway".into()),
        ];
        for o in decisions {
            let d = Decision {
                rule: "default".into(),
                action: Action::BlockSource,
                target: Some(target.clone()),
                outcome: o,
            };
            let e = Entry {
                decided: at(1),
                mode: Mode::Enforce,
                decision: &d,
                alert: &alert,
                alert_json: "{}",
            };
            audit.record(&e).unwrap();
        }
        // The extension replaced the first block: one block, until 2 h.
        assert_eq!(
            audit.active(at(2)).unwrap(),
            vec![(target.clone(), at(7_200))]
        );
        assert!(audit.active(at(7_200)).unwrap().is_empty());
        let log = audit.store().response_log(None, None, 0).unwrap();
        let got: Vec<(&str, &str, &str)> = log
            .iter()
            .map(|r| {
                (
                    r.outcome.as_str(),
                    r.reason.as_str(),
                    r.end.as_deref().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("blocked", "", "replaced"),
                ("blocked", "extends an earlier block", ""),
                ("refused", "10.0.0.254 is a gateway", "")
            ]
        );
        assert_eq!(log[0].alert_kind, "vertical_scan");
        assert_eq!(log[0].target, "from 198.51.100.7");
    }
}
