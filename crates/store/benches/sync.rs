//! Sync engine benchmarks: ingest rate of a first sync into SQLite, and an
//! unchanged re-sync of the same graph (which must write no row).
//!
//! `QGRAPH_BENCH_ENTITIES` sets the graph size (default 100 000 findings;
//! the recorded run in BENCHMARKS.md uses 1 000 000). Databases are files in
//! the system temporary folder, in WAL mode, as in production.

#![allow(clippy::unwrap_used, reason = "benchmarks fail loudly")]
#![allow(clippy::expect_used, reason = "benchmarks fail loudly")]

use std::path::PathBuf;
use std::time::{Duration, Instant};

mod common;

use common::finding;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qgraph_model::{DeclaredType, GraphObject, GraphSink, StepDeclaration, StepResult, StepStatus};
use qgraph_store::{
    GraphStore, InstanceId, InstanceKind, KeySource, NewInstance, SqliteStore, SyncOptions,
    SyncReport, SyncRun,
};

const BATCH: usize = 5_000;

fn entity_count() -> u64 {
    std::env::var("QGRAPH_BENCH_ENTITIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn steps() -> Vec<StepDeclaration> {
    vec![StepDeclaration {
        id: "findings".to_owned(),
        name: "findings".to_owned(),
        entity_types: vec![DeclaredType {
            object_type: "qualys_host_finding".to_owned(),
            partial: true,
        }],
        relationship_types: Vec::new(),
        depends_on: Vec::new(),
    }]
}

fn results() -> Vec<StepResult> {
    vec![StepResult {
        id: "findings".to_owned(),
        status: StepStatus::Success,
        started_on: 0,
        ended_on: 0,
        counts: Default::default(),
        errors: Vec::new(),
    }]
}

fn sync_all(store: &SqliteStore, instance: InstanceId, count: u64, now_ms: i64) -> SyncReport {
    let mut run = store.begin_sync(instance, SyncOptions::at(now_ms)).unwrap();
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..count {
        batch.push(GraphObject::Entity(finding(i)));
        if batch.len() == BATCH {
            run.write("findings", std::mem::take(&mut batch)).unwrap();
        }
    }
    if !batch.is_empty() {
        run.write("findings", batch).unwrap();
    }
    run.commit(&steps(), &results()).unwrap()
}

struct Fixture {
    dir: PathBuf,
    store: SqliteStore,
    instance: InstanceId,
}

fn fixture(name: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("qgraph-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open_with_key(dir.join("graph.db"), KeySource::Ephemeral).unwrap();
    let instance = store
        .create_instance(NewInstance {
            name: "bench".to_owned(),
            kind: InstanceKind::Qualys,
            config: serde_json::json!({}),
            password: None,
        })
        .unwrap()
        .id;
    Fixture {
        dir,
        store,
        instance,
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Returns the database file size in bytes after a checkpoint has moved
/// the WAL into it, so nothing is counted twice.
fn database_bytes(fixture: &Fixture) -> u64 {
    fixture
        .store
        .with_connection(|conn| conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)"))
        .unwrap();
    std::fs::metadata(fixture.dir.join("graph.db"))
        .unwrap()
        .len()
}

fn bench_sync(c: &mut Criterion) {
    let count = entity_count();
    let mut group = c.benchmark_group("sqlite_sync");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(1));
    group.warm_up_time(Duration::from_millis(1));
    group.throughput(Throughput::Elements(count));

    group.bench_function(format!("first_sync_{count}"), |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let fixture = fixture("first");
                let start = Instant::now();
                let report = sync_all(&fixture.store, fixture.instance, count, 1);
                total += start.elapsed();
                assert_eq!(report.entities_created, count);
                let bytes = database_bytes(&fixture);
                eprintln!(
                    "database: {bytes} bytes, {:.0} bytes per finding",
                    bytes as f64 / count as f64
                );
            }
            total
        });
    });

    let fixture = fixture("resync");
    sync_all(&fixture.store, fixture.instance, count, 1);
    group.bench_function(format!("unchanged_resync_{count}"), |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for i in 0..iterations {
                let start = Instant::now();
                let report = sync_all(&fixture.store, fixture.instance, count, 2 + i as i64);
                total += start.elapsed();
                assert_eq!(
                    report.entities_created + report.entities_updated + report.entities_deleted,
                    0
                );
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, bench_sync);
criterion_main!(benches);
