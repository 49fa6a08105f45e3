//! DNS transactions (`--tcp`, the performance insight of issue 20): each
//! query matched to its response by (client address and port, server
//! address and port, transport, message id), timed on the packet clock,
//! and counted per client and per server by response code; queries left
//! unanswered for [`DNS_TIMEOUT_NANOS`] of packet time are timeouts.
//!
//! Everything is bounded: at most [`MAX_PENDING`] queries wait for an
//! answer (a query past it is counted as not timed), and at most
//! [`MAX_HOSTS`] clients and as many servers have their own figures; the
//! rest are summed into one "other" line per side and counted, so a
//! flood of spoofed queries cannot grow memory.

use std::collections::HashMap;
use std::net::IpAddr;

use wirewatch_wire::Timestamp;

use crate::RttHistogram;

/// The DNS port.
pub const PORT: u16 = 53;
/// A query unanswered this long (packet time) is a timeout: 5 s, the
/// usual resolver retry interval (glibc's `timeout:5`).
pub const DNS_TIMEOUT_NANOS: i64 = 5_000_000_000;
/// Most queries waiting for their response at once.
pub const MAX_PENDING: usize = 10_000;
/// Most clients, and most servers, with figures of their own.
pub const MAX_HOSTS: usize = 512;
/// How often (packet time) waiting queries are checked for timeouts.
const SWEEP_NANOS: i64 = 1_000_000_000;

/// Response codes counted apart, in the order of [`DnsStats::rcodes`];
/// every other code is counted as "other".
pub const RCODES: [(u8, &str); 4] = [
    (0, "noerror"),
    (3, "nxdomain"),
    (2, "servfail"),
    (5, "refused"),
];
/// The name of the last place of [`DnsStats::rcodes`].
pub const OTHER_RCODE: &str = "other";

/// What the tracker needs of one DNS message (the header of a UDP
/// datagram or of a TCP segment that starts a message, port 53).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsMsg {
    /// Capture time.
    pub ts: Timestamp,
    /// Source address and port.
    pub src: (IpAddr, u16),
    /// Destination address and port.
    pub dst: (IpAddr, u16),
    /// Carried by TCP rather than UDP.
    pub tcp: bool,
    /// Message id.
    pub id: u16,
    /// The QR bit: a response.
    pub response: bool,
    /// Response code (the header's 4 bits).
    pub rcode: u8,
}

/// The figures of one client, one server, or all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsStats {
    /// Queries (a retransmission of a waiting query not counted again).
    pub queries: u64,
    /// Queries sent again with the same id while waiting for an answer.
    pub retransmissions: u64,
    /// Queries answered within the timeout.
    pub answered: u64,
    /// Queries unanswered after [`DNS_TIMEOUT_NANOS`].
    pub timeouts: u64,
    /// Answers by response code: NOERROR, NXDOMAIN, SERVFAIL, REFUSED,
    /// other ([`RCODES`]).
    pub rcodes: [u64; 5],
    /// Response times (first query to its answer).
    pub response: RttHistogram,
    /// The shortest response time, nanoseconds (0 without answers).
    pub min_nanos: u64,
    /// The longest response time, nanoseconds.
    pub max_nanos: u64,
}

impl DnsStats {
    /// Share of the answers with response code `rcode` (0 without answers).
    pub fn rate(&self, rcode: u8) -> f64 {
        if self.answered == 0 {
            return 0.0;
        }
        self.rcodes[rcode_place(rcode)] as f64 / self.answered as f64
    }

    /// The `q` quantile (0..=1) of the response times in nanoseconds,
    /// from the histogram (within about 9 %) but never outside the
    /// shortest and longest times seen; `None` without answers.
    pub fn response_quantile(&self, q: f64) -> Option<u64> {
        let ns = self.response.quantile(q)?;
        Some(ns.clamp(self.min_nanos, self.max_nanos.max(self.min_nanos)))
    }

    /// Takes `min` and `max` into the shortest and longest times, `before` answers
    /// having been counted until now.
    fn extremes(&mut self, before: u64, min: u64, max: u64) {
        self.min_nanos = if before == 0 {
            min
        } else {
            self.min_nanos.min(min)
        };
        self.max_nanos = self.max_nanos.max(max);
    }

    /// Adds another's figures.
    pub fn merge(&mut self, o: &DnsStats) {
        if o.answered > 0 {
            self.extremes(self.answered, o.min_nanos, o.max_nanos);
        }
        self.queries += o.queries;
        self.retransmissions += o.retransmissions;
        self.answered += o.answered;
        self.timeouts += o.timeouts;
        for (a, b) in self.rcodes.iter_mut().zip(o.rcodes) {
            *a += b;
        }
        self.response.merge(&o.response);
    }

    fn apply(&mut self, e: Event) {
        match e {
            Event::Query => self.queries += 1,
            Event::Retransmission => self.retransmissions += 1,
            Event::Timeout => self.timeouts += 1,
            Event::Answer { rcode, nanos } => {
                self.extremes(self.answered, nanos, nanos);
                self.answered += 1;
                self.rcodes[rcode_place(rcode)] += 1;
                self.response.add(nanos);
            }
        }
    }
}

/// The place of `rcode` in [`DnsStats::rcodes`].
fn rcode_place(rcode: u8) -> usize {
    RCODES
        .iter()
        .position(|&(c, _)| c == rcode)
        .unwrap_or(RCODES.len())
}

/// What happened to a transaction, counted for its client, its server
/// and the whole.
#[derive(Clone, Copy, Debug)]
enum Event {
    Query,
    Retransmission,
    Timeout,
    Answer { rcode: u8, nanos: u64 },
}

/// A transaction: the client's end, the server's end, transport and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    client: (IpAddr, u16),
    server: (IpAddr, u16),
    tcp: bool,
    id: u16,
}

impl Key {
    /// The transaction of `m` (a query goes from the client, a response
    /// to it).
    fn of(m: &DnsMsg) -> Key {
        let (client, server) = if m.response {
            (m.dst, m.src)
        } else {
            (m.src, m.dst)
        };
        Key {
            client,
            server,
            tcp: m.tcp,
            id: m.id,
        }
    }
}

/// Figures per address, at most [`MAX_HOSTS`] of them; later addresses
/// are summed in `other`.
#[derive(Clone, Debug, Default)]
struct PerHost {
    hosts: HashMap<IpAddr, DnsStats, foldhash::fast::RandomState>,
    other: DnsStats,
}

impl PerHost {
    fn apply(&mut self, a: IpAddr, e: Event) {
        let full = self.hosts.len() >= MAX_HOSTS;
        let s = match self.hosts.get_mut(&a) {
            Some(s) => s,
            None if full => &mut self.other,
            None => self.hosts.entry(a).or_default(),
        };
        s.apply(e);
    }

    /// The addresses' figures, most queries first (then by address).
    fn ranked(&self) -> Vec<(IpAddr, DnsStats)> {
        let mut v: Vec<_> = self.hosts.iter().map(|(a, s)| (*a, s.clone())).collect();
        v.sort_by(|x, y| y.1.queries.cmp(&x.1.queries).then(x.0.cmp(&y.0)));
        v
    }
}

/// One side's figures in [`DnsTotals`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsSide {
    /// Addresses with their own figures, most queries first.
    pub hosts: Vec<(IpAddr, DnsStats)>,
    /// The addresses that came when [`MAX_HOSTS`] had figures, summed
    /// (its `queries` are the queries folded in).
    pub other: DnsStats,
}

/// The DNS figures of a run (`--tcp`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsTotals {
    /// Every transaction.
    pub all: DnsStats,
    /// Per client.
    pub clients: DnsSide,
    /// Per server.
    pub servers: DnsSide,
    /// Responses to no waiting query (the query before the capture, not
    /// timed, already answered, or answered after the timeout).
    pub unmatched_responses: u64,
    /// Queries not timed: [`MAX_PENDING`] were waiting.
    pub untimed_queries: u64,
    /// Queries still waiting at the end (less than the timeout old).
    pub pending: u64,
}

/// The bounded tracker of DNS transactions.
#[derive(Clone, Debug, Default)]
pub struct DnsTracker {
    /// Queries waiting: their first sending.
    pending: HashMap<Key, Timestamp, foldhash::fast::RandomState>,
    all: DnsStats,
    clients: PerHost,
    servers: PerHost,
    unmatched: u64,
    untimed: u64,
    /// When the waiting queries are next checked for timeouts.
    next_sweep: Option<Timestamp>,
    /// The tracker's clock: the newest packet time seen.
    now: Timestamp,
}

impl DnsTracker {
    /// Memory the tracker can take at most (x86-64, with the hash
    /// tables' overhead): the waiting queries and the per-host figures.
    pub const MAX_BYTES: usize = MAX_PENDING * 2 * (std::mem::size_of::<(Key, Timestamp)>() + 1)
        + 2 * MAX_HOSTS * 2 * (std::mem::size_of::<(IpAddr, DnsStats)>() + 1);

    /// An empty tracker.
    pub fn new() -> Self {
        DnsTracker::default()
    }

    /// One DNS message.
    pub fn message(&mut self, m: &DnsMsg) {
        self.advance(m.ts);
        if m.response {
            self.response(m);
        } else {
            self.query(m);
        }
    }

    /// A packet at `now` (any packet: the tracker's clock is the
    /// packets', never the process's): queries older than the timeout are
    /// counted as timeouts (checked once a second of packet time).
    pub fn advance(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        if self.next_sweep.is_some_and(|t| now < t) {
            return;
        }
        self.next_sweep = Some(now.add_nanos(SWEEP_NANOS));
        let mut gone = Vec::new();
        self.pending.retain(|k, t| {
            let due = now.nanos_since(*t) >= DNS_TIMEOUT_NANOS;
            if due {
                gone.push(*k);
            }
            !due
        });
        for k in gone {
            self.count(&k, Event::Timeout);
        }
    }

    fn query(&mut self, m: &DnsMsg) {
        let k = Key::of(m);
        if self.pending.contains_key(&k) {
            self.count(&k, Event::Retransmission);
            return;
        }
        self.count(&k, Event::Query);
        if self.pending.len() >= MAX_PENDING {
            self.untimed += 1;
        } else {
            self.pending.insert(k, m.ts);
        }
    }

    fn response(&mut self, m: &DnsMsg) {
        let k = Key::of(m);
        let Some(sent) = self.pending.remove(&k) else {
            self.unmatched += 1;
            return;
        };
        let nanos = m.ts.nanos_since(sent);
        // Late answers are timeouts whenever the sweep ran: the result
        // depends on the packets' times alone.
        if nanos >= DNS_TIMEOUT_NANOS {
            self.unmatched += 1;
            self.count(&k, Event::Timeout);
        } else {
            let nanos = nanos.max(0) as u64;
            self.count(
                &k,
                Event::Answer {
                    rcode: m.rcode,
                    nanos,
                },
            );
        }
    }

    fn count(&mut self, k: &Key, e: Event) {
        self.all.apply(e);
        self.clients.apply(k.client.0, e);
        self.servers.apply(k.server.0, e);
    }

    /// Queries waiting for an answer now.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The figures now (at the newest packet time): queries waiting
    /// longer than the timeout count as timeouts (the tracker itself is
    /// left as it is).
    pub fn totals(&self) -> DnsTotals {
        let mut t = self.clone();
        t.next_sweep = None;
        t.advance(self.now);
        DnsTotals {
            all: t.all,
            clients: DnsSide {
                hosts: t.clients.ranked(),
                other: t.clients.other,
            },
            servers: DnsSide {
                hosts: t.servers.ranked(),
                other: t.servers.other,
            },
            unmatched_responses: t.unmatched,
            untimed_queries: t.untimed,
            pending: t.pending.len() as u64,
        }
    }

    /// The figures of every transaction now (as in [`DnsTracker::totals`],
    /// without the per-host lists: cheap enough for every second of a
    /// live run).
    pub fn overall(&self) -> DnsTotals {
        let mut all = self.all.clone();
        let mut pending = 0;
        for t in self.pending.values() {
            if self.now.nanos_since(*t) >= DNS_TIMEOUT_NANOS {
                all.apply(Event::Timeout);
            } else {
                pending += 1;
            }
        }
        DnsTotals {
            all,
            unmatched_responses: self.unmatched,
            untimed_queries: self.untimed,
            pending,
            ..DnsTotals::default()
        }
    }
}

#[cfg(test)]
mod tests;
