//! Instance configuration in two stages: [`RawConfig`] as written, then
//! [`Config`] after validation.

mod api_url;
mod name;
mod raw;
mod validate;

use std::fmt;

pub use api_url::ApiUrl;
pub use name::{InstanceNameError, MAX_INSTANCE_NAME_CHARS, validate_instance_name};
pub use raw::{FIELDS, FieldInfo, ListInput, RawConfig, ScalarInput};
pub use validate::{ConfigError, ConfigErrors};

use crate::secret::Secret;

/// How often the scheduler syncs an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PollingInterval {
    Disabled,
    ThirtyMinutes,
    OneHour,
    FourHours,
    EightHours,
    TwelveHours,
    OneDay,
    OneWeek,
}

impl PollingInterval {
    /// Every interval with its configuration name.
    pub const ALL: [(PollingInterval, &'static str); 8] = [
        (PollingInterval::Disabled, "DISABLED"),
        (PollingInterval::ThirtyMinutes, "THIRTY_MINUTES"),
        (PollingInterval::OneHour, "ONE_HOUR"),
        (PollingInterval::FourHours, "FOUR_HOURS"),
        (PollingInterval::EightHours, "EIGHT_HOURS"),
        (PollingInterval::TwelveHours, "TWELVE_HOURS"),
        (PollingInterval::OneDay, "ONE_DAY"),
        (PollingInterval::OneWeek, "ONE_WEEK"),
    ];

    /// Returns the configuration name, such as `ONE_DAY`.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(interval, _)| *interval == self)
            .map_or("DISABLED", |(_, name)| name)
    }

    /// Parses a configuration name in any letter case, with `-` or `_`.
    pub fn parse(text: &str) -> Option<Self> {
        let normal = text.trim().to_ascii_uppercase().replace('-', "_");
        Self::ALL
            .iter()
            .find(|(_, name)| *name == normal)
            .map(|(interval, _)| *interval)
    }

    /// Returns the period in seconds, or `None` when scheduling is disabled.
    pub fn period_secs(self) -> Option<u64> {
        match self {
            PollingInterval::Disabled => None,
            PollingInterval::ThirtyMinutes => Some(30 * 60),
            PollingInterval::OneHour => Some(3600),
            PollingInterval::FourHours => Some(4 * 3600),
            PollingInterval::EightHours => Some(8 * 3600),
            PollingInterval::TwelveHours => Some(12 * 3600),
            PollingInterval::OneDay => Some(86_400),
            PollingInterval::OneWeek => Some(7 * 86_400),
        }
    }
}

impl fmt::Display for PollingInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Qualys detection type (`TYPE` in the host detection output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DetectionType {
    Info,
    Potential,
    Confirmed,
}

impl DetectionType {
    /// Returns the name Qualys uses.
    pub fn as_str(self) -> &'static str {
        match self {
            DetectionType::Info => "Info",
            DetectionType::Potential => "Potential",
            DetectionType::Confirmed => "Confirmed",
        }
    }

    /// Parses a type name in any letter case.
    pub fn parse(text: &str) -> Option<Self> {
        [
            DetectionType::Info,
            DetectionType::Potential,
            DetectionType::Confirmed,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// A validated instance configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Instance name.
    pub account_name: String,
    /// Free text describing the instance.
    pub description: Option<String>,
    /// Sync schedule.
    pub polling_interval: PollingInterval,
    /// Whether entities get `tag.AccountName`.
    pub tag_with_account_name: bool,
    /// Qualys API user name.
    pub username: String,
    /// Qualys API password.
    pub password: Secret,
    /// Qualys API base URL.
    pub api_url: ApiUrl,
    /// Host scan window in days, greater than 0.
    pub min_scanned_since_days: f64,
    /// Finding update window in days, greater than 0.
    pub min_findings_since_days: f64,
    /// Detection severities to sync, sorted, each 1 to 5.
    pub finding_severities: Vec<u8>,
    /// Detection types to sync, sorted.
    pub finding_types: Vec<DetectionType>,
    /// QIDs whose results text is kept, sorted.
    pub result_qids: Vec<u64>,
    /// Qualys tag names that restrict detections, in input order.
    pub include_only_tags: Vec<String>,
    /// Whether web apps and their findings are synced.
    pub ingest_web_app_scans: bool,
    /// Web app ids that restrict the web apps synced, sorted.
    pub web_app_ids: Vec<u64>,
    /// Days after which a finding Qualys stopped returning is deleted.
    pub findings_retention_days: u32,
}

impl Config {
    /// Returns the raw form of this configuration, for storage and editing.
    pub fn to_raw(&self) -> RawConfig {
        let list =
            |items: Vec<String>| (!items.is_empty()).then(|| ListInput::Text(items.join(",")));
        let text = |value: String| Some(ScalarInput::Text(value));
        RawConfig {
            account_name: Some(self.account_name.clone()),
            description: self.description.clone(),
            polling_interval: Some(self.polling_interval.as_str().to_owned()),
            tag_with_account_name: Some(ScalarInput::Bool(self.tag_with_account_name)),
            qualys_username: Some(self.username.clone()),
            qualys_password: Some(self.password.clone()),
            qualys_api_url: Some(self.api_url.as_string()),
            min_scanned_since_days: text(self.min_scanned_since_days.to_string()),
            min_findings_since_days: text(self.min_findings_since_days.to_string()),
            vmdr_finding_severities: list(
                self.finding_severities.iter().map(u8::to_string).collect(),
            ),
            vmdr_finding_types: list(
                self.finding_types
                    .iter()
                    .map(|t| t.as_str().to_owned())
                    .collect(),
            ),
            vmdr_finding_result_qids: list(self.result_qids.iter().map(u64::to_string).collect()),
            include_only_detection_tags: list(self.include_only_tags.clone()),
            ingest_web_app_scans: Some(ScalarInput::Bool(self.ingest_web_app_scans)),
            web_app_scan_application_id_filter: list(
                self.web_app_ids.iter().map(u64::to_string).collect(),
            ),
            findings_retention_days: text(self.findings_retention_days.to_string()),
        }
    }

    /// Returns true when `Info` detections are synced, which decides `show_igs`.
    pub fn wants_info_detections(&self) -> bool {
        self.finding_types.contains(&DetectionType::Info)
    }
}
