//! A set of distinct values per entity (ports, hosts, names): inline up
//! to a few, a hash set past that, and past an exact cap a HyperLogLog
//! that goes on counting in a fixed few hundred bytes, so one entity's
//! memory stays bounded whatever an attack sends.

use std::hash::Hash;

use crate::sketch::Hll;
use crate::Set;

const INLINE: usize = 6;

/// Distinct values seen: exact up to a cap, estimated past it.
#[derive(Clone, Debug)]
pub enum SmallSet<T: Copy + Eq + Hash> {
    /// Few values, no allocation.
    Inline([Option<T>; INLINE]),
    /// Many values.
    Heap(Set<T>),
    /// More than the cap: a sketch, and the exact count when it took over
    /// (its estimate never reads lower).
    Sketch(Box<Hll>, usize),
}

impl<T: Copy + Eq + Hash> Default for SmallSet<T> {
    fn default() -> Self {
        SmallSet::Inline([None; INLINE])
    }
}

impl<T: Copy + Eq + Hash> SmallSet<T> {
    /// Adds `v`, exactly while fewer than `exact` values are held, then to
    /// a sketch. Returns whether it was new (for the sketch: whether it
    /// may have been).
    pub fn insert(&mut self, v: T, exact: usize) -> bool {
        match self {
            SmallSet::Inline(a) => {
                for slot in a.iter_mut() {
                    match slot {
                        Some(x) if *x == v => return false,
                        Some(_) => {}
                        None => {
                            *slot = Some(v);
                            return true;
                        }
                    }
                }
                let mut s: Set<T> = a.iter().flatten().copied().collect();
                s.insert(v);
                *self = SmallSet::Heap(s);
                true
            }
            SmallSet::Heap(s) if s.len() < exact => s.insert(v),
            SmallSet::Heap(s) => {
                if s.contains(&v) {
                    return false;
                }
                let mut h = Hll::default();
                for x in s.iter() {
                    h.insert(x);
                }
                h.insert(&v);
                *self = SmallSet::Sketch(Box::new(h), s.len() + 1);
                true
            }
            SmallSet::Sketch(h, _) => {
                let new = !h.may_contain(&v);
                h.insert(&v);
                new
            }
        }
    }

    /// Adds `v` unless `cap` values are held (no sketch: the values
    /// themselves are wanted). Returns whether it was new.
    pub fn insert_upto(&mut self, v: T, cap: usize) -> bool {
        if self.len() >= cap.max(INLINE) && !self.contains(&v) {
            return false;
        }
        self.insert(v, usize::MAX)
    }

    /// Whether `v` is held (for the sketch: may have been).
    pub fn contains(&self, v: &T) -> bool {
        match self {
            SmallSet::Inline(a) => a.iter().any(|x| x.as_ref() == Some(v)),
            SmallSet::Heap(s) => s.contains(v),
            SmallSet::Sketch(h, _) => h.may_contain(v),
        }
    }

    /// Values held (for the sketch: the estimate).
    pub fn len(&self) -> usize {
        match self {
            SmallSet::Inline(a) => a.iter().filter(|x| x.is_some()).count(),
            SmallSet::Heap(s) => s.len(),
            SmallSet::Sketch(h, floor) => (h.estimate().round() as usize).max(*floor),
        }
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values held: the first few in the order they came, more in
    /// ascending order (none once a sketch counts them).
    pub fn values(&self) -> Vec<T>
    where
        T: Ord,
    {
        match self {
            SmallSet::Inline(a) => a.iter().flatten().copied().collect(),
            SmallSet::Heap(s) => {
                let mut v: Vec<T> = s.iter().copied().collect();
                v.sort_unstable();
                v
            }
            SmallSet::Sketch(..) => Vec::new(),
        }
    }

    /// Forgets everything (keeps no allocation).
    pub fn clear(&mut self) {
        *self = SmallSet::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_exactly_up_to_the_cap_then_estimates() {
        let mut s = SmallSet::default();
        for v in 0..10u16 {
            assert!(s.insert(v, 10) && !s.insert(v, 10));
        }
        for v in 10..20u16 {
            s.insert(v, 10);
            assert!(!s.insert(v, 10), "a value counted is never new again");
        }
        assert!(matches!(s, SmallSet::Sketch(..)));
        assert!((19..=22).contains(&s.len()), "{}", s.len());
        assert!((0..20u16).all(|v| s.contains(&v)));
        let mut big = SmallSet::default();
        for v in 0..60_000u32 {
            big.insert(v, 64);
        }
        let n = big.len() as f64;
        assert!((n - 60_000.0).abs() < 6_000.0, "{n}");
        s.clear();
        assert!(s.is_empty());
    }

    #[test]
    fn insert_upto_keeps_the_values_and_refuses_past_the_cap() {
        let mut s = SmallSet::default();
        for v in 0..20u16 {
            assert_eq!(s.insert_upto(v, 8), v < 8);
        }
        let mut v = s.values();
        v.sort_unstable();
        assert_eq!(v, (0..8).collect::<Vec<u16>>());
    }
}
