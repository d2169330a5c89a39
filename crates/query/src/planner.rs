//! Lowers a checked query to the store's backend-neutral [`GraphPlan`].

use std::cell::Cell;

use qgraph_store::plan::{
    CompareOp, EntitySelector, GraphPlan, HopDirection, HopMode, HopPlan, NodePlan, PlanOutput,
    PlanValue, Predicate, PropertyRef, Slot,
};

use crate::ast::{
    BoolExpr, CmpOp, Comparison, Connective, Direction, EntityName, Hop, Literal, Node, Operand,
    PropRef, Query, Selector, Step, Verb,
};
use crate::check::{Aliases, Binding};
use crate::dates::date_millis;
use crate::error::QueryError;
use crate::values::{LiteralContext, compile_regex};

/// Maximum number of traversal hops in one query. A hop joins up to three tables
/// (relationships, entities and the class table), and SQLite joins at most 64 tables in
/// one statement.
pub const MAX_HOPS: usize = 16;

/// Maximum number of values in one value set such as `('a' OR 'b')`. The store runs a
/// set of `=` on strings and numbers as an SQL `IN` list, but other sets as a chain of
/// `OR`, which SQLite plans in time that grows faster than linearly with its terms. On
/// a graph of 20 000 findings, 100 indexed equalities as `OR` took about 0.2 s to plan and
/// run and 400 took 1.7 s (the `explain` example on a shared 2-core machine).
/// NOTE: `=` sets could be allowed far more values now that they run as `IN` lists.
pub const MAX_VALUE_SET: usize = 100;

/// Maximum number of comparisons in all WITH and WHERE filters of one query, each value
/// of a value set counting as one. The filters become one SQL expression in which a
/// chain of n comparisons nests n levels deep, and SQLite rejects expressions deeper
/// than 1000 levels.
pub const MAX_COMPARISONS: usize = 250;

/// The plan's traversal part and where each optional group's reached node is.
#[derive(Debug, Clone)]
pub(crate) struct Traversal {
    pub(crate) nodes: Vec<NodePlan>,
    pub(crate) hops: Vec<HopPlan>,
    /// Nodes reached by optional hops; list results add their entities to the start entities.
    pub(crate) optional_nodes: Vec<usize>,
    pub(crate) filter: Option<Predicate>,
}

impl Traversal {
    /// Builds a plan from this traversal.
    pub(crate) fn plan(&self, output: PlanOutput) -> GraphPlan {
        GraphPlan {
            nodes: self.nodes.clone(),
            hops: self.hops.clone(),
            filter: self.filter.clone(),
            output,
            order: None,
            skip: 0,
            limit: None,
        }
    }
}

/// Lowers the FIND, THAT and WHERE parts of a query.
pub(crate) fn lower_traversal(
    query: &Query,
    aliases: &Aliases,
    context: &LiteralContext,
) -> Result<Traversal, QueryError> {
    check_hop_count(query)?;
    let lowering = Lowering {
        aliases,
        context,
        comparisons: Cell::new(0),
        total_comparisons: count_all_comparisons(query),
    };
    let mut traversal = Traversal {
        nodes: vec![lowering.node(&query.start, 0)?],
        hops: Vec::new(),
        optional_nodes: Vec::new(),
        filter: None,
    };
    let mut current = 0;
    for (position, step) in query.steps.iter().enumerate() {
        match step {
            Step::Hop(hop) => {
                let mode = if hop.rel.negated {
                    HopMode::Negated
                } else {
                    HopMode::Required
                };
                let reached = lowering.hop(&mut traversal, hop, current, mode)?;
                if mode == HopMode::Required {
                    current = reached;
                }
            }
            Step::Optional { hops, span, .. } => {
                // NOTE: only a one-hop group at the end of the chain runs; chaining after the
                // union set would need the union as a join source.
                let last = position + 1 == query.steps.len();
                let [hop] = hops.as_slice() else {
                    return Err(unsupported("an optional group with several hops", *span));
                };
                if !last || hop.rel.negated {
                    return Err(unsupported(
                        "an optional group followed by more traversals or negated inside",
                        *span,
                    ));
                }
                let reached = lowering.hop(&mut traversal, hop, current, HopMode::Optional)?;
                traversal.optional_nodes.push(reached);
            }
        }
    }
    if let Some(filter) = &query.where_clause {
        traversal.filter = Some(lowering.bool_expr(filter, None)?);
    }
    Ok(traversal)
}

/// Returns the hops of a query in order, optional groups included.
fn all_hops(query: &Query) -> Vec<&Hop> {
    let mut hops = Vec::new();
    for step in &query.steps {
        match step {
            Step::Hop(hop) => hops.push(hop.as_ref()),
            Step::Optional { hops: group, .. } => hops.extend(group.iter()),
        }
    }
    hops
}

/// Rejects a query with more than [`MAX_HOPS`] hops, at the first hop past the limit.
fn check_hop_count(query: &Query) -> Result<(), QueryError> {
    let hops = all_hops(query);
    let Some(first_over) = hops.get(MAX_HOPS) else {
        return Ok(());
    };
    Err(QueryError::TooLarge {
        what: "the traversal",
        unit: "hops",
        found: hops.len(),
        limit: MAX_HOPS,
        advice: "split it into shorter queries that each start from a filtered selector",
        line: first_over.rel.span.line,
        column: first_over.rel.span.column,
    })
}

/// Counts the comparisons of all WITH and WHERE filters, one per value of a value set.
fn count_all_comparisons(query: &Query) -> usize {
    fn count(expr: &BoolExpr) -> usize {
        match expr {
            BoolExpr::Or(terms) | BoolExpr::And(terms) => terms.iter().map(count).sum(),
            BoolExpr::Group(inner) => count(inner),
            BoolExpr::Compare(comparison) => match &comparison.rhs {
                Operand::Set { values, .. } => values.len(),
                Operand::Value(_) | Operand::Prop(_) => 1,
            },
        }
    }
    let nodes = std::iter::once(&query.start).chain(all_hops(query).into_iter().map(|h| &h.node));
    let filters = nodes
        .filter_map(|node| node.filter.as_ref())
        .chain(query.where_clause.as_ref());
    filters.map(count).sum()
}

fn unsupported(feature: &str, span: crate::span::Span) -> QueryError {
    QueryError::Unsupported {
        feature: feature.to_owned(),
        line: span.line,
        column: span.column,
    }
}

struct Lowering<'a> {
    aliases: &'a Aliases,
    context: &'a LiteralContext,
    /// Comparisons lowered so far, checked against [`MAX_COMPARISONS`].
    comparisons: Cell<usize>,
    /// Comparisons in the whole query, for the error message.
    total_comparisons: usize,
}

impl Lowering<'_> {
    fn hop(
        &self,
        traversal: &mut Traversal,
        hop: &Hop,
        from: usize,
        mode: HopMode,
    ) -> Result<usize, QueryError> {
        let reached = traversal.nodes.len();
        let classes = if hop.rel.verbs.contains(&Verb::Any) {
            Vec::new()
        } else {
            hop.rel
                .verbs
                .iter()
                .map(|verb| verb.text().to_owned())
                .collect()
        };
        let direction = match hop.rel.direction {
            None => HopDirection::Both,
            Some(Direction::Outgoing) => HopDirection::Outgoing,
            Some(Direction::Incoming) => HopDirection::Incoming,
        };
        traversal.hops.push(HopPlan {
            from,
            classes,
            direction,
            mode,
        });
        traversal.nodes.push(self.node(&hop.node, reached)?);
        Ok(reached)
    }

    fn node(&self, node: &Node, index: usize) -> Result<NodePlan, QueryError> {
        let mut filters = Vec::new();
        let selector = match &node.selector {
            Selector::Any => EntitySelector::Any,
            Selector::Names(names) => names_selector(names),
            Selector::Text(text) => EntitySelector::Text(text.clone()),
            Selector::Smart { tags, name } => {
                // A tag-derived smart class matches entities whose `tags` array contains the tag.
                // NOTE: `#CriticalAsset` is treated as a plain tag, not the account-configured definition.
                for tag in tags {
                    filters.push(Predicate::Compare {
                        property: PropertyRef {
                            slot: Slot::Entity(index),
                            name: "tags".to_owned(),
                        },
                        op: CompareOp::Eq,
                        value: PlanValue::Str(tag.clone()),
                    });
                }
                match name {
                    Some(name) => names_selector(std::slice::from_ref(name)),
                    None => EntitySelector::Any,
                }
            }
        };
        if let Some(filter) = &node.filter {
            filters.push(self.bool_expr(filter, Some(index))?);
        }
        let filter = match filters.len() {
            0 => None,
            1 => filters.pop(),
            _ => Some(Predicate::And(filters)),
        };
        Ok(NodePlan { selector, filter })
    }

    /// Lowers a filter; `node` is the WITH node, or `None` in WHERE where properties carry aliases.
    fn bool_expr(&self, expr: &BoolExpr, node: Option<usize>) -> Result<Predicate, QueryError> {
        Ok(match expr {
            BoolExpr::Or(terms) => Predicate::Or(
                terms
                    .iter()
                    .map(|t| self.bool_expr(t, node))
                    .collect::<Result<_, _>>()?,
            ),
            BoolExpr::And(terms) => Predicate::And(
                terms
                    .iter()
                    .map(|t| self.bool_expr(t, node))
                    .collect::<Result<_, _>>()?,
            ),
            BoolExpr::Group(inner) => self.bool_expr(inner, node)?,
            BoolExpr::Compare(comparison) => self.comparison(comparison, node)?,
        })
    }

    fn property(&self, prop: &PropRef, node: Option<usize>) -> Result<PropertyRef, QueryError> {
        let slot = match (&prop.alias, node) {
            (None, Some(index)) => Slot::Entity(index),
            (Some(alias), _) => match self.aliases.resolve(&alias.name) {
                Some(Binding::Entity(index)) => Slot::Entity(index),
                Some(Binding::Relationship(index)) => Slot::Relationship(index),
                Some(Binding::Union { .. }) => {
                    return Err(unsupported(
                        "filtering on the alias of an optional group",
                        alias.span,
                    ));
                }
                None => {
                    return Err(QueryError::UnknownAlias {
                        alias: alias.name.clone(),
                        line: alias.span.line,
                        column: alias.span.column,
                    });
                }
            },
            (None, None) => {
                return Err(QueryError::MissingAlias {
                    property: prop.name.clone(),
                    line: prop.span.line,
                    column: prop.span.column,
                });
            }
        };
        Ok(PropertyRef {
            slot,
            name: prop.name.clone(),
        })
    }

    fn comparison(
        &self,
        comparison: &Comparison,
        node: Option<usize>,
    ) -> Result<Predicate, QueryError> {
        self.count_comparisons(comparison)?;
        let property = self.property(&comparison.lhs, node)?;
        let op = comparison.op;
        match &comparison.rhs {
            Operand::Value(literal) => self.single(property, op, literal, comparison),
            Operand::Set { connective, values } => {
                let terms = values
                    .iter()
                    .map(|v| self.single(property.clone(), op, v, comparison))
                    .collect::<Result<Vec<_>, _>>()?;
                // De Morgan: a negated operator over (a OR b) holds when it holds for every value.
                let all = match (op.is_negated(), connective) {
                    (false, Connective::And) | (true, Connective::Or) => true,
                    (false, Connective::Or) | (true, Connective::And) => false,
                };
                Ok(if all {
                    Predicate::And(terms)
                } else {
                    Predicate::Or(terms)
                })
            }
            Operand::Prop(rhs) => {
                let rhs = self.property(rhs, node)?;
                let positive = Predicate::CompareProperties {
                    lhs: property,
                    op: positive_op(op),
                    rhs,
                };
                Ok(negate_if(op, positive))
            }
        }
    }

    /// Counts the comparisons of one WITH or WHERE term and rejects a value set or a
    /// query that is too large.
    fn count_comparisons(&self, comparison: &Comparison) -> Result<(), QueryError> {
        let span = comparison.span;
        let terms = match &comparison.rhs {
            Operand::Set { values, .. } => values.len(),
            Operand::Value(_) | Operand::Prop(_) => 1,
        };
        if terms > MAX_VALUE_SET {
            return Err(QueryError::TooLarge {
                what: "the value set",
                unit: "values",
                found: terms,
                limit: MAX_VALUE_SET,
                advice: "split it across several queries, or filter on a property that the values share",
                line: span.line,
                column: span.column,
            });
        }
        let total = self.comparisons.get() + terms;
        self.comparisons.set(total);
        if total > MAX_COMPARISONS {
            return Err(QueryError::TooLarge {
                what: "the query",
                unit: "comparisons in its WITH and WHERE filters (each value of a value set counts)",
                found: self.total_comparisons,
                limit: MAX_COMPARISONS,
                advice: "use value sets for alternatives of one property, or split the query",
                line: span.line,
                column: span.column,
            });
        }
        Ok(())
    }

    fn single(
        &self,
        property: PropertyRef,
        op: CmpOp,
        literal: &Literal,
        at: &Comparison,
    ) -> Result<Predicate, QueryError> {
        let positive = match self.plan_value(literal, at)? {
            None if op.positive() == CmpOp::Eq => {
                Predicate::Not(Box::new(Predicate::Exists(property)))
            }
            None => Predicate::False,
            Some(value) => Predicate::Compare {
                property,
                op: positive_op(op),
                value,
            },
        };
        Ok(negate_if(op, positive))
    }

    /// Converts a literal; `None` stands for `undefined`.
    fn plan_value(
        &self,
        literal: &Literal,
        at: &Comparison,
    ) -> Result<Option<PlanValue>, QueryError> {
        Ok(Some(match literal {
            Literal::Str(s) => PlanValue::Str(s.clone()),
            Literal::Int(n) => PlanValue::Number(*n as f64),
            Literal::Float(x) => PlanValue::Number(*x),
            Literal::Bool(b) => PlanValue::Bool(*b),
            Literal::Undefined => return Ok(None),
            Literal::Date(date) => {
                PlanValue::Number(date_millis(date, self.context.now_millis) as f64)
            }
            Literal::Regex { pattern, flags } => {
                compile_regex(pattern, flags).map_err(|error| match error {
                    QueryError::InvalidLiteral {
                        what, text, hint, ..
                    } => QueryError::InvalidLiteral {
                        what,
                        text,
                        hint,
                        line: at.span.line,
                        column: at.span.column,
                    },
                    other => other,
                })?;
                PlanValue::Regex {
                    pattern: pattern.clone(),
                    case_insensitive: flags.contains('i'),
                }
            }
            Literal::Param(name) => match self.context.params.get(name) {
                Some(qgraph_model::Value::String(s)) => PlanValue::Str(s.clone()),
                Some(qgraph_model::Value::Bool(b)) => PlanValue::Bool(*b),
                Some(other) => match other.as_f64() {
                    Some(x) => PlanValue::Number(x),
                    None => return Ok(None),
                },
                None => return Err(QueryError::UnboundParameter { name: name.clone() }),
            },
        }))
    }
}

/// Splits an `(A|b)` alternation into classes and types.
fn names_selector(names: &[EntityName]) -> EntitySelector {
    let mut classes = Vec::new();
    let mut types = Vec::new();
    for name in names {
        match name {
            EntityName::Class(c) => classes.push(c.clone()),
            EntityName::Type(t) => types.push(t.clone()),
        }
    }
    EntitySelector::Names { classes, types }
}

fn negate_if(op: CmpOp, positive: Predicate) -> Predicate {
    if op.is_negated() {
        Predicate::Not(Box::new(positive))
    } else {
        positive
    }
}

fn positive_op(op: CmpOp) -> CompareOp {
    match op.positive() {
        CmpOp::Lt => CompareOp::Lt,
        CmpOp::Gt => CompareOp::Gt,
        CmpOp::Le => CompareOp::Le,
        CmpOp::Ge => CompareOp::Ge,
        CmpOp::Contains => CompareOp::Contains,
        CmpOp::StartsWith => CompareOp::StartsWith,
        CmpOp::EndsWith => CompareOp::EndsWith,
        _ => CompareOp::Eq,
    }
}
