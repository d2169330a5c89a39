//! The second configuration stage: defaults, parsing and range checks.

use std::fmt;

use super::api_url::{API_URL_ALLOWED, ApiUrl};
use super::raw::{ListInput, RawConfig, ScalarInput};
use super::{Config, DetectionType, PollingInterval};
use crate::secret::Secret;
use qgraph_qualys::Loopback;

/// Minimum window, in days, of the scan and finding filters (14.4 minutes).
pub const MIN_WINDOW_DAYS: f64 = 0.01;
/// Maximum window, in days, of the scan and finding filters.
pub const MAX_WINDOW_DAYS: f64 = 3650.0;
/// Maximum finding retention, in days.
pub const MAX_RETENTION_DAYS: u32 = 3650;
/// Maximum account name length, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Maximum description length, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// Maximum Qualys user name length, in characters.
pub const MAX_USERNAME_CHARS: usize = 100;
/// Maximum Qualys password length, in characters.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Maximum API URL length, in characters. A Qualys API URL is a scheme and a
/// host name, which DNS limits to 253 characters.
pub const MAX_API_URL_CHARS: usize = 300;
/// Maximum length of one Qualys tag name, in characters.
pub const MAX_TAG_CHARS: usize = 255;
/// Maximum number of items in one list field.
pub const MAX_LIST_ITEMS: usize = 1000;
/// Characters of a rejected value that an error message repeats.
const SHOWN_VALUE_CHARS: usize = 60;

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
        /// The rejected value as given (never a password), cut to 60 characters.
        value: String,
        allowed: String,
    },

    /// A rejected secret. The message never contains its value.
    #[error("invalid {field} (value not shown): expected {allowed}")]
    InvalidSecret {
        field: &'static str,
        allowed: String,
    },
}

impl ConfigError {
    /// Returns the camelCase name of the field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            ConfigError::Missing { field, .. }
            | ConfigError::Invalid { field, .. }
            | ConfigError::InvalidSecret { field, .. } => field,
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

fn invalid(field: &'static str, value: &str, allowed: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        value: shown_value(value),
        allowed: allowed.into(),
    }
}

/// Cuts a rejected value for an error message, so a huge input does not
/// become a huge message.
fn shown_value(value: &str) -> String {
    let total = value.chars().count();
    if total <= SHOWN_VALUE_CHARS {
        return value.to_owned();
    }
    let head: String = value.chars().take(SHOWN_VALUE_CHARS).collect();
    format!("{head}… ({total} characters)")
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
        let include_only_tags = check.take(
            tag_names(self.include_only_detection_tags.as_ref()),
            Vec::new(),
        );
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
    let name = required("accountName", "QUALYS_ACCOUNT_NAME", value)?;
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
        return Err(invalid(
            "description",
            text,
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
        _ => Err(invalid(field, &text, "true or false")),
    }
}

fn username(value: Option<&str>) -> Result<String, ConfigError> {
    let name = required("qualysUsername", "QUALYS_USERNAME", value)?;
    if name.chars().count() > MAX_USERNAME_CHARS
        || name.contains(':')
        || name.chars().any(char::is_control)
    {
        return Err(invalid(
            "qualysUsername",
            name,
            format!(
                "a Qualys user name of 1 to {MAX_USERNAME_CHARS} characters without ':' or control characters (HTTP Basic authentication cannot carry them)"
            ),
        ));
    }
    Ok(name.to_owned())
}

fn password(value: Option<&Secret>) -> Result<Secret, ConfigError> {
    let secret = match value {
        Some(secret) if !secret.expose().trim().is_empty() => secret,
        _ => {
            return Err(ConfigError::Missing {
                field: "qualysPassword",
                env: "QUALYS_PASSWORD",
            });
        }
    };
    let text = secret.expose();
    // A line break or other control character in a password almost surely
    // comes from a copy-paste accident, such as a second line of a file.
    if text.chars().count() > MAX_PASSWORD_CHARS || text.chars().any(char::is_control) {
        return Err(ConfigError::InvalidSecret {
            field: "qualysPassword",
            allowed: format!(
                "1 to {MAX_PASSWORD_CHARS} characters on one line, without control characters"
            ),
        });
    }
    Ok(secret.clone())
}

fn api_url(value: Option<&str>) -> Result<Option<ApiUrl>, ConfigError> {
    let text = required("qualysApiUrl", "QUALYS_API_URL", value)?;
    if text.chars().count() > MAX_API_URL_CHARS {
        return Err(invalid(
            "qualysApiUrl",
            text,
            format!("{API_URL_ALLOWED}, at most {MAX_API_URL_CHARS} characters"),
        ));
    }
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
    let trimmed = text.trim();
    // Plain decimals only: `f64` parsing would also take `1e-300`, `inf` and
    // `NaN`, none of which is a number of days a user means.
    let days = is_plain_decimal(trimmed)
        .then(|| trimmed.parse::<f64>().ok())
        .flatten();
    match days {
        Some(days) if (MIN_WINDOW_DAYS..=MAX_WINDOW_DAYS).contains(&days) => Ok(days),
        _ => Err(invalid(
            field,
            &text,
            format!(
                "a decimal number of days from {MIN_WINDOW_DAYS} to {MAX_WINDOW_DAYS}, such as 7 or 0.25 (six hours), without sign or exponent"
            ),
        )),
    }
}

/// True for digits with at most one decimal point, such as `7`, `0.25` or `.5`.
fn is_plain_decimal(text: &str) -> bool {
    let mut digits = 0;
    let mut points = 0;
    for c in text.chars() {
        match c {
            '0'..='9' => digits += 1,
            '.' => points += 1,
            _ => return false,
        }
    }
    digits > 0 && points <= 1
}

/// Returns the items of a list field, or an error when there are more than [`MAX_LIST_ITEMS`].
fn list_items(field: &'static str, value: Option<&ListInput>) -> Result<Vec<String>, ConfigError> {
    let items = value.map(ListInput::items).unwrap_or_default();
    if items.len() > MAX_LIST_ITEMS {
        let first = items.first().map(String::as_str).unwrap_or_default();
        return Err(invalid(
            field,
            &format!("{first},… ({} items)", items.len()),
            format!("at most {MAX_LIST_ITEMS} items"),
        ));
    }
    Ok(items)
}

fn severities(value: Option<&ListInput>) -> Result<Vec<u8>, ConfigError> {
    const ALLOWED: &str = "severities from 1 to 5 separated by commas, such as 3,4,5";
    let Some(list) = value else {
        return Ok(DEFAULT_SEVERITIES.to_vec());
    };
    let items = list_items("vmdrFindingSeverities", Some(list))?;
    if items.is_empty() {
        // An empty list would sync no detection at all, so it is taken as a mistake.
        return Err(invalid(
            "vmdrFindingSeverities",
            &list_text(list),
            "at least one severity from 1 to 5, such as 3,4,5",
        ));
    }
    let mut parsed = Vec::with_capacity(items.len());
    for item in items {
        match item.parse::<u8>() {
            Ok(severity @ 1..=5) => parsed.push(severity),
            _ => return Err(invalid("vmdrFindingSeverities", &item, ALLOWED)),
        }
    }
    parsed.sort_unstable();
    parsed.dedup();
    Ok(parsed)
}

/// Returns a list as the user wrote it, for the message that rejects it.
fn list_text(list: &ListInput) -> String {
    match list {
        ListInput::Text(text) => text.clone(),
        ListInput::Items(items) => {
            let texts: Vec<String> = items.iter().map(ScalarInput::to_text).collect();
            format!("[{}]", texts.join(","))
        }
    }
}

fn detection_types(value: Option<&ListInput>) -> Result<Vec<DetectionType>, ConfigError> {
    const ALLOWED: &str = "Info, Potential or Confirmed, separated by commas";
    let Some(list) = value else {
        return Ok(DEFAULT_TYPES.to_vec());
    };
    let items = list_items("vmdrFindingTypes", Some(list))?;
    if items.is_empty() {
        return Err(invalid(
            "vmdrFindingTypes",
            &list_text(list),
            format!("at least one of {ALLOWED}"),
        ));
    }
    let mut parsed = Vec::with_capacity(items.len());
    for item in items {
        match DetectionType::parse(&item) {
            Some(detection_type) => parsed.push(detection_type),
            None => return Err(invalid("vmdrFindingTypes", &item, ALLOWED)),
        }
    }
    parsed.sort_unstable();
    parsed.dedup();
    Ok(parsed)
}

fn id_list(field: &'static str, value: Option<&ListInput>) -> Result<Vec<u64>, ConfigError> {
    let mut ids = Vec::new();
    for item in list_items(field, value)? {
        match item.parse::<u64>() {
            Ok(id) if id > 0 => ids.push(id),
            _ => {
                return Err(invalid(
                    field,
                    &item,
                    "positive whole numbers separated by commas",
                ));
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

fn tag_names(value: Option<&ListInput>) -> Result<Vec<String>, ConfigError> {
    let mut names: Vec<String> = Vec::new();
    for item in list_items("includeOnlyDetectionTags", value)? {
        if item.chars().count() > MAX_TAG_CHARS || item.chars().any(char::is_control) {
            return Err(invalid(
                "includeOnlyDetectionTags",
                &item,
                format!(
                    "Qualys tag names of 1 to {MAX_TAG_CHARS} characters without control characters, separated by commas"
                ),
            ));
        }
        if !names.contains(&item) {
            names.push(item);
        }
    }
    Ok(names)
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
    let trimmed = text.trim();
    // `u32` parsing alone would also take a leading `+`.
    let days = trimmed
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| trimmed.parse::<u32>().ok())
        .flatten();
    match days {
        // A retention shorter than the findings window would delete findings
        // that the window still returns.
        Some(days) if (minimum..=MAX_RETENTION_DAYS).contains(&days) => Ok(days),
        _ => Err(invalid(
            "findingsRetentionDays",
            &text,
            format!(
                "a whole number of days from {minimum} (minFindingsSinceDays, rounded up) to {MAX_RETENTION_DAYS}"
            ),
        )),
    }
}
