//! The embedded engine: SQLite (bundled with rusqlite) in WAL mode.
//!
//! Rows are kept in `WITHOUT ROWID` tables whose primary key starts with
//! the period, so rows are stored in time order: a time range is one
//! contiguous read, appends land at the end, and a key written twice in the
//! same period is merged by an upsert instead of duplicated.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};
use wirewatch_units::Clock;

use crate::{
    responses, service_ports, AlertRecord, Columns, Counts, Coverage, Maintenance, Resolution,
    Retention, Row, Selection, Span, Store, StoreError, TcpCounts,
};

/// Schema version written by this build (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 5;

/// `MIGRATIONS[k]` takes a database from version `k` to `k + 1`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    // 0 → 1: the first schema.
    "PRAGMA application_id = 2004314212;
     CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
     CREATE TABLE label (id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, text TEXT NOT NULL,
                         UNIQUE (kind, text));
     CREATE TABLE minute (ts INTEGER NOT NULL, iface INTEGER NOT NULL, local BLOB NOT NULL,
        remote BLOB NOT NULL, lport INTEGER NOT NULL, rport INTEGER NOT NULL,
        proto INTEGER NOT NULL, proc INTEGER NOT NULL, pkts_out INTEGER NOT NULL,
        bytes_out INTEGER NOT NULL, pkts_in INTEGER NOT NULL, bytes_in INTEGER NOT NULL,
        PRIMARY KEY (ts, iface, local, remote, lport, rport, proto, proc)) WITHOUT ROWID;
     CREATE TABLE hour (ts INTEGER NOT NULL, iface INTEGER NOT NULL, local BLOB NOT NULL,
        remote BLOB NOT NULL, lport INTEGER NOT NULL, rport INTEGER NOT NULL,
        proto INTEGER NOT NULL, proc INTEGER NOT NULL, pkts_out INTEGER NOT NULL,
        bytes_out INTEGER NOT NULL, pkts_in INTEGER NOT NULL, bytes_in INTEGER NOT NULL,
        PRIMARY KEY (ts, iface, local, remote, lport, rport, proto, proc)) WITHOUT ROWID;
     CREATE TABLE day (ts INTEGER NOT NULL, iface INTEGER NOT NULL, local BLOB NOT NULL,
        remote BLOB NOT NULL, lport INTEGER NOT NULL, rport INTEGER NOT NULL,
        proto INTEGER NOT NULL, proc INTEGER NOT NULL, pkts_out INTEGER NOT NULL,
        bytes_out INTEGER NOT NULL, pkts_in INTEGER NOT NULL, bytes_in INTEGER NOT NULL,
        PRIMARY KEY (ts, iface, local, remote, lport, rport, proto, proc)) WITHOUT ROWID;
     CREATE TABLE iface_minute (ts INTEGER NOT NULL, iface INTEGER NOT NULL,
        pkts_out INTEGER NOT NULL, bytes_out INTEGER NOT NULL, pkts_in INTEGER NOT NULL,
        bytes_in INTEGER NOT NULL, PRIMARY KEY (ts, iface)) WITHOUT ROWID;
     CREATE TABLE iface_hour (ts INTEGER NOT NULL, iface INTEGER NOT NULL,
        pkts_out INTEGER NOT NULL, bytes_out INTEGER NOT NULL, pkts_in INTEGER NOT NULL,
        bytes_in INTEGER NOT NULL, PRIMARY KEY (ts, iface)) WITHOUT ROWID;
     CREATE TABLE iface_day (ts INTEGER NOT NULL, iface INTEGER NOT NULL,
        pkts_out INTEGER NOT NULL, bytes_out INTEGER NOT NULL, pkts_in INTEGER NOT NULL,
        bytes_in INTEGER NOT NULL, PRIMARY KEY (ts, iface)) WITHOUT ROWID;",
    // 1 → 2: alerts. A rowid table: alerts of the same nanosecond keep the
    // order they were written in.
    "CREATE TABLE alert (ts INTEGER NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL,
        entity TEXT NOT NULL, summary TEXT NOT NULL, detail TEXT NOT NULL);
     CREATE INDEX alert_ts ON alert (ts);
     CREATE INDEX alert_kind ON alert (kind, ts);",
    // 2 → 3: when each hour's rows were last written (by the writer's
    // clock), so an import keeps its detail for the retention counted from
    // when it was imported. Hours written before this version have none.
    "CREATE TABLE written (hour INTEGER PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;",
    // 3 → 4: the audit trail of automated responses (`crate::responses`).
    // A rowid table: the id orders records as they were written. Times in
    // nanoseconds. The two partial indexes hold only the blocks not ended
    // (in force, or expired), by expiry (no expiry: the end of time) for
    // listing and flushing, and by target for removal and replacement.
    "CREATE TABLE responses (id INTEGER PRIMARY KEY, decided INTEGER NOT NULL,
        mode TEXT NOT NULL, outcome TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
        rule TEXT NOT NULL, alert_kind TEXT NOT NULL, alert_entity TEXT NOT NULL,
        alert_json TEXT NOT NULL, reason TEXT NOT NULL, expires INTEGER, ended INTEGER,
        ended_how TEXT);
     CREATE INDEX responses_decided ON responses (decided);
     CREATE INDEX responses_open ON responses (IFNULL(expires, 9223372036854775807))
        WHERE outcome = 'blocked' AND ended IS NULL;
     CREATE INDEX responses_target ON responses (target, IFNULL(expires, 9223372036854775807))
        WHERE outcome = 'blocked' AND ended IS NULL;",
    // 4 → 5: TCP health per flow and period (`--tcp`): retransmissions
    // each way, RTT samples and their sum (µs) each way. Rows written
    // before have zeros, as rows recorded without `--tcp` do.
    "ALTER TABLE minute ADD COLUMN retr_out INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE minute ADD COLUMN retr_in INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE minute ADD COLUMN rtt_out_n INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE minute ADD COLUMN rtt_out_us INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE minute ADD COLUMN rtt_in_n INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE minute ADD COLUMN rtt_in_us INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE hour ADD COLUMN retr_out INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE hour ADD COLUMN retr_in INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE hour ADD COLUMN rtt_out_n INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE hour ADD COLUMN rtt_out_us INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE hour ADD COLUMN rtt_in_n INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE hour ADD COLUMN rtt_in_us INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE day ADD COLUMN retr_out INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE day ADD COLUMN retr_in INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE day ADD COLUMN rtt_out_n INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE day ADD COLUMN rtt_out_us INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE day ADD COLUMN rtt_in_n INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE day ADD COLUMN rtt_in_us INTEGER NOT NULL DEFAULT 0;",
];

/// The TCP columns of the flow tables, in [`TcpCounts::fields`] order.
const TCP_COLUMNS: [&str; 6] = [
    "retr_out",
    "retr_in",
    "rtt_out_n",
    "rtt_out_us",
    "rtt_in_n",
    "rtt_in_us",
];

/// `col = col + excluded.col` for every counter column of a flow table.
fn add_excluded() -> String {
    ["pkts_out", "bytes_out", "pkts_in", "bytes_in"]
        .iter()
        .chain(&TCP_COLUMNS)
        .map(|c| format!("{c} = {c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `SUM(col)` of every counter column of a flow table.
fn sum_counters() -> String {
    ["pkts_out", "bytes_out", "pkts_in", "bytes_in"]
        .iter()
        .chain(&TCP_COLUMNS)
        .map(|c| format!("SUM({c})"))
        .collect::<Vec<_>>()
        .join(", ")
}

const KIND_IFACE: i64 = 0;
const KIND_PROCESS: i64 = 1;

/// Meta keys: every minute before `hour_rolled` is in the hour table, every
/// hour before `day_rolled` in the day table; rows of a resolution before
/// its `*_pruned` mark are deleted.
const META_NEWEST: &str = "newest_minute";
const META_HOUR_ROLLED: &str = "hour_rolled";
const META_DAY_ROLLED: &str = "day_rolled";

fn pruned_key(r: Resolution) -> &'static str {
    match r {
        Resolution::Minute => "minute_pruned",
        Resolution::Hour => "hour_pruned",
        Resolution::Day => "day_pruned",
    }
}

fn flow_table(r: Resolution) -> &'static str {
    r.name()
}

fn iface_table(r: Resolution) -> &'static str {
    match r {
        Resolution::Minute => "iface_minute",
        Resolution::Hour => "iface_hour",
        Resolution::Day => "iface_day",
    }
}

pub(crate) fn engine(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Engine { what, source }
}

/// Addresses are stored as 4 or 16 bytes.
fn addr_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

fn addr_from(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?))),
        _ => None,
    }
}

/// The embedded SQLite store.
pub struct SqliteStore {
    pub(crate) conn: Connection,
    pub(crate) path: String,
    /// Label ids by kind and text.
    ids: HashMap<(i64, Arc<str>), i64>,
    /// Label texts by id (ids are small and dense).
    texts: std::cell::RefCell<Vec<Option<Arc<str>>>>,
    /// The clock appends are stamped with ([`SqliteStore::set_clock`]).
    clock: Option<Arc<dyn Clock>>,
}

impl SqliteStore {
    /// Opens (creating it and its folder when missing) a database for
    /// writing, upgrading its schema.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        // Who talked to whom is private: the folder and file are the owner's.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(dir)
                .map_err(|source| StoreError::Io {
                    what: format!("creating {}", dir.display()),
                    source,
                })?;
        }
        let name = path.display().to_string();
        // Create the file here first: the OS says why it cannot be
        // (read-only file system, permission), where SQLite only says
        // "unable to open".
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| StoreError::Io {
                what: format!("opening {name}"),
                source,
            })?;
        let conn = Connection::open(path).map_err(engine(format!("opening {name}")))?;
        Self::setup(conn, name, true)
    }

    /// Opens an existing database for queries. It is upgraded when it may
    /// be written; a read-only one must already have the current schema.
    pub fn open_reader(path: &Path) -> Result<SqliteStore, StoreError> {
        let name = path.display().to_string();
        if !path.exists() {
            return Err(StoreError::Io {
                what: format!("{name}: no history there (nothing recorded yet?)"),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        // Read-only: a query never changes the file (not even its journal
        // mode), whatever file it is pointed at.
        let ro = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(path, ro).map_err(engine(format!("opening {name}")))?;
        Self::setup(conn, name, false)
    }

    /// A private in-memory database (tests, examples).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_in_memory().map_err(engine("opening memory database"))?;
        Self::setup(conn, ":memory:".into(), true)
    }

    fn setup(conn: Connection, path: String, writable: bool) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(engine(format!("{path}: setting the busy timeout")))?;
        // Before anything writes: is this ours?
        check_identity(&conn, &path)?;
        if writable {
            // WAL: readers never block the writer nor it them; NORMAL sync
            // loses nothing committed when the process dies (only a power
            // cut can take the last commits).
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(engine(format!("{path}: enabling WAL")))?;
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(engine(format!("{path}: setting synchronous")))?;
        }
        tune(&conn).map_err(engine(format!("{path}: setting up the connection")))?;
        let mut s = SqliteStore {
            conn,
            path,
            ids: HashMap::new(),
            texts: Default::default(),
            clock: None,
        };
        s.migrate(writable)?;
        Ok(s)
    }

    /// Stamps every hour an append writes with `clock`'s time, so that
    /// retention counts an imported hour from when it was imported (see
    /// [`Store::maintain`]). Without a clock nothing is stamped and
    /// retention counts from the newest minute alone.
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = Some(clock);
    }

    /// The schema version in the file.
    pub fn version(&self) -> Result<i64, StoreError> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(engine(format!("{}: reading the schema version", self.path)))
    }

    fn migrate(&mut self, writable: bool) -> Result<(), StoreError> {
        let found = self.version()?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        if !writable {
            return Err(StoreError::Corrupt(if found == 0 {
                format!("{}: no history there (an empty database)", self.path)
            } else {
                format!(
                    "{}: written by an older wirewatch (schema {found}, this one reads {SCHEMA_VERSION}): record into it once (wirewatch --db {}) to upgrade it",
                    self.path, self.path
                )
            }));
        }
        let path = self.path.clone();
        migrate_to(&mut self.conn, SCHEMA_VERSION).map_err(engine(format!(
            "{path}: upgrading the schema from version {found}"
        )))
    }

    fn label_id(
        tx: &Transaction<'_>,
        ids: &mut HashMap<(i64, Arc<str>), i64>,
        kind: i64,
        text: &Arc<str>,
    ) -> rusqlite::Result<i64> {
        if let Some(&id) = ids.get(&(kind, text.clone())) {
            return Ok(id);
        }
        tx.execute(
            "INSERT INTO label (kind, text) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![kind, &**text],
        )?;
        let id: i64 = tx.query_row(
            "SELECT id FROM label WHERE kind = ?1 AND text = ?2",
            params![kind, &**text],
            |r| r.get(0),
        )?;
        ids.insert((kind, text.clone()), id);
        Ok(id)
    }

    fn text(&self, id: i64) -> Result<Option<Arc<str>>, StoreError> {
        if id == 0 {
            return Ok(None);
        }
        if let Some(Some(t)) = self.texts.borrow().get(id as usize) {
            return Ok(Some(t.clone()));
        }
        // Unknown id: (re)load every label (there are few).
        let mut m = self.texts.borrow_mut();
        let mut st = self
            .conn
            .prepare("SELECT id, text FROM label")
            .map_err(engine(format!("{}: reading labels", self.path)))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(engine(format!("{}: reading labels", self.path)))?;
        for r in rows {
            let (i, t) = r.map_err(engine(format!("{}: reading labels", self.path)))?;
            let i = usize::try_from(i)
                .map_err(|_| StoreError::Corrupt(format!("{}: label id {i}", self.path)))?;
            if m.len() <= i {
                m.resize(i + 1, None);
            }
            m[i] = Some(t.into());
        }
        m.get(id as usize)
            .cloned()
            .flatten()
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt(format!("{}: label {id} is missing", self.path)))
    }

    fn label_lookup(&self, kind: i64, text: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT id FROM label WHERE kind = ?1 AND text = ?2",
                params![kind, text],
                |r| r.get(0),
            )
            .optional()
            .map_err(engine(format!("{}: reading labels", self.path)))
    }

    /// The names of every interface (or imported file) ever recorded,
    /// sorted.
    pub fn interfaces(&self) -> Result<Vec<String>, StoreError> {
        let what = || format!("{}: reading labels", self.path);
        let mut st = self
            .conn
            .prepare("SELECT text FROM label WHERE kind = ?1 ORDER BY text")
            .map_err(engine(what()))?;
        let names = st
            .query_map([KIND_IFACE], |r| r.get(0))
            .map_err(engine(what()))?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(engine(what()));
        names
    }

    /// Number of rows of each resolution (for reports and benchmarks).
    pub fn row_counts(&self) -> Result<[u64; 3], StoreError> {
        let mut out = [0; 3];
        for (k, r) in Resolution::ALL.iter().enumerate() {
            out[k] = self
                .conn
                .query_row(
                    &format!("SELECT COUNT(*) FROM {}", flow_table(*r)),
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(engine(format!("{}: counting rows", self.path)))?
                as u64;
        }
        Ok(out)
    }

    /// Runs SQLite's own consistency check; `Ok(())` when it reports "ok".
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        let r: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(engine(format!("{}: integrity check", self.path)))?;
        if r == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt(format!("{}: {r}", self.path)))
        }
    }

    /// Writes the WAL back into the database file (done automatically as
    /// the WAL grows; call before copying the file).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .map_err(engine(format!("{}: checkpoint", self.path)))
    }
}

/// `PRAGMA application_id` of wirewatch history databases ("wwhd").
pub const APPLICATION_ID: i64 = 0x7777_6864;

/// Refuses a file that is some other program's SQLite database, and a
/// schema newer than this build knows, before anything is written to it.
fn check_identity(conn: &Connection, path: &str) -> Result<(), StoreError> {
    // One statement, so one snapshot: another process creating the schema
    // at the same moment is seen either before or after, never halfway.
    let (app, version, tables): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT application_id FROM pragma_application_id()),
                    (SELECT user_version FROM pragma_user_version()),
                    (SELECT COUNT(*) FROM sqlite_master)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(engine(format!("{path}: reading the header")))?;
    if app != APPLICATION_ID && (tables > 0 || version > 0) {
        return Err(StoreError::Corrupt(format!(
            "{path}: not a wirewatch history database (another program's SQLite file?)"
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_string(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Settings of every connection: temporary tables in memory (nothing to
/// create after a privilege drop), and the file mapped into memory so
/// long scans do not copy every page through read(2).
fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "mmap_size", 1i64 << 30)
}

/// Applies the migrations from the file's version up to `target`, each in
/// its own transaction. Public to the crate's tests through [`migrate_to_version`].
fn migrate_to(conn: &mut Connection, target: i64) -> rusqlite::Result<()> {
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let v: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if v >= target {
            return Ok(());
        }
        tx.execute_batch(MIGRATIONS[v as usize])?;
        tx.pragma_update(None, "user_version", v + 1)?;
        tx.commit()?;
    }
}

/// Creates (or upgrades) the database at `path` to schema `version` only,
/// as an older wirewatch would have left it (for migration tests).
#[doc(hidden)]
pub fn migrate_to_version(path: &Path, version: i64) -> Result<(), StoreError> {
    let mut conn = Connection::open(path).map_err(engine("opening"))?;
    migrate_to(&mut conn, version).map_err(engine("migrating"))
}

fn meta_get(tx: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

fn meta_set(tx: &Connection, key: &str, v: i64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, v],
    )
    .map(|_| ())
}

fn upsert_flow_sql(table: &str) -> String {
    let values: Vec<String> = (1..=18).map(|k| format!("?{k}")).collect();
    format!(
        "INSERT INTO {table} VALUES ({})
         ON CONFLICT DO UPDATE SET {}",
        values.join(", "),
        add_excluded()
    )
}

fn upsert_iface_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT DO UPDATE SET pkts_out = pkts_out + excluded.pkts_out,
           bytes_out = bytes_out + excluded.bytes_out, pkts_in = pkts_in + excluded.pkts_in,
           bytes_in = bytes_in + excluded.bytes_in"
    )
}

/// A row with its labels as ids, ready to bind.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    ts: i64,
    iface: i64,
    local: IpAddr,
    remote: IpAddr,
    lport: u16,
    rport: u16,
    proto: u8,
    proc_id: i64,
}

fn put_flow(st: &mut rusqlite::CachedStatement<'_>, k: &Key, c: &Counts) -> rusqlite::Result<()> {
    st.execute(params![
        k.ts,
        k.iface,
        addr_bytes(&k.local),
        addr_bytes(&k.remote),
        k.lport,
        k.rport,
        k.proto,
        k.proc_id,
        c.packets_out as i64,
        c.bytes_out as i64,
        c.packets_in as i64,
        c.bytes_in as i64,
        c.tcp.retrans_out as i64,
        c.tcp.retrans_in as i64,
        c.tcp.rtt_out_samples as i64,
        c.tcp.rtt_out_us as i64,
        c.tcp.rtt_in_samples as i64,
        c.tcp.rtt_in_us as i64
    ])
    .map(|_| ())
}

fn put_iface(
    st: &mut rusqlite::CachedStatement<'_>,
    ts: i64,
    iface: i64,
    c: &Counts,
) -> rusqlite::Result<()> {
    st.execute(params![
        ts,
        iface,
        c.packets_out as i64,
        c.bytes_out as i64,
        c.packets_in as i64,
        c.bytes_in as i64
    ])
    .map(|_| ())
}

type Fast = foldhash::fast::RandomState;

/// Rows of one resolution merged by key, and their interface totals.
#[derive(Default)]
struct Merged {
    flows: HashMap<Key, Counts, Fast>,
    ifaces: HashMap<(i64, i64), Counts, Fast>,
}

impl Merged {
    fn add(&mut self, k: Key, c: &Counts) {
        self.ifaces.entry((k.ts, k.iface)).or_default().add(c);
        self.flows.entry(k).or_default().add(c);
    }

    fn write(&self, tx: &Transaction<'_>, r: Resolution) -> rusqlite::Result<()> {
        let mut st = tx.prepare_cached(&upsert_flow_sql(flow_table(r)))?;
        for (k, c) in &self.flows {
            put_flow(&mut st, k, c)?;
        }
        let mut st = tx.prepare_cached(&upsert_iface_sql(iface_table(r)))?;
        for ((ts, i), c) in &self.ifaces {
            put_iface(&mut st, *ts, *i, c)?;
        }
        Ok(())
    }
}

impl SqliteStore {
    fn append_tx(&mut self, rows: &[Row]) -> rusqlite::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let hour_rolled = meta_get(&tx, META_HOUR_ROLLED)?.unwrap_or(i64::MIN);
        let day_rolled = meta_get(&tx, META_DAY_ROLLED)?.unwrap_or(i64::MIN);
        let mut newest = meta_get(&tx, META_NEWEST)?.unwrap_or(i64::MIN);
        let mut ifaces: HashMap<(i64, i64), Counts, Fast> = HashMap::default();
        // Rows for periods already rolled up also go into the coarser tables.
        let mut late_hours = Merged::default();
        let mut late_days = Merged::default();
        {
            let mut st = tx.prepare_cached(&upsert_flow_sql(flow_table(Resolution::Minute)))?;
            for r in rows {
                let ts = Resolution::Minute.floor(r.ts);
                newest = newest.max(ts);
                let iface = Self::label_id(&tx, &mut self.ids, KIND_IFACE, &r.iface)?;
                let proc_id = match &r.process {
                    Some(p) => Self::label_id(&tx, &mut self.ids, KIND_PROCESS, p)?,
                    None => 0,
                };
                let k = Key {
                    ts,
                    iface,
                    local: r.local,
                    remote: r.remote,
                    lport: r.local_port,
                    rport: r.remote_port,
                    proto: r.protocol,
                    proc_id,
                };
                put_flow(&mut st, &k, &r.counts)?;
                ifaces.entry((ts, iface)).or_default().add(&r.counts);
                if ts < hour_rolled {
                    let (lport, rport) = service_ports(k.lport, k.rport);
                    let hk = Key {
                        ts: Resolution::Hour.floor(ts),
                        lport,
                        rport,
                        ..k
                    };
                    if hk.ts < day_rolled {
                        late_days.add(
                            Key {
                                ts: Resolution::Day.floor(ts),
                                ..hk.clone()
                            },
                            &r.counts,
                        );
                    }
                    late_hours.add(hk, &r.counts);
                }
            }
        }
        {
            let mut st = tx.prepare_cached(&upsert_iface_sql(iface_table(Resolution::Minute)))?;
            for ((ts, i), c) in &ifaces {
                put_iface(&mut st, *ts, *i, c)?;
            }
        }
        late_hours.write(&tx, Resolution::Hour)?;
        late_days.write(&tx, Resolution::Day)?;
        if let Some(c) = &self.clock {
            let at = c.now().as_nanos().div_euclid(1_000_000_000);
            let hours: std::collections::BTreeSet<i64> = ifaces
                .keys()
                .map(|(ts, _)| Resolution::Hour.floor(*ts))
                .collect();
            let mut st = tx.prepare_cached(
                "INSERT INTO written (hour, at) VALUES (?1, ?2)
                 ON CONFLICT DO UPDATE SET at = MAX(at, excluded.at)",
            )?;
            for h in hours {
                st.execute(params![h, at])?;
            }
        }
        if newest > i64::MIN {
            meta_set(&tx, META_NEWEST, newest)?;
        }
        tx.commit()
    }

    /// Rolls `[start, start + to.secs())` of `from` into `to`.
    fn roll(
        tx: &Transaction<'_>,
        from: Resolution,
        to: Resolution,
        start: i64,
    ) -> rusqlite::Result<()> {
        let (src, dst) = (flow_table(from), flow_table(to));
        let n = to.secs();
        tx.execute(
            &format!(
                "INSERT INTO {dst}
                 SELECT ?1, iface, local, remote,
                   CASE WHEN lport = 0 OR rport = 0 OR lport <= rport THEN lport ELSE 0 END,
                   CASE WHEN lport = 0 OR rport = 0 OR rport <= lport THEN rport ELSE 0 END,
                   proto, proc, {}
                 FROM {src} WHERE ts >= ?1 AND ts < ?1 + {n}
                 GROUP BY 2, 3, 4, 5, 6, 7, 8
                 ON CONFLICT DO UPDATE SET {}",
                sum_counters(),
                add_excluded()
            ),
            [start],
        )?;
        let (src, dst) = (iface_table(from), iface_table(to));
        tx.execute(
            &format!(
                "INSERT INTO {dst}
                 SELECT ?1, iface, SUM(pkts_out), SUM(bytes_out), SUM(pkts_in), SUM(bytes_in)
                 FROM {src} WHERE ts >= ?1 AND ts < ?1 + {n} GROUP BY 2
                 ON CONFLICT DO UPDATE SET pkts_out = pkts_out + excluded.pkts_out,
                   bytes_out = bytes_out + excluded.bytes_out,
                   pkts_in = pkts_in + excluded.pkts_in, bytes_in = bytes_in + excluded.bytes_in"
            ),
            [start],
        )?;
        Ok(())
    }

    /// Rolls complete periods of `from` up into `to`, at most `budget` of
    /// them; `mark` is the meta key of what is rolled, `until` the end of
    /// complete `from` data. Returns (periods rolled, more to do).
    fn roll_up(
        tx: &Transaction<'_>,
        from: Resolution,
        to: Resolution,
        mark: &str,
        until: i64,
        budget: u32,
    ) -> rusqlite::Result<(u64, bool)> {
        let target = to.floor(until);
        let src = flow_table(from);
        let mut at = match meta_get(tx, mark)? {
            Some(m) => m,
            None => {
                let oldest: Option<i64> =
                    tx.query_row(&format!("SELECT MIN(ts) FROM {src}"), [], |r| r.get(0))?;
                match oldest {
                    Some(o) => to.floor(o),
                    None => return Ok((0, false)),
                }
            }
        };
        let mut n = 0u64;
        while at < target && n < budget as u64 {
            // Skip empty stretches in one step.
            let next: Option<i64> = tx.query_row(
                &format!("SELECT MIN(ts) FROM {src} WHERE ts >= ?1"),
                [at],
                |r| r.get(0),
            )?;
            let start = match next {
                Some(t) if to.floor(t) < target => to.floor(t),
                _ => {
                    at = target;
                    break;
                }
            };
            Self::roll(tx, from, to, start)?;
            at = start + to.secs();
            n += 1;
        }
        meta_set(tx, mark, at)?;
        Ok((n, at < target))
    }

    /// Deletes rows of `r` before `limit`, at most `span` seconds of them.
    fn prune(
        tx: &Transaction<'_>,
        r: Resolution,
        limit: i64,
        span: i64,
    ) -> rusqlite::Result<(u64, bool)> {
        let oldest: Option<i64> =
            tx.query_row(&format!("SELECT MIN(ts) FROM {}", flow_table(r)), [], |x| {
                x.get(0)
            })?;
        let Some(oldest) = oldest.filter(|&o| o < limit) else {
            return Ok((0, false));
        };
        let upto = limit.min(oldest.saturating_add(span));
        let mut n = tx.execute(
            &format!("DELETE FROM {} WHERE ts < ?1", flow_table(r)),
            [upto],
        )? as u64;
        n += tx.execute(
            &format!("DELETE FROM {} WHERE ts < ?1", iface_table(r)),
            [upto],
        )? as u64;
        let key = pruned_key(r);
        let prev = meta_get(tx, key)?.unwrap_or(i64::MIN);
        meta_set(tx, key, prev.max(upto))?;
        Ok((n, upto < limit))
    }

    /// Deletes alerts before `limit` (seconds), at most `1000 × budget` of them.
    fn prune_alerts(
        tx: &Transaction<'_>,
        limit: i64,
        budget: u32,
    ) -> rusqlite::Result<(u64, bool)> {
        let most = 1000 * i64::from(budget.max(1));
        let n = tx.execute(
            "DELETE FROM alert WHERE rowid IN
               (SELECT rowid FROM alert WHERE ts < ?1 ORDER BY ts LIMIT ?2)",
            params![limit.saturating_mul(1_000_000_000), most],
        )? as u64;
        Ok((n, n as i64 == most))
    }

    fn maintain_tx(
        &mut self,
        retention: &Retention,
        now: i64,
        budget: u32,
    ) -> rusqlite::Result<Maintenance> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut m = Maintenance::default();
        // Responses are capped whether or not traffic was ever recorded.
        let now_nanos = now.saturating_mul(1_000_000_000);
        let (n, more) = responses::prune_over_cap(&tx, now_nanos, budget)?;
        m.responses_pruned = n;
        m.more |= more;
        let Some(newest) = meta_get(&tx, META_NEWEST)? else {
            tx.commit()?;
            return Ok(m);
        };
        // Minutes before the newest minute's hour are complete.
        let (h, more_h) = Self::roll_up(
            &tx,
            Resolution::Minute,
            Resolution::Hour,
            META_HOUR_ROLLED,
            newest,
            budget,
        )?;
        let hour_rolled = meta_get(&tx, META_HOUR_ROLLED)?.unwrap_or(i64::MIN);
        let (d, more_d) = if hour_rolled > i64::MIN {
            Self::roll_up(
                &tx,
                Resolution::Hour,
                Resolution::Day,
                META_DAY_ROLLED,
                hour_rolled,
                budget,
            )?
        } else {
            (0, false)
        };
        let day_rolled = meta_get(&tx, META_DAY_ROLLED)?.unwrap_or(i64::MIN);
        m.hours_rolled = h;
        m.days_rolled = d;
        m.more |= more_h || more_d;
        // Prune only what the next resolution already holds.
        for (r, rolled) in [
            (Resolution::Minute, hour_rolled),
            (Resolution::Hour, day_rolled),
            (Resolution::Day, i64::MAX),
        ] {
            let Some(keep) = retention.of(r) else {
                continue;
            };
            let coarser = match r {
                Resolution::Minute => Resolution::Hour,
                _ => Resolution::Day,
            };
            let limit = coarser
                .floor(newest.min(now).saturating_sub(keep))
                .min(rolled)
                .min(Self::written_since(&tx, now.saturating_sub(keep), coarser)?);
            let span = coarser.secs().saturating_mul(budget as i64);
            let (n, more) = Self::prune(&tx, r, limit, span)?;
            m.rows_pruned += n;
            m.more |= more;
            if r == Resolution::Day {
                // Alerts, and the responses to them, go with the day rows.
                let (n, more) = Self::prune_alerts(&tx, limit, budget)?;
                m.alerts_pruned = n;
                m.more |= more;
                let before = limit.saturating_mul(1_000_000_000);
                let (n, more) = responses::prune_before(&tx, before, now_nanos, budget)?;
                m.responses_pruned += n;
                m.more |= more;
            }
        }
        Self::forget_written(&tx, retention, now)?;
        tx.commit()?;
        Ok(m)
    }

    /// The start of the `coarser` period holding the oldest hour written
    /// after `cutoff` (`i64::MAX` when none): retention stops there, so
    /// rows imported within the retention time are kept whatever their
    /// own time.
    fn written_since(
        tx: &Transaction<'_>,
        cutoff: i64,
        coarser: Resolution,
    ) -> rusqlite::Result<i64> {
        let oldest: Option<i64> = tx.query_row(
            "SELECT MIN(hour) FROM written WHERE at > ?1",
            [cutoff],
            |r| r.get(0),
        )?;
        Ok(oldest.map_or(i64::MAX, |h| coarser.floor(h)))
    }

    /// Forgets write times older than every retention: they hold nothing
    /// back any more (so the table stays as small as the rows it protects).
    fn forget_written(
        tx: &Transaction<'_>,
        retention: &Retention,
        now: i64,
    ) -> rusqlite::Result<()> {
        let longest = Resolution::ALL
            .iter()
            .filter_map(|&r| retention.of(r))
            .max();
        // Without any retention they hold nothing back at all.
        let before = longest.map_or(i64::MAX, |keep| now.saturating_sub(keep));
        tx.execute("DELETE FROM written WHERE at <= ?1", [before])?;
        Ok(())
    }

    fn span(&self, r: Resolution, complete: Option<i64>) -> Result<Span, StoreError> {
        let oldest: Option<i64> = self
            .conn
            .query_row(&format!("SELECT MIN(ts) FROM {}", flow_table(r)), [], |x| {
                x.get(0)
            })
            .map_err(engine(format!("{}: reading coverage", self.path)))?;
        let pruned = meta_get(&self.conn, pruned_key(r))
            .map_err(engine(format!("{}: reading coverage", self.path)))?;
        Ok(Span {
            oldest,
            complete_until: complete.unwrap_or(i64::MIN),
            pruned_until: pruned,
        })
    }
}

impl SqliteStore {
    fn append_alerts_tx(&mut self, alerts: &[AlertRecord]) -> rusqlite::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO alert (ts, kind, severity, entity, summary, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for a in alerts {
                st.execute(params![
                    a.ts_nanos, a.kind, a.severity, a.entity, a.summary, a.detail
                ])?;
            }
        }
        tx.commit()
    }
}

impl Store for SqliteStore {
    fn append(&mut self, rows: &[Row]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        self.append_tx(rows).map_err(|e| {
            // A failed transaction may have put ids in the cache that
            // were rolled back.
            self.ids.clear();
            engine(format!("{path}: writing {} rows", rows.len()))(e)
        })
    }

    fn maintain(
        &mut self,
        retention: &Retention,
        now: i64,
        budget: u32,
    ) -> Result<Maintenance, StoreError> {
        let path = self.path.clone();
        self.maintain_tx(retention, now, budget)
            .map_err(engine(format!("{path}: roll-up and retention")))
    }

    fn coverage(&self) -> Result<Coverage, StoreError> {
        let get =
            |k| meta_get(&self.conn, k).map_err(engine(format!("{}: reading coverage", self.path)));
        let newest = get(META_NEWEST)?;
        Ok(Coverage {
            minute: self.span(Resolution::Minute, newest.map(|n| n + 60))?,
            hour: self.span(Resolution::Hour, get(META_HOUR_ROLLED)?)?,
            day: self.span(Resolution::Day, get(META_DAY_ROLLED)?)?,
            newest_minute: newest,
        })
    }

    fn scan(
        &self,
        res: Resolution,
        from: i64,
        to: i64,
        sel: &Selection,
        cols: Columns,
        f: &mut dyn FnMut(&Row),
    ) -> Result<(), StoreError> {
        let what = || format!("{}: reading {} rows", self.path, res.name());
        // Placeholders for the columns not asked for.
        let pick =
            |want: bool, col: &'static str, none: &'static str| if want { col } else { none };
        let mut sql = format!(
            "SELECT ts, {}, {}, {}, {}, {}, {}, {},
                    pkts_out, bytes_out, pkts_in, bytes_in, {}
             FROM {} WHERE ts >= ?1 AND ts < ?2",
            pick(cols.iface, "iface", "0"),
            pick(cols.hosts, "local", "x''"),
            pick(cols.hosts, "remote", "x''"),
            pick(cols.ports, "lport", "0"),
            pick(cols.ports, "rport", "0"),
            pick(cols.ports, "proto", "0"),
            pick(cols.process, "proc", "0"),
            TCP_COLUMNS.join(", "),
            flow_table(res)
        );
        let no_iface: Arc<str> = "".into();
        let no_addr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let mut args: Vec<rusqlite::types::Value> = vec![from.into(), to.into()];
        if let Some(i) = &sel.iface {
            match self.label_lookup(KIND_IFACE, i)? {
                Some(id) => {
                    args.push(id.into());
                    sql += &format!(" AND iface = ?{}", args.len());
                }
                None => return Ok(()),
            }
        }
        if let Some(p) = &sel.process {
            match self.label_lookup(KIND_PROCESS, p)? {
                Some(id) => {
                    args.push(id.into());
                    sql += &format!(" AND proc = ?{}", args.len());
                }
                None => return Ok(()),
            }
        }
        if let Some(h) = &sel.host {
            args.push(addr_bytes(h).into());
            let k = args.len();
            sql += &format!(" AND (local = ?{k} OR remote = ?{k})");
        }
        if let Some(p) = sel.port {
            args.push(i64::from(p).into());
            let k = args.len();
            sql += &format!(" AND (lport = ?{k} OR rport = ?{k})");
        }
        if let Some(p) = sel.protocol {
            args.push(i64::from(p).into());
            sql += &format!(" AND proto = ?{}", args.len());
        }
        sql += " ORDER BY ts";
        let mut st = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| engine(what())(e))?;
        let mut rows = st
            .query(rusqlite::params_from_iter(args))
            .map_err(|e| engine(what())(e))?;
        let bad = |what: &str| StoreError::Corrupt(format!("{}: bad {what}", self.path));
        while let Some(r) = rows.next().map_err(|e| engine(what())(e))? {
            let int = |k| -> Result<i64, StoreError> {
                r.get_ref(k)
                    .ok()
                    .and_then(|v| v.as_i64().ok())
                    .ok_or_else(|| bad("integer column"))
            };
            let addr = |k| -> Result<IpAddr, StoreError> {
                match r.get_ref(k).ok().and_then(|v| v.as_blob().ok()) {
                    Some([]) if !cols.hosts => Ok(no_addr),
                    Some(b) => addr_from(b).ok_or_else(|| bad("address")),
                    None => Err(bad("address")),
                }
            };
            let row = Row {
                ts: int(0)?,
                iface: match int(1)? {
                    0 if !cols.iface => no_iface.clone(),
                    id => self.text(id)?.ok_or_else(|| bad("interface"))?,
                },
                local: addr(2)?,
                remote: addr(3)?,
                local_port: int(4)? as u16,
                remote_port: int(5)? as u16,
                protocol: int(6)? as u8,
                process: self.text(int(7)?)?,
                counts: Counts {
                    packets_out: int(8)? as u64,
                    bytes_out: int(9)? as u64,
                    packets_in: int(10)? as u64,
                    bytes_in: int(11)? as u64,
                    tcp: TcpCounts::from_fields([
                        int(12)? as u64,
                        int(13)? as u64,
                        int(14)? as u64,
                        int(15)? as u64,
                        int(16)? as u64,
                        int(17)? as u64,
                    ]),
                },
            };
            f(&row);
        }
        Ok(())
    }

    fn reader(&self) -> Option<Box<dyn Store>> {
        if self.path == ":memory:" {
            return None;
        }
        let ro = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, ro).ok()?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).ok()?;
        tune(&conn).ok()?;
        Some(Box::new(SqliteStore {
            conn,
            path: self.path.clone(),
            ids: HashMap::new(),
            texts: Default::default(),
            clock: None,
        }))
    }

    fn totals(
        &self,
        res: Resolution,
        from: i64,
        to: i64,
        iface: Option<&str>,
        f: &mut dyn FnMut(i64, &str, &Counts),
    ) -> Result<(), StoreError> {
        let what = || format!("{}: reading {} totals", self.path, res.name());
        let id = match iface {
            Some(i) => match self.label_lookup(KIND_IFACE, i)? {
                Some(id) => Some(id),
                None => return Ok(()),
            },
            None => None,
        };
        let sql = format!(
            "SELECT ts, iface, pkts_out, bytes_out, pkts_in, bytes_in FROM {}
             WHERE ts >= ?1 AND ts < ?2 AND (?3 IS NULL OR iface = ?3) ORDER BY ts",
            iface_table(res)
        );
        let mut st = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| engine(what())(e))?;
        let mut rows = st
            .query(params![from, to, id])
            .map_err(|e| engine(what())(e))?;
        while let Some(r) = rows.next().map_err(|e| engine(what())(e))? {
            let v: Result<Vec<i64>, _> = (0..6).map(|k| r.get::<_, i64>(k)).collect();
            let v = v.map_err(|e| engine(what())(e))?;
            let name = self
                .text(v[1])?
                .ok_or_else(|| StoreError::Corrupt(format!("{}: row without interface", what())))?;
            f(
                v[0],
                &name,
                &Counts {
                    packets_out: v[2] as u64,
                    bytes_out: v[3] as u64,
                    packets_in: v[4] as u64,
                    bytes_in: v[5] as u64,
                    ..Default::default()
                },
            );
        }
        Ok(())
    }

    fn append_alerts(&mut self, alerts: &[AlertRecord]) -> Result<(), StoreError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        self.append_alerts_tx(alerts)
            .map_err(engine(format!("{path}: writing {} alerts", alerts.len())))
    }

    fn alerts(
        &self,
        from_nanos: i64,
        to_nanos: i64,
        kind: Option<&str>,
        f: &mut dyn FnMut(&AlertRecord),
    ) -> Result<(), StoreError> {
        let what = || format!("{}: reading alerts", self.path);
        // Two statements rather than `?3 IS NULL OR kind = ?3`, which
        // would keep the planner from the (kind, ts) index.
        let sql = match kind {
            Some(_) => {
                "SELECT ts, kind, severity, entity, summary, detail FROM alert
                 WHERE ts >= ?1 AND ts < ?2 AND kind = ?3 ORDER BY ts, rowid"
            }
            None => {
                "SELECT ts, kind, severity, entity, summary, detail FROM alert
                 WHERE ts >= ?1 AND ts < ?2 ORDER BY ts, rowid"
            }
        };
        let mut st = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| engine(what())(e))?;
        let mut rows = match kind {
            Some(k) => st.query(params![from_nanos, to_nanos, k]),
            None => st.query(params![from_nanos, to_nanos]),
        }
        .map_err(|e| engine(what())(e))?;
        while let Some(r) = rows.next().map_err(|e| engine(what())(e))? {
            let a = (|| {
                Ok::<_, rusqlite::Error>(AlertRecord {
                    ts_nanos: r.get(0)?,
                    kind: r.get(1)?,
                    severity: r.get(2)?,
                    entity: r.get(3)?,
                    summary: r.get(4)?,
                    detail: r.get(5)?,
                })
            })()
            .map_err(|e| StoreError::Corrupt(format!("{}: bad alert: {e}", what())))?;
            f(&a);
        }
        Ok(())
    }
}
