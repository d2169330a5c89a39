//! Retry policy: which failures are retried, how often, and after what delay.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{ParseError, QualysError};

/// Retry class of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retryable {
    /// Permanent: bad request, bad credentials, missing rights, an error body.
    No,
    /// Transient: 5xx, timeouts, connection resets, bodies that end early.
    Yes,
    /// Qualys throttled the call (409 code 1960 or 1965); the governor applies the wait.
    Throttled,
}

/// Next step after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after the delay (on top of any governor wait).
    Retry(Duration),
    /// Report the failure.
    GiveUp,
}

/// Bounded retries with capped, jittered exponential backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Maximum attempts of one page for transient failures, the first included.
    pub max_attempts: u32,
    /// Maximum attempts of one page that Qualys throttles. These wait as long as Qualys requests, with no backoff.
    pub max_throttled_attempts: u32,
    /// Delay before the first retry.
    pub initial_backoff: Duration,
    /// Maximum delay between attempts.
    pub max_backoff: Duration,
    /// Maximum wait that a 409 code 1965 may request. A longer one fails the
    /// page at once, so the sync does not stop for hours.
    pub max_throttle_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_throttled_attempts: 20,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            // Qualys rate-limit windows are an hour at most by default.
            max_throttle_wait: Duration::from_secs(3_600),
        }
    }
}

/// Qualys codes of 409 responses that ask the caller to wait and retry.
const THROTTLE_CODES: &[u32] = &[1960, 1965];
/// HTTP statuses that never succeed on retry.
const PERMANENT_STATUSES: &[u16] = &[400, 401, 403, 404, 413];

impl RetryPolicy {
    /// Classifies a failure.
    pub fn classify(error: &QualysError) -> Retryable {
        match error {
            QualysError::Api { status, body, .. } => {
                if body
                    .numeric_code()
                    .is_some_and(|code| THROTTLE_CODES.contains(&code))
                {
                    Retryable::Throttled
                } else if *status >= 500 {
                    Retryable::Yes
                } else {
                    Retryable::No
                }
            }
            QualysError::Http { status, .. } => classify_status(*status),
            QualysError::ContentType { status, .. } => {
                if *status >= 500 {
                    Retryable::Yes
                } else {
                    Retryable::No
                }
            }
            QualysError::Transport { .. } => Retryable::Yes,
            QualysError::Parse { source, .. } => match source {
                ParseError::Io { .. } | ParseError::Truncated { .. } | ParseError::Xml { .. } => {
                    Retryable::Yes
                }
                ParseError::UnexpectedRoot { .. } | ParseError::Api(_) | ParseError::Record(_) => {
                    Retryable::No
                }
            },
            QualysError::InvalidApiUrl { .. }
            | QualysError::InvalidParameter { .. }
            | QualysError::ClientBuild { .. }
            | QualysError::Record { .. }
            | QualysError::NoCursor { .. }
            | QualysError::RunawayPaging { .. }
            | QualysError::WaitTooLong { .. }
            | QualysError::PageFailed { .. } => Retryable::No,
        }
    }

    /// Decides whether to retry after `attempts` attempts, `throttled` of them throttled.
    pub fn decide(&self, error: &QualysError, attempts: u32, throttled: u32) -> RetryDecision {
        match Self::classify(error) {
            Retryable::No => RetryDecision::GiveUp,
            Retryable::Throttled if throttled < self.max_throttled_attempts => {
                RetryDecision::Retry(Duration::ZERO)
            }
            Retryable::Yes if attempts.saturating_sub(throttled) < self.max_attempts => {
                let transient = attempts.saturating_sub(throttled);
                RetryDecision::Retry(self.backoff(transient, jitter()))
            }
            Retryable::Throttled | Retryable::Yes => RetryDecision::GiveUp,
        }
    }

    /// Delay after the `failures`-th transient failure, scaled by `jitter` in `[0, 1)`.
    ///
    /// The delay doubles per failure up to `max_backoff`; jitter keeps between
    /// half and all of it so parallel tasks do not retry in step.
    pub fn backoff(&self, failures: u32, jitter: f64) -> Duration {
        let exponent = failures.saturating_sub(1).min(30);
        let full = self
            .initial_backoff
            .saturating_mul(1_u32 << exponent)
            .min(self.max_backoff);
        full.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
    }
}

fn classify_status(status: u16) -> Retryable {
    if PERMANENT_STATUSES.contains(&status) {
        Retryable::No
    } else if status >= 500 || status == 409 || status == 429 {
        // A 409 without a readable body may still be a throttle.
        Retryable::Yes
    } else {
        Retryable::No
    }
}

/// Returns a number in `[0, 1)` that differs between calls and processes.
fn jitter() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (hasher.finish() >> 11) as f64 / (1_u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Endpoint;
    use crate::error::{ApiErrorBody, TransportKind};

    fn api(status: u16, code: &str) -> QualysError {
        QualysError::Api {
            endpoint: Endpoint::HostDetections,
            status,
            body: ApiErrorBody {
                code: Some(code.to_owned()),
                ..ApiErrorBody::default()
            },
            retry_after: None,
        }
    }

    #[test]
    fn throttle_codes_retried() {
        assert_eq!(
            RetryPolicy::classify(&api(409, "1960")),
            Retryable::Throttled
        );
        assert_eq!(
            RetryPolicy::classify(&api(409, "1965")),
            Retryable::Throttled
        );
    }

    #[test]
    fn other_409_codes_not_retried() {
        assert_eq!(RetryPolicy::classify(&api(409, "2003")), Retryable::No);
        assert_eq!(RetryPolicy::classify(&api(409, "2011")), Retryable::No);
    }

    #[test]
    fn permanent_statuses_not_retried() {
        for status in [400, 401, 403, 404, 413] {
            let error = QualysError::Http {
                endpoint: Endpoint::KnowledgeBase,
                status,
            };
            assert_eq!(RetryPolicy::classify(&error), Retryable::No, "{status}");
        }
        assert_eq!(RetryPolicy::classify(&api(400, "1905")), Retryable::No);
        assert_eq!(RetryPolicy::classify(&api(200, "2001")), Retryable::No);
    }

    #[test]
    fn transient_failures_retried() {
        let reset = QualysError::Transport {
            endpoint: Endpoint::HostIds,
            kind: TransportKind::Connect,
            message: "connection reset".to_owned(),
        };
        assert_eq!(RetryPolicy::classify(&reset), Retryable::Yes);
        let early_end = QualysError::Parse {
            endpoint: Endpoint::HostIds,
            source: ParseError::Truncated {
                open_element: "HOST".to_owned(),
            },
        };
        assert_eq!(RetryPolicy::classify(&early_end), Retryable::Yes);
        let server = QualysError::Http {
            endpoint: Endpoint::HostIds,
            status: 503,
        };
        assert_eq!(RetryPolicy::classify(&server), Retryable::Yes);
    }

    #[test]
    fn attempts_are_bounded() {
        let policy = RetryPolicy::default();
        let server = QualysError::Http {
            endpoint: Endpoint::HostIds,
            status: 502,
        };
        assert!(matches!(
            policy.decide(&server, 4, 0),
            RetryDecision::Retry(_)
        ));
        assert_eq!(policy.decide(&server, 5, 0), RetryDecision::GiveUp);
        let throttled = api(409, "1965");
        assert_eq!(
            policy.decide(&throttled, 19, 19),
            RetryDecision::Retry(Duration::ZERO)
        );
        assert_eq!(policy.decide(&throttled, 20, 20), RetryDecision::GiveUp);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.backoff(1, 0.999_999),
            Duration::from_secs(1).mul_f64(0.999_999_5)
        );
        assert_eq!(policy.backoff(2, 0.0), Duration::from_secs(1));
        assert_eq!(policy.backoff(3, 0.0), Duration::from_secs(2));
        assert_eq!(policy.backoff(30, 0.0), Duration::from_secs(30));
        assert!(policy.backoff(30, 0.99) <= Duration::from_secs(60));
    }

    #[test]
    fn jitter_in_unit_range() {
        for _ in 0..1000 {
            let value = jitter();
            assert!((0.0..1.0).contains(&value), "{value}");
        }
    }
}
