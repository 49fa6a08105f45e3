//! The responder wired into a run (`--respond`, `[respond]`): what needs
//! privileges is opened before they are dropped (the audit database,
//! nftables, the blocks still valid re-applied), the thread keeps only
//! CAP_NET_ADMIN, the hook workers start once the starting thread holds
//! no capability.

use std::sync::Arc;

use wirewatch_live::privs;
use wirewatch_respond::audit::StoreAudit;
use wirewatch_respond::decide::{later, remaining, Decider};
use wirewatch_respond::guard::{LiveGuard, SshPeers, System, REFRESH_EVERY};
use wirewatch_respond::nft::{Nft, NftConfig};
use wirewatch_respond::policy::{duration_text, Mode};
use wirewatch_respond::responder::{Firewall, HookWorkers, Parts, Responder};
use wirewatch_units::{Clock, Timestamp};

use crate::settings::RespondSettings;

/// What [`prepare`] opened, ready to start.
pub struct Prepared {
    parts: Parts,
    /// Live: the run's clock, which times the decisions.
    clock: Option<Arc<dyn Clock>>,
    /// Whether the thread needs CAP_NET_ADMIN (a firewall is open).
    pub needs_net_admin: bool,
}

/// Opens, while privileges are held, what the responder needs: the audit
/// log, nftables when enforcing (blocks the audit log still holds are put
/// back with their remaining time), the guard. What fails is said in
/// `notes`, and the run goes on without it.
pub fn prepare(
    rs: &RespondSettings,
    clock: Arc<dyn Clock>,
    live: bool,
    notes: &mut Vec<String>,
) -> Prepared {
    let policy = rs.policy.clone();
    let now = clock.now();
    let mut decider = Decider::new(policy.clone());
    let mut audit = rs.db.as_ref().and_then(|db| match StoreAudit::open(db) {
        Ok(a) => Some(a),
        Err(e) => {
            notes.push(format!("responses are not recorded: {e}"));
            None
        }
    });
    let firewall = match policy.mode {
        Mode::DryRun => None,
        Mode::Enforce => open_firewall(rs, audit.as_mut(), &mut decider, now, notes),
    };
    let clock_for_decisions = Arc::clone(&clock);
    let guard = match LiveGuard::load(
        policy.allow.clone(),
        System::default(),
        SshPeers::new(policy.ssh_ports.clone()).unwrap_or_default(),
        clock,
        REFRESH_EVERY,
    ) {
        Ok(mut g) => Box::new(move |t: &wirewatch_respond::Target| g.check(t))
            as wirewatch_respond::responder::Guard,
        Err(e) => {
            let why = format!("what must never be blocked could not be read ({e})");
            notes.push(format!("responses: {why}; nothing will be blocked"));
            Box::new(move |_: &wirewatch_respond::Target| Err(why.clone()))
        }
    };
    notes.push(mode_line(rs, firewall.is_some()));
    Prepared {
        clock: live.then_some(clock_for_decisions),
        needs_net_admin: firewall.is_some(),
        parts: Parts {
            decider,
            firewall,
            audit: audit.map(|a| Box::new(a) as _),
            hooks: None,
            guard,
        },
    }
}

/// "responses: enforce, the default policy (…)".
fn mode_line(rs: &RespondSettings, firewall: bool) -> String {
    let p = &rs.policy;
    let rules = if p.default_rules {
        format!(
            "the default policy (block-source for {} on scans, floods and brute force)",
            duration_text(p.rules[0].duration)
        )
    } else {
        format!("{} rule(s) from [respond]", p.rules.len())
    };
    let mode = match (p.mode, firewall) {
        (Mode::DryRun, _) => "dry-run (nothing is blocked)",
        (Mode::Enforce, true) => "enforce",
        (Mode::Enforce, false) => "enforce, but without nftables nothing can be blocked",
    };
    format!("responses: {mode}; {rules}; `wirewatch respond policy` shows it")
}

/// nftables opened and brought up to date: the blocks the audit log holds
/// as still in force are put back for their remaining time (a reboot or a
/// flushed ruleset lost them), and every block in place counts against
/// the cap.
fn open_firewall(
    rs: &RespondSettings,
    audit: Option<&mut StoreAudit>,
    decider: &mut Decider,
    now: Timestamp,
    notes: &mut Vec<String>,
) -> Option<Box<dyn Firewall>> {
    let mut nft = match Nft::open(nft_config(&rs.policy, rs.nft.clone())) {
        Ok(n) => n,
        Err(e) => {
            notes.push(format!("responses: {e}; the run goes on without blocking"));
            return None;
        }
    };
    let present = match nft.list() {
        Ok(v) => v,
        Err(e) => {
            notes.push(format!("responses: {e}; the run goes on without blocking"));
            return None;
        }
    };
    for e in &present {
        let until = e
            .expires
            .map_or(Timestamp::from_nanos(i64::MAX), |d| later(now, d));
        decider.restore(e.target.clone(), until);
    }
    let active = match audit.map(|a| a.active(now)) {
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            notes.push(format!(
                "responses: the blocks in force could not be read ({e})"
            ));
            Vec::new()
        }
        None => Vec::new(),
    };
    let missing: Vec<_> = active
        .into_iter()
        .filter(|(t, _)| !present.iter().any(|e| &e.target == t))
        .collect();
    if !missing.is_empty() {
        let items: Vec<_> = missing
            .iter()
            .map(|(t, until)| (t.clone(), remaining(now, *until)))
            .collect();
        match nft.block(&items) {
            Ok(()) => {
                for (t, until) in missing.iter() {
                    decider.restore(t.clone(), *until);
                }
                notes.push(format!(
                    "responses: {} block(s) re-applied for their remaining time ({} still in place)",
                    missing.len(),
                    present.len()
                ));
            }
            Err(e) => notes.push(format!(
                "responses: re-applying {} block(s): {e}",
                missing.len()
            )),
        }
    } else if !present.is_empty() {
        notes.push(format!(
            "responses: {} block(s) still in place",
            present.len()
        ));
    }
    Some(Box::new(nft))
}

/// The table's settings from the policy.
pub fn nft_config(p: &wirewatch_respond::policy::Policy, nft: std::path::PathBuf) -> NftConfig {
    NftConfig {
        forward: p.forward,
        max_elements: p.max_blocks,
        allow: p.allow.clone(),
        nft,
        ..NftConfig::default()
    }
}

/// Starts the responder's thread, which keeps CAP_NET_ADMIN (and passes
/// it to `nft`) when it needs it and no other capability. Call it after
/// the privilege drop kept CAP_NET_ADMIN, before this thread gives it up.
pub fn start(p: Prepared) -> anyhow::Result<Responder> {
    let net_admin = p.needs_net_admin;
    let clock = p.clock;
    let r = Responder::start(p.parts, move || {
        if net_admin {
            privs::keep_thread_capability_for_children(privs::CAP_NET_ADMIN).map(|_| ())
        } else {
            privs::keep_thread_capabilities(0)
        }
    })
    .map_err(|e| anyhow::anyhow!("starting the responder: {e}"))?;
    Ok(match clock {
        Some(c) => r.on_clock(c),
        None => r,
    })
}

/// Hands the responder its hook workers; call it on a thread that holds
/// no capability (the workers and the programs they run inherit it).
pub fn start_hooks(r: &Responder) {
    r.set_hooks(Box::new(HookWorkers::start()));
}
