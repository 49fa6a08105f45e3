//! The cost of a block through `nft`: one element, a batch of 100, a
//! listing, an unblock and the kill switch, in a network namespace the
//! benchmark makes (never the host's ruleset). Needs root, `ip` and `nft`.
//!
//! `cargo bench -p wirewatch-respond --bench nft` prints the medians.

#[path = "../tests/nft_netns/mod.rs"]
mod nft_netns;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use wirewatch_respond::nft::Nft;
use wirewatch_respond::{IpNet, Target};

const HOUR: Duration = Duration::from_secs(3600);

/// A distinct /32 source for each `i`, in 10.0.0.0/8.
fn source(i: u32) -> (Target, Duration) {
    let a = Ipv4Addr::from(0x0a00_0000 + i);
    (
        Target::Source(IpNet::new(a.into(), 32).expect("a /32")),
        HOUR,
    )
}

/// Median wall time of `runs` calls of `f(run)`.
fn median(runs: u32, mut f: impl FnMut(u32)) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|r| {
            let t = Instant::now();
            f(r);
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn print(what: &str, d: Duration) {
    println!("{what:<44} {:>8.2} ms", d.as_secs_f64() * 1e3);
}

fn main() {
    if let Err(why) = nft_netns::can_run() {
        println!("nft benchmark not run: {why}");
        return;
    }
    let pair = nft_netns::Pair::new();
    let cfg = pair.host.cfg();
    print(
        "open (table, 8 sets, 3 chains)",
        median(5, |_| drop(Nft::open(cfg.clone()).expect("open"))),
    );
    let mut nft = Nft::open(cfg).expect("open");
    print(
        "block, 1 element (2 nft runs)",
        median(21, |r| nft.block(&[source(r)]).expect("block")),
    );
    print(
        "block, batch of 100 elements (2 nft runs)",
        median(11, |r| {
            let batch: Vec<_> = (0..100).map(|i| source(1000 + r * 100 + i)).collect();
            nft.block(&batch).expect("block")
        }),
    );
    let n = nft.list().expect("list").len();
    print(
        &format!("list, {n} elements"),
        median(11, |_| drop(nft.list().expect("list"))),
    );
    print(
        "unblock, 1 element (1 nft run)",
        median(21, |r| assert!(nft.unblock(&source(r).0).expect("unblock"))),
    );
    let n = nft.list().expect("list").len();
    print(
        &format!("flush, {n} elements"),
        median(1, |_| assert_eq!(nft.flush().expect("flush"), n)),
    );
    // Near the default cap: the count before each block lists them all.
    for b in 0..10 {
        let batch: Vec<_> = (0..990).map(|i| source(100_000 + b * 990 + i)).collect();
        nft.block(&batch).expect("fill");
    }
    print(
        &format!(
            "block, 1 element, {} present",
            nft.list().expect("list").len()
        ),
        median(11, |r| nft.block(&[source(r)]).expect("block")),
    );
    print(
        "list, the same",
        median(11, |_| drop(nft.list().expect("list"))),
    );
    let table = ["-j", "list", "table", "inet", "wirewatch"];
    print(
        "  of which `nft -j list table` alone",
        median(11, |_| drop(pair.host.nft(&table))),
    );
    nft.remove().expect("remove");
    print(
        "one bare nft run (`nft -j list tables`)",
        median(21, |_| drop(pair.host.nft(&["-j", "list", "tables"]))),
    );
}
