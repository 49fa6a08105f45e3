//! What a detector is: the two traits the engine drives ([`PacketDetector`]
//! over every packet, [`RowDetector`] over per-period flow counts) and the
//! [`FlowRow`] the second one reads. The detectors implement these and need
//! nothing from the engine that builds them.

use std::net::IpAddr;

use wirewatch_wire::Timestamp;

use crate::alert::Alert;
use crate::obs::Obs;

/// A detector that looks at every packet.
pub trait PacketDetector: Send {
    /// Its name in scores, evaluation tables and alerts.
    fn name(&self) -> &'static str;
    /// Looks at one packet and pushes any alert to `out`. Returns the
    /// packet's score: how far its entity is toward this detector's alert
    /// threshold (1.0 = at it; 0 when the packet is not the detector's
    /// business). Scores feed the evaluation harness's ROC curves.
    fn packet(&mut self, o: &Obs, out: &mut Vec<Alert>) -> f64;
    /// Drops state not touched for longer than the detector's windows, so
    /// memory follows the active entities, not everything ever seen.
    fn expire(&mut self, now: Timestamp);
    /// Entries of its per-entity state (per source, pair or host) dropped
    /// so far because its table was full.
    fn evicted(&self) -> u64;
    /// Entries of its per-entity state held now.
    fn tracked(&self) -> usize;
    /// Its state is per source and one packet of a source can never make
    /// an alert: the engine then shows it a source's first packet only
    /// when a second one comes (replayed before it, with its own time),
    /// and only the packets a port scan, sweep, password guessing or
    /// beacon is made of (TCP without ACK or RST, UDP, ICMP echo, and the
    /// SYN-ACKs and echo replies to followed sources).
    fn per_source(&self) -> bool {
        false
    }
    /// The score of `o` as its source's first packet (a new entry's
    /// score), which the engine reports for a packet it holds back
    /// ([`PacketDetector::per_source`]).
    fn first_score(&self, o: &Obs) -> f64 {
        let _ = o;
        0.0
    }
}

/// Traffic of one conversation over one period, with its process when
/// known: what the flow-level detectors (baselines, exfiltration, new
/// destinations) learn from.
#[derive(Clone, Copy, Debug)]
pub struct FlowRow<'a> {
    /// A time inside the period the counts belong to.
    pub ts: Timestamp,
    /// Interface name.
    pub iface: &'a str,
    /// The local (or initiating) end.
    pub local: IpAddr,
    /// The remote end.
    pub remote: IpAddr,
    /// Local port.
    pub local_port: u16,
    /// Remote port.
    pub remote_port: u16,
    /// IP protocol.
    pub protocol: u8,
    /// Owning process's command name, when known.
    pub process: Option<&'a str>,
    /// Bytes local → remote.
    pub bytes_out: u64,
    /// Bytes remote → local.
    pub bytes_in: u64,
    /// Packets local → remote.
    pub packets_out: u64,
    /// Packets remote → local.
    pub packets_in: u64,
    /// TCP health of the period (`--tcp`; zero otherwise).
    pub tcp: RowTcp,
}

/// A period's TCP figures, `[out, in]`: segments retransmitted by the
/// local end and by the remote end, and the RTT samples taken on each
/// end's segments with their sum in µs (out: the path from the capture
/// point to the remote end and back; in: to the local end and back).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowTcp {
    /// Segments retransmitted.
    pub retrans: [u64; 2],
    /// RTT samples.
    pub rtt_samples: [u64; 2],
    /// Their sum, µs.
    pub rtt_sum_us: [u64; 2],
}

impl RowTcp {
    /// Nothing measured.
    pub fn is_empty(&self) -> bool {
        *self == RowTcp::default()
    }

    /// Adds another period's figures.
    pub fn add(&mut self, o: &RowTcp) {
        for k in 0..2 {
            self.retrans[k] += o.retrans[k];
            self.rtt_samples[k] += o.rtt_samples[k];
            self.rtt_sum_us[k] += o.rtt_sum_us[k];
        }
    }
}

/// A detector that learns from per-period flow counts.
pub trait RowDetector: Send {
    /// Its name in alerts.
    fn name(&self) -> &'static str;
    /// Takes the counts of one period (rows may come in several batches
    /// for one period; `now` never goes backwards).
    fn rows(&mut self, now: Timestamp, rows: &[FlowRow], out: &mut Vec<Alert>);
    /// The clock moved to `now` without rows (closes periods).
    fn advance(&mut self, now: Timestamp, out: &mut Vec<Alert>);

    /// Entries of its per-entity state dropped or refused so far because
    /// its table was full (0 for a detector whose state does not grow
    /// with the traffic).
    fn evicted(&self) -> u64 {
        0
    }
    /// Entries of its per-entity state held now (0 for one whose state
    /// does not grow with the traffic).
    fn tracked(&self) -> usize {
        0
    }
}
