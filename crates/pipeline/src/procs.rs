//! Which process owns each flow: the background socket scan of
//! `wirewatch-procs`, and a registry giving each owner a small id the flow
//! table can carry.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use wirewatch_flow::{FlowTable, Snapshot, SortKey};
use wirewatch_procs::{Attribution, Owner, SocketTable};
use wirewatch_wire::Timestamp;

/// Flows active this long before a new scan are labelled with it.
const LABEL_WINDOW_NANOS: i64 = 10_000_000_000;

/// Processes registered one by one; past this, a new process is known by
/// its name alone (a forking server spawning one per connection must not
/// grow the registry without end).
pub const MAX_OWNERS: usize = 65_536;

/// Owners seen so far (ids from 1; 0 = unknown) and the scan feeding them.
#[derive(Default)]
pub struct Owners {
    list: Vec<Owner>,
    index: HashMap<(u32, u64, String), u32>,
    attribution: Option<Attribution>,
    scans_seen: u64,
    /// Processes registered by name alone (past [`MAX_OWNERS`]).
    merged: u64,
    /// Processes left unknown (past twice [`MAX_OWNERS`]).
    dropped: u64,
}

impl Owners {
    /// A registry fed by a socket scan every `period`.
    pub fn scanning(period: Duration) -> std::io::Result<Owners> {
        Ok(Owners {
            attribution: Some(Attribution::spawn(period)?),
            ..Owners::default()
        })
    }

    /// The owner with this id.
    pub fn get(&self, id: u32) -> Option<&Owner> {
        self.list.get((id as usize).checked_sub(1)?)
    }

    /// The id of `o`, registering it if new. Past [`MAX_OWNERS`] a new
    /// process shares one id with others of its name (pid 0); past twice
    /// that, it is left unknown (0). Both are counted.
    pub fn intern(&mut self, o: &Owner) -> u32 {
        let k = (o.pid, o.netns, o.comm.clone());
        if let Some(&id) = self.index.get(&k) {
            return id;
        }
        let (k, o) = if self.list.len() < MAX_OWNERS {
            (k, o.clone())
        } else {
            self.merged += 1;
            let by_name = (0, o.netns, o.comm.clone());
            if let Some(&id) = self.index.get(&by_name) {
                return id;
            }
            if self.list.len() >= 2 * MAX_OWNERS {
                self.dropped += 1;
                return 0;
            }
            (
                by_name,
                Owner {
                    pid: 0,
                    ..o.clone()
                },
            )
        };
        self.list.push(o);
        let id = self.list.len() as u32;
        self.index.insert(k, id);
        id
    }

    /// Processes known by name alone and processes left unknown, because
    /// the registry was full.
    pub fn overflow(&self) -> (u64, u64) {
        (self.merged, self.dropped)
    }

    /// When a new scan is in, gives every recently active flow without an
    /// owner the owner of its socket.
    pub fn label(&mut self, table: &mut FlowTable, now: Timestamp) -> usize {
        let Some(a) = &self.attribution else { return 0 };
        if a.scans() == self.scans_seen {
            return 0;
        }
        let Some(sockets) = a.latest() else { return 0 };
        let since = if self.scans_seen == 0 {
            Timestamp::ZERO
        } else {
            now.add_nanos(-LABEL_WINDOW_NANOS)
        };
        self.scans_seen = a.scans();
        self.label_with(&sockets, table, since)
    }

    /// Labels flows active since `since` from `sockets`.
    pub fn label_with(
        &mut self,
        sockets: &SocketTable,
        table: &mut FlowTable,
        since: Timestamp,
    ) -> usize {
        let nets = table.config().local_nets.clone();
        let local = |ip| nets.iter().any(|n: &wirewatch_flow::IpNet| n.contains(ip));
        table.label_owners(since, |f| {
            let k = &f.key;
            let a = SocketAddr::new(k.a, k.a_port);
            let b = SocketAddr::new(k.b, k.b_port);
            // Only the local end's port may match a bound or listening
            // socket; with no local end known, only connected sockets.
            let found = match (local(k.a), local(k.b)) {
                (true, false) => sockets.lookup_local(k.protocol, a, b),
                (false, true) => sockets.lookup_local(k.protocol, b, a),
                (true, true) => sockets.lookup(k.protocol, a, b),
                (false, false) => sockets.lookup_connected(k.protocol, a, b),
            };
            match found {
                Some(o) => self.intern(o),
                None => 0,
            }
        })
    }

    /// Waits (at most `limit`) until a scan newer than the last one used has
    /// finished, so a final report sees sockets opened just before it.
    pub fn wait_for_scan(&mut self, limit: Duration) {
        let Some(a) = &self.attribution else { return };
        let want = a.scans() + 1;
        let t0 = std::time::Instant::now();
        while a.scans() < want && t0.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.scans_seen = 0;
    }

    /// `-o process`: entries by their owner's label (unknown last), stable
    /// so equal owners keep the snapshot's order.
    pub fn sort_by_name(&self, snap: &mut Snapshot, sort: SortKey) {
        if sort != SortKey::Owner {
            return;
        }
        snap.entries
            .sort_by_cached_key(|e| match self.get(e.owner) {
                Some(o) => (0, short_label(o)),
                None => (1, String::new()),
            });
    }

    /// Owners registered, in id order (id = index + 1).
    pub fn all(&self) -> &[Owner] {
        &self.list
    }
}

/// Column text: `comm/pid`, marked when the socket is in another network
/// namespace (a container).
pub fn short_label(o: &Owner) -> String {
    match (o.pid, o.foreign_netns) {
        (0, _) => format!("netns:{}", o.netns),
        (p, false) => format!("{}/{p}", o.comm),
        (p, true) => format!("{}/{p}@ns", o.comm),
    }
}

/// Process-view text: name, pid, user, executable, namespace.
pub fn long_label(o: &Owner) -> String {
    let mut s = o.label();
    if o.pid != 0 {
        s.push_str(&format!("  pid {}  user {}", o.pid, o.user));
        if let Some(e) = &o.exe {
            s.push_str(&format!("  {e}"));
        }
    }
    s
}

/// The JSON object of an owner.
pub fn owner_json(o: &Owner) -> Value {
    json!({
        "pid": (o.pid != 0).then_some(o.pid),
        "name": (o.pid != 0).then(|| o.comm.clone()),
        "exe": o.exe,
        "uid": (o.pid != 0).then_some(o.uid),
        "user": (o.pid != 0).then(|| o.user.clone()),
        "netns": o.netns,
        "other_netns": o.foreign_netns,
        "label": o.label(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(pid: u32, comm: &str) -> Owner {
        Owner {
            pid,
            comm: comm.into(),
            exe: None,
            uid: 0,
            user: "root".into(),
            netns: 1,
            foreign_netns: false,
        }
    }

    /// A server forking one process per connection: the registry stops at
    /// its cap, later processes share their name's id, and it is counted.
    #[test]
    fn the_registry_is_bounded() {
        let mut o = Owners::default();
        for pid in 1..=MAX_OWNERS as u32 {
            assert_eq!(o.intern(&owner(pid, "sshd")), pid);
        }
        assert_eq!(o.intern(&owner(7, "sshd")), 7);
        let shared = o.intern(&owner(1_000_000, "sshd"));
        assert_eq!(
            o.get(shared).map(|w| (w.pid, w.comm.as_str())),
            Some((0, "sshd"))
        );
        for pid in 1_000_001..1_100_000 {
            assert_eq!(o.intern(&owner(pid, "sshd")), shared);
        }
        assert_eq!(o.intern(&owner(2_000_000, "nginx")), shared + 1);
        assert_eq!(o.list.len(), MAX_OWNERS + 2);
        assert_eq!(o.overflow(), (100_001, 0));
    }
}
