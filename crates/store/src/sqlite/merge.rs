//! Merging objects staged more than once under the same `_key`.
//!
//! A key seen twice in a run is not an error: the copies are merged in the
//! order they were emitted, and the number of extra copies is reported.
//! Entities: later properties replace earlier ones of the same name, classes
//! are united in first-seen order, `_type`, `displayName` (when given) and
//! raw data entries of the same name come from the later copy.
//! Relationships: later properties replace earlier ones, everything else
//! comes from the later copy. Mapped relationships: the later copy wins.

use qgraph_model::{Properties, RawData};
use rusqlite::{Transaction, params};

use super::read::{parse_json, to_json};
use super::sync::Stage;
use crate::error::StoreError;
use crate::types::SyncReport;

/// Indexes the staging tables by key and merges every duplicated key.
pub(crate) fn merge_duplicates(
    tx: &Transaction<'_>,
    stage: &Stage,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    for (table, column) in [
        (&stage.entities, "entity_key"),
        (&stage.relationships, "relationship_key"),
        (&stage.mapped, "relationship_key"),
    ] {
        tx.execute(
            &format!("CREATE INDEX temp.{table}_key ON {table} ({column}, seq)"),
            [],
        )?;
    }
    report.duplicate_keys += merge_entities(tx, &stage.entities)?;
    report.duplicate_keys += merge_relationships(tx, &stage.relationships)?;
    report.duplicate_keys += keep_last(tx, &stage.mapped)?;
    Ok(())
}

fn duplicated_keys(
    tx: &Transaction<'_>,
    table: &str,
    column: &str,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = tx.prepare(&format!(
        "SELECT {column} FROM temp.{table} GROUP BY {column} HAVING count(*) > 1"
    ))?;
    let keys = stmt
        .query_map([], |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(keys)
}

/// One staged entity copy.
struct EntityCopy {
    seq: i64,
    entity_type: String,
    classes: String,
    display_name: Option<String>,
    properties: String,
    raw_data: Option<String>,
    step_id: Option<String>,
}

fn merge_entities(tx: &Transaction<'_>, table: &str) -> Result<u64, StoreError> {
    let mut extra = 0u64;
    for key in duplicated_keys(tx, table, "entity_key")? {
        let copies = {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT seq, entity_type, classes, display_name, properties, raw_data, step_id \
                 FROM temp.{table} WHERE entity_key = ?1 ORDER BY seq"
            ))?;
            stmt.query_map(params![key], |row| {
                Ok(EntityCopy {
                    seq: row.get(0)?,
                    entity_type: row.get(1)?,
                    classes: row.get(2)?,
                    display_name: row.get(3)?,
                    properties: row.get(4)?,
                    raw_data: row.get(5)?,
                    step_id: row.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?
        };
        let Some((first, rest)) = copies.split_first() else {
            continue;
        };
        extra += u64::try_from(rest.len()).unwrap_or(0);

        let merged = merge_entity_copies(first, rest)?;
        tx.execute(
            &format!(
                "UPDATE temp.{table} SET entity_type = ?2, classes = ?3, display_name = ?4, \
                 properties = ?5, raw_data = ?6, step_id = ?7 WHERE seq = ?1"
            ),
            params![
                first.seq,
                merged.entity_type,
                merged.classes,
                merged.display_name,
                merged.properties,
                merged.raw_data,
                merged.step_id
            ],
        )?;
        tx.execute(
            &format!("DELETE FROM temp.{table} WHERE entity_key = ?1 AND seq != ?2"),
            params![key, first.seq],
        )?;
    }
    Ok(extra)
}

fn merge_entity_copies(first: &EntityCopy, rest: &[EntityCopy]) -> Result<EntityCopy, StoreError> {
    let mut classes: Vec<String> = parse_json(&first.classes, "staged classes")?;
    let mut properties: Properties = parse_json(&first.properties, "staged properties")?;
    let mut raw_data: Vec<RawData> = match &first.raw_data {
        Some(text) => parse_json(text, "staged raw data")?,
        None => Vec::new(),
    };
    let mut merged = EntityCopy {
        seq: first.seq,
        entity_type: first.entity_type.clone(),
        classes: String::new(),
        display_name: first.display_name.clone(),
        properties: String::new(),
        raw_data: None,
        step_id: first.step_id.clone(),
    };

    for copy in rest {
        merged.entity_type.clone_from(&copy.entity_type);
        merged.step_id.clone_from(&copy.step_id);
        if copy.display_name.is_some() {
            merged.display_name.clone_from(&copy.display_name);
        }
        for class in parse_json::<Vec<String>>(&copy.classes, "staged classes")? {
            if !classes.contains(&class) {
                classes.push(class);
            }
        }
        properties.extend(parse_json::<Properties>(
            &copy.properties,
            "staged properties",
        )?);
        if let Some(text) = &copy.raw_data {
            for entry in parse_json::<Vec<RawData>>(text, "staged raw data")? {
                raw_data.retain(|existing| existing.name != entry.name);
                raw_data.push(entry);
            }
        }
    }

    merged.classes = to_json(&classes, "entity classes")?;
    merged.properties = to_json(&properties, "entity properties")?;
    merged.raw_data = if raw_data.is_empty() {
        None
    } else {
        Some(to_json(&raw_data, "entity raw data")?)
    };
    Ok(merged)
}

fn merge_relationships(tx: &Transaction<'_>, table: &str) -> Result<u64, StoreError> {
    let mut extra = 0u64;
    for key in duplicated_keys(tx, table, "relationship_key")? {
        let copies = {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT seq, properties FROM temp.{table} WHERE relationship_key = ?1 ORDER BY seq"
            ))?;
            stmt.query_map(params![key], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?
        };
        let Some(((last_seq, _), _)) = copies.split_last() else {
            continue;
        };
        extra += u64::try_from(copies.len() - 1).unwrap_or(0);

        let mut properties = Properties::new();
        for (_, text) in &copies {
            properties.extend(parse_json::<Properties>(text, "staged properties")?);
        }
        tx.execute(
            &format!("UPDATE temp.{table} SET properties = ?2 WHERE seq = ?1"),
            params![last_seq, to_json(&properties, "relationship properties")?],
        )?;
        tx.execute(
            &format!("DELETE FROM temp.{table} WHERE relationship_key = ?1 AND seq != ?2"),
            params![key, last_seq],
        )?;
    }
    Ok(extra)
}

fn keep_last(tx: &Transaction<'_>, table: &str) -> Result<u64, StoreError> {
    let deleted = tx.execute(
        &format!(
            "DELETE FROM temp.{table} WHERE seq NOT IN \
             (SELECT max(seq) FROM temp.{table} GROUP BY relationship_key)"
        ),
        [],
    )?;
    Ok(u64::try_from(deleted).unwrap_or(0))
}
