//! pcap and pcapng writers: `-w FILE` output and test fixtures.

use std::io::{self, Write};

use wirewatch_wire::Timestamp;

/// Writes classic pcap (little-endian, microsecond or nanosecond timestamps).
pub struct PcapWriter<W: Write> {
    out: W,
    nanos: bool,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(mut out: W, link_type: u32, snaplen: u32, nanos: bool) -> io::Result<Self> {
        let magic: u32 = if nanos { 0xA1B2_3C4D } else { 0xA1B2_C3D4 };
        out.write_all(&magic.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&snaplen.to_le_bytes())?;
        out.write_all(&link_type.to_le_bytes())?;
        Ok(PcapWriter { out, nanos })
    }

    /// Writes one record; `data` is what was captured, `wire_len` the frame's length.
    pub fn write(&mut self, ts: Timestamp, data: &[u8], wire_len: u32) -> io::Result<()> {
        let n = ts.as_nanos();
        let secs = n.div_euclid(1_000_000_000) as u32;
        let sub = n.rem_euclid(1_000_000_000);
        let frac = if self.nanos { sub } else { sub / 1000 } as u32;
        self.out.write_all(&secs.to_le_bytes())?;
        self.out.write_all(&frac.to_le_bytes())?;
        self.out.write_all(&(data.len() as u32).to_le_bytes())?;
        self.out.write_all(&wire_len.to_le_bytes())?;
        self.out.write_all(data)
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes pcapng: sections, interfaces, and enhanced/simple/obsolete packet blocks.
pub struct PcapngWriter<W: Write> {
    out: W,
    big_endian: bool,
    /// Timestamp resolution exponent per interface of the current section (10^-n).
    resol: Vec<u8>,
}

impl<W: Write> PcapngWriter<W> {
    /// Starts a little-endian file with one section header.
    pub fn new(out: W) -> io::Result<Self> {
        Self::with_byte_order(out, false)
    }

    /// Starts a file in the given byte order.
    pub fn with_byte_order(out: W, big_endian: bool) -> io::Result<Self> {
        let mut w = PcapngWriter {
            out,
            big_endian,
            resol: Vec::new(),
        };
        w.section()?;
        Ok(w)
    }

    fn u16b(&self, v: u16) -> [u8; 2] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn u32b(&self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn block(&mut self, btype: u32, body: &[u8]) -> io::Result<()> {
        let pad = body.len().div_ceil(4) * 4 - body.len();
        let len = (12 + body.len() + pad) as u32;
        let (t, l) = (self.u32b(btype), self.u32b(len));
        self.out.write_all(&t)?;
        self.out.write_all(&l)?;
        self.out.write_all(body)?;
        self.out.write_all(&[0u8; 3][..pad])?;
        self.out.write_all(&l)
    }

    /// Starts a new section; interfaces of earlier sections are forgotten.
    pub fn section(&mut self) -> io::Result<()> {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32b(0x1A2B_3C4D));
        body.extend_from_slice(&self.u16b(1));
        body.extend_from_slice(&self.u16b(0));
        body.extend_from_slice(&(-1i64).to_le_bytes());
        self.resol.clear();
        self.block(0x0A0D_0D0A, &body)
    }

    /// Adds an interface to the current section and returns its id.
    /// `tsresol` is the if_tsresol option byte (6 = microseconds, 9 = nanoseconds,
    /// 0x80|n = 2^-n seconds).
    pub fn interface(&mut self, link_type: u16, snaplen: u32, tsresol: u8) -> io::Result<u32> {
        self.interface_named(link_type, snaplen, tsresol, "")
    }

    /// Like [`interface`](Self::interface), with an `if_name` option when
    /// `name` is not empty.
    pub fn interface_named(
        &mut self,
        link_type: u16,
        snaplen: u32,
        tsresol: u8,
        name: &str,
    ) -> io::Result<u32> {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u16b(link_type));
        body.extend_from_slice(&self.u16b(0));
        body.extend_from_slice(&self.u32b(snaplen));
        if !name.is_empty() {
            let n = name.as_bytes();
            body.extend_from_slice(&self.u16b(2));
            body.extend_from_slice(&self.u16b(n.len() as u16));
            body.extend_from_slice(n);
            body.resize(body.len().next_multiple_of(4), 0);
        }
        body.extend_from_slice(&self.u16b(9));
        body.extend_from_slice(&self.u16b(1));
        body.extend_from_slice(&[tsresol, 0, 0, 0]);
        body.extend_from_slice(&[0, 0, 0, 0]);
        self.block(1, &body)?;
        self.resol.push(tsresol);
        Ok(self.resol.len() as u32 - 1)
    }

    fn ticks(&self, iface: u32, ts: Timestamp) -> u64 {
        let r = self.resol.get(iface as usize).copied().unwrap_or(6);
        let n = ts.as_nanos().max(0) as u128;
        let t = if r & 0x80 != 0 {
            (n << (r & 0x7F)) / 1_000_000_000
        } else if r <= 9 {
            n / 10u128.pow(9 - r as u32)
        } else {
            n * 10u128.pow(r as u32 - 9)
        };
        t as u64
    }

    /// Writes an enhanced packet block.
    pub fn packet(
        &mut self,
        iface: u32,
        ts: Timestamp,
        data: &[u8],
        wire_len: u32,
    ) -> io::Result<()> {
        let t = self.ticks(iface, ts);
        let mut body = Vec::with_capacity(20 + data.len());
        body.extend_from_slice(&self.u32b(iface));
        body.extend_from_slice(&self.u32b((t >> 32) as u32));
        body.extend_from_slice(&self.u32b(t as u32));
        body.extend_from_slice(&self.u32b(data.len() as u32));
        body.extend_from_slice(&self.u32b(wire_len));
        body.extend_from_slice(data);
        self.block(6, &body)
    }

    /// Writes an obsolete packet block (type 2).
    pub fn obsolete_packet(
        &mut self,
        iface: u16,
        ts: Timestamp,
        data: &[u8],
        wire_len: u32,
    ) -> io::Result<()> {
        let t = self.ticks(iface as u32, ts);
        let mut body = Vec::with_capacity(20 + data.len());
        body.extend_from_slice(&self.u16b(iface));
        body.extend_from_slice(&self.u16b(0));
        body.extend_from_slice(&self.u32b((t >> 32) as u32));
        body.extend_from_slice(&self.u32b(t as u32));
        body.extend_from_slice(&self.u32b(data.len() as u32));
        body.extend_from_slice(&self.u32b(wire_len));
        body.extend_from_slice(data);
        self.block(2, &body)
    }

    /// Writes a simple packet block (interface 0, no timestamp).
    pub fn simple_packet(&mut self, data: &[u8], wire_len: u32) -> io::Result<()> {
        let mut body = Vec::with_capacity(4 + data.len());
        body.extend_from_slice(&self.u32b(wire_len));
        body.extend_from_slice(data);
        self.block(3, &body)
    }

    /// Writes a block of a type readers must skip (a custom block).
    pub fn custom_block(&mut self, body: &[u8]) -> io::Result<()> {
        self.block(0x0000_0BAD, body)
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
