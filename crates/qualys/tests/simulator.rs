//! Client tests against the Qualys simulator: paging, throttling, faults and error bodies.
//!
//! Every test runs with paused tokio time and no client timeouts, so waits the
//! client takes (throttles, backoff) advance the clock instantly and can be
//! measured, while real loopback I/O proceeds as usual.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
#![allow(clippy::expect_used, reason = "tests fail loudly on unexpected errors")]
#![allow(clippy::panic, reason = "tests fail loudly on unexpected errors")]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use qgraph_qualys::{
    ApiUrl, ClientConfig, Credentials, DetectionQuery, Endpoint, HostIdQuery, Loopback,
    QualysClient, QualysError, WebAppFindingQuery, WebAppQuery,
};
use qgraph_qualys_sim::{
    DEFAULT_PASSWORD, DEFAULT_USERNAME, Endpoint as SimEndpoint, FaultKind, FaultRule,
    GeneratedConfig, Limits, RunningSimulator, SimConfig, Simulator, SummaryFilter, summary,
};
use tokio::time::Instant;

fn generated(hosts: u64) -> GeneratedConfig {
    GeneratedConfig {
        hosts,
        detections_per_host: 6,
        knowledge_base_vulns: 500,
        web_apps: 12,
        findings_per_web_app: 9,
        ..GeneratedConfig::default()
    }
}

async fn start(config: &GeneratedConfig) -> RunningSimulator {
    Simulator::start(SimConfig::generated(config.clone()))
        .await
        .unwrap()
}

fn client_for(sim: &RunningSimulator, password: &str) -> QualysClient {
    let api_url = ApiUrl::parse(&sim.base_url(), Loopback::Allow).unwrap();
    let mut config = ClientConfig::new(api_url, Credentials::new(DEFAULT_USERNAME, password));
    // Timers would fire while loopback I/O is pending under paused time.
    config.connect_timeout = None;
    config.read_timeout = None;
    config.long_read_timeout = None;
    config.pool_idle_timeout = None;
    QualysClient::new(config).unwrap()
}

fn client(sim: &RunningSimulator) -> QualysClient {
    client_for(sim, DEFAULT_PASSWORD)
}

/// Drains a stream into records and errors.
async fn drain<T>(
    stream: impl Stream<Item = Result<T, QualysError>>,
) -> (Vec<T>, Vec<QualysError>) {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        match item {
            Ok(record) => records.push(record),
            Err(error) => errors.push(error),
        }
    }
    (records, errors)
}

async fn all_host_ids(client: &QualysClient) -> Vec<u64> {
    let (ranges, errors) = drain(client.host_ids(&HostIdQuery::default())).await;
    assert!(errors.is_empty(), "{errors:?}");
    ranges.iter().flat_map(|range| range.ids()).collect()
}

fn detection_filter() -> SummaryFilter {
    SummaryFilter {
        include_info: false,
        ..SummaryFilter::default()
    }
}

fn assert_unique(ids: &[u64]) {
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate records");
}

#[tokio::test(start_paused = true)]
async fn host_id_walk_at_several_truncation_limits() {
    let config = generated(230);
    let expected = summary(&config, &SummaryFilter::default()).hosts;
    let sim = start(&config).await;
    let client = client(&sim);
    let mut requests_before = 0;
    for page_size in [1_u32, 7, 100, 10_000] {
        let query = HostIdQuery {
            page_size,
            ..HostIdQuery::default()
        };
        let (ranges, errors) = drain(client.host_ids(&query)).await;
        assert!(errors.is_empty(), "{errors:?}");
        let ids: Vec<u64> = ranges.iter().flat_map(|range| range.ids()).collect();
        assert_eq!(ids.len() as u64, expected, "page size {page_size}");
        assert_unique(&ids);
        let requests = sim.handle().request_count(SimEndpoint::HostList) - requests_before;
        requests_before += requests;
        assert_eq!(
            requests,
            expected.div_ceil(u64::from(page_size)).max(1),
            "page size {page_size}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn detection_walk_at_several_truncation_limits() {
    let config = generated(120);
    let expected = summary(&config, &detection_filter());
    let sim = start(&config).await;
    let client = client(&sim);
    let host_ids = all_host_ids(&client).await;
    for (chunk_size, page_size) in [(1_000, 3_u32), (50, 7), (1_000, 1_000)] {
        let query = DetectionQuery {
            host_ids: host_ids.clone(),
            chunk_size,
            page_size,
            ..DetectionQuery::default()
        };
        let (hosts, errors) = drain(client.host_detections(&query)).await;
        assert!(errors.is_empty(), "{errors:?}");
        let ids: Vec<u64> = hosts.iter().map(|host| host.host_id).collect();
        assert_unique(&ids);
        assert_eq!(
            hosts.len() as u64,
            expected.hosts_with_detections,
            "chunk {chunk_size} page {page_size}"
        );
        let detections: usize = hosts.iter().map(|host| host.detections.len()).sum();
        assert_eq!(
            detections as u64, expected.detections,
            "chunk {chunk_size} page {page_size}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn rate_limit_409_waits_seconds_to_wait() {
    let config = generated(40);
    let expected = summary(&config, &detection_filter());
    let sim = start(&config).await;
    let client = client(&sim);
    let host_ids = all_host_ids(&client).await;
    sim.handle().inject(FaultRule::once(
        SimEndpoint::HostDetection,
        FaultKind::RateLimit {
            seconds_to_wait: 300,
        },
    ));

    let started = Instant::now();
    let query = DetectionQuery {
        host_ids,
        ..DetectionQuery::default()
    };
    let (hosts, errors) = drain(client.host_detections(&query)).await;
    let waited = started.elapsed();

    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(hosts.len() as u64, expected.hosts_with_detections);
    assert!(waited >= Duration::from_secs(300), "waited {waited:?}");
    assert!(waited < Duration::from_secs(400), "waited {waited:?}");
    assert_eq!(sim.handle().request_count(SimEndpoint::HostDetection), 2);
    sim.shutdown().await;
}

/// A 1965 asking for a wait over the policy's limit (an hour by default)
/// fails the page at once with the wait named, instead of sleeping for a day.
#[tokio::test(start_paused = true)]
async fn rate_limit_over_limit_fails_page() {
    let config = generated(20);
    let sim = start(&config).await;
    let client = client(&sim);
    let host_ids = all_host_ids(&client).await;
    sim.handle().inject(FaultRule::once(
        SimEndpoint::HostDetection,
        FaultKind::RateLimit {
            seconds_to_wait: 100_000,
        },
    ));

    let started = Instant::now();
    let query = DetectionQuery {
        host_ids,
        ..DetectionQuery::default()
    };
    let (_hosts, errors) = drain(client.host_detections(&query)).await;

    assert!(started.elapsed() < Duration::from_secs(60), "it waited");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = errors[0].to_string();
    assert!(
        message.contains("asked to wait 100000 s") && message.contains("3600 s"),
        "{message}"
    );
    match &errors[0] {
        QualysError::PageFailed { source, .. } => {
            assert!(matches!(
                **source,
                QualysError::WaitTooLong {
                    requested_secs: 100_000,
                    ..
                }
            ));
        }
        other => panic!("expected a failed page, got {other:?}"),
    }
    assert_eq!(sim.handle().request_count(SimEndpoint::HostDetection), 1);
    // The governor does not keep the long wait, so the next request goes out at once.
    let started = Instant::now();
    let again = all_host_ids(&client).await;
    assert!(!again.is_empty());
    assert!(started.elapsed() < Duration::from_secs(60));
    sim.shutdown().await;
}

/// A successful response whose headers ask for a wait over the policy's
/// limit (the spent budget of a day-long window) fails the next page at
/// once. The error names the wait, and no later request is held for a day.
#[tokio::test(start_paused = true)]
async fn header_wait_over_limit_fails_next_page() {
    let config = generated(20);
    let sim = start(&config).await;
    sim.handle().set_limits(Limits {
        rate_limit_calls: 2,
        rate_window_secs: 100_000,
        concurrency_limit: 10,
    });
    let client = client(&sim);
    // Two calls spend the budget. The second returns 200 OK with
    // `X-RateLimit-Remaining: 0` and a wait of about 100 000 s.
    let host_ids = all_host_ids(&client).await;
    let again = all_host_ids(&client).await;
    assert_eq!(host_ids, again);

    let started = Instant::now();
    let query = DetectionQuery {
        host_ids,
        ..DetectionQuery::default()
    };
    let (hosts, errors) = drain(client.host_detections(&query)).await;

    assert!(started.elapsed() < Duration::from_secs(60), "it waited");
    assert!(hosts.is_empty());
    assert_eq!(errors.len(), 1, "{errors:?}");
    match &errors[0] {
        QualysError::PageFailed { source, .. } => match &**source {
            QualysError::WaitTooLong {
                requested_secs,
                limit_secs,
                ..
            } => {
                assert!(*requested_secs > 99_000, "{requested_secs}");
                assert_eq!(*limit_secs, 3_600);
            }
            other => panic!("expected a wait over the limit, got {other:?}"),
        },
        other => panic!("expected a failed page, got {other:?}"),
    }
    assert_eq!(
        sim.handle().request_count(SimEndpoint::HostDetection),
        0,
        "the page failed before its request went out"
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn concurrency_409_waits_for_cooldown() {
    let config = generated(30);
    let sim = start(&config).await;
    let client = client(&sim);
    sim.handle().inject(FaultRule::times(
        SimEndpoint::HostList,
        FaultKind::ConcurrencyLimit { calls_to_finish: 2 },
        2,
    ));

    let started = Instant::now();
    let ids = all_host_ids(&client).await;
    let waited = started.elapsed();

    assert_eq!(ids.len(), 30);
    // No call of ours was running, so each 1960 waits the 10 s cooldown.
    assert!(waited >= Duration::from_secs(20), "waited {waited:?}");
    assert!(waited < Duration::from_secs(30), "waited {waited:?}");
    assert_eq!(sim.handle().request_count(SimEndpoint::HostList), 3);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn server_errors_retried_with_backoff() {
    let config = generated(50);
    let sim = start(&config).await;
    let client = client(&sim);
    sim.handle().inject(FaultRule::times(
        SimEndpoint::HostList,
        FaultKind::ServerError { status: 503 },
        3,
    ));

    let started = Instant::now();
    let ids = all_host_ids(&client).await;
    let waited = started.elapsed();

    assert_eq!(ids.len(), 50);
    assert_unique(&ids);
    // Backoff of 1 s, 2 s and 4 s, each jittered down to no less than half.
    assert!(waited >= Duration::from_millis(3_500), "waited {waited:?}");
    assert_eq!(sim.handle().request_count(SimEndpoint::HostList), 4);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn reset_mid_body_loses_and_duplicates_nothing() {
    let config = generated(200);
    let expected = summary(&config, &detection_filter());
    let sim = start(&config).await;
    let client = client(&sim);
    let host_ids = all_host_ids(&client).await;
    for fault in [FaultKind::ResetMidBody, FaultKind::TruncatedXml] {
        sim.handle()
            .inject(FaultRule::times(SimEndpoint::HostDetection, fault, 2));
        let query = DetectionQuery {
            host_ids: host_ids.clone(),
            page_size: 60,
            ..DetectionQuery::default()
        };
        let (hosts, errors) = drain(client.host_detections(&query)).await;
        assert!(errors.is_empty(), "{fault:?}: {errors:?}");
        let ids: Vec<u64> = hosts.iter().map(|host| host.host_id).collect();
        assert_unique(&ids);
        assert_eq!(
            hosts.len() as u64,
            expected.hosts_with_detections,
            "{fault:?}"
        );
        let detections: usize = hosts.iter().map(|host| host.detections.len()).sum();
        assert_eq!(detections as u64, expected.detections, "{fault:?}");
    }
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn page_failing_every_attempt_is_reported() {
    let config = generated(20);
    let sim = start(&config).await;
    let client = client(&sim);
    let host_ids = all_host_ids(&client).await;
    sim.handle().inject(FaultRule::always(
        SimEndpoint::HostDetection,
        FaultKind::TruncatedXml,
    ));

    let query = DetectionQuery {
        host_ids: host_ids.clone(),
        ..DetectionQuery::default()
    };
    let (_, errors) = drain(client.host_detections(&query)).await;

    assert_eq!(errors.len(), 1, "{errors:?}");
    match &errors[0] {
        QualysError::PageFailed {
            page,
            attempts,
            source,
        } => {
            assert_eq!(page.endpoint, Endpoint::HostDetections);
            assert_eq!(*attempts, 5);
            let first_id = host_ids[0].to_string();
            assert!(
                page.body.as_deref().unwrap().contains(&first_id),
                "page names its host ids"
            );
            assert!(matches!(**source, QualysError::Parse { .. }), "{source:?}");
        }
        other => panic!("expected PageFailed, got {other:?}"),
    }
    assert_eq!(sim.handle().request_count(SimEndpoint::HostDetection), 5);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn http_200_error_body_is_an_error() {
    let config = generated(10);
    let sim = start(&config).await;
    let client = client(&sim);
    sim.handle().inject(FaultRule::once(
        SimEndpoint::HostList,
        FaultKind::AccountExpired,
    ));

    let (ranges, errors) = drain(client.host_ids(&HostIdQuery::default())).await;

    assert!(ranges.is_empty());
    assert_eq!(errors.len(), 1);
    let QualysError::PageFailed {
        source, attempts, ..
    } = &errors[0]
    else {
        panic!("expected PageFailed, got {:?}", errors[0]);
    };
    assert_eq!(*attempts, 1, "an expired account is not retried");
    match &**source {
        QualysError::Api { status, body, .. } => {
            assert_eq!(*status, 200);
            assert_eq!(body.code.as_deref(), Some("2001"));
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(errors[0].is_authentication());
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn bad_credentials_rejected_with_code() {
    let config = generated(5);
    let sim = start(&config).await;

    let error = client_for(&sim, "wrong-password")
        .portal_version()
        .await
        .unwrap_err();
    assert!(error.is_authentication(), "{error}");
    let message = error.to_string();
    assert!(message.contains("INVALID_CREDENTIALS"), "{message}");
    assert!(!message.contains("wrong-password"), "{message}");

    let (_, errors) =
        drain(client_for(&sim, "wrong-password").host_ids(&HostIdQuery::default())).await;
    assert!(errors[0].is_authentication(), "{}", errors[0]);
    assert!(errors[0].to_string().contains("HTTP 401"), "{}", errors[0]);
    assert_eq!(
        sim.handle().request_count(SimEndpoint::HostList),
        1,
        "bad login is not retried"
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn portal_version_reads_versions() {
    let config = generated(5);
    let sim = start(&config).await;
    let portal = client(&sim).portal_version().await.unwrap();
    assert!(portal.was_version.is_some());
    assert!(portal.vm_version.is_some());
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_url_names_accepted_forms() {
    let error =
        ApiUrl::parse("https://qualysguard.qg2.apps.qualys.com", Loopback::Reject).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("qualysguard.qg2.apps.qualys.com"),
        "{message}"
    );
    assert!(message.contains("https://qualysapi."), "{message}");
    let loopback = ApiUrl::parse("http://127.0.0.1:8080", Loopback::Reject).unwrap_err();
    assert!(loopback.to_string().contains("simulator"), "{loopback}");
}

#[tokio::test(start_paused = true)]
async fn invalid_record_reported_rest_continues() {
    let config = generated(30);
    let expected = summary(&config, &detection_filter());
    let sim = start(&config).await;
    let client = client(&sim);
    let host_ids = all_host_ids(&client).await;
    for fault in [FaultKind::InvalidUtf8, FaultKind::ControlCharacters] {
        sim.handle()
            .inject(FaultRule::once(SimEndpoint::HostDetection, fault));
        let query = DetectionQuery {
            host_ids: host_ids.clone(),
            ..DetectionQuery::default()
        };
        let (hosts, errors) = drain(client.host_detections(&query)).await;
        assert_eq!(errors.len(), 1, "{fault:?}: {errors:?}");
        let QualysError::Record { source, .. } = &errors[0] else {
            panic!("{fault:?}: expected a record error, got {:?}", errors[0]);
        };
        assert!(source.id.is_some(), "{fault:?}: the error names the host");
        assert_eq!(
            hosts.len() as u64 + 1,
            expected.hosts_with_detections,
            "{fault:?}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn host_assets_cover_every_host() {
    let config = generated(90);
    let sim = start(&config).await;
    let client = client(&sim);
    let host_ids = all_host_ids(&client).await;

    let (assets, errors) = drain(client.host_assets(host_ids.clone())).await;

    assert!(errors.is_empty(), "{errors:?}");
    let found: BTreeSet<u64> = assets
        .iter()
        .filter_map(|asset| asset.qweb_host_id)
        .collect();
    assert_eq!(found, host_ids.iter().copied().collect());
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn knowledge_base_returns_requested_qids() {
    let config = generated(40);
    let sim = start(&config).await;
    let client = client(&sim);
    let host_ids = all_host_ids(&client).await;
    let query = DetectionQuery {
        host_ids,
        ..DetectionQuery::default()
    };
    let (hosts, _) = drain(client.host_detections(&query)).await;
    let qids: BTreeSet<u64> = hosts
        .iter()
        .flat_map(|host| &host.detections)
        .map(|d| d.qid)
        .collect();

    let (vulns, errors) = drain(client.knowledge_base(qids.iter().copied().collect())).await;

    assert!(errors.is_empty(), "{errors:?}");
    let returned: BTreeSet<u64> = vulns.iter().map(|vuln| vuln.qid).collect();
    assert_eq!(returned, qids);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn web_apps_and_findings_page_by_cursor() {
    let config = generated(5);
    let expected = summary(&config, &SummaryFilter::default());
    let sim = start(&config).await;
    let client = client(&sim);
    for page_size in [1_u32, 5, 100] {
        let query = WebAppQuery {
            page_size,
            ..WebAppQuery::default()
        };
        let (apps, errors) = drain(client.web_apps(&query)).await;
        assert!(errors.is_empty(), "{errors:?}");
        let ids: Vec<u64> = apps.iter().map(|app| app.id).collect();
        assert_unique(&ids);
        assert_eq!(
            apps.len() as u64,
            expected.web_apps,
            "page size {page_size}"
        );

        let query = WebAppFindingQuery {
            web_app_ids: ids,
            page_size: page_size * 4,
            chunk_size: 5,
            ..WebAppFindingQuery::default()
        };
        let (findings, errors) = drain(client.web_app_findings(&query)).await;
        assert!(errors.is_empty(), "{errors:?}");
        let ids: Vec<u64> = findings.iter().map(|finding| finding.id).collect();
        assert_unique(&ids);
        assert_eq!(
            findings.len() as u64,
            expected.web_app_findings,
            "page size {page_size}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn stalled_body_times_out_and_retries() {
    let config = generated(20);
    let sim = start(&config).await;
    let api_url = ApiUrl::parse(&sim.base_url(), Loopback::Allow).unwrap();
    let mut config = ClientConfig::new(
        api_url,
        Credentials::new(DEFAULT_USERNAME, DEFAULT_PASSWORD),
    );
    config.connect_timeout = None;
    config.read_timeout = Some(Duration::from_secs(60));
    config.pool_idle_timeout = None;
    let client = QualysClient::new(config).unwrap();
    sim.handle().inject(FaultRule::once(
        SimEndpoint::HostList,
        FaultKind::StallMidBody { secs: 3_600 },
    ));

    let started = Instant::now();
    let ids = all_host_ids(&client).await;

    assert_eq!(ids.len(), 20);
    assert!(
        started.elapsed() < Duration::from_secs(3_600),
        "the stall was cut by the read timeout"
    );
    let counts: BTreeMap<&str, u64> = [(
        "host list",
        sim.handle().request_count(SimEndpoint::HostList),
    )]
    .into();
    assert!(counts["host list"] >= 2, "{counts:?}");
    sim.shutdown().await;
}
