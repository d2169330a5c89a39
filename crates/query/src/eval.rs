//! Runs a query: plans it, executes the plan in the store and shapes the rows.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use qgraph_model::{Properties, Value};
use qgraph_store::StoreError;
use qgraph_store::plan::{
    Deadline, GraphPlan, PathRow, PlanExecutor, PlanObject, PlanOutput, PlanResult, PropertyRef,
    Slot, SortKey,
};

use crate::ast::{Expr, Func, OrderBy, OrderKey, Query, Return};
use crate::check::{Aliases, Binding};
use crate::error::QueryError;
use crate::planner::{Traversal, lower_traversal};
use crate::pushdown::{count_pushdown, grouped_count_pushdown};
use crate::rows::{RowContext, Table, TableBuilder, compare_values};
use crate::values::LiteralContext;

/// Rows per page when the query has no LIMIT.
pub const DEFAULT_PAGE_SIZE: u64 = 250;

/// Ids loaded per store call, to bound statement size.
const LOAD_CHUNK: usize = 10_000;

/// Options of one query run.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// The time `date.now` stands for, in epoch milliseconds.
    pub now_millis: i64,
    /// Values of `${ param.name }` parameters.
    pub params: BTreeMap<String, Value>,
    /// Rows per page when the query has no LIMIT.
    pub page_size: u64,
    /// Rows to skip, from the `next_cursor` of the previous page.
    pub cursor: u64,
    /// Time limit of the run, from planning to the last loaded object; `None` runs
    /// without a limit. The store stops a statement that runs past it.
    /// NOTE: shaping rows in Rust (RETURN columns, grouping, sorting) is not stopped.
    pub timeout: Option<Duration>,
}

impl QueryOptions {
    /// Options with `now_millis` and the default page size.
    pub fn at(now_millis: i64) -> Self {
        QueryOptions {
            now_millis,
            params: BTreeMap::new(),
            page_size: DEFAULT_PAGE_SIZE,
            cursor: 0,
            timeout: None,
        }
    }
}

/// A query that failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The run passed [`QueryOptions::timeout`] and was stopped.
    #[error(
        "the query timed out after {limit:?} and was stopped; narrow it with fewer \
         RELATES TO hops, a filter on the first entity or a LIMIT"
    )]
    TimedOut { limit: Duration },
    #[error("the graph store failed: {0}")]
    Store(StoreError),
}

impl From<StoreError> for RunError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::QueryTimedOut { limit } => RunError::TimedOut { limit },
            other => RunError::Store(other),
        }
    }
}

/// A store whose plans and loads share the deadline of one query run.
struct Limited<'s, E> {
    store: &'s E,
    deadline: Option<Deadline>,
}

impl<E: PlanExecutor> Limited<'_, E> {
    /// Returns an error once the deadline has passed; loads are not stopped midway, so
    /// they check it before each chunk.
    fn check(&self) -> Result<(), StoreError> {
        self.deadline.as_ref().map_or(Ok(()), Deadline::check)
    }
}

impl<E: PlanExecutor> PlanExecutor for Limited<'_, E> {
    fn execute_plan_until(
        &self,
        plan: &GraphPlan,
        deadline: Option<Deadline>,
    ) -> Result<PlanResult, StoreError> {
        self.store
            .execute_plan_until(plan, deadline.or(self.deadline))
    }

    fn load_entities(&self, ids: &[i64]) -> Result<Vec<PlanObject>, StoreError> {
        self.check()?;
        self.store.load_entities(ids)
    }

    fn load_relationships(&self, ids: &[i64]) -> Result<Vec<PlanObject>, StoreError> {
        self.check()?;
        self.store.load_relationships(ids)
    }
}

/// An edge of a tree result.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeEdge {
    pub id: i64,
    pub from_id: i64,
    pub to_id: i64,
    pub properties: Properties,
}

/// The result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    /// Entities of the start selector (and of optional groups), without RETURN.
    List {
        entities: Vec<PlanObject>,
        /// Pass as [`QueryOptions::cursor`] to get the next page; `None` on the last page.
        next_cursor: Option<u64>,
    },
    /// Named columns, from RETURN.
    Table {
        columns: Vec<String>,
        rows: Vec<Vec<Value>>,
        next_cursor: Option<u64>,
    },
    /// The traversed subgraph, from RETURN TREE.
    Tree {
        vertices: Vec<PlanObject>,
        edges: Vec<TreeEdge>,
        /// The cursor of the next page of paths, when more paths follow.
        next_cursor: Option<u64>,
    },
}

impl QueryResult {
    /// Returns the cursor of the next page, when more rows or paths follow.
    pub fn next_cursor(&self) -> Option<u64> {
        match self {
            QueryResult::List { next_cursor, .. }
            | QueryResult::Table { next_cursor, .. }
            | QueryResult::Tree { next_cursor, .. } => *next_cursor,
        }
    }
}

/// Parses, checks and runs a J1QL query on a store.
pub fn run_query<E: PlanExecutor>(
    store: &E,
    text: &str,
    options: &QueryOptions,
) -> Result<QueryResult, RunError> {
    let (query, aliases) = crate::parse_checked(text)?;
    run_parsed(store, &query, &aliases, options)
}

/// Runs a parsed and checked query.
pub fn run_parsed<E: PlanExecutor>(
    store: &E,
    query: &Query,
    aliases: &Aliases,
    options: &QueryOptions,
) -> Result<QueryResult, RunError> {
    let store = &Limited {
        store,
        deadline: options.timeout.map(Deadline::after),
    };
    let context = LiteralContext {
        now_millis: options.now_millis,
        params: options.params.clone(),
    };
    let traversal = lower_traversal(query, aliases, &context)?;
    match &query.return_clause {
        None => run_list(store, query, aliases, &traversal, options),
        Some(Return::Tree) => run_tree(store, query, &traversal, options),
        Some(Return::Items(_)) => run_table(store, query, aliases, &traversal, options, &context),
    }
}

/// Returns the skip and limit of the requested page. Callers fetch one row past the limit to learn whether more follow.
fn page(query: &Query, options: &QueryOptions) -> (u64, u64) {
    let skip = query.skip.unwrap_or(0).saturating_add(options.cursor);
    let limit = query.limit.unwrap_or(options.page_size);
    (skip, limit)
}

/// Returns the cursor of the next page, or `None` on the last page.
///
/// A query with its own LIMIT returns its rows in one page, so the rows past that
/// limit are not a next page. `LIMIT 0` has no next page either, since a cursor that
/// does not move would repeat forever.
fn next_cursor(query: &Query, options: &QueryOptions, limit: u64, fetched: usize) -> Option<u64> {
    let more = query.limit.is_none() && limit > 0 && fetched as u64 > limit;
    more.then(|| options.cursor.saturating_add(limit))
}

fn sort_key(query: &Query, aliases: &Aliases) -> Option<SortKey> {
    let order = query.order_by.as_ref()?;
    let OrderKey::Prop(prop) = &order.key else {
        return None;
    };
    let slot = match aliases.resolve(&prop.alias.as_ref()?.name)? {
        Binding::Entity(n) => Slot::Entity(n),
        Binding::Relationship(i) => Slot::Relationship(i),
        Binding::Union { .. } => return None,
    };
    Some(SortKey {
        property: PropertyRef {
            slot,
            name: prop.name.clone(),
        },
        descending: order.descending,
    })
}

fn run_list<E: PlanExecutor>(
    store: &E,
    query: &Query,
    aliases: &Aliases,
    traversal: &Traversal,
    options: &QueryOptions,
) -> Result<QueryResult, RunError> {
    let (skip, limit) = page(query, options);
    if traversal.optional_nodes.is_empty() {
        let mut plan = traversal.plan(PlanOutput::DistinctEntities(0));
        plan.order = sort_key(query, aliases);
        plan.skip = skip;
        plan.limit = Some(limit.saturating_add(1));
        let ids = path_ids(store.execute_plan(&plan)?, |row| row.entities.clone());
        let cursor = next_cursor(query, options, limit, ids.len());
        let ids: Vec<i64> = ids.into_iter().take(limit_usize(limit)).collect();
        let entities = load_in_order(store, &ids, Kind::Entity)?;
        return Ok(QueryResult::List {
            entities,
            next_cursor: cursor,
        });
    }

    // An optional group adds the entities it reaches to the start entities.
    let rows = paths(store.execute_plan(&traversal.plan(PlanOutput::Paths))?);
    let mut ids = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for row in &rows {
        let slots = std::iter::once(0).chain(traversal.optional_nodes.iter().copied());
        for slot in slots {
            if let Some(Some(id)) = row.entities.get(slot)
                && seen.insert(*id)
            {
                ids.push(*id);
            }
        }
    }
    if let Some(name) = union_sort_property(query, aliases)? {
        ids = sort_by_property(store, ids, name, query.order_by.as_ref())?;
    }
    let window: Vec<i64> = ids
        .iter()
        .copied()
        .skip(limit_usize(skip))
        .take(limit_usize(limit).saturating_add(1))
        .collect();
    let cursor = next_cursor(query, options, limit, window.len());
    let window: Vec<i64> = window.into_iter().take(limit_usize(limit)).collect();
    Ok(QueryResult::List {
        entities: load_in_order(store, &window, Kind::Entity)?,
        next_cursor: cursor,
    })
}

/// Returns the property that orders the entities of a list with an optional
/// group. The list mixes the first selector's entities with the group's, so
/// each entity sorts by its own value of the property. Any other alias, of a
/// node or a relationship, has no value for most listed entities, so it is
/// rejected.
fn union_sort_property<'q>(
    query: &'q Query,
    aliases: &Aliases,
) -> Result<Option<&'q str>, QueryError> {
    let Some(OrderKey::Prop(prop)) = query.order_by.as_ref().map(|order| &order.key) else {
        return Ok(None);
    };
    let binding = prop
        .alias
        .as_ref()
        .and_then(|alias| aliases.resolve(&alias.name));
    match binding {
        Some(Binding::Entity(0) | Binding::Union { .. }) => Ok(Some(prop.name.as_str())),
        _ => Err(QueryError::Unsupported {
            feature: "ORDER BY on an alias other than the first selector's or the \
                      optional group's, in a query that lists both"
                .to_owned(),
            line: prop.span.line,
            column: prop.span.column,
        }),
    }
}

/// Sorts entity ids by one property of each entity, keeping the path order
/// among equal values. Loads the entities in chunks and keeps only the values.
fn sort_by_property<E: PlanExecutor>(
    store: &E,
    ids: Vec<i64>,
    name: &str,
    order: Option<&OrderBy>,
) -> Result<Vec<i64>, StoreError> {
    let mut keyed: Vec<(Value, i64)> = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(LOAD_CHUNK) {
        let mut by_id: HashMap<i64, Value> = store
            .load_entities(chunk)?
            .into_iter()
            .map(|object| {
                let value = object.properties.get(name).cloned().unwrap_or(Value::Null);
                (object.id, value)
            })
            .collect();
        keyed.extend(
            chunk
                .iter()
                .map(|id| (by_id.remove(id).unwrap_or(Value::Null), *id)),
        );
    }
    let descending = order.is_some_and(|order| order.descending);
    keyed.sort_by(|a, b| {
        let ordering = compare_values(&a.0, &b.0);
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
    Ok(keyed.into_iter().map(|(_, id)| id).collect())
}

fn run_tree<E: PlanExecutor>(
    store: &E,
    query: &Query,
    traversal: &Traversal,
    options: &QueryOptions,
) -> Result<QueryResult, RunError> {
    let (skip, limit) = page(query, options);
    let mut plan = traversal.plan(PlanOutput::Paths);
    plan.skip = skip;
    plan.limit = Some(limit.saturating_add(1));
    let mut rows = paths(store.execute_plan(&plan)?);
    let cursor = next_cursor(query, options, limit, rows.len());
    rows.truncate(limit_usize(limit));
    let entity_ids = distinct(
        rows.iter()
            .flat_map(|r| r.entities.iter().flatten().copied()),
    );
    let edge_ids = distinct(
        rows.iter()
            .flat_map(|r| r.relationships.iter().flatten().copied()),
    );
    let vertices = load_in_order(store, &entity_ids, Kind::Entity)?;
    let edges = load_in_order(store, &edge_ids, Kind::Relationship)?
        .into_iter()
        .map(|object| TreeEdge {
            id: object.id,
            from_id: object
                .properties
                .get("_fromEntityId")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            to_id: object
                .properties
                .get("_toEntityId")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            properties: object.properties,
        })
        .collect();
    Ok(QueryResult::Tree {
        vertices,
        edges,
        next_cursor: cursor,
    })
}

fn run_table<E: PlanExecutor>(
    store: &E,
    query: &Query,
    aliases: &Aliases,
    traversal: &Traversal,
    options: &QueryOptions,
    context: &LiteralContext,
) -> Result<QueryResult, RunError> {
    let Some(Return::Items(items)) = &query.return_clause else {
        return Ok(QueryResult::Table {
            columns: Vec::new(),
            rows: Vec::new(),
            next_cursor: None,
        });
    };
    if let Some(result) = count_pushdown(store, query, aliases, traversal, items)? {
        return Ok(result);
    }
    if let Some(mut table) = grouped_count_pushdown(store, query, aliases, traversal, items)? {
        if let Some(order) = &query.order_by {
            let objects = LoadedObjects::default();
            let row_context = RowContext {
                aliases,
                objects: &objects,
                context,
            };
            // The pushdown runs only when ORDER BY names a column, so no path is read.
            table.sort(order, &row_context, &[]);
        }
        return Ok(finish_table(table, query, page(query, options), options));
    }

    let has_aggregate = items.iter().any(|item| contains_aggregate(&item.expr));
    let (skip, limit) = page(query, options);
    let mut plan = traversal.plan(PlanOutput::Paths);
    // Without grouping or de-duplication each path is one row, so the store can page.
    let store_pages = !has_aggregate
        && !query.unique
        && !matches!(
            query.order_by.as_ref().map(|o| &o.key),
            Some(OrderKey::Column(_))
        );
    if store_pages {
        plan.order = sort_key(query, aliases);
        plan.skip = skip;
        plan.limit = Some(limit.saturating_add(1));
    }
    let rows = paths(store.execute_plan(&plan)?);
    let needed = needed_slots(items, query, aliases);
    let objects = load_objects(store, &rows, &needed)?;
    let row_context = RowContext {
        aliases,
        objects: &objects,
        context,
    };
    let mut table = TableBuilder::new(items, &row_context).build(&rows)?;
    if store_pages {
        // The store already sorted and paged; UNIQUE is off whenever it does.
        return Ok(finish_table(table, query, (0, limit), options));
    }
    if let Some(order) = &query.order_by {
        table.sort(order, &row_context, &rows);
    }
    Ok(finish_table(table, query, (skip, limit), options))
}

/// Applies UNIQUE and the page to a sorted table.
fn finish_table(
    mut table: Table,
    query: &Query,
    (skip, limit): (u64, u64),
    options: &QueryOptions,
) -> QueryResult {
    if query.unique {
        table.dedupe();
    }
    let total = table.rows.len();
    let rows: Vec<Vec<Value>> = table
        .rows
        .into_iter()
        .map(|(row, _)| row)
        .skip(limit_usize(skip))
        .take(limit_usize(limit))
        .collect();
    let remaining = total.saturating_sub(limit_usize(skip));
    QueryResult::Table {
        columns: table.columns,
        rows,
        next_cursor: next_cursor(query, options, limit, remaining),
    }
}

pub(crate) fn contains_aggregate(expr: &Expr) -> bool {
    match expr {
        Expr::Call { func, args, .. } => func.is_aggregate() || args.iter().any(contains_aggregate),
        Expr::Binary { lhs, rhs, .. } => contains_aggregate(lhs) || contains_aggregate(rhs),
        Expr::Group(inner) => contains_aggregate(inner),
        _ => false,
    }
}

fn limit_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn paths(result: PlanResult) -> Vec<PathRow> {
    match result {
        PlanResult::Paths(rows) => rows,
        PlanResult::Count(_) | PlanResult::Groups(_) => Vec::new(),
    }
}

fn path_ids(result: PlanResult, slots: impl Fn(&PathRow) -> Vec<Option<i64>>) -> Vec<i64> {
    paths(result)
        .iter()
        .filter_map(|row| slots(row).first().copied().flatten())
        .collect()
}

fn distinct(ids: impl Iterator<Item = i64>) -> Vec<i64> {
    let mut seen = std::collections::HashSet::new();
    ids.filter(|id| seen.insert(*id)).collect()
}

#[derive(Clone, Copy)]
enum Kind {
    Entity,
    Relationship,
}

/// Loads objects and returns them in the order of `ids`.
fn load_in_order<E: PlanExecutor>(
    store: &E,
    ids: &[i64],
    kind: Kind,
) -> Result<Vec<PlanObject>, StoreError> {
    let mut by_id = load_map(store, ids, kind)?;
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

fn load_map<E: PlanExecutor>(
    store: &E,
    ids: &[i64],
    kind: Kind,
) -> Result<HashMap<i64, PlanObject>, StoreError> {
    let mut by_id = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(LOAD_CHUNK) {
        let objects = match kind {
            Kind::Entity => store.load_entities(chunk)?,
            Kind::Relationship => store.load_relationships(chunk)?,
        };
        by_id.extend(objects.into_iter().map(|o| (o.id, o)));
    }
    Ok(by_id)
}

/// Entities and relationships of all paths, by id.
#[derive(Default)]
pub(crate) struct LoadedObjects {
    pub(crate) entities: HashMap<i64, PlanObject>,
    pub(crate) relationships: HashMap<i64, PlanObject>,
}

/// Returns the slots whose properties the RETURN items and ORDER BY read; `count(alias)`
/// needs only ids, so its slot is not loaded for it.
fn needed_slots(
    items: &[crate::ast::ReturnItem],
    query: &Query,
    aliases: &Aliases,
) -> Vec<Binding> {
    fn visit(expr: &Expr, aliases: &Aliases, out: &mut Vec<Binding>) {
        match expr {
            Expr::Call {
                func: Func::Count,
                args,
                ..
            } if matches!(args.as_slice(), [Expr::Alias(_)]) => {}
            Expr::Alias(alias) | Expr::AllProps(alias) => out.extend(aliases.resolve(&alias.name)),
            Expr::Prop(prop) => {
                if let Some(alias) = &prop.alias {
                    out.extend(aliases.resolve(&alias.name));
                }
            }
            Expr::Call { args, .. } => args.iter().for_each(|a| visit(a, aliases, out)),
            Expr::Binary { lhs, rhs, .. } => {
                visit(lhs, aliases, out);
                visit(rhs, aliases, out);
            }
            Expr::Group(inner) => visit(inner, aliases, out),
            Expr::Literal(_) => {}
        }
    }
    let mut out = Vec::new();
    for item in items {
        visit(&item.expr, aliases, &mut out);
    }
    if let Some(order) = &query.order_by
        && let OrderKey::Prop(prop) = &order.key
    {
        visit(&Expr::Prop(prop.clone()), aliases, &mut out);
    }
    out
}

fn load_objects<E: PlanExecutor>(
    store: &E,
    rows: &[PathRow],
    needed: &[Binding],
) -> Result<LoadedObjects, StoreError> {
    let entity_slots: Vec<usize> = needed
        .iter()
        .filter_map(|b| match b {
            Binding::Entity(n) => Some(*n),
            _ => None,
        })
        .collect();
    let relationship_slots: Vec<usize> = needed
        .iter()
        .filter_map(|b| match b {
            Binding::Relationship(i) => Some(*i),
            _ => None,
        })
        .collect();
    let entity_ids = distinct(rows.iter().flat_map(|r| {
        entity_slots
            .iter()
            .filter_map(|n| r.entities.get(*n).copied().flatten())
    }));
    let relationship_ids = distinct(rows.iter().flat_map(|r| {
        relationship_slots
            .iter()
            .filter_map(|i| r.relationships.get(*i).copied().flatten())
    }));
    Ok(LoadedObjects {
        entities: load_map(store, &entity_ids, Kind::Entity)?,
        relationships: load_map(store, &relationship_ids, Kind::Relationship)?,
    })
}

#[cfg(test)]
mod paging_tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::{QueryOptions, next_cursor};

    fn query(text: &str) -> crate::ast::Query {
        crate::parse(text).unwrap()
    }

    #[test]
    fn next_cursor_moves_forward() {
        let query = query("FIND Host");
        let mut options = QueryOptions::at(0);
        options.cursor = 250;
        assert_eq!(next_cursor(&query, &options, 250, 251), Some(500));
        assert_eq!(next_cursor(&query, &options, 250, 250), None);
    }

    #[test]
    fn limit_zero_has_no_next_page() {
        let query = query("FIND Host");
        let options = QueryOptions::at(0);
        assert_eq!(next_cursor(&query, &options, 0, 1), None);
    }

    #[test]
    fn query_limit_has_no_next_page() {
        let query = query("FIND Host LIMIT 5");
        let options = QueryOptions::at(0);
        assert_eq!(next_cursor(&query, &options, 5, 6), None);
    }
}
