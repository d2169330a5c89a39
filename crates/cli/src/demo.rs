//! `qgraph demo`: syncs a simulated Qualys subscription into a local graph
//! and shows what it holds.

use std::path::{Path, PathBuf};

use qgraph_integration::{RawConfig, RunObserver};
use qgraph_qualys_sim::{GeneratedConfig, RunningSimulator, SimConfig, SimError, Simulator};
use qgraph_query::{QueryOptions, format, run_query};
use qgraph_store::{GraphStore, SqliteStore, StoreError, TypeCount};

use crate::instances::{CheckOptions, InstanceError, add_instance, remove_instance};
use crate::sync::{SyncError, SyncRequest, SyncSummary, stored_raw_config, sync_instance};

/// Name of the instance the demo adds, replacing an earlier one.
pub const DEMO_INSTANCE: &str = "demo";
/// Hosts of the demo's generated subscription when `--hosts` is not given.
pub const DEFAULT_HOSTS: u64 = 300;
/// Seed of the demo's generated subscription when `--seed` is not given.
pub const DEFAULT_SEED: u64 = 1;

/// Days of simulated churn before the demo's sync, so that detections were
/// found, fixed and reopened inside the 7-day findings window.
pub const DEMO_DAY: u32 = 6;
const DAY_SECS: i64 = 86_400;

/// The recorded Qualys responses of the repository, for `--fixtures` without a directory.
pub const REPOSITORY_FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/qualys"
);

/// The example queries the demo runs, each with a line saying what it finds.
pub const EXAMPLE_QUERIES: &[(&str, &str)] = &[
    (
        "Open findings by severity",
        "FIND qualys_host_finding WITH open = true AS f RETURN f.severity, count(f)",
    ),
    (
        "Hosts the vulnerability manager scans, by type",
        "FIND qualys_vulnerability_manager THAT SCANS * AS h RETURN h._type, count(h)",
    ),
    (
        "Five CVEs of critical open findings",
        "FIND qualys_host_finding WITH numericSeverity >= 9 AND open = true THAT IS cve AS c RETURN c.displayName LIMIT 5",
    ),
    (
        "Web-app findings and the apps they were found on",
        "FIND qualys_web_app_finding AS f RETURN f.displayName, f.webAppId LIMIT 5",
    ),
];

/// The data source of the demo's simulator.
#[derive(Debug, Clone, PartialEq)]
pub enum DemoSource {
    /// A generated subscription.
    Generated { hosts: u64, seed: u64 },
    /// A replay of a directory of recorded Qualys responses.
    Fixtures(PathBuf),
}

/// Everything the demo needs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub source: DemoSource,
    /// The demo's own graph database.
    pub db_path: PathBuf,
    /// The clock of the sync and the queries, epoch milliseconds.
    pub now_ms: i64,
}

/// One example query with its result table or error.
#[derive(Debug, Clone)]
pub struct QueryAnswer {
    pub title: &'static str,
    pub query: &'static str,
    /// The result as a text table, or the query error.
    pub output: Result<String, String>,
}

/// The result of a demo run: the sync, the graph's counts and the query results.
#[derive(Debug, Clone)]
pub struct DemoOutcome {
    pub summary: SyncSummary,
    pub entity_counts: Vec<TypeCount>,
    pub relationship_counts: Vec<TypeCount>,
    pub answers: Vec<QueryAnswer>,
    /// The `qgraph sim` command line that serves the same data on the same port again.
    pub sim_command: String,
}

/// A demo that could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(
        "fixtures directory {path} not found: pass the directory of recorded Qualys responses, as in --fixtures DIR"
    )]
    FixturesNotFound { path: PathBuf },

    #[error("failed to start the Qualys simulator: {0}")]
    Simulator(#[from] SimError),

    /// The message names the database and the fix.
    #[error("{message}")]
    Open { message: String },

    #[error(
        "the database {path} already has an instance named `demo` that is not a demo (API URL {api_url}): \
         pass another database with --db, or remove that instance and its graph with \
         `qgraph integration remove demo --db {path}` if it is no longer needed"
    )]
    NotADemoInstance { path: PathBuf, api_url: String },

    #[error(transparent)]
    Instance(#[from] InstanceError),

    #[error(transparent)]
    Sync(#[from] SyncError),

    #[error("graph store error: {0}")]
    Store(#[from] StoreError),
}

/// Starts the simulator on loopback, replaces the `demo` instance in the
/// demo database, syncs it, counts the graph and runs the example queries.
/// The simulator is stopped before this returns.
pub async fn run_demo(
    options: &DemoOptions,
    observer: &dyn RunObserver,
) -> Result<DemoOutcome, DemoError> {
    let (sim_config, sim_args) = simulator_config(options)?;
    let sim = Simulator::start(sim_config).await?;
    let result = sync_demo(options, observer, &sim).await;
    let sim_command = format!("qgraph sim {sim_args} --port {}", sim.local_addr().port());
    sim.shutdown().await;
    let (summary, store) = result?;

    Ok(DemoOutcome {
        summary,
        entity_counts: store.count_entities_by_type()?,
        relationship_counts: store.count_relationships_by_type()?,
        answers: answer_examples(&store, options.now_ms),
        sim_command,
    })
}

/// Returns the simulator configuration and the `qgraph sim` arguments that give the same data.
fn simulator_config(options: &DemoOptions) -> Result<(SimConfig, String), DemoError> {
    match &options.source {
        DemoSource::Fixtures(dir) => {
            if !dir.is_dir() {
                return Err(DemoError::FixturesNotFound { path: dir.clone() });
            }
            let args = format!("--replay {}", dir.display());
            Ok((SimConfig::replay(dir.clone()), args))
        }
        DemoSource::Generated { hosts, seed } => {
            let start_secs = generated_start_secs(options.now_ms) - i64::from(DEMO_DAY) * DAY_SECS;
            let start_date = day_text(start_secs);
            let generated = GeneratedConfig {
                hosts: *hosts,
                seed: *seed,
                day: DEMO_DAY,
                start_secs,
                ..GeneratedConfig::default()
            };
            let args =
                format!("--hosts {hosts} --seed {seed} --day {DEMO_DAY} --start-date {start_date}");
            Ok((SimConfig::generated(generated), args))
        }
    }
}

/// Returns midnight UTC of the day before `now_ms`, in epoch seconds. As the
/// simulated current day, it puts scans and detections inside the default
/// 7-day windows and never later than the run's clock.
pub fn generated_start_secs(now_ms: i64) -> i64 {
    let today = (now_ms / 1000).div_euclid(DAY_SECS) * DAY_SECS;
    today - DAY_SECS
}

/// Formats epoch seconds as `YYYY-MM-DD`, the form `qgraph sim --start-date` takes.
fn day_text(secs: i64) -> String {
    let iso = qgraph_integration::time::format_iso_seconds(secs * 1000);
    iso.get(..10).unwrap_or(&iso).to_owned()
}

async fn sync_demo(
    options: &DemoOptions,
    observer: &dyn RunObserver,
    sim: &RunningSimulator,
) -> Result<(SyncSummary, SqliteStore), DemoError> {
    let store = open_store(&options.db_path)?;
    if let Some(existing) = store.instance_by_name(DEMO_INSTANCE)? {
        // Only a previous demo may be replaced: an instance named `demo` that
        // points at a real Qualys API belongs to the user.
        let api_url = stored_raw_config(&existing)?.qualys_api_url;
        if !api_url.as_deref().is_some_and(is_loopback_url) {
            return Err(DemoError::NotADemoInstance {
                path: options.db_path.clone(),
                api_url: api_url.unwrap_or_default(),
            });
        }
        remove_instance(&store, DEMO_INSTANCE, options.now_ms)?;
    }
    let checks = CheckOptions {
        allow_loopback: true,
        // The sync checks the credentials first anyway.
        verify: false,
    };
    add_instance(&store, DEMO_INSTANCE, demo_config(&sim.base_url()), checks).await?;

    let request = SyncRequest::new(options.now_ms, observer);
    let summary = sync_instance(&store, DEMO_INSTANCE, &request).await?;
    Ok((summary, store))
}

fn open_store(path: &Path) -> Result<SqliteStore, DemoError> {
    crate::db::open_path_advising(path, "pass --db PATH with").map_err(|error| DemoError::Open {
        message: crate::errors::error_chain_text(error.as_ref()),
    })
}

/// Builds the demo instance's configuration: the simulator's account with web-app scans included.
fn demo_config(api_url: &str) -> RawConfig {
    use qgraph_integration::config::ScalarInput;
    RawConfig {
        account_name: Some(DEMO_INSTANCE.to_owned()),
        description: Some("qgraph demo on the built-in Qualys simulator".to_owned()),
        polling_interval: Some("DISABLED".to_owned()),
        qualys_username: Some(qgraph_qualys_sim::DEFAULT_USERNAME.to_owned()),
        qualys_password: Some(qgraph_integration::Secret::new(
            qgraph_qualys_sim::DEFAULT_PASSWORD,
        )),
        qualys_api_url: Some(api_url.to_owned()),
        ingest_web_app_scans: Some(ScalarInput::Bool(true)),
        ..RawConfig::default()
    }
}

fn answer_examples(store: &SqliteStore, now_ms: i64) -> Vec<QueryAnswer> {
    EXAMPLE_QUERIES
        .iter()
        .map(|(title, query)| QueryAnswer {
            title,
            query,
            output: run_query(store, query, &QueryOptions::at(now_ms))
                .map(|result| format::to_table(&crate::escape::escape_result_controls(result)))
                .map_err(|error| error.to_string()),
        })
        .collect()
}

/// Returns true for an `http://` URL on a loopback host, as the demo's simulator uses.
fn is_loopback_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_loopback_url;

    #[test]
    fn loopback_urls_are_recognised() {
        for url in [
            "http://127.0.0.1:4000",
            "http://localhost:1",
            "http://[::1]:80",
            "http://127.0.0.1",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "https://qualysapi.qg3.apps.qualys.com",
            "http://10.0.0.1:80",
            "http://127.0.0.1.evil.example",
            "",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }
}
