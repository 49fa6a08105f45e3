//! A view of a TCP header and its options over the captured bytes (no copy).
//!
//! [`TcpHeader::new_checked`] checks once that the fixed 20 bytes are there
//! and that the data offset is sane, so no accessor can panic afterwards.
//! Options are walked by [`TcpHeader::options`] up to the header length the
//! packet declares or the end of the capture, whichever comes first; a
//! malformed option (a length below 2 or past the end) ends the walk and is
//! flagged, never fatal.

use crate::decode::IpLayer;

/// TCP flag bits (the 13th header byte).
pub use crate::tcp_flags as flags;

/// Byte ranges of the fixed header.
mod field {
    pub(super) const SEQ: usize = 4;
    pub(super) const ACK: usize = 8;
    pub(super) const DATA_OFF: usize = 12;
    pub(super) const FLAGS: usize = 13;
    pub(super) const WINDOW: usize = 14;
    pub(super) const LEN: usize = 20;
}

/// Why bytes are not a TCP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpError {
    /// Fewer than 20 bytes captured.
    Short,
    /// The data offset is below 5 words.
    BadHeaderLen,
}

/// A TCP header (with options) viewed over captured bytes.
#[derive(Clone, Copy, Debug)]
pub struct TcpHeader<'a> {
    buf: &'a [u8],
}

/// The options of one segment, as far as they were captured and well formed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    /// Maximum segment size (kind 2).
    pub mss: Option<u16>,
    /// Window scale shift (kind 3), as sent (not capped at 14).
    pub window_scale: Option<u8>,
    /// SACK permitted (kind 4).
    pub sack_permitted: bool,
    /// Number of SACK blocks (kind 5); 0 when the option is absent.
    pub sack_blocks: u8,
    /// Timestamps (kind 8): TSval and TSecr.
    pub timestamps: Option<(u32, u32)>,
    /// The walk ended early: an option's length was below 2, ran past the
    /// header, or the capture cut the options short.
    pub malformed: bool,
}

impl<'a> TcpHeader<'a> {
    /// Views `buf` (starting at the TCP header) after checking that the fixed
    /// header is there and the data offset is at least 5.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, TcpError> {
        if buf.len() < field::LEN {
            return Err(TcpError::Short);
        }
        let h = TcpHeader { buf };
        if h.header_len() < field::LEN {
            return Err(TcpError::BadHeaderLen);
        }
        Ok(h)
    }

    /// The TCP header of a decoded IP layer in `frame`, when it has one.
    pub fn of_layer(frame: &'a [u8], layer: &IpLayer) -> Option<Self> {
        if layer.protocol != crate::proto::TCP || layer.l4_offset == 0 {
            return None;
        }
        let rest = frame.get(layer.l4_offset as usize..)?;
        Self::new_checked(rest).ok()
    }

    fn u16_at(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.buf[at], self.buf[at + 1]])
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes([
            self.buf[at],
            self.buf[at + 1],
            self.buf[at + 2],
            self.buf[at + 3],
        ])
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        self.u16_at(0)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        self.u16_at(2)
    }

    /// Sequence number.
    pub fn seq(&self) -> u32 {
        self.u32_at(field::SEQ)
    }

    /// Acknowledgment number (meaningful with the ACK flag).
    pub fn ack(&self) -> u32 {
        self.u32_at(field::ACK)
    }

    /// Header length in bytes as declared (data offset × 4, 20 to 60).
    pub fn header_len(&self) -> usize {
        usize::from(self.buf[field::DATA_OFF] >> 4) * 4
    }

    /// The flags byte (see [`crate::tcp_flags`]).
    pub fn flags(&self) -> u8 {
        self.buf[field::FLAGS]
    }

    /// The advertised window, unscaled.
    pub fn window(&self) -> u16 {
        self.u16_at(field::WINDOW)
    }

    /// Payload bytes of a segment whose transport header and payload take
    /// `l4_len` bytes as the IP header declares them ([`IpLayer::l4_len`]).
    pub fn payload_len(&self, l4_len: u32) -> u32 {
        l4_len.saturating_sub(self.header_len() as u32)
    }

    /// Walks the options once.
    pub fn options(&self) -> TcpOptions {
        let end = self.header_len().min(self.buf.len());
        let mut o = TcpOptions {
            malformed: self.buf.len() < self.header_len(),
            ..TcpOptions::default()
        };
        let opts = &self.buf[field::LEN..end];
        // Most segments after the handshake carry exactly NOP, NOP,
        // timestamps (Linux, the BSDs): read them without the walk.
        if let [1, 1, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3] = *opts {
            o.timestamps = Some((
                u32::from_be_bytes([v0, v1, v2, v3]),
                u32::from_be_bytes([e0, e1, e2, e3]),
            ));
            return o;
        }
        let mut i = 0;
        while let Some(&kind) = opts.get(i) {
            match kind {
                0 => break,
                1 => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let len = match opts.get(i + 1) {
                Some(&l) if l >= 2 && i + usize::from(l) <= opts.len() => usize::from(l),
                _ => {
                    o.malformed = true;
                    break;
                }
            };
            read_option(&mut o, kind, &opts[i + 2..i + len]);
            i += len;
        }
        o
    }
}

/// Records one well-formed option (`body` excludes kind and length).
fn read_option(o: &mut TcpOptions, kind: u8, body: &[u8]) {
    match (kind, body.len()) {
        (2, 2) => o.mss = Some(u16::from_be_bytes([body[0], body[1]])),
        (3, 1) => o.window_scale = Some(body[0]),
        (4, 0) => o.sack_permitted = true,
        (5, n) if n % 8 == 0 && n > 0 => o.sack_blocks = (n / 8) as u8,
        (8, 8) => {
            let v = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
            let e = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
            o.timestamps = Some((v, e));
        }
        // Known kinds with the wrong length, and unknown kinds: skipped.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_timestamp_layout_reads_as_the_walk_does() {
        let ts = [1, 1, 8, 10, 0, 0, 1, 0, 0, 0, 0, 7];
        let h = header(&ts);
        let o = TcpHeader::new_checked(&h).unwrap().options();
        assert_eq!(o.timestamps, Some((256, 7)));
        assert!(!o.malformed && o.window_scale.is_none() && o.mss.is_none());
        // The same options in another order: the walk, the same answer.
        let h = header(&[8, 10, 0, 0, 1, 0, 0, 0, 0, 7, 1, 1]);
        assert_eq!(TcpHeader::new_checked(&h).unwrap().options(), o);
        // Cut by the capture: malformed, as the walk says.
        let h = header(&ts);
        let o = TcpHeader::new_checked(&h[..30]).map(|t| t.options());
        assert!(o.is_err() || o.unwrap().malformed);
    }

    fn header(options: &[u8]) -> Vec<u8> {
        let words = (20 + options.len()).div_ceil(4);
        let mut h = vec![0u8; 20];
        h[0..2].copy_from_slice(&1234u16.to_be_bytes());
        h[2..4].copy_from_slice(&80u16.to_be_bytes());
        h[4..8].copy_from_slice(&0xDEAD_BEEFu32.to_be_bytes());
        h[8..12].copy_from_slice(&7u32.to_be_bytes());
        h[12] = (words as u8) << 4;
        h[13] = flags::SYN | flags::ACK;
        h[14..16].copy_from_slice(&65535u16.to_be_bytes());
        h.extend_from_slice(options);
        h.resize(words * 4, 0);
        h
    }

    #[test]
    fn deconstructs_the_fixed_header() {
        let b = header(&[]);
        let h = TcpHeader::new_checked(&b).unwrap();
        assert_eq!(
            (h.src_port(), h.dst_port(), h.seq(), h.ack()),
            (1234, 80, 0xDEAD_BEEF, 7)
        );
        assert_eq!((h.header_len(), h.flags(), h.window()), (20, 0x12, 65535));
        assert_eq!(h.options(), TcpOptions::default());
        assert_eq!(h.payload_len(120), 100);
        assert_eq!(h.payload_len(10), 0);
    }

    #[test]
    fn reads_every_known_option() {
        let mut o = vec![2, 4, 0x05, 0xB4, 1, 3, 3, 7, 4, 2, 8, 10];
        o.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 9]);
        o.extend_from_slice(&[5, 18]);
        o.extend_from_slice(&[0; 16]);
        let b = header(&o);
        let got = TcpHeader::new_checked(&b).unwrap().options();
        let want = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            sack_blocks: 2,
            timestamps: Some((5, 9)),
            malformed: false,
        };
        assert_eq!(got, want);
    }

    #[test]
    fn impossible_lengths_are_errors() {
        assert_eq!(
            TcpHeader::new_checked(&[0; 19]).unwrap_err(),
            TcpError::Short
        );
        let mut b = header(&[]);
        b[12] = 4 << 4;
        assert_eq!(
            TcpHeader::new_checked(&b).unwrap_err(),
            TcpError::BadHeaderLen
        );
    }

    #[test]
    fn option_lengths_of_zero_or_one_end_the_walk() {
        for bad in [0u8, 1] {
            let b = header(&[2, 4, 0x05, 0xB4, 8, bad, 0, 0, 0, 0, 0, 0]);
            let o = TcpHeader::new_checked(&b).unwrap().options();
            assert!(o.malformed, "length {bad}");
            assert_eq!(o.mss, Some(1460));
            assert_eq!(o.timestamps, None);
        }
    }

    #[test]
    fn an_option_past_the_header_ends_the_walk() {
        let b = header(&[8, 10, 0, 0, 0, 5]);
        let o = TcpHeader::new_checked(&b).unwrap().options();
        assert!(o.malformed);
        assert_eq!(o.timestamps, None);
    }

    #[test]
    fn options_cut_by_the_capture_are_flagged_not_fatal() {
        let b = header(&[1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 9]);
        for cut in 20..b.len() {
            let h = TcpHeader::new_checked(&b[..cut]).unwrap();
            let o = h.options();
            assert!(o.malformed, "cut at {cut}");
            assert_eq!(o.timestamps, None);
        }
        let o = TcpHeader::new_checked(&b).unwrap().options();
        assert_eq!((o.malformed, o.timestamps), (false, Some((5, 9))));
    }

    #[test]
    fn known_kinds_with_wrong_lengths_are_skipped() {
        let b = header(&[2, 3, 0, 3, 3, 7, 4, 2]);
        let o = TcpHeader::new_checked(&b).unwrap().options();
        assert_eq!(o.mss, None);
        assert_eq!(o.window_scale, Some(7));
        assert!(o.sack_permitted);
        assert!(!o.malformed);
    }

    #[test]
    fn end_of_options_stops_the_walk() {
        let b = header(&[0, 2, 4, 5, 0xB4]);
        assert_eq!(
            TcpHeader::new_checked(&b).unwrap().options(),
            TcpOptions::default()
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x9E37_79B9u32;
        for _ in 0..20_000 {
            let mut b = [0u8; 64];
            for x in b.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                *x = seed as u8;
            }
            let n = (seed as usize) % 65;
            if let Ok(h) = TcpHeader::new_checked(&b[..n]) {
                let o = h.options();
                assert!(o.sack_blocks <= 4);
                assert!(h.header_len() >= 20);
            }
        }
    }
}
