//! Errors returned by the simulator library.

use std::net::SocketAddr;
use std::path::PathBuf;

/// An error that stops the simulator from starting or from reading its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listening socket could not be bound.
    #[error("failed to bind the simulator to {addr}: {source}")]
    Bind {
        /// Address the simulator tried to bind.
        addr: SocketAddr,
        /// Underlying socket error.
        source: std::io::Error,
    },
    /// A fixture file of the replay source could not be read.
    #[error("failed to read fixture {path}: {source}")]
    FixtureRead {
        /// Path of the fixture.
        path: PathBuf,
        /// Underlying read error.
        source: std::io::Error,
    },
    /// A fault specification given as text is malformed.
    #[error("invalid fault {text:?}: {reason}; expected ENDPOINT:KIND[=VALUE][:COUNT|always]")]
    InvalidFault {
        /// The specification as given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration value is out of range.
    #[error("invalid simulator setting {field} = {value}: {reason}")]
    InvalidConfig {
        /// Name of the setting.
        field: &'static str,
        /// The value given.
        value: String,
        /// The accepted range.
        reason: &'static str,
    },
}
