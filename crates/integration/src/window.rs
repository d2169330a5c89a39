//! Incremental windows: the time range each data set requests from Qualys.
//!
//! A window starts where the last successful sync of the same data set
//! ended, but never earlier than `now - days`. It reaches back the full
//! `days` again when the user raised the days or changed a filter since that
//! sync, because the earlier windows never asked for the newly included data.

use serde::{Deserialize, Serialize};

use crate::config::{Config, DetectionType};
use crate::time::format_iso_seconds;

const MS_PER_DAY: f64 = 86_400_000.0;

/// A data set fetched through an incremental window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataSet {
    /// Host ids processed by a VM scan (`vm_processed_after`/`_before`).
    ScannedHosts,
    /// Host detections (`detection_updated_since`/`_before`).
    HostFindings,
    /// Scanned web apps (`lastScan.date`).
    WebApps,
    /// Web-app findings (`lastDetectedDate`).
    WebAppFindings,
}

impl DataSet {
    /// Every data set.
    pub const ALL: [DataSet; 4] = [
        DataSet::ScannedHosts,
        DataSet::HostFindings,
        DataSet::WebApps,
        DataSet::WebAppFindings,
    ];

    /// Returns the stable name used in storage, such as `host-findings`.
    pub fn as_str(self) -> &'static str {
        match self {
            DataSet::ScannedHosts => "scanned-hosts",
            DataSet::HostFindings => "host-findings",
            DataSet::WebApps => "web-apps",
            DataSet::WebAppFindings => "web-app-findings",
        }
    }

    /// Parses a name returned by [`DataSet::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|set| set.as_str() == name)
    }

    /// Returns the configured window length in days.
    pub fn days(self, config: &Config) -> f64 {
        match self {
            DataSet::ScannedHosts | DataSet::WebApps => config.min_scanned_since_days,
            DataSet::HostFindings | DataSet::WebAppFindings => config.min_findings_since_days,
        }
    }

    /// Returns a canonical text of the filters that decide what this data set
    /// contains, so a changed filter can trigger a back-fill.
    pub fn filter_fingerprint(self, config: &Config) -> String {
        match self {
            DataSet::ScannedHosts => String::new(),
            DataSet::HostFindings => {
                let severities: Vec<String> = config
                    .finding_severities
                    .iter()
                    .map(u8::to_string)
                    .collect();
                let types: Vec<&str> = config
                    .finding_types
                    .iter()
                    .map(|t| DetectionType::as_str(*t))
                    .collect();
                let qids: Vec<String> = config.result_qids.iter().map(u64::to_string).collect();
                format!(
                    "severities={};types={};resultQids={};tags={}",
                    severities.join(","),
                    types.join(","),
                    qids.join(","),
                    config.include_only_tags.join(",")
                )
            }
            DataSet::WebApps | DataSet::WebAppFindings => {
                let ids: Vec<String> = config.web_app_ids.iter().map(u64::to_string).collect();
                format!("webAppIds={}", ids.join(","))
            }
        }
    }
}

/// The stored state of the last successful sync of one data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowState {
    /// End of the window, epoch milliseconds.
    pub end_ms: i64,
    /// The configured days at that sync.
    pub days: f64,
    /// [`DataSet::filter_fingerprint`] at that sync.
    pub filters: String,
}

/// The time range one data set requests in this run.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Start, epoch milliseconds, whole seconds.
    pub start_ms: i64,
    /// End, epoch milliseconds, whole seconds.
    pub end_ms: i64,
    /// True when the window reaches back the full configured days although an
    /// earlier sync exists (raised days, changed filters, or a clock that went back).
    pub backfill: bool,
}

impl Window {
    /// Returns the start as Qualys expects it, `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn start_iso(&self) -> String {
        format_iso_seconds(self.start_ms)
    }

    /// Returns the end as Qualys expects it, `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn end_iso(&self) -> String {
        format_iso_seconds(self.end_ms)
    }

    /// Returns the state to store once this window was synced successfully.
    pub fn to_state(&self, days: f64, filters: String) -> WindowState {
        WindowState {
            end_ms: self.end_ms,
            days,
            filters,
        }
    }
}

/// Computes the window of one data set from the current time, the configured
/// days and filters, and the state of its last successful sync.
pub fn compute_window(now_ms: i64, days: f64, filters: &str, last: Option<&WindowState>) -> Window {
    let end_ms = floor_to_second(now_ms);
    let floor_ms = floor_to_second(end_ms - (days * MS_PER_DAY).round() as i64);

    let Some(last) = last else {
        return Window {
            start_ms: floor_ms,
            end_ms,
            backfill: false,
        };
    };

    // Windows never ask for data the earlier windows left out on purpose,
    // so a wider filter or more days needs the full range once.
    let widened = days > last.days || filters != last.filters;
    let clock_went_back = last.end_ms > end_ms;
    if widened || clock_went_back {
        return Window {
            start_ms: floor_ms,
            end_ms,
            backfill: true,
        };
    }
    Window {
        start_ms: floor_ms.max(last.end_ms),
        end_ms,
        backfill: false,
    }
}

fn floor_to_second(ms: i64) -> i64 {
    ms.div_euclid(1000) * 1000
}

/// The windows of all data sets for one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunWindows {
    pub scanned_hosts: Window,
    pub host_findings: Window,
    pub web_apps: Window,
    pub web_app_findings: Window,
}

impl RunWindows {
    /// Computes every window; `last` returns the stored state of a data set.
    pub fn compute(
        config: &Config,
        now_ms: i64,
        last: impl Fn(DataSet) -> Option<WindowState>,
    ) -> Self {
        let window = |set: DataSet| {
            compute_window(
                now_ms,
                set.days(config),
                &set.filter_fingerprint(config),
                last(set).as_ref(),
            )
        };
        RunWindows {
            scanned_hosts: window(DataSet::ScannedHosts),
            host_findings: window(DataSet::HostFindings),
            web_apps: window(DataSet::WebApps),
            web_app_findings: window(DataSet::WebAppFindings),
        }
    }

    /// Returns the window of one data set.
    pub fn get(&self, set: DataSet) -> &Window {
        match set {
            DataSet::ScannedHosts => &self.scanned_hosts,
            DataSet::HostFindings => &self.host_findings,
            DataSet::WebApps => &self.web_apps,
            DataSet::WebAppFindings => &self.web_app_findings,
        }
    }
}
