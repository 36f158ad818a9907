//! [`StorageStats`]: counters of the Parquet store, shared with whoever exports metrics.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::schema::Table;

/// Counters of a [`ParquetStore`](crate::ParquetStore), updated per file (never per row).
/// Read them with [`StorageStats::snapshot`].
#[derive(Debug, Default)]
pub struct StorageStats {
    vitals_rows_written: AtomicU64,
    dead_letter_rows_written: AtomicU64,
    files_written: AtomicU64,
    bytes_written: AtomicU64,
    write_errors: AtomicU64,
    last_flush_micros: AtomicI64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageStatsSnapshot {
    /// Rows written to `vitals` files.
    pub vitals_rows_written: u64,
    /// Rows written to `dead_letters` files.
    pub dead_letter_rows_written: u64,
    /// Files finalised (both tables).
    pub files_written: u64,
    /// Bytes of finalised files (both tables).
    pub bytes_written: u64,
    /// Failed file writes (the rows were kept and retried).
    pub write_errors: u64,
    /// When a file was last finalised (µs since the Unix epoch, UTC); 0 if never.
    pub last_flush_micros: i64,
}

impl StorageStats {
    /// Records a finalised file of `rows` rows and `bytes` bytes at `now_micros`.
    pub(crate) fn count_file(&self, table: Table, rows: usize, bytes: u64, now_micros: i64) {
        let counter = match table {
            Table::Vitals => &self.vitals_rows_written,
            Table::DeadLetters => &self.dead_letter_rows_written,
        };
        counter.fetch_add(rows as u64, Ordering::Relaxed);
        self.files_written.fetch_add(1, Ordering::Relaxed);
        self.bytes_written.fetch_add(bytes, Ordering::Relaxed);
        self.last_flush_micros.store(now_micros, Ordering::Relaxed);
    }

    /// Records a failed file write.
    pub(crate) fn count_error(&self) {
        self.write_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StorageStatsSnapshot {
        StorageStatsSnapshot {
            vitals_rows_written: self.vitals_rows_written.load(Ordering::Relaxed),
            dead_letter_rows_written: self.dead_letter_rows_written.load(Ordering::Relaxed),
            files_written: self.files_written.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
            last_flush_micros: self.last_flush_micros.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_counted_per_table() {
        let stats = StorageStats::default();
        stats.count_file(Table::Vitals, 10, 100, 7);
        stats.count_file(Table::DeadLetters, 2, 50, 9);
        stats.count_error();
        let expected = StorageStatsSnapshot {
            vitals_rows_written: 10,
            dead_letter_rows_written: 2,
            files_written: 2,
            bytes_written: 150,
            write_errors: 1,
            last_flush_micros: 9,
        };
        assert_eq!(stats.snapshot(), expected);
    }
}
