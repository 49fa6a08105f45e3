//! Attribution of sockets in another network namespace: a child process
//! (this test binary again, acting as `netns_child`) opens sockets inside a
//! namespace the test creates; the scanner in the host namespace must find
//! them with the child's pid.
//!
//! Needs root and `ip` (iproute2); without them the test prints why it
//! skips.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wirewatch_procs::{Scanner, TCP, UDP};

/// Set in the child's environment: `netns_child` does its work only then.
const CHILD_ENV: &str = "WIREWATCH_PROCS_NETNS_CHILD";

/// The child's side. Without the environment variable (a normal test run)
/// it does nothing. With it: opens a TCP listener, a connection to it and a
/// bound UDP socket on the namespace's loopback, prints one line
/// `CHILD pid comm listen client server udp`, then waits for stdin to close.
#[test]
fn netns_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "CHILD {} {} {} {} {} {}",
        std::process::id(),
        comm.trim_end(),
        listener.local_addr().unwrap(),
        client.local_addr().unwrap(),
        server.local_addr().unwrap(),
        udp.local_addr().unwrap(),
    )
    .unwrap();
    out.flush().unwrap();
    drop(out);
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

/// The namespace and the child, removed on drop (child first).
struct Fixture {
    ns: String,
    child: Option<Child>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

struct ChildReport {
    pid: u32,
    comm: String,
    listen: SocketAddr,
    client: SocketAddr,
    server: SocketAddr,
    udp: SocketAddr,
}

fn parse_report(line: &str) -> ChildReport {
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f.len(), 7, "child said {line:?}");
    ChildReport {
        pid: f[1].parse().unwrap(),
        comm: f[2].into(),
        listen: f[3].parse().unwrap(),
        client: f[4].parse().unwrap(),
        server: f[5].parse().unwrap(),
        udp: f[6].parse().unwrap(),
    }
}

#[test]
fn sockets_in_another_namespace_are_attributed_to_their_process() {
    wirewatch_testkit::require!(wirewatch_testkit::netns());
    let ns = format!("wwprocs{}", std::process::id());
    let out = Command::new("ip")
        .args(["netns", "add", &ns])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ip netns add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut fx = Fixture { ns, child: None };
    let out = Command::new("ip")
        .args(["-n", &fx.ns, "link", "set", "lo", "up"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lo up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let netns = std::fs::metadata(format!("/var/run/netns/{}", fx.ns))
        .unwrap()
        .ino();

    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &fx.ns])
        .arg(&exe)
        .args(["--exact", "netns_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let spawned_pid = child.id();
    fx.child = Some(child);

    // Bounded wait for the child's line.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Reads to the end so the child never writes into a closed pipe.
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // libtest may have printed "test netns_child ... " first.
            if let Some(at) = line.find("CHILD ") {
                let _ = tx.send(line[at..].to_string());
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the child reports its sockets within 30 s");
    let child = parse_report(&line);
    // `ip netns exec` execs the command: same process.
    assert_eq!(child.pid, spawned_pid);

    let mut scanner = Scanner::new();
    let table = scanner.scan().unwrap();
    let first = scanner.last_stats().clone();
    let again = scanner.scan().unwrap();
    let second = scanner.last_stats().clone();
    eprintln!("scan with the test namespace: first {first:?}\n  second {second:?}");
    assert!(table.netns() != netns);

    for t in [&table, &again] {
        let mine: Vec<_> = t.sockets().filter(|(s, _)| s.netns == netns).collect();
        for (what, protocol, local, remote) in [
            ("listener", TCP, child.listen, None),
            ("client", TCP, child.client, Some(child.server)),
            ("accepted", TCP, child.server, Some(child.client)),
            ("udp", UDP, child.udp, None),
        ] {
            let (s, o) = mine
                .iter()
                .find(|(s, _)| s.protocol == protocol && s.local == local && s.remote == remote)
                .unwrap_or_else(|| panic!("{what} {local} not among {mine:#?}"));
            assert_eq!(o.pid, child.pid, "{what}: {o:?}");
            assert_eq!(o.comm, child.comm, "{what}");
            assert!(o.foreign_netns, "{what}");
            assert_eq!(o.netns, netns, "{what}");
            assert_eq!(s.netns, netns, "{what}");
            assert_eq!(o.uid, 0, "{what}");
            assert_eq!(o.user, "root", "{what}");
            assert_eq!(
                o.label(),
                format!("{} [netns {netns}]", child.comm),
                "{what}"
            );
        }
        // Flow lookups (the host's loopback has no sockets on these ports
        // unless by chance, which a foreign exact match would not beat).
        let o = t.lookup(TCP, child.server, child.client).unwrap();
        assert_eq!((o.pid, o.netns), (child.pid, netns));
        let stranger: SocketAddr = "127.0.0.1:1".parse().unwrap();
        if let Some(o) = t.lookup(UDP, stranger, child.udp) {
            if o.netns == netns {
                assert_eq!(o.pid, child.pid);
            }
        }
    }
    drop(fx);

    // After the child and the namespace are gone, so are its sockets.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = scanner.scan().unwrap();
        if t.sockets().all(|(s, _)| s.netns != netns) {
            break;
        }
        assert!(Instant::now() < deadline, "namespace sockets still listed");
        std::thread::sleep(Duration::from_millis(20));
    }
}
