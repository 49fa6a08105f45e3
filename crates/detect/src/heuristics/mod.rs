//! Attack heuristics: rules a person can read, with thresholds in the
//! config and an explanation in every alert.

use serde::{Deserialize, Serialize};

use crate::detector::{PacketDetector, RowDetector};

pub mod beacon;
pub mod dns;
pub mod flood;
pub mod flows;
mod portset;
pub mod scan;
pub mod tcp;
mod window;

pub use portset::SmallSet;

pub use window::Window;

/// Thresholds of every heuristic (`[detect.heuristics.*]`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Vertical port scans and horizontal sweeps.
    pub scan: scan::Config,
    /// SYN, UDP and ICMP floods and reflection/amplification.
    pub flood: flood::Config,
    /// Exfiltration.
    pub exfil: flows::ExfilConfig,
    /// New destinations of processes.
    pub new_destination: flows::NewDestConfig,
    /// DNS tunnelling.
    pub dns: dns::Config,
    /// Connections at a regular period (beaconing).
    pub beacon: beacon::Config,
    /// TCP retransmissions and RTT against their baselines (`--tcp`).
    pub tcp_degradation: tcp::Config,
}

impl Config {
    /// Checks every threshold; the message names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        self.scan.validate()?;
        self.flood.validate()?;
        self.exfil.validate()?;
        self.new_destination.validate()?;
        self.dns.validate()?;
        self.beacon.validate()?;
        self.tcp_degradation.validate()?;
        Ok(())
    }
}

/// The packet-level heuristics the settings enable.
pub fn packet_detectors(cfg: &Config) -> Vec<Box<dyn PacketDetector>> {
    let mut v: Vec<Box<dyn PacketDetector>> = Vec::new();
    if cfg.scan.enabled {
        v.push(Box::new(scan::VerticalScan::new(&cfg.scan)));
        v.push(Box::new(scan::HorizontalSweep::new(&cfg.scan)));
        v.push(Box::new(scan::BruteForce::new(&cfg.scan)));
    }
    if cfg.flood.enabled {
        v.push(Box::new(flood::SynFlood::new(&cfg.flood)));
        v.push(Box::new(flood::UdpFlood::new(&cfg.flood)));
        v.push(Box::new(flood::IcmpFlood::new(&cfg.flood)));
        v.push(Box::new(flood::Amplification::new(&cfg.flood)));
    }
    if cfg.dns.enabled {
        v.push(Box::new(dns::DnsTunnel::new(&cfg.dns)));
    }
    if cfg.beacon.enabled {
        v.push(Box::new(beacon::Beaconing::new(&cfg.beacon)));
    }
    v
}

/// The flow-level heuristics the settings enable, but exfiltration and TCP
/// degradation (the engine keeps those apart: they are warm-started from
/// history).
pub fn row_detectors(cfg: &Config) -> Vec<Box<dyn RowDetector>> {
    let mut v: Vec<Box<dyn RowDetector>> = Vec::new();
    if cfg.new_destination.enabled {
        v.push(Box::new(flows::NewDestination::new(&cfg.new_destination)));
    }
    v
}

/// Checks that a threshold is a finite number above zero.
pub(crate) fn positive(name: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("{name} must be a number above 0, not {v}"))
    }
}
