//! What the web feed costs the packet thread: one publish (every view the
//! API and the SSE stream serve, in the three windows) over a table of
//! 100,000 flows with 40 s of history, as live once a second.
//!
//! Run: `cargo bench -p wirewatch-web --bench feed`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use wirewatch_flow::{FlowConfig, FlowTable, Snapshot};
use wirewatch_pipeline::procs::Owners;
use wirewatch_pipeline::Context;
use wirewatch_wire::{decode, DecodeOptions, Timestamp};

/// Flows in the table.
const FLOWS: u32 = 100_000;

/// 2,000 local hosts talking to 5,000 remote ones on a few ports: every
/// flow gets one packet in each of the last 20 seconds.
fn table() -> FlowTable {
    let mut t = FlowTable::new(FlowConfig {
        max_flows: 400_000,
        ..FlowConfig::default()
    });
    let opts = DecodeOptions::default();
    let t0 = 1_800_000_000i64;
    let frames: Vec<Vec<u8>> = (0..FLOWS)
        .map(|i| {
            let src = format!("10.1.{}.{}", (i % 2000) / 250, (i % 2000) % 250);
            let dst = format!("172.16.{}.{}", (i % 5000) / 250, (i % 5000) % 250);
            let dport = [53, 80, 443, 123, 5000][(i % 5) as usize];
            wirewatch_testkit::udp_frame(&src, 1024 + (i / 2) as u16, &dst, dport, 100)
        })
        .collect();
    for sec in 0..40i64 {
        for (i, f) in frames.iter().enumerate() {
            if (i as i64 + sec) % 2 == 0 {
                let ts = Timestamp::from_nanos((t0 + sec) * 1_000_000_000 + i as i64);
                let m = decode(1, ts, f, f.len() as u32, &opts);
                t.ingest(&m);
            }
        }
    }
    t
}

fn main() {
    let t0 = Instant::now();
    let table = table();
    eprintln!("table of {} flows in {:.1?}", table.len(), t0.elapsed());
    let owners = Owners::default();
    let names = vec!["eth0".to_string()];
    let cx = Context {
        owners: &owners,
        interfaces: &names,
        capture: None,
    };
    let slot = table.slot_of(table.now()) - 1;
    let alerts = BTreeMap::new();
    let runs = 10;
    let t0 = Instant::now();
    for _ in 0..runs {
        black_box(wirewatch_web::feed::build(
            &table, &cx, slot, false, &alerts,
        ));
    }
    let per = t0.elapsed() / runs;
    // /metrics' per-host and per-process counters, also made at each publish.
    let t0 = Instant::now();
    let mut talkers = wirewatch_web::metrics::Talkers::default();
    for _ in 0..runs {
        talkers = wirewatch_web::metrics::talkers(&table, &cx, &talkers);
    }
    let talkers_took = t0.elapsed() / runs;
    // The same snapshots built one by one (12 builds), as before.
    let t0 = Instant::now();
    for _ in 0..runs {
        for &(_, view) in &wirewatch_web::feed::BYS {
            for &(_, sort) in &wirewatch_web::feed::WINDOWS {
                black_box(Snapshot::build_top(
                    &table,
                    view,
                    sort,
                    slot,
                    true,
                    Some(100),
                ));
            }
        }
    }
    let one_by_one = t0.elapsed() / runs;
    println!(
        "one publish over {} flows: snapshots {:.1} ms + metrics' top talkers {:.1} ms; the 12 snapshots one by one: {:.1} ms",
        table.len(),
        per.as_secs_f64() * 1e3,
        talkers_took.as_secs_f64() * 1e3,
        one_by_one.as_secs_f64() * 1e3,
    );
    host_names(&wirewatch_web::feed::build(
        &table, &cx, slot, false, &alerts,
    ));
}

/// What host names add to a publish: asking for every published address
/// (the tops and the 1,000 drill-down flows) and naming the SSE event's
/// entries, with every name in the cache (a backend answering at once).
fn host_names(snap: &wirewatch_web::LiveSnapshot) {
    let hub = wirewatch_web::shared();
    hub.names.start(wirewatch_names::Resolver::with_backend(
        wirewatch_web::names::WORKERS,
        |ip| Some(format!("host-{ip}.example")),
    ));
    // Until every address is in the cache (the queue takes 256 at a time).
    let mut rounds = 0;
    while rounds < 1_000 {
        hub.names.want(snap);
        let status = hub.names.status_json();
        if status["pending"] == 0 && rounds > 20 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        rounds += 1;
    }
    let runs = 100;
    let time = |names: &wirewatch_web::names::HostNames| {
        let t0 = Instant::now();
        for _ in 0..runs {
            names.want(snap);
            black_box(wirewatch_web::feed::sse_json(snap, names));
        }
        t0.elapsed().as_secs_f64() * 1e3 / f64::from(runs)
    };
    let off = time(&wirewatch_web::names::HostNames::default());
    let on = time(&hub.names);
    println!(
        "the SSE event of one publish: {off:.3} ms without names; asking for every published address and naming the event: {on:.3} ms ({} names cached)",
        hub.names.status_json()["cached"],
    );
}
