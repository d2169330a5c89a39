//! `qgraph query` end to end: the binary on a database holding the J1QL fixture graph.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::expect_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

#[path = "../../query/tests/common/mod.rs"]
mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Writes the fixture graph to a fresh database file under the target directory.
fn fixture_db(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("graph.db");
    let store = qgraph_store::SqliteStore::open(&path).unwrap();
    drop(common::load_fixture(store));
    path
}

fn qgraph(db: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qgraph"))
        .arg("query")
        .args(args)
        .env("QGRAPH_DB", db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn query_prints_json_csv_and_table() {
    let db = fixture_db("formats");
    let query = "FIND Host AS h THAT HAS Finding WITH open = true AS f \
                 RETURN h.hostname, count(f) AS openFindings ORDER BY openFindings DESC";

    let json = qgraph(&db, &[query, "--format", "json"], None);
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let value: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(value["type"], "table");
    assert_eq!(value["data"][0]["h.hostname"], "web-1");
    assert_eq!(value["data"][0]["openFindings"], 2);

    let csv = qgraph(&db, &[query, "--format", "csv"], None);
    assert_eq!(
        stdout(&csv),
        "h.hostname,openFindings\r\nweb-1,2\r\ndb-1,1\r\n"
    );

    let table = qgraph(&db, &[query], None);
    let text = stdout(&table);
    assert!(text.starts_with("h.hostname | openFindings\n"), "{text}");
    assert!(text.contains("(2 rows)"), "{text}");
}

#[test]
fn tree_prints_vertices_and_edges() {
    let db = fixture_db("tree");
    let output = qgraph(
        &db,
        &[
            "FIND Account THAT HAS Service RETURN TREE",
            "--format",
            "json",
        ],
        None,
    );
    let value: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(value["type"], "tree");
    assert_eq!(value["data"]["vertices"].as_array().unwrap().len(), 2);
    let edge = &value["data"]["edges"][0];
    assert_eq!(edge["relationship"]["_class"], "HAS");
}

#[test]
fn query_from_stdin() {
    let db = fixture_db("stdin");
    let output = qgraph(
        &db,
        &["-", "--format", "csv"],
        Some("FIND Host WITH platform = 'windows' AS h RETURN h.hostname\n"),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout(&output), "h.hostname\r\ndb-1\r\n");
}

#[test]
fn bad_query_exits_one_with_position() {
    let db = fixture_db("bad");
    let output = qgraph(&db, &["FIND Host THAT >> HAS Finding"], None);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 1, column 16"), "{stderr}");
    assert!(stdout(&output).is_empty());
}

#[test]
fn missing_database_is_reported() {
    let output = qgraph(Path::new("/nonexistent/qgraph.db"), &["FIND Host"], None);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not found"), "{stderr}");
}

#[test]
fn zero_page_size_is_rejected() {
    let db = fixture_db("page-size");
    let output = qgraph(&db, &["--page-size", "0", "FIND *"], None);

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--page-size"), "{stderr}");
}

#[test]
fn query_limit_is_not_a_page() {
    let db = fixture_db("limit");
    // The fixture has three hosts: the query's own LIMIT ends the result.
    let limited = qgraph(&db, &["FIND Host LIMIT 1"], None);
    assert!(
        limited.status.success(),
        "{}",
        String::from_utf8_lossy(&limited.stderr)
    );
    let text = stdout(&limited);
    assert!(text.contains("(1 row)\n"), "{text}");
    assert!(!text.contains("more rows follow"), "{text}");

    // A page that the page size cut does have a next page.
    let paged = qgraph(&db, &["FIND Host", "--page-size", "1"], None);
    let text = stdout(&paged);
    assert!(text.contains("(1 row)\n"), "{text}");
    assert!(
        text.contains("more rows follow: run again with --cursor 1"),
        "{text}"
    );
}

/// Writes 40 entities in a ring where each `HAS` the next three to a fresh database,
/// so that a chain of undirected hops has six choices per hop.
fn ring_db(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("graph.db");
    let entities: Vec<serde_json::Value> = (0..40)
        .map(
            |i| serde_json::json!({"_key": format!("T{i}"), "_type": "thing", "_class": ["Thing"]}),
        )
        .collect();
    let relationships: Vec<serde_json::Value> = (0..40)
        .flat_map(|i| (1..=3).map(move |step| (i, (i + step) % 40)))
        .map(|(from, to)| serde_json::json!({"from": format!("T{from}"), "class": "HAS", "to": format!("T{to}")}))
        .collect();
    let graph = serde_json::json!({"entities": entities, "relationships": relationships});
    let store = qgraph_store::SqliteStore::open(&path).unwrap();
    drop(common::load_graph(store, graph));
    path
}

/// Counts the ends of all 40 * 6^7 (about 11 million) paths of seven undirected hops,
/// which takes seconds without a limit.
const SLOW_QUERY: &str = "FIND thing AS a THAT RELATES TO thing THAT RELATES TO thing \
    THAT RELATES TO thing THAT RELATES TO thing THAT RELATES TO thing \
    THAT RELATES TO thing THAT RELATES TO thing AS z RETURN count(z)";

fn assert_timed_out(output: &Output) {
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("timed out after 50ms and was stopped"),
        "{stderr}"
    );
    assert!(stderr.contains("RELATES TO hops"), "{stderr}");
    assert!(stderr.contains("raise --timeout"), "{stderr}");
    assert!(stdout(output).is_empty());
}

#[test]
fn timeout_flag_stops_slow_query() {
    let db = ring_db("timeout-flag");

    let output = qgraph(&db, &[SLOW_QUERY, "--timeout", "0.05"], None);

    assert_timed_out(&output);
}

#[test]
fn timeout_from_environment_stops_slow_query() {
    let db = ring_db("timeout-env");

    let output = Command::new(env!("CARGO_BIN_EXE_qgraph"))
        .args(["query", SLOW_QUERY])
        .env("QGRAPH_DB", &db)
        .env("QGRAPH_QUERY_TIMEOUT", "0.05")
        .output()
        .unwrap();

    assert_timed_out(&output);
}

#[test]
fn zero_timeout_runs_without_limit() {
    let db = ring_db("timeout-zero");

    let output = qgraph(
        &db,
        &[
            "FIND thing AS a THAT RELATES TO thing AS z RETURN count(z) AS ends",
            "--timeout",
            "0",
            "--format",
            "csv",
        ],
        None,
    );

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout(&output), "ends\r\n40\r\n");
}

#[test]
fn invalid_timeout_is_rejected() {
    let db = ring_db("timeout-invalid");
    for value in ["-1", "soon", "NaN", "inf"] {
        let output = qgraph(&db, &["FIND thing", &format!("--timeout={value}")], None);

        // A usage error exits with 1; 2 is the status of a partial sync.
        assert_eq!(output.status.code(), Some(1), "--timeout {value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--timeout"), "{stderr}");
        assert!(stderr.contains("invalid number of seconds"), "{stderr}");
    }
}

#[test]
fn tree_and_csv_pages_name_cursor() {
    let db = fixture_db("tree-pages");
    let query = "FIND Host THAT HAS Finding RETURN TREE";
    let all = qgraph(&db, &[query, "--format", "json"], None);
    let all: serde_json::Value = serde_json::from_str(&stdout(&all)).unwrap();
    let edges = all["data"]["edges"].as_array().unwrap().len();
    assert!(edges >= 3, "{all}");
    assert!(all["cursor"].is_null(), "{all}");

    // One path per page: each page has one edge and names the next cursor.
    let first = qgraph(&db, &[query, "--format", "json", "--page-size", "1"], None);
    let first: serde_json::Value = serde_json::from_str(&stdout(&first)).unwrap();
    assert_eq!(first["data"]["edges"].as_array().unwrap().len(), 1);
    assert_eq!(first["cursor"], 1);

    let table = qgraph(&db, &[query, "--page-size", "1"], None);
    let text = stdout(&table);
    assert!(
        text.contains("more rows follow: run again with --cursor 1"),
        "{text}"
    );

    let last_cursor = (edges - 1).to_string();
    let last = qgraph(
        &db,
        &[
            query,
            "--format",
            "json",
            "--page-size",
            "1",
            "--cursor",
            &last_cursor,
        ],
        None,
    );
    let last: serde_json::Value = serde_json::from_str(&stdout(&last)).unwrap();
    assert_eq!(last["data"]["edges"].as_array().unwrap().len(), 1);
    assert!(last["cursor"].is_null(), "{last}");

    // CSV keeps the notice out of the rows, on standard error.
    let csv = qgraph(
        &db,
        &["FIND Host", "--format", "csv", "--page-size", "1"],
        None,
    );
    assert!(csv.status.success());
    let rows = stdout(&csv);
    assert!(!rows.contains("more rows"), "{rows}");
    assert_eq!(rows.lines().count(), 2, "{rows}");
    let stderr = String::from_utf8_lossy(&csv.stderr);
    assert!(
        stderr.contains("more rows follow: run again with --cursor 1"),
        "{stderr}"
    );
}

#[test]
fn duplicate_column_names_rejected() {
    let db = fixture_db("duplicate-columns");
    let queries = [
        (
            "FIND Host AS h THAT HAS Finding AS f RETURN h._key AS k, f._key AS k",
            "column `k` appears more than once",
        ),
        (
            "FIND Host AS h THAT HAS Finding AS f RETURN h.hostname, f._key AS 'h.hostname'",
            "column `h.hostname` appears more than once",
        ),
        (
            "FIND Host AS h THAT HAS Finding AS f RETURN h.*, f._key AS 'h._key'",
            "column `h._key` appears more than once",
        ),
    ];
    for (query, message) in queries {
        let output = qgraph(&db, &[query, "--format", "json"], None);
        assert_eq!(output.status.code(), Some(1), "{query}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{query}: {stderr}");
        assert!(
            stderr.contains("give each column its own name with AS"),
            "{stderr}"
        );
    }

    // The same value twice keeps one JSON key and loses nothing.
    let output = qgraph(
        &db,
        &[
            "FIND Host AS h RETURN h.*, h.hostname, h.hostname LIMIT 1",
            "--format",
            "json",
        ],
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
