//! The contract between a producer of graph objects (the integration steps)
//! and the store that commits them: step declarations, step results and the
//! sink the objects go to.

use serde::{Deserialize, Serialize};

use crate::graph::{Entity, MappedRelationship, Relationship};

/// One graph object emitted by a step.
#[derive(Debug, Clone, PartialEq)]
pub enum GraphObject {
    Entity(Entity),
    Relationship(Relationship),
    Mapped(MappedRelationship),
}

impl GraphObject {
    /// Returns the object's `_type`.
    pub fn object_type(&self) -> &str {
        match self {
            GraphObject::Entity(e) => &e.entity_type,
            GraphObject::Relationship(r) => &r.relationship_type,
            GraphObject::Mapped(m) => &m.relationship_type,
        }
    }

    /// Returns the object's `_key`.
    pub fn key(&self) -> &str {
        match self {
            GraphObject::Entity(e) => &e.key,
            GraphObject::Relationship(r) => &r.key,
            GraphObject::Mapped(m) => &m.key,
        }
    }
}

/// A `_type` a step produces, and whether its data set is partial by nature
/// (never deleted because it was missing from one run, such as findings from an
/// incremental window).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredType {
    #[serde(rename = "_type")]
    pub object_type: String,
    pub partial: bool,
}

/// A step's declaration: the types it produces and the steps it depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDeclaration {
    pub id: String,
    pub name: String,
    pub entity_types: Vec<DeclaredType>,
    pub relationship_types: Vec<DeclaredType>,
    pub depends_on: Vec<String>,
}

/// The outcome of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Success,
    /// The step failed, so its declared types are partial for this run.
    Failure,
    /// A step it depends on failed, so its output may be incomplete.
    PartialSuccessDueToDependencyFailure,
    /// The step is turned off by the instance configuration.
    Disabled,
}

/// One error a step met, with the Qualys code when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepError {
    pub message: String,
    /// The Qualys error code (`SIMPLE_RETURN` `CODE` or QPS `responseCode`), if any.
    pub code: Option<String>,
    /// The endpoint path the error came from, if any.
    pub endpoint: Option<String>,
}

/// The result of one step of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    pub id: String,
    pub status: StepStatus,
    /// Epoch milliseconds.
    pub started_on: i64,
    /// Epoch milliseconds.
    pub ended_on: i64,
    /// Number of objects emitted, by `_type`.
    pub counts: std::collections::BTreeMap<String, u64>,
    pub errors: Vec<StepError>,
}

/// The outcome of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    Success,
    /// Some steps failed, so their types were kept, not deleted.
    PartialSuccess,
    Failure,
}

/// The destination of a step's graph objects. The store implements it for a
/// run and commits everything at the end, and a write error ends the run.
pub trait GraphSink {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Stores a batch of objects emitted by the step `step_id`.
    fn write(&mut self, step_id: &str, objects: Vec<GraphObject>) -> Result<(), Self::Error>;
}

/// Computes the `_type`s that must not be deleted in a run: every type
/// declared partial, plus every type of a step that failed or depends on one
/// that failed.
pub fn partial_types(steps: &[StepDeclaration], results: &[StepResult]) -> Vec<String> {
    let mut types = Vec::new();
    for step in steps {
        let status = results.iter().find(|r| r.id == step.id).map(|r| r.status);
        let incomplete = matches!(
            status,
            None | Some(StepStatus::Failure | StepStatus::PartialSuccessDueToDependencyFailure)
        );
        for declared in step.entity_types.iter().chain(&step.relationship_types) {
            if (declared.partial || incomplete) && !types.contains(&declared.object_type) {
                types.push(declared.object_type.clone());
            }
        }
    }
    types.sort();
    types
}
