//! Parser tolerance: hostile DOCTYPEs, comments, cut bodies, malformed XML, huge fields.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
#![allow(clippy::panic, reason = "tests fail loudly on unexpected errors")]

use qgraph_qualys::parse::{self, RecordKind, RecordStream};
use qgraph_qualys::{ParseError, ResultsOptions};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/qualys"
);

async fn collect<K: RecordKind>(
    mut stream: RecordStream<&[u8], K>,
) -> (Vec<K::Record>, Vec<ParseError>, Result<(), ParseError>) {
    let mut records = Vec::new();
    let mut record_errors = Vec::new();
    loop {
        match stream.next().await {
            Ok(Some(record)) => records.push(record),
            Ok(None) => return (records, record_errors, Ok(())),
            Err(error @ ParseError::Record(_)) => record_errors.push(error),
            Err(error) => return (records, record_errors, Err(error)),
        }
    }
}

fn detection_page(hosts: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><DATETIME>2020-01-01T00:00:00Z</DATETIME>\
         <HOST_LIST>{hosts}</HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>"
    )
}

fn with_results(max_bytes: usize) -> ResultsOptions {
    ResultsOptions {
        keep: true,
        max_bytes,
        ..ResultsOptions::default()
    }
}

#[tokio::test]
async fn external_entity_never_expanded() {
    // The DTD and entity point at a closed loopback port; a parser that fetched them would fail or hang.
    let body = r#"<?xml version="1.0"?>
<!DOCTYPE HOST_LIST_VM_DETECTION_OUTPUT SYSTEM "http://127.0.0.1:9/evil.dtd" [
  <!ENTITY secret SYSTEM "file:///etc/passwd">
]>
<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST>
<HOST><ID>1</ID><DNS>&secret;</DNS></HOST>
<HOST><ID>2</ID><DNS>ok</DNS></HOST>
</HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>"#;
    let (hosts, errors, end) = collect(parse::host_detections(
        body.as_bytes(),
        ResultsOptions::default(),
    ))
    .await;
    end.unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].host_id, 2);
    assert_eq!(errors.len(), 1);
    let ParseError::Record(error) = &errors[0] else {
        panic!("expected a record error, got {:?}", errors[0]);
    };
    assert_eq!(error.id.as_deref(), Some("1"));
    assert!(error.reason.contains("secret"), "{}", error.reason);
}

#[tokio::test]
async fn comments_anywhere_ignored() {
    let body = detection_page(
        "<!-- before --><HOST><!-- inside --><ID>4<!-- in text -->2</ID>\
         <DETECTION_LIST><!-- list --><DETECTION><QID>1<!-- x -->1</QID><!-- y --></DETECTION></DETECTION_LIST></HOST>",
    );
    let (hosts, errors, end) = collect(parse::host_detections(
        body.as_bytes(),
        ResultsOptions::default(),
    ))
    .await;
    end.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(hosts[0].host_id, 42);
    assert_eq!(hosts[0].detections[0].qid, 11);
}

#[tokio::test]
async fn empty_containers_and_unknown_elements() {
    let body = detection_page(
        "<HOST><ID>1</ID><TAGS></TAGS><DETECTION_LIST/><NEW_FIELD><DEEP a=\"b\">x</DEEP></NEW_FIELD></HOST>\
         <HOST><ID>2</ID><TAGS><TAG><TAG_ID>9</TAG_ID><NAME>one</NAME></TAG></TAGS>\
         <DETECTION_LIST><DETECTION><QID>5</QID><UNKNOWN/></DETECTION></DETECTION_LIST></HOST>",
    );
    let (hosts, errors, end) = collect(parse::host_detections(
        body.as_bytes(),
        ResultsOptions::default(),
    ))
    .await;
    end.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(hosts[0].tags.is_empty());
    assert!(hosts[0].detections.is_empty());
    assert_eq!(hosts[1].tags.len(), 1, "one child is a list of one");
    assert_eq!(hosts[1].tags[0].id, Some(9));
    assert_eq!(hosts[1].detections[0].qid, 5);
    assert_eq!(hosts[1].detections[0].port, None);
}

#[tokio::test]
async fn duplicate_hosts_both_yielded() {
    let body = detection_page("<HOST><ID>7</ID></HOST><HOST><ID>7</ID></HOST>");
    let (hosts, _, end) = collect(parse::host_detections(
        body.as_bytes(),
        ResultsOptions::default(),
    ))
    .await;
    end.unwrap();
    assert_eq!(hosts.len(), 2);
}

#[tokio::test]
async fn missing_or_garbled_ids_fail_their_record() {
    let body = detection_page(
        "<HOST><IP>10.0.0.1</IP></HOST>\
         <HOST><ID>1</ID><DETECTION_LIST><DETECTION><QID>\u{1}x</QID></DETECTION></DETECTION_LIST></HOST>\
         <HOST><ID>2</ID><DETECTION_LIST><DETECTION><QID>abc</QID></DETECTION></DETECTION_LIST></HOST>\
         <HOST><ID>99999999999999999999999</ID></HOST>\
         <HOST><ID>3</ID></HOST>",
    );
    let (hosts, errors, end) = collect(parse::host_detections(
        body.as_bytes(),
        ResultsOptions::default(),
    ))
    .await;
    end.unwrap();
    assert_eq!(
        hosts.iter().map(|host| host.host_id).collect::<Vec<_>>(),
        vec![3]
    );
    let ids: Vec<Option<String>> = errors
        .iter()
        .map(|error| match error {
            ParseError::Record(record) => record.id.clone(),
            other => panic!("expected record errors, got {other:?}"),
        })
        .collect();
    assert_eq!(
        ids,
        vec![
            None,
            Some("1".to_owned()),
            Some("2".to_owned()),
            Some("99999999999999999999999".to_owned())
        ]
    );
}

#[tokio::test]
async fn huge_results_cut_while_streaming() {
    let results = "A".repeat(5 * 1024 * 1024);
    let body = detection_page(&format!(
        "<HOST><ID>1</ID><DETECTION_LIST><DETECTION><QID>1</QID><RESULTS><![CDATA[{results}]]></RESULTS></DETECTION>\
         <DETECTION><QID>2</QID><RESULTS>short é</RESULTS></DETECTION></DETECTION_LIST></HOST>"
    ));
    let (hosts, _, end) = collect(parse::host_detections(body.as_bytes(), with_results(300))).await;
    end.unwrap();
    let first = &hosts[0].detections[0];
    assert_eq!(first.results.as_deref().map(str::len), Some(300));
    assert!(first.results_truncated);
    let second = &hosts[0].detections[1];
    assert_eq!(second.results.as_deref(), Some("short é"));
    assert!(!second.results_truncated);
}

#[tokio::test]
async fn results_cut_at_char_boundary() {
    let body = detection_page(
        "<HOST><ID>1</ID><DETECTION_LIST><DETECTION><QID>1</QID><RESULTS>ééééé</RESULTS></DETECTION></DETECTION_LIST></HOST>",
    );
    let (hosts, _, end) = collect(parse::host_detections(body.as_bytes(), with_results(5))).await;
    end.unwrap();
    assert_eq!(hosts[0].detections[0].results.as_deref(), Some("éé"));
    assert!(hosts[0].detections[0].results_truncated);
}

#[tokio::test]
async fn body_cut_anywhere_is_never_complete() {
    let body = std::fs::read(format!(
        "{FIXTURES}/vm-host-detection-list-with-results.xml"
    ))
    .unwrap();
    let root_end = body
        .windows(33)
        .rposition(|w| w == b"</HOST_LIST_VM_DETECTION_OUTPUT>\n")
        .unwrap_or(body.len());
    for cut in (0..root_end).step_by(211) {
        let (_, _, end) = collect(parse::host_detections(&body[..cut], with_results(100))).await;
        match end {
            Err(ParseError::Truncated { .. } | ParseError::Xml { .. }) => {}
            other => panic!("cut at byte {cut}: expected a truncation, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn mismatched_end_tag_is_malformed() {
    let body = detection_page("<HOST><ID>1</ID></HOSTX>");
    let (_, _, end) = collect(parse::host_detections(
        body.as_bytes(),
        ResultsOptions::default(),
    ))
    .await;
    assert!(matches!(end, Err(ParseError::Xml { .. })), "{end:?}");
}

#[tokio::test]
async fn html_body_is_unexpected_root() {
    let body = "<html><body>Service Unavailable</body></html>";
    let (_, _, end) = collect(parse::knowledge_base(body.as_bytes())).await;
    match end {
        Err(ParseError::UnexpectedRoot { found, .. }) => assert_eq!(found, "html"),
        other => panic!("expected an unexpected root, got {other:?}"),
    }
}

#[tokio::test]
async fn empty_body_is_truncated() {
    let (_, _, end) = collect(parse::host_ids(&b""[..])).await;
    assert!(matches!(end, Err(ParseError::Truncated { .. })), "{end:?}");
}

#[tokio::test]
async fn cvss_forms_parsed_with_text_kept() {
    let body = "<KNOWLEDGE_BASE_VULN_LIST_OUTPUT><RESPONSE><VULN_LIST>\
        <VULN><QID>1</QID><CVSS><BASE source=\"service\">7.8 (AV:N/AC:L/Au:N/C:C/I:C/A:C)</BASE><TEMPORAL>-</TEMPORAL></CVSS>\
        <CVSS_V3><BASE>9.8</BASE><TEMPORAL>8.5</TEMPORAL><VECTOR_STRING>CVSS:3.1/AV:N/AC:L</VECTOR_STRING></CVSS_V3></VULN>\
        </VULN_LIST></RESPONSE></KNOWLEDGE_BASE_VULN_LIST_OUTPUT>";
    let (vulns, _, end) = collect(parse::knowledge_base(body.as_bytes())).await;
    end.unwrap();
    let v2 = vulns[0].cvss_v2.as_ref().unwrap();
    assert_eq!(v2.base.as_ref().unwrap().value, Some(7.8));
    assert_eq!(v2.vector.as_deref(), Some("AV:N/AC:L/Au:N/C:C/I:C/A:C"));
    assert_eq!(v2.temporal.as_ref().unwrap().value, None);
    assert_eq!(v2.temporal.as_ref().unwrap().text, "-");
    let v3 = vulns[0].cvss_v3.as_ref().unwrap();
    assert_eq!(v3.base.as_ref().unwrap().value, Some(9.8));
    assert_eq!(v3.temporal.as_ref().unwrap().value, Some(8.5));
    assert_eq!(v3.vector.as_deref(), Some("CVSS:3.1/AV:N/AC:L"));
}

#[tokio::test]
async fn split_chunks_parse_like_whole_body() {
    let body = std::fs::read(format!(
        "{FIXTURES}/vm-host-detection-list-with-results.xml"
    ))
    .unwrap();
    let (whole, _, end) = collect(parse::host_detections(&body[..], with_results(10_000))).await;
    end.unwrap();
    // A reader with a 7-byte buffer splits every token, CDATA and UTF-8 sequence.
    let reader = tokio::io::BufReader::with_capacity(7, &body[..]);
    let mut stream = parse::host_detections(reader, with_results(10_000));
    let mut split = Vec::new();
    while let Some(host) = stream.next().await.unwrap() {
        split.push(host);
    }
    assert_eq!(split, whole);
}
