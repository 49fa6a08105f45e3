//! Streaming pcap / pcapng reader.
//!
//! Hand-written rather than on `pcap-parser` because every error must name the
//! byte offset of the bad record, a record cut off at end of file must be
//! distinguishable from corruption mid-file, and the reader must read any
//! `Read` (stdin, gzip) in bounded memory with no allocation per packet.
//! The buffer grows only to the largest record seen.

use std::io::{self, Read};

use wirewatch_wire::{Frame, Timestamp};

use crate::ReadError;

/// Largest captured length accepted for one packet (Wireshark's limit for
/// ordinary link types). Anything larger is a corrupt record.
pub const MAX_CAPLEN: u32 = 262_144;
/// Smallest free space the reader asks the source to fill.
const MIN_READ: usize = 64 * 1024;
/// Largest pcapng block accepted.
pub const MAX_BLOCK: u32 = 16 * 1024 * 1024 + 4096;

/// One frame read from a file, borrowed from the reader's buffer: the
/// [`Frame`] (link type with reserved bits masked off) and the pcapng
/// interface it was captured on. Derefs to the frame.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// The frame.
    pub frame: Frame<'a>,
    /// pcapng interface index across all sections (0 for pcap).
    pub interface: u32,
}

impl<'a> std::ops::Deref for Record<'a> {
    type Target = Frame<'a>;

    fn deref(&self) -> &Frame<'a> {
        &self.frame
    }
}

/// The container format of a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap.
    Pcap {
        /// Timestamps in nanoseconds rather than microseconds.
        nanos: bool,
        /// File written big-endian.
        big_endian: bool,
    },
    /// pcapng.
    Pcapng,
}

#[derive(Clone, Copy, Debug)]
struct Iface {
    link_type: u32,
    snaplen: u32,
    /// Ticks per second is 10^exp or 2^exp.
    resol_pow2: bool,
    resol_exp: u8,
    offset_secs: i64,
    /// Index over all sections.
    global: u32,
}

#[derive(Debug)]
enum State {
    Pcap {
        nanos: bool,
        be: bool,
        link_type: u32,
        rec_hdr: usize,
    },
    Pcapng {
        be: bool,
        ifaces: Vec<Iface>,
    },
}

/// Reads frames from a pcap or pcapng stream.
pub struct CaptureReader<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Stream offset of `buf[start]`.
    offset: u64,
    /// Bytes to drop before the next record (the previous frame).
    pending: usize,
    state: State,
    format: Format,
    next_global_iface: u32,
    link_types_seen: Vec<u32>,
}

fn u16_at(b: &[u8], at: usize, be: bool) -> u16 {
    let x = [b[at], b[at + 1]];
    if be {
        u16::from_be_bytes(x)
    } else {
        u16::from_le_bytes(x)
    }
}

fn u32_at(b: &[u8], at: usize, be: bool) -> u32 {
    let x = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if be {
        u32::from_be_bytes(x)
    } else {
        u32::from_le_bytes(x)
    }
}

const PCAP_US: u32 = 0xA1B2_C3D4;
const PCAP_NS: u32 = 0xA1B2_3C4D;
const PCAP_KUZNETZOV: u32 = 0xA1B2_CD34;
const SHB: u32 = 0x0A0D_0D0A;
const BOM: u32 = 0x1A2B_3C4D;

impl<R: Read> CaptureReader<R> {
    /// Reads the file header and detects the format from its magic number
    /// (not the file name).
    pub fn new(src: R) -> Result<Self, ReadError> {
        let mut r = CaptureReader {
            src,
            buf: vec![0; 256 * 1024],
            start: 0,
            end: 0,
            eof: false,
            offset: 0,
            pending: 0,
            state: State::Pcap {
                nanos: false,
                be: false,
                link_type: 0,
                rec_hdr: 16,
            },
            format: Format::Pcapng,
            next_global_iface: 0,
            link_types_seen: Vec::new(),
        };
        if !r.fill(4)? {
            return Err(ReadError::NotACapture {
                offset: 0,
                why: "file shorter than a capture header".into(),
            });
        }
        let m = &r.buf[r.start..r.start + 4];
        let le = u32::from_le_bytes([m[0], m[1], m[2], m[3]]);
        let be = u32::from_be_bytes([m[0], m[1], m[2], m[3]]);
        if le == SHB {
            r.format = Format::Pcapng;
            r.state = State::Pcapng {
                be: false,
                ifaces: Vec::new(),
            };
            // The section header is read like any other block by next_frame;
            // check it now so a bad file fails at open.
            r.read_shb()?;
            return Ok(r);
        }
        let (magic, big) = if [PCAP_US, PCAP_NS, PCAP_KUZNETZOV].contains(&le) {
            (le, false)
        } else if [PCAP_US, PCAP_NS, PCAP_KUZNETZOV].contains(&be) {
            (be, true)
        } else {
            let why = if m[0] == 0x1F && m[1] == 0x8B {
                "gzip data inside gzip data".to_string()
            } else {
                format!("unknown magic number 0x{be:08x}")
            };
            return Err(ReadError::NotACapture { offset: 0, why });
        };
        if !r.fill(24)? {
            return Err(ReadError::Truncated {
                offset: 0,
                what: "pcap file header",
                needed: 24,
                have: r.avail() as u64,
            });
        }
        let h = &r.buf[r.start..r.start + 24];
        let link_type = u32_at(h, 20, big) & 0xFFFF;
        let nanos = magic == PCAP_NS;
        r.format = Format::Pcap {
            nanos,
            big_endian: big,
        };
        r.state = State::Pcap {
            nanos,
            be: big,
            link_type,
            rec_hdr: if magic == PCAP_KUZNETZOV { 24 } else { 16 },
        };
        r.note_link_type(link_type);
        r.consume(24);
        Ok(r)
    }

    /// The container format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Stream offset (decompressed) of the next unread byte.
    pub fn position(&self) -> u64 {
        self.offset + self.pending as u64
    }

    /// Link types announced by the file so far (pcap header, pcapng IDBs).
    pub fn link_types(&self) -> &[u32] {
        &self.link_types_seen
    }

    fn note_link_type(&mut self, lt: u32) {
        if !self.link_types_seen.contains(&lt) {
            self.link_types_seen.push(lt);
        }
    }

    fn avail(&self) -> usize {
        self.end - self.start
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Ensures `n` bytes are buffered; false if the stream ends first.
    fn fill(&mut self, n: usize) -> Result<bool, ReadError> {
        if self.avail() >= n {
            return Ok(true);
        }
        // Compact when the record would not fit, or when the free tail is
        // small: reads then stay large (and bypass any BufReader underneath).
        if self.start + n > self.buf.len()
            || (self.start > 0 && self.buf.len() - self.end < MIN_READ)
        {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if n > self.buf.len() {
                self.buf.resize(n.next_power_of_two(), 0);
            }
        }
        while self.avail() < n && !self.eof {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(ReadError::Io {
                        offset: self.offset + self.avail() as u64,
                        error: e.to_string(),
                    })
                }
            }
        }
        Ok(self.avail() >= n)
    }

    /// The next frame, `None` at a clean end of stream.
    ///
    /// Errors name the byte offset of the offending record. A record cut off
    /// by the end of the stream is [`ReadError::Truncated`]; everything before
    /// it has been returned.
    pub fn next_frame(&mut self) -> Result<Option<Record<'_>>, ReadError> {
        let p = std::mem::take(&mut self.pending);
        self.consume(p);
        match self.state {
            State::Pcap {
                nanos,
                be,
                link_type,
                rec_hdr,
            } => self.next_pcap(nanos, be, link_type, rec_hdr),
            State::Pcapng { .. } => self.next_pcapng(),
        }
    }

    fn next_pcap(
        &mut self,
        nanos: bool,
        be: bool,
        link_type: u32,
        rec_hdr: usize,
    ) -> Result<Option<Record<'_>>, ReadError> {
        if !self.fill(rec_hdr)? {
            if self.avail() == 0 {
                return Ok(None);
            }
            return Err(ReadError::Truncated {
                offset: self.offset,
                what: "pcap record header",
                needed: rec_hdr as u64,
                have: self.avail() as u64,
            });
        }
        let h = &self.buf[self.start..self.start + rec_hdr];
        let secs = u32_at(h, 0, be);
        let frac = u32_at(h, 4, be);
        let caplen = u32_at(h, 8, be);
        let wire_len = u32_at(h, 12, be);
        if caplen > MAX_CAPLEN {
            return Err(ReadError::AbsurdLength {
                offset: self.offset,
                what: "pcap record captured length",
                len: caplen as u64,
            });
        }
        let total = rec_hdr + caplen as usize;
        if !self.fill(total)? {
            return Err(ReadError::Truncated {
                offset: self.offset,
                what: "pcap record",
                needed: total as u64,
                have: self.avail() as u64,
            });
        }
        let nanos_part = if nanos {
            frac as i64
        } else {
            frac as i64 * 1000
        };
        let ts = Timestamp::from_secs_nanos(secs as i64, nanos_part);
        self.pending = total;
        let data = &self.buf[self.start + rec_hdr..self.start + total];
        Ok(Some(Record {
            frame: Frame {
                ts,
                link_type,
                wire_len,
                data,
            },
            interface: 0,
        }))
    }

    /// Reads and checks a section header block at the current position.
    fn read_shb(&mut self) -> Result<(), ReadError> {
        let off = self.offset;
        if !self.fill(12)? {
            return Err(ReadError::Truncated {
                offset: off,
                what: "pcapng section header",
                needed: 12,
                have: self.avail() as u64,
            });
        }
        let b = &self.buf[self.start..self.start + 12];
        let be = match (
            u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        ) {
            (BOM, _) => false,
            (_, BOM) => true,
            _ => {
                return Err(ReadError::Corrupt {
                    offset: off,
                    why: "pcapng section header has no byte-order magic".into(),
                })
            }
        };
        let len = u32_at(b, 4, be);
        if len < 28 || !len.is_multiple_of(4) || len > MAX_BLOCK {
            return Err(ReadError::AbsurdLength {
                offset: off,
                what: "pcapng section header length",
                len: len as u64,
            });
        }
        if !self.fill(len as usize)? {
            return Err(ReadError::Truncated {
                offset: off,
                what: "pcapng section header",
                needed: len as u64,
                have: self.avail() as u64,
            });
        }
        let major = u16_at(&self.buf[self.start..], 12, be);
        if major != 1 {
            return Err(ReadError::Corrupt {
                offset: off,
                why: format!("pcapng major version {major} is not supported"),
            });
        }
        self.state = State::Pcapng {
            be,
            ifaces: Vec::new(),
        };
        self.consume(len as usize);
        Ok(())
    }

    fn next_pcapng(&mut self) -> Result<Option<Record<'_>>, ReadError> {
        loop {
            let off = self.offset;
            if !self.fill(12)? {
                if self.avail() == 0 {
                    return Ok(None);
                }
                return Err(ReadError::Truncated {
                    offset: off,
                    what: "pcapng block header",
                    needed: 12,
                    have: self.avail() as u64,
                });
            }
            let b = &self.buf[self.start..self.start + 8];
            let raw_type = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if raw_type == SHB {
                self.read_shb()?;
                continue;
            }
            let State::Pcapng { be, .. } = self.state else {
                unreachable!("pcapng state")
            };
            let btype = u32_at(b, 0, be);
            let len = u32_at(b, 4, be);
            if len < 12 || !len.is_multiple_of(4) || len > MAX_BLOCK {
                return Err(ReadError::AbsurdLength {
                    offset: off,
                    what: "pcapng block length",
                    len: len as u64,
                });
            }
            let len = len as usize;
            if !self.fill(len)? {
                return Err(ReadError::Truncated {
                    offset: off,
                    what: "pcapng block",
                    needed: len as u64,
                    have: self.avail() as u64,
                });
            }
            let blk = &self.buf[self.start..self.start + len];
            let trailer = u32_at(blk, len - 4, be);
            if trailer as usize != len {
                return Err(ReadError::Corrupt {
                    offset: off,
                    why: format!(
                        "pcapng block length {len} does not match its trailing copy {trailer}"
                    ),
                });
            }
            let body = &blk[8..len - 4];
            match btype {
                1 => {
                    let ifc = parse_idb(off, body, be, self.next_global_iface)?;
                    self.next_global_iface += 1;
                    self.note_link_type(ifc.link_type);
                    if let State::Pcapng { ifaces, .. } = &mut self.state {
                        ifaces.push(ifc);
                    }
                    self.consume(len);
                }
                6 | 2 => {
                    // Enhanced packet block, or the obsolete packet block.
                    if body.len() < 20 {
                        return Err(ReadError::Corrupt {
                            offset: off,
                            why: "packet block too short".into(),
                        });
                    }
                    let (iface, ts_hi, ts_lo, caplen, wire_len) = if btype == 6 {
                        (
                            u32_at(body, 0, be),
                            u32_at(body, 4, be),
                            u32_at(body, 8, be),
                            u32_at(body, 12, be),
                            u32_at(body, 16, be),
                        )
                    } else {
                        (
                            u16_at(body, 0, be) as u32,
                            u32_at(body, 4, be),
                            u32_at(body, 8, be),
                            u32_at(body, 12, be),
                            u32_at(body, 16, be),
                        )
                    };
                    if caplen as usize > body.len() - 20 {
                        return Err(ReadError::Corrupt {
                            offset: off,
                            why: format!("packet block captured length {caplen} exceeds the block"),
                        });
                    }
                    let ifc = self.iface(off, iface)?;
                    let ts = iface_ts(&ifc, ((ts_hi as u64) << 32) | ts_lo as u64);
                    let s = self.start + 8 + 20;
                    self.pending = len;
                    let data = &self.buf[s..s + caplen as usize];
                    return Ok(Some(Record {
                        frame: Frame {
                            ts,
                            link_type: ifc.link_type,
                            wire_len,
                            data,
                        },
                        interface: ifc.global,
                    }));
                }
                3 => {
                    // Simple packet block: interface 0, no timestamp.
                    if body.len() < 4 {
                        return Err(ReadError::Corrupt {
                            offset: off,
                            why: "simple packet block too short".into(),
                        });
                    }
                    let wire_len = u32_at(body, 0, be);
                    let ifc = self.iface(off, 0)?;
                    let mut caplen = (wire_len as usize).min(body.len() - 4);
                    if ifc.snaplen != 0 {
                        caplen = caplen.min(ifc.snaplen as usize);
                    }
                    let s = self.start + 12;
                    self.pending = len;
                    let data = &self.buf[s..s + caplen];
                    return Ok(Some(Record {
                        frame: Frame {
                            ts: Timestamp::ZERO,
                            link_type: ifc.link_type,
                            wire_len,
                            data,
                        },
                        interface: ifc.global,
                    }));
                }
                _ => self.consume(len),
            }
        }
    }

    fn iface(&self, off: u64, id: u32) -> Result<Iface, ReadError> {
        let State::Pcapng { ifaces, .. } = &self.state else {
            unreachable!("pcapng state")
        };
        ifaces
            .get(id as usize)
            .copied()
            .ok_or_else(|| ReadError::Corrupt {
                offset: off,
                why: format!(
                    "packet names interface {id} but the section defines {}",
                    ifaces.len()
                ),
            })
    }
}

/// Parses an interface description block body.
fn parse_idb(off: u64, body: &[u8], be: bool, global: u32) -> Result<Iface, ReadError> {
    if body.len() < 8 {
        return Err(ReadError::Corrupt {
            offset: off,
            why: "interface description block too short".into(),
        });
    }
    let mut ifc = Iface {
        link_type: u16_at(body, 0, be) as u32,
        snaplen: u32_at(body, 4, be),
        resol_pow2: false,
        resol_exp: 6,
        offset_secs: 0,
        global,
    };
    // Options: code, length, value padded to 4 bytes.
    let mut at = 8;
    while at + 4 <= body.len() {
        let code = u16_at(body, at, be);
        let olen = u16_at(body, at + 2, be) as usize;
        let v = at + 4;
        if code == 0 || v + olen > body.len() {
            break;
        }
        match code {
            9 if olen >= 1 => {
                let r = body[v];
                ifc.resol_pow2 = r & 0x80 != 0;
                ifc.resol_exp = r & 0x7F;
            }
            14 if olen >= 8 => {
                let x = [
                    body[v],
                    body[v + 1],
                    body[v + 2],
                    body[v + 3],
                    body[v + 4],
                    body[v + 5],
                    body[v + 6],
                    body[v + 7],
                ];
                ifc.offset_secs = if be {
                    i64::from_be_bytes(x)
                } else {
                    i64::from_le_bytes(x)
                };
            }
            _ => {}
        }
        at = v + olen.div_ceil(4) * 4;
    }
    Ok(ifc)
}

/// Converts interface ticks to a timestamp using the interface's resolution and offset.
fn iface_ts(ifc: &Iface, ticks: u64) -> Timestamp {
    let nanos: i128 = if ifc.resol_pow2 {
        let e = ifc.resol_exp.min(127) as u32;
        ((ticks as i128) * 1_000_000_000) >> e.min(126)
    } else {
        let e = ifc.resol_exp as i32;
        if e <= 9 {
            (ticks as i128) * 10i128.pow((9 - e) as u32)
        } else {
            (ticks as i128) / 10i128.pow((e - 9).min(38) as u32)
        }
    };
    let total = nanos + (ifc.offset_secs as i128) * 1_000_000_000;
    Timestamp::from_nanos(total.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}
