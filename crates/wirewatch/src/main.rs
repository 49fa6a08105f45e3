//! The `wirewatch` command.

fn main() -> std::process::ExitCode {
    wirewatch::run::main()
}
