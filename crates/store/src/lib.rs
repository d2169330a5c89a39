//! Graph storage: the `GraphStore` trait with SQLite and PostgreSQL backends, the sync engine, the mapper, job history and the instance registry.
//!
//! The SQLite backend ([`SqliteStore`]) is the embedded default. Every
//! backend implements [`GraphStore`]; a sync run is a [`SyncRun`], which is
//! the [`qgraph_model::GraphSink`] the integration steps write to, and which
//! commits the whole run in one transaction.

mod error;
mod import;
pub mod plan;
mod secret;
pub mod sqlite;
mod store;
mod types;

pub use error::StoreError;
pub use import::{ImportError, import_graph, read_graph_file};
pub use secret::{KeySource, Password, SecretKey};
pub use sqlite::SqliteStore;
pub use store::{GraphStore, SyncRun};
pub use types::{
    FindingLifecycle, Instance, InstanceId, InstanceKind, JobRecord, JobStatus, JobStepRecord,
    KbEntry, MAPPER_INSTANCE, NewInstance, RemovalReport, StoredEntity, StoredRelationship,
    SyncOptions, SyncReport, TypeCount,
};
