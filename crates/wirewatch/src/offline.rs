//! The offline pipeline: capture file → decode → flow table → sink.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::anyhow;
use wirewatch_capture::{CaptureReader, ReadError};
use wirewatch_flow::{FlowConfig, FlowTable, LayerMode, Snapshot};
use wirewatch_wire::{decode, DecodeOptions, Timestamp};

use crate::cli::Settings;
use crate::output::{self, ReportKind, Summary};

/// How a run ended when it produced a report.
#[derive(Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Everything was read.
    Clean,
    /// The report is complete up to a cut-off last record.
    Warned(String),
    /// The reader of our output went away (exit 0, like ripgrep).
    BrokenPipe,
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

/// Reads every frame of `reader` into `table`, calling `tick` with each
/// interval boundary crossed (when `interval_nanos` is set). Returns the read
/// error that stopped it, if any; frames before it are accounted.
pub fn ingest_all<R: Read>(
    reader: &mut CaptureReader<R>,
    table: &mut FlowTable,
    interval_nanos: Option<i64>,
    mut tick: impl FnMut(&mut FlowTable, Timestamp, Timestamp) -> io::Result<()>,
    mut progress: impl FnMut(u64),
) -> io::Result<Option<ReadError>> {
    let opts = decode_options(table.config());
    let mut next_tick: Option<Timestamp> = None;
    let mut n: u64 = 0;
    loop {
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(None),
            Err(e) => return Ok(Some(e)),
        };
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
        table.ingest(&meta);
        n += 1;
        if n & 0xFFFF == 0 {
            progress(n);
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
    let mut sink = output::make_sink(s, out);
    let result = ingest_all(
        &mut reader,
        &mut table,
        s.interval_nanos,
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
    let read_error = match result {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(RunOutcome::BrokenPipe),
        Err(e) => return Err(anyhow!("writing output: {e}")),
    };
    let snap = Snapshot::build(
        &table,
        s.view,
        s.final_sort,
        table.slot_of(table.now()),
        false,
    );
    let (warning, error) = match &read_error {
        Some(e) if e.is_truncation() => (
            Some(format!(
                "{name}: {e}; the report covers everything before it"
            )),
            None,
        ),
        Some(e) => (None, Some(format!("{name}: {e}"))),
        None => (None, None),
    };
    let summary = Summary {
        input: &name,
        link_types: reader.link_types(),
        warning: warning.as_deref(),
        error: error.as_deref(),
        capture: None,
    };
    let written = sink
        .report(&snap, ReportKind::Final)
        .and_then(|_| sink.finish(&snap, &summary));
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(RunOutcome::BrokenPipe),
        Err(e) => return Err(anyhow!("writing output: {e}")),
        Ok(()) => {}
    }
    match (warning, error) {
        (_, Some(e)) => Err(anyhow!(e)),
        (Some(w), None) => Ok(RunOutcome::Warned(w)),
        (None, None) => Ok(RunOutcome::Clean),
    }
}
