//! The value-set truth table of J1QL filters, checked on values without a store.

#![allow(clippy::unwrap_used, reason = "tests")]

use qgraph_model::Value;
use qgraph_query::ast::{CmpOp, Connective};
use qgraph_query::values::{Scalar, matches, matches_set};

fn s(text: &str) -> Scalar {
    Scalar::Str(text.to_owned())
}

/// Rows: property value; columns: `= f`, `= n`, `= (f AND n)`, `= (f OR n)`, `!= (f AND n)`, `!= (f OR n)`.
#[test]
fn value_set_truth_table() {
    let rows: [(Option<Value>, [bool; 6]); 6] = [
        (Some("f".into()), [true, false, false, true, true, false]),
        (Some("n".into()), [false, true, false, true, true, false]),
        (
            Some(vec!["f", "n"].into()),
            [true, true, true, true, false, false],
        ),
        (Some("x".into()), [false, false, false, false, true, true]),
        (
            Some(vec!["x", "y"].into()),
            [false, false, false, false, true, true],
        ),
        (None, [false, false, false, false, true, true]),
    ];
    let set = [s("f"), s("n")];
    for (value, expected) in rows {
        let v = value.as_ref();
        let actual = [
            matches(v, CmpOp::Eq, &s("f")),
            matches(v, CmpOp::Eq, &s("n")),
            matches_set(v, CmpOp::Eq, Connective::And, &set),
            matches_set(v, CmpOp::Eq, Connective::Or, &set),
            matches_set(v, CmpOp::Ne, Connective::And, &set),
            matches_set(v, CmpOp::Ne, Connective::Or, &set),
        ];
        assert_eq!(actual, expected, "value {value:?}");
    }
}

#[test]
fn negated_operators_hold_on_absent() {
    for op in [
        CmpOp::Ne,
        CmpOp::NotContains,
        CmpOp::NotStartsWith,
        CmpOp::NotEndsWith,
    ] {
        assert!(matches(None, op, &s("f")), "{op:?}");
        assert!(matches(Some(&Value::Null), op, &s("f")), "{op:?} on null");
    }
    for op in [CmpOp::Eq, CmpOp::Contains, CmpOp::Lt, CmpOp::Ge] {
        assert!(!matches(None, op, &Scalar::Number(1.0)), "{op:?}");
    }
}

#[test]
fn undefined_tests_presence() {
    assert!(matches(None, CmpOp::Eq, &Scalar::Undefined));
    assert!(!matches(Some(&"x".into()), CmpOp::Eq, &Scalar::Undefined));
    assert!(matches(Some(&"x".into()), CmpOp::Ne, &Scalar::Undefined));
    assert!(!matches(None, CmpOp::Ne, &Scalar::Undefined));
}

#[test]
fn types_are_not_coerced() {
    assert!(!matches(
        Some(&"10".into()),
        CmpOp::Eq,
        &Scalar::Number(10.0)
    ));
    assert!(!matches(
        Some(&Value::Int(1)),
        CmpOp::Eq,
        &Scalar::Bool(true)
    ));
    assert!(!matches(
        Some(&"true".into()),
        CmpOp::Eq,
        &Scalar::Bool(true)
    ));
    assert!(!matches(
        Some(&"abc".into()),
        CmpOp::Gt,
        &Scalar::Number(1.0)
    ));
    assert!(matches(
        Some(&Value::Float(10.0)),
        CmpOp::Eq,
        &Scalar::Number(10.0)
    ));
}

#[test]
fn string_operators_per_element() {
    let hosts: Value = vec!["web-1", "db-9"].into();
    assert!(matches(Some(&hosts), CmpOp::StartsWith, &s("db")));
    assert!(matches(Some(&hosts), CmpOp::EndsWith, &s("-9")));
    assert!(matches(Some(&hosts), CmpOp::Contains, &s("eb")));
    assert!(!matches(Some(&hosts), CmpOp::NotContains, &s("eb")));
    assert!(matches(Some(&hosts), CmpOp::NotStartsWith, &s("x")));
}

#[test]
fn regex_is_unanchored_and_flags_apply() {
    let insensitive = Scalar::regex("windows", "i").unwrap();
    let sensitive = Scalar::regex("windows", "").unwrap();
    let value: Value = "Windows Server 2019".into();
    assert!(matches(Some(&value), CmpOp::Eq, &insensitive));
    assert!(!matches(Some(&value), CmpOp::Eq, &sensitive));
    let digits = Scalar::regex(r"\d+", "").unwrap();
    assert!(matches(Some(&value), CmpOp::EndsWith, &digits));
    assert!(!matches(Some(&value), CmpOp::StartsWith, &digits));
}
