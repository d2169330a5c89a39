//! The Qualys calls the steps make, as a trait. The real client implements
//! it, and tests use a fake that needs no HTTP.

use std::future::Future;

use futures_util::stream::BoxStream;
use qgraph_qualys::{
    HostAsset, HostDetections, HostIdRange, PortalVersion, Vuln, WebApp, WebAppFinding,
};

/// An error from a [`QualysSource`]: one request or page that failed after
/// the client's retries.
pub trait SourceError: std::error::Error + Send + Sync + 'static {
    /// Returns the Qualys error code (`SIMPLE_RETURN` `CODE` or QPS `responseCode`), if any.
    fn code(&self) -> Option<String> {
        None
    }

    /// Returns the endpoint path the error came from, if known.
    fn endpoint(&self) -> Option<String> {
        None
    }
}

/// Filters of the scanned host id request (host list API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostIdQuery {
    /// `vm_processed_after`, epoch milliseconds in whole seconds.
    pub processed_after_ms: i64,
    /// `vm_processed_before`, epoch milliseconds in whole seconds.
    pub processed_before_ms: i64,
}

/// Filters of the host detection request (host list detection API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectionQuery {
    /// `detection_updated_since`, epoch milliseconds in whole seconds.
    pub updated_since_ms: i64,
    /// `detection_updated_before`, epoch milliseconds in whole seconds.
    pub updated_before_ms: i64,
    /// `severities`, each 1 to 5.
    pub severities: Vec<u8>,
    /// Whether to ask for information-gathered detections (`show_igs`).
    pub include_info: bool,
    /// QIDs whose `RESULTS` are needed; empty means `show_results=0`.
    pub result_qids: Vec<u64>,
    /// Tag names for `tag_set_include` (with `use_tags=1`, `tag_set_by=name`); empty means no tag filter.
    pub include_tags: Vec<String>,
}

/// Filters of the web app search (WAS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAppQuery {
    /// Apps last scanned after this time (`lastScan.date GREATER`), epoch
    /// milliseconds; ignored when `ids` is set.
    pub scanned_since_ms: i64,
    /// When non-empty, exactly these apps (`id IN`), whenever they were scanned.
    pub ids: Vec<u64>,
}

/// Filters of the web-app finding search (WAS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAppFindingQuery {
    /// Findings detected after this time (`lastDetectedDate GREATER`), epoch milliseconds.
    pub detected_since_ms: i64,
    /// The apps whose findings to fetch (`webApp.id IN`).
    pub web_app_ids: Vec<u64>,
}

/// The Qualys calls a sync makes. Each stream yields records as pages
/// arrive. An `Err` item is a page that failed after retries: the step
/// records it, fails, and keeps reading the stream for later pages.
pub trait QualysSource: Sync {
    /// The error of one request or page.
    type Error: SourceError;

    /// Fetches the portal versions (`GET /qps/rest/portal/version`), which also checks the credentials.
    fn portal_version(&self) -> impl Future<Output = Result<PortalVersion, Self::Error>> + Send;

    /// Streams the ids of hosts processed by a scan in the window, following every page.
    fn scanned_host_ids(
        &self,
        query: &HostIdQuery,
    ) -> BoxStream<'_, Result<HostIdRange, Self::Error>>;

    /// Streams the Asset Management records of these hosts (by `qwebHostId`).
    fn host_assets(&self, host_ids: &[u64]) -> BoxStream<'_, Result<HostAsset, Self::Error>>;

    /// Streams these hosts with their detections.
    fn host_detections(
        &self,
        query: &DetectionQuery,
        host_ids: &[u64],
    ) -> BoxStream<'_, Result<HostDetections, Self::Error>>;

    /// Streams the web apps that match the query, following every page.
    fn web_apps(&self, query: &WebAppQuery) -> BoxStream<'_, Result<WebApp, Self::Error>>;

    /// Streams the web-app findings that match the query, following every page.
    fn web_app_findings(
        &self,
        query: &WebAppFindingQuery,
    ) -> BoxStream<'_, Result<WebAppFinding, Self::Error>>;

    /// Streams the knowledge-base entries of these QIDs; unknown QIDs are left out.
    fn knowledge_base(&self, qids: &[u64]) -> BoxStream<'_, Result<Vuln, Self::Error>>;
}
