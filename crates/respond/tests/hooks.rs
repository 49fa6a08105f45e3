//! The exec and webhook actions against real programs and a local HTTP
//! server each test starts on 127.0.0.1.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use wirewatch_respond::hooks::{
    Backoff, Hook, HookResult, Hooks, HooksConfig, Job, Outcome, HOOK_PATH,
};

/// The longest any test waits for outcomes before it fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// An alert as `--alerts json` writes it, padded past a pipe's 64 KiB so
/// that stdin is fed while the program reads.
fn alert_json(pad: usize) -> Vec<u8> {
    format!(
        r#"{{"time":"2026-12-07T23:00:00Z","kind":"syn_flood","severity":"high","summary":"SYN flood on 10.0.0.2:80 {}"}}"#,
        "é".repeat(pad)
    )
    .into_bytes()
}

/// Short back-off so retries take milliseconds.
fn quick() -> HooksConfig {
    HooksConfig {
        backoff: Backoff {
            first: Duration::from_millis(5),
            cap: Duration::from_millis(20),
        },
        ..HooksConfig::default()
    }
}

fn sh(script: &str, args: &[&str], timeout: Duration) -> Arc<Hook> {
    let mut all = vec!["-c".to_string(), script.to_string(), "sh".to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    // By name: looked up in the hooks' own PATH.
    Arc::new(Hook::exec("sh".into(), all, timeout).unwrap())
}

fn job(id: u64, hook: &Arc<Hook>, payload: &[u8]) -> Job {
    Job {
        id,
        hook: Arc::clone(hook),
        payload: payload.to_vec(),
    }
}

/// Polls until `n` outcomes arrived; fails the test after [`PATIENCE`].
fn wait_for(hooks: &Hooks, n: usize) -> HashMap<u64, HookResult> {
    let start = Instant::now();
    let mut got = Vec::<Outcome>::new();
    while got.len() < n {
        assert!(
            start.elapsed() < PATIENCE,
            "only {} of {n} outcomes: {got:?}",
            got.len()
        );
        got.extend(hooks.outcomes());
        thread::sleep(Duration::from_millis(5));
    }
    got.into_iter().map(|o| (o.id, o.result)).collect()
}

/// Runs one job to its end on fresh workers.
fn run_one(hook: Arc<Hook>, payload: &[u8]) -> HookResult {
    let hooks = Hooks::with_config(quick());
    hooks.submit(job(1, &hook, payload)).unwrap();
    let mut got = wait_for(&hooks, 1);
    hooks.shutdown(Duration::from_secs(1));
    got.remove(&1).unwrap()
}

fn temp(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    (dir, path)
}

fn text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn exec_gets_the_alert_json_on_stdin_byte_exact() {
    let (_dir, out) = temp("stdin");
    let payload = alert_json(50_000);
    let hook = sh(
        r#"cat > "$1""#,
        &[out.to_str().unwrap()],
        Duration::from_secs(30),
    );
    let result = run_one(hook, &payload);
    assert!(
        matches!(result, HookResult::Ran { code: Some(0), .. }),
        "{result:?}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), payload);
}

#[test]
fn exec_runs_with_path_and_the_alert_kind_only() {
    let (_dir, out) = temp("env");
    let hook = sh(
        r#"env > "$1"; pwd >> "$1""#,
        &[out.to_str().unwrap()],
        Duration::from_secs(30),
    );
    let result = run_one(hook, &alert_json(0));
    assert!(result.succeeded(), "{result:?}");
    let env = text(&out);
    let lines: Vec<&str> = env.lines().collect();
    assert!(
        lines.contains(&format!("PATH={HOOK_PATH}").as_str()),
        "{env}"
    );
    assert!(lines.contains(&"WIREWATCH_ALERT_KIND=syn_flood"), "{env}");
    assert!(lines.contains(&"WIREWATCH_ALERT_SEVERITY=high"), "{env}");
    assert_eq!(lines.last(), Some(&"/"), "runs in /: {env}");
    // Nothing of ours leaks (cargo sets CARGO_* for this test process);
    // only what the shell adds itself besides ours.
    let shell_own = ["PWD", "OLDPWD", "SHLVL", "_"];
    for line in &lines[..lines.len() - 1] {
        let name = line.split('=').next().unwrap();
        assert!(
            name.starts_with("WIREWATCH_ALERT_") || name == "PATH" || shell_own.contains(&name),
            "{line} in the hook's environment"
        );
    }
}

#[test]
fn exit_codes_and_the_last_stderr_line_are_recorded() {
    // `true` reads nothing: feeding it 100 KB ends in a broken pipe, which
    // must neither fail the hook nor kill us.
    let ok = run_one(
        sh("true", &[], Duration::from_secs(30)),
        &alert_json(100_000),
    );
    assert!(
        matches!(ok, HookResult::Ran { code: Some(0), .. }),
        "{ok:?}"
    );
    let script = "cat > /dev/null; echo first >&2; echo 'it broke' >&2; echo >&2; exit 3";
    match run_one(sh(script, &[], Duration::from_secs(30)), b"{}") {
        HookResult::Ran {
            code, stderr_tail, ..
        } => {
            assert_eq!(code, Some(3));
            assert_eq!(stderr_tail, "it broke");
        }
        other => panic!("{other:?}"),
    }
    let killed = run_one(sh("kill -9 $$", &[], Duration::from_secs(30)), b"{}");
    assert!(
        matches!(killed, HookResult::Ran { code: None, .. }),
        "{killed:?}"
    );
    assert!(killed.describe().starts_with("killed by a signal after "));
}

#[test]
fn a_program_that_cannot_start_fails_in_one_line() {
    let hook =
        Arc::new(Hook::exec("/nonexistent/notify".into(), vec![], Duration::from_secs(5)).unwrap());
    match run_one(hook, b"{}") {
        HookResult::Failed { reason, attempts } => {
            assert_eq!(attempts, 1);
            assert!(
                reason.starts_with("cannot run /nonexistent/notify: "),
                "{reason}"
            );
            assert!(!reason.contains('\n'));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_program_past_its_timeout_is_killed_and_reaped() {
    let (_dir, pid_file) = temp("pid");
    let timeout = Duration::from_millis(300);
    let hook = sh(
        r#"echo $$ > "$1"; exec sleep 30"#,
        &[pid_file.to_str().unwrap()],
        timeout,
    );
    let result = run_one(hook, b"{}");
    let HookResult::TimedOut { elapsed } = result else {
        panic!("{result:?}")
    };
    // Killed at its timeout, long before `sleep 30` would have ended.
    assert!(
        elapsed >= timeout && elapsed < Duration::from_secs(15),
        "{elapsed:?}"
    );
    // Reaped: no zombie left under our process.
    let pid = text(&pid_file).trim().to_string();
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} is still there"
    );
}

#[test]
fn no_more_programs_run_at_once_than_the_exec_workers() {
    let (_dir, log) = temp("log");
    let hooks = Hooks::with_config(HooksConfig {
        exec_workers: 2,
        ..quick()
    });
    let hook = sh(
        r#"echo + >> "$1"; sleep 0.2; echo - >> "$1""#,
        &[log.to_str().unwrap()],
        Duration::from_secs(30),
    );
    for id in 0..6 {
        hooks.submit(job(id, &hook, b"{}")).unwrap();
    }
    let done = wait_for(&hooks, 6);
    assert!(done.values().all(HookResult::succeeded), "{done:?}");
    let log = text(&log);
    let mut running = 0i32;
    let mut most = 0;
    for line in log.lines() {
        running += if line == "+" { 1 } else { -1 };
        most = most.max(running);
    }
    assert_eq!(log.lines().count(), 12, "{log}");
    assert!(most <= 2, "{most} ran at once: {log}");
    hooks.shutdown(Duration::from_secs(1));
}

#[test]
fn unread_outcomes_are_bounded_and_counted() {
    let hooks = Hooks::with_config(HooksConfig {
        outcomes: 2,
        ..quick()
    });
    let hook = sh("true", &[], Duration::from_secs(30));
    for id in 0..5 {
        hooks.submit(job(id, &hook, b"{}")).unwrap();
    }
    let start = Instant::now();
    while hooks.outcomes_dropped() < 3 {
        assert!(
            start.elapsed() < PATIENCE,
            "{} dropped",
            hooks.outcomes_dropped()
        );
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(hooks.outcomes().len(), 2);
    assert_eq!(hooks.outcomes_dropped(), 3);
}

#[test]
fn shutdown_kills_what_runs_and_does_not_start_what_waits() {
    let hooks = Hooks::with_config(HooksConfig {
        exec_workers: 1,
        ..quick()
    });
    let (_dir, started) = temp("started");
    let hook = sh(
        r#"touch "$1"; exec sleep 30"#,
        &[started.to_str().unwrap()],
        Duration::from_secs(60),
    );
    for id in 0..3 {
        hooks.submit(job(id, &hook, b"{}")).unwrap();
    }
    let start = Instant::now();
    while !started.exists() {
        assert!(
            start.elapsed() < PATIENCE,
            "the first program never started"
        );
        thread::sleep(Duration::from_millis(5));
    }
    let done: HashMap<u64, HookResult> = hooks
        .shutdown(Duration::from_millis(100))
        .into_iter()
        .map(|o| (o.id, o.result))
        .collect();
    let described: Vec<String> = (0..3).map(|id| done[&id].describe()).collect();
    assert!(
        described[0].starts_with("failed after 1 attempt: killed after "),
        "{described:?}"
    );
    assert!(
        described[0].ends_with(" ms: wirewatch was stopping"),
        "{described:?}"
    );
    assert_eq!(described[1], "not run: wirewatch was stopping");
    assert_eq!(described[2], "not run: wirewatch was stopping");
}

/// One request as the test server read it.
#[derive(Debug)]
struct Request {
    line: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// An HTTP server on 127.0.0.1 answering with `statuses` in turn (the last
/// one again after that); every request it read comes out of the receiver.
fn server(statuses: &[u16]) -> (u16, Receiver<Request>) {
    server_with(statuses, Some)
}

/// [`server`] over what `wrap` makes of each connection (TLS, say); a
/// connection it gives up on is not answered.
fn server_with<S: Read + Write>(
    statuses: &[u16],
    wrap: impl Fn(TcpStream) -> Option<S> + Send + 'static,
) -> (u16, Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let statuses = statuses.to_vec();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let status = statuses[n.min(statuses.len() - 1)];
            let conn = conn.unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let Some(Ok(request)) = wrap(conn).map(|mut c| answer(&mut c, status)) else {
                continue;
            };
            if tx.send(request).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

/// Reads one request and answers it with `status`.
fn answer(conn: &mut impl ReadWrite, status: u16) -> std::io::Result<Request> {
    let request = read_request(&mut BufReader::new(&mut *conn))?;
    write!(
        conn,
        "HTTP/1.1 {status} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    conn.flush()?;
    Ok(request)
}

/// Both halves of a connection.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn read_request(reader: &mut impl BufRead) -> std::io::Result<Request> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let Some((k, v)) = h.trim_end().split_once(": ") else {
            break;
        };
        headers.insert(k.to_ascii_lowercase(), v.to_string());
    }
    let len = headers
        .get("content-length")
        .map_or(0, |l| l.parse().unwrap());
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok(Request {
        line: line.trim_end().to_string(),
        headers,
        body,
    })
}

fn webhook(url: &str, retries: u32, timeout: Duration) -> Arc<Hook> {
    let headers = vec![("Authorization".to_string(), "Bearer s3cret".to_string())];
    Arc::new(Hook::webhook(url, timeout, retries, headers, None).unwrap())
}

#[test]
fn the_webhook_posts_the_exact_alert_json_with_its_headers() {
    let (port, requests) = server(&[200]);
    let payload = alert_json(3_000);
    let url = format!("http://127.0.0.1:{port}/alerts?from=wirewatch");
    let result = run_one(webhook(&url, 0, Duration::from_secs(30)), &payload);
    assert!(
        matches!(
            result,
            HookResult::Sent {
                status: 200,
                attempts: 1,
                ..
            }
        ),
        "{result:?}"
    );
    let got = requests.recv_timeout(PATIENCE).unwrap();
    assert_eq!(got.line, "POST /alerts?from=wirewatch HTTP/1.1");
    assert_eq!(got.body, payload);
    let h = |name: &str| got.headers.get(name).map(String::as_str);
    assert_eq!(h("host"), Some(format!("127.0.0.1:{port}").as_str()));
    assert_eq!(h("content-type"), Some("application/json"));
    assert_eq!(
        h("content-length"),
        Some(payload.len().to_string().as_str())
    );
    assert_eq!(
        h("user-agent"),
        Some(concat!("wirewatch/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(h("authorization"), Some("Bearer s3cret"));
}

#[test]
fn server_errors_and_rate_limits_are_retried_other_answers_are_final() {
    let cases: [(&[u16], &str, usize); 6] = [
        (&[500, 200], "HTTP 200 after 2 attempts", 2),
        (&[429, 503, 204], "HTTP 204 after 3 attempts", 3),
        (&[404], "failed after 1 attempt: HTTP 404", 1),
        (&[401, 200], "failed after 1 attempt: HTTP 401", 1),
        (
            &[302, 200],
            "failed after 1 attempt: HTTP 302: redirects are not followed",
            1,
        ),
        (&[502], "failed after 4 attempts: HTTP 502", 4),
    ];
    for (statuses, want, requests_seen) in cases {
        let (port, requests) = server(statuses);
        let url = format!("http://127.0.0.1:{port}/");
        let result = run_one(webhook(&url, 3, Duration::from_secs(30)), b"{\"n\":1}");
        assert!(
            result.describe().starts_with(want),
            "{statuses:?}: {}",
            result.describe()
        );
        let seen: Vec<Request> = requests.try_iter().collect();
        assert_eq!(seen.len(), requests_seen, "{statuses:?}");
        assert!(seen.iter().all(|r| r.body == b"{\"n\":1}"), "{statuses:?}");
    }
}

/// A port where nothing listens (bound, then let go).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_refused_webhook_fails_after_its_retries() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let result = run_one(webhook(&url, 2, Duration::from_secs(30)), b"{}");
    assert_eq!(
        result,
        HookResult::Failed {
            reason: "connection refused".into(),
            attempts: 3
        }
    );
}

#[test]
fn a_webhook_that_never_answers_times_out_after_its_retries() {
    // Connections complete in the listen backlog and are never answered.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let result = run_one(webhook(&url, 1, Duration::from_millis(200)), b"{}");
    assert_eq!(
        result,
        HookResult::Failed {
            reason: "timed out".into(),
            attempts: 2
        }
    );
}

#[test]
fn a_dead_webhook_fills_its_own_queue_and_exec_goes_on() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let dead = webhook(&url, 5, Duration::from_secs(30));
    let hooks = Hooks::with_config(HooksConfig {
        queue: 16,
        ..quick()
    });
    let mut accepted = 0;
    for id in 0..10_000 {
        match hooks.submit(job(id, &dead, b"{}")) {
            Ok(()) => accepted += 1,
            Err(back) => assert_eq!(back.id, id),
        }
    }
    // The queue's 16, and at most one the worker took: every other submit
    // returned at once with its job, counted.
    assert!((16..=17).contains(&accepted), "{accepted} accepted");
    assert_eq!(hooks.dropped(), 10_000 - accepted);
    // Meanwhile exec has its own queue and workers.
    let (_dir, out) = temp("exec");
    let exec = sh(
        r#"cat > "$1""#,
        &[out.to_str().unwrap()],
        Duration::from_secs(30),
    );
    hooks.submit(job(20_000, &exec, b"{\"exec\":1}")).unwrap();
    let done = wait_for(&hooks, 1);
    assert!(done[&20_000].succeeded(), "{done:?}");
    assert_eq!(text(&out), "{\"exec\":1}");
    // At the end, every accepted webhook job has its one outcome.
    let last = hooks.shutdown(Duration::from_millis(100));
    assert_eq!(last.len() as u64, accepted, "{last:?}");
    assert!(last.iter().all(|o| !o.result.succeeded()), "{last:?}");
}

/// A certificate for `localhost`, signed by itself, and its PEM file.
fn localhost_certificate(dir: &Path, name: &str) -> (rcgen::CertifiedKey<rcgen::KeyPair>, PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let pem = dir.join(name);
    std::fs::write(&pem, ck.cert.pem()).unwrap();
    (ck, pem)
}

/// [`server`] over TLS with `ck`'s certificate.
fn tls_server(
    ck: &rcgen::CertifiedKey<rcgen::KeyPair>,
    statuses: &[u16],
) -> (u16, Receiver<Request>) {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    let config = Arc::new(config);
    server_with(statuses, move |tcp| {
        let conn = rustls::ServerConnection::new(Arc::clone(&config)).ok()?;
        Some(rustls::StreamOwned::new(conn, tcp))
    })
}

/// Refused by TLS at the first attempt, not retried.
fn refused(why: &str) -> HookResult {
    HookResult::Failed {
        reason: format!("TLS: invalid peer certificate: {why}"),
        attempts: 1,
    }
}

fn https_hook(port: u16, ca_file: Option<&Path>) -> Arc<Hook> {
    let url = format!("https://localhost:{port}/tls");
    let hook = Hook::webhook(&url, Duration::from_secs(30), 3, vec![], ca_file).unwrap();
    Arc::new(hook)
}

#[test]
fn an_https_webhook_trusting_its_ca_file_posts_the_alert_json() {
    let dir = tempfile::tempdir().unwrap();
    let (ck, pem) = localhost_certificate(dir.path(), "receiver.pem");
    let (port, requests) = tls_server(&ck, &[201]);
    let payload = alert_json(100);
    let result = run_one(https_hook(port, Some(&pem)), &payload);
    assert!(
        matches!(
            result,
            HookResult::Sent {
                status: 201,
                attempts: 1,
                ..
            }
        ),
        "{result:?}"
    );
    let got = requests.recv_timeout(PATIENCE).unwrap();
    assert_eq!(got.line, "POST /tls HTTP/1.1");
    assert_eq!(
        got.headers.get("host").map(String::as_str),
        Some(format!("localhost:{port}").as_str())
    );
    assert_eq!(got.body, payload);
}

#[test]
fn an_untrusted_certificate_fails_at_once_without_sending() {
    let dir = tempfile::tempdir().unwrap();
    let (ck, _) = localhost_certificate(dir.path(), "receiver.pem");
    let (_, other_ca) = localhost_certificate(dir.path(), "other.pem");
    let (port, requests) = tls_server(&ck, &[200]);
    // Same subject, another key: the signature does not check out.
    let other = run_one(https_hook(port, Some(&other_ca)), b"{}");
    assert_eq!(other, refused("BadSignature"));
    // The system's store does not know a self-signed certificate either;
    // without a store at all, that is the reason.
    let system = run_one(https_hook(port, None), b"{}");
    if rustls_native_certs::load_native_certs().certs.is_empty() {
        let none = "no CA certificates in the system's store (install ca-certificates)";
        assert_eq!(
            system,
            HookResult::Failed {
                reason: none.into(),
                attempts: 1
            }
        );
    } else {
        assert_eq!(system, refused("UnknownIssuer"));
    }
    assert_eq!(
        requests.try_iter().count(),
        0,
        "an alert went to an untrusted server"
    );
}

#[test]
fn a_ca_file_is_read_at_config_time_and_only_for_https() {
    let dir = tempfile::tempdir().unwrap();
    let (_, pem) = localhost_certificate(dir.path(), "ca.pem");
    let hook =
        |url: &str, ca: &Path| Hook::webhook(url, Duration::from_secs(1), 0, vec![], Some(ca));
    assert!(hook("https://h/", &pem).is_ok());
    let plain = hook("http://h/", &pem).unwrap_err();
    assert_eq!(plain.to_string(), "ca-file is for https:// webhooks only");
    let missing = dir.path().join("missing.pem");
    let e = hook("https://h/", &missing).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("ca-file {}: ", missing.display())),
        "{e}"
    );
}

#[test]
fn a_url_that_keeps_failing_is_paused_and_the_others_still_get_theirs() {
    let dead = webhook(
        &format!("http://127.0.0.1:{}/", closed_port()),
        0,
        Duration::from_secs(30),
    );
    let (port, requests) = server(&[200]);
    let alive = webhook(
        &format!("http://127.0.0.1:{port}/"),
        0,
        Duration::from_secs(30),
    );
    let hooks = Hooks::with_config(quick());
    for id in 0..5 {
        hooks.submit(job(id, &dead, b"{}")).unwrap();
    }
    hooks.submit(job(5, &alive, b"{}")).unwrap();
    let got = wait_for(&hooks, 6);
    hooks.shutdown(Duration::from_secs(1));
    for id in 0..3 {
        assert_eq!(
            got[&id].describe(),
            "failed after 1 attempt: connection refused"
        );
    }
    for id in 3..5 {
        let d = got[&id].describe();
        assert!(
            d.starts_with("not run: not sent: the last 3 deliveries to this URL failed"),
            "{d}"
        );
    }
    assert!(got[&5].succeeded(), "{:?}", got[&5]);
    assert!(requests.recv_timeout(Duration::from_secs(5)).is_ok());
}
