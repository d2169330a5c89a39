//! Fault injection: which endpoint misbehaves, how, and how many times.

use std::str::FromStr;
use std::sync::Mutex;

use crate::error::SimError;

/// One simulated Qualys endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Endpoint {
    /// `GET /qps/rest/portal/version`.
    PortalVersion,
    /// `GET|POST /api/2.0/fo/asset/host/` (host list).
    HostList,
    /// `POST /qps/rest/2.0/search/am/hostasset`.
    HostAsset,
    /// `GET|POST /api/2.0/fo/asset/host/vm/detection/`.
    HostDetection,
    /// `GET|POST /api/2.0/fo/knowledge_base/vuln/`.
    KnowledgeBase,
    /// `POST /qps/rest/3.0/search/was/webapp`.
    WebApp,
    /// `POST /qps/rest/3.0/search/was/finding/`.
    WebAppFinding,
}

impl Endpoint {
    /// Every endpoint, in the order a sync calls them.
    pub const ALL: [Endpoint; 7] = [
        Endpoint::PortalVersion,
        Endpoint::HostList,
        Endpoint::HostAsset,
        Endpoint::HostDetection,
        Endpoint::KnowledgeBase,
        Endpoint::WebApp,
        Endpoint::WebAppFinding,
    ];

    /// The endpoint's name in fault specifications, such as `host-detection`.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::PortalVersion => "portal-version",
            Endpoint::HostList => "host-list",
            Endpoint::HostAsset => "host-asset",
            Endpoint::HostDetection => "host-detection",
            Endpoint::KnowledgeBase => "knowledge-base",
            Endpoint::WebApp => "web-app",
            Endpoint::WebAppFinding => "web-app-finding",
        }
    }

    /// Whether the endpoint belongs to the VM API 2.0, which is rate limited and returns errors
    /// as `SIMPLE_RETURN`. The others are QPS endpoints, which return `ServiceResponse` errors.
    pub fn is_api_v2(self) -> bool {
        matches!(
            self,
            Endpoint::HostList | Endpoint::HostDetection | Endpoint::KnowledgeBase
        )
    }
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Endpoint::ALL
            .into_iter()
            .find(|endpoint| endpoint.name() == text)
            .ok_or_else(|| {
                let names: Vec<_> = Endpoint::ALL.iter().map(|e| e.name()).collect();
                format!(
                    "unknown endpoint {text:?}, expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// The misbehaviour of a faulty call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// HTTP 409 with `SIMPLE_RETURN` code 1960 and `ITEM` `CALLS_TO_FINISH`.
    ConcurrencyLimit {
        /// Value of the `CALLS_TO_FINISH` item.
        calls_to_finish: u32,
    },
    /// HTTP 409 with `SIMPLE_RETURN` code 1965, `ITEM` `SECONDS_TO_WAIT` and the same value in
    /// `X-RateLimit-ToWait-Sec`.
    RateLimit {
        /// Value of the `SECONDS_TO_WAIT` item.
        seconds_to_wait: u64,
    },
    /// An HTTP 5xx status with a short HTML body.
    ServerError {
        /// The status code, 500 to 599.
        status: u16,
    },
    /// The connection is aborted in the middle of the body.
    ResetMidBody,
    /// The body stops in the middle for the given time, then continues.
    StallMidBody {
        /// Length of the stall, in seconds.
        secs: u64,
    },
    /// The body ends cleanly in the middle of the XML.
    TruncatedXml,
    /// Bytes that are not UTF-8 appear inside the first record's text.
    InvalidUtf8,
    /// Control characters that XML 1.0 forbids appear inside the first record's text.
    ControlCharacters,
    /// HTTP 200 carrying `SIMPLE_RETURN` code 2001 ("This account has expired.").
    AccountExpired,
    /// HTTP 200 carrying `ServiceResponse` `INVALID_CREDENTIALS`.
    InvalidCredentials,
    /// HTTP 401 carrying `SIMPLE_RETURN` code 2000 ("Bad Login/Password").
    BadLogin,
}

impl FaultKind {
    /// Whether the fault alters a normal body rather than replacing the whole response.
    pub(crate) fn is_body_fault(self) -> bool {
        matches!(
            self,
            FaultKind::ResetMidBody
                | FaultKind::StallMidBody { .. }
                | FaultKind::TruncatedXml
                | FaultKind::InvalidUtf8
                | FaultKind::ControlCharacters
        )
    }
}

impl FromStr for FaultKind {
    type Err = String;

    /// Parses `concurrency[=CALLS]`, `rate-limit[=SECS]`, `5xx` as a status such as `503`,
    /// `reset`, `stall[=SECS]`, `truncate`, `invalid-utf8`, `control-chars`, `expired`,
    /// `invalid-credentials` or `bad-login`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, value) = match text.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (text, None),
        };
        let number = |default: u64| -> Result<u64, String> {
            value.map_or(Ok(default), |v| {
                v.parse().map_err(|_| format!("{v:?} is not a number"))
            })
        };
        let kind = match name {
            "concurrency" => FaultKind::ConcurrencyLimit {
                calls_to_finish: u32::try_from(number(1)?).map_err(|e| e.to_string())?,
            },
            "rate-limit" => FaultKind::RateLimit {
                seconds_to_wait: number(60)?,
            },
            "reset" => FaultKind::ResetMidBody,
            "stall" => FaultKind::StallMidBody {
                secs: number(3_600)?,
            },
            "truncate" => FaultKind::TruncatedXml,
            "invalid-utf8" => FaultKind::InvalidUtf8,
            "control-chars" => FaultKind::ControlCharacters,
            "expired" => FaultKind::AccountExpired,
            "invalid-credentials" => FaultKind::InvalidCredentials,
            "bad-login" => FaultKind::BadLogin,
            status => match status.parse::<u16>() {
                Ok(code @ 500..=599) => FaultKind::ServerError { status: code },
                _ => return Err(format!("unknown fault kind {name:?}")),
            },
        };
        Ok(kind)
    }
}

/// How many calls a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// The next N calls to the endpoint.
    Times(u32),
    /// Every call until the fault is cleared.
    Always,
}

/// A fault armed on one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultRule {
    /// Endpoint that misbehaves.
    pub endpoint: Endpoint,
    /// How it misbehaves.
    pub kind: FaultKind,
    /// How many calls it applies to.
    pub repeat: Repeat,
}

impl FaultRule {
    /// A fault on the next call only.
    pub fn once(endpoint: Endpoint, kind: FaultKind) -> Self {
        Self::times(endpoint, kind, 1)
    }

    /// A fault on the next `count` calls.
    pub fn times(endpoint: Endpoint, kind: FaultKind, count: u32) -> Self {
        Self {
            endpoint,
            kind,
            repeat: Repeat::Times(count),
        }
    }

    /// A fault on every call until cleared.
    pub fn always(endpoint: Endpoint, kind: FaultKind) -> Self {
        Self {
            endpoint,
            kind,
            repeat: Repeat::Always,
        }
    }
}

impl FromStr for FaultRule {
    type Err = SimError;

    /// Parses `ENDPOINT:KIND[=VALUE][:COUNT|always]`, such as `host-list:rate-limit=3:2`;
    /// the count defaults to 1.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| SimError::InvalidFault {
            text: text.to_owned(),
            reason,
        };
        let mut parts = text.split(':');
        let endpoint: Endpoint = parts.next().unwrap_or_default().parse().map_err(invalid)?;
        let kind: FaultKind = parts
            .next()
            .ok_or_else(|| invalid("missing fault kind".to_owned()))?
            .parse()
            .map_err(invalid)?;
        let repeat = match parts.next() {
            None => Repeat::Times(1),
            Some("always") => Repeat::Always,
            Some(count) => Repeat::Times(count.parse().map_err(|_| {
                invalid(format!("count {count:?} is neither a number nor `always`"))
            })?),
        };
        if parts.next().is_some() {
            return Err(invalid("too many `:`-separated parts".to_owned()));
        }
        Ok(Self {
            endpoint,
            kind,
            repeat,
        })
    }
}

/// The armed faults, consumed call by call.
#[derive(Debug, Default)]
pub(crate) struct FaultTable {
    rules: Mutex<Vec<FaultRule>>,
}

impl FaultTable {
    pub(crate) fn new(rules: Vec<FaultRule>) -> Self {
        Self {
            rules: Mutex::new(rules),
        }
    }

    pub(crate) fn push(&self, rule: FaultRule) {
        self.lock().push(rule);
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// Takes the first armed fault for `endpoint`, using up one of its calls.
    pub(crate) fn take(&self, endpoint: Endpoint) -> Option<FaultKind> {
        let mut rules = self.lock();
        let position = rules
            .iter()
            .position(|rule| rule.endpoint == endpoint && rule.repeat != Repeat::Times(0))?;
        let rule = &mut rules[position];
        let kind = rule.kind;
        if let Repeat::Times(count) = &mut rule.repeat {
            *count -= 1;
            if *count == 0 {
                rules.remove(position);
            }
        }
        Some(kind)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        // A panic while holding this lock cannot leave the list half-updated, so a poisoned
        // lock is still usable.
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_rule_parses_brief_examples() {
        let rule: FaultRule = "host-list:rate-limit=3:2".parse().unwrap();
        assert_eq!(
            rule,
            FaultRule::times(
                Endpoint::HostList,
                FaultKind::RateLimit { seconds_to_wait: 3 },
                2
            )
        );
        let rule: FaultRule = "knowledge-base:500:always".parse().unwrap();
        assert_eq!(
            rule,
            FaultRule::always(
                Endpoint::KnowledgeBase,
                FaultKind::ServerError { status: 500 }
            )
        );
        let rule: FaultRule = "host-detection:reset".parse().unwrap();
        assert_eq!(
            rule,
            FaultRule::once(Endpoint::HostDetection, FaultKind::ResetMidBody)
        );
    }

    #[test]
    fn fault_rule_rejects_bad_text() {
        for text in [
            "",
            "host-list",
            "nowhere:reset",
            "host-list:404",
            "host-list:reset:x",
            "host-list:reset:1:2",
        ] {
            assert!(text.parse::<FaultRule>().is_err(), "{text}");
        }
    }

    #[test]
    fn fault_table_counts_down() {
        let table = FaultTable::new(vec![FaultRule::times(
            Endpoint::HostList,
            FaultKind::BadLogin,
            2,
        )]);
        assert_eq!(table.take(Endpoint::HostAsset), None);
        assert_eq!(table.take(Endpoint::HostList), Some(FaultKind::BadLogin));
        assert_eq!(table.take(Endpoint::HostList), Some(FaultKind::BadLogin));
        assert_eq!(table.take(Endpoint::HostList), None);
    }
}
