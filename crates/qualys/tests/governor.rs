//! Governor behaviour under paused tokio time: slots, budgets and waits.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use qgraph_qualys::{Governor, GovernorConfig};
use reqwest::header::{HeaderMap, HeaderValue};
use tokio::time::Instant;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn governor() -> Governor {
    Governor::new(GovernorConfig::default())
}

#[tokio::test(start_paused = true)]
async fn slots_follow_concurrency_headers() {
    let governor = governor();
    assert_eq!(governor.slots(), 1);
    let permit = governor.acquire().await;
    governor.observe_headers(&headers(&[
        ("x-concurrency-limit-limit", "5"),
        ("x-concurrency-limit-running", "1"),
    ]));
    assert_eq!(governor.slots(), 5, "only our own call was running");
    governor.observe_headers(&headers(&[
        ("x-concurrency-limit-limit", "5"),
        ("x-concurrency-limit-running", "4"),
    ]));
    assert_eq!(
        governor.slots(),
        2,
        "three calls of other clients leave two slots"
    );
    drop(permit);
}

#[tokio::test(start_paused = true)]
async fn permits_never_exceed_slots() {
    let governor = governor();
    let permit = governor.acquire().await;
    governor.observe_headers(&headers(&[
        ("x-concurrency-limit-limit", "3"),
        ("x-concurrency-limit-running", "1"),
    ]));
    drop(permit);

    let running = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let governor = governor.clone();
        let running = Arc::clone(&running);
        let peak = Arc::clone(&peak);
        tasks.push(tokio::spawn(async move {
            let _permit = governor.acquire().await;
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
            running.fetch_sub(1, Ordering::SeqCst);
        }));
    }
    let started = Instant::now();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        peak.load(Ordering::SeqCst),
        3,
        "every slot is used and none more"
    );
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(4),
        "12 calls of 1 s through 3 slots"
    );
}

#[tokio::test(start_paused = true)]
async fn to_wait_header_delays_next_call() {
    let governor = governor();
    let permit = governor.acquire().await;
    governor.observe_headers(&headers(&[("x-ratelimit-towait-sec", "30")]));
    drop(permit);

    let started = Instant::now();
    let _permit = governor.acquire().await;
    assert_eq!(started.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn seconds_to_wait_blocks_every_task() {
    let governor = governor();
    governor.observe_rate_limited(Duration::from_secs(68_928));
    let started = Instant::now();
    let _permit = governor.acquire().await;
    assert_eq!(started.elapsed(), Duration::from_secs(68_928));
}

#[tokio::test(start_paused = true)]
async fn spent_budget_waits_for_window() {
    let governor = governor();
    let permit = governor.acquire().await;
    governor.observe_headers(&headers(&[
        ("x-ratelimit-limit", "300"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-window-sec", "3600"),
    ]));
    drop(permit);

    let started = Instant::now();
    let _permit = governor.acquire().await;
    assert_eq!(started.elapsed(), Duration::from_secs(3_600));
}

#[tokio::test(start_paused = true)]
async fn budget_counts_calls_started_since_headers() {
    let governor = governor();
    let permit = governor.acquire().await;
    governor.observe_headers(&headers(&[
        ("x-ratelimit-remaining", "2"),
        ("x-ratelimit-window-sec", "600"),
        ("x-concurrency-limit-limit", "10"),
        ("x-concurrency-limit-running", "1"),
    ]));
    drop(permit);

    let started = Instant::now();
    let first = governor.acquire().await;
    let second = governor.acquire().await;
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "two calls are left in the budget"
    );
    drop((first, second));
    // A third call would exceed the budget, so it waits one window length.
    let _third = governor.acquire().await;
    assert_eq!(started.elapsed(), Duration::from_secs(600));
}

#[tokio::test(start_paused = true)]
async fn concurrency_throttle_waits_for_own_call() {
    let governor = governor();
    let permit = governor.acquire().await;
    governor.observe_headers(&headers(&[
        ("x-concurrency-limit-limit", "4"),
        ("x-concurrency-limit-running", "1"),
    ]));
    let second_permit = governor.acquire().await;
    // A third call was rejected with CALLS_TO_FINISH=1 while two of ours run.
    governor.observe_concurrency_limited(1);

    let waiter = {
        let governor = governor.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let _permit = governor.acquire().await;
            started.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !waiter.is_finished(),
        "no call may start before one of ours ends"
    );
    drop(second_permit);
    let waited = waiter.await.unwrap();
    assert_eq!(
        waited,
        Duration::from_secs(3),
        "the call starts as soon as ours ends"
    );
    drop(permit);
}

#[tokio::test(start_paused = true)]
async fn slots_held_by_others_probe_after_cooldown() {
    let governor = governor();
    let permit = governor.acquire().await;
    governor.observe_headers(&headers(&[
        ("x-concurrency-limit-limit", "2"),
        ("x-concurrency-limit-running", "3"),
    ]));
    drop(permit);

    let started = Instant::now();
    let _permit = governor.acquire().await;
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(governor.slots(), 1);
}
