//! A fixed logarithmic histogram of round-trip times: bounded memory,
//! mergeable, quantiles within ±9 %. Flow analysis counts handshakes in
//! it; history queries fold per-minute RTTs into one per bucket.

/// Histogram bins per doubling of the RTT.
const PER_DOUBLING: u32 = 4;
/// Bins: from 1 µs up to about 2^27 µs (134 s); longer go in the last.
const BINS: usize = 28 * PER_DOUBLING as usize;

/// Handshake RTTs counted in logarithmic bins (quantiles within ±9 %).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RttHistogram {
    bins: [u64; BINS],
    count: u64,
    /// The RTTs added up, nanoseconds (a Prometheus histogram's `_sum`).
    sum_nanos: u64,
}

impl Default for RttHistogram {
    fn default() -> Self {
        RttHistogram {
            bins: [0; BINS],
            count: 0,
            sum_nanos: 0,
        }
    }
}

impl RttHistogram {
    /// Counts one RTT.
    pub fn add(&mut self, nanos: u64) {
        self.add_n(nanos, 1);
    }

    /// Counts `n` RTTs of `nanos` each.
    pub fn add_n(&mut self, nanos: u64, n: u64) {
        let us = (nanos / 1_000).max(1) as f64;
        let bin = (us.log2() * f64::from(PER_DOUBLING)) as usize;
        self.bins[bin.min(BINS - 1)] += n;
        self.count += n;
        self.sum_nanos = self.sum_nanos.saturating_add(nanos.saturating_mul(n));
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, o: &RttHistogram) {
        for (a, b) in self.bins.iter_mut().zip(&o.bins) {
            *a += b;
        }
        self.count += o.count;
        self.sum_nanos = self.sum_nanos.saturating_add(o.sum_nanos);
    }

    /// RTTs counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The RTTs counted, added up, nanoseconds.
    pub fn sum_nanos(&self) -> u64 {
        self.sum_nanos
    }

    /// RTTs of the bins whose upper edge is at most `le_nanos`: every one
    /// of them is at most `le_nanos`, and those of the bin that straddles
    /// it count only under a larger bound (a cumulative bucket of a
    /// Prometheus histogram, exact to one bin).
    pub fn count_at_most(&self, le_nanos: u64) -> u64 {
        self.bins[..BINS - 1]
            .iter()
            .enumerate()
            .take_while(|(i, _)| {
                let upper_us = ((*i + 1) as f64 / f64::from(PER_DOUBLING)).exp2();
                upper_us * 1_000.0 <= le_nanos as f64
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// The `q` quantile (0..=1) in nanoseconds: the geometric middle of
    /// its bin; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.bins.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let mid = (i as f64 + 0.5) / f64::from(PER_DOUBLING);
                return Some((mid.exp2() * 1_000.0).round() as u64);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_counts_never_overstate_and_keep_a_sum() {
        let mut h = RttHistogram::default();
        for ms in [1u64, 9, 10, 11, 50, 200] {
            h.add(ms * 1_000_000);
        }
        assert_eq!(h.sum_nanos(), 281_000_000);
        let at_most = |ms: u64| h.count_at_most(ms * 1_000_000);
        // 10 ms and 11 ms share the bin from 9.7 to 11.6 ms: both count
        // under 25 ms, neither under 10 ms.
        assert_eq!(at_most(10), 2);
        assert_eq!(at_most(25), 4);
        assert_eq!(at_most(100), 5);
        assert_eq!(h.count_at_most(u64::MAX), 6);
        let bounds: Vec<u64> = [0u64, 1, 5, 10, 25, 50, 100, 250, 1_000]
            .map(at_most)
            .to_vec();
        assert!(bounds.windows(2).all(|w| w[0] <= w[1]), "{bounds:?}");
        let mut other = RttHistogram::default();
        other.add(3_000_000);
        h.merge(&other);
        assert_eq!((h.count(), h.sum_nanos()), (7, 284_000_000));
    }

    #[test]
    fn many_at_once_add_to_the_sum_as_one_by_one() {
        let (mut a, mut b) = (RttHistogram::default(), RttHistogram::default());
        a.add_n(5_000_000, 3);
        for _ in 0..3 {
            b.add(5_000_000);
        }
        assert_eq!(a, b);
        assert_eq!(a.sum_nanos(), 15_000_000);
    }
}
