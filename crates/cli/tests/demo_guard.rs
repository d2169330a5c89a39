//! `qgraph demo` replaces only its own instance: a user's instance that
//! happens to be named `demo` once lost its URL and password to the demo.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use common::{TempDir, open_store, sim_config};
use qgraph_cli::demo::{DemoError, DemoOptions, DemoSource, run_demo};
use qgraph_cli::instances::{CheckOptions, add_instance};
use qgraph_cli::sync::stored_raw_config;
use qgraph_integration::NoProgress;
use qgraph_store::GraphStore;

const REAL_URL: &str = "https://qualysapi.qg3.apps.qualys.com";

#[tokio::test]
async fn demo_keeps_user_instance_named_demo() {
    let dir = TempDir::new("demo-guard");
    {
        let store = open_store(&dir);
        let checks = CheckOptions {
            allow_loopback: false,
            verify: false,
        };
        add_instance(
            &store,
            "demo",
            sim_config(REAL_URL, "user-secret-1"),
            checks,
        )
        .await
        .unwrap();
    }

    let options = DemoOptions {
        source: DemoSource::Generated { hosts: 5, seed: 1 },
        db_path: dir.db(),
        now_ms: qgraph_cli::now_ms(),
    };
    let error = run_demo(&options, &NoProgress).await.unwrap_err();

    assert!(
        matches!(error, DemoError::NotADemoInstance { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(REAL_URL), "{error}");
    assert!(
        error
            .to_string()
            .contains("qgraph integration remove demo --db"),
        "the message names a command that exists: {error}"
    );
    let store = open_store(&dir);
    let instance = store.instance_by_name("demo").unwrap().unwrap();
    let url = stored_raw_config(&instance).unwrap().qualys_api_url;
    assert_eq!(url.as_deref(), Some(REAL_URL));
}
