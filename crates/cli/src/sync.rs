//! The glue that runs one sync of a registered instance. It reads the
//! configuration and password from the store and connects to Qualys. Then it
//! runs the integration's steps into a store sync run and commits the result
//! with the window ends and knowledge-base entries.

use std::collections::{BTreeMap, HashMap};

use futures_util::StreamExt as _;
use qgraph_integration::SourceError;
use qgraph_integration::steps::ids;
use qgraph_integration::{
    Config, ConfigErrors, DataSet, KbEntry, RawConfig, RunError, RunInput, RunObserver, Secret,
    WindowState, run_sync,
};
use qgraph_model::{RunStatus, StepError, StepResult, StepStatus};
use qgraph_qualys::{ApiFamily, ClientConfig, HostIdQuery, QualysClient, QualysError, RetryPolicy};
use qgraph_store::{
    FindingLifecycle, GraphStore, Instance, StoreError, SyncOptions, SyncReport, SyncRun,
};

/// The `_type` of the knowledge-base entities the KB cache is rebuilt from.
const VULN_TYPE: &str = "qualys_vuln";
/// Host ids staged per store call while listing every host.
const HOST_BATCH: usize = 10_000;

/// The inputs of a sync besides the store and the instance name.
pub struct SyncRequest<'a> {
    /// The run's clock, epoch milliseconds: the end of every window and the
    /// `_createdOn`/`_updatedOn` of what the run writes.
    pub now_ms: i64,
    /// Receives step starts, progress, results and Qualys waits.
    pub observer: &'a dyn RunObserver,
    /// Client timings that replace the defaults.
    pub client: ClientOverrides,
}

impl<'a> SyncRequest<'a> {
    /// Creates a request with the client's default timings.
    pub fn new(now_ms: i64, observer: &'a dyn RunObserver) -> Self {
        SyncRequest {
            now_ms,
            observer,
            client: ClientOverrides::default(),
        }
    }
}

/// Client timings that replace the defaults, for tests and benchmarks that
/// cannot wait for production backoffs. Waits that Qualys requests
/// (`SECONDS_TO_WAIT`, `X-RateLimit-ToWait-Sec`) are honoured whatever is set here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientOverrides {
    /// Retry attempts and backoff of every page; `None` keeps [`RetryPolicy::default`].
    pub retry: Option<RetryPolicy>,
    /// Wait after a concurrency limit (409 code 1960) that other clients
    /// hold, for both API families; `None` keeps the default of 10 seconds.
    pub concurrency_cooldown: Option<std::time::Duration>,
}

impl ClientOverrides {
    /// Applies the overrides that are set to `config`.
    pub fn apply(&self, config: &mut ClientConfig) {
        if let Some(retry) = &self.retry {
            config.retry = retry.clone();
        }
        if let Some(cooldown) = self.concurrency_cooldown {
            config.vm_governor.concurrency_cooldown = cooldown;
            config.qps_governor.concurrency_cooldown = cooldown;
        }
    }
}

/// The result of a sync that reached the commit.
#[derive(Debug, Clone)]
pub struct SyncSummary {
    /// The instance as registered.
    pub instance: Instance,
    /// `SUCCESS`, `PARTIAL_SUCCESS` or `FAILURE`, from the step results.
    pub status: RunStatus,
    /// Step results in execution order.
    pub steps: Vec<StepResult>,
    /// Counts of what the commit created, updated and deleted.
    pub report: SyncReport,
    /// QIDs of findings that the knowledge base did not return.
    pub unknown_qids: Vec<u64>,
}

impl SyncSummary {
    /// Returns the process exit status for this run: 0 success, 2 partial, 1 failure.
    pub fn exit_code(&self) -> u8 {
        exit_code(self.status)
    }
}

/// Returns the process exit status of a run status: 0 success, 2 partial, 1 failure.
pub fn exit_code(status: RunStatus) -> u8 {
    match status {
        RunStatus::Success => 0,
        RunStatus::PartialSuccess => 2,
        RunStatus::Failure => 1,
    }
}

/// A sync that ended before its commit. The graph is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(
        "integration instance {name:?} not found: run `qgraph integration list` to see the registered names"
    )]
    NotFound { name: String },

    #[error(
        "the stored configuration of instance {name:?} is not valid JSON for this version: {source}; remove and add the instance again"
    )]
    StoredConfig {
        name: String,
        #[source]
        source: serde_json::Error,
    },

    #[error(
        "the configuration of instance {name:?} is invalid: {errors}; fix it with `qgraph integration edit {name}`"
    )]
    InvalidConfig { name: String, errors: ConfigErrors },

    #[error(
        "instance {name:?} has no stored password: set one with `qgraph integration edit {name} --password-file FILE`"
    )]
    MissingPassword { name: String },

    #[error("failed to create the Qualys client for {api_url}: {source}")]
    Client {
        api_url: String,
        #[source]
        source: Box<QualysError>,
    },

    #[error(
        "cannot verify the Qualys account of instance {name:?} at {api_url}: {message}; check the user name and password with `qgraph integration edit {name}`, and that the API URL is the one of your Qualys platform"
    )]
    Verification {
        name: String,
        api_url: String,
        message: String,
        /// The Qualys error code, such as `INVALID_CREDENTIALS`, when there is one.
        code: Option<String>,
    },

    #[error(
        "the Qualys subscription of instance {name:?} at {api_url} has expired: renew it with Qualys, then run the sync again; the user name and password are not at fault ({message})"
    )]
    SubscriptionExpired {
        name: String,
        api_url: String,
        message: String,
        /// The Qualys error code: `EVALUATION_EXPIRED` or `2001`.
        code: String,
    },

    #[error(
        "Qualys rejected the credentials of instance {name:?} at {endpoint} during the sync ({message}); nothing of this run was stored: check the user name and password with `qgraph integration edit {name}`"
    )]
    CredentialsRejected {
        name: String,
        endpoint: String,
        message: String,
        /// The Qualys error code, or the HTTP status as text.
        code: String,
    },

    #[error(
        "Qualys at {api_url} answered the account check of instance {name:?} with a server error ({message}); the credentials were not checked: try again later"
    )]
    Unavailable {
        name: String,
        api_url: String,
        message: String,
    },

    #[error("graph store error: {0}")]
    Store(#[from] StoreError),
}

/// Syncs the instance `name` once and commits the result.
///
/// A failed credential check, a wrong API URL or a store error ends the run
/// before its commit: the job is recorded as failed and the graph is left
/// as it was. A failed step does not end the run: the commit keeps every
/// object of that step's types and the summary's status is partial.
pub async fn sync_instance<S: GraphStore>(
    store: &S,
    name: &str,
    request: &SyncRequest<'_>,
) -> Result<SyncSummary, SyncError> {
    let instance = store
        .instance_by_name(name)?
        .ok_or_else(|| SyncError::NotFound {
            name: name.to_owned(),
        })?;
    let config = load_config(store, &instance)?;
    let client = connect(&config, &request.client)?;
    let last_windows = load_windows(store, &instance, &config)?;
    let kb_cache = load_kb_cache(store, &instance)?;

    let mut run = store.begin_sync(instance.id, sync_options(&config, request.now_ms))?;
    let input = RunInput {
        instance_id: &instance.id.to_string(),
        config: &config,
        now_ms: request.now_ms,
        last_windows: &last_windows,
        kb_cache: &kb_cache,
        observer: request.observer,
    };
    let governors = [
        client.governor(ApiFamily::Vm),
        client.governor(ApiFamily::Qps),
    ];
    let fetched = crate::waits::while_reporting_waits(&governors, request.observer, async {
        let outcome = run_sync(&client, &mut run, &input).await;
        let mut listing_error = None;
        if outcome.is_ok() {
            match stage_listed_hosts(&client, &mut run).await? {
                Ok(()) => run.set_host_list_complete(),
                Err(error) => listing_error = Some(error),
            }
        }
        Ok::<_, StoreError>((outcome, listing_error))
    })
    .await?;
    let outcome = match fetched {
        (Ok(mut outcome), listing_error) => {
            if let Some(error) = listing_error {
                record_listing_error(&mut outcome, &error);
            }
            outcome
        }
        (Err(error), _) => {
            run.abort(&error.to_string())?;
            return Err(run_error(&instance.name, error));
        }
    };

    for (set, state) in &outcome.windows {
        run.set_window_end(set.as_str(), state.end_ms);
        run.set_window_end(&window_key(*set, state.days, &state.filters), state.end_ms);
    }
    // The job records the status this command prints and exits with.
    run.set_run_status(outcome.status);
    let report = run.commit(&outcome.declarations, &outcome.steps)?;
    store_kb_entries(store, &outcome.kb_entries)?;

    Ok(SyncSummary {
        instance,
        status: outcome.status,
        steps: outcome.steps,
        report,
        unknown_qids: outcome.unknown_qids,
    })
}

/// Returns the store options of a run: host findings whose host Qualys no
/// longer lists are deleted at the commit, web-app findings only after the
/// retention.
fn sync_options(config: &Config, now_ms: i64) -> SyncOptions {
    let findings = FindingLifecycle {
        retention_days: Some(config.findings_retention_days),
        ..FindingLifecycle::default()
    };
    SyncOptions { now_ms, findings }
}

/// Stages every host id Qualys lists (no scan window). Returns the error of
/// a failed page or record, because an incomplete list must not retire
/// findings.
async fn stage_listed_hosts<R: SyncRun>(
    client: &QualysClient,
    run: &mut R,
) -> Result<Result<(), QualysError>, StoreError> {
    let mut ranges = std::pin::pin!(client.host_ids(&HostIdQuery::default()));
    let mut batch: Vec<String> = Vec::with_capacity(HOST_BATCH);
    while let Some(item) = ranges.next().await {
        let range = match item {
            Ok(range) => range,
            Err(error) => return Ok(Err(error)),
        };
        for id in range.ids() {
            batch.push(id.to_string());
            if batch.len() >= HOST_BATCH {
                run.add_listed_hosts(&batch)?;
                batch.clear();
            }
        }
    }
    run.add_listed_hosts(&batch)?;
    Ok(Ok(()))
}

/// Records a failed listing of every host id as an error of the host ids
/// step, so the run is partial and the job shows why no finding of a host
/// Qualys no longer lists was deleted.
fn record_listing_error(outcome: &mut qgraph_integration::RunOutcome, error: &QualysError) {
    tracing::warn!(%error, "listing every host id failed");
    let step_error = StepError {
        message: format!(
            "listing every host id failed, so no finding of a host Qualys no longer lists \
             was deleted in this run: {error}"
        ),
        code: SourceError::code(error),
        endpoint: SourceError::endpoint(error),
    };
    if let Some(step) = outcome.steps.iter_mut().find(|s| s.id == ids::HOST_IDS) {
        step.status = StepStatus::Failure;
        step.errors.push(step_error);
    }
    if outcome.status == RunStatus::Success {
        outcome.status = RunStatus::PartialSuccess;
    }
}

/// Builds the client of an instance with the request's timing overrides.
fn connect(config: &Config, overrides: &ClientOverrides) -> Result<QualysClient, SyncError> {
    let client_error = |source| SyncError::Client {
        api_url: config.api_url.as_string(),
        source: Box::new(source),
    };
    let mut client_config =
        qgraph_integration::client::client_config(config).map_err(client_error)?;
    overrides.apply(&mut client_config);
    QualysClient::new(client_config).map_err(client_error)
}

fn run_error(name: &str, error: RunError<StoreError>) -> SyncError {
    match error {
        RunError::Verification {
            api_url,
            message,
            code,
        } => SyncError::Verification {
            name: name.to_owned(),
            api_url,
            message,
            code,
        },
        RunError::SubscriptionExpired {
            api_url,
            message,
            code,
        } => SyncError::SubscriptionExpired {
            name: name.to_owned(),
            api_url,
            message,
            code,
        },
        RunError::CredentialsRejected {
            endpoint,
            message,
            code,
            ..
        } => SyncError::CredentialsRejected {
            name: name.to_owned(),
            endpoint,
            message,
            code,
        },
        RunError::Unavailable { api_url, message } => SyncError::Unavailable {
            name: name.to_owned(),
            api_url,
            message,
        },
        RunError::Sink { source, .. } => SyncError::Store(source),
    }
}

/// Reads an instance's stored configuration and password and validates them.
pub fn load_config<S: GraphStore>(store: &S, instance: &Instance) -> Result<Config, SyncError> {
    let mut raw = stored_raw_config(instance)?;
    let password = store
        .password(instance.id)?
        .ok_or_else(|| SyncError::MissingPassword {
            name: instance.name.clone(),
        })?;
    raw.qualys_password = Some(Secret::new(password.expose()));
    raw.validate().map_err(|errors| SyncError::InvalidConfig {
        name: instance.name.clone(),
        errors,
    })
}

/// Parses an instance's stored configuration, which never contains the password.
pub fn stored_raw_config(instance: &Instance) -> Result<RawConfig, SyncError> {
    serde_json::from_value(instance.config.clone()).map_err(|source| SyncError::StoredConfig {
        name: instance.name.clone(),
        source,
    })
}

/// Names the sync state row of a data set after the days and filters it was
/// synced with, because the store keeps only a window end per name. A changed
/// configuration finds no row, so its first window reaches back the full days.
fn window_key(set: DataSet, days: f64, filters: &str) -> String {
    format!("{}#days={days};{filters}", set.as_str())
}

fn load_windows<S: GraphStore>(
    store: &S,
    instance: &Instance,
    config: &Config,
) -> Result<BTreeMap<DataSet, WindowState>, StoreError> {
    let mut windows = BTreeMap::new();
    for set in DataSet::ALL {
        let days = set.days(config);
        let filters = set.filter_fingerprint(config);
        if let Some(end_ms) = store.window_end(instance.id, &window_key(set, days, &filters))? {
            windows.insert(
                set,
                WindowState {
                    end_ms,
                    days,
                    filters,
                },
            );
        }
    }
    Ok(windows)
}

/// Rebuilds the knowledge-base cache from the instance's stored
/// `qualys_vuln` entities, which carry their CVE ids and fetch time.
fn load_kb_cache<S: GraphStore>(
    store: &S,
    instance: &Instance,
) -> Result<HashMap<u64, KbEntry>, StoreError> {
    let vulns = store.entities_by_type(VULN_TYPE, usize::MAX)?;
    Ok(vulns
        .iter()
        .filter(|stored| stored.instance_id == instance.id)
        .filter_map(|stored| KbEntry::from_vuln_entity(&stored.entity))
        .collect())
}

fn store_kb_entries<S: GraphStore>(
    store: &S,
    entries: &BTreeMap<u64, KbEntry>,
) -> Result<(), SyncError> {
    let mut stored = Vec::with_capacity(entries.len());
    for (qid, entry) in entries {
        let document = serde_json::to_value(entry).map_err(|source| {
            SyncError::Store(StoreError::EncodeJson {
                what: "knowledge-base entry",
                source,
            })
        })?;
        stored.push(qgraph_store::KbEntry {
            qid: i64::try_from(*qid).unwrap_or(i64::MAX),
            document,
            fetched_on: entry.fetched_on_ms,
        });
    }
    store.kb_put(&stored)?;
    Ok(())
}
