//! Alias rules: reserved words, duplicates, default aliases and references.

use std::collections::BTreeMap;

use crate::ast::{
    BoolExpr, EntityName, Expr, Func, Ident, Node, Operand, OrderKey, PropRef, Query, Return,
    ReturnItem, Selector, Step, Verb,
};
use crate::error::QueryError;
use crate::eval::contains_aggregate;
use crate::rows::check_distinct_columns;
use crate::span::Span;

/// Words that cannot be aliases.
const RESERVED: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "find",
    "that",
    "with",
    "where",
    "return",
    "order",
    "by",
    "limit",
    "skip",
    "has",
    "relates",
    "to",
    "from",
    "and",
    "or",
    "not",
    "true",
    "false",
    "null",
    "undefined",
    "as",
];

/// The slot an alias names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// The entities of the node with this index (0 is the start node, then one per hop in order).
    Entity(usize),
    /// The relationships of the hop with this index (hop `i` reaches node `i + 1`).
    Relationship(usize),
    /// The union set of an optional group whose last hop has this index.
    Union { first_hop: usize, last_hop: usize },
}

/// The aliases of a query, explicit and default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aliases {
    explicit: BTreeMap<String, Binding>,
    /// Class, type and verb names used once; verbs are stored upper-case.
    defaults: BTreeMap<String, Binding>,
    /// Names used more than once, which cannot act as default aliases.
    ambiguous: Vec<String>,
    /// Hops that are negated; their aliases bind no values.
    negated_hops: Vec<usize>,
}

impl Aliases {
    /// Resolves an alias name; verbs match case-insensitively.
    pub fn resolve(&self, name: &str) -> Option<Binding> {
        if let Some(binding) = self.explicit.get(name) {
            return Some(*binding);
        }
        if let Some(binding) = self.defaults.get(name) {
            return Some(*binding);
        }
        self.defaults.get(&name.to_ascii_uppercase()).copied()
    }

    /// True when the binding belongs to a negated hop, which has no rows.
    pub fn is_negated(&self, binding: Binding) -> bool {
        match binding {
            Binding::Entity(node) => node > 0 && self.negated_hops.contains(&(node - 1)),
            Binding::Relationship(hop) => self.negated_hops.contains(&hop),
            Binding::Union { .. } => false,
        }
    }
}

/// Checks alias rules and returns the alias table.
pub fn check(query: &Query) -> Result<Aliases, QueryError> {
    let mut aliases = Aliases::default();
    let mut collector = Collector {
        aliases: &mut aliases,
        counts: BTreeMap::new(),
    };
    collector.node(&query.start, 0)?;
    let mut hop_index = 0;
    for step in &query.steps {
        match step {
            Step::Hop(hop) => {
                collector.hop(hop, hop_index)?;
                hop_index += 1;
            }
            Step::Optional { hops, alias, .. } => {
                let first_hop = hop_index;
                for hop in hops {
                    collector.hop(hop, hop_index)?;
                    hop_index += 1;
                }
                if let Some(alias) = alias {
                    let last_hop = hop_index.saturating_sub(1);
                    collector.explicit(
                        alias,
                        Binding::Union {
                            first_hop,
                            last_hop,
                        },
                    )?;
                }
            }
        }
    }
    collector.finish_defaults();
    check_references(query, &aliases)?;
    if query.unique && query.return_clause.is_none() {
        return Err(QueryError::UniqueWithoutReturn {
            line: query.span.line,
            column: query.span.column,
        });
    }
    Ok(aliases)
}

struct Collector<'a> {
    aliases: &'a mut Aliases,
    /// Uses of each default-alias candidate.
    counts: BTreeMap<String, (usize, Binding)>,
}

impl Collector<'_> {
    fn explicit(&mut self, alias: &Ident, binding: Binding) -> Result<(), QueryError> {
        if RESERVED.iter().any(|w| w.eq_ignore_ascii_case(&alias.name)) {
            return Err(QueryError::ReservedAlias {
                alias: alias.name.clone(),
                line: alias.span.line,
                column: alias.span.column,
            });
        }
        if self
            .aliases
            .explicit
            .insert(alias.name.clone(), binding)
            .is_some()
        {
            return Err(QueryError::DuplicateAlias {
                alias: alias.name.clone(),
                line: alias.span.line,
                column: alias.span.column,
            });
        }
        Ok(())
    }

    fn candidate(&mut self, name: String, binding: Binding) {
        self.counts
            .entry(name)
            .and_modify(|(uses, _)| *uses += 1)
            .or_insert((1, binding));
    }

    fn node(&mut self, node: &Node, index: usize) -> Result<(), QueryError> {
        if let Selector::Names(names) = &node.selector
            && let [name] = names.as_slice()
        {
            self.candidate(name.text().to_owned(), Binding::Entity(index));
        }
        if let Selector::Smart {
            name: Some(name), ..
        } = &node.selector
        {
            self.candidate(EntityName::text(name).to_owned(), Binding::Entity(index));
        }
        match &node.alias {
            Some(alias) => self.explicit(alias, Binding::Entity(index)),
            None => Ok(()),
        }
    }

    fn hop(&mut self, hop: &crate::ast::Hop, index: usize) -> Result<(), QueryError> {
        if hop.rel.negated {
            self.aliases.negated_hops.push(index);
        }
        if let [Verb::Class(verb)] = hop.rel.verbs.as_slice() {
            self.candidate(verb.clone(), Binding::Relationship(index));
        }
        if let Some(alias) = &hop.rel.alias {
            self.explicit(alias, Binding::Relationship(index))?;
        }
        self.node(&hop.node, index + 1)
    }

    fn finish_defaults(self) {
        for (name, (uses, binding)) in self.counts {
            if uses == 1 {
                self.aliases.defaults.insert(name, binding);
            } else {
                self.aliases.ambiguous.push(name);
            }
        }
    }
}

fn check_references(query: &Query, aliases: &Aliases) -> Result<(), QueryError> {
    if let Some(filter) = &query.where_clause {
        check_bool(filter, aliases)?;
    }
    let returns_items = matches!(&query.return_clause, Some(Return::Items(_)));
    if let Some(Return::Items(items)) = &query.return_clause {
        for item in items {
            check_expr(&item.expr, aliases)?;
        }
        check_column_names(items)?;
    }
    if let Some(order) = &query.order_by {
        match &order.key {
            // A list sorts each listed entity, the optional group's included, by
            // its own value; table rows have no value for the group's alias.
            OrderKey::Prop(prop) => check_prop(prop, aliases, !returns_items)?,
            OrderKey::Column(column) => check_column(column, query, aliases)?,
        }
    }
    Ok(())
}

/// Rejects two RETURN items that give one column name to different values.
/// The columns of `alias.*` are known only from the rows, so the table
/// builder checks those with the same rule.
fn check_column_names(items: &[ReturnItem]) -> Result<(), QueryError> {
    let (names, sources): (Vec<String>, Vec<String>) = items
        .iter()
        .filter(|item| !matches!(item.expr, Expr::Alias(_) | Expr::AllProps(_)))
        .map(|item| {
            let source = item.expr.to_string();
            (item.alias.clone().unwrap_or_else(|| source.clone()), source)
        })
        .unzip();
    check_distinct_columns(&names, &sources)
}

fn check_column(column: &Ident, query: &Query, aliases: &Aliases) -> Result<(), QueryError> {
    let is_column = matches!(&query.return_clause, Some(Return::Items(items))
        if items.iter().any(|item| item.alias.as_deref() == Some(column.name.as_str())));
    if is_column || aliases.resolve(&column.name).is_some() {
        return Ok(());
    }
    Err(unknown(column, aliases))
}

fn check_bool(expr: &BoolExpr, aliases: &Aliases) -> Result<(), QueryError> {
    match expr {
        BoolExpr::Or(terms) | BoolExpr::And(terms) => {
            terms.iter().try_for_each(|t| check_bool(t, aliases))
        }
        BoolExpr::Group(inner) => check_bool(inner, aliases),
        BoolExpr::Compare(comparison) => {
            check_prop(&comparison.lhs, aliases, false)?;
            match &comparison.rhs {
                Operand::Prop(prop) => check_prop(prop, aliases, false),
                _ => Ok(()),
            }
        }
    }
}

fn check_expr(expr: &Expr, aliases: &Aliases) -> Result<(), QueryError> {
    match expr {
        Expr::Literal(_) => Ok(()),
        Expr::Alias(alias) | Expr::AllProps(alias) => {
            check_alias(alias, aliases)?;
            reject_group_alias(alias, aliases)
        }
        Expr::Prop(prop) => check_prop(prop, aliases, false),
        Expr::Call { func, args, span } => {
            check_call(*func, args, *span)?;
            args.iter().try_for_each(|a| check_expr(a, aliases))
        }
        Expr::Binary { lhs, rhs, .. } => {
            check_expr(lhs, aliases)?;
            check_expr(rhs, aliases)
        }
        Expr::Group(inner) => check_expr(inner, aliases),
    }
}

/// Checks the number of arguments of a function call, and that no aggregate
/// is inside another: an aggregate has one value per group, not per path.
fn check_call(func: Func, args: &[Expr], span: Span) -> Result<(), QueryError> {
    let expected = match func {
        Func::Concat | Func::Merge | Func::Coalesce => None,
        _ => Some(1),
    };
    let arity_ok = match expected {
        Some(count) => args.len() == count,
        None => !args.is_empty(),
    };
    if !arity_ok {
        let expected_arguments = if expected.is_some() {
            "exactly one argument"
        } else {
            "one or more arguments"
        };
        return Err(QueryError::InvalidCall {
            message: format!(
                "{}() takes {expected_arguments}, found {}",
                func.name(),
                args.len()
            ),
            line: span.line,
            column: span.column,
        });
    }
    // Only count() takes a whole entity; the others compute on property
    // values, and `alias.*` is a row of columns, not one value.
    let whole_entity = args.iter().find(|arg| {
        matches!(arg, Expr::AllProps(_)) || (func != Func::Count && matches!(arg, Expr::Alias(_)))
    });
    if let Some(arg) = whole_entity {
        return Err(QueryError::InvalidCall {
            message: format!(
                "{}() cannot take `{arg}`: pass a property such as `alias.name`{}",
                func.name(),
                if func == Func::Count {
                    ""
                } else {
                    ", or count the entities with count(alias)"
                }
            ),
            line: span.line,
            column: span.column,
        });
    }
    if func.is_aggregate() && args.iter().any(contains_aggregate) {
        return Err(QueryError::InvalidCall {
            message: format!(
                "{}() cannot contain another aggregate such as count() or sum()",
                func.name()
            ),
            line: span.line,
            column: span.column,
        });
    }
    Ok(())
}

/// Checks a property reference. With `group_alias_allowed`, it may name the
/// alias of an optional group.
fn check_prop(
    prop: &PropRef,
    aliases: &Aliases,
    group_alias_allowed: bool,
) -> Result<(), QueryError> {
    match &prop.alias {
        Some(alias) => {
            check_alias(alias, aliases)?;
            if group_alias_allowed {
                Ok(())
            } else {
                reject_group_alias(alias, aliases)
            }
        }
        None => Err(QueryError::MissingAlias {
            property: prop.name.clone(),
            line: prop.span.line,
            column: prop.span.column,
        }),
    }
}

fn check_alias(alias: &Ident, aliases: &Aliases) -> Result<(), QueryError> {
    match aliases.resolve(&alias.name) {
        Some(binding) if aliases.is_negated(binding) => Err(QueryError::Unsupported {
            feature: format!(
                "using alias `{}` of a negated traversal, which matches no entities",
                alias.name
            ),
            line: alias.span.line,
            column: alias.span.column,
        }),
        Some(_) => Ok(()),
        None => Err(unknown(alias, aliases)),
    }
}

/// Rejects the alias of an optional group where one row needs one value: the
/// alias stands for the entities the group adds, not for a node of the path.
fn reject_group_alias(alias: &Ident, aliases: &Aliases) -> Result<(), QueryError> {
    match aliases.resolve(&alias.name) {
        Some(Binding::Union { .. }) => Err(QueryError::Unsupported {
            feature: format!(
                "reading alias `{}` of an optional group in RETURN, WHERE or the ORDER BY \
                 of a RETURN (alias the selector inside the group instead)",
                alias.name
            ),
            line: alias.span.line,
            column: alias.span.column,
        }),
        _ => Ok(()),
    }
}

fn unknown(alias: &Ident, aliases: &Aliases) -> QueryError {
    if aliases.ambiguous.contains(&alias.name) {
        return QueryError::AmbiguousAlias {
            alias: alias.name.clone(),
            line: alias.span.line,
            column: alias.span.column,
        };
    }
    QueryError::UnknownAlias {
        alias: alias.name.clone(),
        line: alias.span.line,
        column: alias.span.column,
    }
}
