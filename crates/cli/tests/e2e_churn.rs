//! End to end over a day of churn: after a sync of day 0, the simulator
//! moves to day 1: new hosts, purged hosts, and detections that move through
//! New, Active, Fixed and Re-Opened. A second, incremental sync must then
//! apply exactly the creates and updates that the simulator's data implies.
//!
//! The expectation is computed from what the simulator serves, read with
//! the Qualys client in the windows the integration uses: a first window of
//! [`FIRST_WINDOW_DAYS`] before the day-0 clock, then from the day-0 clock
//! to the day-1 clock.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;
mod e2e_support;

use std::collections::{BTreeMap, BTreeSet};

use common::{SIM_PASSWORD, TempDir, open_store, sim_config};
use e2e_support::{
    DAY_SECS, Snapshot, add, fixed_generated, fixed_now_ms, point_at, start_generated, sync_at,
};
use futures_util::StreamExt;
use qgraph_integration::config::ScalarInput;
use qgraph_model::RunStatus;
use qgraph_qualys::{
    ApiUrl, ClientConfig, Credentials, Detection, DetectionQuery, HostDetections, HostIdQuery,
    Loopback, QualysClient,
};

const HOST_FINDING: &str = "qualys_host_finding";
const VULN: &str = "qualys_vuln";
/// Days of the first window. Day 1 changes detections last updated long
/// before day 0, so a 7-day first window would see no detection change.
const FIRST_WINDOW_DAYS: i64 = 365;

/// A detection as served, with the host fields a finding copies.
type Served = (Detection, Option<String>, Option<String>, Option<String>);

/// Reads the detections updated in `[start_ms, end_ms]` with the default
/// filters: severities 3 to 5, no information gathered, every status. They
/// are read for every host, whenever it was last processed, because that is
/// what the graph must reflect. Keys follow the finding key:
/// `hostId:<id>|port:<port>|protocol:<protocol>|qid:<qid>`.
async fn served_detections(api_url: &str, start_ms: i64, end_ms: i64) -> BTreeMap<String, Served> {
    let url = ApiUrl::parse(api_url, Loopback::Allow).unwrap();
    let credentials = Credentials::new(qgraph_qualys_sim::DEFAULT_USERNAME, SIM_PASSWORD);
    let client = QualysClient::new(ClientConfig::new(url, credentials)).unwrap();

    let host_query = HostIdQuery::default();
    let mut host_ids = Vec::new();
    let mut ranges = Box::pin(client.host_ids(&host_query));
    while let Some(range) = ranges.next().await {
        let range = range.unwrap();
        host_ids.extend(range.first..=range.last);
    }

    let query = DetectionQuery {
        host_ids,
        updated_since: Some(start_ms),
        updated_before: Some(end_ms),
        severities: vec![3, 4, 5],
        include_info: false,
        ..DetectionQuery::default()
    };
    let mut served = BTreeMap::new();
    let mut hosts = Box::pin(client.host_detections(&query));
    while let Some(host) = hosts.next().await {
        let host: HostDetections = host.unwrap();
        for detection in &host.detections {
            served.insert(
                finding_key(host.host_id, detection),
                (
                    detection.clone(),
                    host.ip.clone(),
                    host.ipv6.clone(),
                    host.dns.clone(),
                ),
            );
        }
    }
    served
}

/// Reads the ids of every host the simulator lists, whenever it was processed.
async fn listed_host_ids(api_url: &str) -> BTreeSet<u64> {
    let url = ApiUrl::parse(api_url, Loopback::Allow).unwrap();
    let credentials = Credentials::new(qgraph_qualys_sim::DEFAULT_USERNAME, SIM_PASSWORD);
    let client = QualysClient::new(ClientConfig::new(url, credentials)).unwrap();
    let mut ids = BTreeSet::new();
    let mut ranges = Box::pin(client.host_ids(&HostIdQuery::default()));
    while let Some(range) = ranges.next().await {
        let range = range.unwrap();
        ids.extend(range.first..=range.last);
    }
    ids
}

fn host_of(finding_key: &str) -> u64 {
    let first = finding_key.split('|').next().unwrap();
    first.trim_start_matches("hostId:").parse().unwrap()
}

fn finding_key(host_id: u64, detection: &Detection) -> String {
    let mut key = format!("hostId:{host_id}");
    if let Some(port) = detection.port {
        key.push_str(&format!("|port:{port}"));
    }
    if let Some(protocol) = detection.protocol.as_deref().filter(|p| !p.is_empty()) {
        key.push_str(&format!("|protocol:{}", protocol.to_ascii_lowercase()));
    }
    key.push_str(&format!("|qid:{}", detection.qid));
    key
}

fn qids(served: &BTreeMap<String, Served>) -> BTreeSet<u64> {
    served.values().map(|(d, ..)| d.qid).collect()
}

fn keys_of(snapshot: &Snapshot, entity_type: &str) -> BTreeSet<String> {
    snapshot
        .entities_of(entity_type)
        .map(|(key, _)| key.to_owned())
        .collect()
}

/// Keys of `entity_type` present in both snapshots whose JSON differs.
fn changed_keys(before: &Snapshot, after: &Snapshot, entity_type: &str) -> BTreeSet<String> {
    before
        .entities_of(entity_type)
        .filter(|(key, value)| {
            after
                .entities
                .get(&(entity_type.to_owned(), (*key).to_owned()))
                .is_some_and(|other| other != *value)
        })
        .map(|(key, _)| key.to_owned())
        .collect()
}

/// Syncs day 0, then day `later` of the same subscription, and checks the
/// second sync against what the simulator serves.
async fn churn_applies_expected_changes(hosts: u64, later: u32) {
    let now0 = fixed_now_ms(0);
    let now1 = fixed_now_ms(later);
    let day0 = start_generated(fixed_generated(hosts, 0)).await;
    let day1 = start_generated(fixed_generated(hosts, later)).await;
    let served0 = served_detections(
        &day0.base_url(),
        now0 - FIRST_WINDOW_DAYS * DAY_SECS * 1000,
        now0,
    )
    .await;
    let served1 = served_detections(&day1.base_url(), now0, now1).await;
    let listed1 = listed_host_ids(&day1.base_url()).await;
    let dir = TempDir::new("e2e-churn");
    let store = open_store(&dir);
    let mut raw = sim_config(&day0.base_url(), SIM_PASSWORD);
    // Web apps are left out so the expectation covers host findings alone.
    raw.ingest_web_app_scans = Some(ScalarInput::Bool(false));
    let days = ScalarInput::Text(FIRST_WINDOW_DAYS.to_string());
    raw.min_scanned_since_days = Some(days.clone());
    raw.min_findings_since_days = Some(days);
    let instance = add(&store, "churn", raw).await;

    let first = sync_at(&store, "churn", now0).await.unwrap();
    let before = Snapshot::read(&store, Some(instance));
    point_at(&store, "churn", &day1.base_url()).await;
    let second = sync_at(&store, "churn", now1).await.unwrap();
    let after = Snapshot::read(&store, Some(instance));
    day0.shutdown().await;
    day1.shutdown().await;

    assert_eq!(first.status, RunStatus::Success, "{:?}", first.steps);
    assert_eq!(second.status, RunStatus::Success, "{:?}", second.steps);
    let served0_keys: BTreeSet<String> = served0.keys().cloned().collect();
    assert_eq!(keys_of(&before, HOST_FINDING), served0_keys);

    let expected_created: BTreeSet<String> = served1
        .keys()
        .filter(|key| !served0.contains_key(*key))
        .cloned()
        .collect();
    let expected_updated: BTreeSet<String> = served1
        .iter()
        .filter(|(key, value)| served0.get(*key).is_some_and(|old| old != *value))
        .map(|(key, _)| key.clone())
        .collect();
    assert!(
        !expected_created.is_empty(),
        "day 1 brings no new detection"
    );
    assert!(
        !expected_updated.is_empty(),
        "day {later} changes no detection: {} served on day 0, {} on day {later}, {} in both",
        served0.len(),
        served1.len(),
        served1.keys().filter(|k| served0.contains_key(*k)).count()
    );

    let created: BTreeSet<String> = keys_of(&after, HOST_FINDING)
        .difference(&keys_of(&before, HOST_FINDING))
        .cloned()
        .collect();
    assert_eq!(created, expected_created, "created findings");
    let updated = changed_keys(&before, &after, HOST_FINDING);
    assert_eq!(updated, expected_updated, "updated findings");
    // Findings of hosts that Qualys no longer lists (purged) are deleted.
    let expected_deleted: BTreeSet<String> = served0
        .keys()
        .filter(|key| !listed1.contains(&host_of(key)))
        .cloned()
        .collect();
    let deleted: BTreeSet<String> = keys_of(&before, HOST_FINDING)
        .difference(&keys_of(&after, HOST_FINDING))
        .cloned()
        .collect();
    assert_eq!(deleted, expected_deleted, "deleted findings");

    let new_qids: BTreeSet<String> = qids(&served1)
        .difference(&qids(&served0))
        .map(|qid| format!("{qid}"))
        .collect();
    let created_vulns: BTreeSet<String> = keys_of(&after, VULN)
        .difference(&keys_of(&before, VULN))
        .filter_map(|key| key.rsplit(':').next().map(str::to_owned))
        .collect();
    assert_eq!(created_vulns, new_qids, "created qualys_vuln QIDs");

    // The report counts what the commit did across every type the instance owns.
    let all_created = after
        .entity_keys()
        .difference(&before.entity_keys())
        .count() as u64;
    let all_updated = before
        .entities
        .iter()
        .filter(|(key, value)| {
            after
                .entities
                .get(*key)
                .is_some_and(|other| other != *value)
        })
        .count() as u64;
    assert_eq!(second.report.entities_created, all_created);
    assert_eq!(second.report.entities_updated, all_updated);
    let all_deleted = before
        .entity_keys()
        .difference(&after.entity_keys())
        .count() as u64;
    assert_eq!(
        second.report.entities_deleted + second.report.findings_retired,
        all_deleted
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn week_of_churn_applies_expected_changes() {
    // Every host is scanned at least once a week, so a 7-day window contains them all.
    churn_applies_expected_changes(30, 7).await;
}

/// NOTE: fails because the simulator changes a detection's status (Fixed,
/// Re-Opened) on a day its host was not scanned, and the sync reads
/// detections only of hosts processed in the window. Qualys changes a
/// status only when it processes a scan of the host, so the simulator's
/// churn is the likely fault (see the report).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_one_churn_applies_expected_changes() {
    // With 60 hosts, day 1 fixes one detection and re-opens another.
    churn_applies_expected_changes(60, 1).await;
}
