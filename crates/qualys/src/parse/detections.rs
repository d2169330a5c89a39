//! `POST /api/2.0/fo/asset/host/vm/detection/`: hosts with their detections.
//!
//! Detection pages are the largest bodies qgraph reads, so their records are
//! filled straight from the XML events. Element names are matched once when
//! they open, text goes into one reused buffer, and only the strings the
//! record keeps are allocated. The rules match the element-tree parsers: the
//! first occurrence of a field wins, text is trimmed, empty text is absent,
//! and the first invalid field names the record in its error.

use std::collections::BTreeSet;

use quick_xml::events::BytesStart;

use super::{RecordKind, parse_flag};
use crate::dates::parse_iso8601;
use crate::error::RecordError;
use crate::records::{Detection, HostDetections, Tag};
use crate::xml::{
    PageSpec, RecordBuilder, RecordPlace, check_text, floor_char_boundary, is_blank,
    read_attributes,
};

/// Largest `HOST` parsed from one held-back slice, in bytes. The benchmark's
/// host, with 20 detections and their `RESULTS`, is about 22 KB. A larger
/// host is parsed event by event, with `RESULTS` cut while streaming, so each
/// page parser keeps at most this much plus one read chunk.
const MAX_HELD_HOST_BYTES: usize = 4 * 1024 * 1024;

/// Which detection `RESULTS` to keep, and how much of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsOptions {
    /// Keep `RESULTS` at all; when false they are skipped while streaming.
    pub keep: bool,
    /// Maximum length of a kept result, in bytes; longer results are cut and flagged.
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
    type Builder = DetectionBuilder;

    fn spec(&self) -> PageSpec {
        let mut spec = PageSpec {
            roots: &["HOST_LIST_VM_DETECTION_OUTPUT"],
            records: &[RecordPlace {
                parent: "HOST_LIST",
                name: "HOST",
            }],
            id_element: "ID",
            max_record_bytes: Some(MAX_HELD_HOST_BYTES),
            ..PageSpec::default()
        };
        if self.results.keep {
            spec.text_limits.push(("RESULTS", self.results.max_bytes));
        } else {
            spec.skip.push("RESULTS");
        }
        spec
    }

    fn builder(&self, _spec: &PageSpec) -> DetectionBuilder {
        DetectionBuilder::new(self.results.clone())
    }

    fn convert(&self, host: HostDetections) -> Result<HostDetections, RecordError> {
        Ok(host)
    }

    fn key(record: &HostDetections) -> u64 {
        record.host_id
    }
}

/// Leaf elements kept from a `HOST`, a `DETECTION` or a `TAG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    HostId,
    Ip,
    Ipv6,
    TrackingMethod,
    Dns,
    Netbios,
    Os,
    QgHostId,
    Ec2InstanceId,
    LastScan,
    LastVmScanned,
    LastVmScannedDuration,
    LastVmAuthScanned,
    LastPcScanned,
    Qid,
    UniqueVulnId,
    Type,
    Severity,
    Port,
    Protocol,
    Fqdn,
    Ssl,
    Instance,
    Results,
    Status,
    FirstFound,
    LastFound,
    TimesFound,
    LastTest,
    LastUpdate,
    LastFixed,
    IsIgnored,
    IsDisabled,
    LastProcessed,
    TagId,
    TagName,
}

impl Field {
    /// Bit of this field in a seen-set, so that the first occurrence wins.
    fn bit(self) -> u64 {
        1 << (self as u32)
    }

    fn of_host(name: &str) -> Option<Self> {
        Some(match name {
            "ID" => Self::HostId,
            "IP" => Self::Ip,
            "IPV6" => Self::Ipv6,
            "TRACKING_METHOD" => Self::TrackingMethod,
            "DNS" => Self::Dns,
            "NETBIOS" => Self::Netbios,
            "OS" => Self::Os,
            "QG_HOSTID" => Self::QgHostId,
            "EC2_INSTANCE_ID" => Self::Ec2InstanceId,
            "LAST_SCAN_DATETIME" => Self::LastScan,
            "LAST_VM_SCANNED_DATE" => Self::LastVmScanned,
            "LAST_VM_SCANNED_DURATION" => Self::LastVmScannedDuration,
            "LAST_VM_AUTH_SCANNED_DATE" => Self::LastVmAuthScanned,
            "LAST_PC_SCANNED_DATE" => Self::LastPcScanned,
            _ => return None,
        })
    }

    fn of_detection(name: &str) -> Option<Self> {
        Some(match name {
            "QID" => Self::Qid,
            "UNIQUE_VULN_ID" => Self::UniqueVulnId,
            "TYPE" => Self::Type,
            "SEVERITY" => Self::Severity,
            "PORT" => Self::Port,
            "PROTOCOL" => Self::Protocol,
            "FQDN" => Self::Fqdn,
            "SSL" => Self::Ssl,
            "INSTANCE" => Self::Instance,
            "RESULTS" => Self::Results,
            "STATUS" => Self::Status,
            "FIRST_FOUND_DATETIME" => Self::FirstFound,
            "LAST_FOUND_DATETIME" => Self::LastFound,
            "TIMES_FOUND" => Self::TimesFound,
            "LAST_TEST_DATETIME" => Self::LastTest,
            "LAST_UPDATE_DATETIME" => Self::LastUpdate,
            "LAST_FIXED_DATETIME" => Self::LastFixed,
            "IS_IGNORED" => Self::IsIgnored,
            "IS_DISABLED" => Self::IsDisabled,
            "LAST_PROCESSED_DATETIME" => Self::LastProcessed,
            _ => return None,
        })
    }

    fn of_tag(name: &str) -> Option<Self> {
        match name {
            "TAG_ID" => Some(Self::TagId),
            "NAME" => Some(Self::TagName),
            _ => None,
        }
    }

    /// Rank of a detection field's error: the earlier field is reported, as `Detection` lists them.
    fn error_rank(self) -> u8 {
        match self {
            Self::Qid => 0,
            Self::UniqueVulnId => 1,
            Self::Severity => 2,
            Self::Port => 3,
            _ => 4,
        }
    }
}

/// Kind of an open element inside a `HOST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Host,
    DetectionList,
    Detection,
    Tags,
    Tag,
    Field(Field),
    /// A skipped `RESULTS` and everything inside it.
    Skipped,
    /// Any other element: its text is only checked.
    Other,
}

/// Fills [`HostDetections`] straight from the events of one `HOST`.
#[derive(Debug)]
pub struct DetectionBuilder {
    results: ResultsOptions,
    /// Open elements, the `HOST` first.
    open: Vec<Open>,
    host: HostDetections,
    detection: Detection,
    tag: Tag,
    /// Host fields, `DETECTION_LIST` and `TAGS` already seen.
    host_seen: u64,
    detection_list_seen: bool,
    tags_seen: bool,
    /// Fields of the open `DETECTION` or `TAG` already seen.
    item_seen: u64,
    /// Text of the open field, reused for every field.
    text: String,
    text_truncated: bool,
    /// True once an element opened inside the open field, because blank text after a child is not field text.
    field_has_children: bool,
    /// Trimmed `ID` text of the host, naming it in errors.
    host_id_text: String,
    /// Trimmed `QID` text of the open detection, naming it in errors.
    qid_text: String,
    /// First invalid field of the open detection, with its rank.
    detection_error: Option<(u8, String)>,
    /// First invalid detection of the host, already worded.
    host_detection_error: Option<String>,
    duration_error: Option<String>,
    tag_error: Option<String>,
    /// Detections of the previous host, to size the next host's list.
    last_detection_count: usize,
}

impl DetectionBuilder {
    fn new(results: ResultsOptions) -> Self {
        Self {
            results,
            open: Vec::with_capacity(8),
            host: HostDetections::default(),
            detection: Detection::default(),
            tag: Tag::default(),
            host_seen: 0,
            detection_list_seen: false,
            tags_seen: false,
            item_seen: 0,
            text: String::with_capacity(1024),
            text_truncated: false,
            field_has_children: false,
            host_id_text: String::new(),
            qid_text: String::new(),
            detection_error: None,
            host_detection_error: None,
            duration_error: None,
            tag_error: None,
            last_detection_count: 0,
        }
    }

    fn start_host(&mut self) {
        self.host = HostDetections {
            detections: Vec::with_capacity(self.last_detection_count),
            ..HostDetections::default()
        };
        self.host_seen = 0;
        self.detection_list_seen = false;
        self.tags_seen = false;
        self.host_id_text.clear();
        self.host_detection_error = None;
        self.duration_error = None;
        self.tag_error = None;
    }

    /// Classifies an element opening inside `parent`.
    fn classify(&mut self, parent: Open, name: &str) -> Open {
        if !self.results.keep && name == "RESULTS" {
            return Open::Skipped;
        }
        match parent {
            Open::Host => match name {
                "DETECTION_LIST" if !self.detection_list_seen => {
                    self.detection_list_seen = true;
                    Open::DetectionList
                }
                "TAGS" if !self.tags_seen => {
                    self.tags_seen = true;
                    Open::Tags
                }
                _ => first(Field::of_host(name), &mut self.host_seen),
            },
            Open::DetectionList if name == "DETECTION" => {
                self.detection = Detection::default();
                self.qid_text.clear();
                self.detection_error = None;
                self.item_seen = 0;
                Open::Detection
            }
            Open::Detection => first(Field::of_detection(name), &mut self.item_seen),
            Open::Tags if name == "TAG" => {
                self.tag = Tag::default();
                self.item_seen = 0;
                Open::Tag
            }
            Open::Tag => first(Field::of_tag(name), &mut self.item_seen),
            _ => Open::Other,
        }
    }

    fn append_field_text(&mut self, text: &str, problem: &mut Option<String>) {
        let blank_ignored = self.text.is_empty() || self.field_has_children;
        if blank_ignored && is_blank(text) {
            return;
        }
        check_text(text, problem);
        let limit = Some(self.results.max_bytes)
            .filter(|_| self.open.last() == Some(&Open::Field(Field::Results)));
        match limit {
            Some(limit) if self.text.len() + text.len() > limit => {
                let room = limit.saturating_sub(self.text.len());
                let cut = floor_char_boundary(text, room);
                self.text.push_str(&text[..cut]);
                self.text_truncated = true;
            }
            _ => self.text.push_str(text),
        }
    }

    /// Stores the text of a closed field in the host, detection or tag it belongs to.
    fn store(&mut self, field: Field) {
        let text = self.text.trim();
        let host = &mut self.host;
        let detection = &mut self.detection;
        match field {
            Field::HostId => text.clone_into(&mut self.host_id_text),
            Field::Ip => host.ip = owned(text),
            Field::Ipv6 => host.ipv6 = owned(text),
            Field::TrackingMethod => host.tracking_method = owned(text),
            Field::Dns => host.dns = owned(text),
            Field::Netbios => host.netbios = owned(text),
            Field::Os => host.os = owned(text),
            Field::QgHostId => host.qg_host_id = owned(text),
            Field::Ec2InstanceId => host.ec2_instance_id = owned(text),
            Field::LastScan => host.last_scan = date(text),
            Field::LastVmScanned => host.last_vm_scanned = date(text),
            Field::LastVmScannedDuration => match integer(text, "LAST_VM_SCANNED_DURATION") {
                Ok(value) => host.last_vm_scanned_duration_secs = value,
                Err(reason) => self.duration_error = Some(reason),
            },
            Field::LastVmAuthScanned => host.last_vm_auth_scanned = date(text),
            Field::LastPcScanned => host.last_pc_scanned = date(text),
            Field::Qid => text.clone_into(&mut self.qid_text),
            Field::UniqueVulnId => {
                detection.unique_vuln_id = note(
                    integer(text, "UNIQUE_VULN_ID"),
                    field,
                    &mut self.detection_error,
                );
            }
            Field::Severity => {
                detection.severity =
                    note(integer(text, "SEVERITY"), field, &mut self.detection_error);
            }
            Field::Port => {
                detection.port = note(integer(text, "PORT"), field, &mut self.detection_error)
            }
            Field::TimesFound => {
                detection.times_found = note(
                    integer(text, "TIMES_FOUND"),
                    field,
                    &mut self.detection_error,
                );
            }
            Field::Type => detection.detection_type = text.to_owned(),
            Field::Protocol => detection.protocol = owned(text),
            Field::Fqdn => detection.fqdn = owned(text),
            Field::Ssl => detection.ssl = flag(text),
            Field::Instance => detection.instance = owned(text),
            Field::Results => {
                // An empty RESULTS is kept as an empty text, unlike other fields.
                detection.results = Some(text.to_owned());
                detection.results_truncated = self.text_truncated;
            }
            Field::Status => detection.status = owned(text),
            Field::FirstFound => detection.first_found = date(text),
            Field::LastFound => detection.last_found = date(text),
            Field::LastTest => detection.last_test = date(text),
            Field::LastUpdate => detection.last_update = date(text),
            Field::LastFixed => detection.last_fixed = date(text),
            Field::IsIgnored => detection.is_ignored = flag(text),
            Field::IsDisabled => detection.is_disabled = flag(text),
            Field::LastProcessed => detection.last_processed = date(text),
            Field::TagId => match integer(text, "TAG_ID") {
                Ok(value) => self.tag.id = value,
                Err(reason) => {
                    self.tag_error.get_or_insert(reason);
                }
            },
            Field::TagName => text.clone_into(&mut self.tag.name),
        }
    }

    fn end_detection(&mut self) {
        let mut detection = std::mem::take(&mut self.detection);
        let qid = if self.qid_text.is_empty() {
            Err("missing <QID>".to_owned())
        } else {
            self.qid_text
                .parse::<u64>()
                .map_err(|_| format!("<QID> is not an integer: {:?}", self.qid_text))
        };
        match qid {
            Ok(qid) => detection.qid = qid,
            Err(reason) => self.detection_error = Some((0, reason)),
        }
        if let Some((_, reason)) = self.detection_error.take() {
            if self.host_detection_error.is_none() {
                let qid = if self.qid_text.is_empty() {
                    "unknown"
                } else {
                    &self.qid_text
                };
                self.host_detection_error = Some(format!("detection QID {qid}: {reason}"));
            }
            return;
        }
        if !self.keeps_results(detection.qid) {
            detection.results = None;
            detection.results_truncated = false;
        }
        self.host.detections.push(detection);
    }

    fn keeps_results(&self, qid: u64) -> bool {
        self.results.keep && (self.results.qids.is_empty() || self.results.qids.contains(&qid))
    }

    fn host_error(&self, reason: String) -> RecordError {
        RecordError {
            element: "HOST".to_owned(),
            id: Some(self.host_id_text.clone()).filter(|id| !id.is_empty()),
            reason,
        }
    }

    /// Checks the record in the order the fields are listed and returns the first error.
    fn record_error(&mut self, problem: Option<String>) -> Option<RecordError> {
        if let Some(reason) = problem.or_else(|| self.host_detection_error.take()) {
            return Some(self.host_error(reason));
        }
        let host_id = if self.host_id_text.is_empty() {
            Err("missing <ID>".to_owned())
        } else {
            self.host_id_text
                .parse::<u64>()
                .map_err(|_| format!("<ID> is not an integer: {:?}", self.host_id_text))
        };
        match host_id {
            Ok(id) => self.host.host_id = id,
            Err(reason) => return Some(self.host_error(reason)),
        }
        if let Some(reason) = self.duration_error.take() {
            return Some(self.host_error(reason));
        }
        // A tag error names the tag, as the tag list is read on its own.
        self.tag_error.take().map(|reason| RecordError {
            element: "TAG".to_owned(),
            id: None,
            reason,
        })
    }
}

impl RecordBuilder for DetectionBuilder {
    type Output = HostDetections;

    fn open(&mut self, name: &str, start: &BytesStart<'_>, problem: &mut Option<String>) {
        let Some(&parent) = self.open.last() else {
            self.start_host();
            self.open.push(Open::Host);
            check_attributes(name, start, problem);
            return;
        };
        if parent == Open::Skipped {
            self.open.push(Open::Skipped);
            return;
        }
        if matches!(parent, Open::Field(_)) {
            self.field_has_children = true;
        }
        let element = self.classify(parent, name);
        if element != Open::Skipped {
            check_attributes(name, start, problem);
        }
        if let Open::Field(_) = element {
            self.text.clear();
            self.text_truncated = false;
            self.field_has_children = false;
        }
        self.open.push(element);
    }

    fn close(&mut self) {
        match self.open.pop() {
            Some(Open::Field(field)) => self.store(field),
            Some(Open::Detection) => self.end_detection(),
            Some(Open::Tag) => {
                let tag = std::mem::take(&mut self.tag);
                self.host.tags.push(tag);
            }
            _ => {}
        }
    }

    fn text(&mut self, text: &str, problem: &mut Option<String>) {
        match self.open.last() {
            Some(Open::Field(_)) => self.append_field_text(text, problem),
            Some(Open::Skipped) | None => {}
            Some(_) => {
                if !is_blank(text) {
                    check_text(text, problem);
                }
            }
        }
    }

    fn finish(&mut self, problem: Option<String>) -> Result<HostDetections, RecordError> {
        self.open.clear();
        if let Some(error) = self.record_error(problem) {
            return Err(error);
        }
        self.last_detection_count = self.host.detections.len();
        Ok(std::mem::take(&mut self.host))
    }
}

/// Marks `field` seen in `seen` and returns it, or returns [`Open::Other`] for a repeat or an unknown name.
fn first(field: Option<Field>, seen: &mut u64) -> Open {
    match field {
        Some(field) if *seen & field.bit() == 0 => {
            *seen |= field.bit();
            Open::Field(field)
        }
        _ => Open::Other,
    }
}

/// Checks attributes only when there are some, because detection elements carry none.
fn check_attributes(name: &str, start: &BytesStart<'_>, problem: &mut Option<String>) {
    if !is_blank(start.attributes_raw()) {
        read_attributes(name, start, problem);
    }
}

fn owned(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

fn date(text: &str) -> Option<crate::records::EpochMillis> {
    if text.is_empty() {
        return None;
    }
    parse_iso8601(text)
}

fn flag(text: &str) -> Option<bool> {
    parse_flag(text)
}

/// Optional integer; present but non-numeric is an error, because these are ids or counts.
fn integer<T: std::str::FromStr>(text: &str, name: &str) -> Result<Option<T>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| format!("<{name}> is not an integer: {text:?}"))
}

/// Returns the value, or `None` after noting the error when it ranks before the detection's current one.
fn note<T>(
    value: Result<Option<T>, String>,
    field: Field,
    error: &mut Option<(u8, String)>,
) -> Option<T> {
    match value {
        Ok(value) => value,
        Err(reason) => {
            let rank = field.error_rank();
            if error.as_ref().is_none_or(|(current, _)| rank < *current) {
                *error = Some((rank, reason));
            }
            None
        }
    }
}

#[cfg(test)]
mod tests;
