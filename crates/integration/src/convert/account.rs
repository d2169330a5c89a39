//! The account and the two service entities.

use qgraph_model::{Entity, ModelError, RawData, Relationship, RelationshipClass};
use qgraph_qualys::PortalVersion;

use crate::config::ApiUrl;
use crate::steps::types;

/// `_key` of the vulnerability manager service.
pub const VMDR_SERVICE_KEY: &str = "qualys-service:vmdr";
/// `_key` of the web application scanner service.
pub const WAS_SERVICE_KEY: &str = "qualys-service:was";

/// Builds the `qualys_account` entity of an instance.
pub fn account_entity(
    instance_id: &str,
    account_name: &str,
    api_url: &ApiUrl,
    portal: &PortalVersion,
) -> Result<Entity, ModelError> {
    let mut entity = Entity::new(
        format!("qualys-account:{instance_id}"),
        types::ACCOUNT,
        &["Account"],
    )?;
    let name = format!("Qualys - {account_name}");
    entity.display_name = Some(name.clone());
    entity.set("name", name);
    entity.set("webLink", api_url.web_ui_base());
    entity.set("accessURL", api_url.web_ui_base());
    if let Ok(raw) = serde_json::to_value(portal) {
        entity.raw_data.push(RawData {
            name: "default".to_owned(),
            raw_data: serde_json::json!({ "portal": raw }),
        });
    }
    Ok(entity)
}

/// Builds the `qualys_vulnerability_manager` and `qualys_web_app_scanner` entities.
pub fn service_entities(portal: &PortalVersion) -> Result<[Entity; 2], ModelError> {
    let vmdr = service(
        VMDR_SERVICE_KEY,
        types::VMDR_SERVICE,
        "Qualys Vulnerability Manager",
        "Finds, ranks and tracks vulnerabilities on scanned hosts and cloud instances.",
        "vulnerability-management",
        portal.vm_version.as_deref(),
    )?;
    let was = service(
        WAS_SERVICE_KEY,
        types::WAS_SERVICE,
        "Qualys Web Application Scanner",
        "Scans web applications for vulnerabilities (dynamic application security testing).",
        "DAST",
        portal.was_version.as_deref(),
    )?;
    Ok([vmdr, was])
}

fn service(
    key: &str,
    entity_type: &str,
    name: &str,
    description: &str,
    function: &str,
    version: Option<&str>,
) -> Result<Entity, ModelError> {
    let mut entity = Entity::new(key, entity_type, &["Service"])?;
    entity.display_name = Some(name.to_owned());
    entity.set("name", name);
    entity.set("description", description);
    entity.set("category", vec!["software", "other"]);
    entity.set("function", vec![function]);
    entity.set_opt("version", version.map(str::to_owned));
    Ok(entity)
}

/// Builds the account `HAS` service relationships.
pub fn service_relationships(
    account: &Entity,
    services: &[Entity],
) -> Result<Vec<Relationship>, ModelError> {
    let has = RelationshipClass::new(RelationshipClass::HAS)?;
    Ok(services
        .iter()
        .map(|service| Relationship::between(account, &has, service))
        .collect())
}
