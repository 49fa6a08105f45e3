//! `--web` and `serve`: the HTTP API and /metrics over real loopback
//! sockets, against a replay of `samples/demo.pcapng` that keeps serving
//! after the file ends.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wirewatch_testkit::{http_get, require, tool, workspace_root, HttpAnswer};

pub(crate) fn demo() -> String {
    workspace_root()
        .join("samples/demo.pcapng")
        .display()
        .to_string()
}

/// A `wirewatch -r demo --web …` process that serves.
pub(crate) struct Served {
    child: Child,
    pub(crate) addr: SocketAddr,
    /// The thread draining stderr (taken by [`Served::stop`]).
    stderr: Option<std::thread::JoinHandle<String>>,
    /// What it printed on stderr before it served.
    pub(crate) before: String,
}

impl Served {
    /// Starts it with `--web ADDR` and `extra` arguments and reads the
    /// port from stderr.
    pub(crate) fn start(web: &str, extra: &[&str]) -> Served {
        let mut args = vec!["--web", web];
        args.extend_from_slice(extra);
        Served::start_with(&args)
    }

    /// Starts `wirewatch -r demo --format json ARGS` and waits until the
    /// replay ended.
    fn start_with(args: &[&str]) -> Served {
        Served::start_env(&[], args)
    }

    /// Starts `wirewatch -r demo --format json ARGS` with `env` set and
    /// waits until the replay ended.
    pub(crate) fn start_env(env: &[(&str, &str)], args: &[&str]) -> Served {
        let served = Served::spawn(env, args);
        served.wait_ended(&[]);
        served
    }

    /// Starts `wirewatch -r demo --format json -n ARGS` with `env` set;
    /// returns once it listens. Without host names (`-n`): looking up the
    /// capture's addresses would ask the machine's DNS servers.
    pub(crate) fn spawn(env: &[(&str, &str)], args: &[&str]) -> Served {
        Served::spawn_file(&demo(), env, args)
    }

    /// Starts `wirewatch -r FILE --format json -n ARGS` with `env` set;
    /// returns once it listens.
    pub(crate) fn spawn_file(file: &str, env: &[(&str, &str)], args: &[&str]) -> Served {
        let bin = Command::new(assert_cmd::cargo::cargo_bin("wirewatch"));
        Served::spawn_in(bin, file, env, &[&["-n"], args].concat())
    }

    /// `-r FILE --format json ARGS` through `cmd`: the binary, or a command
    /// that runs it with the arguments that follow (names are not turned
    /// off).
    pub(crate) fn spawn_in(
        mut cmd: Command,
        file: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Served {
        let mut child = cmd
            .envs(env.iter().copied())
            .args(["-r", file, "--format", "json"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let mut before = String::new();
        let port = loop {
            line.clear();
            let read = err.read_line(&mut line).unwrap();
            assert!(read > 0, "no 'serving' line; stderr: {before}");
            if let Some(rest) = line.trim().strip_prefix("wirewatch: serving http://") {
                let a: SocketAddr = rest.parse().unwrap();
                break a.port();
            }
            before.push_str(&line);
        };
        // The rest of stderr is drained so that the child never blocks on it.
        let stderr = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
            rest
        });
        Served {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            stderr: Some(stderr),
            before,
        }
    }

    pub(crate) fn get(&self, path: &str, headers: &[&str]) -> HttpAnswer {
        http_get(self.addr, path, headers).unwrap()
    }

    /// Waits until the replay ended and its final snapshot is published.
    pub(crate) fn wait_ended(&self, headers: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let a = self.get("/api/v1/interfaces", headers);
            if a.status == 401 || a.body.contains("\"state\":\"ended\"") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the replay did not end within 60 s");
    }

    /// SIGTERM; the process must exit 0.
    pub(crate) fn stop(mut self) -> String {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: a plain kill(2) of our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let st = self.child.wait().unwrap();
        let err = self
            .stderr
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        assert_eq!(st.code(), Some(0), "stderr: {err}");
        err
    }
}

/// A test that fails before [`Served::stop`] must not leave the server
/// running (a replay with `--web` serves until a signal).
impl Drop for Served {
    fn drop(&mut self) {
        if self.stderr.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) fn json(a: &HttpAnswer) -> Value {
    serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{e}: {}", a.body))
}

/// The final report of `-r demo --format json` with `args`.
pub(crate) fn final_report(args: &[&str]) -> Value {
    let out = Command::new(assert_cmd::cargo::cargo_bin("wirewatch"))
        .args(["-r", &demo(), "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["type"] == "final")
        .expect("a final report")
}

/// (src, dst, bytes both ways) of the first `n` entries.
fn firsts(v: &Value, n: usize) -> Vec<(Value, Value, Value, Value)> {
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .take(n)
        .map(|e| {
            (
                e["src"].clone(),
                e["dst"].clone(),
                e["src_to_dst"]["bytes"].clone(),
                e["dst_to_src"]["bytes"].clone(),
            )
        })
        .collect()
}

#[test]
fn top_gives_the_numbers_of_the_json_report() {
    let s = Served::start("127.0.0.1:0", &[]);
    for (by, window, view, sort) in [("host", "40s", "src", "40s"), ("pair", "2s", "pair", "2s")] {
        let a = s.get(&format!("/api/v1/top?by={by}&window={window}&limit=5"), &[]);
        assert_eq!(a.status, 200, "{}", a.body);
        let api = json(&a);
        assert_eq!(api["entries"].as_array().unwrap().len(), 5, "{api}");
        let report = final_report(&["--view", view, "-o", sort]);
        assert_eq!(
            firsts(&api, 5),
            firsts(&report, 5),
            "by={by} window={window}"
        );
        assert_eq!(api["totals"], report["totals"]);
        assert!(api["entries"][0]["src"].is_string(), "{api}");
    }
    let ifaces = json(&s.get("/api/v1/interfaces", &[]));
    assert_eq!(ifaces["interfaces"][0]["name"], "demo.pcapng", "{ifaces}");
    let total = ifaces["interfaces"][0]["receive_bytes"].as_u64().unwrap()
        + ifaces["interfaces"][0]["transmit_bytes"].as_u64().unwrap();
    let report = final_report(&[]);
    assert_eq!(
        Some(total),
        report["totals"]["cumulative_bytes"][2].as_u64()
    );
    s.stop();
}

#[test]
fn bad_parameters_are_400_with_a_message_and_unknown_paths_404() {
    let s = Served::start("127.0.0.1:0", &[]);
    for (query, names) in [
        (
            "by=planet",
            "'by' (possible values: pair, host, process, port)",
        ),
        ("window=3s", "'window' (possible values: 2s, 10s, 40s)"),
        ("limit=0", "'limit' (a whole number from 1 to 100)"),
        ("limit=1000", "'limit'"),
    ] {
        let a = s.get(&format!("/api/v1/top?{query}"), &[]);
        assert_eq!(a.status, 400, "{query}: {}", a.body);
        let msg = json(&a)["error"].as_str().unwrap().to_string();
        assert!(msg.contains(names) && !msg.contains('\n'), "{query}: {msg}");
    }
    let a = s.get("/api/v2/nothing", &[]);
    assert_eq!((a.status, json(&a)["error"].is_string()), (404, true));
    // Read-only: GET and HEAD (same head, no body); nothing else.
    let a = wirewatch_testkit::http_request(s.addr, "POST", "/api/v1/top", &[]).unwrap();
    assert_eq!(a.status, 405, "{}", a.body);
    assert!(a
        .headers
        .iter()
        .any(|(k, v)| k == "allow" && v == "GET, HEAD"));
    let get = s.get("/api/v1/interfaces", &[]);
    let head = wirewatch_testkit::http_request(s.addr, "HEAD", "/api/v1/interfaces", &[]).unwrap();
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    let length = |a: &HttpAnswer| {
        a.headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .cloned()
    };
    assert_eq!(length(&head), length(&get));
    assert_eq!(length(&get).unwrap().1, get.body.len().to_string());
    s.stop();
}

#[test]
fn metrics_pass_promtool_and_each_series_appears_once() {
    let promtool = require!(tool("promtool"));
    // With history: its writer's families carry numbers; with --tcp: the
    // TCP families, the handshake RTT histogram among them.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let s = Served::start("127.0.0.1:0", &["--db", db.to_str().unwrap(), "--tcp"]);
    let a = s.get("/metrics", &[]);
    s.stop();
    assert_eq!(a.status, 200);
    let ct = a.headers.iter().find(|(k, _)| k == "content-type").unwrap();
    assert_eq!(ct.1, "text/plain; version=0.0.4; charset=utf-8");
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(a.body.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        a.body
    );
    let series: Vec<&str> = a
        .body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').map(|(s, _)| s))
        .collect();
    let mut unique = series.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), series.len(), "{}", a.body);
    for want in [
        "wirewatch_interface_receive_bytes_total{interface=\"demo.pcapng\"}",
        "wirewatch_flows_active",
        "wirewatch_decode_errors_total{reason=",
        "wirewatch_alerts_total{kind=\"syn_flood\",severity=\"high\"} 1",
        "wirewatch_build_info{version=",
        "wirewatch_history_queue_rows 0\n",
        "wirewatch_host_transmit_bytes_total{host=\"other\"}",
        "wirewatch_process_receive_bytes_total{process=\"other\"}",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "# TYPE wirewatch_tcp_handshake_rtt_seconds histogram\n",
        "wirewatch_tcp_handshake_rtt_seconds_bucket{le=\"+Inf\"} ",
        "wirewatch_tcp_handshake_rtt_seconds_count ",
        "# TYPE wirewatch_tcp_rtt_seconds histogram\n",
    ] {
        assert!(a.body.contains(want), "{want}:\n{}", a.body);
    }
}

/// Runs `wirewatch -r demo ARGS`, expecting exit 2 and one line on stderr.
pub(crate) fn refused(args: &[&str]) -> String {
    let out = Command::new(assert_cmd::cargo::cargo_bin("wirewatch"))
        .args(["-r", &demo()])
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty());
    err
}

#[test]
fn off_loopback_without_a_token_and_bad_addresses_refuse_to_start() {
    let err = refused(&["--web", "0.0.0.0:0"]);
    assert!(
        err.contains("needs a token: give --web-token-file"),
        "{err}"
    );
    let err = refused(&["--web", "nowhere"]);
    assert!(err.contains("--web nowhere: not an address"), "{err}");
    let err = refused(&["--web", "127.0.0.1:0", "--web-token-file", "/nonexistent/t"]);
    assert!(err.contains("web token file /nonexistent/t"), "{err}");
}

#[test]
fn a_token_is_checked_when_given() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let s = Served::start("0.0.0.0:0", &["--web-token-file", token.to_str().unwrap()]);
    let good = "Authorization: Bearer s3cret-token";
    s.wait_ended(&[good]);
    for headers in [
        &[][..],
        &["Authorization: Bearer s3cret-tokeN"],
        &["Authorization: s3cret-token"],
    ] {
        let a = s.get("/api/v1/interfaces", headers);
        assert_eq!(a.status, 401, "{headers:?}");
        assert!(a
            .headers
            .iter()
            .any(|(k, v)| k == "www-authenticate" && v == "Bearer"));
    }
    let a = s.get("/metrics", &[good]);
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(s
        .get("/api/v1/top?by=port", &[good])
        .body
        .contains("\"by\":\"port\""));
    s.stop();
}

#[test]
fn serve_takes_its_address_and_token_from_the_web_table() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "from-the-config\n").unwrap();
    let cfg = dir.path().join("config.toml");
    let text = format!(
        "[web]\nlisten = \"0.0.0.0:0\"\ntoken-file = \"{}\"\n",
        token.display()
    );
    std::fs::write(&cfg, text).unwrap();
    let s = Served::start_with(&["--config", cfg.to_str().unwrap(), "serve"]);
    let good = "Authorization: Bearer from-the-config";
    s.wait_ended(&[good]);
    assert_eq!(s.get("/api/v1/interfaces", &[]).status, 401);
    assert_eq!(s.get("/api/v1/interfaces", &[good]).status, 200);
    s.stop();
    // An unknown key in [web] is refused with its place.
    std::fs::write(&cfg, "[web]\nport = 80\n").unwrap();
    let err = refused(&["--config", cfg.to_str().unwrap(), "serve"]);
    assert!(err.contains("port"), "{err}");
}

/// `wirewatch ARGS` (no capture file): its exit status and stderr.
fn plain(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(assert_cmd::cargo::cargo_bin("wirewatch"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn serve_takes_its_own_flags_and_history_does_not_offer_them() {
    // -i, -f and the web flags may follow `serve`…
    let (code, help, _) = plain(&["serve", "--help"]);
    assert_eq!(code, Some(0));
    for flag in [
        "-i <IFACE>",
        "-f <EXPR>",
        "--web <ADDR>",
        "--web-token-file",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
    // …but not the subcommands that read history or files.
    for sub in ["history", "forecast", "eval"] {
        let (code, help, _) = plain(&[sub, "--help"]);
        assert_eq!(code, Some(0));
        for flag in ["-i <IFACE>", "-f <EXPR>", "--web"] {
            assert!(!help.contains(flag), "{sub} offers {flag}");
        }
        let (code, _, err) = plain(&[sub, "--web", "127.0.0.1:0"]);
        assert_eq!(code, Some(2), "{sub}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // One filter, on one side of `serve`.
    let (code, _, err) = plain(&["-f", "udp", "serve", "-f", "tcp"]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err.trim(),
        "wirewatch: error: -f given both before and after serve; try 'wirewatch --help'"
    );
}
