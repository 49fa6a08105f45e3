//! [`HostNames`]: reverse DNS for the addresses the web API shows, through
//! one [`Resolver`] shared by the feed (packet thread) and the server (web
//! thread) behind a mutex.
//!
//! Names are not part of the [`crate::LiveSnapshot`]: they are added to the
//! copies of entries an answer is made from, when it is made (`src_name`,
//! `dst_name`). So a name that arrives after the last publish (a replay
//! read at full speed publishes only at its end) is in every answer made
//! after it arrives. The feed asks for the names of every address it
//! publishes, so lookups start before anyone asks.
//!
//! Nothing waits on DNS: lookups run on the resolver's worker threads; a
//! holder of the mutex only reads the bounded cache and queues lookups
//! without waiting (a full queue defers a request to the next publish).

use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use serde_json::{json, Value};
use wirewatch_names::{Name, Resolver};

use crate::feed::LiveSnapshot;

/// The keys of an entry that hold addresses, and the keys of their names.
const ADDRESS_KEYS: [(&str, &str); 2] = [("src", "src_name"), ("dst", "dst_name")];

/// Worker threads of the resolver the binary starts.
pub const WORKERS: usize = 4;

/// Reverse DNS for the web API; off (every name null) until
/// [`HostNames::start`] gives it a resolver.
#[derive(Default)]
pub struct HostNames {
    resolver: Mutex<Option<Resolver>>,
}

impl std::fmt::Debug for HostNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // try_lock: a Debug print never waits (nor deadlocks) on the lock.
        let on = self.resolver.try_lock().map(|r| r.is_some()).ok();
        f.debug_struct("HostNames").field("on", &on).finish()
    }
}

impl HostNames {
    /// Resolves names with `resolver` from now on.
    pub fn start(&self, resolver: Resolver) {
        *self.lock() = Some(resolver);
    }

    /// The resolver, its finished lookups taken into the cache.
    fn lock(&self) -> MutexGuard<'_, Option<Resolver>> {
        // A panic elsewhere while holding it leaves a usable cache.
        self.resolver.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn polled(&self) -> MutexGuard<'_, Option<Resolver>> {
        let mut r = self.lock();
        if let Some(r) = r.as_mut() {
            r.poll();
        }
        r
    }

    /// Asks for the names of every address in `snap`'s entries (its tops
    /// and the drill-down flows): queues the lookups, waits for none.
    pub fn want(&self, snap: &LiveSnapshot) {
        let mut guard = self.polled();
        let Some(r) = guard.as_mut() else { return };
        let tops = snap.tops.iter().flatten().flat_map(|t| &t.entries);
        for e in tops.chain(snap.drill.iter()) {
            for (key, _) in ADDRESS_KEYS {
                if let Some(ip) = address(&e[key]) {
                    r.name(ip);
                }
            }
        }
    }

    /// Adds `src_name` and `dst_name` to each of `entries` whose `src` or
    /// `dst` is an address: the name when it is known, else null.
    pub fn add(&self, entries: &mut [Value]) {
        let mut r = self.polled();
        for e in entries {
            for (key, name_key) in ADDRESS_KEYS {
                if let Some(ip) = address(&e[key]) {
                    e[name_key] = name_of(r.as_mut(), ip);
                }
            }
        }
    }

    /// The name of `ip` as JSON (null while unknown or when off).
    pub fn name(&self, ip: IpAddr) -> Value {
        name_of(self.polled().as_mut(), ip)
    }

    /// `/api/v1/status`' `names` object: whether names are on, and the
    /// resolver's bounds and counters.
    pub fn status_json(&self) -> Value {
        let r = self.polled();
        let Some(r) = r.as_ref() else {
            return json!({ "enabled": false });
        };
        let o = r.options();
        json!({
            "enabled": true,
            "cached": r.cached(),
            "cache_capacity": o.cache_capacity,
            "evicted": r.evicted(),
            "pending": r.pending(),
            "queue_capacity": o.queue_capacity,
            "deferred": r.deferred(),
            "workers": o.workers,
        })
    }
}

/// `v` as an address, if it is the text of one.
fn address(v: &Value) -> Option<IpAddr> {
    v.as_str()?.parse().ok()
}

/// The name of `ip` from `r` (a lookup is queued when it is not known).
fn name_of(r: Option<&mut Resolver>, ip: IpAddr) -> Value {
    match r.map(|r| r.name(ip)) {
        Some(Name::Resolved(n)) => Value::from(n),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::feed::Top;

    /// A snapshot whose only entry is `src` → `dst` (in the first top and
    /// the drill-down list).
    fn snap(src: &str, dst: &str) -> LiveSnapshot {
        let e = json!({ "src": src, "dst": dst, "protocol": "tcp" });
        LiveSnapshot {
            tops: Arc::new(vec![vec![Top {
                head: json!({}),
                entries: vec![e.clone()],
            }]]),
            drill: Arc::new(vec![e]),
            ..LiveSnapshot::default()
        }
    }

    /// Waits (bounded) until the resolver has nothing in flight.
    fn settle(names: &HostNames) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while names.lock().as_ref().is_some_and(|r| r.pending() > 0) {
            assert!(Instant::now() < deadline, "lookups did not finish");
            std::thread::sleep(Duration::from_millis(5));
            drop(names.polled());
        }
    }

    #[test]
    fn names_are_null_when_off_and_added_once_resolved() {
        let names = HostNames::default();
        let mut entries = vec![json!({ "src": "192.0.2.1", "dst": "192.0.2.2" })];
        names.add(&mut entries);
        assert_eq!(entries[0]["src_name"], Value::Null);
        assert_eq!(entries[0]["dst_name"], Value::Null);
        assert_eq!(names.status_json()["enabled"], false);

        names.start(Resolver::with_backend(1, |ip| {
            (ip.to_string() == "192.0.2.1").then(|| "<b>one</b>.example".to_string())
        }));
        names.want(&snap("192.0.2.1", "192.0.2.2"));
        settle(&names);
        names.add(&mut entries);
        // The name as the resolver gave it: escaping is the page's job.
        assert_eq!(entries[0]["src_name"], "<b>one</b>.example");
        assert_eq!(entries[0]["dst_name"], Value::Null);
        let status = names.status_json();
        assert_eq!(
            (status["cached"].as_u64(), status["pending"].as_u64()),
            (Some(2), Some(0))
        );
    }

    #[test]
    fn a_name_that_arrives_after_the_last_publish_is_in_the_next_answer() {
        let hub = crate::shared();
        // The lookup waits until the test lets it answer.
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        hub.names.start(Resolver::with_backend(1, move |_| {
            let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(20));
            Some("late.example".into())
        }));
        let mut last = snap("192.0.2.7", "192.0.2.8");
        last.state = "ended";
        hub.names.want(&last);
        hub.snap.store(Arc::new(last));
        let top = |hub: &crate::Hub| {
            let a = crate::api::route("/api/v1/top", Some("limit=1"), hub);
            serde_json::from_str::<Value>(&a.body).unwrap()["entries"][0].clone()
        };
        assert_eq!(top(&hub)["src_name"], Value::Null);
        release.send(()).unwrap();
        release.send(()).unwrap();
        settle(&hub.names);
        let e = top(&hub);
        assert_eq!(
            (e["src_name"].as_str(), e["dst_name"].as_str()),
            (Some("late.example"), Some("late.example"))
        );
        let host = crate::api::route("/api/v1/host/192.0.2.7", None, &hub);
        let host: Value = serde_json::from_str(&host.body).unwrap();
        assert_eq!(host["host_name"], "late.example", "{host}");
        assert_eq!(host["peers"][0]["dst_name"], "late.example", "{host}");
        let (first, _rx) = hub.subscribe();
        let first = String::from_utf8_lossy(&first).into_owned();
        assert!(first.contains(r#""src_name":"late.example""#), "{first}");
    }

    #[test]
    fn only_addresses_get_names() {
        let names = HostNames::default();
        names.start(Resolver::with_backend(1, |_| Some("x.example".into())));
        let mut entries = vec![json!({ "src": "firefox", "dst": null, "process": "10.0.0.1" })];
        names.add(&mut entries);
        assert_eq!(
            entries[0],
            json!({ "src": "firefox", "dst": null, "process": "10.0.0.1" })
        );
    }
}
