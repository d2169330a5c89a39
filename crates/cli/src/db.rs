//! The graph database location: `--db`, `QGRAPH_DB`, or a per-user default.

use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Args;
use qgraph_store::{SqliteStore, StoreError};

/// File name of the default database.
pub const DEFAULT_DB_FILE: &str = "qgraph.db";
/// File name of the demo's default database, kept apart from real data.
pub const DEMO_DB_FILE: &str = "qgraph-demo.db";

/// The `--db` option shared by the commands that open the graph database.
#[derive(Debug, Clone, Default, Args)]
pub struct DbArgs {
    /// Graph database file [default: $XDG_DATA_HOME/qgraph/qgraph.db, else ~/.local/share/qgraph/qgraph.db].
    #[arg(long, env = "QGRAPH_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
}

/// A database location that could not be found or prepared.
#[derive(Debug, thiserror::Error)]
pub enum DbPathError {
    /// `reads_env` is false for `demo`, whose `--db` has no `QGRAPH_DB` variable.
    #[error(
        "cannot find a per-user data directory: neither XDG_DATA_HOME nor HOME is set; pass --db PATH{}",
        if *reads_env { " or set QGRAPH_DB" } else { "" }
    )]
    NoDataDir { reads_env: bool },

    #[error(
        "failed to create the data directory {path}: {source}; pass --db PATH to use another location"
    )]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "graph database {path} not found: pass --db PATH or set QGRAPH_DB to an existing database, or create one with `qgraph integration add NAME`"
    )]
    NotFound { path: PathBuf },

    #[error(
        "the graph database path {path} is a directory: pass --db with a file path, such as {path}/qgraph.db"
    )]
    IsDirectory { path: PathBuf },
}

impl DbArgs {
    /// Returns the database path: the option when given, else `file_name` in
    /// the per-user data directory, which is created with mode 0700.
    pub fn resolve(&self, file_name: &str) -> Result<PathBuf, DbPathError> {
        match &self.db {
            Some(path) => Ok(path.clone()),
            None => {
                let dir = user_data_dir(|name| std::env::var_os(name))?;
                create_private_dir(&dir)?;
                Ok(dir.join(file_name))
            }
        }
    }

    /// Returns the path of a database that must already exist. The commands
    /// that only read or change a database use it, because opening a missing
    /// file would create an empty database and hide a mistyped path. Creates
    /// no directory.
    pub fn resolve_existing(&self, file_name: &str) -> Result<PathBuf, DbPathError> {
        let path = match &self.db {
            Some(path) => path.clone(),
            None => user_data_dir(|name| std::env::var_os(name))?.join(file_name),
        };
        if path.is_dir() {
            return Err(DbPathError::IsDirectory { path });
        }
        if !path.exists() {
            return Err(DbPathError::NotFound { path });
        }
        Ok(path)
    }

    /// Returns the path of a database that may be created, as
    /// [`DbArgs::resolve`] does, but rejects a directory, which SQLite reports
    /// only as "unable to open database file".
    pub fn resolve_for_create(&self, file_name: &str) -> Result<PathBuf, DbPathError> {
        let path = self.resolve(file_name)?;
        if path.is_dir() {
            return Err(DbPathError::IsDirectory { path });
        }
        Ok(path)
    }
}

/// Returns `$XDG_DATA_HOME/qgraph`, else `$HOME/.local/share/qgraph`.
/// `lookup` reads an environment variable; a relative `XDG_DATA_HOME` is
/// ignored, as the XDG base directory specification requires.
pub fn user_data_dir(
    lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<PathBuf, DbPathError> {
    let xdg = lookup("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute());
    if let Some(base) = xdg {
        return Ok(base.join("qgraph"));
    }
    let home = lookup("HOME")
        .map(PathBuf::from)
        .filter(|path| !path.as_os_str().is_empty())
        .ok_or(DbPathError::NoDataDir { reads_env: true })?;
    Ok(home.join(".local").join("share").join("qgraph"))
}

/// Creates `dir` and its parents; a directory this call creates gets mode 0700
/// because it contains the database and the key file that decrypts passwords.
pub fn create_private_dir(dir: &Path) -> Result<(), DbPathError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|source| DbPathError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })
}

/// Opens the database at `path`. The errors name the path once and add the
/// advice that fits them.
pub fn open_path(path: &Path) -> anyhow::Result<SqliteStore> {
    open_path_advising(path, "pass --db PATH or set QGRAPH_DB to")
}

/// Like [`open_path`], with `choose` as the advice on choosing another
/// database, such as "pass --db PATH with" for a command that does not read
/// QGRAPH_DB.
pub fn open_path_advising(path: &Path, choose: &str) -> anyhow::Result<SqliteStore> {
    // SQLite reports a missing folder only as "unable to open database file".
    let parent = path.parent().filter(|dir| !dir.as_os_str().is_empty());
    if let Some(dir) = parent
        && !dir.is_dir()
    {
        bail!(
            "failed to open the graph database {}: the folder {} does not exist; create it, or pass --db PATH with a path in an existing folder",
            path.display(),
            dir.display()
        );
    }
    SqliteStore::open(path).map_err(|error| match error {
        // These errors name the path and the fix already.
        StoreError::NotQgraphDatabase { .. }
        | StoreError::UnknownSchemaVersion { .. }
        | StoreError::NotWritable { .. }
        | StoreError::DatabasePermissions { .. } => error.into(),
        StoreError::Open { source, .. } => anyhow::anyhow!(
            "failed to open the graph database {}: {}; {choose} a writable qgraph database file",
            path.display(),
            without_path(&source.to_string(), path)
        ),
        other => match lock_advice(&other, path) {
            Some(message) => anyhow::anyhow!(message),
            None => anyhow::anyhow!(
                "failed to open the graph database {}: {other}; {choose} a qgraph database file",
                path.display()
            ),
        },
    })
}

/// Returns the SQLite message without the ": PATH" that SQLite appends when
/// it cannot open a file, because the caller names the path already.
fn without_path(message: &str, path: &Path) -> String {
    let suffix = format!(": {}", path.display());
    message.strip_suffix(&suffix).unwrap_or(message).to_owned()
}

/// Returns the message for an error whose cause is a database locked by
/// another connection, which SQLite returns after the store's busy timeout.
pub fn lock_advice(error: &(dyn std::error::Error + 'static), path: &Path) -> Option<String> {
    let mut cause = Some(error);
    while let Some(current) = cause {
        let locked = current
            .downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_database_locked);
        if locked {
            return Some(format!(
                "the graph database {} is locked because another process is writing to it: try again when that process finishes",
                path.display()
            ));
        }
        cause = current.source();
    }
    None
}

/// Replaces an error caused by a locked database with one that names the
/// database and asks to try again later. Other errors pass unchanged.
pub fn with_lock_advice(error: anyhow::Error, path: &Path) -> anyhow::Error {
    match lock_advice(error.as_ref(), path) {
        Some(message) => anyhow::anyhow!(message),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, OsString)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn xdg_data_home_wins_over_home() {
        let dir = user_data_dir(env(&[("XDG_DATA_HOME", "/data"), ("HOME", "/home/u")]));
        assert_eq!(dir.ok(), Some(PathBuf::from("/data/qgraph")));
    }

    #[test]
    fn relative_xdg_data_home_is_ignored() {
        let dir = user_data_dir(env(&[("XDG_DATA_HOME", "data"), ("HOME", "/home/u")]));
        assert_eq!(dir.ok(), Some(PathBuf::from("/home/u/.local/share/qgraph")));
    }

    #[test]
    fn no_home_is_an_error() {
        let dir = user_data_dir(env(&[]));
        assert!(matches!(dir, Err(DbPathError::NoDataDir { .. })));
    }
}
