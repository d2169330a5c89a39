//! Queries that return only their start entities run as nested `EXISTS` in SQLite
//! instead of joining every path. They must select the same entities as the join.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;

use std::time::Duration;

use qgraph_model::Value;
use qgraph_query::{QueryOptions, QueryResult, run_query};
use qgraph_store::SqliteStore;
use serde_json::json;

/// Hosts, findings and vulnerabilities with dead ends, a self-loop, a finding of two
/// hosts and an entity with no relationship.
fn store() -> SqliteStore {
    let entity = |key: &str, entity_type: &str, class: &str, n: i64| json!({"_key": key, "_type": entity_type, "_class": [class], "n": n});
    let edge = |from: &str, class: &str, to: &str| json!({"from": from, "class": class, "to": to});
    let graph = json!({
        "entities": [
            entity("H1", "host", "Host", 1),
            entity("H2", "host", "Host", 2),
            entity("H3", "host", "Host", 3),
            entity("H4", "host", "Host", 4),
            entity("F1", "finding", "Finding", 5),
            entity("F2", "finding", "Finding", 6),
            entity("F3", "finding", "Finding", 7),
            entity("V1", "vuln", "Vulnerability", 8),
            entity("V2", "vuln", "Vulnerability", 9),
            entity("X1", "other", "Other", 10),
        ],
        "relationships": [
            edge("H1", "HAS", "F1"),
            edge("H2", "HAS", "F1"),
            edge("H2", "HAS", "F2"),
            edge("H3", "HAS", "H3"),
            edge("F1", "IS", "V1"),
            edge("F3", "IS", "V2"),
            edge("V2", "HAS", "F3"),
        ],
    });
    common::load_graph(SqliteStore::open_in_memory().unwrap(), graph)
}

fn run(store: &SqliteStore, query: &str) -> QueryResult {
    run_query(store, query, &QueryOptions::at(common::NOW))
        .unwrap_or_else(|e| panic!("{query}: {e}"))
}

fn listed_keys(store: &SqliteStore, query: &str) -> Vec<String> {
    let QueryResult::List { entities, .. } = run(store, query) else {
        panic!("{query}: expected a list");
    };
    let mut keys: Vec<String> = entities
        .iter()
        .map(|e| e.properties["_key"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    keys
}

/// Returns the start keys of every path, which the store finds by joining the paths.
fn path_start_keys(store: &SqliteStore, query: &str) -> Vec<String> {
    let query = format!("{query} RETURN a._key AS key");
    let QueryResult::Table { rows, .. } = run(store, &query) else {
        panic!("{query}: expected a table");
    };
    let mut keys: Vec<String> = rows
        .iter()
        .map(|row| row[0].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn counted(store: &SqliteStore, query: &str) -> Value {
    let query = format!("{query} RETURN count(a) AS starts");
    let QueryResult::Table { rows, .. } = run(store, &query) else {
        panic!("{query}: expected a table");
    };
    rows[0][0].clone()
}

#[test]
fn start_lists_match_path_joins() {
    let store = store();
    let cases = [
        ("FIND * AS a THAT RELATES TO * THAT RELATES TO *", 8),
        (
            "FIND Host AS a THAT HAS >> Finding THAT IS >> Vulnerability",
            2,
        ),
        ("FIND * AS a THAT HAS << * THAT HAS << *", 1),
        (
            "FIND Host AS a THAT RELATES TO Finding THAT RELATES TO Host",
            2,
        ),
        ("FIND Host AS a THAT HAS * THAT HAS *", 3),
        ("FIND * WITH n < 4 AS a THAT HAS * WITH n > 5", 1),
        ("FIND * AS a THAT HAS * WITH n = 6", 1),
        ("FIND * AS a THAT IS * THAT HAS * THAT IS * THAT HAS *", 2),
        ("FIND * AS a THAT RELATES TO Other", 0),
    ];
    for (query, expected) in cases {
        let listed = listed_keys(&store, query);
        assert_eq!(listed, path_start_keys(&store, query), "{query}");
        assert_eq!(listed.len(), expected, "{query}: {listed:?}");
        assert_eq!(
            counted(&store, query),
            Value::Int(i64::try_from(expected).unwrap()),
            "{query}"
        );
    }
}

#[test]
fn self_loop_starts_a_chain_of_any_length() {
    let store = store();

    let keys = listed_keys(
        &store,
        "FIND Host AS a THAT HAS Host THAT HAS Host THAT HAS Host",
    );

    assert_eq!(keys, vec!["H3"]);
}

/// Regression: sixteen undirected hops over any class joined all 40 * 4^16 paths
/// before grouping them by start entity, though each start needs only one path.
#[test]
fn long_undirected_chain_lists_every_start() {
    let thing =
        |i: usize| json!({"_key": format!("T{i:02}"), "_type": "thing", "_class": ["Thing"]});
    let edge = |i: usize, step: usize| json!({"from": format!("T{i:02}"), "class": "HAS", "to": format!("T{:02}", (i + step) % 40)});
    let graph = json!({
        "entities": (0..40).map(thing).collect::<Vec<_>>(),
        "relationships": (0..40).flat_map(|i| [edge(i, 1), edge(i, 7)]).collect::<Vec<_>>(),
    });
    let store = common::load_graph(SqliteStore::open_in_memory().unwrap(), graph);
    let query = format!("FIND *{}", " THAT RELATES TO *".repeat(16));
    let mut options = QueryOptions::at(common::NOW);
    // A regression stops at the limit with an error instead of hanging the test run.
    options.timeout = Some(Duration::from_secs(60));

    let result = run_query(&store, &query, &options).unwrap();

    let QueryResult::List { entities, .. } = result else {
        panic!("expected a list, got {result:?}");
    };
    assert_eq!(entities.len(), 40);
}
