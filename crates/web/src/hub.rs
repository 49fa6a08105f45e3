//! [`Hub`]: what the packet thread hands to the server, without ever
//! waiting on it: the newest [`LiveSnapshot`] (an [`ArcSwap`]), the last
//! alerts (a bounded ring), and the events the SSE streams send (a
//! bounded broadcast: a client that falls behind skips, nobody waits).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::feed::LiveSnapshot;
use crate::names::HostNames;

/// Alerts kept for `/api/v1/alerts`; older ones are dropped and counted.
pub const MAX_ALERTS: usize = 1_000;

/// Events buffered for the SSE streams: a client more than this many
/// behind skips to the newest (and is told how many it missed).
pub const EVENT_BUFFER: usize = 64;

/// Most SSE clients at once by default (`[web] max-sse-clients`); more
/// get 503.
pub const MAX_SSE_CLIENTS: usize = 128;

/// The status codes `/metrics` counts answers by (any other is `other`).
pub const COUNTED_CODES: [u16; 9] = [200, 304, 400, 401, 404, 405, 409, 500, 503];

/// The last alerts of this run, newest last.
#[derive(Debug, Default)]
pub struct AlertRing {
    /// The alerts as `--alerts json` writes them.
    pub alerts: VecDeque<Arc<Value>>,
    /// Alerts dropped from the front at [`MAX_ALERTS`].
    pub dropped: u64,
}

/// The state shared by the feed (writer, on the packet thread) and the
/// server (readers, on the `web` thread).
#[derive(Debug)]
pub struct Hub {
    /// The newest snapshot.
    pub snap: ArcSwap<LiveSnapshot>,
    /// The last [`MAX_ALERTS`] alerts.
    pub alerts: Mutex<AlertRing>,
    /// The responder's last [`MAX_ALERTS`] decisions (`--respond`).
    pub responses: Mutex<AlertRing>,
    /// SSE frames (`event: …\ndata: …\n\n`), ready to write.
    events: broadcast::Sender<Bytes>,
    /// SSE clients connected now.
    pub sse_clients: AtomicUsize,
    /// SSE clients refused at the cap or dropped for not reading.
    pub sse_refused: AtomicU64,
    /// Events SSE clients missed by falling more than [`EVENT_BUFFER`]
    /// behind (each was told how many).
    pub sse_missed: AtomicU64,
    /// The SSE client cap ([`MAX_SSE_CLIENTS`] unless configured).
    pub sse_cap: AtomicUsize,
    /// Answers by status code: [`COUNTED_CODES`], then any other.
    pub answers: [AtomicU64; COUNTED_CODES.len() + 1],
    /// Whether the input is a live capture (else a file replay).
    pub live: std::sync::atomic::AtomicBool,
    /// Host names for the entries of the answers (off unless started).
    pub names: HostNames,
}

/// The place a [`crate::WebFeed`] publishes to and the server reads from.
pub type Shared = Arc<Hub>;

/// A new, empty [`Shared`].
pub fn shared() -> Shared {
    Arc::new(Hub {
        snap: ArcSwap::from_pointee(LiveSnapshot {
            state: "starting",
            ..LiveSnapshot::default()
        }),
        alerts: Mutex::new(AlertRing::default()),
        responses: Mutex::new(AlertRing::default()),
        events: broadcast::channel(EVENT_BUFFER).0,
        sse_clients: AtomicUsize::new(0),
        sse_refused: AtomicU64::new(0),
        sse_missed: AtomicU64::new(0),
        sse_cap: AtomicUsize::new(MAX_SSE_CLIENTS),
        answers: Default::default(),
        live: std::sync::atomic::AtomicBool::new(false),
        names: HostNames::default(),
    })
}

/// One SSE frame: `event: NAME` and `data: JSON` (JSON has no newline).
pub fn frame(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

impl Hub {
    /// Whether any SSE client listens (the snapshot event is made only then).
    pub fn has_listeners(&self) -> bool {
        self.events.receiver_count() > 0
    }

    /// Sends a snapshot event to the SSE clients.
    pub fn send_snapshot(&self, data: &Value) {
        // No receiver is not an error: nobody listens now.
        let _ = self.events.send(frame("snapshot", data));
    }

    /// Keeps `alert` (as `--alerts json` writes it) and sends it to the
    /// SSE clients.
    pub fn push_alert(&self, alert: Value) {
        self.keep_and_send(&self.alerts, "alert", alert);
    }

    /// Keeps a responder's decision and sends it to the SSE clients
    /// (`event: response`).
    pub fn push_response(&self, response: Value) {
        self.keep_and_send(&self.responses, "response", response);
    }

    fn keep_and_send(&self, ring: &Mutex<AlertRing>, event: &str, v: Value) {
        let f = frame(event, &v);
        if let Ok(mut ring) = ring.lock() {
            if ring.alerts.len() == MAX_ALERTS {
                ring.alerts.pop_front();
                ring.dropped += 1;
            }
            ring.alerts.push_back(Arc::new(v));
        }
        let _ = self.events.send(f);
    }

    /// The responder's decisions kept, newest first, at most `limit`; and
    /// how many were dropped from the ring.
    pub fn responses_newest(&self, limit: usize) -> (Vec<Arc<Value>>, u64) {
        newest(&self.responses, |_| true, limit)
    }

    /// A new SSE subscription: the newest snapshot as an event and the
    /// stream of the events after it.
    pub fn subscribe(&self) -> (Bytes, broadcast::Receiver<Bytes>) {
        let rx = self.events.subscribe();
        let snap = crate::feed::sse_json(&self.snap.load(), &self.names);
        let now = frame("snapshot", &snap);
        (now, rx)
    }

    /// The alerts kept, newest first, those `keep` says yes to, at most
    /// `limit`; and how many were dropped from the ring.
    pub fn alerts_matching(
        &self,
        keep: impl Fn(&Value) -> bool,
        limit: usize,
    ) -> (Vec<Arc<Value>>, u64) {
        newest(&self.alerts, keep, limit)
    }

    /// Counts an answer with status `code`.
    pub fn count_answer(&self, code: u16) {
        let i = COUNTED_CODES
            .iter()
            .position(|&c| c == code)
            .unwrap_or(COUNTED_CODES.len());
        self.answers[i].fetch_add(1, Ordering::Relaxed);
    }

    /// `(code, answers)` for each counted code and `("other", …)`.
    pub fn answers_by_code(&self) -> Vec<(String, u64)> {
        let names = COUNTED_CODES
            .iter()
            .map(u16::to_string)
            .chain(std::iter::once("other".to_string()));
        names
            .zip(&self.answers)
            .map(|(c, n)| (c, n.load(Ordering::Relaxed)))
            .collect()
    }

    /// Takes an SSE place, or `None` at the cap (counted).
    pub fn join_sse(self: &Arc<Self>) -> Option<SsePlace> {
        let n = self.sse_clients.fetch_add(1, Ordering::AcqRel);
        if n >= self.sse_cap.load(Ordering::Relaxed) {
            self.sse_clients.fetch_sub(1, Ordering::AcqRel);
            self.sse_refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(SsePlace(Arc::clone(self)))
    }
}

/// The newest of `ring`'s values `keep` says yes to, at most `limit`, and
/// how many the ring dropped.
fn newest(
    ring: &Mutex<AlertRing>,
    keep: impl Fn(&Value) -> bool,
    limit: usize,
) -> (Vec<Arc<Value>>, u64) {
    let Ok(ring) = ring.lock() else {
        return (Vec::new(), 0);
    };
    let found = ring
        .alerts
        .iter()
        .rev()
        .filter(|a| keep(a))
        .take(limit)
        .cloned()
        .collect();
    (found, ring.dropped)
}

/// An SSE client's place, given back when dropped.
#[derive(Debug)]
pub struct SsePlace(Arc<Hub>);

impl Drop for SsePlace {
    fn drop(&mut self) {
        self.0.sse_clients.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_alert_ring_is_bounded_and_counts_what_it_drops() {
        let hub = shared();
        for i in 0..MAX_ALERTS + 5 {
            hub.push_alert(json!({ "n": i }));
        }
        let (newest, dropped) = hub.alerts_matching(|_| true, 3);
        assert_eq!(dropped, 5);
        let ns: Vec<u64> = newest.iter().map(|a| a["n"].as_u64().unwrap()).collect();
        assert_eq!(ns, [1004, 1003, 1002]);
        let (odd, _) = hub.alerts_matching(|a| a["n"].as_u64().unwrap() % 2 == 1, 2);
        assert_eq!(odd.len(), 2);
        assert_eq!(odd[0]["n"], 1003);
    }

    #[test]
    fn answers_are_counted_by_code_and_the_rest_as_other() {
        let hub = shared();
        for c in [200, 200, 404, 418] {
            hub.count_answer(c);
        }
        let got = hub.answers_by_code();
        assert_eq!(got.len(), COUNTED_CODES.len() + 1);
        let of = |c: &str| got.iter().find(|(k, _)| k == c).unwrap().1;
        assert_eq!((of("200"), of("404"), of("other"), of("503")), (2, 1, 1, 0));
    }

    #[test]
    fn the_sse_cap_is_the_configured_one() {
        let hub = shared();
        hub.sse_cap.store(2, Ordering::Relaxed);
        let two = [hub.join_sse(), hub.join_sse()];
        assert!(two.iter().all(Option::is_some));
        assert!(hub.join_sse().is_none());
    }

    #[test]
    fn sse_places_are_capped_and_given_back() {
        let hub = shared();
        let places: Vec<SsePlace> = (0..MAX_SSE_CLIENTS).map_while(|_| hub.join_sse()).collect();
        assert_eq!(places.len(), MAX_SSE_CLIENTS);
        assert!(hub.join_sse().is_none());
        assert_eq!(hub.sse_refused.load(Ordering::Relaxed), 1);
        drop(places);
        assert_eq!(hub.sse_clients.load(Ordering::Relaxed), 0);
        assert!(hub.join_sse().is_some());
    }

    #[test]
    fn a_late_subscriber_gets_the_newest_snapshot_first() {
        let hub = shared();
        assert!(!hub.has_listeners());
        let mut snap = LiveSnapshot::clone(&hub.snap.load());
        snap.time = 1234.5;
        hub.snap.store(Arc::new(snap));
        let (first, mut rx) = hub.subscribe();
        let first = std::str::from_utf8(&first).unwrap();
        assert!(first.starts_with("event: snapshot\ndata: {"), "{first}");
        assert!(first.contains("\"time\":1234.5"), "{first}");
        // Before the first publish every view and window is there, empty.
        assert!(
            first.contains("\"pair\":{\"10s\":[],\"2s\":[],\"40s\":[]}"),
            "{first}"
        );
        assert!(hub.has_listeners());
        hub.push_alert(json!({ "kind": "x" }));
        assert_eq!(
            &rx.try_recv().unwrap()[..],
            b"event: alert\ndata: {\"kind\":\"x\"}\n\n"
        );
    }
}
