//! The store conformance suite: generic over [`GraphStore`], written once and
//! run by every backend's test file (`tests/sqlite.rs`, and PostgreSQL when
//! its backend lands). Each function takes a fresh, empty store.

#![allow(dead_code, reason = "each backend's test file calls the cases it runs")]

mod cases;
mod fixtures;

pub use cases::*;
