//! API 2.0 rate and concurrency limits, enforced and reported in response headers.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::{Duration, Instant};

use crate::config::Limits;

/// Why a call was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Too many calls running: code 1960.
    Concurrency { calls_to_finish: u32 },
    /// Too many calls in the window: code 1965.
    Rate { seconds_to_wait: u64 },
}

/// Values for the `X-RateLimit-*` and `X-Concurrency-Limit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LimitHeaders {
    pub limit: u32,
    pub window_secs: u64,
    pub remaining: u32,
    pub to_wait_secs: u64,
    pub concurrency_limit: u32,
    pub running: u32,
}

#[derive(Debug)]
struct LimiterState {
    limits: Limits,
    window_start: Option<Instant>,
    used: u32,
    running: u32,
}

/// Shared limiter of one simulated subscription.
#[derive(Debug, Clone)]
pub(crate) struct Limiter {
    state: Arc<Mutex<LimiterState>>,
}

/// A running call; dropping it frees its concurrency slot.
#[derive(Debug)]
pub(crate) struct ConcurrencyPermit {
    state: Arc<Mutex<LimiterState>>,
}

impl Drop for ConcurrencyPermit {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        state.running = state.running.saturating_sub(1);
    }
}

fn lock(state: &Mutex<LimiterState>) -> std::sync::MutexGuard<'_, LimiterState> {
    // Updates are single assignments, so a poisoned lock still holds consistent counters.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Limiter {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            state: Arc::new(Mutex::new(LimiterState {
                limits,
                window_start: None,
                used: 0,
                running: 0,
            })),
        }
    }

    pub(crate) fn set_limits(&self, limits: Limits) {
        lock(&self.state).limits = limits;
    }

    /// The header values as they are now, without admitting a call.
    pub(crate) fn peek(&self) -> LimitHeaders {
        let state = lock(&self.state);
        LimitHeaders {
            limit: state.limits.rate_limit_calls,
            window_secs: state.limits.rate_window_secs,
            remaining: state.limits.rate_limit_calls.saturating_sub(state.used),
            to_wait_secs: 0,
            concurrency_limit: state.limits.concurrency_limit,
            running: state.running,
        }
    }

    /// Admits one call, or rejects it; the headers describe the state after the decision.
    pub(crate) fn admit(&self) -> (Result<ConcurrencyPermit, Rejection>, LimitHeaders) {
        let mut state = lock(&self.state);
        let now = Instant::now();
        let window = Duration::from_secs(state.limits.rate_window_secs);
        let start = match state.window_start {
            Some(start) if now.duration_since(start) < window => start,
            _ => {
                state.used = 0;
                state.window_start = Some(now);
                now
            }
        };
        let to_wait = window
            .saturating_sub(now.duration_since(start))
            .as_secs()
            .max(1);

        let outcome = if state.running >= state.limits.concurrency_limit {
            Err(Rejection::Concurrency {
                calls_to_finish: state.running + 1 - state.limits.concurrency_limit,
            })
        } else if state.used >= state.limits.rate_limit_calls {
            Err(Rejection::Rate {
                seconds_to_wait: to_wait,
            })
        } else {
            state.used += 1;
            state.running += 1;
            Ok(ConcurrencyPermit {
                state: Arc::clone(&self.state),
            })
        };

        let remaining = state.limits.rate_limit_calls.saturating_sub(state.used);
        let headers = LimitHeaders {
            limit: state.limits.rate_limit_calls,
            window_secs: state.limits.rate_window_secs,
            remaining,
            to_wait_secs: if remaining == 0 { to_wait } else { 0 },
            concurrency_limit: state.limits.concurrency_limit,
            running: state.running,
        };
        (outcome, headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(calls: u32, concurrency: u32) -> Limits {
        Limits {
            rate_limit_calls: calls,
            rate_window_secs: 60,
            concurrency_limit: concurrency,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rate_window_resets_after_its_length() {
        let limiter = Limiter::new(limits(2, 10));
        assert!(limiter.admit().0.is_ok());
        let (second, headers) = limiter.admit();
        assert!(second.is_ok());
        assert_eq!(headers.remaining, 0);
        assert_eq!(headers.to_wait_secs, 60);
        tokio::time::advance(Duration::from_secs(20)).await;
        let (third, _) = limiter.admit();
        assert_eq!(
            third.err(),
            Some(Rejection::Rate {
                seconds_to_wait: 40
            })
        );
        tokio::time::advance(Duration::from_secs(40)).await;
        let (fourth, headers) = limiter.admit();
        assert!(fourth.is_ok());
        assert_eq!(headers.remaining, 1);
    }

    #[tokio::test]
    async fn concurrency_slot_frees_on_drop() {
        let limiter = Limiter::new(limits(100, 1));
        let (first, headers) = limiter.admit();
        assert_eq!(headers.running, 1);
        let (second, _) = limiter.admit();
        assert_eq!(
            second.err(),
            Some(Rejection::Concurrency { calls_to_finish: 1 })
        );
        drop(first);
        assert!(limiter.admit().0.is_ok());
    }
}
