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
