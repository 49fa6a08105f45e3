//! wirewatch's pipeline: [`Source`]s (capture files, live rings; next: a
//! flow collector) → filter → decode → the flow table (one owner; time from
//! the packets, or from the one injectable clock when live) → the
//! [`Consumer`]s: reports, the screen, the history recorder, detection and
//! the forecast watch, alert logs.
//!
//! Offline reports, the live report and the screen are three
//! configurations of one [`Pipeline`]; a new consumer is one type that
//! implements [`Consumer`] and one `add` where the run is wired.
#![forbid(unsafe_code)]

pub mod consumer;
pub mod detached;
pub mod detect;
pub mod filter;
pub mod history;
pub mod json;
pub mod live;
mod pipeline;
pub mod procs;
pub mod rates;
pub mod report_json;
pub mod requests;
pub mod source;
pub mod watch;

pub use consumer::{Consumer, Context, Ending, Event, Outbox, Packet, Response, Tick, Wants};
pub use pipeline::{account_all, decode_options, Counters, Pipeline};
pub use source::{CaptureStats, FileSource, IfaceCapture, Source, Stop};
