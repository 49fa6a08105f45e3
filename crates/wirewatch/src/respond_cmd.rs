//! `wirewatch respond …`: the policy in force, the blocks in place (list,
//! add, remove, flush: nftables itself, recorded in the history
//! database), the log of every decision.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail};
use serde_json::{json, Value};
use wirewatch_respond::audit::StoreAudit;
use wirewatch_respond::decide::later;
use wirewatch_respond::guard::{LiveGuard, SshPeers, System, REFRESH_EVERY};
use wirewatch_respond::nft::Nft;
use wirewatch_respond::policy::{duration_text, Policy};
use wirewatch_respond::{parse_destination, parse_source, Target};
use wirewatch_store::responses::ResponseRecord;
use wirewatch_store::SqliteStore;
use wirewatch_units::{short_utc, Timestamp};

use crate::cli::respond::{RespondArgs, RespondCommand};
use crate::cli::Args;
use crate::config::Config;

/// Runs a `respond` subcommand, writing to `out`.
pub fn run(
    args: &Args,
    r: &RespondArgs,
    cfg: &Config,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let policy = crate::settings::respond_policy(args, cfg).unwrap_or_default();
    let nft = || open_nft(&policy, cfg);
    let existing = || existing_nft(&policy, cfg);
    let db = args.history.db.clone().or(cfg.history.db.clone());
    let now = crate::clock::now();
    match &r.command {
        RespondCommand::Policy => {
            write!(out, "{}", policy.describe())?;
            for line in guard(&policy)?.describe() {
                writeln!(out, "{line}")?;
            }
        }
        RespondCommand::List { json } => match existing()? {
            Some(mut n) => list(&mut n, db, now, *json, out)?,
            None if *json => writeln!(out, "[]")?,
            None => writeln!(out, "no blocks in place (there is no table inet wirewatch)")?,
        },
        RespondCommand::Add {
            target,
            duration,
            to,
            port,
        } => {
            let t = target_of(target, *to, *port)?;
            let secs =
                wirewatch_units::parse_duration(duration).map_err(|e| anyhow!("--for: {e}"))?;
            if secs == 0 {
                bail!("--for: must be longer than 0");
            }
            guard(&policy)?
                .check(&t)
                .map_err(|why| anyhow!("not blocking {t}: {why}"))?;
            let d = Duration::from_secs(secs as u64);
            nft()?.block(&[(t.clone(), d)])?;
            let until = later(now, d);
            let line = format!(
                "blocked {t} until {} UTC ({})",
                short_utc(until.as_secs()),
                duration_text(d)
            );
            audit(db, |a| {
                a.manual(
                    now,
                    "blocked",
                    action_of(&t),
                    &t.to_string(),
                    Some(until),
                    "",
                )
            })?;
            writeln!(out, "{line}")?;
        }
        RespondCommand::Remove { target, to, port } => {
            let t = target_of(target, *to, *port)?;
            let removed = match existing()? {
                Some(mut n) => n.unblock(&t)?,
                None => false,
            };
            if !removed {
                bail!("{t} is not blocked (`wirewatch respond list` shows what is)");
            }
            audit(db, |a| {
                a.store()
                    .end_responses(Some(&t.to_string()), now, "removed")
                    .map_err(|e| e.to_string())?;
                a.manual(now, "unblocked", action_of(&t), &t.to_string(), None, "")
            })?;
            writeln!(out, "removed the block {t}")?;
        }
        RespondCommand::Flush => {
            let n = match existing()? {
                Some(mut n) => n.flush()?,
                None => 0,
            };
            audit(db, |a| {
                a.store()
                    .end_responses(None, now, "flushed")
                    .map_err(|e| e.to_string())?;
                a.manual(
                    now,
                    "flushed",
                    "flush",
                    "every block",
                    None,
                    &format!("{n} removed"),
                )
            })?;
            writeln!(out, "removed {n} block(s)")?;
        }
        RespondCommand::Log {
            since,
            until,
            limit,
            json,
        } => {
            let at = |s: &Option<String>, name: &str| -> anyhow::Result<Option<Timestamp>> {
                s.as_deref()
                    .map(|s| {
                        wirewatch_units::parse_time(s, now.as_secs())
                            .map(|t| Timestamp::from_nanos(t.saturating_mul(1_000_000_000)))
                            .map_err(|e| anyhow!("--{name}: {e}"))
                    })
                    .transpose()
            };
            let (since, until) = (at(since, "since")?, at(until, "until")?);
            let path = db
                .or_else(crate::settings::default_query_path)
                .ok_or_else(|| anyhow!("no history database: give --db PATH"))?;
            let store = SqliteStore::open_reader(&path).map_err(|e| anyhow!("{e}"))?;
            let log = store
                .response_log(since, until, *limit)
                .map_err(|e| anyhow!("{e}"))?;
            write_log(&log, now, *json, out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A source (`ADDR`, `ADDR/PREFIX`) or, with `--to`, a destination.
fn target_of(s: &str, to: bool, port: Option<u16>) -> anyhow::Result<Target> {
    let t = if to {
        parse_destination(s, port)
    } else {
        parse_source(s).map(Target::Source)
    };
    t.map_err(|e| anyhow!("{e}"))
}

fn action_of(t: &Target) -> &'static str {
    match t {
        Target::Source(_) => "block-source",
        Target::Destination { .. } => "block-destination",
    }
}

/// The table's settings: the policy's, and the configured nft program.
fn table_config(policy: &Policy, cfg: &Config) -> wirewatch_respond::nft::NftConfig {
    let program = cfg
        .respond
        .nft
        .clone()
        .unwrap_or_else(|| PathBuf::from("nft"));
    crate::responses::nft_config(policy, program)
}

/// nftables with the policy's table settings (the table made if missing).
fn open_nft(policy: &Policy, cfg: &Config) -> anyhow::Result<Nft> {
    Nft::open(table_config(policy, cfg)).map_err(|e| anyhow!("{e}"))
}

/// nftables' table if it exists (not created).
fn existing_nft(policy: &Policy, cfg: &Config) -> anyhow::Result<Option<Nft>> {
    Nft::existing(table_config(policy, cfg)).map_err(|e| anyhow!("{e}"))
}

/// What must never be blocked, read now.
fn guard(policy: &Policy) -> anyhow::Result<LiveGuard> {
    let ssh = SshPeers::new(policy.ssh_ports.clone()).map_err(|e| anyhow!("ssh-ports: {e}"))?;
    LiveGuard::load(
        policy.allow.clone(),
        System::default(),
        ssh,
        crate::clock::shared(),
        REFRESH_EVERY,
    )
    .map_err(|e| anyhow!("reading what must never be blocked: {e}"))
}

/// Records a manual change in the history database (created if needed).
fn audit(
    db: Option<PathBuf>,
    f: impl FnOnce(&mut StoreAudit) -> Result<i64, String>,
) -> anyhow::Result<()> {
    let path = db
        .or_else(crate::settings::default_db_path)
        .ok_or_else(|| anyhow!("no history database to record the change in: give --db PATH"))?;
    let mut a = StoreAudit::open(&path).map_err(|e| anyhow!("{e}"))?;
    f(&mut a)
        .map(|_| ())
        .map_err(|e| anyhow!("the change is made but not recorded: {e}"))
}

/// The blocks in nftables, with the decision the history database has
/// for each (when it has one).
fn list(
    nft: &mut Nft,
    db: Option<PathBuf>,
    now: Timestamp,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut elements = nft.list()?;
    elements.sort_by(|a, b| a.target.cmp(&b.target));
    let records: Vec<ResponseRecord> = db
        .or_else(crate::settings::default_query_path)
        .filter(|p| p.exists())
        .and_then(|p| SqliteStore::open_reader(&p).ok())
        .and_then(|s| s.active_responses(now).ok())
        .unwrap_or_default();
    let why = |t: &Target| records.iter().rev().find(|r| r.target == t.to_string());
    if json {
        let v: Vec<Value> = elements
            .iter()
            .map(|e| {
                let r = why(&e.target);
                json!({
                    "target": e.target.to_string(),
                    "expires_in_s": e.expires.map(|d| d.as_secs()),
                    "until": e.expires.map(|d| wirewatch_units::rfc3339(later(now, d).as_secs())),
                    "rule": r.map(|r| r.rule.clone()),
                    "alert_kind": r.map(|r| r.alert_kind.clone()),
                    "alert_entity": r.map(|r| r.alert_entity.clone()),
                    "decided": r.map(|r| wirewatch_units::rfc3339(r.decided.as_secs())),
                })
            })
            .collect();
        writeln!(out, "{}", Value::Array(v))?;
        return Ok(());
    }
    if elements.is_empty() {
        writeln!(out, "no blocks in place")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<34} {:>10}  {:<16}  {:<10}  ALERT",
        "BLOCK", "EXPIRES IN", "UNTIL (UTC)", "RULE"
    )?;
    for e in &elements {
        let r = why(&e.target);
        writeln!(
            out,
            "{:<34} {:>10}  {:<16}  {:<10}  {}",
            e.target.to_string(),
            e.expires.map_or("never".into(), duration_text),
            e.expires
                .map_or("-".into(), |d| short_utc(later(now, d).as_secs())),
            r.map_or("-", |r| r.rule.as_str()),
            r.filter(|r| !r.alert_kind.is_empty())
                .map_or("-".to_string(), |r| format!(
                    "{} {}",
                    r.alert_kind, r.alert_entity
                )),
        )?;
    }
    Ok(())
}

/// `respond log`: one line (or JSON object) per decision, oldest first.
fn write_log(
    log: &[ResponseRecord],
    now: Timestamp,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let time = |t: Option<Timestamp>| t.map(|t| wirewatch_units::rfc3339(t.as_secs()));
    if json {
        for r in log {
            let v = json!({
                "decided": time(Some(r.decided)),
                "mode": r.mode,
                "outcome": r.outcome,
                "action": r.action,
                "target": r.target,
                "rule": r.rule,
                "expires": time(r.expires),
                "state": SqliteStore::end_state(r, now),
                "ended": time(r.ended),
                "reason": r.reason,
                "alert_kind": r.alert_kind,
                "alert_entity": r.alert_entity,
                "alert": serde_json::from_str::<Value>(&r.alert).unwrap_or(Value::Null),
            });
            writeln!(out, "{v}")?;
        }
        return Ok(());
    }
    if log.is_empty() {
        writeln!(out, "no decisions recorded")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<16}  {:<7}  {:<15}  {:<17}  {:<28}  {:<16}  {:<8}  WHY",
        "DECIDED (UTC)", "MODE", "OUTCOME", "ACTION", "TARGET", "UNTIL (UTC)", "STATE"
    )?;
    for r in log {
        let why = match (r.reason.is_empty(), r.alert_kind.is_empty()) {
            (true, true) => r.rule.clone(),
            (true, false) => format!("{}: {} {}", r.rule, r.alert_kind, r.alert_entity),
            (false, _) => format!("{}: {}", r.rule, r.reason),
        };
        writeln!(
            out,
            "{:<16}  {:<7}  {:<15}  {:<17}  {:<28}  {:<16}  {:<8}  {}",
            short_utc(r.decided.as_secs()),
            r.mode,
            r.outcome,
            r.action,
            r.target,
            r.expires.map_or("-".into(), |t| short_utc(t.as_secs())),
            SqliteStore::end_state(r, now),
            why.trim_end()
        )?;
    }
    Ok(())
}
