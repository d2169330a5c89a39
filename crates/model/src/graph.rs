//! Entities, direct relationships and mapped relationships.

use serde::{Deserialize, Serialize};

use crate::class::RelationshipClass;
use crate::error::ModelError;
use crate::keys::{mapped_relationship_key, relationship_key, relationship_type};
use crate::value::{Properties, Value};

/// One named raw payload kept with an entity (`_rawData`); names are unique per entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawData {
    pub name: String,
    #[serde(rename = "rawData")]
    pub raw_data: serde_json::Value,
}

/// A graph entity: a node with a key, a type, one or more classes and properties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    #[serde(rename = "_key")]
    pub key: String,
    #[serde(rename = "_type")]
    pub entity_type: String,
    /// Data-model classes such as `Finding`; JSON accepts a single string or an array.
    #[serde(rename = "_class", with = "one_or_many")]
    pub classes: Vec<String>,
    #[serde(
        rename = "displayName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
    #[serde(flatten)]
    pub properties: Properties,
    #[serde(rename = "_rawData", default, skip_serializing_if = "Vec::is_empty")]
    pub raw_data: Vec<RawData>,
}

impl Entity {
    /// Creates an entity after checking its key, type and classes.
    pub fn new(
        key: impl Into<String>,
        entity_type: impl Into<String>,
        classes: &[&str],
    ) -> Result<Self, ModelError> {
        let key = key.into();
        let entity_type = entity_type.into();
        check_key(&key)?;
        check_type(&entity_type)?;
        for class in classes {
            check_entity_class(class)?;
        }
        Ok(Entity {
            key,
            entity_type,
            classes: classes.iter().map(|c| (*c).to_owned()).collect(),
            display_name: None,
            properties: Properties::new(),
            raw_data: Vec::new(),
        })
    }

    /// Sets a property, replacing any previous value.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.properties.insert(name.into(), value.into());
        self
    }

    /// Sets a property only when a value is given, so "unknown" stays absent.
    pub fn set_opt<V: Into<Value>>(&mut self, name: &str, value: Option<V>) -> &mut Self {
        if let Some(value) = value {
            self.properties.insert(name.to_owned(), value.into());
        }
        self
    }

    /// Returns a property by name, including `_key`, `_type`, `_class` and `displayName`.
    pub fn get(&self, name: &str) -> Option<Value> {
        match name {
            "_key" => Some(Value::String(self.key.clone())),
            "_type" => Some(Value::String(self.entity_type.clone())),
            "_class" => Some(Value::Array(
                self.classes
                    .iter()
                    .map(|c| Value::from(c.as_str()))
                    .collect(),
            )),
            "displayName" => self.display_name.clone().map(Value::String),
            _ => self.properties.get(name).cloned(),
        }
    }

    /// Returns true when the entity has the given data-model class.
    pub fn has_class(&self, class: &str) -> bool {
        self.classes.iter().any(|c| c == class)
    }
}

/// A relationship between two entities known by key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relationship {
    #[serde(rename = "_key")]
    pub key: String,
    #[serde(rename = "_type")]
    pub relationship_type: String,
    #[serde(rename = "_class")]
    pub class: RelationshipClass,
    #[serde(rename = "_fromEntityKey")]
    pub from_key: String,
    #[serde(rename = "_toEntityKey")]
    pub to_key: String,
    #[serde(
        rename = "displayName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
    /// Extra properties; the data model allows only primitive values here.
    #[serde(flatten)]
    pub properties: Properties,
}

impl Relationship {
    /// Creates a relationship with the generated `_key` and `_type` and `displayName` set to the class.
    pub fn between(from: &Entity, class: &RelationshipClass, to: &Entity) -> Self {
        Self::between_keys(
            &from.key,
            &from.entity_type,
            class,
            &to.key,
            &to.entity_type,
        )
    }

    /// Like [`Relationship::between`], for endpoints known only by key and type.
    pub fn between_keys(
        from_key: &str,
        from_type: &str,
        class: &RelationshipClass,
        to_key: &str,
        to_type: &str,
    ) -> Self {
        Relationship {
            key: relationship_key(from_key, class, to_key),
            relationship_type: relationship_type(from_type, class, to_type),
            class: class.clone(),
            from_key: from_key.to_owned(),
            to_key: to_key.to_owned(),
            display_name: Some(class.as_str().to_owned()),
            properties: Properties::new(),
        }
    }
}

/// The direction of a mapped relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum Direction {
    /// From the source entity to the target.
    #[default]
    Forward,
    /// From the target to the source entity.
    Reverse,
}

impl Direction {
    /// Returns `FORWARD` or `REVERSE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Forward => "FORWARD",
            Direction::Reverse => "REVERSE",
        }
    }
}

/// The properties that describe, and if needed create, a mapped relationship's target.
pub type TargetEntity = Properties;

/// The mapper's rule for finding the target of a mapped relationship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    #[serde(rename = "relationshipDirection", default)]
    pub direction: Direction,
    #[serde(rename = "sourceEntityKey")]
    pub source_entity_key: String,
    /// Alternatives tried in order; each inner list is a conjunction of
    /// property names whose values in `target_entity` must all match.
    #[serde(rename = "targetFilterKeys")]
    pub target_filter_keys: Vec<Vec<String>>,
    #[serde(rename = "targetEntity")]
    pub target_entity: TargetEntity,
    /// When true the mapper never creates a placeholder target.
    #[serde(
        rename = "skipTargetCreation",
        default,
        skip_serializing_if = "is_false"
    )]
    pub skip_target_creation: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A relationship whose target is resolved by the mapper against the whole graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappedRelationship {
    #[serde(rename = "_key")]
    pub key: String,
    #[serde(rename = "_type")]
    pub relationship_type: String,
    #[serde(rename = "_class")]
    pub class: RelationshipClass,
    #[serde(
        rename = "displayName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
    #[serde(rename = "_mapping")]
    pub mapping: Mapping,
    #[serde(flatten)]
    pub properties: Properties,
}

impl MappedRelationship {
    /// Creates a mapped relationship with a generated `_key`, and a `_type` built from
    /// the source type and the target's `_type` (or `mapping_source` when it has none).
    pub fn new(
        source_key: &str,
        source_type: &str,
        class: &RelationshipClass,
        mapping_target: TargetEntity,
        target_filter_keys: Vec<Vec<String>>,
        direction: Direction,
        skip_target_creation: bool,
    ) -> Result<Self, ModelError> {
        check_key(source_key)?;
        if target_filter_keys.is_empty() || target_filter_keys.iter().any(Vec::is_empty) {
            return Err(ModelError::NoTargetFilterKeys {
                key: source_key.to_owned(),
            });
        }

        let key = mapped_relationship_key(
            source_key,
            class,
            direction,
            &target_filter_keys,
            &mapping_target,
        );
        for property in target_filter_keys.iter().flatten() {
            if !mapping_target.contains_key(property) {
                return Err(ModelError::MissingFilterValue {
                    key,
                    property: property.clone(),
                });
            }
        }

        let target_type = mapping_target
            .get("_type")
            .and_then(Value::as_str)
            .unwrap_or("entity");
        let relationship_type = relationship_type(source_type, class, target_type);

        Ok(MappedRelationship {
            key,
            relationship_type,
            class: class.clone(),
            display_name: Some(class.as_str().to_owned()),
            mapping: Mapping {
                direction,
                source_entity_key: source_key.to_owned(),
                target_filter_keys,
                target_entity: mapping_target,
                skip_target_creation,
            },
            properties: Properties::new(),
        })
    }
}

fn check_key(key: &str) -> Result<(), ModelError> {
    if key.trim().is_empty() {
        return Err(ModelError::EmptyKey);
    }
    Ok(())
}

/// Checks a `_type`: snake case, at least 3 characters.
pub fn check_type(value: &str) -> Result<(), ModelError> {
    let valid = value.len() >= 3
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && value.as_bytes()[0].is_ascii_lowercase();
    if valid {
        Ok(())
    } else {
        Err(ModelError::InvalidType {
            value: value.to_owned(),
        })
    }
}

/// Checks an entity `_class`: TitleCase, at least 2 characters.
pub fn check_entity_class(value: &str) -> Result<(), ModelError> {
    let valid = value.len() >= 2
        && value.as_bytes()[0].is_ascii_uppercase()
        && value.bytes().all(|b| b.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(ModelError::InvalidEntityClass {
            value: value.to_owned(),
        })
    }
}

mod one_or_many {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }

    pub fn serialize<S: Serializer>(classes: &[String], serializer: S) -> Result<S::Ok, S::Error> {
        classes.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<String>, D::Error> {
        Ok(match OneOrMany::deserialize(deserializer)? {
            OneOrMany::One(class) => vec![class],
            OneOrMany::Many(classes) => classes,
        })
    }
}
