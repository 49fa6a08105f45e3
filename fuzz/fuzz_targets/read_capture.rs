//! Feeds arbitrary bytes to the pcap/pcapng reader, reads every frame until
//! end of stream or the first error, and decodes each frame (tunnels on), so
//! one input exercises both the container parser and the packet decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wirewatch_capture::CaptureReader;
use wirewatch_wire::{decode, DecodeOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = CaptureReader::new(data) else {
        return;
    };
    let opts = DecodeOptions {
        descend_tunnels: true,
    };
    // Every record takes at least 12 bytes of input, so the stream position
    // must move forward on every frame and never pass the end of the input.
    let mut last = reader.position();
    loop {
        match reader.next_frame() {
            Ok(Some(frame)) => {
                let meta = decode(frame.link_type, frame.ts, frame.data, frame.wire_len, &opts);
                std::hint::black_box(&meta);
            }
            Ok(None) | Err(_) => break,
        }
        let pos = reader.position();
        assert!(
            pos > last,
            "reader made no progress: position {last} -> {pos}"
        );
        assert!(
            pos <= data.len() as u64,
            "position {pos} past end of {}-byte input",
            data.len()
        );
        last = pos;
    }
});
