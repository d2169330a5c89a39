//! Row decoding and the simple graph reads.

use qgraph_model::{Entity, Properties, RawData, Relationship, RelationshipClass};
use rusqlite::{Connection, Row, params};

use crate::error::StoreError;
use crate::types::{InstanceId, StoredEntity, StoredRelationship, TypeCount};

/// Columns read by [`entity_from_row`], prefixed by the `e` alias.
pub(crate) const ENTITY_COLUMNS: &str = "e.id, e.instance_id, e.entity_key, e.entity_type, e.classes, \
     e.display_name, e.properties, e.raw_data, e.source, e.step_id, e.created_on, e.updated_on, e.version";

/// Columns read by [`relationship_from_row`], with `r`, `f` (from) and `t` (to) aliases.
pub(crate) const RELATIONSHIP_COLUMNS: &str = "r.id, r.instance_id, r.relationship_key, r.relationship_type, \
     r.class, r.from_id, r.to_id, f.entity_key, t.entity_key, r.display_name, r.properties, r.source, \
     r.mapping_id, r.rule_id, r.created_on, r.updated_on, r.version";

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    text: &str,
    column: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::StoredJson { column, source })
}

pub(crate) fn to_json<T: serde::Serialize + ?Sized>(
    value: &T,
    what: &'static str,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::EncodeJson { what, source })
}

/// Raw column values of an entity row; decoded outside the rusqlite closure
/// so JSON errors keep their own variant.
struct EntityRow {
    id: i64,
    instance_id: i64,
    key: String,
    entity_type: String,
    classes: String,
    display_name: Option<String>,
    properties: String,
    raw_data: Option<String>,
    source: String,
    step_id: Option<String>,
    created_on: i64,
    updated_on: i64,
    version: i64,
}

fn entity_row(row: &Row<'_>) -> rusqlite::Result<EntityRow> {
    Ok(EntityRow {
        id: row.get(0)?,
        instance_id: row.get(1)?,
        key: row.get(2)?,
        entity_type: row.get(3)?,
        classes: row.get(4)?,
        display_name: row.get(5)?,
        properties: row.get(6)?,
        raw_data: row.get(7)?,
        source: row.get(8)?,
        step_id: row.get(9)?,
        created_on: row.get(10)?,
        updated_on: row.get(11)?,
        version: row.get(12)?,
    })
}

fn decode_entity(row: EntityRow) -> Result<StoredEntity, StoreError> {
    let raw_data: Vec<RawData> = match &row.raw_data {
        Some(text) => parse_json(text, "entities.raw_data")?,
        None => Vec::new(),
    };
    Ok(StoredEntity {
        id: row.id,
        instance_id: InstanceId(row.instance_id),
        source: row.source,
        step_id: row.step_id,
        created_on: row.created_on,
        updated_on: row.updated_on,
        version: row.version,
        entity: Entity {
            key: row.key,
            entity_type: row.entity_type,
            classes: parse_json(&row.classes, "entities.classes")?,
            display_name: row.display_name,
            properties: parse_json::<Properties>(&row.properties, "entities.properties")?,
            raw_data,
        },
    })
}

struct RelationshipRow {
    id: i64,
    instance_id: i64,
    key: String,
    relationship_type: String,
    class: String,
    from_id: i64,
    to_id: i64,
    from_key: String,
    to_key: String,
    display_name: Option<String>,
    properties: String,
    source: String,
    mapping_id: Option<i64>,
    rule_id: Option<i64>,
    created_on: i64,
    updated_on: i64,
    version: i64,
}

fn relationship_row(row: &Row<'_>) -> rusqlite::Result<RelationshipRow> {
    Ok(RelationshipRow {
        id: row.get(0)?,
        instance_id: row.get(1)?,
        key: row.get(2)?,
        relationship_type: row.get(3)?,
        class: row.get(4)?,
        from_id: row.get(5)?,
        to_id: row.get(6)?,
        from_key: row.get(7)?,
        to_key: row.get(8)?,
        display_name: row.get(9)?,
        properties: row.get(10)?,
        source: row.get(11)?,
        mapping_id: row.get(12)?,
        rule_id: row.get(13)?,
        created_on: row.get(14)?,
        updated_on: row.get(15)?,
        version: row.get(16)?,
    })
}

fn decode_relationship(row: RelationshipRow) -> Result<StoredRelationship, StoreError> {
    let class = RelationshipClass::new(&row.class).map_err(|_| StoreError::StoredClass {
        key: row.key.clone(),
        class: row.class.clone(),
    })?;
    Ok(StoredRelationship {
        id: row.id,
        instance_id: InstanceId(row.instance_id),
        source: row.source,
        from_id: row.from_id,
        to_id: row.to_id,
        mapping_id: row.mapping_id,
        rule_id: row.rule_id,
        created_on: row.created_on,
        updated_on: row.updated_on,
        version: row.version,
        relationship: Relationship {
            key: row.key,
            relationship_type: row.relationship_type,
            class,
            from_key: row.from_key,
            to_key: row.to_key,
            display_name: row.display_name,
            properties: parse_json(&row.properties, "relationships.properties")?,
        },
    })
}

/// Runs an entity query whose select list is [`ENTITY_COLUMNS`].
pub(crate) fn query_entities(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredEntity>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt
        .query_map(params, entity_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(decode_entity).collect()
}

pub(crate) fn entity(
    conn: &Connection,
    instance: InstanceId,
    key: &str,
) -> Result<Option<StoredEntity>, StoreError> {
    let sql = format!(
        "SELECT {ENTITY_COLUMNS} FROM entities e WHERE e.instance_id = ?1 AND e.entity_key = ?2"
    );
    Ok(query_entities(conn, &sql, params![instance.0, key])?
        .into_iter()
        .next())
}

pub(crate) fn entities_by_key(
    conn: &Connection,
    key: &str,
) -> Result<Vec<StoredEntity>, StoreError> {
    let sql =
        format!("SELECT {ENTITY_COLUMNS} FROM entities e WHERE e.entity_key = ?1 ORDER BY e.id");
    query_entities(conn, &sql, params![key])
}

pub(crate) fn entity_by_id(conn: &Connection, id: i64) -> Result<Option<StoredEntity>, StoreError> {
    let sql = format!("SELECT {ENTITY_COLUMNS} FROM entities e WHERE e.id = ?1");
    Ok(query_entities(conn, &sql, params![id])?.into_iter().next())
}

pub(crate) fn entities_by_type(
    conn: &Connection,
    entity_type: &str,
    limit: usize,
) -> Result<Vec<StoredEntity>, StoreError> {
    let sql = format!(
        "SELECT {ENTITY_COLUMNS} FROM entities e WHERE e.entity_type = ?1 ORDER BY e.id LIMIT ?2"
    );
    query_entities(conn, &sql, params![entity_type, limit_param(limit)])
}

pub(crate) fn entities_by_class(
    conn: &Connection,
    class: &str,
    limit: usize,
) -> Result<Vec<StoredEntity>, StoreError> {
    let sql = format!(
        "SELECT {ENTITY_COLUMNS} FROM entity_classes c JOIN entities e ON e.id = c.entity_id \
         WHERE c.class = ?1 ORDER BY e.id LIMIT ?2"
    );
    query_entities(conn, &sql, params![class, limit_param(limit)])
}

pub(crate) fn relationships_of(
    conn: &Connection,
    entity_id: i64,
) -> Result<Vec<StoredRelationship>, StoreError> {
    let sql = format!(
        "SELECT {RELATIONSHIP_COLUMNS} FROM relationships r \
         JOIN entities f ON f.id = r.from_id JOIN entities t ON t.id = r.to_id \
         WHERE r.from_id = ?1 OR r.to_id = ?1 ORDER BY r.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![entity_id], relationship_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(decode_relationship).collect()
}

pub(crate) fn count_by_type(conn: &Connection, table: Table) -> Result<Vec<TypeCount>, StoreError> {
    let sql = match table {
        Table::Entities => {
            "SELECT entity_type, count(*) FROM entities GROUP BY entity_type ORDER BY entity_type"
        }
        Table::Relationships => {
            "SELECT relationship_type, count(*) FROM relationships \
             GROUP BY relationship_type ORDER BY relationship_type"
        }
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([], |row| {
        Ok(TypeCount {
            object_type: row.get(0)?,
            count: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Which graph table to count.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Table {
    Entities,
    Relationships,
}

/// Converts a limit to SQLite's signed integer; larger limits mean "all".
pub(crate) fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
