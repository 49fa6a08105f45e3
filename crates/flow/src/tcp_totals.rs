//! The TCP health of a whole table (`--tcp`): the counters of every
//! connection analysed, those still in the table and those removed (folded
//! in as they go, so the totals stay exact while the table stays bounded),
//! and the handshake RTTs in a fixed logarithmic histogram.

use crate::tcp::TcpAnalysis;

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
        let us = (nanos / 1_000).max(1) as f64;
        let bin = (us.log2() * f64::from(PER_DOUBLING)) as usize;
        self.bins[bin.min(BINS - 1)] += 1;
        self.count += 1;
        self.sum_nanos = self.sum_nanos.saturating_add(nanos);
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

/// TCP health summed over connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpTotals {
    /// Connections analysed.
    pub connections: u64,
    /// TCP flows not analysed because the table held its most analyses.
    pub unanalysed: u64,
    /// Segments analysed.
    pub packets: u64,
    /// Retransmitted segments (fast ones included).
    pub retransmissions: u64,
    /// Their payload bytes.
    pub retransmitted_bytes: u64,
    /// Fast retransmissions.
    pub fast_retransmissions: u64,
    /// Out-of-order segments.
    pub out_of_order: u64,
    /// Duplicate ACKs.
    pub duplicate_acks: u64,
    /// Segments advertising a zero window (tshark's `zero_window`).
    pub zero_window: u64,
    /// Times a receiver's window went to zero.
    pub zero_window_events: u64,
    /// Time windows spent at zero, nanoseconds.
    pub zero_window_nanos: u64,
    /// Keep-alives (not retransmissions).
    pub keep_alives: u64,
    /// Resets.
    pub resets: u64,
    /// Bytes acknowledged that the capture never saw (capture gaps, not
    /// network loss).
    pub acked_unseen_bytes: u64,
    /// Handshake RTTs at the capture point (SYN to the ACK of the SYN/ACK).
    pub handshake_rtt: RttHistogram,
    /// Their server side (SYN to SYN/ACK).
    pub server_rtt: RttHistogram,
    /// Their client side (SYN/ACK to ACK).
    pub client_rtt: RttHistogram,
    /// The smoothed RTT of each direction of each connection that has RTT
    /// samples (the capture point to that direction's receiver and back).
    pub smoothed_rtt: RttHistogram,
}

impl TcpTotals {
    /// Adds one connection's analysis.
    pub fn add(&mut self, a: &TcpAnalysis) {
        self.connections += 1;
        for dir in 0..2 {
            let c = a.counters(dir);
            self.packets += c.packets;
            self.retransmissions += c.retransmissions;
            self.retransmitted_bytes += c.retransmitted_bytes;
            self.fast_retransmissions += c.fast_retransmissions;
            self.out_of_order += c.out_of_order;
            self.duplicate_acks += c.duplicate_acks;
            self.zero_window += c.zero_window;
            self.zero_window_events += c.zero_window_events;
            self.zero_window_nanos += c.zero_window_nanos;
            self.keep_alives += c.keep_alives;
            self.resets += c.resets;
            self.acked_unseen_bytes += c.acked_unseen_bytes;
            let r = a.rtt(dir);
            if r.samples > 0 {
                self.smoothed_rtt.add(r.srtt_nanos);
            }
        }
        let h = a.handshake();
        let pairs = [
            (h.initial_nanos, &mut self.handshake_rtt),
            (h.server_nanos, &mut self.server_rtt),
            (h.client_nanos, &mut self.client_rtt),
        ];
        for (v, hist) in pairs {
            if let Some(ns) = v {
                hist.add(ns);
            }
        }
    }

    /// Adds another total.
    pub fn merge(&mut self, o: &TcpTotals) {
        self.connections += o.connections;
        self.unanalysed += o.unanalysed;
        self.packets += o.packets;
        self.retransmissions += o.retransmissions;
        self.retransmitted_bytes += o.retransmitted_bytes;
        self.fast_retransmissions += o.fast_retransmissions;
        self.out_of_order += o.out_of_order;
        self.duplicate_acks += o.duplicate_acks;
        self.zero_window += o.zero_window;
        self.zero_window_events += o.zero_window_events;
        self.zero_window_nanos += o.zero_window_nanos;
        self.keep_alives += o.keep_alives;
        self.resets += o.resets;
        self.acked_unseen_bytes += o.acked_unseen_bytes;
        self.handshake_rtt.merge(&o.handshake_rtt);
        self.server_rtt.merge(&o.server_rtt);
        self.client_rtt.merge(&o.client_rtt);
        self.smoothed_rtt.merge(&o.smoothed_rtt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_land_within_a_bin_of_the_value() {
        let mut h = RttHistogram::default();
        assert_eq!(h.quantile(0.5), None);
        for ms in [10u64, 20, 30, 40, 1_000] {
            h.add(ms * 1_000_000);
        }
        let med = h.quantile(0.5).unwrap() as f64 / 1e6;
        assert!((27.0..=33.0).contains(&med), "{med}");
        let top = h.quantile(1.0).unwrap() as f64 / 1e6;
        assert!((900.0..=1_100.0).contains(&top), "{top}");
        // Below a microsecond and beyond the last bin stay counted.
        h.add(0);
        h.add(u64::MAX);
        assert_eq!(h.count(), 7);
    }

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
}
