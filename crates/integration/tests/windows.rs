//! Incremental windows: first run, follow-up runs, back-fill when the user
//! widens the days or the filters, and a clock that went back.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]

use qgraph_integration::window::{DataSet, WindowState, compute_window};

const DAY: i64 = 86_400_000;
const NOW: i64 = 1_700_000_000_123;
const NOW_SECONDS: i64 = 1_700_000_000_000;

fn state(end_ms: i64, days: f64, filters: &str) -> WindowState {
    WindowState {
        end_ms,
        days,
        filters: filters.to_owned(),
    }
}

#[test]
fn first_run_reaches_back_the_configured_days() {
    let window = compute_window(NOW, 7.0, "", None);

    assert_eq!(window.end_ms, NOW_SECONDS);
    assert_eq!(window.start_ms, NOW_SECONDS - 7 * DAY);
    assert!(!window.backfill);
    assert_eq!(window.start_iso(), "2023-11-07T22:13:20Z");
    assert_eq!(window.end_iso(), "2023-11-14T22:13:20Z");
}

#[test]
fn next_run_starts_at_the_last_end() {
    let last = state(NOW_SECONDS - 3_600_000, 7.0, "f");
    let window = compute_window(NOW, 7.0, "f", Some(&last));

    assert_eq!(window.start_ms, NOW_SECONDS - 3_600_000);
    assert!(!window.backfill);
}

#[test]
fn old_last_run_capped_at_days() {
    let last = state(NOW_SECONDS - 30 * DAY, 7.0, "f");
    let window = compute_window(NOW, 7.0, "f", Some(&last));

    assert_eq!(window.start_ms, NOW_SECONDS - 7 * DAY);
}

#[test]
fn raised_days_back_fill_the_whole_range() {
    let last = state(NOW_SECONDS - 3_600_000, 7.0, "f");
    let window = compute_window(NOW, 30.0, "f", Some(&last));

    assert_eq!(window.start_ms, NOW_SECONDS - 30 * DAY);
    assert!(window.backfill);
}

#[test]
fn lowered_days_keep_the_incremental_start() {
    let last = state(NOW_SECONDS - 3_600_000, 30.0, "f");
    let window = compute_window(NOW, 7.0, "f", Some(&last));

    assert_eq!(window.start_ms, NOW_SECONDS - 3_600_000);
    assert!(!window.backfill);
}

#[test]
fn changed_filters_back_fill() {
    let last = state(NOW_SECONDS - 3_600_000, 7.0, "severities=3,4,5");
    let window = compute_window(NOW, 7.0, "severities=2,3,4,5", Some(&last));

    assert_eq!(window.start_ms, NOW_SECONDS - 7 * DAY);
    assert!(window.backfill);
}

#[test]
fn clock_going_back_keeps_window_open() {
    let last = state(NOW_SECONDS + DAY, 7.0, "f");
    let window = compute_window(NOW, 7.0, "f", Some(&last));

    assert!(window.start_ms < window.end_ms);
    assert_eq!(window.start_ms, NOW_SECONDS - 7 * DAY);
}

#[test]
fn fractional_days_are_honoured() {
    let window = compute_window(NOW, 0.25, "", None);
    assert_eq!(window.end_ms - window.start_ms, 6 * 3_600_000);
}

#[test]
fn data_set_names_round_trip() {
    for set in DataSet::ALL {
        assert_eq!(DataSet::parse(set.as_str()), Some(set));
    }
    assert_eq!(DataSet::parse("hosts"), None);
}
