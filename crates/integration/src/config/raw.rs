//! The first configuration stage: every field as the user wrote it, from a
//! file, the API, command-line flags or the environment.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// A scalar as written by the user: JSON may give a boolean or a number,
/// while flags and environment variables always give text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ScalarInput {
    Bool(bool),
    Number(serde_json::Number),
    Text(String),
}

impl ScalarInput {
    /// Returns the input as text, the form every parser in this crate reads.
    pub fn to_text(&self) -> String {
        match self {
            ScalarInput::Bool(b) => b.to_string(),
            ScalarInput::Number(n) => n.to_string(),
            ScalarInput::Text(s) => s.clone(),
        }
    }
}

/// A list as written by the user: a JSON array, or text separated by commas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ListInput {
    Items(Vec<ScalarInput>),
    Text(String),
}

impl ListInput {
    /// Splits the input into trimmed, non-empty items.
    pub fn items(&self) -> Vec<String> {
        let texts: Vec<String> = match self {
            ListInput::Items(items) => items.iter().map(ScalarInput::to_text).collect(),
            ListInput::Text(text) => text.split(',').map(str::to_owned).collect(),
        };
        texts
            .into_iter()
            .map(|item| item.trim().to_owned())
            .filter(|item| !item.is_empty())
            .collect()
    }
}

/// One Qualys instance configuration before validation. Each field is
/// optional here; [`RawConfig::validate`](crate::RawConfig::validate) applies
/// defaults and rejects invalid values. JSON keys are the camelCase names
/// below, and each field can also come from the environment variable listed
/// in [`FIELDS`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawConfig {
    /// Instance name shown in the graph (`Qualys - <name>`) and used for `tag.AccountName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    /// Free text describing the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How often the scheduler runs a sync, such as `ONE_DAY` or `DISABLED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polling_interval: Option<String>,
    /// Whether every entity gets `tag.AccountName` set to the account name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_with_account_name: Option<ScalarInput>,
    /// Qualys API user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualys_username: Option<String>,
    /// Qualys API password. Never serialized: the registry stores it encrypted on its own.
    #[serde(default, skip_serializing)]
    pub qualys_password: Option<Secret>,
    /// Base URL of the Qualys API server of the subscription's platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualys_api_url: Option<String>,
    /// Hosts processed by a VM scan in this many days (fractions allowed) are synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_scanned_since_days: Option<ScalarInput>,
    /// Detections and web-app findings updated in this many days (fractions allowed) are synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_findings_since_days: Option<ScalarInput>,
    /// Qualys detection severities (1 to 5) to sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmdr_finding_severities: Option<ListInput>,
    /// Detection types to sync: `Info`, `Potential`, `Confirmed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmdr_finding_types: Option<ListInput>,
    /// QIDs whose detection results text is kept on the finding (`details`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmdr_finding_result_qids: Option<ListInput>,
    /// Qualys tag names; when set, only detections of hosts with one of these tags are synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_only_detection_tags: Option<ListInput>,
    /// Whether web applications and their findings (Qualys WAS) are synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest_web_app_scans: Option<ScalarInput>,
    /// Web application ids; when set, only these web apps are synced.
    #[serde(
        default,
        rename = "webAppScanApplicationIDFilter",
        skip_serializing_if = "Option::is_none"
    )]
    pub web_app_scan_application_id_filter: Option<ListInput>,
    /// Findings not returned by Qualys for this many days are deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings_retention_days: Option<ScalarInput>,
}

/// Name, environment variable, default and meaning of one configuration field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldInfo {
    /// The camelCase key in JSON and in error messages.
    pub name: &'static str,
    /// The environment variable that can supply the field.
    pub env: &'static str,
    /// The default as text, or `None` when the field is required or empty by default.
    pub default: Option<&'static str>,
    /// One line for help text.
    pub help: &'static str,
}

const fn field(
    name: &'static str,
    env: &'static str,
    default: Option<&'static str>,
    help: &'static str,
) -> FieldInfo {
    FieldInfo {
        name,
        env,
        default,
        help,
    }
}

/// Every configuration field, in the order a form shows them.
pub const FIELDS: &[FieldInfo] = &[
    field(
        "accountName",
        "QUALYS_ACCOUNT_NAME",
        None,
        "instance name, required",
    ),
    field(
        "description",
        "QUALYS_DESCRIPTION",
        None,
        "free text describing the instance",
    ),
    field(
        "pollingInterval",
        "POLLING_INTERVAL",
        Some("ONE_DAY"),
        "sync schedule: DISABLED, THIRTY_MINUTES, ONE_HOUR, FOUR_HOURS, EIGHT_HOURS, TWELVE_HOURS, ONE_DAY or ONE_WEEK",
    ),
    field(
        "tagWithAccountName",
        "TAG_WITH_ACCOUNT_NAME",
        Some("false"),
        "set tag.AccountName on every entity",
    ),
    field(
        "qualysUsername",
        "QUALYS_USERNAME",
        None,
        "Qualys API user name, required",
    ),
    field(
        "qualysPassword",
        "QUALYS_PASSWORD",
        None,
        "Qualys API password, required",
    ),
    field(
        "qualysApiUrl",
        "QUALYS_API_URL",
        None,
        "Qualys API server URL such as https://qualysapi.qg3.apps.qualys.com, required",
    ),
    field(
        "minScannedSinceDays",
        "MIN_SCANNED_SINCE_DAYS",
        Some("7"),
        "sync hosts scanned in this many days",
    ),
    field(
        "minFindingsSinceDays",
        "MIN_FINDINGS_SINCE_DAYS",
        Some("7"),
        "sync findings updated in this many days",
    ),
    field(
        "vmdrFindingSeverities",
        "VMDR_FINDING_SEVERITIES",
        Some("3,4,5"),
        "detection severities to sync, 1 to 5",
    ),
    field(
        "vmdrFindingTypes",
        "VMDR_FINDING_TYPES",
        Some("Potential,Confirmed"),
        "detection types to sync: Info, Potential, Confirmed",
    ),
    field(
        "vmdrFindingResultQids",
        "VMDR_FINDING_RESULT_QIDS",
        None,
        "QIDs whose detection results are kept",
    ),
    field(
        "includeOnlyDetectionTags",
        "INCLUDE_ONLY_DETECTION_TAGS",
        None,
        "sync only detections of hosts with one of these Qualys tag names",
    ),
    field(
        "ingestWebAppScans",
        "INGEST_WEB_APP_SCANS",
        Some("false"),
        "sync web apps and web-app findings",
    ),
    field(
        "webAppScanApplicationIDFilter",
        "WEB_APP_SCAN_APPLICATION_ID_FILTER",
        None,
        "sync only these web app ids",
    ),
    field(
        "findingsRetentionDays",
        "FINDINGS_RETENTION_DAYS",
        Some("90"),
        "delete findings Qualys has not returned for this many days",
    ),
];

impl RawConfig {
    /// Reads every field from its environment variable through `lookup`
    /// (`|name| std::env::var(name).ok()` in production). Empty or blank
    /// values count as unset.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let text = |env: &str| lookup(env).filter(|value| !value.trim().is_empty());
        let scalar = |env: &str| text(env).map(ScalarInput::Text);
        let list = |env: &str| text(env).map(ListInput::Text);
        RawConfig {
            // Prefixed because `ACCOUNT_NAME` and `DESCRIPTION` are generic
            // names that other tools set for their own purposes.
            account_name: text("QUALYS_ACCOUNT_NAME"),
            description: text("QUALYS_DESCRIPTION"),
            polling_interval: text("POLLING_INTERVAL"),
            tag_with_account_name: scalar("TAG_WITH_ACCOUNT_NAME"),
            qualys_username: text("QUALYS_USERNAME"),
            qualys_password: text("QUALYS_PASSWORD").map(Secret::new),
            qualys_api_url: text("QUALYS_API_URL"),
            min_scanned_since_days: scalar("MIN_SCANNED_SINCE_DAYS"),
            min_findings_since_days: scalar("MIN_FINDINGS_SINCE_DAYS"),
            vmdr_finding_severities: list("VMDR_FINDING_SEVERITIES"),
            vmdr_finding_types: list("VMDR_FINDING_TYPES"),
            vmdr_finding_result_qids: list("VMDR_FINDING_RESULT_QIDS"),
            include_only_detection_tags: list("INCLUDE_ONLY_DETECTION_TAGS"),
            ingest_web_app_scans: scalar("INGEST_WEB_APP_SCANS"),
            web_app_scan_application_id_filter: list("WEB_APP_SCAN_APPLICATION_ID_FILTER"),
            findings_retention_days: scalar("FINDINGS_RETENTION_DAYS"),
        }
    }

    /// Returns the camelCase names of the fields set here, in [`FIELDS`] order.
    pub fn set_fields(&self) -> Vec<&'static str> {
        let set = [
            self.account_name.is_some(),
            self.description.is_some(),
            self.polling_interval.is_some(),
            self.tag_with_account_name.is_some(),
            self.qualys_username.is_some(),
            self.qualys_password.is_some(),
            self.qualys_api_url.is_some(),
            self.min_scanned_since_days.is_some(),
            self.min_findings_since_days.is_some(),
            self.vmdr_finding_severities.is_some(),
            self.vmdr_finding_types.is_some(),
            self.vmdr_finding_result_qids.is_some(),
            self.include_only_detection_tags.is_some(),
            self.ingest_web_app_scans.is_some(),
            self.web_app_scan_application_id_filter.is_some(),
            self.findings_retention_days.is_some(),
        ];
        FIELDS
            .iter()
            .zip(set)
            .filter(|(_, is_set)| *is_set)
            .map(|(field, _)| field.name)
            .collect()
    }

    /// Fills each field that is unset here from `fallback`. With
    /// `flags.or(RawConfig::from_env(..))` a flag wins over its environment
    /// variable, as with clap's `env` attribute.
    pub fn or(self, fallback: RawConfig) -> RawConfig {
        RawConfig {
            account_name: self.account_name.or(fallback.account_name),
            description: self.description.or(fallback.description),
            polling_interval: self.polling_interval.or(fallback.polling_interval),
            tag_with_account_name: self
                .tag_with_account_name
                .or(fallback.tag_with_account_name),
            qualys_username: self.qualys_username.or(fallback.qualys_username),
            qualys_password: self.qualys_password.or(fallback.qualys_password),
            qualys_api_url: self.qualys_api_url.or(fallback.qualys_api_url),
            min_scanned_since_days: self
                .min_scanned_since_days
                .or(fallback.min_scanned_since_days),
            min_findings_since_days: self
                .min_findings_since_days
                .or(fallback.min_findings_since_days),
            vmdr_finding_severities: self
                .vmdr_finding_severities
                .or(fallback.vmdr_finding_severities),
            vmdr_finding_types: self.vmdr_finding_types.or(fallback.vmdr_finding_types),
            vmdr_finding_result_qids: self
                .vmdr_finding_result_qids
                .or(fallback.vmdr_finding_result_qids),
            include_only_detection_tags: self
                .include_only_detection_tags
                .or(fallback.include_only_detection_tags),
            ingest_web_app_scans: self.ingest_web_app_scans.or(fallback.ingest_web_app_scans),
            web_app_scan_application_id_filter: self
                .web_app_scan_application_id_filter
                .or(fallback.web_app_scan_application_id_filter),
            findings_retention_days: self
                .findings_retention_days
                .or(fallback.findings_retention_days),
        }
    }
}
