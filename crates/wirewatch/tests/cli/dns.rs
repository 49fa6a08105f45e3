//! `--tcp`: DNS transactions in the summary (docs/DNS.md), on a capture
//! made here with known answers, response codes, a retransmission and a
//! timeout, and against tshark's `dns.time` and `dns.flags.rcode`; and
//! live, against a real resolver (dnsmasq) in a network namespace.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use wirewatch_wire::build::{tcp_frame, udp_frame};
use wirewatch_wire::Timestamp;

use crate::common::{ip, stdout_of, t, write_pcap};
use crate::live::{self, in_netns, Running};
use crate::tcp::summary;

/// A DNS message asking for `www.example.com` A IN: a query, or its
/// response with `rcode` (no answer records).
fn dns_msg(id: u16, response: Option<u8>) -> Vec<u8> {
    let flags: u16 = match response {
        None => 0x0100,
        Some(rcode) => 0x8180 | u16::from(rcode),
    };
    let mut m = Vec::new();
    for v in [id, flags, 1, 0, 0, 0] {
        m.extend_from_slice(&v.to_be_bytes());
    }
    for label in ["www", "example", "com"] {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    m
}

/// One transaction of the made capture: client, its port, server, id,
/// when the query goes (ms), when it is sent again (if it is), and
/// the answer (ms, rcode), if any.
struct Tx {
    client: &'static str,
    port: u16,
    server: &'static str,
    id: u16,
    at: i64,
    again: Option<i64>,
    answer: Option<(i64, u8)>,
}

const fn tx(
    client: &'static str,
    server: &'static str,
    id: u16,
    at: i64,
    answer: Option<(i64, u8)>,
) -> Tx {
    Tx {
        client,
        port: 40_000 + id,
        server,
        id,
        at,
        again: None,
        answer,
    }
}

/// Four clients (one over IPv6), two servers; NOERROR, NXDOMAIN, SERVFAIL,
/// REFUSED and FORMERR answers; a query sent again before its answer; an
/// id used again after its answer; a query never answered, with traffic
/// going on past its timeout.
fn transactions() -> Vec<Tx> {
    let (a, b, c, v6) = ("10.0.0.1", "10.0.0.2", "10.0.0.3", "2001:db8::1");
    let (s1, s2, s6) = ("10.0.0.53", "10.0.1.53", "2001:db8::53");
    vec![
        tx(a, s1, 1, 0, Some((3, 0))),
        tx(a, s1, 2, 10, Some((22, 3))),
        tx(a, s2, 3, 20, Some((60, 3))),
        tx(b, s1, 4, 30, Some((31, 0))),
        tx(b, s2, 5, 40, Some((290, 2))),
        tx(b, s2, 6, 50, Some((58, 5))),
        tx(c, s1, 7, 60, Some((64, 1))),
        Tx {
            again: Some(1_060),
            ..tx(c, s1, 8, 70, Some((1_075, 0)))
        },
        tx(c, s2, 9, 100, None),
        // Port and id of transaction 1 again, once it was answered.
        Tx {
            port: 40_001,
            ..tx(a, s1, 1, 2_000, Some((2_017, 3)))
        },
        tx(v6, s6, 10, 3_000, Some((3_009, 0))),
        tx(a, s1, 11, 9_000, Some((9_004, 0))),
    ]
}

/// The made capture's frames, in time order.
fn frames() -> Vec<(Timestamp, Vec<u8>)> {
    let mut f = Vec::new();
    for x in transactions() {
        let (c, s) = (ip(x.client), ip(x.server));
        let q = udp_frame(c, x.port, s, 53, &dns_msg(x.id, None));
        f.push((t(x.at), q.clone()));
        if let Some(again) = x.again {
            f.push((t(again), q));
        }
        if let Some((at, rcode)) = x.answer {
            f.push((
                t(at),
                udp_frame(s, 53, c, x.port, &dns_msg(x.id, Some(rcode))),
            ));
        }
    }
    // Not DNS: port 53 without a message, and TCP to another port.
    f.push((
        t(4_000),
        udp_frame(ip("10.0.0.1"), 5_353, ip("10.0.0.53"), 53, b"x"),
    ));
    f.push((
        t(4_001),
        tcp_frame(ip("10.0.0.1"), 5_000, ip("10.0.0.53"), 80, 0x02, &[]),
    ));
    f.sort_by_key(|x| x.0);
    f
}

/// The `dns` object of the `--format json` summary of `path` with `--tcp`.
fn dns_summary(path: &Path) -> Value {
    let p = path.to_str().unwrap();
    summary(&["-r", p, "--tcp", "--format", "json", "--no-detect"])["dns"].clone()
}

/// The figures of `addr` in a side's list of the `dns` object.
fn host<'a>(side: &'a Value, addr: &str) -> &'a Value {
    side["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["address"] == addr)
        .unwrap_or_else(|| panic!("{addr} not in {side}"))
}

fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        0 => "noerror",
        3 => "nxdomain",
        2 => "servfail",
        5 => "refused",
        _ => "other",
    }
}

#[test]
fn transactions_are_matched_timed_and_counted_per_client_and_server() {
    let dir = tempfile::tempdir().unwrap();
    let cap = write_pcap(dir.path(), "dns.pcap", &frames());
    let d = dns_summary(&cap);
    let txs = transactions();
    let answered: Vec<&Tx> = txs.iter().filter(|x| x.answer.is_some()).collect();
    let all = &d["all"];
    assert_eq!(all["queries"], txs.len(), "{d}");
    assert_eq!(all["answered"], answered.len(), "{d}");
    assert_eq!(all["timeouts"], 1, "{d}");
    assert_eq!(all["retransmissions"], 1, "{d}");
    assert_eq!(d["unmatched_responses"], 0, "{d}");
    assert_eq!(d["pending"], 0, "{d}");
    let mut rcodes: BTreeMap<&str, u64> = BTreeMap::new();
    for x in &answered {
        *rcodes.entry(rcode_name(x.answer.unwrap().1)).or_default() += 1;
    }
    for (name, n) in &rcodes {
        assert_eq!(all["rcodes"][name], *n, "{name}: {d}");
    }
    let nx = rcodes["nxdomain"] as f64 / answered.len() as f64;
    assert!(
        (all["nxdomain_rate"].as_f64().unwrap() - nx).abs() < 1e-9,
        "{d}"
    );
    // The retransmitted query is timed from its first sending: 1,005 ms.
    let longest = answered
        .iter()
        .map(|x| x.answer.unwrap().0 - x.at)
        .max()
        .unwrap();
    assert_eq!(all["response_ms"]["max"], longest as f64, "{d}");
    // Per client and per server: queries, answers, timeouts.
    for x in &txs {
        for (side, addr) in [("clients", x.client), ("servers", x.server)] {
            let h = host(&d[side], addr);
            let mine = txs
                .iter()
                .filter(|y| [y.client, y.server].contains(&addr))
                .count();
            assert_eq!(h["queries"], mine, "{addr}: {d}");
        }
    }
    let c = host(&d["clients"], "10.0.0.3");
    assert_eq!(
        (c["answered"].as_u64(), c["timeouts"].as_u64()),
        (Some(2), Some(1)),
        "{d}"
    );
    let s2 = host(&d["servers"], "10.0.1.53");
    assert_eq!(s2["rcodes"]["servfail"], 1, "{d}");
    assert_eq!(s2["response_ms"]["max"], 250.0, "{d}");
}

/// One response as tshark reads it.
struct Theirs {
    client: IpAddr,
    /// `dns.time` in ms: `None` when tshark did not time it.
    ms: Option<f64>,
    rcode: u8,
    /// Cut short by the snap length.
    cut: bool,
}

/// tshark's responses of `path`.
fn tshark_responses(tshark: &Path, path: &Path) -> Vec<Theirs> {
    let fields = [
        "ip.dst",
        "ipv6.dst",
        "dns.time",
        "dns.flags.rcode",
        "frame.cap_len",
        "frame.len",
    ];
    let mut cmd = std::process::Command::new(tshark);
    cmd.args([
        "-r",
        path.to_str().unwrap(),
        "-Y",
        "dns.flags.response==1",
        "-T",
        "fields",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.stderr(std::process::Stdio::inherit()).output().unwrap();
    assert!(out.status.success(), "tshark failed on {}", path.display());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Theirs {
                client: ip(if f[0].is_empty() { f[1] } else { f[0] }),
                ms: f[2].parse::<f64>().ok().map(|s| s * 1e3),
                rcode: f[3].parse().unwrap(),
                cut: f[4] != f[5],
            }
        })
        .collect()
}

/// Our `dns` object of `path` against tshark's responses: the response
/// codes of every response; and for each client whose responses tshark
/// all timed, the answers, the longest time exactly and the median within
/// the histogram's 9 %. tshark times no response cut short by the snap
/// length (its dissector stops at the cut before it matches); we need
/// only the header, so we time those too.
fn agrees_with_tshark(tshark: &Path, path: &Path) {
    let d = dns_summary(path);
    let name = path.display();
    let theirs = tshark_responses(tshark, path);
    assert!(theirs.iter().any(|r| r.ms.is_some()), "{name}: none timed");
    assert_eq!(d["unmatched_responses"], 0, "{name}: {d}");
    assert_eq!(d["all"]["answered"], theirs.len(), "{name}: {d}");
    let mut rcodes: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &theirs {
        *rcodes.entry(rcode_name(r.rcode)).or_default() += 1;
        assert!(
            r.ms.is_some() || r.cut,
            "{name}: tshark left a whole response untimed"
        );
    }
    for (rc, n) in &rcodes {
        assert_eq!(d["all"]["rcodes"][rc], *n, "{name} {rc}: {d}");
    }
    let mut clients: BTreeMap<IpAddr, Vec<Option<f64>>> = BTreeMap::new();
    for r in &theirs {
        clients.entry(r.client).or_default().push(r.ms);
    }
    let mut compared = 0;
    for (c, times) in clients {
        let Some(mut ms) = times.into_iter().collect::<Option<Vec<f64>>>() else {
            continue;
        };
        compared += 1;
        ms.sort_by(f64::total_cmp);
        let h = host(&d["clients"], &c.to_string());
        assert_eq!(h["answered"], ms.len(), "{name} {c}: {d}");
        let max = h["response_ms"]["max"].as_f64().unwrap();
        assert!(
            (max - ms[ms.len() - 1]).abs() < 1e-3,
            "{name} {c}: max {max} vs {ms:?}"
        );
        // Our quantile: the bin of the ceil(q·n)-th smallest time.
        let median = ms[(ms.len() as f64 * 0.5).ceil() as usize - 1];
        let ours = h["response_ms"]["p50"].as_f64().unwrap();
        assert!(
            (ours / median - 1.0).abs() < 0.1,
            "{name} {c}: p50 {ours} vs {median}"
        );
    }
    assert!(compared > 0, "{name}: no client to compare");
}

#[test]
fn answers_codes_and_times_agree_with_tshark() {
    let tshark = wirewatch_testkit::require!(wirewatch_testkit::tool("tshark"));
    let dir = tempfile::tempdir().unwrap();
    let made = write_pcap(dir.path(), "dns.pcap", &frames());
    let demo = wirewatch_testkit::workspace_root().join("samples/demo.pcapng");
    for path in [made.as_path(), demo.as_path()] {
        agrees_with_tshark(&tshark, path);
    }
}

#[test]
fn the_summary_shows_dns_only_with_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let cap = write_pcap(dir.path(), "dns.pcap", &frames());
    let out = stdout_of(&[
        "-r",
        cap.to_str().unwrap(),
        "--format",
        "json",
        "--no-detect",
    ]);
    assert!(!out.contains("\"dns\""), "{out}");
    let text = stdout_of(&["-r", cap.to_str().unwrap(), "-t", "--tcp", "--no-detect"]);
    assert!(text.contains("  DNS: 12 queries, 11 answered"), "{text}");
    assert!(text.contains("    client 10.0.0.1: 5 queries"), "{text}");
}

/// The resolver of the live test, killed on drop.
struct Resolver(std::process::Child);

impl Drop for Resolver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// dnsmasq in namespace `ns` on `addr`:53: `ok.test` has an address, other
/// names under `test` do not exist (NXDOMAIN), and every other name is
/// refused (no upstream server).
fn resolver(dnsmasq: &Path, ns: &str, addr: Ipv4Addr, dir: &Path) -> Resolver {
    let child = std::process::Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(dnsmasq)
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
        ])
        .args([
            "--bind-interfaces",
            "--address=/ok.test/10.9.9.9",
            "--local=/test/",
        ])
        .arg(format!("--listen-address={addr}"))
        .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start dnsmasq");
    Resolver(child)
}

/// Asks `server`:53 for `name` from a socket of the calling thread's
/// namespace with id `id`; the answer's response code, or `None` after
/// `wait`.
fn ask(server: Ipv4Addr, name: &str, id: u16, wait: Duration) -> Option<u8> {
    let s = UdpSocket::bind("0.0.0.0:0").unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    let mut m = Vec::new();
    for v in [id, 0x0100, 1, 0, 0, 0] {
        m.extend_from_slice(&v.to_be_bytes());
    }
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    s.send_to(&m, (server, 53)).unwrap();
    let mut buf = [0u8; 512];
    let n = s.recv(&mut buf).ok()?;
    (n >= 4 && buf[..2] == id.to_be_bytes()).then_some(buf[3] & 0x0f)
}

/// A real resolver (dnsmasq) in one namespace, wirewatch `--tcp` live in
/// the other beside a client: the response codes wirewatch counts are the
/// ones the client read, every query is answered and timed, and a query
/// to an address where nothing answers times out once a packet 5 s later
/// has moved the packet clock.
#[test]
fn a_real_resolver_s_answers_are_counted_live() {
    wirewatch_testkit::require!(wirewatch_testkit::netns());
    let dnsmasq = wirewatch_testkit::require!(wirewatch_testkit::tool("dnsmasq"));
    let dir = tempfile::tempdir().unwrap();
    let p = live::pair(233);
    let _r = resolver(&dnsmasq, &p.b, p.addr_b, dir.path());
    let server = p.addr_b;
    // Ready once it answers (before the capture starts, so that no
    // unanswered probe is counted).
    let ready = in_netns(&p.a, move || {
        (0..100).any(|i| ask(server, "ok.test", 60_000 + i, Duration::from_millis(100)).is_some())
    });
    assert!(ready, "dnsmasq did not answer");
    // Nobody has this address: its frames leave on the veth, unanswered.
    let silent = Ipv4Addr::new(10, 233, 0, 9);
    live::sh(
        &["ip", "-n", &p.a, "neigh", "replace", &silent.to_string()]
            .into_iter()
            .chain([
                "lladdr",
                "02:00:00:00:00:99",
                "dev",
                &p.ia,
                "nud",
                "permanent",
            ])
            .collect::<Vec<_>>(),
    );
    let ww = Running::start(
        &p.a,
        &["-i", &p.ia, "--tcp", "-s", "300", "--format", "json"],
    );
    let names = [
        "ok.test",
        "nope.test",
        "ok.test",
        "www.example.org",
        "gone.test",
    ];
    let (got, lost, last) = in_netns(&p.a, move || {
        let got: Vec<Option<u8>> = names
            .iter()
            .zip(1u16..)
            .map(|(n, id)| ask(server, n, id, Duration::from_secs(2)))
            .collect();
        let lost = ask(silent, "ok.test", 99, Duration::from_millis(5_500));
        // The tracker's clock is the packets': this answer's moves it past
        // the silent query's timeout.
        (
            got,
            lost,
            ask(server, "ok.test", 100, Duration::from_secs(2)),
        )
    });
    assert_eq!((lost, last), (None, Some(0)));
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(ww.pid() as i32, libc::SIGTERM) };
    let (code, out, err) = ww.finish();
    assert_eq!(code, 0, "{err}");
    let v = live::json_lines(&out);
    let d = &live::summary(&v)["dns"];
    let got: Vec<u8> = got
        .into_iter()
        .map(|r| r.expect("dnsmasq answered"))
        .collect();
    assert_eq!(got, [0, 3, 0, 5, 3], "the resolver's answers");
    let all = &d["all"];
    assert_eq!(all["queries"], names.len() + 2, "{d}");
    assert_eq!(all["answered"], names.len() + 1, "{d}");
    assert_eq!(all["timeouts"], 1, "{d}");
    for (name, n) in [("noerror", 3), ("nxdomain", 2), ("refused", 1)] {
        assert_eq!(all["rcodes"][name], n, "{name}: {d}");
    }
    let answered = &host(&d["servers"], &server.to_string())["answered"];
    assert_eq!(answered, names.len() + 1, "{d}");
    assert_eq!(
        host(&d["servers"], &silent.to_string())["timeouts"],
        1,
        "{d}"
    );
    let client = &host(&d["clients"], &p.addr_a.to_string())["queries"];
    assert_eq!(client, names.len() + 2, "{d}");
    let max = all["response_ms"]["max"].as_f64().unwrap();
    assert!(max > 0.0 && max < 2_000.0, "{d}");
}

/// The value of the sample `line` starts (name and labels) in `text`.
fn sample(text: &str, line: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {line} in {text}"))
        .parse()
        .unwrap()
}

/// `/metrics` of a served replay with `--tcp` carries the DNS figures of
/// the report's summary.
#[test]
fn metrics_carry_the_summary_s_dns_figures() {
    let s = crate::web::Served::start("127.0.0.1:0", &["--tcp", "--no-detect"]);
    let m = s.get("/metrics", &[]).body;
    s.stop();
    let demo = wirewatch_testkit::workspace_root().join("samples/demo.pcapng");
    let d = dns_summary(&demo);
    let all = &d["all"];
    let pairs = [
        ("wirewatch_dns_queries_total".to_string(), &all["queries"]),
        ("wirewatch_dns_timeouts_total".to_string(), &all["timeouts"]),
    ];
    let rcodes = ["noerror", "nxdomain", "servfail", "refused", "other"].map(|rc| {
        (
            format!("wirewatch_dns_responses_total{{rcode=\"{rc}\"}}"),
            &all["rcodes"][rc],
        )
    });
    for (line, want) in pairs.into_iter().chain(rcodes) {
        assert_eq!(sample(&m, &line), want.as_f64().unwrap(), "{line}: {m}");
    }
    let p95 = sample(&m, "wirewatch_dns_response_p95_seconds") * 1e3;
    let ms = all["response_ms"]["p95"].as_f64().unwrap();
    assert!((p95 - ms).abs() < 1e-6, "{p95} ms vs {ms} ms");
}
