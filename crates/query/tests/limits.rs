//! Size limits: queries just inside them run in SQLite, and queries past them fail with
//! a message that names the limit instead of a raw SQLite error.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;

use qgraph_query::{QueryError, QueryOptions, QueryResult, RunError, run_query};
use qgraph_store::SqliteStore;
use serde_json::json;

/// Four `Thing` entities in a `HAS` cycle, so chains of any length find paths.
fn store() -> SqliteStore {
    let thing = |i: usize| {
        json!({
            "_key": format!("T{i}"), "_type": "thing", "_class": ["Thing"],
            "p": i, "qid": 10_000 + i, "name": format!("thing {i}"),
        })
    };
    let has = |from: usize, to: usize| json!({"from": format!("T{from}"), "class": "HAS", "to": format!("T{to}")});
    let graph = json!({
        "entities": (0..4).map(thing).collect::<Vec<_>>(),
        "relationships": [has(0, 1), has(1, 2), has(2, 3), has(3, 0)],
    });
    common::load_graph(SqliteStore::open_in_memory().unwrap(), graph)
}

fn run(store: &SqliteStore, query: &str) -> Result<QueryResult, RunError> {
    run_query(store, query, &QueryOptions::at(common::NOW))
}

fn entity_count(result: QueryResult) -> usize {
    match result {
        QueryResult::List { entities, .. } => entities.len(),
        QueryResult::Table { rows, .. } => rows.len(),
        QueryResult::Tree { vertices, .. } => vertices.len(),
    }
}

/// Returns `first OR first+1 OR ...` with `count` numbers.
fn numbers(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// Returns the limit error of a query that must fail, with its message.
fn too_large(store: &SqliteStore, query: &str) -> (QueryError, String) {
    match run(store, query) {
        Err(RunError::Query(error @ QueryError::TooLarge { .. })) => {
            let message = error.to_string();
            (error, message)
        }
        Err(other) => panic!("{query}: expected a size limit error, got {other}"),
        Ok(_) => panic!("{query}: expected a size limit error, got rows"),
    }
}

#[test]
fn value_set_at_limit_runs() {
    let store = store();
    for property in ["p", "qid"] {
        let query = format!("FIND Thing WITH {property} = ({})", numbers(1, 100));
        let result = run(&store, &query).unwrap_or_else(|e| panic!("{property}: {e}"));
        let expected = if property == "p" { 3 } else { 0 };
        assert_eq!(entity_count(result), expected, "{property}");
    }
}

#[test]
fn value_set_past_limit_names_limit() {
    let store = store();
    let query = format!("FIND Thing WITH p = ({})", numbers(0, 101));
    let (error, message) = too_large(&store, &query);
    let QueryError::TooLarge {
        found,
        limit,
        line,
        column,
        ..
    } = error
    else {
        unreachable!()
    };
    assert_eq!((found, limit), (101, 100));
    assert_eq!((line, column), (1, 17));
    assert!(
        message.contains("the value set has 101 values, more than the limit of 100"),
        "{message}"
    );
    assert!(
        message.contains("split it across several queries"),
        "{message}"
    );
}

#[test]
fn comparisons_at_limit_run_in_sqlite() {
    let store = store();
    // 250 comparisons over WITH and WHERE, on an unindexed property whose test also
    // looks into arrays, nested in parentheses: deeper SQL than indexed properties.
    let query = format!(
        "FIND Thing WITH (p = ({}) OR (name = ({}))) AS a THAT HAS >> Thing AS b \
         WHERE b.p = ({}) OR b.p = 2",
        numbers(0, 100),
        numbers(1000, 100),
        numbers(3000, 48) + " OR 1",
    );
    let result = run(&store, &query).unwrap_or_else(|e| panic!("{e}"));
    // a = T0 reaches b = T1 through HAS, and a = T1 reaches b = T2.
    assert_eq!(entity_count(result), 2);
}

#[test]
fn comparisons_past_limit_name_limit() {
    let store = store();
    let query = format!(
        "FIND Thing WITH p = ({}) OR p = ({}) OR p = ({})",
        numbers(0, 100),
        numbers(100, 100),
        numbers(200, 51),
    );
    let (error, message) = too_large(&store, &query);
    let QueryError::TooLarge { found, limit, .. } = error else {
        unreachable!()
    };
    assert_eq!((found, limit), (251, 250));
    assert!(
        message.contains("the query has 251 comparisons"),
        "{message}"
    );
    assert!(message.contains("more than the limit of 250"), "{message}");
}

#[test]
fn long_or_chain_names_limit() {
    let store = store();
    let chain: Vec<String> = (0..1000).map(|n| format!("p = {n}")).collect();
    let query = format!("FIND Thing WITH {}", chain.join(" OR "));
    let (_, message) = too_large(&store, &query);
    assert!(message.contains("1000 comparisons"), "{message}");
}

/// Builds a chain of `hops` hops whose nodes all carry a filter, so that no node is read
/// from the class table alone and each hop joins three tables. The hops follow the stored
/// direction, so each start entity has one path around the cycle.
fn filtered_chain(hops: usize) -> String {
    let mut query = String::from("FIND Thing WITH p != 9");
    for _ in 0..hops {
        query.push_str(" THAT HAS >> Thing WITH p != 9");
    }
    query
}

#[test]
fn hops_at_limit_run_in_sqlite() {
    let store = store();
    let result = run(&store, &filtered_chain(16)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(entity_count(result), 4);

    // A negated hop breaks the fixed-order chain; the plain join must fit too.
    let negated = filtered_chain(15) + " THAT !IS Thing";
    let result = run(&store, &negated).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(entity_count(result), 4);
}

#[test]
fn hops_past_limit_name_limit() {
    let store = store();
    let (error, message) = too_large(&store, &filtered_chain(17));
    let QueryError::TooLarge {
        found, limit, line, ..
    } = error
    else {
        unreachable!()
    };
    assert_eq!((found, limit, line), (17, 16, 1));
    assert!(
        message.contains("the traversal has 17 hops, more than the limit of 16"),
        "{message}"
    );
}

#[test]
fn optional_hops_count_toward_limit() {
    let store = store();
    let query = filtered_chain(16) + " (THAT IS Thing)?";
    let (_, message) = too_large(&store, &query);
    assert!(message.contains("17 hops"), "{message}");
}
