//! Live packet capture on Linux.
//!
//! No maintained AF_PACKET ring crate builds with our toolchain and libpcap
//! bindings would need a system library, so this crate talks to the kernel
//! directly through `libc`: a TPACKET_V3 memory-mapped receive ring per
//! interface ([`PacketSocket`]), interface discovery and the default-route
//! choice ([`iface`]), dropping root and capabilities after the sockets are
//! open ([`privs`]), and a SIGINT/SIGTERM flag ([`signal`]).
//!
//! Every `unsafe` block is in this crate, each with the reason it is sound.
#![cfg(target_os = "linux")]

pub mod iface;
mod memory;
pub mod privs;
mod ring;
pub mod signal;

pub use iface::{default_interface, list_interfaces, DefaultChoice, Interface};
pub use memory::limit_allocator_arenas;
pub use ring::{
    poll, BpfInsn, KernelStats, LinkKind, PacketSocket, PollFd, RingConfig, SocketConfig,
};

/// Errors of live capture, each naming the interface it concerns.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The process may not open packet sockets.
    #[error("capturing on {iface} needs root or the CAP_NET_RAW capability ({source})")]
    Permission {
        /// Interface.
        iface: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The interface does not exist.
    #[error("no interface named '{0}'")]
    NoSuchInterface(String),
    /// A bad ring configuration.
    #[error("bad ring configuration: {0}")]
    BadRing(String),
    /// Another OS call failed.
    #[error("{iface}: {what}: {source}")]
    Os {
        /// Interface.
        iface: String,
        /// What was being done.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
