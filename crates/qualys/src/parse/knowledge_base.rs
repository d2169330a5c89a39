//! `POST /api/2.0/fo/knowledge_base/vuln/`: vulnerabilities with CVEs, CVSS and threat intel.

use super::{Fields, RecordKind};
use crate::error::RecordError;
use crate::records::{Cvss, CvssScore, Discovery, Reference, Software, ThreatIntel, Vuln};
use crate::xml::{Node, PageSpec, RecordPlace};

/// Record kind of knowledge-base pages.
#[derive(Debug, Clone, Copy, Default)]
pub struct VulnKind;

impl RecordKind for VulnKind {
    type Record = Vuln;
    super::tree_builder!();

    fn spec(&self) -> PageSpec {
        PageSpec {
            roots: &["KNOWLEDGE_BASE_VULN_LIST_OUTPUT"],
            records: &[RecordPlace {
                parent: "VULN_LIST",
                name: "VULN",
            }],
            // Exploit and malware correlation lists are large and not used.
            skip: vec!["CORRELATION"],
            id_element: "QID",
            ..PageSpec::default()
        }
    }

    fn convert(&self, node: Node) -> Result<Vuln, RecordError> {
        let fields = Fields::of(&node);
        Ok(Vuln {
            qid: fields.id("QID")?,
            vuln_type: fields.text("VULN_TYPE"),
            severity: fields.integer("SEVERITY_LEVEL")?,
            title: fields.text("TITLE"),
            category: fields.text("CATEGORY"),
            published: fields.date("PUBLISHED_DATETIME"),
            last_modified: fields.date("LAST_SERVICE_MODIFICATION_DATETIME"),
            patchable: fields.flag("PATCHABLE"),
            pci_flag: fields.flag("PCI_FLAG"),
            cves: references(&node, "CVE_LIST", "CVE"),
            vendor_references: references(&node, "VENDOR_REFERENCE_LIST", "VENDOR_REFERENCE"),
            bugtraqs: references(&node, "BUGTRAQ_LIST", "BUGTRAQ"),
            software: software(&node),
            cvss_v2: node.child("CVSS").map(cvss),
            cvss_v3: node.child("CVSS_V3").map(cvss),
            threat_intel: threat_intel(&node),
            diagnosis: fields.text("DIAGNOSIS"),
            consequence: fields.text("CONSEQUENCE"),
            solution: fields.text("SOLUTION"),
            discovery: node.child("DISCOVERY").map(discovery),
        })
    }

    fn key(record: &Vuln) -> u64 {
        record.qid
    }
}

fn references(node: &Node, list: &str, element: &str) -> Vec<Reference> {
    node.child(list)
        .into_iter()
        .flat_map(|list| list.children_named(element))
        .filter_map(|reference| {
            Some(Reference {
                id: reference.text_of("ID")?.to_owned(),
                url: reference.text_of("URL").map(str::to_owned),
            })
        })
        .collect()
}

fn software(node: &Node) -> Vec<Software> {
    node.child("SOFTWARE_LIST")
        .into_iter()
        .flat_map(|list| list.children_named("SOFTWARE"))
        .filter_map(|software| {
            Some(Software {
                product: software.text_of("PRODUCT")?.to_owned(),
                vendor: software.text_of("VENDOR").map(str::to_owned),
            })
        })
        .collect()
}

fn threat_intel(node: &Node) -> Vec<ThreatIntel> {
    node.child("THREAT_INTELLIGENCE")
        .into_iter()
        .flat_map(|list| list.children_named("THREAT_INTEL"))
        .map(|intel| ThreatIntel {
            id: intel.attr("id").unwrap_or_default().to_owned(),
            text: intel.text.clone(),
        })
        .collect()
}

fn discovery(node: &Node) -> Discovery {
    let fields = Fields::of(node);
    Discovery {
        remote: fields.flag("REMOTE"),
        auth_types: node
            .child("AUTH_TYPE_LIST")
            .into_iter()
            .flat_map(|list| list.children_named("AUTH_TYPE"))
            .map(|auth| auth.text.clone())
            .filter(|auth| !auth.is_empty())
            .collect(),
        additional_info: fields.text("ADDITIONAL_INFO"),
    }
}

/// Reads a `CVSS` or `CVSS_V3` block. `BASE` may be `7.8`, `7.8 (AV:N/…)` or `-`.
fn cvss(node: &Node) -> Cvss {
    let base = node.text_of("BASE").map(cvss_score);
    let vector = node
        .text_of("VECTOR_STRING")
        .map(str::to_owned)
        .or_else(|| node.text_of("BASE").and_then(parenthesised));
    Cvss {
        base,
        temporal: node.text_of("TEMPORAL").map(cvss_score),
        vector,
    }
}

/// Parses the leading number of a CVSS score text, keeping the text.
pub(crate) fn cvss_score(text: &str) -> CvssScore {
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    CvssScore {
        value: text[..number_end]
            .parse()
            .ok()
            .filter(|value: &f64| value.is_finite()),
        text: text.to_owned(),
    }
}

fn parenthesised(text: &str) -> Option<String> {
    let open = text.find('(')?;
    let close = text[open..].find(')')? + open;
    let inner = text[open + 1..close].trim();
    (!inner.is_empty()).then(|| inner.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss_score_forms() {
        assert_eq!(cvss_score("7.8").value, Some(7.8));
        assert_eq!(
            cvss_score("7.8 (AV:N/AC:L/Au:N/C:C/I:C/A:C)").value,
            Some(7.8)
        );
        assert_eq!(cvss_score("-").value, None);
        assert_eq!(cvss_score("-").text, "-");
        assert_eq!(cvss_score("").value, None);
    }

    #[test]
    fn vector_from_base_parentheses() {
        assert_eq!(
            parenthesised("7.8 (AV:N/AC:L)"),
            Some("AV:N/AC:L".to_owned())
        );
        assert_eq!(parenthesised("7.8"), None);
    }
}
