//! Steps for the account, the services and the VM hosts.

use std::collections::HashSet;

use futures_util::StreamExt;
use qgraph_model::{GraphObject, GraphSink, StepError};
use qgraph_qualys::{HostDetections, HostIdRange};

use super::emit::StepWriter;
use super::{RunState, StepContext};
use crate::config::{Config, DetectionType};
use crate::convert::{
    FindingOptions, account_entity, host_finding_entity, host_finding_key, host_scans_relationship,
    host_targets, service_entities, service_relationships,
};
use crate::source::{DetectionQuery, HostIdQuery, QualysSource};

/// Host ids per Asset Management search.
pub const HOST_ASSET_CHUNK: usize = 250;
/// Host ids per host detection request.
pub const DETECTION_CHUNK: usize = 1000;
/// Most host ids one run accepts; a larger `ID_RANGE` is treated as a bad page
/// instead of exhausting memory.
pub const MAX_HOST_IDS: u64 = 10_000_000;

pub(crate) fn account<S: QualysSource, K: GraphSink>(
    context: &StepContext<'_, S>,
    writer: &mut StepWriter<'_, K>,
    state: &mut RunState,
) -> Result<(), K::Error> {
    let input = context.input;
    match account_entity(
        input.instance_id,
        &input.config.account_name,
        &input.config.api_url,
        context.portal,
    ) {
        Ok(entity) => {
            state.account = Some(entity.clone());
            writer.emit(GraphObject::Entity(entity))
        }
        Err(error) => {
            writer.record_model_error(&error);
            Ok(())
        }
    }
}

pub(crate) fn services<S: QualysSource, K: GraphSink>(
    context: &StepContext<'_, S>,
    writer: &mut StepWriter<'_, K>,
    state: &RunState,
) -> Result<(), K::Error> {
    let services = match service_entities(context.portal) {
        Ok(services) => services,
        Err(error) => {
            writer.record_model_error(&error);
            return Ok(());
        }
    };
    if let Some(account) = &state.account {
        match service_relationships(account, &services) {
            Ok(relationships) => {
                for relationship in relationships {
                    writer.emit(GraphObject::Relationship(relationship))?;
                }
            }
            Err(error) => writer.record_model_error(&error),
        }
    }
    for service in services {
        writer.emit(GraphObject::Entity(service))?;
    }
    Ok(())
}

pub(crate) async fn host_ids<S: QualysSource, K: GraphSink>(
    context: &StepContext<'_, S>,
    writer: &mut StepWriter<'_, K>,
    state: &mut RunState,
) -> Result<(), K::Error> {
    let window = &context.windows.scanned_hosts;
    let query = HostIdQuery {
        processed_after_ms: window.start_ms,
        processed_before_ms: window.end_ms,
    };
    let mut ids: Vec<u64> = Vec::new();
    let mut stream = context.source.scanned_host_ids(&query);
    while let Some(item) = stream.next().await {
        match item {
            Ok(range) => add_range(writer, &mut ids, range),
            Err(error) => writer.record_source_error(&error),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    state.host_ids = ids;
    Ok(())
}

fn add_range<K: GraphSink>(writer: &mut StepWriter<'_, K>, ids: &mut Vec<u64>, range: HostIdRange) {
    if range.last < range.first || ids.len() as u64 + range.len() > MAX_HOST_IDS {
        writer.record_error(StepError {
            message: format!(
                "host id range {}-{} is reversed or exceeds {MAX_HOST_IDS} host ids in one run",
                range.first, range.last
            ),
            code: None,
            endpoint: None,
        });
        return;
    }
    ids.extend(range.ids());
}

pub(crate) async fn host_details<S: QualysSource, K: GraphSink>(
    context: &StepContext<'_, S>,
    writer: &mut StepWriter<'_, K>,
    state: &mut RunState,
) -> Result<(), K::Error> {
    let mut emitted_keys: HashSet<String> = HashSet::new();
    for chunk in state.host_ids.chunks(HOST_ASSET_CHUNK) {
        let mut stream = context.source.host_assets(chunk);
        while let Some(item) = stream.next().await {
            let asset = match item {
                Ok(asset) => asset,
                Err(error) => {
                    writer.record_source_error(&error);
                    continue;
                }
            };
            if let Some(host_id) = asset.qweb_host_id {
                state
                    .targets
                    .entry(host_id)
                    .or_default()
                    .merge(host_targets(&asset));
            }
            match host_scans_relationship(&asset) {
                Ok(Some(relationship)) if emitted_keys.insert(relationship.key.clone()) => {
                    writer.emit(GraphObject::Mapped(relationship))?;
                }
                Ok(_) => {}
                Err(error) => writer.record_model_error(&error),
            }
        }
    }
    state.host_details_failed = writer.has_errors();
    Ok(())
}

fn detection_query(config: &Config, context_window: &crate::window::Window) -> DetectionQuery {
    DetectionQuery {
        updated_since_ms: context_window.start_ms,
        updated_before_ms: context_window.end_ms,
        severities: config.finding_severities.clone(),
        include_info: config.wants_info_detections(),
        result_qids: config.result_qids.clone(),
        include_tags: config.include_only_tags.clone(),
    }
}

pub(crate) async fn host_detections<S: QualysSource, K: GraphSink>(
    context: &StepContext<'_, S>,
    writer: &mut StepWriter<'_, K>,
    state: &mut RunState,
) -> Result<(), K::Error> {
    let config = context.input.config;
    let query = detection_query(config, &context.windows.host_findings);
    let RunState {
        host_ids,
        targets,
        host_findings,
        host_details_failed,
        ..
    } = state;
    let mut hosts_left_as_stored: HashSet<u64> = HashSet::new();

    for chunk in host_ids.chunks(DETECTION_CHUNK) {
        let mut stream = context.source.host_detections(&query, chunk);
        while let Some(item) = stream.next().await {
            match item {
                // Without its details, a host's findings would be written
                // without their cloud ids and targets, erasing the stored ones.
                Ok(host) if *host_details_failed && !targets.contains_key(&host.host_id) => {
                    hosts_left_as_stored.insert(host.host_id);
                }
                // A host on two pages keeps the detections of both. The store
                // merges a finding found on both, and the later copy wins.
                Ok(host) => {
                    let host_targets = targets.get(&host.host_id);
                    emit_host_findings(config, writer, &host, host_targets, host_findings)?;
                }
                Err(error) => writer.record_source_error(&error),
            }
        }
    }
    if !hosts_left_as_stored.is_empty() {
        writer.record_error(StepError {
            message: format!(
                "the host details step failed, so the findings of {} hosts without details \
                 were left as stored; the next run reads them again",
                hosts_left_as_stored.len()
            ),
            code: None,
            endpoint: None,
        });
    }
    Ok(())
}

/// Returns true when the configuration requests this detection. Qualys
/// filters severities itself, but the type has no server-side filter.
fn is_requested(config: &Config, detection: &qgraph_qualys::Detection) -> bool {
    let type_ok = match DetectionType::parse(&detection.detection_type) {
        Some(detection_type) => config.finding_types.contains(&detection_type),
        None => detection.detection_type.trim().is_empty(),
    };
    let severity_ok = detection
        .severity
        .is_none_or(|s| config.finding_severities.contains(&s));
    type_ok && severity_ok
}

fn emit_host_findings<K: GraphSink>(
    config: &Config,
    writer: &mut StepWriter<'_, K>,
    host: &HostDetections,
    targets: Option<&crate::convert::HostTargets>,
    index: &mut super::findings::FindingIndex,
) -> Result<(), K::Error> {
    let options = FindingOptions {
        result_qids: &config.result_qids,
    };
    let mut keys: HashSet<String> = HashSet::new();
    for detection in &host.detections {
        if !is_requested(config, detection)
            || !keys.insert(host_finding_key(host.host_id, detection))
        {
            continue;
        }
        match host_finding_entity(host, detection, targets, options) {
            Ok(entity) => {
                index.push(host.host_id, detection);
                writer.emit(GraphObject::Entity(entity))?;
            }
            Err(error) => writer.record_model_error(&error),
        }
    }
    Ok(())
}
