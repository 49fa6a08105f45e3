//! The `exec` and `webhook` actions, run off the packet thread.
//!
//! [`Hooks`] owns worker threads behind bounded queues: a few exec workers
//! (`wirewatch-exec`, at most [`HooksConfig::exec_workers`] programs running
//! at once) and one webhook worker (`wirewatch-webhook`), each lane with its
//! own queue so that a dead webhook never holds exec back. [`Hooks::submit`]
//! never blocks: a full queue drops the job, counts it and hands it back.
//! Every accepted job ends in exactly one [`Outcome`], read with
//! [`Hooks::outcomes`] (a bounded channel too: what overflows is counted).

mod exec;
mod http;
mod stop;
mod tls;
mod url;
mod webhook;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use exec::HOOK_PATH;
pub use tls::CaFile;
pub use url::{HookUrl, UrlError};
pub use webhook::Backoff;

use stop::Stop;

/// One configured response hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hook {
    /// Run a program (never through a shell) with the alert JSON on stdin.
    Exec {
        /// The program, an absolute path or a name looked up in the fixed
        /// `PATH` hooks run with.
        program: PathBuf,
        /// Its arguments, passed as they are.
        args: Vec<String>,
        /// How long it may run before it is killed.
        timeout: Duration,
    },
    /// POST the alert JSON to a URL.
    Webhook {
        /// Where to, parsed at config time.
        url: HookUrl,
        /// The bound on one attempt: connect, send, and the response's
        /// status line.
        timeout: Duration,
        /// Attempts after the first one, on connection errors, time-outs,
        /// 5xx and 429.
        retries: u32,
        /// Extra request headers (`Authorization`, …), checked at config time.
        headers: Vec<(String, String)>,
        /// For https: trust only this CA file, not the system's store.
        ca: Option<CaFile>,
    },
}

/// Why a hook's configuration is refused; one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// The webhook URL.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// A header name that is empty or not an HTTP token.
    #[error("header name '{0}' is not valid (letters, digits and !#$%&'*+-.^_`|~ only)")]
    HeaderName(String),
    /// A header value with a line break or another control character.
    #[error("header '{0}': its value has a line break or control character")]
    HeaderValue(String),
    /// A header wirewatch writes itself.
    #[error("header '{0}' is set by wirewatch and cannot be configured")]
    ReservedHeader(String),
    /// A CA file that cannot be read or holds no certificate.
    #[error("{0}")]
    CaFile(String),
    /// A CA file for a plain http URL.
    #[error("ca-file is for https:// webhooks only")]
    CaFileWithoutTls,
    /// An exec hook with no program.
    #[error("exec: the program is empty")]
    NoProgram,
    /// A zero timeout.
    #[error("the timeout must be more than zero")]
    ZeroTimeout,
}

/// An exec hook's timeout when the config names none.
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(10);
/// A webhook attempt's timeout when the config names none.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// A webhook's retries when the config names none (so 4 attempts at most).
pub const DEFAULT_RETRIES: u32 = 3;

/// Headers the request writer sets itself.
const RESERVED_HEADERS: [&str; 6] = [
    "host",
    "content-length",
    "content-type",
    "connection",
    "transfer-encoding",
    "user-agent",
];

impl Hook {
    /// An exec hook, checked.
    pub fn exec(program: PathBuf, args: Vec<String>, timeout: Duration) -> Result<Hook, HookError> {
        if program.as_os_str().is_empty() {
            return Err(HookError::NoProgram);
        }
        check_timeout(timeout)?;
        Ok(Hook::Exec {
            program,
            args,
            timeout,
        })
    }

    /// A webhook, its URL parsed, its headers checked and its CA file (if
    /// any) read.
    pub fn webhook(
        url: &str,
        timeout: Duration,
        retries: u32,
        headers: Vec<(String, String)>,
        ca_file: Option<&Path>,
    ) -> Result<Hook, HookError> {
        let url = HookUrl::parse(url)?;
        check_timeout(timeout)?;
        headers.iter().try_for_each(check_header)?;
        let ca = match ca_file {
            Some(_) if !url.tls => return Err(HookError::CaFileWithoutTls),
            Some(path) => Some(CaFile::load(path).map_err(HookError::CaFile)?),
            None => None,
        };
        Ok(Hook::Webhook {
            url,
            timeout,
            retries,
            headers,
            ca,
        })
    }

    /// Whether it runs on the webhook lane.
    fn is_webhook(&self) -> bool {
        matches!(self, Hook::Webhook { .. })
    }
}

impl fmt::Display for Hook {
    /// `exec /usr/local/bin/notify` or `webhook https://hooks.example/x`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hook::Exec { program, .. } => write!(f, "exec {}", program.display()),
            Hook::Webhook { url, .. } => write!(f, "webhook {url}"),
        }
    }
}

fn check_timeout(t: Duration) -> Result<(), HookError> {
    if t.is_zero() {
        return Err(HookError::ZeroTimeout);
    }
    Ok(())
}

/// A header name must be an HTTP token, its value free of control
/// characters (no header injection), and not one wirewatch writes.
fn check_header((name, value): &(String, String)) -> Result<(), HookError> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(HookError::HeaderName(name.clone()));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(HookError::ReservedHeader(name.clone()));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(HookError::HeaderValue(name.clone()));
    }
    Ok(())
}

/// One alert to hand to one hook.
#[derive(Clone, Debug)]
pub struct Job {
    /// The caller's id for it, echoed in its [`Outcome`].
    pub id: u64,
    /// What to run.
    pub hook: Arc<Hook>,
    /// The alert JSON: the program's stdin, the request's body.
    pub payload: Vec<u8>,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookResult {
    /// The program exited.
    Ran {
        /// Its exit code; `None` when a signal ended it.
        code: Option<i32>,
        /// From start to exit.
        elapsed: Duration,
        /// The last non-empty line it wrote on stderr, at most
        /// [`STDERR_TAIL_BYTES`] bytes.
        stderr_tail: String,
    },
    /// The program outlived its timeout and was killed (and reaped).
    TimedOut {
        /// From start to kill.
        elapsed: Duration,
    },
    /// The webhook answered 2xx.
    Sent {
        /// The HTTP status.
        status: u16,
        /// Attempts it took, the first one included.
        attempts: u32,
        /// From the first attempt to the answer, back-off included.
        elapsed: Duration,
    },
    /// It could not run or was not delivered.
    Failed {
        /// Why, one line: the last attempt's error.
        reason: String,
        /// Attempts made (0: not run at all).
        attempts: u32,
    },
}

/// The most of a program's last stderr line kept.
pub const STDERR_TAIL_BYTES: usize = 512;

impl HookResult {
    /// One line for the audit and the screen: `exit 0 in 12 ms`,
    /// `HTTP 200 after 2 attempts in 1.2 s`, `timed out after 5 s (killed)`,
    /// `failed after 3 attempts: connection refused`.
    pub fn describe(&self) -> String {
        match self {
            HookResult::Ran { code, elapsed, .. } => match code {
                Some(c) => format!("exit {c} in {}", short(*elapsed)),
                None => format!("killed by a signal after {}", short(*elapsed)),
            },
            HookResult::TimedOut { elapsed } => {
                format!("timed out after {} (killed)", short(*elapsed))
            }
            HookResult::Sent {
                status,
                attempts,
                elapsed,
            } => format!(
                "HTTP {status} after {} in {}",
                plural(*attempts, "attempt"),
                short(*elapsed)
            ),
            HookResult::Failed {
                reason,
                attempts: 0,
            } => format!("not run: {reason}"),
            HookResult::Failed { reason, attempts } => {
                format!("failed after {}: {reason}", plural(*attempts, "attempt"))
            }
        }
    }

    /// Whether the hook did what it was for: exit 0 or a 2xx answer.
    pub fn succeeded(&self) -> bool {
        matches!(
            self,
            HookResult::Ran { code: Some(0), .. } | HookResult::Sent { .. }
        )
    }
}

/// `12 ms`, `1.2 s`, `5 s`, `40 s`.
fn short(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{} ms", d.as_millis())
    } else if s < 10.0 && (s * 10.0).round() % 10.0 != 0.0 {
        format!("{s:.1} s")
    } else {
        format!("{} s", s.round() as u64)
    }
}

fn plural(n: u32, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A finished job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The job's id.
    pub id: u64,
    /// How it ended.
    pub result: HookResult,
}

/// Sizes and pacing of [`Hooks`].
#[derive(Clone, Debug)]
pub struct HooksConfig {
    /// Jobs waiting per lane (exec, webhook) before new ones are dropped.
    pub queue: usize,
    /// Exec programs running at once (one worker thread each).
    pub exec_workers: usize,
    /// Finished jobs held until [`Hooks::outcomes`] reads them.
    pub outcomes: usize,
    /// The wait between webhook attempts.
    pub backoff: Backoff,
}

impl Default for HooksConfig {
    fn default() -> Self {
        HooksConfig {
            queue: 256,
            exec_workers: 4,
            outcomes: 1024,
            backoff: Backoff::default(),
        }
    }
}

/// Counters shared by the workers and the owner.
#[derive(Debug, Default)]
struct Counters {
    dropped: AtomicU64,
    outcomes_dropped: AtomicU64,
}

/// What every worker holds: where outcomes go, the stop signal, counters.
#[derive(Clone, Debug)]
struct Lane {
    outcomes: SyncSender<Outcome>,
    stop: Arc<Stop>,
    counters: Arc<Counters>,
}

impl Lane {
    /// Runs queued jobs until the queue is closed and empty; after the
    /// shutdown deadline the rest end as "not run".
    fn work(&self, next: impl Fn() -> Option<Job>, run: impl Fn(&Hook, &[u8]) -> HookResult) {
        while let Some(job) = next() {
            let result = if self.stop.is_past() {
                HookResult::Failed {
                    reason: "wirewatch was stopping".into(),
                    attempts: 0,
                }
            } else {
                run(&job.hook, &job.payload)
            };
            self.report(Outcome { id: job.id, result });
        }
    }

    fn report(&self, o: Outcome) {
        if self.outcomes.try_send(o).is_err() {
            self.counters
                .outcomes_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The hook workers and their queues. End them with [`Hooks::shutdown`]:
/// dropped instead, its workers finish what is queued in the background,
/// with no deadline and nobody to read the outcomes.
#[derive(Debug)]
pub struct Hooks {
    exec: SyncSender<Job>,
    webhook: SyncSender<Job>,
    outcomes: Receiver<Outcome>,
    stop: Arc<Stop>,
    counters: Arc<Counters>,
    threads: Vec<JoinHandle<()>>,
}

impl Hooks {
    /// Workers with the default sizes and a queue of `queue` jobs per lane.
    pub fn start(queue: usize) -> Hooks {
        Hooks::with_config(HooksConfig {
            queue,
            ..HooksConfig::default()
        })
    }

    /// Workers as configured (at least one exec worker, a queue of one).
    pub fn with_config(c: HooksConfig) -> Hooks {
        let (out_tx, outcomes) = mpsc::sync_channel(c.outcomes.max(1));
        let lane = Lane {
            outcomes: out_tx,
            stop: Arc::new(Stop::default()),
            counters: Arc::new(Counters::default()),
        };
        let (exec, exec_rx) = mpsc::sync_channel::<Job>(c.queue.max(1));
        let exec_rx = Arc::new(Mutex::new(exec_rx));
        let mut threads = Vec::new();
        for _ in 0..c.exec_workers.max(1) {
            let (lane, rx) = (lane.clone(), Arc::clone(&exec_rx));
            let next = move || rx.lock().unwrap_or_else(|e| e.into_inner()).recv().ok();
            threads.extend(spawn("wirewatch-exec", move || {
                lane.work(next, |hook, payload| exec::run(hook, payload, &lane.stop))
            }));
        }
        let (webhook, web_rx) = mpsc::sync_channel::<Job>(c.queue.max(1));
        let web_lane = lane.clone();
        threads.extend(spawn("wirewatch-webhook", move || {
            let tls = tls::Tls::default();
            let breaker = std::cell::RefCell::new(webhook::Breaker::default());
            let run = |hook: &Hook, payload: &[u8]| {
                let mut b = breaker.borrow_mut();
                webhook::deliver_guarded(&mut b, hook, payload, &c.backoff, &tls, &web_lane.stop)
            };
            web_lane.work(|| web_rx.recv().ok(), run)
        }));
        Hooks {
            exec,
            webhook,
            outcomes,
            stop: lane.stop,
            counters: lane.counters,
            threads,
        }
    }

    /// Queues a job on its lane without blocking; a full queue drops it,
    /// counts it, and gives it back.
    pub fn submit(&self, job: Job) -> Result<(), Job> {
        let lane = if job.hook.is_webhook() {
            &self.webhook
        } else {
            &self.exec
        };
        lane.try_send(job).map_err(|e| {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            match e {
                TrySendError::Full(j) | TrySendError::Disconnected(j) => j,
            }
        })
    }

    /// The jobs finished since the last call, without waiting.
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.outcomes.try_iter().collect()
    }

    /// Jobs refused by a full queue.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Outcomes lost because nobody read them and their channel was full.
    pub fn outcomes_dropped(&self) -> u64 {
        self.counters.outcomes_dropped.load(Ordering::Relaxed)
    }

    /// Ends the workers at the end of a run: queued and running jobs get up
    /// to `wait`; then programs still running are killed, webhooks stop
    /// retrying and what was still queued ends as "not run". Returns the
    /// outcomes not read yet. A worker stuck past that (a DNS lookup) is
    /// left behind rather than waited for.
    pub fn shutdown(self, wait: Duration) -> Vec<Outcome> {
        let Hooks {
            exec,
            webhook,
            outcomes,
            stop,
            threads,
            ..
        } = self;
        drop((exec, webhook));
        let deadline = Instant::now() + wait;
        stop.begin(deadline);
        let mut done = Vec::new();
        // Kills and "not run" endings take a moment after the deadline.
        let give_up = deadline + Duration::from_millis(500);
        while threads.iter().any(|t| !t.is_finished()) && Instant::now() < give_up {
            done.extend(outcomes.try_iter());
            thread::sleep(Duration::from_millis(5));
        }
        done.extend(outcomes.try_iter());
        done
    }
}

/// A named worker thread; `None` (and no worker) when the system refuses
/// a thread: its lane's queue is then closed and every job on it is
/// dropped and counted.
fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Option<JoinHandle<()>> {
    thread::Builder::new().name(name.into()).spawn(f).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_describe_themselves_in_one_line() {
        let ms = Duration::from_millis;
        let ran = |code| HookResult::Ran {
            code,
            elapsed: ms(12),
            stderr_tail: String::new(),
        };
        assert_eq!(ran(Some(0)).describe(), "exit 0 in 12 ms");
        assert_eq!(ran(None).describe(), "killed by a signal after 12 ms");
        let sent = HookResult::Sent {
            status: 200,
            attempts: 2,
            elapsed: ms(1200),
        };
        assert_eq!(sent.describe(), "HTTP 200 after 2 attempts in 1.2 s");
        let once = HookResult::Sent {
            status: 204,
            attempts: 1,
            elapsed: ms(40_000),
        };
        assert_eq!(once.describe(), "HTTP 204 after 1 attempt in 40 s");
        let timed = HookResult::TimedOut { elapsed: ms(5003) };
        assert_eq!(timed.describe(), "timed out after 5 s (killed)");
        let failed = HookResult::Failed {
            reason: "connection refused".into(),
            attempts: 3,
        };
        assert_eq!(
            failed.describe(),
            "failed after 3 attempts: connection refused"
        );
        let skipped = HookResult::Failed {
            reason: "wirewatch was stopping".into(),
            attempts: 0,
        };
        assert_eq!(skipped.describe(), "not run: wirewatch was stopping");
        assert!(ran(Some(0)).succeeded() && sent.succeeded());
        assert!(!ran(Some(1)).succeeded() && !failed.succeeded());
    }

    #[test]
    fn headers_are_checked_at_config_time() {
        let hook = |name: &str, value: &str| {
            let h = vec![(name.to_string(), value.to_string())];
            Hook::webhook("http://127.0.0.1:9/x", Duration::from_secs(1), 0, h, None)
        };
        assert!(hook("Authorization", "Bearer abc").is_ok());
        assert!(hook("X-Api-Key", "a\tb").is_ok());
        assert_eq!(
            hook("X-Evil", "a\r\nHost: b").unwrap_err().to_string(),
            "header 'X-Evil': its value has a line break or control character"
        );
        assert!(matches!(
            hook("Bad Name", "v"),
            Err(HookError::HeaderName(_))
        ));
        assert!(matches!(hook("", "v"), Err(HookError::HeaderName(_))));
        assert_eq!(
            hook("Content-Length", "1").unwrap_err().to_string(),
            "header 'Content-Length' is set by wirewatch and cannot be configured"
        );
    }

    #[test]
    fn hooks_are_checked_at_config_time() {
        let zero = Duration::ZERO;
        assert_eq!(
            Hook::exec(PathBuf::new(), vec![], Duration::from_secs(1)),
            Err(HookError::NoProgram)
        );
        assert_eq!(
            Hook::exec("/bin/true".into(), vec![], zero),
            Err(HookError::ZeroTimeout)
        );
        assert_eq!(
            Hook::webhook("http://h/", zero, 0, vec![], None),
            Err(HookError::ZeroTimeout)
        );
        let url = Hook::webhook("ftp://h/", Duration::from_secs(1), 0, vec![], None);
        assert!(matches!(url, Err(HookError::Url(_))));
        let hook = Hook::webhook(
            "https://hooks.example/x",
            Duration::from_secs(1),
            0,
            vec![],
            None,
        );
        assert_eq!(hook.unwrap().to_string(), "webhook https://hooks.example/x");
    }
}
