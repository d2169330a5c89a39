//! Data-model class schemas for the classes qgraph emits or maps to, and a validator.
//!
//! The rules follow the JupiterOne data model (v0.55). Every entity needs
//! `_key`, `_type` and `_class`. Resource and record entities also need `name`
//! and `displayName`, and each class adds required and typed optional properties.

use std::fmt;

use crate::graph::Entity;
use crate::value::Value;

/// The type a schema allows for one property.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PropertyType {
    String,
    /// A string or an array of strings.
    StringOrStrings,
    Strings,
    Boolean,
    Number,
    /// A number from `min` to `max`, inclusive.
    NumberRange {
        min: f64,
        max: f64,
    },
    Integer,
    /// An integer from `min` to `max`, inclusive.
    IntegerRange {
        min: i64,
        max: i64,
    },
    /// One of a fixed set of strings.
    Enum(&'static [&'static str]),
    /// Epoch milliseconds.
    Timestamp,
}

/// One property rule of a class schema.
#[derive(Debug, Clone, Copy)]
pub struct PropertyRule {
    pub name: &'static str,
    pub property_type: PropertyType,
    /// True when `null` is allowed in place of a value.
    pub nullable: bool,
}

/// The base a class schema extends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// Resources such as hosts and accounts.
    Entity,
    /// Record-like objects such as findings.
    RecordEntity,
}

/// The schema of one data-model class.
#[derive(Debug, Clone, Copy)]
pub struct ClassSchema {
    pub class: &'static str,
    pub base: Base,
    pub required: &'static [&'static str],
    pub properties: &'static [PropertyRule],
}

const fn rule(name: &'static str, property_type: PropertyType) -> PropertyRule {
    PropertyRule {
        name,
        property_type,
        nullable: false,
    }
}

const fn nullable(name: &'static str, property_type: PropertyType) -> PropertyRule {
    PropertyRule {
        name,
        property_type,
        nullable: true,
    }
}

use PropertyType as T;

const SEVERITIES: &[&str] = &["none", "informational", "low", "medium", "high", "critical"];

const PLATFORMS: &[&str] = &[
    "darwin", "linux", "unix", "windows", "android", "ios", "embedded", "other",
];

/// Properties every entity may carry.
const ENTITY_PROPERTIES: &[PropertyRule] = &[
    rule("id", T::StringOrStrings),
    rule("name", T::String),
    rule("displayName", T::String),
    rule("summary", T::String),
    rule("description", T::String),
    nullable("classification", T::String),
    rule("criticality", T::IntegerRange { min: 1, max: 10 }),
    rule("risk", T::IntegerRange { min: 1, max: 10 }),
    rule("trust", T::IntegerRange { min: 1, max: 10 }),
    rule("complianceStatus", T::NumberRange { min: 0.0, max: 1.0 }),
    rule("status", T::String),
    rule("active", T::Boolean),
    rule("public", T::Boolean),
    rule("validated", T::Boolean),
    rule("temporary", T::Boolean),
    rule("trusted", T::Boolean),
    rule("createdOn", T::Timestamp),
    rule("updatedOn", T::Timestamp),
    rule("deletedOn", T::Timestamp),
    rule("discoveredOn", T::Timestamp),
    rule("expiresOn", T::Timestamp),
    rule("webLink", T::String),
    rule("owner", T::String),
    rule("tags", T::Strings),
    rule("notes", T::Strings),
];

/// Properties every record entity may carry.
const RECORD_PROPERTIES: &[PropertyRule] = &[
    rule("name", T::String),
    rule("displayName", T::String),
    rule("summary", T::String),
    rule("description", T::String),
    nullable("classification", T::String),
    rule("webLink", T::String),
    rule("content", T::String),
    rule("open", T::Boolean),
    rule("public", T::Boolean),
    rule("production", T::Boolean),
    rule("approved", T::Boolean),
    rule("approvedOn", T::Timestamp),
    rule("approvers", T::Strings),
    rule("reporter", T::String),
    rule("reportedOn", T::Timestamp),
    rule("createdOn", T::Timestamp),
    rule("updatedOn", T::Timestamp),
    rule("exception", T::Boolean),
    rule("exceptionReason", T::String),
];

/// The class schemas qgraph emits or maps to.
pub const CLASS_SCHEMAS: &[ClassSchema] = &[
    ClassSchema {
        class: "Account",
        base: Base::Entity,
        required: &[],
        properties: &[rule("accessURL", T::String), rule("mfaEnabled", T::Boolean)],
    },
    ClassSchema {
        class: "Service",
        base: Base::Entity,
        required: &["category", "function"],
        properties: &[
            rule("category", T::Strings),
            rule("function", T::Strings),
            rule("endpoints", T::Strings),
            rule("fedrampModerate", T::Boolean),
            rule("hipaaEligible", T::Boolean),
        ],
    },
    ClassSchema {
        class: "Finding",
        base: Base::RecordEntity,
        required: &["category", "severity", "numericSeverity", "open"],
        properties: &[
            rule("category", T::StringOrStrings),
            rule("assessment", T::String),
            rule("status", T::String),
            rule("severity", T::Enum(SEVERITIES)),
            rule(
                "numericSeverity",
                T::NumberRange {
                    min: 0.0,
                    max: 10.0,
                },
            ),
            rule("priority", T::String),
            rule("score", T::Number),
            rule("impact", T::String),
            rule("exploitability", T::Number),
            rule("vector", T::String),
            rule("stepsToReproduce", T::Strings),
            rule("recommendation", T::String),
            rule("targets", T::Strings),
            rule("targetDetails", T::Strings),
            rule("remediationSLA", T::Integer),
            rule("blocksProduction", T::Boolean),
            rule("validated", T::Boolean),
            rule("references", T::Strings),
        ],
    },
    ClassSchema {
        class: "Vulnerability",
        base: Base::RecordEntity,
        required: &[
            "category",
            "severity",
            "blocking",
            "open",
            "production",
            "public",
        ],
        properties: &[
            nullable("category", T::String),
            rule("status", T::String),
            nullable("severity", T::String),
            rule("priority", T::String),
            rule("score", T::Number),
            rule("impact", T::Number),
            rule("exploitability", T::Number),
            rule("vector", T::String),
            rule("impacts", T::Strings),
            rule("remediationSLA", T::Integer),
            nullable("blocking", T::Boolean),
            nullable("open", T::Boolean),
            nullable("production", T::Boolean),
            nullable("public", T::Boolean),
            rule("validated", T::Boolean),
            rule("references", T::Strings),
        ],
    },
    ClassSchema {
        class: "Host",
        base: Base::Entity,
        required: &["hostname"],
        properties: &[
            rule("fqdn", T::StringOrStrings),
            nullable("hostname", T::String),
            rule("ipAddress", T::StringOrStrings),
            rule("publicDnsName", T::String),
            rule("privateDnsName", T::String),
            rule("publicIpAddress", T::StringOrStrings),
            rule("privateIpAddress", T::StringOrStrings),
            rule("macAddress", T::StringOrStrings),
            rule("platform", T::Enum(PLATFORMS)),
            rule("osDetails", T::String),
            rule("osName", T::String),
            rule("osVersion", T::String),
            rule("physical", T::Boolean),
            rule("state", T::String),
        ],
    },
    ClassSchema {
        class: "Application",
        base: Base::Entity,
        required: &[],
        properties: &[
            rule("COTS", T::Boolean),
            rule("FOSS", T::Boolean),
            rule("SaaS", T::Boolean),
            rule("external", T::Boolean),
            rule("mobile", T::Boolean),
            rule("license", T::String),
            rule("licenseURL", T::String),
            rule("productionURL", T::String),
            rule("stagingURL", T::String),
            rule("devURL", T::String),
            rule("testURL", T::String),
            rule("alternateURLs", T::Strings),
        ],
    },
    ClassSchema {
        class: "ThreatIntel",
        base: Base::RecordEntity,
        required: &[],
        properties: &[rule("references", T::Strings)],
    },
];

/// Returns the schema of a class, or `None` for a class without one here.
pub fn class_schema(class: &str) -> Option<&'static ClassSchema> {
    CLASS_SCHEMAS.iter().find(|schema| schema.class == class)
}

/// One rule an entity breaks.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub entity_key: String,
    pub property: String,
    pub rule: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "entity {:?}: property {:?} {}",
            self.entity_key, self.property, self.rule
        )
    }
}

/// Checks an entity against the schemas of all its classes and returns every
/// violation found; an empty list means the entity is valid. Classes without a
/// known schema are checked against the base entity rules only.
pub fn validate_entity(entity: &Entity) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut report = |property: &str, rule: String| {
        violations.push(Violation {
            entity_key: entity.key.clone(),
            property: property.to_owned(),
            rule,
        });
    };

    if entity.key.len() < 10 {
        report("_key", "is shorter than 10 characters".to_owned());
    }
    if entity.classes.is_empty() {
        report(
            "_class",
            "is missing: an entity needs at least one class".to_owned(),
        );
    }
    for name in ["name", "displayName"] {
        if entity.get(name).is_none() {
            report(name, "is required by every entity".to_owned());
        }
    }
    for name in entity.properties.keys() {
        if !is_valid_property_name(name) {
            report(
                name,
                "has an invalid name: use letters, digits, '.', '-', ' ', an optional leading '_' or a 'tag.' prefix".to_owned(),
            );
        }
    }

    for class in &entity.classes {
        let Some(schema) = class_schema(class) else {
            continue;
        };
        for required in schema.required {
            if entity.get(required).is_none() {
                report(required, format!("is required by class {class}"));
            }
        }
        let base = match schema.base {
            Base::Entity => ENTITY_PROPERTIES,
            Base::RecordEntity => RECORD_PROPERTIES,
        };
        // A class rule overrides the base rule of the same name.
        let inherited = base
            .iter()
            .filter(|b| !schema.properties.iter().any(|p| p.name == b.name));
        for property_rule in schema.properties.iter().chain(inherited) {
            if let Some(value) = entity.get(property_rule.name)
                && let Some(problem) = check_value(property_rule, &value)
            {
                report(property_rule.name, format!("{problem} (class {class})"));
            }
        }
    }

    violations.dedup();
    violations
}

fn is_valid_property_name(name: &str) -> bool {
    let rest = name
        .strip_prefix("tag.")
        .or_else(|| name.strip_prefix('_'))
        .unwrap_or(name);
    !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ' ' | '-'))
}

/// Returns what is wrong with a value under a rule, or `None` when it fits.
fn check_value(rule: &PropertyRule, value: &Value) -> Option<String> {
    if matches!(value, Value::Null) {
        return (!rule.nullable).then(|| "must not be null".to_owned());
    }
    let fits = match rule.property_type {
        T::String => matches!(value, Value::String(_)),
        T::Strings => is_string_array(value),
        T::StringOrStrings => matches!(value, Value::String(_)) || is_string_array(value),
        T::Boolean => matches!(value, Value::Bool(_)),
        T::Number | T::Timestamp => value.is_number(),
        T::Integer => matches!(value, Value::Int(_) | Value::UInt(_)),
        T::NumberRange { min, max } => {
            return match value.as_f64() {
                Some(x) if x >= min && x <= max => None,
                Some(x) => Some(format!("must be from {min} to {max}, found {x}")),
                None => Some(format!("must be a number, found {}", value.kind())),
            };
        }
        T::IntegerRange { min, max } => {
            return match value {
                Value::Int(n) if (min..=max).contains(n) => None,
                Value::Int(n) => Some(format!("must be from {min} to {max}, found {n}")),
                other => Some(format!("must be an integer, found {}", other.kind())),
            };
        }
        T::Enum(allowed) => {
            return match value.as_str() {
                Some(s) if allowed.contains(&s) => None,
                _ => Some(format!(
                    "must be one of {}, found {value:?}",
                    allowed.join(", ")
                )),
            };
        }
    };
    (!fits).then(|| {
        format!(
            "must be {}, found {}",
            describe(rule.property_type),
            value.kind()
        )
    })
}

fn is_string_array(value: &Value) -> bool {
    matches!(value, Value::Array(items) if items.iter().all(|item| matches!(item, Value::String(_))))
}

fn describe(property_type: PropertyType) -> &'static str {
    match property_type {
        T::String => "a string",
        T::Strings => "an array of strings",
        T::StringOrStrings => "a string or an array of strings",
        T::Boolean => "a boolean",
        T::Number | T::NumberRange { .. } => "a number",
        T::Integer | T::IntegerRange { .. } => "an integer",
        T::Enum(_) => "one of the allowed strings",
        T::Timestamp => "a number of epoch milliseconds",
    }
}
