//! Generated subscription: shapes, paging, filters, consistency across endpoints and ground truth.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::collections::BTreeSet;

use common::*;
use qgraph_qualys_sim::{
    DetectionStatus, GeneratedConfig, SummaryFilter, parse_timestamp, summary,
};

const ALL_STATUSES: &str = "status=New,Active,Fixed,Re-Opened";

#[tokio::test]
async fn every_endpoint_returns_well_formed_xml() {
    let (sim, client) = start(small_config()).await;
    let cases = [
        (
            client.get(PORTAL).await.unwrap(),
            "ServiceResponse",
            "application/xml",
        ),
        (
            client
                .get(&format!("{HOST_LIST}?action=list&details=None"))
                .await
                .unwrap(),
            "HOST_LIST_OUTPUT",
            "text/xml;charset=UTF-8",
        ),
        (
            client
                .get(&format!("{HOST_LIST}?action=list&details=Basic"))
                .await
                .unwrap(),
            "HOST_LIST_OUTPUT",
            "text/xml;charset=UTF-8",
        ),
        (
            client
                .post_form(
                    DETECTION,
                    &format!("action=list&show_tags=1&show_igs=1&show_results=1&{ALL_STATUSES}"),
                )
                .await
                .unwrap(),
            "HOST_LIST_VM_DETECTION_OUTPUT",
            "text/xml;charset=UTF-8",
        ),
        (
            client.post_form(KB, "action=list").await.unwrap(),
            "KNOWLEDGE_BASE_VULN_LIST_OUTPUT",
            "text/xml;charset=UTF-8",
        ),
        (
            client
                .post_xml(ASSETS, &service_request(Some(50), None, &[]))
                .await
                .unwrap(),
            "ServiceResponse",
            "application/xml",
        ),
        (
            client
                .post_xml(
                    WEB_APPS,
                    &service_request(None, Some(1), &[("isScanned", "EQUALS", "true")]),
                )
                .await
                .unwrap(),
            "ServiceResponse",
            "application/xml",
        ),
        (
            client
                .post_xml(FINDINGS, &service_request(Some(250), Some(1), &[]))
                .await
                .unwrap(),
            "ServiceResponse",
            "application/xml",
        ),
    ];
    for (response, root, content_type) in cases {
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.header("content-type"), Some(content_type));
        let doc = parse_ok(&response);
        assert_eq!(doc.root, root);
        assert!(!doc.leaves.is_empty());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn v2_bodies_carry_doctype_and_comments() {
    let (sim, client) = start(small_config()).await;
    let response = client
        .post_form(KB, "action=list&ids=1-20000")
        .await
        .unwrap();
    let doc = parse_ok(&response);
    assert!(doc.doctype);
    assert!(doc.comments >= 3, "{}", doc.comments);
    assert!(
        response
            .text()
            .contains("<!-- keep-alive for KNOWLEDGE_BASE_VULN_LIST_OUTPUT -->")
    );
    assert!(doc.has("VULN/CVE_LIST/CVE/ID"));
    assert!(doc.has("VULN/CVSS/BASE"));
    assert!(doc.has("VULN/CVSS_V3/BASE"));
    assert!(doc.has("VULN/THREAT_INTELLIGENCE/THREAT_INTEL"));
    let types: BTreeSet<&str> = doc.texts("VULN/VULN_TYPE").into_iter().collect();
    assert_eq!(
        types,
        BTreeSet::from([
            "Information Gathered",
            "Potential Vulnerability",
            "Vulnerability"
        ])
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn host_list_page_walk_returns_each_id_once() {
    let config = small_config();
    let (sim, client) = start(config.clone()).await;
    let base = sim.base_url();
    let all = walk_v2(
        &client,
        &base,
        &format!("{HOST_LIST}?action=list&details=None&truncation_limit=0"),
        None,
    )
    .await;
    assert_eq!(all.len(), 1);
    let expected = all[0].numbers("ID_SET/ID");
    assert_eq!(
        expected.len() as u64,
        summary(&config, &SummaryFilter::default()).hosts
    );
    for limit in [1u64, 7, 50, 119, 1000] {
        let pages = walk_v2(
            &client,
            &base,
            &format!("{HOST_LIST}?action=list&details=None&truncation_limit={limit}"),
            None,
        )
        .await;
        let ids: Vec<u64> = pages
            .iter()
            .flat_map(|doc| doc.numbers("ID_SET/ID"))
            .collect();
        assert_eq!(ids, expected, "truncation_limit={limit}");
        assert_eq!(
            pages.len() as u64,
            (expected.len() as u64).div_ceil(limit).max(1),
            "limit {limit}"
        );
        for page in &pages {
            assert!(page.numbers("ID_SET/ID").len() as u64 <= limit);
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn detection_page_walk_returns_each_host_once() {
    let config = small_config();
    let (sim, client) = start(config.clone()).await;
    let base = sim.base_url();
    let form = |limit: u64| {
        format!(
            "{ALL_STATUSES}&action=list&show_tags=1&show_igs=1&show_results=0&output_format=XML&truncation_limit={limit}"
        )
    };
    let truth = summary(&config, &SummaryFilter::default());
    for limit in [1u64, 13, 1000] {
        let pages = walk_v2(&client, &base, DETECTION, Some(&form(limit))).await;
        let ids: Vec<u64> = pages
            .iter()
            .flat_map(|doc| doc.numbers("HOST_LIST/HOST/ID"))
            .collect();
        let unique: BTreeSet<u64> = ids.iter().copied().collect();
        assert_eq!(
            unique.len(),
            ids.len(),
            "duplicate host with truncation_limit={limit}"
        );
        assert_eq!(
            ids.len() as u64,
            truth.hosts_with_detections,
            "limit {limit}"
        );
        let detections: usize = pages
            .iter()
            .map(|doc| doc.texts("DETECTION/QID").len())
            .sum();
        assert_eq!(detections as u64, truth.detections, "limit {limit}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn same_seed_gives_identical_bytes() {
    let (first, first_client) = start(small_config()).await;
    let (second, second_client) = start(small_config()).await;
    let (other, other_client) = start(GeneratedConfig {
        seed: 8,
        ..small_config()
    })
    .await;
    let form = format!("action=list&show_igs=1&show_results=1&{ALL_STATUSES}&truncation_limit=40");
    let a = first_client.post_form(DETECTION, &form).await.unwrap();
    let b = second_client.post_form(DETECTION, &form).await.unwrap();
    let c = other_client.post_form(DETECTION, &form).await.unwrap();
    // Only the port in URLs differs between two simulators.
    let normalize = |text: String, url: String| text.replace(&url, "BASE");
    assert_eq!(
        normalize(a.text(), first.base_url()),
        normalize(b.text(), second.base_url())
    );
    assert_ne!(
        normalize(a.text(), first.base_url()),
        normalize(c.text(), other.base_url())
    );
    let again = first_client.post_form(DETECTION, &form).await.unwrap();
    assert_eq!(a.body, again.body);
    for sim in [first, second, other] {
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn ids_agree_across_endpoints() {
    let config = small_config();
    let (sim, client) = start(config).await;
    let base = sim.base_url();
    let host_ids: BTreeSet<u64> = walk_v2(
        &client,
        &base,
        &format!("{HOST_LIST}?action=list&details=None&truncation_limit=0"),
        None,
    )
    .await[0]
        .numbers("ID_SET/ID")
        .into_iter()
        .collect();

    let assets = walk_qps(&client, ASSETS, 25, &[]).await;
    let asset_host_ids: BTreeSet<u64> = assets
        .iter()
        .flat_map(|d| d.numbers("HostAsset/qwebHostId"))
        .collect();
    assert_eq!(asset_host_ids, host_ids);

    let detections = walk_v2(
        &client,
        &base,
        DETECTION,
        Some(&format!(
            "action=list&show_igs=1&{ALL_STATUSES}&truncation_limit=0"
        )),
    )
    .await;
    let detection_host_ids: BTreeSet<u64> = detections[0]
        .numbers("HOST_LIST/HOST/ID")
        .into_iter()
        .collect();
    assert!(detection_host_ids.is_subset(&host_ids));
    assert!(!detection_host_ids.is_empty());

    let qids: BTreeSet<u64> = detections[0].numbers("DETECTION/QID").into_iter().collect();
    let findings = walk_qps(&client, FINDINGS, 20, &[]).await;
    let finding_qids: BTreeSet<u64> = findings
        .iter()
        .flat_map(|d| d.numbers("Finding/qid"))
        .collect();
    let requested: Vec<String> = qids.union(&finding_qids).map(u64::to_string).collect();
    let kb = parse_ok(
        &client
            .post_form(KB, &format!("action=list&ids={}", requested.join(",")))
            .await
            .unwrap(),
    );
    let kb_qids: BTreeSet<u64> = kb.numbers("VULN/QID").into_iter().collect();
    assert_eq!(kb_qids.len(), requested.len());

    let web_apps = walk_qps(&client, WEB_APPS, 5, &[]).await;
    let web_app_ids: BTreeSet<u64> = web_apps
        .iter()
        .flat_map(|d| d.numbers("WebApp/id"))
        .collect();
    let finding_apps: BTreeSet<u64> = findings
        .iter()
        .flat_map(|d| d.numbers("Finding/webApp/id"))
        .collect();
    assert!(!finding_apps.is_empty());
    assert!(finding_apps.is_subset(&web_app_ids));
    sim.shutdown().await;
}

#[tokio::test]
async fn asset_id_cursor_and_offset_walks_agree() {
    let (sim, client) = start(small_config()).await;
    let by_offset: Vec<u64> = walk_qps(&client, ASSETS, 30, &[])
        .await
        .iter()
        .flat_map(|d| d.numbers("HostAsset/id"))
        .collect();
    let mut by_cursor = Vec::new();
    let mut last = None;
    loop {
        let criteria: Vec<(&str, &str, String)> = last
            .iter()
            .map(|id: &u64| ("id", "GREATER", id.to_string()))
            .collect();
        let criteria: Vec<(&str, &str, &str)> = criteria
            .iter()
            .map(|(f, o, v)| (*f, *o, v.as_str()))
            .collect();
        let doc = parse_ok(
            &client
                .post_xml(ASSETS, &service_request(Some(30), None, &criteria))
                .await
                .unwrap(),
        );
        by_cursor.extend(doc.numbers("HostAsset/id"));
        if doc.texts("hasMoreRecords").first() != Some(&"true") {
            assert!(doc.texts("lastId").is_empty());
            break;
        }
        last = Some(doc.one("lastId").parse().unwrap());
        assert_eq!(last, by_cursor.last().copied());
    }
    assert_eq!(by_cursor, by_offset);
    sim.shutdown().await;
}

#[tokio::test]
async fn empty_results_have_qualys_shapes() {
    let (sim, client) = start(small_config()).await;
    let detection = parse_ok(
        &client
            .post_form(DETECTION, "action=list&ids=123")
            .await
            .unwrap(),
    );
    assert!(!detection.has("HOST_LIST"));
    assert_eq!(
        detection.leaves.len(),
        1,
        "only DATETIME: {:?}",
        detection.leaves
    );
    let assets = parse_ok(
        &client
            .post_xml(
                ASSETS,
                &service_request(Some(10), None, &[("qwebHostId", "IN", "123")]),
            )
            .await
            .unwrap(),
    );
    assert_eq!(assets.one("ServiceResponse/count"), "0");
    assert!(assets.texts("hasMoreRecords").is_empty());
    let kb = parse_ok(&client.post_form(KB, "action=list&ids=1").await.unwrap());
    assert!(!kb.has("VULN_LIST"));
    let hosts = parse_ok(
        &client
            .get(&format!("{HOST_LIST}?action=list&details=None&ids=5"))
            .await
            .unwrap(),
    );
    assert!(!hosts.has("ID_SET"));
    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_parameters_get_qualys_errors() {
    let (sim, client) = start(small_config()).await;
    let response = client
        .post_form(DETECTION, "action=list&ids=abc123")
        .await
        .unwrap();
    assert_eq!(response.status, 400);
    let doc = parse_ok(&response);
    assert_eq!(doc.root, "SIMPLE_RETURN");
    assert_eq!(doc.one("CODE"), "1905");
    assert!(doc.one("TEXT").contains("abc123"));
    let missing = client.post_form(KB, "ids=1").await.unwrap();
    assert_eq!(missing.status, 400);
    assert_eq!(parse_ok(&missing).one("CODE"), "1903");
    let qps = client
        .post_xml(
            ASSETS,
            &service_request(Some(10), None, &[("qwebHostId", "IN", "abc123")]),
        )
        .await
        .unwrap();
    assert_eq!(qps.status, 200);
    let doc = parse_ok(&qps);
    assert_eq!(doc.one("responseCode"), "INVALID_REQUEST");
    assert!(doc.one("errorMessage").contains("qwebHostId"));
    sim.shutdown().await;
}

#[tokio::test]
async fn detection_filters_are_honoured() {
    let config = GeneratedConfig {
        day: 90,
        ..small_config()
    };
    let (sim, client) = start(config.clone()).await;
    let fetch = |form: String| {
        let client = client.clone();
        async move {
            parse_ok(
                &client
                    .post_form(DETECTION, &format!("action=list&truncation_limit=0&{form}"))
                    .await
                    .unwrap(),
            )
        }
    };
    let severe = fetch(format!("severities=5&show_igs=1&{ALL_STATUSES}")).await;
    assert!(!severe.texts("DETECTION/SEVERITY").is_empty());
    assert!(severe.texts("DETECTION/SEVERITY").iter().all(|s| *s == "5"));

    let fixed = fetch("status=Fixed&show_igs=1".to_owned()).await;
    assert!(!fixed.texts("DETECTION/STATUS").is_empty());
    assert!(
        fixed
            .texts("DETECTION/STATUS")
            .iter()
            .all(|s| *s == "Fixed")
    );

    let defaults = fetch(String::new()).await;
    let statuses: BTreeSet<&str> = defaults.texts("DETECTION/STATUS").into_iter().collect();
    assert!(
        !statuses.contains("Fixed"),
        "Qualys leaves Fixed out by default"
    );
    assert!(statuses.contains("Re-Opened"));
    assert!(
        !defaults.texts("DETECTION/TYPE").contains(&"Info"),
        "show_igs defaults to 0"
    );

    let since = "2026-03-25T00:00:00Z";
    let recent = fetch(format!(
        "{ALL_STATUSES}&show_igs=1&detection_updated_since={since}"
    ))
    .await;
    let threshold = parse_timestamp(since).unwrap();
    let updates = recent.texts("DETECTION/LAST_UPDATE_DATETIME");
    assert!(!updates.is_empty());
    assert!(
        updates
            .iter()
            .all(|t| parse_timestamp(t).unwrap() >= threshold)
    );
    let truth = summary(
        &config,
        &SummaryFilter {
            detection_updated_since_secs: Some(threshold),
            ..SummaryFilter::default()
        },
    );
    assert_eq!(updates.len() as u64, truth.detections);

    let tagged = fetch(format!(
        "{ALL_STATUSES}&show_igs=1&show_tags=1&use_tags=1&tag_set_by=name&tag_set_include=pci"
    ))
    .await;
    let tagged_hosts = tagged.texts("HOST_LIST/HOST/ID").len();
    assert!(tagged_hosts > 0);
    let pci_tags = tagged
        .texts("HOST/TAGS/TAG/NAME")
        .iter()
        .filter(|n| **n == "pci")
        .count();
    assert_eq!(pci_tags, tagged_hosts);
    let truth = summary(
        &config,
        &SummaryFilter {
            tags: Some(vec!["pci".to_owned()]),
            ..SummaryFilter::default()
        },
    );
    assert_eq!(tagged_hosts as u64, truth.hosts_with_detections);
    sim.shutdown().await;
}

#[tokio::test]
async fn host_processed_window_matches_summary() {
    let config = small_config();
    let (sim, client) = start(config.clone()).await;
    let after = "2026-01-08T00:00:00Z";
    let doc = parse_ok(
        &client
            .get(&format!(
                "{HOST_LIST}?action=list&details=None&truncation_limit=0&vm_processed_after={}",
                after.replace(':', "%3A")
            ))
            .await
            .unwrap(),
    );
    let truth = summary(
        &config,
        &SummaryFilter {
            vm_processed_after_secs: parse_timestamp(after),
            ..SummaryFilter::default()
        },
    );
    assert_eq!(doc.texts("ID_SET/ID").len() as u64, truth.hosts);
    assert!(truth.hosts < summary(&config, &SummaryFilter::default()).hosts);
    sim.shutdown().await;
}

#[tokio::test]
async fn days_of_churn_change_the_subscription() {
    let day0 = summary(
        &GeneratedConfig {
            day: 0,
            ..small_config()
        },
        &SummaryFilter::default(),
    );
    let day60 = summary(
        &GeneratedConfig {
            day: 60,
            ..small_config()
        },
        &SummaryFilter::default(),
    );
    assert!(
        day60.hosts > day0.hosts,
        "{} vs {}",
        day60.hosts,
        day0.hosts
    );
    for status in ["New", "Active", "Fixed", "Re-Opened"] {
        assert!(
            day60.detections_by_status.get(status).copied().unwrap_or(0) > 0,
            "{status}: {:?}",
            day60.detections_by_status
        );
    }
    for kind in ["Confirmed", "Potential", "Info"] {
        assert!(day60.detections_by_type.contains_key(kind));
    }
    let (sim0, client0) = start(GeneratedConfig {
        day: 0,
        ..small_config()
    })
    .await;
    let (sim60, client60) = start(GeneratedConfig {
        day: 60,
        ..small_config()
    })
    .await;
    let ids = |doc: common::Doc| {
        doc.numbers("ID_SET/ID")
            .into_iter()
            .collect::<BTreeSet<u64>>()
    };
    let path = format!("{HOST_LIST}?action=list&details=None&truncation_limit=0");
    let before = ids(parse_ok(&client0.get(&path).await.unwrap()));
    let after = ids(parse_ok(&client60.get(&path).await.unwrap()));
    assert!(
        !after.difference(&before).collect::<Vec<_>>().is_empty(),
        "hosts were added"
    );
    assert!(
        !before.difference(&after).collect::<Vec<_>>().is_empty(),
        "hosts were purged"
    );
    sim0.shutdown().await;
    sim60.shutdown().await;
}

#[tokio::test]
async fn results_have_configured_size() {
    let config = GeneratedConfig {
        hosts: 3,
        results_bytes: 300_000,
        ..small_config()
    };
    let (sim, client) = start(config).await;
    let response = client
        .post_form(
            DETECTION,
            &format!("action=list&show_results=1&show_igs=1&{ALL_STATUSES}"),
        )
        .await
        .unwrap();
    let doc = parse_ok(&response);
    let results = doc.texts("DETECTION/RESULTS");
    assert!(!results.is_empty());
    for text in &results {
        // The parser trims and turns `&apos;` into nothing special inside CDATA.
        assert!((299_000..=300_000).contains(&text.len()), "{}", text.len());
        assert!(text.starts_with("QID "));
        assert!(text.contains('\t'));
    }
    let without = parse_ok(
        &client
            .post_form(DETECTION, &format!("action=list&show_igs=1&{ALL_STATUSES}"))
            .await
            .unwrap(),
    );
    assert!(without.texts("DETECTION/RESULTS").is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn assets_cover_clouds_and_address_families() {
    let config = GeneratedConfig {
        hosts: 400,
        ..small_config()
    };
    let (sim, client) = start(config).await;
    let docs = walk_qps(&client, ASSETS, 200, &[]).await;
    let accounts: Vec<&str> = docs
        .iter()
        .flat_map(|d| d.texts("Ec2AssetSourceSimple/accountId"))
        .collect();
    assert!(
        accounts
            .iter()
            .all(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
    );
    assert!(accounts.iter().any(|a| a.starts_with('0')));
    assert!(accounts.iter().any(|a| !a.starts_with('0')));
    let gcp: Vec<u64> = docs
        .iter()
        .flat_map(|d| d.numbers("GcpAssetSourceSimple/instanceId"))
        .collect();
    assert!(!gcp.is_empty());
    assert!(gcp.iter().all(|id| *id > 1 << 53));
    for field in [
        "AzureAssetSourceSimple/vmId",
        "AzureAssetSourceSimple/subscriptionId",
        "AzureAssetSourceSimple/resourceGroupName",
        "Ec2AssetSourceSimple/region",
        "Ec2AssetSourceSimple/instanceId",
        "GcpAssetSourceSimple/projectId",
        "GcpAssetSourceSimple/zone",
        "HostAsset/tags/list/TagSimple/name",
    ] {
        assert!(docs.iter().any(|d| !d.texts(field).is_empty()), "{field}");
    }
    let addresses: Vec<&str> = docs
        .iter()
        .flat_map(|d| d.texts("HostAsset/address"))
        .collect();
    assert!(addresses.iter().any(|a| a.contains(':')));
    assert!(addresses.iter().any(|a| a.starts_with("10.")));
    let methods: BTreeSet<&str> = docs
        .iter()
        .flat_map(|d| d.texts("HostAsset/trackingMethod"))
        .collect();
    assert_eq!(
        methods,
        BTreeSet::from(["INSTANCE_ID", "IP", "QAGENT", "VIRTUAL_MACHINE_ID"])
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn was_findings_follow_qualys_rules() {
    let (sim, client) = start(GeneratedConfig {
        web_apps: 30,
        ..small_config()
    })
    .await;
    let docs = walk_qps(&client, FINDINGS, 40, &[]).await;
    let text: String = docs
        .iter()
        .flat_map(|d| d.leaves.iter().map(|(p, v)| format!("{p}={v}\n")))
        .collect();
    assert!(text.contains("Finding/type=INFORMATION_GATHERED"));
    assert!(text.contains("Finding/type=VULNERABILITY"));
    let scanned = walk_qps(&client, WEB_APPS, 100, &[("isScanned", "EQUALS", "true")]).await;
    let all = walk_qps(&client, WEB_APPS, 100, &[]).await;
    assert!(scanned[0].numbers("WebApp/id").len() < all[0].numbers("WebApp/id").len());
    let first_app = all[0].numbers("WebApp/id")[0].to_string();
    let one = walk_qps(&client, FINDINGS, 100, &[("webApp.id", "IN", &first_app)]).await;
    assert!(
        one.iter()
            .flat_map(|d| d.texts("Finding/webApp/id"))
            .all(|id| id == first_app)
    );
    let bad = parse_ok(
        &client
            .post_xml(
                WEB_APPS,
                &service_request(None, None, &[("isScanned", "EQUALS", "undefined")]),
            )
            .await
            .unwrap(),
    );
    assert_eq!(bad.one("responseCode"), "INVALID_REQUEST");
    sim.shutdown().await;
}

#[test]
fn summary_counts_are_consistent() {
    let truth = summary(&small_config(), &SummaryFilter::default());
    let sum = |map: &std::collections::BTreeMap<String, u64>| map.values().sum::<u64>();
    assert_eq!(sum(&truth.detections_by_type), truth.detections);
    assert_eq!(sum(&truth.detections_by_status), truth.detections);
    assert_eq!(sum(&truth.detections_by_severity), truth.detections);
    assert_eq!(sum(&truth.hosts_by_kind), truth.hosts);
    assert!(truth.vulns > 0 && truth.vulns <= truth.knowledge_base_vulns);
    assert!(truth.cves > 0);
    let only_new = summary(
        &small_config(),
        &SummaryFilter {
            statuses: Some(vec![DetectionStatus::New]),
            ..SummaryFilter::default()
        },
    );
    assert_eq!(
        only_new.detections,
        truth.detections_by_status.get("New").copied().unwrap_or(0)
    );
    let json = serde_json::to_string(&truth).unwrap();
    assert!(json.contains("\"detections_by_status\""));
}

#[tokio::test]
async fn web_app_empty_pages_use_recorded_shapes() {
    let (sim, client) = start(small_config()).await;
    let beyond = client
        .post_xml(WEB_APPS, &service_request(Some(10), Some(1_000), &[]))
        .await
        .unwrap();
    let text = beyond.text();
    let doc = parse_ok(&beyond);
    assert_eq!(doc.one("ServiceResponse/count"), "0");
    assert_eq!(doc.one("hasMoreRecords"), "false");
    assert!(text.contains("<data/>"), "{text}");
    let by_id = client
        .post_xml(
            WEB_APPS,
            &service_request(None, None, &[("id", "EQUALS", "1234")]),
        )
        .await
        .unwrap();
    let doc = parse_ok(&by_id);
    assert_eq!(doc.one("ServiceResponse/count"), "0");
    assert!(doc.texts("hasMoreRecords").is_empty());
    assert!(!by_id.text().contains("<data"));
    sim.shutdown().await;
}

#[tokio::test]
async fn tiny_subscriptions_serve_valid_bodies() {
    let config = GeneratedConfig {
        hosts: 0,
        knowledge_base_vulns: 1,
        web_apps: 0,
        ..small_config()
    };
    let (sim, client) = start(config.clone()).await;
    let hosts = parse_ok(
        &client
            .get(&format!("{HOST_LIST}?action=list&details=None"))
            .await
            .unwrap(),
    );
    assert!(!hosts.has("ID_SET"));
    let detections = parse_ok(
        &client
            .post_form(DETECTION, "action=list&truncation_limit=0")
            .await
            .unwrap(),
    );
    assert!(!detections.has("HOST_LIST"));
    let kb = parse_ok(&client.post_form(KB, "action=list").await.unwrap());
    assert_eq!(kb.texts("VULN/QID").len(), 1);
    let apps = parse_ok(
        &client
            .post_xml(WEB_APPS, &service_request(Some(0), Some(u64::MAX), &[]))
            .await
            .unwrap(),
    );
    assert_eq!(apps.one("ServiceResponse/count"), "0");
    let truth = summary(&config, &SummaryFilter::default());
    assert_eq!((truth.hosts, truth.detections, truth.web_apps), (0, 0, 0));
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_get_error_bodies() {
    let (sim, client) = start(small_config()).await;
    for body in [
        "",
        "not xml",
        "<ServiceRequest><Criteria field=\"id\">1",
        "<ServiceRequest><preferences><limitResults>-1</limitResults></preferences></ServiceRequest>",
    ] {
        let response = client.post_xml(ASSETS, body).await.unwrap();
        assert_eq!(response.status, 200, "{body}");
        let doc = parse_ok(&response);
        let code = doc.one("responseCode");
        assert!(
            code == "INVALID_REQUEST" || (body.is_empty() && code == "SUCCESS"),
            "{body}: {code}"
        );
    }
    let unknown = client
        .post_xml(
            FINDINGS,
            &service_request(None, None, &[("nonsense", "EQUALS", "1")]),
        )
        .await
        .unwrap();
    assert_eq!(parse_ok(&unknown).one("responseCode"), "INVALID_REQUEST");
    let forms = [
        "action=list&ids=%ZZ",
        "action=list&truncation_limit=-5",
        "action=list&severities=9",
        "action=list&status=Closed",
        "action=list&detection_updated_since=yesterday",
        "action=list&ids=5-1",
        "action=delete",
    ];
    for form in forms {
        let response = client.post_form(DETECTION, form).await.unwrap();
        assert_eq!(response.status, 400, "{form}");
        assert_eq!(parse_ok(&response).one("CODE"), "1905", "{form}");
    }
    let huge = format!(
        "action=list&ids={}",
        (0..20_000)
            .map(|i| (1_000_000 + i).to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(
        client.post_form(DETECTION, &huge).await.unwrap().status,
        200
    );
    sim.shutdown().await;
}
