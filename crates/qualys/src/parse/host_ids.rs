//! `GET /api/2.0/fo/asset/host/` with `details=None`: host ids and id ranges.

use super::{Fields, RecordKind};
use crate::error::RecordError;
use crate::records::HostIdRange;
use crate::xml::{Node, PageSpec, RecordPlace};

/// Record kind of host list pages.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostIdKind;

impl RecordKind for HostIdKind {
    type Record = HostIdRange;
    super::tree_builder!();

    fn spec(&self) -> PageSpec {
        PageSpec {
            roots: &["HOST_LIST_OUTPUT"],
            records: &[
                RecordPlace {
                    parent: "ID_SET",
                    name: "ID",
                },
                RecordPlace {
                    parent: "ID_SET",
                    name: "ID_RANGE",
                },
                RecordPlace {
                    parent: "HOST_LIST",
                    name: "HOST",
                },
            ],
            id_element: "ID",
            ..PageSpec::default()
        }
    }

    fn convert(&self, node: Node) -> Result<HostIdRange, RecordError> {
        match node.name.as_str() {
            "HOST" => Fields::of(&node).id("ID").map(HostIdRange::single),
            "ID_RANGE" => parse_range(&node),
            _ => parse_id(&node.text)
                .map(HostIdRange::single)
                .ok_or_else(|| invalid(&node)),
        }
    }

    fn key(record: &HostIdRange) -> u64 {
        record.first
    }
}

fn parse_id(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// Reads `a-b`; a range whose end is below its start is invalid.
fn parse_range(node: &Node) -> Result<HostIdRange, RecordError> {
    let (first, last) = node.text.split_once('-').ok_or_else(|| invalid(node))?;
    let first = parse_id(first).ok_or_else(|| invalid(node))?;
    let last = parse_id(last).ok_or_else(|| invalid(node))?;
    if last < first {
        return Err(invalid(node));
    }
    Ok(HostIdRange { first, last })
}

fn invalid(node: &Node) -> RecordError {
    RecordError {
        element: node.name.clone(),
        id: Some(node.text.clone()),
        reason: "not a host id or id range".to_owned(),
    }
}
