//! The SQLite backend: one database file in WAL mode, versioned migrations.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use rusqlite::{Connection, OptionalExtension};

use crate::error::StoreError;
use crate::secret::{KeySource, SecretKey};
use crate::types::InstanceId;

mod diff;
mod jobs;
mod mapper;
mod merge;
mod plan;
pub(crate) mod read;
mod registry;
mod store_impl;
mod sync;

pub use sync::SqliteSyncRun;

/// Migrations in version order; each runs once, in its own transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_query_indexes.sql")),
    (3, include_str!("migrations/0003_drop_unused_indexes.sql")),
    (4, include_str!("migrations/0004_job_process.sql")),
];

/// The highest schema version this build can open.
pub const SCHEMA_VERSION: i64 = 4;

/// A graph store in one SQLite database.
///
/// All work goes through one connection behind a mutex; a sync run takes the
/// lock per batch, so readers and other instances interleave with it.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
    key_source: KeySource,
    key: OnceLock<SecretKey>,
    running: Mutex<HashSet<InstanceId>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database at `path`, with
    /// passwords encrypted under [`KeySource::default_for`] that path.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        Self::open_with_key(path, KeySource::default_for(path))
    }

    /// Opens the database at `path` with passwords encrypted under `key_source`.
    ///
    /// A database written by a newer build (an unknown schema version) is
    /// rejected before anything in it changes.
    pub fn open_with_key(
        path: impl AsRef<Path>,
        key_source: KeySource,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        let is_new = !path.exists();
        let conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        let store = Self::setup(conn, path, key_source)?;
        if is_new {
            // The graph lists every host and its open vulnerabilities, so only
            // the owner may read it. SQLite gives its -wal and -shm files the
            // same mode.
            restrict_to_owner(&store.path)?;
        }
        Ok(store)
    }

    /// Opens a private in-memory database with a random password key.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Self::setup(conn, path, KeySource::Ephemeral)
    }

    fn setup(
        mut conn: Connection,
        path: PathBuf,
        key_source: KeySource,
    ) -> Result<Self, StoreError> {
        // Migrating another application's database would add tables to it
        // and switch it to WAL, so only an empty file or a qgraph one opens.
        // Other tools name their migration table `schema_migrations` too, so
        // the name alone does not make a database a qgraph one.
        let has_objects = has_schema_objects(&conn).map_err(|error| not_writable(error, &path))?;
        if has_objects && !has_qgraph_tables(&conn).map_err(|error| not_writable(error, &path))? {
            return Err(StoreError::NotQgraphDatabase { path });
        }
        let found = schema_version(&conn).map_err(|error| not_writable(error, &path))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::UnknownSchemaVersion {
                path,
                found,
                supported: SCHEMA_VERSION,
            });
        }

        configure(&conn).map_err(|error| not_writable(error, &path))?;
        migrate(&mut conn, found).map_err(|error| not_writable(error, &path))?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path,
            key_source,
            key: OnceLock::new(),
            running: Mutex::new(HashSet::new()),
        })
    }

    /// Returns the database path (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Locks the connection. A panic in another thread while it held the lock
    /// leaves no half-done transaction behind (rusqlite rolls back on drop),
    /// so a poisoned lock is still safe to use.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` with the locked connection, for reads the query engine plans itself.
    pub fn with_connection<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        f(&self.conn())
    }

    /// Returns the key that decrypts stored passwords. A missing key file
    /// is an error while any instance has a password, because a new key
    /// would not decrypt them.
    pub(crate) fn secret_key(&self) -> Result<&SecretKey, StoreError> {
        self.secret_key_unless_others(None)
    }

    /// Returns the key that encrypts a new password of `writer` (`None`
    /// for a new instance). A missing key file is created only when no
    /// other instance has a password, because those were encrypted with
    /// the lost key, and once it is restored the passwords stored under a
    /// new key would fail instead.
    pub(crate) fn secret_key_for_new_password(
        &self,
        writer: Option<InstanceId>,
    ) -> Result<&SecretKey, StoreError> {
        self.secret_key_unless_others(Some(writer))
    }

    /// Loads the key. With the key file missing, fails when an instance other
    /// than `writer` has a password (every instance when `writer` is `None`).
    fn secret_key_unless_others(
        &self,
        writer: Option<Option<InstanceId>>,
    ) -> Result<&SecretKey, StoreError> {
        if let Some(key) = self.key.get() {
            return Ok(key);
        }
        if let KeySource::File(key_path) = &self.key_source
            && !key_path.exists()
        {
            let except = writer.flatten();
            let instances = self.instances_with_passwords(except)?;
            if !instances.is_empty() {
                return Err(StoreError::KeyFileMissing {
                    path: key_path.clone(),
                    instances,
                });
            }
        }
        let key = self.key_source.load()?;
        Ok(self.key.get_or_init(|| key))
    }

    /// Clears every stored password after the key file that encrypted them
    /// was lost, so that a new key file can be created for new passwords.
    /// Returns the names of the instances whose password was cleared. Fails
    /// with [`StoreError::KeyNotLost`] unless the key comes from a file that
    /// is missing, because the passwords are readable otherwise.
    pub fn forget_passwords_of_lost_key(&self) -> Result<Vec<String>, StoreError> {
        let lost = matches!(&self.key_source, KeySource::File(path) if !path.exists());
        if !lost || self.key.get().is_some() {
            let origin = match &self.key_source {
                KeySource::File(path) => format!("file {}", path.display()),
                KeySource::Env(name) => format!("from the environment variable {name}"),
                KeySource::Ephemeral => "of this in-memory store".to_owned(),
            };
            return Err(StoreError::KeyNotLost { origin });
        }
        let names = self.instances_with_passwords(None)?;
        self.conn().execute(
            "UPDATE instances SET password_nonce = NULL, password_ciphertext = NULL \
             WHERE password_ciphertext IS NOT NULL",
            [],
        )?;
        Ok(names)
    }

    /// Returns the names of the instances other than `except` that have a password.
    fn instances_with_passwords(
        &self,
        except: Option<InstanceId>,
    ) -> Result<Vec<String>, StoreError> {
        let except = except.map_or(-1, |id| id.0);
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT name FROM instances WHERE password_ciphertext IS NOT NULL AND id != ?1 ORDER BY name",
        )?;
        let names = stmt
            .query_map([except], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(names)
    }

    pub(crate) fn running(&self) -> MutexGuard<'_, HashSet<InstanceId>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Names the database path in an error that comes from a read-only file or
/// directory (WAL mode must create the `-wal` and `-shm` files beside the
/// database, even to read it). Other errors pass unchanged.
fn not_writable(error: StoreError, path: &Path) -> StoreError {
    let StoreError::Sqlite(source) = error else {
        return error;
    };
    let read_only = matches!(
        source.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
    );
    if read_only {
        StoreError::NotWritable {
            path: path.to_owned(),
            source,
        }
    } else {
        StoreError::Sqlite(source)
    }
}

/// Returns the highest applied migration, or 0 for an empty database.
fn schema_version(conn: &Connection) -> Result<i64, StoreError> {
    let has_table: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if has_table.is_none() {
        return Ok(0);
    }
    let version: Option<i64> =
        conn.query_row("SELECT max(version) FROM schema_migrations", [], |row| {
            row.get(0)
        })?;
    Ok(version.unwrap_or(0))
}

/// Returns true when the database has the tables of the first qgraph
/// migration, with the columns of its `schema_migrations` table.
fn has_qgraph_tables(conn: &Connection) -> Result<bool, StoreError> {
    let tables: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
         AND name IN ('schema_migrations', 'instances', 'entities', 'relationships', 'jobs')",
        [],
        |row| row.get(0),
    )?;
    if tables < 5 {
        return Ok(false);
    }
    let mut columns =
        conn.prepare("SELECT name, type FROM pragma_table_info('schema_migrations')")?;
    let columns = columns
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let expected = [
        ("version".to_owned(), "INTEGER".to_owned()),
        ("applied_on".to_owned(), "INTEGER".to_owned()),
    ];
    Ok(columns == expected)
}

/// Returns true when the database has any table, index, view or trigger.
fn has_schema_objects(conn: &Connection) -> Result<bool, StoreError> {
    let found: Option<i64> = conn
        .query_row("SELECT 1 FROM sqlite_master LIMIT 1", [], |row| row.get(0))
        .optional()?;
    Ok(found.is_some())
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    // WAL lets readers see the last committed graph while a run commits.
    // synchronous=NORMAL keeps WAL consistent after a process kill and
    // can lose only the last commits on power loss.
    //
    // 16 KiB pages are set before a new file gets its first table (existing
    // files keep theirs). A first sync writes its whole graph in one
    // transaction, and SQLite searches the WAL index on each page read. With
    // 4 KiB pages that index grew enough to slow the commit per row: a first
    // sync of a million findings in `examples/sync_profile.rs` took 44.8 s
    // with 4 KiB pages and 36.8 s with 16 KiB.
    conn.pragma_update(None, "page_size", 16_384)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // 128 MiB of page cache (negative values are KiB). With 16 KiB pages the
    // same first sync took 32.4 s with 128 MiB against 36.8 s with 256 MiB,
    // and its peak RSS fell from 360 MB to 222 MB.
    conn.pragma_update(None, "cache_size", -131_072)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    Ok(())
}

fn migrate(conn: &mut Connection, found: i64) -> Result<(), StoreError> {
    for (version, sql) in MIGRATIONS {
        if *version <= found {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_on) VALUES (?1, ?2)",
            rusqlite::params![version, now_ms()],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// Returns the wall clock in epoch milliseconds (0 if the clock is before 1970).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(unix)]
fn restrict_to_owner(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        StoreError::DatabasePermissions {
            path: path.to_owned(),
            source,
        }
    })
}

#[cfg(not(unix))]
fn restrict_to_owner(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rusqlite::ffi;

    use super::not_writable;
    use crate::error::StoreError;

    fn sqlite_error(code: i32) -> StoreError {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(ffi::Error::new(code), None))
    }

    #[test]
    fn read_only_errors_name_the_path() {
        let path = Path::new("/data/graph.db");
        for code in [
            ffi::SQLITE_READONLY,
            ffi::SQLITE_READONLY_DIRECTORY,
            ffi::SQLITE_CANTOPEN,
        ] {
            let error = not_writable(sqlite_error(code), path);
            assert!(
                matches!(&error, StoreError::NotWritable { path: p, .. } if p == path),
                "code {code}: {error:?}"
            );
            let message = error.to_string();
            assert!(message.contains("/data/graph.db"), "{message}");
            assert!(message.contains("writable directory"), "{message}");
        }
    }

    #[test]
    fn other_errors_pass_unchanged() {
        let path = Path::new("/data/graph.db");
        let corrupt = not_writable(sqlite_error(ffi::SQLITE_CORRUPT), path);
        assert!(matches!(corrupt, StoreError::Sqlite(_)), "{corrupt:?}");
        let unknown = not_writable(
            StoreError::UnknownSchemaVersion {
                path: path.to_owned(),
                found: 9,
                supported: 4,
            },
            path,
        );
        assert!(
            matches!(unknown, StoreError::UnknownSchemaVersion { found: 9, .. }),
            "{unknown:?}"
        );
    }
}
