//! Simulator configuration: data source, credentials, limits and faults.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use crate::error::SimError;
use crate::fault::FaultRule;
use crate::time::{DAY_SECS, days_from_civil};

/// Username the simulator accepts unless configured otherwise.
pub const DEFAULT_USERNAME: &str = "qgraph-sim";
/// Password the simulator accepts unless configured otherwise.
pub const DEFAULT_PASSWORD: &str = "qgraph-sim-password";

/// Everything [`crate::Simulator::start`] needs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where response data comes from.
    pub source: DataSource,
    /// The one account the simulator accepts.
    pub credentials: Credentials,
    /// Rate and concurrency limits enforced on the VM API 2.0 endpoints.
    pub limits: Limits,
    /// Faults armed at start; more can be added at run time through [`crate::SimHandle`].
    pub faults: Vec<FaultRule>,
    /// Loopback address to bind; only 127.0.0.0/8 and ::1 are accepted.
    pub bind_ip: IpAddr,
    /// TCP port; 0 picks a free one.
    pub port: u16,
}

impl SimConfig {
    /// A generated subscription with default credentials and limits on a free loopback port.
    pub fn generated(generated: GeneratedConfig) -> Self {
        Self {
            source: DataSource::Generated(generated),
            credentials: Credentials::default(),
            limits: Limits::default(),
            faults: Vec::new(),
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
        }
    }

    /// A replay of a recorded fixtures directory with default credentials and limits.
    pub fn replay(dir: impl Into<PathBuf>) -> Self {
        Self {
            source: DataSource::Replay { dir: dir.into() },
            ..Self::generated(GeneratedConfig::default())
        }
    }

    /// Checks that the bind address is loopback and the generated sizes are in range.
    pub fn validate(&self) -> Result<(), SimError> {
        if !self.bind_ip.is_loopback() {
            return Err(SimError::InvalidConfig {
                field: "bind_ip",
                value: self.bind_ip.to_string(),
                reason: "the simulator binds only loopback addresses (127.0.0.0/8 or ::1)",
            });
        }
        if let DataSource::Generated(generated) = &self.source {
            generated.validate()?;
        }
        self.limits.validate()
    }
}

/// Where the simulator's response data comes from.
#[derive(Debug, Clone)]
pub enum DataSource {
    /// Serves the recorded bodies of a fixtures directory as one subscription.
    Replay {
        /// Directory holding the recorded `*.xml` bodies.
        dir: PathBuf,
    },
    /// Generates a deterministic subscription from a seed.
    Generated(GeneratedConfig),
}

/// Shape of a generated subscription. Every value is derived from these fields alone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GeneratedConfig {
    /// Seed of every generated value.
    pub seed: u64,
    /// Hosts present on day 0; churn adds about 1% a day and purges a few.
    pub hosts: u64,
    /// Mean number of detections a host has over its life (heavy-tailed, up to 20× the mean).
    pub detections_per_host: u32,
    /// Days of churn applied since the start date.
    pub day: u32,
    /// Size of each detection's `RESULTS` text, in bytes, sent when `show_results=1`.
    pub results_bytes: usize,
    /// Vulnerabilities in the knowledge base.
    pub knowledge_base_vulns: u64,
    /// WAS web applications.
    pub web_apps: u64,
    /// Mean number of findings per scanned web application.
    pub findings_per_web_app: u32,
    /// Day 0 of the subscription, in seconds since the Unix epoch (UTC midnight).
    pub start_secs: i64,
}

impl Default for GeneratedConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            hosts: 100,
            detections_per_host: 20,
            day: 0,
            results_bytes: 256,
            knowledge_base_vulns: 4_000,
            web_apps: 10,
            findings_per_web_app: 8,
            start_secs: days_from_civil(2026, 1, 1) * DAY_SECS,
        }
    }
}

impl GeneratedConfig {
    /// Largest accepted host count.
    pub const MAX_HOSTS: u64 = 100_000_000;
    /// Largest accepted knowledge base.
    pub const MAX_VULNS: u64 = 1_000_000;
    /// Largest accepted `RESULTS` size (64 MiB).
    pub const MAX_RESULTS_BYTES: usize = 64 << 20;
    /// Largest accepted number of web apps.
    pub const MAX_WEB_APPS: u64 = 1_000_000;
    /// Largest accepted mean of findings per web app (ids leave room for 1024 per app).
    pub const MAX_FINDINGS_PER_WEB_APP: u32 = 200;

    /// Checks every size against its accepted range.
    pub fn validate(&self) -> Result<(), SimError> {
        let check = |ok: bool, field: &'static str, value: String, reason: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(SimError::InvalidConfig {
                    field,
                    value,
                    reason,
                })
            }
        };
        check(
            self.hosts <= Self::MAX_HOSTS,
            "hosts",
            self.hosts.to_string(),
            "at most 100000000",
        )?;
        check(
            (1..=Self::MAX_VULNS).contains(&self.knowledge_base_vulns),
            "knowledge_base_vulns",
            self.knowledge_base_vulns.to_string(),
            "between 1 and 1000000",
        )?;
        check(
            self.detections_per_host <= 10_000,
            "detections_per_host",
            self.detections_per_host.to_string(),
            "at most 10000",
        )?;
        check(
            self.results_bytes <= Self::MAX_RESULTS_BYTES,
            "results_bytes",
            self.results_bytes.to_string(),
            "at most 67108864",
        )?;
        check(
            self.web_apps <= Self::MAX_WEB_APPS,
            "web_apps",
            self.web_apps.to_string(),
            "at most 1000000",
        )?;
        check(
            self.findings_per_web_app <= Self::MAX_FINDINGS_PER_WEB_APP,
            "findings_per_web_app",
            self.findings_per_web_app.to_string(),
            "at most 200",
        )?;
        check(
            self.day <= 3650,
            "day",
            self.day.to_string(),
            "at most 3650",
        )
    }
}

/// The account the simulator accepts with HTTP Basic authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Qualys username.
    pub username: String,
    /// Qualys password.
    pub password: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Self {
            username: DEFAULT_USERNAME.to_owned(),
            password: DEFAULT_PASSWORD.to_owned(),
        }
    }
}

impl std::fmt::Debug for Credentials {
    // The password never reaches logs or panic messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// API 2.0 limits, reported in the `X-RateLimit-*` and `X-Concurrency-Limit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Calls accepted per window.
    pub rate_limit_calls: u32,
    /// Length of the rate-limit window, in seconds.
    pub rate_window_secs: u64,
    /// Calls allowed to run at once.
    pub concurrency_limit: u32,
}

impl Default for Limits {
    /// Generous limits so benchmarks are not throttled; tests that need throttling lower them.
    fn default() -> Self {
        Self {
            rate_limit_calls: 10_000,
            rate_window_secs: 3_600,
            concurrency_limit: 15,
        }
    }
}

impl Limits {
    /// The limits of a standard Qualys subscription (300 calls an hour, 2 at once).
    pub fn standard() -> Self {
        Self {
            rate_limit_calls: 300,
            rate_window_secs: 3_600,
            concurrency_limit: 2,
        }
    }

    /// Checks that every limit is at least 1.
    pub fn validate(&self) -> Result<(), SimError> {
        let fields = [
            ("rate_limit_calls", u64::from(self.rate_limit_calls)),
            ("rate_window_secs", self.rate_window_secs),
            ("concurrency_limit", u64::from(self.concurrency_limit)),
        ];
        for (field, value) in fields {
            if value == 0 {
                return Err(SimError::InvalidConfig {
                    field,
                    value: value.to_string(),
                    reason: "must be at least 1",
                });
            }
        }
        Ok(())
    }
}
