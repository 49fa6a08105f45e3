//! The binary's tests, one test binary with a module per area (one link
//! instead of one per file). Run one area with a filter on its module:
//! `cargo test -p wirewatch --test cli live::`.
//!
//! `tests/no_alloc.rs` stays a binary of its own: it installs a counting
//! global allocator and asserts that nothing allocates while it ingests, which
//! the other tests, running on threads of the same process, would break.
//!
//! Tests that cannot run here (no root, no `../shared`, no tmux…) say so on
//! stderr, or fail under `WIREWATCH_STRICT=1`: see `wirewatch_testkit`.

mod alert_storm;
mod chunked;
mod cli;
mod common;
mod consumers;
mod corpus;
mod dashboard;
mod dashboard_data;
mod detect_cli;
mod dns;
mod forecast_cli;
mod limits;
mod live;
mod rates;
mod respond_block;
mod respond_life;
mod screen_tmux;
mod small_items;
mod tcp;
mod tcp_netem;
mod tcp_views;
mod tui;
mod web;
mod web_events;
mod web_history;
mod web_metrics;
mod web_names;

// The live tests re-run this binary in a namespace with `--exact NAME` to
// have a process of their own there: these entry points (which do nothing
// unless a variable names the job) keep their short names at the root.

/// See [`live::socket_child`].
#[test]
fn socket_child() {
    live::socket_child();
}

/// See [`live::filter_child`].
#[test]
fn filter_child() {
    live::filter_child();
}

/// See [`dashboard::xss_child`].
#[test]
fn xss_child() {
    dashboard::xss_child();
}
