//! The lifecycle of automated responses, end to end with the real binary
//! (issue 19, "Proof"): a block expires after its duration, a restart puts
//! back what a reboot lost, `respond remove`/`flush` lift blocks, the cap
//! and the rate limit refuse, `exec` and `webhook` rules receive the alert,
//! a dead webhook never slows capture, and bad policy files are one line.
//!
//! The trigger is a TCP connect scan from the attacker namespace (`b` of a
//! [`pair`]) at the victim (`a`), where wirewatch runs with
//! `--respond enforce`; it fires `vertical_scan`. Needs root, `ip`
//! (iproute2) and `nft` (nftables); without them the live tests say why they
//! skip. The bad-policy tests need nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::live::{in_netns, pair, Pair, Running};

const BIN: &str = env!("CARGO_BIN_EXE_wirewatch");

/// Skips unless namespaces can be made and `nft` is installed.
macro_rules! require_netns_and_nft {
    () => {
        wirewatch_testkit::require!(wirewatch_testkit::netns());
        wirewatch_testkit::require!(wirewatch_testkit::tool("nft"));
    };
}

/// A closed port of the victim: a connect that reaches it is refused.
const CLOSED_PORT: u16 = 9;

/// What one connect attempt met.
#[derive(Debug, PartialEq)]
enum Probe {
    /// Refused (RST) or accepted: the victim answered.
    Answered,
    /// No answer within the timeout: the SYN was dropped.
    Silent,
}

/// One TCP connect from `from` (an address of the calling thread's
/// namespace) to `to:port`, waiting at most `timeout`.
fn probe(from: Ipv4Addr, to: Ipv4Addr, port: u16, timeout: Duration) -> Probe {
    let sin = |a: Ipv4Addr, p: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: p.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(a).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns and
    // closes, with pointers to live locals of the right sizes.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let local = sin(from, 0);
        let r = libc::bind(fd, &local as *const _ as *const libc::sockaddr, len);
        assert_eq!(r, 0, "bind {from}: {}", std::io::Error::last_os_error());
        let remote = sin(to, port);
        libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len);
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        let n = libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int);
        libc::close(fd);
        if n > 0 {
            Probe::Answered
        } else {
            Probe::Silent
        }
    }
}

/// A connect scan of ports 1–300 of `to` from `from` in namespace `ns`,
/// 100 ms a port at most; it stops early once three ports in a row stayed
/// silent (the scanner is blocked). The number of ports that answered.
fn scan(ns: &str, from: Ipv4Addr, to: Ipv4Addr) -> usize {
    in_netns(ns, move || {
        let (mut answered, mut silent) = (0, 0);
        for port in 1..=300 {
            match probe(from, to, port, Duration::from_millis(100)) {
                Probe::Answered => (answered, silent) = (answered + 1, 0),
                Probe::Silent => silent += 1,
            }
            if silent == 3 {
                break;
            }
        }
        answered
    })
}

/// Whether the victim answers `from` now (a refused connect to a closed port).
fn answers(ns: &str, from: Ipv4Addr, to: Ipv4Addr) -> bool {
    in_netns(ns, move || {
        probe(from, to, CLOSED_PORT, Duration::from_millis(1000)) == Probe::Answered
    })
}

/// Polls `f` every 200 ms until it is true or `secs` seconds passed.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs a command, returning its output.
fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// `nft ARGS` in namespace `ns`.
fn nft(ns: &str, args: &[&str]) -> Output {
    run(Command::new("ip")
        .args(["netns", "exec", ns, "nft"])
        .args(args))
}

/// The elements of `block_v4` in `ns`: each address with the seconds its
/// block has left (`None` when the table or set is missing).
fn blocked(ns: &str) -> Option<Vec<(String, u64)>> {
    let out = nft(ns, &["-j", "list", "set", "inet", "wirewatch", "block_v4"]);
    if !out.status.success() {
        return None;
    }
    let doc: Value = serde_json::from_slice(&out.stdout).expect("nft's JSON");
    let set = doc["nftables"]
        .as_array()?
        .iter()
        .find_map(|o| o.get("set"))?
        .clone();
    let elems = set["elem"].as_array().cloned().unwrap_or_default();
    Some(
        elems
            .iter()
            .map(|e| {
                let el = &e["elem"];
                let addr = el["val"].as_str().or_else(|| e.as_str()).unwrap_or("?");
                (addr.to_string(), el["expires"].as_u64().unwrap_or(0))
            })
            .collect(),
    )
}

/// Whether `block_v4` in `ns` holds `addr`.
fn holds(ns: &str, addr: Ipv4Addr) -> bool {
    blocked(ns).is_some_and(|v| v.iter().any(|(a, _)| *a == addr.to_string()))
}

/// `wirewatch --db DB ARGS` in namespace `ns`.
fn wirewatch_in(ns: &str, db: &Path, args: &[&str]) -> Output {
    run(Command::new("ip")
        .args(["netns", "exec", ns, BIN, "--db"])
        .arg(db)
        .args(args))
}

/// `respond log --json`: one object per decision.
fn log(ns: &str, db: &Path) -> Vec<Value> {
    let out = wirewatch_in(ns, db, &["respond", "log", "--json"]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// The log's entries about the source `addr` with `outcome`.
fn logged<'a>(log: &'a [Value], addr: Ipv4Addr, outcome: &str) -> Vec<&'a Value> {
    let target = format!("from {addr}");
    log.iter()
        .filter(|r| r["target"] == target.as_str() && r["outcome"] == outcome)
        .collect()
}

/// A pair with a tempdir (the database and the policy file in it).
struct Lab {
    p: Pair,
    dir: tempfile::TempDir,
}

impl Lab {
    fn new(net: u8) -> Lab {
        Lab {
            p: pair(net),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("h.db")
    }

    /// Writes the policy file; its path.
    fn config(&self, text: &str) -> PathBuf {
        let path = self.dir.path().join("ww.toml");
        std::fs::write(&path, text).expect("write the config");
        path
    }

    /// The attacker's address `10.N.0.host`, added to its veth unless it is
    /// the pair's own `.2`.
    fn attacker(&self, host: u8) -> Ipv4Addr {
        let o = self.p.addr_b.octets();
        let addr = Ipv4Addr::new(o[0], o[1], o[2], host);
        if addr != self.p.addr_b {
            let veth = veth_of(&self.p.b);
            let out = run(Command::new("ip").args([
                "-n",
                &self.p.b,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                &veth,
            ]));
            assert!(out.status.success(), "{out:?}");
        }
        addr
    }

    /// wirewatch on the victim's veth, enforcing, with this lab's database
    /// and the policy file `config` (JSON reports on stdout).
    fn start(&self, config: &str) -> Running {
        let db = self.db();
        let cfg = self.config(config);
        let args = [
            "-i",
            &self.p.ia,
            "-n",
            "--format",
            "json",
            "--respond",
            "enforce",
            "--db",
            db.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ];
        Running::start(&self.p.a, &args)
    }

    /// A scan from `from` that the victim sees; waits for wirewatch's
    /// response line naming `from` that contains `what`.
    fn scan_until(&self, r: &mut Running, from: Ipv4Addr, what: &str) {
        let answered = scan(&self.p.b, from, self.p.addr_a);
        assert!(answered >= 50, "only {answered} ports answered {from}");
        r.wait_for_stderr(&format!("{what} from {from}"));
    }
}

/// The name of the one veth in namespace `ns`.
fn veth_of(ns: &str) -> String {
    let out = run(Command::new("ip").args(["-n", ns, "-o", "link", "show", "type", "veth"]));
    let text = String::from_utf8_lossy(&out.stdout);
    let name = text
        .split(": ")
        .nth(1)
        .and_then(|n| n.split('@').next())
        .unwrap_or_else(|| panic!("no veth in {ns}: {text}"));
    name.to_string()
}

/// Ends a run with SIGTERM; (exit code, stdout, stderr).
fn stop(r: Running) -> (i32, String, String) {
    // SAFETY: a plain kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(r.pid() as i32, libc::SIGTERM) }, 0);
    r.finish()
}

/// A block with a duration of seconds is in the set after the scan and
/// gone when the duration is over (the kernel's timeout): the victim
/// answers the attacker again, and `respond log` says `expired`.
#[test]
fn a_block_expires_after_its_duration() {
    require_netns_and_nft!();
    let lab = Lab::new(217);
    let (victim, ns) = (lab.p.addr_a, lab.p.a.clone());
    let attacker = lab.attacker(2);
    let mut r = lab.start("[respond]\nduration = \"5s\"\n");
    lab.scan_until(&mut r, attacker, "blocked");
    let placed = Instant::now();
    assert!(eventually(5, || holds(&ns, attacker)), "{:?}", blocked(&ns));
    assert!(!answers(&lab.p.b, attacker, victim), "blocked yet answered");
    assert!(
        eventually(15, || !holds(&ns, attacker)),
        "still blocked: {:?}",
        blocked(&ns)
    );
    eprintln!(
        "block of 5 s seen gone {:.1} s after the response line",
        placed.elapsed().as_secs_f64()
    );
    assert!(answers(&lab.p.b, attacker, victim), "expired yet silent");
    let (code, _, err) = stop(r);
    assert_eq!(code, 0, "{err}");
    let log = log(&ns, &lab.db());
    let b = logged(&log, attacker, "blocked");
    assert_eq!(b.len(), 1, "{log:#?}");
    assert_eq!(b[0]["state"], "expired", "{log:#?}");
    assert_eq!(b[0]["alert_kind"], "vertical_scan");
}

/// A block outlives its run: a restart while it is in the kernel keeps it
/// ("still in place"); after a reboot (the table gone) the next run puts
/// it back for what is left of its time ("re-applied").
#[test]
fn a_restart_keeps_or_re_applies_blocks() {
    require_netns_and_nft!();
    let lab = Lab::new(218);
    let (victim, ns) = (lab.p.addr_a, lab.p.a.clone());
    let attacker = lab.attacker(2);
    let policy = "[respond]\nduration = \"5m\"\n";
    let mut first = lab.start(policy);
    lab.scan_until(&mut first, attacker, "blocked");
    assert!(eventually(5, || holds(&ns, attacker)));
    let (code, _, err) = stop(first);
    assert_eq!(code, 0, "{err}");
    // The run is over; the block is not.
    assert!(holds(&ns, attacker), "{:?}", blocked(&ns));
    let mut second = lab.start(policy);
    second.wait_for_stderr("1 block(s) still in place");
    assert!(holds(&ns, attacker), "{:?}", blocked(&ns));
    let (code, _, err) = stop(second);
    assert_eq!(code, 0, "{err}");
    // A reboot: the table is gone, the database is not. (Two seconds
    // later, so that the time left is whole seconds short of 300.)
    std::thread::sleep(Duration::from_secs(2));
    let out = nft(&ns, &["delete", "table", "inet", "wirewatch"]);
    assert!(out.status.success(), "{out:?}");
    assert!(answers(&lab.p.b, attacker, victim), "no table, yet silent");
    let mut third = lab.start(policy);
    third.wait_for_stderr("1 block(s) re-applied for their remaining time");
    let left = blocked(&ns)
        .unwrap_or_default()
        .into_iter()
        .find(|(a, _)| *a == attacker.to_string())
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("not re-applied: {:?}", blocked(&ns)));
    eprintln!("re-applied with {left} s of 300 left");
    assert!((1..300).contains(&left), "{left} s left");
    assert!(
        !answers(&lab.p.b, attacker, victim),
        "re-applied yet answered"
    );
    let (code, _, err) = stop(third);
    assert_eq!(code, 0, "{err}");
}

/// `respond remove` lifts one block and `respond flush` the rest: the set
/// empties, the attacker gets through, the log says `removed`/`flushed`;
/// removing what is not blocked is one line and exit 2.
#[test]
fn remove_and_flush_lift_blocks() {
    require_netns_and_nft!();
    let lab = Lab::new(219);
    let (victim, ns, db) = (lab.p.addr_a, lab.p.a.clone(), lab.db());
    let (one, two) = (lab.attacker(2), lab.attacker(3));
    let mut r = lab.start("[respond]\nduration = \"1h\"\n");
    lab.scan_until(&mut r, one, "blocked");
    lab.scan_until(&mut r, two, "blocked");
    let (code, _, err) = stop(r);
    assert_eq!(code, 0, "{err}");
    assert!(holds(&ns, one) && holds(&ns, two), "{:?}", blocked(&ns));

    let out = wirewatch_in(&ns, &db, &["respond", "remove", &one.to_string()]);
    assert!(out.status.success(), "{out:?}");
    assert!(!holds(&ns, one) && holds(&ns, two), "{:?}", blocked(&ns));
    assert!(answers(&lab.p.b, one, victim), "removed yet silent");
    assert!(
        !answers(&lab.p.b, two, victim),
        "still blocked yet answered"
    );

    let out = wirewatch_in(&ns, &db, &["respond", "flush"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "removed 1 block(s)\n");
    assert_eq!(blocked(&ns), Some(vec![]));
    assert!(answers(&lab.p.b, two, victim), "flushed yet silent");

    let log = log(&ns, &db);
    let state = |t: Ipv4Addr| logged(&log, t, "blocked").last().unwrap()["state"].clone();
    assert_eq!(state(one), "removed", "{log:#?}");
    assert_eq!(state(two), "flushed", "{log:#?}");
    assert!(
        log.iter().any(|r| r["outcome"] == "flushed"),
        "the flush itself: {log:#?}"
    );

    let out = wirewatch_in(&ns, &db, &["respond", "remove", &one.to_string()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("wirewatch: error: ") && err.contains(&format!("{one} is not blocked")),
        "{err}"
    );
}

/// Scans from `.2`, `.3`… in turn under `policy`: each waits for its
/// response line; the last one's must contain `refusal`. The log's
/// refusals of the last scanner.
fn refused_after(net: u8, policy: &str, scanners: u8, refusal: &str) -> Vec<Value> {
    let lab = Lab::new(net);
    let ns = lab.p.a.clone();
    let addrs: Vec<Ipv4Addr> = (2..2 + scanners).map(|h| lab.attacker(h)).collect();
    let mut r = lab.start(policy);
    let (last, first) = addrs.split_last().unwrap();
    for a in first {
        lab.scan_until(&mut r, *a, "blocked");
    }
    lab.scan_until(&mut r, *last, "not blocking");
    let line = r
        .err_lines
        .iter()
        .find(|l| l.contains(&format!("not blocking from {last}")))
        .cloned()
        .unwrap();
    assert!(line.contains(refusal), "{line}");
    assert!(!holds(&ns, *last), "{:?}", blocked(&ns));
    assert_eq!(blocked(&ns).unwrap().len(), first.len());
    let (code, _, err) = stop(r);
    assert_eq!(code, 0, "{err}");
    let log = log(&ns, &lab.db());
    let refused: Vec<Value> = logged(&log, *last, "refused")
        .into_iter()
        .cloned()
        .collect();
    assert!(!refused.is_empty(), "{log:#?}");
    refused
}

/// `max-blocks = 2`: the third scanner is refused, and the log says why.
#[test]
fn the_cap_refuses_a_third_block() {
    require_netns_and_nft!();
    let refused = refused_after(
        212,
        "[respond]\nmax-blocks = 2\n",
        3,
        "the cap of 2 blocks at once is reached",
    );
    assert!(
        refused[0]["reason"].as_str().unwrap().contains("cap of 2"),
        "{refused:#?}"
    );
}

/// `blocks-per-minute = 1`: the second scanner within the minute is
/// refused, and the log says why.
#[test]
fn the_rate_limit_refuses_a_second_block_in_a_minute() {
    require_netns_and_nft!();
    let refused = refused_after(
        213,
        "[respond]\nblocks-per-minute = 1\n",
        2,
        "the rate limit of 1 new blocks a minute is reached",
    );
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("rate limit"),
        "{refused:#?}"
    );
}

/// One HTTP request read from `s`: its body (by `Content-Length`).
fn read_request(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut r = BufReader::new(s);
    let mut len = 0;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// An HTTP listener on 127.0.0.1 of namespace `ns`: its address, and the
/// bodies of the requests it answered `200`.
fn receiver(ns: &str) -> (SocketAddr, mpsc::Receiver<Vec<u8>>) {
    let l = in_netns(ns, || TcpListener::bind("127.0.0.1:0").expect("bind"));
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for mut s in l.incoming().map_while(Result::ok) {
            let Ok(body) = read_request(&mut s) else {
                continue;
            };
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if tx.send(body).is_err() {
                break;
            }
        }
    });
    (addr, rx)
}

/// A listener on 127.0.0.1 of namespace `ns` that accepts connections and
/// never answers (they are held until the process ends); its address.
fn dead_receiver(ns: &str) -> SocketAddr {
    let l = in_netns(ns, || TcpListener::bind("127.0.0.1:0").expect("bind"));
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let held: Vec<TcpStream> = l.incoming().map_while(Result::ok).collect();
        drop(held);
    });
    addr
}

/// Checks that `json` is the vertical_scan alert about `from` → `to`.
fn is_scan_alert(json: &[u8], from: Ipv4Addr, to: Ipv4Addr) {
    let v: Value = serde_json::from_slice(json)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(json)));
    assert_eq!(v["kind"], "vertical_scan", "{v}");
    assert_eq!(v["entity"]["type"], "pair", "{v}");
    assert_eq!(v["entity"]["src"], from.to_string(), "{v}");
    assert_eq!(v["entity"]["dst"], to.to_string(), "{v}");
}

/// An `exec` rule (tee into a file) and a `webhook` rule (a receiver the
/// test runs in the victim's namespace) both get the alert's JSON.
#[test]
fn exec_and_webhook_rules_receive_the_alert() {
    require_netns_and_nft!();
    let lab = Lab::new(215);
    let (victim, ns) = (lab.p.addr_a, lab.p.a.clone());
    let attacker = lab.attacker(2);
    // The program runs as the unprivileged user wirewatch drops to.
    use std::os::unix::fs::PermissionsExt;
    let out_dir = lab.dir.path().join("exec");
    std::fs::create_dir(&out_dir).unwrap();
    for (d, mode) in [(lab.dir.path(), 0o755), (out_dir.as_path(), 0o777)] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let file = out_dir.join("alert.json");
    let (addr, bodies) = receiver(&ns);
    let policy = format!(
        "[respond]\n\
         [[respond.rule]]\nname = \"tee\"\nkinds = [\"vertical_scan\"]\naction = \"exec\"\n\
         program = \"tee\"\nargs = [\"{}\"]\n\
         [[respond.rule]]\nname = \"post\"\nkinds = [\"vertical_scan\"]\naction = \"webhook\"\n\
         url = \"http://{addr}/alerts\"\n",
        file.display()
    );
    let r = lab.start(&policy);
    assert!(scan(&lab.p.b, attacker, victim) >= 50);
    let body = bodies
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("no POST; stderr: {:?}", r.err_lines));
    is_scan_alert(&body, attacker, victim);
    let mut text = Vec::new();
    let ran = eventually(30, || {
        text = std::fs::read(&file).unwrap_or_default();
        serde_json::from_slice::<Value>(&text).is_ok()
    });
    assert!(ran, "the program wrote {text:?}; stderr: {:?}", r.err_lines);
    is_scan_alert(&text, attacker, victim);
    // Both got the same alert.
    assert_eq!(text.trim_ascii(), body.trim_ascii());
    let (code, _, err) = stop(r);
    assert_eq!(code, 0, "{err}");
    let log = log(&ns, &lab.db());
    // Each hook's outcome is in the log: the program's exit, the answer.
    for (rule, result) in [("tee", "exit 0 in "), ("post", "HTTP 200 after 1 attempt")] {
        assert!(
            log.iter().any(|x| x["rule"] == rule
                && x["outcome"] == "succeeded"
                && x["reason"].as_str().unwrap().starts_with(result)),
            "no {result} of {rule}: {log:#?}"
        );
    }
}

/// Sends `n` UDP datagrams of 64 bytes from `from` to `to:port` in
/// namespace `ns`, 50 at a time with a pause of 1 ms; a socket bound to
/// the port in the victim's namespace takes them (no ICMP errors back).
fn send_udp(ns: &str, from: Ipv4Addr, to: Ipv4Addr, port: u16, n: usize) {
    in_netns(ns, move || {
        let u = std::net::UdpSocket::bind((from, 0)).expect("bind");
        for i in 0..n {
            u.send_to(&[7u8; 64], (to, port)).expect("send");
            if i % 50 == 49 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    })
}

/// The packets from `from` to `to` in a final JSON report.
fn packets(report: &Value, from: Ipv4Addr, to: Ipv4Addr) -> u64 {
    let (from, to) = (from.to_string(), to.to_string());
    report["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| match (e["src"].as_str(), e["dst"].as_str()) {
            (Some(s), Some(d)) if s == from && d == to => e["src_to_dst"]["packets"].as_u64(),
            (Some(s), Some(d)) if s == to && d == from => e["dst_to_src"]["packets"].as_u64(),
            _ => Some(0),
        })
        .map(|p| p.unwrap_or(0))
        .sum()
}

/// A webhook whose receiver accepts and never answers, fed an alert per
/// scanner: capture counts every packet sent meanwhile (kernel drops 0)
/// and the run ends within the hooks' shutdown wait, not after the
/// webhook's retries.
#[test]
fn a_dead_webhook_never_slows_capture() {
    require_netns_and_nft!();
    let lab = Lab::new(216);
    let (victim, ns) = (lab.p.addr_a, lab.p.a.clone());
    // Four: from five scanners on, their alerts are merged into one.
    let scanners: Vec<Ipv4Addr> = (2..6).map(|h| lab.attacker(h)).collect();
    let dead = dead_receiver(&ns);
    let policy = format!(
        "[respond]\n[[respond.rule]]\nname = \"dead\"\nkinds = [\"vertical_scan\"]\n\
         action = \"webhook\"\nurl = \"http://{dead}/alerts\"\n"
    );
    let _sink = in_netns(&ns, move || {
        std::net::UdpSocket::bind((victim, 7000)).expect("bind")
    });
    let mut r = lab.start(&policy);
    for a in &scanners {
        assert!(scan(&lab.p.b, *a, victim) >= 50);
    }
    const SENT: usize = 5000;
    // From an address of its own, so its host pair holds these alone.
    let sender = lab.attacker(9);
    send_udp(&lab.p.b, sender, victim, 7000, SENT);
    // Every scanner's alert was handed to the webhook (which is stuck).
    for a in &scanners {
        r.wait_for_stderr(&format!("rule dead: vertical_scan {a} -> {victim}"));
    }
    std::thread::sleep(Duration::from_secs(1));
    let t = Instant::now();
    let (code, out, err) = stop(r);
    let ending = t.elapsed();
    eprintln!(
        "dead webhook, {} alerts: the run ended {:.2} s after SIGTERM",
        scanners.len(),
        ending.as_secs_f64()
    );
    assert_eq!(code, 0, "{err}");
    let report: Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "final")
        .unwrap_or_else(|| panic!("no final report: {out}"));
    assert_eq!(
        report["capture"]["kernel_dropped"], 0,
        "{}",
        report["capture"]
    );
    assert_eq!(packets(&report, sender, victim), SENT as u64, "{err}");
    // Each alert handed over ends in one outcome: the stuck one stopped
    // retrying, the queued ones never ran.
    let log = log(&ns, &lab.db());
    let count = |outcome: &str| log.iter().filter(|x| x["outcome"] == outcome).count();
    assert_eq!(count("run"), scanners.len(), "{log:#?}");
    assert_eq!(count("failed"), scanners.len(), "{log:#?}");
    assert!(
        log.iter()
            .filter(|x| x["outcome"] == "failed")
            .all(|x| x["reason"]
                .as_str()
                .unwrap()
                .contains("wirewatch was stopping")),
        "{log:#?}"
    );
    // One stuck alert alone would take 4 × 5 s plus 7 s of back-off.
    assert!(ending < Duration::from_secs(20), "ended after {ending:?}");
}

/// Runs the binary with `args` in no namespace: it must fail with exit 2
/// and one line `wirewatch: error: …`, which is returned.
fn one_line_error(args: &[&str]) -> String {
    let out = run(Command::new(BIN).arg("--no-history").args(args));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("wirewatch: error: "), "{err}");
    err.trim_end().to_string()
}

/// A demo capture, replayed with `--respond dry-run`, under each bad policy
/// file: one line naming the file and the line, and what is wrong.
#[test]
fn bad_policy_files_are_one_line_with_file_and_line() {
    let demo = wirewatch_testkit::workspace_root().join("samples/demo.pcapng");
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[respond]\n[[respond.rule]]\naction = \"ban\"\n",
            3,
            "'ban' is not an action",
        ),
        (
            "[respond]\n[[respond.rule]]\naction = \"block-source\"\nkinds = [\"scan\"]\n",
            4,
            "'scan' is not an alert kind",
        ),
        (
            "[respond]\nmode = \"enforce\"\nallow = [\"10.0.0.0/33\"]\n",
            3,
            "'10.0.0.0/33'",
        ),
        (
            "[respond]\n\n[[respond.rule]]\naction = \"webhook\"\nurl = \"ftp://h/x\"\n",
            5,
            "scheme 'ftp' is not supported",
        ),
        (
            "[respond]\n[[respond.rule]]\nname = \"page\"\naction = \"exec\"\n",
            2,
            "an exec rule needs a program",
        ),
    ];
    for (i, (text, line, what)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let err = one_line_error(&[
            "-r",
            demo.to_str().unwrap(),
            "--respond",
            "dry-run",
            "--config",
            path.to_str().unwrap(),
        ]);
        let place = format!("{}:{line}: ", path.display());
        assert!(err.contains(&place), "want {place}: {err}");
        assert!(err.contains(what), "want {what}: {err}");
    }
}

/// `--respond enforce` on a replay, and `--respond` without the detectors:
/// each one line, exit 2.
#[test]
fn respond_on_a_replay_or_without_detectors_is_one_line() {
    let demo = wirewatch_testkit::workspace_root().join("samples/demo.pcapng");
    let demo = demo.to_str().unwrap();
    let err = one_line_error(&["-r", demo, "--respond", "enforce"]);
    assert!(
        err.contains("--respond enforce acts on live capture only"),
        "{err}"
    );
    let err = one_line_error(&["-r", demo, "--respond", "dry-run", "--no-detect"]);
    assert!(err.contains("it needs the detectors"), "{err}");
}
