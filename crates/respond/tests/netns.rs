//! The never-block guard on a real network stack: a namespace `host` with
//! a veth to a namespace `peer`, an address, IPv4 and IPv6 default routes
//! via the peer's addresses, an "sshd" (a TCP listener on port 22) and
//! another service on 8080, both with a client connected from `peer`.
//! This test binary, run again inside `host` as `guard_child`, loads the
//! guard there and reports what it finds; the test checks the report.
//!
//! Needs root and `ip` (iproute2); without them the test prints why it
//! skips. Nothing outside the two namespaces is touched.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv6Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wirewatch_respond::guard::{Protected, SshPeers, System};
use wirewatch_respond::{IpNet, Target};

/// Set in a child's environment to `server` or `client`: `guard_child`
/// does its part only then.
const MODE_ENV: &str = "WIREWATCH_RESPOND_GUARD_CHILD";
/// The resolv.conf the server side loads.
const RESOLV_ENV: &str = "WIREWATCH_RESPOND_GUARD_RESOLV";

const HOST_V4: &str = "10.77.0.2";
const HOST_V6: &str = "2001:db8:77::2";
const GATEWAY_V4: &str = "10.77.0.1";
const GATEWAY_V6: &str = "2001:db8:77::1";
/// The SSH client's address in `peer` (the source of its route to `host`).
const SSH_CLIENT: &str = "10.77.0.3";
const RESOLVER: &str = "10.77.0.53";

/// Targets the server side checks, with what the guard must answer
/// (`ok` or the refusal's text).
const CHECKS: &[(&str, &str)] = &[
    (HOST_V4, "10.77.0.2 is one of this host's addresses"),
    (HOST_V6, "2001:db8:77::2 is one of this host's addresses"),
    (GATEWAY_V4, "10.77.0.1 is a gateway in the routing table"),
    (
        GATEWAY_V6,
        "2001:db8:77::1 is a gateway in the routing table",
    ),
    (
        SSH_CLIENT,
        "10.77.0.3 is the peer of an established SSH session",
    ),
    (RESOLVER, "10.77.0.53 is a DNS resolver in resolv.conf"),
    (
        "10.77.0.0/31",
        "10.77.0.1 is a gateway in the routing table",
    ),
    ("10.77.0.0/24", "10.77.0.2 is one of this host's addresses"),
    ("10.77.0.4", "ok"),
    ("2001:db8:77::9", "ok"),
];

/// The child's side; does nothing in a normal run (no [`MODE_ENV`]).
#[test]
fn guard_child() {
    match std::env::var(MODE_ENV).as_deref() {
        Ok("server") => server(),
        Ok("client") => client(),
        _ => {}
    }
}

/// In `host`: listens on 22 and 8080 (both dual-stack), accepts one client on each, then
/// prints `PEERS …` and one `CHECK target => answer` line per [`CHECKS`].
fn server() {
    // Dual-stack, as sshd listens: the IPv4 client's socket reports it as
    // ::ffff:10.77.0.3, which the guard must take as 10.77.0.3.
    let ssh = TcpListener::bind((Ipv6Addr::UNSPECIFIED, 22)).unwrap();
    let web = TcpListener::bind((Ipv6Addr::UNSPECIFIED, 8080)).unwrap();
    say("LISTENING");
    let _ssh_conn = ssh.accept().unwrap();
    let _web_conn = web.accept().unwrap();
    let peers = SshPeers::default().current().unwrap();
    let texts: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
    say(&format!("PEERS {}", texts.join(",")));
    let sys = System {
        resolv_conf: std::env::var_os(RESOLV_ENV).unwrap().into(),
        resolved_conf: "/nonexistent/resolv.conf".into(),
        ..System::default()
    };
    let guard = Protected::load(vec![], &sys).unwrap();
    for (target, _) in CHECKS {
        let t = Target::Source(target.parse::<IpNet>().unwrap());
        let answer = match guard.check(&t, &peers) {
            Ok(()) => "ok".to_string(),
            Err(why) => why.to_string(),
        };
        say(&format!("CHECK {target} => {answer}"));
    }
    wait_for_stdin_close();
}

/// In `peer`: connects to `host` on 22 (IPv4) and 8080 (IPv6).
fn client() {
    let _ssh = TcpStream::connect((HOST_V4, 22)).unwrap();
    let _web = TcpStream::connect((HOST_V6, 8080)).unwrap();
    say("CONNECTED");
    wait_for_stdin_close();
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "CHILD {line}").unwrap();
    out.flush().unwrap();
}

fn wait_for_stdin_close() {
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

/// Runs `ip ARGS`, failing the test with its stderr when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A child running `guard_child` in a namespace, and its output lines.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(ns: &str, mode: &str, resolv: &std::path::Path) -> Running {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "guard_child", "--nocapture", "--test-threads=1"])
            .env(MODE_ENV, mode)
            .env(RESOLV_ENV, resolv)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest may have printed "test guard_child ... " first.
                if let Some(at) = line.find("CHILD ") {
                    let _ = tx.send(line[at + 6..].to_string());
                }
            }
        });
        Running { child, lines }
    }

    /// The next line, within 30 s.
    fn line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the child reports within 30 s")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The two namespaces, deleted on drop (the veth goes with them).
struct Namespaces {
    host: String,
    peer: String,
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in [&self.host, &self.peer] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn namespaces() -> Namespaces {
    let pid = std::process::id();
    let ns = Namespaces {
        host: format!("wwguardh{pid}"),
        peer: format!("wwguardp{pid}"),
    };
    let (h, p) = (ns.host.as_str(), ns.peer.as_str());
    ip(&["netns", "add", h]);
    ip(&["netns", "add", p]);
    ip(&[
        "-n", h, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", p,
    ]);
    for (n, dev) in [(h, "va"), (p, "vb")] {
        ip(&["-n", n, "link", "set", "lo", "up"]);
        ip(&["-n", n, "link", "set", dev, "up"]);
    }
    ip(&[
        "-n",
        h,
        "addr",
        "add",
        &format!("{HOST_V4}/24"),
        "dev",
        "va",
    ]);
    ip(&[
        "-n",
        h,
        "addr",
        "add",
        &format!("{HOST_V6}/64"),
        "dev",
        "va",
        "nodad",
    ]);
    ip(&["-n", h, "route", "add", "default", "via", GATEWAY_V4]);
    ip(&["-n", h, "-6", "route", "add", "default", "via", GATEWAY_V6]);
    for a in [&format!("{GATEWAY_V4}/24"), &format!("{SSH_CLIENT}/24")] {
        ip(&["-n", p, "addr", "add", a, "dev", "vb"]);
    }
    ip(&[
        "-n",
        p,
        "addr",
        "add",
        &format!("{GATEWAY_V6}/64"),
        "dev",
        "vb",
        "nodad",
    ]);
    // The SSH client's connection leaves from its own address.
    let to_host = format!("{HOST_V4}/32");
    ip(&[
        "-n", p, "route", "add", &to_host, "dev", "vb", "src", SSH_CLIENT,
    ]);
    ns
}

#[test]
fn guard_in_a_namespace_finds_its_address_gateways_and_ssh_peer() {
    wirewatch_testkit::require!(wirewatch_testkit::netns());
    let ns = namespaces();
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, format!("nameserver {RESOLVER}\n")).unwrap();

    let server = Running::start(&ns.host, "server", &resolv);
    assert_eq!(server.line(), "LISTENING");
    let client = Running::start(&ns.peer, "client", &resolv);
    assert_eq!(client.line(), "CONNECTED");
    // Only the port-22 client: the 8080 one (from the IPv6 gateway) is
    // not an SSH session.
    assert_eq!(server.line(), format!("PEERS {SSH_CLIENT}"));
    for (target, answer) in CHECKS {
        assert_eq!(server.line(), format!("CHECK {target} => {answer}"));
    }
}
