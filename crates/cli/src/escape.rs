//! Making stored text safe to print. Host names, tags and Qualys messages
//! come from the scanned network, so a value may contain terminal escape
//! sequences or a spreadsheet formula.

use std::borrow::Cow;
use std::fmt::Write as _;

use qgraph_model::{Properties, Value};
use qgraph_query::QueryResult;
use qgraph_store::plan::PlanObject;

/// First characters that make a spreadsheet read a CSV cell as a formula.
pub const CSV_FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Returns `text` with every control character (C0, DEL and C1) and every
/// bidirectional override replaced by a visible escape: `\t`, `\n`, `\r`,
/// or `\u{1b}` for the others. A terminal that received them raw could move
/// the cursor, recolour or hide text, or reorder what it shows. Backslashes
/// are kept as they are, so an escape and the same text typed literally look
/// alike.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => escaped.push_str("\\t"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            c if needs_escape(c) => {
                let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

fn needs_escape(c: char) -> bool {
    // `char::is_control` is the Unicode Cc category: U+0000–U+001F, U+007F–U+009F.
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Returns `text` with a `'` in front when it starts with one of
/// [`CSV_FORMULA_STARTS`], so a spreadsheet that opens the CSV file shows
/// the text instead of evaluating it as a formula.
pub fn guard_csv_formula(text: &str) -> Cow<'_, str> {
    if text.starts_with(CSV_FORMULA_STARTS) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Returns `result` with [`escape_controls`] applied to every column name,
/// property name and string value, strings inside arrays included. For
/// text tables: JSON output must keep the stored values.
pub fn escape_result_controls(result: QueryResult) -> QueryResult {
    map_result(result, &|text| escape_controls(text).into_owned(), true)
}

/// Returns `result` with [`guard_csv_formula`] applied to every column name,
/// property name and string value. For CSV output only. Numbers are left as
/// they are, because a spreadsheet reads `-5` as a number, not a formula.
/// Arrays are left too, because a CSV cell renders them as JSON text
/// starting with `[`.
pub fn guard_result_formulas(result: QueryResult) -> QueryResult {
    map_result(result, &|text| guard_csv_formula(text).into_owned(), false)
}

/// Applies `fix` to the names and string values of `result`, and to the
/// strings inside arrays when `into_arrays` is set.
fn map_result(result: QueryResult, fix: &dyn Fn(&str) -> String, into_arrays: bool) -> QueryResult {
    let fix_properties = |properties: Properties| -> Properties {
        properties
            .into_iter()
            .map(|(name, value)| (fix(&name), map_value(value, fix, into_arrays)))
            .collect()
    };
    let fix_object = |object: PlanObject| PlanObject {
        id: object.id,
        properties: fix_properties(object.properties),
    };
    match result {
        QueryResult::List {
            entities,
            next_cursor,
        } => QueryResult::List {
            entities: entities.into_iter().map(fix_object).collect(),
            next_cursor,
        },
        QueryResult::Table {
            columns,
            rows,
            next_cursor,
        } => QueryResult::Table {
            columns: columns.iter().map(|column| fix(column)).collect(),
            rows: rows
                .into_iter()
                .map(|row| {
                    row.into_iter()
                        .map(|value| map_value(value, fix, into_arrays))
                        .collect()
                })
                .collect(),
            next_cursor,
        },
        QueryResult::Tree {
            vertices,
            edges,
            next_cursor,
        } => QueryResult::Tree {
            vertices: vertices.into_iter().map(fix_object).collect(),
            edges: edges
                .into_iter()
                .map(|mut edge| {
                    edge.properties = fix_properties(edge.properties);
                    edge
                })
                .collect(),
            next_cursor,
        },
    }
}

fn map_value(value: Value, fix: &dyn Fn(&str) -> String, into_arrays: bool) -> Value {
    match value {
        Value::String(text) => Value::String(fix(&text)),
        Value::Array(items) if into_arrays => Value::Array(
            items
                .into_iter()
                .map(|item| map_value(item, fix, into_arrays))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(
            escape_controls("host-1.example.com ünïcode"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(guard_csv_formula("host"), Cow::Borrowed(_)));
    }

    #[test]
    fn control_characters_become_visible() {
        for (raw, shown) in [
            ("a\u{1b}[31mred", "a\\u{1b}[31mred"),
            ("csi\u{9b}2J", "csi\\u{9b}2J"),
            ("line\nbreak\r\ttab", "line\\nbreak\\r\\ttab"),
            ("nul\u{0}del\u{7f}", "nul\\u{0}del\\u{7f}"),
            ("bidi\u{202e}txt.exe", "bidi\\u{202e}txt.exe"),
            ("back\\slash", "back\\slash"),
        ] {
            assert_eq!(escape_controls(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn formula_starts_are_quoted() {
        for (raw, shown) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tcmd", "'\tcmd"),
            ("\rcmd", "'\rcmd"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(guard_csv_formula(raw), shown, "{raw:?}");
        }
    }
}
