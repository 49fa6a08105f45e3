use std::collections::BTreeSet;

use super::*;
use crate::feed::IfaceRow;

const SEC: i64 = 1_000_000_000;

/// A snapshot with a label value that needs every escape.
fn snapshot() -> LiveSnapshot {
    let mut hosts = HashMap::new();
    hosts.insert("10.0.0.1".parse::<IpAddr>().unwrap(), [300, 40]);
    hosts.insert("10.0.0.2".parse::<IpAddr>().unwrap(), [20, 10]);
    let mut procs = HashMap::new();
    procs.insert("we\"ird\\name\n".to_string(), [100, 5]);
    let talkers = Talkers {
        cap: 20,
        hosts: Sticky::default().next(&hosts, [400, 60], SEC, 20),
        processes: Sticky::default().next(&procs, [400, 60], SEC, 20),
    };
    LiveSnapshot {
        interfaces: vec![
            IfaceRow {
                name: "eth\"0".into(),
                rx: (2, 60),
                tx: (5, 400),
                ..IfaceRow::default()
            },
            IfaceRow {
                name: "lo".into(),
                tx: (1, 7),
                kernel: Some((5, 3, "up")),
                ..IfaceRow::default()
            },
        ],
        decode_errors: vec![("truncated", 4)],
        flows_active: 3,
        alerts: [(("scan", "high"), 2)].into_iter().collect(),
        talkers: std::sync::Arc::new(talkers),
        ..LiveSnapshot::default()
    }
}

fn extra() -> Extra {
    Extra {
        process: Some(ProcessStats {
            cpu_seconds: 1.25,
            resident_bytes: 12_345_678,
            virtual_bytes: 99_000_000,
            open_fds: 9,
            max_fds: 1024,
            start_time_seconds: 1_700_000_000.5,
        }),
        history: [7, 3, 120],
        web: WebStats {
            sse_clients: 3,
            sse_refused: 1,
            answers: vec![("200".into(), 41), ("other".into(), 2)],
        },
    }
}

/// The samples of an exposition: (series, value).
fn samples(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit_once(' ').unwrap())
        .collect()
}

#[test]
fn label_values_are_escaped_and_every_family_and_series_appears_once() {
    assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
    let text = encode(&snapshot(), &extra(), Format::Text);
    for want in [
        "wirewatch_interface_receive_bytes_total{interface=\"eth\\\"0\"} 60\n",
        "wirewatch_interface_transmit_bytes_total{interface=\"lo\"} 7\n",
        "wirewatch_capture_kernel_drops_total{interface=\"lo\"} 3\n",
        "wirewatch_alerts_total{kind=\"scan\",severity=\"high\"} 2\n",
        "wirewatch_decode_errors_total{reason=\"truncated\"} 4\n",
        "wirewatch_process_transmit_bytes_total{process=\"we\\\"ird\\\\name\\n\"} 100\n",
        "wirewatch_host_transmit_bytes_total{host=\"10.0.0.1\"} 300\n",
        "wirewatch_history_queue_rows 7\n",
        "wirewatch_history_merged_rows_total 3\n",
        "process_cpu_seconds_total 1.25\n",
        "process_start_time_seconds 1700000000.5\n",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    let types: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .collect();
    let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
    let unique: BTreeSet<&&str> = types.iter().collect();
    assert_eq!((unique.len(), helps), (types.len(), types.len()), "{text}");
    let series = samples(&text);
    let unique: BTreeSet<&str> = series.iter().map(|s| s.0).collect();
    assert_eq!(unique.len(), series.len(), "{text}");
    assert!(!text.contains("# EOF"));
}

/// Checks an OpenMetrics exposition's structure: `# EOF` last; each
/// family's HELP then TYPE, once, before its samples, which are together;
/// a counter's family has no `_total` and its samples do.
fn check_openmetrics(text: &str) {
    assert!(text.ends_with("\n# EOF\n"), "{text}");
    let mut seen = BTreeSet::new();
    let mut current: Option<(String, String)> = None;
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        if l == "# EOF" {
            assert!(lines.peek().is_none());
            break;
        }
        if let Some(rest) = l.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap().to_string();
            assert!(seen.insert(name.clone()), "second HELP for {name}");
            let ty = lines.next().unwrap();
            let kind = ty
                .strip_prefix(&format!("# TYPE {name} "))
                .unwrap_or_else(|| panic!("no TYPE after HELP {name}: {ty}"));
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{ty}");
            if kind == "counter" {
                assert!(!name.ends_with("_total"), "{name}");
            }
            current = Some((name, kind.to_string()));
            continue;
        }
        assert!(!l.starts_with('#'), "{l}");
        let (name, kind) = current.as_ref().expect("a sample before any family");
        let series = l.split(['{', ' ']).next().unwrap();
        let want: Vec<String> = match kind.as_str() {
            "counter" => vec![format!("{name}_total")],
            "histogram" => ["_bucket", "_sum", "_count"]
                .map(|s| format!("{name}{s}"))
                .to_vec(),
            _ => vec![name.clone()],
        };
        assert!(
            want.iter().any(|w| w == series),
            "a sample outside its family: {l}"
        );
    }
}

#[test]
fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
    let om = encode(&snapshot(), &extra(), Format::OpenMetrics);
    check_openmetrics(&om);
    insta::assert_snapshot!("openmetrics", om);
    // The same samples as the text format.
    let text = encode(&snapshot(), &extra(), Format::Text);
    assert_eq!(samples(&om), samples(&text));
    assert!(om.contains("# TYPE wirewatch_interface_receive_bytes counter\n"));
    assert!(om.contains("\nwirewatch_interface_receive_bytes_total{interface=\"lo\"} 0\n"));
}

#[test]
fn the_format_follows_accept() {
    let prometheus = b"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    assert_eq!(Format::from_accept(Some(prometheus)), Format::OpenMetrics);
    assert_eq!(Format::from_accept(Some(b"text/plain")), Format::Text);
    assert_eq!(Format::from_accept(None), Format::Text);
    let hub = crate::shared();
    hub.snap.store(std::sync::Arc::new(snapshot()));
    hub.count_answer(200);
    let a = answer(&hub, Format::OpenMetrics);
    assert_eq!(a.content_type, OPENMETRICS_CONTENT_TYPE);
    assert!(a.body.ends_with("# EOF\n"));
    assert!(
        a.body
            .contains("\nwirewatch_web_requests_total{code=\"200\"} 1\n"),
        "{}",
        a.body
    );
    assert_eq!(answer(&hub, Format::Text).content_type, CONTENT_TYPE);
}

#[test]
fn process_numbers_come_from_proc() {
    let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 1000 0 0 0 150 75 0 0 20 0 3 0 250000 104857600 2000 18446744073709551615";
    let status = "Name:\tx\nVmSize:\t  102400 kB\nVmRSS:\t    8000 kB\n";
    let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n";
    let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
    let p = ProcessStats::parse(stat, status, boot, limits, 12).unwrap();
    assert_eq!(
        p,
        ProcessStats {
            cpu_seconds: 2.25,
            resident_bytes: 8_192_000,
            virtual_bytes: 104_857_600,
            open_fds: 12,
            max_fds: 1024,
            start_time_seconds: 1_700_002_500.0,
        }
    );
    assert_eq!(
        ProcessStats::parse("garbage", status, boot, limits, 1),
        None
    );
    // And this very process.
    let me = ProcessStats::read().expect("/proc/self");
    assert!(me.resident_bytes > 0 && me.open_fds >= 3 && me.start_time_seconds > 1e9);
}

/// `n` hosts, host `i` with `i+1` bytes each way times `scale`.
fn traffic(hosts: impl Iterator<Item = u32>, scale: u64) -> HashMap<IpAddr, [u64; 2]> {
    hosts
        .map(|i| (IpAddr::from(i.to_be_bytes()), [u64::from(i + 1) * scale; 2]))
        .collect()
}

fn total_of(cur: &HashMap<IpAddr, [u64; 2]>, folded: [u64; 2]) -> [u64; 2] {
    let s = |d: usize| cur.values().map(|b| b[d]).sum::<u64>() + folded[d];
    [s(0), s(1)]
}

#[test]
fn the_top_n_is_capped_sticky_and_with_other_adds_up_to_the_total() {
    let cap = 5;
    let mut s: Sticky<IpAddr> = Sticky::default();
    // First publish: 50 hosts; the 5 busiest enter with what they have.
    let cur = traffic(0..50, 10);
    let total = total_of(&cur, [0; 2]);
    s = s.next(&cur, total, 0, cap);
    let keys: Vec<String> = s.tracked.keys().map(|k| k.to_string()).collect();
    assert_eq!(
        keys,
        ["0.0.0.45", "0.0.0.46", "0.0.0.47", "0.0.0.48", "0.0.0.49"]
    );
    assert_eq!(s.tracked[&IpAddr::from([0, 0, 0, 49])].value, [500, 500]);
    assert_eq!(s.accounted(), total);
    // A new host 3x busier than the quietest arrives before the minimum
    // stay: nothing moves; after it, it displaces the quietest (0.0.0.45).
    let mut cur = cur;
    let big = IpAddr::from([10, 0, 0, 1]);
    cur.insert(big, [3000, 0]);
    let mut prev_values: BTreeMap<IpAddr, [u64; 2]> = BTreeMap::new();
    for (t, want_big) in [(SEC, false), (MIN_STAY_NANOS, true)] {
        let total = total_of(&cur, [0; 2]);
        let before_other = s.other;
        s = s.next(&cur, total, t, cap);
        assert_eq!(s.tracked.contains_key(&big), want_big, "at {t}");
        assert_eq!(s.tracked.len(), cap);
        assert_eq!(s.accounted(), total);
        assert!(s.other[0] >= before_other[0] && s.other[1] >= before_other[1]);
        for (k, t) in &s.tracked {
            if let Some(p) = prev_values.get(k) {
                assert!(t.value[0] >= p[0] && t.value[1] >= p[1], "{k} went down");
            }
        }
        prev_values = s.tracked.iter().map(|(k, t)| (*k, t.value)).collect();
    }
    assert!(!s.tracked.contains_key(&IpAddr::from([0, 0, 0, 45])));
    // Entered after the first publish: it counts from zero.
    assert_eq!(s.tracked[&big].value, [0, 0]);
    // Its flows grow by 500 and older flows of others are folded away:
    // only its growth is its own; the rest is other's.
    cur.insert(big, [3500, 0]);
    cur.remove(&IpAddr::from([0, 0, 0, 3]));
    let folded = [40, 40];
    let total = total_of(&cur, folded);
    s = s.next(&cur, total, MIN_STAY_NANOS + SEC, cap);
    assert_eq!(s.tracked[&big].value, [500, 0]);
    assert_eq!(s.accounted(), total);
    // Idle for IDLE_NANOS: everyone but the growing host leaves.
    cur.insert(big, [4000, 0]);
    let total = total_of(&cur, folded);
    s = s.next(&cur, total, MIN_STAY_NANOS + SEC + IDLE_NANOS, cap);
    assert!(s.tracked.contains_key(&big));
    assert_eq!(s.accounted(), total);
}

#[test]
fn the_series_stay_bounded_whatever_the_traffic() {
    let cap = 20;
    let mut t = Talkers::new(cap);
    let mut folded = [0u64; 2];
    let mut last_other = [0u64; 2];
    // 200 publishes; each brings 5,000 new hosts (a scan) and folds the
    // previous ones away.
    for round in 0..200u32 {
        let hosts = traffic(round * 5000..(round + 1) * 5000, u64::from(round % 7) + 1);
        let total = total_of(&hosts, folded);
        t.hosts = t.hosts.next(&hosts, total, i64::from(round) * SEC, cap);
        folded = total;
        assert!(t.hosts.tracked.len() <= cap);
        assert_eq!(t.hosts.accounted(), total);
        assert!(t.hosts.other[0] >= last_other[0]);
        last_other = t.hosts.other;
        let snap = LiveSnapshot {
            talkers: std::sync::Arc::new(t.clone()),
            ..LiveSnapshot::default()
        };
        let text = encode(&snap, &Extra::default(), Format::Text);
        let host_series = samples(&text)
            .iter()
            .filter(|s| s.0.starts_with("wirewatch_host_"))
            .count();
        assert!(
            host_series <= 2 * (cap + 1),
            "{host_series} at round {round}"
        );
    }
    // Zero: only other.
    let s = Sticky::default().next(&traffic(0..10, 1), [55, 55], 0, 0);
    assert!(s.tracked.is_empty());
    assert_eq!(s.other, [55, 55]);
}

#[test]
fn a_process_named_like_the_rest_stays_in_it() {
    let cur: HashMap<String, [u64; 2]> = [("other".to_string(), [9, 9]), ("sshd".into(), [1, 1])]
        .into_iter()
        .collect();
    let s = Sticky::default().next(&cur, [10, 10], 0, 5);
    let keys: Vec<&String> = s.tracked.keys().collect();
    assert_eq!(keys, ["sshd"]);
    assert_eq!(s.other, [9, 9]);
}

/// The value of the unlabelled sample `name` of an exposition.
fn value_of(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {exposition}"))
        .parse()
        .unwrap()
}

#[test]
fn tcp_health_is_exposed_when_analysed() {
    let mut snap = snapshot();
    assert!(!encode(&snap, &extra(), Format::Text).contains("wirewatch_tcp_"));
    let mut t = wirewatch_flow::TcpTotals {
        connections: 3,
        packets: 40,
        retransmissions: 2,
        duplicate_acks: 5,
        ..Default::default()
    };
    for ms in [10u64, 20, 30] {
        t.handshake_rtt.add(ms * 1_000_000);
    }
    t.smoothed_rtt.add(200_000_000);
    snap.tcp = Some(t);
    let om = encode(&snap, &extra(), Format::OpenMetrics);
    check_openmetrics(&om);
    assert!(
        om.contains("\nwirewatch_tcp_retransmissions_total 2\n"),
        "{om}"
    );
    assert!(
        om.contains("\nwirewatch_tcp_duplicate_acks_total 5\n"),
        "{om}"
    );
    let p50 = value_of(&om, "wirewatch_tcp_handshake_rtt_p50_seconds");
    assert!((0.018..0.022).contains(&p50), "{p50}");
    let text = encode(&snap, &extra(), Format::Text);
    assert_eq!(samples(&om), samples(&text));
    // The handshake RTTs as a histogram: cumulative buckets, +Inf = count.
    assert!(
        text.contains("# TYPE wirewatch_tcp_handshake_rtt_seconds histogram\n"),
        "{text}"
    );
    let bucket = |le: &str| {
        let l = format!("wirewatch_tcp_handshake_rtt_seconds_bucket{{le=\"{le}\"}} ");
        text.lines()
            .find_map(|x| x.strip_prefix(l.as_str()))
            .unwrap_or_else(|| panic!("{l}: {text}"))
            .to_string()
    };
    assert_eq!(
        ["0.01", "0.025", "0.05", "+Inf"].map(bucket),
        ["0", "2", "3", "3"].map(String::from)
    );
    assert!(
        text.contains("\nwirewatch_tcp_handshake_rtt_seconds_sum 0.06\n"),
        "{text}"
    );
    assert!(
        text.contains("\nwirewatch_tcp_handshake_rtt_seconds_count 3\n"),
        "{text}"
    );
    // The connections' smoothed RTTs: a histogram of their own.
    for want in [
        "\nwirewatch_tcp_rtt_seconds_bucket{le=\"0.1\"} 0\n",
        "\nwirewatch_tcp_rtt_seconds_bucket{le=\"0.25\"} 1\n",
        "\nwirewatch_tcp_rtt_seconds_sum 0.2\n",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
}

#[test]
fn dns_transactions_are_exposed_when_tracked() {
    let mut snap = snapshot();
    assert!(!encode(&snap, &extra(), Format::Text).contains("wirewatch_dns_"));
    let mut all = wirewatch_flow::DnsStats {
        queries: 9,
        answered: 7,
        timeouts: 2,
        rcodes: [4, 2, 1, 0, 0],
        max_nanos: 30_000_000,
        ..Default::default()
    };
    for ms in [10u64, 20, 30] {
        all.response.add(ms * 1_000_000);
    }
    snap.dns = Some(wirewatch_flow::DnsTotals {
        all,
        unmatched_responses: 1,
        pending: 3,
        ..Default::default()
    });
    let om = encode(&snap, &extra(), Format::OpenMetrics);
    check_openmetrics(&om);
    for line in [
        "wirewatch_dns_queries_total 9",
        "wirewatch_dns_timeouts_total 2",
        "wirewatch_dns_responses_total{rcode=\"nxdomain\"} 2",
        "wirewatch_dns_responses_total{rcode=\"servfail\"} 1",
        "wirewatch_dns_responses_total{rcode=\"noerror\"} 4",
        "wirewatch_dns_unmatched_responses_total 1",
        "wirewatch_dns_pending_queries 3",
    ] {
        assert!(om.contains(&format!("\n{line}\n")), "{line} in {om}");
    }
    let p50 = value_of(&om, "wirewatch_dns_response_p50_seconds");
    assert!((0.018..0.022).contains(&p50), "{p50}");
    let text = encode(&snap, &extra(), Format::Text);
    assert_eq!(samples(&om), samples(&text));
}
