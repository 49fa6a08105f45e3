//! The scanner: sockets of every network namespace a process is in, and
//! the processes holding them, with caches kept between scans.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant, SystemTime};

use crate::diag::DiagSocket;
use crate::procnet;
use crate::table::{Owner, SocketInfo, SocketTable, TableBuilder, TCP, TCP_LISTEN, UDP};
use crate::RawSocket;

/// Inodes that no readable process held at the last complete walk are not
/// looked for again on their own before this many scans have passed.
const ORPHAN_RETRY_SCANS: u64 = 10;

/// What one scan did, for logs and benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Sockets in the table.
    pub sockets: usize,
    /// Network namespaces seen (this one included).
    pub namespaces: usize,
    /// Sockets whose owner was not cached before this scan.
    pub unknown_inodes: usize,
    /// Processes whose descriptors were read.
    pub pids_walked: usize,
    /// Processes in `/proc`.
    pub pids: usize,
    /// The walk went through every process (nothing left to stop it early).
    pub full_walk: bool,
    /// Sockets no readable process holds (owner pid 0).
    pub unowned: usize,
    /// Time the scan took.
    pub elapsed: Duration,
}

/// Scanner with caches kept between scans.
///
/// Needs no privileges for this namespace's sockets and for the
/// processes of its own user. Other users' processes need
/// CAP_DAC_READ_SEARCH (to list `/proc/PID/fd`) and CAP_SYS_PTRACE (to read
/// its links, `/proc/PID/exe` and `/proc/PID/ns/net`); without them their
/// sockets get an owner with pid 0 and other namespaces stay unseen.
pub struct Scanner {
    diag: Option<DiagSocket>,
    /// Socket inode → pid holding it.
    owner_pid: HashMap<u64, u32>,
    /// Start time (clock ticks after boot) of each pid in `owner_pid`,
    /// read when its descriptors were, to notice a reused pid.
    pid_start: HashMap<u32, u64>,
    /// Inodes no readable process held at the last complete walk.
    orphans: HashSet<u64>,
    /// Pids present at the previous scan.
    known_pids: HashSet<u32>,
    last_orphan_walk: u64,
    users: Users,
    scans: u64,
    stats: ScanStats,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("cached_inodes", &self.owner_pid.len())
            .field("orphans", &self.orphans.len())
            .field("scans", &self.scans)
            .finish_non_exhaustive()
    }
}

/// Inode of the network namespace `/proc/{pid}/ns/net` points to.
fn netns_of(pid: &str) -> io::Result<u64> {
    Ok(fs::metadata(format!("/proc/{pid}/ns/net"))?.ino())
}

/// Pids (thread-group ids) listed in `/proc`, ascending.
fn list_pids() -> io::Result<Vec<u32>> {
    let mut pids: Vec<u32> = fs::read_dir("/proc")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Start time of a process (field 22 of `/proc/PID/stat`), which with the
/// pid identifies it across pid reuse.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in parentheses may hold spaces and parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// Socket inodes among `/proc/PID/fd`'s links.
fn socket_inodes(pid: u32) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(entry) = entry else { continue };
        // A descriptor closed since the listing: skip it.
        let Ok(target) = fs::read_link(entry.path()) else {
            continue;
        };
        if let Some(inode) = parse_socket_link(target.as_os_str().as_encoded_bytes()) {
            out.push(inode);
        }
    }
    Ok(out)
}

/// `socket:[12345]` → 12345.
pub(crate) fn parse_socket_link(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// What the walk over processes found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Walk {
    /// (inode, pid) pairs for wanted or optional inodes.
    pub found: Vec<(u64, u32)>,
    /// Pids whose descriptors were read.
    pub walked: Vec<u32>,
    /// Every pid was visited.
    pub complete: bool,
}

/// Looks through the pids in `order` for the `wanted` inodes (removing
/// each one found), stopping once none is left; `optional` inodes are
/// recorded when met but do not keep the walk going. Pids `read` fails for
/// (gone, not permitted) are skipped.
pub(crate) fn walk(
    order: &[u32],
    wanted: &mut HashSet<u64>,
    optional: &HashSet<u64>,
    mut read: impl FnMut(u32) -> io::Result<Vec<u64>>,
) -> Walk {
    let mut w = Walk::default();
    for &pid in order {
        if wanted.is_empty() {
            return w; // stopped before the end
        }
        w.walked.push(pid);
        let Ok(inodes) = read(pid) else { continue };
        for inode in inodes {
            if wanted.remove(&inode) || optional.contains(&inode) {
                w.found.push((inode, pid));
            }
        }
    }
    w.complete = true;
    w
}

/// Pids to walk: those not present at the previous scan first (a new
/// socket most likely belongs to a new process), then the others.
pub(crate) fn walk_order(pids: &[u32], known: &HashSet<u32>) -> Vec<u32> {
    let (mut order, old): (Vec<u32>, Vec<u32>) = pids.iter().partition(|p| !known.contains(p));
    order.extend(old);
    order
}

/// Process facts read once per scan for each owning pid.
struct ProcInfo {
    comm: String,
    exe: Option<String>,
}

fn proc_info(pid: u32) -> Option<ProcInfo> {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let exe = fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    Some(ProcInfo {
        comm: comm.trim_end_matches('\n').to_string(),
        exe,
    })
}

/// User names from `/etc/passwd`, re-read when the file changes.
#[derive(Default)]
struct Users {
    names: HashMap<u32, String>,
    mtime: Option<SystemTime>,
}

impl Users {
    fn refresh(&mut self) {
        let mtime = fs::metadata("/etc/passwd").and_then(|m| m.modified()).ok();
        if mtime.is_some() && mtime == self.mtime {
            return;
        }
        self.mtime = mtime;
        self.names = fs::read_to_string("/etc/passwd")
            .map(|text| parse_passwd(&text))
            .unwrap_or_default();
    }

    fn name(&self, uid: u32) -> String {
        self.names
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| uid.to_string())
    }
}

/// `name:password:uid:...` lines → uid → first name.
pub(crate) fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    for line in text.lines() {
        let mut f = line.split(':');
        let (Some(name), Some(_), Some(uid)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if let Ok(uid) = uid.parse() {
            names.entry(uid).or_insert_with(|| name.to_string());
        }
    }
    names
}

/// A socket of one namespace, before owners are known.
struct Found {
    raw: RawSocket,
    protocol: u8,
    netns: u64,
}

/// Whether a socket has no peer: a TCP listener or an unconnected UDP
/// socket. Other peerless TCP sockets (bound, closed) take no flows.
fn peerless(protocol: u8, raw: &RawSocket) -> Option<bool> {
    let no_peer = raw.remote.port() == 0 && raw.remote.ip().is_unspecified();
    match (protocol, no_peer) {
        (_, false) => Some(false),
        (TCP, true) if raw.state == TCP_LISTEN => Some(true),
        (UDP, true) => Some(true),
        _ => None,
    }
}

impl Scanner {
    /// A scanner with empty caches; nothing is opened until the first scan.
    pub fn new() -> Scanner {
        Scanner {
            diag: None,
            owner_pid: HashMap::new(),
            pid_start: HashMap::new(),
            orphans: HashSet::new(),
            known_pids: HashSet::new(),
            last_orphan_walk: 0,
            users: Users::default(),
            scans: 0,
            stats: ScanStats::default(),
        }
    }

    /// Opens the sock_diag socket now (it is otherwise opened by the first
    /// scan), so a missing netlink family shows before any thread starts.
    pub fn open(&mut self) -> io::Result<()> {
        if self.diag.is_none() {
            self.diag = Some(DiagSocket::open()?);
        }
        Ok(())
    }

    /// What the last scan did.
    pub fn last_stats(&self) -> &ScanStats {
        &self.stats
    }

    /// This namespace's sockets, TCP and UDP over IPv4 and IPv6. A failed
    /// dump closes the netlink socket and retries once on a fresh one.
    fn dump_own(&mut self, netns: u64, out: &mut Vec<Found>) -> io::Result<()> {
        let mut last_err = None;
        for _attempt in 0..2 {
            self.open()?;
            let diag = self.diag.as_mut().expect("opened above");
            let mut sockets = Vec::new();
            let mut result = Ok(());
            for protocol in [TCP, UDP] {
                for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
                    let start = sockets.len();
                    result = diag.dump(family, protocol, &mut sockets);
                    if result.is_err() {
                        break;
                    }
                    out.extend(sockets.drain(start..).map(|raw| Found {
                        raw,
                        protocol,
                        netns,
                    }));
                }
                if result.is_err() {
                    break;
                }
            }
            match result {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.diag = None;
                    out.retain(|f| f.netns != netns);
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.expect("two failed attempts"))
    }

    /// Socket table of this process's network namespace from sock_diag
    /// netlink (TCP and UDP, IPv4 and IPv6, all states), plus, for every
    /// other network namespace some readable process is in, that
    /// namespace's sockets from `/proc/PID/net/{tcp,tcp6,udp,udp6}`,
    /// marked `foreign_netns`.
    ///
    /// Owners come from a cached inode → pid map filled from the
    /// `socket:[inode]` links in `/proc/*/fd`. Only sockets not cached
    /// start a walk over processes; pids not seen at the previous scan are
    /// read first and the walk stops as soon as every such socket is
    /// found. Cache entries of closed sockets, and of exited or reused
    /// pids, are dropped. Sockets that no readable process held at a
    /// complete walk are given pid 0 and looked for again only every few
    /// scans. Unreadable pids are skipped.
    ///
    /// Fails only when this namespace's netlink dump or `/proc` itself
    /// cannot be read.
    pub fn scan(&mut self) -> io::Result<SocketTable> {
        let t0 = Instant::now();
        self.scans += 1;
        let own = netns_of("self")?;
        let mut found = Vec::new();
        self.dump_own(own, &mut found)?;

        // Other namespaces: one readable process each.
        let pids = list_pids()?;
        let mut foreign: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        for &pid in &pids {
            if let Ok(ns) = netns_of(&pid.to_string()) {
                if ns != own {
                    foreign.entry(ns).or_default().push(pid);
                }
            }
        }
        for (&ns, members) in &foreign {
            for &pid in members {
                if let Some(sockets) = read_proc_net(pid, ns) {
                    found.extend(sockets);
                    break;
                }
            }
        }

        // Forget what is gone, check cached pids are the same processes.
        let live: HashSet<u64> = found
            .iter()
            .map(|f| f.raw.inode)
            .filter(|&i| i != 0)
            .collect();
        self.owner_pid.retain(|inode, _| live.contains(inode));
        self.orphans.retain(|inode| live.contains(inode));
        let mut info: HashMap<u32, Option<ProcInfo>> = HashMap::new();
        let cached_pids: HashSet<u32> = self.owner_pid.values().copied().collect();
        let mut stale = HashSet::new();
        for pid in cached_pids {
            let start = start_time(pid);
            let same = start.is_some() && start == self.pid_start.get(&pid).copied();
            match same.then(|| proc_info(pid)).flatten() {
                Some(pi) => {
                    info.insert(pid, Some(pi));
                }
                None => {
                    stale.insert(pid);
                }
            }
        }
        self.owner_pid.retain(|_, pid| !stale.contains(pid));
        self.pid_start.retain(|pid, _| info.contains_key(pid));

        // Look for the sockets not cached.
        let retry_orphans = self.scans >= self.last_orphan_walk + ORPHAN_RETRY_SCANS;
        let mut wanted: HashSet<u64> = live
            .iter()
            .copied()
            .filter(|i| !self.owner_pid.contains_key(i))
            .filter(|i| retry_orphans || !self.orphans.contains(i))
            .collect();
        let unknown = wanted.len();
        let mut stats = ScanStats {
            unknown_inodes: unknown,
            pids: pids.len(),
            namespaces: 1 + foreign.len(),
            ..ScanStats::default()
        };
        if !wanted.is_empty() {
            let order = walk_order(&pids, &self.known_pids);
            let mut starts = HashMap::new();
            let w = walk(&order, &mut wanted, &self.orphans, |pid| {
                // The start time before the descriptors: a pid reused in
                // between is caught by the next scan's check.
                let start =
                    start_time(pid).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
                let inodes = socket_inodes(pid)?;
                starts.insert(pid, start);
                Ok(inodes)
            });
            for (inode, pid) in w.found {
                if self.owner_pid.contains_key(&inode) {
                    continue;
                }
                self.owner_pid.insert(inode, pid);
                self.orphans.remove(&inode);
                if let Some(&start) = starts.get(&pid) {
                    self.pid_start.insert(pid, start);
                }
            }
            if w.complete {
                self.orphans.extend(wanted.iter().copied());
                if retry_orphans {
                    self.last_orphan_walk = self.scans;
                }
            }
            stats.pids_walked = w.walked.len();
            stats.full_walk = w.complete;
        }
        if self.orphans.is_empty() {
            self.last_orphan_walk = self.scans;
        }
        self.known_pids = pids.into_iter().collect();

        // Build the table, this namespace first.
        self.users.refresh();
        let mut builder = TableBuilder::new(own);
        for f in found {
            if f.raw.inode == 0 {
                continue; // TIME_WAIT and other sockets no file holds
            }
            let Some(no_peer) = peerless(f.protocol, &f.raw) else {
                continue;
            };
            let mut pid = self.owner_pid.get(&f.raw.inode).copied().unwrap_or(0);
            let pi = if pid != 0 {
                info.entry(pid).or_insert_with(|| proc_info(pid)).as_ref()
            } else {
                None
            };
            if pi.is_none() {
                pid = 0;
                stats.unowned += 1;
            }
            let owner = Owner {
                pid,
                comm: pi.map(|p| p.comm.clone()).unwrap_or_default(),
                exe: pi.and_then(|p| p.exe.clone()),
                uid: f.raw.uid,
                user: self.users.name(f.raw.uid),
                netns: f.netns,
                foreign_netns: f.netns != own,
            };
            let socket = SocketInfo {
                protocol: f.protocol,
                local: f.raw.local,
                remote: (!no_peer).then_some(f.raw.remote),
                state: f.raw.state,
                inode: f.raw.inode,
                netns: f.netns,
                v6only: f.raw.v6only,
            };
            builder.push(socket, owner);
        }
        let table = builder.finish();
        stats.sockets = table.len();
        stats.elapsed = t0.elapsed();
        self.stats = stats;
        Ok(table)
    }
}

/// Reads a `/proc` table in as few `read` calls as the kernel allows.
///
/// Each `read` of `/proc/PID/net/tcp` that reaches the end walks the whole
/// established-connection hash table, shared by all namespaces (262144
/// buckets on a 23 GiB machine, ~2 ms a walk). `fs::read_to_string` starts
/// with a 32-byte probe and grows, which costs two extra walks per file; a
/// large buffer leaves one read per 4 KiB page of lines plus the final one.
fn read_seq_file(path: &str) -> io::Result<String> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(64 * 1024);
    fs::File::open(path)?.read_to_end(&mut buf)?;
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The sockets of namespace `ns` read through `pid`; `None` when the files
/// cannot be read or the pid left the namespace meanwhile.
fn read_proc_net(pid: u32, ns: u64) -> Option<Vec<Found>> {
    let mut out = Vec::new();
    for (file, protocol, v6) in [
        ("tcp", TCP, false),
        ("tcp6", TCP, true),
        ("udp", UDP, false),
        ("udp6", UDP, true),
    ] {
        let text = match read_seq_file(&format!("/proc/{pid}/net/{file}")) {
            Ok(t) => t,
            // IPv6 may be compiled out or disabled.
            Err(e) if v6 && e.kind() == io::ErrorKind::NotFound => continue,
            Err(_) => return None,
        };
        let (sockets, _malformed) = procnet::parse_file(&text, v6);
        out.extend(sockets.into_iter().map(|raw| Found {
            raw,
            protocol,
            netns: ns,
        }));
    }
    (netns_of(&pid.to_string()).ok() == Some(ns)).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u64]) -> HashSet<u64> {
        v.iter().copied().collect()
    }

    #[test]
    fn socket_links() {
        assert_eq!(parse_socket_link(b"socket:[123456]"), Some(123456));
        assert_eq!(parse_socket_link(b"pipe:[123456]"), None);
        assert_eq!(parse_socket_link(b"socket:[12x]"), None);
        assert_eq!(parse_socket_link(b"socket:[]"), None);
        assert_eq!(parse_socket_link(b"/dev/null"), None);
    }

    #[test]
    fn walk_stops_once_everything_is_found() {
        let fds: HashMap<u32, Vec<u64>> = [
            (1, vec![10, 11]),
            (2, vec![20]),
            (3, vec![30]),
            (4, vec![40]),
        ]
        .into_iter()
        .collect();
        let mut wanted = set(&[20, 11]);
        let mut read_log = Vec::new();
        let w = walk(&[1, 2, 3, 4], &mut wanted, &set(&[]), |pid| {
            read_log.push(pid);
            Ok(fds[&pid].clone())
        });
        assert_eq!(read_log, vec![1, 2]);
        assert_eq!(w.walked, vec![1, 2]);
        assert!(!w.complete);
        assert!(wanted.is_empty());
        assert_eq!(w.found, vec![(11, 1), (20, 2)]);
    }

    #[test]
    fn walk_skips_unreadable_pids_and_records_optional_inodes() {
        let mut wanted = set(&[30, 99]);
        let w = walk(&[1, 2, 3], &mut wanted, &set(&[10]), |pid| match pid {
            2 => Err(io::Error::from(io::ErrorKind::PermissionDenied)),
            1 => Ok(vec![10, 12]),
            _ => Ok(vec![30]),
        });
        assert!(w.complete);
        assert_eq!(w.walked, vec![1, 2, 3]);
        assert_eq!(w.found, vec![(10, 1), (30, 3)]);
        assert_eq!(wanted, set(&[99]));
        // Nothing wanted: nothing read.
        let w = walk(
            &[1, 2],
            &mut HashSet::new(),
            &set(&[10]),
            |_| unreachable!(),
        );
        assert!(w.walked.is_empty());
    }

    #[test]
    fn walk_reaching_the_last_pid_is_complete() {
        let mut wanted = set(&[3]);
        let w = walk(&[1, 2, 3], &mut wanted, &set(&[]), |pid| {
            Ok(vec![u64::from(pid)])
        });
        assert!(w.complete);
        assert!(wanted.is_empty());
    }

    #[test]
    fn new_pids_come_first() {
        let known: HashSet<u32> = [1, 2, 5].into_iter().collect();
        assert_eq!(walk_order(&[1, 2, 3, 5, 8], &known), vec![3, 8, 1, 2, 5]);
        assert_eq!(walk_order(&[1, 2], &HashSet::new()), vec![1, 2]);
    }

    #[test]
    fn passwd_lines() {
        let names = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\n\
             # comment\n\
             bad line\n\
             alice:x:1000:1000::/home/alice:/bin/sh\n\
             toor:x:0:0::/root:/bin/sh\n",
        );
        assert_eq!(names.get(&0).map(String::as_str), Some("root"));
        assert_eq!(names.get(&1000).map(String::as_str), Some("alice"));
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn own_stat_start_time() {
        let me = std::process::id();
        let a = start_time(me).expect("own stat");
        assert_eq!(start_time(me), Some(a));
    }

    fn raw(remote: &str, state: u8) -> RawSocket {
        RawSocket {
            local: "10.0.0.1:80".parse().unwrap(),
            remote: remote.parse().unwrap(),
            state,
            uid: 0,
            inode: 1,
            v6only: false,
        }
    }

    #[test]
    fn which_sockets_have_no_peer() {
        assert_eq!(peerless(TCP, &raw("0.0.0.0:0", TCP_LISTEN)), Some(true));
        assert_eq!(peerless(TCP, &raw("[::]:0", TCP_LISTEN)), Some(true));
        assert_eq!(peerless(TCP, &raw("1.2.3.4:5", 1)), Some(false));
        // Bound but neither listening nor connected: no flows.
        assert_eq!(peerless(TCP, &raw("0.0.0.0:0", 7)), None);
        assert_eq!(peerless(UDP, &raw("0.0.0.0:0", 7)), Some(true));
        assert_eq!(peerless(UDP, &raw("1.2.3.4:5", 1)), Some(false));
    }
}
