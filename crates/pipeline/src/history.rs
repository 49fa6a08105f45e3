//! The history recorder: turns the flow table's counters into minute rows
//! for the store's writer thread, at every minute boundary and every flush
//! interval (so a crash loses at most one interval), on the packets' clock.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use wirewatch_detect::{Alert, RowTcp};
use wirewatch_flow::{FlowTable, TcpDelta};
use wirewatch_store::writer::{Backpressure, HistoryWriter, WriterConfig, WriterStatus};
use wirewatch_store::{AlertRecord, Counts, Retention, Row, SqliteStore, StoreError, TcpCounts};
use wirewatch_wire::{Clock, Timestamp};

use crate::consumer::{Consumer, Context, Ending, Outbox, Wants};
use crate::detect::Detection;

use crate::procs::Owners;

/// Default time between writes: what a crash can lose.
pub const DEFAULT_FLUSH_SECS: i64 = 10;

/// History settings of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistorySettings {
    /// Database file.
    pub path: PathBuf,
    /// Time between writes, nanoseconds.
    pub flush_nanos: i64,
    /// Retention per resolution.
    pub retention: Retention,
}

/// `$XDG_DATA_HOME/wirewatch/history.db` (`~/.local/share/…` without it);
/// `/var/lib/wirewatch/history.db` for root.
pub fn default_db_path() -> Option<PathBuf> {
    if wirewatch_live::privs::effective_uid() == 0 {
        return Some(PathBuf::from("/var/lib/wirewatch/history.db"));
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("wirewatch/history.db"))
}

/// The database a query reads by default: the user's own when it exists,
/// else the system one (`sudo wirewatch` records there), else the user's
/// path (whose absence the query then reports).
pub fn default_query_path() -> Option<PathBuf> {
    let own = default_db_path();
    let system = PathBuf::from("/var/lib/wirewatch/history.db");
    match own {
        Some(p) if p.exists() => Some(p),
        _ if system.exists() => Some(system),
        own => own,
    }
}

/// A held `<db>.<iface>.lock`: the lock goes with the open file (even on
/// kill -9); the file itself is removed by [`IfaceLock::release`] on a clean
/// stop when this run created it.
struct IfaceLock {
    file: std::fs::File,
    path: PathBuf,
    /// This run created the file (else it was there already: left by a
    /// crash, or made by someone else, and it stays).
    created: bool,
}

impl IfaceLock {
    /// Removes the file if this run created it and it is still the file
    /// locked (removed while still locked, so no other run can be
    /// holding it), then unlocks.
    fn release(self) {
        if self.created && same_file(&self.file, &self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Whether `path` names the open `file`.
fn same_file(file: &std::fs::File, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Opens `p`, creating it when missing; says whether it created it.
fn open_lock_file(p: &std::path::Path) -> std::io::Result<(std::fs::File, bool)> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = |create_new: bool| {
        std::fs::OpenOptions::new()
            .create_new(create_new)
            .write(true)
            .mode(0o600)
            .open(p)
    };
    match open(true) {
        Ok(f) => Ok((f, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => open(false).map(|f| (f, false)),
        Err(e) => Err(e),
    }
}

/// Takes `<db>.<iface>.lock` for each interface, without waiting.
fn lock_interfaces(db: &std::path::Path, ifaces: &[String]) -> Result<Vec<IfaceLock>, StoreError> {
    let mut locks = Vec::new();
    for i in ifaces {
        let mut name = db.as_os_str().to_owned();
        name.push(format!(".{i}.lock"));
        let p = PathBuf::from(name);
        let (f, created) = open_lock_file(&p).map_err(|source| StoreError::Io {
            what: format!("opening {}", p.display()),
            source,
        })?;
        match f.try_lock() {
            // A run stopping cleanly may have removed the file between
            // our open and our lock: then the lock guards nothing.
            Ok(()) if !same_file(&f, &p) => {
                return Err(StoreError::Io {
                    what: format!("locking {}", p.display()),
                    source: std::io::Error::other(
                        "the lock file was removed while it was being taken; start again",
                    ),
                })
            }
            Ok(()) => locks.push(IfaceLock {
                file: f,
                path: p,
                created,
            }),
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Io {
                    what: format!("another wirewatch is recording {i} into {}", db.display()),
                    source: std::io::Error::new(
                        std::io::ErrorKind::WouldBlock,
                        "its traffic would be counted twice",
                    ),
                })
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StoreError::Io {
                    what: format!("locking {}", p.display()),
                    source,
                })
            }
        }
    }
    Ok(locks)
}

/// Turns the table's counters into rows for the writer.
pub struct Recorder {
    /// One lock file per interface recorded, held while recording.
    locks: Vec<IfaceLock>,
    /// The open database, until the writer thread starts.
    pending: Option<(SqliteStore, WriterConfig)>,
    writer: Option<HistoryWriter>,
    path: String,
    ifaces: Vec<Arc<str>>,
    flush_nanos: i64,
    /// Next boundary (a minute or flush interval) on the packet clock.
    next: Option<Timestamp>,
    /// Process names by owner id.
    names: HashMap<u32, Option<Arc<str>>>,
    /// Messages of our own (the writer has its own).
    events: Vec<String>,
    /// Rows go to a database (else only to detection).
    store: bool,
    /// Rows are raised for the other consumers (detection).
    share: bool,
    /// A failure to write fails the run (imports) rather than being said.
    strict: bool,
    /// What the writer said when the run ended.
    finished: Option<WriterStatus>,
    /// Rows cut and raised for the others, for the writer next.
    unsent: Option<Arc<Vec<Row>>>,
}

const MINUTE_NANOS: i64 = 60_000_000_000;

/// A period's TCP figures from what each direction added (RTTs in µs).
fn tcp_counts(sent: &TcpDelta, received: &TcpDelta) -> TcpCounts {
    TcpCounts {
        retrans_out: sent.retransmissions,
        retrans_in: received.retransmissions,
        rtt_out_samples: sent.rtt_samples,
        rtt_out_us: sent.rtt_sum_nanos / 1_000,
        rtt_in_samples: received.rtt_samples,
        rtt_in_us: received.rtt_sum_nanos / 1_000,
    }
}

fn ceil_to(t: i64, step: i64) -> i64 {
    t.div_euclid(step) * step + if t.rem_euclid(step) == 0 { 0 } else { step }
}

impl Recorder {
    /// Opens the database and starts the writer. `ifaces` names the
    /// interfaces by the index flows carry; `live` chooses the queue's
    /// behaviour when full (merge rows rather than wait).
    pub fn open(
        h: &HistorySettings,
        ifaces: Vec<String>,
        live: bool,
        clock: Arc<dyn Clock>,
    ) -> Result<Recorder, StoreError> {
        let mut store = SqliteStore::open(&h.path)?;
        // Hours are stamped with when they were written: an import keeps
        // its minutes for the retention counted from then.
        store.set_clock(clock.clone());
        // Two captures of one interface into one database would count its
        // traffic twice: each interface is recorded by one process at a
        // time (the lock goes with the process, even on kill -9).
        let locks = if live {
            lock_interfaces(&h.path, &ifaces)?
        } else {
            Vec::new()
        };
        let cfg = WriterConfig {
            clock,
            retention: h.retention,
            backpressure: if live {
                Backpressure::Coarsen
            } else {
                Backpressure::Block
            },
            ..WriterConfig::default()
        };
        Ok(Recorder {
            locks,
            pending: Some((store, cfg)),
            writer: None,
            path: h.path.display().to_string(),
            ifaces: ifaces.into_iter().map(Into::into).collect(),
            // An import is cut at minutes only: nothing to lose to a crash
            // that a second run would not redo, and six times fewer writes.
            flush_nanos: if live { h.flush_nanos } else { MINUTE_NANOS },
            next: None,
            names: HashMap::new(),
            events: Vec::new(),
            store: true,
            share: false,
            strict: !live,
            finished: None,
            unsent: None,
        })
    }

    /// A recorder that cuts the traffic into per-minute rows for the
    /// flow-level detectors only (no history kept).
    pub fn without_store(ifaces: Vec<String>) -> Recorder {
        Recorder {
            locks: Vec::new(),
            pending: None,
            writer: None,
            path: String::new(),
            ifaces: ifaces.into_iter().map(Into::into).collect(),
            flush_nanos: MINUTE_NANOS,
            next: None,
            names: HashMap::new(),
            events: Vec::new(),
            store: false,
            share: true,
            strict: false,
            finished: None,
            unsent: None,
        }
    }

    /// What the writer said when the run ended (after `finish`).
    pub fn finished(&self) -> Option<&WriterStatus> {
        self.finished.as_ref()
    }

    /// Whether rows are written to a database.
    pub fn keeps_history(&self) -> bool {
        self.store
    }

    /// Raises the rows for the other consumers too (the flow-level
    /// detectors need them).
    pub fn sharing(mut self, share: bool) -> Self {
        self.share = share;
        self
    }

    /// Starts the writer thread. Live capture calls this after dropping
    /// privileges, so the thread is born with none (capabilities are per
    /// thread); the database files were opened before. Otherwise the
    /// first write starts it.
    pub fn start(&mut self) -> Result<(), StoreError> {
        if let Some((store, cfg)) = self.pending.take() {
            let w =
                HistoryWriter::start(Box::new(store), cfg).map_err(|source| StoreError::Io {
                    what: "starting the history writer".into(),
                    source,
                })?;
            self.writer = Some(w);
        }
        Ok(())
    }

    fn boundary_after(&self, t: Timestamp) -> Timestamp {
        let n = t.as_nanos().saturating_add(1);
        Timestamp::from_nanos(ceil_to(n, MINUTE_NANOS).min(ceil_to(n, self.flush_nanos)))
    }

    /// Call with the time of the next packet before accounting it, and
    /// whenever the clock moves: at each minute or flush boundary passed,
    /// the traffic since the previous one becomes rows of the minute it
    /// happened in (handed to `detect` too, which closes its minutes and
    /// hands over its alerts then: nothing per packet).
    pub fn tick(
        &mut self,
        table: &mut FlowTable,
        now: Timestamp,
        owners: &Owners,
        out: &mut Outbox,
    ) {
        match self.next {
            None => self.next = Some(self.boundary_after(now)),
            Some(b) if now >= b => {
                let minute = b.add_nanos(-1);
                self.emit(table, minute, owners, out);
                self.next = Some(self.boundary_after(now));
            }
            Some(_) => {}
        }
    }

    /// Hands every count not written yet to the writer, as rows of the
    /// minute containing `at`.
    pub fn emit(
        &mut self,
        table: &mut FlowTable,
        at: Timestamp,
        owners: &Owners,
        out: &mut Outbox,
    ) {
        self.send_unsent();
        let ts = at.as_nanos().div_euclid(1_000_000_000);
        let ts = ts - ts.rem_euclid(60);
        let mut rows = Vec::new();
        let (ifaces, names) = (&self.ifaces, &mut self.names);
        let unknown: Arc<str> = "?".into();
        table.take_unrecorded(|flow, [sent, received]| {
            let process = match flow.owner {
                0 => None,
                id => names
                    .entry(id)
                    .or_insert_with(|| {
                        owners
                            .get(id)
                            .filter(|o| !o.comm.is_empty())
                            .map(|o| o.comm.as_str().into())
                    })
                    .clone(),
            };
            let (local, local_port) = flow.src();
            let (remote, remote_port) = flow.dst();
            rows.push(Row {
                ts,
                iface: ifaces
                    .get(flow.iface as usize)
                    .cloned()
                    .unwrap_or_else(|| unknown.clone()),
                local,
                remote,
                local_port,
                remote_port,
                protocol: flow.key.protocol,
                process,
                counts: Counts {
                    packets_out: sent.packets,
                    bytes_out: sent.bytes,
                    packets_in: received.packets,
                    bytes_in: received.bytes,
                    tcp: tcp_counts(&sent.tcp, &received.tcp),
                },
            });
        });
        if self.share && !rows.is_empty() {
            // Shared, not copied: the writer gets them at the next call,
            // once the others have read them (see `send_unsent`).
            let rows = Arc::new(rows);
            out.rows(at, rows.clone());
            if self.store {
                self.unsent = Some(rows);
            }
            return;
        }
        if !self.store {
            return;
        }
        self.write_rows(rows);
    }

    /// Hands rows to the writer (started first if it was not).
    fn write_rows(&mut self, rows: Vec<Row>) {
        if self.writer.is_none() {
            if let Err(e) = self.start() {
                self.events
                    .push(format!("history: {e}; monitoring goes on without history"));
                return;
            }
        }
        if let Some(w) = &mut self.writer {
            w.send(rows);
        }
    }

    /// The rows of the last cut, for the writer now that the others have
    /// read them (a copy only if one of them still holds them).
    fn send_unsent(&mut self) {
        if let Some(rows) = self.unsent.take() {
            let rows = Arc::try_unwrap(rows).unwrap_or_else(|shared| (*shared).clone());
            self.write_rows(rows);
        }
    }

    /// Hands alerts to the writer.
    pub fn save_alerts(&mut self, alerts: Vec<AlertRecord>) {
        if alerts.is_empty() || !self.store {
            return;
        }
        if self.finished.is_some() {
            // After the writer finished, a new one would never be waited for.
            self.events.push(format!(
                "{} alert(s) raised after the history was closed were not stored",
                alerts.len()
            ));
            return;
        }
        if self.writer.is_none() && self.start().is_err() {
            return;
        }
        if let Some(w) = &mut self.writer {
            w.send_alerts(alerts);
        }
    }

    /// Messages for the user (queue overflow, write failures).
    pub fn take_events(&mut self) -> Vec<String> {
        let mut ev = std::mem::take(&mut self.events);
        if let Some(w) = &mut self.writer {
            ev.extend(w.take_events());
        }
        ev
    }

    /// Writes what is left (as rows of the table's current minute) and
    /// waits for the writer.
    pub fn finish(
        &mut self,
        table: &mut FlowTable,
        owners: &Owners,
        out: &mut Outbox,
    ) -> WriterStatus {
        let now = table.now();
        self.emit(table, now, owners, out);
        self.send_unsent();
        let status = match self.writer.take() {
            Some(w) => w.finish(),
            None => WriterStatus {
                error: self.events.pop(),
                ..WriterStatus::default()
            },
        };
        // A clean stop: the lock files this run made go.
        for l in self.locks.drain(..) {
            l.release();
        }
        self.finished = Some(status.clone());
        status
    }
}

/// Opens the recorder of a live run: a failure is reported and the run
/// goes on without history. Returns the recorder and the message to show.
pub fn open_live(
    h: Option<&HistorySettings>,
    ifaces: Vec<String>,
    clock: Arc<dyn Clock>,
) -> (Option<Recorder>, Option<String>) {
    let Some(h) = h else { return (None, None) };
    match Recorder::open(h, ifaces, true, clock) {
        Ok(r) => (Some(r), None),
        Err(e) => (
            None,
            Some(format!(
                "history: {e}; monitoring goes on without history (see --db, --no-history)"
            )),
        ),
    }
}

/// One line about what was written, for the end of a run.
pub fn summary(path: &str, st: &WriterStatus) -> String {
    let mut s = format!("history: {} rows written to {path}", st.rows_written);
    if st.alerts_written > 0 {
        s += &format!(" with {} alert(s)", st.alerts_written);
    }
    if st.rows_coarsened > 0 {
        s += &format!(
            "; {} rows were merged into {} coarser rows while the writer was behind",
            st.rows_coarsened, st.coarse_rows
        );
    }
    if let Some(e) = &st.error {
        s += &format!(
            "; writing stopped: {e} ({} rows not written)",
            st.rows_dropped
        );
    }
    s
}

/// Days of history the detectors learn from at start.
const WARM_DAYS: i64 = 28;

/// Teaches the detectors' baselines (per interface, local host and
/// process) and each host's usual bytes out to one destination from the
/// hour rows of the last four weeks of `path`. Returns what was learned,
/// for the user. Called before the privilege drop (the file may be root's).
pub fn warm_start(
    d: &mut Detection,
    path: &std::path::Path,
    now_secs: i64,
) -> Result<Option<String>, StoreError> {
    use wirewatch_detect::baseline::Subject;
    use wirewatch_store::{Columns, Resolution, Selection, Store};
    if !path.exists() {
        return Ok(None);
    }
    let store = SqliteStore::open_reader(path)?;
    let from = now_secs - WARM_DAYS * 86_400;
    let mut per: HashMap<(i64, Subject), u64> = HashMap::new();
    let mut out: HashMap<(i64, std::net::IpAddr, std::net::IpAddr), u64> = HashMap::new();
    // TCP health of the hours recorded with --tcp: segments and figures.
    let mut tcp: HashMap<(i64, Subject), (u64, RowTcp)> = HashMap::new();
    store.scan(
        Resolution::Hour,
        from,
        now_secs,
        &Selection::default(),
        Columns::ALL,
        &mut |r: &Row| {
            let b = r.counts.bytes_in + r.counts.bytes_out;
            *per.entry((r.ts, Subject::Iface(r.iface.to_string())))
                .or_default() += b;
            *per.entry((r.ts, Subject::Host(r.local))).or_default() += b;
            if let Some(p) = &r.process {
                *per.entry((r.ts, Subject::Process(p.to_string())))
                    .or_default() += b;
            }
            *out.entry((r.ts, r.local, r.remote)).or_default() += r.counts.bytes_out;
            let t = &r.counts.tcp;
            if r.protocol == wirewatch_wire::proto::TCP && *t != TcpCounts::default() {
                let mut subjects =
                    vec![Subject::Iface(r.iface.to_string()), Subject::Host(r.local)];
                subjects.extend(r.process.as_ref().map(|p| Subject::Process(p.to_string())));
                for s in subjects {
                    let (n, f) = tcp.entry((r.ts, s)).or_default();
                    *n += r.counts.packets();
                    f.add(&row_tcp(t));
                }
            }
        },
    )?;
    if per.is_empty() {
        return Ok(None);
    }
    // In time order, so the profiles learn as they would have live.
    let mut items: Vec<_> = per.into_iter().collect();
    items.sort();
    let hours: std::collections::BTreeSet<i64> = items.iter().map(|((t, _), _)| *t).collect();
    let e = d.engine_mut();
    for ((t, s), bytes) in items {
        e.warm_baseline(s, t, 60, bytes as f64 / 3600.0);
    }
    let mut tcp: Vec<_> = tcp.into_iter().collect();
    tcp.sort_by(|a, b| a.0.cmp(&b.0));
    for ((t, s), (segments, f)) in tcp {
        e.warm_tcp(&s, t, 60, segments, &f);
    }
    let mut busiest: HashMap<(i64, std::net::IpAddr), u64> = HashMap::new();
    for ((t, local, _), b) in out {
        let m = busiest.entry((t, local)).or_default();
        *m = (*m).max(b);
    }
    let mut busiest: Vec<_> = busiest.into_iter().collect();
    busiest.sort();
    for ((_, host), b) in busiest {
        e.warm_exfil(host, b);
    }
    Ok(Some(format!(
        "detection: baselines learned from {} hour(s) of history in {}",
        hours.len(),
        path.display()
    )))
}

/// A history row's TCP figures as detection reads them (`[out, in]`).
pub fn row_tcp(t: &TcpCounts) -> RowTcp {
    RowTcp {
        retrans: [t.retrans_out, t.retrans_in],
        rtt_samples: [t.rtt_out_samples, t.rtt_in_samples],
        rtt_sum_us: [t.rtt_out_us, t.rtt_in_us],
    }
}

/// [`warm_start`] for a live run, and the forecast watch's history of
/// `ifaces`: what happened is returned as one line (a failure only costs
/// the warm start).
pub fn warm_live(
    d: Option<&mut Detection>,
    h: Option<&HistorySettings>,
    ifaces: &[String],
    now: i64,
) -> Option<String> {
    let (d, h) = (d?, h?);
    d.preload_forecasts(ifaces, now);
    match warm_start(d, &h.path, now) {
        Ok(msg) => msg,
        Err(e) => Some(format!("detection: no warm start from history: {e}")),
    }
}

impl Consumer for Recorder {
    fn name(&self) -> &'static str {
        "history"
    }

    fn wants(&self) -> Wants {
        Wants {
            before_frame: true,
            ..Wants::default()
        }
    }

    /// Starts the writer thread (live: after the privilege drop, so it is
    /// born with none); a failure is said and the run goes on without
    /// history.
    fn begin(&mut self, _cx: &Context<'_>, out: &mut Outbox) -> anyhow::Result<()> {
        if let Err(e) = self.start() {
            out.note(format!("history: {e}; monitoring goes on without history"));
            self.store = false;
        }
        Ok(())
    }

    fn before_frame_due(&self) -> Option<Timestamp> {
        self.next
    }

    fn before_frame(
        &mut self,
        table: &mut FlowTable,
        ts: Timestamp,
        cx: &Context<'_>,
        out: &mut Outbox,
    ) {
        self.tick(table, ts, cx.owners, out);
    }

    fn advance(
        &mut self,
        table: &mut FlowTable,
        now: Timestamp,
        cx: &Context<'_>,
        out: &mut Outbox,
    ) {
        self.tick(table, now, cx.owners, out);
        for e in self.take_events() {
            out.note(e);
        }
    }

    fn alert(&mut self, a: &Alert) {
        self.save_alerts(vec![record_of(a)]);
    }

    /// The last rows go out now, while detection can still raise alerts
    /// from them and the writer still takes those.
    fn input_ended(&mut self, table: &mut FlowTable, cx: &Context<'_>, out: &mut Outbox) {
        let now = table.now();
        self.emit(table, now, cx.owners, out);
    }

    fn finish(
        &mut self,
        table: &mut FlowTable,
        _end: &Ending,
        cx: &Context<'_>,
        out: &mut Outbox,
    ) -> anyhow::Result<()> {
        let st = Recorder::finish(self, table, cx.owners, out);
        if !self.store {
            return Ok(());
        }
        out.note(summary(&self.path, &st));
        match st.error {
            Some(e) if self.strict => anyhow::bail!("history: {e}"),
            _ => Ok(()),
        }
    }
}

/// An alert as the history keeps it (the JSON shown live as its detail).
pub fn record_of(a: &Alert) -> AlertRecord {
    AlertRecord {
        ts_nanos: a.time.as_nanos(),
        kind: a.kind.as_str().into(),
        severity: a.severity.as_str().into(),
        entity: a.entity.to_string(),
        summary: a.summary.clone(),
        detail: crate::json::to_value(a)
            .map(|v| v.to_string())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirewatch_flow::FlowConfig;
    use wirewatch_wire::FixedClock;

    fn settings(dir: &std::path::Path) -> HistorySettings {
        HistorySettings {
            path: dir.join("history.db"),
            flush_nanos: 10_000_000_000,
            retention: Retention::default(),
        }
    }

    fn open(h: &HistorySettings, ifaces: &[&str]) -> Result<Recorder, StoreError> {
        let clock = Arc::new(FixedClock(Timestamp::from_nanos(1_800_000_000_000_000_000)));
        Recorder::open(
            h,
            ifaces.iter().map(|s| s.to_string()).collect(),
            true,
            clock,
        )
    }

    fn finish(r: &mut Recorder) {
        let mut table = FlowTable::new(FlowConfig::default());
        r.finish(&mut table, &Owners::default(), &mut Outbox::default());
    }

    /// The lock files a live recorder made are held while it records and
    /// removed at a clean stop; one that was there before stays.
    #[test]
    fn lock_files_made_by_a_run_go_at_its_clean_stop() {
        let dir = tempfile::tempdir().unwrap();
        let h = settings(dir.path());
        let stale = dir.path().join("history.db.eth1.lock");
        std::fs::write(&stale, b"").unwrap();
        let mut r = open(&h, &["eth0", "eth1"]).unwrap();
        let ours = dir.path().join("history.db.eth0.lock");
        assert!(ours.exists());
        let again = open(&h, &["eth0"]).err().expect("eth0 is being recorded");
        assert!(again
            .to_string()
            .contains("another wirewatch is recording eth0"));
        finish(&mut r);
        assert!(!ours.exists(), "the lock file made by this run is left");
        assert!(stale.exists(), "a lock file that was there before is gone");
        // Unlocked: the next run takes both.
        let mut next = open(&h, &["eth0", "eth1"]).unwrap();
        finish(&mut next);
    }
}
