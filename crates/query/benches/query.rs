//! Query speed on a generated graph of 10 000 hosts and 1 million findings.
//!
//! The graph is written once through a store sync run and kept in the target directory
//! (`query-bench-v1.db`); delete the file to regenerate it. `QGRAPH_BENCH_HOSTS` and
//! `QGRAPH_BENCH_FINDINGS_PER_HOST` shrink it for a quick run.

#![allow(clippy::unwrap_used, reason = "benchmark setup")]
#![allow(clippy::expect_used, reason = "benchmark setup")]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use qgraph_model::{
    DeclaredType, Entity, GraphObject, GraphSink, Relationship, RelationshipClass, StepDeclaration,
    StepResult, StepStatus,
};
use qgraph_query::{QueryOptions, run_query};
use qgraph_store::{GraphStore, InstanceKind, NewInstance, SqliteStore, SyncOptions, SyncRun};

const NOW: i64 = 1_768_435_200_000;
const VULNERABILITIES: usize = 2_000;
const BATCH: usize = 20_000;

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

fn declared(types: &[&str]) -> Vec<DeclaredType> {
    types
        .iter()
        .map(|t| DeclaredType {
            object_type: (*t).to_owned(),
            partial: false,
        })
        .collect()
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
    let mut run = store.begin_sync(instance.id, SyncOptions::at(NOW)).unwrap();
    let mut sequence = Sequence(7);
    let has = RelationshipClass::new("HAS").unwrap();
    let scans = RelationshipClass::new("SCANS").unwrap();
    let is = RelationshipClass::new("IS").unwrap();

    let mut service = Entity::new("vmdr", "qualys_vulnerability_manager", &["Service"]).unwrap();
    service.set("name", "VMDR");
    let mut batch = vec![GraphObject::Entity(service.clone())];
    for q in 0..VULNERABILITIES {
        let mut vuln = Entity::new(format!("vuln-{q}"), "qualys_vuln", &["Vulnerability"]).unwrap();
        vuln.set("qid", 10_000 + q as i64);
        vuln.set("cvssScore", (sequence.below(101) as f64) / 10.0);
        batch.push(GraphObject::Entity(vuln));
    }
    run.write("bench", std::mem::take(&mut batch)).unwrap();

    let severities = ["informational", "low", "medium", "high", "critical"];
    for h in 0..hosts {
        let host_key = format!("host-{h}");
        let mut host = Entity::new(&host_key, "discovered_host", &["Host"]).unwrap();
        host.set("hostname", format!("host-{h}.example.internal"));
        host.set("platform", if h % 3 == 0 { "windows" } else { "linux" });
        batch.push(GraphObject::Entity(host.clone()));
        batch.push(GraphObject::Relationship(Relationship::between(
            &service, &scans, &host,
        )));
        for f in 0..per_host {
            let level = sequence.below(5) as usize;
            let qid = sequence.below(VULNERABILITIES as u64) as usize;
            let key = format!("finding-{h}-{f}");
            let mut finding = Entity::new(&key, "qualys_host_finding", &["Finding"]).unwrap();
            finding.set("qid", 10_000 + qid as i64);
            finding.set("severity", severities[level]);
            finding.set("numericSeverity", ((level as i64 + 1) * 2).min(10));
            finding.set("open", sequence.below(4) != 0);
            finding.set("createdOn", NOW - (sequence.below(365) as i64) * 86_400_000);
            batch.push(GraphObject::Relationship(Relationship::between_keys(
                &host_key,
                "discovered_host",
                &has,
                &key,
                "qualys_host_finding",
            )));
            batch.push(GraphObject::Relationship(Relationship::between_keys(
                &key,
                "qualys_host_finding",
                &is,
                &format!("vuln-{qid}"),
                "qualys_vuln",
            )));
            batch.push(GraphObject::Entity(finding));
        }
        if batch.len() >= BATCH {
            run.write("bench", std::mem::take(&mut batch)).unwrap();
        }
    }
    run.write("bench", batch).unwrap();

    let step = StepDeclaration {
        id: "bench".into(),
        name: "Generated graph".into(),
        entity_types: declared(&[
            "qualys_vulnerability_manager",
            "qualys_vuln",
            "discovered_host",
            "qualys_host_finding",
        ]),
        relationship_types: declared(&[
            "qualys_vulnerability_manager_scans_discovered_host",
            "discovered_host_has_qualys_host_finding",
            "qualys_host_finding_is_vuln",
        ]),
        depends_on: Vec::new(),
    };
    let result = StepResult {
        id: "bench".into(),
        status: StepStatus::Success,
        started_on: NOW,
        ended_on: NOW,
        counts: Default::default(),
        errors: Vec::new(),
    };
    run.commit(&[step], &[result]).unwrap();
}

fn bench_store() -> SqliteStore {
    let hosts = env_size("QGRAPH_BENCH_HOSTS", 10_000);
    let per_host = env_size("QGRAPH_BENCH_FINDINGS_PER_HOST", 100);
    let dir = PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()));
    let path = dir.join(format!("query-bench-v1-{hosts}x{per_host}.db"));
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
