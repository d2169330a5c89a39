//! Lists of a first selector with an optional group: ordering and the group's alias.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;

use qgraph_query::{QueryOptions, QueryResult, RunError, run_query};
use qgraph_store::SqliteStore;
use serde_json::json;

/// Three hosts and two findings; host `h-b` has both findings.
fn store() -> SqliteStore {
    let host = |key: &str, name: &str| json!({"_key": key, "_type": "thing_host", "_class": ["Host"], "hostname": name});
    let finding = |key: &str, name: &str| json!({"_key": key, "_type": "thing_finding", "_class": ["Finding"], "hostname": name});
    let graph = json!({
        "entities": [
            host("h-a", "alpha"), host("h-b", "bravo"), host("h-c", "charlie"),
            finding("f-1", "bravo-1"), finding("f-2", "zulu"),
        ],
        "relationships": [
            {"from": "h-b", "class": "HAS", "to": "f-1"},
            {"from": "h-b", "class": "HAS", "to": "f-2"},
        ],
    });
    common::load_graph(SqliteStore::open_in_memory().unwrap(), graph)
}

fn run(store: &SqliteStore, query: &str) -> Result<QueryResult, RunError> {
    run_query(store, query, &QueryOptions::at(common::NOW))
}

fn keys(store: &SqliteStore, query: &str) -> Vec<String> {
    let QueryResult::List { entities, .. } = run(store, query).unwrap() else {
        panic!("{query}: not a list");
    };
    entities
        .iter()
        .map(|e| e.properties["_key"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn order_by_sorts_whole_union() {
    let store = store();
    assert_eq!(
        keys(
            &store,
            "FIND Host AS h (THAT HAS Finding)? ORDER BY h.hostname DESC"
        ),
        ["f-2", "h-c", "f-1", "h-b", "h-a"]
    );
    assert_eq!(
        keys(
            &store,
            "FIND Host AS h (THAT HAS Finding)? ORDER BY h.hostname LIMIT 2"
        ),
        ["h-a", "h-b"]
    );
    assert_eq!(
        keys(
            &store,
            "FIND Host (THAT HAS Finding)? AS x ORDER BY x.hostname SKIP 3"
        ),
        ["h-c", "f-2"]
    );
}

#[test]
fn order_by_other_alias_rejected() {
    let store = store();
    let error = run(
        &store,
        "FIND Host AS h (THAT HAS AS r Finding)? ORDER BY r._class",
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("ORDER BY on an alias other than"), "{error}");
    assert!(error.contains("line 1, column 50"), "{error}");
}

#[test]
fn group_alias_in_rows_rejected() {
    let store = store();
    let queries = [
        ("FIND Host (THAT HAS Finding)? AS x RETURN x._type", 43),
        ("FIND Host (THAT HAS Finding)? AS x RETURN count(x)", 49),
        ("FIND Host (THAT HAS Finding)? AS x RETURN x", 43),
        (
            "FIND Host AS h (THAT HAS Finding)? AS x WHERE h.hostname = x.hostname",
            60,
        ),
        (
            "FIND Host AS h (THAT HAS Finding)? AS x RETURN h._key ORDER BY x.hostname",
            64,
        ),
    ];
    for (query, column) in queries {
        let error = run(&store, query).unwrap_err().to_string();
        assert!(
            error.contains("alias `x` of an optional group"),
            "{query}: {error}"
        );
        assert!(
            error.contains(&format!("line 1, column {column}")),
            "{query}: {error}"
        );
    }
}

#[test]
fn alias_inside_group_returns_values() {
    let store = store();
    let QueryResult::Table { rows, .. } = run(
        &store,
        "FIND Host AS h (THAT HAS Finding AS f)? RETURN h._key, f._key ORDER BY h._key",
    )
    .unwrap() else {
        panic!("not a table");
    };
    let keys: Vec<String> = rows
        .iter()
        .map(|row| {
            format!(
                "{}/{}",
                row[0].as_str().unwrap_or("-"),
                row[1].as_str().unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(keys, ["h-a/-", "h-b/f-1", "h-b/f-2", "h-c/-"]);
}
