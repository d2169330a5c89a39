//! Renders query results as JSON, CSV or a text table.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use qgraph_model::Value;
use qgraph_store::plan::PlanObject;
use serde_json::{Map, Value as Json, json};

use crate::eval::QueryResult;

/// Widest cell of a text table, in characters; longer values are cut with `…`.
const MAX_CELL_CHARS: usize = 60;

/// Columns shown for list results in a text table.
const LIST_COLUMNS: [&str; 4] = ["_key", "_type", "_class", "displayName"];

/// Renders a result as JSON: `{"type": "list"|"table"|"tree", "data": …, "cursor": …}`.
///
/// Table rows are objects keyed by column; tree results have `vertices` and `edges`.
pub fn to_json(result: &QueryResult) -> Json {
    match result {
        QueryResult::List {
            entities,
            next_cursor,
        } => json!({
            "type": "list",
            "data": entities.iter().map(object_json).collect::<Vec<_>>(),
            "cursor": next_cursor,
        }),
        QueryResult::Table {
            columns,
            rows,
            next_cursor,
        } => {
            let data: Vec<Json> = rows
                .iter()
                .map(|row| {
                    let object: Map<String, Json> = columns
                        .iter()
                        .zip(row)
                        .map(|(c, v)| (c.clone(), value_json(v)))
                        .collect();
                    Json::Object(object)
                })
                .collect();
            json!({ "type": "table", "columns": columns, "data": data, "cursor": next_cursor })
        }
        QueryResult::Tree {
            vertices,
            edges,
            next_cursor,
        } => json!({
            "type": "tree",
            "data": {
                "vertices": vertices.iter().map(|v| json!({"id": v.id, "entity": object_json(v)})).collect::<Vec<_>>(),
                "edges": edges.iter().map(|e| json!({
                    "id": e.id,
                    "fromVertexId": e.from_id,
                    "toVertexId": e.to_id,
                    "relationship": properties_json(&e.properties),
                })).collect::<Vec<_>>(),
            },
            "cursor": next_cursor,
        }),
    }
}

fn value_json(value: &Value) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}

fn properties_json(properties: &qgraph_model::Properties) -> Json {
    Json::Object(
        properties
            .iter()
            .map(|(k, v)| (k.clone(), value_json(v)))
            .collect(),
    )
}

fn object_json(object: &PlanObject) -> Json {
    properties_json(&object.properties)
}

/// Returns the header and rows of a result as text cells.
fn grid(result: &QueryResult, list_columns: Option<&[&str]>) -> (Vec<String>, Vec<Vec<String>>) {
    match result {
        QueryResult::Table { columns, rows, .. } => (
            columns.clone(),
            rows.iter()
                .map(|row| row.iter().map(cell_text).collect())
                .collect(),
        ),
        QueryResult::List { entities, .. } => objects_grid(entities, list_columns),
        QueryResult::Tree {
            vertices, edges, ..
        } => {
            let mut rows: Vec<Vec<String>> = vertices
                .iter()
                .map(|v| {
                    vec![
                        "vertex".to_owned(),
                        v.id.to_string(),
                        property_text(v, "_key"),
                        property_text(v, "_type"),
                        String::new(),
                        String::new(),
                    ]
                })
                .collect();
            rows.extend(edges.iter().map(|e| {
                vec![
                    "edge".to_owned(),
                    e.id.to_string(),
                    e.properties.get("_key").map(cell_text).unwrap_or_default(),
                    e.properties
                        .get("_class")
                        .map(cell_text)
                        .unwrap_or_default(),
                    e.from_id.to_string(),
                    e.to_id.to_string(),
                ]
            }));
            let header = ["kind", "id", "_key", "_type or _class", "from", "to"];
            (header.iter().map(|h| (*h).to_owned()).collect(), rows)
        }
    }
}

fn objects_grid(
    objects: &[PlanObject],
    columns: Option<&[&str]>,
) -> (Vec<String>, Vec<Vec<String>>) {
    let header: Vec<String> = match columns {
        Some(fixed) => fixed.iter().map(|c| (*c).to_owned()).collect(),
        None => objects
            .iter()
            .flat_map(|o| o.properties.keys().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    };
    let rows = objects
        .iter()
        .map(|o| header.iter().map(|c| property_text(o, c)).collect())
        .collect();
    (header, rows)
}

fn property_text(object: &PlanObject, name: &str) -> String {
    object
        .properties
        .get(name)
        .map(cell_text)
        .unwrap_or_default()
}

/// Text of a cell: strings as they are, null as empty, arrays as JSON.
fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(_) => value_json(value).to_string(),
        other => other.to_string(),
    }
}

/// Renders a result as CSV (RFC 4180 quoting); list results get one column per property seen.
pub fn to_csv(result: &QueryResult) -> String {
    let (header, rows) = grid(result, None);
    let mut out = String::new();
    write_csv_line(&mut out, &header);
    for row in &rows {
        write_csv_line(&mut out, row);
    }
    out
}

fn write_csv_line(out: &mut String, cells: &[String]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if cell.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(cell);
        }
    }
    out.push_str("\r\n");
}

/// Renders a result as an aligned text table with a row count; long cells are cut.
pub fn to_table(result: &QueryResult) -> String {
    let (header, rows) = grid(result, Some(&LIST_COLUMNS));
    let clip = |s: &str| -> String {
        let single_line = s.replace(['\n', '\r'], " ");
        if single_line.chars().count() > MAX_CELL_CHARS {
            let cut: String = single_line.chars().take(MAX_CELL_CHARS - 1).collect();
            format!("{cut}…")
        } else {
            single_line
        }
    };

    let header: Vec<String> = header.iter().map(|h| clip(h)).collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clip(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }

    let mut out = String::new();
    write_table_line(&mut out, &header, &widths);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    write_table_line(&mut out, &rule, &widths);
    for row in &rows {
        write_table_line(&mut out, row, &widths);
    }

    let noun = if rows.len() == 1 { "row" } else { "rows" };
    let _ = writeln!(out, "({} {noun})", rows.len());
    if let Some(cursor) = result.next_cursor() {
        let _ = writeln!(out, "{}", more_rows_notice(cursor));
    }
    out
}

/// Returns the notice that more rows follow, with the --cursor of the next page.
pub fn more_rows_notice(cursor: u64) -> String {
    format!("more rows follow: run again with --cursor {cursor}")
}

fn write_table_line(out: &mut String, cells: &[String], widths: &[usize]) {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push_str(" | ");
        }
        let width = widths.get(i).copied().unwrap_or(0);
        let _ = write!(line, "{cell:<width$}");
    }
    out.push_str(line.trim_end());
    out.push('\n');
}
