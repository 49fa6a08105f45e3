//! Compiles one arbitrary pcap-filter expression and runs the program.
//!
//! Input layout: byte 0 picks the link type (index into `LINK_TYPES`, modulo
//! its length) and, in its top bit, the Linux VLAN extensions; then the
//! expression up to the first NUL byte (lossy UTF-8); the bytes after the NUL
//! are a frame the compiled program is run over. A compile error must point
//! inside the expression (or just past its end); a compiled program must pass
//! the classic-BPF checker and run without panicking, on the frame as
//! captured and as if cut short by a snap length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wirewatch_filter::{compile, validate, CompileOptions};

const LINK_TYPES: [u32; 12] = [1, 0, 12, 101, 113, 276, 228, 229, 108, 9, 104, 127];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (expr, frame) = match rest.iter().position(|&b| b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let expr = String::from_utf8_lossy(expr);
    let opts = CompileOptions {
        link_type: LINK_TYPES[usize::from(sel & 0x7F) % LINK_TYPES.len()],
        snaplen: 262_144,
        linux_vlan_extensions: sel & 0x80 != 0,
    };
    match compile(&expr, &opts) {
        Ok(prog) => {
            validate(prog.insns()).expect("compiled program fails the checker");
            let len = frame.len() as u32;
            for wire_len in [len, len + 100] {
                std::hint::black_box(prog.run(frame, wire_len));
                std::hint::black_box(prog.run_with_meta(frame, wire_len, Some(10)));
            }
        }
        Err(e) => {
            assert!(
                e.column >= 1 && e.column <= expr.chars().count() + 1,
                "column {} outside '{expr}'",
                e.column
            );
            assert!(!e.message.is_empty());
        }
    }
});
