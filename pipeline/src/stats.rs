//! [`PipelineStats`]: lock-free counters of the hot path, updated per batch and read by the
//! service's progress display and metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::dead_letter::Reason;

/// Counters of the pipeline. All are monotonic totals.
#[derive(Debug, Default)]
pub struct PipelineStats {
    readings_received: AtomicU64,
    observations: AtomicU64,
    implausible: AtomicU64,
    dead_letters: [AtomicU64; Reason::ALL.len()],
    backpressure_waits: AtomicU64,
    batches_stored: AtomicU64,
    sink_errors: AtomicU64,
}

/// A consistent-enough copy of the counters for display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Raw readings that reached the normaliser.
    pub readings_received: u64,
    /// Readings normalised into observations.
    pub observations: u64,
    /// Of those, flagged implausible.
    pub implausible: u64,
    /// Dead letters of all reasons.
    pub dead_letters: u64,
    /// Dead letters per reason, in [`Reason::ALL`] order.
    pub dead_letters_per_reason: [u64; Reason::ALL.len()],
    /// Times a producer found the queue full and waited.
    pub backpressure_waits: u64,
    /// Batches handed to the sink.
    pub batches_stored: u64,
    /// Errors the sink reported.
    pub sink_errors: u64,
}

impl StatsSnapshot {
    /// Dead letters of one reason.
    pub fn dead_letters_by_reason(&self, reason: Reason) -> u64 {
        self.dead_letters_per_reason[reason.index()]
    }
}

impl PipelineStats {
    pub(crate) fn count_normalised(&self, received: u64, observations: u64, implausible: u64) {
        self.readings_received.fetch_add(received, Relaxed);
        self.observations.fetch_add(observations, Relaxed);
        self.implausible.fetch_add(implausible, Relaxed);
    }

    pub(crate) fn count_dead_letter(&self, reason: Reason) {
        self.dead_letters[reason.index()].fetch_add(1, Relaxed);
    }

    pub(crate) fn count_backpressure_wait(&self) {
        self.backpressure_waits.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_batch_stored(&self) {
        self.batches_stored.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_sink_error(&self) {
        self.sink_errors.fetch_add(1, Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let per_reason: [u64; Reason::ALL.len()] = std::array::from_fn(|i| self.dead_letters[i].load(Relaxed));
        StatsSnapshot {
            readings_received: self.readings_received.load(Relaxed),
            observations: self.observations.load(Relaxed),
            implausible: self.implausible.load(Relaxed),
            dead_letters: per_reason.iter().sum(),
            dead_letters_per_reason: per_reason,
            backpressure_waits: self.backpressure_waits.load(Relaxed),
            batches_stored: self.batches_stored.load(Relaxed),
            sink_errors: self.sink_errors.load(Relaxed),
        }
    }
}
