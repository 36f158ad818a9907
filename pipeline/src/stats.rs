//! [`PipelineStats`]: lock-free counters of the hot path, updated per batch and read by the
//! service's progress display and metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::conditioning::ConditionCounts;
use crate::dead_letter::Reason;

/// Counters of the pipeline. All are monotonic totals.
#[derive(Debug, Default)]
pub struct PipelineStats {
    readings_received: AtomicU64,
    observations: AtomicU64,
    implausible: AtomicU64,
    dead_letters: [AtomicU64; Reason::ALL.len()],
    clock_corrected: AtomicU64,
    future_time: AtomicU64,
    dedup_evicted: AtomicU64,
    clock_devices_evicted: AtomicU64,
    backpressure_waits: AtomicU64,
    batches_stored: AtomicU64,
    sink_errors: AtomicU64,
}

/// A consistent-enough copy of the counters for display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Raw readings that reached the normaliser.
    pub readings_received: u64,
    /// Readings normalised into observations. Rows handed to the sink are `observations −
    /// duplicates`: a duplicate is normalised first, then becomes a dead letter.
    pub observations: u64,
    /// Of those, flagged implausible.
    pub implausible: u64,
    /// Dead letters of all reasons.
    pub dead_letters: u64,
    /// Dead letters per reason, in [`Reason::ALL`] order.
    pub dead_letters_per_reason: [u64; Reason::ALL.len()],
    /// Readings already stored within the de-duplication window, kept as `duplicate` dead
    /// letters (the same count as that reason's).
    pub duplicates: u64,
    /// Observations whose time was corrected for their device's clock skew.
    pub clock_corrected: u64,
    /// Observations flagged `future_time`.
    pub future_time: u64,
    /// Readings forgotten by de-duplication before their window ended (its key cap was full).
    pub dedup_evicted: u64,
    /// Devices whose clock-skew history was forgotten (the device cap was full).
    pub clock_devices_evicted: u64,
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

    /// Adds one batch's conditioning outcome (duplicates count as `duplicate` dead letters).
    pub(crate) fn count_conditioned(&self, c: &ConditionCounts) {
        if c.duplicates > 0 {
            self.dead_letters[Reason::Duplicate.index()].fetch_add(c.duplicates, Relaxed);
        }
        for (counter, n) in [
            (&self.clock_corrected, c.clock_corrected),
            (&self.future_time, c.future_time),
            (&self.dedup_evicted, c.dedup_evicted),
            (&self.clock_devices_evicted, c.clock_devices_evicted),
        ] {
            if n > 0 {
                counter.fetch_add(n, Relaxed);
            }
        }
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
            duplicates: per_reason[Reason::Duplicate.index()],
            clock_corrected: self.clock_corrected.load(Relaxed),
            future_time: self.future_time.load(Relaxed),
            dedup_evicted: self.dedup_evicted.load(Relaxed),
            clock_devices_evicted: self.clock_devices_evicted.load(Relaxed),
            backpressure_waits: self.backpressure_waits.load(Relaxed),
            batches_stored: self.batches_stored.load(Relaxed),
            sink_errors: self.sink_errors.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditioning_counts_add_up_per_batch_and_duplicates_are_dead_letters() {
        let stats = PipelineStats::default();
        let batch = ConditionCounts {
            duplicates: 2,
            clock_corrected: 3,
            future_time: 1,
            dedup_evicted: 4,
            clock_devices_evicted: 5,
        };
        stats.count_conditioned(&batch);
        stats.count_conditioned(&batch);
        stats.count_dead_letter(Reason::UnknownMetric);
        let snap = stats.snapshot();
        assert_eq!((snap.duplicates, snap.clock_corrected, snap.future_time), (4, 6, 2));
        assert_eq!((snap.dedup_evicted, snap.clock_devices_evicted), (8, 10));
        assert_eq!((snap.dead_letters_by_reason(Reason::Duplicate), snap.dead_letters), (4, 5));
    }
}
