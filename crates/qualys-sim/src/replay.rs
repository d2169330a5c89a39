//! Replay of recorded Qualys bodies: the records of every fixture are indexed by id at start,
//! then served through the same envelopes, filters and paging as generated data.
//!
//! The recorded files form one subscription: the host list is the union of the hosts in the
//! detection and asset recordings, so a sync walks from host ids to assets, detections and QIDs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use crate::error::SimError;
use crate::fault::Endpoint;
use crate::model::normalize_ranges;
use crate::params::{Criterion, ParamError, Params, ServiceRequest};
use crate::render::qps::{QpsError, id_list, page_bounds, take_page};
use crate::render::{
    Ctx, QpsPage, close_v2_report, elem_u64, end, open_service_response, open_v2_report, push,
    qps_page_footer, qps_page_header, start, warning_1980,
};
use crate::render::{assets, hosts, was};
use crate::stream::Producer;

const DETECTION_FILES: [&str; 2] = [
    "vm-host-detection-list-with-results.xml",
    "vm-host-detection-list-fixture.xml",
];
// The `list` fixtures carry the only recorded Azure, GCP and agent assets.
const ASSET_FILES: [&str; 7] = [
    "am-hostasset-search-paged-01.xml",
    "am-hostasset-search-paged-02.xml",
    "am-hostasset-search-ec2.xml",
    "am-hostasset-list-agent-fixture.xml",
    "am-hostasset-list-azure-fixture.xml",
    "am-hostasset-list-ec2-fixture.xml",
    "am-hostasset-list-gcp-fixture.xml",
];
const KB_FILES: [&str; 2] = ["kb-vuln-list-many.xml", "kb-vuln-list.xml"];
const WEB_APP_FILES: [&str; 1] = ["was-webapp-search.xml"];
const FINDING_FILES: [&str; 1] = ["was-finding-search.xml"];

/// A recorded record: its XML text and, for assets and findings, the id it belongs to.
#[derive(Debug, Clone)]
struct Record {
    xml: Arc<str>,
    owner: u64,
}

/// Recorded records indexed by id.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    pub now_secs: i64,
    pub portal_version: Vec<u8>,
    host_ids: BTreeSet<u64>,
    hosts: BTreeMap<u64, Record>,
    assets: BTreeMap<u64, Record>,
    vulns: BTreeMap<u64, Record>,
    web_apps: BTreeMap<u64, Record>,
    findings: BTreeMap<u64, Record>,
}

impl Replay {
    /// Reads and indexes the fixtures under `dir`; missing files leave their endpoint empty.
    pub(crate) fn load(dir: &Path) -> Result<Self, SimError> {
        let read = |name: &str| -> Result<Option<String>, SimError> {
            let path = dir.join(name);
            match std::fs::read(&path) {
                Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound && dir.is_dir() => {
                    Ok(None)
                }
                Err(source) => Err(SimError::FixtureRead { path, source }),
            }
        };
        let mut replay = Replay {
            portal_version: read("portal-version.xml")?.unwrap_or_default().into_bytes(),
            ..Replay::default()
        };
        for name in DETECTION_FILES {
            for block in blocks(&read(name)?.unwrap_or_default(), "HOST") {
                if let Some(id) = first_number(&block, "ID") {
                    replay.hosts.entry(id).or_insert(Record {
                        xml: block.into(),
                        owner: id,
                    });
                }
            }
        }
        for name in ASSET_FILES {
            for block in blocks(&read(name)?.unwrap_or_default(), "HostAsset") {
                if let (Some(id), Some(host_id)) = (
                    first_number(&block, "id"),
                    first_number(&block, "qwebHostId"),
                ) {
                    replay.assets.entry(id).or_insert(Record {
                        xml: block.into(),
                        owner: host_id,
                    });
                }
            }
        }
        for name in KB_FILES {
            for block in blocks(&read(name)?.unwrap_or_default(), "VULN") {
                if let Some(qid) = first_number(&block, "QID") {
                    replay.vulns.entry(qid).or_insert(Record {
                        xml: block.into(),
                        owner: qid,
                    });
                }
            }
        }
        for name in WEB_APP_FILES {
            for block in blocks(&read(name)?.unwrap_or_default(), "WebApp") {
                if let Some(id) = first_number(&block, "id") {
                    replay.web_apps.entry(id).or_insert(Record {
                        xml: block.into(),
                        owner: id,
                    });
                }
            }
        }
        for name in FINDING_FILES {
            for block in blocks(&read(name)?.unwrap_or_default(), "Finding") {
                let web_app = block
                    .find("<webApp>")
                    .and_then(|at| first_number(&block[at..], "id"));
                if let (Some(id), Some(web_app)) = (first_number(&block, "id"), web_app) {
                    replay.findings.entry(id).or_insert(Record {
                        xml: block.into(),
                        owner: web_app,
                    });
                }
            }
        }
        replay.host_ids = replay
            .hosts
            .keys()
            .copied()
            .chain(replay.assets.values().map(|r| r.owner))
            .collect();
        let kb = read("kb-vuln-list-many.xml")?.unwrap_or_default();
        replay.now_secs = element(&kb, "DATETIME")
            .and_then(crate::time::parse_timestamp)
            .unwrap_or(0);
        Ok(replay)
    }

    pub(crate) fn api_v2(
        replay: Arc<Self>,
        endpoint: Endpoint,
        ctx: Ctx,
        params: Params,
    ) -> Result<Producer, ParamError> {
        params.require_action_list()?;
        let filter = hosts::host_filter(&params)?;
        let ranges =
            |ids: &Option<Vec<(u64, u64)>>| ids.clone().unwrap_or_else(|| vec![(0, u64::MAX)]);
        let (lo, hi) = (
            filter.id_min.unwrap_or(0),
            filter.id_max.unwrap_or(u64::MAX),
        );
        let id_ranges = ranges(&filter.ids);
        let in_range = move |id: &u64| {
            (lo..=hi).contains(id) && id_ranges.iter().any(|(a, b)| (a..=b).contains(&id))
        };
        match endpoint {
            Endpoint::HostList => {
                let ids: Vec<u64> = replay.host_ids.iter().copied().filter(in_range).collect();
                let limit = hosts::truncation_limit(&params)?;
                let id_set = params.get("details") == Some("None");
                Ok(Box::new(move |sink| {
                    let out = sink.out();
                    open_v2_report(
                        out,
                        &ctx.base_url,
                        "HOST_LIST_OUTPUT",
                        "/api/2.0/fo/asset/host/dtd/list/output.dtd",
                        ctx.now_secs,
                    );
                    let (page, next) = split_page(&ids, limit);
                    if !page.is_empty() {
                        start(out, 4, if id_set { "ID_SET" } else { "HOST_LIST" });
                        for id in page {
                            if id_set {
                                elem_u64(out, 6, "ID", *id);
                            } else {
                                start(out, 6, "HOST");
                                elem_u64(out, 8, "ID", *id);
                                end(out, 6, "HOST");
                            }
                        }
                        end(out, 4, if id_set { "ID_SET" } else { "HOST_LIST" });
                    }
                    if let Some(next) = next {
                        let url = format!(
                            "{}{}?{}",
                            ctx.base_url,
                            hosts::PATH,
                            params.query_with("id_min", &next.to_string())
                        );
                        warning_1980(out, limit, &url);
                    }
                    close_v2_report(out, "HOST_LIST_OUTPUT", false);
                    Ok(())
                }))
            }
            Endpoint::HostDetection => {
                // NOTE: replay honours ids, id_min, id_max and truncation_limit only; the
                // recorded detections are served as recorded, whatever the other filters.
                let records: Vec<Record> = replay
                    .hosts
                    .iter()
                    .filter(|(id, _)| in_range(id))
                    .map(|(_, r)| r.clone())
                    .collect();
                let limit = hosts::truncation_limit(&params)?;
                Ok(Box::new(move |sink| {
                    open_v2_report(
                        sink.out(),
                        &ctx.base_url,
                        "HOST_LIST_VM_DETECTION_OUTPUT",
                        "/api/2.0/fo/asset/host/vm/detection/host_list_vm_detection_output.dtd",
                        ctx.now_secs,
                    );
                    let (page, next) = split_page(&records, limit);
                    write_records(sink.out(), "HOST_LIST", page);
                    if let Some(next) = next {
                        let url = format!(
                            "{}/api/2.0/fo/asset/host/vm/detection/?{}",
                            ctx.base_url,
                            params.query_with("id_min", &next.owner.to_string())
                        );
                        warning_1980(sink.out(), limit, &url);
                    }
                    close_v2_report(sink.out(), "HOST_LIST_VM_DETECTION_OUTPUT", false);
                    Ok(())
                }))
            }
            _ => {
                let qids = params
                    .ids("ids")?
                    .map(normalize_ranges)
                    .unwrap_or_else(|| vec![(0, u64::MAX)]);
                let records: Vec<Record> = replay
                    .vulns
                    .iter()
                    .filter(|(qid, _)| qids.iter().any(|(a, b)| (a..=b).contains(qid)))
                    .map(|(_, r)| r.clone())
                    .collect();
                Ok(Box::new(move |sink| {
                    let out = sink.out();
                    open_v2_report(
                        out,
                        &ctx.base_url,
                        "KNOWLEDGE_BASE_VULN_LIST_OUTPUT",
                        "/api/2.0/fo/knowledge_base/vuln/knowledge_base_vuln_list_output.dtd",
                        ctx.now_secs,
                    );
                    push(
                        out,
                        "\n<!-- keep-alive for KNOWLEDGE_BASE_VULN_LIST_OUTPUT -->",
                    );
                    write_records(out, "VULN_LIST", &records);
                    close_v2_report(out, "KNOWLEDGE_BASE_VULN_LIST_OUTPUT", true);
                    Ok(())
                }))
            }
        }
    }

    pub(crate) fn qps(
        replay: Arc<Self>,
        endpoint: Endpoint,
        ctx: Ctx,
        request: ServiceRequest,
    ) -> Result<Producer, QpsError> {
        let (offset, limit) = page_bounds(&request)?;
        let (map, xsd, owner_field, id_field) = match endpoint {
            Endpoint::WebApp => (&replay.web_apps, was::WEB_APP_XSD, "id", "id"),
            Endpoint::WebAppFinding => (&replay.findings, was::FINDING_XSD, "webApp.id", "id"),
            _ => (&replay.assets, assets::XSD, "qwebHostId", "id"),
        };
        let mut owners: Option<Vec<u64>> = None;
        let mut above = None;
        for criterion in &request.criteria {
            if criterion.field == owner_field && criterion.operator != "GREATER" {
                owners = Some(id_list(criterion, &["EQUALS", "IN"])?);
            } else if criterion.field == id_field {
                above = id_list(criterion, &["GREATER"])?.into_iter().max();
            } else {
                ignore_criterion(criterion);
            }
        }
        let records = map
            .iter()
            .filter(|(id, record)| {
                above.is_none_or(|a| **id > a)
                    && owners.as_ref().is_none_or(|o| o.contains(&record.owner))
            })
            .map(|(id, record)| (*id, record.clone()));
        let (page, has_more) = take_page(records, offset, limit);
        let header = QpsPage {
            count: page.len() as u64,
            has_more,
            last_id: page.last().map(|(id, _)| *id),
            empty_data: false,
        };
        Ok(Box::new(move |sink| {
            let out = sink.out();
            open_service_response(out, &ctx.base_url, xsd);
            qps_page_header(out, &header);
            for (_, record) in &page {
                push(out, "\n    ");
                push(out, &record.xml);
            }
            qps_page_footer(out, &header);
            Ok(())
        }))
    }
}

/// Criteria the replay does not model, such as `isScanned` or `lastDetectedDate`, match every
/// recorded record.
fn ignore_criterion(criterion: &Criterion) {
    tracing::debug!(field = %criterion.field, "replay ignores criterion");
}

/// Splits off a page of `limit` items (0 means all) and the first item of the next page.
fn split_page<T>(items: &[T], limit: u64) -> (&[T], Option<&T>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if limit == 0 || items.len() <= limit {
        (items, None)
    } else {
        (&items[..limit], items.get(limit))
    }
}

fn write_records(out: &mut Vec<u8>, list: &str, records: &[Record]) {
    if records.is_empty() {
        return;
    }
    start(out, 4, list);
    for record in records {
        push(out, "\n      ");
        push(out, &record.xml);
    }
    end(out, 4, list);
}

/// Every `<tag>…</tag>` block of `text`; the tag name must be followed by `>` so that
/// `<HostAssetSoftware>` is not taken for `<HostAsset>`.
fn blocks(text: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(&open) {
        let Some(end) = rest[at..].find(&close) else {
            break;
        };
        let end = at + end + close.len();
        found.push(rest[at..end].to_owned());
        rest = &rest[end..];
    }
    found
}

fn element<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find('<')? + start;
    Some(text[start..end].trim())
}

fn first_number(text: &str, tag: &str) -> Option<u64> {
    element(text, tag)?.parse().ok()
}
