//! The sync runner: verifies the credentials, runs every step in order,
//! records each step's result and returns the run's outcome.

mod emit;
mod findings;
mod host_steps;
mod vuln_step;
mod web_steps;

use std::collections::{BTreeMap, HashMap};

use qgraph_model::{
    Entity, GraphSink, RunStatus, StepDeclaration, StepResult, StepStatus, partial_types,
};
use qgraph_qualys::PortalVersion;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::convert::HostTargets;
use crate::source::{QualysSource, SourceError};
use crate::steps::{ids, step_declarations};
use crate::window::{DataSet, RunWindows, WindowState};
use emit::{StepWriter, now_ms};
use findings::FindingIndex;

/// Knowledge-base entries older than this are fetched again.
pub const KB_REFRESH_DAYS: i64 = 30;

/// The cached facts of one knowledge-base entry, kept across runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KbEntry {
    /// CVE ids of the QID, upper case.
    pub cve_ids: Vec<String>,
    /// When the entry was fetched, epoch milliseconds.
    pub fetched_on_ms: i64,
}

impl KbEntry {
    /// Reads the cache entry back from a stored `qualys_vuln` entity
    /// (`qid`, `cveIds`, `kbFetchedOn`), so storage needs no separate table.
    pub fn from_vuln_entity(entity: &Entity) -> Option<(u64, KbEntry)> {
        let qid = entity
            .get("qid")?
            .as_i64()
            .and_then(|q| u64::try_from(q).ok())?;
        let fetched_on_ms = entity.get("kbFetchedOn")?.as_i64()?;
        let cve_ids = match entity.get("cveIds") {
            Some(qgraph_model::Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        Some((
            qid,
            KbEntry {
                cve_ids,
                fetched_on_ms,
            },
        ))
    }
}

/// Progress callbacks for a command-line progress bar or a job log.
pub trait RunObserver: Sync {
    /// Called before a step runs (or is skipped as disabled).
    fn step_started(&self, _step: &StepDeclaration) {}
    /// Called after each batch written, with the step's object count so far.
    fn progress(&self, _step_id: &str, _objects: u64) {}
    /// Called with each step's result.
    fn step_finished(&self, _result: &StepResult) {}
    /// Called at intervals while a wait that Qualys requested (rate or
    /// concurrency limit) delays every request, with the time left. The
    /// last call of a wait passes zero.
    fn qualys_wait(&self, _remaining: std::time::Duration) {}
}

/// An observer that ignores every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl RunObserver for NoProgress {}

/// Everything a run needs besides the Qualys source and the sink.
pub struct RunInput<'a> {
    /// Integration instance id; part of the account `_key`.
    pub instance_id: &'a str,
    pub config: &'a Config,
    /// Start of the run, epoch milliseconds; the end of every window.
    pub now_ms: i64,
    /// State of the last successful sync of each data set, from storage.
    pub last_windows: &'a BTreeMap<DataSet, WindowState>,
    /// Knowledge-base entries already stored, by QID.
    pub kb_cache: &'a HashMap<u64, KbEntry>,
    pub observer: &'a dyn RunObserver,
}

/// The outcome of a run that got past credential verification.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub status: RunStatus,
    /// Step results in execution order.
    pub steps: Vec<StepResult>,
    pub declarations: Vec<StepDeclaration>,
    /// Types that must not be deleted when this run is committed.
    pub partial_types: Vec<String>,
    /// Window states to store: only data sets whose steps all succeeded.
    pub windows: BTreeMap<DataSet, WindowState>,
    /// Knowledge-base entries fetched in this run, to add to the cache.
    pub kb_entries: BTreeMap<u64, KbEntry>,
    /// QIDs of findings that the knowledge base did not return.
    pub unknown_qids: Vec<u64>,
    pub portal: PortalVersion,
}

/// An error that ends a run before any step result. Nothing of the run should be committed.
#[derive(Debug, thiserror::Error)]
pub enum RunError<E: std::error::Error + 'static> {
    #[error(
        "cannot verify the Qualys account at {api_url}: {message}; check the user name, the password and that the API URL is the one of your Qualys platform"
    )]
    Verification {
        api_url: String,
        message: String,
        /// The Qualys error code, such as `INVALID_CREDENTIALS`, when there is one.
        code: Option<String>,
    },

    #[error(
        "the Qualys subscription at {api_url} has expired: renew it with Qualys; the user name and password are not at fault ({message})"
    )]
    SubscriptionExpired {
        api_url: String,
        message: String,
        /// The Qualys error code: `EVALUATION_EXPIRED` or `2001`.
        code: String,
    },

    #[error(
        "Qualys rejected the credentials at {endpoint} during the sync ({message}); nothing of this run was stored: check the user name and password, and that the user may call this API"
    )]
    CredentialsRejected {
        api_url: String,
        endpoint: String,
        message: String,
        /// The Qualys error code, or the HTTP status as text.
        code: String,
    },

    #[error(
        "Qualys at {api_url} answered the account check with a server error ({message}); the credentials were not checked: try again later"
    )]
    Unavailable { api_url: String, message: String },

    #[error("writing the graph objects of step {step} failed: {source}")]
    Sink {
        step: String,
        #[source]
        source: E,
    },
}

/// Maps a failed credential check to the error that names its cause.
fn verification_error<E: SourceError, K: std::error::Error + 'static>(
    config: &Config,
    error: &E,
) -> RunError<K> {
    let api_url = config.api_url.as_string();
    let message = error.to_string();
    match error.code() {
        Some(code) if qgraph_qualys::error::is_expired_code(&code) => {
            RunError::SubscriptionExpired {
                api_url,
                message,
                code,
            }
        }
        Some(code) if is_server_error_status(&code) => RunError::Unavailable { api_url, message },
        code => RunError::Verification {
            api_url,
            message,
            code,
        },
    }
}

/// True for an HTTP status of the 5xx class, as [`SourceError::code`] gives
/// it for HTTP errors without a Qualys code.
fn is_server_error_status(code: &str) -> bool {
    code.len() == 3 && code.starts_with('5') && code.bytes().all(|b| b.is_ascii_digit())
}

/// Returns the error that ends the run when a step's request was refused
/// for the account itself: an expired subscription, or credentials that
/// Qualys no longer accepts. Other steps would fail the same way, so the
/// run stops instead of storing a partial graph. A 403 (no right to one
/// API) only fails its step.
fn account_error<K: std::error::Error + 'static>(
    config: &Config,
    result: &StepResult,
) -> Option<RunError<K>> {
    result.errors.iter().find_map(|error| {
        let code = error.code.as_deref()?;
        let api_url = config.api_url.as_string();
        let message = error.message.clone();
        if qgraph_qualys::error::is_expired_code(code) {
            return Some(RunError::SubscriptionExpired {
                api_url,
                message,
                code: code.to_owned(),
            });
        }
        matches!(code, "INVALID_CREDENTIALS" | "2000" | "401").then(|| {
            RunError::CredentialsRejected {
                api_url,
                endpoint: error
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| "an endpoint".to_owned()),
                message,
                code: code.to_owned(),
            }
        })
    })
}

/// Data the steps pass on to later steps.
#[derive(Default)]
pub(crate) struct RunState {
    pub(crate) account: Option<Entity>,
    pub(crate) host_ids: Vec<u64>,
    pub(crate) targets: HashMap<u64, HostTargets>,
    /// True when a page or record of the host details step failed, so a host
    /// missing from `targets` may have details that were not read.
    pub(crate) host_details_failed: bool,
    pub(crate) host_findings: FindingIndex,
    /// Ids of the web apps returned by the web app step.
    pub(crate) web_app_ids: Vec<u64>,
    /// (QID, finding `_key`) of every web-app finding.
    pub(crate) web_findings: Vec<(u64, String)>,
    pub(crate) kb_entries: BTreeMap<u64, KbEntry>,
    pub(crate) unknown_qids: Vec<u64>,
}

/// The inputs every step reads.
pub(crate) struct StepContext<'a, S> {
    pub(crate) source: &'a S,
    pub(crate) input: &'a RunInput<'a>,
    pub(crate) windows: &'a RunWindows,
    pub(crate) portal: &'a PortalVersion,
}

/// Runs a sync: verifies the credentials with the portal version call, then
/// runs every step in order and writes their objects to `sink`.
///
/// A step whose request or page failed ends as failed; steps that depend on
/// it still run and end as partial. Returns an error, and writes nothing,
/// when verification fails; a sink error also ends the run.
pub async fn run_sync<S: QualysSource, K: GraphSink>(
    source: &S,
    sink: &mut K,
    input: &RunInput<'_>,
) -> Result<RunOutcome, RunError<K::Error>> {
    let portal = source
        .portal_version()
        .await
        .map_err(|error| verification_error(input.config, &error))?;

    let windows = RunWindows::compute(input.config, input.now_ms, |set| {
        input.last_windows.get(&set).cloned()
    });
    let context = StepContext {
        source,
        input,
        windows: &windows,
        portal: &portal,
    };
    let declarations = step_declarations();
    let mut state = RunState::default();
    let mut results: Vec<StepResult> = Vec::with_capacity(declarations.len());

    for declaration in &declarations {
        input.observer.step_started(declaration);
        let result = run_step(&context, sink, &mut state, declaration, &results).await?;
        input.observer.step_finished(&result);
        if let Some(error) = account_error(input.config, &result) {
            return Err(error);
        }
        results.push(result);
    }

    Ok(RunOutcome {
        status: run_status(&results),
        partial_types: partial_types(&declarations, &results),
        windows: advanced_windows(input.config, &windows, &results),
        steps: results,
        declarations,
        kb_entries: state.kb_entries,
        unknown_qids: state.unknown_qids,
        portal,
    })
}

fn status_of(results: &[StepResult], id: &str) -> Option<StepStatus> {
    results.iter().find(|r| r.id == id).map(|r| r.status)
}

fn step_is_disabled(config: &Config, id: &str) -> bool {
    !config.ingest_web_app_scans && matches!(id, ids::WEB_APPS | ids::WEB_APP_FINDINGS)
}

async fn run_step<S: QualysSource, K: GraphSink>(
    context: &StepContext<'_, S>,
    sink: &mut K,
    state: &mut RunState,
    declaration: &StepDeclaration,
    earlier: &[StepResult],
) -> Result<StepResult, RunError<K::Error>> {
    let id = declaration.id.as_str();
    if step_is_disabled(context.input.config, id) {
        let now = now_ms();
        return Ok(StepResult {
            id: id.to_owned(),
            status: StepStatus::Disabled,
            started_on: now,
            ended_on: now,
            counts: BTreeMap::new(),
            errors: Vec::new(),
        });
    }
    let dependency_failed = declaration.depends_on.iter().any(|dependency| {
        matches!(
            status_of(earlier, dependency),
            Some(StepStatus::Failure | StepStatus::PartialSuccessDueToDependencyFailure)
        )
    });

    let config = context.input.config;
    let account_tag = config
        .tag_with_account_name
        .then_some(config.account_name.as_str());
    let static_id = static_step_id(id);
    let mut writer = StepWriter::new(sink, context.input.observer, static_id, account_tag);
    let written = match static_id {
        ids::ACCOUNT => host_steps::account(context, &mut writer, state),
        ids::SERVICES => host_steps::services(context, &mut writer, state),
        ids::HOST_IDS => host_steps::host_ids(context, &mut writer, state).await,
        ids::HOST_DETAILS => host_steps::host_details(context, &mut writer, state).await,
        ids::HOST_DETECTIONS => host_steps::host_detections(context, &mut writer, state).await,
        ids::WEB_APPS => web_steps::web_apps(context, &mut writer, state).await,
        ids::WEB_APP_FINDINGS => web_steps::web_app_findings(context, &mut writer, state).await,
        _ => vuln_step::finding_vulns(context, &mut writer, state).await,
    };
    let sink_error = |source| RunError::Sink {
        step: id.to_owned(),
        source,
    };
    written.map_err(sink_error)?;
    writer.finish(dependency_failed).map_err(sink_error)
}

/// Maps a declared step id to its `'static` constant.
fn static_step_id(id: &str) -> &'static str {
    [
        ids::ACCOUNT,
        ids::SERVICES,
        ids::HOST_IDS,
        ids::HOST_DETAILS,
        ids::HOST_DETECTIONS,
        ids::WEB_APPS,
        ids::WEB_APP_FINDINGS,
    ]
    .into_iter()
    .find(|known| *known == id)
    .unwrap_or(ids::FINDING_VULNS)
}

/// Returns `SUCCESS` when no step failed, `FAILURE` when a step failed and no
/// step that reads from Qualys after verification wrote anything, and
/// `PARTIAL_SUCCESS` otherwise.
fn run_status(results: &[StepResult]) -> RunStatus {
    let incomplete = |r: &StepResult| {
        matches!(
            r.status,
            StepStatus::Failure | StepStatus::PartialSuccessDueToDependencyFailure
        )
    };
    if !results.iter().any(incomplete) {
        return RunStatus::Success;
    }
    let fetched_anything = results
        .iter()
        .filter(|r| !matches!(r.id.as_str(), ids::ACCOUNT | ids::SERVICES))
        .any(|r| r.counts.values().any(|count| *count > 0));
    if fetched_anything {
        RunStatus::PartialSuccess
    } else {
        RunStatus::Failure
    }
}

/// Returns the window states to store: a data set advances only when every
/// step that reads it succeeded, so a failed page is asked for again next run.
fn advanced_windows(
    config: &Config,
    windows: &RunWindows,
    results: &[StepResult],
) -> BTreeMap<DataSet, WindowState> {
    let succeeded = |step_ids: &[&str]| {
        step_ids
            .iter()
            .all(|id| status_of(results, id) == Some(StepStatus::Success))
    };
    let mut advanced = BTreeMap::new();
    for set in DataSet::ALL {
        let steps: &[&str] = match set {
            DataSet::ScannedHosts => &[ids::HOST_IDS, ids::HOST_DETAILS, ids::HOST_DETECTIONS],
            DataSet::HostFindings => &[ids::HOST_IDS, ids::HOST_DETECTIONS],
            DataSet::WebApps => &[ids::WEB_APPS],
            DataSet::WebAppFindings => &[ids::WEB_APP_FINDINGS],
        };
        if succeeded(steps) {
            let state = windows
                .get(set)
                .to_state(set.days(config), set.filter_fingerprint(config));
            advanced.insert(set, state);
        }
    }
    advanced
}
