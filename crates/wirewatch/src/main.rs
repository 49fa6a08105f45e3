//! The `wirewatch` command.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    wirewatch::run::main()
}
