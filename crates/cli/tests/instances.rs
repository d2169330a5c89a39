//! Instance management through the library: add, list, show, edit and
//! remove on a temporary database, with the checks that come first.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;

use common::{SIM_PASSWORD, TempDir, WRONG_PASSWORD, open_store, sim_config, start_sim};
use qgraph_cli::instances::{
    CheckOptions, InstanceError, add_instance, edit_instance, remove_instance,
};
use qgraph_cli::sync::{load_config, stored_raw_config};
use qgraph_integration::config::ScalarInput;
use qgraph_integration::{RawConfig, Secret};
use qgraph_store::GraphStore;

const CHECKED: CheckOptions = CheckOptions {
    allow_loopback: true,
    verify: true,
};
const UNCHECKED: CheckOptions = CheckOptions {
    allow_loopback: true,
    verify: false,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_edit_remove_round_trip() {
    let sim = start_sim(5).await;
    let dir = TempDir::new("round-trip");
    let store = open_store(&dir);

    let added = add_instance(
        &store,
        "prod",
        sim_config(&sim.base_url(), SIM_PASSWORD),
        CHECKED,
    )
    .await
    .unwrap();
    assert_eq!(added.name, "prod");
    assert!(added.has_password);
    assert_eq!(added.config["accountName"], "prod");
    assert!(added.config.get("qualysPassword").is_none());
    let listed: Vec<String> = store
        .list_instances()
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(listed, ["prod"]);

    let changes = RawConfig {
        description: Some("changed".to_owned()),
        min_findings_since_days: Some(ScalarInput::Text("30".to_owned())),
        ..RawConfig::default()
    };
    let edited = edit_instance(&store, "prod", changes, CHECKED)
        .await
        .unwrap();
    let raw = stored_raw_config(&edited).unwrap();
    assert_eq!(raw.description.as_deref(), Some("changed"));
    assert_eq!(edited.config["minFindingsSinceDays"], "30");
    assert_eq!(edited.config["qualysApiUrl"], sim.base_url());
    assert_eq!(edited.config["ingestWebAppScans"], true);
    let config = load_config(&store, &edited).unwrap();
    assert_eq!(
        config.password.expose(),
        SIM_PASSWORD,
        "the password is kept"
    );

    let report = remove_instance(&store, "prod", qgraph_cli::now_ms()).unwrap();
    assert_eq!(report.jobs_deleted, 0);
    assert!(store.instance_by_name("prod").unwrap().is_none());
    assert!(store.list_instances().unwrap().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn loopback_url_needs_opt_in() {
    let dir = TempDir::new("loopback");
    let store = open_store(&dir);
    let checks = CheckOptions {
        allow_loopback: false,
        verify: false,
    };

    let error = add_instance(
        &store,
        "sim",
        sim_config("http://127.0.0.1:9", SIM_PASSWORD),
        checks,
    )
    .await
    .unwrap_err();

    assert!(
        matches!(error, InstanceError::LoopbackNotAllowed { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("http://127.0.0.1:9"), "{error}");
    assert!(
        error.to_string().contains("--allow-loopback-api-url"),
        "{error}"
    );
    assert!(store.list_instances().unwrap().is_empty());
}

#[tokio::test]
async fn duplicate_name_is_rejected() {
    let dir = TempDir::new("duplicate");
    let store = open_store(&dir);
    let config = sim_config("http://127.0.0.1:9", SIM_PASSWORD);
    add_instance(&store, "a", config.clone(), UNCHECKED)
        .await
        .unwrap();

    let error = add_instance(&store, "a", config, UNCHECKED)
        .await
        .unwrap_err();

    assert!(
        matches!(error, InstanceError::Exists { ref name } if name == "a"),
        "{error}"
    );
    assert_eq!(store.list_instances().unwrap().len(), 1);
}

#[tokio::test]
async fn invalid_field_names_field_and_value() {
    let dir = TempDir::new("invalid");
    let store = open_store(&dir);
    let mut config = sim_config("http://127.0.0.1:9", SIM_PASSWORD);
    config.min_scanned_since_days = Some(ScalarInput::Text("-3".to_owned()));

    let error = add_instance(&store, "bad", config, UNCHECKED)
        .await
        .unwrap_err();

    let text = error.to_string();
    assert!(matches!(error, InstanceError::Invalid { .. }), "{text}");
    assert!(text.contains("minScannedSinceDays"), "{text}");
    assert!(text.contains("-3"), "{text}");
    assert!(store.list_instances().unwrap().is_empty());
}

#[tokio::test]
async fn missing_password_is_invalid() {
    let dir = TempDir::new("no-password");
    let store = open_store(&dir);
    let mut config = sim_config("http://127.0.0.1:9", SIM_PASSWORD);
    config.qualys_password = None;

    let error = add_instance(&store, "x", config, UNCHECKED)
        .await
        .unwrap_err();

    assert!(error.to_string().contains("qualysPassword"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_store_nothing() {
    let sim = start_sim(5).await;
    let dir = TempDir::new("bad-credentials");
    let store = open_store(&dir);

    let error = add_instance(
        &store,
        "x",
        sim_config(&sim.base_url(), WRONG_PASSWORD),
        CHECKED,
    )
    .await
    .unwrap_err();

    let text = format!("{error} {error:?}");
    assert!(
        matches!(error, InstanceError::Verification { .. }),
        "{text}"
    );
    assert!(text.contains("--no-verify"), "{text}");
    assert!(
        !text.contains(WRONG_PASSWORD),
        "the password leaked: {text}"
    );
    assert!(store.list_instances().unwrap().is_empty());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_password_is_verified_then_stored() {
    let sim = start_sim(5).await;
    let dir = TempDir::new("edit-password");
    let store = open_store(&dir);
    add_instance(
        &store,
        "x",
        sim_config(&sim.base_url(), WRONG_PASSWORD),
        UNCHECKED,
    )
    .await
    .unwrap();

    let wrong = RawConfig {
        qualys_password: Some(Secret::new("still-wrong")),
        ..RawConfig::default()
    };
    let error = edit_instance(&store, "x", wrong, CHECKED)
        .await
        .unwrap_err();
    assert!(
        matches!(error, InstanceError::Verification { .. }),
        "{error}"
    );

    let right = RawConfig {
        qualys_password: Some(Secret::new(SIM_PASSWORD)),
        ..RawConfig::default()
    };
    let edited = edit_instance(&store, "x", right, CHECKED).await.unwrap();
    let config = load_config(&store, &edited).unwrap();
    assert_eq!(config.password.expose(), SIM_PASSWORD);
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_instance_is_not_found() {
    let dir = TempDir::new("unknown");
    let store = open_store(&dir);

    let edit = edit_instance(&store, "nope", RawConfig::default(), UNCHECKED).await;
    let remove = remove_instance(&store, "nope", 0);

    assert!(matches!(edit, Err(InstanceError::NotFound { .. })));
    assert!(matches!(remove, Err(InstanceError::NotFound { .. })));
}

#[tokio::test]
async fn edit_keeps_stored_loopback_url_without_flag() {
    let dir = TempDir::new("edit-loopback");
    let store = open_store(&dir);
    add_instance(
        &store,
        "x",
        sim_config("http://127.0.0.1:9", SIM_PASSWORD),
        UNCHECKED,
    )
    .await
    .unwrap();
    let strict = CheckOptions {
        allow_loopback: false,
        verify: false,
    };

    let description = RawConfig {
        description: Some("kept url".to_owned()),
        ..RawConfig::default()
    };
    let new_url = RawConfig {
        qualys_api_url: Some("http://127.0.0.1:10".to_owned()),
        ..RawConfig::default()
    };

    assert!(
        edit_instance(&store, "x", description, strict)
            .await
            .is_ok()
    );
    let error = edit_instance(&store, "x", new_url, strict)
        .await
        .unwrap_err();
    assert!(
        matches!(error, InstanceError::LoopbackNotAllowed { .. }),
        "{error}"
    );
}
