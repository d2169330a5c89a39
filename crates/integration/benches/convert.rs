//! Converter and runner throughput on generated detections.
//!
//! `cargo bench -p qgraph-integration --bench convert`
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark code")]

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::stream::{self, BoxStream, StreamExt};
use qgraph_integration::convert::{FindingOptions, HostTargets, host_finding_entity};
use qgraph_integration::{
    DetectionQuery, HostIdQuery, NoProgress, QualysSource, RawConfig, RunInput, Secret,
    SourceError, WebAppFindingQuery, WebAppQuery, run_sync,
};
use qgraph_model::{GraphObject, GraphSink};
use qgraph_qualys::{
    Detection, HostAsset, HostDetections, HostIdRange, PortalVersion, Tag, Vuln, WebApp,
    WebAppFinding,
};

const HOSTS: u64 = 1_000;
const DETECTIONS_PER_HOST: u64 = 100;

fn host(host_id: u64) -> HostDetections {
    let detections = (0..DETECTIONS_PER_HOST)
        .map(|i| Detection {
            qid: 10_000 + i * 7 % 500,
            detection_type: if i % 3 == 0 { "Potential" } else { "Confirmed" }.to_owned(),
            severity: Some(3 + (i % 3) as u8),
            port: (i % 2 == 0).then_some(443 + i as u16),
            protocol: (i % 2 == 0).then(|| "tcp".to_owned()),
            ssl: Some(false),
            status: Some("Active".to_owned()),
            first_found: Some(1_690_000_000_000),
            last_found: Some(1_700_000_000_000),
            last_update: Some(1_700_000_000_000),
            times_found: Some(4),
            ..Default::default()
        })
        .collect();
    HostDetections {
        host_id,
        ip: Some("10.1.2.3".to_owned()),
        dns: Some(format!("host{host_id}.corp.example.com")),
        tags: vec![Tag {
            id: Some(1),
            name: "prod".to_owned(),
        }],
        detections,
        ..Default::default()
    }
}

fn bench_converter(c: &mut Criterion) {
    let host = host(42);
    let targets = HostTargets {
        fqdn: Some("host42.corp.example.com".to_owned()),
        ec2_instance_arn: Some("arn:aws:ec2:us-east-1:123456789012:instance/i-0abc".to_owned()),
        ..Default::default()
    };
    let mut group = c.benchmark_group("convert");
    group.throughput(Throughput::Elements(DETECTIONS_PER_HOST));
    group.bench_function("host_finding_entity", |b| {
        b.iter(|| {
            for detection in &host.detections {
                black_box(
                    host_finding_entity(
                        &host,
                        detection,
                        Some(&targets),
                        FindingOptions::default(),
                    )
                    .unwrap(),
                );
            }
        });
    });
    group.finish();
}

#[derive(Debug, thiserror::Error)]
#[error("unused")]
struct NoError;

impl SourceError for NoError {}

/// A subscription generated in memory, so the benchmark measures the runner only.
struct GeneratedSource {
    hosts: Vec<HostDetections>,
}

impl QualysSource for GeneratedSource {
    type Error = NoError;

    async fn portal_version(&self) -> Result<PortalVersion, NoError> {
        Ok(PortalVersion::default())
    }

    fn scanned_host_ids(&self, _: &HostIdQuery) -> BoxStream<'_, Result<HostIdRange, NoError>> {
        stream::iter([Ok(HostIdRange {
            first: 1,
            last: HOSTS,
        })])
        .boxed()
    }

    fn host_assets(&self, _: &[u64]) -> BoxStream<'_, Result<HostAsset, NoError>> {
        stream::empty().boxed()
    }

    fn host_detections(
        &self,
        _: &DetectionQuery,
        ids: &[u64],
    ) -> BoxStream<'_, Result<HostDetections, NoError>> {
        let first = usize::try_from(ids[0] - 1).unwrap();
        stream::iter(self.hosts[first..first + ids.len()].iter().cloned().map(Ok)).boxed()
    }

    fn web_apps(&self, _: &WebAppQuery) -> BoxStream<'_, Result<WebApp, NoError>> {
        stream::empty().boxed()
    }

    fn web_app_findings(
        &self,
        _: &WebAppFindingQuery,
    ) -> BoxStream<'_, Result<WebAppFinding, NoError>> {
        stream::empty().boxed()
    }

    fn knowledge_base(&self, qids: &[u64]) -> BoxStream<'_, Result<Vuln, NoError>> {
        let vulns: Vec<Result<Vuln, NoError>> = qids
            .iter()
            .map(|&qid| {
                Ok(Vuln {
                    qid,
                    title: Some("Generated".to_owned()),
                    ..Default::default()
                })
            })
            .collect();
        stream::iter(vulns).boxed()
    }
}

/// Counts objects and drops them.
struct CountingSink(u64);

impl GraphSink for CountingSink {
    type Error = std::convert::Infallible;

    fn write(&mut self, _: &str, objects: Vec<GraphObject>) -> Result<(), Self::Error> {
        self.0 += objects.len() as u64;
        Ok(())
    }
}

fn bench_runner(c: &mut Criterion) {
    let source = GeneratedSource {
        hosts: (1..=HOSTS).map(host).collect(),
    };
    let config = RawConfig {
        account_name: Some("Bench".to_owned()),
        qualys_username: Some("user".to_owned()),
        qualys_password: Some(Secret::new("password")),
        qualys_api_url: Some("http://127.0.0.1:9".to_owned()),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let windows = BTreeMap::new();
    let kb_cache = HashMap::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("runner");
    group.sample_size(10);
    group.throughput(Throughput::Elements(HOSTS * DETECTIONS_PER_HOST));
    group.bench_function("run_sync_100k_detections", |b| {
        b.iter(|| {
            let input = RunInput {
                instance_id: "bench",
                config: &config,
                now_ms: 1_700_000_000_000,
                last_windows: &windows,
                kb_cache: &kb_cache,
                observer: &NoProgress,
            };
            let mut sink = CountingSink(0);
            runtime
                .block_on(run_sync(&source, &mut sink, &input))
                .unwrap();
            black_box(sink.0)
        });
    });
    group.finish();
}

criterion_group!(benches, bench_converter, bench_runner);
criterion_main!(benches);
