//! One scan's sockets and their owners, indexed for flow lookups.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// TCP protocol number.
pub const TCP: u8 = 6;
/// UDP protocol number.
pub const UDP: u8 = 17;
/// The kernel's TCP_LISTEN state.
pub const TCP_LISTEN: u8 = 10;

/// Who owns a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Process id (in the pid namespace of the scanner); 0 when no process
    /// holding the socket could be found or read.
    pub pid: u32,
    /// `/proc/PID/comm` (empty with pid 0).
    pub comm: String,
    /// Target of `/proc/PID/exe`; `None` when unreadable (another user's
    /// process without CAP_SYS_PTRACE, a kernel thread, pid 0).
    pub exe: Option<String>,
    /// The socket's uid (who created it, as `ss -e` shows), seen from the
    /// scanner's user namespace.
    pub uid: u32,
    /// The user name of `uid` from `/etc/passwd`, else the number.
    pub user: String,
    /// Inode of the socket's network namespace.
    pub netns: u64,
    /// The socket is in another network namespace than the scanner (a
    /// container, `ip netns exec`).
    pub foreign_netns: bool,
}

impl Owner {
    /// A short name for displays: `curl`, `nginx [netns 4026532301]` in a
    /// foreign namespace; with no process, `netns 4026532301` (foreign) or
    /// `user alice` (this namespace).
    pub fn label(&self) -> String {
        match (self.pid, self.foreign_netns) {
            (0, true) => format!("netns {}", self.netns),
            (0, false) => format!("user {}", self.user),
            (_, false) => self.comm.clone(),
            (_, true) => format!("{} [netns {}]", self.comm, self.netns),
        }
    }
}

/// One socket of a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketInfo {
    /// 6 (TCP) or 17 (UDP).
    pub protocol: u8,
    /// Local address; IPv4-mapped IPv6 addresses are given as IPv4.
    pub local: SocketAddr,
    /// Peer address; `None` for a listening TCP or unconnected UDP socket.
    pub remote: Option<SocketAddr>,
    /// Kernel state number (TCP states; UDP: 1 connected, 7 unconnected).
    pub state: u8,
    /// Socket inode (`socket:[inode]` in `/proc/PID/fd`).
    pub inode: u64,
    /// Network namespace inode.
    pub netns: u64,
    /// An IPv6 socket that refuses IPv4 (IPV6_V6ONLY); known from netlink
    /// only, so `false` for sockets read from `/proc/PID/net`.
    pub v6only: bool,
}

/// An address with v4-mapped IPv6 turned into IPv4 and the IPv6 flow
/// label and scope dropped, so wire addresses and socket addresses compare.
pub fn normalize(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => addr,
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => SocketAddr::new(IpAddr::V6(*v6.ip()), v6.port()),
        },
    }
}

type Exact = (u8, SocketAddr, SocketAddr);

/// One consistent picture of who owns which socket.
#[derive(Clone, Debug, Default)]
pub struct SocketTable {
    sockets: Vec<SocketInfo>,
    owner_of: Vec<usize>,
    owners: Vec<Owner>,
    /// Connected sockets by (protocol, local, remote).
    exact: HashMap<Exact, usize>,
    /// Peerless sockets bound to a specific address.
    bound: HashMap<(u8, SocketAddr), usize>,
    /// Peerless sockets on 0.0.0.0, or on a dual-stack `::`.
    any_v4: HashMap<(u8, u16), usize>,
    /// Peerless sockets on `::`.
    any_v6: HashMap<(u8, u16), usize>,
    netns: u64,
}

impl SocketTable {
    /// Owner of a flow seen on the wire between `a` and `b` (either may be
    /// the local end): a connected socket with exactly these ends (either
    /// orientation) first, then a socket with no peer bound to the address
    /// and port of `a` or `b`, then one bound to the wildcard address on
    /// that port. IPv4-mapped IPv6 sockets match IPv4 flows. When several
    /// namespaces have a match of the same kind, this namespace wins.
    pub fn lookup(&self, protocol: u8, a: SocketAddr, b: SocketAddr) -> Option<&Owner> {
        self.lookup_socket(protocol, a, b).map(|(_, o)| o)
    }

    /// Like [`lookup`](Self::lookup), also giving the socket that matched.
    pub fn lookup_socket(
        &self,
        protocol: u8,
        a: SocketAddr,
        b: SocketAddr,
    ) -> Option<(&SocketInfo, &Owner)> {
        let (a, b) = (normalize(a), normalize(b));
        let any = |s: SocketAddr| match s {
            SocketAddr::V4(_) => self.any_v4.get(&(protocol, s.port())),
            SocketAddr::V6(_) => self.any_v6.get(&(protocol, s.port())),
        };
        let i = self
            .exact
            .get(&(protocol, a, b))
            .or_else(|| self.exact.get(&(protocol, b, a)))
            .or_else(|| self.bound.get(&(protocol, a)))
            .or_else(|| self.bound.get(&(protocol, b)))
            .or_else(|| any(a))
            .or_else(|| any(b))?;
        Some((&self.sockets[*i], &self.owners[self.owner_of[*i]]))
    }

    /// Owner of a flow whose local end is known: the connected socket
    /// (`local`, `remote`) first, then a socket bound to `local` with no
    /// peer, then the wildcard address on `local`'s port. The remote end's
    /// port is never taken for a local one (a client on port 40000 talking
    /// to port 53 is not the local DNS server's).
    pub fn lookup_local(
        &self,
        protocol: u8,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<&Owner> {
        let (l, r) = (normalize(local), normalize(remote));
        let any = match l {
            SocketAddr::V4(_) => self.any_v4.get(&(protocol, l.port())),
            SocketAddr::V6(_) => self.any_v6.get(&(protocol, l.port())),
        };
        let i = self
            .exact
            .get(&(protocol, l, r))
            .or_else(|| self.bound.get(&(protocol, l)))
            .or(any)?;
        Some(&self.owners[self.owner_of[*i]])
    }

    /// Owner of a connected socket with exactly these ends, either way
    /// round (for flows where neither end is known to be local).
    pub fn lookup_connected(&self, protocol: u8, a: SocketAddr, b: SocketAddr) -> Option<&Owner> {
        let (a, b) = (normalize(a), normalize(b));
        let i = self
            .exact
            .get(&(protocol, a, b))
            .or_else(|| self.exact.get(&(protocol, b, a)))?;
        Some(&self.owners[self.owner_of[*i]])
    }

    /// Number of sockets (with an inode) in the table.
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// No sockets at all.
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Every socket with its owner, this namespace's first.
    pub fn sockets(&self) -> impl Iterator<Item = (&SocketInfo, &Owner)> {
        self.sockets
            .iter()
            .zip(&self.owner_of)
            .map(|(s, &o)| (s, &self.owners[o]))
    }

    /// Distinct owners in the table.
    pub fn owners(&self) -> &[Owner] {
        &self.owners
    }

    /// Inode of the scanner's own network namespace.
    pub fn netns(&self) -> u64 {
        self.netns
    }
}

/// Builds a [`SocketTable`]; the first socket pushed for a key wins, so the
/// scanner pushes its own namespace first.
pub(crate) struct TableBuilder {
    table: SocketTable,
    owner_index: HashMap<(u32, u32, u64), usize>,
}

impl TableBuilder {
    pub(crate) fn new(netns: u64) -> TableBuilder {
        TableBuilder {
            table: SocketTable {
                netns,
                ..SocketTable::default()
            },
            owner_index: HashMap::new(),
        }
    }

    /// Adds a socket (addresses normalized here) with its owner.
    pub(crate) fn push(&mut self, mut s: SocketInfo, owner: Owner) {
        s.local = normalize(s.local);
        s.remote = s.remote.map(normalize);
        let t = &mut self.table;
        let i = t.sockets.len();
        let key = (owner.pid, owner.uid, owner.netns);
        let o = match self.owner_index.get(&key) {
            Some(&o) => o,
            None => {
                t.owners.push(owner);
                self.owner_index.insert(key, t.owners.len() - 1);
                t.owners.len() - 1
            }
        };
        match s.remote {
            Some(r) => {
                t.exact.entry((s.protocol, s.local, r)).or_insert(i);
            }
            None if s.local.ip().is_unspecified() => {
                let port = (s.protocol, s.local.port());
                match s.local {
                    SocketAddr::V4(_) => {
                        t.any_v4.entry(port).or_insert(i);
                    }
                    SocketAddr::V6(_) => {
                        t.any_v6.entry(port).or_insert(i);
                        if !s.v6only {
                            t.any_v4.entry(port).or_insert(i);
                        }
                    }
                }
            }
            None => {
                t.bound.entry((s.protocol, s.local)).or_insert(i);
            }
        }
        t.sockets.push(s);
        t.owner_of.push(o);
    }

    pub(crate) fn finish(self) -> SocketTable {
        self.table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn owner(pid: u32, comm: &str, netns: u64, foreign: bool) -> Owner {
        Owner {
            pid,
            comm: comm.into(),
            exe: None,
            uid: 1000,
            user: "alice".into(),
            netns,
            foreign_netns: foreign,
        }
    }

    fn sock(protocol: u8, local: &str, remote: Option<&str>, inode: u64) -> SocketInfo {
        SocketInfo {
            protocol,
            local: sa(local),
            remote: remote.map(sa),
            state: if remote.is_some() { 1 } else { TCP_LISTEN },
            inode,
            netns: 1,
            v6only: false,
        }
    }

    fn pid_of(t: &SocketTable, p: u8, a: &str, b: &str) -> Option<u32> {
        t.lookup(p, sa(a), sa(b)).map(|o| o.pid)
    }

    #[test]
    fn exact_beats_bound_beats_wildcard() {
        let mut b = TableBuilder::new(1);
        b.push(sock(TCP, "0.0.0.0:80", None, 1), owner(10, "any", 1, false));
        b.push(
            sock(TCP, "10.0.0.1:80", None, 2),
            owner(20, "bound", 1, false),
        );
        b.push(
            sock(TCP, "10.0.0.1:80", Some("10.0.0.9:5555"), 3),
            owner(30, "worker", 1, false),
        );
        let t = b.finish();
        assert_eq!(t.len(), 3);
        // Exact, both orientations.
        assert_eq!(pid_of(&t, TCP, "10.0.0.1:80", "10.0.0.9:5555"), Some(30));
        assert_eq!(pid_of(&t, TCP, "10.0.0.9:5555", "10.0.0.1:80"), Some(30));
        // Another peer: the specifically bound listener, either orientation.
        assert_eq!(pid_of(&t, TCP, "10.0.0.7:1", "10.0.0.1:80"), Some(20));
        assert_eq!(pid_of(&t, TCP, "10.0.0.1:80", "10.0.0.7:1"), Some(20));
        // Another local address: the wildcard listener.
        assert_eq!(pid_of(&t, TCP, "10.0.0.2:80", "10.0.0.7:1"), Some(10));
        assert_eq!(pid_of(&t, TCP, "10.0.0.7:1", "10.0.0.2:80"), Some(10));
        // Other protocol, other port: nothing.
        assert_eq!(pid_of(&t, UDP, "10.0.0.1:80", "10.0.0.9:5555"), None);
        assert_eq!(pid_of(&t, TCP, "10.0.0.1:81", "10.0.0.9:5555"), None);
    }

    #[test]
    fn the_local_end_decides_which_port_is_looked_up() {
        let mut b = TableBuilder::new(1);
        b.push(
            sock(UDP, "0.0.0.0:53", None, 1),
            owner(1, "dnsmasq", 1, false),
        );
        b.push(
            sock(UDP, "0.0.0.0:40000", None, 2),
            owner(2, "client", 1, false),
        );
        b.push(
            sock(TCP, "10.0.0.1:5000", Some("10.0.0.9:80"), 3),
            owner(3, "curl", 1, false),
        );
        let t = b.finish();
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let pid = |o: Option<&Owner>| o.map(|o| o.pid);
        // The client's query to a remote resolver is the client's, not dnsmasq's.
        assert_eq!(
            pid(t.lookup_local(UDP, a("10.0.0.1:40000"), a("8.8.8.8:53"))),
            Some(2)
        );
        // A remote client of the local resolver is dnsmasq's.
        assert_eq!(
            pid(t.lookup_local(UDP, a("10.0.0.1:53"), a("10.0.0.7:40000"))),
            Some(1)
        );
        // Connected sockets only match their own ends.
        assert_eq!(
            pid(t.lookup_local(TCP, a("10.0.0.1:5000"), a("10.0.0.9:80"))),
            Some(3)
        );
        assert_eq!(
            pid(t.lookup_local(TCP, a("10.0.0.9:80"), a("10.0.0.1:5000"))),
            None
        );
        assert_eq!(
            pid(t.lookup_connected(TCP, a("10.0.0.9:80"), a("10.0.0.1:5000"))),
            Some(3)
        );
        assert_eq!(
            pid(t.lookup_connected(UDP, a("10.0.0.1:40000"), a("8.8.8.8:53"))),
            None
        );
    }

    #[test]
    fn bound_local_beats_wildcard_on_the_other_end() {
        // a matches only a wildcard, b matches a bound socket: bound wins.
        let mut b = TableBuilder::new(1);
        b.push(sock(UDP, "0.0.0.0:53", None, 1), owner(1, "any", 1, false));
        b.push(
            sock(UDP, "127.0.0.53:5353", None, 2),
            owner(2, "bound", 1, false),
        );
        let t = b.finish();
        assert_eq!(pid_of(&t, UDP, "127.0.0.1:53", "127.0.0.53:5353"), Some(2));
    }

    #[test]
    fn v4_mapped_sockets_match_v4_flows() {
        let mut b = TableBuilder::new(1);
        // Connected dual-stack socket, as the kernel reports it.
        b.push(
            sock(
                TCP,
                "[::ffff:192.0.2.1]:443",
                Some("[::ffff:198.51.100.7]:40000"),
                1,
            ),
            owner(1, "mapped", 1, false),
        );
        // Dual-stack listener on ::.
        b.push(sock(TCP, "[::]:22", None, 2), owner(2, "sshd", 1, false));
        // IPv6-only listener on ::.
        let mut v6only = sock(TCP, "[::]:25", None, 3);
        v6only.v6only = true;
        b.push(v6only, owner(3, "smtpd", 1, false));
        // Bound to a mapped address, no peer (unconnected UDP).
        b.push(
            sock(UDP, "[::ffff:127.0.0.1]:9999", None, 4),
            owner(4, "udp", 1, false),
        );
        let t = b.finish();
        assert_eq!(
            pid_of(&t, TCP, "198.51.100.7:40000", "192.0.2.1:443"),
            Some(1)
        );
        // A v4-mapped wire address is the same flow.
        assert_eq!(
            pid_of(&t, TCP, "[::ffff:198.51.100.7]:40000", "192.0.2.1:443"),
            Some(1)
        );
        assert_eq!(pid_of(&t, TCP, "192.0.2.1:22", "203.0.113.5:6000"), Some(2));
        assert_eq!(
            pid_of(&t, TCP, "[2001:db8::1]:22", "[2001:db8::2]:6000"),
            Some(2)
        );
        assert_eq!(pid_of(&t, TCP, "192.0.2.1:25", "203.0.113.5:6000"), None);
        assert_eq!(
            pid_of(&t, TCP, "[2001:db8::1]:25", "[2001:db8::2]:6000"),
            Some(3)
        );
        assert_eq!(pid_of(&t, UDP, "127.0.0.1:9999", "127.0.0.1:1234"), Some(4));
        // IPv6 scope and flow label do not matter.
        let scoped = SocketAddr::V6(std::net::SocketAddrV6::new(
            "2001:db8::1".parse().unwrap(),
            25,
            7,
            3,
        ));
        assert_eq!(
            t.lookup(TCP, scoped, sa("[2001:db8::2]:1")).map(|o| o.pid),
            Some(3)
        );
        let (s, _) = t
            .lookup_socket(TCP, sa("198.51.100.7:40000"), sa("192.0.2.1:443"))
            .unwrap();
        assert_eq!(s.local, sa("192.0.2.1:443"));
    }

    #[test]
    fn own_namespace_wins_ties_and_owners_are_shared() {
        let mut b = TableBuilder::new(1);
        b.push(
            sock(TCP, "127.0.0.1:80", None, 1),
            owner(5, "here", 1, false),
        );
        let mut there = sock(TCP, "127.0.0.1:80", None, 2);
        there.netns = 9;
        b.push(there, owner(6, "there", 9, true));
        b.push(
            sock(TCP, "127.0.0.1:81", None, 3),
            owner(5, "here", 1, false),
        );
        let t = b.finish();
        assert_eq!(pid_of(&t, TCP, "127.0.0.1:80", "127.0.0.1:1"), Some(5));
        assert_eq!(t.owners().len(), 2);
        assert_eq!(t.sockets().filter(|(_, o)| o.pid == 5).count(), 2);
        assert_eq!(t.netns(), 1);
    }

    #[test]
    fn labels() {
        assert_eq!(owner(7, "curl", 4026531840, false).label(), "curl");
        assert_eq!(
            owner(8, "nginx", 4026532301, true).label(),
            "nginx [netns 4026532301]"
        );
        assert_eq!(owner(0, "", 4026532301, true).label(), "netns 4026532301");
        assert_eq!(owner(0, "", 4026531840, false).label(), "user alice");
    }
}
