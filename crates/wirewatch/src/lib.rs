//! The wirewatch binary's library: command line, pipeline wiring and sinks.
//! Kept as a library so tests can drive the pipeline without a process.
#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod detect;
pub mod eval_cmd;
pub mod filter;
pub mod forecast_cmd;
pub mod history;
pub mod history_cmd;
pub mod live;
pub mod offline;
pub mod output;
pub mod procs;
pub mod tui;
pub mod watch;
