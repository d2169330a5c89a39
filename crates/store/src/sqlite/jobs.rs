//! Job history, sync state and the knowledge-base cache.

use rusqlite::{Connection, OptionalExtension, params};

use super::read::{limit_param, parse_json, to_json};
use super::sync::{STOPPED_JOB_ERROR, process};
use crate::error::StoreError;
use crate::types::{InstanceId, JobRecord, JobStatus, JobStepRecord, KbEntry, SyncReport};

pub(crate) fn jobs(
    conn: &Connection,
    id: InstanceId,
    limit: usize,
) -> Result<Vec<JobRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, started_on, ended_on, status, counts, error, process FROM jobs \
         WHERE instance_id = ?1 ORDER BY started_on DESC, id DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![id.0, limit_param(limit)], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, Option<i64>>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, Option<String>>(6)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;

    let mut records = Vec::with_capacity(rows.len());
    for (job_id, started_on, ended_on, status, counts, mut error, owner) in rows {
        let mut status = JobStatus::parse(&status);
        if status == JobStatus::Running && owner.as_deref().is_some_and(owner_has_stopped) {
            // The next run of the instance records this; show it already.
            status = JobStatus::Aborted;
            error.get_or_insert_with(|| STOPPED_JOB_ERROR.to_owned());
        }
        let report: Option<SyncReport> = if counts == "{}" {
            None
        } else {
            Some(parse_json(&counts, "jobs.counts")?)
        };
        records.push(JobRecord {
            id: job_id,
            instance_id: id,
            started_on,
            ended_on,
            status,
            report,
            error,
            steps: job_steps(conn, job_id)?,
        });
    }
    Ok(records)
}

/// Returns true when the process a RUNNING job names is known to be gone.
/// Where `/proc` cannot tell (no process identity for this process either),
/// the job is left as RUNNING.
fn owner_has_stopped(owner: &str) -> bool {
    process::current().is_some() && process::alive(owner).is_none()
}

fn job_steps(conn: &Connection, job_id: i64) -> Result<Vec<JobStepRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT step_id, status, started_on, ended_on, counts, errors FROM job_steps \
         WHERE job_id = ?1 ORDER BY started_on, step_id",
    )?;
    let rows = stmt
        .query_map(params![job_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(step_id, status, started_on, ended_on, counts, errors)| {
            Ok(JobStepRecord {
                step_id,
                status: parse_json(&format!("\"{status}\""), "job_steps.status")?,
                started_on,
                ended_on,
                counts: parse_json(&counts, "job_steps.counts")?,
                errors: parse_json(&errors, "job_steps.errors")?,
            })
        })
        .collect()
}

/// Records the steps of a job.
pub(crate) fn insert_steps(
    conn: &Connection,
    job_id: i64,
    results: &[qgraph_model::StepResult],
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR REPLACE INTO job_steps (job_id, step_id, status, started_on, ended_on, counts, errors) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for result in results {
        let status = to_json(&result.status, "step status")?;
        stmt.execute(params![
            job_id,
            result.id,
            status.trim_matches('"'),
            result.started_on,
            result.ended_on,
            to_json(&result.counts, "step counts")?,
            to_json(&result.errors, "step errors")?,
        ])?;
    }
    Ok(())
}

pub(crate) fn window_end(
    conn: &Connection,
    id: InstanceId,
    data_set: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT window_end_on FROM sync_state WHERE instance_id = ?1 AND data_set = ?2",
            params![id.0, data_set],
            |row| row.get(0),
        )
        .optional()?)
}

pub(crate) fn set_window_end(
    conn: &Connection,
    id: InstanceId,
    data_set: &str,
    window_end_on: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sync_state (instance_id, data_set, window_end_on) VALUES (?1, ?2, ?3) \
         ON CONFLICT (instance_id, data_set) DO UPDATE SET window_end_on = excluded.window_end_on",
        params![id.0, data_set, window_end_on],
    )?;
    Ok(())
}

pub(crate) fn kb_get(conn: &Connection, qids: &[i64]) -> Result<Vec<KbEntry>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT qid, document, fetched_on FROM kb_cache WHERE qid = ?1")?;
    let mut entries = Vec::new();
    for qid in qids {
        let row: Option<(i64, String, i64)> = stmt
            .query_row(params![qid], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()?;
        if let Some((qid, document, fetched_on)) = row {
            entries.push(KbEntry {
                qid,
                document: parse_json(&document, "kb_cache.document")?,
                fetched_on,
            });
        }
    }
    Ok(entries)
}

pub(crate) fn kb_put(conn: &mut Connection, entries: &[KbEntry]) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO kb_cache (qid, document, fetched_on) VALUES (?1, ?2, ?3) \
             ON CONFLICT (qid) DO UPDATE SET document = excluded.document, fetched_on = excluded.fetched_on",
        )?;
        for entry in entries {
            stmt.execute(params![
                entry.qid,
                to_json(&entry.document, "knowledge-base entry")?,
                entry.fetched_on
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}
