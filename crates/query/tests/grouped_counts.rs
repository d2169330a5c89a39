//! `RETURN a.x, count(b)` runs as one grouping statement in the store. Each query here runs
//! twice: as written, and with `+ 0` added to its counts, which keeps it out of the store
//! so that the query engine groups the paths itself. Both tables must be equal, row order
//! included.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;

use common::Recording;

use qgraph_model::Value;
use qgraph_query::{QueryOptions, QueryResult, run_query};
use qgraph_store::SqliteStore;
use qgraph_store::plan::PlanOutput;
use serde_json::json;

/// Hosts whose `hostname` values are hard to group: a duplicate that shares a finding,
/// absent and null values, a number, a boolean, a numeric string and an array.
fn graph() -> serde_json::Value {
    let host = |key: &str, hostname: serde_json::Value| {
        let mut entity = json!({
            "_key": key, "_type": "discovered_host", "_class": ["Host"],
            "displayName": key, "platform": if key < "H4" { "linux" } else { "windows" },
        });
        if !hostname.is_null() || key == "H4" {
            entity["hostname"] = hostname;
        }
        entity
    };
    let finding = |key: &str, qid: serde_json::Value| {
        json!({
            "_key": key, "_type": "qualys_host_finding", "_class": ["Finding"],
            "displayName": key, "qid": qid, "severity": "critical", "open": true,
        })
    };
    let has = |from: &str, to: &str| json!({"from": from, "class": "HAS", "to": to});
    json!({
        "entities": [
            host("H1", json!("a")),
            host("H2", json!("a")),
            host("H3", serde_json::Value::Null),
            host("H4", serde_json::Value::Null),
            host("H5", json!(1)),
            host("H6", json!(true)),
            host("H7", json!("1")),
            host("H8", json!(["x", "y"])),
            finding("F1", json!(100)),
            finding("F2", json!(100)),
            finding("F3", json!(200)),
            finding("F4", json!([100, 200])),
            finding("F5", json!(null)),
            finding("F6", json!(300)),
            finding("F7", json!(100.5)),
            finding("F8", json!("100")),
        ],
        "relationships": [
            has("H1", "F1"), has("H1", "F2"), has("H2", "F2"), has("H2", "F3"),
            has("H3", "F4"), has("H4", "F5"), has("H5", "F6"), has("H6", "F7"),
            has("H7", "F8"), has("H8", "F1"), has("H8", "F6"),
            // A self-loop, and two findings related both ways.
            has("F1", "F1"), has("F2", "F3"), has("F3", "F2"),
        ],
    })
}

fn store() -> SqliteStore {
    common::load_graph(SqliteStore::open_in_memory().unwrap(), graph())
}

/// Runs a query and returns its columns, rows, next cursor and the plan outputs it ran.
fn run(
    store: &SqliteStore,
    query: &str,
    options: &QueryOptions,
) -> (Vec<String>, Vec<Vec<Value>>, Option<u64>, Vec<PlanOutput>) {
    let recording = Recording::new(store);
    let result = run_query(&recording, query, options).unwrap_or_else(|e| panic!("{query}: {e}"));
    let QueryResult::Table {
        columns,
        rows,
        next_cursor,
    } = result
    else {
        panic!("{query}: not a table");
    };
    (columns, rows, next_cursor, recording.outputs.into_inner())
}

fn is_grouped(outputs: &[PlanOutput]) -> bool {
    matches!(outputs, [PlanOutput::GroupedCounts { .. }])
}

/// Checks that `query` runs in the store and gives the rows of `in_engine`, which must not.
fn check_same(store: &SqliteStore, query: &str, in_engine: &str, options: &QueryOptions) {
    let (columns, rows, cursor, outputs) = run(store, query, options);
    assert!(is_grouped(&outputs), "{query} ran {outputs:?}");
    let (_, expected_rows, expected_cursor, expected_outputs) = run(store, in_engine, options);
    assert!(
        !is_grouped(&expected_outputs),
        "{in_engine} ran {expected_outputs:?}"
    );
    assert!(!rows.is_empty(), "{query}: no rows");
    assert_eq!(rows, expected_rows, "{query}: rows differ ({columns:?})");
    assert_eq!(cursor, expected_cursor, "{query}: cursors differ");
}

#[test]
fn grouped_count_matches_engine_grouping() {
    let store = store();
    let options = QueryOptions::at(common::NOW);
    let cases = [
        (
            "FIND Host AS h THAT HAS Finding AS f RETURN h.hostname, count(f) AS n",
            "FIND Host AS h THAT HAS Finding AS f RETURN h.hostname, count(f) + 0 AS n",
        ),
        (
            "FIND Host AS h THAT HAS Finding AS f RETURN h.platform, h.hostname, count(f) AS n, count(f.qid) AS q ORDER BY n DESC",
            "FIND Host AS h THAT HAS Finding AS f RETURN h.platform, h.hostname, count(f) + 0 AS n, count(f.qid) + 0 AS q ORDER BY n DESC",
        ),
        (
            "FIND Host AS h THAT HAS Finding AS f RETURN f.qid, count(h) AS hosts ORDER BY f.qid",
            "FIND Host AS h THAT HAS Finding AS f RETURN f.qid, count(h) + 0 AS hosts ORDER BY f.qid",
        ),
        (
            "FIND Host AS h THAT HAS Finding WITH severity = 'critical' AS f RETURN h.hostname, count(f) AS findings ORDER BY findings DESC LIMIT 3",
            "FIND Host AS h THAT HAS Finding WITH severity = 'critical' AS f RETURN h.hostname, count(f) + 0 AS findings ORDER BY findings DESC LIMIT 3",
        ),
        (
            "FIND Host AS h THAT HAS Finding AS f RETURN h._class, h._type, count(f) AS n",
            "FIND Host AS h THAT HAS Finding AS f RETURN h._class, h._type, count(f) + 0 AS n",
        ),
        (
            "FIND Host AS h THAT HAS Finding AS f RETURN h._key, h.displayName, count(f) AS n ORDER BY h._key DESC",
            "FIND Host AS h THAT HAS Finding AS f RETURN h._key, h.displayName, count(f) + 0 AS n ORDER BY h._key DESC",
        ),
        (
            "FIND Host AS h THAT HAS AS r Finding AS f RETURN r._class, count(f) AS n, count(h) AS m",
            "FIND Host AS h THAT HAS AS r Finding AS f RETURN r._class, count(f) + 0 AS n, count(h) + 0 AS m",
        ),
        (
            "FIND Host AS h THAT HAS Finding AS f RETURN h.missing, count(f) AS n",
            "FIND Host AS h THAT HAS Finding AS f RETURN h.missing, count(f) + 0 AS n",
        ),
        // Undirected hops run once per stored direction; the self-loop counts once.
        (
            "FIND Finding AS a THAT HAS Finding AS b RETURN a._key, count(b) AS n, count(b.qid) AS q",
            "FIND Finding AS a THAT HAS Finding AS b RETURN a._key, count(b) + 0 AS n, count(b.qid) + 0 AS q",
        ),
        (
            "FIND Host AS h THAT HAS Finding AS f THAT HAS Finding AS g RETURN h._key, count(g) AS n",
            "FIND Host AS h THAT HAS Finding AS f THAT HAS Finding AS g RETURN h._key, count(g) + 0 AS n",
        ),
        (
            "FIND Host AS h THAT HAS >> Finding AS f THAT HAS << Finding AS g RETURN h._key, count(g) AS n",
            "FIND Host AS h THAT HAS >> Finding AS f THAT HAS << Finding AS g RETURN h._key, count(g) + 0 AS n",
        ),
    ];
    for (query, in_engine) in cases {
        check_same(&store, query, in_engine, &options);
    }
}

#[test]
fn grouped_count_pages_like_engine() {
    let store = store();
    let query = "FIND Host AS h THAT HAS Finding AS f RETURN h.hostname, count(f) AS n ORDER BY n DESC SKIP 1 LIMIT 2";
    let in_engine = "FIND Host AS h THAT HAS Finding AS f RETURN h.hostname, count(f) + 0 AS n ORDER BY n DESC SKIP 1 LIMIT 2";
    let mut options = QueryOptions::at(common::NOW);
    check_same(&store, query, in_engine, &options);
    options.cursor = 2;
    check_same(&store, query, in_engine, &options);
}

#[test]
fn grouped_count_values_of_hard_keys() {
    let store = store();
    let options = QueryOptions::at(common::NOW);
    let (_, rows, _, outputs) = run(
        &store,
        "FIND Host AS h THAT HAS Finding AS f RETURN h.hostname, count(f) AS n",
        &options,
    );
    assert!(is_grouped(&outputs), "{outputs:?}");
    let expected = vec![
        // H1 and H2 share F2, which counts once.
        vec![Value::from("a"), Value::Int(3)],
        // H3 has no hostname and H4 a null one: one group.
        vec![Value::Null, Value::Int(2)],
        vec![Value::Int(1), Value::Int(1)],
        vec![Value::Bool(true), Value::Int(1)],
        vec![Value::from("1"), Value::Int(1)],
        vec![
            Value::Array(vec![Value::from("x"), Value::from("y")]),
            Value::Int(2),
        ],
    ];
    assert_eq!(rows, expected);
}

#[test]
fn grouped_count_counts_distinct_values() {
    let store = store();
    let options = QueryOptions::at(common::NOW);
    let (_, rows, _, outputs) = run(
        &store,
        "FIND Host AS h THAT HAS Finding AS f RETURN h.platform, count(f.qid) AS qids",
        &options,
    );
    assert!(is_grouped(&outputs), "{outputs:?}");
    // linux (H1, H2, H3): 100, 200 and [100, 200]; F5's null qid is not counted.
    // windows (H4 to H8): 300, 100.5, "100" and 100 (F1 through H8).
    assert_eq!(
        rows,
        vec![
            vec![Value::from("linux"), Value::Int(3)],
            vec![Value::from("windows"), Value::Int(4)],
        ]
    );
}

#[test]
fn grouped_count_without_matches_is_empty() {
    let store = store();
    let options = QueryOptions::at(common::NOW);
    let (columns, rows, cursor, outputs) = run(
        &store,
        "FIND Host AS h THAT HAS Finding WITH severity = 'low' AS f RETURN h.hostname, count(f) AS n",
        &options,
    );
    assert!(is_grouped(&outputs), "{outputs:?}");
    assert_eq!(columns, vec!["h.hostname".to_owned(), "n".to_owned()]);
    assert!(rows.is_empty());
    assert_eq!(cursor, None);
}

#[test]
fn other_shapes_group_in_engine() {
    let store = store();
    let options = QueryOptions::at(common::NOW);
    let queries = [
        // Keys of two aliases: the count groups by the closest one only.
        "FIND Host AS h THAT HAS Finding AS f THAT HAS Host AS g RETURN h.hostname, g.hostname, count(f) AS n",
        // ORDER BY a property that is not a column needs the paths.
        "FIND Host AS h THAT HAS Finding AS f RETURN h.hostname, count(f) AS n ORDER BY h.platform",
        // Optional hops.
        "FIND Host AS h (THAT HAS Finding AS f)? RETURN h.hostname, count(f) AS n",
        // Other aggregates.
        "FIND Host AS h THAT HAS Finding AS f RETURN h.hostname, max(f.qid) AS n",
    ];
    for query in queries {
        let (_, _, _, outputs) = run(&store, query, &options);
        assert!(!is_grouped(&outputs), "{query} ran {outputs:?}");
    }
}

#[test]
fn undirected_count_counts_self_loop_once() {
    let store = store();
    let options = QueryOptions::at(common::NOW);
    // F1 relates to itself, F2 and F3 to each other: three findings, each counted once.
    let (_, rows, _, outputs) = run(
        &store,
        "FIND Finding AS a THAT HAS Finding AS b RETURN count(b)",
        &options,
    );
    assert!(
        matches!(outputs.as_slice(), [PlanOutput::CountDistinct { .. }]),
        "{outputs:?}"
    );
    assert_eq!(rows, vec![vec![Value::Int(3)]]);
    let (_, rows, _, _) = run(
        &store,
        "FIND Finding AS a THAT HAS Finding AS b RETURN a._key, count(b) AS n",
        &options,
    );
    assert_eq!(
        rows,
        vec![
            vec![Value::from("F1"), Value::Int(1)],
            vec![Value::from("F2"), Value::Int(1)],
            vec![Value::from("F3"), Value::Int(1)],
        ]
    );
}
