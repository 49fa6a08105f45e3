//! `-r FILE` without the screen: the pipeline over a capture file, read as
//! fast as it goes, with the history import, detection, alert log and
//! report consumers.

use std::io::Write;
use std::path::Path;

use anyhow::anyhow;
use wirewatch_flow::FlowTable;
use wirewatch_pipeline::detect::Detection;
use wirewatch_pipeline::history::Recorder;
use wirewatch_pipeline::{Consumer, Ending, FileSource, Pipeline, Source, Stop};

use crate::alerts::Notes;
use crate::output::{self, Report};
use crate::settings::{AlertMode, Settings};

/// How a run ended when it produced a report.
#[derive(Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Everything was read.
    Clean,
    /// The report is complete up to a cut-off last record.
    Warned(String),
    /// The reader of our output went away (exit 0, like ripgrep).
    BrokenPipe,
    /// Everything was read and alerts fired (with `--alerts-exit`: exit 1).
    Alerted(u64),
}

/// The consumers every run has, in their order: the history recorder (or
/// the row cutter detection needs), detection, the alert log. What shows
/// notes and reports (stderr and a report, or the screen) comes after them.
pub fn add_common<S: Source>(
    p: &mut Pipeline<S>,
    recorder: Option<Recorder>,
    detect: Option<Detection>,
    alerts: Option<Box<dyn Consumer>>,
) {
    let cutter = match (recorder, &detect) {
        (Some(r), d) => Some(r.sharing(d.as_ref().is_some_and(Detection::wants_rows))),
        // The flow-level detectors need per-minute rows even without history.
        (None, Some(d)) if d.wants_rows() => Some(Recorder::without_store(p.interfaces().to_vec())),
        (None, _) => None,
    };
    if let Some(r) = cutter {
        p.add(Box::new(r));
    }
    if let Some(d) = detect {
        p.add(Box::new(d));
    }
    if let Some(a) = alerts {
        p.add(a);
    }
}

/// A replay's responder (`--respond dry-run`: settings refuse enforce on a
/// file): what the policy would have done, said and recorded.
pub fn add_dry_run_responder<S: Source>(p: &mut Pipeline<S>, s: &Settings) -> anyhow::Result<()> {
    let Some(rs) = &s.respond else {
        return Ok(());
    };
    let mut notes = Vec::new();
    let prepared = crate::responses::prepare(rs, crate::clock::shared(), false, &mut notes);
    for n in notes {
        crate::message::note(&n);
    }
    p.add(Box::new(crate::responses::start(prepared)?));
    Ok(())
}

/// Each alert output's budget of alerts a minute (`[detect]
/// alerts-per-minute`).
pub fn alert_budget(s: &Settings) -> u32 {
    s.detect
        .as_ref()
        .map_or(0, |d| d.settings.cfg.alerts_per_minute)
}

/// Where the report goes: `out`, unless NDJSON alerts own stdout (then
/// the traffic report is not printed).
pub fn report_out(s: &Settings, out: Box<dyn Write>) -> Box<dyn Write> {
    if s.detect
        .as_ref()
        .is_some_and(|d| d.alerts == AlertMode::JsonStdout)
    {
        Box::new(std::io::sink())
    } else {
        out
    }
}

/// Adds the web feed to `p` and starts serving what it publishes on
/// `bound` (`when`: live, a paced replay or a replay at full speed), with
/// the run's history database for the history and forecast endpoints.
/// Prints where it serves once it listens.
pub fn add_web<S: Source>(
    p: &mut Pipeline<S>,
    bound: Option<wirewatch_web::Bound>,
    when: wirewatch_web::Publish,
    s: &Settings,
) -> anyhow::Result<bool> {
    let Some(bound) = bound else {
        return Ok(false);
    };
    let snap = wirewatch_web::shared();
    // Started here, after a live run's privilege drop: the resolver's
    // threads hold nothing.
    let names = s.web.as_ref().is_some_and(|w| w.names);
    let resolver = names.then(|| wirewatch_names::Resolver::new(wirewatch_web::names::WORKERS));
    p.add(Box::new(wirewatch_web::WebFeed::new(
        snap.clone(),
        when,
        resolver,
    )));
    let addr = bound.local_addr()?;
    for n in bound.notes() {
        crate::message::note(n);
    }
    let scheme = bound.scheme();
    let history = wirewatch_web::HistoryAccess::new(
        s.history.as_ref().map(|h| h.path.clone()),
        s.forecast.clone(),
        crate::clock::shared(),
    );
    bound.start(snap, history)?;
    crate::message::note(&format!("serving {scheme}://{addr}"));
    Ok(true)
}

/// After a replay with `--web`: keeps serving until SIGINT or SIGTERM.
fn serve_until_signal() {
    while wirewatch_live::signal::requested().is_none() {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Runs the offline pipeline on `input`, writing reports to `out` (and
/// serving the web API on `web`, until a signal after the end).
pub fn run(
    s: &Settings,
    input: &Path,
    out: Box<dyn Write>,
    web: Option<wirewatch_web::Bound>,
) -> anyhow::Result<RunOutcome> {
    let source = FileSource::open(input)?
        .limited(s.file_duration_nanos)
        .paced(s.replay_speed);
    let name = source.name().to_string();
    let bar = s.progress.then(|| output::progress_bar(input)).flatten();
    let mut p = Pipeline::new(source, FlowTable::new(s.flow.clone()));
    // The filter is compiled for the file's first link type.
    p.source
        .set_filter(s.file_filter.as_deref())
        .map_err(|e| anyhow!("{e}"))?;
    let detect = s
        .detect
        .as_ref()
        .map(|d| Detection::new(&d.settings))
        .transpose()?;
    // An import: rows with the capture's timestamps, named after the file.
    let recorder = match &s.history {
        Some(h) => Some(
            Recorder::open(h, p.interfaces().to_vec(), false, crate::clock::shared())
                .map_err(|e| anyhow!("history: {e}"))?,
        ),
        None => None,
    };
    let alert_mode = s
        .detect
        .as_ref()
        .map_or(AlertMode::Quiet, |d| d.alerts.clone());
    let alerts = crate::alerts::open(&alert_mode, false, alert_budget(s))?;
    add_common(&mut p, recorder, detect, alerts);
    add_dry_run_responder(&mut p, s)?;
    p.add(Box::new(Notes));
    p.add(Box::new(Report::new(s, report_out(s, out), false)));
    let when = s
        .replay_speed
        .map_or(wirewatch_web::Publish::Ticks, wirewatch_web::Publish::Paced);
    let serving = add_web(&mut p, web, when, s)?;
    p.tick_every(s.interval_nanos);
    p.begin()?;
    // Ctrl-C (or SIGTERM) stops reading; what was read is reported, as live.
    wirewatch_live::signal::install()
        .map_err(|e| anyhow!("installing the SIGINT/SIGTERM handler: {e}"))?;
    let read = loop {
        if p.source.ended() || wirewatch_live::signal::requested().is_some() {
            break Ok(());
        }
        if let Err(e) = p.pump(0) {
            break Err(e);
        }
        if let Some(b) = &bar {
            b.set_position(p.source.bytes_read());
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let interrupted = wirewatch_live::signal::requested().map(|sig| {
        format!(
            "{name}: interrupted by {} after {} packet(s); the report covers what was read",
            wirewatch_live::signal::name(sig),
            p.source.frames_read()
        )
    });
    let (warning, error) = match p.source.stop_reason() {
        Some(Stop::Read(e)) if e.is_truncation() => (
            Some(format!(
                "{name}: {e}; the report covers everything before it"
            )),
            None,
        ),
        Some(Stop::Read(e)) => (None, Some(format!("{name}: {e}"))),
        Some(Stop::Filter(e)) => (None, Some(format!("{name}: {e}"))),
        Some(Stop::Duration) | None => (interrupted, None),
    };
    let end = Ending {
        input: name,
        link_types: p.source.link_types().to_vec(),
        warning: warning.clone(),
        error: error.clone(),
        capture: None,
    };
    // What was read is kept, whatever stopped the reading (a read error,
    // the reader of the report going away): every consumer finishes.
    let finished = p.finish(&end);
    read.map_err(|e| e.context("writing output"))?;
    finished?;
    if serving {
        serve_until_signal();
    }
    if let Some(expr) = s.file_filter.as_deref() {
        let read = p.source.frames_read();
        if read > 0 && p.counters().frames == 0 {
            crate::message::note(&format!(
                "{}: {read} packet(s) read, none matched the filter '{expr}'",
                p.source.name()
            ));
        }
    }
    let fired = p.counters().alerts;
    match (warning, error) {
        (_, Some(e)) => Err(anyhow!(e)),
        (Some(w), None) if s.alerts_exit && fired > 0 => {
            crate::message::warning(&w);
            Ok(RunOutcome::Alerted(fired))
        }
        (Some(w), None) => Ok(RunOutcome::Warned(w)),
        (None, None) if s.alerts_exit && fired > 0 => Ok(RunOutcome::Alerted(fired)),
        (None, None) => Ok(RunOutcome::Clean),
    }
}
