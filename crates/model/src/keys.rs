//! `_type` and `_key` generation for relationships, as the JupiterOne SDK does it.

use crate::class::RelationshipClass;
use crate::graph::{Direction, TargetEntity};
use crate::value::Value;

/// Builds a relationship `_type`: `<fromType>_<class>_<toType>`, where the
/// leading `_`-separated words that `to_type` shares with `from_type` (at the
/// same positions) are dropped, but the last word of `to_type` is always kept.
///
/// `qualys_account` HAS `qualys_vulnerability_manager` gives
/// `qualys_account_has_vulnerability_manager`.
pub fn relationship_type(from_type: &str, class: &RelationshipClass, to_type: &str) -> String {
    let from_words: Vec<&str> = from_type.split('_').collect();
    let to_words: Vec<&str> = to_type.split('_').collect();

    let mut shared = from_words
        .iter()
        .zip(&to_words)
        .take_while(|(a, b)| a == b)
        .count();
    if shared >= to_words.len() {
        shared = to_words.len().saturating_sub(1);
    }

    format!(
        "{from_type}_{}_{}",
        class.lower(),
        to_words[shared..].join("_")
    )
}

/// Builds a direct relationship `_key`: `<fromKey>|<class lower>|<toKey>`.
pub fn relationship_key(from_key: &str, class: &RelationshipClass, to_key: &str) -> String {
    format!("{from_key}|{}|{to_key}", class.lower())
}

/// Builds a mapped relationship `_key`.
///
/// When the target carries a `_key` the form is `<sourceKey>|<class>|<targetKey>`.
/// Otherwise the target part is `<DIRECTION>:<k>=<v>:<k>=<v>…` from the first
/// set of filter keys, so the key is stable as long as the filter values are.
pub fn mapped_relationship_key(
    source_key: &str,
    class: &RelationshipClass,
    direction: Direction,
    target_filter_keys: &[Vec<String>],
    target: &TargetEntity,
) -> String {
    if let Some(Value::String(target_key)) = target.get("_key") {
        return relationship_key(source_key, class, target_key);
    }

    let mut target_part = direction.as_str().to_owned();
    if let Some(first_set) = target_filter_keys.first() {
        for property in first_set {
            let value = target
                .get(property)
                .map(filter_value_text)
                .unwrap_or_default();
            target_part.push(':');
            target_part.push_str(property);
            target_part.push('=');
            target_part.push_str(&value);
        }
    }
    relationship_key(source_key, class, &target_part)
}

/// Renders a filter value inside a synthetic key; arrays (such as `_class`) join with commas.
fn filter_value_text(value: &Value) -> String {
    match value {
        Value::Array(items) => items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}
