//! Comparison semantics on property values, independent of storage.
//!
//! The SQL that the store runs follows these rules; the truth-table test checks them here.

use qgraph_model::Value;
use qgraph_store::plan::end_anchored_pattern;
use regex::{Regex, RegexBuilder};

use crate::ast::{CmpOp, Connective, Literal};
use crate::dates::date_millis;
use crate::error::QueryError;

/// A literal after dates, parameters and regexes are resolved.
#[derive(Debug, Clone)]
pub enum Scalar {
    /// `undefined`: the property is absent.
    Undefined,
    Str(String),
    Number(f64),
    Bool(bool),
    /// A regex, and the same regex anchored at the end of the text for `$=`.
    Regex {
        pattern: Regex,
        at_end: Regex,
    },
}

/// Values that literals need at run time.
#[derive(Debug, Clone, Default)]
pub struct LiteralContext {
    /// The time `date.now` stands for, in epoch milliseconds.
    pub now_millis: i64,
    /// Values of `${ param.name }` parameters.
    pub params: std::collections::BTreeMap<String, Value>,
}

impl Scalar {
    /// Resolves a literal.
    pub fn resolve(literal: &Literal, context: &LiteralContext) -> Result<Self, QueryError> {
        Ok(match literal {
            Literal::Str(s) => Scalar::Str(s.clone()),
            Literal::Int(n) => Scalar::Number(*n as f64),
            Literal::Float(x) => Scalar::Number(*x),
            Literal::Bool(b) => Scalar::Bool(*b),
            Literal::Undefined => Scalar::Undefined,
            Literal::Date(date) => Scalar::Number(date_millis(date, context.now_millis) as f64),
            Literal::Regex { pattern, flags } => Scalar::regex(pattern, flags)?,
            Literal::Param(name) => match context.params.get(name) {
                Some(value) => Scalar::from_value(value),
                None => return Err(QueryError::UnboundParameter { name: name.clone() }),
            },
        })
    }

    /// Compiles a regex literal with its flags.
    pub fn regex(pattern: &str, flags: &str) -> Result<Self, QueryError> {
        Ok(Scalar::Regex {
            pattern: compile_regex(pattern, flags)?,
            at_end: compile_regex(&end_anchored_pattern(pattern), flags)?,
        })
    }

    fn from_value(value: &Value) -> Self {
        match value {
            Value::Bool(b) => Scalar::Bool(*b),
            Value::String(s) => Scalar::Str(s.clone()),
            other => other.as_f64().map_or(Scalar::Undefined, Scalar::Number),
        }
    }
}

/// Compiles a J1QL regex literal; the only flag is `i` (case-insensitive).
pub fn compile_regex(pattern: &str, flags: &str) -> Result<Regex, QueryError> {
    RegexBuilder::new(pattern)
        .case_insensitive(flags.contains('i'))
        .size_limit(1 << 20)
        .build()
        .map_err(|error| QueryError::InvalidLiteral {
            what: "regex",
            text: format!("/{pattern}/{flags}"),
            hint: regex_error_reason(&error),
            line: 0,
            column: 0,
        })
}

/// Returns the one-line reason of a regex error. A syntax error of the `regex`
/// crate prints the pattern with a caret line first, then `error: REASON`.
fn regex_error_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    last.trim().trim_start_matches("error: ").to_owned()
}

/// Evaluates `value op scalar`; `value` is `None` when the property is absent.
///
/// Positive operators hold when the value, or any element of an array value, matches.
/// Negated operators are the negation of their positive form, so they hold on absent properties.
pub fn matches(value: Option<&Value>, op: CmpOp, scalar: &Scalar) -> bool {
    if op.is_negated() {
        return !matches(value, op.positive(), scalar);
    }
    let present = value.filter(|v| !matches!(v, Value::Null));
    if let Scalar::Undefined = scalar {
        // Only `= undefined` (absent) and `!= undefined` (present) are meaningful.
        return op == CmpOp::Eq && present.is_none();
    }
    match present {
        None => false,
        Some(Value::Array(items)) => items.iter().any(|item| matches_one(item, op, scalar)),
        Some(single) => matches_one(single, op, scalar),
    }
}

/// Evaluates `value op (a OR b …)` or `value op (a AND b …)`.
///
/// A negated operator applies De Morgan: `!= (a OR b)` is `!= a AND != b`.
pub fn matches_set(
    value: Option<&Value>,
    op: CmpOp,
    connective: Connective,
    scalars: &[Scalar],
) -> bool {
    let effective = match (op.is_negated(), connective) {
        (false, c) => c,
        (true, Connective::Or) => Connective::And,
        (true, Connective::And) => Connective::Or,
    };
    let mut results = scalars.iter().map(|s| matches(value, op, s));
    match effective {
        Connective::And => results.all(|r| r),
        Connective::Or => results.any(|r| r),
    }
}

fn matches_one(value: &Value, op: CmpOp, scalar: &Scalar) -> bool {
    match (op, scalar) {
        (_, Scalar::Regex { pattern, at_end }) => value.as_str().is_some_and(|s| match op {
            // The leftmost match starts at 0 whenever any match does.
            CmpOp::StartsWith => pattern.find(s).is_some_and(|m| m.start() == 0),
            CmpOp::EndsWith => at_end.is_match(s),
            _ => pattern.is_match(s),
        }),
        (CmpOp::Eq, _) => equals(value, scalar),
        (CmpOp::Contains, Scalar::Str(needle)) => {
            value.as_str().is_some_and(|s| s.contains(needle.as_str()))
        }
        (CmpOp::StartsWith, Scalar::Str(prefix)) => value
            .as_str()
            .is_some_and(|s| s.starts_with(prefix.as_str())),
        (CmpOp::EndsWith, Scalar::Str(suffix)) => {
            value.as_str().is_some_and(|s| s.ends_with(suffix.as_str()))
        }
        (CmpOp::Lt | CmpOp::Gt | CmpOp::Le | CmpOp::Ge, Scalar::Number(bound)) => {
            value.as_f64().is_some_and(|x| order(op, x, *bound))
        }
        _ => false,
    }
}

fn equals(value: &Value, scalar: &Scalar) -> bool {
    match scalar {
        Scalar::Str(s) => value.as_str() == Some(s.as_str()),
        Scalar::Number(n) => value.as_f64() == Some(*n),
        Scalar::Bool(b) => value.as_bool() == Some(*b),
        Scalar::Undefined | Scalar::Regex { .. } => false,
    }
}

fn order(op: CmpOp, x: f64, bound: f64) -> bool {
    match op {
        CmpOp::Lt => x < bound,
        CmpOp::Gt => x > bound,
        CmpOp::Le => x <= bound,
        CmpOp::Ge => x >= bound,
        _ => false,
    }
}
