//! The library behind the `qgraph` binary: the glue that syncs one
//! integration instance into the graph store, instance management, the
//! database location, progress reporting and the demo.
//!
//! Tests and benchmarks call [`sync::sync_instance`] and
//! [`instances::add_instance`] directly, without the binary.

pub mod db;
pub mod demo;
pub mod errors;
pub mod escape;
pub mod instances;
pub mod password;
pub mod progress;
pub mod sync;
pub mod waits;

/// Returns the current time in epoch milliseconds (0 when the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
