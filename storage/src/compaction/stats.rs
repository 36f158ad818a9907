//! [`CompactionStats`]: counters of compaction, shared with whoever exports metrics.

use std::sync::atomic::{AtomicU64, Ordering};

use super::intent::RecoveryReport;
use super::partition::CompactionReport;

/// Counters of a [`Compactor`](super::Compactor), updated per partition (never per row).
/// Read them with [`CompactionStats::snapshot`].
#[derive(Debug, Default)]
pub struct CompactionStats {
    partitions_compacted: AtomicU64,
    merges: AtomicU64,
    files_merged: AtomicU64,
    files_written: AtomicU64,
    rows_merged: AtomicU64,
    bytes_before: AtomicU64,
    bytes_after: AtomicU64,
    errors: AtomicU64,
    recoveries: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionStatsSnapshot {
    /// Partitions compacted (at least one merge swapped in).
    pub partitions_compacted: u64,
    /// Merges swapped in (a partition with more than `max_input_files` candidates takes
    /// several).
    pub merges: u64,
    /// Files merged away.
    pub files_merged: u64,
    /// Merged files written.
    pub files_written: u64,
    /// Rows rewritten.
    pub rows_merged: u64,
    /// Bytes of the files merged away.
    pub bytes_before: u64,
    /// Bytes of the merged files that replaced them.
    pub bytes_after: u64,
    /// Compactions of a partition that failed (logged; the partition was left consistent).
    pub errors: u64,
    /// Interrupted compactions recovered (finished or undone) at the start of a compaction.
    pub recoveries: u64,
}

impl CompactionStats {
    /// Records a partition's compaction (nothing when it merged nothing).
    pub(crate) fn count(&self, report: &CompactionReport) {
        if report.merges == 0 {
            return;
        }
        self.partitions_compacted.fetch_add(1, Ordering::Relaxed);
        self.merges.fetch_add(report.merges as u64, Ordering::Relaxed);
        self.files_merged.fetch_add(report.files_in as u64, Ordering::Relaxed);
        self.files_written.fetch_add(report.files_out as u64, Ordering::Relaxed);
        self.rows_merged.fetch_add(report.rows, Ordering::Relaxed);
        self.bytes_before.fetch_add(report.bytes_in, Ordering::Relaxed);
        self.bytes_after.fetch_add(report.bytes_out, Ordering::Relaxed);
    }

    /// Records a failed compaction of a partition.
    pub(crate) fn count_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Records what a recovery repaired.
    pub(crate) fn count_recovery(&self, report: &RecoveryReport) {
        let repaired = report.rolled_forward.len() + report.rolled_back.len();
        self.recoveries.fetch_add(repaired as u64, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> CompactionStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CompactionStatsSnapshot {
            partitions_compacted: get(&self.partitions_compacted),
            merges: get(&self.merges),
            files_merged: get(&self.files_merged),
            files_written: get(&self.files_written),
            rows_merged: get(&self.rows_merged),
            bytes_before: get(&self.bytes_before),
            bytes_after: get(&self.bytes_after),
            errors: get(&self.errors),
            recoveries: get(&self.recoveries),
        }
    }
}
