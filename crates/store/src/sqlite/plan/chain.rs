//! Joins a chain of required hops in a fixed order, from its most selective node.
//!
//! Without statistics SQLite guesses that every index equality matches a few rows. On a
//! graph it then often pairs every entity of one class with every entity of another
//! before it looks at the relationships, or builds an automatic index over all
//! relationships. A chain is therefore joined with `CROSS JOIN`, which fixes the loop
//! order: the start node, then each hop walking back to node 0, then each hop forward.
//! Each relationship is found from the end already bound, by the `(from_id, class, to_id)`
//! or `(to_id, class, from_id)` index, and the far entity by its primary key.

use rusqlite::types::Value as SqlValue;

use super::{SCALAR_INDEXED, SqlBuilder};
use crate::plan::{
    CompareOp, CountTarget, HopDirection, HopMode, PlanOutput, PlanValue, Predicate, Slot,
};

/// Columns that an index of the schema starts with, so an equality or range on them
/// selects entities without reading the table.
const INDEXED_COLUMNS: &[&str] = &["_id", "_key", "_type"];

impl SqlBuilder<'_> {
    /// Returns the node a chain of required hops should start from, or `None` when the
    /// plan is not such a chain.
    ///
    /// The chain starts from the first node with a filter, because a `WITH` filter usually
    /// selects far fewer entities than a class.
    /// NOTE: a heuristic: a filter that matches most entities still starts the chain.
    pub(super) fn chain_start(&self) -> Option<usize> {
        let plan = self.plan;
        if plan.hops.is_empty() {
            return None;
        }
        let is_chain = plan
            .hops
            .iter()
            .enumerate()
            .all(|(i, hop)| hop.mode == HopMode::Required && hop.from == i);
        if !is_chain {
            return None;
        }
        let filtered = plan.nodes.iter().position(|node| {
            node.filter
                .as_ref()
                .is_some_and(|filter| !matches!(filter, Predicate::Not(_)))
        });
        Some(filtered.unwrap_or(0))
    }

    /// Marks the chain's nodes that are read from `entity_classes` alone: those selected
    /// by one class whose properties the plan never reads. Skipping their `entities` row
    /// saves one random read of a large row per path.
    pub(super) fn mark_class_only_nodes(&mut self) {
        if self.chain_start().is_none() {
            return;
        }
        let plan = self.plan;
        self.class_only = (0..plan.nodes.len())
            .map(|node| {
                self.joined_class(node).is_some()
                    && plan.nodes.get(node).is_some_and(|n| n.filter.is_none())
                    && !self.reads_properties_of(node)
            })
            .collect();
    }

    /// Returns the SQL expression of a node's entity id.
    pub(super) fn node_id(&self, node: usize) -> String {
        if self.class_only.get(node).copied().unwrap_or(false) {
            format!("c{node}.entity_id")
        } else {
            format!("e{node}.id")
        }
    }

    /// Returns whether WHERE, ORDER BY or the output reads a property of the node.
    fn reads_properties_of(&self, node: usize) -> bool {
        let plan = self.plan;
        let slot = Slot::Entity(node);
        let in_filter = plan
            .filter
            .as_ref()
            .is_some_and(|filter| mentions(filter, slot));
        let in_order = plan
            .order
            .as_ref()
            .is_some_and(|order| order.property.slot == slot);
        let in_output = match &plan.output {
            PlanOutput::CountDistinct {
                node: counted,
                property: Some(_),
            } => *counted == node,
            PlanOutput::GroupedCounts { keys, counts } => {
                keys.iter().any(|key| key.slot == slot)
                    || counts.iter().any(|count| match count {
                        CountTarget::Values(property) => property.slot == slot,
                        CountTarget::Entities(_) => false,
                    })
            }
            _ => false,
        };
        in_filter || in_order || in_output
    }

    /// Returns whether the filter of a node can select its entities from an index.
    pub(super) fn start_filter_is_indexed(&self, node: usize) -> bool {
        self.plan
            .nodes
            .get(node)
            .and_then(|n| n.filter.as_ref())
            .is_some_and(is_indexed)
    }

    /// Joins a chain starting at node `start`, walking back to node 0 and then forward.
    pub(super) fn chain_join(&mut self, start: usize) -> String {
        let plan = self.plan;
        let mut from = self.start_node(start);
        for hop in (0..start).rev() {
            let Some(spec) = plan.hops.get(hop) else {
                continue;
            };
            // Walking back, the bound end is the reached node and the stored direction flips.
            let direction = match spec.direction {
                HopDirection::Outgoing => HopDirection::Incoming,
                HopDirection::Incoming => HopDirection::Outgoing,
                HopDirection::Both => HopDirection::Both,
            };
            from.push_str(&self.hop_join(hop, hop + 1, hop, direction));
        }
        for (hop, spec) in plan.hops.iter().enumerate().skip(start) {
            from.push_str(&self.hop_join(hop, hop, hop + 1, spec.direction));
        }
        from
    }

    /// Selects the start node: through its filter's index when the filter has one, else
    /// from its class, else from `entities`.
    pub(super) fn start_node(&mut self, start: usize) -> String {
        let indexed = self.start_filter_is_indexed(start);
        let Some(class) = self.joined_class(start) else {
            return format!("entities e{start}");
        };
        let class = self.bind(SqlValue::Text(class.clone()));
        if self.class_only.get(start).copied().unwrap_or(false) {
            self.start_conditions
                .push(format!("c{start}.class = {class}"));
            return format!("entity_classes c{start}");
        }
        if indexed {
            return format!(
                "entities e{start} CROSS JOIN entity_classes c{start} \
                 ON c{start}.entity_id = e{start}.id AND c{start}.class = {class}"
            );
        }
        format!(
            "entity_classes c{start} CROSS JOIN entities e{start} \
             ON e{start}.id = c{start}.entity_id AND c{start}.class = {class}"
        )
    }

    /// Joins relationship `r{hop}` from the bound node `bound` and then the node `reached`
    /// at its other end. `direction` is the stored direction seen from `bound`.
    ///
    /// A relationship from an entity to itself matches both sides of a `Both` hop and
    /// still yields one row.
    fn hop_join(
        &mut self,
        hop: usize,
        bound: usize,
        reached: usize,
        direction: HopDirection,
    ) -> String {
        let id = self.node_id(bound);
        let (condition, far_end) = match direction {
            HopDirection::Outgoing => (format!("r{hop}.from_id = {id}"), format!("r{hop}.to_id")),
            HopDirection::Incoming => (format!("r{hop}.to_id = {id}"), format!("r{hop}.from_id")),
            HopDirection::Both => (
                format!("(r{hop}.from_id = {id} OR r{hop}.to_id = {id})"),
                format!(
                    "CASE WHEN r{hop}.from_id = {id} THEN r{hop}.to_id ELSE r{hop}.from_id END"
                ),
            ),
        };
        let mut join = format!(" CROSS JOIN relationships r{hop} ON {condition}");
        if self.class_only.get(reached).copied().unwrap_or(false) {
            if let Some(class) = self.joined_class(reached) {
                let class = self.bind(SqlValue::Text(class.clone()));
                join.push_str(&format!(
                    " CROSS JOIN entity_classes c{reached} \
                     ON c{reached}.entity_id = {far_end} AND c{reached}.class = {class}"
                ));
            }
            return join;
        }
        join.push_str(&format!(
            " CROSS JOIN entities e{reached} ON e{reached}.id = {far_end}"
        ));
        join.push_str(&self.class_join(reached, "CROSS JOIN"));
        join
    }
}

/// Returns whether a filter can select its entities from an index of the schema: a
/// comparison on an indexed property, a conjunction with one, or a disjunction of them.
/// NOTE: only the properties with expression indexes count; a filter on another property
/// starts from the node's class and reads each entity of it.
fn is_indexed(filter: &Predicate) -> bool {
    match filter {
        Predicate::Compare {
            property,
            op,
            value,
            ..
        } => {
            let name = property.name.as_str();
            let indexed = SCALAR_INDEXED.contains(&name) || INDEXED_COLUMNS.contains(&name);
            let sargable = matches!(
                op,
                CompareOp::Eq | CompareOp::Lt | CompareOp::Gt | CompareOp::Le | CompareOp::Ge
            ) && !matches!(value, PlanValue::Regex { .. });
            indexed && sargable
        }
        Predicate::And(terms) => terms.iter().any(is_indexed),
        Predicate::Or(terms) => !terms.is_empty() && terms.iter().all(is_indexed),
        _ => false,
    }
}

/// Returns whether a predicate reads a property of `slot`.
fn mentions(predicate: &Predicate, slot: Slot) -> bool {
    match predicate {
        Predicate::And(terms) | Predicate::Or(terms) => terms.iter().any(|t| mentions(t, slot)),
        Predicate::Not(inner) => mentions(inner, slot),
        Predicate::Exists(property) | Predicate::Compare { property, .. } => property.slot == slot,
        Predicate::CompareProperties { lhs, rhs, .. } => lhs.slot == slot || rhs.slot == slot,
        Predicate::False => false,
    }
}
