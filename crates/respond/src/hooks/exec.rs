//! The `exec` action: a program (never a shell) with the alert JSON on its
//! stdin, a minimal environment, a time-out that kills and reaps it, its
//! exit code and last stderr line recorded.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use super::stop::Stop;
use super::{Hook, HookResult, STDERR_TAIL_BYTES};

/// The whole `PATH` a hook program gets: the system's directories, never
/// the caller's (wirewatch usually runs as root).
pub const HOOK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long the last stderr line is waited for once the program ended (a
/// child of it may hold stderr open).
const STDERR_GRACE: Duration = Duration::from_millis(200);

/// The longest pause between two looks at whether the program ended.
const POLL_MAX: Duration = Duration::from_millis(20);

/// Runs an exec hook to its end; a webhook is not for this lane.
pub(crate) fn run(hook: &Hook, payload: &[u8], stop: &Stop) -> HookResult {
    match hook {
        Hook::Exec {
            program,
            args,
            timeout,
        } => run_program(program, args, *timeout, payload, stop),
        Hook::Webhook { .. } => HookResult::Failed {
            reason: "a webhook on the exec lane".into(),
            attempts: 0,
        },
    }
}

fn run_program(
    program: &Path,
    args: &[String],
    timeout: Duration,
    payload: &[u8],
    stop: &Stop,
) -> HookResult {
    let start = Instant::now();
    let mut child = match command(program, args, payload).spawn() {
        Ok(c) => c,
        Err(e) => {
            return HookResult::Failed {
                reason: format!("cannot run {}: {e}", program.display()),
                attempts: 1,
            }
        }
    };
    feed(child.stdin.take(), payload.to_vec());
    let tail = last_stderr_line(child.stderr.take());
    match wait_until(&mut child, start + timeout, stop) {
        Some(status) => HookResult::Ran {
            code: status.code(),
            elapsed: start.elapsed(),
            stderr_tail: tail.recv_timeout(STDERR_GRACE).unwrap_or_default(),
        },
        None => {
            // Killed and reaped: no zombie is left behind.
            let _ = child.kill();
            let _ = child.wait();
            if stop.cut(start + timeout) {
                HookResult::Failed {
                    reason: format!(
                        "killed after {} ms: wirewatch was stopping",
                        start.elapsed().as_millis()
                    ),
                    attempts: 1,
                }
            } else {
                HookResult::TimedOut {
                    elapsed: start.elapsed(),
                }
            }
        }
    }
}

/// The command: no shell, stdin piped, stdout discarded, stderr piped,
/// run in `/` with only `PATH` and what the alert says in its environment.
fn command(program: &Path, args: &[String], payload: &[u8]) -> Command {
    let mut c = Command::new(program);
    c.args(args)
        .env_clear()
        .env("PATH", HOOK_PATH)
        .envs(alert_env(payload))
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// `WIREWATCH_ALERT_KIND` and `WIREWATCH_ALERT_SEVERITY` from the alert's
/// top-level `kind` and `severity` strings, when it has them.
pub(crate) fn alert_env(payload: &[u8]) -> Vec<(&'static str, String)> {
    let Ok(serde_json::Value::Object(alert)) = serde_json::from_slice(payload) else {
        return Vec::new();
    };
    [
        ("WIREWATCH_ALERT_KIND", "kind"),
        ("WIREWATCH_ALERT_SEVERITY", "severity"),
    ]
    .into_iter()
    .filter_map(|(var, field)| Some((var, alert.get(field)?.as_str()?.to_string())))
    .collect()
}

/// Writes the payload and closes stdin, on a thread of its own so that a
/// program that never reads cannot stall the worker past its time-out.
fn feed(stdin: Option<ChildStdin>, payload: Vec<u8>) {
    let Some(mut stdin) = stdin else { return };
    let write = move || {
        // A program that exits without reading is no error of ours.
        let _ = stdin.write_all(&payload);
    };
    // Without a thread the program gets an empty stdin: `write` and the
    // pipe in it are dropped, which closes it.
    super::spawn("wirewatch-exec-io", write);
}

/// Reads stderr to its end on a thread of its own (a program must never
/// block on a full pipe), keeping the last non-empty line.
fn last_stderr_line(stderr: Option<ChildStderr>) -> Receiver<String> {
    let (tx, rx) = mpsc::sync_channel(1);
    if let Some(mut stderr) = stderr {
        let read = move || {
            let mut last = LastLine::default();
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                last.push(&buf[..n]);
            }
            let _ = tx.send(last.finish());
        };
        super::spawn("wirewatch-exec-io", read);
    }
    rx
}

/// Waits for the program to end, up to `end` or the shutdown deadline,
/// whichever comes first (a shutdown may begin while it waits); `None` when
/// it is still running then.
fn wait_until(child: &mut Child, end: Instant, stop: &Stop) -> Option<ExitStatus> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let now = Instant::now();
        let end = stop.limit(end);
        if now >= end {
            return None;
        }
        thread::sleep(pause.min(end - now));
        pause = (pause * 2).min(POLL_MAX);
    }
}

/// The last non-empty line of a stream, at most [`STDERR_TAIL_BYTES`]
/// bytes of it, in bounded memory however much is written.
#[derive(Debug, Default)]
pub(crate) struct LastLine {
    current: Vec<u8>,
    last: Vec<u8>,
}

impl LastLine {
    /// More of the stream.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let mut lines = bytes.split(|&b| b == b'\n');
        if let Some(first) = lines.next() {
            self.extend(first);
        }
        for line in lines {
            self.end_line();
            self.extend(line);
        }
    }

    /// The last line, as text with control characters replaced.
    pub(crate) fn finish(mut self) -> String {
        self.end_line();
        String::from_utf8_lossy(&self.last)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .trim()
            .to_string()
    }

    fn extend(&mut self, part: &[u8]) {
        let room = STDERR_TAIL_BYTES - self.current.len();
        self.current
            .extend_from_slice(&part[..part.len().min(room)]);
    }

    fn end_line(&mut self) {
        if self.current.iter().any(|b| !b.is_ascii_whitespace()) {
            std::mem::swap(&mut self.last, &mut self.current);
        }
        self.current.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last(chunks: &[&[u8]]) -> String {
        let mut l = LastLine::default();
        chunks.iter().for_each(|c| l.push(c));
        l.finish()
    }

    #[test]
    fn the_last_non_empty_line_is_kept_across_chunks() {
        assert_eq!(last(&[b"one\ntw", b"o\n\n  \n"]), "two");
        assert_eq!(last(&[b"one\n", b"two"]), "two");
        assert_eq!(last(&[b"a\r\n", b"b\x1b[31m\r\n"]), "b [31m");
        assert_eq!(last(&[]), "");
        assert_eq!(last(&[b"\xff\xfeok\n"]), "\u{fffd}\u{fffd}ok");
    }

    #[test]
    fn a_long_line_is_cut_to_the_bound() {
        let long = vec![b'x'; 10 * STDERR_TAIL_BYTES];
        let mut l = LastLine::default();
        for _ in 0..100 {
            l.push(&long);
        }
        assert!(l.current.len() <= STDERR_TAIL_BYTES);
        assert_eq!(l.finish().len(), STDERR_TAIL_BYTES);
    }

    #[test]
    fn the_alert_kind_and_severity_go_into_the_environment() {
        let env = alert_env(br#"{"kind":"syn_flood","severity":"high","summary":"x"}"#);
        assert_eq!(
            env,
            vec![
                ("WIREWATCH_ALERT_KIND", "syn_flood".to_string()),
                ("WIREWATCH_ALERT_SEVERITY", "high".to_string())
            ]
        );
        assert!(alert_env(b"not json").is_empty());
        assert!(alert_env(br#"{"kind":3}"#).is_empty());
    }
}
