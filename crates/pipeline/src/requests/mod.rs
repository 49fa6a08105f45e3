//! The history and forecast requests (`wirewatch history top|series|flows|alerts`,
//! `wirewatch forecast`) without their command line: the value parsers and
//! checks with their one-line messages, the queries, and the JSON they
//! print. The command line (clap) and the web API (query strings) call the
//! same functions, so a bad value gives the same line in both.

pub mod forecast;
pub mod history;
pub mod params;

/// Why a request has no answer, by what the asker can do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A parameter is wrong (HTTP 400; exit 2 on the command line).
    Bad(String),
    /// Nothing to answer from: no database, or no traffic where asked (404).
    Missing(String),
    /// The store failed (500).
    Store(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Bad(m) | Failure::Missing(m) | Failure::Store(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Failure {}

impl From<wirewatch_store::StoreError> for Failure {
    fn from(e: wirewatch_store::StoreError) -> Failure {
        Failure::Store(e.to_string())
    }
}

/// A parameter's message as a [`Failure::Bad`].
pub(crate) fn bad(msg: String) -> Failure {
    Failure::Bad(msg)
}
