//! Output formats: CSV quoting, JSON shapes and text tables.

#![allow(clippy::unwrap_used, reason = "tests")]

use qgraph_model::Value;
use qgraph_query::QueryResult;
use qgraph_query::format::{to_csv, to_json, to_table};

fn table(rows: Vec<Vec<Value>>, next_cursor: Option<u64>) -> QueryResult {
    QueryResult::Table {
        columns: vec!["name".into(), "Hosts Impacted".into()],
        rows,
        next_cursor,
    }
}

#[test]
fn csv_quotes_separators_and_quotes() {
    let result = table(
        vec![
            vec![Value::from("a,b"), Value::Int(1)],
            vec![Value::from("say \"hi\"\nbye"), Value::Null],
            vec![Value::from(vec!["x", "y"]), Value::Float(2.5)],
        ],
        None,
    );
    assert_eq!(
        to_csv(&result),
        "name,Hosts Impacted\r\n\"a,b\",1\r\n\"say \"\"hi\"\"\nbye\",\r\n\"[\"\"x\"\",\"\"y\"\"]\",2.5\r\n"
    );
}

#[test]
fn json_rows_are_objects_by_column() {
    let result = table(vec![vec![Value::from("web-1"), Value::Int(2)]], Some(250));
    let json = to_json(&result);
    assert_eq!(json["type"], "table");
    assert_eq!(json["data"][0]["Hosts Impacted"], 2);
    assert_eq!(json["cursor"], 250);
}

#[test]
fn table_clips_long_cells_and_mentions_cursor() {
    let long = "x".repeat(500);
    let result = table(
        vec![vec![Value::from(long.as_str()), Value::Int(1)]],
        Some(250),
    );
    let text = to_table(&result);
    let line = text.lines().nth(2).unwrap();
    assert!(line.chars().count() < 80, "{line}");
    assert!(line.contains('…'));
    assert!(text.contains("(1 row)\n"), "{text}");
    assert!(text.contains("--cursor 250"));
}

#[test]
fn table_counts_rows_in_plural() {
    let none = to_table(&table(Vec::new(), None));
    assert!(none.contains("(0 rows)\n"), "{none}");
    assert!(!none.contains("more rows follow"), "{none}");
    let two = to_table(&table(
        vec![
            vec![Value::from("a"), Value::Int(1)],
            vec![Value::from("b"), Value::Int(2)],
        ],
        None,
    ));
    assert!(two.contains("(2 rows)\n"), "{two}");
}
