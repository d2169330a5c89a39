//! Queries whose RETURN the store computes in full: a lone count, and property columns
//! of one alias with distinct counts grouped by them.

use qgraph_model::Value;
use qgraph_store::plan::{
    CountTarget, GraphPlan, HopMode, PlanExecutor, PlanOutput, PlanResult, PropertyRef, Slot,
};

use crate::ast::{Expr, Func, OrderKey, PropRef, Query, ReturnItem};
use crate::check::{Aliases, Binding};
use crate::eval::{QueryResult, RunError};
use crate::planner::Traversal;
use crate::rows::Table;

/// Runs `RETURN count(alias)` or `RETURN count(alias.prop)` as one counting statement.
pub(crate) fn count_pushdown<E: PlanExecutor>(
    store: &E,
    query: &Query,
    aliases: &Aliases,
    traversal: &Traversal,
    items: &[ReturnItem],
) -> Result<Option<QueryResult>, RunError> {
    let [item] = items else {
        return Ok(None);
    };
    let Expr::Call {
        func: Func::Count,
        args,
        ..
    } = &item.expr
    else {
        return Ok(None);
    };
    let (alias, property) = match args.as_slice() {
        [Expr::Alias(alias)] => (alias, None),
        [Expr::Prop(prop)] => match &prop.alias {
            Some(alias) => (alias, Some(prop.name.clone())),
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    let Some(Binding::Entity(node)) = aliases.resolve(&alias.name) else {
        return Ok(None);
    };
    if !traversal.optional_nodes.is_empty() || query.skip.unwrap_or(0) > 0 {
        return Ok(None);
    }
    let plan: GraphPlan = traversal.plan(PlanOutput::CountDistinct { node, property });
    let count = match store.execute_plan(&plan)? {
        PlanResult::Count(n) => n,
        PlanResult::Paths(rows) => rows.len() as u64,
        PlanResult::Groups(groups) => groups.len() as u64,
    };
    let column = item.alias.clone().unwrap_or_else(|| item.expr.to_string());
    Ok(Some(QueryResult::Table {
        columns: vec![column],
        rows: vec![vec![Value::from_u64(count)]],
        next_cursor: None,
    }))
}

/// Runs `RETURN a.x, a.y, count(b), count(c.z)` as one grouping statement and returns the
/// unsorted, unpaged table, or `None` when the query has another shape.
///
/// The store then returns one row per group instead of one per path. The shape is narrow
/// so that the result has the groups of the table the query engine builds from paths.
/// Their order is the same, except among groups first reached from the same start
/// entity: J1QL leaves that order open, and the store sorts those by key values. The keys are
/// properties of one alias, so every count groups by all of them. Every hop is required,
/// and ORDER BY names a returned column.
pub(crate) fn grouped_count_pushdown<E: PlanExecutor>(
    store: &E,
    query: &Query,
    aliases: &Aliases,
    traversal: &Traversal,
    items: &[ReturnItem],
) -> Result<Option<Table>, RunError> {
    let all_required = traversal
        .hops
        .iter()
        .all(|hop| hop.mode == HopMode::Required);
    if !all_required || !traversal.optional_nodes.is_empty() {
        return Ok(None);
    }
    let Some(columns) = grouped_columns(items, aliases) else {
        return Ok(None);
    };
    let names: Vec<String> = items
        .iter()
        .map(|item| item.alias.clone().unwrap_or_else(|| item.expr.to_string()))
        .collect();
    if !orders_by_column(query, &names) {
        return Ok(None);
    }

    let keys: Vec<PropertyRef> = columns
        .iter()
        .filter_map(|column| match column {
            GroupedColumn::Key(property) => Some(property.clone()),
            GroupedColumn::Count(_) => None,
        })
        .collect();
    let counts: Vec<CountTarget> = columns
        .iter()
        .filter_map(|column| match column {
            GroupedColumn::Count(target) => Some(target.clone()),
            GroupedColumn::Key(_) => None,
        })
        .collect();
    let plan: GraphPlan = traversal.plan(PlanOutput::GroupedCounts { keys, counts });
    let PlanResult::Groups(groups) = store.execute_plan(&plan)? else {
        return Ok(None);
    };

    let rows = groups
        .into_iter()
        .enumerate()
        .map(|(index, group)| {
            let mut keys = group.keys.into_iter();
            let mut counts = group.counts.into_iter();
            let row = columns
                .iter()
                .map(|column| match column {
                    GroupedColumn::Key(_) => keys.next().unwrap_or(Value::Null),
                    GroupedColumn::Count(_) => Value::from_u64(counts.next().unwrap_or(0)),
                })
                .collect();
            (row, index)
        })
        .collect();
    Ok(Some(Table {
        columns: names,
        rows,
    }))
}

/// A RETURN item of a grouped count.
enum GroupedColumn {
    Key(PropertyRef),
    Count(CountTarget),
}

/// Classifies the RETURN items, or returns `None` unless they are properties of one alias
/// and at least one count.
fn grouped_columns(items: &[ReturnItem], aliases: &Aliases) -> Option<Vec<GroupedColumn>> {
    let mut columns = Vec::with_capacity(items.len());
    let mut key_slot = None;
    for item in items {
        let column = match &item.expr {
            Expr::Prop(prop) => {
                let property = property_ref(prop, aliases)?;
                if key_slot.is_some_and(|slot| slot != property.slot) {
                    return None;
                }
                key_slot = Some(property.slot);
                GroupedColumn::Key(property)
            }
            Expr::Call {
                func: Func::Count,
                args,
                ..
            } => GroupedColumn::Count(count_target(args, aliases)?),
            _ => return None,
        };
        columns.push(column);
    }
    let has_count = columns.iter().any(|c| matches!(c, GroupedColumn::Count(_)));
    (key_slot.is_some() && has_count).then_some(columns)
}

fn count_target(args: &[Expr], aliases: &Aliases) -> Option<CountTarget> {
    match args {
        [Expr::Alias(alias)] => match aliases.resolve(&alias.name)? {
            Binding::Entity(node) => Some(CountTarget::Entities(node)),
            Binding::Relationship(_) | Binding::Union { .. } => None,
        },
        [Expr::Prop(prop)] => property_ref(prop, aliases).map(CountTarget::Values),
        _ => None,
    }
}

fn property_ref(prop: &PropRef, aliases: &Aliases) -> Option<PropertyRef> {
    let slot = match aliases.resolve(&prop.alias.as_ref()?.name)? {
        Binding::Entity(node) => Slot::Entity(node),
        Binding::Relationship(hop) => Slot::Relationship(hop),
        Binding::Union { .. } => return None,
    };
    Some(PropertyRef {
        slot,
        name: prop.name.clone(),
    })
}

/// Returns whether the table can be sorted without its paths: no ORDER BY, a column
/// alias, or an `alias.prop` that is also a returned column.
fn orders_by_column(query: &Query, names: &[String]) -> bool {
    match query.order_by.as_ref().map(|order| &order.key) {
        None | Some(OrderKey::Column(_)) => true,
        Some(OrderKey::Prop(prop)) => names.contains(&prop.to_string()),
    }
}
