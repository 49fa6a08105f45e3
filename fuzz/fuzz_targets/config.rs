//! The configuration parsers (iftoprc and TOML, with its [history] table)
//! and the history queries' time arguments on arbitrary text: an error is
//! fine, a panic is not; every error is one line (naming file and line for
//! configs), and a timestamp read back from its RFC 3339 form is the same.
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
    use wirewatch_store::time;
    for r in [time::parse_time(text, 1_795_442_400), time::parse_duration(text)] {
        if let Err(e) = r {
            assert!(!e.contains('\n') || text.contains('\n'), "multi-line error: {e:?}");
        }
    }
    if let Ok(t) = time::parse_rfc3339(text) {
        assert_eq!(time::parse_rfc3339(&time::rfc3339(t)), Ok(t), "{text:?}");
    }
});
