//! Request shape and response checks against a one-shot HTTP server on 127.0.0.1.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
#![allow(clippy::panic, reason = "tests fail loudly on unexpected errors")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::StreamExt;
use qgraph_qualys::{
    ApiUrl, ClientConfig, Credentials, DetectionQuery, Endpoint, Loopback, QualysClient,
    QualysError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Serves one response and returns the raw request it received.
async fn serve_once(response: &'static str) -> (String, oneshot::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0_u8; 4096];
        // Read headers, then the body announced by Content-Length.
        loop {
            let read = socket.read(&mut buf).await.unwrap();
            request.extend_from_slice(&buf[..read]);
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text
                    .lines()
                    .find_map(|line| {
                        line.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(str::to_owned)
                    })
                    .map_or(0, |value| value.trim().parse::<usize>().unwrap());
                if request.len() >= end + 4 + length {
                    break;
                }
            }
            if read == 0 {
                break;
            }
        }
        socket.write_all(response.as_bytes()).await.unwrap();
        socket.shutdown().await.unwrap();
        let _ = tx.send(String::from_utf8_lossy(&request).to_string());
    });
    (base_url, rx)
}

fn client(base_url: &str) -> QualysClient {
    let api_url = ApiUrl::parse(base_url, Loopback::Allow).unwrap();
    QualysClient::new(ClientConfig::new(
        api_url,
        Credentials::new("exmpl3aw", "not-a-real-password"),
    ))
    .unwrap()
}

const EMPTY_DETECTIONS: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/xml;charset=UTF-8\r\nContent-Length: 125\r\n\r\n\
<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><DATETIME>2020-01-01T00:00:00Z</DATETIME></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>";

#[tokio::test]
async fn detection_request_shape() {
    let (base_url, request) = serve_once(EMPTY_DETECTIONS).await;
    let query = DetectionQuery {
        host_ids: vec![11, 22, 33],
        ..DetectionQuery::default()
    };
    let items: Vec<_> = client(&base_url).host_detections(&query).collect().await;
    let request = request.await.unwrap();
    let lower = request.to_ascii_lowercase();

    assert!(items.is_empty(), "{items:?}");
    assert!(
        request.starts_with("POST /api/2.0/fo/asset/host/vm/detection/ HTTP/1.1"),
        "{request}"
    );
    assert!(lower.contains("x-requested-with: qgraph"), "{request}");
    assert!(lower.contains("authorization: basic "), "{request}");
    assert!(lower.contains("accept-encoding: gzip"), "{request}");
    assert!(
        request.contains("ids=11%2C22%2C33"),
        "ids travel in the body: {request}"
    );
    assert!(
        request.contains("status=New%2CActive%2CFixed%2CRe-Opened"),
        "{request}"
    );
    assert!(
        !request.contains("not-a-real-password"),
        "the password is only sent encoded"
    );
}

#[tokio::test]
async fn html_content_type_named_in_error() {
    let (base_url, _request) = serve_once(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 13\r\n\r\n<html></html>",
    )
    .await;
    let error = client(&base_url).portal_version().await.unwrap_err();
    match &error {
        QualysError::ContentType {
            endpoint,
            status,
            content_type,
        } => {
            assert_eq!(*endpoint, Endpoint::PortalVersion);
            assert_eq!(*status, 200);
            assert_eq!(content_type, "text/html; charset=utf-8");
        }
        other => panic!("expected a content type error, got {other:?}"),
    }
    assert!(error.to_string().contains("text/html"), "{error}");
}

#[tokio::test]
async fn next_page_on_other_host_rejected() {
    let (base_url, _request) = serve_once(
        "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 211\r\n\r\n\
<HOST_LIST_OUTPUT><RESPONSE><ID_SET><ID>1</ID></ID_SET><WARNING><CODE>1980</CODE><TEXT>more</TEXT>\
<URL><![CDATA[http://127.0.0.2:9/api/2.0/fo/asset/host/?id_min=2]]></URL></WARNING></RESPONSE></HOST_LIST_OUTPUT>",
    )
    .await;
    let items: Vec<_> = client(&base_url)
        .host_ids(&Default::default())
        .collect()
        .await;

    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap().first, 1);
    let Err(QualysError::PageFailed { source, .. }) = &items[1] else {
        panic!("expected a failed page, got {:?}", items[1]);
    };
    assert!(
        matches!(**source, QualysError::InvalidApiUrl { .. }),
        "{source:?}"
    );
}

#[tokio::test]
async fn repeated_next_page_stops_chain() {
    let (base_url, served) = serve_pages_naming(&[2]).await;
    let items: Vec<_> = client(&base_url)
        .host_ids(&Default::default())
        .collect()
        .await;

    // The first page, the page it names, then the same name again.
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap().first, 1);
    assert_eq!(items[1].as_ref().unwrap().first, 2);
    let Err(QualysError::PageFailed { source, .. }) = &items[2] else {
        panic!("expected a failed page, got {:?}", items[2]);
    };
    assert!(
        matches!(**source, QualysError::RunawayPaging { .. }),
        "{source:?}"
    );
    let message = source.to_string();
    assert!(message.contains("the same next page twice"), "{message}");
    assert!(message.contains("id_min=2"), "{message}");
    assert_eq!(served.load(Ordering::SeqCst), 2);
}

/// Serves host list pages, one per request, whose `WARNING/URL` names the
/// `id_min` values of `next_ids` in turn (the last one again once they run
/// out). Returns the base URL and the number of requests served.
async fn serve_pages_naming(next_ids: &'static [u64]) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let base = base_url.clone();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let page = counter.fetch_add(1, Ordering::SeqCst) + 1;
            let next = next_ids[(page - 1).min(next_ids.len() - 1)];
            let body = format!(
                "<HOST_LIST_OUTPUT><RESPONSE><ID_SET><ID>{page}</ID></ID_SET><WARNING><CODE>1980</CODE>\
                 <TEXT>more</TEXT><URL><![CDATA[{base}/api/2.0/fo/asset/host/?action=list&id_min={next}]]>\
                 </URL></WARNING></RESPONSE></HOST_LIST_OUTPUT>"
            );
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            let mut buf = [0_u8; 8192];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (base_url, served)
}

#[tokio::test]
async fn next_page_going_back_stops_chain() {
    let (base_url, _served) = serve_pages_naming(&[5, 3]).await;
    let items: Vec<_> = client(&base_url)
        .host_ids(&Default::default())
        .collect()
        .await;

    // Page 1 names id_min=5; that page names id_min=3, which goes back.
    assert_eq!(items.len(), 3, "{items:?}");
    let Err(QualysError::PageFailed { source, .. }) = &items[2] else {
        panic!("expected a failed page, got {:?}", items[2]);
    };
    assert!(
        matches!(**source, QualysError::RunawayPaging { .. }),
        "{source:?}"
    );
    let message = source.to_string();
    assert!(
        message.contains("id_min=3, not after the current id_min=5"),
        "{message}"
    );
}
