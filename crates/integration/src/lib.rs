//! The Qualys integration: instance configuration and validation, incremental
//! windows, the sync steps in dependency order, and converters from Qualys
//! records to graph objects.

pub mod client;
pub mod config;
pub mod convert;
pub mod runner;
mod secret;
pub mod source;
pub mod steps;
pub mod time;
pub mod window;

pub use config::{
    ApiUrl, Config, ConfigError, ConfigErrors, DetectionType, InstanceNameError, PollingInterval,
    RawConfig, validate_instance_name,
};
pub use runner::{
    KB_REFRESH_DAYS, KbEntry, NoProgress, RunError, RunInput, RunObserver, RunOutcome, run_sync,
};
pub use secret::Secret;
pub use source::{
    DetectionQuery, HostIdQuery, QualysSource, SourceError, WebAppFindingQuery, WebAppQuery,
};
pub use steps::step_declarations;
pub use window::{DataSet, RunWindows, Window, WindowState, compute_window};
