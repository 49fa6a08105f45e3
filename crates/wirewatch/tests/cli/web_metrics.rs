//! `/metrics` beyond the text format (OpenMetrics, the capped host and
//! process series, the history writer's numbers), its own token, tokens
//! made at first start and the TLS files' errors, over a replay of
//! `samples/demo.pcapng` served on loopback.

use std::os::unix::fs::PermissionsExt;

use crate::web::{refused, Served};

/// The samples of an exposition, without this process's own (they move
/// between two scrapes).
fn samples(text: &str) -> Vec<&str> {
    // The process's own numbers and the answer counts move between scrapes.
    text.lines()
        .filter(|l| {
            !l.starts_with('#')
                && !l.starts_with("process_")
                && !l.starts_with("wirewatch_web_requests_total")
        })
        .collect()
}

/// `(labels, value)` of every sample of `family`.
fn series<'a>(text: &'a str, family: &str) -> Vec<(&'a str, u64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix(family))
        .filter_map(|rest| rest.strip_prefix('{'))
        .map(|rest| {
            let (labels, value) = rest.rsplit_once("} ").unwrap();
            (labels, value.parse().unwrap())
        })
        .collect()
}

fn header<'a>(a: &'a wirewatch_testkit::HttpAnswer, name: &str) -> &'a str {
    &a.headers.iter().find(|(k, _)| k == name).unwrap().1
}

#[test]
fn openmetrics_is_served_when_asked_with_the_same_samples() {
    let s = Served::start("127.0.0.1:0", &[]);
    let text = s.get("/metrics", &[]);
    let om = s.get(
        "/metrics",
        &["Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"],
    );
    s.stop();
    assert_eq!(om.status, 200);
    assert_eq!(
        header(&om, "content-type"),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.body.ends_with("\n# EOF\n"), "{}", om.body);
    assert!(om
        .body
        .contains("# TYPE wirewatch_interface_receive_bytes counter\n"));
    assert!(!om
        .body
        .contains("# TYPE wirewatch_interface_receive_bytes_total"));
    assert_eq!(samples(&om.body), samples(&text.body));
    assert!(!text.body.contains("# EOF"));
}

#[test]
fn host_series_are_capped_and_add_up_to_the_interface_total() {
    let s = Served::start("127.0.0.1:0", &["--web-top-n-metrics", "3"]);
    let m = s.get("/metrics", &[]).body;
    s.stop();
    for (host, iface) in [
        (
            "wirewatch_host_transmit_bytes_total",
            "wirewatch_interface_transmit_bytes_total",
        ),
        (
            "wirewatch_host_receive_bytes_total",
            "wirewatch_interface_receive_bytes_total",
        ),
    ] {
        let hosts = series(&m, host);
        assert_eq!(hosts.len(), 4, "3 hosts and other: {m}");
        assert_eq!(hosts.last().unwrap().0, "host=\"other\"");
        let sum: u64 = hosts.iter().map(|h| h.1).sum();
        let total: u64 = series(&m, iface).iter().map(|i| i.1).sum();
        assert!(total > 0);
        assert_eq!(sum, total, "{host}: {m}");
    }
    // The replay's only publish is its first: the hosts enter with their bytes.
    assert!(series(&m, "wirewatch_host_transmit_bytes_total")[0].1 > 0);
    // A replay knows no processes: everything is other's.
    let procs = series(&m, "wirewatch_process_transmit_bytes_total");
    assert_eq!(procs.len(), 1, "{m}");
    let err = refused(&["--web", "127.0.0.1:0", "--web-top-n-metrics", "1001"]);
    assert!(err.contains("1001"), "{err}");
}

#[test]
fn history_writer_numbers_are_in_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let s = Served::start("127.0.0.1:0", &["--db", db.to_str().unwrap()]);
    // The replay's rows are committed once the writer finished.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let written = loop {
        let m = s.get("/metrics", &[]).body;
        let n: u64 = m
            .lines()
            .find_map(|l| l.strip_prefix("wirewatch_history_rows_written_total "))
            .unwrap()
            .parse()
            .unwrap();
        if n > 0 || std::time::Instant::now() > deadline {
            assert!(m.contains("\nwirewatch_history_queue_rows 0\n"), "{m}");
            assert!(
                m.contains("\nwirewatch_history_merged_rows_total 0\n"),
                "{m}"
            );
            break n;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    s.stop();
    assert!(written > 0);
}

#[test]
fn metrics_take_their_own_token_and_the_main_one() {
    let dir = tempfile::tempdir().unwrap();
    let (main, scrape) = (dir.path().join("main"), dir.path().join("scrape"));
    std::fs::write(&main, "main-token\n").unwrap();
    std::fs::write(&scrape, "scrape-token\n").unwrap();
    let s = Served::start(
        "0.0.0.0:0",
        &[
            "--web-token-file",
            main.to_str().unwrap(),
            "--web-metrics-token-file",
            scrape.to_str().unwrap(),
        ],
    );
    let (m, t) = (
        "Authorization: Bearer main-token",
        "Authorization: Bearer scrape-token",
    );
    s.wait_ended(&[m]);
    for (path, headers, want) in [
        ("/metrics", &[t][..], 200),
        ("/metrics", &[m], 200),
        ("/metrics", &[], 401),
        ("/metrics", &["Authorization: Bearer scrape-tokeN"], 401),
        ("/api/v1/interfaces", &[t], 401),
        ("/api/v1/interfaces", &[m], 200),
    ] {
        assert_eq!(s.get(path, headers).status, want, "{path} {headers:?}");
    }
    s.stop();
}

#[test]
fn a_missing_token_file_is_made_at_first_start_and_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    let p = path.to_str().unwrap();
    let s = Served::start("0.0.0.0:0", &["--web-token-file", p]);
    let said: Vec<&str> = s
        .before
        .lines()
        .filter(|l| l.contains("made a new random token"))
        .collect();
    assert_eq!(said.len(), 1, "{}", s.before);
    assert!(said[0].starts_with("wirewatch: ") && said[0].contains(p));
    let token = std::fs::read_to_string(&path).unwrap().trim().to_string();
    assert_eq!(token.len(), 64);
    assert!(
        said[0].contains(&token),
        "the token is shown once: {}",
        said[0]
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let auth = format!("Authorization: Bearer {token}");
    s.wait_ended(&[&auth]);
    assert_eq!(s.get("/api/v1/interfaces", &[&auth]).status, 200);
    assert_eq!(s.get("/api/v1/interfaces", &[]).status, 401);
    s.stop();
    // The next start reads it and says nothing.
    let s = Served::start("0.0.0.0:0", &["--web-token-file", p]);
    assert!(!s.before.contains("made a new"), "{}", s.before);
    s.wait_ended(&[&auth]);
    assert_eq!(s.get("/api/v1/interfaces", &[&auth]).status, 200);
    s.stop();
}

#[test]
fn bad_tls_files_refuse_to_start_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let junk = junk.to_str().unwrap();
    let web = ["--web", "127.0.0.1:0"];
    let with = |more: &[&str]| {
        let mut a = web.to_vec();
        a.extend_from_slice(more);
        refused(&a)
    };
    let err = with(&[
        "--web-tls-cert",
        "/nonexistent/c.pem",
        "--web-tls-key",
        junk,
    ]);
    assert!(
        err.contains("--web-tls-cert /nonexistent/c.pem: No such file"),
        "{err}"
    );
    let err = with(&["--web-tls-cert", junk, "--web-tls-key", junk]);
    assert!(
        err.contains(&format!("--web-tls-cert {junk}: no PEM")),
        "{err}"
    );
    let err = with(&["--web-tls-cert", junk]);
    assert!(err.contains("--web-tls-cert needs --web-tls-key"), "{err}");
}

#[test]
fn the_service_unit_passes_systemd_analyze_verify() {
    let analyze = wirewatch_testkit::require!(wirewatch_testkit::tool("systemd-analyze"));
    let unit =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/wirewatch.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    // The capabilities are those capture (CAP_NET_RAW) and the process
    // scan (PROCESS_CAPS) need, and no other.
    for key in ["AmbientCapabilities", "CapabilityBoundingSet"] {
        let line = format!("\n{key}=CAP_NET_RAW CAP_SYS_PTRACE CAP_DAC_READ_SEARCH\n");
        assert!(text.contains(&line), "{key}");
    }
    let want = wirewatch_pipeline::live::PROCESS_CAPS;
    assert_eq!(
        want,
        (1 << 19) | (1 << 2),
        "CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"
    );
    for key in [
        "ProtectSystem=strict",
        "StateDirectory=wirewatch",
        "NoNewPrivileges=yes",
    ] {
        assert!(text.contains(&format!("\n{key}\n")), "{key}");
    }
    // verify wants the program where ExecStart says: this build's.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("wirewatch.service");
    let bin = assert_cmd::cargo::cargo_bin("wirewatch");
    std::fs::write(
        &copy,
        text.replace("/usr/local/bin/wirewatch", bin.to_str().unwrap()),
    )
    .unwrap();
    let out = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
