//! Progress of a sync on standard error: a spinner per step on a terminal,
//! plain rate-limited lines otherwise, or nothing with `--quiet`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use qgraph_integration::RunObserver;
use qgraph_model::{StepDeclaration, StepError, StepResult, StepStatus};

use crate::waits::format_wait;

/// Minimum time between two plain progress lines of one step.
const LINE_INTERVAL: Duration = Duration::from_secs(2);

/// The form progress takes on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// One spinner per step with its object count (a terminal).
    Bars,
    /// One line per step start and result, and a count line at most every two seconds.
    Lines,
    /// Nothing.
    Quiet,
}

impl ProgressMode {
    /// Picks bars when standard error is a terminal and lines otherwise, or quiet.
    pub fn detect(quiet: bool) -> Self {
        use std::io::IsTerminal as _;
        if quiet {
            ProgressMode::Quiet
        } else if std::io::stderr().is_terminal() {
            ProgressMode::Bars
        } else {
            ProgressMode::Lines
        }
    }
}

struct LineState {
    out: Box<dyn Write + Send>,
    last_line: Option<Instant>,
}

/// A [`RunObserver`] that shows progress in one of the [`ProgressMode`]s.
pub struct Progress {
    mode: ProgressMode,
    bar: Mutex<Option<ProgressBar>>,
    lines: Mutex<LineState>,
}

impl Progress {
    /// Shows progress on standard error.
    pub fn new(mode: ProgressMode) -> Self {
        Self::with_writer(mode, Box::new(std::io::stderr()))
    }

    /// Writes plain progress lines to `out`; bars always draw on standard error.
    pub fn with_writer(mode: ProgressMode, out: Box<dyn Write + Send>) -> Self {
        Progress {
            mode,
            bar: Mutex::new(None),
            lines: Mutex::new(LineState {
                out,
                last_line: None,
            }),
        }
    }

    fn write_line(&self, line: &str, rate_limited: bool) {
        let Ok(mut state) = self.lines.lock() else {
            return;
        };
        let now = Instant::now();
        if rate_limited && state.last_line.is_some_and(|at| now - at < LINE_INTERVAL) {
            return;
        }
        state.last_line = Some(now);
        // A closed standard error must not end the sync, so write errors are dropped.
        let _ = writeln!(state.out, "{line}");
    }

    fn start_bar(&self, step: &StepDeclaration) {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {prefix:<38} {pos:>9} objects {elapsed} {msg}")
        {
            bar.set_style(style);
        }
        bar.set_prefix(step.name.clone());
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar);
        }
    }

    fn finish_bar(&self, result: &StepResult) {
        let Ok(mut slot) = self.bar.lock() else {
            return;
        };
        if let Some(bar) = slot.take() {
            if let Ok(style) = ProgressStyle::with_template("{msg}") {
                bar.set_style(style);
            }
            bar.finish_with_message(describe_step(result));
        }
    }
}

impl RunObserver for Progress {
    fn step_started(&self, step: &StepDeclaration) {
        match self.mode {
            ProgressMode::Bars => self.start_bar(step),
            ProgressMode::Lines => self.write_line(&format!("{}: started", step.id), false),
            ProgressMode::Quiet => {}
        }
    }

    fn progress(&self, step_id: &str, objects: u64) {
        match self.mode {
            ProgressMode::Bars => {
                if let Ok(slot) = self.bar.lock()
                    && let Some(bar) = slot.as_ref()
                {
                    bar.set_position(objects);
                }
            }
            ProgressMode::Lines => {
                self.write_line(&format!("{step_id}: {objects} objects so far"), true);
            }
            ProgressMode::Quiet => {}
        }
    }

    fn step_finished(&self, result: &StepResult) {
        match self.mode {
            ProgressMode::Bars => self.finish_bar(result),
            ProgressMode::Lines => self.write_line(&describe_step(result), false),
            ProgressMode::Quiet => {}
        }
    }

    fn qualys_wait(&self, remaining: Duration) {
        match self.mode {
            ProgressMode::Bars => {
                if let Ok(slot) = self.bar.lock()
                    && let Some(bar) = slot.as_ref()
                {
                    let message = if remaining.is_zero() {
                        String::new()
                    } else {
                        format!("(Qualys limit: waiting {})", format_wait(remaining))
                    };
                    bar.set_message(message);
                }
            }
            // The caller paces these reports, so none is dropped here.
            ProgressMode::Lines if !remaining.is_zero() => {
                self.write_line(&describe_wait(remaining), false);
            }
            ProgressMode::Lines | ProgressMode::Quiet => {}
        }
    }
}

/// Formats a Qualys wait as a progress line.
pub fn describe_wait(remaining: Duration) -> String {
    format!(
        "waiting for Qualys to lift its rate or concurrency limit: {} left before the next request",
        format_wait(remaining)
    )
}

/// Returns a step status as the job history shows it, such as `PARTIAL_SUCCESS_DUE_TO_DEPENDENCY_FAILURE`.
pub fn status_name(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Success => "SUCCESS",
        StepStatus::Failure => "FAILURE",
        StepStatus::PartialSuccessDueToDependencyFailure => {
            "PARTIAL_SUCCESS_DUE_TO_DEPENDENCY_FAILURE"
        }
        StepStatus::Disabled => "DISABLED",
    }
}

/// Formats a step result on one line: id, status and object counts by `_type`.
pub fn describe_step(result: &StepResult) -> String {
    format!(
        "{}: {}{}",
        result.id,
        status_name(result.status),
        describe_counts(&result.counts)
    )
}

/// Formats object counts as ` (type N, type N)`, or nothing when there are none.
pub fn describe_counts(counts: &BTreeMap<String, u64>) -> String {
    if counts.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(object_type, count)| format!("{object_type} {count}"))
        .collect();
    format!(" ({})", parts.join(", "))
}

/// Formats a step error with its Qualys code and endpoint when known.
pub fn describe_error(error: &StepError) -> String {
    let mut text = error.message.clone();
    if let Some(code) = &error.code {
        text.push_str(&format!(" [Qualys code {code}]"));
    }
    if let Some(endpoint) = &error.endpoint {
        text.push_str(&format!(" [endpoint {endpoint}]"));
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer whose bytes the test reads back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn result(status: StepStatus) -> StepResult {
        StepResult {
            id: "fetch-finding-vulns".to_owned(),
            status,
            started_on: 0,
            ended_on: 1,
            counts: BTreeMap::from([("cve".to_owned(), 3), ("qualys_vuln".to_owned(), 2)]),
            errors: Vec::new(),
        }
    }

    #[test]
    fn plain_lines_are_rate_limited() {
        let out = Shared::default();
        let progress = Progress::with_writer(ProgressMode::Lines, Box::new(out.clone()));

        for objects in 1..=1000 {
            progress.progress("fetch-finding-vulns", objects);
        }
        progress.step_finished(&result(StepStatus::Failure));

        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "fetch-finding-vulns: 1 objects so far",
                "fetch-finding-vulns: FAILURE (cve 3, qualys_vuln 2)",
            ]
        );
    }

    #[test]
    fn qualys_wait_prints_time_left() {
        let out = Shared::default();
        let progress = Progress::with_writer(ProgressMode::Lines, Box::new(out.clone()));

        progress.progress("fetch-scanned-host-detections", 5);
        progress.qualys_wait(Duration::from_secs(580));
        progress.qualys_wait(Duration::from_secs(550));
        progress.qualys_wait(Duration::ZERO);

        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "fetch-scanned-host-detections: 5 objects so far",
                "waiting for Qualys to lift its rate or concurrency limit: 9m 40s left before the next request",
                "waiting for Qualys to lift its rate or concurrency limit: 9m 10s left before the next request",
            ]
        );
    }

    #[test]
    fn quiet_writes_nothing() {
        let out = Shared::default();
        let progress = Progress::with_writer(ProgressMode::Quiet, Box::new(out.clone()));

        progress.progress("fetch-account", 1);
        progress.qualys_wait(Duration::from_secs(60));
        progress.step_finished(&result(StepStatus::Success));

        assert!(out.0.lock().unwrap().is_empty());
    }

    #[test]
    fn error_shows_code_and_endpoint() {
        let error = StepError {
            message: "page failed".to_owned(),
            code: Some("2001".to_owned()),
            endpoint: Some("/api/2.0/fo/knowledge_base/vuln/".to_owned()),
        };

        assert_eq!(
            describe_error(&error),
            "page failed [Qualys code 2001] [endpoint /api/2.0/fo/knowledge_base/vuln/]"
        );
    }
}
