//! Replay of the recorded fixtures as one coherent subscription.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::collections::BTreeSet;

use common::*;
use qgraph_qualys_sim::client::Client;
use qgraph_qualys_sim::{SimConfig, SimError, Simulator};

async fn start_replay() -> (qgraph_qualys_sim::RunningSimulator, Client) {
    let sim = Simulator::start(SimConfig::replay(fixtures_dir()))
        .await
        .unwrap();
    let client = Client::with_defaults(&sim.base_url());
    (sim, client)
}

#[tokio::test]
async fn replay_serves_every_endpoint() {
    let (sim, client) = start_replay().await;
    let portal = parse_ok(&client.get(PORTAL).await.unwrap());
    assert_eq!(portal.one("Portal-Version/VM-VERSION"), "1.0.3");

    let base = sim.base_url();
    let hosts = walk_v2(
        &client,
        &base,
        &format!("{HOST_LIST}?action=list&details=None&truncation_limit=0"),
        None,
    )
    .await;
    let host_ids: BTreeSet<u64> = hosts[0].numbers("ID_SET/ID").into_iter().collect();
    assert!(host_ids.contains(&107_800_671), "the EC2 asset's host");
    assert!(
        host_ids.contains(&92_661_485),
        "a host of the detection recording"
    );

    let ids: Vec<String> = host_ids.iter().map(u64::to_string).collect();
    let detections = parse_ok(
        &client
            .post_form(
                DETECTION,
                &format!("action=list&show_igs=1&ids={}", ids.join(",")),
            )
            .await
            .unwrap(),
    );
    assert_eq!(
        detections.texts("HOST_LIST/HOST/ID").len(),
        6,
        "5 recorded hosts plus the fixture host"
    );
    assert_eq!(detections.texts("DETECTION/QID").len(), 32);

    let assets = walk_qps(
        &client,
        ASSETS,
        250,
        &[("qwebHostId", "IN", &ids.join(","))],
    )
    .await;
    let asset_hosts: BTreeSet<u64> = assets
        .iter()
        .flat_map(|d| d.numbers("HostAsset/qwebHostId"))
        .collect();
    // 14 hosts of the search recordings and 6 of the agent, Azure, EC2 and GCP list fixtures.
    assert_eq!(asset_hosts.len(), 20, "{asset_hosts:?}");

    let kb = parse_ok(
        &client
            .post_form(KB, "action=list&ids=316760,150454,6")
            .await
            .unwrap(),
    );
    assert_eq!(
        kb.numbers("VULN/QID"),
        vec![6, 316_760],
        "unknown QID 150454 is left out"
    );

    let apps = walk_qps(&client, WEB_APPS, 1, &[("isScanned", "EQUALS", "true")]).await;
    assert_eq!(apps.len(), 7);
    let app_ids: Vec<u64> = apps.iter().flat_map(|d| d.numbers("WebApp/id")).collect();
    let findings = walk_qps(
        &client,
        FINDINGS,
        250,
        &[("webApp.id", "IN", "238483925,238483924")],
    )
    .await;
    assert_eq!(
        findings
            .iter()
            .map(|d| d.texts("Finding/id").len())
            .sum::<usize>(),
        86
    );
    assert!(
        findings
            .iter()
            .flat_map(|d| d.numbers("Finding/webApp/id"))
            .all(|id| app_ids.contains(&id))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn replay_pages_hosts_and_detections() {
    let (sim, client) = start_replay().await;
    let base = sim.base_url();
    let all = walk_v2(
        &client,
        &base,
        &format!("{HOST_LIST}?action=list&details=None&truncation_limit=0"),
        None,
    )
    .await[0]
        .numbers("ID_SET/ID");
    for limit in [1, 4] {
        let pages = walk_v2(
            &client,
            &base,
            &format!("{HOST_LIST}?action=list&details=None&truncation_limit={limit}"),
            None,
        )
        .await;
        let ids: Vec<u64> = pages.iter().flat_map(|d| d.numbers("ID_SET/ID")).collect();
        assert_eq!(ids, all);
        let pages = walk_v2(
            &client,
            &base,
            DETECTION,
            Some(&format!("action=list&truncation_limit={limit}")),
        )
        .await;
        let hosts: Vec<u64> = pages
            .iter()
            .flat_map(|d| d.numbers("HOST_LIST/HOST/ID"))
            .collect();
        assert_eq!(hosts.len(), 6);
        assert_eq!(hosts.iter().collect::<BTreeSet<_>>().len(), 6);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn replay_of_missing_directory_fails() {
    let error = Simulator::start(SimConfig::replay("/nonexistent/fixtures"))
        .await
        .unwrap_err();
    assert!(matches!(error, SimError::FixtureRead { .. }), "{error}");
}
