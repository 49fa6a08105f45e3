//! Parsing `/proc/PID/net/{tcp,tcp6,udp,udp6}`.
//!
//! These files are only read for *other* network namespaces (this
//! namespace's sockets come from sock_diag netlink, which needs no text
//! parsing and sees every socket in one dump). A file shows the sockets of
//! the network namespace of the process it is read through.
//!
//! Line format (the kernel's `tcp4_seq_show` and friends; the UDP files
//! share the first columns):
//!
//! ```text
//!   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ...
//!    0: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21613 ...
//! ```
//!
//! Addresses are the in-memory 32-bit words (network byte order bytes)
//! printed with `%08X` as native integers, so on a little-endian machine
//! 127.0.0.1 reads `0100007F`; IPv6 addresses are four such words. Ports
//! are host-order numbers in hex; state is hex, uid and inode are decimal.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::RawSocket;

/// Parses one `ip:port` column: 8 hex digits (IPv4) or 32 (IPv6), a colon,
/// 4 hex digits of port.
fn parse_endpoint(field: &str, v6: bool) -> Option<SocketAddr> {
    let (addr, port) = field.split_once(':')?;
    if port.len() != 4 {
        return None;
    }
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = if v6 {
        if addr.len() != 32 || !addr.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
            let word = u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16).ok()?;
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        IpAddr::V6(Ipv6Addr::from(bytes))
    } else {
        if addr.len() != 8 {
            return None;
        }
        let word = u32::from_str_radix(addr, 16).ok()?;
        IpAddr::V4(Ipv4Addr::from(word.to_ne_bytes()))
    };
    Some(SocketAddr::new(ip, port))
}

/// Parses one socket line of a `tcp`/`tcp6`/`udp`/`udp6` file; `None` for
/// the header line and for anything malformed.
pub(crate) fn parse_line(line: &str, v6: bool) -> Option<RawSocket> {
    let mut fields = line.split_ascii_whitespace();
    let slot = fields.next()?;
    if !slot.ends_with(':') {
        return None;
    }
    let local = parse_endpoint(fields.next()?, v6)?;
    let remote = parse_endpoint(fields.next()?, v6)?;
    let state = u8::from_str_radix(fields.next()?, 16).ok()?;
    // tx_queue:rx_queue, tr:tm->when, retrnsmt
    let mut fields = fields.skip(3);
    let uid = fields.next()?.parse().ok()?;
    let _timeout = fields.next()?;
    let inode = fields.next()?.parse().ok()?;
    Some(RawSocket {
        local,
        remote,
        state,
        uid,
        inode,
        v6only: false,
    })
}

/// Parses a whole file, skipping the header and malformed lines; returns
/// the sockets and the number of lines skipped as malformed.
pub(crate) fn parse_file(text: &str, v6: bool) -> (Vec<RawSocket>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for (i, line) in text.lines().enumerate() {
        if i == 0 || line.trim().is_empty() {
            continue;
        }
        match parse_line(line, v6) {
            Some(s) => out.push(s),
            None => bad += 1,
        }
    }
    (out, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP4: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21613 1 0000000000000000 100 0 0 10 0
   1: 0F02000A:8A3C 2201A8C0:01BB 01 00000000:00000000 02:000AFC2B 00000000  1000        0 987654 2 0000000000000000 20 4 30 10 -1
";

    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3456 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:D431 01 00000000:00000000 00:00000000 00000000    33        0 3457 1 0000000000000000 20 4 0 10 -1
   2: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000200007F:C350 06 00000000:00000000 03:00001234 00000000     0        0 0 3 0000000000000000
   3: 000080FE00000000FF005452120034FE:0222 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 777 2 0000000000000000 0
";

    const UDP4: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0
  456: 3500007F:0035 0100007F:E290 01 00000000:00000000 00:00000000 00000000   101        0 4343 2 0000000000000000 0
";

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn tcp4_lines_little_endian() {
        let (v, bad) = parse_file(TCP4, false);
        assert_eq!(bad, 0);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].local, sa("127.0.0.1:631"));
        assert_eq!(v[0].remote, sa("0.0.0.0:0"));
        assert_eq!((v[0].state, v[0].uid, v[0].inode), (0x0A, 0, 21613));
        // 0F02000A = bytes 0A 00 02 0F in memory = 10.0.2.15
        assert_eq!(v[1].local, sa("10.0.2.15:35388"));
        assert_eq!(v[1].remote, sa("192.168.1.34:443"));
        assert_eq!((v[1].state, v[1].uid, v[1].inode), (1, 1000, 987654));
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn tcp6_lines_little_endian() {
        let (v, bad) = parse_file(TCP6, true);
        assert_eq!(bad, 0);
        assert_eq!(v.len(), 4);
        assert_eq!(v[0].local, sa("[::]:22"));
        assert_eq!(v[1].local, sa("[::1]:8080"));
        assert_eq!(v[1].remote, sa("[::1]:54321"));
        assert_eq!(v[1].uid, 33);
        // v4-mapped addresses come through as IPv6; the table maps them.
        assert_eq!(v[2].local, sa("[::ffff:127.0.0.1]:80"));
        assert_eq!(v[2].remote, sa("[::ffff:127.0.0.2]:50000"));
        assert_eq!(v[2].inode, 0);
        // Each word is byte-swapped on little-endian: fe80::5254:ff:fe34:12.
        assert_eq!(v[3].local, sa("[fe80::5254:ff:fe34:12]:546"));
        assert_eq!(v[3].state, 7);
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn udp4_lines() {
        let (v, bad) = parse_file(UDP4, false);
        assert_eq!(bad, 0);
        assert_eq!(v[0].local, sa("0.0.0.0:68"));
        assert_eq!(v[0].inode, 4242);
        assert_eq!(v[1].local, sa("127.0.0.53:53"));
        assert_eq!(v[1].remote, sa("127.0.0.1:58000"));
        assert_eq!(v[1].uid, 101);
    }

    #[test]
    fn byte_order_follows_the_machine() {
        // Whatever the endianness, the word printed is the native reading
        // of the address bytes 127.0.0.1.
        let word = u32::from_ne_bytes([127, 0, 0, 1]);
        let line = format!(
            "0: {word:08X}:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 7 0 99"
        );
        let s = parse_line(&line, false).unwrap();
        assert_eq!(s.local, sa("127.0.0.1:80"));
        assert_eq!((s.uid, s.inode), (7, 99));
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let text = "header\n\
                    0: 0100007F:0277 00000000:0000 0A\n\
                    1: 0100007F:27 00000000:0000 0A 0:0 0:0 0 0 0 5\n\
                    2: 0100007G:0277 00000000:0000 0A 0:0 0:0 0 0 0 5\n\
                    3: 0100007F:0277 00000000:0000 0A 0:0 0:0 0 x 0 5\n\
                    4: 0100007F:0277 00000000:0000 0A 0:0 0:0 0 0 0 5\n";
        let (v, bad) = parse_file(text, false);
        assert_eq!(bad, 4);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].inode, 5);
        // An IPv4-sized address in an IPv6 file is refused.
        assert!(parse_line("0: 0100007F:0277 00000000:0000 0A 0:0 0:0 0 0 0 5", true).is_none());
    }
}
