//! The responder: a consumer of alerts on the pipeline and the thread that
//! acts on them. The packet thread only hands each alert over a bounded
//! queue (never waiting: a full queue drops and counts); the
//! `wirewatch-respond` thread decides ([`Decider`]), checks the guard
//! (SSH peers read at every decision), blocks through the [`Firewall`],
//! submits hooks, writes every decision to the [`AuditLog`], and hands one
//! line per decision back; the consumer raises those as notes (stderr,
//! the screen's status line, the web).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wirewatch_detect::Alert;
use wirewatch_flow::FlowTable;
use wirewatch_pipeline::{Consumer, Context, Ending, Outbox, Response};
use wirewatch_units::{hhmm_utc, Clock, Timestamp};

use crate::decide::{remaining, Decider, Decision, Outcome};
use crate::policy::{duration_text, Action, Mode};
use crate::Target;

/// Where blocks go (nftables; a test's recorder).
pub trait Firewall: Send {
    /// Blocks each target for its duration, in one transaction.
    fn block(&mut self, items: &[(Target, Duration)]) -> Result<(), String>;
}

/// Where decisions are recorded (the history database).
pub trait AuditLog: Send {
    /// One decision, with the alert behind it.
    fn record(&mut self, e: &Entry<'_>) -> Result<(), String>;
    /// A hook's result, for the decision recorded with this id.
    fn hook_result(&mut self, e: &Entry<'_>, result: &str, ok: bool) -> Result<(), String>;
}

/// Runs exec and webhook actions off the responder's thread.
pub trait HookRunner: Send {
    /// Queues the action with the alert JSON; never waits. `Err`: not
    /// queued, and why.
    fn submit(&mut self, id: u64, action: &Action, payload: Vec<u8>) -> Result<(), String>;
    /// Results of finished actions: id, one line, whether it succeeded.
    fn finished(&mut self) -> Vec<(u64, String, bool)>;
    /// Waits up to `wait` for what is still running, then gives up.
    fn shutdown(&mut self, _wait: Duration) {}
}

/// The hooks' worker threads as the responder's [`HookRunner`].
pub struct HookWorkers {
    hooks: Option<crate::hooks::Hooks>,
    /// The outcomes handed back at shutdown, until taken.
    last: Vec<(u64, String, bool)>,
}

fn outcome_line(o: crate::hooks::Outcome) -> (u64, String, bool) {
    (o.id, o.result.describe(), o.result.succeeded())
}

impl HookWorkers {
    /// Starts the exec and webhook workers (call it on a thread that holds
    /// no capability: the workers and their programs inherit the caller's).
    pub fn start() -> HookWorkers {
        HookWorkers {
            hooks: Some(crate::hooks::Hooks::with_config(
                crate::hooks::HooksConfig::default(),
            )),
            last: Vec::new(),
        }
    }
}

impl HookRunner for HookWorkers {
    fn submit(&mut self, id: u64, action: &Action, payload: Vec<u8>) -> Result<(), String> {
        let (Some(h), Action::Hook(hook)) = (&self.hooks, action) else {
            return Err("not a hook".into());
        };
        let job = crate::hooks::Job {
            id,
            hook: Arc::clone(hook),
            payload,
        };
        h.submit(job)
            .map_err(|_| format!("its queue is full ({} dropped so far)", h.dropped()))
    }

    fn finished(&mut self) -> Vec<(u64, String, bool)> {
        match &self.hooks {
            Some(h) => h.outcomes().into_iter().map(outcome_line).collect(),
            None => std::mem::take(&mut self.last),
        }
    }

    fn shutdown(&mut self, wait: Duration) {
        // The workers are gone after this: their last outcomes wait in
        // `last` for the next `finished`.
        if let Some(h) = self.hooks.take() {
            self.last = h.shutdown(wait).into_iter().map(outcome_line).collect();
        }
    }
}

/// One decision as recorded.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    /// When it was made.
    pub decided: Timestamp,
    /// The mode in force.
    pub mode: Mode,
    /// What was decided.
    pub decision: &'a Decision,
    /// The alert behind it.
    pub alert: &'a Alert,
    /// The alert as JSON.
    pub alert_json: &'a str,
}

/// The parts the thread works with.
pub struct Parts {
    /// The policy and what is already blocked.
    pub decider: Decider,
    /// The firewall (enforce), or none (dry-run, or nft missing).
    pub firewall: Option<Box<dyn Firewall>>,
    /// The audit log, or none (no database).
    pub audit: Option<Box<dyn AuditLog>>,
    /// The hooks, or none.
    pub hooks: Option<Box<dyn HookRunner>>,
    /// Why a target must never be blocked (read at every decision).
    pub guard: Guard,
}

/// Says why a target must never be blocked (`Err`), read at every decision.
pub type Guard = Box<dyn FnMut(&Target) -> Result<(), String> + Send>;

/// Alerts waiting for the responder thread.
pub const QUEUE: usize = 1_024;
/// Lines waiting for the packet thread.
const REPORTS: usize = 4_096;

enum Job {
    Alert(Box<Alert>, Timestamp),
    Hooks(Box<dyn HookRunner>),
    Stop,
}

/// The consumer on the packet thread.
pub struct Responder {
    jobs: SyncSender<Job>,
    reports: Receiver<Response>,
    thread: Option<JoinHandle<Summary>>,
    dropped: Arc<AtomicU64>,
    now: Timestamp,
    /// Live: the run's clock, the one time of every decision (packets
    /// carry the kernel's time, which must not be mixed with it).
    clock: Option<Arc<dyn Clock>>,
}

/// What the thread did, said at the end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Decisions by outcome name, in first-seen order.
    pub outcomes: Vec<(&'static str, u64)>,
    /// Lines the packet thread did not take in time.
    pub reports_dropped: u64,
    /// Audit writes that failed (the first reason).
    pub audit_errors: (u64, String),
}

impl Summary {
    fn count(&mut self, name: &'static str) {
        match self.outcomes.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => self.outcomes.push((name, 1)),
        }
    }
}

impl Responder {
    /// Starts the `wirewatch-respond` thread with `parts`; `on_start`
    /// runs first on that thread (to keep the capability it needs and no
    /// other) and its error stops the start.
    pub fn start(
        parts: Parts,
        on_start: impl FnOnce() -> std::io::Result<()> + Send + 'static,
    ) -> std::io::Result<Responder> {
        let (jobs, rx) = mpsc::sync_channel(QUEUE);
        let (report_tx, reports) = mpsc::sync_channel(REPORTS);
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("wirewatch-respond".into())
            .spawn(move || {
                let started = on_start();
                let failed = started.is_err();
                let _ = ready_tx.send(started);
                if failed {
                    return Summary::default();
                }
                Worker::new(parts, report_tx).run(rx)
            })?;
        ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("the responder thread died at start"))??;
        Ok(Responder {
            jobs,
            reports,
            thread: Some(thread),
            dropped: Arc::new(AtomicU64::new(0)),
            now: Timestamp::ZERO,
            clock: None,
        })
    }

    /// Decides on `clock`'s time (a live run) instead of the packets'
    /// (a replay: the alert's time and the pipeline's packet clock).
    pub fn on_clock(mut self, clock: Arc<dyn Clock>) -> Responder {
        self.clock = Some(clock);
        self
    }

    /// Hands the thread its hook runner: started by the caller once its
    /// own thread holds no capability (the hooks' threads and programs
    /// inherit what the starting thread holds).
    pub fn set_hooks(&self, hooks: Box<dyn HookRunner>) {
        let _ = self.jobs.send(Job::Hooks(hooks));
    }

    /// Alerts not handed over because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn raise_reports(&mut self, out: &mut Outbox) {
        while let Ok(r) = self.reports.try_recv() {
            out.response(r);
        }
    }

    /// Stops the thread after the alerts already queued; its summary.
    fn stop(&mut self) -> Summary {
        let _ = self.jobs.send(Job::Stop);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Consumer for Responder {
    fn name(&self) -> &'static str {
        "respond"
    }

    fn advance(
        &mut self,
        _table: &mut FlowTable,
        now: Timestamp,
        _cx: &Context<'_>,
        out: &mut Outbox,
    ) {
        self.now = self.now.max(now);
        self.raise_reports(out);
    }

    fn alert(&mut self, a: &Alert) {
        let now = match &self.clock {
            Some(c) => c.now(),
            None => self.now.max(a.time),
        };
        match self.jobs.try_send(Job::Alert(Box::new(a.clone()), now)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn input_ended(&mut self, _table: &mut FlowTable, _cx: &Context<'_>, out: &mut Outbox) {
        let summary = self.stop();
        self.raise_reports(out);
        out.note(summary_line(&summary, self.dropped()));
    }

    fn finish(
        &mut self,
        _table: &mut FlowTable,
        _end: &Ending,
        _cx: &Context<'_>,
        _out: &mut Outbox,
    ) -> anyhow::Result<()> {
        if self.thread.is_some() {
            self.stop();
        }
        Ok(())
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop();
        }
    }
}

/// "responses: 2 blocked, 1 refused" (and what was lost).
fn summary_line(s: &Summary, dropped: u64) -> String {
    let mut parts: Vec<String> = s.outcomes.iter().map(|(n, c)| format!("{c} {n}")).collect();
    if parts.is_empty() {
        parts.push("none".into());
    }
    let mut line = format!("responses: {}", parts.join(", "));
    if dropped > 0 {
        line.push_str(&format!(
            "; {dropped} alert(s) not considered (the responder's queue of {QUEUE} was full)"
        ));
    }
    if s.reports_dropped > 0 {
        line.push_str(&format!("; {} line(s) not shown", s.reports_dropped));
    }
    if s.audit_errors.0 > 0 {
        line.push_str(&format!(
            "; {} decision(s) not recorded ({})",
            s.audit_errors.0, s.audit_errors.1
        ));
    }
    line
}

/// The responder thread's state.
struct Worker {
    parts: Parts,
    reports: SyncSender<Response>,
    summary: Summary,
    next_id: u64,
    /// Hooks running: id → (decision, alert, json), bounded by the hook
    /// runner's own queues (what it refuses is never put here).
    running: Vec<Running>,
}

/// A hook waiting for its result: its id, decision, alert, JSON, time.
type Running = (u64, Decision, Box<Alert>, String, Timestamp);

/// Most hooks waiting for their result.
const RUNNING: usize = 1_024;

impl Worker {
    fn new(parts: Parts, reports: SyncSender<Response>) -> Worker {
        Worker {
            parts,
            reports,
            summary: Summary::default(),
            next_id: 1,
            running: Vec::new(),
        }
    }

    fn run(mut self, rx: Receiver<Job>) -> Summary {
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Job::Alert(a, now)) => self.handle(&a, now),
                Ok(Job::Hooks(h)) => self.parts.hooks = Some(h),
                Ok(Job::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.collect_hooks();
        }
        if let Some(h) = self.parts.hooks.as_mut() {
            h.shutdown(Duration::from_secs(5));
        }
        self.collect_hooks();
        self.summary
    }

    fn handle(&mut self, a: &Alert, now: Timestamp) {
        let json = serde_json::to_string(a).unwrap_or_default();
        let decisions = {
            let Parts { decider, guard, .. } = &mut self.parts;
            decider.decide(a, now, guard.as_mut())
        };
        let blocks: Vec<(Target, Duration)> = decisions
            .iter()
            .filter_map(|d| match (&d.outcome, &d.target) {
                (Outcome::Block { until } | Outcome::Extend { until }, Some(t)) => {
                    Some((t.clone(), remaining(now, *until)))
                }
                _ => None,
            })
            .collect();
        let failed = match (&mut self.parts.firewall, blocks.is_empty()) {
            (_, true) => None,
            (Some(fw), false) => fw.block(&blocks).err(),
            (None, false) => Some("no firewall (nft is not available)".to_string()),
        };
        for mut d in decisions {
            if let (Some(why), Outcome::Block { .. } | Outcome::Extend { .. }) =
                (&failed, &d.outcome)
            {
                if let Some(t) = &d.target {
                    self.parts.decider.forget(t);
                }
                d.outcome = Outcome::Refused(format!("nft failed: {why}"));
            }
            if d.outcome == Outcome::Run {
                self.submit_hook(&d, a, &json, now);
            }
            self.finish(&d, a, &json, now);
        }
    }

    fn submit_hook(&mut self, d: &Decision, a: &Alert, json: &str, now: Timestamp) {
        let id = self.next_id;
        self.next_id += 1;
        let Some(h) = self.parts.hooks.as_mut() else {
            return;
        };
        if self.running.len() >= RUNNING {
            let why = format!("{RUNNING} hooks already running");
            self.report(hook_response(d, a, now, "refused", &why));
            return;
        }
        match h.submit(id, &d.action, json.as_bytes().to_vec()) {
            Ok(()) => {
                self.running
                    .push((id, d.clone(), Box::new(a.clone()), json.to_string(), now))
            }
            Err(why) => self.report(hook_response(d, a, now, "refused", &why)),
        }
    }

    fn collect_hooks(&mut self) {
        let Some(h) = self.parts.hooks.as_mut() else {
            return;
        };
        for (id, result, ok) in h.finished() {
            let Some(k) = self.running.iter().position(|r| r.0 == id) else {
                continue;
            };
            let (_, d, a, json, at) = self.running.swap_remove(k);
            let e = Entry {
                decided: at,
                mode: self.parts.decider.policy().mode,
                decision: &d,
                alert: &a,
                alert_json: &json,
            };
            if let Some(log) = self.parts.audit.as_mut() {
                if let Err(why) = log.hook_result(&e, &result, ok) {
                    self.summary.audit_errors.0 += 1;
                    self.summary.audit_errors.1 = why;
                }
            }
            let outcome = if ok { "hook succeeded" } else { "hook failed" };
            self.summary.count(outcome);
            self.report(hook_response(&d, &a, at, outcome, &result));
        }
    }

    /// Records, counts and reports one decision.
    fn finish(&mut self, d: &Decision, a: &Alert, json: &str, now: Timestamp) {
        let e = Entry {
            decided: now,
            mode: self.parts.decider.policy().mode,
            decision: d,
            alert: a,
            alert_json: json,
        };
        if let Some(log) = self.parts.audit.as_mut() {
            if let Err(why) = log.record(&e) {
                if self.summary.audit_errors.0 == 0 {
                    self.summary.audit_errors.1 = why;
                }
                self.summary.audit_errors.0 += 1;
            }
        }
        self.summary.count(d.outcome.name());
        self.report(response(d, now, a));
    }

    fn report(&mut self, r: Response) {
        if self.reports.try_send(r).is_err() {
            self.summary.reports_dropped += 1;
        }
    }
}

/// A decision for the pipeline's consumers.
pub fn response(d: &Decision, now: Timestamp, a: &Alert) -> Response {
    Response {
        time: now,
        outcome: d.outcome.name().into(),
        action: d.action.name().into(),
        target: d.target.as_ref().map(|t| t.to_string()),
        until: d.outcome.until(),
        rule: d.rule.clone(),
        alert: describe_alert(a),
        line: describe(d, now, a),
    }
}

/// A hook's result (or why it did not run) for the pipeline's consumers.
fn hook_response(d: &Decision, a: &Alert, at: Timestamp, outcome: &str, result: &str) -> Response {
    Response {
        time: at,
        outcome: outcome.into(),
        action: d.action.name().into(),
        target: None,
        until: None,
        rule: d.rule.clone(),
        alert: describe_alert(a),
        line: format!(
            "{} {}: {result}, rule {}: {}",
            d.action.name(),
            if outcome == "refused" {
                "not run"
            } else {
                "finished"
            },
            d.rule,
            describe_alert(a)
        ),
    }
}

/// `vertical_scan 198.51.100.7 -> 10.0.0.1`.
fn describe_alert(a: &Alert) -> String {
    format!("{} {}", a.kind.as_str(), a.entity)
}

/// One line for the user: "blocked from 198.51.100.7 until 14:05 UTC (1h,
/// rule default): vertical_scan 198.51.100.7 -> 10.0.0.1".
pub fn describe(d: &Decision, now: Timestamp, a: &Alert) -> String {
    let target = d
        .target
        .as_ref()
        .map_or_else(|| d.action.name().to_string(), |t| t.to_string());
    let until = |u: &Timestamp| {
        let secs = u.as_nanos().div_euclid(1_000_000_000);
        format!(
            "until {} ({})",
            hhmm_utc(secs),
            duration_text(remaining(now, *u))
        )
    };
    let what = match &d.outcome {
        Outcome::Block { until: u } => format!("blocked {target} {}", until(u)),
        Outcome::Extend { until: u } => format!("extended the block {target} {}", until(u)),
        Outcome::WouldBlock { until: u } => {
            format!("would block {target} {} (dry-run)", until(u))
        }
        Outcome::AlreadyBlocked { until: u } => {
            format!("{target} already blocked {}", until(u))
        }
        Outcome::Run => format!("{target} started"),
        Outcome::WouldRun => format!("would run {target} (dry-run)"),
        Outcome::Refused(why) => format!("not {}: {why}", refused_verb(d)),
    };
    format!("{what}, rule {}: {}", d.rule, describe_alert(a))
}

fn refused_verb(d: &Decision) -> String {
    match (&d.action, &d.target) {
        (Action::BlockSource | Action::BlockDestination, Some(t)) => format!("blocking {t}"),
        (Action::BlockSource | Action::BlockDestination, None) => "blocking".into(),
        (a, _) => format!("running {}", a.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{host_net, Policy};
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl Firewall for Recorder {
        fn block(&mut self, items: &[(Target, Duration)]) -> Result<(), String> {
            let mut v = self.0.lock().unwrap();
            for (t, d) in items {
                v.push(format!("{t} for {}", d.as_secs()));
            }
            Ok(())
        }
    }

    impl AuditLog for Recorder {
        fn record(&mut self, e: &Entry<'_>) -> Result<(), String> {
            self.0.lock().unwrap().push(format!(
                "audit {} {} {}",
                e.mode.as_str(),
                e.decision.outcome.name(),
                e.alert_json.contains("\"vertical_scan\"")
            ));
            Ok(())
        }
        fn hook_result(&mut self, _: &Entry<'_>, r: &str, ok: bool) -> Result<(), String> {
            self.0.lock().unwrap().push(format!("hook {r} {ok}"));
            Ok(())
        }
    }

    use crate::testing::scan;

    fn run(mode: Mode, alerts: &[Alert]) -> (Vec<String>, Vec<String>, Summary) {
        let rec = Recorder::default();
        let parts = Parts {
            decider: Decider::new(Policy {
                mode,
                ..Policy::default()
            }),
            firewall: (mode == Mode::Enforce).then(|| Box::new(rec.clone()) as Box<dyn Firewall>),
            audit: Some(Box::new(rec.clone())),
            hooks: None,
            guard: Box::new(|t: &Target| {
                if t == &Target::Source(host_net("10.0.0.254".parse().unwrap())) {
                    Err("10.0.0.254 is a default gateway".into())
                } else {
                    Ok(())
                }
            }),
        };
        let mut r = Responder::start(parts, || Ok(())).unwrap();
        for a in alerts {
            r.alert(a);
        }
        let summary = r.stop();
        let lines: Vec<String> = r.reports.try_iter().map(|r| r.line).collect();
        let log = rec.0.lock().unwrap().clone();
        (log, lines, summary)
    }

    #[test]
    fn enforce_blocks_records_and_says_so() {
        let (log, lines, summary) = run(
            Mode::Enforce,
            &[scan("198.51.100.7", 0), scan("10.0.0.254", 1)],
        );
        assert_eq!(
            log,
            [
                "from 198.51.100.7 for 3600",
                "audit enforce blocked true",
                "audit enforce refused true"
            ]
        );
        assert_eq!(
            lines[0],
            "blocked from 198.51.100.7 until 09:00 UTC (1h), rule default: vertical_scan 198.51.100.7 -> 10.0.0.1"
        );
        assert_eq!(
            lines[1],
            "not blocking from 10.0.0.254: 10.0.0.254 is a default gateway, rule default: vertical_scan 10.0.0.254 -> 10.0.0.1"
        );
        assert_eq!(summary.outcomes, [("blocked", 1), ("refused", 1)]);
        assert_eq!(summary_line(&summary, 0), "responses: 1 blocked, 1 refused");
    }

    #[test]
    fn dry_run_touches_no_firewall_and_records_would_block() {
        let (log, lines, _) = run(Mode::DryRun, &[scan("198.51.100.7", 0)]);
        assert_eq!(log, ["audit dry-run would-block true"]);
        assert!(
            lines[0].starts_with("would block from 198.51.100.7 until 09:00 UTC (1h) (dry-run)"),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn an_exec_rule_runs_the_program_with_the_alert_and_records_its_result() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("alert.json");
        let hook = crate::hooks::Hook::exec(
            "tee".into(),
            vec![file.display().to_string()],
            Duration::from_secs(5),
        )
        .unwrap();
        let mut policy = Policy {
            mode: Mode::Enforce,
            ..Policy::default()
        };
        policy.rules[0].action = Action::Hook(Arc::new(hook));
        let rec = Recorder::default();
        let parts = Parts {
            decider: Decider::new(policy),
            firewall: None,
            audit: Some(Box::new(rec.clone())),
            hooks: None,
            guard: Box::new(|_: &Target| Ok(())),
        };
        let mut r = Responder::start(parts, || Ok(())).unwrap();
        r.set_hooks(Box::new(HookWorkers::start()));
        let a = scan("198.51.100.7", 0);
        r.alert(&a);
        let summary = r.stop();
        let lines: Vec<String> = r.reports.try_iter().map(|r| r.line).collect();
        let written = std::fs::read_to_string(&file).unwrap();
        assert_eq!(written, serde_json::to_string(&a).unwrap());
        assert_eq!(summary.outcomes, [("run", 1), ("hook succeeded", 1)]);
        assert!(lines[1].starts_with("exec finished: exit 0"), "{lines:?}");
        let last = rec.0.lock().unwrap().last().unwrap().clone();
        assert!(
            last.starts_with("hook exit 0 in ") && last.ends_with(" true"),
            "{last}"
        );
    }

    #[test]
    fn a_live_responder_times_every_decision_by_the_run_s_clock() {
        let decide = |clock: Option<Arc<dyn Clock>>| {
            let policy = Policy {
                mode: Mode::DryRun,
                blocks_per_minute: 1,
                ..Policy::default()
            };
            let parts = Parts {
                decider: Decider::new(policy),
                firewall: None,
                audit: None,
                hooks: None,
                guard: Box::new(|_: &Target| Ok(())),
            };
            let mut r = Responder::start(parts, || Ok(())).unwrap();
            if let Some(c) = clock {
                r = r.on_clock(c);
            }
            // Packet times two hours apart: a replay's minute has passed.
            r.alert(&scan("198.51.100.7", 0));
            r.alert(&scan("198.51.100.8", 7_200));
            r.stop().outcomes
        };
        assert_eq!(decide(None), [("would-block", 2)]);
        // Live, both come within the same minute of the run's clock,
        // whatever time the packets carry: the rate limit holds.
        let clock = Arc::new(wirewatch_units::FixedClock(crate::testing::at(10)));
        assert_eq!(decide(Some(clock)), [("would-block", 1), ("refused", 1)]);
    }
}
