//! Steps for WAS web apps and their findings.

use std::collections::HashSet;

use futures_util::StreamExt;
use qgraph_model::{GraphObject, GraphSink};

use super::emit::StepWriter;
use super::{RunState, StepContext};
use crate::convert::{
    web_app_finding_entity, web_app_finding_key, web_app_identified_finding,
    web_app_scans_relationship,
};
use crate::source::{QualysSource, WebAppFindingQuery, WebAppQuery};

pub(crate) async fn web_apps<S: QualysSource, K: GraphSink>(
    context: &StepContext<'_, S>,
    writer: &mut StepWriter<'_, K>,
    state: &mut RunState,
) -> Result<(), K::Error> {
    let query = WebAppQuery {
        scanned_since_ms: context.windows.web_apps.start_ms,
        ids: context.input.config.web_app_ids.clone(),
    };
    let mut seen: HashSet<u64> = HashSet::new();
    let mut stream = context.source.web_apps(&query);
    while let Some(item) = stream.next().await {
        match item {
            Ok(app) if seen.insert(app.id) => {
                state.web_app_ids.push(app.id);
                match web_app_scans_relationship(&app) {
                    Ok(relationship) => writer.emit(GraphObject::Mapped(relationship))?,
                    Err(error) => writer.record_model_error(&error),
                }
            }
            Ok(_) => {}
            Err(error) => writer.record_source_error(&error),
        }
    }
    Ok(())
}

pub(crate) async fn web_app_findings<S: QualysSource, K: GraphSink>(
    context: &StepContext<'_, S>,
    writer: &mut StepWriter<'_, K>,
    state: &mut RunState,
) -> Result<(), K::Error> {
    // A finding's detection date changes only when its app is scanned, so
    // the apps of the previous step are the ones whose findings can be new.
    if state.web_app_ids.is_empty() {
        return Ok(());
    }
    let query = WebAppFindingQuery {
        detected_since_ms: context.windows.web_app_findings.start_ms,
        web_app_ids: state.web_app_ids.clone(),
    };
    let mut seen: HashSet<String> = HashSet::new();
    let mut stream = context.source.web_app_findings(&query);
    while let Some(item) = stream.next().await {
        let finding = match item {
            Ok(finding) => finding,
            Err(error) => {
                writer.record_source_error(&error);
                continue;
            }
        };
        // Offset pages can overlap when findings are added during paging.
        if !seen.insert(web_app_finding_key(&finding)) {
            continue;
        }
        let entity = match web_app_finding_entity(&finding) {
            Ok(entity) => entity,
            Err(error) => {
                writer.record_model_error(&error);
                continue;
            }
        };
        match web_app_identified_finding(&entity) {
            Ok(relationship) => writer.emit(GraphObject::Relationship(relationship))?,
            Err(error) => writer.record_model_error(&error),
        }
        if let Some(qid) = finding.qid {
            state.web_findings.push((qid, entity.key.clone()));
        }
        writer.emit(GraphObject::Entity(entity))?;
    }
    Ok(())
}
