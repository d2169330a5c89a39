//! End to end against generated subscriptions: the synced graph matches the
//! simulator's ground truth, injected throttling and failures end with the
//! same graph as a clean run, and a permanently failing endpoint makes the
//! run partial without deleting anything.
//!
//! These suites run on a fixed clock ([`e2e_support::fixed_now_ms`]), so the
//! windows the integration computes are known to the test.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;
mod e2e_support;

use std::collections::BTreeMap;

use common::{SIM_PASSWORD, TempDir, open_store, sim_config};
use e2e_support::{
    DAY_SECS, Snapshot, add, fixed_generated, fixed_now_ms, snapshot_diff, start_generated, sync_at,
};
use qgraph_model::{RunStatus, StepStatus};
use qgraph_qualys_sim::{Endpoint, FaultKind, FaultRule, SummaryFilter, summary};
use qgraph_store::GraphStore as _;

/// Days the default configuration reaches back on a first sync.
const DEFAULT_DAYS: i64 = 7;

/// Builds the ground-truth filter of a first sync with the default configuration
/// at `now_ms`: severities 3 to 5, Potential and Confirmed (no information
/// gathered), every status, and 7-day windows.
fn default_filter(now_ms: i64) -> SummaryFilter {
    let now_secs = now_ms / 1000;
    let since = now_secs - DEFAULT_DAYS * DAY_SECS;
    SummaryFilter {
        vm_processed_after_secs: Some(since),
        vm_processed_before_secs: Some(now_secs),
        detection_updated_since_secs: Some(since),
        detection_updated_before_secs: Some(now_secs),
        severities: Some(vec![3, 4, 5]),
        include_info: false,
        web_apps_scanned_after_secs: Some(since),
        findings_detected_after_secs: Some(since),
        ..SummaryFilter::default()
    }
}

/// Counts the entities of `entity_type` by the text of one property.
fn count_by(snapshot: &Snapshot, entity_type: &str, property: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for (_, entity) in snapshot.entities_of(entity_type) {
        let value = match entity.get(property) {
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => "<unset>".to_owned(),
        };
        *counts.entry(value).or_insert(0) += 1;
    }
    counts
}

fn relationships_starting(snapshot: &Snapshot, prefix: &str) -> u64 {
    snapshot
        .relationship_counts()
        .iter()
        .filter(|(t, _)| t.starts_with(prefix))
        .map(|(_, c)| c)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_sync_matches_ground_truth() {
    let generated = fixed_generated(80, 0);
    let now = fixed_now_ms(0);
    let truth = summary(&generated, &default_filter(now));
    let sim = start_generated(generated).await;
    let dir = TempDir::new("e2e-truth");
    let store = open_store(&dir);
    add(&store, "gen", sim_config(&sim.base_url(), SIM_PASSWORD)).await;

    let result = sync_at(&store, "gen", now).await.unwrap();
    let snapshot = Snapshot::read(&store, None);
    sim.shutdown().await;

    assert_eq!(result.status, RunStatus::Success, "{:?}", result.steps);
    assert!(truth.detections > 0, "{truth:?}");
    let entities = snapshot.entity_counts();
    let count = |t: &str| entities.get(t).copied().unwrap_or(0);
    assert_eq!(count("qualys_host_finding"), truth.detections, "{truth:?}");
    let kind = |k: &str| truth.hosts_by_kind.get(k).copied().unwrap_or(0);
    assert_eq!(
        relationships_starting(&snapshot, "qualys_vulnerability_manager_scans_"),
        truth.hosts - kind("azure"),
        "one SCANS relationship per listed host but Azure ones: {truth:?}"
    );
    assert_eq!(count("aws_instance"), kind("ec2"), "{truth:?}");
    assert_eq!(count("google_compute_instance"), kind("gcp"), "{truth:?}");
    assert_eq!(
        count("discovered_host"),
        kind("agent") + kind("on-premises"),
        "{truth:?}"
    );
    // An Azure VM comes only from an Azure inventory: no placeholder, so no SCANS.
    assert_eq!(count("azure_vm"), 0, "{truth:?}");
    let by_severity = count_by(&snapshot, "qualys_host_finding", "qualysSeverity");
    assert_eq!(by_severity, truth.detections_by_severity);
    let by_status = count_by(&snapshot, "qualys_host_finding", "status");
    assert_eq!(by_status, truth.detections_by_status);
    let by_type = count_by(&snapshot, "qualys_host_finding", "type");
    assert_eq!(by_type, truth.detections_by_type);
    assert_eq!(count("qualys_vuln"), truth.vulns, "{truth:?}");
    assert_eq!(count("cve"), truth.cves, "{truth:?}");
    assert_eq!(count("web_app"), truth.web_apps, "{truth:?}");
    assert_eq!(
        count("qualys_web_app_finding"),
        truth.web_app_findings,
        "{truth:?}"
    );
    assert_eq!(
        count_by(&snapshot, "qualys_host_finding", "open").get("false"),
        truth.detections_by_status.get("Fixed"),
        "Fixed detections are the closed findings"
    );
}

/// Endpoints of [`transient_faults`] with the number of faulty responses each sends.
const FAULTED_ENDPOINTS: &[(Endpoint, u64)] = &[
    (Endpoint::HostList, 1),
    (Endpoint::HostDetection, 3),
    (Endpoint::HostAsset, 1),
    (Endpoint::KnowledgeBase, 2),
    (Endpoint::WebApp, 1),
    (Endpoint::WebAppFinding, 1),
];

/// Seconds of 409 code 1965 waits in [`transient_faults`], in sequence.
const REQUESTED_WAIT_SECS: f64 = 3.0;

/// Faults that a retrying client must absorb, each on a different endpoint
/// or in a row on one endpoint.
fn transient_faults() -> Vec<FaultRule> {
    vec![
        FaultRule::once(
            Endpoint::HostList,
            FaultKind::ConcurrencyLimit { calls_to_finish: 1 },
        ),
        FaultRule::times(
            Endpoint::HostDetection,
            FaultKind::RateLimit { seconds_to_wait: 1 },
            2,
        ),
        FaultRule::once(Endpoint::HostDetection, FaultKind::ResetMidBody),
        FaultRule::once(Endpoint::HostAsset, FaultKind::ServerError { status: 503 }),
        FaultRule::once(
            Endpoint::KnowledgeBase,
            FaultKind::ServerError { status: 500 },
        ),
        FaultRule::once(
            Endpoint::KnowledgeBase,
            FaultKind::RateLimit { seconds_to_wait: 1 },
        ),
        FaultRule::once(Endpoint::WebApp, FaultKind::ServerError { status: 502 }),
        FaultRule::once(Endpoint::WebAppFinding, FaultKind::ResetMidBody),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_end_with_clean_graph() {
    let generated = fixed_generated(50, 0);
    let now = fixed_now_ms(0);
    let clean_sim = start_generated(generated.clone()).await;
    let faulty_sim = start_generated(generated).await;
    for rule in transient_faults() {
        faulty_sim.handle().inject(rule);
    }
    let clean_url = clean_sim.base_url();
    let faulty_url = faulty_sim.base_url();
    let clean_dir = TempDir::new("e2e-clean");
    let faulty_dir = TempDir::new("e2e-faulty");
    let clean_store = open_store(&clean_dir);
    let faulty_store = open_store(&faulty_dir);
    add(
        &clean_store,
        "q",
        sim_config(&clean_sim.base_url(), SIM_PASSWORD),
    )
    .await;
    add(
        &faulty_store,
        "q",
        sim_config(&faulty_sim.base_url(), SIM_PASSWORD),
    )
    .await;

    let clean = sync_at(&clean_store, "q", now).await.unwrap();
    let started = std::time::Instant::now();
    let faulty = sync_at(&faulty_store, "q", now).await.unwrap();
    let faulty_secs = started.elapsed().as_secs_f64();
    let retried: Vec<(Endpoint, u64, u64)> = FAULTED_ENDPOINTS
        .iter()
        .map(|(endpoint, _)| {
            (
                *endpoint,
                clean_sim.handle().request_count(*endpoint),
                faulty_sim.handle().request_count(*endpoint),
            )
        })
        .collect();
    clean_sim.shutdown().await;
    faulty_sim.shutdown().await;

    assert_eq!(clean.status, RunStatus::Success, "{:?}", clean.steps);
    assert_eq!(faulty.status, RunStatus::Success, "{:?}", faulty.steps);
    // The fast client timings shorten backoffs and the 1960 cooldown, never
    // a wait the simulator requested: three 409 code 1965 of 1 second each.
    assert!(
        faulty_secs >= REQUESTED_WAIT_SECS,
        "the faulty run took {faulty_secs:.2}s, less than the {REQUESTED_WAIT_SECS}s Qualys asked to wait"
    );
    for ((endpoint, clean_calls, faulty_calls), (_, faults)) in
        retried.iter().zip(FAULTED_ENDPOINTS)
    {
        assert!(
            *faulty_calls >= clean_calls + faults,
            "{endpoint:?}: {faulty_calls} calls with faults, {clean_calls} without"
        );
    }
    // The two simulators differ only in their port, which links contain.
    let expected = Snapshot::read(&clean_store, None).replace_text(&clean_url, "SIM");
    let actual = Snapshot::read(&faulty_store, None).replace_text(&faulty_url, "SIM");
    assert!(
        expected.entities.len() > 100,
        "{:?}",
        expected.entity_counts()
    );
    assert_eq!(expected.entity_keys(), actual.entity_keys());
    assert_eq!(expected.relationship_keys(), actual.relationship_keys());
    let diff = snapshot_diff(&expected, &actual);
    assert!(diff.is_empty(), "the graphs differ:\n{diff}");
    assert_eq!(
        clean.report.entities_created,
        faulty.report.entities_created
    );
}

/// Syncs day 0 cleanly, then day 1 with `rule` armed, and checks the second
/// run is partial and keeps every stored object. Day 1 is needed because an
/// incremental run an hour later finds no host scanned in between and calls
/// no detection or asset endpoint at all.
/// Syncs day 0, then day 1 with `rule` armed, and checks the second run ends
/// with `status` (partial, or failed when it fetched nothing) and keeps the graph.
async fn permanent_failure_keeps_graph(rule: FaultRule, failed_step: &str, status: RunStatus) {
    let day0 = start_generated(fixed_generated(30, 0)).await;
    let dir = TempDir::new("e2e-permanent");
    let store = open_store(&dir);
    add(&store, "p", sim_config(&day0.base_url(), SIM_PASSWORD)).await;
    let first = sync_at(&store, "p", fixed_now_ms(0)).await.unwrap();
    assert_eq!(first.status, RunStatus::Success, "{:?}", first.steps);
    day0.shutdown().await;
    let before = Snapshot::read(&store, None);
    let day1 = start_generated(fixed_generated(30, 1)).await;
    day1.handle().inject(rule);
    e2e_support::point_at(&store, "p", &day1.base_url()).await;

    let second = sync_at(&store, "p", fixed_now_ms(1)).await.unwrap();
    let after = Snapshot::read(&store, None);
    day1.shutdown().await;

    assert_eq!(second.status, status, "{:?}", second.steps);
    let exit_code = if status == RunStatus::Failure { 1 } else { 2 };
    assert_eq!(second.exit_code(), exit_code);
    // The job history records the status the command printed.
    let job = store.jobs(second.instance.id, 1).unwrap().remove(0);
    assert_eq!(format!("{:?}", job.status), format!("{status:?}"));
    let step = second.steps.iter().find(|s| s.id == failed_step).unwrap();
    assert_eq!(step.status, StepStatus::Failure, "{step:?}");
    assert!(!step.errors.is_empty(), "{step:?}");
    assert_eq!(second.report.entities_deleted, 0);
    assert_eq!(second.report.relationships_deleted, 0);
    assert_eq!(second.report.mapped_deleted, 0);
    assert_eq!(second.report.findings_retired, 0);
    let missing: Vec<_> = before
        .entity_keys()
        .difference(&after.entity_keys())
        .cloned()
        .collect();
    assert!(missing.is_empty(), "deleted entities: {missing:?}");
    let missing: Vec<_> = before
        .relationship_keys()
        .difference(&after.relationship_keys())
        .cloned()
        .collect();
    assert!(missing.is_empty(), "deleted relationships: {missing:?}");

    // A finding keeps the targets and cloud ids its host details gave it,
    // whichever step failed.
    const FROM_HOST_DETAILS: [&str; 6] = [
        "targets",
        "ec2InstanceArn",
        "ec2InstanceId",
        "awsAccountId",
        "gcpInstanceSelfLink",
        "azureVmSourceId",
    ];
    let details = |finding: &serde_json::Value| -> Vec<Option<serde_json::Value>> {
        FROM_HOST_DETAILS
            .iter()
            .map(|name| finding.get(*name).cloned())
            .collect()
    };
    let after_details: BTreeMap<&str, Vec<Option<serde_json::Value>>> = after
        .entities_of("qualys_host_finding")
        .map(|(key, finding)| (key, details(finding)))
        .collect();
    let mut checked = 0;
    for (key, finding) in before.entities_of("qualys_host_finding") {
        let Some(kept) = after_details.get(key) else {
            continue;
        };
        assert_eq!(kept, &details(finding), "host details of {key}");
        checked += usize::from(finding.get("targets").is_some());
    }
    assert!(checked > 0, "no finding with targets to check");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detections_always_reset_ends_partial() {
    permanent_failure_keeps_graph(
        FaultRule::always(Endpoint::HostDetection, FaultKind::ResetMidBody),
        "fetch-scanned-host-detections",
        RunStatus::PartialSuccess,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_assets_always_500_keeps_findings() {
    // Without host details no finding of the window is written, and the day
    // brings nothing else, so the run fetched nothing and failed.
    permanent_failure_keeps_graph(
        FaultRule::always(Endpoint::HostAsset, FaultKind::ServerError { status: 500 }),
        "fetch-scanned-host-details",
        RunStatus::Failure,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_base_always_500_ends_partial() {
    // A first run caches every QID of day 0, so the knowledge base is
    // called again only for the QIDs of new detections: day 1 brings them.
    let now = fixed_now_ms(0);
    let day0 = start_generated(fixed_generated(30, 0)).await;
    let dir = TempDir::new("e2e-kb-500");
    let store = open_store(&dir);
    add(&store, "k", sim_config(&day0.base_url(), SIM_PASSWORD)).await;
    let first = sync_at(&store, "k", now).await.unwrap();
    assert_eq!(first.status, RunStatus::Success, "{:?}", first.steps);
    day0.shutdown().await;
    let before = Snapshot::read(&store, None);
    let day1 = start_generated(fixed_generated(30, 1)).await;
    day1.handle().inject(FaultRule::always(
        Endpoint::KnowledgeBase,
        FaultKind::ServerError { status: 500 },
    ));
    e2e_support::point_at(&store, "k", &day1.base_url()).await;

    let second = sync_at(&store, "k", fixed_now_ms(1)).await.unwrap();
    let after = Snapshot::read(&store, None);
    day1.shutdown().await;

    assert_eq!(
        second.status,
        RunStatus::PartialSuccess,
        "{:?}",
        second.steps
    );
    assert_eq!(second.exit_code(), 2);
    let step = second
        .steps
        .iter()
        .find(|s| s.id == "fetch-finding-vulns")
        .unwrap();
    assert_eq!(step.status, StepStatus::Failure, "{step:?}");
    assert!(
        step.errors.iter().any(|e| e.code.as_deref() == Some("500")),
        "{:?}",
        step.errors
    );
    assert_eq!(second.report.entities_deleted, 0);
    assert_eq!(second.report.relationships_deleted, 0);
    let missing: Vec<_> = before
        .entity_keys()
        .difference(&after.entity_keys())
        .cloned()
        .collect();
    assert!(missing.is_empty(), "deleted entities: {missing:?}");
    let missing: Vec<_> = before
        .relationship_keys()
        .difference(&after.relationship_keys())
        .cloned()
        .collect();
    assert!(missing.is_empty(), "deleted relationships: {missing:?}");
}

/// Arms a fault on the host list once the runner's last step is done, so
/// only the unwindowed listing of every host id after the steps fails.
struct FailListingAfterSteps {
    simulator: qgraph_qualys_sim::SimHandle,
}

impl qgraph_integration::RunObserver for FailListingAfterSteps {
    fn step_finished(&self, result: &qgraph_model::StepResult) {
        if result.id == "fetch-finding-vulns" {
            self.simulator.inject(FaultRule::always(
                Endpoint::HostList,
                FaultKind::ServerError { status: 500 },
            ));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_host_listing_makes_run_partial() {
    let day0 = start_generated(fixed_generated(30, 0)).await;
    let dir = TempDir::new("e2e-listing-500");
    let store = open_store(&dir);
    add(&store, "l", sim_config(&day0.base_url(), SIM_PASSWORD)).await;
    let observer = FailListingAfterSteps {
        simulator: day0.handle(),
    };
    let mut request = qgraph_cli::sync::SyncRequest::new(fixed_now_ms(0), &observer);
    request.client = e2e_support::fast_client();
    let summary = qgraph_cli::sync::sync_instance(&store, "l", &request)
        .await
        .unwrap();
    day0.shutdown().await;

    assert_eq!(
        summary.status,
        RunStatus::PartialSuccess,
        "{:?}",
        summary.steps
    );
    assert_eq!(summary.exit_code(), 2);
    assert_eq!(summary.report.findings_retired, 0);
    let step = summary
        .steps
        .iter()
        .find(|s| s.id == "fetch-scanned-host-ids")
        .unwrap();
    assert_eq!(step.status, StepStatus::Failure, "{step:?}");
    assert_eq!(step.errors.len(), 1, "{step:?}");
    assert!(
        step.errors[0]
            .message
            .contains("listing every host id failed, so no finding of a host"),
        "{:?}",
        step.errors[0]
    );
    assert_eq!(step.errors[0].code.as_deref(), Some("500"));
    // The windowed steps read everything, so the findings are stored.
    let findings = store
        .count_entities_by_type()
        .unwrap()
        .into_iter()
        .find(|c| c.object_type == "qualys_host_finding")
        .map_or(0, |c| c.count);
    assert!(findings > 0);
}
