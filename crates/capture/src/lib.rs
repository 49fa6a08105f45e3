//! Packet sources for wirewatch.
//!
//! [`CaptureReader`] reads pcap and pcapng from any `Read`; [`open`] adds
//! files, stdin (`-`) and transparent gzip. Writers produce both formats for
//! `-w` and for tests.
#![forbid(unsafe_code)]

mod reader;
mod writer;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

pub use reader::{CaptureReader, Format, Record, MAX_BLOCK, MAX_CAPLEN};
pub use wirewatch_wire::Frame;
pub use writer::{PcapWriter, PcapngWriter};

/// Why a capture could not be read. Every variant names the byte offset
/// (in the decompressed stream for `.gz` input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The stream is not pcap or pcapng.
    #[error("not a pcap or pcapng capture at byte {offset}: {why}")]
    NotACapture {
        /// Byte offset.
        offset: u64,
        /// What was found instead.
        why: String,
    },
    /// The stream ended inside a record.
    #[error("{what} at byte {offset} is cut off: needs {needed} bytes, only {have} left")]
    Truncated {
        /// Offset of the record.
        offset: u64,
        /// Which structure.
        what: &'static str,
        /// Bytes the record needs.
        needed: u64,
        /// Bytes present.
        have: u64,
    },
    /// A length field is impossible.
    #[error("absurd {what} {len} at byte {offset}")]
    AbsurdLength {
        /// Offset of the record.
        offset: u64,
        /// Which field.
        what: &'static str,
        /// The value found.
        len: u64,
    },
    /// A structure is inconsistent.
    #[error("corrupt capture at byte {offset}: {why}")]
    Corrupt {
        /// Offset of the record.
        offset: u64,
        /// What is wrong.
        why: String,
    },
    /// The operating system failed to read.
    #[error("read error at byte {offset}: {error}")]
    Io {
        /// Offset reached.
        offset: u64,
        /// The OS error text.
        error: String,
    },
}

impl ReadError {
    /// A record cut off at end of stream: what came before it is good.
    pub fn is_truncation(&self) -> bool {
        matches!(self, ReadError::Truncated { .. })
    }

    /// Byte offset the error refers to.
    pub fn offset(&self) -> u64 {
        match self {
            ReadError::NotACapture { offset, .. }
            | ReadError::Truncated { offset, .. }
            | ReadError::AbsurdLength { offset, .. }
            | ReadError::Corrupt { offset, .. }
            | ReadError::Io { offset, .. } => *offset,
        }
    }
}

/// Failure to open a capture.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file could not be opened.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The file is not a readable capture.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Wraps a buffered stream in a gzip decoder when it starts with the gzip magic.
pub fn maybe_gunzip<R: BufRead + 'static>(mut r: R) -> io::Result<Box<dyn Read>> {
    let head = r.fill_buf()?;
    if head.len() >= 2 && head[0] == 0x1F && head[1] == 0x8B {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(r)))
    } else {
        Ok(Box::new(r))
    }
}

/// Opens a capture file, or standard input for `-`; gzip is detected by magic.
/// `wrap` lets the caller interpose on the raw byte stream (e.g. to count
/// bytes for a progress bar).
pub fn open_with(
    path: &Path,
    wrap: impl FnOnce(Box<dyn Read>) -> Box<dyn Read>,
) -> Result<CaptureReader<Box<dyn Read>>, OpenError> {
    let raw: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        let f = File::open(path)?;
        if f.metadata()?.is_dir() {
            return Err(OpenError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a directory",
            )));
        }
        Box::new(f)
    };
    // A small buffer: it only serves the gzip peek; the reader's own larger reads bypass it.
    let src = maybe_gunzip(BufReader::with_capacity(16 * 1024, wrap(raw)))?;
    Ok(CaptureReader::new(src)?)
}

/// Opens a capture file, or standard input for `-`.
pub fn open(path: &Path) -> Result<CaptureReader<Box<dyn Read>>, OpenError> {
    open_with(path, |r| r)
}
