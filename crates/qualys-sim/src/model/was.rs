//! Generated WAS web applications and their findings.

use super::kb::Vuln;
use super::{FINDING, Subscription, WEB_APP};
use crate::rng::{hash, unit};
use crate::time::DAY_SECS;

/// Web app `w` has an id in `[WEB_APP_ID_BASE + 16 w, WEB_APP_ID_BASE + 16 w + 15]`.
const WEB_APP_ID_BASE: u64 = 300_000_000;
const WEB_APP_ID_STRIDE: u64 = 16;
/// Finding `j` of web app `w` has id `FINDING_ID_BASE + 1024 w + j`, so finding ids ascend
/// with the web app id.
const FINDING_ID_BASE: u64 = 50_000_000;
pub(crate) const FINDINGS_PER_APP_CAP: u64 = 1_024;

/// A WAS web application.
#[derive(Debug, Clone)]
pub(crate) struct WebApp {
    pub index: u64,
    pub id: u64,
    pub scanned: bool,
    pub last_scan_secs: i64,
    pub created_secs: i64,
    pub updated_secs: i64,
    pub owner_id: u64,
    pub tag_count: u64,
    pub finding_slots: u64,
}

impl WebApp {
    pub(crate) fn url(&self) -> String {
        format!("https://app-{}.example.com/", self.index)
    }

    pub(crate) fn name(&self) -> String {
        if self.index.is_multiple_of(3) {
            self.url()
        } else {
            format!("Web application {}", self.index)
        }
    }
}

/// A WAS finding.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub id: u64,
    pub hash: u64,
    pub vuln: Vuln,
    pub information_gathered: bool,
    pub status: &'static str,
    pub first_detected_secs: i64,
    pub last_detected_secs: i64,
    pub times_detected: u64,
}

impl Finding {
    pub(crate) fn unique_id(&self) -> String {
        let h = self.hash;
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            h >> 32,
            (h >> 16) & 0xffff,
            h & 0xfff,
            (h >> 4) & 0xfff,
            self.id
        )
    }
}

impl Subscription {
    pub(crate) fn web_app_id(&self, index: u64) -> u64 {
        WEB_APP_ID_BASE
            + index * WEB_APP_ID_STRIDE
            + hash(self.config.seed, &[WEB_APP, index]) % WEB_APP_ID_STRIDE
    }

    /// Returns the web-app index of an id, when the id exists.
    pub(crate) fn web_app_index(&self, id: u64) -> Option<u64> {
        let index = id.checked_sub(WEB_APP_ID_BASE)? / WEB_APP_ID_STRIDE;
        (index < self.config.web_apps && self.web_app_id(index) == id).then_some(index)
    }

    /// Returns the first web-app index whose id is above `id`.
    pub(crate) fn first_web_app_above(&self, id: u64) -> u64 {
        let index = id.saturating_sub(WEB_APP_ID_BASE) / WEB_APP_ID_STRIDE;
        if id < WEB_APP_ID_BASE || self.web_app_id(index) > id {
            index
        } else {
            index + 1
        }
    }

    pub(crate) fn web_app(&self, index: u64) -> WebApp {
        let h = hash(self.config.seed, &[WEB_APP, index, 1]);
        let scanned = !h.is_multiple_of(10);
        let created_secs = self.config.start_secs
            - ((h >> 8) % 500) as i64 * DAY_SECS
            - ((h >> 20) % 40_000) as i64;
        let mean = f64::from(self.config.findings_per_web_app);
        let finding_slots = if scanned {
            ((2.0 * mean * unit(hash(self.config.seed, &[WEB_APP, index, 2]))) as u64)
                .min(FINDINGS_PER_APP_CAP)
        } else {
            0
        };
        WebApp {
            index,
            id: self.web_app_id(index),
            scanned,
            last_scan_secs: self.now_secs()
                - ((h >> 32) % 30) as i64 * DAY_SECS
                - ((h >> 40) % 3_600) as i64,
            created_secs,
            updated_secs: created_secs + ((h >> 48) % 100) as i64 * DAY_SECS,
            owner_id: 17_000_000 + (h >> 12) % 50,
            tag_count: (h >> 56) % 4,
            finding_slots,
        }
    }

    pub(crate) fn finding_id(app: &WebApp, slot: u64) -> u64 {
        FINDING_ID_BASE + app.index * FINDINGS_PER_APP_CAP + slot
    }

    /// Splits a finding id into its web-app index and slot.
    pub(crate) fn finding_position(id: u64) -> (u64, u64) {
        let offset = id.saturating_sub(FINDING_ID_BASE);
        (offset / FINDINGS_PER_APP_CAP, offset % FINDINGS_PER_APP_CAP)
    }

    /// Builds the finding in `slot` of `app` as it is today, or `None` when it is not yet found.
    pub(crate) fn finding(&self, app: &WebApp, slot: u64) -> Option<Finding> {
        let today = i64::from(self.config.day);
        let h = hash(self.config.seed, &[FINDING, app.index, slot]);
        let first_day = if h % 100 < 80 {
            -(((h >> 8) % 200) as i64)
        } else {
            1 + ((h >> 8) % 60) as i64
        };
        if first_day > today {
            return None;
        }

        let web_vulns = self.config.knowledge_base_vulns.div_ceil(8);
        let vuln = Vuln::new(self, 8 * ((h >> 16) % web_vulns));
        let information_gathered = vuln.vuln_type == "Information Gathered";
        let fix_day = if (h >> 24) % 100 < 25 {
            first_day + 1 + ((h >> 32) % 40) as i64
        } else {
            i64::MAX
        };
        let reopen_day = if fix_day != i64::MAX && (h >> 40).is_multiple_of(4) {
            fix_day + 1 + ((h >> 44) % 20) as i64
        } else {
            i64::MAX
        };
        let (status, last_day) = if today >= reopen_day {
            ("REOPENED", today)
        } else if today >= fix_day {
            ("FIXED", fix_day)
        } else if today - first_day <= 2 {
            ("NEW", today)
        } else {
            ("ACTIVE", today)
        };

        let time_of_day = ((h >> 48) % (DAY_SECS as u64 / 2)) as i64;
        Some(Finding {
            id: Self::finding_id(app, slot),
            hash: h,
            vuln,
            information_gathered,
            status,
            first_detected_secs: self.config.start_secs + first_day * DAY_SECS + time_of_day,
            last_detected_secs: (self.config.start_secs + last_day * DAY_SECS + time_of_day)
                .min(self.now_secs()),
            times_detected: 1 + ((last_day - first_day).max(0) as u64) / 2,
        })
    }
}
