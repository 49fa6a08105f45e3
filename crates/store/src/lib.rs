//! wirewatch's history: traffic per minute and flow, kept in an embedded
//! database, rolled up into hours and days, pruned by age, and queried;
//! the alerts raised on it ([`AlertRecord`]); and the audit trail of the
//! automated responses to them ([`ResponseRecord`]).
//!
//! ```
//! use std::net::IpAddr;
//! use wirewatch_store::{Counts, Row, SqliteStore, Store};
//!
//! let mut store = SqliteStore::open_in_memory().unwrap();
//! let row = Row {
//!     ts: 1_700_000_040,
//!     iface: "eth0".into(),
//!     local: "10.0.0.1".parse::<IpAddr>().unwrap(),
//!     remote: "192.0.2.7".parse::<IpAddr>().unwrap(),
//!     local_port: 50_000,
//!     remote_port: 443,
//!     protocol: 6,
//!     process: Some("curl".into()),
//!     counts: Counts { packets_out: 3, bytes_out: 180, packets_in: 4, bytes_in: 6_000, ..Default::default() },
//! };
//! store.append(&[row]).unwrap();
//! let top = wirewatch_store::query::top(
//!     &store,
//!     &wirewatch_store::query::Range { from: 0, to: i64::MAX / 2 },
//!     wirewatch_store::query::GroupBy::Remote,
//!     &Default::default(),
//!     10,
//! )
//! .unwrap();
//! assert_eq!(top.entries[0].key, "192.0.2.7");
//! ```
//!
//! The pipeline talks to [`Store`] only, so another engine can be added
//! without touching it; [`SqliteStore`] is the embedded default.
#![forbid(unsafe_code)]

use std::net::IpAddr;
use std::sync::Arc;

pub mod query;
pub mod responses;
mod sqlite;
pub mod time;
pub mod writer;

pub use responses::ResponseRecord;
pub use sqlite::{migrate_to_version, SqliteStore, SCHEMA_VERSION};

/// Packets and bytes in both directions: out = local → remote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counts {
    /// Packets sent by the local end.
    pub packets_out: u64,
    /// Bytes sent by the local end.
    pub bytes_out: u64,
    /// Packets received by the local end.
    pub packets_in: u64,
    /// Bytes received by the local end.
    pub bytes_in: u64,
    /// TCP health of the period (zero for minutes recorded without `--tcp`).
    pub tcp: TcpCounts,
}

/// TCP figures of a period, each additive (so rows merge and roll up by
/// sums): retransmissions each way, and RTT samples with their sum each way.
/// `out` is measured on the segments the local end sent (the path to the
/// remote end and back, from the capture point), `in` on the remote end's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpCounts {
    /// Segments the local end retransmitted.
    pub retrans_out: u64,
    /// Segments the remote end retransmitted.
    pub retrans_in: u64,
    /// RTT samples on the local end's segments.
    pub rtt_out_samples: u64,
    /// Their sum, microseconds.
    pub rtt_out_us: u64,
    /// RTT samples on the remote end's segments.
    pub rtt_in_samples: u64,
    /// Their sum, microseconds.
    pub rtt_in_us: u64,
}

impl TcpCounts {
    /// Adds another period's figures.
    pub fn add(&mut self, o: &TcpCounts) {
        for (a, b) in self.fields_mut().into_iter().zip(o.fields()) {
            *a += b;
        }
    }

    /// The fields in order (the order of the database's columns).
    pub fn fields(&self) -> [u64; 6] {
        [
            self.retrans_out,
            self.retrans_in,
            self.rtt_out_samples,
            self.rtt_out_us,
            self.rtt_in_samples,
            self.rtt_in_us,
        ]
    }

    /// The fields in order, to change.
    pub fn fields_mut(&mut self) -> [&mut u64; 6] {
        [
            &mut self.retrans_out,
            &mut self.retrans_in,
            &mut self.rtt_out_samples,
            &mut self.rtt_out_us,
            &mut self.rtt_in_samples,
            &mut self.rtt_in_us,
        ]
    }

    /// From the fields in order.
    pub fn from_fields(v: [u64; 6]) -> TcpCounts {
        let mut t = TcpCounts::default();
        for (a, b) in t.fields_mut().into_iter().zip(v) {
            *a = b;
        }
        t
    }

    /// The other end's view: out and in swapped.
    pub fn mirrored(&self) -> TcpCounts {
        TcpCounts {
            retrans_out: self.retrans_in,
            retrans_in: self.retrans_out,
            rtt_out_samples: self.rtt_in_samples,
            rtt_out_us: self.rtt_in_us,
            rtt_in_samples: self.rtt_out_samples,
            rtt_in_us: self.rtt_out_us,
        }
    }

    /// Segments retransmitted both ways.
    pub fn retransmissions(&self) -> u64 {
        self.retrans_out + self.retrans_in
    }

    /// The round trip between the two ends as the capture point saw it, in
    /// microseconds: the mean RTT of each side that has samples, added
    /// (like the handshake's server and client sides); `None` without
    /// samples.
    pub fn rtt_us(&self) -> Option<f64> {
        let side = |n: u64, sum: u64| (n > 0).then(|| sum as f64 / n as f64);
        match (
            side(self.rtt_out_samples, self.rtt_out_us),
            side(self.rtt_in_samples, self.rtt_in_us),
        ) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        }
    }

    /// RTT samples both ways.
    pub fn rtt_samples(&self) -> u64 {
        self.rtt_out_samples + self.rtt_in_samples
    }
}

impl Counts {
    /// Adds another set of counts.
    pub fn add(&mut self, o: &Counts) {
        self.packets_out += o.packets_out;
        self.bytes_out += o.bytes_out;
        self.packets_in += o.packets_in;
        self.bytes_in += o.bytes_in;
        self.tcp.add(&o.tcp);
    }

    /// Bytes in both directions.
    pub fn bytes(&self) -> u64 {
        self.bytes_out + self.bytes_in
    }

    /// Packets in both directions.
    pub fn packets(&self) -> u64 {
        self.packets_out + self.packets_in
    }

    /// Nothing counted.
    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }
}

/// One row of history: the traffic of one flow (host pair with ports) in
/// one period starting at `ts`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Row {
    /// Start of the period, seconds since the Unix epoch (UTC), a multiple
    /// of the period's length.
    pub ts: i64,
    /// Interface the flow was captured on (a file name for imports).
    pub iface: Arc<str>,
    /// Local end (the interface's own address, a `-F` network, or the initiator).
    pub local: IpAddr,
    /// Remote end.
    pub remote: IpAddr,
    /// Local port (0: none).
    pub local_port: u16,
    /// Remote port (0: none).
    pub remote_port: u16,
    /// IP protocol number.
    pub protocol: u8,
    /// Owning process name, when known.
    pub process: Option<Arc<str>>,
    /// Traffic.
    pub counts: Counts,
}

impl Row {
    /// The key without the period and counts.
    pub fn key(&self) -> FlowId {
        FlowId {
            iface: self.iface.clone(),
            local: self.local,
            remote: self.remote,
            local_port: self.local_port,
            remote_port: self.remote_port,
            protocol: self.protocol,
            process: self.process.clone(),
        }
    }
}

/// A row's identity apart from time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId {
    /// Interface.
    pub iface: Arc<str>,
    /// Local end.
    pub local: IpAddr,
    /// Remote end.
    pub remote: IpAddr,
    /// Local port.
    pub local_port: u16,
    /// Remote port.
    pub remote_port: u16,
    /// IP protocol.
    pub protocol: u8,
    /// Process name.
    pub process: Option<Arc<str>>,
}

/// The ports hour and day rows keep: the lower one (the service), with the
/// other (the client's ephemeral port) set to 0; equal ports are both kept,
/// and a pair with a 0 already (a rolled-up row, a flow without ports) is
/// kept as it is, so applying it twice changes nothing.
pub fn service_ports(local_port: u16, remote_port: u16) -> (u16, u16) {
    if local_port == 0 || remote_port == 0 {
        return (local_port, remote_port);
    }
    (
        if local_port <= remote_port {
            local_port
        } else {
            0
        },
        if remote_port <= local_port {
            remote_port
        } else {
            0
        },
    )
}

/// Time resolution of stored rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resolution {
    /// One row per flow and minute, both ports kept.
    Minute,
    /// One row per flow and hour, the ephemeral port dropped ([`service_ports`]).
    Hour,
    /// One row per flow and UTC day, the ephemeral port dropped.
    Day,
}

impl Resolution {
    /// Every resolution, finest first.
    pub const ALL: [Resolution; 3] = [Resolution::Minute, Resolution::Hour, Resolution::Day];

    /// Length of one period in seconds.
    pub fn secs(self) -> i64 {
        match self {
            Resolution::Minute => 60,
            Resolution::Hour => 3_600,
            Resolution::Day => 86_400,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Resolution::Minute => "minute",
            Resolution::Hour => "hour",
            Resolution::Day => "day",
        }
    }

    /// The start of the period containing `ts`.
    pub fn floor(self, ts: i64) -> i64 {
        ts - ts.rem_euclid(self.secs())
    }
}

/// How long each resolution is kept, in seconds before the newest stored
/// minute (`None`: forever).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Minute rows (default 7 days).
    pub minutes: Option<i64>,
    /// Hour rows (default 90 days).
    pub hours: Option<i64>,
    /// Day rows (default forever).
    pub days: Option<i64>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            minutes: Some(7 * 86_400),
            hours: Some(90 * 86_400),
            days: None,
        }
    }
}

impl Retention {
    /// How long rows of `r` are kept.
    pub fn of(&self, r: Resolution) -> Option<i64> {
        match r {
            Resolution::Minute => self.minutes,
            Resolution::Hour => self.hours,
            Resolution::Day => self.days,
        }
    }
}

/// One stored alert, in a form that does not depend on the detector: the
/// columns queries select and print, and the whole alert as JSON.
///
/// Alerts are kept as long as day rows: forever by default, else pruned
/// with the same limit as day rows (`keep-days`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AlertRecord {
    /// When it fired, nanoseconds since the Unix epoch (UTC).
    pub ts_nanos: i64,
    /// What kind of thing happened (the detector's kind name, e.g. `port_scan`).
    pub kind: String,
    /// How urgent (the detector's severity name).
    pub severity: String,
    /// About whom (a host, a pair, a process…), as the alert prints it.
    pub entity: String,
    /// One sentence a person understands.
    pub summary: String,
    /// The whole alert as one JSON object, as it was printed live; kept as
    /// text and given back unchanged.
    pub detail: String,
}

/// Conditions a scan applies in the engine (all must hold).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Interface name.
    pub iface: Option<String>,
    /// Process name.
    pub process: Option<String>,
    /// Either end's address.
    pub host: Option<IpAddr>,
    /// Either end's port.
    pub port: Option<u16>,
    /// IP protocol.
    pub protocol: Option<u8>,
}

impl Selection {
    /// Whether `r` satisfies every condition (what the engine's scan applies).
    pub fn matches(&self, r: &Row) -> bool {
        self.iface.as_deref().is_none_or(|i| *r.iface == *i)
            && self
                .process
                .as_deref()
                .is_none_or(|p| r.process.as_deref() == Some(p))
            && self.host.is_none_or(|h| r.local == h || r.remote == h)
            && self
                .port
                .is_none_or(|p| r.local_port == p || r.remote_port == p)
            && self.protocol.is_none_or(|p| r.protocol == p)
    }

    /// No condition.
    pub fn is_empty(&self) -> bool {
        *self == Selection::default()
    }
}

/// The columns a scan must fill; the others get placeholders (unspecified
/// addresses, port 0, no process, an empty interface name), which spares
/// the engine reading them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Columns {
    /// Local and remote addresses.
    pub hosts: bool,
    /// Ports and protocol.
    pub ports: bool,
    /// Process name.
    pub process: bool,
    /// Interface name.
    pub iface: bool,
}

impl Columns {
    /// Every column.
    pub const ALL: Columns = Columns {
        hosts: true,
        ports: true,
        process: true,
        iface: true,
    };
    /// Counts and time only.
    pub const NONE: Columns = Columns {
        hosts: false,
        ports: false,
        process: false,
        iface: false,
    };
}

/// What a resolution holds: rows from `oldest` up to (not including)
/// `complete_until`; later periods may still be rolled up into it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// Start of the oldest period kept (`None`: no rows).
    pub oldest: Option<i64>,
    /// Every period before this is complete in this resolution.
    pub complete_until: i64,
    /// Rows before this were deleted by retention (`None`: nothing deleted
    /// yet); a multiple of the next coarser period.
    pub pruned_until: Option<i64>,
}

/// What each resolution holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Minute rows: complete up to the newest minute written.
    pub minute: Span,
    /// Hour rows.
    pub hour: Span,
    /// Day rows.
    pub day: Span,
    /// Start of the newest minute written (`None`: empty store).
    pub newest_minute: Option<i64>,
}

impl Coverage {
    /// The span of one resolution.
    pub fn of(&self, r: Resolution) -> Span {
        match r {
            Resolution::Minute => self.minute,
            Resolution::Hour => self.hour,
            Resolution::Day => self.day,
        }
    }
}

/// Work done by one [`Store::maintain`] call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// Hours rolled up from minutes.
    pub hours_rolled: u64,
    /// Days rolled up from hours.
    pub days_rolled: u64,
    /// Rows deleted by retention.
    pub rows_pruned: u64,
    /// Alerts deleted by retention (with the day rows' limit).
    pub alerts_pruned: u64,
    /// Response records deleted: by the day rows' limit, or past the
    /// newest [`responses::RESPONSES_KEPT`] (blocks in force are kept).
    pub responses_pruned: u64,
    /// More work is waiting (call again).
    pub more: bool,
}

/// A store failure, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine failed.
    #[error("{what}: {source}")]
    Engine {
        /// What was being done.
        what: String,
        /// The engine's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer wirewatch.
    #[error("{path}: schema version {found} is newer than this wirewatch knows ({known}); use a newer wirewatch")]
    TooNew {
        /// Database path.
        path: String,
        /// Version in the file.
        found: i64,
        /// Newest version known here.
        known: i64,
    },
    /// A file or directory problem.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The database holds something this version cannot read.
    #[error("{0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the failure is a full disk (or the database reached its size limit).
    pub fn is_full(&self) -> bool {
        matches!(self, StoreError::Engine { source: rusqlite::Error::SqliteFailure(e, _), .. }
            if e.code == rusqlite::ErrorCode::DiskFull)
    }

    /// Whether the database or its folder cannot be written.
    pub fn is_read_only(&self) -> bool {
        match self {
            StoreError::Engine {
                source: rusqlite::Error::SqliteFailure(e, _),
                ..
            } => matches!(
                e.code,
                rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen
            ),
            StoreError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ),
            _ => false,
        }
    }
}

/// A history engine. Writing and reading are separate handles: a writer
/// thread owns one, each query opens its own.
pub trait Store: Send {
    /// Adds minute rows in one transaction; rows whose key and minute are
    /// already stored are added to them. Rows for periods already rolled up
    /// are added to the coarser resolutions too, so sums stay equal.
    fn append(&mut self, rows: &[Row]) -> Result<(), StoreError>;

    /// Rolls complete hours and days up and prunes rows older than
    /// `retention`, counted back from the newest stored minute or `now`,
    /// whichever is earlier (a row stamped in the future must not prune
    /// the present), doing at most `budget` periods of each kind of work.
    fn maintain(
        &mut self,
        retention: &Retention,
        now: i64,
        budget: u32,
    ) -> Result<Maintenance, StoreError>;

    /// What each resolution holds.
    fn coverage(&self) -> Result<Coverage, StoreError>;

    /// Calls `f` with every row of `res` with `from <= ts < to` that
    /// `sel` selects, in time order, with at least `cols` filled in.
    fn scan(
        &self,
        res: Resolution,
        from: i64,
        to: i64,
        sel: &Selection,
        cols: Columns,
        f: &mut dyn FnMut(&Row),
    ) -> Result<(), StoreError>;

    /// Another handle on the same data, for reading in parallel (`None`
    /// when the engine cannot: an in-memory database).
    fn reader(&self) -> Option<Box<dyn Store>>;

    /// Calls `f(ts, iface, counts)` with the interface totals of `res`
    /// periods in `[from, to)` (optionally one interface), in time order.
    fn totals(
        &self,
        res: Resolution,
        from: i64,
        to: i64,
        iface: Option<&str>,
        f: &mut dyn FnMut(i64, &str, &Counts),
    ) -> Result<(), StoreError>;

    /// Adds alerts in one transaction (all or none). Alerts are kept as
    /// long as day rows: forever by default, else [`Store::maintain`]
    /// prunes them with the day rows' limit.
    fn append_alerts(&mut self, alerts: &[AlertRecord]) -> Result<(), StoreError>;

    /// Calls `f` with every alert with `from_nanos <= ts_nanos < to_nanos`
    /// (and of that kind, if given), in time order (alerts of the same
    /// nanosecond in the order they were appended).
    fn alerts(
        &self,
        from_nanos: i64,
        to_nanos: i64,
        kind: Option<&str>,
        f: &mut dyn FnMut(&AlertRecord),
    ) -> Result<(), StoreError>;
}
