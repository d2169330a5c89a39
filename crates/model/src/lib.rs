//! Graph objects: entities, relationships, mapped relationships, property
//! values, key and `_type` rules, data-model class schemas and their
//! validation. No I/O.

mod class;
mod error;
mod graph;
mod keys;
pub mod schema;
pub mod sync;
mod value;

pub use class::{RELATIONSHIP_CLASSES, RelationshipClass};
pub use error::ModelError;
pub use graph::{
    Direction, Entity, MappedRelationship, Mapping, RawData, Relationship, TargetEntity,
    check_entity_class, check_type,
};
pub use keys::{mapped_relationship_key, relationship_key, relationship_type};
pub use sync::{
    DeclaredType, GraphObject, GraphSink, RunStatus, StepDeclaration, StepError, StepResult,
    StepStatus, partial_types,
};
pub use value::{Properties, Value};
