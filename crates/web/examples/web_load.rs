//! Load for `scripts/bench-web.sh`: HTTP clients against a running
//! `wirewatch serve`, or UDP traffic with many flows for it to capture.
//!
//! ```text
//! web_load http ADDR --sse N --rps R --secs S [--path P]...
//!     N clients on /api/v1/events and R GETs a second (a new connection
//!     each, open loop over the paths given) for S seconds; prints the
//!     latency percentiles, errors and SSE events received.
//! web_load udp DST_IP --flows F --pps R --secs S
//!     UDP datagrams to F different (source port, destination port) pairs
//!     of DST_IP, R a second, for S seconds.
//! ```
//! Only for addresses the script set up (loopback, its own namespaces).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("http") => http(&args[1..]),
        Some("udp") => udp(&args[1..]),
        _ => Err("usage: web_load http ADDR --sse N --rps R --secs S [--path P]... | web_load udp DST_IP --flows F --pps R --secs S".into()),
    };
    if let Err(e) = r {
        eprintln!("web_load: {e}");
        std::process::exit(2);
    }
}

/// The value after `--name` (or `default`), parsed.
fn opt<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a value")),
    }
}

/// Every value after `--name`.
fn opts(args: &[String], name: &str) -> Vec<String> {
    args.windows(2)
        .filter(|w| w[0] == name)
        .map(|w| w[1].clone())
        .collect()
}

fn http(args: &[String]) -> Result<(), String> {
    let addr: SocketAddr = args
        .first()
        .and_then(|a| a.parse().ok())
        .ok_or("http needs ADDR:PORT")?;
    let sse: usize = opt(args, "--sse", 100)?;
    let rps: u64 = opt(args, "--rps", 1000)?;
    let secs: u64 = opt(args, "--secs", 60)?;
    let mut paths = opts(args, "--path");
    if paths.is_empty() {
        paths = [
            "/api/v1/top?by=pair&window=2s&limit=20",
            "/api/v1/interfaces",
            "/api/v1/status",
            "/metrics",
        ]
        .map(String::from)
        .to_vec();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(AtomicU64::new(0));
    let sse_errors = Arc::new(AtomicU64::new(0));
    let streams: Vec<_> = (0..sse)
        .map(|_| {
            let (stop, events, errors) = (stop.clone(), events.clone(), sse_errors.clone());
            std::thread::spawn(move || {
                if sse_client(addr, &stop, &events).is_err() && !stop.load(Ordering::Relaxed) {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Open loop: request k is due at start + k / rps, whatever the answers.
    let workers = 16u64;
    let lat = Arc::new(Mutex::new(Vec::<f64>::new()));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let total = rps * secs;
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let (lat, errors, paths) = (lat.clone(), errors.clone(), paths.clone());
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for k in (w..total).step_by(workers as usize) {
                    let due = start + Duration::from_nanos(k * 1_000_000_000 / rps);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let t = Instant::now();
                    match get(addr, &paths[(k as usize) % paths.len()]) {
                        Ok(200) => mine.push(t.elapsed().as_secs_f64() * 1e3),
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                lat.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    let took = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for s in streams {
        let _ = s.join();
    }
    let mut l = lat.lock().unwrap().clone();
    l.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "requests {} in {took:.1} s ({:.0}/s), errors {}, latency ms p50 {:.2} p99 {:.2} max {:.2}; sse clients {sse}, events {}, sse errors {}",
        l.len(),
        l.len() as f64 / took,
        errors.load(Ordering::Relaxed),
        pct(0.50),
        pct(0.99),
        l.last().copied().unwrap_or(f64::NAN),
        events.load(Ordering::Relaxed),
        sse_errors.load(Ordering::Relaxed),
    );
    Ok(())
}

/// One GET on a new connection: the status code.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    let head = String::from_utf8_lossy(&answer[..answer.len().min(16)]).into_owned();
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad answer: {head}")))
}

/// Reads `/api/v1/events` until `stop`, counting events.
fn sse_client(addr: SocketAddr, stop: &AtomicBool, events: &AtomicU64) -> std::io::Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(b"GET /api/v1/events HTTP/1.0\r\n\r\n")?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    if !line.contains(" 200 ") {
        return Err(std::io::Error::other(line));
    }
    while !stop.load(Ordering::Relaxed) {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("stream closed"));
        }
        if line.starts_with("event: ") {
            events.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

fn udp(args: &[String]) -> Result<(), String> {
    let dst: IpAddr = args
        .first()
        .and_then(|a| a.parse().ok())
        .ok_or("udp needs DST_IP")?;
    let flows: u64 = opt(args, "--flows", 100_000)?;
    let pps: u64 = opt(args, "--pps", 5_000)?;
    let secs: u64 = opt(args, "--secs", 60)?;
    // Flows = sockets (source ports) × destination ports.
    let ports = flows.min(60_000);
    let sockets: Vec<UdpSocket> = (0..flows.div_ceil(ports))
        .map(|_| UdpSocket::bind((IpAddr::from([0u8, 0, 0, 0]), 0)))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let payload = [0u8; 64];
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        let due = start.elapsed().as_nanos() as u64 * pps / 1_000_000_000;
        while sent < due {
            let i = sent % flows;
            let port = 1024 + (i % ports) as u16;
            let sock = &sockets[(i / ports) as usize];
            let _ = sock.send_to(&payload, (dst, port));
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    println!(
        "sent {sent} datagrams over {flows} flows in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
