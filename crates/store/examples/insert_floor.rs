//! Measures how fast this machine's SQLite can store the benchmark's findings
//! at all, without qgraph's staging and diff, to show what bounds the ingest
//! rate of a sync.
//!
//! `cargo run --release -p qgraph-store --example insert_floor -- 1000000`
//!
//! The findings of the sync benchmark (`benches/common`) are serialized once.
//! Each layout below then gets a new file database with the store's settings
//! (WAL, `synchronous=NORMAL`, 16 KiB pages, 128 MiB page cache), and the
//! findings go in by one prepared statement in one transaction:
//!
//! 1. a table of the entity columns with no index at all;
//! 2. the same with the unique `(entity_key, instance_id)` index;
//! 3. the same with the `(entity_type, instance_id)` index too;
//! 4. the store's own schema (every index the queries and mapping rules use),
//!    with the `entity_classes` rows;
//! 5. then 2.5 `IS` relationships per finding into the same database, in key
//!    order, with the store's relationship indexes.
//!
//! Each line gives the time to the end of the commit and, apart, the WAL
//! checkpoint that copies the written pages into the database file (run at
//! commit by SQLite's automatic checkpoint in the store).

#![allow(clippy::unwrap_used, reason = "a measuring tool fails loudly")]

#[path = "../benches/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use qgraph_store::{KeySource, SqliteStore};
use rusqlite::{Connection, params};

/// One finding as the store keeps it: key, type, classes and properties JSON.
struct Row {
    key: String,
    entity_type: String,
    classes: String,
    display_name: Option<String>,
    properties: String,
}

const COLUMNS: &str = "id INTEGER PRIMARY KEY, instance_id INTEGER NOT NULL, \
    entity_key TEXT NOT NULL, entity_type TEXT NOT NULL, classes TEXT NOT NULL, \
    display_name TEXT, properties TEXT NOT NULL, raw_data TEXT, source TEXT NOT NULL, \
    step_id TEXT, created_on INTEGER NOT NULL, updated_on INTEGER NOT NULL, \
    version INTEGER NOT NULL DEFAULT 1";

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("qgraph-insert-floor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let start = Instant::now();
    let mut rows: Vec<Row> = (0..count)
        .map(|i| {
            let entity = common::finding(i);
            Row {
                properties: serde_json::to_string(&entity.properties).unwrap(),
                classes: serde_json::to_string(&entity.classes).unwrap(),
                key: entity.key,
                entity_type: entity.entity_type,
                display_name: entity.display_name,
            }
        })
        .collect();
    // The store inserts new entities in key order.
    rows.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    let bytes: usize = rows.iter().map(|r| r.properties.len()).sum();
    println!(
        "{count} findings, {:.0} bytes of properties JSON each; generated and serialized in {:.2} s",
        bytes as f64 / count as f64,
        start.elapsed().as_secs_f64()
    );

    let layouts: [(&str, String); 3] = [
        ("no index", format!("CREATE TABLE entities ({COLUMNS});")),
        (
            "key index",
            format!("CREATE TABLE entities ({COLUMNS}, UNIQUE (entity_key, instance_id));"),
        ),
        (
            "key and type indexes",
            format!(
                "CREATE TABLE entities ({COLUMNS}, UNIQUE (entity_key, instance_id)); \
                 CREATE INDEX entities_type ON entities (entity_type, instance_id);"
            ),
        ),
    ];
    for (name, schema) in &layouts {
        let path = dir.join(format!("{}.db", name.replace(' ', "-")));
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA cache_size = -131072; PRAGMA wal_autocheckpoint = 0;",
        )
        .unwrap();
        conn.execute_batch(schema).unwrap();
        let (insert, checkpoint) = measure(&conn, &rows, false);
        report(name, count, insert, checkpoint, &path);
    }

    let path = dir.join("store-schema.db");
    let store = SqliteStore::open_with_key(&path, KeySource::Ephemeral).unwrap();
    store
        .with_connection(|conn| {
            conn.execute_batch(
                "PRAGMA wal_autocheckpoint = 0; \
                 INSERT INTO instances (id, name, kind, config, created_on, updated_on) \
                 VALUES (1, 'floor', 'qualys', '{}', 0, 0);",
            )?;
            let (insert, checkpoint) = measure(conn, &rows, true);
            report("store schema", count, insert, checkpoint, &path);
            let (links, insert, checkpoint) = measure_relationships(conn, &rows);
            report_relationships(links, insert, checkpoint);
            Ok::<(), rusqlite::Error>(())
        })
        .unwrap();
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Inserts every row in one transaction, then checkpoints the WAL; returns
/// both durations. With `classes`, also writes the `entity_classes` rows as
/// the store does.
fn measure(conn: &Connection, rows: &[Row], classes: bool) -> (Duration, Duration) {
    let start = Instant::now();
    let tx = conn.unchecked_transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO entities (instance_id, entity_key, entity_type, classes, \
                 display_name, properties, raw_data, source, step_id, created_on, updated_on, \
                 version) VALUES (1, ?1, ?2, ?3, ?4, ?5, NULL, 'integration-managed', \
                 'fetch-scanned-host-detections', 1, 1, 1)",
            )
            .unwrap();
        let mut class = classes.then(|| {
            tx.prepare("INSERT INTO entity_classes (entity_id, class) VALUES (?1, 'Finding')")
                .unwrap()
        });
        for row in rows {
            insert
                .execute(params![
                    row.key,
                    row.entity_type,
                    row.classes,
                    row.display_name,
                    row.properties
                ])
                .unwrap();
            if let Some(class) = class.as_mut() {
                class.execute(params![tx.last_insert_rowid()]).unwrap();
            }
        }
    }
    tx.commit().unwrap();
    let inserted = start.elapsed();
    let start = Instant::now();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    (inserted, start.elapsed())
}

/// Vulnerabilities and CVEs the findings relate to.
const TARGETS: u64 = 10_000;

/// Inserts the `IS` relationships of a sync, in key order as the store does:
/// each finding IS one vulnerability, and every other finding IS three CVEs
/// (2.5 per finding, as in the end-to-end benchmark). The targets are
/// stored first. Returns the number of relationships and both durations.
fn measure_relationships(conn: &Connection, rows: &[Row]) -> (u64, Duration, Duration) {
    let first_target: i64 = conn
        .query_row("SELECT max(id) + 1 FROM entities", [], |row| row.get(0))
        .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for t in 0..TARGETS {
        tx.execute(
            "INSERT INTO entities (instance_id, entity_key, entity_type, classes, properties, \
             source, created_on, updated_on) VALUES (1, ?1, 'cve', '[\"Vulnerability\"]', '{}', \
             'integration-managed', 1, 1)",
            params![format!("target-{t:05}")],
        )
        .unwrap();
    }
    tx.commit().unwrap();

    let mut links: Vec<(String, i64, i64)> = Vec::with_capacity(rows.len() * 5 / 2);
    for (i, row) in (0_i64..).zip(rows) {
        let from = i + 1;
        let hash = u64::try_from(i)
            .unwrap_or(0)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let targets = if i % 2 == 0 { 4 } else { 1 };
        for n in 0..targets {
            let target = (hash >> (n * 14)) % TARGETS;
            links.push((
                format!("{}|is|target-{target:05}", row.key),
                from,
                first_target + i64::try_from(target).unwrap_or(0),
            ));
        }
    }
    links.sort_unstable();
    links.dedup_by(|a, b| a.0 == b.0);

    let start = Instant::now();
    let tx = conn.unchecked_transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO relationships (instance_id, relationship_key, relationship_type, \
                 class, from_id, to_id, display_name, properties, source, step_id, created_on, \
                 updated_on, version) VALUES (1, ?1, 'qualys_host_finding_is_cve', 'IS', ?2, ?3, \
                 'IS', '{}', 'integration-managed', 'fetch-finding-vulns', 1, 1, 1)",
            )
            .unwrap();
        for (key, from, to) in &links {
            insert.execute(params![key, from, to]).unwrap();
        }
    }
    tx.commit().unwrap();
    let inserted = start.elapsed();
    let start = Instant::now();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let count = u64::try_from(links.len()).unwrap_or(0);
    (count, inserted, start.elapsed())
}

fn report_relationships(count: u64, insert: Duration, checkpoint: Duration) {
    let total = insert + checkpoint;
    println!(
        "{:>22}: {count} relationships, insert {:.2} s ({:.0}/s), checkpoint {:.2} s, both {:.2} s",
        "store relationships",
        insert.as_secs_f64(),
        count as f64 / insert.as_secs_f64(),
        checkpoint.as_secs_f64(),
        total.as_secs_f64()
    );
}

fn report(name: &str, count: u64, insert: Duration, checkpoint: Duration, path: &Path) {
    let total = insert + checkpoint;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "{name:>22}: insert {:.2} s ({:.0}/s), checkpoint {:.2} s, both {:.2} s ({:.0}/s); \
         {:.0} bytes per finding",
        insert.as_secs_f64(),
        count as f64 / insert.as_secs_f64(),
        checkpoint.as_secs_f64(),
        total.as_secs_f64(),
        count as f64 / total.as_secs_f64(),
        bytes as f64 / count as f64
    );
}
