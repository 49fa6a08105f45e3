//! The offline pipeline: capture file → decode → flow table → sink.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::anyhow;
use wirewatch_capture::{CaptureReader, ReadError};
use wirewatch_flow::{FlowConfig, FlowTable, LayerMode, Snapshot};
use wirewatch_wire::{decode, linktype, DecodeOptions, Frame, Timestamp};

use crate::detect::Detection;
use crate::filter::FrameFilter;
use crate::output::{self, ReportKind, Summary};
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

/// At most this many empty interval reports are printed for one gap in the
/// capture; beyond it the clock jumps to the next packet (corrupt timestamps
/// would otherwise print for years).
const MAX_REPORTS_PER_GAP: i64 = 10_000;

/// Counts bytes read from the raw file, for the progress bar.
struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

/// Decoder settings implied by the flow settings.
pub fn decode_options(cfg: &FlowConfig) -> DecodeOptions {
    DecodeOptions {
        descend_tunnels: cfg.layers != LayerMode::Outer,
    }
}

/// One frame into the table: through `filter` when there is one, then
/// decoded and accounted. `Ok(false)`: the filter left it out; `Err`: the
/// expression does not compile for this frame's link type.
pub fn account_frame(
    table: &mut FlowTable,
    filter: Option<&mut FrameFilter>,
    opts: &DecodeOptions,
    frame: &Frame<'_>,
    detect: Option<&mut Detection>,
) -> Result<bool, String> {
    if let Some(f) = filter {
        if !f.matches(frame.link_type, frame.data, frame.wire_len)? {
            return Ok(false);
        }
    }
    let meta = decode(frame.link_type, frame.ts, frame.data, frame.wire_len, opts);
    table.ingest(&meta);
    if let Some(d) = detect {
        d.packet(&meta, frame.data, table.interface());
    }
    Ok(true)
}

/// Writes the final report and the summary. `Ok(false)`: the reader of
/// the output went away (broken pipe), which is not an error.
pub(crate) fn write_final(
    sink: &mut dyn output::Sink,
    snap: &Snapshot,
    summary: &Summary,
) -> anyhow::Result<bool> {
    let written = sink
        .report(snap, ReportKind::Final)
        .and_then(|_| sink.finish(snap, summary));
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(anyhow!("writing output: {e}")),
        Ok(()) => Ok(true),
    }
}

/// Why reading stopped before the end of the input.
#[derive(Debug)]
pub enum Stop {
    /// The capture is cut off or corrupt here.
    Read(ReadError),
    /// The filter cannot be compiled for a link type met in the file.
    Filter(String),
    /// `-s`: the capture time limit was reached.
    Duration,
}

/// Optional limits on what is ingested.
#[derive(Default)]
pub struct Limits<'a> {
    /// Only frames this filter accepts are accounted.
    pub filter: Option<&'a mut FrameFilter>,
    /// Stop at the first frame this long after the first frame.
    pub duration_nanos: Option<i64>,
    /// Called with each frame's time before it is accounted (the history
    /// recorder, which cuts the traffic at minute boundaries).
    pub before: Option<&'a mut BeforeFrame<'a>>,
    /// Every accounted frame goes to the detectors too.
    pub detect: Option<&'a mut Detection>,
}

/// A hook called with a frame's time before it is accounted.
pub type BeforeFrame<'a> = dyn FnMut(&mut FlowTable, Timestamp, Option<&mut Detection>) + 'a;

/// Reads every frame of `reader` into `table`, calling `tick` with each
/// interval boundary crossed (when `interval_nanos` is set). Returns the read
/// error that stopped it, if any; frames before it are accounted.
pub fn ingest_all<R: Read>(
    reader: &mut CaptureReader<R>,
    table: &mut FlowTable,
    interval_nanos: Option<i64>,
    tick: impl FnMut(&mut FlowTable, Timestamp, Timestamp) -> io::Result<()>,
    progress: impl FnMut(u64),
) -> io::Result<Option<ReadError>> {
    let stop = ingest(
        reader,
        table,
        interval_nanos,
        Limits::default(),
        tick,
        progress,
    )?;
    Ok(match stop {
        Some(Stop::Read(e)) => Some(e),
        _ => None,
    })
}

/// [`ingest_all`] with a filter and a capture-time limit.
pub fn ingest<R: Read>(
    reader: &mut CaptureReader<R>,
    table: &mut FlowTable,
    interval_nanos: Option<i64>,
    mut limits: Limits<'_>,
    mut tick: impl FnMut(&mut FlowTable, Timestamp, Timestamp) -> io::Result<()>,
    mut progress: impl FnMut(u64),
) -> io::Result<Option<Stop>> {
    let opts = decode_options(table.config());
    let mut next_tick: Option<Timestamp> = None;
    let mut deadline: Option<Timestamp> = None;
    let mut n: u64 = 0;
    loop {
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(None),
            Err(e) => return Ok(Some(Stop::Read(e))),
        };
        n += 1;
        if n & 0xFFFF == 0 {
            progress(n);
        }
        if let Some(d) = limits.duration_nanos {
            let end = *deadline.get_or_insert(frame.ts.add_nanos(d));
            if frame.ts >= end {
                return Ok(Some(Stop::Duration));
            }
        }
        if let Some(f) = limits.filter.as_deref_mut() {
            match f.matches(frame.link_type, frame.data, frame.wire_len) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => return Ok(Some(Stop::Filter(e))),
            }
        }
        let meta = decode(frame.link_type, frame.ts, frame.data, frame.wire_len, &opts);
        if let Some(iv) = interval_nanos {
            let t = next_tick.get_or_insert(meta.ts.add_nanos(iv));
            let mut printed = 0;
            while meta.ts >= *t {
                let start = t.add_nanos(-iv);
                tick(table, start, *t)?;
                printed += 1;
                *t = t.add_nanos(iv);
                if printed >= MAX_REPORTS_PER_GAP {
                    let skip = meta.ts.nanos_since(*t).div_euclid(iv) + 1;
                    *t = t.add_nanos(skip.saturating_mul(iv));
                }
            }
        }
        if let Some(b) = limits.before.as_deref_mut() {
            b(table, meta.ts, limits.detect.as_deref_mut());
        }
        table.ingest(&meta);
        if let Some(d) = limits.detect.as_deref_mut() {
            d.packet(&meta, frame.data, table.interface());
        }
    }
}

/// Runs the offline pipeline on `input`, writing reports to `out`.
pub fn run(s: &Settings, input: &Path, out: &mut dyn Write) -> anyhow::Result<RunOutcome> {
    let name = input.display().to_string();
    let consumed = Arc::new(AtomicU64::new(0));
    let counter = consumed.clone();
    let mut reader = wirewatch_capture::open_with(input, move |r| {
        Box::new(Counting {
            inner: r,
            n: counter,
        })
    })
    .map_err(|e| anyhow!("{name}: {e}"))?;
    let bar = s.progress.then(|| output::progress_bar(input)).flatten();

    let mut table = FlowTable::new(s.flow.clone());
    let mut filter = match s.file_filter.as_deref() {
        Some(expr) => {
            let lt = reader
                .link_types()
                .first()
                .copied()
                .unwrap_or(linktype::ETHERNET);
            Some(FrameFilter::new(expr, lt).map_err(|e| anyhow!("{e}"))?)
        }
        None => None,
    };
    let mut detect = match &s.detect {
        Some(d) => Some(Detection::new(d)?),
        None => None,
    };
    // NDJSON alerts on stdout own it: the traffic report is not printed.
    let mut nowhere = io::sink();
    let report_out: &mut dyn Write = if s
        .detect
        .as_ref()
        .is_some_and(|d| d.mode == AlertMode::JsonStdout)
    {
        &mut nowhere
    } else {
        out
    };
    let mut sink = output::make_sink(s, report_out);
    // An import: rows with the capture's timestamps, named after the file.
    let iface = input
        .file_name()
        .map_or(name.clone(), |n| n.to_string_lossy().into_owned());
    let mut history = match &s.history {
        Some(h) => Some(
            crate::history::Recorder::open(h, vec![iface], false)
                .map_err(|e| anyhow!("history: {e}"))?,
        ),
        // The flow-level detectors need per-minute rows even without history.
        None if detect.as_ref().is_some_and(Detection::wants_rows) => {
            Some(crate::history::Recorder::without_store(vec![iface]))
        }
        None => None,
    };
    let owners = crate::procs::Owners::default();
    let recording = history.is_some();
    let mut record = |table: &mut FlowTable, ts: Timestamp, d: Option<&mut Detection>| {
        if let Some(h) = &mut history {
            h.tick(table, ts, &owners, d);
        }
    };
    let result = ingest(
        &mut reader,
        &mut table,
        s.interval_nanos,
        Limits {
            filter: filter.as_mut(),
            duration_nanos: s.file_duration_nanos,
            before: recording.then_some(&mut record as &mut BeforeFrame<'_>),
            detect: detect.as_mut(),
        },
        |table, start, end| {
            table.advance(end.add_nanos(-1));
            let slot = table.slot_of(end.add_nanos(-1));
            let snap = Snapshot::build(table, s.view, s.interval_sort, slot, true);
            sink.report(&snap, ReportKind::Interval { start, end })
        },
        |_| {
            if let Some(b) = &bar {
                b.set_position(consumed.load(Ordering::Relaxed));
            }
        },
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    // What was read is kept, whatever stopped the reading (a read error,
    // the reader of the report going away).
    let history_error = history.take().and_then(|h| {
        h.finish_and_report(&mut table, &owners, detect.as_mut())
            .error
    });
    let fired = detect.take().map(Detection::finish).transpose()?;
    let stop = match result {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(RunOutcome::BrokenPipe),
        Err(e) => return Err(anyhow!("writing output: {e}")),
    };
    if let Some(e) = history_error {
        return Err(anyhow!("history: {e}"));
    }
    let snap = Snapshot::build(
        &table,
        s.view,
        s.final_sort,
        table.slot_of(table.now()),
        false,
    );
    let (warning, error) = match &stop {
        Some(Stop::Read(e)) if e.is_truncation() => (
            Some(format!(
                "{name}: {e}; the report covers everything before it"
            )),
            None,
        ),
        Some(Stop::Read(e)) => (None, Some(format!("{name}: {e}"))),
        Some(Stop::Filter(e)) => (None, Some(format!("{name}: {e}"))),
        Some(Stop::Duration) | None => (None, None),
    };
    let summary = Summary {
        input: &name,
        link_types: reader.link_types(),
        warning: warning.as_deref(),
        error: error.as_deref(),
        capture: None,
    };
    if !write_final(sink.as_mut(), &snap, &summary)? {
        return Ok(RunOutcome::BrokenPipe);
    }
    match (warning, error) {
        (_, Some(e)) => Err(anyhow!(e)),
        (Some(w), None) if s.alerts_exit && fired.unwrap_or(0) > 0 => {
            eprintln!("wirewatch: warning: {w}");
            Ok(RunOutcome::Alerted(fired.unwrap_or(0)))
        }
        (Some(w), None) => Ok(RunOutcome::Warned(w)),
        (None, None) if s.alerts_exit && fired.unwrap_or(0) > 0 => {
            Ok(RunOutcome::Alerted(fired.unwrap_or(0)))
        }
        (None, None) => Ok(RunOutcome::Clean),
    }
}
