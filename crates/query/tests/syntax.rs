//! Parser tests: every example parses and prints back to an equal AST; every negative case fails
//! with its message.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;

use qgraph_query::ast::{
    BoolExpr, CmpOp, Connective, EntityName, Literal, Operand, Selector, Step,
};
use qgraph_query::{parse, parse_checked};

#[test]
fn examples_parse_and_round_trip() {
    let cases = common::examples();
    assert!(cases.len() >= 45, "only {} cases", cases.len());
    for case in &cases {
        let (query, _) =
            parse_checked(&case.query).unwrap_or_else(|e| panic!("case {}: {e}", case.name));
        let printed = query.to_string();
        let reparsed =
            parse(&printed).unwrap_or_else(|e| panic!("case {}: {printed}: {e}", case.name));
        assert_eq!(reparsed, query, "case {}: printed as {printed}", case.name);
        assert_eq!(reparsed.to_string(), printed, "case {}", case.name);
    }
}

#[test]
fn negative_cases_are_rejected() {
    let negatives = common::negatives();
    assert!(negatives.len() >= 7);
    for negative in &negatives {
        match parse_checked(&negative.query) {
            Ok(query) => panic!("{:?} parsed as {}", negative.query, query.0),
            Err(error) => {
                let message = error.to_string();
                assert!(
                    message.contains(&negative.error),
                    "{:?}: message {message:?} lacks {:?}",
                    negative.query,
                    negative.error
                );
            }
        }
    }
}

#[test]
fn title_case_selects_class_and_lower_case_type() {
    let query = parse("FIND (Host|aws_instance|1password-user)").unwrap();
    let Selector::Names(names) = &query.start.selector else {
        panic!("not names: {:?}", query.start.selector);
    };
    assert_eq!(names[0], EntityName::Class("Host".into()));
    assert_eq!(names[1], EntityName::Type("aws_instance".into()));
    assert_eq!(names[2], EntityName::Type("1password-user".into()));
}

#[test]
fn value_set_keeps_connective() {
    let query = parse("FIND Finding WITH status != ('Fixed' AND \"Closed\")").unwrap();
    let Some(BoolExpr::Compare(comparison)) = &query.start.filter else {
        panic!("no comparison");
    };
    assert_eq!(comparison.op, CmpOp::Ne);
    assert_eq!(
        comparison.rhs,
        Operand::Set {
            connective: Connective::And,
            values: vec![Literal::Str("Fixed".into()), Literal::Str("Closed".into())],
        }
    );
}

#[test]
fn and_binds_tighter_than_or() {
    let query = parse("FIND Host WITH a = 1 OR b = 2 AND c = 3").unwrap();
    let Some(BoolExpr::Or(terms)) = &query.start.filter else {
        panic!("not OR: {:?}", query.start.filter);
    };
    assert_eq!(terms.len(), 2);
    assert!(matches!(&terms[1], BoolExpr::And(inner) if inner.len() == 2));
}

#[test]
fn hard_literals_round_trip() {
    let sources = [
        r"FIND Host WITH name = 'it\'s \\ here'",
        r"FIND Host WITH path = /a\/b[0-9]\d+/i",
        "FIND Host WITH x = -3.5 AND y = 7.0 AND z = -12",
        "FIND Host WITH createdOn > date.now-24hr AND updatedOn < date.now + 2 years",
        "FIND Host WITH createdOn > date(2024-01-31T10:30:00.5+02:00)",
        "FIND Host WITH owner = ${ param.owner }",
        "FIND #Production #CriticalAsset Application WITH [weird-name:x] = 'y'",
        "FIND Host AS h RETURN h.[special-name] AS 'A \\'quoted\\' name', (h.a + 2) ^ 2 ^ 3 / 4",
        "FIND User THAT ALLOWS >> AS rule * WHERE rule.fromPort <= 22 AND (rule.toPort >= 22 OR rule.ingress = true)",
        "FIND Person THAT has Device THAT !protects HostAgent",
        "FIND User (THAT IS Person AS p)? (THAT HAS Device)? AS thing RETURN thing",
        "FIND Host THAT CONTRIBUTES TO Service THAT !(ASSIGNED|USES|HAS) mfa_device",
        "FIND Host AS h RETURN concat(h.a, '-', h.b), coalesce(h.x, h.y, 0), round(avg(h.n))",
    ];
    for source in sources {
        let query = parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
        let printed = query.to_string();
        assert_eq!(
            parse(&printed).unwrap(),
            query,
            "{source} printed as {printed}"
        );
    }
}

#[test]
fn to_after_verb_is_filler() {
    let with_to = parse("FIND Host THAT CONTRIBUTES TO Service").unwrap();
    let without = parse("FIND Host THAT CONTRIBUTES Service").unwrap();
    assert_eq!(with_to, without);
}

#[test]
fn optional_group_with_alias() {
    let query = parse("FIND User (THAT IS Person)? AS userOrPerson").unwrap();
    let [Step::Optional { hops, alias, .. }] = query.steps.as_slice() else {
        panic!("no optional step");
    };
    assert_eq!(hops.len(), 1);
    assert_eq!(alias.as_ref().unwrap().name, "userOrPerson");
}

#[test]
fn error_points_at_second_line() {
    let error = parse("FIND Host\nWITH x = = 1").unwrap_err().to_string();
    assert!(error.contains("line 2, column 10"), "{error}");
}

#[test]
fn huge_and_hostile_inputs_do_not_panic() {
    let long_name = "a".repeat(100_000);
    let inputs = [
        format!("FIND Host WITH x = '{long_name}'"),
        "((((((((((".repeat(10),
        "FIND Host WITH x = /unclosed".to_owned(),
        "FIND Host WITH x = /[/".to_owned(),
        "FIND Host WITH x = 99999999999999999999999".to_owned(),
        "FIND Host WITH createdOn > date.now - 9999999999999999 years".to_owned(),
        "FIND ☃ WITH ü = 'ö'".to_owned(),
        "FIND Host WITH x = date(".to_owned(),
        "\u{0}".to_owned(),
        format!("FIND Host WITH {}a = 1", "(".repeat(100_000)),
        format!("FIND Host AS h RETURN {}1", "(".repeat(100_000)),
        format!("FIND Host AS h RETURN 1{}", " ^ 2".repeat(100_000)),
        format!("FIND Host AS h RETURN {}", "abs(".repeat(100_000)),
        format!("FIND Host AS h RETURN 1{}", " + 1".repeat(100_000)),
        "FIND Host LIMIT 99999999999999999999999".to_owned(),
    ];
    for input in &inputs {
        let _ = parse_checked(input);
    }
    assert!(parse(&inputs[0]).is_ok());
}

#[test]
fn error_positions_count_on_across_lines() {
    let values: Vec<String> = (0..5_000).map(|i| format!("'v{i}'")).collect();
    let query = format!(
        "FIND Host\nWITH hostname = (\n{}\n)\nAND ü = 'ö' AND = 1",
        values.join(" OR\n")
    );
    let error = parse(&query).unwrap_err().to_string();
    assert!(error.contains("line 5004, column 17"), "{error}");
}

#[test]
fn error_position_after_raw_scan() {
    let error = parse("FIND Host\n  WITH a = date(2024-01-31) AND b = = 1")
        .unwrap_err()
        .to_string();
    assert!(error.contains("line 2, column 37"), "{error}");

    let error = parse("FIND Host WITH name = '☃☃'\nAND x = /a/ AND\n  y = '☃' AND z ~= ~=")
        .unwrap_err()
        .to_string();
    assert!(error.contains("line 3, column 20"), "{error}");
}

#[test]
fn query_over_size_limit_rejected() {
    let padding = " ".repeat(qgraph_query::MAX_QUERY_BYTES);
    let error = parse(&format!("FIND Host{padding}"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("the query has 1048585 bytes"), "{error}");
    assert!(error.contains("limit of 1048576"), "{error}");

    let at_limit = format!("FIND Host{}", &padding[9..]);
    assert_eq!(at_limit.len(), qgraph_query::MAX_QUERY_BYTES);
    assert!(parse(&at_limit).is_ok());
}

/// Returns the error of a query that must fail to parse or check.
fn check_error(query: &str) -> String {
    match parse_checked(query) {
        Ok(_) => panic!("{query}: expected an error"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn function_arguments_are_checked() {
    let cases = [
        (
            "FIND Host AS h RETURN count(h, h)",
            "count() takes exactly one argument, found 2",
        ),
        (
            "FIND Host AS h RETURN count()",
            "count() takes exactly one argument, found 0",
        ),
        (
            "FIND Host AS h RETURN abs()",
            "abs() takes exactly one argument, found 0",
        ),
        (
            "FIND Host AS h RETURN concat()",
            "concat() takes one or more arguments, found 0",
        ),
        (
            "FIND Host AS h RETURN sum(count(h))",
            "sum() cannot contain another aggregate",
        ),
        (
            "FIND Host AS h RETURN max(1 + min(h.x))",
            "max() cannot contain another aggregate",
        ),
        ("FIND Host AS h RETURN sum(h)", "sum() cannot take `h`"),
        ("FIND Host AS h RETURN avg(h)", "avg() cannot take `h`"),
        ("FIND Host AS h RETURN abs(h)", "abs() cannot take `h`"),
        (
            "FIND Host AS h RETURN count(h.*)",
            "count() cannot take `h.*`",
        ),
    ];
    for (query, message) in cases {
        let error = check_error(query);
        assert!(error.contains(message), "{query}: {error}");
        assert!(error.contains("line 1, column 23"), "{query}: {error}");
    }
    assert!(parse_checked("FIND Host AS h RETURN concat(h.a, '-', h.b), round(h.x)").is_ok());
}

#[test]
fn literal_errors_say_what_is_accepted() {
    let cases = [
        (
            "FIND Host WITH t > date(2024-01-01T10:00+99:99)",
            "invalid date `2024-01-01T10:00+99:99`",
        ),
        (
            "FIND Host WITH t > date(2024-13-01)",
            "expected a calendar date as YYYY",
        ),
        ("FIND Host WITH x = /a/g", "the only flag is i"),
        (
            "FIND Host LIMIT 99999999999999999999999",
            "a whole number from 0 to 18446744073709551615 after LIMIT",
        ),
    ];
    for (query, message) in cases {
        let error = check_error(query);
        assert!(error.contains(message), "{query}: {error}");
    }
    assert!(parse_checked("FIND Host WITH t > date(2024-01-01T10:00+14:00)").is_ok());
}

#[test]
fn repeated_class_is_not_default_alias() {
    let error = check_error("FIND Host THAT HAS Finding THAT HAS Host RETURN Host.hostname");
    assert!(error.contains("`Host` appears more than once"), "{error}");
    assert!(error.contains("name the one you mean with AS"), "{error}");
    assert!(error.contains("line 1, column 49"), "{error}");
}

#[test]
fn power_chain_depth_names_operator() {
    let query = format!("FIND Host AS h RETURN 1{}", "^1".repeat(100));
    let error = check_error(&query);
    assert!(
        error.contains("levels of parentheses, function calls and `^`"),
        "{error}"
    );
}
