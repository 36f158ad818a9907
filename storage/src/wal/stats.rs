//! [`WalStats`]: counters of the write-ahead log and its fsync latency histogram, shared with
//! whoever exports metrics. Everything is an atomic: producers and the sync thread update it
//! without a lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters of a [`Wal`](crate::wal::Wal). Read them with [`WalStats::snapshot`].
#[derive(Debug, Default)]
pub struct WalStats {
    records: AtomicU64,
    bytes: AtomicU64,
    fsyncs: AtomicU64,
    segments_created: AtomicU64,
    segments_deleted: AtomicU64,
    checkpoints: AtomicU64,
    io_errors: AtomicU64,
    fsync_errors: AtomicU64,
    failed_records: AtomicU64,
    corrupt_regions: AtomicU64,
    torn_tails: AtomicU64,
    torn_bytes_cut: AtomicU64,
    backpressure_waits: AtomicU64,
    fsync_latency: LatencyHistogram,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStatsSnapshot {
    /// Records appended (written to a segment; not necessarily durable yet).
    pub records: u64,
    /// Bytes appended, headers included.
    pub bytes: u64,
    /// Successful group commits (one fsync round covering every pending record).
    pub fsyncs: u64,
    /// Segment files created.
    pub segments_created: u64,
    /// Segment files deleted by checkpoints.
    pub segments_deleted: u64,
    /// Checkpoints made durable.
    pub checkpoints: u64,
    /// Every failed filesystem operation (write, fsync, create, truncate, checkpoint, …).
    pub io_errors: u64,
    /// Of those, failed fsyncs (group commits that did not make their records durable).
    pub fsync_errors: u64,
    /// Records reported not durable to their waiters (never to be acknowledged).
    pub failed_records: u64,
    /// Corrupt regions skipped at replay (CRC mismatch with intact records after them).
    pub corrupt_regions: u64,
    /// Torn tails found (and cut) at open.
    pub torn_tails: u64,
    /// Bytes cut from torn tails at open.
    pub torn_bytes_cut: u64,
    /// Appends that waited because too many segments were awaiting their fsync.
    pub backpressure_waits: u64,
    /// Latency of group commits (the fsyncs of one round, directory included).
    pub fsync_latency: LatencySummary,
}

impl WalStats {
    pub(crate) fn count_append(&self, bytes: usize) {
        self.records.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    pub(crate) fn count_fsync(&self, took: Duration) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.fsync_latency.record(took);
    }
    pub(crate) fn count_segment_created(&self) {
        self.segments_created.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn count_segments_deleted(&self, n: u64) {
        self.segments_deleted.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn count_checkpoint(&self) {
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn count_io_error(&self) {
        self.io_errors.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn count_fsync_error(&self, failed_records: u64) {
        self.io_errors.fetch_add(1, Ordering::Relaxed);
        self.fsync_errors.fetch_add(1, Ordering::Relaxed);
        self.failed_records.fetch_add(failed_records, Ordering::Relaxed);
    }
    pub(crate) fn count_backpressure_wait(&self) {
        self.backpressure_waits.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn count_replay(&self, corrupt_regions: u64, torn_tails: u64, torn_bytes: u64) {
        self.corrupt_regions.fetch_add(corrupt_regions, Ordering::Relaxed);
        self.torn_tails.fetch_add(torn_tails, Ordering::Relaxed);
        self.torn_bytes_cut.fetch_add(torn_bytes, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> WalStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WalStatsSnapshot {
            records: get(&self.records),
            bytes: get(&self.bytes),
            fsyncs: get(&self.fsyncs),
            segments_created: get(&self.segments_created),
            segments_deleted: get(&self.segments_deleted),
            checkpoints: get(&self.checkpoints),
            io_errors: get(&self.io_errors),
            fsync_errors: get(&self.fsync_errors),
            failed_records: get(&self.failed_records),
            corrupt_regions: get(&self.corrupt_regions),
            torn_tails: get(&self.torn_tails),
            torn_bytes_cut: get(&self.torn_bytes_cut),
            backpressure_waits: get(&self.backpressure_waits),
            fsync_latency: self.fsync_latency.summary(),
        }
    }
}

/// Summary of a latency distribution, in microseconds. Quantiles are the upper bound of their
/// histogram bucket (at most 25 % above the true value, never above the maximum).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean_us: u64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest sample.
    pub max_us: u64,
}

const BUCKETS: usize = 256;

/// A lock-free log-linear histogram of microseconds: 4 buckets per power of two.
#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; BUCKETS],
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }
}

fn bucket_of(us: u64) -> usize {
    if us < 4 {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros() as usize; // ≥ 2
    let mantissa = ((us >> (exp - 2)) & 3) as usize;
    4 + (exp - 2) * 4 + mantissa
}

fn bucket_upper(index: usize) -> u64 {
    if index < 4 {
        return index as u64;
    }
    let (exp, mantissa) = ((index - 4) / 4 + 2, (index - 4) % 4);
    let upper = ((5 + mantissa as u128) << (exp - 2)) - 1;
    u64::try_from(upper).unwrap_or(u64::MAX)
}

impl LatencyHistogram {
    /// Records one sample.
    pub fn record(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        if let Some(bucket) = self.buckets.get(bucket_of(us)) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// Count, mean, p50, p99 and maximum so far.
    pub fn summary(&self) -> LatencySummary {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let count: u64 = counts.iter().sum();
        let max_us = self.max_us.load(Ordering::Relaxed);
        let quantile = |q: f64| {
            let rank = ((q * count as f64).ceil() as u64).max(1);
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return bucket_upper(i).min(max_us);
                }
            }
            max_us
        };
        if count == 0 {
            return LatencySummary::default();
        }
        let mean_us = self.sum_us.load(Ordering::Relaxed) / count;
        LatencySummary { count, mean_us, p50_us: quantile(0.5), p99_us: quantile(0.99), max_us }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_each_value_and_their_bounds_are_tight() {
        for us in [0u64, 1, 3, 4, 5, 7, 8, 9, 15, 16, 100, 1_000, 65_535, 1 << 40, u64::MAX] {
            let b = bucket_of(us);
            assert!(b < BUCKETS, "{us}");
            assert!(bucket_upper(b) >= us, "{us} above bucket {b}");
            assert!(b == 0 || bucket_upper(b - 1) < us, "{us} belongs lower");
        }
        assert_eq!((bucket_of(4), bucket_upper(4)), (4, 4));
        assert_eq!((bucket_of(100), bucket_upper(bucket_of(100))), (22, 111));
    }

    #[test]
    fn the_summary_gives_quantiles_by_bucket_upper_bound() {
        let h = LatencyHistogram::default();
        for _ in 0..98 {
            h.record(Duration::from_micros(100));
        }
        h.record(Duration::from_micros(1_000));
        h.record(Duration::from_micros(5_000));
        assert_eq!(h.summary(), LatencySummary { count: 100, mean_us: 158, p50_us: 111, p99_us: 1_023, max_us: 5_000 });
        assert_eq!(LatencyHistogram::default().summary(), LatencySummary::default());
    }
}
