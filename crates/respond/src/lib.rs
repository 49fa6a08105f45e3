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

pub mod hooks;
pub mod nft;

pub use wirewatch_flow::IpNet;

pub mod audit;
pub mod decide;
pub mod policy;
pub mod responder;

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

impl std::str::FromStr for Target {
    type Err = String;

    /// What [`Target`]'s `Display` writes: `from ADDR[/PREFIX]`,
    /// `to ADDR`, `to ADDR:PORT`, `to [ADDR6]:PORT`.
    fn from_str(s: &str) -> Result<Target, String> {
        let s = s.trim();
        if let Some(net) = s.strip_prefix("from ") {
            return parse_source(net.trim()).map(Target::Source);
        }
        let Some(rest) = s.strip_prefix("to ") else {
            return Err(format!(
                "'{s}' is not a block (from ADDR[/PREFIX] or to ADDR[:PORT])"
            ));
        };
        parse_destination(rest.trim(), None)
    }
}

/// `ADDR` or `ADDR/PREFIX` as a source block.
pub fn parse_source(s: &str) -> Result<IpNet, String> {
    if s.contains('/') {
        let net: IpNet = s.parse().map_err(|e| format!("'{s}': {e}"))?;
        if net.to_string() != s {
            return Err(format!(
                "'{s}' has host bits set past its prefix (the network is {net})"
            ));
        }
        return Ok(net);
    }
    let ip: IpAddr = s
        .parse()
        .map_err(|_| format!("'{s}' is not an IP address or network"))?;
    Ok(IpNet::new(ip, full_prefix(ip)).expect("a full prefix is valid"))
}

/// `ADDR`, `ADDR:PORT` or `[ADDR6]:PORT` (or `ADDR` with `port`) as a
/// destination block.
pub fn parse_destination(s: &str, port: Option<u16>) -> Result<Target, String> {
    let bad = || format!("'{s}' is not an address, ADDR:PORT or [ADDR6]:PORT");
    let (addr, written_port) = if let Ok(ip) = s.parse::<IpAddr>() {
        (ip, None)
    } else if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        (sa.ip(), Some(sa.port()))
    } else {
        return Err(bad());
    };
    if written_port == Some(0) || port == Some(0) {
        return Err(format!("'{s}': port 0 cannot be blocked"));
    }
    Ok(Target::Destination {
        addr,
        port: written_port.or(port),
    })
}

/// 32 for IPv4, 128 for IPv6.
pub fn full_prefix(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

/// Alerts for the crate's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use wirewatch_detect::{Alert, Entity, Evidence, Kind, Severity};
    use wirewatch_units::Timestamp;

    /// `t` seconds after a fixed instant (2027-01-15T08:00:00Z).
    pub fn at(t: i64) -> Timestamp {
        Timestamp::from_nanos(1_800_000_000_000_000_000 + t * 1_000_000_000)
    }

    /// A high vertical scan from `src` to 10.0.0.1 at `at(t)`.
    pub fn scan(src: &str, t: i64) -> Alert {
        Alert {
            time: at(t),
            kind: Kind::VerticalScan,
            severity: Severity::High,
            entity: Entity::Pair {
                src: src.parse().unwrap(),
                dst: "10.0.0.1".parse().unwrap(),
            },
            summary: String::new(),
            evidence: Evidence::default(),
            action: String::new(),
            detector: "vertical_scan".into(),
            suppressed: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_back_what_they_print() {
        for s in [
            "from 198.51.100.7",
            "from 10.1.0.0/16",
            "from 2001:db8::/48",
            "from 2001:db8::1",
            "to 192.0.2.9",
            "to 192.0.2.9:443",
            "to [2001:db8::9]:53",
            "to 2001:db8::9",
        ] {
            let t: Target = s.parse().unwrap();
            assert_eq!(t.to_string(), s);
        }
        assert!("from 10.0.0.1/24"
            .parse::<Target>()
            .unwrap_err()
            .contains("host bits"));
        assert!("at 10.0.0.1".parse::<Target>().is_err());
        assert!("to 10.0.0.1:0".parse::<Target>().is_err());
        assert!("from 10.0.0.300".parse::<Target>().is_err());
        assert_eq!(
            parse_destination("192.0.2.9", Some(22))
                .unwrap()
                .to_string(),
            "to 192.0.2.9:22"
        );
    }
}
