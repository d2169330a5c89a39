//! Rate-limit and concurrency governor, one per Qualys API family and shared
//! by every task of a run.
//!
//! Qualys reports its limits on every VM API response:
//! `X-Concurrency-Limit-Limit`/`-Running` (parallel calls of the whole
//! subscription), `X-RateLimit-Remaining`/`-Window-Sec` (calls left in the
//! window) and `X-RateLimit-ToWait-Sec` (seconds before the next call may
//! start). Throttled calls get a 409 whose body gives `SECONDS_TO_WAIT`
//! (code 1965) or `CALLS_TO_FINISH` (code 1960). The governor turns these into
//! permits: a request starts only when a slot is free, the budget is not spent
//! and no wait is pending.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Settings of a governor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GovernorConfig {
    /// Parallel requests allowed before any response has reported the subscription's limit.
    pub initial_concurrency: u32,
    /// Wait before probing again when other clients hold every slot, or after
    /// a `CALLS_TO_FINISH` that our own requests cannot satisfy.
    pub concurrency_cooldown: Duration,
}

impl Default for GovernorConfig {
    fn default() -> Self {
        // A standard subscription allows 2 parallel calls; start with 1 so a
        // run never collides with itself before the first headers arrive.
        Self {
            initial_concurrency: 1,
            concurrency_cooldown: Duration::from_secs(10),
        }
    }
}

/// Paces the requests of one API family.
#[derive(Debug, Clone)]
pub struct Governor {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    changed: Notify,
    config: GovernorConfig,
}

#[derive(Debug)]
struct State {
    /// Our requests holding a permit.
    in_flight: u32,
    /// Requests we may run at once.
    slots: u32,
    /// No request starts before this instant.
    blocked_until: Option<Instant>,
    /// Calls left in the current rate-limit window, when known.
    budget: Option<u64>,
    /// When a spent budget is sure to have refilled.
    budget_reset: Option<Instant>,
    /// Releases of our own requests still awaited after a `CALLS_TO_FINISH`.
    releases_awaited: u32,
    /// Deadline after which awaited releases are given up on.
    releases_deadline: Option<Instant>,
}

/// A slot held by one request; dropping it frees the slot.
#[derive(Debug)]
pub struct Permit {
    shared: Arc<Shared>,
}

/// Condition a permit request waits for.
enum Wait {
    Until(Instant),
    Release(Option<Instant>),
}

impl Governor {
    /// Creates a governor with `config`.
    pub fn new(config: GovernorConfig) -> Self {
        let state = State {
            in_flight: 0,
            slots: config.initial_concurrency.max(1),
            blocked_until: None,
            budget: None,
            budget_reset: None,
            releases_awaited: 0,
            releases_deadline: None,
        };
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                changed: Notify::new(),
                config,
            }),
        }
    }

    /// Waits for a slot, the budget and any pending wait, then takes a permit.
    pub async fn acquire(&self) -> Permit {
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();

            let wait = match self.shared.lock().try_take(Instant::now()) {
                Ok(()) => {
                    return Permit {
                        shared: Arc::clone(&self.shared),
                    };
                }
                Err(wait) => wait,
            };
            match wait {
                Wait::Until(deadline) => tokio::time::sleep_until(deadline).await,
                Wait::Release(Some(deadline)) => {
                    tokio::select! {
                        () = &mut changed => {}
                        () = tokio::time::sleep_until(deadline) => {}
                    }
                }
                Wait::Release(None) => changed.await,
            }
        }
    }

    /// Updates limits from the headers of a response received while `permit` is held.
    pub fn observe_headers(&self, headers: &HeaderMap) {
        let limits = HeaderLimits::from_headers(headers);
        let now = Instant::now();
        let cooldown = self.shared.config.concurrency_cooldown;
        self.shared.lock().apply_headers(&limits, now, cooldown);
        self.shared.changed.notify_waiters();
    }

    /// Records a 409 code 1965 (rate limit): no request starts for `wait`.
    pub fn observe_rate_limited(&self, wait: Duration) {
        let until = Instant::now() + wait;
        self.shared.lock().block_until(until);
        self.shared.changed.notify_waiters();
    }

    /// Records a 409 code 1960 (concurrency limit) after its permit was dropped:
    /// no request starts until `calls_to_finish` of our requests end, or the cooldown passes.
    pub fn observe_concurrency_limited(&self, calls_to_finish: u32) {
        let now = Instant::now();
        let cooldown = self.shared.config.concurrency_cooldown;
        let mut state = self.shared.lock();
        if calls_to_finish > state.in_flight {
            // Other clients hold the slots; only time will free them.
            state.block_until(now + cooldown);
            state.slots = state.in_flight.max(1);
        } else {
            state.releases_awaited = calls_to_finish.max(1);
            state.releases_deadline = Some(now + cooldown);
        }
        drop(state);
        self.shared.changed.notify_waiters();
    }

    /// Returns how long requests are held back by a wait Qualys requested (a
    /// 409 code 1965, `X-RateLimit-ToWait-Sec`, a spent budget or a
    /// concurrency cooldown), or `None` when a request may start now. A wait
    /// for our own requests to finish has no known end and is not counted.
    pub fn pending_wait(&self) -> Option<Duration> {
        let now = Instant::now();
        let state = self.shared.lock();
        let blocked = state.blocked_until;
        let budget_reset = state.budget_reset.filter(|_| state.budget == Some(0));
        drop(state);
        [blocked, budget_reset]
            .into_iter()
            .flatten()
            .max()
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// Drops a wait that runs longer than `limit` from now, so the requests
    /// of a sync that refused such a wait fail at once instead of queueing
    /// behind it. Shorter waits stay.
    pub fn forget_waits_longer_than(&self, limit: Duration) {
        let horizon = Instant::now() + limit;
        let mut state = self.shared.lock();
        if state.blocked_until.is_some_and(|until| until > horizon) {
            state.blocked_until = None;
        }
        if state.budget_reset.is_some_and(|reset| reset > horizon) {
            state.budget_reset = None;
            state.budget = None;
        }
        drop(state);
        self.shared.changed.notify_waiters();
    }

    /// Current number of requests allowed in parallel (for tests and progress reports).
    pub fn slots(&self) -> u32 {
        self.shared.lock().slots
    }

    /// Requests currently holding a permit.
    pub fn in_flight(&self) -> u32 {
        self.shared.lock().in_flight
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is a plain assignment.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        state.releases_awaited = state.releases_awaited.saturating_sub(1);
        drop(state);
        self.shared.changed.notify_waiters();
    }
}

impl State {
    fn try_take(&mut self, now: Instant) -> Result<(), Wait> {
        if let Some(until) = self.blocked_until {
            if until > now {
                return Err(Wait::Until(until));
            }
            self.blocked_until = None;
        }
        if self.budget == Some(0) {
            match self.budget_reset {
                Some(reset) if reset > now => return Err(Wait::Until(reset)),
                // The window has passed; the next response reports the new budget.
                _ => self.budget = None,
            }
        }
        if self.releases_awaited > 0 {
            match self.releases_deadline {
                Some(deadline) if deadline > now => return Err(Wait::Release(Some(deadline))),
                _ => self.releases_awaited = 0,
            }
        }
        if self.in_flight >= self.slots {
            return Err(Wait::Release(None));
        }
        self.in_flight += 1;
        if let Some(budget) = self.budget.as_mut() {
            *budget = budget.saturating_sub(1);
        }
        Ok(())
    }

    fn block_until(&mut self, until: Instant) {
        if self.blocked_until.is_none_or(|current| current < until) {
            self.blocked_until = Some(until);
        }
    }

    fn apply_headers(&mut self, limits: &HeaderLimits, now: Instant, cooldown: Duration) {
        if let Some(wait) = limits.to_wait_secs.filter(|secs| *secs > 0) {
            self.block_until(now + Duration::from_secs(wait));
        }
        if let Some(remaining) = limits.remaining {
            // Requests already started since this response was produced are spent too.
            let started_since = u64::from(self.in_flight.saturating_sub(1));
            self.budget = Some(remaining.saturating_sub(started_since));
            // The window began at or before this response, so it has surely
            // ended one window length from now: a safe time to assume a refill.
            let wait = limits
                .to_wait_secs
                .filter(|secs| *secs > 0)
                .or(limits.window_secs)
                .unwrap_or(0);
            self.budget_reset = Some(now + Duration::from_secs(wait));
        }
        if let Some(limit) = limits.concurrency_limit {
            // `Running` counts every call of the subscription, ours included.
            let running = limits.concurrency_running.unwrap_or(self.in_flight);
            let others = running.saturating_sub(self.in_flight);
            let slots = limit.saturating_sub(others);
            if slots == 0 {
                // Every slot is taken by other clients: probe again after the cooldown.
                self.block_until(now + cooldown);
                self.slots = 1;
            } else {
                self.slots = slots;
            }
        }
    }
}

/// Limits read from one response's headers; absent headers are `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeaderLimits {
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Window-Sec`.
    pub window_secs: Option<u64>,
    /// `X-RateLimit-ToWait-Sec`.
    pub to_wait_secs: Option<u64>,
    /// `X-Concurrency-Limit-Limit`.
    pub concurrency_limit: Option<u32>,
    /// `X-Concurrency-Limit-Running`.
    pub concurrency_running: Option<u32>,
}

impl HeaderLimits {
    /// Reads the Qualys limit headers; unreadable values count as absent.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        fn number<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
            headers.get(name)?.to_str().ok()?.trim().parse().ok()
        }
        Self {
            remaining: number(headers, "x-ratelimit-remaining"),
            window_secs: number(headers, "x-ratelimit-window-sec"),
            to_wait_secs: number(headers, "x-ratelimit-towait-sec"),
            concurrency_limit: number(headers, "x-concurrency-limit-limit"),
            concurrency_running: number(headers, "x-concurrency-limit-running"),
        }
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pending_wait_counts_down_rate_limit() {
        let governor = Governor::new(GovernorConfig::default());
        assert_eq!(governor.pending_wait(), None);

        governor.observe_rate_limited(Duration::from_secs(600));
        assert_eq!(governor.pending_wait(), Some(Duration::from_secs(600)));

        tokio::time::advance(Duration::from_secs(590)).await;
        assert_eq!(governor.pending_wait(), Some(Duration::from_secs(10)));

        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(governor.pending_wait(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn pending_wait_counts_spent_budget_only() {
        let governor = Governor::new(GovernorConfig::default());
        let permit = governor.acquire().await;
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("3"));
        headers.insert("x-ratelimit-window-sec", HeaderValue::from_static("3600"));
        governor.observe_headers(&headers);
        drop(permit);
        assert_eq!(
            governor.pending_wait(),
            None,
            "calls are left in the window"
        );

        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        governor.observe_headers(&headers);

        assert_eq!(governor.pending_wait(), Some(Duration::from_secs(3600)));
    }

    #[tokio::test(start_paused = true)]
    async fn pending_wait_counts_concurrency_cooldown() {
        let governor = Governor::new(GovernorConfig {
            concurrency_cooldown: Duration::from_millis(250),
            ..GovernorConfig::default()
        });

        // No request of ours is running, so other clients hold the slots.
        governor.observe_concurrency_limited(1);

        assert_eq!(governor.pending_wait(), Some(Duration::from_millis(250)));
    }
}
