//! The TCP health of a whole table (`--tcp`): the counters of every
//! connection analysed, those still in the table and those removed (folded
//! in as they go, so the totals stay exact while the table stays bounded),
//! and the handshake RTTs in a fixed logarithmic histogram.

use crate::tcp::TcpAnalysis;

pub use wirewatch_units::RttHistogram;

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
}
