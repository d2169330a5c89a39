//! Crash safety: a sync killed with SIGKILL at any point leaves the last
//! committed graph intact and readable, and the next run starts clean.
//!
//! The test binary runs itself as the child (the `crash_child` test, which
//! does nothing unless `QGRAPH_CRASH_DB` is set). The child prints a marker
//! line at each point and, where the parent requests it, blocks on stdin so the parent
//! kills it exactly there.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
#![allow(clippy::expect_used, reason = "tests fail loudly on unexpected errors")]
#![allow(clippy::panic, reason = "tests fail loudly on unexpected errors")]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use qgraph_model::{
    DeclaredType, Entity, GraphObject, GraphSink, Relationship, RelationshipClass, StepDeclaration,
    StepResult, StepStatus,
};
use qgraph_store::{
    GraphStore, InstanceKind, JobStatus, KeySource, NewInstance, SqliteStore, SyncOptions, SyncRun,
};

const MARKER: &str = "qgraph-crash:";
const BATCHES: u32 = 10;
const BATCH: u32 = 1_000;
/// Each generation shifts its key range, so every commit creates, updates and deletes.
const SHIFT: u32 = 1_500;

fn generation_keys(generation: u32) -> std::ops::Range<u32> {
    let start = generation * SHIFT;
    start..start + BATCHES * BATCH
}

fn host(i: u32, generation: u32) -> Entity {
    let mut e = Entity::new(format!("host-{i:08}"), "discovered_host", &["Host"]).unwrap();
    e.set("generation", generation)
        .set("qualysQwebHostId", i)
        .set("details", "x".repeat(200));
    e
}

fn steps() -> Vec<StepDeclaration> {
    vec![StepDeclaration {
        id: "hosts".to_owned(),
        name: "hosts".to_owned(),
        entity_types: vec![DeclaredType {
            object_type: "discovered_host".to_owned(),
            partial: false,
        }],
        relationship_types: vec![DeclaredType {
            object_type: "discovered_host_has_host".to_owned(),
            partial: false,
        }],
        depends_on: Vec::new(),
    }]
}

fn marker(text: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{MARKER}{text}").unwrap();
    out.flush().unwrap();
}

fn wait_for_parent() {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
}

/// The child: one sync of a generation, pausing at the point the parent names.
#[test]
fn crash_child() {
    let Ok(db) = std::env::var("QGRAPH_CRASH_DB") else {
        return;
    };
    let generation: u32 = std::env::var("QGRAPH_CRASH_GENERATION")
        .unwrap()
        .parse()
        .unwrap();
    let pause_at: String = std::env::var("QGRAPH_CRASH_PAUSE").unwrap_or_default();

    let store = SqliteStore::open_with_key(&db, KeySource::Ephemeral).unwrap();
    let instance = match store.instance_by_name("crash").unwrap() {
        Some(instance) => instance.id,
        None => {
            store
                .create_instance(NewInstance {
                    name: "crash".to_owned(),
                    kind: InstanceKind::Qualys,
                    config: serde_json::json!({}),
                    password: None,
                })
                .unwrap()
                .id
        }
    };

    let now = i64::from(generation) * 1_000;
    let mut run = store.begin_sync(instance, SyncOptions::at(now)).unwrap();
    let keys: Vec<u32> = generation_keys(generation).collect();
    let has = RelationshipClass::new("HAS").unwrap();
    for (batch, chunk) in keys.chunks(BATCH as usize).enumerate() {
        let mut objects: Vec<GraphObject> = Vec::with_capacity(chunk.len() * 2);
        for &i in chunk {
            let entity = host(i, generation);
            if i % 2 == 1 {
                let previous = host(i - 1, generation);
                objects.push(GraphObject::Relationship(Relationship::between(
                    &entity, &has, &previous,
                )));
            }
            objects.push(GraphObject::Entity(entity));
        }
        run.write("hosts", objects).unwrap();
        marker(&format!("staged {batch}"));
        if pause_at == format!("staged {batch}") {
            wait_for_parent();
        }
    }
    run.set_window_end("hosts", now);

    marker("committing");
    let results = vec![StepResult {
        id: "hosts".to_owned(),
        status: StepStatus::Success,
        started_on: now,
        ended_on: now,
        counts: Default::default(),
        errors: Vec::new(),
    }];
    run.commit(&steps(), &results).unwrap();
    marker("committed");
    if pause_at == "committed" {
        wait_for_parent();
    }
}

struct ChildRun {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

fn spawn_child(db: &Path, generation: u32, pause: &str) -> ChildRun {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("QGRAPH_CRASH_DB", db)
        .env("QGRAPH_CRASH_GENERATION", generation.to_string())
        .env("QGRAPH_CRASH_PAUSE", pause)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    ChildRun { child, lines }
}

impl ChildRun {
    /// Reads the child's output up to the marker `point`.
    fn wait_for(&mut self, point: &str) {
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            // libtest may print "test crash_child ... " before the marker on the same line.
            let marked = line.find(MARKER).map(|at| &line[at + MARKER.len()..]);
            if marked == Some(point) {
                return;
            }
        }
        panic!("the child exited before reaching {point:?}");
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert!(
            !status.success(),
            "the child was killed, so it cannot succeed"
        );
    }

    fn finish(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the child run failed: {status}");
    }
}

/// Asserts that the database contains exactly the graph of `generation`.
fn assert_graph_is(db: &Path, generation: u32) {
    let store = SqliteStore::open_with_key(db, KeySource::Ephemeral).unwrap();
    store.with_connection(|conn| {
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");

        let (count, min_key, max_key, generations): (u32, String, String, u32) = conn
            .query_row(
                "SELECT count(*), min(entity_key), max(entity_key), \
                     count(DISTINCT json_extract(properties, '$.generation')) \
                 FROM entities WHERE entity_type = 'discovered_host'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        let keys = generation_keys(generation);
        assert_eq!(
            count,
            BATCHES * BATCH,
            "entities of generation {generation}"
        );
        assert_eq!(min_key, format!("host-{:08}", keys.start));
        assert_eq!(max_key, format!("host-{:08}", keys.end - 1));
        assert_eq!(generations, 1);
        let stored_generation: u32 = conn
            .query_row(
                "SELECT json_extract(properties, '$.generation') FROM entities LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored_generation, generation);

        let relationships: u32 = conn
            .query_row(
                "SELECT count(*) FROM relationships WHERE rule_id IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(relationships, BATCHES * BATCH / 2);
        let classes: u32 = conn
            .query_row("SELECT count(*) FROM entity_classes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(classes, BATCHES * BATCH);
    });
    let instance = store.instance_by_name("crash").unwrap().unwrap().id;
    assert_eq!(
        store.window_end(instance, "hosts").unwrap(),
        Some(i64::from(generation) * 1_000)
    );
}

/// Returns the generation of the last committed job.
fn committed_generation(db: &Path) -> u32 {
    let store = SqliteStore::open_with_key(db, KeySource::Ephemeral).unwrap();
    let instance = store.instance_by_name("crash").unwrap().unwrap().id;
    let jobs = store.jobs(instance, 100).unwrap();
    let last = jobs
        .iter()
        .find(|j| j.status == JobStatus::Success)
        .unwrap();
    u32::try_from(last.started_on / 1_000).unwrap()
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qgraph-store-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn sigkill_at_any_point_keeps_last_commit() {
    let dir = scratch();
    let db = dir.join("graph.db");

    spawn_child(&db, 1, "").finish();
    assert_graph_is(&db, 1);

    // Killed while staging: nothing of generation 2 is visible.
    for point in ["staged 0", "staged 5", "staged 9"] {
        let mut child = spawn_child(&db, 2, point);
        child.wait_for(point);
        child.kill();
        assert_graph_is(&db, 1);
    }

    // Killed as the commit starts: either the whole commit landed or none of it.
    let mut child = spawn_child(&db, 3, "");
    child.wait_for("committing");
    child.kill();
    let committed = committed_generation(&db);
    assert!(committed == 1 || committed == 3, "generation {committed}");
    assert_graph_is(&db, committed);

    // Killed after the commit: the new graph stays.
    let mut child = spawn_child(&db, 4, "committed");
    child.wait_for("committed");
    child.kill();
    assert_graph_is(&db, 4);

    // The next run starts clean and marks the dead runs aborted.
    spawn_child(&db, 5, "").finish();
    assert_graph_is(&db, 5);
    let store = SqliteStore::open_with_key(&db, KeySource::Ephemeral).unwrap();
    let instance = store.instance_by_name("crash").unwrap().unwrap().id;
    let jobs = store.jobs(instance, 100).unwrap();
    assert!(jobs.iter().all(|j| j.status != JobStatus::Running));
    assert!(
        jobs.iter()
            .filter(|j| j.status == JobStatus::Aborted)
            .count()
            >= 3
    );
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A run of an instance that another live process is syncing is rejected
/// with that process named, and the other run's job is left alone. Once
/// that process is gone, its job is marked aborted and a new run starts.
#[test]
#[cfg(target_os = "linux")]
fn sync_busy_in_other_process_rejected() {
    let dir = std::env::temp_dir().join(format!("qgraph-store-busy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("graph.db");
    spawn_child(&db, 1, "").finish();

    let mut child = spawn_child(&db, 2, "staged 0");
    child.wait_for("staged 0");
    let child_pid = child.child.id();
    let store = SqliteStore::open_with_key(&db, KeySource::Ephemeral).unwrap();
    let instance = store.instance_by_name("crash").unwrap().unwrap().id;
    match store.begin_sync(instance, SyncOptions::at(9_000)) {
        Err(error @ qgraph_store::StoreError::RunInProgressElsewhere { process_id, .. }) => {
            assert_eq!(process_id, child_pid);
            let message = error.to_string();
            assert!(
                message.contains("instance crash is already syncing"),
                "{message}"
            );
        }
        other => panic!("expected the run to be refused, got {other:?}"),
    }
    let running = |store: &SqliteStore| {
        store
            .jobs(instance, 100)
            .unwrap()
            .into_iter()
            .filter(|j| j.status == JobStatus::Running)
            .count()
    };
    assert_eq!(running(&store), 1, "the live run's job stays RUNNING");

    child.kill();
    // Before any new run, the job history already shows the dead run as
    // aborted, with no end time because when it stopped is not known.
    let listed = store.jobs(instance, 100).unwrap();
    assert_eq!(running(&store), 0, "{listed:?}");
    let dead = listed
        .iter()
        .find(|j| j.status == JobStatus::Aborted)
        .unwrap();
    assert!(
        dead.error
            .as_deref()
            .unwrap_or("")
            .contains("stopped before it committed")
    );

    let run = store.begin_sync(instance, SyncOptions::at(9_000)).unwrap();
    let jobs = store.jobs(instance, 100).unwrap();
    let marked = jobs
        .iter()
        .find(|j| j.status == JobStatus::Aborted)
        .unwrap();
    assert_eq!(marked.ended_on, None, "{marked:?}");
    assert_eq!(
        jobs.iter()
            .filter(|j| j.status == JobStatus::Aborted)
            .count(),
        1
    );
    assert_eq!(running(&store), 1, "only the new run is RUNNING");
    drop(run);
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Removing an instance that another live process is syncing is rejected
/// with that process named, and the run's job is kept. Deleting that job
/// used to make the run's commit fail on a foreign key. Once that process
/// is gone, the removal deletes its job with the rest.
#[test]
#[cfg(target_os = "linux")]
fn remove_busy_in_other_process_rejected() {
    let dir = std::env::temp_dir().join(format!("qgraph-store-remove-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("graph.db");
    spawn_child(&db, 1, "").finish();

    let mut child = spawn_child(&db, 2, "staged 0");
    child.wait_for("staged 0");
    let child_pid = child.child.id();
    let store = SqliteStore::open_with_key(&db, KeySource::Ephemeral).unwrap();
    let instance = store.instance_by_name("crash").unwrap().unwrap().id;
    match store.remove_instance(instance, 9_000) {
        Err(qgraph_store::StoreError::RunInProgressElsewhere { process_id, .. }) => {
            assert_eq!(process_id, child_pid);
        }
        other => panic!("expected the removal to be rejected, got {other:?}"),
    }
    let jobs = store.jobs(instance, 100).unwrap();
    assert_eq!(jobs.len(), 2, "both jobs are kept");
    assert_eq!(
        jobs.iter()
            .filter(|j| j.status == JobStatus::Running)
            .count(),
        1,
        "the live run's job stays RUNNING"
    );

    child.kill();
    let report = store.remove_instance(instance, 9_000).unwrap();
    assert_eq!(report.jobs_deleted, 2);
    assert!(store.instance_by_name("crash").unwrap().is_none());
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}
