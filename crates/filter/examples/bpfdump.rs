//! Prints the program for an expression: `bpfdump LINKTYPE EXPR...`.
fn main() {
    let mut args = std::env::args().skip(1);
    let lt: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let expr = args.collect::<Vec<_>>().join(" ");
    let opts = wirewatch_filter::CompileOptions {
        link_type: lt,
        snaplen: 262144,
        linux_vlan_extensions: false,
    };
    match wirewatch_filter::compile(&expr, &opts) {
        Ok(p) => print!("{}", p.dump()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
