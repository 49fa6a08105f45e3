//! History benchmark: 30 days of minute rows for 1,000 active flows per
//! minute through the writer thread (roll-ups and retention included), then
//! the latency of the month-long queries.
//!
//! `cargo bench -p wirewatch-store --bench history [-- DB_PATH [DAYS]]`
//! prints its figures; `scripts/bench-history.sh` also times the CLI.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use wirewatch_store::query::{self, GroupBy, Range, SeriesSpec};
use wirewatch_store::writer::{Backpressure, HistoryWriter, WriterConfig};
use wirewatch_store::{Counts, Row, Selection, SqliteStore, Store};

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const ACTIVE: usize = 1_000;
const LOCAL_HOSTS: u64 = 200;
const PEERS_PER_HOST: u64 = 10;
const SERVICES: [(u8, u16); 8] = [
    (6, 443),
    (6, 80),
    (17, 53),
    (6, 22),
    (17, 123),
    (6, 8080),
    (6, 5432),
    (17, 443),
];

struct Flow {
    local: IpAddr,
    remote: IpAddr,
    lport: u16,
    proto: u8,
    rport: u16,
    process: Arc<str>,
    rate: u64,
}

fn new_flow(rng: &mut Rng, procs: &[Arc<str>]) -> Flow {
    let h = rng.below(LOCAL_HOSTS);
    let peer = rng.below(PEERS_PER_HOST);
    let svc = rng.below(SERVICES.len() as u64);
    let (proto, rport) = SERVICES[svc as usize];
    Flow {
        local: IpAddr::V4(Ipv4Addr::new(10, 0, (h / 250) as u8, (h % 250) as u8 + 1)),
        // Each local host has its own peers.
        remote: IpAddr::V4(Ipv4Addr::new(
            198,
            18 + (h % 2) as u8,
            (h / 2) as u8,
            peer as u8 + 1,
        )),
        lport: 32_768 + rng.below(28_000) as u16,
        proto,
        rport,
        // A host runs one program per service.
        process: procs[((h * 7 + svc) % procs.len() as u64) as usize].clone(),
        rate: 1 + rng.below(2_000_000),
    }
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let path: PathBuf = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("wirewatch-bench-history.db"));
    let days: i64 = args.next().and_then(|d| d.parse().ok()).unwrap_or(30);
    // QUERY_ONLY=1: time the queries on a database made by an earlier run.
    let query_only = std::env::var_os("QUERY_ONLY").is_some();
    // The data ends at the current minute, so `--since 30d` on the command
    // line asks for exactly it; a month-long range then has partial days
    // and hours at both ends, read from hour and minute rows.
    let minutes = days * 1440;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let start = match std::env::var("END") {
        // END=unix seconds: reuse the database of an earlier run.
        Ok(e) => e.parse::<i64>().expect("END: unix seconds") - minutes * 60,
        Err(_) => now - now % 60 - minutes * 60,
    };
    println!(
        "data: {} to {} (END={})",
        start,
        start + minutes * 60,
        start + minutes * 60
    );
    if !query_only {
        ingest(&path, days, start, minutes);
    }
    queries(&path, start + minutes * 60);
}

fn ingest(path: &std::path::Path, days: i64, start: i64, minutes: i64) {
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    let procs: Vec<Arc<str>> = (0..20).map(|k| format!("proc{k}").into()).collect();
    let iface: Arc<str> = "eth0".into();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut flows: Vec<Flow> = (0..ACTIVE).map(|_| new_flow(&mut rng, &procs)).collect();

    // Generate first so the timing is the store's alone.
    let t = Instant::now();
    let mut batches: Vec<Vec<Row>> = Vec::with_capacity(minutes as usize);
    for m in 0..minutes {
        let ts = start + m * 60;
        let mut rows = Vec::with_capacity(ACTIVE);
        for f in flows.iter_mut() {
            // A tenth of the flows end each minute and new ones start.
            if rng.below(10) == 0 {
                *f = new_flow(&mut rng, &procs);
            }
            let out = f.rate / 8 + rng.below(1_000);
            let inb = f.rate + rng.below(10_000);
            rows.push(Row {
                ts,
                iface: iface.clone(),
                local: f.local,
                remote: f.remote,
                local_port: f.lport,
                remote_port: f.rport,
                protocol: f.proto,
                process: Some(f.process.clone()),
                counts: Counts {
                    packets_out: out / 600 + 1,
                    bytes_out: out,
                    packets_in: inb / 1200 + 1,
                    bytes_in: inb,
                    ..Default::default()
                },
            });
        }
        batches.push(rows);
    }
    let rows_total = (minutes as u64) * ACTIVE as u64;
    eprintln!(
        "generated {rows_total} rows ({days} days x {ACTIVE} flows/min) in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let store = SqliteStore::open(path).expect("open");
    let mut w = HistoryWriter::start(
        Box::new(store),
        WriterConfig {
            backpressure: Backpressure::Block,
            ..Default::default()
        },
    )
    .expect("writer");
    let t = Instant::now();
    for b in batches {
        w.send(b);
    }
    let st = w.finish();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(st.error, None);
    assert_eq!(st.rows_written, rows_total);
    let store = SqliteStore::open_reader(path).expect("reopen");
    store.checkpoint().expect("checkpoint");
    let counts = store.row_counts().expect("count");
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let kept: u64 = counts.iter().sum();
    println!("ingest: {rows_total} minute rows in {secs:.2} s = {:.0} rows/s (writer thread: commits, roll-ups, retention)", rows_total as f64 / secs);
    println!(
        "kept: {} minute, {} hour, {} day rows; file {:.1} MiB = {:.1} MiB per million rows kept",
        counts[0],
        counts[1],
        counts[2],
        size as f64 / 1_048_576.0,
        size as f64 / 1_048_576.0 / (kept as f64 / 1e6)
    );
}

fn queries(path: &std::path::Path, now: i64) {
    let store = SqliteStore::open_reader(path).expect("open");

    let month = Range {
        from: now - 30 * 86_400,
        to: now,
    };
    let time = |name: &str, f: &mut dyn FnMut() -> usize| {
        let mut v = Vec::new();
        let mut n = 0;
        for _ in 0..7 {
            let t = Instant::now();
            n = f();
            v.push(t.elapsed().as_secs_f64() * 1e3);
        }
        v.sort_by(f64::total_cmp);
        println!(
            "{name}: median {:.1} ms (min {:.1}, max {:.1}), {n} lines",
            v[3], v[0], v[6]
        );
    };
    let sel = Selection::default();
    time("top --since 30d --by host", &mut || {
        query::top(&store, &month, GroupBy::Host, &sel, 10)
            .unwrap()
            .entries
            .len()
    });
    time("top --since 30d --by process", &mut || {
        query::top(&store, &month, GroupBy::Process, &sel, 10)
            .unwrap()
            .entries
            .len()
    });
    let spec = SeriesSpec {
        range: month,
        step: 3600,
        sel: sel.clone(),
        by: None,
        limit: 10,
        total_name: "total",
        metric: Default::default(),
    };
    time("series --step 1h --since 30d", &mut || {
        query::series(&store, &spec, None).unwrap().buckets.len()
    });
    let host = SeriesSpec {
        sel: Selection {
            host: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            ..Selection::default()
        },
        ..spec.clone()
    };
    time("series --host 10.0.0.1 --step 1h --since 30d", &mut || {
        query::series(&store, &host, None).unwrap().buckets.len()
    });
    let cov = store.coverage().unwrap();
    eprintln!("coverage: {cov:?}");
}
