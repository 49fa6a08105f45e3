//! Attack heuristics: rules a person can read, with thresholds in the
//! config and an explanation in every alert.

use serde::{Deserialize, Serialize};

use crate::engine::{PacketDetector, RowDetector};

pub mod beacon;
pub mod dns;
pub mod flood;
pub mod scan;
mod portset;
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
    /// DNS tunnelling.
    pub dns: dns::Config,
    /// Connections at a regular period (beaconing).
    pub beacon: beacon::Config,
}

impl Config {
    /// Checks every threshold; the message names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        self.scan.validate()?;
        self.flood.validate()?;
        self.dns.validate()?;
        self.beacon.validate()?;
        Ok(())
    }
}

/// The packet-level heuristics the settings enable.
pub fn packet_detectors(cfg: &Config) -> Vec<Box<dyn PacketDetector>> {
    let mut v: Vec<Box<dyn PacketDetector>> = Vec::new();
    if cfg.scan.enabled {
        v.push(Box::new(scan::VerticalScan::new(&cfg.scan)));
        v.push(Box::new(scan::HorizontalSweep::new(&cfg.scan)));
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

/// The flow-level heuristics the settings enable.
pub fn row_detectors(_cfg: &Config) -> Vec<Box<dyn RowDetector>> {
    Vec::new()
}

/// Checks that a threshold is a finite number above zero.
pub(crate) fn positive(name: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("{name} must be a number above 0, not {v}"))
    }
}
