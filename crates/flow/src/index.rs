//! The flow table's index: slab places by key hash, in one fixed array.
//!
//! Open addressing with linear probing, sized once (a power of two, at
//! least twice the most flows) and never grown or rehashed; a removal
//! shifts the entries after it back (no tombstones), so the table never
//! needs cleaning up. Each entry is 4 bytes: the slab place plus one
//! (0 marks an empty entry). The home entry of a hash is known without
//! reading the table, so a batch of packets can bring its entries into the
//! cache ahead of time ([`FlowIndex::home`], [`FlowIndex::prefetch`]).

/// Asks the processor to bring the cache line holding `*x` in, without
/// waiting for it (unlike a read, it never holds up the instructions after
/// it). No-op on other processors than x86-64.
#[allow(unsafe_code)]
#[inline(always)]
pub(crate) fn prefetch<T>(x: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it changes nothing the program sees and
    // never faults, whatever the address (SSE, which it needs, is part of
    // every x86-64 processor).
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(x.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// Slab places keyed by their flow's hash.
pub(crate) struct FlowIndex {
    /// Slab place + 1; 0: empty.
    entries: Vec<u32>,
    /// `entries.len() - 1`.
    mask: usize,
    len: usize,
}

impl FlowIndex {
    /// An index for at most `max` places (its array: the power of two at
    /// or above `2 * max`).
    pub(crate) fn new(max: usize) -> Self {
        let size = (2 * max).next_power_of_two().max(16);
        FlowIndex {
            entries: vec![0; size],
            mask: size - 1,
            len: 0,
        }
    }

    /// Places indexed.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The entry a hash's search starts at.
    pub(crate) fn home(&self, hash: u64) -> usize {
        hash as usize & self.mask
    }

    /// The entry at `i` (slab place + 1, 0 when empty).
    pub(crate) fn entry(&self, i: usize) -> u32 {
        self.entries[i & self.mask]
    }

    /// Starts bringing the entry at `i` into the cache.
    pub(crate) fn prefetch(&self, i: usize) {
        prefetch(&self.entries[i & self.mask]);
    }

    /// The place with this hash that `is` accepts.
    pub(crate) fn find(&self, hash: u64, mut is: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut i = self.home(hash);
        loop {
            match self.entries[i] {
                0 => return None,
                e if is(e - 1) => return Some(e - 1),
                _ => i = (i + 1) & self.mask,
            }
        }
    }

    /// Adds `place` (not indexed yet) under `hash`. The caller keeps
    /// [`FlowIndex::len`] at most half the array (the table's limit).
    pub(crate) fn insert(&mut self, hash: u64, place: u32) {
        let mut i = self.home(hash);
        while self.entries[i] != 0 {
            i = (i + 1) & self.mask;
        }
        self.entries[i] = place + 1;
        self.len += 1;
    }

    /// Removes `place`, indexed under `hash`; `hash_of` gives the hash of
    /// any indexed place (to move the entries after it back).
    pub(crate) fn remove(&mut self, hash: u64, place: u32, hash_of: impl Fn(u32) -> u64) {
        let mut i = self.home(hash);
        loop {
            match self.entries[i] {
                0 => return,
                e if e == place + 1 => break,
                _ => i = (i + 1) & self.mask,
            }
        }
        self.len -= 1;
        // Backward shift: an entry after the hole moves into it unless its
        // home lies cyclically in (hole, entry].
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let e = self.entries[j];
            if e == 0 {
                break;
            }
            let home = self.home(hash_of(e - 1));
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.entries[hole] = e;
                hole = j;
            }
        }
        self.entries[hole] = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes that collide on purpose: every place's home is its value / 4.
    fn h(place: u32) -> u64 {
        u64::from(place / 4)
    }

    #[test]
    fn finds_what_was_inserted_and_not_what_was_removed() {
        let mut ix = FlowIndex::new(32);
        for p in 0..40 {
            ix.insert(h(p), p);
        }
        assert_eq!(ix.len(), 40);
        for p in (0..40).step_by(3) {
            ix.remove(h(p), p, h);
        }
        for p in 0..40 {
            let found = ix.find(h(p), |q| q == p);
            assert_eq!(found.is_some(), p % 3 != 0, "place {p}");
        }
        assert_eq!(ix.len(), 40 - 14);
    }

    #[test]
    fn removal_keeps_chains_that_wrap_around_the_end() {
        let mut ix = FlowIndex::new(8);
        let last = ix.mask as u64;
        let home = |p: u32| if p < 3 { last } else { 0 };
        for p in 0..5 {
            ix.insert(home(p), p);
        }
        ix.remove(home(0), 0, home);
        for p in 1..5 {
            assert_eq!(ix.find(home(p), |q| q == p), Some(p), "place {p}");
        }
        assert_eq!(ix.find(home(0), |q| q == 0), None);
    }
}
