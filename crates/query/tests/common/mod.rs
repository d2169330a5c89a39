//! Readers of the data files under `tests/cases/`.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::cell::RefCell;
use std::path::PathBuf;

use qgraph_store::plan::{Deadline, GraphPlan, PlanExecutor, PlanObject, PlanOutput, PlanResult};
use qgraph_store::{SqliteStore, StoreError};

/// One example case of `examples.txt`.
#[derive(Debug, Default, Clone)]
pub struct Case {
    pub name: String,
    pub query: String,
    pub entities: Option<Vec<String>>,
    pub rows: Vec<serde_json::Value>,
    pub row_count: Option<usize>,
    pub ordered: bool,
    pub columns: Option<Vec<String>>,
    pub columns_include: Vec<String>,
    pub vertices: Option<Vec<String>>,
    pub edges: Option<Vec<String>>,
    pub same_as: Option<String>,
}

/// One negative case of `negative.txt`.
#[derive(Debug, Clone)]
pub struct Negative {
    pub query: String,
    pub error: String,
}

/// Returns the folder of the case files. The path goes through `crates` so the CLI tests can share it.
pub fn cases_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../query/tests/cases"))
}

fn read(name: &str) -> String {
    std::fs::read_to_string(cases_dir().join(name)).unwrap()
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn columns(text: &str) -> Vec<String> {
    text.split('|').map(|c| c.trim().to_owned()).collect()
}

/// Reads `examples.txt`.
pub fn examples() -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for line in read("examples.txt").lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (key, value) = line.split_once(':').unwrap();
        let value = value.trim();
        if key == "case" {
            cases.push(Case {
                name: value.to_owned(),
                ..Case::default()
            });
            continue;
        }
        let case = cases.last_mut().unwrap();
        match key {
            "query" => case.query = value.to_owned(),
            "entities" => case.entities = Some(words(value)),
            "row" => case.rows.push(serde_json::from_str(value).unwrap()),
            "rows" => case.row_count = Some(value.parse().unwrap()),
            "ordered" => case.ordered = value == "true",
            "columns" => case.columns = Some(columns(value)),
            "columns-include" => case.columns_include = columns(value),
            "vertices" => case.vertices = Some(words(value)),
            "edges" => case.edges = Some(words(value)),
            "same-as" => case.same_as = Some(value.to_owned()),
            other => panic!("unknown key {other} in examples.txt"),
        }
    }
    cases
}

/// Reads `negative.txt`; a query continues on following lines until `error:`.
pub fn negatives() -> Vec<Negative> {
    let mut out = Vec::new();
    let mut query: Option<String> = None;
    for line in read("negative.txt").lines() {
        if line.starts_with('#') || (query.is_none() && line.trim().is_empty()) {
            continue;
        }
        if let Some(rest) = line.strip_prefix("query:") {
            query = Some(rest.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix("error:") {
            out.push(Negative {
                query: query.take().unwrap(),
                error: rest.trim().to_owned(),
            });
        } else if let Some(q) = query.as_mut() {
            q.push('\n');
            q.push_str(line);
        }
    }
    out
}

/// The fixed time of the fixture graph and of `date.now` in tests: 2026-01-15T00:00:00Z.
pub const NOW: i64 = 1_768_435_200_000;

/// Resolves `{"now": "-2d"}` values to epoch milliseconds relative to [`NOW`].
fn resolve_times(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        J::Object(map) if map.len() == 1 && map.contains_key("now") => {
            let text = map["now"].as_str().unwrap();
            let (amount, unit) = text.split_at(text.len() - 1);
            let amount: i64 = amount.parse().unwrap();
            let unit_ms = match unit {
                "h" => 3_600_000,
                "d" => 86_400_000,
                other => panic!("unknown unit {other}"),
            };
            J::from(NOW + amount * unit_ms)
        }
        J::Object(map) => J::Object(
            map.into_iter()
                .map(|(k, v)| (k, resolve_times(v)))
                .collect(),
        ),
        J::Array(items) => J::Array(items.into_iter().map(resolve_times).collect()),
        other => other,
    }
}

/// Loads `graph.json` into a new in-memory store through one sync run of a Qualys instance.
pub fn fixture_store() -> qgraph_store::SqliteStore {
    load_fixture(qgraph_store::SqliteStore::open_in_memory().unwrap())
}

/// Loads `graph.json` into `store` through one sync run of a new Qualys instance.
pub fn load_fixture(store: qgraph_store::SqliteStore) -> qgraph_store::SqliteStore {
    load_graph(store, serde_json::from_str(&read("graph.json")).unwrap())
}

/// Loads a graph in the shape of `graph.json` into `store` through one sync run of a new
/// Qualys instance.
pub fn load_graph(
    store: qgraph_store::SqliteStore,
    graph: serde_json::Value,
) -> qgraph_store::SqliteStore {
    use qgraph_model::{
        DeclaredType, Entity, GraphObject, GraphSink, Relationship, RelationshipClass,
        StepDeclaration, StepResult, StepStatus,
    };
    use qgraph_store::{GraphStore, InstanceKind, NewInstance, SyncOptions, SyncRun};

    let graph = resolve_times(graph);
    let entities: Vec<Entity> = serde_json::from_value(graph["entities"].clone()).unwrap();
    let type_of = |key: &str| {
        entities
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.entity_type.clone())
            .unwrap()
    };
    let mut objects: Vec<GraphObject> = entities.iter().cloned().map(GraphObject::Entity).collect();
    for edge in graph["relationships"].as_array().unwrap() {
        let from = edge["from"].as_str().unwrap();
        let to = edge["to"].as_str().unwrap();
        let class = RelationshipClass::new(edge["class"].as_str().unwrap()).unwrap();
        let mut relationship =
            Relationship::between_keys(from, &type_of(from), &class, to, &type_of(to));
        if let Some(props) = edge.get("properties") {
            relationship.properties = serde_json::from_value(props.clone()).unwrap();
        }
        objects.push(GraphObject::Relationship(relationship));
    }

    let mut entity_types: Vec<String> = objects
        .iter()
        .filter(|o| matches!(o, GraphObject::Entity(_)))
        .map(|o| o.object_type().to_owned())
        .collect();
    entity_types.sort();
    entity_types.dedup();
    let mut relationship_types: Vec<String> = objects
        .iter()
        .filter(|o| matches!(o, GraphObject::Relationship(_)))
        .map(|o| o.object_type().to_owned())
        .collect();
    relationship_types.sort();
    relationship_types.dedup();
    let declared = |types: Vec<String>| {
        types
            .into_iter()
            .map(|object_type| DeclaredType {
                object_type,
                partial: false,
            })
            .collect()
    };
    let step = StepDeclaration {
        id: "fixture".into(),
        name: "Fixture graph".into(),
        entity_types: declared(entity_types),
        relationship_types: declared(relationship_types),
        depends_on: Vec::new(),
    };
    let result = StepResult {
        id: "fixture".into(),
        status: StepStatus::Success,
        started_on: NOW,
        ended_on: NOW,
        counts: Default::default(),
        errors: Vec::new(),
    };

    let instance = store
        .create_instance(NewInstance {
            name: "fixture".into(),
            kind: InstanceKind::Qualys,
            config: serde_json::json!({}),
            password: None,
        })
        .unwrap();
    let mut run = store.begin_sync(instance.id, SyncOptions::at(NOW)).unwrap();
    run.write("fixture", objects).unwrap();
    run.commit(&[step], &[result]).unwrap();
    store
}

/// A store that records the output shape of every plan it runs.
pub struct Recording<'s> {
    pub store: &'s SqliteStore,
    pub outputs: RefCell<Vec<PlanOutput>>,
}

impl<'s> Recording<'s> {
    pub fn new(store: &'s SqliteStore) -> Self {
        Recording {
            store,
            outputs: RefCell::new(Vec::new()),
        }
    }
}

impl PlanExecutor for Recording<'_> {
    fn execute_plan_until(
        &self,
        plan: &GraphPlan,
        deadline: Option<Deadline>,
    ) -> Result<PlanResult, StoreError> {
        self.outputs.borrow_mut().push(plan.output.clone());
        self.store.execute_plan_until(plan, deadline)
    }

    fn load_entities(&self, ids: &[i64]) -> Result<Vec<PlanObject>, StoreError> {
        self.store.load_entities(ids)
    }

    fn load_relationships(&self, ids: &[i64]) -> Result<Vec<PlanObject>, StoreError> {
        self.store.load_relationships(ids)
    }
}

/// Adds `+ 0` after every `count(...)`, which keeps the query out of the store, so
/// that the query engine groups the joined paths itself.
pub fn engine_form(query: &str) -> String {
    let mut out = String::with_capacity(query.len() + 8);
    let mut rest = query;
    while let Some(at) = rest.find("count(") {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        let Some(close) = tail.find(')') else {
            break;
        };
        out.push_str(&tail[..=close]);
        out.push_str(" + 0");
        rest = &tail[close + 1..];
    }
    out.push_str(rest);
    out
}
