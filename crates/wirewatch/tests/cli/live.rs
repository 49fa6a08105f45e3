//! Live capture in network namespaces the tests create: veth pairs, known
//! UDP/TCP/ICMP traffic sent by this test code, and the real binary.
//!
//! Needs root and `ip` (iproute2); without them each test prints why it
//! skips. Only addresses inside the test's own namespaces are used.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_wirewatch");

/// Skips the test unless it can make network namespaces (root and `ip`).
macro_rules! require_root_and_ip {
    () => {
        wirewatch_testkit::require!(wirewatch_testkit::netns())
    };
}

pub(crate) fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run command");
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Namespaces deleted on drop (deleting a namespace deletes its veths).
pub(crate) struct Namespaces(pub(crate) Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

/// Two namespaces `a` and `b` joined by a veth pair `ia`–`ib`, addresses
/// `10.<net>.0.1/24` (a) and `.2` (b), static neighbours, IPv6 off.
pub(crate) struct Pair {
    pub(crate) a: String,
    pub(crate) b: String,
    pub(crate) ia: String,
    pub(crate) addr_a: Ipv4Addr,
    pub(crate) addr_b: Ipv4Addr,
    _ns: Namespaces,
}

pub(crate) fn tag() -> String {
    format!(
        "{}{}",
        std::process::id() % 100_000,
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

pub(crate) fn netns_sysctl(ns: &str, key: &str, val: &str) {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    sh(&[
        "ip",
        "netns",
        "exec",
        ns,
        "sh",
        "-c",
        &format!("echo {val} > {path}"),
    ]);
}

pub(crate) fn mac_of(ns: &str, ifname: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "cat"])
        .arg(format!("/sys/class/net/{ifname}/address"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub(crate) fn new_namespace(name: &str) {
    sh(&["ip", "netns", "add", name]);
    sh(&["ip", "-n", name, "link", "set", "lo", "up"]);
    netns_sysctl(name, "net.ipv6.conf.all.disable_ipv6", "1");
    netns_sysctl(name, "net.ipv6.conf.default.disable_ipv6", "1");
    // Fixed TCP header sizes so IP bytes can be computed exactly.
    netns_sysctl(name, "net.ipv4.tcp_timestamps", "0");
    netns_sysctl(name, "net.ipv4.tcp_sack", "0");
    netns_sysctl(name, "net.ipv4.tcp_window_scaling", "0");
    // One write, one segment: no merging of small writes.
    netns_sysctl(name, "net.ipv4.tcp_autocorking", "0");
}

/// Adds a veth pair between existing namespaces `a` and `b`.
fn link(a: &str, b: &str, ia: &str, ib: &str, net: u8) -> (Ipv4Addr, Ipv4Addr) {
    sh(&[
        "ip", "link", "add", ia, "netns", a, "type", "veth", "peer", "name", ib, "netns", b,
    ]);
    let (addr_a, addr_b) = (Ipv4Addr::new(10, net, 0, 1), Ipv4Addr::new(10, net, 0, 2));
    sh(&[
        "ip",
        "-n",
        a,
        "addr",
        "add",
        &format!("{addr_a}/24"),
        "dev",
        ia,
    ]);
    sh(&[
        "ip",
        "-n",
        b,
        "addr",
        "add",
        &format!("{addr_b}/24"),
        "dev",
        ib,
    ]);
    sh(&["ip", "-n", a, "link", "set", ia, "up"]);
    sh(&["ip", "-n", b, "link", "set", ib, "up"]);
    // No ARP: permanent neighbours on both sides.
    let (ma, mb) = (mac_of(a, ia), mac_of(b, ib));
    sh(&[
        "ip",
        "-n",
        a,
        "neigh",
        "replace",
        &addr_b.to_string(),
        "lladdr",
        &mb,
        "dev",
        ia,
        "nud",
        "permanent",
    ]);
    sh(&[
        "ip",
        "-n",
        b,
        "neigh",
        "replace",
        &addr_a.to_string(),
        "lladdr",
        &ma,
        "dev",
        ib,
        "nud",
        "permanent",
    ]);
    (addr_a, addr_b)
}

pub(crate) fn pair(net: u8) -> Pair {
    let t = tag();
    let (a, b) = (format!("wwa{t}"), format!("wwb{t}"));
    let ns = Namespaces(vec![a.clone(), b.clone()]);
    new_namespace(&a);
    new_namespace(&b);
    let (ia, ib) = (format!("wa{t}"), format!("wb{t}"));
    let (addr_a, addr_b) = link(&a, &b, &ia, &ib, net);
    Pair {
        a,
        b,
        ia,
        addr_a,
        addr_b,
        _ns: ns,
    }
}

/// Runs `f` on a thread that has entered namespace `ns`; sockets it creates
/// live there.
pub(crate) fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open netns");
        // SAFETY: setns on this thread only, with a namespace fd we own.
        let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("namespace thread")
}

/// The binary running in a namespace, with its stderr collected.
pub(crate) struct Running {
    child: Child,
    stderr: mpsc::Receiver<String>,
    pub(crate) err_lines: Vec<String>,
}

impl Running {
    pub(crate) fn start(ns: &str, args: &[&str]) -> Running {
        Running::start_in(ns, &[], args)
    }

    /// [`Running::start`] through `wrapper`: a command that runs the
    /// binary and its arguments, which follow it.
    pub(crate) fn start_in(ns: &str, wrapper: &[String], args: &[&str]) -> Running {
        // No history unless the test asks for it (never the machine's own database).
        let history: &[&str] = if args.contains(&"--db") {
            &[]
        } else {
            &["--no-history"]
        };
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(wrapper)
            .arg(BIN)
            .args(history)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wirewatch");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut r = Running {
            child,
            stderr: rx,
            err_lines: Vec::new(),
        };
        // The sockets are open once privileges are dropped.
        r.wait_for_stderr("dropped privileges");
        r
    }

    pub(crate) fn wait_for_stderr(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.err_lines.iter().any(|l| l.contains(needle)) {
                return;
            }
            if let Ok(l) = self.stderr.recv_timeout(Duration::from_millis(100)) {
                self.err_lines.push(l);
            }
        }
        panic!(
            "wirewatch did not print '{needle}'; stderr so far: {:?}",
            self.err_lines
        );
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for exit; returns (exit code, stdout, stderr).
    /// Waits for the line saying where the web server listens; its address.
    pub(crate) fn web_addr(&mut self) -> std::net::SocketAddr {
        const SERVING: &str = "wirewatch: serving http://";
        self.wait_for_stderr(SERVING);
        self.err_lines
            .iter()
            .find_map(|l| l.strip_prefix(SERVING))
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("no address in {:?}", self.err_lines))
    }

    pub(crate) fn finish(mut self) -> (i32, String, String) {
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let status = self.child.wait().unwrap();
        while let Ok(l) = self.stderr.recv_timeout(Duration::from_millis(200)) {
            self.err_lines.push(l);
        }
        (status.code().unwrap_or(-1), out, self.err_lines.join("\n"))
    }
}

/// A test that fails before [`Running::finish`] must not leave wirewatch
/// capturing (a live run goes on until a signal).
impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l}: {e}")))
        .collect()
}

pub(crate) fn final_report(v: &[Value]) -> &Value {
    v.iter()
        .find(|x| x["type"] == "final")
        .expect("final report")
}

pub(crate) fn summary(v: &[Value]) -> &Value {
    v.iter().find(|x| x["type"] == "summary").expect("summary")
}

/// The entry with these endpoints (in either order) and protocol.
pub(crate) fn entry<'a>(rep: &'a Value, a: &str, b: &str, proto: &str) -> &'a Value {
    rep["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            let (s, d) = (e["src"].as_str().unwrap(), e["dst"].as_str().unwrap());
            ((s == a && d == b) || (s == b && d == a)) && e["protocol"] == proto
        })
        .unwrap_or_else(|| panic!("no {proto} entry {a} <-> {b} in {rep}"))
}

/// (packets, bytes) sent by `from` in an entry.
fn dir(e: &Value, from: &str) -> (u64, u64) {
    let d = if e["src"] == from {
        &e["src_to_dst"]
    } else {
        &e["dst_to_src"]
    };
    (d["packets"].as_u64().unwrap(), d["bytes"].as_u64().unwrap())
}

struct TcpCounts {
    segs_out: u64,
    payload_out: u64,
}

/// The socket's `TCP_INFO`.
pub(crate) fn kernel_tcp_info(s: &TcpStream) -> libc::tcp_info {
    // SAFETY: tcp_info is plain data; getsockopt fills at most its size.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: valid pointers for the call.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            &mut info as *mut libc::tcp_info as *mut libc::c_void,
            &mut len,
        )
    };
    assert_eq!(r, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
    info
}

fn tcp_info(s: &TcpStream) -> TcpCounts {
    let info = kernel_tcp_info(s);
    assert_eq!(
        info.tcpi_total_retrans, 0,
        "a retransmission spoils the count"
    );
    TcpCounts {
        segs_out: u64::from(info.tcpi_segs_out),
        payload_out: info.tcpi_bytes_sent,
    }
}

/// Sends an ICMP echo request from the current namespace thread.
fn ping(to: Ipv4Addr, seq: u16, payload: usize) {
    // SAFETY: plain socket calls with valid buffers.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP);
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let mut pkt = vec![8u8, 0, 0, 0, 0x12, 0x34];
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend(std::iter::repeat_n(0xA5u8, payload));
        let mut sum: u32 = 0;
        for c in pkt.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        while sum > 0xFFFF {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        pkt[2..4].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as u16;
        sa.sin_addr.s_addr = u32::from(to).to_be();
        let n = libc::sendto(
            fd,
            pkt.as_ptr() as *const libc::c_void,
            pkt.len(),
            0,
            &sa as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        );
        assert_eq!(n as usize, pkt.len());
        libc::close(fd);
    }
}

/// Known traffic between a pair, returning what each side's kernel says
/// it sent over TCP.
struct Sent {
    udp_b_to_a: Vec<usize>,
    udp_a_to_b: Vec<usize>,
    udp_port_b: u16,
    tcp_port_b: u16,
    tcp_a: TcpCounts,
    tcp_b: TcpCounts,
    pings: usize,
    ping_payload: usize,
}

fn send_known_traffic(p: &Pair) -> Sent {
    let (addr_a, addr_b) = (p.addr_a, p.addr_b);
    // Servers in A.
    let (udp_a, tcp_a) = in_netns(&p.a, move || {
        (
            UdpSocket::bind(SocketAddrV4::new(addr_a, 5001)).unwrap(),
            TcpListener::bind(SocketAddrV4::new(addr_a, 5002)).unwrap(),
        )
    });
    let udp_b_to_a: Vec<usize> = (0..10).map(|i| 100 + i).collect();
    let udp_a_to_b: Vec<usize> = vec![50; 5];
    let sizes = udp_b_to_a.clone();
    let (udp_b, tcp_b, tcp_port_b) = in_netns(&p.b, move || {
        let u = UdpSocket::bind(SocketAddrV4::new(addr_b, 0)).unwrap();
        for n in &sizes {
            u.send_to(&vec![7u8; *n], SocketAddrV4::new(addr_a, 5001))
                .unwrap();
        }
        let t = TcpStream::connect(SocketAddrV4::new(addr_a, 5002)).unwrap();
        let port = t.local_addr().unwrap().port();
        (u, t, port)
    });
    let udp_port_b = udp_b.local_addr().unwrap().port();
    let mut buf = [0u8; 2048];
    for _ in 0..10 {
        let (_, from) = udp_a.recv_from(&mut buf).unwrap();
        assert_eq!(from.port(), udp_port_b);
    }
    for n in &udp_a_to_b {
        udp_a
            .send_to(&vec![9u8; *n], SocketAddrV4::new(addr_b, udp_port_b))
            .unwrap();
    }
    for _ in 0..5 {
        udp_b.recv_from(&mut buf).unwrap();
    }
    // TCP: request, reply, both sides close; every segment is counted by
    // the kernel (TCP_INFO), our oracle.
    let (mut server, _) = tcp_a.accept().unwrap();
    let mut client = tcp_b;
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    // Writes below the MSS, each read before the next: one segment each
    // (a larger write would leave as one GSO packet bigger than the MTU).
    let mut got = vec![0u8; 3000];
    for _ in 0..3 {
        client.write_all(&[1u8; 1000]).unwrap();
        server.read_exact(&mut got[..1000]).unwrap();
    }
    server.write_all(&[2u8; 700]).unwrap();
    client.read_exact(&mut got[..700]).unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(server.read(&mut got).unwrap(), 0);
    server.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(client.read(&mut got).unwrap(), 0);
    std::thread::sleep(Duration::from_millis(200));
    let (ta, tb) = (tcp_info(&server), tcp_info(&client));
    // ICMP echo: B pings A three times; A's kernel answers.
    in_netns(&p.b, move || {
        for seq in 0..3 {
            ping(addr_a, seq, 56);
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    Sent {
        udp_b_to_a,
        udp_a_to_b,
        udp_port_b,
        tcp_port_b,
        tcp_a: ta,
        tcp_b: tb,
        pings: 3,
        ping_payload: 56,
    }
}

/// Asserts the per-conversation packets and IP bytes of `rep` against
/// what was sent.
fn assert_exact(rep: &Value, p: &Pair, s: &Sent) {
    let (a, b) = (p.addr_a.to_string(), p.addr_b.to_string());
    let udp = entry(rep, &a, &b, "udp");
    assert_eq!(
        udp["src_port"].as_u64().unwrap() + udp["dst_port"].as_u64().unwrap(),
        5001 + u64::from(s.udp_port_b)
    );
    let ip_udp = |v: &[usize]| v.iter().map(|n| (20 + 8 + n) as u64).sum::<u64>();
    assert_eq!(dir(udp, &b), (10, ip_udp(&s.udp_b_to_a)), "UDP b->a");
    assert_eq!(dir(udp, &a), (5, ip_udp(&s.udp_a_to_b)), "UDP a->b");

    let tcp = entry(rep, &a, &b, "tcp");
    assert_eq!(
        tcp["src_port"].as_u64().unwrap() + tcp["dst_port"].as_u64().unwrap(),
        5002 + u64::from(s.tcp_port_b)
    );
    // 20-byte IP and TCP headers; SYN and SYN-ACK carry a 4-byte MSS option.
    // The accepted socket's counters miss the SYN-ACK: the listener's
    // request socket sent it.
    let client_segs = s.tcp_b.segs_out;
    let server_segs = s.tcp_a.segs_out + 1;
    let bytes = |segs: u64, c: &TcpCounts| segs * 40 + 4 + c.payload_out;
    assert_eq!(
        dir(tcp, &b),
        (client_segs, bytes(client_segs, &s.tcp_b)),
        "TCP b->a"
    );
    assert_eq!(
        dir(tcp, &a),
        (server_segs, bytes(server_segs, &s.tcp_a)),
        "TCP a->b"
    );

    let icmp = entry(rep, &a, &b, "icmp");
    let per = (20 + 8 + s.ping_payload) as u64;
    assert_eq!(dir(icmp, &b), (s.pings as u64, per * s.pings as u64));
    assert_eq!(dir(icmp, &a), (s.pings as u64, per * s.pings as u64));
}

#[test]
fn udp_tcp_icmp_counts_are_exact_per_direction() {
    require_root_and_ip!();
    let p = pair(201);
    let r = Running::start(&p.a, &["-i", &p.ia, "-s", "3", "--format", "json", "-P"]);
    let sent = send_known_traffic(&p);
    let (code, out, err) = r.finish();
    assert_eq!(code, 0, "stderr: {err}");
    let v = json_lines(&out);
    let rep = final_report(&v);
    assert_exact(rep, &p, &sent);
    // Direction: the interface's own address is the local (sending) side.
    let udp = entry(rep, &p.addr_a.to_string(), &p.addr_b.to_string(), "udp");
    assert_eq!(udp["src"], p.addr_a.to_string());
    // Kernel counters: every packet the socket saw was accounted, none dropped.
    let sum = summary(&v);
    let cap = &sum["capture"];
    assert_eq!(cap["kernel_dropped"], 0);
    assert_eq!(cap["kernel_received"], sum["packets"]);
    assert_eq!(cap["interfaces"][0]["name"], p.ia.as_str());
    assert!(rep["capture"]["kernel_received"].as_u64().unwrap() > 0);
    assert!(err.contains("stopped after the -s duration"), "{err}");
}

#[test]
fn written_pcapng_reads_back_to_the_same_table() {
    require_root_and_ip!();
    let p = pair(202);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.pcapng");
    let local = format!("{}/32", p.addr_a);
    let r = Running::start(
        &p.a,
        &[
            "-i",
            &p.ia,
            "-s",
            "3",
            "--format",
            "json",
            "-P",
            "-F",
            &local,
            "-w",
            file.to_str().unwrap(),
        ],
    );
    let sent = send_known_traffic(&p);
    let (code, out, err) = r.finish();
    assert_eq!(code, 0, "stderr: {err}");
    let live = json_lines(&out);
    let replay = Command::new(BIN)
        .args([
            "-r",
            file.to_str().unwrap(),
            "--format",
            "json",
            "-P",
            "-F",
            &local,
        ])
        .output()
        .unwrap();
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let file_v = json_lines(&String::from_utf8_lossy(&replay.stdout));
    let (l, f) = (final_report(&live), final_report(&file_v));
    assert_exact(f, &p, &sent);
    let strip = |rep: &Value| -> Vec<String> {
        let mut v: Vec<String> = rep["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{} {} {} {} {} {} {} {} {} {}",
                    e["src"],
                    e["dst"],
                    e["src_port"],
                    e["dst_port"],
                    e["protocol"],
                    e["src_to_dst"]["packets"],
                    e["src_to_dst"]["bytes"],
                    e["dst_to_src"]["packets"],
                    e["dst_to_src"]["bytes"],
                    e["src_to_dst"]["tcp_flags"]
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(strip(l), strip(f));
    for k in [
        "packets",
        "frame_bytes",
        "ip_bytes",
        "ip_packets",
        "non_ip_packets",
    ] {
        assert_eq!(l["stats"][k], f["stats"][k], "{k}");
    }
}

#[test]
fn default_interface_is_the_one_with_the_default_route() {
    require_root_and_ip!();
    let t = tag();
    let (a, b) = (format!("wwa{t}"), format!("wwb{t}"));
    let _ns = Namespaces(vec![a.clone(), b.clone()]);
    new_namespace(&a);
    new_namespace(&b);
    // Two links; the default route goes over the second, which has the
    // higher index: "the first interface" would be wrong.
    let (i1, i2) = (format!("x{t}"), format!("y{t}"));
    link(&a, &b, &i1, &format!("p{t}"), 203);
    let (_, gw) = link(&a, &b, &i2, &format!("q{t}"), 204);
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &a,
            BIN,
            "--no-history",
            "-s",
            "0.5",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("capturing on {i1} (there is no default route and it is the first interface that is up)")),
        "{err}"
    );
    sh(&[
        "ip",
        "-n",
        &a,
        "route",
        "add",
        "default",
        "via",
        &gw.to_string(),
        "dev",
        &i2,
    ]);
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &a,
            BIN,
            "--no-history",
            "-s",
            "0.5",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "capturing on {i2} (it carries the IPv4 default route)"
        )),
        "{err}"
    );
    let listing = Command::new("ip")
        .args([
            "netns",
            "exec",
            &a,
            BIN,
            "--no-history",
            "--list-interfaces",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(text.contains(&format!("{i2}*")), "{text}");
    assert!(text.contains("10.204.0.1/24"), "{text}");
    assert!(
        text.contains(&format!(
            "* default: {i2} (it carries the IPv4 default route)"
        )),
        "{text}"
    );
}

#[test]
fn ring_overflow_is_counted_as_drops() {
    require_root_and_ip!();
    let p = pair(205);
    // One 4 KiB block: the kernel must drop while we hold it.
    let r = Running::start(
        &p.a,
        &[
            "-i",
            &p.ia,
            "-s",
            "3",
            "--format",
            "json",
            "--ring-block-size",
            "4096",
            "--ring-blocks",
            "1",
        ],
    );
    let (addr_a, addr_b) = (p.addr_a, p.addr_b);
    let sink = in_netns(&p.a, move || {
        UdpSocket::bind(SocketAddrV4::new(addr_a, 6000)).unwrap()
    });
    const N: u64 = 100_000;
    in_netns(&p.b, move || {
        let u = UdpSocket::bind(SocketAddrV4::new(addr_b, 0)).unwrap();
        for _ in 0..N {
            let _ = u.send_to(&[0u8; 18], SocketAddrV4::new(addr_a, 6000));
        }
    });
    drop(sink);
    let (code, out, err) = r.finish();
    assert_eq!(code, 0, "{err}");
    let v = json_lines(&out);
    let sum = summary(&v);
    let (received, dropped) = (
        sum["capture"]["kernel_received"].as_u64().unwrap(),
        sum["capture"]["kernel_dropped"].as_u64().unwrap(),
    );
    let seen = sum["packets"].as_u64().unwrap();
    assert!(dropped > 0, "no drops with a 4 KiB ring: {sum}");
    assert_eq!(
        received, N,
        "every packet reaches the socket (counted or dropped)"
    );
    assert_eq!(seen + dropped, received, "accounted + dropped = received");
    let text = Command::new("ip")
        .args([
            "netns",
            "exec",
            &p.a,
            BIN,
            "--no-history",
            "-i",
            &p.ia,
            "-s",
            "0.3",
        ])
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&text.stdout);
    assert!(t.contains("Kernel packets (received/dropped):"), "{t}");
    assert!(t.contains("kernel dropped:"), "{t}");
}

#[test]
fn the_kernel_runs_the_filter() {
    require_root_and_ip!();
    let p = pair(206);
    let r = Running::start(
        &p.a,
        &[
            "-i",
            &p.ia,
            "-s",
            "2",
            "--format",
            "json",
            "-P",
            "-f",
            "udp and (dst port 6001 or src port 7002)",
        ],
    );
    let (addr_a, addr_b) = (p.addr_a, p.addr_b);
    let sinks = in_netns(&p.a, move || {
        [6000, 6001].map(|port| UdpSocket::bind(SocketAddrV4::new(addr_a, port)).unwrap())
    });
    in_netns(&p.b, move || {
        let u = UdpSocket::bind(SocketAddrV4::new(addr_b, 7002)).unwrap();
        for _ in 0..400 {
            u.send_to(&[0u8; 10], SocketAddrV4::new(addr_a, 6000))
                .unwrap();
        }
        let v = UdpSocket::bind(SocketAddrV4::new(addr_b, 7003)).unwrap();
        for _ in 0..300 {
            v.send_to(&[0u8; 20], SocketAddrV4::new(addr_a, 6001))
                .unwrap();
            v.send_to(&[0u8; 20], SocketAddrV4::new(addr_a, 6000))
                .unwrap();
        }
    });
    drop(sinks);
    let (code, out, err) = r.finish();
    assert_eq!(code, 0, "{err}");
    let v = json_lines(&out);
    let sum = summary(&v);
    // 400 from port 7002 plus 300 to port 6001; the 300 from 7003 to 6000
    // never reach the ring.
    assert_eq!(sum["capture"]["kernel_received"], 700, "{sum}");
    assert_eq!(sum["capture"]["kernel_dropped"], 0, "{sum}");
    assert_eq!(sum["packets"], 700, "{sum}");
    let rep = final_report(&v);
    let ports: Vec<(u64, u64, u64)> = rep["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let (a, b) = (
                e["src_port"].as_u64().unwrap(),
                e["dst_port"].as_u64().unwrap(),
            );
            let packets = e["src_to_dst"]["packets"].as_u64().unwrap()
                + e["dst_to_src"]["packets"].as_u64().unwrap();
            (a.min(b), a.max(b), packets)
        })
        .collect();
    assert_eq!(ports.len(), 2, "{rep}");
    assert!(ports.contains(&(6000, 7002, 400)), "{ports:?}");
    assert!(ports.contains(&(6001, 7003, 300)), "{ports:?}");
}

fn mac_bytes(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, part) in s.split(':').enumerate() {
        m[i] = u8::from_str_radix(part, 16).unwrap();
    }
    m
}

/// Sends raw Ethernet frames out of `ifname` (a packet socket in the
/// current namespace).
fn inject(ifname: &str, frames: &[Vec<u8>]) {
    let name = std::ffi::CString::new(ifname).unwrap();
    // SAFETY: plain libc calls with valid pointers and lengths; the fd is
    // closed at the end.
    unsafe {
        let idx = libc::if_nametoindex(name.as_ptr());
        assert!(idx > 0, "no interface {ifname}");
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        assert!(
            fd >= 0,
            "packet socket: {}",
            std::io::Error::last_os_error()
        );
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = idx as i32;
        sll.sll_halen = 6;
        for f in frames {
            let n = libc::sendto(
                fd,
                f.as_ptr().cast(),
                f.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            assert_eq!(
                n,
                f.len() as isize,
                "send: {}",
                std::io::Error::last_os_error()
            );
        }
        libc::close(fd);
    }
}

#[test]
fn vlan_filters_see_the_tag_the_kernel_took_off() {
    require_root_and_ip!();
    let p = pair(207);
    let ib = p.ia.replacen("wa", "wb", 1);
    let (ma, mb) = (
        mac_bytes(&mac_of(&p.a, &p.ia)),
        mac_bytes(&mac_of(&p.b, &ib)),
    );
    // On receive the kernel moves an 802.1Q tag from the frame into the
    // packet's metadata before packet sockets see it, so kernel filters
    // need the VLAN ancillary loads and the ring must put the tag back.
    let tagged = Running::start(
        &p.a,
        &[
            "-i",
            &p.ia,
            "-s",
            "2",
            "--format",
            "json",
            "-P",
            "-f",
            "vlan 10 and udp",
        ],
    );
    let untagged = Running::start(
        &p.a,
        &[
            "-i", &p.ia, "-s", "2", "--format", "json", "-P", "-f", "not vlan",
        ],
    );
    let udp_in = |id: Option<u16>, net: u8| {
        let (src, dst) = (format!("10.{net}.0.2"), format!("10.{net}.0.1"));
        let ip4 = wirewatch_wire::build::ipv4(
            src.parse().unwrap(),
            dst.parse().unwrap(),
            17,
            &wirewatch_wire::build::udp(7000, 6000, &[0u8; 10]),
        );
        match id {
            Some(id) => wirewatch_wire::build::eth_macs(
                ma,
                mb,
                0x8100,
                &wirewatch_wire::build::vlan(id, 0x0800, &ip4),
            ),
            None => wirewatch_wire::build::eth_macs(ma, mb, 0x0800, &ip4),
        }
    };
    let mut frames = Vec::new();
    frames.extend(std::iter::repeat_n(udp_in(Some(10), 10), 200));
    frames.extend(std::iter::repeat_n(udp_in(Some(20), 20), 100));
    frames.extend(std::iter::repeat_n(udp_in(None, 30), 50));
    let ib2 = ib.clone();
    in_netns(&p.b, move || inject(&ib2, &frames));

    let (code, out, err) = tagged.finish();
    assert_eq!(code, 0, "{err}");
    let v = json_lines(&out);
    assert_eq!(summary(&v)["capture"]["kernel_received"], 200, "{out}");
    let rep = final_report(&v);
    let e = entry(rep, "10.10.0.1", "10.10.0.2", "udp");
    assert_eq!(dir(e, "10.10.0.2"), (200, 200 * 38), "{e}");
    // The tag is back in the frame: 14 + 4 + 38 bytes each.
    let d = if e["src"] == "10.10.0.2" {
        &e["src_to_dst"]
    } else {
        &e["dst_to_src"]
    };
    assert_eq!(d["frame_bytes"], 200 * 56, "{e}");
    assert_eq!(rep["entries"].as_array().unwrap().len(), 1, "{rep}");

    let (code, out, err) = untagged.finish();
    assert_eq!(code, 0, "{err}");
    let v = json_lines(&out);
    assert_eq!(summary(&v)["capture"]["kernel_received"], 50, "{out}");
    let e = entry(final_report(&v), "10.30.0.1", "10.30.0.2", "udp");
    assert_eq!(dir(e, "10.30.0.2"), (50, 50 * 38), "{e}");
}

#[test]
fn an_interface_going_away_does_not_stop_the_others() {
    require_root_and_ip!();
    let p = pair(206);
    let t = tag();
    let (ic, id) = (format!("c{t}"), format!("d{t}"));
    let (_, addr_d) = link(&p.a, &p.b, &ic, &id, 207);
    let r = Running::start(
        &p.a,
        &["-i", &p.ia, "-i", &ic, "-s", "3", "--format", "json", "-P"],
    );
    let (addr_a, addr_b) = (p.addr_a, p.addr_b);
    let send = |to: Ipv4Addr, from: Ipv4Addr, port: u16, n: usize| {
        in_netns(&p.b, move || {
            let u = UdpSocket::bind(SocketAddrV4::new(from, 7001)).unwrap();
            for _ in 0..n {
                u.send_to(&[1u8; 10], SocketAddrV4::new(to, port)).unwrap();
            }
        })
    };
    let c_addr = Ipv4Addr::new(10, 207, 0, 1);
    let _ra = in_netns(&p.a, move || {
        UdpSocket::bind(SocketAddrV4::new(addr_a, 7000)).unwrap()
    });
    let _rc = in_netns(&p.a, move || {
        UdpSocket::bind(SocketAddrV4::new(c_addr, 7000)).unwrap()
    });
    send(addr_a, addr_b, 7000, 4);
    send(c_addr, addr_d, 7000, 6);
    std::thread::sleep(Duration::from_millis(300));
    sh(&["ip", "-n", &p.a, "link", "del", &ic]);
    let mut r = r;
    r.wait_for_stderr("interface disappeared");
    send(addr_a, addr_b, 7000, 5);
    let (code, out, err) = r.finish();
    assert_eq!(code, 0, "{err}");
    let v = json_lines(&out);
    let rep = final_report(&v);
    let e = entry(rep, &addr_a.to_string(), &addr_b.to_string(), "udp");
    assert_eq!(
        dir(e, &addr_b.to_string()).0,
        9,
        "before and after the other link went away"
    );
    let e = entry(rep, &c_addr.to_string(), &addr_d.to_string(), "udp");
    assert_eq!(
        dir(e, &addr_d.to_string()).0,
        6,
        "counts of the lost interface are kept"
    );
    let ifs = summary(&v)["capture"]["interfaces"]
        .as_array()
        .unwrap()
        .clone();
    let gone = ifs.iter().find(|i| i["name"] == ic.as_str()).unwrap();
    assert_eq!(gone["state"], "gone");
    assert_eq!(gone["received"], 6);
}

/// Binds a receiver on a's `port` (returned: keep it alive) and sends `n`
/// datagrams of 10 bytes (38 IP bytes) to it from b.
fn udp_b_to_a(p: &Pair, port: u16, n: usize) -> UdpSocket {
    let (addr_a, addr_b) = (p.addr_a, p.addr_b);
    let rx = in_netns(&p.a, move || {
        UdpSocket::bind(SocketAddrV4::new(addr_a, port)).unwrap()
    });
    send_udp(&p.b, addr_b, addr_a, port, n);
    rx
}

#[test]
fn an_interface_deleted_while_down_is_gone() {
    require_root_and_ip!();
    let p = pair(210);
    let r = Running::start(&p.a, &["-i", &p.ia, "--format", "json", "-P"]);
    let (addr_a, addr_b) = (p.addr_a, p.addr_b);
    let _rx = udp_b_to_a(&p, 7200, 3);
    std::thread::sleep(Duration::from_millis(200));
    let mut r = r;
    sh(&["ip", "-n", &p.a, "link", "set", &p.ia, "down"]);
    r.wait_for_stderr("interface went down");
    sh(&["ip", "-n", &p.a, "link", "del", &p.ia]);
    r.wait_for_stderr("interface disappeared");
    // Its only interface is gone: the capture ends by itself.
    let (code, out, err) = r.finish();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("every interface is gone"), "{err}");
    let v = json_lines(&out);
    let e = entry(
        final_report(&v),
        &addr_a.to_string(),
        &addr_b.to_string(),
        "udp",
    );
    assert_eq!(dir(e, &addr_b.to_string()), (3, 3 * 38));
    assert_eq!(summary(&v)["capture"]["interfaces"][0]["state"], "gone");
}

#[test]
fn interval_reports_reach_the_pipe_as_they_are_made() {
    require_root_and_ip!();
    let p = pair(211);
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &p.a,
            BIN,
            "--no-history",
            "-i",
            &p.ia,
            "--format",
            "json",
        ])
        .args(["--interval", "0.5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Two reports of a few hundred bytes each: far below the output buffer,
    // so they only arrive if each report is flushed.
    let first = rx.recv_timeout(Duration::from_secs(10));
    let second = rx.recv_timeout(Duration::from_secs(10));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let first = first.expect("no interval report while running");
    let second = second.expect("no second interval report while running");
    for l in [first, second] {
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["type"], "interval", "{l}");
    }
    assert!(status.success());
}

#[test]
fn sigterm_prints_the_final_report() {
    require_root_and_ip!();
    let p = pair(208);
    let r = Running::start(&p.a, &["-i", &p.ia, "--format", "json", "-P"]);
    let (addr_a, addr_b) = (p.addr_a, p.addr_b);
    let _rx = udp_b_to_a(&p, 7100, 7);
    // Right away: the frames are still in a ring block the kernel has not
    // released (it does so after 50 ms); the final report must have them.
    std::thread::sleep(Duration::from_millis(5));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(r.pid() as i32, libc::SIGTERM) };
    let (code, out, err) = r.finish();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("stopped by SIGTERM"), "{err}");
    let v = json_lines(&out);
    let e = entry(
        final_report(&v),
        &addr_a.to_string(),
        &addr_b.to_string(),
        "udp",
    );
    assert_eq!(dir(e, &addr_b.to_string()), (7, 7 * 38));
}

#[test]
fn privileges_are_dropped_after_the_sockets_open() {
    require_root_and_ip!();
    let p = pair(209);
    // With process lookup (the default) only the process-scan thread keeps
    // CAP_DAC_READ_SEARCH (2) and CAP_SYS_PTRACE (19), to read other users'
    // /proc/PID/fd; with --respond enforce only the responder thread keeps
    // CAP_NET_ADMIN (12), also in its ambient set for the nft it runs;
    // every other thread (packets, DNS, history, hooks) has none.
    wirewatch_testkit::require!(wirewatch_testkit::tool("nft"));
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("h.db");
    for extra in [None, Some("--no-processes"), Some("--respond=enforce")] {
        let mut args = vec![
            "-i",
            &p.ia,
            "-s",
            "2",
            "--format",
            "json",
            "--db",
            db.to_str().unwrap(),
        ];
        args.extend(extra);
        let mut r = Running::start(&p.a, &args);
        let responding = extra == Some("--respond=enforce");
        r.wait_for_stderr(match extra {
            None => "only the process-scan thread keeps",
            Some("--no-processes") => "dropped privileges",
            Some(_) => "only the responder thread keeps cap_net_admin",
        });
        // The history writer starts right after the drop: wait until it is
        // there. With process lookup, wait too until the scan thread has its
        // name: a new thread bears the process's name ("wirewatch") until it
        // sets its own, and would be taken for another thread.
        let comms = |pid: u32| -> Vec<String> {
            std::fs::read_dir(format!("/proc/{pid}/task"))
                .unwrap()
                .map(|t| {
                    std::fs::read_to_string(t.unwrap().path().join("comm")).unwrap_or_default()
                })
                .collect()
        };
        let ready = || {
            let c = comms(r.pid());
            let named = |name: &str| c.iter().any(|c| c.trim() == name);
            named("wirewatch-histo")
                && (extra == Some("--no-processes") || named("wirewatch-procs"))
                && (!responding || named("wirewatch-respo") && named("wirewatch-exec"))
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !ready() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let (mut scan_threads, mut history_threads, mut responders) = (0, 0, 0);
        for t in std::fs::read_dir(format!("/proc/{}/task", r.pid())).unwrap() {
            let dir = t.unwrap().path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            let st = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
            let eff = st
                .lines()
                .find(|l| l.starts_with("CapEff:"))
                .unwrap_or("")
                .to_string();
            history_threads += usize::from(comm.trim() == "wirewatch-histo");
            let amb = st
                .lines()
                .find(|l| l.starts_with("CapAmb:"))
                .unwrap_or("")
                .to_string();
            if comm.trim() == "wirewatch-procs" {
                scan_threads += 1;
                assert!(eff.ends_with("0000000000080004"), "scan thread: {eff}");
            } else if comm.trim() == "wirewatch-respo" {
                responders += 1;
                assert!(eff.ends_with("0000000000001000"), "responder: {eff}");
                assert!(amb.ends_with("0000000000001000"), "responder: {amb}");
            } else {
                assert!(amb.ends_with("0000000000000000"), "{}: {amb}", comm.trim());
                assert!(eff.ends_with("0000000000000000"), "{}: {eff}", comm.trim());
            }
        }
        assert_eq!(
            scan_threads,
            usize::from(extra != Some("--no-processes")),
            "{extra:?}"
        );
        assert_eq!(responders, usize::from(responding), "{extra:?}");
        assert_eq!(
            history_threads, 1,
            "the history writer was checked ({extra:?})"
        );
        let status = std::fs::read_to_string(format!("/proc/{}/status", r.pid())).unwrap();
        let field = |k: &str| {
            status
                .lines()
                .find(|l| l.starts_with(k))
                .unwrap_or_else(|| panic!("{k} in {status}"))
                .split_whitespace()
                .skip(1)
                .collect::<Vec<_>>()
        };
        assert_eq!(field("Uid:"), vec!["65534"; 4]);
        assert_eq!(field("Gid:"), vec!["65534"; 4]);
        assert_eq!(field("Groups:"), Vec::<&str>::new());
        assert_eq!(field("CapEff:"), vec!["0000000000000000"], "{extra:?}");
        assert_eq!(field("CapPrm:"), vec!["0000000000000000"], "{extra:?}");
        assert_eq!(field("CapInh:"), vec!["0000000000000000"]);
        assert_eq!(field("NoNewPrivs:"), vec!["1"]);
        let (code, _, err) = r.finish();
        assert_eq!(code, 0, "{err}");
    }
}

/// Set by the process-attribution test when it runs this binary as the
/// child that owns the sockets.
const CHILD_ENV: &str = "WIREWATCH_TEST_SOCKET_CHILD";

/// Not a test of its own: the child process of
/// `flows_name_the_process_that_owns_them` (does nothing unless it is that
/// child), run as the test `socket_child` at the crate root. Connects TCP
/// and sends UDP to the address in the variable, says "ready", and keeps
/// its sockets until stdin closes.
pub fn socket_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.split(',');
    let tcp: std::net::SocketAddr = parts.next().unwrap().parse().unwrap();
    let udp: std::net::SocketAddr = parts.next().unwrap().parse().unwrap();
    let mut t = TcpStream::connect(tcp).unwrap();
    t.write_all(&[7; 3000]).unwrap();
    let u = UdpSocket::bind("0.0.0.0:0").unwrap();
    for _ in 0..5 {
        u.send_to(&[1; 100], udp).unwrap();
    }
    // Straight to fd 1: the test harness captures println!.
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/stdout")
        .unwrap();
    writeln!(
        out,
        "ready {} {}",
        t.local_addr().unwrap().port(),
        u.local_addr().unwrap().port()
    )
    .unwrap();
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    drop((t, u));
}

#[test]
fn flows_name_the_process_that_owns_them() {
    require_root_and_ip!();
    let p = pair(210);
    let b = p.addr_b;
    let (tcp_l, udp_l) = in_netns(&p.b, move || {
        let t = TcpListener::bind((b, 0)).unwrap();
        let u = UdpSocket::bind((b, 0)).unwrap();
        (t, u)
    });
    let tcp = tcp_l.local_addr().unwrap();
    let udp = udp_l.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut c, _) = tcp_l.accept().unwrap();
        let mut buf = Vec::new();
        let _ = c.read_to_end(&mut buf);
        buf.len()
    });
    let r = Running::start(
        &p.a,
        &[
            "-i", &p.ia, "-s", "4", "--format", "json", "-P", "-o", "process",
        ],
    );
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &p.a])
        .arg(&exe)
        .args(["--exact", "socket_child", "--test-threads", "1"])
        .env(CHILD_ENV, format!("{tcp},{udp}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.split_once("ready ").map(|(_, r)| r.to_string()))
        .expect("child ready");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    let ports: Vec<u16> = ready
        .split(' ')
        .map(|x| x.trim().parse().unwrap())
        .collect();
    let (code, out, err) = r.finish();
    drop(child.stdin.take());
    child.wait().unwrap();
    assert_eq!(server.join().unwrap(), 3000);
    drop(udp_l);
    assert_eq!(code, 0, "{err}");
    let v = json_lines(&out);
    let rep = final_report(&v);
    let a = p.addr_a.to_string();
    let find = |proto: &str, port: u16| {
        rep["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| {
                e["protocol"] == proto
                    && (e["src_port"] == port || e["dst_port"] == port)
                    && (e["src"] == a.as_str() || e["dst"] == a.as_str())
            })
            .unwrap_or_else(|| panic!("no {proto} entry with port {port}: {rep}"))
    };
    // -o process: entries with a known process first.
    let entries = rep["entries"].as_array().unwrap();
    let known = entries
        .iter()
        .take_while(|e| !e["process"].is_null())
        .count();
    assert!(known >= 2, "{rep}");
    assert!(
        entries[known..].iter().all(|e| e["process"].is_null()),
        "{rep}"
    );
    for (proto, port) in [("tcp", ports[0]), ("udp", ports[1])] {
        let e = find(proto, port);
        let pr = &e["process"];
        assert_eq!(pr["pid"], pid, "{proto}: {e}");
        assert_eq!(pr["name"], comm.trim(), "{proto}: {e}");
        assert_eq!(pr["user"], "root", "{proto}: {e}");
        assert_eq!(pr["other_netns"], false, "{proto}: {e}");
    }
}

#[test]
fn without_privileges_the_error_says_what_is_needed() {
    require_root_and_ip!();
    let out = Command::new(BIN)
        .args(["--no-history", "-i", "lo", "-s", "1"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs root or the CAP_NET_RAW capability"),
        "{err}"
    );
    assert!(err.contains("sudo setcap cap_net_raw=eip"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn every_output_format_stops_after_s_seconds() {
    require_root_and_ip!();
    let p = pair(210);
    for fmt in ["text", "json", "csv"] {
        let started = Instant::now();
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &p.a,
                BIN,
                "--no-history",
                "-i",
                &p.ia,
                "-s",
                "1",
                "--format",
                fmt,
            ])
            .output()
            .unwrap();
        let took = started.elapsed();
        assert!(
            out.status.success(),
            "{fmt}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(took < Duration::from_secs(10), "{fmt} took {took:?}");
        let s = String::from_utf8_lossy(&out.stdout);
        let e = String::from_utf8_lossy(&out.stderr);
        match fmt {
            "text" => assert!(
                s.contains("Final report at") && s.contains("kernel received:"),
                "{s}"
            ),
            "json" => assert!(
                s.lines().last().unwrap().contains("\"kernel_received\""),
                "{s}"
            ),
            _ => {
                assert!(s.starts_with("family,src,dst,"), "{s}");
                assert!(s
                    .lines()
                    .next()
                    .unwrap()
                    .ends_with("kernel_received,kernel_dropped,pid,process"));
                assert!(e.contains("kernel received:"), "{e}");
            }
        }
    }
}

/// Sends `n` UDP datagrams from namespace `ns_b` (address `b`) to `a:port`
/// (nothing listens there).
fn send_udp(ns_b: &str, b: Ipv4Addr, a: Ipv4Addr, port: u16, n: usize) {
    in_netns(ns_b, move || {
        let u = UdpSocket::bind(SocketAddrV4::new(b, 0)).unwrap();
        for _ in 0..n {
            u.send_to(&[1u8; 10], SocketAddrV4::new(a, port)).unwrap();
        }
    });
}

/// Set by `the_filter_is_replaced_on_the_open_sockets` when it runs this
/// binary inside namespace a (interfaces are looked up through that
/// namespace's /sys, so the capture must be opened by a process there).
const FILTER_CHILD_ENV: &str = "WIREWATCH_TEST_FILTER_CHILD";

/// Not a test of its own: the body of
/// `the_filter_is_replaced_on_the_open_sockets`, run in namespace a as the
/// test `filter_child` at the crate root.
pub fn filter_child() {
    use wirewatch_flow::{FlowConfig, FlowTable};
    use wirewatch_pipeline::live::{LiveCapture, LiveSettings};
    use wirewatch_pipeline::Pipeline;
    let Ok(spec) = std::env::var(FILTER_CHILD_ENV) else {
        return;
    };
    let v: Vec<&str> = spec.split(',').collect();
    let (iface, ns_b) = (v[0], v[1]);
    let (a, b): (Ipv4Addr, Ipv4Addr) = (v[2].parse().unwrap(), v[3].parse().unwrap());
    let ls = LiveSettings {
        interfaces: vec![iface.to_string()],
        promiscuous: false,
        snaplen: 512,
        ring: wirewatch_live::RingConfig {
            block_size: 1 << 20,
            block_count: 8,
            retire_ms: 50,
        },
        duration_nanos: None,
        write: None,
        user: "nobody".into(),
        filter: Some("udp port 7001".into()),
        local_nets_given: false,
    };
    let cap =
        LiveCapture::open(&ls, std::sync::Arc::new(wirewatch_wire::SystemClock)).expect("open");
    let mut p = Pipeline::new(cap, FlowTable::new(FlowConfig::default()));
    let count = |t: &FlowTable, port: u16| -> u64 {
        t.flows()
            .filter(|f| f.key.protocol == 17 && (f.key.a_port == port || f.key.b_port == port))
            .map(|f| f.dirs[0].packets + f.dirs[1].packets)
            .sum()
    };
    let settle = |p: &mut Pipeline<LiveCapture>| {
        // The ring hands over a partly filled block after 50 ms.
        for _ in 0..5 {
            p.pump(100_000_000).unwrap();
        }
    };
    let send = |port, n| send_udp(ns_b, b, a, port, n);
    send(7001, 5);
    send(7002, 5);
    settle(&mut p);
    assert_eq!((count(p.table(), 7001), count(p.table(), 7002)), (5, 0));
    p.source.set_filter(Some("udp port 7002")).unwrap();
    send(7001, 5);
    send(7002, 5);
    settle(&mut p);
    assert_eq!((count(p.table(), 7001), count(p.table(), 7002)), (5, 5));
    let err = p.source.set_filter(Some("udp prt 1")).unwrap_err();
    assert!(format!("{err:#}").contains("column"), "{err:#}");
    send(7001, 3);
    send(7002, 3);
    settle(&mut p);
    assert_eq!(
        (count(p.table(), 7001), count(p.table(), 7002)),
        (5, 8),
        "old filter kept"
    );
    p.source.set_filter(None).unwrap();
    send(7001, 2);
    settle(&mut p);
    assert_eq!(count(p.table(), 7001), 7, "no filter: everything");
}

/// The screen's `f` key: the filter on open sockets is replaced; a bad
/// expression changes nothing.
#[test]
fn the_filter_is_replaced_on_the_open_sockets() {
    require_root_and_ip!();
    let p = pair(211);
    let out = Command::new("ip")
        .args(["netns", "exec", &p.a])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "filter_child", "--test-threads", "1"])
        .env(
            FILTER_CHILD_ENV,
            format!("{},{},{},{}", p.ia, p.b, p.addr_a, p.addr_b),
        )
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("test filter_child ... ok"), "{text}");
}

/// Runs `wirewatch history ARGS --since 1h --json --db DB`, which must
/// succeed; returns its JSON lines.
fn history_json(db: &std::path::Path, args: &[&str]) -> Vec<Value> {
    let out = Command::new(BIN)
        .arg("history")
        .args(args)
        .args(["--since", "1h", "--json", "--db"])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "history {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(&String::from_utf8(out.stdout).unwrap())
}

/// `history flows` of a database, shaped like a report's entries (local as
/// source) so [`assert_exact`] can check them.
fn history_as_report(db: &std::path::Path) -> Value {
    let entries: Vec<Value> = history_json(db, &["flows", "--limit", "0"])
        .into_iter()
        .map(|f| {
            serde_json::json!({
                "src": f["local"], "dst": f["remote"],
                "src_port": f["local_port"], "dst_port": f["remote_port"],
                "protocol": f["protocol"], "iface": f["iface"],
                "src_to_dst": {"packets": f["packets_out"], "bytes": f["bytes_out"]},
                "dst_to_src": {"packets": f["packets_in"], "bytes": f["bytes_in"]},
            })
        })
        .collect();
    serde_json::json!({ "entries": entries })
}

#[test]
fn live_traffic_is_kept_in_the_history_exactly() {
    require_root_and_ip!();
    let p = pair(212);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let r = Running::start(
        &p.a,
        &[
            "-i",
            &p.ia,
            "-s",
            "3",
            "--format",
            "json",
            "-P",
            "--db",
            db.to_str().unwrap(),
        ],
    );
    let sent = send_known_traffic(&p);
    let (code, _, err) = r.finish();
    assert_eq!(code, 0, "stderr: {err}");
    assert!(err.contains("rows written to"), "{err}");
    let rep = history_as_report(&db);
    // The same exact packets and bytes per flow and direction as the live report.
    assert_exact(&rep, &p, &sent);
    let udp = entry(&rep, &p.addr_a.to_string(), &p.addr_b.to_string(), "udp");
    assert_eq!(udp["iface"], p.ia.as_str());
    assert_eq!(
        udp["src"],
        p.addr_a.to_string(),
        "the interface's address is local"
    );
}

#[test]
fn kill_9_loses_at_most_the_last_flush_interval() {
    require_root_and_ip!();
    let p = pair(213);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let r = Running::start(
        &p.a,
        &[
            "-i",
            &p.ia,
            "--format",
            "json",
            "--db",
            db.to_str().unwrap(),
            "--history-flush",
            "1",
        ],
    );
    // B sends 200 datagrams a second to A for 6 s, noting when each left.
    let (addr_a, addr_b, ns_b) = (p.addr_a, p.addr_b, p.b.clone());
    let _rx = in_netns(&p.a, move || {
        UdpSocket::bind(SocketAddrV4::new(addr_a, 7300)).unwrap()
    });
    let sender = std::thread::spawn(move || {
        in_netns(&ns_b, move || {
            let u = UdpSocket::bind(SocketAddrV4::new(addr_b, 0)).unwrap();
            let start = Instant::now();
            let mut log = Vec::new();
            let mut k = 0u32;
            while start.elapsed() < Duration::from_secs(6) {
                u.send_to(&[5u8; 172], SocketAddrV4::new(addr_a, 7300))
                    .unwrap();
                log.push(Instant::now());
                k += 1;
                let next = start + Duration::from_millis(5) * k;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            log
        })
    });
    std::thread::sleep(Duration::from_millis(3500));
    // A reader works while the writer runs.
    history_json(&db, &["top"]);
    std::thread::sleep(Duration::from_millis(1000));
    let killed = Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(r.pid() as i32, libc::SIGKILL) };
    let (code, _, _) = r.finish();
    assert_eq!(code, -1, "killed by a signal");
    let log = sender.join().unwrap();
    // The database opens cleanly and passes SQLite's own check.
    let store = wirewatch_store::SqliteStore::open_reader(&db).unwrap();
    store.integrity_check().unwrap();
    let top = history_json(&db, &["top", "--by", "pair"]).remove(0);
    let stored = top["total"]["packets_in"].as_u64().unwrap();
    // Everything sent up to one flush interval (1 s) plus a second of
    // slack before the kill is there; nothing sent after it.
    let before = |t: Instant| log.iter().filter(|&&s| s <= t).count() as u64;
    let must = before(killed - Duration::from_secs(2));
    let may = before(killed);
    assert!(
        stored >= must && stored <= may,
        "stored {stored} datagrams; sent {must} by 2 s before the kill, {may} by the kill"
    );
}

#[test]
fn an_unwritable_history_leaves_live_monitoring_running() {
    require_root_and_ip!();
    let p = pair(214);
    let tmp = tempfile::tempdir().unwrap();
    let ro = tmp.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let mounted = wirewatch_testkit::require!(wirewatch_testkit::mount_tmpfs(&ro, "ro,size=1m"));
    let db = ro.join("h.db");
    let r = Running::start(
        &p.a,
        &[
            "-i",
            &p.ia,
            "-s",
            "2",
            "--format",
            "json",
            "-P",
            "--db",
            db.to_str().unwrap(),
        ],
    );
    let _rx = udp_b_to_a(&p, 7400, 5);
    let (code, out, err) = r.finish();
    drop(mounted);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("history:")
            && err.contains("Read-only file system")
            && err.contains("monitoring goes on without history"),
        "{err}"
    );
    let v = json_lines(&out);
    let e = entry(
        final_report(&v),
        &p.addr_a.to_string(),
        &p.addr_b.to_string(),
        "udp",
    );
    assert_eq!(dir(e, &p.addr_b.to_string()).0, 5);
}

#[test]
fn one_interface_is_recorded_by_one_capture_at_a_time() {
    require_root_and_ip!();
    let p = pair(215);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("private/h.db");
    let args = |secs: &'static str| -> Vec<String> {
        [
            "-i",
            &p.ia,
            "-s",
            secs,
            "--format",
            "json",
            "--db",
            db.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    let a1 = args("3");
    let first = Running::start(&p.a, &a1.iter().map(String::as_str).collect::<Vec<_>>());
    let a2 = args("1");
    let second = Running::start(&p.a, &a2.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, _, err) = second.finish();
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("another wirewatch is recording {} into", p.ia))
            && err.contains("monitoring goes on without history"),
        "{err}"
    );
    let (code, _, err) = first.finish();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("rows written to"), "{err}");
    // Who talked to whom is private: the database and its folder are the owner's.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(db.parent().unwrap()), 0o750);
}

#[test]
fn live_capture_warns_when_the_forecast_nears_the_link_capacity() {
    require_root_and_ip!();
    use std::sync::Arc;
    use wirewatch_store::{Counts, Row, SqliteStore, Store};
    let p = pair(216);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    // Three days of history on A's interface, up to now: about 16 kbit/s
    // received, with a daily swing.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    {
        let mut s = SqliteStore::open(&db).unwrap();
        let end = now.div_euclid(300) * 300;
        let rows: Vec<Row> = (1..=3 * 288)
            .map(|k| {
                let ts = end - k * 300;
                let hour = ts.rem_euclid(86_400) as f64 / 3600.0;
                let b = 600_000.0 * (1.0 + 0.5 * (hour / 24.0 * std::f64::consts::TAU).sin());
                Row {
                    ts,
                    iface: Arc::from(p.ia.as_str()),
                    local: p.addr_a.into(),
                    remote: p.addr_b.into(),
                    local_port: 7400,
                    remote_port: 40_000,
                    protocol: 17,
                    process: None,
                    counts: Counts {
                        packets_out: 0,
                        bytes_out: 0,
                        packets_in: 400,
                        bytes_in: b as u64,
                        ..Default::default()
                    },
                }
            })
            .collect();
        s.append(&rows).unwrap();
    }
    // The link is said to carry 10 kbit/s: the forecast passes 90 % of it.
    let cfg = dir.path().join("ww.toml");
    std::fs::write(&cfg, format!("[forecast.capacity]\n{} = \"10k\"\n", p.ia)).unwrap();
    let alerts = dir.path().join("alerts.json");
    let r = Running::start(
        &p.a,
        &[
            "-i",
            &p.ia,
            "-s",
            "25",
            "--format",
            "json",
            "--db",
            db.to_str().unwrap(),
            "--history-flush",
            "2",
            "--config",
            cfg.to_str().unwrap(),
            "--alerts",
            &format!("json:{}", alerts.display()),
        ],
    );
    // Traffic through the run, so rows are cut and the watch runs (its
    // forecast is made on a thread and taken at a later cut).
    let (addr_a, addr_b, ns_b) = (p.addr_a, p.addr_b, p.b.clone());
    let _rx = in_netns(&p.a, move || {
        UdpSocket::bind(SocketAddrV4::new(addr_a, 7400)).unwrap()
    });
    for _ in 0..20 {
        send_udp(&ns_b, addr_b, addr_a, 7400, 5);
        std::thread::sleep(Duration::from_secs(1));
    }
    let (code, _, err) = r.finish();
    assert_eq!(code, 0, "stderr: {err}");
    let text = std::fs::read_to_string(&alerts).unwrap_or_default();
    let cap: Vec<Value> = json_lines(&text)
        .into_iter()
        .filter(|a| a["kind"] == "capacity")
        .collect();
    assert_eq!(cap.len(), 1, "alerts: {text}\nstderr: {err}");
    let s = cap[0]["summary"].as_str().unwrap();
    assert!(
        s.starts_with(&format!(
            "{} inbound is forecast to pass 90 % of 10 kbit/s around ",
            p.ia
        )),
        "{s}"
    );
    assert_eq!(cap[0]["entity"]["name"], p.ia.as_str());
    // The alert is in the history too.
    let stored = Command::new(BIN)
        .args([
            "history", "alerts", "--kind", "capacity", "--json", "--since", "1h", "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&stored.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
}

/// Sends UDP from namespace `ns` (address `from`) to `to:port` at
/// `bytes_per_s` IP bytes a second (1428-byte datagrams) until `stop` is
/// set. The pace follows the total: each wake-up sends what the schedule
/// owes, so any 2 s holds its share even when the thread slept late.
fn steady_udp(
    ns: &str,
    from: Ipv4Addr,
    to: SocketAddrV4,
    bytes_per_s: f64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open netns");
        // SAFETY: setns on this thread only, with a namespace fd we own.
        let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
        let u = UdpSocket::bind(SocketAddrV4::new(from, 0)).unwrap();
        let payload = [7u8; 1400];
        let ip_bytes = (payload.len() + 28) as f64;
        let t0 = Instant::now();
        let mut sent = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let owed = (t0.elapsed().as_secs_f64() * bytes_per_s / ip_bytes) as u64;
            while sent < owed {
                u.send_to(&payload, to).unwrap();
                sent += 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        sent
    })
}

/// iftop's size text (`-B`: bytes, 1024 steps) as a number.
fn iftop_size(s: &str) -> f64 {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let k = match unit {
        "B" | "b" => 1.0,
        "KB" | "Kb" => 1024.0,
        "MB" | "Mb" => 1024.0 * 1024.0,
        "GB" | "Gb" => 1024.0 * 1024.0 * 1024.0,
        _ => panic!("iftop size {s:?}"),
    };
    num.parse::<f64>().unwrap() * k
}

/// The 2 s and 10 s rates of the busier direction of the pair in iftop's
/// last text report.
fn iftop_rates(out: &str) -> [f64; 2] {
    let lines: Vec<&str> = out.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| l.contains("last 2s") && l.contains("last 10s"))
        .unwrap_or_else(|| panic!("no iftop report in:\n{out}"));
    let rows: Vec<[f64; 2]> = lines[start..]
        .iter()
        .take_while(|l| !l.starts_with("Total send rate"))
        .filter(|l| l.contains("=>") || l.contains("<="))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = f.len();
            // ... 2s 10s 40s cumulative
            [iftop_size(f[n - 4]), iftop_size(f[n - 3])]
        })
        .collect();
    assert_eq!(rows.len(), 2, "one pair in iftop's report:\n{out}");
    rows.into_iter()
        .max_by(|a, b| a[0].total_cmp(&b[0]))
        .unwrap()
}

#[test]
fn final_rates_agree_with_iftop_on_the_same_veth() {
    require_root_and_ip!();
    wirewatch_testkit::require!(wirewatch_testkit::tool("iftop"));
    let p = pair(214);
    let (addr_a, addr_b) = (p.addr_a, p.addr_b);
    // A receiver, so that no ICMP errors come back.
    let _rx = in_netns(&p.a, move || {
        UdpSocket::bind(SocketAddrV4::new(addr_a, 5201)).unwrap()
    });
    // 20 Mbit/s from b to a, started before either tool (mid-stream).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = steady_udp(
        &p.b,
        addr_b,
        SocketAddrV4::new(addr_a, 5201),
        2_500_000.0,
        stop.clone(),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let iftop = Command::new("ip")
        .args([
            "netns", "exec", &p.a, "iftop", "-t", "-s", "12", "-n", "-N", "-B",
        ])
        .args(["-i", &p.ia])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn iftop");
    let ww = Running::start(
        &p.a,
        &[
            "-i", &p.ia, "-s", "12", "-n", "-N", "-B", "--format", "json",
        ],
    );
    let iftop = iftop.wait_with_output().unwrap();
    let (code, out, err) = ww.finish();
    stop.store(true, Ordering::Relaxed);
    let datagrams = sender.join().unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(datagrams > 10_000, "the sender sent {datagrams}");
    let iftop_out = String::from_utf8_lossy(&iftop.stdout);
    let want = iftop_rates(&iftop_out);
    let v = json_lines(&out);
    // The host pair (no ports, no protocol: iftop's default view).
    let entries = final_report(&v)["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{out}");
    let e = &entries[0];
    let d = if e["src"] == addr_b.to_string().as_str() {
        &e["src_to_dst"]
    } else {
        &e["dst_to_src"]
    };
    let got = [
        d["rate_2s_bytes_per_s"].as_f64().unwrap(),
        d["rate_10s_bytes_per_s"].as_f64().unwrap(),
    ];
    eprintln!("final 2 s / 10 s rates: wirewatch {got:?} B/s, iftop {want:?} B/s");
    for (i, col) in ["2 s", "10 s"].iter().enumerate() {
        let off = (got[i] - want[i]).abs() / want[i];
        assert!(
            off <= 0.05,
            "{col}: wirewatch {:.0} B/s, iftop {:.0} B/s ({:.1} % apart)\niftop:\n{iftop_out}",
            got[i],
            want[i],
            off * 100.0
        );
    }
}

/// `serve` on a live interface: the API counts the traffic the test sent
/// and shows the kernel's counters, `/metrics` has the interface's drops,
/// and SIGTERM ends it with 0.
#[test]
fn serve_shows_live_traffic_and_kernel_counters() {
    require_root_and_ip!();
    let p = pair(230);
    let mut r = Running::start(&p.a, &["serve", "-i", &p.ia, "--web", "127.0.0.1:0"]);
    let addr = r.web_addr();
    let _rx = udp_b_to_a(&p, 7300, 9);
    let ia = p.ia.clone();
    // The server listens on the namespace's loopback: ask from inside it,
    // until a publish (once a second) has the 9 datagrams.
    let (ifaces, metrics) = in_netns(&p.a, move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let a = wirewatch_testkit::http_get(addr, "/api/v1/interfaces", &[]).unwrap();
            let v: Value = serde_json::from_str(&a.body).unwrap();
            let i = &v["interfaces"][0];
            if i["receive_packets"].as_u64().unwrap_or(0)
                + i["transmit_packets"].as_u64().unwrap_or(0)
                >= 9
                && i["kernel_received"].as_u64().unwrap_or(0) >= 9
            {
                let m = wirewatch_testkit::http_get(addr, "/metrics", &[]).unwrap();
                return (v, m.body);
            }
            assert!(Instant::now() < deadline, "never counted: {v}");
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    assert_eq!(ifaces["state"], "live");
    assert_eq!(ifaces["interfaces"][0]["name"], ia.as_str());
    assert_eq!(ifaces["interfaces"][0]["state"], "capturing", "{ifaces}");
    let bytes = ifaces["interfaces"][0]["receive_bytes"].as_u64().unwrap()
        + ifaces["interfaces"][0]["transmit_bytes"].as_u64().unwrap();
    assert_eq!(bytes, 9 * 38, "{ifaces}");
    assert!(
        metrics.contains(&format!(
            "wirewatch_capture_kernel_drops_total{{interface=\"{ia}\"}} 0"
        )),
        "{metrics}"
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(r.pid() as i32, libc::SIGTERM) };
    let (code, _out, err) = r.finish();
    assert_eq!(code, 0, "{err}");
}

/// `serve` on a veth: the thread `web` runs after the privilege drop with
/// no capability at all (effective, permitted, inheritable, ambient), and
/// still reads the process's own numbers for `/metrics`.
#[test]
fn the_web_thread_has_no_capability() {
    require_root_and_ip!();
    let p = pair(211);
    let mut r = Running::start(&p.a, &["serve", "-i", &p.ia, "--web", "127.0.0.1:0"]);
    let addr = r.web_addr();
    // The status files of the threads whose name `named` says yes to.
    let statuses = |named: &dyn Fn(&str) -> bool| -> Vec<String> {
        std::fs::read_dir(format!("/proc/{}/task", r.pid()))
            .unwrap()
            .map(|t| t.unwrap().path())
            .filter(|t| std::fs::read_to_string(t.join("comm")).is_ok_and(|c| named(c.trim())))
            .filter_map(|t| std::fs::read_to_string(t.join("status")).ok())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        match statuses(&|c| c == "web").pop() {
            Some(s) => break s,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            None => panic!("no thread named web"),
        }
    };
    // The host-name lookups' threads (names are on; started with the feed,
    // which may come a moment after the server) hold none either.
    let dns = loop {
        let dns = statuses(&|c| c.starts_with("wirewatch-dns"));
        if dns.len() == wirewatch_web::names::WORKERS || Instant::now() > deadline {
            break dns;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(dns.len(), wirewatch_web::names::WORKERS);
    for (thread, status) in std::iter::once(("web", &status)).chain(dns.iter().map(|s| ("dns", s)))
    {
        for key in ["CapEff:", "CapPrm:", "CapInh:", "CapAmb:"] {
            let line = status.lines().find(|l| l.starts_with(key)).unwrap();
            assert!(
                line.ends_with("\t0000000000000000"),
                "{thread} thread: {line}"
            );
        }
    }
    let ia = p.ia.clone();
    // The first publish comes within a second of the start.
    let m = in_netns(&p.a, move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let m = wirewatch_testkit::http_get(addr, "/metrics", &[]).unwrap();
            if m.body.contains("{interface=") || Instant::now() > deadline {
                break m;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    assert_eq!(m.status, 200, "{}", m.body);
    for want in [
        format!("wirewatch_interface_receive_bytes_total{{interface=\"{ia}\"}} "),
        format!("wirewatch_capture_kernel_drops_total{{interface=\"{ia}\"}} 0\n"),
        "\nprocess_resident_memory_bytes ".into(),
        "\nprocess_open_fds ".into(),
    ] {
        assert!(m.body.contains(&want), "{want}: {}", m.body);
    }
    // SAFETY: a plain kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(r.pid() as i32, libc::SIGTERM) }, 0);
    let (code, _, err) = r.finish();
    assert_eq!(code, 0, "{err}");
}
