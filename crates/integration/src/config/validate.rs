//! The second configuration stage: defaults, parsing and range checks.

use std::fmt;

use super::api_url::{API_URL_ALLOWED, ApiUrl};
use super::raw::{ListInput, RawConfig, ScalarInput};
use super::{Config, DetectionType, PollingInterval};
use crate::secret::Secret;
use qgraph_qualys::Loopback;

/// Maximum window, in days, of the scan and finding filters.
pub const MAX_WINDOW_DAYS: f64 = 3650.0;
/// Maximum finding retention, in days.
pub const MAX_RETENTION_DAYS: u32 = 3650;
/// Maximum account name length, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Maximum description length, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

const DEFAULT_WINDOW_DAYS: f64 = 7.0;
const DEFAULT_SEVERITIES: [u8; 3] = [3, 4, 5];
const DEFAULT_TYPES: [DetectionType; 2] = [DetectionType::Potential, DetectionType::Confirmed];
const DEFAULT_RETENTION_DAYS: u32 = 90;

/// One invalid or missing configuration field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing {field}: set it in the configuration or in the environment variable {env}")]
    Missing {
        field: &'static str,
        env: &'static str,
    },

    #[error("invalid {field} {value:?}: expected {allowed}")]
    Invalid {
        field: &'static str,
        /// The rejected value as given (never a password).
        value: String,
        allowed: String,
    },
}

impl ConfigError {
    /// Returns the camelCase name of the field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            ConfigError::Missing { field, .. } | ConfigError::Invalid { field, .. } => field,
        }
    }
}

/// Every problem found in one configuration, in field order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

fn invalid(
    field: &'static str,
    value: impl Into<String>,
    allowed: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        field,
        value: value.into(),
        allowed: allowed.into(),
    }
}

/// Collects errors while fields are checked one by one.
#[derive(Default)]
struct Checker {
    errors: Vec<ConfigError>,
}

impl Checker {
    fn take<T>(&mut self, result: Result<T, ConfigError>, fallback: T) -> T {
        result.unwrap_or_else(|error| {
            self.errors.push(error);
            fallback
        })
    }
}

impl RawConfig {
    /// Applies defaults and checks every field. Returns all problems at
    /// once, each naming the field, the rejected value and what is allowed.
    pub fn validate(&self) -> Result<Config, ConfigErrors> {
        let mut check = Checker::default();

        let account_name = check.take(account_name(self.account_name.as_deref()), String::new());
        let description = check.take(description(self.description.as_deref()), None);
        let polling_interval = check.take(
            polling_interval(self.polling_interval.as_deref()),
            PollingInterval::Disabled,
        );
        let tag_with_account_name = check.take(
            boolean(
                "tagWithAccountName",
                self.tag_with_account_name.as_ref(),
                false,
            ),
            false,
        );
        let username = check.take(username(self.qualys_username.as_deref()), String::new());
        let password = check.take(password(self.qualys_password.as_ref()), Secret::default());
        let api_url = check.take(api_url(self.qualys_api_url.as_deref()), None);
        let min_scanned_since_days = check.take(
            window_days("minScannedSinceDays", self.min_scanned_since_days.as_ref()),
            DEFAULT_WINDOW_DAYS,
        );
        let min_findings_since_days = check.take(
            window_days(
                "minFindingsSinceDays",
                self.min_findings_since_days.as_ref(),
            ),
            DEFAULT_WINDOW_DAYS,
        );
        let finding_severities = check.take(
            severities(self.vmdr_finding_severities.as_ref()),
            Vec::new(),
        );
        let finding_types = check.take(
            detection_types(self.vmdr_finding_types.as_ref()),
            Vec::new(),
        );
        let result_qids = check.take(
            id_list(
                "vmdrFindingResultQids",
                self.vmdr_finding_result_qids.as_ref(),
            ),
            Vec::new(),
        );
        let include_only_tags = tag_names(self.include_only_detection_tags.as_ref());
        let ingest_web_app_scans = check.take(
            boolean(
                "ingestWebAppScans",
                self.ingest_web_app_scans.as_ref(),
                false,
            ),
            false,
        );
        let web_app_ids = check.take(
            id_list(
                "webAppScanApplicationIDFilter",
                self.web_app_scan_application_id_filter.as_ref(),
            ),
            Vec::new(),
        );
        let findings_retention_days = check.take(
            retention_days(
                self.findings_retention_days.as_ref(),
                min_findings_since_days,
            ),
            DEFAULT_RETENTION_DAYS,
        );

        match api_url {
            Some(api_url) if check.errors.is_empty() => Ok(Config {
                account_name,
                description,
                polling_interval,
                tag_with_account_name,
                username,
                password,
                api_url,
                min_scanned_since_days,
                min_findings_since_days,
                finding_severities,
                finding_types,
                result_qids,
                include_only_tags,
                ingest_web_app_scans,
                web_app_ids,
                findings_retention_days,
            }),
            _ => Err(ConfigErrors(check.errors)),
        }
    }
}

fn required<'a>(
    field: &'static str,
    env: &'static str,
    value: Option<&'a str>,
) -> Result<&'a str, ConfigError> {
    match value.map(str::trim) {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(ConfigError::Missing { field, env }),
    }
}

fn account_name(value: Option<&str>) -> Result<String, ConfigError> {
    let name = required("accountName", "ACCOUNT_NAME", value)?;
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(invalid(
            "accountName",
            name,
            format!("1 to {MAX_NAME_CHARS} characters without control characters"),
        ));
    }
    Ok(name.to_owned())
}

fn description(value: Option<&str>) -> Result<Option<String>, ConfigError> {
    let Some(text) = value.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        let shown: String = text.chars().take(40).collect();
        return Err(invalid(
            "description",
            format!("{shown}…"),
            format!("at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(Some(text.to_owned()))
}

fn polling_interval(value: Option<&str>) -> Result<PollingInterval, ConfigError> {
    let Some(text) = value.filter(|t| !t.trim().is_empty()) else {
        return Ok(PollingInterval::OneDay);
    };
    PollingInterval::parse(text).ok_or_else(|| {
        let names: Vec<&str> = PollingInterval::ALL.iter().map(|(_, name)| *name).collect();
        invalid(
            "pollingInterval",
            text,
            format!("one of {}", names.join(", ")),
        )
    })
}

fn boolean(
    field: &'static str,
    value: Option<&ScalarInput>,
    default: bool,
) -> Result<bool, ConfigError> {
    let Some(text) = value.map(ScalarInput::to_text) else {
        return Ok(default);
    };
    match text.trim().to_ascii_lowercase().as_str() {
        "" => Ok(default),
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(field, text, "true or false")),
    }
}

fn username(value: Option<&str>) -> Result<String, ConfigError> {
    let name = required("qualysUsername", "QUALYS_USERNAME", value)?;
    if name.contains(':') || name.chars().any(char::is_control) {
        return Err(invalid(
            "qualysUsername",
            name,
            "a Qualys user name without ':' or control characters (HTTP Basic authentication cannot carry them)",
        ));
    }
    Ok(name.to_owned())
}

fn password(value: Option<&Secret>) -> Result<Secret, ConfigError> {
    match value {
        Some(secret) if !secret.expose().trim().is_empty() => Ok(secret.clone()),
        _ => Err(ConfigError::Missing {
            field: "qualysPassword",
            env: "QUALYS_PASSWORD",
        }),
    }
}

fn api_url(value: Option<&str>) -> Result<Option<ApiUrl>, ConfigError> {
    let text = required("qualysApiUrl", "QUALYS_API_URL", value)?;
    let url = ApiUrl::parse(text).map_err(|reason| {
        invalid(
            "qualysApiUrl",
            text,
            format!("{API_URL_ALLOWED} ({reason})"),
        )
    })?;
    // The client has its own list of Qualys platform hosts; a URL it would
    // reject must fail here, not at the first sync.
    let loopback = if url.is_loopback() {
        Loopback::Allow
    } else {
        Loopback::Reject
    };
    if let Err(error) = qgraph_qualys::ApiUrl::parse(&url.as_string(), loopback) {
        return Err(invalid(
            "qualysApiUrl",
            text,
            format!("{API_URL_ALLOWED} ({error})"),
        ));
    }
    Ok(Some(url))
}

fn window_days(field: &'static str, value: Option<&ScalarInput>) -> Result<f64, ConfigError> {
    let Some(text) = value
        .map(ScalarInput::to_text)
        .filter(|t| !t.trim().is_empty())
    else {
        return Ok(DEFAULT_WINDOW_DAYS);
    };
    match text.trim().parse::<f64>() {
        Ok(days) if days > 0.0 && days <= MAX_WINDOW_DAYS => Ok(days),
        _ => Err(invalid(
            field,
            text,
            format!(
                "a number of days greater than 0 and at most {MAX_WINDOW_DAYS}, fractions allowed (0.25 is six hours)"
            ),
        )),
    }
}

fn severities(value: Option<&ListInput>) -> Result<Vec<u8>, ConfigError> {
    let items = value.map(ListInput::items).unwrap_or_default();
    if items.is_empty() {
        return Ok(DEFAULT_SEVERITIES.to_vec());
    }
    let mut parsed = Vec::with_capacity(items.len());
    for item in items {
        match item.parse::<u8>() {
            Ok(severity @ 1..=5) => parsed.push(severity),
            _ => {
                return Err(invalid(
                    "vmdrFindingSeverities",
                    item,
                    "severities from 1 to 5, such as 3,4,5",
                ));
            }
        }
    }
    parsed.sort_unstable();
    parsed.dedup();
    Ok(parsed)
}

fn detection_types(value: Option<&ListInput>) -> Result<Vec<DetectionType>, ConfigError> {
    let items = value.map(ListInput::items).unwrap_or_default();
    if items.is_empty() {
        return Ok(DEFAULT_TYPES.to_vec());
    }
    let mut parsed = Vec::with_capacity(items.len());
    for item in items {
        match DetectionType::parse(&item) {
            Some(detection_type) => parsed.push(detection_type),
            None => {
                return Err(invalid(
                    "vmdrFindingTypes",
                    item,
                    "Info, Potential or Confirmed",
                ));
            }
        }
    }
    parsed.sort_unstable();
    parsed.dedup();
    Ok(parsed)
}

fn id_list(field: &'static str, value: Option<&ListInput>) -> Result<Vec<u64>, ConfigError> {
    let mut ids = Vec::new();
    for item in value.map(ListInput::items).unwrap_or_default() {
        match item.parse::<u64>() {
            Ok(id) if id > 0 => ids.push(id),
            _ => {
                return Err(invalid(
                    field,
                    item,
                    "positive whole numbers separated by commas",
                ));
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

fn tag_names(value: Option<&ListInput>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for item in value.map(ListInput::items).unwrap_or_default() {
        if !names.contains(&item) {
            names.push(item);
        }
    }
    names
}

fn retention_days(
    value: Option<&ScalarInput>,
    findings_window_days: f64,
) -> Result<u32, ConfigError> {
    let Some(text) = value
        .map(ScalarInput::to_text)
        .filter(|t| !t.trim().is_empty())
    else {
        return Ok(DEFAULT_RETENTION_DAYS.max(findings_window_days.ceil() as u32));
    };
    let minimum = (findings_window_days.ceil() as u32).max(1);
    match text.trim().parse::<u32>() {
        // A retention shorter than the findings window would delete findings
        // that the window still returns.
        Ok(days) if (minimum..=MAX_RETENTION_DAYS).contains(&days) => Ok(days),
        _ => Err(invalid(
            "findingsRetentionDays",
            text,
            format!(
                "a whole number of days from {minimum} (minFindingsSinceDays, rounded up) to {MAX_RETENTION_DAYS}"
            ),
        )),
    }
}
