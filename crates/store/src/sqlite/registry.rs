//! The instance registry: configuration, encrypted passwords and uninstall.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use super::read::{parse_json, to_json};
use crate::error::StoreError;
use crate::secret::Password;
use crate::types::{
    Instance, InstanceId, InstanceKind, MAPPER_INSTANCE, NewInstance, RemovalReport,
};

/// The stored nonce and ciphertext of a password, both NULL when none is set.
type SealedPassword = (Option<Vec<u8>>, Option<Vec<u8>>);

const INSTANCE_COLUMNS: &str =
    "id, name, kind, config, password_ciphertext IS NOT NULL, created_on, updated_on";

struct InstanceRow {
    id: i64,
    name: String,
    kind: String,
    config: String,
    has_password: bool,
    created_on: i64,
    updated_on: i64,
}

fn instance_row(row: &Row<'_>) -> rusqlite::Result<InstanceRow> {
    Ok(InstanceRow {
        id: row.get(0)?,
        name: row.get(1)?,
        kind: row.get(2)?,
        config: row.get(3)?,
        has_password: row.get(4)?,
        created_on: row.get(5)?,
        updated_on: row.get(6)?,
    })
}

fn decode(row: InstanceRow) -> Result<Instance, StoreError> {
    Ok(Instance {
        id: InstanceId(row.id),
        name: row.name,
        kind: InstanceKind::parse(&row.kind),
        config: parse_json(&row.config, "instances.config")?,
        has_password: row.has_password,
        created_on: row.created_on,
        updated_on: row.updated_on,
    })
}

pub(crate) fn find_instance(conn: &Connection, id: InstanceId) -> Result<Instance, StoreError> {
    let sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = ?1");
    let row = conn
        .query_row(&sql, params![id.0], instance_row)
        .optional()?
        .ok_or_else(|| StoreError::InstanceNotFound(id.to_string()))?;
    decode(row)
}

pub(crate) fn instance_by_name(
    conn: &Connection,
    name: &str,
) -> Result<Option<Instance>, StoreError> {
    let sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE name = ?1");
    conn.query_row(&sql, params![name], instance_row)
        .optional()?
        .map(decode)
        .transpose()
}

pub(crate) fn list_instances(conn: &Connection) -> Result<Vec<Instance>, StoreError> {
    let sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE id != 0 ORDER BY id");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map([], instance_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(decode).collect()
}

fn reject_mapper(id: InstanceId) -> Result<(), StoreError> {
    if id == MAPPER_INSTANCE {
        return Err(StoreError::ReservedInstance);
    }
    Ok(())
}

impl SqliteStore {
    pub(crate) fn create_instance_impl(&self, new: NewInstance) -> Result<Instance, StoreError> {
        if new.kind == InstanceKind::Mapper {
            return Err(StoreError::ReservedInstance);
        }
        // Load the key before writing, so a missing key leaves no half-made instance.
        let key = match &new.password {
            Some(_) => Some(self.secret_key_for_new_password(None)?),
            None => None,
        };
        let config = to_json(&new.config, "instance configuration")?;
        let now = super::now_ms();

        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if instance_by_name(&tx, &new.name)?.is_some() {
            return Err(StoreError::InstanceExists(new.name));
        }
        tx.execute(
            "INSERT INTO instances (name, kind, config, created_on, updated_on) VALUES (?1, ?2, ?3, ?4, ?4)",
            params![new.name, new.kind.as_str(), config, now],
        )?;
        let id = InstanceId(tx.last_insert_rowid());
        if let (Some(key), Some(password)) = (key, &new.password) {
            let (nonce, ciphertext) = key.encrypt(id, password)?;
            tx.execute(
                "UPDATE instances SET password_nonce = ?2, password_ciphertext = ?3 WHERE id = ?1",
                params![id.0, nonce, ciphertext],
            )?;
        }
        let instance = find_instance(&tx, id)?;
        tx.commit()?;
        Ok(instance)
    }

    pub(crate) fn update_config_impl(
        &self,
        id: InstanceId,
        config: serde_json::Value,
    ) -> Result<Instance, StoreError> {
        reject_mapper(id)?;
        let config = to_json(&config, "instance configuration")?;
        let conn = self.conn();
        let changed = conn.execute(
            "UPDATE instances SET config = ?2, updated_on = ?3 WHERE id = ?1",
            params![id.0, config, super::now_ms()],
        )?;
        if changed == 0 {
            return Err(StoreError::InstanceNotFound(id.to_string()));
        }
        find_instance(&conn, id)
    }

    pub(crate) fn set_password_impl(
        &self,
        id: InstanceId,
        password: Option<&Password>,
    ) -> Result<(), StoreError> {
        reject_mapper(id)?;
        let sealed = match password {
            Some(password) => Some(
                self.secret_key_for_new_password(Some(id))?
                    .encrypt(id, password)?,
            ),
            None => None,
        };
        let (nonce, ciphertext) = sealed.unzip();
        let conn = self.conn();
        let changed = conn.execute(
            "UPDATE instances SET password_nonce = ?2, password_ciphertext = ?3, updated_on = ?4 WHERE id = ?1",
            params![id.0, nonce, ciphertext, super::now_ms()],
        )?;
        if changed == 0 {
            return Err(StoreError::InstanceNotFound(id.to_string()));
        }
        Ok(())
    }

    pub(crate) fn password_impl(&self, id: InstanceId) -> Result<Option<Password>, StoreError> {
        let sealed: Option<(String, SealedPassword)> = self
            .conn()
            .query_row(
                "SELECT name, password_nonce, password_ciphertext FROM instances WHERE id = ?1",
                params![id.0],
                |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?))),
            )
            .optional()?;
        match sealed {
            None => Err(StoreError::InstanceNotFound(id.to_string())),
            Some((name, (Some(nonce), Some(ciphertext)))) => self
                .secret_key()?
                .decrypt(id, &nonce, &ciphertext)
                .map(Some)
                .map_err(|error| match error {
                    StoreError::Decrypt { .. } => StoreError::Decrypt { instance: name },
                    other => other,
                }),
            Some(_) => Ok(None),
        }
    }

    pub(crate) fn remove_instance_impl(
        &self,
        id: InstanceId,
        now_ms: i64,
    ) -> Result<RemovalReport, StoreError> {
        reject_mapper(id)?;
        if self.running().contains(&id) {
            return Err(StoreError::RunInProgress { instance: id });
        }
        let mut conn = self.conn();
        // The check and the deletes share one write transaction, as a new
        // run's check and job row do, so no run can start in between.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let name = find_instance(&tx, id)?.name;
        // Deleting the job row of a live run would make its commit fail on a
        // foreign key. A dead process's RUNNING job is deleted with the rest.
        let live = super::sync::running_jobs(&tx, id)?
            .into_iter()
            .find_map(|(job, alive)| alive.map(|process_id| (job, process_id)));
        if let Some((job, process_id)) = live {
            return Err(StoreError::RunInProgressElsewhere {
                instance: id,
                name,
                job,
                process_id,
            });
        }
        let count = |sql: &str| -> Result<u64, StoreError> {
            let n: i64 = tx.query_row(sql, params![id.0], |row| row.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        let report = RemovalReport {
            entities_deleted: count("SELECT count(*) FROM entities WHERE instance_id = ?1")?,
            relationships_deleted: count(
                "SELECT count(*) FROM relationships WHERE instance_id = ?1",
            )?,
            jobs_deleted: count("SELECT count(*) FROM jobs WHERE instance_id = ?1")?,
        };

        // Entities whose rule relationships go with this instance's entities
        // (findings of its hosts) are decided again below.
        let changed = format!("removal_changed_{}", id.0);
        let created_after: i64 =
            tx.query_row("SELECT coalesce(max(id), 0) FROM entities", [], |row| {
                row.get(0)
            })?;
        tx.execute_batch(&format!(
            "DROP TABLE IF EXISTS temp.{changed}; \
             CREATE TEMP TABLE {changed} (id INTEGER PRIMARY KEY);"
        ))?;
        super::diff::watch_rule_links(&tx, &changed, true)?;
        super::mapper::watch_rule_sources(&tx, &changed, true)?;

        // Relationships first, so the entity deletes below cascade only to
        // relationships of other owners that pointed at this instance.
        tx.execute(
            "DELETE FROM relationships WHERE instance_id = ?1",
            params![id.0],
        )?;
        tx.execute(
            "DELETE FROM mapped_relationships WHERE instance_id = ?1",
            params![id.0],
        )?;
        tx.execute("DELETE FROM entities WHERE instance_id = ?1", params![id.0])?;
        tx.execute("DELETE FROM instances WHERE id = ?1", params![id.0])?;

        // Mapped relationships of other instances that targeted the removed
        // entities now fall back to placeholders; unused placeholders go.
        let mut mapper_report = crate::types::SyncReport::default();
        super::mapper::resolve_all(&tx, now_ms, Some(&changed), &mut mapper_report)?;
        super::mapper::remove_unused_placeholders(&tx, &mut mapper_report)?;
        super::diff::watch_rule_links(&tx, &changed, false)?;
        super::mapper::watch_rule_sources(&tx, &changed, false)?;
        super::mapper::apply_rules(&tx, &changed, created_after, now_ms, &mut mapper_report)?;
        tx.execute_batch(&format!("DROP TABLE temp.{changed}"))?;
        tx.commit()?;
        Ok(report)
    }
}
