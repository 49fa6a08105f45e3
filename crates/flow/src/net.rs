//! Network prefixes for iftop's `-F net/mask` and `-G net6/mask`.

use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// A prefix that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad network '{input}': {why}")]
pub struct NetParseError {
    input: String,
    why: &'static str,
}

impl IpNet {
    /// A prefix; host bits are cleared.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then(|| IpNet {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// Whether `a` lies inside the prefix.
    pub fn contains(&self, a: IpAddr) -> bool {
        a.is_ipv4() == self.addr.is_ipv4() && mask(a, self.prefix) == self.addr
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

fn mask(a: IpAddr, prefix: u8) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix as u32)
            };
            IpAddr::V4((u32::from(v) & m).into())
        }
        IpAddr::V6(v) => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix as u32)
            };
            IpAddr::V6((u128::from(v) & m).into())
        }
    }
}

impl FromStr for IpNet {
    type Err = NetParseError;

    /// `addr/len`, `addr/dotted-mask` (IPv4, as iftop accepts) or a bare address.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| NetParseError {
            input: s.to_string(),
            why,
        };
        let (a, m) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a.trim().parse().map_err(|_| err("not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if m.is_empty() {
            max
        } else if let Ok(n) = m.parse::<u8>() {
            if n > max {
                return Err(err("prefix length too long"));
            }
            n
        } else if let (true, Ok(std::net::IpAddr::V4(mk))) = (addr.is_ipv4(), m.parse::<IpAddr>()) {
            let bits = u32::from(mk);
            let n = bits.leading_ones();
            if bits.checked_shl(n).unwrap_or(0) != 0 {
                return Err(err("mask is not contiguous"));
            }
            n as u8
        } else {
            return Err(err("mask must be a prefix length or a dotted IPv4 mask"));
        };
        Ok(IpNet {
            addr: mask(addr, prefix),
            prefix,
        })
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        let n: IpNet = "192.168.1.7/24".parse().unwrap();
        assert_eq!(n.to_string(), "192.168.1.0/24");
        assert!(n.contains("192.168.1.200".parse().unwrap()));
        assert!(!n.contains("192.168.2.1".parse().unwrap()));
        let m: IpNet = "10.0.0.0/255.255.0.0".parse().unwrap();
        assert_eq!(m.prefix(), 16);
        assert!("10.0.0.0/255.0.255.0".parse::<IpNet>().is_err());
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert!("1.2.3.4/33".parse::<IpNet>().is_err());
        assert!("nonsense".parse::<IpNet>().is_err());
        assert_eq!("1.2.3.4".parse::<IpNet>().unwrap().prefix(), 32);
        assert!("0.0.0.0/0"
            .parse::<IpNet>()
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
    }
}
