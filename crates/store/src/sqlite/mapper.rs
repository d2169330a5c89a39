//! The mapper: resolves mapped relationship definitions against every entity
//! in the store, keeps placeholder targets in the mapper scope, and applies
//! the global mapping rules.

use qgraph_model::{Properties, RelationshipClass, Value, relationship_type};
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Transaction, params, params_from_iter};

use super::diff::json_path;
use super::read::{parse_json, to_json};
use crate::error::StoreError;
use crate::types::{InstanceKind, MAPPER_INSTANCE, SyncReport};

/// Definitions are read in pages of this many, so memory stays bounded.
const PAGE: i64 = 1_000;

/// `_type` of a placeholder whose target entity names no `_type`.
const PLACEHOLDER_TYPE: &str = "mapped_entity";

struct Definition {
    id: i64,
    instance_id: i64,
    key: String,
    relationship_type: String,
    class: String,
    display_name: Option<String>,
    properties: String,
    forward: bool,
    source_key: String,
    filter_keys: Vec<Vec<String>>,
    target: Properties,
    skip_target_creation: bool,
}

/// Resolves every stored definition. `changed` names the temporary table
/// that collects ids of created or changed entities, for the global rules.
pub(crate) fn resolve_all(
    tx: &Transaction<'_>,
    now_ms: i64,
    changed: Option<&str>,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let mut after = 0i64;
    loop {
        let page = definitions_after(tx, after)?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        for definition in &page {
            resolve(tx, definition, now_ms, changed, report)?;
        }
    }
    Ok(())
}

fn definitions_after(tx: &Transaction<'_>, after: i64) -> Result<Vec<Definition>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, instance_id, relationship_key, relationship_type, class, display_name, properties, \
             direction, source_entity_key, target_filter_keys, target_entity, skip_target_creation \
         FROM mapped_relationships WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![after, PAGE], |row| {
            Ok((
                (
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, Option<String>>(5)?,
                ),
                (
                    row.get::<_, String>(6)?,
                    row.get::<_, String>(7)?,
                    row.get::<_, String>(8)?,
                    row.get::<_, String>(9)?,
                    row.get::<_, String>(10)?,
                    row.get::<_, bool>(11)?,
                ),
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(
            |((id, instance_id, key, rel_type, class, display_name), rest)| {
                let (properties, direction, source_key, filter_keys, target, skip) = rest;
                Ok(Definition {
                    id,
                    instance_id,
                    key,
                    relationship_type: rel_type,
                    class,
                    display_name,
                    properties,
                    forward: direction != "REVERSE",
                    source_key,
                    filter_keys: parse_json(
                        &filter_keys,
                        "mapped_relationships.target_filter_keys",
                    )?,
                    target: parse_json(&target, "mapped_relationships.target_entity")?,
                    skip_target_creation: skip,
                })
            },
        )
        .collect()
}

fn resolve(
    tx: &Transaction<'_>,
    definition: &Definition,
    now_ms: i64,
    changed: Option<&str>,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let source_id: Option<i64> = tx
        .prepare_cached("SELECT id FROM entities WHERE instance_id = ?1 AND entity_key = ?2")?
        .query_row(
            params![definition.instance_id, definition.source_key],
            |row| row.get(0),
        )
        .optional()?;

    let mut targets = Vec::new();
    if let Some(source_id) = source_id {
        targets = find_targets(tx, definition, source_id)?;
        if targets.is_empty() && !definition.skip_target_creation {
            targets.push(ensure_placeholder(tx, definition, now_ms, changed, report)?);
        }
    }
    sync_resolved(tx, definition, source_id, &targets, now_ms, report)
}

/// Returns the entities (outside the mapper scope) matching the first
/// alternative of the filter keys that matches any.
fn find_targets(
    tx: &Transaction<'_>,
    definition: &Definition,
    source_id: i64,
) -> Result<Vec<i64>, StoreError> {
    for alternative in &definition.filter_keys {
        let Some((conditions, values)) = filter_sql(alternative, &definition.target) else {
            continue;
        };
        let sql = format!(
            "SELECT e.id FROM entities e WHERE e.instance_id != 0 AND e.id != {source_id} \
             AND {conditions} ORDER BY e.id"
        );
        let mut stmt = tx.prepare_cached(&sql)?;
        let ids = stmt
            .query_map(params_from_iter(values), |row| row.get(0))?
            .collect::<Result<Vec<i64>, _>>()?;
        if !ids.is_empty() {
            return Ok(ids);
        }
    }
    Ok(Vec::new())
}

/// Builds the SQL conditions of one alternative; `None` when a value cannot
/// be compared (missing, null, or an array outside `_class`).
fn filter_sql(properties: &[String], target: &Properties) -> Option<(String, Vec<SqlValue>)> {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    for property in properties {
        let value = target.get(property)?;
        match property.as_str() {
            "_key" => {
                conditions.push("e.entity_key = ?".to_owned());
                values.push(SqlValue::Text(value.as_str()?.to_owned()));
            }
            "_type" => {
                conditions.push("e.entity_type = ?".to_owned());
                values.push(SqlValue::Text(value.as_str()?.to_owned()));
            }
            "_class" => {
                for class in class_list(value)? {
                    conditions.push(
                        "EXISTS (SELECT 1 FROM entity_classes c WHERE c.entity_id = e.id AND c.class = ?)"
                            .to_owned(),
                    );
                    values.push(SqlValue::Text(class));
                }
            }
            name => {
                conditions.push(format!("{} = ?", property_expr("e", name)));
                values.push(sql_value(value)?);
            }
        }
    }
    if conditions.is_empty() {
        return None;
    }
    Some((conditions.join(" AND "), values))
}

/// Returns the SQL expression of a property of the entity aliased `alias`,
/// written exactly as the property indexes are, so they apply.
pub(crate) fn property_expr(alias: &str, property: &str) -> String {
    match property {
        "_key" => format!("{alias}.entity_key"),
        "_type" => format!("{alias}.entity_type"),
        name => format!(
            "json_extract({alias}.properties, '{}')",
            json_path(name).replace('\'', "''")
        ),
    }
}

fn class_list(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(class) => Some(vec![class.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

/// Converts a property value to what `json_extract` returns for it.
fn sql_value(value: &Value) -> Option<SqlValue> {
    match value {
        Value::Bool(b) => Some(SqlValue::Integer(i64::from(*b))),
        Value::Int(n) => Some(SqlValue::Integer(*n)),
        Value::UInt(n) => Some(SqlValue::Real(*n as f64)),
        Value::Float(x) => Some(SqlValue::Real(*x)),
        Value::String(s) => Some(SqlValue::Text(s.clone())),
        Value::Null | Value::Array(_) => None,
    }
}

/// Returns the key of the placeholder for a definition's target: the
/// target's `_key`, or its `_type` and first filter values, so definitions
/// from different instances that describe the same target share one placeholder.
fn placeholder_key(definition: &Definition) -> String {
    if let Some(Value::String(key)) = definition.target.get("_key") {
        return key.clone();
    }
    let mut key = definition
        .target
        .get("_type")
        .and_then(Value::as_str)
        .unwrap_or(PLACEHOLDER_TYPE)
        .to_owned();
    if let Some(first) = definition.filter_keys.first() {
        for property in first {
            let value = definition
                .target
                .get(property)
                .map(|v| match v {
                    Value::Array(items) => items
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            key.push(':');
            key.push_str(property);
            key.push('=');
            key.push_str(&value);
        }
    }
    key
}

/// Returns the placeholder target of a definition, creating it or adding the
/// definition's target properties to it.
fn ensure_placeholder(
    tx: &Transaction<'_>,
    definition: &Definition,
    now_ms: i64,
    changed: Option<&str>,
    report: &mut SyncReport,
) -> Result<i64, StoreError> {
    let key = placeholder_key(definition);
    let mut properties = definition.target.clone();
    let entity_type =
        take_string(&mut properties, "_type").unwrap_or_else(|| PLACEHOLDER_TYPE.to_owned());
    let classes = properties
        .remove("_class")
        .and_then(|v| class_list(&v))
        .unwrap_or_default();
    let display_name = take_string(&mut properties, "displayName");
    properties.remove("_key");

    let existing: Option<(i64, String)> = tx
        .prepare_cached(
            "SELECT id, properties FROM entities WHERE instance_id = 0 AND entity_key = ?1",
        )?
        .query_row(params![key], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;

    if let Some((id, stored)) = existing {
        // Properties of several definitions with the same target accumulate.
        let mut merged: Properties = parse_json(&stored, "entities.properties")?;
        merged.extend(properties);
        let merged = to_json(&merged, "placeholder properties")?;
        if merged != stored {
            tx.execute(
                "UPDATE entities SET properties = ?2, updated_on = ?3, version = version + 1 WHERE id = ?1",
                params![id, merged, now_ms],
            )?;
            mark_changed(tx, changed, id)?;
        }
        return Ok(id);
    }

    tx.execute(
        "INSERT INTO entities (instance_id, entity_key, entity_type, classes, display_name, properties, \
             raw_data, source, step_id, created_on, updated_on, version) \
         VALUES (0, ?1, ?2, ?3, ?4, ?5, NULL, ?6, NULL, ?7, ?7, 1)",
        params![
            key,
            entity_type,
            to_json(&classes, "placeholder classes")?,
            display_name,
            to_json(&properties, "placeholder properties")?,
            InstanceKind::Mapper.source(),
            now_ms
        ],
    )?;
    let id = tx.last_insert_rowid();
    let mut insert_class = tx.prepare_cached(
        "INSERT OR IGNORE INTO entity_classes (entity_id, class) VALUES (?1, ?2)",
    )?;
    for class in &classes {
        insert_class.execute(params![id, class])?;
    }
    mark_changed(tx, changed, id)?;
    report.placeholders_created += 1;
    Ok(id)
}

fn take_string(properties: &mut Properties, name: &str) -> Option<String> {
    match properties.remove(name) {
        Some(Value::String(text)) => Some(text),
        _ => None,
    }
}

fn mark_changed(tx: &Transaction<'_>, changed: Option<&str>, id: i64) -> Result<(), StoreError> {
    if let Some(table) = changed {
        tx.execute(
            &format!("INSERT OR IGNORE INTO temp.{table} (id) VALUES (?1)"),
            params![id],
        )?;
    }
    Ok(())
}

struct Resolved {
    id: i64,
    key: String,
    from_id: i64,
    to_id: i64,
    relationship_type: String,
    class: String,
    display_name: Option<String>,
    properties: String,
}

/// Makes the stored relationships of a definition equal to `targets`,
/// writing only what differs.
fn sync_resolved(
    tx: &Transaction<'_>,
    definition: &Definition,
    source_id: Option<i64>,
    targets: &[i64],
    now_ms: i64,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let mut existing = tx
        .prepare_cached(
            "SELECT id, relationship_key, from_id, to_id, relationship_type, class, display_name, properties \
             FROM relationships WHERE mapping_id = ?1",
        )?
        .query_map(params![definition.id], |row| {
            Ok(Resolved {
                id: row.get(0)?,
                key: row.get(1)?,
                from_id: row.get(2)?,
                to_id: row.get(3)?,
                relationship_type: row.get(4)?,
                class: row.get(5)?,
                display_name: row.get(6)?,
                properties: row.get(7)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;

    if let Some(source_id) = source_id {
        for target in targets {
            let key = if targets.len() == 1 {
                definition.key.clone()
            } else {
                format!("{}|{target}", definition.key)
            };
            let (from_id, to_id) = if definition.forward {
                (source_id, *target)
            } else {
                (*target, source_id)
            };
            match existing.iter().position(|r| r.key == key) {
                Some(index) => {
                    let current = existing.swap_remove(index);
                    update_resolved(tx, definition, &current, from_id, to_id, now_ms, report)?;
                }
                None => insert_resolved(tx, definition, &key, from_id, to_id, now_ms, report)?,
            }
        }
    }

    for stale in existing {
        tx.execute("DELETE FROM relationships WHERE id = ?1", params![stale.id])?;
        report.mapper_relationships_deleted += 1;
    }
    Ok(())
}

fn insert_resolved(
    tx: &Transaction<'_>,
    definition: &Definition,
    key: &str,
    from_id: i64,
    to_id: i64,
    now_ms: i64,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    // A direct relationship of the instance with the same key wins; the
    // mapped one is then not stored.
    let inserted = tx.execute(
        "INSERT INTO relationships (instance_id, relationship_key, relationship_type, class, from_id, \
             to_id, display_name, properties, source, step_id, mapping_id, created_on, updated_on, version) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, ?10, ?11, ?11, 1) \
         ON CONFLICT (instance_id, relationship_key) DO NOTHING",
        params![
            definition.instance_id,
            key,
            definition.relationship_type,
            definition.class,
            from_id,
            to_id,
            definition.display_name,
            definition.properties,
            InstanceKind::Mapper.source(),
            definition.id,
            now_ms
        ],
    )?;
    report.mapper_relationships_created += u64::try_from(inserted).unwrap_or(0);
    Ok(())
}

fn update_resolved(
    tx: &Transaction<'_>,
    definition: &Definition,
    current: &Resolved,
    from_id: i64,
    to_id: i64,
    now_ms: i64,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let same = current.from_id == from_id
        && current.to_id == to_id
        && current.relationship_type == definition.relationship_type
        && current.class == definition.class
        && current.display_name == definition.display_name
        && current.properties == definition.properties;
    if same {
        return Ok(());
    }
    tx.execute(
        "UPDATE relationships SET from_id = ?2, to_id = ?3, relationship_type = ?4, class = ?5, \
             display_name = ?6, properties = ?7, updated_on = ?8, version = version + 1 WHERE id = ?1",
        params![
            current.id,
            from_id,
            to_id,
            definition.relationship_type,
            definition.class,
            definition.display_name,
            definition.properties,
            now_ms
        ],
    )?;
    report.mapper_relationships_updated += 1;
    Ok(())
}

/// Deletes placeholders that no mapped relationship references any more.
pub(crate) fn remove_unused_placeholders(
    tx: &Transaction<'_>,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let deleted = tx.execute(
        "DELETE FROM entities WHERE instance_id = 0 \
           AND NOT EXISTS (SELECT 1 FROM relationships r \
                           WHERE r.from_id = entities.id AND r.mapping_id IS NOT NULL) \
           AND NOT EXISTS (SELECT 1 FROM relationships r \
                           WHERE r.to_id = entities.id AND r.mapping_id IS NOT NULL)",
        [],
    )?;
    report.placeholders_deleted += u64::try_from(deleted).unwrap_or(0);
    Ok(())
}

struct Rule {
    id: i64,
    source_class: String,
    target_class: String,
    joins: Vec<(String, String)>,
}

/// Applies the global mapping rules to the entities created or changed in
/// this commit (ids in the temporary table `changed`). Which pairs a rule
/// relates is decided by [`collect_rule_pairs`].
///
/// Entities with ids above `created_after` were created by this commit, so
/// no rule relationship of theirs is stored yet and none is looked for.
pub(crate) fn apply_rules(
    tx: &Transaction<'_>,
    changed: &str,
    created_after: i64,
    now_ms: i64,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let rules = enabled_rules(tx)?;
    mark_targets_of_old_sources(tx, &rules, changed)?;
    let any_changed: Option<i64> = tx
        .query_row(
            &format!("SELECT id FROM temp.{changed} LIMIT 1"),
            [],
            |row| row.get(0),
        )
        .optional()?;
    if any_changed.is_none() {
        return Ok(());
    }

    let pairs = format!("{changed}_rule_pairs");
    tx.execute_batch(&format!(
        "CREATE TEMP TABLE {pairs} (rule_id INTEGER NOT NULL, from_id INTEGER NOT NULL, \
             to_id INTEGER NOT NULL, alternative INTEGER NOT NULL, \
             PRIMARY KEY (rule_id, from_id, to_id)) WITHOUT ROWID; \
         CREATE INDEX temp.{pairs}_target ON {pairs} (rule_id, to_id, alternative);"
    ))?;
    for rule in rules {
        // A rule whose source or target class has no entity at all can
        // relate nothing, and its joins would still probe every changed row.
        if class_is_empty(tx, &rule.source_class)? || class_is_empty(tx, &rule.target_class)? {
            continue;
        }
        collect_rule_pairs(tx, &rule, changed, &pairs, IN_MEMORY_SIDE_LIMIT)?;
    }
    delete_stale_rule_relationships(tx, changed, created_after, &pairs, report)?;
    insert_rule_relationships(tx, &pairs, now_ms, report)?;
    tx.execute_batch(&format!("DROP TABLE temp.{pairs}"))?;
    Ok(())
}

/// Returns the name of the table that [`watch_rule_sources`] fills.
fn old_sources_table(changed: &str) -> String {
    format!("{changed}_old_sources")
}

/// Starts (or stops) recording the old rows of rule sources (hosts, for
/// Host HAS Finding) that are updated or deleted. A finding whose `fqdn` two
/// hosts shared has no rule relationship. So when one of the hosts moves
/// away or goes, only its old values name the findings to decide again.
/// [`apply_rules`] reads and drops the table.
pub(crate) fn watch_rule_sources(
    tx: &Transaction<'_>,
    changed: &str,
    on: bool,
) -> Result<(), StoreError> {
    let old = old_sources_table(changed);
    let sql = if on {
        // A text search of the stored `_class` array is cheaper per updated
        // row than parsing it, and a false match only records a row more.
        let classes = tx
            .prepare("SELECT DISTINCT source_class FROM mapping_rules WHERE enabled != 0")?
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut tests = Vec::with_capacity(classes.len());
        for class in &classes {
            let quoted = to_json(class, "mapping rule source class")?;
            tests.push(format!(
                "instr(old.classes, '{}') > 0",
                quoted.replace('\'', "''")
            ));
        }
        let is_source = if tests.is_empty() {
            "0".to_owned()
        } else {
            format!("({})", tests.join(" OR "))
        };
        let record = format!(
            "INSERT INTO {old} (entity_key, entity_type, classes, properties) \
             VALUES (old.entity_key, old.entity_type, old.classes, old.properties)"
        );
        format!(
            "CREATE TEMP TABLE IF NOT EXISTS {old} (entity_key TEXT NOT NULL, \
                 entity_type TEXT NOT NULL, classes TEXT NOT NULL, properties TEXT NOT NULL); \
             CREATE TEMP TRIGGER {old}_deleted AFTER DELETE ON main.entities \
             WHEN {is_source} BEGIN {record}; END; \
             CREATE TEMP TRIGGER {old}_updated AFTER UPDATE ON main.entities \
             WHEN (old.entity_key IS NOT new.entity_key OR old.entity_type IS NOT new.entity_type \
                   OR old.classes IS NOT new.classes OR old.properties IS NOT new.properties) \
               AND {is_source} \
             BEGIN {record}; END;"
        )
    } else {
        format!(
            "DROP TRIGGER IF EXISTS temp.{old}_deleted; DROP TRIGGER IF EXISTS temp.{old}_updated;"
        )
    };
    tx.execute_batch(&sql)?;
    Ok(())
}

/// Adds to `changed` every target that an old source row recorded by
/// [`watch_rule_sources`] matched under any join of its rule, then drops the
/// recorded rows.
fn mark_targets_of_old_sources(
    tx: &Transaction<'_>,
    rules: &[Rule],
    changed: &str,
) -> Result<(), StoreError> {
    let old = old_sources_table(changed);
    let recorded: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM sqlite_temp_master WHERE type = 'table' AND name = ?1",
            params![old],
            |row| row.get(0),
        )
        .optional()?;
    if recorded.is_none() {
        return Ok(());
    }
    for rule in rules {
        for (source_property, target_property) in &rule.joins {
            let source_expr = property_expr("s", source_property);
            let target_expr = property_expr("t", target_property);
            tx.execute(
                &format!(
                    "INSERT OR IGNORE INTO temp.{changed} (id) \
                     SELECT t.id FROM temp.{old} s \
                     CROSS JOIN entities t ON {target_expr} = +{source_expr} \
                     CROSS JOIN entity_classes tc ON tc.entity_id = t.id AND tc.class = ?2 \
                     WHERE {source_expr} IS NOT NULL \
                       AND EXISTS (SELECT 1 FROM json_each(s.classes) j WHERE j.value = ?1)"
                ),
                params![rule.source_class, rule.target_class],
            )?;
        }
    }
    tx.execute_batch(&format!("DROP TABLE temp.{old}"))?;
    Ok(())
}

fn class_is_empty(tx: &Transaction<'_>, class: &str) -> Result<bool, StoreError> {
    let found: Option<i64> = tx
        .prepare_cached("SELECT entity_id FROM entity_classes WHERE class = ?1 LIMIT 1")?
        .query_row(params![class], |row| row.get(0))
        .optional()?;
    Ok(found.is_none())
}

fn enabled_rules(tx: &Transaction<'_>) -> Result<Vec<Rule>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, source_class, target_class, joins FROM mapping_rules WHERE enabled != 0 ORDER BY id",
    )?;
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, source_class, target_class, joins)| {
            Ok(Rule {
                id,
                source_class,
                target_class,
                joins: parse_json(&joins, "mapping_rules.joins")?,
            })
        })
        .collect()
}

/// The largest number of source entities of a rule that are loaded into
/// memory with their join values. Above it, both directions run in SQL.
const IN_MEMORY_SIDE_LIMIT: i64 = 200_000;

/// Collects the pairs of one rule that involve a changed entity.
///
/// A rule's joins are alternatives tried in order for each target entity
/// (each finding, for Host HAS Finding). The first alternative under which
/// any source matches decides the target's sources. So a finding whose host
/// id names a host is not also linked to other hosts that share its `fqdn`.
/// A later alternative counts only when it names exactly one source, so a
/// finding whose host has no asset record is not linked to every host with
/// the same `fqdn`.
///
/// Changed sources are first joined to the targets they match under any
/// alternative. Those targets, and the targets the changed sources are
/// linked to now, are then decided as if they had changed themselves.
fn collect_rule_pairs(
    tx: &Transaction<'_>,
    rule: &Rule,
    changed: &str,
    pairs: &str,
    in_memory_limit: i64,
) -> Result<(), StoreError> {
    let source_count = class_count(tx, &rule.source_class, in_memory_limit)?;
    let target_count = class_count(tx, &rule.target_class, in_memory_limit)?;

    let members = changed_members(
        tx,
        changed,
        &rule.source_class,
        source_count <= in_memory_limit,
    )?;
    for (alternative, join) in rule.joins.iter().enumerate() {
        let into = JoinOutput::Targets(changed);
        join_from_changed(tx, rule, &members, into, join, alternative, Side::Source)?;
    }
    tx.execute(
        &format!(
            "INSERT OR IGNORE INTO temp.{changed} (id) \
             SELECT r.to_id FROM temp.{members} m \
             CROSS JOIN relationships r ON r.from_id = m.id WHERE r.rule_id = ?1"
        ),
        params![rule.id],
    )?;
    tx.execute_batch(&format!("DROP TABLE temp.{members}"))?;

    if source_count <= in_memory_limit {
        return join_in_memory(tx, rule, changed, pairs);
    }
    let members = changed_members(
        tx,
        changed,
        &rule.target_class,
        target_count <= in_memory_limit,
    )?;
    for (alternative, join) in rule.joins.iter().enumerate() {
        let into = JoinOutput::Pairs(pairs);
        join_from_changed(tx, rule, &members, into, join, alternative, Side::Target)?;
    }
    tx.execute_batch(&format!("DROP TABLE temp.{members}"))?;
    keep_deciding_alternative(tx, rule, pairs)
}

/// Keeps, for each target, the pairs of its first matching alternative, and
/// drops a later alternative's pairs when it matched more than one source.
fn keep_deciding_alternative(
    tx: &Transaction<'_>,
    rule: &Rule,
    pairs: &str,
) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "DELETE FROM temp.{pairs} WHERE rule_id = ?1 AND ( \
                 alternative > (SELECT min(p.alternative) FROM temp.{pairs} p \
                                WHERE p.rule_id = ?1 AND p.to_id = {pairs}.to_id) \
                 OR (alternative > 0 AND (SELECT count(*) FROM temp.{pairs} p \
                                          WHERE p.rule_id = ?1 AND p.to_id = {pairs}.to_id \
                                            AND p.alternative = {pairs}.alternative) > 1))"
        ),
        params![rule.id],
    )?;
    Ok(())
}

/// Collects the changed entities of one class into a new temporary table
/// and returns its name. The loop runs over the smaller of the two sets
/// (`small_class` is true when the class is the smaller one). A sync that
/// changed a million findings and a thousand hosts looks up the thousand
/// hosts in the changed set, not the other way round.
fn changed_members(
    tx: &Transaction<'_>,
    changed: &str,
    class: &str,
    small_class: bool,
) -> Result<String, StoreError> {
    let members = format!("{changed}_members");
    tx.execute_batch(&format!(
        "DROP TABLE IF EXISTS temp.{members}; \
         CREATE TEMP TABLE {members} (id INTEGER PRIMARY KEY);"
    ))?;
    let sql = if small_class {
        format!(
            "INSERT INTO temp.{members} (id) SELECT ec.entity_id FROM entity_classes ec \
             CROSS JOIN temp.{changed} c ON c.id = ec.entity_id WHERE ec.class = ?1"
        )
    } else {
        format!(
            "INSERT INTO temp.{members} (id) SELECT c.id FROM temp.{changed} c \
             CROSS JOIN entity_classes ec ON ec.entity_id = c.id AND ec.class = ?1"
        )
    };
    tx.execute(&sql, params![class])?;
    Ok(members)
}

/// One side of a mapping rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Source,
    Target,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Source => Side::Target,
            Side::Target => Side::Source,
        }
    }

    fn class(self, rule: &Rule) -> &str {
        match self {
            Side::Source => &rule.source_class,
            Side::Target => &rule.target_class,
        }
    }

    /// Returns the join property of this side in one alternative of the rule.
    fn property(self, join: &(String, String)) -> &str {
        match self {
            Side::Source => &join.0,
            Side::Target => &join.1,
        }
    }
}

/// Counts the entities of a class, stopping just past `limit`.
fn class_count(tx: &Transaction<'_>, class: &str, limit: i64) -> Result<i64, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM entity_classes WHERE class = ?1 LIMIT ?2)",
        )?
        .query_row(params![class, limit.saturating_add(1)], |row| row.get(0))?)
}

/// The table that [`join_from_changed`] writes its matches into.
#[derive(Debug, Clone, Copy)]
enum JoinOutput<'a> {
    /// (rule, source, target, alternative) rows into this pairs table.
    Pairs(&'a str),
    /// The target ids alone into this id table, to decide them later.
    Targets(&'a str),
}

/// Joins changed entities of one side to any entity of the other side,
/// found by the other side's property index.
fn join_from_changed(
    tx: &Transaction<'_>,
    rule: &Rule,
    members: &str,
    into: JoinOutput<'_>,
    (source_property, target_property): &(String, String),
    alternative: usize,
    from_changed: Side,
) -> Result<(), StoreError> {
    let source_expr = property_expr("s", source_property);
    let target_expr = property_expr("t", target_property);
    let (changed_alias, other_alias, changed_expr, other_expr) = match from_changed {
        Side::Source => ("s", "t", &source_expr, &target_expr),
        Side::Target => ("t", "s", &target_expr, &source_expr),
    };

    // CROSS JOIN fixes the loop order so the other side is looked up by its
    // property index. Left to choose, SQLite 3.50 scanned every entity of
    // the other class for each changed row. The unary `+` strips the TEXT
    // affinity of `entity_key`, which would otherwise keep
    // `json_extract(..) = entity_key` from using an expression index.
    // The other side's class is parameter 1 when only target ids are written.
    let (insert, class_param) = match into {
        JoinOutput::Pairs(pairs) => (
            format!(
                "INSERT OR IGNORE INTO temp.{pairs} (rule_id, from_id, to_id, alternative) \
                 SELECT ?1, s.id, t.id, ?3"
            ),
            "?2",
        ),
        JoinOutput::Targets(table) => (
            format!("INSERT OR IGNORE INTO temp.{table} (id) SELECT t.id"),
            "?1",
        ),
    };
    let sql = format!(
        "{insert} \
         FROM temp.{members} c \
         CROSS JOIN entities {changed_alias} ON {changed_alias}.id = c.id \
         CROSS JOIN entities {other_alias} ON {other_expr} = +{changed_expr} \
         CROSS JOIN entity_classes {other_alias}c ON {other_alias}c.entity_id = {other_alias}.id \
             AND {other_alias}c.class = {class_param} \
         WHERE s.id != t.id AND {changed_expr} IS NOT NULL"
    );

    let start = std::time::Instant::now();
    let other_class = from_changed.other().class(rule);
    match into {
        JoinOutput::Pairs(_) => tx.execute(
            &sql,
            params![
                rule.id,
                other_class,
                i64::try_from(alternative).unwrap_or(i64::MAX)
            ],
        )?,
        JoinOutput::Targets(_) => tx.execute(&sql, params![other_class])?,
    };
    tracing::debug!(
        rule = rule.id,
        join = %format!("{source_property} = {target_property}"),
        from_changed = ?from_changed,
        elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        "mapping rule join finished"
    );
    Ok(())
}

/// A join value as SQLite compares it: an integral REAL equals the INTEGER
/// of the same value, and text never equals a number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum JoinValue {
    Integer(i64),
    Real(u64),
    Text(String),
    Blob(Vec<u8>),
}

impl JoinValue {
    fn from_sql(value: SqlValue) -> Option<JoinValue> {
        match value {
            SqlValue::Null => None,
            SqlValue::Integer(n) => Some(JoinValue::Integer(n)),
            SqlValue::Real(x) => {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_precision_loss,
                    reason = "the cast back checks that the value is integral and in range"
                )]
                let integral = x.fract() == 0.0 && x.abs() < 9.0e18 && (x as i64) as f64 == x;
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "only integral values in the i64 range reach the cast"
                )]
                let value = if integral {
                    JoinValue::Integer(x as i64)
                } else {
                    JoinValue::Real(x.to_bits())
                };
                Some(value)
            }
            SqlValue::Text(text) => Some(JoinValue::Text(text)),
            SqlValue::Blob(bytes) => Some(JoinValue::Blob(bytes)),
        }
    }
}

/// Decides every changed target of a rule against a map of all its sources
/// by (alternative, join value), built once. Probing the property index
/// from each changed finding instead went through every other finding with
/// the same value (`fqdn` is shared by a host and all of its findings):
/// 9.5 s of a 27 s sync of 95 000 findings.
fn join_in_memory(
    tx: &Transaction<'_>,
    rule: &Rule,
    changed: &str,
    pairs: &str,
) -> Result<(), StoreError> {
    let start = std::time::Instant::now();
    let columns = |side: Side, alias: &str| {
        rule.joins
            .iter()
            .map(|join| property_expr(alias, side.property(join)))
            .collect::<Vec<_>>()
            .join(", ")
    };

    let mut sources: std::collections::HashMap<(usize, JoinValue), Vec<i64>> =
        std::collections::HashMap::new();
    {
        let mut stmt = tx.prepare(&format!(
            "SELECT e.id, {} FROM entity_classes c CROSS JOIN entities e ON e.id = c.entity_id \
             WHERE c.class = ?1",
            columns(Side::Source, "e")
        ))?;
        let mut rows = stmt.query(params![rule.source_class])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            for alternative in 0..rule.joins.len() {
                if let Some(value) = JoinValue::from_sql(row.get(alternative + 1)?) {
                    sources.entry((alternative, value)).or_default().push(id);
                }
            }
        }
    }
    if sources.is_empty() {
        return Ok(());
    }

    let mut insert = tx.prepare_cached(&format!(
        "INSERT OR IGNORE INTO temp.{pairs} (rule_id, from_id, to_id, alternative) \
         VALUES (?1, ?2, ?3, ?4)"
    ))?;
    let mut stmt = tx.prepare(&format!(
        "SELECT e.id, {} FROM temp.{changed} ch CROSS JOIN entities e ON e.id = ch.id \
         CROSS JOIN entity_classes c ON c.entity_id = e.id AND c.class = ?1",
        columns(Side::Target, "e")
    ))?;
    let mut rows = stmt.query(params![rule.target_class])?;
    let mut matched: Vec<i64> = Vec::new();
    while let Some(row) = rows.next()? {
        let target: i64 = row.get(0)?;
        for alternative in 0..rule.joins.len() {
            let Some(value) = JoinValue::from_sql(row.get(alternative + 1)?) else {
                continue;
            };
            matched.clear();
            if let Some(ids) = sources.get(&(alternative, value)) {
                matched.extend(ids.iter().copied().filter(|source| *source != target));
            }
            matched.sort_unstable();
            matched.dedup();
            if matched.is_empty() {
                continue;
            }
            if alternative == 0 || matched.len() == 1 {
                let alternative = i64::try_from(alternative).unwrap_or(i64::MAX);
                for source in &matched {
                    insert.execute(params![rule.id, source, target, alternative])?;
                }
            }
            break;
        }
    }
    tracing::debug!(
        rule = rule.id,
        elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        "mapping rule in-memory join finished"
    );
    Ok(())
}

/// Deletes the rule relationships of changed entities that no rule pair
/// supports any more. The candidates are found through the adjacency
/// indexes from each changed entity, so a sync does not read every stored
/// relationship.
fn delete_stale_rule_relationships(
    tx: &Transaction<'_>,
    changed: &str,
    created_after: i64,
    pairs: &str,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let deleted = tx.execute(
        &format!(
            "DELETE FROM relationships WHERE id IN ( \
                 SELECT r.id FROM temp.{changed} c CROSS JOIN relationships r ON r.from_id = c.id \
                 WHERE c.id <= ?1 AND r.rule_id IS NOT NULL \
                 UNION ALL \
                 SELECT r.id FROM temp.{changed} c CROSS JOIN relationships r ON r.to_id = c.id \
                 WHERE c.id <= ?1 AND r.rule_id IS NOT NULL) \
               AND NOT EXISTS (SELECT 1 FROM temp.{pairs} p WHERE p.rule_id = relationships.rule_id \
                   AND p.from_id = relationships.from_id AND p.to_id = relationships.to_id)"
        ),
        params![created_after],
    )?;
    report.rule_relationships_deleted += u64::try_from(deleted).unwrap_or(0);
    Ok(())
}

fn insert_rule_relationships(
    tx: &Transaction<'_>,
    pairs: &str,
    now_ms: i64,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    // `_type` comes from the two entity types and the rule's class. There are
    // few such combinations, so they are named in Rust once, and the rows are
    // then inserted by one statement.
    let types = format!("{pairs}_types");
    tx.execute_batch(&format!(
        "CREATE TEMP TABLE {types} (rule_id INTEGER NOT NULL, from_type TEXT NOT NULL, \
             to_type TEXT NOT NULL, class TEXT NOT NULL, relationship_type TEXT NOT NULL, \
             PRIMARY KEY (rule_id, from_type, to_type)) WITHOUT ROWID"
    ))?;
    let combinations = tx
        .prepare(&format!(
            "SELECT DISTINCT p.rule_id, f.entity_type, t.entity_type, r.relationship_class \
             FROM temp.{pairs} p \
             JOIN entities f ON f.id = p.from_id JOIN entities t ON t.id = p.to_id \
             JOIN mapping_rules r ON r.id = p.rule_id"
        ))?
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    {
        let mut insert_type = tx.prepare(&format!(
            "INSERT INTO temp.{types} (rule_id, from_type, to_type, class, relationship_type) \
             VALUES (?1, ?2, ?3, ?4, ?5)"
        ))?;
        for (rule_id, from_type, to_type, class_name) in &combinations {
            let class =
                RelationshipClass::new(class_name).map_err(|_| StoreError::StoredClass {
                    key: format!("mapping rule {rule_id}"),
                    class: class_name.clone(),
                })?;
            insert_type.execute(params![
                rule_id,
                from_type,
                to_type,
                class.as_str(),
                relationship_type(from_type, &class, to_type)
            ])?;
        }
    }
    // The key names the rule and both ids, so the unique key index alone
    // finds a pair that is already related.
    let inserted = tx.execute(
        &format!(
            "INSERT INTO relationships (instance_id, relationship_key, relationship_type, class, from_id, \
                 to_id, display_name, properties, source, step_id, rule_id, created_on, updated_on, version) \
             SELECT ?1, 'rule:' || p.rule_id || ':' || p.from_id || ':' || p.to_id, \
                 y.relationship_type, y.class, p.from_id, p.to_id, y.class, '{{}}', ?2, NULL, \
                 p.rule_id, ?3, ?3, 1 \
             FROM temp.{pairs} p \
             JOIN entities f ON f.id = p.from_id JOIN entities t ON t.id = p.to_id \
             JOIN temp.{types} y ON y.rule_id = p.rule_id AND y.from_type = f.entity_type \
                 AND y.to_type = t.entity_type \
             WHERE true \
             ON CONFLICT (instance_id, relationship_key) DO NOTHING"
        ),
        params![MAPPER_INSTANCE.0, InstanceKind::Mapper.source(), now_ms],
    )?;
    report.rule_relationships_created += u64::try_from(inserted).unwrap_or(0);
    tx.execute_batch(&format!("DROP TABLE temp.{types}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

    use qgraph_model::{
        DeclaredType, Entity, GraphObject, GraphSink, StepDeclaration, StepResult, StepStatus,
    };

    use super::*;
    use crate::{GraphStore, InstanceKind, NewInstance, SqliteStore, SyncOptions, SyncRun};

    fn host(key: &str, host_id: i64, fqdn: &str) -> GraphObject {
        let mut e = Entity::new(key, "discovered_host", &["Host"]).unwrap();
        e.set("qualysQwebHostId", host_id).set("fqdn", fqdn);
        GraphObject::Entity(e)
    }

    fn finding(key: &str, host_id: i64, fqdn: &str) -> GraphObject {
        let mut e = Entity::new(key, "qualys_host_finding", &["Finding"]).unwrap();
        e.set("hostId", host_id)
            .set("fqdn", fqdn)
            .set("qid", 38_170);
        GraphObject::Entity(e)
    }

    /// Returns the rule pairs of every entity, collected with the given in-memory limit.
    fn pairs_with_limit(store: &SqliteStore, limit: i64) -> Vec<(i64, i64, i64)> {
        store.with_connection(|conn| {
            let tx = conn.unchecked_transaction().unwrap();
            tx.execute_batch(
                "CREATE TEMP TABLE t_changed (id INTEGER PRIMARY KEY); \
                 INSERT INTO t_changed SELECT id FROM entities; \
                 CREATE TEMP TABLE t_pairs (rule_id INTEGER NOT NULL, from_id INTEGER NOT NULL, \
                     to_id INTEGER NOT NULL, alternative INTEGER NOT NULL, \
                     PRIMARY KEY (rule_id, from_id, to_id)) WITHOUT ROWID; \
                 CREATE INDEX temp.t_pairs_target ON t_pairs (rule_id, to_id, alternative);",
            )
            .unwrap();
            for rule in enabled_rules(&tx).unwrap() {
                collect_rule_pairs(&tx, &rule, "t_changed", "t_pairs", limit).unwrap();
            }
            let pairs = tx
                .prepare("SELECT rule_id, from_id, to_id FROM temp.t_pairs ORDER BY 1, 2, 3")
                .unwrap()
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            tx.rollback().unwrap();
            pairs
        })
    }

    /// The SQL path that runs when both classes of a rule are too large to
    /// hold in memory decides the same pairs as the in-memory path.
    #[test]
    fn sql_and_in_memory_rule_joins_agree() {
        let store = SqliteStore::open_in_memory().unwrap();
        let instance = store
            .create_instance(NewInstance {
                name: "acme".to_owned(),
                kind: InstanceKind::Qualys,
                config: serde_json::json!({}),
                password: None,
            })
            .unwrap()
            .id;
        let mut run = store.begin_sync(instance, SyncOptions::at(1_000)).unwrap();
        run.write(
            "graph",
            vec![
                host("host-901", 901, "dup.example.test"),
                host("host-902", 902, "dup.example.test"),
                host("host-905", 905, "solo.example.test"),
                finding("f-901", 901, "dup.example.test"),
                finding("f-902", 902, "dup.example.test"),
                finding("f-903", 903, "dup.example.test"),
                finding("f-904", 904, "solo.example.test"),
                finding("f-906", 906, "none.example.test"),
            ],
        )
        .unwrap();
        let step = StepDeclaration {
            id: "graph".to_owned(),
            name: "graph".to_owned(),
            entity_types: ["discovered_host", "qualys_host_finding"]
                .into_iter()
                .map(|t| DeclaredType {
                    object_type: t.to_owned(),
                    partial: false,
                })
                .collect(),
            relationship_types: Vec::new(),
            depends_on: Vec::new(),
        };
        let result = StepResult {
            id: "graph".to_owned(),
            status: StepStatus::Success,
            started_on: 1_000,
            ended_on: 1_000,
            counts: Default::default(),
            errors: Vec::new(),
        };
        run.commit(&[step], &[result]).unwrap();

        let in_memory = pairs_with_limit(&store, IN_MEMORY_SIDE_LIMIT);
        let in_sql = pairs_with_limit(&store, 0);
        assert_eq!(in_memory.len(), 3, "{in_memory:?}");
        assert_eq!(in_sql, in_memory);
    }
}
