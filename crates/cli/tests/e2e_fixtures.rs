//! End to end on the recorded Qualys responses: the simulator replays the
//! fixtures, the glue syncs them into SQLite, and the graph is compared with
//! the golden summary in `tests/golden/fixtures-sync.txt`.
//!
//! The golden file contains every entity and relationship count and the
//! property values of the objects it names. Set `QGRAPH_UPDATE_GOLDEN=1` to
//! rewrite it from the current sync (then review the diff by hand).

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;
mod e2e_support;

use std::fmt::Write as _;

use common::{SIM_PASSWORD, TempDir, open_store, sim_config};
use e2e_support::{Snapshot, add, line_diff, sync_at};
use qgraph_model::RunStatus;
use qgraph_qualys_sim::{SimConfig, Simulator};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/qualys"
);
const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/golden/fixtures-sync.txt"
);

/// Properties recorded for the first entity (by key) of each type when the
/// golden file is regenerated.
const PROBES: &[(&str, &[&str])] = &[
    (
        "qualys_host_finding",
        &[
            "qid",
            "severity",
            "numericSeverity",
            "open",
            "status",
            "type",
            "targets",
            "firstFoundOn",
            "lastFoundOn",
            "hostId",
            "production",
            "public",
        ],
    ),
    (
        "qualys_vuln",
        &["qid", "severity", "numericSeverity", "cveIds"],
    ),
    ("cve", &["name", "cvssScore", "webLink"]),
    ("aws_instance", &["instanceId", "accountId", "region"]),
    ("google_compute_instance", &["id", "projectId", "zone"]),
    (
        "qualys_web_app_finding",
        &["qid", "severity", "numericSeverity", "open"],
    ),
];

/// Probes the golden file always contains, whatever sorts first: a GCP
/// instance id above 2^53, which must survive as the exact string, and a
/// vulnerability with a CVE.
const FIXED_PROBES: &[(&str, &str, &str)] = &[
    (
        "google_compute_instance",
        "https://www.googleapis.com/compute/v1/projects/test_account/zones/us-central1-a/instances/gcp-2-qualys",
        "id",
    ),
    ("qualys_vuln", "vuln-qid:150272", "cveIds"),
    ("qualys_vuln", "vuln-qid:150272", "severity"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_fixtures_match_golden_summary() {
    let sim = Simulator::start(SimConfig::replay(FIXTURES)).await.unwrap();
    let dir = TempDir::new("e2e-fixtures");
    let store = open_store(&dir);
    add(&store, "rec", sim_config(&sim.base_url(), SIM_PASSWORD)).await;

    let summary = sync_at(&store, "rec", qgraph_cli::now_ms()).await.unwrap();
    let snapshot = Snapshot::read(&store, None);
    sim.shutdown().await;

    assert_eq!(summary.status, RunStatus::Success, "{:?}", summary.steps);
    let expected = std::fs::read_to_string(GOLDEN).unwrap_or_default();
    if std::env::var_os("QGRAPH_UPDATE_GOLDEN").is_some() {
        let fresh = render_golden(&snapshot, &summary.unknown_qids, &default_probes(&snapshot));
        std::fs::write(GOLDEN, &fresh).unwrap();
        return;
    }
    let actual = render_golden(&snapshot, &summary.unknown_qids, &golden_probes(&expected));
    let diff = line_diff(&expected, &actual);
    assert!(
        diff.is_empty(),
        "the synced graph differs from {GOLDEN} (- golden, + actual):\n{diff}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_instance_id_stays_exact() {
    let sim = Simulator::start(SimConfig::replay(FIXTURES)).await.unwrap();
    let dir = TempDir::new("e2e-gcp");
    let store = open_store(&dir);
    add(&store, "rec", sim_config(&sim.base_url(), SIM_PASSWORD)).await;

    sync_at(&store, "rec", qgraph_cli::now_ms()).await.unwrap();
    let snapshot = Snapshot::read(&store, None);
    sim.shutdown().await;

    let ids: Vec<String> = snapshot
        .entities_of("google_compute_instance")
        .filter_map(|(_, entity)| entity.get("id").map(ToString::to_string))
        .collect();
    // 2152878541443265333 is above 2^53, so a float would round it.
    assert!(
        ids.iter().any(|id| id.contains("2152878541443265333")),
        "{ids:?}"
    );
    assert!(
        ids.iter().any(|id| id.contains("215287854144326580")),
        "{ids:?}"
    );
}

/// A (type, key, property) triple whose value the golden file records.
type Probe = (String, String, String);

fn default_probes(snapshot: &Snapshot) -> Vec<Probe> {
    let mut probes = Vec::new();
    for (entity_type, properties) in PROBES {
        let Some((key, _)) = snapshot.entities_of(entity_type).next() else {
            continue;
        };
        for property in *properties {
            probes.push((
                (*entity_type).to_owned(),
                key.to_owned(),
                (*property).to_owned(),
            ));
        }
    }
    for (entity_type, key, property) in FIXED_PROBES {
        probes.push((
            (*entity_type).to_owned(),
            (*key).to_owned(),
            (*property).to_owned(),
        ));
    }
    probes
}

/// Reads the probes named by the `property` lines of a golden file.
fn golden_probes(golden: &str) -> Vec<Probe> {
    golden
        .lines()
        .filter_map(|line| line.strip_prefix("property "))
        .filter_map(|rest| {
            let mut parts = rest.splitn(4, ' ');
            Some((
                parts.next()?.to_owned(),
                parts.next()?.to_owned(),
                parts.next()?.to_owned(),
            ))
        })
        .collect()
}

/// Renders counts of every type and the probed values, one fact a line.
/// Keys never contain spaces, so a line splits on its first spaces.
fn render_golden(snapshot: &Snapshot, unknown_qids: &[u64], probes: &[Probe]) -> String {
    let mut out = String::new();
    // QIDs of findings that the recorded knowledge base does not contain.
    writeln!(out, "unknown-qids {unknown_qids:?}").unwrap();
    for (entity_type, count) in snapshot.entity_counts() {
        writeln!(out, "entities {entity_type} {count}").unwrap();
    }
    for (relationship_type, count) in snapshot.relationship_counts() {
        writeln!(out, "relationships {relationship_type} {count}").unwrap();
    }
    for (entity_type, key, property) in probes {
        let value = snapshot
            .entities
            .get(&(entity_type.clone(), key.clone()))
            .map_or_else(
                || "<no such entity>".to_owned(),
                |entity| {
                    entity
                        .get(property)
                        .map_or_else(|| "<unset>".to_owned(), ToString::to_string)
                },
            );
        writeln!(out, "property {entity_type} {key} {property} {value}").unwrap();
    }
    out
}
