//! A fake Qualys source and an in-memory sink for runner tests.
#![allow(
    dead_code,
    reason = "each test file uses a different part of the helpers"
)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use futures_util::stream::{self, BoxStream, StreamExt};
use qgraph_integration::window::{DataSet, WindowState};
use qgraph_integration::{
    Config, DetectionQuery, HostIdQuery, KbEntry, NoProgress, QualysSource, RawConfig, RunError,
    RunInput, RunOutcome, SourceError, WebAppFindingQuery, WebAppQuery, run_sync,
};
use qgraph_model::{Entity, GraphObject, GraphSink, MappedRelationship, Relationship};
use qgraph_qualys::{
    Detection, HostAsset, HostDetections, HostIdRange, PortalVersion, Reference, Tag, Vuln, WebApp,
    WebAppFinding,
};

/// One failed request, as the client reports it after retries.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct FakeError {
    pub message: String,
    pub code: Option<String>,
}

impl FakeError {
    pub fn new(message: &str) -> Self {
        FakeError {
            message: message.to_owned(),
            code: None,
        }
    }
}

impl SourceError for FakeError {
    fn code(&self) -> Option<String> {
        self.code.clone()
    }

    fn endpoint(&self) -> Option<String> {
        Some("/fake".to_owned())
    }
}

/// A scripted subscription with optional failures.
#[derive(Default)]
pub struct FakeSource {
    pub portal_error: Option<FakeError>,
    pub host_id_pages: Vec<Result<HostIdRange, FakeError>>,
    pub assets: Vec<HostAsset>,
    pub hosts: Vec<HostDetections>,
    /// Detection chunks holding this host id end with a failed page.
    pub failing_detection_host: Option<u64>,
    /// Every detection request fails.
    pub detections_down: bool,
    pub web_apps: Vec<WebApp>,
    pub web_findings: Vec<WebAppFinding>,
    pub vulns: Vec<Vuln>,
    pub kb_down: bool,
    pub assets_down: bool,
    /// Every request, for checks on what was asked.
    pub calls: Mutex<Vec<String>>,
}

impl FakeSource {
    fn log(&self, call: String) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

fn iso(ms: i64) -> String {
    qgraph_integration::time::format_iso_seconds(ms)
}

fn boxed<T: Send + 'static>(
    items: Vec<Result<T, FakeError>>,
) -> BoxStream<'static, Result<T, FakeError>> {
    stream::iter(items).boxed()
}

impl QualysSource for FakeSource {
    type Error = FakeError;

    async fn portal_version(&self) -> Result<PortalVersion, FakeError> {
        self.log("portal".to_owned());
        match &self.portal_error {
            Some(error) => Err(error.clone()),
            None => Ok(portal()),
        }
    }

    fn scanned_host_ids(
        &self,
        query: &HostIdQuery,
    ) -> BoxStream<'_, Result<HostIdRange, FakeError>> {
        self.log(format!(
            "host_ids {} {}",
            iso(query.processed_after_ms),
            iso(query.processed_before_ms)
        ));
        boxed(self.host_id_pages.clone())
    }

    fn host_assets(&self, host_ids: &[u64]) -> BoxStream<'_, Result<HostAsset, FakeError>> {
        self.log(format!("assets {host_ids:?}"));
        if self.assets_down {
            return boxed(vec![Err(FakeError::new("asset search timed out"))]);
        }
        let items = self
            .assets
            .iter()
            .filter(|a| a.qweb_host_id.is_some_and(|id| host_ids.contains(&id)))
            .cloned()
            .map(Ok)
            .collect();
        boxed(items)
    }

    fn host_detections(
        &self,
        query: &DetectionQuery,
        host_ids: &[u64],
    ) -> BoxStream<'_, Result<HostDetections, FakeError>> {
        self.log(format!(
            "detections {} {:?} {host_ids:?}",
            iso(query.updated_since_ms),
            query.severities
        ));
        if self.detections_down {
            return boxed(vec![Err(FakeError::new("HTTP 503 after 5 attempts"))]);
        }
        let mut items: Vec<Result<HostDetections, FakeError>> = self
            .hosts
            .iter()
            .filter(|h| host_ids.contains(&h.host_id))
            .cloned()
            .map(Ok)
            .collect();
        if self
            .failing_detection_host
            .is_some_and(|id| host_ids.contains(&id))
        {
            items.retain(|h| {
                h.as_ref()
                    .is_ok_and(|h| Some(h.host_id) != self.failing_detection_host)
            });
            items.push(Err(FakeError {
                message: "detection page 2 failed: connection reset".to_owned(),
                code: Some("1960".to_owned()),
            }));
        }
        boxed(items)
    }

    fn web_apps(&self, query: &WebAppQuery) -> BoxStream<'_, Result<WebApp, FakeError>> {
        self.log(format!(
            "web_apps {} {:?}",
            iso(query.scanned_since_ms),
            query.ids
        ));
        boxed(self.web_apps.iter().cloned().map(Ok).collect())
    }

    fn web_app_findings(
        &self,
        query: &WebAppFindingQuery,
    ) -> BoxStream<'_, Result<WebAppFinding, FakeError>> {
        self.log(format!(
            "web_findings {} {:?}",
            iso(query.detected_since_ms),
            query.web_app_ids
        ));
        boxed(self.web_findings.iter().cloned().map(Ok).collect())
    }

    fn knowledge_base(&self, qids: &[u64]) -> BoxStream<'_, Result<Vuln, FakeError>> {
        self.log(format!("kb {qids:?}"));
        if self.kb_down {
            return boxed(vec![Err(FakeError::new("knowledge base request failed"))]);
        }
        boxed(
            self.vulns
                .iter()
                .filter(|v| qids.contains(&v.qid))
                .cloned()
                .map(Ok)
                .collect(),
        )
    }
}

/// Collects every object a run writes.
#[derive(Default)]
pub struct MemorySink {
    pub objects: Vec<(String, GraphObject)>,
    /// Writes from this step fail.
    pub fail_step: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("disk full")]
pub struct SinkError;

impl GraphSink for MemorySink {
    type Error = SinkError;

    fn write(&mut self, step_id: &str, objects: Vec<GraphObject>) -> Result<(), SinkError> {
        if self.fail_step.as_deref() == Some(step_id) {
            return Err(SinkError);
        }
        self.objects.extend(
            objects
                .into_iter()
                .map(|object| (step_id.to_owned(), object)),
        );
        Ok(())
    }
}

impl MemorySink {
    pub fn entities(&self, entity_type: &str) -> Vec<&Entity> {
        self.objects
            .iter()
            .filter_map(|(_, o)| match o {
                GraphObject::Entity(e) if e.entity_type == entity_type => Some(e),
                _ => None,
            })
            .collect()
    }

    pub fn relationships(&self, relationship_type: &str) -> Vec<&Relationship> {
        self.objects
            .iter()
            .filter_map(|(_, o)| match o {
                GraphObject::Relationship(r) if r.relationship_type == relationship_type => Some(r),
                _ => None,
            })
            .collect()
    }

    pub fn mapped(&self, relationship_type: &str) -> Vec<&MappedRelationship> {
        self.objects
            .iter()
            .filter_map(|(_, o)| match o {
                GraphObject::Mapped(m) if m.relationship_type == relationship_type => Some(m),
                _ => None,
            })
            .collect()
    }

    pub fn all_entities(&self) -> Vec<&Entity> {
        self.objects
            .iter()
            .filter_map(|(_, o)| match o {
                GraphObject::Entity(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    pub fn keys(&self) -> Vec<&str> {
        self.objects.iter().map(|(_, o)| o.key()).collect()
    }
}

pub const NOW_MS: i64 = 1_700_000_000_000;

pub fn portal() -> PortalVersion {
    PortalVersion {
        vm_version: Some("1.0.3".to_owned()),
        was_version: Some("6.13.1.0".to_owned()),
        ..Default::default()
    }
}

pub fn config(extra: impl FnOnce(&mut RawConfig)) -> Config {
    let mut raw = RawConfig {
        account_name: Some("Prod".to_owned()),
        qualys_username: Some("exmpl3aw".to_owned()),
        qualys_password: Some(qgraph_integration::Secret::new("not-a-real-password")),
        qualys_api_url: Some("https://qualysapi.qg3.apps.qualys.com".to_owned()),
        ..Default::default()
    };
    extra(&mut raw);
    match raw.validate() {
        Ok(config) => config,
        Err(errors) => panic!("test configuration is invalid: {errors}"),
    }
}

pub fn detection(qid: u64, detection_type: &str, severity: u8, port: Option<u16>) -> Detection {
    Detection {
        qid,
        detection_type: detection_type.to_owned(),
        severity: Some(severity),
        port,
        protocol: port.map(|_| "tcp".to_owned()),
        ssl: Some(false),
        status: Some("Active".to_owned()),
        first_found: Some(1_600_000_000_000),
        last_found: Some(1_690_000_000_000),
        times_found: Some(12),
        ..Default::default()
    }
}

pub fn host(host_id: u64, detections: Vec<Detection>) -> HostDetections {
    HostDetections {
        host_id,
        ip: Some(format!("10.0.0.{}", host_id % 250)),
        dns: Some(format!("host{host_id}.example.com")),
        tags: vec![Tag {
            id: Some(1),
            name: "prod".to_owned(),
        }],
        detections,
        ..Default::default()
    }
}

pub fn asset(host_id: u64) -> HostAsset {
    HostAsset {
        id: host_id + 1_000_000,
        qweb_host_id: Some(host_id),
        name: Some(format!("host{host_id}")),
        dns_host_name: Some(format!("HOST{host_id}.example.com")),
        address: Some(format!("10.0.0.{}", host_id % 250)),
        os: Some("Amazon Linux 2".to_owned()),
        ..Default::default()
    }
}

pub fn vuln(qid: u64, cves: &[&str]) -> Vuln {
    Vuln {
        qid,
        title: Some(format!("Vulnerability {qid}")),
        severity: Some(4),
        category: Some("Local".to_owned()),
        vuln_type: Some("Vulnerability".to_owned()),
        cves: cves
            .iter()
            .map(|id| Reference {
                id: (*id).to_owned(),
                url: Some(format!("https://nvd.nist.gov/vuln/detail/{id}")),
            })
            .collect(),
        ..Default::default()
    }
}

/// Builds a small subscription: two hosts with assets, four requested
/// detections, and knowledge-base entries for their QIDs.
pub fn subscription() -> FakeSource {
    FakeSource {
        host_id_pages: vec![
            Ok(HostIdRange::single(101)),
            Ok(HostIdRange {
                first: 102,
                last: 102,
            }),
        ],
        assets: vec![asset(101), asset(102)],
        hosts: vec![
            host(
                101,
                vec![
                    detection(38739, "Confirmed", 4, Some(22)),
                    detection(11, "Potential", 3, None),
                    detection(45038, "Info", 3, None),
                ],
            ),
            host(
                102,
                vec![
                    detection(38739, "Confirmed", 5, Some(443)),
                    detection(90007, "Confirmed", 3, None),
                ],
            ),
        ],
        vulns: vec![
            vuln(38739, &["CVE-2008-4250", "CVE-2017-0144"]),
            vuln(11, &[]),
            vuln(90007, &["cve-2017-0144"]),
        ],
        ..Default::default()
    }
}

pub struct RunSetup {
    pub config: Config,
    pub last_windows: BTreeMap<DataSet, WindowState>,
    pub kb_cache: HashMap<u64, KbEntry>,
}

impl RunSetup {
    pub fn new(config: Config) -> Self {
        RunSetup {
            config,
            last_windows: BTreeMap::new(),
            kb_cache: HashMap::new(),
        }
    }

    pub async fn run(
        &self,
        source: &FakeSource,
        sink: &mut MemorySink,
    ) -> Result<RunOutcome, RunError<SinkError>> {
        let input = RunInput {
            instance_id: "instance-1",
            config: &self.config,
            now_ms: NOW_MS,
            last_windows: &self.last_windows,
            kb_cache: &self.kb_cache,
            observer: &NoProgress,
        };
        run_sync(source, sink, &input).await
    }
}
