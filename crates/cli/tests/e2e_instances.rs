//! End to end around instances: bad credentials and a wrong API URL end
//! with a message that names the URL and the fix and leave the graph as it
//! was, and removing one of two instances deletes only its data.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;
mod e2e_support;

use common::{SIM_PASSWORD, TempDir, WRONG_PASSWORD, open_store, sim_config};
use e2e_support::{
    HOUR_MS, Snapshot, add, fixed_generated, fixed_now_ms, point_at, snapshot_diff,
    start_generated, sync_at,
};
use qgraph_cli::instances::{CheckOptions, InstanceError, add_instance, edit_instance};
use qgraph_cli::sync::SyncError;
use qgraph_integration::{RawConfig, Secret};
use qgraph_model::RunStatus;
use qgraph_qualys_sim::{Endpoint, FaultKind, FaultRule};
use qgraph_store::{GraphStore, JobStatus, SqliteStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Syncs instance `name` once on a day-0 simulator and returns the graph.
async fn synced_store(dir: &TempDir, name: &str, api_url: &str) -> (SqliteStore, Snapshot) {
    let store = open_store(dir);
    add(&store, name, sim_config(api_url, SIM_PASSWORD)).await;
    let first = sync_at(&store, name, fixed_now_ms(0)).await.unwrap();
    assert_eq!(first.status, RunStatus::Success, "{:?}", first.steps);
    let snapshot = Snapshot::read(&store, None);
    assert!(!snapshot.entities.is_empty());
    (store, snapshot)
}

/// Checks the last job of `name` failed without leaking `secret`.
fn assert_failed_job(store: &SqliteStore, name: &str, secret: &str) {
    let instance = store.instance_by_name(name).unwrap().unwrap();
    let jobs = store.jobs(instance.id, 1).unwrap();
    assert_eq!(jobs[0].status, JobStatus::Failure);
    let error = jobs[0].error.clone().unwrap_or_default();
    assert!(!error.contains(secret), "the password leaked: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_names_url_and_fix() {
    let sim = start_generated(fixed_generated(10, 0)).await;
    let sim_url = sim.base_url();
    let dir = TempDir::new("e2e-password");
    let (store, before) = synced_store(&dir, "b", &sim.base_url()).await;
    let wrong = RawConfig {
        qualys_password: Some(Secret::new(WRONG_PASSWORD)),
        ..RawConfig::default()
    };
    edit_instance(&store, "b", wrong, e2e_support::UNCHECKED)
        .await
        .unwrap();

    let error = sync_at(&store, "b", fixed_now_ms(0) + HOUR_MS)
        .await
        .unwrap_err();
    sim.shutdown().await;

    let message = error.to_string();
    assert!(matches!(error, SyncError::Verification { .. }), "{message}");
    assert!(message.contains(&sim_url), "{message}");
    assert!(message.contains("user name and password"), "{message}");
    assert!(message.contains("qgraph integration edit b"), "{message}");
    assert!(!format!("{error:?}").contains(WRONG_PASSWORD));
    let after = Snapshot::read(&store, None);
    assert!(snapshot_diff(&before, &after).is_empty());
    assert_failed_job(&store, "b", WRONG_PASSWORD);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_credentials_on_qps_leave_graph() {
    // Qualys responds to a QPS call with bad credentials with HTTP 200 and
    // `INVALID_CREDENTIALS`, which must not pass for a portal version.
    let sim = start_generated(fixed_generated(10, 0)).await;
    let sim_url = sim.base_url();
    let dir = TempDir::new("e2e-invalid-credentials");
    let (store, before) = synced_store(&dir, "c", &sim.base_url()).await;
    sim.handle().inject(FaultRule::always(
        Endpoint::PortalVersion,
        FaultKind::InvalidCredentials,
    ));

    let error = sync_at(&store, "c", fixed_now_ms(0) + HOUR_MS)
        .await
        .unwrap_err();
    sim.shutdown().await;

    let message = error.to_string();
    assert!(
        matches!(&error, SyncError::Verification { code: Some(code), .. } if code == "INVALID_CREDENTIALS"),
        "{message}"
    );
    assert!(message.contains(&sim_url), "{message}");
    assert!(Snapshot::read(&store, None) == before, "the graph changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_with_wrong_password_stores_nothing() {
    let sim = start_generated(fixed_generated(5, 0)).await;
    let sim_url = sim.base_url();
    let dir = TempDir::new("e2e-add-wrong");
    let store = open_store(&dir);
    let checked = CheckOptions {
        allow_loopback: true,
        verify: true,
    };

    let error = add_instance(
        &store,
        "a",
        sim_config(&sim.base_url(), WRONG_PASSWORD),
        checked,
    )
    .await
    .unwrap_err();
    sim.shutdown().await;

    let message = error.to_string();
    assert!(
        matches!(error, InstanceError::Verification { .. }),
        "{message}"
    );
    assert!(message.contains(&sim_url), "{message}");
    assert!(message.contains("--no-verify"), "{message}");
    assert!(!message.contains(WRONG_PASSWORD), "{message}");
    assert!(store.list_instances().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_port_url_names_url_and_fix() {
    let sim = start_generated(fixed_generated(10, 0)).await;
    let sim_url = sim.base_url();
    let dir = TempDir::new("e2e-closed-port");
    let (store, before) = synced_store(&dir, "u", &sim_url).await;
    // Bind a port, then free it, so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let wrong_url = format!("http://127.0.0.1:{port}");
    point_at(&store, "u", &wrong_url).await;

    let error = sync_at(&store, "u", fixed_now_ms(0) + HOUR_MS)
        .await
        .unwrap_err();
    sim.shutdown().await;

    let message = error.to_string();
    assert!(matches!(error, SyncError::Verification { .. }), "{message}");
    assert!(message.contains(&wrong_url), "{message}");
    assert!(message.contains("API URL"), "{message}");
    assert!(Snapshot::read(&store, None) == before, "the graph changed");
    assert_failed_job(&store, "u", SIM_PASSWORD);
}

/// Serves `404 Not Found` with an HTML body to every request, as a web
/// server that is not a Qualys API does.
async fn start_not_qualys() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0_u8; 16 * 1024];
                let _ = socket.read(&mut buffer).await;
                let body = "<html><body>Not Found</body></html>";
                let response = format!(
                    "HTTP/1.1 404 Not Found\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_qualys_server_names_url_and_fix() {
    let sim = start_generated(fixed_generated(10, 0)).await;
    let sim_url = sim.base_url();
    let dir = TempDir::new("e2e-not-qualys");
    let (store, before) = synced_store(&dir, "n", &sim_url).await;
    let wrong_url = start_not_qualys().await;
    point_at(&store, "n", &wrong_url).await;

    let error = sync_at(&store, "n", fixed_now_ms(0) + HOUR_MS)
        .await
        .unwrap_err();
    sim.shutdown().await;

    let message = error.to_string();
    assert!(matches!(error, SyncError::Verification { .. }), "{message}");
    assert!(message.contains(&wrong_url), "{message}");
    assert!(message.contains("404"), "{message}");
    assert!(message.contains("API URL"), "{message}");
    assert!(Snapshot::read(&store, None) == before, "the graph changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_deletes_only_its_instance() {
    let sim_one = start_generated(fixed_generated(20, 0)).await;
    let mut other = fixed_generated(25, 0);
    other.seed = 99;
    let sim_two = start_generated(other).await;
    let now = fixed_now_ms(0);
    let dir = TempDir::new("e2e-remove");
    let store = open_store(&dir);
    let one = add(&store, "one", sim_config(&sim_one.base_url(), SIM_PASSWORD)).await;
    let two = add(&store, "two", sim_config(&sim_two.base_url(), SIM_PASSWORD)).await;
    sync_at(&store, "one", now).await.unwrap();
    sync_at(&store, "two", now).await.unwrap();
    // The same sync of "two" alone, in a store of its own, is what must remain.
    let alone_dir = TempDir::new("e2e-remove-alone");
    let alone_store = open_store(&alone_dir);
    // An unsynced first instance gives "two" the same instance id, which
    // the account key contains.
    add(
        &alone_store,
        "one",
        sim_config(&sim_one.base_url(), SIM_PASSWORD),
    )
    .await;
    add(
        &alone_store,
        "two",
        sim_config(&sim_two.base_url(), SIM_PASSWORD),
    )
    .await;
    sync_at(&alone_store, "two", now).await.unwrap();
    sim_one.shutdown().await;
    sim_two.shutdown().await;
    let one_before = Snapshot::read(&store, Some(one));
    let two_before = Snapshot::read(&store, Some(two));
    assert!(!one_before.entities.is_empty());

    let report = qgraph_cli::instances::remove_instance(&store, "one", now + HOUR_MS).unwrap();

    assert_eq!(report.entities_deleted, one_before.entities.len() as u64);
    assert_eq!(report.jobs_deleted, 1);
    assert!(store.instance_by_name("one").unwrap().is_none());
    assert!(Snapshot::read(&store, Some(one)).entities.is_empty());
    let two_after = Snapshot::read(&store, Some(two));
    let diff = snapshot_diff(&two_before, &two_after);
    assert!(diff.is_empty(), "instance two changed:\n{diff}");
    let expected = Snapshot::read(&alone_store, None);
    let actual = Snapshot::read(&store, None);
    let diff = snapshot_diff(&expected, &actual);
    assert!(
        diff.is_empty(),
        "the graph differs from a sync of instance two alone:\n{diff}"
    );
    assert_eq!(store.jobs(two, 10).unwrap().len(), 1);
}
