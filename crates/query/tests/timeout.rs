//! Query time limits: a run past `QueryOptions::timeout` stops with a typed error and
//! leaves the store ready for the next query and the next sync.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;

use std::time::Duration;

use qgraph_query::{QueryOptions, QueryResult, RunError, run_query};
use qgraph_store::SqliteStore;
use serde_json::json;

/// Entities in a ring where each one `HAS` the next three, so every entity has six
/// neighbours when hops follow both directions.
fn ring_store(entities: usize) -> SqliteStore {
    let thing =
        |i: usize| json!({"_key": format!("T{i}"), "_type": "thing", "_class": ["Thing"], "n": i});
    let mut relationships = Vec::new();
    for i in 0..entities {
        for step in 1..=3 {
            let to = (i + step) % entities;
            relationships
                .push(json!({"from": format!("T{i}"), "class": "HAS", "to": format!("T{to}")}));
        }
    }
    let graph = json!({
        "entities": (0..entities).map(thing).collect::<Vec<_>>(),
        "relationships": relationships,
    });
    common::load_graph(SqliteStore::open_in_memory().unwrap(), graph)
}

/// Returns a query that counts the distinct ends of every path of `hops` undirected
/// hops, so SQLite enumerates all `entities * 6^hops` paths.
fn all_paths_count(hops: usize) -> String {
    let mut query = String::from("FIND thing AS a");
    for _ in 1..hops {
        query.push_str(" THAT RELATES TO thing");
    }
    query.push_str(" THAT RELATES TO thing AS z RETURN count(z) AS ends");
    query
}

fn with_timeout(timeout: Duration) -> QueryOptions {
    let mut options = QueryOptions::at(common::NOW);
    options.timeout = Some(timeout);
    options
}

/// Paths to count in a query that runs for seconds without a limit: 40 * 6^7, about
/// 11 million, which took 24 s in a debug build.
const SLOW_HOPS: usize = 7;

#[test]
fn long_query_stops_at_its_limit() {
    let store = ring_store(40);
    let limit = Duration::from_millis(50);

    let error = run_query(&store, &all_paths_count(SLOW_HOPS), &with_timeout(limit)).unwrap_err();

    let RunError::TimedOut { limit: reported } = error else {
        panic!("expected a time-out, got {error:?}");
    };
    assert_eq!(reported, limit);
    let message = error.to_string();
    assert!(
        message.contains("timed out after 50ms and was stopped"),
        "{message}"
    );
    assert!(message.contains("RELATES TO"), "{message}");
}

#[test]
fn store_serves_queries_and_syncs_after_a_stop() {
    let store = ring_store(40);
    let stopped = run_query(
        &store,
        &all_paths_count(SLOW_HOPS),
        &with_timeout(Duration::from_millis(50)),
    );
    assert!(
        matches!(stopped, Err(RunError::TimedOut { .. })),
        "{stopped:?}"
    );
    assert!(!store.with_connection(rusqlite::Connection::is_interrupted));

    let short = run_query(
        &store,
        &all_paths_count(1),
        &with_timeout(Duration::from_secs(30)),
    )
    .unwrap();
    assert_eq!(table_rows(&short), vec![vec![qgraph_model::Value::Int(40)]]);

    sync_one_entity(&store, "later");
    let found = run_query(&store, "FIND later_thing", &QueryOptions::at(common::NOW)).unwrap();
    let QueryResult::List { entities, .. } = found else {
        panic!("expected a list, got {found:?}");
    };
    assert_eq!(entities.len(), 1);
}

#[test]
fn zero_limit_stops_before_the_first_statement() {
    let store = ring_store(4);

    let result = run_query(&store, "FIND thing", &with_timeout(Duration::ZERO));

    assert!(
        matches!(result, Err(RunError::TimedOut { limit }) if limit.is_zero()),
        "{result:?}"
    );
}

#[test]
fn query_within_its_limit_returns_rows() {
    let store = ring_store(40);

    let result = run_query(
        &store,
        "FIND thing WITH n < 3 AS t RETURN t.n ORDER BY t.n",
        &with_timeout(Duration::from_secs(30)),
    )
    .unwrap();

    let expected: Vec<Vec<qgraph_model::Value>> =
        (0..3).map(|n| vec![qgraph_model::Value::Int(n)]).collect();
    assert_eq!(table_rows(&result), expected);
}

fn table_rows(result: &QueryResult) -> Vec<Vec<qgraph_model::Value>> {
    match result {
        QueryResult::Table { rows, .. } => rows.clone(),
        other => panic!("expected a table, got {other:?}"),
    }
}

/// Commits one sync run of a new instance with one entity of type `{name}_thing`.
fn sync_one_entity(store: &SqliteStore, name: &str) {
    use qgraph_model::{
        DeclaredType, Entity, GraphObject, GraphSink, StepDeclaration, StepResult, StepStatus,
    };
    use qgraph_store::{GraphStore, InstanceKind, NewInstance, SyncOptions, SyncRun};

    let entity_type = format!("{name}_thing");
    let instance = store
        .create_instance(NewInstance {
            name: name.into(),
            kind: InstanceKind::Qualys,
            config: json!({}),
            password: None,
        })
        .unwrap();
    let entity = Entity::new(format!("{name}-1"), &entity_type, &["Thing"]).unwrap();
    let step = StepDeclaration {
        id: "things".into(),
        name: "Things".into(),
        entity_types: vec![DeclaredType {
            object_type: entity_type,
            partial: false,
        }],
        relationship_types: Vec::new(),
        depends_on: Vec::new(),
    };
    let result = StepResult {
        id: "things".into(),
        status: StepStatus::Success,
        started_on: common::NOW,
        ended_on: common::NOW,
        counts: Default::default(),
        errors: Vec::new(),
    };
    let mut run = store
        .begin_sync(instance.id, SyncOptions::at(common::NOW))
        .unwrap();
    run.write("things", vec![GraphObject::Entity(entity)])
        .unwrap();
    run.commit(&[step], &[result]).unwrap();
}
