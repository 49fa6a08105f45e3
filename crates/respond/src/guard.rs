//! The never-block guard: before any block is placed, [`Protected::check`]
//! refuses targets whose blocking would cut this host off — its own
//! addresses, its gateways, its DNS resolvers, loopback, link-local,
//! multicast and broadcast, the peers of established SSH sessions, the
//! user's allow-list — and source blocks so wide they are surely a mistake.
//!
//! A target is refused when it *overlaps* a protected address or network
//! either way: a `/24` that covers the gateway is refused as the gateway
//! itself is, and so is a single address inside an allow-listed network.
//! IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) count as the IPv4 address.
//!
//! The fixed part ([`Protected`]) is read from the system by
//! [`Protected::load`] and again by [`Protected::refresh`] when addresses
//! and routes change; the SSH peers ([`SshPeers`]) are asked of the kernel
//! at every decision. The parsers of `/proc/net/route`,
//! `/proc/net/ipv6_route` and `resolv.conf` are pure functions over text
//! that skip what they do not understand.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wirewatch_procs::EstablishedTcp;
use wirewatch_units::{Clock, Timestamp};

use crate::{IpNet, Target};

/// The widest IPv4 source block allowed: a shorter prefix is refused.
pub const WIDEST_SOURCE_V4: u8 = 16;
/// The widest IPv6 source block allowed: a shorter prefix is refused.
pub const WIDEST_SOURCE_V6: u8 = 48;

/// Why a target must not be blocked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `0.0.0.0` or `::`.
    Unspecified,
    /// `127.0.0.0/8` or `::1`.
    Loopback,
    /// `169.254.0.0/16` or `fe80::/10`.
    LinkLocal,
    /// Multicast (`224.0.0.0/4`, `ff00::/8`) or the IPv4 broadcast address.
    Multicast,
    /// One of this host's addresses (any interface, bridges included).
    Own(IpAddr),
    /// The next hop of a route (a default gateway, usually).
    Gateway(IpAddr),
    /// A DNS resolver named in `resolv.conf`.
    Resolver(IpAddr),
    /// The other end of an established SSH session.
    SshPeer(IpAddr),
    /// The allow-list entry the target overlaps.
    Allowed(IpNet),
    /// A source block with a shorter prefix than `limit`.
    TooWide {
        /// The target's prefix length.
        prefix: u8,
        /// The shortest prefix allowed for its family.
        limit: u8,
    },
}

impl fmt::Display for Refusal {
    /// One short reason, e.g. `10.0.0.1 is a gateway in the routing table`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Unspecified => write!(f, "the unspecified address (0.0.0.0, ::) is never blocked"),
            Refusal::Loopback => write!(f, "loopback addresses (127.0.0.0/8, ::1) are never blocked"),
            Refusal::LinkLocal => write!(
                f,
                "link-local addresses (169.254.0.0/16, fe80::/10) are never blocked"
            ),
            Refusal::Multicast => write!(
                f,
                "multicast and broadcast addresses (224.0.0.0/4, 255.255.255.255, ff00::/8) are never blocked"
            ),
            Refusal::Own(a) => write!(f, "{a} is one of this host's addresses"),
            Refusal::Gateway(a) => write!(f, "{a} is a gateway in the routing table"),
            Refusal::Resolver(a) => write!(f, "{a} is a DNS resolver in resolv.conf"),
            Refusal::SshPeer(a) => write!(f, "{a} is the peer of an established SSH session"),
            Refusal::Allowed(n) => write!(f, "{n} is on the allow-list"),
            Refusal::TooWide { prefix, limit } => write!(
                f,
                "a source block of /{prefix} is wider than /{limit}, the widest allowed"
            ),
        }
    }
}

/// Where [`Protected::load`] reads the system's state. Missing files mean
/// "none" (no IPv6, no resolv.conf); other read errors are errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct System {
    /// The IPv4 routing table (`/proc/net/route`).
    pub route: PathBuf,
    /// The IPv6 routing table (`/proc/net/ipv6_route`).
    pub ipv6_route: PathBuf,
    /// The resolver configuration (`/etc/resolv.conf`).
    pub resolv_conf: PathBuf,
    /// systemd-resolved's list of upstream servers
    /// (`/run/systemd/resolve/resolv.conf`), behind its `127.0.0.53` stub.
    pub resolved_conf: PathBuf,
    /// This host's addresses; `None` asks the kernel (getifaddrs: every
    /// interface, container bridges and tunnels included).
    pub addresses: Option<Vec<IpAddr>>,
}

impl Default for System {
    /// The real files and the kernel's interface list.
    fn default() -> Self {
        System {
            route: "/proc/net/route".into(),
            ipv6_route: "/proc/net/ipv6_route".into(),
            resolv_conf: "/etc/resolv.conf".into(),
            resolved_conf: "/run/systemd/resolve/resolv.conf".into(),
            addresses: None,
        }
    }
}

/// The built-in address classes, with the refusal each earns.
fn classes() -> Vec<(IpNet, Refusal)> {
    let v4 = |a: [u8; 4], p| IpNet::new(IpAddr::V4(Ipv4Addr::from(a)), p);
    let v6 = |a: Ipv6Addr, p| IpNet::new(IpAddr::V6(a), p);
    [
        (v4([0, 0, 0, 0], 32), Refusal::Unspecified),
        (v6(Ipv6Addr::UNSPECIFIED, 128), Refusal::Unspecified),
        (v4([127, 0, 0, 0], 8), Refusal::Loopback),
        (v6(Ipv6Addr::LOCALHOST, 128), Refusal::Loopback),
        (v4([169, 254, 0, 0], 16), Refusal::LinkLocal),
        (
            v6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
            Refusal::LinkLocal,
        ),
        (v4([224, 0, 0, 0], 4), Refusal::Multicast),
        (v4([255, 255, 255, 255], 32), Refusal::Multicast),
        (
            v6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
            Refusal::Multicast,
        ),
    ]
    .into_iter()
    .filter_map(|(net, why)| Some((net?, why)))
    .collect()
}

/// The addresses and networks that are never blocked, except the SSH
/// peers, which change too fast to keep and are passed to every
/// [`check`](Protected::check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protected {
    classes: Vec<(IpNet, Refusal)>,
    allow: Vec<IpNet>,
    own: Vec<IpAddr>,
    gateways: Vec<IpAddr>,
    resolvers: Vec<IpAddr>,
}

impl Protected {
    /// The built-in classes and the allow-list only (IPv4-mapped entries
    /// are taken as IPv4).
    pub fn new(allow: Vec<IpNet>) -> Protected {
        let mut allow: Vec<IpNet> = allow.into_iter().map(canonical_net).collect();
        allow.sort_unstable();
        allow.dedup();
        Protected {
            classes: classes(),
            allow,
            own: Vec::new(),
            gateways: Vec::new(),
            resolvers: Vec::new(),
        }
    }

    /// The allow-list plus what `sys` says: this host's addresses, the
    /// gateways of its routes (IPv4 and IPv6), its DNS resolvers.
    pub fn load(allow: Vec<IpNet>, sys: &System) -> io::Result<Protected> {
        let mut p = Protected::new(allow);
        p.refresh(sys)?;
        Ok(p)
    }

    /// Reads the addresses, routes and resolvers again (DHCP renewals,
    /// containers coming and going); the allow-list stays. On an error
    /// nothing changes.
    pub fn refresh(&mut self, sys: &System) -> io::Result<()> {
        let own = match &sys.addresses {
            Some(a) => a.clone(),
            None => wirewatch_live::list_interfaces()?
                .into_iter()
                .flat_map(|i| i.addrs.into_iter().map(|(a, _)| a))
                .collect(),
        };
        let mut gateways = parse_route_gateways(&read_optional(&sys.route)?);
        gateways.extend(parse_ipv6_route_gateways(&read_optional(&sys.ipv6_route)?));
        let mut resolvers = parse_resolv_conf(&read_optional(&sys.resolv_conf)?);
        resolvers.extend(parse_resolv_conf(&read_optional(&sys.resolved_conf)?));
        self.own = canonical_set(own);
        self.gateways = canonical_set(gateways);
        self.resolvers = canonical_set(resolvers);
        Ok(())
    }

    /// `Ok` when `t` may be blocked; else the first reason it may not.
    /// `ssh_peers` are the current SSH peers ([`SshPeers::current`]).
    /// Every class applies to sources and destinations alike (dropping
    /// outbound traffic to the gateway or the resolver is as fatal as
    /// dropping inbound); only the width limit is for sources alone.
    pub fn check(&self, t: &Target, ssh_peers: &[IpAddr]) -> Result<(), Refusal> {
        let net = match t {
            Target::Source(n) => {
                let n = canonical_net(*n);
                too_wide(n)?;
                n
            }
            Target::Destination { addr, .. } => host_net(addr.to_canonical()),
        };
        if let Some((_, why)) = self.classes.iter().find(|(c, _)| overlaps(net, *c)) {
            return Err(why.clone());
        }
        refuse_inside(net, &self.own, Refusal::Own)?;
        refuse_inside(net, &self.gateways, Refusal::Gateway)?;
        refuse_inside(net, &self.resolvers, Refusal::Resolver)?;
        let peers: Vec<IpAddr> = ssh_peers.iter().map(IpAddr::to_canonical).collect();
        refuse_inside(net, &peers, Refusal::SshPeer)?;
        match self.allow.iter().find(|a| overlaps(net, **a)) {
            Some(a) => Err(Refusal::Allowed(*a)),
            None => Ok(()),
        }
    }

    /// What is protected and why, one line each, for `respond policy`.
    pub fn describe(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (net, why) in &self.classes {
            let line = format!("never blocked: {net} ({})", class_name(why));
            out.push(line);
        }
        out.push(format!(
            "never blocked: source blocks wider than /{WIDEST_SOURCE_V4} (IPv4) or /{WIDEST_SOURCE_V6} (IPv6)"
        ));
        let lists = [
            ("this host's addresses", &self.own),
            ("gateways in the routing table", &self.gateways),
            ("DNS resolvers in resolv.conf", &self.resolvers),
        ];
        for (what, addrs) in lists {
            out.push(format!("never blocked: {what}: {}", listed(addrs)));
        }
        out.push(format!(
            "never blocked: the allow-list: {}",
            listed(&self.allow)
        ));
        out.push(
            "never blocked: the peers of established SSH sessions, looked up at every decision"
                .to_string(),
        );
        out
    }
}

/// The short name of a class refusal, for [`Protected::describe`].
fn class_name(why: &Refusal) -> &'static str {
    match why {
        Refusal::Unspecified => "unspecified",
        Refusal::Loopback => "loopback",
        Refusal::LinkLocal => "link-local",
        Refusal::Multicast => "multicast or broadcast",
        _ => "protected",
    }
}

/// `a, b, c`, or `none`.
fn listed<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".to_string();
    }
    let texts: Vec<String> = items.iter().map(T::to_string).collect();
    texts.join(", ")
}

/// Refuses a source network wider than its family allows.
fn too_wide(n: IpNet) -> Result<(), Refusal> {
    let limit = if n.addr().is_ipv4() {
        WIDEST_SOURCE_V4
    } else {
        WIDEST_SOURCE_V6
    };
    if n.prefix() < limit {
        return Err(Refusal::TooWide {
            prefix: n.prefix(),
            limit,
        });
    }
    Ok(())
}

/// The first of `addrs` inside `net`, as the refusal `why` makes of it.
fn refuse_inside(net: IpNet, addrs: &[IpAddr], why: fn(IpAddr) -> Refusal) -> Result<(), Refusal> {
    match addrs.iter().find(|a| net.contains(**a)) {
        Some(a) => Err(why(*a)),
        None => Ok(()),
    }
}

/// Whether two networks share an address (one contains the other).
fn overlaps(a: IpNet, b: IpNet) -> bool {
    a.contains(b.addr()) || b.contains(a.addr())
}

/// The single-address network of `a`.
fn host_net(a: IpAddr) -> IpNet {
    let prefix = crate::full_prefix(a);
    // A full-length prefix is always valid for its family.
    IpNet::new(a, prefix).unwrap_or_else(|| unreachable!("full prefix of {a}"))
}

/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/120`) as the IPv4 network
/// it is (`10.0.0.0/24`); anything else unchanged.
pub fn canonical_net(n: IpNet) -> IpNet {
    if let IpAddr::V6(a) = n.addr() {
        if let (Some(v4), true) = (a.to_ipv4_mapped(), n.prefix() >= 96) {
            return IpNet::new(IpAddr::V4(v4), n.prefix() - 96).unwrap_or(n);
        }
    }
    n
}

/// Addresses made canonical (IPv4-mapped as IPv4), sorted, without repeats.
fn canonical_set(addrs: Vec<IpAddr>) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = addrs.iter().map(IpAddr::to_canonical).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// A file's text, lossily decoded; empty when it does not exist.
fn read_optional(path: &Path) -> io::Result<String> {
    match std::fs::read(path) {
        Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot read {}: {e}", path.display()),
        )),
    }
}

/// Route flags (`linux/route.h`).
const RTF_UP: u32 = 0x0001;
const RTF_GATEWAY: u32 = 0x0002;
const RTF_REJECT: u32 = 0x0200;

/// Whether route flags say "usable route through a gateway".
fn via_gateway(flags: u32) -> bool {
    flags & RTF_UP != 0 && flags & RTF_GATEWAY != 0 && flags & RTF_REJECT == 0
}

/// The gateways (next hops) of the usable routes in `/proc/net/route` text,
/// default routes and others alike, in file order. The gateway column is
/// the address in network byte order printed as a host-order hex number.
pub fn parse_route_gateways(text: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(gw), Some(flags)) = (f.get(2), f.get(3)) else {
            continue;
        };
        let (Ok(gw), Ok(flags)) = (u32::from_str_radix(gw, 16), u32::from_str_radix(flags, 16))
        else {
            continue; // the header, or garbage
        };
        if gw != 0 && via_gateway(flags) {
            out.push(IpAddr::V4(Ipv4Addr::from(gw.to_ne_bytes())));
        }
    }
    out
}

/// The gateways (next hops) of the usable routes in `/proc/net/ipv6_route`
/// text, in file order. Columns: destination, its prefix length, source,
/// its prefix length, next hop, metric, use count, reference count, flags,
/// device.
pub fn parse_ipv6_route_gateways(text: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(hop), Some(flags)) = (f.get(4), f.get(8)) else {
            continue;
        };
        let (Some(hop), Ok(flags)) = (hex_u128(hop), u32::from_str_radix(flags, 16)) else {
            continue;
        };
        if hop != 0 && via_gateway(flags) {
            out.push(IpAddr::V6(Ipv6Addr::from(hop)));
        }
    }
    out
}

/// 32 hex digits as a number.
fn hex_u128(s: &str) -> Option<u128> {
    if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(s, 16).ok()
}

/// The `nameserver` addresses of a `resolv.conf` text, IPv4 and IPv6, a
/// scope (`fe80::1%eth0`) dropped; comment lines (`#`, `;`) and anything
/// unparsable are skipped.
pub fn parse_resolv_conf(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next()? != "nameserver" {
                return None;
            }
            let word = words.next()?;
            let addr = word.split_once('%').map_or(word, |(a, _)| a);
            addr.parse().ok()
        })
        .collect()
}

/// The SSH sessions' peers, asked of the kernel (sock_diag netlink,
/// filtered there by state and port, so the cost does not grow with the
/// host's other connections).
#[derive(Debug)]
pub struct SshPeers {
    ports: Vec<u16>,
    established: EstablishedTcp,
}

impl SshPeers {
    /// Peers on these ports (at most [`wirewatch_procs::MAX_PORTS`]).
    pub fn new(ports: Vec<u16>) -> io::Result<SshPeers> {
        let established = EstablishedTcp::new(&ports)?;
        Ok(SshPeers { ports, established })
    }

    /// The ports looked at.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// The remote addresses of the established TCP connections in this
    /// network namespace whose local port (we are the SSH server) or
    /// remote port (we are a client of that host) is one of the ports,
    /// canonical (IPv4-mapped as IPv4), sorted, without repeats. Blocking
    /// either would break the session. When this fails, the caller should
    /// refuse to block (it cannot tell who must not be cut off).
    pub fn current(&mut self) -> io::Result<Vec<IpAddr>> {
        let conns = self.established.connections()?;
        Ok(canonical_set(
            conns.into_iter().map(|(_, r)| r.ip()).collect(),
        ))
    }
}

impl Default for SshPeers {
    /// Port 22.
    fn default() -> Self {
        SshPeers::new(vec![22])
            .unwrap_or_else(|e| unreachable!("one port is within the limit: {e}"))
    }
}

/// How often [`LiveGuard`] reads addresses, routes and resolvers again.
pub const REFRESH_EVERY: Duration = Duration::from_secs(30);

/// The guard as the responder asks it, one target at a time: the fixed
/// part read again when older than its refresh interval (at a check, by
/// the injected clock), the SSH peers asked of the kernel at every check.
/// When the SSH peers cannot be listed, it refuses: it cannot tell whose
/// session a block would cut. A failed refresh keeps the previous state
/// and is counted.
#[derive(Debug)]
pub struct LiveGuard {
    protected: Protected,
    sys: System,
    ssh: SshPeers,
    clock: Arc<dyn Clock>,
    every: Duration,
    refreshed: Timestamp,
    refresh_failures: u64,
}

impl LiveGuard {
    /// Loads the fixed part now ([`Protected::load`]); refreshes it when
    /// `every` has passed on `clock`.
    pub fn load(
        allow: Vec<IpNet>,
        sys: System,
        ssh: SshPeers,
        clock: Arc<dyn Clock>,
        every: Duration,
    ) -> io::Result<LiveGuard> {
        let protected = Protected::load(allow, &sys)?;
        let refreshed = clock.now();
        Ok(LiveGuard {
            protected,
            sys,
            ssh,
            clock,
            every,
            refreshed,
            refresh_failures: 0,
        })
    }

    /// `Ok` when `t` may be blocked now; else why not, in one line.
    pub fn check(&mut self, t: &Target) -> Result<(), String> {
        self.refresh_if_due();
        let peers = self.ssh.current().map_err(|e| {
            format!("the SSH sessions cannot be listed ({e}), so nothing is blocked")
        })?;
        self.protected.check(t, &peers).map_err(|r| r.to_string())
    }

    fn refresh_if_due(&mut self) {
        let now = self.clock.now();
        let due = i64::try_from(self.every.as_nanos()).unwrap_or(i64::MAX);
        if now.nanos_since(self.refreshed) < due {
            return;
        }
        self.refreshed = now;
        if self.protected.refresh(&self.sys).is_err() {
            self.refresh_failures += 1;
        }
    }

    /// How many refreshes failed (the previous state was kept).
    pub fn refresh_failures(&self) -> u64 {
        self.refresh_failures
    }

    /// What is protected, for `respond policy`: [`Protected::describe`]
    /// and the SSH ports.
    pub fn describe(&self) -> Vec<String> {
        let mut out = self.protected.describe();
        out.push(format!("SSH ports looked at: {}", listed(self.ssh.ports())));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn src(s: &str) -> Target {
        Target::Source(net(s))
    }

    fn dst(s: &str) -> Target {
        Target::Destination {
            addr: ip(s),
            port: Some(443),
        }
    }

    /// A header and a default route via 192.168.1.1 on eth0, a route to
    /// 10.8.0.0/16 via 192.168.1.254, a link route, a rejected route via
    /// 192.168.1.9 and the docker bridge's link route.
    const ROUTE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
        eth0\t0000080A\tFE01A8C0\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
        eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n\
        eth0\t0000000B\t0901A8C0\t0203\t0\t0\t0\t000000FF\t0\t0\t0\n\
        docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";

    /// A default route via fe80::1 and one via 2001:db8::1 (another
    /// metric), a link route, and the kernel's reject route on lo.
    const IPV6_ROUTE: &str = "\
        20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n\
        00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003     eth0\n\
        00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000000000000000000000001 00000800 00000001 00000000 00000003     eth0\n\
        00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";

    const RESOLV: &str = "# generated\n\
        ; also a comment\n\
        search example.org\n\
        nameserver 192.0.2.53\n\
        nameserver 2001:db8::53 # trailing words are ignored\n\
        nameserver fe80::5%eth0\n\
        nameserver not-an-address\n\
        nameserver\n\
        #nameserver 198.51.100.1\n\
        options edns0\n";

    #[test]
    fn route_gateways_from_the_gateway_column_of_every_usable_route() {
        assert_eq!(
            parse_route_gateways(ROUTE),
            vec![ip("192.168.1.1"), ip("192.168.1.254")]
        );
        assert!(parse_route_gateways("Iface\tDestination\tGateway\n").is_empty());
    }

    #[test]
    fn ipv6_route_gateways_skip_link_and_reject_routes() {
        assert_eq!(
            parse_ipv6_route_gateways(IPV6_ROUTE),
            vec![ip("fe80::1"), ip("2001:db8::1")]
        );
        // A next hop of the wrong length is skipped.
        let short = "0 00 0 00 fe80000000000000000000000000001 00000400 1 0 00000003 eth0\n";
        assert!(parse_ipv6_route_gateways(short).is_empty());
    }

    #[test]
    fn resolv_conf_nameservers_v4_v6_and_scoped() {
        assert_eq!(
            parse_resolv_conf(RESOLV),
            vec![ip("192.0.2.53"), ip("2001:db8::53"), ip("fe80::5")]
        );
    }

    /// Files in a temporary directory and fixed own addresses.
    struct Fake {
        dir: tempfile::TempDir,
        sys: System,
    }

    fn fake(route: &str, ipv6_route: &str, resolv: &str, own: &[&str]) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let sys = System {
            route: write("route", route),
            ipv6_route: write("ipv6_route", ipv6_route),
            resolv_conf: write("resolv.conf", resolv),
            resolved_conf: dir.path().join("missing"),
            addresses: Some(own.iter().map(|a| ip(a)).collect()),
        };
        Fake { dir, sys }
    }

    fn loaded(allow: &[&str]) -> (Fake, Protected) {
        let f = fake(
            ROUTE,
            IPV6_ROUTE,
            RESOLV,
            &["127.0.0.1", "192.168.1.20", "172.17.0.1", "2001:db8::20"],
        );
        let p = Protected::load(allow.iter().map(|n| net(n)).collect(), &f.sys).unwrap();
        (f, p)
    }

    #[test]
    fn built_in_classes_are_refused_and_their_neighbours_are_not() {
        let p = Protected::new(vec![]);
        for (refused, why, neighbour) in [
            ("0.0.0.0", Refusal::Unspecified, "0.0.0.1"),
            ("::", Refusal::Unspecified, "::2"),
            ("127.0.0.1", Refusal::Loopback, "128.0.0.1"),
            ("127.255.255.255", Refusal::Loopback, "126.255.255.255"),
            ("::1", Refusal::Loopback, "::3"),
            ("169.254.10.1", Refusal::LinkLocal, "169.255.0.1"),
            ("fe80::1", Refusal::LinkLocal, "fec0::1"),
            ("224.0.0.251", Refusal::Multicast, "223.255.255.255"),
            ("239.255.255.250", Refusal::Multicast, "240.0.0.1"),
            ("255.255.255.255", Refusal::Multicast, "255.255.255.254"),
            ("ff02::1", Refusal::Multicast, "fe00::1"),
        ] {
            for t in [src(refused), dst(refused)] {
                assert_eq!(p.check(&t, &[]), Err(why.clone()), "{t}");
            }
            for t in [src(neighbour), dst(neighbour)] {
                assert_eq!(p.check(&t, &[]), Ok(()), "{t}");
            }
        }
        // A source network that covers part of a class is refused.
        assert_eq!(p.check(&src("127.0.0.0/16"), &[]), Err(Refusal::Loopback));
        assert_eq!(p.check(&src("fe80::/64"), &[]), Err(Refusal::LinkLocal));
    }

    #[test]
    fn own_addresses_including_bridges_are_refused() {
        let (_f, p) = loaded(&[]);
        for a in ["192.168.1.20", "172.17.0.1", "2001:db8::20"] {
            assert_eq!(p.check(&src(a), &[]), Err(Refusal::Own(ip(a))));
            assert_eq!(p.check(&dst(a), &[]), Err(Refusal::Own(ip(a))));
        }
        assert_eq!(
            p.check(&src("172.17.0.0/16"), &[]),
            Err(Refusal::Own(ip("172.17.0.1")))
        );
        for a in ["192.168.1.21", "172.17.0.2", "2001:db8::21"] {
            assert_eq!(p.check(&src(a), &[]), Ok(()), "{a}");
        }
    }

    #[test]
    fn gateways_are_refused_and_a_network_covering_one_too() {
        let (_f, p) = loaded(&[]);
        let gw = Err(Refusal::Gateway(ip("192.168.1.1")));
        assert_eq!(p.check(&src("192.168.1.1"), &[]), gw);
        assert_eq!(p.check(&dst("192.168.1.1"), &[]), gw);
        assert_eq!(p.check(&src("192.168.1.0/30"), &[]), gw);
        assert_eq!(
            p.check(&src("192.168.1.254"), &[]),
            Err(Refusal::Gateway(ip("192.168.1.254")))
        );
        assert_eq!(
            p.check(&dst("2001:db8::1"), &[]),
            Err(Refusal::Gateway(ip("2001:db8::1")))
        );
        // The rejected route's next hop and the neighbours are not gateways.
        for a in ["192.168.1.9", "192.168.1.2", "2001:db8::2"] {
            assert_eq!(p.check(&src(a), &[]), Ok(()), "{a}");
        }
        assert_eq!(p.check(&src("192.168.1.4/30"), &[]), Ok(()));
    }

    #[test]
    fn resolvers_are_refused_both_ways() {
        let (_f, p) = loaded(&[]);
        for a in ["192.0.2.53", "2001:db8::53"] {
            assert_eq!(p.check(&dst(a), &[]), Err(Refusal::Resolver(ip(a))));
            assert_eq!(p.check(&src(a), &[]), Err(Refusal::Resolver(ip(a))));
        }
        assert_eq!(
            p.check(&src("192.0.2.0/24"), &[]),
            Err(Refusal::Resolver(ip("192.0.2.53")))
        );
        assert_eq!(p.check(&dst("192.0.2.54"), &[]), Ok(()));
        // The commented-out resolver is not protected.
        assert_eq!(p.check(&dst("198.51.100.1"), &[]), Ok(()));
    }

    #[test]
    fn systemd_resolved_upstreams_are_resolvers_too() {
        let mut f = fake("", "", "nameserver 127.0.0.53\n", &[]);
        let upstream = f.dir.path().join("resolved.conf");
        std::fs::write(&upstream, "nameserver 198.51.100.7\n").unwrap();
        f.sys.resolved_conf = upstream;
        let p = Protected::load(vec![], &f.sys).unwrap();
        assert_eq!(
            p.check(&dst("198.51.100.7"), &[]),
            Err(Refusal::Resolver(ip("198.51.100.7")))
        );
    }

    #[test]
    fn ssh_peers_are_refused_as_passed_at_each_check() {
        let p = Protected::new(vec![]);
        let peers = [ip("192.0.2.4"), ip("2001:db8::4")];
        assert_eq!(
            p.check(&src("192.0.2.4"), &peers),
            Err(Refusal::SshPeer(ip("192.0.2.4")))
        );
        assert_eq!(
            p.check(&dst("2001:db8::4"), &peers),
            Err(Refusal::SshPeer(ip("2001:db8::4")))
        );
        assert_eq!(
            p.check(&src("192.0.2.0/24"), &peers),
            Err(Refusal::SshPeer(ip("192.0.2.4")))
        );
        assert_eq!(p.check(&src("192.0.2.5"), &peers), Ok(()));
        // Once the session is gone, the address may be blocked.
        assert_eq!(p.check(&src("192.0.2.4"), &[]), Ok(()));
        // A peer reported IPv4-mapped protects the IPv4 address.
        let mapped = [ip("::ffff:192.0.2.9")];
        assert_eq!(
            p.check(&src("192.0.2.9"), &mapped),
            Err(Refusal::SshPeer(ip("192.0.2.9")))
        );
    }

    #[test]
    fn allow_list_overlap_either_way() {
        let p = Protected::new(vec![net("10.1.2.0/24"), net("2001:db8:1::/64")]);
        let allowed = Err(Refusal::Allowed(net("10.1.2.0/24")));
        // Inside the entry.
        assert_eq!(p.check(&src("10.1.2.3"), &[]), allowed);
        assert_eq!(p.check(&src("10.1.2.128/25"), &[]), allowed);
        assert_eq!(p.check(&dst("10.1.2.3"), &[]), allowed);
        // Covering the entry.
        assert_eq!(p.check(&src("10.1.0.0/16"), &[]), allowed);
        assert_eq!(
            p.check(&src("2001:db8:1::/48"), &[]),
            Err(Refusal::Allowed(net("2001:db8:1::/64")))
        );
        // Beside it.
        assert_eq!(p.check(&src("10.1.3.0/24"), &[]), Ok(()));
        assert_eq!(p.check(&src("10.1.3.1"), &[]), Ok(()));
        assert_eq!(p.check(&src("2001:db8:2::/64"), &[]), Ok(()));
    }

    #[test]
    fn source_blocks_wider_than_the_limit_are_refused() {
        let p = Protected::new(vec![]);
        assert_eq!(
            p.check(&src("10.0.0.0/15"), &[]),
            Err(Refusal::TooWide {
                prefix: 15,
                limit: 16
            })
        );
        assert_eq!(p.check(&src("10.0.0.0/16"), &[]), Ok(()));
        assert_eq!(
            p.check(&src("2001:db8::/47"), &[]),
            Err(Refusal::TooWide {
                prefix: 47,
                limit: 48
            })
        );
        assert_eq!(p.check(&src("2001:db8::/48"), &[]), Ok(()));
        assert!(matches!(
            p.check(&src("0.0.0.0/0"), &[]),
            Err(Refusal::TooWide { prefix: 0, .. })
        ));
    }

    #[test]
    fn ipv4_mapped_targets_are_their_ipv4_address() {
        let (_f, p) = loaded(&["10.9.0.0/16"]);
        assert_eq!(
            p.check(&src("::ffff:192.168.1.1"), &[]),
            Err(Refusal::Gateway(ip("192.168.1.1")))
        );
        assert_eq!(
            p.check(&dst("::ffff:127.0.0.1"), &[]),
            Err(Refusal::Loopback)
        );
        // ::ffff:10.9.1.0/120 is 10.9.1.0/24, inside the allow-list.
        assert_eq!(
            p.check(&src("::ffff:10.9.1.0/120"), &[]),
            Err(Refusal::Allowed(net("10.9.0.0/16")))
        );
        // ::ffff:0:0/100 is 0.0.0.0/4: too wide as IPv4.
        assert_eq!(
            p.check(&src("::ffff:0:0/100"), &[]),
            Err(Refusal::TooWide {
                prefix: 4,
                limit: 16
            })
        );
        assert_eq!(p.check(&src("::ffff:198.51.100.1"), &[]), Ok(()));
        // A mapped allow-list entry protects the IPv4 network.
        let q = Protected::new(vec![net("::ffff:10.3.0.0/112")]);
        assert_eq!(
            q.check(&src("10.3.0.7"), &[]),
            Err(Refusal::Allowed(net("10.3.0.0/16")))
        );
    }

    #[test]
    fn refresh_follows_changes_and_keeps_the_allow_list() {
        let (f, mut p) = loaded(&["10.1.0.0/16"]);
        std::fs::write(
            &f.sys.route,
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
             eth0\t00000000\t0200000A\t0003\t0\t0\t0\t00000000\n",
        )
        .unwrap();
        std::fs::remove_file(&f.sys.ipv6_route).unwrap();
        p.refresh(&f.sys).unwrap();
        assert_eq!(
            p.check(&src("10.0.0.2"), &[]),
            Err(Refusal::Gateway(ip("10.0.0.2")))
        );
        assert_eq!(p.check(&src("192.168.1.1"), &[]), Ok(()));
        assert_eq!(p.check(&dst("2001:db8::1"), &[]), Ok(()));
        assert_eq!(
            p.check(&src("10.1.0.1"), &[]),
            Err(Refusal::Allowed(net("10.1.0.0/16")))
        );
        // A read error (a directory) leaves everything as it was.
        let mut broken = f.sys.clone();
        broken.route = f.dir.path().to_path_buf();
        let e = p.refresh(&broken).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
        assert_eq!(
            p.check(&src("10.0.0.2"), &[]),
            Err(Refusal::Gateway(ip("10.0.0.2")))
        );
    }

    #[test]
    fn missing_files_mean_nothing_to_protect_from_them() {
        let f = fake("", "", "", &[]);
        let mut sys = f.sys.clone();
        sys.route = f.dir.path().join("no-route");
        sys.ipv6_route = f.dir.path().join("no-ipv6_route");
        sys.resolv_conf = f.dir.path().join("no-resolv.conf");
        let p = Protected::load(vec![], &sys).unwrap();
        assert_eq!(p, Protected::new(vec![]));
    }

    #[test]
    fn reasons_read_as_sentences() {
        assert_eq!(
            Refusal::Gateway(ip("10.0.0.1")).to_string(),
            "10.0.0.1 is a gateway in the routing table"
        );
        assert_eq!(
            Refusal::SshPeer(ip("192.0.2.4")).to_string(),
            "192.0.2.4 is the peer of an established SSH session"
        );
        assert_eq!(
            Refusal::Allowed(net("10.1.0.0/16")).to_string(),
            "10.1.0.0/16 is on the allow-list"
        );
        assert_eq!(
            Refusal::TooWide {
                prefix: 8,
                limit: 16
            }
            .to_string(),
            "a source block of /8 is wider than /16, the widest allowed"
        );
    }

    #[test]
    fn describe_names_every_protected_thing() {
        let (_f, p) = loaded(&["10.1.0.0/16"]);
        let d = p.describe().join("\n");
        for want in [
            "127.0.0.0/8 (loopback)",
            "fe80::/10 (link-local)",
            "255.255.255.255/32 (multicast or broadcast)",
            "wider than /16 (IPv4) or /48 (IPv6)",
            "this host's addresses: 127.0.0.1, 172.17.0.1, 192.168.1.20, 2001:db8::20",
            "gateways in the routing table: 192.168.1.1, 192.168.1.254, 2001:db8::1, fe80::1",
            "DNS resolvers in resolv.conf: 192.0.2.53, 2001:db8::53, fe80::5",
            "the allow-list: 10.1.0.0/16",
            "SSH sessions",
        ] {
            assert!(d.contains(want), "{want:?} not in\n{d}");
        }
        assert!(Protected::new(vec![])
            .describe()
            .join("\n")
            .contains("the allow-list: none"));
    }

    #[test]
    fn ssh_peers_port_limit_and_default() {
        assert_eq!(SshPeers::default().ports(), &[22]);
        assert!(SshPeers::new((1..=65).collect()).is_err());
        let mut none = SshPeers::new(vec![]).unwrap();
        assert!(none.current().unwrap().is_empty());
    }

    #[test]
    fn ssh_peers_are_the_remote_ends_on_the_port() {
        // Over loopback in this namespace: both ends of one connection.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_s, _) = l.accept().unwrap();
        let mut peers = SshPeers::new(vec![port]).unwrap();
        assert_eq!(peers.current().unwrap(), vec![ip("127.0.0.1")]);
        drop(c);
    }

    /// A clock the test moves.
    #[derive(Debug, Default)]
    struct Hand(std::sync::atomic::AtomicI64);

    impl Clock for Hand {
        fn now(&self) -> Timestamp {
            Timestamp::from_secs(self.0.load(std::sync::atomic::Ordering::SeqCst))
        }
    }

    #[test]
    fn live_guard_refreshes_on_its_clock_and_keeps_state_on_errors() {
        let f = fake(ROUTE, "", "", &[]);
        let clock = Arc::new(Hand::default());
        let mut g = LiveGuard::load(
            vec![net("10.1.0.0/16")],
            f.sys.clone(),
            SshPeers::default(),
            clock.clone(),
            REFRESH_EVERY,
        )
        .unwrap();
        let old_gw = src("192.168.1.1");
        assert_eq!(
            g.check(&old_gw),
            Err("192.168.1.1 is a gateway in the routing table".to_string())
        );
        assert_eq!(
            g.check(&src("10.1.0.9")),
            Err("10.1.0.0/16 is on the allow-list".to_string())
        );
        // A new default route: not seen before the interval has passed.
        std::fs::write(&f.sys.route, "h\neth0 00000000 0200000A 0003\n").unwrap();
        clock.0.store(29, std::sync::atomic::Ordering::SeqCst);
        assert!(g.check(&old_gw).is_err());
        assert_eq!(g.check(&src("10.0.0.2")), Ok(()));
        clock.0.store(30, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(g.check(&old_gw), Ok(()));
        assert!(g.check(&src("10.0.0.2")).is_err());
        // A refresh that fails keeps what was known, and is counted.
        std::fs::remove_file(&f.sys.route).unwrap();
        std::fs::create_dir(&f.sys.route).unwrap();
        clock.0.store(61, std::sync::atomic::Ordering::SeqCst);
        assert!(g.check(&src("10.0.0.2")).is_err());
        assert_eq!(g.refresh_failures(), 1);
        let d = g.describe();
        assert_eq!(
            d.last().map(String::as_str),
            Some("SSH ports looked at: 22")
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in "\\PC*") {
            let _ = parse_route_gateways(&text);
            let _ = parse_ipv6_route_gateways(&text);
            let _ = parse_resolv_conf(&text);
        }

        #[test]
        fn parsers_never_panic_on_near_misses(
            lines in proptest::collection::vec(
                "(nameserver|eth0|[0-9A-Fa-f]{1,40}|%|\\s|[0-9a-f:.%]{1,45}){0,12}",
                0..8,
            )
        ) {
            let text = lines.join("\n");
            let _ = parse_route_gateways(&text);
            let _ = parse_ipv6_route_gateways(&text);
            let _ = parse_resolv_conf(&text);
        }

        #[test]
        fn a_network_covering_a_protected_address_is_always_refused(
            a in any::<u32>(),
            prefix in 16u8..=32,
        ) {
            let gw = IpAddr::V4(Ipv4Addr::from(a));
            let f = fake("", "", "", &[]);
            let mut p = Protected::load(vec![], &f.sys).unwrap();
            p.gateways = vec![gw];
            let covering = IpNet::new(gw, prefix).unwrap();
            prop_assert!(p.check(&Target::Source(covering), &[]).is_err());
        }
    }
}
