//! Parses every recorded Qualys body and checks the record values.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
#![allow(clippy::panic, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeSet;

use qgraph_qualys::dates::parse_iso8601;
use qgraph_qualys::parse::{self, RecordKind, RecordStream};
use qgraph_qualys::{ParseError, ResultsOptions};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/qualys"
);

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}; the tests read recorded Qualys responses from ../shared/fixtures/qualys beside the repository"))
}

/// Reads every record of a page; record errors are collected, page errors returned.
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

fn millis(text: &str) -> Option<i64> {
    parse_iso8601(text)
}

#[tokio::test]
async fn portal_version_2020_shape() {
    let body = fixture("portal-version.xml");
    let (records, errors, end) = collect(parse::portal_version(&body[..])).await;
    end.unwrap();
    assert!(errors.is_empty());
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].vm_version.as_deref(), Some("1.0.3"));
    assert_eq!(records[0].was_version.as_deref(), Some("6.13.1.0"));
    assert!(records[0].qweb_versions.contains_key("VULNSIGS-VERSION"));
}

#[tokio::test]
async fn portal_version_2022_shape() {
    let body = fixture("portal-version-2022.xml");
    let (records, _, end) = collect(parse::portal_version(&body[..])).await;
    end.unwrap();
    let portal = &records[0];
    assert_eq!(portal.vm_version.as_deref(), Some("2.11.0"));
    assert_eq!(portal.was_version.as_deref(), Some("1.1.0.0-2"));
    assert_eq!(
        portal.versions.get("QWEB__PC-VERSION").map(String::as_str),
        Some("1.0.0-38")
    );
    assert_eq!(portal.versions.len(), 29);
    assert_eq!(
        portal
            .qweb_versions
            .get("SCANNER-VERSION")
            .map(String::as_str),
        Some("12.10.24-1")
    );
}

#[tokio::test]
async fn host_ids_single_page() {
    let body = fixture("vm-host-list-ids.xml");
    let mut stream = parse::host_ids(&body[..]);
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.first, 107_800_671);
    assert_eq!(first.last, 107_800_671);
    assert!(stream.next().await.unwrap().is_none());
    assert_eq!(stream.meta().next_url(), None);
}

#[tokio::test]
async fn host_ids_empty_pages() {
    for name in [
        "vm-host-list-ids-empty.xml",
        "vm-host-list-ids-empty-window.xml",
    ] {
        let body = fixture(name);
        let (records, errors, end) = collect(parse::host_ids(&body[..])).await;
        end.unwrap();
        assert!(records.is_empty(), "{name}");
        assert!(errors.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn host_ids_truncated_page_gives_next_url() {
    let body = fixture("vm-host-list-ids-truncated-synthetic.xml");
    let mut stream = parse::host_ids(&body[..]);
    let mut ids = Vec::new();
    while let Some(range) = stream.next().await.unwrap() {
        ids.extend(range.ids());
    }
    assert!(!ids.is_empty());
    let url = stream.meta().next_url().unwrap();
    assert!(url.contains("id_min="), "{url}");
    assert_eq!(stream.meta().leaf("RESPONSE/WARNING/CODE"), Some("1980"));
}

#[tokio::test]
async fn host_ids_id_range() {
    let body = br#"<?xml version="1.0"?><HOST_LIST_OUTPUT><RESPONSE><ID_SET>
        <ID>5</ID><ID_RANGE>10-12</ID_RANGE><ID_RANGE>9-3</ID_RANGE><ID>18446744073709551615</ID>
        </ID_SET></RESPONSE></HOST_LIST_OUTPUT>"#;
    let (records, errors, end) = collect(parse::host_ids(&body[..])).await;
    end.unwrap();
    let ids: Vec<u64> = records.iter().flat_map(|range| range.ids()).collect();
    assert_eq!(ids, vec![5, 10, 11, 12, u64::MAX]);
    assert_eq!(errors.len(), 1, "a descending range is an error");
}

#[tokio::test]
async fn host_assets_ec2_search() {
    let body = fixture("am-hostasset-search-ec2.xml");
    let mut stream = parse::host_assets(&body[..]);
    let (records, errors, end) = {
        let mut records = Vec::new();
        let mut errors = Vec::new();
        let end = loop {
            match stream.next().await {
                Ok(Some(record)) => records.push(record),
                Ok(None) => break Ok(()),
                Err(error @ ParseError::Record(_)) => errors.push(error),
                Err(error) => break Err(error),
            }
        };
        (records, errors, end)
    };
    end.unwrap();
    assert!(errors.is_empty());
    assert_eq!(records.len(), 1);
    let asset = &records[0];
    assert_eq!(asset.qweb_host_id, Some(107_800_671));
    assert_eq!(asset.ec2_sources.len(), 1);
    assert!(asset.ec2_sources[0].tags.is_empty());
    assert!(asset.ec2_sources[0].account_id.is_some());
    assert!(!stream.meta().has_more_records());
}

#[tokio::test]
async fn host_assets_ec2_fixture_keeps_text() {
    let body = fixture("am-hostasset-list-ec2-fixture.xml");
    let (records, errors, end) = collect(parse::host_assets(&body[..])).await;
    end.unwrap();
    assert!(errors.is_empty());
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].id, 709_837);
    assert_eq!(records[0].qweb_host_id, Some(12_864));
    let ec2 = &records[0].ec2_sources[0];
    assert_eq!(ec2.account_id.as_deref(), Some("111122223333"));
    assert_eq!(ec2.instance_id.as_deref(), Some("i-023b166432b1c7afc"));
    assert_eq!(ec2.instance_state.as_deref(), Some("STOPPED"));
    assert_eq!(ec2.spot_instance, Some(true));
    assert_eq!(ec2.created, millis("2017-07-27T19:58:34Z"));
    let tags = &records[1].ec2_sources[0].tags;
    let lifecycle = tags.iter().find(|tag| tag.key == "Lifecycle").unwrap();
    assert_eq!(lifecycle.value, "20171231");
    let keys: Vec<&str> = tags.iter().map(|tag| tag.key.as_str()).collect();
    for key in ["Department", "Owner", "Email", "JIRA", "Name", "Lifecycle"] {
        assert!(keys.contains(&key), "missing EC2 tag {key}");
    }
}

#[tokio::test]
async fn host_assets_gcp_ids_stay_exact() {
    let body = fixture("am-hostasset-list-gcp-fixture.xml");
    let (records, errors, end) = collect(parse::host_assets(&body[..])).await;
    end.unwrap();
    assert!(errors.is_empty());
    assert_eq!(records.len(), 2);
    let gcp = &records[0].gcp_sources[0];
    assert_eq!(gcp.instance_id.as_deref(), Some("215287854144326580"));
    assert_eq!(gcp.project_id.as_deref(), Some("test_account"));
    assert_eq!(gcp.project_number.as_deref(), Some("1035365309111"));
    assert_eq!(gcp.zone.as_deref(), Some("us-central1-a"));
    let tag_names: Vec<&str> = records[0]
        .tags
        .iter()
        .map(|tag| tag.name.as_str())
        .collect();
    assert_eq!(tag_names, vec!["Cloud Agent", "gcp"]);
    assert_eq!(records[0].tags[0].id, Some(106_777_800));
}

#[tokio::test]
async fn host_assets_azure_fixture() {
    let body = fixture("am-hostasset-list-azure-fixture.xml");
    let (records, errors, end) = collect(parse::host_assets(&body[..])).await;
    end.unwrap();
    assert!(errors.is_empty());
    assert_eq!(records.len(), 2);
    let azure = &records[0].azure_sources[0];
    assert_eq!(
        azure.vm_id.as_deref(),
        Some("399af5dc-c32a-4c40-95a5-c6ed0e786430")
    );
    assert_eq!(
        azure.resource_group_name.as_deref(),
        Some("sample_resource_group_name")
    );
    assert_eq!(azure.tags[0].key, "Owner");
    assert_eq!(records[0].fqdn.as_deref(), Some("sample_resource_fqdn"));
    assert_eq!(
        records[0].tracking_method.as_deref(),
        Some("VIRTUAL_MACHINE_ID")
    );
    // The second asset's <modified> has leading whitespace and a newline.
    assert_eq!(records[1].modified, millis("2020-08-05T19:00:23Z"));
}

#[tokio::test]
async fn host_assets_agent_fixture_duplicates_kept() {
    let body = fixture("am-hostasset-list-agent-fixture.xml");
    let (records, errors, end) = collect(parse::host_assets(&body[..])).await;
    end.unwrap();
    assert!(errors.is_empty());
    assert!(records.len() >= 2);
    assert_eq!(
        records[0].id, records[1].id,
        "both assets with the same id are yielded"
    );
    assert_eq!(records[0].qweb_host_id, Some(12_688_456_922));
    assert_eq!(records[0].tags.len(), 1);
    assert!(records[1].tags.is_empty());
    let agent = records[0].agent_info.as_ref().unwrap();
    assert_eq!(
        agent.agent_id.as_deref(),
        Some("2e689bb2-53ab-4a58-be0a-a7576964f310")
    );
    assert_eq!(
        agent.configuration_name.as_deref(),
        Some("Initial Profile - SSN3")
    );
    assert_eq!(records[0].netbios_name.as_deref(), Some("102115-M83"));
    assert_eq!(records[0].last_vuln_scan, millis("2018-06-15T11:48:58Z"));
}

#[tokio::test]
async fn host_assets_paged_search() {
    let first = fixture("am-hostasset-search-paged-01.xml");
    let mut stream = parse::host_assets(&first[..]);
    let mut count = 0;
    while stream.next().await.unwrap().is_some() {
        count += 1;
    }
    assert_eq!(count, 10);
    assert!(stream.meta().has_more_records());
    assert_eq!(stream.meta().last_id(), Some(62_392_781));

    let second = fixture("am-hostasset-search-paged-02.xml");
    let mut stream = parse::host_assets(&second[..]);
    let mut count = 0;
    while stream.next().await.unwrap().is_some() {
        count += 1;
    }
    assert_eq!(count, 3);
    assert!(!stream.meta().has_more_records());
    assert_eq!(stream.meta().last_id(), None);
}

#[tokio::test]
async fn host_assets_empty_search() {
    let body = fixture("am-hostasset-search-empty.xml");
    let (records, _, end) = collect(parse::host_assets(&body[..])).await;
    end.unwrap();
    assert!(records.is_empty());
}

#[tokio::test]
async fn detections_with_results() {
    let body = fixture("vm-host-detection-list-with-results.xml");
    let results = ResultsOptions {
        keep: true,
        max_bytes: 100_000,
        qids: BTreeSet::new(),
    };
    let (hosts, errors, end) = collect(parse::host_detections(&body[..], results)).await;
    end.unwrap();
    assert!(errors.is_empty());
    assert_eq!(hosts.len(), 5);
    let detections: usize = hosts.iter().map(|host| host.detections.len()).sum();
    assert_eq!(detections, 29);

    let first = &hosts[0];
    assert_eq!(first.host_id, 92_661_485);
    assert_eq!(first.dns.as_deref(), Some("ip-10-55-26-62.ec2.internal"));
    assert_eq!(first.last_vm_scanned_duration_secs, Some(231));
    let qid_11 = &first.detections[0];
    assert_eq!(qid_11.qid, 11);
    assert_eq!(qid_11.port, None, "QID 11 has no port");
    assert_eq!(qid_11.protocol, None);
    assert_eq!(qid_11.ssl, Some(false));
    assert!(
        qid_11
            .results
            .as_deref()
            .unwrap()
            .contains("portmap/rpcbind\t100000")
    );
    assert!(!qid_11.results_truncated);
    assert_eq!(first.detections[1].port, Some(22));
    assert!(hosts.iter().any(|host| host.qg_host_id.is_some()));
    assert!(
        hosts
            .iter()
            .any(|host| host.tracking_method.as_deref() == Some("AGENT"))
    );
    assert!(hosts.iter().all(|host| host.tags.is_empty()));
}

#[tokio::test]
async fn detections_results_cut_and_flagged() {
    let body = fixture("vm-host-detection-list-with-results.xml");
    let results = ResultsOptions {
        keep: true,
        max_bytes: 20,
        qids: BTreeSet::from([11]),
    };
    let (hosts, _, end) = collect(parse::host_detections(&body[..], results)).await;
    end.unwrap();
    let qid_11 = &hosts[0].detections[0];
    assert_eq!(qid_11.results.as_deref().map(str::len), Some(20));
    assert!(qid_11.results_truncated);
    assert_eq!(
        hosts[0].detections[1].results, None,
        "QID not in the list keeps no results"
    );
}

#[tokio::test]
async fn detections_without_results_skip_them() {
    let body = fixture("vm-host-detection-list-with-results.xml");
    let (hosts, _, end) =
        collect(parse::host_detections(&body[..], ResultsOptions::default())).await;
    end.unwrap();
    assert!(
        hosts
            .iter()
            .flat_map(|host| &host.detections)
            .all(|d| d.results.is_none())
    );
}

#[tokio::test]
async fn detections_split_tag_closers_and_cdata_entities() {
    let body = fixture("vm-host-detection-list-fixture.xml");
    let results = ResultsOptions {
        keep: true,
        max_bytes: 10_000,
        qids: BTreeSet::new(),
    };
    let (hosts, errors, end) = collect(parse::host_detections(&body[..], results)).await;
    end.unwrap();
    assert!(errors.is_empty());
    assert_eq!(hosts.len(), 1);
    let host = &hosts[0];
    assert_eq!(host.host_id, 6_506_432);
    assert_eq!(
        host.os.as_deref(),
        Some("Windows 2008 R2 Enterprise Service Pack1")
    );
    assert_eq!(host.detections.len(), 3);
    let first = &host.detections[0];
    assert_eq!(first.qid, 38_170);
    assert_eq!(first.detection_type, "Confirmed");
    assert_eq!(first.severity, Some(2));
    assert_eq!(first.port, Some(3389));
    assert_eq!(first.ssl, Some(true));
    assert_eq!(first.status.as_deref(), Some("Active"));
    assert_eq!(first.times_found, Some(111));
    assert_eq!(first.first_found, millis("2018-01-26T04:45:50Z"));
    assert_eq!(first.last_processed, millis("2018-04-13T03:49:05Z"));
    assert_eq!(first.is_ignored, Some(false));
    assert_eq!(first.is_disabled, Some(false));
    // CDATA keeps entities literal.
    assert!(
        first
            .results
            .as_deref()
            .unwrap()
            .contains("doesn&apos;tresolve")
    );
    assert!(
        host.detections[1]
            .results
            .as_deref()
            .unwrap()
            .contains("unable to get local\nissuer")
    );
}

#[tokio::test]
async fn detections_empty_page() {
    let body = fixture("vm-host-detection-list-empty.xml");
    let (hosts, _, end) =
        collect(parse::host_detections(&body[..], ResultsOptions::default())).await;
    end.unwrap();
    assert!(hosts.is_empty());
}

#[tokio::test]
async fn knowledge_base_single_vuln() {
    let body = fixture("kb-vuln-list.xml");
    let (vulns, errors, end) = collect(parse::knowledge_base(&body[..])).await;
    end.unwrap();
    assert!(errors.is_empty());
    assert_eq!(
        vulns.len(),
        1,
        "the keep-alive comment inside RESPONSE is skipped"
    );
    let vuln = &vulns[0];
    assert_eq!(vuln.qid, 316_760);
    assert!(!vuln.cves.is_empty());
    assert!(
        vuln.cves
            .iter()
            .all(|cve| cve.id.starts_with("CVE-") && cve.url.is_some())
    );
    assert!(!vuln.vendor_references.is_empty());
    assert!(!vuln.software.is_empty());
    assert!(vuln.cvss_v2.is_none());
    assert!(vuln.cvss_v3.is_none());
    assert!(vuln.diagnosis.is_some());
    assert!(vuln.solution.is_some());
    assert!(!vuln.discovery.as_ref().unwrap().auth_types.is_empty());
}

#[tokio::test]
async fn knowledge_base_many_vulns() {
    let body = fixture("kb-vuln-list-many.xml");
    let (vulns, errors, end) = collect(parse::knowledge_base(&body[..])).await;
    end.unwrap();
    assert!(errors.is_empty());
    assert_eq!(vulns.len(), 42);
    assert!(
        vulns.iter().all(|vuln| vuln.qid != 150_454),
        "QID 150454 was not returned"
    );
    let types: BTreeSet<&str> = vulns
        .iter()
        .filter_map(|vuln| vuln.vuln_type.as_deref())
        .collect();
    assert_eq!(
        types,
        BTreeSet::from([
            "Information Gathered",
            "Potential Vulnerability",
            "Vulnerability"
        ])
    );
    let intel: Vec<_> = vulns.iter().flat_map(|vuln| &vuln.threat_intel).collect();
    assert!(intel.iter().any(|ti| ti.id == "8" && ti.text == "No_Patch"));
    assert!(
        intel
            .iter()
            .all(|ti| !ti.id.is_empty() && !ti.text.is_empty())
    );
    assert!(
        vulns
            .iter()
            .all(|vuln| vuln.cvss_v2.is_none() && vuln.cvss_v3.is_none())
    );
}

#[tokio::test]
async fn knowledge_base_synthetic_cvss_and_whitespace_cdata() {
    let body = fixture("kb-vuln-list-mock-server-synthetic.xml");
    let (vulns, errors, end) = collect(parse::knowledge_base(&body[..])).await;
    end.unwrap();
    assert!(errors.is_empty());
    let vuln = vulns.iter().find(|vuln| vuln.qid == 11).unwrap();
    assert_eq!(
        vuln.title.as_deref(),
        Some("Microsoft Windows Server Service Could Allow Remote Code Execution (MS08-067)")
    );
    assert_eq!(vuln.bugtraqs[0].id, "31874");
    assert_eq!(vuln.cves[0].id, "CVE-2008-4250");
    assert_eq!(vuln.vendor_references[0].id, "MS08-067");
    let cvss = vuln.cvss_v2.as_ref().unwrap();
    assert!(cvss.base.as_ref().unwrap().value.is_some());
}

#[tokio::test]
async fn knowledge_base_empty_page() {
    let body = fixture("kb-vuln-list-empty.xml");
    let (vulns, _, end) = collect(parse::knowledge_base(&body[..])).await;
    end.unwrap();
    assert!(vulns.is_empty());
}

#[tokio::test]
async fn web_apps_search() {
    let body = fixture("was-webapp-search.xml");
    let (apps, errors, end) = collect(parse::web_apps(&body[..])).await;
    end.unwrap();
    assert!(errors.is_empty());
    assert_eq!(apps.len(), 7);
    assert_eq!(apps[0].id, 238_483_924);
    assert_eq!(apps[0].name.as_deref(), Some("http://rest.vulnweb.com/"));
    assert_eq!(apps[0].owner_id, Some(17_729_931));
    assert_eq!(apps[0].tag_count, Some(0));
    assert_eq!(apps[0].created, millis("2022-04-12T21:12:52Z"));
}

#[tokio::test]
async fn web_apps_offset_pages() {
    let mut ids = Vec::new();
    for page in 1..=7 {
        let body = fixture(&format!("was-webapp-search-paged-0{page}.xml"));
        let mut stream = parse::web_apps(&body[..]);
        let mut last = None;
        while let Some(app) = stream.next().await.unwrap() {
            last = Some(app.id);
            ids.push(app.id);
        }
        assert_eq!(stream.meta().has_more_records(), page < 7, "page {page}");
        if page < 7 {
            assert_eq!(stream.meta().last_id(), last, "page {page}");
        }
    }
    assert_eq!(ids.len(), 7);
}

#[tokio::test]
async fn web_apps_empty_shapes() {
    for name in [
        "was-webapp-search-empty-data.xml",
        "was-webapp-search-by-id-not-found.xml",
    ] {
        let body = fixture(name);
        let (apps, _, end) = collect(parse::web_apps(&body[..])).await;
        end.unwrap();
        assert!(apps.is_empty(), "{name}");
    }
    let body = fixture("was-webapp-search-by-id.xml");
    let (apps, _, end) = collect(parse::web_apps(&body[..])).await;
    end.unwrap();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].id, 251_316_904);
}

#[tokio::test]
async fn web_app_findings_search() {
    let body = fixture("was-finding-search.xml");
    let (findings, errors, end) = collect(parse::web_app_findings(&body[..])).await;
    end.unwrap();
    assert!(errors.is_empty());
    assert_eq!(findings.len(), 86);
    let potential = findings
        .iter()
        .filter(|f| f.potential == Some(true))
        .count();
    assert_eq!(potential, 8);
    assert_eq!(
        findings
            .iter()
            .filter(|f| f.potential == Some(false))
            .count(),
        78
    );
    let info: Vec<_> = findings
        .iter()
        .filter(|f| f.finding_type.as_deref() == Some("INFORMATION_GATHERED"))
        .collect();
    assert!(!info.is_empty());
    assert!(
        info.iter()
            .all(|f| f.status.is_none() && f.url.is_none() && f.times_detected.is_none())
    );
    let vulns: Vec<_> = findings
        .iter()
        .filter(|f| f.finding_type.as_deref() == Some("VULNERABILITY"))
        .collect();
    assert!(
        vulns
            .iter()
            .all(|f| f.status.as_deref() == Some("NEW") && f.is_ignored == Some(false))
    );
    let first = &findings[0];
    assert_eq!(first.id, 6_816_386);
    assert_eq!(first.qid, Some(150_210));
    assert_eq!(first.source.as_deref(), Some("QUALYS"));
    assert_eq!(first.web_app.id, Some(238_483_924));
    assert_eq!(
        first.web_app.url.as_deref(),
        Some("http://rest.vulnweb.com/")
    );
}

#[tokio::test]
async fn web_app_findings_pagination_markers() {
    let body = fixture("was-finding-search-has-more-lastid.xml");
    let (findings, _, end) = {
        let mut stream = parse::web_app_findings(&body[..]);
        let mut findings = Vec::new();
        while let Some(finding) = stream.next().await.unwrap() {
            findings.push(finding);
        }
        assert!(stream.meta().has_more_records());
        assert_eq!(stream.meta().last_id(), Some(3_158_305));
        (findings, (), Ok::<(), ParseError>(()))
    };
    end.unwrap();
    assert!(findings.iter().all(|f| f.potential.is_none()));

    let body = fixture("was-finding-search-synthetic-page-01.xml");
    let mut stream = parse::web_app_findings(&body[..]);
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(
        first.url.as_deref(),
        Some("http://funkytown.vuln.qa.qualys.com/cassium/xss/")
    );
    assert!(stream.next().await.unwrap().is_some());
    assert!(stream.next().await.unwrap().is_none());
    assert!(stream.meta().has_more_records());
    assert_eq!(stream.meta().last_id(), None);
}

#[tokio::test]
async fn web_app_findings_empty() {
    let body = fixture("was-finding-search-empty.xml");
    let (findings, _, end) = collect(parse::web_app_findings(&body[..])).await;
    end.unwrap();
    assert!(findings.is_empty());
}

fn api_code(result: Result<(), ParseError>) -> (String, Option<String>, Vec<(String, String)>) {
    match result {
        Err(ParseError::Api(body)) => (body.code.unwrap_or_default(), body.text, body.items),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn error_bodies_map_to_api_errors() {
    let cases: &[(&str, &str)] = &[
        ("vm-error-401-bad-login.xml", "2000"),
        ("vm-error-200-account-expired.xml", "2001"),
        ("vm-error-409-concurrency-limit.xml", "1960"),
        ("vm-error-409-rate-limit.xml", "1965"),
        ("vm-error-409-registration-incomplete.xml", "2003"),
        ("vm-error-409-secureid-required.xml", "2011"),
        ("vm-error-400-missing-parameters.xml", "1903"),
        ("vm-host-detection-error-400-invalid-ids.xml", "1905"),
        ("kb-vuln-list-error-400-invalid-ids.xml", "1905"),
    ];
    for (name, expected) in cases {
        let body = fixture(name);
        // A SIMPLE_RETURN is an error whatever list the caller expected.
        let (_, _, end) =
            collect(parse::host_detections(&body[..], ResultsOptions::default())).await;
        let (code, text, _) = api_code(end);
        assert_eq!(code, *expected, "{name}");
        assert!(text.is_some(), "{name}");
        let (_, _, end) = collect(parse::knowledge_base(&body[..])).await;
        assert_eq!(api_code(end).0, *expected, "{name}");
    }
}

#[tokio::test]
async fn throttle_bodies_carry_their_hints() {
    let body = fixture("vm-error-409-rate-limit.xml");
    let (_, _, end) = collect(parse::host_ids(&body[..])).await;
    let (_, _, items) = api_code(end);
    assert_eq!(
        items,
        vec![("SECONDS_TO_WAIT".to_owned(), "68928".to_owned())]
    );

    let body = fixture("vm-error-409-concurrency-limit.xml");
    let (_, _, end) = collect(parse::host_ids(&body[..])).await;
    let (_, _, items) = api_code(end);
    assert_eq!(items[0].0, "CALLS_TO_FINISH");
}

#[tokio::test]
async fn qps_error_bodies_map_to_api_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "portal-version-invalid-credentials.xml",
            "INVALID_CREDENTIALS",
        ),
        ("qps-unauthorized.xml", "UNAUTHORIZED"),
        ("am-hostasset-search-invalid-request.xml", "INVALID_REQUEST"),
        ("was-webapp-search-invalid-request.xml", "INVALID_REQUEST"),
        ("was-finding-search-invalid-request.xml", "INVALID_REQUEST"),
    ];
    for (name, expected) in cases {
        let body = fixture(name);
        for end in [
            collect(parse::portal_version(&body[..])).await.2,
            collect(parse::host_assets(&body[..])).await.2,
            collect(parse::web_apps(&body[..])).await.2,
            collect(parse::web_app_findings(&body[..])).await.2,
        ] {
            match end {
                Err(ParseError::Api(api)) => {
                    assert_eq!(api.code.as_deref(), Some(*expected), "{name}");
                    if *expected != "UNAUTHORIZED" {
                        assert!(api.text.is_some(), "{name} has an errorMessage");
                    }
                }
                other => panic!("{name}: expected an API error, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn csv_body_is_rejected() {
    let body = fixture("vm-activity-log-list.csv");
    let (_, _, end) = collect(parse::host_ids(&body[..])).await;
    assert!(end.is_err());
}

#[tokio::test]
async fn every_fixture_is_covered() {
    let covered = [
        "README.md",
        "vm-activity-log-list.csv",
        "portal-version.xml",
        "portal-version-2022.xml",
        "portal-version-invalid-credentials.xml",
        "qps-unauthorized.xml",
        "vm-host-list-ids.xml",
        "vm-host-list-ids-empty.xml",
        "vm-host-list-ids-empty-window.xml",
        "vm-host-list-ids-truncated-synthetic.xml",
        "am-hostasset-search-ec2.xml",
        "am-hostasset-search-empty.xml",
        "am-hostasset-search-invalid-request.xml",
        "am-hostasset-search-paged-01.xml",
        "am-hostasset-search-paged-02.xml",
        "am-hostasset-list-agent-fixture.xml",
        "am-hostasset-list-ec2-fixture.xml",
        "am-hostasset-list-gcp-fixture.xml",
        "am-hostasset-list-azure-fixture.xml",
        "vm-host-detection-list-with-results.xml",
        "vm-host-detection-list-fixture.xml",
        "vm-host-detection-list-empty.xml",
        "vm-host-detection-error-400-invalid-ids.xml",
        "kb-vuln-list.xml",
        "kb-vuln-list-many.xml",
        "kb-vuln-list-empty.xml",
        "kb-vuln-list-error-400-invalid-ids.xml",
        "kb-vuln-list-mock-server-synthetic.xml",
        "was-webapp-search.xml",
        "was-webapp-search-empty-data.xml",
        "was-webapp-search-by-id.xml",
        "was-webapp-search-by-id-not-found.xml",
        "was-webapp-search-invalid-request.xml",
        "was-webapp-search-paged-01.xml",
        "was-webapp-search-paged-02.xml",
        "was-webapp-search-paged-03.xml",
        "was-webapp-search-paged-04.xml",
        "was-webapp-search-paged-05.xml",
        "was-webapp-search-paged-06.xml",
        "was-webapp-search-paged-07.xml",
        "was-finding-search.xml",
        "was-finding-search-has-more-lastid.xml",
        "was-finding-search-empty.xml",
        "was-finding-search-invalid-request.xml",
        "was-finding-search-synthetic-page-01.xml",
        "vm-error-401-bad-login.xml",
        "vm-error-200-account-expired.xml",
        "vm-error-409-concurrency-limit.xml",
        "vm-error-409-rate-limit.xml",
        "vm-error-409-registration-incomplete.xml",
        "vm-error-409-secureid-required.xml",
        "vm-error-400-missing-parameters.xml",
    ];
    let entries = std::fs::read_dir(FIXTURES)
        .unwrap_or_else(|e| panic!("cannot list {FIXTURES}: {e}; the tests read recorded Qualys responses from ../shared/fixtures/qualys beside the repository"));
    for entry in entries {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            covered.contains(&name.as_str()),
            "fixture {name} has no test"
        );
    }
}

#[tokio::test]
async fn invalid_utf8_in_cdata_fails_only_its_record() {
    let mut body =
        b"<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID><DNS><![CDATA[a"
            .to_vec();
    body.extend_from_slice(b"\xff\xfe\xc3(");
    body.extend_from_slice(b"]]></DNS></HOST><HOST><ID>2</ID><DNS>b\xff</DNS></HOST><HOST><ID>3</ID></HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>");
    let (hosts, errors, end) =
        collect(parse::host_detections(&body[..], ResultsOptions::default())).await;
    end.unwrap();
    assert_eq!(
        hosts.iter().map(|host| host.host_id).collect::<Vec<_>>(),
        vec![3]
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
    for (error, id) in errors.iter().zip(["1", "2"]) {
        let ParseError::Record(record) = error else {
            panic!("expected a record error, got {error:?}");
        };
        assert_eq!(record.id.as_deref(), Some(id));
    }
}

#[tokio::test]
async fn control_characters_fail_only_their_record() {
    let body = b"<KNOWLEDGE_BASE_VULN_LIST_OUTPUT><RESPONSE><VULN_LIST><VULN><QID>7</QID><TITLE>a\x01b</TITLE></VULN><VULN><QID>8</QID><TITLE>x&#1;</TITLE></VULN><VULN><QID>9</QID><TITLE>ok &amp; fine</TITLE></VULN></VULN_LIST></RESPONSE></KNOWLEDGE_BASE_VULN_LIST_OUTPUT>";
    let (vulns, errors, end) = collect(parse::knowledge_base(&body[..])).await;
    end.unwrap();
    assert_eq!(vulns.len(), 1);
    assert_eq!(vulns[0].title.as_deref(), Some("ok & fine"));
    assert_eq!(errors.len(), 2, "{errors:?}");
}
