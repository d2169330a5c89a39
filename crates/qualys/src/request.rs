//! Queries the client accepts and the request bodies built from them.

use quick_xml::escape::escape;

use crate::api_url::ApiUrl;
use crate::dates::format_iso8601;
use crate::endpoint::Endpoint;
use crate::error::{Method, PageRequest};
use crate::parse::ResultsOptions;
use crate::records::EpochMillis;

/// Filters of the scanned host id list (`GET /api/2.0/fo/asset/host/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostIdQuery {
    /// Hosts whose VM scan was processed after this time (`vm_processed_after`).
    pub processed_after: Option<EpochMillis>,
    /// Hosts whose VM scan was processed before this time (`vm_processed_before`).
    pub processed_before: Option<EpochMillis>,
    /// Ids per page (`truncation_limit`); Qualys adds a `WARNING/URL` to the next page.
    pub page_size: u32,
}

impl Default for HostIdQuery {
    fn default() -> Self {
        Self {
            processed_after: None,
            processed_before: None,
            page_size: 10_000,
        }
    }
}

/// Filters and options of host detections (`POST /api/2.0/fo/asset/host/vm/detection/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectionQuery {
    /// Host ids to fetch; sent in POST bodies in chunks of `chunk_size`.
    pub host_ids: Vec<u64>,
    /// Detections updated since this time (`detection_updated_since`).
    pub updated_since: Option<EpochMillis>,
    /// Detections updated before this time (`detection_updated_before`).
    pub updated_before: Option<EpochMillis>,
    /// Severities to include (`severities`); empty means all.
    pub severities: Vec<u8>,
    /// Statuses to include (`status`); empty means the Qualys default, which omits `Fixed`.
    pub statuses: Vec<String>,
    /// Include information-gathered detections (`show_igs`).
    pub include_info: bool,
    /// Only hosts with any of these tag names (`tag_set_include`).
    pub include_tags: Vec<String>,
    /// `RESULTS` handling. The request sends `show_results=1` only when `results.keep` is set.
    pub results: ResultsOptions,
    /// Host ids per request.
    pub chunk_size: usize,
    /// Hosts per page (`truncation_limit`); further pages follow `WARNING/URL`.
    pub page_size: u32,
}

impl Default for DetectionQuery {
    fn default() -> Self {
        Self {
            host_ids: Vec::new(),
            updated_since: None,
            updated_before: None,
            severities: Vec::new(),
            statuses: ["New", "Active", "Fixed", "Re-Opened"]
                .map(str::to_owned)
                .to_vec(),
            include_info: false,
            include_tags: Vec::new(),
            results: ResultsOptions::default(),
            chunk_size: 1_000,
            page_size: 1_000,
        }
    }
}

/// Filters of the WAS web app search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAppQuery {
    /// Only apps scanned at least once (`isScanned EQUALS true`).
    pub scanned_only: bool,
    /// Only apps whose last scan is after this time (`lastScan.date GREATER`).
    pub scanned_since: Option<EpochMillis>,
    /// Only these app ids (`id IN`); empty means all.
    pub ids: Vec<u64>,
    /// Records per page (`limitResults`).
    pub page_size: u32,
}

impl Default for WebAppQuery {
    fn default() -> Self {
        Self {
            scanned_only: true,
            scanned_since: None,
            ids: Vec::new(),
            page_size: 100,
        }
    }
}

/// Filters of the WAS finding search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAppFindingQuery {
    /// Web app ids whose findings to fetch (`webApp.id IN`), in chunks of `chunk_size`.
    pub web_app_ids: Vec<u64>,
    /// Only findings detected after this time (`lastDetectedDate GREATER`).
    pub detected_since: Option<EpochMillis>,
    /// Web app ids per request.
    pub chunk_size: usize,
    /// Records per page (`limitResults`).
    pub page_size: u32,
}

impl Default for WebAppFindingQuery {
    fn default() -> Self {
        Self {
            web_app_ids: Vec::new(),
            detected_since: None,
            chunk_size: 10,
            page_size: 250,
        }
    }
}

/// A `Criteria` element of a QPS `ServiceRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Criterion {
    pub(crate) field: &'static str,
    pub(crate) operator: &'static str,
    pub(crate) value: String,
}

impl Criterion {
    pub(crate) fn new(
        field: &'static str,
        operator: &'static str,
        value: impl Into<String>,
    ) -> Self {
        Self {
            field,
            operator,
            value: value.into(),
        }
    }
}

/// Builds a QPS `ServiceRequest` body; every value is XML-escaped.
pub(crate) fn service_request(limit: u32, criteria: &[Criterion]) -> String {
    let mut body = String::from("<ServiceRequest><preferences>");
    body.push_str(&format!(
        "<limitResults>{limit}</limitResults></preferences>"
    ));
    if !criteria.is_empty() {
        body.push_str("<filters>");
        for criterion in criteria {
            body.push_str(&format!(
                "<Criteria field=\"{}\" operator=\"{}\">{}</Criteria>",
                escape(criterion.field),
                escape(criterion.operator),
                escape(criterion.value.as_str())
            ));
        }
        body.push_str("</filters>");
    }
    body.push_str("</ServiceRequest>");
    body
}

/// Encodes form or query pairs.
pub(crate) fn form(pairs: &[(&str, String)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        serializer.append_pair(key, value);
    }
    serializer.finish()
}

pub(crate) fn join_ids(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// First host list page.
pub(crate) fn host_ids_request(api_url: &ApiUrl, query: &HostIdQuery) -> PageRequest {
    let mut pairs = vec![
        ("action", "list".to_owned()),
        ("details", "None".to_owned()),
        ("truncation_limit", query.page_size.to_string()),
    ];
    if let Some(after) = query.processed_after {
        pairs.push(("vm_processed_after", format_iso8601(after)));
    }
    if let Some(before) = query.processed_before {
        pairs.push(("vm_processed_before", format_iso8601(before)));
    }
    PageRequest {
        endpoint: Endpoint::HostIds,
        method: Method::Get,
        url: format!(
            "{}?{}",
            api_url.join(Endpoint::HostIds.path()),
            form(&pairs)
        ),
        body: None,
    }
}

/// First detection page of one chunk of host ids.
pub(crate) fn detections_request(
    api_url: &ApiUrl,
    query: &DetectionQuery,
    ids: &[u64],
) -> PageRequest {
    let mut pairs = vec![("action", "list".to_owned())];
    if let Some(since) = query.updated_since {
        pairs.push(("detection_updated_since", format_iso8601(since)));
    }
    if let Some(before) = query.updated_before {
        pairs.push(("detection_updated_before", format_iso8601(before)));
    }
    if !query.severities.is_empty() {
        let severities: Vec<String> = query.severities.iter().map(u8::to_string).collect();
        pairs.push(("severities", severities.join(",")));
    }
    if !query.statuses.is_empty() {
        pairs.push(("status", query.statuses.join(",")));
    }
    pairs.push(("show_tags", "1".to_owned()));
    pairs.push(("show_igs", flag(query.include_info)));
    pairs.push(("show_results", flag(query.results.keep)));
    pairs.push(("output_format", "XML".to_owned()));
    pairs.push(("truncation_limit", query.page_size.to_string()));
    pairs.push(("ids", join_ids(ids)));
    if !query.include_tags.is_empty() {
        pairs.push(("use_tags", "1".to_owned()));
        pairs.push(("tag_set_by", "name".to_owned()));
        pairs.push(("tag_set_include", query.include_tags.join(",")));
    }
    post_form(api_url, Endpoint::HostDetections, &pairs)
}

/// Knowledge-base request for one chunk of QIDs.
pub(crate) fn knowledge_base_request(api_url: &ApiUrl, qids: &[u64]) -> PageRequest {
    let pairs = [
        ("action", "list".to_owned()),
        ("details", "All".to_owned()),
        ("ids", join_ids(qids)),
    ];
    post_form(api_url, Endpoint::KnowledgeBase, &pairs)
}

pub(crate) fn post_form(
    api_url: &ApiUrl,
    endpoint: Endpoint,
    pairs: &[(&str, String)],
) -> PageRequest {
    PageRequest {
        endpoint,
        method: Method::PostForm,
        url: api_url.join(endpoint.path()),
        body: Some(form(pairs)),
    }
}

pub(crate) fn post_xml(api_url: &ApiUrl, endpoint: Endpoint, body: String) -> PageRequest {
    PageRequest {
        endpoint,
        method: Method::PostXml,
        url: api_url.join(endpoint.path()),
        body: Some(body),
    }
}

/// Turns a VM `WARNING/URL` into the next page request.
///
/// POST endpoints get the URL's query as a form body, so long id lists never
/// travel in a URL; the host list is a GET and follows the URL as given.
pub(crate) fn next_vm_page(previous: &PageRequest, next_url: &str) -> PageRequest {
    match previous.method {
        Method::Get | Method::PostXml => PageRequest {
            endpoint: previous.endpoint,
            method: Method::Get,
            url: next_url.to_owned(),
            body: None,
        },
        Method::PostForm => {
            let (base, query) = next_url.split_once('?').unwrap_or((next_url, ""));
            PageRequest {
                endpoint: previous.endpoint,
                method: Method::PostForm,
                url: base.to_owned(),
                body: Some(query.to_owned()),
            }
        }
    }
}

fn flag(value: bool) -> String {
    if value { "1" } else { "0" }.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_request_escapes_values() {
        let body = service_request(10, &[Criterion::new("name", "EQUALS", "a<b&\"c\"")]);
        assert_eq!(
            body,
            "<ServiceRequest><preferences><limitResults>10</limitResults></preferences><filters>\
             <Criteria field=\"name\" operator=\"EQUALS\">a&lt;b&amp;&quot;c&quot;</Criteria>\
             </filters></ServiceRequest>"
        );
    }

    #[test]
    fn host_ids_dates_without_millis() {
        let api_url = ApiUrl::parse(
            "https://qualysapi.qualys.com",
            crate::api_url::Loopback::Reject,
        );
        let Ok(api_url) = api_url else { return };
        let request = host_ids_request(
            &api_url,
            &HostIdQuery {
                processed_after: Some(1_583_449_230_123),
                ..HostIdQuery::default()
            },
        );
        assert!(
            request
                .url
                .ends_with("vm_processed_after=2020-03-05T23%3A00%3A30Z"),
            "{}",
            request.url
        );
    }

    #[test]
    fn detection_ids_in_body_not_url() {
        let Ok(api_url) = ApiUrl::parse(
            "https://qualysapi.qualys.com",
            crate::api_url::Loopback::Reject,
        ) else {
            return;
        };
        let request = detections_request(&api_url, &DetectionQuery::default(), &[1, 2, 3]);
        assert!(!request.url.contains("ids="));
        assert!(
            request
                .body
                .as_deref()
                .unwrap_or_default()
                .contains("ids=1%2C2%2C3")
        );
        let next = next_vm_page(
            &request,
            "https://qualysapi.qualys.com/api/2.0/fo/asset/host/vm/detection/?action=list&ids=1,2,3&id_min=2",
        );
        assert_eq!(
            next.url,
            "https://qualysapi.qualys.com/api/2.0/fo/asset/host/vm/detection/"
        );
        assert_eq!(next.body.as_deref(), Some("action=list&ids=1,2,3&id_min=2"));
    }
}
