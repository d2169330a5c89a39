//! WAS web apps and web-app findings.

use qgraph_model::{
    Direction, Entity, MappedRelationship, ModelError, Properties, Relationship, RelationshipClass,
    Value,
};
use qgraph_qualys::{WebApp, WebAppFinding};

use super::account::WAS_SERVICE_KEY;
use super::detections::set_severity_properties;
use super::{non_empty, push_unique};
use crate::steps::types;

/// Builds the web app scanner `SCANS web_app` mapped relationship. The
/// target is matched by URL, so a `web_app` from another source with the same
/// URL joins, and it carries the Qualys id for a placeholder.
pub fn web_app_scans_relationship(app: &WebApp) -> Result<MappedRelationship, ModelError> {
    let mut target = Properties::new();
    let url = non_empty(app.url.as_deref());
    let name = non_empty(app.name.as_deref())
        .or(url)
        .map_or_else(|| format!("Web app {}", app.id), str::to_owned);

    target.insert("_class".into(), vec!["Application"].into());
    target.insert("_type".into(), "web_app".into());
    target.insert("_key".into(), format!("qualys-web-app:{}", app.id).into());
    target.insert("id".into(), app.id.to_string().into());
    target.insert("qualysWebAppId".into(), Value::from_u64(app.id));
    target.insert("name".into(), name.clone().into());
    target.insert("displayName".into(), name.into());
    if let Some(url) = url {
        target.insert("url".into(), url.into());
    }
    if let Some(created) = app.created {
        target.insert("createdOn".into(), Value::Int(created));
    }
    if let Some(updated) = app.updated {
        target.insert("updatedOn".into(), Value::Int(updated));
    }
    let mut tags = Vec::new();
    for tag in &app.tags {
        push_unique(&mut tags, Some(&tag.name));
    }
    if !tags.is_empty() {
        target.insert("tags".into(), tags.into());
    }

    let filter = if url.is_some() {
        ["_type", "url"]
    } else {
        ["_type", "_key"]
    };
    let scans = RelationshipClass::new(RelationshipClass::SCANS)?;
    MappedRelationship::new(
        WAS_SERVICE_KEY,
        types::WAS_SERVICE,
        &scans,
        target,
        vec![filter.iter().map(|k| (*k).to_owned()).collect()],
        Direction::Forward,
        false,
    )
}

/// Returns the `_key` of a web-app finding: its Qualys UUID, or its numeric id
/// when the UUID is missing.
pub fn web_app_finding_key(finding: &WebAppFinding) -> String {
    match non_empty(finding.unique_id.as_deref()) {
        Some(uuid) if uuid.len() >= 10 => uuid.to_owned(),
        _ => format!("qualys-web-app-finding:{}", finding.id),
    }
}

/// Returns whether a web-app finding is open. Fixed findings are closed, and
/// so are `PROTECTED` ones (a web application firewall blocks them) and
/// information-gathered findings without a status, which report facts, not
/// vulnerabilities.
fn web_finding_open(finding: &WebAppFinding) -> bool {
    match non_empty(finding.status.as_deref()) {
        Some(status) => {
            !(status.eq_ignore_ascii_case("fixed") || status.eq_ignore_ascii_case("protected"))
        }
        None => !finding
            .finding_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("INFORMATION_GATHERED")),
    }
}

/// Builds the `qualys_web_app_finding` entity of a WAS finding.
pub fn web_app_finding_entity(finding: &WebAppFinding) -> Result<Entity, ModelError> {
    let mut entity = Entity::new(
        web_app_finding_key(finding),
        types::WEB_APP_FINDING,
        &["Finding"],
    )?;
    let name = non_empty(finding.name.as_deref()).map_or_else(
        || {
            finding.qid.map_or_else(
                || format!("Finding {}", finding.id),
                |qid| format!("QID {qid}"),
            )
        },
        str::to_owned,
    );
    entity.display_name = Some(name.clone());
    entity.set("name", name);
    entity.set("id", finding.id.to_string());
    entity.set("category", "app-scan");
    entity.set_opt("qid", finding.qid.map(Value::from_u64));
    entity.set_opt(
        "type",
        non_empty(finding.finding_type.as_deref()).map(str::to_owned),
    );
    set_severity_properties(&mut entity, finding.severity);
    entity.set_opt(
        "status",
        non_empty(finding.status.as_deref()).map(str::to_owned),
    );
    entity.set("open", web_finding_open(finding));
    entity.set_opt("potential", finding.potential);
    entity.set_opt(
        "findingSource",
        non_empty(finding.source.as_deref()).map(str::to_owned),
    );
    entity.set_opt("isIgnored", finding.is_ignored);
    entity.set_opt(
        "numTimesDetected",
        finding.times_detected.map(Value::from_u64),
    );
    entity.set_opt("url", non_empty(finding.url.as_deref()).map(str::to_owned));
    entity.set_opt(
        "param",
        non_empty(finding.param.as_deref()).map(str::to_owned),
    );

    entity.set_opt("createdOn", finding.first_detected);
    entity.set_opt("firstFoundOn", finding.first_detected);
    entity.set_opt("updatedOn", finding.last_detected);
    entity.set_opt("lastFoundOn", finding.last_detected);
    entity.set_opt("lastTestedOn", finding.last_tested);

    set_web_app(&mut entity, finding);
    set_classification(&mut entity, finding);
    Ok(entity)
}

fn set_web_app(entity: &mut Entity, finding: &WebAppFinding) {
    let app = &finding.web_app;
    entity.set_opt("webAppId", app.id.map(Value::from_u64));
    entity.set_opt(
        "webAppName",
        non_empty(app.name.as_deref()).map(str::to_owned),
    );
    entity.set_opt(
        "webAppUrl",
        non_empty(app.url.as_deref()).map(str::to_owned),
    );

    let mut targets = Vec::new();
    push_unique(&mut targets, app.name.as_deref());
    push_unique(&mut targets, app.url.as_deref());
    push_unique(&mut targets, finding.url.as_deref());
    entity.set("targets", targets);
}

fn set_classification(entity: &mut Entity, finding: &WebAppFinding) {
    if !finding.cwe.is_empty() {
        let cwe: Vec<String> = finding.cwe.iter().map(|id| format!("CWE-{id}")).collect();
        entity.set("cweIds", cwe);
    }
    if !finding.owasp.is_empty() {
        let owasp: Vec<String> = finding.owasp.iter().map(|o| o.name.clone()).collect();
        entity.set("owasp", owasp);
    }
    if let Some(cvss) = &finding.cvss_v3 {
        let base = cvss.base.as_ref().and_then(|score| score.value);
        entity.set_opt("cvssScoreV3", base);
        entity.set_opt("score", base);
        entity.set_opt(
            "attackVector",
            non_empty(cvss.attack_vector.as_deref()).map(str::to_owned),
        );
    }
}

/// Builds the web app scanner `IDENTIFIED` finding relationship.
pub fn web_app_identified_finding(finding: &Entity) -> Result<Relationship, ModelError> {
    let identified = RelationshipClass::new(RelationshipClass::IDENTIFIED)?;
    Ok(Relationship::between_keys(
        WAS_SERVICE_KEY,
        types::WAS_SERVICE,
        &identified,
        &finding.key,
        &finding.entity_type,
    ))
}
