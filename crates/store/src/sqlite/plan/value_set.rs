//! Runs a value set `p = (a OR b OR ...)` as `IN` lists instead of a chain of `OR`.
//!
//! SQLite plans a chain of n `OR` terms in time that grows faster than linearly with n,
//! and nests it n levels deep, against a limit of 1000. An `IN` list is one expression
//! whose values SQLite looks up in an index one after another.

use rusqlite::types::Value as SqlValue;

use super::{SqlBuilder, ValueTest};
use crate::plan::{CompareOp, PlanValue, Predicate, PropertyRef};

impl SqlBuilder<'_> {
    /// Returns the SQL of a disjunction of equalities between one property and string or
    /// number literals, or `None` when `terms` has another shape.
    pub(super) fn value_set(&mut self, terms: &[Predicate]) -> Option<String> {
        let (property, values) = equality_set(terms)?;
        let mut strings = Vec::new();
        let mut numbers = Vec::new();
        for value in values {
            match value {
                PlanValue::Str(s) => strings.push(s.clone()),
                PlanValue::Number(n) => numbers.push(*n),
                PlanValue::Bool(_) | PlanValue::Regex { .. } => return None,
            }
        }

        let mut tests = Vec::new();
        if !strings.is_empty() {
            // As for one equality: `json_extract` gives arrays and objects as JSON text,
            // which a string can equal only when it starts like JSON text.
            let exact_on_text = strings.iter().all(|s| !s.starts_with(['[', '{']));
            let list = self.bind_values(strings.into_iter().map(SqlValue::Text));
            tests.push(ValueTest::Text {
                test: format!("{{v}} IN ({list})"),
                exact_on_text,
            });
        }
        if !numbers.is_empty() {
            // `json_extract` gives `true` and `false` as 1 and 0.
            let holds_for_booleans = numbers.iter().any(|n| *n == 0.0 || *n == 1.0);
            let list = self.bind_values(numbers.into_iter().map(SqlValue::Real));
            tests.push(ValueTest::Number {
                test: format!("{{v}} IN ({list})"),
                holds_for_booleans,
            });
        }
        let parts: Vec<String> = tests
            .iter()
            .map(|test| self.test_property(property, test))
            .collect();
        Some(format!("({})", parts.join(" OR ")))
    }

    fn bind_values(&mut self, values: impl Iterator<Item = SqlValue>) -> String {
        let params: Vec<String> = values.map(|value| self.bind(value)).collect();
        params.join(", ")
    }
}

/// Returns the property and the literals of two or more `Eq` comparisons on one property.
fn equality_set(terms: &[Predicate]) -> Option<(&PropertyRef, Vec<&PlanValue>)> {
    if terms.len() < 2 {
        return None;
    }
    let mut property = None;
    let mut values = Vec::with_capacity(terms.len());
    for term in terms {
        let Predicate::Compare {
            property: compared,
            op: CompareOp::Eq,
            value,
        } = term
        else {
            return None;
        };
        if property.is_some_and(|p: &PropertyRef| p != compared) {
            return None;
        }
        property = Some(compared);
        values.push(value);
    }
    Some((property?, values))
}
