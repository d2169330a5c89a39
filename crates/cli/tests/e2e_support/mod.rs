//! Helpers of the end-to-end suites: graph snapshots that compare whole
//! graphs, a line diff for golden files, and sync shortcuts.

#![allow(dead_code, reason = "each end-to-end suite uses a different subset")]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use qgraph_cli::instances::{CheckOptions, add_instance};
use qgraph_cli::sync::{ClientOverrides, SyncError, SyncRequest, SyncSummary, sync_instance};
use qgraph_integration::{NoProgress, RawConfig};
use qgraph_qualys::RetryPolicy;
use qgraph_qualys_sim::{GeneratedConfig, RunningSimulator, SimConfig, Simulator};
use qgraph_store::{GraphStore, InstanceId, SqliteStore};

/// Accepts the simulator's loopback URL and skips the credential check, as
/// `--allow-loopback-api-url --no-verify` do.
pub const UNCHECKED: CheckOptions = CheckOptions {
    allow_loopback: true,
    verify: false,
};

/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// One day in seconds.
pub const DAY_SECS: i64 = 86_400;

/// Day 0 of the generated subscriptions that run on a fixed clock: 2026-03-02, a UTC midnight.
pub const FIXED_START_SECS: i64 = 1_772_409_600;

/// Every entity and relationship of a graph as JSON, keyed by `_type` and `_key`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Entities by (`_type`, `_key`), each the entity's JSON with its raw data.
    pub entities: BTreeMap<(String, String), serde_json::Value>,
    /// Relationships by (`_type`, `<_fromEntityKey> -> <_toEntityKey>`), each
    /// the relationship's JSON. Keys of relationships that mapping rules
    /// create (`rule:...`) contain store row ids, so they are left out.
    pub relationships: BTreeMap<(String, String), serde_json::Value>,
}

impl Snapshot {
    /// Reads the whole graph, or only what `instance` owns when given.
    /// Relationships are found through their endpoints, so a relationship
    /// is read when one of its ends is in the selection.
    pub fn read(store: &SqliteStore, instance: Option<InstanceId>) -> Self {
        let mut snapshot = Snapshot::default();
        let mut seen_relationships = BTreeSet::new();
        for count in store.count_entities_by_type().unwrap() {
            for stored in store
                .entities_by_type(&count.object_type, usize::MAX)
                .unwrap()
            {
                if instance.is_some_and(|id| id != stored.instance_id) {
                    continue;
                }
                let entity = &stored.entity;
                snapshot.entities.insert(
                    (entity.entity_type.clone(), entity.key.clone()),
                    serde_json::to_value(entity).unwrap(),
                );
                for related in store.relationships_of(stored.id).unwrap() {
                    if !seen_relationships.insert(related.id) {
                        continue;
                    }
                    if instance.is_some_and(|id| id != related.instance_id) {
                        continue;
                    }
                    let relationship = &related.relationship;
                    let mut value = serde_json::to_value(relationship).unwrap();
                    if relationship.key.starts_with("rule:") {
                        value.as_object_mut().unwrap().remove("_key");
                    }
                    let ends = format!("{} -> {}", relationship.from_key, relationship.to_key);
                    snapshot
                        .relationships
                        .insert((relationship.relationship_type.clone(), ends), value);
                }
            }
        }
        snapshot
    }

    /// Replaces `from` with `to` in every string value, such as a
    /// simulator's base URL that differs between two otherwise equal runs.
    pub fn replace_text(mut self, from: &str, to: &str) -> Self {
        for value in self
            .entities
            .values_mut()
            .chain(self.relationships.values_mut())
        {
            replace_in(value, from, to);
        }
        self
    }

    /// Entity keys by `_type`.
    pub fn entity_keys(&self) -> BTreeSet<(String, String)> {
        self.entities.keys().cloned().collect()
    }

    /// Relationship keys by `_type`.
    pub fn relationship_keys(&self) -> BTreeSet<(String, String)> {
        self.relationships.keys().cloned().collect()
    }

    /// Entities of one `_type`.
    pub fn entities_of<'a>(
        &'a self,
        entity_type: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a serde_json::Value)> + 'a {
        self.entities
            .iter()
            .filter(move |((t, _), _)| t == entity_type)
            .map(|((_, key), value)| (key.as_str(), value))
    }

    /// Counts of entities by `_type`.
    pub fn entity_counts(&self) -> BTreeMap<String, u64> {
        count_types(self.entities.keys())
    }

    /// Counts of relationships by `_type`.
    pub fn relationship_counts(&self) -> BTreeMap<String, u64> {
        count_types(self.relationships.keys())
    }
}

fn replace_in(value: &mut serde_json::Value, from: &str, to: &str) {
    match value {
        serde_json::Value::String(text) if text.contains(from) => *text = text.replace(from, to),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| replace_in(v, from, to)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| replace_in(v, from, to)),
        _ => {}
    }
}

fn count_types<'a>(keys: impl Iterator<Item = &'a (String, String)>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for (object_type, _) in keys {
        *counts.entry(object_type.clone()).or_insert(0) += 1;
    }
    counts
}

/// Describes how two snapshots differ, one line per object, or returns
/// an empty string when they are equal.
pub fn snapshot_diff(expected: &Snapshot, actual: &Snapshot) -> String {
    let mut lines = Vec::new();
    map_diff("entity", &expected.entities, &actual.entities, &mut lines);
    map_diff(
        "relationship",
        &expected.relationships,
        &actual.relationships,
        &mut lines,
    );
    lines.truncate(40);
    lines.join("\n")
}

fn map_diff(
    what: &str,
    expected: &BTreeMap<(String, String), serde_json::Value>,
    actual: &BTreeMap<(String, String), serde_json::Value>,
    lines: &mut Vec<String>,
) {
    for (key, value) in expected {
        match actual.get(key) {
            None => lines.push(format!("- missing {what} {key:?}")),
            Some(other) if other != value => {
                lines.push(format!("~ {what} {key:?}: {}", field_diff(value, other)));
            }
            Some(_) => {}
        }
    }
    for key in actual.keys().filter(|key| !expected.contains_key(*key)) {
        lines.push(format!("+ extra {what} {key:?}"));
    }
}

/// Lists the top-level fields that differ between two JSON objects.
fn field_diff(expected: &serde_json::Value, actual: &serde_json::Value) -> String {
    let (Some(expected), Some(actual)) = (expected.as_object(), actual.as_object()) else {
        return format!("expected {expected}, actual {actual}");
    };
    let show = |value: Option<&serde_json::Value>| {
        value.map_or_else(|| "<unset>".to_owned(), ToString::to_string)
    };
    let names: BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    names
        .into_iter()
        .filter(|name| expected.get(*name) != actual.get(*name))
        .map(|name| {
            format!(
                "{name}: {} -> {}",
                show(expected.get(name)),
                show(actual.get(name))
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Returns a readable line diff: `-` lines only in `expected`, `+` lines only in `actual`.
pub fn line_diff(expected: &str, actual: &str) -> String {
    let expected_lines: BTreeSet<&str> = expected.lines().collect();
    let actual_lines: BTreeSet<&str> = actual.lines().collect();
    let mut out = String::new();
    for line in expected.lines().filter(|l| !actual_lines.contains(l)) {
        out.push_str(&format!("- {line}\n"));
    }
    for line in actual.lines().filter(|l| !expected_lines.contains(l)) {
        out.push_str(&format!("+ {line}\n"));
    }
    out
}

/// Client timings of the end-to-end suites: retries after milliseconds
/// instead of seconds and a 200 ms concurrency cooldown. Waits that the
/// simulator requests (`SECONDS_TO_WAIT`) are still honoured in full.
pub fn fast_client() -> ClientOverrides {
    ClientOverrides {
        retry: Some(RetryPolicy {
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
            ..RetryPolicy::default()
        }),
        concurrency_cooldown: Some(Duration::from_millis(200)),
    }
}

/// Syncs `name` with the clock at `now_ms` and the [`fast_client`] timings.
pub async fn sync_at(
    store: &SqliteStore,
    name: &str,
    now_ms: i64,
) -> Result<SyncSummary, SyncError> {
    let mut request = SyncRequest::new(now_ms, &NoProgress);
    request.client = fast_client();
    sync_instance(store, name, &request).await
}

/// Registers `name` without the credential check.
pub async fn add(store: &SqliteStore, name: &str, raw: RawConfig) -> InstanceId {
    add_instance(store, name, raw, UNCHECKED).await.unwrap().id
}

/// Builds a generated subscription whose day 0 is [`FIXED_START_SECS`], for tests
/// that run on a fixed clock instead of the wall clock.
pub fn fixed_generated(hosts: u64, day: u32) -> GeneratedConfig {
    GeneratedConfig {
        hosts,
        seed: 11,
        detections_per_host: 60,
        day,
        start_secs: FIXED_START_SECS,
        ..GeneratedConfig::default()
    }
}

/// Returns the sync clock of day `day` of a [`fixed_generated`] subscription: one
/// hour after the simulator's midday "now" of that day.
pub fn fixed_now_ms(day: u32) -> i64 {
    (FIXED_START_SECS + i64::from(day) * DAY_SECS + DAY_SECS / 2) * 1000 + HOUR_MS
}

/// Starts a simulator serving `generated`.
pub async fn start_generated(generated: GeneratedConfig) -> RunningSimulator {
    Simulator::start(SimConfig::generated(generated))
        .await
        .unwrap()
}

/// Changes the API URL of instance `name`, keeping every other field.
pub async fn point_at(store: &SqliteStore, name: &str, api_url: &str) {
    let changes = RawConfig {
        qualys_api_url: Some(api_url.to_owned()),
        ..RawConfig::default()
    };
    qgraph_cli::instances::edit_instance(store, name, changes, UNCHECKED)
        .await
        .unwrap();
}
