//! Data-model schema validation.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use qgraph_model::schema::validate_entity;
use qgraph_model::{Entity, Value};

fn finding() -> Entity {
    let mut entity = Entity::new(
        "qualys-host-finding:107800671:11",
        "qualys_host_finding",
        &["Finding"],
    )
    .unwrap();
    entity.display_name = Some("QID 11".to_owned());
    entity
        .set("name", "Hidden RPC Services")
        .set("category", "system-scan")
        .set("severity", "low")
        .set("numericSeverity", 2_i64)
        .set("open", true);
    entity
}

#[test]
fn valid_finding_passes() {
    assert_eq!(validate_entity(&finding()), Vec::new());
}

#[test]
fn finding_without_severity_is_rejected() {
    let mut entity = finding();
    entity.properties.remove("severity");
    let violations = validate_entity(&entity);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].entity_key, "qualys-host-finding:107800671:11");
    assert_eq!(violations[0].property, "severity");
    assert!(violations[0].rule.contains("required by class Finding"));
    let message = violations[0].to_string();
    assert!(
        message.contains("qualys-host-finding:107800671:11"),
        "{message}"
    );
    assert!(message.contains("severity"), "{message}");
}

#[test]
fn every_violation_is_listed() {
    let mut entity = finding();
    entity.properties.remove("open");
    entity.set("numericSeverity", 11_i64);
    entity.set("severity", "urgent");
    entity.set("targets", "10.0.0.1");
    let violations = validate_entity(&entity);
    let properties: Vec<&str> = violations.iter().map(|v| v.property.as_str()).collect();
    assert_eq!(
        properties,
        ["open", "severity", "numericSeverity", "targets"]
    );
}

#[test]
fn host_requires_hostname_and_valid_platform() {
    let mut host = Entity::new(
        "arn:aws:ec2:us-east-1:123456789012:instance/i-1",
        "aws_instance",
        &["Host"],
    )
    .unwrap();
    host.display_name = Some("web-1".to_owned());
    host.set("name", "web-1").set("platform", "beos");
    let violations = validate_entity(&host);
    let properties: Vec<&str> = violations.iter().map(|v| v.property.as_str()).collect();
    assert_eq!(properties, ["hostname", "platform"]);
}

#[test]
fn service_needs_category_and_function() {
    let mut service = Entity::new(
        "qualys-service:vmdr",
        "qualys_vulnerability_manager",
        &["Service"],
    )
    .unwrap();
    service.display_name = Some("Qualys VMDR".to_owned());
    service
        .set("name", "Qualys VMDR")
        .set("category", vec!["software"]);
    let violations = validate_entity(&service);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].property, "function");
}

#[test]
fn vulnerability_allows_null_flags() {
    let mut vuln = Entity::new("vuln-qid:316760", "qualys_vuln", &["Vulnerability"]).unwrap();
    vuln.display_name = Some("QID 316760".to_owned());
    vuln.set("name", "316760")
        .set("category", "system")
        .set("severity", Value::Null)
        .set("blocking", false)
        .set("open", Value::Null)
        .set("production", Value::Null)
        .set("public", Value::Null);
    assert_eq!(validate_entity(&vuln), Vec::new());
}

#[test]
fn invalid_property_name_is_reported() {
    let mut entity = finding();
    entity.set("bad/name", "x");
    entity.set("tag.Owner Name", "y");
    let violations = validate_entity(&entity);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].property, "bad/name");
}
