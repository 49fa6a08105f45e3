//! The screen's loop: a packet source feeding the table, keys from the
//! terminal, a redraw each refresh; and the terminal kept sane (restored on
//! quit, error, panic, SIGINT and SIGTERM).

use std::cell::RefCell;
use std::io::{self, Read};
use std::net::IpAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::Terminal;
use wirewatch_detect::Alert;
use wirewatch_flow::FlowTable;
use wirewatch_pipeline::detect::Detection;
use wirewatch_pipeline::history::Recorder;
use wirewatch_pipeline::live::LiveCapture;
use wirewatch_pipeline::procs::Owners;
use wirewatch_pipeline::{Consumer, FileSource, Pipeline, Source, Stop};
use wirewatch_wire::Timestamp;

use super::app::{Action, App, SourceStatus};
use super::draw::Labels;

/// Where the screen's packets come from: a pipeline source that can say
/// how it is doing on the status line.
pub trait UiSource: Source + 'static {
    /// Counters for the status line.
    fn status(&mut self) -> SourceStatus;
}

impl UiSource for LiveCapture {
    fn status(&mut self) -> SourceStatus {
        let c = self.capture_stats();
        let names: Vec<String> = c
            .interfaces
            .iter()
            .map(|i| match i.state {
                "capturing" => i.name.clone(),
                s => format!("{} ({s})", i.name),
            })
            .collect();
        // Events go to the status line (stderr would write over the screen).
        let latest = self.take_events().pop();
        SourceStatus {
            label: names.join(","),
            received: c.received(),
            dropped: c.dropped(),
            ended: false,
            fault: latest.or_else(|| self.warning.clone()),
        }
    }
}

impl<R: Read + 'static> UiSource for FileSource<R> {
    fn status(&mut self) -> SourceStatus {
        let fault = match self.stop_reason() {
            Some(Stop::Read(e)) => Some(format!("{}: {e}", self.name())),
            Some(Stop::Filter(e)) => Some(e.clone()),
            _ => None,
        };
        SourceStatus {
            label: self.name().to_string(),
            received: 0,
            dropped: 0,
            ended: self.ended(),
            fault,
        }
    }
}

/// What the screen shows of the consumers' alerts and notes: the latest of
/// each (shared with the consumer that collects them).
#[derive(Default)]
struct Feed {
    alert: Option<String>,
    note: Option<String>,
}

/// The consumer that collects alerts and notes for the status line.
struct StatusFeed(Rc<RefCell<Feed>>);

impl Consumer for StatusFeed {
    fn name(&self) -> &'static str {
        "screen status"
    }

    fn alert(&mut self, a: &Alert) {
        self.0.borrow_mut().alert = Some(crate::alerts::alert_line(a));
    }

    fn note(&mut self, line: &str) {
        self.0.borrow_mut().note = Some(line.to_string());
    }
}

/// Host names for the screen.
pub trait HostNames {
    /// The name of `ip` if known now (never waits).
    fn host(&mut self, ip: IpAddr) -> Option<String>;
}

/// Everything the screen draws from.
struct LabelCtx<'a> {
    names: &'a mut dyn HostNames,
    owners: &'a Owners,
}

impl Labels for LabelCtx<'_> {
    fn host(&mut self, ip: IpAddr) -> Option<String> {
        self.names.host(ip)
    }

    fn service(&self, protocol: u8, port: u16) -> Option<&'static str> {
        wirewatch_names::service_name(protocol, port)
    }

    fn owner(&self, id: u32) -> Option<(String, String)> {
        let o = self.owners.get(id)?;
        Some((
            wirewatch_pipeline::procs::short_label(o),
            wirewatch_pipeline::procs::long_label(o),
        ))
    }
}

/// The screen's engine without a terminal: the pipeline (table, source,
/// consumers) and the screen's state. The terminal loop and the tests
/// drive it the same way.
pub struct Ui<S: UiSource> {
    /// The screen's state.
    pub app: App,
    /// The packets' way in: source, flow table, consumers.
    pub pipeline: Pipeline<S>,
    names: Box<dyn HostNames>,
    refresh_nanos: i64,
    next_refresh: Option<Timestamp>,
    feed: Rc<RefCell<Feed>>,
    begun: bool,
}

impl<S: UiSource> Ui<S> {
    /// A screen over `source` into `table` (no consumer but the status
    /// line's: add history and detection with the `with_` methods).
    pub fn new(
        app: App,
        table: FlowTable,
        source: S,
        owners: Owners,
        names: Box<dyn HostNames>,
        refresh_nanos: i64,
    ) -> Self {
        let mut pipeline = Pipeline::new(source, table);
        pipeline.set_owners(owners);
        Self::on(app, pipeline, names, refresh_nanos)
    }

    /// A screen over a pipeline already wired.
    pub fn on(
        mut app: App,
        mut pipeline: Pipeline<S>,
        names: Box<dyn HostNames>,
        refresh_nanos: i64,
    ) -> Self {
        let feed = Rc::new(RefCell::new(Feed::default()));
        pipeline.add(Box::new(StatusFeed(feed.clone())));
        app.tcp_analysis = pipeline.table().tcp_analysis();
        Ui {
            app,
            pipeline,
            names,
            refresh_nanos,
            next_refresh: None,
            feed,
            begun: false,
        }
    }

    /// Runs the detectors too; alerts show in the status area.
    pub fn with_detection(mut self, detect: Option<Detection>) -> Self {
        crate::offline::add_common(&mut self.pipeline, None, detect, None);
        self
    }

    /// Records the traffic into the history as well; `note` is shown
    /// (why history is off, when it could not be opened).
    pub fn with_history(mut self, history: Option<Recorder>, note: Option<String>) -> Self {
        if let Some(h) = history {
            self.pipeline.add(Box::new(h));
        }
        self.with_note(note)
    }

    /// Shows `note` on the status line until something newer comes.
    pub fn with_note(self, note: Option<String>) -> Self {
        if note.is_some() {
            self.feed.borrow_mut().note = note;
        }
        self
    }

    /// The flow table.
    pub fn table(&self) -> &FlowTable {
        self.pipeline.table()
    }

    /// One turn: packets in (waiting at most `wait_ns`), owners labelled,
    /// and a new picture when a refresh is due. Returns whether the screen
    /// changed.
    pub fn turn(&mut self, wait_ns: i64) -> anyhow::Result<bool> {
        if !self.begun {
            self.begun = true;
            self.pipeline.begin()?;
        }
        let now = self.pipeline.source.now();
        let wait = self
            .next_refresh
            .map_or(0, |t| t.nanos_since(now).clamp(0, wait_ns));
        self.pipeline.pump(wait)?;
        let now = self.pipeline.source.now();
        // The end of a replay is shown at once: its clock stops at the last
        // packet, which may be before the refresh that was due.
        let just_ended = self.pipeline.source.ended() && !self.app.status.ended;
        if !just_ended && self.next_refresh.is_some_and(|t| now < t) {
            return Ok(false);
        }
        let mut status = self.pipeline.source.status();
        if status.fault.is_none() {
            let feed = self.feed.borrow();
            status.fault = feed.alert.clone().or_else(|| feed.note.clone());
        }
        self.app.refresh(self.pipeline.table(), now, status);
        let mut next = self
            .next_refresh
            .unwrap_or(now)
            .add_nanos(self.refresh_nanos);
        while next <= now {
            next = next.add_nanos(self.refresh_nanos);
        }
        self.next_refresh = Some(next);
        Ok(true)
    }

    /// Handles a key; false when the screen should close.
    pub fn key(&mut self, k: event::KeyEvent) -> bool {
        match self.app.key(k) {
            Action::Quit => return false,
            Action::SetFilter(expr) => {
                let r = self.pipeline.source.set_filter(expr.as_deref());
                self.app.filter_applied(expr, r);
            }
            Action::None => {}
        }
        self.app.rebuild(self.pipeline.table());
        true
    }

    /// Draws the screen into `frame`.
    pub fn draw(&mut self, frame: &mut ratatui::Frame) {
        let area = frame.area();
        let mut ctx = LabelCtx {
            names: self.names.as_mut(),
            owners: self.pipeline.owners(),
        };
        self.app.draw(&mut ctx, area, frame.buffer_mut());
        if self.app.needs_rebuild {
            // The window grew past the entries the picture holds.
            self.app.rebuild(self.pipeline.table());
            self.app.draw(&mut ctx, area, frame.buffer_mut());
        }
    }
}

/// Leaves raw mode and the alternate screen; safe to call twice.
fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(io::stdout(), terminal::LeaveAlternateScreen, cursor::Show);
}

/// Runs the screen on the terminal until `q`, Ctrl-C, SIGINT/SIGTERM or
/// (for files) never: a replay stays on its last picture until `q`.
pub fn run_terminal<S: UiSource>(ui: &mut Ui<S>) -> anyhow::Result<()> {
    wirewatch_live::signal::install().context("installing the SIGINT/SIGTERM handler")?;
    terminal::enable_raw_mode().context("terminal raw mode")?;
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    let result = (|| -> anyhow::Result<()> {
        execute!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide)?;
        let mut term = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        term.clear()?;
        loop {
            if wirewatch_live::signal::requested().is_some() {
                return Ok(());
            }
            let mut dirty = ui.turn(50_000_000)?;
            while event::poll(Duration::ZERO)? {
                match event::read()? {
                    Event::Key(k) if k.kind != KeyEventKind::Release => {
                        if !ui.key(k) {
                            return Ok(());
                        }
                        dirty = true;
                    }
                    Event::Resize(..) => {
                        term.autoresize()?;
                        dirty = true;
                    }
                    _ => {}
                }
            }
            if dirty {
                term.draw(|f| ui.draw(f))?;
            }
            let _ = term.backend_mut().flush();
        }
    })();
    restore();
    let _ = std::panic::take_hook();
    result
}

/// Opens a capture file for the screen, played at `speed` times real
/// time (`None`: as fast as it can be read).
pub fn open_replay(
    path: &Path,
    speed: Option<f64>,
    filter: Option<&str>,
) -> anyhow::Result<FileSource> {
    let mut replay = FileSource::open(path)?.paced(speed);
    replay.set_filter(filter).map_err(|e| anyhow!(e))?;
    Ok(replay)
}
