//! WAS searches: `POST /qps/rest/3.0/search/was/webapp` and `/search/was/finding/`.

use std::sync::Arc;

use super::qps::{QpsError, boolean, check_operator, date, id_list, page_bounds, take_page};
use super::{
    Ctx, QpsPage, elem_bool, elem_cdata, elem_text, elem_time, elem_u64, end,
    open_service_response, qps_page_footer, qps_page_header, start,
};
use crate::model::Subscription;
use crate::model::was::{Finding, WebApp};
use crate::params::{Criterion, ServiceRequest};
use crate::stream::Producer;

pub(crate) const WEB_APP_XSD: &str = "/qps/xsd/3.0/was/webapp.xsd";
pub(crate) const FINDING_XSD: &str = "/qps/xsd/3.0/was/finding.xsd";

/// Web-app criteria the simulator honours.
#[derive(Debug, Default)]
struct WebAppFilter {
    ids: Option<Vec<u64>>,
    id_above: Option<u64>,
    id_below: Option<u64>,
    scanned: Option<bool>,
    last_scan_after: Option<i64>,
    last_scan_before: Option<i64>,
    name_contains: Option<String>,
}

impl WebAppFilter {
    fn parse(criteria: &[Criterion]) -> Result<Self, QpsError> {
        let mut filter = Self::default();
        for c in criteria {
            match (c.field.as_str(), c.operator.as_str()) {
                ("id", "GREATER") => filter.id_above = id_list(c, &["GREATER"])?.into_iter().max(),
                ("id", "LESSER") => filter.id_below = id_list(c, &["LESSER"])?.into_iter().min(),
                ("id", _) => filter.ids = Some(id_list(c, &["EQUALS", "IN"])?),
                ("isScanned", _) => filter.scanned = Some(boolean(c)?),
                ("lastScan.date", "GREATER") => {
                    filter.last_scan_after = Some(date(c, &["GREATER"])?)
                }
                ("lastScan.date", _) => filter.last_scan_before = Some(date(c, &["LESSER"])?),
                ("name", _) => {
                    check_operator(c, &["CONTAINS", "EQUALS"])?;
                    filter.name_contains = Some(c.value.clone());
                }
                (other, _) => return Err(QpsError::unknown_field(other)),
            }
        }
        Ok(filter)
    }

    fn matches(&self, app: &WebApp) -> bool {
        self.id_above.is_none_or(|id| app.id > id)
            && self.id_below.is_none_or(|id| app.id < id)
            && self.scanned.is_none_or(|scanned| app.scanned == scanned)
            && self
                .last_scan_after
                .is_none_or(|t| app.scanned && app.last_scan_secs > t)
            && self
                .last_scan_before
                .is_none_or(|t| app.scanned && app.last_scan_secs < t)
            && self
                .name_contains
                .as_ref()
                .is_none_or(|text| app.name().contains(text.as_str()))
    }
}

/// Web-app indexes in id order: the listed ids, or every app after the `GREATER` bound.
fn app_indexes(sub: &Subscription, ids: Option<&[u64]>, id_above: Option<u64>) -> Vec<u64> {
    match ids {
        Some(ids) => {
            let mut indexes: Vec<u64> =
                ids.iter().filter_map(|id| sub.web_app_index(*id)).collect();
            indexes.sort_unstable();
            indexes.dedup();
            indexes
        }
        None => {
            (id_above.map_or(0, |id| sub.first_web_app_above(id))..sub.config.web_apps).collect()
        }
    }
}

pub(crate) fn web_app_search(
    sub: Arc<Subscription>,
    ctx: Ctx,
    request: ServiceRequest,
) -> Result<Producer, QpsError> {
    let filter = WebAppFilter::parse(&request.criteria)?;
    let (offset, limit) = page_bounds(&request)?;
    let indexes = app_indexes(&sub, filter.ids.as_deref(), filter.id_above);
    let apps = indexes
        .into_iter()
        .map(|i| sub.web_app(i))
        .filter(|app| filter.matches(app));
    let (page, has_more) = take_page(apps, offset, limit);
    let header = QpsPage {
        count: page.len() as u64,
        has_more,
        empty_data: filter.ids.is_none(),
        last_id: page.last().map(|app| app.id),
    };
    Ok(Box::new(move |sink| {
        open_service_response(sink.out(), &ctx.base_url, WEB_APP_XSD);
        qps_page_header(sink.out(), &header);
        for app in &page {
            write_web_app(sink.out(), app);
            sink.boundary()?;
        }
        qps_page_footer(sink.out(), &header);
        Ok(())
    }))
}

fn write_web_app(out: &mut Vec<u8>, app: &WebApp) {
    start(out, 4, "WebApp");
    elem_u64(out, 6, "id", app.id);
    elem_cdata(out, 6, "name", &app.name());
    elem_cdata(out, 6, "url", &app.url());
    start(out, 6, "owner");
    elem_u64(out, 8, "id", app.owner_id);
    end(out, 6, "owner");
    start(out, 6, "tags");
    elem_u64(out, 8, "count", app.tag_count);
    end(out, 6, "tags");
    elem_time(out, 6, "createdDate", app.created_secs);
    elem_time(out, 6, "updatedDate", app.updated_secs);
    end(out, 4, "WebApp");
}

/// Finding criteria the simulator honours.
#[derive(Debug, Default)]
pub(crate) struct FindingFilter {
    pub web_app_ids: Option<Vec<u64>>,
    pub id_above: Option<u64>,
    pub detected_after: Option<i64>,
    pub detected_before: Option<i64>,
    pub severities: Option<Vec<u64>>,
    pub types: Option<Vec<String>>,
    pub statuses: Option<Vec<String>>,
    pub qids: Option<Vec<u64>>,
}

impl FindingFilter {
    fn parse(criteria: &[Criterion]) -> Result<Self, QpsError> {
        let mut filter = Self::default();
        let words = |c: &Criterion| -> Result<Vec<String>, QpsError> {
            check_operator(c, &["EQUALS", "IN"])?;
            Ok(c.value.split(',').map(|v| v.trim().to_owned()).collect())
        };
        for c in criteria {
            match c.field.as_str() {
                "webApp.id" => filter.web_app_ids = Some(id_list(c, &["EQUALS", "IN"])?),
                "id" => filter.id_above = id_list(c, &["GREATER"])?.into_iter().max(),
                "lastDetectedDate" if c.operator == "GREATER" => {
                    filter.detected_after = Some(date(c, &["GREATER"])?)
                }
                "lastDetectedDate" => filter.detected_before = Some(date(c, &["LESSER"])?),
                "severity" => filter.severities = Some(id_list(c, &["EQUALS", "IN"])?),
                "qid" => filter.qids = Some(id_list(c, &["EQUALS", "IN"])?),
                "type" => filter.types = Some(words(c)?),
                "status" => filter.statuses = Some(words(c)?),
                other => return Err(QpsError::unknown_field(other)),
            }
        }
        Ok(filter)
    }

    pub(crate) fn matches(&self, finding: &Finding) -> bool {
        let kind = finding_type(finding);
        self.id_above.is_none_or(|id| finding.id > id)
            && self
                .detected_after
                .is_none_or(|t| finding.last_detected_secs > t)
            && self
                .detected_before
                .is_none_or(|t| finding.last_detected_secs < t)
            && self
                .severities
                .as_ref()
                .is_none_or(|s| s.contains(&u64::from(finding.vuln.severity)))
            && self
                .qids
                .as_ref()
                .is_none_or(|q| q.contains(&finding.vuln.qid))
            && self
                .types
                .as_ref()
                .is_none_or(|t| t.iter().any(|v| v == kind))
            && self.statuses.as_ref().is_none_or(|s| {
                !finding.information_gathered && s.iter().any(|v| v == finding.status)
            })
    }
}

fn finding_type(finding: &Finding) -> &'static str {
    if finding.information_gathered {
        "INFORMATION_GATHERED"
    } else {
        "VULNERABILITY"
    }
}

/// Iterates, in id order, over the findings of the listed (or all) web apps that pass the filter.
pub(crate) fn findings<'a>(
    sub: &'a Subscription,
    filter: &'a FindingFilter,
) -> impl Iterator<Item = (WebApp, Finding)> + 'a {
    let cursor_app = filter
        .id_above
        .map(|id| Subscription::finding_position(id).0);
    let indexes = app_indexes(sub, filter.web_app_ids.as_deref(), None);
    indexes
        .into_iter()
        .filter(move |index| cursor_app.is_none_or(|first| *index >= first))
        .map(|index| sub.web_app(index))
        .flat_map(move |app| {
            (0..app.finding_slots)
                .filter_map(|slot| sub.finding(&app, slot))
                .filter(|finding| filter.matches(finding))
                .map(|finding| (app.clone(), finding))
                .collect::<Vec<_>>()
        })
}

pub(crate) fn finding_search(
    sub: Arc<Subscription>,
    ctx: Ctx,
    request: ServiceRequest,
) -> Result<Producer, QpsError> {
    let filter = FindingFilter::parse(&request.criteria)?;
    let (offset, limit) = page_bounds(&request)?;
    let (page, has_more) = take_page(findings(&sub, &filter), offset, limit);
    let header = QpsPage {
        count: page.len() as u64,
        has_more,
        empty_data: false,
        last_id: page.last().map(|(_, finding)| finding.id),
    };
    Ok(Box::new(move |sink| {
        open_service_response(sink.out(), &ctx.base_url, FINDING_XSD);
        qps_page_header(sink.out(), &header);
        for (app, finding) in &page {
            write_finding(sink.out(), app, finding);
            sink.boundary()?;
        }
        qps_page_footer(sink.out(), &header);
        Ok(())
    }))
}

fn write_finding(out: &mut Vec<u8>, app: &WebApp, finding: &Finding) {
    start(out, 4, "Finding");
    elem_u64(out, 6, "id", finding.id);
    elem_text(out, 6, "uniqueId", &finding.unique_id());
    elem_u64(out, 6, "qid", finding.vuln.qid);
    elem_cdata(out, 6, "name", &finding.vuln.title());
    elem_text(out, 6, "type", finding_type(finding));
    elem_bool(
        out,
        6,
        "potential",
        finding.vuln.vuln_type == "Potential Vulnerability",
    );
    elem_text(out, 6, "findingType", "QUALYS");
    if !finding.information_gathered && finding.hash.is_multiple_of(3) {
        elem_cdata(out, 6, "param", "id");
    }
    elem_u64(out, 6, "severity", u64::from(finding.vuln.severity));

    // Information-gathered findings carry no url, status, timesDetected or isIgnored.
    if !finding.information_gathered {
        elem_cdata(
            out,
            6,
            "url",
            &format!("{}item?id=%27{}", app.url(), finding.id % 1000),
        );
        elem_text(out, 6, "status", finding.status);
    }
    elem_time(out, 6, "firstDetectedDate", finding.first_detected_secs);
    elem_time(out, 6, "lastDetectedDate", finding.last_detected_secs);
    elem_time(out, 6, "lastTestedDate", finding.last_detected_secs);
    if !finding.information_gathered {
        elem_u64(out, 6, "timesDetected", finding.times_detected);
    }

    start(out, 6, "webApp");
    elem_u64(out, 8, "id", app.id);
    elem_cdata(out, 8, "name", &app.name());
    elem_cdata(out, 8, "url", &app.url());
    end(out, 6, "webApp");
    if !finding.information_gathered {
        elem_bool(out, 6, "isIgnored", false);
    }
    end(out, 4, "Finding");
}
