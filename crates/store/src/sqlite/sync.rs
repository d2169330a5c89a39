//! A sync run: staging in temporary tables, then one committing transaction.

use qgraph_model::{
    Entity, GraphObject, GraphSink, MappedRelationship, Relationship, RunStatus, StepDeclaration,
    StepResult, StepStatus, partial_types,
};
use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use super::SqliteStore;
use super::diff;
use super::read::to_json;
use crate::error::StoreError;
use crate::store::SyncRun;
use crate::types::{InstanceId, InstanceKind, JobStatus, SyncOptions, SyncReport};

/// Names of one run's temporary tables. Temporary tables live only in this
/// connection and vanish with the process, so a killed run leaves nothing to
/// clean up in the database file.
#[derive(Debug, Clone)]
pub(crate) struct Stage {
    pub entities: String,
    pub relationships: String,
    pub mapped: String,
    pub hosts: String,
    pub changed: String,
}

impl Stage {
    fn new(job_id: i64) -> Self {
        Stage {
            entities: format!("stage_entities_{job_id}"),
            relationships: format!("stage_relationships_{job_id}"),
            mapped: format!("stage_mapped_{job_id}"),
            hosts: format!("stage_hosts_{job_id}"),
            changed: format!("stage_changed_{job_id}"),
        }
    }

    fn create(&self, conn: &Connection) -> Result<(), StoreError> {
        conn.execute_batch(&format!(
            "CREATE TEMP TABLE {e} (seq INTEGER PRIMARY KEY, entity_key TEXT NOT NULL, \
                 entity_type TEXT NOT NULL, classes TEXT NOT NULL, display_name TEXT, \
                 properties TEXT NOT NULL, raw_data TEXT, step_id TEXT);
             CREATE TEMP TABLE {r} (seq INTEGER PRIMARY KEY, relationship_key TEXT NOT NULL, \
                 relationship_type TEXT NOT NULL, class TEXT NOT NULL, from_key TEXT NOT NULL, \
                 to_key TEXT NOT NULL, display_name TEXT, properties TEXT NOT NULL, step_id TEXT);
             CREATE TEMP TABLE {m} (seq INTEGER PRIMARY KEY, relationship_key TEXT NOT NULL, \
                 relationship_type TEXT NOT NULL, class TEXT NOT NULL, display_name TEXT, \
                 properties TEXT NOT NULL, direction TEXT NOT NULL, source_entity_key TEXT NOT NULL, \
                 target_filter_keys TEXT NOT NULL, target_entity TEXT NOT NULL, \
                 skip_target_creation INTEGER NOT NULL, step_id TEXT);
             CREATE TEMP TABLE {h} (host_id TEXT PRIMARY KEY) WITHOUT ROWID;
             CREATE TEMP TABLE {c} (id INTEGER PRIMARY KEY);",
            e = self.entities,
            r = self.relationships,
            m = self.mapped,
            h = self.hosts,
            c = self.changed,
        ))?;
        Ok(())
    }

    fn drop_all(&self, conn: &Connection) -> Result<(), StoreError> {
        conn.execute_batch(&format!(
            "DROP TABLE IF EXISTS temp.{}; DROP TABLE IF EXISTS temp.{}; DROP TABLE IF EXISTS temp.{}; \
             DROP TABLE IF EXISTS temp.{}; DROP TABLE IF EXISTS temp.{};",
            self.entities, self.relationships, self.mapped, self.hosts, self.changed
        ))?;
        Ok(())
    }
}

/// A sync run of the SQLite backend.
#[derive(Debug)]
pub struct SqliteSyncRun<'a> {
    store: &'a SqliteStore,
    instance: InstanceId,
    kind: InstanceKind,
    job_id: i64,
    options: SyncOptions,
    stage: Stage,
    windows: Vec<(String, i64)>,
    host_list_complete: bool,
    /// The status set with [`SyncRun::set_run_status`], if any.
    run_status: Option<RunStatus>,
    finished: bool,
}

impl SqliteStore {
    pub(crate) fn begin_sync_impl(
        &self,
        instance: InstanceId,
        options: SyncOptions,
    ) -> Result<SqliteSyncRun<'_>, StoreError> {
        if !self.running().insert(instance) {
            return Err(StoreError::RunInProgress { instance });
        }
        match self.start_job(instance, &options) {
            Ok((job_id, kind, stage)) => Ok(SqliteSyncRun {
                store: self,
                instance,
                kind,
                job_id,
                options,
                stage,
                windows: Vec::new(),
                host_list_complete: false,
                run_status: None,
                finished: false,
            }),
            Err(error) => {
                self.running().remove(&instance);
                Err(error)
            }
        }
    }

    fn start_job(
        &self,
        instance: InstanceId,
        options: &SyncOptions,
    ) -> Result<(i64, InstanceKind, Stage), StoreError> {
        let mut conn = self.conn();
        let found = super::registry::find_instance(&conn, instance)?;
        let kind = found.kind;

        // The check and the new job row share one write transaction, so two
        // processes starting at once cannot both find the instance idle.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let this_process = process::current();
        for (job, alive) in running_jobs(&tx, instance)? {
            if let Some(process_id) = alive {
                return Err(StoreError::RunInProgressElsewhere {
                    instance,
                    name: found.name.clone(),
                    job,
                    process_id,
                });
            }
            // The process that started this job is gone (or it was this
            // process, whose own runs are tracked in memory): the job died.
            // When it stopped is not known, so the job gets no end time.
            tx.execute(
                &format!(
                    "UPDATE jobs SET status = 'ABORTED', ended_on = NULL, error = '{STOPPED_JOB_ERROR}' \
                     WHERE id = ?1"
                ),
                params![job],
            )?;
        }
        tx.execute(
            "INSERT INTO jobs (instance_id, started_on, status, process) \
             VALUES (?1, ?2, 'RUNNING', ?3)",
            params![instance.0, options.now_ms, this_process],
        )?;
        let job_id = tx.last_insert_rowid();
        tx.commit()?;
        let stage = Stage::new(job_id);
        stage.create(&conn)?;
        Ok((job_id, kind, stage))
    }
}

/// Returns the RUNNING jobs of `instance` with the pid of the other live
/// process that runs each. The pid is `None` when that process is gone or
/// is this process, whose own runs [`SqliteStore::running`] tracks.
pub(super) fn running_jobs(
    conn: &Connection,
    instance: InstanceId,
) -> Result<Vec<(i64, Option<u32>)>, StoreError> {
    let this_process = process::current();
    let running = conn
        .prepare("SELECT id, process FROM jobs WHERE instance_id = ?1 AND status = 'RUNNING'")?
        .query_map(params![instance.0], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Option<String>>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(running
        .into_iter()
        .map(|(job, owner)| {
            let alive = owner
                .as_deref()
                .filter(|owner| Some(*owner) != this_process.as_deref())
                .and_then(process::alive);
            (job, alive)
        })
        .collect())
}

impl GraphSink for SqliteSyncRun<'_> {
    type Error = StoreError;

    fn write(&mut self, step_id: &str, objects: Vec<GraphObject>) -> Result<(), StoreError> {
        let mut conn = self.store.conn();
        let tx = conn.transaction()?;
        {
            let mut writer = StageWriter::new(&tx, &self.stage)?;
            for object in &objects {
                match object {
                    GraphObject::Entity(entity) => writer.entity(step_id, entity)?,
                    GraphObject::Relationship(relationship) => {
                        writer.relationship(step_id, relationship)?;
                    }
                    GraphObject::Mapped(mapped) => writer.mapped(step_id, mapped)?,
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// Prepared inserts into a run's staging tables.
struct StageWriter<'t> {
    entity: rusqlite::CachedStatement<'t>,
    relationship: rusqlite::CachedStatement<'t>,
    mapped: rusqlite::CachedStatement<'t>,
}

impl<'t> StageWriter<'t> {
    fn new(tx: &'t Transaction<'_>, stage: &Stage) -> Result<Self, StoreError> {
        Ok(StageWriter {
            entity: tx.prepare_cached(&format!(
                "INSERT INTO temp.{} (entity_key, entity_type, classes, display_name, properties, \
                 raw_data, step_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                stage.entities
            ))?,
            relationship: tx.prepare_cached(&format!(
                "INSERT INTO temp.{} (relationship_key, relationship_type, class, from_key, to_key, \
                 display_name, properties, step_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                stage.relationships
            ))?,
            mapped: tx.prepare_cached(&format!(
                "INSERT INTO temp.{} (relationship_key, relationship_type, class, display_name, \
                 properties, direction, source_entity_key, target_filter_keys, target_entity, \
                 skip_target_creation, step_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                stage.mapped
            ))?,
        })
    }

    fn entity(&mut self, step_id: &str, entity: &Entity) -> Result<(), StoreError> {
        let raw_data = if entity.raw_data.is_empty() {
            None
        } else {
            Some(to_json(&entity.raw_data, "entity raw data")?)
        };
        self.entity.execute(params![
            entity.key,
            entity.entity_type,
            to_json(&entity.classes, "entity classes")?,
            entity.display_name,
            to_json(&entity.properties, "entity properties")?,
            raw_data,
            step_id,
        ])?;
        Ok(())
    }

    fn relationship(
        &mut self,
        step_id: &str,
        relationship: &Relationship,
    ) -> Result<(), StoreError> {
        self.relationship.execute(params![
            relationship.key,
            relationship.relationship_type,
            relationship.class.as_str(),
            relationship.from_key,
            relationship.to_key,
            relationship.display_name,
            to_json(&relationship.properties, "relationship properties")?,
            step_id,
        ])?;
        Ok(())
    }

    fn mapped(&mut self, step_id: &str, mapped: &MappedRelationship) -> Result<(), StoreError> {
        let mapping = &mapped.mapping;
        self.mapped.execute(params![
            mapped.key,
            mapped.relationship_type,
            mapped.class.as_str(),
            mapped.display_name,
            to_json(&mapped.properties, "mapped relationship properties")?,
            mapping.direction.as_str(),
            mapping.source_entity_key,
            to_json(&mapping.target_filter_keys, "target filter keys")?,
            to_json(&mapping.target_entity, "target entity")?,
            mapping.skip_target_creation,
            step_id,
        ])?;
        Ok(())
    }
}

impl SyncRun for SqliteSyncRun<'_> {
    fn job_id(&self) -> i64 {
        self.job_id
    }

    fn set_window_end(&mut self, data_set: &str, window_end_on: i64) {
        self.windows.retain(|(name, _)| name != data_set);
        self.windows.push((data_set.to_owned(), window_end_on));
    }

    fn add_listed_hosts(&mut self, host_ids: &[String]) -> Result<(), StoreError> {
        let mut conn = self.store.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(&format!(
                "INSERT OR IGNORE INTO temp.{} (host_id) VALUES (?1)",
                self.stage.hosts
            ))?;
            for host_id in host_ids {
                stmt.execute(params![host_id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn set_host_list_complete(&mut self) {
        self.host_list_complete = true;
    }

    fn set_run_status(&mut self, status: RunStatus) {
        self.run_status = Some(status);
    }

    fn commit(
        mut self,
        steps: &[StepDeclaration],
        results: &[StepResult],
    ) -> Result<SyncReport, StoreError> {
        let report = self.commit_inner(steps, results);
        if let Err(error) = &report {
            self.record_failure(&error.to_string());
        }
        self.finish();
        report
    }

    fn abort(mut self, error: &str) -> Result<(), StoreError> {
        let result = self.record_end(JobStatus::Failure, Some(error));
        self.finish();
        result
    }
}

impl SqliteSyncRun<'_> {
    fn commit_inner(
        &mut self,
        steps: &[StepDeclaration],
        results: &[StepResult],
    ) -> Result<SyncReport, StoreError> {
        let status = self
            .run_status
            .unwrap_or_else(|| run_status(steps, results));
        let mut report = SyncReport {
            job_id: self.job_id,
            status: Some(status),
            partial_types: partial_types(steps, results),
            ..SyncReport::default()
        };

        let mut conn = self.store.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let context = diff::Context {
            instance: self.instance,
            source: self.kind.source(),
            now_ms: self.options.now_ms,
            stage: &self.stage,
            partial_types: to_json(&report.partial_types, "partial types")?,
        };
        diff::apply(
            &tx,
            &context,
            &self.options.findings,
            self.host_list_complete,
            &mut report,
        )?;

        for (data_set, window_end_on) in &self.windows {
            super::jobs::set_window_end(&tx, self.instance, data_set, *window_end_on)?;
        }
        super::jobs::insert_steps(&tx, self.job_id, results)?;
        tx.execute(
            "UPDATE jobs SET status = ?2, ended_on = ?3, counts = ?4 WHERE id = ?1",
            params![
                self.job_id,
                JobStatus::from(status).as_str(),
                super::now_ms().max(self.options.now_ms),
                to_json(&report, "job counts")?,
            ],
        )?;
        self.stage.drop_all(&tx)?;
        tx.commit()?;
        Ok(report)
    }

    fn record_end(&self, status: JobStatus, error: Option<&str>) -> Result<(), StoreError> {
        let conn = self.store.conn();
        self.stage.drop_all(&conn)?;
        conn.execute(
            "UPDATE jobs SET status = ?2, ended_on = ?3, error = ?4 WHERE id = ?1",
            params![
                self.job_id,
                status.as_str(),
                super::now_ms().max(self.options.now_ms),
                error
            ],
        )?;
        Ok(())
    }

    fn record_failure(&self, error: &str) {
        if let Err(record_error) = self.record_end(JobStatus::Failure, Some(error)) {
            tracing::warn!(job = self.job_id, error = %record_error, "failed to record the failed commit of a sync job");
        }
    }

    fn finish(&mut self) {
        self.finished = true;
        self.store.running().remove(&self.instance);
    }
}

impl Drop for SqliteSyncRun<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Err(error) = self.record_end(
            JobStatus::Aborted,
            Some("the sync run was dropped before it committed"),
        ) {
            tracing::warn!(job = self.job_id, %error, "failed to record an abandoned sync job");
        }
        self.finish();
    }
}

/// Derives a run's status: any failed (or dependency-failed, or missing)
/// step makes it partial, and it fails when no enabled step succeeded.
fn run_status(steps: &[StepDeclaration], results: &[StepResult]) -> RunStatus {
    let mut enabled = 0usize;
    let mut incomplete = 0usize;
    for step in steps {
        let status = results.iter().find(|r| r.id == step.id).map(|r| r.status);
        match status {
            Some(StepStatus::Disabled) => {}
            Some(StepStatus::Success) => enabled += 1,
            None | Some(StepStatus::Failure | StepStatus::PartialSuccessDueToDependencyFailure) => {
                enabled += 1;
                incomplete += 1;
            }
        }
    }
    if incomplete == 0 {
        RunStatus::Success
    } else if incomplete == enabled {
        RunStatus::Failure
    } else {
        RunStatus::PartialSuccess
    }
}

/// The error of a job whose process stopped before it committed. It has no
/// quote, because it is written into SQL text.
pub(super) const STOPPED_JOB_ERROR: &str =
    "the process running this job stopped before it committed";

/// Identifies processes across a pid's reuse, from `/proc` on Linux.
pub(super) mod process {
    /// Returns `<pid>:<start time>` of this process, or `None` where `/proc`
    /// does not tell.
    pub(in crate::sqlite) fn current() -> Option<String> {
        let pid = std::process::id();
        start_time(pid).map(|start| format!("{pid}:{start}"))
    }

    /// Returns the pid of the process `identity` names when that process
    /// still runs: same pid and same start time.
    pub(in crate::sqlite) fn alive(identity: &str) -> Option<u32> {
        let (pid, start) = identity.split_once(':')?;
        let pid: u32 = pid.parse().ok()?;
        (start_time(pid)?.to_string() == start).then_some(pid)
    }

    /// Returns the start time of a running process in clock ticks since boot,
    /// field 22 of `/proc/<pid>/stat`. A zombie (state `Z`, killed but not
    /// yet reaped) or a missing process gives `None`. The command name
    /// (field 2) may contain spaces and parentheses, so fields are counted
    /// after its closing parenthesis.
    fn start_time(pid: u32) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (_, after_name) = stat.rsplit_once(')')?;
        let mut fields = after_name.split_whitespace();
        if fields.next()? == "Z" {
            return None;
        }
        fields.nth(18)?.parse().ok()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        #[cfg(target_os = "linux")]
        fn this_process_is_alive_and_a_made_up_one_is_not() {
            let me = super::current().expect("Linux has /proc/self/stat");
            assert_eq!(super::alive(&me), Some(std::process::id()));
            let (pid, start) = me.split_once(':').expect("pid:start");
            let other_start = format!("{pid}:{}", start.parse::<u64>().expect("number") + 1);
            assert_eq!(
                super::alive(&other_start),
                None,
                "a reused pid is not the same process"
            );
            assert_eq!(super::alive("4294967295:1"), None);
            assert_eq!(super::alive("not a process"), None);
        }
    }
}
