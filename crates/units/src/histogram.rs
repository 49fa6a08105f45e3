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
}

impl Default for RttHistogram {
    fn default() -> Self {
        RttHistogram {
            bins: [0; BINS],
            count: 0,
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
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, o: &RttHistogram) {
        for (a, b) in self.bins.iter_mut().zip(&o.bins) {
            *a += b;
        }
        self.count += o.count;
    }

    /// RTTs counted.
    pub fn count(&self) -> u64 {
        self.count
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
