//! The responder's parsers: the guard's route and resolv.conf readers, the
//! nft listing reader, block targets and webhook URLs. Each either parses
//! or fails with one line; what parses reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wirewatch_respond::guard::{parse_ipv6_route_gateways, parse_resolv_conf, parse_route_gateways};
use wirewatch_respond::hooks::HookUrl;
use wirewatch_respond::nft::parse_listing;
use wirewatch_respond::Target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_route_gateways(&text);
    let _ = parse_ipv6_route_gateways(&text);
    let _ = parse_resolv_conf(&text);
    match parse_listing(&text) {
        Ok(targets) => {
            for t in targets {
                let again: Target = t.to_string().parse().expect("a listed block reads back");
                assert_eq!(again, t);
            }
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
    }
    for line in text.lines() {
        match line.parse::<Target>() {
            Ok(t) => assert_eq!(t.to_string().parse::<Target>().as_ref(), Ok(&t)),
            Err(e) => assert!(!e.contains('\n'), "{e}"),
        }
        match HookUrl::parse(line) {
            Ok(u) => assert_eq!(HookUrl::parse(&u.to_string()).as_ref(), Ok(&u)),
            Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
        }
    }
});
