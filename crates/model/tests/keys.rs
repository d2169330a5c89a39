//! `_type` and `_key` generation for the relationships of the Qualys data model.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use qgraph_model::{
    Direction, MappedRelationship, Properties, RelationshipClass, Value, relationship_key,
    relationship_type,
};

fn class(name: &str) -> RelationshipClass {
    RelationshipClass::new(name).unwrap()
}

#[test]
fn relationship_types_of_qualys_model() {
    let cases = [
        (
            "qualys_account",
            "HAS",
            "qualys_vulnerability_manager",
            "qualys_account_has_vulnerability_manager",
        ),
        (
            "qualys_account",
            "HAS",
            "qualys_web_app_scanner",
            "qualys_account_has_web_app_scanner",
        ),
        (
            "qualys_web_app_scanner",
            "IDENTIFIED",
            "qualys_web_app_finding",
            "qualys_web_app_scanner_identified_finding",
        ),
        (
            "qualys_vulnerability_manager",
            "IDENTIFIED",
            "qualys_host_finding",
            "qualys_vulnerability_manager_identified_host_finding",
        ),
        (
            "qualys_vulnerability_manager",
            "SCANS",
            "aws_instance",
            "qualys_vulnerability_manager_scans_aws_instance",
        ),
        (
            "qualys_vulnerability_manager",
            "SCANS",
            "azure_vm",
            "qualys_vulnerability_manager_scans_azure_vm",
        ),
        (
            "qualys_vulnerability_manager",
            "SCANS",
            "google_compute_instance",
            "qualys_vulnerability_manager_scans_google_compute_instance",
        ),
        (
            "qualys_vulnerability_manager",
            "SCANS",
            "discovered_host",
            "qualys_vulnerability_manager_scans_discovered_host",
        ),
        (
            "qualys_web_app_scanner",
            "SCANS",
            "web_app",
            "qualys_web_app_scanner_scans_web_app",
        ),
        (
            "qualys_host_finding",
            "IS",
            "qualys_vuln",
            "qualys_host_finding_is_vuln",
        ),
        (
            "qualys_host_finding",
            "IS",
            "cve",
            "qualys_host_finding_is_cve",
        ),
        (
            "qualys_web_app_finding",
            "IS",
            "qualys_vuln",
            "qualys_web_app_finding_is_vuln",
        ),
        (
            "qualys_web_app_finding",
            "IS",
            "cve",
            "qualys_web_app_finding_is_cve",
        ),
        (
            "aws_instance",
            "HAS",
            "qualys_host_finding",
            "aws_instance_has_qualys_host_finding",
        ),
        ("qualys_vuln", "HAS", "qualys_vuln", "qualys_vuln_has_vuln"),
        ("qualys", "HAS", "qualys_vuln", "qualys_has_vuln"),
        ("qualys_vuln", "HAS", "qualys", "qualys_vuln_has_qualys"),
    ];
    for (from, class_name, to, expected) in cases {
        assert_eq!(
            relationship_type(from, &class(class_name), to),
            expected,
            "{from} {class_name} {to}"
        );
    }
}

#[test]
fn relationship_keys_of_qualys_model() {
    let cases = [
        (
            "qualys-account:8429",
            "HAS",
            "qualys-service:vmdr",
            "qualys-account:8429|has|qualys-service:vmdr",
        ),
        (
            "qualys-account:8429",
            "HAS",
            "qualys-service:was",
            "qualys-account:8429|has|qualys-service:was",
        ),
        (
            "qualys-service:was",
            "IDENTIFIED",
            "qualys-web-finding:101",
            "qualys-service:was|identified|qualys-web-finding:101",
        ),
        (
            "qualys-host-finding:107800671:11",
            "IS",
            "vuln-qid:11",
            "qualys-host-finding:107800671:11|is|vuln-qid:11",
        ),
        (
            "qualys-host-finding:107800671:11",
            "IS",
            "CVE-2021-44228",
            "qualys-host-finding:107800671:11|is|CVE-2021-44228",
        ),
    ];
    for (from, class_name, to, expected) in cases {
        assert_eq!(relationship_key(from, &class(class_name), to), expected);
    }
}

fn target(pairs: &[(&str, Value)]) -> Properties {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn filter_keys(sets: &[&[&str]]) -> Vec<Vec<String>> {
    sets.iter()
        .map(|set| set.iter().map(|s| (*s).to_owned()).collect())
        .collect()
}

#[test]
fn mapped_key_uses_target_key() {
    let arn = "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc";
    let relationship = MappedRelationship::new(
        "qualys-service:vmdr",
        "qualys_vulnerability_manager",
        &class("SCANS"),
        target(&[("_type", "aws_instance".into()), ("_key", arn.into())]),
        filter_keys(&[&["_type", "_key"]]),
        Direction::Forward,
        false,
    )
    .unwrap();
    assert_eq!(relationship.key, format!("qualys-service:vmdr|scans|{arn}"));
    assert_eq!(
        relationship.relationship_type,
        "qualys_vulnerability_manager_scans_aws_instance"
    );
}

#[test]
fn mapped_key_without_target_key() {
    let relationship = MappedRelationship::new(
        "qualys-service:was",
        "qualys_web_app_scanner",
        &class("SCANS"),
        target(&[("_type", "web_app".into()), ("name", "shop".into())]),
        filter_keys(&[&["_type", "name"]]),
        Direction::Forward,
        false,
    )
    .unwrap();
    assert_eq!(
        relationship.key,
        "qualys-service:was|scans|FORWARD:_type=web_app:name=shop"
    );
    assert_eq!(
        relationship.relationship_type,
        "qualys_web_app_scanner_scans_web_app"
    );
}

#[test]
fn mapped_key_joins_class_arrays() {
    let relationship = MappedRelationship::new(
        "qualys-service:vmdr",
        "qualys_vulnerability_manager",
        &class("SCANS"),
        target(&[
            ("_type", "discovered_host".into()),
            ("_class", vec!["Host"].into()),
            ("qualysQwebHostId", Value::Int(107800671)),
        ]),
        filter_keys(&[&["_class", "qualysQwebHostId"]]),
        Direction::Reverse,
        false,
    )
    .unwrap();
    assert_eq!(
        relationship.key,
        "qualys-service:vmdr|scans|REVERSE:_class=Host:qualysQwebHostId=107800671"
    );
}

#[test]
fn mapped_relationship_rejects_missing_filter_value() {
    let error = MappedRelationship::new(
        "qualys-service:vmdr",
        "qualys_vulnerability_manager",
        &class("SCANS"),
        target(&[("_type", "azure_vm".into())]),
        filter_keys(&[&["_type", "_key"]]),
        Direction::Forward,
        true,
    )
    .unwrap_err();
    assert!(error.to_string().contains("\"_key\""), "{error}");
}

#[test]
fn mapped_relationship_rejects_empty_filter_keys() {
    let result = MappedRelationship::new(
        "qualys-service:vmdr",
        "qualys_vulnerability_manager",
        &class("SCANS"),
        target(&[("_type", "azure_vm".into())]),
        Vec::new(),
        Direction::Forward,
        true,
    );
    assert!(result.is_err());
}

#[test]
fn relationship_class_is_checked() {
    assert_eq!(class("scans").as_str(), "SCANS");
    let error = RelationshipClass::new("LIKES").unwrap_err();
    assert!(error.to_string().contains("\"LIKES\""), "{error}");
}
