//! `POST /api/2.0/fo/asset/host/vm/detection/`: hosts with their detections.

use std::collections::BTreeSet;

use super::{Fields, RecordKind};
use crate::error::RecordError;
use crate::records::{Detection, HostDetections, Tag};
use crate::xml::{Node, PageSpec, RecordPlace};

/// Which detection `RESULTS` to keep, and how much of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsOptions {
    /// Keep `RESULTS` at all; when false they are skipped while streaming.
    pub keep: bool,
    /// Longest result kept, in bytes; longer results are cut and flagged.
    pub max_bytes: usize,
    /// Keep results only for these QIDs; empty keeps them for every QID.
    pub qids: BTreeSet<u64>,
}

impl Default for ResultsOptions {
    fn default() -> Self {
        Self {
            keep: false,
            max_bytes: 300,
            qids: BTreeSet::new(),
        }
    }
}

/// Record kind of host detection pages.
#[derive(Debug, Clone, Default)]
pub struct DetectionKind {
    /// Results handling.
    pub results: ResultsOptions,
}

impl RecordKind for DetectionKind {
    type Record = HostDetections;

    fn spec(&self) -> PageSpec {
        let mut spec = PageSpec {
            roots: &["HOST_LIST_VM_DETECTION_OUTPUT"],
            records: &[RecordPlace {
                parent: "HOST_LIST",
                name: "HOST",
            }],
            id_element: "ID",
            ..PageSpec::default()
        };
        if self.results.keep {
            spec.text_limits.push(("RESULTS", self.results.max_bytes));
        } else {
            spec.skip.push("RESULTS");
        }
        spec
    }

    fn convert(&self, node: Node) -> Result<HostDetections, RecordError> {
        let fields = Fields::of(&node);
        let detections = node
            .child("DETECTION_LIST")
            .into_iter()
            .flat_map(|list| list.children_named("DETECTION"))
            .map(|detection| self.detection(detection))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|mut error| {
                // Name the host, because the caller reports errors per record.
                error.reason = format!(
                    "detection QID {}: {}",
                    error.id.as_deref().unwrap_or("unknown"),
                    error.reason
                );
                error.element = node.name.clone();
                error.id = node.text_of("ID").map(str::to_owned);
                error
            })?;
        Ok(HostDetections {
            host_id: fields.id("ID")?,
            ip: fields.text("IP"),
            ipv6: fields.text("IPV6"),
            tracking_method: fields.text("TRACKING_METHOD"),
            dns: fields.text("DNS"),
            netbios: fields.text("NETBIOS"),
            os: fields.text("OS"),
            qg_host_id: fields.text("QG_HOSTID"),
            ec2_instance_id: fields.text("EC2_INSTANCE_ID"),
            last_scan: fields.date("LAST_SCAN_DATETIME"),
            last_vm_scanned: fields.date("LAST_VM_SCANNED_DATE"),
            last_vm_scanned_duration_secs: fields.integer("LAST_VM_SCANNED_DURATION")?,
            last_vm_auth_scanned: fields.date("LAST_VM_AUTH_SCANNED_DATE"),
            last_pc_scanned: fields.date("LAST_PC_SCANNED_DATE"),
            tags: tags(&node)?,
            detections,
        })
    }

    fn key(record: &HostDetections) -> u64 {
        record.host_id
    }
}

impl DetectionKind {
    fn detection(&self, node: &Node) -> Result<Detection, RecordError> {
        let fields = Fields::of(node);
        let qid = fields.id("QID")?;
        let results = node.child("RESULTS").filter(|_| self.keeps_results(qid));
        Ok(Detection {
            qid,
            unique_vuln_id: fields.integer("UNIQUE_VULN_ID")?,
            detection_type: fields.text("TYPE").unwrap_or_default(),
            severity: fields.integer("SEVERITY")?,
            port: fields.integer("PORT")?,
            protocol: fields.text("PROTOCOL"),
            fqdn: fields.text("FQDN"),
            ssl: fields.flag("SSL"),
            instance: fields.text("INSTANCE"),
            results: results.map(|results| results.text.clone()),
            results_truncated: results.is_some_and(|results| results.truncated),
            status: fields.text("STATUS"),
            first_found: fields.date("FIRST_FOUND_DATETIME"),
            last_found: fields.date("LAST_FOUND_DATETIME"),
            times_found: fields.integer("TIMES_FOUND")?,
            last_test: fields.date("LAST_TEST_DATETIME"),
            last_update: fields.date("LAST_UPDATE_DATETIME"),
            last_fixed: fields.date("LAST_FIXED_DATETIME"),
            is_ignored: fields.flag("IS_IGNORED"),
            is_disabled: fields.flag("IS_DISABLED"),
            last_processed: fields.date("LAST_PROCESSED_DATETIME"),
        })
    }

    fn keeps_results(&self, qid: u64) -> bool {
        self.results.keep && (self.results.qids.is_empty() || self.results.qids.contains(&qid))
    }
}

fn tags(node: &Node) -> Result<Vec<Tag>, RecordError> {
    let mut result = Vec::new();
    for tag in node
        .child("TAGS")
        .into_iter()
        .flat_map(|tags| tags.children_named("TAG"))
    {
        let fields = Fields::of(tag);
        result.push(Tag {
            id: fields.integer("TAG_ID")?,
            name: fields.text("NAME").unwrap_or_default(),
        });
    }
    Ok(result)
}
