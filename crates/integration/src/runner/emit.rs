//! The per-step writer: batches objects to the sink, counts them by
//! `_type` and records the step's errors.

use std::collections::BTreeMap;

use qgraph_model::{GraphObject, GraphSink, ModelError, StepError, StepResult, StepStatus, Value};

use super::RunObserver;
use crate::source::SourceError;

/// Objects per sink write.
const BATCH_OBJECTS: usize = 1000;
/// Errors kept per step; later ones are only counted.
const MAX_KEPT_ERRORS: usize = 50;

/// Writes one step's objects and collects its outcome.
pub(crate) struct StepWriter<'a, K: GraphSink> {
    sink: &'a mut K,
    observer: &'a dyn RunObserver,
    step_id: &'static str,
    account_tag: Option<&'a str>,
    buffer: Vec<GraphObject>,
    counts: BTreeMap<String, u64>,
    emitted: u64,
    errors: Vec<StepError>,
    dropped_errors: u64,
    started_on: i64,
}

impl<'a, K: GraphSink> StepWriter<'a, K> {
    pub(crate) fn new(
        sink: &'a mut K,
        observer: &'a dyn RunObserver,
        step_id: &'static str,
        account_tag: Option<&'a str>,
    ) -> Self {
        StepWriter {
            sink,
            observer,
            step_id,
            account_tag,
            buffer: Vec::with_capacity(BATCH_OBJECTS),
            counts: BTreeMap::new(),
            emitted: 0,
            errors: Vec::new(),
            dropped_errors: 0,
            started_on: now_ms(),
        }
    }

    /// Queues one object, writing a batch when the buffer is full.
    pub(crate) fn emit(&mut self, mut object: GraphObject) -> Result<(), K::Error> {
        if let (GraphObject::Entity(entity), Some(tag)) = (&mut object, self.account_tag) {
            entity.set("tag.AccountName", Value::from(tag));
        }
        match self.counts.get_mut(object.object_type()) {
            Some(count) => *count += 1,
            None => {
                self.counts.insert(object.object_type().to_owned(), 1);
            }
        }
        self.buffer.push(object);
        if self.buffer.len() >= BATCH_OBJECTS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), K::Error> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.buffer, Vec::with_capacity(BATCH_OBJECTS));
        self.emitted += batch.len() as u64;
        self.sink.write(self.step_id, batch)?;
        self.observer.progress(self.step_id, self.emitted);
        Ok(())
    }

    /// Records a failed request or page; the step will end as failed.
    pub(crate) fn record_source_error<E: SourceError>(&mut self, error: &E) {
        self.push_error(StepError {
            message: error.to_string(),
            code: error.code(),
            endpoint: error.endpoint(),
        });
    }

    /// Records a record the converters could not turn into a graph object.
    pub(crate) fn record_model_error(&mut self, error: &ModelError) {
        self.push_error(StepError {
            message: format!("invalid graph object: {error}"),
            code: None,
            endpoint: None,
        });
    }

    /// Records any other error; the step will end as failed.
    pub(crate) fn record_error(&mut self, error: StepError) {
        self.push_error(error);
    }

    fn push_error(&mut self, error: StepError) {
        if self.errors.len() < MAX_KEPT_ERRORS {
            self.errors.push(error);
        } else {
            self.dropped_errors += 1;
        }
    }

    /// Returns true when the step has recorded an error.
    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Writes the last batch and returns the step result. `dependency_failed`
    /// is true when a step this one depends on did not succeed.
    pub(crate) fn finish(mut self, dependency_failed: bool) -> Result<StepResult, K::Error> {
        self.flush()?;
        if self.dropped_errors > 0 {
            self.errors.push(StepError {
                message: format!("{} more errors were not kept", self.dropped_errors),
                code: None,
                endpoint: None,
            });
        }
        let status = if !self.errors.is_empty() {
            StepStatus::Failure
        } else if dependency_failed {
            StepStatus::PartialSuccessDueToDependencyFailure
        } else {
            StepStatus::Success
        };
        Ok(StepResult {
            id: self.step_id.to_owned(),
            status,
            started_on: self.started_on,
            ended_on: now_ms(),
            counts: self.counts,
            errors: self.errors,
        })
    }
}

/// Returns the current time in epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
