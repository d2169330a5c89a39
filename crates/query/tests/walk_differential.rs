//! Differential test of the store's nested-`EXISTS` walk against its joined paths.
//!
//! Random small graphs get random queries of the shapes that the store may run as a
//! walk from the start node: counts, grouped counts and entity lists of that node. Each
//! query runs twice: as written, and through an executor that adds an always-true
//! `WHERE` filter to every plan, which keeps the store from walking and makes it join
//! every path. Both results must be equal, row order included. The PRNG is seeded, so a
//! failure prints its seed and query and reproduces.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;

use common::engine_form;

use std::cell::Cell;
use std::fmt::Write as _;

use qgraph_model::{
    DeclaredType, Entity, GraphObject, GraphSink, Relationship, RelationshipClass, StepDeclaration,
    StepResult, StepStatus,
};
use qgraph_query::{QueryOptions, run_query};
use qgraph_store::plan::{
    Deadline, GraphPlan, PlanExecutor, PlanObject, PlanOutput, PlanResult, Predicate,
};
use qgraph_store::{
    GraphStore, InstanceKind, NewInstance, SqliteStore, StoreError, SyncOptions, SyncRun,
};
use serde_json::json;

/// SplitMix64: small, seedable and good enough to pick test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// An executor that forces the joined form of every plan by adding a `WHERE` filter
/// that always holds, and records the plan outputs.
struct Joined<'s> {
    store: &'s SqliteStore,
    outputs: Cell<usize>,
}

impl PlanExecutor for Joined<'_> {
    fn execute_plan_until(
        &self,
        plan: &GraphPlan,
        deadline: Option<Deadline>,
    ) -> Result<PlanResult, StoreError> {
        self.outputs.set(self.outputs.get() + 1);
        let mut plan = plan.clone();
        if plan.filter.is_none() {
            // An empty conjunction is SQL `1`, and any WHERE filter turns the walk off.
            plan.filter = Some(Predicate::And(Vec::new()));
        }
        self.store.execute_plan_until(&plan, deadline)
    }

    fn load_entities(&self, ids: &[i64]) -> Result<Vec<PlanObject>, StoreError> {
        self.store.load_entities(ids)
    }

    fn load_relationships(&self, ids: &[i64]) -> Result<Vec<PlanObject>, StoreError> {
        self.store.load_relationships(ids)
    }
}

/// An executor that records the output shapes of the plans it runs.
struct Recording<'s> {
    store: &'s SqliteStore,
    outputs: std::cell::RefCell<Vec<PlanOutput>>,
    /// Plans the store ran as a walk, and those of them that were grouped walks.
    walks: Cell<usize>,
    grouped_walks: Cell<usize>,
}

impl PlanExecutor for Recording<'_> {
    fn execute_plan_until(
        &self,
        plan: &GraphPlan,
        deadline: Option<Deadline>,
    ) -> Result<PlanResult, StoreError> {
        self.outputs.borrow_mut().push(plan.output.clone());
        let mut joined = plan.clone();
        joined.filter.get_or_insert(Predicate::And(Vec::new()));
        let (sql, _) = self.store.explain_plan(plan)?;
        let (joined_sql, _) = self.store.explain_plan(&joined)?;
        if !sql.contains(" JOIN relationships") && joined_sql.contains(" JOIN relationships") {
            self.walks.set(self.walks.get() + 1);
        }
        if sql.starts_with("WITH walked") {
            self.grouped_walks.set(self.grouped_walks.get() + 1);
        }
        self.store.execute_plan_until(plan, deadline)
    }

    fn load_entities(&self, ids: &[i64]) -> Result<Vec<PlanObject>, StoreError> {
        self.store.load_entities(ids)
    }

    fn load_relationships(&self, ids: &[i64]) -> Result<Vec<PlanObject>, StoreError> {
        self.store.load_relationships(ids)
    }
}

const CLASSES: &[&str] = &["Host", "Finding", "Service"];
const TYPES: &[&str] = &["alpha", "beta"];
const VERBS: &[&str] = &["HAS", "IS", "USES"];
const GROUPS: &[&str] = &["p", "q", "r"];

/// Returns a random value for property `x` or `g`, `None` when the entity lacks it.
fn random_value(rng: &mut Rng, name: &str) -> Option<serde_json::Value> {
    let scalar = |rng: &mut Rng| match name {
        "x" => json!(rng.below(4)),
        _ => json!(rng.pick(GROUPS)),
    };
    match rng.below(6) {
        0 => None,
        1 => Some(json!([scalar(rng), scalar(rng)])),
        _ => Some(scalar(rng)),
    }
}

/// Builds the objects of a random graph: entities with one or two classes and maybe
/// missing or array-valued properties, and relationships with self-loops and parallel
/// pairs of the same class.
fn random_graph(rng: &mut Rng) -> Vec<GraphObject> {
    let count = 6 + rng.below(9);
    let mut entities = Vec::with_capacity(count);
    for i in 0..count {
        let mut classes = vec![rng.pick(CLASSES).to_string()];
        if rng.chance(30) {
            let second = rng.pick(CLASSES).to_string();
            if !classes.contains(&second) {
                classes.push(second);
            }
        }
        let mut entity = json!({
            "_key": format!("E{i:02}"),
            "_type": rng.pick(TYPES),
            "_class": classes,
        });
        for name in ["x", "g"] {
            if let Some(value) = random_value(rng, name) {
                entity[name] = value;
            }
        }
        let entity: Entity = serde_json::from_value(entity).unwrap();
        entities.push(entity);
    }
    // Keys are inserted in a shuffled order so that row ids do not follow key order.
    for i in (1..entities.len()).rev() {
        let j = rng.below(i + 1);
        entities.swap(i, j);
    }

    let mut relationships = Vec::new();
    // About half the graphs are dense, so that entities have more than 16 paths back to
    // node 0, past the store's probe of the first paths.
    let edges = if rng.chance(50) {
        count * 5 + rng.below(count * 3)
    } else {
        count + rng.below(count * 2)
    };
    for n in 0..edges {
        let from = rng.pick(&entities).clone();
        let to = if rng.chance(10) {
            from.clone()
        } else {
            rng.pick(&entities).clone()
        };
        let class = RelationshipClass::new(rng.pick::<&str>(VERBS)).unwrap();
        let mut relationship = Relationship::between(&from, &class, &to);
        // A distinct key lets two relationships of one class join the same pair.
        relationship.key = format!("{}#{n}", relationship.key);
        relationships.push(relationship);
        if rng.chance(10) {
            let mut parallel = relationships.last().unwrap().clone();
            parallel.key = format!("{}p", parallel.key);
            relationships.push(parallel);
        }
    }
    let mut objects: Vec<GraphObject> = entities.into_iter().map(GraphObject::Entity).collect();
    objects.extend(relationships.into_iter().map(GraphObject::Relationship));
    objects
}

/// Loads objects into a new in-memory store through one sync run.
fn load(objects: Vec<GraphObject>) -> SqliteStore {
    let store = SqliteStore::open_in_memory().unwrap();
    let mut entity_types: Vec<String> = Vec::new();
    let mut relationship_types: Vec<String> = Vec::new();
    for object in &objects {
        let list = match object {
            GraphObject::Entity(_) => &mut entity_types,
            _ => &mut relationship_types,
        };
        list.push(object.object_type().to_owned());
    }
    let declared = |mut types: Vec<String>| {
        types.sort();
        types.dedup();
        types
            .into_iter()
            .map(|object_type| DeclaredType {
                object_type,
                partial: false,
            })
            .collect()
    };
    let step = StepDeclaration {
        id: "random".into(),
        name: "Random graph".into(),
        entity_types: declared(entity_types),
        relationship_types: declared(relationship_types),
        depends_on: Vec::new(),
    };
    let result = StepResult {
        id: "random".into(),
        status: StepStatus::Success,
        started_on: common::NOW,
        ended_on: common::NOW,
        counts: Default::default(),
        errors: Vec::new(),
    };
    let instance = store
        .create_instance(NewInstance {
            name: "random".into(),
            kind: InstanceKind::Qualys,
            config: json!({}),
            password: None,
        })
        .unwrap();
    let mut run = store
        .begin_sync(instance.id, SyncOptions::at(common::NOW))
        .unwrap();
    run.write("random", objects).unwrap();
    run.commit(&[step], &[result]).unwrap();
    store
}

fn random_selector(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => "*".to_owned(),
        1 => format!("({}|{})", rng.pick(CLASSES), rng.pick(CLASSES)),
        2 => rng.pick(TYPES).to_string(),
        3 => format!("({}|{})", rng.pick(CLASSES), rng.pick(TYPES)),
        // A quoted text matches keys, names and property values.
        4 => format!("'E0{}'", rng.below(10)),
        _ => rng.pick(CLASSES).to_string(),
    }
}

fn random_filter(rng: &mut Rng) -> String {
    match rng.below(7) {
        0 => format!("x >= {}", rng.below(4)),
        1 => format!("x = {}", rng.below(4)),
        2 => format!("g = '{}'", rng.pick(GROUPS)),
        3 => format!("g = ('{}' OR '{}')", rng.pick(GROUPS), rng.pick(GROUPS)),
        4 => format!("x != {}", rng.below(4)),
        5 => "x = undefined".to_owned(),
        _ => format!("x > {} AND g != '{}'", rng.below(3), rng.pick(GROUPS)),
    }
}

fn random_verb(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => "RELATES TO".to_owned(),
        1 => format!("({}|{})", rng.pick(VERBS), rng.pick(VERBS)),
        _ => rng.pick(VERBS).to_string(),
    }
}

/// Returns a random query of 1 to 4 hops whose RETURN reads one node.
fn random_query(rng: &mut Rng) -> String {
    let hops = 1 + rng.below(4);
    let filtered: Vec<bool> = (0..=hops).map(|_| rng.chance(35)).collect();
    let mut query = String::from("FIND ");
    let list = rng.chance(12);
    // UNIQUE needs a RETURN.
    if !list && rng.chance(20) {
        query.push_str("UNIQUE ");
    }
    for (node, is_filtered) in filtered.iter().enumerate() {
        if node > 0 {
            let direction = *rng.pick(&["", "", " >>", " <<"]);
            let _ = write!(query, " THAT {}{direction} ", random_verb(rng));
        }
        query.push_str(&random_selector(rng));
        if *is_filtered {
            let _ = write!(query, " WITH {}", random_filter(rng));
        }
        let _ = write!(query, " AS n{node}");
    }
    if list {
        if rng.chance(50) {
            query.push_str(" ORDER BY n0.x");
        }
        if rng.chance(50) {
            let _ = write!(query, " SKIP {} LIMIT {}", rng.below(3), 1 + rng.below(4));
        }
        return query;
    }

    // Mostly the node a chain starts from (the first filtered node), sometimes any node.
    let first_filtered = filtered.iter().position(|f| *f).unwrap_or(0);
    let target = if rng.chance(75) {
        first_filtered
    } else {
        rng.below(hops + 1)
    };
    let t = format!("n{target}");
    let ret = match rng.below(8) {
        0 => format!("RETURN count({t})"),
        1 => format!("RETURN count({t}.x)"),
        2 => format!("RETURN {t}.g, count({t}) AS c"),
        3 => format!("RETURN {t}.x, {t}.g, count({t}) AS c, count({t}.x) AS d"),
        4 => format!("RETURN {t}._class, count({t}) AS c"),
        5 => format!("RETURN {t}.g, count({t}) AS c ORDER BY c DESC"),
        6 => format!(
            "RETURN {t}.x, count({t}.g) AS c SKIP {} LIMIT {}",
            rng.below(2),
            1 + rng.below(3)
        ),
        _ => format!("RETURN {t}, {t}.x ORDER BY {t}.x LIMIT 3"),
    };
    let _ = write!(query, " {ret}");
    query
}

/// How often the queries reached each form of the store's statements.
#[derive(Debug, Default)]
struct Coverage {
    queries: usize,
    /// Plans run as a walk, that is without a join of relationships.
    walks: usize,
    /// Walks of grouped counts of a node other than node 0.
    grouped_walks: usize,
    /// Queries that failed in both forms, equally.
    errors: usize,
}

/// Runs a query as written and through the forced join, returns both results as text
/// and adds to the coverage.
fn run_both(store: &SqliteStore, query: &str, coverage: &mut Coverage) -> (String, String) {
    let options = QueryOptions::at(common::NOW);
    let recording = Recording {
        store,
        outputs: std::cell::RefCell::new(Vec::new()),
        walks: Cell::new(0),
        grouped_walks: Cell::new(0),
    };
    let walked = format!("{:?}", run_query(&recording, query, &options));
    let joined_store = Joined {
        store,
        outputs: Cell::new(0),
    };
    let joined = format!("{:?}", run_query(&joined_store, query, &options));
    coverage.queries += 1;
    coverage.walks += recording.walks.get();
    coverage.grouped_walks += recording.grouped_walks.get();
    coverage.errors += usize::from(joined.starts_with("Err"));
    (walked, joined)
}

#[test]
fn walks_match_joined_paths_on_random_graphs() {
    let mut failures = Vec::new();
    let mut coverage = Coverage::default();
    for seed in 0..80_u64 {
        let mut rng = Rng(seed);
        let store = load(random_graph(&mut rng));
        for _ in 0..40 {
            let query = random_query(&mut rng);
            let (walked, joined) = run_both(&store, &query, &mut coverage);
            if walked != joined && failures.len() < 8 {
                failures.push(format!(
                    "seed {seed}: {query}\n  walked: {walked}\n  joined: {joined}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The generator must reach the walks, or the test checks nothing.
    assert!(coverage.walks > 1000, "{coverage:?}");
    assert!(coverage.grouped_walks > 200, "{coverage:?}");
    assert!(coverage.errors < 50, "{coverage:?}");
}

/// Returns the rows of a table result, or the error text.
fn rows_of(store: &SqliteStore, query: &str) -> Result<Vec<Vec<qgraph_model::Value>>, String> {
    let options = QueryOptions::at(common::NOW);
    match run_query(store, query, &options) {
        Ok(qgraph_query::QueryResult::Table { rows, .. }) => Ok(rows),
        Ok(other) => Err(format!("not a table: {other:?}")),
        Err(error) => Err(error.to_string()),
    }
}

/// Sorts rows by their debug text, for comparing tables whose group order is free.
fn sorted(
    rows: Result<Vec<Vec<qgraph_model::Value>>, String>,
) -> Result<Vec<Vec<qgraph_model::Value>>, String> {
    rows.map(|mut rows| {
        rows.sort_by_key(|row| format!("{row:?}"));
        rows
    })
}

/// The store's grouped counts contain the same groups as the engine's. Their order is
/// checked by `grouped_ties_follow_engine_order`.
#[test]
fn store_groups_match_engine_groups() {
    let mut failures = Vec::new();
    let mut compared = 0;
    for seed in 1000..1040_u64 {
        let mut rng = Rng(seed);
        let store = load(random_graph(&mut rng));
        for _ in 0..40 {
            let query = random_query(&mut rng);
            // Paging picks rows by their order, which the next test covers.
            if !query.contains("count(") || query.contains("SKIP") {
                continue;
            }
            let stored = sorted(rows_of(&store, &query));
            let engine = sorted(rows_of(&store, &engine_form(&query)));
            compared += 1;
            if stored != engine && failures.len() < 8 {
                failures.push(format!(
                    "seed {seed}: {query}\n  store:  {stored:?}\n  engine: {engine:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(compared > 500, "only {compared} queries compared");
}

/// Groups first reached from the same start entity are tied: J1QL leaves their order
/// open, and the store breaks the tie by key values while the engine keeps path order.
/// Both return the same groups, and a sort on a tied count may return either row.
#[test]
fn grouped_ties_hold_the_same_groups() {
    let entity = |key: &str, class: &str, group: &str| json!({"_key": key, "_type": class.to_lowercase(), "_class": [class], "g": group});
    let graph = json!({
        "entities": [
            entity("H1", "Host", "h"),
            // F1 has the lower id but the higher key.
            entity("F1", "Finding", "b"),
            entity("F2", "Finding", "a"),
        ],
        "relationships": [
            {"from": "H1", "class": "HAS", "to": "F1"},
            {"from": "H1", "class": "HAS", "to": "F2"},
        ],
    });
    let store = common::load_graph(SqliteStore::open_in_memory().unwrap(), graph);

    let query = "FIND Host AS h THAT HAS Finding AS f RETURN f.g, count(f) AS c";
    let stored = rows_of(&store, query);
    assert_eq!(
        stored,
        Ok(vec![
            vec![qgraph_model::Value::from("a"), qgraph_model::Value::from(1)],
            vec![qgraph_model::Value::from("b"), qgraph_model::Value::from(1)],
        ]),
        "the store breaks the tie by key"
    );
    assert_eq!(
        sorted(stored),
        sorted(rows_of(&store, &engine_form(query))),
        "{query}"
    );

    let limited =
        "FIND Host AS h THAT HAS Finding AS f RETURN f.g, count(f) AS c ORDER BY c DESC LIMIT 1";
    for rows in [
        rows_of(&store, limited),
        rows_of(&store, &engine_form(limited)),
    ] {
        let rows = rows.unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0][1], qgraph_model::Value::from(1), "{rows:?}");
    }
}
