//! The runner on a fake source: step statuses, partial runs, windows, the
//! knowledge-base cache and what reaches the sink.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::collections::HashSet;

use common::{
    FakeError, MemorySink, NOW_MS, RunSetup, config, detection, host, subscription, vuln,
};
use qgraph_integration::window::DataSet;
use qgraph_integration::{KbEntry, RunError};
use qgraph_model::schema::validate_entity;
use qgraph_model::{GraphObject, RunStatus, StepStatus};
use qgraph_qualys::{HostIdRange, WebApp, WebAppFinding, WebAppRef};

fn status(outcome: &qgraph_integration::RunOutcome, id: &str) -> StepStatus {
    outcome
        .steps
        .iter()
        .find(|s| s.id == id)
        .map(|s| s.status)
        .unwrap_or_else(|| panic!("no result for step {id}"))
}

#[tokio::test]
async fn full_run_succeeds_and_emits_the_data_model() {
    let source = subscription();
    let mut sink = MemorySink::default();
    let outcome = RunSetup::new(config(|_| {}))
        .run(&source, &mut sink)
        .await
        .unwrap();

    assert_eq!(outcome.status, RunStatus::Success);
    for step in &outcome.steps {
        let expected = if step.id.contains("webapp") {
            StepStatus::Disabled
        } else {
            StepStatus::Success
        };
        assert_eq!(step.status, expected, "step {}", step.id);
        assert!(
            step.errors.is_empty(),
            "step {} errors {:?}",
            step.id,
            step.errors
        );
    }

    assert_eq!(sink.entities("qualys_account").len(), 1);
    assert_eq!(sink.entities("qualys_vulnerability_manager").len(), 1);
    assert_eq!(sink.entities("qualys_web_app_scanner").len(), 1);
    assert_eq!(
        sink.relationships("qualys_account_has_vulnerability_manager")
            .len(),
        1
    );
    assert_eq!(
        sink.relationships("qualys_account_has_web_app_scanner")
            .len(),
        1
    );
    // The Info detection is outside the default types.
    assert_eq!(sink.entities("qualys_host_finding").len(), 4);
    assert_eq!(
        sink.mapped("qualys_vulnerability_manager_scans_discovered_host")
            .len(),
        2
    );
    assert_eq!(sink.entities("qualys_vuln").len(), 3);
    // CVE-2017-0144 is listed by two QIDs and appears once.
    assert_eq!(sink.entities("cve").len(), 2);
    assert_eq!(sink.relationships("qualys_host_finding_is_vuln").len(), 4);
    // 38739 on two hosts × 2 CVEs, plus 90007 × 1 CVE.
    assert_eq!(sink.relationships("qualys_host_finding_is_cve").len(), 5);

    let counts = &outcome
        .steps
        .iter()
        .find(|s| s.id == "fetch-scanned-host-detections")
        .unwrap()
        .counts;
    assert_eq!(counts.get("qualys_host_finding"), Some(&4));
}

#[tokio::test]
async fn every_emitted_entity_passes_schema_validation() {
    let source = subscription();
    let mut sink = MemorySink::default();
    RunSetup::new(config(|raw| {
        raw.tag_with_account_name = Some(qgraph_integration::config::ScalarInput::Bool(true))
    }))
    .run(&source, &mut sink)
    .await
    .unwrap();

    for entity in sink.all_entities() {
        let violations = validate_entity(entity);
        assert!(violations.is_empty(), "{}: {violations:?}", entity.key);
        assert_eq!(
            entity
                .get("tag.AccountName")
                .and_then(|v| v.as_str().map(str::to_owned))
                .as_deref(),
            Some("Prod")
        );
    }
}

#[tokio::test]
async fn repeated_host_findings_left_to_store() {
    let mut source = subscription();
    // The same host twice (overlapping pages) and a repeated detection.
    let repeated = host(
        101,
        vec![
            detection(38739, "Confirmed", 4, Some(22)),
            detection(38739, "Potential", 4, Some(22)),
        ],
    );
    source.hosts.push(repeated);
    source.hosts[0]
        .detections
        .push(detection(38739, "Confirmed", 4, Some(22)));
    source.host_id_pages.push(Ok(HostIdRange {
        first: 101,
        last: 102,
    }));
    let mut sink = MemorySink::default();
    RunSetup::new(config(|_| {}))
        .run(&source, &mut sink)
        .await
        .unwrap();

    // The repeated host's findings reach the sink once per page, for the
    // store to merge; every other object is written once.
    let keys: Vec<&str> = sink
        .objects
        .iter()
        .filter(|(_, object)| object.object_type() != "qualys_host_finding")
        .map(|(_, object)| object.key())
        .collect();
    let unique: HashSet<&str> = keys.iter().copied().collect();
    assert_eq!(keys.len(), unique.len(), "duplicate keys in {keys:?}");
    let findings: HashSet<&str> = sink
        .entities("qualys_host_finding")
        .iter()
        .map(|f| f.key.as_str())
        .collect();
    assert_eq!(findings.len(), 4);
    assert_eq!(sink.entities("qualys_host_finding").len(), 5);
}

#[tokio::test]
async fn failed_detection_page_makes_run_partial() {
    let mut source = subscription();
    source.failing_detection_host = Some(102);
    let mut sink = MemorySink::default();
    let outcome = RunSetup::new(config(|_| {}))
        .run(&source, &mut sink)
        .await
        .unwrap();

    assert_eq!(outcome.status, RunStatus::PartialSuccess);
    assert_eq!(
        status(&outcome, "fetch-scanned-host-detections"),
        StepStatus::Failure
    );
    assert_eq!(
        status(&outcome, "fetch-finding-vulns"),
        StepStatus::PartialSuccessDueToDependencyFailure
    );
    assert_eq!(
        status(&outcome, "fetch-scanned-host-ids"),
        StepStatus::Success
    );

    let step = outcome
        .steps
        .iter()
        .find(|s| s.id == "fetch-scanned-host-detections")
        .unwrap();
    assert_eq!(step.errors.len(), 1);
    assert_eq!(step.errors[0].code.as_deref(), Some("1960"));
    assert!(
        step.errors[0].message.contains("connection reset"),
        "{:?}",
        step.errors[0]
    );

    // Nothing of the failed step's types may be deleted, and its window stays put.
    assert!(
        outcome
            .partial_types
            .contains(&"qualys_host_finding".to_owned())
    );
    assert!(!outcome.windows.contains_key(&DataSet::HostFindings));
    assert!(!outcome.windows.contains_key(&DataSet::ScannedHosts));
    // Host 101 was in a chunk before the failure and is kept.
    assert_eq!(sink.entities("qualys_host_finding").len(), 2);
}

#[tokio::test]
async fn failed_host_id_page_marks_every_dependent_partial() {
    let mut source = subscription();
    source
        .host_id_pages
        .push(Err(FakeError::new("host list page 3 failed")));
    let mut sink = MemorySink::default();
    let outcome = RunSetup::new(config(|_| {}))
        .run(&source, &mut sink)
        .await
        .unwrap();

    assert_eq!(outcome.status, RunStatus::PartialSuccess);
    assert_eq!(
        status(&outcome, "fetch-scanned-host-ids"),
        StepStatus::Failure
    );
    for id in [
        "fetch-scanned-host-details",
        "fetch-scanned-host-detections",
        "fetch-finding-vulns",
    ] {
        assert_eq!(
            status(&outcome, id),
            StepStatus::PartialSuccessDueToDependencyFailure,
            "{id}"
        );
    }
    assert_eq!(status(&outcome, "fetch-services"), StepStatus::Success);
    assert!(
        outcome
            .partial_types
            .contains(&"qualys_vulnerability_manager_scans_discovered_host".to_owned())
    );
    assert!(!outcome.partial_types.contains(&"qualys_account".to_owned()));
}

#[tokio::test]
async fn run_fails_when_every_fetch_fails() {
    let mut source = subscription();
    source.host_id_pages = vec![Err(FakeError::new("HTTP 500"))];
    source.kb_down = true;
    let mut sink = MemorySink::default();
    let outcome = RunSetup::new(config(|_| {}))
        .run(&source, &mut sink)
        .await
        .unwrap();

    assert_eq!(outcome.status, RunStatus::Failure);
    assert!(outcome.windows.is_empty());
}

#[tokio::test]
async fn bad_credentials_end_the_run_before_any_write() {
    let mut source = subscription();
    source.portal_error = Some(FakeError {
        message: "HTTP 200 with responseCode INVALID_CREDENTIALS".to_owned(),
        code: Some("INVALID_CREDENTIALS".to_owned()),
    });
    let mut sink = MemorySink::default();
    let error = RunSetup::new(config(|_| {}))
        .run(&source, &mut sink)
        .await
        .unwrap_err();

    match &error {
        RunError::Verification { code, api_url, .. } => {
            assert_eq!(code.as_deref(), Some("INVALID_CREDENTIALS"));
            assert_eq!(api_url, "https://qualysapi.qg3.apps.qualys.com");
        }
        other => panic!("expected a verification error, got {other:?}"),
    }
    assert!(error.to_string().contains("INVALID_CREDENTIALS"), "{error}");
    assert!(sink.objects.is_empty());
    assert_eq!(source.calls(), vec!["portal".to_owned()]);
}

#[tokio::test]
async fn expired_subscription_is_not_blamed_on_password() {
    for code in ["EVALUATION_EXPIRED", "2001"] {
        let mut source = subscription();
        source.portal_error = Some(FakeError {
            message: format!("Qualys code {code}: This account has expired."),
            code: Some(code.to_owned()),
        });
        let mut sink = MemorySink::default();
        let error = RunSetup::new(config(|_| {}))
            .run(&source, &mut sink)
            .await
            .unwrap_err();
        let message = error.to_string();

        match &error {
            RunError::SubscriptionExpired { code: found, .. } => assert_eq!(found, code),
            other => panic!("expected an expired subscription, got {other:?}"),
        }
        assert!(message.contains("subscription"), "{message}");
        assert!(message.contains("has expired"), "{message}");
        assert!(message.contains("not at fault"), "{message}");
        assert!(sink.objects.is_empty());
    }
}

/// A request refused for the account itself in the middle of a run ends
/// the run with the cause, and nothing after the failing step is called.
#[tokio::test]
async fn account_refused_mid_run_ends_the_run() {
    let cases = [
        ("2001", "Qualys code 2001: This account has expired.", true),
        (
            "EVALUATION_EXPIRED",
            "responseCode EVALUATION_EXPIRED",
            true,
        ),
        ("2000", "Qualys code 2000: Bad Login/Password", false),
        ("401", "HTTP 401", false),
    ];
    for (code, message, expired) in cases {
        let mut source = subscription();
        source.host_id_pages.push(Err(FakeError {
            message: message.to_owned(),
            code: Some(code.to_owned()),
        }));
        let mut sink = MemorySink::default();
        let error = RunSetup::new(config(|_| {}))
            .run(&source, &mut sink)
            .await
            .unwrap_err();
        match (&error, expired) {
            (RunError::SubscriptionExpired { code: found, .. }, true)
            | (RunError::CredentialsRejected { code: found, .. }, false) => {
                assert_eq!(found, code);
            }
            (other, _) => panic!("code {code}: unexpected error {other:?}"),
        }
        let calls = source.calls();
        assert!(
            calls.last().is_some_and(|c| c.starts_with("host_ids")),
            "code {code}: nothing is called after the refused step: {calls:?}"
        );
    }
}

/// A 403 (no right to one API) fails its step only; the run goes on.
#[tokio::test]
async fn forbidden_page_fails_only_its_step() {
    let mut source = subscription();
    source.host_id_pages.push(Err(FakeError {
        message: "HTTP 403".to_owned(),
        code: Some("403".to_owned()),
    }));
    let mut sink = MemorySink::default();
    let outcome = RunSetup::new(config(|_| {}))
        .run(&source, &mut sink)
        .await
        .unwrap();
    assert_eq!(outcome.status, RunStatus::PartialSuccess);
}

/// A server error on the account check is not blamed on the credentials.
#[tokio::test]
async fn account_check_server_error_not_credentials() {
    let mut source = subscription();
    source.portal_error = Some(FakeError {
        message: "HTTP 503 Service Unavailable".to_owned(),
        code: Some("503".to_owned()),
    });
    let mut sink = MemorySink::default();
    let error = RunSetup::new(config(|_| {}))
        .run(&source, &mut sink)
        .await
        .unwrap_err();
    assert!(matches!(error, RunError::Unavailable { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("server error"), "{message}");
    assert!(!message.contains("password"), "{message}");
}

#[tokio::test]
async fn sink_error_ends_the_run_with_the_step() {
    let source = subscription();
    let mut sink = MemorySink {
        fail_step: Some("fetch-scanned-host-detections".to_owned()),
        ..Default::default()
    };
    let error = RunSetup::new(config(|_| {}))
        .run(&source, &mut sink)
        .await
        .unwrap_err();

    match error {
        RunError::Sink { step, .. } => assert_eq!(step, "fetch-scanned-host-detections"),
        other => panic!("expected a sink error, got {other:?}"),
    }
}

#[tokio::test]
async fn cached_qids_are_not_fetched_but_still_related() {
    let source = subscription();
    let mut setup = RunSetup::new(config(|_| {}));
    setup.kb_cache.insert(
        38739,
        KbEntry {
            cve_ids: vec!["CVE-2008-4250".to_owned()],
            fetched_on_ms: NOW_MS - 86_400_000,
        },
    );
    // Stale: fetched again.
    setup.kb_cache.insert(
        11,
        KbEntry {
            cve_ids: Vec::new(),
            fetched_on_ms: NOW_MS - 40 * 86_400_000,
        },
    );
    let mut sink = MemorySink::default();
    let outcome = setup.run(&source, &mut sink).await.unwrap();

    let kb_calls: Vec<String> = source
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("kb"))
        .collect();
    assert_eq!(kb_calls, vec!["kb [11, 90007]".to_owned()]);
    assert_eq!(sink.entities("qualys_vuln").len(), 2);
    assert_eq!(sink.relationships("qualys_host_finding_is_vuln").len(), 4);
    // 38739 (cached, one CVE) on two hosts, plus 90007 × 1.
    assert_eq!(sink.relationships("qualys_host_finding_is_cve").len(), 3);
    assert_eq!(
        outcome.kb_entries.keys().copied().collect::<Vec<_>>(),
        vec![11, 90007]
    );
    assert_eq!(
        outcome.kb_entries[&90007].cve_ids,
        vec!["CVE-2017-0144".to_owned()]
    );
}

#[tokio::test]
async fn unknown_qids_get_no_relationship() {
    let mut source = subscription();
    source.vulns.retain(|v| v.qid != 90007);
    let mut sink = MemorySink::default();
    let outcome = RunSetup::new(config(|_| {}))
        .run(&source, &mut sink)
        .await
        .unwrap();

    assert_eq!(outcome.status, RunStatus::Success);
    assert_eq!(outcome.unknown_qids, vec![90007]);
    let targets: Vec<&str> = sink
        .relationships("qualys_host_finding_is_vuln")
        .iter()
        .map(|r| r.to_key.as_str())
        .collect();
    assert!(!targets.contains(&"vuln-qid:90007"), "{targets:?}");
}

#[tokio::test]
async fn successful_run_advances_every_window_to_now() {
    let source = subscription();
    let mut sink = MemorySink::default();
    let outcome = RunSetup::new(config(|_| {}))
        .run(&source, &mut sink)
        .await
        .unwrap();

    let hosts = &outcome.windows[&DataSet::HostFindings];
    assert_eq!(hosts.end_ms, NOW_MS);
    assert_eq!(hosts.days, 7.0);
    assert!(outcome.windows.contains_key(&DataSet::ScannedHosts));
    // Web-app steps are disabled, so their windows do not move.
    assert!(!outcome.windows.contains_key(&DataSet::WebApps));

    let first_call = source
        .calls()
        .into_iter()
        .find(|c| c.starts_with("host_ids"))
        .unwrap();
    assert_eq!(
        first_call,
        "host_ids 2023-11-07T22:13:20Z 2023-11-14T22:13:20Z"
    );
}

#[tokio::test]
async fn second_run_starts_where_the_first_ended() {
    let source = subscription();
    let mut setup = RunSetup::new(config(|_| {}));
    let mut state = RunSetup::new(config(|_| {}))
        .run(&source, &mut MemorySink::default())
        .await
        .unwrap()
        .windows;
    let host_ids = state.get_mut(&DataSet::ScannedHosts).unwrap();
    host_ids.end_ms -= 3_600_000;
    setup.last_windows = state;

    let second = subscription();
    setup
        .run(&second, &mut MemorySink::default())
        .await
        .unwrap();
    let call = second
        .calls()
        .into_iter()
        .find(|c| c.starts_with("host_ids"))
        .unwrap();
    assert_eq!(call, "host_ids 2023-11-14T21:13:20Z 2023-11-14T22:13:20Z");
}

fn web_finding(id: u64, uuid: &str, qid: u64, status: Option<&str>) -> WebAppFinding {
    WebAppFinding {
        id,
        unique_id: Some(uuid.to_owned()),
        qid: Some(qid),
        name: Some("SQL injection".to_owned()),
        finding_type: Some("VULNERABILITY".to_owned()),
        severity: Some(5),
        status: status.map(str::to_owned),
        url: Some("https://shop.example.com/cart?id=1".to_owned()),
        web_app: WebAppRef {
            id: Some(7),
            name: Some("Shop".to_owned()),
            url: Some("https://shop.example.com".to_owned()),
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn web_app_steps_run_when_enabled() {
    let mut source = subscription();
    source.web_apps = vec![
        WebApp {
            id: 7,
            name: Some("Shop".to_owned()),
            url: Some("https://shop.example.com".to_owned()),
            ..Default::default()
        };
        2
    ];
    source.web_findings = vec![
        web_finding(
            1,
            "6f1e2c4a-0000-4000-8000-000000000001",
            150004,
            Some("NEW"),
        ),
        // The same finding on an overlapping page.
        web_finding(
            1,
            "6f1e2c4a-0000-4000-8000-000000000001",
            150004,
            Some("NEW"),
        ),
        web_finding(
            2,
            "6f1e2c4a-0000-4000-8000-000000000002",
            38739,
            Some("FIXED"),
        ),
    ];
    source.vulns.push(vuln(150004, &["CVE-2019-0001"]));
    let mut sink = MemorySink::default();
    let outcome = RunSetup::new(config(|raw| {
        raw.ingest_web_app_scans = Some(qgraph_integration::config::ScalarInput::Text(
            "true".to_owned(),
        ));
    }))
    .run(&source, &mut sink)
    .await
    .unwrap();

    assert_eq!(outcome.status, RunStatus::Success);
    assert_eq!(sink.mapped("qualys_web_app_scanner_scans_web_app").len(), 1);
    assert_eq!(sink.entities("qualys_web_app_finding").len(), 2);
    assert_eq!(
        sink.relationships("qualys_web_app_scanner_identified_finding")
            .len(),
        2
    );
    assert_eq!(
        sink.relationships("qualys_web_app_finding_is_vuln").len(),
        2
    );
    assert_eq!(sink.relationships("qualys_web_app_finding_is_cve").len(), 3);
    // Host findings keep their own relationship type.
    assert_eq!(sink.relationships("qualys_host_finding_is_vuln").len(), 4);

    let fixed = sink
        .entities("qualys_web_app_finding")
        .into_iter()
        .find(|e| e.key.ends_with("0002"))
        .unwrap();
    assert_eq!(fixed.get("open").and_then(|v| v.as_bool()), Some(false));
    assert!(outcome.windows.contains_key(&DataSet::WebAppFindings));
}

#[tokio::test]
async fn assets_failure_leaves_findings_as_stored() {
    let mut source = subscription();
    source.assets_down = true;
    let mut sink = MemorySink::default();
    let outcome = RunSetup::new(config(|_| {}))
        .run(&source, &mut sink)
        .await
        .unwrap();

    // Nothing but the account and services was written, so the run failed.
    assert_eq!(outcome.status, RunStatus::Failure);
    assert_eq!(
        status(&outcome, "fetch-scanned-host-details"),
        StepStatus::Failure
    );
    // Written without their hosts' details, the findings would replace the
    // stored cloud ids and targets with nothing, so none is written.
    assert!(sink.entities("qualys_host_finding").is_empty());
    assert_eq!(
        status(&outcome, "fetch-scanned-host-detections"),
        StepStatus::Failure
    );
    let step = outcome
        .steps
        .iter()
        .find(|s| s.id == "fetch-scanned-host-detections")
        .unwrap();
    assert_eq!(step.errors.len(), 1, "{:?}", step.errors);
    assert!(
        step.errors[0]
            .message
            .contains("the findings of 2 hosts without details were left as stored"),
        "{:?}",
        step.errors[0]
    );
    assert!(
        outcome
            .partial_types
            .contains(&"qualys_host_finding".to_owned())
    );
    assert!(!outcome.windows.contains_key(&DataSet::HostFindings));
}

#[tokio::test]
async fn host_on_two_pages_keeps_both() {
    let mut source = subscription();
    let mut fixed = detection(38739, "Confirmed", 5, Some(443));
    fixed.status = Some("Fixed".to_owned());
    source.hosts.push(host(
        102,
        vec![detection(45038, "Confirmed", 3, None), fixed],
    ));
    let mut sink = MemorySink::default();
    let outcome = RunSetup::new(config(|_| {}))
        .run(&source, &mut sink)
        .await
        .unwrap();

    assert_eq!(outcome.status, RunStatus::Success);
    let findings = sink.entities("qualys_host_finding");
    let host_102: Vec<&str> = findings
        .iter()
        .filter(|f| f.key.starts_with("hostId:102|"))
        .map(|f| f.key.as_str())
        .collect();
    assert!(
        host_102.iter().any(|key| key.contains("qid:45038")),
        "{host_102:?}"
    );
    // The later copy of QID 38739 has status Fixed, and the store keeps the later copy.
    let copies: Vec<_> = findings
        .iter()
        .filter(|f| f.key == "hostId:102|port:443|protocol:tcp|qid:38739")
        .collect();
    assert_eq!(copies.len(), 2);
    assert_eq!(copies[1].get("open").and_then(|v| v.as_bool()), Some(false));
}

#[tokio::test]
async fn sink_receives_batches_tagged_with_the_step() {
    let source = subscription();
    let mut sink = MemorySink::default();
    RunSetup::new(config(|_| {}))
        .run(&source, &mut sink)
        .await
        .unwrap();

    for (step, object) in &sink.objects {
        let expected = match object {
            GraphObject::Entity(e) if e.entity_type == "qualys_host_finding" => {
                "fetch-scanned-host-detections"
            }
            GraphObject::Entity(e) if e.entity_type == "qualys_vuln" || e.entity_type == "cve" => {
                "fetch-finding-vulns"
            }
            GraphObject::Mapped(_) => "fetch-scanned-host-details",
            _ => continue,
        };
        assert_eq!(step, expected, "{}", object.key());
    }
}

#[test]
fn run_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let source = subscription();
    let mut sink = MemorySink::default();
    let setup = RunSetup::new(config(|_| {}));
    let future = setup.run(&source, &mut sink);
    assert_send(&future);
}
