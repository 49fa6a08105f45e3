//! The iftop-style terminal screen: [`app`] holds the state and the keys,
//! [`draw`] paints it, [`run`] drives it from a live capture or a file.

pub mod app;
pub mod draw;
pub mod run;

use std::net::IpAddr;

use crate::detect::Detection;
use anyhow::anyhow;
use wirewatch_flow::FlowTable;

pub use app::{App, SourceStatus};
pub use run::{FileReplay, HostNames, Ui, UiSource};

use crate::live::LiveCapture;
use crate::offline::{decode_options, RunOutcome};
use crate::procs::Owners;
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
            let cap = LiveCapture::open(ls, decode_options(&s.flow))?;
            // Opened before the privilege drop: its files stay open.
            let (mut history, note) =
                crate::history::open_live(s.history.as_ref(), cap.interface_names());
            let mut detect = s.detect.as_ref().map(Detection::new).transpose()?;
            let warm = crate::history::warm_live(
                detect.as_mut(),
                s.history.as_ref(),
                &cap.interface_names(),
            );
            if history.is_none() && detect.as_ref().is_some_and(Detection::wants_rows) {
                history = Some(crate::history::Recorder::without_store(
                    cap.interface_names(),
                ));
            }
            let keep = if scr.options.processes {
                crate::live::PROCESS_CAPS
            } else {
                0
            };
            cap.drop_privileges(&ls.user, keep)?;
            let mut flow = s.flow.clone();
            if !ls.local_nets_given {
                flow.local_nets = cap.own_addresses();
            }
            let owners = crate::live::start_owner_scan(scr.options.processes)?;
            // Born without privileges: only the scan thread keeps some.
            crate::history::start_after_drop(&mut history);
            let mut table = FlowTable::new(flow);
            table.advance(crate::clock::now());
            let mut ui = Ui::new(app, table, cap, owners, names(), scr.refresh_nanos)
                .with_history(history, note.clone())
                .with_detection(detect);
            let r = run::run_terminal(&mut ui);
            // Close the -w file and the history properly whatever happened on screen.
            let Ui {
                source,
                mut table,
                history,
                owners,
                mut detect,
                ..
            } = ui;
            let fin = source.finish(&mut table, detect.as_mut());
            for n in [note, warm].into_iter().flatten() {
                eprintln!("wirewatch: {n}");
            }
            if let Some(h) = history {
                h.finish_and_report(&mut table, &owners, detect.as_mut());
            }
            if let Some(d) = detect {
                d.finish()?;
            }
            r?;
            if let Some(e) = fin.file_error {
                return Err(anyhow!(e));
            }
        }
        Source::File(path) => {
            let replay = run::open_replay(
                path,
                decode_options(&s.flow),
                scr.speed,
                s.file_filter.as_deref(),
            )?;
            let table = FlowTable::new(s.flow.clone());
            let detect = s.detect.as_ref().map(Detection::new).transpose()?;
            let rows = detect.as_ref().is_some_and(Detection::wants_rows).then(|| {
                let name = path.file_name().map_or(path.display().to_string(), |n| {
                    n.to_string_lossy().into_owned()
                });
                crate::history::Recorder::without_store(vec![name])
            });
            let mut ui = Ui::new(
                app,
                table,
                replay,
                Owners::default(),
                names(),
                scr.refresh_nanos,
            )
            .with_history(rows, None)
            .with_detection(detect);
            let r = run::run_terminal(&mut ui);
            if let Some(d) = ui.detect.take() {
                d.finish()?;
            }
            r?;
        }
    }
    Ok(RunOutcome::Clean)
}
