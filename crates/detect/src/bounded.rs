//! A map with a hard cap on its entries, for detector state keyed by
//! addresses from the wire (per source, per pair, per host): when it is
//! full, the least worthy quarter goes (the entries that tell the least,
//! such as a spoofed source seen once), so an attack that makes up
//! millions of keys keeps the memory flat and cannot push the entities
//! that matter out; the entries dropped this way are counted.

use std::hash::Hash;

use wirewatch_wire::Timestamp;

use crate::Map;

/// A [`Map`] of at most `cap` entries that counts what it evicts.
#[derive(Debug)]
pub struct Bounded<K, V> {
    map: Map<K, V>,
    cap: usize,
    evicted: u64,
    sweeps: Sweeps,
}

/// When an expiry sweep over a whole table is worth making: not before
/// the soonest deadline the last sweep saw (entries only ever move their
/// deadlines later between sweeps), and at most once per slack.
#[derive(Debug)]
pub(crate) struct Sweeps {
    /// Packet time (nanoseconds) before which no sweep is made.
    next: i64,
}

impl Sweeps {
    /// A schedule whose first sweep is due at once.
    pub(crate) fn new() -> Sweeps {
        Sweeps { next: i64::MIN }
    }

    /// Drops the entries of `map` whose `deadline` (nanoseconds) is not
    /// after `now`, when a sweep is due; the next one then waits for the
    /// soonest deadline kept and at least `slack_nanos`.
    pub(crate) fn sweep<K, V>(
        &mut self,
        map: &mut Map<K, V>,
        now: i64,
        slack_nanos: i64,
        deadline: impl Fn(&V) -> i64,
    ) {
        if now < self.next {
            return;
        }
        let mut soonest: Option<i64> = None;
        map.retain(|_, v| {
            let d = deadline(v);
            let keep = now < d;
            if keep {
                soonest = Some(soonest.map_or(d, |s| s.min(d)));
            }
            keep
        });
        let floor = now.saturating_add(slack_nanos.max(0));
        self.next = soonest.map_or(floor, |s| s.max(floor));
    }
}

impl<K: Hash + Eq, V> Bounded<K, V> {
    /// An empty map holding at most `cap` (at least 1) entries.
    pub fn new(cap: usize) -> Bounded<K, V> {
        Bounded {
            map: Map::default(),
            cap: cap.max(1),
            evicted: 0,
            sweeps: Sweeps::new(),
        }
    }

    /// The entry of `k`, made by `make` when absent. When the map is full
    /// it first drops the quarter (at least) of its entries with the
    /// lowest `worth`.
    #[inline]
    pub fn get_or_insert_with<W: Ord + Copy>(
        &mut self,
        k: K,
        worth: impl Fn(&V) -> W,
        make: impl FnOnce() -> V,
    ) -> &mut V {
        if self.map.len() >= self.cap && !self.map.contains_key(&k) {
            self.make_room(worth);
        }
        self.map.entry(k).or_insert_with(make)
    }

    /// Drops every entry worth no more than the lowest quarter's highest.
    fn make_room<W: Ord + Copy>(&mut self, worth: impl Fn(&V) -> W) {
        let mut w: Vec<W> = self.map.values().map(&worth).collect();
        let Some(q) = w.len().checked_sub(1).map(|n| n / 4) else {
            return;
        };
        let cut = *w.select_nth_unstable(q).1;
        drop(w);
        let before = self.map.len();
        // Into a new map sized for the cap: removing in place would leave
        // tombstones, and the next insert past them would double the table
        // (its memory would grow run after run while its entries do not).
        let old = std::mem::replace(
            &mut self.map,
            Map::with_capacity_and_hasher(self.cap, Default::default()),
        );
        self.map
            .extend(old.into_iter().filter(|(_, v)| worth(v) > cut));
        self.evicted += (before - self.map.len()) as u64;
    }

    /// The entry of `k`.
    #[inline]
    pub fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k)
    }

    /// The entry of `k`, to change.
    #[inline]
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.map.get_mut(k)
    }

    /// Whether `k` has an entry.
    #[inline]
    pub fn contains_key(&self, k: &K) -> bool {
        self.map.contains_key(k)
    }

    /// Drops the entries idle for `idle_nanos` since their `last` time
    /// (expiry: not counted as evictions). See [`Bounded::expire`].
    pub fn expire_idle(&mut self, now: Timestamp, idle_nanos: i64, last: impl Fn(&V) -> Timestamp) {
        self.expire(now, idle_nanos / 8, |v| last(v).add_nanos(idle_nanos));
    }

    /// Drops the entries whose `deadline` is past at `now` (expiry: not
    /// counted as evictions). A sweep visits every entry, so it is made
    /// only when one may be due: not before the soonest deadline seen by
    /// the last sweep, and at most once per `slack_nanos` (an entry may
    /// outlive its deadline by that much). Entries are never touched
    /// between sweeps, so their deadlines only move later.
    pub fn expire(&mut self, now: Timestamp, slack_nanos: i64, deadline: impl Fn(&V) -> Timestamp) {
        self.sweeps
            .sweep(&mut self.map, now.as_nanos(), slack_nanos, |v| {
                deadline(v).as_nanos()
            });
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The most entries held.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Entries dropped so far to make room.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_map_drops_its_least_worthy_entries_and_counts_them() {
        let mut m: Bounded<u32, u32> = Bounded::new(100);
        // One entry that matters, then a flood of one-off keys.
        *m.get_or_insert_with(0, |v| *v, || 0) = 1_000;
        for k in 1..100_000u32 {
            *m.get_or_insert_with(k, |v| *v, || 0) += 1;
            assert!(m.len() <= 100);
        }
        assert_eq!(m.get(&0), Some(&1_000));
        assert!(m.evicted() >= 99_000, "{}", m.evicted());
        // Equal worth everywhere still makes room.
        let mut m: Bounded<u32, ()> = Bounded::new(4);
        for k in 0..10 {
            m.get_or_insert_with(k, |_| 0, || ());
        }
        assert!(m.len() <= 4 && m.evicted() >= 6);
    }

    #[test]
    fn expiry_drops_idle_entries_and_skips_sweeps_that_would_find_none() {
        let t = |s: i64| Timestamp::from_secs(s);
        let mut m: Bounded<u32, Timestamp> = Bounded::new(1_000);
        for k in 0..10u32 {
            *m.get_or_insert_with(k, |v| *v, || t(0)) = t(i64::from(k));
        }
        // Idle 100 s: at 105 s entries 0 to 5 are past it.
        m.expire_idle(t(105), 100_000_000_000, |v| *v);
        assert_eq!(m.len(), 4);
        // The next sweep waits an eighth of the idle time (12.5 s): entry
        // 6 (due at 106 s) outlives its deadline until then.
        m.expire_idle(t(110), 100_000_000_000, |v| *v);
        assert_eq!(m.len(), 4);
        m.expire_idle(t(118), 100_000_000_000, |v| *v);
        assert_eq!(m.len(), 0);
        assert_eq!(m.evicted(), 0, "expiry is not eviction");
    }
}
