//! Ground truth: what a generated subscription holds for given filters, computed with the
//! same filters the endpoints apply.

use std::collections::{BTreeMap, HashSet};

use crate::config::GeneratedConfig;
use crate::model::kb::Vuln;
use crate::model::{DetectionFilter, DetectionStatus, HostFilter, Subscription, TAG_NAMES};
use crate::render::was::{FindingFilter, findings};

/// Filters of a sync, as qgraph sends them to the endpoints.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SummaryFilter {
    /// Host list `vm_processed_after`, seconds since the epoch.
    pub vm_processed_after_secs: Option<i64>,
    /// Host list `vm_processed_before`, seconds since the epoch.
    pub vm_processed_before_secs: Option<i64>,
    /// Detection `detection_updated_since`, seconds since the epoch.
    pub detection_updated_since_secs: Option<i64>,
    /// Detection `detection_updated_before`, seconds since the epoch.
    pub detection_updated_before_secs: Option<i64>,
    /// Detection `severities`; `None` means 1 to 5.
    pub severities: Option<Vec<u8>>,
    /// Detection `status`; `None` means all four, as qgraph sends.
    pub statuses: Option<Vec<DetectionStatus>>,
    /// Detection `show_igs=1`: count information-gathered detections.
    pub include_info: bool,
    /// Detection `include_ignored=1`.
    pub include_ignored: bool,
    /// Detection `tag_set_include` by name with `use_tags=1`.
    pub tags: Option<Vec<String>>,
    /// Web apps whose last scan is after this time (`lastScan.date GREATER`).
    pub web_apps_scanned_after_secs: Option<i64>,
    /// Findings detected after this time (`lastDetectedDate GREATER`).
    pub findings_detected_after_secs: Option<i64>,
}

impl Default for SummaryFilter {
    fn default() -> Self {
        Self {
            vm_processed_after_secs: None,
            vm_processed_before_secs: None,
            detection_updated_since_secs: None,
            detection_updated_before_secs: None,
            severities: None,
            statuses: None,
            include_info: true,
            include_ignored: false,
            tags: None,
            web_apps_scanned_after_secs: None,
            findings_detected_after_secs: None,
        }
    }
}

/// Counts a sync with the given filters should find.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// The simulated current time.
    pub now: String,
    /// Hosts in the host list.
    pub hosts: u64,
    /// Hosts in the host list by kind (`agent`, `ec2`, `azure`, `gcp`, `on-premises`).
    pub hosts_by_kind: BTreeMap<String, u64>,
    /// Hosts listed by the detection endpoint (those with a matching detection).
    pub hosts_with_detections: u64,
    /// Matching detections of listed hosts.
    pub detections: u64,
    /// Detections by `TYPE`.
    pub detections_by_type: BTreeMap<String, u64>,
    /// Detections by `SEVERITY`.
    pub detections_by_severity: BTreeMap<String, u64>,
    /// Detections by `STATUS`.
    pub detections_by_status: BTreeMap<String, u64>,
    /// Distinct QIDs among the detections and web-app findings.
    pub vulns: u64,
    /// Distinct CVEs of those QIDs.
    pub cves: u64,
    /// Size of the whole knowledge base.
    pub knowledge_base_vulns: u64,
    /// Scanned web apps passing the filter.
    pub web_apps: u64,
    /// Findings of those web apps.
    pub web_app_findings: u64,
}

/// Computes the ground truth of a generated subscription.
pub fn summary(config: &GeneratedConfig, filter: &SummaryFilter) -> Summary {
    let sub = Subscription::new(config.clone());
    let mut summary = Summary {
        now: crate::time::format_timestamp(sub.now_secs()),
        knowledge_base_vulns: config.knowledge_base_vulns,
        ..Summary::default()
    };
    let mut seen_qids =
        vec![false; usize::try_from(config.knowledge_base_vulns).unwrap_or_default()];
    count_hosts(&sub, filter, &mut summary, &mut seen_qids);
    count_web_apps(&sub, filter, &mut summary, &mut seen_qids);

    let mut cves = HashSet::new();
    for (index, _) in seen_qids.iter().enumerate().filter(|(_, seen)| **seen) {
        summary.vulns += 1;
        let vuln = Vuln::new(&sub, index as u64);
        cves.extend((0..vuln.cve_count).map(|n| vuln.cve(&sub, n)));
    }
    summary.cves = cves.len() as u64;
    summary
}

fn detection_filter(filter: &SummaryFilter) -> DetectionFilter {
    let severities = filter.severities.as_ref().map_or(0b11_1110, |list| {
        list.iter()
            .filter(|s| (1..=5).contains(*s))
            .fold(0u8, |mask, s| mask | 1 << s)
    });
    let statuses = filter.statuses.as_ref().map_or([true; 4], |list| {
        DetectionStatus::ALL.map(|status| list.contains(&status))
    });
    DetectionFilter {
        updated_since: filter.detection_updated_since_secs,
        updated_before: filter.detection_updated_before_secs,
        severities,
        statuses,
        include_info: filter.include_info,
        include_ignored: filter.include_ignored,
    }
}

fn count_hosts(
    sub: &Subscription,
    filter: &SummaryFilter,
    summary: &mut Summary,
    seen_qids: &mut [bool],
) {
    let host_filter = HostFilter {
        processed_after: filter.vm_processed_after_secs,
        processed_before: filter.vm_processed_before_secs,
        ..HostFilter::default()
    };
    let tag_mask = filter.tags.as_ref().map(|names| {
        TAG_NAMES
            .iter()
            .enumerate()
            .filter(|(_, name)| names.iter().any(|n| n == *name))
            .fold(0u16, |mask, (t, _)| mask | 1 << t)
    });
    let detections = detection_filter(filter);
    let mut index = 0;
    while let Some(host) = sub.next_host(index, &host_filter) {
        index = host.index + 1;
        summary.hosts += 1;
        *summary
            .hosts_by_kind
            .entry(host.kind.name().to_owned())
            .or_default() += 1;
        if tag_mask.is_some_and(|mask| host.tags & mask == 0) {
            continue;
        }
        let mut any = false;
        for detection in sub.detections(&host).filter(|d| detections.matches(d)) {
            any = true;
            summary.detections += 1;
            *summary
                .detections_by_type
                .entry(detection.detection_type.as_str().to_owned())
                .or_default() += 1;
            *summary
                .detections_by_severity
                .entry(detection.severity.to_string())
                .or_default() += 1;
            *summary
                .detections_by_status
                .entry(detection.status.as_str().to_owned())
                .or_default() += 1;
            if let Some(seen) = seen_qids.get_mut(detection.kb_index as usize) {
                *seen = true;
            }
        }
        summary.hosts_with_detections += u64::from(any);
    }
}

fn count_web_apps(
    sub: &Subscription,
    filter: &SummaryFilter,
    summary: &mut Summary,
    seen_qids: &mut [bool],
) {
    let apps: Vec<u64> = (0..sub.config.web_apps)
        .map(|index| sub.web_app(index))
        .filter(|app| {
            app.scanned
                && filter
                    .web_apps_scanned_after_secs
                    .is_none_or(|t| app.last_scan_secs > t)
        })
        .map(|app| app.id)
        .collect();
    summary.web_apps = apps.len() as u64;
    let finding_filter = FindingFilter {
        web_app_ids: Some(apps),
        detected_after: filter.findings_detected_after_secs,
        ..FindingFilter::default()
    };
    for (_, finding) in findings(sub, &finding_filter) {
        summary.web_app_findings += 1;
        if let Some(seen) = seen_qids.get_mut(finding.vuln.index as usize) {
            *seen = true;
        }
    }
}
