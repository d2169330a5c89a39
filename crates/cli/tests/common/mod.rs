//! Helpers shared by the cli test suites: temporary directories, a generated
//! simulator whose data is recent, and instance configurations.

#![allow(dead_code, reason = "each test suite uses a different subset")]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use qgraph_cli::demo::generated_start_secs;
use qgraph_integration::config::ScalarInput;
use qgraph_integration::{RawConfig, Secret};
use qgraph_qualys_sim::{GeneratedConfig, RunningSimulator, SimConfig, Simulator};
use qgraph_store::{GraphStore, SqliteStore};

/// The password the simulator accepts; tests check it never leaks.
pub const SIM_PASSWORD: &str = qgraph_qualys_sim::DEFAULT_PASSWORD;
/// A wrong password that tests also check never leaks.
pub const WRONG_PASSWORD: &str = "wrong-secret-4711";

/// A fresh directory under the system temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("qgraph-cli-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn db(&self) -> PathBuf {
        self.0.join("graph.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts a generated simulator of `hosts` hosts whose day 0 is yesterday,
/// so its scans fall inside the default 7-day windows.
pub async fn start_sim(hosts: u64) -> RunningSimulator {
    let generated = GeneratedConfig {
        hosts,
        seed: 7,
        start_secs: generated_start_secs(qgraph_cli::now_ms()),
        ..GeneratedConfig::default()
    };
    Simulator::start(SimConfig::generated(generated))
        .await
        .unwrap()
}

/// Builds a configuration for the simulator at `api_url` with `password`.
pub fn sim_config(api_url: &str, password: &str) -> RawConfig {
    RawConfig {
        qualys_username: Some(qgraph_qualys_sim::DEFAULT_USERNAME.to_owned()),
        qualys_password: Some(Secret::new(password)),
        qualys_api_url: Some(api_url.to_owned()),
        ingest_web_app_scans: Some(ScalarInput::Bool(true)),
        ..RawConfig::default()
    }
}

pub fn open_store(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(dir.db()).unwrap()
}

/// Entity counts by `_type`, as (type, count) pairs.
pub fn entity_counts(store: &SqliteStore) -> Vec<(String, u64)> {
    store
        .count_entities_by_type()
        .unwrap()
        .into_iter()
        .map(|c| (c.object_type, c.count))
        .collect()
}

/// Relationship counts by `_type`, as (type, count) pairs.
pub fn relationship_counts(store: &SqliteStore) -> Vec<(String, u64)> {
    store
        .count_relationships_by_type()
        .unwrap()
        .into_iter()
        .map(|c| (c.object_type, c.count))
        .collect()
}

/// Returns the count of one type, 0 when absent.
pub fn count_of(counts: &[(String, u64)], object_type: &str) -> u64 {
    counts
        .iter()
        .find(|(t, _)| t == object_type)
        .map_or(0, |(_, c)| *c)
}
