//! The generated subscription: hosts, detections, knowledge base, web apps and findings, each
//! computed on demand from the seed and the record's ids.

pub(crate) mod attrs;
pub(crate) mod kb;
pub(crate) mod was;

use crate::config::GeneratedConfig;
use crate::rng::{hash, pick, unit};
use crate::time::DAY_SECS;

/// Hash domains, so that values drawn for different purposes are independent.
mod domain {
    pub const HOST_ID: u64 = 1;
    pub const HOST_KIND: u64 = 2;
    pub const HOST_ADDED: u64 = 3;
    pub const HOST_PURGED: u64 = 4;
    pub const HOST_SCAN: u64 = 5;
    pub const HOST_TAGS: u64 = 6;
    pub const HOST_DETECTIONS: u64 = 7;
    pub const HOST_QIDS: u64 = 8;
    pub const DETECTION: u64 = 9;
    pub const DETECTION_FIX: u64 = 10;
    pub const DETECTION_REOPEN: u64 = 11;
    pub const HOST_ATTRS: u64 = 12;
    pub const VULN: u64 = 20;
    pub const VULN_CVE: u64 = 21;
    pub const WEB_APP: u64 = 30;
    pub const FINDING: u64 = 31;
}
pub(crate) use domain::*;

/// First host id; host `i` has an id in `[HOST_ID_BASE + 10 i, HOST_ID_BASE + 10 i + 9]`, so ids
/// ascend with the index and the index is recoverable from the id.
const HOST_ID_BASE: u64 = 1_000_000;
const HOST_ID_STRIDE: u64 = 10;

/// Tag names hosts carry; tag `t` has id `TAG_ID_BASE + 13 t`.
pub(crate) const TAG_NAMES: [&str; 12] = [
    "Cloud Agent",
    "env:prod",
    "env:staging",
    "env:dev",
    "team:payments",
    "team:platform",
    "team:data",
    "pci",
    "internet-facing",
    "linux",
    "windows",
    "Business Unit A",
];
const TAG_ID_BASE: u64 = 7_100_000;

/// How Qualys tracks a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum HostKind {
    /// Cloud agent on a machine outside the public clouds.
    Agent,
    /// AWS EC2 instance found by the connector.
    Ec2,
    /// Azure virtual machine.
    Azure,
    /// Google Compute Engine instance.
    Gcp,
    /// Scanned by IP address only.
    OnPremises,
}

impl HostKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            HostKind::Agent => "agent",
            HostKind::Ec2 => "ec2",
            HostKind::Azure => "azure",
            HostKind::Gcp => "gcp",
            HostKind::OnPremises => "on-premises",
        }
    }
}

/// Status of a detection on the current day.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum DetectionStatus {
    /// Found on the last scans for the first time.
    New,
    /// Found again since.
    Active,
    /// No longer found.
    Fixed,
    /// Found again after being fixed.
    #[serde(rename = "Re-Opened")]
    ReOpened,
}

impl DetectionStatus {
    /// Every status, in Qualys' order.
    pub const ALL: [DetectionStatus; 4] = [
        DetectionStatus::New,
        DetectionStatus::Active,
        DetectionStatus::Fixed,
        DetectionStatus::ReOpened,
    ];

    /// Returns the status as Qualys writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            DetectionStatus::New => "New",
            DetectionStatus::Active => "Active",
            DetectionStatus::Fixed => "Fixed",
            DetectionStatus::ReOpened => "Re-Opened",
        }
    }

    /// Parses a status as Qualys writes it.
    pub fn parse(text: &str) -> Option<Self> {
        DetectionStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

/// Type of a detection, from the vulnerability type of its QID.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum DetectionType {
    /// A confirmed vulnerability.
    Confirmed,
    /// A potential vulnerability.
    Potential,
    /// Information gathered.
    Info,
}

impl DetectionType {
    /// Returns the type as Qualys writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            DetectionType::Confirmed => "Confirmed",
            DetectionType::Potential => "Potential",
            DetectionType::Info => "Info",
        }
    }
}

/// One host as it is on the configured day.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    pub index: u64,
    pub id: u64,
    pub kind: HostKind,
    pub ipv6: bool,
    /// Bit `t` set when the host carries tag `TAG_NAMES[t]`.
    pub tags: u16,
    pub added_day: i64,
    pub last_scan_secs: i64,
    /// Detections the host has over its life; those found after today are left out.
    pub detection_slots: u64,
}

/// One detection of a host as it is on the configured day.
#[derive(Debug, Clone)]
pub(crate) struct Detection {
    pub kb_index: u64,
    pub qid: u64,
    pub detection_type: DetectionType,
    pub severity: u8,
    pub status: DetectionStatus,
    pub port: Option<u16>,
    pub protocol: &'static str,
    pub ssl: bool,
    pub first_found_secs: i64,
    pub last_found_secs: i64,
    pub last_update_secs: i64,
    pub times_found: u64,
    pub ignored: bool,
}

/// Host filters shared by the host list, the detection list and the summary.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostFilter {
    pub processed_after: Option<i64>,
    pub processed_before: Option<i64>,
    /// Hosts carrying any of these tags (bit mask over `TAG_NAMES`).
    pub any_tags: Option<u16>,
    /// Inclusive id ranges; `None` means every id.
    pub ids: Option<Vec<(u64, u64)>>,
    pub id_min: Option<u64>,
    pub id_max: Option<u64>,
}

/// Detection filters shared by the detection list and the summary.
#[derive(Debug, Clone)]
pub(crate) struct DetectionFilter {
    pub updated_since: Option<i64>,
    pub updated_before: Option<i64>,
    /// Bit `s` set when severity `s` is wanted.
    pub severities: u8,
    pub statuses: [bool; 4],
    pub include_info: bool,
    pub include_ignored: bool,
}

impl Default for DetectionFilter {
    /// Qualys' defaults: every severity, Fixed left out, no information gathered, no ignored.
    fn default() -> Self {
        Self {
            updated_since: None,
            updated_before: None,
            severities: 0b11_1110,
            statuses: [true, true, false, true],
            include_info: false,
            include_ignored: false,
        }
    }
}

impl DetectionFilter {
    pub(crate) fn matches(&self, detection: &Detection) -> bool {
        let status_index = DetectionStatus::ALL
            .iter()
            .position(|s| *s == detection.status)
            .unwrap_or_default();
        self.severities & (1 << detection.severity) != 0
            && self.statuses[status_index]
            && (self.include_info || detection.detection_type != DetectionType::Info)
            && (self.include_ignored || !detection.ignored)
            && self
                .updated_since
                .is_none_or(|t| detection.last_update_secs >= t)
            && self
                .updated_before
                .is_none_or(|t| detection.last_update_secs <= t)
    }
}

/// A generated subscription on its configured day.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub config: GeneratedConfig,
}

impl Subscription {
    pub(crate) fn new(config: GeneratedConfig) -> Self {
        Self { config }
    }

    fn seed(&self) -> u64 {
        self.config.seed
    }

    /// Returns the simulated current time: noon UTC of the configured day.
    pub(crate) fn now_secs(&self) -> i64 {
        self.day_start(i64::from(self.config.day)) + DAY_SECS / 2
    }

    fn day_start(&self, day: i64) -> i64 {
        self.config.start_secs + day * DAY_SECS
    }

    fn hosts_added_per_day(&self) -> u64 {
        if self.config.hosts == 0 {
            0
        } else {
            (self.config.hosts / 100).max(1)
        }
    }

    /// Host indexes ever created up to the configured day.
    pub(crate) fn host_slots(&self) -> u64 {
        self.config.hosts + u64::from(self.config.day) * self.hosts_added_per_day()
    }

    pub(crate) fn host_id(&self, index: u64) -> u64 {
        HOST_ID_BASE
            + index * HOST_ID_STRIDE
            + hash(self.seed(), &[HOST_ID, index]) % HOST_ID_STRIDE
    }

    /// Returns the first host index whose id is at least `id`.
    pub(crate) fn first_index_at_or_above(&self, id: u64) -> u64 {
        let index = id.saturating_sub(HOST_ID_BASE) / HOST_ID_STRIDE;
        // Near u64::MAX the id of `index` overflows, and no host exists there anyway.
        if index >= self.host_slots() || self.host_id(index) >= id {
            index
        } else {
            index + 1
        }
    }

    /// Returns the host index of an id, when the id was ever generated.
    #[cfg(test)]
    pub(crate) fn host_index(&self, id: u64) -> Option<u64> {
        let index = id.checked_sub(HOST_ID_BASE)? / HOST_ID_STRIDE;
        (index < self.host_slots() && self.host_id(index) == id).then_some(index)
    }

    fn added_day(&self, index: u64) -> i64 {
        if index < self.config.hosts {
            // Hosts of day 0 were first seen during the year before it.
            -((hash(self.seed(), &[HOST_ADDED, index]) % 365) as i64)
        } else {
            1 + ((index - self.config.hosts) / self.hosts_added_per_day()) as i64
        }
    }

    fn purged_day(&self, index: u64, added_day: i64) -> i64 {
        let h = hash(self.seed(), &[HOST_PURGED, index]);
        if h.is_multiple_of(10) {
            added_day.max(0) + 1 + ((h >> 8) % 120) as i64
        } else {
            i64::MAX
        }
    }

    /// Builds the host at `index` as it is on the configured day, or `None` when it is not yet
    /// added or already purged.
    pub(crate) fn host(&self, index: u64) -> Option<Host> {
        // Checked first: `added_day` divides by the daily additions, which are 0 without hosts.
        if index >= self.host_slots() {
            return None;
        }
        let today = i64::from(self.config.day);
        let added_day = self.added_day(index);
        if added_day > today || self.purged_day(index, added_day) <= today {
            return None;
        }
        let h = hash(self.seed(), &[HOST_KIND, index]);
        let kind = pick(
            h,
            &[
                HostKind::Agent,
                HostKind::Ec2,
                HostKind::Ec2,
                HostKind::Azure,
                HostKind::Gcp,
                HostKind::OnPremises,
                HostKind::OnPremises,
            ],
        );
        Some(Host {
            index,
            id: self.host_id(index),
            kind,
            ipv6: (h >> 16).is_multiple_of(8),
            tags: self.host_tags(index, kind),
            added_day,
            last_scan_secs: self.last_scan_secs(index, added_day),
            detection_slots: self.detection_slots(index),
        })
    }

    fn host_tags(&self, index: u64, kind: HostKind) -> u16 {
        let h = hash(self.seed(), &[HOST_TAGS, index]);
        // Each tag after "Cloud Agent" with probability 1/4; agents always carry "Cloud Agent".
        let mut tags = 0u16;
        for t in 1..TAG_NAMES.len() {
            if (h >> (2 * t)) & 3 == 0 {
                tags |= 1 << t;
            }
        }
        if matches!(kind, HostKind::Agent | HostKind::Azure | HostKind::Gcp) {
            tags |= 1;
        }
        tags
    }

    /// Returns the scan period in days (1 to 7) and the day offset of a host's scans.
    fn scan_schedule(&self, index: u64) -> (i64, i64) {
        let h = hash(self.seed(), &[HOST_SCAN, index]);
        let period = 1 + (h % 7) as i64;
        let offset = ((h >> 8) % period as u64) as i64;
        (period, offset)
    }

    /// Returns the first day on or after `day` on which the host is scanned.
    fn next_scan_day(&self, index: u64, day: i64) -> i64 {
        let (period, offset) = self.scan_schedule(index);
        day + (offset - day).rem_euclid(period)
    }

    /// Each host is scanned every 1 to 7 days; returns the last scan on or before today.
    fn last_scan_secs(&self, index: u64, added_day: i64) -> i64 {
        let h = hash(self.seed(), &[HOST_SCAN, index]);
        let (period, offset) = self.scan_schedule(index);
        let today = i64::from(self.config.day);
        let day = (today - (today - offset).rem_euclid(period)).max(added_day);
        // Before noon, so that a scan of today is never in the future.
        self.day_start(day) + ((h >> 20) % (DAY_SECS as u64 / 2)) as i64
    }

    /// Heavy-tailed (Pareto, shape 2) count with the configured mean, capped at 20× the mean
    /// and at the knowledge base size.
    fn detection_slots(&self, index: u64) -> u64 {
        let mean = f64::from(self.config.detections_per_host);
        let u = 1.0 - unit(hash(self.seed(), &[HOST_DETECTIONS, index]));
        let draw = (mean / 2.0) / u.sqrt();
        let cap = (mean * 20.0).min(self.config.knowledge_base_vulns as f64);
        draw.min(cap) as u64
    }

    pub(crate) fn host_matches(&self, host: &Host, filter: &HostFilter) -> bool {
        filter
            .processed_after
            .is_none_or(|t| host.last_scan_secs >= t)
            && filter
                .processed_before
                .is_none_or(|t| host.last_scan_secs <= t)
            && filter.any_tags.is_none_or(|mask| host.tags & mask != 0)
            && filter.id_min.is_none_or(|id| host.id >= id)
            && filter.id_max.is_none_or(|id| host.id <= id)
            && filter
                .ids
                .as_ref()
                .is_none_or(|ranges| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&host.id)))
    }

    /// Finds the next host at or after `index` that exists today and passes `filter`. With an
    /// id list, it jumps over the gaps between the listed ranges instead of testing every host.
    pub(crate) fn next_host(&self, mut index: u64, filter: &HostFilter) -> Option<Host> {
        let mut upper = filter.id_max.unwrap_or(u64::MAX);
        if let Some(ranges) = &filter.ids {
            upper = upper.min(ranges.last().map_or(0, |(_, hi)| *hi));
        }
        let end = self
            .first_index_at_or_above(upper.saturating_add(1))
            .min(self.host_slots());
        while index < end {
            if let Some(ranges) = &filter.ids {
                let id = self.host_id(index);
                // Ranges are sorted and merged: find the first range ending at or after `id`.
                let at = ranges.partition_point(|(_, hi)| *hi < id);
                let (lo, _) = *ranges.get(at)?;
                if lo > id {
                    index = self.first_index_at_or_above(lo);
                    continue;
                }
            }
            if let Some(host) = self.host(index)
                && self.host_matches(&host, filter)
            {
                return Some(host);
            }
            index += 1;
        }
        None
    }

    /// Chooses the start and stride of a host's walk through the knowledge base. The stride is
    /// coprime to the base size, so the walk visits distinct vulnerabilities.
    fn qid_walk(&self, host: &Host) -> (u64, u64) {
        let size = self.config.knowledge_base_vulns;
        let h = hash(self.seed(), &[HOST_QIDS, host.index]);
        let start = h % size;
        let mut step = 1 + (h >> 32) % size.max(2);
        while gcd(step, size) != 1 {
            step += 1;
        }
        (start, step)
    }

    /// Iterates over the host's detections as they are today, in slot order.
    pub(crate) fn detections<'a>(&'a self, host: &'a Host) -> impl Iterator<Item = Detection> + 'a {
        let (start, step) = self.qid_walk(host);
        let size = self.config.knowledge_base_vulns;
        (0..host.detection_slots).filter_map(move |slot| {
            let kb_index = (start + slot % size * step) % size;
            self.detection(host, slot, kb_index)
        })
    }

    fn detection(&self, host: &Host, slot: u64, kb_index: u64) -> Option<Detection> {
        let today = i64::from(self.config.day);
        let h = hash(self.seed(), &[DETECTION, host.index, slot]);
        let first_day = if h % 100 < 85 {
            host.added_day
        } else {
            host.added_day + 1 + ((h >> 8) % 60) as i64
        };
        if first_day > today {
            return None;
        }
        let fix_hash = hash(self.seed(), &[DETECTION_FIX, host.index, slot]);
        // Qualys changes a status only when it processes a scan of the host, so a
        // fix or reopen happens on the host's next scan day.
        let fix_day = if fix_hash % 100 < 30 {
            self.next_scan_day(host.index, first_day + 1 + ((fix_hash >> 8) % 60) as i64)
        } else {
            i64::MAX
        };
        let reopen_hash = hash(self.seed(), &[DETECTION_REOPEN, host.index, slot]);
        let reopen_day = if fix_day != i64::MAX && reopen_hash % 100 < 30 {
            self.next_scan_day(host.index, fix_day + 1 + ((reopen_hash >> 8) % 30) as i64)
        } else {
            i64::MAX
        };

        let (status, change_day) = if today >= reopen_day {
            (DetectionStatus::ReOpened, reopen_day)
        } else if today >= fix_day {
            (DetectionStatus::Fixed, fix_day)
        } else if today - first_day <= 2 {
            (DetectionStatus::New, first_day)
        } else {
            (DetectionStatus::Active, first_day)
        };

        let vuln = kb::Vuln::new(self, kb_index);
        let time_of_day = ((h >> 16) % (DAY_SECS as u64 / 2)) as i64;
        let first_found_secs = self.day_start(first_day) + time_of_day;
        let last_update_secs = self.day_start(change_day) + time_of_day;
        let last_found_secs = if status == DetectionStatus::Fixed {
            last_update_secs
        } else {
            host.last_scan_secs.max(first_found_secs)
        };
        let port = !(h >> 40).is_multiple_of(4);
        Some(Detection {
            kb_index,
            qid: vuln.qid,
            detection_type: vuln.detection_type(),
            severity: vuln.severity,
            status,
            port: port.then(|| pick(h >> 44, &[22, 80, 443, 445, 3306, 3389, 5432, 8080, 8443])),
            protocol: if (h >> 52).is_multiple_of(5) {
                "udp"
            } else {
                "tcp"
            },
            ssl: port && (h >> 56).is_multiple_of(3),
            first_found_secs,
            last_found_secs,
            last_update_secs,
            times_found: 1 + ((today - first_day).max(0) as u64) / 3,
            ignored: (h >> 24).is_multiple_of(50),
        })
    }

    /// Tag id of `TAG_NAMES[t]`.
    pub(crate) fn tag_id(t: usize) -> u64 {
        TAG_ID_BASE + 13 * t as u64
    }

    /// Host attribute hash, for values that only decorate the record.
    pub(crate) fn host_attr(&self, index: u64, field: u64) -> u64 {
        hash(self.seed(), &[HOST_ATTRS, index, field])
    }
}

/// Sorts inclusive ranges and merges those that overlap or touch.
pub(crate) fn normalize_ranges(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match merged.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    merged
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(hosts: u64, day: u32) -> Subscription {
        Subscription::new(GeneratedConfig {
            hosts,
            day,
            ..GeneratedConfig::default()
        })
    }

    #[test]
    fn open_id_range_does_not_overflow() {
        // With seed 11 the id of the last possible index overflowed u64 and panicked.
        for seed in [1, 7, 11] {
            let sub = Subscription::new(GeneratedConfig {
                hosts: 10,
                seed,
                ..GeneratedConfig::default()
            });
            assert!(sub.first_index_at_or_above(u64::MAX) >= sub.host_slots());
            assert_eq!(sub.first_index_at_or_above(0), 0);
        }
    }

    #[test]
    fn host_ids_ascend_and_map_back() {
        let sub = subscription(500, 0);
        let mut previous = 0;
        for index in 0..sub.host_slots() {
            let id = sub.host_id(index);
            assert!(id > previous);
            assert_eq!(sub.host_index(id), Some(index));
            assert_eq!(sub.first_index_at_or_above(id), index);
            previous = id;
        }
        assert_eq!(sub.host_index(7), None);
    }

    #[test]
    fn detection_qids_are_distinct_per_host() {
        let sub = subscription(50, 30);
        for index in 0..sub.host_slots() {
            let Some(host) = sub.host(index) else {
                continue;
            };
            let mut qids: Vec<u64> = sub.detections(&host).map(|d| d.qid).collect();
            let count = qids.len();
            qids.sort_unstable();
            qids.dedup();
            assert_eq!(qids.len(), count, "host {}", host.id);
        }
    }

    #[test]
    fn churn_adds_and_purges_hosts() {
        let day0 = subscription(1_000, 0);
        let day90 = subscription(1_000, 90);
        let count = |sub: &Subscription| {
            (0..sub.host_slots())
                .filter(|i| sub.host(*i).is_some())
                .count()
        };
        assert_eq!(count(&day0), 1_000);
        let later = count(&day90);
        assert!(later > 1_000, "{later}");
        let purged = (0..1_000).filter(|i| day90.host(*i).is_none()).count();
        assert!(purged > 0);
    }

    #[test]
    fn empty_subscription_has_no_hosts() {
        let sub = Subscription::new(GeneratedConfig {
            hosts: 0,
            day: 5,
            knowledge_base_vulns: 1,
            ..GeneratedConfig::default()
        });
        assert_eq!(sub.host_slots(), 0);
        assert!(sub.host(0).is_none());
        assert!(sub.next_host(0, &HostFilter::default()).is_none());
    }

    #[test]
    fn detections_mean_is_near_configured() {
        let sub = subscription(2_000, 0);
        let total: u64 = (0..2_000).map(|i| sub.detection_slots(i)).sum();
        let mean = total as f64 / 2_000.0;
        assert!((15.0..25.0).contains(&mean), "{mean}");
    }
}
