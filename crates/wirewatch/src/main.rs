//! The `wirewatch` command.

fn main() -> std::process::ExitCode {
    wirewatch::cli::main()
}
