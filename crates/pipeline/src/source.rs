//! Where frames come from: the [`Source`] trait, and [`FileSource`] for
//! capture files (pcap, pcapng, gzip, stdin), read as fast as possible or
//! paced at a multiple of real time (the screen's replay).

use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wirewatch_capture::{CaptureReader, ReadError};
use wirewatch_wire::{linktype, Frame, OwnedFrame, Timestamp};

use crate::filter::FrameFilter;

/// A packet source: a capture file, live interfaces (next: a flow
/// collector).
pub trait Source {
    /// Hands the frames available now to `sink` with their interface index,
    /// waiting at most `wait_ns` for them; stops early when `sink` returns
    /// false. A source that cannot go on says why in [`Source::stop`].
    fn pull(
        &mut self,
        wait_ns: i64,
        sink: &mut dyn FnMut(&Frame<'_>, u16) -> bool,
    ) -> anyhow::Result<()>;

    /// The source's clock: the wall clock live, the replay position for
    /// files.
    fn now(&self) -> Timestamp;

    /// Whether time is the packets' own (files) rather than a clock's (live).
    fn packet_clock(&self) -> bool;

    /// No frame will come any more.
    fn ended(&self) -> bool;

    /// Interface names by the index frames carry.
    fn interface_names(&self) -> Vec<String>;

    /// Kernel counters (live).
    fn capture_stats(&mut self) -> Option<CaptureStats> {
        None
    }

    /// Replaces the packet filter (the screen's `f` key).
    fn set_filter(&mut self, expr: Option<&str>) -> Result<(), String>;

    /// Why reading stopped before the end, if it did.
    fn stop_reason(&self) -> Option<&Stop> {
        None
    }

    /// Lines for the user that came up (interfaces going down, …).
    fn take_events(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// Kernel counters of one live interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfaceCapture {
    /// Interface name.
    pub name: String,
    /// Link type of its frames.
    pub link_type: u32,
    /// Packets that passed the filter, dropped ones included (PACKET_STATISTICS).
    pub received: u64,
    /// Packets the kernel dropped because the ring was full.
    pub dropped: u64,
    /// `capturing`, `down` or `gone`.
    pub state: &'static str,
}

/// Kernel counters of a live capture, per interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// One entry per interface.
    pub interfaces: Vec<IfaceCapture>,
}

impl CaptureStats {
    /// Packets received, all interfaces.
    pub fn received(&self) -> u64 {
        self.interfaces.iter().map(|i| i.received).sum()
    }

    /// Packets dropped, all interfaces.
    pub fn dropped(&self) -> u64 {
        self.interfaces.iter().map(|i| i.dropped).sum()
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

/// Frames read per pull when reading as fast as possible, so a caller
/// (the screen, a progress bar) gets control back regularly.
const SLICE: u64 = 1 << 16;

/// Counts bytes read from the raw file, for a progress bar.
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

/// A capture file as a source.
pub struct FileSource<R: Read = Box<dyn Read>> {
    reader: CaptureReader<R>,
    name: String,
    consumed: Arc<AtomicU64>,
    gate: Gate,
    /// Multiple of real time (`None`: as fast as it can be read).
    speed: Option<f64>,
    /// Wall time and capture time of the first frame.
    start: Option<(Duration, Timestamp)>,
    /// Wall time since some fixed origin (a clock the tests can move).
    wall: Box<dyn Fn() -> Duration>,
    /// A frame read but not yet due.
    pending: Option<OwnedFrame>,
    last_ts: Timestamp,
    ended: bool,
    stop: Option<Stop>,
    frames: u64,
}

impl FileSource {
    /// Opens `path` (`-` for stdin; gzip is read transparently).
    pub fn open(path: &Path) -> anyhow::Result<FileSource> {
        let name = path.display().to_string();
        let consumed = Arc::new(AtomicU64::new(0));
        let counter = consumed.clone();
        let reader = wirewatch_capture::open_with(path, move |r| {
            Box::new(Counting {
                inner: r,
                n: counter,
            })
        })
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        Ok(FileSource::from_reader(reader, name, consumed))
    }
}

impl<R: Read> FileSource<R> {
    /// A source over an open reader (named `name` in messages).
    pub fn new(reader: CaptureReader<R>, name: String) -> FileSource<R> {
        Self::from_reader(reader, name, Arc::new(AtomicU64::new(0)))
    }

    fn from_reader(reader: CaptureReader<R>, name: String, consumed: Arc<AtomicU64>) -> Self {
        FileSource {
            reader,
            name,
            consumed,
            gate: Gate::default(),
            speed: None,
            start: None,
            wall: {
                let origin = Instant::now();
                Box::new(move || origin.elapsed())
            },
            pending: None,
            last_ts: Timestamp::ZERO,
            ended: false,
            stop: None,
            frames: 0,
        }
    }

    /// Plays at `speed` times real time (`None`: as fast as possible).
    pub fn paced(mut self, speed: Option<f64>) -> Self {
        self.speed = speed;
        self
    }

    /// Stops at the first frame `nanos` after the first frame (`-s`).
    pub fn limited(mut self, nanos: Option<i64>) -> Self {
        self.gate.duration_nanos = nanos;
        self
    }

    /// Replaces the wall clock that paces a replay (elapsed time since any
    /// fixed origin).
    pub fn with_wall_clock(mut self, wall: impl Fn() -> Duration + 'static) -> Self {
        self.wall = Box::new(wall);
        self
    }

    /// Why reading stopped before the end, taken (the run is over).
    pub fn take_stop(&mut self) -> Option<Stop> {
        self.stop.take()
    }

    /// The file's name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Frames read from the file so far, the filter's rejects included.
    pub fn frames_read(&self) -> u64 {
        self.frames
    }

    /// Bytes read from the file so far (compressed bytes for gzip).
    pub fn bytes_read(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    /// Link types met so far (the first is known once the header is read).
    pub fn link_types(&self) -> &[u32] {
        self.reader.link_types()
    }

    fn first_link_type(&self) -> u32 {
        self.reader
            .link_types()
            .first()
            .copied()
            .unwrap_or(linktype::ETHERNET)
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

    fn end(&mut self, why: Option<Stop>) {
        self.ended = true;
        self.stop = why;
    }
}

impl<R: Read> Source for FileSource<R> {
    fn pull(
        &mut self,
        wait_ns: i64,
        sink: &mut dyn FnMut(&Frame<'_>, u16) -> bool,
    ) -> anyhow::Result<()> {
        if self.ended {
            if self.speed.is_some() {
                std::thread::sleep(Duration::from_nanos(wait_ns.max(0) as u64));
            }
            return Ok(());
        }
        if let Some(p) = self.pending.take() {
            if p.ts > self.due() {
                self.pending = Some(p);
            } else {
                if !self.gate.pass(&p.frame(), sink, &mut self.stop) {
                    self.ended |= self.stop.is_some();
                    return Ok(());
                }
            }
        }
        let mut budget = if self.speed.is_none() {
            SLICE
        } else {
            u64::MAX
        };
        while self.pending.is_none() && budget > 0 && !self.ended {
            budget -= 1;
            let due = self.due();
            let f = match self.reader.next_frame() {
                Ok(Some(rec)) => rec.frame,
                Ok(None) => {
                    self.end(None);
                    break;
                }
                Err(e) => {
                    self.end(Some(Stop::Read(e)));
                    break;
                }
            };
            self.frames += 1;
            let due = match self.start {
                None => {
                    self.start = Some(((self.wall)(), f.ts));
                    f.ts
                }
                Some(_) => due,
            };
            self.last_ts = self.last_ts.max(f.ts);
            if f.ts > due {
                // Held back until its time: the only copy made.
                self.pending = Some(f.to_owned_frame());
            } else {
                if !self.gate.pass(&f, sink, &mut self.stop) {
                    self.ended |= self.stop.is_some();
                    break;
                }
            }
        }
        if self.speed.is_some() && self.pending.is_some() {
            std::thread::sleep(Duration::from_nanos(wait_ns.max(0) as u64));
        }
        Ok(())
    }

    fn now(&self) -> Timestamp {
        match (self.speed, self.start) {
            // Real time (or a multiple) from the first frame on, but never
            // past a frame read and not yet handed over (time goes on while
            // the replay waits for it: the table must not be ahead of its
            // packets, or the last picture's rates would take in time after
            // the capture's end); the clock stops at the last frame when
            // the file ends.
            (Some(_), Some(_)) if !self.ended => match &self.pending {
                Some(p) => self.due().min(p.ts),
                None => self.due(),
            },
            _ => self.last_ts,
        }
    }

    fn packet_clock(&self) -> bool {
        true
    }

    fn ended(&self) -> bool {
        self.ended
    }

    fn interface_names(&self) -> Vec<String> {
        // An import is named after the file.
        let p = Path::new(&self.name);
        vec![p
            .file_name()
            .map_or(self.name.clone(), |n| n.to_string_lossy().into_owned())]
    }

    fn set_filter(&mut self, expr: Option<&str>) -> Result<(), String> {
        self.gate.filter = match expr {
            Some(e) => Some(FrameFilter::new(e, self.first_link_type())?),
            None => None,
        };
        Ok(())
    }

    fn stop_reason(&self) -> Option<&Stop> {
        self.stop.as_ref()
    }
}

/// What a frame passes before it reaches the sink: the time limit (`-s`)
/// and the filter.
#[derive(Default)]
struct Gate {
    filter: Option<FrameFilter>,
    /// Stop at the first frame this long after the first frame.
    duration_nanos: Option<i64>,
    deadline: Option<Timestamp>,
}

impl Gate {
    /// Offers `f` to `sink` (taken or filtered out: true); false when
    /// reading stops here: the sink asked, or `stop` now says why.
    fn pass(
        &mut self,
        f: &Frame<'_>,
        sink: &mut dyn FnMut(&Frame<'_>, u16) -> bool,
        stop: &mut Option<Stop>,
    ) -> bool {
        if let Some(d) = self.duration_nanos {
            let end = *self.deadline.get_or_insert(f.ts.add_nanos(d));
            if f.ts >= end {
                *stop = Some(Stop::Duration);
                return false;
            }
        }
        if let Some(flt) = self.filter.as_mut() {
            match flt.matches(f.link_type, f.data, f.wire_len) {
                Ok(true) => {}
                Ok(false) => return true,
                Err(e) => {
                    *stop = Some(Stop::Filter(e));
                    return false;
                }
            }
        }
        sink(f, 0)
    }
}
