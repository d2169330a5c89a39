//! Knowledge-base entries to `qualys_vuln` and `cve` entities, and the
//! finding `IS` relationships to them.

use qgraph_model::{Entity, ModelError, Properties, Relationship, RelationshipClass, Value};
use qgraph_qualys::{Cvss, Reference, Vuln};

use super::{non_empty, numeric_severity, push_unique, severity_word, truncate_chars};
use crate::config::ApiUrl;
use crate::steps::types;

/// Maximum characters of the solution text kept on a `qualys_vuln`. The HTML
/// of some entries runs to many kilobytes, and every host gets the same text.
pub const MAX_SOLUTION_CHARS: usize = 4000;

/// Returns the `_key` of the `qualys_vuln` of a QID.
pub fn vuln_key(qid: u64) -> String {
    format!("vuln-qid:{qid}")
}

/// Returns the `_key` of a `cve` entity, or `None` when the text is not a CVE id
/// (`CVE-<year>-<number>`).
pub fn cve_key(cve_id: &str) -> Option<String> {
    normalise_cve_id(cve_id).map(|id| id.to_ascii_lowercase())
}

fn normalise_cve_id(cve_id: &str) -> Option<String> {
    let upper = cve_id.trim().to_ascii_uppercase();
    let mut parts = upper.splitn(3, '-');
    let valid = parts.next() == Some("CVE")
        && parts
            .next()
            .is_some_and(|year| year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit()))
        && parts
            .next()
            .is_some_and(|number| number.len() >= 4 && number.bytes().all(|b| b.is_ascii_digit()));
    valid.then_some(upper)
}

/// Returns the normalised CVE ids of a vuln, without duplicates or invalid ids.
pub(crate) fn vuln_cve_ids(vuln: &Vuln) -> Vec<String> {
    let mut ids = Vec::new();
    for reference in &vuln.cves {
        if let Some(id) = normalise_cve_id(&reference.id)
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    ids
}

fn base_score(cvss: Option<&Cvss>) -> Option<f64> {
    cvss.and_then(|c| c.base.as_ref())
        .and_then(|score| score.value)
}

/// Builds the `qualys_vuln` entity of a knowledge-base entry. `fetched_on_ms`
/// records when it was read, so a cache built from stored entities can
/// refresh old entries.
pub fn vuln_entity(
    vuln: &Vuln,
    api_url: &ApiUrl,
    fetched_on_ms: i64,
) -> Result<Entity, ModelError> {
    let mut entity = Entity::new(vuln_key(vuln.qid), types::VULN, &["Vulnerability"])?;
    let name =
        non_empty(vuln.title.as_deref()).map_or_else(|| format!("QID {}", vuln.qid), str::to_owned);
    entity.display_name = Some(name.clone());
    entity.set("name", name);
    entity.set("id", vuln.qid.to_string());
    entity.set("qid", Value::from_u64(vuln.qid));
    entity.set("webLink", api_url.vuln_web_link(vuln.qid));
    entity.set("kbFetchedOn", fetched_on_ms);

    // The data model requires these; a knowledge-base entry does not know them.
    entity.set(
        "category",
        non_empty(vuln.category.as_deref()).map_or(Value::Null, Value::from),
    );
    entity.set("blocking", Value::Null);
    entity.set("open", Value::Null);
    entity.set("production", Value::Null);
    entity.set("public", Value::Null);

    entity.set("severity", severity_word(vuln.severity));
    entity.set("numericSeverity", numeric_severity(vuln.severity));
    entity.set_opt("severityLevel", vuln.severity.map(u32::from));
    entity.set_opt(
        "vulnType",
        non_empty(vuln.vuln_type.as_deref()).map(str::to_owned),
    );
    entity.set("cveIds", vuln_cve_ids(vuln));
    set_scores(&mut entity, vuln);
    set_references(&mut entity, vuln);

    entity.set_opt("publishedOn", vuln.published);
    entity.set_opt("lastModifiedOn", vuln.last_modified);
    entity.set_opt("patchable", vuln.patchable);
    entity.set_opt("pciFlag", vuln.pci_flag);
    entity.set_opt(
        "discoveryRemote",
        vuln.discovery.as_ref().and_then(|d| d.remote),
    );
    if let Some(solution) = non_empty(vuln.solution.as_deref()) {
        entity.set("solution", truncate_chars(solution, MAX_SOLUTION_CHARS));
    }
    Ok(entity)
}

fn set_scores(entity: &mut Entity, vuln: &Vuln) {
    let v2 = base_score(vuln.cvss_v2.as_ref());
    let v3 = base_score(vuln.cvss_v3.as_ref());
    entity.set_opt("cvssScore", v2);
    entity.set_opt("cvssScoreV3", v3);
    entity.set_opt("score", v3.or(v2));
    let vector = vuln
        .cvss_v3
        .as_ref()
        .or(vuln.cvss_v2.as_ref())
        .and_then(|c| c.vector.clone());
    entity.set_opt("vector", vector);
}

fn set_references(entity: &mut Entity, vuln: &Vuln) {
    let mut references = Vec::new();
    for reference in vuln
        .cves
        .iter()
        .chain(&vuln.vendor_references)
        .chain(&vuln.bugtraqs)
    {
        push_unique(&mut references, reference.url.as_deref());
    }
    if !references.is_empty() {
        entity.set("references", references);
    }
    let vendor: Vec<String> = vuln
        .vendor_references
        .iter()
        .map(|r| r.id.clone())
        .collect();
    if !vendor.is_empty() {
        entity.set("vendorReferences", vendor);
    }
    let mut threat_intel = Vec::new();
    for marker in &vuln.threat_intel {
        push_unique(&mut threat_intel, Some(&marker.text));
    }
    if !threat_intel.is_empty() {
        entity.set("threatIntel", threat_intel);
    }
}

/// Builds the `cve` entity of one CVE reference of a vuln, carrying the
/// vuln's CVSS base scores. Returns `Ok(None)` when the id is not a CVE id.
pub fn cve_entity(reference: &Reference, vuln: &Vuln) -> Result<Option<Entity>, ModelError> {
    let Some(id) = normalise_cve_id(&reference.id) else {
        return Ok(None);
    };
    let mut entity = Entity::new(id.to_ascii_lowercase(), types::CVE, &["Vulnerability"])?;
    entity.display_name = Some(id.clone());
    entity.set("name", id.clone());
    entity.set("id", id.clone());
    let link = non_empty(reference.url.as_deref()).map_or_else(
        || format!("https://nvd.nist.gov/vuln/detail/{id}"),
        str::to_owned,
    );
    entity.set("webLink", link);

    entity.set("category", Value::Null);
    entity.set("severity", Value::Null);
    entity.set("blocking", Value::Null);
    entity.set("open", Value::Null);
    entity.set("production", Value::Null);
    entity.set("public", Value::Null);

    let v2 = base_score(vuln.cvss_v2.as_ref());
    let v3 = base_score(vuln.cvss_v3.as_ref());
    entity.set_opt("cvssScore", v2);
    entity.set_opt("cvssScoreV3", v3);
    entity.set_opt("score", v3.or(v2));
    Ok(Some(entity))
}

/// Merges a later `cve` entity of the same id into the first: scores keep
/// their maximum, so the result does not depend on the order QIDs arrive in.
pub(crate) fn merge_cve(into: &mut Entity, other: &Entity) {
    for name in ["cvssScore", "cvssScoreV3", "score"] {
        let current = into.get(name).and_then(|v| v.as_f64());
        let candidate = other.get(name).and_then(|v| v.as_f64());
        if let Some(candidate) = candidate
            && current.is_none_or(|c| candidate > c)
        {
            into.set(name, candidate);
        }
    }
}

/// Builds a finding `IS qualys_vuln` relationship.
pub fn finding_is_vuln(
    finding_key: &str,
    finding_type: &str,
    qid: u64,
) -> Result<Relationship, ModelError> {
    is_relationship(finding_key, finding_type, &vuln_key(qid), types::VULN)
}

/// Builds a finding `IS cve` relationship. Returns `Ok(None)` when `cve_id`
/// is not a CVE id.
pub fn finding_is_cve(
    finding_key: &str,
    finding_type: &str,
    cve_id: &str,
) -> Result<Option<Relationship>, ModelError> {
    let Some(key) = cve_key(cve_id) else {
        return Ok(None);
    };
    is_relationship(finding_key, finding_type, &key, types::CVE).map(Some)
}

/// Builds an `IS` relationship. There is one per finding and CVE, so the four
/// known `_type`s are looked up instead of derived from the entity types.
fn is_relationship(
    from_key: &str,
    from_type: &str,
    to_key: &str,
    to_type: &str,
) -> Result<Relationship, ModelError> {
    let is = RelationshipClass::new(RelationshipClass::IS)?;
    let known_type = match (from_type, to_type) {
        (types::HOST_FINDING, types::VULN) => Some(types::HOST_FINDING_IS_VULN),
        (types::HOST_FINDING, types::CVE) => Some(types::HOST_FINDING_IS_CVE),
        (types::WEB_APP_FINDING, types::VULN) => Some(types::WEB_APP_FINDING_IS_VULN),
        (types::WEB_APP_FINDING, types::CVE) => Some(types::WEB_APP_FINDING_IS_CVE),
        _ => None,
    };
    let Some(relationship_type) = known_type else {
        return Ok(Relationship::between_keys(
            from_key, from_type, &is, to_key, to_type,
        ));
    };
    Ok(Relationship {
        key: format!("{from_key}|is|{to_key}"),
        relationship_type: relationship_type.to_owned(),
        class: is,
        from_key: from_key.to_owned(),
        to_key: to_key.to_owned(),
        display_name: Some(RelationshipClass::IS.to_owned()),
        properties: Properties::new(),
    })
}
