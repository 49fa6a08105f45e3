//! Seeds the `decode` fuzz corpus with real frames.
//!
//! Usage: `cargo run --release --example seed_decode -- OUT_DIR CAPTURE...`
//!
//! Reads each capture (pcap / pcapng, gzip detected by magic) with the project's
//! own reader and writes up to `PER_FILE` distinct frames per capture to
//! OUT_DIR, each prefixed with the two selector bytes the `decode` target
//! expects (the index into its link-type list when the link type is in that
//! list, otherwise the raw link type, little-endian). File names are content
//! hashes, so re-running is idempotent. Unreadable captures are skipped.
//! Nothing here is committed: OUT_DIR is the gitignored fuzz corpus.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// Must match `LINK_TYPES` in `fuzz_targets/decode.rs`.
// FDDI (10) is appended last so earlier corpus entries keep their meaning.
const LINK_TYPES: [u32; 21] = [
    0, 1, 8, 9, 12, 14, 50, 51, 101, 104, 105, 107, 108, 113, 127, 204, 205, 228, 229, 276, 10,
];
const PER_FILE: usize = 16;
/// Frames longer than this are skipped: libFuzzer's default -max_len is 4096.
const MAX_FRAME: usize = 4094;

fn selector(link_type: u32) -> Option<u16> {
    if let Some(i) = LINK_TYPES.iter().position(|&lt| lt == link_type) {
        return Some(i as u16);
    }
    // Raw values below the list length would be read as indices.
    match u16::try_from(link_type) {
        Ok(v) if usize::from(v) >= LINK_TYPES.len() => Some(v),
        _ => None,
    }
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let out = PathBuf::from(args.next().expect("usage: seed_decode OUT_DIR CAPTURE..."));
    std::fs::create_dir_all(&out).expect("create OUT_DIR");
    let (mut files, mut written) = (0usize, 0usize);
    for path in args {
        let path = PathBuf::from(path);
        files += 1;
        written += seed_one(&path, &out);
    }
    eprintln!(
        "seed_decode: {files} captures read, {written} new seeds in {}",
        out.display()
    );
}

fn seed_one(path: &Path, out: &Path) -> usize {
    let Ok(mut reader) = wirewatch_capture::open(path) else {
        return 0;
    };
    let (mut n, mut written) = (0, 0);
    let mut seen = std::collections::HashSet::new();
    while n < PER_FILE {
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) | Err(_) => break,
        };
        if frame.data.len() > MAX_FRAME {
            continue;
        }
        let Some(sel) = selector(frame.link_type) else {
            continue;
        };
        let mut input = Vec::with_capacity(frame.data.len() + 2);
        input.extend_from_slice(&sel.to_le_bytes());
        input.extend_from_slice(frame.data);
        let mut h = DefaultHasher::new();
        input.hash(&mut h);
        let hash = h.finish();
        if !seen.insert(hash) {
            continue;
        }
        // Count existing seeds too, so a re-run picks the same frames.
        n += 1;
        let name = out.join(format!("seed-{hash:016x}"));
        if !name.exists() {
            std::fs::write(&name, &input).expect("write seed");
            written += 1;
        }
    }
    written
}
