//! Finds the entities of one node of a chain by nested `EXISTS`, for plans that return
//! or count only the node the chain starts from.
//!
//! A join enumerates every path of the chain before its rows are grouped by the
//! returned entity, and the paths multiply by the degree at each hop. Seven undirected
//! hops over any class on a graph of 950 entities took 52 s that way (debug build).
//! `EXISTS` stops at the first path from each entity. It walks the same indexes in the
//! same order as the join that starts from that node: back to node 0, then forward to
//! the last node. So for each entity it reads a prefix of the rows that join reads. An
//! undirected walk can step back along the relationship it came by, so it finds a path
//! at once.
//!
//! Grouped counts of a node other than node 0 also need, per group, the lowest node-0
//! id among its paths, which orders the groups as a join orders them (`first_seen`).

use rusqlite::types::Value as SqlValue;

use super::SqlBuilder;
use crate::plan::{CountTarget, HopDirection, PlanOutput, PropertyRef, Slot};

/// One hop of a walk: relationship slot `hop` from the bound node `bound` to the node
/// `reached`, with the stored direction seen from `bound`.
#[derive(Debug, Clone, Copy)]
struct Step {
    hop: usize,
    bound: usize,
    reached: usize,
    direction: HopDirection,
}

/// The number of paths back to node 0 read per grouped entity before reading all of
/// them. Enough that a node-0 entity reaching most entities, such as the one service
/// that scans every host, is usually among them, and few enough to cost little beside
/// reading all.
const PROBED_PATHS: usize = 16;

/// The condition on the last node a walk reaches, besides its relationship.
#[derive(Debug, Clone, Copy)]
enum WalkEnd {
    /// The node's selector and filter.
    Matches,
    /// The node's selector only.
    Selected,
}

impl SqlBuilder<'_> {
    /// Returns the node a plan can be run from as a walk: the node its output reads,
    /// when that node is the one its chain of required hops starts from, and no `WHERE`
    /// filter spans the slots.
    ///
    /// Entity lists qualify only for node 0, because their rows are sorted by node 0.
    /// Grouped counts qualify when every key and count is about the node.
    pub(super) fn walk_start(&self) -> Option<usize> {
        let plan = self.plan;
        if plan.filter.is_some() {
            return None;
        }
        let node = match &plan.output {
            PlanOutput::DistinctEntities(0) => 0,
            PlanOutput::CountDistinct { node, .. } => *node,
            PlanOutput::GroupedCounts { keys, counts } => grouped_node(keys, counts)?,
            PlanOutput::DistinctEntities(_) | PlanOutput::Paths => return None,
        };
        let sorted_by_node = plan
            .order
            .as_ref()
            .is_none_or(|order| order.property.slot == Slot::Entity(node));
        (sorted_by_node && self.chain_start() == Some(node)).then_some(node)
    }

    /// Returns the FROM clause and WHERE conditions that select the entities of node
    /// `start` with a path back to node 0 and a path forward to the last node.
    pub(super) fn walk_from_and_conditions(&mut self, start: usize) -> (String, Vec<String>) {
        let from = self.start_node(start);
        let mut conditions = std::mem::take(&mut self.start_conditions);
        conditions.extend(self.node_conditions(start));
        let back = self.steps_back(start);
        if !back.is_empty() {
            conditions.push(self.walk_exists(&back, WalkEnd::Matches));
        }
        let forward = self.steps_forward(start, self.plan.hops.len());
        if !forward.is_empty() {
            conditions.push(self.walk_exists(&forward, WalkEnd::Matches));
        }
        (from, conditions)
    }

    /// Returns the statement of grouped counts of node `start` when it is not node 0.
    ///
    /// Groups come in the order of the lowest node-0 id among their paths, as from a
    /// join, so each entity's lowest node-0 id is computed first by `first_seen`. That
    /// id is `NULL` when no path leads back. The entities are materialized so that
    /// SQLite computes it once per entity, not again for the filter and the sort.
    pub(super) fn grouped_walk(
        &mut self,
        start: usize,
        keys: &[PropertyRef],
        counts: &[CountTarget],
    ) -> String {
        let from = self.start_node(start);
        let mut conditions = std::mem::take(&mut self.start_conditions);
        conditions.extend(self.node_conditions(start));
        let forward = self.steps_forward(start, self.plan.hops.len());
        if !forward.is_empty() {
            conditions.push(self.walk_exists(&forward, WalkEnd::Matches));
        }
        if conditions.is_empty() {
            conditions.push("1".to_owned());
        }

        let (mut columns, mut aggregates) = self.walked_columns(keys, counts);
        columns.push(format!("{} AS first_seen", self.first_seen(start)));
        aggregates.push("min(first_seen)".to_owned());

        // The lowest node-0 id comes after the keys and counts, and the keys break its ties.
        let key_columns: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
        let key_columns = key_columns.join(", ");
        let first_seen = keys.len() + counts.len() + 1;
        format!(
            "WITH walked AS MATERIALIZED (SELECT {} FROM {from} WHERE {}) \
             SELECT {} FROM walked WHERE first_seen IS NOT NULL \
             GROUP BY {key_columns} ORDER BY {first_seen}, {key_columns}",
            columns.join(", "),
            conditions.join(" AND "),
            aggregates.join(", ")
        )
    }

    /// Returns the columns of the walked entities that hold the keys and counted values,
    /// and the expressions that group them.
    fn walked_columns(
        &mut self,
        keys: &[PropertyRef],
        counts: &[CountTarget],
    ) -> (Vec<String>, Vec<String>) {
        let mut columns = Vec::new();
        let mut aggregates = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            columns.push(format!("{} AS key{i}", self.json_text(key)));
            aggregates.push(format!("key{i}"));
        }
        for (i, count) in counts.iter().enumerate() {
            match count {
                CountTarget::Entities(node) => {
                    columns.push(format!("{} AS counted{i}", self.node_id(*node)));
                    aggregates.push(format!("count(DISTINCT counted{i})"));
                }
                CountTarget::Values(property) => {
                    columns.push(format!("{} AS counted{i}", self.json_text(property)));
                    aggregates.push(format!("count(DISTINCT nullif(counted{i}, 'null'))"));
                }
            }
        }
        (columns, aggregates)
    }

    /// Returns the lowest node-0 id among the paths back from the entity of node
    /// `start` bound in the enclosing statement, `NULL` when there is none.
    ///
    /// Finding the lowest id means reading every path back, so the first
    /// [`PROBED_PATHS`] paths are read first. Their lowest id is the result when they
    /// are all the paths, or when it is the lowest node-0 entity with a path to any
    /// entity selected at `start`, because no path reaches below that one. Only
    /// otherwise are all paths back read, which costs about as much as the join.
    fn first_seen(&mut self, start: usize) -> String {
        let back = self.steps_back(start);
        let lowest = self.lowest_start(start);
        let first_paths = self.walk_ends(&back, PROBED_PATHS);
        let all_paths = self.walk_min(&back);
        format!(
            "coalesce((SELECT CASE WHEN count(*) < {PROBED_PATHS} OR min(id) = {lowest} \
             THEN min(id) END FROM ({first_paths})), {all_paths})"
        )
    }

    /// Returns a subquery of the lowest node-0 id with a path to some entity that node
    /// `start` selects, leaving out that node's filter so that a miss stays cheap.
    fn lowest_start(&mut self, start: usize) -> String {
        let saved = std::mem::take(&mut self.start_conditions);
        let from = self.start_node(0);
        let mut conditions = std::mem::replace(&mut self.start_conditions, saved);
        conditions.extend(self.node_conditions(0));
        let forward = self.steps_forward(0, start);
        conditions.push(self.walk_exists(&forward, WalkEnd::Selected));
        // Scanning in id order from the driving table stops at the first match.
        let order = if self.joined_class(0).is_some() {
            "c0.entity_id"
        } else {
            "e0.id"
        };
        let id = self.node_id(0);
        format!(
            "(SELECT {id} FROM {from} WHERE {} ORDER BY {order} LIMIT 1)",
            conditions.join(" AND ")
        )
    }

    /// Returns the hops from node `start` back to node 0, each seen from its reached node.
    fn steps_back(&self, start: usize) -> Vec<Step> {
        (0..start)
            .rev()
            .filter_map(|hop| {
                let spec = self.plan.hops.get(hop)?;
                // Walking back, the bound end is the node the hop reaches.
                let direction = match spec.direction {
                    HopDirection::Outgoing => HopDirection::Incoming,
                    HopDirection::Incoming => HopDirection::Outgoing,
                    HopDirection::Both => HopDirection::Both,
                };
                Some(Step {
                    hop,
                    bound: hop + 1,
                    reached: hop,
                    direction,
                })
            })
            .collect()
    }

    /// Returns the hops from node `start` forward to node `end`.
    fn steps_forward(&self, start: usize, end: usize) -> Vec<Step> {
        self.plan
            .hops
            .iter()
            .enumerate()
            .take(end)
            .skip(start)
            .map(|(hop, spec)| Step {
                hop,
                bound: hop,
                reached: hop + 1,
                direction: spec.direction,
            })
            .collect()
    }

    /// Returns an `EXISTS` that holds when every step matches in turn from the bound
    /// node of the first step.
    fn walk_exists(&mut self, steps: &[Step], end: WalkEnd) -> String {
        let Some((step, rest)) = steps.split_first() else {
            return "1".to_owned();
        };
        let last = if rest.is_empty() {
            end
        } else {
            WalkEnd::Matches
        };
        let (from, mut conditions) = self.step_tables(*step, last);
        if !rest.is_empty() {
            conditions.push(self.walk_exists(rest, end));
        }
        format!(
            "EXISTS (SELECT 1 FROM {from} WHERE {})",
            conditions.join(" AND ")
        )
    }

    /// Returns a query of the last node's id on the first `limit` walks of the steps, as
    /// one join in the order of the steps.
    fn walk_ends(&mut self, steps: &[Step], limit: usize) -> String {
        let (id, from, conditions) = self.walk_join(steps);
        format!("SELECT {id} AS id FROM {from} WHERE {conditions} LIMIT {limit}")
    }

    /// Returns a subquery of the lowest id of the last node over every walk of the
    /// steps, `NULL` when there is none.
    fn walk_min(&mut self, steps: &[Step]) -> String {
        let (id, from, conditions) = self.walk_join(steps);
        format!("(SELECT min({id}) FROM {from} WHERE {conditions})")
    }

    /// Returns the last node's id, the tables and the conditions of the steps joined in
    /// their order.
    fn walk_join(&mut self, steps: &[Step]) -> (String, String, String) {
        let mut tables = Vec::with_capacity(steps.len());
        let mut conditions = Vec::new();
        for step in steps {
            let (from, step_conditions) = self.step_tables(*step, WalkEnd::Matches);
            tables.push(from);
            conditions.extend(step_conditions);
        }
        let id = steps
            .last()
            .map_or_else(|| "NULL".to_owned(), |step| self.node_id(step.reached));
        (id, tables.join(" CROSS JOIN "), conditions.join(" AND "))
    }

    /// Returns the tables of one step (its relationship and reached node) and the
    /// conditions on them.
    fn step_tables(&mut self, step: Step, end: WalkEnd) -> (String, Vec<String>) {
        let Step {
            hop,
            bound,
            reached,
            direction,
        } = step;
        let id = self.node_id(bound);
        let (bound_end, far_end) = match direction {
            HopDirection::Outgoing => (format!("r{hop}.from_id = {id}"), format!("r{hop}.to_id")),
            HopDirection::Incoming => (format!("r{hop}.to_id = {id}"), format!("r{hop}.from_id")),
            HopDirection::Both => (
                format!("(r{hop}.from_id = {id} OR r{hop}.to_id = {id})"),
                format!(
                    "CASE WHEN r{hop}.from_id = {id} THEN r{hop}.to_id ELSE r{hop}.from_id END"
                ),
            ),
        };

        let mut from = format!("relationships r{hop}");
        if self.class_only.get(reached).copied().unwrap_or(false)
            && let Some(class) = self.joined_class(reached)
        {
            let class = self.bind(SqlValue::Text(class.clone()));
            from.push_str(&format!(
                " CROSS JOIN entity_classes c{reached} \
                 ON c{reached}.entity_id = {far_end} AND c{reached}.class = {class}"
            ));
        } else {
            from.push_str(&format!(
                " CROSS JOIN entities e{reached} ON e{reached}.id = {far_end}"
            ));
            from.push_str(&self.class_join(reached, "CROSS JOIN"));
        }

        let mut conditions = vec![bound_end];
        conditions.extend(self.relationship_class_condition(hop));
        match end {
            WalkEnd::Matches => conditions.extend(self.node_conditions(reached)),
            WalkEnd::Selected => conditions.extend(self.node_selector_condition(reached)),
        }
        (from, conditions)
    }
}

/// Returns the node that every key and count of a grouped count reads, if there is one.
fn grouped_node(keys: &[PropertyRef], counts: &[CountTarget]) -> Option<usize> {
    let mut slots = keys
        .iter()
        .map(|key| key.slot)
        .chain(counts.iter().map(|count| match count {
            CountTarget::Entities(node) => Slot::Entity(*node),
            CountTarget::Values(property) => property.slot,
        }));
    let Some(Slot::Entity(node)) = slots.next() else {
        return None;
    };
    slots.all(|slot| slot == Slot::Entity(node)).then_some(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{
        CompareOp, EntitySelector, GraphPlan, HopMode, HopPlan, NodePlan, PlanValue, Predicate,
    };

    fn node(class: &str, index: usize, filtered: bool) -> NodePlan {
        let filter = filtered.then(|| Predicate::Compare {
            property: PropertyRef {
                slot: Slot::Entity(index),
                name: "n".to_owned(),
            },
            op: CompareOp::Ge,
            value: PlanValue::Number(9.0),
        });
        NodePlan {
            selector: EntitySelector::Names {
                classes: vec![class.to_owned()],
                types: Vec::new(),
            },
            filter,
        }
    }

    fn hop(from: usize, mode: HopMode) -> HopPlan {
        HopPlan {
            from,
            classes: vec!["HAS".to_owned()],
            direction: HopDirection::Both,
            mode,
        }
    }

    /// Builds a chain of four nodes whose last node is filtered, grouping by that node.
    fn last_node_chain() -> GraphPlan {
        let key = PropertyRef {
            slot: Slot::Entity(3),
            name: "qid".to_owned(),
        };
        GraphPlan {
            nodes: vec![
                node("Service", 0, false),
                node("Host", 1, false),
                node("Finding", 2, false),
                node("Vulnerability", 3, true),
            ],
            hops: (0..3).map(|i| hop(i, HopMode::Required)).collect(),
            filter: None,
            output: PlanOutput::GroupedCounts {
                keys: vec![key],
                counts: vec![CountTarget::Entities(3)],
            },
            order: None,
            skip: 0,
            limit: None,
        }
    }

    fn walk_start_of(plan: &GraphPlan) -> Option<usize> {
        let mut builder = SqlBuilder {
            plan,
            params: Vec::new(),
            class_only: Vec::new(),
            start_conditions: Vec::new(),
            walk: None,
        };
        builder.mark_class_only_nodes();
        builder.walk_start()
    }

    #[test]
    fn last_node_counts_walk_from_last_node() {
        let mut plan = last_node_chain();
        assert_eq!(walk_start_of(&plan), Some(3));

        plan.output = PlanOutput::CountDistinct {
            node: 3,
            property: None,
        };
        assert_eq!(walk_start_of(&plan), Some(3));

        plan.output = PlanOutput::CountDistinct {
            node: 3,
            property: Some("qid".to_owned()),
        };
        assert_eq!(walk_start_of(&plan), Some(3));
    }

    #[test]
    fn outputs_of_other_nodes_join() {
        let mut plan = last_node_chain();
        plan.output = PlanOutput::CountDistinct {
            node: 1,
            property: None,
        };
        assert_eq!(walk_start_of(&plan), None, "count of an unfiltered node");

        plan.output = PlanOutput::DistinctEntities(3);
        assert_eq!(walk_start_of(&plan), None, "list of the last node");

        plan.output = PlanOutput::Paths;
        assert_eq!(walk_start_of(&plan), None, "paths");

        let key = PropertyRef {
            slot: Slot::Entity(3),
            name: "qid".to_owned(),
        };
        plan.output = PlanOutput::GroupedCounts {
            keys: vec![key.clone()],
            counts: vec![CountTarget::Entities(1)],
        };
        assert_eq!(walk_start_of(&plan), None, "count of another node");

        plan.output = PlanOutput::GroupedCounts {
            keys: vec![PropertyRef {
                slot: Slot::Relationship(2),
                name: "_class".to_owned(),
            }],
            counts: vec![CountTarget::Entities(3)],
        };
        assert_eq!(walk_start_of(&plan), None, "key on a relationship");
    }

    #[test]
    fn negated_optional_and_where_join() {
        for mode in [HopMode::Negated, HopMode::Optional] {
            let mut plan = last_node_chain();
            plan.hops[1].mode = mode;
            assert_eq!(walk_start_of(&plan), None, "{mode:?} hop");
        }

        let mut plan = last_node_chain();
        plan.filter = Some(Predicate::CompareProperties {
            lhs: PropertyRef {
                slot: Slot::Entity(1),
                name: "n".to_owned(),
            },
            op: CompareOp::Lt,
            rhs: PropertyRef {
                slot: Slot::Entity(3),
                name: "n".to_owned(),
            },
        });
        assert_eq!(walk_start_of(&plan), None, "WHERE across nodes");
    }

    #[test]
    fn first_filtered_node_decides_walk_start() {
        // Node 1 is filtered first, so a chain started there cannot return node 3.
        let mut plan = last_node_chain();
        plan.nodes[1] = node("Host", 1, true);
        assert_eq!(walk_start_of(&plan), None);

        plan.output = PlanOutput::CountDistinct {
            node: 1,
            property: None,
        };
        assert_eq!(walk_start_of(&plan), Some(1));
    }

    /// Returns the tables of the statement's outermost FROM clause.
    fn outer_tables(sql: &str) -> &str {
        let from = match sql.rsplit_once(" AS first_seen FROM ") {
            Some((_, rest)) => rest,
            None => sql.split_once(" FROM ").map_or(sql, |(_, rest)| rest),
        };
        from.split_once(" WHERE ")
            .map_or(from, |(tables, _)| tables)
    }

    #[test]
    fn walk_statements_join_no_relationship() {
        let mut plan = last_node_chain();
        let (sql, _) = super::super::plan_sql(&plan);
        assert!(sql.starts_with("WITH walked AS MATERIALIZED"), "{sql}");
        assert_eq!(
            outer_tables(&sql),
            "entity_classes c3 CROSS JOIN entities e3 ON e3.id = c3.entity_id AND c3.class = ?1"
        );

        plan.output = PlanOutput::CountDistinct {
            node: 3,
            property: None,
        };
        let (sql, _) = super::super::plan_sql(&plan);
        assert!(
            sql.starts_with("SELECT count(DISTINCT e3.id) FROM"),
            "{sql}"
        );
        assert_eq!(
            outer_tables(&sql),
            "entity_classes c3 CROSS JOIN entities e3 ON e3.id = c3.entity_id AND c3.class = ?1"
        );
    }
}
