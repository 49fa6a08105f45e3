//! Packets per second of the whole Kitsune detector (feature extraction,
//! ensemble, output layer, alerts) on one core: training phase and
//! execution phase over generated mixed traffic, and — when the shared
//! labelled captures exist — over dns-mix-dnscat2.pcap decoded into
//! memory first.
//!
//! Run: `cargo bench -p wirewatch-detect --bench kitsune`.

use std::hint::black_box;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;

use wirewatch_detect::kitsune::{FeatureExtractor, Phase, Rng, N_FEATURES};
use wirewatch_detect::{Alert, Kitsune, KitsuneConfig, Obs, PacketDetector};
use wirewatch_wire::Timestamp;

/// The reference implementation's end-to-end speed, and our target.
const REFERENCE_PPS: f64 = 725.0;
const TARGET_PPS: f64 = 300.0 * REFERENCE_PPS;

/// Mixed traffic: 2,000 hosts in a /16 talking to 200 servers over TCP
/// and UDP (web, DNS, NTP, SSH-like), with request/response sizes and a
/// few thousand concurrent sockets; about 50,000 packets per second of
/// packet time.
fn generated(n: usize, seed: u64, t0: i64) -> Vec<Obs<'static>> {
    let mut r = Rng::new(seed);
    let mut t = t0;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        t += (-(1.0 - r.next_f64()).ln() * 20_000.0) as i64 + 1;
        let c = (r.next_f64() * 2_000.0) as u32;
        let client = IpAddr::from([10, 20, (c >> 8) as u8, c as u8]);
        let s = (r.next_f64() * 200.0) as u8;
        let server = IpAddr::from([172, 16, 0, s]);
        let (proto, dport, req, resp) = match (r.next_f64() * 10.0) as u32 {
            0..=5 => (
                6u8,
                443u16,
                80.0 + r.next_f64() * 400.0,
                1_000.0 + r.next_f64() * 500.0,
            ),
            6 | 7 => (
                17,
                53,
                60.0 + r.next_f64() * 30.0,
                100.0 + r.next_f64() * 200.0,
            ),
            8 => (17, 123, 76.0, 76.0),
            _ => (
                6,
                22,
                52.0 + r.next_f64() * 100.0,
                52.0 + r.next_f64() * 300.0,
            ),
        };
        let sport = 32_768 + (r.next_f64() * 3.0) as u16 + (c as u16 % 8_000) * 3;
        let o = |src, dst, sp, dp, len: f64, t: i64| Obs {
            ts: Timestamp::from_nanos(t),
            iface: 0,
            src,
            dst,
            protocol: proto,
            src_port: sp,
            dst_port: dp,
            has_ports: true,
            ip_len: len as u32,
            tcp_flags: if proto == 6 { 0x18 } else { 0 },
            later_fragment: false,
            l4: &[],
        };
        out.push(o(client, server, sport, dport, req, t));
        out.push(o(server, client, dport, sport, resp, t + 10_000));
    }
    out.truncate(n);
    out
}

/// Nanoseconds this thread has run on a CPU (Linux `schedstat`), so
/// that a machine shared with other work still gives a per-core figure.
fn cpu_nanos() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// A timer over wall and CPU time.
struct Timer(Instant, Option<u64>);

impl Timer {
    fn start() -> Timer {
        Timer(Instant::now(), cpu_nanos())
    }

    /// (wall seconds, CPU seconds when known).
    fn stop(&self) -> (f64, Option<f64>) {
        let wall = self.0.elapsed().as_secs_f64();
        let cpu = match (self.1, cpu_nanos()) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 * 1e-9),
            _ => None,
        };
        (wall, cpu)
    }
}

/// Packets per second of wall time and of CPU time.
#[derive(Clone, Copy, Default)]
struct Rate {
    wall: f64,
    cpu: f64,
}

impl Rate {
    fn of(n: usize, t: &Timer) -> Rate {
        let (wall, cpu) = t.stop();
        Rate {
            wall: n as f64 / wall,
            cpu: cpu.map_or(0.0, |c| n as f64 / c.max(1e-9)),
        }
    }

    fn best(self, o: Rate) -> Rate {
        Rate {
            wall: self.wall.max(o.wall),
            cpu: self.cpu.max(o.cpu),
        }
    }
}

/// Runs `obs` through the detector as the engine does (expiry once per
/// second of packet time); returns packets per second.
fn run(k: &mut Kitsune, obs: &[Obs], alerts: &mut Vec<Alert>, next_expire: &mut i64) -> Rate {
    let start = Timer::start();
    let mut sum = 0.0;
    let mut fired = 0usize;
    for o in obs {
        let t = o.ts.as_nanos();
        if t >= *next_expire {
            k.expire(o.ts);
            *next_expire = t + 1_000_000_000;
        }
        sum += k.packet(o, alerts);
        fired += alerts.len();
        alerts.clear();
    }
    black_box(sum);
    if k.phase() == Phase::Executing && fired > 0 {
        println!("  ({fired} alerts built over {} packets)", obs.len());
    }
    Rate::of(obs.len(), &start)
}

fn report(what: &str, r: Rate) {
    println!(
        "{what:<52} {:>9.0} packets/s wall, {:>9.0} per CPU-second  ({:>4.0}× reference, {:.2}× target per CPU-second)",
        r.wall,
        r.cpu,
        r.cpu / REFERENCE_PPS,
        r.cpu / TARGET_PPS
    );
}

fn main() {
    let cfg = KitsuneConfig {
        fm_grace: 5_000,
        ad_grace: 300_000,
        ..KitsuneConfig::default()
    };
    let mut alerts = Vec::new();

    // Generated traffic: 5,000 feature-map packets, then 300,000 training
    // packets (timed), then 2,000,000 execution packets (timed).
    let all = generated(2_305_000, 1, 1_700_000_000_000_000_000);
    let mut k = Kitsune::new(&cfg).expect("valid settings");
    let mut next = 0;
    run(&mut k, &all[..5_000], &mut alerts, &mut next);
    let train = run(&mut k, &all[5_000..305_000], &mut alerts, &mut next);
    assert_eq!(k.phase(), Phase::Executing);
    let exec = run(&mut k, &all[305_000..], &mut alerts, &mut next);
    let (h, c, s) = k.state_len();
    let mut fx = FeatureExtractor::new(cfg.max_idle_secs, cfg.max_entries);
    let mut x = [0.0; N_FEATURES];
    let start = Timer::start();
    let mut next = 0;
    for o in &all[305_000..] {
        let t = o.ts.as_nanos();
        if t >= next {
            fx.expire(t);
            next = t + 1_000_000_000;
        }
        fx.update(o, &mut x);
        black_box(&x);
    }
    let fx_pps = Rate::of(all.len() - 305_000, &start);
    report("generated mix, training phase", train);
    report("generated mix, execution phase", exec);
    report("generated mix, feature extraction alone", fx_pps);
    println!(
        "  (feature groups of sizes {:?}; {h} hosts, {c} channels, {s} sockets tracked at the end)",
        k.groups()
            .map(|g| g.iter().map(Vec::len).collect::<Vec<_>>())
            .unwrap_or_default()
    );

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/labeled");
    let path = dir.join("dns-mix-dnscat2.pcap");
    if !path.exists() {
        println!(
            "dns-mix-dnscat2.pcap: skipped ({} not found)",
            dir.display()
        );
        return;
    }
    let f = std::fs::File::open(&path).expect("open capture");
    let mut rd =
        wirewatch_capture::CaptureReader::new(std::io::BufReader::new(f)).expect("capture");
    let opts = wirewatch_wire::DecodeOptions::default();
    let mut frames = Vec::new();
    while let Ok(Some(fr)) = rd.next_frame() {
        let meta = wirewatch_wire::decode(fr.link_type, fr.ts, fr.data, fr.wire_len, &opts);
        frames.push((meta, fr.data.to_vec()));
    }
    let obs: Vec<Obs> = frames
        .iter()
        .filter_map(|(m, d)| Obs::new(m, d, 0))
        .collect();
    let cfg = KitsuneConfig {
        fm_grace: 1_000,
        ad_grace: 9_000,
        ..KitsuneConfig::default()
    };
    // End to end, as the reference's figure: grace periods included.
    let mut best_e2e = Rate::default();
    for _ in 0..5 {
        let mut k = Kitsune::new(&cfg).expect("valid settings");
        let mut next = 0;
        best_e2e = best_e2e.best(run(&mut k, &obs, &mut alerts, &mut next));
    }
    // Execution only: the scored part (packets 10,001–18,000) replayed
    // 50 times, shifted in time so the clock keeps moving forward.
    let mut k = Kitsune::new(&cfg).expect("valid settings");
    let mut next = 0;
    run(&mut k, &obs[..10_000], &mut alerts, &mut next);
    let tail = &obs[10_000..];
    let span = tail.last().map_or(0, |o| o.ts.as_nanos()) - tail[0].ts.as_nanos() + 1_000_000;
    let mut replay = Vec::with_capacity(tail.len() * 50);
    for rep in 0..50i64 {
        replay.extend(tail.iter().map(|o| Obs {
            ts: o.ts.add_nanos(rep * span),
            ..*o
        }));
    }
    let exec = run(&mut k, &replay, &mut alerts, &mut next);
    report("dns-mix-dnscat2, end to end (18,000 packets)", best_e2e);
    report("dns-mix-dnscat2, execution phase (400,000 packets)", exec);
}
