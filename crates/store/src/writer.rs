//! The writer thread: it owns the [`Store`], commits each batch it receives
//! in one transaction and does the roll-ups and pruning between batches.
//!
//! The capture side hands batches over a bounded queue and never waits on
//! the disk ([`Backpressure::Coarsen`]): when the queue is full, the rows
//! are merged into coarser rows (the client's port dropped; past a cap,
//! one row per minute, interface and protocol) kept in memory until the
//! queue has room. Nothing is lost silently: merged rows are counted and
//! reported as events. Imports use [`Backpressure::Block`] instead: a file
//! can wait.
//!
//! Alerts ([`HistoryWriter::send_alerts`]) go over the same queue and are
//! never merged nor dropped: while the queue is full they wait in the
//! sending handle and go with the next send, or at [`HistoryWriter::finish`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use wirewatch_units::{Clock, SystemClock};

use crate::{service_ports, AlertRecord, Counts, Retention, Row, Store};

/// What the sender does when the queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backpressure {
    /// Merge rows into coarser rows and go on (live capture).
    Coarsen,
    /// Wait for room (file imports).
    Block,
}

/// Writer settings.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// What retention counts back from (never from later than the newest
    /// row): the run's one clock.
    pub clock: Arc<dyn Clock>,
    /// Retention of each resolution.
    pub retention: Retention,
    /// Batches the queue holds.
    pub queue_batches: usize,
    /// Rows kept at port-less granularity while the queue is full; past
    /// this, rows are merged per minute, interface and protocol.
    pub coarse_rows: usize,
    /// Roll-up and pruning work per pass (periods of each kind).
    pub maintain_budget: u32,
    /// Full queue behaviour.
    pub backpressure: Backpressure,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            clock: Arc::new(SystemClock),
            retention: Retention::default(),
            queue_batches: 64,
            coarse_rows: 100_000,
            maintain_budget: 24,
            backpressure: Backpressure::Coarsen,
        }
    }
}

/// What goes over the queue.
enum Batch {
    /// Traffic rows.
    Rows(Vec<Row>),
    /// Alerts.
    Alerts(Vec<AlertRecord>),
}

impl Batch {
    /// Adds the rows or alerts to `rows` or `alerts`.
    fn split_into(self, rows: &mut Vec<Row>, alerts: &mut Vec<AlertRecord>) {
        if let Batch::Rows(r) = &self {
            GAUGES.taken(r.len());
        }
        match self {
            Batch::Rows(r) if rows.is_empty() => *rows = r,
            Batch::Rows(r) => rows.extend(r),
            Batch::Alerts(a) if alerts.is_empty() => *alerts = a,
            Batch::Alerts(a) => alerts.extend(a),
        }
    }
}

/// Counters of every history writer of the process, for `/metrics`
/// (one writer per run: the process's numbers are the writer's).
#[derive(Debug, Default)]
pub struct Gauges {
    queued_rows: AtomicU64,
    merged_rows: AtomicU64,
    written_rows: AtomicU64,
}

/// The process's [`Gauges`].
pub static GAUGES: Gauges = Gauges {
    queued_rows: AtomicU64::new(0),
    merged_rows: AtomicU64::new(0),
    written_rows: AtomicU64::new(0),
};

impl Gauges {
    /// Rows handed to a writer thread and not taken by it yet.
    pub fn queued_rows(&self) -> u64 {
        self.queued_rows.load(Ordering::Relaxed)
    }

    /// Rows merged into coarser rows since the start (the queue was full).
    pub fn merged_rows(&self) -> u64 {
        self.merged_rows.load(Ordering::Relaxed)
    }

    /// Rows committed since the start (after any merging).
    pub fn written_rows(&self) -> u64 {
        self.written_rows.load(Ordering::Relaxed)
    }

    fn queued(&self, n: usize) {
        self.queued_rows.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn taken(&self, n: usize) {
        self.queued_rows.fetch_sub(n as u64, Ordering::Relaxed);
    }
}

/// Puts `rows` in the queue (waiting for room when `wait`), counted in
/// [`Gauges::queued_rows`] while they are there.
fn enqueue(tx: &SyncSender<Batch>, rows: Vec<Row>, wait: bool) -> Result<(), TrySendError<Batch>> {
    let n = rows.len();
    // Counted before: the writer may take them at once.
    GAUGES.queued(n);
    let sent = if wait {
        tx.send(Batch::Rows(rows))
            .map_err(|e| TrySendError::Disconnected(e.0))
    } else {
        tx.try_send(Batch::Rows(rows))
    };
    if sent.is_err() {
        GAUGES.taken(n);
    }
    sent
}

/// What a failed `try_send` gives back.
fn unsent<T>(e: TrySendError<T>) -> T {
    match e {
        TrySendError::Full(b) | TrySendError::Disconnected(b) => b,
    }
}

/// Counters shared by the sender and the writer thread.
#[derive(Default)]
struct Shared {
    rows_written: AtomicU64,
    batches_written: AtomicU64,
    rows_dropped: AtomicU64,
    alerts_written: AtomicU64,
    alerts_dropped: AtomicU64,
    failed: AtomicBool,
    error: Mutex<Option<String>>,
}

/// The writer's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriterStatus {
    /// Rows committed (after any merging).
    pub rows_written: u64,
    /// Transactions committed (rows or alerts).
    pub batches_written: u64,
    /// Rows merged into coarser rows because the queue was full.
    pub rows_coarsened: u64,
    /// Coarser rows those became.
    pub coarse_rows: u64,
    /// Rows not written because writing had failed.
    pub rows_dropped: u64,
    /// Alerts committed.
    pub alerts_written: u64,
    /// Alerts waiting in the sender for room in the queue.
    pub alerts_pending: u64,
    /// Alerts not written because writing had failed.
    pub alerts_dropped: u64,
    /// Why writing stopped, if it did.
    pub error: Option<String>,
}

/// Rows merged while the queue is full.
#[derive(Default)]
struct Overflow {
    /// Coarse keys (counts zero) and their counts.
    rows: HashMap<Row, Counts, foldhash::fast::RandomState>,
    /// Rows merged in this episode / in total.
    merged: u64,
    merged_total: u64,
    /// Coarse rows sent in total.
    sent_total: u64,
    coarsest: bool,
}

fn unspecified(a: &IpAddr) -> IpAddr {
    match a {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

impl Overflow {
    fn key(r: &Row, coarsest: bool) -> Row {
        let (local_port, remote_port) = if coarsest {
            (0, 0)
        } else {
            service_ports(r.local_port, r.remote_port)
        };
        Row {
            ts: r.ts,
            iface: r.iface.clone(),
            local: if coarsest {
                unspecified(&r.local)
            } else {
                r.local
            },
            remote: if coarsest {
                unspecified(&r.remote)
            } else {
                r.remote
            },
            local_port,
            remote_port,
            protocol: r.protocol,
            process: if coarsest { None } else { r.process.clone() },
            counts: Counts::default(),
        }
    }

    fn merge(&mut self, rows: Vec<Row>, cap: usize) {
        GAUGES
            .merged_rows
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        self.merged += rows.len() as u64;
        self.merged_total += rows.len() as u64;
        for r in rows {
            let c = r.counts;
            self.add(Self::key(&r, self.coarsest), &c);
        }
        if !self.coarsest && self.rows.len() > cap {
            // Still too many: one row per minute, interface and protocol.
            self.coarsest = true;
            let old = std::mem::take(&mut self.rows);
            for (r, c) in old {
                self.add(Self::key(&r, true), &c);
            }
        }
    }

    fn add(&mut self, key: Row, c: &Counts) {
        self.rows.entry(key).or_default().add(c);
    }

    /// The merged rows, ready to send; empties the overflow.
    fn take(&mut self) -> Vec<Row> {
        self.rows
            .drain()
            .map(|(mut r, c)| {
                r.counts = c;
                r
            })
            .collect()
    }
}

/// The sending side: owned by the capture loop.
pub struct HistoryWriter {
    tx: Option<SyncSender<Batch>>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    overflow: Overflow,
    /// Alerts the full queue did not take yet (live only), oldest first.
    pending_alerts: Vec<AlertRecord>,
    cfg: WriterConfig,
    events: Vec<String>,
    reported_error: bool,
}

impl HistoryWriter {
    /// Starts the writer thread on `store`.
    pub fn start(store: Box<dyn Store>, cfg: WriterConfig) -> std::io::Result<HistoryWriter> {
        let (tx, rx) = sync_channel(cfg.queue_batches.max(1));
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        let thread_cfg = cfg.clone();
        let thread = std::thread::Builder::new()
            .name("wirewatch-history".into())
            .spawn(move || write_loop(store, rx, sh, thread_cfg))?;
        Ok(HistoryWriter {
            tx: Some(tx),
            thread: Some(thread),
            shared,
            overflow: Overflow::default(),
            pending_alerts: Vec::new(),
            cfg,
            events: Vec::new(),
            reported_error: false,
        })
    }

    /// Hands alerts to the writer, to be committed in one transaction.
    /// With [`Backpressure::Coarsen`] it never waits: when the queue is
    /// full the alerts wait here and go with the next [`send`](Self::send)
    /// or `send_alerts`, or at [`finish`](Self::finish); none is merged
    /// or lost on a clean stop. With [`Backpressure::Block`] it waits for room.
    pub fn send_alerts(&mut self, alerts: Vec<AlertRecord>) {
        self.check_failed();
        if self.shared.failed.load(Ordering::Relaxed) {
            let n = alerts.len() + std::mem::take(&mut self.pending_alerts).len();
            self.drop_alerts(n);
            return;
        }
        let Some(tx) = &self.tx else { return };
        if self.cfg.backpressure == Backpressure::Block {
            let n = alerts.len();
            if n > 0 && tx.send(Batch::Alerts(alerts)).is_err() {
                self.drop_alerts(n);
            }
            return;
        }
        self.pending_alerts.extend(alerts);
        self.flush_alerts();
    }

    /// Offers the waiting alerts to the queue without waiting.
    fn flush_alerts(&mut self) {
        if self.pending_alerts.is_empty() {
            return;
        }
        let Some(tx) = &self.tx else { return };
        let pending = std::mem::take(&mut self.pending_alerts);
        match tx.try_send(Batch::Alerts(pending)) {
            Ok(()) => {}
            Err(TrySendError::Full(Batch::Alerts(back))) => self.pending_alerts = back,
            Err(e) => {
                let n = match unsent(e) {
                    Batch::Alerts(a) => a.len(),
                    Batch::Rows(_) => 0,
                };
                self.drop_alerts(n);
            }
        }
    }

    fn drop_alerts(&mut self, n: usize) {
        self.shared
            .alerts_dropped
            .fetch_add(n as u64, Ordering::Relaxed);
        self.check_failed();
    }

    /// Hands rows to the writer; never waits with [`Backpressure::Coarsen`].
    pub fn send(&mut self, rows: Vec<Row>) {
        self.check_failed();
        if self.shared.failed.load(Ordering::Relaxed) {
            self.shared
                .rows_dropped
                .fetch_add(rows.len() as u64, Ordering::Relaxed);
            let n = std::mem::take(&mut self.pending_alerts).len();
            self.drop_alerts(n);
            return;
        }
        let Some(tx) = &self.tx else { return };
        let n = rows.len();
        if self.cfg.backpressure == Backpressure::Block {
            if n > 0 && enqueue(tx, rows, true).is_err() {
                self.check_failed();
            }
            return;
        }
        // Alerts waiting for room go first (they are few).
        self.flush_alerts();
        let Some(tx) = &self.tx else { return };
        // Rows merged earlier go first, so time order is kept.
        if !self.overflow.rows.is_empty() {
            let pending = self.overflow.take();
            let n = pending.len() as u64;
            match enqueue(tx, pending, false) {
                Ok(()) => {
                    self.events.push(format!(
                        "history: the writer caught up; {} rows were merged into {n} coarser rows ({})",
                        self.overflow.merged,
                        if self.overflow.coarsest {
                            "one per minute, interface and protocol"
                        } else {
                            "client ports dropped"
                        }
                    ));
                    self.overflow.sent_total += n;
                    self.overflow.merged = 0;
                    self.overflow.coarsest = false;
                }
                Err(e) => {
                    // Put them back (already coarse: merging keeps them as they are).
                    let back = match unsent(e) {
                        Batch::Rows(b) => b,
                        Batch::Alerts(_) => Vec::new(),
                    };
                    for r in back {
                        let c = r.counts;
                        self.overflow.add(
                            Row {
                                counts: Counts::default(),
                                ..r
                            },
                            &c,
                        );
                    }
                    self.overflow.merge(rows, self.cfg.coarse_rows);
                    return;
                }
            }
        }
        if rows.is_empty() {
            return;
        }
        match enqueue(tx, rows, false) {
            Ok(()) => {}
            Err(TrySendError::Full(Batch::Rows(rows))) => {
                if self.overflow.merged == 0 {
                    self.events.push(
                        "history: the writer is behind (disk slow?); merging rows into coarser rows until it catches up".into(),
                    );
                }
                self.overflow.merge(rows, self.cfg.coarse_rows);
            }
            Err(e) => {
                if let Batch::Rows(rows) = unsent(e) {
                    self.shared
                        .rows_dropped
                        .fetch_add(rows.len() as u64, Ordering::Relaxed);
                }
                self.check_failed();
            }
        }
    }

    fn check_failed(&mut self) {
        if !self.reported_error && self.shared.failed.load(Ordering::Relaxed) {
            self.reported_error = true;
            let e = self
                .shared
                .error
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default();
            self.events.push(format!(
                "history: {}; monitoring goes on without history",
                e.unwrap_or_else(|| "the writer stopped".into())
            ));
        }
    }

    /// Messages for the user since the last call (queue overflow, failures).
    pub fn take_events(&mut self) -> Vec<String> {
        self.check_failed();
        std::mem::take(&mut self.events)
    }

    /// The counters now.
    pub fn status(&self) -> WriterStatus {
        WriterStatus {
            rows_written: self.shared.rows_written.load(Ordering::Relaxed),
            batches_written: self.shared.batches_written.load(Ordering::Relaxed),
            rows_coarsened: self.overflow.merged_total,
            coarse_rows: self.overflow.sent_total + self.overflow.rows.len() as u64,
            rows_dropped: self.shared.rows_dropped.load(Ordering::Relaxed),
            alerts_written: self.shared.alerts_written.load(Ordering::Relaxed),
            alerts_pending: self.pending_alerts.len() as u64,
            alerts_dropped: self.shared.alerts_dropped.load(Ordering::Relaxed),
            error: self.shared.error.lock().ok().and_then(|e| e.clone()),
        }
    }

    /// Sends what is left (merged rows, waiting alerts), waiting for room,
    /// waits for the writer to commit it, and returns the final counters.
    pub fn finish(mut self) -> WriterStatus {
        if let Some(tx) = self.tx.take() {
            if !self.overflow.rows.is_empty() {
                let pending = self.overflow.take();
                self.overflow.sent_total += pending.len() as u64;
                let _ = enqueue(&tx, pending, true);
            }
            let alerts = std::mem::take(&mut self.pending_alerts);
            let n = alerts.len();
            if n > 0 && tx.send(Batch::Alerts(alerts)).is_err() {
                self.drop_alerts(n);
            }
            drop(tx);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.status()
    }
}

impl Drop for HistoryWriter {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Seconds since the Unix epoch by `clock`: retention never counts back
/// from a time later than this.
fn secs_now(clock: &dyn Clock) -> i64 {
    clock.now().as_nanos().div_euclid(1_000_000_000)
}

/// Most rows merged into one transaction.
const MAX_BATCH_ROWS: usize = 1 << 20;

fn write_loop(mut store: Box<dyn Store>, rx: Receiver<Batch>, sh: Arc<Shared>, cfg: WriterConfig) {
    let fail = |sh: &Shared, e: String| {
        if let Ok(mut g) = sh.error.lock() {
            g.get_or_insert(e);
        }
        sh.failed.store(true, Ordering::Relaxed);
    };
    let mut more_maintenance = true;
    loop {
        // Wait for rows; when idle, keep rolling up and pruning.
        let first = if more_maintenance {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(b) => Some(b),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(b) => Some(b),
                Err(_) => break,
            }
        };
        if sh.failed.load(Ordering::Relaxed) {
            match first {
                Some(Batch::Rows(b)) => {
                    GAUGES.taken(b.len());
                    sh.rows_dropped.fetch_add(b.len() as u64, Ordering::Relaxed)
                }
                Some(Batch::Alerts(a)) => sh
                    .alerts_dropped
                    .fetch_add(a.len() as u64, Ordering::Relaxed),
                None => 0,
            };
            continue;
        }
        if let Some(first) = first {
            // What is queued goes into one transaction of rows and one of
            // alerts.
            let (mut batch, mut alerts) = (Vec::new(), Vec::new());
            first.split_into(&mut batch, &mut alerts);
            while batch.len() < MAX_BATCH_ROWS {
                match rx.try_recv() {
                    Ok(more) => more.split_into(&mut batch, &mut alerts),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                match store.append(&batch) {
                    Ok(()) => {
                        GAUGES
                            .written_rows
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        sh.rows_written
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        sh.batches_written.fetch_add(1, Ordering::Relaxed);
                        more_maintenance = true;
                    }
                    Err(e) => {
                        sh.rows_dropped
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        sh.alerts_dropped
                            .fetch_add(alerts.len() as u64, Ordering::Relaxed);
                        fail(&sh, e.to_string());
                        continue;
                    }
                }
            }
            if !alerts.is_empty() {
                match store.append_alerts(&alerts) {
                    Ok(()) => {
                        sh.alerts_written
                            .fetch_add(alerts.len() as u64, Ordering::Relaxed);
                        sh.batches_written.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        sh.alerts_dropped
                            .fetch_add(alerts.len() as u64, Ordering::Relaxed);
                        fail(&sh, e.to_string());
                        continue;
                    }
                }
            }
        }
        match store.maintain(&cfg.retention, secs_now(&*cfg.clock), cfg.maintain_budget) {
            Ok(m) => more_maintenance = m.more,
            Err(e) => fail(&sh, e.to_string()),
        }
    }
    // Before closing, a little more of the roll-ups that are due (the rest
    // waits for the next run: stopping must not wait on a backlog).
    for _ in 0..4 {
        if sh.failed.load(Ordering::Relaxed) {
            break;
        }
        match store.maintain(&cfg.retention, secs_now(&*cfg.clock), cfg.maintain_budget) {
            Ok(m) if m.more => {}
            Ok(_) => break,
            Err(e) => {
                fail(&sh, e.to_string());
                break;
            }
        }
    }
}
