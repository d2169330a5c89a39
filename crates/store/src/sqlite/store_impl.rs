//! [`GraphStore`] for [`SqliteStore`].

use super::read::{self, Table};
use super::sync::SqliteSyncRun;
use super::{SqliteStore, jobs, registry};
use crate::error::StoreError;
use crate::secret::Password;
use crate::store::GraphStore;
use crate::types::{
    Instance, InstanceId, JobRecord, KbEntry, NewInstance, RemovalReport, StoredEntity,
    StoredRelationship, SyncOptions, TypeCount,
};

impl GraphStore for SqliteStore {
    type Run<'a> = SqliteSyncRun<'a>;

    fn begin_sync(
        &self,
        instance: InstanceId,
        options: SyncOptions,
    ) -> Result<SqliteSyncRun<'_>, StoreError> {
        self.begin_sync_impl(instance, options)
    }

    fn create_instance(&self, new: NewInstance) -> Result<Instance, StoreError> {
        self.create_instance_impl(new)
    }

    fn instance(&self, id: InstanceId) -> Result<Instance, StoreError> {
        registry::find_instance(&self.conn(), id)
    }

    fn instance_by_name(&self, name: &str) -> Result<Option<Instance>, StoreError> {
        registry::instance_by_name(&self.conn(), name)
    }

    fn list_instances(&self) -> Result<Vec<Instance>, StoreError> {
        registry::list_instances(&self.conn())
    }

    fn update_instance_config(
        &self,
        id: InstanceId,
        config: serde_json::Value,
    ) -> Result<Instance, StoreError> {
        self.update_config_impl(id, config)
    }

    fn set_password(&self, id: InstanceId, password: Option<&Password>) -> Result<(), StoreError> {
        self.set_password_impl(id, password)
    }

    fn password(&self, id: InstanceId) -> Result<Option<Password>, StoreError> {
        self.password_impl(id)
    }

    fn remove_instance(&self, id: InstanceId, now_ms: i64) -> Result<RemovalReport, StoreError> {
        self.remove_instance_impl(id, now_ms)
    }

    fn jobs(&self, id: InstanceId, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        jobs::jobs(&self.conn(), id, limit)
    }

    fn window_end(&self, id: InstanceId, data_set: &str) -> Result<Option<i64>, StoreError> {
        jobs::window_end(&self.conn(), id, data_set)
    }

    fn kb_get(&self, qids: &[i64]) -> Result<Vec<KbEntry>, StoreError> {
        jobs::kb_get(&self.conn(), qids)
    }

    fn kb_put(&self, entries: &[KbEntry]) -> Result<(), StoreError> {
        jobs::kb_put(&mut self.conn(), entries)
    }

    fn entity(&self, instance: InstanceId, key: &str) -> Result<Option<StoredEntity>, StoreError> {
        read::entity(&self.conn(), instance, key)
    }

    fn entities_by_key(&self, key: &str) -> Result<Vec<StoredEntity>, StoreError> {
        read::entities_by_key(&self.conn(), key)
    }

    fn entity_by_id(&self, id: i64) -> Result<Option<StoredEntity>, StoreError> {
        read::entity_by_id(&self.conn(), id)
    }

    fn entities_by_type(
        &self,
        entity_type: &str,
        limit: usize,
    ) -> Result<Vec<StoredEntity>, StoreError> {
        read::entities_by_type(&self.conn(), entity_type, limit)
    }

    fn entities_by_class(
        &self,
        class: &str,
        limit: usize,
    ) -> Result<Vec<StoredEntity>, StoreError> {
        read::entities_by_class(&self.conn(), class, limit)
    }

    fn relationships_of(&self, entity_id: i64) -> Result<Vec<StoredRelationship>, StoreError> {
        read::relationships_of(&self.conn(), entity_id)
    }

    fn count_entities_by_type(&self) -> Result<Vec<TypeCount>, StoreError> {
        read::count_by_type(&self.conn(), Table::Entities)
    }

    fn count_relationships_by_type(&self) -> Result<Vec<TypeCount>, StoreError> {
        read::count_by_type(&self.conn(), Table::Relationships)
    }
}
