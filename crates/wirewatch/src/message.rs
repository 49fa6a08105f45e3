//! Lines for the user on stderr, in one format (`wirewatch: …`). A closed
//! stderr is not a reason to panic: the line is dropped.

use std::io::Write;

/// `wirewatch: LINE`.
pub fn note(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "wirewatch: {line}");
}

/// `wirewatch: warning: LINE`.
pub fn warning(line: &str) {
    note(&format!("warning: {line}"));
}

/// `wirewatch: error: LINE`.
pub fn error(line: &str) {
    note(&format!("error: {line}"));
}

/// Whether `e` is the reader of our output going away: not an error
/// (exit 0, like ripgrep).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
