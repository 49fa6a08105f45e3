//! The iftop-style terminal screen: [`app`] holds the state and the keys,
//! [`draw`] paints it, [`run`] drives it from a live capture or a file.

pub mod app;
pub mod draw;
pub mod run;

use std::net::IpAddr;

use anyhow::anyhow;
use wirewatch_flow::FlowTable;
use wirewatch_pipeline::detect::Detection;
use wirewatch_pipeline::{Ending, Pipeline};

pub use app::{App, SourceStatus};
pub use run::{HostNames, Ui, UiSource};

use crate::offline::{add_common, RunOutcome};
use crate::settings::{ScreenSettings, Settings, Source};

/// Reverse DNS through the asynchronous resolver.
struct Resolved(wirewatch_names::Resolver);

impl HostNames for Resolved {
    fn host(&mut self, ip: IpAddr) -> Option<String> {
        self.0.poll();
        match self.0.name(ip) {
            wirewatch_names::Name::Resolved(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// Runs the screen on a live capture or a file.
pub fn run(s: &Settings, scr: &ScreenSettings) -> anyhow::Result<RunOutcome> {
    // Resolver threads start after the privilege drop, so they hold nothing.
    let names = || -> Box<dyn HostNames> { Box::new(Resolved(wirewatch_names::Resolver::new(4))) };
    let filter = match &s.source {
        Source::Live(ls) => ls.filter.clone(),
        Source::File(_) => s.file_filter.clone(),
    };
    let app = App::new(scr.options.clone(), filter);
    match &s.source {
        Source::Live(ls) => {
            let (pipeline, notes) = crate::live::open(s, ls, scr.options.processes)?;
            // Why history is off, if it is, stays on the status line; the
            // other opening notes go to stderr once the screen is closed.
            let history_note = notes.iter().find(|n| n.starts_with("history:")).cloned();
            let mut ui = Ui::on(app, pipeline, names(), scr.refresh_nanos).with_note(history_note);
            let r = run::run_terminal(&mut ui);
            // Close the -w file and the history properly whatever happened
            // on screen; what the consumers say now goes to stderr.
            let mut p = ui.pipeline;
            p.add(Box::new(crate::alerts::Notes));
            for n in notes {
                crate::message::note(&n);
            }
            p.tick_every(None);
            p.source.stop();
            let drained = p.pump(0);
            let fin = p.source.finish();
            let end = Ending {
                input: fin.input,
                link_types: fin.link_types,
                warning: p.source.warning.take(),
                error: fin.file_error.clone(),
                capture: Some(fin.capture),
            };
            let finished = p.finish(&end);
            r?;
            drained?;
            finished?;
            if let Some(e) = fin.file_error {
                return Err(anyhow!(e));
            }
        }
        Source::File(path) => {
            let replay = run::open_replay(path, scr.speed, s.file_filter.as_deref())?;
            let table = FlowTable::new(s.flow.clone());
            let mut p = Pipeline::new(replay, table);
            let detect = s
                .detect
                .as_ref()
                .map(|d| Detection::new(&d.settings))
                .transpose()?;
            add_common(&mut p, None, detect, None);
            crate::offline::add_dry_run_responder(&mut p, s)?;
            let mut ui = Ui::on(app, p, names(), scr.refresh_nanos);
            let r = run::run_terminal(&mut ui);
            let mut p = ui.pipeline;
            p.add(Box::new(crate::alerts::Notes));
            let finished = p.finish(&Ending::default());
            r?;
            finished?;
        }
    }
    Ok(RunOutcome::Clean)
}
