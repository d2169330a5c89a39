//! Errors of the graph store.

use std::path::PathBuf;

use crate::types::InstanceId;

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("failed to open the graph database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error(
        "cannot write the graph database {path} or its directory ({source}): SQLite keeps its write-ahead log (the -wal and -shm files) beside the database, so both must be writable by this user; fix the permissions or copy the database to a writable directory"
    )]
    NotWritable {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error(
        "the graph database {path} has schema version {found}, but this build knows versions up to {supported}: upgrade qgraph to open it"
    )]
    UnknownSchemaVersion {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error(
        "{path} is not a qgraph database: it has tables, but not those of qgraph, so qgraph leaves it unchanged; pass --db with a qgraph database or a new path"
    )]
    NotQgraphDatabase { path: PathBuf },

    #[error("SQLite error: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("invalid JSON in the stored column {column}: {source}")]
    StoredJson {
        column: &'static str,
        #[source]
        source: serde_json::Error,
    },

    #[error("failed to encode {what} as JSON: {source}")]
    EncodeJson {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    #[error("stored relationship {key:?} has an unknown class {class:?}")]
    StoredClass { key: String, class: String },

    #[error("integration instance {0} not found")]
    InstanceNotFound(String),

    #[error("an integration instance named {0:?} already exists: choose another name")]
    InstanceExists(String),

    #[error("the mapper scope (instance 0) cannot be changed or removed")]
    ReservedInstance,

    #[error("instance {instance} already has a sync run in progress in this process")]
    RunInProgress { instance: InstanceId },

    #[error(
        "instance {name} is already syncing in process {process_id} (job {job}); wait for that run to finish, or stop that process and try again"
    )]
    RunInProgressElsewhere {
        instance: InstanceId,
        /// The instance's name, for the message.
        name: String,
        job: i64,
        process_id: u32,
    },

    #[error("failed to make the database {path} readable by its owner only: {source}")]
    DatabasePermissions {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("secret key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "secret key file {path} has mode {mode:o}, readable by other users: run chmod 600 on it"
    )]
    KeyFilePermissions { path: PathBuf, mode: u32 },

    #[error("invalid secret key from {origin}: expected 64 hexadecimal characters (32 bytes)")]
    InvalidKey { origin: String },

    /// `instances` are the names of the instances whose passwords were encrypted with the lost key.
    #[error(
        "secret key file {path} is missing, so the passwords of the instances {} cannot be \
         decrypted: restore the key file, or set QGRAPH_SECRET_KEY to the key. If the key is lost, \
         enter a password again with `qgraph integration edit NAME --password-file FILE \
         --forget-lost-passwords`, which clears those passwords first; each of those instances \
         then needs its password entered again the same way",
        instances.join(", ")
    )]
    KeyFileMissing {
        path: PathBuf,
        instances: Vec<String>,
    },

    /// Clearing the passwords of a lost key was requested, but the key is not lost.
    #[error(
        "the secret key {origin} is present, so no password was cleared: --forget-lost-passwords \
         is only for a lost key file. If this key is not the one the passwords were stored with, \
         restore that one, or move this file away and run the command again"
    )]
    KeyNotLost { origin: String },

    #[error("environment variable {0} with the secret key is not set")]
    KeyEnvMissing(String),

    /// `instance` is the instance name, or its id where the name is not at hand.
    #[error(
        "failed to decrypt the password of instance {instance}: the secret key is not the one it was stored with; restore that key, or re-enter the password with `qgraph integration edit {instance} --password-file FILE`"
    )]
    Decrypt { instance: String },

    #[error("failed to encrypt the password of instance {instance}")]
    Encrypt { instance: String },

    #[error("failed to draw random bytes from the operating system")]
    Random,

    #[error(transparent)]
    Import(#[from] crate::import::ImportError),

    /// A query ran past its time limit and was stopped.
    #[error("the query timed out after {limit:?} and was stopped")]
    QueryTimedOut { limit: std::time::Duration },
}

impl StoreError {
    /// Returns true when SQLite gave up waiting for a lock that another
    /// connection holds, as when another process writes to the database.
    pub fn is_database_locked(&self) -> bool {
        let source = match self {
            StoreError::Sqlite(source)
            | StoreError::Open { source, .. }
            | StoreError::NotWritable { source, .. } => source,
            _ => return false,
        };
        matches!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}
