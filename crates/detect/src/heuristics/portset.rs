//! A small set of 16-bit values (ports, or host ids): inline up to a
//! few, a hash set past that, capped so one entity's memory is bounded.

use crate::Set;

const INLINE: usize = 6;

/// Distinct values seen, up to a cap.
#[derive(Clone, Debug)]
pub enum SmallSet<T: Copy + Eq + std::hash::Hash> {
    /// Few values, no allocation.
    Inline([Option<T>; INLINE]),
    /// Many values.
    Heap(Set<T>),
}

impl<T: Copy + Eq + std::hash::Hash> Default for SmallSet<T> {
    fn default() -> Self {
        SmallSet::Inline([None; INLINE])
    }
}

impl<T: Copy + Eq + std::hash::Hash> SmallSet<T> {
    /// Adds `v` unless `cap` values are held. Returns whether it was new.
    pub fn insert(&mut self, v: T, cap: usize) -> bool {
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
            SmallSet::Heap(s) => s.len() < cap && s.insert(v),
        }
    }

    /// Whether `v` is held.
    pub fn contains(&self, v: &T) -> bool {
        match self {
            SmallSet::Inline(a) => a.iter().any(|x| x.as_ref() == Some(v)),
            SmallSet::Heap(s) => s.contains(v),
        }
    }

    /// Values held.
    pub fn len(&self) -> usize {
        match self {
            SmallSet::Inline(a) => a.iter().filter(|x| x.is_some()).count(),
            SmallSet::Heap(s) => s.len(),
        }
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    fn counts_distinct_values_up_to_the_cap() {
        let mut s = SmallSet::default();
        for v in 0..20u16 {
            assert!(s.insert(v, 10) == (v < 10));
            assert!(!s.insert(v, 10));
        }
        assert_eq!(s.len(), 10);
        assert!(s.contains(&3) && !s.contains(&15));
        s.clear();
        assert!(s.is_empty());
    }
}
