//! Query speed on a generated graph of 10 000 hosts and 1 million findings.
//!
//! The graph is written once with bulk SQL and kept in the target directory
//! (`query-bench-v3-{hosts}x{findings per host}.db`); delete the file to regenerate it. `QGRAPH_BENCH_HOSTS` and
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

/// Writes the graph with bulk SQL: the rows a sync run and its mapper write for these
/// entities, because the store's sync commit takes minutes at this size.
///
/// The rows match a sync in these ways:
/// - the service, vulnerabilities and findings belong to the instance;
/// - hosts are `discovered_host` placeholders of the mapper scope (instance 0), reached by
///   `SCANS` relationships resolved from mapped relationships;
/// - `Host HAS Finding` comes from the `host-has-finding` rule (instance 0, `rule_id` 3,
///   matched on `hostId`), and `Finding IS Vulnerability` is direct;
/// - properties follow the converters of `qgraph-integration`.
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

/// The owner of a row, which also sets its `_source`.
#[derive(Clone, Copy)]
enum Owner {
    Instance,
    Mapper,
}

/// The origin of a relationship: direct, resolved from a mapped relationship, or made by
/// a global mapping rule.
#[derive(Clone, Copy)]
enum Origin {
    Direct,
    Mapped(i64),
    Rule(i64),
}

/// Prepared inserts into `entities`, `entity_classes`, `mapped_relationships` and `relationships`.
struct Writer<'c> {
    entity: rusqlite::Statement<'c>,
    class: rusqlite::Statement<'c>,
    mapping: rusqlite::Statement<'c>,
    relationship: rusqlite::Statement<'c>,
    instance: i64,
    next_entity: i64,
    next_mapping: i64,
}

impl<'c> Writer<'c> {
    fn new(conn: &'c rusqlite::Connection, instance: i64) -> Self {
        Writer {
            entity: conn
                .prepare(
                    "INSERT INTO entities (id, instance_id, entity_key, entity_type, classes, \
                     display_name, properties, source, step_id, created_on, updated_on, version) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, 1)",
                )
                .unwrap(),
            class: conn
                .prepare("INSERT INTO entity_classes (entity_id, class) VALUES (?1, ?2)")
                .unwrap(),
            mapping: conn
                .prepare(
                    "INSERT INTO mapped_relationships (id, instance_id, relationship_key, \
                     relationship_type, class, display_name, properties, direction, \
                     source_entity_key, target_filter_keys, target_entity, skip_target_creation, \
                     step_id, created_on, updated_on, version) \
                     VALUES (?1, ?2, ?3, ?4, 'SCANS', 'SCANS', '{}', 'FORWARD', ?5, \
                     '[[\"_class\",\"qualysQwebHostId\"]]', ?6, 0, 'fetch-host-assets', ?7, ?7, 1)",
                )
                .unwrap(),
            relationship: conn
                .prepare(
                    "INSERT INTO relationships (instance_id, relationship_key, relationship_type, \
                     class, from_id, to_id, display_name, properties, source, step_id, \
                     mapping_id, rule_id, created_on, updated_on, version) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?4, '{}', ?7, ?8, ?9, ?10, ?11, ?11, 1)",
                )
                .unwrap(),
            instance,
            next_entity: 1,
            next_mapping: 1,
        }
    }

    fn owner(&self, owner: Owner) -> (i64, &'static str) {
        match owner {
            Owner::Instance => (self.instance, "integration-managed"),
            Owner::Mapper => (0, "system-mapper"),
        }
    }

    /// Inserts an entity of one class and returns its row id.
    fn entity(
        &mut self,
        owner: Owner,
        key: &str,
        entity_type: &str,
        class: &str,
        properties: &Value,
    ) -> i64 {
        let id = self.next_entity;
        self.next_entity += 1;
        let (instance, source) = self.owner(owner);
        let step = match owner {
            Owner::Instance => Some("bench"),
            Owner::Mapper => None,
        };
        let classes = format!("[\"{class}\"]");
        let name = properties.get("name").and_then(Value::as_str);
        self.entity
            .execute(rusqlite::params![
                id,
                instance,
                key,
                entity_type,
                classes,
                name,
                properties.to_string(),
                source,
                step,
                NOW
            ])
            .unwrap();
        self.class.execute(rusqlite::params![id, class]).unwrap();
        id
    }

    /// Inserts the `SCANS` mapped relationship from the service to a host and returns its id.
    fn scans_mapping(&mut self, service_key: &str, target: &Value) -> i64 {
        let id = self.next_mapping;
        self.next_mapping += 1;
        let key = format!("{service_key}|scans|{}", target["_key"].as_str().unwrap());
        self.mapping
            .execute(rusqlite::params![
                id,
                self.instance,
                key,
                "qualys_vulnerability_manager_scans_discovered_host",
                service_key,
                target.to_string(),
                NOW
            ])
            .unwrap();
        id
    }

    fn relationship(
        &mut self,
        from: (i64, &str),
        class: &str,
        to: (i64, &str),
        type_: &str,
        origin: Origin,
    ) {
        let (owner, key, mapping, rule) = match origin {
            Origin::Direct => (
                Owner::Instance,
                format!("{}|{}|{}", from.1, class.to_lowercase(), to.1),
                None,
                None,
            ),
            Origin::Mapped(id) => (
                Owner::Instance,
                format!("{}|{}|{}", from.1, class.to_lowercase(), to.1),
                Some(id),
                None,
            ),
            Origin::Rule(id) => (
                Owner::Mapper,
                format!("rule:{id}:{}:{}", from.0, to.0),
                None,
                Some(id),
            ),
        };
        let (instance, source) = self.owner(owner);
        let (source, step) = match origin {
            Origin::Direct => (source, Some("bench")),
            _ => ("system-mapper", None),
        };
        self.relationship
            .execute(rusqlite::params![
                instance, key, type_, class, from.0, to.0, source, step, mapping, rule, NOW
            ])
            .unwrap();
    }
}

/// The id of the `host-has-finding` global mapping rule in migration 0001.
const HOST_HAS_FINDING_RULE: i64 = 3;

fn write_graph(writer: &mut Writer<'_>, hosts: usize, per_host: usize) {
    let mut sequence = Sequence(7);
    let service_key = "qualys-service:vmdr";
    let service = writer.entity(
        Owner::Instance,
        service_key,
        "qualys_vulnerability_manager",
        "Service",
        &json!({"name": "Qualys Vulnerability Manager", "category": ["software"], "function": ["scanning"]}),
    );
    let vulns = write_vulnerabilities(writer, &mut sequence);
    for h in 0..hosts {
        write_host(
            writer,
            &mut sequence,
            (service, service_key),
            &vulns,
            h,
            per_host,
        );
    }
}

fn write_vulnerabilities(writer: &mut Writer<'_>, sequence: &mut Sequence) -> Vec<i64> {
    let severities = ["informational", "low", "medium", "high", "critical"];
    let mut vulns = Vec::with_capacity(VULNERABILITIES);
    for q in 0..VULNERABILITIES {
        let qid = 10_000 + q as i64;
        let cvss = (sequence.below(101) as f64) / 10.0;
        let level = sequence.below(5) as usize;
        let properties = json!({
            "name": format!("Vulnerability {qid}"),
            "id": qid.to_string(),
            "qid": qid,
            "webLink": format!("https://qualysguard.example.invalid/fo/common/vuln_info.php?id={qid}"),
            "category": "Local",
            "severity": severities[level],
            "numericSeverity": ((level as i64 + 1) * 2).min(10),
            "severityLevel": level + 1,
            "cveIds": [format!("CVE-2024-{:05}", q)],
            "publishedOn": NOW - 400 * 86_400_000,
            "patchable": q.is_multiple_of(2),
            "solution": "Apply the vendor update that fixes this issue. ".repeat(8),
            "cvssScore": cvss,
            "score": cvss,
            "kbFetchedOn": NOW,
        });
        vulns.push(writer.entity(
            Owner::Instance,
            &format!("vuln-qid:{qid}"),
            "qualys_vuln",
            "Vulnerability",
            &properties,
        ));
    }
    vulns
}

fn write_host(
    writer: &mut Writer<'_>,
    sequence: &mut Sequence,
    service: (i64, &str),
    vulns: &[i64],
    h: usize,
    per_host: usize,
) {
    let host_id = 100_000 + h as u64;
    let host_key = format!("Host:{host_id}");
    let hostname = format!("host-{h}.example.internal");
    let ip = format!("10.{}.{}.{}", h / 65_536, (h / 256) % 256, h % 256);
    let (os, platform) = if h.is_multiple_of(3) {
        ("Windows Server 2022", "windows")
    } else {
        ("Ubuntu Linux 22.04", "linux")
    };
    let target = json!({
        "_class": ["Host"],
        "_type": "discovered_host",
        "_key": host_key,
        "name": hostname,
        "displayName": hostname,
        "hostname": hostname,
        "fqdn": hostname,
        "os": os,
        "platform": platform,
        "qualysAssetId": 5_000_000 + h as u64,
        "qualysQwebHostId": host_id,
        "qualysCreatedOn": NOW - 500 * 86_400_000,
        "lastScannedOn": NOW - 86_400_000,
        "scannedBy": "qualys",
        "ipAddress": ip,
        "tags": ["Cloud Agent", if h.is_multiple_of(2) { "prod" } else { "dev" }],
        "id": [(5_000_000 + h as u64).to_string(), host_id.to_string()],
    });
    let mut properties = target.clone();
    for name in ["_class", "_type", "_key", "displayName"] {
        properties.as_object_mut().unwrap().remove(name);
    }
    let host = writer.entity(
        Owner::Mapper,
        &host_key,
        "discovered_host",
        "Host",
        &properties,
    );
    let mapping = writer.scans_mapping(service.1, &target);
    writer.relationship(
        service,
        "SCANS",
        (host, &host_key),
        "qualys_vulnerability_manager_scans_discovered_host",
        Origin::Mapped(mapping),
    );
    for f in 0..per_host {
        let (finding, key, qid) = write_finding(writer, sequence, host_id, &hostname, &ip, f);
        writer.relationship(
            (host, &host_key),
            "HAS",
            (finding, &key),
            "discovered_host_has_qualys_host_finding",
            Origin::Rule(HOST_HAS_FINDING_RULE),
        );
        let vuln_key = format!("vuln-qid:{}", 10_000 + qid);
        writer.relationship(
            (finding, &key),
            "IS",
            (vulns[qid], &vuln_key),
            "qualys_host_finding_is_vuln",
            Origin::Direct,
        );
    }
}

/// Inserts one finding and returns its row id, key and vulnerability index.
fn write_finding(
    writer: &mut Writer<'_>,
    sequence: &mut Sequence,
    host_id: u64,
    hostname: &str,
    ip: &str,
    f: usize,
) -> (i64, String, usize) {
    let severities = ["informational", "low", "medium", "high", "critical"];
    let level = sequence.below(5) as usize;
    let qid = sequence.below(VULNERABILITIES as u64) as usize;
    let open = sequence.below(4) != 0;
    let first_found = NOW - (sequence.below(365) as i64) * 86_400_000;
    let port = 1024 + f as u64;
    let key = format!(
        "hostId:{host_id}|port:{port}|protocol:tcp|qid:{}",
        10_000 + qid
    );
    let properties = json!({
        "name": format!("QID {}", 10_000 + qid),
        "qid": 10_000 + qid as i64,
        "hostId": host_id,
        "category": "system-scan",
        "type": "Confirmed",
        "id": (host_id * 1_000 + f as u64).to_string(),
        "uniqueVulnId": host_id * 1_000 + f as u64,
        "severity": severities[level],
        "numericSeverity": ((level as i64 + 1) * 2).min(10),
        "qualysSeverity": level + 1,
        "status": if open { "Active" } else { "Fixed" },
        "open": open,
        "isIgnored": false,
        "isDisabled": false,
        "numTimesFound": 1 + sequence.below(20),
        "port": port,
        "protocol": "tcp",
        "ssl": false,
        "ipAddress": ip,
        "createdOn": first_found,
        "firstFoundOn": first_found,
        "updatedOn": NOW - 86_400_000,
        "lastFoundOn": NOW - 86_400_000,
        "lastTestedOn": NOW - 86_400_000,
        "lastUpdatedOn": NOW - 86_400_000,
        "lastProcessedOn": NOW - 86_400_000,
        "fqdn": hostname,
        "targets": [ip, host_id.to_string(), hostname],
    });
    let finding = writer.entity(
        Owner::Instance,
        &key,
        "qualys_host_finding",
        "Finding",
        &properties,
    );
    (finding, key, qid)
}

fn bench_store() -> SqliteStore {
    let hosts = env_size("QGRAPH_BENCH_HOSTS", 10_000);
    let per_host = env_size("QGRAPH_BENCH_FINDINGS_PER_HOST", 100);
    let dir = PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()));
    let path = dir.join(format!("query-bench-v3-{hosts}x{per_host}.db"));
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
        let mut checked = false;
        group.bench_function(name, |b| {
            // A first run checks that the query works and warms the page cache. It runs
            // inside the closure, which criterion calls once per sample, so that a name
            // filter skips it along with the benchmark.
            if !checked {
                let result = run_query(&store, text, &options).expect(name);
                eprintln!("{name}: {}", summary(&result));
                checked = true;
            }
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
