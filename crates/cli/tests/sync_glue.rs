//! The sync glue against the simulator: success, incremental re-sync,
//! partial runs that delete nothing, failed verification and removal.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;

use common::{
    SIM_PASSWORD, TempDir, WRONG_PASSWORD, count_of, entity_counts, open_store,
    relationship_counts, sim_config, start_sim,
};
use qgraph_cli::instances::{CheckOptions, add_instance, edit_instance, remove_instance};
use qgraph_cli::sync::{SyncError, SyncRequest, sync_instance};
use qgraph_integration::{NoProgress, RawConfig, Secret};
use qgraph_model::{RunStatus, StepStatus};
use qgraph_qualys_sim::{Endpoint, FaultKind, FaultRule};
use qgraph_store::{GraphStore, JobStatus, SqliteStore};

const UNCHECKED: CheckOptions = CheckOptions {
    allow_loopback: true,
    verify: false,
};
const HOUR_MS: i64 = 3_600_000;

async fn sync_at(
    store: &SqliteStore,
    name: &str,
    now_ms: i64,
) -> Result<qgraph_cli::sync::SyncSummary, SyncError> {
    let request = SyncRequest::new(now_ms, &NoProgress);
    sync_instance(store, name, &request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_stores_graph_and_resyncs_incrementally() {
    let sim = start_sim(40).await;
    let dir = TempDir::new("sync");
    let store = open_store(&dir);
    add_instance(
        &store,
        "s",
        sim_config(&sim.base_url(), SIM_PASSWORD),
        UNCHECKED,
    )
    .await
    .unwrap();
    let now = qgraph_cli::now_ms();

    let first = sync_at(&store, "s", now).await.unwrap();

    assert_eq!(first.status, RunStatus::Success);
    assert_eq!(first.exit_code(), 0);
    let counts = entity_counts(&store);
    assert_eq!(count_of(&counts, "qualys_account"), 1);
    assert_eq!(count_of(&counts, "qualys_vulnerability_manager"), 1);
    assert_eq!(count_of(&counts, "qualys_web_app_scanner"), 1);
    let findings = count_of(&counts, "qualys_host_finding");
    assert!(findings > 0, "{counts:?}");
    assert_eq!(
        first
            .steps
            .iter()
            .find(|s| s.id == "fetch-scanned-host-detections")
            .unwrap()
            .counts["qualys_host_finding"],
        findings
    );
    assert!(count_of(&counts, "qualys_vuln") > 0, "{counts:?}");
    assert_eq!(
        first.report.entities_created,
        counts.iter().map(|(_, c)| c).sum::<u64>()
            - count_of(&counts, "aws_instance")
            - count_of(&counts, "discovered_host")
            - count_of(&counts, "google_compute_instance")
            - count_of(&counts, "web_app")
    );
    let instance = store.instance_by_name("s").unwrap().unwrap();
    let window_end = store.window_end(instance.id, "host-findings").unwrap();
    assert_eq!(window_end, Some(now / 1000 * 1000));

    let second = sync_at(&store, "s", now + HOUR_MS).await.unwrap();

    assert_eq!(second.status, RunStatus::Success);
    assert_eq!(second.report.entities_created, 0);
    assert_eq!(second.report.entities_deleted, 0);
    assert_eq!(entity_counts(&store), counts);
    let jobs = store.jobs(instance.id, 10).unwrap();
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|j| j.status == JobStatus::Success));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_knowledge_base_makes_run_partial() {
    let sim = start_sim(20).await;
    sim.handle().inject(FaultRule::always(
        Endpoint::KnowledgeBase,
        FaultKind::ServerError { status: 503 },
    ));
    let dir = TempDir::new("partial");
    let store = open_store(&dir);
    add_instance(
        &store,
        "p",
        sim_config(&sim.base_url(), SIM_PASSWORD),
        UNCHECKED,
    )
    .await
    .unwrap();

    let summary = sync_at(&store, "p", qgraph_cli::now_ms()).await.unwrap();

    assert_eq!(summary.status, RunStatus::PartialSuccess);
    assert_eq!(summary.exit_code(), 2);
    let vulns = summary
        .steps
        .iter()
        .find(|s| s.id == "fetch-finding-vulns")
        .unwrap();
    assert_eq!(vulns.status, StepStatus::Failure);
    assert!(!vulns.errors.is_empty());
    assert!(
        vulns.errors.iter().any(|e| e.code.is_some()),
        "{:?}",
        vulns.errors
    );
    let counts = entity_counts(&store);
    assert!(count_of(&counts, "qualys_host_finding") > 0, "{counts:?}");
    assert_eq!(count_of(&counts, "qualys_vuln"), 0);
    let instance = store.instance_by_name("p").unwrap().unwrap();
    assert_eq!(
        store.jobs(instance.id, 1).unwrap()[0].status,
        JobStatus::PartialSuccess
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_endpoint_deletes_nothing() {
    let sim = start_sim(30).await;
    let dir = TempDir::new("no-delete");
    let store = open_store(&dir);
    add_instance(
        &store,
        "d",
        sim_config(&sim.base_url(), SIM_PASSWORD),
        UNCHECKED,
    )
    .await
    .unwrap();
    let now = qgraph_cli::now_ms();
    sync_at(&store, "d", now).await.unwrap();
    let entities = entity_counts(&store);
    let relationships = relationship_counts(&store);
    sim.handle().inject(FaultRule::always(
        Endpoint::HostList,
        FaultKind::ServerError { status: 503 },
    ));

    let summary = sync_at(&store, "d", now + HOUR_MS).await.unwrap();

    assert_ne!(summary.status, RunStatus::Success);
    assert_ne!(summary.exit_code(), 0);
    assert_eq!(summary.report.entities_deleted, 0);
    assert_eq!(summary.report.relationships_deleted, 0);
    assert_eq!(entity_counts(&store), entities);
    assert_eq!(relationship_counts(&store), relationships);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_leave_graph_unchanged() {
    let sim = start_sim(10).await;
    let dir = TempDir::new("bad-password");
    let store = open_store(&dir);
    add_instance(
        &store,
        "b",
        sim_config(&sim.base_url(), SIM_PASSWORD),
        UNCHECKED,
    )
    .await
    .unwrap();
    let now = qgraph_cli::now_ms();
    sync_at(&store, "b", now).await.unwrap();
    let entities = entity_counts(&store);
    let wrong = RawConfig {
        qualys_password: Some(Secret::new(WRONG_PASSWORD)),
        ..RawConfig::default()
    };
    edit_instance(&store, "b", wrong, UNCHECKED).await.unwrap();

    let error = sync_at(&store, "b", now + HOUR_MS).await.unwrap_err();

    let text = format!("{error} {error:?}");
    assert!(matches!(error, SyncError::Verification { .. }), "{text}");
    assert!(text.contains(&sim.base_url()), "{text}");
    assert!(
        !text.contains(WRONG_PASSWORD),
        "the password leaked: {text}"
    );
    assert_eq!(entity_counts(&store), entities);
    let instance = store.instance_by_name("b").unwrap().unwrap();
    let jobs = store.jobs(instance.id, 1).unwrap();
    assert_eq!(jobs[0].status, JobStatus::Failure);
    let job_error = jobs[0].error.clone().unwrap_or_default();
    assert!(!job_error.contains(WRONG_PASSWORD), "{job_error}");
    sim.shutdown().await;
}

// Paused time skips the client's retry backoff between refused connections.
#[tokio::test(start_paused = true)]
async fn wrong_api_url_fails_verification() {
    // Bind a port, then free it, so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = TempDir::new("wrong-url");
    let store = open_store(&dir);
    let url = format!("http://127.0.0.1:{port}");
    add_instance(&store, "w", sim_config(&url, SIM_PASSWORD), UNCHECKED)
        .await
        .unwrap();

    let error = sync_at(&store, "w", qgraph_cli::now_ms())
        .await
        .unwrap_err();

    assert!(matches!(error, SyncError::Verification { .. }), "{error}");
    assert!(error.to_string().contains(&url), "{error}");
    assert!(entity_counts(&store).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_deletes_only_that_instance() {
    let sim = start_sim(15).await;
    let dir = TempDir::new("remove");
    let store = open_store(&dir);
    let now = qgraph_cli::now_ms();
    add_instance(
        &store,
        "one",
        sim_config(&sim.base_url(), SIM_PASSWORD),
        UNCHECKED,
    )
    .await
    .unwrap();
    sync_at(&store, "one", now).await.unwrap();
    let one_only = entity_counts(&store);
    let one_relationships = relationship_counts(&store);
    add_instance(
        &store,
        "two",
        sim_config(&sim.base_url(), SIM_PASSWORD),
        UNCHECKED,
    )
    .await
    .unwrap();
    sync_at(&store, "two", now).await.unwrap();
    assert_eq!(
        count_of(&entity_counts(&store), "qualys_host_finding"),
        2 * count_of(&one_only, "qualys_host_finding")
    );

    let report = remove_instance(&store, "one", now + HOUR_MS).unwrap();

    assert!(report.entities_deleted > 0);
    assert_eq!(report.jobs_deleted, 1);
    assert_eq!(entity_counts(&store), one_only);
    assert_eq!(relationship_counts(&store), one_relationships);
    let two = store.instance_by_name("two").unwrap().unwrap();
    assert_eq!(store.jobs(two.id, 10).unwrap().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_instance_is_not_found() {
    let dir = TempDir::new("sync-unknown");
    let store = open_store(&dir);

    let error = sync_at(&store, "ghost", 0).await.unwrap_err();

    assert!(
        matches!(error, SyncError::NotFound { ref name } if name == "ghost"),
        "{error}"
    );
}

/// Starts the generated subscription of `start_sim` as it is `day` days later.
async fn start_sim_on_day(
    hosts: u64,
    day: u32,
    start_secs: i64,
) -> qgraph_qualys_sim::RunningSimulator {
    let generated = qgraph_qualys_sim::GeneratedConfig {
        hosts,
        seed: 7,
        day,
        start_secs,
        ..qgraph_qualys_sim::GeneratedConfig::default()
    };
    qgraph_qualys_sim::Simulator::start(qgraph_qualys_sim::SimConfig::generated(generated))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purged_hosts_lose_their_findings() {
    let now = qgraph_cli::now_ms();
    let start_secs = qgraph_cli::demo::generated_start_secs(now);
    let day0 = start_sim_on_day(200, 0, start_secs).await;
    let dir = TempDir::new("purge");
    let store = open_store(&dir);
    let mut config = sim_config(&day0.base_url(), SIM_PASSWORD);
    config.ingest_web_app_scans = None;
    add_instance(&store, "c", config, UNCHECKED).await.unwrap();
    let first = sync_at(&store, "c", now).await.unwrap();
    assert_eq!(first.report.findings_retired, 0);
    let before = count_of(&entity_counts(&store), "qualys_host_finding");
    day0.shutdown().await;

    let day30 = start_sim_on_day(200, 30, start_secs).await;
    let moved = RawConfig {
        qualys_api_url: Some(day30.base_url()),
        ..RawConfig::default()
    };
    edit_instance(&store, "c", moved, UNCHECKED).await.unwrap();
    let second = sync_at(&store, "c", now + 30 * 24 * HOUR_MS).await.unwrap();

    assert_eq!(second.status, RunStatus::Success);
    assert!(second.report.findings_retired > 0, "{:?}", second.report);
    let after = count_of(&entity_counts(&store), "qualys_host_finding");
    assert!(
        after + second.report.findings_retired >= before,
        "before {before}, after {after}, {:?}",
        second.report
    );
    day30.shutdown().await;
}
