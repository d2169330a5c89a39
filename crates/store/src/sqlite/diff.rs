//! The commit of a run: diff the staged objects against the instance's
//! stored graph and apply creates, updates and deletes.
//!
//! Every statement here runs inside the run's one transaction. Updates touch
//! only rows whose content differs, so re-syncing an unchanged graph writes
//! no row of `entities` or `relationships`.

use rusqlite::{Transaction, params};

use super::sync::Stage;
use super::{mapper, merge};
use crate::error::StoreError;
use crate::types::{FindingLifecycle, InstanceId, SyncReport};

/// What every step of the commit needs to know about the run.
pub(crate) struct Context<'a> {
    pub instance: InstanceId,
    /// `_source` written on created objects.
    pub source: &'static str,
    pub now_ms: i64,
    pub stage: &'a Stage,
    /// JSON array of the `_type`s never deleted for being missing.
    pub partial_types: String,
}

/// The highest row ids before the commit wrote anything. Rows above them
/// were created from the stage by this commit, so the delete phases, which
/// look for stored rows the run did not stage, skip them. On a first sync
/// that leaves nothing to scan.
#[derive(Debug, Clone, Copy)]
struct StoredBefore {
    entity: i64,
    relationship: i64,
}

impl StoredBefore {
    fn read(tx: &Transaction<'_>) -> Result<Self, StoreError> {
        let max_id = |table: &str| -> Result<i64, StoreError> {
            Ok(tx.query_row(
                &format!("SELECT coalesce(max(id), 0) FROM {table}"),
                [],
                |row| row.get(0),
            )?)
        };
        Ok(StoredBefore {
            entity: max_id("entities")?,
            relationship: max_id("relationships")?,
        })
    }
}

/// Applies a staged run to the graph.
pub(crate) fn apply(
    tx: &Transaction<'_>,
    ctx: &Context<'_>,
    findings: &FindingLifecycle,
    host_list_complete: bool,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    timed("merge duplicates", || {
        merge::merge_duplicates(tx, ctx.stage, report)
    })?;
    let before = StoredBefore::read(tx)?;
    mapper::watch_rule_sources(tx, &ctx.stage.changed, true)?;

    timed("update entities", || update_entities(tx, ctx, report))?;
    timed("create entities", || {
        create_entities(tx, ctx, before, report)
    })?;
    watch_rule_links(tx, &ctx.stage.changed, true)?;
    timed("retire findings", || {
        retire_findings(tx, ctx, before, findings, host_list_complete, report)
    })?;
    timed("delete entities", || {
        delete_missing_entities(tx, ctx, before, report)
    })?;
    watch_rule_links(tx, &ctx.stage.changed, false)?;

    let mut resolved = String::new();
    timed("resolve relationships", || {
        let (table, dangling) = resolve_relationships(tx, ctx)?;
        report.dangling_relationships += dangling;
        resolved = table;
        Ok(())
    })?;
    timed("update relationships", || {
        update_relationships(tx, ctx, &resolved, report)
    })?;
    timed("create relationships", || {
        create_relationships(tx, ctx, &resolved, report)
    })?;
    tx.execute(&format!("DROP TABLE temp.{resolved}"), [])?;
    timed("delete relationships", || {
        delete_missing_relationships(tx, ctx, before, report)
    })?;

    timed("mapped definitions", || {
        sync_mapped_definitions(tx, ctx, report)
    })?;
    timed("mapper", || {
        mapper::resolve_all(tx, ctx.now_ms, Some(&ctx.stage.changed), report)
    })?;
    // Placeholders go before the rules run, so the findings of a removed
    // placeholder host are decided again, like those of a deleted host.
    watch_rule_links(tx, &ctx.stage.changed, true)?;
    timed("placeholders", || {
        mapper::remove_unused_placeholders(tx, report)
    })?;
    watch_rule_links(tx, &ctx.stage.changed, false)?;
    mapper::watch_rule_sources(tx, &ctx.stage.changed, false)?;
    timed("mapping rules", || {
        mapper::apply_rules(tx, &ctx.stage.changed, before.entity, ctx.now_ms, report)
    })?;
    let without_target: i64 = tx.query_row(
        "SELECT count(*) FROM mapped_relationships m WHERE m.instance_id = ?1 \
           AND NOT EXISTS (SELECT 1 FROM relationships r WHERE r.mapping_id = m.id)",
        params![ctx.instance.0],
        |row| row.get(0),
    )?;
    report.mapped_without_target = u64::try_from(without_target).unwrap_or(0);
    Ok(())
}

/// Turns on (or off) a trigger that marks both ends of every deleted rule
/// relationship as changed, so the mapping rules decide them again. A
/// finding whose host by id is deleted may now belong to the one host left
/// with its `fqdn`. Foreign-key cascades fire the trigger too.
pub(crate) fn watch_rule_links(
    tx: &Transaction<'_>,
    changed: &str,
    on: bool,
) -> Result<(), StoreError> {
    let trigger = format!("{changed}_rule_links");
    let sql = if on {
        format!(
            "CREATE TEMP TRIGGER {trigger} AFTER DELETE ON main.relationships \
             WHEN old.rule_id IS NOT NULL \
             BEGIN INSERT OR IGNORE INTO {changed} (id) VALUES (old.from_id), (old.to_id); END"
        )
    } else {
        format!("DROP TRIGGER IF EXISTS temp.{trigger}")
    };
    tx.execute_batch(&sql)?;
    Ok(())
}

/// Runs one phase of the commit and logs its duration at debug level.
fn timed(
    phase: &'static str,
    f: impl FnOnce() -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let start = std::time::Instant::now();
    let result = f();
    let elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::debug!(phase, elapsed_ms, "sync commit phase finished");
    result
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn update_entities(
    tx: &Transaction<'_>,
    ctx: &Context<'_>,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let stage = &ctx.stage.entities;
    let changed = &ctx.stage.changed;
    tx.execute(
        &format!(
            "INSERT INTO temp.{changed} (id) \
             SELECT e.id FROM temp.{stage} s JOIN entities e \
               ON e.instance_id = ?1 AND e.entity_key = s.entity_key \
             WHERE e.entity_type IS NOT s.entity_type OR e.classes IS NOT s.classes \
                OR e.display_name IS NOT s.display_name OR e.properties IS NOT s.properties \
                OR e.raw_data IS NOT s.raw_data"
        ),
        params![ctx.instance.0],
    )?;
    let updated = tx.execute(
        &format!(
            "UPDATE entities SET entity_type = s.entity_type, classes = s.classes, \
                 display_name = s.display_name, properties = s.properties, raw_data = s.raw_data, \
                 step_id = s.step_id, updated_on = ?2, version = entities.version + 1 \
             FROM temp.{stage} AS s \
             WHERE entities.id IN (SELECT id FROM temp.{changed}) \
               AND entities.instance_id = ?1 AND s.entity_key = entities.entity_key"
        ),
        params![ctx.instance.0, ctx.now_ms],
    )?;
    report.entities_updated += count(updated);

    // Classes of updated entities are rewritten with those of created ones.
    tx.execute(
        &format!("DELETE FROM entity_classes WHERE entity_id IN (SELECT id FROM temp.{changed})"),
        [],
    )?;
    Ok(())
}

fn create_entities(
    tx: &Transaction<'_>,
    ctx: &Context<'_>,
    before: StoredBefore,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let stage = &ctx.stage.entities;
    let changed = &ctx.stage.changed;
    // Inserting in key order appends to the two key indexes instead of
    // scattering writes over them, which dominates at millions of rows.
    let created = tx.execute(
        &format!(
            "INSERT INTO entities (instance_id, entity_key, entity_type, classes, display_name, \
                 properties, raw_data, source, step_id, created_on, updated_on, version) \
             SELECT ?1, s.entity_key, s.entity_type, s.classes, s.display_name, s.properties, \
                 s.raw_data, ?2, s.step_id, ?3, ?3, 1 \
             FROM temp.{stage} s \
             WHERE NOT EXISTS (SELECT 1 FROM entities e \
                               WHERE e.instance_id = ?1 AND e.entity_key = s.entity_key) \
             ORDER BY s.entity_key"
        ),
        params![ctx.instance.0, ctx.source, ctx.now_ms],
    )?;
    report.entities_created += count(created);

    // New rows get ids above the previous maximum, so this range is exactly
    // the entities just created.
    tx.execute(
        &format!("INSERT INTO temp.{changed} (id) SELECT id FROM entities WHERE id > ?1"),
        params![before.entity],
    )?;
    tx.execute(
        &format!(
            "INSERT OR IGNORE INTO entity_classes (entity_id, class) \
             SELECT e.id, j.value FROM temp.{changed} c JOIN entities e ON e.id = c.id, \
                 json_each(e.classes) j"
        ),
        [],
    )?;
    Ok(())
}

/// Applies the finding lifecycle: findings of hosts no longer listed, and
/// findings past the retention, are deleted even though their type is partial.
fn retire_findings(
    tx: &Transaction<'_>,
    ctx: &Context<'_>,
    before: StoredBefore,
    findings: &FindingLifecycle,
    host_list_complete: bool,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let stage = &ctx.stage.entities;
    let hosts = &ctx.stage.hosts;
    for (finding_type, host_property) in &findings.finding_types {
        if let Some(host_property) = host_property.as_deref().filter(|_| host_list_complete) {
            let path = json_path(host_property);
            let deleted = tx.execute(
                &format!(
                    "DELETE FROM entities WHERE instance_id = ?1 AND entity_type = ?2 AND id <= ?4 \
                       AND json_extract(properties, ?3) IS NOT NULL \
                       AND NOT EXISTS (SELECT 1 FROM temp.{hosts} h \
                           WHERE h.host_id = CAST(json_extract(entities.properties, ?3) AS TEXT)) \
                       AND NOT EXISTS (SELECT 1 FROM temp.{stage} s \
                           WHERE s.entity_key = entities.entity_key)"
                ),
                params![ctx.instance.0, finding_type, path, before.entity],
            )?;
            report.findings_retired += count(deleted);
        }

        // NOTE: retention counts from the last change of a finding
        // (`updated_on`), because an unchanged re-sync writes nothing. A
        // finding that Qualys reports again with new dates counts as changed.
        if let Some(days) = findings.retention_days {
            let cutoff = ctx.now_ms.saturating_sub(i64::from(days) * 86_400_000);
            let deleted = tx.execute(
                &format!(
                    "DELETE FROM entities WHERE instance_id = ?1 AND entity_type = ?2 AND id <= ?4 \
                       AND updated_on < ?3 \
                       AND NOT EXISTS (SELECT 1 FROM temp.{stage} s \
                           WHERE s.entity_key = entities.entity_key)"
                ),
                params![ctx.instance.0, finding_type, cutoff, before.entity],
            )?;
            report.findings_retired += count(deleted);
        }
    }
    Ok(())
}

/// Returns the SQLite JSON path of a top-level property, quoted so names
/// with dots (`tag.AccountName`) stay one member.
pub(crate) fn json_path(property: &str) -> String {
    let plain = property
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain {
        // The exact form used by the property indexes, so they apply.
        format!("$.{property}")
    } else {
        format!("$.\"{}\"", property.replace('"', "\\\""))
    }
}

fn delete_missing_entities(
    tx: &Transaction<'_>,
    ctx: &Context<'_>,
    before: StoredBefore,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let stage = &ctx.stage.entities;
    let deleted = tx.execute(
        &format!(
            "DELETE FROM entities WHERE id <= ?3 AND +instance_id = ?1 \
               AND entity_type NOT IN (SELECT value FROM json_each(?2)) \
               AND NOT EXISTS (SELECT 1 FROM temp.{stage} s WHERE s.entity_key = entities.entity_key)"
        ),
        params![ctx.instance.0, ctx.partial_types, before.entity],
    )?;
    report.entities_deleted += count(deleted);
    Ok(())
}

/// Resolves the staged relationships whose both endpoints are entities of
/// the instance into a temporary table, once, for the update and create
/// phases. The rows go in key order, read from the stage's key index
/// without a sort, so the create phase appends to the unique key index
/// instead of writing all over it. Returns the name of the table and the
/// number of staged relationships left out because an endpoint is missing.
fn resolve_relationships(
    tx: &Transaction<'_>,
    ctx: &Context<'_>,
) -> Result<(String, u64), StoreError> {
    let stage = &ctx.stage.relationships;
    let resolved = format!("{stage}_resolved");
    tx.execute(&format!("DROP TABLE IF EXISTS temp.{resolved}"), [])?;
    tx.execute(
        &format!(
            "CREATE TEMP TABLE {resolved} AS \
             SELECT r.relationship_key, r.relationship_type, r.class, f.id AS from_id, \
                 t.id AS to_id, r.display_name, r.properties, r.step_id \
             FROM temp.{stage} r \
             JOIN entities f ON f.instance_id = ?1 AND f.entity_key = r.from_key \
             JOIN entities t ON t.instance_id = ?1 AND t.entity_key = r.to_key \
             ORDER BY r.relationship_key"
        ),
        params![ctx.instance.0],
    )?;
    let count_of = |table: &str| -> Result<i64, StoreError> {
        Ok(
            tx.query_row(&format!("SELECT count(*) FROM temp.{table}"), [], |row| {
                row.get(0)
            })?,
        )
    };
    let dangling = count_of(stage)?.saturating_sub(count_of(&resolved)?);
    Ok((resolved, u64::try_from(dangling).unwrap_or(0)))
}

fn update_relationships(
    tx: &Transaction<'_>,
    ctx: &Context<'_>,
    resolved: &str,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let updated = tx.execute(
        &format!(
            "UPDATE relationships SET relationship_type = u.relationship_type, class = u.class, \
                 from_id = u.from_id, to_id = u.to_id, display_name = u.display_name, \
                 properties = u.properties, step_id = u.step_id, updated_on = ?2, \
                 version = relationships.version + 1 \
             FROM temp.{resolved} AS u \
             WHERE relationships.instance_id = ?1 AND relationships.relationship_key = u.relationship_key \
               AND relationships.mapping_id IS NULL AND relationships.rule_id IS NULL \
               AND (relationships.relationship_type IS NOT u.relationship_type \
                 OR relationships.class IS NOT u.class OR relationships.from_id IS NOT u.from_id \
                 OR relationships.to_id IS NOT u.to_id \
                 OR relationships.display_name IS NOT u.display_name \
                 OR relationships.properties IS NOT u.properties)"
        ),
        params![ctx.instance.0, ctx.now_ms],
    )?;
    report.relationships_updated += count(updated);
    Ok(())
}

fn create_relationships(
    tx: &Transaction<'_>,
    ctx: &Context<'_>,
    resolved: &str,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    // ON CONFLICT skips the keys already stored with one probe of the
    // unique index, where NOT EXISTS took a second one. The rows arrive in
    // key order from `resolve_relationships`. An ORDER BY here would do the
    // same, but SQLite's sorter then uses another 128 MiB.
    let created = tx.execute(
        &format!(
            "INSERT INTO relationships (instance_id, relationship_key, relationship_type, class, \
                 from_id, to_id, display_name, properties, source, step_id, created_on, updated_on, version) \
             SELECT ?1, u.relationship_key, u.relationship_type, u.class, u.from_id, u.to_id, \
                 u.display_name, u.properties, ?3, u.step_id, ?2, ?2, 1 \
             FROM temp.{resolved} AS u WHERE true \
             ON CONFLICT (instance_id, relationship_key) DO NOTHING"
        ),
        params![ctx.instance.0, ctx.now_ms, ctx.source],
    )?;
    report.relationships_created += count(created);
    Ok(())
}

fn delete_missing_relationships(
    tx: &Transaction<'_>,
    ctx: &Context<'_>,
    before: StoredBefore,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let stage = &ctx.stage.relationships;
    // The unary plus keeps SQLite off the key index, because its leading
    // `instance_id` would also walk the relationships this commit created.
    // The id range reads only the rows stored before the commit.
    let deleted = tx.execute(
        &format!(
            "DELETE FROM relationships WHERE id <= ?3 AND +instance_id = ?1 \
               AND mapping_id IS NULL AND rule_id IS NULL \
               AND relationship_type NOT IN (SELECT value FROM json_each(?2)) \
               AND NOT EXISTS (SELECT 1 FROM temp.{stage} r \
                               WHERE r.relationship_key = relationships.relationship_key)"
        ),
        params![ctx.instance.0, ctx.partial_types, before.relationship],
    )?;
    report.relationships_deleted += count(deleted);
    Ok(())
}

/// Stores the run's mapped relationship definitions; the mapper resolves them next.
fn sync_mapped_definitions(
    tx: &Transaction<'_>,
    ctx: &Context<'_>,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let stage = &ctx.stage.mapped;
    let updated = tx.execute(
        &format!(
            "UPDATE mapped_relationships SET relationship_type = s.relationship_type, class = s.class, \
                 display_name = s.display_name, properties = s.properties, direction = s.direction, \
                 source_entity_key = s.source_entity_key, target_filter_keys = s.target_filter_keys, \
                 target_entity = s.target_entity, skip_target_creation = s.skip_target_creation, \
                 step_id = s.step_id, updated_on = ?2, version = mapped_relationships.version + 1 \
             FROM temp.{stage} AS s \
             WHERE mapped_relationships.instance_id = ?1 \
               AND mapped_relationships.relationship_key = s.relationship_key \
               AND (mapped_relationships.relationship_type IS NOT s.relationship_type \
                 OR mapped_relationships.class IS NOT s.class \
                 OR mapped_relationships.display_name IS NOT s.display_name \
                 OR mapped_relationships.properties IS NOT s.properties \
                 OR mapped_relationships.direction IS NOT s.direction \
                 OR mapped_relationships.source_entity_key IS NOT s.source_entity_key \
                 OR mapped_relationships.target_filter_keys IS NOT s.target_filter_keys \
                 OR mapped_relationships.target_entity IS NOT s.target_entity \
                 OR mapped_relationships.skip_target_creation IS NOT s.skip_target_creation)"
        ),
        params![ctx.instance.0, ctx.now_ms],
    )?;
    let created = tx.execute(
        &format!(
            "INSERT INTO mapped_relationships (instance_id, relationship_key, relationship_type, class, \
                 display_name, properties, direction, source_entity_key, target_filter_keys, \
                 target_entity, skip_target_creation, step_id, created_on, updated_on, version) \
             SELECT ?1, s.relationship_key, s.relationship_type, s.class, s.display_name, s.properties, \
                 s.direction, s.source_entity_key, s.target_filter_keys, s.target_entity, \
                 s.skip_target_creation, s.step_id, ?2, ?2, 1 \
             FROM temp.{stage} s \
             WHERE NOT EXISTS (SELECT 1 FROM mapped_relationships m \
                               WHERE m.instance_id = ?1 AND m.relationship_key = s.relationship_key) \
             ORDER BY s.seq"
        ),
        params![ctx.instance.0, ctx.now_ms],
    )?;
    let deleted = tx.execute(
        &format!(
            "DELETE FROM mapped_relationships WHERE instance_id = ?1 \
               AND relationship_type NOT IN (SELECT value FROM json_each(?2)) \
               AND NOT EXISTS (SELECT 1 FROM temp.{stage} s \
                               WHERE s.relationship_key = mapped_relationships.relationship_key)"
        ),
        params![ctx.instance.0, ctx.partial_types],
    )?;
    report.mapped_created += count(created);
    report.mapped_deleted += count(deleted);
    report.mapped_updated += count(updated);
    Ok(())
}
