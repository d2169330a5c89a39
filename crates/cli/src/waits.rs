//! Reports of the waits Qualys imposes during a sync (409 code 1965 with
//! `SECONDS_TO_WAIT`, rate-limit headers, concurrency cooldowns), so a long
//! wait shows how much time is left instead of looking like a hang.

use std::future::Future;
use std::time::Duration;

use qgraph_integration::RunObserver;
use qgraph_qualys::Governor;
use tokio::time::{Instant, MissedTickBehavior};

/// How often the governors are checked for a pending wait.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Time between two reports of one long wait.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(30);
/// A wait with less than this left when first seen is not reported.
pub const MIN_REPORTED_WAIT: Duration = Duration::from_secs(2);

/// Runs `work` to completion while [`report_waits`] watches `governors`.
pub async fn while_reporting_waits<F: Future>(
    governors: &[&Governor],
    observer: &dyn RunObserver,
    work: F,
) -> F::Output {
    let watcher = report_waits(governors, observer);
    tokio::pin!(work);
    tokio::pin!(watcher);
    tokio::select! {
        biased;
        output = &mut work => output,
        // The watcher never ends; this arm only satisfies the type checker.
        () = &mut watcher => work.await,
    }
}

/// Calls [`RunObserver::qualys_wait`] with the time left when a wait of at
/// least [`MIN_REPORTED_WAIT`] begins, every [`REPORT_INTERVAL`] while it
/// lasts, and with zero once it ends. Never returns; drop it to stop.
pub async fn report_waits(governors: &[&Governor], observer: &dyn RunObserver) {
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // When the wait being reported was last reported.
    let mut last_report: Option<Instant> = None;
    loop {
        ticks.tick().await;
        let remaining = governors
            .iter()
            .filter_map(|governor| governor.pending_wait())
            .max();
        let now = Instant::now();
        match (remaining, last_report) {
            (Some(left), None) if left >= MIN_REPORTED_WAIT => {
                observer.qualys_wait(left);
                last_report = Some(now);
            }
            (Some(left), Some(at)) if now - at >= REPORT_INTERVAL => {
                observer.qualys_wait(left);
                last_report = Some(now);
            }
            (None, Some(_)) => {
                observer.qualys_wait(Duration::ZERO);
                last_report = None;
            }
            _ => {}
        }
    }
}

/// Formats a wait for people, rounded up to whole seconds: `45s`, `9m 40s`, `1h 5m 0s`.
pub fn format_wait(wait: Duration) -> String {
    let total = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    if hours > 0 {
        format!("{hours}h {minutes}m {seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m {seconds}s")
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::sync::Mutex;

    use qgraph_qualys::GovernorConfig;

    use super::*;

    /// Records the time left of every report, in whole seconds.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<u64>>);

    impl RunObserver for Recorder {
        fn qualys_wait(&self, remaining: Duration) {
            self.0.lock().unwrap().push(remaining.as_secs());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn long_rate_limit_is_reported_at_intervals() {
        let governor = Governor::new(GovernorConfig::default());
        let recorder = Recorder::default();
        governor.observe_rate_limited(Duration::from_secs(600));

        let watched = tokio::time::timeout(
            Duration::from_secs(95),
            report_waits(&[&governor], &recorder),
        )
        .await;

        assert!(watched.is_err(), "the watcher ends only when dropped");
        assert_eq!(*recorder.0.lock().unwrap(), [600, 570, 540, 510]);
    }

    #[tokio::test(start_paused = true)]
    async fn end_of_wait_is_reported_as_zero() {
        let governor = Governor::new(GovernorConfig::default());
        let recorder = Recorder::default();
        governor.observe_rate_limited(Duration::from_secs(40));

        let _ = tokio::time::timeout(
            Duration::from_secs(120),
            report_waits(&[&governor], &recorder),
        )
        .await;

        assert_eq!(*recorder.0.lock().unwrap(), [40, 10, 0]);
    }

    #[tokio::test(start_paused = true)]
    async fn short_waits_are_not_reported() {
        let governor = Governor::new(GovernorConfig::default());
        let recorder = Recorder::default();
        governor.observe_rate_limited(Duration::from_secs(1));

        let _ = tokio::time::timeout(
            Duration::from_secs(10),
            report_waits(&[&governor], &recorder),
        )
        .await;

        assert!(recorder.0.lock().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn work_output_is_returned() {
        let governor = Governor::new(GovernorConfig::default());
        governor.observe_rate_limited(Duration::from_secs(300));
        let recorder = Recorder::default();

        let output = while_reporting_waits(&[&governor], &recorder, async {
            tokio::time::sleep(Duration::from_secs(31)).await;
            7
        })
        .await;

        assert_eq!(output, 7);
        assert_eq!(*recorder.0.lock().unwrap(), [300, 270]);
    }

    #[test]
    fn waits_format_in_hours_minutes_seconds() {
        assert_eq!(format_wait(Duration::from_secs(45)), "45s");
        assert_eq!(format_wait(Duration::from_millis(44_100)), "45s");
        assert_eq!(format_wait(Duration::from_secs(580)), "9m 40s");
        assert_eq!(format_wait(Duration::from_secs(3900)), "1h 5m 0s");
        assert_eq!(format_wait(Duration::ZERO), "0s");
    }
}
