//! Values the store returns and the options a sync run takes.

use std::collections::BTreeMap;
use std::fmt;

use qgraph_model::{Entity, Relationship};
use serde::{Deserialize, Serialize};

/// The id of an integration instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstanceId(pub i64);

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The reserved scope that owns mapper placeholders and global-rule relationships.
pub const MAPPER_INSTANCE: InstanceId = InstanceId(0);

/// What an instance is, which decides the `_source` of what it owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceKind {
    /// A configured Qualys account; its objects are `integration-managed`.
    Qualys,
    /// A graph imported from JupiterOne integration files; `integration-external`.
    Import,
    /// The mapper scope; `system-mapper`.
    Mapper,
}

impl InstanceKind {
    /// Returns the name stored in the `instances.kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceKind::Qualys => "qualys",
            InstanceKind::Import => "import",
            InstanceKind::Mapper => "mapper",
        }
    }

    /// Parses a stored kind; unknown text reads as `Import` so old rows stay readable.
    pub fn parse(text: &str) -> Self {
        match text {
            "qualys" => InstanceKind::Qualys,
            "mapper" => InstanceKind::Mapper,
            _ => InstanceKind::Import,
        }
    }

    /// Returns the `_source` of the objects an instance of this kind owns.
    pub fn source(self) -> &'static str {
        match self {
            InstanceKind::Qualys => "integration-managed",
            InstanceKind::Import => "integration-external",
            InstanceKind::Mapper => "system-mapper",
        }
    }
}

/// A new instance to register.
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// Unique name, such as the Qualys account name.
    pub name: String,
    pub kind: InstanceKind,
    /// Configuration without the password (the integration crate owns its fields).
    pub config: serde_json::Value,
    /// Stored encrypted; never returned by [`Instance`].
    pub password: Option<crate::Password>,
}

/// A registered instance. It never carries the password, only whether one is stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    pub id: InstanceId,
    pub name: String,
    pub kind: InstanceKind,
    pub config: serde_json::Value,
    pub has_password: bool,
    /// Epoch milliseconds.
    pub created_on: i64,
    /// Epoch milliseconds.
    pub updated_on: i64,
}

/// An entity as stored, with the metadata the store adds.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntity {
    /// Store-wide row id (`_id`).
    pub id: i64,
    pub instance_id: InstanceId,
    /// `_source`: `integration-managed`, `integration-external` or `system-mapper`.
    pub source: String,
    pub step_id: Option<String>,
    /// Epoch milliseconds.
    pub created_on: i64,
    /// Epoch milliseconds.
    pub updated_on: i64,
    pub version: i64,
    pub entity: Entity,
}

/// A relationship as stored, with its resolved endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRelationship {
    pub id: i64,
    pub instance_id: InstanceId,
    pub source: String,
    pub from_id: i64,
    pub to_id: i64,
    /// The mapped relationship definition it was resolved from, if any.
    pub mapping_id: Option<i64>,
    /// The global mapping rule it was made by, if any.
    pub rule_id: Option<i64>,
    /// Epoch milliseconds.
    pub created_on: i64,
    /// Epoch milliseconds.
    pub updated_on: i64,
    pub version: i64,
    /// `_fromEntityKey` and `_toEntityKey` are the endpoints' stored keys.
    pub relationship: Relationship,
}

/// The number of stored objects of one `_type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeCount {
    pub object_type: String,
    pub count: u64,
}

/// How the finding lifecycle applies to a run.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingLifecycle {
    /// Finding `_type`s, each with the property that names its host
    /// (`qualys_host_finding` → `hostId`) when it has one. A finding of a
    /// type with a host property is deleted when a complete host list (see
    /// [`SyncRun::add_listed_hosts`](crate::SyncRun::add_listed_hosts))
    /// lacks its host. Types without one, such as web-app findings, follow
    /// only the retention.
    pub finding_types: Vec<(String, Option<String>)>,
    /// Findings unchanged for longer than this are deleted, even when their
    /// type is partial. `None` keeps them forever.
    pub retention_days: Option<u32>,
}

impl Default for FindingLifecycle {
    fn default() -> Self {
        FindingLifecycle {
            finding_types: vec![
                ("qualys_host_finding".to_owned(), Some("hostId".to_owned())),
                ("qualys_web_app_finding".to_owned(), None),
            ],
            retention_days: None,
        }
    }
}

/// Options of one sync run.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOptions {
    /// The run's clock, epoch milliseconds; written to `_createdOn`/`_updatedOn`.
    pub now_ms: i64,
    pub findings: FindingLifecycle,
}

impl SyncOptions {
    /// Options with the given clock and the default finding lifecycle.
    pub fn at(now_ms: i64) -> Self {
        SyncOptions {
            now_ms,
            findings: FindingLifecycle::default(),
        }
    }
}

/// What a committed run changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    pub job_id: i64,
    pub status: Option<qgraph_model::RunStatus>,
    pub entities_created: u64,
    pub entities_updated: u64,
    pub entities_deleted: u64,
    pub relationships_created: u64,
    pub relationships_updated: u64,
    pub relationships_deleted: u64,
    /// Keys emitted more than once in the run; the copies were merged.
    pub duplicate_keys: u64,
    /// Relationships whose endpoint key is not an entity of the instance; skipped.
    pub dangling_relationships: u64,
    /// Findings deleted because their host is no longer listed or their retention passed.
    pub findings_retired: u64,
    /// Mapped relationship definitions stored, changed and removed.
    pub mapped_created: u64,
    pub mapped_updated: u64,
    pub mapped_deleted: u64,
    /// Relationships the mapper resolved from the definitions.
    pub mapper_relationships_created: u64,
    pub mapper_relationships_updated: u64,
    pub mapper_relationships_deleted: u64,
    pub placeholders_created: u64,
    pub placeholders_deleted: u64,
    pub rule_relationships_created: u64,
    pub rule_relationships_deleted: u64,
    /// Mapped relationship definitions of the instance that relate nothing
    /// after the commit: no entity matched a definition that skips target
    /// creation, or its source entity is missing.
    #[serde(default)]
    pub mapped_without_target: u64,
    /// Types treated as partial (nothing of them deleted for being missing).
    pub partial_types: Vec<String>,
}

/// The status of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Running,
    Success,
    PartialSuccess,
    Failure,
    /// The run died or was dropped before its commit; nothing of it was stored.
    Aborted,
}

impl JobStatus {
    /// Returns the name stored in `jobs.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "RUNNING",
            JobStatus::Success => "SUCCESS",
            JobStatus::PartialSuccess => "PARTIAL_SUCCESS",
            JobStatus::Failure => "FAILURE",
            JobStatus::Aborted => "ABORTED",
        }
    }

    /// Parses a stored status; unknown text reads as `Aborted`.
    pub fn parse(text: &str) -> Self {
        match text {
            "RUNNING" => JobStatus::Running,
            "SUCCESS" => JobStatus::Success,
            "PARTIAL_SUCCESS" => JobStatus::PartialSuccess,
            "FAILURE" => JobStatus::Failure,
            _ => JobStatus::Aborted,
        }
    }
}

impl From<qgraph_model::RunStatus> for JobStatus {
    fn from(status: qgraph_model::RunStatus) -> Self {
        match status {
            qgraph_model::RunStatus::Success => JobStatus::Success,
            qgraph_model::RunStatus::PartialSuccess => JobStatus::PartialSuccess,
            qgraph_model::RunStatus::Failure => JobStatus::Failure,
        }
    }
}

/// One step of a recorded job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobStepRecord {
    pub step_id: String,
    pub status: qgraph_model::StepStatus,
    pub started_on: i64,
    pub ended_on: i64,
    pub counts: BTreeMap<String, u64>,
    pub errors: Vec<qgraph_model::StepError>,
}

/// One recorded run of an instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRecord {
    pub id: i64,
    pub instance_id: InstanceId,
    pub started_on: i64,
    pub ended_on: Option<i64>,
    pub status: JobStatus,
    /// The commit's counters; `None` when the job never committed.
    pub report: Option<SyncReport>,
    pub error: Option<String>,
    pub steps: Vec<JobStepRecord>,
}

/// What removing an instance deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RemovalReport {
    pub entities_deleted: u64,
    pub relationships_deleted: u64,
    pub jobs_deleted: u64,
}

/// One cached knowledge-base entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KbEntry {
    pub qid: i64,
    /// The parsed KB entry as JSON.
    pub document: serde_json::Value,
    /// Epoch milliseconds.
    pub fetched_on: i64,
}
