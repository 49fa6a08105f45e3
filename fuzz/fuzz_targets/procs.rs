//! The process-attribution parsers on arbitrary bytes: netlink sock_diag
//! replies, /proc/net socket tables, fd link targets and /etc/passwd.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wirewatch_procs::parsers;

fuzz_target!(|data: &[u8]| {
    let seq = data.first().map_or(0, |&b| u32::from(b));
    let _ = parsers::sock_diag_reply(data, seq);
    let _ = parsers::socket_link(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parsers::proc_net(text, false);
        let _ = parsers::proc_net(text, true);
        let _ = parsers::passwd(text);
    }
});
