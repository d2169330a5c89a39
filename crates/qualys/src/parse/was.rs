//! `POST /qps/rest/3.0/search/was/webapp` and `…/was/finding/`: web apps and their findings.

use super::knowledge_base::cvss_score;
use super::{Fields, RecordKind};
use crate::error::RecordError;
use crate::records::{FindingCvss, Owasp, Tag, WebApp, WebAppFinding, WebAppRef};
use crate::xml::{Node, PageSpec, RecordPlace};

/// Record kind of web app search pages.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebAppKind;

impl RecordKind for WebAppKind {
    type Record = WebApp;
    super::tree_builder!();

    fn spec(&self) -> PageSpec {
        PageSpec {
            roots: &["ServiceResponse"],
            records: &[RecordPlace {
                parent: "data",
                name: "WebApp",
            }],
            id_element: "id",
            ..PageSpec::default()
        }
    }

    fn convert(&self, node: Node) -> Result<WebApp, RecordError> {
        let fields = Fields::of(&node);
        let tags_node = node.child("tags");
        let mut tags = Vec::new();
        for tag in tags_node
            .and_then(|tags| tags.child("list"))
            .into_iter()
            .flat_map(|list| list.children_named("Tag"))
        {
            let tag_fields = Fields::of(tag);
            tags.push(Tag {
                id: tag_fields.integer("id")?,
                name: tag_fields.text("name").unwrap_or_default(),
            });
        }
        Ok(WebApp {
            id: fields.id("id")?,
            name: fields.text("name"),
            url: fields.text("url"),
            owner_id: node
                .child("owner")
                .map(|owner| Fields::of(owner).integer("id"))
                .transpose()?
                .flatten(),
            tags,
            tag_count: tags_node
                .map(|tags| Fields::of(tags).integer("count"))
                .transpose()?
                .flatten(),
            created: fields.date("createdDate"),
            updated: fields.date("updatedDate"),
        })
    }

    fn key(record: &WebApp) -> u64 {
        record.id
    }
}

/// Record kind of web app finding search pages.
#[derive(Debug, Clone, Copy, Default)]
pub struct FindingKind;

impl RecordKind for FindingKind {
    type Record = WebAppFinding;
    super::tree_builder!();

    fn spec(&self) -> PageSpec {
        PageSpec {
            roots: &["ServiceResponse"],
            records: &[RecordPlace {
                parent: "data",
                name: "Finding",
            }],
            // Request and response transcripts can be megabytes and are not used.
            skip: vec!["resultList", "history"],
            id_element: "id",
            ..PageSpec::default()
        }
    }

    fn convert(&self, node: Node) -> Result<WebAppFinding, RecordError> {
        let fields = Fields::of(&node);
        Ok(WebAppFinding {
            id: fields.id("id")?,
            unique_id: fields.text("uniqueId"),
            qid: fields.integer("qid")?,
            name: fields.text("name"),
            finding_type: fields.text("type"),
            potential: fields.flag("potential"),
            source: fields.text("findingType"),
            severity: fields.integer("severity")?,
            status: fields.text("status"),
            url: fields.text("url"),
            param: fields.text("param"),
            times_detected: fields.integer("timesDetected")?,
            is_ignored: fields.flag("isIgnored"),
            first_detected: fields.date("firstDetectedDate"),
            last_detected: fields.date("lastDetectedDate"),
            last_tested: fields.date("lastTestedDate"),
            web_app: web_app_ref(node.child("webApp"))?,
            cwe: cwe(&node)?,
            owasp: owasp(&node),
            cvss_v3: node.child("cvssV3").map(finding_cvss),
        })
    }

    fn key(record: &WebAppFinding) -> u64 {
        record.id
    }
}

fn web_app_ref(node: Option<&Node>) -> Result<WebAppRef, RecordError> {
    let Some(node) = node else {
        return Ok(WebAppRef::default());
    };
    let fields = Fields::of(node);
    Ok(WebAppRef {
        id: fields.integer("id")?,
        name: fields.text("name"),
        url: fields.text("url"),
    })
}

fn cwe(node: &Node) -> Result<Vec<u32>, RecordError> {
    let mut ids = Vec::new();
    for entry in node
        .path(&["cwe", "list"])
        .into_iter()
        .flat_map(|list| list.children.iter())
    {
        let id = entry.text.parse().map_err(|_| RecordError {
            element: node.name.clone(),
            id: node.text_of("id").map(str::to_owned),
            reason: format!("CWE id is not an integer: {:?}", entry.text),
        })?;
        ids.push(id);
    }
    Ok(ids)
}

fn owasp(node: &Node) -> Vec<Owasp> {
    node.path(&["owasp", "list"])
        .into_iter()
        .flat_map(|list| list.children_named("OWASP"))
        .map(|entry| Owasp {
            name: entry.text_of("name").unwrap_or_default().to_owned(),
            code: entry.text_of("code").map(str::to_owned),
            url: entry.text_of("url").map(str::to_owned),
        })
        .collect()
}

fn finding_cvss(node: &Node) -> FindingCvss {
    FindingCvss {
        base: node.text_of("base").map(cvss_score),
        temporal: node.text_of("temporal").map(cvss_score),
        attack_vector: node.text_of("attackVector").map(str::to_owned),
    }
}
