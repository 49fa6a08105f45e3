//! The audit trail of automated responses: every decision the responder
//! makes (a block enforced or only logged in dry-run, a refusal with its
//! reason, a hook run) and every manual one, with how each block ended.
//!
//! The store knows nothing of the responder: modes, outcomes and actions
//! are plain strings, written and given back unchanged. One meaning is the
//! store's own: a record whose outcome is [`BLOCKED`], not ended and not
//! yet expired is a block in force ([`SqliteStore::active_responses`]),
//! which a restart re-applies and retention never deletes.
//!
//! ```
//! use wirewatch_store::{ResponseRecord, SqliteStore};
//! use wirewatch_units::Timestamp;
//!
//! let mut store = SqliteStore::open_in_memory().unwrap();
//! let t = Timestamp::from_secs(1_800_000_000);
//! let block = ResponseRecord {
//!     decided: t,
//!     mode: "enforce".into(),
//!     outcome: "blocked".into(),
//!     action: "block-source".into(),
//!     target: "from 10.0.0.2".into(),
//!     rule: "default".into(),
//!     expires: Some(Timestamp::from_secs(1_800_003_600)),
//!     ..Default::default()
//! };
//! store.record_response(&block).unwrap();
//! let later = Timestamp::from_secs(1_800_000_600);
//! assert_eq!(store.active_responses(later).unwrap().len(), 1);
//! assert_eq!(store.end_responses(Some("from 10.0.0.2"), later, "removed").unwrap(), 1);
//! let log = store.response_log(None, None, 0).unwrap();
//! assert_eq!(SqliteStore::end_state(&log[0], later), "removed");
//! ```

use rusqlite::{named_params, OptionalExtension, Transaction, TransactionBehavior};
use wirewatch_units::Timestamp;

use crate::sqlite::engine;
use crate::{SqliteStore, StoreError};

/// The outcome of a block put in force; the only outcome the store
/// interprets (see [`SqliteStore::active_responses`]).
pub const BLOCKED: &str = "blocked";

/// The outcome of a block decided in dry-run: shown as in force until it
/// would have expired, never applied, never ended by the store.
pub const WOULD_BLOCK: &str = "would-block";

/// How a block ended when a newer block of the same target replaced it
/// ([`SqliteStore::record_response`]).
pub const REPLACED: &str = "replaced";

/// How many records retention keeps, newest first: once 1,000 more are
/// there, the oldest are deleted down to this many (blocks in force are
/// kept besides, whatever their age); what goes is counted in
/// [`crate::Maintenance::responses_pruned`].
pub const RESPONSES_KEPT: u64 = 100_000;

/// One decision of the responder, or one manual command, as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResponseRecord {
    /// The record's number, in the order records were written; 0 in a new
    /// record (the store sets it).
    pub id: i64,
    /// When the decision was made (the packet time or the run's clock).
    pub decided: Timestamp,
    /// `enforce`, `dry-run` or `manual`.
    pub mode: String,
    /// What happened: `blocked`, `would-block`, `refused`, `failed`, `ran`,
    /// `sent`, `unblocked`…
    pub outcome: String,
    /// `block-source`, `block-destination`, `exec` or `webhook`.
    pub action: String,
    /// What was acted on: a block's target as it prints (`from 10.0.0.2`,
    /// `to 192.0.2.7:443`), or a hook's program or URL.
    pub target: String,
    /// The policy rule that decided (`default`, `manual`, or the rule as
    /// `respond policy` prints it).
    pub rule: String,
    /// The alert's kind (empty for manual records).
    pub alert_kind: String,
    /// The alert's entity (empty for manual records).
    pub alert_entity: String,
    /// The whole alert as JSON (empty for manual records).
    pub alert: String,
    /// Why it was refused or failed, or what a hook answered.
    pub reason: String,
    /// When a block ends by itself (`None`: a block that never expires).
    pub expires: Option<Timestamp>,
    /// When it was ended before its expiry.
    pub ended: Option<Timestamp>,
    /// How it was ended: `removed`, `flushed`, `replaced`, `failed`…
    pub end: Option<String>,
}

/// The columns of a record, in [`ResponseRecord`]'s order.
const COLUMNS: &str = "id, decided, mode, outcome, action, target, rule, alert_kind,
    alert_entity, alert_json, reason, expires, ended, ended_how";

/// A block in force at `:now` (nanoseconds). Its terms are those of the
/// partial indexes (a block without expiry lasts to the end of time), so
/// the planner reads a range of them.
const ACTIVE: &str = "(outcome = 'blocked' AND ended IS NULL
    AND IFNULL(expires, 9223372036854775807) > :now)";

/// Records trimmed at once: retention deletes past [`RESPONSES_KEPT`] only
/// when this many more are there, so a pass at the cap reads no more than
/// two index ends.
const TRIM_STEP: i64 = 1_000;

/// Reads one record from a row selected with [`COLUMNS`].
fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ResponseRecord> {
    let time = |k| -> rusqlite::Result<Option<Timestamp>> {
        Ok(r.get::<_, Option<i64>>(k)?.map(Timestamp::from_nanos))
    };
    Ok(ResponseRecord {
        id: r.get(0)?,
        decided: Timestamp::from_nanos(r.get(1)?),
        mode: r.get(2)?,
        outcome: r.get(3)?,
        action: r.get(4)?,
        target: r.get(5)?,
        rule: r.get(6)?,
        alert_kind: r.get(7)?,
        alert_entity: r.get(8)?,
        alert: r.get(9)?,
        reason: r.get(10)?,
        expires: time(11)?,
        ended: time(12)?,
        end: r.get(13)?,
    })
}

fn nanos(t: Option<Timestamp>) -> Option<i64> {
    t.map(Timestamp::as_nanos)
}

/// `t` as the `:now` of [`ACTIVE`]: short of the end of time, which is
/// when blocks without expiry expire, so they never do.
fn now_nanos(t: i64) -> i64 {
    t.min(i64::MAX - 1)
}

/// Ends the blocks of `target` (every target when `None`) in force at
/// `at`: they get `at` and `how` as their end. Returns how many.
fn end_tx(
    tx: &Transaction<'_>,
    target: Option<&str>,
    at: Timestamp,
    how: &str,
) -> rusqlite::Result<usize> {
    // Two statements rather than `:target IS NULL OR target = :target`,
    // which would keep the planner from the target index.
    let set = "UPDATE responses SET ended = :now, ended_how = :how WHERE";
    let (now, how) = (now_nanos(at.as_nanos()), how);
    match target {
        Some(t) => tx.execute(
            &format!("{set} {ACTIVE} AND target = :target"),
            named_params! {":now": now, ":how": how, ":target": t},
        ),
        None => tx.execute(
            &format!("{set} {ACTIVE}"),
            named_params! {":now": now, ":how": how},
        ),
    }
}

fn insert_tx(tx: &Transaction<'_>, r: &ResponseRecord) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO responses (decided, mode, outcome, action, target, rule, alert_kind,
            alert_entity, alert_json, reason, expires, ended, ended_how)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        rusqlite::params![
            r.decided.as_nanos(),
            r.mode,
            r.outcome,
            r.action,
            r.target,
            r.rule,
            r.alert_kind,
            r.alert_entity,
            r.alert,
            r.reason,
            nanos(r.expires),
            nanos(r.ended),
            r.end,
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

impl SqliteStore {
    /// Stores one decision and returns its id (`r.id` is ignored). A
    /// [`BLOCKED`] record not already ended replaces the block of the same
    /// target in force when it was decided: that one ends then, as
    /// [`REPLACED`], in the same transaction, so a target has one block in
    /// force at most and a restart re-applies only the newest.
    pub fn record_response(&mut self, r: &ResponseRecord) -> Result<i64, StoreError> {
        let what = format!("{}: writing a response to {}", self.path, r.target);
        self.write(|tx| {
            if r.outcome == BLOCKED && r.end.is_none() {
                end_tx(tx, Some(&r.target), r.decided, REPLACED)?;
            }
            insert_tx(tx, r)
        })
        .map_err(engine(what))
    }

    /// Ends the blocks in force at `at` of `target` (of every target when
    /// `None`: a flush) with `how` (`removed`, `flushed`…); returns how many
    /// were ended (0 when the target had none).
    pub fn end_responses(
        &mut self,
        target: Option<&str>,
        at: Timestamp,
        how: &str,
    ) -> Result<usize, StoreError> {
        let what = format!(
            "{}: ending the blocks of {}",
            self.path,
            target.unwrap_or("every target")
        );
        self.write(|tx| end_tx(tx, target, at, how))
            .map_err(engine(what))
    }

    /// The blocks in force at `now`, oldest first: outcome [`BLOCKED`], not
    /// ended, expiring after `now` (or never). What a restart re-applies,
    /// each for `expires - now`.
    pub fn active_responses(&self, now: Timestamp) -> Result<Vec<ResponseRecord>, StoreError> {
        // Sorted here: `ORDER BY id` would make the planner walk the
        // whole table in id order instead of the index.
        let mut v = self.select(
            &format!("SELECT {COLUMNS} FROM responses WHERE {ACTIVE}"),
            named_params! {":now": now_nanos(now.as_nanos())},
        )?;
        v.sort_unstable_by_key(|r| r.id);
        Ok(v)
    }

    /// Every record decided in `[since, until)` (unbounded where `None`),
    /// of every outcome, newest last; the newest `limit` of them (0: all).
    pub fn response_log(
        &self,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<ResponseRecord>, StoreError> {
        let limit = match limit {
            0 => -1,
            n => i64::try_from(n).unwrap_or(i64::MAX),
        };
        let mut v = self.select(
            &format!(
                "SELECT {COLUMNS} FROM responses
                 WHERE decided >= :since AND decided <= :last
                 ORDER BY decided DESC, id DESC LIMIT :limit"
            ),
            named_params! {
                ":since": nanos(since).unwrap_or(i64::MIN),
                // [since, until) as integers: a record at the end of time
                // is in an unbounded log too.
                ":last": nanos(until).map_or(i64::MAX, |u| u.saturating_sub(1)),
                ":limit": limit,
            },
        )?;
        v.reverse();
        Ok(v)
    }

    /// How a record stands at `now`, for displays: how it was ended if it
    /// was; for a block (or a dry-run's would-be block) not ended,
    /// `expired` once its expiry is past (expiry is never written: it is
    /// derived) and `active` before; empty for other outcomes (refusals,
    /// hooks), which have nothing in force.
    pub fn end_state(r: &ResponseRecord, now: Timestamp) -> &str {
        if let Some(how) = r.end.as_deref() {
            return how;
        }
        if r.outcome != BLOCKED && r.outcome != WOULD_BLOCK {
            return "";
        }
        match r.expires {
            Some(e) if e <= now => "expired",
            _ => "active",
        }
    }

    /// Runs `f` in an immediate transaction: it takes the write lock first,
    /// so a second connection writing at the same time (the history
    /// writer) is waited for (the busy timeout) instead of failing.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    fn select(
        &self,
        sql: &str,
        args: &[(&str, &dyn rusqlite::ToSql)],
    ) -> Result<Vec<ResponseRecord>, StoreError> {
        let what = || format!("{}: reading responses", self.path);
        let mut st = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| engine(what())(e))?;
        let rows = st
            .query_map(args, from_row)
            .map_err(|e| engine(what())(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| StoreError::Corrupt(format!("{}: bad response record: {e}", what())))
    }
}

/// Deletes records decided before `before` (nanoseconds) that are not
/// blocks in force at `now`, at most `1000 × budget` of them. Returns
/// (deleted, more to do).
pub(crate) fn prune_before(
    tx: &Transaction<'_>,
    before: i64,
    now: i64,
    budget: u32,
) -> rusqlite::Result<(u64, bool)> {
    let most = 1000 * i64::from(budget.max(1));
    let n = tx.execute(
        &format!(
            "DELETE FROM responses WHERE id IN (SELECT id FROM responses
               WHERE decided < :before AND NOT {ACTIVE} ORDER BY decided LIMIT :most)"
        ),
        named_params! {":before": before, ":now": now_nanos(now), ":most": most},
    )? as u64;
    Ok((n, n as i64 == most))
}

/// Deletes the records older than the newest [`RESPONSES_KEPT`], except
/// blocks in force at `now`, oldest first, at most `1000 × budget` of them;
/// only once there are [`TRIM_STEP`] records to delete. Returns (deleted,
/// more to do).
pub(crate) fn prune_over_cap(
    tx: &Transaction<'_>,
    now: i64,
    budget: u32,
) -> rusqlite::Result<(u64, bool)> {
    // New ids are above every one kept, so from the oldest record that may
    // go to the newest, ids span at least as many records as there are.
    let span: Option<i64> = tx
        .query_row(
            &format!(
                "SELECT (SELECT MAX(id) FROM responses) - id + 1 FROM responses
                 WHERE NOT {ACTIVE} ORDER BY id LIMIT 1"
            ),
            named_params! {":now": now_nanos(now)},
            |r| r.get(0),
        )
        .optional()?;
    if span.is_none_or(|n| n < RESPONSES_KEPT as i64 + TRIM_STEP) {
        return Ok((0, false));
    }
    // The oldest record kept as one of the newest.
    let oldest_kept: Option<i64> = tx
        .query_row(
            "SELECT id FROM responses ORDER BY id DESC LIMIT 1 OFFSET ?1",
            [RESPONSES_KEPT as i64 - 1],
            |r| r.get(0),
        )
        .optional()?;
    let Some(oldest_kept) = oldest_kept else {
        return Ok((0, false));
    };
    let most = 1000 * i64::from(budget.max(1));
    let n = tx.execute(
        &format!(
            "DELETE FROM responses WHERE id IN (SELECT id FROM responses
               WHERE id < :kept AND NOT {ACTIVE} ORDER BY id LIMIT :most)"
        ),
        named_params! {":kept": oldest_kept, ":now": now_nanos(now), ":most": most},
    )? as u64;
    Ok((n, n as i64 == most))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite chooses for `sql` (its parameters bound to
    /// literals), one line per step.
    fn plan(s: &SqliteStore, sql: &str) -> String {
        let sql = sql.replace(":now", "0").replace(":target", "'t'");
        let mut st = s
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let steps = st.query_map([], |r| r.get::<_, String>(3)).unwrap();
        steps.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    /// Ending a target's block, flushing and listing read a range of the
    /// partial indexes (those in force), never every block not ended nor
    /// the whole table.
    #[test]
    fn blocks_are_found_through_their_indexes() {
        let s = SqliteStore::open_in_memory().unwrap();
        let by_target = plan(
            &s,
            &format!("UPDATE responses SET ended = 1 WHERE {ACTIVE} AND target = :target"),
        );
        assert!(
            by_target
                .contains("SEARCH responses USING INDEX responses_target (target=? AND <expr>>?)"),
            "{by_target}"
        );
        for sql in [
            format!("UPDATE responses SET ended = 1 WHERE {ACTIVE}"),
            format!("SELECT {COLUMNS} FROM responses WHERE {ACTIVE}"),
        ] {
            let p = plan(&s, &sql);
            assert!(
                p.contains("SEARCH responses USING INDEX responses_open (<expr>>?)"),
                "{sql}: {p}"
            );
        }
    }
}
