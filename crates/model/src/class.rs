//! Relationship classes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// Relationship classes of the JupiterOne data model (v0.55 `RelationshipClass`
/// enum), plus the classes its mapper and global rules use (`HAD`, `IMPACTS`, …).
pub const RELATIONSHIP_CLASSES: &[&str] = &[
    "ALLOWS",
    "APPROVED",
    "APPROVES",
    "ASSIGNED",
    "CONNECTS",
    "CONTAINS",
    "CONTRIBUTES",
    "COMPLETED",
    "CREATED",
    "DEFINES",
    "DENIES",
    "DEPLOYED",
    "EMPLOYS",
    "ENFORCES",
    "EVALUATES",
    "EXPLOITS",
    "EXTENDS",
    "GENERATED",
    "HAD",
    "HAS",
    "HOSTS",
    "IDENTIFIED",
    "IMPACTS",
    "IMPLEMENTS",
    "INSTALLED",
    "IS",
    "KNOWS",
    "LIMITS",
    "LOGS",
    "MANAGES",
    "MITIGATES",
    "MONITORS",
    "NOTIFIES",
    "OPENED",
    "OVERRIDES",
    "OWNS",
    "PERFORMED",
    "PROTECTS",
    "PROVIDES",
    "PUBLISHED",
    "PUBLISHES",
    "REPORTED",
    "REQUIRES",
    "RESTRICTS",
    "REVIEWED",
    "RUNS",
    "SCANS",
    "SENDS",
    "SUPPLIES",
    "TARGETS",
    "TRIGGERS",
    "TRUSTS",
    "UPDATED",
    "USES",
    "VIOLATES",
];

/// A relationship class such as `HAS` or `SCANS`, always upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RelationshipClass(String);

impl RelationshipClass {
    pub const HAS: &'static str = "HAS";
    pub const IS: &'static str = "IS";
    pub const SCANS: &'static str = "SCANS";
    pub const IDENTIFIED: &'static str = "IDENTIFIED";

    /// Parses a class name in any letter case; it must be a known class.
    pub fn new(name: &str) -> Result<Self, ModelError> {
        let upper = name.trim().to_ascii_uppercase();
        if RELATIONSHIP_CLASSES.contains(&upper.as_str()) {
            Ok(RelationshipClass(upper))
        } else {
            Err(ModelError::UnknownRelationshipClass {
                class: name.to_owned(),
            })
        }
    }

    /// Returns the upper-case class name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the lower-case form used inside relationship `_key` and `_type` values.
    pub fn lower(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl TryFrom<String> for RelationshipClass {
    type Error = ModelError;

    fn try_from(name: String) -> Result<Self, ModelError> {
        RelationshipClass::new(&name)
    }
}

impl From<RelationshipClass> for String {
    fn from(class: RelationshipClass) -> String {
        class.0
    }
}

impl fmt::Display for RelationshipClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
