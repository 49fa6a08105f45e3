//! Small fixed-size sketches for state that an attack would otherwise
//! grow without limit: a HyperLogLog (how many distinct values, in a few
//! hundred bytes whatever their number) and a count-min sketch (sums per
//! key, never below the true sum, for keys too many to keep one by one).
//!
//! Both hash with [`crate::Map`]'s fixed seed, so a capture gives the same
//! estimates on every run.

use std::hash::{BuildHasher, Hash};

use foldhash::fast::FixedState;

/// Registers of a [`Hll`] as a power of two: 2^9 = 512 one-byte registers,
/// a relative standard error of 1.04 / √512 ≈ 4.6 %.
const HLL_BITS: u32 = 9;
const HLL_REGISTERS: usize = 1 << HLL_BITS;

/// Seeds of the sketches' hash functions (arbitrary odd constants).
const SEEDS: [u64; 4] = [
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0x27D4_EB2F_1656_67C5,
];

/// `v`'s hash under `seed`, finished with SplitMix64's mixer: the
/// sketches read the top bits, and a hash-table hash need not spread
/// small integers over them.
fn hash_with<T: Hash>(seed: u64, v: &T) -> u64 {
    let mut z = FixedState::with_seed(seed).hash_one(v);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A HyperLogLog counter of distinct values (Flajolet et al. 2007, with
/// linear counting for small numbers).
#[derive(Clone, Debug)]
pub struct Hll {
    registers: Box<[u8; HLL_REGISTERS]>,
    /// The estimate since the registers last changed (a scan's or a
    /// flood's set is asked for its size at every packet, and past the
    /// first few hundred values its registers seldom change).
    estimate: std::cell::Cell<Option<f64>>,
}

impl Default for Hll {
    fn default() -> Self {
        Hll {
            registers: Box::new([0; HLL_REGISTERS]),
            estimate: std::cell::Cell::new(None),
        }
    }
}

/// The register a value lands in and its rank there (1 + leading zeros
/// of the rest of the hash).
fn hll_slot<T: Hash>(v: &T) -> (usize, u8) {
    let h = hash_with(SEEDS[0], v);
    let idx = (h >> (64 - HLL_BITS)) as usize;
    let rest = (h << HLL_BITS) | (1 << (HLL_BITS - 1));
    (idx, rest.leading_zeros() as u8 + 1)
}

/// 2^-r, exactly (what `exp2(-r)` gives), from its bits: the estimate is
/// asked for on every packet of a large scan.
fn inverse_power_of_two(r: u8) -> f64 {
    f64::from_bits((1023 - u64::from(r)) << 52)
}

impl Hll {
    /// Counts `v` (again or for the first time: the same either way).
    pub fn insert<T: Hash>(&mut self, v: &T) {
        let (i, r) = hll_slot(v);
        if self.registers[i] < r {
            self.registers[i] = r;
            self.estimate.set(None);
        }
    }

    /// Whether `v` may have been counted: never `false` for a value that
    /// was, sometimes `true` for one that was not (a one-hash Bloom test
    /// on the registers).
    pub fn may_contain<T: Hash>(&self, v: &T) -> bool {
        let (i, r) = hll_slot(v);
        self.registers[i] >= r
    }

    /// The estimated number of distinct values counted.
    pub fn estimate(&self) -> f64 {
        if let Some(e) = self.estimate.get() {
            return e;
        }
        let e = self.compute();
        self.estimate.set(Some(e));
        e
    }

    /// [`Hll::estimate`] from the registers.
    fn compute(&self) -> f64 {
        let m = HLL_REGISTERS as f64;
        let mut sum = 0.0;
        let mut zeros = 0usize;
        for &r in self.registers.iter() {
            sum += inverse_power_of_two(r);
            zeros += usize::from(r == 0);
        }
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        }
    }
}

/// Rows of a [`CountMin`]: the chance that an estimate is off by more
/// than e/width of the total is at most e^-DEPTH (≈ 2 %).
const CM_DEPTH: usize = 4;

/// A count-min sketch: per-key sums in `DEPTH × width` counters. An
/// estimate is never below the key's true sum and exceeds it by at most
/// e/width of everything added, with high probability.
#[derive(Clone, Debug)]
pub struct CountMin {
    width: usize,
    counts: Box<[u64]>,
    total: u64,
}

impl CountMin {
    /// A sketch `width` counters wide (at least 1).
    pub fn new(width: usize) -> CountMin {
        let width = width.max(1);
        CountMin {
            width,
            counts: vec![0; width * CM_DEPTH].into_boxed_slice(),
            total: 0,
        }
    }

    fn cells<T: Hash>(&self, k: &T) -> [usize; CM_DEPTH] {
        let mut c = [0; CM_DEPTH];
        for (row, (cell, seed)) in c.iter_mut().zip(SEEDS).enumerate() {
            *cell = row * self.width + (hash_with(seed, k) % self.width as u64) as usize;
        }
        c
    }

    /// Adds `n` to `k`'s sum; returns its new estimate. Conservative
    /// update: a counter is raised only as far as the new estimate, which
    /// keeps estimates closer without ever going below the true sum.
    pub fn add<T: Hash>(&mut self, k: &T, n: u64) -> u64 {
        self.total = self.total.saturating_add(n);
        let cells = self.cells(k);
        let est = cells
            .iter()
            .map(|&i| self.counts[i])
            .min()
            .unwrap_or(0)
            .saturating_add(n);
        for i in cells {
            self.counts[i] = self.counts[i].max(est);
        }
        est
    }

    /// `k`'s estimated sum.
    pub fn estimate<T: Hash>(&self, k: &T) -> u64 {
        self.cells(k)
            .into_iter()
            .map(|i| self.counts[i])
            .min()
            .unwrap_or(0)
    }

    /// Everything added.
    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_two_from_bits_are_exp2s() {
        for r in 0..=u8::MAX {
            assert_eq!(inverse_power_of_two(r), (-f64::from(r)).exp2(), "{r}");
        }
    }

    #[test]
    fn hll_estimates_within_a_few_percent() {
        for n in [10u32, 1_000, 100_000, 1_000_000] {
            let mut h = Hll::default();
            for v in 0..n {
                h.insert(&v);
                h.insert(&v); // repeats change nothing
            }
            let e = h.estimate();
            let err = (e - f64::from(n)).abs() / f64::from(n);
            assert!(err < 0.15, "{n} distinct estimated {e}");
        }
        assert_eq!(Hll::default().estimate(), 0.0);
    }

    #[test]
    fn hll_never_forgets_a_value_it_counted() {
        let mut h = Hll::default();
        for v in 0..5_000u32 {
            h.insert(&v);
        }
        assert!((0..5_000u32).all(|v| h.may_contain(&v)));
        let fresh = Hll::default();
        assert!(!(0..100u32).any(|v| fresh.may_contain(&v)));
    }

    #[test]
    fn count_min_never_underestimates_and_keeps_heavy_keys_close() {
        let mut c = CountMin::new(256);
        for k in 0..50_000u32 {
            c.add(&k, 10);
        }
        c.add(&7u32, 1_000_000);
        assert_eq!(c.total(), 50_000 * 10 + 1_000_000);
        for k in (0..50_000u32).step_by(97) {
            assert!(c.estimate(&k) >= 10);
        }
        let heavy = c.estimate(&7u32);
        // Off by at most e/width of the total (≈ 16 k here), at worst.
        assert!((1_000_010..1_000_010 + 16_000).contains(&heavy), "{heavy}");
    }
}
