//! `GET /qps/rest/portal/version`: the `data` element is the one record.

use std::collections::BTreeMap;

use super::RecordKind;
use crate::error::RecordError;
use crate::records::PortalVersion;
use crate::xml::{Node, PageSpec, RecordPlace};

/// Record kind of the portal version body.
#[derive(Debug, Clone, Copy, Default)]
pub struct PortalKind;

impl RecordKind for PortalKind {
    type Record = PortalVersion;
    super::tree_builder!();

    fn spec(&self) -> PageSpec {
        PageSpec {
            roots: &["ServiceResponse"],
            records: &[RecordPlace {
                parent: "ServiceResponse",
                name: "data",
            }],
            id_element: "count",
            ..PageSpec::default()
        }
    }

    fn convert(&self, node: Node) -> Result<PortalVersion, RecordError> {
        let versions = children_map(node.child("Portal-Version"));
        let qweb_versions = children_map(node.child("QWeb-Version"));
        // Pods from 2022 on dropped VM-VERSION and report QWEB__VM-VERSION instead.
        let vm_version = versions
            .get("VM-VERSION")
            .or_else(|| versions.get("QWEB__VM-VERSION"))
            .cloned();
        let was_version = versions.get("WAS-VERSION").cloned();
        Ok(PortalVersion {
            versions,
            qweb_versions,
            vm_version,
            was_version,
        })
    }

    fn key(_record: &PortalVersion) -> u64 {
        0
    }
}

fn children_map(node: Option<&Node>) -> BTreeMap<String, String> {
    node.map(|node| {
        node.children
            .iter()
            .map(|child| (child.name.clone(), child.text.clone()))
            .collect()
    })
    .unwrap_or_default()
}
