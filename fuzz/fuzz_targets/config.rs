//! The configuration parsers (iftoprc and TOML) on arbitrary text: an error
//! is fine, a panic is not; every error is one line naming file and line.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let p = Path::new("fuzz.rc");
    for r in [
        wirewatch::config::parse_iftoprc(text, p),
        wirewatch::config::parse_toml(text, Path::new("fuzz.toml")),
    ] {
        if let Err(e) = r {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "multi-line error: {msg:?}");
        }
    }
});
