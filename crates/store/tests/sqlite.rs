//! The conformance suite run against the SQLite backend, plus SQLite-only
//! checks (files, schema versions, key files).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
#![allow(clippy::expect_used, reason = "tests fail loudly on unexpected errors")]
#![allow(clippy::panic, reason = "tests fail loudly on unexpected errors")]

mod conformance;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use qgraph_store::{GraphStore, KeySource, SqliteStore, StoreError};

fn memory() -> SqliteStore {
    SqliteStore::open_in_memory().unwrap()
}

/// A fresh scratch folder under the system temporary folder.
fn scratch(name: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "qgraph-store-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                conformance::$case(&memory());
            }
        )*
    };
}

conformance!(
    create_update_delete,
    newest_rows_left_out_are_deleted,
    unchanged_resync_is_noop,
    failed_step_keeps_its_types,
    all_steps_failed_is_failure,
    finding_lifecycle,
    duplicate_keys_are_merged,
    dangling_relationship_is_counted,
    mapper_placeholders,
    mapper_alternatives_and_skip,
    global_rules,
    host_rule_prefers_host_id_over_shared_fqdn,
    removed_placeholder_findings_are_redecided,
    removed_instance_findings_are_redecided,
    uninstall_removes_only_its_own,
    registry_passwords,
    jobs_state_and_kb_cache,
    hard_values_round_trip,
    reads_honour_limits,
);

#[test]
fn import_joins_through_mapper() {
    let dir = scratch("import");
    conformance::import_joins_through_mapper(&memory(), &dir);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn file_store_passes_conformance_case() {
    let dir = scratch("file");
    let store = SqliteStore::open_with_key(dir.join("graph.db"), KeySource::Ephemeral).unwrap();
    conformance::create_update_delete(&store);
    drop(store);
    let reopened = SqliteStore::open_with_key(dir.join("graph.db"), KeySource::Ephemeral).unwrap();
    assert_eq!(reopened.list_instances().unwrap().len(), 1);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Another application's SQLite database used to be migrated and switched
/// to WAL by any command given its path.
#[test]
fn foreign_database_is_rejected_unchanged() {
    // Other tools keep their migrations in a `schema_migrations` table too.
    let schemas = [
        (
            "notes",
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('keep');",
        ),
        (
            "go-migrate",
            "CREATE TABLE schema_migrations (version uint64, dirty bool); INSERT INTO schema_migrations VALUES (3, 0); CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT);",
        ),
        (
            "rails",
            "CREATE TABLE schema_migrations (version varchar NOT NULL PRIMARY KEY); INSERT INTO schema_migrations VALUES ('20240101000000');",
        ),
        (
            "empty-migrations",
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_on INTEGER NOT NULL);",
        ),
    ];
    for (name, sql) in schemas {
        let dir = scratch(&format!("foreign-{name}"));
        let path = dir.join("other.db");
        let tables_before: Vec<String> = {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(sql).unwrap();
            conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .unwrap()
                .query_map([], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let before = std::fs::read(&path).unwrap();

        let error = SqliteStore::open_with_key(&path, KeySource::Ephemeral).unwrap_err();
        assert!(
            matches!(&error, StoreError::NotQgraphDatabase { path: p } if *p == path),
            "{name}: {error}"
        );
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("not a qgraph database"), "{message}");

        assert_eq!(std::fs::read(&path).unwrap(), before, "{name}");
        let conn = rusqlite::Connection::open(&path).unwrap();
        let journal_mode: String = conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(journal_mode, "delete", "{name}");
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(tables, tables_before, "{name}");
        drop(conn);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// A 0-byte file, such as one `touch` made, is set up as a new database.
#[test]
fn empty_file_is_initialised() {
    let dir = scratch("empty-file");
    let path = dir.join("graph.db");
    std::fs::write(&path, b"").unwrap();

    let store = SqliteStore::open_with_key(&path, KeySource::Ephemeral).unwrap();

    assert!(store.list_instances().unwrap().is_empty());
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn unknown_schema_version_is_rejected_unchanged() {
    let dir = scratch("version");
    let path = dir.join("graph.db");
    drop(SqliteStore::open_with_key(&path, KeySource::Ephemeral).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("INSERT INTO schema_migrations VALUES (99, 0)", [])
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();

    let error = SqliteStore::open_with_key(&path, KeySource::Ephemeral).unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::UnknownSchemaVersion {
                found: 99,
                supported: 4,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("upgrade qgraph"));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    std::fs::remove_dir_all(dir).unwrap();
}

/// With the key file lost, the advice to re-enter a password with `edit`
/// used to fail with the same error. A new key file is now created for the
/// password of the only instance that had one, and rejected while another
/// instance still has a password encrypted with the lost key.
#[test]
fn lost_key_allows_reentering_last_password() {
    use qgraph_store::{InstanceKind, NewInstance, Password};
    let dir = scratch("lost-key");
    let path = dir.join("graph.db");
    let key_path = dir.join("graph.db.key");
    let open = || SqliteStore::open_with_key(&path, KeySource::File(key_path.clone())).unwrap();
    let store = open();
    let mut ids = Vec::new();
    for name in ["acme", "beta"] {
        let instance = store
            .create_instance(NewInstance {
                name: name.to_owned(),
                kind: InstanceKind::Qualys,
                config: serde_json::json!({}),
                password: Some(Password::new("hunter2")),
            })
            .unwrap();
        ids.push(instance.id);
    }
    drop(store);
    std::fs::remove_file(&key_path).unwrap();

    // Both passwords need the lost key, so neither can be replaced yet.
    let store = open();
    match store.set_password(ids[0], Some(&Password::new("new"))) {
        Err(StoreError::KeyFileMissing { instances, .. }) => assert_eq!(instances, ["beta"]),
        other => panic!("expected the lost key to be named, got {other:?}"),
    }
    match store.password(ids[0]) {
        Err(error @ StoreError::KeyFileMissing { .. }) => {
            let message = error.to_string();
            assert!(message.contains("acme, beta"), "{message}");
            assert!(message.contains("restore the key file"), "{message}");
        }
        other => panic!("expected the lost key to be named, got {other:?}"),
    }
    assert!(!key_path.exists(), "no key file was created");

    // Once beta has no password, acme's password can be re-entered.
    store.set_password(ids[1], None).unwrap();
    store
        .set_password(ids[0], Some(&Password::new("new")))
        .unwrap();
    assert!(key_path.exists());
    drop(store);
    let store = open();
    assert_eq!(store.password(ids[0]).unwrap().unwrap().expose(), "new");
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The wrong-key error names the instance and the command that fixes it.
#[test]
fn wrong_key_error_names_instance() {
    use qgraph_store::{InstanceKind, NewInstance, Password};
    let dir = scratch("wrong-key");
    let path = dir.join("graph.db");
    let store = SqliteStore::open_with_key(&path, KeySource::Ephemeral).unwrap();
    let id = store
        .create_instance(NewInstance {
            name: "acme".to_owned(),
            kind: InstanceKind::Qualys,
            config: serde_json::json!({}),
            password: Some(Password::new("hunter2")),
        })
        .unwrap()
        .id;
    drop(store);

    let other = SqliteStore::open_with_key(&path, KeySource::Ephemeral).unwrap();
    let message = other.password(id).unwrap_err().to_string();
    assert!(message.contains("instance acme"), "{message}");
    assert!(
        message.contains("qgraph integration edit acme --password-file FILE"),
        "{message}"
    );

    // Re-entering the password works under the current key.
    other.set_password(id, Some(&Password::new("new"))).unwrap();
    assert_eq!(other.password(id).unwrap().unwrap().expose(), "new");
    drop(other);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn key_file_is_private_and_reused() {
    use qgraph_store::{InstanceKind, NewInstance, Password};
    let dir = scratch("key");
    let path = dir.join("graph.db");
    let store = SqliteStore::open(&path).unwrap();
    let id = store
        .create_instance(NewInstance {
            name: "acme".to_owned(),
            kind: InstanceKind::Qualys,
            config: serde_json::json!({}),
            password: Some(Password::new("hunter2")),
        })
        .unwrap()
        .id;
    drop(store);

    let key_path = dir.join("graph.db.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The database file contains no plain-text password.
    let bytes = std::fs::read(&path).unwrap();
    assert!(!bytes.windows(7).any(|w| w == b"hunter2"));

    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(reopened.password(id).unwrap().unwrap().expose(), "hunter2");
    drop(reopened);

    // Another key cannot decrypt it.
    let other = SqliteStore::open_with_key(&path, KeySource::Ephemeral).unwrap();
    assert!(matches!(
        other.password(id),
        Err(StoreError::Decrypt { .. })
    ));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = SqliteStore::open(&path).unwrap();
        assert!(matches!(
            store.password(id),
            Err(StoreError::KeyFilePermissions { .. })
        ));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

fn index_names(conn: &rusqlite::Connection) -> Vec<String> {
    conn.prepare("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn row_count(conn: &rusqlite::Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
        row.get(0)
    })
    .unwrap()
}

/// A file at schema version 2, as the previous release left it, is
/// upgraded on open: the two unused indexes go, jobs get their process
/// column, the data stays.
#[test]
fn version_2_file_is_upgraded_keeping_its_data() {
    let dir = scratch("upgrade");
    let path = dir.join("graph.db");
    {
        let store = SqliteStore::open_with_key(&path, KeySource::Ephemeral).unwrap();
        conformance::create_update_delete(&store);
    }
    let (entities, relationships) = {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE INDEX entities_open ON entities (json_extract(properties, '$.open')) \
                 WHERE json_extract(properties, '$.open') IS NOT NULL; \
             CREATE INDEX relationships_type ON relationships (relationship_type); \
             ALTER TABLE jobs DROP COLUMN process; \
             DELETE FROM schema_migrations WHERE version >= 3;",
        )
        .unwrap();
        (
            row_count(&conn, "entities"),
            row_count(&conn, "relationships"),
        )
    };
    assert!(entities > 0);
    assert!(relationships > 0);

    drop(SqliteStore::open_with_key(&path, KeySource::Ephemeral).unwrap());

    let conn = rusqlite::Connection::open(&path).unwrap();
    let names = index_names(&conn);
    assert!(!names.iter().any(|n| n == "entities_open"), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "relationships_type"),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n == "entities_type_open_numeric_severity")
    );
    let version: i64 = conn
        .query_row("SELECT max(version) FROM schema_migrations", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(version, 4);
    let process_column: i64 = conn
        .query_row(
            "SELECT count(*) FROM pragma_table_info('jobs') WHERE name = 'process'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(process_column, 1);
    assert_eq!(row_count(&conn, "entities"), entities);
    assert_eq!(row_count(&conn, "relationships"), relationships);
    drop(conn);
    std::fs::remove_dir_all(dir).unwrap();
}

/// New files get 16 KiB pages; a file made with 4 KiB pages keeps them and
/// still opens and syncs.
#[test]
fn page_size_new_and_old_files() {
    let dir = scratch("pages");
    let page_size = |path: &std::path::Path| -> i64 {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row("PRAGMA page_size", [], |row| row.get(0))
            .unwrap()
    };

    let new_file = dir.join("new.db");
    drop(SqliteStore::open_with_key(&new_file, KeySource::Ephemeral).unwrap());
    assert_eq!(page_size(&new_file), 16_384);

    let old_file = dir.join("old.db");
    {
        let conn = rusqlite::Connection::open(&old_file).unwrap();
        conn.execute_batch(
            "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x); DROP TABLE t;",
        )
        .unwrap();
    }
    let store = SqliteStore::open_with_key(&old_file, KeySource::Ephemeral).unwrap();
    conformance::create_update_delete(&store);
    drop(store);
    assert_eq!(page_size(&old_file), 4096);
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(unix)]
#[test]
fn new_database_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("qgraph-store-mode-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("graph.db");

    drop(SqliteStore::open(&path).unwrap());

    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_key_file_is_not_replaced() {
    let dir = std::env::temp_dir().join(format!("qgraph-store-nokey-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("graph.db");
    let key_path = dir.join("key");
    let source = qgraph_store::KeySource::File(key_path.clone());
    let id = {
        let store = SqliteStore::open_with_key(&path, source.clone()).unwrap();
        let instance = store
            .create_instance(qgraph_store::NewInstance {
                name: "keyed".to_owned(),
                kind: qgraph_store::InstanceKind::Qualys,
                config: serde_json::json!({}),
                password: Some(qgraph_store::Password::new("s3cret-value")),
            })
            .unwrap();
        instance.id
    };
    std::fs::remove_file(&key_path).unwrap();

    let store = SqliteStore::open_with_key(&path, source).unwrap();
    let error = store.password(id).unwrap_err();

    assert!(error.to_string().contains("is missing"), "{error}");
    assert!(!key_path.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
