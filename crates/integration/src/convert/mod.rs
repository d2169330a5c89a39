//! Pure converters from Qualys records to graph objects.

mod account;
mod detections;
mod hosts;
mod knowledge_base;
mod web_apps;

pub use account::{
    VMDR_SERVICE_KEY, WAS_SERVICE_KEY, account_entity, service_entities, service_relationships,
};
pub use detections::{
    FindingOptions, finding_key_from_parts, host_finding_entity, host_finding_key,
};
pub use hosts::{HostTargets, host_scans_relationship, host_targets};
pub use knowledge_base::{
    MAX_SOLUTION_CHARS, cve_entity, cve_key, finding_is_cve, finding_is_vuln, vuln_entity, vuln_key,
};
pub(crate) use knowledge_base::{merge_cve, vuln_cve_ids};
pub use web_apps::{
    web_app_finding_entity, web_app_finding_key, web_app_identified_finding,
    web_app_scans_relationship,
};

/// Maximum characters of detection results kept in a finding's `details`.
pub const MAX_DETAILS_CHARS: usize = 300;

/// Returns the data-model severity word of a Qualys severity (1 to 5).
pub fn severity_word(severity: Option<u8>) -> &'static str {
    match severity {
        None | Some(1) => "informational",
        Some(0) => "none",
        Some(2) => "low",
        Some(3) => "medium",
        Some(4) => "high",
        Some(_) => "critical",
    }
}

/// Returns the data-model numeric severity (1 to 10) of a Qualys severity (1 to 5).
pub fn numeric_severity(severity: Option<u8>) -> i64 {
    match severity {
        None | Some(0 | 1) => 1,
        Some(2) => 4,
        Some(3) => 6,
        Some(4) => 8,
        Some(_) => 10,
    }
}

/// Cuts text to at most `max` characters, on a character boundary.
pub(crate) fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// Returns the trimmed text when it is not empty.
pub(crate) fn non_empty(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

/// Appends a value unless it is empty or already present.
pub(crate) fn push_unique(values: &mut Vec<String>, value: Option<&str>) {
    if let Some(value) = non_empty(value)
        && !values.iter().any(|v| v == value)
    {
        values.push(value.to_owned());
    }
}

/// Makes a tag key usable in a `tag.<key>` property name, whose allowed
/// characters are letters, digits, `.`, `-` and space.
pub(crate) fn tag_property(key: &str) -> Option<String> {
    let cleaned: String = key
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ' ') {
                c
            } else {
                '-'
            }
        })
        .collect();
    (!cleaned.is_empty()).then(|| format!("tag.{cleaned}"))
}
