//! Converters on records parsed from the recorded Qualys responses.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::collections::{BTreeMap, BTreeSet};

use qgraph_integration::ApiUrl;
use qgraph_integration::convert::{
    FindingOptions, HostTargets, account_entity, cve_entity, finding_is_cve, finding_is_vuln,
    host_finding_entity, host_finding_key, host_scans_relationship, host_targets, service_entities,
    vuln_entity, web_app_finding_entity, web_app_scans_relationship,
};
use qgraph_model::schema::validate_entity;
use qgraph_model::{Entity, MappedRelationship, Value};
use qgraph_qualys::parse::{self, RecordKind, RecordStream};
use qgraph_qualys::{
    Detection, HostAsset, HostDetections, ResultsOptions, Vuln, WebApp, WebAppFinding,
};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/qualys"
);

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}; the tests read recorded Qualys responses from ../shared/fixtures/qualys beside the repository"))
}

async fn records<K: RecordKind>(mut stream: RecordStream<&[u8], K>) -> Vec<K::Record> {
    let mut out = Vec::new();
    while let Some(record) = stream.next().await.unwrap() {
        out.push(record);
    }
    out
}

async fn assets(name: &str) -> Vec<HostAsset> {
    let body = fixture(name);
    records(parse::host_assets(&body[..])).await
}

async fn detection_hosts(name: &str, results: ResultsOptions) -> Vec<HostDetections> {
    let body = fixture(name);
    records(parse::host_detections(&body[..], results)).await
}

async fn vulns(name: &str) -> Vec<Vuln> {
    let body = fixture(name);
    records(parse::knowledge_base(&body[..])).await
}

fn text(entity: &Entity, name: &str) -> Option<String> {
    entity.get(name).and_then(|v| v.as_str().map(str::to_owned))
}

fn target_text(relationship: &MappedRelationship, name: &str) -> Option<String> {
    relationship
        .mapping
        .target_entity
        .get(name)
        .and_then(|v| v.as_str().map(str::to_owned))
}

fn assert_valid(entity: &Entity) {
    let violations = validate_entity(entity);
    assert!(violations.is_empty(), "{}: {violations:?}", entity.key);
}

fn api_url() -> ApiUrl {
    ApiUrl::parse("https://qualysapi.qg3.apps.qualys.com").unwrap()
}

#[tokio::test]
async fn recorded_detections_become_valid_findings() {
    let results = ResultsOptions {
        keep: true,
        max_bytes: 10_000,
        qids: BTreeSet::new(),
    };
    let hosts = detection_hosts("vm-host-detection-list-with-results.xml", results).await;
    assert_eq!(hosts.len(), 5);

    let configured = [38739_u64];
    let mut keys = BTreeSet::new();
    let mut count = 0;
    for host in &hosts {
        for detection in &host.detections {
            let finding = host_finding_entity(
                host,
                detection,
                None,
                FindingOptions {
                    result_qids: &configured,
                },
            )
            .unwrap();
            assert_valid(&finding);
            assert!(
                keys.insert(finding.key.clone()),
                "duplicate key {}",
                finding.key
            );
            assert_eq!(finding.get("production"), None);
            assert_eq!(finding.get("public"), None);
            let has_details = finding.get("details").is_some();
            assert_eq!(
                has_details,
                detection.qid == 38739 && detection.results.is_some(),
                "{}",
                finding.key
            );
            if let Some(Value::String(details)) = finding.get("details") {
                assert!(details.chars().count() <= 300);
            }
            count += 1;
        }
    }
    assert_eq!(count, 29);
}

#[tokio::test]
async fn finding_without_port_has_a_short_key() {
    let hosts = detection_hosts(
        "vm-host-detection-list-with-results.xml",
        ResultsOptions::default(),
    )
    .await;
    let (host, detection) = hosts
        .iter()
        .flat_map(|h| h.detections.iter().map(move |d| (h, d)))
        .find(|(_, d)| d.qid == 11)
        .unwrap();

    assert_eq!(detection.port, None);
    assert_eq!(
        host_finding_key(host.host_id, detection),
        format!("hostId:{}|qid:11", host.host_id)
    );
}

#[test]
fn finding_key_survives_potential_to_confirmed() {
    let potential = Detection {
        qid: 38739,
        detection_type: "Potential".to_owned(),
        port: Some(22),
        protocol: Some("tcp".to_owned()),
        ssl: Some(false),
        ..Default::default()
    };
    let confirmed = Detection {
        detection_type: "Confirmed".to_owned(),
        ssl: Some(true),
        ..potential.clone()
    };

    assert_eq!(
        host_finding_key(92661485, &potential),
        "hostId:92661485|port:22|protocol:tcp|qid:38739"
    );
    assert_eq!(
        host_finding_key(92661485, &potential),
        host_finding_key(92661485, &confirmed)
    );
}

#[test]
fn finding_properties_follow_the_data_model() {
    let host = HostDetections {
        host_id: 107800671,
        ip: Some("10.0.2.15".to_owned()),
        dns: Some("ip-10-0-2-15".to_owned()),
        ..Default::default()
    };
    let detection = Detection {
        qid: 38739,
        unique_vuln_id: Some(4_000_000_001),
        detection_type: "Confirmed".to_owned(),
        severity: Some(5),
        port: Some(22),
        protocol: Some("tcp".to_owned()),
        status: Some("Fixed".to_owned()),
        first_found: Some(1_587_000_000_000),
        last_found: Some(1_587_500_000_000),
        ..Default::default()
    };
    let targets = HostTargets {
        fqdn: Some("web-1.example.com".to_owned()),
        ec2_instance_arn: Some("arn:aws:ec2:us-east-1:012345678901:instance/i-0abc".to_owned()),
        aws_account_id: Some("012345678901".to_owned()),
        azure_vm_source_id: None,
        ..Default::default()
    };
    let finding =
        host_finding_entity(&host, &detection, Some(&targets), FindingOptions::default()).unwrap();

    assert_valid(&finding);
    assert_eq!(text(&finding, "severity").as_deref(), Some("critical"));
    assert_eq!(finding.get("numericSeverity"), Some(Value::Int(10)));
    assert_eq!(finding.get("qualysSeverity"), Some(Value::Int(5)));
    assert_eq!(finding.get("open"), Some(Value::Bool(false)));
    assert_eq!(
        finding.get("createdOn"),
        Some(Value::Int(1_587_000_000_000))
    );
    assert_eq!(
        finding.get("lastFoundOn"),
        Some(Value::Int(1_587_500_000_000))
    );
    assert_eq!(text(&finding, "id").as_deref(), Some("4000000001"));
    assert_eq!(
        text(&finding, "awsAccountId").as_deref(),
        Some("012345678901")
    );
    assert_eq!(
        finding.get("targets"),
        Some(Value::from(vec![
            "10.0.2.15",
            "107800671",
            "web-1.example.com",
            "arn:aws:ec2:us-east-1:012345678901:instance/i-0abc"
        ]))
    );
}

#[test]
fn severity_words_and_numbers() {
    let cases = [
        (None, "informational", 1),
        (Some(0), "none", 1),
        (Some(1), "informational", 1),
        (Some(2), "low", 4),
        (Some(3), "medium", 6),
        (Some(4), "high", 8),
        (Some(5), "critical", 10),
        (Some(9), "critical", 10),
    ];
    for (severity, word, number) in cases {
        assert_eq!(
            qgraph_integration::convert::severity_word(severity),
            word,
            "{severity:?}"
        );
        assert_eq!(
            qgraph_integration::convert::numeric_severity(severity),
            number,
            "{severity:?}"
        );
    }
}

#[tokio::test]
async fn ec2_asset_scans_aws_instance_with_padded_account() {
    let assets = assets("am-hostasset-search-ec2.xml").await;
    let relationship = host_scans_relationship(&assets[0]).unwrap().unwrap();

    assert_eq!(
        relationship.relationship_type,
        "qualys_vulnerability_manager_scans_aws_instance"
    );
    let arn = target_text(&relationship, "_key").unwrap();
    assert!(arn.starts_with("arn:aws:ec2:"), "{arn}");
    let account = target_text(&relationship, "accountId").unwrap();
    assert_eq!(account.len(), 12, "{account}");
    assert!(arn.contains(&format!(":{account}:instance/")), "{arn}");
    assert_eq!(relationship.key, format!("qualys-service:vmdr|scans|{arn}"));
    assert!(!relationship.mapping.skip_target_creation);
    assert_eq!(
        host_targets(&assets[0]).ec2_instance_arn.as_deref(),
        Some(arn.as_str())
    );
}

#[tokio::test]
async fn gcp_asset_keeps_its_instance_id_exact() {
    let assets = assets("am-hostasset-list-gcp-fixture.xml").await;
    let relationships: Vec<MappedRelationship> = assets
        .iter()
        .filter_map(|a| host_scans_relationship(a).unwrap())
        .collect();
    let ids: Vec<String> = relationships
        .iter()
        .filter_map(|r| target_text(r, "id"))
        .collect();

    assert!(ids.contains(&"215287854144326580".to_owned()), "{ids:?}");
    for relationship in relationships
        .iter()
        .filter(|r| r.relationship_type.ends_with("google_compute_instance"))
    {
        let key = target_text(relationship, "_key").unwrap();
        assert!(
            key.starts_with("https://www.googleapis.com/compute/v1/projects/"),
            "{key}"
        );
    }
}

#[tokio::test]
async fn azure_asset_is_never_created_as_a_placeholder() {
    let assets = assets("am-hostasset-list-azure-fixture.xml").await;
    let relationship = assets
        .iter()
        .filter_map(|a| host_scans_relationship(a).unwrap())
        .find(|r| r.relationship_type == "qualys_vulnerability_manager_scans_azure_vm")
        .unwrap();

    assert!(relationship.mapping.skip_target_creation);
    let key = target_text(&relationship, "_key").unwrap();
    assert_eq!(key, key.to_lowercase());
    assert!(
        key.starts_with("/subscriptions/")
            && key.contains("/providers/microsoft.compute/virtualmachines/"),
        "{key}"
    );
}

#[tokio::test]
async fn agent_assets_share_one_scans_key() {
    let assets = assets("am-hostasset-list-agent-fixture.xml").await;
    assert_eq!(assets.len(), 2);
    let first = host_scans_relationship(&assets[0]).unwrap().unwrap();
    let second = host_scans_relationship(&assets[1]).unwrap().unwrap();

    assert_eq!(
        first.relationship_type,
        "qualys_vulnerability_manager_scans_discovered_host"
    );
    assert_eq!(first.key, second.key);
    assert_eq!(
        first.mapping.target_filter_keys,
        vec![vec!["_class".to_owned(), "qualysQwebHostId".to_owned()]]
    );

    let mut merged = host_targets(&assets[0]);
    merged.merge(host_targets(&assets[1]));
    assert_eq!(
        merged.fqdn,
        host_targets(&assets[0])
            .fqdn
            .or(host_targets(&assets[1]).fqdn)
    );
}

#[tokio::test]
async fn targets_fill_gaps_instead_of_replacing() {
    let mut first = HostTargets {
        fqdn: Some("a.example.com".to_owned()),
        ..Default::default()
    };
    first.merge(HostTargets {
        fqdn: Some("b.example.com".to_owned()),
        ec2_instance_arn: Some("arn:aws:ec2:eu-west-1:111122223333:instance/i-1".to_owned()),
        ..Default::default()
    });

    assert_eq!(first.fqdn.as_deref(), Some("a.example.com"));
    assert_eq!(
        first.ec2_instance_arn.as_deref(),
        Some("arn:aws:ec2:eu-west-1:111122223333:instance/i-1")
    );
}

#[tokio::test]
async fn paged_assets_all_map_to_a_host() {
    for name in [
        "am-hostasset-search-paged-01.xml",
        "am-hostasset-search-paged-02.xml",
        "am-hostasset-list-ec2-fixture.xml",
    ] {
        for asset in assets(name).await {
            let relationship = host_scans_relationship(&asset).unwrap();
            assert!(
                relationship.is_some(),
                "{name}: asset {} has no SCANS",
                asset.id
            );
            let relationship = relationship.unwrap();
            assert!(
                target_text(&relationship, "hostname").is_some(),
                "{name}: {}",
                relationship.key
            );
            for name_key in relationship.mapping.target_entity.keys() {
                assert!(
                    !name_key.contains(':') && !name_key.contains('/'),
                    "bad property name {name_key}"
                );
            }
        }
    }
}

#[tokio::test]
async fn knowledge_base_entries_become_valid_vulns_and_cves() {
    let vulns = vulns("kb-vuln-list-many.xml").await;
    assert_eq!(vulns.len(), 42);

    let mut cves: BTreeMap<String, Entity> = BTreeMap::new();
    for vuln in &vulns {
        let entity = vuln_entity(vuln, &api_url(), 1_700_000_000_000).unwrap();
        assert_valid(&entity);
        assert_eq!(entity.key, format!("vuln-qid:{}", vuln.qid));
        assert_eq!(
            text(&entity, "webLink"),
            Some(format!(
                "https://qualysguard.qg3.apps.qualys.com/fo/common/vuln_info.php?id={}",
                vuln.qid
            ))
        );
        for reference in &vuln.cves {
            if let Some(cve) = cve_entity(reference, vuln).unwrap() {
                assert_valid(&cve);
                assert_eq!(cve.key, cve.key.to_lowercase());
                cves.insert(cve.key.clone(), cve);
            }
        }
    }
    assert!(!cves.is_empty());
}

#[tokio::test]
async fn cvss_scores_come_from_kb() {
    let vulns = vulns("kb-vuln-list-mock-server-synthetic.xml").await;
    let with_cvss = vulns
        .iter()
        .find(|v| v.cvss_v2.is_some())
        .expect("the synthetic page has CVSS");
    let entity = vuln_entity(with_cvss, &api_url(), 0).unwrap();

    let expected = with_cvss
        .cvss_v2
        .as_ref()
        .and_then(|c| c.base.as_ref())
        .and_then(|s| s.value);
    assert_eq!(entity.get("cvssScore").and_then(|v| v.as_f64()), expected);
    assert!(expected.is_some());

    let recorded = vulns_without_cvss().await;
    assert_eq!(recorded.get("cvssScore"), None);
}

async fn vulns_without_cvss() -> Entity {
    let vulns = vulns("kb-vuln-list.xml").await;
    vuln_entity(&vulns[0], &api_url(), 0).unwrap()
}

#[test]
fn is_relationships_have_their_own_types() {
    let host_vuln = finding_is_vuln("hostId:1|qid:11", "qualys_host_finding", 11).unwrap();
    let web_vuln = finding_is_vuln("6f1e2c4a-0000", "qualys_web_app_finding", 11).unwrap();
    let web_cve = finding_is_cve("6f1e2c4a-0000", "qualys_web_app_finding", "cve-2017-0144")
        .unwrap()
        .unwrap();

    assert_eq!(host_vuln.relationship_type, "qualys_host_finding_is_vuln");
    assert_eq!(host_vuln.key, "hostId:1|qid:11|is|vuln-qid:11");
    assert_eq!(web_vuln.relationship_type, "qualys_web_app_finding_is_vuln");
    assert_eq!(web_cve.relationship_type, "qualys_web_app_finding_is_cve");
    assert_eq!(web_cve.to_key, "cve-2017-0144");
    assert!(
        finding_is_cve("x", "qualys_host_finding", "not-a-cve")
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn recorded_web_app_findings_become_valid_findings() {
    let body = fixture("was-finding-search.xml");
    let findings: Vec<WebAppFinding> = records(parse::web_app_findings(&body[..])).await;
    assert_eq!(findings.len(), 86);

    let mut keys = BTreeSet::new();
    for finding in &findings {
        let entity = web_app_finding_entity(finding).unwrap();
        assert_valid(&entity);
        assert!(keys.insert(entity.key.clone()));
        let gathered = finding.finding_type.as_deref() == Some("INFORMATION_GATHERED");
        assert_eq!(
            entity.get("open"),
            Some(Value::Bool(!gathered)),
            "{}",
            entity.key
        );
        assert_eq!(text(&entity, "webAppName"), finding.web_app.name.clone());
    }
}

#[tokio::test]
async fn recorded_web_apps_map_by_url_with_id() {
    let body = fixture("was-webapp-search.xml");
    let apps: Vec<WebApp> = records(parse::web_apps(&body[..])).await;
    assert_eq!(apps.len(), 7);

    for app in &apps {
        let relationship = web_app_scans_relationship(app).unwrap();
        assert_eq!(
            relationship.relationship_type,
            "qualys_web_app_scanner_scans_web_app"
        );
        assert_eq!(target_text(&relationship, "id"), Some(app.id.to_string()));
        assert_eq!(target_text(&relationship, "url"), app.url.clone());
        assert_eq!(
            relationship.key,
            format!("qualys-service:was|scans|qualys-web-app:{}", app.id)
        );
    }
}

#[tokio::test]
async fn services_take_versions_from_either_portal_shape() {
    for name in ["portal-version.xml", "portal-version-2022.xml"] {
        let body = fixture(name);
        let portal = records(parse::portal_version(&body[..])).await.remove(0);
        let [vmdr, was] = service_entities(&portal).unwrap();
        assert_valid(&vmdr);
        assert_valid(&was);
        assert!(
            vmdr.get("version").is_some(),
            "{name}: VMDR version missing"
        );
        let account = account_entity("instance-1", "Prod", &api_url(), &portal).unwrap();
        assert_valid(&account);
        assert_eq!(text(&account, "name").as_deref(), Some("Qualys - Prod"));
        assert_eq!(account.key, "qualys-account:instance-1");
    }
}

#[test]
fn is_relationship_types_match_the_generated_ones() {
    use qgraph_model::{RelationshipClass, relationship_key, relationship_type};
    let is = RelationshipClass::new("IS").unwrap();
    for (from_type, to_key) in [
        ("qualys_host_finding", "vuln-qid:11"),
        ("qualys_web_app_finding", "vuln-qid:11"),
    ] {
        let built = finding_is_vuln("finding-key-1", from_type, 11).unwrap();
        assert_eq!(
            built.relationship_type,
            relationship_type(from_type, &is, "qualys_vuln")
        );
        assert_eq!(built.key, relationship_key("finding-key-1", &is, to_key));
        assert_eq!(built.display_name.as_deref(), Some("IS"));
        let cve = finding_is_cve("finding-key-1", from_type, "CVE-2017-0144")
            .unwrap()
            .unwrap();
        assert_eq!(
            cve.relationship_type,
            relationship_type(from_type, &is, "cve")
        );
        assert_eq!(
            cve.key,
            relationship_key("finding-key-1", &is, "cve-2017-0144")
        );
    }
}

#[test]
fn huge_multibyte_results_are_cut_on_a_character() {
    let host = HostDetections {
        host_id: 7,
        ..Default::default()
    };
    let detection = Detection {
        qid: 38739,
        detection_type: "Confirmed".to_owned(),
        // 2 MB of three-byte characters.
        results: Some("€".repeat(700_000)),
        ..Default::default()
    };
    let options = FindingOptions {
        result_qids: &[38739],
    };
    let finding = host_finding_entity(&host, &detection, None, options).unwrap();

    let details = text(&finding, "details").unwrap();
    assert_eq!(details.chars().count(), 300);
    assert!(details.chars().all(|c| c == '€'));
}

#[test]
fn huge_solution_text_is_cut() {
    let vuln = Vuln {
        qid: 11,
        solution: Some("<p>patch</p>".repeat(100_000)),
        ..Default::default()
    };
    let entity = vuln_entity(&vuln, &api_url(), 0).unwrap();

    let solution = text(&entity, "solution").unwrap();
    assert_eq!(solution.chars().count(), 4000);
    assert_valid(&entity);
}
