//! [`SeqTracker`]: which write-ahead-log records are safely in Parquet, so the log can drop them.
//!
//! Every batch that enters the pipeline from the WAL carries the WAL record's sequence number
//! (LSN). The tracker knows the LSNs still on their way (in the queues or the normalisers), and
//! the writer thread tells it the oldest LSN still buffered in the sink (rows not yet in a durable
//! file). The **persisted watermark** is then: every LSN below both is in durable Parquet files,
//! so WAL segments up to it may be deleted.
//!
//! Design: registration happens under the same lock as the WAL append (by the caller), so LSNs
//! are registered in increasing order; the watermark only moves forward. It is conservative: a
//! batch merged from several records counts as old as its oldest record until all its rows are
//! durable. A crash can therefore leave records in the WAL whose rows are already in Parquet; the
//! replay at start removes those (see `wardstream-ingest`'s recovery), so nothing is stored twice.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// In-flight LSNs and the persisted watermark (see the module docs).
#[derive(Debug, Default)]
pub struct SeqTracker {
    state: Mutex<State>,
    persisted: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    in_flight: BTreeSet<u64>,
    highest: u64,
}

impl SeqTracker {
    /// A tracker whose records up to `persisted` are already durable in Parquet (the WAL's
    /// checkpoint at start).
    pub fn new(persisted: u64) -> SeqTracker {
        SeqTracker {
            state: Mutex::new(State { in_flight: BTreeSet::new(), highest: persisted }),
            persisted: AtomicU64::new(persisted),
        }
    }

    /// A record entered the pipeline. Call in LSN order (under the WAL append lock).
    pub fn register(&self, seq: u64) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.in_flight.insert(seq);
        state.highest = state.highest.max(seq);
    }

    /// The writer handed these records' rows to the sink.
    pub fn handed_to_sink(&self, seqs: &[u64]) {
        if seqs.is_empty() {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for seq in seqs {
            state.in_flight.remove(seq);
        }
    }

    /// Recomputes the watermark from the oldest LSN the sink still buffers; returns it.
    pub fn update(&self, oldest_buffered: Option<u64>) -> u64 {
        let state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let oldest = [state.in_flight.first().copied(), oldest_buffered].into_iter().flatten().min();
        let watermark = match oldest {
            Some(seq) => seq.saturating_sub(1),
            None => state.highest,
        };
        drop(state);
        self.persisted.fetch_max(watermark, Ordering::AcqRel).max(watermark)
    }

    /// Every record up to this LSN is in durable Parquet files.
    pub fn persisted(&self) -> u64 {
        self.persisted.load(Ordering::Acquire)
    }

    /// Records registered and not yet handed to the sink.
    pub fn in_flight(&self) -> usize {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_stops_below_the_oldest_record_not_yet_durable() {
        let t = SeqTracker::new(10);
        assert_eq!(t.update(None), 10);
        for seq in 11..=15 {
            t.register(seq);
        }
        // 11 and 13 written to the sink (buffered there: oldest 11); 12, 14, 15 in flight.
        t.handed_to_sink(&[13, 11]);
        assert_eq!(t.update(Some(11)), 10);
        // The sink's files are durable: only 12 holds the watermark back.
        assert_eq!(t.update(None), 11);
        t.handed_to_sink(&[12, 14, 15]);
        assert_eq!(t.update(Some(14)), 13);
        assert_eq!(t.update(None), 15);
        // Never backwards.
        t.register(16);
        assert_eq!(t.update(Some(3)), 15);
        assert_eq!(t.persisted(), 15);
        assert_eq!(t.in_flight(), 1);
    }
}
