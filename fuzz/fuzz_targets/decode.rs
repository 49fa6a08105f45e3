//! Decodes one arbitrary frame. The first two bytes pick the link type: values
//! below the length of `LINK_TYPES` index that list of interesting types, any
//! other value is used raw; the rest of the input is the frame. Each frame is
//! decoded with tunnels off and on, and with `wire_len` equal to the captured
//! length and 100 bytes longer (a snap-length-truncated capture).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wirewatch_wire::{decode, DecodeOptions, Timestamp};

// FDDI (10) is appended last so earlier corpus entries keep their meaning.
const LINK_TYPES: [u32; 21] = [
    0, 1, 8, 9, 12, 14, 50, 51, 101, 104, 105, 107, 108, 113, 127, 204, 205, 228, 229, 276, 10,
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let sel = u16::from_le_bytes([data[0], data[1]]);
    let link_type = match LINK_TYPES.get(usize::from(sel)) {
        Some(&lt) => lt,
        None => u32::from(sel),
    };
    let frame = &data[2..];
    let len = frame.len() as u32;
    for descend_tunnels in [false, true] {
        let opts = DecodeOptions { descend_tunnels };
        for wire_len in [len, len + 100] {
            let meta = decode(link_type, Timestamp::ZERO, frame, wire_len, &opts);
            std::hint::black_box(&meta);
        }
    }
});
