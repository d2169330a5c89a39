//! Fault injection, authentication and the enforced rate and concurrency limits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::time::Duration;

use common::*;
use qgraph_qualys_sim::client::Client;
use qgraph_qualys_sim::{Endpoint, FaultKind, FaultRule, GeneratedConfig, Limits};

const DETECTION_FORM: &str =
    "action=list&show_igs=1&show_results=1&status=New,Active,Fixed,Re-Opened&truncation_limit=0";

/// Large enough for several 64 KiB chunks, so mid-body faults land inside the body.
fn chunky_config() -> GeneratedConfig {
    GeneratedConfig {
        results_bytes: 2_000,
        ..small_config()
    }
}

#[tokio::test]
async fn reset_mid_body_happens_once() {
    let (sim, client) = start(chunky_config()).await;
    sim.handle().inject(FaultRule::once(
        Endpoint::HostDetection,
        FaultKind::ResetMidBody,
    ));
    let broken = client.post_form(DETECTION, DETECTION_FORM).await.unwrap();
    assert_eq!(broken.status, 200);
    assert!(!broken.complete, "the body must end without its last chunk");
    assert!(broken.body.len() > 64 * 1024, "{}", broken.body.len());
    assert!(parse(&broken.body).is_err());
    let healthy = client.post_form(DETECTION, DETECTION_FORM).await.unwrap();
    assert!(healthy.complete);
    assert!(healthy.body.len() > broken.body.len());
    parse_ok(&healthy);
    sim.shutdown().await;
}

#[tokio::test]
async fn reset_cuts_a_single_chunk_body() {
    let (sim, client) = start(small_config()).await;
    sim.handle().inject(FaultRule::once(
        Endpoint::KnowledgeBase,
        FaultKind::ResetMidBody,
    ));
    let broken = client
        .post_form(KB, "action=list&ids=10000-10100")
        .await
        .unwrap();
    assert!(!broken.complete);
    assert!(!broken.body.is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn server_error_always_until_cleared() {
    let (sim, client) = start(small_config()).await;
    sim.handle().inject(FaultRule::always(
        Endpoint::KnowledgeBase,
        FaultKind::ServerError { status: 500 },
    ));
    for _ in 0..3 {
        let response = client.post_form(KB, "action=list&ids=10000").await.unwrap();
        assert_eq!(response.status, 500);
        assert_eq!(response.header("content-type"), Some("text/html"));
    }
    let other = client.post_form(DETECTION, "action=list").await.unwrap();
    assert_eq!(other.status, 200, "faults are per endpoint");
    sim.handle().clear_faults();
    assert_eq!(
        client
            .post_form(KB, "action=list&ids=10000")
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(sim.handle().request_count(Endpoint::KnowledgeBase), 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limit_fault_twice_then_success() {
    let (sim, client) = start(small_config()).await;
    sim.handle()
        .inject("host-list:rate-limit=3:2".parse().unwrap());
    for _ in 0..2 {
        let response = client
            .get(&format!("{HOST_LIST}?action=list&details=None"))
            .await
            .unwrap();
        assert_eq!(response.status, 409);
        assert_eq!(response.header("x-ratelimit-towait-sec"), Some("3"));
        assert_eq!(response.header("x-ratelimit-remaining"), Some("0"));
        let doc = parse_ok(&response);
        assert_eq!(doc.root, "SIMPLE_RETURN");
        assert_eq!(doc.one("CODE"), "1965");
        assert_eq!(doc.one("ITEM/KEY"), "SECONDS_TO_WAIT");
        assert_eq!(doc.one("ITEM/VALUE"), "3");
    }
    let response = client
        .get(&format!("{HOST_LIST}?action=list&details=None"))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn concurrency_fault_returns_1960() {
    let (sim, client) = start(small_config()).await;
    sim.handle().inject(FaultRule::once(
        Endpoint::HostDetection,
        FaultKind::ConcurrencyLimit { calls_to_finish: 2 },
    ));
    let response = client.post_form(DETECTION, "action=list").await.unwrap();
    assert_eq!(response.status, 409);
    let doc = parse_ok(&response);
    assert_eq!(doc.one("CODE"), "1960");
    assert_eq!(doc.one("ITEM/KEY"), "CALLS_TO_FINISH");
    assert_eq!(doc.one("ITEM/VALUE"), "2");
    assert_eq!(response.header("x-concurrency-limit-limit"), Some("15"));
    assert_eq!(response.header("x-concurrency-limit-running"), Some("16"));
    sim.shutdown().await;
}

#[tokio::test]
async fn stalled_body_stops_mid_way() {
    let (sim, client) = start(small_config()).await;
    sim.handle().inject(FaultRule::once(
        Endpoint::HostDetection,
        FaultKind::StallMidBody { secs: 3_600 },
    ));
    let mut waiting = client.clone();
    waiting.idle_timeout = Some(Duration::from_millis(300));
    let stalled = waiting
        .send(
            "POST",
            DETECTION,
            Some("application/x-www-form-urlencoded"),
            DETECTION_FORM.as_bytes(),
            qgraph_qualys_sim::client::BodyMode::Keep,
        )
        .await
        .unwrap();
    assert_eq!(stalled.status, 200);
    assert!(stalled.stalled);
    assert!(!stalled.complete);
    assert!(!stalled.body.is_empty());
    // The stall still holds its response open; shutdown must end it rather than wait an hour.
    tokio::time::timeout(Duration::from_secs(10), sim.shutdown())
        .await
        .unwrap();
}

#[tokio::test]
async fn truncated_xml_ends_cleanly() {
    let (sim, client) = start(small_config()).await;
    sim.handle().inject(FaultRule::once(
        Endpoint::WebAppFinding,
        FaultKind::TruncatedXml,
    ));
    let response = client
        .post_xml(FINDINGS, &service_request(Some(100), None, &[]))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert!(
        response.complete,
        "the framing is complete; only the XML is cut"
    );
    let error = parse(&response.body).unwrap_err();
    assert!(
        error.contains("unclosed") || error.contains("ill-formed"),
        "{error}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_utf8_lands_in_record_text() {
    let (sim, client) = start(small_config()).await;
    sim.handle().inject(FaultRule::once(
        Endpoint::HostDetection,
        FaultKind::InvalidUtf8,
    ));
    let response = client.post_form(DETECTION, DETECTION_FORM).await.unwrap();
    assert!(response.complete);
    assert!(std::str::from_utf8(&response.body).is_err());
    let at = response
        .body
        .windows(4)
        .position(|w| w == b"\xff\xfe\xc3(")
        .unwrap();
    assert!(response.body[..at].ends_with(b"<DNS><![CDATA["));
    sim.shutdown().await;
}

#[tokio::test]
async fn control_characters_land_in_record_text() {
    let (sim, client) = start(small_config()).await;
    sim.handle().inject(FaultRule::once(
        Endpoint::KnowledgeBase,
        FaultKind::ControlCharacters,
    ));
    let response = client.post_form(KB, "action=list").await.unwrap();
    let at = response
        .body
        .windows(4)
        .position(|w| w == b"\x01\x08\x0b\x1b")
        .unwrap();
    assert!(response.body[..at].ends_with(b"<TITLE><![CDATA["));
    assert!(parse(&response.body).is_ok() || std::str::from_utf8(&response.body).is_ok());
    sim.shutdown().await;
}

#[tokio::test]
async fn account_expired_arrives_with_http_200() {
    let (sim, client) = start(small_config()).await;
    sim.handle().inject(FaultRule::once(
        Endpoint::HostList,
        FaultKind::AccountExpired,
    ));
    let response = client
        .get(&format!("{HOST_LIST}?action=list"))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    let doc = parse_ok(&response);
    assert_eq!(doc.root, "SIMPLE_RETURN");
    assert_eq!(doc.one("CODE"), "2001");
    assert_eq!(doc.one("TEXT"), "This account has expired.");
    sim.shutdown().await;
}

#[tokio::test]
async fn qps_invalid_credentials_fault_and_bad_login_fault() {
    let (sim, client) = start(small_config()).await;
    sim.handle().inject(FaultRule::once(
        Endpoint::PortalVersion,
        FaultKind::InvalidCredentials,
    ));
    sim.handle().inject(FaultRule::once(
        Endpoint::KnowledgeBase,
        FaultKind::BadLogin,
    ));
    let portal = client.get(PORTAL).await.unwrap();
    assert_eq!(portal.status, 200);
    assert_eq!(parse_ok(&portal).one("responseCode"), "INVALID_CREDENTIALS");
    let kb = client.post_form(KB, "action=list").await.unwrap();
    assert_eq!(kb.status, 401);
    assert_eq!(parse_ok(&kb).one("CODE"), "2000");
    assert_eq!(
        parse_ok(&client.get(PORTAL).await.unwrap()).one("responseCode"),
        "SUCCESS"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn authentication_is_checked_like_qualys() {
    let (sim, client) = start(small_config()).await;
    let base = sim.base_url();
    let anonymous = client.clone().without_auth();
    let response = anonymous.post_form(DETECTION, "action=list").await.unwrap();
    assert_eq!(response.status, 401);
    assert_eq!(parse_ok(&response).one("CODE"), "2000");

    let wrong = Client::new(&base, "qgraph-sim", "wrong-password");
    let portal = wrong.get(PORTAL).await.unwrap();
    assert_eq!(portal.status, 200);
    assert_eq!(parse_ok(&portal).one("responseCode"), "INVALID_CREDENTIALS");
    let assets = wrong
        .post_xml(ASSETS, &service_request(None, None, &[]))
        .await
        .unwrap();
    assert_eq!(parse_ok(&assets).one("responseCode"), "INVALID_CREDENTIALS");

    let no_header = client.clone().without_requested_with();
    let response = no_header.post_form(KB, "action=list").await.unwrap();
    assert_eq!(response.status, 400);
    assert_eq!(parse_ok(&response).root, "SIMPLE_RETURN");
    assert_eq!(
        no_header.get(PORTAL).await.unwrap().status,
        200,
        "QPS does not need the header"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limit_is_enforced_with_headers() {
    let (sim, client) = start(small_config()).await;
    sim.handle().set_limits(Limits {
        rate_limit_calls: 3,
        rate_window_secs: 3_600,
        concurrency_limit: 2,
    });
    for remaining in [2, 1, 0] {
        let response = client.post_form(KB, "action=list&ids=10000").await.unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(response.header("x-ratelimit-window-sec"), Some("3600"));
        assert_eq!(
            response.header("x-ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
        assert_eq!(response.header("x-concurrency-limit-limit"), Some("2"));
        assert_eq!(response.header("x-concurrency-limit-running"), Some("1"));
    }
    let blocked = client
        .get(&format!("{HOST_LIST}?action=list"))
        .await
        .unwrap();
    assert_eq!(blocked.status, 409);
    let wait: u64 = blocked
        .header("x-ratelimit-towait-sec")
        .unwrap()
        .parse()
        .unwrap();
    assert!((3_590..=3_600).contains(&wait), "{wait}");
    let doc = parse_ok(&blocked);
    assert_eq!(doc.one("CODE"), "1965");
    assert_eq!(doc.one("ITEM/VALUE"), wait.to_string());
    assert_eq!(
        client.get(PORTAL).await.unwrap().status,
        200,
        "QPS endpoints are not rate limited"
    );
    assert!(
        client
            .get(PORTAL)
            .await
            .unwrap()
            .header("x-ratelimit-limit")
            .is_none()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn concurrency_limit_is_enforced() {
    let (sim, client) = start(small_config()).await;
    sim.handle().set_limits(Limits {
        rate_limit_calls: 100,
        rate_window_secs: 3_600,
        concurrency_limit: 1,
    });
    sim.handle().inject(FaultRule::once(
        Endpoint::HostDetection,
        FaultKind::StallMidBody { secs: 3_600 },
    ));
    // Keep the stalled connection open: a client that hangs up ends its call.
    let held = open_stalled_detection(&sim.base_url()).await;
    // The stalled response still runs, so it holds the only slot.
    let blocked = client.post_form(KB, "action=list&ids=10000").await.unwrap();
    assert_eq!(blocked.status, 409);
    assert_eq!(blocked.header("x-concurrency-limit-running"), Some("1"));
    let doc = parse_ok(&blocked);
    assert_eq!(doc.one("CODE"), "1960");
    assert_eq!(doc.one("ITEM/KEY"), "CALLS_TO_FINISH");
    assert_eq!(doc.one("ITEM/VALUE"), "1");
    drop(held);
    tokio::time::timeout(Duration::from_secs(10), sim.shutdown())
        .await
        .unwrap();
}

/// Sends a detection request on a raw connection and reads until the body stops arriving.
async fn open_stalled_detection(base_url: &str) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = base_url.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let auth = qgraph_qualys_sim::base64_encode(b"qgraph-sim:qgraph-sim-password");
    let head = format!(
        "POST {DETECTION} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Basic {auth}\r\nX-Requested-With: test\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{DETECTION_FORM}",
        DETECTION_FORM.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut received = 0;
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await
    {
        assert!(n > 0, "the server closed a stalled response");
        received += n;
    }
    assert!(received > 0);
    stream
}
