//! Runs every example of `tests/cases/examples.txt` on the fixture graph loaded through a sync run.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;

use qgraph_model::Value;
use qgraph_query::{QueryOptions, QueryResult, run_query};
use qgraph_store::plan::PlanObject;

fn key(object: &PlanObject) -> String {
    object.properties["_key"].as_str().unwrap().to_owned()
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

/// Converts a row to JSON numbers as floats so `100` and `100.0` compare equal.
fn normalize(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        J::Number(n) => J::from(n.as_f64().unwrap()),
        J::Array(items) => J::Array(items.into_iter().map(normalize).collect()),
        other => other,
    }
}

fn row_json(row: &[Value]) -> serde_json::Value {
    normalize(serde_json::to_value(row).unwrap())
}

fn check_case(store: &qgraph_store::SqliteStore, case: &common::Case) {
    let options = QueryOptions::at(common::NOW);
    let result = run_query(store, &case.query, &options)
        .unwrap_or_else(|e| panic!("case {}: {e}", case.name));
    if let Some(other) = &case.same_as {
        let expected = run_query(store, other, &options).unwrap();
        assert_eq!(result, expected, "case {}", case.name);
    }
    match &result {
        QueryResult::List { entities, .. } => {
            let expected = case.entities.clone().unwrap_or_else(|| {
                panic!(
                    "case {}: list result {:?}",
                    case.name,
                    entities.iter().map(key).collect::<Vec<_>>()
                )
            });
            let actual: Vec<String> = entities.iter().map(key).collect();
            assert_eq!(sorted(actual), sorted(expected), "case {}", case.name);
        }
        QueryResult::Table { columns, rows, .. } => {
            if let Some(expected) = &case.columns {
                assert_eq!(columns, expected, "case {}", case.name);
            }
            for name in &case.columns_include {
                assert!(
                    columns.contains(name),
                    "case {}: no column {name} in {columns:?}",
                    case.name
                );
            }
            if let Some(count) = case.row_count {
                assert_eq!(rows.len(), count, "case {}", case.name);
            }
            if case.row_count.is_none() {
                let mut actual: Vec<String> =
                    rows.iter().map(|r| row_json(r).to_string()).collect();
                let mut expected: Vec<String> = case
                    .rows
                    .iter()
                    .map(|r| normalize(r.clone()).to_string())
                    .collect();
                if !case.ordered {
                    actual.sort();
                    expected.sort();
                }
                assert_eq!(actual, expected, "case {}", case.name);
            }
        }
        QueryResult::Tree {
            vertices, edges, ..
        } => {
            let expected = case.vertices.clone().unwrap();
            let actual: Vec<String> = vertices.iter().map(key).collect();
            assert_eq!(sorted(actual), sorted(expected), "case {}", case.name);
            let key_of = |id: i64| {
                vertices
                    .iter()
                    .find(|v| v.id == id)
                    .map(key)
                    .unwrap_or_else(|| format!("#{id}"))
            };
            let actual_edges: Vec<String> = edges
                .iter()
                .map(|e| {
                    format!(
                        "{}-{}-{}",
                        key_of(e.from_id),
                        e.properties["_class"].as_str().unwrap(),
                        key_of(e.to_id)
                    )
                })
                .collect();
            assert_eq!(
                sorted(actual_edges),
                sorted(case.edges.clone().unwrap()),
                "case {}",
                case.name
            );
        }
    }
}

#[test]
fn examples_give_stated_results() {
    let store = common::fixture_store();
    let cases = common::examples();
    let mut failures = Vec::new();
    for case in &cases {
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_case(&store, case)));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{}: {message}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
