//! The knowledge-base step: `qualys_vuln` and `cve` entities for every QID
//! found in this run, and the finding `IS` relationships to them.

use std::collections::{BTreeMap, HashSet};

use futures_util::StreamExt;
use qgraph_model::{Entity, GraphObject, GraphSink};
use qgraph_qualys::Vuln;

use super::emit::StepWriter;
use super::{KB_REFRESH_DAYS, KbEntry, RunState, StepContext};
use crate::convert::{
    cve_entity, finding_is_cve, finding_is_vuln, merge_cve, vuln_cve_ids, vuln_entity,
};
use crate::source::QualysSource;
use crate::steps::types;

/// QIDs per knowledge-base request.
pub const KB_CHUNK: usize = 250;

const MS_PER_DAY: i64 = 86_400_000;

pub(crate) async fn finding_vulns<S: QualysSource, K: GraphSink>(
    context: &StepContext<'_, S>,
    writer: &mut StepWriter<'_, K>,
    state: &mut RunState,
) -> Result<(), K::Error> {
    state.host_findings.sort();
    state.web_findings.sort_unstable();
    let qids = all_qids(state);
    let (cached, to_fetch) = split_cached(context, &qids);

    let mut cves: BTreeMap<String, Entity> = BTreeMap::new();
    let mut fetched: HashSet<u64> = HashSet::new();
    for chunk in to_fetch.chunks(KB_CHUNK) {
        let mut stream = context.source.knowledge_base(chunk);
        while let Some(item) = stream.next().await {
            match item {
                // The response may hold QIDs that were not asked for, or one twice.
                Ok(vuln) if chunk.binary_search(&vuln.qid).is_ok() && fetched.insert(vuln.qid) => {
                    emit_vuln(context, writer, state, &mut cves, &vuln)?;
                }
                Ok(_) => {}
                Err(error) => writer.record_source_error(&error),
            }
        }
    }

    for (qid, entry) in &cached {
        emit_relationships(writer, state, *qid, &entry.cve_ids)?;
    }
    for cve in cves.into_values() {
        writer.emit(GraphObject::Entity(cve))?;
    }
    if !writer.has_errors() {
        state.unknown_qids = to_fetch
            .into_iter()
            .filter(|q| !fetched.contains(q))
            .collect();
    }
    Ok(())
}

fn all_qids(state: &RunState) -> Vec<u64> {
    let mut qids = state.host_findings.qids();
    qids.extend(state.web_findings.iter().map(|(qid, _)| *qid));
    qids.sort_unstable();
    qids.dedup();
    qids
}

/// Splits QIDs into fresh cache entries and QIDs to fetch.
fn split_cached<S>(context: &StepContext<'_, S>, qids: &[u64]) -> (Vec<(u64, KbEntry)>, Vec<u64>) {
    let input = context.input;
    let oldest_fresh = input.now_ms - KB_REFRESH_DAYS * MS_PER_DAY;
    let mut cached = Vec::new();
    let mut to_fetch = Vec::new();
    for &qid in qids {
        match input.kb_cache.get(&qid) {
            Some(entry) if entry.fetched_on_ms >= oldest_fresh => cached.push((qid, entry.clone())),
            _ => to_fetch.push(qid),
        }
    }
    (cached, to_fetch)
}

fn emit_vuln<S, K: GraphSink>(
    context: &StepContext<'_, S>,
    writer: &mut StepWriter<'_, K>,
    state: &mut RunState,
    cves: &mut BTreeMap<String, Entity>,
    vuln: &Vuln,
) -> Result<(), K::Error> {
    let input = context.input;
    match vuln_entity(vuln, &input.config.api_url, input.now_ms) {
        Ok(entity) => writer.emit(GraphObject::Entity(entity))?,
        Err(error) => {
            writer.record_model_error(&error);
            return Ok(());
        }
    }
    for reference in &vuln.cves {
        match cve_entity(reference, vuln) {
            Ok(Some(cve)) => match cves.get_mut(&cve.key) {
                Some(existing) => merge_cve(existing, &cve),
                None => {
                    cves.insert(cve.key.clone(), cve);
                }
            },
            Ok(None) => {}
            Err(error) => writer.record_model_error(&error),
        }
    }

    let cve_ids = vuln_cve_ids(vuln);
    emit_relationships(writer, state, vuln.qid, &cve_ids)?;
    state.kb_entries.insert(
        vuln.qid,
        KbEntry {
            cve_ids,
            fetched_on_ms: input.now_ms,
        },
    );
    Ok(())
}

/// Emits `IS qualys_vuln` and `IS cve` for every finding of one QID.
fn emit_relationships<K: GraphSink>(
    writer: &mut StepWriter<'_, K>,
    state: &RunState,
    qid: u64,
    cve_ids: &[String],
) -> Result<(), K::Error> {
    let host_keys = state
        .host_findings
        .keys_for(qid)
        .map(|key| (key, types::HOST_FINDING));
    let start = state.web_findings.partition_point(|(q, _)| *q < qid);
    let web_keys = state.web_findings[start..]
        .iter()
        .take_while(|(q, _)| *q == qid)
        .map(|(_, key)| (key.clone(), types::WEB_APP_FINDING));

    for (finding_key, finding_type) in host_keys.chain(web_keys) {
        match finding_is_vuln(&finding_key, finding_type, qid) {
            Ok(relationship) => writer.emit(GraphObject::Relationship(relationship))?,
            Err(error) => writer.record_model_error(&error),
        }
        for cve_id in cve_ids {
            match finding_is_cve(&finding_key, finding_type, cve_id) {
                Ok(Some(relationship)) => writer.emit(GraphObject::Relationship(relationship))?,
                Ok(None) => {}
                Err(error) => writer.record_model_error(&error),
            }
        }
    }
    Ok(())
}
