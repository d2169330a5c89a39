//! Generated knowledge-base vulnerabilities.

use super::{DetectionType, Subscription, VULN, VULN_CVE};
use crate::rng::{hash, pick};
use crate::time::DAY_SECS;

/// First QID; vulnerability `k` has a QID in `[QID_BASE + 8 k, QID_BASE + 8 k + 7]`.
const QID_BASE: u64 = 10_000;
const QID_STRIDE: u64 = 8;

/// Threat-intelligence ids and names as Qualys lists them.
const THREAT_INTEL: [(u8, &str); 8] = [
    (1, "Zero_Day"),
    (2, "Exploit_Public"),
    (3, "Active_Attacks"),
    (4, "High_Lateral_Movement"),
    (5, "Easy_Exploit"),
    (6, "High_Data_Loss"),
    (7, "Denial_of_Service"),
    (8, "No_Patch"),
];

const CATEGORIES: [&str; 8] = [
    "Web Application",
    "Local",
    "Windows",
    "CGI",
    "General remote services",
    "Information gathering",
    "Database",
    "Security Policy",
];

const PRODUCTS: [(&str, &str); 6] = [
    ("openssl", "openssl"),
    ("windows", "microsoft"),
    ("httpd", "apache"),
    ("kernel", "linux"),
    ("postgresql", "postgresql"),
    ("chrome", "google"),
];

/// A knowledge-base vulnerability.
#[derive(Debug, Clone)]
pub(crate) struct Vuln {
    pub index: u64,
    pub qid: u64,
    pub vuln_type: &'static str,
    pub severity: u8,
    pub category: &'static str,
    pub cve_count: u64,
    hash: u64,
}

impl Vuln {
    pub(crate) fn new(sub: &Subscription, index: u64) -> Self {
        let h = hash(sub.config.seed, &[VULN, index]);
        let vuln_type = match h % 10 {
            0..=5 => "Vulnerability",
            6..=7 => "Potential Vulnerability",
            _ => "Information Gathered",
        };
        let severity = if vuln_type == "Information Gathered" {
            1 + (h >> 8) % 3
        } else {
            1 + (h >> 8) % 5
        };
        // Every eighth vulnerability belongs to web applications, so WAS findings have QIDs.
        let category = if index.is_multiple_of(8) {
            CATEGORIES[0]
        } else {
            pick(h >> 16, &CATEGORIES[1..])
        };
        let cve_count = if vuln_type == "Information Gathered" {
            0
        } else {
            (h >> 24) % 5
        };
        Self {
            index,
            qid: QID_BASE + index * QID_STRIDE + (h >> 32) % QID_STRIDE,
            vuln_type,
            severity: severity as u8,
            category,
            cve_count,
            hash: h,
        }
    }

    /// Returns the knowledge-base index of a QID, when the QID exists.
    #[cfg(test)]
    pub(crate) fn index_of(sub: &Subscription, qid: u64) -> Option<u64> {
        let index = qid.checked_sub(QID_BASE)? / QID_STRIDE;
        (index < sub.config.knowledge_base_vulns && Self::new(sub, index).qid == qid)
            .then_some(index)
    }

    /// Returns the first index whose QID is at least `qid`.
    pub(crate) fn first_index_at_or_above(sub: &Subscription, qid: u64) -> u64 {
        let index = qid.saturating_sub(QID_BASE) / QID_STRIDE;
        if index < sub.config.knowledge_base_vulns && Self::new(sub, index).qid < qid {
            index + 1
        } else {
            index
        }
    }

    pub(crate) fn detection_type(&self) -> DetectionType {
        match self.vuln_type {
            "Vulnerability" => DetectionType::Confirmed,
            "Potential Vulnerability" => DetectionType::Potential,
            _ => DetectionType::Info,
        }
    }

    /// Formats the `n`th CVE id, such as `CVE-2021-12345`. Different vulnerabilities may share a
    /// CVE.
    pub(crate) fn cve(&self, sub: &Subscription, n: u64) -> String {
        let h = hash(sub.config.seed, &[VULN_CVE, self.index, n]);
        format!("CVE-{}-{}", 2014 + h % 12, 1_000 + (h >> 8) % 30_000)
    }

    pub(crate) fn title(&self) -> String {
        let (product, _) = pick(self.hash >> 40, &PRODUCTS);
        match self.vuln_type {
            "Information Gathered" => format!("{product} Version Detected ({})", self.qid),
            _ => format!("{product} Multiple Vulnerabilities (QID {})", self.qid),
        }
    }

    pub(crate) fn product(&self) -> (&'static str, &'static str) {
        pick(self.hash >> 40, &PRODUCTS)
    }

    pub(crate) fn published_secs(&self, sub: &Subscription) -> i64 {
        sub.config.start_secs - (1 + (self.hash >> 44) % 3_000) as i64 * DAY_SECS
    }

    pub(crate) fn modified_secs(&self, sub: &Subscription) -> i64 {
        self.published_secs(sub) + ((self.hash >> 50) % 200) as i64 * DAY_SECS
    }

    /// CVSS v2 base and temporal scores in tenths, when the vulnerability has CVEs.
    pub(crate) fn cvss_v2(&self) -> Option<(u64, u64)> {
        (self.cve_count > 0).then(|| {
            let base = 10 + (self.hash >> 12) % 91;
            (base, base * 85 / 100)
        })
    }

    /// CVSS v3 base and temporal scores in tenths, when the vulnerability has CVEs.
    pub(crate) fn cvss_v3(&self) -> Option<(u64, u64)> {
        (self.cve_count > 0).then(|| {
            let base = 10 + (self.hash >> 20) % 91;
            (base, base * 9 / 10)
        })
    }

    pub(crate) fn threat_intel(&self) -> impl Iterator<Item = (u8, &'static str)> + '_ {
        THREAT_INTEL
            .into_iter()
            .enumerate()
            .filter(|(i, _)| self.cve_count > 0 && (self.hash >> (3 * i)).is_multiple_of(5))
            .map(|(_, entry)| entry)
    }

    pub(crate) fn patchable(&self) -> bool {
        !(self.hash >> 60).is_multiple_of(3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GeneratedConfig;

    #[test]
    fn qids_ascend_and_map_back() {
        let sub = Subscription::new(GeneratedConfig::default());
        let mut previous = 0;
        for index in 0..sub.config.knowledge_base_vulns {
            let vuln = Vuln::new(&sub, index);
            assert!(vuln.qid > previous);
            assert_eq!(Vuln::index_of(&sub, vuln.qid), Some(index));
            assert_eq!(Vuln::first_index_at_or_above(&sub, vuln.qid), index);
            previous = vuln.qid;
        }
    }
}
