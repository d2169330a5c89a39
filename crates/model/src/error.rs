//! Errors raised when a graph object is built from invalid parts.

/// An invalid graph object or part of one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error(
        "unknown relationship class {class:?}: use one of the data-model classes such as HAS, IS, SCANS or IDENTIFIED"
    )]
    UnknownRelationshipClass { class: String },

    #[error(
        "invalid _type {value:?}: a type is at least 3 characters of lower-case letters, digits and underscores"
    )]
    InvalidType { value: String },

    #[error(
        "invalid _class {value:?}: an entity class is TitleCase with at least 2 characters, such as Host or Finding"
    )]
    InvalidEntityClass { value: String },

    #[error(
        "empty _key: every graph object needs a key that is unique within its integration instance"
    )]
    EmptyKey,

    #[error(
        "mapped relationship {key:?} has no target filter keys: give at least one set of property names, such as [\"_type\", \"_key\"]"
    )]
    NoTargetFilterKeys { key: String },

    #[error(
        "mapped relationship {key:?}: target filter key {property:?} has no value in the target entity"
    )]
    MissingFilterValue { key: String, property: String },
}
