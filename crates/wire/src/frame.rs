//! One captured frame, whatever it came from: a capture file, a live ring,
//! the screen's replay. The pipeline's sources hand these to the filter,
//! the decoder and the consumers.

use crate::Timestamp;

/// A frame as captured, borrowed from its source's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Capture time (the packet's own timestamp).
    pub ts: Timestamp,
    /// Link type (`LINKTYPE_*`) of `data`.
    pub link_type: u32,
    /// Length of the frame on the wire (at least `data.len()`).
    pub wire_len: u32,
    /// The captured bytes (the snap length may have cut them short).
    pub data: &'a [u8],
}

impl Frame<'_> {
    /// A copy that owns its bytes (a frame held back or sent to a thread).
    pub fn to_owned_frame(&self) -> OwnedFrame {
        OwnedFrame {
            ts: self.ts,
            link_type: self.link_type,
            wire_len: self.wire_len,
            data: self.data.to_vec(),
        }
    }
}

/// A [`Frame`] that owns its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedFrame {
    /// Capture time.
    pub ts: Timestamp,
    /// Link type of `data`.
    pub link_type: u32,
    /// Length on the wire.
    pub wire_len: u32,
    /// The captured bytes.
    pub data: Vec<u8>,
}

impl OwnedFrame {
    /// The frame, borrowing the bytes.
    pub fn frame(&self) -> Frame<'_> {
        Frame {
            ts: self.ts,
            link_type: self.link_type,
            wire_len: self.wire_len,
            data: &self.data,
        }
    }
}
