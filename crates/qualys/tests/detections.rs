//! Host detection records filled straight from the XML events keep the rules
//! of the element-tree parsers: first field wins, trimming, error order.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
#![allow(clippy::panic, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeSet;

use qgraph_qualys::{HostDetections, ParseError, RecordError, ResultsOptions, parse};

fn page(hosts: &str) -> String {
    format!(
        "<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST>{hosts}</HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>"
    )
}

async fn read(body: &str, results: ResultsOptions) -> (Vec<HostDetections>, Vec<RecordError>) {
    let mut stream = parse::host_detections(body.as_bytes(), results);
    let mut hosts = Vec::new();
    let mut errors = Vec::new();
    loop {
        match stream.next().await {
            Ok(Some(host)) => hosts.push(host),
            Ok(None) => return (hosts, errors),
            Err(ParseError::Record(error)) => errors.push(error),
            Err(other) => panic!("page failed: {other:?}"),
        }
    }
}

fn keep(max_bytes: usize) -> ResultsOptions {
    ResultsOptions {
        keep: true,
        max_bytes,
        qids: BTreeSet::new(),
    }
}

#[tokio::test]
async fn first_of_repeated_fields_wins_even_when_empty() {
    let body = page(
        "<HOST><ID>1</ID><ID>2</ID><DNS></DNS><DNS>late</DNS><IP> 10.0.0.1 </IP>\
         <DETECTION_LIST><DETECTION><QID>5</QID><QID>6</QID><STATUS>New</STATUS><STATUS>Fixed</STATUS></DETECTION></DETECTION_LIST>\
         <DETECTION_LIST><DETECTION><QID>7</QID></DETECTION></DETECTION_LIST></HOST>",
    );
    let (hosts, errors) = read(&body, ResultsOptions::default()).await;
    assert!(errors.is_empty(), "{errors:?}");
    let host = &hosts[0];
    assert_eq!(host.host_id, 1);
    assert_eq!(host.dns, None, "the first DNS is empty");
    assert_eq!(host.ip.as_deref(), Some("10.0.0.1"));
    assert_eq!(
        host.detections.len(),
        1,
        "only the first DETECTION_LIST is read"
    );
    assert_eq!(host.detections[0].qid, 5);
    assert_eq!(host.detections[0].status.as_deref(), Some("New"));
}

#[tokio::test]
async fn text_joins_references_cdata_and_comments() {
    let body = page(
        "<HOST><ID>1</ID><OS>Win &amp; <![CDATA[<Linux>]]><!-- c --> box&#33;</OS>\
         <TAGS><TAG><TAG_ID>3</TAG_ID><NAME>a &lt; b</NAME></TAG><TAG><NAME>no id</NAME></TAG></TAGS></HOST>",
    );
    let (hosts, errors) = read(&body, ResultsOptions::default()).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(hosts[0].os.as_deref(), Some("Win & <Linux> box!"));
    assert_eq!(hosts[0].tags.len(), 2);
    assert_eq!(hosts[0].tags[0].id, Some(3));
    assert_eq!(hosts[0].tags[0].name, "a < b");
    assert_eq!(hosts[0].tags[1].id, None);
}

#[tokio::test]
async fn empty_results_kept_and_other_qids_dropped() {
    let body = page(
        "<HOST><ID>1</ID><DETECTION_LIST>\
         <DETECTION><RESULTS></RESULTS><QID>11</QID></DETECTION>\
         <DETECTION><QID>12</QID><RESULTS>kept only for 11</RESULTS></DETECTION>\
         </DETECTION_LIST></HOST>",
    );
    let results = ResultsOptions {
        qids: BTreeSet::from([11]),
        ..keep(100)
    };
    let (hosts, errors) = read(&body, results).await;
    assert!(errors.is_empty(), "{errors:?}");
    let detections = &hosts[0].detections;
    assert_eq!(
        detections[0].results.as_deref(),
        Some(""),
        "RESULTS before QID"
    );
    assert_eq!(detections[1].results, None);
    assert!(!detections[1].results_truncated);
}

#[tokio::test]
async fn control_character_in_skipped_results_is_ignored() {
    let body = page(
        "<HOST><ID>1</ID><DETECTION_LIST><DETECTION><QID>1</QID><RESULTS>a\u{1}b<X>\u{2}</X></RESULTS></DETECTION></DETECTION_LIST></HOST>",
    );
    let (hosts, errors) = read(&body, ResultsOptions::default()).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(hosts[0].detections[0].results, None);

    let (hosts, errors) = read(&body, keep(100)).await;
    assert!(hosts.is_empty());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].id.as_deref(), Some("1"));
    assert!(errors[0].reason.contains("U+0001"), "{}", errors[0].reason);
}

#[tokio::test]
async fn errors_name_the_first_invalid_field() {
    let body = page(
        "<HOST><ID>x</ID><DETECTION_LIST><DETECTION><QID>4</QID><TIMES_FOUND>many</TIMES_FOUND><PORT>99999</PORT></DETECTION></DETECTION_LIST></HOST>\
         <HOST><ID>2</ID><LAST_VM_SCANNED_DURATION>long</LAST_VM_SCANNED_DURATION><TAGS><TAG><TAG_ID>t</TAG_ID></TAG></TAGS></HOST>\
         <HOST><ID>3</ID><TAGS><TAG><TAG_ID>t</TAG_ID></TAG></TAGS></HOST>\
         <HOST><ID>4</ID><DETECTION_LIST><DETECTION><TYPE>Info</TYPE></DETECTION></DETECTION_LIST></HOST>\
         <HOST><ID>5</ID><TRACKING_METHOD bad=\"&nope;\">IP</TRACKING_METHOD></HOST>\
         <HOST><ID>6</ID></HOST>",
    );
    let (hosts, errors) = read(&body, ResultsOptions::default()).await;
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].host_id, 6);

    let found: Vec<(&str, Option<&str>, &str)> = errors
        .iter()
        .map(|error| {
            (
                error.element.as_str(),
                error.id.as_deref(),
                error.reason.as_str(),
            )
        })
        .collect();

    assert_eq!(found[0].0, "HOST");
    assert_eq!(found[0].1, Some("x"));
    assert_eq!(
        found[0].2, "detection QID 4: <PORT> is not an integer: \"99999\"",
        "PORT comes before TIMES_FOUND, and a detection before the host id"
    );
    assert_eq!(
        found[1],
        (
            "HOST",
            Some("2"),
            "<LAST_VM_SCANNED_DURATION> is not an integer: \"long\""
        )
    );
    assert_eq!(found[2], ("TAG", None, "<TAG_ID> is not an integer: \"t\""));
    assert_eq!(
        found[3],
        ("HOST", Some("4"), "detection QID unknown: missing <QID>")
    );
    assert_eq!(found[4].1, Some("5"));
    assert!(found[4].2.contains("TRACKING_METHOD"), "{}", found[4].2);
    assert_eq!(errors.len(), 5);
}

#[tokio::test]
async fn builder_state_does_not_leak_between_hosts() {
    let body = page(
        "<HOST><ID>1</ID><DNS>a</DNS><TAGS><TAG><TAG_ID>1</TAG_ID></TAG></TAGS>\
         <DETECTION_LIST><DETECTION><QID>1</QID><SSL>1</SSL></DETECTION><DETECTION><QID>2</QID></DETECTION></DETECTION_LIST></HOST>\
         <HOST><ID>2</ID><DETECTION_LIST><DETECTION><QID>3</QID></DETECTION></DETECTION_LIST></HOST>",
    );
    let (hosts, errors) = read(&body, ResultsOptions::default()).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(hosts[1].dns, None);
    assert!(hosts[1].tags.is_empty());
    assert_eq!(hosts[1].detections.len(), 1);
    assert_eq!(hosts[1].detections[0].ssl, None);
    assert_eq!(hosts[0].detections[1].ssl, None);
}
