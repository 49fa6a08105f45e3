//! One AF_PACKET socket with a TPACKET_V3 receive ring.
//!
//! The kernel fills fixed-size blocks with variable-length frames and hands a
//! block to user space by setting `TP_STATUS_USER` in its header; we walk the
//! frames and hand it back with `TP_STATUS_KERNEL`. When every block is owned
//! by user space the kernel drops packets and counts them (PACKET_STATISTICS):
//! capture never blocks the network stack.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

use wirewatch_wire::{linktype, Frame, Timestamp};

use crate::iface::Interface;
use crate::LiveError;

/// One classic BPF instruction, laid out like Linux's `struct sock_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BpfInsn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Constant.
    pub k: u32,
}

/// Ring geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingConfig {
    /// Bytes per block: a multiple of the page size.
    pub block_size: u32,
    /// Number of blocks.
    pub block_count: u32,
    /// A partly filled block is handed over after this many milliseconds.
    pub retire_ms: u32,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            block_size: 1 << 20,
            block_count: 32,
            retire_ms: 50,
        }
    }
}

impl RingConfig {
    /// Bytes of one ring (blocks × block size).
    pub fn total_bytes(&self) -> u64 {
        u64::from(self.block_size) * u64::from(self.block_count)
    }

    /// Checks the geometry against the kernel's rules.
    pub fn validate(&self) -> Result<(), LiveError> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u32;
        if self.block_size < page || !self.block_size.is_multiple_of(page) {
            return Err(LiveError::BadRing(format!(
                "block size {} must be a positive multiple of the page size ({page})",
                self.block_size
            )));
        }
        if !self.block_size.is_power_of_two() {
            return Err(LiveError::BadRing(format!(
                "block size {} must be a power of two",
                self.block_size
            )));
        }
        if self.block_count == 0 {
            return Err(LiveError::BadRing("block count must be at least 1".into()));
        }
        let total = self.total_bytes();
        if total > 1 << 32 {
            return Err(LiveError::BadRing(format!(
                "ring of {total} bytes is larger than 4 GiB"
            )));
        }
        Ok(())
    }
}

/// How to open one socket.
#[derive(Clone, Debug)]
pub struct SocketConfig {
    /// Ring geometry.
    pub ring: RingConfig,
    /// Put the interface into promiscuous mode.
    pub promiscuous: bool,
    /// Bytes kept of each packet (when no filter program sets it).
    pub snaplen: u32,
}

/// What the link layer of a socket's frames looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// Ethernet headers (also loopback).
    Ethernet,
    /// No link header: raw IPv4/IPv6 (tun, GRE, SIT, PPP, WireGuard).
    RawIp,
    /// Anything else, read through a cooked socket with a synthesised Linux
    /// SLL header.
    Cooked,
}

impl LinkKind {
    /// The pcap link type of frames from this socket.
    pub fn link_type(self) -> u32 {
        match self {
            LinkKind::Ethernet => linktype::ETHERNET,
            LinkKind::RawIp => linktype::RAW,
            LinkKind::Cooked => linktype::LINUX_SLL,
        }
    }

    /// How frames of an interface with this ARPHRD type are read.
    pub fn for_hatype(hatype: u16) -> LinkKind {
        match hatype {
            libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK | libc::ARPHRD_IEEE802 => {
                LinkKind::Ethernet
            }
            libc::ARPHRD_NONE
            | libc::ARPHRD_TUNNEL
            | libc::ARPHRD_TUNNEL6
            | libc::ARPHRD_SIT
            | libc::ARPHRD_IPGRE
            | libc::ARPHRD_PPP
            | 519 /* ARPHRD_RAWIP */ => LinkKind::RawIp,
            _ => LinkKind::Cooked,
        }
    }
}

/// Kernel counters of one socket, cumulative since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Packets that passed the filter (including the dropped ones).
    pub received: u64,
    /// Packets dropped because the ring was full.
    pub dropped: u64,
}

/// A `struct pollfd`.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct PollFd {
    /// Descriptor.
    pub fd: RawFd,
    /// Requested events.
    pub events: i16,
    /// Returned events.
    pub revents: i16,
}

impl PollFd {
    /// Waits for input or errors on `fd`.
    pub fn input(fd: RawFd) -> PollFd {
        PollFd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        }
    }

    /// Input is ready.
    pub fn readable(&self) -> bool {
        self.revents & libc::POLLIN != 0
    }

    /// An error or hang-up is pending.
    pub fn failed(&self) -> bool {
        self.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
    }
}

/// poll(2): waits up to `timeout_ms` for any of `fds`. An interrupted wait
/// (a signal) returns `Ok(0)`.
pub fn poll(fds: &mut [PollFd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: PollFd has the layout of struct pollfd and the slice is valid
    // for its length.
    let n = unsafe {
        libc::poll(
            fds.as_mut_ptr() as *mut libc::pollfd,
            fds.len() as libc::nfds_t,
            timeout_ms,
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(n as usize)
}

/// Byte offsets in `struct tpacket_block_desc` and `struct tpacket3_hdr`
/// (checked against libc's definitions in the tests).
mod off {
    pub const BLOCK_STATUS: usize = 8;
    pub const NUM_PKTS: usize = 12;
    pub const FIRST_PKT: usize = 16;
    pub const NEXT: usize = 0;
    pub const SEC: usize = 4;
    pub const NSEC: usize = 8;
    pub const SNAPLEN: usize = 12;
    pub const LEN: usize = 16;
    pub const STATUS: usize = 20;
    pub const MAC: usize = 24;
    pub const VLAN_TCI: usize = 32;
    pub const VLAN_TPID: usize = 36;
    /// sockaddr_ll follows the 48-byte header (TPACKET_ALIGN(48)).
    pub const SLL: usize = 48;
    pub const SLL_PROTOCOL: usize = SLL + 2;
    pub const SLL_HATYPE: usize = SLL + 8;
    pub const SLL_PKTTYPE: usize = SLL + 10;
    pub const SLL_HALEN: usize = SLL + 11;
    pub const SLL_ADDR: usize = SLL + 12;
    pub const HDR_END: usize = SLL + 20;
}

const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;

fn rd32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn rd16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// An AF_PACKET socket bound to one interface, with its mapped ring.
pub struct PacketSocket {
    fd: OwnedFd,
    ring: *mut u8,
    ring_len: usize,
    block_size: usize,
    block_count: usize,
    next_block: usize,
    name: String,
    index: u32,
    link: LinkKind,
    loopback: bool,
    scratch: Vec<u8>,
    stats: KernelStats,
}

// SAFETY: the ring mapping belongs to this socket alone; moving the socket to
// another thread moves the only access to it.
unsafe impl Send for PacketSocket {}

fn os<'a>(iface: &'a str, what: &'static str) -> impl FnOnce(io::Error) -> LiveError + 'a {
    move |source| LiveError::Os {
        iface: iface.to_string(),
        what,
        source,
    }
}

fn setsockopt<T>(fd: RawFd, level: i32, name: i32, val: &T) -> io::Result<()> {
    // SAFETY: `val` is a valid T for the duration of the call and the length
    // passed is its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            val as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn hatype_of(name: &str) -> Option<u16> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/type"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl PacketSocket {
    /// Opens a socket on `iface`, attaches `filter` (or an accept-all program
    /// that keeps `cfg.snaplen` bytes), maps the ring and binds. No packet is
    /// queued before the filter is in place.
    pub fn open(
        iface: &Interface,
        cfg: &SocketConfig,
        filter: Option<&[BpfInsn]>,
    ) -> Result<PacketSocket, LiveError> {
        cfg.ring.validate()?;
        let name = iface.name.as_str();
        let hatype = hatype_of(name).ok_or_else(|| LiveError::NoSuchInterface(name.into()))?;
        let link = LinkKind::for_hatype(hatype);
        let kind = if link == LinkKind::Cooked {
            libc::SOCK_DGRAM
        } else {
            libc::SOCK_RAW
        };
        // Protocol 0: nothing is received until bind() names ETH_P_ALL, after
        // the filter is attached.
        // SAFETY: plain socket(2) call.
        let raw = unsafe { libc::socket(libc::AF_PACKET, kind | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => LiveError::Permission {
                    iface: name.into(),
                    source: e,
                },
                _ => LiveError::Os {
                    iface: name.into(),
                    what: "socket(AF_PACKET)",
                    source: e,
                },
            });
        }
        // SAFETY: `raw` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let version: libc::c_int = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            &version,
        )
        .map_err(os(name, "PACKET_VERSION TPACKET_V3"))?;

        let accept = [BpfInsn {
            code: 0x06, // BPF_RET | BPF_K
            jt: 0,
            jf: 0,
            k: cfg.snaplen,
        }];
        attach(fd.as_raw_fd(), filter.unwrap_or(&accept)).map_err(os(name, "SO_ATTACH_FILTER"))?;

        let r = cfg.ring;
        let frame_size: u32 = 2048;
        let req = libc::tpacket_req3 {
            tp_block_size: r.block_size,
            tp_block_nr: r.block_count,
            tp_frame_size: frame_size,
            tp_frame_nr: r.block_size / frame_size * r.block_count,
            tp_retire_blk_tov: r.retire_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setsockopt(fd.as_raw_fd(), libc::SOL_PACKET, libc::PACKET_RX_RING, &req)
            .map_err(os(name, "PACKET_RX_RING"))?;
        let ring_len = r.block_size as usize * r.block_count as usize;
        // SAFETY: mapping the ring the kernel just allocated for this socket.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(os(name, "mmap of the ring")(io::Error::last_os_error()));
        }
        let sock = PacketSocket {
            fd,
            ring: ring as *mut u8,
            ring_len,
            block_size: r.block_size as usize,
            block_count: r.block_count as usize,
            next_block: 0,
            name: name.to_string(),
            index: iface.index,
            link,
            loopback: iface.loopback,
            scratch: Vec::with_capacity(64 * 1024 + 64),
            stats: KernelStats::default(),
        };

        // SAFETY: sockaddr_ll is plain data; zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = iface.index as i32;
        // SAFETY: `sll` is a valid sockaddr_ll and the length is its size.
        let b = unsafe {
            libc::bind(
                sock.fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if b < 0 {
            let e = io::Error::last_os_error();
            return Err(if e.raw_os_error() == Some(libc::ENODEV) {
                LiveError::NoSuchInterface(name.into())
            } else {
                os(name, "bind")(e)
            });
        }
        if cfg.promiscuous {
            let mreq = libc::packet_mreq {
                mr_ifindex: iface.index as i32,
                mr_type: libc::PACKET_MR_PROMISC as u16,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            setsockopt(
                sock.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_ADD_MEMBERSHIP,
                &mreq,
            )
            .map_err(os(name, "promiscuous mode"))?;
        }
        // No counter reset here: the socket (protocol 0) received nothing
        // before bind(), and whatever arrived since is in the ring and must
        // be counted.
        Ok(sock)
    }

    /// Replaces the filter program (the kernel swaps it atomically).
    pub fn set_filter(&self, insns: &[BpfInsn]) -> io::Result<()> {
        attach(self.fd.as_raw_fd(), insns)
    }

    /// Interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Interface index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Frames' link layer.
    pub fn link(&self) -> LinkKind {
        self.link
    }

    /// The descriptor, for [`poll`].
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The pending socket error (SO_ERROR), which also clears it: ENETDOWN
    /// when the interface went down or away.
    pub fn take_error(&self) -> Option<io::Error> {
        let mut err: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `err` and `len` are valid for writing an int.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                &mut err as *mut libc::c_int as *mut libc::c_void,
                &mut len,
            )
        };
        if r < 0 {
            return Some(io::Error::last_os_error());
        }
        (err != 0).then(|| io::Error::from_raw_os_error(err))
    }

    fn read_kernel_counters(&mut self) -> io::Result<()> {
        let mut st = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        let mut len = std::mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: `st` and `len` are valid for the kernel to fill.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                &mut st as *mut libc::tpacket_stats_v3 as *mut libc::c_void,
                &mut len,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // The kernel resets its counters on each read: accumulate. Its
        // tp_packets already includes the drops.
        self.stats.received += u64::from(st.tp_packets);
        self.stats.dropped += u64::from(st.tp_drops);
        Ok(())
    }

    /// Kernel counters since the socket was opened.
    pub fn stats(&mut self) -> io::Result<KernelStats> {
        self.read_kernel_counters()?;
        Ok(self.stats)
    }

    fn block_status(&self, i: usize) -> &AtomicU32 {
        // SAFETY: block `i` lies inside the mapping, blocks are page aligned,
        // so the status word is aligned; the kernel and we access it only
        // atomically.
        unsafe { &*(self.ring.add(i * self.block_size + off::BLOCK_STATUS) as *const AtomicU32) }
    }

    /// Hands every frame of every block the kernel has released to `f`, in
    /// order, and gives the blocks back. Returns the number of frames.
    pub fn drain(&mut self, mut f: impl FnMut(Frame<'_>)) -> usize {
        let mut n = 0;
        for _ in 0..self.block_count {
            let i = self.next_block;
            if self.block_status(i).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                break;
            }
            // SAFETY: while TP_STATUS_USER is set the kernel does not touch
            // this block; the slice ends before we hand it back below.
            let block = unsafe {
                std::slice::from_raw_parts(self.ring.add(i * self.block_size), self.block_size)
            };
            n += walk_block(block, self.link, self.loopback, &mut self.scratch, &mut f);
            self.block_status(i)
                .store(TP_STATUS_KERNEL, Ordering::Release);
            self.next_block = (i + 1) % self.block_count;
        }
        n
    }
}

/// Walks the frames of one released block. Every offset is bounds-checked:
/// a malformed block ends the walk instead of reading outside it.
fn walk_block(
    block: &[u8],
    link: LinkKind,
    loopback: bool,
    scratch: &mut Vec<u8>,
    f: &mut impl FnMut(Frame<'_>),
) -> usize {
    let (Some(num), Some(first)) = (rd32(block, off::NUM_PKTS), rd32(block, off::FIRST_PKT)) else {
        return 0;
    };
    let mut at = first as usize;
    let mut n = 0;
    for k in 0..num {
        let Some(h) = block.get(at..).filter(|h| h.len() >= off::HDR_END) else {
            break;
        };
        let next = rd32(h, off::NEXT).unwrap_or(0) as usize;
        let sec = rd32(h, off::SEC).unwrap_or(0);
        let nsec = rd32(h, off::NSEC).unwrap_or(0);
        let snap = rd32(h, off::SNAPLEN).unwrap_or(0) as usize;
        let len = rd32(h, off::LEN).unwrap_or(0);
        let status = rd32(h, off::STATUS).unwrap_or(0);
        let mac = rd16(h, off::MAC).unwrap_or(0) as usize;
        let pkttype = h[off::SLL_PKTTYPE];
        let Some(data) = h.get(mac..mac + snap) else {
            break;
        };
        // The kernel shows loopback traffic twice (out and in); keep one,
        // as libpcap does.
        let skip = loopback && pkttype == libc::PACKET_OUTGOING;
        if !skip {
            let ts = Timestamp::from_secs_nanos(i64::from(sec), i64::from(nsec));
            let vlan = status & TP_STATUS_VLAN_VALID != 0;
            if link == LinkKind::Ethernet && vlan && data.len() >= 12 {
                // The NIC or kernel stripped an 802.1Q tag: put it back so the
                // frame is what was on the wire (as tcpdump does).
                let tci = rd32(h, off::VLAN_TCI).unwrap_or(0) as u16;
                let tpid = if status & TP_STATUS_VLAN_TPID_VALID != 0 {
                    rd16(h, off::VLAN_TPID).unwrap_or(0x8100)
                } else {
                    0x8100
                };
                scratch.clear();
                scratch.extend_from_slice(&data[..12]);
                scratch.extend_from_slice(&tpid.to_be_bytes());
                scratch.extend_from_slice(&tci.to_be_bytes());
                scratch.extend_from_slice(&data[12..]);
                f(Frame {
                    ts,
                    link_type: link.link_type(),
                    data: scratch,
                    wire_len: len + 4,
                });
            } else if link == LinkKind::Cooked {
                // A Linux "cooked" (SLL) header from the socket address.
                let hatype = rd16(h, off::SLL_HATYPE).unwrap_or(0);
                let halen = h[off::SLL_HALEN].min(8);
                let proto = [h[off::SLL_PROTOCOL], h[off::SLL_PROTOCOL + 1]];
                scratch.clear();
                scratch.extend_from_slice(&u16::from(pkttype).to_be_bytes());
                scratch.extend_from_slice(&hatype.to_be_bytes());
                scratch.extend_from_slice(&u16::from(halen).to_be_bytes());
                scratch.extend_from_slice(&h[off::SLL_ADDR..off::SLL_ADDR + 8]);
                scratch.extend_from_slice(&proto);
                scratch.extend_from_slice(data);
                f(Frame {
                    ts,
                    link_type: link.link_type(),
                    data: scratch,
                    wire_len: len + 16,
                });
            } else {
                f(Frame {
                    ts,
                    link_type: link.link_type(),
                    data,
                    wire_len: len,
                });
            }
            n += 1;
        }
        if k + 1 < num {
            if next == 0 {
                break;
            }
            at += next;
        }
    }
    n
}

fn attach(fd: RawFd, insns: &[BpfInsn]) -> io::Result<()> {
    if insns.is_empty() || insns.len() > 4096 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a BPF program has 1 to 4096 instructions, not {}",
                insns.len()
            ),
        ));
    }
    let prog = libc::sock_fprog {
        len: insns.len() as u16,
        // BpfInsn is #[repr(C)] with sock_filter's layout; the kernel only
        // reads through this pointer.
        filter: insns.as_ptr() as *mut libc::sock_filter,
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
}

impl Drop for PacketSocket {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in open(); no slice into it
        // outlives drain().
        unsafe {
            libc::munmap(self.ring as *mut libc::c_void, self.ring_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn offsets_match_the_kernel_headers() {
        assert_eq!(size_of::<BpfInsn>(), size_of::<libc::sock_filter>());
        assert_eq!(size_of::<PollFd>(), size_of::<libc::pollfd>());
        assert_eq!(size_of::<libc::tpacket3_hdr>(), off::SLL);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_sec), off::SEC);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_nsec), off::NSEC);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_snaplen), off::SNAPLEN);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_len), off::LEN);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_status), off::STATUS);
        assert_eq!(offset_of!(libc::tpacket3_hdr, tp_mac), off::MAC);
        assert_eq!(
            offset_of!(libc::tpacket3_hdr, hv1)
                + offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tci),
            off::VLAN_TCI
        );
        assert_eq!(
            offset_of!(libc::tpacket3_hdr, hv1)
                + offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tpid),
            off::VLAN_TPID
        );
        assert_eq!(
            offset_of!(libc::tpacket_block_desc, hdr)
                + offset_of!(libc::tpacket_hdr_v1, block_status),
            off::BLOCK_STATUS
        );
        assert_eq!(
            offset_of!(libc::tpacket_block_desc, hdr) + offset_of!(libc::tpacket_hdr_v1, num_pkts),
            off::NUM_PKTS
        );
        assert_eq!(
            offset_of!(libc::tpacket_block_desc, hdr)
                + offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt),
            off::FIRST_PKT
        );
        assert_eq!(
            offset_of!(libc::sockaddr_ll, sll_pkttype),
            off::SLL_PKTTYPE - off::SLL
        );
        assert_eq!(
            offset_of!(libc::sockaddr_ll, sll_addr),
            off::SLL_ADDR - off::SLL
        );
    }

    /// Builds a block the way the kernel lays it out.
    fn block(frames: &[(&[u8], u32, u8)], vlan: Option<u16>) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[off::NUM_PKTS..off::NUM_PKTS + 4].copy_from_slice(&(frames.len() as u32).to_ne_bytes());
        b[off::FIRST_PKT..off::FIRST_PKT + 4].copy_from_slice(&48u32.to_ne_bytes());
        let mut at = 48;
        for (i, (data, len, pkttype)) in frames.iter().enumerate() {
            let mac = 80usize;
            let total = (mac + data.len()).next_multiple_of(16);
            let h = &mut b[at..];
            let next = if i + 1 < frames.len() {
                total as u32
            } else {
                0
            };
            h[0..4].copy_from_slice(&next.to_ne_bytes());
            h[4..8].copy_from_slice(&(1_700_000_000u32 + i as u32).to_ne_bytes());
            h[8..12].copy_from_slice(&500u32.to_ne_bytes());
            h[12..16].copy_from_slice(&(data.len() as u32).to_ne_bytes());
            h[16..20].copy_from_slice(&len.to_ne_bytes());
            let status = if vlan.is_some() {
                TP_STATUS_VLAN_VALID
            } else {
                0
            };
            h[20..24].copy_from_slice(&status.to_ne_bytes());
            h[24..26].copy_from_slice(&(mac as u16).to_ne_bytes());
            if let Some(t) = vlan {
                h[32..36].copy_from_slice(&u32::from(t).to_ne_bytes());
            }
            h[off::SLL_PKTTYPE] = *pkttype;
            h[mac..mac + data.len()].copy_from_slice(data);
            at += total;
        }
        b
    }

    fn walk(b: &[u8], link: LinkKind, lo: bool) -> Vec<(i64, Vec<u8>, u32)> {
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        walk_block(b, link, lo, &mut scratch, &mut |p: Frame<'_>| {
            out.push((p.ts.as_nanos(), p.data.to_vec(), p.wire_len))
        });
        out
    }

    #[test]
    fn walks_frames_in_order_with_lengths_and_times() {
        let a = [1u8; 60];
        let c = [2u8; 100];
        let b = block(&[(&a, 60, 0), (&c, 1500, 0)], None);
        let got = walk(&b, LinkKind::Ethernet, false);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (1_700_000_000_000_000_500, a.to_vec(), 60));
        assert_eq!(got[1].1, c.to_vec());
        assert_eq!(got[1].2, 1500);
    }

    #[test]
    fn loopback_outgoing_copies_are_skipped() {
        let a = [1u8; 60];
        let b = block(
            &[(&a, 60, libc::PACKET_OUTGOING), (&a, 60, libc::PACKET_HOST)],
            None,
        );
        assert_eq!(walk(&b, LinkKind::Ethernet, true).len(), 1);
        assert_eq!(walk(&b, LinkKind::Ethernet, false).len(), 2);
    }

    #[test]
    fn stripped_vlan_tag_is_put_back() {
        let mut f = vec![0xAAu8; 12];
        f.extend_from_slice(&[0x08, 0x00, 0x45]);
        let b = block(&[(&f, 15, 0)], Some(0x2064));
        let got = walk(&b, LinkKind::Ethernet, false);
        assert_eq!(got[0].2, 19);
        assert_eq!(&got[0].1[12..18], &[0x81, 0x00, 0x20, 0x64, 0x08, 0x00]);
    }

    #[test]
    fn malformed_block_ends_the_walk_without_panicking() {
        let a = [1u8; 60];
        let mut b = block(&[(&a, 60, 0), (&a, 60, 0)], None);
        // Claim 1000 frames and a snap length past the end.
        b[off::NUM_PKTS..off::NUM_PKTS + 4].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(walk(&b, LinkKind::Ethernet, false).len(), 2);
        b[48 + off::SNAPLEN..48 + off::SNAPLEN + 4].copy_from_slice(&9000u32.to_ne_bytes());
        assert_eq!(walk(&b, LinkKind::Ethernet, false).len(), 0);
        b[off::FIRST_PKT..off::FIRST_PKT + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(walk(&b, LinkKind::Ethernet, false).len(), 0);
    }

    #[test]
    fn ring_geometry_is_checked() {
        assert!(RingConfig::default().validate().is_ok());
        let bad = |block_size, block_count| {
            RingConfig {
                block_size,
                block_count,
                retire_ms: 10,
            }
            .validate()
            .is_err()
        };
        assert!(bad(1000, 4));
        assert!(bad(3 * 4096, 4));
        assert!(bad(4096, 0));
        assert!(!bad(4096, 2));
    }
}
