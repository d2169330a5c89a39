//! Filter semantics as the store runs them in SQL: the truth table, types, paging and hostile values.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;

use qgraph_model::{
    DeclaredType, Entity, GraphObject, GraphSink, StepDeclaration, StepResult, StepStatus, Value,
};
use qgraph_query::{QueryOptions, QueryResult, run_query};
use qgraph_store::{GraphStore, InstanceKind, NewInstance, SqliteStore, SyncOptions, SyncRun};

/// Stores `entities` of type `thing` (class `Thing`) with one sync run.
fn store_with(entities: Vec<Entity>) -> SqliteStore {
    let store = SqliteStore::open_in_memory().unwrap();
    let instance = store
        .create_instance(NewInstance {
            name: "test".into(),
            kind: InstanceKind::Qualys,
            config: serde_json::json!({}),
            password: None,
        })
        .unwrap();
    let mut run = store
        .begin_sync(instance.id, SyncOptions::at(common::NOW))
        .unwrap();
    run.write(
        "things",
        entities.into_iter().map(GraphObject::Entity).collect(),
    )
    .unwrap();
    let step = StepDeclaration {
        id: "things".into(),
        name: "Things".into(),
        entity_types: vec![DeclaredType {
            object_type: "thing".into(),
            partial: false,
        }],
        relationship_types: Vec::new(),
        depends_on: Vec::new(),
    };
    let result = StepResult {
        id: "things".into(),
        status: StepStatus::Success,
        started_on: common::NOW,
        ended_on: common::NOW,
        counts: Default::default(),
        errors: Vec::new(),
    };
    run.commit(&[step], &[result]).unwrap();
    store
}

fn thing(key: &str, value: Option<Value>) -> Entity {
    let mut entity = Entity::new(key, "thing", &["Thing"]).unwrap();
    if let Some(value) = value {
        entity.set("p", value);
    }
    entity
}

fn keys(store: &SqliteStore, query: &str) -> Vec<String> {
    let result = run_query(store, query, &QueryOptions::at(common::NOW))
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    let QueryResult::List { entities, .. } = result else {
        panic!("{query}: not a list");
    };
    let mut keys: Vec<String> = entities
        .iter()
        .map(|e| e.properties["_key"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    keys
}

#[test]
fn truth_table_in_sql() {
    let store = store_with(vec![
        thing("v-f", Some("f".into())),
        thing("v-n", Some("n".into())),
        thing("v-fn", Some(vec!["f", "n"].into())),
        thing("v-x", Some("x".into())),
        thing("v-xy", Some(vec!["x", "y"].into())),
        thing("v-undefined", None),
    ]);
    let filters: [(&str, &[&str]); 6] = [
        ("p = 'f'", &["v-f", "v-fn"]),
        ("p = 'n'", &["v-fn", "v-n"]),
        ("p = ('f' AND 'n')", &["v-fn"]),
        ("p = ('f' OR 'n')", &["v-f", "v-fn", "v-n"]),
        (
            "p != ('f' AND 'n')",
            &["v-f", "v-n", "v-undefined", "v-x", "v-xy"],
        ),
        ("p != ('f' OR 'n')", &["v-undefined", "v-x", "v-xy"]),
    ];
    for (filter, expected) in filters {
        let query = format!("FIND thing WITH {filter}");
        assert_eq!(keys(&store, &query), expected, "{filter}");
    }
}

#[test]
fn types_are_not_coerced_in_sql() {
    let store = store_with(vec![
        thing("number", Some(Value::Int(10))),
        thing("text", Some("10".into())),
        thing("flag", Some(Value::Bool(true))),
        thing("one", Some(Value::Int(1))),
        thing("float", Some(Value::Float(10.0))),
    ]);
    assert_eq!(keys(&store, "FIND thing WITH p = 10"), ["float", "number"]);
    assert_eq!(keys(&store, "FIND thing WITH p = '10'"), ["text"]);
    assert_eq!(keys(&store, "FIND thing WITH p = true"), ["flag"]);
    assert_eq!(keys(&store, "FIND thing WITH p > 5"), ["float", "number"]);
    assert_eq!(
        keys(&store, "FIND thing WITH p != true"),
        ["float", "number", "one", "text"]
    );
}

#[test]
fn value_sets_keep_types_in_sql() {
    let mut entities = vec![
        thing("number", Some(Value::Int(10))),
        thing("text", Some("10".into())),
        thing("flag", Some(Value::Bool(true))),
        thing("off", Some(Value::Bool(false))),
        thing("one", Some(Value::Int(1))),
        thing("zero", Some(Value::Int(0))),
        thing("float", Some(Value::Float(10.0))),
        thing("array", Some(Value::Array(vec!["x".into(), Value::Int(7)]))),
        thing("json-text", Some("[1]".into())),
    ];
    // `qid` has an expression index, so its comparisons skip the array branch.
    for (key, qid) in [("q-int", Value::Int(1)), ("q-flag", Value::Bool(true))] {
        let mut entity = Entity::new(key, "thing", &["Thing"]).unwrap();
        entity.set("qid", qid);
        entities.push(entity);
    }
    let store = store_with(entities);
    let cases: [(&str, &[&str]); 8] = [
        ("p = (10 OR 1)", &["float", "number", "one"]),
        ("p = (0 OR 1)", &["one", "zero"]),
        ("p = ('10' OR 'x')", &["array", "text"]),
        ("p = ('10' OR 7 OR 0)", &["array", "text", "zero"]),
        ("p = ('[1]' OR '{}')", &["json-text"]),
        ("p = (true OR 0)", &["flag", "zero"]),
        (
            "p != (10 OR 1)",
            &[
                "array",
                "flag",
                "json-text",
                "off",
                "q-flag",
                "q-int",
                "text",
                "zero",
            ],
        ),
        ("qid = (1 OR 2)", &["q-int"]),
    ];
    for (filter, expected) in cases {
        let query = format!("FIND thing WITH {filter}");
        assert_eq!(keys(&store, &query), expected, "{filter}");
    }
}

#[test]
fn hostile_property_names_and_values() {
    let mut odd = Entity::new("odd", "thing", &["Thing"]).unwrap();
    odd.set("we\"ird", "a'b");
    odd.set("tag.x-y", "z");
    odd.set("p", "50% off_sale");
    let store = store_with(vec![odd, thing("plain", Some("5 off".into()))]);
    assert_eq!(
        keys(&store, r#"FIND thing WITH [we"ird] = 'a\'b'"#),
        ["odd"]
    );
    assert_eq!(keys(&store, "FIND thing WITH [tag.x-y] = 'z'"), ["odd"]);
    // LIKE wildcards in values are literal text.
    assert_eq!(keys(&store, "FIND thing WITH p ~= '%'"), ["odd"]);
    assert_eq!(keys(&store, "FIND thing WITH p ^= '5'"), ["odd", "plain"]);
    assert_eq!(keys(&store, "FIND thing WITH p $= '_sale'"), ["odd"]);
    assert_eq!(keys(&store, "FIND thing WITH p = /\\d+% off/"), ["odd"]);
    assert_eq!(keys(&store, "FIND thing WITH p ^= /\\d off/"), ["plain"]);
}

#[test]
fn default_page_and_cursor_cover_all_entities() {
    let entities: Vec<Entity> = (0..600)
        .map(|i| thing(&format!("t{i:04}"), Some(Value::Int(i))))
        .collect();
    let store = store_with(entities);
    let mut options = QueryOptions::at(common::NOW);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let QueryResult::List {
            entities,
            next_cursor,
        } = run_query(&store, "FIND thing", &options).unwrap()
        else {
            panic!("not a list");
        };
        pages += 1;
        assert!(entities.len() <= 250);
        seen.extend(entities.into_iter().map(|e| e.id));
        match next_cursor {
            Some(cursor) => options.cursor = cursor,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 600);
}

#[test]
fn table_pages_with_cursor() {
    let entities: Vec<Entity> = (0..300)
        .map(|i| thing(&format!("t{i:04}"), Some(Value::Int(i))))
        .collect();
    let store = store_with(entities);
    let query = "FIND thing AS t RETURN t.p ORDER BY t.p DESC";
    let first = run_query(&store, query, &QueryOptions::at(common::NOW)).unwrap();
    let QueryResult::Table {
        rows, next_cursor, ..
    } = first
    else {
        panic!("not a table");
    };
    assert_eq!(rows.len(), 250);
    assert_eq!(rows[0], vec![Value::Int(299)]);
    let mut options = QueryOptions::at(common::NOW);
    options.cursor = next_cursor.unwrap();
    let QueryResult::Table {
        rows, next_cursor, ..
    } = run_query(&store, query, &options).unwrap()
    else {
        panic!("not a table");
    };
    assert_eq!(rows.len(), 50);
    assert_eq!(rows[49], vec![Value::Int(0)]);
    assert_eq!(next_cursor, None);
}

#[test]
fn count_pushdown_counts_distinct() {
    let store = store_with(vec![
        thing("a", Some(Value::Int(1))),
        thing("b", Some(Value::Int(1))),
        thing("c", Some(Value::Int(2))),
        thing("d", None),
    ]);
    let run = |q: &str| match run_query(&store, q, &QueryOptions::at(common::NOW)).unwrap() {
        QueryResult::Table { rows, .. } => rows,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        run("FIND thing AS t RETURN count(t)"),
        vec![vec![Value::Int(4)]]
    );
    assert_eq!(
        run("FIND thing AS t RETURN count(t.p)"),
        vec![vec![Value::Int(2)]]
    );
    assert_eq!(
        run("FIND thing WITH p > 5 AS t RETURN count(t)"),
        vec![vec![Value::Int(0)]]
    );
}

#[test]
fn unbound_parameter_is_an_error() {
    let store = store_with(vec![thing("a", Some("x".into()))]);
    let error = run_query(
        &store,
        "FIND thing WITH p = ${ param.owner }",
        &QueryOptions::at(0),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("parameter `owner` has no value"), "{error}");
    let mut options = QueryOptions::at(0);
    options.params.insert("owner".into(), "x".into());
    let result = run_query(&store, "FIND thing WITH p = ${ param.owner }", &options).unwrap();
    assert!(matches!(result, QueryResult::List { entities, .. } if entities.len() == 1));
}

/// Regression: index-only tests on the schema's indexed properties read the SQL type of
/// `json_extract`, which gives booleans as 0 and 1 and arrays as JSON text.
#[test]
fn indexed_properties_keep_json_types() {
    let with = |key: &str, name: &str, value: Value| {
        let mut entity = Entity::new(key, "thing", &["Thing"]).unwrap();
        entity.set(name, value);
        entity
    };
    let store = store_with(vec![
        with("zero", "numericSeverity", Value::Int(0)),
        with("nine", "numericSeverity", Value::Float(9.5)),
        with("false", "numericSeverity", Value::Bool(false)),
        with("true", "numericSeverity", Value::Bool(true)),
        with("text", "numericSeverity", "9".into()),
        with("critical", "severity", "critical".into()),
        with("array", "severity", vec!["critical"].into()),
        with("open", "open", Value::Bool(true)),
        with("one", "open", Value::Int(1)),
        with("open-text", "open", "true".into()),
    ]);
    assert_eq!(
        keys(&store, "FIND thing WITH numericSeverity >= 0"),
        ["nine", "zero"]
    );
    assert_eq!(
        keys(&store, "FIND thing WITH numericSeverity < 1"),
        ["zero"]
    );
    assert_eq!(
        keys(&store, "FIND thing WITH numericSeverity >= 8"),
        ["nine"]
    );
    assert_eq!(
        keys(&store, "FIND thing WITH severity = 'critical'"),
        ["critical"]
    );
    assert!(keys(&store, r#"FIND thing WITH severity = '["critical"]'"#).is_empty());
    assert_eq!(keys(&store, "FIND thing WITH open = true"), ["open"]);
    assert_eq!(
        keys(
            &store,
            "FIND thing WITH open = true AND numericSeverity >= 0"
        ),
        Vec::<String>::new()
    );
}

/// A hop in either direction walks a relationship from an entity to itself once.
#[test]
fn self_relationship_is_one_path() {
    use qgraph_model::{Relationship, RelationshipClass};

    let a = thing("a", Some(Value::Int(1)));
    let b = thing("b", Some(Value::Int(2)));
    let has = RelationshipClass::new("HAS").unwrap();
    let store = SqliteStore::open_in_memory().unwrap();
    let instance = store
        .create_instance(NewInstance {
            name: "test".into(),
            kind: InstanceKind::Qualys,
            config: serde_json::json!({}),
            password: None,
        })
        .unwrap();
    let mut run = store
        .begin_sync(instance.id, SyncOptions::at(common::NOW))
        .unwrap();
    let objects = vec![
        GraphObject::Entity(a.clone()),
        GraphObject::Entity(b.clone()),
        GraphObject::Relationship(Relationship::between(&a, &has, &a)),
        GraphObject::Relationship(Relationship::between(&a, &has, &b)),
    ];
    run.write("things", objects).unwrap();
    let step = StepDeclaration {
        id: "things".into(),
        name: "Things".into(),
        entity_types: vec![DeclaredType {
            object_type: "thing".into(),
            partial: false,
        }],
        relationship_types: vec![DeclaredType {
            object_type: "thing_has_thing".into(),
            partial: false,
        }],
        depends_on: Vec::new(),
    };
    let result = StepResult {
        id: "things".into(),
        status: StepStatus::Success,
        started_on: common::NOW,
        ended_on: common::NOW,
        counts: Default::default(),
        errors: Vec::new(),
    };
    run.commit(&[step], &[result]).unwrap();

    let run = |q: &str| match run_query(&store, q, &QueryOptions::at(common::NOW)).unwrap() {
        QueryResult::Table { rows, .. } => rows,
        other => panic!("{other:?}"),
    };
    let rows = run("FIND Thing AS x THAT HAS Thing AS y RETURN x.p, y.p ORDER BY y.p");
    // a HAS a is found once from either end; a HAS b is found from a and from b.
    assert_eq!(
        rows,
        vec![
            vec![Value::Int(1), Value::Int(1)],
            vec![Value::Int(2), Value::Int(1)],
            vec![Value::Int(1), Value::Int(2)],
        ]
    );
    assert_eq!(keys(&store, "FIND Thing THAT !HAS >> Thing"), ["b"]);
}

#[test]
fn query_limit_returns_no_cursor() {
    let entities: Vec<Entity> = (0..10)
        .map(|i| thing(&format!("t{i:04}"), Some(Value::Int(i))))
        .collect();
    let store = store_with(entities);
    let options = QueryOptions::at(common::NOW);

    let QueryResult::List {
        entities,
        next_cursor,
    } = run_query(&store, "FIND thing LIMIT 5", &options).unwrap()
    else {
        panic!("not a list");
    };
    assert_eq!(entities.len(), 5);
    assert_eq!(next_cursor, None);

    let QueryResult::Table {
        rows, next_cursor, ..
    } = run_query(
        &store,
        "FIND thing AS t RETURN t.p ORDER BY t.p LIMIT 5",
        &options,
    )
    .unwrap()
    else {
        panic!("not a table");
    };
    assert_eq!(rows.len(), 5);
    assert_eq!(next_cursor, None);

    let mut small_pages = options.clone();
    small_pages.page_size = 5;
    let QueryResult::List { next_cursor, .. } =
        run_query(&store, "FIND thing", &small_pages).unwrap()
    else {
        panic!("not a list");
    };
    assert_eq!(next_cursor, Some(5));
}

#[test]
fn count_of_property_keeps_booleans_apart() {
    let store = store_with(vec![
        thing("true", Some(Value::Bool(true))),
        thing("one", Some(Value::Int(1))),
        thing("false", Some(Value::Bool(false))),
        thing("zero", Some(Value::Int(0))),
        thing("text", Some("1".into())),
        thing("absent", None),
    ]);
    let run = |q: &str| match run_query(&store, q, &QueryOptions::at(common::NOW)).unwrap() {
        QueryResult::Table { rows, .. } => rows,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        run("FIND thing AS t RETURN count(t.p)"),
        vec![vec![Value::Int(5)]]
    );
    assert_eq!(
        run("FIND thing AS t RETURN count(t.p), count(t)"),
        vec![vec![Value::Int(5), Value::Int(6)]]
    );
}

#[test]
fn ends_with_regex_finds_overlapping_match() {
    let store = store_with(vec![
        thing("digits", Some("web-12345".into())),
        thing("alternation", Some("ab".into())),
        thing("letters", Some("web-1234x".into())),
    ]);
    let cases: [(&str, &[&str]); 5] = [
        (r"p $= /\d{2}/", &["digits"]),
        (r"p $= /a|ab/", &["alternation"]),
        (r"p $= /(?x) \d{2} # two digits/", &["digits"]),
        (r"p !$= /\d{2}/", &["alternation", "letters"]),
        (r"p ^= /b|web/", &["digits", "letters"]),
    ];
    for (filter, expected) in cases {
        let query = format!("FIND thing WITH {filter}");
        assert_eq!(keys(&store, &query), expected, "{query}");

        let query = format!("FIND thing AS t WHERE t.{filter}");
        assert_eq!(keys(&store, &query), expected, "{query}");
    }
}

#[test]
fn invalid_regex_names_reason() {
    let store = store_with(vec![thing("a", Some("x".into()))]);
    let error = run_query(&store, "FIND thing\nWITH p = /(/", &QueryOptions::at(0))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("invalid regex `/(/`: unclosed group"),
        "{error}"
    );
    assert!(error.contains("line 2, column 6"), "{error}");
}
