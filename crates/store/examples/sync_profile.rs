//! Runs one first sync and one unchanged re-sync of N generated findings
//! into a file database and prints the times, for profiling outside criterion.
//!
//! `cargo run --release -p qgraph-store --example sync_profile -- 1000000 10000`
//! (set `RUST_LOG=qgraph_store=debug` for per-phase times). The optional
//! second argument adds that many `SCANS` mapped relationships, one per host
//! as the host asset step emits them, so the mapper's cost shows in the
//! `mapper` phase.

#![allow(clippy::unwrap_used, reason = "a profiling tool fails loudly")]

#[path = "../benches/common/mod.rs"]
mod common;

use std::time::Instant;

use common::finding;

use qgraph_model::{
    DeclaredType, Direction, Entity, GraphObject, GraphSink, MappedRelationship, Properties,
    RelationshipClass, StepDeclaration, StepResult, StepStatus,
};
use qgraph_store::{
    GraphStore, InstanceKind, KeySource, NewInstance, SqliteStore, SyncOptions, SyncRun,
};

/// Builds the `SCANS` mapped relationship from the VMDR service to a
/// discovered host, matched by `_class` and `qualysQwebHostId`.
fn scans(host_id: u64) -> MappedRelationship {
    let mut target = Properties::new();
    target.insert("_type".into(), "discovered_host".into());
    target.insert("_key".into(), format!("Host:{host_id}").into());
    target.insert("_class".into(), "Host".into());
    target.insert("qualysQwebHostId".into(), host_id.into());
    target.insert(
        "hostname".into(),
        format!("host-{host_id}.example.test").into(),
    );
    MappedRelationship::new(
        "qualys-vmdr-service",
        "qualys_vmdr_service",
        &RelationshipClass::new(RelationshipClass::SCANS).unwrap(),
        target,
        vec![vec!["_class".to_owned(), "qualysQwebHostId".to_owned()]],
        Direction::Forward,
        false,
    )
    .unwrap()
}

fn service() -> Entity {
    Entity::new("qualys-vmdr-service", "qualys_vmdr_service", &["Service"]).unwrap()
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let mapped: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("qgraph-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open_with_key(dir.join("graph.db"), KeySource::Ephemeral).unwrap();
    let instance = store
        .create_instance(NewInstance {
            name: "profile".to_owned(),
            kind: InstanceKind::Qualys,
            config: serde_json::json!({}),
            password: None,
        })
        .unwrap()
        .id;
    let steps = vec![StepDeclaration {
        id: "findings".to_owned(),
        name: "findings".to_owned(),
        entity_types: vec![DeclaredType {
            object_type: "qualys_host_finding".to_owned(),
            partial: true,
        }],
        relationship_types: Vec::new(),
        depends_on: Vec::new(),
    }];
    let results = vec![StepResult {
        id: "findings".to_owned(),
        status: StepStatus::Success,
        started_on: 0,
        ended_on: 0,
        counts: Default::default(),
        errors: Vec::new(),
    }];

    for (label, now) in [("first sync", 1), ("unchanged re-sync", 2)] {
        if now == 2 {
            // A scheduled re-sync comes hours after the first, when its writes
            // have long reached the disk. Started at once, the re-sync would
            // share the disk with the kernel writing back the first sync's
            // gigabyte, which measures the machine, not the sync.
            store
                .with_connection(|conn| conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)"))
                .unwrap();
            std::fs::File::open(dir.join("graph.db"))
                .unwrap()
                .sync_all()
                .unwrap();
        }
        let start = Instant::now();
        let mut run = store.begin_sync(instance, SyncOptions::at(now)).unwrap();
        let mut batch = Vec::with_capacity(5_000);
        for i in 0..count {
            batch.push(GraphObject::Entity(finding(i)));
            if batch.len() == 5_000 {
                run.write("findings", std::mem::take(&mut batch)).unwrap();
            }
        }
        if !batch.is_empty() {
            run.write("findings", batch).unwrap();
        }
        if mapped > 0 {
            let mut objects = vec![GraphObject::Entity(service())];
            objects.extend((0..mapped).map(|h| GraphObject::Mapped(scans(h))));
            run.write("findings", objects).unwrap();
        }
        let staged = start.elapsed();
        let report = run.commit(&steps, &results).unwrap();
        let total = start.elapsed();
        println!(
            "{label}: {count} findings in {:.2} s (staging {:.2} s) = {:.0} per second; \
             created {}, updated {}; mapper relationships created {}, updated {}",
            total.as_secs_f64(),
            staged.as_secs_f64(),
            count as f64 / total.as_secs_f64(),
            report.entities_created,
            report.entities_updated,
            report.mapper_relationships_created,
            report.mapper_relationships_updated
        );
    }
    store
        .with_connection(|conn| conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)"))
        .unwrap();
    let bytes = std::fs::metadata(dir.join("graph.db")).unwrap().len();
    println!(
        "database: {bytes} bytes, {:.0} bytes per finding",
        bytes as f64 / count as f64
    );
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}
