//! Automated responses to alerts: a policy (`[respond]`) maps alerts to
//! actions; a guard refuses addresses that must never be blocked; blocks
//! go into an nftables table of our own (`inet wirewatch`) with their
//! expiry in the kernel; exec and webhook hooks run off the packet thread.
//! Every decision, enforced, dry-run or refused, is audited in the history
//! database. docs/RESPONSE.md has the user's side.
#![forbid(unsafe_code)]

pub mod guard;

use std::fmt;
use std::net::IpAddr;

pub use wirewatch_flow::IpNet;

/// What a block applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// Traffic from these addresses (input, and forward when enabled).
    Source(IpNet),
    /// Traffic to this address (output, and forward when enabled); with a
    /// port, only to that TCP/UDP port.
    Destination {
        /// The address.
        addr: IpAddr,
        /// The TCP or UDP destination port, when the block is that narrow.
        port: Option<u16>,
    },
}

impl Target {
    /// The address (or the network's first address) the target names.
    pub fn addr(&self) -> IpAddr {
        match self {
            Target::Source(n) => n.addr(),
            Target::Destination { addr, .. } => *addr,
        }
    }

    /// Whether it is IPv6.
    pub fn is_v6(&self) -> bool {
        self.addr().is_ipv6()
    }
}

impl fmt::Display for Target {
    /// `from 10.0.0.0/24`, `from 10.1.2.3`, `to 192.0.2.7:443`, `to 2001:db8::1`,
    /// `to [2001:db8::1]:443`: the form `respond add|remove` read back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Source(n) if n.prefix() == full_prefix(n.addr()) => {
                write!(f, "from {}", n.addr())
            }
            Target::Source(n) => write!(f, "from {n}"),
            Target::Destination { addr, port: None } => write!(f, "to {addr}"),
            Target::Destination {
                addr: IpAddr::V4(a),
                port: Some(p),
            } => write!(f, "to {a}:{p}"),
            Target::Destination {
                addr: IpAddr::V6(a),
                port: Some(p),
            } => write!(f, "to [{a}]:{p}"),
        }
    }
}

/// 32 for IPv4, 128 for IPv6.
pub fn full_prefix(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}
