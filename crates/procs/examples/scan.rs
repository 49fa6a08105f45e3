//! Prints one scan's sockets and owners, and how long two scans take.
//!
//! `cargo run --release -p wirewatch-procs --example scan`

fn main() -> std::io::Result<()> {
    let mut scanner = wirewatch_procs::Scanner::new();
    let table = scanner.scan()?;
    let first = scanner.last_stats().clone();
    scanner.scan()?;
    let second = scanner.last_stats().clone();
    for (s, o) in table.sockets() {
        let proto = if s.protocol == wirewatch_procs::TCP {
            "tcp"
        } else {
            "udp"
        };
        let remote = s.remote.map_or("*".to_string(), |r| r.to_string());
        println!(
            "{proto} {:<40} {:<40} inode {:<8} pid {:<7} {} ({})",
            s.local,
            remote,
            s.inode,
            o.pid,
            o.label(),
            o.user
        );
    }
    eprintln!("first scan:  {first:?}");
    eprintln!("second scan: {second:?}");
    Ok(())
}
