//! Table shaping in Rust: RETURN expressions, math, scalar functions, aggregates with
//! grouping by the closest key, UNIQUE and ORDER BY on columns.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};

use qgraph_model::Value;
use qgraph_store::plan::{PathRow, PlanObject};

use crate::ast::{Expr, Func, Ident, MathOp, OrderBy, OrderKey, ReturnItem};
use crate::check::{Aliases, Binding};
use crate::error::QueryError;
use crate::eval::{LoadedObjects, contains_aggregate};
use crate::values::LiteralContext;

/// The lookups that expressions need: aliases, loaded objects and literal values.
pub(crate) struct RowContext<'a> {
    pub(crate) aliases: &'a Aliases,
    pub(crate) objects: &'a LoadedObjects,
    pub(crate) context: &'a LiteralContext,
}

/// A finished table: columns and rows, each row with the index of a path it came from.
pub(crate) struct Table {
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<(Vec<Value>, usize)>,
}

/// One output column: an expression, or one property of an `alias.*` expansion.
enum Column<'a> {
    Expr(&'a Expr),
    Property { slot: Binding, name: String },
}

pub(crate) struct TableBuilder<'a> {
    items: &'a [ReturnItem],
    row: &'a RowContext<'a>,
}

impl<'a> TableBuilder<'a> {
    pub(crate) fn new(items: &'a [ReturnItem], row: &'a RowContext<'a>) -> Self {
        TableBuilder { items, row }
    }

    pub(crate) fn build(&self, paths: &[PathRow]) -> Result<Table, QueryError> {
        let (names, columns) = self.columns(paths)?;
        let aggregated = self.items.iter().any(|item| contains_aggregate(&item.expr));
        let rows = if aggregated {
            self.grouped_rows(&columns, paths)?
        } else {
            paths
                .iter()
                .enumerate()
                .map(|(i, path)| {
                    let row = columns.iter().map(|c| self.cell(c, path)).collect();
                    (row, i)
                })
                .collect()
        };
        Ok(Table {
            columns: names,
            rows,
        })
    }

    /// Expands items into columns; `alias.*` and a bare alias give one column per property seen.
    fn columns(&self, paths: &[PathRow]) -> Result<(Vec<String>, Vec<Column<'a>>), QueryError> {
        let mut names = Vec::new();
        let mut sources = Vec::new();
        let mut columns = Vec::new();
        for item in self.items {
            match &item.expr {
                Expr::AllProps(alias) | Expr::Alias(alias) => {
                    let slot = self.binding(alias)?;
                    for name in self.property_names(slot, paths) {
                        let column = format!("{}.{name}", alias.name);
                        sources.push(column.clone());
                        names.push(column);
                        columns.push(Column::Property { slot, name });
                    }
                }
                expr => {
                    let source = expr.to_string();
                    names.push(item.alias.clone().unwrap_or_else(|| source.clone()));
                    sources.push(source);
                    columns.push(Column::Expr(expr));
                }
            }
        }
        check_distinct_columns(&names, &sources)?;
        Ok((names, columns))
    }

    fn property_names(&self, slot: Binding, paths: &[PathRow]) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        let mut seen = HashSet::new();
        for path in paths {
            if let Some(object) = self.object(slot, path)
                && seen.insert(object.id)
            {
                names.extend(object.properties.keys().cloned());
            }
        }
        names
    }

    fn binding(&self, alias: &Ident) -> Result<Binding, QueryError> {
        match self.row.aliases.resolve(&alias.name) {
            Some(Binding::Union { .. }) => Err(QueryError::Unsupported {
                feature: "returning the alias of an optional group".to_owned(),
                line: alias.span.line,
                column: alias.span.column,
            }),
            Some(binding) => Ok(binding),
            None => Err(QueryError::UnknownAlias {
                alias: alias.name.clone(),
                line: alias.span.line,
                column: alias.span.column,
            }),
        }
    }

    fn object(&self, slot: Binding, path: &PathRow) -> Option<&'a PlanObject> {
        let objects = self.row.objects;
        match slot {
            Binding::Entity(n) => objects.entities.get(path.entities.get(n)?.as_ref()?),
            Binding::Relationship(i) => objects
                .relationships
                .get(path.relationships.get(i)?.as_ref()?),
            Binding::Union { .. } => None,
        }
    }

    fn object_id(slot: Binding, path: &PathRow) -> Option<i64> {
        match slot {
            Binding::Entity(n) => path.entities.get(n).copied().flatten(),
            Binding::Relationship(i) => path.relationships.get(i).copied().flatten(),
            Binding::Union { .. } => None,
        }
    }

    fn cell(&self, column: &Column<'_>, path: &PathRow) -> Value {
        match column {
            Column::Property { slot, name } => self
                .object(*slot, path)
                .and_then(|o| o.properties.get(name).cloned())
                .unwrap_or(Value::Null),
            Column::Expr(expr) => self.eval(expr, path, &[]),
        }
    }

    /// Evaluates an expression on one path; aggregates use `group` (the paths of their group).
    fn eval(&self, expr: &Expr, path: &PathRow, group: &[&PathRow]) -> Value {
        match expr {
            Expr::Literal(literal) => literal_value(literal, self.row.context),
            Expr::Prop(prop) => {
                let Some(alias) = &prop.alias else {
                    return Value::Null;
                };
                let Some(slot) = self.row.aliases.resolve(&alias.name) else {
                    return Value::Null;
                };
                self.object(slot, path)
                    .and_then(|o| o.properties.get(&prop.name).cloned())
                    .unwrap_or(Value::Null)
            }
            Expr::Alias(alias) | Expr::AllProps(alias) => self
                .row
                .aliases
                .resolve(&alias.name)
                .and_then(|slot| self.object(slot, path))
                .and_then(|o| o.properties.get("_key").cloned())
                .unwrap_or(Value::Null),
            Expr::Group(inner) => self.eval(inner, path, group),
            Expr::Binary { op, lhs, rhs } => math(
                *op,
                &self.eval(lhs, path, group),
                &self.eval(rhs, path, group),
            ),
            Expr::Call { func, args, .. } if func.is_aggregate() => {
                self.aggregate(*func, args.first(), group)
            }
            Expr::Call { func, args, .. } => {
                let values: Vec<Value> = args.iter().map(|a| self.eval(a, path, group)).collect();
                scalar_function(*func, &values)
            }
        }
    }

    fn aggregate(&self, func: Func, arg: Option<&Expr>, group: &[&PathRow]) -> Value {
        let Some(arg) = arg else {
            return Value::Null;
        };
        // Each entity counts once however many paths reach it.
        let owner = first_alias(arg).and_then(|a| self.row.aliases.resolve(&a.name));
        let mut seen = HashSet::new();
        let mut values = Vec::new();
        for path in group {
            let id = owner.and_then(|slot| Self::object_id(slot, path));
            if owner.is_some() && id.is_none() {
                continue;
            }
            let value = match arg {
                Expr::Alias(_) => Value::Int(id.unwrap_or(0)),
                other => self.eval(other, path, &[]),
            };
            if func != Func::Count && id.is_some() && !seen.insert(id) {
                continue;
            }
            values.push(value);
        }
        aggregate_values(func, &values)
    }

    fn grouped_rows(
        &self,
        columns: &[Column<'_>],
        paths: &[PathRow],
    ) -> Result<Vec<(Vec<Value>, usize)>, QueryError> {
        let keys: Vec<usize> = columns
            .iter()
            .enumerate()
            .filter(|(_, c)| !matches!(c, Column::Expr(e) if contains_aggregate(e)))
            .map(|(i, _)| i)
            .collect();
        let key_values: Vec<Vec<Value>> = paths
            .iter()
            .map(|path| keys.iter().map(|k| self.cell(&columns[*k], path)).collect())
            .collect();

        // Rows are the distinct key tuples, in order of first appearance.
        let mut row_of: HashMap<String, usize> = HashMap::new();
        let mut groups: Vec<usize> = Vec::new();
        for (i, values) in key_values.iter().enumerate() {
            let signature = signature(values);
            if let std::collections::hash_map::Entry::Vacant(slot) = row_of.entry(signature) {
                slot.insert(groups.len());
                groups.push(i);
            }
        }
        if paths.is_empty() && keys.is_empty() {
            let empty = PathRow {
                entities: Vec::new(),
                relationships: Vec::new(),
            };
            let row = columns
                .iter()
                .map(|c| match c {
                    Column::Expr(e) => self.eval(e, &empty, &[]),
                    Column::Property { .. } => Value::Null,
                })
                .collect();
            return Ok(vec![(row, 0)]);
        }

        // Each aggregate column groups paths by its own keys. The paths of every group are
        // collected in one pass, so the cost stays linear in the number of paths.
        let memberships: Vec<Option<Membership>> = columns
            .iter()
            .map(|column| match column {
                Column::Expr(expr) if contains_aggregate(expr) => {
                    let grouping = self.grouping_keys(expr, columns, &keys);
                    Some(Membership::collect(grouping, &key_values))
                }
                _ => None,
            })
            .collect();

        let mut rows = Vec::with_capacity(groups.len());
        for first in groups {
            let mut row = Vec::with_capacity(columns.len());
            for (c, column) in columns.iter().enumerate() {
                if let Some(k) = keys.iter().position(|k| *k == c) {
                    row.push(key_values[first][k].clone());
                    continue;
                }
                let Column::Expr(expr) = column else {
                    row.push(Value::Null);
                    continue;
                };
                let members: Vec<&PathRow> = memberships[c]
                    .as_ref()
                    .map(|m| m.members_of(first, &key_values))
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|i| paths.get(*i))
                    .collect();
                row.push(self.eval(expr, &paths[first], &members));
            }
            rows.push((row, first));
        }
        Ok(rows)
    }

    /// Picks the keys an aggregate groups by: those whose alias is closest in the traversal to
    /// the aggregated alias (all keys when either has no alias).
    fn grouping_keys(&self, expr: &Expr, columns: &[Column<'_>], keys: &[usize]) -> Vec<usize> {
        let all: Vec<usize> = (0..keys.len()).collect();
        let Some(target) = first_aggregate_alias(expr)
            .and_then(|a| self.row.aliases.resolve(&a.name))
            .and_then(position)
        else {
            return all;
        };
        let distances: Vec<Option<usize>> = keys
            .iter()
            .map(|k| {
                let slot = match &columns[*k] {
                    Column::Property { slot, .. } => Some(*slot),
                    Column::Expr(e) => {
                        first_alias(e).and_then(|a| self.row.aliases.resolve(&a.name))
                    }
                };
                slot.and_then(position).map(|p| p.abs_diff(target))
            })
            .collect();
        let Some(closest) = distances.iter().flatten().min().copied() else {
            return all;
        };
        (0..keys.len())
            .filter(|i| distances[*i] == Some(closest))
            .collect()
    }
}

/// The paths of each group of one aggregate column, by the signature of its grouping keys.
struct Membership {
    grouping: Vec<usize>,
    groups: HashMap<String, Vec<usize>>,
}

impl Membership {
    fn collect(grouping: Vec<usize>, key_values: &[Vec<Value>]) -> Self {
        let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, values) in key_values.iter().enumerate() {
            groups
                .entry(Self::signature_of(&grouping, values))
                .or_default()
                .push(i);
        }
        Membership { grouping, groups }
    }

    /// Returns the indexes of the paths in the same group as path `first`.
    fn members_of(&self, first: usize, key_values: &[Vec<Value>]) -> &[usize] {
        key_values
            .get(first)
            .and_then(|values| self.groups.get(&Self::signature_of(&self.grouping, values)))
            .map_or(&[], Vec::as_slice)
    }

    fn signature_of(grouping: &[usize], values: &[Value]) -> String {
        let selected: Vec<Value> = grouping
            .iter()
            .filter_map(|g| values.get(*g).cloned())
            .collect();
        signature(&selected)
    }
}

impl Table {
    /// Removes repeated rows, keeping the first.
    pub(crate) fn dedupe(&mut self) {
        let mut seen = HashSet::new();
        self.rows.retain(|(row, _)| seen.insert(signature(row)));
    }

    /// Sorts rows by a column name, or by `alias.property` evaluated on each row's path.
    pub(crate) fn sort(&mut self, order: &OrderBy, row: &RowContext<'_>, paths: &[PathRow]) {
        let column = match &order.key {
            OrderKey::Column(name) => self.columns.iter().position(|c| *c == name.name),
            OrderKey::Prop(prop) => self.columns.iter().position(|c| *c == prop.to_string()),
        };
        let keys: Vec<Value> = self
            .rows
            .iter()
            .map(|(values, path)| match (column, &order.key) {
                (Some(c), _) => values.get(c).cloned().unwrap_or(Value::Null),
                (None, OrderKey::Prop(prop)) => {
                    let builder = TableBuilder { items: &[], row };
                    paths
                        .get(*path)
                        .map(|p| builder.eval(&Expr::Prop(prop.clone()), p, &[]))
                        .unwrap_or(Value::Null)
                }
                (None, OrderKey::Column(_)) => Value::Null,
            })
            .collect();
        let mut indexed: Vec<(Value, (Vec<Value>, usize))> =
            keys.into_iter().zip(self.rows.drain(..)).collect();
        indexed.sort_by(|a, b| {
            let ordering = compare_values(&a.0, &b.0);
            if order.descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
        self.rows = indexed.into_iter().map(|(_, row)| row).collect();
    }
}

/// Rejects one column name for two different values, because JSON rows are
/// objects keyed by column name and all but one of the values would be lost.
/// Each name comes with the expression of its value. A column of `h.*` and
/// the item `h.x` have the same value, so they may share a name.
pub(crate) fn check_distinct_columns(
    names: &[String],
    sources: &[String],
) -> Result<(), QueryError> {
    let mut by_name: HashMap<&str, &str> = HashMap::new();
    for (name, source) in names.iter().zip(sources) {
        if *by_name.entry(name).or_insert(source) != source.as_str() {
            return Err(QueryError::DuplicateColumn { name: name.clone() });
        }
    }
    Ok(())
}

/// Position in the traversal: node `n` at `2n`, hop `i` between its nodes at `2i + 1`.
fn position(binding: Binding) -> Option<usize> {
    match binding {
        Binding::Entity(n) => Some(2 * n),
        Binding::Relationship(i) => Some(2 * i + 1),
        Binding::Union { .. } => None,
    }
}

fn first_alias(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Alias(a) | Expr::AllProps(a) => Some(a),
        Expr::Prop(p) => p.alias.as_ref(),
        Expr::Call { args, .. } => args.iter().find_map(first_alias),
        Expr::Binary { lhs, rhs, .. } => first_alias(lhs).or_else(|| first_alias(rhs)),
        Expr::Group(inner) => first_alias(inner),
        Expr::Literal(_) => None,
    }
}

fn first_aggregate_alias(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Call { func, args, .. } if func.is_aggregate() => args.iter().find_map(first_alias),
        Expr::Call { args, .. } => args.iter().find_map(first_aggregate_alias),
        Expr::Binary { lhs, rhs, .. } => {
            first_aggregate_alias(lhs).or_else(|| first_aggregate_alias(rhs))
        }
        Expr::Group(inner) => first_aggregate_alias(inner),
        _ => None,
    }
}

/// Builds a text key of values, for grouping and de-duplication.
fn signature(values: &[Value]) -> String {
    serde_json::to_string(values).unwrap_or_default()
}

fn literal_value(literal: &crate::ast::Literal, context: &LiteralContext) -> Value {
    use crate::ast::Literal;
    match literal {
        Literal::Str(s) => Value::String(s.clone()),
        Literal::Int(n) => Value::Int(*n),
        Literal::Float(x) => Value::Float(*x),
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Date(date) => Value::Int(crate::dates::date_millis(date, context.now_millis)),
        Literal::Param(name) => context.params.get(name).cloned().unwrap_or(Value::Null),
        Literal::Undefined | Literal::Regex { .. } => Value::Null,
    }
}

/// Applies arithmetic to numbers; anything else, or division by zero, gives null.
fn math(op: MathOp, lhs: &Value, rhs: &Value) -> Value {
    if let (Value::Int(a), Value::Int(b)) = (lhs, rhs) {
        let exact = match op {
            MathOp::Add => a.checked_add(*b),
            MathOp::Sub => a.checked_sub(*b),
            MathOp::Mul => a.checked_mul(*b),
            MathOp::Div | MathOp::Pow => None,
        };
        if let Some(n) = exact {
            return Value::Int(n);
        }
    }
    let (Some(a), Some(b)) = (lhs.as_f64(), rhs.as_f64()) else {
        return Value::Null;
    };
    let result = match op {
        MathOp::Add => a + b,
        MathOp::Sub => a - b,
        MathOp::Mul => a * b,
        MathOp::Div if b == 0.0 => return Value::Null,
        MathOp::Div => a / b,
        MathOp::Pow => a.powf(b),
    };
    number(result)
}

/// Wraps a float result, or returns null when it is not finite.
fn number(x: f64) -> Value {
    if x.is_finite() {
        Value::Float(x)
    } else {
        Value::Null
    }
}

fn scalar_function(func: Func, values: &[Value]) -> Value {
    let first = values.first().and_then(Value::as_f64);
    match func {
        Func::Abs => first.map_or(Value::Null, |x| number(x.abs())),
        Func::Sqrt => first.map_or(Value::Null, |x| number(x.sqrt())),
        Func::Ceil => first.map_or(Value::Null, |x| number(x.ceil())),
        Func::Floor => first.map_or(Value::Null, |x| number(x.floor())),
        Func::Round => first.map_or(Value::Null, |x| number(x.round())),
        Func::Coalesce => values
            .iter()
            .find(|v| !matches!(v, Value::Null))
            .cloned()
            .unwrap_or(Value::Null),
        Func::Concat => Value::String(
            values
                .iter()
                .map(|v| match v {
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .collect(),
        ),
        Func::Merge => {
            let mut merged = Vec::new();
            for value in values {
                match value {
                    Value::Null => {}
                    Value::Array(items) => merged.extend(items.iter().cloned()),
                    other => merged.push(other.clone()),
                }
            }
            Value::Array(merged)
        }
        Func::Count | Func::Min | Func::Max | Func::Avg | Func::Sum => Value::Null,
    }
}

fn aggregate_values(func: Func, values: &[Value]) -> Value {
    if func == Func::Count {
        // Counts are of distinct non-null values.
        let distinct: HashSet<String> = values
            .iter()
            .filter(|v| !matches!(v, Value::Null))
            .map(|v| signature(std::slice::from_ref(v)))
            .collect();
        return Value::from_u64(distinct.len() as u64);
    }
    let numbers: Vec<&Value> = values.iter().filter(|v| v.is_number()).collect();
    if numbers.is_empty() {
        return Value::Null;
    }
    match func {
        Func::Min => numbers
            .iter()
            .min_by(|a, b| compare_values(a, b))
            .map_or(Value::Null, |v| (*v).clone()),
        Func::Max => numbers
            .iter()
            .max_by(|a, b| compare_values(a, b))
            .map_or(Value::Null, |v| (*v).clone()),
        Func::Sum => numbers
            .iter()
            .try_fold(Value::Int(0), |acc, v| Some(math(MathOp::Add, &acc, v)))
            .unwrap_or(Value::Null),
        Func::Avg => {
            let total: f64 = numbers.iter().filter_map(|v| v.as_f64()).sum();
            number(total / numbers.len() as f64)
        }
        _ => Value::Null,
    }
}

/// Orders values: null first, then booleans, numbers, strings, arrays.
pub(crate) fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) | Value::UInt(_) | Value::Float(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
        }
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (x, y) if x.is_number() && y.is_number() => {
            let (p, q) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            p.partial_cmp(&q).unwrap_or(Ordering::Equal)
        }
        _ => rank(a).cmp(&rank(b)),
    }
}
