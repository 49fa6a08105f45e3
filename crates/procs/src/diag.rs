//! The socket table of this process's network namespace from sock_diag
//! netlink (`NETLINK_SOCK_DIAG`, `SOCK_DIAG_BY_FAMILY` with an
//! `inet_diag_req_v2`), the interface `ss` uses.
//!
//! Written on `libc` by hand: the netlink crates on crates.io bring a
//! generic message framework for a request of 72 bytes and a reply record
//! of 72 bytes. Replies are parsed as plain bytes with a bounds check on
//! every field, so a short or corrupt message ends the parse with an error
//! instead of reading past the buffer.
//!
//! Unlike `/proc/net/tcp`, a dump needs no text formatting in the kernel
//! and reports whether an IPv6 socket is IPv6-only (`INET_DIAG_SKV6ONLY`),
//! which decides whether a `::` listener also takes IPv4 flows.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::RawSocket;

/// `struct nlmsghdr`: len u32, type u16, flags u16, seq u32, pid u32.
const NLMSG_HDRLEN: usize = 16;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
/// NLM_F_ROOT | NLM_F_MATCH.
const NLM_F_DUMP: u16 = 0x300;
/// `linux/sock_diag.h`.
pub(crate) const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `struct inet_diag_req_v2`: family, protocol, ext, pad, states u32, sockid (48).
const REQ_LEN: usize = 56;
/// `struct inet_diag_msg`: family, state, timer, retrans, sockid (48),
/// expires, rqueue, wqueue, uid, inode (u32 each).
pub(crate) const MSG_LEN: usize = 72;
/// `struct rtattr` header: len u16, type u16.
const RTA_HDRLEN: usize = 4;
/// `INET_DIAG_SKV6ONLY`: u8, present for every AF_INET6 socket.
pub(crate) const INET_DIAG_SKV6ONLY: u16 = 11;
/// The netlink attribute type bits (NLA_TYPE_MASK).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Why a reply could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A message is shorter than its header says, or than its type needs.
    #[error("truncated sock_diag netlink message")]
    Truncated,
    /// The kernel answered with an error (a positive errno).
    #[error("sock_diag request failed: {}", io::Error::from_raw_os_error(*.0))]
    Kernel(i32),
}

impl From<ReplyError> for io::Error {
    fn from(e: ReplyError) -> io::Error {
        match e {
            ReplyError::Kernel(errno) => {
                let os = io::Error::from_raw_os_error(errno);
                io::Error::new(os.kind(), e)
            }
            ReplyError::Truncated => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

/// Where a dump stands after one received buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// More messages will follow in another datagram.
    More,
    /// `NLMSG_DONE` seen: the dump is complete.
    Done,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// `idiag_states` bit set for every TCP state.
pub(crate) const ALL_STATES: u32 = u32::MAX;
/// `INET_DIAG_REQ_BYTECODE`: the request attribute holding a filter program.
const INET_DIAG_REQ_BYTECODE: u16 = 1;
/// `inet_diag_bc_op` codes (`linux/inet_diag.h`).
const INET_DIAG_BC_JMP: u8 = 1;
const INET_DIAG_BC_S_EQ: u8 = 11;
const INET_DIAG_BC_D_EQ: u8 = 12;

/// The dump request for the sockets of one family and protocol in the
/// `states` bit set (bit N = TCP state N), filtered in the kernel by the
/// `bytecode` program when it is not empty.
pub(crate) fn build_request(
    family: u8,
    protocol: u8,
    seq: u32,
    states: u32,
    bytecode: &[u8],
) -> Vec<u8> {
    let attr = if bytecode.is_empty() {
        0
    } else {
        RTA_HDRLEN + bytecode.len()
    };
    let len = NLMSG_HDRLEN + REQ_LEN + align4(attr);
    let mut b = vec![0u8; len];
    b[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    b[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    // nlmsg_pid 0: the kernel fills in our port id.
    let r = NLMSG_HDRLEN;
    b[r] = family;
    b[r + 1] = protocol;
    // idiag_ext 0: no optional attributes beyond those always sent.
    b[r + 4..r + 8].copy_from_slice(&states.to_ne_bytes());
    // The socket id stays zero: match everything the states and the
    // program let through.
    if attr > 0 {
        let a = NLMSG_HDRLEN + REQ_LEN;
        b[a..a + 2].copy_from_slice(&(attr as u16).to_ne_bytes());
        b[a + 2..a + 4].copy_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        b[a + RTA_HDRLEN..a + attr].copy_from_slice(bytecode);
    }
    b
}

/// One `inet_diag_bc_op`: code u8, yes u8, no u16 (jump offsets in bytes).
fn bc_op(out: &mut Vec<u8>, code: u8, yes: u8, no: u16) {
    out.push(code);
    out.push(yes);
    out.extend_from_slice(&no.to_ne_bytes());
}

/// The inet_diag filter program "local port or remote port is one of
/// `ports`" (empty for no ports: then nothing should be asked for).
///
/// The kernel runs it as a chain of tests: a true test jumps `yes` bytes, a
/// false one `no` bytes; landing exactly on the end accepts the socket,
/// jumping past it rejects. Its validator only accepts a `no` target that
/// the chain of `yes` jumps from the start also reaches, which is why the
/// tests are joined the way `ss` joins an `or`: each test (8 bytes: the op
/// and the port) is followed by a `JMP` to the end, which its `yes` (8)
/// lands on, whose own `yes` (4) leads to the next test, which the `no`
/// (12) of the test lands on. The last test's `no` jumps 4 bytes past the
/// end: rejected.
pub(crate) fn ports_bytecode(ports: &[u16]) -> Vec<u8> {
    if ports.is_empty() {
        return Vec::new();
    }
    let tests: Vec<(u8, u16)> = ports
        .iter()
        .flat_map(|&p| [(INET_DIAG_BC_S_EQ, p), (INET_DIAG_BC_D_EQ, p)])
        .collect();
    let total = tests.len() * 12 - 4;
    let mut b = Vec::with_capacity(total);
    for (i, &(code, port)) in tests.iter().enumerate() {
        bc_op(&mut b, code, 8, 12);
        bc_op(&mut b, 0, 0, port);
        if i + 1 < tests.len() {
            let to_end = (total - b.len()) as u16;
            bc_op(&mut b, INET_DIAG_BC_JMP, 4, to_end);
        }
    }
    b
}

/// Reads an address from an `inet_diag_sockid` field (16 bytes; IPv4 uses
/// the first four).
fn addr(family: u8, bytes: &[u8]) -> Option<IpAddr> {
    if family == libc::AF_INET as u8 {
        let a: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(a)))
    } else {
        let a: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(a)))
    }
}

/// Parses one `inet_diag_msg` and its attributes (`payload` is everything
/// after the netlink header, within the message's length).
fn parse_msg(payload: &[u8]) -> Result<Option<RawSocket>, ReplyError> {
    if payload.len() < MSG_LEN {
        return Err(ReplyError::Truncated);
    }
    let family = payload[0];
    if family != libc::AF_INET as u8 && family != libc::AF_INET6 as u8 {
        return Ok(None);
    }
    let state = payload[1];
    let id = &payload[4..52];
    let sport = u16::from_be_bytes([id[0], id[1]]);
    let dport = u16::from_be_bytes([id[2], id[3]]);
    let src = addr(family, &id[4..20]).ok_or(ReplyError::Truncated)?;
    let dst = addr(family, &id[20..36]).ok_or(ReplyError::Truncated)?;
    let uid = u32_at(payload, 64).ok_or(ReplyError::Truncated)?;
    let inode = u32_at(payload, 68).ok_or(ReplyError::Truncated)?;
    let mut v6only = false;
    let mut at = MSG_LEN;
    while at + RTA_HDRLEN <= payload.len() {
        let len = usize::from(u16_at(payload, at).ok_or(ReplyError::Truncated)?);
        let kind = u16_at(payload, at + 2).ok_or(ReplyError::Truncated)? & NLA_TYPE_MASK;
        if len < RTA_HDRLEN || at + len > payload.len() {
            return Err(ReplyError::Truncated);
        }
        if kind == INET_DIAG_SKV6ONLY && len > RTA_HDRLEN {
            v6only = payload[at + RTA_HDRLEN] != 0;
        }
        at += align4(len);
    }
    Ok(Some(RawSocket {
        local: SocketAddr::new(src, sport),
        remote: SocketAddr::new(dst, dport),
        state,
        uid,
        inode: u64::from(inode),
        v6only,
    }))
}

/// Parses one received datagram of a dump with sequence number `seq`,
/// appending sockets to `out`. Messages of other sequence numbers (left
/// over from an abandoned dump) are skipped.
pub(crate) fn parse_reply(
    buf: &[u8],
    seq: u32,
    out: &mut Vec<RawSocket>,
) -> Result<Step, ReplyError> {
    let mut at = 0;
    while at < buf.len() {
        let rest = &buf[at..];
        if rest.len() < NLMSG_HDRLEN {
            return Err(ReplyError::Truncated);
        }
        let len = u32_at(rest, 0).ok_or(ReplyError::Truncated)? as usize;
        let kind = u16_at(rest, 4).ok_or(ReplyError::Truncated)?;
        let msg_seq = u32_at(rest, 8).ok_or(ReplyError::Truncated)?;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Err(ReplyError::Truncated);
        }
        let payload = &rest[NLMSG_HDRLEN..len];
        at += align4(len).min(rest.len());
        if msg_seq != seq {
            continue;
        }
        match kind {
            NLMSG_DONE => {
                // The payload, when present, is the dump's final status.
                if let Some(status) = u32_at(payload, 0) {
                    let status = status as i32;
                    if status < 0 {
                        return Err(ReplyError::Kernel(-status));
                    }
                }
                return Ok(Step::Done);
            }
            NLMSG_ERROR => {
                let code = u32_at(payload, 0).ok_or(ReplyError::Truncated)? as i32;
                if code == 0 {
                    // An acknowledgement: nothing more will come.
                    return Ok(Step::Done);
                }
                return Err(ReplyError::Kernel(code.unsigned_abs() as i32));
            }
            NLMSG_NOOP => {}
            SOCK_DIAG_BY_FAMILY => {
                if let Some(s) = parse_msg(payload)? {
                    out.push(s);
                }
            }
            _ => {}
        }
    }
    Ok(Step::More)
}

/// A sock_diag netlink socket bound to the network namespace of the
/// process that opened it.
pub(crate) struct DiagSocket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

/// Receive buffer: the kernel sizes dump datagrams to the reader's buffer,
/// at most 32 KiB plus headers; twice that is never truncated.
const RECV_BUF: usize = 64 * 1024;

impl DiagSocket {
    /// Opens the socket, with a 5 s receive timeout so a lost reply cannot
    /// hang the scanner.
    pub(crate) fn open() -> io::Result<DiagSocket> {
        // SAFETY: plain socket(2) call with constant arguments.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let timeout = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        // SAFETY: the option value points to a live timeval of the size given.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(DiagSocket {
            fd,
            seq: 0,
            buf: vec![0u8; RECV_BUF],
        })
    }

    /// Dumps every socket of `family` (AF_INET or AF_INET6) and `protocol`
    /// (6 or 17), all states, into `out`.
    pub(crate) fn dump(
        &mut self,
        family: u8,
        protocol: u8,
        out: &mut Vec<RawSocket>,
    ) -> io::Result<()> {
        self.dump_filtered(family, protocol, ALL_STATES, &[], out)
    }

    /// Dumps the sockets of `family` and `protocol` in the `states` bit set
    /// that the filter program `bytecode` (none when empty) accepts.
    pub(crate) fn dump_filtered(
        &mut self,
        family: u8,
        protocol: u8,
        states: u32,
        bytecode: &[u8],
        out: &mut Vec<RawSocket>,
    ) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let req = build_request(family, protocol, self.seq, states, bytecode);
        // SAFETY: sockaddr_nl is plain data; all-zero is valid before the
        // family is set.
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        loop {
            // SAFETY: `req` and `kernel` are live for the call and the
            // lengths given are theirs.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    req.as_ptr().cast(),
                    req.len(),
                    0,
                    (&kernel as *const libc::sockaddr_nl).cast(),
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if n >= 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        loop {
            // SAFETY: the buffer is live and writable for its full length;
            // MSG_TRUNC only changes the returned length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no sock_diag reply within 5 s",
                        ))
                    }
                    _ => return Err(e),
                }
            }
            let n = n as usize;
            if n > self.buf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("sock_diag reply of {n} bytes exceeds the {RECV_BUF}-byte buffer"),
                ));
            }
            if parse_reply(&self.buf[..n], self.seq, out)? == Step::Done {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One netlink message: header then payload, padded to 4 bytes.
    fn nlmsg(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDRLEN + payload.len();
        let mut b = Vec::new();
        b.extend_from_slice(&(len as u32).to_ne_bytes());
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(&0x2u16.to_ne_bytes()); // NLM_F_MULTI
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&1234u32.to_ne_bytes());
        b.extend_from_slice(payload);
        b.resize(align4(b.len()), 0);
        b
    }

    /// An `inet_diag_msg` payload with optional attributes; the family
    /// follows the addresses.
    fn diag(
        state: u8,
        src: &str,
        dst: &str,
        uid: u32,
        inode: u32,
        attrs: &[(u16, &[u8])],
    ) -> Vec<u8> {
        let (src, dst): (SocketAddr, SocketAddr) = (src.parse().unwrap(), dst.parse().unwrap());
        let family = if src.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        let mut b = vec![family as u8, state, 0, 0];
        b.extend_from_slice(&src.port().to_be_bytes());
        b.extend_from_slice(&dst.port().to_be_bytes());
        for a in [src.ip(), dst.ip()] {
            let mut f = [0u8; 16];
            match a {
                IpAddr::V4(v4) => f[..4].copy_from_slice(&v4.octets()),
                IpAddr::V6(v6) => f.copy_from_slice(&v6.octets()),
            }
            b.extend_from_slice(&f);
        }
        b.extend_from_slice(&[0u8; 12]); // interface, cookie
        b.extend_from_slice(&[0u8; 12]); // expires, rqueue, wqueue
        b.extend_from_slice(&uid.to_ne_bytes());
        b.extend_from_slice(&inode.to_ne_bytes());
        assert_eq!(b.len(), MSG_LEN);
        for (kind, data) in attrs {
            let len = RTA_HDRLEN + data.len();
            b.extend_from_slice(&(len as u16).to_ne_bytes());
            b.extend_from_slice(&kind.to_ne_bytes());
            b.extend_from_slice(data);
            b.resize(align4(b.len()), 0);
        }
        b
    }

    #[test]
    fn request_layout() {
        let r = build_request(libc::AF_INET6 as u8, 17, 7, ALL_STATES, &[]);
        assert_eq!(r.len(), 72);
        assert_eq!(u32_at(&r, 0), Some(72));
        assert_eq!(u16_at(&r, 4), Some(20));
        assert_eq!(u16_at(&r, 6), Some(0x301));
        assert_eq!(u32_at(&r, 8), Some(7));
        assert_eq!((r[16], r[17], r[18]), (libc::AF_INET6 as u8, 17, 0));
        assert_eq!(u32_at(&r, 20), Some(u32::MAX));
        assert!(r[24..].iter().all(|&b| b == 0));
    }

    /// Runs a filter program as the kernel's `inet_diag_bc_run` does, for
    /// the port tests only: whether a socket with these ports is accepted.
    fn run_bytecode(bc: &[u8], sport: u16, dport: u16) -> bool {
        let mut at = 0usize;
        let mut len = bc.len() as isize;
        while len > 0 {
            let (code, yes, no) = (bc[at], bc[at + 1], u16_at(bc, at + 2).unwrap());
            let pass = match code {
                INET_DIAG_BC_JMP => false,
                INET_DIAG_BC_S_EQ => Some(sport) == u16_at(bc, at + 6),
                INET_DIAG_BC_D_EQ => Some(dport) == u16_at(bc, at + 6),
                _ => panic!("unexpected op {code}"),
            };
            let step = if pass {
                usize::from(yes)
            } else {
                usize::from(no)
            };
            len -= step as isize;
            at += step;
        }
        len == 0
    }

    #[test]
    fn ports_program_accepts_either_end_on_a_listed_port() {
        assert!(ports_bytecode(&[]).is_empty());
        let one = ports_bytecode(&[22]);
        // S_EQ 22, JMP to end, D_EQ 22.
        assert_eq!(one.len(), 8 + 4 + 8);
        assert_eq!(
            (one[0], one[1], u16_at(&one, 2)),
            (INET_DIAG_BC_S_EQ, 8, Some(12))
        );
        assert_eq!(u16_at(&one, 6), Some(22));
        assert_eq!(
            (one[8], one[9], u16_at(&one, 10)),
            (INET_DIAG_BC_JMP, 4, Some(12))
        );
        assert_eq!(
            (one[12], one[13], u16_at(&one, 14)),
            (INET_DIAG_BC_D_EQ, 8, Some(12))
        );
        let two = ports_bytecode(&[22, 2222]);
        for (s, d, want) in [
            (22, 50000, true),
            (50000, 22, true),
            (2222, 1, true),
            (1, 2222, true),
            (23, 50000, false),
            (50000, 2223, false),
        ] {
            assert_eq!(run_bytecode(&two, s, d), want, "{s} -> {d}");
        }
        let req = build_request(libc::AF_INET as u8, 6, 1, 1 << 1, &two);
        assert_eq!(req.len(), 72 + 4 + two.len());
        assert_eq!(u32_at(&req, 0), Some(req.len() as u32));
        assert_eq!(u32_at(&req, 20), Some(2));
        assert_eq!(u16_at(&req, 72), Some((4 + two.len()) as u16));
        assert_eq!(u16_at(&req, 74), Some(INET_DIAG_REQ_BYTECODE));
        assert_eq!(&req[76..], &two[..]);
    }

    #[test]
    fn one_datagram_with_done() {
        let mut buf = nlmsg(
            SOCK_DIAG_BY_FAMILY,
            9,
            &diag(10, "127.0.0.1:631", "0.0.0.0:0", 0, 4711, &[]),
        );
        buf.extend(nlmsg(
            SOCK_DIAG_BY_FAMILY,
            9,
            &diag(1, "10.0.0.2:40000", "1.1.1.1:443", 1000, 4712, &[]),
        ));
        buf.extend(nlmsg(NLMSG_DONE, 9, &0i32.to_ne_bytes()));
        let mut out = Vec::new();
        assert_eq!(parse_reply(&buf, 9, &mut out), Ok(Step::Done));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].local, "127.0.0.1:631".parse().unwrap());
        assert_eq!(out[0].remote, "0.0.0.0:0".parse().unwrap());
        assert_eq!((out[0].state, out[0].inode, out[0].uid), (10, 4711, 0));
        // Ports are big-endian on the wire: 40000 = 0x9C40.
        assert_eq!(out[1].local, "10.0.0.2:40000".parse().unwrap());
        assert_eq!(out[1].remote, "1.1.1.1:443".parse().unwrap());
        assert_eq!((out[1].uid, out[1].inode), (1000, 4712));
    }

    #[test]
    fn multipart_over_two_datagrams() {
        let first = nlmsg(
            SOCK_DIAG_BY_FAMILY,
            3,
            &diag(
                10,
                "[::]:22",
                "[::]:0",
                0,
                100,
                &[(INET_DIAG_SKV6ONLY, &[0])],
            ),
        );
        let mut second = nlmsg(
            SOCK_DIAG_BY_FAMILY,
            3,
            &diag(
                10,
                "[::]:23",
                "[::]:0",
                0,
                101, // An unknown attribute first; then v6only set.
                &[(5, &[0, 0, 0]), (INET_DIAG_SKV6ONLY, &[1])],
            ),
        );
        second.extend(nlmsg(NLMSG_DONE, 3, &[]));
        let mut out = Vec::new();
        assert_eq!(parse_reply(&first, 3, &mut out), Ok(Step::More));
        assert_eq!(parse_reply(&second, 3, &mut out), Ok(Step::Done));
        assert_eq!(out.len(), 2);
        assert!(!out[0].v6only);
        assert!(out[1].v6only);
        assert_eq!(out[1].local, "[::]:23".parse().unwrap());
    }

    #[test]
    fn mapped_addresses_are_kept_raw() {
        let buf = nlmsg(
            SOCK_DIAG_BY_FAMILY,
            1,
            &diag(
                1,
                "[::ffff:127.0.0.1]:80",
                "[::ffff:127.0.0.2]:5000",
                33,
                7,
                &[(INET_DIAG_SKV6ONLY, &[0])],
            ),
        );
        let mut out = Vec::new();
        assert_eq!(parse_reply(&buf, 1, &mut out), Ok(Step::More));
        assert_eq!(out[0].local, "[::ffff:127.0.0.1]:80".parse().unwrap());
    }

    #[test]
    fn kernel_errors_and_acks() {
        let mut payload = (-libc::EPERM).to_ne_bytes().to_vec();
        payload.extend_from_slice(&[0u8; 16]); // the original header
        let mut out = Vec::new();
        assert_eq!(
            parse_reply(&nlmsg(NLMSG_ERROR, 4, &payload), 4, &mut out),
            Err(ReplyError::Kernel(libc::EPERM))
        );
        let ack = nlmsg(NLMSG_ERROR, 4, &[0u8; 20]);
        assert_eq!(parse_reply(&ack, 4, &mut out), Ok(Step::Done));
        // A failed dump reports its status in NLMSG_DONE.
        let done = nlmsg(NLMSG_DONE, 4, &(-libc::ENOENT).to_ne_bytes());
        assert_eq!(
            parse_reply(&done, 4, &mut out),
            Err(ReplyError::Kernel(libc::ENOENT))
        );
        let e: io::Error = ReplyError::Kernel(libc::EPERM).into();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        // An error message without its code is truncated.
        assert_eq!(
            parse_reply(&nlmsg(NLMSG_ERROR, 4, &[]), 4, &mut out),
            Err(ReplyError::Truncated)
        );
    }

    #[test]
    fn other_sequence_numbers_and_noops_are_skipped() {
        let mut buf = nlmsg(
            SOCK_DIAG_BY_FAMILY,
            1,
            &diag(1, "1.2.3.4:1", "5.6.7.8:2", 0, 1, &[]),
        );
        buf.extend(nlmsg(NLMSG_DONE, 1, &[0; 4]));
        buf.extend(nlmsg(NLMSG_NOOP, 2, &[]));
        buf.extend(nlmsg(
            SOCK_DIAG_BY_FAMILY,
            2,
            &diag(1, "1.2.3.4:3", "5.6.7.8:4", 0, 2, &[]),
        ));
        let mut out = Vec::new();
        assert_eq!(parse_reply(&buf, 2, &mut out), Ok(Step::More));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].inode, 2);
    }

    #[test]
    fn truncation_is_an_error_not_a_panic() {
        let whole = nlmsg(
            SOCK_DIAG_BY_FAMILY,
            1,
            &diag(1, "[::1]:1", "[::1]:2", 0, 1, &[(INET_DIAG_SKV6ONLY, &[1])]),
        );
        let mut out = Vec::new();
        assert_eq!(parse_reply(&whole, 1, &mut out), Ok(Step::More));
        // Every cut: short header, message longer than the buffer.
        for cut in 1..whole.len() {
            let r = parse_reply(&whole[..cut], 1, &mut out);
            assert_eq!(r, Err(ReplyError::Truncated), "cut at {cut}");
        }
        // A message whose header claims less than an inet_diag_msg.
        let mut short = whole.clone();
        short[0..4].copy_from_slice(&((NLMSG_HDRLEN + 40) as u32).to_ne_bytes());
        assert_eq!(parse_reply(&short, 1, &mut out), Err(ReplyError::Truncated));
        // An attribute running past its message.
        let mut bad_attr = whole.clone();
        let at = NLMSG_HDRLEN + MSG_LEN;
        bad_attr[at..at + 2].copy_from_slice(&64u16.to_ne_bytes());
        assert_eq!(
            parse_reply(&bad_attr, 1, &mut out),
            Err(ReplyError::Truncated)
        );
        // A header length below the header size.
        let mut tiny = whole;
        tiny[0..4].copy_from_slice(&8u32.to_ne_bytes());
        assert_eq!(parse_reply(&tiny, 1, &mut out), Err(ReplyError::Truncated));
    }
}
