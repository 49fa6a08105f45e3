//! Asynchronous, cached reverse DNS.
//!
//! The TUI draws every frame from [`Resolver::name`], so that call must never
//! wait on the network: it answers from the cache or queues a lookup for the
//! worker threads and says [`Name::Pending`]. [`Resolver::poll`] moves finished
//! lookups into the cache; the owner calls it once per frame.
//!
//! Time is read in one place: `poll` reads the clock and the instant it read is
//! the "now" used to stamp and expire failures until the next poll. Tests pass
//! the time in with [`Resolver::poll_at`].

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What is known about an address's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Name<'a> {
    /// The lookup is queued, running, or waiting for room in the queue.
    Pending,
    /// The address has this name.
    Resolved(&'a str),
    /// The address has no name, or the lookup failed; it is retried once the
    /// failure is older than [`Options::failure_ttl`].
    Failed,
}

/// Sizes and time limits of a [`Resolver`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Worker threads running lookups (at least one is started).
    pub workers: usize,
    /// Lookups that may wait for a worker; further requests are deferred
    /// (asked again on a later [`Resolver::name`]), never waited for.
    pub queue_capacity: usize,
    /// Cached answers (names and failures) kept at most.
    pub cache_capacity: usize,
    /// How long a failed lookup is remembered before it is tried again.
    pub failure_ttl: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: 4,
            queue_capacity: 256,
            cache_capacity: 65_536,
            failure_ttl: Duration::from_secs(300),
        }
    }
}

/// A lookup function run on the worker threads.
type Backend = dyn Fn(IpAddr) -> Option<String> + Send + Sync;

/// Longest name kept; DNS names are at most 253 characters.
const MAX_NAME_CHARS: usize = 255;

/// The system's reverse lookup: `getnameinfo` with `NI_NAMEREQD`, so it goes
/// through `/etc/hosts`, DNS and whatever else `nsswitch.conf` names, and an
/// address without a name is a failure rather than its own text.
///
/// This blocks for as long as the system resolver takes (seconds when DNS
/// servers do not answer); [`Resolver`] runs it on its worker threads.
pub fn system_reverse_lookup(ip: IpAddr) -> Option<String> {
    let flags = libc::NI_NAMEREQD | libc::NI_NUMERICSERV;
    dns_lookup::getnameinfo(&SocketAddr::new(ip, 0), flags)
        .ok()
        .map(|(host, _service)| host)
}

/// Reverse DNS with a cache, lookups on worker threads, and a bounded queue.
///
/// Dropping the resolver stops its workers: each finishes the lookup it is
/// running (the system resolver cannot be interrupted), skips whatever is
/// still queued, and exits. The drop itself does not wait for them.
pub struct Resolver {
    jobs: SyncSender<IpAddr>,
    results: Receiver<(IpAddr, Option<String>)>,
    stop: Arc<AtomicBool>,
    in_flight: HashSet<IpAddr>,
    cache: Cache,
    options: Options,
    now: Instant,
    deferred: u64,
}

impl Resolver {
    /// A resolver using the system's reverse lookup on `workers` threads,
    /// with the other [`Options`] at their defaults.
    pub fn new(workers: usize) -> Resolver {
        Resolver::with_backend(workers, system_reverse_lookup)
    }

    /// A resolver whose lookups call `backend` (tests use a fake one).
    pub fn with_backend(
        workers: usize,
        backend: impl Fn(IpAddr) -> Option<String> + Send + Sync + 'static,
    ) -> Resolver {
        Resolver::with_options(
            Options {
                workers,
                ..Options::default()
            },
            backend,
        )
    }

    /// A resolver with all sizes and limits chosen.
    pub fn with_options(
        options: Options,
        backend: impl Fn(IpAddr) -> Option<String> + Send + Sync + 'static,
    ) -> Resolver {
        let backend: Arc<Backend> = Arc::new(backend);
        let (jobs, job_rx) = mpsc::sync_channel(options.queue_capacity.max(1));
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (result_tx, results) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        for n in 0..options.workers.max(1) {
            let worker = Worker {
                jobs: Arc::clone(&job_rx),
                results: result_tx.clone(),
                stop: Arc::clone(&stop),
                backend: Arc::clone(&backend),
            };
            // A thread that cannot be started only leaves fewer workers; with
            // none at all the queue reports itself closed and every lookup
            // fails (and is retried after the failure time-to-live).
            let _ = thread::Builder::new()
                .name(format!("wirewatch-dns-{n}"))
                .spawn(move || worker.run());
        }
        Resolver {
            jobs,
            results,
            stop,
            in_flight: HashSet::new(),
            cache: Cache::new(options.cache_capacity),
            options,
            now: Instant::now(),
            deferred: 0,
        }
    }

    /// The name of `ip` if known; otherwise queues a lookup (once, however
    /// often it is asked for) and says [`Name::Pending`]. Never blocks.
    pub fn name(&mut self, ip: IpAddr) -> Name<'_> {
        let expired = match self.cache.get(ip) {
            Some(Entry::Name(_)) => false,
            Some(Entry::Failed { at }) => {
                self.now.saturating_duration_since(*at) >= self.options.failure_ttl
            }
            None => {
                self.request(ip);
                return Name::Pending;
            }
        };
        if expired && self.request(ip) {
            self.cache.remove(ip);
            return Name::Pending;
        }
        match self.cache.peek(ip) {
            Some(Entry::Name(name)) => Name::Resolved(name),
            _ => Name::Failed,
        }
    }

    /// Takes finished lookups into the cache. Never blocks; reads the clock
    /// once, and that instant stamps failures until the next poll.
    pub fn poll(&mut self) {
        self.poll_at(Instant::now());
    }

    /// [`Resolver::poll`] with the time passed in. Returns how many finished
    /// lookups were taken.
    pub fn poll_at(&mut self, now: Instant) -> usize {
        self.now = now;
        let mut taken = 0;
        while let Ok((ip, answer)) = self.results.try_recv() {
            self.take(ip, answer);
            taken += 1;
        }
        taken
    }

    /// Waits up to `timeout` for a lookup to finish, then takes every finished
    /// one as [`Resolver::poll_at`] does with `now`. The one call that blocks:
    /// for tests and for reports that want names before they are written.
    pub fn wait_at(&mut self, now: Instant, timeout: Duration) -> usize {
        self.now = now;
        if self.in_flight.is_empty() {
            return self.poll_at(now);
        }
        match self.results.recv_timeout(timeout) {
            Ok((ip, answer)) => {
                self.take(ip, answer);
                1 + self.poll_at(now)
            }
            Err(_) => 0,
        }
    }

    /// The sizes and limits it was made with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Lookups queued or running.
    pub fn pending(&self) -> usize {
        self.in_flight.len()
    }

    /// Answers (names and failures) in the cache.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Requests put off because the queue was full (each is asked again the
    /// next time its name is wanted).
    pub fn deferred(&self) -> u64 {
        self.deferred
    }

    /// Answers dropped from the cache to stay within
    /// [`Options::cache_capacity`] (each is looked up again when wanted).
    pub fn evicted(&self) -> u64 {
        self.cache.evicted
    }

    /// Queues a lookup unless one is already in flight. False when it could
    /// not be queued now.
    fn request(&mut self, ip: IpAddr) -> bool {
        if self.in_flight.contains(&ip) {
            return true;
        }
        match self.jobs.try_send(ip) {
            Ok(()) => {
                self.in_flight.insert(ip);
                true
            }
            Err(TrySendError::Full(_)) => {
                self.deferred += 1;
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                // No worker is running: answer "failed" rather than leaving
                // the address pending for ever.
                self.cache.insert(ip, Entry::Failed { at: self.now });
                false
            }
        }
    }

    fn take(&mut self, ip: IpAddr, answer: Option<String>) {
        self.in_flight.remove(&ip);
        let entry = match answer.as_deref().and_then(clean_name) {
            Some(name) => Entry::Name(name),
            None => Entry::Failed { at: self.now },
        };
        self.cache.insert(ip, entry);
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        // Workers see the flag after their current lookup; the job sender is
        // dropped with `self`, which wakes the idle ones.
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A name fit for a terminal: control characters (which a hostile PTR record
/// or hosts file could use to move the cursor) become `?`, and the length is
/// capped. None for an empty name.
fn clean_name(name: &str) -> Option<Box<str>> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    Some(
        name.chars()
            .take(MAX_NAME_CHARS)
            .map(|c| if c.is_control() { '?' } else { c })
            .collect(),
    )
}

struct Worker {
    jobs: Arc<Mutex<Receiver<IpAddr>>>,
    results: Sender<(IpAddr, Option<String>)>,
    stop: Arc<AtomicBool>,
    backend: Arc<Backend>,
}

impl Worker {
    fn run(self) {
        loop {
            // The lock is held only while waiting for a job, never during a
            // lookup, so the workers take turns at the queue.
            let job = {
                let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
                jobs.recv()
            };
            let Ok(ip) = job else { return };
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            // A panicking backend counts as a failed lookup, not a dead worker.
            let answer = catch_unwind(AssertUnwindSafe(|| (self.backend)(ip))).unwrap_or(None);
            if self.stop.load(Ordering::Relaxed) || self.results.send((ip, answer)).is_err() {
                return;
            }
        }
    }
}

#[derive(Debug)]
enum Entry {
    Name(Box<str>),
    Failed { at: Instant },
}

/// A bounded map that keeps recently used entries: two generations, the young
/// one taking inserts and hits; when it is full the old one is dropped and the
/// young one becomes old. An entry survives as long as it is used at least
/// once per generation, and at most `capacity` entries are held.
struct Cache {
    young: HashMap<IpAddr, Entry>,
    old: HashMap<IpAddr, Entry>,
    generation: usize,
    /// Entries dropped with an old generation.
    evicted: u64,
}

impl Cache {
    fn new(capacity: usize) -> Self {
        Cache {
            young: HashMap::new(),
            old: HashMap::new(),
            generation: (capacity / 2).max(1),
            evicted: 0,
        }
    }

    /// The entry for `ip`, marked as recently used.
    fn get(&mut self, ip: IpAddr) -> Option<&Entry> {
        if !self.young.contains_key(&ip) {
            let entry = self.old.remove(&ip)?;
            self.insert(ip, entry);
        }
        self.young.get(&ip)
    }

    /// The entry for `ip`, without marking it used.
    fn peek(&self, ip: IpAddr) -> Option<&Entry> {
        self.young.get(&ip).or_else(|| self.old.get(&ip))
    }

    fn insert(&mut self, ip: IpAddr, entry: Entry) {
        self.old.remove(&ip);
        if self.young.len() >= self.generation && !self.young.contains_key(&ip) {
            self.evicted += self.old.len() as u64;
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(ip, entry);
    }

    fn remove(&mut self, ip: IpAddr) {
        self.young.remove(&ip);
        self.old.remove(&ip);
    }

    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc::RecvTimeoutError;

    /// Generous bound on every wait: the tests never sleep for correctness,
    /// they only refuse to hang.
    const LIMIT: Duration = Duration::from_secs(20);

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    /// A backend driven by channels: each call reports its address on
    /// `started` and then waits for the test to send the answer.
    struct Fake {
        started: Receiver<IpAddr>,
        answers: Sender<Option<String>>,
        calls: Arc<AtomicUsize>,
    }

    fn fake(options: Options) -> (Resolver, Fake) {
        let (started_tx, started) = mpsc::channel();
        let (answers, answer_rx) = mpsc::channel::<Option<String>>();
        let answer_rx = Mutex::new(answer_rx);
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let resolver = Resolver::with_options(options, move |ip| {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = started_tx.send(ip);
            answer_rx.lock().unwrap().recv_timeout(LIMIT).ok().flatten()
        });
        (
            resolver,
            Fake {
                started,
                answers,
                calls,
            },
        )
    }

    fn one_worker() -> Options {
        Options {
            workers: 1,
            ..Options::default()
        }
    }

    impl Fake {
        fn started(&self) -> IpAddr {
            self.started.recv_timeout(LIMIT).expect("backend called")
        }
        fn answer(&self, name: Option<&str>) {
            self.answers.send(name.map(str::to_string)).unwrap();
        }
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    /// Waits (bounded) until nothing is in flight.
    fn settle(r: &mut Resolver, now: Instant) {
        let deadline = Instant::now() + LIMIT;
        while r.pending() > 0 {
            assert!(Instant::now() < deadline, "lookups did not finish");
            r.wait_at(now, Duration::from_millis(100));
        }
    }

    #[test]
    fn pending_then_resolved() {
        let (mut r, fake) = fake(one_worker());
        let t0 = Instant::now();
        r.poll_at(t0);
        assert_eq!(r.name(v4(1)), Name::Pending);
        assert_eq!(r.pending(), 1);
        assert_eq!(fake.started(), v4(1));
        // Nothing has finished: still pending, and poll does not wait.
        assert_eq!(r.poll_at(t0), 0);
        assert_eq!(r.name(v4(1)), Name::Pending);
        fake.answer(Some("host.example"));
        settle(&mut r, t0);
        assert_eq!(r.name(v4(1)), Name::Resolved("host.example"));
        assert_eq!(r.pending(), 0);
        assert_eq!(r.cached(), 1);
        assert_eq!(fake.calls(), 1);
    }

    #[test]
    fn failures_are_cached_and_retried_after_ttl() {
        let ttl = Duration::from_secs(60);
        let (mut r, fake) = fake(Options {
            failure_ttl: ttl,
            ..one_worker()
        });
        let t0 = Instant::now();
        r.poll_at(t0);
        let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(r.name(ip), Name::Pending);
        fake.started();
        fake.answer(None);
        settle(&mut r, t0);
        assert_eq!(r.name(ip), Name::Failed);

        // Within the time-to-live the failure is the answer; no new lookup.
        r.poll_at(t0 + ttl - Duration::from_millis(1));
        assert_eq!(r.name(ip), Name::Failed);
        assert_eq!(r.pending(), 0);
        assert_eq!(fake.calls(), 1);

        // Once it has expired the address is looked up again.
        r.poll_at(t0 + ttl);
        assert_eq!(r.name(ip), Name::Pending);
        assert_eq!(fake.started(), ip);
        fake.answer(Some("back.example"));
        settle(&mut r, t0 + ttl);
        assert_eq!(r.name(ip), Name::Resolved("back.example"));
        assert_eq!(fake.calls(), 2);
    }

    #[test]
    fn full_queue_defers_without_blocking() {
        let (mut r, fake) = fake(Options {
            queue_capacity: 2,
            ..one_worker()
        });
        let t0 = Instant::now();
        r.poll_at(t0);
        // The single worker takes the first request and waits in the backend.
        assert_eq!(r.name(v4(1)), Name::Pending);
        assert_eq!(fake.started(), v4(1));
        // Two more fill the queue; the fourth does not fit.
        assert_eq!(r.name(v4(2)), Name::Pending);
        assert_eq!(r.name(v4(3)), Name::Pending);
        assert_eq!(r.name(v4(4)), Name::Pending);
        assert_eq!(r.pending(), 3);
        assert_eq!(r.deferred(), 1);
        // Many more requests while full return at once.
        for last in 5..200 {
            assert_eq!(r.name(v4(last)), Name::Pending);
        }
        assert_eq!(r.pending(), 3);

        fake.answer(Some("x.example"));
        for next in [v4(2), v4(3)] {
            assert_eq!(fake.started(), next);
            fake.answer(Some("x.example"));
        }
        settle(&mut r, t0);
        assert_eq!(fake.calls(), 3);
        // The deferred address is asked again and now gets queued.
        assert_eq!(r.name(v4(4)), Name::Pending);
        assert_eq!(fake.started(), v4(4));
        fake.answer(Some("four.example"));
        settle(&mut r, t0);
        assert_eq!(r.name(v4(4)), Name::Resolved("four.example"));
    }

    #[test]
    fn repeated_requests_share_one_lookup() {
        let (mut r, fake) = fake(Options {
            workers: 3,
            ..Options::default()
        });
        let t0 = Instant::now();
        r.poll_at(t0);
        for _ in 0..100 {
            assert_eq!(r.name(v4(7)), Name::Pending);
        }
        assert_eq!(r.pending(), 1);
        fake.started();
        fake.answer(Some("seven.example"));
        settle(&mut r, t0);
        for _ in 0..100 {
            assert_eq!(r.name(v4(7)), Name::Resolved("seven.example"));
        }
        assert_eq!(fake.calls(), 1);
        assert!(fake.started.try_recv().is_err());
    }

    #[test]
    fn names_are_made_safe_for_a_terminal() {
        let (mut r, fake) = fake(one_worker());
        let t0 = Instant::now();
        r.poll_at(t0);
        r.name(v4(1));
        fake.started();
        fake.answer(Some("evil\x1b[2J.example"));
        settle(&mut r, t0);
        assert_eq!(r.name(v4(1)), Name::Resolved("evil?[2J.example"));

        r.name(v4(2));
        fake.started();
        fake.answer(Some(""));
        settle(&mut r, t0);
        assert_eq!(r.name(v4(2)), Name::Failed);

        r.name(v4(3));
        fake.started();
        fake.answer(Some(&"a".repeat(1000)));
        settle(&mut r, t0);
        match r.name(v4(3)) {
            Name::Resolved(n) => assert_eq!(n.len(), MAX_NAME_CHARS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn panicking_backend_is_a_failure() {
        let mut r = Resolver::with_backend(1, |ip| {
            if ip == v4(1) {
                panic!("backend bug");
            }
            Some("fine.example".into())
        });
        let t0 = Instant::now();
        r.poll_at(t0);
        r.name(v4(1));
        settle(&mut r, t0);
        assert_eq!(r.name(v4(1)), Name::Failed);
        // The worker survived.
        r.name(v4(2));
        settle(&mut r, t0);
        assert_eq!(r.name(v4(2)), Name::Resolved("fine.example"));
    }

    #[test]
    fn cache_is_bounded_and_keeps_what_is_used() {
        let mut r = Resolver::with_options(
            Options {
                cache_capacity: 8,
                workers: 2,
                ..Options::default()
            },
            |ip| Some(format!("h{ip}")),
        );
        let t0 = Instant::now();
        r.poll_at(t0);
        r.name(v4(0));
        settle(&mut r, t0);
        for last in 1..=50 {
            r.name(v4(last));
            settle(&mut r, t0);
            // Address 0 is used every round, so it is never evicted.
            assert_eq!(r.name(v4(0)), Name::Resolved("h192.0.2.0"));
            assert!(r.cached() <= 8, "{} cached", r.cached());
        }
        // 51 answers went in, at most 8 stayed: the rest were counted out.
        assert!(r.evicted() >= 51 - 8, "{} evicted", r.evicted());
        assert_eq!(r.evicted() + r.cached() as u64, 51);
        // Early addresses not used since have been evicted and are asked again.
        assert_eq!(r.name(v4(1)), Name::Pending);
    }

    #[test]
    fn cache_generations() {
        let mut c = Cache::new(4);
        let at = Instant::now();
        for last in 0..4 {
            c.insert(v4(last), Entry::Failed { at });
        }
        assert_eq!(c.len(), 4);
        assert!(c.get(v4(0)).is_some()); // promoted to the young generation
        c.insert(v4(9), Entry::Failed { at });
        assert!(c.len() <= 4);
        assert!(c.peek(v4(0)).is_some());
        assert!(c.peek(v4(9)).is_some());
        c.remove(v4(0));
        assert!(c.peek(v4(0)).is_none());
    }

    #[test]
    fn dropping_stops_the_workers() {
        let (started_tx, started) = mpsc::channel();
        let (gate_tx, gate) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        // `alive` is dropped when the last worker lets go of the backend.
        let (alive, gone) = mpsc::channel::<()>();
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let mut r = Resolver::with_options(
            Options {
                workers: 2,
                ..Options::default()
            },
            move |ip| {
                let _alive = &alive;
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = started_tx.send(ip);
                let _ = gate.lock().unwrap().recv_timeout(LIMIT);
                None
            },
        );
        for last in 0..20 {
            r.name(v4(last));
        }
        // One worker is inside the backend (the other waits on its lock).
        started.recv_timeout(LIMIT).unwrap();
        drop(r);
        drop(gate_tx);
        match gone.recv_timeout(LIMIT) {
            Err(RecvTimeoutError::Disconnected) => {}
            other => panic!("workers still running: {other:?}"),
        }
        // The queued requests were skipped, not looked up after the drop.
        assert!(calls.load(Ordering::SeqCst) <= 2);
    }

    /// The real backend, on the one name every test machine should know.
    #[test]
    fn loopback_resolves_through_hosts_file() {
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let listed = hosts.lines().any(|line| {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            words.next() == Some("127.0.0.1") && words.any(|w| w.contains("localhost"))
        });
        if !listed {
            wirewatch_testkit::skip!("/etc/hosts has no '127.0.0.1 ... localhost' line");
        }
        let mut r = Resolver::new(1);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let t0 = Instant::now();
        assert_eq!(r.name(ip), Name::Pending);
        settle(&mut r, t0);
        match r.name(ip) {
            Name::Resolved(name) => assert!(name.contains("localhost"), "{name}"),
            other => panic!("127.0.0.1 gave {other:?}"),
        }
    }
}
