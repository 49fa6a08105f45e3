//! The screen's loop: a packet source feeding the table, keys from the
//! terminal, a redraw each refresh; and the terminal kept sane (restored on
//! quit, error, panic, SIGINT and SIGTERM).

use std::io::{self, Read};
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::Terminal;
use wirewatch_capture::CaptureReader;
use wirewatch_flow::FlowTable;
use wirewatch_wire::{linktype, DecodeOptions, Frame, OwnedFrame, Timestamp};

use super::app::{Action, App, SourceStatus};
use super::draw::Labels;
use crate::detect::Detection;
use crate::filter::FrameFilter;
use crate::live::LiveCapture;
use crate::offline::account_frame;
use crate::procs::Owners;

/// Where the screen's packets come from.
pub trait UiSource {
    /// Takes the packets due by now into `table`, waiting at most
    /// `wait_ns` for them, and moves the table's clock.
    fn pump(
        &mut self,
        table: &mut FlowTable,
        wait_ns: i64,
        detect: Option<&mut Detection>,
    ) -> anyhow::Result<()>;
    /// The source's clock: the wall clock live, the replay position for files.
    fn now(&self) -> Timestamp;
    /// Replaces the packet filter.
    fn set_filter(&mut self, expr: Option<&str>) -> Result<(), String>;
    /// Counters for the status line.
    fn status(&mut self) -> SourceStatus;
}

impl UiSource for LiveCapture {
    fn pump(
        &mut self,
        table: &mut FlowTable,
        wait_ns: i64,
        detect: Option<&mut Detection>,
    ) -> anyhow::Result<()> {
        LiveCapture::pump(self, table, wait_ns, detect)
    }

    fn now(&self) -> Timestamp {
        crate::clock::now()
    }

    fn set_filter(&mut self, expr: Option<&str>) -> Result<(), String> {
        LiveCapture::set_filter(self, expr).map_err(|e| format!("{e:#}"))
    }

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

/// A capture file played at `speed` times real time (`None`: as fast as
/// it can be read, in slices so the screen stays responsive).
pub struct FileReplay<R: Read> {
    reader: CaptureReader<R>,
    name: String,
    opts: DecodeOptions,
    filter: Option<FrameFilter>,
    speed: Option<f64>,
    /// Wall time and capture time of the first frame.
    start: Option<(Duration, Timestamp)>,
    /// Wall time since some fixed origin (a clock the tests can move).
    wall: Box<dyn Fn() -> Duration>,
    /// A frame read but not yet due.
    pending: Option<OwnedFrame>,
    last_ts: Timestamp,
    ended: bool,
    fault: Option<String>,
}

impl<R: Read> FileReplay<R> {
    /// Plays `reader` (named `name` on the status line).
    pub fn new(
        reader: CaptureReader<R>,
        name: String,
        opts: DecodeOptions,
        speed: Option<f64>,
    ) -> Self {
        FileReplay {
            reader,
            name,
            opts,
            filter: None,
            speed,
            start: None,
            wall: {
                let origin = Instant::now();
                Box::new(move || origin.elapsed())
            },
            pending: None,
            last_ts: Timestamp::ZERO,
            ended: false,
            fault: None,
        }
    }

    /// Replaces the wall clock (elapsed time since any fixed origin).
    pub fn with_wall_clock(mut self, wall: impl Fn() -> Duration + 'static) -> Self {
        self.wall = Box::new(wall);
        self
    }

    fn first_link_type(&self) -> u32 {
        self.reader
            .link_types()
            .first()
            .copied()
            .unwrap_or(linktype::ETHERNET)
    }

    /// One frame into the table; a filter that cannot be compiled for its
    /// link type becomes the status line's fault.
    fn take(&mut self, table: &mut FlowTable, frame: &Frame<'_>, detect: Option<&mut Detection>) {
        take_frame(
            table,
            &mut self.filter,
            &self.opts,
            &mut self.fault,
            frame,
            detect,
        );
    }

    fn due(&self) -> Timestamp {
        match (self.speed, self.start) {
            (Some(sp), Some((wall, ts))) => {
                let elapsed = (self.wall)().saturating_sub(wall);
                ts.add_nanos((elapsed.as_nanos() as f64 * sp) as i64)
            }
            _ => Timestamp::from_nanos(i64::MAX),
        }
    }
}

impl<R: Read> UiSource for FileReplay<R> {
    fn pump(
        &mut self,
        table: &mut FlowTable,
        wait_ns: i64,
        mut detect: Option<&mut Detection>,
    ) -> anyhow::Result<()> {
        if self.ended {
            std::thread::sleep(Duration::from_nanos(wait_ns.max(0) as u64));
            return Ok(());
        }
        let due = self.due();
        if let Some(p) = self.pending.take() {
            if p.ts > due {
                self.pending = Some(p);
            } else {
                self.take(table, &p.frame(), detect.as_deref_mut());
            }
        }
        // As fast as possible: a slice of frames per turn.
        let mut budget = if self.speed.is_none() {
            200_000
        } else {
            u64::MAX
        };
        while self.pending.is_none() && budget > 0 {
            budget -= 1;
            let due = self.due();
            match self.reader.next_frame() {
                Ok(Some(f)) => {
                    let ts = f.ts;
                    let due = match self.start {
                        None => {
                            self.start = Some(((self.wall)(), ts));
                            ts
                        }
                        Some(_) => due,
                    };
                    self.last_ts = self.last_ts.max(ts);
                    if ts > due {
                        // Held back until its time: the only copy made.
                        self.pending = Some(f.to_owned_frame());
                    } else {
                        let (filter, fault) = (&mut self.filter, &mut self.fault);
                        take_frame(table, filter, &self.opts, fault, &f, detect.as_deref_mut());
                    }
                }
                Ok(None) => {
                    self.ended = true;
                    break;
                }
                Err(e) => {
                    self.fault = Some(format!("{}: {e}", self.name));
                    self.ended = true;
                    break;
                }
            }
        }
        table.advance(self.now());
        if self.speed.is_some() && self.pending.is_some() {
            std::thread::sleep(Duration::from_nanos(wait_ns.max(0) as u64));
        }
        Ok(())
    }

    fn now(&self) -> Timestamp {
        match (self.speed, self.start) {
            // Real time (or a multiple) from the first frame on; the clock
            // stops at the last frame when the file ends.
            (Some(_), Some(_)) if !self.ended => self.due(),
            _ => self.last_ts,
        }
    }

    fn set_filter(&mut self, expr: Option<&str>) -> Result<(), String> {
        self.filter = match expr {
            Some(e) => Some(FrameFilter::new(e, self.first_link_type())?),
            None => None,
        };
        Ok(())
    }

    fn status(&mut self) -> SourceStatus {
        SourceStatus {
            label: self.name.clone(),
            received: 0,
            dropped: 0,
            ended: self.ended,
            fault: self.fault.clone(),
        }
    }
}

/// [`FileReplay::take`] on the fields it needs, so a frame still borrowed
/// from the reader can be taken without a copy.
fn take_frame(
    table: &mut FlowTable,
    filter: &mut Option<FrameFilter>,
    opts: &DecodeOptions,
    fault: &mut Option<String>,
    frame: &Frame<'_>,
    detect: Option<&mut Detection>,
) {
    if let Err(e) = account_frame(table, filter.as_mut(), opts, frame, detect) {
        *fault = Some(e);
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
        Some((crate::procs::short_label(o), crate::procs::long_label(o)))
    }
}

/// The screen's engine without a terminal: table, source, state. The
/// terminal loop and the tests drive it the same way.
pub struct Ui<S: UiSource> {
    /// The screen's state.
    pub app: App,
    /// The flow table.
    pub table: FlowTable,
    /// The packet source.
    pub source: S,
    /// Process owners seen so far.
    pub owners: Owners,
    names: Box<dyn HostNames>,
    refresh_nanos: i64,
    next_refresh: Option<Timestamp>,
    /// The history recorder of a live capture.
    pub history: Option<crate::history::Recorder>,
    /// The last thing the history said (shown while the source has no fault).
    history_note: Option<String>,
    /// The detectors.
    pub detect: Option<Detection>,
    /// The latest alert (shown while the source has no fault).
    alert_note: Option<String>,
}

impl<S: UiSource> Ui<S> {
    /// A screen over `source`.
    pub fn new(
        app: App,
        table: FlowTable,
        source: S,
        owners: Owners,
        names: Box<dyn HostNames>,
        refresh_nanos: i64,
    ) -> Self {
        Ui {
            app,
            table,
            source,
            owners,
            names,
            refresh_nanos,
            next_refresh: None,
            history: None,
            history_note: None,
            detect: None,
            alert_note: None,
        }
    }

    /// Runs the detectors too; alerts show in the status area.
    pub fn with_detection(mut self, detect: Option<Detection>) -> Self {
        self.detect = detect.map(Detection::for_screen);
        self
    }

    /// Records the traffic into the history as well; `note` is shown
    /// (why history is off, when it could not be opened).
    pub fn with_history(
        mut self,
        history: Option<crate::history::Recorder>,
        note: Option<String>,
    ) -> Self {
        self.history = history;
        self.history_note = note;
        self
    }

    /// One turn: packets in (waiting at most `wait_ns`), owners labelled,
    /// and a new picture when a refresh is due. Returns whether the screen
    /// changed.
    pub fn turn(&mut self, wait_ns: i64) -> anyhow::Result<bool> {
        let now = self.source.now();
        let wait = self
            .next_refresh
            .map_or(0, |t| t.nanos_since(now).clamp(0, wait_ns));
        self.source
            .pump(&mut self.table, wait, self.detect.as_mut())?;
        let now = self.source.now();
        if let Some(h) = &mut self.history {
            h.tick(&mut self.table, now, &self.owners, self.detect.as_mut());
            if let Some(e) = h.take_events().pop() {
                self.history_note = Some(e);
            }
        }
        if let Some(a) = self.detect.as_mut().and_then(Detection::take_latest) {
            self.alert_note = Some(a);
        }
        if self.next_refresh.is_some_and(|t| now < t) {
            return Ok(false);
        }
        self.owners.label(&mut self.table, now);
        let mut status = self.source.status();
        if status.fault.is_none() {
            status.fault = self
                .alert_note
                .clone()
                .or_else(|| self.history_note.clone());
        }
        self.app.refresh(&self.table, now, status);
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
                let r = self.source.set_filter(expr.as_deref());
                self.app.filter_applied(expr, r);
            }
            Action::None => {}
        }
        self.app.rebuild(&self.table);
        true
    }

    /// Draws the screen into `frame`.
    pub fn draw(&mut self, frame: &mut ratatui::Frame) {
        let area = frame.area();
        let mut ctx = LabelCtx {
            names: self.names.as_mut(),
            owners: &self.owners,
        };
        self.app.draw(&mut ctx, area, frame.buffer_mut());
        if self.app.needs_rebuild {
            // The window grew past the entries the picture holds.
            self.app.rebuild(&self.table);
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

/// Opens a capture file for the screen.
pub fn open_replay(
    path: &Path,
    opts: DecodeOptions,
    speed: Option<f64>,
    filter: Option<&str>,
) -> anyhow::Result<FileReplay<Box<dyn Read>>> {
    let name = path.display().to_string();
    let reader = wirewatch_capture::open_with(path, |r| r).map_err(|e| anyhow!("{name}: {e}"))?;
    let mut replay = FileReplay::new(reader, name, opts, speed);
    replay.set_filter(filter).map_err(|e| anyhow!(e))?;
    Ok(replay)
}
