//! The real Qualys client as a [`QualysSource`].

use std::collections::BTreeSet;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use qgraph_qualys::{
    ClientConfig, Credentials, HostAsset, HostDetections, HostIdRange, Loopback, PortalVersion,
    QualysClient, QualysError, ResultsOptions, Vuln, WebApp, WebAppFinding,
};

use crate::config::Config;
use crate::convert::MAX_DETAILS_CHARS;
use crate::source::{
    DetectionQuery, HostIdQuery, QualysSource, SourceError, WebAppFindingQuery, WebAppQuery,
};

/// Builds the client settings of an instance: its API URL and credentials
/// with the client's default timeouts, retries and page sizes.
pub fn client_config(config: &Config) -> Result<ClientConfig, QualysError> {
    let loopback = if config.api_url.is_loopback() {
        Loopback::Allow
    } else {
        Loopback::Reject
    };
    let api_url = qgraph_qualys::ApiUrl::parse(&config.api_url.as_string(), loopback)?;
    let credentials = Credentials::new(config.username.clone(), config.password.expose());
    Ok(ClientConfig::new(api_url, credentials))
}

/// Builds a client for an instance.
pub fn connect(config: &Config) -> Result<QualysClient, QualysError> {
    QualysClient::new(client_config(config)?)
}

impl SourceError for QualysError {
    fn code(&self) -> Option<String> {
        match self {
            QualysError::Api { body, .. } => body.code.clone(),
            QualysError::Http { status, .. } => Some(status.to_string()),
            QualysError::PageFailed { source, .. } => SourceError::code(source.as_ref()),
            _ => None,
        }
    }

    fn endpoint(&self) -> Option<String> {
        QualysError::endpoint(self).map(|endpoint| endpoint.path().to_owned())
    }
}

impl QualysSource for QualysClient {
    type Error = QualysError;

    async fn portal_version(&self) -> Result<PortalVersion, QualysError> {
        QualysClient::portal_version(self).await
    }

    fn scanned_host_ids(
        &self,
        query: &HostIdQuery,
    ) -> BoxStream<'_, Result<HostIdRange, QualysError>> {
        let query = qgraph_qualys::HostIdQuery {
            processed_after: Some(query.processed_after_ms),
            processed_before: Some(query.processed_before_ms),
            ..Default::default()
        };
        self.host_ids(&query).boxed()
    }

    fn host_assets(&self, host_ids: &[u64]) -> BoxStream<'_, Result<HostAsset, QualysError>> {
        QualysClient::host_assets(self, host_ids.to_vec()).boxed()
    }

    fn host_detections(
        &self,
        query: &DetectionQuery,
        host_ids: &[u64],
    ) -> BoxStream<'_, Result<HostDetections, QualysError>> {
        let results = ResultsOptions {
            keep: !query.result_qids.is_empty(),
            // `details` keeps characters, and one character is at most 4 bytes.
            max_bytes: MAX_DETAILS_CHARS * 4,
            qids: query.result_qids.iter().copied().collect::<BTreeSet<u64>>(),
        };
        let query = qgraph_qualys::DetectionQuery {
            host_ids: host_ids.to_vec(),
            updated_since: Some(query.updated_since_ms),
            updated_before: Some(query.updated_before_ms),
            severities: query.severities.clone(),
            include_info: query.include_info,
            include_tags: query.include_tags.clone(),
            results,
            chunk_size: host_ids.len().max(1),
            ..Default::default()
        };
        QualysClient::host_detections(self, &query).boxed()
    }

    fn web_apps(&self, query: &WebAppQuery) -> BoxStream<'_, Result<WebApp, QualysError>> {
        let by_id = !query.ids.is_empty();
        let query = qgraph_qualys::WebAppQuery {
            scanned_only: true,
            // Configured apps are fetched whenever they were last scanned.
            scanned_since: (!by_id).then_some(query.scanned_since_ms),
            ids: query.ids.clone(),
            ..Default::default()
        };
        QualysClient::web_apps(self, &query).boxed()
    }

    fn web_app_findings(
        &self,
        query: &WebAppFindingQuery,
    ) -> BoxStream<'_, Result<WebAppFinding, QualysError>> {
        let query = qgraph_qualys::WebAppFindingQuery {
            web_app_ids: query.web_app_ids.clone(),
            detected_since: Some(query.detected_since_ms),
            ..Default::default()
        };
        QualysClient::web_app_findings(self, &query).boxed()
    }

    fn knowledge_base(&self, qids: &[u64]) -> BoxStream<'_, Result<Vuln, QualysError>> {
        QualysClient::knowledge_base(self, qids.to_vec()).boxed()
    }
}
