//! Attribution of this test process's own sockets: needs no privileges.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use wirewatch_procs::{Attribution, Owner, Scanner, SocketTable, TCP, UDP};

fn own_comm() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .unwrap()
        .trim_end()
        .to_string()
}

fn assert_mine(table: &SocketTable, what: &str, owner: Option<&Owner>) {
    let owner = owner.unwrap_or_else(|| panic!("{what}: no owner in a table of {}", table.len()));
    assert_eq!(owner.pid, std::process::id(), "{what}: {owner:?}");
    assert_eq!(owner.comm, own_comm(), "{what}");
    assert!(!owner.foreign_netns, "{what}");
    assert_eq!(owner.netns, table.netns(), "{what}");
    // SAFETY: getuid has no preconditions.
    assert_eq!(owner.uid, unsafe { libc::getuid() }, "{what}");
    let exe = std::env::current_exe().unwrap();
    assert_eq!(owner.exe.as_deref(), exe.to_str(), "{what}");
}

#[test]
fn own_tcp_and_udp_sockets_are_attributed_to_this_process() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let server_addr = listener.local_addr().unwrap();
    let client = TcpStream::connect(server_addr).unwrap();
    let (_accepted, client_addr) = listener.accept().unwrap();
    assert_eq!(client.local_addr().unwrap(), client_addr);
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let udp_addr = udp.local_addr().unwrap();

    let mut scanner = Scanner::new();
    let table = scanner.scan().unwrap();
    let stats = scanner.last_stats().clone();
    eprintln!("scan: {stats:?}");

    // Both TCP ends: the client socket and the accepted one.
    let mut ends: Vec<_> = table
        .sockets()
        .filter(|(s, _)| {
            s.protocol == TCP
                && s.remote.is_some()
                && (s.local == server_addr || s.local == client_addr)
                && (s.remote == Some(server_addr) || s.remote == Some(client_addr))
        })
        .collect();
    ends.sort_by_key(|(s, _)| s.local.port() != client_addr.port());
    assert_eq!(ends.len(), 2, "both TCP ends in the table");
    assert_eq!(ends[0].0.local, client_addr);
    assert_eq!(ends[1].0.local, server_addr);
    for (s, o) in &ends {
        assert_mine(&table, &format!("TCP end {}", s.local), Some(o));
    }
    assert_mine(
        &table,
        "TCP flow, client first",
        table.lookup(TCP, client_addr, server_addr),
    );
    assert_mine(
        &table,
        "TCP flow, server first",
        table.lookup(TCP, server_addr, client_addr),
    );
    // The listener takes flows from any other peer.
    let stranger: SocketAddr = "127.0.0.9:4444".parse().unwrap();
    let (s, o) = table.lookup_socket(TCP, stranger, server_addr).unwrap();
    assert_eq!(s.remote, None);
    assert_mine(&table, "TCP listener", Some(o));
    // UDP, bound and unconnected.
    let (s, o) = table.lookup_socket(UDP, udp_addr, stranger).unwrap();
    assert_eq!((s.local, s.remote), (udp_addr, None));
    assert_mine(&table, "UDP socket", Some(o));
    assert!(
        table.lookup(UDP, server_addr, stranger).is_none() || server_addr.port() == udp_addr.port()
    );

    // Closed sockets disappear at the next scan.
    drop(udp);
    let table = scanner.scan().unwrap();
    assert!(table
        .sockets()
        .all(|(s, _)| !(s.protocol == UDP && s.local == udp_addr)));
    drop((client, listener));
}

#[test]
fn dual_stack_listener_takes_ipv4_flows() {
    let udp = match UdpSocket::bind("[::]:0") {
        Ok(u) => u,
        Err(e) => wirewatch_testkit::skip!("no IPv6 here: binding [::]:0 failed: {e}"),
    };
    let port = udp.local_addr().unwrap().port();
    let mut scanner = Scanner::new();
    let table = scanner.scan().unwrap();
    let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let local = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let v6only = std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").unwrap_or_default();
    let owner = table.lookup(UDP, peer, local);
    if v6only.trim() == "1" {
        assert!(owner.is_none() || owner.unwrap().pid != std::process::id());
    } else {
        assert_mine(&table, "dual-stack UDP", owner);
    }
    // And as IPv6, of course.
    assert_mine(
        &table,
        "UDP on ::",
        table.lookup(
            UDP,
            "[::1]:9".parse().unwrap(),
            SocketAddr::new("::1".parse().unwrap(), port),
        ),
    );
}

#[test]
fn second_scan_uses_the_cache() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut scanner = Scanner::new();
    let first = scanner.scan().unwrap();
    let s1 = scanner.last_stats().clone();
    let second = scanner.scan().unwrap();
    let s2 = scanner.last_stats().clone();
    let third = scanner.scan().unwrap();
    let s3 = scanner.last_stats().clone();
    eprintln!(
        "scan timings: first {:?} ({} sockets, {} namespaces, {} unknown, {} of {} pids walked), \
         second {:?} ({} unknown, {} walked), third {:?} ({} unknown, {} walked)",
        s1.elapsed,
        s1.sockets,
        s1.namespaces,
        s1.unknown_inodes,
        s1.pids_walked,
        s1.pids,
        s2.elapsed,
        s2.unknown_inodes,
        s2.pids_walked,
        s3.elapsed,
        s3.unknown_inodes,
        s3.pids_walked,
    );
    let any: SocketAddr = "127.0.0.1:1".parse().unwrap();
    for t in [&first, &second, &third] {
        assert_mine(t, "listener", t.lookup(TCP, any, addr));
    }
    // Owners are cached, so once nothing new appears a scan has nothing
    // unknown and walks no process. Other processes (and the other tests
    // here) may open sockets meanwhile: allow a bounded number of tries.
    assert!(s1.unknown_inodes >= 1);
    let mut quiet = [&s2, &s3]
        .iter()
        .any(|s| s.unknown_inodes == 0 && s.pids_walked == 0);
    for _ in 0..50 {
        if quiet {
            break;
        }
        scanner.scan().unwrap();
        let s = scanner.last_stats();
        quiet = s.unknown_inodes == 0 && s.pids_walked == 0;
    }
    assert!(
        quiet,
        "every scan had unknown sockets: {:?}",
        scanner.last_stats()
    );
}

#[test]
fn background_attribution_publishes_tables() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let attribution = Attribution::spawn(Duration::from_millis(20)).unwrap();
    // Bounded polling: the first scan runs at once.
    let deadline = Instant::now() + Duration::from_secs(20);
    while attribution.scans() < 2 {
        assert!(
            Instant::now() < deadline,
            "no two scans in 20 s ({} errors: {:?})",
            attribution.errors(),
            attribution.last_error()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let table = attribution.latest().expect("a table after a scan");
    assert_mine(
        &table,
        "listener",
        table.lookup(TCP, "127.0.0.1:1".parse().unwrap(), addr),
    );
    assert_eq!(attribution.errors(), 0);
    assert!(attribution.last_stats().is_some());
    // The reader never waits: many calls while the thread scans.
    let t0 = Instant::now();
    for _ in 0..10_000 {
        assert!(attribution.latest().is_some());
    }
    eprintln!("10000 latest() calls: {:?}", t0.elapsed());
    drop(attribution);
}
