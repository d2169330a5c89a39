//! The real Qualys client wired as the runner's source, against a loopback
//! server that returns the recorded Qualys bodies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::sync::Arc;

use common::{MemorySink, RunSetup, config};
use qgraph_integration::RunError;
use qgraph_integration::client::connect;
use qgraph_model::schema::validate_entity;
use qgraph_model::{RunStatus, StepStatus};
use qgraph_qualys::ResultsOptions;
use qgraph_qualys::parse;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/qualys"
);

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}; the tests read recorded Qualys responses from ../shared/fixtures/qualys beside the repository"))
}

/// Chooses the recorded body for a request.
type Router = Arc<dyn Fn(&str, &str, &str) -> (u16, Vec<u8>) + Send + Sync>;

/// Starts a loopback HTTP/1.1 server on port 0 and returns its base URL.
async fn serve(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let router = Arc::clone(&router);
            tokio::spawn(async move {
                let _ = handle(socket, router).await;
            });
        }
    });
    format!("http://{address}")
}

/// Serves every request on one keep-alive connection.
async fn handle(socket: TcpStream, router: Router) -> std::io::Result<()> {
    let mut reader = BufReader::new(socket);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut content_length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await?;
            if line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; content_length];
        reader.read_exact(&mut body).await?;

        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
        let (status, response) = router(&method, &target, &String::from_utf8_lossy(&body));
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: text/xml;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
            response.len()
        );
        let socket = reader.get_mut();
        socket.write_all(head.as_bytes()).await?;
        socket.write_all(&response).await?;
    }
}

/// Returns the host ids of the recorded detection page, which the recorded
/// asset pages also cover, and the keys of its detections that the default
/// filters keep (severity 3 to 5, type Potential or Confirmed).
async fn recorded_hosts() -> (Vec<u64>, std::collections::BTreeSet<String>) {
    let body = fixture("vm-host-detection-list-with-results.xml");
    let mut stream = parse::host_detections(&body[..], ResultsOptions::default());
    let mut ids = Vec::new();
    let mut keys = std::collections::BTreeSet::new();
    while let Some(host) = stream.next().await.unwrap() {
        ids.push(host.host_id);
        for detection in &host.detections {
            let severity_ok = detection.severity.is_some_and(|s| (3..=5).contains(&s));
            let type_ok = matches!(detection.detection_type.as_str(), "Potential" | "Confirmed");
            if severity_ok && type_ok {
                keys.insert(qgraph_integration::convert::host_finding_key(
                    host.host_id,
                    detection,
                ));
            }
        }
    }
    (ids, keys)
}

fn host_list(ids: &[u64]) -> Vec<u8> {
    let items: String = ids.iter().map(|id| format!("<ID>{id}</ID>")).collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<HOST_LIST_OUTPUT><RESPONSE><DATETIME>2020-09-11T23:00:30Z</DATETIME><ID_SET>{items}</ID_SET></RESPONSE></HOST_LIST_OUTPUT>"
    )
    .into_bytes()
}

fn recorded_subscription(ids: Vec<u64>) -> Router {
    Arc::new(move |_method, target, body| {
        let path = target.split('?').next().unwrap_or_default();
        let name = match path {
            "/qps/rest/portal/version" => "portal-version.xml",
            "/api/2.0/fo/asset/host/" => return (200, host_list(&ids)),
            "/qps/rest/2.0/search/am/hostasset" if body.contains("GREATER") => {
                "am-hostasset-search-paged-02.xml"
            }
            "/qps/rest/2.0/search/am/hostasset" => "am-hostasset-search-paged-01.xml",
            "/api/2.0/fo/asset/host/vm/detection/" => "vm-host-detection-list-with-results.xml",
            "/api/2.0/fo/knowledge_base/vuln/" => "kb-vuln-list-many.xml",
            _ => return (404, b"<SIMPLE_RETURN/>".to_vec()),
        };
        (200, fixture(name))
    })
}

#[tokio::test]
async fn recorded_subscription_syncs_through_the_client() {
    let (ids, expected_keys) = recorded_hosts().await;
    assert_eq!(ids.len(), 5);
    let url = serve(recorded_subscription(ids)).await;
    let setup = RunSetup::new(config(|raw| raw.qualys_api_url = Some(url.clone())));
    let client = connect(&setup.config).unwrap();
    let mut sink = MemorySink::default();

    let input = qgraph_integration::RunInput {
        instance_id: "instance-1",
        config: &setup.config,
        now_ms: common::NOW_MS,
        last_windows: &setup.last_windows,
        kb_cache: &setup.kb_cache,
        observer: &qgraph_integration::NoProgress,
    };
    let outcome = qgraph_integration::run_sync(&client, &mut sink, &input)
        .await
        .unwrap();

    for step in &outcome.steps {
        assert!(step.errors.is_empty(), "{}: {:?}", step.id, step.errors);
    }
    assert_eq!(outcome.status, RunStatus::Success);
    let detections = outcome
        .steps
        .iter()
        .find(|s| s.id == "fetch-scanned-host-detections")
        .unwrap();
    assert_eq!(detections.status, StepStatus::Success);

    let findings = sink.entities("qualys_host_finding");
    let keys: std::collections::BTreeSet<String> = findings.iter().map(|f| f.key.clone()).collect();
    assert!(!expected_keys.is_empty());
    assert_eq!(keys, expected_keys);
    for finding in &findings {
        let severity = finding
            .get("qualysSeverity")
            .and_then(|v| v.as_i64())
            .unwrap();
        assert!(
            (3..=5).contains(&severity),
            "{}: severity {severity}",
            finding.key
        );
        assert_ne!(
            finding
                .get("type")
                .and_then(|v| v.as_str().map(str::to_owned))
                .as_deref(),
            Some("Info")
        );
    }
    for entity in sink.all_entities() {
        assert!(
            validate_entity(entity).is_empty(),
            "{}: {:?}",
            entity.key,
            validate_entity(entity)
        );
    }
    // Every host of the detection page is in the recorded asset pages.
    let scans = sink
        .objects
        .iter()
        .filter(|(_, o)| {
            o.object_type()
                .starts_with("qualys_vulnerability_manager_scans_")
        })
        .count();
    assert!(scans >= 5, "{scans} SCANS relationships");
    assert!(
        findings.iter().any(|f| f.get("fqdn").is_some()),
        "no finding got asset targets"
    );
}

#[tokio::test]
async fn invalid_credentials_end_the_run_with_their_code() {
    let router: Router = Arc::new(|_, target, _| {
        if target.starts_with("/qps/rest/portal/version") {
            (200, fixture("portal-version-invalid-credentials.xml"))
        } else {
            panic!("no request may follow a failed credential check: {target}")
        }
    });
    let url = serve(router).await;
    let setup = RunSetup::new(config(|raw| raw.qualys_api_url = Some(url.clone())));
    let client = connect(&setup.config).unwrap();
    let mut sink = MemorySink::default();
    let input = qgraph_integration::RunInput {
        instance_id: "instance-1",
        config: &setup.config,
        now_ms: common::NOW_MS,
        last_windows: &setup.last_windows,
        kb_cache: &setup.kb_cache,
        observer: &qgraph_integration::NoProgress,
    };

    let error = qgraph_integration::run_sync(&client, &mut sink, &input)
        .await
        .unwrap_err();
    match &error {
        RunError::Verification { code, .. } => {
            assert_eq!(code.as_deref(), Some("INVALID_CREDENTIALS"))
        }
        other => panic!("expected a verification error, got {other:?}"),
    }
    assert!(sink.objects.is_empty());
}

#[tokio::test]
async fn rejected_detection_page_fails_its_step_only() {
    let (ids, _) = recorded_hosts().await;
    let recorded = recorded_subscription(ids);
    let router: Router = Arc::new(move |method, target, body| {
        if target.starts_with("/api/2.0/fo/asset/host/vm/detection/") {
            // A permanent error: the client does not retry a 400.
            (400, fixture("vm-host-detection-error-400-invalid-ids.xml"))
        } else {
            recorded(method, target, body)
        }
    });
    let url = serve(router).await;
    let setup = RunSetup::new(config(|raw| raw.qualys_api_url = Some(url.clone())));
    let client = connect(&setup.config).unwrap();
    let mut sink = MemorySink::default();
    let input = qgraph_integration::RunInput {
        instance_id: "instance-1",
        config: &setup.config,
        now_ms: common::NOW_MS,
        last_windows: &setup.last_windows,
        kb_cache: &setup.kb_cache,
        observer: &qgraph_integration::NoProgress,
    };

    let outcome = qgraph_integration::run_sync(&client, &mut sink, &input)
        .await
        .unwrap();
    let step = |id: &str| outcome.steps.iter().find(|s| s.id == id).unwrap();

    assert_eq!(outcome.status, RunStatus::PartialSuccess);
    assert_eq!(
        step("fetch-scanned-host-details").status,
        StepStatus::Success
    );
    let detections = step("fetch-scanned-host-detections");
    assert_eq!(detections.status, StepStatus::Failure);
    assert_eq!(detections.errors[0].code.as_deref(), Some("1905"));
    assert_eq!(
        detections.errors[0].endpoint.as_deref(),
        Some("/api/2.0/fo/asset/host/vm/detection/")
    );
    assert_eq!(
        step("fetch-finding-vulns").status,
        StepStatus::PartialSuccessDueToDependencyFailure
    );
    assert!(sink.entities("qualys_host_finding").is_empty());
    assert!(
        !outcome
            .windows
            .contains_key(&qgraph_integration::DataSet::HostFindings)
    );
    assert!(
        outcome
            .partial_types
            .contains(&"qualys_host_finding".to_owned())
    );
}
