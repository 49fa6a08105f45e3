//! Network interfaces: listing, state, and the default-route choice.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One network interface as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Name (`eth0`).
    pub name: String,
    /// Kernel index.
    pub index: u32,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Carrier present (IFF_RUNNING).
    pub running: bool,
    /// Loopback (IFF_LOOPBACK).
    pub loopback: bool,
    /// RFC 2863 operational state from sysfs (`up`, `down`, `unknown`, …).
    pub operstate: String,
    /// Addresses with their prefix lengths.
    pub addrs: Vec<(IpAddr, u8)>,
    /// MTU in bytes, when known.
    pub mtu: Option<u32>,
    /// Link speed in Mbit/s, when the driver reports one.
    pub speed_mbps: Option<u64>,
    /// Hardware address, when it has one.
    pub mac: Option<[u8; 6]>,
}

impl Interface {
    /// Human state: `up`, `up (no carrier)` or `down`.
    pub fn state(&self) -> &'static str {
        match (self.up, self.running) {
            (true, true) => "up",
            (true, false) => "up (no carrier)",
            (false, _) => "down",
        }
    }
}

/// The link speed the driver reports, bit/s (none for virtual links,
/// links that are down, or an unknown interface).
pub fn link_speed(name: &str) -> Option<f64> {
    let mbps: i64 = sys_read(name, "speed")?.parse().ok()?;
    (mbps > 0).then_some(mbps as f64 * 1e6)
}

fn sys_read(name: &str, attr: &str) -> Option<String> {
    fs::read_to_string(format!("/sys/class/net/{name}/{attr}"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn prefix_len(mask: &IpAddr) -> u8 {
    match mask {
        IpAddr::V4(m) => u32::from(*m).count_ones() as u8,
        IpAddr::V6(m) => u128::from(*m).count_ones() as u8,
    }
}

/// # Safety
/// `sa` must be null or point to a socket address valid for its family.
unsafe fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees `sa` points to a sockaddr; the family
    // field says which larger struct it really is.
    unsafe {
        match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = &*(sa as *const libc::sockaddr_in);
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    sin.sin_addr.s_addr,
                ))))
            }
            libc::AF_INET6 => {
                let sin6 = &*(sa as *const libc::sockaddr_in6);
                Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
            }
            _ => None,
        }
    }
}

/// Every interface of this network namespace, in index order.
pub fn list_interfaces() -> io::Result<Vec<Interface>> {
    let mut by_name: BTreeMap<String, Interface> = BTreeMap::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned; it stays
        // valid until freeifaddrs.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let flags = ifa.ifa_flags;
        let entry = by_name.entry(name.clone()).or_insert_with(|| Interface {
            name,
            index: 0,
            up: flags & libc::IFF_UP as u32 != 0,
            running: flags & libc::IFF_RUNNING as u32 != 0,
            loopback: flags & libc::IFF_LOOPBACK as u32 != 0,
            operstate: String::new(),
            addrs: Vec::new(),
            mtu: None,
            speed_mbps: None,
            mac: None,
        });
        if ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: non-null ifa_addr points to a sockaddr of its family.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        if family == libc::AF_PACKET {
            // SAFETY: an AF_PACKET address is a sockaddr_ll.
            let ll = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_ll) };
            entry.index = ll.sll_ifindex as u32;
            if ll.sll_halen == 6 {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&ll.sll_addr[..6]);
                entry.mac = Some(mac);
            }
        } else {
            // SAFETY: both pointers come from getifaddrs for this family.
            let (addr, mask) = unsafe { (sockaddr_ip(ifa.ifa_addr), sockaddr_ip(ifa.ifa_netmask)) };
            if let Some(a) = addr {
                let plen =
                    mask.map(|m| prefix_len(&m))
                        .unwrap_or(if a.is_ipv4() { 32 } else { 128 });
                entry.addrs.push((a, plen));
            }
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };

    let mut out: Vec<Interface> = by_name.into_values().collect();
    for i in &mut out {
        if i.index == 0 {
            i.index = sys_read(&i.name, "ifindex")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
        }
        i.operstate = sys_read(&i.name, "operstate").unwrap_or_else(|| "unknown".into());
        i.mtu = sys_read(&i.name, "mtu").and_then(|s| s.parse().ok());
        // Virtual devices and links without carrier report -1 or EINVAL.
        i.speed_mbps = sys_read(&i.name, "speed")
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|&s| s > 0)
            .map(|s| s as u64);
        if i.mac == Some([0; 6]) {
            i.mac = None;
        }
    }
    out.sort_by_key(|i| i.index);
    Ok(out)
}

/// Why an interface was chosen when the user named none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DefaultChoice {
    /// It carries the IPv4 default route.
    Ipv4DefaultRoute(String),
    /// It carries the IPv6 default route (no IPv4 one).
    Ipv6DefaultRoute(String),
    /// No default route: the first interface that is up and not loopback.
    FirstUp(String),
}

impl DefaultChoice {
    /// The chosen interface name.
    pub fn name(&self) -> &str {
        match self {
            DefaultChoice::Ipv4DefaultRoute(n)
            | DefaultChoice::Ipv6DefaultRoute(n)
            | DefaultChoice::FirstUp(n) => n,
        }
    }

    /// Why, in words.
    pub fn reason(&self) -> &'static str {
        match self {
            DefaultChoice::Ipv4DefaultRoute(_) => "it carries the IPv4 default route",
            DefaultChoice::Ipv6DefaultRoute(_) => "it carries the IPv6 default route",
            DefaultChoice::FirstUp(_) => {
                "there is no default route and it is the first interface that is up"
            }
        }
    }
}

const RTF_UP: u32 = 0x0001;
const RTF_REJECT: u32 = 0x0200;

/// The interface of the best IPv4 default route in `/proc/net/route` text.
pub fn ipv4_default_route(route_table: &str) -> Option<String> {
    let mut best: Option<(u32, String)> = None;
    for line in route_table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let hex = |s: &str| u32::from_str_radix(s, 16).ok();
        let (Some(dest), Some(flags), Some(mask)) = (hex(f[1]), hex(f[3]), hex(f[7])) else {
            continue;
        };
        let metric: u32 = f[6].parse().unwrap_or(u32::MAX);
        if dest == 0
            && mask == 0
            && flags & RTF_UP != 0
            && flags & RTF_REJECT == 0
            && best.as_ref().is_none_or(|(m, _)| metric < *m)
        {
            best = Some((metric, f[0].to_string()));
        }
    }
    best.map(|(_, n)| n)
}

/// The interface of the best IPv6 default route in `/proc/net/ipv6_route` text.
pub fn ipv6_default_route(route_table: &str) -> Option<String> {
    let mut best: Option<(u32, String)> = None;
    for line in route_table.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 {
            continue;
        }
        let dest_zero = f[0].chars().all(|c| c == '0');
        let plen = u32::from_str_radix(f[1], 16).unwrap_or(1);
        let metric = u32::from_str_radix(f[5], 16).unwrap_or(u32::MAX);
        let flags = u32::from_str_radix(f[8], 16).unwrap_or(0);
        let name = f[9];
        if dest_zero
            && plen == 0
            && flags & RTF_UP != 0
            && flags & RTF_REJECT == 0
            && name != "lo"
            && best.as_ref().is_none_or(|(m, _)| metric < *m)
        {
            best = Some((metric, name.to_string()));
        }
    }
    best.map(|(_, n)| n)
}

/// Chooses the interface to watch when none was named: the one carrying the
/// IPv4 default route, else the IPv6 one, else the first up non-loopback
/// interface. `None` when nothing qualifies.
pub fn default_interface(ifaces: &[Interface]) -> Option<DefaultChoice> {
    let exists = |n: &String| ifaces.iter().any(|i| &i.name == n);
    if let Some(n) = fs::read_to_string("/proc/net/route")
        .ok()
        .and_then(|t| ipv4_default_route(&t))
        .filter(exists)
    {
        return Some(DefaultChoice::Ipv4DefaultRoute(n));
    }
    if let Some(n) = fs::read_to_string("/proc/net/ipv6_route")
        .ok()
        .and_then(|t| ipv6_default_route(&t))
        .filter(exists)
    {
        return Some(DefaultChoice::Ipv6DefaultRoute(n));
    }
    first_up(ifaces).map(DefaultChoice::FirstUp)
}

/// The first interface, in index order, that is up and not loopback;
/// one with carrier wins over one without.
pub fn first_up(ifaces: &[Interface]) -> Option<String> {
    let up = || ifaces.iter().filter(|i| i.up && !i.loopback);
    up().find(|i| i.running)
        .or_else(|| up().next())
        .map(|i| i.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_default_route_lowest_metric_wins() {
        let t =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                 wlan0\t00000000\t0102A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n\
                 eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
                 eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(ipv4_default_route(t).as_deref(), Some("eth0"));
        let none = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n\
                    eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\n";
        assert_eq!(ipv4_default_route(none), None);
        // A route that is not up does not count.
        let down = "h\neth0\t00000000\t0101A8C0\t0000\t0\t0\t100\t00000000\n";
        assert_eq!(ipv4_default_route(down), None);
    }

    #[test]
    fn ipv6_default_route_skips_reject_routes_on_lo() {
        let t = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n\
                 fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth1\n\
                 00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003     eth1\n";
        assert_eq!(ipv6_default_route(t).as_deref(), Some("eth1"));
    }

    fn iface(name: &str, index: u32, up: bool, running: bool, lo: bool) -> Interface {
        Interface {
            name: name.into(),
            index,
            up,
            running,
            loopback: lo,
            operstate: String::new(),
            addrs: vec![],
            mtu: None,
            speed_mbps: None,
            mac: None,
        }
    }

    #[test]
    fn first_up_skips_loopback_and_prefers_carrier() {
        let l = vec![
            iface("lo", 1, true, true, true),
            iface("eth0", 2, false, false, false),
            iface("eth1", 3, true, false, false),
            iface("eth2", 4, true, true, false),
        ];
        assert_eq!(first_up(&l).as_deref(), Some("eth2"));
        assert_eq!(first_up(&l[..3]).as_deref(), Some("eth1"));
        assert_eq!(first_up(&l[..2]), None);
    }

    #[test]
    fn listing_includes_loopback() {
        let l = list_interfaces().expect("getifaddrs");
        let lo = l.iter().find(|i| i.loopback).expect("a loopback interface");
        assert!(lo.index > 0);
        assert!(lo.mtu.is_some());
    }
}
