//! A map with a hard cap on its entries, for detector state keyed by
//! addresses from the wire (per source, per pair, per host): when it is
//! full, a new key takes the place of the least worthy entry of its
//! bucket (the entry that tells the least, such as a spoofed source seen
//! once), so an attack that makes up millions of keys keeps the memory
//! flat and cannot push the entities that matter out; the entries dropped
//! this way are counted.
//!
//! The table is set-associative, like a processor's cache: a key's hash
//! picks one bucket of [`WAYS`] places, and a key lives only there. A
//! lookup reads one line of tags and then the one matching place; making
//! room costs one bucket's worth of comparisons, never a pass over the
//! table. Under a spoofed flood every packet brings a new key, so this is
//! what each packet pays.
//!
//! Expiry visits only the buckets marked in a bitmap of occupied ones
//! (the detectors' tables grow for a burst and then stay mostly empty),
//! and keeps, next to the tags, a coarse copy of each entry's deadline as
//! the last sweep read it (a lower bound: entries only move their
//! deadlines later between sweeps); a sweep reads an entry itself only
//! when that copy comes before the next sweep could, so an entry active
//! for a long time is read about once per deadline instead of at every
//! sweep. Which entries go, and when, is what reading every entry at
//! every sweep would give.

use std::hash::{BuildHasher, Hash};

use wirewatch_wire::Timestamp;

use crate::Map;

/// Places per bucket.
const WAYS: usize = 8;

/// Buckets a table starts with (it doubles up to its cap as keys come).
const FIRST_BUCKETS: usize = 16;

/// The tag bit telling that the place's copy of its deadline (in `due`)
/// is good: set by a sweep, clear in the tag a new entry is put in with.
const KNOWN: u16 = 1;

/// The copies of deadlines count units of 2^30 ns (about 1.07 s), so
/// that a `u32` holds any time from 1970 to 2116.
const DUE_SHIFT: u32 = 30;

/// A map of at most `cap` entries that counts what it evicts.
#[derive(Debug)]
pub struct Bounded<K, V> {
    /// Per place: 0 when empty, else a few bits of the key's hash (never 0)
    /// and the [`KNOWN`] bit.
    tags: Vec<u16>,
    /// Per place: a lower bound of its entry's deadline (see [`due_of`]),
    /// good when its tag has the [`KNOWN`] bit.
    due: Vec<u32>,
    /// The entries, bucket after bucket.
    places: Vec<Option<(K, V)>>,
    /// One bit per bucket, set while the bucket may hold an entry: a sweep
    /// visits only those buckets (a table that grew for a burst and
    /// emptied since costs a sweep a few words).
    occupied: Vec<u64>,
    /// Places per bucket (`WAYS`, fewer for tiny caps).
    ways: usize,
    /// Buckets now; grows to `max_buckets`.
    buckets: usize,
    max_buckets: usize,
    len: usize,
    evicted: u64,
    hasher: foldhash::fast::FixedState,
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
        self.sweep_with(now, slack_nanos, deadline, |keep| {
            map.retain(|_, v| keep(v))
        });
    }

    /// [`Sweeps::sweep`] over any container: `retain` calls its argument
    /// on every entry and drops those it answers `false` for.
    fn sweep_with<V>(
        &mut self,
        now: i64,
        slack_nanos: i64,
        deadline: impl Fn(&V) -> i64,
        retain: impl FnOnce(&mut dyn FnMut(&V) -> bool),
    ) {
        if !self.due(now) {
            return;
        }
        let mut soonest: Option<i64> = None;
        retain(&mut |v| {
            let d = deadline(v);
            let keep = now < d;
            if keep {
                soonest = Some(soonest.map_or(d, |s| s.min(d)));
            }
            keep
        });
        self.swept(now, slack_nanos, soonest);
    }

    /// Whether a sweep is due at `now`.
    fn due(&self, now: i64) -> bool {
        now >= self.next
    }

    /// The time before which no sweep after one at `now` is made.
    fn floor(now: i64, slack_nanos: i64) -> i64 {
        now.saturating_add(slack_nanos.max(0))
    }

    /// Schedules the next sweep after one at `now` whose soonest deadline
    /// kept is `soonest` (`None` when it kept nothing).
    fn swept(&mut self, now: i64, slack_nanos: i64, soonest: Option<i64>) {
        let floor = Sweeps::floor(now, slack_nanos);
        self.next = soonest.map_or(floor, |s| s.max(floor));
    }
}

/// The copy kept of deadline `nanos`: its units of 2^[`DUE_SHIFT`] ns,
/// rounded down (and held within `u32`), so never after it.
fn due_of(nanos: i64) -> u32 {
    u32::try_from(nanos.max(0) >> DUE_SHIFT).unwrap_or(u32::MAX)
}

/// The time (nanoseconds) a copy made by [`due_of`] stands for.
fn due_nanos(due: u32) -> i64 {
    i64::from(due) << DUE_SHIFT
}

/// Empty places of `n` buckets of `ways`.
fn empty_places<K, V>(n: usize) -> (Vec<u16>, Vec<Option<(K, V)>>) {
    (vec![0; n], (0..n).map(|_| None).collect())
}

impl<K: Hash + Eq, V> Bounded<K, V> {
    /// An empty map holding at most `cap` (at least 1) entries.
    pub fn new(cap: usize) -> Bounded<K, V> {
        let cap = cap.max(1);
        let ways = cap.min(WAYS);
        let max_buckets = cap / ways;
        let buckets = max_buckets.min(FIRST_BUCKETS);
        let (tags, places) = empty_places(buckets * ways);
        Bounded {
            due: vec![0; tags.len()],
            occupied: vec![0; buckets.div_ceil(64)],
            tags,
            places,
            ways,
            buckets,
            max_buckets,
            len: 0,
            evicted: 0,
            hasher: foldhash::fast::FixedState::default(),
            sweeps: Sweeps::new(),
        }
    }

    /// The key's bucket (its first place) and tag.
    #[inline]
    fn locate(&self, k: &K) -> (usize, u16) {
        let h = self.hasher.hash_one(k);
        // The high half of h × buckets: a bucket from the hash's high
        // bits; the tag from its low bits.
        let b = ((u128::from(h) * self.buckets as u128) >> 64) as usize;
        (b * self.ways, (h as u16 & !KNOWN) | 2)
    }

    /// The place holding `k`.
    #[inline]
    fn find(&self, k: &K) -> Option<usize> {
        let (first, tag) = self.locate(k);
        (first..first + self.ways).find(|&i| {
            self.tags[i] & !KNOWN == tag && self.places[i].as_ref().is_some_and(|(key, _)| key == k)
        })
    }

    /// The entry of `k`, made by `make` when absent. When the key's
    /// bucket is full and the table at its cap, the bucket's entry with
    /// the lowest `worth` (the first of equals) makes way.
    #[inline]
    pub fn get_or_insert_with<W: Ord + Copy>(
        &mut self,
        k: K,
        worth: impl Fn(&V) -> W,
        make: impl FnOnce() -> V,
    ) -> &mut V {
        let i = match self.find(&k) {
            Some(i) => i,
            None => self.insert(k, make(), &worth),
        };
        &mut self.places[i]
            .as_mut()
            .expect("a tagged place holds an entry")
            .1
    }

    /// Puts a new key in its bucket, making room there first; returns its
    /// place.
    fn insert<W: Ord + Copy>(&mut self, k: K, v: V, worth: &impl Fn(&V) -> W) -> usize {
        loop {
            let (first, tag) = self.locate(&k);
            let bucket = first..first + self.ways;
            if let Some(i) = bucket.clone().find(|&i| self.tags[i] == 0) {
                let b = first / self.ways;
                self.occupied[b / 64] |= 1 << (b % 64);
                self.tags[i] = tag;
                self.places[i] = Some((k, v));
                self.len += 1;
                return i;
            }
            if self.buckets < self.max_buckets {
                self.grow(worth);
                continue;
            }
            let i = bucket
                .min_by_key(|&i| self.places[i].as_ref().map(|(_, v)| worth(v)))
                .expect("a bucket has places");
            self.evicted += 1;
            self.tags[i] = tag;
            self.places[i] = Some((k, v));
            return i;
        }
    }

    /// Doubles the buckets (up to the cap) and puts every entry in its new
    /// bucket; one that finds its bucket full there goes as an eviction.
    fn grow<W: Ord + Copy>(&mut self, worth: &impl Fn(&V) -> W) {
        self.buckets = (self.buckets * 2).min(self.max_buckets);
        let (tags, places) = empty_places(self.buckets * self.ways);
        self.due = vec![0; tags.len()];
        self.occupied = vec![0; self.buckets.div_ceil(64)];
        self.tags = tags;
        let old = std::mem::replace(&mut self.places, places);
        self.len = 0;
        for (k, v) in old.into_iter().flatten() {
            self.insert(k, v, worth);
        }
    }

    /// The entry of `k`.
    #[inline]
    pub fn get(&self, k: &K) -> Option<&V> {
        let i = self.find(k)?;
        self.places[i].as_ref().map(|(_, v)| v)
    }

    /// The entry of `k`, to change.
    #[inline]
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let i = self.find(k)?;
        self.places[i].as_mut().map(|(_, v)| v)
    }

    /// Whether `k` has an entry.
    #[inline]
    pub fn contains_key(&self, k: &K) -> bool {
        self.find(k).is_some()
    }

    /// Drops the entries idle for `idle_nanos` since their `last` time
    /// (expiry: not counted as evictions). See [`Bounded::expire`].
    pub fn expire_idle(&mut self, now: Timestamp, idle_nanos: i64, last: impl Fn(&V) -> Timestamp) {
        self.expire(now, idle_nanos / 8, |v| last(v).add_nanos(idle_nanos));
    }

    /// Drops the entries whose `deadline` is past at `now` (expiry: not
    /// counted as evictions). A sweep is made only when one may be due:
    /// not before the soonest deadline seen by the last sweep, and at most
    /// once per `slack_nanos` (an entry may outlive its deadline by that
    /// much). Entries are never touched between sweeps, so their deadlines
    /// only move later: a sweep reads an entry only when the copy of its
    /// deadline that the table keeps comes before the next sweep could
    /// (see [`Bounded::sweep_place`]), and the schedule is the one that
    /// reading every entry would give.
    pub fn expire(&mut self, now: Timestamp, slack_nanos: i64, deadline: impl Fn(&V) -> Timestamp) {
        let now = now.as_nanos();
        if !self.sweeps.due(now) {
            return;
        }
        let floor = Sweeps::floor(now, slack_nanos);
        // The soonest deadline read, and the soonest copy left unread.
        let (mut read, mut unread) = (None::<i64>, i64::MAX);
        self.for_each_held(|m, i| match m.sweep_place(i, now, floor, &deadline) {
            Ok(Some(d)) => read = Some(read.map_or(d, |r| r.min(d))),
            Ok(None) => {}
            Err(copy) => unread = unread.min(copy),
        });
        let soonest = match read {
            // Nothing sooner than the floor matters to the schedule.
            Some(r) if r <= floor || r <= unread => Some(r),
            _ if unread == i64::MAX => read,
            _ => Some(self.soonest_below(read.unwrap_or(i64::MAX), &deadline)),
        };
        self.sweeps.swept(now, slack_nanos, soonest);
    }

    /// Calls `visit` on every place holding an entry, bucket by occupied
    /// bucket; a bucket it leaves empty is marked so.
    #[inline]
    fn for_each_held(&mut self, mut visit: impl FnMut(&mut Self, usize)) {
        for w in 0..self.occupied.len() {
            let mut bits = self.occupied[w];
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let first = (w * 64 + bit) * self.ways;
                for i in first..first + self.ways {
                    if self.tags[i] != 0 {
                        visit(self, i);
                    }
                }
                if self.tags[first..first + self.ways].iter().all(|&t| t == 0) {
                    self.occupied[w] &= !(1 << bit);
                }
            }
        }
    }

    /// Sweeps held place `i` at `now`: drops its entry if its deadline is
    /// past (`Ok(None)`), or reads its deadline (`Ok(Some)`, renewing the
    /// copy) when the copy is unknown or not after `floor` (the soonest
    /// the next sweep can be); else answers the copy (`Err`), a time not
    /// after its deadline and after `floor`.
    #[inline]
    fn sweep_place(
        &mut self,
        i: usize,
        now: i64,
        floor: i64,
        deadline: &impl Fn(&V) -> Timestamp,
    ) -> Result<Option<i64>, i64> {
        let copy = due_nanos(self.due[i]);
        if self.tags[i] & KNOWN != 0 && floor < copy {
            return Err(copy);
        }
        let d = self.read_deadline(i, deadline);
        if now < d {
            return Ok(Some(d));
        }
        self.places[i] = None;
        self.tags[i] = 0;
        self.len -= 1;
        Ok(None)
    }

    /// The deadline of held place `i`'s entry, of which the place keeps
    /// a copy from now on.
    #[inline]
    fn read_deadline(&mut self, i: usize, deadline: &impl Fn(&V) -> Timestamp) -> i64 {
        let d = self.places[i]
            .as_ref()
            .map_or(i64::MIN, |(_, v)| deadline(v).as_nanos());
        self.due[i] = due_of(d);
        self.tags[i] |= KNOWN;
        d
    }

    /// The soonest deadline of all entries, given `best`, the soonest of
    /// those read: reads the entries whose copy comes before it. (A sweep
    /// needs it only when nothing is due before its floor.)
    fn soonest_below(&mut self, mut best: i64, deadline: &impl Fn(&V) -> Timestamp) -> i64 {
        self.for_each_held(|m, i| {
            if due_nanos(m.due[i]) < best {
                best = best.min(m.read_deadline(i, deadline));
            }
        });
        best
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most entries held.
    pub fn cap(&self) -> usize {
        self.max_buckets * self.ways
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

    #[test]
    fn the_table_grows_to_its_cap_and_finds_every_key_it_keeps() {
        let mut m: Bounded<u64, u64> = Bounded::new(100_000);
        for k in 0..10_000u64 {
            *m.get_or_insert_with(k, |v| *v, || 0) += k;
        }
        // Below the cap nothing makes way: buckets double instead.
        assert_eq!((m.len(), m.evicted()), (10_000, 0));
        assert!((0..10_000u64).all(|k| m.get(&k) == Some(&k)));
        assert!(m.get(&10_000).is_none());
        // At the cap every new key evicts exactly one entry.
        let mut m: Bounded<u64, u64> = Bounded::new(1_000);
        for k in 0..50_000u64 {
            m.get_or_insert_with(k, |v| *v, || 0);
        }
        assert_eq!(m.len() as u64 + m.evicted(), 50_000);
        assert!(m.len() <= m.cap() && m.cap() == 1_000);
        // Expiry empties places that new keys then reuse.
        m.expire_idle(Timestamp::from_secs(10), 1, |_| Timestamp::ZERO);
        assert_eq!(m.len(), 0);
        *m.get_or_insert_with(7, |v| *v, || 0) = 70;
        assert_eq!((m.get(&7), m.len()), (Some(&70), 1));
        // An emptied bucket taken again is swept again.
        m.expire_idle(Timestamp::from_secs(20), 1, |_| Timestamp::ZERO);
        assert!(m.is_empty());
    }

    /// Sweeps a table of `(worth, deadline in seconds)` at `now` with
    /// 1 s of slack, counting the reads of entries of worth 0.
    fn sweep_secs(m: &mut Bounded<u32, (u32, i64)>, now: i64, reads: &std::cell::Cell<u32>) {
        m.expire(Timestamp::from_secs(now), 1_000_000_000, |v| {
            reads.set(reads.get() + u32::from(v.0 == 0));
            Timestamp::from_secs(v.1)
        });
    }

    #[test]
    fn a_sweep_reads_an_entry_only_once_its_kept_deadline_has_come() {
        let reads = std::cell::Cell::new(0);
        let mut m: Bounded<u32, (u32, i64)> = Bounded::new(1_000);
        for k in 0..100u32 {
            m.get_or_insert_with(k, |v| v.0, || (0, 100));
        }
        // A busy entry (worth 1) due every other second keeps sweeps coming.
        let tick = |m: &mut Bounded<u32, (u32, i64)>, now: i64| {
            m.get_or_insert_with(1_000, |v| v.0, || (1, 0)).1 = now + 2;
            sweep_secs(m, now, &reads);
        };
        // The first sweep reads all; the next ones, before 100 s, none.
        for now in 1..50 {
            tick(&mut m, now);
        }
        assert_eq!((reads.get(), m.len()), (100, 101));
        // An entry whose deadline moved later outlives its kept copy.
        m.get_mut(&5).expect("kept").1 = 200;
        tick(&mut m, 101);
        assert_eq!((reads.get(), m.len(), m.get(&5)), (200, 2, Some(&(0, 200))));
        tick(&mut m, 150);
        assert_eq!(reads.get(), 200, "the copy of 200 s has not come");
        // Once the table is empty, a new entry still goes at its deadline.
        tick(&mut m, 300);
        sweep_secs(&mut m, 303, &reads);
        assert!(m.is_empty());
        m.get_or_insert_with(7, |v| v.0, || (0, 310));
        sweep_secs(&mut m, 320, &reads);
        assert!(m.is_empty());
    }

    #[test]
    fn a_new_entry_in_a_place_is_not_kept_by_the_copy_of_the_one_before() {
        let reads = std::cell::Cell::new(0);
        // One bucket of two places.
        let mut m: Bounded<u32, (u32, i64)> = Bounded::new(2);
        m.get_or_insert_with(0, |v| v.0, || (9, 3));
        m.get_or_insert_with(1, |v| v.0, || (0, 1_000));
        sweep_secs(&mut m, 1, &reads);
        assert_eq!(m.len(), 2);
        // Key 2 takes key 1's place (the least worthy), due at 2 s.
        m.get_or_insert_with(2, |v| v.0, || (0, 2));
        assert_eq!((m.evicted(), m.contains_key(&1)), (1, false));
        sweep_secs(&mut m, 4, &reads);
        assert_eq!(m.len(), 0, "key 2 is past its deadline");
    }

    #[test]
    fn sweeps_keep_the_schedule_of_reading_every_entry_and_drop_none_early() {
        let (reads, slack) = (std::cell::Cell::new(0), 3);
        let mut m: Bounded<u32, (u32, i64)> = Bounded::new(1_024);
        // The same entries swept by reading every one at every sweep.
        let (mut all, mut sweeps) = (Map::default(), Sweeps::new());
        let mut x = 0x2545_f491_u64;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n) as i64
        };
        for k in 0..500u32 {
            let d = next(1_000);
            m.get_or_insert_with(k, |v| v.0, || (0, d));
            all.insert(k, d);
        }
        let mut now = 0;
        while now < 2_000 {
            now += next(5);
            // Deadlines only move later, as the detectors' do.
            let k = next(500) as u32;
            if let (Some(v), Some(d)) = (m.get_mut(&k), all.get_mut(&k)) {
                v.1 += next(50);
                *d = v.1;
            }
            m.expire(Timestamp::from_secs(now), slack * 1_000_000_000, |v| {
                reads.set(reads.get() + 1);
                Timestamp::from_secs(v.1)
            });
            sweeps.sweep(&mut all, now, slack, |d| *d);
            assert_eq!(m.len(), all.len(), "at {now}");
            for (k, d) in &all {
                assert_eq!(m.get(k).map(|v| v.1), Some(*d), "{k} (due {d}) at {now}");
                assert!(
                    now < d + slack + 5,
                    "{k} (due {d}) outlived its slack at {now}"
                );
            }
        }
        assert!(all.is_empty() && reads.get() < 500 * 5, "{}", reads.get());
    }
}
