//! Held-record parsing compared with event-by-event parsing: both paths must
//! yield the same hosts, record errors and page errors for every body and
//! every chunk size.

use super::*;
use crate::error::ParseError;
use crate::xml::PageParser;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/qualys"
);

type Item = Result<HostDetections, ParseError>;

/// Everything a parse yields, and how many records came from held slices.
struct Parsed {
    items: Vec<Item>,
    held_records: u64,
    held_capacity: usize,
}

fn with_results() -> ResultsOptions {
    ResultsOptions {
        keep: true,
        max_bytes: 10_000,
        ..ResultsOptions::default()
    }
}

/// Parses `body` handed over in `chunk`-byte reads, holding records up to `max_record_bytes`.
async fn parse(body: &[u8], chunk: usize, max_record_bytes: Option<usize>) -> Parsed {
    let kind = DetectionKind {
        results: with_results(),
    };
    let mut spec = kind.spec();
    spec.max_record_bytes = max_record_bytes;
    let builder = kind.builder(&spec);
    let reader = tokio::io::BufReader::with_capacity(chunk, body);
    let mut parser = PageParser::with_builder(reader, spec, builder);
    let mut items = Vec::new();
    loop {
        match parser.next_record().await {
            Ok(Some(host)) => items.push(Ok(host)),
            Ok(None) => break,
            Err(error) => {
                let page_failed = !matches!(error, ParseError::Record(_));
                items.push(Err(error));
                if page_failed {
                    break;
                }
            }
        }
    }
    Parsed {
        items,
        held_records: parser.held_records(),
        held_capacity: parser.held_capacity(),
    }
}

/// Parses `body` both ways at several chunk sizes, checks they agree, and returns the held-record result.
async fn parse_both_ways(body: &str) -> Parsed {
    let events = parse(body.as_bytes(), 8 * 1024, None).await;
    assert_eq!(events.held_records, 0);
    let held_parse = parse(body.as_bytes(), 8 * 1024, Some(MAX_HELD_HOST_BYTES)).await;
    assert_eq!(held_parse.items, events.items);
    // Chunks of one byte split the body at every boundary.
    for chunk in [1, 2, 3, 7, 64] {
        let parsed = parse(body.as_bytes(), chunk, Some(MAX_HELD_HOST_BYTES)).await;
        assert_eq!(parsed.items, events.items, "chunk size {chunk}");
        assert_eq!(
            parsed.held_records, held_parse.held_records,
            "chunk size {chunk}"
        );
    }
    held_parse
}

fn page(hosts: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<HOST_LIST_VM_DETECTION_OUTPUT>\n <RESPONSE>\n  <HOST_LIST>\n{hosts}\n  </HOST_LIST>\n\
         </RESPONSE>\n</HOST_LIST_VM_DETECTION_OUTPUT>\n"
    )
}

fn host_ids(items: &[Item]) -> Vec<Result<u64, Option<String>>> {
    items
        .iter()
        .map(|item| match item {
            Ok(host) => Ok(host.host_id),
            Err(ParseError::Record(error)) => Err(error.id.clone()),
            Err(other) => panic!("page failed: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn fixture_parses_the_same_from_held_records() {
    let body = std::fs::read_to_string(format!(
        "{FIXTURES}/vm-host-detection-list-with-results.xml"
    ))
    .unwrap();
    let parsed = parse_both_ways(&body).await;
    assert!(parsed.items.iter().all(Result::is_ok), "{:?}", parsed.items);
    assert!(!parsed.items.is_empty());
    assert_eq!(parsed.held_records, parsed.items.len() as u64);
}

#[tokio::test]
async fn end_tag_in_cdata_or_comment_kept() {
    let body = page(
        "<HOST><ID>1</ID><DETECTION_LIST><DETECTION><QID>5</QID>\
         <RESULTS><![CDATA[a > b </HOST></HOST_LIST> & <!-- ]]></RESULTS></DETECTION></DETECTION_LIST>\
         <!-- c > d </HOST> --></HOST>\n<HOST><ID>2</ID></HOST>",
    );
    let parsed = parse_both_ways(&body).await;
    assert_eq!(host_ids(&parsed.items), vec![Ok(1), Ok(2)]);
    let Ok(first) = &parsed.items[0] else {
        panic!("first host failed");
    };
    assert_eq!(
        first.detections[0].results.as_deref(),
        Some("a > b </HOST></HOST_LIST> & <!--")
    );
    assert_eq!(parsed.held_records, 2);
}

#[tokio::test]
async fn records_the_scan_cannot_delimit_read_by_events() {
    // A nested HOST, an end tag in an attribute value and one in a processing
    // instruction all end the scan early, so these records fall back to events.
    let body = page(
        "<HOST><ID>1</ID><EXTRA><HOST>inner</HOST></EXTRA><DNS>a</DNS></HOST>\
         <HOST><ID>2</ID><EXTRA note=\"</HOST>\"/><DNS>b</DNS></HOST>\
         <HOST><ID>3</ID><?note </HOST> ?><DNS>c</DNS></HOST>\
         <HOST><ID>4</ID><DNS>d</DNS></HOST>",
    );
    let parsed = parse_both_ways(&body).await;
    let dns: Vec<Option<&str>> = parsed
        .items
        .iter()
        .map(|item| item.as_ref().ok().and_then(|host| host.dns.as_deref()))
        .collect();
    assert_eq!(host_ids(&parsed.items), vec![Ok(1), Ok(2), Ok(3), Ok(4)]);
    assert_eq!(dns, vec![Some("a"), Some("b"), Some("c"), Some("d")]);
    assert_eq!(parsed.held_records, 1, "only the last host is held whole");
}

#[tokio::test]
async fn comment_start_in_attribute_keeps_next_host() {
    // The scan takes `<!--` in the attribute value for a comment and runs on
    // to the end of the second host. The first host closes before that, with
    // a record error, so it must be read again by events, not end the slice.
    let body = page(
        "<HOST><ID>1</ID><EXTRA note=\"<!--\"/><DNS>bad\u{1}</DNS></HOST>\
         <HOST><ID>2</ID><DNS>--></DNS></HOST>",
    );
    let parsed = parse_both_ways(&body).await;
    assert_eq!(
        host_ids(&parsed.items),
        vec![Err(Some("1".to_owned())), Ok(2)]
    );
    assert_eq!(parsed.held_records, 1, "only the second host is held whole");
}

#[tokio::test]
async fn record_errors_match_event_path() {
    let body = page(
        "<HOST/>\
         <HOST><ID>1</ID><DNS>bad\u{1}</DNS></HOST>\
         <HOST><ID>2</ID><DNS>&unknown;</DNS></HOST>\
         <HOST><ID>3</ID><TAGS><TAG><TAG_ID>x</TAG_ID></TAG></TAGS></HOST>\
         <HOST><ID>4</ID></HOST><HOST><ID>4</ID></HOST>",
    );
    let parsed = parse_both_ways(&body).await;
    assert_eq!(
        host_ids(&parsed.items),
        vec![
            Err(None),
            Err(Some("1".to_owned())),
            Err(Some("2".to_owned())),
            Err(None),
            Ok(4),
            Ok(4)
        ]
    );
    assert_eq!(parsed.held_records, 6);
}

#[tokio::test]
async fn invalid_utf8_fails_only_its_record() {
    let mut body =
        page("<HOST><ID>1</ID><DNS>caf\u{e9}</DNS></HOST><HOST><ID>2</ID></HOST>").into_bytes();
    let at = body
        .windows(2)
        .position(|pair| pair == "\u{e9}".as_bytes())
        .unwrap();
    body[at] = 0xFF;
    let events = parse(&body, 8 * 1024, None).await;
    for chunk in [1, 5, 8 * 1024] {
        let held_parse = parse(&body, chunk, Some(MAX_HELD_HOST_BYTES)).await;
        assert_eq!(held_parse.items, events.items, "chunk size {chunk}");
        assert_eq!(held_parse.held_records, 2);
    }
    assert_eq!(
        host_ids(&events.items),
        vec![Err(Some("1".to_owned())), Ok(2)]
    );
}

#[tokio::test]
async fn malformed_record_fails_page_at_same_position() {
    let body =
        page("<HOST><ID>1</ID></HOST><HOST><ID>2</ID><DNS>x</OS></HOST><HOST><ID>3</ID></HOST>");
    let parsed = parse_both_ways(&body).await;
    assert_eq!(parsed.items.len(), 2);
    assert!(
        matches!(&parsed.items[1], Err(ParseError::Xml { position, .. }) if *position > 0),
        "{:?}",
        parsed.items[1]
    );
}

#[tokio::test]
async fn cut_body_fails_like_event_path() {
    let body = page(
        "<HOST><ID>1</ID><DETECTION_LIST><DETECTION><QID>5</QID><RESULTS><![CDATA[a]]></RESULTS>\
         </DETECTION></DETECTION_LIST></HOST><HOST><ID>2</ID><!-- c --></HOST>",
    );
    let root_end = body.rfind("</HOST_LIST_VM_DETECTION_OUTPUT>").unwrap();
    for cut in 0..root_end {
        let events = parse(&body.as_bytes()[..cut], 8 * 1024, None).await;
        for chunk in [1, 8 * 1024] {
            let held_parse = parse(&body.as_bytes()[..cut], chunk, Some(MAX_HELD_HOST_BYTES)).await;
            assert_eq!(
                held_parse.items, events.items,
                "cut at {cut}, chunk size {chunk}"
            );
        }
        let last = events.items.last();
        assert!(
            matches!(
                last,
                Some(Err(ParseError::Truncated { .. } | ParseError::Xml { .. }))
            ),
            "cut at {cut}: {last:?}"
        );
    }
}

#[tokio::test]
async fn oversized_record_read_by_events() {
    let detections = "<DETECTION><QID>7</QID><RESULTS><![CDATA[0123456789]]></RESULTS></DETECTION>";
    let big = format!(
        "<HOST><ID>1</ID><DETECTION_LIST>{}</DETECTION_LIST></HOST>",
        detections.repeat(2_000)
    );
    let body = page(&format!(
        "<HOST><ID>0</ID></HOST>{big}<HOST><ID>2</ID></HOST>"
    ));
    let max_record_bytes = 4 * 1024;
    let chunk = 512;
    let events = parse(body.as_bytes(), chunk, None).await;
    let held_parse = parse(body.as_bytes(), chunk, Some(max_record_bytes)).await;

    assert_eq!(held_parse.items, events.items);
    assert_eq!(host_ids(&held_parse.items), vec![Ok(0), Ok(1), Ok(2)]);
    let Ok(big_host) = &held_parse.items[1] else {
        panic!("big host failed");
    };
    assert_eq!(big_host.detections.len(), 2_000);
    assert_eq!(held_parse.held_records, 2, "the big host is read by events");
    assert!(big.len() > 30 * max_record_bytes);
    assert!(
        held_parse.held_capacity <= 2 * (max_record_bytes + chunk),
        "held buffer grew to {} bytes",
        held_parse.held_capacity
    );
}
