//! The wirewatch binary's library: command line ([`cli`]) → checked
//! settings ([`settings`]) → one [`run`]; the run modules wire sources and
//! consumers, the rest is presentation (reports, screen, charts).
//! Kept as a library so tests can drive the pipeline without a process.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod chart;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dns_text;
pub mod eval_cmd;
pub mod forecast_cmd;
pub mod history_cmd;
pub mod live;
pub mod message;
pub mod offline;
pub mod output;
pub mod respond_cmd;
pub mod responses;
pub mod run;
pub mod settings;
pub mod tui;
