//! A live capture without the screen: the pipeline over the interfaces'
//! rings, reports every interval (iftop -t) and at the end, history,
//! detection and the alert log; until `-s` expires, a signal arrives or
//! every interface is gone.

use std::io::Write;

use anyhow::{anyhow, Context as _};
use wirewatch_flow::FlowTable;
use wirewatch_live::{default_interface, list_interfaces, privs, signal};
use wirewatch_pipeline::detect::Detection;
use wirewatch_pipeline::history::{open_live, warm_live};
use wirewatch_pipeline::live::{start_owner_scan, LiveCapture, LiveSettings, PROCESS_CAPS};
use wirewatch_pipeline::procs::Owners;
use wirewatch_pipeline::{Ending, Pipeline, Source};

use crate::offline::{add_common, report_out, RunOutcome};
use crate::output::Report;
use crate::settings::{AlertMode, Settings};

/// `--list-interfaces`: one line per interface.
pub fn list(out: &mut dyn Write) -> anyhow::Result<()> {
    let ifaces = list_interfaces().context("listing interfaces")?;
    let default = default_interface(&ifaces);
    writeln!(
        out,
        "{:<3} {:<16} {:<16} {:>6} {:>10}  {:<17}  addresses",
        "#", "name", "state", "mtu", "speed", "mac"
    )?;
    for i in &ifaces {
        let speed = i.speed_mbps.map_or("-".to_string(), |s| {
            if s >= 1000 && s % 1000 == 0 {
                format!("{}Gb/s", s / 1000)
            } else {
                format!("{s}Mb/s")
            }
        });
        let mac = i.mac.map_or("-".to_string(), |m| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        });
        let addrs: Vec<String> = i.addrs.iter().map(|(a, p)| format!("{a}/{p}")).collect();
        let mut name = i.name.clone();
        if default.as_ref().is_some_and(|d| d.name() == i.name) {
            name.push('*');
        }
        writeln!(
            out,
            "{:<3} {:<16} {:<16} {:>6} {:>10}  {:<17}  {}",
            i.index,
            name,
            i.state(),
            i.mtu.map_or("-".into(), |m| m.to_string()),
            speed,
            mac,
            if addrs.is_empty() {
                "-".into()
            } else {
                addrs.join(" ")
            }
        )?;
    }
    match default {
        Some(d) => writeln!(out, "* default: {} ({})", d.name(), d.reason())?,
        None => writeln!(out, "no default: no interface is up")?,
    }
    Ok(())
}

/// Opens the capture and everything that needs privileges (the history
/// database, the alert file, the warm start), drops them, and builds the
/// pipeline with the common consumers. The caller adds its own (the report
/// or the screen) and calls `begin`.
pub fn open(
    s: &Settings,
    ls: &LiveSettings,
    processes: bool,
) -> anyhow::Result<(Pipeline<LiveCapture>, Vec<String>)> {
    // Live packets carry the kernel's time: a clock pinned to another
    // date would put every packet outside the windows.
    if crate::clock::is_pinned() {
        anyhow::bail!(
            "{} pins the clock for replays and queries; unset it for live capture",
            crate::clock::ENV
        );
    }
    let clock = crate::clock::shared();
    let mut cap = LiveCapture::open(ls, clock.clone())?;
    let ifaces = cap.interface_names();
    let mut notes = cap.take_events();
    // The database and the alert file are opened before the privilege
    // drop: their files stay open.
    let (recorder, note) = open_live(s.history.as_ref(), ifaces.clone(), clock.clone());
    notes.extend(note);
    let mut detect = s
        .detect
        .as_ref()
        .map(|d| Detection::new(&d.settings))
        .transpose()?;
    let now = clock.now().as_nanos().div_euclid(1_000_000_000);
    notes.extend(warm_live(detect.as_mut(), s.history.as_ref(), &ifaces, now));
    let alert_mode = s
        .detect
        .as_ref()
        .map_or(AlertMode::Quiet, |d| d.alerts.clone());
    // The screen shows alerts itself: no stderr lines under it.
    let alerts = match (&alert_mode, s.screen.is_some()) {
        (AlertMode::Text, true) => None,
        (m, _) => crate::alerts::open(m, true, crate::offline::alert_budget(s))?,
    };
    // The responder's database and nftables are opened while privileges
    // are held; its thread alone keeps CAP_NET_ADMIN.
    let prepared = s
        .respond
        .as_ref()
        .map(|rs| crate::responses::prepare(rs, clock.clone(), true, &mut notes));
    let net_admin = prepared.as_ref().is_some_and(|p| p.needs_net_admin);
    let scan_caps = if processes { PROCESS_CAPS } else { 0 };
    let net_admin_cap = if net_admin {
        1 << privs::CAP_NET_ADMIN
    } else {
        0
    };
    notes.push(cap.drop_privileges(&ls.user, scan_caps | net_admin_cap)?);
    let responder = prepared.map(crate::responses::start).transpose()?;
    privs::keep_thread_capabilities(scan_caps)
        .map_err(|e| anyhow::anyhow!("dropping capabilities: {e}"))?;
    let owners: Owners = start_owner_scan(processes)?;
    privs::drop_thread_capabilities().map_err(|e| anyhow::anyhow!("dropping capabilities: {e}"))?;
    if processes {
        notes.push(
            "only the process-scan thread keeps cap_dac_read_search and cap_sys_ptrace".into(),
        );
    }
    if net_admin {
        notes.push("only the responder thread keeps cap_net_admin (for nft)".into());
    }
    // Started by this thread, which now holds no capability: the hook
    // workers and the programs they run hold none either.
    if let Some(r) = &responder {
        crate::responses::start_hooks(r);
    }
    let mut flow = s.flow.clone();
    if !ls.local_nets_given {
        flow.local_nets = cap.own_addresses();
    }
    let mut table = FlowTable::new(flow);
    table.advance(clock.now());
    let mut p = Pipeline::new(cap, table);
    p.set_owners(owners);
    add_common(&mut p, recorder, detect, alerts);
    if let Some(r) = responder {
        p.add(Box::new(r));
    }
    Ok((p, notes))
}

/// Runs a live capture until `-s` expires, a signal arrives or every
/// interface is gone; then prints the final report.
/// With `web`, serves the web API beside it (started after the privilege drop).
pub fn run(
    s: &Settings,
    ls: &LiveSettings,
    out: Box<dyn Write>,
    web: Option<wirewatch_web::Bound>,
) -> anyhow::Result<RunOutcome> {
    let (mut p, notes) = open(s, ls, s.processes)?;
    for n in notes {
        crate::message::note(&n);
    }
    p.add(Box::new(crate::alerts::Notes));
    // NDJSON alerts on stdout own it: the traffic report is not printed.
    p.add(Box::new(Report::new(s, report_out(s, out), true)));
    crate::offline::add_web(&mut p, web, wirewatch_web::Publish::Live, s)?;
    p.tick_every(s.interval_nanos);
    // The writer thread starts now, born without privileges (the scan
    // thread, started above, is the only one that keeps some).
    p.begin()?;
    let start = p.source.now();
    let deadline = ls.duration_nanos.map(|d| start.add_nanos(d));
    let stop_reason: String = loop {
        if let Some(sig) = signal::requested() {
            break format!("stopped by {}", signal::name(sig));
        }
        let now = p.source.now();
        if deadline.is_some_and(|d| now >= d) {
            break "stopped after the -s duration".into();
        }
        if p.source.all_gone() {
            break "every interface is gone".into();
        }
        // Wait at most 100 ms, less when a report or the deadline is due.
        let mut wait_ns: i64 = 100_000_000;
        for t in [p.next_tick(), deadline].into_iter().flatten() {
            wait_ns = wait_ns.min(t.nanos_since(now).max(0));
        }
        match p.pump(wait_ns) {
            Ok(()) => {}
            Err(e) if crate::message::is_broken_pipe(&e) => return Ok(RunOutcome::BrokenPipe),
            Err(e) => return Err(e.context("writing output")),
        }
        for e in p.source.take_events() {
            crate::message::note(&e);
        }
    };
    crate::message::note(&stop_reason);
    let warning = p.source.warning.take();
    // The frames still in the rings, without another report.
    p.tick_every(None);
    p.source.stop();
    p.pump(0)?;
    p.owners_mut()
        .wait_for_scan(std::time::Duration::from_secs(2));
    p.label_owners();
    if let (merged @ 1.., dropped) = p.owners_mut().overflow() {
        crate::message::note(&format!(
            "{merged} processes were registered by name only and {dropped} left unknown: more than {} processes owned traffic",
            wirewatch_pipeline::procs::MAX_OWNERS
        ));
    }
    let fin = p.source.finish();
    let end = Ending {
        input: fin.input,
        link_types: fin.link_types,
        warning,
        error: fin.file_error.clone(),
        capture: Some(fin.capture),
    };
    match p.finish(&end) {
        Ok(()) => {}
        Err(e) if crate::message::is_broken_pipe(&e) => return Ok(RunOutcome::BrokenPipe),
        Err(e) => return Err(e),
    }
    if let Some(e) = fin.file_error {
        return Err(anyhow!(e));
    }
    Ok(RunOutcome::Clean)
}
