//! The storage trait every backend implements.

use qgraph_model::{GraphSink, StepDeclaration, StepResult};

use crate::error::StoreError;
use crate::secret::Password;
use crate::types::{
    Instance, InstanceId, JobRecord, KbEntry, NewInstance, RemovalReport, StoredEntity,
    StoredRelationship, SyncOptions, SyncReport, TypeCount,
};

/// One sync run of an instance: the sink its steps write to, then one commit.
///
/// Objects are staged as they arrive, so memory stays bounded by the batch.
/// Nothing reaches the graph before [`SyncRun::commit`], which applies the
/// whole run in one transaction. Dropping a run without committing discards
/// it and records the job as aborted.
pub trait SyncRun: GraphSink<Error = StoreError> {
    /// Returns the job id of this run.
    fn job_id(&self) -> i64;

    /// Records the end of the incremental window of `data_set` (epoch
    /// milliseconds). It is stored only if the run commits.
    fn set_window_end(&mut self, data_set: &str, window_end_on: i64);

    /// Stages host ids that Qualys still lists. After
    /// [`SyncRun::set_host_list_complete`], findings whose host id is not
    /// among them are deleted at commit.
    fn add_listed_hosts(&mut self, host_ids: &[String]) -> Result<(), StoreError>;

    /// Declares that every listed host id was staged.
    fn set_host_list_complete(&mut self);

    /// Sets the status the job records, when the caller knows more than the
    /// step statuses tell: a run whose only successful steps built objects
    /// without fetching anything failed. Without it the commit derives the
    /// status from the steps.
    fn set_run_status(&mut self, status: qgraph_model::RunStatus);

    /// Diffs the run against the instance's previous graph, applies creates,
    /// updates and deletes, runs the mapper and records the job, all in one
    /// transaction. Types of failed steps are partial: nothing of them is deleted.
    fn commit(
        self,
        steps: &[StepDeclaration],
        results: &[StepResult],
    ) -> Result<SyncReport, StoreError>;

    /// Discards the run and records the job as failed with `error`.
    fn abort(self, error: &str) -> Result<(), StoreError>;
}

/// A graph store: sync runs, the instance registry, job history, sync state,
/// the knowledge-base cache and simple graph reads.
pub trait GraphStore {
    /// The sync run type of this backend.
    type Run<'a>: SyncRun
    where
        Self: 'a;

    /// Starts a sync run of `instance`. Jobs of the instance left `RUNNING`
    /// by a process that died are marked aborted first.
    fn begin_sync(
        &self,
        instance: InstanceId,
        options: SyncOptions,
    ) -> Result<Self::Run<'_>, StoreError>;

    /// Registers an instance, encrypting its password.
    fn create_instance(&self, new: NewInstance) -> Result<Instance, StoreError>;

    /// Returns an instance by id.
    fn instance(&self, id: InstanceId) -> Result<Instance, StoreError>;

    /// Returns an instance by name, if registered.
    fn instance_by_name(&self, name: &str) -> Result<Option<Instance>, StoreError>;

    /// Returns every registered instance except the mapper scope, by id.
    fn list_instances(&self) -> Result<Vec<Instance>, StoreError>;

    /// Replaces an instance's configuration (the password is kept).
    fn update_instance_config(
        &self,
        id: InstanceId,
        config: serde_json::Value,
    ) -> Result<Instance, StoreError>;

    /// Stores (or with `None` removes) an instance's encrypted password.
    fn set_password(&self, id: InstanceId, password: Option<&Password>) -> Result<(), StoreError>;

    /// Decrypts an instance's password for the one caller that must send it to Qualys.
    fn password(&self, id: InstanceId) -> Result<Option<Password>, StoreError>;

    /// Deletes an instance with its configuration, credentials, jobs, sync
    /// state and every entity and relationship it owns, then lets the mapper
    /// re-resolve what pointed at them.
    fn remove_instance(&self, id: InstanceId, now_ms: i64) -> Result<RemovalReport, StoreError>;

    /// Returns the latest `limit` jobs of an instance, newest first.
    fn jobs(&self, id: InstanceId, limit: usize) -> Result<Vec<JobRecord>, StoreError>;

    /// Returns the end of the last committed window of a data set.
    fn window_end(&self, id: InstanceId, data_set: &str) -> Result<Option<i64>, StoreError>;

    /// Returns the cached knowledge-base entries among `qids`.
    fn kb_get(&self, qids: &[i64]) -> Result<Vec<KbEntry>, StoreError>;

    /// Inserts or replaces knowledge-base entries.
    fn kb_put(&self, entries: &[KbEntry]) -> Result<(), StoreError>;

    /// Returns the entity with `key` in `instance`.
    fn entity(&self, instance: InstanceId, key: &str) -> Result<Option<StoredEntity>, StoreError>;

    /// Returns every entity with `key`, in any instance, by id.
    fn entities_by_key(&self, key: &str) -> Result<Vec<StoredEntity>, StoreError>;

    /// Returns the entity with row id `id`.
    fn entity_by_id(&self, id: i64) -> Result<Option<StoredEntity>, StoreError>;

    /// Returns up to `limit` entities of a `_type`, by id.
    fn entities_by_type(
        &self,
        entity_type: &str,
        limit: usize,
    ) -> Result<Vec<StoredEntity>, StoreError>;

    /// Returns up to `limit` entities with a `_class`, by id.
    fn entities_by_class(&self, class: &str, limit: usize)
    -> Result<Vec<StoredEntity>, StoreError>;

    /// Returns the relationships from or to an entity, by id.
    fn relationships_of(&self, entity_id: i64) -> Result<Vec<StoredRelationship>, StoreError>;

    /// Counts entities by `_type`, in type order.
    fn count_entities_by_type(&self) -> Result<Vec<TypeCount>, StoreError>;

    /// Counts relationships by `_type`, in type order.
    fn count_relationships_by_type(&self) -> Result<Vec<TypeCount>, StoreError>;
}
