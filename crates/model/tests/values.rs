//! Property values survive JSON round trips without losing digits or type.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use qgraph_model::{Entity, Value};

fn round_trip(value: &Value) -> Value {
    let json = serde_json::to_string(value).unwrap();
    serde_json::from_str(&json).unwrap()
}

#[test]
fn integer_extremes_round_trip() {
    for value in [
        Value::from(u64::MAX),
        Value::from(i64::MIN),
        Value::from(i64::MAX),
        Value::from(0_i64),
        Value::from(9_007_199_254_740_993_u64),
    ] {
        assert_eq!(round_trip(&value), value);
    }
    assert_eq!(
        serde_json::to_string(&Value::from(u64::MAX)).unwrap(),
        "18446744073709551615"
    );
    assert_eq!(
        serde_json::to_string(&Value::from(i64::MIN)).unwrap(),
        "-9223372036854775808"
    );
}

#[test]
fn unsigned_in_signed_range_is_canonical() {
    assert_eq!(Value::from(42_u64), Value::Int(42));
    assert_eq!(Value::from(u64::MAX), Value::UInt(u64::MAX));
}

#[test]
fn id_strings_stay_strings() {
    for text in [
        "012345678901",
        "215287854144326580",
        "00",
        "1e5",
        "-0",
        " 7",
    ] {
        let value = Value::from(text);
        assert_eq!(round_trip(&value), Value::String(text.to_owned()));
    }
}

#[test]
fn floats_round_trip_exactly() {
    for x in [0.1, 7.8, 1.0, -2.5e-300, f64::MAX, f64::MIN_POSITIVE, 1e21] {
        let back = round_trip(&Value::Float(x));
        assert_eq!(back, Value::Float(x), "{x}");
    }
}

#[test]
fn arrays_booleans_and_null_round_trip() {
    let value = Value::Array(vec![
        Value::from("a"),
        Value::from(true),
        Value::from(3_i64),
        Value::Float(0.5),
    ]);
    assert_eq!(round_trip(&value), value);
    assert_eq!(round_trip(&Value::Null), Value::Null);
    assert_eq!(
        round_trip(&Value::Array(Vec::new())),
        Value::Array(Vec::new())
    );
}

#[test]
fn absent_empty_and_null_differ() {
    let mut entity = Entity::new(
        "qualys-host-finding:1:11",
        "qualys_host_finding",
        &["Finding"],
    )
    .unwrap();
    entity.set("empty", "").set("nothing", Value::Null);
    assert_eq!(entity.get("absent"), None);
    assert_eq!(entity.get("empty"), Some(Value::from("")));
    assert_eq!(entity.get("nothing"), Some(Value::Null));

    let json = serde_json::to_string(&entity).unwrap();
    let back: Entity = serde_json::from_str(&json).unwrap();
    assert_eq!(back, entity);
    assert!(!json.contains("absent"));
}

#[test]
fn entity_json_keeps_ids_exact() {
    let json = r#"{"_key":"gcp:1","_type":"google_compute_instance","_class":"Host",
        "instanceId":"215287854144326580","qwebHostId":215287854144326580,
        "accountId":"012345678901","big":18446744073709551615}"#;
    let entity: Entity = serde_json::from_str(json).unwrap();
    assert_eq!(entity.classes, vec!["Host".to_owned()]);
    assert_eq!(
        entity.get("instanceId"),
        Some(Value::from("215287854144326580"))
    );
    assert_eq!(
        entity.get("qwebHostId"),
        Some(Value::Int(215_287_854_144_326_580))
    );
    assert_eq!(entity.get("accountId"), Some(Value::from("012345678901")));
    assert_eq!(entity.get("big"), Some(Value::UInt(u64::MAX)));
}

#[test]
fn entity_rejects_bad_type_and_class() {
    assert!(Entity::new("key-0000001", "Qualys Finding", &["Finding"]).is_err());
    assert!(Entity::new("key-0000001", "qualys_host_finding", &["finding"]).is_err());
    assert!(Entity::new("", "qualys_host_finding", &["Finding"]).is_err());
}
