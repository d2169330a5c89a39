//! A backend-neutral query plan: the work a graph query requests from the store.
//!
//! A plan is a chain of entity nodes joined by relationship hops, with
//! property predicates on nodes and relationships, and an output shape. Each
//! backend runs a plan in its own query language (SQLite: `sqlite::plan`), so
//! filters and traversals run in the database. The query engine builds plans
//! and shapes their rows; the store never parses J1QL.

use std::time::{Duration, Instant};

use qgraph_model::{Properties, Value};

use crate::error::StoreError;

/// A chain of nodes and hops to match, with filters and the output wanted.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphPlan {
    /// Entity nodes; node 0 is the start of the chain.
    pub nodes: Vec<NodePlan>,
    /// Hops; hop `i` binds relationship slot `i` and reaches node `i + 1`.
    pub hops: Vec<HopPlan>,
    /// A predicate over any slots, applied after the traversal (J1QL `WHERE`).
    pub filter: Option<Predicate>,
    pub output: PlanOutput,
    /// Sort key of the output rows; rows without a value sort first.
    pub order: Option<SortKey>,
    /// Rows to skip before the first one returned.
    pub skip: u64,
    /// Most rows returned; `None` returns all.
    pub limit: Option<u64>,
}

/// The entity selection and filter of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePlan {
    pub selector: EntitySelector,
    /// A predicate whose slots are this node (J1QL `WITH`).
    pub filter: Option<Predicate>,
}

/// Entity selection before filters.
#[derive(Debug, Clone, PartialEq)]
pub enum EntitySelector {
    /// Every entity.
    Any,
    /// Entities with one of `types` as `_type` or one of `classes` among `_class`.
    Names {
        classes: Vec<String>,
        types: Vec<String>,
    },
    /// Entities with the text inside their key, display name or any property value.
    Text(String),
}

/// A relationship hop from an earlier node to the next node.
#[derive(Debug, Clone, PartialEq)]
pub struct HopPlan {
    /// The node the hop starts from.
    pub from: usize,
    /// Relationship classes to follow; empty follows every class.
    pub classes: Vec<String>,
    pub direction: HopDirection,
    pub mode: HopMode,
}

/// The stored direction a hop follows, relative to its `from` node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopDirection {
    /// Either direction.
    Both,
    /// From the `from` node to the reached node.
    Outgoing,
    /// From the reached node to the `from` node.
    Incoming,
}

/// The constraint a hop puts on a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopMode {
    /// The hop must match; each match is one path.
    Required,
    /// Paths are kept when the hop has no match; its slots are then empty.
    Optional,
    /// The `from` entity is kept only when no such hop exists; its slots stay empty.
    Negated,
}

/// A slot of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Entity(usize),
    Relationship(usize),
}

/// A property of the object bound to a slot. `_key`, `_type`, `_class`,
/// `displayName` and the metadata such as `_source` and `_createdOn` are
/// properties too.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyRef {
    pub slot: Slot,
    pub name: String,
}

/// A boolean condition on slot properties.
///
/// Comparisons are positive and hold when the value, or any element of an
/// array value, matches; values of another type never match (no coercion).
/// Negated J1QL operators are `Not` of the positive form, so they hold on
/// absent properties.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    And(Vec<Predicate>),
    Or(Vec<Predicate>),
    Not(Box<Predicate>),
    /// The property is present and not null.
    Exists(PropertyRef),
    Compare {
        property: PropertyRef,
        op: CompareOp,
        value: PlanValue,
    },
    /// Some value of `lhs` relates to some value of `rhs` by `op`.
    CompareProperties {
        lhs: PropertyRef,
        op: CompareOp,
        rhs: PropertyRef,
    },
    /// Always false; used for comparisons that can never hold.
    False,
}

/// Positive comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
    Contains,
    StartsWith,
    EndsWith,
}

/// A literal in a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanValue {
    Str(String),
    Number(f64),
    Bool(bool),
    /// A regular expression in the syntax of the `regex` crate, matched unanchored.
    Regex {
        pattern: String,
        case_insensitive: bool,
    },
}

/// Returns a pattern that matches where `pattern` has a match ending at the end
/// of the text, for the ends-with operator on a regex.
///
/// Looking at the leftmost matches of `pattern` is not enough: they do not
/// overlap, so in `web-12345` the matches of `\d{2}` are `12` and `34`, and
/// the `45` that ends the text is never found. Anchoring the whole pattern
/// finds it. A pattern in verbose mode (`(?x)`) that ends in a `#` comment
/// would comment out the closing parenthesis, so the line ends before it.
pub fn end_anchored_pattern(pattern: &str) -> String {
    let anchored = format!("(?:{pattern})\\z");
    if regex::Regex::new(&anchored).is_ok() || regex::Regex::new(pattern).is_err() {
        anchored
    } else {
        format!("(?:{pattern}\n)\\z")
    }
}

/// The output shape of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanOutput {
    /// Every matching path: ids of all entity and relationship slots.
    Paths,
    /// The distinct entities of one node slot, as one-slot paths.
    DistinctEntities(usize),
    /// The number of distinct entities of a node slot, or of distinct values of one of their properties.
    CountDistinct {
        node: usize,
        property: Option<String>,
    },
    /// One row per distinct tuple of `keys` values, with one distinct count per entry of
    /// `counts` over the paths of that tuple (J1QL `RETURN a.x, count(b)`).
    ///
    /// Rows come in the order of the lowest node-0 entity id among their paths, which is
    /// the order in which a scan of [`PlanOutput::Paths`] first meets each tuple. `order`,
    /// `skip` and `limit` are ignored.
    GroupedCounts {
        keys: Vec<PropertyRef>,
        counts: Vec<CountTarget>,
    },
}

/// The entities or values that a grouped count counts.
#[derive(Debug, Clone, PartialEq)]
pub enum CountTarget {
    /// The distinct entities bound to a node slot.
    Entities(usize),
    /// The distinct non-null values of a property; values of different JSON types differ.
    Values(PropertyRef),
}

/// One row of a [`PlanOutput::GroupedCounts`] plan.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    /// Values of the keys; an absent property is [`Value::Null`].
    pub keys: Vec<Value>,
    /// One count per [`CountTarget`].
    pub counts: Vec<u64>,
}

/// A sort key: a property and its direction.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub property: PropertyRef,
    pub descending: bool,
}

/// One matching path: object ids per slot, `None` where an optional or negated hop bound nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRow {
    pub entities: Vec<Option<i64>>,
    pub relationships: Vec<Option<i64>>,
}

/// The result of running a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanResult {
    Paths(Vec<PathRow>),
    Count(u64),
    Groups(Vec<GroupRow>),
}

/// A stored entity or relationship as the query engine reads it: its row id
/// and all its properties, including `_key`, `_type`, `_class` and the
/// metadata (`_id`, `_source`, `_createdOn`, `_updatedOn`, `_version`,
/// `_integrationInstanceId`, `_integrationType`; relationships add
/// `_fromEntityId` and `_toEntityId`).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanObject {
    pub id: i64,
    pub properties: Properties,
}

/// A time limit on a query run: the instant it ends and the limit it was set from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// `None` when the limit reaches past what the monotonic clock can represent.
    at: Option<Instant>,
    limit: Duration,
}

impl Deadline {
    /// Starts a deadline `limit` from now.
    pub fn after(limit: Duration) -> Self {
        Deadline {
            at: Instant::now().checked_add(limit),
            limit,
        }
    }

    /// Returns the limit this deadline was set from, for messages.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// Returns whether the deadline has passed.
    pub fn has_passed(&self) -> bool {
        self.at.is_some_and(|at| Instant::now() >= at)
    }

    /// Returns [`StoreError::QueryTimedOut`] once the deadline has passed.
    pub fn check(&self) -> Result<(), StoreError> {
        if self.has_passed() {
            return Err(StoreError::QueryTimedOut { limit: self.limit });
        }
        Ok(())
    }
}

/// A backend that runs plans.
pub trait PlanExecutor {
    /// Runs a plan without a time limit.
    fn execute_plan(&self, plan: &GraphPlan) -> Result<PlanResult, StoreError> {
        self.execute_plan_until(plan, None)
    }

    /// Runs a plan, stopping it with [`StoreError::QueryTimedOut`] once `deadline` passes.
    ///
    /// A stopped plan leaves the store as it was, ready for the next statement.
    fn execute_plan_until(
        &self,
        plan: &GraphPlan,
        deadline: Option<Deadline>,
    ) -> Result<PlanResult, StoreError>;

    /// Loads entities by row id; ids not found are left out.
    fn load_entities(&self, ids: &[i64]) -> Result<Vec<PlanObject>, StoreError>;

    /// Loads relationships by row id; ids not found are left out.
    fn load_relationships(&self, ids: &[i64]) -> Result<Vec<PlanObject>, StoreError>;
}
