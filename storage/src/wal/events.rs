//! What the log tells its users about durability: [`WalEvent`]s (sent after each group commit,
//! in order), [`Durability`] (the fate of one LSN), and the set of LSNs whose fsync failed.

use std::collections::VecDeque;
use std::sync::Arc;

use super::error::{Lsn, WalError};

/// Sent to subscribers after each group commit, in LSN order, by one thread.
///
/// Contract: after `Durable(n)`, every record with LSN ≤ `n` is durable **except** those named
/// by an earlier `Failed` event. An acknowledging driver therefore keeps its unacknowledged
/// messages in LSN order, drops (never acks) those a `Failed` names, and acks the rest up to
/// `n` when `Durable(n)` arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalEvent {
    /// An fsync completed: records up to this LSN (minus failed ones) are durable.
    Durable(Lsn),
    /// The write or fsync of these records failed: they are not durable and never will be;
    /// their senders must not be acknowledged (they should redeliver).
    Failed {
        /// First LSN of the failed group.
        first: Lsn,
        /// Last LSN of the failed group.
        last: Lsn,
        /// The I/O error.
        reason: Arc<str>,
    },
}

/// The fate of one LSN, as [`Wal::state_of`](crate::wal::Wal::state_of) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Appended, not yet covered by an fsync.
    Pending,
    /// Covered by a successful fsync.
    Durable,
    /// Its write or fsync failed: never acknowledge it.
    Failed,
    /// Never handed out.
    Unknown,
}

/// How many disjoint failed ranges are remembered. Beyond this the two oldest are merged,
/// which may report a durable record in between as failed: its sender then redelivers it and
/// de-duplication absorbs the copy, the safe direction.
const MAX_RANGES: usize = 1024;

/// The LSN ranges whose write or fsync failed, sorted and disjoint.
#[derive(Debug, Default)]
pub(crate) struct FailedRanges {
    ranges: VecDeque<(Lsn, Lsn, Arc<str>)>,
}

impl FailedRanges {
    /// Marks `first..=last` failed.
    pub(crate) fn insert(&mut self, first: Lsn, last: Lsn, reason: Arc<str>) {
        let at = self.ranges.partition_point(|r| r.1.saturating_add(1) < first);
        let (mut lo, mut hi, mut end) = (first, last, at);
        while let Some(r) = self.ranges.get(end).filter(|r| r.0 <= hi.saturating_add(1)) {
            lo = lo.min(r.0);
            hi = hi.max(r.1);
            end += 1;
        }
        self.ranges.drain(at..end);
        self.ranges.insert(at, (lo, hi, reason));
        if self.ranges.len() > MAX_RANGES
            && let (Some(a), Some(b)) = (self.ranges.pop_front(), self.ranges.pop_front())
        {
            self.ranges.push_front((a.0, b.1, b.2));
        }
    }

    /// The failed range holding `lsn`, as the error its waiter gets.
    pub(crate) fn find(&self, lsn: Lsn) -> Option<WalError> {
        let i = self.ranges.partition_point(|r| r.0 <= lsn).checked_sub(1)?;
        let (first, last, reason) = self.ranges.get(i).filter(|r| r.1 >= lsn)?;
        Some(WalError::NotDurable { first: *first, last: *last, reason: reason.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(f: &FailedRanges) -> Vec<(Lsn, Lsn)> {
        f.ranges.iter().map(|r| (r.0, r.1)).collect()
    }

    #[test]
    fn ranges_stay_sorted_and_adjacent_or_overlapping_ones_merge() {
        let mut f = FailedRanges::default();
        f.insert(10, 12, "disk full".into());
        f.insert(20, 20, "x".into());
        f.insert(5, 5, "x".into());
        assert_eq!(bounds(&f), [(5, 5), (10, 12), (20, 20)]);
        f.insert(13, 19, "x".into());
        assert_eq!(bounds(&f), [(5, 5), (10, 20)]);
        f.insert(15, 30, "x".into());
        assert_eq!(bounds(&f), [(5, 5), (10, 30)]);
        assert!(f.find(4).is_none() && f.find(6).is_none() && f.find(31).is_none());
        assert_eq!(f.find(10).map(|e| e.to_string()), Some("WAL records 10..=30 are not durable: x".to_string()));
        assert!(f.find(5).is_some());
    }

    #[test]
    fn beyond_the_cap_the_oldest_ranges_merge_conservatively() {
        let mut f = FailedRanges::default();
        for i in 0..=MAX_RANGES as u64 {
            f.insert(i * 10, i * 10, "x".into());
        }
        assert_eq!(f.ranges.len(), MAX_RANGES);
        assert_eq!(bounds(&f)[0], (0, 10));
        assert!(f.find(5).is_some(), "the gap between merged ranges now counts as failed");
    }
}
