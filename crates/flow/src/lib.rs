//! The flow table: one 5-tuple table fed by decoded packets, with iftop's
//! 2 s / 10 s / 40 s rate windows, 40 s peaks and cumulative totals, viewable
//! as host pairs, host pairs with ports, or single hosts.
//!
//! Time is passed in with every packet (the packet timestamp), so the same
//! capture always yields the same tables.
// One `unsafe` block: the prefetch hint of `index::prefetch`.
#![deny(unsafe_code)]

pub mod dns;
mod index;
mod net;
mod table;
pub mod tcp;
pub mod tcp_totals;
mod view;

pub use dns::{DnsMsg, DnsSide, DnsStats, DnsTotals, DnsTracker};
pub use net::{IpNet, NetParseError};
pub use table::{
    tcp_cap, ByteMode, Counters, Delta, Flow, FlowConfig, FlowKey, FlowTable, LayerMode, Stats,
    BATCH, HISTORY_SLOTS, MAX_FLOWS, SLOT_NANOS,
};
pub use tcp::{Handshake, RttStats, TcpAnalysis, TcpCounters, TcpDelta, TcpSeg};
pub use tcp_totals::{RttHistogram, TcpTotals};
pub use view::{DirView, Entry, EntryKey, EntryTcp, Snapshot, SortKey, TotalsView, View};
