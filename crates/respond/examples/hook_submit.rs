//! What handing an alert to a dead webhook costs the thread that submits
//! it: jobs submitted to a webhook that accepts connections and never
//! answers, nearly all of them dropped by the full queue.
//!
//! `cargo run --release -p wirewatch-respond --example hook_submit [JOBS]`

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wirewatch_respond::hooks::{Hook, Hooks, Job};

fn main() {
    let jobs: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    // Connections complete in the listen backlog and are never answered.
    let silent = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
    let url = format!("http://{}/", silent.local_addr().expect("its address"));
    let hook = Hook::webhook(&url, Duration::from_secs(5), 3, vec![], None).expect("a webhook");
    let hook = Arc::new(hook);
    let alert = br#"{"time":"2026-12-07T23:00:00Z","kind":"syn_flood","severity":"high","entity":{"host":"10.0.0.2"},"summary":"SYN flood on 10.0.0.2:80: 48210 SYN/s from 1532 sources"}"#;
    let hooks = Hooks::start(256);
    let start = Instant::now();
    let mut each_ns = Vec::with_capacity(jobs as usize);
    for id in 0..jobs {
        let t = Instant::now();
        let _ = hooks.submit(Job {
            id,
            hook: Arc::clone(&hook),
            payload: alert.to_vec(),
        });
        each_ns.push(t.elapsed().as_nanos() as u64);
    }
    let total = start.elapsed();
    each_ns.sort_unstable();
    let at = |q: f64| each_ns[((each_ns.len() - 1) as f64 * q) as usize];
    println!(
        "{jobs} submits in {:.1} ms: {:.0} ns each on average; p50 {} ns, p99 {} ns, \
         p99.9 {} ns, max {} µs; {} dropped, {} queued",
        total.as_secs_f64() * 1e3,
        total.as_nanos() as f64 / jobs as f64,
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0) / 1000,
        hooks.dropped(),
        jobs - hooks.dropped()
    );
    let ended = hooks.shutdown(Duration::from_millis(200));
    println!("shutdown: {} outcomes", ended.len());
}
