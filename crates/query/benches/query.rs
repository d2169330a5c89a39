//! Query speed on a generated graph of 10 000 hosts and 1 million findings.
//!
//! The graph is written once with bulk SQL and kept in the target directory
//! (`query-bench-v2-{hosts}x{findings per host}.db`); delete the file to regenerate it. `QGRAPH_BENCH_HOSTS` and
//! `QGRAPH_BENCH_FINDINGS_PER_HOST` shrink it for a quick run.

#![allow(clippy::unwrap_used, reason = "benchmark setup")]
#![allow(clippy::expect_used, reason = "benchmark setup")]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use qgraph_query::{QueryOptions, run_query};
use qgraph_store::{GraphStore, InstanceKind, NewInstance, SqliteStore};
use serde_json::{Value, json};

const NOW: i64 = 1_768_435_200_000;
const VULNERABILITIES: usize = 2_000;

/// The three queries of the performance goals.
const QUERIES: [(&str, &str); 3] = [
    (
        "count_open_high_findings",
        "FIND qualys_host_finding WITH numericSeverity >= 8 AND open = true RETURN count(qualys_host_finding)",
    ),
    (
        "top_hosts_by_critical_findings",
        "FIND Host AS h THAT HAS Finding WITH severity = 'critical' AS f RETURN h.hostname, count(f) AS findings ORDER BY findings DESC LIMIT 20",
    ),
    (
        "three_hops_with_cvss_filter",
        "FIND Service THAT SCANS Host THAT HAS Finding THAT IS Vulnerability WITH cvssScore >= 9.5 AS v RETURN v.qid, count(v) AS n",
    ),
];

fn env_size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A deterministic pseudo-random sequence (SplitMix64) so every run builds the same graph.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Writes the graph with bulk SQL: the same rows a sync run of these entities and
/// relationships writes (keys, `_class` rows, relationship keys `from|verb|to`, metadata),
/// because the store's sync commit takes minutes at this size.
fn generate(path: &PathBuf, hosts: usize, per_host: usize) {
    let store = SqliteStore::open(path).unwrap();
    let instance = store
        .create_instance(NewInstance {
            name: "bench".into(),
            kind: InstanceKind::Qualys,
            config: serde_json::json!({}),
            password: None,
        })
        .unwrap();
    store.with_connection(|conn| {
        let tx = conn.unchecked_transaction().unwrap();
        let mut writer = Writer::new(&tx, instance.id.0);
        write_graph(&mut writer, hosts, per_host);
        drop(writer);
        tx.commit().unwrap();
    });
}

/// Prepared inserts into `entities`, `entity_classes` and `relationships`.
struct Writer<'c> {
    entity: rusqlite::Statement<'c>,
    class: rusqlite::Statement<'c>,
    relationship: rusqlite::Statement<'c>,
    instance: i64,
    next_entity: i64,
}

impl<'c> Writer<'c> {
    fn new(conn: &'c rusqlite::Connection, instance: i64) -> Self {
        Writer {
            entity: conn
                .prepare(
                    "INSERT INTO entities (id, instance_id, entity_key, entity_type, classes, \
                     properties, source, step_id, created_on, updated_on, version) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'integration-managed', 'bench', ?7, ?7, 1)",
                )
                .unwrap(),
            class: conn
                .prepare("INSERT INTO entity_classes (entity_id, class) VALUES (?1, ?2)")
                .unwrap(),
            relationship: conn
                .prepare(
                    "INSERT INTO relationships (instance_id, relationship_key, relationship_type, \
                     class, from_id, to_id, display_name, properties, source, step_id, \
                     created_on, updated_on, version) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?4, '{}', 'integration-managed', 'bench', \
                     ?7, ?7, 1)",
                )
                .unwrap(),
            instance,
            next_entity: 1,
        }
    }

    /// Inserts an entity of one class and returns its row id.
    fn entity(&mut self, key: &str, entity_type: &str, class: &str, properties: &Value) -> i64 {
        let id = self.next_entity;
        self.next_entity += 1;
        let classes = format!("[\"{class}\"]");
        self.entity
            .execute(rusqlite::params![
                id,
                self.instance,
                key,
                entity_type,
                classes,
                properties.to_string(),
                NOW
            ])
            .unwrap();
        self.class.execute(rusqlite::params![id, class]).unwrap();
        id
    }

    fn relationship(&mut self, from: (i64, &str), class: &str, to: (i64, &str), type_: &str) {
        let key = format!("{}|{}|{}", from.1, class.to_lowercase(), to.1);
        self.relationship
            .execute(rusqlite::params![
                self.instance,
                key,
                type_,
                class,
                from.0,
                to.0,
                NOW
            ])
            .unwrap();
    }
}

fn write_graph(writer: &mut Writer<'_>, hosts: usize, per_host: usize) {
    let mut sequence = Sequence(7);
    let service = writer.entity(
        "vmdr",
        "qualys_vulnerability_manager",
        "Service",
        &json!({"name": "VMDR"}),
    );
    let mut vulns = Vec::with_capacity(VULNERABILITIES);
    for q in 0..VULNERABILITIES {
        let cvss = (sequence.below(101) as f64) / 10.0;
        let properties = json!({"cvssScore": cvss, "qid": 10_000 + q as i64});
        vulns.push(writer.entity(
            &format!("vuln-{q}"),
            "qualys_vuln",
            "Vulnerability",
            &properties,
        ));
    }

    let severities = ["informational", "low", "medium", "high", "critical"];
    for h in 0..hosts {
        let host_key = format!("host-{h}");
        let platform = if h % 3 == 0 { "windows" } else { "linux" };
        let properties =
            json!({"hostname": format!("host-{h}.example.internal"), "platform": platform});
        let host = writer.entity(&host_key, "discovered_host", "Host", &properties);
        writer.relationship(
            (service, "vmdr"),
            "SCANS",
            (host, &host_key),
            "qualys_vulnerability_manager_scans_discovered_host",
        );
        for f in 0..per_host {
            let level = sequence.below(5) as usize;
            let qid = sequence.below(VULNERABILITIES as u64) as usize;
            let key = format!("finding-{h}-{f}");
            let properties = json!({
                "qid": 10_000 + qid as i64,
                "severity": severities[level],
                "numericSeverity": ((level as i64 + 1) * 2).min(10),
                "open": sequence.below(4) != 0,
                "createdOn": NOW - (sequence.below(365) as i64) * 86_400_000,
            });
            let finding = writer.entity(&key, "qualys_host_finding", "Finding", &properties);
            writer.relationship(
                (host, &host_key),
                "HAS",
                (finding, &key),
                "discovered_host_has_qualys_host_finding",
            );
            writer.relationship(
                (finding, &key),
                "IS",
                (vulns[qid], &format!("vuln-{qid}")),
                "qualys_host_finding_is_vuln",
            );
        }
    }
}

fn bench_store() -> SqliteStore {
    let hosts = env_size("QGRAPH_BENCH_HOSTS", 10_000);
    let per_host = env_size("QGRAPH_BENCH_FINDINGS_PER_HOST", 100);
    let dir = PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()));
    let path = dir.join(format!("query-bench-v2-{hosts}x{per_host}.db"));
    if !path.exists() {
        let started = Instant::now();
        generate(&path, hosts, per_host);
        eprintln!(
            "generated {hosts} hosts with {per_host} findings each in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    SqliteStore::open(&path).unwrap()
}

fn queries(c: &mut Criterion) {
    let store = bench_store();
    let options = QueryOptions::at(NOW);
    let mut group = c.benchmark_group("query");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for (name, text) in QUERIES {
        // A first run checks that the query works and warms the page cache.
        let result = run_query(&store, text, &options).expect(name);
        eprintln!("{name}: {:?}", summary(&result));
        group.bench_function(name, |b| {
            b.iter(|| run_query(&store, text, &options).expect(name));
        });
    }
    group.finish();
}

fn summary(result: &qgraph_query::QueryResult) -> String {
    match result {
        qgraph_query::QueryResult::Table { rows, .. } => {
            format!("{} rows, first {:?}", rows.len(), rows.first())
        }
        qgraph_query::QueryResult::List { entities, .. } => format!("{} entities", entities.len()),
        qgraph_query::QueryResult::Tree { vertices, .. } => format!("{} vertices", vertices.len()),
    }
}

criterion_group!(benches, queries);
criterion_main!(benches);
