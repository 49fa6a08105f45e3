//! Which process owns the TCP or UDP socket behind a flow, on Linux.
//!
//! A [`Scanner`] takes a picture of every TCP and UDP socket — this
//! network namespace's from sock_diag netlink (what `ss` uses), every other
//! namespace some process is in from `/proc/PID/net/*` — and finds the
//! process holding each one through the `socket:[inode]` links in
//! `/proc/*/fd`, caching inode → pid between scans so that a scan only
//! walks processes when sockets appear. The resulting [`SocketTable`]
//! answers "who owns the flow between these two endpoints?" by exact
//! connection first, then by a listening or unconnected socket bound to
//! either end. [`Attribution`] runs the scanner on its own thread so the
//! capture loop only ever picks up the newest table.
//!
//! What it cannot see: sockets of processes it may not inspect (another
//! user's, without CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE) get pid 0;
//! namespaces with no readable process are missed; short-lived sockets can
//! open and close between two scans; protocols other than TCP and UDP.
//!
//! Every `unsafe` block (the netlink socket calls) says why it is sound.
#![cfg(target_os = "linux")]

mod attribution;
mod diag;
mod established;
mod procnet;
mod scan;
mod table;

pub use attribution::Attribution;

/// The byte and text parsers, for the fuzz targets (`fuzz/`): each takes
/// untrusted input and must never panic.
pub mod parsers {
    /// Parses one sock_diag netlink datagram of sequence `seq`; returns how
    /// many sockets it held, or the reason it is malformed.
    pub fn sock_diag_reply(buf: &[u8], seq: u32) -> Result<usize, crate::ReplyError> {
        let mut out = Vec::new();
        crate::diag::parse_reply(buf, seq, &mut out).map(|_| out.len())
    }

    /// Parses a `/proc/PID/net/{tcp,udp}[6]` file; returns (sockets, bad lines).
    pub fn proc_net(text: &str, v6: bool) -> (usize, usize) {
        let (v, bad) = crate::procnet::parse_file(text, v6);
        (v.len(), bad)
    }

    /// Parses a `/proc/PID/fd/N` link target: the socket inode, if it is one.
    pub fn socket_link(link: &[u8]) -> Option<u64> {
        crate::scan::parse_socket_link(link)
    }

    /// Parses an `/etc/passwd` text: how many uids it names.
    pub fn passwd(text: &str) -> usize {
        crate::scan::parse_passwd(text).len()
    }
}
pub use diag::ReplyError;
pub use established::{EstablishedTcp, MAX_PORTS};
pub use scan::{ScanStats, Scanner};
pub use table::{normalize, Owner, SocketInfo, SocketTable, TCP, TCP_LISTEN, UDP};

use std::net::SocketAddr;

/// A socket as the kernel reports it, before normalization and owners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawSocket {
    pub local: SocketAddr,
    /// Unspecified address and port 0 when there is no peer.
    pub remote: SocketAddr,
    pub state: u8,
    pub uid: u32,
    pub inode: u64,
    pub v6only: bool,
}
