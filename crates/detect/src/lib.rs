//! Detection: explained alerts from seasonal baselines, attack heuristics
//! and an online Kitsune-class detector, plus the metrics the evaluation
//! harness reports.
//!
//! Pure code over decoded packets ([`Obs`]) and per-period flow counts
//! ([`FlowRow`]): no I/O, no clock. Time is the packet timestamp, so the
//! same capture gives the same alerts every time.
#![forbid(unsafe_code)]

mod admission;
pub mod alert;
pub mod baseline;
pub mod bounded;
pub mod budget;
pub mod detector;
pub mod engine;
pub mod forecast_watch;
pub mod heuristics;
pub mod kitsune;
pub mod metrics;
mod obs;
pub mod rollup;
pub mod sketch;

pub use alert::{
    Alert, Contributor, Entity, Evidence, Kind, Limiter, Member, Severity, SOURCES_NAMED,
};
pub use bounded::Bounded;
pub use budget::Budget;
pub use detector::{FlowRow, PacketDetector, RowDetector, RowTcp};
pub use engine::{DetectConfig, Engine, StateCount};
pub use forecast_watch::{capacity_alert, Expectation, ForecastWatch};
pub use kitsune::{Kitsune, KitsuneConfig, ModelError};
pub use obs::Obs;
pub use rollup::Rollups;

/// Hash maps keyed by addresses from the wire. A fixed seed keeps every
/// iteration order, and so every alert order and eviction, the same from
/// run to run (determinism is a feature here); foldhash still mixes well
/// enough that crafted addresses cannot cheaply collide every key.
pub type Map<K, V> = hashbrown::HashMap<K, V, foldhash::fast::FixedState>;

/// A set with [`Map`]'s hasher.
pub type Set<K> = hashbrown::HashSet<K, foldhash::fast::FixedState>;
