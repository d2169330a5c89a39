//! Counts of the node a chain starts from run in SQLite as nested `EXISTS` walks instead
//! of joining every path, also when that node is not node 0. Each query here
//! runs twice: as written, and with `+ 0` added to its counts, which keeps it out of the
//! store so that the query engine groups the joined paths itself. Both tables must be
//! equal, row order included.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;

use common::{Recording, engine_form};

use std::time::Duration;

use qgraph_model::Value;
use qgraph_query::{QueryOptions, QueryResult, run_query};
use qgraph_store::SqliteStore;
use qgraph_store::plan::PlanOutput;
use serde_json::json;

/// Services, hosts, findings and vulnerabilities. The lowest service reaches no host
/// and the next one reaches only some vulnerabilities. Two relationships are stored
/// against the query's direction, one vulnerability is unreachable and a host relates
/// to itself.
fn graph() -> serde_json::Value {
    let entity = |key: &str, entity_type: &str, class: &str, extra: serde_json::Value| {
        let mut entity =
            json!({"_key": key, "_type": entity_type, "_class": [class], "displayName": key});
        for (name, value) in extra.as_object().unwrap() {
            entity[name] = value.clone();
        }
        entity
    };
    let vuln = |key: &str, group: &str, cvss: f64, n: i64| {
        entity(
            key,
            "vuln",
            "Vulnerability",
            json!({"group": group, "cvss": cvss, "n": n}),
        )
    };
    let edge = |from: &str, class: &str, to: &str| json!({"from": from, "class": class, "to": to});
    json!({
        "entities": [
            entity("S0", "scanner", "Service", json!({})),
            entity("S1", "scanner", "Service", json!({})),
            entity("S2", "scanner", "Service", json!({})),
            entity("A1", "app", "Application", json!({})),
            entity("H1", "host", "Host", json!({"n": 1, "os": "linux"})),
            entity("H2", "host", "Host", json!({"n": 2, "os": "linux"})),
            entity("H3", "host", "Host", json!({"n": 3, "os": "windows"})),
            entity("F1", "finding", "Finding", json!({"n": 4})),
            entity("F2", "finding", "Finding", json!({"n": 5})),
            entity("F3", "finding", "Finding", json!({"n": 6})),
            entity("F4", "finding", "Finding", json!({"n": 7})),
            entity("F5", "finding", "Finding", json!({"n": 8})),
            entity("F6", "finding", "Finding", json!({"n": 9})),
            vuln("V1", "b", 9.5, 1),
            vuln("V2", "b", 9.8, 9),
            vuln("V3", "a", 9.1, 9),
            vuln("V4", "c", 5.0, 9),
            vuln("V5", "a", 10.0, 9),
        ],
        "relationships": [
            edge("S0", "SCANS", "A1"),
            edge("S1", "SCANS", "H1"),
            edge("S2", "SCANS", "H2"),
            edge("S2", "SCANS", "H3"),
            edge("H1", "HAS", "F1"),
            edge("H1", "HAS", "F2"),
            edge("H2", "HAS", "F3"),
            // Stored against the direction of `HAS >>`.
            edge("F4", "HAS", "H2"),
            edge("H3", "HAS", "F5"),
            edge("H3", "HAS", "H3"),
            edge("F1", "IS", "V1"),
            edge("F2", "IS", "V2"),
            // Stored against the direction of `IS >>`.
            edge("V3", "IS", "F3"),
            edge("F4", "IS", "V1"),
            edge("F5", "IS", "V4"),
            // F6 has no host, so V5 has no path to a service.
            edge("F6", "IS", "V5"),
        ],
    })
}

fn store() -> SqliteStore {
    common::load_graph(SqliteStore::open_in_memory().unwrap(), graph())
}

/// Runs a query and returns its rows and the plan outputs it ran.
fn run(
    store: &SqliteStore,
    query: &str,
    options: &QueryOptions,
) -> (Vec<Vec<Value>>, Vec<PlanOutput>) {
    let recording = Recording::new(store);
    let result = run_query(&recording, query, options).unwrap_or_else(|e| panic!("{query}: {e}"));
    let QueryResult::Table { rows, .. } = result else {
        panic!("{query}: not a table");
    };
    (rows, recording.outputs.into_inner())
}

/// Checks that `query` runs as one store statement of the output `expected` and gives the
/// rows of the same query with `count(...)` turned into `count(...) + 0`, which runs in
/// the query engine. Returns the rows.
fn check_same(
    store: &SqliteStore,
    query: &str,
    expected: fn(&PlanOutput) -> bool,
) -> Vec<Vec<Value>> {
    let options = QueryOptions::at(common::NOW);
    let (rows, outputs) = run(store, query, &options);
    assert!(
        matches!(outputs.as_slice(), [output] if expected(output)),
        "{query} ran {outputs:?}"
    );
    let in_engine = engine_form(query);
    let (expected_rows, engine_outputs) = run(store, &in_engine, &options);
    assert!(
        matches!(engine_outputs.as_slice(), [PlanOutput::Paths]),
        "{in_engine} ran {engine_outputs:?}"
    );
    assert_eq!(rows, expected_rows, "{query}: rows differ");
    rows
}

fn is_grouped(output: &PlanOutput) -> bool {
    matches!(output, PlanOutput::GroupedCounts { .. })
}

fn is_count(output: &PlanOutput) -> bool {
    matches!(output, PlanOutput::CountDistinct { .. })
}

fn row(key: &str, n: i64) -> Vec<Value> {
    vec![Value::from(key), Value::Int(n)]
}

#[test]
fn services_are_stored_in_key_order() {
    // The group order below depends on S0 < S1 < S2 by row id.
    let store = store();
    let options = QueryOptions::at(common::NOW);
    let (rows, _) = run(&store, "FIND Service AS s RETURN s._key, s._id", &options);
    let ids: Vec<i64> = rows.iter().map(|r| r[1].as_i64().unwrap()).collect();
    assert_eq!(rows.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{rows:?}");
    assert_eq!(rows[0][0], Value::from("S0"));
}

#[test]
fn last_node_groups_match_joined_paths() {
    let store = store();
    let query = "FIND Service THAT SCANS Host THAT HAS Finding THAT IS Vulnerability WITH cvss >= 9 AS v RETURN v.group, count(v) AS n";

    let rows = check_same(&store, query, is_grouped);

    // V1 and V2 are first reached from S1, V3 only from S2, V5 from no service.
    assert_eq!(rows, vec![row("b", 2), row("a", 1)]);
}

#[test]
fn directed_hops_walk_stored_directions() {
    let store = store();
    let query = "FIND Service THAT SCANS >> Host THAT HAS >> Finding THAT IS >> Vulnerability WITH cvss >= 9 AS v RETURN v.group, count(v) AS n";

    let rows = check_same(&store, query, is_grouped);

    // V3 IS F3 and F4 HAS H2 point the other way, so only S1's findings remain.
    assert_eq!(rows, vec![row("b", 2)]);
    let reversed = "FIND Service THAT SCANS >> Host THAT HAS >> Finding THAT IS << Vulnerability WITH cvss >= 9 AS v RETURN v.group, count(v) AS n";
    assert_eq!(check_same(&store, reversed, is_grouped), vec![row("a", 1)]);
}

#[test]
fn walk_counts_match_joined_paths() {
    let store = store();
    let options = QueryOptions::at(common::NOW);
    let cases = [
        (
            "FIND Service THAT SCANS Host THAT HAS Finding THAT IS Vulnerability WITH cvss >= 9 AS v RETURN count(v)",
            3,
        ),
        (
            "FIND Service THAT SCANS >> Host THAT HAS >> Finding THAT IS >> Vulnerability WITH cvss >= 9 AS v RETURN count(v)",
            2,
        ),
        (
            "FIND Service THAT SCANS Host THAT HAS Finding THAT IS Vulnerability WITH cvss >= 9 AS v RETURN count(v.group)",
            2,
        ),
        (
            "FIND Service THAT SCANS Host WITH os = 'linux' AS h THAT HAS Finding RETURN count(h)",
            2,
        ),
        ("FIND Host THAT HAS Host WITH n = 3 AS h RETURN count(h)", 1),
    ];
    for (query, expected) in cases {
        let (rows, outputs) = run(&store, query, &options);
        assert!(
            matches!(outputs.as_slice(), [o] if is_count(o)),
            "{query} ran {outputs:?}"
        );
        assert_eq!(rows, vec![vec![Value::Int(expected)]], "{query}");

        // The engine counts the distinct entities of the joined paths.
        let in_engine = engine_form(query);
        let (engine_rows, _) = run(&store, &in_engine, &options);
        assert_eq!(engine_rows, rows, "{in_engine}");
    }
}

#[test]
fn middle_and_first_node_groups_match_joined_paths() {
    let store = store();
    let queries = [
        // The chain starts at the host: back to the service, then forward to findings.
        "FIND Service THAT SCANS Host WITH n >= 1 AS h THAT HAS Finding THAT IS Vulnerability RETURN h.os, count(h) AS n",
        "FIND Service THAT SCANS << Host WITH n >= 1 AS h THAT HAS Finding RETURN h.os, count(h) AS n",
        // The chain starts at node 0, which orders the groups by itself.
        "FIND Host WITH n >= 1 AS h THAT HAS Finding THAT IS Vulnerability RETURN h.os, count(h) AS n, count(h.n) AS m",
        "FIND Vulnerability WITH cvss >= 9 AS v THAT IS Finding THAT HAS Host RETURN v.group, count(v) AS n",
    ];
    for query in queries {
        check_same(&store, query, is_grouped);
    }
}

#[test]
fn relationship_aliases_keep_walk_or_join() {
    let store = store();
    // An unused relationship alias does not change the walk.
    let rows = check_same(
        &store,
        "FIND Service THAT SCANS AS s Host THAT HAS Finding THAT IS Vulnerability WITH cvss >= 9 AS v RETURN v.group, count(v) AS n",
        is_grouped,
    );
    assert_eq!(rows, vec![row("b", 2), row("a", 1)]);
    // A key on a relationship needs the joined paths.
    let rows = check_same(
        &store,
        "FIND Service THAT SCANS Host THAT HAS AS r Finding THAT IS Vulnerability WITH cvss >= 9 AS v RETURN r._class, count(v) AS n",
        is_grouped,
    );
    assert_eq!(rows, vec![row("HAS", 3)]);
}

#[test]
fn where_across_aliases_filters_paths() {
    let store = store();
    // V1 (n 1) is reached from H1 (n 1) and H2 (n 2). Only H2's path has h.n > v.n.
    let query = "FIND Service THAT SCANS Host AS h THAT HAS Finding THAT IS Vulnerability WITH cvss >= 9 AS v WHERE h.n > v.n RETURN v.group, count(v) AS n";

    let rows = check_same(&store, query, is_grouped);

    assert_eq!(rows, vec![row("b", 1)]);
}

#[test]
fn keys_of_other_nodes_group_by_paths() {
    let store = store();
    // Hosts are counted per vulnerability group, so the paths between them matter.
    let query = "FIND Service THAT SCANS Host AS h THAT HAS Finding THAT IS Vulnerability WITH cvss >= 9 AS v RETURN v.group, count(h) AS n";

    let rows = check_same(&store, query, is_grouped);

    assert_eq!(rows, vec![row("b", 2), row("a", 1)]);
}

#[test]
fn negated_and_optional_hops_count_like_engine() {
    let store = store();
    let options = QueryOptions::at(common::NOW);
    let cases = [
        // F5 is the only finding without a vulnerability of CVSS 9 or more, because the
        // undirected hop also follows V3 IS F3.
        (
            "FIND Finding AS f THAT !IS Vulnerability WITH cvss >= 9 RETURN count(f)",
            1,
        ),
        // H3 has F5, H1 and H2 do not.
        (
            "FIND Service THAT SCANS Host AS h THAT !HAS Finding WITH n = 8 RETURN count(h)",
            2,
        ),
        (
            "FIND Host AS h (THAT HAS Finding WITH n = 4)? RETURN count(h)",
            3,
        ),
    ];
    for (query, expected) in cases {
        let (rows, _) = run(&store, query, &options);
        assert_eq!(rows, vec![vec![Value::Int(expected)]], "{query}");
        let (engine_rows, _) = run(&store, &engine_form(query), &options);
        assert_eq!(engine_rows, rows, "{query}");
    }
}

#[test]
fn lowest_service_found_past_probed_paths() {
    let entity = |key: &str, class: &str, extra: serde_json::Value| {
        let mut entity = json!({"_key": key, "_type": class.to_lowercase(), "_class": [class]});
        for (name, value) in extra.as_object().unwrap() {
            entity[name] = value.clone();
        }
        entity
    };
    let edge = |from: &str, class: &str, to: &str| json!({"from": from, "class": class, "to": to});
    let mut entities = vec![
        entity("S1", "Service", json!({})),
        entity("S2", "Service", json!({})),
        entity("H1", "Host", json!({})),
        entity("H2", "Host", json!({})),
        entity("VA", "Vulnerability", json!({"group": "b", "cvss": 9.0})),
        entity("VB", "Vulnerability", json!({"group": "a", "cvss": 9.0})),
        entity("VC", "Vulnerability", json!({"group": "c", "cvss": 9.0})),
    ];
    let mut relationships = vec![edge("S1", "SCANS", "H1"), edge("S2", "SCANS", "H2")];
    for i in 0..20 {
        let finding = format!("F{i:02}");
        entities.push(entity(&finding, "Finding", json!({})));
        relationships.push(edge("H2", "HAS", &finding));
        relationships.push(edge(&finding, "IS", "VB"));
        relationships.push(edge(&finding, "IS", "VC"));
    }
    // VC's one path from S1 comes after its 20 paths from S2.
    entities.push(entity("G1", "Finding", json!({})));
    entities.push(entity("G2", "Finding", json!({})));
    relationships.extend([
        edge("H1", "HAS", "G1"),
        edge("H1", "HAS", "G2"),
        edge("G2", "IS", "VA"),
        edge("G1", "IS", "VC"),
    ]);
    let graph = json!({"entities": entities, "relationships": relationships});
    let store = common::load_graph(SqliteStore::open_in_memory().unwrap(), graph);
    let query = "FIND Service THAT SCANS Host THAT HAS Finding THAT IS Vulnerability WITH cvss >= 9 AS v RETURN v.group, count(v) AS n";

    let rows = check_same(&store, query, is_grouped);

    // VA and VC are first reached from S1, VB only from S2.
    assert_eq!(rows, vec![row("b", 1), row("c", 1), row("a", 1)]);
}

/// Regression: a count of the last node of a long undirected chain joined every path
/// back to node 0, 20^8 of them here, though each entity needs one.
#[test]
fn long_chain_counts_last_node_per_entity() {
    let thing = |i: usize| json!({"_key": format!("T{i:02}"), "_type": "thing", "_class": ["Thing"], "n": i});
    let mut entities: Vec<serde_json::Value> =
        vec![json!({"_key": "HUB", "_type": "hub", "_class": ["Hub"]})];
    entities.extend((0..20).map(thing));
    let mut relationships = Vec::new();
    for i in 0..20 {
        relationships.push(json!({"from": "HUB", "class": "HAS", "to": format!("T{i:02}")}));
        for j in (i + 1)..20 {
            relationships.push(
                json!({"from": format!("T{i:02}"), "class": "HAS", "to": format!("T{j:02}")}),
            );
        }
    }
    let graph = json!({"entities": entities, "relationships": relationships});
    let store = common::load_graph(SqliteStore::open_in_memory().unwrap(), graph);
    let query = format!(
        "FIND Hub{} THAT HAS Thing WITH n >= 10 AS v RETURN v.n, count(v) AS c",
        " THAT HAS Thing".repeat(7)
    );
    let mut options = QueryOptions::at(common::NOW);
    // A regression stops at the limit with an error instead of hanging the test run.
    options.timeout = Some(Duration::from_secs(60));

    let (rows, outputs) = run(&store, &query, &options);

    assert!(
        matches!(outputs.as_slice(), [o] if is_grouped(o)),
        "{outputs:?}"
    );
    let expected: Vec<Vec<Value>> = (10..20)
        .map(|n| vec![Value::Int(n), Value::Int(1)])
        .collect();
    assert_eq!(rows, expected);
}
