//! Names for what the monitor shows: host names for addresses and service
//! names for ports.
//!
//! - [`Resolver`]: reverse DNS that never blocks its caller. Lookups run on a
//!   few worker threads; the caller asks for a name every frame and gets
//!   [`Name::Pending`] until the answer is in the cache.
//! - [`services`]: a built-in table of well-known TCP and UDP ports, so port
//!   names do not depend on the host's `/etc/services`.
#![forbid(unsafe_code)]

mod resolver;
pub mod services;

pub use resolver::{system_reverse_lookup, Name, Options, Resolver};
pub use services::service_name;
