//! Runs a [`GraphPlan`] on SQLite as one SQL statement.
//!
//! Node `n` is the table alias `e{n}` and relationship slot `i` is `r{i}`.
//! Literals are bound as numbered parameters. Property values live in JSON
//! columns, so a comparison holds when the value at the property's path, or
//! any element of an array there, matches with the same JSON type.

use std::fmt::Write as _;

use qgraph_model::{Properties, Value};
use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params_from_iter};

use crate::error::StoreError;
use crate::plan::{
    CompareOp, CountTarget, Deadline, EntitySelector, GraphPlan, GroupRow, HopDirection, HopMode,
    PathRow, PlanExecutor, PlanObject, PlanOutput, PlanResult, PlanValue, Predicate, PropertyRef,
    Slot, end_anchored_pattern,
};
use crate::sqlite::SqliteStore;

mod chain;
mod starts;
mod time_limit;
mod value_set;

use time_limit::TimeLimit;

/// Properties that the schema indexes by expression. The data model types
/// them as scalars, so their comparisons skip the array branch, which would
/// keep SQLite from using the index.
/// NOTE: an array stored under one of these names matches only as a whole.
const SCALAR_INDEXED: &[&str] = &[
    "numericSeverity",
    "open",
    "severity",
    "qid",
    "hostname",
    "qualysQwebHostId",
];

/// The SQL function that matches J1QL regexes: `qgraph_regexp(pattern, text, anchor)`
/// with anchor 0 (anywhere) or 1 (at the start). A match at the end is a
/// match anywhere of [`end_anchored_pattern`].
const REGEXP_FUNCTION: &str = "qgraph_regexp";

impl PlanExecutor for SqliteStore {
    fn execute_plan_until(
        &self,
        plan: &GraphPlan,
        deadline: Option<Deadline>,
    ) -> Result<PlanResult, StoreError> {
        let (sql, params) = plan_sql(plan);
        let conn = self.conn();
        register_regexp(&conn)?;
        let Some(deadline) = deadline else {
            return read_plan(&conn, plan, &sql, &params);
        };
        deadline.check()?;

        // The guard drops, removing the handler, before the connection lock is released.
        let limit = TimeLimit::install(&conn, deadline);
        let result = read_plan(&conn, plan, &sql, &params);
        match result {
            Err(_) if limit.fired() => Err(StoreError::QueryTimedOut {
                limit: deadline.limit(),
            }),
            other => other,
        }
    }

    fn load_entities(&self, ids: &[i64]) -> Result<Vec<PlanObject>, StoreError> {
        const SQL: &str = "SELECT e.id, e.entity_key, e.entity_type, e.classes, e.display_name, \
             e.properties, e.source, e.created_on, e.updated_on, e.version, e.instance_id, i.kind \
             FROM entities e JOIN instances i ON i.id = e.instance_id \
             WHERE e.id IN (SELECT value FROM json_each(?1)) ORDER BY e.id";
        let conn = self.conn();
        let mut statement = conn.prepare_cached(SQL)?;
        let mut rows = statement.query([ids_json(ids)])?;
        let mut objects = Vec::with_capacity(ids.len());
        while let Some(row) = rows.next()? {
            let mut properties =
                parse_properties(&row.get::<_, String>(5)?, "entities.properties")?;
            let classes = parse_properties_value(&row.get::<_, String>(3)?, "entities.classes")?;
            properties.insert("_class".into(), classes);
            properties.insert("_key".into(), Value::String(row.get(1)?));
            properties.insert("_type".into(), Value::String(row.get(2)?));
            if let Some(name) = row.get::<_, Option<String>>(4)? {
                properties.insert("displayName".into(), Value::String(name));
            }
            insert_metadata(&mut properties, row, 6)?;
            let id: i64 = row.get(0)?;
            properties.insert("_id".into(), Value::Int(id));
            objects.push(PlanObject { id, properties });
        }
        Ok(objects)
    }

    fn load_relationships(&self, ids: &[i64]) -> Result<Vec<PlanObject>, StoreError> {
        const SQL: &str = "SELECT r.id, r.relationship_key, r.relationship_type, r.class, \
             r.display_name, r.properties, r.source, r.created_on, r.updated_on, r.version, \
             r.instance_id, i.kind, r.from_id, r.to_id \
             FROM relationships r JOIN instances i ON i.id = r.instance_id \
             WHERE r.id IN (SELECT value FROM json_each(?1)) ORDER BY r.id";
        let conn = self.conn();
        let mut statement = conn.prepare_cached(SQL)?;
        let mut rows = statement.query([ids_json(ids)])?;
        let mut objects = Vec::with_capacity(ids.len());
        while let Some(row) = rows.next()? {
            let mut properties =
                parse_properties(&row.get::<_, String>(5)?, "relationships.properties")?;
            properties.insert("_key".into(), Value::String(row.get(1)?));
            properties.insert("_type".into(), Value::String(row.get(2)?));
            properties.insert("_class".into(), Value::String(row.get(3)?));
            if let Some(name) = row.get::<_, Option<String>>(4)? {
                properties.insert("displayName".into(), Value::String(name));
            }
            insert_metadata(&mut properties, row, 6)?;
            properties.insert("_fromEntityId".into(), Value::Int(row.get(12)?));
            properties.insert("_toEntityId".into(), Value::Int(row.get(13)?));
            let id: i64 = row.get(0)?;
            properties.insert("_id".into(), Value::Int(id));
            objects.push(PlanObject { id, properties });
        }
        Ok(objects)
    }
}

/// Runs the statement of a plan and reads all its rows.
fn read_plan(
    conn: &Connection,
    plan: &GraphPlan,
    sql: &str,
    params: &[SqlValue],
) -> Result<PlanResult, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params_from_iter(params.iter()))?;
    if let PlanOutput::CountDistinct { .. } = plan.output {
        let count = match rows.next()? {
            Some(row) => row.get::<_, i64>(0)?,
            None => 0,
        };
        return Ok(PlanResult::Count(u64::try_from(count).unwrap_or(0)));
    }
    if let PlanOutput::GroupedCounts { keys, counts } = &plan.output {
        return read_groups(&mut rows, keys.len(), counts.len()).map(PlanResult::Groups);
    }
    let (entity_slots, relationship_slots) = match plan.output {
        PlanOutput::DistinctEntities(_) => (1, 0),
        _ => (plan.nodes.len(), plan.hops.len()),
    };
    let mut paths = Vec::new();
    while let Some(row) = rows.next()? {
        let mut path = PathRow {
            entities: Vec::with_capacity(entity_slots),
            relationships: Vec::with_capacity(relationship_slots),
        };
        for i in 0..entity_slots {
            path.entities.push(row.get(i)?);
        }
        for i in 0..relationship_slots {
            path.relationships.push(row.get(entity_slots + i)?);
        }
        paths.push(path);
    }
    Ok(PlanResult::Paths(paths))
}

impl SqliteStore {
    /// Returns the SQL statement that runs `plan` and SQLite's `EXPLAIN QUERY PLAN` lines
    /// for it, one per step, indented by depth; for diagnosing slow queries.
    pub fn explain_plan(&self, plan: &GraphPlan) -> Result<(String, Vec<String>), StoreError> {
        let (sql, params) = plan_sql(plan);
        let conn = self.conn();
        register_regexp(&conn)?;
        let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let mut rows = statement.query(params_from_iter(params.iter()))?;
        let mut depth_of = std::collections::HashMap::new();
        let mut lines = Vec::new();
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let parent: i64 = row.get(1)?;
            let detail: String = row.get(3)?;
            let depth = depth_of.get(&parent).map_or(0, |d| d + 1);
            depth_of.insert(id, depth);
            lines.push(format!("{}{detail}", "  ".repeat(depth)));
        }
        Ok((sql, lines))
    }
}

/// Reads grouped-count rows: the keys as JSON texts, then the counts.
fn read_groups(
    rows: &mut rusqlite::Rows<'_>,
    keys: usize,
    counts: usize,
) -> Result<Vec<GroupRow>, StoreError> {
    let mut groups = Vec::new();
    while let Some(row) = rows.next()? {
        let mut group = GroupRow {
            keys: Vec::with_capacity(keys),
            counts: Vec::with_capacity(counts),
        };
        for i in 0..keys {
            let text: String = row.get(i)?;
            group
                .keys
                .push(parse_properties_value(&text, "grouping key")?);
        }
        for i in 0..counts {
            let count: i64 = row.get(keys + i)?;
            group.counts.push(u64::try_from(count).unwrap_or(0));
        }
        groups.push(group);
    }
    Ok(groups)
}

fn ids_json(ids: &[i64]) -> String {
    let mut text = String::with_capacity(ids.len() * 8 + 2);
    text.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let _ = write!(text, "{id}");
    }
    text.push(']');
    text
}

fn parse_properties(text: &str, column: &'static str) -> Result<Properties, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::StoredJson { column, source })
}

fn parse_properties_value(text: &str, column: &'static str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::StoredJson { column, source })
}

/// Inserts `_source`, `_createdOn`, `_updatedOn`, `_version`, `_integrationInstanceId` and
/// `_integrationType` from the six columns starting at `first`.
fn insert_metadata(
    properties: &mut Properties,
    row: &rusqlite::Row<'_>,
    first: usize,
) -> Result<(), StoreError> {
    properties.insert("_source".into(), Value::String(row.get(first)?));
    properties.insert("_createdOn".into(), Value::Int(row.get(first + 1)?));
    properties.insert("_updatedOn".into(), Value::Int(row.get(first + 2)?));
    properties.insert("_version".into(), Value::Int(row.get(first + 3)?));
    properties.insert(
        "_integrationInstanceId".into(),
        Value::Int(row.get(first + 4)?),
    );
    properties.insert(
        "_integrationType".into(),
        Value::String(row.get(first + 5)?),
    );
    Ok(())
}

/// Registers the regex function; registering again replaces it, which is cheap.
fn register_regexp(conn: &Connection) -> Result<(), StoreError> {
    conn.create_scalar_function(
        REGEXP_FUNCTION,
        3,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let regex = ctx.get_or_create_aux(0, |pattern| -> Result<regex::Regex, BoxError> {
                let pattern = pattern.as_str()?;
                Ok(regex::RegexBuilder::new(pattern)
                    .size_limit(1 << 20)
                    .build()?)
            })?;
            let Ok(text) = ctx.get_raw(1).as_str() else {
                return Ok(false);
            };
            let anchor: i64 = ctx.get(2)?;
            Ok(match anchor {
                1 => regex.find(text).is_some_and(|m| m.start() == 0),
                _ => regex.is_match(text),
            })
        },
    )?;
    Ok(())
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Builds the SQL text and its parameters.
pub(crate) fn plan_sql(plan: &GraphPlan) -> (String, Vec<SqlValue>) {
    let mut builder = SqlBuilder {
        plan,
        params: Vec::new(),
        class_only: Vec::new(),
        start_conditions: Vec::new(),
        walk: None,
    };
    builder.mark_class_only_nodes();
    let sql = builder.statement();
    (sql, builder.params)
}

struct SqlBuilder<'p> {
    plan: &'p GraphPlan,
    params: Vec<SqlValue>,
    /// Per node, whether it is read from `entity_classes` alone (see `chain`).
    class_only: Vec<bool>,
    /// Conditions on the first table of a chain, which has no ON clause.
    start_conditions: Vec<String>,
    /// The node the statement walks from by nested `EXISTS` (see `starts`), if it does.
    walk: Option<usize>,
}

/// The storage location of a property's values.
enum Source {
    /// A scalar column (or expression).
    Column(String),
    /// A column holding a JSON array of strings.
    JsonArray(String),
    /// A property of a JSON object column, addressed by a quoted path literal.
    Json {
        doc: String,
        path: String,
        scalar_only: bool,
    },
    /// A property whose name cannot be written as a JSON path; matched by key.
    JsonKey { doc: String, key: String },
}

impl<'p> SqlBuilder<'p> {
    fn bind(&mut self, value: SqlValue) -> String {
        self.params.push(value);
        format!("?{}", self.params.len())
    }

    fn statement(&mut self) -> String {
        self.walk = self.walk_start();
        if let (Some(start), PlanOutput::GroupedCounts { keys, counts }) =
            (self.walk, &self.plan.output)
            && start > 0
        {
            return self.grouped_walk(start, keys, counts);
        }
        let (from, conditions) = match self.walk {
            Some(start) => self.walk_from_and_conditions(start),
            None => (self.join_clause(), self.where_conditions()),
        };
        let mut sql = String::from("SELECT ");
        sql.push_str(&self.select_list());
        sql.push_str(" FROM ");
        sql.push_str(&from);
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        if let PlanOutput::DistinctEntities(node) = self.plan.output
            && self.walk.is_none()
        {
            let _ = write!(sql, " GROUP BY {}", self.node_id(node));
        }
        if let PlanOutput::CountDistinct { .. } = self.plan.output {
            return sql;
        }
        if let PlanOutput::GroupedCounts { keys, counts } = &self.plan.output {
            // The lowest start id comes after the keys and counts; keys break its ties.
            let key_columns: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
            let key_columns = key_columns.join(", ");
            let first_seen = keys.len() + counts.len() + 1;
            let _ = write!(
                sql,
                " GROUP BY {key_columns} ORDER BY {first_seen}, {key_columns}"
            );
            return sql;
        }
        sql.push_str(&self.order_clause());
        let limit = self
            .plan
            .limit
            .and_then(|l| i64::try_from(l).ok())
            .unwrap_or(-1);
        let offset = i64::try_from(self.plan.skip).unwrap_or(i64::MAX);
        let limit = self.bind(SqlValue::Integer(limit));
        let offset = self.bind(SqlValue::Integer(offset));
        let _ = write!(sql, " LIMIT {limit} OFFSET {offset}");
        sql
    }

    fn select_list(&mut self) -> String {
        match &self.plan.output {
            PlanOutput::DistinctEntities(node) => self.node_id(*node),
            // Without a joined hop each row is a distinct start entity, and `count(*)` lets
            // SQLite count from an index without a temporary table for the distinct ids.
            PlanOutput::CountDistinct {
                node: 0,
                property: None,
            } if self
                .plan
                .hops
                .iter()
                .all(|hop| hop.mode == HopMode::Negated) =>
            {
                "count(*)".to_owned()
            }
            PlanOutput::CountDistinct {
                node,
                property: None,
            } => format!("count(DISTINCT {})", self.node_id(*node)),
            PlanOutput::CountDistinct {
                node,
                property: Some(name),
            } => {
                let property = PropertyRef {
                    slot: Slot::Entity(*node),
                    name: name.clone(),
                };
                // The JSON text keeps `true` apart from `1` (`json_extract` returns 1 for
                // both), as the grouped counts below do.
                let text = self.json_text(&property);
                format!("count(DISTINCT nullif({text}, 'null'))")
            }
            PlanOutput::GroupedCounts { keys, counts } => {
                let mut columns: Vec<String> = keys.iter().map(|k| self.json_text(k)).collect();
                for target in counts {
                    columns.push(match target {
                        CountTarget::Entities(node) => {
                            format!("count(DISTINCT {})", self.node_id(*node))
                        }
                        CountTarget::Values(property) => {
                            let text = self.json_text(property);
                            format!("count(DISTINCT nullif({text}, 'null'))")
                        }
                    });
                }
                columns.push(format!("min({})", self.node_id(0)));
                columns.join(", ")
            }
            PlanOutput::Paths => {
                let mut columns = Vec::new();
                for n in 0..self.plan.nodes.len() {
                    columns.push(if self.is_negated_node(n) {
                        "NULL".to_owned()
                    } else {
                        self.node_id(n)
                    });
                }
                for (i, hop) in self.plan.hops.iter().enumerate() {
                    columns.push(if hop.mode == HopMode::Negated {
                        "NULL".to_owned()
                    } else {
                        format!("r{i}.id")
                    });
                }
                columns.join(", ")
            }
        }
    }

    fn is_negated_node(&self, node: usize) -> bool {
        node > 0
            && self
                .plan
                .hops
                .get(node - 1)
                .is_some_and(|hop| hop.mode == HopMode::Negated)
    }

    fn order_clause(&mut self) -> String {
        let Some(order) = self.plan.order.clone() else {
            return format!(" ORDER BY {}", self.node_id(0));
        };
        let value = self.sort_value(&order.property);
        let direction = if order.descending { "DESC" } else { "ASC" };
        format!(" ORDER BY {value} {direction}, {}", self.node_id(0))
    }

    /// Returns one SQL value of a property, for sorting and counting (an array sorts as its JSON text).
    fn sort_value(&mut self, property: &PropertyRef) -> String {
        match self.source(property) {
            Source::Column(expr) | Source::JsonArray(expr) => expr,
            Source::Json { doc, path, .. } => format!("json_extract({doc}, {path})"),
            Source::JsonKey { doc, key } => {
                format!("(SELECT k.value FROM json_each({doc}) k WHERE k.key = {key})")
            }
        }
    }

    /// Returns the JSON text of a property's value, `'null'` when absent, so that values
    /// group by type and value the way the query engine compares them.
    /// NOTE: values group by their stored text, so one number written two ways (`1.5`
    /// and `1.50`) makes two groups. The store writes JSON through serde, which writes
    /// each number one way.
    fn json_text(&mut self, property: &PropertyRef) -> String {
        match self.source(property) {
            Source::Column(expr) => format!("json_quote({expr})"),
            Source::JsonArray(expr) => expr,
            Source::Json { doc, path, .. } => format!("coalesce({doc} -> {path}, 'null')"),
            Source::JsonKey { doc, key } => format!(
                "coalesce((SELECT CASE WHEN k.type IN ('true', 'false') THEN k.type \
                 WHEN k.type IN ('array', 'object') THEN k.value ELSE json_quote(k.value) END \
                 FROM json_each({doc}) k WHERE k.key = {key}), 'null')"
            ),
        }
    }

    fn join_clause(&mut self) -> String {
        if let Some(start) = self.chain_start() {
            return self.chain_join(start);
        }
        let mut from = String::from("entities e0");
        // An indexed filter reads fewer entities than the class, but SQLite, guessing
        // without statistics, prefers the class when the filter is a disjunction.
        let join = if self.start_filter_is_indexed(0) {
            "CROSS JOIN"
        } else {
            "JOIN"
        };
        from.push_str(&self.class_join(0, join));
        for (i, hop) in self.plan.hops.iter().enumerate() {
            let node = i + 1;
            match hop.mode {
                HopMode::Required => {
                    let ends = hop_ends(i, hop.from, node, hop.direction);
                    let _ = write!(
                        from,
                        " JOIN relationships r{i} JOIN entities e{node} ON {ends}"
                    );
                    from.push_str(&self.class_join(node, "JOIN"));
                }
                HopMode::Optional => {
                    let on = self.optional_condition(i);
                    let _ = write!(
                        from,
                        " LEFT JOIN (relationships r{i} JOIN entities e{node} \
                         ON e{node}.id IN (r{i}.from_id, r{i}.to_id)) ON {on}"
                    );
                }
                HopMode::Negated => {}
            }
        }
        from
    }

    /// Returns the class a node selects by a join on `entity_classes`, if it does.
    ///
    /// A join, unlike `id IN (SELECT ...)`, lets SQLite either start from the class or
    /// check it per row with one primary-key lookup; the `IN` form builds a temporary
    /// table of every entity of the class when the node does not drive the plan. Only a
    /// single class qualifies, because a join on several could repeat an entity.
    fn joined_class(&self, node: usize) -> Option<&'p String> {
        let plan = self.plan;
        let reached_by_required_hop = node == 0
            || plan
                .hops
                .get(node - 1)
                .is_some_and(|hop| hop.mode == HopMode::Required);
        if !reached_by_required_hop {
            return None;
        }
        match &plan.nodes.get(node)?.selector {
            EntitySelector::Names { classes, types } if types.is_empty() => {
                match classes.as_slice() {
                    [class] => Some(class),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Joins `entity_classes` for a node selected by one class. `CROSS JOIN` keeps the
    /// class check after the entity; a plain join lets SQLite start from the class.
    fn class_join(&mut self, node: usize, join: &str) -> String {
        let Some(class) = self.joined_class(node) else {
            return String::new();
        };
        let class = self.bind(SqlValue::Text(class.clone()));
        format!(
            " {join} entity_classes c{node} ON c{node}.entity_id = e{node}.id \
             AND c{node}.class = {class}"
        )
    }

    fn optional_condition(&mut self, hop_index: usize) -> String {
        let plan = self.plan;
        let Some(hop) = plan.hops.get(hop_index) else {
            return "0".to_owned();
        };
        let node = hop_index + 1;
        let mut parts = vec![hop_ends(hop_index, hop.from, node, hop.direction)];
        parts.extend(self.hop_conditions(hop_index));
        parts.join(" AND ")
    }

    /// Conditions on a hop's relationship class and its reached node.
    fn hop_conditions(&mut self, hop_index: usize) -> Vec<String> {
        let mut parts: Vec<String> = self
            .relationship_class_condition(hop_index)
            .into_iter()
            .collect();
        parts.extend(self.node_conditions(hop_index + 1));
        parts
    }

    /// Returns the condition on a hop's relationship class, none when the hop follows
    /// every class.
    fn relationship_class_condition(&mut self, hop_index: usize) -> Option<String> {
        let hop = self.plan.hops.get(hop_index)?;
        if hop.classes.is_empty() {
            return None;
        }
        let list = self.bind_list(&hop.classes);
        Some(format!("r{hop_index}.class IN ({list})"))
    }

    /// Returns the conditions on a node's selector and filter.
    fn node_conditions(&mut self, node: usize) -> Vec<String> {
        let mut parts: Vec<String> = self.node_selector_condition(node).into_iter().collect();
        if let Some(filter) = self.plan.nodes.get(node).and_then(|n| n.filter.as_ref()) {
            parts.push(self.predicate(filter));
        }
        parts
    }

    /// Returns the condition on a node's selector, none when a class join selects or
    /// the selector is `*`.
    fn node_selector_condition(&mut self, node: usize) -> Option<String> {
        let spec = self.plan.nodes.get(node)?;
        if self.joined_class(node).is_some() {
            return None;
        }
        self.selector_condition(node, &spec.selector)
    }

    fn where_conditions(&mut self) -> Vec<String> {
        let plan = self.plan;
        let mut parts = std::mem::take(&mut self.start_conditions);
        parts.extend(self.node_conditions(0));
        for (i, hop) in plan.hops.iter().enumerate() {
            match hop.mode {
                HopMode::Required => parts.extend(self.hop_conditions(i)),
                HopMode::Optional => {}
                HopMode::Negated => parts.push(self.negated_hop(i)),
            }
        }
        if let Some(filter) = &plan.filter {
            parts.push(self.predicate(filter));
        }
        parts
    }

    fn negated_hop(&mut self, hop_index: usize) -> String {
        let plan = self.plan;
        let Some(hop) = plan.hops.get(hop_index) else {
            return "1".to_owned();
        };
        let node = hop_index + 1;
        let ends = hop_ends(hop_index, hop.from, node, hop.direction);
        let mut conditions = vec![ends];
        conditions.extend(self.hop_conditions(hop_index));
        format!(
            "NOT EXISTS (SELECT 1 FROM relationships r{hop_index} JOIN entities e{node} \
             WHERE {})",
            conditions.join(" AND ")
        )
    }

    fn bind_list(&mut self, items: &[String]) -> String {
        items
            .iter()
            .map(|item| self.bind(SqlValue::Text(item.clone())))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn selector_condition(&mut self, node: usize, selector: &EntitySelector) -> Option<String> {
        match selector {
            EntitySelector::Any => None,
            EntitySelector::Names { classes, types } => {
                let mut alternatives = Vec::new();
                if !types.is_empty() {
                    let list = self.bind_list(types);
                    alternatives.push(format!("e{node}.entity_type IN ({list})"));
                }
                if !classes.is_empty() {
                    let list = self.bind_list(classes);
                    alternatives.push(format!(
                        "e{node}.id IN (SELECT entity_id FROM entity_classes WHERE class IN ({list}))"
                    ));
                }
                if alternatives.is_empty() {
                    return Some("0".to_owned());
                }
                Some(format!("({})", alternatives.join(" OR ")))
            }
            EntitySelector::Text(text) => {
                let needle = self.bind(SqlValue::Text(text.clone()));
                Some(format!(
                    "(instr(e{node}.entity_key, {needle}) > 0 \
                     OR instr(coalesce(e{node}.display_name, ''), {needle}) > 0 \
                     OR EXISTS (SELECT 1 FROM json_tree(e{node}.properties) t \
                     WHERE t.atom IS NOT NULL AND instr(t.atom, {needle}) > 0))"
                ))
            }
        }
    }

    fn predicate(&mut self, predicate: &Predicate) -> String {
        match predicate {
            Predicate::And(terms) => self.joined(terms, " AND ", "1"),
            Predicate::Or(terms) => match self.value_set(terms) {
                Some(sql) => sql,
                None => self.joined(terms, " OR ", "0"),
            },
            // SQL comparisons on an absent property are NULL, and NOT NULL is NULL, so the inner
            // result is made two-valued first: negations must hold on absent properties.
            Predicate::Not(inner) => format!("NOT coalesce(({}), 0)", self.predicate(inner)),
            Predicate::False => "0".to_owned(),
            Predicate::Exists(property) => self.exists(property),
            Predicate::Compare {
                property,
                op,
                value,
            } => self.compare(property, *op, value),
            Predicate::CompareProperties { lhs, op, rhs } => self.compare_properties(lhs, *op, rhs),
        }
    }

    fn joined(&mut self, terms: &[Predicate], separator: &str, empty: &str) -> String {
        if terms.is_empty() {
            return empty.to_owned();
        }
        let parts: Vec<String> = terms.iter().map(|t| self.predicate(t)).collect();
        format!("({})", parts.join(separator))
    }

    fn source(&mut self, property: &PropertyRef) -> Source {
        match property.slot {
            Slot::Entity(n) => self.entity_source(n, &property.name),
            Slot::Relationship(i) => self.relationship_source(i, &property.name),
        }
    }

    fn entity_source(&mut self, node: usize, name: &str) -> Source {
        let table = format!("e{node}");
        let column = match name {
            "_id" => "id",
            "_key" => "entity_key",
            "_type" => "entity_type",
            "displayName" => "display_name",
            "_class" => return Source::JsonArray(format!("{table}.classes")),
            "_integrationType" => {
                return Source::Column(format!(
                    "(SELECT kind FROM instances WHERE id = {table}.instance_id)"
                ));
            }
            _ => match metadata_column(name) {
                Some(column) => column,
                None => return self.json_source(format!("{table}.properties"), name),
            },
        };
        Source::Column(format!("{table}.{column}"))
    }

    fn relationship_source(&mut self, hop: usize, name: &str) -> Source {
        let table = format!("r{hop}");
        let column = match name {
            "_id" => "id",
            "_key" => "relationship_key",
            "_type" => "relationship_type",
            "_class" => "class",
            "displayName" => "display_name",
            "_fromEntityId" => "from_id",
            "_toEntityId" => "to_id",
            "_integrationType" => {
                return Source::Column(format!(
                    "(SELECT kind FROM instances WHERE id = {table}.instance_id)"
                ));
            }
            _ => match metadata_column(name) {
                Some(column) => column,
                None => return self.json_source(format!("{table}.properties"), name),
            },
        };
        Source::Column(format!("{table}.{column}"))
    }

    fn json_source(&mut self, doc: String, name: &str) -> Source {
        if name.contains(['"', '\\']) || name.chars().any(char::is_control) {
            let key = self.bind(SqlValue::Text(name.to_owned()));
            return Source::JsonKey { doc, key };
        }
        // A quoted label keeps dots inside names such as `tag.AccountName`. The path is inlined
        // rather than bound so that it matches the expression indexes of the schema.
        let path = format!("'$.\"{}\"'", name.replace('\'', "''"));
        let path = if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            format!("'$.{name}'")
        } else {
            path
        };
        Source::Json {
            doc,
            path,
            scalar_only: SCALAR_INDEXED.contains(&name),
        }
    }

    /// Returns a subquery of `(value, type)` rows, one per value or array element.
    fn value_rows(&mut self, property: &PropertyRef) -> String {
        match self.source(property) {
            Source::Column(expr) => {
                format!("SELECT {expr} AS value, typeof({expr}) AS type WHERE {expr} IS NOT NULL")
            }
            Source::JsonArray(expr) => format!("SELECT value, type FROM json_each({expr})"),
            Source::Json { doc, path, .. } => {
                format!("SELECT value, type FROM json_each({doc}, {path})")
            }
            Source::JsonKey { doc, key } => format!(
                "SELECT j.value, j.type FROM json_each({doc}) k, json_each(CASE WHEN k.type IN \
                 ('array', 'object') THEN k.value ELSE json_quote(k.value) END) j WHERE k.key = {key}"
            ),
        }
    }

    fn exists(&mut self, property: &PropertyRef) -> String {
        match self.source(property) {
            Source::Column(expr) | Source::JsonArray(expr) => format!("{expr} IS NOT NULL"),
            Source::Json { doc, path, .. } => {
                format!("coalesce(json_type({doc}, {path}), 'null') <> 'null'")
            }
            Source::JsonKey { doc, key } => format!(
                "EXISTS (SELECT 1 FROM json_each({doc}) k WHERE k.key = {key} AND k.type <> 'null')"
            ),
        }
    }

    fn compare(&mut self, property: &PropertyRef, op: CompareOp, value: &PlanValue) -> String {
        let Some(test) = self.value_test(op, value) else {
            return "0".to_owned();
        };
        self.test_property(property, &test)
    }

    /// Applies a value test to every value of a property, array elements included.
    fn test_property(&mut self, property: &PropertyRef, test: &ValueTest) -> String {
        match self.source(property) {
            Source::Column(expr) => test.apply(&expr, &format!("typeof({expr})")),
            Source::Json {
                doc,
                path,
                scalar_only,
            } => {
                let scalar = test.apply_json(&doc, &path);
                if scalar_only {
                    return scalar;
                }
                let element = test.apply("j.value", "j.type");
                format!(
                    "({scalar} OR (json_type({doc}, {path}) = 'array' AND EXISTS \
                     (SELECT 1 FROM json_each({doc}, {path}) j WHERE {element})))"
                )
            }
            source @ (Source::JsonArray(_) | Source::JsonKey { .. }) => {
                let rows = match source {
                    Source::JsonArray(expr) => format!("SELECT value, type FROM json_each({expr})"),
                    _ => self.value_rows(property),
                };
                let element = test.apply("x.value", "x.type");
                format!("EXISTS (SELECT 1 FROM ({rows}) x WHERE {element})")
            }
        }
    }

    /// Builds the test of one value against a literal, or `None` when it can never hold.
    fn value_test(&mut self, op: CompareOp, value: &PlanValue) -> Option<ValueTest> {
        Some(match (op, value) {
            (
                _,
                PlanValue::Regex {
                    pattern,
                    case_insensitive,
                },
            ) => {
                let pattern = match op {
                    CompareOp::EndsWith => end_anchored_pattern(pattern),
                    _ => pattern.clone(),
                };
                let pattern = if *case_insensitive {
                    format!("(?i){pattern}")
                } else {
                    pattern
                };
                let anchor = match op {
                    CompareOp::StartsWith => 1,
                    CompareOp::Eq | CompareOp::Contains | CompareOp::EndsWith => 0,
                    _ => return None,
                };
                let param = self.bind(SqlValue::Text(pattern));
                ValueTest::text(format!("{REGEXP_FUNCTION}({param}, {{v}}, {anchor})"))
            }
            (CompareOp::Eq, PlanValue::Str(s)) => {
                let param = self.bind(SqlValue::Text(s.clone()));
                ValueTest::Text {
                    test: format!("{{v}} = {param}"),
                    // `json_extract` returns an array or object as its JSON text, which
                    // can equal the literal only when the literal starts like JSON text.
                    exact_on_text: !s.starts_with(['[', '{']),
                }
            }
            (CompareOp::Contains, PlanValue::Str(s)) => {
                let param = self.bind(SqlValue::Text(s.clone()));
                ValueTest::text(format!("instr({{v}}, {param}) > 0"))
            }
            (CompareOp::StartsWith | CompareOp::EndsWith, PlanValue::Str(s)) => {
                if s.is_empty() {
                    return Some(ValueTest::text("1".to_owned()));
                }
                let length = s.chars().count();
                let param = self.bind(SqlValue::Text(s.clone()));
                let start = if op == CompareOp::StartsWith {
                    format!("1, {length}")
                } else {
                    format!("-{length}")
                };
                ValueTest::text(format!("substr({{v}}, {start}) = {param}"))
            }
            (_, PlanValue::Number(n)) => {
                let symbol = order_symbol(op)?;
                let param = self.bind(SqlValue::Real(*n));
                ValueTest::Number {
                    test: format!("{{v}} {symbol} {param}"),
                    // `json_extract` returns `true` and `false` as 1 and 0.
                    holds_for_booleans: [0.0, 1.0].iter().any(|b| holds(*b, op, *n)),
                }
            }
            (CompareOp::Eq, PlanValue::Bool(b)) => ValueTest::Bool(*b),
            _ => return None,
        })
    }

    fn compare_properties(
        &mut self,
        lhs: &PropertyRef,
        op: CompareOp,
        rhs: &PropertyRef,
    ) -> String {
        let left = self.value_rows(lhs);
        let right = self.value_rows(rhs);
        let numeric = "a.type IN ('integer', 'real') AND b.type IN ('integer', 'real')";
        let texts = "a.type = 'text' AND b.type = 'text'";
        let test = match op {
            CompareOp::Eq => format!("(({numeric}) OR a.type = b.type) AND a.value = b.value"),
            CompareOp::Lt | CompareOp::Gt | CompareOp::Le | CompareOp::Ge => {
                let symbol = order_symbol(op).unwrap_or("=");
                format!("{numeric} AND a.value {symbol} b.value")
            }
            CompareOp::Contains => format!("{texts} AND instr(a.value, b.value) > 0"),
            CompareOp::StartsWith => {
                format!("{texts} AND substr(a.value, 1, length(b.value)) = b.value")
            }
            CompareOp::EndsWith => {
                format!("{texts} AND (b.value = '' OR substr(a.value, -length(b.value)) = b.value)")
            }
        };
        format!("EXISTS (SELECT 1 FROM ({left}) a, ({right}) b WHERE {test})")
    }
}

/// A test on one value `{v}` whose JSON or SQLite type is given separately.
enum ValueTest {
    Text {
        test: String,
        /// Whether the test fails on the JSON text of every array and object, so that
        /// `typeof` of the extracted value is enough to tell a string from them.
        exact_on_text: bool,
    },
    Number {
        test: String,
        /// Whether the test holds for 0 or 1, the values `json_extract` gives booleans.
        holds_for_booleans: bool,
    },
    Bool(bool),
}

impl ValueTest {
    fn text(test: String) -> Self {
        ValueTest::Text {
            test,
            exact_on_text: false,
        }
    }

    fn apply(&self, value: &str, value_type: &str) -> String {
        match self {
            ValueTest::Text { test, .. } => {
                format!("({value_type} = 'text' AND {})", test.replace("{v}", value))
            }
            ValueTest::Number { test, .. } => format!(
                "({value_type} IN ('integer', 'real') AND {})",
                test.replace("{v}", value)
            ),
            ValueTest::Bool(b) => format!("({value_type} = '{b}')"),
        }
    }

    /// Applies the test to the scalar at `path` of the JSON column `doc`.
    ///
    /// Where the SQL type of `json_extract` is enough, the test reads only that
    /// expression (and `json_type` for booleans), which the schema's expression indexes
    /// store; SQLite then answers the test from an index without parsing the document.
    fn apply_json(&self, doc: &str, path: &str) -> String {
        let value = format!("json_extract({doc}, {path})");
        let sql_type = format!("typeof({value})");
        let json_type = format!("json_type({doc}, {path})");
        match self {
            ValueTest::Text {
                exact_on_text: true,
                ..
            }
            | ValueTest::Number {
                holds_for_booleans: false,
                ..
            } => self.apply(&value, &sql_type),
            _ => self.apply(&value, &json_type),
        }
    }
}

/// Returns whether `value op literal` holds, for the order operators.
fn holds(value: f64, op: CompareOp, literal: f64) -> bool {
    match op {
        CompareOp::Eq => value == literal,
        CompareOp::Lt => value < literal,
        CompareOp::Gt => value > literal,
        CompareOp::Le => value <= literal,
        CompareOp::Ge => value >= literal,
        CompareOp::Contains | CompareOp::StartsWith | CompareOp::EndsWith => true,
    }
}

fn order_symbol(op: CompareOp) -> Option<&'static str> {
    match op {
        CompareOp::Eq => Some("="),
        CompareOp::Lt => Some("<"),
        CompareOp::Gt => Some(">"),
        CompareOp::Le => Some("<="),
        CompareOp::Ge => Some(">="),
        _ => None,
    }
}

fn metadata_column(name: &str) -> Option<&'static str> {
    match name {
        "_source" => Some("source"),
        "_createdOn" => Some("created_on"),
        "_updatedOn" => Some("updated_on"),
        "_version" => Some("version"),
        "_integrationInstanceId" => Some("instance_id"),
        _ => None,
    }
}

/// Joins relationship `r{hop}` to the node it starts from and the node it reaches.
///
/// Both ends are named in one condition, and either direction of a `Both` hop is a
/// disjunct of equalities, so SQLite can walk the hop from whichever node is more
/// selective using the `(from_id, class, to_id)` and `(to_id, class, from_id)` indexes.
/// A relationship from an entity to itself matches both disjuncts and still yields one row.
fn hop_ends(hop: usize, from: usize, reached: usize, direction: HopDirection) -> String {
    let outgoing = format!("r{hop}.from_id = e{from}.id AND r{hop}.to_id = e{reached}.id");
    let incoming = format!("r{hop}.to_id = e{from}.id AND r{hop}.from_id = e{reached}.id");
    match direction {
        HopDirection::Outgoing => outgoing,
        HopDirection::Incoming => incoming,
        HopDirection::Both => format!("(({outgoing}) OR ({incoming}))"),
    }
}
